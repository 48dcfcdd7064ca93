//! AOF rewrite (BGREWRITEAOF and the automatic one): compact the log into a new base file
//! without stopping clients and without fork().
//!
//! 1. A new incremental file is created and the manifest lists it after the current files
//!    (persisted before anything is written to it). Then a snapshot starts
//!    (`storage::snapshot`), with no shard locked, and logging switches to the new file by
//!    the snapshot's epoch: commands that read it log there, commands already running
//!    (an older epoch: they are in the snapshot) finish logging to the old file (see
//!    `persistence::aof`, "The cut of an AOF rewrite").
//! 2. In the background the snapshot writes the dataset as of its epoch into a temporary
//!    base file, as commands; clients keep running and their writes go to the new file.
//!    Once the walker has passed every shard, the old file gets nothing more and is fsynced.
//! 3. The base is fsynced and renamed, and the manifest becomes {new base, new incr}
//!    (atomically); the old files are deleted.
//!
//! A crash at any point leaves a manifest that lists everything needed: before step 3 the
//! old base and increments plus the new increment, after it the new base and increment.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::aof::{encode_command, open_for_append, sync_dir, AofFile};
use crate::server::Server;
use crate::storage::snapshot::{self, ShardImage, Sink};
use crate::storage::ValueRef;

/// The error when an AOF rewrite is already running (Redis's text).
const REWRITE_RUNNING: &str = "ERR Background append only file rewriting already in progress";

/// Why step 1 did not start a snapshot: another one (a full sync's) began meanwhile.
const SNAPSHOT_BUSY: &str = "Another snapshot is in progress";

/// Commands per RPUSH/SADD/ZADD/HSET in a rewritten file (Redis's
/// AOF_REWRITE_ITEMS_PER_CMD), so a huge collection does not become one huge command.
const ITEMS_PER_CMD: usize = 64;

/// State of the rewrite machinery (INFO persistence).
#[derive(Default)]
pub struct RewriteState {
    /// A rewrite is running.
    pub in_progress: AtomicBool,
    /// Completed rewrites.
    pub count: AtomicU64,
    /// The last one failed.
    pub last_failed: AtomicBool,
    /// Duration of the last one in seconds (-1: none yet).
    pub last_secs: AtomicU64,
}

/// The commands that recreate one key: the value in batches, then its deadline.
pub fn key_commands(key: &[u8], value: ValueRef<'_>, expire_at: u64, out: &mut Vec<u8>) {
    let mut batch = |name: &[u8], items: &mut dyn Iterator<Item = Vec<Vec<u8>>>| {
        let mut cmd: Vec<Vec<u8>> = vec![name.to_vec(), key.to_vec()];
        let mut n = 0;
        for group in items {
            cmd.extend(group);
            n += 1;
            if n == ITEMS_PER_CMD {
                encode_command(out, &cmd);
                cmd.truncate(2);
                n = 0;
            }
        }
        if n > 0 {
            encode_command(out, &cmd);
        }
    };
    match value {
        ValueRef::Str(s) => encode_command(out, &[b"SET".to_vec(), key.to_vec(), s.to_vec()]),
        ValueRef::List(l) => {
            let mut items = Vec::with_capacity(l.len());
            l.for_each(|e| items.push(vec![e.to_vec()]));
            batch(b"RPUSH", &mut items.into_iter());
        }
        ValueRef::Set(s) => {
            let mut items = Vec::with_capacity(s.len());
            s.for_each(|e| items.push(vec![e.to_vec()]));
            batch(b"SADD", &mut items.into_iter());
        }
        ValueRef::ZSet(z) => {
            let mut items = Vec::with_capacity(z.len());
            z.for_each(|m, score| {
                items.push(vec![resp::format_double(score).into_bytes(), m.to_vec()])
            });
            batch(b"ZADD", &mut items.into_iter());
        }
        ValueRef::Hash(h) => {
            let items: Vec<Vec<Vec<u8>>> = h
                .iter()
                .map(|(f, v)| vec![f.to_vec(), v.to_vec()])
                .collect();
            batch(b"HSET", &mut items.into_iter());
        }
        ValueRef::Stream(s) => {
            for cmd in stream_commands(key, s) {
                encode_command(out, &cmd);
            }
        }
    }
    if expire_at != 0 {
        encode_command(
            out,
            &[
                b"PEXPIREAT".to_vec(),
                key.to_vec(),
                expire_at.to_string().into_bytes(),
            ],
        );
    }
}

