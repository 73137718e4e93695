// SPEC §6, step by step, through both fronts that print a decision: the native CLI
// (`tokengate check`) and `Validator.check` from the npm package. Each case must give the expected
// code, and the two decisions must be identical once the CLI's snake_case names are camelCased.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Validator } from 'tokengate';
import { CASES, CLI, NOW, runCli, variants } from './support/cases.mjs';
import { TOKENS, camelDecision } from './support/fixtures.mjs';

const validators = Object.fromEntries(Object.entries(variants).map(([name, p]) => [name, new Validator(p)]));

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

describe('the binding: decisions stay right whatever came before', () => {
  // The binding reuses strings from earlier answers of the same kind and writes requests into a
  // buffer that grows: neither may leak one answer into another.
  test('every case again, in reverse and interleaved, after a request that grows wasm memory', () => {
    const decide = (c) => validators[c.policy ?? 'example'].check(
      { method: c.method ?? 'GET', url: c.url, headers: c.headers ?? [] }, new Date(c.now ?? NOW));
    const first = CASES.map(decide);
    const huge = validators.example.check({ url: '/health', headers: [['x-big', 'é'.repeat(3 << 20)]] }, new Date(NOW));
    assert.equal(huge.code, 'ok');
    const order = CASES.map((_, i) => i).reverse().flatMap((i) => [i, (i * 7) % CASES.length]);
    for (const i of order) assert.deepEqual(decide(CASES[i]), first[i], CASES[i].name);
  });
});
