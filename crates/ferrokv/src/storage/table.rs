//! The key table of one shard. Entries live in a slab of fixed-size chunks (no allocation
//! per key, no allocator rounding), and the hash index holds 4-byte slab positions (plus
//! hashbrown's control byte). A node is the value and the key: 64 bytes, with keys up to 15
//! bytes and strings up to 38 bytes stored inline. Expiry deadlines are stored only where
//! keys have them: a chunk gets its array of deadlines when its first key gets a TTL.
//!
//! The API mirrors the subset of `HashMap<Box<[u8]>, Entry>` the server uses; lookups return
//! [`EntryRef`] / [`EntryMut`] views (value plus deadline).

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::key::KeyBuf;
use super::shard::Entry;
use super::value::{
    HashValue, ListValue, SetValue, StackNum, StrRef, StrValue, Stream, Value, ValueRef, ZSetValue,
};

/// Nodes per slab chunk: chunks are allocated whole, so a shard's waste is at most one
/// partly used chunk (plus freed slots, which are reused first). 64 nodes of 64 bytes fill
/// a 4 KiB allocation exactly.
const CHUNK: usize = 64;

/// One key and its value.
#[derive(Debug, Clone)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// The key bytes.
    pub key: KeyBuf,
}

/// Slots a chunk's node array grows by. The last chunk of a shard is usually partly
/// used: growing it a quarter at a time (1, 2, 3 and 4 KiB, all jemalloc size classes)
/// leaves at most 15 unused slots instead of up to 63, while each node is copied at most
/// about 1.5 times on the way (a small shard, 100 keys, saves ~10 bytes per key).
const GROW: usize = CHUNK / 4;

/// A run of slab slots, their access clocks and, once any of them has a TTL, their
/// deadlines.
struct Chunk {
    nodes: Vec<Option<Node>>,
    /// Absolute deadlines (Unix ms, 0 = none) parallel to `nodes`.
    expires: Option<Box<[u64; CHUNK]>>,
    /// Last access of each slot ([`lru_clock`] seconds), for OBJECT IDLETIME and eviction;
    /// as long as `nodes`, grown with it.
    access: Vec<u32>,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            nodes: Vec::new(),
            expires: None,
            access: Vec::new(),
        }
    }

    /// Append a slot (the caller knows the chunk is not full), growing the arrays by
    /// [`GROW`] slots when they are full.
    fn push(&mut self, node: Node) {
        if self.nodes.len() == self.nodes.capacity() {
            let extra = GROW.min(CHUNK - self.nodes.len()).max(1);
            self.nodes.reserve_exact(extra);
            self.access
                .reserve_exact(self.nodes.capacity() - self.access.len());
        }
        self.nodes.push(Some(node));
        self.access.push(0);
    }

    /// Remove the last slot: its node, deadline and access field.
    fn pop(&mut self) -> Option<(Option<Node>, u64, u32)> {
        let o = self.nodes.len().checked_sub(1)?;
        let expire_at = self.expire(o);
        self.set_expire(o, 0);
        let access = self.access.pop().unwrap_or(0);
        let node = self.nodes.pop().flatten();
        Some((node, expire_at, access))
    }
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

/// The access field of a new object.
fn new_access() -> u32 {
    if lfu_mode() {
        (lfu_minutes() << 8) | LFU_INIT_VAL
    } else {
        lru_clock()
    }
}

/// The access clock in seconds.
#[inline]
pub fn lru_clock() -> u32 {
    let c = LRU_CLOCK.load(std::sync::atomic::Ordering::Relaxed);
    if c == 0 {
        tick_lru_clock();
        return LRU_CLOCK.load(std::sync::atomic::Ordering::Relaxed);
    }
    c
}

impl Chunk {
    fn expire(&self, off: usize) -> u64 {
        self.expires
            .as_ref()
            .and_then(|e| e.get(off).copied())
            .unwrap_or(0)
    }

