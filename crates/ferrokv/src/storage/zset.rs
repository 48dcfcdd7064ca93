//! Sorted set values, in Redis 7.0's two encodings:
//!
//! * `listpack` ([`Listpack`]): one contiguous buffer of `(member, score)` sorted by
//!   (score, member bytes), used while the set holds at most `zset-max-listpack-entries`
//!   members of at most `zset-max-listpack-value` bytes;
//! * `skiplist` ([`Large`]): a member -> score hash index plus an ordered index with O(log n)
//!   rank and range queries (a counted B+tree rather than a skiplist: see `zset/btree.rs`).
//!
//! A set converts from listpack to skiplist when an insertion would exceed a threshold, as
//! Redis's `zsetAdd` does; only the STORE commands build a listpack from a large result
//! ([`ZSetValue::from_sorted`]), as Redis's `zsetConvertToListpackIfNeeded`.
//!
//! Ranges: every range query resolves to a span of ranks `lo..hi` ([`ZSetValue::score_range`],
//! [`ZSetValue::lex_range`]), then reads ([`ZSetValue::for_range`]) or removes
//! ([`ZSetValue::remove_range`]) that span.

mod btree;
mod large;
mod listpack;

use std::cmp::Ordering;

use rand::Rng;

pub use btree::cmp_entries;
pub use large::Large;
pub use listpack::{rescore_in_place, Listpack, PackedZSet, PACKED_MAX};

/// Encoding thresholds read from the config (`zset-max-listpack-entries/value`).
#[derive(Clone, Copy, Debug)]
pub struct ZSetLimits {
    /// `zset-max-listpack-entries`.
    pub max_entries: usize,
    /// `zset-max-listpack-value`.
    pub max_value: usize,
}

/// A score interval: ZRANGEBYSCORE's `min max`, each end inclusive unless `(`-prefixed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    /// Lower end.
    pub min: f64,
    /// Upper end.
    pub max: f64,
    /// The lower end is excluded.
    pub minex: bool,
    /// The upper end is excluded.
    pub maxex: bool,
}

impl ScoreRange {
    /// `value` is above the lower end.
    #[inline]
    pub fn gte_min(&self, value: f64) -> bool {
        if self.minex {
            value > self.min
        } else {
            value >= self.min
        }
    }

    /// `value` is below the upper end.
    #[inline]
    pub fn lte_max(&self, value: f64) -> bool {
        if self.maxex {
            value < self.max
        } else {
            value <= self.max
        }
    }

    /// True for ranges that hold nothing whatever the set (Redis's early check).
    #[allow(clippy::float_cmp)]
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lex range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below every string.
    Min,
    /// `+`: above every string.
    Max,
    /// `[value` or `(value`.
    Value(Vec<u8>),
}

/// A lex interval: ZRANGEBYLEX's `min max`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    /// Lower end.
    pub min: LexBound,
    /// Upper end.
    pub max: LexBound,
    /// The lower end is excluded (`(`, and always for `-`/`+`, as in Redis).
    pub minex: bool,
    /// The upper end is excluded.
    pub maxex: bool,
}

/// A member compared with a bound (Redis's `sdscmplex` with a member on the left).
fn cmp_bound(value: &[u8], bound: &LexBound) -> Ordering {
    match bound {
        LexBound::Min => Ordering::Greater,
        LexBound::Max => Ordering::Less,
        LexBound::Value(b) => value.cmp(b),
    }
}

impl LexRange {
    /// `value` is above the lower end.
    #[inline]
    pub fn gte_min(&self, value: &[u8]) -> bool {
        let c = cmp_bound(value, &self.min);
        if self.minex {
            c.is_gt()
        } else {
            c.is_ge()
        }
    }

    /// `value` is below the upper end.
    #[inline]
    pub fn lte_max(&self, value: &[u8]) -> bool {
        let c = cmp_bound(value, &self.max);
        if self.maxex {
            c.is_lt()
        } else {
            c.is_le()
        }
    }

    /// True for ranges that hold nothing whatever the set (Redis compares the two ends with
    /// `sdscmplex`: the same sentinel compares equal).
    pub fn is_empty(&self) -> bool {
        let c = match (&self.min, &self.max) {
            (LexBound::Min, LexBound::Min) | (LexBound::Max, LexBound::Max) => Ordering::Equal,
            (LexBound::Min, _) | (_, LexBound::Max) => Ordering::Less,
            (LexBound::Max, _) | (_, LexBound::Min) => Ordering::Greater,
            (LexBound::Value(a), LexBound::Value(b)) => a.cmp(b),
        };
        c.is_gt() || (c.is_eq() && (self.minex || self.maxex))
    }
}

