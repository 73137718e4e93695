// SPEC §6, step by step, through both fronts that print a decision: the native CLI
// (`tokengate check`) and `Validator.check` from the npm package. Each case must give the expected
// code, and the two decisions must be identical once the CLI's snake_case names are camelCased.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Validator } from 'tokengate';
import { ACCOUNTS, REPO, TOKENS, camelDecision, policy } from './support/fixtures.mjs';

const CLI = process.env.TOKENGATE_CLI ?? join(REPO, 'target/release/tokengate');
const NOW = '2026-07-01T00:00:00Z';
const SPICE = ACCOUNTS.spice;
const GUILD = ACCOUNTS.guild;
const auth = (token, scheme = 'Token') => ['Authorization', `${scheme} ${token}`];

const variants = {
  example: policy(),
  report: { ...policy(), mode: 'report' },
  oauthReject: { ...policy(), oauth: 'reject' },
  queryToken: { ...policy(), query_token: true },
};
const dir = mkdtempSync(join(tmpdir(), 'tokengate-spec-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const files = Object.fromEntries(
  Object.entries(variants).map(([name, p]) => {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(p));
    return [name, file];
  }),
);
const validators = Object.fromEntries(Object.entries(variants).map(([name, p]) => [name, new Validator(p)]));

/**
 * @typedef {{ name: string, policy?: keyof typeof variants, method?: string, url: string,
 *   headers?: [string, string][], now?: string, code: string, status: number, allow?: boolean,
 *   check?: (d: import('tokengate').Decision) => void }} Case
 */
/** @type {Case[]} */
const CASES = [
  // Step 1: client copies of the identity headers never decide anything.
  { name: '1 forged identity headers are ignored', url: `/api/v2/accounts/${GUILD}/`,
    headers: [['X-Dbt-Account-Id', GUILD], auth(TOKENS.pat_spice)], code: 'account_mismatch', status: 403 },
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
  { name: '4 sunset endpoint', url: 'https://ab123.us1.dbt.com/api/v2/accounts/', code: 'endpoint_sunset', status: 410,
    check: (d) => {
      assert.equal(d.responseHeaders.sunset, 'Tue, 30 Apr 2024 00:00:00 GMT');
      assert.match(d.responseHeaders.link, /rel="deprecation"/);
    } },
  { name: '4 sunset endpoint without the trailing slash', url: '/api/v3/accounts', headers: [auth(TOKENS.pat_spice)],
    code: 'endpoint_sunset', status: 410 },
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
];

function runCli(c) {
  const args = ['check', '--policy', files[c.policy ?? 'example'], '--method', c.method ?? 'GET', '--url', c.url,
    '--now', c.now ?? NOW];
  for (const [n, v] of c.headers ?? []) args.push('--header', `${n}: ${v}`);
  const r = spawnSync(CLI, args, { encoding: 'utf8' });
  assert.equal(r.error, undefined, `could not run ${CLI}: ${r.error}`);
  return { exit: r.status, decision: JSON.parse(r.stdout), stderr: r.stderr };
}

describe('SPEC §6 through the CLI and Validator.check', () => {
  test('the CLI is built', () => assert.ok(existsSync(CLI), `${CLI} is missing: cargo build --release -p tokengate-cli`));

  for (const c of CASES) {
    test(c.name, () => {
      const js = validators[c.policy ?? 'example'].check(
        { method: c.method ?? 'GET', url: c.url, headers: c.headers ?? [] },
        new Date(c.now ?? NOW),
      );
      assert.equal(js.code, c.code);
      assert.equal(js.status, c.status);
      assert.equal(js.allow, c.allow ?? false);
      c.check?.(js);
      const cli = runCli(c);
      assert.deepEqual(js, camelDecision(cli.decision), 'the CLI and the JS package disagree');
      assert.equal(cli.exit, js.allow ? 0 : 1, `CLI exit code (stderr: ${cli.stderr})`);
      if (!js.allow || js.reportOnly) assert.equal(js.responseHeaders['cache-control'] ?? 'no-store', 'no-store');
    });
  }

  test('every decision code of SPEC §8 is covered', () => {
    const covered = new Set(CASES.map((c) => c.code));
    for (const code of ['ok', 'invalid_request', 'missing_token', 'unsupported_scheme', 'malformed_token',
      'unsupported_token', 'invalid_token', 'revoked_token', 'expired_token', 'user_key_retired',
      'token_kind_not_allowed', 'account_mismatch', 'endpoint_sunset']) {
      assert.ok(covered.has(code), code);
    }
  });

  test('no decision contains a token or a whole digest', async () => {
    const { hashToken } = await import('tokengate');
    for (const c of CASES) {
      const text = JSON.stringify(validators[c.policy ?? 'example'].check(
        { method: c.method ?? 'GET', url: c.url, headers: c.headers ?? [] }, new Date(c.now ?? NOW)));
      for (const t of Object.values(TOKENS)) {
        assert.ok(!text.includes(t), `${c.name}: the decision contains a token`);
        assert.ok(!text.includes(hashToken(t)), `${c.name}: the decision contains a digest`);
      }
    }
  });
});
