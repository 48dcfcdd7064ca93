//! Start-up: load the append-only file (base, then incremental files, as the manifest
//! lists them) by replaying its commands, then open the last incremental file for
//! appending and start the writer thread. A fresh directory gets an empty base, a first
//! incremental file and a manifest.
//!
//! A truncated last command in the last file (a crash in the middle of a write) is dropped
//! with a warning and cut off the file when `aof-load-truncated` is `yes`, as is an
//! unfinished MULTI block; anything else that is not a valid command stops start-up with a
//! message naming the file and the offset.

use std::path::Path;
use std::sync::Arc;

use resp::{parse_request, Args, Limits, Parsed, ReplyWriter};

use super::aof::{open_for_append, sync_dir, AofFile, Fsync, Layout, Manifest};
use crate::commands::dispatch::{execute, Outcome};
use crate::server::{Client, Server};

/// Log loading progress every this many bytes.
const PROGRESS_EVERY: usize = 64 << 20;

/// What loading found.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Commands replayed.
    pub commands: u64,
    /// Bytes dropped from the end of the last file (truncated command or MULTI block).
    pub truncated_bytes: u64,
}

/// Load the data and start logging. With `appendonly yes` the AOF (its manifest's files)
/// is the source of truth; when there is none yet but a `dump.rdb` exists (Redis's data,
/// moved over), that file is loaded and becomes the new AOF's base, so switching to
/// ferrokv with its default settings loses nothing. With `appendonly no`, `dump.rdb` is
/// loaded if present. Errors are fatal start-up errors.
pub fn start(server: &Arc<Server>) -> Result<Option<LoadReport>, String> {
    let aof_on = server.config.get("appendonly") == "yes";
    let manifest_exists = aof_on
        && Path::new(&server.config.get("appenddirname"))
            .join(format!("{}.manifest", server.config.get("appendfilename")))
            .exists();
    let rdb = Path::new(&server.config.get("dbfilename")).to_path_buf();
    let mut loaded_rdb = false;
    if !manifest_exists && rdb.exists() {
        super::save::load_rdb(server, &rdb)?;
        loaded_rdb = true;
    }
    if !aof_on {
        return Ok(None);
    }
    let report = start_aof(server, loaded_rdb)?;
    Ok(Some(report))
}

/// The AOF part of [`start`]: replay the manifest's files, or create a fresh directory
/// (whose base holds the dataset already loaded from `dump.rdb`, if any).
fn start_aof(server: &Arc<Server>, base_from_dataset: bool) -> Result<LoadReport, String> {
    let dir = Path::new(&server.config.get("appenddirname")).to_path_buf();
    let prefix = server.config.get("appendfilename");
    let mut layout = Layout {
        dir: dir.clone(),
        prefix: prefix.clone(),
        manifest: Manifest::default(),
    };
    let mut report = LoadReport::default();
    let manifest_path = layout.manifest_path();
    if manifest_path.exists() {
        layout.manifest = read_manifest(&manifest_path)?;
        let r = replay_manifest(server, &layout)?;
        report.commands += r.commands;
        report.truncated_bytes += r.truncated_bytes;
    } else {
        create_fresh(&mut layout)?;
        if base_from_dataset {
            write_base_from_dataset(server, &layout)?;
        }
    }
    if layout.manifest.incrs.is_empty() {
        let seq = layout.manifest.base.as_ref().map_or(1, |b| b.seq);
        layout.manifest.incrs.push(AofFile {
            name: format!("{}.{}.incr.aof", prefix, seq),
            seq,
            kind: 'i',
        });
        layout
            .save_manifest()
            .map_err(|e| format!("Can't write the AOF manifest: {}", e))?;
    }
    let incr = layout
        .manifest
        .incrs
        .last()
        .map(|f| dir.join(&f.name))
        .ok_or("no incremental AOF file")?;
    let (file, size) = open_for_append(&incr)
        .map_err(|e| format!("Can't open the append-only file {}: {}", incr.display(), e))?;
    let base_size = layout
        .manifest
        .base
        .as_ref()
        .and_then(|b| std::fs::metadata(dir.join(&b.name)).ok())
        .map_or(0, |m| m.len());
    server
        .aof
        .base_size
        .store(base_size, std::sync::atomic::Ordering::Relaxed);
    *server.aof.layout.lock() = layout;
    server.aof.start(
        file,
        size,
        Fsync::from_name(&server.config.get("appendfsync")),
    );
    server.aof.ensure_writer();
    Ok(report)
}

