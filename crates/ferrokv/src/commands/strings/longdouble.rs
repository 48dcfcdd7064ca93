//! Redis's INCRBYFLOAT arithmetic: x87 80-bit `long double`, emulated exactly.
//!
//! Redis parses both operands with `strtold`, adds them as `long double` (64-bit mantissa on
//! x86-64) and prints the sum with `%.17Lf`, trimming trailing zeros. Doing the same in `f64`
//! gives visibly different strings (`10.5 + 0.1` is `10.6` in Redis, `10.59999999999999964`
//! with doubles), so this module implements correctly rounded (ties to even) parsing,
//! addition and fixed-point printing on an exact big-integer representation.

use std::cmp::Ordering;

/// Redis's MAX_LONG_DOUBLE_CHARS: inputs of this length or more are rejected.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;
/// Exponent of the smallest subnormal: values are `mant * 2^exp` with `exp >= EXP_MIN`.
const EXP_MIN: i64 = -16445;
/// Exponent of a 64-bit mantissa at the largest finite binade.
const EXP_MAX: i64 = 16320;
/// Digits after the point in Redis's human-friendly format (`%.17Lf`).
const FRACTION_DIGITS: u32 = 17;

/// A finite 80-bit extended precision value: `(-1)^neg * mant * 2^exp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongDouble {
    neg: bool,
    mant: u64,
    exp: i64,
}

/// Why an INCRBYFLOAT-style operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatError {
    /// An operand is not a number `strtold` accepts in full (`ERR value is not a valid float`).
    NotFloat,
    /// The sum is infinite (`ERR increment would produce NaN or Infinity`).
    NanOrInfinity,
}

/// A parsed operand: finite, or an infinity (which Redis accepts as input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parsed {
    Finite(LongDouble),
    Inf,
}

impl LongDouble {
    /// The exact value of an integer (every i64 fits in a 64-bit mantissa).
    pub fn from_i64(n: i64) -> LongDouble {
        LongDouble {
            neg: n < 0,
            mant: n.unsigned_abs(),
            exp: 0,
        }
    }

    /// Parse like Redis's `string2ld`. Infinite inputs give `Ok(None)`.
    fn parse(s: &[u8]) -> Result<Parsed, FloatError> {
        if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
            return Err(FloatError::NotFloat);
        }
        // strtold stops at an embedded NUL, and string2ld requires it to consume every
        // byte (`eptr - buf == slen`), so any NUL makes the input invalid.
        if s.contains(&0) {
            return Err(FloatError::NotFloat);
        }
        parse_strtold(s)
    }

    /// Correctly rounded sum; `None` when it overflows to infinity.
    fn add(self, other: LongDouble) -> Option<LongDouble> {
        if self.mant == 0 && other.mant == 0 {
            // IEEE: -0 + -0 = -0, any other zero sum is +0.
            return Some(LongDouble {
                neg: self.neg && other.neg,
                mant: 0,
                exp: 0,
            });
        }
        if self.mant == 0 {
            return Some(other);
        }
        if other.mant == 0 {
            return Some(self);
        }
        let base = self.exp.min(other.exp);
        let mut a = Big::from_u64(self.mant);
        a.shl(self.exp - base);
        let mut b = Big::from_u64(other.mant);
        b.shl(other.exp - base);
        if self.neg == other.neg {
            a.add(&b);
            round(self.neg, &a, base, false)
        } else {
            match a.cmp(&b) {
                Ordering::Equal => Some(LongDouble {
                    neg: false,
                    mant: 0,
                    exp: 0,
                }),
                Ordering::Greater => {
                    a.sub(&b);
                    round(self.neg, &a, base, false)
                }
                Ordering::Less => {
                    b.sub(&a);
                    round(other.neg, &b, base, false)
                }
            }
        }
    }

    /// Redis's `ld2string(.., LD_STR_HUMAN)`: `%.17Lf`, trailing zeros and point removed,
    /// `-0` printed as `0`.
    pub fn to_human_string(self) -> String {
        let mut out = String::new();
        if self.neg {
            out.push('-');
        }
        if self.exp >= 0 {
            let mut n = Big::from_u64(self.mant);
            n.shl(self.exp);
            out.push_str(&n.to_decimal());
        } else {
            // round(mant * 10^17 / 2^-exp), ties to even, as glibc's printf does.
            let shift = -self.exp;
            let mut t = Big::from_u64(self.mant);
            t.mul_small(10u64.pow(FRACTION_DIGITS));
            let half = t.bit(shift - 1);
            let sticky = t.any_below(shift - 1);
            t.shr(shift);
            if half && (sticky || t.bit(0)) {
                t.add(&Big::from_u64(1));
            }
            let digits = t.to_decimal();
            let width = FRACTION_DIGITS as usize + 1;
            let padded = if digits.len() < width {
                format!("{}{}", "0".repeat(width - digits.len()), digits)
            } else {
                digits
            };
            let (int_part, frac) = padded.split_at(padded.len() - FRACTION_DIGITS as usize);
            out.push_str(int_part);
            let frac = frac.trim_end_matches('0');
            if !frac.is_empty() {
                out.push('.');
                out.push_str(frac);
            }
        }
        if out == "-0" {
            out.remove(0);
        }
        out
    }
}

