//! The small form of a sorted set (Redis's `listpack` encoding): one contiguous buffer of
//! `(member, score)` entries sorted by (score, member bytes), one allocation per set.
//!
//! Entry layout: the member's length (LEB128), the member bytes, then the score in one to
//! nine bytes. Like Redis's listpack (which stores integral scores as integers), small
//! integral scores take a single byte, so `ZADD k 1 member-1 ... 10 member-10` costs about
//! 11 bytes per entry:
//!
//! * `0x00..=0xDF`: the integer `tag - 32` (-32..=191);
//! * `0xE1..=0xE7`: a little-endian two's complement integer of `tag - 0xE0` bytes (used for
//!   integral scores up to 2^53 in magnitude, which convert exactly);
//! * `0xF0`: the eight bytes of an IEEE double (any other score).
//!
//! As in Redis, a score of -0 is stored as 0 (Redis's listpack keeps integral scores as
//! integers, and -0 converts to the integer 0).

use super::btree::cmp_entries;

const SMALL_BIAS: i64 = 32;
const SMALL_MAX_TAG: u8 = 0xDF;
const INT_TAG: u8 = 0xE0;
const F64_TAG: u8 = 0xF0;
/// Integral scores up to this magnitude are stored as integers (exact conversions).
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

fn put_varint(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Decode a length at `pos`: (length, position after it). None on a malformed buffer
/// (never written; checked so that a bug cannot panic).
fn read_varint(buf: &[u8], mut pos: usize) -> Option<(usize, usize)> {
    let mut n = 0usize;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(pos)?;
        pos += 1;
        n |= ((b & 0x7f) as usize).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some((n, pos));
        }
        shift += 7;
        if shift >= usize::BITS {
            return None;
        }
    }
}

/// The integer a score is stored as, when it is one.
fn as_int(score: f64) -> Option<i64> {
    (score.fract() == 0.0 && score.abs() <= MAX_EXACT_INT).then_some(score as i64)
}

/// Bytes of a (normalized) score's encoding.
fn score_len(score: f64) -> usize {
    match as_int(score) {
        Some(i) if (-SMALL_BIAS..=SMALL_MAX_TAG as i64 - SMALL_BIAS).contains(&i) => 1,
        Some(i) => 1 + int_bytes(i),
        None => 9,
    }
}

/// Bytes needed for `i` in two's complement.
fn int_bytes(i: i64) -> usize {
    let bits = if i < 0 {
        64 - (!i).leading_zeros()
    } else {
        64 - i.leading_zeros()
    } + 1;
    (bits as usize).div_ceil(8)
}

fn put_score(buf: &mut Vec<u8>, score: f64) {
    match as_int(score) {
        Some(i) if (-SMALL_BIAS..=SMALL_MAX_TAG as i64 - SMALL_BIAS).contains(&i) => {
            buf.push((i + SMALL_BIAS) as u8);
        }
        Some(i) => {
            let n = int_bytes(i);
            buf.push(INT_TAG + n as u8);
            buf.extend_from_slice(&i.to_le_bytes()[..n]);
        }
        None => {
            buf.push(F64_TAG);
            buf.extend_from_slice(&score.to_bits().to_le_bytes());
        }
    }
}

fn read_score(buf: &[u8], pos: usize) -> Option<(f64, usize)> {
    let tag = *buf.get(pos)?;
    let pos = pos + 1;
    if tag <= SMALL_MAX_TAG {
        return Some(((tag as i64 - SMALL_BIAS) as f64, pos));
    }
    if tag == F64_TAG {
        let bytes: [u8; 8] = buf.get(pos..pos + 8)?.try_into().ok()?;
        return Some((f64::from_bits(u64::from_le_bytes(bytes)), pos + 8));
    }
    let n = tag.checked_sub(INT_TAG)? as usize;
    let raw = buf.get(pos..pos + n)?;
    // Sign-extend from the top byte.
    let fill = if raw.last().is_some_and(|b| b & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut bytes = [fill; 8];
    bytes[..n].copy_from_slice(raw);
    Some((i64::from_le_bytes(bytes) as f64, pos + n))
}

/// Redis stores -0 as the integer 0 in a listpack.
#[inline]
fn normalize(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// One entry and where it sits in the buffer.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// The member.
    pub member: &'a [u8],
    /// Its score.
    pub score: f64,
    /// Offset of the entry's first byte.
    pub start: usize,
    /// Offset just past the entry.
    pub end: usize,
}

/// The entry starting at `pos`.
fn entry_at(buf: &[u8], pos: usize) -> Option<Entry<'_>> {
    let (n, p) = read_varint(buf, pos)?;
    let mend = p.checked_add(n)?;
    let member = buf.get(p..mend)?;
    let (score, end) = read_score(buf, mend)?;
    Some(Entry {
        member,
        score,
        start: pos,
        end,
    })
}

/// Iterator over a listpack's entries in order.
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Entry<'a>;

    #[inline]
    fn next(&mut self) -> Option<Entry<'a>> {
        let e = entry_at(self.buf, self.pos)?;
        self.pos = e.end;
        Some(e)
    }
}

/// A small sorted set.
#[derive(Clone, Default, PartialEq)]
pub struct Listpack {
    buf: Vec<u8>,
    len: u32,
}

