//! `oauth: {"verify": {…}}` (SPEC §11): read with the policy's field paths, then used to verify.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::cache::Cache;
use super::jwks::{Algorithm, KeySet};
use super::{claims, jwt, Verified, VerifyError};
use crate::error::PolicyErrors;
use crate::policy::json::{field, get, index, Json, Reader};
use crate::policy::sections::{fetch_url, positive};
use crate::policy::FetchUrl;

/// The default clock skew tolerated on `exp` and `nbf`.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 60;
/// The largest leeway a policy may set: past a day, `exp` would mean little.
const MAX_LEEWAY_SECONDS: u64 = 86_400;

/// The default of `jwks.url.refetch_cooldown_seconds`: the least time between two fetches of the
/// key set that tokens with an unknown `kid` cause.
pub const DEFAULT_REFETCH_COOLDOWN_SECONDS: u64 = 30;

/// `oauth.verify.jwks.url`: where an Envoy front fetches the key set (the shape and failure rules
/// of `registry.url`), and how soon a token with an unknown `kid` may make it fetch again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksUrl {
    /// Where to fetch it, how often, and what to do until it loads.
    pub url: FetchUrl,
    /// At most one fetch for an unknown `kid` per this many seconds.
    pub refetch_cooldown_seconds: u64,
}

/// Where the key set comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `jwks.keys`, in the policy.
    Inline,
    /// `jwks.url`, fetched by the front; `loaded` once a key set has been swapped in.
    Fetched {
        /// Where to fetch it.
        url: JwksUrl,
        /// Whether a fetched key set is in force.
        loaded: bool,
    },
}

/// How the edge verifies OAuth access tokens: the issuer, audiences, algorithms and keys it trusts.
/// A clone starts with an empty cache.
#[derive(Clone)]
pub struct Verifier {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    algorithms: u8,
    keys: KeySet,
    source: KeySource,
    pub(crate) leeway: i64,
    pub(crate) account_claim: Option<String>,
    /// Tokens that verified, by digest, until their `exp` (`Sync`: see [`Cache`]).
    cache: Cache,
}

/// Keys are public, but a policy dump has no use for them: show their count.
impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms().collect::<Vec<_>>())
            .field("keys", &self.keys.len())
            .field("source", &self.source)
            .field("leeway", &self.leeway)
            .field("account_claim", &self.account_claim)
            .finish()
    }
}

const VERIFY_FIELDS: [&str; 6] = [
    "issuer",
    "audiences",
    "algorithms",
    "jwks",
    "leeway_seconds",
    "account_claim",
];

