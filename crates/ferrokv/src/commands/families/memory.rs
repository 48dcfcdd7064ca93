//! MEMORY: USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP (what `redis-cli --memkeys` and
//! memory dashboards use). Byte figures are ferrokv's own accounting (slab node, key and
//! value bytes), not Redis's; the reply shapes and errors are Redis 7.0's.

use crate::commands::dispatch::LockIds;
use crate::commands::shared::help::help_reply;
use crate::commands::{flags, CmdError, CmdResult, Command, Ctx, LockScope};
use crate::storage::db::LockId;
use crate::storage::table::Node;
use crate::storage::SHARDS;
use crate::util::eq_ic;

/// The MEMORY container.
pub static COMMANDS: &[Command] = &[Command::container("memory", -2, 0).subcommands(&[
    Command::new("doctor", 2, 0, doctor).lock(LockScope::Custom(lock_everything)),
    Command::new("help", 2, flags::LOADING | flags::STALE, help),
    Command::new("malloc-stats", 2, 0, malloc_stats),
    Command::new("purge", 2, 0, purge),
    Command::new("stats", 2, 0, stats).lock(LockScope::Custom(lock_everything)),
    Command::new("usage", -3, flags::READONLY, usage).keys(2, 2, 1),
])];

/// STATS and DOCTOR count keys from the shards they hold (every shard), so they are
/// consistent and safe inside MULTI/EXEC.
fn lock_everything(_args: &[&[u8]], _db: usize, db_count: usize, ids: &mut LockIds) {
    ids.extend((0..db_count * SHARDS).map(|i| i as LockId));
}

fn help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

/// Bytes one key costs: its slab node, the key's and the value's heap bytes, and its share
/// of the hash index (4-byte slot and control byte at the usual load).
fn key_bytes(key: &[u8], slot_bytes: usize, value: crate::storage::ValueRef<'_>) -> usize {
    // Keys are stored in the slot, except long keys of nodes (records hold any key).
    let key_heap = if slot_bytes == NODE_BYTES && key.len() > crate::storage::key::INLINE_KEY {
        16 + key.len()
    } else {
        0
    };
    slot_bytes + 5 + key_heap + value.heap_size()
}

/// Bytes of a node slot (entries that are not `int`/`embstr` records).
const NODE_BYTES: usize = std::mem::size_of::<Option<Node>>();

fn usage(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut i = 3;
    while i < args.len() {
        if eq_ic(args[i], "samples") && i + 1 < args.len() {
            let n = crate::commands::arg_i64(args[i + 1])?;
            if n < 0 {
                return Err(CmdError::Syntax);
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = args[2];
    let (mut db, out) = ctx.db_out();
    let found = db.get(key)?.map(|e| (e.slot_bytes(), e.into_value_ref()));
    match found {
        Some((slot, Some(v))) => out.int(key_bytes(key, slot, v) as i64),
        _ => out.null(),
    }
    Ok(())
}

/// (keys, bytes held by keys) of every database, from the held shards.
fn dataset(ctx: &mut Ctx) -> Vec<(usize, usize)> {
    (0..ctx.server.dbs.len())
        .map(|db| {
            ctx.locks.db_shards(db).fold((0, 0), |(n, bytes), s| {
                let b: usize = s
                    .map
                    .iter()
                    .map(|(k, e)| key_bytes(k, e.slot_bytes(), e.value()))
                    .sum();
                (n + s.map.len(), bytes + b)
            })
        })
        .collect()
}

fn startup_bytes(ctx: &Ctx) -> usize {
    ctx.server.dbs.len() * SHARDS * std::mem::size_of::<parking_lot::Mutex<crate::storage::Shard>>()
}

fn stats(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let used = crate::memory::used_memory();
    let rss = crate::memory::rss();
    let peak = (ctx
        .server
        .peak_memory
        .load(std::sync::atomic::Ordering::Relaxed) as usize)
        .max(used);
    let startup = startup_bytes(ctx);
    let per_db = dataset(ctx);
    let keys: usize = per_db.iter().map(|d| d.0).sum();
    let data: usize = per_db.iter().map(|d| d.1).sum();
    let overhead = used.saturating_sub(data);
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let non_empty: Vec<(usize, (usize, usize))> = per_db
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, d)| d.0 > 0)
        .collect();
    let out = &mut *ctx.out;
    out.map(27 + non_empty.len());
    let int = |out: &mut resp::ReplyWriter, k: &str, v: usize| {
        out.bulk(k.as_bytes());
        out.int(v as i64);
    };
    int(out, "peak.allocated", peak);
    int(out, "total.allocated", used);
    int(out, "startup.allocated", startup);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", 0);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", 0);
    int(out, "lua.caches", 0);
    int(out, "functions.caches", 0);
    for (i, (n, bytes)) in &non_empty {
        out.bulk(format!("db.{}", i).as_bytes());
        out.map(3);
        let _ = bytes;
        int(out, "overhead.hashtable.main", n * 8);
        int(out, "overhead.hashtable.expires", 0);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", overhead);
    int(out, "keys.count", keys);
    int(
        out,
        "keys.bytes-per-key",
        used.saturating_sub(startup).checked_div(keys).unwrap_or(0),
    );
    int(out, "dataset.bytes", data);
    out.bulk(b"dataset.percentage");
    out.double(pct(data, used.saturating_sub(startup)));
    out.bulk(b"peak.percentage");
    out.double(pct(used, peak));
    int(out, "allocator.allocated", used);
    int(out, "allocator.active", used);
    int(out, "allocator.resident", rss);
    out.bulk(b"allocator-fragmentation.ratio");
    out.double(1.0);
    int(out, "allocator-fragmentation.bytes", 0);
    out.bulk(b"allocator-rss.ratio");
    out.double(if used > 0 {
        rss as f64 / used as f64
    } else {
        0.0
    });
    int(out, "allocator-rss.bytes", rss.saturating_sub(used));
    out.bulk(b"rss-overhead.ratio");
    out.double(1.0);
    int(out, "rss-overhead.bytes", 0);
    out.bulk(b"fragmentation");
    out.double(if used > 0 {
        rss as f64 / used as f64
    } else {
        0.0
    });
    int(out, "fragmentation.bytes", rss.saturating_sub(used));
    Ok(())
}

fn doctor(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let used = crate::memory::used_memory();
    let startup = startup_bytes(ctx);
    let text = if used.saturating_sub(startup) < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    ctx.out.verbatim(text.as_bytes(), "txt");
    Ok(())
}

fn malloc_stats(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let used = crate::memory::used_memory();
    let text = format!(
        "___ Begin jemalloc statistics (ferrokv summary) ___\nallocated: {}\nresident: {}\n--- End jemalloc statistics ---\n",
        used,
        crate::memory::rss()
    );
    ctx.out.verbatim(text.as_bytes(), "txt");
    Ok(())
}

fn purge(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    crate::memory::purge();
    ctx.out.ok();
    Ok(())
}
