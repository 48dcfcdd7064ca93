//! The hashes command family.

use super::Command;

/// The hashes family's table.
pub static COMMANDS: &[Command] = &[];
