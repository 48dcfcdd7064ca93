//! The server family: INFO, CONFIG, TIME, LASTSAVE, SHUTDOWN, SLOWLOG, LATENCY, MONITOR.
//!
//! Table entries mirror Redis 7.0.15's command metadata (flags, ACL categories, tips and
//! documentation), so COMMAND INFO / COMMAND DOCS answer as redis-server does.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use crate::commands::dispatch::LockIds;
use crate::commands::shared::help::help_reply;
use crate::commands::{acl, flags, CmdError, CmdResult, Command, Ctx, LockScope};
use crate::config::ConfigSetError;
use crate::server::{Server, FERROKV_VERSION, REDIS_VERSION};
use crate::storage::db::LockId;
use crate::util::{eq_ic, now_us};

/// The server family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("info", -1, flags::LOADING | flags::STALE, info)
        .acl(acl::DANGEROUS)
        .lock(LockScope::Custom(info_locks)),
    Command::container("config", -2, 0).subcommands(&[
        Command::new(
            "get",
            -3,
            flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
            config_get,
        ),
        Command::new("help", 2, flags::LOADING | flags::STALE, config_help),
        Command::new(
            "resetstat",
            2,
            flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
            config_resetstat,
        ),
        Command::new(
            "rewrite",
            2,
            flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
            config_rewrite,
        ),
        Command::new(
            "set",
            -4,
            flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
            config_set,
        ),
    ]),
    Command::new("time", 1, flags::LOADING | flags::STALE | flags::FAST, time),
    Command::new(
        "lastsave",
        1,
        flags::LOADING | flags::STALE | flags::FAST,
        lastsave,
    )
    .acl(acl::ADMIN | acl::DANGEROUS),
    Command::new(
        "shutdown",
        -1,
        flags::ADMIN
            | flags::NOSCRIPT
            | flags::LOADING
            | flags::STALE
            | flags::NO_MULTI
            | flags::ALLOW_BUSY,
        shutdown,
    ),
    Command::container("slowlog", -2, 0).subcommands(&[
        Command::new(
            "get",
            -2,
            flags::ADMIN | flags::LOADING | flags::STALE,
            slowlog_get,
        ),
        Command::new("help", 2, flags::LOADING | flags::STALE, slowlog_help),
        Command::new(
            "len",
            2,
            flags::ADMIN | flags::LOADING | flags::STALE,
            slowlog_len,
        ),
        Command::new(
            "reset",
            2,
            flags::ADMIN | flags::LOADING | flags::STALE,
            slowlog_reset,
        ),
    ]),
    Command::container("latency", -2, 0).subcommands(&[
        Command::new(
            "doctor",
            2,
            flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
            latency_doctor,
        ),
        Command::new("help", 2, flags::LOADING | flags::STALE, latency_help),
        Command::new(
            "histogram",
            -2,
            flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
            latency_histogram,
        ),
        Command::new(
            "history",
            3,
            flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
            latency_history,
        ),
        Command::new(
            "latest",
            2,
            flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
            latency_latest,
        ),
        Command::new(
            "reset",
            -2,
            flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
            latency_reset,
        ),
    ]),
    Command::new(
        "monitor",
        1,
        flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
        monitor,
    ),
];

// ---------------------------------------------------------------------------------------
// INFO

/// INFO sections in output order; `default` is the set printed without arguments.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

fn info(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut wanted = vec![false; SECTIONS.len()];
    if args.len() == 1 {
        for (w, (_, default)) in wanted.iter_mut().zip(SECTIONS) {
            *w = *default;
        }
    }
    for a in &args[1..] {
        let name = crate::util::lower(a);
        for (w, (sect, default)) in wanted.iter_mut().zip(SECTIONS) {
            match name.as_str() {
                "all" | "everything" => *w = true,
                "default" => *w |= *default,
                n if n == *sect => *w = true,
                _ => {}
            }
        }
    }
    let keyspace = keyspace_counts(ctx);
    // INFO's own working memory is not the server's: with the keyspace section it holds
    // every shard's lock (guards, and the dispatcher's list of their ids), ~330 KB that
    // would show as used memory for the duration of INFO only, so that a limit computed
    // from INFO's `used_memory` (Redis's test suite does) would be that much too high.
    let held = ctx.locks.held();
    let ids = if held > 8 {
        held * std::mem::size_of::<crate::storage::db::LockId>()
    } else {
        0
    };
    let own = (ctx.locks.guard_bytes() + ids) as u64;
    let text = info_text_excluding(ctx.server, &keyspace, &wanted, own);
    ctx.out.verbatim(text.as_bytes(), "txt");
    Ok(())
}

/// True when INFO with these arguments shows the keyspace section.
fn wants_keyspace(args: &[&[u8]]) -> bool {
    args.len() == 1
        || args[1..].iter().any(|a| {
            ["keyspace", "all", "everything", "default"]
                .iter()
                .any(|w| a.eq_ignore_ascii_case(w.as_bytes()))
        })
}

/// INFO's locks: every shard when the keyspace section is shown (its counts are read from
/// the held shards, so INFO inside MULTI/EXEC cannot deadlock on a shard EXEC holds).
fn info_locks(args: &[&[u8]], _db: usize, db_count: usize, ids: &mut LockIds) {
    if wants_keyspace(args) {
        ids.extend((0..db_count * crate::storage::SHARDS).map(|i| i as LockId));
    }
}

