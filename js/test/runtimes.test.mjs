// The packed tarball, installed into an empty folder, used from the real runtimes shipped on npm
// (pinned in devDependencies, run offline): the Worker of examples/worker bundled by wrangler and
// run in workerd through miniflare, and the Fetch handler as a Deno and a Bun server. Each runs the
// SPEC §6 table over real HTTP on loopback, and must agree with the CLI (decided at the same time:
// the runtimes use their own clock, so the table's cases with a time of their own run only in
// edge.test.mjs). Every loading form each runtime has is exercised too.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Miniflare } from 'miniflare';
import { CASES, assertEdgeAgrees, fetchView, files, runCli } from './support/cases.mjs';
import { JS_DIR, POLICY_TEXT, TOKENS } from './support/fixtures.mjs';
import { rawRequest, startUpstream } from './support/upstream.mjs';

const BIN = {
  deno: join(JS_DIR, 'node_modules/@deno/linux-x64-glibc/deno'),
  bun: join(JS_DIR, 'node_modules/@oven/bun-linux-x64/bin/bun'),
  wrangler: join(JS_DIR, 'node_modules/.bin/wrangler'),
};
const work = mkdtempSync(join(tmpdir(), 'tokengate-runtimes-'));
const app = join(work, 'app');
// Runtimes offline and quiet: no update checks, no telemetry, caches inside the scratch folder.
const ENV = { ...process.env, DENO_DIR: join(work, 'deno'), DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1',
  WRANGLER_SEND_METRICS: 'false', WRANGLER_LOG_PATH: join(work, 'wrangler-logs'), XDG_CONFIG_HOME: join(work, 'config'),
  BUN_INSTALL_CACHE_DIR: join(work, 'bun'), DO_NOT_TRACK: '1', NO_COLOR: '1' };
const STRIP = ['x-dbt-account-id', 'x-dbt-token-kind', 'x-dbt-token-id', 'x-tokengate-would-deny'];
const children = [];
const miniflares = [];
let upstream;

function run(cmd, args, cwd, extra = {}) {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', env: { ...ENV, ...extra }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Starts a server process and waits, at most 30 s, for the one JSON line it prints when ready. */
function startServer(cmd, args, extra) {
  const child = spawn(cmd, args, { cwd: app, env: { ...ENV, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} not ready in 30 s: ${out}${err}`)), 30_000);
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) { clearTimeout(timer); resolve(JSON.parse(line)); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${cmd} exited ${code}: ${out}${err}`)); });
  });
}

before(async () => {
  upstream = await startUpstream();
  const pack = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], JS_DIR));
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '1.0.0', type: 'module' }));
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(work, pack[0].filename)], app);
  cpSync(join(JS_DIR, 'examples/worker'), join(app, 'worker'), { recursive: true, filter: (f) => !f.includes('node_modules') });
  cpSync(join(JS_DIR, 'test/support/edge-server.mjs'), join(app, 'edge-server.mjs'));
  writeFileSync(join(app, 'policy.json'), POLICY_TEXT);
});
after(async () => {
  for (const child of children) child.kill();
  // Bounded: a runtime that failed to start must not hold the test run open.
  const bound = (p) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
  await Promise.all(miniflares.map((mf) => bound(mf.dispose())));
  await upstream?.close();
  rmSync(work, { recursive: true, force: true });
});

/** Runs the SPEC §6 table against servers on `ports` (one per policy variant). */
function specTable(ports, options) {
  const now = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000', '');
  for (const c of CASES.filter((k) => k.now === undefined)) {
    test(c.name, async () => {
      const port = ports()[c.policy ?? 'example'];
      const view = fetchView(c, `http://127.0.0.1:${port}`, options);
      const n = upstream.count();
      const res = await rawRequest(port, view.raw);
      const reached = upstream.count() > n;
      const cli = runCli(c, { url: view.url, headers: view.headers, now }).decision;
      assertEdgeAgrees(cli, { ...res, upstream: reached ? upstream.last() : null }, STRIP, c.name, c.forbidUpstream);
      if (cli.allow) {
        const url = new URL(view.url);
        assert.equal(upstream.last().path, url.pathname + url.search, 'the upstream is sent the path that was checked');
        for (const [name, value] of Object.entries(cli.response_headers)) assert.equal(res.headers.get(name), value);
        assert.equal(res.headers.get('x-upstream'), 'echo');
      } else {
        for (const t of Object.values(TOKENS)) assert.ok(!res.body.includes(t), 'a token in a denial');
      }
    });
  }
}

