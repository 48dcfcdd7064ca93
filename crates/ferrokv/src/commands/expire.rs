//! The expire command family.

use super::Command;

/// The expire family's table.
pub static COMMANDS: &[Command] = &[];
