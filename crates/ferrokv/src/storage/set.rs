//! Set values and their two encodings, as Redis 7.0 keeps them:
//!
//! * [`IntSet`] (`intset`): a sorted array of integers stored at the smallest width (16, 32
//!   or 64 bits) that holds them all, upgraded when a wider integer arrives and never
//!   narrowed. Used while every member is a canonical integer (Redis's `string2ll` rules:
//!   no sign on zero, no leading zeros or spaces, within i64) and the set holds at most
//!   `set-max-intset-entries` members. Iteration (SMEMBERS, SSCAN...) is ascending, exactly
//!   as Redis replies.
//! * [`SetDict`] (`hashtable`): a chained hash table of byte strings whose SCAN cursor walks
//!   the buckets in reverse-binary order like Redis's `dictScan`, so SSCAN keeps its
//!   guarantee (every member present for the whole scan is returned) across resizes.
//!   Members of up to 22 bytes are stored inside the node (no allocation of their own).
//!
//! A set starts as an intset and becomes a hashtable when a non-integer member is added or
//! the intset grows past the limit; it never converts back (as in Redis).

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;
use rand::Rng;

use super::value::itoa_stack;
use crate::util::parse_canonical_i64;

/// Encoding thresholds read from the config (`set-max-intset-entries`).
#[derive(Clone, Copy, Debug)]
pub struct SetLimits {
    /// `set-max-intset-entries`.
    pub max_intset_entries: usize,
}

impl SetLimits {
    /// The largest intset allowed: Redis caps the limit at 2^30 (intset internals).
    fn intset_cap(self) -> usize {
        self.max_intset_entries.min(1 << 30)
    }
}

/// One member as an encoding stores it: an intset's integer or a hashtable's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Elem<'a> {
    /// An intset member.
    Int(i64),
    /// A hashtable member.
    Bytes(&'a [u8]),
}

impl Elem<'_> {
    /// Call `f` with the member's bytes (integers formatted on the stack).
    #[inline]
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Elem::Int(n) => f(itoa_stack(n).as_slice()),
            Elem::Bytes(b) => f(b),
        }
    }

    /// The member's bytes, owned.
    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }
}

// ---------------------------------------------------------------------------------------
// IntSet
// ---------------------------------------------------------------------------------------

/// A sorted array of distinct integers at the narrowest width that holds them all
/// (Redis's `intset`).
#[derive(Clone, PartialEq, Eq)]
pub enum IntSet {
    /// Every member fits in 16 bits.
    W16(Vec<i16>),
    /// Every member fits in 32 bits (and one does not fit in 16).
    W32(Vec<i32>),
    /// 64-bit members.
    W64(Vec<i64>),
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::W16(Vec::new())
    }
}

/// Position of `v` in a sorted vector of a narrower type: Ok(index) when present,
/// Err(insertion point) when not (a value out of the type's range sorts before or after all).
fn search_in<T: Copy + Ord + TryFrom<i64>>(v: &[T], x: i64) -> Result<usize, usize> {
    match T::try_from(x) {
        Ok(x) => v.binary_search(&x),
        Err(_) if x < 0 => Err(0),
        Err(_) => Err(v.len()),
    }
}

