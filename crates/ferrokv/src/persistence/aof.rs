//! The append-only file, in Redis 7's multi-part layout: `appendonlydir/` holds a base
//! file, incremental files and a manifest naming them (`appendonly.aof.manifest`), so
//! Redis 7 can load what ferrokv writes and the other way round.
//!
//! Writes are logged while their shard locks are held (so the log's order is the order in
//! which writes to the same keys took effect), in deterministic form (the dispatcher and
//! the handlers choose it: EXPIRE as PEXPIREAT, expired keys as DEL, ...). Appending only
//! copies bytes into a buffer; one writer thread writes the buffer out and fsyncs by
//! policy. With `appendfsync always`, connections hold their replies until the fsync
//! covering everything appended before them has finished: one fsync serves every client
//! waiting at that moment (group commit).
//!
//! **The cut of an AOF rewrite** is by snapshot epoch, not at one moment (no command is
//! stopped for it). The rewrite's snapshot starts epoch E ([`Aof::begin_split`] runs as it
//! starts); a command reads the epoch once it holds its shard locks and logs while it still
//! holds them. One that read an older epoch is wholly in the new base (the walker takes
//! its shards after it), so it logs to the old file, which the base replaces; one that read
//! E is not in the base (its keys' pre-images are), so it logs to the new file. The two
//! shares are written in append order to their two files ([`OldLog`]). Once the walker has
//! passed every shard no command of an older epoch can still be running, and the old
//! file's share ends ([`Aof::end_split`]) before the epoch does (a command that reads 0
//! after the snapshot logs to the new file).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// fsync before replying to the writes it covers.
    Always,
    /// fsync once a second.
    EverySec,
    /// Leave it to the kernel.
    No,
}

impl Fsync {
    /// From the config value.
    pub fn from_name(name: &str) -> Fsync {
        match name {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// One file named by the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    /// File name inside the AOF directory.
    pub name: String,
    /// Sequence number.
    pub seq: u64,
    /// `b` base, `i` incremental, `h` history.
    pub kind: char,
}

/// The manifest: a base file and the incremental files after it, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The base (an RDB or AOF snapshot), if any.
    pub base: Option<AofFile>,
    /// Incremental files, oldest first.
    pub incrs: Vec<AofFile>,
}

impl Manifest {
    /// Parse Redis 7's manifest format: `file <name> seq <n> type <b|i|h>` per line.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = split_words(line).ok_or(format!("line {}: bad quoting", n + 1))?;
            let mut name = None;
            let mut seq = None;
            let mut kind = None;
            for pair in words.chunks(2) {
                match pair {
                    [k, v] if k == "file" => name = Some(v.clone()),
                    [k, v] if k == "seq" => seq = v.parse::<u64>().ok(),
                    [k, v] if k == "type" => kind = v.chars().next(),
                    [_, _] => {}
                    _ => return Err(format!("line {}: odd number of words", n + 1)),
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(format!("line {}: missing file, seq or type", n + 1));
            };
            if name.contains('/') {
                return Err(format!("line {}: file name with a path", n + 1));
            }
            let f = AofFile { name, seq, kind };
            match kind {
                'b' => m.base = Some(f),
                'i' => m.incrs.push(f),
                'h' => {}
                _ => return Err(format!("line {}: unknown file type '{}'", n + 1, kind)),
            }
        }
        Ok(m)
    }

    /// The manifest's text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for f in self.base.iter().chain(self.incrs.iter()) {
            s.push_str(&format!(
                "file {} seq {} type {}\n",
                quote(&f.name),
                f.seq,
                f.kind
            ));
        }
        s
    }
}

/// Split on spaces, honouring double quotes (file names are quoted when they need it).
fn split_words(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => word.push(chars.next()?),
                    ch => word.push(ch),
                }
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch == ' ' {
                    break;
                }
                word.push(ch);
                chars.next();
            }
        }
        out.push(word);
    }
}

