//! The fetches of `registry.url` and `jwks.url` as HTTP: the request the root sends, and what
//! its answer means.

use tokengate::fetched::{Document, Head, What};
use tokengate::{FetchUrl, PolicyErrors, Registry};

use crate::host::{Buffer, Host, LogLevel, Map};
use crate::pairs::Pairs;

/// At most this many problems are logged, one line each, for a refused document.
const MAX_ERROR_LINES: usize = 50;

pub enum Fetched {
    NotModified,
    /// The document parsed. `stored` is what the other VMs get through shared data: a registry
    /// in the core's packed form (the JSON is gone, as a VM's memory never shrinks back; the
    /// others copy the table and check it instead of parsing 115 MiB for a million entries), a
    /// key set as served. Its capacity leaves room for the generation `sync` appends.
    Fresh {
        etag: Option<String>,
        stored: Vec<u8>,
        document: Document,
    },
    Failed(String),
}

/// The request headers of a fetch (`if_none_match` when revalidating a document held here).
pub fn request_headers<'a>(
    url: &'a FetchUrl,
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

/// The answer to a fetch of `what`, from the host's buffers.
pub fn read(host: &dyn Host, what: What, num_headers: usize, body_size: usize) -> Fetched {
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
    match what.head(status, body_size) {
        Head::NotModified => return Fetched::NotModified,
        Head::Failed(why) => return Fetched::Failed(why),
        Head::Body => {}
    }
    let json = match host.buffer(Buffer::CallResponseBody, body_size) {
        Ok(b) => b,
        Err(e) => return Fetched::Failed(format!("reading the body: status {}", e.0)),
    };
    match parse(
        host,
        what,
        &format!("{} document refused", what.name()),
        &json,
    ) {
        Ok(document) => {
            let stored = match &document {
                Document::Registry(r) => {
                    drop(json);
                    let mut packed = Vec::with_capacity(r.encoded_len().saturating_add(8));
                    r.write_bytes(&mut packed);
                    packed
                }
                Document::Keys(_) => json,
            };
            Fetched::Fresh {
                etag,
                stored,
                document,
            }
        }
        Err(why) => Fetched::Failed(format!("the document was refused ({why})")),
    }
}

/// A document of `what`, parsed; a refusal is logged (one line per problem, under `label`) and
/// summed up in the error.
pub fn parse(host: &dyn Host, what: What, label: &str, json: &[u8]) -> Result<Document, String> {
    what.parse(json).map_err(|errors| {
        log_errors(host, label, &errors);
        format!("{} problems", errors.errors().len())
    })
}

/// A document of `what` as another root stored it in shared data (see [`Fetched::Fresh`]): a
/// registry checked with `Registry::from_bytes`, a key set parsed; a refusal is logged like a
/// fetched document's.
pub fn unpack(host: &dyn Host, what: What, label: &str, stored: &[u8]) -> Result<Document, String> {
    match what {
        What::Registry => Registry::from_bytes(stored)
            .map(Document::Registry)
            .map_err(|errors| {
                log_errors(host, label, &errors);
                format!("{} problems", errors.errors().len())
            }),
        What::Jwks => parse(host, what, label, stored),
    }
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
