//! Replication, Redis 7.0's protocol in both directions.
//!
//! **One propagation point.** Every write reaches the append-only file and the replication
//! stream through [`propagate`], called by dispatch (and the expiry cycle) while the
//! write's shard locks are held, with the same deterministic commands, encoded by the same
//! function (`persistence::aof::encode_block`: SELECT when the database changes, MULTI/EXEC
//! around transactions and scripts). The stream also carries what only replicas need: the
//! primary's periodic PING and REPLCONF GETACK.
//!
//! **Backlog.** While replicas are attached (and `repl-backlog-ttl` after the last one
//! left) the stream's newest `repl-backlog-size` bytes are kept ([`backlog::Backlog`]), so
//! a replica that reconnects with PSYNC <replid> <offset> inside it continues with only the
//! missing bytes. The second replication id (`replid2`, valid up to `second_repl_offset`)
//! lets replicas of a promoted replica continue too.
//!
//! **Full sync without fork** (`fullsync.rs`): under a barrier (every shard locked) the
//! stream offset is read, the replicas are attached (from then on they get every stream
//! byte in their own buffers) and a `storage::snapshot` starts; the snapshot writes each
//! shard as it was at the barrier into an RDB that goes to the replicas (through a
//! temporary file, or streamed with `repl-diskless-sync yes`). Replicas asking at about
//! the same time share one snapshot.
//!
//! **Replica side** (`replica.rs`): a link thread connects to the primary, does the
//! handshake, loads the RDB and applies the stream through the dispatcher as the master
//! client, feeding the same bytes into its own backlog so that its offsets are the
//! primary's (chained replicas, promotion).

pub mod backlog;
pub mod failover;
pub mod fullsync;
pub mod primary;
pub mod replica;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::server::Server;
use backlog::Backlog;
use primary::ReplicaConn;

/// A request a replication command leaves for its connection, which runs it after the
/// command (it needs the socket, or to wait without blocking the thread).
#[derive(Debug)]
pub enum Hook {
    /// SYNC (None) or PSYNC replid offset: the connection becomes a replica link.
    Sync(Option<(Vec<u8>, Vec<u8>)>),
    /// WAIT: reply with how many replicas acknowledged `offset`, once `replicas` did or
    /// after `timeout_ms` (0: no timeout).
    Wait {
        /// Replicas wanted.
        replicas: u64,
        /// Offset they must acknowledge.
        offset: u64,
        /// Milliseconds (0: forever).
        timeout_ms: u64,
    },
}

/// What a connection told us with REPLCONF before PSYNC.
#[derive(Debug, Default, Clone)]
pub struct ReplConf {
    /// `listening-port`.
    pub port: u16,
    /// `ip-address`.
    pub ip: Option<String>,
    /// `capa eof`: can read a diskless (EOF-marked) RDB.
    pub capa_eof: bool,
    /// `capa psync2`: understands +CONTINUE <replid>.
    pub capa_psync2: bool,
}

/// Replication state shared by the whole server.
pub struct Replication {
    /// Ids, offsets, backlog, attached replicas, the primary we follow.
    pub state: Mutex<State>,
    /// Held while the replica link applies one command and feeds its bytes, and by a full
    /// sync's barrier: the snapshot and the stream offset agree.
    pub apply: Mutex<()>,
    /// Writes feed the stream (a backlog exists and we are a primary).
    feeding: AtomicBool,
    /// Woken when a replica acknowledges an offset (WAIT).
    pub acked: tokio::sync::Notify,
    /// The full syncs replicas may still join (`fullsync.rs`).
    pub sync_slot: fullsync::SyncSlot,
    /// INFO stats `sync_full`.
    pub sync_full: AtomicU64,
    /// INFO stats `sync_partial_ok`.
    pub sync_partial_ok: AtomicU64,
    /// INFO stats `sync_partial_err`.
    pub sync_partial_err: AtomicU64,
    /// Bytes of the stream sent to replicas / received from the primary.
    pub net_output: AtomicU64,
    /// Bytes of the stream received from the primary.
    pub net_input: AtomicU64,
    /// FAILOVER's state (lock order: before `state`).
    pub failover: failover::Failover,
}

