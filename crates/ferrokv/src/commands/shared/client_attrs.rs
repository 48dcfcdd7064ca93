//! Validation of client attributes (names), shared by CLIENT SETNAME and HELLO SETNAME.

use crate::commands::{CmdError, CmdResult};

/// CLIENT SETNAME / HELLO SETNAME: names may not contain spaces, newlines or special
/// characters.
pub fn validate_name(name: &[u8]) -> CmdResult {
    if !valid_attr(name) {
        return Err(CmdError::Static(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

/// Printable ASCII without spaces (Redis's `validateClientAttr`).
pub fn valid_attr(v: &[u8]) -> bool {
    v.iter().all(|&c| (b'!'..=b'~').contains(&c))
}