/// (keys, keys with a TTL) of every database, from the shards this command holds.
fn keyspace_counts(ctx: &mut Ctx) -> Vec<(usize, usize)> {
    (0..ctx.server.dbs.len())
        .map(|db| {
            ctx.locks
                .db_shards(db)
                .fold((0, 0), |(k, v), s| (k + s.map.len(), v + s.volatile))
        })
        .collect()
}

/// Render the selected INFO sections (`wanted` is parallel to `SECTIONS`); `keyspace`
/// holds each database's (keys, expires).
pub fn info_text(server: &Server, keyspace: &[(usize, usize)], wanted: &[bool]) -> String {
    info_text_excluding(server, keyspace, wanted, 0)
}

/// [`info_text`], with `own` bytes (the caller's transient working memory) left out of
/// `used_memory`.
fn info_text_excluding(
    server: &Server,
    keyspace: &[(usize, usize)],
    wanted: &[bool],
    own: u64,
) -> String {
    let mut out = String::new();
    for ((name, _), want) in SECTIONS.iter().zip(wanted) {
        if !*want {
            continue;
        }
        let title = match *name {
            "cpu" => "CPU".to_string(),
            n => {
                let mut t = n.to_string();
                if let Some(first) = t.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                t
            }
        };
        // Sections are separated by a blank line, with none after the last (Redis's
        // genRedisInfoString).
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {}\r\n", title);
        let mut fields: Vec<(String, String)> = Vec::new();
        match *name {
            "server" => info_server(server, &mut fields),
            "clients" => info_clients(server, &mut fields),
            "memory" => info_memory(server, &mut fields, own),
            "persistence" => info_persistence(server, &mut fields),
            "stats" => info_stats(server, &mut fields),
            "replication" => info_replication(server, &mut fields),
            "cpu" => info_cpu(&mut fields),
            "commandstats" => info_commandstats(server, &mut fields),
            "errorstats" => info_errorstats(server, &mut fields),
            "latencystats" => info_latencystats(server, &mut fields),
            "cluster" => fields.push(("cluster_enabled".into(), "0".into())),
            "keyspace" => info_keyspace(keyspace, &mut fields),
            _ => {}
        }
        for (k, v) in fields {
            let _ = write!(out, "{}:{}\r\n", k, v);
        }
    }
    out
}

/// Every INFO section (`INFO everything`): what the metrics endpoint and the status page
/// (`server/metrics/`) read their figures from, so they always agree with INFO.
pub fn info_everything(server: &Server, keyspace: &[(usize, usize)]) -> String {
    info_text(server, keyspace, &[true; SECTIONS.len()])
}

/// Push `name:value` pairs.
macro_rules! kv {
    ($f:expr, $($k:expr => $v:expr),* $(,)?) => {
        $( $f.push(($k.to_string(), $v.to_string())); )*
    };
}

fn uname() -> String {
    // SAFETY: `utsname` is plain old data; `uname` fills it and the fields are
    // NUL-terminated C strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return "Linux".into();
        }
        let s = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        format!("{} {} {}", s(&u.sysname), s(&u.release), s(&u.machine))
    }
}

fn info_server(server: &Server, f: &mut Vec<(String, String)>) {
    let uptime = server.started.elapsed().as_secs();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    kv!(f,
        "redis_version" => REDIS_VERSION,
        "ferrokv_version" => FERROKV_VERSION,
        "redis_git_sha1" => "00000000",
        "redis_git_dirty" => 0,
        "redis_build_id" => "0",
        "redis_mode" => "standalone",
        "os" => uname(),
        "arch_bits" => usize::BITS,
        "monotonic_clock" => "POSIX clock_gettime",
        "multiplexing_api" => "epoll",
        "atomicvar_api" => "c11-builtin",
        "gcc_version" => "0.0.0",
        "process_id" => std::process::id(),
        "process_supervised" => "no",
        "run_id" => server.run_id,
        "tcp_port" => server.port.load(Relaxed),
        "server_time_usec" => now_us(),
        "uptime_in_seconds" => uptime,
        "uptime_in_days" => uptime / 86400,
        "hz" => server.config.hz(),
        "configured_hz" => server.config.hz(),
        "lru_clock" => crate::util::lru_clock(),
        "executable" => exe,
        "config_file" => server.config.config_file.clone().unwrap_or_default(),
        "io_threads_active" => 0,
    );
}

fn info_clients(server: &Server, f: &mut Vec<(String, String)>) {
    kv!(f,
        // Replica links are not counted (Redis: clients minus slaves).
        "connected_clients" => server
            .connected_clients()
            .saturating_sub(server.repl.state.lock().replicas.len()),
        "cluster_connections" => 0,
        "maxclients" => server.config.get("maxclients"),
        "client_recent_max_input_buffer" => 0,
        "client_recent_max_output_buffer" => 0,
        "blocked_clients" => server.stats.blocked_clients.load(std::sync::atomic::Ordering::Relaxed),
        "tracking_clients" => server.tracking.counts().0,
        "clients_in_timeout_table" => 0,
    );
}

