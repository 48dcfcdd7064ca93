//! The slabs a shard's key table stores its entries in (see `table.rs`): chunks of 64
//! slots, each chunk with its access fields and, once one of its keys has a TTL, its
//! deadlines. Two kinds of slot: a 64-byte [`Node`] (key and [`Value`]) for collections
//! and long or edited strings, and byte records sized to their content for `int` and
//! `embstr` strings and small lists, one slab per record size ([`REC_SIZES`]).
//!
//! A record is `[header][key length][key][value]`: header 1 = an `int` string (8 bytes,
//! little-endian), `2 + n` = an `embstr` of `n` bytes, [`LIST`] = a small list whose value
//! is `[count][length][entries]` (the entries encoded as a list node's, see `list.rs`),
//! [`ZSET`] = a small sorted set, `[count][length][entries]` in the listpack encoding of
//! `zset/listpack.rs`; 0 marks a free slot. A 13-byte key with a 32-byte value is a 47-byte record in the
//! 48-byte slab, where a node costs 64.

use super::key::KeyBuf;
use super::list::{ListRef, Packed};
use super::value::{StrRef, StrValue, Value, ValueRef, EMBSTR_LIMIT, MAX_INT_ENCODED_LEN};
use super::zset::{PackedZSet, ZSetRef, PACKED_MAX as ZSET_PACKED_MAX};

/// Slots per chunk: chunks are allocated whole (growing a quarter at a time), so a slab's
/// waste is at most one partly used chunk plus freed slots, which are reused first.
pub const CHUNK: usize = 64;

/// Slots a chunk's arrays grow by: the last chunk of a slab is usually partly used, and
/// growing it a quarter at a time leaves at most 15 unused slots instead of up to 63.
pub const GROW: usize = CHUNK / 4;

/// Slots a record chunk's arrays grow by: an eighth for records over 64 bytes (a last
/// 112-byte chunk grown a quarter at a time left ~16 bytes per sorted set of a shard
/// unused; the extra copies happen only while a chunk fills), a quarter up to 64 bytes
/// (strings: an eighth saved little of the last chunk's slack and its extra copies, freed
/// while loading, cost ~1.5 bytes per key 0.5 s after the load).
pub const fn rec_grow(size: usize) -> usize {
    if size > 64 {
        CHUNK / 8
    } else {
        CHUNK / 4
    }
}

/// Sizes of the record slabs (class `i + 1`; class 0 is the node slab). Steps of 8 bytes
/// up to 64, then 16: a chunk of 64 records is a jemalloc size class for each of them.
pub const REC_SIZES: [usize; 10] = [24, 32, 40, 48, 56, 64, 80, 96, 112, 128];

/// The largest record.
pub const MAX_REC: usize = 128;

/// Header byte of a free record slot.
const FREE: u8 = 0;
/// Header byte of an `int` record.
const INT: u8 = 1;
/// Header byte of an `embstr` record of 0 bytes (n bytes: `EMB + n`).
const EMB: u8 = 2;
/// Header byte of a small list's record (above every `embstr` header).
pub const LIST: u8 = 0xff;
/// Header byte of a small sorted set's record (above every `embstr` header).
pub const ZSET: u8 = 0xfe;

/// One key and its value in the node slab.
#[derive(Debug, Clone)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// The key bytes.
    pub key: KeyBuf,
}

/// A record's bytes outside its slab (moved between slots or slabs).
pub type Rec = [u8; MAX_REC];

