//! The zset family. PLACEHOLDER: the commands land with issue 4.

use super::Command;

/// The zset family's table.
pub static COMMANDS: &[Command] = &[];