/// INCRBYFLOAT's computation: `current` (an integer-encoded value or the stored bytes) plus
/// the increment argument, formatted as Redis stores the result.
pub fn incr_by_float(current: Current<'_>, incr: &[u8]) -> Result<String, FloatError> {
    let value = match current {
        Current::Missing => Parsed::Finite(LongDouble::from_i64(0)),
        Current::Int(n) => Parsed::Finite(LongDouble::from_i64(n)),
        Current::Bytes(b) => LongDouble::parse(b)?,
    };
    let incr = LongDouble::parse(incr)?;
    match (value, incr) {
        (Parsed::Finite(a), Parsed::Finite(b)) => a
            .add(b)
            .map(LongDouble::to_human_string)
            .ok_or(FloatError::NanOrInfinity),
        _ => Err(FloatError::NanOrInfinity),
    }
}

/// The stored value an INCRBYFLOAT starts from.
#[derive(Clone, Copy, Debug)]
pub enum Current<'a> {
    /// No key: 0.
    Missing,
    /// An integer-encoded string.
    Int(i64),
    /// Any other string: parsed with `strtold`.
    Bytes(&'a [u8]),
}

/// `strtold` on the whole input (no leading space, nothing left over), with Redis's ERANGE
/// rules: overflow and underflow to zero are rejected, subnormal results accepted.
fn parse_strtold(s: &[u8]) -> Result<Parsed, FloatError> {
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        Some(_) => (false, s),
        None => return Err(FloatError::NotFloat),
    };
    let lower: Vec<u8> = body.iter().map(|b| b.to_ascii_lowercase()).collect();
    if lower == b"inf" || lower == b"infinity" {
        return Ok(Parsed::Inf);
    }
    if lower.starts_with(b"nan") {
        // "nan" and "nan(chars)" parse, but Redis rejects NaN.
        return Err(FloatError::NotFloat);
    }
    let value = if lower.starts_with(b"0x") {
        parse_hex(neg, &lower[2..])?
    } else {
        parse_decimal(neg, &lower)?
    };
    Ok(Parsed::Finite(value))
}

/// Digits of a mantissa with an optional point: (digits without the point, digits after it).
/// Fails if there are no digits at all.
fn split_mantissa(s: &[u8], is_digit: fn(u8) -> bool) -> Option<(Vec<u8>, usize, usize)> {
    let mut digits = Vec::new();
    let mut frac = 0usize;
    let mut seen_point = false;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if is_digit(c) {
            digits.push(c);
            if seen_point {
                frac += 1;
            }
        } else if c == b'.' && !seen_point {
            seen_point = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits.is_empty() {
        return None;
    }
    Some((digits, frac, i))
}

/// An exponent suffix (`e-12` / `p+3`): must be complete and end the input. Saturates.
fn parse_exponent(s: &[u8], marker: u8) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    if s[0] != marker {
        return None;
    }
    let (neg, digits) = match s.get(1) {
        Some(b'-') => (true, &s[2..]),
        Some(b'+') => (false, &s[2..]),
        _ => (false, &s[1..]),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        v = (v * 10 + (d - b'0') as i64).min(1_000_000_000);
    }
    Some(if neg { -v } else { v })
}