fn quote(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Append one command in RESP (what the file holds).
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    // One reservation for the whole command (each argument's header is at most 24 bytes),
    // and lengths formatted on the stack: this runs for every logged write.
    let payload: usize = args.iter().map(|a| a.as_ref().len() + 24).sum();
    out.reserve(payload + 24);
    let mut digits = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(digits.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(digits.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Encode commands (database, arguments) as the append-only file and the replication
/// stream both carry them: SELECT when the database differs from `last_db`, and with
/// `transaction` and more than one command, one MULTI/EXEC block. Both consumers call this
/// one function, so they hold the same bytes for the same writes.
pub fn encode_block(
    buf: &mut Vec<u8>,
    last_db: &mut Option<usize>,
    cmds: &[(usize, Vec<Vec<u8>>)],
    transaction: bool,
) {
    let wrap = transaction && cmds.len() > 1;
    let mut first = true;
    for (db, args) in cmds {
        if *last_db != Some(*db) {
            let select = [b"SELECT".to_vec(), db.to_string().into_bytes()];
            encode_command(buf, &select);
            *last_db = Some(*db);
        }
        if wrap && first {
            encode_command(buf, &[b"MULTI".to_vec()]);
        }
        first = false;
        encode_command(buf, args);
    }
    if wrap {
        encode_command(buf, &[b"EXEC".to_vec()]);
    }
}

struct Pending {
    /// Bytes appended and not yet handed to the writer thread.
    buf: Vec<u8>,
    /// Database of the last logged command (a SELECT is logged when it changes).
    last_db: Option<usize>,
    /// While an AOF rewrite's snapshot runs: the old file's share of the log.
    old: Option<Box<OldLog>>,
}

impl Pending {
    /// The buffer (and its database state) that a command which read snapshot epoch
    /// `epoch` logs to: the old file's share for an epoch older than the rewrite's.
    #[inline]
    fn target(&mut self, epoch: u64) -> (&mut Vec<u8>, &mut Option<usize>) {
        match self.old.as_deref_mut() {
            Some(old) if old.routing && old.epoch != epoch => (&mut old.buf, &mut old.last_db),
            _ => (&mut self.buf, &mut self.last_db),
        }
    }
}

/// The log of commands that were running when an AOF rewrite started (they read an
/// epoch older than the rewrite's snapshot): they are in the new base, so they go to the
/// file logging switched away from, never to the new one, or a reload would apply them
/// twice (see the module documentation).
struct OldLog {
    /// The rewrite's epoch: commands that read it log to the new file.
    epoch: u64,
    /// Bytes for the old file not yet handed to the writer.
    buf: Vec<u8>,
    /// Database of the last command logged to the old file.
    last_db: Option<usize>,
    /// Commands are still routed here (until the walker has passed every shard); then
    /// the share lives on only until its last bytes are written.
    routing: bool,
}

/// The file logging switched away from (AOF rewrite).
#[derive(Default)]
struct Retired {
    /// The old incremental file until it is fsynced and its share has ended; `None`
    /// while the log is being turned on (the old share is dropped: its commands are in
    /// the new base and there was no log before).
    file: Option<File>,
    /// Bytes of the old share a failed write left, written first next time.
    unwritten: Vec<u8>,
    /// The old share still exists (a sync keeps the file).
    open: bool,
}

/// The append-only file of a running server.
pub struct Aof {
    pending: Mutex<Pending>,
    /// Held while writing out and fsyncing (one group commit at a time).
    sync_lock: Mutex<()>,
    /// The log thread runs.
    writer_started: AtomicBool,
    enabled: AtomicBool,
    fsync: AtomicU8,
    /// Total bytes appended since start.
    appended: AtomicU64,
    /// Total bytes written to the file and fsynced (with `always`), or written (with
    /// `everysec` and `no`, whose replies do not wait).
    durable: AtomicU64,
    /// Total bytes written to the file (not necessarily fsynced).
    written: AtomicU64,
    /// Bytes a failed write left over, written first next time.
    retry: Mutex<Vec<u8>>,
    /// Woken after every step of `durable`.
    pub durable_notify: tokio::sync::Notify,
    /// The last write failed (writes are refused with MISCONF until one succeeds).
    write_failed: AtomicBool,
    /// The error of the last failed write.
    pub last_error: Mutex<String>,
    /// The incremental file being appended to.
    file: Mutex<Option<File>>,
    /// The file logging switched away from (AOF rewrite) until it is fsynced and its
    /// share has ended: every sync fsyncs it before the current file, so `durable` never
    /// covers its unsynced tail.
    retired: Mutex<Retired>,
    /// The directory and the manifest.
    pub layout: Mutex<Layout>,
    /// Size of the current incremental file (INFO aof_current_size).
    pub current_size: AtomicU64,
    /// Size of the base file (INFO aof_base_size).
    pub base_size: AtomicU64,
    /// fsyncs of the log so far (INFO aof_fsyncs).
    pub fsyncs: AtomicU64,
}

/// Where the files are.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// `appenddirname` inside `dir`.
    pub dir: PathBuf,
    /// `appendfilename`: the prefix of every file name.
    pub prefix: String,
    /// The current manifest.
    pub manifest: Manifest,
}

impl Layout {
    /// Path of the manifest.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(format!("{}.manifest", self.prefix))
    }

    /// Write the manifest atomically (temporary file, fsync, rename, fsync the directory):
    /// a crash leaves either the old or the new manifest, never a torn one.
    pub fn save_manifest(&self) -> std::io::Result<()> {
        let tmp = self.dir.join(format!("temp-{}.manifest", self.prefix));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(self.manifest.to_text().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.manifest_path())?;
        sync_dir(&self.dir)
    }
}

/// fsync a directory, so a rename or a new file in it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Default for Aof {
    fn default() -> Self {
        Aof {
            pending: Mutex::new(Pending {
                buf: Vec::new(),
                last_db: None,
                old: None,
            }),
            sync_lock: Mutex::new(()),
            writer_started: AtomicBool::new(false),
            enabled: AtomicBool::new(false),
            fsync: AtomicU8::new(1),
            appended: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            written: AtomicU64::new(0),
            retry: Mutex::new(Vec::new()),
            durable_notify: tokio::sync::Notify::new(),
            write_failed: AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
            file: Mutex::new(None),
            retired: Mutex::new(Retired::default()),
            layout: Mutex::new(Layout::default()),
            current_size: AtomicU64::new(0),
            base_size: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
        }
    }
}