describe('workerd (miniflare): examples/worker, bundled by wrangler from the installed tarball', () => {
  const ports = {};
  before(async () => {
    const out = join(work, 'bundle');
    run(BIN.wrangler, ['deploy', '--dry-run', '--outdir', out], join(app, 'worker'));
    const bundle = readFileSync(join(out, 'index.js'), 'utf8');
    assert.match(bundle, /import \w+ from "\.\/[0-9a-f]+-tokengate_bg\.wasm"/, 'wrangler uploads the .wasm as a module');
    await Promise.all(Object.entries(files).map(async ([name, file]) => {
      const mf = new Miniflare({
        modules: true, scriptPath: join(out, 'index.js'), modulesRoot: out, compatibilityDate: '2026-04-01',
        modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
        bindings: { UPSTREAM: upstream.url, TOKENGATE_POLICY: readFileSync(file, 'utf8') },
      });
      miniflares.push(mf);
      ports[name] = Number((await mf.ready).port);
    }));
  });
  specTable(() => ports);

  test('the web build loads from an imported module with initSync, without fetching the .wasm', async () => {
    const dir = join(app, 'worker-initsync');
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'src/index.js'), `import wasm from 'tokengate/tokengate.wasm';
import { initSync, inspectToken, Validator } from 'tokengate';
initSync(wasm);
export default { fetch: (req) => Response.json({ module: wasm instanceof WebAssembly.Module,
  kind: inspectToken(req.headers.get('x-token')).kind, mode: new Validator('{"registry":{"tokens":[]}}').mode }) };
`);
    writeFileSync(join(dir, 'wrangler.toml'), 'name = "initsync"\nmain = "src/index.js"\ncompatibility_date = "2026-04-01"\n');
    const out = join(work, 'bundle-initsync');
    run(BIN.wrangler, ['deploy', '--dry-run', '--outdir', out], dir);
    const mf = new Miniflare({ modules: true, scriptPath: join(out, 'index.js'), modulesRoot: out, compatibilityDate: '2026-04-01',
      modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }] });
    miniflares.push(mf);
    const r = await mf.dispatchFetch('http://x/', { headers: { 'x-token': TOKENS.pat_spice } });
    assert.deepEqual(await r.json(), { module: true, kind: 'pat', mode: 'enforce' });
  });
});

for (const runtime of ['deno', 'bun']) {
  describe(`${runtime}: the Fetch handler as a ${runtime} server, from the installed tarball`, () => {
    let ports = {};
    before(async () => {
      const args = runtime === 'deno' ? ['run', '--allow-read', '--allow-env', '--allow-net=127.0.0.1', 'edge-server.mjs'] : ['edge-server.mjs'];
      const ready = await startServer(BIN[runtime], args, { UPSTREAM: upstream.url, POLICY_FILES: JSON.stringify(files) });
      assert.equal(ready.runtime, runtime);
      ports = ready.ports;
    });
    specTable(() => ports, { resolvesPath: runtime !== 'deno' });

    test('import (and in Bun require) load the package; the answers are the same', () => {
      const use = `const v = new Validator(readFileSync('policy.json', 'utf8'));
const d = v.check({ url: 'https://gn456.us1.dbt.com/api/v2/accounts/9007199254740993/', headers: { authorization: 'Token ' + TOKEN } });
console.log(JSON.stringify({ kind: inspectToken(TOKEN).kind, hash: hashToken('x').length, code: d.code, account: d.accountId }));`;
      writeFileSync(join(app, 'use.mjs'), `import { readFileSync } from 'node:fs';\nimport { Validator, inspectToken, hashToken } from 'tokengate';\nconst TOKEN = ${JSON.stringify(TOKENS.pat_guild)};\n${use}`);
      writeFileSync(join(app, 'use.cjs'), `const { readFileSync } = require('node:fs');\nconst { Validator, inspectToken, hashToken } = require('tokengate');\nconst TOKEN = ${JSON.stringify(TOKENS.pat_guild)};\n${use}`);
      const expected = { kind: 'pat', hash: 64, code: 'ok', account: '9007199254740993' };
      const runs = runtime === 'deno' ? [['run', '--allow-read', 'use.mjs']] : [['use.mjs'], ['use.cjs']];
      for (const args of runs) assert.deepEqual(JSON.parse(run(BIN[runtime], args, app)), expected, args.join(' '));
    });
  });
}
