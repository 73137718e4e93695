//! Token inspection (SPEC §1) over arbitrary bytes: no panic, JSON that parses and says what the
//! struct says, a stable answer, and no message that repeats the token.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokengate::{inspect, inspect_with, Inspection, Kind, ProblemCode};
use tokengate_fuzz::{contains, json_strings, secret_pieces};

/// Every problem code. The match makes a new variant a compile error here, so the leak
/// vocabulary below cannot silently miss its message.
fn all_problems() -> Vec<ProblemCode> {
    use ProblemCode::*;
    let all = [
        Empty,
        Whitespace,
        SchemeIncluded,
        Quoted,
        UnknownPrefix,
        WrongLength,
        BadCharacter,
        LegacyUserKey,
        NotAToken,
    ];
    for c in all {
        match c {
            Empty | Whitespace | SchemeIncluded | Quoted | UnknownPrefix | WrongLength
            | BadCharacter | LegacyUserKey | NotAToken => {}
        }
    }
    all.to_vec()
}

/// The fixed text inspection can print: codes, messages, kinds and the JSON keys.
fn vocabulary() -> Vec<u8> {
    let mut v = Vec::new();
    for c in all_problems() {
        for s in [c.as_str(), c.message()] {
            v.extend_from_slice(s.as_bytes());
            v.push(b'\n');
        }
    }
    for k in Kind::ALL {
        v.extend_from_slice(k.as_str().as_bytes());
        v.push(b'\n');
    }
    v.extend_from_slice(b"kind\nwell_formed\nproblems\ncode\nmessage\n");
    v
}

fn check(token: &[u8], i: &Inspection, vocab: &[u8]) {
    // The JSON parses and agrees with the struct.
    let json = i.to_json();
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("bad JSON {e}: {json}"));
    assert_eq!(v["kind"].as_str(), i.kind.map(Kind::as_str));
    assert_eq!(v["well_formed"].as_bool(), Some(i.well_formed));
    let codes: Vec<&str> = v["problems"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["code"].as_str()).collect())
        .unwrap_or_default();
    let want: Vec<&str> = i.problems.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(codes, want);

    // Each problem once, with its own message; well-formed means a kind and nothing but the
    // legacy-key note.
    for (n, p) in i.problems.iter().enumerate() {
        assert_eq!(p.message, p.code.message());
        assert!(
            !i.problems[..n].iter().any(|q| q.code == p.code),
            "{want:?}"
        );
    }
    if i.well_formed {
        assert!(i.kind.is_some());
        assert!(i
            .problems
            .iter()
            .all(|p| p.code == ProblemCode::LegacyUserKey));
    }
    if token.is_empty() {
        assert_eq!(want, ["empty"]);
    }

    // No message repeats the token, nor any long piece of it.
    let mut out = Vec::new();
    json_strings(&v, &mut out);
    for piece in secret_pieces(token) {
        if contains(vocab, piece) {
            continue;
        }
        for s in &out {
            assert!(
                !contains(s.as_bytes(), piece),
                "inspection output repeats a {}-byte piece of the input",
                piece.len()
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static VOCAB: OnceLock<Vec<u8>> = OnceLock::new();
    let vocab = VOCAB.get_or_init(vocabulary);
    let i = inspect(data);
    check(data, &i, vocab);
    assert_eq!(i, inspect(data), "inspection is not deterministic");
    assert_eq!(i, inspect_with(data, 50, 50));

    // The first two bytes as body-length bounds, the rest as the token: widened and narrowed
    // formats, including min > max.
    if let [lo, hi, rest @ ..] = data {
        let (min, max) = (usize::from(*lo), usize::from(*hi));
        let w = inspect_with(rest, min, max);
        check(rest, &w, vocab);
        // The bounds only decide the scoped kinds' length; no other verdict depends on them.
        let d = inspect(rest);
        assert_eq!(w.kind, d.kind);
        let strip = |x: &Inspection| -> Vec<ProblemCode> {
            x.problems
                .iter()
                .map(|p| p.code)
                .filter(|c| *c != ProblemCode::WrongLength)
                .collect()
        };
        assert_eq!(strip(&w), strip(&d));
    }
});
