//! `tokengate inspect` on an OAuth token: its header and claims (never its signature), and with
//! `--policy`, every check of SPEC §11 it would fail. The core decodes and verifies; this formats.

use serde_json::{json, Map, Value};
use tokengate::oauth::{decode, Verifier};

/// The policy's `oauth.verify`, read by the core's own reader (errors carry the same paths), or
/// `None` when the policy forwards or rejects OAuth tokens instead of verifying them.
pub fn verifier(policy_text: &str) -> Result<Option<Verifier>, String> {
    let doc: Value =
        serde_json::from_str(policy_text).map_err(|e| format!("not valid JSON: {e}"))?;
    match doc.get("oauth") {
        Some(v @ Value::Object(_)) => Verifier::from_json(&v.to_string())
            .map(Some)
            .map_err(|errs| errs.to_string()),
        _ => Ok(None),
    }
}

/// Add `jwt` (header, claims, signature length) and, given a verifier, `checks` (each failed
/// check) and `verified` to an inspection's JSON. Returns whether every check passed.
pub fn describe(
    token: &[u8],
    out: &mut Map<String, Value>,
    v: Option<&Verifier>,
    now: i64,
) -> bool {
    let shown = match decode(token) {
        Ok(d) => json!({
            "header": serde_json::from_str::<Value>(&d.header).unwrap_or(Value::Null),
            "claims": serde_json::from_str::<Value>(&d.claims).unwrap_or(Value::Null),
            "signature_bytes": d.signature_len,
        }),
        Err(e) => json!({"error": {"check": e.check(), "message": e.message()}}),
    };
    out.insert("jwt".into(), shown);
    let Some(v) = v else {
        return true;
    };
    let failures = v.failures(token, now);
    let checks: Vec<Value> = failures
        .iter()
        .map(|e| json!({"check": e.check(), "code": e.code().as_str(), "message": e.message()}))
        .collect();
    out.insert("verified".into(), failures.is_empty().into());
    out.insert("failed_checks".into(), checks.into());
    failures.is_empty()
}
