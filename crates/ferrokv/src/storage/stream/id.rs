//! Stream entry IDs: `<ms>-<seq>`, two unsigned 64-bit numbers ordered as a pair.

use std::fmt;

/// A stream entry ID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// A new ID.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID (`streamIncrID`), None past the maximum.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID (`streamDecrID`), None below `0-0`.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// True for `0-0`.
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// Parse `<ms>` or `<ms>-<seq>`; a missing sequence becomes `missing_seq`. Numbers are
    /// unsigned decimal as Redis's `string2ull` reads them. Returns the ID and whether
    /// the sequence was given.
    pub fn parse(s: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
        if s.len() > 127 {
            return None;
        }
        match s.iter().position(|&c| c == b'-') {
            None => Some((StreamId::new(parse_u64(s)?, missing_seq), false)),
            Some(dash) => {
                let ms = parse_u64(s.get(..dash)?)?;
                let seq = parse_u64(s.get(dash + 1..)?)?;
                Some((StreamId::new(ms, seq), true))
            }
        }
    }

    /// The ID as bytes, `<ms>-<seq>`.
    pub fn to_bytes(self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Redis's 16-byte big-endian key encoding (rax keys, RDB).
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// Decode [`StreamId::to_be_bytes`].
    pub fn from_be_bytes(b: &[u8]) -> Option<StreamId> {
        let ms = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let seq = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
        Some(StreamId::new(ms, seq))
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Redis's `string2ull`: a canonical integer (negative ones fail), else what C's
/// `strtoull` accepts over the whole text (leading spaces, a sign, digits; a minus sign
/// negates modulo 2^64, as strtoull does).
fn parse_u64(s: &[u8]) -> Option<u64> {
    // The argument is handled as a C string: a NUL byte ends it.
    let s = match s.iter().position(|&c| c == 0) {
        Some(n) => s.get(..n)?,
        None => s,
    };
    if let Some(v) = crate::util::parse_canonical_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while matches!(s.get(i), Some(b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')) {
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
    let digits = s.get(i..)?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format() {
        assert_eq!(
            StreamId::parse(b"5-3", 0),
            Some((StreamId::new(5, 3), true))
        );
        assert_eq!(
            StreamId::parse(b"5", u64::MAX),
            Some((StreamId::new(5, u64::MAX), false))
        );
        assert_eq!(
            StreamId::parse(b"18446744073709551615-18446744073709551615", 0),
            Some((StreamId::MAX, true))
        );
        assert_eq!(StreamId::parse(b"18446744073709551616", 0), None);
        assert_eq!(StreamId::parse(b"-1", 0), None);
        assert_eq!(StreamId::parse(b"1-", 0), None);
        assert_eq!(StreamId::parse(b"1-2-3", 0), None);
        assert_eq!(StreamId::parse(b"", 0), None);
        assert_eq!(StreamId::new(1, 2).to_string(), "1-2");
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MIN.decr(), None);
        assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
        let b = StreamId::new(7, 9).to_be_bytes();
        assert_eq!(StreamId::from_be_bytes(&b), Some(StreamId::new(7, 9)));
    }
}
