//! Per-connection client state, and the shared handle other connections use to see it
//! (CLIENT LIST, CLIENT KILL, MONITOR feeds).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::storage::WatchFlag;

/// What CLIENT REPLY set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    /// Replies are sent.
    On,
    /// No replies.
    Off,
    /// The next command's reply is dropped.
    Skip,
    /// Set by SKIP: drop the reply of the command now running, then back to On.
    SkipThis,
}

/// Fields of a client that other connections read (CLIENT LIST/INFO), refreshed by the
/// owning connection once per batch of commands.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// CLIENT SETNAME.
    pub name: Vec<u8>,
    /// Selected database.
    pub db: usize,
    /// Full name of the last command.
    pub last_cmd: String,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: Vec<u8>,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: Vec<u8>,
    /// Protocol version (2 or 3).
    pub resp: u8,
    /// Commands queued in MULTI, or -1.
    pub multi: i64,
    /// Flag letters for CLIENT LIST (`N`, `x`, `O`...).
    pub flags: String,
    /// Bytes in the query buffer.
    pub qbuf: usize,
    /// Capacity of the query buffer and of the reply buffer (CLIENT LIST `qbuf-free`,
    /// `tot-mem`).
    pub buf_caps: (usize, usize),
    /// Number of WATCHed keys.
    pub watch: usize,
    /// Subscribed channels (CLIENT LIST `sub=`).
    pub sub: usize,
    /// Subscribed patterns (`psub=`).
    pub psub: usize,
    /// Subscribed shard channels (`ssub=`).
    pub ssub: usize,
    /// CLIENT LIST `redir=`: the tracking redirect, -1 when tracking is off.
    pub redir: i64,
}

/// CLIENT LIST flag letters, in Redis's order, one per bit of `Client::flag_bits`.
const FLAG_LETTERS: [char; 10] = ['O', 'P', 'x', 'b', 't', 'R', 'B', 'd', 'e', 'T'];

/// Write the letters of `bits` into `f` (cleared first), `N` for none.
fn write_flag_letters(bits: u16, f: &mut String) {
    f.clear();
    for (i, letter) in FLAG_LETTERS.iter().enumerate() {
        if bits & (1 << i) != 0 {
            f.push(*letter);
        }
    }
    if f.is_empty() {
        f.push('N');
    }
}

/// The scalar part of what a connection last published to its handle.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PublishedScalars {
    db: usize,
    last_cmd: usize,
    resp3: bool,
    multi: i64,
    flags: u16,
    qbuf: usize,
    buf_caps: (usize, usize),
    watch: usize,
    subs: [usize; 3],
    redir: i64,
}

/// What a connection last published to its handle (see `Client::publish_info`).
#[derive(Debug, Clone)]
struct Published {
    scalars: PublishedScalars,
    name: Vec<u8>,
    lib_name: Vec<u8>,
    lib_ver: Vec<u8>,
}