/// DEBUG LOADAOF: load the append-only files that the manifest on disk names into the
/// (emptied) dataset, as at start-up, without touching the running log. Commands are
/// replayed as by the loader at start-up: not logged again.
pub fn load_aof_from_disk(server: &Arc<Server>) -> Result<LoadReport, String> {
    let layout = Layout {
        dir: Path::new(&server.config.get("appenddirname")).to_path_buf(),
        prefix: server.config.get("appendfilename"),
        manifest: Manifest::default(),
    };
    let manifest = read_manifest(&layout.manifest_path())?;
    replay_manifest(server, &Layout { manifest, ..layout })
}

/// Read and parse an AOF manifest.
fn read_manifest(path: &Path) -> Result<Manifest, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Can't read the AOF manifest {}: {}", path.display(), e))?;
    Manifest::parse(&text).map_err(|e| format!("Invalid AOF manifest {}: {}", path.display(), e))
}

/// Replay the base and incremental files `layout.manifest` names, in order (RDB bases are
/// loaded as RDB). Only the last file may end in a truncated command, and only with
/// `aof-load-truncated yes`.
fn replay_manifest(server: &Arc<Server>, layout: &Layout) -> Result<LoadReport, String> {
    let mut report = LoadReport::default();
    let started = std::time::Instant::now();
    let files: Vec<AofFile> = layout
        .manifest
        .base
        .iter()
        .chain(layout.manifest.incrs.iter())
        .cloned()
        .collect();
    let last = files.len().saturating_sub(1);
    for (i, f) in files.iter().enumerate() {
        let path = layout.dir.join(&f.name);
        if f.name.ends_with(".rdb") {
            // Redis 7 writes RDB bases (aof-use-rdb-preamble yes).
            let (keys, _) = super::save::load_rdb(server, &path)?;
            report.commands += keys;
            continue;
        }
        let allow_truncated = i == last && server.config.get("aof-load-truncated") == "yes";
        let r = replay_file(server, &path, allow_truncated)?;
        report.commands += r.commands;
        report.truncated_bytes += r.truncated_bytes;
    }
    tracing::info!(
        "DB loaded from append only file: {:.3} seconds ({} commands)",
        started.elapsed().as_secs_f64(),
        report.commands
    );
    Ok(report)
}

/// Write the current dataset (loaded from `dump.rdb`) into the fresh base file.
fn write_base_from_dataset(server: &Server, layout: &Layout) -> Result<(), String> {
    use crate::storage::snapshot::Sink;
    let Some(base) = layout.manifest.base.as_ref() else {
        return Ok(());
    };
    let path = layout.dir.join(&base.name);
    let file = std::fs::File::create(&path)
        .map_err(|e| format!("Can't write {}: {}", path.display(), e))?;
    let mut sink =
        super::rewrite::AofBaseSink::new(file, &crate::scripting::functions::codes(server));
    for (i, db) in server.dbs.iter().enumerate() {
        for m in db.shards.iter() {
            let shard = m.lock();
            if !shard.map.is_empty() {
                sink.write_shard(i, &crate::storage::snapshot::ShardImage::current(&shard))
                    .and_then(|()| sink.drain())
                    .map_err(|e| format!("Can't write {}: {}", path.display(), e))?;
            }
        }
    }
    sink.finish()
        .map_err(|e| format!("Can't write {}: {}", path.display(), e))?;
    tracing::info!(
        "The AOF base {} holds the data loaded from the RDB file",
        base.name
    );
    Ok(())
}

/// A new AOF directory: an empty base file, the first incremental file and the manifest,
/// all fsynced before anything is logged.
fn create_fresh(layout: &mut Layout) -> Result<(), String> {
    let dir = layout.dir.clone();
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("Can't create the AOF directory {}: {}", dir.display(), e))?;
    let base = AofFile {
        name: format!("{}.1.base.aof", layout.prefix),
        seq: 1,
        kind: 'b',
    };
    let incr = AofFile {
        name: format!("{}.1.incr.aof", layout.prefix),
        seq: 1,
        kind: 'i',
    };
    for f in [&base, &incr] {
        let file = std::fs::File::create(dir.join(&f.name))
            .map_err(|e| format!("Can't create {}: {}", f.name, e))?;
        file.sync_all()
            .map_err(|e| format!("Can't fsync {}: {}", f.name, e))?;
    }
    sync_dir(&dir).map_err(|e| format!("Can't fsync {}: {}", dir.display(), e))?;
    layout.manifest = Manifest {
        base: Some(base),
        incrs: vec![incr],
    };
    layout
        .save_manifest()
        .map_err(|e| format!("Can't write the AOF manifest: {}", e))?;
    tracing::info!("Creating AOF base and incr files in {}", dir.display());
    Ok(())
}

