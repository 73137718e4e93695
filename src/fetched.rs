//! What the Envoy fronts fetch — the registry of `registry.url` and the key set of `jwks.url` —
//! and what an HTTP answer to a fetch means. The core does no I/O: a front hands over the status,
//! the body's size and then the body, and installs what comes back. One reading, and one wording
//! of the operator's log lines, for both fronts.

use alloc::format;
use alloc::string::String;

use crate::error::PolicyErrors;
use crate::oauth::KeySet;
use crate::policy::{OAuth, Policy, Registry};

/// Registry documents larger than this are refused before they are copied or parsed.
pub const MAX_REGISTRY_BYTES: usize = 512 << 20;
/// Key set documents larger than this are refused: a set holds at most 64 keys, a few KiB each.
pub const MAX_JWKS_BYTES: usize = 1 << 20;

/// Which document a fetch is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    /// `registry.url`: `{"tokens": [ … ]}`.
    Registry,
    /// `oauth.verify.jwks.url`: `{"keys": [ … ]}`.
    Jwks,
}

/// A document that was read and can be installed.
#[derive(Debug)]
pub enum Document {
    /// A registry.
    Registry(Registry),
    /// An OAuth key set.
    Keys(KeySet),
}

/// What the status line of an answer means, before its body is read.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// 304: the document held is still current.
    NotModified,
    /// 200 with a body small enough to read.
    Body,
    /// Anything else, with the reason for the log.
    Failed(String),
}

impl What {
    /// The document's name in log lines.
    pub fn name(self) -> &'static str {
        match self {
            What::Registry => "registry",
            What::Jwks => "key set",
        }
    }

    /// The largest document a front reads.
    pub fn max_bytes(self) -> usize {
        match self {
            What::Registry => MAX_REGISTRY_BYTES,
            What::Jwks => MAX_JWKS_BYTES,
        }
    }

    /// An answer's status (the `:status` value) and body size.
    pub fn head(self, status: &[u8], body_size: usize) -> Head {
        match status {
            b"304" => Head::NotModified,
            b"200" if body_size > self.max_bytes() => {
                Head::Failed(format!("document of {body_size} bytes is over the limit"))
            }
            b"200" => Head::Body,
            other => {
                let shown = other.get(..other.len().min(3)).unwrap_or_default();
                Head::Failed(format!("HTTP status {}", String::from_utf8_lossy(shown)))
            }
        }
    }

    /// The body of a 200, read as this document with the rules of an inline one.
    pub fn parse(self, body: &[u8]) -> Result<Document, PolicyErrors> {
        let Ok(text) = core::str::from_utf8(body) else {
            let mut errs = PolicyErrors::default();
            errs.push("", "the document is not UTF-8");
            return Err(errs);
        };
        match self {
            What::Registry => Registry::from_json(text).map(Document::Registry),
            What::Jwks => KeySet::from_json(text).map(Document::Keys),
        }
    }

    /// What `policy` holds of this document, for log lines: "12 tokens", "2 keys".
    pub fn held(self, policy: &Policy) -> String {
        match (self, policy.oauth()) {
            (What::Registry, _) => format!("{} tokens", policy.registry().len()),
            (What::Jwks, OAuth::Verify(v)) => format!("{} keys", v.key_count()),
            (What::Jwks, _) => String::from("no keys"),
        }
    }

    /// `loaded from <from>: 12 tokens (generation 3)` — the registry's wording, which the e2e
    /// harness reads — or `…: 2 keys (key set generation 3)`.
    pub fn loaded_line(self, from: &str, document: &Document, generation: u64) -> String {
        let of = match self {
            What::Registry => "",
            What::Jwks => "key set ",
        };
        format!(
            "{} loaded from {from}: {} ({of}generation {generation})",
            self.name(),
            document.size()
        )
    }

    /// A failed fetch: why, and what keeps serving (`generation` 0: nothing has loaded yet).
    pub fn failed_line(self, from: &str, why: &str, policy: &Policy, generation: u64) -> String {
        let name = self.name();
        let kept = if generation == 0 {
            format!("no {name} has loaded yet")
        } else {
            format!(
                "keeping the last good {name} ({}, generation {generation})",
                self.held(policy)
            )
        };
        format!("{name} fetch from {from} failed: {why}; {kept}")
    }
}

