//! The server: shared state (configuration, databases, clients, statistics), worker
//! threads with their event loops, and connections.

pub mod acl;
pub mod blocking;
mod client;
mod connection;
pub mod evict;
pub mod fdlimit;
mod listener;
pub mod metrics;
pub mod notify;
pub mod observe;
pub mod output;
pub mod pubsub;
pub mod reactor;
pub mod stream;
pub mod timer;
pub mod tls;
pub mod tracking;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use parking_lot::{Mutex, RwLock};

pub use client::{Client, ClientHandle, ClientInfo, ReplyMode, Subscriptions};
pub use listener::{bind_listener, bind_tls_listener, run, start_background};
pub use observe::{CommandStats, CommandStatsTable, LatencyMonitor, SlowLog, SlowLogEntry};

use crate::config::Config;
use crate::stats::Stats;
use crate::storage::Db;

/// The Redis release whose behaviour ferrokv matches (INFO `redis_version`).
pub const REDIS_VERSION: &str = "7.0.15";
/// ferrokv's own version (INFO `ferrokv_version`).
pub const FERROKV_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything shared by all worker threads.
pub struct Server {
    /// Configuration (CONFIG GET/SET).
    pub config: Config,
    /// The numbered databases.
    pub dbs: Vec<Db>,
    /// INFO counters.
    pub stats: Stats,
    /// Per command id (see `commands::registry`): calls, time, failures.
    pub command_stats: CommandStatsTable,
    /// Error replies by error code (INFO errorstats).
    pub error_stats: Mutex<HashMap<String, u64>>,
    /// The append-only file.
    pub aof: Arc<crate::persistence::aof::Aof>,
    /// Loading the dataset at start-up: commands without the `loading` flag get -LOADING.
    pub loading: AtomicBool,
    /// AOF rewrite state.
    pub aof_rewrite: crate::persistence::rewrite::RewriteState,
    /// RDB save state.
    pub saving: crate::persistence::save::SaveState,
    /// This server, for work that outlives a command (background rewrite and save).
    self_ref: std::sync::OnceLock<std::sync::Weak<Server>>,
    /// Connected clients by id.
    pub clients: Mutex<HashMap<u64, Arc<ClientHandle>>>,
    /// Next CLIENT ID.
    pub next_client_id: AtomicU64,
    /// Clients in MONITOR mode.
    pub monitors: RwLock<Vec<Arc<ClientHandle>>>,
    has_monitors: AtomicBool,
    /// SLOWLOG.
    pub slowlog: Mutex<SlowLog>,
    /// LATENCY.
    pub latency: Mutex<LatencyMonitor>,
    /// Process start.
    pub started: Instant,
    /// Process start, Unix seconds.
    pub started_unix: u64,
    /// 40 hex characters identifying this run (INFO run_id).
    pub run_id: String,
    /// Replication: ids, offsets, backlog, replicas, the primary we follow.
    pub repl: crate::replication::Replication,
    /// Unix time of the last successful save (LASTSAVE).
    pub lastsave: AtomicU64,
    /// CLIENT PAUSE: deadline (Unix ms) and whether only writes are paused.
    pub pause: Mutex<Option<(u64, bool)>>,
    pause_active: AtomicBool,
    /// Peak `used_memory` seen.
    pub peak_memory: AtomicU64,
    shutting_down: AtomicBool,
    /// TCP port actually bound.
    pub port: AtomicU64,
    /// Lua scripting: script cache, the running script's state (-BUSY, SCRIPT KILL).
    pub scripts: crate::scripting::Scripts,
    /// The listening sockets; workers accept on clones of them (see `listener::worker`).
    pub listeners: Mutex<Vec<std::net::TcpListener>>,
    /// Bumped when `listeners` is replaced (CONFIG SET port / bind): workers re-subscribe.
    pub listeners_changed: tokio::sync::watch::Sender<u64>,
    /// TLS: the acceptor in force and the `tls-port` sockets (server/tls.rs).
    pub tls: tls::Tls,
    /// Pub/Sub subscriptions of every client.
    pub pubsub: pubsub::PubSub,
    /// ACL users and log.
    pub acl: acl::Acl,
    /// Client-side caching: tracked keys, BCAST prefixes, tracking clients.
    pub tracking: tracking::Tracking,
    /// `maxmemory` eviction (pool, background continuation, INFO timings).
    pub evictor: evict::Evictor,
}

/// 40 random hex characters.
pub fn random_hex40() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
        .collect()
}