/// Width in bytes Redis's `_intsetValueEncoding` picks for `x`.
fn width_of(x: i64) -> usize {
    if i16::try_from(x).is_ok() {
        2
    } else if i32::try_from(x).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            IntSet::W16(v) => v.len(),
            IntSet::W32(v) => v.len(),
            IntSet::W64(v) => v.len(),
        }
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per member (2, 4 or 8), as Redis's intset `encoding`.
    pub fn width(&self) -> usize {
        match self {
            IntSet::W16(_) => 2,
            IntSet::W32(_) => 4,
            IntSet::W64(_) => 8,
        }
    }

    /// The member at `i` (ascending order).
    #[inline]
    pub fn get(&self, i: usize) -> Option<i64> {
        match self {
            IntSet::W16(v) => v.get(i).map(|&x| i64::from(x)),
            IntSet::W32(v) => v.get(i).map(|&x| i64::from(x)),
            IntSet::W64(v) => v.get(i).copied(),
        }
    }

    fn search(&self, x: i64) -> Result<usize, usize> {
        match self {
            IntSet::W16(v) => search_in(v, x),
            IntSet::W32(v) => search_in(v, x),
            IntSet::W64(v) => search_in(v, x),
        }
    }

    /// True when `x` is a member.
    #[inline]
    pub fn contains(&self, x: i64) -> bool {
        self.search(x).is_ok()
    }

    /// Widen every member to `width` bytes (Redis's `intsetUpgradeAndAdd` first step).
    fn upgrade(&mut self, width: usize) {
        let old: Vec<i64> = self.iter().collect();
        *self = match width {
            4 => IntSet::W32(old.iter().filter_map(|&x| i32::try_from(x).ok()).collect()),
            _ => IntSet::W64(old),
        };
    }

    /// Add `x`; true when it was not there. A value wider than the current width upgrades
    /// the whole set first; it is then smaller or larger than every member, so it goes to
    /// one end.
    pub fn insert(&mut self, x: i64) -> bool {
        if width_of(x) > self.width() {
            self.upgrade(width_of(x));
            let at = if x < 0 { 0 } else { self.len() };
            self.insert_at(at, x);
            return true;
        }
        match self.search(x) {
            Ok(_) => false,
            Err(at) => {
                self.insert_at(at, x);
                true
            }
        }
    }

    /// Insert at a position; `x` fits the current width (checked by the caller).
    fn insert_at(&mut self, at: usize, x: i64) {
        match self {
            IntSet::W16(v) => {
                if let Ok(x) = i16::try_from(x) {
                    v.insert(at.min(v.len()), x);
                }
            }
            IntSet::W32(v) => {
                if let Ok(x) = i32::try_from(x) {
                    v.insert(at.min(v.len()), x);
                }
            }
            IntSet::W64(v) => v.insert(at.min(v.len()), x),
        }
    }

    /// Remove `x`; true when it was there.
    pub fn remove(&mut self, x: i64) -> bool {
        let Ok(at) = self.search(x) else {
            return false;
        };
        fn take<T>(v: &mut Vec<T>, at: usize) {
            v.remove(at);
            // Give memory back after heavy removals (Redis reallocates on every change).
            if v.capacity() > 16 && v.capacity() > v.len() * 4 {
                v.shrink_to(v.len() * 2);
            }
        }
        match self {
            IntSet::W16(v) => take(v, at),
            IntSet::W32(v) => take(v, at),
            IntSet::W64(v) => take(v, at),
        }
        true
    }

    /// Members in ascending order.
    #[inline]
    pub fn iter(&self) -> IntSetIter<'_> {
        IntSetIter { set: self, pos: 0 }
    }

    /// A uniformly random member.
    pub fn random(&self, rng: &mut impl Rng) -> Option<i64> {
        if self.is_empty() {
            return None;
        }
        self.get(rng.gen_range(0..self.len()))
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        match self {
            IntSet::W16(v) => v.capacity() * 2,
            IntSet::W32(v) => v.capacity() * 4,
            IntSet::W64(v) => v.capacity() * 8,
        }
    }
}

impl fmt::Debug for IntSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "intset{}", self.width() * 8)?;
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Ascending iterator over an intset.
#[derive(Clone)]
pub struct IntSetIter<'a> {
    set: &'a IntSet,
    pos: usize,
}

impl Iterator for IntSetIter<'_> {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        let x = self.set.get(self.pos)?;
        self.pos += 1;
        Some(x)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.set.len().saturating_sub(self.pos);
        (left, Some(left))
    }
}

// ---------------------------------------------------------------------------------------
// SetDict
// ---------------------------------------------------------------------------------------

/// Members up to this many bytes are stored inside their node.
const INLINE_MEMBER: usize = 22;

