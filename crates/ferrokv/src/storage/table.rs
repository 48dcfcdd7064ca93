//! The key table of one shard. Entries live in slabs of fixed-size chunks (no allocation
//! per key, no allocator rounding; see `slab.rs`), and the hash index holds 4-byte slab
//! positions (plus hashbrown's control byte). `int` and `embstr` strings, and lists small
//! enough, are byte records sized to their key and value (24 to 128 bytes, one slab per
//! size; a list in a record is edited through [`ListMut`]); everything else is
//! a 64-byte node (the value and the key, keys up to 15 bytes and strings up to 38 bytes
//! inline). Expiry deadlines are stored only where keys have them: a chunk gets its array
//! of deadlines when its first key gets a TTL.
//!
//! A position is a slot number with the top bit telling records ([`REC_BIT`]: one vector
//! of record chunks of all sizes, see `slab::RecSlabs`) from nodes (the node slab). A
//! string edit that changes the record's size moves the entry to another chunk and
//! repoints its index slot (no rehash).
//!
//! The API mirrors the subset of `HashMap<Box<[u8]>, Entry>` the server uses; lookups return
//! [`EntryRef`] / [`EntryMut`] views (value plus deadline).

use std::hash::BuildHasher;

use super::index::KeyIndex;
use super::key::KeyBuf;
use super::list::{packed_pop, packed_push, Elem, End, ListLimits, PackedPush};
use super::shard::Entry;
pub use super::slab::Node;
use super::slab::{
    class_of_size, rec_int_cell, rec_key, rec_klen, rec_list, rec_to_value, rec_value,
    rec_value_ref, rec_zset, write_rec, write_rec_value, Access, NodeStore, Rec, RecSlabs, RecVal,
    Slab, Taken, CHUNK, LIST, REC_SIZES, ZSET,
};
use super::value::{
    HashValue, ListRef, ListValue, SetValue, StackNum, StrRef, StrValue, Stream, Value, ValueRef,
    ZSetRef, ZSetValue,
};
use super::zset::{rescore_in_place, Listpack, PackedZSet, ZSetLimits};

/// The position bit of records (clear: a node).
const REC_BIT: u32 = 1 << 31;

/// True when `pos` is a record's.
#[inline(always)]
fn is_rec(pos: u32) -> bool {
    pos & REC_BIT != 0
}

/// The slot of a position in its slabs (nodes or records).
#[inline(always)]
fn slot_of(pos: u32) -> u32 {
    pos & !REC_BIT
}

/// The access clock: Unix seconds, refreshed `hz` times a second by the active expiry
/// thread (like Redis's cached `lruclock`), so a key access costs a load, not a syscall.
static LRU_CLOCK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Refresh the access clock (called by the server's periodic task).
pub fn tick_lru_clock() {
    let secs = (crate::util::now_ms() / 1000) as u32;
    LRU_CLOCK.store(secs, std::sync::atomic::Ordering::Relaxed);
}

/// LFU tracking (a `*-lfu` maxmemory-policy): the access field then holds Redis's LFU
/// data, the minute of the last decrement in the high bits and a logarithmic counter in
/// the low 8 bits, instead of a time in seconds.
static LFU_MODE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// `lfu-log-factor`.
static LFU_LOG_FACTOR: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(10);
/// `lfu-decay-time` in minutes.
static LFU_DECAY_TIME: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
/// A new object's LFU counter (Redis's LFU_INIT_VAL).
pub const LFU_INIT_VAL: u32 = 5;

/// Apply the LFU settings (CONFIG SET maxmemory-policy, lfu-log-factor, lfu-decay-time).
pub fn configure_lfu(enabled: bool, log_factor: u32, decay_minutes: u32) {
    use std::sync::atomic::Ordering::Relaxed;
    LFU_MODE.store(enabled, Relaxed);
    LFU_LOG_FACTOR.store(log_factor, Relaxed);
    LFU_DECAY_TIME.store(decay_minutes, Relaxed);
}

fn lfu_mode() -> bool {
    LFU_MODE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Minutes, modulo 2^16 (Redis's `LFUGetTimeInMinutes`).
fn lfu_minutes() -> u32 {
    (lru_clock() / 60) & 0xffff
}

/// The counter after decay for the minutes elapsed since its last decrement
/// (`LFUDecrAndReturn`).
fn lfu_decayed(access: u32) -> u32 {
    let ldt = access >> 8;
    let counter = access & 0xff;
    let now = lfu_minutes();
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    };
    let decay = LFU_DECAY_TIME.load(std::sync::atomic::Ordering::Relaxed);
    let periods = elapsed.checked_div(decay).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// One access: decay, then a logarithmic increment (`LFULogIncr`): the higher the counter,
/// the less likely it grows.
fn lfu_touched(access: u32) -> u32 {
    let mut counter = lfu_decayed(access);
    if counter < 255 {
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let factor = LFU_LOG_FACTOR.load(std::sync::atomic::Ordering::Relaxed) as f64;
        let p = 1.0 / (base * factor + 1.0);
        if rand::random::<f64>() < p {
            counter += 1;
        }
    }
    (lfu_minutes() << 8) | counter
}

/// Record an access in an access field (LRU: now; LFU: decay and maybe count).
#[inline]
fn touch_access(a: Option<&mut Access>) {
    if let Some(a) = a {
        a.set(if lfu_mode() {
            lfu_touched(a.get())
        } else {
            lru_clock()
        });
    }
}

/// The access field of a new object.
fn new_access() -> u32 {
    if lfu_mode() {
        (lfu_minutes() << 8) | LFU_INIT_VAL
    } else {
        lru_clock()
    }
}

/// The access clock in seconds (Unix seconds; an access field keeps its low 24 bits, as
/// Redis's LRU clock does).
#[inline(always)]
pub fn lru_clock() -> u32 {
    let c = LRU_CLOCK.load(std::sync::atomic::Ordering::Relaxed);
    if c == 0 {
        return first_lru_clock();
    }
    c
}

/// The access clock before the periodic task first set it.
#[cold]
#[inline(never)]
fn first_lru_clock() -> u32 {
    tick_lru_clock();
    LRU_CLOCK.load(std::sync::atomic::Ordering::Relaxed)
}

/// The idle time OBJECT IDLETIME reports in Redis 7.0 after RESTORE ... IDLETIME `idle` at
/// `clock` (Unix seconds): Redis keeps `clock - idle` in a 24-bit field (adding
/// LRU_CLOCK_MAX once when negative, then truncating) and measures idle times modulo that
/// clock.
fn redis_lru_idle(clock: u32, idle: u64) -> u32 {
    const LRU_CLOCK_MAX: i64 = (1 << 24) - 1;
    let clock24 = clock as i64 & LRU_CLOCK_MAX;
    // lru_idle * 1000 / LRU_CLOCK_RESOLUTION, in C's wrapping long long arithmetic.
    let idle = (idle as i64).wrapping_mul(1000) / 1000;
    let mut lru = clock24.wrapping_sub(idle);
    if lru < 0 {
        lru = lru.wrapping_add(LRU_CLOCK_MAX);
    }
    let lru = lru & LRU_CLOCK_MAX;
    let shown = if clock24 >= lru {
        clock24 - lru
    } else {
        clock24 + (LRU_CLOCK_MAX - lru)
    };
    shown as u32
}

/// A key met by eviction sampling ([`KeyTable::sample_from`]).
#[derive(Clone, Copy, Debug)]
pub struct Sampled<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Its access field: [`lru_clock`] seconds, or LFU data under an LFU policy.
    pub access: u32,
    /// Its deadline (Unix ms, 0 = none).
    pub expire_at: u64,
}

/// Seconds since an access field's last access (LRU policies; Redis's
/// `estimateObjectIdleTime`, with its wrap-around of the 24-bit clock).
pub fn idle_of(access: u32) -> u64 {
    idle_at(lru_clock() & Access::MAX, access & Access::MAX) as u64
}

/// Seconds from a 24-bit access stamp `last` to the 24-bit clock `now`, as Redis counts
/// them (a stamp "after" the clock has wrapped once).
fn idle_at(now: u32, last: u32) -> u32 {
    if now >= last {
        now - last
    } else {
        now + (Access::MAX - last)
    }
}

/// The access stamp whose [`idle_at`] from the 24-bit clock `now` is `idle` (at most
/// [`Access::MAX`]).
fn stamp_idle_for(now: u32, idle: u32) -> u32 {
    if idle <= now {
        now - idle
    } else {
        now + Access::MAX - idle
    }
}

/// The LFU counter of an access field after decay (LFU policies).
pub fn lfu_counter_of(access: u32) -> u64 {
    lfu_decayed(access) as u64
}

/// A read-only view of an entry.
#[derive(Clone, Copy, Debug)]
pub struct EntryRef<'a> {
    value: ValueRef<'a>,
    expire_at: u64,
    addr: usize,
    slot_bytes: usize,
}

impl<'a> EntryRef<'a> {
    /// The value.
    #[inline]
    pub fn value(&self) -> ValueRef<'a> {
        self.value
    }

    /// Where the entry is stored (DEBUG OBJECT's "Value at").
    pub fn addr(&self) -> *const u8 {
        self.addr as *const u8
    }

    /// Bytes of the entry's slab slot (MEMORY USAGE).
    pub fn slot_bytes(&self) -> usize {
        self.slot_bytes
    }

    /// An owned copy of the entry (value and deadline).
    pub fn to_entry(&self) -> Entry {
        Entry {
            value: self.value.to_owned_value(),
            expire_at: self.expire_at,
        }
    }

    /// Absolute deadline in Unix ms, 0 when the key has no TTL.
    pub fn expire_at(&self) -> u64 {
        self.expire_at
    }

    /// True when the deadline has passed at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_at != 0 && now > self.expire_at
    }
}

/// A view of an entry whose value may be changed in place (the deadline changes only
/// through `set_expire`).
#[derive(Debug)]
pub struct EntryMut<'a> {
    table: &'a mut KeyTable,
    pos: u32,
}

impl<'a> EntryMut<'a> {
    /// The value, read-only.
    #[inline]
    pub fn value(&self) -> Option<ValueRef<'_>> {
        self.table.slabs.value(self.pos)
    }

    /// An owned copy of the entry (value and deadline).
    pub fn to_entry(&self) -> Option<Entry> {
        Some(Entry {
            value: self.value()?.to_owned_value(),
            expire_at: self.expire_at(),
        })
    }

    /// Bytes of the entry's slab slot (MEMORY USAGE).
    pub fn slot_bytes(&self) -> usize {
        self.table.slabs.slot_bytes(self.pos)
    }

    /// The value, read-only, for as long as the view's borrow.
    #[inline]
    pub fn into_value_ref(self) -> Option<ValueRef<'a>> {
        let table: &'a KeyTable = self.table;
        table.slabs.value(self.pos)
    }

    /// The sorted set, as a [`ZSetEdit`] (a record's set decoded only for a change);
    /// None for another type.
    #[inline]
    pub fn into_zset_edit(self) -> Option<ZSetEdit<'a>> {
        let EntryMut { table, pos } = self;
        if is_rec(pos) {
            let (start, data_len, count) = table.slabs.rec_zset_loc(pos)?;
            return Some(table.edit_zset(pos, start, data_len, count));
        }
        match &mut table.slabs.node_mut(pos)?.value {
            Value::ZSet(z) => Some(ZSetEdit {
                z: ZSetMut {
                    at: ZSetAt::Node(z),
                },
                loaded: true,
                start: 0,
                data_len: 0,
                count: 0,
            }),
            _ => None,
        }
    }

    /// The value, changeable in place: collections by `&mut`, strings through
    /// [`StrMut`] (whose edits may move the record).
    #[inline]
    pub fn into_value_mut(self) -> Option<ValueMut<'a>> {
        let EntryMut { table, pos } = self;
        if is_rec(pos) {
            // One compare on INCR's path: both collection headers are above every
            // string's.
            let h = table.slabs.rec_header(pos);
            if h >= ZSET {
                return Some(table.open_packed(pos, h));
            }
            return Some(ValueMut::Str(StrMut {
                at: StrAt::Rec { table, pos },
            }));
        }
        Some(match &mut table.slabs.node_mut(pos)?.value {
            Value::Str(s) => ValueMut::Str(StrMut { at: StrAt::Node(s) }),
            Value::Hash(h) => ValueMut::Hash(h),
            Value::List(l) => ValueMut::List(ListMut {
                at: ListAt::Node(l),
            }),
            Value::Set(s) => ValueMut::Set(s),
            Value::ZSet(z) => ValueMut::ZSet(ZSetMut {
                at: ZSetAt::Node(z),
            }),
            Value::Stream(s) => ValueMut::Stream(s),
        })
    }

    /// Absolute deadline in Unix ms, 0 when the key has no TTL.
    pub fn expire_at(&self) -> u64 {
        self.table.slabs.expire(self.pos)
    }

    /// The value as a list to edit at its ends (pushes, pops): a small list in its
    /// record as a [`PackedList`] (not decoded), a list in a node as a [`ListMut`]. None
    /// when the value is not a list.
    #[inline(always)]
    pub fn into_list_edit(self) -> Option<ListEdit<'a>> {
        let EntryMut { table, pos } = self;
        if is_rec(pos) {
            return (table.slabs.rec_header(pos) == LIST)
                .then_some(ListEdit::Packed(PackedList { table, pos }));
        }
        match &mut table.slabs.node_mut(pos)?.value {
            Value::List(l) => Some(ListEdit::List(ListMut {
                at: ListAt::Node(l),
            })),
            _ => None,
        }
    }

    /// Add `by` to the value when it is an `int` record (INCR's fast path: one slot
    /// lookup, no value view, hence no check of the record's kind, which only an `int`
    /// string passes anyway). None for every other value: use
    /// [`StrMut::incr_by`] through [`EntryMut::into_value_mut`].
    #[inline(always)]
    pub fn incr_int_rec(&mut self, by: i64) -> Option<Result<i64, IncrError>> {
        self.table.incr_rec(self.pos, by)
    }

    /// True when the deadline has passed at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        let at = self.expire_at();
        at != 0 && now > at
    }
}