/// A value as a record stores it: an `int` or `embstr` string, or a small list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecVal<'a> {
    /// An `int` string (8 bytes in the record).
    Int(i64),
    /// An `embstr` (at most [`EMBSTR_LIMIT`] bytes).
    Bytes(&'a [u8]),
    /// A small list's entries (count and length bytes, then the entries).
    List(Packed<'a>),
    /// A small sorted set's listpack (count and length bytes, then the entries).
    ZSet(PackedZSet<'a>),
}

impl<'a> RecVal<'a> {
    /// The record form of a value, None for what belongs in a node (`raw` strings,
    /// strings longer than the embstr limit).
    #[inline(always)]
    pub fn of(v: &'a StrValue) -> Option<RecVal<'a>> {
        match v {
            StrValue::Int(n) => Some(RecVal::Int(*n)),
            StrValue::Bytes { data, raw: false } if data.len() <= EMBSTR_LIMIT => {
                Some(RecVal::Bytes(data))
            }
            StrValue::Bytes { .. } => None,
        }
    }

    /// The record form of any value: strings as [`RecVal::of`], lists small enough to
    /// pack, None for everything else.
    #[inline(always)]
    pub fn of_value(v: &'a Value) -> Option<RecVal<'a>> {
        match v {
            Value::Str(s) => RecVal::of(s),
            Value::List(l) => l.packed().map(RecVal::List),
            Value::ZSet(z) => z.packed().map(RecVal::ZSet),
            _ => None,
        }
    }

    /// The record form of a string given by its bytes, encoded as
    /// [`StrValue::from_bytes`] encodes it; None when it would be `raw`.
    #[inline(always)]
    pub fn parse(data: &'a [u8]) -> Option<RecVal<'a>> {
        if data.len() <= MAX_INT_ENCODED_LEN {
            if let Some(n) = crate::util::parse_canonical_i64(data) {
                return Some(RecVal::Int(n));
            }
        }
        (data.len() <= EMBSTR_LIMIT).then_some(RecVal::Bytes(data))
    }

    /// Bytes of the value in a record.
    #[inline(always)]
    fn body_len(&self) -> usize {
        match self {
            RecVal::Int(_) => 8,
            RecVal::Bytes(b) => b.len(),
            RecVal::List(p) => 2 + p.data.len(),
            RecVal::ZSet(p) => 2 + p.data.len(),
        }
    }

    /// The record class (index into [`REC_SIZES`]) of this value under a key of `klen`
    /// bytes, None when the record would exceed [`MAX_REC`].
    #[inline(always)]
    pub fn class(&self, klen: usize) -> Option<usize> {
        class_of_size(2 + klen + self.body_len())
    }
}

/// The record class (index into [`REC_SIZES`]) a string value gets under `key`, or None
/// when it belongs in a node: `raw` strings (edited in place through a `Vec`), strings
/// longer than the embstr limit, records beyond [`MAX_REC`].
#[inline]
pub fn rec_class(key: &[u8], v: &StrValue) -> Option<usize> {
    RecVal::of(v)?.class(key.len())
}

/// The smallest record class holding `size` bytes ([`REC_SIZES`], computed).
#[inline(always)]
pub fn class_of_size(size: usize) -> Option<usize> {
    match size {
        0..=24 => Some(0),
        25..=64 => Some((size - 17) / 8),
        65..=128 => Some(6 + (size - 65) / 16),
        _ => None,
    }
}

/// The key length stored in a record.
#[inline(always)]
pub fn rec_klen(r: &[u8]) -> usize {
    r.get(1).copied().unwrap_or(0) as usize
}

/// Rewrite the value of the record `r` (its key stays; the new value has the record's
/// class under that key).
#[inline(always)]
pub fn write_rec_value(r: &mut [u8], v: RecVal<'_>) {
    let klen = rec_klen(r);
    let Some((head, body)) = r.split_first_mut() else {
        return;
    };
    let body = body.get_mut(1 + klen..).unwrap_or_default();
    match v {
        RecVal::Int(n) => {
            *head = INT;
            if let Some(dst) = body.get_mut(..8) {
                dst.copy_from_slice(&n.to_le_bytes());
            }
        }
        RecVal::Bytes(data) => {
            let n = data.len().min(body.len()).min(EMBSTR_LIMIT);
            *head = EMB + n as u8;
            if let (Some(dst), Some(src)) = (body.get_mut(..n), data.get(..n)) {
                dst.copy_from_slice(src);
            }
        }
        RecVal::List(p) => {
            let n = p.data.len().min(crate::storage::list::PACKED_MAX);
            *head = LIST;
            if let Some([count, len, dst @ ..]) = body.get_mut(..2 + n) {
                *count = p.count.min(crate::storage::list::PACKED_MAX) as u8;
                *len = n as u8;
                if let Some(src) = p.data.get(..n) {
                    dst.copy_from_slice(src);
                }
            }
        }
        RecVal::ZSet(p) => {
            let n = p.data.len().min(ZSET_PACKED_MAX);
            *head = ZSET;
            if let Some([count, len, dst @ ..]) = body.get_mut(..2 + n) {
                *count = p.count.min(ZSET_PACKED_MAX) as u8;
                *len = n as u8;
                if let Some(src) = p.data.get(..n) {
                    dst.copy_from_slice(src);
                }
            }
        }
    }
}

/// Write the record of `key` -> `v` into `out` (at least as long as the record).
#[inline(always)]
pub fn write_rec(out: &mut [u8], key: &[u8], v: RecVal<'_>) {
    let klen = key.len().min(MAX_REC - 2);
    if let Some(k) = out.get_mut(1) {
        *k = klen as u8;
    }
    if let (Some(dst), Some(src)) = (out.get_mut(2..2 + klen), key.get(..klen)) {
        dst.copy_from_slice(src);
    }
    write_rec_value(out, v);
}

/// The integer of an `int` record, None for an `embstr`.
#[inline(always)]
pub fn rec_int(r: &[u8]) -> Option<i64> {
    if r.first() != Some(&INT) {
        return None;
    }
    let at = 2 + rec_klen(r);
    let cell: [u8; 8] = r.get(at..at + 8)?.try_into().ok()?;
    Some(i64::from_le_bytes(cell))
}

/// The 8 bytes of an `int` record's integer, None for an `embstr` (INCR in place: read
/// and written through one slice).
#[inline(always)]
pub fn rec_int_cell(r: &mut [u8]) -> Option<&mut [u8; 8]> {
    if r.first() != Some(&INT) {
        return None;
    }
    let at = 2 + rec_klen(r);
    r.get_mut(at..at + 8)?.try_into().ok()
}

/// The key of a record.
#[inline(always)]
pub fn rec_key(r: &[u8]) -> &[u8] {
    let klen = r.get(1).copied().unwrap_or(0) as usize;
    r.get(2..2 + klen).unwrap_or_default()
}

/// The value of a record.
#[inline(always)]
pub fn rec_value(r: &[u8]) -> StrRef<'_> {
    let klen = r.get(1).copied().unwrap_or(0) as usize;
    let body = r.get(2 + klen..).unwrap_or_default();
    match r.first().copied().unwrap_or(FREE) {
        INT => {
            let mut n = [0u8; 8];
            if let Some(src) = body.get(..8) {
                n.copy_from_slice(src);
            }
            StrRef::Int(i64::from_le_bytes(n))
        }
        h => {
            let n = h.saturating_sub(EMB) as usize;
            StrRef::Bytes {
                data: body.get(..n).unwrap_or_default(),
                raw: false,
            }
        }
    }
}

/// The small list of a list record, None for a string.
#[inline(always)]
pub fn rec_list(r: &[u8]) -> Option<Packed<'_>> {
    if r.first() != Some(&LIST) {
        return None;
    }
    let at = 2 + rec_klen(r);
    let count = *r.get(at)? as usize;
    let len = *r.get(at + 1)? as usize;
    let data = r.get(at + 2..at + 2 + len)?;
    Some(Packed { data, count })
}

/// The small sorted set of a sorted set record, None for another kind.
#[inline(always)]
pub fn rec_zset(r: &[u8]) -> Option<PackedZSet<'_>> {
    if r.first() != Some(&ZSET) {
        return None;
    }
    let at = 2 + rec_klen(r);
    let count = *r.get(at)? as usize;
    let len = *r.get(at + 1)? as usize;
    let data = r.get(at + 2..at + 2 + len)?;
    Some(PackedZSet { data, count })
}

/// The value of a record, whatever its kind.
#[inline(always)]
pub fn rec_value_ref(r: &[u8]) -> ValueRef<'_> {
    // One compare on GET's path: both collection headers are above every string's.
    if r.first().is_some_and(|&h| h >= ZSET) {
        return rec_collection_ref(r);
    }
    ValueRef::Str(rec_value(r))
}

/// The value of a list or sorted set record.
#[inline]
fn rec_collection_ref(r: &[u8]) -> ValueRef<'_> {
    if let Some(p) = rec_zset(r) {
        return ValueRef::ZSet(ZSetRef::Packed(p));
    }
    let p = rec_list(r).unwrap_or(Packed {
        data: &[],
        count: 0,
    });
    ValueRef::List(ListRef::Packed(p))
}

