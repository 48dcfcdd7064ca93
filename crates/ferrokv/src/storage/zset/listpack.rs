//! The small form of a sorted set (Redis's `listpack` encoding): one contiguous buffer of
//! `(member, score)` entries sorted by (score, member bytes), one allocation per set.
//!
//! Entry layout: a header byte, the member bytes, then the score unless the header elides
//! it. The header holds the member's length and how the score is stored:
//!
//! * `0x00..=0x3F`: member length 0..63, the score follows;
//! * `0x40..=0x7F`: member length 0..63, the score equals the previous entry's score (0 for
//!   the first entry): sets with a single score (lex ranges) store no scores at all;
//! * `0x80..=0xBF`: member length 0..63, the score is the previous entry's plus 1 (ranks,
//!   counters: `ZADD k 1 m1 2 m2 ...`);
//! * `0xC0..=0xC2`: the same three kinds for longer members, whose length follows (LEB128).
//!
//! A stored score takes one to nine bytes. Like Redis's listpack (which stores integral
//! scores as integers), small integral scores take a single byte:
//!
//! * `0x00..=0xDF`: the integer `tag - 32` (-32..=191);
//! * `0xE1..=0xE7`: a little-endian two's complement integer of `tag - 0xE0` bytes (used for
//!   integral scores up to 2^53 in magnitude, which convert exactly);
//! * `0xF0`: the eight bytes of an IEEE double (any other score).
//!
//! So `ZADD k 1 member-1 ... 10 member-10` costs 9 or 10 bytes per entry. Because an
//! entry's encoding depends on its predecessor's score, inserting or removing an entry
//! re-encodes the entry that follows it.
//!
//! As in Redis, a score of -0 is stored as 0 (Redis's listpack keeps integral scores as
//! integers, and -0 converts to the integer 0).

use super::btree::cmp_entries;
use crate::storage::alloc::{grow, shrink};

/// How an entry's score is stored (the header's kind).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Stored after the member.
    Explicit = 0,
    /// Equal to the previous entry's score.
    Same = 1,
    /// The previous entry's score plus 1.
    Next = 2,
}

/// Headers below this hold the member length in their low 6 bits.
const SHORT_LIMIT: u8 = 0xC0;
/// Longest member with a one-byte header.
const SHORT_MAX_LEN: usize = 63;
/// Long headers: `LONG_BASE + kind`, then the length.
const LONG_BASE: u8 = 0xC0;

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

/// How `score` is stored after an entry scored `prev`.
fn kind_for(score: f64, prev: f64) -> Kind {
    if score.to_bits() == prev.to_bits() {
        Kind::Same
    } else if (prev + 1.0).to_bits() == score.to_bits() {
        Kind::Next
    } else {
        Kind::Explicit
    }
}

/// Bytes of an entry.
fn entry_len(member: &[u8], score: f64, prev: f64) -> usize {
    let header = if member.len() <= SHORT_MAX_LEN {
        1
    } else {
        1 + varint_len(member.len())
    };
    let score_bytes = match kind_for(score, prev) {
        Kind::Explicit => score_len(score),
        Kind::Same | Kind::Next => 0,
    };
    header + member.len() + score_bytes
}

/// Append an entry (`score` already normalized) that follows an entry scored `prev`.
fn put_entry(buf: &mut Vec<u8>, member: &[u8], score: f64, prev: f64) {
    let kind = kind_for(score, prev);
    if member.len() <= SHORT_MAX_LEN {
        buf.push(((kind as u8) << 6) | member.len() as u8);
    } else {
        buf.push(LONG_BASE + kind as u8);
        put_varint(buf, member.len());
    }
    buf.extend_from_slice(member);
    if kind == Kind::Explicit {
        put_score(buf, score);
    }
}

/// One entry and where it sits in the buffer.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// The member.
    pub member: &'a [u8],
    /// Its score.
    pub score: f64,
    /// The previous entry's score (0 for the first entry).
    prev: f64,
    /// Offset of the entry's first byte.
    start: usize,
    /// Offset just past the entry.
    end: usize,
}