/// A value that may be changed in place. Collections are handed out by `&mut`; a string
/// is behind [`StrMut`], whose edits may move the key's record.
#[derive(Debug)]
pub enum ValueMut<'a> {
    /// Strings (and bitmaps).
    Str(StrMut<'a>),
    /// Hashes.
    Hash(&'a mut HashValue),
    /// Lists (a small list in its key's record is edited as a decoded copy, written
    /// back when the [`ListMut`] is dropped).
    List(ListMut<'a>),
    /// Sets.
    Set(&'a mut SetValue),
    /// Sorted sets (a small set in its key's record is edited as a decoded copy, written
    /// back when the [`ZSetMut`] is dropped).
    ZSet(ZSetMut<'a>),
    /// Streams.
    Stream(&'a mut Stream),
}

impl ValueMut<'_> {
    /// The value, read-only.
    #[inline]
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            ValueMut::Str(s) => ValueRef::Str(s.get()),
            ValueMut::Hash(h) => ValueRef::Hash(h),
            ValueMut::List(l) => ValueRef::List(ListRef::Value(l)),
            ValueMut::Set(s) => ValueRef::Set(s),
            ValueMut::ZSet(z) => ValueRef::ZSet(ZSetRef::Value(z)),
            ValueMut::Stream(s) => ValueRef::Stream(s),
        }
    }

    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        self.as_ref().type_name()
    }
}

/// A list that may be edited in place: by `&mut` (through `Deref`) whether it lives in a
/// node or in its key's record. A record's small list is decoded into a [`ListValue`]
/// when the view is made and, if it was reached mutably, written back when the view is
/// dropped: into the record in place when its size class is unchanged, else into a
/// record of the new size, or into a node once it no longer fits a record. (A list in a
/// node stays there when it shrinks: moving it back would cost its hot edits a check;
/// only a value stored whole, e.g. by RESTORE, a load or a new key, is packed again.)
#[derive(Debug)]
pub struct ListMut<'a> {
    at: ListAt<'a>,
}

#[derive(Debug)]
enum ListAt<'a> {
    Node(&'a mut ListValue),
    /// A record's list, decoded into the table's `open_list`.
    Rec {
        table: &'a mut KeyTable,
        pos: u32,
        dirty: bool,
    },
}

impl std::ops::Deref for ListMut<'_> {
    type Target = ListValue;
    #[inline(always)]
    fn deref(&self) -> &ListValue {
        match &self.at {
            ListAt::Node(l) => l,
            ListAt::Rec { table, .. } => table.open_list.as_deref().unwrap_or(&EMPTY_LIST),
        }
    }
}

impl std::ops::DerefMut for ListMut<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut ListValue {
        match &mut self.at {
            ListAt::Node(l) => l,
            ListAt::Rec { table, dirty, .. } => {
                *dirty = true;
                table.open_list.get_or_insert_with(Box::default)
            }
        }
    }
}

impl Drop for ListMut<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if let ListAt::Rec { table, pos, dirty } = &mut self.at {
            table.close_list(*pos, *dirty);
        }
    }
}

/// A list reached to be edited at its ends ([`EntryMut::into_list_edit`]).
#[derive(Debug)]
pub enum ListEdit<'a> {
    /// A small list in its key's record, edited on the record's bytes.
    Packed(PackedList<'a>),
    /// A list in a node.
    List(ListMut<'a>),
}

impl ListEdit<'_> {
    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            ListEdit::Packed(p) => p.len(),
            ListEdit::List(l) => l.len(),
        }
    }

    /// True when the list is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A small list in its key's record, edited at its ends without being decoded: a push
/// writes its entries into the record's bytes (`list::packed_push`), a pop reads the end
/// entries out and shrinks the list in place (`list::packed_pop`). When the record's
/// size class no longer holds the result, the record moves to another class (the list
/// still not decoded) by the sizing rules of [`ListMut`]'s write-back; a list that no
/// longer fits a record, or a push the packed form cannot take, goes through
/// [`ListMut`] (decoded, written back, into a node past 128 bytes).
#[derive(Debug)]
pub struct PackedList<'a> {
    table: &'a mut KeyTable,
    pos: u32,
}

impl<'a> PackedList<'a> {
    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.table
            .slabs
            .rec(self.pos)
            .and_then(rec_list)
            .map_or(0, |p| p.count)
    }

    /// True when the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Push `items` at `end` (as [`ListValue::push`] one at a time); returns the new
    /// length.
    #[inline]
    pub fn push(self, end: End, items: &[&[u8]], limits: ListLimits) -> usize {
        let PackedList { table, pos } = self;
        if let Some(len) = table.push_packed(pos, end, items, limits) {
            return len;
        }
        let mut l = table.open_list(pos);
        items.iter().for_each(|it| l.push(end, it, limits));
        l.len()
    }

    /// Pop up to `n` elements at `end`, calling `f` with each in pop order; returns how
    /// many were popped and how many are left (an emptied list stays in its record, for
    /// the caller to delete the key).
    #[inline]
    pub fn pop(self, end: End, n: usize, f: impl FnMut(Elem<'_>)) -> (usize, usize) {
        self.table.pop_packed(self.pos, end, n, f)
    }

    /// The list decoded, for any other edit.
    pub fn into_list_mut(self) -> ListMut<'a> {
        self.table.open_list(self.pos)
    }
}

/// What a [`ListMut`] of a record shows if the table's open list is gone (never).
static EMPTY_LIST: ListValue = ListValue::EMPTY;

/// A sorted set that may be edited in place, as [`ListMut`] is for lists: by `&mut`
/// (through `Deref`) whether it lives in a node or, as a small listpack, in its key's
/// record. A record's set is decoded into the table's `open_zset` when the view is made
/// and, if it was reached mutably, written back when the view is dropped: into its record
/// (moved between size classes as lists are), or into a node once it no longer fits a
/// record or has turned into the large encoding. A set in a node stays there when it
/// shrinks; one stored whole (RESTORE, a load, a STORE command, a new key) is packed
/// again when it fits.
#[derive(Debug)]
pub struct ZSetMut<'a> {
    at: ZSetAt<'a>,
}

#[derive(Debug)]
enum ZSetAt<'a> {
    Node(&'a mut ZSetValue),
    /// A record's set, decoded into the table's `open_zset`.
    Rec {
        table: &'a mut KeyTable,
        pos: u32,
        dirty: bool,
    },
}

impl std::ops::Deref for ZSetMut<'_> {
    type Target = ZSetValue;
    #[inline(always)]
    fn deref(&self) -> &ZSetValue {
        match &self.at {
            ZSetAt::Node(z) => z,
            ZSetAt::Rec { table, .. } => table.open_zset.as_deref().unwrap_or(&EMPTY_ZSET),
        }
    }
}

impl std::ops::DerefMut for ZSetMut<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut ZSetValue {
        match &mut self.at {
            ZSetAt::Node(z) => z,
            ZSetAt::Rec { table, dirty, .. } => {
                *dirty = true;
                table.open_zset.get_or_insert_with(Box::default)
            }
        }
    }
}

impl Drop for ZSetMut<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // The check inline: most views of a record's set (ZADD of an unchanged score,
        // reads) end without a change.
        if let ZSetAt::Rec {
            table,
            pos,
            dirty: true,
        } = &mut self.at
        {
            table.close_zset(*pos, true);
        }
    }
}

/// What a [`ZSetMut`] of a record shows if the table's open set is gone (never).
static EMPTY_ZSET: ZSetValue = ZSetValue::Listpack(Listpack::EMPTY);

/// A sorted set for the commands that often only read it (ZADD of an unchanged score,
/// ZSCORE, ZMSCORE, ZCARD, ZRANK): the reads of a set in its key's record walk the
/// record's bytes, a score change that keeps the member's rank and the entries' sizes is
/// written into them, and only other changes decode the set (into a [`ZSetMut`], written
/// back when this view is dropped).
#[derive(Debug)]
pub struct ZSetEdit<'a> {
    /// The set's view; a record's set is not decoded into it before `loaded`.
    z: ZSetMut<'a>,
    loaded: bool,
    /// A record's entries while not `loaded`: where they start in the record chunk's
    /// buffer, their bytes and their number (found once when the view is made; in-place
    /// score changes keep them).
    start: u16,
    data_len: u8,
    count: u8,
}

impl<'a> ZSetEdit<'a> {
    /// The record's entries while the set is not decoded (None for a node or a decoded
    /// set).
    #[inline(always)]
    fn packed(&self) -> Option<PackedZSet<'_>> {
        match &self.z.at {
            ZSetAt::Rec { table, pos, .. } if !self.loaded => {
                table
                    .slabs
                    .zset_at(*pos, self.start as usize, self.data_len, self.count)
            }
            _ => None,
        }
    }

    /// The score of `member`.
    #[inline]
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self.packed() {
            Some(p) => p.score(member),
            None => self.z.score(member),
        }
    }

    /// The rank (0-based, lowest score first) of `member`.
    #[inline]
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self.packed() {
            Some(p) => p.rank(member),
            None => self.z.rank(member),
        }
    }

    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        match self.packed() {
            Some(p) => p.count,
            None => self.z.len(),
        }
    }

    /// True when empty (never for a set in the keyspace).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Give the existing `member` the new score `score` (as [`ZSetValue::insert`] does):
    /// in the record's bytes where the member keeps its rank and the entries their
    /// sizes, else in the decoded set.
    #[inline]
    pub fn rescore(&mut self, member: &[u8], score: f64, limits: ZSetLimits) {
        if !self.loaded {
            if let ZSetAt::Rec { table, pos, .. } = &mut self.z.at {
                if table.zset_rescore_in_place(*pos, member, score) {
                    return;
                }
            }
        }
        self.set_mut().insert(member, score, limits);
    }

    /// Add or update `member` (see [`ZSetValue::insert`]); true when it was added.
    #[inline]
    pub fn insert(&mut self, member: &[u8], score: f64, limits: ZSetLimits) -> bool {
        self.set_mut().insert(member, score, limits)
    }

    /// The set, to be changed: a record's set is decoded first, and written back when
    /// this view is dropped.
    pub fn set_mut(&mut self) -> &mut ZSetValue {
        if !self.loaded {
            if let ZSetAt::Rec { table, pos, .. } = &mut self.z.at {
                table.load_zset(*pos);
            }
            self.loaded = true;
        }
        &mut self.z
    }
}

/// A string value that may be replaced or edited in place. A string in a node is edited
/// there; a record is reached through the table and its position, since an edit may move
/// it to another slab (or into a node, for in-place byte edits).
#[derive(Debug)]
pub struct StrMut<'a> {
    at: StrAt<'a>,
}

#[derive(Debug)]
enum StrAt<'a> {
    Node(&'a mut StrValue),
    Rec { table: &'a mut KeyTable, pos: u32 },
}

/// What a string lookup shows when the slot is gone (never, while the lock is held).
const NO_STR: StrRef<'static> = StrRef::Bytes {
    data: &[],
    raw: false,
};

impl<'a> StrMut<'a> {
    /// The current value.
    #[inline]
    pub fn get(&self) -> StrRef<'_> {
        match &self.at {
            StrAt::Node(s) => s.as_str_ref(),
            StrAt::Rec { table, pos } => match table.slabs.value(*pos) {
                Some(ValueRef::Str(s)) => s,
                _ => NO_STR,
            },
        }
    }

    /// See [`StrRef::bytes`].
    #[inline]
    pub fn bytes<'b>(&'b self, scratch: &'b mut StackNum) -> &'b [u8] {
        self.get().bytes(scratch)
    }

    /// See [`StrRef::as_i64`].
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        self.get().as_i64()
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.get().len()
    }

    /// True when the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// See [`StrRef::with_bytes`].
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        self.get().with_bytes(f)
    }

    /// The value's bytes (integers are formatted).
    pub fn to_vec(&self) -> Vec<u8> {
        self.get().to_vec()
    }

    /// Replace the value (in place when its record keeps its size).
    #[inline]
    pub fn set(&mut self, v: StrValue) {
        match &mut self.at {
            StrAt::Node(s) => **s = v,
            StrAt::Rec { table, pos } => *pos = table.replace_str(*pos, v),
        }
    }

    /// Add `by` to the integer value and store the sum `int` encoded (INCR, DECR,
    /// INCRBY); an `int` record is read and rewritten with one slot lookup.
    #[inline]
    pub fn incr_by(&mut self, by: i64) -> Result<i64, IncrError> {
        if let StrAt::Rec { table, pos } = &mut self.at {
            if let Some(done) = table.incr_rec(*pos, by) {
                return done;
            }
        }
        let old = self.as_i64().ok_or(IncrError::NotInteger)?;
        let new = old.checked_add(by).ok_or(IncrError::Overflow)?;
        self.set(StrValue::Int(new));
        Ok(new)
    }

    /// The bytes as a growable vector for in-place edits (APPEND, SETRANGE, SETBIT...);
    /// the value becomes `raw` (a node's `Vec`).
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        match &mut self.at {
            StrAt::Node(s) => s.make_raw(),
            StrAt::Rec { table, pos } => {
                *pos = table.move_to_node(*pos);
                table.raw_at(*pos)
            }
        }
    }

    /// [`StrMut::make_raw`] for as long as the entry's borrow.
    pub fn into_raw(self) -> &'a mut Vec<u8> {
        match self.at {
            StrAt::Node(s) => s.make_raw(),
            StrAt::Rec { table, pos } => {
                let pos = table.move_to_node(pos);
                table.raw_at(pos)
            }
        }
    }
}