/// The owned value of a record.
pub fn rec_to_value(r: &[u8]) -> Value {
    if let Some(p) = rec_list(r) {
        return Value::List(p.to_list());
    }
    if let Some(p) = rec_zset(r) {
        return Value::ZSet(super::zset::ZSetValue::Listpack(p.to_listpack()));
    }
    Value::Str(rec_value(r).to_owned_value())
}

/// What a chunk stores in its slots.
pub trait Store: Default {
    /// What goes into a slot.
    type Item;
    /// Append a slot holding `item` (the arrays have room).
    fn push(&mut self, item: Self::Item, size: usize);
    /// Reserve room for `extra` more slots.
    fn reserve(&mut self, extra: usize, size: usize);
    /// Fill free slot `o`.
    fn put(&mut self, o: usize, item: Self::Item, size: usize);
    /// Empty slot `o`, returning what it held.
    fn take(&mut self, o: usize, size: usize) -> Option<Self::Item>;
    /// Remove the last slot.
    fn pop(&mut self, size: usize) -> Option<Self::Item>;
    /// The key in slot `o`, None when free.
    fn key(&self, o: usize, size: usize) -> Option<&[u8]>;
    /// The key of an item.
    fn item_key(item: &Self::Item) -> &[u8];
}

/// Node slots.
#[derive(Default)]
pub struct NodeStore {
    /// The nodes; `None` slots are free.
    pub nodes: Vec<Option<Node>>,
}

impl Store for NodeStore {
    type Item = Node;
    fn push(&mut self, item: Node, _size: usize) {
        self.nodes.push(Some(item));
    }
    fn reserve(&mut self, extra: usize, _size: usize) {
        self.nodes.reserve_exact(extra);
    }
    fn put(&mut self, o: usize, item: Node, _size: usize) {
        if let Some(s) = self.nodes.get_mut(o) {
            *s = Some(item);
        }
    }
    fn take(&mut self, o: usize, _size: usize) -> Option<Node> {
        self.nodes.get_mut(o).and_then(Option::take)
    }
    fn pop(&mut self, _size: usize) -> Option<Node> {
        self.nodes.pop().flatten()
    }
    #[inline]
    fn key(&self, o: usize, _size: usize) -> Option<&[u8]> {
        Some(self.nodes.get(o)?.as_ref()?.key.as_slice())
    }
    fn item_key(item: &Node) -> &[u8] {
        item.key.as_slice()
    }
}

/// Record slots of one size, back to back.
#[derive(Default)]
pub struct RecStore {
    /// `size` bytes per slot.
    pub bytes: Vec<u8>,
    /// Bytes per record.
    pub size: usize,
}

impl RecStore {
    /// The bytes of slot `o`, None when free.
    #[inline]
    pub fn rec(&self, o: usize) -> Option<&[u8]> {
        let r = self.bytes.get(o * self.size..(o + 1) * self.size)?;
        (r.first() != Some(&FREE)).then_some(r)
    }

    /// The bytes of slot `o` and after, free or not, for reading or rewriting one record
    /// (a record's fields are bounds-checked on their own, so the slice's end is not
    /// computed on hot paths).
    #[inline(always)]
    pub fn rec_from(&self, o: usize) -> Option<&[u8]> {
        self.bytes.get(o * self.size..)
    }

    /// [`RecStore::rec_from`], mutable.
    #[inline(always)]
    pub fn rec_from_mut(&mut self, o: usize) -> Option<&mut [u8]> {
        self.bytes.get_mut(o * self.size..)
    }

    /// The bytes of slot `o`, free or not, exactly.
    #[inline]
    pub fn rec_mut(&mut self, o: usize) -> Option<&mut [u8]> {
        self.bytes.get_mut(o * self.size..(o + 1) * self.size)
    }