/// A member's bytes: inline when short, else in their own allocation. 24 bytes.
#[derive(Clone)]
enum Member {
    Inline { len: u8, buf: [u8; INLINE_MEMBER] },
    Heap(Box<[u8]>),
}

impl Member {
    fn new(bytes: &[u8]) -> Member {
        if bytes.len() <= INLINE_MEMBER {
            let mut buf = [0u8; INLINE_MEMBER];
            buf[..bytes.len()].copy_from_slice(bytes);
            Member::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Member::Heap(bytes.into())
        }
    }

    const EMPTY: Member = Member::Inline {
        len: 0,
        buf: [0; INLINE_MEMBER],
    };

    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            Member::Inline { len, buf } => &buf[..(*len as usize).min(INLINE_MEMBER)],
            Member::Heap(b) => b,
        }
    }

    /// Bytes held outside the node.
    fn heap_len(&self) -> usize {
        match self {
            Member::Inline { .. } => 0,
            Member::Heap(b) => b.len(),
        }
    }
}

const NIL: u32 = u32::MAX;
/// Marks a node on the free list (in `next`).
const FREE: u32 = 1 << 31;
const MIN_BUCKETS: usize = 4;

#[derive(Clone)]
struct Node {
    member: Member,
    /// Low 32 bits of the member's hash (bucket = hash & mask; tables stay below 2^31 nodes).
    hash: u32,
    /// Next node of the bucket chain (NIL ends it); on a free node, FREE | (next free
    /// node + 1), with 0 ending the free list.
    next: u32,
}

impl Node {
    #[inline]
    fn is_free(&self) -> bool {
        self.next != NIL && self.next & FREE != 0
    }
}

/// A chained hash set of byte strings with a slab of 32-byte nodes (stable indices, a free
/// list) and power-of-two buckets. Grows at load factor 1 and shrinks below 10% fill,
/// rebuilding the slab compactly; SCAN cursors address buckets, so rebuilds never break a
/// scan.
#[derive(Clone)]
pub struct SetDict {
    buckets: Vec<u32>,
    nodes: Vec<Node>,
    /// Head of the free list (index into `nodes`) or NIL.
    free: u32,
    len: usize,
    /// Bytes of the members stored outside their nodes (kept for O(1) `heap_size`).
    member_heap: usize,
    hasher: DefaultHashBuilder,
}

impl Default for SetDict {
    fn default() -> Self {
        SetDict::with_capacity(0)
    }
}

