// The SPEC §6 table every front of the JS package is held to, and the CLI it must agree with:
// spec-table.test.mjs runs it through Validator.check, edge.test.mjs through the Fetch handler in
// Node, runtimes.test.mjs through workerd, Deno and Bun.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACCOUNTS, REPO, TOKENS, policy } from './fixtures.mjs';

export const CLI = process.env.TOKENGATE_CLI ?? join(REPO, 'target/release/tokengate');
export const NOW = '2026-07-01T00:00:00Z';
const SPICE = ACCOUNTS.spice;
const GUILD = ACCOUNTS.guild;
const auth = (token, scheme = 'Token') => ['Authorization', `${scheme} ${token}`];

export const variants = {
  example: policy(),
  report: { ...policy(), mode: 'report' },
  oauthReject: { ...policy(), oauth: 'reject' },
  queryToken: { ...policy(), query_token: true },
  // The cross-account endpoints retired for every kind, not only for legacy keys.
  retiredForAll: { ...policy(), deprecations: { ...policy().deprecations,
    endpoints: policy().deprecations.endpoints.map(({ kinds, ...e }) => e) } },
};
const dir = mkdtempSync(join(tmpdir(), 'tokengate-spec-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
/** Each policy variant as a file, for the CLI and the runtimes. */
export const files = Object.fromEntries(
  Object.entries(variants).map(([name, p]) => {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(p));
    return [name, file];
  }),
);

/**
 * @typedef {{ name: string, policy?: keyof typeof variants, method?: string, url: string,
 *   headers?: [string, string][], now?: string, code: string, status: number, allow?: boolean,
 *   check?: (d: import('tokengate').Decision) => void }} Case
 */
/** @type {Case[]} */
export const CASES = [
  // Step 1: client copies of the identity headers never decide anything.
  { name: '1 forged identity headers are ignored', url: `/api/v2/accounts/${GUILD}/`,
    headers: [['X-Dbt-Account-Id', GUILD], auth(TOKENS.pat_spice)], code: 'account_mismatch', status: 403 },
  { name: '1 forged identity headers on an allowed request are replaced', url: `/api/v2/accounts/${SPICE}/`,
    headers: [['X-Dbt-Account-Id', GUILD], ['X-Dbt-Token-Kind', 'service'], ['X-Tokengate-Would-Deny', 'x'], auth(TOKENS.pat_spice)],
    code: 'ok', status: 200, allow: true,
    check: (d) => assert.equal(d.upstreamHeaders['x-dbt-account-id'], SPICE) },
  { name: '1 identity headers in other spellings and forwarded hosts are removed', url: `/api/v2/accounts/${SPICE}/`,
    headers: [['x_dbt_account_id', GUILD], ['X-Forwarded-Host', 'gn456.us1.dbt.com'], ['Forwarded', 'for=1.2.3.4;host=gn456.us1.dbt.com'],
      auth(TOKENS.pat_spice)],
    code: 'ok', status: 200, allow: true, forbidUpstream: ['x_dbt_account_id', 'x-forwarded-host', 'forwarded'] },
  { name: '1 forged identity headers on a public route are removed', url: '/health',
    headers: [['x-dbt-account-id', GUILD], ['x-dbt-token-id', 'forged']], code: 'ok', status: 200, allow: true },
  // Step 2: paths that servers read differently.
  { name: '2 dot segment', url: `/api/v2/accounts/${SPICE}/../${GUILD}/`, headers: [auth(TOKENS.pat_guild)],
    code: 'invalid_request', status: 400 },
  { name: '2 encoded slash', url: `/api/v2/accounts/${SPICE}%2Fjobs/`, headers: [auth(TOKENS.pat_spice)],
    code: 'invalid_request', status: 400 },
  { name: '2 backslash', url: `/api/v2/accounts/${SPICE}\\jobs/`, headers: [auth(TOKENS.pat_spice)],
    code: 'invalid_request', status: 400 },
  { name: '2 account id past u64', url: '/api/v2/accounts/18446744073709551616/', headers: [auth(TOKENS.pat_spice)],
    code: 'invalid_request', status: 400 },
  // Step 3: public routes.
  { name: '3 auth none', url: '/health', code: 'ok', status: 200, allow: true,
    check: (d) => assert.deepEqual(d.upstreamHeaders, {}) },
  // Step 4: sunset endpoints, before any credential is read.
  { name: '4 sunset endpoint, for every kind: before any credential', policy: 'retiredForAll',
    url: 'https://ab123.us1.dbt.com/api/v2/accounts/', code: 'endpoint_sunset', status: 410,
    check: (d) => {
      assert.equal(d.responseHeaders.sunset, 'Tue, 30 Apr 2024 00:00:00 GMT');
      assert.match(d.responseHeaders.link, /rel="deprecation"/);
    } },
  { name: '4 sunset endpoint without the trailing slash', policy: 'retiredForAll', url: '/api/v3/accounts',
    headers: [auth(TOKENS.pat_spice)], code: 'endpoint_sunset', status: 410 },
  { name: '4 retired for legacy keys only: a legacy key is refused once its kind is known', now: '2024-06-01T00:00:00Z',
    url: '/api/v3/accounts/', headers: [auth(TOKENS.user_key)], code: 'endpoint_sunset', status: 410 },
  { name: '4 retired for legacy keys only: a PAT goes on', url: '/api/v3/accounts/', headers: [auth(TOKENS.pat_spice)],
    code: 'ok', status: 200, allow: true },
  // Step 5: the credential.
  { name: '5 no credential', url: `/api/v2/accounts/${SPICE}/`, code: 'missing_token', status: 401,
    check: (d) => assert.equal(d.responseHeaders['www-authenticate'], 'Bearer realm="dbt"') },
  { name: '5 two Authorization lines', url: `/api/v2/accounts/${SPICE}/`,
    headers: [auth(TOKENS.pat_spice), auth(TOKENS.pat_spice)], code: 'invalid_request', status: 400 },
  { name: '5 a second credential in one value', url: `/api/v2/accounts/${SPICE}/`,
    headers: [['Authorization', `Token ${TOKENS.pat_spice}, Token ${TOKENS.pat_guild}`]], code: 'invalid_request', status: 400 },
  { name: '5 basic scheme', url: `/api/v2/accounts/${SPICE}/`, headers: [['Authorization', 'Basic dXNlcjpwYXNz']],
    code: 'unsupported_scheme', status: 401 },
  { name: '5 pat prefix, short body', url: `/api/v2/accounts/${SPICE}/`, headers: [auth('dbtu_tooshort')],
    code: 'malformed_token', status: 401 },
  { name: '5 no known kind, not registered', url: `/api/v2/accounts/${SPICE}/`, headers: [auth('paul@atreides.com')],
    code: 'malformed_token', status: 401 },
  { name: '5 bearer scheme, any case, several spaces', url: `/api/v2/accounts/${SPICE}/`,
    headers: [['authorization', `bEaReR   ${TOKENS.pat_spice}`]], code: 'ok', status: 200, allow: true },
  // Step 6: OAuth.
  { name: '6 oauth forwarded', url: `/api/v2/accounts/${SPICE}/jobs/`, headers: [auth(TOKENS.oauth, 'Bearer')],
    code: 'ok', status: 200, allow: true, check: (d) => assert.equal(d.tokenKind, 'oauth') },
  { name: '6 oauth rejected', policy: 'oauthReject', url: `/api/v2/accounts/${SPICE}/`,
    headers: [auth(TOKENS.oauth, 'Bearer')], code: 'unsupported_token', status: 401 },
  { name: '6 oauth still meets step 9', method: 'POST', url: `/api/v2/accounts/${SPICE}/jobs/7/run/`,
    headers: [auth(TOKENS.oauth, 'Bearer')], code: 'token_kind_not_allowed', status: 403 },
  // Step 7: the registry.
  { name: '7 unknown token', url: `/api/v2/accounts/${SPICE}/`, headers: [auth(TOKENS.pat_unregistered)],
    code: 'invalid_token', status: 401 },
  { name: '7 revoked', url: `/api/v2/accounts/${SPICE}/`, headers: [auth(TOKENS.service_revoked)],
    code: 'revoked_token', status: 401 },
  { name: '7 expired', url: `/api/v2/accounts/${SPICE}/`, headers: [auth(TOKENS.pat_expired)],
    code: 'expired_token', status: 401 },
  { name: '7 unregistered 40-hex key', url: `/api/v2/accounts/${SPICE}/`, headers: [auth(TOKENS.user_key_unregistered)],
    code: 'invalid_token', status: 401 },
  // Step 8: legacy user keys.
  { name: '8 user key after its sunset', url: `/api/v2/accounts/${SPICE}/`, headers: [auth(TOKENS.user_key)],
    code: 'user_key_retired', status: 401, check: (d) => assert.match(d.message, /personal access token/i) },
  { name: '8 user key inside its window', now: '2024-06-01T00:00:00Z', url: `/api/v2/accounts/${SPICE}/`,
    headers: [auth(TOKENS.user_key)], code: 'ok', status: 200, allow: true,
    check: (d) => {
      assert.equal(d.responseHeaders.deprecation, '@1707264000');
      assert.equal(d.responseHeaders.sunset, 'Tue, 22 Oct 2024 00:00:00 GMT');
      assert.equal(d.accountId, null);
    } },
  { name: '8+11 user key on a deprecated endpoint: the earlier sunset speaks', now: '2024-03-01T00:00:00Z',
    url: '/api/v2/accounts/', headers: [auth(TOKENS.user_key)], code: 'ok', status: 200, allow: true,
    check: (d) => assert.equal(d.responseHeaders.sunset, 'Tue, 30 Apr 2024 00:00:00 GMT') },
  // Step 9: the route's kinds.
  { name: '9 pat on a service-only route', method: 'POST', url: `/api/v2/accounts/${SPICE}/jobs/7/run/`,
    headers: [auth(TOKENS.pat_spice)], code: 'token_kind_not_allowed', status: 403,
    check: (d) => assert.match(d.message, /service/) },
  { name: '9 service token on it', method: 'POST', url: `/api/v2/accounts/${SPICE}/jobs/7/run/`,
    headers: [auth(TOKENS.service_spice)], code: 'ok', status: 200, allow: true },
  { name: '9 method outside the route runs on', method: 'GET', url: `/api/v2/accounts/${SPICE}/jobs/7/run/`,
    headers: [auth(TOKENS.pat_spice)], code: 'ok', status: 200, allow: true },
  // Step 10: accounts.
  { name: '10 token of another account', url: `/api/v2/accounts/${GUILD}/jobs/`, headers: [auth(TOKENS.pat_spice)],
    code: 'account_mismatch', status: 403,
    check: (d) => assert.ok(!d.message.includes(SPICE), 'the message must not reveal the token\'s account') },
  { name: '10 host and path disagree', url: `https://ab123.us1.dbt.com/api/v2/accounts/${GUILD}/`,
    headers: [auth(TOKENS.pat_guild)], code: 'account_mismatch', status: 403 },
  { name: '10 host names the account', url: 'https://GN456.semantic-layer.us1.dbt.com:443/api/graphql',
    headers: [auth(TOKENS.pat_spice)], code: 'account_mismatch', status: 403 },
  { name: '10 host from the Host header', url: '/api/graphql',
    headers: [['Host', 'gn456.metadata.us1.dbt.com'], auth(TOKENS.pat_guild)], code: 'ok', status: 200, allow: true,
    check: (d) => assert.equal(d.accountId, GUILD) },
  // Step 11: deprecation windows.
  { name: '11 endpoint inside its window', url: `/api/v2/accounts/${SPICE}/runs/9/artifacts/manifest.json`,
    headers: [auth(TOKENS.service_spice)], code: 'ok', status: 200, allow: true,
    check: (d) => assert.equal(d.responseHeaders.sunset, 'Tue, 01 Jan 2030 00:00:00 GMT') },
  // Step 12: allowed, with identity headers; the id above 2^53 stays exact.
  { name: '12 allow', url: `https://gn456.us1.dbt.com/api/v2/accounts/${GUILD}/jobs/`, headers: [auth(TOKENS.pat_guild)],
    code: 'ok', status: 200, allow: true,
    check: (d) => {
      assert.equal(d.accountId, '9007199254740993');
      assert.deepEqual(d.upstreamHeaders, {
        'x-dbt-account-id': '9007199254740993', 'x-dbt-token-kind': 'pat', 'x-dbt-token-id': '4845eb85e672',
      });
    } },
  { name: '12 the registry token_id is the one shown', url: `/api/v2/accounts/${SPICE}/`,
    headers: [auth(TOKENS.service_spice)], code: 'ok', status: 200, allow: true,
    check: (d) => assert.equal(d.tokenId, 'svc-harvest-prod') },
  // §7: problem+json on request.
  { name: '7§ problem+json', url: `/api/v2/accounts/${SPICE}/`,
    headers: [['Accept', 'application/problem+json'], auth(TOKENS.pat_unregistered)], code: 'invalid_token', status: 401,
    check: (d) => {
      assert.equal(d.responseHeaders['content-type'], 'application/problem+json');
      assert.equal(JSON.parse(d.body ?? '').code, 'invalid_token');
    } },
  // Report mode: allowed, marked, with the code it would have had.
  { name: 'report mode', policy: 'report', url: `/api/v2/accounts/${SPICE}/`, headers: [auth(TOKENS.pat_unregistered)],
    code: 'invalid_token', status: 401, allow: true,
    check: (d) => {
      assert.equal(d.reportOnly, true);
      assert.deepEqual(d.upstreamHeaders, { 'x-tokengate-would-deny': 'invalid_token' });
      assert.equal(d.body, null);
    } },
  // §2: the query token only where the policy allows it.
  { name: '§2 query token refused by default', url: `/api/v2/accounts/${SPICE}/?token=${TOKENS.pat_spice}`,
    code: 'missing_token', status: 401 },
  { name: '§2 query token where allowed', policy: 'queryToken', url: `/api/v2/accounts/${SPICE}/?token=${TOKENS.pat_spice}`,
    code: 'ok', status: 200, allow: true },
  // SPEC §5 (wave 2): the server behind decides what a request means; the edge never reads it
  // more leniently (issue 10's cases, decided by the core for every front).
  { name: '§5 account id with a sign', url: '/api/v2/accounts/+9007199254740993/jobs/',
    headers: [auth(TOKENS.pat_spice)], code: 'invalid_request', status: 400 },
  { name: '§5 account id with digit-group underscores', url: '/api/v2/accounts/9_007_199_254_740_993/jobs/',
    headers: [auth(TOKENS.pat_spice)], code: 'invalid_request', status: 400 },
  { name: '§5 a format suffix on the service-only run action', method: 'POST',
    url: `/api/v2/accounts/${SPICE}/jobs/7/run.json`, headers: [auth(TOKENS.pat_spice)],
    code: 'token_kind_not_allowed', status: 403 },
  { name: '§5 a format suffix still names the account', url: `/api/v2/accounts/${GUILD}.json`,
    headers: [auth(TOKENS.pat_spice)], code: 'account_mismatch', status: 403 },
  { name: '§5 a lower-case method on a POST-only route', method: 'post',
    url: `/api/v2/accounts/${SPICE}/jobs/7/run/`, headers: [auth(TOKENS.pat_spice)],
    code: 'token_kind_not_allowed', status: 403 },
  // SPEC §10: a PAT in production Terraform is allowed, with the advice recorded.
  { name: '§10 a PAT from the Terraform provider is advised', url: `/api/v2/accounts/${SPICE}/jobs/`,
    headers: [auth(TOKENS.pat_spice), ['user-agent', 'terraform-provider-dbtcloud/0.3.21']],
    code: 'ok', status: 200, allow: true,
    check: (d) => {
      assert.equal(d.client, 'production Terraform');
      assert.equal(d.advice.code, 'service_token_advised');
      assert.equal(d.upstreamHeaders['x-tokengate-advice'], 'service_token_advised');
    } },
];

/** The CLI's decision on case `c`; `now` (RFC 3339), `url` and `headers` override the case's. */
export function runCli(c, { now, headers, url } = {}) {
  const args = ['check', '--policy', files[c.policy ?? 'example'], '--method', c.method ?? 'GET', '--url', url ?? c.url,
    '--now', now ?? c.now ?? NOW];
  for (const [n, v] of headers ?? c.headers ?? []) args.push('--header', `${n}: ${v}`);
  const r = spawnSync(CLI, args, { encoding: 'utf8' });
  assert.equal(r.error, undefined, `could not run ${CLI}: ${r.error}`);
  return { exit: r.status, decision: JSON.parse(r.stdout), stderr: r.stderr };
}


/**
 * Case `c` as a Fetch server presents it to the edge handler: the runtime's URL parser has
 * resolved dot segments and backslashes, as WHATWG URL does (so the upstream is sent the path that
 * was checked), unless `resolvesPath` is false; the
 * host is the URL's (from `Host`, else the server's own `origin`), and repeated header lines are
 * one value joined by `, ` as `Headers` joins them. `raw` is what goes on the wire to the runtime.
 */
export function fetchView(c, origin, { resolvesPath = true } = {}) {
  const lines = c.headers ?? [];
  const host = lines.find(([n]) => n.toLowerCase() === 'host')?.[1
];
  const absolute = /^https?:\/\//i.test(c.url);
  const base = host ? `http://${host}` : origin;
  const joined = new Map();
  for (const [n, v] of lines) {
    const name = n.toLowerCase();
    if (name === 'host') continue;
    joined.set(name, joined.has(name) ? `${joined.get(name)}, ${v}` : v);
  }
  const rawTarget = absolute ? c.url.replace(/^https?:\/\/[^/?#]*/i, '') || '/' : c.url;
  const rawHost = absolute ? c.url.match(/^https?:\/\/([^/?#]*)/i)[1] : host;
  const rawHeaders = lines.filter(([n]) => n.toLowerCase() !== 'host').flat();
  // Deno's `request.url` keeps the request-target as sent (dot segments, backslashes); the core
  // then refuses it, as the CLI does.
  const url = resolvesPath ? new URL(c.url, base).href
    : `${absolute ? `http://${rawHost}` : base}${rawTarget}`;
  return {
    url,
    headers: [...joined],
    raw: { method: c.method ?? 'GET', target: rawTarget, host: rawHost, headers: rawHeaders },
  };
}

/**
 * Asserts that what a client and the upstream saw through an edge handler is what the CLI decided:
 * a denial's status, every response header and the body; or, allowed, the upstream reached with the
 * decision's upstream headers, none of the client's copies of them, and the decision's response
 * headers on the answer.
 * @param cli the CLI's decision (snake_case)
 * @param seen `{ status, headers: Headers, body: string, upstream: { path, headers } | null }`
 * @param strip header names the edge removes from every client request
 * @param forbid more names the upstream must not see (the case's `forbidUpstream`)
 */
export function assertEdgeAgrees(cli, seen, strip, label, forbid = []) {
  for (const [name, value] of Object.entries(cli.response_headers)) {
    assert.equal(seen.headers.get(name), value, `${label}: response header ${name}`);
  }
  if (!cli.allow) {
    assert.equal(seen.status, cli.status, `${label}: status`);
    assert.equal(seen.body, cli.body, `${label}: body`);
    assert.equal(seen.upstream, null, `${label}: a denied request reached the upstream`);
    return;
  }
  assert.ok(seen.upstream, `${label}: an allowed request did not reach the upstream (status ${seen.status})`);
  const got = seen.upstream.headers;
  for (const [name, value] of Object.entries(cli.upstream_headers)) {
    assert.equal(got[name], value, `${label}: upstream header ${name}`);
  }
  for (const name of [...strip, ...forbid]) {
    if (!(name in cli.upstream_headers)) assert.equal(got[name], undefined, `${label}: ${name} reached the upstream`);
  }
}
