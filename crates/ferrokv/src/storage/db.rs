//! Databases, shard locking and the view of a database that command handlers use.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

use super::shard::{Entry, Shard};
use super::slot::key_slot;
use super::table::{EntryMut, ListEdit, Probe, ValueMut, ZSetEdit};
use super::value::Value;
use super::value::ValueRef;
use crate::commands::CmdError;
use crate::server::notify::{self, class, Event};
use crate::stats::Stats;

/// Shards per database. Each shard holds 16 consecutive cluster slots, so a shard's tables
/// stay small (no long stop-the-world rehash) and slot ranges map onto shards for clustering.
pub const SHARDS: usize = 1024;
const SLOTS_PER_SHARD_SHIFT: u32 = 4;

/// The shard a key lives in.
#[inline]
pub fn shard_of(key: &[u8]) -> usize {
    (key_slot(key) as usize) >> SLOTS_PER_SHARD_SHIFT
}

/// One numbered database.
pub struct Db {
    /// The shards, indexed by `shard_of(key)`.
    pub shards: Box<[Mutex<Shard>]>,
    /// Set whenever a key of this database gets a TTL; cleared by the active expiry cycle
    /// before a pass that finds no volatile key. Lets the cycle skip databases without
    /// TTLs instead of locking their 1024 shards ten times a second.
    pub may_have_volatile: AtomicBool,
}

impl Default for Db {
    fn default() -> Self {
        Db {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            may_have_volatile: AtomicBool::new(false),
        }
    }
}

impl Db {
    /// Number of keys and of keys with a TTL, counted shard by shard (not atomic across
    /// shards). Takes each shard's lock: never call it while holding shard locks (commands
    /// count from the shards they hold instead).
    pub fn approx_len(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(k, v), s| {
            let s = s.lock();
            (k + s.map.len(), v + s.volatile)
        })
    }
}

/// Identifies a locked shard: database index and shard index, ordered so that locking in
/// ascending order never deadlocks.
pub type LockId = u32;

/// The lock id of a shard of a database.
#[inline]
pub fn lock_id(db: usize, shard: usize) -> LockId {
    (db * SHARDS + shard) as LockId
}

/// A set of held shard locks, taken in ascending order.
pub struct LockSet<'s> {
    dbs: &'s [Db],
    guards: SmallVec<[(LockId, MutexGuard<'s, Shard>); 2]>,
    /// The shard of the last key whose slot was computed (address and length of the key
    /// argument), so a command's key is hashed once, not once for locking and again for access.
    key_hints: SmallVec<[(usize, usize, u16); MAX_KEY_HINTS]>,
    /// What few commands leave behind (ready keys, effects to log, keyspace events):
    /// boxed, so that the common command sets and drops one pointer for it.
    deferred: Option<Box<Deferred>>,
    /// Changes made to the dataset by the running command (reset per command): a command
    /// that changed something is written to the append-only file.
    pub changes: u32,
    /// What the running command asked to log instead of itself (its deterministic form:
    /// EXPIRE as PEXPIREAT...), with the database of each.
    pub rewrite: Option<Vec<(usize, Vec<Vec<u8>>)>>,
    /// `notify-keyspace-events` flags for this command (0 = off: nothing is recorded).
    pub notify: u32,
    /// Whether the running command's key misses raise `keymiss` (read commands only,
    /// like Redis's `lookupKeyRead`).
    pub notify_miss: bool,
    /// What these locks' command(s) log goes to the append-only file as one MULTI/EXEC
    /// block when it is more than one command (a command that Redis propagates as several,
    /// like XREADGROUP's XCLAIMs).
    pub atomic_log: bool,
    /// Set by dispatch while some client tracks keys (`server::tracking`): writes then
    /// report the keys they modify. None otherwise (one word, so the hot path pays one
    /// test and nothing to build or drop).
    pub tracking: Option<Box<Tracked<'s>>>,
    /// The top-level command's argument vector (address, length), set by dispatch: a
    /// command logged as itself is then propagated from its arguments, not from a copy.
    pub top_args: (usize, usize),
    /// The top-level command changed the dataset and is logged as itself, in this
    /// database (see `dispatch::collect_propagation`); it goes before `propagate`.
    pub propagate_top: Option<usize>,
    /// The snapshot epoch read once these locks were held (0: none running): every copy
    /// for a running snapshot is decided by it (see `storage::snapshot`).
    epoch: u64,
}

/// A command logged as one or more commands: (database, arguments) each.
pub type Logged = Vec<(usize, Vec<Vec<u8>>)>;

/// The rarely used parts of a [`LockSet`].
#[derive(Default)]
struct Deferred {
    /// Keys that clients are blocked on and that this command created: (database, key).
    /// Served before the locks are released (see `server::blocking`).
    ready: Vec<(usize, Box<[u8]>)>,
    /// Effects to write to the append-only file when the locks are released, in order.
    propagate: Logged,
    /// Keyspace events recorded by the command(s) holding these locks, in order; dispatch
    /// publishes them after the handler (see `server::notify`).
    events: Vec<Event>,
}

/// What a command's writes need for client-side caching while somebody tracks keys.
pub struct Tracked<'s> {
    /// The server (its tracking table and clients).
    pub server: &'s crate::server::Server,
    /// The client running the command (for NOLOOP and deferred invalidations).
    pub client: u64,
    /// Invalidations for the running client itself, sent after its reply (None: flush).
    pub deferred: Vec<Option<Box<[u8]>>>,
}