/// The commands that recreate a stream, as Redis's `rewriteStreamObject`: an XADD per
/// entry (or `XADD key MAXLEN 0 0-1 x y` for an empty stream), XSETID with the counters,
/// then per group XGROUP CREATE ... ENTRIESREAD, and per consumer XGROUP CREATECONSUMER
/// (no pending entries) or one XCLAIM ... TIME RETRYCOUNT JUSTID FORCE per pending entry.
pub fn stream_commands(key: &[u8], s: &crate::storage::stream::Stream) -> Vec<Vec<Vec<u8>>> {
    use crate::storage::stream::StreamId;
    let b = |x: &[u8]| x.to_vec();
    let id = |i: StreamId| i.to_bytes();
    let mut cmds = Vec::new();
    if s.length > 0 {
        for e in s.range(StreamId::MIN, StreamId::MAX, false) {
            let mut cmd = vec![b(b"XADD"), b(key), id(e.id)];
            for (f, v) in &e.fields {
                cmd.push(b(f));
                cmd.push(b(v));
            }
            cmds.push(cmd);
        }
    } else {
        cmds.push(vec![
            b(b"XADD"),
            b(key),
            b(b"MAXLEN"),
            b(b"0"),
            b(b"0-1"),
            b(b"x"),
            b(b"y"),
        ]);
    }
    cmds.push(vec![
        b(b"XSETID"),
        b(key),
        id(s.last_id),
        b(b"ENTRIESADDED"),
        s.entries_added.to_string().into_bytes(),
        b(b"MAXDELETEDID"),
        id(s.max_deleted_entry_id),
    ]);
    for (name, g) in &s.groups {
        cmds.push(vec![
            b(b"XGROUP"),
            b(b"CREATE"),
            b(key),
            b(name),
            id(g.last_id),
            b(b"ENTRIESREAD"),
            g.entries_read.to_string().into_bytes(),
        ]);
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                cmds.push(vec![
                    b(b"XGROUP"),
                    b(b"CREATECONSUMER"),
                    b(key),
                    b(name),
                    b(cname),
                ]);
                continue;
            }
            for pid in &c.pel {
                let Some(p) = g.pel.get(pid) else { continue };
                cmds.push(vec![
                    b(b"XCLAIM"),
                    b(key),
                    b(name),
                    b(cname),
                    b(b"0"),
                    id(*pid),
                    b(b"TIME"),
                    p.delivery_time.to_string().into_bytes(),
                    b(b"RETRYCOUNT"),
                    p.delivery_count.to_string().into_bytes(),
                    b(b"JUSTID"),
                    b(b"FORCE"),
                ]);
            }
        }
    }
    cmds
}

/// A snapshot sink that writes an AOF base file: SELECT, then each key's commands.
pub struct AofBaseSink {
    out: File,
    buf: Vec<u8>,
    key_delay_us: u64,
}

impl AofBaseSink {
    /// Write to `file`, starting with a FUNCTION LOAD per library (`functions`: their
    /// codes), so the keys' commands replay with the libraries in place, as Redis's rewrite.
    pub fn new(file: File, functions: &[std::sync::Arc<[u8]>]) -> AofBaseSink {
        let mut buf = Vec::new();
        for code in functions {
            encode_command(
                &mut buf,
                &[b"FUNCTION".to_vec(), b"LOAD".to_vec(), code.to_vec()],
            );
        }
        AofBaseSink {
            out: file,
            buf,
            key_delay_us: 0,
        }
    }

    /// Sleep this many microseconds after each key (`rdb-key-save-delay`, which Redis's
    /// rewrite honours too; for tests that need a slow snapshot).
    pub fn with_key_delay(mut self, micros: u64) -> AofBaseSink {
        self.key_delay_us = micros;
        self
    }

    /// Flush and fsync.
    pub fn finish(&mut self) -> std::io::Result<()> {
        // The libraries are still buffered when the dataset was empty.
        self.drain_buf()?;
        self.out.sync_all()
    }

    /// Write what was encoded to the file.
    fn drain_buf(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        if self.buf.capacity() > 4 << 20 {
            self.buf.shrink_to(1 << 20);
        }
        Ok(())
    }
}

impl Sink for AofBaseSink {
    fn write_shard(&mut self, db: usize, image: &ShardImage<'_>) -> std::io::Result<()> {
        encode_command(
            &mut self.buf,
            &[b"SELECT".to_vec(), db.to_string().into_bytes()],
        );
        let (buf, delay) = (&mut self.buf, self.key_delay_us);
        image.for_each(|key, value, expire_at| {
            key_commands(key, value, expire_at, buf);
            if delay > 0 {
                std::thread::sleep(std::time::Duration::from_micros(delay));
            }
            Ok::<(), std::io::Error>(())
        })
    }

