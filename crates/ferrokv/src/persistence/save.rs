//! RDB snapshots: SAVE (in the foreground, every shard locked, like Redis's SAVE), BGSAVE
//! (in the background without fork(), through `storage::snapshot`), the `save` points, and
//! loading `dump.rdb` at start-up.
//!
//! Files are written to a temporary name, fsynced and renamed over `dbfilename`, then the
//! directory is fsynced: a crash leaves the old file or the new one, never half of one.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::aof::sync_dir;
use super::rdb::{read_rdb, Limits, RdbWriter, SaveOptions};
use crate::server::Server;
use crate::storage::db::shard_of;
use crate::storage::shard::{Entry, Shard};
use crate::storage::snapshot::{self, ShardImage, Sink};
use crate::storage::LockSet;

use super::spill::Spill;

/// The error when a background save is already running (Redis's text).
const BGSAVE_RUNNING: &str = "ERR Background save already in progress";

/// State of RDB saving (INFO persistence, scheduling, MISCONF).
#[derive(Default)]
pub struct SaveState {
    /// A BGSAVE is running.
    pub in_progress: AtomicBool,
    /// BGSAVE SCHEDULE (or a save point) is waiting for another snapshot to end.
    pub scheduled: AtomicBool,
    /// BGREWRITEAOF is waiting for a BGSAVE to end.
    pub rewrite_scheduled: AtomicBool,
    /// Completed saves (SAVE and BGSAVE).
    pub saves: AtomicU64,
    /// The last BGSAVE failed.
    pub last_failed: AtomicBool,
    /// Duration of the last BGSAVE in seconds (-1 as u64::MAX: none yet).
    pub last_secs: AtomicU64,
    /// When the last BGSAVE attempt started (Unix s), for the retry delay after a failure.
    pub last_try: AtomicU64,
    /// Keys loaded and keys skipped as expired by the last load.
    pub last_load: Mutex<(u64, u64)>,
}

/// The file options from the config.
pub(crate) fn save_options(server: &Server) -> SaveOptions {
    SaveOptions {
        compression: server.config.get("rdbcompression") == "yes",
        checksum: server.config.get("rdbchecksum") == "yes",
        list_max_listpack_size: server.config.list_max_listpack_size(),
        used_mem: crate::memory::used_memory() as u64,
        functions: crate::scripting::functions::codes(server),
        ..SaveOptions::default()
    }
}

/// A per-key delay parameter (`rdb-key-save-delay`, `key-load-delay`) in microseconds.
pub(crate) fn key_delay(server: &Server, name: &str) -> u64 {
    server.config.get(name).parse().unwrap_or(0)
}

/// The RDB file (`dbfilename`, in `dir`: the process runs in `dir`).
pub fn dump_path(server: &Server) -> PathBuf {
    PathBuf::from(server.config.get("dbfilename"))
}

/// A snapshot sink writing an RDB file: SELECTDB (and a RESIZEDB hint) before each shard,
/// then its keys. Shards arrive in any order; the format allows switching databases.
pub struct RdbSink {
    writer: Option<RdbWriter<Spill>>,
    key_delay_us: u64,
}

impl RdbSink {
    /// Start a file (header and aux fields) on `file`.
    pub fn new(file: File, opts: &SaveOptions) -> std::io::Result<RdbSink> {
        let writer = RdbWriter::new(Spill::new(file), opts)?;
        Ok(RdbSink {
            writer: Some(writer),
            key_delay_us: 0,
        })
    }

    /// Sleep this many microseconds after each key (`rdb-key-save-delay`, Redis's knob for
    /// tests that need a slow save).
    pub fn with_key_delay(mut self, micros: u64) -> RdbSink {
        self.key_delay_us = micros;
        self
    }

    /// EOF, checksum, flush and fsync.
    pub fn finish(&mut self) -> std::io::Result<()> {
        let w = self
            .writer
            .take()
            .ok_or_else(|| std::io::Error::other("RDB file already finished"))?;
        let file = w.finish()?.into_file()?;
        file.sync_all()
    }
}

/// Write one shard's keys.
pub(crate) fn write_shard_keys<W: Write>(
    w: &mut RdbWriter<W>,
    db: usize,
    image: &ShardImage<'_>,
    key_delay_us: u64,
) -> std::io::Result<()> {
    let len = image.len();
    if len == 0 {
        return Ok(());
    }
    w.select_db(db, len, image.volatile())?;
    image.for_each(|key, value, expire_at| {
        w.write_key(key, value, expire_at, None, None)?;
        if key_delay_us > 0 {
            std::thread::sleep(std::time::Duration::from_micros(key_delay_us));
        }
        Ok(())
    })
}