/// Whether `v` under a key of `klen` bytes is a record of `size` bytes.
#[inline(always)]
fn fits(v: RecVal<'_>, klen: usize, size: usize) -> bool {
    v.class(klen)
        .and_then(|k| super::slab::REC_SIZES.get(k))
        .is_some_and(|&s| s == size)
}

/// Why [`StrMut::incr_by`] did not add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncrError {
    /// The value is not an integer.
    NotInteger,
    /// The sum overflows an i64.
    Overflow,
}

/// What [`KeyTable::probe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// No entry under the key.
    Missing,
    /// An entry whose deadline has passed (left in place, untouched).
    Expired,
    /// A live entry, at this slab position.
    Live(u32),
}

/// Run `$e` with `$c`, `$o` bound to the chunk (nodes or records) and offset of position
/// `$pos`; `$none` when there is none. One bounds-checked index either way.
macro_rules! on_chunk {
    ($slabs:expr, $pos:expr, ($c:ident, $o:ident) => $e:expr, $none:expr) => {
        if is_rec($pos) {
            match $slabs.recs.chunk(slot_of($pos)) {
                Some(($c, $o)) => $e,
                None => $none,
            }
        } else {
            match $slabs.nodes.chunk($pos) {
                Some(($c, $o)) => $e,
                None => $none,
            }
        }
    };
}

/// [`on_chunk`] with the chunk mutable.
macro_rules! on_chunk_mut {
    ($slabs:expr, $pos:expr, ($c:ident, $o:ident) => $e:expr, $none:expr) => {
        if is_rec($pos) {
            match $slabs.recs.chunk_mut(slot_of($pos)) {
                Some(($c, $o)) => $e,
                None => $none,
            }
        } else {
            match $slabs.nodes.chunk_mut($pos) {
                Some(($c, $o)) => $e,
                None => $none,
            }
        }
    };
}

/// An entry moved out of its slot.
enum Item {
    Node(Node),
    Rec(Rec),
}

impl Item {
    fn key(&self) -> &[u8] {
        match self {
            Item::Node(n) => n.key.as_slice(),
            Item::Rec(r) => rec_key(r),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Item::Node(n) => n.value,
            Item::Rec(r) => rec_to_value(&r),
        }
    }
}

/// The slabs of one table: nodes, and records of every size.
struct Slabs {
    nodes: Slab<NodeStore>,
    recs: RecSlabs,
}

impl Default for Slabs {
    fn default() -> Self {
        Slabs {
            nodes: Slab::new(NODE_BYTES),
            recs: RecSlabs::default(),
        }
    }
}

/// Bytes of a node slot.
const NODE_BYTES: usize = std::mem::size_of::<Option<Node>>();

impl Slabs {
    /// The key at `pos`, None when the slot is free.
    #[inline]
    fn key(&self, pos: u32) -> Option<&[u8]> {
        if is_rec(pos) {
            self.recs.key(slot_of(pos))
        } else {
            self.nodes.key(pos)
        }
    }

    /// Whether the entry at `pos` (a position the index holds) has key `key`: the
    /// index's comparison, kept out of line so that the probe loop around it is inlined
    /// into the lookups.
    #[inline(never)]
    fn key_is(&self, pos: u32, key: &[u8]) -> bool {
        bytes_eq(self.index_key(pos), key)
    }

    /// The key at `pos`, a position the index holds (so occupied): the index's probes.
    #[inline(always)]
    fn index_key(&self, pos: u32) -> &[u8] {
        if is_rec(pos) {
            match self.recs.chunk(slot_of(pos)) {
                Some((c, o)) => c.store.rec_from(o).map_or(&[], rec_key),
                None => &[],
            }
        } else {
            match self.nodes.chunk(pos) {
                Some((c, o)) => node_key(c.store.nodes.get(o)),
                None => &[],
            }
        }
    }

    /// Whether the entry at `pos` is live at `now` and, if so and `touch`, record the
    /// access: one slot lookup for both.
    #[inline(always)]
    fn live_touch(&mut self, pos: u32, now: u64, touch: bool) -> bool {
        on_chunk_mut!(self, pos, (c, o) => {
            let at = c.expire(o);
            if at != 0 && now > at {
                return false;
            }
            if touch {
                touch_access(c.access.get_mut(o));
            }
            true
        }, true)
    }

    #[inline]
    fn node(&self, pos: u32) -> Option<&Node> {
        if is_rec(pos) {
            return None;
        }
        let (c, o) = self.nodes.chunk(pos)?;
        c.store.nodes.get(o)?.as_ref()
    }

    #[inline]
    fn node_mut(&mut self, pos: u32) -> Option<&mut Node> {
        if is_rec(pos) {
            return None;
        }
        let (c, o) = self.nodes.chunk_mut(pos)?;
        c.store.nodes.get_mut(o)?.as_mut()
    }

    /// The record bytes at `pos` (records only).
    #[inline]
    fn rec(&self, pos: u32) -> Option<&[u8]> {
        if !is_rec(pos) {
            return None;
        }
        self.recs.rec(slot_of(pos))
    }

    /// The header byte of the record at `pos` (0 if there is none): string edits such
    /// as INCR ask whether it is a list's or a sorted set's before every edit.
    #[inline(always)]
    fn rec_header(&self, pos: u32) -> u8 {
        self.recs
            .chunk(slot_of(pos))
            .and_then(|(c, o)| c.store.bytes.get(o * c.store.size))
            .copied()
            .unwrap_or(0)
    }

    /// Where the entries of the sorted set record at `pos` are: their start in the record
    /// chunk's buffer, their bytes and their number; None for another kind of record.
    /// Read from the chunk's buffer without slicing the record (ZADD's lookup).
    #[inline(always)]
    fn rec_zset_loc(&self, pos: u32) -> Option<(u16, u8, u8)> {
        let (c, o) = self.recs.chunk(slot_of(pos))?;
        let base = o * c.store.size;
        let b = &c.store.bytes;
        if b.get(base) != Some(&ZSET) {
            return None;
        }
        // `[header][key length][key][count][length][entries]`
        let at = base + 2 + *b.get(base + 1)? as usize;
        let (count, len) = (*b.get(at)?, *b.get(at + 1)?);
        Some((u16::try_from(at + 2).ok()?, len, count))
    }

    /// The `count` entries of `len` bytes at `start` in the buffer of the chunk of the
    /// record at `pos` (as [`Slabs::rec_zset_loc`] found them).
    #[inline(always)]
    fn zset_at(&self, pos: u32, start: usize, len: u8, count: u8) -> Option<PackedZSet<'_>> {
        let (c, _) = self.recs.chunk(slot_of(pos))?;
        let data = c.store.bytes.get(start..start + len as usize)?;
        Some(PackedZSet {
            data,
            count: count as usize,
        })
    }

    /// The record bytes at `pos`, exactly (records only, occupied or not), for edits that
    /// must not reach the next record.
    #[inline(always)]
    fn rec_mut(&mut self, pos: u32) -> Option<&mut [u8]> {
        if !is_rec(pos) {
            return None;
        }
        let (c, o) = self.recs.chunk_mut(slot_of(pos))?;
        c.store.rec_mut(o)
    }

    /// The record bytes at `pos` and after (records only, occupied or not), for
    /// rewriting in place.
    #[inline(always)]
    fn rec_from_mut(&mut self, pos: u32) -> Option<&mut [u8]> {
        if !is_rec(pos) {
            return None;
        }
        let (c, o) = self.recs.chunk_mut(slot_of(pos))?;
        c.store.rec_from_mut(o)
    }

    /// The value at `pos`, a position the index holds (so occupied).
    #[inline(always)]
    fn value(&self, pos: u32) -> Option<ValueRef<'_>> {
        if is_rec(pos) {
            let (c, o) = self.recs.chunk(slot_of(pos))?;
            Some(rec_value_ref(c.store.rec_from(o)?))
        } else {
            let (c, o) = self.nodes.chunk(pos)?;
            Some(c.store.nodes.get(o)?.as_ref()?.value.as_value_ref())
        }
    }

    fn slot_bytes(&self, pos: u32) -> usize {
        if is_rec(pos) {
            self.recs
                .chunk(slot_of(pos))
                .map_or(0, |(c, _)| c.store.size)
        } else {
            NODE_BYTES
        }
    }

    fn addr(&self, pos: u32) -> usize {
        if is_rec(pos) {
            self.rec(pos).map_or(0, |r| r.as_ptr() as usize)
        } else {
            self.node(pos).map_or(0, |n| n as *const Node as usize)
        }
    }

    #[inline(always)]
    fn expire(&self, pos: u32) -> u64 {
        on_chunk!(self, pos, (c, o) => c.expire(o), 0)
    }

    fn set_expire(&mut self, pos: u32, at: u64) {
        on_chunk_mut!(self, pos, (c, o) => c.set_expire(o, at), ())
    }

    /// Whether the chunk of `pos` holds any deadline.
    fn chunk_has_expires(&self, pos: u32) -> bool {
        on_chunk!(self, pos, (c, _o) => c.expires.is_some(), false)
    }

    fn access(&self, pos: u32) -> Option<u32> {
        on_chunk!(self, pos, (c, o) => c.access.get(o).map(|a| a.get()), None)
    }

    #[inline(always)]
    fn access_mut(&mut self, pos: u32) -> Option<&mut Access> {
        on_chunk_mut!(self, pos, (c, o) => c.access.get_mut(o), None)
    }

    /// Store `key` -> `value` in the slab that fits it; returns the position.
    fn alloc(&mut self, key: &[u8], value: Value, expire_at: u64, access: u32) -> u32 {
        if let Some(v) = RecVal::of_value(&value) {
            if let Some(class) = v.class(key.len()) {
                return self.alloc_rec(class, key, v, expire_at, access);
            }
        }
        let node = Node {
            value,
            key: KeyBuf::from_slice(key),
        };
        self.nodes.alloc(node, expire_at, access) & !REC_BIT
    }

    /// Store the record `key` -> `v` of class `class`; returns the position.
    #[inline]
    fn alloc_rec(
        &mut self,
        class: usize,
        key: &[u8],
        v: RecVal<'_>,
        expire_at: u64,
        access: u32,
    ) -> u32 {
        REC_BIT
            | self
                .recs
                .alloc(class, |r| write_rec(r, key, v), expire_at, access)
    }

    /// Empty the slot at `pos` (it goes on its slab's free list).
    fn take(&mut self, pos: u32) -> Option<Taken<Item>> {
        if is_rec(pos) {
            self.recs.take(slot_of(pos)).map(|t| Taken {
                item: Item::Rec(t.item),
                expire_at: t.expire_at,
                access: t.access,
            })
        } else {
            self.nodes.take(pos).map(|t| Taken {
                item: Item::Node(t.item),
                expire_at: t.expire_at,
                access: t.access,
            })
        }
    }

    /// Empty the slot at `pos`, moving its slab's last entry into it. Returns the entry
    /// and the position the moved entry had (now at `pos`).
    fn take_compacting(&mut self, pos: u32) -> (Option<Taken<Item>>, Option<u32>) {
        if is_rec(pos) {
            let (t, moved) = self.recs.take_compacting(slot_of(pos));
            let t = t.map(|t| Taken {
                item: Item::Rec(t.item),
                expire_at: t.expire_at,
                access: t.access,
            });
            (t, moved.map(|m| m | REC_BIT))
        } else {
            let (t, moved) = self.nodes.take_compacting(pos);
            let t = t.map(|t| Taken {
                item: Item::Node(t.item),
                expire_at: t.expire_at,
                access: t.access,
            });
            (t, moved)
        }
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.recs.clear();
    }
}

/// `a == b`, with keys of 4 to 32 bytes (most keys) compared by two or four overlapping
/// word loads on each side instead of a `memcmp` call: every lookup compares one key.
#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        return word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8);
    }
    if (17..=32).contains(&n) {
        return [0, 8, n - 16, n - 8]
            .iter()
            .all(|&at| word::<8>(a, at) == word::<8>(b, at));
    }
    if (4..8).contains(&n) {
        return word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4);
    }
    a == b
}

/// The `N` bytes of `s` at `at` as an integer (0 when out of range, which the callers'
/// length checks rule out).
#[inline(always)]
fn word<const N: usize>(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let (Some(dst), Some(src)) = (w.get_mut(..N), s.get(at..at + N)) {
        dst.copy_from_slice(src);
    }
    u64::from_ne_bytes(w)
}

