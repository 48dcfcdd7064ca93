//! Client-side caching (CLIENT TRACKING), Redis 7.0's `tracking.c` semantics.
//!
//! One table for the whole server (keys are names only: a write in any database
//! invalidates a name read in another, as in Redis): key -> ids of the clients that read it
//! in the default mode, plus the BCAST prefixes with the clients registered for each and
//! the keys modified under each since the last broadcast. Everything sits behind one mutex,
//! taken only while somebody tracks: `active` (one relaxed load per command) says whether
//! anything is tracked at all, so the hot path of a server without tracking clients pays a
//! test and nothing else.
//!
//! Lock order: a shard lock, then this mutex, then the registry of clients and a client's
//! `pending` buffer or `info`. Nothing here takes a shard lock, and no holder of `info` or
//! `pending` calls in here.
//!
//! Delivery follows `sendTrackingMessage`: a RESP3 client gets a `invalidate` push, a
//! client redirecting to another gets it delivered there (a push for a RESP3 target, a
//! `message` on `__redis__:invalidate` for a RESP2 target in Pub/Sub mode, nothing for a
//! RESP2 target that is not subscribed); a redirect to a gone client marks the tracking
//! client's redirect broken and sends it `tracking-redir-broken` (RESP3). Messages to other
//! clients go through their `pending` buffers (so a reply written before an invalidation
//! is never overtaken by it); messages for the client running the command are written
//! after its reply, as Redis 7.0.15 does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::Mutex;

use super::{ClientHandle, Server};

/// A client's tracking mode as its own connection keeps it (the fast per-command checks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    /// CLIENT TRACKING ON.
    pub on: bool,
    /// BCAST.
    pub bcast: bool,
    /// OPTIN.
    pub optin: bool,
    /// OPTOUT.
    pub optout: bool,
    /// NOLOOP.
    pub noloop: bool,
    /// CLIENT CACHING was given for the next command.
    pub caching: bool,
    /// REDIRECT target (0 = none); kept after OFF as Redis keeps it.
    pub redirect: u64,
}

impl Mode {
    /// Whether a read by this client is remembered now (default mode, and OPTIN with
    /// `CACHING yes` / OPTOUT without `CACHING no`).
    #[inline]
    pub fn remembers_reads(&self) -> bool {
        self.on && !self.bcast && !((self.optin && !self.caching) || (self.optout && self.caching))
    }
}

/// What a tracking client asked for, as other threads need it.
struct Tracker {
    redirect: u64,
    bcast: bool,
    noloop: bool,
    prefixes: BTreeSet<Box<[u8]>>,
    handle: Arc<ClientHandle>,
}

/// One BCAST prefix: its clients and the keys modified under it since the last broadcast,
/// each with the client that modified it last (0 = none: expiry, eviction).
#[derive(Default)]
struct Prefix {
    clients: BTreeSet<u64>,
    keys: ModifiedKeys,
}

/// Keys modified under a prefix, sorted, each with the client that modified it last.
type ModifiedKeys = BTreeMap<Box<[u8]>, u64>;

#[derive(Default)]
struct State {
    /// Key -> clients that read it (default mode), in registration order.
    keys: HashMap<Box<[u8]>, Vec<u64>>,
    /// Sum of the lengths of `keys`' lists (INFO `tracking_total_items`).
    items: usize,
    /// Clients with tracking on.
    clients: HashMap<u64, Tracker>,
    /// BCAST prefixes (sorted, as Redis's radix tree walks them).
    prefixes: BTreeMap<Box<[u8]>, Prefix>,
}

/// What an invalidation carries.
enum Payload<'a> {
    /// One key.
    Key(&'a [u8]),
    /// A BCAST batch.
    Keys(&'a [&'a [u8]]),
    /// Everything (FLUSHDB, FLUSHALL): null in the tracking client's protocol.
    All,
}

/// Output of the client running the command: messages for it go here (after its reply).
pub struct Own<'a> {
    /// Its id.
    pub id: u64,
    /// Where its output goes.
    pub out: &'a mut Vec<u8>,
}

/// The server's tracking state.
#[derive(Default)]
pub struct Tracking {
    active: AtomicBool,
    bcast_pending: AtomicBool,
    state: Mutex<State>,
}