/// Replay one AOF file's commands. With `allow_truncated`, an incomplete command or MULTI
/// block at the end is cut off the file (with a warning) instead of failing.
fn replay_file(
    server: &Arc<Server>,
    path: &Path,
    allow_truncated: bool,
) -> Result<LoadReport, String> {
    let data = std::fs::read(path)
        .map_err(|e| format!("Can't open the append-only file {}: {}", path.display(), e))?;
    let name = path.display();
    let handle = server.new_client_handle("aof-loader".into(), String::new(), -1);
    let mut client = Client::new(handle, true);
    client.loading = true;
    let mut out = ReplyWriter::new();
    let limits = Limits {
        max_bulk_len: u64::MAX >> 1,
        authenticated: true,
        ..Limits::default()
    };
    let mut ranges = Vec::new();
    let mut pos = 0usize;
    // Where the last complete, applied state ends (before an open MULTI).
    let mut valid_end = 0usize;
    let mut report = LoadReport::default();
    let mut next_progress = PROGRESS_EVERY;
    while pos < data.len() {
        if pos >= next_progress {
            tracing::info!(
                "Loading {}: {} MB of {} MB ({}%)",
                name,
                pos >> 20,
                data.len() >> 20,
                pos * 100 / data.len()
            );
            next_progress += PROGRESS_EVERY;
        }
        let rest = &data[pos..];
        if rest.first() != Some(&b'*') {
            return Err(bad_format(&name, pos));
        }
        match parse_request(rest, &limits, &mut ranges) {
            Ok(Parsed::Incomplete) => break,
            Ok(Parsed::Request { args, consumed }) => {
                let argv: Vec<&[u8]> = match &args {
                    Args::Ranges => ranges
                        .iter()
                        .map(|r| rest.get(r.clone()).unwrap_or(&[]))
                        .collect(),
                    Args::Owned(v) => v.iter().map(|a| a.as_slice()).collect(),
                };
                if argv.is_empty() {
                    return Err(bad_format(&name, pos));
                }
                if crate::commands::dispatch::resolve(&argv).is_err() {
                    return Err(format!(
                        "Unknown command '{}' reading the append only file {} at offset {}",
                        String::from_utf8_lossy(argv[0]),
                        name,
                        pos
                    ));
                }
                client.start_batch();
                if let Outcome::Blocked(..) = execute(server, &mut client, &mut out, &argv) {
                    return Err(format!(
                        "A blocking command in the append only file {} at offset {}",
                        name, pos
                    ));
                }
                out.buf.clear();
                report.commands += 1;
                pos += consumed;
                if client.multi.is_none() {
                    valid_end = pos;
                }
            }
            Err(e) => {
                return Err(format!(
                    "Bad file format reading the append only file {} at offset {}: {}",
                    name, pos, e.0
                ))
            }
        }
    }
    if valid_end < data.len() {
        if !allow_truncated {
            return Err(format!(
                "Unexpected end of file reading the append only file {} at offset {}. \
                 (aof-load-truncated no, or not the last file)",
                name, valid_end
            ));
        }
        tracing::warn!(
            "!!! Warning: short read while loading the AOF file {}!!! Dropping the last {} \
             bytes (an incomplete command or MULTI block); AOF loaded anyway because \
             aof-load-truncated is enabled",
            name,
            data.len() - valid_end
        );
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("Can't open {} to truncate it: {}", name, e))?;
        f.set_len(valid_end as u64)
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("Can't truncate {}: {}", name, e))?;
        report.truncated_bytes = (data.len() - valid_end) as u64;
    }
    Ok(report)
}

fn bad_format(name: &std::path::Display<'_>, pos: usize) -> String {
    format!(
        "Bad file format reading the append only file {} at offset {}: not a RESP command \
         (make a backup of the file and remove the damaged part)",
        name, pos
    )
}
