//! Building synthetic registries for the benchmarks: deterministic tokens, real digests.

use tokengate::sha256_hex;

pub const ACCOUNT: u64 = 70_471_823_510_118;

/// The n-th synthetic PAT: `dbtu_` and 50 body characters derived from n.
pub fn pat(n: u64) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let body: String = (0..50)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(alphabet.get((x % 64) as usize).copied().unwrap_or(b'A'))
        })
        .collect();
    format!("dbtu_{body}")
}

/// `n` registry entries, PATs bound to [`ACCOUNT`], comma-separated, appended to `s`.
fn push_entries(s: &mut String, n: u64) {
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"sha256":"{}","kind":"pat","account_id":"{ACCOUNT}"}}"#,
            sha256_hex(pat(i).as_bytes())
        ));
    }
}

/// A policy JSON whose registry holds `n` PATs bound to [`ACCOUNT`].
pub fn policy_json(n: u64) -> String {
    let mut s = String::with_capacity(n as usize * 120 + 512);
    s.push_str(r#"{"hosts": {"account_prefixes": {"ab123": "70471823510118"}}, "deprecations": {"endpoints": [{"path": "/api/v2/accounts/", "deprecated_at": "2024-02-07T00:00:00Z", "sunset_at": "2024-04-30T00:00:00Z"}]}, "routes": [{"path": "/health", "auth": "none"}], "registry": {"tokens": ["#);
    push_entries(&mut s, n);
    s.push_str("]}}");
    s
}

/// A registry document (as `registry.url` serves it) of `n` PATs bound to [`ACCOUNT`].
#[allow(dead_code)] // not every benchmark that shares this module builds one
pub fn registry_json(n: u64) -> String {
    let mut s = String::with_capacity(n as usize * 120 + 16);
    s.push_str(r#"{"tokens": ["#);
    push_entries(&mut s, n);
    s.push_str("]}");
    s
}
