//! MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! EXEC locks the union of the shards of every queued command (and of the watched keys) in
//! ascending order, then runs the commands one after another under those locks, so no
//! client on any thread sees the transaction half-done.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::commands::dispatch::{
    call_handler, finish, plan_locks, resolve, takes_script_mutex, LockIds,
};
use crate::commands::shared::watch::{unwatch_all, unwatch_locked};
use crate::commands::{acl, flags, CmdError, CmdResult, Command, Ctx};
use crate::storage::db::{lock_id, shard_of};
use crate::storage::{Shard, WatchFlag, Watcher};

/// The transactions family's table.
pub static COMMANDS: &[Command] = &[
    Command::new(
        "multi",
        1,
        flags::NOSCRIPT | flags::LOADING | flags::STALE | flags::FAST | flags::ALLOW_BUSY,
        multi,
    )
    .acl(acl::TRANSACTION),
    Command::new(
        "exec",
        1,
        flags::NOSCRIPT | flags::LOADING | flags::STALE | flags::SKIP_SLOWLOG,
        exec,
    )
    .acl(acl::TRANSACTION),
    Command::new(
        "discard",
        1,
        flags::NOSCRIPT | flags::LOADING | flags::STALE | flags::FAST | flags::ALLOW_BUSY,
        discard,
    )
    .acl(acl::TRANSACTION),
    Command::new(
        "watch",
        -2,
        flags::NOSCRIPT | flags::LOADING | flags::STALE | flags::FAST | flags::ALLOW_BUSY,
        watch,
    )
    .keys(1, -1, 1)
    .acl(acl::TRANSACTION),
    Command::new(
        "unwatch",
        1,
        flags::NOSCRIPT | flags::LOADING | flags::STALE | flags::FAST | flags::ALLOW_BUSY,
        unwatch,
    )
    .acl(acl::TRANSACTION),
];

fn multi(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::Static("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_dirty = false;
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::Static("ERR DISCARD without MULTI"));
    }
    ctx.client.multi_dirty = false;
    unwatch_all(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::Static("ERR WATCH inside MULTI is not allowed"));
    }
    let db = ctx.client.db;
    let now = ctx.now;
    for key in &args[1..] {
        if ctx
            .client
            .watched
            .iter()
            .any(|(d, k)| *d == db && k.as_ref() == *key)
        {
            continue;
        }
        let flag = ctx.client.watch_flag.clone();
        let shard = ctx
            .locks
            .shard(db, shard_of(key))
            .ok_or(CmdError::Internal("key's shard is not locked"))?;
        // A key that is already logically expired counts as absent: if it is later reclaimed
        // by expiry, that is not a change (as Redis's `expired` flag on watched keys).
        let expired_at_watch = shard.map.get(key).is_some_and(|e| e.is_expired(now));
        shard
            .watched
            .entry((*key).into())
            .or_default()
            .push(Watcher {
                flag,
                expired_at_watch,
            });
        ctx.client.watched.push((db, (*key).into()));
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    unwatch_all(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}

/// True when a watched key that was live at WATCH time has expired since (even if nobody
/// has reclaimed it yet): Redis counts that as a change.
fn watched_key_expired(shard: &Shard, key: &[u8], flag: &WatchFlag, now: u64) -> bool {
    let live_at_watch = shard
        .watched
        .get(key)
        .and_then(|ws| ws.iter().find(|w| Arc::ptr_eq(&w.flag, flag)))
        .is_some_and(|w| !w.expired_at_watch);
    live_at_watch && shard.map.get(key).is_some_and(|e| e.is_expired(now))
}

fn exec(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let Some(queue) = ctx.client.multi.take() else {
        return Err(CmdError::Static("ERR EXEC without MULTI"));
    };
    if std::mem::take(&mut ctx.client.multi_dirty) {
        unwatch_all(ctx.server, ctx.client);
        return Err(CmdError::Static(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let server = ctx.server;
    let argvs: Vec<Vec<&[u8]>> = queue
        .iter()
        .map(|a| a.iter().map(|x| x.as_slice()).collect())
        .collect();

    // The union of every command's shards, following SELECTs inside the transaction, plus
    // the watched keys' shards so the WATCH check is atomic with the execution.
    let mut ids = LockIds::new();
    let mut db = ctx.client.db;
    for argv in &argvs {
        let Ok((_, cmd)) = resolve(argv) else {
            continue;
        };
        if cmd.name == "select" {
            if let Some(n) = argv
                .get(1)
                .and_then(|a| crate::util::parse_canonical_i64(a))
            {
                if n >= 0 && (n as usize) < server.dbs.len() {
                    db = n as usize;
                }
            }
        }
        plan_locks(cmd, argv, db, server.dbs.len(), &mut ids);
    }
    for (wdb, key) in &ctx.client.watched {
        ids.push(lock_id(*wdb, shard_of(key)));
    }
    // A transaction that runs a script takes the script mutex before its shards, as a
    // top-level EVAL does (the script may wait for more shards while holding these), and
    // so does one that changes the function libraries (see `takes_script_mutex`).
    let has_script = argvs
        .iter()
        .any(|argv| resolve(argv).is_ok_and(|(_, cmd)| takes_script_mutex(cmd)));
    // Waiting for a script that passes busy-reply-threshold meanwhile ends the wait:
    // the transaction is discarded with BUSY, as Redis refuses an EXEC during a busy script.
    let (me, threshold) = (ctx.client.handle.id, server.config.busy_threshold_ms());
    let busy = || server.scripts.busy_for(me, threshold);
    let script_guard = if has_script {
        server.scripts.acquire(&busy).map(Some)
    } else {
        Some(None)
    };
    if script_guard.is_none() || !ctx.locks.lock_until(&mut ids, &busy) {
        unwatch_all(server, ctx.client);
        return Err(CmdError::Msg(format!(
            "EXECABORT Transaction discarded because of: {}",
            server.scripts.busy_error()
        )));
    }

    let now = ctx.now;
    let flag = ctx.client.watch_flag.clone();
    let watch_broken = flag.load(Ordering::Acquire)
        || ctx.client.watched.iter().any(|(wdb, key)| {
            ctx.locks
                .shard(*wdb, shard_of(key))
                .is_some_and(|s| watched_key_expired(s, key, &flag, now))
        });
    unwatch_locked(ctx.locks, ctx.client);
    if watch_broken {
        ctx.out.null_array();
        return Ok(());
    }

    ctx.out.array(argvs.len());
    for argv in &argvs {
        let start = crate::util::mono_ns();
        match resolve(argv) {
            Ok((id, cmd)) => {
                // The rules may have changed since the command was queued.
                if let Some(msg) =
                    crate::commands::acl_check::in_exec(server, ctx.client, id, cmd, argv)
                {
                    server.record_error(&msg);
                    ctx.out.error(&msg);
                    continue;
                }
                ctx.client.in_exec = true;
                let failed = !call_handler(server, ctx.client, ctx.out, ctx.locks, id, cmd, argv);
                ctx.client.in_exec = false;
                finish(server, ctx.client, id, cmd, argv, start, failed);
            }
            Err(msg) => {
                server.record_error(&String::from_utf8_lossy(&msg));
                ctx.out.error_bytes(&msg);
            }
        }
    }
    Ok(())
}
