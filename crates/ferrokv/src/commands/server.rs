//! The server command family.

use super::Command;

/// The server family's table.
pub static COMMANDS: &[Command] = &[];
