//! Serving clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN... registered by
//! `families/blocking.rs`): a command that gives a key a value serves that key's waiters
//! first come first served through [`serve_ready`] before it releases its locks (called by
//! dispatch), and a connection whose wait ended removes its registrations with
//! [`unregister`]. See `server/blocking.rs` for the whole life of a wait.

use crate::storage::{ListEdit, ValueMut, ValueRef};
use std::sync::Arc;

use super::dispatch::LockIds;
use super::shared::list_ops::{move_element, pop_event};
use super::shared::stream_args::{write_xread_header, write_xread_stream};
use super::shared::stream_groups::{serve_blocked_group, GroupRead};
use super::{class, CmdError};
use crate::server::blocking::{BlockOp, WaitState, Waiter, Wants};
use crate::server::Server;
use crate::storage::db::{lock_id, shard_of, DbView};
use crate::storage::list::{End, ListLimits};
use crate::storage::stream::{Stream, StreamEntry, StreamId};
use crate::storage::zset::ZSetValue;
use crate::storage::LockSet;
use resp::ReplyWriter;

/// The list limits when no command context is at hand (serving waiters).
pub fn server_list_limits(server: &Server) -> ListLimits {
    ListLimits {
        max_listpack_size: server.config.list_max_listpack_size(),
    }
}

/// Whether `value` has something `op` can pop: `Ok(false)` when the key is missing (or
/// empty), WRONGTYPE when it holds another type.
pub fn poppable(value: Option<ValueRef<'_>>, op: &BlockOp) -> Result<bool, CmdError> {
    match (value, op.wants()) {
        (None, _) => Ok(false),
        (Some(ValueRef::List(l)), Wants::List) => Ok(!l.is_empty()),
        (Some(ValueRef::ZSet(z)), Wants::ZSet) => Ok(!z.is_empty()),
        (Some(ValueRef::Stream(s)), Wants::Stream) => Ok(stream_ready(s, op)),
        _ => Err(CmdError::WrongType),
    }
}

/// Whether a stream waiter can be served: the stream's last ID is past the waited-for ID
/// (Redis compares with `last_id`, deleted entries included).
fn stream_ready(s: &Stream, op: &BlockOp) -> bool {
    match op {
        BlockOp::XRead { ids, .. } => ids.iter().any(|(_, id)| s.last_id > *id),
        _ => false,
    }
}

/// Serve a blocked XREAD from the stream at `key`: `{key: entries after its ID}`.
fn serve_xread(
    db: &mut DbView<'_, '_>,
    key: &[u8],
    ids: &[(Box<[u8]>, StreamId)],
    count: u64,
    out: &mut ReplyWriter,
) -> Result<(), CmdError> {
    let after = ids
        .iter()
        .find(|(k, _)| **k == *key)
        .map_or(StreamId::MAX, |(_, id)| *id);
    let entries: Vec<StreamEntry<'_>> = match (db.value(key)?, after.incr()) {
        (Some(ValueMut::Stream(s)), Some(start)) => {
            let limit = if count == 0 {
                usize::MAX
            } else {
                usize::try_from(count).unwrap_or(usize::MAX)
            };
            s.range(start, StreamId::MAX, false).take(limit).collect()
        }
        _ => Vec::new(),
    };
    write_xread_header(out, 1);
    write_xread_stream(out, key, &entries);
    Ok(())
}