/// Bytes as Redis's `bytesToHuman` prints them (`895.04K`, `6.39M`).
pub fn bytes_to_human(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if n < 1024 {
        format!("{}B", n)
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else {
        format!("{:.2}P", d / (K * K * K * K * K))
    }
}

/// Resident set size of the process, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let page = {
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 {
            p as u64
        } else {
            4096
        }
    };
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page)
        .unwrap_or(0)
}

fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        pages as u64 * size as u64
    } else {
        0
    }
}

/// Memory the server holds for its own structures before any data (shard tables).
fn startup_bytes(server: &Server) -> u64 {
    let per_db = crate::storage::SHARDS
        * std::mem::size_of::<parking_lot::Mutex<crate::storage::shard::Shard>>();
    (server.dbs.len() * per_db) as u64
}

/// `a / b`, 0 when `b` is 0.
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn info_memory(server: &Server, f: &mut Vec<(String, String)>, own: u64) {
    // jemalloc's count of allocated bytes: everything the server holds, in O(1).
    let used = (crate::memory::used_memory() as u64).saturating_sub(own);
    let startup = startup_bytes(server);
    let dataset = used.saturating_sub(startup);
    let peak = server.peak_memory.fetch_max(used, Relaxed).max(used);
    let rss = rss_bytes();
    let maxmemory: u64 = server.config.get("maxmemory").parse().unwrap_or(0);
    let heap = crate::memory::allocator_stats();
    let (active, resident) = (heap.active as u64, heap.resident as u64);
    let sysmem = total_system_memory();
    let frag = if used > 0 {
        rss as f64 / used as f64
    } else {
        0.0
    };
    // Lua: every worker thread's VM; cached bodies plus their SHA1 keys and entries.
    let lua_vm = server.scripts.vm_memory() as u64;
    let scripts_eval = (server.scripts.cache_bytes() + server.scripts.count() * 96) as u64;
    let (lib_count, fn_count) = server.scripts.functions.counts();
    // Like Redis: the libraries' code plus a per-library and per-function overhead.
    let functions_mem =
        (server.scripts.functions.code_bytes() + lib_count * 96 + fn_count * 64) as u64;
    kv!(f,
        "used_memory" => used,
        "used_memory_human" => bytes_to_human(used),
        "used_memory_rss" => rss,
        "used_memory_rss_human" => bytes_to_human(rss),
        "used_memory_peak" => peak,
        "used_memory_peak_human" => bytes_to_human(peak),
        "used_memory_peak_perc" => format!("{:.2}%", if peak > 0 { used as f64 * 100.0 / peak as f64 } else { 0.0 }),
        "used_memory_overhead" => startup,
        "used_memory_startup" => startup,
        "used_memory_dataset" => dataset,
        "used_memory_dataset_perc" => format!("{:.2}%", if used > 0 { dataset as f64 * 100.0 / used as f64 } else { 0.0 }),
        "allocator_allocated" => used,
        "allocator_active" => active,
        "allocator_resident" => resident,
        "total_system_memory" => sysmem,
        "total_system_memory_human" => bytes_to_human(sysmem),
        "used_memory_lua" => lua_vm,
        "used_memory_vm_eval" => lua_vm,
        "used_memory_lua_human" => bytes_to_human(lua_vm),
        "used_memory_scripts_eval" => scripts_eval,
        "number_of_cached_scripts" => server.scripts.count(),
        "number_of_functions" => fn_count,
        "number_of_libraries" => lib_count,
        // Functions run on the scripts' VM: its memory is counted once, under eval.
        "used_memory_vm_functions" => 0,
        "used_memory_vm_total" => lua_vm,
        "used_memory_vm_total_human" => bytes_to_human(lua_vm),
        "used_memory_functions" => functions_mem,
        "used_memory_scripts" => scripts_eval + functions_mem,
        "used_memory_scripts_human" => bytes_to_human(scripts_eval + functions_mem),
        "maxmemory" => maxmemory,
        "maxmemory_human" => bytes_to_human(maxmemory),
        "maxmemory_policy" => server.config.get("maxmemory-policy"),
        // As Redis: active over allocated, resident over active, RSS over resident.
        "allocator_frag_ratio" => format!("{:.2}", ratio(active, used)),
        "allocator_frag_bytes" => active as i64 - used as i64,
        "allocator_rss_ratio" => format!("{:.2}", ratio(resident, active)),
        "allocator_rss_bytes" => resident as i64 - active as i64,
        "rss_overhead_ratio" => format!("{:.2}", ratio(rss, resident)),
        "rss_overhead_bytes" => rss as i64 - resident as i64,
        "mem_fragmentation_ratio" => format!("{:.2}", frag),
        "mem_fragmentation_bytes" => rss as i64 - used as i64,
        "mem_not_counted_for_evict" => crate::server::evict::not_counted(server),
        "mem_replication_backlog" => 0,
        "mem_total_replication_buffers" => 0,
        "mem_clients_slaves" => 0,
        "mem_clients_normal" => 0,
        "mem_cluster_links" => 0,
        "mem_aof_buffer" => 0,
        "mem_allocator" => "jemalloc-5.3.0",
        "active_defrag_running" => 0,
        "lazyfree_pending_objects" => 0,
        "lazyfreed_objects" => 0,
    );
}

