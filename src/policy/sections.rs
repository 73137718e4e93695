//! The policy's sections, one reader each: every error names its field path and never echoes a
//! value (a pasted token must not come back in an error).

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use super::hosts::{is_label, Hosts};
use super::json::{field, get, index, Fields, Json, Reader};
use super::{
    Deprecation, Endpoint, FetchUrl, IdentityHeaders, Pattern, RegistryUrl, Route, UntilLoaded,
    ADVICE_HEADER, FORWARDED_HEADER, FORWARDED_HOST_HEADER, WOULD_DENY_HEADER,
};
use crate::bytes::is_tchar;
use crate::token::{Kind, Kinds, DEFAULT_BODY_LENGTH};

/// `realm`: printable ASCII that can sit inside a quoted `WWW-Authenticate` parameter.
pub(super) fn realm(v: &Json<'_>, r: &mut Reader<'_>) -> Option<String> {
    let s = r.string(v, "realm")?;
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        r.error(
            "realm",
            "expected printable ASCII without quotes or backslashes",
        );
        return None;
    }
    Some(String::from(s))
}

pub(super) fn token_format(v: &Json<'_>, r: &mut Reader<'_>) -> (usize, usize) {
    let default = (DEFAULT_BODY_LENGTH, DEFAULT_BODY_LENGTH);
    let Some(fields) = r.object(v, "token_format", &["body_length"]) else {
        return default;
    };
    let Some(bl) = get(fields, "body_length") else {
        return default;
    };
    let Some(bl_fields) = r.object(bl, "token_format.body_length", &["min", "max"]) else {
        return default;
    };
    let mut read = |k: &str| {
        get(bl_fields, k).map_or(Some(DEFAULT_BODY_LENGTH as u64), |v| {
            r.uint(v, &field("token_format.body_length", k))
        })
    };
    let (min, max) = (read("min"), read("max"));
    let (Some(min), Some(max)) = (min, max) else {
        return default;
    };
    if min == 0 || max > 1024 || min > max {
        r.error(
            "token_format.body_length",
            "expected 1 <= min <= max <= 1024",
        );
        return default;
    }
    (min as usize, max as usize)
}

pub(super) fn hosts(v: &Json<'_>, r: &mut Reader<'_>) -> Hosts {
    let mut out = Vec::new();
    let Some(fields) = r.object(v, "hosts", &["account_prefixes"]) else {
        return Hosts::default();
    };
    match get(fields, "account_prefixes") {
        None => {}
        Some(Json::Obj(prefixes)) => {
            for (label, id) in prefixes {
                let path = field("hosts.account_prefixes", label);
                if !is_label(label) {
                    r.error(&path, "expected a DNS label (letters, digits and '-')");
                }
                if let Some(id) = r.account_id(id, &path) {
                    let lower = label.to_ascii_lowercase();
                    if out.iter().any(|(l, _): &(String, u64)| *l == lower) {
                        r.error(&path, "the same label differs only in case from another");
                    }
                    out.push((lower, id));
                }
            }
        }
        Some(_) => r.error(
            "hosts.account_prefixes",
            "expected an object of host labels to account ids",
        ),
    }
    Hosts::new(out)
}

pub(super) fn kinds(v: &Json<'_>, path: &str, r: &mut Reader<'_>) -> Kinds {
    let mut bits = 0u8;
    let Some(items) = r.array(v, path) else {
        return Kinds(0);
    };
    if items.is_empty() {
        r.error(
            path,
            "an empty list would refuse every token; leave allow_kinds out to allow all kinds",
        );
    }
    for (i, item) in items.iter().enumerate() {
        let p = index(path, i);
        let choices = Kind::ALL.map(|k| (k.as_str(), k));
        if let Some(k) = r.choice(item, &p, &choices) {
            bits |= k.bit();
        }
    }
    Kinds(bits)
}