    /// Copy slot `o` out and mark it free; None when it was free.
    fn take(&mut self, o: usize) -> Option<Rec> {
        let size = self.size;
        let r = self.rec_mut(o)?;
        if r.first() == Some(&FREE) {
            return None;
        }
        let mut out = [0u8; MAX_REC];
        out.get_mut(..size)?.copy_from_slice(r);
        if let Some(h) = r.first_mut() {
            *h = FREE;
        }
        Some(out)
    }

    /// Fill slot `o` with the first `size` bytes of `item`.
    fn put(&mut self, o: usize, item: &[u8]) {
        let size = self.size;
        if let (Some(dst), Some(src)) = (self.rec_mut(o), item.get(..size)) {
            dst.copy_from_slice(src);
        }
    }
}

/// A slot's access field: 24 bits, as Redis's `lru` field (LRU: seconds modulo 2^24;
/// LFU: minutes modulo 2^16 and an 8-bit counter), in 3 bytes instead of 4 (1 byte per
/// key).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Access([u8; 3]);

impl Access {
    /// The largest value (Redis's `LRU_CLOCK_MAX`).
    pub const MAX: u32 = (1 << 24) - 1;

    /// The field holding the low 24 bits of `v`.
    #[inline(always)]
    pub fn new(v: u32) -> Access {
        let [a, b, c, _] = v.to_le_bytes();
        Access([a, b, c])
    }

    /// The value.
    #[inline(always)]
    pub fn get(self) -> u32 {
        let [a, b, c] = self.0;
        u32::from_le_bytes([a, b, c, 0])
    }

    /// Store the low 24 bits of `v`.
    #[inline(always)]
    pub fn set(&mut self, v: u32) {
        *self = Access::new(v);
    }
}

/// A run of slots, their access fields and, once any of them has a TTL, their deadlines.
#[derive(Default)]
pub struct Chunk<S> {
    /// The slots.
    pub store: S,
    /// Absolute deadlines (Unix ms, 0 = none), one per slot.
    pub expires: Option<Box<[u64; CHUNK]>>,
    /// Last access of each slot (LRU seconds or LFU data); its length is the slot count.
    pub access: Vec<Access>,
}

impl<S> Chunk<S> {
    /// Slots in use or free.
    #[inline]
    pub fn len(&self) -> usize {
        self.access.len()
    }

    /// True when the chunk has no slot.
    pub fn is_empty(&self) -> bool {
        self.access.is_empty()
    }

    /// The deadline of slot `o` (0 = none).
    #[inline]
    pub fn expire(&self, o: usize) -> u64 {
        self.expires
            .as_ref()
            .and_then(|e| e.get(o).copied())
            .unwrap_or(0)
    }

    /// Set the deadline of slot `o`, allocating the chunk's deadlines on the first one.
    pub fn set_expire(&mut self, o: usize, at: u64) {
        if at == 0 && self.expires.is_none() {
            return;
        }
        let e = self.expires.get_or_insert_with(|| Box::new([0; CHUNK]));
        if let Some(slot) = e.get_mut(o) {
            *slot = at;
        }
    }
}

/// A slot's contents with its deadline and access field, moved out of a slab.
pub struct Taken<T> {
    /// What the slot held.
    pub item: T,
    /// Its deadline.
    pub expire_at: u64,
    /// Its access field.
    pub access: u32,
}

/// A slab: chunks of slots of one kind and size, and the free slots.
pub struct Slab<S> {
    /// The chunks.
    pub chunks: Vec<Chunk<S>>,
    /// Free slots (reused first).
    pub free: Vec<u32>,
    /// Bytes per slot (records; unused for nodes).
    pub size: usize,
}

impl<S: Store> Slab<S> {
    /// An empty slab of `size`-byte slots.
    pub const fn new(size: usize) -> Slab<S> {
        Slab {
            chunks: Vec::new(),
            free: Vec::new(),
            size,
        }
    }

    /// The chunk and offset of a slot.
    #[inline]
    pub fn split(slot: u32) -> (usize, usize) {
        (slot as usize / CHUNK, slot as usize % CHUNK)
    }

    /// The chunk of `slot` and the slot's offset in it.
    #[inline]
    pub fn chunk(&self, slot: u32) -> Option<(&Chunk<S>, usize)> {
        let (c, o) = Self::split(slot);
        Some((self.chunks.get(c)?, o))
    }

    /// [`Slab::chunk`], mutable.
    #[inline]
    pub fn chunk_mut(&mut self, slot: u32) -> Option<(&mut Chunk<S>, usize)> {
        let (c, o) = Self::split(slot);
        Some((self.chunks.get_mut(c)?, o))
    }

    /// The key in `slot`.
    #[inline]
    pub fn key(&self, slot: u32) -> Option<&[u8]> {
        let (c, o) = self.chunk(slot)?;
        c.store.key(o, self.size)
    }

