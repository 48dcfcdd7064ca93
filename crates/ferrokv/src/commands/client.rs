//! CLIENT and its subcommands.

use super::{CmdError, CmdResult, Command};

/// The CLIENT command (filled in by the server-commands work).
pub static COMMANDS: &[Command] = &[];

/// CLIENT SETNAME / HELLO SETNAME: names may not contain spaces, newlines or special
/// characters.
pub fn validate_name(name: &[u8]) -> CmdResult {
    if name.iter().any(|c| !(b'!'..=b'~').contains(c)) {
        return Err(CmdError::Static(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}