impl Sink for RdbSink {
    fn write_shard(&mut self, db: usize, image: &ShardImage<'_>) -> std::io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => write_shard_keys(w, db, image, self.key_delay_us),
            None => Err(std::io::Error::other("RDB file already finished")),
        }
    }

    fn drain(&mut self) -> std::io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.get_mut().drain(),
            None => Ok(()),
        }
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Rename the finished temporary file over `dbfilename` and fsync the directory.
fn publish(temp: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::rename(temp, target)?;
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    sync_dir(dir)
}

/// After a successful save: LASTSAVE, the dirty counter (minus what changed meanwhile).
fn saved(server: &Server, dirty_at_start: u64) {
    server
        .lastsave
        .store(crate::util::now_ms() / 1000, Ordering::Relaxed);
    let dirty = &server.stats.dirty;
    let now = dirty.load(Ordering::Relaxed);
    dirty.store(now.saturating_sub(dirty_at_start), Ordering::Relaxed);
    server.saving.saves.fetch_add(1, Ordering::Relaxed);
}

/// SAVE: write the whole dataset now, with every shard locked (clients wait, as they do
/// for Redis's SAVE). Used by SAVE, SHUTDOWN and save-on-exit.
pub fn save_sync(server: &Server) -> Result<(), String> {
    if snapshot::in_progress() {
        return Err(BGSAVE_RUNNING.into());
    }
    let mut locks = LockSet::new(&server.dbs);
    locks.lock_all();
    save_locked(server, &mut locks)
}

/// SAVE's work for a caller that already holds every shard (DEBUG RELOAD).
pub fn save_locked(server: &Server, locks: &mut LockSet<'_>) -> Result<(), String> {
    if snapshot::in_progress() {
        return Err(BGSAVE_RUNNING.into());
    }
    let target = dump_path(server);
    let temp = PathBuf::from(format!("temp-{}.rdb", std::process::id()));
    let result = (|| -> std::io::Result<u64> {
        let dirty = server.stats.dirty.load(Ordering::Relaxed);
        let file = File::create(&temp)?;
        let mut sink = RdbSink::new(file, &save_options(server))?
            .with_key_delay(key_delay(server, "rdb-key-save-delay"));
        for db in 0..server.dbs.len() {
            for shard in locks.db_shards(db) {
                sink.write_shard(db, &ShardImage::current(shard))?;
                sink.drain()?;
            }
        }
        sink.finish()?;
        publish(&temp, &target)?;
        Ok(dirty)
    })();
    match result {
        Ok(dirty) => {
            saved(server, dirty);
            tracing::info!("DB saved on disk");
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            tracing::warn!("Failed saving the DB: {}", e);
            Err(format!("ERR {}", super::aof::strerror(&e)))
        }
    }
}

/// BGSAVE inside EXEC: the save starts from the cron once the transaction is over (Redis
/// schedules it too). Errors when one is running already.
pub fn schedule_bgsave(server: &Server) -> Result<(), String> {
    if server.saving.in_progress.load(Ordering::Acquire) {
        return Err(BGSAVE_RUNNING.into());
    }
    server.saving.scheduled.store(true, Ordering::Release);
    Ok(())
}