    /// Slots in use or free (not the unused tail of the last chunk).
    pub fn slots(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * CHUNK + last.len())
    }

    /// Put `item` in a free slot (a freed one first); returns the slot.
    pub fn alloc(&mut self, item: S::Item, expire_at: u64, access: u32) -> u32 {
        let size = self.size;
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some((c, o)) = self.chunk_mut(slot) {
                    c.store.put(o, item, size);
                }
                slot
            }
            None => {
                if self.chunks.last().is_none_or(|c| c.len() >= CHUNK) {
                    self.chunks.push(Chunk::default());
                }
                let n = self.chunks.len();
                let Some(chunk) = self.chunks.last_mut() else {
                    return 0;
                };
                if chunk.access.len() == chunk.access.capacity() {
                    let extra = GROW.min(CHUNK - chunk.len()).max(1);
                    chunk.store.reserve(extra, size);
                    chunk.access.reserve_exact(extra);
                }
                chunk.store.push(item, size);
                chunk.access.push(Access::default());
                ((n - 1) * CHUNK + chunk.len() - 1) as u32
            }
        };
        if let Some((c, o)) = self.chunk_mut(slot) {
            c.set_expire(o, expire_at);
            if let Some(a) = c.access.get_mut(o) {
                a.set(access);
            }
        }
        slot
    }

    /// Empty `slot` (it goes on the free list, or the slab is given back when `last`).
    pub fn take(&mut self, slot: u32) -> Option<Taken<S::Item>> {
        let size = self.size;
        let (c, o) = self.chunk_mut(slot)?;
        let expire_at = c.expire(o);
        c.set_expire(o, 0);
        let access = c.access.get(o).map_or(0, |a| a.get());
        let item = c.store.take(o, size)?;
        self.free.push(slot);
        Some(Taken {
            item,
            expire_at,
            access,
        })
    }

    /// Empty `slot` and keep the slab dense: the last slot's item moves into it. Returns
    /// what `slot` held and, when an item moved, the slot it came from (the caller
    /// repoints its index entry). A hole left by [`Slab::take`] at the tail stops the
    /// compaction: the slot then goes on the free list.
    pub fn take_compacting(&mut self, slot: u32) -> (Option<Taken<S::Item>>, Option<u32>) {
        let size = self.size;
        let Some((c, o)) = self.chunk_mut(slot) else {
            return (None, None);
        };
        let expire_at = c.expire(o);
        c.set_expire(o, 0);
        let access = c.access.get(o).map_or(0, |a| a.get());
        let taken = c.store.take(o, size).map(|item| Taken {
            item,
            expire_at,
            access,
        });
        let Some(tail) = self.slots().checked_sub(1).map(|t| t as u32) else {
            return (taken, None);
        };
        let tail_used = self.key(tail).is_some();
        if tail == slot {
            self.pop_tail();
            (taken, None)
        } else if tail_used {
            match self.pop_tail() {
                Some(Some(t)) => {
                    if let Some((c, o)) = self.chunk_mut(slot) {
                        c.store.put(o, t.item, size);
                        c.set_expire(o, t.expire_at);
                        if let Some(a) = c.access.get_mut(o) {
                            a.set(t.access);
                        }
                    }
                    (taken, Some(tail))
                }
                _ => (taken, None),
            }
        } else {
            self.free.push(slot);
            (taken, None)
        }
    }

    /// Drop the last slot (and its chunk once empty, giving the memory back).
    fn pop_tail(&mut self) -> Option<Option<Taken<S::Item>>> {
        let size = self.size;
        let last = self.chunks.last_mut()?;
        let o = last.len().checked_sub(1)?;
        let expire_at = last.expire(o);
        last.set_expire(o, 0);
        let access = last.access.pop().map_or(0, Access::get);
        let item = last.store.pop(size);
        if last.access.is_empty() {
            self.chunks.pop();
        }
        Some(item.map(|item| Taken {
            item,
            expire_at,
            access,
        }))
    }

    /// Remove everything.
    pub fn clear(&mut self) {
        self.chunks = Vec::new();
        self.free = Vec::new();
    }

    /// Every occupied slot with its chunk and offset.
    pub fn occupied(&self) -> impl Iterator<Item = (&Chunk<S>, usize)> {
        let size = self.size;
        self.chunks.iter().flat_map(move |c| {
            (0..c.len()).filter_map(move |o| c.store.key(o, size).map(|_| (c, o)))
        })
    }
}

/// Where a record slab of one size puts new records.
#[derive(Default, Clone)]
struct RecClass {
    /// Freed slots of this size (reused first).
    free: Vec<u32>,
    /// The chunks of this size, in allocation order: the last one is being filled.
    chunks: Vec<u32>,
}

/// The record slabs of every size in one vector of chunks, each chunk knowing its record
/// size: a record's slot is `chunk * CHUNK + offset`, so reaching it is one bounds-checked
/// index, whatever its size. Per size, a free list and the chunk being filled.
#[derive(Default)]
pub struct RecSlabs {
    /// The chunks of all sizes. An emptied chunk keeps its place (slots of other chunks
    /// do not move), holding no memory, until it is reused.
    pub chunks: Vec<Chunk<RecStore>>,
    /// Per size ([`REC_SIZES`]), up to the largest size used so far; boxed, so a size
    /// not in use costs a pointer (a shard of small lists uses one size of ten: 8 x 48
    /// bytes inline would be ~4 bytes per list).
    classes: Vec<Option<Box<RecClass>>>,
    /// Emptied chunks, reused before the vector grows.
    spare: Vec<u32>,
}

impl RecSlabs {
    /// The chunk of `slot` and the slot's offset in it.
    #[inline(always)]
    pub fn chunk(&self, slot: u32) -> Option<(&Chunk<RecStore>, usize)> {
        let slot = slot as usize;
        Some((self.chunks.get(slot / CHUNK)?, slot % CHUNK))
    }

    /// [`RecSlabs::chunk`], mutable.
    #[inline(always)]
    pub fn chunk_mut(&mut self, slot: u32) -> Option<(&mut Chunk<RecStore>, usize)> {
        let slot = slot as usize;
        Some((self.chunks.get_mut(slot / CHUNK)?, slot % CHUNK))
    }

    /// The record in `slot`, None when free.
    #[inline]
    pub fn rec(&self, slot: u32) -> Option<&[u8]> {
        let (c, o) = self.chunk(slot)?;
        c.store.rec(o)
    }

