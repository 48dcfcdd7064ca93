//! Keyspace notifications (`notify-keyspace-events`): the event classes and publishing.
//!
//! Handlers record `(class, event, key)` through `DbView::notify` (or `Ctx::notify`); the
//! events are collected in the command's `LockSet` and published by dispatch after the
//! handler (after the whole transaction for EXEC), in order, while the command's locks are
//! still held, so each key's events reach subscribers in the order its changes took effect.
//! The active expiry cycle publishes its `expired` events directly (no command runs there).
//!
//! When notifications are off (the default) the only cost on the hot path is one relaxed
//! load of the cached flags per command (`Config::notify_flags`).

use super::pubsub::Limits;
use super::Server;

/// Event classes: Redis's `NOTIFY_*` bits (`server.h`), so a mask can be compared directly.
pub mod class {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (DEL, EXPIRE, RENAME...).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: keys deleted because their TTL passed.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: keys evicted by maxmemory (nothing evicts yet).
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: key misses of read commands.
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module events (no modules).
    pub const MODULE: u32 = 1 << 13;
    /// `n`: a key was created.
    pub const NEW: u32 = 1 << 14;
}

/// The flags a normalised `notify-keyspace-events` value stands for (Redis's
/// `keyspaceEventsStringToFlags`; `A` is every class but `m` and `n`).
pub fn parse_flags(v: &str) -> u32 {
    use class::*;
    v.chars().fold(0, |f, c| {
        f | match c {
            'A' => {
                GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE
            }
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            _ => 0,
        }
    })
}

/// One recorded event: database, event name, key.
#[derive(Debug, Clone)]
pub struct Event {
    /// Database index.
    pub db: usize,
    /// Redis's event name (`set`, `lpush`, `expired`...).
    pub event: &'static str,
    /// The key.
    pub key: Box<[u8]>,
}

/// Whether `flags` (the cached configuration) asks for events of `class` at all: a class
/// bit and at least one of K/E (Redis's check in `notifyKeyspaceEvent`).
#[inline]
pub fn wanted(flags: u32, class: u32) -> bool {
    flags & class != 0 && flags & (class::KEYSPACE | class::KEYEVENT) != 0
}

/// Publish `events` on their keyspace/keyevent channels as `flags` asks. `me` is the
/// client whose command caused them: its own copies (a RESP3 client subscribed to its
/// own events) go to `own_out`.
pub fn publish(
    server: &Server,
    flags: u32,
    events: &[Event],
    me: u64,
    own_out: &mut resp::ReplyWriter,
) {
    let (hard, soft, soft_seconds) = server.config.pubsub_output_limits();
    let limits = Limits {
        hard,
        soft,
        soft_seconds,
    };
    let mut channel = Vec::with_capacity(64);
    for e in events {
        if flags & class::KEYSPACE != 0 {
            channel_name(&mut channel, b"__keyspace@", e.db, &e.key);
            server
                .pubsub
                .publish(false, (&channel, e.event.as_bytes()), me, own_out, limits);
        }
        if flags & class::KEYEVENT != 0 {
            channel_name(&mut channel, b"__keyevent@", e.db, e.event.as_bytes());
            server
                .pubsub
                .publish(false, (&channel, &e.key), me, own_out, limits);
        }
    }
}

/// `<prefix><db>__:<suffix>` into `buf` (cleared first).
fn channel_name(buf: &mut Vec<u8>, prefix: &[u8], db: usize, suffix: &[u8]) {
    buf.clear();
    buf.extend_from_slice(prefix);
    buf.extend_from_slice(db.to_string().as_bytes());
    buf.extend_from_slice(b"__:");
    buf.extend_from_slice(suffix);
}

/// Publish events raised outside any command (the active expiry cycle).
pub fn publish_detached(server: &Server, events: &[Event]) {
    let flags = server.config.notify_flags();
    if events.is_empty() || flags == 0 {
        return;
    }
    let mut sink = resp::ReplyWriter::new();
    publish(server, flags, events, 0, &mut sink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_redis_letters() {
        assert_eq!(parse_flags(""), 0);
        let a = parse_flags("AKE");
        assert!(wanted(a, class::LIST) && wanted(a, class::EXPIRED));
        assert!(!wanted(a, class::KEY_MISS) && !wanted(a, class::NEW));
        assert!(!wanted(parse_flags("A"), class::LIST), "needs K or E");
        assert!(wanted(parse_flags("Kn"), class::NEW));
    }
}