/// Keys per command whose shard is remembered (beyond that the slot is recomputed).
const MAX_KEY_HINTS: usize = 8;

impl<'s> LockSet<'s> {
    /// An empty set over the server's databases.
    pub fn new(dbs: &'s [Db]) -> Self {
        LockSet {
            dbs,
            guards: SmallVec::new(),
            key_hints: SmallVec::new(),
            deferred: None,
            changes: 0,
            rewrite: None,
            notify: 0,
            notify_miss: false,
            atomic_log: false,
            tracking: None,
            top_args: (0, 0),
            propagate_top: None,
            epoch: 0,
        }
    }

    /// A key was modified by the running command (`expired`: removed by expiry, which no
    /// client caused): tell client-side caching, if anybody tracks.
    #[inline]
    pub fn track_write(&mut self, key: &[u8], expired: bool) {
        if self.tracking.is_some() {
            self.track_write_slow(key, expired);
        }
    }

    /// The part of [`LockSet::track_write`] that runs only while somebody tracks: out of
    /// line, so the write paths stay as small as without tracking.
    #[cold]
    #[inline(never)]
    fn track_write_slow(&mut self, key: &[u8], expired: bool) {
        if let Some(t) = self.tracking.as_deref_mut() {
            let origin = if expired { 0 } else { t.client };
            t.server
                .tracking
                .key_modified(t.server, key, origin, t.client, &mut t.deferred);
        }
    }

    /// The running command emptied a database (FLUSHDB, FLUSHALL): every tracking client
    /// is told to drop everything.
    pub fn track_flush(&mut self) {
        if let Some(t) = self.tracking.as_deref_mut() {
            t.server
                .tracking
                .flushed(t.server, t.client, &mut t.deferred);
        }
    }

    /// Record keyspace event `event` of `class` on `key` of database `db`, if the
    /// configuration asks for that class.
    #[inline]
    pub fn notify(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        if self.notify != 0 {
            self.record(db, class, event, key);
        }
    }

    /// The part of [`LockSet::notify`] that runs only with notifications on: kept out of
    /// line so handlers pay one test when they are off.
    #[cold]
    #[inline(never)]
    fn record(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        if notify::wanted(self.notify, class) {
            self.deferred().events.push(Event {
                db,
                event,
                key: key.into(),
            });
        }
    }

    /// Count a change to the dataset by the running command.
    #[inline]
    pub fn note_change(&mut self) {
        self.changes = self.changes.saturating_add(1);
    }

    /// Log `cmd` (in database `db`) for the running command instead of its own arguments.
    /// May be called several times (one command logged as several).
    pub fn propagate_as(&mut self, db: usize, cmd: Vec<Vec<u8>>) {
        self.rewrite.get_or_insert_with(Vec::new).push((db, cmd));
    }

    /// Log nothing for the running command, although it changed the dataset, unless it
    /// calls [`LockSet::propagate_as`] (Redis's `preventCommandPropagation`: its effects
    /// are logged in another form, or not at all).
    pub fn propagate_nothing(&mut self) {
        self.rewrite.get_or_insert_with(Vec::new);
    }

    /// Log what this command propagates as one MULTI/EXEC block (see `atomic_log`).
    pub fn log_atomically(&mut self) {
        self.atomic_log = true;
    }

    /// Log `cmd` now, before the running command's own entry (a key deleted by lazy expiry
    /// is logged as DEL where it happened).
    pub fn propagate_now(&mut self, db: usize, cmd: Vec<Vec<u8>>) {
        self.deferred().propagate.push((db, cmd));
    }

    /// The rarely used parts, created on first use.
    fn deferred(&mut self) -> &mut Deferred {
        self.deferred.get_or_insert_with(Box::default)
    }