/// The mutable part of [`Replication`].
pub struct State {
    /// Our replication id (`master_replid`).
    pub replid: String,
    /// The previous id (`master_replid2`), valid up to `second_offset`.
    pub replid2: String,
    /// Last offset of `replid2` a replica may continue from, plus one (-1: none).
    pub second_offset: i64,
    /// `master_repl_offset`: stream bytes produced (or, on a replica, applied).
    pub offset: u64,
    /// The backlog, once a replica attached.
    pub backlog: Option<Backlog>,
    /// Database of the last command in the stream (SELECT when it changes).
    pub last_db: Option<usize>,
    /// Attached replicas.
    pub replicas: Vec<Arc<ReplicaConn>>,
    /// When the last replica left (for `repl-backlog-ttl`), Unix ms.
    pub no_replicas_since: Option<u64>,
    /// The primary we replicate, when we are a replica.
    pub master: Option<replica::MasterState>,
    /// Last periodic PING to replicas, Unix ms.
    pub last_ping_ms: u64,
}

/// The id Redis prints for "none".
pub const NO_REPLID: &str = "0000000000000000000000000000000000000000";

impl Default for Replication {
    fn default() -> Self {
        Replication {
            state: Mutex::new(State {
                replid: crate::server::random_hex40(),
                replid2: NO_REPLID.to_string(),
                second_offset: -1,
                offset: 0,
                backlog: None,
                last_db: None,
                replicas: Vec::new(),
                no_replicas_since: None,
                master: None,
                last_ping_ms: 0,
            }),
            apply: Mutex::new(()),
            feeding: AtomicBool::new(false),
            acked: tokio::sync::Notify::new(),
            sync_slot: fullsync::SyncSlot::default(),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            net_output: AtomicU64::new(0),
            net_input: AtomicU64::new(0),
            failover: failover::Failover::default(),
        }
    }
}

impl Replication {
    /// True when writes must be fed to the replication stream.
    #[inline]
    pub fn feeding(&self) -> bool {
        self.feeding.load(Ordering::Relaxed)
    }

    /// Recompute `feeding` (under the state lock).
    pub(crate) fn update_feeding(&self, st: &State) {
        self.feeding.store(
            st.backlog.is_some() && st.master.is_none(),
            Ordering::Relaxed,
        );
    }

    /// The current replication id and offset.
    pub fn id_and_offset(&self) -> (String, u64) {
        let st = self.state.lock();
        (st.replid.clone(), st.offset)
    }

    /// True while we replicate a primary.
    pub fn is_replica(&self) -> bool {
        self.state.lock().master.is_some()
    }

    /// Encode commands into the stream (see [`propagate`]). Returns the offset after them.
    pub fn feed_commands(&self, cmds: &[(usize, Vec<Vec<u8>>)], transaction: bool) -> u64 {
        let mut st = self.state.lock();
        let mut buf = Vec::new();
        let mut last_db = st.last_db;
        crate::persistence::aof::encode_block(&mut buf, &mut last_db, cmds, transaction);
        st.last_db = last_db;
        feed_bytes(&mut st, &buf);
        st.offset
    }

    /// Feed raw stream bytes (a replica relaying its primary's stream).
    pub fn feed_raw(&self, data: &[u8]) -> u64 {
        let mut st = self.state.lock();
        feed_bytes(&mut st, data);
        st.offset
    }

    /// Create the backlog if there is none (a replica attaches).
    pub fn ensure_backlog(&self, server: &Server, st: &mut State) {
        if st.backlog.is_none() {
            st.backlog = Some(Backlog::new(backlog_size(server), st.offset));
            // Redis: a new backlog starts a new history under a new id (a replica of the
            // old one could not continue from it).
            if st.master.is_none() {
                st.replid = crate::server::random_hex40();
                st.replid2 = NO_REPLID.to_string();
                st.second_offset = -1;
            }
        }
        self.update_feeding(st);
    }

    /// DEBUG CHANGE-REPL-ID: a new id, the second one cleared.
    pub fn change_replid(&self) {
        let mut st = self.state.lock();
        st.replid = crate::server::random_hex40();
        st.replid2 = NO_REPLID.to_string();
        st.second_offset = -1;
    }

    /// Replicas whose acknowledged offset reached `offset`.
    pub fn acked_at_least(&self, offset: u64) -> u64 {
        let st = self.state.lock();
        st.replicas
            .iter()
            .filter(|r| r.is_online() && r.ack_offset.load(Ordering::Acquire) >= offset)
            .count() as u64
    }
}

/// Append stream bytes: the offset, the backlog and every attached replica's buffer.
fn feed_bytes(st: &mut State, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    st.offset += data.len() as u64;
    if let Some(b) = st.backlog.as_mut() {
        b.push(data);
    }
    for r in &st.replicas {
        r.push(data);
    }
}