/// Run `op` on the non-empty list or sorted set at `key` and return the reply bytes in the
/// waiter's protocol. The caller checked the type and that it is not empty. Deletes the key
/// when it becomes empty.
pub fn serve_op(
    db: &mut DbView<'_, '_>,
    key: &[u8],
    op: &BlockOp,
    resp3: bool,
    limits: ListLimits,
) -> Result<Vec<u8>, CmdError> {
    let mut out = ReplyWriter::new();
    out.resp3 = resp3;
    if let BlockOp::XRead { ids, count } = op {
        // A read: nothing to log.
        serve_xread(db, key, ids, *count, &mut out)?;
        return Ok(out.buf);
    }
    let mut log = logged_form(key, op);
    // With a count, the pop is propagated with the number of elements it took (Redis 7.0).
    let popped = |log: &mut Vec<Vec<u8>>, n: usize, counted: bool| {
        if counted {
            if let Some(last) = log.last_mut() {
                *last = n.to_string().into_bytes();
            }
        }
    };
    match op {
        BlockOp::ListPop { end, count } => {
            let items = pop_list(db, key, *end, count.unwrap_or(1))?;
            popped(&mut log, items.len(), count.is_some());
            out.array(2);
            out.bulk(key);
            if count.is_some() {
                out.array(items.len());
                items.iter().for_each(|i| out.bulk(i));
            } else if let Some(i) = items.first() {
                out.bulk(i);
            }
        }
        BlockOp::ListMove { dst, from, to } => {
            match move_element(db, key, dst, *from, *to, limits)? {
                Some(item) => out.bulk(&item),
                None => out.null(),
            }
        }
        // Served by `serve_key` through `serve_blocked_group`, never here.
        BlockOp::XReadGroup { .. } => return Err(CmdError::Internal("XREADGROUP in serve_op")),
        BlockOp::ZPop { max, count } => {
            let items = pop_zset(db, key, *max, count.unwrap_or(1))?;
            popped(&mut log, items.len(), count.is_some());
            if count.is_some() {
                out.array(2);
                out.bulk(key);
                out.array(items.len());
                for (m, s) in &items {
                    out.array(2);
                    out.bulk(m);
                    out.double(*s);
                }
            } else if let Some((m, s)) = items.first() {
                out.array(3);
                out.bulk(key);
                out.bulk(m);
                out.double(*s);
            }
        }
        BlockOp::XRead { .. } => {}
    }
    let db_index = db.db;
    db.locks.propagate_as(db_index, log);
    Ok(out.buf)
}

/// What the append-only file gets for a blocking pop that was served: the non-blocking
/// command it amounted to (Redis propagates BLPOP as LPOP, BLMOVE as LMOVE...).
fn logged_form(key: &[u8], op: &BlockOp) -> Vec<Vec<u8>> {
    let end_word = |e: &End| match e {
        End::Left => b"LEFT".to_vec(),
        End::Right => b"RIGHT".to_vec(),
    };
    let mut cmd = match op {
        BlockOp::ListPop { end, .. } => vec![
            match end {
                End::Left => b"LPOP".to_vec(),
                End::Right => b"RPOP".to_vec(),
            },
            key.to_vec(),
        ],
        BlockOp::ListMove { dst, from, to } => {
            return vec![
                b"LMOVE".to_vec(),
                key.to_vec(),
                dst.to_vec(),
                end_word(from),
                end_word(to),
            ]
        }
        BlockOp::XReadGroup { .. } => return Vec::new(),
        BlockOp::ZPop { max, .. } => vec![
            if *max {
                b"ZPOPMAX".to_vec()
            } else {
                b"ZPOPMIN".to_vec()
            },
            key.to_vec(),
        ],
        // Reads are not logged (serve_op returns before logging them).
        BlockOp::XRead { .. } => return Vec::new(),
    };
    if let BlockOp::ListPop { count: Some(n), .. } | BlockOp::ZPop { count: Some(n), .. } = op {
        cmd.push(n.to_string().into_bytes());
    }
    cmd
}

