//! The keys command family.

use super::Command;

/// The keys family's table.
pub static COMMANDS: &[Command] = &[];