/// The entry starting at `pos`, after an entry scored `prev`.
fn entry_at(buf: &[u8], pos: usize, prev: f64) -> Option<Entry<'_>> {
    let h = *buf.get(pos)?;
    let (kind, len, p) = if h < SHORT_LIMIT {
        (h >> 6, (h & 0x3f) as usize, pos + 1)
    } else {
        let (len, p) = read_varint(buf, pos + 1)?;
        (h - LONG_BASE, len, p)
    };
    let mend = p.checked_add(len)?;
    let member = buf.get(p..mend)?;
    let (score, end) = match kind {
        0 => read_score(buf, mend)?,
        1 => (prev, mend),
        2 => (prev + 1.0, mend),
        _ => return None,
    };
    Some(Entry {
        member,
        score,
        prev,
        start: pos,
        end,
    })
}

/// Iterator over a listpack's entries in order.
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
    prev: f64,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Entry<'a>;

    #[inline]
    fn next(&mut self) -> Option<Entry<'a>> {
        let e = entry_at(self.buf, self.pos, self.prev)?;
        self.pos = e.end;
        self.prev = e.score;
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
    /// An empty listpack (a constant).
    pub const EMPTY: Listpack = Listpack {
        buf: Vec::new(),
        len: 0,
    };

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
            prev: 0.0,
        }
    }

    /// The entry of `member` and its rank.
    pub fn find(&self, member: &[u8]) -> Option<(usize, Entry<'_>)> {
        self.iter().enumerate().find(|(_, e)| e.member == member)
    }

    /// The entry at `rank`.
    pub fn get(&self, rank: usize) -> Option<Entry<'_>> {
        self.iter().nth(rank)
    }

    /// A listpack of `entries`, which must be sorted by (score, member) and distinct.
    pub fn from_sorted<'a>(entries: impl Iterator<Item = (&'a [u8], f64)> + Clone) -> Listpack {
        let mut prev = 0.0;
        let mut bytes = 0;
        for (m, s) in entries.clone() {
            let s = normalize(s);
            bytes += entry_len(m, s, prev);
            prev = s;
        }
        let mut buf = Vec::with_capacity(bytes);
        let mut len = 0;
        prev = 0.0;
        for (m, s) in entries {
            let s = normalize(s);
            put_entry(&mut buf, m, s, prev);
            prev = s;
            len += 1;
        }
        Listpack { buf, len }
    }

    /// Replace the bytes `start..end` with `new`, the capacity following jemalloc's size
    /// classes (Redis reallocs its listpack to the exact length, which jemalloc rounds the
    /// same way; shrinking keeps some slack so that a delete/insert cycle does not realloc
    /// every time).
    fn splice(&mut self, start: usize, end: usize, new: &[u8]) {
        if start > end || end > self.buf.len() {
            return;
        }
        if new.len() > end - start {
            grow(&mut self.buf, new.len() - (end - start));
        }
        self.buf.splice(start..end, new.iter().copied());
        shrink(&mut self.buf);
    }

    /// Insert an absent member at its place in the order.
    pub fn insert_new(&mut self, member: &[u8], score: f64) {
        let score = normalize(score);
        let next = self
            .iter()
            .find(|e| cmp_entries(e.score, e.member, score, member).is_gt());
        let mut enc = Vec::with_capacity(entry_len(member, score, 0.0) + 9);
        match next {
            // The new entry takes the place of `e`, which is re-encoded after it.
            Some(e) => {
                put_entry(&mut enc, member, score, e.prev);
                put_entry(&mut enc, e.member, e.score, score);
                let (start, end) = (e.start, e.end);
                self.splice(start, end, &enc);
            }
            None => {
                let prev = self.iter().last().map_or(0.0, |e| e.score);
                put_entry(&mut enc, member, score, prev);
                let at = self.buf.len();
                self.splice(at, at, &enc);
            }
        }
        self.len += 1;
    }

    /// Remove the entries of ranks `lo..hi`; how many were removed.
    pub fn remove_range(&mut self, lo: usize, hi: usize) -> usize {
        let hi = hi.min(self.len());
        if lo >= hi {
            return 0;
        }
        let mut first = None;
        let mut after = None;
        for (i, e) in self.iter().enumerate().skip(lo) {
            if i == lo {
                first = Some((e.start, e.prev));
            }
            if i == hi {
                after = Some(e);
                break;
            }
        }
        let Some((start, prev)) = first else {
            return 0;
        };
        // The entry after the range now follows the entry before it: re-encode it.
        let mut enc = Vec::new();
        let end = match after {
            Some(e) => {
                put_entry(&mut enc, e.member, e.score, prev);
                e.end
            }
            None => self.buf.len(),
        };
        self.splice(start, end, &enc);
        self.len = self.len.saturating_sub((hi - lo) as u32);
        hi - lo
    }

    /// Remove `member`; its score when it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (rank, e) = self.find(member)?;
        let score = e.score;
        self.remove_range(rank, rank + 1);
        Some(score)
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.buf.capacity()
    }
}

