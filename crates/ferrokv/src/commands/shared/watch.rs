//! WATCH bookkeeping that outlives one command: dropping a client's watched keys (UNWATCH,
//! EXEC, DISCARD, RESET, and the connection when it closes).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::server::{Client, Server};
use crate::storage::db::shard_of;
use crate::storage::{LockSet, Shard, WatchFlag};

/// Remove every WATCH of the client (taking each shard's lock; no locks may be held).
pub fn unwatch_all(server: &Server, client: &mut Client) {
    let watched = std::mem::take(&mut client.watched);
    for (db, key) in &watched {
        if let Some(m) = server
            .dbs
            .get(*db)
            .and_then(|d| d.shards.get(shard_of(key)))
        {
            remove_watch(&mut m.lock(), key, &client.watch_flag);
        }
    }
    client.watch_flag.store(false, Ordering::Release);
}

/// Remove every WATCH of the client through the locks the command holds.
pub fn unwatch_locked(locks: &mut LockSet, client: &mut Client) {
    let watched = std::mem::take(&mut client.watched);
    for (db, key) in &watched {
        if let Some(shard) = locks.shard(*db, shard_of(key)) {
            remove_watch(shard, key, &client.watch_flag);
        }
    }
    client.watch_flag.store(false, Ordering::Release);
}

/// Remove the client's watcher (identified by its flag) of `key` from `shard`.
pub fn remove_watch(shard: &mut Shard, key: &[u8], flag: &WatchFlag) {
    if let Some(watchers) = shard.watched.get_mut(key) {
        watchers.retain(|w| !Arc::ptr_eq(&w.flag, flag));
        if watchers.is_empty() {
            shard.watched.remove(key);
        }
    }
}