impl Aof {
    /// True while writes are being logged.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// The fsync policy.
    pub fn fsync(&self) -> Fsync {
        match self.fsync.load(Ordering::Relaxed) {
            0 => Fsync::Always,
            2 => Fsync::No,
            _ => Fsync::EverySec,
        }
    }

    /// Change the fsync policy (CONFIG SET appendfsync).
    pub fn set_fsync(&self, policy: Fsync) {
        let v = match policy {
            Fsync::Always => 0,
            Fsync::EverySec => 1,
            Fsync::No => 2,
        };
        self.fsync.store(v, Ordering::Relaxed);
    }

    /// True when the last write to the file failed (MISCONF for writes).
    pub fn write_failed(&self) -> bool {
        self.write_failed.load(Ordering::Relaxed)
    }

    /// Bytes appended so far.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// Bytes durable so far (see the field).
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Log commands (database, arguments) in order; with `transaction` and more than one
    /// command, as one MULTI/EXEC block so a reload applies all or nothing. `epoch`: the
    /// snapshot epoch the commands read (it picks the file while a rewrite starts).
    /// Returns the log offset after them.
    pub fn append(&self, cmds: &[(usize, Vec<Vec<u8>>)], transaction: bool, epoch: u64) -> u64 {
        let mut p = self.pending.lock();
        let (buf, last_db) = p.target(epoch);
        let before = buf.len();
        encode_block(buf, last_db, cmds, transaction);
        let added = (buf.len() - before) as u64;
        let end = self.appended.fetch_add(added, Ordering::AcqRel) + added;
        drop(p);
        end
    }

    /// [`Aof::append`] for one command given by its arguments (not in a transaction).
    pub fn append_args(&self, db: usize, args: &[&[u8]], epoch: u64) -> u64 {
        let mut p = self.pending.lock();
        let (buf, last_db) = p.target(epoch);
        let before = buf.len();
        if *last_db != Some(db) {
            let mut digits = itoa::Buffer::new();
            encode_command(buf, &[b"SELECT".as_slice(), digits.format(db).as_bytes()]);
            *last_db = Some(db);
        }
        encode_command(buf, args);
        let added = (buf.len() - before) as u64;
        let end = self.appended.fetch_add(added, Ordering::AcqRel) + added;
        drop(p);
        end
    }