fn parse_decimal(neg: bool, s: &[u8]) -> Result<LongDouble, FloatError> {
    let (digits, frac, used) =
        split_mantissa(s, |c| c.is_ascii_digit()).ok_or(FloatError::NotFloat)?;
    let exp10 = parse_exponent(&s[used..], b'e').ok_or(FloatError::NotFloat)?;
    let first = digits.iter().position(|&d| d != b'0');
    let Some(first) = first else {
        return Ok(LongDouble {
            neg,
            mant: 0,
            exp: 0,
        });
    };
    let digits = &digits[first..];
    let k = exp10 - frac as i64;
    // Magnitude is about 10^(len + k): decide far-out values without big arithmetic.
    let magnitude = digits.len() as i64 + k;
    if magnitude > 4940 {
        return Err(FloatError::NotFloat); // overflow: HUGE_VAL with ERANGE
    }
    if magnitude < -4960 {
        return Err(FloatError::NotFloat); // underflow to zero with ERANGE
    }
    let mut d = Big::zero();
    for chunk in digits.chunks(19) {
        let mut v = 0u64;
        for &c in chunk {
            v = v * 10 + (c - b'0') as u64;
        }
        d.mul_small(10u64.pow(chunk.len() as u32));
        d.add(&Big::from_u64(v));
    }
    let rounded = if k >= 0 {
        d.mul_pow10(k as u32);
        round(neg, &d, 0, false)
    } else {
        let mut den = Big::from_u64(1);
        den.mul_pow10((-k) as u32);
        let shift = (den.bit_len() as i64 - d.bit_len() as i64 + 66).max(0);
        d.shl(shift);
        let (q, inexact) = d.div_small_quotient(&den);
        round(neg, &q, -shift, inexact)
    };
    finish(rounded)
}

fn parse_hex(neg: bool, s: &[u8]) -> Result<LongDouble, FloatError> {
    let (digits, frac, used) =
        split_mantissa(s, |c| c.is_ascii_hexdigit()).ok_or(FloatError::NotFloat)?;
    let exp2 = parse_exponent(&s[used..], b'p').ok_or(FloatError::NotFloat)?;
    let mut n = Big::zero();
    for &c in &digits {
        let v = (c as char).to_digit(16).unwrap_or(0) as u64;
        n.mul_small(16);
        n.add(&Big::from_u64(v));
    }
    if n.is_zero() {
        return Ok(LongDouble {
            neg,
            mant: 0,
            exp: 0,
        });
    }
    let e = exp2 - 4 * frac as i64;
    let top = n.bit_len() as i64 + e;
    if !(-16500..=16400).contains(&top) {
        return Err(FloatError::NotFloat);
    }
    finish(round(neg, &n, e, false))
}

/// Apply strtold's ERANGE rules to a rounded non-zero input.
fn finish(rounded: Option<LongDouble>) -> Result<LongDouble, FloatError> {
    match rounded {
        Some(v) if v.mant != 0 => Ok(v),
        _ => Err(FloatError::NotFloat),
    }
}

/// Round `(n + f) * 2^exp` (0 < f < 1 when `sticky`) to the nearest long double, ties to
/// even. `None` on overflow to infinity. When `sticky` is set, `n` must carry at least 66
/// significant bits so the rounding bit is exact.
fn round(neg: bool, n: &Big, exp: i64, sticky: bool) -> Option<LongDouble> {
    let len = n.bit_len() as i64;
    if len == 0 {
        return Some(LongDouble {
            neg,
            mant: 0,
            exp: 0,
        });
    }
    // Drop bits so that 64 remain, or fewer to stay at or above the subnormal exponent.
    let mut drop = len - 64;
    if exp + drop < EXP_MIN {
        drop = EXP_MIN - exp;
    }
    let (mant, e) = if drop <= 0 {
        (n.low_u64_shifted(0) << (-drop) as u32, exp + drop)
    } else {
        let kept = n.low_u64_shifted(drop);
        let half = n.bit(drop - 1);
        let rest = sticky || n.any_below(drop - 1);
        let mut m = kept as u128;
        if half && (rest || m & 1 == 1) {
            m += 1;
        }
        let mut e = exp + drop;
        if m >> 64 != 0 {
            m >>= 1;
            e += 1;
        }
        (m as u64, e)
    };
    if mant == 0 {
        return Some(LongDouble {
            neg,
            mant: 0,
            exp: 0,
        });
    }
    let top = 64 - mant.leading_zeros() as i64 + e;
    if top > EXP_MAX + 64 {
        return None;
    }
    Some(LongDouble { neg, mant, exp: e })
}

/// A minimal unsigned big integer (little-endian 64-bit limbs), enough for exact parsing,
/// addition and printing of long doubles.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big {
    limbs: Vec<u64>,
}

impl Big {
    fn zero() -> Big {
        Big { limbs: Vec::new() }
    }

