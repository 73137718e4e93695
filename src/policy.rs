//! The policy (SPEC §4): one JSON document, the same for every front. Parsing is strict — unknown
//! fields, bad values and impossible dates are errors with the field's path — and fails closed:
//! what is not given takes the safe default.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::error::PolicyErrors;
use crate::hosts::{is_label, Hosts};
use crate::jsonin::{field, get, index, only_objects, read_document, show_key, Json, Key, Reader};
use crate::pattern::Pattern;
use crate::registry::{Registry, TokensSeed};
use crate::token::{Kind, DEFAULT_BODY_LENGTH};

/// Whether denials are enforced or only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Deny what fails.
    Enforce,
    /// Never deny; mark what would have been denied (a dry run).
    Report,
}

/// What to do with OAuth access tokens (JWTs), whose claims the edge does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuth {
    /// Let them through for the upstream to verify.
    Forward,
    /// Deny them.
    Reject,
}

/// What happens before a fetched registry has loaded once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UntilLoaded {
    /// Deny requests that need the registry (503 `registry_unavailable`).
    Deny,
    /// Let them through, marked `x-tokengate-would-deny: registry_unavailable`.
    Allow,
}

/// Where a front fetches the registry from, instead of inline (the Envoy front does this).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryUrl {
    /// The Envoy cluster to call.
    pub cluster: String,
    /// The path of the registry document on it.
    pub path: String,
    /// The `:authority` to send; defaults to the cluster's name.
    pub authority: String,
    /// Seconds between fetches.
    pub refresh_seconds: u64,
    /// How long one fetch may take.
    pub timeout_ms: u64,
    /// What to do before the first successful fetch.
    pub until_loaded: UntilLoaded,
}

/// A deprecation window: `[deprecated_at, sunset_at)`, then retired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deprecation {
    /// Unix seconds.
    pub deprecated_at: i64,
    /// Unix seconds.
    pub sunset_at: i64,
    /// Where to read about it.
    pub link: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub pattern: Pattern,
    pub auth: bool,
    pub methods: Option<Vec<String>>,
    /// Bits of [`Kind::bit`].
    pub kinds: u8,
}

#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub pattern: Pattern,
    pub deprecation: Deprecation,
}

/// A validated policy. Cheap to share; decisions borrow it.
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) mode: Mode,
    pub(crate) realm: String,
    pub(crate) body_min: usize,
    pub(crate) body_max: usize,
    pub(crate) registry: Registry,
    pub(crate) registry_url: Option<RegistryUrl>,
    pub(crate) registry_loaded: bool,
    pub(crate) hosts: Hosts,
    pub(crate) routes: Vec<Route>,
    pub(crate) user_keys: Option<Deprecation>,
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) oauth: OAuth,
    pub(crate) query_token: bool,
    /// account id, token kind, token id header names, then `x-tokengate-would-deny`.
    pub(crate) strip: [String; 4],
}

/// The header that marks, in report mode, what would have been denied.
pub const WOULD_DENY_HEADER: &str = "x-tokengate-would-deny";

const TOP_FIELDS: &[&str] = &[
    "mode",
    "realm",
    "token_format",
    "registry",
    "hosts",
    "routes",
    "deprecations",
    "oauth",
    "query_token",
    "upstream_headers",
];

impl Policy {
    /// Parse and validate a policy. The error lists every problem found, each with its field path.
    pub fn from_json(json: &str) -> Result<Policy, PolicyErrors> {
        let mut errs = PolicyErrors::default();
        let top = match read_document(json, TopSeed { errs: &mut errs }) {
            Ok(t) => t,
            Err(e) => {
                // Field errors found before the syntax error would be half the story: report the
                // syntax alone.
                let mut only = PolicyErrors::default();
                only.push("", e);
                return Err(only);
            }
        };
        let policy = build(top, &mut Reader { errs: &mut errs });
        match policy {
            Some(p) if errs.is_empty() => Ok(p),
            _ => Err(errs),
        }
    }

    /// Whether denials are enforced or only reported.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The registry in force.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Swap in a registry fetched from elsewhere; it counts as loaded from then on.
    pub fn set_registry(&mut self, registry: Registry) {
        self.registry = registry;
        self.registry_loaded = true;
    }

    /// Where to fetch the registry from, when the policy names a `registry.url`.
    pub fn registry_url(&self) -> Option<&RegistryUrl> {
        self.registry_url.as_ref()
    }

    /// Lowercase names of the headers every front strips from every client request (step 1): the
    /// three upstream identity headers and `x-tokengate-would-deny`.
    pub fn strip_headers(&self) -> &[String] {
        &self.strip
    }

