//! The large form of a sorted set (Redis's `skiplist` encoding: a hash table from member to
//! score plus an ordered index).
//!
//! * `entries`: a slab of `(member, score)` with stable slot ids and a free list;
//! * `index`: a hash table of slot ids keyed by member (O(1) ZSCORE, ZADD lookups);
//! * `order`: a counted B+tree of `(score, slot id)` (see `btree.rs` for why not a skiplist).
//!
//! The member bytes are stored once, in the slab; the index and the tree hold 4-byte ids.
//!
//! ZSCAN walks the slab by slot id from the top down, the cursor being the next slot to
//! read plus one. Slots never move except when the slab is compacted (after many
//! deletions), which only moves elements from the top into holes further down: an element
//! moved during a scan is either still ahead of the cursor or returned twice, never missed,
//! so SCAN's guarantee holds (every element present for the whole scan is returned).

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use rand::Rng;

use super::btree::OrderTree;

/// One element in the slab. A free slot has a NaN score (never a valid score).
#[derive(Clone, Debug)]
struct Slot {
    member: Box<[u8]>,
    score: f64,
}

impl Slot {
    #[inline]
    fn is_free(&self) -> bool {
        self.score.is_nan()
    }
}

/// A large sorted set.
#[derive(Clone)]
pub struct Large {
    entries: Vec<Slot>,
    free: Vec<u32>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    order: OrderTree,
}

impl Default for Large {
    fn default() -> Self {
        Large::with_capacity(0)
    }
}

impl Large {
    /// An empty set with room for `n` elements.
    pub fn with_capacity(n: usize) -> Large {
        Large {
            entries: Vec::with_capacity(n),
            free: Vec::new(),
            index: HashTable::with_capacity(n),
            hasher: DefaultHashBuilder::default(),
            order: OrderTree::default(),
        }
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    #[inline]
    fn member_of<'a>(entries: &'a [Slot]) -> impl Fn(u32) -> &'a [u8] + 'a {
        move |id| entries.get(id as usize).map_or(&[][..], |s| &s.member[..])
    }

    fn slot_of(&self, member: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(member);
        let entries = &self.entries;
        self.index
            .find(h, |&id| {
                entries
                    .get(id as usize)
                    .is_some_and(|s| &*s.member == member)
            })
            .copied()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        let id = self.slot_of(member)?;
        self.entries.get(id as usize).map(|s| s.score)
    }