    /// The key in `slot`, None when free.
    #[inline]
    pub fn key(&self, slot: u32) -> Option<&[u8]> {
        self.rec(slot).map(rec_key)
    }

    /// Slot numbers in use, free or unused (a chunk's unused tail counts): the range
    /// eviction sampling draws from.
    pub fn slots(&self) -> usize {
        self.chunks.len() * CHUNK
    }

    /// A new record of class `class` (`REC_SIZES[class]` bytes) in a free slot, written
    /// in place by `write`; returns the slot.
    #[inline]
    pub fn alloc(
        &mut self,
        class: usize,
        write: impl FnOnce(&mut [u8]),
        expire_at: u64,
        access: u32,
    ) -> u32 {
        let Some(size) = REC_SIZES.get(class).copied() else {
            return 0;
        };
        if self.classes.len() <= class {
            // Up to the sizes in use (most shards use one or two small ones).
            self.classes.resize_with(class + 1, || None);
        }
        if let Some(k @ None) = self.classes.get_mut(class) {
            *k = Some(Box::default());
        }
        let slot = match self.class_mut(class).and_then(|k| k.free.pop()) {
            Some(slot) => slot,
            None => self.append_slot(class, size),
        };
        if let Some((c, o)) = self.chunk_mut(slot) {
            if let Some(r) = c.store.rec_mut(o) {
                write(r);
            }
            c.set_expire(o, expire_at);
            if let Some(a) = c.access.get_mut(o) {
                a.set(access);
            }
        }
        slot
    }

    /// A zeroed slot at the end of class `class`'s last chunk (a new chunk when full).
    fn append_slot(&mut self, class: usize, size: usize) -> u32 {
        let last = self
            .class(class)
            .and_then(|k| k.chunks.last().copied())
            .filter(|&c| self.chunks.get(c as usize).is_some_and(|c| c.len() < CHUNK));
        let c = match last {
            Some(c) => c,
            None => self.new_chunk(class, size),
        };
        let Some(chunk) = self.chunks.get_mut(c as usize) else {
            return 0;
        };
        if chunk.access.len() == chunk.access.capacity() {
            let extra = rec_grow(size).min(CHUNK - chunk.len()).max(1);
            chunk.store.bytes.reserve_exact(extra * size);
            chunk.access.reserve_exact(extra);
        }
        let o = chunk.len();
        chunk.store.bytes.resize((o + 1) * size, FREE);
        chunk.access.push(Access::default());
        (c as usize * CHUNK + o) as u32
    }

    /// An empty chunk for class `class` (a spare one first); returns its number.
    fn new_chunk(&mut self, class: usize, size: usize) -> u32 {
        let chunk = Chunk {
            store: RecStore {
                bytes: Vec::new(),
                size,
            },
            expires: None,
            access: Vec::new(),
        };
        let c = match self.spare.pop() {
            Some(c) => {
                if let Some(slot) = self.chunks.get_mut(c as usize) {
                    *slot = chunk;
                }
                c
            }
            None => {
                self.chunks.push(chunk);
                (self.chunks.len() - 1) as u32
            }
        };
        if let Some(k) = self.class_mut(class) {
            k.chunks.push(c);
        }
        c
    }

    /// The state of size `class`, None before its first record.
    fn class(&self, class: usize) -> Option<&RecClass> {
        self.classes.get(class)?.as_deref()
    }

    /// [`RecSlabs::class`], mutable.
    fn class_mut(&mut self, class: usize) -> Option<&mut RecClass> {
        self.classes.get_mut(class)?.as_deref_mut()
    }

    /// The class of the chunk holding `slot`.
    fn class_of_slot(&self, slot: u32) -> Option<usize> {
        let (c, _) = self.chunk(slot)?;
        REC_SIZES.iter().position(|&s| s == c.store.size)
    }

    /// Empty `slot` (it goes on its size's free list).
    pub fn take(&mut self, slot: u32) -> Option<Taken<Rec>> {
        let class = self.class_of_slot(slot)?;
        let (c, o) = self.chunk_mut(slot)?;
        let expire_at = c.expire(o);
        c.set_expire(o, 0);
        let access = c.access.get(o).map_or(0, |a| a.get());
        let item = c.store.take(o)?;
        if let Some(k) = self.class_mut(class) {
            k.free.push(slot);
        }
        Some(Taken {
            item,
            expire_at,
            access,
        })
    }

    /// Move the record in `slot` to a new record of class `class`: its bytes copied once
    /// (through a stack buffer, where `edit` changes them), its deadline and access field
    /// along; `slot` goes on its size's free list. Returns the new slot (a list record
    /// that grows or shrinks past its class, see `table.rs`), None when `slot` is free.
    #[inline]
    pub fn move_rec(
        &mut self,
        slot: u32,
        class: usize,
        edit: impl FnOnce(&mut Rec),
    ) -> Option<u32> {
        let (c, o) = self.chunk_mut(slot)?;
        let size = c.store.size;
        let from = class_of_size(size)?;
        // A free slot has nothing to move.
        c.store.rec(o)?;
        let expire_at = c.expire(o);
        if expire_at != 0 {
            c.set_expire(o, 0);
        }
        let access = c.access.get(o).map_or(0, |a| a.get());
        let mut buf: Rec = [0u8; MAX_REC];
        let r = c.store.rec_mut(o)?;
        buf.get_mut(..size)?.copy_from_slice(r);
        if let Some(h) = r.first_mut() {
            *h = FREE;
        }
        if let Some(k) = self.class_mut(from) {
            k.free.push(slot);
        }
        edit(&mut buf);
        let write = |dst: &mut [u8]| {
            if let Some(src) = buf.get(..dst.len()) {
                dst.copy_from_slice(src);
            }
        };
        Some(self.alloc(class, write, expire_at, access))
    }