impl Listpack {
    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries in order.
    #[inline]
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            pos: 0,
        }
    }

    /// The entry of `member` and its rank.
    pub fn find(&self, member: &[u8]) -> Option<(usize, Entry<'_>)> {
        self.iter().enumerate().find(|(_, e)| e.member == member)
    }

    /// Where each entry starts (for reverse walks and random access).
    pub fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.len());
        v.extend(self.iter().map(|e| e.start));
        v
    }

    /// The entry starting at byte `offset` (from [`Listpack::offsets`]).
    pub fn at(&self, offset: usize) -> Option<Entry<'_>> {
        entry_at(&self.buf, offset)
    }

    /// The entry at `rank`.
    pub fn get(&self, rank: usize) -> Option<Entry<'_>> {
        self.iter().nth(rank)
    }

    /// Append an entry that sorts after every present one (building from sorted input).
    pub fn push_sorted(&mut self, member: &[u8], score: f64) {
        let score = normalize(score);
        self.buf
            .reserve_exact(varint_len(member.len()) + member.len() + score_len(score));
        put_varint(&mut self.buf, member.len());
        self.buf.extend_from_slice(member);
        put_score(&mut self.buf, score);
        self.len += 1;
    }

    /// Insert an absent member at its place in the order.
    pub fn insert_new(&mut self, member: &[u8], score: f64) {
        let score = normalize(score);
        let at = self
            .iter()
            .find(|e| cmp_entries(e.score, e.member, score, member).is_gt())
            .map_or(self.buf.len(), |e| e.start);
        let mut enc = Vec::with_capacity(varint_len(member.len()) + member.len() + 9);
        put_varint(&mut enc, member.len());
        enc.extend_from_slice(member);
        put_score(&mut enc, score);
        // Grow by exactly what is needed, as Redis reallocs its listpack.
        self.buf.reserve_exact(enc.len());
        self.buf.splice(at..at, enc);
        self.len += 1;
    }

    /// Remove the bytes `start..end` holding `count` entries.
    fn remove_bytes(&mut self, start: usize, end: usize, count: usize) {
        if start < end && end <= self.buf.len() {
            self.buf.drain(start..end);
            self.len = self.len.saturating_sub(count as u32);
            // Give memory back as Redis's listpack does on deletion (with some slack so
            // that a delete/insert cycle does not realloc every time).
            if self.buf.capacity() > self.buf.len() + self.buf.len() / 4 + 16 {
                self.buf.shrink_to_fit();
            }
        }
    }

    /// Remove `member`; its score when it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, e) = self.find(member)?;
        let (score, start, end) = (e.score, e.start, e.end);
        self.remove_bytes(start, end, 1);
        Some(score)
    }

    /// Remove the entries of ranks `lo..hi`; how many were removed.
    pub fn remove_range(&mut self, lo: usize, hi: usize) -> usize {
        let hi = hi.min(self.len());
        if lo >= hi {
            return 0;
        }
        let mut start = None;
        let mut end = 0;
        for (i, e) in self.iter().enumerate().skip(lo).take(hi - lo) {
            if i == lo {
                start = Some(e.start);
            }
            end = e.end;
        }
        match start {
            Some(s) => {
                self.remove_bytes(s, end, hi - lo);
                hi - lo
            }
            None => 0,
        }
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.buf.capacity()
    }
}

impl std::fmt::Debug for Listpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|e| (String::from_utf8_lossy(e.member), e.score)),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_compactly() {
        for s in [
            0.0,
            1.0,
            -32.0,
            191.0,
            192.0,
            -33.0,
            255.0,
            -129.0,
            65536.0,
            -1e15,
            MAX_EXACT_INT,
            -MAX_EXACT_INT,
            MAX_EXACT_INT * 2.0,
            1.5,
            -0.25,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE / 4.0,
        ] {
            let mut buf = Vec::new();
            put_score(&mut buf, s);
            assert_eq!(buf.len(), score_len(s), "{}", s);
            let (back, end) = read_score(&buf, 0).unwrap();
            assert_eq!(back.to_bits(), s.to_bits(), "{}", s);
            assert_eq!(end, buf.len());
        }
        assert_eq!(score_len(10.0), 1);
        assert_eq!(score_len(1000.0), 3);
        assert_eq!(score_len(0.5), 9);
    }

    #[test]
    fn ordered_inserts_removals_and_ranges() {
        let mut lp = Listpack::default();
        for (m, s) in [("c", 2.0), ("a", 2.0), ("z", -1.0), ("b", 2.0), ("x", 1.5)] {
            lp.insert_new(m.as_bytes(), s);
        }
        let order: Vec<&[u8]> = lp.iter().map(|e| e.member).collect();
        assert_eq!(order, [b"z", b"x", b"a", b"b", b"c"]);
        assert_eq!(lp.find(b"b").map(|(i, e)| (i, e.score)), Some((3, 2.0)));
        assert_eq!(lp.remove(b"x"), Some(1.5));
        assert_eq!(lp.remove(b"x"), None);
        assert_eq!(lp.len(), 4);
        assert_eq!(lp.remove_range(1, 3), 2);
        let order: Vec<&[u8]> = lp.iter().map(|e| e.member).collect();
        assert_eq!(order, [b"z", b"c"]);
        assert_eq!(lp.get(1).map(|e| e.member), Some(&b"c"[..]));
        assert_eq!(lp.offsets().len(), 2);
        // -0 is stored as 0.
        lp.insert_new(b"neg0", -0.0);
        assert!(lp.find(b"neg0").unwrap().1.score.is_sign_positive());
    }
}