/// BGSAVE: start a background save. `Ok(false)` when it was only scheduled (another
/// snapshot runs and `schedule` was asked).
pub fn bgsave(server: &Arc<Server>, schedule: bool) -> Result<bool, String> {
    let st = &server.saving;
    if st.in_progress.load(Ordering::Acquire) {
        return Err(BGSAVE_RUNNING.into());
    }
    if snapshot::in_progress() || server.aof_rewrite.in_progress.load(Ordering::Acquire) {
        if schedule {
            st.scheduled.store(true, Ordering::Release);
            return Ok(false);
        }
        return Err(
            "ERR Another child process is active (AOF?): can't BGSAVE right now. \
                    Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
                .into(),
        );
    }
    if st.in_progress.swap(true, Ordering::AcqRel) {
        return Err(BGSAVE_RUNNING.into());
    }
    st.last_try
        .store(crate::util::now_ms() / 1000, Ordering::Relaxed);
    let temp = PathBuf::from(format!("temp-{}.rdb", std::process::id()));
    let begun = (|| -> Result<(Arc<snapshot::Job>, u64), String> {
        // No barrier over the shards (taking all 16,384 cost 1-2 ms during which this
        // worker served nobody): commands read the epoch once they hold their locks, so
        // none straddles the start (see storage::snapshot). Scripts, which may lock more
        // shards after reading it, and FUNCTION changes (the file starts with the
        // libraries, read here) are kept out while the epoch starts.
        let no_script = server.scripts.acquire(&|| false);
        let file = File::create(&temp).map_err(|e| format!("ERR {}", super::aof::strerror(&e)))?;
        let sink = RdbSink::new(file, &save_options(server))
            .map_err(|e| format!("ERR {}", super::aof::strerror(&e)))?
            .with_key_delay(key_delay(server, "rdb-key-save-delay"));
        let dirty = server.stats.dirty.load(Ordering::Relaxed);
        let job = snapshot::begin(Box::new(sink))
            .ok_or("ERR Another child process is active (AOF?): can't BGSAVE right now.")?;
        drop(no_script);
        Ok((job, dirty))
    })();
    let (job, dirty) = match begun {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            st.last_failed.store(true, Ordering::Relaxed);
            st.in_progress.store(false, Ordering::Release);
            return Err(e);
        }
    };
    tracing::info!("Background saving started");
    let worker = server.clone();
    let spawned = std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || {
            let server = worker;
            let started = std::time::Instant::now();
            let result = finish_bgsave(&server, &job, &temp);
            let st = &server.saving;
            st.last_secs
                .store(started.elapsed().as_secs(), Ordering::Relaxed);
            match result {
                Ok(()) => {
                    saved(&server, dirty);
                    st.last_failed.store(false, Ordering::Relaxed);
                    tracing::info!("Background saving terminated with success");
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&temp);
                    st.last_failed.store(true, Ordering::Relaxed);
                    tracing::warn!("Background saving error: {}", e);
                }
            }
            st.in_progress.store(false, Ordering::Release);
        });
    if let Err(e) = spawned {
        st.in_progress.store(false, Ordering::Release);
        return Err(format!("ERR Can't start the BGSAVE thread: {}", e));
    }
    Ok(true)
}

fn finish_bgsave(server: &Server, job: &Arc<snapshot::Job>, temp: &Path) -> Result<(), String> {
    snapshot::walk_and_end(&server.dbs, job);
    if let Some(e) = job.take_error() {
        return Err(super::aof::strerror(&e));
    }
    {
        let mut sink = job.sink();
        let rdb = sink
            .as_any()
            .downcast_mut::<RdbSink>()
            .ok_or("unexpected snapshot sink")?;
        rdb.finish().map_err(|e| super::aof::strerror(&e))?;
    }
    publish(temp, &dump_path(server)).map_err(|e| super::aof::strerror(&e))
}

/// True when the last background save failed and `stop-writes-on-bgsave-error` is on with
/// save points configured: writes are then refused with MISCONF (Redis's rule).
pub fn writes_refused(server: &Server) -> bool {
    server.saving.last_failed.load(Ordering::Relaxed)
        && server.config.get("stop-writes-on-bgsave-error") == "yes"
        && !save_points(server).is_empty()
}

