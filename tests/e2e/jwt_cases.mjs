// The JWT case table (issue 14), shared by the Envoy end-to-end tests (tests/e2e/test_jwt*.py)
// and the JS package's tests (js/test/jwt.test.mjs). Keys are generated on every run with
// node:crypto — an implementation independent of the RustCrypto crates the core verifies with.
//
//   node tests/e2e/jwt_cases.mjs NOW   prints {"policy_oauth": …, "jwks": …, "cases": [...]}
//
// Every time-dependent case keeps 30 s or more from its edge, since Envoy decides by its own
// clock a little after NOW; the exact-second edges are in the core's unit tests (src/oauth).
import crypto from 'node:crypto';
import { pathToFileURL } from 'node:url';

export const ISSUER = 'https://auth.tokengate.test/';
export const AUDIENCE = 'dbt-cloud-api';
export const ACCOUNT_CLAIM = 'https://dbt.com/account_id';
export const ACCOUNT = '70471823510118';
export const LEEWAY = 60;

const b64 = (b) => Buffer.from(b).toString('base64url');

export function makeCases(now) {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaJwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig', alg: 'RS256' };
  const ecJwk = { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig' };
  const jwks = { keys: [rsaJwk, ecJwk] };

  // Claims are JSON text, so that a number above 2^53 stays exact.
  const claimsText = (over = {}, raw = '') => {
    const c = { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: now - 10, nbf: now - 10, exp: now + 3600,
      [ACCOUNT_CLAIM]: ACCOUNT, ...over };
    for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
    const text = JSON.stringify(c);
    return raw ? text.slice(0, -1) + ',' + raw + '}' : text;
  };
  const sign = (alg, kid, claims, key) => {
    const header = { alg, typ: 'JWT' };
    if (kid) header.kid = kid;
    const input = `${b64(JSON.stringify(header))}.${b64(claims)}`;
    const data = Buffer.from(input);
    let sig;
    if (alg === 'RS256' || alg === 'RS384') sig = crypto.sign(alg === 'RS256' ? 'sha256' : 'sha384', data, key ?? rsa.privateKey);
    else if (alg === 'ES256') sig = crypto.sign('sha256', data, { key: key ?? ec.privateKey, dsaEncoding: 'ieee-p1363' });
    else if (alg === 'HS256') sig = crypto.createHmac('sha256', key).update(data).digest();
    else sig = Buffer.alloc(0); // none
    return `${input}.${b64(sig)}`;
  };

  const acct = `/api/v2/accounts/${ACCOUNT}/jobs/`;
  const good = claimsText();
  const rs = sign('RS256', 'rsa-1', good);
  const [h, p, s] = rs.split('.');
  // id, token, path, tokengate's code, jwt_authn accepts?, why jwt_authn differs (if it does)
  const rows = [
    ['rs256_valid', rs, acct, 'ok', true],
    ['es256_valid', sign('ES256', 'ec-1', good), acct, 'ok', true],
    ['es256_without_kid', sign('ES256', null, good), acct, 'ok', true],
    ['aud_list_with_ours', sign('RS256', 'rsa-1', claimsText({ aud: ['other-api', AUDIENCE] })), acct, 'ok', true],
    ['no_account_in_path', sign('RS256', 'rsa-1', good), '/api/v3/users/me/', 'ok', true],
    ['account_above_2_53', sign('ES256', 'ec-1', claimsText({ [ACCOUNT_CLAIM]: undefined }, `"${ACCOUNT_CLAIM}":9007199254740993`)),
      '/api/v2/accounts/9007199254740993/jobs/', 'ok', true],
    ['account_above_2_53_neighbour', sign('ES256', 'ec-1', claimsText({ [ACCOUNT_CLAIM]: undefined }, `"${ACCOUNT_CLAIM}":9007199254740993`)),
      '/api/v2/accounts/9007199254740992/jobs/', 'account_mismatch', true, 'account binding'],
    ['expired', sign('RS256', 'rsa-1', claimsText({ exp: now - 3600 })), acct, 'expired_token', false],
    ['exp_inside_leeway', sign('RS256', 'rsa-1', claimsText({ exp: now - LEEWAY + 30 })), acct, 'ok', true],
    ['exp_past_leeway', sign('RS256', 'rsa-1', claimsText({ exp: now - LEEWAY - 30 })), acct, 'expired_token', false],
    ['no_exp', sign('RS256', 'rsa-1', claimsText({ exp: undefined })), acct, 'invalid_token', false],
    ['not_yet_valid', sign('RS256', 'rsa-1', claimsText({ nbf: now + 3600 })), acct, 'invalid_token', false],
    ['nbf_inside_leeway', sign('RS256', 'rsa-1', claimsText({ nbf: now + LEEWAY - 30 })), acct, 'ok', true],
    ['nbf_past_leeway', sign('RS256', 'rsa-1', claimsText({ nbf: now + LEEWAY + 30 })), acct, 'invalid_token', false],
    ['wrong_issuer', sign('RS256', 'rsa-1', claimsText({ iss: 'https://evil.test/' })), acct, 'invalid_token', false],
    ['issuer_without_slash', sign('RS256', 'rsa-1', claimsText({ iss: ISSUER.slice(0, -1) })), acct, 'invalid_token', false],
    ['wrong_audience', sign('RS256', 'rsa-1', claimsText({ aud: 'other-api' })), acct, 'invalid_token', false],
    ['aud_list_without_ours', sign('RS256', 'rsa-1', claimsText({ aud: ['a', 'b'] })), acct, 'invalid_token', false],
    ['missing_audience', sign('RS256', 'rsa-1', claimsText({ aud: undefined })), acct, 'invalid_token', false],
    // An empty signature segment is no JWT shape at all (SPEC §6 step 5): malformed before any check.
    ['alg_none', sign('none', 'rsa-1', good), acct, 'malformed_token', false],
    ['alg_none_with_a_signature', `${sign('none', 'rsa-1', good).slice(0, -1)}.${s}`, acct, 'invalid_token', false],
    ['hs256_keyed_with_rsa_public_key', sign('HS256', 'rsa-1', good, JSON.stringify(rsaJwk)), acct, 'invalid_token', false],
    ['hs256_keyed_with_rsa_pem', sign('HS256', 'rsa-1', good, rsa.publicKey.export({ type: 'spki', format: 'pem' })), acct, 'invalid_token', false],
    ['rs384_not_in_policy', sign('RS384', 'rsa-1', good), acct, 'invalid_token', false],
    ['unknown_kid', sign('RS256', 'rsa-9', good), acct, 'invalid_token', false],
    ['es256_naming_the_rsa_key', sign('ES256', 'rsa-1', good), acct, 'invalid_token', false],
    ['signed_by_a_stranger', sign('RS256', 'rsa-1', good, stranger.privateKey), acct, 'invalid_token', false],
    ['tampered_payload', `${h}.${b64(claimsText({ [ACCOUNT_CLAIM]: '1' }))}.${s}`, '/api/v2/accounts/1/jobs/', 'invalid_token', false],
    ['signature_of_another_token', `${h}.${p}.${sign('RS256', 'rsa-1', claimsText({ sub: 'x' })).split('.')[2]}`, acct, 'invalid_token', false],
    ['truncated_signature', rs.slice(0, -7), acct, 'invalid_token', false],
    ['unsigned', `${h}.${p}.`, acct, 'malformed_token', false],
    ['wrong_account_claim', sign('RS256', 'rsa-1', claimsText({ [ACCOUNT_CLAIM]: '1234' })), acct, 'account_mismatch', true, 'account binding'],
    ['account_claim_missing', sign('RS256', 'rsa-1', claimsText({ [ACCOUNT_CLAIM]: undefined })), acct, 'invalid_token', true, 'account binding'],
    ['account_claim_not_a_number', sign('RS256', 'rsa-1', claimsText({ [ACCOUNT_CLAIM]: '+70471823510118' })), acct, 'invalid_token', true, 'account binding'],
  ];
  const cases = rows.map(([id, token, path, code, jwtAuthn, differs]) => ({
    id, token, path, code, jwt_authn_accepts: jwtAuthn, jwt_authn_differs: differs ?? null,
  }));
  const policyOauth = { verify: { issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['RS256', 'ES256'], jwks,
    leeway_seconds: LEEWAY, account_claim: ACCOUNT_CLAIM } };
  return { now, jwks, policy_oauth: policyOauth, cases };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const now = Number(process.argv[2] ?? Math.floor(Date.now() / 1000));
  process.stdout.write(JSON.stringify(makeCases(now)));
}
