//! The filter against a stream made of vectors: what it reads, sets, removes and answers.

use super::*;
use crate::config::Config;
use crate::host::{ConfigHost, MetricId, Stream};

/// A local reply: status, headers, body, details.
type Reply = (u16, Vec<(String, String)>, Vec<u8>, String);

#[derive(Default)]
struct Fake {
    request: Vec<(Vec<u8>, Vec<u8>)>,
    response: Vec<(String, String)>,
    reply: Option<Reply>,
    metadata: Vec<(String, String)>,
    counters: Vec<usize>,
}

impl Fake {
    fn new(headers: &[(&str, &str)]) -> Fake {
        Fake {
            request: headers
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            ..Fake::default()
        }
    }
    fn req(&self, name: &str) -> Vec<&str> {
        self.request
            .iter()
            .filter(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| core::str::from_utf8(v).unwrap())
            .collect()
    }
}

impl Stream for Fake {
    fn request_headers(&self) -> Vec<(&[u8], &[u8])> {
        self.request
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect()
    }
    fn set_header(&mut self, map: Map, name: &str, value: &str) -> bool {
        self.remove_header(map, name);
        self.add_header(map, name, value)
    }
    fn add_header(&mut self, map: Map, name: &str, value: &str) -> bool {
        match map {
            Map::Request => self
                .request
                .push((name.as_bytes().to_vec(), value.as_bytes().to_vec())),
            Map::Response => self.response.push((name.into(), value.into())),
        }
        true
    }
    fn remove_header(&mut self, map: Map, name: &str) -> bool {
        match map {
            Map::Request => self
                .request
                .retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes())),
            Map::Response => self.response.retain(|(n, _)| !n.eq_ignore_ascii_case(name)),
        }
        true
    }
    fn send_response(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8], details: &str) {
        assert!(self.reply.is_none(), "a second reply");
        let h = headers
            .iter()
            .map(|(n, v)| ((*n).into(), (*v).into()))
            .collect();
        self.reply = Some((status, h, body.to_vec(), details.into()));
    }
    fn set_metadata(&mut self, namespace: &str, entries: &[(&str, &str)]) {
        assert_eq!(namespace, "tokengate");
        self.metadata
            .extend(entries.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    }
    fn increment(&mut self, id: MetricId) {
        self.counters.push(id.0.unwrap());
    }
}

/// Numbers each metric it defines and remembers the names.
#[derive(Default)]
struct Names(Vec<String>);

impl ConfigHost for Names {
    fn define_counter(&mut self, name: &str) -> MetricId {
        self.0.push(name.into());
        MetricId(Some(self.0.len() - 1))
    }
    fn define_gauge(&mut self, name: &str) -> MetricId {
        self.define_counter(name)
    }
    fn increment(&mut self, _id: MetricId) {}
    fn set_gauge(&mut self, _id: MetricId, _value: u64) {}
    fn callout(&mut self, _c: &str, _h: &[(&str, &str)], _t: u64) -> Result<u64, i32> {
        Err(2)
    }
}

const PAT: &str = "dbtu_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn config(mode: &str) -> (Config, Names) {
    let digest = tokengate::sha256_hex(PAT.as_bytes());
    let json = format!(
        r#"{{"mode": "{mode}", "registry": {{"tokens": [{{"sha256": "{digest}", "kind": "pat", "account_id": "42"}}]}},
            "deprecations": {{"endpoints": [{{"path": "/old", "deprecated_at": "2020-01-01T00:00:00Z",
              "sunset_at": "2999-01-01T00:00:00Z", "link": "https://example.com/d"}}]}}}}"#
    );
    let mut names = Names::default();
    let c = Config::new(&mut names, json.as_bytes(), || None).unwrap();
    (c, names)
}

fn run(c: &Config, headers: &[(&str, &str)]) -> (Flow, Fake, Filter) {
    let mut f = Filter::new(c.shared.clone());
    let mut s = Fake::new(headers);
    let flow = f.on_request_headers(&mut s);
    (flow, s, f)
}

fn counter<'a>(names: &'a Names, s: &Fake) -> Vec<&'a str> {
    s.counters.iter().map(|i| names.0[*i].as_str()).collect()
}

