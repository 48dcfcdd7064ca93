//! The key index of one shard: a hash table of slab positions, hashed by the key stored at
//! the position (see `table.rs`). The index does not see the slabs: callers pass the
//! key's hash and closures that compare or hash the key at a position.
//!
//! It is a table of our own, built for memory per key, in the SwissTable manner of
//! hashbrown (groups of 16 slots, a control byte per slot holding 7 bits of the hash,
//! a group matched at once, tombstones on removal) with two differences that hashbrown
//! cannot offer:
//! - **Positions in 3 bytes** while every position of the shard fits 24 bits (the record
//!   bit at bit 23, slots below 2^23: up to 8M nodes and 8M records in one shard), in 4
//!   bytes after that. The first position that does not fit rebuilds the shard's index in
//!   the 4-byte form once (every key rehashed: a pause of about a second at 8M keys, only
//!   in a shard that holds that many).
//! - **Sizes that are jemalloc size classes**: groups of 64 bytes, doubling up to 4 KB,
//!   then growing by 1.5x and 1.33x in turn (96, 128, 192, 256... groups), where
//!   hashbrown doubles and, with its 16 trailing control bytes, just misses a size class
//!   (5 x 2^n + 16 bytes for 4-byte entries: 10,256 bytes take 12,288). At ~1,000 keys
//!   a shard, that is 6.3 bytes a key instead of 12.5.
//!
//! A group is the 16 positions and their 16 control bytes, 64 bytes (one cache line) in
//! the 3-byte form. The group of a hash is `hash * groups >> 64` (any number of groups); the
//! control byte holds the hash's low 7 bits. Lookups go from that group to the next until
//! one has an empty slot; a group that was ever full since the last rebuild keeps
//! tombstones instead of empty slots, so a lookup never stops early.

/// Slots per group.
const GROUP: usize = 16;
/// A free slot that ends lookups.
const EMPTY: u8 = 0xff;
/// A freed slot in a group that was full (lookups go on past it).
const DELETED: u8 = 0x80;
/// Each byte's low 7 bits, and each byte's high bit (the portable group matching).
#[cfg(any(test, not(target_arch = "x86_64")))]
const LOW7: u128 = u128::from_le_bytes([0x7f; GROUP]);
#[cfg(not(target_arch = "x86_64"))]
const HIGH: u128 = u128::from_le_bytes([0x80; GROUP]);

/// One bit (the byte's high bit) for each zero byte of `x`, exactly.
#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline(always)]
fn zero_bytes(x: u128) -> u128 {
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// Bit masks over a group's slots (bit i: slot i).
#[derive(Clone, Copy)]
struct Mask(u32);

impl Mask {
    /// One bit per byte of a word whose bytes' high bits mark the slots (the portable
    /// form's result).
    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn from_high_bits(x: u128) -> Mask {
        let mut m = 0u32;
        for (i, b) in x.to_le_bytes().iter().enumerate() {
            m |= ((b >> 7) as u32) << i;
        }
        Mask(m)
    }
}

impl Iterator for Mask {
    type Item = usize;
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let i = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(i)
    }
}

/// Slots of a control group equal to `b`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn match_byte(ctrl: &[u8; GROUP], b: u8) -> Mask {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    // SAFETY: SSE2 is part of the x86_64 baseline, so the intrinsics are always
    // available; the load reads exactly the 16 bytes of `ctrl` (unaligned load, any
    // address). Covered by the group and model tests below.
    let bits = unsafe {
        let group = _mm_loadu_si128(ctrl.as_ptr().cast());
        _mm_movemask_epi8(_mm_cmpeq_epi8(group, _mm_set1_epi8(b as i8)))
    };
    Mask(bits as u32 & 0xffff)
}