/// The `save` points: (seconds, changes).
pub fn save_points(server: &Server) -> Vec<(u64, u64)> {
    let text = server.config.get("save");
    let nums: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    nums.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

/// The cron's part: start a BGSAVE when a save point is reached (after a failure, retry no
/// sooner than 5 seconds later, as Redis), or when one was scheduled.
pub fn maybe_bgsave(server: &Arc<Server>) {
    let st = &server.saving;
    if st.in_progress.load(Ordering::Relaxed)
        || snapshot::in_progress()
        || server.aof_rewrite.in_progress.load(Ordering::Relaxed)
    {
        return;
    }
    let now = crate::util::now_ms() / 1000;
    let scheduled = st.scheduled.swap(false, Ordering::AcqRel);
    let dirty = server.stats.dirty.load(Ordering::Relaxed);
    let since_save = now.saturating_sub(server.lastsave.load(Ordering::Relaxed));
    let retry_ok = !st.last_failed.load(Ordering::Relaxed)
        || now.saturating_sub(st.last_try.load(Ordering::Relaxed)) >= 5;
    let due = save_points(server)
        .iter()
        .any(|&(secs, changes)| dirty >= changes && since_save >= secs);
    if scheduled || (due && retry_ok) {
        if due {
            tracing::info!("Save point reached ({} changes). Saving...", dirty);
        }
        if let Err(e) = bgsave(server, false) {
            tracing::warn!("Can't start the scheduled BGSAVE: {}", e);
        }
    }
}

/// Why loading stopped.
enum LoadError {
    Rdb(super::rdb::RdbError),
    Fatal(String),
}

impl From<super::rdb::RdbError> for LoadError {
    fn from(e: super::rdb::RdbError) -> Self {
        LoadError::Rdb(e)
    }
}

/// Load an RDB file into the (empty) dataset at start-up: keys whose deadline passed are
/// skipped (as a Redis master does; a replica keeps them), databases beyond `databases`
/// are an error.
pub fn load_rdb(server: &Server, path: &Path) -> Result<(u64, u64), String> {
    load_rdb_into(server, path, None)
}

/// True when the RDB file at `path` holds a function library whose name is loaded now.
/// DEBUG RELOAD NOFLUSH without MERGE refuses such a file before loading anything, as
/// Redis's loader fails on a library that already exists.
pub fn rdb_has_loaded_library(server: &Server, path: &Path) -> Result<bool, String> {
    let file = File::open(path).map_err(|e| format!("Can't open {}: {}", path.display(), e))?;
    let limits = Limits::from_config(&server.config);
    let summary = read_rdb(file, &limits, |_| -> Result<(), super::rdb::RdbError> {
        Ok(())
    })
    .map_err(|e| format!("Error loading {}: {}", path.display(), e))?;
    let loaded = server.scripts.functions.libraries();
    Ok(summary.functions.iter().any(|code| {
        crate::scripting::functions::parse_metadata(code)
            .is_ok_and(|(name, _)| loaded.iter().any(|lib| lib.name == name))
    }))
}

/// [`load_rdb`] into shards the caller already holds (`locks`: every shard, DEBUG RELOAD),
/// or, with `None`, locking each key's shard in turn. A key already present is replaced.
pub fn load_rdb_into(
    server: &Server,
    path: &Path,
    locks: Option<&mut LockSet<'_>>,
) -> Result<(u64, u64), String> {
    let file = File::open(path).map_err(|e| format!("Can't open {}: {}", path.display(), e))?;
    load_rdb_from(server, file, &path.display().to_string(), locks)
}

/// [`load_rdb_into`] from any reader (a replica loads its primary's RDB straight from the
/// link with `repl-diskless-load`); `name` names it in messages.
pub fn load_rdb_from<R: Read>(
    server: &Server,
    input: R,
    name: &str,
    mut locks: Option<&mut LockSet<'_>>,
) -> Result<(u64, u64), String> {
    let limits = Limits::from_config(&server.config);
    let mut loader = KeyLoader::new(server);
    let summary = read_rdb(input, &limits, |k| loader.insert(k, locks.as_deref_mut())).map_err(
        |e| match e {
            LoadError::Fatal(msg) => msg,
            LoadError::Rdb(e) => format!("Error loading {}: {}", name, e),
        },
    )?;
    loader.finish(&summary, name)
}

/// An RDB read completely into memory, to be applied later (`repl-diskless-load swapdb`:
/// the old data stays until the new one arrived whole).
pub struct ParsedRdb {
    keys: Vec<super::rdb::LoadedKey>,
    summary: super::rdb::RdbSummary,
}

/// Read a whole RDB from `input` into memory without touching the dataset.
pub fn parse_rdb<R: Read>(server: &Server, input: R, name: &str) -> Result<ParsedRdb, String> {
    let limits = Limits::from_config(&server.config);
    let mut keys = Vec::new();
    let summary = read_rdb(input, &limits, |k| -> Result<(), super::rdb::RdbError> {
        keys.push(k);
        Ok(())
    })
    .map_err(|e| format!("Error loading {}: {}", name, e))?;
    Ok(ParsedRdb { keys, summary })
}

/// Apply a [`parse_rdb`] result to the (emptied) dataset, as [`load_rdb_from`] would.
pub fn apply_parsed_rdb(
    server: &Server,
    parsed: ParsedRdb,
    name: &str,
) -> Result<(u64, u64), String> {
    let mut loader = KeyLoader::new(server);
    for k in parsed.keys {
        loader.insert(k, None).map_err(|e| match e {
            LoadError::Fatal(msg) => msg,
            LoadError::Rdb(e) => format!("Error loading {}: {}", name, e),
        })?;
    }
    loader.finish(&parsed.summary, name)
}

/// Inserts loaded keys into the dataset, counting them.
struct KeyLoader<'s> {
    server: &'s Server,
    now: u64,
    load_delay_us: u64,
    /// A replica keeps expired keys (Redis: only a master skips them): the primary's DEL
    /// removes them, reads meanwhile answer as if they were gone.
    keep_expired: bool,
    loaded: u64,
    expired: u64,
}