/// The most entries, and bytes, of a listpack kept in its key's record (one byte each).
pub const PACKED_MAX: usize = u8::MAX as usize;

/// A small sorted set's listpack as it sits in its key's record (see `slab.rs`): the
/// entry bytes (the same encoding as [`Listpack`]'s buffer) and their number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedZSet<'a> {
    /// The entries, back to back.
    pub data: &'a [u8],
    /// Their number.
    pub count: usize,
}

impl<'a> PackedZSet<'a> {
    /// The entries in order.
    #[inline]
    pub fn iter(self) -> Iter<'a> {
        Iter {
            buf: self.data,
            pos: 0,
            prev: 0.0,
        }
    }

    /// The entry of `member` and its rank (read in place: ZADD of an unchanged score,
    /// ZSCORE, ZRANK on a set in its key's record decode nothing).
    #[inline]
    pub fn find(self, member: &[u8]) -> Option<(usize, Entry<'a>)> {
        self.iter().enumerate().find(|(_, e)| e.member == member)
    }

    /// The score of `member`.
    #[inline]
    pub fn score(self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|(_, e)| e.score)
    }

    /// The rank (0-based, lowest score first) of `member`.
    #[inline]
    pub fn rank(self, member: &[u8]) -> Option<usize> {
        self.find(member).map(|(i, _)| i)
    }

    /// An owned listpack of these entries (allocated to its size class).
    pub fn to_listpack(self) -> Listpack {
        let mut lp = Listpack::default();
        lp.load_packed(self, 0);
        lp
    }
}

/// The encoding of a (normalized) score: its bytes and how many of them are used.
fn score_bytes(score: f64) -> ([u8; 9], usize) {
    let mut out = [0u8; 9];
    match as_int(score) {
        Some(i) if (-SMALL_BIAS..=SMALL_MAX_TAG as i64 - SMALL_BIAS).contains(&i) => {
            out[0] = (i + SMALL_BIAS) as u8;
            (out, 1)
        }
        Some(i) => {
            let n = int_bytes(i);
            out[0] = INT_TAG + n as u8;
            out[1..=n].copy_from_slice(&i.to_le_bytes()[..n]);
            (out, 1 + n)
        }
        None => {
            out[0] = F64_TAG;
            out[1..].copy_from_slice(&score.to_bits().to_le_bytes());
            (out, 9)
        }
    }
}

/// Rewrite the entry at `start` (member length `mlen`, after an entry scored `prev`) for
/// the score `score`, in place: its header's kind and its score bytes. The caller has
/// checked that the new encoding has the entry's current length.
fn rewrite_entry(data: &mut [u8], start: usize, mlen: usize, score: f64, prev: f64) -> bool {
    let kind = kind_for(score, prev) as u8;
    let Some(h) = data.get_mut(start) else {
        return false;
    };
    let mut at = start + 1 + mlen;
    if *h < SHORT_LIMIT {
        *h = (kind << 6) | (*h & 0x3f);
    } else {
        *h = LONG_BASE + kind;
        at += varint_len(mlen);
    }
    if kind == Kind::Explicit as u8 {
        let (bytes, n) = score_bytes(score);
        let (Some(to), Some(from)) = (data.get_mut(at..at + n), bytes.get(..n)) else {
            return false;
        };
        to.copy_from_slice(from);
    }
    true
}