    /// One line about the policy for operators and logs; it never shows a token or digest.
    pub fn summary(&self) -> String {
        let registry = match &self.registry_url {
            Some(u) => format!(
                "registry fetched from cluster {} every {}s",
                u.cluster, u.refresh_seconds
            ),
            None => format!("{} registered tokens", self.registry.len()),
        };
        let user_keys = match &self.user_keys {
            Some(d) => format!("user keys sunset {}", crate::time::date(d.sunset_at)),
            None => String::from("user keys not deprecated"),
        };
        format!(
            "mode {}, {registry}, {} routes, {} deprecated endpoints, {user_keys}, {} host prefixes",
            self.mode,
            self.routes.len(),
            self.endpoints.len(),
            self.hosts.len()
        )
    }

    pub(crate) fn account_header(&self) -> &str {
        self.strip.first().map_or("", String::as_str)
    }
    pub(crate) fn kind_header(&self) -> &str {
        self.strip.get(1).map_or("", String::as_str)
    }
    pub(crate) fn token_id_header(&self) -> &str {
        self.strip.get(2).map_or("", String::as_str)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        })
    }
}

/// The top-level object, read key by key so that `registry.tokens` streams.
struct Top<'a> {
    fields: Vec<(Cow<'a, str>, Json<'a>)>,
    tokens: Option<Registry>,
    url: Option<Json<'a>>,
    saw_registry: bool,
}

struct TopSeed<'e> {
    errs: &'e mut PolicyErrors,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = Top<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Top<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a policy object")
    }

    only_objects!("a policy object");

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut top = Top {
            fields: Vec::new(),
            tokens: None,
            url: None,
            saw_registry: false,
        };
        while let Some(Key(k)) = map.next_key()? {
            let dup =
                top.fields.iter().any(|(f, _)| *f == k) || (k == "registry" && top.saw_registry);
            if dup {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key `{}`",
                    show_key(&k)
                )));
            }
            if k == "registry" {
                top.saw_registry = true;
                let (tokens, url) = map.next_value_seed(RegistrySeed { errs: self.errs })?;
                top.tokens = tokens;
                top.url = url;
            } else {
                let v = map.next_value()?;
                top.fields.push((k, v));
            }
        }
        Ok(top)
    }
}

/// `registry`: `{"tokens": [...]}` inline, or `{"url": {...}}` for a front that fetches it.
struct RegistrySeed<'e> {
    errs: &'e mut PolicyErrors,
}