impl SetDict {
    /// An empty set sized for `n` members.
    pub fn with_capacity(n: usize) -> SetDict {
        SetDict {
            buckets: vec![NIL; n.max(MIN_BUCKETS).next_power_of_two()],
            nodes: Vec::with_capacity(n),
            free: NIL,
            len: 0,
            member_heap: 0,
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn hash(&self, member: &[u8]) -> u32 {
        self.hasher.hash_one(member) as u32
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// (index of the node holding `member`, index of its predecessor in the chain or NIL).
    fn find(&self, member: &[u8]) -> Option<(u32, u32)> {
        let h = self.hash(member);
        let mut prev = NIL;
        let mut i = *self.buckets.get(h as usize & self.mask())?;
        while i != NIL {
            let n = self.nodes.get(i as usize)?;
            if n.hash == h && n.member.bytes() == member {
                return Some((i, prev));
            }
            prev = i;
            i = n.next;
        }
        None
    }

    /// True when `member` is in the set.
    #[inline]
    pub fn contains(&self, member: &[u8]) -> bool {
        self.find(member).is_some()
    }

    /// Add `member`; true when it was not there.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.contains(member) {
            return false;
        }
        self.insert_new(member);
        true
    }

    /// Insert a member known to be absent.
    fn insert_new(&mut self, member: &[u8]) {
        if self.len >= self.buckets.len() {
            self.resize(self.buckets.len() * 2);
        }
        let hash = self.hash(member);
        let b = hash as usize & self.mask();
        let head = self.buckets.get(b).copied().unwrap_or(NIL);
        let member = Member::new(member);
        self.member_heap += member.heap_len();
        let node = Node {
            member,
            hash,
            next: head,
        };
        let idx = if self.free != NIL {
            let idx = self.free;
            if let Some(slot) = self.nodes.get_mut(idx as usize) {
                let link = slot.next & !FREE;
                self.free = if link == 0 { NIL } else { link - 1 };
                *slot = node;
            }
            idx
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        };
        if let Some(slot) = self.buckets.get_mut(b) {
            *slot = idx;
        }
        self.len += 1;
    }

    /// Remove `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.find(member) {
            Some((i, prev)) => {
                self.unlink(i, prev);
                true
            }
            None => false,
        }
    }

    /// Remove node `i` (whose chain predecessor is `prev`) and put it on the free list.
    fn unlink(&mut self, i: u32, prev: u32) {
        let Some(node) = self.nodes.get_mut(i as usize) else {
            return;
        };
        let next = node.next;
        let bucket = node.hash as usize & (self.buckets.len() - 1);
        let old = std::mem::replace(&mut node.member, Member::EMPTY);
        node.next = FREE | if self.free == NIL { 0 } else { self.free + 1 };
        self.member_heap -= old.heap_len();
        self.free = i;
        if prev == NIL {
            if let Some(slot) = self.buckets.get_mut(bucket) {
                *slot = next;
            }
        } else if let Some(p) = self.nodes.get_mut(prev as usize) {
            p.next = next;
        }
        self.len -= 1;
        if self.buckets.len() > MIN_BUCKETS && self.len * 10 < self.buckets.len() {
            self.resize(self.len.max(MIN_BUCKETS).next_power_of_two());
        }
    }

    /// Rebuild with `size` buckets (a power of two) and a compact slab.
    fn resize(&mut self, size: usize) {
        let old = std::mem::take(&mut self.nodes);
        self.nodes = Vec::with_capacity(self.len.max(size / 2));
        self.buckets = vec![NIL; size];
        self.free = NIL;
        let mask = size - 1;
        for mut n in old.into_iter().filter(|n| !n.is_free()) {
            let b = n.hash as usize & mask;
            let idx = self.nodes.len() as u32;
            if let Some(slot) = self.buckets.get_mut(b) {
                n.next = *slot;
                *slot = idx;
            }
            self.nodes.push(n);
        }
    }

    /// Every member, bucket by bucket.
    pub fn iter(&self) -> SetDictIter<'_> {
        SetDictIter {
            dict: self,
            bucket: 0,
            node: NIL,
        }
    }

    /// Visit the members of the bucket `cursor` addresses; returns the next cursor (0 when
    /// the scan is complete). Redis's `dictScan` cursor arithmetic: the cursor's bits are
    /// incremented from the top, so a scan stays valid when the table grows or shrinks.
    pub fn scan<'a>(&'a self, cursor: u64, mut f: impl FnMut(&'a [u8])) -> u64 {
        let mask = self.mask() as u64;
        let mut i = self
            .buckets
            .get((cursor & mask) as usize)
            .copied()
            .unwrap_or(NIL);
        while let Some(n) = self.nodes.get(i as usize) {
            f(n.member.bytes());
            i = n.next;
        }
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    /// Index of a uniformly random live node.
    fn random_index(&self, rng: &mut impl Rng) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        // The slab is at least ~10% live (it is compacted when the table shrinks), so this
        // loop ends quickly.
        loop {
            let i = rng.gen_range(0..self.nodes.len());
            if self.nodes.get(i).is_some_and(|n| !n.is_free()) {
                return Some(i);
            }
        }
    }

    /// A uniformly random member.
    pub fn random(&self, rng: &mut impl Rng) -> Option<&[u8]> {
        let i = self.random_index(rng)?;
        self.nodes.get(i).map(|n| n.member.bytes())
    }

    /// Heap bytes held: buckets, the node slab, long members, the boxed table itself.
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<SetDict>()
            + self.buckets.capacity() * std::mem::size_of::<u32>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.member_heap
    }
}