/// A sorted set: members ordered by (score, member bytes).
#[derive(Clone, Debug)]
pub enum ZSetValue {
    /// Small sets.
    Listpack(Listpack),
    /// Large sets (`OBJECT ENCODING` says `skiplist`).
    Large(Box<Large>),
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::Listpack(Listpack::default())
    }
}

impl ZSetValue {
    /// An empty sorted set (listpack).
    pub fn new() -> ZSetValue {
        ZSetValue::default()
    }

    /// An empty sorted set in the large encoding.
    pub fn new_large() -> ZSetValue {
        ZSetValue::Large(Box::default())
    }

    /// The empty set ZADD creates for a new key: large when listpacks are disabled
    /// (`zset-max-listpack-entries 0`) or the first member is too long for one.
    pub fn for_new_key(first_member_len: usize, limits: ZSetLimits) -> ZSetValue {
        if limits.max_entries == 0 || first_member_len > limits.max_value {
            ZSetValue::new_large()
        } else {
            ZSetValue::new()
        }
    }

    /// The empty destination ZRANGESTORE fills: large when the result's known length
    /// exceeds `zset-max-listpack-entries` (`None`: unknown, as for score and lex ranges).
    pub fn for_length_hint(len: Option<usize>, limits: ZSetLimits) -> ZSetValue {
        match len {
            Some(n) if n > limits.max_entries => ZSetValue::new_large(),
            _ => ZSetValue::new(),
        }
    }