fn info_persistence(server: &Server, f: &mut Vec<(String, String)>) {
    kv!(f,
        "loading" => server.is_loading() as u8,
        "async_loading" => 0,
        "current_cow_peak" => 0,
        "current_cow_size" => 0,
        "current_cow_size_age" => 0,
        "current_fork_perc" => "0.00",
        "current_save_keys_processed" => 0,
        "current_save_keys_total" => 0,
        "rdb_changes_since_last_save" => server.stats.dirty.load(Relaxed),
        "rdb_bgsave_in_progress" => server.saving.in_progress.load(Relaxed) as u8,
        "rdb_last_save_time" => server.lastsave.load(Relaxed),
        "rdb_last_bgsave_status" => if server.saving.last_failed.load(Relaxed) { "err" } else { "ok" },
        "rdb_last_bgsave_time_sec" => if server.saving.saves.load(Relaxed) > 0 {
            server.saving.last_secs.load(Relaxed) as i64
        } else {
            -1
        },
        "rdb_current_bgsave_time_sec" => -1,
        "rdb_saves" => server.saving.saves.load(Relaxed),
        "rdb_last_cow_size" => 0,
        "rdb_last_load_keys_expired" => server.saving.last_load.lock().1,
        "rdb_last_load_keys_loaded" => server.saving.last_load.lock().0,
        "aof_enabled" => server.aof.enabled() as u8,
        "aof_rewrite_in_progress" => server.aof_rewrite.in_progress.load(Relaxed) as u8,
        "aof_rewrite_scheduled" => 0,
        "aof_last_rewrite_time_sec" => if server.aof_rewrite.count.load(Relaxed) > 0 {
            server.aof_rewrite.last_secs.load(Relaxed) as i64
        } else {
            -1
        },
        "aof_current_rewrite_time_sec" => -1,
        "aof_last_bgrewrite_status" => if server.aof_rewrite.last_failed.load(Relaxed) { "err" } else { "ok" },
        "aof_rewrites" => server.aof_rewrite.count.load(Relaxed),
        "aof_rewrites_consecutive_failures" => 0,
        "aof_last_write_status" => if server.aof.write_failed() { "err" } else { "ok" },
        "aof_last_cow_size" => 0,
        "module_fork_in_progress" => 0,
        "module_fork_last_cow_size" => 0,
    );
    if server.aof.enabled() {
        let aof = &server.aof;
        kv!(f,
            "aof_current_size" => aof.current_size.load(Relaxed),
            "aof_base_size" => aof.base_size.load(Relaxed),
            "aof_pending_rewrite" => 0,
            "aof_buffer_length" => aof.appended().saturating_sub(aof.durable()),
            "aof_pending_bio_fsync" => 0,
            "aof_delayed_fsync" => 0,
            // ferrokv: fsyncs done so far (with `always`, one covers many writes).
            "aof_fsyncs" => aof.fsyncs.load(Relaxed),
        );
    }
}

/// Rates for `instantaneous_*`: measured between successive INFO calls at least 100 ms
/// apart (Redis samples in its cron; we sample on demand).
struct RateSample {
    at: std::time::Instant,
    cmds: u64,
    input: u64,
    output: u64,
    ops: f64,
    in_kbps: f64,
    out_kbps: f64,
}

static RATES: parking_lot::Mutex<Option<RateSample>> = parking_lot::Mutex::new(None);

fn rates(server: &Server) -> (f64, f64, f64) {
    let now = std::time::Instant::now();
    let cmds = server.stats.total_commands_processed.load(Relaxed);
    let input = server.stats.net_input_bytes.load(Relaxed);
    let output = server.stats.net_output_bytes.load(Relaxed);
    let mut guard = RATES.lock();
    match guard.as_mut() {
        None => {
            *guard = Some(RateSample {
                at: now,
                cmds,
                input,
                output,
                ops: 0.0,
                in_kbps: 0.0,
                out_kbps: 0.0,
            });
            (0.0, 0.0, 0.0)
        }
        Some(s) => {
            let dt = now.duration_since(s.at).as_secs_f64();
            if dt >= 0.1 {
                s.ops = cmds.saturating_sub(s.cmds) as f64 / dt;
                s.in_kbps = input.saturating_sub(s.input) as f64 / dt / 1024.0;
                s.out_kbps = output.saturating_sub(s.output) as f64 / dt / 1024.0;
                s.at = now;
                s.cmds = cmds;
                s.input = input;
                s.output = output;
            }
            (s.ops, s.in_kbps, s.out_kbps)
        }
    }
}