impl fmt::Debug for SetDict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Iterator over a hashtable's members, bucket by bucket.
pub struct SetDictIter<'a> {
    dict: &'a SetDict,
    bucket: usize,
    node: u32,
}

impl<'a> Iterator for SetDictIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while self.node == NIL {
            let head = *self.dict.buckets.get(self.bucket)?;
            self.bucket += 1;
            self.node = head;
        }
        let n = self.dict.nodes.get(self.node as usize)?;
        self.node = n.next;
        Some(n.member.bytes())
    }
}

// ---------------------------------------------------------------------------------------
// SetValue
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Repr {
    /// `intset`.
    Ints(IntSet),
    /// `hashtable` (boxed: keeps every entry of the keyspace small).
    Table(Box<SetDict>),
}

/// A set: an intset or a hashtable (32 bytes).
#[derive(Clone, Debug)]
pub struct SetValue {
    repr: Repr,
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue {
            repr: Repr::Ints(IntSet::default()),
        }
    }
}

/// Iterator over a set's members in its encoding's order (ascending for an intset).
pub enum SetIter<'a> {
    /// Over an intset.
    Ints(IntSetIter<'a>),
    /// Over a hashtable.
    Table(SetDictIter<'a>),
}

impl<'a> Iterator for SetIter<'a> {
    type Item = Elem<'a>;

    #[inline]
    fn next(&mut self) -> Option<Elem<'a>> {
        match self {
            SetIter::Ints(i) => i.next().map(Elem::Int),
            SetIter::Table(i) => i.next().map(Elem::Bytes),
        }
    }
}