    /// Start logging to `file` (the open incremental file, positioned at its end).
    pub fn start(&self, file: File, size: u64, policy: Fsync) {
        *self.file.lock() = Some(file);
        self.current_size.store(size, Ordering::Relaxed);
        self.set_fsync(policy);
        self.pending.lock().last_db = None;
        self.enabled.store(true, Ordering::Release);
    }

    /// Start the log thread once (at start-up, or when CONFIG SET turns the log on).
    pub fn ensure_writer(self: &Arc<Self>) {
        if !self.writer_started.swap(true, Ordering::AcqRel) {
            let aof = self.clone();
            let _ = std::thread::Builder::new()
                .name("aof-writer".into())
                .spawn(move || aof.run_writer());
        }
    }

    /// Stop logging (CONFIG SET appendonly no): what was appended is still written out.
    pub fn stop(&self) {
        if self.enabled.swap(false, Ordering::AcqRel) {
            self.flush_all();
            self.durable_notify.notify_waiters();
        }
    }

    /// Write out and fsync everything appended so far (shutdown).
    pub fn flush_all(&self) {
        self.write_pending();
        if self.write_failed() {
            tracing::warn!("Error writing to the AOF file at shutdown");
        }
        let _ = self.sync_retired();
        if let Some(f) = self.file.lock().as_mut() {
            let _ = f.sync_data();
        }
    }

    /// Write everything appended so far to the file (no fsync), in append order: the file
    /// lock is taken before the buffer, so concurrent callers cannot reorder chunks.
    /// Returns the log offset now written. Bytes a failed write could not write stay queued
    /// (a short write is continued, never repeated) and MISCONF starts; it ends with the
    /// next successful write.
    pub fn write_pending(&self) -> u64 {
        let mut file = self.file.lock();
        let (mut data, old, end) = {
            let mut p = self.pending.lock();
            let old = p
                .old
                .as_deref_mut()
                .map(|o| (std::mem::take(&mut o.buf), !o.routing));
            (
                std::mem::take(&mut p.buf),
                old,
                self.appended.load(Ordering::Acquire),
            )
        };
        // The old file's share first (a rewrite is starting): its bytes are older than or
        // independent of the new file's, and `written` covers both files.
        let mut all_out = true;
        if let Some((bytes, ended)) = old {
            all_out = self.write_retired(bytes);
            if all_out && ended {
                self.pending.lock().old = None;
                self.retired.lock().open = false;
            }
        }
        let mut retry = self.retry.lock();
        if data.is_empty() && retry.is_empty() {
            self.recycle(data);
            if all_out {
                return self.written.fetch_max(end, Ordering::AcqRel).max(end);
            }
            return self.written.load(Ordering::Acquire);
        }
        // The queue to write is `retry` (what a failed write left first, then the new
        // bytes). When it is empty the buffers trade places instead of copying, and the
        // emptied one goes back to `pending`: appends then never regrow a buffer from zero.
        if retry.is_empty() {
            std::mem::swap(&mut *retry, &mut data);
        } else {
            retry.extend_from_slice(&data);
            data.clear();
        }
        self.recycle(data);
        let Some(f) = file.as_mut() else {
            return self.written.load(Ordering::Acquire);
        };
        match write_some(f, &mut retry) {
            Ok(n) => {
                self.current_size.fetch_add(n as u64, Ordering::Relaxed);
                if !all_out {
                    return self.written.load(Ordering::Acquire);
                }
                self.written.store(end, Ordering::Release);
                if self.write_failed.swap(false, Ordering::Relaxed) {
                    tracing::warn!("AOF write error looks solved. Redis can write again.");
                }
                end
            }
            Err((n, e)) => {
                self.current_size.fetch_add(n as u64, Ordering::Relaxed);
                self.write_error(&e);
                self.written.load(Ordering::Acquire)
            }
        }
    }

    /// A write to the log failed: MISCONF for writes until one succeeds.
    #[cold]
    fn write_error(&self, e: &std::io::Error) {
        if !self.write_failed.swap(true, Ordering::Relaxed) {
            tracing::warn!("Error writing to the AOF file: {}", e);
        }
        *self.last_error.lock() = strerror(e);
    }