/// `repl-backlog-size` in bytes.
pub fn backlog_size(server: &Server) -> usize {
    server
        .config
        .get("repl-backlog-size")
        .parse::<usize>()
        .unwrap_or(1 << 20)
}

/// True when writes have somewhere to go (the append-only file or replicas): dispatch
/// collects a command's propagation only then.
#[inline]
pub fn propagating(server: &Server) -> bool {
    server.aof.enabled() || server.repl.feeding()
}

/// The one place writes are propagated: the append-only file and the replication stream
/// get the same commands. `from_master`: applied from our own primary's stream, which the
/// replica link relays to our replicas byte for byte instead. `epoch`: the snapshot
/// epoch the commands went by (`LockSet::epoch`; it picks the append-only file while a
/// rewrite starts). Returns the stream offset after the commands (0 when not fed).
pub fn propagate(
    server: &Server,
    cmds: &[(usize, Vec<Vec<u8>>)],
    transaction: bool,
    from_master: bool,
    epoch: u64,
) -> u64 {
    if cmds.is_empty() {
        return 0;
    }
    let aof_only = cmds.iter().any(|(db, _)| db & AOF_ONLY != 0);
    if server.aof.enabled() {
        if aof_only || cmds.iter().any(|(_, c)| replicas_only(c)) {
            // PUBLISH goes to replicas only; the block stays a transaction when it was
            // one in the stream.
            let kept: Vec<(usize, Vec<Vec<u8>>)> = cmds
                .iter()
                .filter(|(_, c)| !replicas_only(c))
                .map(|(db, c)| (db & !AOF_ONLY, c.clone()))
                .collect();
            if !kept.is_empty() {
                server.aof.append(&kept, transaction, epoch);
            }
        } else {
            server.aof.append(cmds, transaction, epoch);
        }
    }
    if !from_master && server.repl.feeding() {
        if aof_only {
            let kept: Vec<(usize, Vec<Vec<u8>>)> = cmds
                .iter()
                .filter(|(db, _)| db & AOF_ONLY == 0)
                .cloned()
                .collect();
            if kept.is_empty() {
                return 0;
            }
            return server.repl.feed_commands(&kept, transaction);
        }
        return server.repl.feed_commands(cmds, transaction);
    }
    0
}

/// [`propagate`] for one command logged as itself, from its arguments (no owned copy on
/// the way to the append-only file; the replication stream, when fed, gets one).
pub fn propagate_args(
    server: &Server,
    db: usize,
    args: &[&[u8]],
    from_master: bool,
    epoch: u64,
) -> u64 {
    let publish = args
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"publish") || n.eq_ignore_ascii_case(b"spublish"));
    if server.aof.enabled() && !publish {
        server.aof.append_args(db, args, epoch);
    }
    if !from_master && server.repl.feeding() {
        let owned = [(db, args.iter().map(|a| a.to_vec()).collect())];
        return server.repl.feed_commands(&owned, false);
    }
    0
}

/// Set in a propagated command's database index: the command goes to the append-only file
/// only, not to the replication stream (state Redis does not replicate but a reload should
/// restore, as XREADGROUP's read counter).
pub const AOF_ONLY: usize = 1 << (usize::BITS - 1);

/// Commands Redis propagates to replicas but not to the AOF (PUBLISH, SPUBLISH).
fn replicas_only(cmd: &[Vec<u8>]) -> bool {
    cmd.first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"publish") || n.eq_ignore_ascii_case(b"spublish"))
}

/// Keys removed without a command (the active expiry cycle, eviction): propagated as DEL,
/// as Redis does, through [`propagate`]. Call with the keys' shard locked: the epoch read
/// now is the one its deletions went by (one shard, held since), and a DEL is the same
/// whichever side of a rewrite's cut it lands on.
pub fn propagate_deletions(server: &Server, db: usize, keys: &[&[u8]]) {
    if keys.is_empty() || !propagating(server) {
        return;
    }
    let dels: Vec<(usize, Vec<Vec<u8>>)> = keys
        .iter()
        .map(|k| (db, vec![b"DEL".to_vec(), k.to_vec()]))
        .collect();
    let epoch = crate::storage::snapshot::current_epoch();
    propagate(server, &dels, false, false, epoch);
}

