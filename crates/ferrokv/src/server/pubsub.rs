//! The Pub/Sub registry shared by every worker thread: which clients listen on which
//! channels, patterns and shard channels, and delivery of published messages.
//!
//! Delivery reuses the path MONITOR output takes: a message is appended to each
//! subscriber's `ClientHandle::pending` buffer and the subscriber's connection is woken
//! (only when the buffer was empty: one wake-up per drain, not per message). A publisher
//! appends to a subscriber's buffer under that buffer's lock, so each subscriber receives
//! one publisher's messages in publish order, whatever thread either runs on. A message a
//! client publishes to itself goes straight into its own reply buffer, as in Redis.
//!
//! PUBLISH takes only this registry's read lock, never a keyspace shard lock.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::RwLock;

use super::ClientHandle;
use crate::storage::glob::glob_match;

/// Subscribers of one channel, in subscription order (the order Redis delivers in).
type Subscribers = Vec<Arc<ClientHandle>>;

#[derive(Default)]
struct Tables {
    channels: HashMap<Box<[u8]>, Subscribers>,
    /// Patterns in the order they were first subscribed (Redis walks a dict: any order).
    patterns: Vec<(Box<[u8]>, Subscribers)>,
    shard_channels: HashMap<Box<[u8]>, Subscribers>,
}

/// The registry of subscriptions (one per server).
#[derive(Default)]
pub struct PubSub {
    tables: RwLock<Tables>,
}

/// Which of the three namespaces a subscription is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE / PUBLISH.
    Channel,
    /// PSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE / SPUBLISH.
    Shard,
}

/// A RESP frame encoded once per publish without its leading type byte, so the same bytes
/// serve RESP2 (`*`) and RESP3 (`>`) subscribers.
struct Frame {
    body: Vec<u8>,
}

impl Frame {
    fn new(parts: &[&[u8]]) -> Frame {
        let mut body = Vec::with_capacity(16 + parts.iter().map(|p| p.len() + 16).sum::<usize>());
        body.extend_from_slice(parts.len().to_string().as_bytes());
        body.extend_from_slice(b"\r\n");
        for p in parts {
            body.push(b'$');
            body.extend_from_slice(p.len().to_string().as_bytes());
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(p);
            body.extend_from_slice(b"\r\n");
        }
        Frame { body }
    }

    fn write_to(&self, buf: &mut Vec<u8>, resp3: bool) {
        buf.push(if resp3 { b'>' } else { b'*' });
        buf.extend_from_slice(&self.body);
    }

    fn len(&self) -> usize {
        self.body.len() + 1
    }
}

use super::output::over_limits;
/// Output-buffer limits for Pub/Sub clients (`client-output-buffer-limit pubsub`) at
/// the moment of a publish; 0 = no limit.
pub use super::output::Limits;

fn remove_client(list: &mut Subscribers, id: u64) -> bool {
    match list.iter().position(|h| h.id == id) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    }
}

impl PubSub {
    /// Register `client` on `name`; false if it was already registered there (the caller
    /// keeps its own set too, so this is only a consistency answer).
    pub fn subscribe(&self, kind: Kind, name: &[u8], client: &Arc<ClientHandle>) -> bool {
        let mut t = self.tables.write();
        let list = match kind {
            Kind::Channel => t.channels.entry(name.into()).or_default(),
            Kind::Shard => t.shard_channels.entry(name.into()).or_default(),
            Kind::Pattern => {
                let pos = match t.patterns.iter().position(|(p, _)| &**p == name) {
                    Some(pos) => pos,
                    None => {
                        t.patterns.push((name.into(), Vec::new()));
                        t.patterns.len() - 1
                    }
                };
                match t.patterns.get_mut(pos) {
                    Some((_, list)) => list,
                    None => return false,
                }
            }
        };
        if list.iter().any(|h| h.id == client.id) {
            return false;
        }
        list.push(client.clone());
        true
    }

