// The tarball `npm pack` makes, installed into an empty folder and used there as a user would:
// from `require`, from `import`, and from TypeScript (type-checked, no `any` leaking through).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { JS_DIR, POLICY_TEXT, TOKENS } from './support/fixtures.mjs';

const work = mkdtempSync(join(tmpdir(), 'tokengate-pack-'));
const app = join(work, 'app');
let tarball = '';
function run(cmd, args, cwd) {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

before(() => {
  const out = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], JS_DIR));
  tarball = join(work, out[0].filename);
  run('mkdir', ['-p', app], work);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '1.0.0' }));
  writeFileSync(join(app, 'policy.json'), POLICY_TEXT);
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], app);
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('npm pack', () => {
  test('the tarball holds the package and nothing else', () => {
    const files = run('tar', ['-tzf', tarball], work).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, '')).sort();
    assert.deepEqual(files, [
      'README.md',
      'dist/lib/edge.cjs',
      'dist/lib/edge.js',
      'dist/lib/express.cjs',
      'dist/lib/express.js',
      'dist/lib/guard.cjs',
      'dist/lib/guard.js',
      'dist/node/api.cjs',
      'dist/node/index.cjs',
      'dist/node/index.d.cts',
      'dist/node/index.mjs',
      'dist/node/tokengate.cjs',
      'dist/node/tokengate_bg.wasm',
      'dist/web/api.js',
      'dist/web/index.js',
      'dist/web/tokengate.js',
      'dist/web/tokengate_bg.wasm',
      'dist/web/workerd.js',
      'index.d.ts',
      'package.json',
      'types/edge.d.ts',
      'types/express.d.ts',
      'types/guard.d.ts',
    ]);
    assert.deepEqual(readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.')), ['tokengate']);
  });

  const script = (load) => `${load}
const fs = require('node:fs');
const v = new Validator(fs.readFileSync('policy.json', 'utf8'));
const d = v.check({ url: 'https://gn456.us1.dbt.com/api/v2/accounts/9007199254740993/',
  headers: { authorization: 'Token ' + process.env.TOKEN } }, new Date('2026-07-01T00:00:00Z'));
let policyError = '';
try { new Validator({ mode: 'x', registry: { tokens: [] } }); } catch (e) { policyError = e instanceof PolicyError ? e.errors[0].path : 'wrong class'; }
console.log(JSON.stringify({ kind: inspectToken(process.env.TOKEN).kind, hash: hashToken('x').length, code: d.code,
  account: d.accountId, policyError }));`;

  const expected = { kind: 'pat', hash: 64, code: 'ok', account: '9007199254740993', policyError: 'mode' };
  const env = { ...process.env, TOKEN: TOKENS.pat_guild };

  test('works from require()', () => {
    writeFileSync(join(app, 'use.cjs'), script("const { Validator, PolicyError, inspectToken, hashToken } = require('tokengate');"));
    assert.deepEqual(JSON.parse(execFileSync('node', ['use.cjs'], { cwd: app, env, encoding: 'utf8' })), expected);
  });

  test('works from import', () => {
    writeFileSync(join(app, 'use.mjs'), script(
      "import { Validator, PolicyError, inspectToken, hashToken } from 'tokengate';\nimport { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);"));
    assert.deepEqual(JSON.parse(execFileSync('node', ['use.mjs'], { cwd: app, env, encoding: 'utf8' })), expected);
  });

  test('import resolves to the Node build, and the default export is init', () => {
    writeFileSync(join(app, 'which.mjs'), "import init, * as t from 'tokengate';\nawait init();\nconsole.log(import.meta.resolve('tokengate').endsWith('/dist/node/index.mjs'), typeof t.initSync);");
    assert.equal(execFileSync('node', ['which.mjs'], { cwd: app, encoding: 'utf8' }).trim(), 'true function');
  });

  test('the types check from ESM and CommonJS TypeScript, without the DOM lib', () => {
    const usage = `
const decision: Decision = new Validator(policyText).check({ method: 'GET', url: { href: 'https://x/' }, headers: [['a', 'b']] }, Date.now());
const account: string | null = decision.accountId;
const kind: TokenKind | null = inspectToken('t').kind;
const problems: ProblemCode[] = inspectToken('t').problems.map((p) => p.code);
const code: DecisionCode = decision.code;
const errors: PolicyProblem[] = [];
try { new Validator({ registry: { tokens: [] } }); } catch (e) { if (e instanceof PolicyError) errors.push(...e.errors); }
const hex: string = hashToken('t');
// @ts-expect-error a request needs a url
new Validator('{}').check({ method: 'GET' });
// @ts-expect-error now is a Date or a number
new Validator('{}').check({ url: '/' }, '2024-01-01');
// @ts-expect-error accountId is never a number
const n: number = decision.accountId;
export { account, kind, problems, code, errors, hex, n };
`;
    const names = 'Validator, PolicyError, inspectToken, hashToken, type Decision, type DecisionCode, type TokenKind, type ProblemCode, type PolicyProblem';
    writeFileSync(join(app, 'usage.mts'), `import init, { ${names} } from 'tokengate';\nawait init();\ndeclare const policyText: string;\n${usage}`);
    writeFileSync(join(app, 'usage.cts'), `import { ${names} } from 'tokengate';\ndeclare const policyText: string;\n${usage}`);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022',
        lib: ['es2022'], types: [], noImplicitAny: true, skipLibCheck: false },
      files: ['usage.mts', 'usage.cts'],
    }));
    run(join(JS_DIR, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], app);
  });

  test('the types check for a browser bundle (DOM lib, bundler resolution)', () => {
    writeFileSync(join(app, 'web.ts'), `import init, { initSync, inspectToken, Validator } from 'tokengate';
await init(new URL('tokengate.wasm', location.href));
await init(fetch('/tokengate.wasm'));
initSync(new Uint8Array(8));
const h = new Headers();
h.set('authorization', 'Token x');
export const d = new Validator('{}').check({ url: location.href, headers: h }, new Date());
export const k = inspectToken((document.querySelector('input') as HTMLInputElement).value).kind;
`);
    writeFileSync(join(app, 'tsconfig.web.json'), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: 'esnext', moduleResolution: 'bundler', target: 'es2022',
        lib: ['es2022', 'dom', 'dom.iterable'], types: [], skipLibCheck: false },
      files: ['web.ts'],
    }));
    run(join(JS_DIR, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.web.json'], app);
  });
});

