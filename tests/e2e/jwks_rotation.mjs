// Key sets and tokens for tests/e2e/test_jwks_url.py: an issuer that rotates its keys. Keys are
// generated on every run with node:crypto.
//
//   node tests/e2e/jwks_rotation.mjs NOW   prints {"sets": [set1, set2, set3], "tokens": {...}}
//
// set1 holds ec-1; set2 adds ec-2; set3 adds ec-3. Token `ec-N` is signed by key ec-N; all carry
// the same issuer, audience and account claim as jwt_cases.mjs.
import crypto from 'node:crypto';
import { ISSUER, AUDIENCE, ACCOUNT_CLAIM, ACCOUNT } from './jwt_cases.mjs';

const b64 = (b) => Buffer.from(b).toString('base64url');
const now = Number(process.argv[2] ?? Math.floor(Date.now() / 1000));
const keys = [1, 2, 3].map((n) => {
  const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid: `ec-${n}`, pair, jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid: `ec-${n}`, use: 'sig', alg: 'ES256' } };
});
const claims = JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: now - 10, nbf: now - 10,
  exp: now + 3600, [ACCOUNT_CLAIM]: ACCOUNT });
const sign = (k) => {
  const input = `${b64(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: k.kid }))}.${b64(claims)}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: k.pair.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64(sig)}`;
};
const out = {
  issuer: ISSUER, audience: AUDIENCE, account_claim: ACCOUNT_CLAIM, account: ACCOUNT,
  sets: [1, 2, 3].map((n) => ({ keys: keys.slice(0, n).map((k) => k.jwk) })),
  tokens: Object.fromEntries(keys.map((k) => [k.kid, sign(k)])),
};
process.stdout.write(JSON.stringify(out));