/// The part of a client shared with the rest of the server.
#[derive(Debug)]
pub struct ClientHandle {
    /// CLIENT ID.
    pub id: u64,
    /// Peer address (`ip:port`).
    pub addr: String,
    /// Local address (`ip:port`).
    pub laddr: String,
    /// Socket file descriptor.
    pub fd: i64,
    /// When the connection was accepted.
    pub created: Instant,
    /// Fields refreshed by the owning connection.
    pub info: Mutex<ClientInfo>,
    /// When the last command started (`util::mono_ns`; 0 before the first): stored on
    /// every batch, so it lives outside `info` and its lock (CLIENT LIST `idle=`).
    pub last_interaction: AtomicU64,
    /// Set by CLIENT KILL: the connection closes at its next wake-up.
    pub killed: AtomicBool,
    /// Wakes the connection when it is served by an async task (kill, pending output, a
    /// blocking wait's end). Use [`ClientHandle::notify`], which also reaches a connection
    /// served by a worker's event loop.
    pub wake: Notify,
    /// The worker event loop serving the connection, while one does (`server::reactor`):
    /// a connection handed to the async path has none.
    pub reactor: Mutex<Option<crate::server::reactor::Link>>,
    /// Output produced by other threads for this client (MONITOR lines, Pub/Sub messages).
    pub pending: Mutex<Vec<u8>>,
    /// Bytes the connection took from `pending` (and its own replies) that are not yet
    /// written to the socket: counted against the Pub/Sub output-buffer limits.
    pub unsent: AtomicU64,
    /// When (monotonic ms + 1, 0 = not) the output first stayed above the soft limit.
    pub soft_since_ms: AtomicU64,
    /// Closed for passing its output-buffer limits (counted once in INFO).
    pub obuf_closed: AtomicBool,
    /// The connection speaks RESP3 (Pub/Sub messages are push frames then).
    pub resp3: AtomicBool,
    /// The wait of a client blocked in BLPOP & co (for CLIENT UNBLOCK).
    pub blocked: Mutex<Option<Arc<crate::server::blocking::Waiter>>>,
    /// Tracking found the REDIRECT target gone (CLIENT LIST flag `R`, TRACKINGINFO
    /// `broken_redirect`).
    pub tracking_broken: AtomicBool,
    /// The ACL user the client is authenticated as (None: `default`), for CLIENT LIST,
    /// CLIENT KILL USER and disconnecting a deleted user's clients.
    pub user: Mutex<Option<Arc<crate::server::acl::User>>>,
}

impl ClientHandle {
    /// Ask the connection to close.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.notify();
    }

    /// Wake the connection (it looks at `killed`, `pending` and its blocking wait),
    /// wherever it is served.
    pub fn notify(&self) {
        self.wake.notify_one();
        if let Some(link) = &*self.reactor.lock() {
            link.wake();
        }
    }

    /// True once CLIENT KILL was applied.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Queue output for this client from another thread.
    pub fn send(&self, bytes: &[u8]) {
        self.pending.lock().extend_from_slice(bytes);
        self.notify();
    }
}