/// Slots of a control group with the high bit set (empty or deleted).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn match_high(ctrl: &[u8; GROUP]) -> Mask {
    use std::arch::x86_64::{_mm_loadu_si128, _mm_movemask_epi8};
    // SAFETY: as in `match_byte`.
    let bits = unsafe { _mm_movemask_epi8(_mm_loadu_si128(ctrl.as_ptr().cast())) };
    Mask(bits as u32 & 0xffff)
}

/// Slots of a control group equal to `b` (portable form).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn match_byte(ctrl: &[u8; GROUP], b: u8) -> Mask {
    let splat = u128::from_le_bytes([b; GROUP]);
    Mask::from_high_bits(zero_bytes(u128::from_le_bytes(*ctrl) ^ splat))
}

/// Slots of a control group with the high bit set (portable form).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn match_high(ctrl: &[u8; GROUP]) -> Mask {
    Mask::from_high_bits(u128::from_le_bytes(*ctrl) & HIGH)
}

/// A group of 16 slots: their control bytes and positions, in one of two widths.
trait Slots: Copy {
    /// A group of empty slots.
    const EMPTY: Self;
    /// The control bytes.
    fn ctrl(&self) -> &[u8; GROUP];
    /// Whether `pos` can be stored.
    fn fits(pos: u32) -> bool;
    /// The position in slot `i` (below 16).
    fn pos_at(&self, i: usize) -> u32;
    /// Store `pos` (one that [`Slots::fits`]) in slot `i` (below 16).
    fn set_pos(&mut self, i: usize, pos: u32);

    /// Slots whose control byte is `b`.
    #[inline(always)]
    fn matching(&self, b: u8) -> Mask {
        match_byte(self.ctrl(), b)
    }

    /// Empty slots.
    #[inline(always)]
    fn empty(&self) -> Mask {
        self.matching(EMPTY)
    }

    /// Empty or deleted slots (the control bytes with the high bit).
    #[inline(always)]
    fn free(&self) -> Mask {
        match_high(self.ctrl())
    }

    /// Set the control byte of slot `i` (below 16).
    fn set_ctrl(&mut self, i: usize, ctrl: u8);
}

/// The 3-byte form, 64 bytes: 16 positions of 3 bytes, then the 16 control bytes (so a
/// position is read with one 4-byte load, the byte after it masked off). A position is
/// stored rotated left by one bit (the record bit at bit 0), so it fits 24 bits when its
/// slot is below 2^23 and reads back with one rotation.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct Narrow([u8; 64]);

/// Where the control bytes of a [`Narrow`] group start.
const NARROW_CTRL: usize = 3 * GROUP;

impl Slots for Narrow {
    const EMPTY: Narrow = {
        let mut b = [0u8; 64];
        let mut i = NARROW_CTRL;
        while i < 64 {
            b[i] = EMPTY;
            i += 1;
        }
        Narrow(b)
    };

    #[inline(always)]
    fn ctrl(&self) -> &[u8; GROUP] {
        // Always the last 16 of the 64 bytes; the fallback is never taken.
        self.0.last_chunk::<GROUP>().unwrap_or(&[EMPTY; GROUP])
    }

    #[inline(always)]
    fn set_ctrl(&mut self, i: usize, ctrl: u8) {
        // `& (GROUP - 1)` lets the compiler see the bound (no check, no panic path).
        if let Some(c) = self.0.get_mut(NARROW_CTRL + (i & (GROUP - 1))) {
            *c = ctrl;
        }
    }

    #[inline(always)]
    fn fits(pos: u32) -> bool {
        pos.rotate_left(1) < 1 << 24
    }

    #[inline(always)]
    fn pos_at(&self, i: usize) -> u32 {
        let o = 3 * (i & (GROUP - 1));
        let word = self
            .0
            .get(o..o + 4)
            .and_then(|b| b.first_chunk::<4>())
            .map_or(0, |b| u32::from_le_bytes(*b));
        (word & 0x00ff_ffff).rotate_right(1)
    }