    /// The rank (0-based, ascending) of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let id = self.slot_of(member)?;
        let score = self.entries.get(id as usize)?.score;
        Some(
            self.order
                .lower_bound(score, member, &Self::member_of(&self.entries)),
        )
    }

    /// The element at `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        let (score, id) = self.order.get(rank)?;
        Some((&self.entries.get(id as usize)?.member, score))
    }

    /// Add `member` or change its score; true when it was added.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        if let Some(id) = self.slot_of(member) {
            let old = self.entries.get(id as usize).map_or(score, |s| s.score);
            // Like Redis (`score != curscore`): 0 and -0 count as the same score.
            #[allow(clippy::float_cmp)]
            if old != score {
                self.unlink_order(old, member, id);
                if let Some(s) = self.entries.get_mut(id as usize) {
                    s.score = score;
                }
                self.order
                    .insert(score, id, &Self::member_of(&self.entries));
            }
            return false;
        }
        self.insert_new(member.into(), score);
        true
    }

    /// Insert a member known to be absent.
    pub fn insert_new(&mut self, member: Box<[u8]>, score: f64) {
        let h = self.hasher.hash_one(&*member);
        let slot = Slot { member, score };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(s) = self.entries.get_mut(id as usize) {
                    *s = slot;
                }
                id
            }
            None => {
                self.entries.push(slot);
                (self.entries.len() - 1) as u32
            }
        };
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(h, id, |&i| {
            hasher.hash_one(entries.get(i as usize).map_or(&[][..], |s| &s.member[..]))
        });
        self.order
            .insert(score, id, &Self::member_of(&self.entries));
    }

    /// Remove element `id` (score `score`, member `member`) from the ordered index.
    fn unlink_order(&mut self, score: f64, member: &[u8], id: u32) {
        let rank = self
            .order
            .lower_bound(score, member, &Self::member_of(&self.entries));
        if self.order.get(rank).is_some_and(|(_, i)| i == id) {
            self.order.remove_at(rank);
        }
    }

    /// Drop slot `id` from the hash index and free it; returns its member.
    fn release(&mut self, id: u32) -> Box<[u8]> {
        let Some(slot) = self.entries.get_mut(id as usize) else {
            return Box::default();
        };
        let member = std::mem::take(&mut slot.member);
        slot.score = f64::NAN;
        let h = self.hasher.hash_one(&*member);
        if let Ok(e) = self.index.find_entry(h, |&i| i == id) {
            e.remove();
        }
        self.free.push(id);
        member
    }

    /// Remove `member`; its score when it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let id = self.slot_of(member)?;
        let score = self.entries.get(id as usize)?.score;
        self.unlink_order(score, member, id);
        self.release(id);
        self.maybe_compact();
        Some(score)
    }

    /// Remove and return the element at `rank`.
    pub fn remove_at(&mut self, rank: usize) -> Option<(Vec<u8>, f64)> {
        let (score, id) = self.order.remove_at(rank)?;
        let member = self.release(id);
        self.maybe_compact();
        Some((member.into_vec(), score))
    }

    /// Remove the elements of ranks `lo..hi`; how many were removed.
    pub fn remove_range(&mut self, lo: usize, hi: usize) -> usize {
        let hi = hi.min(self.len());
        let mut n = 0;
        for _ in lo..hi {
            match self.order.remove_at(lo) {
                Some((_, id)) => {
                    self.release(id);
                    n += 1;
                }
                None => break,
            }
        }
        self.maybe_compact();
        n
    }

    /// Call `f` with the elements of ranks `lo..hi`, in order or in reverse.
    pub fn for_range<'a>(
        &'a self,
        lo: usize,
        hi: usize,
        reverse: bool,
        f: &mut impl FnMut(&'a [u8], f64),
    ) {
        let entries = &self.entries;
        self.order.for_range(lo, hi, reverse, &mut |score, id| {
            if let Some(s) = entries.get(id as usize) {
                f(&s.member, score);
            }
        });
    }

    /// Number of leading elements for which `pred(member, score)` holds (true on a prefix).
    pub fn count_prefix(&self, mut pred: impl FnMut(&[u8], f64) -> bool) -> usize {
        let member_of = Self::member_of(&self.entries);
        self.order
            .count_prefix(|score, id| pred(member_of(id), score))
    }

    /// One ZSCAN step: elements of the slots below `cursor` (0 = start), top down, until
    /// about `count` values were produced; returns the next cursor (0 = done).
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, f: &mut impl FnMut(&'a [u8], f64)) -> u64 {
        let top = self.entries.len();
        let mut next = match usize::try_from(cursor) {
            Ok(0) | Err(_) => top,
            Ok(c) => c.min(top),
        };
        // Like Redis, `count` counts reply items (two per element) and the work is bounded.
        let mut produced = 0usize;
        let mut budget = count.saturating_mul(10).max(1);
        while next > 0 && produced < count && budget > 0 {
            next -= 1;
            budget -= 1;
            if let Some(s) = self.entries.get(next).filter(|s| !s.is_free()) {
                f(&s.member, s.score);
                produced += 2;
            }
        }
        next as u64
    }

    /// A uniformly random element (None when empty).
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], f64)> {
        if self.is_empty() {
            return None;
        }
        // At most half the slots are free (see `maybe_compact`), so this ends quickly.
        loop {
            let i = rng.gen_range(0..self.entries.len());
            if let Some(s) = self.entries.get(i).filter(|s| !s.is_free()) {
                return Some((&s.member, s.score));
            }
        }
    }

    /// Compact the slab when more than half of it is free.
    fn maybe_compact(&mut self) {
        if self.free.len() > 16 && self.free.len() * 2 > self.entries.len() {
            self.compact();
        }
    }

    /// Move the top elements into the lowest holes, then truncate the slab (moves only go
    /// downwards: see the module comment on ZSCAN).
    fn compact(&mut self) {
        let live = self.entries.len() - self.free.len();
        let mut holes: Vec<u32> = std::mem::take(&mut self.free);
        holes.sort_unstable();
        let mut top = self.entries.len();
        for hole in holes {
            while top > 0 && self.entries.get(top - 1).is_some_and(Slot::is_free) {
                top -= 1;
            }
            if top == 0 || top - 1 <= hole as usize {
                break;
            }
            top -= 1;
            self.move_slot(top as u32, hole);
        }
        self.entries.truncate(live);
        self.entries.shrink_to_fit();
        let hasher = &self.hasher;
        let entries = &self.entries;
        self.index.shrink_to(live, |&i| {
            hasher.hash_one(entries.get(i as usize).map_or(&[][..], |s| &s.member[..]))
        });
    }

    /// Move the element in slot `from` to the free slot `to`.
    fn move_slot(&mut self, from: u32, to: u32) {
        let Some(slot) = self.entries.get(from as usize) else {
            return;
        };
        // Find it in the tree while the slab still holds it (the tree compares members).
        let rank =
            self.order
                .lower_bound(slot.score, &slot.member, &Self::member_of(&self.entries));
        let h = self.hasher.hash_one(&*slot.member);
        let Some(slot) = self.entries.get_mut(from as usize) else {
            return;
        };
        let moved = std::mem::replace(
            slot,
            Slot {
                member: Box::default(),
                score: f64::NAN,
            },
        );
        if let Some(s) = self.entries.get_mut(to as usize) {
            *s = moved;
        }
        if self.order.get(rank).is_some_and(|(_, i)| i == from) {
            self.order.set_id(rank, to);
        }
        if let Some(i) = self.index.find_mut(h, |&i| i == from) {
            *i = to;
        }
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<Large>()
            + self.entries.capacity() * std::mem::size_of::<Slot>()
            + self.entries.iter().map(|s| s.member.len()).sum::<usize>()
            + self.free.capacity() * 4
            + self.index.allocation_size()
            + self.order.heap_size()
    }
}