    /// Remove client `id` from `name`; empty entries are dropped, as Redis does.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], id: u64) -> bool {
        let mut t = self.tables.write();
        Self::remove_locked(&mut t, kind, name, id)
    }

    fn remove_locked(t: &mut Tables, kind: Kind, name: &[u8], id: u64) -> bool {
        match kind {
            Kind::Channel | Kind::Shard => {
                let map = if kind == Kind::Channel {
                    &mut t.channels
                } else {
                    &mut t.shard_channels
                };
                let Some(list) = map.get_mut(name) else {
                    return false;
                };
                let removed = remove_client(list, id);
                if list.is_empty() {
                    map.remove(name);
                }
                removed
            }
            Kind::Pattern => {
                let Some(pos) = t.patterns.iter().position(|(p, _)| &**p == name) else {
                    return false;
                };
                let Some((_, list)) = t.patterns.get_mut(pos) else {
                    return false;
                };
                let removed = remove_client(list, id);
                if list.is_empty() {
                    t.patterns.remove(pos);
                }
                removed
            }
        }
    }

    /// Drop every subscription of `client` (RESET, disconnect), without confirmations.
    pub fn forget_client(&self, client: &mut super::Client) {
        if client.subs.total() == 0 {
            return;
        }
        let subs = std::mem::take(&mut client.subs);
        let id = client.handle.id;
        let mut t = self.tables.write();
        for c in &subs.channels {
            Self::remove_locked(&mut t, Kind::Channel, c, id);
        }
        for p in &subs.patterns {
            Self::remove_locked(&mut t, Kind::Pattern, p, id);
        }
        for c in &subs.shard {
            Self::remove_locked(&mut t, Kind::Shard, c, id);
        }
    }

    /// PUBLISH / SPUBLISH: deliver `message` on `channel` to every subscriber (and, for
    /// plain channels, every client whose pattern matches); returns the number of
    /// deliveries. `me` is the publishing client: its own copies go to `own_out` at once.
    pub fn publish(
        &self,
        shard: bool,
        (channel, message): (&[u8], &[u8]),
        me: u64,
        own_out: &mut resp::ReplyWriter,
        limits: Limits,
    ) -> i64 {
        let t = self.tables.read();
        let mut receivers = 0i64;
        let (map, kind): (&HashMap<Box<[u8]>, Subscribers>, &[u8]) = if shard {
            (&t.shard_channels, b"smessage")
        } else {
            (&t.channels, b"message")
        };
        if let Some(list) = map.get(channel) {
            let frame = Frame::new(&[kind, channel, message]);
            for h in list {
                deliver(h, &frame, me, own_out, limits);
                receivers += 1;
            }
        }
        if !shard {
            for (pattern, list) in &t.patterns {
                if !glob_match(pattern, channel, false) {
                    continue;
                }
                let frame = Frame::new(&[b"pmessage", pattern, channel, message]);
                for h in list {
                    deliver(h, &frame, me, own_out, limits);
                    receivers += 1;
                }
            }
        }
        receivers
    }

    /// Every subscription of client `id`: (name, is a pattern). ACL uses it to find the
    /// subscribers a change of channel permissions leaves without permission.
    pub fn subscriptions_of(&self, id: u64) -> Vec<(Vec<u8>, bool)> {
        let t = self.tables.read();
        let has = |subs: &Subscribers| subs.iter().any(|h| h.id == id);
        let mut out: Vec<(Vec<u8>, bool)> = Vec::new();
        for (name, subs) in t.channels.iter().chain(t.shard_channels.iter()) {
            if has(subs) {
                out.push((name.to_vec(), false));
            }
        }
        for (name, subs) in &t.patterns {
            if has(subs) {
                out.push((name.to_vec(), true));
            }
        }
        out
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: active channels matching `pattern` (all if none).
    pub fn channels(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let t = self.tables.read();
        let map = if shard {
            &t.shard_channels
        } else {
            &t.channels
        };
        map.keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .map(|c| c.to_vec())
            .collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: subscribers of one channel.
    pub fn numsub(&self, shard: bool, channel: &[u8]) -> usize {
        let t = self.tables.read();
        let map = if shard {
            &t.shard_channels
        } else {
            &t.channels
        };
        map.get(channel).map(Vec::len).unwrap_or(0)
    }

    /// Number of channels with subscribers (INFO `pubsub_channels`).
    pub fn channel_count(&self) -> usize {
        self.tables.read().channels.len()
    }

    /// Number of patterns with subscribers (PUBSUB NUMPAT, INFO `pubsub_patterns`).
    pub fn pattern_count(&self) -> usize {
        self.tables.read().patterns.len()
    }

    /// Number of shard channels with subscribers (INFO `pubsubshard_channels`).
    pub fn shard_channel_count(&self) -> usize {
        self.tables.read().shard_channels.len()
    }
}

/// Append one message to a subscriber: the publisher's own reply buffer, or the
/// subscriber's pending output, enforcing the Pub/Sub output-buffer limits there.
fn deliver(
    h: &Arc<ClientHandle>,
    frame: &Frame,
    me: u64,
    own_out: &mut resp::ReplyWriter,
    limits: Limits,
) {
    if h.id == me {
        frame.write_to(&mut own_out.buf, own_out.resp3);
        return;
    }
    if h.is_killed() {
        return;
    }
    let resp3 = h.resp3.load(Ordering::Relaxed);
    let mut pending = h.pending.lock();
    let was_empty = pending.is_empty();
    let used = pending.len() + frame.len() + h.unsent.load(Ordering::Relaxed) as usize;
    if over_limits(h, super::output::counted(used), limits) {
        // Free what it holds now: a subscriber that cannot keep up must not grow the server.
        *pending = Vec::new();
        drop(pending);
        super::output::close_for_limits(h);
        return;
    }
    frame.write_to(&mut pending, resp3);
    drop(pending);
    if was_empty {
        h.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::server::Server;

    const NO_LIMITS: Limits = Limits {
        hard: 0,
        soft: 0,
        soft_seconds: 0,
    };

    fn pending(h: &ClientHandle) -> Vec<u8> {
        std::mem::take(&mut *h.pending.lock())
    }

    #[test]
    fn publish_reaches_channels_and_patterns_in_each_protocol() {
        let server = Server::new(Config::defaults());
        let a = server.new_client_handle(String::new(), String::new(), 0);
        let b = server.new_client_handle(String::new(), String::new(), 0);
        b.resp3.store(true, Ordering::Relaxed);
        let ps = &server.pubsub;
        assert!(ps.subscribe(Kind::Channel, b"ch", &a));
        assert!(!ps.subscribe(Kind::Channel, b"ch", &a));
        assert!(ps.subscribe(Kind::Pattern, b"c*", &b));
        assert!(ps.subscribe(Kind::Shard, b"ch", &b));
        let mut own = resp::ReplyWriter::new();
        assert_eq!(
            ps.publish(false, (b"ch", b"hi"), 99, &mut own, NO_LIMITS),
            2
        );
        assert!(own.buf.is_empty());
        assert_eq!(
            pending(&a),
            b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            pending(&b),
            b">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
        // Shard channels are their own namespace; the publisher's own copy goes to its
        // reply buffer.
        assert_eq!(
            ps.publish(true, (b"ch", b"s"), b.id, &mut own, NO_LIMITS),
            1
        );
        assert_eq!(own.buf, b"*3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$1\r\ns\r\n");
        assert!(pending(&b).is_empty());
        assert_eq!(
            (
                ps.channel_count(),
                ps.pattern_count(),
                ps.shard_channel_count()
            ),
            (1, 1, 1)
        );
        assert!(ps.unsubscribe(Kind::Pattern, b"c*", b.id));
        assert!(!ps.unsubscribe(Kind::Pattern, b"c*", b.id));
        assert_eq!(ps.pattern_count(), 0);
        assert_eq!(ps.numsub(false, b"ch"), 1);
        assert_eq!(ps.channels(false, Some(b"x*")), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn a_subscriber_past_the_hard_limit_is_killed_and_freed() {
        let server = Server::new(Config::defaults());
        let slow = server.new_client_handle(String::new(), String::new(), 0);
        server.pubsub.subscribe(Kind::Channel, b"ch", &slow);
        let limits = Limits {
            hard: 1000,
            soft: 0,
            soft_seconds: 0,
        };
        let mut own = resp::ReplyWriter::new();
        let payload = [b'x'; 100];
        // The first 16 KB are not counted (Redis's static reply buffer): 200 x ~120 bytes.
        for _ in 0..200 {
            server
                .pubsub
                .publish(false, (b"ch", &payload), 0, &mut own, limits);
        }
        assert!(slow.is_killed());
        assert!(slow.pending.lock().capacity() == 0);
    }

    #[test]
    fn the_soft_limit_needs_its_duration() {
        let server = Server::new(Config::defaults());
        let h = server.new_client_handle(String::new(), String::new(), 0);
        let l = Limits {
            hard: 0,
            soft: 10,
            soft_seconds: 60,
        };
        assert!(!over_limits(&h, 5, l));
        assert!(
            !over_limits(&h, 50, l),
            "first time above: the clock starts"
        );
        assert!(!over_limits(&h, 50, l), "not for 60 s yet");
        let zero = Limits {
            soft_seconds: 0,
            ..l
        };
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(over_limits(&h, 50, zero));
        assert!(!over_limits(&h, 5, zero), "below again: reset");
    }
}