#[test]
fn allowed_sets_identity_strips_forgeries_and_exports_metadata() {
    let (c, names) = config("enforce");
    let auth = format!("Token {PAT}");
    let (flow, s, _) = run(
        &c,
        &[
            (":method", "GET"),
            (":path", "/api/v2/accounts/42/jobs/"),
            ("authorization", &auth),
            ("x-dbt-token-kind", "service"),
            ("x-tokengate-would-deny", "x"),
        ],
    );
    assert_eq!(flow, Flow::Continue);
    assert!(s.reply.is_none());
    assert_eq!(s.req("x-dbt-account-id"), ["42"]);
    assert_eq!(s.req("x-dbt-token-kind"), ["pat"]);
    assert!(s.req("x-tokengate-would-deny").is_empty());
    assert_eq!(counter(&names, &s), ["tokengate.allowed"]);
    let md: Vec<(&str, &str)> = s
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let id = &tokengate::sha256_hex(PAT.as_bytes())[..12];
    assert_eq!(
        md,
        [
            ("code", "ok"),
            ("token_id", id),
            ("token_kind", "pat"),
            ("account_id", "42")
        ]
    );
}

#[test]
fn denied_answers_once_with_the_cores_reply() {
    let (c, names) = config("enforce");
    let (flow, s, f) = run(
        &c,
        &[
            (":method", "GET"),
            (":path", "/api/v2/accounts/7/"),
            ("authorization", "Basic x"),
        ],
    );
    assert_eq!(flow, Flow::Stop);
    assert!(f.replied);
    let (status, headers, body, details) = s.reply.clone().unwrap();
    assert_eq!(
        (status, details.as_str()),
        (401, "tokengate_unsupported_scheme")
    );
    assert!(headers
        .iter()
        .any(|(n, v)| n == "cache-control" && v == "no-store"));
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("unsupported_scheme"));
    assert_eq!(counter(&names, &s), ["tokengate.denied.unsupported_scheme"]);
    assert_eq!(s.metadata[0], ("code".into(), "unsupported_scheme".into()));
}

#[test]
fn report_mode_marks_and_counts_what_it_would_deny() {
    let (c, names) = config("report");
    let (flow, s, _) = run(&c, &[(":method", "GET"), (":path", "/api/v2/accounts/7/")]);
    assert_eq!(flow, Flow::Continue);
    assert!(s.reply.is_none());
    assert_eq!(s.req("x-tokengate-would-deny"), ["missing_token"]);
    assert_eq!(
        counter(&names, &s),
        ["tokengate.report.would_deny.missing_token"]
    );
    assert!(s
        .metadata
        .contains(&("would_deny".into(), "missing_token".into())));
}

#[test]
fn deprecation_notices_go_on_the_response() {
    let (c, names) = config("enforce");
    let auth = format!("Token {PAT}");
    let (_, s, mut f) = run(
        &c,
        &[
            (":method", "GET"),
            (":path", "/old"),
            ("authorization", &auth),
        ],
    );
    assert_eq!(
        counter(&names, &s),
        ["tokengate.allowed", "tokengate.deprecated_served"]
    );
    let mut resp = Fake::default();
    resp.response
        .push(("link".into(), "<x>; rel=\"next\"".into()));
    f.on_response_headers(&mut resp);
    let names: Vec<&str> = resp.response.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["link", "deprecation", "sunset", "link"]);
}

#[test]
fn a_refused_policy_makes_no_config() {
    let mut names = Names::default();
    assert!(Config::new(&mut names, b"{\"registry\": 3}", || None).is_none());
    assert!(Config::new(&mut names, b"\xff", || None).is_none());
    assert!(names.0.is_empty(), "no metrics for a refused policy");
}

#[test]
fn internal_error_replies_only_once() {
    let mut s = Fake::default();
    let mut replied = false;
    assert_eq!(internal_error(&mut s, &mut replied, "x"), Flow::Stop);
    assert_eq!(s.reply.as_ref().unwrap().0, 500);
    internal_error(&mut s, &mut replied, "again");
}
