// Where Validator.check spends its time in Node: a V8 CPU profile (node:inspector) of check() on
// valid requests, its samples' self time sorted into buckets. It runs against a build of the same
// package whose .wasm keeps its function names (bench/js/named-build.sh), wrapped by the package's
// own lib/api.js, because the shipped .wasm is stripped and shows only wasm-function[N].
//
//   node bench/js/profile.mjs --pkg DIR [--out FILE] [--seconds S]
import { Session } from 'node:inspector/promises';
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const PKG = join(process.cwd(), arg('pkg'));
const OUT = arg('out', null);
const SECONDS = Number(arg('seconds', 3));

const raw = require(join(PKG, 'tokengate.js'));
const { bindApi } = require(join(root, 'js/dist/node/api.cjs'));
const api = bindApi(raw);
const fixtures = JSON.parse(readFileSync(join(root, 'tests/fixtures/tokens.json'), 'utf8')).tokens;
const validator = new api.Validator(readFileSync(join(root, 'examples/policy.json'), 'utf8'));
const NOW = Date.parse('2026-01-15T00:00:00Z');
const scenarios = {
  valid: `/api/v2/accounts/70471823510118/jobs/`,
  account_mismatch: `/api/v2/accounts/9007199254740993/jobs/`,
};

// Buckets, first match wins: [name, test on (functionName, url)].
// The JSON.parse of the decision runs in wasm-bindgen's import closure `__wbg_parse_*` (an anonymous
// function on the line that calls JSON.parse; V8 counts the builtin's time there).
const glue = readFileSync(join(PKG, 'tokengate.js'), 'utf8').split('\n');
const parseLines = new Set(glue.flatMap((l, i) => (l.includes('JSON.parse(') ? [i - 1, i] : [])));
const BUCKETS = [
  ['JSON.parse of the decision (in JS)', (f, u, line) => /tokengate\.js$/.test(u) && parseLines.has(line)],
  ['wasm: JSON serialisation of the decision (core to_json)', (f) =>
    /jsonout|String>::push|next_code_point|Chars as|encode_utf8|fmt::|Formatter|format_inner|Display>::fmt|pad_integral|hex::encode/.test(f)],
  ['wasm: allocator (malloc/free/realloc, Vec growth)', (f, u) => /\.wasm/.test(u) &&
    /dlmalloc|__rust_alloc|__rust_dealloc|__rust_realloc|__wbindgen_malloc|__wbindgen_free|__wbindgen_realloc|raw_vec|reserve|to_vec|finish_grow|drop_in_place|Drop>::drop|alloc_impl/.test(f)],
  ['wasm: SHA-256', (f) => /sha2::|compress256|registry::sha256/.test(f)],
  ['wasm-bindgen boundary (strings in and out, externref table, JS<->wasm calls)', (f, u) =>
    /wasm_bindgen|__wbindgen|__wbg|__externref|js-to-wasm|wasm-to-js|GenericJSToWasm|js_sys/.test(f) ||
    /tokengate\.js$/.test(u) || /^(decode|decodeUTF8|encode|encodeInto|get buffer|get|set|subarray)$/.test(f)],
  ['wasm: the decision itself (core decide)', (f, u) => /\.wasm/.test(u)],
  ['JS wrapper lib/api.js (header list, camelCase keys, checks)', (f, u) => /api\.cjs$/.test(u) || /^RegExp:/.test(f)],
  ['garbage collection', (f) => f === '(garbage collector)'],
];

function bucketOf(cf) {
  for (const [name, test] of BUCKETS) if (test(cf.functionName || '', cf.url || '', cf.lineNumber)) return name;
  return 'other (benchmark loop, idle, program)';
}

const session = new Session();
session.connect();
const result = { seconds: SECONDS, scenarios: {} };
for (const [name, path] of Object.entries(scenarios)) {
  const req = { method: 'GET', url: path, headers: {
    host: 'ab123.us1.dbt.com', authorization: `Token ${fixtures.pat_spice}`,
    accept: 'application/json', 'user-agent': 'dbt-cloud-client/1.0' } };
  let sink = 0;
  const t = Date.now();
  while (Date.now() - t < 500) sink += validator.check(req, NOW).status; // warm up
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 50 });
  await session.post('Profiler.start');
  let calls = 0;
  const t0 = process.hrtime.bigint();
  const end = Date.now() + SECONDS * 1000;
  while (Date.now() < end) {
    for (let i = 0; i < 1000; i++) sink += validator.check(req, NOW).status;
    calls += 1000;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const { profile } = await session.post('Profiler.stop');
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const buckets = new Map();
  const fns = new Map();
  for (const id of profile.samples) {
    const cf = byId.get(id).callFrame;
    const b = bucketOf(cf);
    buckets.set(b, (buckets.get(b) ?? 0) + 1);
    const key = `${cf.functionName || '(anonymous)'} [${(cf.url || '').split('/').pop()}]`;
    fns.set(key, (fns.get(key) ?? 0) + 1);
  }
  const total = profile.samples.length;
  const perCallNs = ns / calls;
  const sorted = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  result.scenarios[name] = {
    calls, per_call_ns: perCallNs, samples: total, sink,
    buckets: sorted(buckets).map(([k, v]) => ({ bucket: k, share: v / total, ns_per_call: (v / total) * perCallNs })),
    top_functions: sorted(fns).slice(0, 15).map(([k, v]) => ({ fn: k, share: v / total })),
  };
}
const text = JSON.stringify(result, null, 1);
if (OUT) writeFileSync(OUT, text);
else process.stdout.write(text + '\n');
