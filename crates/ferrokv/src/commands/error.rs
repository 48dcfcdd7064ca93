//! Command errors and Redis's exact error texts, in one place.

use std::borrow::Cow;

/// Why a command failed. Rendered with [`CmdError::message`].
#[derive(Debug, Clone, PartialEq)]
pub enum CmdError {
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`
    WrongType,
    /// `ERR value is not an integer or out of range`
    NotInteger,
    /// `ERR value is not a valid float`
    NotFloat,
    /// `ERR syntax error`
    Syntax,
    /// `ERR no such key`
    NoSuchKey,
    /// `ERR increment or decrement would overflow`
    Overflow,
    /// `ERR invalid expire time in '<cmd>' command`
    InvalidExpire,
    /// `ERR wrong number of arguments for '<cmd>' command`
    WrongArity,
    /// `ERR DB index is out of range`
    DbIndexOutOfRange,
    /// A bug inside the server; reported instead of panicking.
    Internal(&'static str),
    /// Any other error, full text without the leading `-` (e.g. `ERR index out of range`).
    Static(&'static str),
    /// Any other error with a formatted text.
    Msg(String),
    /// The handler already wrote its error reply and counted it in the error statistics
    /// (a script whose errors were counted where they arose, in `redis.call`): the command
    /// only counts as failed.
    Replied,
}

impl CmdError {
    /// The full error text (without `-` and CRLF) for command `cmd` (lowercase full name).
    pub fn message(&self, cmd: &str) -> Cow<'static, str> {
        match self {
            CmdError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            CmdError::NotInteger => "ERR value is not an integer or out of range".into(),
            CmdError::NotFloat => "ERR value is not a valid float".into(),
            CmdError::Syntax => "ERR syntax error".into(),
            CmdError::NoSuchKey => "ERR no such key".into(),
            CmdError::Overflow => "ERR increment or decrement would overflow".into(),
            CmdError::InvalidExpire => {
                format!("ERR invalid expire time in '{}' command", cmd).into()
            }
            CmdError::WrongArity => {
                format!("ERR wrong number of arguments for '{}' command", cmd).into()
            }
            CmdError::DbIndexOutOfRange => "ERR DB index is out of range".into(),
            CmdError::Internal(what) => format!("ERR internal error: {}", what).into(),
            CmdError::Static(s) => (*s).into(),
            CmdError::Msg(s) => s.clone().into(),
            CmdError::Replied => "".into(),
        }
    }

    /// A formatted error; `text` must start with an error code such as `ERR`.
    pub fn msg(text: impl Into<String>) -> CmdError {
        CmdError::Msg(text.into())
    }
}

/// Result of a command handler.
pub type CmdResult = Result<(), CmdError>;
