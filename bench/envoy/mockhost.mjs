// A minimal proxy-wasm host in Node, to count what a filter does per request and to time its own
// code apart from Envoy: it calls the callbacks Envoy's proxy-wasm host calls for one HTTP/1.1 GET
// answered by a direct_response with a body, in Envoy's order, and counts every host call.
//
//   node bench/envoy/mockhost.mjs --wasm FILE [--config FILE] [--requests N] [--out FILE]
//
// Envoy calls every callback the module exports (the Rust SDK exports all of them), so the
// callbacks per request are the same for any filter built with the SDK; host calls are the
// filter's own choice. V8 here is Node's, not Envoy's, so the times are a guide to the filter's
// share, not Envoy's figure.
import { readFileSync, writeFileSync } from 'node:fs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const WASM = arg('wasm');
const CONFIG = arg('config') ? readFileSync(arg('config')) : Buffer.alloc(0);
const REQUESTS = Number(arg('requests', 200000));
const OUT = arg('out', null);
const TOKEN = arg('token', '');
const PATH = arg('path', '/api/v2/accounts/70471823510118/jobs/');

const module = new WebAssembly.Module(readFileSync(WASM));
let instance;
const mem = () => new Uint8Array(instance.exports.memory.buffer);
const view = () => new DataView(instance.exports.memory.buffer);
const enc = new TextEncoder();
const dec = new TextDecoder();

const requestHeaders = [
  [':authority', 'ab123.us1.dbt.com'], [':path', PATH], [':method', 'GET'], [':scheme', 'http'],
  ['authorization', `Bearer ${TOKEN}`], ['accept', 'application/json'],
  ['user-agent', 'tokengate-bench/1'], ['x-forwarded-proto', 'http'],
  ['x-request-id', '3b6a7f2e-4d1c-4c1a-9c55-0c1d9e7a1f00'],
];
const responseHeaders = [[':status', '200'], ['content-length', '3'], ['content-type', 'text/plain'],
  ['date', 'Thu, 15 Jan 2026 00:00:00 GMT'], ['server', 'envoy']];
let maps = { 0: requestHeaders.map((p) => [...p]), 2: responseHeaders.map((p) => [...p]) };
let touched = false;

function serialize(pairs) {
  const parts = pairs.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  let size = 4 + parts.length * 8;
  for (const [k, v] of parts) size += k.length + v.length + 2;
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, parts.length, true);
  let off = 4;
  for (const [k, v] of parts) { dv.setUint32(off, k.length, true); dv.setUint32(off + 4, v.length, true); off += 8; }
  for (const [k, v] of parts) { buf.set(k, off); off += k.length + 1; buf.set(v, off); off += v.length + 1; }
  return buf;
}
/** Copies bytes into memory the module allocates (as Envoy does), writing ptr and size back. */
function give(bytes, retPtr, retSize) {
  counts.set('(callback) proxy_on_memory_allocate', (counts.get('(callback) proxy_on_memory_allocate') ?? 0) + 1);
  const ptr = instance.exports.proxy_on_memory_allocate(bytes.length);
  mem().set(bytes, ptr);
  view().setUint32(retPtr, ptr, true);
  view().setUint32(retSize, bytes.length, true);
  return 0;
}
const str = (p, n) => dec.decode(mem().subarray(p, p + n));
const pristineRequest = serialize(requestHeaders);