impl Verifier {
    /// Read the value of a policy's `oauth` member when it is `{"verify": {…}}`; errors carry
    /// paths from `oauth`. For tools and tests (a `jwks.url` is refused, as by
    /// [`crate::Policy::from_json`]); the policy reader uses the same code.
    pub fn from_json(json: &str) -> Result<Verifier, PolicyErrors> {
        let mut errs = PolicyErrors::default();
        let v = match serde_json::from_str::<Json<'_>>(json) {
            Ok(v) => Some(v),
            Err(e) => {
                errs.push("oauth", format!("not valid JSON: {e}"));
                None
            }
        };
        let verifier =
            v.and_then(|v| Verifier::read(&mut Reader { errs: &mut errs }, &v, "oauth", false));
        match verifier {
            Some(v) if errs.is_empty() => Ok(v),
            _ => Err(errs),
        }
    }

    /// Read `{"verify": {…}}` at `path` (the policy's `oauth`), recording every problem;
    /// `fetching`: the front can fetch `jwks.url`.
    pub(crate) fn read(
        r: &mut Reader<'_>,
        v: &Json<'_>,
        path: &str,
        fetching: bool,
    ) -> Option<Verifier> {
        let outer = r.object(v, path, &["verify"])?;
        let path = field(path, "verify");
        let Some(v) = get(outer, "verify") else {
            r.error(&path, "missing field");
            return None;
        };
        let f = r.object(v, &path, &VERIFY_FIELDS)?;
        let required = |r: &mut Reader<'_>, name: &str| {
            let v = get(f, name);
            if v.is_none() {
                r.error(&field(&path, name), "missing field");
            }
            v
        };
        let issuer = required(r, "issuer").and_then(|v| {
            let p = field(&path, "issuer");
            nonempty(r, v, &p).map(String::from)
        });
        let audiences =
            required(r, "audiences").and_then(|v| audiences(r, v, &field(&path, "audiences")));
        let algorithms =
            required(r, "algorithms").and_then(|v| algorithms(r, v, &field(&path, "algorithms")));
        let keys = required(r, "jwks").and_then(|v| jwks(r, v, &field(&path, "jwks"), fetching));
        let leeway = get(f, "leeway_seconds").map_or(Some(DEFAULT_LEEWAY_SECONDS), |v| {
            let p = field(&path, "leeway_seconds");
            let n = r.uint(v, &p)?;
            if n > MAX_LEEWAY_SECONDS {
                r.error(&p, format!("at most {MAX_LEEWAY_SECONDS} seconds"));
                return None;
            }
            Some(n)
        });
        let account_claim = match get(f, "account_claim") {
            None => Some(None),
            Some(v) => {
                nonempty(r, v, &field(&path, "account_claim")).map(|s| Some(String::from(s)))
            }
        };
        let keys = keys?;
        Some(Verifier {
            issuer: issuer?,
            audiences: audiences?,
            algorithms: algorithms?,
            keys: keys.0,
            source: keys.1,
            leeway: i64::try_from(leeway?).ok()?,
            account_claim: account_claim?,
            cache: Cache::new(),
        })
    }

    /// The algorithms the policy allows.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        Algorithm::ALL
            .into_iter()
            .filter(|a| self.algorithms & a.bit() != 0)
    }

    /// How many usable keys the key set holds.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Where the key set comes from.
    pub fn key_source(&self) -> &KeySource {
        &self.source
    }

    /// Where to fetch the key set from, when the policy names a `jwks.url`.
    pub fn jwks_url(&self) -> Option<&JwksUrl> {
        match &self.source {
            KeySource::Fetched { url, .. } => Some(url),
            KeySource::Inline => None,
        }
    }

    /// Whether a key set is in force: always for an inline one, once fetched for a `jwks.url`.
    pub(crate) fn keys_loaded(&self) -> bool {
        !matches!(self.source, KeySource::Fetched { loaded: false, .. })
    }

    /// Swap in a fetched key set. The cache starts empty: a token verified with a key the new
    /// set no longer holds must not pass on the strength of the old one.
    pub(crate) fn set_keys(&mut self, keys: KeySet) {
        self.keys = keys;
        self.cache = Cache::new();
        if let KeySource::Fetched { loaded, .. } = &mut self.source {
            *loaded = true;
        }
    }

    /// Whether the policy binds an account claim.
    pub fn binds_account(&self) -> bool {
        self.account_claim.is_some()
    }

    /// Verify `token` at `now` (Unix seconds): the first check it fails, or what it carries.
    pub fn verify(&self, token: &[u8], now: i64) -> Result<Verified, VerifyError> {
        self.verify_from(token, now).map(|(v, _)| v)
    }

    /// [`Verifier::verify`], and the first second the token is valid at (`nbf` less the leeway).
    fn verify_from(&self, token: &[u8], now: i64) -> Result<(Verified, i64), VerifyError> {
        let t = jwt::parse(token)?;
        let alg = self.allowed(&t.alg)?;
        self.keys
            .verify(t.kid.as_deref(), alg, t.signing_input, &t.signature)?;
        let c = claims::check(self, &t.payload, now);
        match c.failures.first() {
            Some(e) => Err(*e),
            None => Ok((
                Verified {
                    expires_at: c.expires_at,
                    account_id: c.account_id,
                },
                c.not_before
                    .map_or(i64::MIN, |nbf| nbf.saturating_sub(self.leeway)),
            )),
        }
    }

    /// [`Verifier::verify`] through the cache: `digest` is the token's SHA-256 (the decision has
    /// it already, for the token id). A hit costs a slot read; a miss verifies and, if the token
    /// passes, remembers it for as long as it is valid (from `nbf` to `exp`, with the leeway: a
    /// clock that steps back is answered as verification would). Failures are not cached.
    pub fn verify_cached(
        &self,
        token: &[u8],
        digest: &[u8; 32],
        now: i64,
    ) -> Result<Verified, VerifyError> {
        if let Some(hit) = self.cache.get(digest, now) {
            return Ok(hit);
        }
        let (v, from) = self.verify_from(token, now)?;
        let until = v.expires_at.saturating_add(self.leeway);
        self.cache.insert(digest, from, until, &v);
        Ok(v)
    }

    /// Every check `token` fails at `now`, for `tokengate inspect`. A token whose signature does
    /// not verify still has its claims checked, so the operator sees all that is wrong at once.
    pub fn failures(&self, token: &[u8], now: i64) -> Vec<VerifyError> {
        let t = match jwt::parse(token) {
            Ok(t) => t,
            Err(e) => return alloc::vec![e],
        };
        let mut out = Vec::new();
        match self.allowed(&t.alg) {
            Ok(alg) => {
                if let Err(e) =
                    self.keys
                        .verify(t.kid.as_deref(), alg, t.signing_input, &t.signature)
                {
                    out.push(e);
                }
            }
            Err(e) => out.push(e),
        }
        out.extend(claims::check(self, &t.payload, now).failures);
        out
    }

    fn allowed(&self, name: &str) -> Result<Algorithm, VerifyError> {
        Algorithm::from_name(name)
            .filter(|a| self.algorithms & a.bit() != 0)
            .ok_or(VerifyError::Algorithm)
    }
}