pub(super) fn routes(v: &Json<'_>, r: &mut Reader<'_>) -> Vec<Route> {
    let mut out = Vec::new();
    let Some(items) = r.array(v, "routes") else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let path = index("routes", i);
        let Some(fields) = r.object(item, &path, &["path", "auth", "methods", "allow_kinds"])
        else {
            continue;
        };
        let pattern = pattern_field(fields, &path, r);
        let auth = get(fields, "auth").map_or(Some(true), |v| {
            r.choice(
                v,
                &field(&path, "auth"),
                &[("required", true), ("none", false)],
            )
        });
        let methods = get(fields, "methods").and_then(|v| {
            let p = field(&path, "methods");
            let items = r.array(v, &p)?;
            if items.is_empty() {
                r.error(
                    &p,
                    "an empty list matches no request; leave methods out to match all",
                );
            }
            let mut ms = Vec::new();
            for (j, m) in items.iter().enumerate() {
                let mp = index(&p, j);
                if let Some(s) = r.string(m, &mp) {
                    if s.is_empty()
                        || !s.bytes().all(is_tchar)
                        || s.bytes().any(|b| b.is_ascii_lowercase())
                    {
                        r.error(
                            &mp,
                            "expected an upper-case HTTP method such as GET or POST",
                        );
                    } else {
                        ms.push(String::from(s));
                    }
                }
            }
            Some(ms)
        });
        let kinds = get(fields, "allow_kinds")
            .map_or(Kinds::ALL, |v| kinds(v, &field(&path, "allow_kinds"), r));
        if auth == Some(false) && get(fields, "allow_kinds").is_some() {
            r.error(
                &field(&path, "allow_kinds"),
                "a route with auth none takes no token; remove allow_kinds",
            );
        }
        if let (Some(pattern), Some(auth)) = (pattern, auth) {
            out.push(Route {
                pattern,
                auth,
                methods,
                kinds,
            });
        }
    }
    out
}

pub(super) fn pattern_field(
    fields: &[(Cow<'_, str>, Json<'_>)],
    path: &str,
    r: &mut Reader<'_>,
) -> Option<Pattern> {
    let p = field(path, "path");
    let Some(v) = get(fields, "path") else {
        r.error(&p, "missing field");
        return None;
    };
    let s = r.string(v, &p)?;
    Pattern::parse(s).map_err(|e| r.error(&p, e)).ok()
}

pub(super) fn deprecation(
    fields: &[(Cow<'_, str>, Json<'_>)],
    path: &str,
    r: &mut Reader<'_>,
) -> Option<Deprecation> {
    let mut date = |k: &str| {
        let p = field(path, k);
        match get(fields, k) {
            Some(v) => r.date(v, &p),
            None => {
                r.error(&p, "missing field");
                None
            }
        }
    };
    let deprecated_at = date("deprecated_at");
    let sunset_at = date("sunset_at");
    let link = get(fields, "link").and_then(|v| {
        let p = field(path, "link");
        let s = r.string(v, &p)?;
        let ok = (s.starts_with("https://") || s.starts_with("http://"))
            && s.bytes()
                .all(|b| (0x21..0x7f).contains(&b) && !matches!(b, b'<' | b'>' | b'"' | b'\\'));
        if !ok {
            r.error(
                &p,
                "expected an absolute http(s) URL without spaces, quotes or angle brackets",
            );
            return None;
        }
        Some(String::from(s))
    });
    let (deprecated_at, sunset_at) = (deprecated_at?, sunset_at?);
    if sunset_at < deprecated_at {
        r.error(
            &field(path, "sunset_at"),
            "sunset_at is earlier than deprecated_at",
        );
        return None;
    }
    Some(Deprecation::new(deprecated_at, sunset_at, link))
}

pub(super) fn deprecations(
    v: &Json<'_>,
    r: &mut Reader<'_>,
) -> (Option<Deprecation>, Vec<Endpoint>) {
    let Some(fields) = r.object(v, "deprecations", &["user_keys", "endpoints"]) else {
        return (None, Vec::new());
    };
    let known = &["deprecated_at", "sunset_at", "link"];
    let user_keys = get(fields, "user_keys").and_then(|v| {
        let f = r.object(v, "deprecations.user_keys", known)?;
        deprecation(f, "deprecations.user_keys", r)
    });
    let mut endpoints = Vec::new();
    if let Some(items) = get(fields, "endpoints").and_then(|v| r.array(v, "deprecations.endpoints"))
    {
        for (i, item) in items.iter().enumerate() {
            let path = index("deprecations.endpoints", i);
            let known = &["path", "deprecated_at", "sunset_at", "link", "kinds"];
            let Some(f) = r.object(item, &path, known) else {
                continue;
            };
            let pattern = pattern_field(f, &path, r);
            let kinds = get(f, "kinds").map_or(Kinds::ALL, |v| kinds(v, &field(&path, "kinds"), r));
            if let (Some(pattern), Some(deprecation)) = (pattern, deprecation(f, &path, r)) {
                endpoints.push(Endpoint {
                    pattern,
                    deprecation,
                    kinds,
                });
            }
        }
    }
    (user_keys, endpoints)
}

