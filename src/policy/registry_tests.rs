//! The registry: loading, lookups, ids, errors with paths.
use super::*;
use alloc::string::ToString;

fn digest_of(t: &str) -> String {
    sha256_hex(t.as_bytes())
}

#[test]
fn finds_and_misses() {
    let doc = format!(
        r#"{{"tokens":[
          {{"sha256":"{}","kind":"pat","account_id":"18446744073709551615"}},
          {{"sha256":"{}","kind":"user_key","token_id":"legacy-1","revoked":true}},
          {{"sha256":"{}","kind":"service","account_id":9007199254740993,"expires_at":"2027-01-01T00:00:00Z"}}
        ]}}"#,
        digest_of("a"),
        digest_of("b"),
        digest_of("c")
    );
    let reg = Registry::from_json(&doc).unwrap();
    assert_eq!(reg.len(), 3);
    let a = reg.lookup(&sha256(b"a")).unwrap();
    assert_eq!((a.kind, a.account), (Kind::Pat, Some(u64::MAX)));
    assert_eq!(a.token_id.as_str(), &digest_of("a")[..12]);
    let b = reg.lookup(&sha256(b"b")).unwrap();
    assert_eq!(
        (b.kind, b.account, b.revoked, b.token_id.as_str()),
        (Kind::UserKey, None, true, "legacy-1")
    );
    let c = reg.lookup(&sha256(b"c")).unwrap();
    assert_eq!(
        (c.account, c.expires),
        (Some(9_007_199_254_740_993), Some(1_798_761_600))
    );
    assert!(reg.lookup(&sha256(b"d")).is_none());
}

#[test]
fn bucketed_lookup_finds_every_entry() {
    for n in [0usize, 1, 15, 16, 17, 100, 5000] {
        let entries: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"sha256":"{}","kind":"user_key"}}"#,
                    digest_of(&format!("k{i}"))
                )
            })
            .collect();
        let reg = Registry::from_json(&format!(r#"{{"tokens":[{}]}}"#, entries.join(","))).unwrap();
        assert_eq!(reg.len(), n);
        for i in 0..n {
            assert!(
                reg.lookup(&sha256(format!("k{i}").as_bytes())).is_some(),
                "n={n} i={i}"
            );
        }
        assert!(reg.lookup(&sha256(b"absent")).is_none());
        assert!(reg.lookup(&[0u8; 32]).is_none() && reg.lookup(&[0xff; 32]).is_none());
    }
}

#[test]
fn entry_errors_have_paths() {
    let d = digest_of("a");
    let doc = format!(
        r#"{{"tokens":[
          {{"sha256":"{d}","kind":"pat","account_id":"1"}},
          {{"sha256":"{d}","kind":"pat","account_id":"1"}},
          {{"sha256":"ABC","kind":"robot"}},
          {{"sha256":"{}","kind":"user_key","account_id":1,"colour":"red"}},
          {{"sha256":"{}","kind":"pat"}},
          {{"sha256":"{}","kind":"pat","account_id":1.5,"expires_at":"soon","revoked":"no"}}
        ]}}"#,
        digest_of("b"),
        digest_of("c"),
        digest_of("e")
    );
    let errs = Registry::from_json(&doc).unwrap_err();
    let paths: Vec<&str> = errs.errors().iter().map(|e| e.path.as_str()).collect();
    for want in [
        "tokens[2].sha256",
        "tokens[2].kind",
        "tokens[3].colour",
        "tokens[3].account_id",
        "tokens[4].account_id",
        "tokens[5].account_id",
        "tokens[5].expires_at",
        "tokens[5].revoked",
        "tokens[1].sha256",
    ] {
        assert!(paths.contains(&want), "{want} not in {paths:?}");
    }
    // The duplicate's message names the other place, never the digest itself.
    let dup = errs
        .errors()
        .iter()
        .find(|e| e.path == "tokens[1].sha256")
        .unwrap();
    assert!(dup.message.contains("tokens[0]"));
    assert!(!errs.to_string().contains(&d[..16]));
}

#[test]
fn not_json_or_wrong_shape() {
    assert!(Registry::from_json("{").is_err());
    assert!(Registry::from_json("[]").is_err());
    assert!(Registry::from_json("{}").is_err());
    assert!(Registry::from_json(r#"{"tokens":{}}"#).is_err());
    assert!(Registry::from_json(r#"{"tokens":[],"x":1}"#).is_err());
    assert!(Registry::from_json(r#"{"tokens":[]} trailing"#).is_err());
    assert_eq!(Registry::from_json(r#"{"tokens":[]}"#).unwrap().len(), 0);
}

#[test]
fn debug_shows_no_digest() {
    let doc = format!(
        r#"{{"tokens":[{{"sha256":"{}","kind":"user_key"}}]}}"#,
        digest_of("a")
    );
    let reg = Registry::from_json(&doc).unwrap();
    let dbg = format!("{reg:?}");
    assert!(!dbg.contains(&digest_of("a")[..8]), "{dbg}");
}