impl std::fmt::Debug for Large {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        self.for_range(0, self.len(), false, &mut |m, s| {
            list.entry(&(String::from_utf8_lossy(m), s));
        });
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn members(z: &Large) -> Vec<(Vec<u8>, f64)> {
        let mut v = Vec::new();
        z.for_range(0, z.len(), false, &mut |m, s| v.push((m.to_vec(), s)));
        v
    }

    #[test]
    fn insert_update_remove_rank() {
        let mut z = Large::default();
        assert!(z.insert(b"b", 2.0));
        assert!(z.insert(b"a", 2.0));
        assert!(z.insert(b"c", 1.0));
        assert!(!z.insert(b"c", 3.0));
        assert_eq!(z.score(b"c"), Some(3.0));
        assert_eq!(z.rank(b"a"), Some(0));
        assert_eq!(z.rank(b"c"), Some(2));
        assert_eq!(z.rank(b"zz"), None);
        assert_eq!(z.get(1), Some((&b"b"[..], 2.0)));
        assert_eq!(z.remove(b"a"), Some(2.0));
        assert_eq!(z.remove(b"a"), None);
        assert_eq!(
            members(&z),
            vec![(b"b".to_vec(), 2.0), (b"c".to_vec(), 3.0)]
        );
        assert_eq!(z.remove_at(0), Some((b"b".to_vec(), 2.0)));
        assert_eq!(z.len(), 1);
    }

    #[test]
    fn random_operations_against_a_model_with_compaction_and_scan() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut z = Large::default();
        let mut model: std::collections::BTreeMap<Vec<u8>, f64> = Default::default();
        for step in 0..20_000 {
            let m = format!("m{}", rng.gen_range(0..3000)).into_bytes();
            match rng.gen_range(0..10) {
                0..=4 => {
                    let s = rng.gen_range(-50..50) as f64 / 2.0;
                    assert_eq!(z.insert(&m, s), model.insert(m, s).is_none());
                }
                5..=7 => assert_eq!(z.remove(&m), model.remove(&m)),
                8 => {
                    let n = z.len();
                    let lo = rng.gen_range(0..n + 1);
                    let hi = (lo + rng.gen_range(0..40)).min(n);
                    let mut gone = Vec::new();
                    z.for_range(lo, hi, false, &mut |m, _| gone.push(m.to_vec()));
                    assert_eq!(z.remove_range(lo, hi), hi - lo);
                    for g in gone {
                        model.remove(&g);
                    }
                }
                _ => assert_eq!(z.score(&m), model.get(&m).copied()),
            }
            if step % 500 == 0 {
                let mut want: Vec<(Vec<u8>, f64)> =
                    model.iter().map(|(m, s)| (m.clone(), *s)).collect();
                want.sort_by(|a, b| super::super::btree::cmp_entries(a.1, &a.0, b.1, &b.0));
                assert_eq!(members(&z), want);
                for (rank, (m, _)) in want.iter().enumerate() {
                    assert_eq!(z.rank(m), Some(rank));
                }
                // A full scan returns every element exactly once.
                let mut seen = Vec::new();
                let mut cursor = 0;
                loop {
                    cursor = z.scan(cursor, 7, &mut |m, _| seen.push(m.to_vec()));
                    if cursor == 0 {
                        break;
                    }
                }
                seen.sort();
                let mut keys: Vec<Vec<u8>> = model.keys().cloned().collect();
                keys.sort();
                assert_eq!(seen, keys);
            }
        }
    }

    #[test]
    fn scan_survives_compaction() {
        let mut z = Large::default();
        for i in 0..1000 {
            z.insert(format!("k{}", i).as_bytes(), i as f64);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = z.scan(0, 100, &mut |m, _| {
            seen.insert(m.to_vec());
        });
        // Delete most of the elements not returned yet, except those ending in 7: the
        // slab is compacted (moving elements down) in the middle of the scan.
        for i in 0..1000 {
            let m = format!("k{}", i).into_bytes();
            if !seen.contains(&m) && i % 10 != 7 {
                z.remove(&m);
            }
        }
        while cursor != 0 {
            cursor = z.scan(cursor, 100, &mut |m, _| {
                seen.insert(m.to_vec());
            });
        }
        for i in (7..1000).step_by(10) {
            assert!(seen.contains(format!("k{}", i).as_bytes()), "k{} missed", i);
        }
        assert!(z.entries.len() < 1000);
    }
}
