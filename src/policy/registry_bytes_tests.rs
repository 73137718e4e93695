//! The packed form: round trips, and every kind of damage refused with an error, never a panic.
use super::*;
use alloc::string::ToString;
use alloc::vec::Vec;

use crate::policy::registry::sha256;
use crate::policy::sha256_hex;

fn entry(token: &str, rest: &str) -> String {
    format!(r#"{{"sha256":"{}",{rest}}}"#, sha256_hex(token.as_bytes()))
}

/// Every kind, bound and unbound, expiring and revoked, with and without explicit ids.
fn sample() -> Registry {
    let entries = [
        entry("a", r#""kind":"pat","account_id":"18446744073709551615""#),
        entry(
            "b",
            r#""kind":"user_key","token_id":"legacy-1","revoked":true"#,
        ),
        entry(
            "c",
            r#""kind":"service","account_id":0,"expires_at":"2027-01-01T00:00:00Z""#,
        ),
        entry(
            "d",
            r#""kind":"pat","account_id":7,"token_id":"tok:d.1_x","expires_at":"0000-01-01T00:00:00+23:59""#,
        ),
        entry(
            "e",
            r#""kind":"service","account_id":1,"expires_at":"9999-12-31T23:59:60-23:59""#,
        ),
    ];
    Registry::from_json(&format!(r#"{{"tokens":[{}]}}"#, entries.join(","))).unwrap()
}

fn many(n: usize) -> Registry {
    let entries: Vec<String> = (0..n)
        .map(|i| {
            let id = if i % 3 == 0 {
                format!(r#","token_id":"id-{i}""#)
            } else {
                String::new()
            };
            entry(
                &format!("k{i}"),
                &format!(r#""kind":"pat","account_id":{i}{id}"#),
            )
        })
        .collect();
    Registry::from_json(&format!(r#"{{"tokens":[{}]}}"#, entries.join(","))).unwrap()
}

fn message(bytes: &[u8]) -> String {
    let errs = Registry::from_bytes(bytes).expect_err("refused");
    assert_eq!(errs.errors().len(), 1);
    errs.to_string()
}

const E: usize = HEADER;

fn at(i: usize, field: usize) -> usize {
    E + i * ENTRY + field
}

#[test]
fn round_trips_and_decides_the_same() {
    let reg = sample();
    let bytes = reg.to_bytes();
    assert_eq!(bytes.len(), reg.encoded_len());
    assert_eq!(bytes.capacity(), bytes.len(), "allocated once, exactly");
    assert_eq!(&bytes[..8], b"TGREGBIN");
    assert_eq!(&bytes[8..20], &[1, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0]);
    let back = Registry::from_bytes(&bytes).unwrap();
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(back.len(), 5);
    for t in ["a", "b", "c", "d", "e", "f"] {
        let d = sha256(t.as_bytes());
        assert_eq!(back.lookup(&d), reg.lookup(&d), "{t}");
    }
    let b = back.lookup(&sha256(b"b")).unwrap();
    assert_eq!((b.token_id.as_str(), b.revoked), ("legacy-1", true));
    assert_eq!(back.lookup(&sha256(b"d")).unwrap().expires, Some(EARLIEST));
    assert_eq!(back.lookup(&sha256(b"e")).unwrap().expires, Some(LATEST));
}

#[test]
fn the_date_bounds_are_what_the_reader_can_produce() {
    assert_eq!(
        crate::time::parse_rfc3339("0000-01-01T00:00:00+23:59"),
        Some(EARLIEST)
    );
    assert_eq!(
        crate::time::parse_rfc3339("9999-12-31T23:59:60-23:59"),
        Some(LATEST)
    );
}

#[test]
fn round_trips_at_every_bucket_size() {
    for n in [0usize, 1, 15, 16, 17, 100, 5000] {
        let reg = many(n);
        let bytes = reg.to_bytes();
        let back = Registry::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes(), bytes, "n={n}");
        assert_eq!(
            (back.bits, back.buckets.len()),
            (reg.bits, reg.buckets.len())
        );
        for i in 0..n {
            let d = sha256(format!("k{i}").as_bytes());
            let hit = back.lookup(&d).unwrap();
            assert_eq!(Some(hit), reg.lookup(&d), "n={n} i={i}");
            assert_eq!(hit.account, Some(i as u64));
        }
        assert!(back.lookup(&sha256(b"absent")).is_none());
    }
    let empty = Registry::default().to_bytes();
    assert_eq!(empty.len(), HEADER);
    assert!(Registry::from_bytes(&empty).unwrap().is_empty());
}

#[test]
fn every_truncation_and_every_extension_is_refused() {
    let bytes = sample().to_bytes();
    for len in 0..bytes.len() {
        assert!(Registry::from_bytes(&bytes[..len]).is_err(), "len {len}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(message(&longer).contains("1 bytes after the packed registry"));
}

#[test]
fn every_single_byte_change_is_refused_or_reads_back_as_itself() {
    // A change the checks cannot see (an account, a date, a flag) is a different valid registry,
    // which must then encode to exactly the changed bytes: nothing is read loosely.
    let bytes = sample().to_bytes();
    for i in 0..bytes.len() {
        for v in [0u8, 1, 2, 3, 0x7f, 0x80, 0xff, bytes[i] ^ 1] {
            let mut b = bytes.clone();
            b[i] = v;
            if let Ok(r) = Registry::from_bytes(&b) {
                assert_eq!(r.to_bytes(), b, "byte {i} = {v}");
            }
        }
    }
}

#[test]
fn each_broken_invariant_has_its_own_error() {
    let good = sample().to_bytes();
    let broken = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        message(&b)
    };
    assert!(broken(&|b| b[0] = b'X').contains("bad magic"));
    assert!(broken(&|b| b[8] = 2).contains("version 2; this build reads 1"));
    // Counts larger than the input: refused before anything that size is allocated.
    assert!(broken(&|b| b[12..16].copy_from_slice(&u32::MAX.to_le_bytes())).contains("truncated"));
    assert!(broken(&|b| b[16..20].copy_from_slice(&u32::MAX.to_le_bytes())).contains("truncated"));
    // Two entries swapped: out of order. One digest copied over the next: a duplicate.
    let swapped = broken(&|b| {
        let (x, y) = (at(0, 0), at(1, 0));
        let first: Vec<u8> = b[x..x + ENTRY].to_vec();
        b.copy_within(y..y + ENTRY, x);
        b[y..y + ENTRY].copy_from_slice(&first);
    });
    assert_eq!(
        swapped,
        "entries[1].sha256: digests are not in strictly ascending order"
    );
    let dup = broken(&|b| b.copy_within(at(0, 0)..at(0, 32), at(1, 0)));
    assert!(dup.starts_with("entries[1].sha256: "), "{dup}");
    assert!(broken(&|b| b[at(2, 52)] = 3).contains("unknown kind 3"));
    assert!(broken(&|b| b[at(2, 53)] = 2).ends_with("revoked: expected 0 or 1"));
    // A legacy key given an account: find the user_key entry by its kind byte.
    let uk = (0..5).find(|&i| good[at(i, 52)] == 2).unwrap();
    assert!(broken(&|b| b[at(uk, 32)] = 1).contains("not bound to an account"));
    assert!(
        broken(&|b| b[at(0, 40)..at(0, 48)].copy_from_slice(&(LATEST + 1).to_le_bytes()))
            .ends_with("expires_at: out of range")
    );
    assert!(
        broken(&|b| b[at(0, 40)..at(0, 48)].copy_from_slice(&(EARLIEST - 1).to_le_bytes()))
            .ends_with("expires_at: out of range")
    );
    assert!(broken(&|b| b[at(0, 48)] = 5).contains("5 is not below the 5 entries"));
    let twice = broken(&|b| b.copy_within(at(0, 48)..at(0, 52), at(1, 48)));
    assert!(twice.contains("is used by two entries"), "{twice}");

    // The ids: two of them, after the entries.
    let ids = at(5, 0);
    assert!(broken(&|b| b[ids] = 9).contains("ids[0]: index 9 is not below the 5 entries"));
    let unsorted = broken(&|b| {
        let second = ids + 5 + usize::from(b[ids + 4]);
        let first = b[ids];
        b[second] = first;
    });
    assert!(unsorted.contains("ids[1]: indices are not in strictly ascending order"));
    assert!(broken(&|b| b[ids + 5] = b' ').contains("ids[0]: expected 1 to 64 characters"));
    assert!(broken(&|b| b[ids + 5] = 0xff).contains("ids[0]: expected 1 to 64 characters"));
    // A zero-length id: the rest of the input no longer lines up, whatever it says.
    assert!(Registry::from_bytes(&{
        let mut b = good.clone();
        b[ids + 4] = 0;
        b
    })
    .is_err());
}

#[test]
fn ids_longer_than_the_reader_allows_are_refused() {
    let mut b = Vec::new();
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&[7; 32]);
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&i64::MAX.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[2, 0]);
    let with_id = |len: usize| {
        let mut b = b.clone();
        b.extend_from_slice(&0u32.to_le_bytes());
        b.push(len as u8);
        b.extend(core::iter::repeat_n(b'x', len));
        b
    };
    let ok = Registry::from_bytes(&with_id(64)).unwrap();
    assert_eq!(ok.lookup(&[7; 32]).unwrap().token_id.as_str().len(), 64);
    assert!(message(&with_id(65)).contains("ids[0]: expected 1 to 64"));
    // An empty id is shorter than any id can be: the count check refuses it as truncated, and
    // with a byte after it (so the count fits) the id check does.
    assert!(message(&with_id(0)).contains("truncated"));
    let mut padded = with_id(0);
    padded.push(b'x');
    assert!(message(&padded).contains("ids[0]: expected 1 to 64"));
}

#[test]
fn errors_never_print_a_digest() {
    let good = sample().to_bytes();
    let hex: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|t| sha256_hex(t.as_bytes())[..16].to_string())
        .collect();
    let mut b = good.clone();
    b.copy_within(at(0, 0)..at(0, 32), at(1, 0));
    let text = message(&b);
    assert!(hex.iter().all(|h| !text.contains(h.as_str())), "{text}");
}