/// Pop up to `count` elements at `end`; deletes the key once empty.
fn pop_list(
    db: &mut DbView<'_, '_>,
    key: &[u8],
    end: End,
    count: usize,
) -> Result<Vec<Vec<u8>>, CmdError> {
    let (items, empty) = match db.list_edit(key) {
        // A small list: popped on its record's bytes.
        Ok(Some(ListEdit::Packed(p))) => {
            let mut items = Vec::new();
            let (_, left) = p.pop(end, count, |e| items.push(e.to_vec()));
            (items, left == 0)
        }
        Ok(Some(ListEdit::List(mut l))) => {
            let n = count.min(l.len());
            let items: Vec<Vec<u8>> = (0..n).filter_map(|_| l.pop(end)).collect();
            (items, l.is_empty())
        }
        Ok(None) | Err(CmdError::WrongType) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    db.notify(class::LIST, pop_event(end), key);
    delete_if_empty(db, key, empty)?;
    Ok(items)
}

/// After a pop: delete the key if it is now empty (with its `del` event), else signal
/// the change.
fn delete_if_empty(db: &mut DbView<'_, '_>, key: &[u8], empty: bool) -> Result<(), CmdError> {
    if empty {
        db.delete(key)?;
        db.notify(class::GENERIC, "del", key);
        Ok(())
    } else {
        db.modified(key)
    }
}

/// Pop up to `count` members (lowest scores, or highest with `max`); deletes the key once
/// empty.
fn pop_zset(
    db: &mut DbView<'_, '_>,
    key: &[u8],
    max: bool,
    count: usize,
) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let (items, empty) = match db.value(key)? {
        Some(ValueMut::ZSet(mut z)) => {
            let z: &mut ZSetValue = &mut z;
            let n = count.min(z.len());
            let items: Vec<(Vec<u8>, f64)> = (0..n).filter_map(|_| z.pop(max)).collect();
            (items, z.is_empty())
        }
        _ => return Ok(Vec::new()),
    };
    db.notify(class::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    delete_if_empty(db, key, empty)?;
    Ok(items)
}

/// Serve the clients blocked on keys that the command holding `locks` gave values, first
/// come first served, before those locks are released. A served BLMOVE may create its
/// destination and so make more keys ready: the loop runs until none is left.
pub fn serve_ready<'s>(server: &'s Server, locks: &mut LockSet<'s>, now: u64) {
    while locks.has_ready() {
        for (db, key) in locks.take_ready() {
            serve_key(server, locks, db, &key, now);
        }
    }
}

/// Serve the waiters of one ready key while it has data.
fn serve_key<'s>(server: &'s Server, locks: &mut LockSet<'s>, db: usize, key: &[u8], now: u64) {
    let limits = server_list_limits(server);
    let shard_index = shard_of(key);
    let mut i = 0;
    loop {
        let Some(shard) = locks.shard(db, shard_index) else {
            return;
        };
        let Some(queue) = shard.blocked.get_mut(key) else {
            return;
        };
        let Some(waiter) = queue.get(i).cloned() else {
            if queue.is_empty() {
                shard.blocked.remove(key);
            }
            return;
        };
        if !waiter.is_waiting() {
            queue.remove(i);
            continue;
        }
        if let BlockOp::XReadGroup { .. } = &waiter.op {
            if !serve_group_waiter(server, locks, db, key, &waiter, now) {
                // Still waiting (its group has nothing new): later waiters, of other groups
                // or other kinds, may still be served.
                i += 1;
            }
            continue;
        }
        let mut view = DbView {
            locks: &mut *locks,
            db,
            now,
            stats: &server.stats,
            touch: true,
        };
        let Ok(value) = view.read(key) else {
            return;
        };
        match poppable(value, &waiter.op) {
            Ok(true) => {}
            // Gone (or emptied) again: nothing more to serve, except blocked XREADGROUPs
            // further on, which may have an error to learn.
            Ok(false) if group_waiter_after(locks, db, key, i) => {
                i += 1;
                continue;
            }
            Ok(false) => return,
            // A waiter of another type (a list waiter on a key that is now a sorted set):
            // it keeps waiting; later waiters may still want this type.
            Err(_) => {
                i += 1;
                continue;
            }
        }
        if let BlockOp::ListMove { dst, .. } = &waiter.op {
            if !view.locks.try_lock_extra(lock_id(db, shard_of(dst))) {
                // The destination's shard is busy: let the client run BLMOVE again itself.
                remove_from_queue(locks, db, key, &waiter);
                waiter.finish(WaitState::Retry);
                continue;
            }
        }
        let state = waiter.state.lock();
        if *state == WaitState::Waiting {
            // While serving, the waiter is the client running the command (as in Redis):
            // invalidations of keys it tracks follow its reply.
            let saved = view.locks.tracking.as_deref_mut().map(|t| {
                let running = std::mem::replace(&mut t.client, waiter.client.id);
                (running, std::mem::take(&mut t.deferred))
            });
            let mut reply = match serve_op(&mut view, key, &waiter.op, waiter.resp3, limits) {
                Ok(bytes) => bytes,
                Err(e) => {
                    let mut w = ReplyWriter::new();
                    w.resp3 = waiter.resp3;
                    w.error(&e.message(""));
                    w.buf
                }
            };
            if let (Some(t), Some((running, deferred))) =
                (view.locks.tracking.as_deref_mut(), saved)
            {
                t.client = running;
                let own = std::mem::replace(&mut t.deferred, deferred);
                if !own.is_empty() {
                    let mut to = crate::server::tracking::Own {
                        id: waiter.client.id,
                        out: &mut reply,
                    };
                    t.server.tracking.send_deferred(t.server, &mut to, &own);
                }
            }
            waiter.end_held(state, WaitState::Served(reply));
            // The pushing command's own log entry is already queued: the pop follows it.
            if let Some(cmds) = locks.rewrite.take() {
                locks.propagated_mut().extend(cmds);
            }
            locks.changes = 0;
        } else {
            drop(state);
        }
        remove_from_queue(locks, db, key, &waiter);
    }
}