impl Server {
    /// A server with this configuration and empty databases.
    pub fn new(config: Config) -> Server {
        let dbs = (0..config.databases()).map(|_| Db::default()).collect();
        let n = crate::commands::registry().len();
        let now_unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Server {
            config,
            dbs,
            stats: Stats::default(),
            command_stats: CommandStatsTable::new(n),
            error_stats: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            next_client_id: AtomicU64::new(1),
            monitors: RwLock::new(Vec::new()),
            has_monitors: AtomicBool::new(false),
            slowlog: Mutex::new(SlowLog::default()),
            latency: Mutex::new(LatencyMonitor::default()),
            started: Instant::now(),
            started_unix: now_unix,
            run_id: random_hex40(),
            repl: Default::default(),
            lastsave: AtomicU64::new(now_unix),
            pause: Mutex::new(None),
            pause_active: AtomicBool::new(false),
            peak_memory: AtomicU64::new(0),
            shutting_down: AtomicBool::new(false),
            aof: Arc::new(crate::persistence::aof::Aof::default()),
            aof_rewrite: Default::default(),
            saving: Default::default(),
            loading: AtomicBool::new(false),
            self_ref: std::sync::OnceLock::new(),
            port: AtomicU64::new(0),
            scripts: Default::default(),
            listeners: Mutex::new(Vec::new()),
            listeners_changed: tokio::sync::watch::Sender::new(0),
            tls: tls::Tls::default(),
            pubsub: pubsub::PubSub::default(),
            acl: acl::Acl::default(),
            tracking: tracking::Tracking::default(),
            evictor: evict::Evictor::default(),
        }
    }

    /// Listen on `listeners` from now on (CONFIG SET port / bind): the workers stop
    /// accepting on the old sockets, which close, and accept on these.
    pub fn replace_listeners(&self, listeners: Vec<std::net::TcpListener>, port: u16) {
        *self.listeners.lock() = listeners;
        self.port.store(u64::from(port), Ordering::Relaxed);
        self.listeners_changed
            .send_modify(|generation| *generation += 1);
    }

    /// Accept TLS connections on `listeners` from now on (CONFIG SET tls-port / bind).
    pub fn replace_tls_listeners(&self, listeners: Vec<std::net::TcpListener>) {
        *self.tls.listeners.lock() = listeners;
        self.listeners_changed
            .send_modify(|generation| *generation += 1);
    }