    /// Write the old file's share (after what a failed write left of it). True when
    /// nothing of it is left unwritten. Called with the file lock held. Out of line: only
    /// while a rewrite starts (it kept `write_some` out of the hot path's line).
    #[cold]
    #[inline(never)]
    fn write_retired(&self, bytes: Vec<u8>) -> bool {
        let mut retired = self.retired.lock();
        let Retired {
            file, unwritten, ..
        } = &mut *retired;
        let Some(f) = file.as_mut() else {
            // The log is being turned on: the old share's commands are in the new base.
            return true;
        };
        if unwritten.is_empty() {
            *unwritten = bytes;
        } else {
            unwritten.extend_from_slice(&bytes);
        }
        match write_some(f, unwritten) {
            Ok(_) => true,
            Err((_, e)) => {
                self.write_error(&e);
                false
            }
        }
    }

    /// Give an emptied buffer back to `pending` to append into (kept only while it is
    /// empty and the buffer is not large: a burst's allocation is not held forever).
    fn recycle(&self, mut buf: Vec<u8>) {
        const KEEP_AT_MOST: usize = 1 << 20;
        buf.clear();
        if buf.capacity() == 0 || buf.capacity() > KEEP_AT_MOST {
            return;
        }
        let mut p = self.pending.lock();
        if p.buf.is_empty() && p.buf.capacity() < buf.capacity() {
            p.buf = buf;
        }
    }

    /// With `everysec` or `no`, the connection writes what its batch logged before its
    /// replies go out (as Redis does before going back to its event loop); the log thread
    /// fsyncs once a second.
    pub fn write_after_batch(&self) {
        if self.enabled() && self.fsync() != Fsync::Always && !self.pending.lock().buf.is_empty() {
            self.write_pending();
        }
    }

    /// Write out everything pending and fsync it, then publish the new durable offset and
    /// wake the replies waiting for it. One call covers every write appended before it
    /// (group commit). Serialized by `sync_lock`.
    fn sync_now(&self) {
        let _g = self.sync_lock.lock();
        let written = self.write_pending();
        if self.write_failed() || written <= self.durable.load(Ordering::Acquire) {
            return;
        }
        // fsync a second handle of the file, not under the file's lock: connections keep
        // writing their batches meanwhile instead of waiting for the disk (the bytes they
        // add are past `written`, so not claimed durable by this sync).
        let current = self.file.lock().as_ref().map(File::try_clone);
        let synced = self.sync_retired().and_then(|()| match current {
            Some(Ok(f)) => f.sync_data(),
            Some(Err(e)) => Err(e),
            None => Ok(()),
        });
        if let Err(e) = synced {
            tracing::warn!("Can't fsync the AOF file: {}", e);
            *self.last_error.lock() = strerror(&e);
            self.write_failed.store(true, Ordering::Relaxed);
            return;
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.durable.fetch_max(written, Ordering::AcqRel);
        self.durable_notify.notify_waiters();
    }

    /// `appendfsync always`: return once everything appended before the call is on disk.
    /// The first connection to get here after the others of its thread had their turn
    /// (a yield) fsyncs for all of them, as Redis's event loop does once per iteration;
    /// connections on other threads that arrive meanwhile wait for that fsync or the next.
    pub async fn sync_for_reply(&self) {
        let target = self.appended();
        if self.durable() >= target || !self.enabled() {
            return;
        }
        // Let the other ready connections of this thread log their writes first.
        tokio::task::yield_now().await;
        loop {
            if self.durable() >= target || !self.enabled() {
                return;
            }
            if !self.write_failed() && self.sync_lock.try_lock().is_some() {
                self.sync_now();
                continue;
            }
            let notified = self.durable_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.durable() >= target || !self.enabled() {
                return;
            }
            // A failed write is retried by the log thread, which wakes us when it works.
            notified.await;
        }
    }

    /// The log thread: with `always` it syncs what connections did not (appends from the
    /// expiry cycle, a retry after a failed write); with `everysec` it writes stragglers
    /// and fsyncs once a second; with `no` it only writes stragglers.
    pub fn run_writer(self: Arc<Self>) {
        let mut last_fsync = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let policy = self.fsync();
            match policy {
                Fsync::Always => self.sync_now(),
                Fsync::EverySec if last_fsync.elapsed() >= Duration::from_secs(1) => {
                    self.sync_now();
                    last_fsync = Instant::now();
                }
                _ => {
                    let written = self.write_pending();
                    if policy == Fsync::No && written > self.durable.load(Ordering::Acquire) {
                        self.durable.fetch_max(written, Ordering::AcqRel);
                        self.durable_notify.notify_waiters();
                    }
                }
            }
        }
    }