/// State owned by one connection.
pub struct Client {
    /// Shared part.
    pub handle: Arc<ClientHandle>,
    /// Selected database.
    pub db: usize,
    /// Passed AUTH (or no password is set).
    pub authenticated: bool,
    /// The ACL user (None: the `default` user).
    pub user: Option<Arc<crate::server::acl::User>>,
    /// CLIENT SETNAME.
    pub name: Vec<u8>,
    /// Bytes in the query buffer when the current batch started (what Redis's CLIENT LIST
    /// shows as `qbuf` for the client running it: its buffer still holds the command).
    pub batch_qbuf: usize,
    /// Commands queued since MULTI (None outside MULTI).
    pub multi: Option<Vec<Vec<Vec<u8>>>>,
    /// A queued command was refused: EXEC must fail with EXECABORT.
    pub multi_dirty: bool,
    /// Set when a WATCHed key changed.
    pub watch_flag: WatchFlag,
    /// WATCHed keys: (database, key).
    pub watched: Vec<(usize, Box<[u8]>)>,
    /// CLIENT REPLY.
    pub reply_mode: ReplyMode,
    /// Close once the pending replies are written (QUIT, protocol error, KILL).
    pub close_after_reply: bool,
    /// Registry id of the last command run.
    pub last_cmd: usize,
    /// CLIENT NO-EVICT.
    pub no_evict: bool,
    /// CLIENT NO-TOUCH.
    pub no_touch: bool,
    /// A command that may change what CLIENT LIST shows of this client (other than the
    /// last command and the buffers) ran since the last `publish_info`: see
    /// [`Client::note_command`].
    pub info_changed: bool,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: Vec<u8>,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: Vec<u8>,
    /// This connection is a MONITOR.
    pub monitor: bool,
    /// Set by SHUTDOWN: the server exits after this reply.
    pub shutdown_requested: bool,
    /// Wall clock (Unix ms) and monotonic clock (ns) read once per batch of requests; a
    /// command's time is derived from them and the monotonic reading taken when it starts,
    /// so every command has its own time (like Redis's per-command snapshot) without a
    /// second clock call.
    pub clock: Option<(u64, u64)>,
    /// Monotonic time (ns) at which the current top-level command started.
    pub cmd_start_ns: u64,
    /// The latest monotonic reading (ns) of this batch, 0 when taken: the batch's start,
    /// then each command's end. The next command starts at it instead of reading the
    /// clock again (in a pipeline, one command's end is the next one's start).
    pub clock_hint_ns: u64,
    /// What [`Client::publish_info`] last wrote to the handle: a batch that changed none
    /// of it publishes without taking the lock.
    published: Option<Published>,
    /// Running the commands of an EXEC: blocking commands do not block.
    pub in_exec: bool,
    /// Running the commands of a Lua script (Redis's CLIENT_SCRIPT: e.g. SORT orders a
    /// set's output even with BY <constant>).
    pub in_script: bool,
    /// Waiting in a blocking command (CLIENT LIST flag `b`).
    pub blocked_now: bool,
    /// The AOF loader: command time is 0, so no key counts as expired while the log is
    /// replayed (expiries are in the log as DELs, where they happened).
    pub loading: bool,
    /// Set by a blocking command that found no data: the wait and its timeout in ms
    /// (0 = none). The dispatcher hands it to the connection, which parks.
    pub blocked: Option<(Arc<crate::server::blocking::Waiter>, u64)>,
    /// Pub/Sub subscriptions (the registry in `server::pubsub` has the reverse map).
    pub subs: Subscriptions,
    /// Pub/Sub frames (confirmations, own messages) written while CLIENT REPLY is OFF or
    /// SKIP: Redis sends them anyway; the connection appends them after dropping the
    /// command's reply.
    pub pushed: Vec<u8>,
    /// CLIENT TRACKING mode (the shared part lives in `server::tracking`).
    pub tracking: crate::server::tracking::Mode,
    /// Capacity of the connection's query and reply buffers, set by the connection before
    /// [`Client::publish_info`].
    pub buf_caps: (usize, usize),
    /// A read-only command ran inside the running script: the script's declared keys are
    /// remembered for tracking when it ends (Redis tracks a script's keys, not the keys its
    /// commands read).
    pub tracking_script_read: bool,
    /// The master client of a replica (applies the primary's stream: never refused,
    /// clock 0 so nothing expires under it).
    pub master: bool,
    /// What REPLCONF told us (a replica's handshake).
    pub repl_conf: crate::replication::ReplConf,
    /// Work a replication command left for the connection (PSYNC, WAIT).
    pub repl_hook: Option<crate::replication::Hook>,
    /// Replication stream offset after this client's last write (WAIT).
    pub repl_woff: u64,
}

/// A client's Pub/Sub subscriptions. Channels are sets (Redis keeps a dict: UNSUBSCRIBE
/// without arguments lists them in no particular order); patterns are a list in
/// subscription order, as in Redis 7.0.
#[derive(Default, Debug)]
pub struct Subscriptions {
    /// SUBSCRIBE channels.
    pub channels: hashbrown::HashSet<Box<[u8]>>,
    /// PSUBSCRIBE patterns.
    pub patterns: Vec<Box<[u8]>>,
    /// SSUBSCRIBE shard channels.
    pub shard: hashbrown::HashSet<Box<[u8]>>,
}

impl Subscriptions {
    /// Redis's `clientSubscriptionsCount`: channels and patterns (the count SUBSCRIBE,
    /// PSUBSCRIBE and their UNSUBSCRIBEs reply with).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Every subscription of any kind: the client is in Pub/Sub mode (flag `P`).
    pub fn total(&self) -> usize {
        self.count() + self.shard.len()
    }
}

impl Client {
    /// Start a batch of requests: read both clocks.
    pub fn start_batch(&mut self) {
        let mono = crate::util::mono_ns();
        self.clock = Some((crate::util::now_ms(), mono));
        self.clock_hint_ns = mono;
    }

    /// The start time of a command: the batch's latest clock reading when there is one
    /// (taken, so a second command without a batch reads the clock), else a fresh one.
    pub fn command_start_ns(&mut self) -> u64 {
        match std::mem::take(&mut self.clock_hint_ns) {
            0 => crate::util::mono_ns(),
            t => t,
        }
    }