/// True when a blocked XREADGROUP waits on `key` after position `i` of its queue.
fn group_waiter_after(locks: &mut LockSet<'_>, db: usize, key: &[u8], i: usize) -> bool {
    locks
        .shard(db, shard_of(key))
        .and_then(|s| s.blocked.get(key))
        .is_some_and(|q| {
            q.iter()
                .skip(i + 1)
                .any(|w| matches!(w.op, BlockOp::XReadGroup { .. }))
        })
}

/// Serve (or answer with its error) a blocked XREADGROUP on `key`; false when it must
/// keep waiting. A served waiter leaves the key's queue.
fn serve_group_waiter<'s>(
    server: &'s Server,
    locks: &mut LockSet<'s>,
    db: usize,
    key: &[u8],
    waiter: &Arc<Waiter>,
    now: u64,
) -> bool {
    let BlockOp::XReadGroup {
        group,
        consumer,
        count,
        noack,
    } = &waiter.op
    else {
        return false;
    };
    let state = waiter.state.lock();
    if *state == WaitState::Waiting {
        let mut view = DbView {
            locks: &mut *locks,
            db,
            now,
            stats: &server.stats,
            touch: true,
        };
        let read = GroupRead {
            key,
            group,
            consumer,
            count: *count,
            noack: *noack,
        };
        let Some(reply) = serve_blocked_group(&mut view, &read, waiter.resp3) else {
            return false;
        };
        waiter.end_held(state, WaitState::Served(reply));
        // The writing command's own log entry is already queued: the deliveries follow it.
        if let Some(cmds) = locks.rewrite.take() {
            locks.propagated_mut().extend(cmds);
        }
        locks.changes = 0;
    } else {
        drop(state);
    }
    remove_from_queue(locks, db, key, waiter);
    true
}

fn remove_from_queue(locks: &mut LockSet<'_>, db: usize, key: &[u8], waiter: &Arc<Waiter>) {
    if let Some(shard) = locks.shard(db, shard_of(key)) {
        if let Some(q) = shard.blocked.get_mut(key) {
            q.retain(|w| !Arc::ptr_eq(w, waiter));
            if q.is_empty() {
                shard.blocked.remove(key);
            }
        }
    }
}

/// The active expiry cycle removed `keys` of database `db` while clients were blocked on
/// them: look at their waiters (a blocked XREADGROUP is answered that its stream is gone;
/// the other waiters keep waiting). Runs on the expiry thread, holding no other lock.
pub fn serve_after_expiry(server: &Server, db: usize, keys: Vec<Box<[u8]>>) {
    let mut locks = LockSet::new(&server.dbs);
    let mut ids: LockIds = keys.iter().map(|k| lock_id(db, shard_of(k))).collect();
    ids.sort_unstable();
    ids.dedup();
    locks.lock(&mut ids);
    for key in &keys {
        locks.signal_ready(db, key);
    }
    serve_ready(server, &mut locks, crate::util::now_ms());
    if !locks.propagated().is_empty() {
        let epoch = locks.epoch();
        crate::replication::propagate(server, locks.propagated(), locks.atomic_log, false, epoch);
    }
}

/// Remove a finished waiter's registrations from all its keys (called by its connection
/// after the wait ended, whatever ended it).
pub fn unregister(server: &Server, waiter: &Arc<Waiter>) {
    let mut locks = LockSet::new(&server.dbs);
    let mut ids: LockIds = waiter
        .keys
        .iter()
        .map(|k| lock_id(waiter.db, shard_of(k)))
        .collect();
    locks.lock(&mut ids);
    for key in &waiter.keys {
        remove_from_queue(&mut locks, waiter.db, key, waiter);
    }
}