    /// True once shutdown has begun.
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Acquire)
    }

    /// True once shutdown started.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Begin shutdown: log and exit the process (persistence hooks go here).
    pub fn shutdown(&self, reason: &str) -> ! {
        self.shutting_down.store(true, Ordering::Release);
        tracing::warn!("{}: shutting down", reason);
        if self.aof.enabled() {
            tracing::info!("Calling fsync() on the AOF file.");
            self.aof.flush_all();
        }
        tracing::info!("ferrokv is now ready to exit, bye bye...");
        std::process::exit(0)
    }

    /// Count a call of command `id` that took `ns` nanoseconds.
    #[inline]
    pub fn record_call(&self, id: usize, ns: u64, failed: bool) {
        let micros = ns / 1000;
        let stripe = crate::stats::stripe();
        self.stats.total_commands_processed.add_in(stripe, 1);
        if let Some(s) = self.command_stats.local_in(stripe, id) {
            s.calls.fetch_add(1, Ordering::Relaxed);
            s.usec.fetch_add(micros, Ordering::Relaxed);
            if self.config.latency_tracking() {
                s.latency.record(ns);
            }
            if failed {
                s.failed_calls.fetch_add(1, Ordering::Relaxed);
            }
        }
        if failed {
            self.stats.failed_calls.fetch_add(1, Ordering::Relaxed);
        }
        let threshold_ms = self.config.latency_threshold_ms();
        if threshold_ms > 0 && micros / 1000 >= threshold_ms as u64 {
            self.latency.lock().add("command", micros / 1000);
        }
    }

    /// A blocked command of id `id`, already counted when it blocked, ended with an error
    /// reply (a blocked XREADGROUP whose group went away): count the error and the failed
    /// call, as Redis does when it unblocks the client.
    pub fn record_blocked_failure(&self, id: usize, reply: &[u8]) {
        let text = reply.strip_prefix(b"-").unwrap_or(reply);
        let text = text.strip_suffix(b"\r\n").unwrap_or(text);
        self.record_error(&String::from_utf8_lossy(text));
        if let Some(s) = self.command_stats.local(id) {
            s.failed_calls.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.failed_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Count an error reply by its code (INFO errorstats).
    pub fn record_error(&self, msg: &str) {
        self.stats
            .total_error_replies
            .fetch_add(1, Ordering::Relaxed);
        let code = msg.split(' ').next().unwrap_or("ERR");
        let mut es = self.error_stats.lock();
        if let Some(n) = es.get_mut(code) {
            *n += 1;
        } else if es.len() < 128 {
            es.insert(code.to_string(), 1);
        }
    }

    /// Add to SLOWLOG when the command took long enough.
    #[inline]
    pub fn maybe_slowlog(&self, client: &Client, args: &[&[u8]], micros: u64) {
        let threshold = self.config.slowlog_slower_than();
        if threshold < 0 || (micros as i64) < threshold {
            return;
        }
        self.add_to_slowlog(client, args, micros);
    }

    /// [`Server::maybe_slowlog`] for a command that was slow enough.
    #[cold]
    fn add_to_slowlog(&self, client: &Client, args: &[&[u8]], micros: u64) {
        let max = self.config.slowlog_max_len();
        let shown = crate::commands::dispatch::redact_secrets(args);
        self.slowlog.lock().push(client, &shown, micros, max);
    }

    /// True when `maxmemory` is set and the memory in use is still above it: dispatch
    /// evicts before every command, so this is Redis's `pre_command_oom_state` (what a
    /// script checks before running writes).
    #[inline]
    pub fn out_of_memory(&self) -> bool {
        evict::over_limit(self)
    }

    /// True when at least one client is in MONITOR mode.
    #[inline]
    pub fn has_monitors(&self) -> bool {
        self.has_monitors.load(Ordering::Relaxed)
    }

    /// Add a MONITOR client.
    pub fn add_monitor(&self, h: Arc<ClientHandle>) {
        let mut m = self.monitors.write();
        m.push(h);
        self.has_monitors.store(true, Ordering::Relaxed);
    }

    /// Remove a client from the MONITOR list (on disconnect).
    pub fn remove_monitor(&self, id: u64) {
        let mut m = self.monitors.write();
        m.retain(|h| h.id != id);
        self.has_monitors.store(!m.is_empty(), Ordering::Relaxed);
    }

    /// Send a command to every MONITOR client, in Redis's format.
    pub fn feed_monitors(&self, client: &Client, args: &[&[u8]]) {
        let now = crate::util::now_us();
        let mut line = format!(
            "+{}.{:06} [{} {}]",
            now / 1_000_000,
            now % 1_000_000,
            client.db,
            if client.in_script {
                "lua"
            } else {
                client.handle.addr.as_str()
            }
        );
        for a in args {
            line.push(' ');
            line.push_str(&crate::util::repr(a));
        }
        line.push_str("\r\n");
        for m in self.monitors.read().iter() {
            if m.id != client.handle.id {
                m.send(line.as_bytes());
            }
        }
    }

    /// Register a new connection and return its handle.
    pub fn register_client(&self, addr: String, laddr: String, fd: i64) -> Arc<ClientHandle> {
        let h = self.new_client_handle(addr, laddr, fd);
        self.clients.lock().insert(h.id, h.clone());
        self.stats
            .total_connections_received
            .fetch_add(1, Ordering::Relaxed);
        h
    }

    /// A client handle that is not listed among the connections (the AOF loader's).
    pub fn new_client_handle(&self, addr: String, laddr: String, fd: i64) -> Arc<ClientHandle> {
        let id = self.next_client_id.fetch_add(1, Ordering::Relaxed);
        Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            info: Mutex::new(ClientInfo {
                resp: 2,
                multi: -1,
                flags: "N".into(),
                redir: -1,
                ..Default::default()
            }),
            last_interaction: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            reactor: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            unsent: AtomicU64::new(0),
            soft_since_ms: AtomicU64::new(0),
            obuf_closed: AtomicBool::new(false),
            resp3: AtomicBool::new(false),
            blocked: Mutex::new(None),
            tracking_broken: AtomicBool::new(false),
            user: Mutex::new(None),
        })
    }

    /// Remember the `Arc` this server lives in (see [`Server::arc`]).
    pub fn set_self(self: &Arc<Self>) {
        let _ = self.self_ref.set(Arc::downgrade(self));
    }

    /// The `Arc` this server lives in, when it was registered with [`Server::set_self`].
    pub fn arc(&self) -> Option<Arc<Server>> {
        self.self_ref.get().and_then(|w| w.upgrade())
    }

    /// Forget a closed connection.
    pub fn unregister_client(&self, id: u64) {
        self.clients.lock().remove(&id);
        if self.has_monitors() {
            self.remove_monitor(id);
        }
    }

    /// True while CLIENT PAUSE holds this command (all commands, or only writes).
    pub fn is_paused_for(&self, cmd: &crate::commands::Command, args: &[&[u8]]) -> bool {
        // FAILOVER pauses writes as CLIENT PAUSE WRITE does, independently of it.
        if self.repl.failover.pausing()
            && (cmd.has(crate::commands::flags::WRITE)
                || cmd.has(crate::commands::flags::MAY_REPLICATE))
        {
            return true;
        }
        if !self.pause_active.load(Ordering::Relaxed) {
            return false;
        }
        let mut pause = self.pause.lock();
        let Some((deadline, writes_only)) = *pause else {
            return false;
        };
        if crate::util::now_ms() >= deadline {
            *pause = None;
            self.pause_active.store(false, Ordering::Relaxed);
            return false;
        }
        use crate::commands::flags;
        // CLIENT UNPAUSE and the like must get through.
        if cmd.name == "unpause"
            || args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case(b"client"))
        {
            return false;
        }
        if writes_only {
            cmd.has(flags::WRITE) || cmd.has(flags::MAY_REPLICATE)
        } else {
            true
        }
    }

    /// CLIENT PAUSE until `deadline_ms`.
    pub fn pause_clients(&self, deadline_ms: u64, writes_only: bool) {
        *self.pause.lock() = Some((deadline_ms, writes_only));
        self.pause_active.store(true, Ordering::Relaxed);
    }

    /// CLIENT UNPAUSE.
    pub fn unpause_clients(&self) {
        *self.pause.lock() = None;
        self.pause_active.store(false, Ordering::Relaxed);
    }

    /// Number of connected clients.
    pub fn connected_clients(&self) -> usize {
        self.clients.lock().len()
    }
}
