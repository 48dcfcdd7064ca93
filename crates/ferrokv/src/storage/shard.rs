//! One shard of a database: the keys of a range of cluster slots, behind one lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::collections::VecDeque;

use hashbrown::HashMap;

use super::table::KeyTable;
use super::value::Value;
use crate::server::blocking::Waiter;

/// A stored entry: the value and its expiry deadline.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Absolute expiry time in Unix milliseconds; 0 when the key has no TTL.
    pub expire_at: u64,
}

impl Entry {
    /// A new entry without expiry.
    pub fn new(value: Value) -> Entry {
        Entry {
            value,
            expire_at: 0,
        }
    }

    /// True when the entry has a deadline that has passed at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_at != 0 && now > self.expire_at
    }
}

/// A flag shared between a client and the shards whose keys it WATCHes; set when a watched
/// key is modified, which makes the client's EXEC fail.
pub type WatchFlag = Arc<AtomicBool>;

/// One client's WATCH of one key.
#[derive(Debug, Clone)]
pub struct Watcher {
    /// The client's flag.
    pub flag: WatchFlag,
    /// The key was already logically expired when WATCH ran: its removal by expiry is then
    /// not a change (Redis's `watchedKey.expired`).
    pub expired_at_watch: bool,
}

/// The keys of one shard plus the bookkeeping that must change under the same lock.
#[derive(Default, Debug)]
pub struct Shard {
    /// Key -> entry.
    pub map: KeyTable,
    /// Number of entries with an expiry (lets the active expiry cycle skip this shard).
    pub volatile: usize,
    /// WATCHed keys of this shard and the flags of the clients watching them.
    pub watched: HashMap<Box<[u8]>, Vec<Watcher>>,
    /// Clients blocked on keys of this shard (BLPOP...), first come first served. Stays
    /// with its database when SWAPDB moves the data.
    pub blocked: HashMap<Box<[u8]>, VecDeque<Arc<Waiter>>>,
    /// The last snapshot epoch this shard was written to (see `storage::snapshot`).
    pub snapshot_epoch: u64,
    /// While a snapshot has not written this shard yet: the entries, at the snapshot's
    /// barrier, of the keys changed since (see `storage::snapshot::preserve`).
    pub snapshot_pre: Option<Box<super::snapshot::PreImages>>,
}

impl Shard {
    /// True when some client is blocked on `key`.
    #[inline]
    pub fn has_blocked(&self, key: &[u8]) -> bool {
        !self.blocked.is_empty() && self.blocked.contains_key(key)
    }

    /// Blocked-on keys of this shard that hold a value now (SWAPDB brought new data).
    pub fn blocked_keys_present(&self) -> Vec<Box<[u8]>> {
        self.blocked
            .keys()
            .filter(|k| self.map.contains_key(k))
            .cloned()
            .collect()
    }

    /// Mark every client watching `key` (Redis's `touchWatchedKey`).
    #[inline]
    pub fn touch_watched(&mut self, key: &[u8]) {
        if self.watched.is_empty() {
            return;
        }
        if let Some(watchers) = self.watched.get(key) {
            for w in watchers {
                w.flag.store(true, Ordering::Release);
            }
        }
    }

    /// A watched key was deleted by expiry: a change, except for clients that watched it
    /// when it was already expired (for them it merely stops being "expired").
    #[inline]
    pub fn touch_watched_expired(&mut self, key: &[u8]) {
        if self.watched.is_empty() {
            return;
        }
        if let Some(watchers) = self.watched.get_mut(key) {
            for w in watchers {
                if w.expired_at_watch {
                    w.expired_at_watch = false;
                } else {
                    w.flag.store(true, Ordering::Release);
                }
            }
        }
    }

    /// Remove every key (FLUSHDB, FLUSHALL, DEBUG RELOAD), marking the clients that watch
    /// one of them as Redis does (see [`touch_replaced`]); returns the old table so the
    /// caller decides where to free it.
    pub fn take_all(&mut self, now: u64) -> KeyTable {
        let emptied = std::mem::take(&mut self.map);
        if !self.watched.is_empty() {
            touch_replaced(&mut self.watched, &emptied, None, now);
        }
        self.volatile = 0;
        emptied
    }

