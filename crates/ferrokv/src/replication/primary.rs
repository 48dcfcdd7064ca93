//! The primary's side: a connection that sent PSYNC or SYNC becomes a replica link. It
//! gets +CONTINUE and the missing bytes from the backlog, or +FULLRESYNC, an RDB made by
//! the fork-free snapshot, and then every stream byte from its own buffer. It reads
//! REPLCONF ACK from the replica (offset, lag, WAIT).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::server::output::Limits as ObufLimits;
use crate::server::stream::{send, ConnStream};
use parking_lot::Mutex;
use resp::{parse_request, Args, Limits, Parsed, ReplyWriter};
use tokio::io::AsyncReadExt;

use crate::server::{Client, ClientHandle, Server};

pub(super) const WAIT_BGSAVE: u8 = 0;
pub(super) const SEND_BULK: u8 = 1;
pub(super) const ONLINE: u8 = 2;

/// A replica attached to this server.
#[derive(Debug)]
pub struct ReplicaConn {
    /// Its connection (CLIENT LIST / KILL).
    pub handle: Arc<ClientHandle>,
    /// Address it is reachable at (`ip-address` or the peer's).
    pub ip: String,
    port: u16,
    state: AtomicU8,
    /// Stream bytes not yet written to it.
    buf: Mutex<Vec<u8>>,
    /// Last acknowledged offset.
    pub ack_offset: AtomicU64,
    /// When it last acknowledged (Unix ms).
    pub ack_time_ms: AtomicU64,
    /// Acknowledgements received.
    acks: AtomicU64,
    gone: AtomicBool,
    /// `client-output-buffer-limit replica` (hard, soft and its seconds) when the link
    /// started; the time above the soft limit is kept in `handle`.
    limits: ObufLimits,
}

impl ReplicaConn {
    /// Queue stream bytes for this replica (under the replication state lock).
    pub fn push(&self, data: &[u8]) {
        if self.gone.load(Ordering::Relaxed) {
            return;
        }
        let mut b = self.buf.lock();
        b.extend_from_slice(data);
        // The replica class's hard limit, or its soft limit for longer than its seconds
        // (Redis's checkClientOutputBufferLimits for a replica link).
        if crate::server::output::over_limits(&self.handle, b.len() as u64, self.limits) {
            b.clear();
            b.shrink_to_fit();
            drop(b);
            tracing::warn!(
                "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.name()
            );
            self.gone.store(true, Ordering::Relaxed);
            self.handle.kill();
            return;
        }
        drop(b);
        self.handle.notify();
    }