    /// The current command's time in Unix ms.
    pub fn command_time_ms(&self) -> u64 {
        if self.loading || self.master {
            return 0;
        }
        match self.clock {
            Some((wall, mono)) => wall + self.cmd_start_ns.saturating_sub(mono) / 1_000_000,
            None => crate::util::now_ms(),
        }
    }

    /// Authenticate as `user` (None: `default`), mirrored in the shared handle.
    pub fn set_user(&mut self, user: Option<Arc<crate::server::acl::User>>) {
        self.authenticated = true;
        *self.handle.user.lock() = user.clone();
        self.user = user;
    }

    /// A fresh client for `handle`.
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> Client {
        Client {
            handle,
            db: 0,
            authenticated,
            user: None,
            name: Vec::new(),
            batch_qbuf: 0,
            multi: None,
            multi_dirty: false,
            watch_flag: Arc::new(AtomicBool::new(false)),
            watched: Vec::new(),
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            last_cmd: usize::MAX,
            no_evict: false,
            no_touch: false,
            info_changed: true,
            lib_name: Vec::new(),
            lib_ver: Vec::new(),
            monitor: false,
            shutdown_requested: false,
            clock: None,
            cmd_start_ns: 0,
            clock_hint_ns: 0,
            published: None,
            in_exec: false,
            in_script: false,
            blocked_now: false,
            loading: false,
            blocked: None,
            subs: Subscriptions::default(),
            pushed: Vec::new(),
            tracking: Default::default(),
            buf_caps: (0, 0),
            tracking_script_read: false,
            master: false,
            repl_conf: Default::default(),
            repl_hook: None,
            repl_woff: 0,
        }
    }

    /// Before a request runs: CLIENT REPLY SKIP applies to this one.
    pub fn begin_reply(&mut self) {
        if self.reply_mode == ReplyMode::Skip {
            self.reply_mode = ReplyMode::SkipThis;
        }
    }

    /// After a request ran, its reply starting at `before` in `out`: drop it under CLIENT
    /// REPLY OFF/SKIP (SKIP then ends), and append the Pub/Sub frames written meanwhile,
    /// which go out whatever the reply mode.
    pub fn end_reply(&mut self, out: &mut Vec<u8>, before: usize) {
        match self.reply_mode {
            ReplyMode::Off => out.truncate(before),
            ReplyMode::SkipThis => {
                out.truncate(before);
                self.reply_mode = ReplyMode::On;
            }
            _ => {}
        }
        if !self.pushed.is_empty() {
            out.append(&mut self.pushed);
        }
    }

    /// Whether this command's reply is being dropped (CLIENT REPLY OFF / SKIP): Pub/Sub
    /// frames then go to `pushed`.
    pub fn replies_dropped(&self) -> bool {
        matches!(self.reply_mode, ReplyMode::Off | ReplyMode::SkipThis)
    }

    /// CLIENT LIST flag letters.
    pub fn flag_letters(&self) -> String {
        let mut f = String::new();
        self.write_flag_letters(&mut f);
        f
    }

    /// The CLIENT LIST flags as bits (see [`FLAG_LETTERS`]).
    fn flag_bits(&self) -> u16 {
        let tracking = self.tracking.on;
        let bits = [
            self.monitor,
            self.subs.total() > 0,
            self.multi.is_some(),
            self.blocked_now,
            tracking,
            tracking && self.handle.tracking_broken.load(Ordering::Relaxed),
            tracking && self.tracking.bcast,
            self.watch_flag.load(Ordering::Relaxed) && !self.watched.is_empty(),
            self.no_evict,
            self.no_touch,
        ];
        bits.iter()
            .enumerate()
            .fold(0, |acc, (i, &on)| acc | (u16::from(on) << i))
    }

    /// Write the CLIENT LIST flag letters into `f` (cleared first; no allocation when it
    /// already has room).
    pub fn write_flag_letters(&self, f: &mut String) {
        write_flag_letters(self.flag_bits(), f);
    }