/// The key of a node slot (empty when free).
#[inline(always)]
fn node_key(n: Option<&Option<Node>>) -> &[u8] {
    n.and_then(Option::as_ref).map_or(&[], |n| n.key.as_slice())
}

/// Key -> entry map of one shard.
#[derive(Default)]
pub struct KeyTable {
    /// Slab positions, hashed by key.
    index: KeyIndex,
    /// The entries.
    slabs: Slabs,
    hasher: foldhash::fast::RandomState,
    /// What a string edit gets if its entry vanished (never while the lock is held).
    spare: Vec<u8>,
    /// The small list of a record while a [`ListMut`] edits it (kept between edits for
    /// its buffer; None until this table's first): kept here so that the view, and
    /// `ValueMut`, stay two words, and boxed so that the 16,384 shard tables grow by a
    /// word each.
    open_list: Option<Box<ListValue>>,
    /// The small sorted set of a record while a [`ZSetMut`] edits it (as `open_list`).
    open_zset: Option<Box<ZSetValue>>,
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTable")
            .field("len", &self.len())
            .finish()
    }
}

impl KeyTable {
    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Index slots (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.index.capacity()
    }

    #[inline(always)]
    fn find(&self, key: &[u8]) -> Option<u32> {
        self.find_hashed(self.hash(key), key)
    }

    /// [`KeyTable::find`] with the key's hash computed.
    #[inline(always)]
    fn find_hashed(&self, h: u64, key: &[u8]) -> Option<u32> {
        let slabs = &self.slabs;
        self.index.find(h, |p| slabs.key_is(p, key))
    }

