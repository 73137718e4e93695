//! Exit codes, one meaning each, so scripts can branch on them.

use std::process::ExitCode;

/// How the command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Allowed, valid, well-formed.
    Ok = 0,
    /// Denied, invalid or not well-formed: the command worked and the answer is no.
    No = 1,
    /// Bad usage, an unreadable file or a bad policy where one was needed.
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
