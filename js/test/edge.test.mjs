// The Fetch handler (`tokengate/edge`), the fetch guard (`tokengate/guard`) and the Express
// middleware (`tokengate/express`) in Node, each through the SPEC §6 table, each agreeing with the
// CLI on what the client and the upstream see. Runtimes other than Node: runtimes.test.mjs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { Validator } from 'tokengate';
import { createEdge, createProxy, denialResponse, withResponseHeaders } from 'tokengate/edge';
import { TokenDeniedError, guardFetch } from 'tokengate/guard';
import { tokengateMiddleware } from 'tokengate/express';
import { CASES, NOW, assertEdgeAgrees, fetchView, runCli, variants } from './support/cases.mjs';
import { TOKENS, camelDecision, policy } from './support/fixtures.mjs';
import { rawRequest, startUpstream } from './support/upstream.mjs';

const validators = Object.fromEntries(Object.entries(variants).map(([name, p]) => [name, new Validator(p)]));
const validatorOf = (c) => validators[c.policy ?? 'example'];
const clock = (c) => () => Date.parse(c.now ?? NOW);
const ORIGIN = 'http://127.0.0.1:8787';
let upstream;
before(async () => { upstream = await startUpstream(); });
after(() => upstream.close());

/** What the client and the upstream saw for one response. */
async function seenFrom(response, countBefore) {
  const body = await response.text();
  const reached = upstream.count() > countBefore;
  return { status: response.status, headers: response.headers, body, upstream: reached ? upstream.last() : null };
}

function assertNoSecret(text, label) {
  for (const t of Object.values(TOKENS)) assert.ok(!text.includes(t), `${label}: a token leaked`);
}

describe('tokengate/edge in Node: the SPEC §6 table through createProxy, against the CLI', () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const view = fetchView(c, ORIGIN);
      const proxy = createProxy(validatorOf(c), { upstream: upstream.url, now: clock(c) });
      const n = upstream.count();
      const response = await proxy(new Request(view.url, { method: c.method ?? 'GET', headers: view.headers }));
      const seen = await seenFrom(response, n);
      const cli = runCli(c, { url: view.url, headers: view.headers }).decision;
      assertEdgeAgrees(cli, seen, validatorOf(c).stripHeaders, c.name, c.forbidUpstream);
      if (cli.allow) assert.equal(seen.upstream.path, new URL(view.url).pathname + new URL(view.url).search);
      // The upstream's echo holds the client's Authorization by design; the edge's own answers never.
      if (!cli.allow) assertNoSecret(seen.body + JSON.stringify([...seen.headers]), c.name);
    });
  }
});

describe('tokengate/edge building blocks', () => {
  const v = validators.example;
  const at = () => Date.parse(NOW);

  test('a denial is a Response with the decision\'s status, headers and body', async () => {
    const out = createEdge(v, { now: at })(new Request(`${ORIGIN}/api/v2/accounts/1/`));
    assert.ok(out instanceof Response);
    assert.equal(out.status, 401);
    assert.equal(out.headers.get('www-authenticate'), 'Bearer realm="dbt"');
    assert.equal(out.headers.get('cache-control'), 'no-store');
    assert.equal(JSON.parse(await out.text()).status.developer_message, 'missing_token');
  });

  test('an allow is the request to forward, edited, and the headers for the response', async () => {
    const req = new Request(`https://ab123.us1.dbt.com/api/v2/accounts/70471823510118/runs/9/artifacts/manifest.json?x=1`, {
      method: 'POST', body: 'payload', headers: { authorization: `Token ${TOKENS.service_spice}`, 'x-dbt-token-id': 'forged', 'x-other': 'kept' },
    });
    const out = createEdge(v, { now: at })(req);
    assert.ok(!(out instanceof Response));
    assert.equal(out.decision.code, 'ok');
    assert.equal(out.request.url, req.url);
    assert.equal(out.request.method, 'POST');
    assert.equal(await out.request.text(), 'payload');
    assert.equal(out.request.headers.get('x-dbt-token-id'), 'svc-harvest-prod');
    assert.equal(out.request.headers.get('x-dbt-account-id'), '70471823510118');
    assert.equal(out.request.headers.get('x-other'), 'kept');
    assert.equal(out.responseHeaders.sunset, 'Tue, 01 Jan 2030 00:00:00 GMT');
    const upstreamAnswer = await fetch(upstream.url); // immutable headers, as fetch gives them
    const answer = out.respond(upstreamAnswer);
    assert.equal(answer.headers.get('sunset'), 'Tue, 01 Jan 2030 00:00:00 GMT');
    assert.equal(answer.headers.get('x-upstream'), 'echo');
    assert.equal(JSON.parse(await answer.text()).path, '/');
  });

  test('withResponseHeaders leaves a response alone when there is nothing to add', () => {
    const r = new Response('x');
    assert.equal(withResponseHeaders(r, {}), r);
  });

  test('denialResponse on an allow decision is not how it is used, but the shape holds', () => {
    const d = v.check({ url: '/api/v2/accounts/1/' }, at());
    assert.equal(denialResponse(d).status, 401);
  });

  test('createProxy keeps the upstream\'s path prefix and hands redirects back', async () => {
    const proxy = createProxy(v, { upstream: `${upstream.url}prefix/`, now: at });
    const r = await proxy(new Request(`${ORIGIN}/health?q=1`));
    assert.equal(JSON.parse(await r.text()).path, '/prefix/health?q=1');
    const redirecting = createProxy(v, { upstream: 'http://127.0.0.1:1/', now: at,
      fetch: async (req) => { assert.equal(req.redirect, 'manual'); return new Response(null, { status: 302, headers: { location: '/x' } }); } });
    assert.equal((await redirecting(new Request(`${ORIGIN}/health`))).status, 302);
    assert.throws(() => createProxy(v, {}), TypeError);
  });
});

