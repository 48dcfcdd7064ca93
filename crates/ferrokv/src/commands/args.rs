//! Argument parsing every family uses: integers, floats and ranges with Redis's error texts.

use super::CmdError;
use crate::util::parse_canonical_i64;

/// Parse an integer argument (`ERR value is not an integer or out of range`).
pub fn arg_i64(arg: &[u8]) -> Result<i64, CmdError> {
    parse_canonical_i64(arg).ok_or(CmdError::NotInteger)
}

/// Parse a float argument (`ERR value is not a valid float`).
pub fn arg_f64(arg: &[u8]) -> Result<f64, CmdError> {
    crate::util::parse_f64(arg).ok_or(CmdError::NotFloat)
}

/// Argument `i`, or the arity error if it is missing.
pub fn arg<'a>(args: &[&'a [u8]], i: usize) -> Result<&'a [u8], CmdError> {
    args.get(i).copied().ok_or(CmdError::WrongArity)
}

/// Redis's `getRangeLongFromObjectOrReply` with a message: `msg` both when the argument is
/// not an integer and when it is outside `min..=max`.
pub fn arg_in_range(arg: &[u8], min: i64, max: i64, msg: &'static str) -> Result<i64, CmdError> {
    match parse_canonical_i64(arg) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(CmdError::Static(msg)),
    }
}
