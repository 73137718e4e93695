// The whole public API of the built package, imported by its own name as a user would.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import init, { PolicyError, Validator, hashToken, initSync, inspectToken } from 'tokengate';
import { ACCOUNTS, POLICY_TEXT, REPO, TOKENS, policy } from './support/fixtures.mjs';

const require = createRequire(import.meta.url);
const NOW = Date.parse('2026-07-01T00:00:00Z');
const SPICE_URL = `https://ab123.us1.dbt.com/api/v2/accounts/${ACCOUNTS.spice}/`;
const GUILD_URL = `https://gn456.us1.dbt.com/api/v2/accounts/${ACCOUNTS.guild}/`;
const CLI = process.env.TOKENGATE_CLI ?? join(REPO, 'target/release/tokengate');
const body = (n, c = 'a') => c.repeat(n);

describe('module shape', () => {
  test('import and require give the same instance and API', () => {
    const cjs = require('tokengate');
    assert.equal(cjs.Validator, Validator);
    assert.equal(cjs.inspectToken, inspectToken);
    for (const name of ['inspectToken', 'hashToken', 'Validator', 'PolicyError', 'init', 'initSync']) {
      assert.equal(typeof cjs[name], 'function', name);
    }
  });

  test('init and initSync exist in Node and do nothing harmful', async () => {
    await init();
    initSync(new Uint8Array());
    assert.equal(inspectToken(TOKENS.pat_spice).kind, 'pat');
  });
});

describe('inspectToken', () => {
  const codes = (t) => inspectToken(t).problems.map((p) => p.code);

  test('well-formed tokens of each kind', () => {
    assert.deepEqual(inspectToken(TOKENS.pat_spice), { kind: 'pat', wellFormed: true, problems: [] });
    assert.deepEqual(inspectToken(TOKENS.service_spice), { kind: 'service', wellFormed: true, problems: [] });
    assert.equal(inspectToken(TOKENS.oauth).kind, 'oauth');
  });

  const problems = [
    ['empty', '', 'empty'],
    ['leading space', ` ${TOKENS.pat_spice}`, 'whitespace'],
    ['trailing newline', `${TOKENS.pat_spice}\n`, 'whitespace'],
    ['space inside', `dbtu_${body(20)} ${body(29)}`, 'whitespace'],
    ['Token scheme pasted', `Token ${TOKENS.pat_spice}`, 'scheme_included'],
    ['Bearer scheme pasted', `Bearer ${TOKENS.service_spice}`, 'scheme_included'],
    ['quoted', `"${TOKENS.pat_spice}"`, 'quoted'],
    ['unknown prefix', `dbtx_${body(50)}`, 'unknown_prefix'],
    ['too short', `dbtu_${body(49)}`, 'wrong_length'],
    ['too long', `dbtc_${body(51)}`, 'wrong_length'],
    ['bad character', `dbtu_${body(49)}!`, 'bad_character'],
    ['legacy key', TOKENS.user_key, 'legacy_user_key'],
    ['an e-mail address', 'paul@atreides.com', 'not_a_token'],
    ['a URL', 'https://cloud.getdbt.com/settings/tokens', 'not_a_token'],
  ];
  for (const [name, token, code] of problems) {
    test(`${name} → ${code}`, () => {
      const r = inspectToken(token);
      assert.ok(codes(token).includes(code), `${JSON.stringify(r.problems)}`);
      // A legacy key has the shape of its kind: well formed, yet flagged.
      assert.equal(r.wellFormed, code === 'legacy_user_key');
      for (const p of r.problems) assert.equal(typeof p.message, 'string');
    });
  }

  test('agrees with `tokengate inspect` from the CLI', () => {
    for (const [, token] of problems) {
      const r = spawnSync(CLI, ['inspect'], { input: token, encoding: 'utf8' });
      assert.equal(r.error, undefined);
      const cli = JSON.parse(r.stdout);
      // The CLI reads one line from stdin, so compare only tokens a line read leaves intact.
      if (token.includes('\n') || token === '') continue;
      assert.deepEqual(inspectToken(token), { kind: cli.kind, wellFormed: cli.well_formed, problems: cli.problems },
        `inspect disagrees for case ${JSON.stringify(token.slice(0, 4))}…`);
    }
  });

  test('never repeats the token', () => {
    for (const [, token] of problems) {
      if (token.length < 8) continue;
      const text = JSON.stringify(inspectToken(token));
      assert.ok(!text.includes(token.trim()), 'inspection repeats the token');
    }
    for (const t of Object.values(TOKENS)) assert.ok(!JSON.stringify(inspectToken(` Token "${t}" `)).includes(t));
  });

  test('rejects what is not a string', () => {
    assert.throws(() => inspectToken(undefined), TypeError);
    assert.throws(() => inspectToken(42), TypeError);
  });
});

