//! Every decision, exported where Envoy's access log and the filters after this one can read it
//! (SPEC §12): one proxy-wasm property per field, which Envoy keeps in the request's filter state
//! under `wasm.tokengate.<field>` and an access log reads as
//! `%FILTER_STATE(wasm.tokengate.<field>:PLAIN)%`.
//!
//! Only what is safe to log is exported: codes, the token id (never the token or its digest),
//! the kind, the account, the client rule's name. Absent fields cost no host call, so an allowed
//! request with no client rule and no advice makes four.

use tokengate::{Decision, Kind};

use crate::host;

/// The property names (without Envoy's `wasm.` prefix), in the order `fields` yields them.
pub const KEYS: [&str; 7] = [
    "tokengate.code",
    "tokengate.token_id",
    "tokengate.token_kind",
    "tokengate.account_id",
    "tokengate.client",
    "tokengate.would_deny",
    "tokengate.advice",
];

/// One decision's exported fields, borrowed from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exported<'a> {
    /// The decision's code (`ok` on allow; in report mode the code it would have had).
    pub code: &'a str,
    pub token_id: Option<&'a str>,
    pub token_kind: Option<&'a str>,
    /// The account the request was bound to, as decimal digits.
    pub account_id: Option<&'a str>,
    /// The name of the client rule (SPEC §10) the request matched.
    pub client: Option<&'a str>,
    /// Report mode: the code the request would have been denied with.
    pub would_deny: Option<&'a str>,
    /// The advice's code, when the decision has advice for the operator.
    pub advice: Option<&'a str>,
}

impl<'a> Exported<'a> {
    /// (property, value) for each field that is present.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &'a str)> {
        let values = [
            Some(self.code),
            self.token_id,
            self.token_kind,
            self.account_id,
            self.client,
            self.would_deny,
            self.advice,
        ];
        KEYS.into_iter()
            .zip(values)
            .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
    }
}

/// Sets the properties. Best effort: a request is never failed because its log line would be
/// short of a field.
pub fn export(e: &Exported<'_>) {
    for (key, value) in e.fields() {
        let _ = host::set_property(key, value.as_bytes());
    }
}

/// Exports `d` (one line in `filter.rs`, before the verdict is carried out).
pub fn decision(d: &Decision<'_>) {
    let account = d.account_id.map(tokengate::Decimal::new);
    export(&Exported {
        code: d.code.as_str(),
        token_id: d.token_id(),
        token_kind: d.token_kind.map(Kind::as_str),
        account_id: account.as_ref().map(tokengate::Decimal::as_str),
        client: d.client(),
        would_deny: d.report_only().then(|| d.code.as_str()),
        advice: d.advice().map(|a| a.code),
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn absent_and_empty_fields_are_not_exported() {
        let e = Exported {
            code: "ok",
            token_id: Some("3f2a9c01b7de"),
            token_kind: Some("pat"),
            account_id: Some("70471823510118"),
            client: Some(""),
            ..Exported::default()
        };
        let got: Vec<_> = e.fields().collect();
        assert_eq!(
            got,
            [
                ("tokengate.code", "ok"),
                ("tokengate.token_id", "3f2a9c01b7de"),
                ("tokengate.token_kind", "pat"),
                ("tokengate.account_id", "70471823510118"),
            ]
        );
    }

    #[test]
    fn every_key_can_be_exported() {
        let e = Exported {
            code: "account_mismatch",
            token_id: Some("a"),
            token_kind: Some("b"),
            account_id: Some("1"),
            client: Some("production Terraform"),
            would_deny: Some("account_mismatch"),
            advice: Some("service_token_expected"),
        };
        let keys: Vec<_> = e.fields().map(|(k, _)| k).collect();
        assert_eq!(keys, KEYS);
    }
}
