//! Argument shapes shared by the pop commands and their blocking forms: `LEFT|RIGHT`, the
//! MPOP shape (`numkeys key... LEFT|RIGHT|MIN|MAX [COUNT n]`, for LMPOP/BLMPOP and
//! ZMPOP/BZMPOP), the key finders that go with it, and blocking timeouts.

use std::ops::Range;

use crate::commands::shared::longdouble::LongDouble;
use crate::commands::{arg_i64, arg_in_range, CmdError};
use crate::storage::list::End;
use crate::util::{eq_ic, parse_canonical_i64};

/// A `numkeys` below 1.
pub const ERR_NUMKEYS: &str = "ERR numkeys should be greater than 0";
/// An MPOP `COUNT` below 1.
pub const ERR_MPOP_COUNT: &str = "ERR count should be greater than 0";

/// `LEFT` or `RIGHT` (any case), else a syntax error.
pub fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if eq_ic(arg, "left") {
        Ok(End::Left)
    } else if eq_ic(arg, "right") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

/// LMPOP's (and BLMPOP's) arguments after parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MPop {
    /// Positions of the keys in the argument vector.
    pub keys: Range<usize>,
    /// Which end to pop from.
    pub end: End,
    /// Most elements to pop (1 without COUNT).
    pub count: usize,
}