describe('hashToken', () => {
  test('is the lowercase hex SHA-256', () => {
    for (const t of [...Object.values(TOKENS), '', 'é ünïcode']) {
      assert.equal(hashToken(t), createHash('sha256').update(t, 'utf8').digest('hex'));
    }
  });

  test('gives the digests the example registry holds', () => {
    const digests = new Set(policy().registry.tokens.map((e) => e.sha256));
    for (const name of ['pat_spice', 'pat_guild', 'service_spice', 'service_revoked', 'pat_expired', 'user_key']) {
      assert.ok(digests.has(hashToken(TOKENS[name])), name);
    }
    assert.ok(!digests.has(hashToken(TOKENS.pat_unregistered)));
  });

  test('rejects what is not a string', () => assert.throws(() => hashToken(new Uint8Array(3)), TypeError));
});

describe('new Validator(policy)', () => {
  test('takes JSON text or an object, with the same result', () => {
    const req = { method: 'GET', url: SPICE_URL, headers: { authorization: `Token ${TOKENS.pat_spice}` } };
    assert.deepEqual(new Validator(POLICY_TEXT).check(req, NOW), new Validator(policy()).check(req, NOW));
  });

  test('mode and stripHeaders', () => {
    const v = new Validator({ ...policy(), mode: 'report', upstream_headers: { account_id: 'X-Acct', token_kind: 'x-kind', token_id: 'x-id' } });
    assert.equal(v.mode, 'report');
    assert.deepEqual(v.stripHeaders, ['x-acct', 'x-kind', 'x-id', 'x-tokengate-would-deny', 'x-tokengate-advice', 'x-forwarded-host', 'forwarded']);
    assert.equal(new Validator({ registry: { tokens: [] } }).mode, 'enforce');
  });

  const bad = [
    ['unknown field', { ...policy(), colour: 'red' }, 'colour'],
    ['bad mode', { ...policy(), mode: 'strict' }, 'mode'],
    ['missing registry', { mode: 'enforce' }, 'registry'],
    ['bad digest', { registry: { tokens: [{ sha256: 'abc', kind: 'pat', account_id: '1' }] } }, 'registry.tokens[0].sha256'],
    ['pat without account', { registry: { tokens: [{ sha256: hashToken('x'), kind: 'pat' }] } }, 'registry.tokens[0].account_id'],
    ['duplicate digest', { registry: { tokens: [
      { sha256: hashToken('x'), kind: 'service', account_id: '1' },
      { sha256: hashToken('x'), kind: 'service', account_id: '2' }] } }, 'registry.tokens[1].sha256'],
    ['sunset before deprecation', { ...policy(), deprecations: { endpoints: [
      { path: '/a/', deprecated_at: '2024-02-07T00:00:00Z', sunset_at: '2024-01-01T00:00:00Z' }] } },
      'deprecations.endpoints[0].sunset_at'],
  ];
  for (const [name, p, path] of bad) {
    test(`refuses ${name} with the path ${path}`, () => {
      assert.throws(() => new Validator(p), (e) => {
        assert.ok(e instanceof PolicyError, `${e}`);
        assert.ok(e instanceof Error);
        assert.equal(e.name, 'PolicyError');
        assert.ok(e.errors.some((x) => x.path === path), JSON.stringify(e.errors));
        assert.ok(e.message.includes(path), e.message);
        return true;
      });
    });
  }

  test('reports every problem at once', () => {
    const p = { mode: 'x', oauth: 'y', registry: { tokens: [{ sha256: 'no', kind: 'what' }] } };
    assert.throws(() => new Validator(p), (e) => e instanceof PolicyError && e.errors.length >= 4);
  });

  test('refuses broken JSON text', () => {
    assert.throws(() => new Validator('{"registry": '), PolicyError);
  });

  test('refuses what is neither text nor an object', () => {
    for (const p of [undefined, null, 42, [], true]) assert.throws(() => new Validator(p), TypeError);
  });

  test('a token pasted where a digest goes is not echoed in the error', () => {
    const p = { registry: { tokens: [{ sha256: TOKENS.pat_spice, kind: 'pat', account_id: '1' }] } };
    assert.throws(() => new Validator(p), (e) => {
      assert.ok(!e.message.includes(TOKENS.pat_spice));
      assert.ok(!JSON.stringify(e.errors).includes(TOKENS.pat_spice));
      return e instanceof PolicyError;
    });
  });

  test('free() releases it; using it after throws', () => {
    const v = new Validator(policy());
    v.free();
    v.free();
    assert.throws(() => v.check({ url: '/health' }), /freed/);
  });
});