let counts = new Map();
let metrics = 0;
const impl = {
  proxy_log: () => 0,
  proxy_get_log_level: (ret) => { view().setUint32(ret, 2, true); return 0; },
  proxy_get_current_time_nanoseconds: (ret) => { view().setBigUint64(ret, 1768435200000000000n, true); return 0; },
  proxy_set_tick_period_milliseconds: () => 0,
  proxy_get_buffer_bytes: (type, start, max, retPtr, retSize) => (type === 7 ? give(CONFIG, retPtr, retSize) : 1),
  // The untouched request map is serialised once (Envoy does its own serialising in C++; the mock's
  // TextEncoder would otherwise be most of what is timed).
  proxy_get_header_map_pairs: (type, retPtr, retSize) =>
    give(type === 0 && !touched ? pristineRequest : serialize(maps[type] ?? []), retPtr, retSize),
  proxy_get_header_map_value: (type, kp, kn, retPtr, retSize) => {
    const k = str(kp, kn);
    const hit = (maps[type] ?? []).find(([n]) => n === k);
    return hit ? give(enc.encode(hit[1]), retPtr, retSize) : 1;
  },
  proxy_replace_header_map_value: (type, kp, kn, vp, vn) => {
    touched = true;
    const k = str(kp, kn); const v = str(vp, vn);
    const m = maps[type]; const i = m.findIndex(([n]) => n === k);
    if (i >= 0) m[i][1] = v; else m.push([k, v]);
    return 0;
  },
  proxy_add_header_map_value: (type, kp, kn, vp, vn) => {
    touched = true;
    maps[type].push([str(kp, kn), str(vp, vn)]); return 0;
  },
  proxy_remove_header_map_value: (type, kp, kn) => {
    touched = true;
    const k = str(kp, kn); maps[type] = maps[type].filter(([n]) => n !== k); return 0;
  },
  proxy_define_metric: (kind, np, nn, ret) => { view().setUint32(ret, ++metrics, true); return 0; },
  proxy_increment_metric: () => 0,
  proxy_record_metric: () => 0,
  proxy_send_local_response: () => 0,
  proxy_get_shared_data: () => 1,
  proxy_set_shared_data: () => 0,
  proxy_set_effective_context: () => 0,
  proxy_get_property: () => 1,
};
const env = {};
const wasi = {
  environ_sizes_get: (a, b) => { view().setUint32(a, 0, true); view().setUint32(b, 0, true); return 0; },
  environ_get: () => 0,
  fd_write: (fd, iovs, n, ret) => { view().setUint32(ret, 0, true); return 0; },
  proc_exit: (code) => { throw new Error(`proc_exit(${code})`); },
};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module !== 'env') continue;
  const f = impl[imp.name] ?? (() => 0);
  const name = imp.name;
  env[name] = (...a) => { counts.set(name, (counts.get(name) ?? 0) + 1); return f(...a); };
}
instance = new WebAssembly.Instance(module, { env, wasi_snapshot_preview1: wasi });
const x = instance.exports;
x._initialize?.();
const ROOT_ID = 1;
x.proxy_on_context_create(ROOT_ID, 0);
x.proxy_on_vm_start(ROOT_ID, 0);
if (!x.proxy_on_configure(ROOT_ID, CONFIG.length)) throw new Error('proxy_on_configure refused the configuration');

let callbacks = new Map();
// Like Envoy's host, a callback the module does not export is not called.
const cb = (name, ...a) => {
  if (typeof x[name] !== 'function') return 0;
  callbacks.set(name, (callbacks.get(name) ?? 0) + 1);
  return x[name](...a);
};
let nextId = 2;
function request() {
  const id = nextId++;
  maps = { 0: requestHeaders.map((p) => [...p]), 2: responseHeaders.map((p) => [...p]) };
  touched = false;
  cb('proxy_on_context_create', id, ROOT_ID);
  const action = cb('proxy_on_request_headers', id, requestHeaders.length, 1);
  cb('proxy_on_response_headers', id, responseHeaders.length, 0);
  cb('proxy_on_response_body', id, 3, 1);
  cb('proxy_on_log', id);
  cb('proxy_on_done', id);
  cb('proxy_on_delete', id);
  return action;
}

// One request counted on its own, then many timed.
counts = new Map(); callbacks = new Map();
const action = request();
const perRequest = {
  action_on_request_headers: action,
  upstream_request_headers: maps[0].filter(([n]) => n.startsWith('x-dbt-')).map(([n]) => n),
  host_calls: Object.fromEntries(counts),
  callbacks: Object.fromEntries(callbacks),
};
perRequest.host_calls_total = [...counts].filter(([k]) => !k.startsWith('(callback)')).reduce((s, [, v]) => s + v, 0);
perRequest.vm_entries_total = [...callbacks.values()].reduce((s, v) => s + v, 0) +
  (counts.get('(callback) proxy_on_memory_allocate') ?? 0);
for (let i = 0; i < 20000; i++) request(); // tier up
const t0 = process.hrtime.bigint();
for (let i = 0; i < REQUESTS; i++) request();
const ns = Number(process.hrtime.bigint() - t0) / REQUESTS;
// The same loop with the callbacks replaced by nothing: the mock's own cost, to subtract.
const t1 = process.hrtime.bigint();
for (let i = 0; i < REQUESTS; i++) {
  maps = { 0: requestHeaders.map((p) => [...p]), 2: responseHeaders.map((p) => [...p]) };
  touched = false;
}
const base = Number(process.hrtime.bigint() - t1) / REQUESTS;
const result = { wasm: WASM, requests: REQUESTS, per_request: perRequest, ns_per_request_in_node: ns - base };
const text = JSON.stringify(result, null, 1);
if (OUT) writeFileSync(OUT, text); else process.stdout.write(text + '\n');