describe('tokengate/guard: fetch refuses what the policy denies, before sending', () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const view = fetchView(c, ORIGIN);
      const cli = runCli(c, { url: view.url, headers: view.headers }).decision;
      const sent = [];
      const decisions = [];
      const guarded = guardFetch(validatorOf(c), { now: clock(c), fetch: async (r) => { sent.push(r); return new Response('sent'); },
        onDecision: (d) => decisions.push(d) });
      const attempt = guarded(view.url, { method: c.method ?? 'GET', headers: view.headers });
      assert.deepEqual(decisions, [camelDecision(cli)], 'the guard decided what the CLI decided');
      if (cli.allow) {
        assert.equal(await (await attempt).text(), 'sent');
        assert.equal(sent.length, 1);
        // The guard checks; it does not rewrite what the caller sends.
        assert.deepEqual([...sent[0].headers], [...new Headers(view.headers)]);
      } else {
        const error = await attempt.then(() => assert.fail('no error'), (e) => e);
        assert.ok(error instanceof TokenDeniedError && error instanceof Error);
        assert.equal(error.name, 'TokenDeniedError');
        assert.equal(error.code, cli.code);
        assert.equal(error.status, cli.status);
        assert.equal(error.message, cli.message);
        assert.deepEqual(error.decision, camelDecision(cli));
        assert.equal(sent.length, 0, 'a denied request was sent');
        assertNoSecret(`${error.stack} ${JSON.stringify(error)} ${String(error)}`, c.name);
      }
    });
  }

  test('by default it sends through the global fetch', async () => {
    const guarded = guardFetch(validators.example);
    const r = await guarded(`${upstream.url}api/v2/accounts/70471823510118/`, { headers: { authorization: `Token ${TOKENS.pat_spice}` } });
    assert.equal(JSON.parse(await r.text()).path, '/api/v2/accounts/70471823510118/');
  });
});

describe('tokengate/express: the SPEC §6 table through a real Express app, against the CLI', () => {
  let server;
  let port;
  let clockNow = NOW; // the time the middleware decides at: each case's own (tests run one by one)
  const apps = {};
  before(async () => {
    const app = express();
    // One middleware per policy variant, chosen by a path prefix the test strips again.
    for (const [name, v] of Object.entries(validators)) {
      apps[name] = tokengateMiddleware(v, { now: () => Date.parse(clockNow) });
    }
    app.use((req, res, next) => {
      const m = /^\/__(\w+)(\/.*)$/.exec(req.url);
      if (!m) return next();
      req.url = m[2];
      req.originalUrl = m[2];
      apps[m[1]](req, res, next);
    });
    app.use((req, res) => {
      res.json({ path: req.originalUrl, headers: req.headers, decision: req.tokengate, raw: req.rawHeaders });
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    port = server.address().port;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  for (const c of CASES) {
    test(c.name, async () => {
      clockNow = c.now ?? NOW;
      const view = fetchView(c, 'http://127.0.0.1');
      const raw = { ...view.raw, target: `/__${c.policy ?? 'example'}${view.raw.target}` };
      // The exact request the case describes: Express neither resolves dot segments nor joins lines.
      const cli = runCli(c).decision;
      const res = await rawRequest(port, raw);
      const echo = res.status === 200 && res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(res.body) : null;
      const reached = echo !== null && echo.path !== undefined && 'raw' in echo;
      assertEdgeAgrees(cli, { ...res, upstream: reached ? echo : null }, validatorOf(c).stripHeaders, c.name, c.forbidUpstream);
      if (reached) {
        assert.deepEqual(echo.decision, camelDecision(cli));
        const rawNames = echo.raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
        for (const name of validatorOf(c).stripHeaders) {
          assert.equal(rawNames.filter((n) => n === name).length, name in cli.upstream_headers ? 1 : 0, `rawHeaders ${name}`);
        }
      }
    });
  }
});
