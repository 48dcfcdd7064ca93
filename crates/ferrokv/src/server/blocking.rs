//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, BLMPOP, BZMPOP ...).
//!
//! A blocking command that finds no data registers one [`Waiter`] in the shard of each of
//! its keys (`Shard::blocked`, under the shard lock) and its connection parks. A command
//! that creates one of those keys marks it ready in its [`LockSet`](crate::storage::LockSet);
//! before that command releases its locks, `commands::unblock::serve_ready` runs the
//! waiters' pops on their behalf, first come first served, writes each waiter's reply into
//! its [`WaitState`] and wakes its connection. So no other client's command can take the
//! element in between, exactly as in Redis. Timeouts, CLIENT UNBLOCK, CLIENT KILL and
//! disconnects end a wait from the waiting side; either way the waiter's connection then
//! removes its registrations.

use std::sync::Arc;

use parking_lot::Mutex;

use super::ClientHandle;
use crate::storage::list::End;
use crate::storage::stream::StreamId;

/// What a blocked client does once one of its keys has data.
#[derive(Debug, Clone)]
pub enum BlockOp {
    /// BLPOP / BRPOP (`count` None: reply `[key, element]`) or BLMPOP (`count` Some:
    /// reply `[key, [elements]]`).
    ListPop {
        /// Which end to pop from.
        end: End,
        /// BLMPOP's COUNT.
        count: Option<usize>,
    },
    /// BLMOVE / BRPOPLPUSH: pop at `from`, push to `dst` at `to`, reply with the element.
    ListMove {
        /// Destination key.
        dst: Box<[u8]>,
        /// Source end.
        from: End,
        /// Destination end.
        to: End,
    },
    /// BZPOPMIN / BZPOPMAX (`count` None: reply `[key, member, score]`) or BZMPOP (`count`
    /// Some: reply `[key, [[member, score], ...]]`).
    ZPop {
        /// Pop the highest scores.
        max: bool,
        /// BZMPOP's COUNT.
        count: Option<usize>,
    },
    /// XREAD: served when a key's stream gets an ID past the one waited for (`$` was
    /// resolved when the client blocked); reply `{key: entries}` for that key alone. Reads
    /// only: nothing is removed, so every waiter of the key is served.
    XRead {
        /// Each key with the ID its entries must follow (first given wins for repeats).
        ids: Vec<(Box<[u8]>, StreamId)>,
        /// COUNT (0 = all).
        count: u64,
    },
    /// XREADGROUP ... `>`: served, in the group's name, with the entries after the group's
    /// last delivered ID once the stream's last ID passes it; answered with an error when
    /// the group or the stream goes away (see `shared::stream_groups::serve_blocked_group`).
    XReadGroup {
        /// The group.
        group: Box<[u8]>,
        /// The consumer (created when served, if missing).
        consumer: Box<[u8]>,
        /// Most entries (COUNT, or 1000 without it, as Redis).
        count: u64,
        /// NOACK.
        noack: bool,
    },
}

/// The kind of value a blocking operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wants {
    /// A list.
    List,
    /// A sorted set.
    ZSet,
    /// A stream.
    Stream,
}

impl BlockOp {
    /// The type of value this operation waits for.
    pub fn wants(&self) -> Wants {
        match self {
            BlockOp::ListPop { .. } | BlockOp::ListMove { .. } => Wants::List,
            BlockOp::ZPop { .. } => Wants::ZSet,
            BlockOp::XRead { .. } | BlockOp::XReadGroup { .. } => Wants::Stream,
        }
    }

    /// True when this operation waits for a list.
    pub fn wants_list(&self) -> bool {
        self.wants() == Wants::List
    }
}

/// Where a wait stands. Only the holder of the state's lock changes it, and only away from
/// `Waiting`, so a waiter is served at most once and never after it timed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitState {
    /// Still blocked.
    Waiting,
    /// Served by another command: the complete reply, in the client's protocol.
    Served(Vec<u8>),
    /// The timeout passed (reply: null array).
    TimedOut,
    /// CLIENT UNBLOCK: with `error`, reply `-UNBLOCKED ...`, else as a timeout.
    Unblocked {
        /// CLIENT UNBLOCK ... ERROR.
        error: bool,
    },
    /// The key got data, but the waiter could not be served atomically (BLMOVE whose
    /// destination shard was busy): the connection runs the command again.
    Retry,
}

/// One blocked client.
#[derive(Debug)]
pub struct Waiter {
    /// The client's shared handle (woken through `wake`).
    pub client: Arc<ClientHandle>,
    /// The database of the keys.
    pub db: usize,
    /// The keys waited on, in the command's order, without duplicates.
    pub keys: Vec<Box<[u8]>>,
    /// What to do when served.
    pub op: BlockOp,
    /// Reply in RESP3.
    pub resp3: bool,
    /// The current state.
    pub state: Mutex<WaitState>,
    /// INFO's `blocked_clients`, which counts this wait until it ends.
    pub blocked_count: Arc<std::sync::atomic::AtomicU64>,
}

impl Waiter {
    /// End the wait with `state` if it is still waiting, and wake the connection. Returns
    /// false when the wait had already ended.
    pub fn finish(&self, state: WaitState) -> bool {
        let mut s = self.state.lock();
        if *s != WaitState::Waiting {
            return false;
        }
        *s = state;
        drop(s);
        self.blocked_count
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.client.notify();
        true
    }

    /// End the wait with `state` while holding its lock (`guard`, taken from `self.state`
    /// and found `Waiting`: the serving side decides under it), and wake the connection.
    pub fn end_held(&self, mut guard: parking_lot::MutexGuard<'_, WaitState>, state: WaitState) {
        *guard = state;
        drop(guard);
        self.blocked_count
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.client.notify();
    }

    /// True while still waiting.
    pub fn is_waiting(&self) -> bool {
        *self.state.lock() == WaitState::Waiting
    }
}