/// The front's line when it loads a policy: `policy loaded: mode enforce, registry from cluster
/// c path /r every 60 s, OAuth keys from cluster idp path /k every 300 s` (or `12 tokens inline`).
pub fn policy_loaded_line(policy: &Policy) -> String {
    let mode = match policy.mode() {
        crate::Mode::Enforce => "enforce",
        crate::Mode::Report => "report",
    };
    let mut line = match policy.registry_url() {
        Some(u) => format!(
            "policy loaded: mode {mode}, registry from cluster {} path {} every {} s",
            u.cluster, u.path, u.refresh_seconds
        ),
        None => format!(
            "policy loaded: mode {mode}, {} tokens inline",
            policy.registry().len()
        ),
    };
    if let Some(j) = policy.jwks_url() {
        line.push_str(&format!(
            ", OAuth keys from cluster {} path {} every {} s",
            j.url.cluster, j.url.path, j.url.refresh_seconds
        ));
    }
    line
}

impl Document {
    /// What it holds, for log lines: "12 tokens", "2 keys".
    pub fn size(&self) -> String {
        match self {
            Document::Registry(r) => format!("{} tokens", r.len()),
            Document::Keys(k) => format!("{} keys", k.len()),
        }
    }

    /// Which document it is.
    pub fn what(&self) -> What {
        match self {
            Document::Registry(_) => What::Registry,
            Document::Keys(_) => What::Jwks,
        }
    }

    /// Puts it into `policy` (a copy of the one in force); returns its size for the front's gauge.
    pub fn install(self, policy: &mut Policy) -> usize {
        match self {
            Document::Registry(r) => {
                let n = r.len();
                policy.set_registry(r);
                n
            }
            Document::Keys(k) => {
                let n = k.len();
                policy.set_jwks(k);
                n
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_SET: &[u8] = br#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}"#;

    #[test]
    fn a_status_line_means_what_a_front_does_next() {
        assert_eq!(What::Registry.head(b"304", 0), Head::NotModified);
        assert_eq!(What::Registry.head(b"200", 10), Head::Body);
        assert_eq!(
            What::Jwks.head(b"200", MAX_JWKS_BYTES + 1),
            Head::Failed(format!(
                "document of {} bytes is over the limit",
                MAX_JWKS_BYTES + 1
            ))
        );
        assert_eq!(What::Registry.head(b"200", MAX_JWKS_BYTES + 1), Head::Body);
        assert_eq!(
            What::Registry.head(b"500", 0),
            Head::Failed("HTTP status 500".into())
        );
        assert_eq!(
            What::Registry.head(b"", 0),
            Head::Failed("HTTP status ".into())
        );
    }

    #[test]
    fn a_body_is_read_as_its_document_only() {
        assert!(matches!(What::Jwks.parse(EC_SET), Ok(Document::Keys(k)) if k.len() == 1));
        assert!(matches!(
            What::Registry.parse(b"{\"tokens\": []}"),
            Ok(Document::Registry(_))
        ));
        for (what, body) in [
            (What::Registry, EC_SET),
            (What::Jwks, b"{\"tokens\": []}"),
            (What::Jwks, b"\xff\xfe"),
            (What::Registry, b""),
        ] {
            assert!(what.parse(body).is_err(), "{what:?} {body:?}");
        }
    }

    #[test]
    fn the_log_lines_name_the_document_and_what_keeps_serving() {
        let mut p = Policy::from_json_fetching(
            r#"{"registry": {"url": {"cluster": "c", "path": "/r"}}, "oauth": {"verify": {"issuer": "i",
            "audiences": ["a"], "algorithms": ["ES256"], "jwks": {"url": {"cluster": "idp", "path": "/k"}}}}}"#,
        )
        .unwrap();
        let keys = What::Jwks.parse(EC_SET).unwrap();
        assert_eq!(
            What::Jwks.loaded_line("cluster idp path /k", &keys, 2),
            "key set loaded from cluster idp path /k: 1 keys (key set generation 2)"
        );
        assert_eq!(
            policy_loaded_line(&p),
            "policy loaded: mode enforce, registry from cluster c path /r every 60 s, \
             OAuth keys from cluster idp path /k every 60 s"
        );
        assert_eq!(keys.install(&mut p), 1);
        let registry = What::Registry.parse(b"{\"tokens\": []}").unwrap();
        assert_eq!(
            What::Registry.loaded_line("cluster c path /r", &registry, 3),
            "registry loaded from cluster c path /r: 0 tokens (generation 3)"
        );
        assert_eq!(
            What::Jwks.failed_line("cluster idp path /k", "HTTP status 500", &p, 1),
            "key set fetch from cluster idp path /k failed: HTTP status 500; keeping the last good key set (1 keys, generation 1)"
        );
        assert_eq!(
            What::Registry.failed_line("cluster c path /r", "x", &p, 0),
            "registry fetch from cluster c path /r failed: x; no registry has loaded yet"
        );
    }
}