describe('account ids above 2^53', () => {
  const u64max = '18446744073709551615';
  const hugePolicy = (accountId) => ({
    registry: { tokens: [{ sha256: hashToken(TOKENS.pat_spice), kind: 'pat', account_id: accountId }] },
  });
  const check = (v, account) => v.check(
    { url: `/api/v2/accounts/${account}/`, headers: { Authorization: `Token ${TOKENS.pat_spice}` } }, NOW);

  test('2^53 + 1 from the example registry comes back exact, as a string', () => {
    const d = new Validator(policy()).check({ url: GUILD_URL, headers: [['authorization', `Token ${TOKENS.pat_guild}`]] }, NOW);
    assert.equal(d.accountId, '9007199254740993');
    assert.equal(d.upstreamHeaders['x-dbt-account-id'], '9007199254740993');
  });

  test('u64::MAX as a string and as a BigInt', () => {
    for (const id of [u64max, BigInt(u64max)]) {
      const v = new Validator(hugePolicy(id));
      assert.equal(check(v, u64max).accountId, u64max);
      assert.equal(check(v, '18446744073709551614').code, 'account_mismatch');
    }
  });

  test('as JSON text, a bare number past 2^53 stays exact', () => {
    const text = `{"registry":{"tokens":[{"sha256":"${hashToken(TOKENS.pat_spice)}","kind":"pat","account_id":9007199254740993}]}}`;
    assert.equal(check(new Validator(text), '9007199254740993').accountId, '9007199254740993');
  });

  test('a JS number past 2^53 in a policy object is refused, with its path', () => {
    assert.throws(() => new Validator(hugePolicy(9007199254740993)), (e) => {
      assert.ok(e instanceof PolicyError);
      assert.deepEqual(e.errors.map((x) => x.path), ['registry.tokens[0].account_id']);
      return true;
    });
    assert.throws(() => new Validator({ ...policy(), hosts: { account_prefixes: { ab: 2 ** 60 } } }),
      (e) => e instanceof PolicyError && e.errors[0].path === 'hosts.account_prefixes.ab');
  });

  test('a u64 overflow is refused by the core', () => {
    assert.throws(() => new Validator(hugePolicy('18446744073709551616')), PolicyError);
  });
});