/// Give `member` of the packed entries `data` the score `score` without moving or
/// resizing anything, where that is possible: the member keeps its rank (it still sorts
/// between its neighbours) and both its entry and the next one (whose encoding depends
/// on this score) keep their byte length. False, with nothing written, otherwise (or when
/// `member` is absent): the caller then edits a decoded copy.
pub fn rescore_in_place(data: &mut [u8], member: &[u8], score: f64) -> bool {
    let score = normalize(score);
    // (start, member length, previous score) of the entry and of the next one (with its
    // score), read before anything is written.
    let (this, next) = {
        let mut it = Iter {
            buf: data,
            pos: 0,
            prev: 0.0,
        };
        let mut before: Option<Entry<'_>> = None;
        let e = loop {
            let Some(e) = it.next() else {
                return false;
            };
            if e.member == member {
                break e;
            }
            before = Some(e);
        };
        if before.is_some_and(|b| !cmp_entries(b.score, b.member, score, member).is_lt()) {
            return false;
        }
        if entry_len(member, score, e.prev) != e.end - e.start {
            return false;
        }
        let next = match it.next() {
            Some(n) => {
                if !cmp_entries(score, member, n.score, n.member).is_lt()
                    || entry_len(n.member, n.score, score) != n.end - n.start
                {
                    return false;
                }
                Some((n.start, n.member.len(), n.score))
            }
            None => None,
        };
        ((e.start, e.prev), next)
    };
    if !rewrite_entry(data, this.0, member.len(), score, this.1) {
        return false;
    }
    match next {
        Some((start, mlen, s)) => rewrite_entry(data, start, mlen, s, score),
        None => true,
    }
}

