//! Reading the policy document: the top level streams `registry.tokens` (a million entries must
//! not become a tree first), every other section is read by `sections`.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::json::{field, get, only_objects, read_document, show_key, Json, Key, Reader};
use super::registry::{Registry, TokensSeed};
use super::sections;
use super::{
    IdentityHeaders, Mode, OAuth, Policy, RegistrySource, ADVICE_HEADER, FORWARDED_HEADER,
    FORWARDED_HOST_HEADER, WOULD_DENY_HEADER,
};
use crate::error::PolicyErrors;
use crate::token::DEFAULT_BODY_LENGTH;

const TOP_FIELDS: &[&str] = &[
    "mode",
    "realm",
    "token_format",
    "registry",
    "hosts",
    "routes",
    "deprecations",
    "clients",
    "oauth",
    "query_token",
    "upstream_headers",
];

/// Parse and validate a policy; `fetching`: the front can fetch `registry.url`.
pub(super) fn policy(json: &str, fetching: bool) -> Result<Policy, PolicyErrors> {
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
    let policy = build(top, fetching, &mut Reader { errs: &mut errs });
    match policy {
        Some(p) if errs.is_empty() => Ok(p),
        _ => Err(errs),
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

fn build(top: Top<'_>, fetching: bool, r: &mut Reader<'_>) -> Option<Policy> {
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
    let realm = get(f, "realm").map_or(Some(String::from("dbt")), |v| sections::realm(v, r));
    let (body_min, body_max) = get(f, "token_format")
        .map_or((DEFAULT_BODY_LENGTH, DEFAULT_BODY_LENGTH), |v| {
            sections::token_format(v, r)
        });
    let oauth = get(f, "oauth").map_or(Some(OAuth::Forward), |v| match v {
        Json::Obj(_) => crate::oauth::Verifier::read(r, v, "oauth", fetching)
            .map(|v| OAuth::Verify(alloc::boxed::Box::new(v))),
        Json::Str(s) if s == "forward" => Some(OAuth::Forward),
        Json::Str(s) if s == "reject" => Some(OAuth::Reject),
        _ => {
            r.error(
                "oauth",
                r#"expected "forward", "reject" or {"verify": {…}}"#,
            );
            None
        }
    });
    let query_token = get(f, "query_token").map_or(Some(false), |v| r.boolean(v, "query_token"));
    let hosts = get(f, "hosts").map_or(Default::default(), |v| sections::hosts(v, r));
    let routes = get(f, "routes").map_or(Vec::new(), |v| sections::routes(v, r));
    let (user_keys, endpoints) =
        get(f, "deprecations").map_or((None, Vec::new()), |v| sections::deprecations(v, r));
    let clients = get(f, "clients").map_or(Vec::new(), |v| super::clients::read(v, r));
    let identity = sections::upstream_headers(get(f, "upstream_headers"), r);
    let source = registry_source(&top, fetching, r);
    let identity = identity?;
    Some(Policy {
        mode: mode?,
        realm: realm?,
        body_min,
        body_max,
        registry: alloc::sync::Arc::new(top.tokens.unwrap_or_default()),
        source: source?,
        hosts,
        routes,
        user_keys,
        endpoints,
        clients,
        oauth: oauth?,
        query_token: query_token?,
        strip: strip_list(&identity),
        identity,
    })
}

/// `registry`: exactly one of `tokens` (inline) and `url` (fetched, for a front that can).
fn registry_source(top: &Top<'_>, fetching: bool, r: &mut Reader<'_>) -> Option<RegistrySource> {
    match (&top.tokens, &top.url, top.saw_registry) {
        (_, _, false) => r.error("registry", "missing field"),
        (None, None, true) => r.error("registry", "expected tokens (inline) or url (fetched)"),
        (Some(_), Some(_), _) => r.error("registry", "give tokens or url, not both"),
        (None, Some(_), _) if !fetching => r.error(
            "registry.url",
            "this front cannot fetch a registry: registry.url is for the Envoy filters; give registry.tokens inline",
        ),
        _ => {}
    }
    match &top.url {
        Some(v) => {
            sections::registry_url(v, r).map(|url| RegistrySource::Fetched { url, loaded: false })
        }
        None => Some(RegistrySource::Inline),
    }
}

/// Step 1's list: what a client must never set itself.
fn strip_list(identity: &IdentityHeaders) -> Vec<String> {
    let mut names: Vec<String> = [
        identity.account_id.as_str(),
        identity.token_kind.as_str(),
        identity.token_id.as_str(),
        WOULD_DENY_HEADER,
        ADVICE_HEADER,
        FORWARDED_HOST_HEADER,
    ]
    .into_iter()
    .map(String::from)
    .collect();
    names.push(String::from(FORWARDED_HEADER));
    names
}
