//! The set family. PLACEHOLDER: the commands land with issue 4.

use super::Command;

/// The set family's table.
pub static COMMANDS: &[Command] = &[];