    #[inline(always)]
    fn set_pos(&mut self, i: usize, pos: u32) {
        let o = 3 * (i & (GROUP - 1));
        let [a, b, c, _] = pos.rotate_left(1).to_le_bytes();
        if let Some(slot) = self.0.get_mut(o..o + 3) {
            slot.copy_from_slice(&[a, b, c]);
        }
    }
}

/// The 4-byte form, 80 bytes.
#[derive(Clone, Copy)]
#[repr(C)]
struct Wide {
    pos: [u32; GROUP],
    ctrl: [u8; GROUP],
}

impl Slots for Wide {
    const EMPTY: Wide = Wide {
        pos: [0; GROUP],
        ctrl: [EMPTY; GROUP],
    };

    #[inline(always)]
    fn ctrl(&self) -> &[u8; GROUP] {
        &self.ctrl
    }

    #[inline(always)]
    fn set_ctrl(&mut self, i: usize, ctrl: u8) {
        if let Some(c) = self.ctrl.get_mut(i & (GROUP - 1)) {
            *c = ctrl;
        }
    }

    #[inline(always)]
    fn fits(_pos: u32) -> bool {
        true
    }

    #[inline(always)]
    fn pos_at(&self, i: usize) -> u32 {
        self.pos.get(i & (GROUP - 1)).copied().unwrap_or(0)
    }

    #[inline(always)]
    fn set_pos(&mut self, i: usize, pos: u32) {
        if let Some(p) = self.pos.get_mut(i & (GROUP - 1)) {
            *p = pos;
        }
    }
}

/// The control byte of a hash: its low 7 bits (the group comes from its high bits).
#[inline(always)]
fn tag(h: u64) -> u8 {
    (h & 0x7f) as u8
}

/// Entries a table of `groups` groups holds before it grows: 7/8 of its slots.
fn max_items(groups: usize) -> usize {
    groups * (GROUP - GROUP / 8)
}

/// Groups up to which a table doubles: each growth rehashes every key, so small tables
/// take few steps; from 4 KB on the steps are finer, where the bytes per key count.
const DOUBLE_UP_TO: usize = 64;

/// The size after `groups`: 1, 2, 4, ... 64, then 96, 128, 192, 256, ... (x 64 bytes:
/// jemalloc size classes in the 3-byte form).
fn next_size(groups: usize) -> usize {
    if groups < DOUBLE_UP_TO {
        groups * 2
    } else if groups.is_power_of_two() {
        groups + groups / 2
    } else {
        groups / 3 * 4
    }
}

/// The smallest size holding `items`.
fn size_for(items: usize) -> usize {
    let mut groups = 1;
    while max_items(groups) < items {
        groups = next_size(groups);
    }
    groups
}

/// The table in one position width.
struct Table<G> {
    groups: Box<[G]>,
    items: usize,
    /// Inserts into empty slots left before the table must be rebuilt.
    growth_left: usize,
}

impl<G> Default for Table<G> {
    fn default() -> Self {
        Table {
            groups: Box::default(),
            items: 0,
            growth_left: 0,
        }
    }
}

impl<G: Slots> Table<G> {
    fn with_size(groups: usize) -> Self {
        Table {
            groups: vec![G::EMPTY; groups].into_boxed_slice(),
            items: 0,
            growth_left: max_items(groups),
        }
    }

    /// The group where `h`'s lookups start.
    #[inline(always)]
    fn home(&self, h: u64) -> usize {
        ((h as u128 * self.groups.len() as u128) >> 64) as usize
    }

    /// The slot (group, index) and position of `h`'s lookup path for which `is` holds.
    #[inline(always)]
    fn find_slot(&self, h: u64, mut is: impl FnMut(u32) -> bool) -> Option<(usize, usize, u32)> {
        let n = self.groups.len();
        let t = tag(h);
        let mut g = self.home(h);
        // At most every group once (a table always keeps empty slots, so a lookup ends
        // at a group with one well before).
        for _ in 0..n {
            let group = self.groups.get(g)?;
            for i in group.matching(t) {
                let pos = group.pos_at(i);
                if is(pos) {
                    return Some((g, i, pos));
                }
            }
            if group.empty().0 != 0 {
                return None;
            }
            g += 1;
            if g == n {
                g = 0;
            }
        }
        None
    }