/// Periodic work (called by the cron thread every 100 ms): the primary's PING to its
/// replicas every `repl-ping-replica-period` seconds, freeing the backlog after
/// `repl-backlog-ttl` without replicas, dropping replicas that stopped acknowledging.
pub fn cron(server: &Server) {
    let now = crate::util::now_ms();
    let period = server
        .config
        .get("repl-ping-replica-period")
        .parse::<u64>()
        .unwrap_or(10)
        .max(1)
        * 1000;
    let ttl = server
        .config
        .get("repl-backlog-ttl")
        .parse::<u64>()
        .unwrap_or(3600)
        * 1000;
    let timeout = server
        .config
        .get("repl-timeout")
        .parse::<u64>()
        .unwrap_or(60)
        * 1000;
    let repl = &server.repl;
    if let Some(server) = server.arc().filter(|_| repl.failover.pausing()) {
        failover::cron(&server);
    }
    let mut st = repl.state.lock();
    if st.master.is_some() {
        return;
    }
    st.replicas.retain(|r| !r.is_gone());
    if st.replicas.is_empty() {
        if st.backlog.is_some() {
            let since = *st.no_replicas_since.get_or_insert(now);
            if ttl > 0 && now.saturating_sub(since) >= ttl {
                st.backlog = None;
                repl.update_feeding(&st);
            }
        }
        return;
    }
    st.no_replicas_since = None;
    if let Some(size) = st.backlog.as_ref().map(|b| b.size()) {
        let want = backlog_size(server);
        if size != want {
            if let Some(b) = st.backlog.as_mut() {
                b.resize(want);
            }
        }
    }
    for r in &st.replicas {
        if r.is_online() && now.saturating_sub(r.ack_time_ms.load(Ordering::Relaxed)) > timeout {
            tracing::warn!("Disconnecting timedout replica: {}", r.name());
            r.handle.kill();
        }
    }
    if st.last_ping_ms == 0 {
        // Counted from the first replica, as Redis counts cron loops: a replica that just
        // attached does not get a PING first.
        st.last_ping_ms = now;
    }
    // No PING while a failover waits for the target to reach our offset (as Redis).
    if now.saturating_sub(st.last_ping_ms) >= period && !repl.failover.pausing() {
        st.last_ping_ms = now;
        let mut ping = Vec::new();
        crate::persistence::aof::encode_command(&mut ping, &[b"PING".to_vec()]);
        feed_bytes(&mut st, &ping);
    }
}

/// Start replicating the primary named by the `replicaof` parameter, if any (start-up).
pub fn start_from_config(server: &Arc<Server>) {
    let value = server.config.get("replicaof");
    let mut words = value.split_whitespace();
    if let (Some(host), Some(port)) = (words.next(), words.next()) {
        if let Ok(port) = port.parse::<u16>() {
            replica::replicate(server, host.to_string(), port);
        }
    }
}

/// The fields of INFO replication, Redis 7.0's names and order.
pub fn info_fields(server: &Server) -> Vec<(String, String)> {
    let now = crate::util::now_ms();
    // Read before the state lock (the failover's lock comes first).
    let failover_phase = server.repl.failover.phase();
    let st = server.repl.state.lock();
    let mut f: Vec<(String, String)> = Vec::new();
    let mut kv = |k: &str, v: String| f.push((k.to_string(), v));
    if let Some(m) = &st.master {
        kv("role", "slave".into());
        kv("master_host", m.host.clone());
        kv("master_port", m.port.to_string());
        let up = m.link == replica::Link::Connected;
        kv("master_link_status", if up { "up" } else { "down" }.into());
        let io = if m.last_io_ms == 0 {
            -1
        } else {
            (now.saturating_sub(m.last_io_ms) / 1000) as i64
        };
        kv("master_last_io_seconds_ago", io.to_string());
        let syncing = m.link == replica::Link::Transfer;
        kv("master_sync_in_progress", (syncing as u8).to_string());
        kv("slave_read_repl_offset", st.offset.to_string());
        kv("slave_repl_offset", st.offset.to_string());
        if syncing {
            kv("master_sync_total_bytes", m.transfer_size.to_string());
            kv("master_sync_read_bytes", m.transfer_read.to_string());
            kv(
                "master_sync_left_bytes",
                (m.transfer_size - m.transfer_read).to_string(),
            );
            kv("master_sync_perc", "0.00".into());
            kv(
                "master_sync_last_io_seconds_ago",
                (now.saturating_sub(m.last_io_ms) / 1000).to_string(),
            );
        }
        if !up {
            let since = if m.down_since_ms == 0 {
                -1
            } else {
                (now.saturating_sub(m.down_since_ms) / 1000) as i64
            };
            kv("master_link_down_since_seconds", since.to_string());
        }
        kv("slave_priority", server.config.get("replica-priority"));
        let ro = server.config.get("replica-read-only") == "yes";
        kv("slave_read_only", (ro as u8).to_string());
        let announced = server.config.get("replica-announced") == "yes";
        kv("replica_announced", (announced as u8).to_string());
    } else {
        kv("role", "master".into());
    }
    kv("connected_slaves", st.replicas.len().to_string());
    let max_lag_ms = min_replicas_max_lag_ms(server);
    if server.config.min_replicas_to_write() > 0 && max_lag_ms > 0 {
        kv(
            "min_slaves_good_slaves",
            good_replicas(&st, now, max_lag_ms).to_string(),
        );
    }
    for (i, r) in st.replicas.iter().enumerate() {
        kv(
            &format!("slave{}", i),
            format!(
                "ip={},port={},state={},offset={},lag={}",
                r.ip,
                r.port(),
                r.state_name(),
                r.ack_offset.load(Ordering::Relaxed),
                now.saturating_sub(r.ack_time_ms.load(Ordering::Relaxed)) / 1000
            ),
        );
    }
    kv("master_failover_state", failover_phase.name().into());
    kv("master_replid", st.replid.clone());
    kv("master_replid2", st.replid2.clone());
    kv("master_repl_offset", st.offset.to_string());
    kv("second_repl_offset", st.second_offset.to_string());
    match &st.backlog {
        Some(b) => {
            kv("repl_backlog_active", "1".into());
            kv("repl_backlog_size", b.size().to_string());
            kv(
                "repl_backlog_first_byte_offset",
                b.first_byte_offset().to_string(),
            );
            kv("repl_backlog_histlen", b.histlen().to_string());
        }
        None => {
            kv("repl_backlog_active", "0".into());
            kv("repl_backlog_size", backlog_size(server).to_string());
            kv("repl_backlog_first_byte_offset", "0".into());
            kv("repl_backlog_histlen", "0".into());
        }
    }
    f
}