    fn set_expire(&mut self, off: usize, at: u64) {
        if at == 0 && self.expires.is_none() {
            return;
        }
        let e = self.expires.get_or_insert_with(|| Box::new([0; CHUNK]));
        if let Some(slot) = e.get_mut(off) {
            *slot = at;
        }
    }
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
/// `estimateObjectIdleTime`).
pub fn idle_of(access: u32) -> u64 {
    lru_clock().saturating_sub(access) as u64
}

/// The LFU counter of an access field after decay (LFU policies).
pub fn lfu_counter_of(access: u32) -> u64 {
    lfu_decayed(access) as u64
}

/// A read-only view of an entry.
#[derive(Clone, Copy, Debug)]
pub struct EntryRef<'a> {
    value: &'a Value,
    expire_at: u64,
}

impl<'a> EntryRef<'a> {
    /// The value.
    #[inline]
    pub fn value(&self) -> ValueRef<'a> {
        self.value.as_value_ref()
    }

    /// Where the entry's value is stored (DEBUG OBJECT's "Value at").
    pub fn addr(&self) -> *const u8 {
        (self.value as *const Value).cast()
    }

    /// An owned copy of the entry (value and deadline).
    pub fn to_entry(&self) -> Entry {
        Entry {
            value: self.value().to_owned_value(),
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
    value: &'a mut Value,
    expire_at: u64,
}

impl<'a> EntryMut<'a> {
    /// The value, read-only.
    #[inline]
    pub fn value(&self) -> ValueRef<'_> {
        self.value.as_value_ref()
    }

    /// An owned copy of the entry (value and deadline).
    pub fn to_entry(&self) -> Entry {
        Entry {
            value: self.value().to_owned_value(),
            expire_at: self.expire_at,
        }
    }

    /// The value, read-only, for as long as the view's borrow.
    #[inline]
    pub fn into_value_ref(self) -> ValueRef<'a> {
        let v: &'a Value = self.value;
        v.as_value_ref()
    }

    /// The value, changeable in place: collections by `&mut`, strings through
    /// [`StrMut`].
    #[inline]
    pub fn into_value_mut(self) -> ValueMut<'a> {
        ValueMut::of(self.value)
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

/// A value that may be changed in place. Collections are handed out by `&mut`; a string
/// is behind [`StrMut`], whose edits may move the key's record.
#[derive(Debug)]
pub enum ValueMut<'a> {
    /// Strings (and bitmaps).
    Str(StrMut<'a>),
    /// Hashes.
    Hash(&'a mut HashValue),
    /// Lists.
    List(&'a mut ListValue),
    /// Sets.
    Set(&'a mut SetValue),
    /// Sorted sets.
    ZSet(&'a mut ZSetValue),
    /// Streams.
    Stream(&'a mut Stream),
}

impl<'a> ValueMut<'a> {
    #[inline]
    fn of(value: &'a mut Value) -> ValueMut<'a> {
        match value {
            Value::Str(s) => ValueMut::Str(StrMut { value: s }),
            Value::Hash(h) => ValueMut::Hash(h),
            Value::List(l) => ValueMut::List(l),
            Value::Set(s) => ValueMut::Set(s),
            Value::ZSet(z) => ValueMut::ZSet(z),
            Value::Stream(s) => ValueMut::Stream(s),
        }
    }

    /// The value, read-only.
    #[inline]
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            ValueMut::Str(s) => ValueRef::Str(s.get()),
            ValueMut::Hash(h) => ValueRef::Hash(h),
            ValueMut::List(l) => ValueRef::List(l),
            ValueMut::Set(s) => ValueRef::Set(s),
            ValueMut::ZSet(z) => ValueRef::ZSet(z),
            ValueMut::Stream(s) => ValueRef::Stream(s),
        }
    }

    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        self.as_ref().type_name()
    }
}

/// A string value that may be replaced or edited in place.
#[derive(Debug)]
pub struct StrMut<'a> {
    value: &'a mut StrValue,
}

impl<'a> StrMut<'a> {
    /// The current value.
    #[inline]
    pub fn get(&self) -> StrRef<'_> {
        self.value.as_str_ref()
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

    /// Replace the value.
    #[inline]
    pub fn set(&mut self, v: StrValue) {
        *self.value = v;
    }

    /// The bytes as a growable vector for in-place edits (APPEND, SETRANGE, SETBIT...);
    /// the value becomes `raw`.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        self.value.make_raw()
    }

    /// [`StrMut::make_raw`] for as long as the entry's borrow.
    pub fn into_raw(self) -> &'a mut Vec<u8> {
        self.value.make_raw()
    }
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

/// Key -> entry map of one shard.
#[derive(Default)]
pub struct KeyTable {
    /// Slab positions, hashed by key.
    index: HashTable<u32>,
    /// The slab: `CHUNK` slots per chunk; `None` slots are on the free list.
    chunks: Vec<Chunk>,
    /// Free slab positions.
    free: Vec<u32>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTable")
            .field("len", &self.len())
            .finish()
    }
}