    /// A set holding `entries` (sorted by (score, member), members distinct), encoded as
    /// Redis's STORE commands leave their result: listpack when it fits the limits.
    pub fn from_sorted(entries: Vec<(Vec<u8>, f64)>, limits: ZSetLimits) -> ZSetValue {
        let longest = entries.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        if entries.len() <= limits.max_entries && longest <= limits.max_value {
            let lp = Listpack::from_sorted(entries.iter().map(|(m, s)| (m.as_slice(), *s)));
            return ZSetValue::Listpack(lp);
        }
        let mut large = Large::with_capacity(entries.len());
        for (m, s) in entries {
            large.insert_new(m.into_boxed_slice(), s);
        }
        ZSetValue::Large(Box::new(large))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Listpack(l) => l.len(),
            ZSetValue::Large(t) => t.len(),
        }
    }

    /// True when empty (an empty sorted set is deleted from the keyspace).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True in the listpack encoding.
    pub fn is_listpack(&self) -> bool {
        matches!(self, ZSetValue::Listpack(_))
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(l) => l.find(member).map(|(_, e)| e.score),
            ZSetValue::Large(t) => t.score(member),
        }
    }

    /// Add `member` or update its score; true when it was added. Converts a listpack to the
    /// large encoding when the new member would exceed `limits` (Redis's `zsetAdd`).
    pub fn insert(&mut self, member: &[u8], score: f64, limits: ZSetLimits) -> bool {
        if let ZSetValue::Listpack(lp) = self {
            if let Some((_, e)) = lp.find(member) {
                // Redis re-inserts only when the score changed (0 and -0 are equal).
                #[allow(clippy::float_cmp)]
                if e.score != score {
                    lp.remove(member);
                    lp.insert_new(member, score);
                }
                return false;
            }
            if lp.len() < limits.max_entries && member.len() <= limits.max_value {
                lp.insert_new(member, score);
                return true;
            }
            self.convert_to_large();
        }
        match self {
            ZSetValue::Large(t) => t.insert(member, score),
            ZSetValue::Listpack(_) => false,
        }
    }

    /// Turn a listpack into the large encoding.
    fn convert_to_large(&mut self) {
        if let ZSetValue::Listpack(lp) = self {
            let mut large = Large::with_capacity(lp.len() + 1);
            for e in lp.iter() {
                large.insert_new(e.member.into(), e.score);
            }
            *self = ZSetValue::Large(Box::new(large));
        }
    }

    /// Remove `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSetValue::Listpack(l) => l.remove(member).is_some(),
            ZSetValue::Large(t) => t.remove(member).is_some(),
        }
    }

    /// Remove and return the lowest (`max` false) or highest member with its score.
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        let rank = if max { len - 1 } else { 0 };
        match self {
            ZSetValue::Listpack(l) => {
                let (m, s) = l.get(rank).map(|e| (e.member.to_vec(), e.score))?;
                l.remove_range(rank, rank + 1);
                Some((m, s))
            }
            ZSetValue::Large(t) => t.remove_at(rank),
        }
    }

    /// Call `f` with every (member, score), lowest score first.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        self.for_range(0, self.len(), false, &mut f);
    }

    /// Every (member, score) in order.
    pub fn entries(&self) -> Vec<(&[u8], f64)> {
        let mut v = Vec::with_capacity(self.len());
        self.for_range(0, self.len(), false, &mut |m, s| v.push((m, s)));
        v
    }

    /// The rank (0-based, lowest score first) of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSetValue::Listpack(l) => l.find(member).map(|(i, _)| i),
            ZSetValue::Large(t) => t.rank(member),
        }
    }

    /// The member and score at `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSetValue::Listpack(l) => l.get(rank).map(|e| (e.member, e.score)),
            ZSetValue::Large(t) => t.get(rank),
        }
    }

    /// Call `f` with the members of ranks `lo..hi`, ascending, or descending if `reverse`.
    pub fn for_range<'a>(
        &'a self,
        lo: usize,
        hi: usize,
        reverse: bool,
        f: &mut impl FnMut(&'a [u8], f64),
    ) {
        let hi = hi.min(self.len());
        if lo >= hi {
            return;
        }
        match self {
            ZSetValue::Listpack(l) if reverse => {
                // Entries decode front to back (scores may be relative to the previous one).
                let entries: Vec<listpack::Entry> = l.iter().take(hi).collect();
                for e in entries[lo..].iter().rev() {
                    f(e.member, e.score);
                }
            }
            ZSetValue::Listpack(l) => {
                for e in l.iter().skip(lo).take(hi - lo) {
                    f(e.member, e.score);
                }
            }
            ZSetValue::Large(t) => t.for_range(lo, hi, reverse, f),
        }
    }

    /// The ranks `lo..hi` of the members whose scores are in `range` (empty: `(0, 0)`).
    pub fn score_range(&self, range: &ScoreRange) -> (usize, usize) {
        if range.is_empty() {
            return (0, 0);
        }
        let (lo, hi) = match self {
            ZSetValue::Listpack(l) => (
                l.iter().take_while(|e| !range.gte_min(e.score)).count(),
                l.iter().take_while(|e| range.lte_max(e.score)).count(),
            ),
            ZSetValue::Large(t) => (
                t.count_prefix(|_, s| !range.gte_min(s)),
                t.count_prefix(|_, s| range.lte_max(s)),
            ),
        };
        if lo < hi {
            (lo, hi)
        } else {
            (0, 0)
        }
    }

    /// The ranks `lo..hi` of the members in the lex `range`, walking forward (or backward
    /// when `reverse`) from the first member in range as Redis does. Lex ranges are meant
    /// for sets whose scores are all equal; with mixed scores a listpack gives exactly
    /// Redis's answer (a linear walk), the large encoding a binary-search answer (Redis's
    /// skiplist answer then depends on its random node levels).
    pub fn lex_range(&self, range: &LexRange, reverse: bool) -> (usize, usize) {
        if range.is_empty() || self.is_empty() {
            return (0, 0);
        }
        match self {
            ZSetValue::Listpack(l) => {
                let members: Vec<&[u8]> = l.iter().map(|e| e.member).collect();
                listpack_lex_range(&members, range, reverse)
            }
            ZSetValue::Large(t) => {
                let lo = t.count_prefix(|m, _| !range.gte_min(m));
                let hi = t.count_prefix(|m, _| range.lte_max(m));
                if lo < hi {
                    (lo, hi)
                } else {
                    (0, 0)
                }
            }
        }
    }

    /// Remove the members of ranks `lo..hi`; how many were removed.
    pub fn remove_range(&mut self, lo: usize, hi: usize) -> usize {
        match self {
            ZSetValue::Listpack(l) => l.remove_range(lo, hi),
            ZSetValue::Large(t) => t.remove_range(lo, hi),
        }
    }

    /// One ZSCAN step from `cursor`: a listpack is returned whole (cursor 0), a large set
    /// about `count` reply items at a time. Returns the next cursor (0 = done).
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, f: &mut impl FnMut(&'a [u8], f64)) -> u64 {
        match self {
            ZSetValue::Listpack(l) => {
                l.iter().for_each(|e| f(e.member, e.score));
                0
            }
            ZSetValue::Large(t) => t.scan(cursor, count, f),
        }
    }

    /// A uniformly random member (None when empty).
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], f64)> {
        match self {
            ZSetValue::Listpack(l) if !l.is_empty() => {
                let i = rng.gen_range(0..l.len());
                self.get(i)
            }
            ZSetValue::Listpack(_) => None,
            ZSetValue::Large(t) => t.random(rng),
        }
    }

    /// Redis's encoding name (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSetValue::Listpack(_) => "listpack",
            ZSetValue::Large(_) => "skiplist",
        }
    }

    /// Heap bytes held (MEMORY USAGE, INFO memory).
    pub fn heap_size(&self) -> usize {
        match self {
            ZSetValue::Listpack(l) => l.heap_size(),
            ZSetValue::Large(t) => t.heap_size(),
        }
    }
}