    fn drain(&mut self) -> std::io::Result<()> {
        self.drain_buf()
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Start a background rewrite: `Ok(true)` when started, `Ok(false)` when scheduled for
/// after the running BGSAVE. Errors when the AOF is off or a rewrite is running.
pub fn start(server: &Arc<Server>) -> Result<bool, String> {
    start_inner(server, false)
}

/// BGREWRITEAOF inside EXEC: the rewrite starts from the cron once the transaction is over
/// (Redis schedules it too). Errors when one is running already.
pub fn schedule(server: &Server) -> Result<(), String> {
    if server.aof_rewrite.in_progress.load(Ordering::Acquire) {
        return Err(REWRITE_RUNNING.into());
    }
    server
        .saving
        .rewrite_scheduled
        .store(true, Ordering::Release);
    Ok(())
}

/// CONFIG SET appendonly yes on a server running without the log: start logging now and
/// write the dataset as the base in the background, as Redis does with a rewrite.
pub fn enable_at_runtime(server: &Arc<Server>) -> Result<bool, String> {
    if server.aof.enabled() {
        return Ok(true);
    }
    start_inner(server, true)
}

fn start_inner(server: &Arc<Server>, enabling: bool) -> Result<bool, String> {
    // With the log off, BGREWRITEAOF still writes the dataset as a new base file with a
    // manifest naming only it, as Redis 7 does (DEBUG LOADAOF or a start with appendonly
    // yes then load it).
    let off = !server.aof.enabled() && !enabling;
    if server.aof_rewrite.in_progress.load(Ordering::Acquire) {
        return Err(REWRITE_RUNNING.into());
    }
    if server.saving.in_progress.load(Ordering::Acquire) || snapshot::in_progress() {
        server
            .saving
            .rewrite_scheduled
            .store(true, Ordering::Release);
        return Ok(false);
    }
    if server.aof_rewrite.in_progress.swap(true, Ordering::AcqRel) {
        return Err(REWRITE_RUNNING.into());
    }
    // Turning the log on starts logging before CONFIG SET replies. A rewrite starts on its
    // own thread: preparing the files fsyncs twice (the new incremental file, the
    // manifest), tens of milliseconds on a slow disk that this worker's other clients
    // would wait for; a failure there is logged and shown in INFO
    // (aof_last_bgrewrite_status), as a failure later in the rewrite is.
    let begun = if enabling {
        match begin(server, enabling, off) {
            Ok(b) => Some(b),
            Err(e) => {
                server
                    .aof_rewrite
                    .in_progress
                    .store(false, Ordering::Release);
                return Err(format!("ERR {}", e));
            }
        }
    } else {
        None
    };
    let worker = server.clone();
    let spawned = std::thread::Builder::new()
        .name("aof-rewrite".into())
        .spawn(move || run(&worker, begun, enabling, off));
    if let Err(e) = spawned {
        server
            .aof_rewrite
            .in_progress
            .store(false, Ordering::Release);
        return Err(format!("ERR Can't start the AOF rewrite thread: {}", e));
    }
    Ok(true)
}

/// The rewrite thread: step 1 unless it was done already (`begun`), then steps 2 and 3,
/// and the outcome in INFO.
fn run(server: &Arc<Server>, begun: Option<Begun>, enabling: bool, off: bool) {
    let started = std::time::Instant::now();
    let rw = &server.aof_rewrite;
    let result = match begun.map_or_else(|| begin(server, enabling, off), Ok) {
        Ok((job, dir, seq, temp)) => {
            let result = finish(server, &job, &dir, seq, &temp, off);
            if result.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            result
        }
        Err(e) if e == SNAPSHOT_BUSY => {
            // Tried again from the cron once that snapshot is over (as after a BGSAVE).
            server
                .saving
                .rewrite_scheduled
                .store(true, Ordering::Release);
            rw.in_progress.store(false, Ordering::Release);
            return;
        }
        Err(e) => Err(format!("starting: {}", e)),
    };
    rw.last_secs
        .store(started.elapsed().as_secs(), Ordering::Relaxed);
    match result {
        Ok(()) => {
            rw.count.fetch_add(1, Ordering::Relaxed);
            rw.last_failed.store(false, Ordering::Relaxed);
            tracing::info!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            rw.last_failed.store(true, Ordering::Relaxed);
            tracing::warn!("Background AOF rewrite failed: {}", e);
        }
    }
    rw.in_progress.store(false, Ordering::Release);
}

type Begun = (Arc<snapshot::Job>, PathBuf, u64, PathBuf);

/// Step 1. The files are prepared first (creating and fsyncing a file, writing the
/// manifest: the disk may take tens of milliseconds); then the snapshot begins and, as its
/// epoch starts, logging switches to the new incremental file by epoch (or starts, with
/// `enabling`). No shard is locked: each command reads the epoch once it holds its own
/// locks, so it is wholly in the snapshot (and logs to the old file) or wholly after it
/// (and logs to the new one). Scripts and FUNCTION changes are kept out while it starts,
/// as for BGSAVE (a script may lock shards after it read its epoch; the libraries go into the
/// base). The manifest names the new incremental file after the old ones before anything
/// is written to it, so a crash at any point leaves a manifest that lists everything
/// needed. With `enabling` (CONFIG SET appendonly yes on a server that runs without the
/// log) the manifest names the new file only once its base is complete. With `off` (the
/// log is off and stays off) there is no incremental file: only a new base.
fn begin(server: &Arc<Server>, enabling: bool, off: bool) -> Result<Begun, String> {
    // Lock order: the layout, then the script mutex (nothing takes the layout under a
    // shard lock or the script mutex).
    let mut layout = server.aof.layout.lock();
    if enabling || off {
        layout.dir = PathBuf::from(server.config.get("appenddirname"));
        layout.prefix = server.config.get("appendfilename");
        std::fs::create_dir_all(&layout.dir)
            .map_err(|e| format!("Can't create {}: {}", layout.dir.display(), e))?;
        // A manifest left from an earlier run is superseded (its files are deleted once
        // the new base is complete).
        layout.manifest = std::fs::read_to_string(layout.manifest_path())
            .ok()
            .and_then(|t| super::aof::Manifest::parse(&t).ok())
            .unwrap_or_default();
    }
    let dir = layout.dir.clone();
    let seq = layout
        .manifest
        .base
        .iter()
        .chain(layout.manifest.incrs.iter())
        .map(|f| f.seq)
        .max()
        .unwrap_or(0)
        + 1;
    let incr = if off {
        None
    } else {
        Some(prepare_incremental_file(&mut layout, &dir, seq, enabling)?)
    };
    let temp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let base =
        File::create(&temp).map_err(|e| format!("Can't create {}: {}", temp.display(), e))?;
    // Held only from here: the files above took the disk's time.
    let no_script = server.scripts.acquire(&|| false);
    let sink = AofBaseSink::new(base, &crate::scripting::functions::codes(server))
        .with_key_delay(super::save::key_delay(server, "rdb-key-save-delay"));

    let policy = super::aof::Fsync::from_name(&server.config.get("appendfsync"));
    let mut incr = incr;
    let job = snapshot::begin_then(Box::new(sink), &mut |epoch| {
        if let Some(file) = incr.take() {
            server.aof.begin_split(file, epoch, policy);
        }
    });
    let Some(job) = job else {
        // Nothing was logged to the new file: it leaves the manifest again.
        if incr.is_some() && !enabling {
            layout.manifest.incrs.retain(|f| f.seq != seq);
            let _ = layout.save_manifest();
        }
        let _ = std::fs::remove_file(&temp);
        return Err(SNAPSHOT_BUSY.into());
    };
    if enabling {
        server.aof.ensure_writer();
    }
    drop(layout);
    drop(no_script);
    Ok((job, dir, seq, temp))
}

/// A new incremental file `seq` for the log from the barrier on, created and fsynced,
/// and (unless `enabling`) named in the manifest after the files before it, so the
/// manifest never names a file that is not on disk.
fn prepare_incremental_file(
    layout: &mut super::aof::Layout,
    dir: &std::path::Path,
    seq: u64,
    enabling: bool,
) -> Result<File, String> {
    let incr = AofFile {
        name: format!("{}.{}.incr.aof", layout.prefix, seq),
        seq,
        kind: 'i',
    };
    let (file, _) = open_for_append(&dir.join(&incr.name))
        .map_err(|e| format!("Can't create {}: {}", incr.name, e))?;
    file.sync_all()
        .map_err(|e| format!("Can't fsync {}: {}", incr.name, e))?;
    layout.manifest.incrs.push(incr);
    if !enabling {
        if let Err(e) = layout.save_manifest() {
            layout.manifest.incrs.pop();
            return Err(format!("Can't write the AOF manifest: {}", e));
        }
    }
    Ok(file)
}

/// Steps 2 and 3, in the background.
fn finish(
    server: &Arc<Server>,
    job: &Arc<snapshot::Job>,
    dir: &std::path::Path,
    seq: u64,
    temp: &std::path::Path,
    off: bool,
) -> Result<(), String> {
    // The walk runs whatever happens: it is what ends the snapshot, and the old file's
    // share of the log with it (before the epoch ends: see `Aof::end_split`). The old
    // file's tail is fsynced here rather than on a client's worker (any sync of the log
    // before this one does it first too).
    snapshot::walk_and_end_then(&server.dbs, job, &mut || server.aof.end_split());
    server
        .aof
        .sync_retired()
        .map_err(|e| format!("Can't fsync the old AOF file: {}", e))?;
    if let Some(e) = job.take_error() {
        return Err(format!("writing the new base: {}", e));
    }
    {
        let mut sink = job.sink();
        let base = sink
            .as_any()
            .downcast_mut::<AofBaseSink>()
            .ok_or("unexpected snapshot sink")?;
        base.finish()
            .map_err(|e| format!("fsync of the new base: {}", e))?;
    }
    let mut layout = server.aof.layout.lock();
    let base = AofFile {
        name: format!("{}.{}.base.aof", layout.prefix, seq),
        seq,
        kind: 'b',
    };
    std::fs::rename(temp, dir.join(&base.name))
        .map_err(|e| format!("renaming the new base: {}", e))?;
    sync_dir(dir).map_err(|e| format!("fsync of {}: {}", dir.display(), e))?;
    let old: Vec<AofFile> = layout
        .manifest
        .base
        .iter()
        .chain(layout.manifest.incrs.iter())
        .filter(|f| f.seq != seq || f.kind == 'b')
        .cloned()
        .collect();
    let incrs = if off {
        Vec::new()
    } else {
        vec![layout
            .manifest
            .incrs
            .iter()
            .find(|f| f.seq == seq)
            .cloned()
            .ok_or("the new incremental file is missing from the manifest")?]
    };
    let previous = layout.manifest.clone();
    layout.manifest.base = Some(base.clone());
    layout.manifest.incrs = incrs;
    if let Err(e) = layout.save_manifest() {
        layout.manifest = previous;
        return Err(format!("Can't write the AOF manifest: {}", e));
    }
    let base_size = std::fs::metadata(dir.join(&base.name)).map_or(0, |m| m.len());
    server.aof.base_size.store(base_size, Ordering::Relaxed);
    server.aof.forget_retired();
    drop(layout);
    for f in old {
        if f.name != base.name {
            let _ = std::fs::remove_file(dir.join(&f.name));
        }
    }
    Ok(())
}

/// Start a rewrite when the log has grown past `auto-aof-rewrite-percentage` of its size
/// after the last rewrite and past `auto-aof-rewrite-min-size` (called periodically).
pub fn maybe_auto_rewrite(server: &Arc<Server>) {
    if server.aof_rewrite.in_progress.load(Ordering::Relaxed) {
        return;
    }
    if server.saving.in_progress.load(Ordering::Relaxed) || snapshot::in_progress() {
        return;
    }
    // A scheduled rewrite runs with the log off too (BGREWRITEAOF then writes a base).
    if server
        .saving
        .rewrite_scheduled
        .swap(false, Ordering::AcqRel)
    {
        if let Err(e) = start(server) {
            tracing::warn!("Scheduled AOF rewrite not started: {}", e);
        }
        return;
    }
    if !server.aof.enabled() {
        return;
    }
    let pct: u64 = server
        .config
        .get("auto-aof-rewrite-percentage")
        .parse()
        .unwrap_or(0);
    let min: u64 = server
        .config
        .get("auto-aof-rewrite-min-size")
        .parse()
        .unwrap_or(u64::MAX);
    if pct == 0 {
        return;
    }
    let base = server.aof.base_size.load(Ordering::Relaxed);
    let total = base + server.aof.current_size.load(Ordering::Relaxed);
    let growth = (total * 100 / base.max(1)).saturating_sub(100);
    if total > min && growth >= pct {
        tracing::info!("Starting automatic rewriting of AOF on {}% growth", growth);
        if let Err(e) = start(server) {
            tracing::warn!("Automatic AOF rewrite not started: {}", e);
        }
    }
}
