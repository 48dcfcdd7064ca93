//! The cursor and `MATCH` / `COUNT` / `TYPE` options shared by SCAN, HSCAN, SSCAN and ZSCAN.

use crate::commands::{arg_i64, CmdError};
use crate::util::eq_ic;

/// Parse a SCAN cursor as Redis does (`strtoul` base 10, rejecting leading spaces and
/// trailing garbage): `+` and `-` are accepted (`-1` wraps around), the empty string is 0,
/// and the string ends at its first NUL byte as in C.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    const INVALID: CmdError = CmdError::Static("ERR invalid cursor");
    let s = arg.split(|&b| b == 0).next().unwrap_or_default();
    if s.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(INVALID);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(INVALID);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or(INVALID)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// SCAN's options.
pub struct ScanOptions<'a> {
    /// COUNT: how many entries to examine per call (a hint).
    pub count: usize,
    /// MATCH pattern, None when absent or a lone `*`.
    pub pattern: Option<&'a [u8]>,
    /// TYPE filter (compared case-insensitively with the type names).
    pub type_name: Option<&'a [u8]>,
}

/// Parse `[MATCH pattern] [COUNT count] [TYPE type]` starting at `args[first]`, in Redis's
/// order of checks. TYPE is accepted only when `allow_type` (SCAN, not HSCAN & co).
pub fn parse_options<'a>(
    args: &[&'a [u8]],
    first: usize,
    allow_type: bool,
) -> Result<ScanOptions<'a>, CmdError> {
    let mut opts = ScanOptions {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = first;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        let value = args.get(i + 1).copied().unwrap_or_default();
        if eq_ic(args[i], "count") && has_value {
            let n = arg_i64(value)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            opts.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if eq_ic(args[i], "match") && has_value {
            // `*` matches everything, so it disables the filter.
            opts.pattern = (value != b"*").then_some(value);
        } else if eq_ic(args[i], "type") && allow_type && has_value {
            opts.type_name = Some(value);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(opts)
}