impl Listpack {
    /// The record form of this listpack: None when it has more than [`PACKED_MAX`]
    /// entries or bytes.
    #[inline]
    pub fn packed(&self) -> Option<PackedZSet<'_>> {
        (self.len() <= PACKED_MAX && self.buf.len() <= PACKED_MAX).then_some(PackedZSet {
            data: &self.buf,
            count: self.len(),
        })
    }

    /// Make this listpack the packed one `p`, reusing its buffer (a table decodes every
    /// edited small set into the same value), with room for `extra` more bytes.
    #[inline]
    pub fn load_packed(&mut self, p: PackedZSet<'_>, extra: usize) {
        self.buf.clear();
        // The reused buffer has room but for the first load of a table or a bigger set.
        if self.buf.capacity() < p.data.len() + extra {
            grow(&mut self.buf, p.data.len() + extra);
        }
        self.buf.extend_from_slice(p.data);
        self.len = p.count.min(u32::MAX as usize) as u32;
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

    fn members(lp: &Listpack) -> Vec<(Vec<u8>, f64)> {
        lp.iter().map(|e| (e.member.to_vec(), e.score)).collect()
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
        assert_eq!(members(&lp), [(b"z".to_vec(), -1.0), (b"c".to_vec(), 2.0)]);
        assert_eq!(lp.get(1).map(|e| e.member), Some(&b"c"[..]));
        // -0 is stored as 0.
        lp.insert_new(b"neg0", -0.0);
        assert!(lp.find(b"neg0").unwrap().1.score.is_sign_positive());
    }

    #[test]
    fn elided_scores_survive_neighbour_changes() {
        // 1, 2, 3... and equal scores are elided: one header byte per entry.
        let mut lp = Listpack::default();
        for i in 1..=10 {
            lp.insert_new(format!("member-{}", i).as_bytes(), i as f64);
        }
        assert_eq!(lp.buf.len(), 10 + 9 * 8 + 9);
        let mut lex = Listpack::default();
        for m in ["d", "b", "a", "c"] {
            lex.insert_new(m.as_bytes(), 0.0);
        }
        assert_eq!(lex.buf.len(), 8);
        // Removing or inserting in the middle re-encodes the follower.
        let mut model: Vec<(Vec<u8>, f64)> = members(&lp);
        let check = |lp: &Listpack, model: &Vec<(Vec<u8>, f64)>| {
            assert_eq!(&members(lp), model);
            assert_eq!(lp.len(), model.len());
        };
        lp.remove(b"member-5");
        model.retain(|(m, _)| m != b"member-5");
        check(&lp, &model);
        lp.insert_new(b"member-5", 4.0);
        model.insert(4, (b"member-5".to_vec(), 4.0));
        check(&lp, &model);
        lp.insert_new(b"first", -7.0);
        model.insert(0, (b"first".to_vec(), -7.0));
        check(&lp, &model);
        lp.remove(b"first");
        model.remove(0);
        check(&lp, &model);
        assert_eq!(lp.remove_range(0, 3), 3);
        model.drain(0..3);
        check(&lp, &model);
        let long = vec![b'x'; 100];
        lp.insert_new(&long, 4.0);
        model.insert(2, (long.clone(), 4.0));
        check(&lp, &model);
        assert_eq!(lp.remove_range(1, 100), model.len() - 1);
        model.truncate(1);
        check(&lp, &model);
        let built = Listpack::from_sorted(model.iter().map(|(m, s)| (m.as_slice(), *s)));
        assert_eq!(built, lp);
    }

    /// `rescore_in_place` against a remove and re-insert: where it writes, the bytes are
    /// exactly the re-inserted listpack's; where it declines, nothing changed.
    #[test]
    fn rescore_in_place_matches_reinsertion() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let scores = [
            0.0, -0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 191.0, 192.0, 1000.0, 1001.0, 1.5, 2.5, -40.0,
        ];
        let mut in_place = 0;
        for _ in 0..20_000 {
            let mut lp = Listpack::default();
            let n = rng.gen_range(1..6);
            for _ in 0..n {
                let m = format!("m{}", rng.gen_range(0..8)).into_bytes();
                if lp.find(&m).is_none() {
                    lp.insert_new(&m, scores[rng.gen_range(0..scores.len())]);
                }
            }
            let m = lp
                .get(rng.gen_range(0..lp.len()))
                .map(|e| e.member.to_vec())
                .unwrap();
            let new = scores[rng.gen_range(0..scores.len())];
            let mut expect = lp.clone();
            expect.remove(&m);
            expect.insert_new(&m, new);
            let mut bytes = lp.buf.clone();
            if rescore_in_place(&mut bytes, &m, new) {
                in_place += 1;
                assert_eq!(bytes, expect.buf, "{lp:?} {m:?} -> {new}");
            } else {
                assert_eq!(bytes, lp.buf);
            }
        }
        assert!(in_place > 1000, "{in_place}");
        // The benchmark's shape: one member, scores of the same size.
        let mut lp = Listpack::default();
        lp.insert_new(b"member", 1000.0);
        assert!(rescore_in_place(&mut lp.buf, b"member", 1999.0));
        assert_eq!(lp.iter().next().map(|e| e.score), Some(1999.0));
        assert!(!rescore_in_place(&mut lp.buf, b"member", 5.0));
        assert!(!rescore_in_place(&mut lp.buf, b"absent", 1999.0));
        // A rank change is never written in place.
        let mut lp = Listpack::default();
        for (m, sc) in [(&b"a"[..], 10.0), (b"b", 50.0), (b"c", 100.0)] {
            lp.insert_new(m, sc);
        }
        assert!(rescore_in_place(&mut lp.buf, b"b", 60.0));
        assert!(!rescore_in_place(&mut lp.buf, b"b", 150.0));
        assert!(!rescore_in_place(&mut lp.buf, b"b", 5.0));
        assert_eq!(
            members(&lp),
            vec![
                (b"a".to_vec(), 10.0),
                (b"b".to_vec(), 60.0),
                (b"c".to_vec(), 100.0)
            ]
        );
    }
}
