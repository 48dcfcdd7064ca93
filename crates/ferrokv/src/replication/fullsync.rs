//! Full syncs, shared by the replicas that ask for one at about the same time (Redis's
//! "attach to the running BGSAVE for replication"), made by the fork-free snapshot.
//!
//! **Disk** (`repl-diskless-sync no`, or a replica without `capa eof`): the first replica
//! starts a snapshot into a temporary RDB file under the barrier. Until the file is
//! complete the sync stays joinable: a replica asking meanwhile gets the same replication
//! id and offset and a copy of a member's queued stream (every byte since the barrier; no
//! member sends anything before the file is complete), and the file is sent to each member
//! once written. The file is removed when the last member is done with it.
//!
//! **Diskless** (`repl-diskless-sync yes` and `capa eof`): the first replica opens a
//! gathering of `repl-diskless-sync-delay` seconds (cut short once
//! `repl-diskless-sync-max-replicas` replicas wait, when set); every replica that asks
//! meanwhile joins it, and one snapshot then streams to all of them, each through its own
//! queue of the same chunks (the walker waits for the slowest, so memory stays bounded). A
//! replica asking once the stream started waits for the next sync, as in Redis.
//!
//! Only one snapshot runs at a time (BGSAVE, AOF rewrite, a sync): a sync that can neither
//! join nor start waits for the slot.

use std::collections::VecDeque;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::primary::{ReplicaConn, SEND_BULK};
use crate::persistence::rdb::RdbWriter;
use crate::server::stream::{send, ConnStream};
use crate::server::Server;
use crate::storage::snapshot::{self, ShardImage, Sink};
use crate::storage::LockSet;

/// Bytes the walker lets pile up for the slowest diskless reader before it waits.
const PIPE_HIGH_WATER: usize = 8 << 20;

/// How often a waiting sync looks again (the snapshot slot, the end of a gathering).
const POLL: Duration = Duration::from_millis(20);

/// A full sync shared by its members.
pub struct SyncJob {
    diskless: bool,
    /// Diskless: when the gathering ends (the sync starts earlier with enough replicas).
    start_at: Instant,
    inner: Mutex<JobInner>,
}

#[derive(Default)]
struct JobInner {
    /// Replicas in this sync (gathering, or attached at the barrier / joined later).
    members: Vec<Arc<ReplicaConn>>,
    /// Once started: the id and offset announced, and each member's way to its RDB.
    started: Option<(String, u64)>,
    /// Disk: the file and the news of its completion, for members joining later.
    file: Option<(Arc<TempRdb>, tokio::sync::watch::Receiver<Option<bool>>)>,
    /// Diskless: each member's queue of the RDB stream, taken by its connection.
    readers: Vec<(Arc<ReplicaConn>, Arc<PipeReader>)>,
    /// The start failed: members give up.
    failed: bool,
}

/// What a member's connection sends: the id and offset (+FULLRESYNC), then its RDB.
struct Ticket {
    id: String,
    offset: u64,
    rdb: Rdb,
}

enum Rdb {
    /// A temporary file, sent with its length once complete.
    File(Arc<TempRdb>, tokio::sync::watch::Receiver<Option<bool>>),
    /// Streamed while it is made (`$EOF:<mark>`).
    Pipe(Arc<PipeReader>),
}

/// A temporary RDB file, removed when the last holder drops it.
struct TempRdb(PathBuf);

