//! The primary's side: a connection that sent PSYNC or SYNC becomes a replica link. It
//! gets +CONTINUE and the missing bytes from the backlog, or +FULLRESYNC, an RDB made by
//! the fork-free snapshot, and then every stream byte from its own buffer. It reads
//! REPLCONF ACK from the replica (offset, lag, WAIT).

use std::collections::VecDeque;
use std::io::{BufWriter, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::server::stream::{send, ConnStream};
use parking_lot::{Condvar, Mutex};
use resp::{parse_request, Args, Limits, Parsed, ReplyWriter};
use tokio::io::AsyncReadExt;

use crate::persistence::rdb::RdbWriter;
use crate::server::{Client, ClientHandle, Server};
use crate::storage::shard::Shard;
use crate::storage::snapshot::{self, Sink};
use crate::storage::LockSet;

const WAIT_BGSAVE: u8 = 0;
const SEND_BULK: u8 = 1;
const ONLINE: u8 = 2;

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
    /// `client-output-buffer-limit replica` hard limit (0: none).
    hard_limit: usize,
}

impl ReplicaConn {
    /// Queue stream bytes for this replica (under the replication state lock).
    pub fn push(&self, data: &[u8]) {
        if self.gone.load(Ordering::Relaxed) {
            return;
        }
        let mut b = self.buf.lock();
        b.extend_from_slice(data);
        if self.hard_limit > 0 && b.len() > self.hard_limit {
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
        self.handle.wake.notify_one();
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
}

/// `client-output-buffer-limit`'s hard limit for the replica class.
fn replica_hard_limit(server: &Server) -> usize {
    let text = server.config.get("client-output-buffer-limit");
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .chunks(4)
        .find(|c| c.first().is_some_and(|w| *w == "slave" || *w == "replica"))
        .and_then(|c| c.get(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Serve a connection that sent SYNC (`psync` None) or PSYNC replid offset, until the
/// link ends. The caller flushed the replies before it.
pub async fn serve<S: ConnStream>(
    server: &Arc<Server>,
    client: &mut Client,
    stream: &mut S,
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
        hard_limit: replica_hard_limit(server),
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
        match full_sync(server, &conn, stream, psync.is_some(), eof).await {
            Ok(diskless) => wait_first_ack = diskless,
            Err(()) => {
                detach(server, &conn);
                return;
            }
        }
    }
    conn.state.store(ONLINE, Ordering::Release);
    conn.ack_time_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    stream_to(server, &conn, stream, inbuf, wait_first_ack).await;
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

/// Where a full sync's RDB goes.
enum Output {
    /// A temporary file, sent with its length once complete.
    File(std::path::PathBuf),
    /// Streamed while it is made (`$EOF:<mark>`).
    Pipe(Arc<Pipe>),
}

/// RDB bytes from the snapshot (written by the walker and by commands capturing shards)
/// to the connection sending them.
#[derive(Default)]
pub struct Pipe {
    inner: Mutex<PipeInner>,
    drained: Condvar,
    ready: tokio::sync::Notify,
}

#[derive(Default)]
struct PipeInner {
    chunks: VecDeque<Vec<u8>>,
    bytes: usize,
    done: bool,
    failed: bool,
    reader_gone: bool,
}

/// Bytes the walker lets pile up before it waits for the connection.
const PIPE_HIGH_WATER: usize = 8 << 20;

struct PipeWriter(Arc<Pipe>);

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut p = self.0.inner.lock();
        if p.reader_gone {
            return Err(std::io::Error::other("replica gone"));
        }
        p.bytes += data.len();
        p.chunks.push_back(data.to_vec());
        drop(p);
        self.0.ready.notify_one();
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A snapshot sink writing an RDB to any writer.
struct ReplSink<W: Write + Send> {
    writer: Option<RdbWriter<W>>,
}

impl<W: Write + Send + 'static> Sink for ReplSink<W> {
    fn write_shard(&mut self, db: usize, shard: &Shard) -> std::io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => crate::persistence::save::write_shard_keys(w, db, shard, 0),
            None => Err(std::io::Error::other("RDB already finished")),
        }
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl<W: Write + Send + 'static> ReplSink<W> {
    fn finish(&mut self) -> std::io::Result<()> {
        match self.writer.take() {
            Some(w) => w.finish()?.flush(),
            None => Ok(()),
        }
    }
}

/// A started full sync: the snapshot job, the id and offset to announce, the RDB's way.
type Begun = (Arc<snapshot::Job>, String, u64, Output);

/// Under the barrier: attach the replica, read the id and offset, start the snapshot.
/// None when another snapshot runs (the caller waits and tries again).
fn begin_full_sync(
    server: &Server,
    conn: &Arc<ReplicaConn>,
    diskless: bool,
) -> Result<Option<Begun>, String> {
    let _apply = server.repl.apply.lock();
    let mut locks = LockSet::new(&server.dbs);
    locks.lock_all();
    let opts = crate::persistence::save::save_options(server);
    let (sink, output): (Box<dyn Sink>, Output) = if diskless {
        let pipe = Arc::new(Pipe::default());
        let w = RdbWriter::new(
            BufWriter::with_capacity(64 << 10, PipeWriter(pipe.clone())),
            &opts,
        )
        .map_err(|e| e.to_string())?;
        (Box::new(ReplSink { writer: Some(w) }), Output::Pipe(pipe))
    } else {
        let path = std::path::PathBuf::from(format!(
            "temp-repl-{}-{}.rdb",
            std::process::id(),
            conn.handle.id
        ));
        let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        let w = RdbWriter::new(BufWriter::with_capacity(1 << 20, file), &opts)
            .map_err(|e| e.to_string())?;
        (Box::new(ReplSink { writer: Some(w) }), Output::File(path))
    };
    let Some(job) = snapshot::begin(sink) else {
        if let Output::File(p) = &output {
            let _ = std::fs::remove_file(p);
        }
        return Ok(None);
    };
    let mut st = server.repl.state.lock();
    server.repl.ensure_backlog(server, &mut st);
    // The stream after the RDB starts with a SELECT.
    st.last_db = None;
    conn.buf.lock().clear();
    st.replicas.push(conn.clone());
    st.no_replicas_since = None;
    let id = st.replid.clone();
    let offset = st.offset;
    conn.ack_offset.store(offset, Ordering::Relaxed);
    drop(st);
    drop(locks);
    Ok(Some((job, id, offset, output)))
}

/// Finish the snapshot on a thread of its own (walk the shards no command captured, end
/// the file). Returns whether it worked, through the channel.
fn finish_in_background(
    server: &Arc<Server>,
    job: Arc<snapshot::Job>,
    pipe: Option<Arc<Pipe>>,
) -> tokio::sync::oneshot::Receiver<bool> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = server.clone();
    let spawned = std::thread::Builder::new()
        .name("repl-sync".into())
        .spawn(move || {
            let mut pace = || {
                if let Some(p) = &pipe {
                    let mut g = p.inner.lock();
                    while g.bytes > PIPE_HIGH_WATER && !g.reader_gone {
                        p.drained.wait_for(&mut g, Duration::from_millis(50));
                    }
                }
            };
            snapshot::walk_and_end_paced(&server.dbs, &job, &mut pace);
            let mut ok = job.take_error().is_none();
            {
                let mut sink = job.sink();
                if let Some(s) = sink
                    .as_any()
                    .downcast_mut::<ReplSink<BufWriter<PipeWriter>>>()
                {
                    ok &= s.finish().is_ok();
                } else if let Some(s) = sink
                    .as_any()
                    .downcast_mut::<ReplSink<BufWriter<std::fs::File>>>()
                {
                    ok &= s.finish().is_ok();
                }
            }
            if let Some(p) = &pipe {
                let mut g = p.inner.lock();
                g.done = true;
                g.failed = !ok;
                drop(g);
                p.ready.notify_one();
            }
            let _ = tx.send(ok);
        });
    if spawned.is_err() {
        tracing::warn!("Can't start the replication sync thread");
    }
    rx
}

/// A full sync: +FULLRESYNC (for PSYNC), then the RDB. Returns whether the RDB was sent
/// EOF-marked (diskless).
async fn full_sync<S: ConnStream>(
    server: &Arc<Server>,
    conn: &Arc<ReplicaConn>,
    stream: &mut S,
    psync: bool,
    capa_eof: bool,
) -> Result<bool, ()> {
    let diskless = capa_eof && server.config.get("repl-diskless-sync") == "yes";
    tracing::info!("Replica {} asks for synchronization", conn.name());
    if diskless {
        let delay: u64 = server
            .config
            .get("repl-diskless-sync-delay")
            .parse()
            .unwrap_or(0);
        if delay > 0 {
            tokio::time::sleep(Duration::from_secs(delay)).await;
        }
    }
    let (job, id, offset, output) = loop {
        if conn.handle.is_killed() {
            return Err(());
        }
        if !snapshot::in_progress() {
            match begin_full_sync(server, conn, diskless) {
                Ok(Some(b)) => break b,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("Can't start the replication snapshot: {}", e);
                    return Err(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.repl.sync_full.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        "Starting BGSAVE for SYNC with target: {}",
        if diskless { "replicas sockets" } else { "disk" }
    );
    conn.state.store(SEND_BULK, Ordering::Release);
    // The snapshot must end whatever happens to this replica.
    let pipe = match &output {
        Output::Pipe(p) => Some(p.clone()),
        Output::File(_) => None,
    };
    let done = finish_in_background(server, job, pipe);
    if psync {
        let reply = format!("+FULLRESYNC {} {}\r\n", id, offset);
        if send(stream, reply.as_bytes()).await.is_err() {
            abandon(output);
            return Err(());
        }
    }
    let sent = match output {
        Output::Pipe(p) => send_pipe(server, &p, stream).await,
        Output::File(path) => {
            let ok = done.await.unwrap_or(false);
            let sent = if ok {
                send_file(server, &path, stream).await
            } else {
                Err(())
            };
            let _ = std::fs::remove_file(&path);
            sent
        }
    };
    if sent.is_ok() {
        tracing::info!("Synchronization with replica {} succeeded", conn.name());
    }
    sent.map(|()| diskless)
}

/// Drop what a full sync made when the replica went away before it was sent.
fn abandon(output: Output) {
    match output {
        Output::File(path) => {
            // The snapshot thread finishes writing to the unlinked file.
            let _ = std::fs::remove_file(path);
        }
        Output::Pipe(p) => {
            p.inner.lock().reader_gone = true;
            p.drained.notify_all();
        }
    }
}

/// Send the temporary RDB file as `$<len>\r\n<bytes>`.
async fn send_file<S: ConnStream>(
    server: &Server,
    path: &std::path::Path,
    stream: &mut S,
) -> Result<(), ()> {
    let mut file = std::fs::File::open(path).map_err(|_| ())?;
    let len = file.metadata().map_err(|_| ())?.len();
    send(stream, format!("${}\r\n", len).as_bytes())
        .await
        .map_err(|_| ())?;
    let mut chunk = vec![0u8; 256 << 10];
    loop {
        let n = file.read(&mut chunk).map_err(|_| ())?;
        let Some(data) = chunk.get(..n).filter(|d| !d.is_empty()) else {
            return Ok(());
        };
        send(stream, data).await.map_err(|_| ())?;
        server
            .repl
            .net_output
            .fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Stream the RDB as it is made: `$EOF:<mark>\r\n`, the bytes, the mark.
async fn send_pipe<S: ConnStream>(
    server: &Server,
    pipe: &Arc<Pipe>,
    stream: &mut S,
) -> Result<(), ()> {
    let mark = crate::server::random_hex40();
    let result = async {
        send(stream, format!("$EOF:{}\r\n", mark).as_bytes())
            .await
            .map_err(|_| ())?;
        loop {
            let ready = pipe.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            let (chunks, done, failed) = {
                let mut g = pipe.inner.lock();
                let chunks: Vec<Vec<u8>> = g.chunks.drain(..).collect();
                g.bytes = 0;
                (chunks, g.done, g.failed)
            };
            pipe.drained.notify_all();
            for c in &chunks {
                send(stream, c).await.map_err(|_| ())?;
                server
                    .repl
                    .net_output
                    .fetch_add(c.len() as u64, Ordering::Relaxed);
            }
            if done {
                if failed {
                    return Err(());
                }
                return send(stream, mark.as_bytes()).await.map_err(|_| ());
            }
            if chunks.is_empty() {
                ready.await;
            }
        }
    }
    .await;
    if result.is_err() {
        pipe.inner.lock().reader_gone = true;
        pipe.drained.notify_all();
    }
    result
}

/// Write the replica's stream bytes as they come, and read its acknowledgements.
async fn stream_to<S: ConnStream>(
    server: &Server,
    conn: &Arc<ReplicaConn>,
    stream: &mut S,
    inbuf: &mut Vec<u8>,
    mut wait_first_ack: bool,
) {
    let handle = conn.handle.clone();
    let acked_before = conn.acks.load(Ordering::Acquire);
    // The command loop's wake-up future is still registered on `handle.wake`: a
    // notify_one would go to it, not to this loop, and the first stream bytes would wait
    // for the replica's next ACK (lost if the link is closed meanwhile, as FAILOVER
    // does). Release it; bytes queued before are taken below.
    handle.wake.notify_waiters();
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
            _ = handle.wake.notified() => {}
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
                Some(d) => tokio::time::sleep_until(d).await,
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
pub async fn run_hook<S: ConnStream>(
    server: &Arc<Server>,
    client: &mut Client,
    stream: &mut S,
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
            serve(server, client, stream, inbuf, psync).await;
            false
        }
    }
}
