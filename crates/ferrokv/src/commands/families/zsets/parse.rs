//! Number and range parsing exactly as `t_zset.c` does it: scores with Redis's
//! `getDoubleFromObject` (C `strtod` on the whole argument, no leading space, overflow and
//! underflow to zero rejected), range ends with `zslParseRange` (`strtod` on the argument
//! as a C string, `(` for exclusive ends, anything `strtod` takes including overflowing
//! values and leading spaces), lex ends with `zslParseLexRangeItem`.

use super::CmdError;
use crate::storage::zset::{LexBound, LexRange, ScoreRange};

/// `ERR min or max is not a float`
pub const RANGE_NOT_FLOAT: CmdError = CmdError::Static("ERR min or max is not a float");
/// `ERR min or max not valid string range item`
pub const RANGE_NOT_LEX: CmdError = CmdError::Static("ERR min or max not valid string range item");

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What `strtod` makes of a prefix of `s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strtod {
    /// The value (0 when nothing was converted).
    pub value: f64,
    /// Bytes consumed (0 when nothing was converted).
    pub used: usize,
    /// `errno == ERANGE`: the value overflowed to infinity or underflowed.
    pub range_error: bool,
}

/// glibc's `strtod` on `s` (which may contain any bytes; a NUL ends the number as any other
/// non-numeric byte does): leading white space, a sign, then `inf`/`infinity`, `nan` or
/// `nan(chars)`, a hexadecimal float (`0x1.8p3`), or a decimal float.
pub fn strtod(s: &[u8]) -> Strtod {
    const NONE: Strtod = Strtod {
        value: 0.0,
        used: 0,
        range_error: false,
    };
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = &s[i..];
    let sign = |v: f64| if neg { -v } else { v };
    let starts_ic =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts_ic(b"infinity") {
        return Strtod {
            value: sign(f64::INFINITY),
            used: i + 8,
            range_error: false,
        };
    }
    if starts_ic(b"inf") {
        return Strtod {
            value: sign(f64::INFINITY),
            used: i + 3,
            range_error: false,
        };
    }
    if starts_ic(b"nan") {
        let mut used = i + 3;
        // `nan(n-char-sequence)` is taken whole when the parenthesis closes.
        if s.get(used) == Some(&b'(') {
            let mut j = used + 1;
            while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b'_') {
                j += 1;
            }
            if s.get(j) == Some(&b')') {
                used = j + 1;
            }
        }
        return Strtod {
            value: f64::NAN,
            used,
            range_error: false,
        };
    }
    let hex = rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x';
    let parsed = if hex {
        // "0x" without hex digits parses as the "0" alone.
        parse_hex(&rest[2..])
            .map(|(v, n, e)| (v, n + 2, e))
            .or(Some((0.0, 1, false)))
    } else {
        parse_decimal(rest)
    };
    match parsed {
        Some((value, n, range_error)) => Strtod {
            value: sign(value),
            used: i + n,
            range_error,
        },
        None => NONE,
    }
}

/// A decimal float at the start of `s` (no sign): (value, bytes, range error).
fn parse_decimal(s: &[u8]) -> Option<(f64, usize, bool)> {
    let digits = |from: usize| s[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let int_digits = digits(0);
    let mut end = int_digits;
    let mut frac_digits = 0;
    if s.get(end) == Some(&b'.') {
        frac_digits = digits(end + 1);
        if int_digits > 0 || frac_digits > 0 {
            end += 1 + frac_digits;
        }
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    let mantissa_end = end;
    if matches!(s.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_digits = digits(j);
        if exp_digits > 0 {
            end = j + exp_digits;
        }
    }
    let text = std::str::from_utf8(&s[..end]).ok()?;
    let value: f64 = text.parse().ok()?;
    let nonzero = s[..mantissa_end].iter().any(|b| (b'1'..=b'9').contains(b));
    let range_error = value.is_infinite() || (value == 0.0 && nonzero);
    Some((value, end, range_error))
}

/// A hexadecimal float after `0x`: (value, bytes, range error), None without digits.
fn parse_hex(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut mantissa: u64 = 0;
    let mut exp: i64 = 0;
    let mut any = false;
    let mut sticky = false;
    let mut i = 0;
    let mut seen_dot = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        any = true;
        if mantissa >> 60 == 0 {
            mantissa = mantissa * 16 + d as u64;
            if seen_dot {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !seen_dot {
                exp += 4;
            }
        }
        i += 1;
    }
    if !any {
        return None;
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let neg = match s.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let start = j;
        let mut e: i64 = 0;
        while let Some(d) = s.get(j).filter(|b| b.is_ascii_digit()) {
            e = (e * 10 + (d - b'0') as i64).min(1 << 20);
            j += 1;
        }
        if j > start {
            exp += if neg { -e } else { e };
            i = j;
        }
    }
    if sticky {
        mantissa |= 1;
    }
    let value = mantissa as f64 * 2f64.powi(exp.clamp(-2000, 2000) as i32);
    let range_error = value.is_infinite() || (value == 0.0 && mantissa != 0);
    Some((value, i, range_error))
}

/// A score, increment or weight (`getDoubleFromObject`): the whole argument must be a
/// number, without leading space, not NaN, not overflowing or underflowing to zero.
pub fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg.first().is_none_or(|&b| is_c_space(b)) {
        return None;
    }
    let r = strtod(arg);
    if r.used != arg.len() || r.value.is_nan() {
        return None;
    }
    if r.range_error && (r.value.is_infinite() || r.value == 0.0) {
        return None;
    }
    Some(r.value)
}

/// The argument as C sees it: up to its first NUL byte.
fn c_str(arg: &[u8]) -> &[u8] {
    arg.split(|&b| b == 0).next().unwrap_or_default()
}

/// One end of a score range (`zslParseRange`): (value, exclusive).
fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let s = c_str(arg);
    let (s, ex) = match s.split_first() {
        Some((b'(', rest)) => (rest, true),
        _ => (s, false),
    };
    let r = strtod(s);
    (r.used == s.len() && !r.value.is_nan()).then_some((r.value, ex))
}

/// ZRANGEBYSCORE's `min max` (`ERR min or max is not a float`).
pub fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let (min, minex) = parse_score_bound(min).ok_or(RANGE_NOT_FLOAT)?;
    let (max, maxex) = parse_score_bound(max).ok_or(RANGE_NOT_FLOAT)?;
    Ok(ScoreRange {
        min,
        max,
        minex,
        maxex,
    })
}

/// One end of a lex range (`zslParseLexRangeItem`): (bound, exclusive). `-` and `+` must
/// be alone (the C code checks the byte after them is the terminating NUL).
fn parse_lex_bound(arg: &[u8]) -> Option<(LexBound, bool)> {
    let alone = arg.get(1).is_none_or(|&b| b == 0);
    match arg.first()? {
        b'+' if alone => Some((LexBound::Max, true)),
        b'-' if alone => Some((LexBound::Min, true)),
        b'(' => Some((LexBound::Value(arg[1..].to_vec()), true)),
        b'[' => Some((LexBound::Value(arg[1..].to_vec()), false)),
        _ => None,
    }
}

/// ZRANGEBYLEX's `min max` (`ERR min or max not valid string range item`).
pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    let (min, minex) = parse_lex_bound(min).ok_or(RANGE_NOT_LEX)?;
    let (max, maxex) = parse_lex_bound(max).ok_or(RANGE_NOT_LEX)?;
    Ok(LexRange {
        min,
        max,
        minex,
        maxex,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_like_get_double_from_object() {
        let ok = |s: &str, v: f64| assert_eq!(parse_score(s.as_bytes()), Some(v), "{}", s);
        let bad = |s: &[u8]| assert_eq!(parse_score(s), None, "{:?}", s);
        ok("1", 1.0);
        ok("-1.5", -1.5);
        ok("+2", 2.0);
        ok(".5", 0.5);
        ok("5.", 5.0);
        ok("1e3", 1000.0);
        ok("1E-2", 0.01);
        ok("inf", f64::INFINITY);
        ok("-Infinity", f64::NEG_INFINITY);
        ok("+inf", f64::INFINITY);
        ok("0x10", 16.0);
        ok("0x1.8p1", 3.0);
        ok("0e-400", 0.0);
        ok("4.9e-324", 4.9e-324);
        for s in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"-nan",
            b"nan(123)",
            b"1e400",
            b"-1e400",
            b"1e-400",
            b"abc",
            b"1.2.3",
            b"1e",
            b"e1",
            b".",
            b"-",
            b"0x",
            b"1\x00",
            b"infinit",
        ] {
            bad(s);
        }
    }

    #[test]
    fn range_ends_like_zsl_parse_range() {
        let r = parse_score_range(b"(1", b"+inf").unwrap();
        assert_eq!(
            (r.min, r.minex, r.max, r.maxex),
            (1.0, true, f64::INFINITY, false)
        );
        let r = parse_score_range(b"", b"(").unwrap();
        assert_eq!((r.min, r.minex, r.max, r.maxex), (0.0, false, 0.0, true));
        let r = parse_score_range(b" 1", b"1e400").unwrap();
        assert_eq!((r.min, r.max), (1.0, f64::INFINITY));
        let r = parse_score_range(b"2\x00junk", b"((").unwrap_err();
        assert_eq!(r, RANGE_NOT_FLOAT);
        assert!(parse_score_range(b"nan", b"1").is_err());
        assert!(parse_score_range(b"1", b"(nan").is_err());
        assert!(parse_score_range(b"1 ", b"1").is_err());
        assert_eq!(parse_score_range(b"2\x00junk", b"3").unwrap().min, 2.0);
    }

    #[test]
    fn lex_ends_like_zsl_parse_lex_range_item() {
        let r = parse_lex_range(b"-", b"+").unwrap();
        assert_eq!(
            (r.min, r.minex, r.max, r.maxex),
            (LexBound::Min, true, LexBound::Max, true)
        );
        let r = parse_lex_range(b"[a", b"(b").unwrap();
        assert_eq!(r.min, LexBound::Value(b"a".to_vec()));
        assert!(!r.minex && r.maxex);
        assert_eq!(parse_lex_range(b"+\x00x", b"[").unwrap().min, LexBound::Max);
        for bad in [&b""[..], b"a", b"-a", b"++", b"1"] {
            assert_eq!(parse_lex_range(bad, b"+"), Err(RANGE_NOT_LEX));
        }
    }
}