impl Drop for TempRdb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The joinable syncs of this server (lock order: replication state, then this, then a
/// job's own lock).
#[derive(Default)]
pub struct SyncSlot(Mutex<Slots>);

#[derive(Default)]
struct Slots {
    /// A sync to a file that is not complete yet.
    disk: Option<Arc<SyncJob>>,
    /// A diskless sync gathering its replicas.
    gathering: Option<Arc<SyncJob>>,
}

// ---------------------------------------------------------------------------------------
// The diskless RDB stream: one writer, a queue per reader

/// Wakes the walker when a reader drained its queue.
#[derive(Default)]
struct Pacer {
    lock: Mutex<()>,
    drained: Condvar,
}

/// One member's queue of the RDB stream.
pub struct PipeReader {
    queue: Mutex<ReaderQueue>,
    ready: tokio::sync::Notify,
    pacer: Arc<Pacer>,
}

#[derive(Default)]
struct ReaderQueue {
    chunks: VecDeque<Arc<Vec<u8>>>,
    bytes: usize,
    done: bool,
    failed: bool,
    gone: bool,
}

impl PipeReader {
    fn new(pacer: Arc<Pacer>) -> Arc<PipeReader> {
        Arc::new(PipeReader {
            queue: Mutex::new(ReaderQueue::default()),
            ready: tokio::sync::Notify::new(),
            pacer,
        })
    }

    /// The reader went away: the writer stops feeding it (and the walker stops waiting).
    fn leave(&self) {
        let mut q = self.queue.lock();
        q.gone = true;
        q.chunks.clear();
        q.bytes = 0;
        drop(q);
        self.pacer.drained.notify_all();
    }

    fn end(&self, ok: bool) {
        let mut q = self.queue.lock();
        q.done = true;
        q.failed = !ok;
        drop(q);
        self.ready.notify_one();
    }
}

/// The snapshot's writer for a diskless sync: each chunk goes to every reader still there.
struct FanoutWriter(Vec<Arc<PipeReader>>);

impl Write for FanoutWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let chunk = Arc::new(data.to_vec());
        let mut anyone = false;
        for r in &self.0 {
            let mut q = r.queue.lock();
            if q.gone {
                continue;
            }
            anyone = true;
            q.bytes += chunk.len();
            q.chunks.push_back(chunk.clone());
            drop(q);
            r.ready.notify_one();
        }
        if anyone {
            Ok(data.len())
        } else {
            Err(std::io::Error::other("every replica is gone"))
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A snapshot sink writing an RDB to any writer.
struct ReplSink<W: Write + Send> {
    writer: Option<RdbWriter<W>>,
    key_delay_us: u64,
}

impl<W: Write + Send + 'static> Sink for ReplSink<W> {
    fn write_shard(&mut self, db: usize, image: &ShardImage<'_>) -> std::io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => crate::persistence::save::write_shard_keys(w, db, image, self.key_delay_us),
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

// ---------------------------------------------------------------------------------------
// Joining or starting a sync

/// A member's way out of a sync it belonged to (its connection ended or failed).
fn leave(job: &SyncJob, conn: &Arc<ReplicaConn>) {
    let mut inner = job.inner.lock();
    inner.members.retain(|m| !Arc::ptr_eq(m, conn));
    if let Some(pos) = inner.readers.iter().position(|(m, _)| Arc::ptr_eq(m, conn)) {
        let (_, reader) = inner.readers.swap_remove(pos);
        reader.leave();
    }
}

/// Disk: join the running sync to a file when there is one with a member still waiting
/// for it. Under the state lock, so the copied stream and the attachment agree.
fn join_disk_sync(server: &Server, conn: &Arc<ReplicaConn>) -> Option<(Arc<SyncJob>, Ticket)> {
    let mut st = server.repl.state.lock();
    let job = server.repl.sync_slot.0.lock().disk.clone()?;
    let mut inner = job.inner.lock();
    let (id, offset) = inner.started.clone()?;
    let (file, done) = inner.file.clone()?;
    let source = inner.members.iter().find(|m| !m.is_gone())?.clone();
    conn.copy_stream_of(&source);
    inner.members.push(conn.clone());
    drop(inner);
    st.replicas.push(conn.clone());
    st.no_replicas_since = None;
    drop(st);
    tracing::info!("Waiting for end of BGSAVE for SYNC");
    let ticket = Ticket {
        id,
        offset,
        rdb: Rdb::File(file, done),
    };
    Some((job, ticket))
}

/// Diskless: join the gathering sync, or open one. Returns the job.
fn gather(server: &Server, conn: &Arc<ReplicaConn>) -> Arc<SyncJob> {
    let mut slot = server.repl.sync_slot.0.lock();
    if let Some(job) = &slot.gathering {
        let mut inner = job.inner.lock();
        if inner.started.is_none() && !inner.failed {
            inner.members.push(conn.clone());
            return job.clone();
        }
    }
    let delay: u64 = server
        .config
        .get("repl-diskless-sync-delay")
        .parse()
        .unwrap_or(0);
    let job = Arc::new(SyncJob {
        diskless: true,
        start_at: Instant::now() + Duration::from_secs(delay),
        inner: Mutex::new(JobInner {
            members: vec![conn.clone()],
            ..JobInner::default()
        }),
    });
    if delay > 0 {
        tracing::info!("Delay next BGSAVE for diskless SYNC");
    }
    slot.gathering = Some(job.clone());
    job
}

/// True when a gathering should start now: its delay ran out, or enough replicas wait.
fn gathering_over(server: &Server, job: &SyncJob) -> bool {
    let max: usize = server
        .config
        .get("repl-diskless-sync-max-replicas")
        .parse()
        .unwrap_or(0);
    let waiting = job.inner.lock().members.len();
    Instant::now() >= job.start_at || (max > 0 && waiting >= max)
}

/// Under the barrier (every shard locked, then the replication state, the slots and the
/// job held throughout, so nobody joins halfway): start the snapshot for `job`, attach its
/// live members with their streams starting at the current offset. Ok(false) when another
/// snapshot runs (try again later).
fn start(server: &Arc<Server>, job: &Arc<SyncJob>) -> Result<bool, String> {
    let _apply = server.repl.apply.lock();
    let mut locks = LockSet::new(&server.dbs);
    locks.lock_all();
    let mut st = server.repl.state.lock();
    let mut slot = server.repl.sync_slot.0.lock();
    let mut inner = job.inner.lock();
    if inner.started.is_some() {
        // Another member started it meanwhile.
        return Ok(true);
    }
    let members: Vec<Arc<ReplicaConn>> = inner
        .members
        .iter()
        .filter(|m| !m.is_gone() && !m.handle.is_killed())
        .cloned()
        .collect();
    if members.is_empty() {
        return Err("every replica left".into());
    }
    let opts = crate::persistence::save::save_options(server);
    let key_delay_us = server.config.get("rdb-key-save-delay").parse().unwrap_or(0);
    let (sink, file, readers): (Box<dyn Sink>, _, _) = if job.diskless {
        let pacer = Arc::new(Pacer::default());
        let readers: Vec<Arc<PipeReader>> = members
            .iter()
            .map(|_| PipeReader::new(pacer.clone()))
            .collect();
        let w = RdbWriter::new(
            BufWriter::with_capacity(64 << 10, FanoutWriter(readers.clone())),
            &opts,
        )
        .map_err(|e| e.to_string())?;
        let sink = ReplSink {
            writer: Some(w),
            key_delay_us,
        };
        (Box::new(sink), None, readers)
    } else {
        let path = PathBuf::from(format!(
            "temp-repl-{}-{}.rdb",
            std::process::id(),
            members.first().map(|m| m.handle.id).unwrap_or_default()
        ));
        let f = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        let temp = Arc::new(TempRdb(path));
        let w = RdbWriter::new(BufWriter::with_capacity(1 << 20, f), &opts)
            .map_err(|e| e.to_string())?;
        let sink = ReplSink {
            writer: Some(w),
            key_delay_us,
        };
        (Box::new(sink), Some(temp), Vec::new())
    };
    let Some(snap) = snapshot::begin(sink) else {
        return Ok(false);
    };
    server.repl.ensure_backlog(server, &mut st);
    // The stream after the RDB starts with a SELECT.
    st.last_db = None;
    let id = st.replid.clone();
    let offset = st.offset;
    for m in &members {
        m.start_stream_at(offset);
        st.replicas.push(m.clone());
    }
    st.no_replicas_since = None;
    let (tx, rx) = tokio::sync::watch::channel(None);
    inner.started = Some((id, offset));
    inner.members = members.clone();
    inner.readers = members
        .iter()
        .cloned()
        .zip(readers.iter().cloned())
        .collect();
    if let Some(f) = &file {
        inner.file = Some((f.clone(), rx));
    }
    drop(inner);
    if job.diskless {
        // Nobody joins a stream that started.
        if slot.gathering.as_ref().is_some_and(|j| Arc::ptr_eq(j, job)) {
            slot.gathering = None;
        }
    } else {
        slot.disk = Some(job.clone());
    }
    drop(slot);
    drop(st);
    drop(locks);
    tracing::info!(
        "Starting BGSAVE for SYNC with target: {}",
        if job.diskless {
            "replicas sockets"
        } else {
            "disk"
        }
    );
    finish_in_background(server, job.clone(), snap, file, readers, tx);
    Ok(true)
}

/// Finish the snapshot on a thread of its own (walk the shards no command captured, end
/// the file), then tell the members: the file is complete (and no longer joinable), or
/// the stream ended.
fn finish_in_background(
    server: &Arc<Server>,
    job: Arc<SyncJob>,
    snap: Arc<snapshot::Job>,
    file: Option<Arc<TempRdb>>,
    readers: Vec<Arc<PipeReader>>,
    done: tokio::sync::watch::Sender<Option<bool>>,
) {
    let server = server.clone();
    let spawned = std::thread::Builder::new()
        .name("repl-sync".into())
        .spawn(move || {
            let pacer = readers.first().map(|r| r.pacer.clone());
            let mut pace = || {
                let Some(p) = &pacer else {
                    return;
                };
                let mut g = p.lock.lock();
                while readers
                    .iter()
                    .map(|r| r.queue.lock().bytes)
                    .max()
                    .unwrap_or(0)
                    > PIPE_HIGH_WATER
                {
                    p.drained.wait_for(&mut g, Duration::from_millis(50));
                }
            };
            snapshot::walk_and_end_paced(&server.dbs, &snap, &mut pace, &mut || {});
            let mut ok = snap.take_error().is_none();
            {
                let mut sink = snap.sink();
                if let Some(s) = sink
                    .as_any()
                    .downcast_mut::<ReplSink<BufWriter<FanoutWriter>>>()
                {
                    ok &= s.finish().is_ok();
                } else if let Some(s) = sink
                    .as_any()
                    .downcast_mut::<ReplSink<BufWriter<std::fs::File>>>()
                {
                    ok &= s.finish().is_ok();
                }
            }
            for r in &readers {
                r.end(ok);
            }
            // The file is complete: from now on members start sending it (and draining
            // their streams), so nobody may join by copying one.
            {
                let _st = server.repl.state.lock();
                let mut slot = server.repl.sync_slot.0.lock();
                if slot.disk.as_ref().is_some_and(|j| Arc::ptr_eq(j, &job)) {
                    slot.disk = None;
                }
            }
            drop(file);
            let _ = done.send(Some(ok));
        });
    if spawned.is_err() {
        tracing::warn!("Can't start the replication sync thread");
    }
}

/// Wait for this replica's place in a full sync (joined or started). Err when the replica
/// went away or the sync could not start.
async fn ticket(
    server: &Arc<Server>,
    conn: &Arc<ReplicaConn>,
    diskless: bool,
) -> Result<(Arc<SyncJob>, Ticket), ()> {
    let gathering = diskless.then(|| gather(server, conn));
    loop {
        if conn.handle.is_killed() {
            if let Some(job) = &gathering {
                leave(job, conn);
            }
            return Err(());
        }
        match &gathering {
            None => {
                if let Some(joined) = join_disk_sync(server, conn) {
                    return Ok(joined);
                }
                if !snapshot::in_progress() {
                    let job = Arc::new(SyncJob {
                        diskless: false,
                        start_at: Instant::now(),
                        inner: Mutex::new(JobInner {
                            members: vec![conn.clone()],
                            ..JobInner::default()
                        }),
                    });
                    match start(server, &job) {
                        Ok(true) => {
                            if let Some(t) = take_ticket(&job, conn)? {
                                return Ok((job, t));
                            }
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!("Can't start the replication snapshot: {}", e);
                            return Err(());
                        }
                    }
                }
            }
            Some(job) => {
                if let Some(t) = take_ticket(job, conn)? {
                    return Ok((job.clone(), t));
                }
                let unstarted = job.inner.lock().started.is_none();
                if unstarted && gathering_over(server, job) && !snapshot::in_progress() {
                    if let Err(e) = start(server, job) {
                        tracing::warn!("Can't start the replication snapshot: {}", e);
                        job.inner.lock().failed = true;
                    }
                    continue;
                }
            }
        }
        crate::server::timer::sleep(POLL).await;
    }
}

/// This member's ticket, once its sync started (None: not yet; Err: it failed).
fn take_ticket(job: &SyncJob, conn: &Arc<ReplicaConn>) -> Result<Option<Ticket>, ()> {
    let inner = job.inner.lock();
    if inner.failed {
        return Err(());
    }
    let Some((id, offset)) = inner.started.clone() else {
        return Ok(None);
    };
    if !inner.members.iter().any(|m| Arc::ptr_eq(m, conn)) {
        // Started without us (we were gone at the barrier).
        return Err(());
    }
    let rdb = if let Some((file, done)) = &inner.file {
        Rdb::File(file.clone(), done.clone())
    } else {
        let reader = inner
            .readers
            .iter()
            .find(|(m, _)| Arc::ptr_eq(m, conn))
            .map(|(_, r)| r.clone())
            .ok_or(())?;
        Rdb::Pipe(reader)
    };
    Ok(Some(Ticket { id, offset, rdb }))
}

/// A full sync: +FULLRESYNC (for PSYNC), then the RDB. Returns whether the RDB was sent
/// EOF-marked (diskless).
pub async fn full_sync<S: ConnStream>(
    server: &Arc<Server>,
    conn: &Arc<ReplicaConn>,
    stream: &mut S,
    psync: bool,
    capa_eof: bool,
) -> Result<bool, ()> {
    let diskless = capa_eof && server.config.get("repl-diskless-sync") == "yes";
    tracing::info!("Replica {} asks for synchronization", conn.name());
    let (job, ticket) = ticket(server, conn, diskless).await?;
    server.repl.sync_full.fetch_add(1, Ordering::Relaxed);
    let sent = send_rdb(server, conn, stream, psync, ticket).await;
    if sent.is_err() {
        leave(&job, conn);
    } else {
        tracing::info!("Synchronization with replica {} succeeded", conn.name());
    }
    sent.map(|()| diskless)
}

async fn send_rdb<S: ConnStream>(
    server: &Server,
    conn: &ReplicaConn,
    stream: &mut S,
    psync: bool,
    ticket: Ticket,
) -> Result<(), ()> {
    if psync {
        let reply = format!("+FULLRESYNC {} {}\r\n", ticket.id, ticket.offset);
        send(stream, reply.as_bytes()).await.map_err(|_| ())?;
    }
    match ticket.rdb {
        Rdb::Pipe(reader) => send_pipe(server, &reader, stream).await,
        Rdb::File(file, mut done) => {
            let ok = matches!(
                done.wait_for(|v| v.is_some()).await.map(|v| *v),
                Ok(Some(true))
            );
            if !ok {
                return Err(());
            }
            conn.set_state(SEND_BULK);
            send_file(server, &file.0, stream).await
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
    reader: &Arc<PipeReader>,
    stream: &mut S,
) -> Result<(), ()> {
    let mark = crate::server::random_hex40();
    let result = async {
        send(stream, format!("$EOF:{}\r\n", mark).as_bytes())
            .await
            .map_err(|_| ())?;
        loop {
            let ready = reader.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            let (chunks, done, failed) = {
                let mut q = reader.queue.lock();
                let chunks: Vec<Arc<Vec<u8>>> = q.chunks.drain(..).collect();
                q.bytes = 0;
                (chunks, q.done, q.failed)
            };
            reader.pacer.drained.notify_all();
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
        reader.leave();
    }
    result
}