impl SetValue {
    /// An empty set (an empty intset, as Redis's `createIntsetObject`: the first members
    /// decide the encoding).
    pub fn new() -> SetValue {
        SetValue::default()
    }

    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(s) => s.len(),
            Repr::Table(t) => t.len(),
        }
    }

    /// True when empty (an empty set is deleted from the keyspace).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for the intset encoding.
    #[inline]
    pub fn is_intset(&self) -> bool {
        matches!(self.repr, Repr::Ints(_))
    }

    /// True when `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(s) => parse_canonical_i64(member).is_some_and(|x| s.contains(x)),
            Repr::Table(t) => t.contains(member),
        }
    }

    /// True when `e` is in the set.
    pub fn contains_elem(&self, e: Elem<'_>) -> bool {
        match (&self.repr, e) {
            (Repr::Ints(s), Elem::Int(x)) => s.contains(x),
            _ => e.with_bytes(|b| self.contains(b)),
        }
    }

    /// Add `member`; true when it was not there (Redis's `setTypeAdd`: a non-integer turns
    /// an intset into a hashtable first; an intset that grows past the limit is converted
    /// after the addition).
    pub fn insert(&mut self, member: &[u8], limits: SetLimits) -> bool {
        match &mut self.repr {
            Repr::Table(t) => t.insert(member),
            Repr::Ints(_) => match parse_canonical_i64(member) {
                Some(x) => self.insert_int(x, limits),
                None => {
                    self.convert();
                    match &mut self.repr {
                        Repr::Table(t) => t.insert(member),
                        Repr::Ints(_) => false,
                    }
                }
            },
        }
    }

    /// Add an integer member (no formatting round trip while the set is an intset).
    fn insert_int(&mut self, x: i64, limits: SetLimits) -> bool {
        match &mut self.repr {
            Repr::Ints(s) => {
                let added = s.insert(x);
                if added && s.len() > limits.intset_cap() {
                    self.convert();
                }
                added
            }
            Repr::Table(t) => t.insert(itoa_stack(x).as_slice()),
        }
    }

    /// Add `e`; true when it was not there.
    pub fn insert_elem(&mut self, e: Elem<'_>, limits: SetLimits) -> bool {
        match e {
            Elem::Int(x) => self.insert_int(x, limits),
            Elem::Bytes(b) => self.insert(b, limits),
        }
    }

    /// Remove `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(s) => parse_canonical_i64(member).is_some_and(|x| s.remove(x)),
            Repr::Table(t) => t.remove(member),
        }
    }

    /// Remove `e`; true when it was there.
    pub fn remove_elem(&mut self, e: Elem<'_>) -> bool {
        if let (Repr::Ints(s), Elem::Int(x)) = (&mut self.repr, e) {
            return s.remove(x);
        }
        e.with_bytes(|b| self.remove(b))
    }

    /// Turn an intset into a hashtable (a hashtable stays as it is).
    pub fn convert(&mut self) {
        if let Repr::Ints(s) = &self.repr {
            let mut t = SetDict::with_capacity(s.len());
            for x in s.iter() {
                t.insert_new(itoa_stack(x).as_slice());
            }
            self.repr = Repr::Table(Box::new(t));
        }
    }

    /// The members in the encoding's order (ascending for an intset).
    #[inline]
    pub fn iter(&self) -> SetIter<'_> {
        match &self.repr {
            Repr::Ints(s) => SetIter::Ints(s.iter()),
            Repr::Table(t) => SetIter::Table(t.iter()),
        }
    }

    /// Call `f` with every member (in the encoding's order).
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        for e in self.iter() {
            e.with_bytes(&mut f);
        }
    }

    /// A uniformly random member (None when empty).
    pub fn random(&self, rng: &mut impl Rng) -> Option<Elem<'_>> {
        match &self.repr {
            Repr::Ints(s) => s.random(rng).map(Elem::Int),
            Repr::Table(t) => t.random(rng).map(Elem::Bytes),
        }
    }

    /// Remove and return a uniformly random member (None when empty).
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> Option<Vec<u8>> {
        match &mut self.repr {
            Repr::Ints(s) => {
                let x = s.random(rng)?;
                s.remove(x);
                Some(itoa_stack(x).as_slice().to_vec())
            }
            Repr::Table(t) => {
                let member = t.random(rng)?.to_vec();
                t.remove(&member);
                Some(member)
            }
        }
    }

    /// One SSCAN step from `cursor`: an intset is returned whole with cursor 0 (as Redis
    /// does for compact encodings); a hashtable visits one bucket and returns the next
    /// cursor (0 when done).
    pub fn scan<'a>(&'a self, cursor: u64, mut f: impl FnMut(Elem<'a>)) -> u64 {
        match &self.repr {
            Repr::Ints(s) => {
                s.iter().for_each(|x| f(Elem::Int(x)));
                0
            }
            Repr::Table(t) => t.scan(cursor, |b| f(Elem::Bytes(b))),
        }
    }

    /// Redis's encoding name (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Ints(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Heap bytes held (MEMORY USAGE, INFO memory).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Ints(s) => s.heap_size(),
            Repr::Table(t) => t.heap_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SetLimits = SetLimits {
        max_intset_entries: 512,
    };

    fn members(s: &SetValue) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        s.for_each(|m| v.push(m.to_vec()));
        v
    }

    fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        v.sort();
        v
    }

    fn bytes(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn layout_is_compact() {
        assert!(std::mem::size_of::<SetValue>() <= 40);
        assert_eq!(std::mem::size_of::<Member>(), 24);
        assert_eq!(std::mem::size_of::<Node>(), 32);
    }

    #[test]
    fn intset_is_sorted_and_upgrades_width() {
        let mut s = SetValue::new();
        for m in ["5", "-3", "100", "5", "0"] {
            s.insert(m.as_bytes(), LIMITS);
        }
        assert_eq!(s.encoding(), "intset");
        assert_eq!(members(&s), bytes(&["-3", "0", "5", "100"]));
        let Repr::Ints(i) = &s.repr else {
            panic!("not an intset")
        };
        assert_eq!(i.width(), 2);

        // 32-bit values: positive goes last, negative first
        assert!(s.insert(b"70000", LIMITS));
        assert!(s.insert(b"-70000", LIMITS));
        let Repr::Ints(i) = &s.repr else {
            panic!("not an intset")
        };
        assert_eq!(i.width(), 4);
        assert_eq!(
            members(&s),
            bytes(&["-70000", "-3", "0", "5", "100", "70000"])
        );

        // 64-bit, both ends
        assert!(s.insert(b"-9223372036854775808", LIMITS));
        assert!(s.insert(b"9223372036854775807", LIMITS));
        let Repr::Ints(i) = &s.repr else {
            panic!("not an intset")
        };
        assert_eq!(i.width(), 8);
        assert_eq!(s.len(), 8);
        assert_eq!(members(&s)[0], b"-9223372036854775808".to_vec());
        assert_eq!(members(&s)[7], b"9223372036854775807".to_vec());

        // removing the wide values never narrows the width back (as in Redis)
        assert!(s.remove(b"-9223372036854775808"));
        assert!(s.remove(b"9223372036854775807"));
        assert!(!s.remove(b"9223372036854775807"));
        let Repr::Ints(i) = &s.repr else {
            panic!("not an intset")
        };
        assert_eq!(i.width(), 8);
        assert!(s.contains(b"70000"));
        assert!(!s.contains(b"70001"));
        // out-of-width lookups in a narrow set
        let mut n = IntSet::default();
        n.insert(1);
        assert!(!n.contains(1 << 40));
        assert!(!n.contains(-(1 << 40)));
        assert!(!n.remove(1 << 40));
    }

    #[test]
    fn only_canonical_integers_stay_in_an_intset() {
        for m in [
            "01",
            "-0",
            " 1",
            "1 ",
            "+1",
            "9223372036854775808",
            "-9223372036854775809",
            "",
            "1.0",
            "0x10",
        ] {
            let mut s = SetValue::new();
            s.insert(b"1", LIMITS);
            assert!(!s.contains(m.as_bytes()) || m == "1", "{m:?}");
            assert!(s.insert(m.as_bytes(), LIMITS), "{m:?}");
            assert_eq!(s.encoding(), "hashtable", "{m:?}");
            assert!(s.contains(m.as_bytes()));
            assert!(s.contains(b"1"));
            assert_eq!(s.len(), 2);
        }
        let mut s = SetValue::new();
        for m in ["0", "-1", "9223372036854775807", "-9223372036854775808"] {
            s.insert(m.as_bytes(), LIMITS);
        }
        assert_eq!(s.encoding(), "intset");
    }

    #[test]
    fn converts_past_the_limit_and_never_back() {
        let limits = SetLimits {
            max_intset_entries: 3,
        };
        let mut s = SetValue::new();
        for m in ["1", "2", "3", "3"] {
            s.insert(m.as_bytes(), limits);
        }
        assert_eq!(s.encoding(), "intset");
        assert!(s.insert(b"4", limits));
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(sorted(members(&s)), bytes(&["1", "2", "3", "4"]));
        s.remove(b"4");
        s.remove(b"3");
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"1"));

        // limit 0: even one integer makes a hashtable
        let mut s = SetValue::new();
        s.insert(
            b"1",
            SetLimits {
                max_intset_entries: 0,
            },
        );
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn elem_operations_match_byte_operations() {
        let mut ints = SetValue::new();
        let mut table = SetValue::new();
        table.insert(b"x", LIMITS);
        for i in 0..50i64 {
            assert!(ints.insert_elem(Elem::Int(i), LIMITS));
            assert!(table.insert_elem(Elem::Int(i), LIMITS));
        }
        assert!(!ints.insert_elem(Elem::Bytes(b"7"), LIMITS));
        assert!(ints.contains_elem(Elem::Bytes(b"7")));
        assert!(table.contains_elem(Elem::Int(7)));
        assert!(!table.contains_elem(Elem::Bytes(b"07")));
        assert!(ints.remove_elem(Elem::Bytes(b"7")));
        assert!(table.remove_elem(Elem::Int(7)));
        assert!(!ints.contains(b"7"));
        assert!(!table.contains(b"7"));
        assert_eq!(ints.encoding(), "intset");
    }

    #[test]
    fn inline_and_heap_members() {
        let mut s = SetValue::new();
        let long = vec![b'z'; 300];
        let edge = vec![b'e'; INLINE_MEMBER];
        let over = vec![b'o'; INLINE_MEMBER + 1];
        for m in [&b""[..], b"\x00\xff", &long, &edge, &over] {
            assert!(s.insert(m, LIMITS));
            assert!(!s.insert(m, LIMITS));
        }
        for m in [&b""[..], b"\x00\xff", &long, &edge, &over] {
            assert!(s.contains(m));
        }
        let before = s.heap_size();
        assert!(s.remove(&long));
        assert!(s.heap_size() + 300 <= before);
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn dict_grows_shrinks_and_keeps_everything() {
        let mut d = SetDict::default();
        for i in 0..1000u32 {
            assert!(d.insert(&i.to_be_bytes()));
        }
        assert!(!d.insert(&5u32.to_be_bytes()));
        assert_eq!(d.len(), 1000);
        assert_eq!(d.iter().count(), 1000);
        for i in 0..990u32 {
            assert!(d.remove(&i.to_be_bytes()));
        }
        assert_eq!(d.len(), 10);
        assert!(d.buckets.len() <= 16);
        for i in 990..1000u32 {
            assert!(d.contains(&i.to_be_bytes()));
        }
        for i in 0..5u32 {
            d.insert(&i.to_be_bytes());
        }
        assert_eq!(d.len(), 15);
        assert_eq!(d.iter().count(), 15);
    }

    #[test]
    fn scan_visits_everything_across_resizes_and_conversion() {
        let mut s = SetValue::new();
        s.insert(b"start", LIMITS);
        for i in 0..200u32 {
            s.insert(format!("m{i}").as_bytes(), LIMITS);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut steps = 0;
        loop {
            cursor = s.scan(cursor, |e| {
                seen.insert(e.to_vec());
            });
            steps += 1;
            if steps == 20 {
                for i in 1000..3000u32 {
                    s.insert(format!("n{i}").as_bytes(), LIMITS);
                }
            }
            if steps == 60 {
                for i in 1000..3000u32 {
                    s.remove(format!("n{i}").as_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..200u32 {
            assert!(seen.contains(format!("m{i}").as_bytes()), "missed m{i}");
        }

        // an intset is returned whole with cursor 0
        let mut s = SetValue::new();
        for i in 0..100i64 {
            s.insert_elem(Elem::Int(i), LIMITS);
        }
        let mut n = 0;
        assert_eq!(s.scan(12345, |_| n += 1), 0);
        assert_eq!(n, 100);
    }

    #[test]
    fn random_and_pop() {
        let mut rng = rand::thread_rng();
        let mut s = SetValue::new();
        assert!(s.random(&mut rng).is_none());
        assert!(s.pop_random(&mut rng).is_none());
        for i in 0..20i64 {
            s.insert_elem(Elem::Int(i), LIMITS);
        }
        let mut t = s.clone();
        t.insert(b"x", LIMITS);
        for set in [&mut s, &mut t] {
            let n = set.len();
            let e = set.random(&mut rng).map(|e| e.to_vec());
            assert!(e.is_some_and(|e| set.contains(&e)));
            let mut popped = std::collections::HashSet::new();
            while let Some(m) = set.pop_random(&mut rng) {
                assert!(!set.contains(&m));
                assert!(popped.insert(m));
            }
            assert_eq!(popped.len(), n);
            assert!(set.is_empty());
        }
    }

    #[test]
    fn heap_size_tracks_contents() {
        let mut s = SetValue::new();
        assert_eq!(s.heap_size(), 0);
        for i in 0..100i64 {
            s.insert_elem(Elem::Int(i), LIMITS);
        }
        assert!(s.heap_size() >= 200);
        s.insert(b"a string member that is long enough", LIMITS);
        assert!(s.heap_size() >= 101 * 32);
    }
}
