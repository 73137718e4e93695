// tokengate in Node against the plain-JavaScript check of bench/js/plain.mjs: the same requests,
// the same policy (examples/policy.json plus synthetic tokens), batches interleaved round by round.
//
//   node bench/js/run.mjs [--rounds N] [--batch-ms MS] [--synthetic N] [--out FILE]
//
// Writes one JSON document: for each benchmark, every batch's calls per second measured by wall
// clock and by the process's CPU time (process.cpuUsage: this thread plus V8's helper threads, so
// garbage collection counts). Also the breakdown of where tokengate's time goes (raw binding with no
// JS wrapper, JSON.parse of the decision, SHA-256 alone on each side).
import { createRequire } from 'node:module';
import { createHash, hash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { plainValidator, plainInspect } from './plain.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
// --dist: another build of the package's dist/ (for what-if comparisons); default js/dist.
const DIST = resolve(arg('dist', join(root, 'js/dist')));
const tokengate = require(join(DIST, 'node/index.cjs'));
const raw = require(join(DIST, 'node/tokengate.cjs'));
const ROUNDS = Number(arg('rounds', 7));
const BATCH_MS = Number(arg('batch-ms', 150));
const SYNTHETIC = Number(arg('synthetic', 10000));
const OUT = arg('out', null);

// --- the policy: the example policy and SYNTHETIC more PATs of the example account -------------
const ACCOUNT = '70471823510118';
const OTHER = '9007199254740993';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
function syntheticPat(n) {
  let x = BigInt.asUintN(64, BigInt(n + 1) * 0x9e3779b97f4a7c15n) ^ 0xd1b54a32d192ed03n;
  let body = '';
  for (let i = 0; i < 50; i++) {
    x ^= BigInt.asUintN(64, x << 13n); x ^= x >> 7n; x ^= BigInt.asUintN(64, x << 17n);
    body += ALPHABET[Number(x % 64n)];
  }
  return `dbtu_${body}`;
}
const policy = JSON.parse(readFileSync(join(root, 'examples/policy.json'), 'utf8'));
const tokens = [];
for (let i = 0; i < SYNTHETIC; i++) {
  const t = syntheticPat(i);
  tokens.push(t);
  policy.registry.tokens.push({
    sha256: createHash('sha256').update(t).digest('hex'), kind: 'pat', account_id: ACCOUNT,
  });
}
const policyText = JSON.stringify(policy);
const fixtures = JSON.parse(readFileSync(join(root, 'tests/fixtures/tokens.json'), 'utf8')).tokens;

// --- the requests ---------------------------------------------------------------------------
const NOW = Date.parse('2026-01-15T00:00:00Z');
const request = (path, token) => ({
  method: 'GET',
  url: path,
  headers: {
    host: 'ab123.us1.dbt.com',
    authorization: `Token ${token}`,
    accept: 'application/json',
    'user-agent': 'dbt-cloud-client/1.0',
  },
});
const ours = `/api/v2/accounts/${ACCOUNT}/jobs/`;
const theirs = `/api/v2/accounts/${OTHER}/jobs/`;
const pick = (k) => tokens[(k * 7919) % tokens.length];
const scenarios = {
  // Many different registered tokens, so neither side answers from a one-entry cache.
  valid: Array.from({ length: 64 }, (_, k) => request(ours, pick(k))),
  malformed: Array.from({ length: 64 }, (_, k) => request(ours, pick(k).slice(0, 45))),
  unknown: Array.from({ length: 64 }, (_, k) => request(ours, syntheticPat(SYNTHETIC + k))),
  account_mismatch: Array.from({ length: 64 }, (_, k) => request(theirs, pick(k))),
};
const expected = { valid: 200, malformed: 401, unknown: 401, account_mismatch: 403 };

const validator = new tokengate.Validator(policyText);
const plain = plainValidator(policy);
const plainOneShot = plainValidator(policy, { oneShotHash: true });
const nowSeconds = Math.floor(NOW / 1000);
// The binding takes the headers as one string, name\0value\0… (what lib/api.js builds).
const flat = (h) => Object.entries(h).flat().join('\0');

// Same answers before any timing.
for (const [name, reqs] of Object.entries(scenarios)) {
  for (const r of reqs) {
    const a = validator.check(r, NOW);
    const b = plain.check(r, NOW);
    const c = plainOneShot.check(r, NOW);
    if (a.status !== expected[name] || b.status !== a.status || c.status !== a.status || b.code !== a.code) {
      throw new Error(`${name}: tokengate ${a.status} ${a.code}, plain ${b.status} ${b.code}`);
    }
  }
}

// --- the benchmarks -----------------------------------------------------------------------------
let sink = 0;
const benches = [];
const add = (group, impl, fn, inputs) => benches.push({ group, impl, fn, inputs });
for (const [name, reqs] of Object.entries(scenarios)) {
  add(`check/${name}`, 'tokengate', (r) => validator.check(r, NOW).status, reqs);
  add(`check/${name}`, 'plain_js', (r) => plain.check(r, NOW).status, reqs);
  add(`check/${name}`, 'plain_js_oneshot_hash', (r) => plainOneShot.check(r, NOW).status, reqs);
}
const mix = Object.values(scenarios).flat();
add('check/mix', 'tokengate', (r) => validator.check(r, NOW).status, mix);
add('check/mix', 'plain_js', (r) => plain.check(r, NOW).status, mix);
add('check/mix', 'plain_js_oneshot_hash', (r) => plainOneShot.check(r, NOW).status, mix);

const inspectInputs = [fixtures.pat_spice, fixtures.service_spice, ` Token ${fixtures.pat_spice}`,
  fixtures.pat_spice.slice(0, 40), fixtures.user_key, 'paul@example.com'];
add('inspect/mix', 'tokengate', (t) => tokengate.inspectToken(t).problems.length, inspectInputs);
add('inspect/mix', 'plain_js', (t) => plainInspect(t).problems.length, inspectInputs);

// Where tokengate's time goes (valid requests): the public call; the wasm call alone on request
// bytes already in wasm memory (parse, decide, lay out the answer), also with the authorization
// header only; writing the request into wasm memory; and SHA-256 on each side.
add('breakdown', 'api_check', (r) => validator.check(r, NOW).status, scenarios.valid);
const memory = raw.wasmMemory();
const encoder = new TextEncoder();
function placed(line) {
  const v = new raw.Validator(policyText);
  const ptr = v.input(line.length * 3);
  const len = encoder.encodeInto(line, new Uint8Array(memory.buffer, ptr, line.length * 3)).written;
  return { v, len };
}
const line = (r, h) => `GET\0${r.url}\0${h}`;
const once = scenarios.valid.slice(0, 8).map((r) => placed(line(r, flat(r.headers))));
add('breakdown', 'raw_binding_check', (p) => (p.v.check(p.len, nowSeconds), 1), once);
const authOnly = scenarios.valid.slice(0, 8).map((r) => placed(line(r, `authorization\0${r.headers.authorization}`)));
add('breakdown', 'raw_binding_check_auth_only', (p) => (p.v.check(p.len, nowSeconds), 1), authOnly);
const scratch = new raw.Validator(policyText);
add('breakdown', 'encode_request', (r) => {
  const l = line(r, flat(r.headers));
  const ptr = scratch.input(l.length * 3);
  return encoder.encodeInto(l, new Uint8Array(memory.buffer, ptr, l.length * 3)).written;
}, scenarios.valid);
add('breakdown', 'wasm_hashToken', (t) => raw.hashToken(t).length, tokens.slice(0, 64));
add('breakdown', 'node_createHash', (t) => createHash('sha256').update(t).digest('hex').length, tokens.slice(0, 64));
add('breakdown', 'node_crypto_hash', (t) => hash('sha256', t, 'hex').length, tokens.slice(0, 64));

function runBatch(b, iters) {
  const { fn, inputs } = b;
  const n = inputs.length;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) sink += fn(inputs[i % n]);
  const t1 = process.hrtime.bigint();
  const c1 = process.cpuUsage(c0);
  const wall = Number(t1 - t0) / 1e9;
  const cpu = (c1.user + c1.system) / 1e6;
  return { iters, wall_s: wall, cpu_s: cpu, per_s_wall: iters / wall, per_s_cpu: iters / cpu };
}