pub(super) fn upstream_headers(
    v: Option<&Json<'_>>,
    r: &mut Reader<'_>,
) -> Option<IdentityHeaders> {
    let defaults = [
        ("account_id", "x-dbt-account-id"),
        ("token_kind", "x-dbt-token-kind"),
        ("token_id", "x-dbt-token-id"),
    ];
    let fields = match v {
        Some(v) => r.object(
            v,
            "upstream_headers",
            &["account_id", "token_kind", "token_id"],
        )?,
        None => &[],
    };
    let reserved = [
        "authorization",
        "host",
        "cookie",
        "content-length",
        "transfer-encoding",
        "connection",
        WOULD_DENY_HEADER,
        ADVICE_HEADER,
        FORWARDED_HOST_HEADER,
        FORWARDED_HEADER,
    ];
    let mut names: Vec<String> = Vec::new();
    for (key, default) in defaults {
        let p = field("upstream_headers", key);
        let name = match get(fields, key) {
            Some(v) => r.string(v, &p)?.to_ascii_lowercase(),
            None => String::from(default),
        };
        let same = |other: &str| crate::bytes::same_header_name(other.as_bytes(), name.as_bytes());
        if name.is_empty() || !name.bytes().all(is_tchar) {
            r.error(&p, "expected an HTTP header name");
        } else if reserved.iter().any(|n| same(n)) {
            r.error(&p, "this header cannot carry the identity");
        } else if names.iter().any(|n| same(n)) {
            r.error(&p, "each identity header needs its own name");
        }
        names.push(name);
    }
    let [account_id, token_kind, token_id]: [String; 3] = names.try_into().ok()?;
    Some(IdentityHeaders {
        account_id,
        token_kind,
        token_id,
    })
}

pub(super) fn registry_url(v: &Json<'_>, r: &mut Reader<'_>) -> Option<RegistryUrl> {
    fetch_url(v, r, "registry.url", &[]).map(|(url, _)| url)
}

/// The members every fetched document's `url` has.
const FETCH_FIELDS: [&str; 6] = [
    "cluster",
    "path",
    "authority",
    "refresh_seconds",
    "timeout_ms",
    "until_loaded",
];

/// A `url` object at `path` (`registry.url`, `oauth.verify.jwks.url`), which may also have the
/// members `extra`: the URL, and the object's fields for the caller to read those from.
pub(crate) fn fetch_url<'j, 'a>(
    v: &'j Json<'a>,
    r: &mut Reader<'_>,
    path: &str,
    extra: &[&str],
) -> Option<(FetchUrl, Fields<'j, 'a>)> {
    let known: Vec<&str> = FETCH_FIELDS.iter().chain(extra).copied().collect();
    let fields = r.object(v, path, &known)?;
    let mut text = |k: &str, required: bool| -> Option<Option<String>> {
        let p = field(path, k);
        match get(fields, k) {
            Some(v) => {
                let s = r.string(v, &p)?;
                if s.is_empty() || !s.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                    r.error(&p, "expected printable ASCII without spaces");
                    return None;
                }
                Some(Some(String::from(s)))
            }
            None if required => {
                r.error(&p, "missing field");
                None
            }
            None => Some(None),
        }
    };
    let cluster = text("cluster", true);
    let url_path = text("path", true);
    let authority = text("authority", false);
    if let Some(Some(p)) = &url_path {
        if !p.starts_with('/') {
            r.error(&field(path, "path"), "expected a path starting with '/'");
        }
    }
    let refresh_seconds = positive(r, fields, path, "refresh_seconds", 60);
    let timeout_ms = positive(r, fields, path, "timeout_ms", 5000);
    let until_loaded = get(fields, "until_loaded").map_or(Some(UntilLoaded::Deny), |v| {
        r.choice(
            v,
            &field(path, "until_loaded"),
            &[("deny", UntilLoaded::Deny), ("allow", UntilLoaded::Allow)],
        )
    });
    let cluster = cluster??;
    let url = FetchUrl {
        authority: authority?.unwrap_or_else(|| cluster.clone()),
        cluster,
        path: url_path??,
        refresh_seconds: refresh_seconds?,
        timeout_ms: timeout_ms?,
        until_loaded: until_loaded?,
    };
    Some((url, fields))
}

/// The member `k` of `fields`, a number above 0, or `default` when absent.
pub(crate) fn positive(
    r: &mut Reader<'_>,
    fields: Fields<'_, '_>,
    path: &str,
    k: &str,
    default: u64,
) -> Option<u64> {
    get(fields, k).map_or(Some(default), |v| {
        let p = field(path, k);
        let n = r.uint(v, &p)?;
        if n == 0 {
            r.error(&p, "expected a number above 0");
            return None;
        }
        Some(n)
    })
}
