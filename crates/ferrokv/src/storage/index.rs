//! The key index of one shard: a hash table of slab positions, hashed by the key stored at
//! the position (see `table.rs`).
//!
//! Positions are kept in 3 bytes while every position of the shard fits 24 bits (the
//! record bit at bit 23, slots below 2^23, that is up to 8M nodes and 8M records in one
//! shard), and in 4 bytes after that. The 3-byte form is what pays: hashbrown allocates
//! `buckets * entry + buckets + 16` bytes, and with 4-byte entries that is 5 x 2^n + 16,
//! just past one of jemalloc's size classes (5 x 2^n), so a quarter of the allocation more
//! is wasted (10,256 bytes take 12,288 for 2,048 buckets). With 3-byte entries the same
//! table is 8,208 bytes in a 10,240 class: 2 bytes less per key at ~1,000 keys a shard,
//! about 1 to 3 bytes per key at any size. The first position that does not fit turns
//! the shard's index into the 4-byte form once (every key rehashed: a one-off pause of
//! about a second at 8M keys, only in a shard that holds that many).

use hashbrown::HashTable;

/// The record bit of a 4-byte position (`table.rs`'s `REC_BIT`).
const WIDE_REC_BIT: u32 = 1 << 31;
/// The record bit of a 3-byte position.
const NARROW_REC_BIT: u32 = 1 << 23;

/// A position stored in 3 bytes, little-endian, the record bit at bit 23.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct Narrow([u8; 3]);

impl Narrow {
    /// The 3-byte form of `pos`, None when its slot needs more than 23 bits.
    #[inline(always)]
    fn of(pos: u32) -> Option<Narrow> {
        let slot = pos & !WIDE_REC_BIT;
        if slot >= NARROW_REC_BIT {
            return None;
        }
        let packed = slot
            | if pos & WIDE_REC_BIT != 0 {
                NARROW_REC_BIT
            } else {
                0
            };
        let [a, b, c, _] = packed.to_le_bytes();
        Some(Narrow([a, b, c]))
    }

    /// The position (4-byte form).
    #[inline(always)]
    fn get(self) -> u32 {
        let [a, b, c] = self.0;
        let packed = u32::from_le_bytes([a, b, c, 0]);
        // Move bit 23 to bit 31.
        (packed & !NARROW_REC_BIT) | ((packed & NARROW_REC_BIT) << 8)
    }
}

/// The index's two forms.
enum Form {
    Narrow(HashTable<Narrow>),
    Wide(HashTable<u32>),
}

/// Positions hashed by their keys. The caller supplies the hash of a key and closures that
/// compare or hash the key at a position (the index does not see the slabs).
pub struct KeyIndex {
    form: Form,
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex {
            form: Form::Narrow(HashTable::new()),
        }
    }
}