/// `jwks`: inline keys, or (for a front that can fetch) a `url`.
fn jwks(
    r: &mut Reader<'_>,
    v: &Json<'_>,
    path: &str,
    fetching: bool,
) -> Option<(KeySet, KeySource)> {
    let url = match v {
        Json::Obj(fields) => get(fields, "url").map(|u| (u, get(fields, "keys").is_some())),
        _ => None,
    };
    let Some((url, with_keys)) = url else {
        return KeySet::read(r, v, path).map(|k| (k, KeySource::Inline));
    };
    let url_path = field(path, "url");
    if with_keys {
        r.error(path, "give keys or url, not both");
        return None;
    }
    if !fetching {
        r.error(
            &url_path,
            "this front cannot fetch a key set: jwks.url is for the Envoy filters; give jwks.keys inline",
        );
        return None;
    }
    r.object(v, path, &["url"])?;
    let (url, fields) = fetch_url(url, r, &url_path, &["refetch_cooldown_seconds"])?;
    let cooldown = positive(
        r,
        fields,
        &url_path,
        "refetch_cooldown_seconds",
        DEFAULT_REFETCH_COOLDOWN_SECONDS,
    )?;
    let url = JwksUrl {
        url,
        refetch_cooldown_seconds: cooldown,
    };
    Some((KeySet::empty(), KeySource::Fetched { url, loaded: false }))
}

fn nonempty<'j>(r: &mut Reader<'_>, v: &'j Json<'_>, path: &str) -> Option<&'j str> {
    let s = r.string(v, path)?;
    if s.is_empty() {
        r.error(path, "must not be empty");
        return None;
    }
    Some(s)
}

fn audiences(r: &mut Reader<'_>, v: &Json<'_>, path: &str) -> Option<Vec<String>> {
    let list = r.array(v, path)?;
    if list.is_empty() {
        r.error(
            path,
            "name at least one audience: a token for another service must not pass",
        );
        return None;
    }
    let out: Vec<Option<String>> = list
        .iter()
        .enumerate()
        .map(|(i, a)| nonempty(r, a, &index(path, i)).map(String::from))
        .collect();
    out.into_iter().collect()
}

fn algorithms(r: &mut Reader<'_>, v: &Json<'_>, path: &str) -> Option<u8> {
    let list = r.array(v, path)?;
    if list.is_empty() {
        r.error(path, "name at least one algorithm");
        return None;
    }
    let mut bits = Some(0u8);
    for (i, a) in list.iter().enumerate() {
        let p = index(path, i);
        let Some(name) = r.string(a, &p) else {
            bits = None;
            continue;
        };
        match Algorithm::from_name(name) {
            Some(alg) => bits = bits.map(|b| b | alg.bit()),
            None => {
                let why = if name.eq_ignore_ascii_case("none") {
                    "an unsigned token is never verified"
                } else if name.starts_with("HS") {
                    "HMAC needs a shared secret; the edge verifies with public keys only"
                } else {
                    "not an algorithm the edge verifies"
                };
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                r.error(&p, format!("{why}; expected one of: {}", names.join(", ")));
                bits = None;
            }
        }
    }
    bits
}
