// The token check a JavaScript developer would write instead of using tokengate: a regex for the
// format, node:crypto's SHA-256, a Map from digest to registry entry, and the account id taken from
// the path. Written only for the comparison in bench/js/run.mjs; it is not part of the package.
//
// It covers the common steps of SPEC §6 (scheme, format, registry lookup, revoked/expired, account
// binding) and returns a small decision object; it does not build dbt's error envelope, the
// WWW-Authenticate header or deprecation headers, which tokengate's decision carries. That makes it
// a lower bound on what the hand-written version costs.
import { createHash, hash } from 'node:crypto';

const SCHEME = /^(?:token|bearer) +(\S+)$/i;
const FORMAT = /^(?:dbt[uc]_[A-Za-z0-9_-]{50}|[0-9a-f]{40})$/;
const ACCOUNT = /^\/api\/v\d+\/accounts\/(\d+)(?:[/?]|$)/;

const deny = (status, code, kind = null, id = null) => ({
  allow: false, status, code, tokenKind: kind, tokenId: id, accountId: null,
});

/**
 * @param {object} policy a SPEC §4 policy object (its registry.tokens are read)
 * @param {{oneShotHash?: boolean}} options oneShotHash: use crypto.hash() (Node ≥ 20.12) instead
 *   of createHash().update().digest(), the form most code has
 */
export function plainValidator(policy, { oneShotHash = false } = {}) {
  const registry = new Map();
  for (const t of policy.registry.tokens) {
    registry.set(t.sha256, {
      kind: t.kind,
      accountId: t.account_id === undefined ? null : String(t.account_id),
      tokenId: t.token_id ?? t.sha256.slice(0, 12),
      revoked: t.revoked === true,
      expiresAt: t.expires_at ? Date.parse(t.expires_at) : Infinity,
    });
  }
  const sha256 = oneShotHash
    ? (s) => hash('sha256', s, 'hex')
    : (s) => createHash('sha256').update(s).digest('hex');

  return {
    /** @param {{method?: string, url: string, headers: Record<string, string>}} request */
    check(request, now = Date.now()) {
      const auth = request.headers.authorization;
      if (auth === undefined) return deny(401, 'missing_token');
      const m = SCHEME.exec(auth);
      if (m === null) return deny(401, 'unsupported_scheme');
      const token = m[1];
      if (!FORMAT.test(token)) return deny(401, 'malformed_token');
      const entry = registry.get(sha256(token));
      if (entry === undefined) return deny(401, 'invalid_token');
      if (entry.revoked) return deny(401, 'revoked_token', entry.kind, entry.tokenId);
      if (entry.expiresAt <= now) return deny(401, 'expired_token', entry.kind, entry.tokenId);
      const q = request.url.indexOf('?');
      const path = q < 0 ? request.url : request.url.slice(0, q);
      const a = ACCOUNT.exec(path);
      if (a !== null && entry.accountId !== null && a[1] !== entry.accountId) {
        return deny(403, 'account_mismatch', entry.kind, entry.tokenId);
      }
      return {
        allow: true, status: 200, code: 'ok', tokenKind: entry.kind, tokenId: entry.tokenId,
        accountId: entry.accountId,
      };
    },
  };
}

/** The format half alone: what a developer writes instead of inspectToken. */
export function plainInspect(token) {
  const problems = [];
  if (token.length === 0) problems.push('empty');
  else if (/\s/.test(token)) problems.push('whitespace');
  let kind = null;
  if (token.startsWith('dbtu_')) kind = 'pat';
  else if (token.startsWith('dbtc_')) kind = 'service';
  else if (/^[0-9a-f]{40}$/.test(token)) kind = 'user_key';
  else if (token.startsWith('eyJ')) kind = 'oauth';
  if (kind === 'pat' || kind === 'service') {
    if (token.length !== 55) problems.push('wrong_length');
    if (!/^[A-Za-z0-9_-]*$/.test(token.slice(5))) problems.push('bad_character');
  } else if (kind === null && problems.length === 0) problems.push('unknown_prefix');
  return { kind, wellFormed: problems.length === 0, problems };
}
