//! Policy errors: every problem found, each tied to the path of the field that caused it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// One problem in a policy or registry document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// Where the problem is, e.g. `deprecations.endpoints[1].sunset_at`; empty for the whole document.
    pub path: String,
    /// What is wrong, in a plain sentence. Never contains a token.
    pub message: String,
}

/// Every problem found in one document; never empty when returned as an error.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PolicyErrors {
    errors: Vec<PolicyError>,
}

impl PolicyErrors {
    /// The problems, in document order.
    pub fn errors(&self) -> &[PolicyError] {
        &self.errors
    }

    pub(crate) fn push(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(PolicyError {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl core::error::Error for PolicyError {}
impl core::error::Error for PolicyErrors {}
