//! Putting a client to sleep on keys (blocking list and zset pops, XREAD, XREADGROUP):
//! one `Waiter` registered in the `blocked` map of each key's shard, under the locks the
//! command already holds; the connection parks until a writer serves it or the wait ends
//! (see `server::blocking` and `commands::unblock`).

use std::sync::Arc;

use parking_lot::Mutex;

use crate::commands::{CmdError, CmdResult, Ctx};
use crate::server::blocking::{BlockOp, WaitState, Waiter};
use crate::storage::db::shard_of;

/// Block the client of `ctx` on `keys` (distinct, in the command's order) of its database
/// until `op` can be served, for `timeout_ms` (0: forever). Nothing is replied now.
pub fn block_on_keys(
    ctx: &mut Ctx,
    keys: Vec<Box<[u8]>>,
    op: BlockOp,
    timeout_ms: u64,
) -> CmdResult {
    let db = ctx.client.db;
    let waiter = Arc::new(Waiter {
        client: ctx.client.handle.clone(),
        db,
        keys,
        op,
        resp3: ctx.out.resp3,
        state: Mutex::new(WaitState::Waiting),
        blocked_count: ctx.server.stats.blocked_clients.clone(),
    });
    // Blocked from now on, as Redis sees it: INFO counts the client and CLIENT UNBLOCK
    // finds it, even before its connection starts waiting.
    waiter
        .blocked_count
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    *ctx.client.handle.blocked.lock() = Some(waiter.clone());
    for key in &waiter.keys {
        let shard = ctx
            .locks
            .shard(db, shard_of(key))
            .ok_or(CmdError::Internal("key's shard is not locked"))?;
        shard
            .blocked
            .entry(key.clone())
            .or_default()
            .push_back(waiter.clone());
    }
    ctx.client.blocked = Some((waiter, timeout_ms));
    Ok(())
}