describe('npm pack: the fronts (tokengate/edge, /guard, /express) from the installed tarball', () => {
  test('require and import give the same functions', () => {
    writeFileSync(join(app, 'fronts.cjs'), `const e = require('tokengate/edge'), g = require('tokengate/guard'), x = require('tokengate/express');
console.log(JSON.stringify([typeof e.createEdge, typeof e.createProxy, typeof g.guardFetch, typeof g.TokenDeniedError, typeof x.tokengateMiddleware]));`);
    writeFileSync(join(app, 'fronts.mjs'), `import { createEdge, createProxy } from 'tokengate/edge';
import { guardFetch, TokenDeniedError } from 'tokengate/guard';
import { tokengateMiddleware } from 'tokengate/express';
console.log(JSON.stringify([typeof createEdge, typeof createProxy, typeof guardFetch, typeof TokenDeniedError, typeof tokengateMiddleware]));`);
    const want = ['function', 'function', 'function', 'function', 'function'];
    assert.deepEqual(JSON.parse(execFileSync('node', ['fronts.cjs'], { cwd: app, encoding: 'utf8' })), want);
    assert.deepEqual(JSON.parse(execFileSync('node', ['fronts.mjs'], { cwd: app, encoding: 'utf8' })), want);
  });

  test('their types check under tsc --strict, with Express\'s own types, from ESM and CommonJS', () => {
    // Express and the type packages come from npm's cache (setup.sh's `npm ci` filled it).
    const dev = JSON.parse(readFileSync(join(JS_DIR, 'package.json'), 'utf8')).devDependencies;
    const pinned = ['express', '@types/express', '@types/node'].map((n) => `${n}@${dev[n]}`);
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--no-save', ...pinned], app);
    const usage = `
declare const validator: Validator;
const edge = createEdge(validator, { now: () => new Date() });
const out = edge(new Request('https://ab123.us1.dbt.com/api/v2/accounts/1/'));
if (out instanceof Response) {
  const status: number = out.status;
  void status;
} else {
  const forward: Forward = out;
  const code: DecisionCode = forward.decision.code;
  const again: Response = forward.respond(new Response('x'));
  const headers: Record<string, string> = forward.responseHeaders;
  void [code, again, headers, new Request('http://upstream/', forward.request)];
}
const proxy: (r: Request) => Promise<Response> = createProxy(validator, { upstream: new URL('http://127.0.0.1:1/') });
// @ts-expect-error createProxy needs an upstream
createProxy(validator, {});
const guarded = guardFetch(validator, { onDecision: (d) => void d.tokenId });
async function call(): Promise<string | undefined> {
  try {
    return await (await guarded('https://x/', { headers: { authorization: 'Token t' } })).text();
  } catch (e) {
    if (e instanceof TokenDeniedError) {
      const c: Exclude<DecisionCode, 'ok'> = e.code;
      const s: number = e.status;
      const d: Decision = e.decision;
      return [c, s, d.message].join();
    }
    return undefined;
  }
}
const app = express();
app.use(tokengateMiddleware(validator, { now: Date.now }));
app.get('/', (req, res) => { res.json((req as { tokengate?: Decision }).tokengate ?? null); });
export { proxy, call };
`;
    const names = `import { createEdge, createProxy, type Forward } from 'tokengate/edge';
import { guardFetch, TokenDeniedError } from 'tokengate/guard';
import { tokengateMiddleware } from 'tokengate/express';
import type { Decision, DecisionCode, Validator } from 'tokengate';`;
    writeFileSync(join(app, 'fronts-usage.mts'), `${names}\nimport express from 'express';\n${usage}`);
    writeFileSync(join(app, 'fronts-usage.cts'), `${names}\nimport express = require('express');\n${usage}`);
    writeFileSync(join(app, 'tsconfig.fronts.json'), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022',
        lib: ['es2022', 'dom'], types: ['node'], skipLibCheck: false },
      files: ['fronts-usage.mts', 'fronts-usage.cts'],
    }));
    run(join(JS_DIR, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.fronts.json'], app);
  });
});
