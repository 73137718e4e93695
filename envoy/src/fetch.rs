//! The registry fetch as HTTP: the request the root sends, and what its answer means.

use tokengate::{PolicyErrors, Registry, RegistryUrl};

use crate::host::{Buffer, Host, LogLevel, Map};
use crate::pairs::Pairs;

/// Registry documents larger than this are refused rather than copied into the VM.
pub const MAX_REGISTRY_BYTES: usize = 512 << 20;

/// At most this many problems are logged, one line each, for a refused document.
const MAX_ERROR_LINES: usize = 50;

pub enum Fetched {
    NotModified,
    /// The document parsed; the JSON itself is gone (a VM's memory never shrinks back).
    Fresh {
        etag: Option<String>,
        registry: Registry,
    },
    Failed(String),
}

/// The request headers of a fetch (`if_none_match` when revalidating a document held here).
pub fn request_headers<'a>(
    url: &'a RegistryUrl,
    if_none_match: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        (":method", "GET"),
        (":path", url.path.as_str()),
        (":authority", url.authority.as_str()),
        ("accept", "application/json"),
    ];
    if let Some(etag) = if_none_match {
        headers.push(("if-none-match", etag));
    }
    headers
}

/// The answer to a registry fetch, from the host's buffers.
pub fn read(host: &dyn Host, num_headers: usize, body_size: usize) -> Fetched {
    if num_headers == 0 {
        // Envoy gives up on a body over its runtime key http.async_response_buffer_limit (32 MiB
        // by default) this way too, with only a warning of its own: name it, as it is the one
        // cause an operator cannot see from the registry service's side.
        return Fetched::Failed(
            "no response (timeout, reset, no healthy host, or a document over Envoy's \
             http.async_response_buffer_limit)"
                .into(),
        );
    }
    let headers = match host.header_map(Map::CallResponse) {
        Ok(h) => h,
        Err(e) => return Fetched::Failed(format!("reading response headers: status {}", e.0)),
    };
    let mut status: &[u8] = b"";
    let mut etag = None;
    for (name, value) in Pairs::new(&headers) {
        if name == b":status" {
            status = value;
        } else if name.eq_ignore_ascii_case(b"etag") {
            etag = core::str::from_utf8(value).ok().map(str::to_owned);
        }
    }
    match status {
        b"304" => return Fetched::NotModified,
        b"200" => {}
        other => {
            return Fetched::Failed(format!(
                "HTTP status {}",
                String::from_utf8_lossy(other.get(..3.min(other.len())).unwrap_or(b""))
            ))
        }
    }
    if body_size > MAX_REGISTRY_BYTES {
        return Fetched::Failed(format!("document of {body_size} bytes is over the limit"));
    }
    let json = match host.buffer(Buffer::CallResponseBody, body_size) {
        Ok(b) => b,
        Err(e) => return Fetched::Failed(format!("reading the body: status {}", e.0)),
    };
    let parsed = parse(host, "registry document refused", &json);
    drop(json);
    match parsed {
        Ok(registry) => Fetched::Fresh { etag, registry },
        Err(why) => Fetched::Failed(format!("the document was refused ({why})")),
    }
}

/// A registry document, parsed; a refusal is logged (one line per problem, under `what`) and
/// summed up in the error.
pub fn parse(host: &dyn Host, what: &str, json: &[u8]) -> Result<Registry, String> {
    let Ok(text) = core::str::from_utf8(json) else {
        return Err("not UTF-8".into());
    };
    Registry::from_json(text).map_err(|errors| {
        log_errors(host, what, &errors);
        format!("{} problems", errors.errors().len())
    })
}

/// A registry another root stored in shared data (`Registry::to_bytes`), checked; a refusal is
/// logged under `what` like a document's.
pub fn unpack(host: &dyn Host, what: &str, bytes: &[u8]) -> Result<Registry, String> {
    Registry::from_bytes(bytes).map_err(|errors| {
        log_errors(host, what, &errors);
        format!("{} problems", errors.errors().len())
    })
}

/// One log line per problem (so each carries its field path and log shippers keep them whole),
/// at most `MAX_ERROR_LINES` of them.
pub fn log_errors(host: &dyn Host, what: &str, errors: &PolicyErrors) {
    let all = errors.errors();
    host.log(
        LogLevel::Error,
        &format!("{what}: {} problem(s)", all.len()),
    );
    for e in all.iter().take(MAX_ERROR_LINES) {
        host.log(LogLevel::Error, &format!("{what}: {e}"));
    }
    if all.len() > MAX_ERROR_LINES {
        host.log(
            LogLevel::Error,
            &format!("{what}: ... and {} more", all.len() - MAX_ERROR_LINES),
        );
    }
}
