// The JWT case table of issue 14 (tests/e2e/jwt_cases.mjs: keys made by node:crypto on each run)
// through Validator.check and the native CLI: each case gives the table's code, and the two
// decisions are identical. tests/e2e/test_jwt.py puts the same table through the Envoy filter.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Validator } from 'tokengate';
import { makeCases, ACCOUNT } from '../../tests/e2e/jwt_cases.mjs';
import { REPO, camelDecision } from './support/fixtures.mjs';

const CLI = process.env.TOKENGATE_CLI ?? join(REPO, 'target/release/tokengate');
const NOW = 1_800_000_000;
const NOW_RFC3339 = new Date(NOW * 1000).toISOString().replace('.000Z', 'Z');
const table = makeCases(NOW);
const policy = { registry: { tokens: [] }, oauth: table.policy_oauth };
const dir = mkdtempSync(join(tmpdir(), 'tokengate-jwt-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const policyFile = join(dir, 'policy.json');
writeFileSync(policyFile, JSON.stringify(policy));
const validator = new Validator(policy);

function cli(c) {
  const r = spawnSync(CLI, ['check', '--policy', policyFile, '--url', c.path, '--now', NOW_RFC3339,
    '--header', `Authorization: Bearer ${c.token}`], { encoding: 'utf8' });
  assert.ok(r.status === 0 || r.status === 1, r.stderr);
  return camelDecision(JSON.parse(r.stdout));
}

describe('JWT table: Validator.check and the CLI', () => {
  assert.ok(table.cases.length >= 20);
  for (const c of table.cases) {
    test(c.id, () => {
      const d = validator.check({ method: 'GET', url: c.path, headers: { authorization: `Bearer ${c.token}` } }, NOW * 1000);
      assert.equal(d.code, c.code, d.message);
      assert.equal(d.tokenKind, c.code === 'malformed_token' ? null : 'oauth');
      if (d.allow) assert.ok(d.accountId === ACCOUNT || d.accountId === '9007199254740993', d.accountId);
      // Nothing the decision says repeats the token or its signature.
      const text = JSON.stringify(d);
      for (const part of c.token.split('.').filter((p) => p.length >= 16)) assert.ok(!text.includes(part), 'a token segment leaked');
      assert.deepEqual(d, cli(c));
    });
  }
});