    #[inline(always)]
    fn find(&self, h: u64, is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        self.find_slot(h, is_key).map(|(_, _, pos)| pos)
    }

    /// Put `pos` in the first free slot of `h`'s lookup path (`pos` is not in the table
    /// and the table has room).
    fn place(&mut self, h: u64, pos: u32) {
        let n = self.groups.len();
        let mut g = self.home(h);
        for _ in 0..n {
            let Some(group) = self.groups.get_mut(g) else {
                return;
            };
            if let Some(i) = group.free().next() {
                if group.ctrl().get(i) == Some(&EMPTY) {
                    self.growth_left -= 1;
                }
                group.set_ctrl(i, tag(h));
                group.set_pos(i, pos);
                self.items += 1;
                return;
            }
            g += 1;
            if g == n {
                g = 0;
            }
        }
    }

    /// Add `pos` (not in the table), rebuilding first when no empty slot may be used.
    #[inline]
    fn insert(&mut self, h: u64, pos: u32, hash_at: &impl Fn(u32) -> u64) {
        if self.growth_left == 0 {
            self.rebuild(self.items + 1, hash_at);
        }
        self.place(h, pos);
    }

    /// Remove the position for which `is_key` holds.
    fn remove(&mut self, h: u64, is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let (g, i, pos) = self.find_slot(h, is_key)?;
        let group = self.groups.get_mut(g)?;
        // A group with an empty slot was never full: no lookup went past it, so the slot
        // may become empty too. Otherwise it must stay a step on the way.
        if group.empty().0 != 0 {
            group.set_ctrl(i, EMPTY);
            self.growth_left += 1;
        } else {
            group.set_ctrl(i, DELETED);
        }
        self.items -= 1;
        Some(pos)
    }

    /// Replace `old` (hash `h`) by `new`; false when `old` is not there.
    fn repoint(&mut self, h: u64, old: u32, new: u32) -> bool {
        let Some((g, i, _)) = self.find_slot(h, |p| p == old) else {
            return false;
        };
        if let Some(group) = self.groups.get_mut(g) {
            group.set_pos(i, new);
        }
        true
    }

    /// Every position.
    fn positions(&self) -> impl Iterator<Item = u32> + '_ {
        self.groups.iter().flat_map(|g| {
            g.ctrl()
                .iter()
                .enumerate()
                .filter(|(_, &c)| c & 0x80 == 0)
                .map(|(i, _)| g.pos_at(i))
        })
    }

    /// Rebuild for `items` entries: the same size when tombstones took the room (at most
    /// half full after), else the next size that holds them.
    #[cold]
    #[inline(never)]
    fn rebuild(&mut self, items: usize, hash_at: &impl Fn(u32) -> u64) {
        let current = self.groups.len();
        let size = if current > 0 && items <= max_items(current) / 2 {
            current
        } else {
            let mut s = size_for(items);
            if s <= current {
                s = next_size(current);
            }
            s
        };
        let mut new = Table::<G>::with_size(size);
        for p in self.positions() {
            new.place(hash_at(p), p);
        }
        *self = new;
    }
}

/// The index's two forms.
enum Form {
    Narrow(Table<Narrow>),
    Wide(Table<Wide>),
}

/// Positions hashed by their keys (see the module documentation).
pub struct KeyIndex {
    form: Form,
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex {
            form: Form::Narrow(Table::default()),
        }
    }
}