#[inline]
fn split(pos: u32) -> (usize, usize) {
    (pos as usize / CHUNK, pos as usize % CHUNK)
}

#[inline]
fn slot(chunks: &[Chunk], pos: u32) -> Option<&Node> {
    let (c, o) = split(pos);
    chunks.get(c)?.nodes.get(o)?.as_ref()
}

#[inline]
fn key_is(chunks: &[Chunk], pos: u32, key: &[u8]) -> bool {
    slot(chunks, pos).is_some_and(|n| n.key.as_slice() == key)
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

    #[inline]
    fn find(&self, key: &[u8]) -> Option<u32> {
        let chunks = &self.chunks;
        self.index
            .find(self.hash(key), |&p| key_is(chunks, p, key))
            .copied()
    }

    #[inline]
    fn view(&self, pos: u32) -> Option<EntryRef<'_>> {
        let (c, o) = split(pos);
        let chunk = self.chunks.get(c)?;
        let node = chunk.nodes.get(o)?.as_ref()?;
        Some(EntryRef {
            value: &node.value,
            expire_at: chunk.expire(o),
        })
    }

    #[inline]
    fn view_mut(&mut self, pos: u32) -> Option<EntryMut<'_>> {
        let (c, o) = split(pos);
        let chunk = self.chunks.get_mut(c)?;
        let expire_at = chunk.expire(o);
        let node = chunk.nodes.get_mut(o)?.as_mut()?;
        Some(EntryMut {
            value: &mut node.value,
            expire_at,
        })
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
        self.entry_at_mut(pos, true)
    }

    /// Where `key`'s entry is if it is live at `now` (one hash and probe: the first half
    /// of a read's lookup; [`KeyTable::entry_at_mut`] is the second, without hashing
    /// again). An expired entry is reported, not touched, so the caller can delete it.
    #[inline]
    pub fn probe(&self, key: &[u8], now: u64) -> Probe {
        let Some(pos) = self.find(key) else {
            return Probe::Missing;
        };
        let (c, o) = split(pos);
        let expire_at = self.chunks.get(c).map_or(0, |chunk| chunk.expire(o));
        if expire_at != 0 && now > expire_at {
            return Probe::Expired;
        }
        Probe::Live(pos)
    }

    /// The entry at a position [`KeyTable::probe`] returned (no change to the table in
    /// between), recording the access when `touch` (like [`KeyTable::get_mut_touch`]).
    #[inline]
    pub fn entry_at_mut(&mut self, pos: u32, touch: bool) -> Option<EntryMut<'_>> {
        if touch {
            let (c, o) = split(pos);
            if let Some(a) = self.chunks.get_mut(c).and_then(|ch| ch.access.get_mut(o)) {
                *a = if lfu_mode() {
                    lfu_touched(*a)
                } else {
                    lru_clock()
                };
            }
        }
        self.view_mut(pos)
    }

    /// The LFU counter of `key` after decay (OBJECT FREQ under an LFU policy).
    pub fn lfu_frequency(&self, key: &[u8]) -> Option<u32> {
        let (c, o) = split(self.find(key)?);
        let access = *self.chunks.get(c)?.access.get(o)?;
        Some(lfu_decayed(access))
    }

    /// Seconds since `key` was last accessed.
    pub fn idle_seconds(&self, key: &[u8]) -> Option<u64> {
        let (c, o) = split(self.find(key)?);
        let last = *self.chunks.get(c)?.access.get(o)?;
        Some(lru_clock().saturating_sub(last) as u64)
    }

    /// Set the access field of `key` as RESTORE's IDLETIME / FREQ do (Redis's
    /// `objectSetLRUOrLFU`): under an LFU policy only `freq` applies (the counter, decay
    /// starting now), else only `idle_secs`, with the wrap-around of Redis's 24-bit LRU
    /// clock (so an idle time beyond 2^24 s reads back as Redis's does).
    pub fn restore_access(&mut self, key: &[u8], idle_secs: Option<u64>, freq: Option<u8>) {
        let Some(pos) = self.find(key) else { return };
        let (c, o) = split(pos);
        let Some(a) = self.chunks.get_mut(c).and_then(|ch| ch.access.get_mut(o)) else {
            return;
        };
        if lfu_mode() {
            if let Some(f) = freq {
                *a = (lfu_minutes() << 8) | f as u32;
            }
        } else if let Some(idle) = idle_secs {
            let clock = lru_clock();
            *a = clock.saturating_sub(redis_lru_idle(clock, idle));
        }
    }

    /// True when `key` is present.
    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Set (`at` > 0) or clear (`0`) the deadline of `key`; returns the previous one, or
    /// None when the key is absent.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> Option<u64> {
        let pos = self.find(key)?;
        let (c, o) = split(pos);
        let chunk = self.chunks.get_mut(c)?;
        let old = chunk.expire(o);
        chunk.set_expire(o, at);
        Some(old)
    }

    /// Put a node in a free slab slot; returns its position.
    fn alloc(&mut self, node: Node, expire_at: u64) -> u32 {
        let pos = match self.free.pop() {
            Some(pos) => {
                let (c, o) = split(pos);
                if let Some(s) = self.chunks.get_mut(c).and_then(|ch| ch.nodes.get_mut(o)) {
                    *s = Some(node);
                }
                pos
            }
            None => {
                if self.chunks.last().is_none_or(|c| c.nodes.len() >= CHUNK) {
                    self.chunks.push(Chunk::new());
                }
                let n = self.chunks.len();
                let chunk = &mut self.chunks[n - 1];
                chunk.push(node);
                ((n - 1) * CHUNK + chunk.nodes.len() - 1) as u32
            }
        };
        let (c, o) = split(pos);
        if let Some(chunk) = self.chunks.get_mut(c) {
            chunk.set_expire(o, expire_at);
            if let Some(a) = chunk.access.get_mut(o) {
                *a = new_access();
            }
        }
        pos
    }

    /// Insert or replace; returns the previous entry.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        if let Some(pos) = self.find(key) {
            let (c, o) = split(pos);
            let chunk = self.chunks.get_mut(c)?;
            let old_expire = chunk.expire(o);
            chunk.set_expire(o, entry.expire_at);
            // A new value is a new object (LRU: accessed now); under LFU Redis keeps the
            // old object's counter (dbOverwrite).
            if let (false, Some(a)) = (lfu_mode(), chunk.access.get_mut(o)) {
                *a = lru_clock();
            }
            let node = chunk.nodes.get_mut(o)?.as_mut()?;
            let old = std::mem::replace(&mut node.value, entry.value);
            return Some(Entry {
                value: old,
                expire_at: old_expire,
            });
        }
        let pos = self.alloc(
            Node {
                value: entry.value,
                key: KeyBuf::from_slice(key),
            },
            entry.expire_at,
        );
        let h = self.hash(key);
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.insert_unique(h, pos, |&p| {
            hasher.hash_one(slot(chunks, p).map_or(&[][..], |n| n.key.as_slice()))
        });
        None
    }

    /// Remove `key`; returns its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let h = self.hash(key);
        let chunks = &self.chunks;
        let pos = match self.index.find_entry(h, |&p| key_is(chunks, p, key)) {
            Ok(o) => o.remove().0,
            Err(_) => return None,
        };
        let (c, o) = split(pos);
        let chunk = self.chunks.get_mut(c)?;
        let expire_at = chunk.expire(o);
        chunk.set_expire(o, 0);
        let node = chunk.nodes.get_mut(o).and_then(Option::take);
        self.free.push(pos);
        if self.index.is_empty() {
            // Give the slab back once the shard is empty.
            self.chunks = Vec::new();
            self.free = Vec::new();
        }
        node.map(|n| Entry {
            value: n.value,
            expire_at,
        })
    }

    /// One key for eviction sampling: the first occupied slab slot at or after `start`
    /// (modulo the slab), with its access field and deadline; with `volatile_only`, the
    /// first slot whose key has a TTL. Walks at most `max_slots` slots, skipping chunks
    /// without deadlines whole when only volatile keys qualify. Consecutive slots were
    /// filled at nearby times, so callers take one key per random start.
    pub fn sample_from(
        &self,
        start: usize,
        volatile_only: bool,
        max_slots: usize,
    ) -> Option<Sampled<'_>> {
        let total = self.slots();
        if total == 0 || self.index.is_empty() {
            return None;
        }
        let mut pos = start % total;
        let mut walked = 0;
        while walked < max_slots.min(total) {
            let (c, o) = (pos / CHUNK, pos % CHUNK);
            let chunk = self.chunks.get(c)?;
            if volatile_only && chunk.expires.is_none() {
                // The rest of this chunk holds no deadline.
                walked += CHUNK - o;
                pos = ((c + 1) * CHUNK) % total;
                continue;
            }
            if let Some(Some(node)) = chunk.nodes.get(o) {
                let expire_at = chunk.expire(o);
                if !volatile_only || expire_at != 0 {
                    return Some(Sampled {
                        key: node.key.as_slice(),
                        access: chunk.access.get(o).copied().unwrap_or(0),
                        expire_at,
                    });
                }
            }
            walked += 1;
            pos = (pos + 1) % total;
        }
        None
    }

    /// Slab slots in use or free (not the unused tail of the last chunk): the range of
    /// [`KeyTable::sample_from`]'s start.
    pub fn slots(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * CHUNK + last.nodes.len())
    }

    /// Remove `key` as eviction does: the slab's last node moves into the freed slot, so
    /// evicting keeps the slab dense and its tail chunks are given back to the allocator
    /// once empty (a plain removal leaves a free slot for the next insert). Only eviction
    /// uses it: it frees memory that `used_memory` sees, while other callers may rely on
    /// slots staying put within one lock hold (nothing keeps positions across holds).
    pub fn remove_compacting(&mut self, key: &[u8]) -> Option<Entry> {
        let h = self.hash(key);
        let chunks = &self.chunks;
        let pos = match self.index.find_entry(h, |&p| key_is(chunks, p, key)) {
            Ok(o) => o.remove().0,
            Err(_) => return None,
        };
        let (c, o) = split(pos);
        let chunk = self.chunks.get_mut(c)?;
        let expire_at = chunk.expire(o);
        chunk.set_expire(o, 0);
        let node = chunk.nodes.get_mut(o).and_then(Option::take);
        let entry = node.map(|n| Entry {
            value: n.value,
            expire_at,
        });
        if self.index.is_empty() {
            self.clear();
            return entry;
        }
        let Some(last) = self.chunks.last() else {
            return entry;
        };
        let tail = ((self.chunks.len() - 1) * CHUNK + last.nodes.len().saturating_sub(1)) as u32;
        let tail_used = matches!(last.nodes.last(), Some(Some(_)));
        if tail == pos {
            self.pop_tail();
        } else if tail_used {
            self.move_tail_to(tail, pos);
        } else {
            // The tail is a slot freed by a plain removal: leave the hole for reuse.
            self.free.push(pos);
        }
        entry
    }

    /// Drop the last slab slot (and its chunk once empty, giving the memory back).
    fn pop_tail(&mut self) -> Option<(Option<Node>, u64, u32)> {
        let last = self.chunks.last_mut()?;
        let popped = last.pop();
        if last.nodes.is_empty() {
            self.chunks.pop();
        }
        popped
    }

    /// Move the occupied last slot `tail` into the empty slot `pos` and repoint its index
    /// entry.
    fn move_tail_to(&mut self, tail: u32, pos: u32) {
        let Some((Some(node), expire_at, access)) = self.pop_tail() else {
            return;
        };
        let h = self.hash(node.key.as_slice());
        if let Some(p) = self.index.find_mut(h, |&p| p == tail) {
            *p = pos;
        }
        let (c, o) = split(pos);
        if let Some(chunk) = self.chunks.get_mut(c) {
            chunk.set_expire(o, expire_at);
            if let Some(a) = chunk.access.get_mut(o) {
                *a = access;
            }
            if let Some(slot) = chunk.nodes.get_mut(o) {
                *slot = Some(node);
            }
        }
    }

    /// Remove everything.
    pub fn clear(&mut self) {
        self.index = HashTable::new();
        self.chunks = Vec::new();
        self.free = Vec::new();
    }

    /// Every (key, entry).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], EntryRef<'_>)> {
        self.chunks.iter().flat_map(|c| {
            c.nodes.iter().enumerate().filter_map(move |(o, n)| {
                n.as_ref().map(|n| {
                    (
                        n.key.as_slice(),
                        EntryRef {
                            value: &n.value,
                            expire_at: c.expire(o),
                        },
                    )
                })
            })
        })
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
        let chunks = std::mem::take(&mut self.chunks);
        self.clear();
        chunks.into_iter().flat_map(|c| {
            let expires = c.expires;
            c.nodes.into_iter().enumerate().filter_map(move |(o, n)| {
                let expire_at = expires
                    .as_ref()
                    .and_then(|e| e.get(o).copied())
                    .unwrap_or(0);
                n.map(|n| {
                    (
                        n.key,
                        Entry {
                            value: n.value,
                            expire_at,
                        },
                    )
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::value::{StrValue, Value};

    fn entry(v: &[u8]) -> Entry {
        Entry::new(Value::Str(StrValue::from_bytes(v)))
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
            t.chunks.len(),
            1001usize.div_ceil(CHUNK),
            "no new chunk for reused slots"
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
        assert_eq!(t.chunks.len(), 4);
        // Remove from the middle: the last key moves into the hole, deadline included.
        for i in 0..150u32 {
            assert!(t.remove_compacting(&i.to_be_bytes()).is_some());
            assert!(t.get(&i.to_be_bytes()).is_none());
        }
        assert_eq!(t.len(), 50);
        assert_eq!(t.chunks.len(), 1, "emptied tail chunks are freed");
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
            t.insert(&i.to_be_bytes(), entry(b"v"));
            let last = t.chunks.last().expect("a chunk");
            let cap = last.nodes.capacity();
            assert!(
                cap >= last.nodes.len() && cap - last.nodes.len() < GROW,
                "{cap}"
            );
            assert_eq!(last.access.len(), last.nodes.len());
        }
        assert_eq!(t.chunks.len(), 2);
        assert_eq!(
            t.chunks[0].nodes.capacity(),
            CHUNK,
            "full chunks hold exactly CHUNK"
        );
        assert_eq!(t.chunks[1].nodes.capacity(), 2 * GROW);
        // Access fields follow their keys through a compacting removal.
        t.restore_access(&3u32.to_be_bytes(), Some(0), None);
        t.remove_compacting(&0u32.to_be_bytes());
        assert!(t
            .idle_seconds(&((CHUNK + 16) as u32).to_be_bytes())
            .is_some());
        assert_eq!(t.len(), CHUNK + 16);
    }

    #[test]
    fn node_is_compact() {
        // A slab slot per key: 64 bytes (value 48 + key 16), deadlines kept elsewhere.
        assert_eq!(std::mem::size_of::<Option<Node>>(), 64);
    }
}