/// Parse `numkeys key [key ...] LEFT|RIGHT [COUNT count]` with `numkeys` at
/// `args[numkeys_at]` (1 for LMPOP, 2 for BLMPOP), with Redis's errors in Redis's order.
pub fn parse_mpop(args: &[&[u8]], numkeys_at: usize) -> Result<MPop, CmdError> {
    let numkeys_arg = args.get(numkeys_at).ok_or(CmdError::WrongArity)?;
    let numkeys = arg_in_range(numkeys_arg, 1, i64::MAX, ERR_NUMKEYS)? as usize;
    let first = numkeys_at + 1;
    let where_at = first.saturating_add(numkeys);
    let end = match args.get(where_at) {
        Some(a) => parse_end(a)?,
        None => return Err(CmdError::Syntax),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while let Some(opt) = args.get(j) {
        match args.get(j + 1) {
            Some(n) if count.is_none() && eq_ic(opt, "count") => {
                count = Some(arg_in_range(n, 1, i64::MAX, ERR_MPOP_COUNT)? as usize);
                j += 2;
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(MPop {
        keys: first..where_at,
        end,
        count: count.unwrap_or(1),
    })
}

/// Key positions of an LMPOP-style argument vector with `numkeys` at `numkeys_at` (the
/// table's `keys_fn`, for shard locking and for COMMAND GETKEYS when the key spec does not
/// apply). As Redis's `genericGetKeys` (`lmpopGetKeys`, `blmpopGetKeys`): numkeys read with
/// C's `atoi`, no keys unless `1 <= numkeys <= argc - numkeys_at - 1`. Whenever the handler
/// gets as far as touching keys, these are exactly its keys.
pub fn mpop_key_positions(args: &[&[u8]], numkeys_at: usize) -> Vec<usize> {
    let first = numkeys_at + 1;
    let num = args.get(numkeys_at).map_or(0, |a| c_atoi(a));
    if num < 1 || num as usize > args.len().saturating_sub(first) {
        return Vec::new();
    }
    (first..first + num as usize).collect()
}

/// glibc's `atoi`: `(int)strtol(s, NULL, 10)` (leading spaces, a sign, digits; saturated to
/// the i64 range, then truncated to 32 bits).
fn c_atoi(s: &[u8]) -> i32 {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for d in digits.iter().take_while(|c| c.is_ascii_digit()) {
        let d = (d - b'0') as i64;
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    v as i32
}

/// The arguments of ZMPOP / BZMPOP after `numkeys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZmpopArgs {
    /// Index in the argument vector of the first key.
    pub first_key: usize,
    /// Number of keys (at least 1).
    pub numkeys: usize,
    /// MAX (true) or MIN.
    pub max: bool,
    /// COUNT (1 when absent).
    pub count: u64,
}

impl ZmpopArgs {
    /// The keys, in order.
    pub fn keys<'a>(&self, args: &[&'a [u8]]) -> Vec<&'a [u8]> {
        args.iter()
            .skip(self.first_key)
            .take(self.numkeys)
            .copied()
            .collect()
    }
}

/// Parse `numkeys key [key ...] MIN|MAX [COUNT count]` with `numkeys` at `args[numkeys_at]`
/// (1 for ZMPOP; 2 for BZMPOP, whose timeout comes first and is the caller's to parse),
/// with Redis's checks and errors in Redis's order.
pub fn parse_zmpop(args: &[&[u8]], numkeys_at: usize) -> Result<ZmpopArgs, CmdError> {
    let numkeys = args
        .get(numkeys_at)
        .and_then(|a| arg_i64(a).ok())
        .filter(|&n| n >= 1)
        .ok_or(CmdError::Static("ERR numkeys should be greater than 0"))?;
    let first_key = numkeys_at + 1;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| first_key.checked_add(n))
        .filter(|&w| w < args.len())
        .ok_or(CmdError::Syntax)?;
    let max = match args[where_at] {
        w if eq_ic(w, "min") => false,
        w if eq_ic(w, "max") => true,
        _ => return Err(CmdError::Syntax),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        let more = j + 1 < args.len();
        if count.is_none() && more && eq_ic(args[j], "count") {
            let n = arg_i64(args[j + 1])
                .ok()
                .filter(|&n| n >= 1)
                .ok_or(CmdError::Static("ERR count should be greater than 0"))?;
            count = Some(n as u64);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(ZmpopArgs {
        first_key,
        numkeys: where_at - first_key,
        max,
        count: count.unwrap_or(1),
    })
}

/// Key positions after a `numkeys` argument at `args[at]` (BZMPOP: `at` = 2): the keys that
/// follow it (clipped to the arguments), none when `numkeys` is not a positive integer.
pub fn keys_after_numkeys(args: &[&[u8]], at: usize) -> Vec<usize> {
    let n = args
        .get(at)
        .and_then(|a| parse_canonical_i64(a))
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let first = at + 1;
    let last = first.saturating_add(n).min(args.len());
    (first..last).collect()
}

/// Parse a timeout in seconds (Redis's `getTimeoutFromObjectOrReply`): a long double,
/// not negative, within range. Returns milliseconds, 0 = wait forever.
pub fn parse_timeout(arg: &[u8]) -> Result<u64, CmdError> {
    let secs = LongDouble::parse(arg)
        .ok_or(CmdError::Static(
            "ERR timeout is not a float or out of range",
        ))?
        .to_f64();
    // Redis 7.0 converts `ceill(secs * 1000)` to long long: values past its range wrap to
    // LLONG_MIN there and are reported as negative, as are infinities.
    let ms = (secs * 1000.0).ceil();
    if !(0.0..9_223_372_036_854_775_808.0).contains(&ms) {
        return Err(CmdError::Static("ERR timeout is negative"));
    }
    Ok(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<&[u8]> {
        s.split(' ').map(str::as_bytes).collect()
    }

    #[test]
    fn mpop_parsing_for_both_commands() {
        let a = argv("LMPOP 2 k1 k2 RIGHT COUNT 3");
        assert_eq!(
            parse_mpop(&a, 1),
            Ok(MPop {
                keys: 2..4,
                end: End::Right,
                count: 3
            })
        );
        let b = argv("BLMPOP 0.5 1 k1 left");
        assert_eq!(
            parse_mpop(&b, 2),
            Ok(MPop {
                keys: 3..4,
                end: End::Left,
                count: 1
            })
        );
        assert_eq!(mpop_key_positions(&a, 1), vec![2, 3]);
        assert_eq!(mpop_key_positions(&b, 2), vec![3]);
        let bad = [
            ("LMPOP 0 k LEFT", CmdError::Static(ERR_NUMKEYS)),
            ("LMPOP 2 k LEFT", CmdError::Syntax),
            ("LMPOP 1 k UP", CmdError::Syntax),
            ("LMPOP 1 k LEFT COUNT 0", CmdError::Static(ERR_MPOP_COUNT)),
            ("LMPOP 1 k LEFT COUNT 1 COUNT 1", CmdError::Syntax),
            ("LMPOP 9223372036854775807 k LEFT", CmdError::Syntax),
        ];
        for (line, err) in bad {
            assert_eq!(parse_mpop(&argv(line), 1), Err(err), "{line}");
        }
        assert!(mpop_key_positions(&argv("LMPOP 3 k LEFT"), 1).is_empty());
        assert!(mpop_key_positions(&argv("LMPOP 9223372036854775807 k LEFT"), 1).is_empty());
        assert_eq!(mpop_key_positions(&argv("LMPOP 2 k LEFT"), 1), vec![2, 3]);
    }

    #[test]
    fn atoi_like_glibc() {
        assert_eq!(c_atoi(b"12x"), 12);
        assert_eq!(c_atoi(b"  -3"), -3);
        assert_eq!(c_atoi(b"+4"), 4);
        assert_eq!(c_atoi(b"x"), 0);
        assert_eq!(c_atoi(b"4294967297"), 1);
        assert_eq!(c_atoi(b"9223372036854775807"), -1);
        assert_eq!(c_atoi(b"99999999999999999999"), -1);
    }

    #[test]
    fn zmpop_arguments() {
        let p = parse_zmpop(&argv("zmpop 2 a b MIN"), 1).unwrap();
        assert_eq!(
            p,
            ZmpopArgs {
                first_key: 2,
                numkeys: 2,
                max: false,
                count: 1
            }
        );
        assert_eq!(p.keys(&argv("zmpop 2 a b MIN")), argv("a b"));
        let p = parse_zmpop(&argv("bzmpop 0.5 1 a max COUNT 7"), 2).unwrap();
        assert_eq!((p.first_key, p.numkeys, p.max, p.count), (3, 1, true, 7));
        let err = |s: &str| parse_zmpop(&argv(s), 1).unwrap_err();
        let numkeys = CmdError::Static("ERR numkeys should be greater than 0");
        assert_eq!(err("zmpop 0 a min"), numkeys);
        assert_eq!(err("zmpop x a min"), numkeys);
        assert_eq!(err("zmpop 2 a min"), CmdError::Syntax);
        assert_eq!(err("zmpop 9223372036854775807 a min"), CmdError::Syntax);
        assert_eq!(err("zmpop 1 a mid"), CmdError::Syntax);
        assert_eq!(err("zmpop 1 a min count 1 count 2"), CmdError::Syntax);
        assert_eq!(err("zmpop 1 a min count"), CmdError::Syntax);
        assert_eq!(
            err("zmpop 1 a min count 0"),
            CmdError::Static("ERR count should be greater than 0")
        );
    }
}