    #[inline]
    fn view(&self, pos: u32) -> Option<EntryRef<'_>> {
        Some(EntryRef {
            value: self.slabs.value(pos)?,
            expire_at: self.slabs.expire(pos),
            addr: self.slabs.addr(pos),
            slot_bytes: self.slabs.slot_bytes(pos),
        })
    }

    #[inline]
    fn view_mut(&mut self, pos: u32) -> Option<EntryMut<'_>> {
        Some(EntryMut { table: self, pos })
    }

    /// The entry under `key`.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<EntryRef<'_>> {
        let pos = self.find(key)?;
        self.view(pos)
    }

    /// The entry under `key`, its value mutable.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<EntryMut<'_>> {
        let pos = self.find(key)?;
        self.view_mut(pos)
    }

    /// The entry under `key`, its value mutable, recording the access (OBJECT IDLETIME).
    #[inline]
    pub fn get_mut_touch(&mut self, key: &[u8]) -> Option<EntryMut<'_>> {
        let pos = self.find(key)?;
        touch_access(self.slabs.access_mut(pos));
        self.view_mut(pos)
    }

    /// Where `key`'s entry is if it is live at `now` (one hash and probe, then one slot
    /// lookup for the deadline check and, when `touch`, the access field: the first half
    /// of a lookup; [`KeyTable::entry_at_mut`] or [`KeyTable::read_at`] is the second,
    /// without hashing again). An expired entry is reported, not touched, so the caller
    /// can delete it.
    #[inline(always)]
    pub fn probe(&mut self, key: &[u8], now: u64, touch: bool) -> Probe {
        let Some(pos) = self.find(key) else {
            return Probe::Missing;
        };
        if self.slabs.live_touch(pos, now, touch) {
            Probe::Live(pos)
        } else {
            Probe::Expired
        }
    }

    /// The entry at a position [`KeyTable::probe`] returned (no change to the table in
    /// between; the probe recorded the access).
    #[inline]
    pub fn entry_at_mut(&mut self, pos: u32) -> Option<EntryMut<'_>> {
        self.view_mut(pos)
    }

    /// The LFU counter of `key` after decay (OBJECT FREQ under an LFU policy).
    pub fn lfu_frequency(&self, key: &[u8]) -> Option<u32> {
        let access = self.slabs.access(self.find(key)?)?;
        Some(lfu_decayed(access))
    }

    /// Seconds since `key` was last accessed.
    pub fn idle_seconds(&self, key: &[u8]) -> Option<u64> {
        let last = self.slabs.access(self.find(key)?)?;
        Some(idle_of(last))
    }

    /// Set the access field of `key` as RESTORE's IDLETIME / FREQ do (Redis's
    /// `objectSetLRUOrLFU`): under an LFU policy only `freq` applies (the counter, decay
    /// starting now), else only `idle_secs`, with the wrap-around of Redis's 24-bit LRU
    /// clock (so an idle time beyond 2^24 s reads back as Redis's does).
    pub fn restore_access(&mut self, key: &[u8], idle_secs: Option<u64>, freq: Option<u8>) {
        let Some(pos) = self.find(key) else { return };
        let Some(a) = self.slabs.access_mut(pos) else {
            return;
        };
        if lfu_mode() {
            if let Some(f) = freq {
                a.set((lfu_minutes() << 8) | f as u32);
            }
        } else if let Some(idle) = idle_secs {
            let clock = lru_clock();
            a.set(stamp_idle_for(
                clock & Access::MAX,
                redis_lru_idle(clock, idle),
            ));
        }
    }

    /// True when `key` is present (expired or not).
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Set (`at` > 0) or clear (`0`) the deadline of `key`; returns the previous one, or
    /// None when the key is absent.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> Option<u64> {
        let pos = self.find(key)?;
        let old = self.slabs.expire(pos);
        self.slabs.set_expire(pos, at);
        Some(old)
    }

    /// Point the index slot holding `old` at `new` (the entry moved; same key, same hash).
    fn repoint(&mut self, old: u32, new: u32) {
        let Some(key) = self.slabs.key(new) else {
            return;
        };
        let h = self.hasher.hash_one(key);
        let (slabs, hasher) = (&self.slabs, &self.hasher);
        self.index
            .repoint(h, old, new, |p| hasher.hash_one(slabs.index_key(p)));
    }

    /// Move the entry at `pos` to the slab that fits `value` (its deadline and access
    /// field follow; the old value is dropped); returns the new position.
    fn relocate(&mut self, pos: u32, value: Value) -> Option<u32> {
        let t = self.slabs.take(pos)?;
        let new = self.slabs.alloc(t.item.key(), value, t.expire_at, t.access);
        self.repoint(pos, new);
        Some(new)
    }

    /// Rewrite the record at `pos` with `v` when `v` keeps its size (INCR, SET of a value
    /// of the same record size): one slot lookup. False when `pos` is a node or the size
    /// changes.
    #[inline(always)]
    fn rewrite_rec(&mut self, pos: u32, v: RecVal<'_>) -> bool {
        if !is_rec(pos) {
            return false;
        }
        let Some((c, o)) = self.slabs.recs.chunk_mut(slot_of(pos)) else {
            return false;
        };
        let size = c.store.size;
        let Some(r) = c.store.rec_from_mut(o) else {
            return false;
        };
        if !fits(v, rec_klen(r), size) {
            return false;
        }
        write_rec_value(r, v);
        true
    }

    /// Replace the value at `pos` (same slab and size: in place; else the entry moves),
    /// keeping the deadline and access field; returns the entry's position.
    fn replace_at(&mut self, pos: u32, value: Value) -> u32 {
        let rec = RecVal::of_value(&value);
        if let Some(v) = rec {
            if self.rewrite_rec(pos, v) {
                return pos;
            }
        }
        let klen = self.slabs.index_key(pos).len();
        let wants_rec = rec.is_some_and(|v| v.class(klen).is_some());
        if !wants_rec && !is_rec(pos) {
            if let Some(node) = self.slabs.node_mut(pos) {
                node.value = value;
            }
            return pos;
        }
        self.relocate(pos, value).unwrap_or(pos)
    }

    /// Replace the string at `pos` ([`StrMut::set`]); returns its new position. A record
    /// that keeps its size is rewritten in place with one slot lookup.
    #[inline]
    fn replace_str(&mut self, pos: u32, v: StrValue) -> u32 {
        if let Some(rv) = RecVal::of(&v) {
            if self.rewrite_rec(pos, rv) {
                return pos;
            }
        }
        self.replace_at(pos, Value::Str(v))
    }

    /// Add `by` to the integer at `pos` ([`StrMut::incr_by`]): an `int` record is read
    /// and written with one slot lookup. None when `pos` is not an `int` record.
    #[inline(always)]
    fn incr_rec(&mut self, pos: u32, by: i64) -> Option<Result<i64, IncrError>> {
        let cell = rec_int_cell(self.slabs.rec_from_mut(pos)?)?;
        Some(match i64::from_le_bytes(*cell).checked_add(by) {
            Some(new) => {
                *cell = new.to_le_bytes();
                Ok(new)
            }
            None => Err(IncrError::Overflow),
        })
    }

    /// Give `member` of the sorted set record at `pos` the score `score` in the record's
    /// bytes, when the member keeps its rank and no entry changes size (see
    /// [`rescore_in_place`]); false, with nothing written, otherwise.
    #[inline(never)]
    fn zset_rescore_in_place(&mut self, pos: u32, member: &[u8], score: f64) -> bool {
        let Some(r) = self.slabs.rec_from_mut(pos) else {
            return false;
        };
        if r.first() != Some(&ZSET) {
            return false;
        }
        let at = 2 + rec_klen(r);
        let Some(&len) = r.get(at + 1) else {
            return false;
        };
        match r.get_mut(at + 2..at + 2 + len as usize) {
            Some(data) => rescore_in_place(data, member, score),
            None => false,
        }
    }

    /// The write view of the list or sorted set in the record at `pos`, whose header
    /// byte is `header`. Out of line: the value lookup of every write stays small.
    #[inline(never)]
    fn open_packed(&mut self, pos: u32, header: u8) -> ValueMut<'_> {
        if header == LIST {
            ValueMut::List(self.open_list(pos))
        } else {
            ValueMut::ZSet(self.open_zset(pos))
        }
    }

    /// A [`ZSetMut`] of the small sorted set in the record at `pos`: the set decoded
    /// into `open_zset`, whose buffer is reused from one edit to the next.
    #[inline]
    fn open_zset(&mut self, pos: u32) -> ZSetMut<'_> {
        self.load_zset(pos);
        ZSetMut {
            at: ZSetAt::Rec {
                table: self,
                pos,
                dirty: false,
            },
        }
    }

    /// Decode the sorted set record at `pos` into `open_zset`.
    #[inline]
    fn load_zset(&mut self, pos: u32) {
        let open = self.open_zset.get_or_insert_with(Box::default);
        // No extra room: a listpack edit gives back whatever exceeds its size class
        // (`alloc::shrink`), so room would only cost a reallocation at each edit.
        match self.slabs.rec(pos).and_then(rec_zset) {
            Some(p) => open.load_packed(p, 0),
            None => **open = ZSetValue::new(),
        }
    }

    /// A [`ZSetEdit`] of the sorted set record at `pos`, not decoded (its entries where
    /// [`Slabs::rec_zset_loc`] found them).
    #[inline]
    fn edit_zset(&mut self, pos: u32, start: u16, data_len: u8, count: u8) -> ZSetEdit<'_> {
        ZSetEdit {
            z: ZSetMut {
                at: ZSetAt::Rec {
                    table: self,
                    pos,
                    dirty: false,
                },
            },
            loaded: false,
            start,
            data_len,
            count,
        }
    }

    /// End a [`ZSetMut`] of a record's set: when it was reached mutably, store the set
    /// back at `pos`, as [`KeyTable::close_list`] does for lists (a set that turned into
    /// the large encoding goes to a node).
    #[inline(never)]
    fn close_zset(&mut self, pos: u32, dirty: bool) {
        if !dirty {
            return;
        }
        let Some(z) = self.open_zset.take() else {
            return;
        };
        let klen = self.slabs.index_key(pos).len();
        let class = z
            .packed()
            .and_then(|p| Some((RecVal::ZSet(p), RecVal::ZSet(p).class(klen)?)));
        match class {
            Some((v, class)) => {
                // A score update changes an entry's size by up to 8 bytes either way: a
                // set that shrank keeps one class to spare, so that updates do not move
                // it down and up again.
                self.store_packed_rec(pos, v, class, 1);
                self.open_zset = Some(z);
            }
            None => {
                self.replace_at(pos, Value::ZSet(*z));
            }
        }
    }

    /// A [`ListMut`] of the small list in the record at `pos`: the list decoded into
    /// `open_list`, whose buffer is reused from one edit to the next (with room for a
    /// short push).
    #[inline]
    fn open_list(&mut self, pos: u32) -> ListMut<'_> {
        let open = self.open_list.get_or_insert_with(Box::default);
        match self.slabs.rec(pos).and_then(rec_list) {
            Some(p) => open.load_packed(p, 16),
            None => **open = ListValue::new(),
        }
        ListMut {
            at: ListAt::Rec {
                table: self,
                pos,
                dirty: false,
            },
        }
    }

    /// End a [`ListMut`] of a record's list: when it was reached mutably, store the list
    /// back at `pos`: its record in place when the size class is unchanged, else a record
    /// of the new size (the list's buffer stays for the next edit), or a node once it no
    /// longer fits a record (the buffer goes with it).
    #[inline(never)]
    fn close_list(&mut self, pos: u32, dirty: bool) {
        if !dirty {
            return;
        }
        let Some(list) = self.open_list.take() else {
            return;
        };
        let klen = self.slabs.index_key(pos).len();
        let class = list
            .packed()
            .and_then(|p| Some((RecVal::List(p), RecVal::List(p).class(klen)?)));
        match class {
            Some((v, class)) => {
                self.store_packed_rec(pos, v, class, 0);
                self.open_list = Some(list);
            }
            None => {
                self.replace_at(pos, Value::List(*list));
            }
        }
    }

    /// Store the list or sorted set `v` (of record class `class` under its key) at the
    /// record `pos`.
    /// In place while its record holds it with at most one size class to spare; a list
    /// that outgrows its record moves to the class above the one it needs (so pushes
    /// one at a time move it every other class, not at every class), one that shrank two
    /// classes below its record to the class it needs. A move takes the deadline and
    /// access field along and repoints the index slot. A value that shrank moves to
    /// `spare_down` classes above the one it needs (lists 0, sorted sets 1).
    fn store_packed_rec(&mut self, pos: u32, v: RecVal<'_>, class: usize, spare_down: usize) {
        let size = self.slabs.slot_bytes(pos);
        let current = REC_SIZES.iter().position(|&s| s == size);
        if current.is_some_and(|c| class <= c && c - class <= 1) {
            if let Some(r) = self.slabs.rec_from_mut(pos) {
                write_rec_value(r, v);
            }
            return;
        }
        let grows = current.is_some_and(|c| class > c);
        let target = if grows {
            (class + 1).min(REC_SIZES.len() - 1)
        } else {
            (class + spare_down).min(REC_SIZES.len() - 1)
        };
        let Some(t) = self.slabs.take(pos) else {
            return;
        };
        let new = self
            .slabs
            .alloc_rec(target, t.item.key(), v, t.expire_at, t.access);
        self.repoint(pos, new);
    }

    /// Push `items` at `end` of the small list in the record at `pos`, on the record's
    /// bytes: in place when its record holds the result, else moved to the class above
    /// the one it needs (as [`KeyTable::store_list_rec`] moves a growing list) with the
    /// push applied on the way. Returns the new length; None when the push needs the
    /// general path (the list would not fit a record or stay one node; nothing changed).
    #[inline]
    fn push_packed(
        &mut self,
        pos: u32,
        end: End,
        items: &[&[u8]],
        limits: ListLimits,
    ) -> Option<usize> {
        let r = self.slabs.rec_mut(pos)?;
        let at = 2 + rec_klen(r);
        let need = match packed_push(r.get_mut(at..)?, end, items, limits) {
            PackedPush::Done(len) => return Some(len),
            PackedPush::Room(n) => at + n,
            PackedPush::Unpackable => return None,
        };
        // Past the largest record: decoded, and into a node.
        let class = class_of_size(need)?;
        let target = (class + 1).min(REC_SIZES.len() - 1);
        let mut pushed = None;
        self.move_rec(pos, target, |r| {
            if let Some(PackedPush::Done(len)) = r
                .get_mut(at..)
                .map(|body| packed_push(body, end, items, limits))
            {
                pushed = Some(len);
            }
        });
        pushed
    }

    /// Pop up to `n` elements at `end` of the small list in the record at `pos`, on the
    /// record's bytes (see [`PackedList::pop`]); a list left two size classes below its
    /// record moves to the class it needs. Returns (popped, left).
    #[inline]
    fn pop_packed(
        &mut self,
        pos: u32,
        end: End,
        n: usize,
        f: impl FnMut(Elem<'_>),
    ) -> (usize, usize) {
        let Some(r) = self.slabs.rec_mut(pos) else {
            return (0, 0);
        };
        let (size, at) = (r.len(), 2 + rec_klen(r));
        let Some(body) = r.get_mut(at..) else {
            return (0, 0);
        };
        let popped = packed_pop(body, end, n, f);
        let (left, len) = match body {
            [c, l, ..] => (*c as usize, *l as usize),
            _ => (0, 0),
        };
        // An emptied list is deleted by the caller: no move.
        if left > 0 {
            if let (Some(class), Some(current)) = (class_of_size(at + 2 + len), class_of_size(size))
            {
                if current >= class + 2 {
                    self.move_rec(pos, class, |_| {});
                }
            }
        }
        (popped, left)
    }

    /// Move the record at `pos` to a record of class `class`, applying `edit` to its
    /// bytes on the way (they are copied out whole, at most [`super::slab::MAX_REC`]);
    /// the deadline and access field follow and the index slot is repointed.
    fn move_rec(&mut self, pos: u32, class: usize, edit: impl FnOnce(&mut Rec)) {
        if let Some(new) = self.slabs.recs.move_rec(slot_of(pos), class, edit) {
            self.repoint(pos, new | REC_BIT);
        }
    }

    /// Move the string at `pos` into a node as a `raw` string (for in-place edits);
    /// returns its new position.
    fn move_to_node(&mut self, pos: u32) -> u32 {
        if !is_rec(pos) {
            return pos;
        }
        let Some(bytes) = self.slabs.rec(pos).map(|r| rec_value(r).to_vec()) else {
            return pos;
        };
        self.relocate(pos, Value::Str(StrValue::raw(bytes)))
            .unwrap_or(pos)
    }

    /// The string at node position `pos` as a `raw` vector.
    fn raw_at(&mut self, pos: u32) -> &mut Vec<u8> {
        match self.slabs.node_mut(pos) {
            Some(Node {
                value: Value::Str(s),
                ..
            }) => s.make_raw(),
            _ => {
                self.spare.clear();
                &mut self.spare
            }
        }
    }

    /// Rewrite the record at `pos` in place when `v` keeps its size: the common SET over
    /// a string, one slot lookup. Returns the previous deadline, None when it does not
    /// fit.
    #[inline(always)]
    fn overwrite_rec(&mut self, pos: u32, v: RecVal<'_>, expire_at: u64) -> Option<u64> {
        if !is_rec(pos) {
            return None;
        }
        let (c, o) = self.slabs.recs.chunk_mut(slot_of(pos))?;
        let size = c.store.size;
        let r = c.store.rec_from_mut(o)?;
        if !fits(v, rec_klen(r), size) {
            return None;
        }
        write_rec_value(r, v);
        let old = c.expire(o);
        if old != expire_at {
            c.set_expire(o, expire_at);
        }
        // A new value is a new object (LRU: accessed now); under LFU Redis keeps the old
        // object's counter (dbOverwrite).
        if let (false, Some(a)) = (lfu_mode(), c.access.get_mut(o)) {
            a.set(lru_clock());
        }
        Some(old)
    }

    /// Replace the entry at `pos` (found under its key); returns the previous deadline.
    fn replace_entry(&mut self, pos: u32, entry: Entry) -> u64 {
        if let Value::Str(s) = &entry.value {
            if let Some(old) =
                RecVal::of(s).and_then(|v| self.overwrite_rec(pos, v, entry.expire_at))
            {
                return old;
            }
        }
        let old_expire = self.slabs.expire(pos);
        let pos = self.replace_at(pos, entry.value);
        self.slabs.set_expire(pos, entry.expire_at);
        // As in overwrite_rec.
        if let (false, Some(a)) = (lfu_mode(), self.slabs.access_mut(pos)) {
            a.set(lru_clock());
        }
        old_expire
    }

    /// Insert or replace; returns the previous deadline (0 = none) when the key existed.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> Option<u64> {
        let h = self.hash(key);
        if let Some(pos) = self.find_hashed(h, key) {
            return Some(self.replace_entry(pos, entry));
        }
        let pos = self
            .slabs
            .alloc(key, entry.value, entry.expire_at, new_access());
        self.index_new(h, pos);
        None
    }

    /// [`KeyTable::insert`] of a string given by its bytes (SET): encoded as
    /// [`StrValue::from_bytes`] would, written straight into its record when it gets one
    /// (no `StrValue` built and copied).
    #[inline]
    pub fn insert_str(&mut self, key: &[u8], data: &[u8], expire_at: u64) -> Option<u64> {
        let Some((v, class)) = RecVal::parse(data).and_then(|v| Some((v, v.class(key.len())?)))
        else {
            let value = Value::Str(StrValue::from_bytes(data));
            return self.insert(key, Entry { value, expire_at });
        };
        let h = self.hash(key);
        if let Some(pos) = self.find_hashed(h, key) {
            if let Some(old) = self.overwrite_rec(pos, v, expire_at) {
                return Some(old);
            }
            let value = Value::Str(StrValue::from_bytes(data));
            return Some(self.replace_entry(pos, Entry { value, expire_at }));
        }
        let pos = self.slabs.alloc_rec(class, key, v, expire_at, new_access());
        self.index_new(h, pos);
        None
    }

    /// Add a new key's position to the index.
    #[inline]
    fn index_new(&mut self, h: u64, pos: u32) {
        let (slabs, hasher) = (&self.slabs, &self.hasher);
        self.index
            .insert(h, pos, |p| hasher.hash_one(slabs.index_key(p)));
    }

    /// The value at a position [`KeyTable::probe`] returned (a read:
    /// [`KeyTable::entry_at_mut`] without the mutable view).
    #[inline]
    pub fn read_at(&self, pos: u32) -> Option<ValueRef<'_>> {
        self.slabs.value(pos)
    }

    /// Remove `key`; returns its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let h = self.hash(key);
        let slabs = &self.slabs;
        let pos = self.index.remove(h, |p| slabs.index_key(p) == key)?;
        let t = self.slabs.take(pos);
        if self.index.is_empty() {
            // Give the slabs back once the shard is empty.
            self.slabs.clear();
        }
        t.map(|t| Entry {
            value: t.item.into_value(),
            expire_at: t.expire_at,
        })
    }

    /// One key for eviction sampling: the first occupied slab slot at or after `start`
    /// (modulo all slabs' slots, nodes first), with its access field and deadline; with
    /// `volatile_only`, the first slot whose key has a TTL. Walks at most `max_slots`
    /// slots, skipping chunks without deadlines whole when only volatile keys qualify.
    /// Consecutive slots were filled at nearby times, so callers take one key per random
    /// start.
    pub fn sample_from(
        &self,
        start: usize,
        volatile_only: bool,
        max_slots: usize,
    ) -> Option<Sampled<'_>> {
        let nodes = self.slabs.nodes.slots();
        let total = self.slots();
        if total == 0 || self.index.is_empty() {
            return None;
        }
        let mut at = start % total;
        let mut walked = 0;
        while walked < max_slots.min(total) {
            // Node slots first, then the record chunks' slots.
            let (pos, end) = if at < nodes {
                (at as u32, nodes)
            } else {
                ((at - nodes) as u32 | REC_BIT, total)
            };
            if volatile_only && !self.slabs.chunk_has_expires(pos) {
                // The rest of this chunk holds no deadline.
                let step = (CHUNK - slot_of(pos) as usize % CHUNK).min(end - at).max(1);
                walked += step;
                at = (at + step) % total;
                continue;
            }
            if let Some(key) = self.slabs.key(pos) {
                let expire_at = self.slabs.expire(pos);
                if !volatile_only || expire_at != 0 {
                    return Some(Sampled {
                        key,
                        access: self.slabs.access(pos).unwrap_or(0),
                        expire_at,
                    });
                }
            }
            walked += 1;
            at = (at + 1) % total;
        }
        None
    }

    /// Slab slot numbers, nodes then records (the unused tails of the last node chunk
    /// excluded, those of record chunks included): the range of
    /// [`KeyTable::sample_from`]'s start.
    pub fn slots(&self) -> usize {
        self.slabs.nodes.slots() + self.slabs.recs.slots()
    }

    /// Remove `key` as eviction does: its slab's last entry moves into the freed slot, so
    /// evicting keeps the slabs dense and their tail chunks are given back to the
    /// allocator once empty (a plain removal leaves a free slot for the next insert). Only
    /// eviction uses it: it frees memory that `used_memory` sees, while other callers may
    /// rely on slots staying put within one lock hold (nothing keeps positions across
    /// holds).
    pub fn remove_compacting(&mut self, key: &[u8]) -> Option<Entry> {
        let h = self.hash(key);
        let slabs = &self.slabs;
        let pos = self.index.remove(h, |p| slabs.index_key(p) == key)?;
        let (t, moved) = self.slabs.take_compacting(pos);
        if let Some(from) = moved {
            self.repoint(from, pos);
        }
        if self.index.is_empty() {
            self.clear();
        }
        t.map(|t| Entry {
            value: t.item.into_value(),
            expire_at: t.expire_at,
        })
    }

    /// Remove everything.
    pub fn clear(&mut self) {
        self.index.clear();
        self.slabs.clear();
    }

    /// Every (key, entry): nodes first, then the records of each size.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], EntryRef<'_>)> {
        let nodes = self.slabs.nodes.occupied().filter_map(|(c, o)| {
            let n = c.store.nodes.get(o)?.as_ref()?;
            let e = EntryRef {
                value: n.value.as_value_ref(),
                expire_at: c.expire(o),
                addr: n as *const Node as usize,
                slot_bytes: NODE_BYTES,
            };
            Some((n.key.as_slice(), e))
        });
        let recs = self.slabs.recs.occupied().filter_map(|(c, o)| {
            let r = c.store.rec(o)?;
            let e = EntryRef {
                value: rec_value_ref(r),
                expire_at: c.expire(o),
                addr: r.as_ptr() as usize,
                slot_bytes: c.store.size,
            };
            Some((rec_key(r), e))
        });
        nodes.chain(recs)
    }

    /// Every key.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.iter().map(|(k, _)| k)
    }

    /// Keep only the entries for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&[u8], EntryRef<'_>) -> bool) {
        let doomed: Vec<Box<[u8]>> = self
            .iter()
            .filter(|&(k, e)| !f(k, e))
            .map(|(k, _)| k.into())
            .collect();
        for k in doomed {
            self.remove(&k);
        }
    }

    /// Remove and return every (key, entry).
    pub fn drain(&mut self) -> impl Iterator<Item = (KeyBuf, Entry)> {
        let all: Vec<(KeyBuf, Entry)> = self
            .iter()
            .map(|(k, e)| (KeyBuf::from_slice(k), e.to_entry()))
            .collect();
        self.clear();
        all.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::list::{End, ListLimits};
    use crate::storage::slab::GROW;
    use crate::storage::value::{StrValue, Value};

    fn entry(v: &[u8]) -> Entry {
        Entry::new(Value::Str(StrValue::from_bytes(v)))
    }

    /// A value that lives in a node (a raw string).
    fn node_entry(v: &[u8]) -> Entry {
        Entry::new(Value::Str(StrValue::raw(v.to_vec())))
    }

    /// Chunks holding slots (emptied record chunks kept for reuse excluded).
    fn chunks(t: &KeyTable) -> usize {
        t.slabs.nodes.chunks.len() + t.slabs.recs.chunks.iter().filter(|c| !c.is_empty()).count()
    }

    /// The record size of `key`'s slot, 0 for a node.
    fn rec_size(t: &KeyTable, key: &[u8]) -> usize {
        let pos = t.find(key).expect("key");
        if !is_rec(pos) {
            return 0;
        }
        t.slabs.slot_bytes(pos)
    }

    fn value_of(t: &KeyTable, key: &[u8]) -> Option<Vec<u8>> {
        match t.get(key)?.value() {
            ValueRef::Str(s) => Some(s.to_vec()),
            _ => None,
        }
    }

    #[test]
    fn insert_get_remove() {
        let mut t = KeyTable::default();
        assert!(t.insert(b"a", entry(b"1")).is_none());
        assert!(t
            .insert(b"a-much-longer-key-than-inline", entry(b"2"))
            .is_none());
        assert!(t.insert(b"a", entry(b"3")).is_some());
        assert_eq!(t.len(), 2);
        assert!(t.contains_key(b"a-much-longer-key-than-inline"));
        assert!(t.remove(b"a").is_some());
        assert!(t.get(b"a").is_none());
        for i in 0..1000u32 {
            t.insert(&i.to_be_bytes(), entry(b"x"));
        }
        assert_eq!(t.len(), 1001);
        assert_eq!(t.iter().count(), 1001);
        t.retain(|k, _| k.len() == 4);
        assert_eq!(t.len(), 1000);
        for i in 0..500u32 {
            assert!(t.remove(&i.to_be_bytes()).is_some());
        }
        // freed slots are reused
        for i in 0..500u32 {
            t.insert(&(i + 5000).to_be_bytes(), entry(b"y"));
        }
        assert_eq!(
            t.slabs
                .recs
                .chunks
                .iter()
                .filter(|c| c.store.size == 24)
                .count(),
            1001usize.div_ceil(CHUNK),
            "no new chunk for reused slots (the 24-byte records)"
        );
        assert_eq!(t.len(), 1000);
        for i in 500..1000u32 {
            assert!(t.get(&i.to_be_bytes()).is_some());
        }
        assert_eq!(t.drain().count(), 1000);
        assert!(t.is_empty());
    }

    #[test]
    fn compacting_removal_keeps_the_slab_dense() {
        let mut t = KeyTable::default();
        for i in 0..200u32 {
            t.insert(&i.to_be_bytes(), entry(b"v"));
        }
        t.set_expire(&199u32.to_be_bytes(), 77);
        assert_eq!(chunks(&t), 4);
        // Remove from the middle: the last key moves into the hole, deadline included.
        for i in 0..150u32 {
            assert!(t.remove_compacting(&i.to_be_bytes()).is_some());
            assert!(t.get(&i.to_be_bytes()).is_none());
        }
        assert_eq!(t.len(), 50);
        assert_eq!(chunks(&t), 1, "emptied tail chunks are freed");
        for i in 150..200u32 {
            let e = t.get(&i.to_be_bytes()).expect("moved key still found");
            assert_eq!(e.expire_at(), if i == 199 { 77 } else { 0 });
        }
        // A plain removal's hole at the tail stops compaction; the slot is reused.
        assert!(t.remove(&(150u32).to_be_bytes()).is_some());
        assert!(t.remove_compacting(&(160u32).to_be_bytes()).is_some());
        assert_eq!(t.len(), 48);
        let mut seen = 0;
        for (k, _) in t.iter() {
            assert!(t.get(k).is_some());
            seen += 1;
        }
        assert_eq!(seen, 48);
        assert!(t
            .sample_from(0, true, 1000)
            .is_some_and(|s| s.expire_at == 77));
        for i in 151..200u32 {
            t.remove_compacting(&i.to_be_bytes());
        }
        assert!(t.is_empty());
        assert_eq!(t.slots(), 0);
    }

    #[test]
    fn the_last_chunk_grows_a_quarter_at_a_time() {
        let mut t = KeyTable::default();
        for i in 0..(CHUNK + 17) as u32 {
            t.insert(&i.to_be_bytes(), node_entry(b"v"));
            let last = t.slabs.nodes.chunks.last().expect("a chunk");
            let cap = last.store.nodes.capacity();
            assert!(
                cap >= last.store.nodes.len() && cap - last.store.nodes.len() < GROW,
                "{cap}"
            );
            assert_eq!(last.access.len(), last.store.nodes.len());
        }
        assert_eq!(chunks(&t), 2);
        assert_eq!(
            t.slabs.nodes.chunks[0].store.nodes.capacity(),
            CHUNK,
            "full chunks hold exactly CHUNK"
        );
        assert_eq!(t.slabs.nodes.chunks[1].store.nodes.capacity(), 2 * GROW);
        // Access fields follow their keys through a compacting removal.
        t.restore_access(&3u32.to_be_bytes(), Some(0), None);
        t.remove_compacting(&0u32.to_be_bytes());
        assert!(t
            .idle_seconds(&((CHUNK + 16) as u32).to_be_bytes())
            .is_some());
        assert_eq!(t.len(), CHUNK + 16);
    }

    #[test]
    fn record_chunks_grow_by_their_size_step() {
        use crate::storage::slab::rec_grow;
        // Small sorted sets (records of at most 64 bytes: a quarter at a time) and larger
        // ones (over 64 bytes: an eighth).
        for members in [2, 8] {
            let mut t = KeyTable::default();
            for i in 0..(CHUNK + 17) as u32 {
                t.insert(&i.to_be_bytes(), Entry::new(Value::ZSet(zset_of(members))));
                let last = t.slabs.recs.chunks.last().expect("a chunk");
                let (cap, step) = (last.access.capacity(), rec_grow(last.store.size));
                assert!(
                    cap >= last.access.len() && cap - last.access.len() < step,
                    "{cap}"
                );
                assert!(last.store.bytes.capacity() >= last.access.len() * last.store.size);
            }
            assert_eq!(t.slabs.recs.chunks.len(), 2);
            let (full, last) = (&t.slabs.recs.chunks[0], &t.slabs.recs.chunks[1]);
            assert_eq!(full.access.capacity(), CHUNK);
            // 17 records in the last chunk: whole steps, the fewest that hold them
            let step = rec_grow(last.store.size);
            assert_eq!(last.store.size > 64, members == 8, "both steps are covered");
            assert_eq!(step, if members == 8 { CHUNK / 8 } else { CHUNK / 4 });
            assert_eq!(last.access.capacity(), 17usize.div_ceil(step) * step);
        }
    }

    #[test]
    fn idle_times_wrap_with_the_24_bit_clock_as_in_redis() {
        assert_eq!(idle_at(100, 40), 60);
        // A stamp taken before the clock wrapped.
        assert_eq!(idle_at(5, Access::MAX - 10), 15);
        for now in [0, 7, 1000, Access::MAX - 1] {
            for idle in [0, 1, 7, 1000, 5_000_000, Access::MAX - 1] {
                assert_eq!(
                    idle_at(now, stamp_idle_for(now, idle)),
                    idle,
                    "{now} {idle}"
                );
            }
        }
        // A long RESTORE IDLETIME reads back as Redis 7.0 shows it, with the field truncated.
        let mut t = KeyTable::default();
        t.insert(b"k", entry(b"v"));
        // (The clock may tick between the two calls: a second of slack.)
        let within_a_second =
            |got: Option<u64>, want: u64| got.is_some_and(|g| g == want || g == want + 1);
        t.restore_access(b"k", Some(1000), None);
        assert!(within_a_second(t.idle_seconds(b"k"), 1000));
        let clock = lru_clock();
        t.restore_access(b"k", Some(30_000_000), None);
        let shown = redis_lru_idle(clock, 30_000_000) as u64;
        assert!(shown < 30_000_000, "Redis shows it modulo the clock");
        assert!(within_a_second(t.idle_seconds(b"k"), shown));
        assert_eq!(Access::new(0x1234_5678).get(), 0x34_5678);
    }

    #[test]
    fn node_is_compact() {
        // A slab slot per key: 64 bytes (value 48 + key 16), deadlines kept elsewhere.
        assert_eq!(std::mem::size_of::<Option<Node>>(), 64);
    }

    #[test]
    fn strings_move_between_slabs() {
        let mut t = KeyTable::default();
        t.insert(b"n", entry(b"12"));
        t.insert(b"s", entry(b"hello"));
        t.insert(b"other", entry(b"x"));
        t.set_expire(b"n", 99);
        t.restore_access(b"n", Some(1000), None);
        let idle = t.idle_seconds(b"n");
        let pos = t.find(b"n").expect("n");
        assert_eq!(rec_size(&t, b"n"), 24, "an int: the 24-byte slab");
        assert_eq!(t.get(b"n").map(|e| e.value().encoding()), Some("int"));
        // INCR: same record size, rewritten in place
        assert_eq!(t.replace_str(pos, StrValue::Int(13)), pos);
        assert_eq!(value_of(&t, b"n").as_deref(), Some(&b"13"[..]));
        // APPEND: moves to a node as a raw string; deadline and access field follow
        let Some(ValueMut::Str(mut s)) = t.get_mut(b"n").and_then(EntryMut::into_value_mut) else {
            panic!("a string");
        };
        s.make_raw().extend_from_slice(b"4");
        assert_eq!(s.get().encoding(), "raw");
        assert_eq!(rec_size(&t, b"n"), 0);
        assert_eq!(value_of(&t, b"n").as_deref(), Some(&b"134"[..]));
        assert_eq!(t.get(b"n").map(|e| e.expire_at()), Some(99));
        assert_eq!(t.idle_seconds(b"n"), idle);
        // SET of a short string: back to a record
        assert!(t.insert(b"n", entry(b"abc")).is_some());
        assert_eq!(rec_size(&t, b"n"), 24);
        assert_eq!(t.get(b"n").map(|e| e.value().encoding()), Some("embstr"));
        // a longer string: a larger record
        let long = [b'y'; 44];
        t.insert(b"n", entry(&long));
        assert_eq!(rec_size(&t, b"n"), 48, "2 + 1 + 44 = 47: 48 bytes");
        assert_eq!(value_of(&t, b"n").as_deref(), Some(&long[..]));
        assert_eq!(t.iter().count(), 3);
        assert_eq!(value_of(&t, b"s").as_deref(), Some(&b"hello"[..]));
        assert_eq!(value_of(&t, b"other").as_deref(), Some(&b"x"[..]));
        // every slab is sampled
        let mut seen = std::collections::HashSet::new();
        for start in 0..t.slots() {
            if let Some(s) = t.sample_from(start, false, 1) {
                seen.insert(s.key.to_vec());
            }
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(t.drain().count(), 3);
        assert!(t.is_empty());
    }

    #[test]
    fn records_compact_per_slab() {
        let mut t = KeyTable::default();
        for i in 0..200u32 {
            t.insert(&i.to_be_bytes(), entry(&i.to_string().into_bytes()));
        }
        t.set_expire(&199u32.to_be_bytes(), 5);
        for i in 0..150u32 {
            assert!(t.remove_compacting(&i.to_be_bytes()).is_some());
        }
        assert_eq!(t.len(), 50);
        for i in 150..200u32 {
            assert_eq!(
                value_of(&t, &i.to_be_bytes()),
                Some(i.to_string().into_bytes())
            );
        }
        assert_eq!(t.get(&199u32.to_be_bytes()).map(|e| e.expire_at()), Some(5));
        assert!(t
            .sample_from(0, true, 1000)
            .is_some_and(|s| s.expire_at == 5));
        assert_eq!(t.slots(), CHUNK, "the emptied chunks are given back");
    }

    #[test]
    fn set_bytes_and_incr_write_records_in_place() {
        let mut t = KeyTable::default();
        assert!(t.insert_str(b"k", b"41", 0).is_none());
        assert_eq!(t.get(b"k").map(|e| e.value().encoding()), Some("int"));
        let pos = t.find(b"k").expect("k");
        let Some(ValueMut::Str(mut s)) = t.get_mut(b"k").and_then(EntryMut::into_value_mut) else {
            panic!("a string");
        };
        assert_eq!(s.incr_by(1), Ok(42));
        assert_eq!(s.incr_by(i64::MAX), Err(IncrError::Overflow));
        assert_eq!(t.find(b"k"), Some(pos), "INCR stays in its record");
        assert_eq!(value_of(&t, b"k").as_deref(), Some(&b"42"[..]));
        // SET over it: same record size in place (deadline replaced), else it moves
        assert_eq!(t.insert_str(b"k", b"abcdefgh", 9), Some(0));
        assert_eq!(t.find(b"k"), Some(pos));
        assert_eq!(t.get(b"k").map(|e| e.expire_at()), Some(9));
        assert_eq!(
            t.insert_str(b"k", b"a longer value of 30 bytes....", 0),
            Some(9)
        );
        assert_ne!(t.find(b"k"), Some(pos));
        assert_eq!(rec_size(&t, b"k"), 40);
        assert_eq!(t.get(b"k").map(|e| e.value().encoding()), Some("embstr"));
        // an embstr that is not an integer, and a long string (a node, raw)
        let Some(ValueMut::Str(mut s)) = t.get_mut(b"k").and_then(EntryMut::into_value_mut) else {
            panic!("a string");
        };
        assert_eq!(s.incr_by(1), Err(IncrError::NotInteger));
        t.insert_str(b"k", &[b'x'; 45], 0);
        assert_eq!(rec_size(&t, b"k"), 0);
        assert_eq!(t.get(b"k").map(|e| e.value().encoding()), Some("raw"));
        t.insert_str(b"k", b"-7", 0);
        assert_eq!(rec_size(&t, b"k"), 24);
        assert_eq!(value_of(&t, b"k").as_deref(), Some(&b"-7"[..]));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn emptied_record_chunks_are_reused_by_any_size() {
        let mut t = KeyTable::default();
        for i in 0..130u32 {
            t.insert_str(&i.to_be_bytes(), b"v", 0);
        }
        for i in 0..64u32 {
            t.insert_str(&(i + 1000).to_be_bytes(), &[b'w'; 40], 0);
        }
        // 3 chunks of 24-byte records, then one of 48
        assert_eq!(t.slabs.recs.chunks.len(), 4);
        for i in 0..70u32 {
            assert!(t.remove_compacting(&i.to_be_bytes()).is_some());
        }
        // 60 records of 24 bytes left: the second and third chunks are emptied, kept as
        // spares (the 48-byte chunk after them keeps its place)
        assert_eq!(t.slabs.recs.chunks.len(), 4);
        assert_eq!(chunks(&t), 2);
        t.insert_str(b"another", &[b'z'; 44], 0);
        assert_eq!(t.slabs.recs.chunks.len(), 4, "the spare chunk was reused");
        assert_eq!(rec_size(&t, b"another"), 56);
        for i in 70..130u32 {
            assert_eq!(value_of(&t, &i.to_be_bytes()).as_deref(), Some(&b"v"[..]));
        }
        assert_eq!(t.len(), 60 + 64 + 1);
        assert_eq!(t.iter().count(), t.len());
    }

    fn list_of(items: &[&[u8]]) -> ListValue {
        let mut l = ListValue::new();
        for it in items {
            l.push(End::Right, it, ListLimits::DEFAULT);
        }
        l
    }

    fn items_of(t: &KeyTable, key: &[u8]) -> Vec<Vec<u8>> {
        match t.get(key).map(|e| e.value()) {
            Some(ValueRef::List(l)) => l.iter().map(|e| e.to_vec()).collect(),
            _ => panic!("a list"),
        }
    }

    /// Push `item` through the mutable view (as LPUSH does: the view is dropped after).
    fn push_via_view(t: &mut KeyTable, key: &[u8], item: &[u8]) {
        let Some(ValueMut::List(mut l)) = t.get_mut(key).and_then(EntryMut::into_value_mut) else {
            panic!("a list");
        };
        l.push(End::Left, item, ListLimits::DEFAULT);
    }

    #[test]
    fn small_lists_live_in_records() {
        let mut t = KeyTable::default();
        let ten: Vec<Vec<u8>> = (0..10).map(|i| format!("item-{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = ten.iter().map(|v| v.as_slice()).collect();
        t.insert(b"list:000001", Entry::new(Value::List(list_of(&refs))));
        // 4 + 11-byte key + 10 entries of 8 bytes = 95: the 96-byte record
        assert_eq!(rec_size(&t, b"list:000001"), 96);
        assert!(matches!(
            t.get(b"list:000001").map(|e| e.value()),
            Some(ValueRef::List(ListRef::Packed(_)))
        ));
        assert_eq!(items_of(&t, b"list:000001"), ten);
        t.set_expire(b"list:000001", 1234);
        t.restore_access(b"list:000001", Some(500), None);
        let idle = t.idle_seconds(b"list:000001");
        // A read through the mutable view does not rewrite the record.
        let pos = t.find(b"list:000001");
        if let Some(ValueMut::List(l)) =
            t.get_mut(b"list:000001").and_then(EntryMut::into_value_mut)
        {
            assert_eq!(l.len(), 10);
        }
        assert_eq!(t.find(b"list:000001"), pos);
        // Pushes grow the record, then move the list into a node.
        let mut expect = ten.clone();
        let mut sizes = vec![];
        for i in 0..8 {
            let item = format!("new-{i}").into_bytes();
            push_via_view(&mut t, b"list:000001", &item);
            expect.insert(0, item);
            sizes.push(rec_size(&t, b"list:000001"));
            assert_eq!(items_of(&t, b"list:000001"), expect);
        }
        // 103 bytes needs 112: the list moves one class further (128), then fills it
        assert_eq!(sizes, vec![128, 128, 128, 128, 0, 0, 0, 0]);
        assert_eq!(t.get(b"list:000001").map(|e| e.expire_at()), Some(1234));
        assert_eq!(t.idle_seconds(b"list:000001"), idle);
        // A list in a node stays there when it shrinks in place ...
        for _ in 0..8 {
            let Some(ValueMut::List(mut l)) =
                t.get_mut(b"list:000001").and_then(EntryMut::into_value_mut)
            else {
                panic!("a list");
            };
            l.pop(End::Left);
        }
        assert_eq!(rec_size(&t, b"list:000001"), 0);
        assert_eq!(items_of(&t, b"list:000001"), ten);
        // ... and is packed again when stored whole (RESTORE, a load, COPY).
        let owned = t.get(b"list:000001").map(|e| e.to_entry()).expect("entry");
        t.insert(b"list:000001", owned);
        assert_eq!(rec_size(&t, b"list:000001"), 96);
        assert_eq!(items_of(&t, b"list:000001"), ten);
        // Pops leave a record one class too big in place, then move it down.
        let mut sizes = vec![];
        for _ in 0..4 {
            let Some(ValueMut::List(mut l)) =
                t.get_mut(b"list:000001").and_then(EntryMut::into_value_mut)
            else {
                panic!("a list");
            };
            l.pop(End::Right);
            drop(l);
            sizes.push(rec_size(&t, b"list:000001"));
        }
        // 87, 79 and 71 bytes need the 80 class, one below 96: in place; 63 needs 64,
        // two below: moved there
        assert_eq!(sizes, vec![96, 96, 96, 64]);
        assert_eq!(items_of(&t, b"list:000001"), ten[..6].to_vec());
        // Removal hands back an owned list; iteration sees the packed one.
        assert_eq!(t.iter().count(), 1);
        let e = t.remove(b"list:000001").expect("removed");
        match e.value {
            Value::List(l) => {
                assert_eq!(l.iter().map(|e| e.to_vec()).collect::<Vec<_>>(), ten[..6])
            }
            _ => panic!("a list"),
        }
        assert!(t.is_empty());
    }

    /// The list of `key` reached for an edit at its ends.
    fn edit_of<'t>(t: &'t mut KeyTable, key: &[u8]) -> ListEdit<'t> {
        t.get_mut(key)
            .and_then(EntryMut::into_list_edit)
            .expect("a list")
    }

    #[test]
    fn packed_lists_are_pushed_and_popped_on_their_record_bytes() {
        let mut t = KeyTable::default();
        let key = b"list:000001";
        let ten: Vec<Vec<u8>> = (0..10).map(|i| format!("item-{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = ten.iter().map(|v| v.as_slice()).collect();
        t.insert(key, Entry::new(Value::List(list_of(&refs))));
        t.set_expire(key, 1234);
        t.restore_access(key, Some(500), None);
        let idle = t.idle_seconds(key);
        assert_eq!(rec_size(&t, key), 96);
        // A pop (87 bytes: the 80 class, one below) and a push that fit the record: in
        // place, the list never decoded.
        let pos = t.find(key);
        let ListEdit::Packed(p) = edit_of(&mut t, key) else {
            panic!("packed");
        };
        let mut last = vec![];
        assert_eq!(p.pop(End::Right, 1, |e| last = e.to_vec()), (1, 9));
        assert_eq!(last, b"item-9");
        assert_eq!(t.find(key), pos);
        let ListEdit::Packed(p) = edit_of(&mut t, key) else {
            panic!("packed");
        };
        assert_eq!(p.push(End::Right, &[b"77"], ListLimits::DEFAULT), 10);
        assert_eq!(t.find(key), pos);
        assert!(t.open_list.is_none(), "never decoded");
        let mut expect = ten[..9].to_vec();
        expect.push(b"77".to_vec());
        assert_eq!(items_of(&t, key), expect);
        // Pushes as the ListMut path does them: the same record sizes, then a node.
        let mut sizes = vec![];
        for i in 0..6 {
            let item = format!("new-{i}").into_bytes();
            match edit_of(&mut t, key) {
                ListEdit::Packed(p) => {
                    assert_eq!(
                        p.push(End::Left, &[&item], ListLimits::DEFAULT),
                        expect.len() + 1
                    );
                }
                ListEdit::List(mut l) => l.push(End::Left, &item, ListLimits::DEFAULT),
            }
            expect.insert(0, item);
            sizes.push(rec_size(&t, key));
            assert_eq!(items_of(&t, key), expect);
        }
        // 4 + 11 + 9 * 8 + 2 = 89 bytes, + 7 a push: 96 (in place), 103 (112 needed, 128
        // taken), 110, 117, 124, then 131: a node
        assert_eq!(sizes, vec![96, 128, 128, 128, 128, 0]);
        assert_eq!(t.get(key).map(|e| e.expire_at()), Some(1234));
        assert_eq!(t.idle_seconds(key), idle);
        // 14 elements of 8 bytes (127 bytes), popped two at a time: in place, moved down
        // when two classes below the record.
        let fourteen: Vec<Vec<u8>> = (0..14)
            .map(|i| format!("item-{i:x}").into_bytes())
            .collect();
        let refs: Vec<&[u8]> = fourteen.iter().map(|v| v.as_slice()).collect();
        t.insert(key, Entry::new(Value::List(list_of(&refs))));
        t.set_expire(key, 1234);
        t.restore_access(key, Some(500), None);
        let mut expect = fourteen.clone();
        assert_eq!(rec_size(&t, key), 128);
        let mut sizes = vec![];
        let mut popped = vec![];
        while !expect.is_empty() {
            let ListEdit::Packed(p) = edit_of(&mut t, key) else {
                panic!("packed");
            };
            let (n, left) = p.pop(End::Right, 2, |e| popped.push(e.to_vec()));
            let want: Vec<Vec<u8>> = (0..n).filter_map(|_| expect.pop()).collect();
            assert_eq!(std::mem::take(&mut popped), want);
            assert_eq!(left, expect.len());
            sizes.push(rec_size(&t, key));
            if left > 0 {
                assert_eq!(items_of(&t, key), expect);
            }
        }
        // 111 (the 112 class, one below: in place), 95 (96, two below 128: moved), 79,
        // 63 (64), 47 (48), 31 (32), 15 (empty: not moved)
        assert_eq!(sizes, vec![128, 96, 96, 64, 48, 32, 32]);
        assert_eq!(t.get(key).map(|e| e.expire_at()), Some(1234));
        assert_eq!(t.idle_seconds(key), idle);
        assert_eq!(t.len(), 1);
        // Pops from the head of a new list, count past the end.
        t.insert(b"h", Entry::new(Value::List(list_of(&[b"a", b"1", b"c"]))));
        let ListEdit::Packed(p) = edit_of(&mut t, b"h") else {
            panic!("packed");
        };
        assert_eq!(p.len(), 3);
        let (n, left) = p.pop(End::Left, 5, |e| popped.push(e.to_vec()));
        assert_eq!((n, left), (3, 0));
        assert_eq!(popped, [&b"a"[..], b"1", b"c"]);
    }

    #[test]
    fn packed_pushes_grow_into_nodes_and_keep_the_limits() {
        let mut t = KeyTable::default();
        // Created one element at a time: the classes a growing list takes.
        t.insert(b"k", Entry::new(Value::List(list_of(&[b"item-x"]))));
        let mut sizes = vec![rec_size(&t, b"k")];
        for n in 2..=16 {
            let len = match edit_of(&mut t, b"k") {
                ListEdit::Packed(p) => p.push(End::Right, &[b"item-x"], ListLimits::DEFAULT),
                ListEdit::List(mut l) => {
                    l.push(End::Right, b"item-x", ListLimits::DEFAULT);
                    l.len()
                }
            };
            assert_eq!(len, n);
            sizes.push(rec_size(&t, b"k"));
        }
        // 2 + 1 + 2 + 8n bytes: 13, 21, 29 (32 needed: 40 taken), 37, 45 (48: 56), 53,
        // 61 (64: 80), 69, 77, 85 (96: 112), 93, 101, 109, 117 (128), 125, then a node
        assert_eq!(
            sizes,
            vec![24, 24, 40, 40, 56, 56, 80, 80, 80, 112, 112, 112, 112, 128, 128, 0]
        );
        assert_eq!(items_of(&t, b"k"), vec![b"item-x".to_vec(); 16]);
        // list-max-listpack-size 2: the third element makes a second node, so a node.
        t.insert(b"j", Entry::new(Value::List(list_of(&[b"a"]))));
        let two = ListLimits {
            max_listpack_size: 2,
        };
        let ListEdit::Packed(p) = edit_of(&mut t, b"j") else {
            panic!("packed");
        };
        assert_eq!(p.push(End::Left, &[b"b", b"c"], two), 3);
        assert_eq!(rec_size(&t, b"j"), 0);
        match t.get(b"j").map(|e| e.value()) {
            Some(ValueRef::List(l)) => assert_eq!(l.node_count(), 2),
            _ => panic!("a list"),
        }
        assert_eq!(items_of(&t, b"j"), [&b"c"[..], b"b", b"a"]);
        // A string is not a list.
        t.insert(b"s", entry(b"x"));
        assert!(t.get_mut(b"s").and_then(EntryMut::into_list_edit).is_none());
    }

    #[test]
    fn list_records_compact_and_change_type() {
        let mut t = KeyTable::default();
        for i in 0..150u32 {
            let n = i.to_string().into_bytes();
            t.insert(
                &i.to_be_bytes(),
                Entry::new(Value::List(list_of(&[&n, b"x"]))),
            );
        }
        for i in 0..100u32 {
            assert!(t.remove_compacting(&i.to_be_bytes()).is_some());
        }
        for i in 100..150u32 {
            let n = i.to_string().into_bytes();
            assert_eq!(items_of(&t, &i.to_be_bytes()), vec![n, b"x".to_vec()]);
        }
        // SET over a list record replaces it with a string; a list over a string record.
        assert!(t.insert_str(&120u32.to_be_bytes(), b"str", 0).is_some());
        assert_eq!(
            value_of(&t, &120u32.to_be_bytes()).as_deref(),
            Some(&b"str"[..])
        );
        t.insert(
            &120u32.to_be_bytes(),
            Entry::new(Value::List(list_of(&[b"a"]))),
        );
        assert_eq!(items_of(&t, &120u32.to_be_bytes()), vec![b"a".to_vec()]);
        // A string view is never handed out for a list record.
        assert!(matches!(
            t.get_mut(&121u32.to_be_bytes())
                .and_then(EntryMut::into_value_mut),
            Some(ValueMut::List(_))
        ));
        // A list too big for a record, or under a long key, is a node.
        let big: Vec<Vec<u8>> = (0..40).map(|i| format!("e{i:04}").into_bytes()).collect();
        let refs: Vec<&[u8]> = big.iter().map(|v| v.as_slice()).collect();
        t.insert(b"big", Entry::new(Value::List(list_of(&refs))));
        assert_eq!(rec_size(&t, b"big"), 0);
        t.insert(&[b'k'; 125], Entry::new(Value::List(list_of(&[b"a"]))));
        assert_eq!(rec_size(&t, &[b'k'; 125]), 0);
        assert_eq!(t.len(), 52);
    }

    const ZLIMITS: crate::storage::zset::ZSetLimits = crate::storage::zset::ZSetLimits {
        max_entries: 128,
        max_value: 64,
    };

    fn zset_of(n: usize) -> ZSetValue {
        let mut z = ZSetValue::new();
        for i in 1..=n {
            z.insert(format!("member-{i}").as_bytes(), i as f64, ZLIMITS);
        }
        z
    }

    fn members_of(t: &KeyTable, key: &[u8]) -> Vec<(Vec<u8>, f64)> {
        let mut v = vec![];
        match t.get(key).map(|e| e.value()) {
            Some(ValueRef::ZSet(z)) => z.for_each(|m, s| v.push((m.to_vec(), s))),
            _ => panic!("a sorted set"),
        }
        v
    }

    fn zadd_via_view(t: &mut KeyTable, key: &[u8], member: &[u8], score: f64) {
        let Some(ValueMut::ZSet(mut z)) = t.get_mut(key).and_then(EntryMut::into_value_mut) else {
            panic!("a sorted set");
        };
        z.insert(member, score, ZLIMITS);
    }

    #[test]
    fn small_zsets_live_in_records() {
        let mut t = KeyTable::default();
        let key = b"zset:000001";
        t.insert(key, Entry::new(Value::ZSet(zset_of(10))));
        // 4 + 11-byte key + 91 bytes of listpack = 106: the 112-byte record
        assert_eq!(rec_size(&t, key), 112);
        assert!(matches!(
            t.get(key).map(|e| e.value()),
            Some(ValueRef::ZSet(ZSetRef::Packed(_)))
        ));
        let expect: Vec<(Vec<u8>, f64)> = (1..=10)
            .map(|i| (format!("member-{i}").into_bytes(), i as f64))
            .collect();
        assert_eq!(members_of(&t, key), expect);
        assert_eq!(t.get(key).map(|e| e.value().encoding()), Some("listpack"));
        t.set_expire(key, 4321);
        // A read through the write view leaves the record where it is.
        let pos = t.find(key);
        if let Some(ValueMut::ZSet(z)) = t.get_mut(key).and_then(EntryMut::into_value_mut) {
            assert_eq!(z.score(b"member-3"), Some(3.0));
            assert_eq!(z.rank(b"member-10"), Some(9));
        }
        assert_eq!(t.find(key), pos);
        // Members added until the set outgrows 128 bytes: then it is a node.
        let mut sizes = vec![];
        for i in 11..=14 {
            zadd_via_view(&mut t, key, format!("member-{i}").as_bytes(), i as f64);
            sizes.push(rec_size(&t, key));
        }
        // 116 bytes needs 128; 126 fits it; 136 does not
        assert_eq!(sizes, vec![128, 128, 0, 0]);
        assert_eq!(members_of(&t, key).len(), 14);
        assert_eq!(t.get(key).map(|e| e.expire_at()), Some(4321));
        assert_eq!(t.get(key).map(|e| e.value().encoding()), Some("listpack"));
        // Stored whole again (RESTORE, a load) it is packed when it fits.
        let Some(ValueMut::ZSet(mut z)) = t.get_mut(key).and_then(EntryMut::into_value_mut) else {
            panic!("a sorted set");
        };
        for i in 11..=14 {
            z.remove(format!("member-{i}").as_bytes());
        }
        drop(z);
        assert_eq!(rec_size(&t, key), 0);
        let owned = t.get(key).map(|e| e.to_entry()).expect("entry");
        t.insert(key, owned);
        assert_eq!(rec_size(&t, key), 112);
        assert_eq!(members_of(&t, key), expect);
        assert_eq!(t.get(key).map(|e| e.expire_at()), Some(4321));
        // Removals: in place while one class too big, then down.
        let mut sizes = vec![];
        for _ in 0..4 {
            let Some(ValueMut::ZSet(mut z)) = t.get_mut(key).and_then(EntryMut::into_value_mut)
            else {
                panic!("a sorted set");
            };
            z.pop(false);
            drop(z);
            sizes.push(rec_size(&t, key));
        }
        // 98 bytes (112 class) and 89 (96, one below): in place; 80 (two below): moved
        // to 96, one class to spare; 71 (80): in place
        assert_eq!(sizes, vec![112, 112, 96, 96]);
        assert_eq!(members_of(&t, key), expect[4..].to_vec());
        // A set turned into the large encoding goes to a node.
        zadd_via_view(&mut t, key, &[b'm'; 100], 1.5);
        assert_eq!(rec_size(&t, key), 0);
        assert_eq!(t.get(key).map(|e| e.value().encoding()), Some("skiplist"));
        // Removal hands back an owned set.
        let e = t.remove(key).expect("removed");
        assert!(matches!(e.value, Value::ZSet(ref z) if z.len() == 7));
    }

    #[test]
    fn zset_edits_read_and_rescore_in_the_record() {
        let mut t = KeyTable::default();
        let key = b"zset:000002";
        let mut z = ZSetValue::new();
        for (i, m) in [b"a", b"b", b"c", b"d", b"e"].iter().enumerate() {
            z.insert(*m, 10.0 * (i + 1) as f64, ZLIMITS);
        }
        t.insert(key, Entry::new(Value::ZSet(z)));
        let pos = t.find(key);
        let Some(mut z) = t.get_mut(key).and_then(EntryMut::into_zset_edit) else {
            panic!("a sorted set");
        };
        assert_eq!(
            (z.score(b"c"), z.rank(b"e"), z.len()),
            (Some(30.0), Some(4), 5)
        );
        assert_eq!(z.score(b"x"), None);
        // Same rank, same sizes: written into the record, nothing decoded.
        z.rescore(b"c", 35.0, ZLIMITS);
        assert_eq!(z.score(b"c"), Some(35.0));
        drop(z);
        assert!(t.open_zset.is_none());
        assert_eq!(t.find(key), pos);
        let Some(mut z) = t.get_mut(key).and_then(EntryMut::into_zset_edit) else {
            panic!("a sorted set");
        };
        // A rank change decodes the set; it is written back on drop.
        z.rescore(b"a", 45.0, ZLIMITS);
        assert_eq!(
            (z.score(b"a"), z.rank(b"a"), z.len()),
            (Some(45.0), Some(3), 5)
        );
        assert!(!z.insert(b"a", 46.0, ZLIMITS));
        assert!(z.insert(b"f", 1.0, ZLIMITS));
        drop(z);
        assert!(t.open_zset.is_some());
        let got: Vec<(Vec<u8>, f64)> = members_of(&t, key);
        let want: Vec<(Vec<u8>, f64)> = [
            (b"f", 1.0),
            (b"b", 20.0),
            (b"c", 35.0),
            (b"d", 40.0),
            (b"a", 46.0),
            (b"e", 50.0),
        ]
        .iter()
        .map(|(m, s)| (m.to_vec(), *s))
        .collect();
        assert_eq!(got, want);
        // Other types are not sorted sets.
        t.insert(b"s", Entry::new(Value::Str(StrValue::raw(b"v".to_vec()))));
        assert!(t.get_mut(b"s").and_then(EntryMut::into_zset_edit).is_none());
        t.insert(b"l", Entry::new(Value::List(list_of(&[b"a"]))));
        assert!(t.get_mut(b"l").and_then(EntryMut::into_zset_edit).is_none());
        t.insert(b"big", Entry::new(Value::ZSet(zset_of(40))));
        let Some(z) = t.get_mut(b"big").and_then(EntryMut::into_zset_edit) else {
            panic!("a sorted set");
        };
        assert_eq!((z.len(), z.rank(b"member-40")), (40, Some(39)));
    }

    #[test]
    fn zset_records_change_type_and_compact() {
        let mut t = KeyTable::default();
        for i in 0..150u32 {
            t.insert(&i.to_be_bytes(), Entry::new(Value::ZSet(zset_of(2))));
        }
        for i in 0..100u32 {
            assert!(t.remove_compacting(&i.to_be_bytes()).is_some());
        }
        for i in 100..150u32 {
            assert_eq!(members_of(&t, &i.to_be_bytes()).len(), 2);
        }
        // A string view is never handed out for a sorted set record, nor a list view.
        assert!(matches!(
            t.get_mut(&120u32.to_be_bytes())
                .and_then(EntryMut::into_value_mut),
            Some(ValueMut::ZSet(_))
        ));
        // SET over it replaces it; a sorted set over a list record.
        assert!(t.insert_str(&120u32.to_be_bytes(), b"str", 0).is_some());
        assert_eq!(
            value_of(&t, &120u32.to_be_bytes()).as_deref(),
            Some(&b"str"[..])
        );
        t.insert(
            &121u32.to_be_bytes(),
            Entry::new(Value::List(list_of(&[b"a"]))),
        );
        t.insert(&121u32.to_be_bytes(), Entry::new(Value::ZSet(zset_of(3))));
        assert_eq!(members_of(&t, &121u32.to_be_bytes()).len(), 3);
        assert_eq!(t.iter().count(), 50);
    }

    #[test]
    fn short_key_comparison_matches_slices() {
        let keys: Vec<Vec<u8>> = (0..=40)
            .flat_map(|n| {
                let base: Vec<u8> = (0..n as u8).map(|i| b'a' + i).collect();
                let mut variants = vec![base.clone()];
                for i in 0..n {
                    let mut v = base.clone();
                    v[i] ^= 1;
                    variants.push(v);
                }
                variants
            })
            .collect();
        for a in &keys {
            for b in &keys {
                assert_eq!(bytes_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}