    /// Switch logging to a new incremental file for the AOF rewrite whose snapshot starts
    /// epoch `epoch` (called as it starts, before commands can read it): commands that
    /// read it log to `file`, those that read an older one, and everything appended or
    /// left unwritten so far, go to the current file until [`Aof::end_split`]. With the
    /// log off (CONFIG SET appendonly yes) logging starts here, with `policy`, and the old
    /// share is dropped (its commands are in the new base). No disk I/O: this runs while
    /// the epoch starts.
    pub fn begin_split(&self, file: File, epoch: u64, policy: Fsync) {
        let mut current = self.file.lock();
        let leftover = std::mem::take(&mut *self.retry.lock());
        {
            let mut retired = self.retired.lock();
            // A file retired by an earlier rewrite and never synced (its sync failed and
            // so did that rewrite) is synced by whoever syncs next; it is replaced here
            // only when that is done (rare: the disk failed meanwhile).
            if let Some(f) = retired.file.take() {
                let _ = f.sync_data();
            }
            let old = current.replace(file);
            // With the log off, `old` is what logging used before it was turned off (if
            // it ever ran): stale, so the old share is dropped rather than written there.
            retired.file = if self.enabled() { old } else { None };
            retired.unwritten = leftover;
            retired.open = true;
        }
        {
            let mut p = self.pending.lock();
            let old = OldLog {
                epoch,
                buf: std::mem::take(&mut p.buf),
                last_db: p.last_db.take(),
                routing: true,
            };
            p.old = Some(Box::new(old));
        }
        self.current_size.store(0, Ordering::Relaxed);
        if !self.enabled() {
            self.set_fsync(policy);
            self.enabled.store(true, Ordering::Release);
        }
    }

    /// The rewrite's walker has passed every shard: no command of an older epoch is still
    /// running, so everything from now on logs to the new file. The old share's last
    /// bytes are written here; its fsync is [`Aof::sync_retired`]'s.
    pub fn end_split(&self) {
        if let Some(old) = self.pending.lock().old.as_deref_mut() {
            old.routing = false;
        }
        self.write_pending();
    }

    /// The new base is in place (the rewrite finished): the old file is no longer named
    /// by the manifest, so what a failed write left of its share is dropped.
    pub fn forget_retired(&self) {
        let _file = self.file.lock();
        self.pending.lock().old = None;
        *self.retired.lock() = Retired::default();
    }

    /// fsync the file logging switched away from, if it was not yet.
    pub fn sync_retired(&self) -> std::io::Result<()> {
        let mut retired = self.retired.lock();
        if let Some(f) = retired.file.as_ref() {
            f.sync_data()?;
        }
        if !retired.open {
            retired.file = None;
        }
        Ok(())
    }
}

