// Cold start of the npm package: `import` + `new Validator(examples/policy.json)`, in a fresh
// process each time.
//
//   node bench/js/coldstart.mjs [--runs N] [--out FILE]
//
// Node: a fresh `node` per run, timed inside it (performance.now() around the import and the
// constructor) and from outside (spawn to exit, against a `node` that imports nothing).
// workerd: a fresh miniflare/workerd per run, timed from `new Miniflare` to the first answer, for
// examples/worker bundled by wrangler (the first request builds the Validator) against a Worker
// that answers without tokengate; the difference is what tokengate adds. workerd freezes its clocks
// while a request runs, so its cold start can only be timed from outside.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const JS = join(root, 'js');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const RUNS = Number(arg('runs', 9));
const OUT = arg('out', null);
const POLICY = join(root, 'examples/policy.json');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs });

// ---- Node ------------------------------------------------------------------------------------
const entry = pathToFileURL(join(JS, 'dist/node/index.mjs')).href;
const inner = `const t0 = performance.now();
const { Validator } = await import(${JSON.stringify(entry)});
const t1 = performance.now();
new Validator(require('node:fs').readFileSync(${JSON.stringify(POLICY)}, 'utf8'));
const t2 = performance.now();
console.log(JSON.stringify({ import_ms: t1 - t0, validator_ms: t2 - t1 }));`;
const wrapped = `const require = (await import('node:module')).createRequire(import.meta.url);\n${inner}`;
const node = { import_ms: [], validator_ms: [], process_ms: [], empty_process_ms: [] };
for (let i = 0; i < RUNS; i++) {
  let t = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', wrapped], { encoding: 'utf8' });
  node.process_ms.push(performance.now() - t);
  if (r.status !== 0) throw new Error(r.stderr);
  const m = JSON.parse(r.stdout);
  node.import_ms.push(m.import_ms);
  node.validator_ms.push(m.validator_ms);
  t = performance.now();
  spawnSync(process.execPath, ['--input-type=module', '-e', 'console.log(1)']);
  node.empty_process_ms.push(performance.now() - t);
}

// ---- workerd -----------------------------------------------------------------------------------
const { Miniflare } = await import(pathToFileURL(join(JS, 'node_modules/miniflare/dist/src/index.js')).href);
const work = mkdtempSync(join(tmpdir(), 'tokengate-coldstart-'));
const wrangler = join(JS, 'node_modules/.bin/wrangler');
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', XDG_CONFIG_HOME: join(work, 'config'),
  WRANGLER_LOG_PATH: join(work, 'logs') };
function bundle(name, source) {
  const dir = join(work, name);
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'src/index.js'), source);
  writeFileSync(join(dir, 'wrangler.toml'), `name = "${name}"\nmain = "src/index.js"\ncompatibility_date = "2026-04-01"\n`);
  // Resolve `tokengate` to js/ itself (a symlinked node_modules), as an installed package would be.
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  execFileSync('ln', ['-sfn', JS, join(dir, 'node_modules/tokengate')]);
  execFileSync(wrangler, ['deploy', '--dry-run', '--outdir', join(dir, 'out')], { cwd: dir, env, stdio: 'ignore' });
  return join(dir, 'out');
}
const withGate = bundle('gate', readFileSync(join(JS, 'examples/worker/src/index.js'), 'utf8'));
const without = bundle('plain', 'export default { fetch: () => new Response("ok") };\n');
async function firstAnswer(out) {
  const t = performance.now();
  const mf = new Miniflare({ modules: true, scriptPath: join(out, 'index.js'), modulesRoot: out,
    compatibilityDate: '2026-04-01', modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    bindings: { UPSTREAM: 'http://127.0.0.1:9/', TOKENGATE_POLICY: readFileSync(POLICY, 'utf8') } });
  // A request without a token: the answer needs the Validator and a decision, no upstream.
  const r = await mf.dispatchFetch('http://x/api/v2/accounts/1/');
  await r.arrayBuffer();
  const ms = performance.now() - t;
  await mf.dispose();
  return ms;
}
const workerd = { with_tokengate_ms: [], without_ms: [], added_ms: [] };
for (let i = 0; i < RUNS; i++) {
  const a = await firstAnswer(withGate);
  const b = await firstAnswer(without);
  workerd.with_tokengate_ms.push(a);
  workerd.without_ms.push(b);
  workerd.added_ms.push(a - b);
}
rmSync(work, { recursive: true, force: true });

const result = {
  runs: RUNS,
  node: Object.fromEntries(Object.entries(node).map(([k, v]) => [k, summary(v)])),
  workerd: Object.fromEntries(Object.entries(workerd).map(([k, v]) => [k, summary(v)])),
};
const text = JSON.stringify(result, null, 1);
if (OUT) writeFileSync(OUT, text);
else process.stdout.write(`${text}\n`);
