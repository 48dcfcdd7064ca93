//! The command command family.

use super::Command;

/// The command family's table.
pub static COMMANDS: &[Command] = &[];