impl Tracking {
    /// True while any client tracks or anything is remembered: commands then report their
    /// reads and writes here.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    fn refresh_active(&self, st: &State) {
        let on = !st.clients.is_empty() || !st.keys.is_empty() || !st.prefixes.is_empty();
        if self.active.load(Ordering::Relaxed) != on {
            self.active.store(on, Ordering::Relaxed);
        }
    }

    /// INFO: (tracking clients, keys, items, prefixes).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let st = self.state.lock();
        (st.clients.len(), st.keys.len(), st.items, st.prefixes.len())
    }

    /// CLIENT TRACKINGINFO / CLIENT LIST: (redirect broken, prefixes).
    pub fn client_info(&self, id: u64) -> (bool, Vec<Vec<u8>>) {
        let st = self.state.lock();
        match st.clients.get(&id) {
            Some(t) => (
                t.handle.tracking_broken.load(Ordering::Relaxed),
                t.prefixes.iter().map(|p| p.to_vec()).collect(),
            ),
            None => (false, Vec::new()),
        }
    }

    /// Redis's prefix collision check for CLIENT TRACKING ON BCAST: against the client's
    /// prefixes, then among the given ones. `Ok(Some(msg))` is Redis 7.0's quirk: an
    /// overlap found among the given prefixes after the first one is reported, and tracking
    /// is enabled anyway (the reply is the error followed by +OK).
    pub fn check_prefixes(&self, id: u64, given: &[&[u8]]) -> Result<Option<String>, String> {
        let st = self.state.lock();
        let existing = st.clients.get(&id).map(|t| &t.prefixes);
        for (i, p) in given.iter().enumerate() {
            if let Some(set) = existing {
                for e in set.iter() {
                    if overlaps(e, p) {
                        return Err(format!(
                            "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                            c_str(p),
                            c_str(e)
                        ));
                    }
                }
            }
            for q in given.iter().skip(i + 1) {
                if overlaps(p, q) {
                    let msg = format!(
                        "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                        c_str(p),
                        c_str(q)
                    );
                    if i == 0 {
                        return Err(msg);
                    }
                    return Ok(Some(msg));
                }
            }
        }
        Ok(None)
    }

    /// CLIENT TRACKING ON (options already validated).
    pub fn enable(&self, handle: &Arc<ClientHandle>, mode: &Mode, prefixes: &[&[u8]]) {
        let mut st = self.state.lock();
        let id = handle.id;
        let t = st.clients.entry(id).or_insert_with(|| Tracker {
            redirect: 0,
            bcast: false,
            noloop: false,
            prefixes: BTreeSet::new(),
            handle: handle.clone(),
        });
        t.redirect = mode.redirect;
        t.bcast = mode.bcast;
        t.noloop = mode.noloop;
        t.handle.tracking_broken.store(false, Ordering::Relaxed);
        let mut added: Vec<Box<[u8]>> = Vec::new();
        if mode.bcast {
            if prefixes.is_empty() {
                added.push(Box::default());
            }
            added.extend(prefixes.iter().map(|p| Box::<[u8]>::from(*p)));
            for p in &added {
                t.prefixes.insert(p.clone());
            }
        }
        for p in added {
            st.prefixes.entry(p).or_default().clients.insert(id);
        }
        self.refresh_active(&st);
    }

    /// CLIENT TRACKING OFF, RESET, disconnect. Keys the client read stay in the table
    /// until they are invalidated (Redis cleans them lazily too).
    pub fn disable(&self, id: u64) {
        let mut st = self.state.lock();
        let Some(t) = st.clients.remove(&id) else {
            return;
        };
        t.handle.tracking_broken.store(false, Ordering::Relaxed);
        for p in t.prefixes.iter() {
            let empty = match st.prefixes.get_mut(p) {
                Some(pre) => {
                    pre.clients.remove(&id);
                    pre.clients.is_empty()
                }
                None => false,
            };
            if empty {
                st.prefixes.remove(p);
            }
        }
        self.refresh_active(&st);
    }

    /// Remember that client `id` read `keys` (default mode), under the shard locks of the
    /// command that read them.
    pub fn remember(&self, id: u64, keys: &[&[u8]]) {
        let mut st = self.state.lock();
        for k in keys {
            let ids = st.keys.entry_ref(*k).or_default();
            if !ids.contains(&id) {
                ids.push(id);
                st.items += 1;
            }
        }
        self.refresh_active(&st);
    }

    /// `key` was modified (by client `origin`, 0 = expiry) while `current` runs a command
    /// (0 = none): invalidate it for the clients that read it, note it for the BCAST
    /// prefixes it matches. Messages for `current` are deferred into `deferred` (sent
    /// after its reply by [`Tracking::send_deferred`]).
    pub fn key_modified(
        &self,
        server: &Server,
        key: &[u8],
        origin: u64,
        current: u64,
        deferred: &mut Vec<Option<Box<[u8]>>>,
    ) {
        let mut st = self.state.lock();
        if !st.prefixes.is_empty() {
            let mut noted = false;
            for (p, pre) in st.prefixes.iter_mut() {
                if key.starts_with(p) {
                    pre.keys.insert(key.into(), origin);
                    noted = true;
                }
            }
            if noted {
                self.bcast_pending.store(true, Ordering::Relaxed);
            }
        }
        let Some(ids) = st.keys.remove(key) else {
            return;
        };
        st.items = st.items.saturating_sub(ids.len());
        for id in ids {
            let Some(t) = st.clients.get(&id) else {
                continue;
            };
            if t.bcast || (t.noloop && id == current) {
                continue;
            }
            if id == current {
                deferred.push(Some(key.into()));
                continue;
            }
            send(server, &mut st, id, &Payload::Key(key), None);
        }
        self.refresh_active(&st);
    }

    /// FLUSHDB/FLUSHALL (any database): every tracking client gets the null invalidation
    /// and the table is emptied.
    pub fn flushed(&self, server: &Server, current: u64, deferred: &mut Vec<Option<Box<[u8]>>>) {
        let mut st = self.state.lock();
        let ids: Vec<u64> = st.clients.keys().copied().collect();
        for id in ids {
            if id == current {
                deferred.push(None);
            } else {
                send(server, &mut st, id, &Payload::All, None);
            }
        }
        st.keys = HashMap::new();
        st.items = 0;
        self.refresh_active(&st);
    }

    /// Send the invalidations deferred for the client that ran the command, after its reply.
    pub fn send_deferred(&self, server: &Server, own: &mut Own<'_>, items: &[Option<Box<[u8]>>]) {
        let mut st = self.state.lock();
        let id = own.id;
        for item in items {
            let payload = match item {
                Some(k) => Payload::Key(k),
                None => Payload::All,
            };
            send(server, &mut st, id, &payload, Some(own));
        }
    }

    /// What Redis does before sleeping: broadcast the keys modified under BCAST prefixes
    /// (one message per prefix and client, keys sorted), then evict tracked keys past
    /// `tracking-table-max-keys`.
    pub fn after_command(&self, server: &Server, own: Option<&mut Own<'_>>) {
        if self.bcast_pending.swap(false, Ordering::Relaxed) {
            self.broadcast(server, own);
        }
        let max = server.config.tracking_max_keys();
        if max > 0 {
            self.limit_keys(server, max);
        }
    }

    fn broadcast(&self, server: &Server, mut own: Option<&mut Own<'_>>) {
        let mut st = self.state.lock();
        let mut batches: Vec<(Vec<u64>, ModifiedKeys)> = Vec::new();
        for pre in st.prefixes.values_mut() {
            if !pre.keys.is_empty() {
                batches.push((
                    pre.clients.iter().copied().collect(),
                    std::mem::take(&mut pre.keys),
                ));
            }
        }
        for (clients, keys) in batches {
            for id in clients {
                let noloop = st.clients.get(&id).is_some_and(|t| t.noloop);
                let list: Vec<&[u8]> = keys
                    .iter()
                    .filter(|(_, origin)| !noloop || **origin != id)
                    .map(|(k, _)| &**k)
                    .collect();
                if list.is_empty() {
                    continue;
                }
                send(
                    server,
                    &mut st,
                    id,
                    &Payload::Keys(&list),
                    own.as_deref_mut(),
                );
            }
        }
    }

    /// Invalidate arbitrary tracked keys until the table holds at most `max` (Redis picks
    /// them by a random walk; any order will do).
    fn limit_keys(&self, server: &Server, max: usize) {
        let mut st = self.state.lock();
        if st.keys.len() <= max {
            return;
        }
        let excess = st.keys.len() - max;
        let victims: Vec<Box<[u8]>> = st.keys.keys().take(excess).cloned().collect();
        for key in victims {
            let Some(ids) = st.keys.remove(&key) else {
                continue;
            };
            st.items = st.items.saturating_sub(ids.len());
            for id in ids {
                if st.clients.get(&id).is_none_or(|t| t.bcast) {
                    continue;
                }
                send(server, &mut st, id, &Payload::Key(&key), None);
            }
        }
        self.refresh_active(&st);
    }
}

