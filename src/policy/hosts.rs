//! Host prefixes: the first DNS label of an access URL (`ab123.us1.dbt.com`) names an account.

use alloc::string::String;
use alloc::vec::Vec;

/// Labels (lowercase) to account ids, sorted for lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hosts {
    prefixes: Vec<(String, u64)>,
}

impl Hosts {
    pub(crate) fn new(mut prefixes: Vec<(String, u64)>) -> Self {
        prefixes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Hosts { prefixes }
    }

    pub(crate) fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// The account of `label`, compared case-insensitively.
    pub(crate) fn lookup(&self, label: &[u8]) -> Option<u64> {
        self.prefixes
            .binary_search_by(|(l, _)| {
                l.bytes()
                    .map(|b| b.to_ascii_lowercase())
                    .cmp(label.iter().map(u8::to_ascii_lowercase))
            })
            .ok()
            .and_then(|i| self.prefixes.get(i))
            .map(|(_, a)| *a)
    }
}

/// Whether `s` can be a DNS label.
pub(crate) fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}
