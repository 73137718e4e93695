//! The packed registry form (`Registry::from_bytes`, what the proxy-wasm filter shares between its
//! VMs) over arbitrary bytes: never a panic; anything accepted encodes back to exactly the input
//! (nothing is read loosely) and every entry is found by its own digest. And over JSON: every
//! registry `Registry::from_json` accepts survives `to_bytes` and `from_bytes` unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengate::Registry;

fn check(registry: &Registry, what: &str) {
    assert!(
        registry.fuzzing_lookups_hold(),
        "{what}: an entry is not found by its digest"
    );
    let bytes = registry.to_bytes();
    assert_eq!(bytes.len(), registry.encoded_len(), "{what}: encoded_len");
    let back = Registry::from_bytes(&bytes)
        .unwrap_or_else(|e| panic!("{what}: its own bytes refused: {e}"));
    assert_eq!(back.len(), registry.len());
    assert!(
        back.to_bytes() == bytes,
        "{what}: bytes differ after a round trip"
    );
    assert!(back.fuzzing_lookups_hold());
}

fuzz_target!(|data: &[u8]| {
    match Registry::from_bytes(data) {
        Ok(registry) => {
            assert!(
                registry.to_bytes() == data,
                "accepted bytes that do not encode back to themselves"
            );
            check(&registry, "packed input");
        }
        Err(errs) => assert!(
            errs.errors().iter().all(|e| !e.message.is_empty()) && !errs.errors().is_empty(),
            "an error with no message"
        ),
    }
    if let Ok(doc) = std::str::from_utf8(data) {
        if let Ok(registry) = Registry::from_json(doc) {
            check(&registry, "JSON input");
        }
    }
});