/// Turn tracking off for `client` (CLIENT TRACKING OFF, RESET, disconnect). Its redirect
/// is kept, as Redis keeps it (GETREDIR says -1 while tracking is off anyway).
pub fn turn_off(server: &Server, client: &mut super::Client) {
    if client.tracking.on {
        server.tracking.disable(client.handle.id);
    }
    client.tracking = Mode {
        redirect: client.tracking.redirect,
        ..Mode::default()
    };
}

/// One prefix is a prefix of the other (Redis's `stringCheckPrefix`).
fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a.get(..n) == b.get(..n)
}

/// A prefix as `%s` prints it: up to its first NUL byte.
fn c_str(p: &[u8]) -> String {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(p.get(..end).unwrap_or_default()).into_owned()
}

/// Whether a client is in Pub/Sub mode, as its connection last published it.
fn subscribed(h: &ClientHandle) -> bool {
    let info = h.info.lock();
    info.sub + info.psub + info.ssub > 0
}

/// Append `bytes` to a client's output: the running client's own buffer, or its pending
/// buffer (waking its connection when the buffer was empty).
fn push(h: &ClientHandle, bytes: &[u8], own: Option<&mut Own<'_>>) {
    if let Some(o) = own {
        if o.id == h.id {
            o.out.extend_from_slice(bytes);
            return;
        }
    }
    if h.is_killed() {
        return;
    }
    let mut pending = h.pending.lock();
    let was_empty = pending.is_empty();
    pending.extend_from_slice(bytes);
    drop(pending);
    if was_empty {
        h.notify();
    }
}