    /// Remove an entry, keeping the volatile count right.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.remove(key)?;
        if e.expire_at != 0 {
            self.volatile -= 1;
        }
        Some(e)
    }

    /// Remove an entry for eviction (the slab is compacted, see
    /// `KeyTable::remove_compacting`), keeping the volatile count right.
    pub fn evict(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.remove_compacting(key)?;
        if e.expire_at != 0 {
            self.volatile -= 1;
        }
        Some(e)
    }

    /// Insert or replace an entry, keeping the volatile count right. Returns the old
    /// entry's deadline (0 = none) when the key existed.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> Option<u64> {
        let expire_at = entry.expire_at;
        let old = self.map.insert(key, entry);
        self.count_volatile(expire_at, old);
        old
    }

    /// [`Shard::insert`] of a string given by its bytes (SET's path: written straight
    /// into its record, see [`KeyTable::insert_str`]).
    #[inline]
    pub fn insert_str(&mut self, key: &[u8], data: &[u8], expire_at: u64) -> Option<u64> {
        let old = self.map.insert_str(key, data, expire_at);
        self.count_volatile(expire_at, old);
        old
    }

    /// Keep the count of keys with a TTL after an insert with `expire_at` replaced `old`.
    #[inline]
    fn count_volatile(&mut self, expire_at: u64, old: Option<u64>) {
        if expire_at != 0 {
            self.volatile += 1;
        }
        if old.is_some_and(|at| at != 0) {
            self.volatile -= 1;
        }
    }

    /// Set or clear (`0`) the deadline of an existing key. Returns false if the key is absent.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        let Some(old) = self.map.set_expire(key, at) else {
            return false;
        };
        match (old != 0, at != 0) {
            (false, true) => self.volatile += 1,
            (true, false) => self.volatile -= 1,
            _ => {}
        }
        true
    }

    /// Delete every expired key, up to `budget` entries examined; returns the deleted keys.
    pub fn collect_expired(&mut self, now: u64) -> Vec<Box<[u8]>> {
        if self.volatile == 0 {
            return Vec::new();
        }
        let expired: Vec<Box<[u8]>> = self
            .map
            .iter()
            .filter(|(_, e)| e.is_expired(now))
            .map(|(k, _)| k.into())
            .collect();
        for k in &expired {
            self.remove(k);
            self.touch_watched_expired(k);
        }
        expired
    }
}

/// Redis 7.0's `touchAllWatchedKeysInDb` for one shard: the keys of `emptied` are gone,
/// replaced by those of `replaced_with` (SWAPDB: the other database's keys) or by nothing
/// (FLUSHDB, FLUSHALL). A watcher of a key that is in either table is marked, except where
/// nothing changed logically: a key that was already expired when watched and is now
/// gone, or replaced by another expired key; a missing key replaced by an expired one
/// (which then counts as expired when watched).
pub fn touch_replaced(
    watched: &mut HashMap<Box<[u8]>, Vec<Watcher>>,
    emptied: &KeyTable,
    replaced_with: Option<&KeyTable>,
    now: u64,
) {
    for (key, watchers) in watched.iter_mut() {
        let exists_in_emptied = emptied.contains_key(key);
        let replacement = replaced_with.and_then(|t| t.get(key));
        if !exists_in_emptied && replacement.is_none() {
            continue;
        }
        let replacement_expired = replacement.as_ref().is_some_and(|e| e.is_expired(now));
        for w in watchers.iter_mut() {
            if w.expired_at_watch {
                if replacement.is_none() {
                    w.expired_at_watch = false;
                    continue;
                }
                if replacement_expired {
                    continue;
                }
            } else if !exists_in_emptied && replacement_expired {
                w.expired_at_watch = true;
                continue;
            }
            w.flag.store(true, Ordering::Release);
        }
    }
}