impl<'s> KeyLoader<'s> {
    fn new(server: &'s Server) -> KeyLoader<'s> {
        KeyLoader {
            server,
            now: crate::util::now_ms(),
            load_delay_us: key_delay(server, "key-load-delay"),
            keep_expired: crate::storage::expiry::replica_mode(),
            loaded: 0,
            expired: 0,
        }
    }

    fn insert(
        &mut self,
        k: super::rdb::LoadedKey,
        locks: Option<&mut LockSet<'_>>,
    ) -> Result<(), LoadError> {
        let server = self.server;
        let Some(db) = server.dbs.get(k.db) else {
            return Err(LoadError::Fatal(format!(
                "FATAL: Data file was created with a Redis server configured to handle \
                     more than {} databases. Exiting",
                server.dbs.len()
            )));
        };
        if k.expire_at_ms != 0 && k.expire_at_ms < self.now && !self.keep_expired {
            self.expired += 1;
            return Ok(());
        }
        let mut guard;
        let shard: &mut Shard = match locks {
            Some(held) => match held.shard(k.db, shard_of(&k.key)) {
                Some(s) => s,
                None => return Ok(()),
            },
            None => match db.shards.get(shard_of(&k.key)) {
                Some(m) => {
                    guard = m.lock();
                    &mut guard
                }
                None => return Ok(()),
            },
        };
        shard.insert(
            &k.key,
            Entry {
                value: k.value,
                expire_at: k.expire_at_ms,
            },
        );
        if k.lru_idle.is_some() || k.lfu_freq.is_some() {
            shard.map.restore_access(&k.key, k.lru_idle, k.lfu_freq);
        }
        if k.expire_at_ms != 0 {
            db.may_have_volatile.store(true, Ordering::Relaxed);
        }
        self.loaded += 1;
        if self.load_delay_us > 0 {
            std::thread::sleep(std::time::Duration::from_micros(self.load_delay_us));
        }
        if self.loaded.is_multiple_of(1_000_000) {
            tracing::info!("Loading: {} keys so far", self.loaded);
        }
        Ok(())
    }

    /// Restore the function libraries, log and record the counts.
    fn finish(self, summary: &super::rdb::RdbSummary, name: &str) -> Result<(u64, u64), String> {
        let server = self.server;
        if !summary.functions.is_empty() {
            // Libraries of the same name are replaced (DEBUG RELOAD finds them loaded).
            use crate::scripting::functions::{restore, RestorePolicy};
            restore(server, &summary.functions, RestorePolicy::Replace)
                .map_err(|e| format!("Error loading {}: failed loading a library: {}", name, e))?;
        }
        tracing::info!(
            "Loaded RDB {} (version {}): {} keys loaded, {} expired keys skipped",
            name,
            summary.version,
            self.loaded,
            self.expired
        );
        *server.saving.last_load.lock() = (self.loaded, self.expired);
        Ok((self.loaded, self.expired))
    }
}

/// Before exiting (SHUTDOWN, SIGTERM, SIGINT): save the dataset when `force` says so, or,
/// by default, when save points are configured (Redis's rule). An error means the server
/// must not exit (Redis: "Errors trying to SHUTDOWN").
pub fn save_on_shutdown(server: &Server, force: Option<bool>) -> Result<(), String> {
    let save = force.unwrap_or_else(|| !save_points(server).is_empty());
    if !save {
        return Ok(());
    }
    tracing::info!("Saving the final RDB snapshot before exiting.");
    // A background save in progress is abandoned: its temporary file is not published.
    save_sync_even_during_snapshot(server)
}

fn save_sync_even_during_snapshot(server: &Server) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while snapshot::in_progress() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    save_sync(server)
}