fn info_stats(server: &Server, f: &mut Vec<(String, String)>) {
    let st = &server.stats;
    let (ops, ikbps, okbps) = rates(server);
    let tracking = server.tracking.counts();
    let (exceeded_current_ms, exceeded_total_ms) = server.evictor.exceeded_ms();
    kv!(f,
        "total_connections_received" => st.total_connections_received.load(Relaxed),
        "total_commands_processed" => st.total_commands_processed.load(Relaxed),
        "instantaneous_ops_per_sec" => ops.round() as u64,
        "total_net_input_bytes" => st.net_input_bytes.load(Relaxed),
        "total_net_output_bytes" => st.net_output_bytes.load(Relaxed),
        "total_net_repl_input_bytes" => server.repl.net_input.load(Relaxed),
        "total_net_repl_output_bytes" => server.repl.net_output.load(Relaxed),
        "instantaneous_input_kbps" => format!("{:.2}", ikbps),
        "instantaneous_output_kbps" => format!("{:.2}", okbps),
        "instantaneous_input_repl_kbps" => "0.00",
        "instantaneous_output_repl_kbps" => "0.00",
        "rejected_connections" => st.rejected_connections.load(Relaxed),
        "sync_full" => server.repl.sync_full.load(Relaxed),
        "sync_partial_ok" => server.repl.sync_partial_ok.load(Relaxed),
        "sync_partial_err" => server.repl.sync_partial_err.load(Relaxed),
        "expired_keys" => st.expired_keys.load(Relaxed),
        "expired_stale_perc" => "0.00",
        "expired_time_cap_reached_count" => 0,
        "expire_cycle_cpu_milliseconds" => 0,
        "evicted_keys" => st.evicted_keys.load(Relaxed),
        "evicted_clients" => 0,
        "total_eviction_exceeded_time" => exceeded_total_ms,
        "current_eviction_exceeded_time" => exceeded_current_ms,
        "keyspace_hits" => st.keyspace_hits.load(Relaxed),
        "keyspace_misses" => st.keyspace_misses.load(Relaxed),
        "pubsub_channels" => server.pubsub.channel_count(),
        "pubsub_patterns" => server.pubsub.pattern_count(),
        "pubsubshard_channels" => server.pubsub.shard_channel_count(),
        "latest_fork_usec" => 0,
        "total_forks" => 0,
        "migrate_cached_sockets" => 0,
        "slave_expires_tracked_keys" => 0,
        "active_defrag_hits" => 0,
        "active_defrag_misses" => 0,
        "active_defrag_key_hits" => 0,
        "active_defrag_key_misses" => 0,
        "total_active_defrag_time" => 0,
        "current_active_defrag_time" => 0,
        "tracking_total_keys" => tracking.1,
        "tracking_total_items" => tracking.2,
        "tracking_total_prefixes" => tracking.3,
        "unexpected_error_replies" => 0,
        "total_error_replies" => st.total_error_replies.load(Relaxed),
        "dump_payload_sanitizations" => 0,
        "total_reads_processed" => 0,
        "total_writes_processed" => 0,
        "io_threaded_reads_processed" => 0,
        "io_threaded_writes_processed" => 0,
        "reply_buffer_shrinks" => 0,
        "reply_buffer_expands" => 0,
    );
}

fn info_replication(server: &Server, f: &mut Vec<(String, String)>) {
    f.extend(crate::replication::info_fields(server));
}

/// (system, user) CPU seconds of `who` (RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD).
fn cpu_times(who: libc::c_int) -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed struct; no other precondition.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut ru) != 0 {
            return (0.0, 0.0);
        }
        ru
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_stime), secs(ru.ru_utime))
}

fn info_cpu(f: &mut Vec<(String, String)>) {
    let (sys, user) = cpu_times(libc::RUSAGE_SELF);
    let (csys, cuser) = cpu_times(libc::RUSAGE_CHILDREN);
    let (tsys, tuser) = cpu_times(libc::RUSAGE_THREAD);
    kv!(f,
        "used_cpu_sys" => format!("{:.6}", sys),
        "used_cpu_user" => format!("{:.6}", user),
        "used_cpu_sys_children" => format!("{:.6}", csys),
        "used_cpu_user_children" => format!("{:.6}", cuser),
        "used_cpu_sys_main_thread" => format!("{:.6}", tsys),
        "used_cpu_user_main_thread" => format!("{:.6}", tuser),
    );
}

fn info_commandstats(server: &Server, f: &mut Vec<(String, String)>) {
    let reg = crate::commands::registry();
    for (id, s) in server.command_stats.iter_totals().enumerate() {
        let calls = s.calls.load(Relaxed);
        let failed = s.failed_calls.load(Relaxed);
        let rejected = s.rejected_calls.load(Relaxed);
        if calls == 0 && failed == 0 && rejected == 0 {
            continue;
        }
        let usec = s.usec.load(Relaxed);
        let per = if calls > 0 {
            usec as f64 / calls as f64
        } else {
            0.0
        };
        f.push((
            format!("cmdstat_{}", reg.full_name(id)),
            format!(
                "calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}",
                calls, usec, per, rejected, failed
            ),
        ));
    }
}

/// `latency_percentiles_usec_<command>:p50=..,p99=..,p99.9=..` for the commands with
/// calls, at the percentiles of `latency-tracking-info-percentiles`.
fn info_latencystats(server: &Server, f: &mut Vec<(String, String)>) {
    let reg = crate::commands::registry();
    let percentiles = server.config.latency_tracking_percentiles();
    for (id, s) in server.command_stats.iter_totals().enumerate() {
        if s.latency.total() == 0 {
            continue;
        }
        let values: Vec<String> = percentiles
            .iter()
            .map(|p| format!("p{}={:.3}", trim_double(*p), s.latency.percentile_us(*p)))
            .collect();
        f.push((
            format!("latency_percentiles_usec_{}", reg.full_name(id)),
            values.join(","),
        ));
    }
}

