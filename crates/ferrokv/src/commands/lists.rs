//! The list family. PLACEHOLDER: the commands land with issue 4.

use super::Command;

/// The list family's table.
pub static COMMANDS: &[Command] = &[];