/// Redis's `sendTrackingMessage` for tracking client `id`.
fn send(
    server: &Server,
    st: &mut State,
    id: u64,
    payload: &Payload<'_>,
    own: Option<&mut Own<'_>>,
) {
    let Some(t) = st.clients.get_mut(&id) else {
        return;
    };
    let resp3 = t.handle.resp3.load(Ordering::Relaxed);
    let mut body = Vec::new();
    match payload {
        Payload::Key(k) => {
            body.extend_from_slice(b"*1\r\n");
            bulk(&mut body, k);
        }
        Payload::Keys(keys) => {
            body.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
            for k in keys.iter() {
                bulk(&mut body, k);
            }
        }
        Payload::All => body.extend_from_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
    }
    if t.redirect == 0 {
        if resp3 {
            let mut msg = b">2\r\n$10\r\ninvalidate\r\n".to_vec();
            msg.extend_from_slice(&body);
            push(&t.handle, &msg, own);
        }
        return;
    }
    let dest = server.clients.lock().get(&t.redirect).cloned();
    let Some(dest) = dest else {
        t.handle.tracking_broken.store(true, Ordering::Relaxed);
        if resp3 {
            let msg = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{}\r\n", t.redirect);
            push(&t.handle, msg.as_bytes(), own);
        }
        return;
    };
    let mut msg = if dest.resp3.load(Ordering::Relaxed) {
        b">2\r\n$10\r\ninvalidate\r\n".to_vec()
    } else if subscribed(&dest) {
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n".to_vec()
    } else {
        return;
    };
    msg.extend_from_slice(&body);
    push(&dest, &msg, own);
}

fn bulk(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(format!("${}\r\n", s.len()).as_bytes());
    buf.extend_from_slice(s);
    buf.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn pending(h: &ClientHandle) -> Vec<u8> {
        std::mem::take(&mut *h.pending.lock())
    }

    #[test]
    fn a_read_key_is_invalidated_once_for_its_reader() {
        let server = Server::new(Config::defaults());
        let reader = server.register_client(String::new(), String::new(), 0);
        reader.resp3.store(true, Ordering::Relaxed);
        let t = &server.tracking;
        assert!(!t.active());
        let mode = Mode {
            on: true,
            ..Mode::default()
        };
        t.enable(&reader, &mode, &[]);
        assert!(t.active());
        t.remember(reader.id, &[b"k", b"k", b"j"]);
        assert_eq!(t.counts(), (1, 2, 2, 0));
        let mut deferred = Vec::new();
        t.key_modified(&server, b"k", 0, 0, &mut deferred);
        t.key_modified(&server, b"k", 0, 0, &mut deferred);
        assert!(deferred.is_empty());
        assert_eq!(
            pending(&reader),
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        // The reader's own write is deferred until after its reply.
        t.key_modified(&server, b"j", reader.id, reader.id, &mut deferred);
        assert_eq!(deferred.len(), 1);
        t.disable(reader.id);
        assert!(!t.active());
    }

    #[test]
    fn bcast_batches_sorted_keys_per_prefix_and_noloop_filters_own_writes() {
        let server = Server::new(Config::defaults());
        let b = server.register_client(String::new(), String::new(), 0);
        b.resp3.store(true, Ordering::Relaxed);
        let t = &server.tracking;
        let mode = Mode {
            on: true,
            bcast: true,
            noloop: true,
            ..Mode::default()
        };
        t.enable(&b, &mode, &[b"a", b"k"]);
        let mut d = Vec::new();
        for k in [&b"kz"[..], b"ka", b"zz", b"aa"] {
            t.key_modified(&server, k, 0, 0, &mut d);
        }
        t.key_modified(&server, b"kb", b.id, b.id, &mut d);
        t.after_command(&server, None);
        assert_eq!(
            pending(&b),
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\naa\r\n>2\r\n$10\r\ninvalidate\r\n*2\r\n$2\r\nka\r\n$2\r\nkz\r\n"
        );
        assert_eq!(
            t.check_prefixes(b.id, &[b"kx"]),
            Err("ERR Prefix 'kx' overlaps with an existing prefix 'k'. Prefixes for a single client must not overlap.".into())
        );
    }
}
