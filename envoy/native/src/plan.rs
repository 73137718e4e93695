//! A decision, copied out of the borrows it is made of.
//!
//! `Decision<'a>` borrows the request, whose header names and values are views into Envoy's
//! header map; those views are only valid until the map is edited. So the front copies what it
//! will apply into a `Plan` first (into one string buffer: one allocation for a whole request),
//! lets the decision and the views go, and only then edits the map. The borrow checker enforces
//! the order: the stream cannot be edited while a view into it is alive.

use tokengate::{Code, Decision, Reply, Verdict};

/// A piece of [`Plan::text`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span(usize, usize);

/// What the stream needs of one decision, owned.
#[derive(Debug)]
pub struct Plan {
    pub verdict: Verdict,
    pub code: Code,
    pub deprecated: bool,
    /// On a denial, the local reply.
    pub reply: Option<Reply>,
    /// Request headers to remove (SPEC §6 step 1): usually none.
    pub remove: Vec<String>,
    /// Request headers to set: at most four (identity, or would-deny; and advice).
    set: [Option<(Span, Span)>; 4],
    /// Headers for the upstream's response (deprecation notices).
    pub response: Vec<(&'static str, String)>,
    pub token_kind: Option<&'static str>,
    token_id: Option<Span>,
    account_id: Option<Span>,
    client: Option<Span>,
    pub advice: Option<&'static str>,
    text: String,
}

impl Plan {
    pub fn of(d: &Decision<'_>) -> Plan {
        let mut text = String::with_capacity(160);
        let mut keep = |s: &str| {
            let at = text.len();
            text.push_str(s);
            Span(at, text.len())
        };
        let mut set = [None; 4];
        for (slot, (name, value)) in set.iter_mut().zip(d.set_headers()) {
            *slot = Some((keep(name), keep(value.as_str())));
        }
        let token_id = d.token_id().map(&mut keep);
        let account_id = d
            .account_id
            .map(|a| keep(tokengate::Decimal::new(a).as_str()));
        let client = d.client().map(&mut keep);
        Plan {
            verdict: d.verdict,
            code: d.code,
            deprecated: d.deprecated(),
            reply: d.reply(),
            remove: d
                .remove_headers()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect(),
            set,
            response: d
                .response_headers()
                .map(|(n, v)| (n, String::from(v)))
                .collect(),
            token_kind: d.token_kind.map(|k| k.as_str()),
            token_id,
            account_id,
            client,
            advice: d.advice().map(|a| a.code),
            text,
        }
    }

    fn get(&self, s: Span) -> &str {
        self.text.get(s.0..s.1).unwrap_or("")
    }

    pub fn set_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.set
            .iter()
            .flatten()
            .map(|(n, v)| (self.get(*n), self.get(*v)))
    }

    pub fn token_id(&self) -> Option<&str> {
        self.token_id.map(|s| self.get(s))
    }

    pub fn account_id(&self) -> Option<&str> {
        self.account_id.map(|s| self.get(s))
    }

    pub fn client(&self) -> Option<&str> {
        self.client.map(|s| self.get(s))
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }
}