impl ZSetValue {
    /// The record form of a small set (see `slab.rs`): a listpack of at most
    /// [`PACKED_MAX`] entries and bytes; None for larger ones and the large encoding.
    #[inline]
    pub fn packed(&self) -> Option<PackedZSet<'_>> {
        match self {
            ZSetValue::Listpack(l) => l.packed(),
            ZSetValue::Large(_) => None,
        }
    }

    /// Make this set the packed set `p` (a listpack), reusing this set's buffer when it
    /// is a listpack, with room for `extra` more bytes.
    #[inline]
    pub fn load_packed(&mut self, p: PackedZSet<'_>, extra: usize) {
        match self {
            ZSetValue::Listpack(l) => l.load_packed(p, extra),
            ZSetValue::Large(_) => {
                let mut l = Listpack::default();
                l.load_packed(p, extra);
                *self = ZSetValue::Listpack(l);
            }
        }
    }
}

/// A sorted set to read: one held in a node, or a small one packed into its key's
/// record. Has the read methods that persistence, DEBUG and MEMORY need; commands read
/// through the write view, which derefs to a [`ZSetValue`].
#[derive(Clone, Copy, Debug)]
pub enum ZSetRef<'a> {
    /// A set in a node.
    Value(&'a ZSetValue),
    /// A small set in its key's record (always a listpack).
    Packed(PackedZSet<'a>),
}

impl<'a> ZSetRef<'a> {
    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            ZSetRef::Value(z) => z.len(),
            ZSetRef::Packed(p) => p.count,
        }
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True in the listpack encoding.
    pub fn is_listpack(&self) -> bool {
        match self {
            ZSetRef::Value(z) => z.is_listpack(),
            ZSetRef::Packed(_) => true,
        }
    }

    /// Call `f` with every (member, score), lowest score first.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            ZSetRef::Value(z) => z.for_each(f),
            ZSetRef::Packed(p) => p.iter().for_each(|e| f(e.member, e.score)),
        }
    }

    /// Redis's encoding name (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSetRef::Value(z) => z.encoding(),
            ZSetRef::Packed(_) => "listpack",
        }
    }

    /// Heap bytes held outside the key's slot (none for a packed set).
    pub fn heap_size(&self) -> usize {
        match self {
            ZSetRef::Value(z) => z.heap_size(),
            ZSetRef::Packed(_) => 0,
        }
    }

    /// An owned copy.
    pub fn to_zset(&self) -> ZSetValue {
        match self {
            ZSetRef::Value(z) => (*z).clone(),
            ZSetRef::Packed(p) => ZSetValue::Listpack(p.to_listpack()),
        }
    }
}

/// Redis's listpack lex walk (`zzlFirstInLexRange` / `zzlLastInLexRange`, then forward
/// while below the maximum or backward while above the minimum).
fn listpack_lex_range(members: &[&[u8]], range: &LexRange, reverse: bool) -> (usize, usize) {
    let (Some(first), Some(last)) = (members.first(), members.last()) else {
        return (0, 0);
    };
    if !range.gte_min(last) || !range.lte_max(first) {
        return (0, 0);
    }
    if reverse {
        let Some(end) = members.iter().rposition(|m| range.lte_max(m)) else {
            return (0, 0);
        };
        if !range.gte_min(members[end]) {
            return (0, 0);
        }
        let mut start = end;
        while start > 0 && range.gte_min(members[start - 1]) {
            start -= 1;
        }
        (start, end + 1)
    } else {
        let Some(start) = members.iter().position(|m| range.gte_min(m)) else {
            return (0, 0);
        };
        if !range.lte_max(members[start]) {
            return (0, 0);
        }
        let mut end = start + 1;
        while end < members.len() && range.lte_max(members[end]) {
            end += 1;
        }
        (start, end)
    }
}

#[cfg(test)]
mod tests;