    /// A command of `cmd`'s kind ran: commands in the connection, transaction, Pub/Sub,
    /// scripting, blocking or admin categories (SELECT, CLIENT SETNAME, MULTI, SUBSCRIBE,
    /// MONITOR, HELLO, AUTH, BLPOP...) are the ones that change what CLIENT LIST shows of
    /// their client; the data commands never do.
    #[inline]
    pub fn note_command(&mut self, cmd: &crate::commands::Command) {
        use crate::commands::table::{acl, flags};
        const CLIENT_STATE: u32 = acl::CONNECTION
            | acl::TRANSACTION
            | acl::PUBSUB
            | acl::SCRIPTING
            | acl::BLOCKING
            | acl::ADMIN
            | acl::DANGEROUS;
        if cmd.acl & CLIENT_STATE != 0 || cmd.has(flags::ADMIN | flags::PUBSUB) {
            self.info_changed = true;
        }
    }

    /// Copy the fields other connections read into the shared handle. Called once per
    /// batch: the lock is taken only when something other than the time changed.
    pub fn publish_info(&mut self, resp3: bool, qbuf: usize) {
        if self.cmd_start_ns != 0 {
            self.handle
                .last_interaction
                .store(self.cmd_start_ns, Ordering::Relaxed);
        }
        if self.info_unchanged(resp3, qbuf) {
            return;
        }
        self.publish_all(resp3, qbuf);
    }

    /// The common case of [`Client::publish_info`], decided without computing every field:
    /// only data commands ran (see [`Client::note_command`]), with the same last command
    /// and buffers as published, and no state that other threads change (a WATCH's dirty
    /// flag, tracking's broken redirect) or that every queued command changes (MULTI).
    #[inline]
    fn info_unchanged(&mut self, resp3: bool, qbuf: usize) -> bool {
        if std::mem::take(&mut self.info_changed)
            || self.multi.is_some()
            || !self.watched.is_empty()
            || self.tracking.on
        {
            return false;
        }
        self.published.as_ref().is_some_and(|p| {
            let s = &p.scalars;
            s.last_cmd == self.last_cmd
                && s.qbuf == qbuf
                && s.buf_caps == self.buf_caps
                && s.resp3 == resp3
        })
    }

    /// Compare every published field and publish what changed.
    fn publish_all(&mut self, resp3: bool, qbuf: usize) {
        let now = PublishedScalars {
            db: self.db,
            last_cmd: self.last_cmd,
            resp3,
            multi: self.multi.as_ref().map(|q| q.len() as i64).unwrap_or(-1),
            flags: self.flag_bits(),
            qbuf,
            buf_caps: self.buf_caps,
            watch: self.watched.len(),
            subs: [
                self.subs.channels.len(),
                self.subs.patterns.len(),
                self.subs.shard.len(),
            ],
            redir: self.tracking_redir(),
        };
        if let Some(p) = &self.published {
            if p.scalars == now
                && p.name == self.name
                && p.lib_name == self.lib_name
                && p.lib_ver == self.lib_ver
            {
                return;
            }
        }
        self.write_info(&now);
        self.published = Some(Published {
            scalars: now,
            name: self.name.clone(),
            lib_name: self.lib_name.clone(),
            lib_ver: self.lib_ver.clone(),
        });
    }

    /// Write `now` and the names to the handle's shared info.
    fn write_info(&self, now: &PublishedScalars) {
        let reg = crate::commands::registry();
        let mut info = self.handle.info.lock();
        info.name.clone_from(&self.name);
        info.db = now.db;
        if now.last_cmd != usize::MAX {
            let n = reg.full_name(now.last_cmd);
            if info.last_cmd != n {
                info.last_cmd = n.to_string();
            }
        }
        info.lib_name.clone_from(&self.lib_name);
        info.lib_ver.clone_from(&self.lib_ver);
        info.resp = if now.resp3 { 3 } else { 2 };
        info.multi = now.multi;
        write_flag_letters(now.flags, &mut info.flags);
        info.qbuf = now.qbuf;
        info.buf_caps = now.buf_caps;
        info.watch = now.watch;
        [info.sub, info.psub, info.ssub] = now.subs;
        info.redir = now.redir;
    }

    /// CLIENT LIST `redir=` / GETREDIR: the redirect while tracking, else -1.
    pub fn tracking_redir(&self) -> i64 {
        if self.tracking.on {
            self.tracking.redirect as i64
        } else {
            -1
        }
    }
}