/// On a replica, Redis's refusals before a command runs: writes with `replica-read-only`
/// (READONLY), and everything without the `stale` flag while the link is down with
/// `replica-serve-stale-data no` (MASTERDOWN).
pub fn refused_on_replica(
    server: &Server,
    write: bool,
    stale_denied: bool,
) -> Option<&'static str> {
    if write && server.config.get("replica-read-only") == "yes" {
        return Some("READONLY You can't write against a read only replica.");
    }
    if stale_denied && server.config.get("replica-serve-stale-data") == "no" {
        let up = server
            .repl
            .state
            .lock()
            .master
            .as_ref()
            .is_none_or(|m| m.link == replica::Link::Connected);
        if !up {
            return Some(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            );
        }
    }
    None
}

/// Redis's reply to a write refused by `min-replicas-to-write`.
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// `min-replicas-to-write` / `min-replicas-max-lag`: true when enough online replicas
/// acknowledged within the lag (always true on a replica, as Redis checks masters only).
pub fn enough_good_replicas(server: &Server) -> bool {
    let wanted = server.config.min_replicas_to_write();
    if wanted <= 0 {
        return true;
    }
    let max_lag_ms = min_replicas_max_lag_ms(server);
    let now = crate::util::now_ms();
    let st = server.repl.state.lock();
    if st.master.is_some() {
        return true;
    }
    good_replicas(&st, now, max_lag_ms) as i64 >= wanted
}

/// `min-replicas-max-lag` in milliseconds.
fn min_replicas_max_lag_ms(server: &Server) -> u64 {
    server
        .config
        .get("min-replicas-max-lag")
        .parse::<u64>()
        .unwrap_or(10)
        * 1000
}

/// Online replicas that acknowledged within `max_lag_ms` (INFO `min_slaves_good_slaves`).
fn good_replicas(st: &State, now: u64, max_lag_ms: u64) -> usize {
    st.replicas
        .iter()
        .filter(|r| {
            r.is_online() && now.saturating_sub(r.ack_time_ms.load(Ordering::Relaxed)) <= max_lag_ms
        })
        .count()
}

/// A write command called from a script: refused on a read-only replica (unless the
/// script runs for the primary's stream) and without enough good replicas, as Redis's
/// `scriptVerifyWriteCommandAllow`.
pub fn script_write_refused(server: &Server, from_master: bool) -> Option<&'static str> {
    if from_master {
        return None;
    }
    if crate::storage::expiry::replica_mode() && server.config.get("replica-read-only") == "yes" {
        return Some("READONLY You can't write against a read only replica.");
    }
    if !enough_good_replicas(server) {
        return Some(NOREPLICAS);
    }
    None
}
