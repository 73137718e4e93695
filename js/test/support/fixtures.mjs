// The repository's example policy and made-up fixture tokens, as the tests use them.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const JS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REPO = join(JS_DIR, '..');

export const POLICY_TEXT = readFileSync(join(REPO, 'examples/policy.json'), 'utf8');
/** A fresh copy each call, so a test can change it freely. */
export const policy = () => JSON.parse(POLICY_TEXT);

const fixtures = JSON.parse(readFileSync(join(REPO, 'tests/fixtures/tokens.json'), 'utf8'));
/** @type {Record<string, string>} */
export const TOKENS = fixtures.tokens;
/** @type {{ spice: string, guild: string }} */
export const ACCOUNTS = fixtures.accounts;

/** snake_case → camelCase for the top-level keys of a CLI decision, as the JS API names them. */
export function camelDecision(decision) {
  return Object.fromEntries(
    Object.entries(decision).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c) => c.toUpperCase()), v]),
  );
}

/** Every fixture token, and the whole SHA-256 of each: nothing returned may contain either. */
export function secrets() {
  return Object.values(TOKENS);
}