// Warm up (JIT tiers, wasm tier-up) and size each benchmark's batch to about BATCH_MS.
for (const b of benches) {
  let iters = 1000;
  for (;;) {
    const r = runBatch(b, iters);
    if (r.wall_s * 1000 >= BATCH_MS / 4) {
      b.iters = Math.max(1000, Math.round((iters * BATCH_MS) / (r.wall_s * 1000)));
      break;
    }
    iters *= 4;
  }
  runBatch(b, b.iters);
  b.runs = [];
}
// Interleaved rounds; the order rotates so no benchmark always follows the same one.
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < benches.length; k++) {
    const b = benches[(k + round) % benches.length];
    b.runs.push(runBatch(b, b.iters));
  }
}

const result = {
  node: process.version,
  v8: process.versions.v8,
  rounds: ROUNDS,
  batch_ms: BATCH_MS,
  registry_entries: policy.registry.tokens.length,
  wasm_bytes: readFileSync(join(DIST, 'node/tokengate_bg.wasm')).length,
  benches: benches.map(({ group, impl, iters, runs, inputs }) => ({ group, impl, iters, inputs: inputs.length, runs })),
  sink,
};
const text = JSON.stringify(result, null, 1);
if (OUT) writeFileSync(OUT, text);
else process.stdout.write(text + '\n');