    fn from_u64(v: u64) -> Big {
        let mut b = Big { limbs: vec![v] };
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    fn bit_len(&self) -> u64 {
        match self.limbs.last() {
            None => 0,
            Some(&top) => self.limbs.len() as u64 * 64 - top.leading_zeros() as u64,
        }
    }

    /// Bit `i` (false for negative `i` or beyond the top).
    fn bit(&self, i: i64) -> bool {
        if i < 0 {
            return false;
        }
        let (limb, off) = ((i / 64) as usize, (i % 64) as u32);
        self.limbs.get(limb).is_some_and(|l| (l >> off) & 1 == 1)
    }

    /// True when any bit below position `i` is set.
    fn any_below(&self, i: i64) -> bool {
        if i <= 0 {
            return false;
        }
        let (limb, off) = ((i / 64) as usize, (i % 64) as u32);
        let full = limb.min(self.limbs.len());
        if self.limbs[..full].iter().any(|&l| l != 0) {
            return true;
        }
        off > 0
            && self
                .limbs
                .get(limb)
                .is_some_and(|l| l & ((1u64 << off) - 1) != 0)
    }

    /// The 64 bits starting at bit `shift`.
    fn low_u64_shifted(&self, shift: i64) -> u64 {
        let shift = shift.max(0);
        let (limb, off) = ((shift / 64) as usize, (shift % 64) as u32);
        let lo = self.limbs.get(limb).copied().unwrap_or(0);
        let hi = self.limbs.get(limb + 1).copied().unwrap_or(0);
        if off == 0 {
            lo
        } else {
            (lo >> off) | (hi << (64 - off))
        }
    }

    fn shl(&mut self, bits: i64) {
        if bits <= 0 || self.is_zero() {
            return;
        }
        let (limbs, off) = ((bits / 64) as usize, (bits % 64) as u32);
        if off > 0 {
            let mut carry = 0u64;
            for l in self.limbs.iter_mut() {
                let next = *l >> (64 - off);
                *l = (*l << off) | carry;
                carry = next;
            }
            if carry != 0 {
                self.limbs.push(carry);
            }
        }
        if limbs > 0 {
            self.limbs.splice(0..0, std::iter::repeat_n(0, limbs));
        }
    }

    fn shr(&mut self, bits: i64) {
        if bits <= 0 {
            return;
        }
        let (limbs, off) = ((bits / 64) as usize, (bits % 64) as u32);
        if limbs >= self.limbs.len() {
            self.limbs.clear();
            return;
        }
        self.limbs.drain(0..limbs);
        if off > 0 {
            let n = self.limbs.len();
            for i in 0..n {
                let hi = if i + 1 < n { self.limbs[i + 1] } else { 0 };
                self.limbs[i] = (self.limbs[i] >> off) | (hi << (64 - off));
            }
        }
        self.trim();
    }

    fn mul_small(&mut self, m: u64) {
        let mut carry = 0u128;
        for l in self.limbs.iter_mut() {
            let v = *l as u128 * m as u128 + carry;
            *l = v as u64;
            carry = v >> 64;
        }
        if carry != 0 {
            self.limbs.push(carry as u64);
        }
        self.trim();
    }

    fn mul_pow10(&mut self, mut k: u32) {
        while k >= 19 {
            self.mul_small(10u64.pow(19));
            k -= 19;
        }
        if k > 0 {
            self.mul_small(10u64.pow(k));
        }
    }

    fn add(&mut self, other: &Big) {
        if self.limbs.len() < other.limbs.len() {
            self.limbs.resize(other.limbs.len(), 0);
        }
        let mut carry = false;
        for (i, l) in self.limbs.iter_mut().enumerate() {
            let o = other.limbs.get(i).copied().unwrap_or(0);
            if o == 0 && !carry && i >= other.limbs.len() {
                break;
            }
            let (s1, c1) = l.overflowing_add(o);
            let (s2, c2) = s1.overflowing_add(carry as u64);
            *l = s2;
            carry = c1 || c2;
        }
        if carry {
            self.limbs.push(1);
        }
    }

    /// `self -= other`; requires `self >= other`.
    fn sub(&mut self, other: &Big) {
        let mut borrow = false;
        for (i, l) in self.limbs.iter_mut().enumerate() {
            let o = other.limbs.get(i).copied().unwrap_or(0);
            if o == 0 && !borrow && i >= other.limbs.len() {
                break;
            }
            let (s1, b1) = l.overflowing_sub(o);
            let (s2, b2) = s1.overflowing_sub(borrow as u64);
            *l = s2;
            borrow = b1 || b2;
        }
        self.trim();
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }

    /// `(self / den, remainder != 0)` by binary long division; meant for quotients of a
    /// few dozen bits (the caller scales `self` so the quotient has about 66 bits).
    fn div_small_quotient(&self, den: &Big) -> (Big, bool) {
        let mut rem = self.clone();
        let mut q = Big::zero();
        if den.is_zero() {
            return (q, false);
        }
        let qbits = self.bit_len() as i64 - den.bit_len() as i64;
        if qbits < 0 {
            return (q, !rem.is_zero());
        }
        let mut d = den.clone();
        d.shl(qbits);
        for i in (0..=qbits).rev() {
            if rem.cmp(&d) != Ordering::Less {
                rem.sub(&d);
                let mut bit = Big::from_u64(1);
                bit.shl(i);
                q.add(&bit);
            }
            d.shr(1);
        }
        (q, !rem.is_zero())
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".into();
        }
        const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            let mut rem = 0u128;
            for l in n.limbs.iter_mut().rev() {
                let cur = (rem << 64) | *l as u128;
                *l = (cur / CHUNK as u128) as u64;
                rem = cur % CHUNK as u128;
            }
            n.trim();
            chunks.push(rem as u64);
        }
        let mut out = String::new();
        for (i, c) in chunks.iter().rev().enumerate() {
            if i == 0 {
                out.push_str(&c.to_string());
            } else {
                out.push_str(&format!("{:019}", c));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(cur: &str, by: &str) -> Result<String, FloatError> {
        incr_by_float(Current::Bytes(cur.as_bytes()), by.as_bytes())
    }

    #[test]
    fn sums_like_redis() {
        assert_eq!(incr("10.5", "0.1").as_deref(), Ok("10.6"));
        assert_eq!(incr("1", "3.0e3").as_deref(), Ok("3001"));
        assert_eq!(
            incr("0", "0.333333333333333333333").as_deref(),
            Ok("0.33333333333333333")
        );
        assert_eq!(incr("0", "1.5e-7").as_deref(), Ok("0.00000015"));
        assert_eq!(incr("0", "-.5").as_deref(), Ok("-0.5"));
        assert_eq!(incr("0", "-1e-20").as_deref(), Ok("0"));
        assert_eq!(incr("0", "0x1.8").as_deref(), Ok("1.5"));
        assert_eq!(incr("0", "0X1P3").as_deref(), Ok("8"));
        assert_eq!(
            incr("0", "123456789012345678901234567890").as_deref(),
            Ok("123456789012345678899921813504")
        );
        assert_eq!(
            incr("0", "1e300").map(|s| s[..40].to_string()).as_deref(),
            Ok("1000000000000000000008997324079559193870")
        );
    }

    #[test]
    fn human_format() {
        // Values checked against redis-server 7.0.15.
        assert_eq!(incr("0", "5.0e-5").as_deref(), Ok("0.00005"));
        assert_eq!(incr("0", "-0").as_deref(), Ok("0"));
        assert_eq!(incr("-0", "-0").as_deref(), Ok("0"));
        assert_eq!(incr("1e308", "1e308").map(|s| s.len()), Ok(309));
        assert_eq!(incr("0.1", "0.2").as_deref(), Ok("0.3"));
        assert_eq!(incr("0", "1e-17").as_deref(), Ok("0.00000000000000001"));
        assert_eq!(incr("0", "5e-18").as_deref(), Ok("0"));
        assert_eq!(incr("1.1", "2.2").as_deref(), Ok("3.3"));
        assert_eq!(incr("1.5", "-1.5").as_deref(), Ok("0"));
        assert_eq!(incr("0", "0xA.Bp-2").as_deref(), Ok("2.671875"));
        assert_eq!(LongDouble::from_i64(-3).to_human_string(), "-3");
    }

    #[test]
    fn overflow_to_infinity() {
        let max = "1.18973149535723176502e+4932";
        assert_eq!(incr(max, max), Err(FloatError::NanOrInfinity));
        assert_eq!(incr(max, &format!("-{max}")).as_deref(), Ok("0"));
    }

    #[test]
    fn ranges_like_strtold() {
        assert_eq!(incr("0", "1e-4950").as_deref(), Ok("0"));
        assert_eq!(incr("0", "0x1p-16445").as_deref(), Ok("0"));
        assert_eq!(incr("0", "0x1p-16446"), Err(FloatError::NotFloat));
        assert_eq!(incr("0", "1e4933"), Err(FloatError::NotFloat));
        assert_eq!(incr("0", "inf"), Err(FloatError::NanOrInfinity));
        assert_eq!(incr("0", "nan"), Err(FloatError::NotFloat));
        for bad in [
            " 1", "1 ", ".", "1e", "1e+", "0x", "1_0", "", "--1", "0x1p", "1\x002",
        ] {
            assert_eq!(incr("0", bad), Err(FloatError::NotFloat), "{bad:?}");
        }
    }

    #[test]
    fn integer_base() {
        assert_eq!(
            incr_by_float(Current::Int(i64::MAX), b"1").as_deref(),
            Ok("9223372036854775808")
        );
        assert_eq!(incr_by_float(Current::Missing, b"+1").as_deref(), Ok("1"));
    }
}