impl KeyIndex {
    /// Number of positions.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.form {
            Form::Narrow(t) => t.len(),
            Form::Wide(t) => t.len(),
        }
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Positions it holds without growing.
    pub fn capacity(&self) -> usize {
        match &self.form {
            Form::Narrow(t) => t.capacity(),
            Form::Wide(t) => t.capacity(),
        }
    }

    /// Bytes per entry of its current form (3 or 4; memory accounting and tests).
    pub fn entry_bytes(&self) -> usize {
        match &self.form {
            Form::Narrow(_) => 3,
            Form::Wide(_) => 4,
        }
    }

    /// The position with hash `h` for which `is_key` holds.
    #[inline(always)]
    pub fn find(&self, h: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        match &self.form {
            Form::Narrow(t) => t.find(h, |p| is_key(p.get())).map(|p| p.get()),
            Form::Wide(t) => t.find(h, |&p| is_key(p)).copied(),
        }
    }

    /// Remove and return the position with hash `h` for which `is_key` holds.
    pub fn remove(&mut self, h: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        match &mut self.form {
            Form::Narrow(t) => t
                .find_entry(h, |p| is_key(p.get()))
                .ok()
                .map(|o| o.remove().0.get()),
            Form::Wide(t) => t.find_entry(h, |&p| is_key(p)).ok().map(|o| o.remove().0),
        }
    }

    /// Add `pos` (a key not in the index yet) under hash `h`; `hash_at` hashes the key at
    /// a position (for growing).
    #[inline]
    pub fn insert(&mut self, h: u64, pos: u32, hash_at: impl Fn(u32) -> u64) {
        if let Form::Narrow(t) = &mut self.form {
            if let Some(n) = Narrow::of(pos) {
                t.insert_unique(h, n, |p| hash_at(p.get()));
                return;
            }
            self.widen(&hash_at);
        }
        if let Form::Wide(t) = &mut self.form {
            t.insert_unique(h, pos, |&p| hash_at(p));
        }
    }

    /// Replace position `old` (hash `h`) by `new` (the entry moved: same key, same hash;
    /// `hash_at` sees the slabs after the move, so it is not asked about `old`).
    pub fn repoint(&mut self, h: u64, old: u32, new: u32, hash_at: impl Fn(u32) -> u64) {
        if let Form::Narrow(t) = &mut self.form {
            if let Some(n) = Narrow::of(new) {
                if let Some(p) = t.find_mut(h, |p| p.get() == old) {
                    *p = n;
                }
                return;
            }
            // `old` no longer holds its key: its hash is `h`.
            self.widen(&|p| if p == old { h } else { hash_at(p) });
        }
        if let Form::Wide(t) = &mut self.form {
            if let Some(p) = t.find_mut(h, |&p| p == old) {
                *p = new;
            }
        }
    }

    /// Drop every position and the table's memory.
    pub fn clear(&mut self) {
        self.form = Form::Narrow(HashTable::new());
    }

    /// Move to the 4-byte form (a position no longer fits 3 bytes).
    #[cold]
    #[inline(never)]
    fn widen(&mut self, hash_at: &impl Fn(u32) -> u64) {
        let Form::Narrow(narrow) = &mut self.form else {
            return;
        };
        let old = std::mem::take(narrow);
        let mut wide = HashTable::with_capacity(old.len() * 2);
        for p in old {
            let p = p.get();
            wide.insert_unique(hash_at(p), p, |&q| hash_at(q));
        }
        self.form = Form::Wide(wide);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_positions_round_trip_and_refuse_what_does_not_fit() {
        for pos in [
            0,
            1,
            63,
            64,
            0x7f_ffff,
            WIDE_REC_BIT,
            WIDE_REC_BIT | 0x7f_ffff,
        ] {
            assert_eq!(Narrow::of(pos).map(Narrow::get), Some(pos), "{pos:#x}");
        }
        for pos in [0x80_0000, WIDE_REC_BIT | 0x80_0000, u32::MAX] {
            assert!(Narrow::of(pos).is_none(), "{pos:#x}");
        }
    }

    /// Keys are their positions' numbers here; the hash is a mix of it.
    fn hash_of(pos: u32) -> u64 {
        (pos as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    #[test]
    fn a_position_past_24_bits_widens_the_index_and_keeps_every_entry() {
        let mut index = KeyIndex::default();
        let small: Vec<u32> = (0..1000u32)
            .map(|i| if i % 2 == 0 { i } else { i | WIDE_REC_BIT })
            .collect();
        for &p in &small {
            index.insert(hash_of(p), p, hash_of);
        }
        assert_eq!(index.entry_bytes(), 3);
        // Repointing to a position that fits keeps the narrow form.
        index.repoint(hash_of(4), 4, 5000, |p| {
            if p == 5000 {
                hash_of(4)
            } else {
                hash_of(p)
            }
        });
        assert_eq!(index.find(hash_of(4), |p| p == 5000), Some(5000));
        index.repoint(hash_of(4), 5000, 4, hash_of);
        let big = WIDE_REC_BIT | 0x90_0000;
        index.insert(hash_of(big), big, hash_of);
        assert_eq!(index.entry_bytes(), 4);
        assert_eq!(index.len(), 1001);
        for &p in small.iter().chain([big].iter()) {
            assert_eq!(index.find(hash_of(p), |q| q == p), Some(p), "{p:#x}");
        }
        // Repointing in the wide form, then removal.
        let moved = 0x80_0001;
        let h7 = hash_of(7 | WIDE_REC_BIT);
        index.repoint(h7, 7 | WIDE_REC_BIT, moved, hash_of);
        assert_eq!(index.find(h7, |q| q == moved), Some(moved));
        assert_eq!(index.remove(h7, |q| q == moved), Some(moved));
        assert_eq!(index.find(h7, |q| q == moved), None);
        assert_eq!(index.len(), 1000);
        index.clear();
        assert!(index.is_empty());
        assert_eq!(index.entry_bytes(), 3);
    }

    #[test]
    fn repointing_past_24_bits_widens_too() {
        let mut index = KeyIndex::default();
        for p in 0..100u32 {
            index.insert(hash_of(p), p, hash_of);
        }
        let new = 0x100_0000;
        // The key of position 9 moved to `new`: hashing `new` gives the old key's hash,
        // and position 9 now holds something else (asking for it is a bug).
        let hash_at = |p: u32| {
            assert_ne!(p, 9, "the vacated position was hashed");
            if p == new {
                hash_of(9)
            } else {
                hash_of(p)
            }
        };
        index.repoint(hash_of(9), 9, new, hash_at);
        assert_eq!(index.entry_bytes(), 4);
        assert_eq!(index.find(hash_of(9), |q| q == new), Some(new));
        assert_eq!(index.find(hash_of(9), |q| q == 9), None);
        assert_eq!(index.len(), 100);
    }
}