impl<'de> DeserializeSeed<'de> for RegistrySeed<'_> {
    type Value = (Option<Registry>, Option<Json<'de>>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RegistrySeed<'_> {
    type Value = (Option<Registry>, Option<Json<'de>>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with tokens or url")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut tokens, mut url) = (None, None);
        while let Some(Key(k)) = map.next_key()? {
            match k.as_ref() {
                "tokens" if tokens.is_none() => {
                    tokens = Some(map.next_value_seed(TokensSeed {
                        errs: self.errs,
                        path: "registry.tokens".into(),
                    })?);
                }
                "url" if url.is_none() => url = Some(map.next_value()?),
                "tokens" | "url" => {
                    return Err(serde::de::Error::custom(format!(
                        "duplicate key `{}`",
                        show_key(&k)
                    )))
                }
                _ => {
                    map.next_value::<Json<'de>>()?;
                    self.errs.push(
                        &field("registry", &k),
                        "unknown field; expected one of: tokens, url",
                    );
                }
            }
        }
        Ok((tokens, url))
    }

    only_objects!("an object with tokens or url");
}

fn build(top: Top<'_>, r: &mut Reader<'_>) -> Option<Policy> {
    for (k, _) in &top.fields {
        if !TOP_FIELDS.contains(&k.as_ref()) {
            r.error(
                &field("", k),
                format!("unknown field; expected one of: {}", TOP_FIELDS.join(", ")),
            );
        }
    }
    let f = &top.fields[..];
    let mode = get(f, "mode").map_or(Some(Mode::Enforce), |v| {
        r.choice(
            v,
            "mode",
            &[("enforce", Mode::Enforce), ("report", Mode::Report)],
        )
    });
    let realm = get(f, "realm").map_or(Some(String::from("dbt")), |v| {
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
    });
    let (body_min, body_max) = get(f, "token_format")
        .map_or((DEFAULT_BODY_LENGTH, DEFAULT_BODY_LENGTH), |v| {
            token_format(v, r)
        });
    let oauth = get(f, "oauth").map_or(Some(OAuth::Forward), |v| {
        r.choice(
            v,
            "oauth",
            &[("forward", OAuth::Forward), ("reject", OAuth::Reject)],
        )
    });
    let query_token = get(f, "query_token").map_or(Some(false), |v| r.boolean(v, "query_token"));
    let hosts = get(f, "hosts").map_or(Hosts::default(), |v| hosts(v, r));
    let routes = get(f, "routes").map_or(Vec::new(), |v| routes(v, r));
    let (user_keys, endpoints) =
        get(f, "deprecations").map_or((None, Vec::new()), |v| deprecations(v, r));
    let strip = upstream_headers(get(f, "upstream_headers"), r);

    let registry_url = top.url.as_ref().and_then(|v| registry_url(v, r));
    match (&top.tokens, &top.url, top.saw_registry) {
        (_, _, false) => r.error("registry", "missing field"),
        (None, None, true) => r.error("registry", "expected tokens (inline) or url (fetched)"),
        (Some(_), Some(_), _) => r.error("registry", "give tokens or url, not both"),
        _ => {}
    }
    let registry_loaded = top.url.is_none();
    Some(Policy {
        mode: mode?,
        realm: realm?,
        body_min,
        body_max,
        registry: top.tokens.unwrap_or_default(),
        registry_url,
        registry_loaded,
        hosts,
        routes,
        user_keys,
        endpoints,
        oauth: oauth?,
        query_token: query_token?,
        strip: strip?,
    })
}

fn token_format(v: &Json<'_>, r: &mut Reader<'_>) -> (usize, usize) {
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

fn hosts(v: &Json<'_>, r: &mut Reader<'_>) -> Hosts {
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

fn kinds_bits(v: &Json<'_>, path: &str, r: &mut Reader<'_>) -> u8 {
    let mut bits = 0u8;
    let Some(items) = r.array(v, path) else {
        return 0;
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
    bits
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn routes(v: &Json<'_>, r: &mut Reader<'_>) -> Vec<Route> {
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
                        || !s.bytes().all(is_token_char)
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
            .map_or(0xff, |v| kinds_bits(v, &field(&path, "allow_kinds"), r));
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

fn pattern_field(
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

fn deprecation(
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
    Some(Deprecation {
        deprecated_at,
        sunset_at,
        link,
    })
}

fn deprecations(v: &Json<'_>, r: &mut Reader<'_>) -> (Option<Deprecation>, Vec<Endpoint>) {
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
            let Some(f) = r.object(item, &path, &["path", "deprecated_at", "sunset_at", "link"])
            else {
                continue;
            };
            let pattern = pattern_field(f, &path, r);
            if let (Some(pattern), Some(deprecation)) = (pattern, deprecation(f, &path, r)) {
                endpoints.push(Endpoint {
                    pattern,
                    deprecation,
                });
            }
        }
    }
    (user_keys, endpoints)
}

fn upstream_headers(v: Option<&Json<'_>>, r: &mut Reader<'_>) -> Option<[String; 4]> {
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
    let mut names: Vec<String> = Vec::new();
    for (key, default) in defaults {
        let p = field("upstream_headers", key);
        let name = match get(fields, key) {
            Some(v) => r.string(v, &p)?.to_ascii_lowercase(),
            None => String::from(default),
        };
        let reserved = [
            "authorization",
            "host",
            "cookie",
            "content-length",
            "transfer-encoding",
            "connection",
            WOULD_DENY_HEADER,
        ];
        if name.is_empty() || !name.bytes().all(is_token_char) {
            r.error(&p, "expected an HTTP header name");
        } else if reserved.contains(&name.as_str()) {
            r.error(&p, "this header cannot carry the identity");
        } else if names.contains(&name) {
            r.error(&p, "each identity header needs its own name");
        }
        names.push(name);
    }
    let [a, k, t]: [String; 3] = names.try_into().ok()?;
    Some([a, k, t, String::from(WOULD_DENY_HEADER)])
}

fn registry_url(v: &Json<'_>, r: &mut Reader<'_>) -> Option<RegistryUrl> {
    let path = "registry.url";
    let fields = r.object(
        v,
        path,
        &[
            "cluster",
            "path",
            "authority",
            "refresh_seconds",
            "timeout_ms",
            "until_loaded",
        ],
    )?;
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
    let mut positive = |k: &str, default: u64| {
        get(fields, k).map_or(Some(default), |v| {
            let p = field(path, k);
            let n = r.uint(v, &p)?;
            if n == 0 {
                r.error(&p, "expected a number above 0");
                return None;
            }
            Some(n)
        })
    };
    let refresh_seconds = positive("refresh_seconds", 60);
    let timeout_ms = positive("timeout_ms", 5000);
    let until_loaded = get(fields, "until_loaded").map_or(Some(UntilLoaded::Deny), |v| {
        r.choice(
            v,
            &field(path, "until_loaded"),
            &[("deny", UntilLoaded::Deny), ("allow", UntilLoaded::Allow)],
        )
    });
    let cluster = cluster??;
    Some(RegistryUrl {
        authority: authority?.unwrap_or_else(|| cluster.clone()),
        cluster,
        path: url_path??,
        refresh_seconds: refresh_seconds?,
        timeout_ms: timeout_ms?,
        until_loaded: until_loaded?,
    })
}