/// A percentile as Redis prints it: `%f`, then trailing zeros (and the point) trimmed.
fn trim_double(v: f64) -> String {
    let s = format!("{:.6}", v);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn info_errorstats(server: &Server, f: &mut Vec<(String, String)>) {
    let es = server.error_stats.lock();
    let mut codes: Vec<(&String, &u64)> = es.iter().collect();
    codes.sort();
    for (code, n) in codes {
        f.push((format!("errorstat_{}", code), format!("count={}", n)));
    }
}

fn info_keyspace(keyspace: &[(usize, usize)], f: &mut Vec<(String, String)>) {
    for (i, &(keys, expires)) in keyspace.iter().enumerate() {
        if keys > 0 {
            f.push((
                format!("db{}", i),
                format!("keys={},expires={},avg_ttl=0", keys, expires),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// CONFIG

fn config_get(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let found = ctx.server.config.get_matching_any(&args[2..]);
    ctx.out.map(found.len());
    for (k, v) in found {
        ctx.out.bulk(k.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
    Ok(())
}

/// CONFIG SET of `appendfsync` takes effect at once; `appendonly no` stops logging and
/// `appendonly yes` starts it (the dataset is written as the log's base in the background).
fn apply_persistence_config(server: &Server) {
    use crate::persistence::aof::Fsync;
    server
        .aof
        .set_fsync(Fsync::from_name(&server.config.get("appendfsync")));
    if server.config.get("appendonly") == "no" {
        server.aof.stop();
    } else if !server.aof.enabled() {
        if let Some(arc) = server.arc() {
            if let Err(e) = crate::persistence::rewrite::enable_at_runtime(&arc) {
                tracing::warn!("Can't turn on the append-only file: {}", e);
            }
        }
    }
}

/// When CONFIG SET changes `port` or `bind`: the sockets for the new values, bound before
/// anything changes, so a port in use fails the whole CONFIG SET with Redis's texts and
/// nothing is applied (the new sockets are dropped if another parameter is refused).
/// Port 0 listens on nothing, as in Redis.
fn rebind_for(
    server: &Server,
    pairs: &[(&str, &str)],
) -> Result<Option<(Vec<std::net::TcpListener>, u16)>, CmdError> {
    let value_of = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| crate::config::Config::canonical_name(n) == Some(name))
            .map(|(n, v)| (n.to_string(), v.to_string()))
    };
    let (port_arg, bind_arg) = (value_of("port"), value_of("bind"));
    if port_arg.is_none() && bind_arg.is_none() {
        return Ok(None);
    }
    let port = match &port_arg {
        Some((_, v)) => match v.parse::<u16>() {
            Ok(p) => p,
            // set_many reports the invalid value with its own text.
            Err(_) => return Ok(None),
        },
        None => server.config.port(),
    };
    let bind = bind_arg
        .as_ref()
        .map_or_else(|| server.config.get("bind"), |(_, v)| v.clone());
    if port == server.config.port() && bind == server.config.get("bind") {
        return Ok(None);
    }
    if port == 0 {
        return Ok(Some((Vec::new(), 0)));
    }
    let backlog = server.config.get("tcp-backlog").parse().unwrap_or(511);
    match crate::server::bind_listener(&bind, port, backlog) {
        Ok(listeners) => Ok(Some((listeners, port))),
        Err(e) => {
            tracing::warn!("CONFIG SET: {}", e);
            let (name, why) = match (&port_arg, &bind_arg) {
                (Some((n, _)), _) => (
                    n.clone(),
                    "Unable to listen on this port. Check server logs.",
                ),
                (None, Some((n, _))) => (n.clone(), "Failed to bind to specified addresses."),
                (None, None) => return Ok(None),
            };
            Err(CmdError::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - {}",
                name, why
            )))
        }
    }
}

fn config_set(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if !(args.len() - 2).is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let strings: Vec<String> = args[2..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let pairs: Vec<(&str, &str)> = strings
        .chunks(2)
        .filter_map(|c| Some((c.first()?.as_str(), c.get(1)?.as_str())))
        .collect();
    let local = ctx
        .client
        .handle
        .addr
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().is_loopback())
        .unwrap_or(true);
    let new_listeners = rebind_for(ctx.server, &pairs)?;
    let tls_change = crate::server::tls::prepare(ctx.server, &pairs).map_err(CmdError::msg)?;
    match ctx.server.config.set_many(&pairs, local) {
        Ok(()) => {
            if let Some((listeners, port)) = new_listeners {
                ctx.server.replace_listeners(listeners, port);
            }
            if let Some(change) = tls_change {
                change.apply(ctx.server);
            }
            apply_persistence_config(ctx.server);
            apply_acl_config(ctx.server, &pairs);
            if pairs
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("maxmemory"))
            {
                evict_for_new_limit(ctx);
            }
            ctx.out.ok();
            Ok(())
        }
        Err((name, ConfigSetError::Unknown)) => Err(CmdError::msg(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
            name
        ))),
        Err((name, ConfigSetError::Invalid(why))) => Err(CmdError::msg(format!(
            "ERR CONFIG SET failed (possibly related to argument '{}') - {}",
            name, why
        ))),
    }
}

/// `requirepass` is the default user's password: CONFIG SET replaces it. (A smaller
/// `acllog-max-len` trims the ACL log at its next entry, as in Redis.)
fn apply_acl_config(server: &Server, pairs: &[(&str, &str)]) {
    if pairs
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("requirepass"))
    {
        server
            .acl
            .set_requirepass(&server.config.get("requirepass"));
    }
}

/// After CONFIG SET maxmemory, as Redis's `updateMaxmemory`: evict now, before the reply,
/// with a fresh memory reading. Inside a transaction other shards may be locked, so the
/// eviction is left to after the command (see `dispatch`).
fn evict_for_new_limit(ctx: &mut Ctx) {
    if ctx.server.config.maxmemory() == 0 {
        return;
    }
    crate::memory::refresh_recent();
    if !ctx.locks.is_empty() || ctx.client.in_script {
        ctx.server.evictor.request();
        return;
    }
    let mut own = crate::server::tracking::Own {
        id: ctx.client.handle.id,
        out: &mut ctx.out.buf,
    };
    crate::server::evict::perform(ctx.server, Some(&mut own));
}

fn config_resetstat(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    reset_stats(ctx.server);
    ctx.out.ok();
    Ok(())
}

/// CONFIG RESETSTAT: zero the INFO counters, command and error statistics.
pub fn reset_stats(server: &Server) {
    let st = &server.stats;
    for c in [
        &st.total_commands_processed,
        &st.keyspace_hits,
        &st.keyspace_misses,
        &st.net_input_bytes,
        &st.net_output_bytes,
    ] {
        c.store(0, Relaxed);
    }
    for c in [
        &st.total_connections_received,
        &st.rejected_connections,
        &st.expired_keys,
        &st.evicted_keys,
        &st.total_error_replies,
        &st.rejected_calls,
        &st.failed_calls,
        &st.query_buffer_limit_disconnections,
        &st.output_buffer_limit_disconnections,
    ] {
        c.store(0, Relaxed);
    }
    server.command_stats.reset();
    server.error_stats.lock().clear();
    server.evictor.reset_stats();
    server
        .peak_memory
        .store(crate::memory::used_memory() as u64, Relaxed);
}

fn config_rewrite(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let users = ctx
        .server
        .config
        .get("aclfile")
        .is_empty()
        .then(|| ctx.server.acl.list());
    ctx.server
        .config
        .rewrite_with_users(users)
        .map_err(CmdError::msg)?;
    ctx.out.ok();
    Ok(())
}

fn config_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// TIME, LASTSAVE, SHUTDOWN, MONITOR

fn time(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let us = now_us();
    ctx.out.array(2);
    ctx.out.bulk_int((us / 1_000_000) as i64);
    ctx.out.bulk_int((us % 1_000_000) as i64);
    Ok(())
}

fn lastsave(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.lastsave.load(Relaxed) as i64);
    Ok(())
}