    /// `ip:port` for log lines.
    pub fn name(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// The port it listens on (REPLCONF listening-port).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True once the RDB was sent.
    pub fn is_online(&self) -> bool {
        self.state.load(Ordering::Acquire) == ONLINE
    }

    /// True once the link ended.
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    /// INFO's state name.
    pub fn state_name(&self) -> &'static str {
        match self.state.load(Ordering::Acquire) {
            WAIT_BGSAVE => "wait_bgsave",
            SEND_BULK => "send_bulk",
            _ => "online",
        }
    }

    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buf.lock())
    }

    /// Set the INFO state (WAIT_BGSAVE, SEND_BULK, ONLINE).
    pub(super) fn set_state(&self, state: u8) {
        self.state.store(state, Ordering::Release);
    }

    /// Start the stream at the full sync's barrier: nothing queued yet. (Under the state
    /// lock, with the replica being attached.)
    pub(super) fn start_stream_at(&self, offset: u64) {
        self.buf.lock().clear();
        self.ack_offset.store(offset, Ordering::Relaxed);
    }

    /// Join `other`'s full sync: its queued stream bytes (everything since the sync's
    /// barrier, as it has not started sending) become ours. Under the state lock.
    pub(super) fn copy_stream_of(&self, other: &ReplicaConn) {
        let queued = other.buf.lock().clone();
        *self.buf.lock() = queued;
        self.ack_offset
            .store(other.ack_offset.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// The connection's one wake-up future (see `server/connection.rs`) and the handle it
/// belongs to: stream bytes queued for the replica and CLIENT KILL arrive through it.
pub type Wake<'a, 'b, 'h> = (
    &'h ClientHandle,
    &'a mut std::pin::Pin<&'b mut tokio::sync::futures::Notified<'h>>,
);

/// Serve a connection that sent SYNC (`psync` None) or PSYNC replid offset, until the
/// link ends. The caller flushed the replies before it.
pub async fn serve<'h, S: ConnStream>(
    server: &Arc<Server>,
    client: &mut Client,
    (stream, wake): (&mut S, Wake<'_, '_, 'h>),
    inbuf: &mut Vec<u8>,
    psync: Option<(Vec<u8>, Vec<u8>)>,
) {
    let conf = client.repl_conf.clone();
    let ip = conf.ip.clone().unwrap_or_else(|| {
        let addr = &client.handle.addr;
        addr.rsplit_once(':')
            .map(|(h, _)| h.trim_matches(|c| c == '[' || c == ']').to_string())
            .unwrap_or_default()
    });
    let link_down = server
        .repl
        .state
        .lock()
        .master
        .as_ref()
        .is_some_and(|m| m.link != super::replica::Link::Connected);
    {
        if link_down {
            let _ = send(
                stream,
                b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n",
            )
            .await;
            return;
        }
    }
    client.handle.info.lock().flags = "S".into();
    let conn = Arc::new(ReplicaConn {
        handle: client.handle.clone(),
        ip,
        port: conf.port,
        state: AtomicU8::new(WAIT_BGSAVE),
        buf: Mutex::new(Vec::new()),
        ack_offset: AtomicU64::new(0),
        ack_time_ms: AtomicU64::new(crate::util::now_ms()),
        acks: AtomicU64::new(0),
        gone: AtomicBool::new(false),
        limits: ObufLimits::of_class(server, crate::config::OBUF_REPLICA),
    });
    let mut continued = false;
    // After an EOF-marked RDB the replica cannot tell the mark from stream bytes that
    // follow it in the same read: the stream starts at its first ACK (as Redis's
    // repl_start_cmd_stream_on_ack).
    let mut wait_first_ack = false;
    if let Some((id, offset)) = &psync {
        match try_partial(server, &conn, id, offset) {
            Some(reply) => {
                let reply = if conf.capa_psync2 {
                    format!("+CONTINUE {}\r\n", reply)
                } else {
                    "+CONTINUE\r\n".to_string()
                };
                if send(stream, reply.as_bytes()).await.is_err() {
                    detach(server, &conn);
                    return;
                }
                server.repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    "Partial resynchronization request from {} accepted.",
                    conn.name()
                );
                continued = true;
            }
            None => {
                if id.as_slice() != b"?" {
                    server.repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    if !continued {
        let eof = conf.capa_eof && psync.is_some();
        match super::fullsync::full_sync(server, &conn, stream, psync.is_some(), eof).await {
            Ok(diskless) => wait_first_ack = diskless,
            Err(()) => {
                detach(server, &conn);
                return;
            }
        }
    }
    conn.set_state(ONLINE);
    conn.ack_time_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    stream_to(server, &conn, (stream, wake), inbuf, wait_first_ack).await;
    detach(server, &conn);
}

/// Remove a replica whose link ended.
fn detach(server: &Server, conn: &Arc<ReplicaConn>) {
    conn.gone.store(true, Ordering::Relaxed);
    let mut st = server.repl.state.lock();
    st.replicas.retain(|r| !Arc::ptr_eq(r, conn));
    if st.replicas.is_empty() {
        st.no_replicas_since = Some(crate::util::now_ms());
    }
    drop(st);
    tracing::info!("Connection with replica {} lost.", conn.name());
}

/// PSYNC: when `id` is our id (or the previous one, up to where it was valid) and the
/// backlog holds everything from `offset`, attach the replica with the missing bytes
/// queued and return the id to answer +CONTINUE with.
fn try_partial(
    server: &Server,
    conn: &Arc<ReplicaConn>,
    id: &[u8],
    offset: &[u8],
) -> Option<String> {
    let offset: i64 = std::str::from_utf8(offset).ok()?.parse().ok()?;
    let mut st = server.repl.state.lock();
    let id = std::str::from_utf8(id).ok()?;
    let known = id == st.replid || (id == st.replid2 && offset <= st.second_offset);
    if !known || offset < 0 {
        return None;
    }
    let missing = st.backlog.as_ref()?.since(offset as u64)?;
    conn.buf.lock().extend_from_slice(&missing);
    conn.ack_offset
        .store((offset as u64).saturating_sub(1), Ordering::Relaxed);
    st.replicas.push(conn.clone());
    st.no_replicas_since = None;
    Some(st.replid.clone())
}

/// Write the replica's stream bytes as they come, and read its acknowledgements.
///
/// It waits on the connection's own wake-up future, not on a new `handle.wake.notified()`:
/// the connection's future stays registered with the `Notify` for the connection's life,
/// and `notify_one` wakes the oldest registered waiter, so a second waiter would miss every
/// wake-up the first one swallowed (the stream to a SYNC client then stalled until the next
/// write, depending on whether the connection had waited before its SYNC arrived).
async fn stream_to<'h, S: ConnStream>(
    server: &Server,
    conn: &Arc<ReplicaConn>,
    (stream, (handle, wake)): (&mut S, Wake<'_, '_, 'h>),
    inbuf: &mut Vec<u8>,
    mut wait_first_ack: bool,
) {
    let acked_before = conn.acks.load(Ordering::Acquire);
    loop {
        if handle.is_killed() || conn.is_gone() {
            return;
        }
        if wait_first_ack && conn.acks.load(Ordering::Acquire) != acked_before {
            wait_first_ack = false;
        }
        let data = if wait_first_ack {
            Vec::new()
        } else {
            conn.take()
        };
        if !data.is_empty() {
            if send(stream, &data).await.is_err() {
                return;
            }
            server
                .repl
                .net_output
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            server
                .stats
                .net_output_bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            continue;
        }
        tokio::select! {
            r = stream.read_buf(inbuf) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => read_acks(server, conn, inbuf),
            },
            _ = &mut *wake => {
                wake.set(handle.wake.notified());
            }
        }
    }
}

/// Apply the REPLCONF ACKs (and ignore anything else) a replica sent.
fn read_acks(server: &Server, conn: &ReplicaConn, inbuf: &mut Vec<u8>) {
    let limits = Limits {
        authenticated: true,
        ..Limits::default()
    };
    let mut ranges = Vec::new();
    let mut start = 0usize;
    loop {
        let buf = inbuf.get(start..).unwrap_or_default();
        match parse_request(buf, &limits, &mut ranges) {
            Ok(Parsed::Request { args, consumed }) => {
                let argv: Vec<&[u8]> = match &args {
                    Args::Ranges => ranges
                        .iter()
                        .map(|r| buf.get(r.clone()).unwrap_or(&[]))
                        .collect(),
                    Args::Owned(v) => v.iter().map(|a| a.as_slice()).collect(),
                };
                apply_ack(server, conn, &argv);
                start += consumed;
            }
            Ok(Parsed::Incomplete) => break,
            Err(_) => {
                conn.handle.kill();
                break;
            }
        }
    }
    inbuf.drain(..start.min(inbuf.len()));
}

fn apply_ack(server: &Server, conn: &ReplicaConn, argv: &[&[u8]]) {
    let is = |i: usize, w: &[u8]| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(w));
    if !(is(0, b"replconf") && is(1, b"ack")) {
        return;
    }
    let Some(offset) = argv
        .get(2)
        .and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return;
    };
    conn.ack_offset.fetch_max(offset, Ordering::AcqRel);
    conn.acks.fetch_add(1, Ordering::AcqRel);
    conn.ack_time_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    server.repl.acked.notify_waiters();
}

/// WAIT: ask replicas for their offsets (REPLCONF GETACK *) and wait until `replicas` of
/// them acknowledged `offset`, or the timeout. Returns how many did.
pub async fn wait(server: &Server, replicas: u64, offset: u64, timeout_ms: u64) -> i64 {
    let deadline = (timeout_ms > 0)
        .then(|| tokio::time::Instant::now().checked_add(Duration::from_millis(timeout_ms)))
        .flatten();
    let mut asked = false;
    loop {
        let acked = server.repl.acked.notified();
        tokio::pin!(acked);
        acked.as_mut().enable();
        let n = server.repl.acked_at_least(offset);
        if n >= replicas {
            return n as i64;
        }
        if !asked {
            asked = true;
            if server.repl.feeding() {
                let mut getack = Vec::new();
                crate::persistence::aof::encode_command(
                    &mut getack,
                    &[b"REPLCONF".to_vec(), b"GETACK".to_vec(), b"*".to_vec()],
                );
                server.repl.feed_raw(&getack);
            }
        }
        let sleep = async {
            match deadline {
                Some(d) => crate::server::timer::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = acked => {}
            _ = sleep => return server.repl.acked_at_least(offset) as i64,
        }
    }
}

/// Run what a replication command left for its connection. Returns false when the
/// connection must close (it was a replica link).
pub async fn run_hook<'h, S: ConnStream>(
    server: &Arc<Server>,
    client: &mut Client,
    (stream, wake): (&mut S, Wake<'_, '_, 'h>),
    inbuf: &mut Vec<u8>,
    out: &mut ReplyWriter,
    hook: super::Hook,
) -> bool {
    match hook {
        super::Hook::Wait {
            replicas,
            offset,
            timeout_ms,
        } => {
            let n = wait(server, replicas, offset, timeout_ms).await;
            out.int(n);
            true
        }
        super::Hook::Sync(psync) => {
            if !out.buf.is_empty() {
                if send(stream, &out.buf).await.is_err() {
                    return false;
                }
                out.buf.clear();
            }
            serve(server, client, (stream, wake), inbuf, psync).await;
            false
        }
    }
}