/// An I/O error as C's `strerror` words it (what Redis puts in MISCONF errors), without
/// Rust's " (os error N)" suffix.
pub fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Write `data` to `f`, draining what was written from the front of `data`. Returns the
/// bytes written, and on error also how many made it before it.
#[inline]
fn write_some(f: &mut File, data: &mut Vec<u8>) -> Result<usize, (usize, std::io::Error)> {
    let mut done = 0;
    let result = loop {
        if done == data.len() {
            break Ok(());
        }
        match f.write(&data[done..]) {
            Ok(0) => break Err(std::io::Error::from(std::io::ErrorKind::WriteZero)),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    data.drain(..done);
    result.map(|_| done).map_err(|e| (done, e))
}

/// Open (or create) an incremental file for appending; returns it and its size.
pub fn open_for_append(path: &Path) -> std::io::Result<(File, u64)> {
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    let size = f.metadata()?.len();
    Ok((f, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type i\n\
                    file \"we ird.aof\" seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incrs.len(), 2);
        assert_eq!(m.incrs[1].name, "we ird.aof");
        assert_eq!(Manifest::parse(&m.to_text()).unwrap(), m);
        assert!(Manifest::parse("file x seq\n").is_err());
        assert!(Manifest::parse("file ../x seq 1 type i\n").is_err());
        assert!(Manifest::parse("file x seq 1 type z\n").is_err());
    }

    #[test]
    fn append_logs_select_and_transactions() {
        let aof = Aof::default();
        aof.append(
            &[(0, vec![b"SET".to_vec(), b"a".to_vec(), b"1".to_vec()])],
            false,
            0,
        );
        aof.append(
            &[
                (0, vec![b"INCR".to_vec(), b"a".to_vec()]),
                (2, vec![b"DEL".to_vec(), b"b".to_vec()]),
            ],
            true,
            0,
        );
        let buf = aof.pending.lock().buf.clone();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
             *1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n\
             *2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n"
        );
        assert_eq!(aof.appended(), text.len() as u64);
    }

    fn file_text(path: &Path) -> String {
        String::from_utf8(std::fs::read(path).unwrap()).unwrap()
    }

    fn set(aof: &Aof, db: usize, key: &str, epoch: u64) {
        let args = [b"SET".as_slice(), key.as_bytes(), b"1"];
        aof.append_args(db, &args, epoch);
    }

    /// A fresh temporary folder and a log started on its file `old.aof`.
    fn logging_in(name: &str) -> (PathBuf, PathBuf, Aof) {
        let dir = std::env::temp_dir().join(format!("ferrokv-aof-{}-{}", name, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.aof");
        let aof = Aof::default();
        aof.start(open_for_append(&path).unwrap().0, 0, Fsync::EverySec);
        (dir, path, aof)
    }

    /// While a rewrite starts (epoch 7), commands of an older epoch log to the old file
    /// and those of the rewrite's epoch to the new one, each with its own SELECTs; after
    /// the split ends everything goes to the new file, and `written` covers both.
    #[test]
    fn split_routes_by_epoch() {
        let (dir, old_path, aof) = logging_in("split");
        let new_path = dir.join("new.aof");
        set(&aof, 0, "before", 0);
        aof.begin_split(open_for_append(&new_path).unwrap().0, 7, Fsync::EverySec);
        set(&aof, 1, "new1", 7);
        set(&aof, 0, "old1", 0);
        aof.write_pending();
        set(&aof, 1, "old2", 0);
        set(&aof, 1, "new2", 7);
        aof.end_split();
        set(&aof, 1, "after", 0);
        let written = aof.write_pending();
        assert_eq!(written, aof.appended());
        aof.sync_retired().unwrap();
        assert!(aof.retired.lock().file.is_none());
        assert!(aof.pending.lock().old.is_none());
        let cmd = |db: Option<&str>, key: &str| {
            let select = db.map_or(String::new(), |d| {
                format!("*2\r\n$6\r\nSELECT\r\n$1\r\n{}\r\n", d)
            });
            format!(
                "{}*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n$1\r\n1\r\n",
                select,
                key.len(),
                key
            )
        };
        let old = [
            cmd(Some("0"), "before"),
            cmd(None, "old1"),
            cmd(Some("1"), "old2"),
        ]
        .concat();
        let new = [
            cmd(Some("1"), "new1"),
            cmd(None, "new2"),
            cmd(None, "after"),
        ]
        .concat();
        assert_eq!(file_text(&old_path), old);
        assert_eq!(file_text(&new_path), new);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Turning the log on again: the old share is dropped (its commands are in the new
    /// base), not written to the file logging used before it was turned off.
    #[test]
    fn split_from_no_log_drops_the_old_share() {
        let (dir, stale, aof) = logging_in("on");
        let path = dir.join("new.aof");
        set(&aof, 0, "x", 0);
        aof.stop();
        let before = file_text(&stale);
        assert!(before.ends_with("x\r\n$1\r\n1\r\n"), "{:?}", before);
        assert!(!aof.enabled());
        aof.begin_split(open_for_append(&path).unwrap().0, 3, Fsync::Always);
        assert!(aof.enabled());
        assert_eq!(aof.fsync(), Fsync::Always);
        set(&aof, 0, "old", 2);
        set(&aof, 0, "new", 3);
        aof.end_split();
        assert_eq!(aof.write_pending(), aof.appended());
        let want = "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$3\r\nnew\r\n$1\r\n1\r\n";
        assert_eq!(file_text(&path), want);
        assert_eq!(file_text(&stale), before);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