    /// Empty `slot` and keep its size's slab dense: the last record of that size moves
    /// into it. Returns what `slot` held and, when a record moved, the slot it came from
    /// (the caller repoints its index entry). A hole left by [`RecSlabs::take`] at the
    /// tail stops the compaction: the slot then goes on the free list.
    pub fn take_compacting(&mut self, slot: u32) -> (Option<Taken<Rec>>, Option<u32>) {
        let Some(class) = self.class_of_slot(slot) else {
            return (None, None);
        };
        let Some((c, o)) = self.chunk_mut(slot) else {
            return (None, None);
        };
        let expire_at = c.expire(o);
        c.set_expire(o, 0);
        let access = c.access.get(o).map_or(0, |a| a.get());
        let taken = c.store.take(o).map(|item| Taken {
            item,
            expire_at,
            access,
        });
        let Some(tail) = self.tail(class) else {
            return (taken, None);
        };
        if tail == slot {
            self.pop_tail(class);
            (taken, None)
        } else if self.rec(tail).is_some() {
            let Some(t) = self.pop_tail(class) else {
                return (taken, None);
            };
            if let Some((c, o)) = self.chunk_mut(slot) {
                c.store.put(o, &t.item);
                c.set_expire(o, t.expire_at);
                if let Some(a) = c.access.get_mut(o) {
                    a.set(t.access);
                }
            }
            (taken, Some(tail))
        } else {
            if let Some(k) = self.class_mut(class) {
                k.free.push(slot);
            }
            (taken, None)
        }
    }

    /// The last slot of class `class`.
    fn tail(&self, class: usize) -> Option<u32> {
        let c = *self.class(class)?.chunks.last()?;
        let len = self.chunks.get(c as usize)?.len();
        Some((c as usize * CHUNK + len.checked_sub(1)?) as u32)
    }

    /// Drop the last slot of class `class` (and its chunk once empty, giving the memory
    /// back); returns what it held.
    fn pop_tail(&mut self, class: usize) -> Option<Taken<Rec>> {
        // The field directly (not `class_mut`): `self.chunks` is borrowed beside it.
        let k = self.classes.get_mut(class)?.as_deref_mut()?;
        let c = *k.chunks.last()?;
        let chunk = self.chunks.get_mut(c as usize)?;
        let o = chunk.len().checked_sub(1)?;
        let expire_at = chunk.expire(o);
        chunk.set_expire(o, 0);
        let access = chunk.access.pop().map_or(0, Access::get);
        let item = chunk.store.take(o);
        chunk.store.bytes.truncate(o * chunk.store.size);
        if chunk.access.is_empty() {
            *chunk = Chunk::default();
            k.chunks.pop();
            self.spare.push(c);
            self.trim();
        }
        item.map(|item| Taken {
            item,
            expire_at,
            access,
        })
    }

    /// Drop the emptied chunks at the end of the vector (so sampling does not walk them).
    fn trim(&mut self) {
        let before = self.chunks.len();
        while self.chunks.last().is_some_and(|c| c.is_empty()) {
            self.chunks.pop();
        }
        if self.chunks.len() < before {
            let len = self.chunks.len() as u32;
            self.spare.retain(|&c| c < len);
        }
    }

    /// Remove everything.
    pub fn clear(&mut self) {
        *self = RecSlabs::default();
    }