fn shutdown(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (mut nosave, mut save, mut abort, mut other) = (false, false, false, false);
    for a in &args[1..] {
        if eq_ic(a, "nosave") {
            nosave = true;
        } else if eq_ic(a, "save") {
            save = true;
        } else if eq_ic(a, "now") || eq_ic(a, "force") {
            other = true;
        } else if eq_ic(a, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (nosave && save) || (abort && (nosave || save || other)) {
        return Err(CmdError::Syntax);
    }
    if abort {
        return Err(CmdError::Static("ERR No shutdown in progress."));
    }
    let force = if nosave {
        Some(false)
    } else if save {
        Some(true)
    } else {
        None
    };
    if crate::persistence::save::save_on_shutdown(ctx.server, force).is_err() {
        return Err(CmdError::Static(
            "ERR Errors trying to SHUTDOWN. Check logs.",
        ));
    }
    // No reply on success: the connection flushes what it has and the server exits.
    ctx.client.shutdown_requested = true;
    Ok(())
}

fn monitor(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    if ctx.client.monitor {
        // Redis ignores MONITOR from a client already monitoring.
        return Ok(());
    }
    ctx.client.monitor = true;
    ctx.server.add_monitor(ctx.client.handle.clone());
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SLOWLOG

fn slowlog_get(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        // Redis quotes the subcommand as the client typed it.
        return Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(args[1])
        )));
    }
    let count = match args.get(2) {
        None => 10,
        Some(a) => match crate::util::parse_canonical_i64(a) {
            Some(n) if n >= -1 => n,
            _ => {
                return Err(CmdError::Static(
                    "ERR count should be greater than or equal to -1",
                ))
            }
        },
    };
    let log = ctx.server.slowlog.lock();
    let n = if count == -1 {
        log.entries.len()
    } else {
        log.entries.len().min(count as usize)
    };
    ctx.out.array(n);
    for e in log.entries.iter().take(n) {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time as i64);
        ctx.out.int(e.micros as i64);
        ctx.out.array(e.args.len());
        for a in &e.args {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.addr.as_bytes());
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let n = ctx.server.slowlog.lock().entries.len();
    ctx.out.int(n as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.server.slowlog.lock().entries.clear();
    ctx.out.ok();
    Ok(())
}

fn slowlog_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// LATENCY

