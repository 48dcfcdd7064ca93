//! The debug command family.

use super::Command;

/// The debug family's table.
pub static COMMANDS: &[Command] = &[];