impl KeyIndex {
    /// Number of positions.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.form {
            Form::Narrow(t) => t.items,
            Form::Wide(t) => t.items,
        }
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots of the table (memory accounting).
    pub fn capacity(&self) -> usize {
        match &self.form {
            Form::Narrow(t) => t.groups.len() * GROUP,
            Form::Wide(t) => t.groups.len() * GROUP,
        }
    }

    /// Bytes the table allocated.
    pub fn allocated_bytes(&self) -> usize {
        match &self.form {
            Form::Narrow(t) => std::mem::size_of_val(&*t.groups),
            Form::Wide(t) => std::mem::size_of_val(&*t.groups),
        }
    }

    /// Bytes per position of its current form (3 or 4).
    pub fn entry_bytes(&self) -> usize {
        match &self.form {
            Form::Narrow(_) => 3,
            Form::Wide(_) => 4,
        }
    }

    /// The position with hash `h` for which `is_key` holds.
    #[inline(always)]
    pub fn find(&self, h: u64, is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        match &self.form {
            Form::Narrow(t) => t.find(h, is_key),
            Form::Wide(t) => t.find(h, is_key),
        }
    }

    /// Remove and return the position with hash `h` for which `is_key` holds.
    pub fn remove(&mut self, h: u64, is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        match &mut self.form {
            Form::Narrow(t) => t.remove(h, is_key),
            Form::Wide(t) => t.remove(h, is_key),
        }
    }

    /// Add `pos` (a key not in the index yet) under hash `h`; `hash_at` hashes the key at
    /// a position (for rebuilding).
    #[inline]
    pub fn insert(&mut self, h: u64, pos: u32, hash_at: impl Fn(u32) -> u64) {
        if let Form::Narrow(t) = &mut self.form {
            if Narrow::fits(pos) {
                t.insert(h, pos, &hash_at);
                return;
            }
            self.widen(&hash_at);
        }
        if let Form::Wide(t) = &mut self.form {
            t.insert(h, pos, &hash_at);
        }
    }

    /// Replace position `old` (hash `h`) by `new` (the entry moved: same key, same hash;
    /// `hash_at` sees the slabs after the move, so it is not asked about `old`).
    pub fn repoint(&mut self, h: u64, old: u32, new: u32, hash_at: impl Fn(u32) -> u64) {
        if let Form::Narrow(t) = &mut self.form {
            if Narrow::fits(new) {
                t.repoint(h, old, new);
                return;
            }
            // `old` no longer holds its key: its hash is `h`.
            self.widen(&|p| if p == old { h } else { hash_at(p) });
        }
        if let Form::Wide(t) = &mut self.form {
            t.repoint(h, old, new);
        }
    }

    /// Drop every position and the table's memory.
    pub fn clear(&mut self) {
        self.form = Form::Narrow(Table::default());
    }

    /// Move to the 4-byte form (a position no longer fits 3 bytes).
    #[cold]
    #[inline(never)]
    fn widen(&mut self, hash_at: &impl Fn(u32) -> u64) {
        let Form::Narrow(narrow) = &self.form else {
            return;
        };
        let mut wide = Table::<Wide>::with_size(size_for(narrow.items + 1));
        for p in narrow.positions() {
            wide.place(hash_at(p), p);
        }
        self.form = Form::Wide(wide);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The record bit of a position (`table.rs`'s `REC_BIT`).
    const REC: u32 = 1 << 31;

    #[test]
    fn positions_round_trip_and_3_bytes_refuse_what_does_not_fit() {
        let mut n = Narrow::EMPTY;
        let mut w = Wide::EMPTY;
        for (i, pos) in [0, 1, 63, 64, 0x7f_ffff, REC, REC | 1, REC | 0x7f_ffff]
            .into_iter()
            .enumerate()
        {
            assert!(Narrow::fits(pos), "{pos:#x}");
            n.set_pos(i, pos);
            n.set_ctrl(i, i as u8);
            w.set_pos(i, pos);
        }
        for (i, pos) in [0, 1, 63, 64, 0x7f_ffff, REC, REC | 1, REC | 0x7f_ffff]
            .into_iter()
            .enumerate()
        {
            assert_eq!(n.pos_at(i), pos, "slot {i}");
            assert_eq!(w.pos_at(i), pos, "slot {i}");
            assert_eq!(n.ctrl().get(i), Some(&(i as u8)));
        }
        // The last slot's 4-byte read takes a control byte along and masks it off.
        n.set_pos(15, REC | 0x12_3456);
        n.set_ctrl(0, 0x7f);
        assert_eq!(n.pos_at(15), REC | 0x12_3456);
        assert_eq!(n.pos_at(0), 0);
        for pos in [0x80_0000, REC | 0x80_0000, u32::MAX] {
            assert!(!Narrow::fits(pos), "{pos:#x}");
            assert!(Wide::fits(pos));
        }
    }

    #[test]
    fn the_portable_zero_byte_test_is_exact() {
        let x = u128::from_le_bytes([0, 1, 0x80, 0xff, 0, 0x7f, 2, 0, 0, 0, 9, 0, 0x10, 0, 0, 1]);
        let z = zero_bytes(x).to_le_bytes();
        let want: Vec<bool> = x.to_le_bytes().iter().map(|&b| b == 0).collect();
        let got: Vec<bool> = z.iter().map(|&b| b == 0x80).collect();
        assert_eq!(got, want);
        assert!(z.iter().all(|&b| b == 0 || b == 0x80));
    }

    #[test]
    fn group_masks_are_exact() {
        let mut g = Narrow::EMPTY;
        g.set_ctrl(0, 5);
        g.set_ctrl(3, 5);
        g.set_ctrl(4, 0x04);
        g.set_ctrl(7, 0x7f);
        g.set_ctrl(9, DELETED);
        assert_eq!(g.matching(5).collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(g.matching(4).collect::<Vec<_>>(), vec![4]);
        assert_eq!(g.matching(0x7f).collect::<Vec<_>>(), vec![7]);
        assert_eq!(g.matching(0).count(), 0);
        assert_eq!(g.empty().count(), 11);
        assert_eq!(g.free().count(), 12);
    }

    #[test]
    fn sizes_are_64_byte_groups_in_jemalloc_classes() {
        assert_eq!(std::mem::size_of::<Narrow>(), 64);
        assert_eq!(std::mem::size_of::<Wide>(), 80);
        let mut sizes = vec![1];
        while sizes.len() < 14 {
            sizes.push(next_size(*sizes.last().unwrap_or(&1)));
        }
        assert_eq!(
            sizes,
            vec![1, 2, 4, 8, 16, 32, 64, 96, 128, 192, 256, 384, 512, 768]
        );
        // ~1,000 keys (a shard at 1M keys): 96 groups, 6,144 bytes, 6.3 bytes a key.
        assert_eq!(size_for(977), 96);
        assert_eq!(size_for(0), 1);
        assert_eq!(size_for(14), 1);
        assert_eq!(size_for(15), 2);
        assert_eq!(size_for(29), 4);
    }

    /// Keys are numbers, each stored at a position; the hash is a mix of the key. The
    /// model is a HashMap key -> position.
    struct Harness {
        index: KeyIndex,
        /// position -> key.
        slots: HashMap<u32, u64>,
        model: HashMap<u64, u32>,
    }

    fn hash_key(k: u64) -> u64 {
        let x = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^ (x >> 29)
    }

    impl Harness {
        fn new() -> Self {
            Harness {
                index: KeyIndex::default(),
                slots: HashMap::new(),
                model: HashMap::new(),
            }
        }

        fn find(&self, k: u64) -> Option<u32> {
            self.index
                .find(hash_key(k), |p| self.slots.get(&p) == Some(&k))
        }

        fn insert(&mut self, k: u64, pos: u32) {
            self.slots.insert(pos, k);
            self.model.insert(k, pos);
            let slots = &self.slots;
            self.index.insert(hash_key(k), pos, |p| {
                hash_key(*slots.get(&p).expect("a hashed position holds a key"))
            });
        }

        fn remove(&mut self, k: u64) -> Option<u32> {
            let slots = &self.slots;
            let got = self
                .index
                .remove(hash_key(k), |p| slots.get(&p) == Some(&k));
            if let Some(p) = got {
                self.slots.remove(&p);
            }
            assert_eq!(got, self.model.remove(&k), "remove {k}");
            got
        }

        fn relocate(&mut self, k: u64, new: u32) {
            let Some(old) = self.model.get(&k).copied() else {
                return;
            };
            self.slots.remove(&old);
            self.slots.insert(new, k);
            self.model.insert(k, new);
            let slots = &self.slots;
            self.index.repoint(hash_key(k), old, new, |p| {
                assert_ne!(p, old, "the vacated position was hashed");
                hash_key(*slots.get(&p).expect("a hashed position holds a key"))
            });
        }

        fn check(&self) {
            assert_eq!(self.index.len(), self.model.len());
            for (&k, &p) in &self.model {
                assert_eq!(self.find(k), Some(p), "find {k}");
            }
        }
    }

    #[test]
    fn matches_a_model_through_inserts_removals_moves_and_rebuilds() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut h = Harness::new();
        let mut next_pos = 0u32;
        for round in 0..60_000u32 {
            let k = rng.gen_range(0..3_000u64);
            match rng.gen_range(0..10) {
                0..=4 => {
                    if !h.model.contains_key(&k) {
                        next_pos += 1;
                        h.insert(k, next_pos);
                    }
                }
                5..=7 => {
                    h.remove(k);
                }
                8 => {
                    next_pos += 1;
                    h.relocate(k, next_pos | REC);
                }
                _ => assert_eq!(h.find(k), h.model.get(&k).copied(), "find {k}"),
            }
            if round % 5_000 == 0 {
                h.check();
            }
        }
        h.check();
        // Keys never inserted are absent.
        for k in 3_000..3_500 {
            assert_eq!(h.find(k), None);
        }
        assert_eq!(h.index.entry_bytes(), 3);
        // Empty it: every slot becomes free again.
        let keys: Vec<u64> = h.model.keys().copied().collect();
        for k in keys {
            h.remove(k);
        }
        assert!(h.index.is_empty());
        h.check();
    }

    #[test]
    fn a_churn_of_removals_and_inserts_at_one_size_reuses_tombstones() {
        let mut h = Harness::new();
        for k in 0..1_000u64 {
            h.insert(k, k as u32);
        }
        let bytes = h.index.allocated_bytes();
        // Remove and re-add keys, the count steady: the table does not grow.
        for round in 0..20u64 {
            for k in 0..500u64 {
                h.remove(k + round * 500);
            }
            for k in 0..500u64 {
                let key = k + (round + 2) * 500;
                h.insert(key, key as u32);
            }
        }
        h.check();
        assert_eq!(h.index.allocated_bytes(), bytes);
    }

    #[test]
    fn a_position_past_24_bits_widens_the_index_and_keeps_every_entry() {
        let mut h = Harness::new();
        for k in 0..1_000u64 {
            let pos = if k % 2 == 0 { k as u32 } else { k as u32 | REC };
            h.insert(k, pos);
        }
        assert_eq!(h.index.entry_bytes(), 3);
        h.insert(5_000, REC | 0x90_0000);
        assert_eq!(h.index.entry_bytes(), 4);
        h.check();
        // Moves, removals and inserts in the wide form.
        h.relocate(7, 0x80_0001);
        h.remove(8);
        h.insert(9_000, 0x1234_5678);
        h.check();
        h.index.clear();
        assert!(h.index.is_empty());
        assert_eq!(h.index.entry_bytes(), 3);
    }

    #[test]
    fn moving_an_entry_past_24_bits_widens_too() {
        let mut h = Harness::new();
        for k in 0..100u64 {
            h.insert(k, k as u32);
        }
        h.relocate(9, 0x100_0000);
        assert_eq!(h.index.entry_bytes(), 4);
        h.check();
    }
}