    /// One of the rarely used parts, taken (left empty; nothing is created for it).
    fn take_deferred<T: Default>(&mut self, part: fn(&mut Deferred) -> &mut T) -> T {
        self.deferred
            .as_deref_mut()
            .map(|d| std::mem::take(part(d)))
            .unwrap_or_default()
    }

    /// Effects queued for the append-only file so far (see [`LockSet::propagate_now`]).
    #[inline]
    pub fn propagated(&self) -> &[(usize, Vec<Vec<u8>>)] {
        self.deferred.as_deref().map_or(&[], |d| &d.propagate)
    }

    /// The queue of effects for the append-only file, to add to.
    pub fn propagated_mut(&mut self) -> &mut Logged {
        &mut self.deferred().propagate
    }

    /// The queued effects, taken (the queue is left empty).
    pub fn take_propagated(&mut self) -> Logged {
        self.take_deferred(|d| &mut d.propagate)
    }

    /// True when the command(s) recorded keyspace events.
    #[inline]
    pub fn has_events(&self) -> bool {
        self.deferred
            .as_deref()
            .is_some_and(|d| !d.events.is_empty())
    }

    /// The recorded keyspace events, taken.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.take_deferred(|d| &mut d.events)
    }

    /// Lock one more shard without waiting, while others are held (serving a blocked
    /// BLMOVE whose destination is elsewhere). Taking a lock out of order is safe only
    /// because this never waits: false when the shard is busy.
    pub fn try_lock_extra(&mut self, id: LockId) -> bool {
        let pos = match self.guards.binary_search_by_key(&id, |(i, _)| *i) {
            Ok(_) => return true,
            Err(pos) => pos,
        };
        let db = id as usize / SHARDS;
        let shard = id as usize % SHARDS;
        let Some(m) = self.dbs.get(db).and_then(|d| d.shards.get(shard)) else {
            return false;
        };
        match m.try_lock() {
            // A command from before the running snapshot may not reach a shard that the
            // snapshot has written already: that change would miss the file while the
            // command's others are in it. Treated as busy.
            Some(g) if self.before_written(&g) => false,
            Some(g) => {
                self.guards.insert(pos, (id, g));
                true
            }
            None => false,
        }
    }

    /// True when this command read an epoch older than the running snapshot's and that
    /// snapshot has written `shard` already (see [`LockSet::try_lock_extra`]).
    fn before_written(&self, shard: &Shard) -> bool {
        let running = super::snapshot::current_epoch();
        running != 0 && self.epoch < running && shard.snapshot_epoch >= running
    }

    /// Note that `key` of database `db`, which clients are blocked on, got a value.
    pub fn signal_ready(&mut self, db: usize, key: &[u8]) {
        let ready = &mut self.deferred().ready;
        if !ready.iter().any(|(d, k)| *d == db && **k == *key) {
            ready.push((db, key.into()));
        }
    }

    /// True when some blocked-on key got a value during this command.
    #[inline]
    pub fn has_ready(&self) -> bool {
        self.deferred
            .as_deref()
            .is_some_and(|d| !d.ready.is_empty())
    }

    /// The ready keys, in the order they were signalled (emptied).
    pub fn take_ready(&mut self) -> Vec<(usize, Box<[u8]>)> {
        self.take_deferred(|d| &mut d.ready)
    }

    /// Lock every shard of every database (a barrier: no command is in flight while it is
    /// held). Used to start snapshots.
    pub fn lock_all(&mut self) {
        let mut ids: Vec<LockId> = (0..self.dbs.len() * SHARDS).map(|i| i as LockId).collect();
        self.lock(&mut ids);
    }

    /// Lock the given shards (sorted here; duplicates skipped). Must be called on an empty
    /// set. See [`LockSet::lock_until`] for how it avoids deadlocks.
    pub fn lock(&mut self, ids: &mut [LockId]) {
        self.lock_until(ids, &|| false);
    }

    /// Lock the given shards without ever waiting while holding one: the first lock is
    /// waited for with nothing held; the others are only `try_lock`ed, and when one is
    /// busy everything is released, the busy one is waited for (holding nothing) and the
    /// attempt starts again from it. Commands have not run yet, so releasing is harmless.
    ///
    /// This is the locking invariant that makes scripts deadlock-free: only the running
    /// script (one at a time, under the script mutex) holds a shard lock while waiting for
    /// another ([`LockSet::lock_more`]); everyone else waits holding nothing.
    ///
    /// While waiting, `abort` is polled every few milliseconds; when it returns true the
    /// set is left empty and false is returned (a client that must get -BUSY instead of
    /// waiting for a long script).
    pub fn lock_until(&mut self, ids: &mut [LockId], abort: &dyn Fn() -> bool) -> bool {
        debug_assert!(self.guards.is_empty());
        if ids.len() > 1 {
            ids.sort_unstable();
        }
        // The common case first: every lock free now, taken in ascending order without
        // waiting (no clock read, no retry bookkeeping).
        let mut last = None;
        for &id in ids.iter() {
            if last == Some(id) {
                continue;
            }
            last = Some(id);
            let Some(m) = self.mutex(id) else { continue };
            match m.try_lock() {
                Some(g) => self.guards.push((id, g)),
                None => {
                    self.guards.clear();
                    return self.lock_contended(ids, abort);
                }
            }
        }
        self.locked();
        true
    }

    /// The snapshot epoch this command goes by (read once its locks were held; 0: none
    /// was running): which keys it copies for a snapshot and, while an AOF rewrite
    /// starts, which file it logs to.
    #[inline]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Every lock is held: read the snapshot epoch this command goes by.
    #[inline]
    fn locked(&mut self) {
        self.epoch = super::snapshot::current_epoch();
    }

    /// [`LockSet::lock_until`] for the one shard of a single-key command: no id list to
    /// build, sort or walk.
    #[inline]
    pub fn lock_one(&mut self, id: LockId, abort: &dyn Fn() -> bool) -> bool {
        debug_assert!(self.guards.is_empty());
        let Some(m) = self.mutex(id) else {
            self.locked();
            return true;
        };
        match m.try_lock() {
            Some(g) => {
                self.guards.push((id, g));
                self.locked();
                true
            }
            None => self.lock_contended(&[id], abort),
        }
    }

    /// [`LockSet::lock_until`] when a lock is busy: wait for it holding nothing, try the
    /// others, and on a miss release everything and wait for the one that was busy.
    fn lock_contended(&mut self, ids: &[LockId], abort: &dyn Fn() -> bool) -> bool {
        let mut unique: SmallVec<[LockId; 8]> = SmallVec::new();
        for &id in ids.iter() {
            if unique.last() != Some(&id) && self.mutex(id).is_some() {
                unique.push(id);
            }
        }
        // Which lock to wait for first (with nothing held).
        let mut first = 0;
        'attempt: loop {
            self.guards.clear();
            let Some(&wait_id) = unique.get(first) else {
                self.locked();
                return true;
            };
            let Some(guard) = self.wait_for(wait_id, abort) else {
                return false;
            };
            self.guards.push((wait_id, guard));
            for (i, &id) in unique.iter().enumerate() {
                if i == first {
                    continue;
                }
                let Some(m) = self.mutex(id) else { continue };
                match m.try_lock() {
                    Some(g) => self.guards.push((id, g)),
                    None => {
                        first = i;
                        continue 'attempt;
                    }
                }
            }
            // Pushed in ascending order unless the first lock waited for was not the lowest.
            if first != 0 {
                self.guards.sort_unstable_by_key(|(id, _)| *id);
            }
            self.locked();
            return true;
        }
    }

    /// The mutex of a lock id, if it names a shard.
    fn mutex(&self, id: LockId) -> Option<&'s Mutex<Shard>> {
        let db = id as usize / SHARDS;
        let shard = id as usize % SHARDS;
        self.dbs.get(db).and_then(|d| d.shards.get(shard))
    }

    /// Wait for one lock (nothing else held), polling `abort`.
    fn wait_for(&self, id: LockId, abort: &dyn Fn() -> bool) -> Option<MutexGuard<'s, Shard>> {
        let m = self.mutex(id)?;
        // The common case, uncontended: no clock read, no timed wait.
        if let Some(g) = m.try_lock() {
            return Some(g);
        }
        loop {
            if let Some(g) = m.try_lock_for(std::time::Duration::from_millis(5)) {
                return Some(g);
            }
            if abort() {
                return None;
            }
        }
    }

    /// Lock one more shard, waiting for it while holding the others. Only the running
    /// script may do this (see [`LockSet::lock_until`]): a script touches keys it did not
    /// declare, and keeps their shards until it ends. (A snapshot starts only while no
    /// script runs, so the epoch the script read at its start holds for these shards.)
    pub fn lock_more(&mut self, id: LockId) {
        let pos = match self.guards.binary_search_by_key(&id, |(i, _)| *i) {
            Ok(_) => return,
            Err(pos) => pos,
        };
        let Some(m) = self.mutex(id) else {
            return;
        };
        let guard = m.lock();
        self.guards.insert(pos, (id, guard));
    }

    /// Remember that the key argument at `key` (this exact slice) lives in `shard`.
    #[inline]
    pub fn set_key_hint(&mut self, key: &[u8], shard: usize) {
        if self.key_hints.len() < MAX_KEY_HINTS {
            self.key_hints
                .push((key.as_ptr() as usize, key.len(), shard as u16));
        }
    }

    /// The shard of `key`, reusing a hint when `key` is a remembered argument.
    #[inline]
    pub fn shard_index(&self, key: &[u8]) -> usize {
        let (ptr, len) = (key.as_ptr() as usize, key.len());
        self.key_hints
            .iter()
            .find(|h| h.0 == ptr && h.1 == len)
            .map_or_else(|| shard_of(key), |h| h.2 as usize)
    }

    /// True when nothing is locked.
    pub fn is_empty(&self) -> bool {
        self.guards.is_empty()
    }

    /// How many shards are locked.
    pub fn held(&self) -> usize {
        self.guards.len()
    }

    /// Heap bytes of the list of held guards (0 while it fits inline): a command that
    /// locks every shard (INFO's keyspace section) holds a few hundred KB of them, which
    /// INFO leaves out of the `used_memory` it shows.
    pub fn guard_bytes(&self) -> usize {
        if self.guards.spilled() {
            self.guards.capacity() * std::mem::size_of::<(LockId, MutexGuard<'s, Shard>)>()
        } else {
            0
        }
    }

    /// Note that database `db` now holds a key with a TTL (see `Db::may_have_volatile`).
    #[inline]
    pub fn note_volatile(&self, db: usize) {
        if let Some(d) = self.dbs.get(db) {
            if !d.may_have_volatile.load(Ordering::Relaxed) {
                d.may_have_volatile.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Number of databases.
    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// A held shard, or None when it is not locked. The caller may change any of its
    /// keys, so a running snapshot writes the whole shard first (see `storage::snapshot`);
    /// code that changes one known key uses [`LockSet::shard_for_key`].
    #[inline]
    pub fn shard(&mut self, db: usize, shard: usize) -> Option<&mut Shard> {
        let epoch = self.epoch;
        let s = self.held_shard(db, shard)?;
        super::snapshot::capture_in(db, s, epoch);
        Some(s)
    }

    /// A held shard for reading or changing `key` only: a running snapshot that has not
    /// written the shard keeps `key`'s pre-image (copy-on-write per key) instead of
    /// writing the whole shard now.
    #[inline]
    pub fn shard_for_key(&mut self, db: usize, shard: usize, key: &[u8]) -> Option<&mut Shard> {
        let epoch = self.epoch;
        let s = self.held_shard(db, shard)?;
        super::snapshot::preserve_in(s, key, epoch);
        Some(s)
    }

    /// A held shard, with no snapshot bookkeeping.
    #[inline]
    fn held_shard(&mut self, db: usize, shard: usize) -> Option<&mut Shard> {
        let id = lock_id(db, shard);
        let pos = if self.guards.first().is_some_and(|(first, _)| *first == id) {
            0
        } else {
            self.guards.binary_search_by_key(&id, |(i, _)| *i).ok()?
        };
        self.guards.get_mut(pos).map(|(_, g)| &mut **g)
    }

    /// The held shards of one database, in shard order (a running snapshot writes each
    /// first, as [`LockSet::shard`] does).
    pub fn db_shards(&mut self, db: usize) -> impl Iterator<Item = &mut Shard> + use<'_, 's> {
        let lo = lock_id(db, 0);
        let hi = lock_id(db + 1, 0);
        let epoch = self.epoch;
        self.guards
            .iter_mut()
            .filter(move |(id, _)| *id >= lo && *id < hi)
            .map(move |(_, g)| {
                super::snapshot::capture_in(db, g, epoch);
                &mut **g
            })
    }
}

/// A database as a command handler sees it: the shards its command locked, the command's
/// clock, lazy expiry on every lookup.
pub struct DbView<'a, 's> {
    /// The held locks.
    pub locks: &'a mut LockSet<'s>,
    /// Database index.
    pub db: usize,
    /// The command's time (Unix ms), used for every expiry check of the command.
    pub now: u64,
    /// Server statistics (expired keys, dirty counter).
    pub stats: &'s Stats,
    /// Lookups record the access time (false for OBJECT and for CLIENT NO-TOUCH clients).
    pub touch: bool,
}

impl<'a, 's> DbView<'a, 's> {
    /// The locked shard that holds `key`, for reading or changing `key` (and only `key`:
    /// a running snapshot keeps its pre-image, see [`LockSet::shard_for_key`]).
    #[inline]
    pub fn shard(&mut self, key: &[u8]) -> Result<&mut Shard, CmdError> {
        let db = self.db;
        let shard = self.locks.shard_index(key);
        self.locks
            .shard_for_key(db, shard, key)
            .ok_or(CmdError::Internal("key's shard is not locked"))
    }

    /// The locked shard that holds `key`, once [`DbView::shard`] has been called for it.
    #[inline]
    fn held_shard(&mut self, key: &[u8]) -> Result<&mut Shard, CmdError> {
        let db = self.db;
        let shard = self.locks.shard_index(key);
        self.locks
            .held_shard(db, shard)
            .ok_or(CmdError::Internal("key's shard is not locked"))
    }

    /// Look up a live entry, deleting it first if it has expired (the deletion is logged
    /// as a DEL, so replaying the log never sees the key alive where it was gone).
    pub fn get(&mut self, key: &[u8]) -> Result<Option<EntryMut<'_>>, CmdError> {
        match self.live(key)? {
            // The same shard again, without the snapshot's bookkeeping (done in `live`).
            Some(pos) => Ok(self.held_shard(key)?.map.entry_at_mut(pos)),
            None => Ok(None),
        }
    }

    /// Where `key`'s live entry is: one hash and probe, the position then reused to reach
    /// the entry. An expired entry is deleted first; a miss is reported (`keymiss`).
    #[inline(always)]
    fn live(&mut self, key: &[u8]) -> Result<Option<u32>, CmdError> {
        let (now, touch) = (self.now, self.touch);
        match self.shard(key)?.map.probe(key, now, touch) {
            Probe::Live(pos) => return Ok(Some(pos)),
            // A replica keeps an expired key until its primary's DEL comes (Redis 7.0).
            Probe::Expired if !crate::storage::expiry::replica_mode() => {
                self.remove_expired(key)?
            }
            Probe::Expired | Probe::Missing => {}
        }
        self.missed(key);
        Ok(None)
    }

    fn remove_expired(&mut self, key: &[u8]) -> Result<(), CmdError> {
        let shard = self.shard(key)?;
        shard.remove(key);
        shard.touch_watched_expired(key);
        // Blocked XREADGROUPs learn that their stream is gone.
        let blocked = shard.has_blocked(key);
        self.locks.track_write(key, true);
        if blocked {
            self.locks.signal_ready(self.db, key);
        }
        self.stats.expired_key(key);
        let db = self.db;
        self.locks
            .propagate_now(db, vec![b"DEL".to_vec(), key.to_vec()]);
        self.notify(class::EXPIRED, "expired", key);
        Ok(())
    }

    /// A read command looked `key` up and did not find it (class `m`).
    #[inline]
    fn missed(&mut self, key: &[u8]) {
        if self.locks.notify_miss {
            self.notify(class::KEY_MISS, "keymiss", key);
        }
    }

    /// Record keyspace event `event` of `class` on `key` of this database (published
    /// after the command; nothing is recorded unless the configuration asks for it).
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        let db = self.db;
        self.locks.notify(db, class, event, key);
    }

    /// Whether an insert that replaced `old` created its key (nothing, or only an expired
    /// entry, was there): such an insert raises `new` (class `n`).
    #[inline]
    fn creates(old: Option<u64>, now: u64) -> bool {
        old.is_none_or(|at| at != 0 && at <= now)
    }

    /// The live value under `key`. Inlined: the writes' hot paths (LPUSH, RPOP...) then
    /// build the value view in place (out of line, the list view was copied out).
    #[inline(always)]
    pub fn value(&mut self, key: &[u8]) -> Result<Option<ValueMut<'_>>, CmdError> {
        Ok(self.get(key)?.and_then(EntryMut::into_value_mut))
    }

    /// The live list under `key` for an edit at its ends (pushes, pops): a small list in
    /// its record is edited on the record's bytes ([`super::table::PackedList`]).
    /// WRONGTYPE for another type. Inlined like [`DbView::value`].
    #[inline(always)]
    pub fn list_edit(&mut self, key: &[u8]) -> Result<Option<ListEdit<'_>>, CmdError> {
        match self.get(key)? {
            None => Ok(None),
            Some(e) => e.into_list_edit().map(Some).ok_or(CmdError::WrongType),
        }
    }

    /// The live sorted set under `key` as a [`ZSetEdit`] (a lookup like
    /// [`DbView::value`]; a set in its key's record is read in place and decoded only
    /// for a change): WRONGTYPE for another type.
    #[inline(always)]
    pub fn zset(&mut self, key: &[u8]) -> Result<Option<ZSetEdit<'_>>, CmdError> {
        match self.get(key)? {
            None => Ok(None),
            Some(e) => e.into_zset_edit().map(Some).ok_or(CmdError::WrongType),
        }
    }

    /// The live value under `key`, read-only (a lookup like [`DbView::value`]: lazy
    /// expiry, access time).
    #[inline]
    pub fn read(&mut self, key: &[u8]) -> Result<Option<ValueRef<'_>>, CmdError> {
        match self.live(key)? {
            Some(pos) => Ok(self.held_shard(key)?.map.read_at(pos)),
            None => Ok(None),
        }
    }

    /// True when `key` exists (and has not expired).
    pub fn exists(&mut self, key: &[u8]) -> Result<bool, CmdError> {
        Ok(self.get(key)?.is_some())
    }

    /// [`DbView::exists`] for a key about to be written (Redis's `lookupKeyWrite`): a miss
    /// raises no `keymiss`, even in a command whose reads do (SINTERSTORE's destination).
    pub fn exists_for_write(&mut self, key: &[u8]) -> Result<bool, CmdError> {
        let miss = std::mem::replace(&mut self.locks.notify_miss, false);
        let found = self.exists(key);
        self.locks.notify_miss = miss;
        found
    }

    /// Store `value` under `key`, dropping any TTL (like SET). Signals the modification.
    pub fn set(&mut self, key: &[u8], value: Value) -> Result<(), CmdError> {
        self.set_entry(key, Entry::new(value))
    }

    /// Store an entry (value and deadline). Signals the modification.
    pub fn set_entry(&mut self, key: &[u8], entry: Entry) -> Result<(), CmdError> {
        let expire_at = entry.expire_at;
        self.store(key, expire_at, |shard| shard.insert(key, entry))
    }

    /// Store the string `data` under `key` with deadline `expire_at` (0 = none), encoded
    /// as [`super::value::StrValue::from_bytes`] does, written straight into its record (SET's path).
    /// Signals the modification.
    #[inline]
    pub fn set_str(&mut self, key: &[u8], data: &[u8], expire_at: u64) -> Result<(), CmdError> {
        self.store(key, expire_at, |shard| {
            shard.insert_str(key, data, expire_at)
        })
    }

    /// An insert by `insert` (which returns the replaced deadline) and its signals.
    #[inline(always)]
    fn store(
        &mut self,
        key: &[u8],
        expire_at: u64,
        insert: impl FnOnce(&mut Shard) -> Option<u64>,
    ) -> Result<(), CmdError> {
        if expire_at != 0 {
            self.locks.note_volatile(self.db);
        }
        let (notify, now) = (self.locks.notify, self.now);
        let shard = self.shard(key)?;
        let old = insert(shard);
        let created = notify != 0 && Self::creates(old, now);
        shard.touch_watched(key);
        let blocked = shard.has_blocked(key);
        self.locks.track_write(key, false);
        self.stats.dirty(1);
        self.locks.note_change();
        if blocked {
            self.locks.signal_ready(self.db, key);
        }
        if created {
            self.notify(class::NEW, "new", key);
        }
        Ok(())
    }

    /// Store an entry moved from another key (RENAME, MOVE): like `set_entry` but the move
    /// was already counted as one change when the source was taken. Raises `new` even over
    /// an existing key, as Redis deletes the destination and adds the key again.
    pub fn insert_moved(&mut self, key: &[u8], entry: Entry) -> Result<(), CmdError> {
        if entry.expire_at != 0 {
            self.locks.note_volatile(self.db);
        }
        let shard = self.shard(key)?;
        shard.insert(key, entry);
        shard.touch_watched(key);
        if shard.has_blocked(key) {
            self.locks.signal_ready(self.db, key);
        }
        self.locks.track_write(key, false);
        self.locks.note_change();
        // Always a new key: Redis deletes the destination and adds the key again.
        self.notify(class::NEW, "new", key);
        Ok(())
    }

    /// Store `value` under `key`, keeping its TTL if the key exists. Signals the modification.
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value) -> Result<(), CmdError> {
        let expire_at = if self.exists_for_write(key)? {
            self.get(key)?.map_or(0, |e| e.expire_at())
        } else {
            0
        };
        self.set_entry(key, Entry { value, expire_at })
    }

    /// Delete `key`; returns whether it existed. Signals the modification.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, CmdError> {
        if !self.exists_for_write(key)? {
            return Ok(false);
        }
        let shard = self.shard(key)?;
        shard.remove(key);
        shard.touch_watched(key);
        // Blocked XREADGROUPs learn that their stream is gone.
        let blocked = shard.has_blocked(key);
        self.locks.track_write(key, false);
        self.stats.dirty(1);
        self.locks.note_change();
        if blocked {
            self.locks.signal_ready(self.db, key);
        }
        Ok(true)
    }

    /// Remove and return the entry under `key` (for RENAME/MOVE). Signals the modification.
    pub fn take(&mut self, key: &[u8]) -> Result<Option<Entry>, CmdError> {
        if !self.exists_for_write(key)? {
            return Ok(None);
        }
        let shard = self.shard(key)?;
        let e = shard.remove(key);
        shard.touch_watched(key);
        let blocked = shard.has_blocked(key);
        self.locks.track_write(key, false);
        self.stats.dirty(1);
        self.locks.note_change();
        if blocked {
            self.locks.signal_ready(self.db, key);
        }
        Ok(e)
    }

    /// Set (`at` > 0) or clear (`0`) the deadline of an existing key. Signals the modification.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> Result<bool, CmdError> {
        if !self.exists_for_write(key)? {
            return Ok(false);
        }
        if at != 0 {
            self.locks.note_volatile(self.db);
        }
        let shard = self.shard(key)?;
        shard.set_expire(key, at);
        shard.touch_watched(key);
        self.locks.track_write(key, false);
        self.stats.dirty(1);
        self.locks.note_change();
        Ok(true)
    }

    /// Log `cmd` in the append-only file instead of the running command's own arguments
    /// (its deterministic form: a relative TTL as an absolute one, a float increment as
    /// the value it produced...).
    pub fn log_as(&mut self, cmd: &[&[u8]]) {
        let db = self.db;
        self.locks
            .propagate_as(db, cmd.iter().map(|a| a.to_vec()).collect());
    }

    /// Count an in-place change that Redis does not signal to WATCH (consumer-group
    /// bookkeeping: XGROUP, XREADGROUP, XACK, XCLAIM): the dirty counter and the
    /// append-only file see it, watchers do not.
    pub fn changed_unwatched(&mut self) {
        self.stats.dirty(1);
        self.locks.note_change();
    }

    /// Mark `key` ready for the clients blocked on it without a new value (XGROUP DESTROY:
    /// readers of the destroyed group get their error when it is served).
    pub fn signal_blocked(&mut self, key: &[u8]) -> Result<(), CmdError> {
        if self.shard(key)?.has_blocked(key) {
            self.locks.signal_ready(self.db, key);
        }
        Ok(())
    }

    /// Signal that a value was changed in place through `get`/`value` (WATCH, dirty counter).
    pub fn modified(&mut self, key: &[u8]) -> Result<(), CmdError> {
        self.shard(key)?.touch_watched(key);
        self.locks.track_write(key, false);
        self.stats.dirty(1);
        self.locks.note_change();
        Ok(())
    }

    /// Every locked shard of this database, in shard order (whole-database commands).
    pub fn shards(&mut self) -> impl Iterator<Item = &mut Shard> + use<'_, 'a, 's> {
        let db = self.db;
        self.locks.db_shards(db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// A "script" holding shard 1 and waiting for shard 2 (`lock_more`) while other
    /// threads lock {1, 2} with `lock` in a loop: nobody deadlocks, because only the script
    /// waits while holding.
    #[test]
    fn lock_more_and_lock_never_deadlock() {
        let dbs: Arc<Vec<Db>> = Arc::new(vec![Db::default()]);
        let done = Arc::new(AtomicBool::new(false));
        let mut others = Vec::new();
        for _ in 0..3 {
            let dbs = dbs.clone();
            let done = done.clone();
            others.push(std::thread::spawn(move || {
                let mut n = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let mut set = LockSet::new(&dbs);
                    set.lock(&mut [2, 1]);
                    assert!(set.shard(0, 1).is_some() && set.shard(0, 2).is_some());
                    n += 1;
                }
                n
            }));
        }
        let start = Instant::now();
        for _ in 0..2000 {
            let mut script = LockSet::new(&dbs);
            script.lock(&mut [1]);
            script.lock_more(2);
            assert!(script.shard(0, 1).is_some() && script.shard(0, 2).is_some());
            assert!(start.elapsed() < Duration::from_secs(60), "deadlock");
        }
        done.store(true, Ordering::Relaxed);
        for t in others {
            t.join().expect("locker thread");
        }
    }

    /// A locker waiting for a busy shard gives up (holding nothing) when told to.
    #[test]
    fn lock_until_aborts_while_waiting() {
        let dbs = vec![Db::default()];
        let mut holder = LockSet::new(&dbs);
        holder.lock(&mut [5]);
        let mut waiter = LockSet::new(&dbs);
        let polls = std::cell::Cell::new(0);
        let ok = waiter.lock_until(&mut [4, 5], &|| {
            polls.set(polls.get() + 1);
            polls.get() > 2
        });
        assert!(!ok);
        assert!(waiter.is_empty());
        // Shard 4 was released: it can be taken now.
        let mut other = LockSet::new(&dbs);
        assert!(other.try_lock_extra(4));
    }
}