describe('check(request): header shapes', () => {
  const v = new Validator(policy());
  const value = `Token ${TOKENS.pat_spice}`;
  const shapes = {
    'plain object': { Authorization: value },
    'plain object, lowercase': { authorization: value },
    'array of pairs': [['AUTHORIZATION', value]],
    'Headers': new Headers({ Authorization: value }),
    'Map': new Map([['authorization', value]]),
    'object with an array value': { authorization: [value] },
  };
  for (const [name, headers] of Object.entries(shapes)) {
    test(`${name} → allowed`, () => {
      const d = v.check({ method: 'GET', url: SPICE_URL, headers }, NOW);
      assert.equal(d.code, 'ok', d.message);
      assert.equal(d.accountId, ACCOUNTS.spice);
    });
  }

  const twice = {
    'array of pairs': [['authorization', value], ['Authorization', value]],
    'object with an array value': { authorization: [value, value] },
    'Headers (joined with a comma)': (() => { const h = new Headers(); h.append('authorization', value); h.append('authorization', value); return h; })(),
  };
  for (const [name, headers] of Object.entries(twice)) {
    test(`two credentials as ${name} → invalid_request`, () => {
      assert.equal(v.check({ url: SPICE_URL, headers }, NOW).code, 'invalid_request');
    });
  }

  test('no headers at all → missing_token', () => {
    for (const headers of [undefined, null, {}, [], new Headers()]) {
      assert.equal(v.check({ url: SPICE_URL, headers }, NOW).code, 'missing_token');
    }
  });

  test('undefined values are skipped; numbers become strings', () => {
    assert.equal(v.check({ url: SPICE_URL, headers: { authorization: value, 'x-n': 5, 'x-u': undefined } }, NOW).code, 'ok');
  });

  test('NUL in a header name or value is refused, so no header can be smuggled in', () => {
    const smuggled = `x\0authorization\0Token ${'a'.repeat(10)}`;
    assert.throws(() => v.check({ url: SPICE_URL, headers: { 'x-note': smuggled } }, NOW), TypeError);
    assert.throws(() => v.check({ url: SPICE_URL, headers: [['x\0authorization', value]] }, NOW), TypeError);
    // Empty values and empty header lists still pair up.
    assert.equal(v.check({ url: SPICE_URL, headers: [['x-empty', ''], ['authorization', value]] }, NOW).code, 'ok');
  });

  test('a fetch Request fits', () => {
    const req = new Request(SPICE_URL, { headers: { authorization: value } });
    assert.equal(v.check(req, NOW).code, 'ok');
  });

  test('a URL object, a path and a Host header', () => {
    assert.equal(v.check({ url: new URL(SPICE_URL), headers: { authorization: value } }, NOW).code, 'ok');
    const d = v.check({ url: `/api/v2/accounts/${ACCOUNTS.spice}/`, headers: { host: 'gn456.us1.dbt.com', authorization: value } }, NOW);
    assert.equal(d.code, 'account_mismatch');
  });

  test('method defaults to GET and is passed through', () => {
    const run = `/api/v2/accounts/${ACCOUNTS.spice}/jobs/1/run/`;
    assert.equal(v.check({ url: run, headers: { authorization: value } }, NOW).code, 'ok');
    assert.equal(v.check({ method: 'POST', url: run, headers: { authorization: value } }, NOW).code, 'token_kind_not_allowed');
  });

  test('odd shapes are TypeErrors that never show the value', () => {
    const odd = [
      { url: SPICE_URL, headers: [['authorization']] },
      { url: SPICE_URL, headers: [[1, value]] },
      { url: SPICE_URL, headers: 'authorization: x' },
      { url: 42 },
      { url: SPICE_URL, method: 7 },
    ];
    for (const req of odd) {
      assert.throws(() => v.check(req, NOW), (e) => e instanceof TypeError && !e.message.includes(TOKENS.pat_spice));
    }
    assert.throws(() => v.check(null), TypeError);
  });
});

describe('check(request, now)', () => {
  const v = new Validator(policy());
  const req = { url: SPICE_URL, headers: { authorization: `Token ${TOKENS.user_key}` } };
  const before = '2024-06-01T00:00:00Z';

  test('a Date and epoch milliseconds agree', () => {
    assert.deepEqual(v.check(req, new Date(before)), v.check(req, Date.parse(before)));
    assert.equal(v.check(req, new Date(before)).code, 'ok');
  });

  test('the default is the current time', () => {
    assert.equal(v.check(req).code, 'user_key_retired');
    const expired = { url: SPICE_URL, headers: { authorization: `Token ${TOKENS.pat_expired}` } };
    assert.equal(v.check(expired).code, 'expired_token');
    assert.equal(v.check(expired, Date.parse('2024-12-31T23:59:59Z')).code, 'ok');
  });

  test('sub-second times round down to the second', () => {
    const sunset = Date.parse('2024-10-22T00:00:00Z');
    assert.equal(v.check(req, sunset - 1).code, 'ok');
    assert.equal(v.check(req, sunset).code, 'user_key_retired');
  });

  test('what is not a time is refused', () => {
    assert.throws(() => v.check(req, new Date('nope')), RangeError);
    assert.throws(() => v.check(req, Number.NaN), RangeError);
    assert.throws(() => v.check(req, '2024-06-01'), TypeError);
  });
});

describe('nothing returned contains the token', () => {
  test('over every token, scheme and URL', () => {
    const v = new Validator(policy());
    const r = new Validator({ ...policy(), mode: 'report' });
    for (const t of Object.values(TOKENS)) {
      for (const header of [`Token ${t}`, `Bearer ${t}`, `Basic ${t}`, t, `Token  "${t}"`]) {
        for (const url of [SPICE_URL, GUILD_URL, '/api/v2/accounts/', `/x?token=${t}`]) {
          for (const val of [v, r]) {
            const d = JSON.stringify(val.check({ url, headers: { authorization: header } }, NOW));
            assert.ok(!d.includes(t), `decision for ${url} contains the token`);
            assert.ok(!d.includes(hashToken(t)), 'decision contains the digest');
          }
        }
      }
      assert.ok(!JSON.stringify(inspectToken(t)).includes(t));
    }
  });
});