/// LATENCY HISTOGRAM [command ...]: per command with calls, `calls` and the cumulative
/// `histogram_usec` (bucket bound in µs -> calls at or below it). A container names its
/// subcommands; unknown names are skipped; without names, every command with calls.
fn latency_histogram(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let reg = crate::commands::registry();
    let mut ids: Vec<usize> = Vec::new();
    if args.len() == 2 {
        ids.extend(0..reg.len());
    } else {
        for name in &args[2..] {
            ids.extend(histogram_ids(name));
        }
    }
    let stats = &ctx.server.command_stats;
    let with_calls: Vec<usize> = ids
        .into_iter()
        .filter(|id| stats.totals(*id).is_some_and(|s| s.latency.total() > 0))
        .collect();
    ctx.out.map(with_calls.len());
    for id in with_calls {
        let Some(s) = stats.totals(id) else { continue };
        let cdf = s.latency.cdf();
        ctx.out.bulk(reg.full_name(id).as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(cdf.last().map_or(0, |c| c.1) as i64);
        ctx.out.bulk(b"histogram_usec");
        ctx.out.map(cdf.len());
        for (micros, calls) in cdf {
            ctx.out.int(micros as i64);
            ctx.out.int(calls as i64);
        }
    }
    Ok(())
}

/// The command ids LATENCY HISTOGRAM reports for `name` (`set`, `client|id`, or a
/// container, which stands for its subcommands).
fn histogram_ids(name: &[u8]) -> Vec<usize> {
    let reg = crate::commands::registry();
    let lower = crate::util::lower(name);
    if let Some((parent, sub)) = lower.split_once('|') {
        return reg
            .lookup(parent.as_bytes())
            .and_then(|(_, p)| reg.lookup_sub(p.name, sub.as_bytes()))
            .map(|(id, _)| vec![id])
            .unwrap_or_default();
    }
    match reg.lookup(name) {
        Some((_, cmd)) if !cmd.subcommands.is_empty() => cmd
            .subcommands
            .iter()
            .filter_map(|s| {
                reg.lookup_sub(cmd.name, s.name.as_bytes())
                    .map(|(id, _)| id)
            })
            .collect(),
        Some((id, _)) => vec![id],
        None => Vec::new(),
    }
}

fn latency_latest(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let lat = ctx.server.latency.lock();
    let mut events: Vec<_> = lat.events.iter().collect();
    events.sort_by(|a, b| a.0.cmp(b.0));
    let events: Vec<_> = events
        .into_iter()
        .filter_map(|(name, ev)| ev.samples.back().map(|last| (name, *last, ev.max)))
        .collect();
    ctx.out.array(events.len());
    for (name, (t, ms), max) in events {
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(t as i64);
        ctx.out.int(ms as i64);
        ctx.out.int(max as i64);
    }
    Ok(())
}

fn latency_history(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let lat = ctx.server.latency.lock();
    let name = String::from_utf8_lossy(args[2]);
    match lat.events.get(name.as_ref()) {
        None => ctx.out.array(0),
        Some(ev) => {
            ctx.out.array(ev.samples.len());
            for (t, ms) in &ev.samples {
                ctx.out.array(2);
                ctx.out.int(*t as i64);
                ctx.out.int(*ms as i64);
            }
        }
    }
    Ok(())
}

fn latency_reset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut lat = ctx.server.latency.lock();
    let n = if args.len() == 2 {
        let n = lat.events.len();
        lat.events.clear();
        n
    } else {
        args[2..]
            .iter()
            .filter(|a| {
                lat.events
                    .remove(String::from_utf8_lossy(a).as_ref())
                    .is_some()
            })
            .count()
    };
    ctx.out.int(n as i64);
    Ok(())
}

fn latency_doctor(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let text = latency_report(ctx.server);
    ctx.out.verbatim(text.as_bytes(), "txt");
    Ok(())
}

/// LATENCY DOCTOR's report: Redis's texts when monitoring is off or nothing was seen, else
/// one paragraph per event.
fn latency_report(server: &Server) -> String {
    let threshold = server.config.latency_threshold_ms();
    let lat = server.latency.lock();
    if lat.events.is_empty() {
        if threshold == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
        }
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".into();
    }
    let mut out = String::from(
        "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
    );
    let mut events: Vec<_> = lat.events.iter().collect();
    events.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (name, ev)) in events.into_iter().enumerate() {
        let n = ev.samples.len().max(1);
        let avg = ev.samples.iter().map(|s| s.1).sum::<u64>() / n as u64;
        let _ = writeln!(
            out,
            "{}. {}: {} latency spikes (average {}ms, mean deviation 0ms, period 0 sec). Worst all time event {}ms.",
            i + 1,
            name,
            ev.samples.len(),
            avg,
            ev.max
        );
    }
    out.push_str("\nI have a few advices for you:\n\n- Check your slow commands with SLOWLOG GET, and consider lowering slowlog-log-slower-than to see more of them.\n");
    out
}

fn latency_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_like_redis() {
        assert_eq!(bytes_to_human(916520), "895.04K");
        assert_eq!(bytes_to_human(6705152), "6.39M");
        assert_eq!(bytes_to_human(200), "200B");
        assert_eq!(bytes_to_human(0), "0B");
    }

    #[test]
    fn info_sections_are_separated_by_blank_lines() {
        let server = Server::new(crate::config::Config::defaults());
        let mut wanted = vec![false; SECTIONS.len()];
        wanted[6] = true; // cpu
        wanted[12] = true; // keyspace
        let text = info_text(&server, &[], &wanted);
        assert!(text.starts_with("# CPU\r\nused_cpu_sys:"));
        // A blank line between sections, none after the last (as Redis).
        assert!(text.ends_with("\r\n\r\n# Keyspace\r\n"));
    }
}