    /// Every occupied slot with its chunk and offset.
    pub fn occupied(&self) -> impl Iterator<Item = (&Chunk<RecStore>, usize)> {
        self.chunks
            .iter()
            .flat_map(|c| (0..c.len()).filter_map(move |o| c.store.rec(o).map(|_| (c, o))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_classes_match_the_sizes() {
        for size in 0..=MAX_REC + 2 {
            assert_eq!(
                class_of_size(size),
                REC_SIZES.iter().position(|&s| s >= size),
                "{size}"
            );
        }
    }

    #[test]
    fn list_records_round_trip() {
        let mut l = crate::storage::ListValue::new();
        for it in [&b"a"[..], b"12", b"-5", b"hello world"] {
            l.push(
                crate::storage::list::End::Right,
                it,
                crate::storage::list::ListLimits::DEFAULT,
            );
        }
        let p = l.packed().expect("small");
        assert_eq!(p.count, 4);
        let v = RecVal::List(p);
        let class = v.class(5).expect("fits");
        // entries 3 + 2 + 3 + 13 = 21 bytes; 2 + 5 + 2 + 21 = 30: the 32-byte record
        assert_eq!(p.data.len(), 21);
        assert_eq!(REC_SIZES[class], 32);
        let mut r = [0u8; MAX_REC];
        write_rec(&mut r, b"mykey", v);
        assert_eq!(rec_key(&r), b"mykey");
        assert_eq!(rec_list(&r), Some(p));
        let Value::List(back) = rec_to_value(&r) else {
            panic!("a list");
        };
        let items: Vec<Vec<u8>> = back.iter().map(|e| e.to_vec()).collect();
        assert_eq!(
            items,
            vec![
                b"a".to_vec(),
                b"12".to_vec(),
                b"-5".to_vec(),
                b"hello world".to_vec()
            ]
        );
        assert!(matches!(
            rec_value_ref(&r),
            ValueRef::List(ListRef::Packed(q)) if q == p
        ));
        // a string record is not a list
        write_rec(&mut r, b"mykey", RecVal::Bytes(b"x"));
        assert_eq!(rec_list(&r), None);
        // a truncated list record reads as an empty list, not a panic
        write_rec(&mut r[..20], b"mykey", v);
        assert!(rec_list(&r[..20]).is_none());
    }

    #[test]
    fn records_move_between_classes_with_their_deadline_and_access() {
        let mut slabs = RecSlabs::default();
        let v = RecVal::Bytes(b"abc");
        let slot = slabs.alloc(1, |r| write_rec(r, b"key", v), 77, 1234);
        let other = slabs.alloc(1, |r| write_rec(r, b"k2", v), 0, 5);
        // To the 48-byte class, the value rewritten on the way (as a list push is).
        let moved = slabs
            .move_rec(slot, 3, |r| {
                write_rec_value(r, RecVal::Bytes(b"a longer value"))
            })
            .expect("moved");
        assert_ne!(moved, slot);
        let (c, o) = slabs.chunk(moved).expect("chunk");
        assert_eq!(c.store.size, 48);
        assert_eq!(c.expire(o), 77);
        assert_eq!(c.access.get(o).map(|a| a.get()), Some(1234));
        let r = slabs.rec(moved).expect("record");
        assert_eq!(rec_key(r), b"key");
        assert_eq!(
            rec_value(r),
            StrRef::Bytes {
                data: b"a longer value",
                raw: false
            }
        );
        // The old slot is free, without its deadline, and reused first by its class.
        assert!(slabs.rec(slot).is_none());
        assert_eq!(slabs.chunk(slot).map(|(c, o)| c.expire(o)), Some(0));
        assert_eq!(slabs.alloc(1, |r| write_rec(r, b"k3", v), 0, 0), slot);
        assert_eq!(slabs.rec(other).map(rec_key), Some(&b"k2"[..]));
        // A free slot does not move.
        let free = slabs.alloc(0, |r| write_rec(r, b"x", v), 0, 0);
        slabs.take(free);
        assert_eq!(slabs.move_rec(free, 2, |_| {}), None);
        assert!(slabs.rec(free).is_none());
    }

    #[test]
    fn zset_records_round_trip() {
        let limits = crate::storage::zset::ZSetLimits {
            max_entries: 128,
            max_value: 64,
        };
        let mut z = crate::storage::ZSetValue::new();
        for (m, s) in [(&b"a"[..], 1.0), (b"b", 2.0), (b"c", 2.5), (b"dd", -7.0)] {
            z.insert(m, s, limits);
        }
        let p = z.packed().expect("small");
        assert_eq!(p.count, 4);
        let v = RecVal::ZSet(p);
        let mut r = [0u8; MAX_REC];
        write_rec(&mut r, b"zkey", v);
        assert_eq!(rec_key(&r), b"zkey");
        assert_eq!(rec_zset(&r), Some(p));
        assert_eq!(rec_list(&r), None);
        let Value::ZSet(back) = rec_to_value(&r) else {
            panic!("a sorted set");
        };
        assert_eq!(
            back.entries(),
            vec![(&b"dd"[..], -7.0), (b"a", 1.0), (b"b", 2.0), (b"c", 2.5)]
        );
        assert!(matches!(
            rec_value_ref(&r),
            ValueRef::ZSet(ZSetRef::Packed(q)) if q == p
        ));
        // a string record is not a sorted set; a truncated record reads as none
        write_rec(&mut r, b"zkey", RecVal::Int(5));
        assert_eq!(rec_zset(&r), None);
        write_rec(&mut r[..7], b"zkey", v);
        assert!(rec_zset(&r[..7]).is_none());
    }

    #[test]
    fn records_round_trip() {
        let mut r = [0u8; MAX_REC];
        let v = StrValue::from_bytes(b"v0000000000000000000000000000001");
        assert_eq!(
            rec_class(b"key:000000001", &v),
            Some(3),
            "47 bytes: the 48 slab"
        );
        write_rec(&mut r, b"key:000000001", RecVal::of(&v).expect("embstr"));
        assert_eq!(rec_key(&r), b"key:000000001");
        assert_eq!(rec_value(&r).to_owned_value(), v);
        let n = StrValue::Int(-1234567890123);
        assert_eq!(rec_class(b"k", &n), Some(0));
        write_rec(&mut r, b"k", RecVal::Int(-1234567890123));
        assert_eq!(rec_value(&r), StrRef::Int(-1234567890123));
        assert_eq!(rec_int(&r), Some(-1234567890123));
        if let Some(cell) = rec_int_cell(&mut r) {
            *cell = 7i64.to_le_bytes();
        }
        assert_eq!(rec_int(&r), Some(7));
        let empty = StrValue::from_bytes(b"");
        write_rec(&mut r, b"", RecVal::Bytes(b""));
        assert_eq!(rec_int(&r), None);
        assert!(rec_int_cell(&mut r).is_none());
        assert_eq!(rec_key(&r), b"");
        assert_eq!(rec_value(&r).to_owned_value(), empty);
        // raw strings, long strings and long keys stay in nodes
        assert_eq!(rec_class(b"k", &StrValue::raw(b"ab".to_vec())), None);
        assert_eq!(rec_class(b"k", &StrValue::from_bytes(&[b'x'; 45])), None);
        assert_eq!(rec_class(&[b'k'; 119], &n), None);
        assert!(rec_class(&[b'k'; 118], &n).is_some());
    }
}
