//! DEBUG: developer commands, behind `enable-debug-command` (`no` by default, `yes`, or
//! `local` for loopback peers only), as in Redis 7.

use std::net::SocketAddr;

use crate::commands::dispatch::LockIds;
use crate::commands::{flags, CmdError, CmdResult, Command, Ctx, LockScope};
use crate::storage::db::{lock_id, shard_of, LockId};
use crate::storage::stream::StreamId;
use crate::storage::{HashValue, StrRef, ValueRef};
use crate::util::eq_ic;

/// The DEBUG command (one entry: Redis dispatches its subcommands itself).
pub static COMMANDS: &[Command] = &[Command::new(
    "debug",
    -2,
    flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
    debug,
)
.lock(LockScope::Custom(debug_locks))];

/// DEBUG's locks: the keys of OBJECT/LISTPACK/DIGEST-VALUE, every shard for DIGEST and
/// RELOAD (LOADAOF takes none: it replays commands, which lock for themselves). Taken
/// before the handler (and by EXEC for the whole transaction), so the handler never locks.
fn debug_locks(args: &[&[u8]], db: usize, db_count: usize, ids: &mut LockIds) {
    let Some(sub) = args.get(1) else { return };
    let keys: &[&[u8]] =
        if sub.eq_ignore_ascii_case(b"digest") || sub.eq_ignore_ascii_case(b"reload") {
            ids.extend((0..db_count * crate::storage::SHARDS).map(|i| i as LockId));
            return;
        } else if sub.eq_ignore_ascii_case(b"digest-value") {
            args.get(2..).unwrap_or(&[])
        } else if sub.eq_ignore_ascii_case(b"object") || sub.eq_ignore_ascii_case(b"listpack") {
            args.get(2..3).unwrap_or(&[])
        } else {
            &[]
        };
    ids.extend(keys.iter().map(|k| lock_id(db, shard_of(k))));
}

const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// True when `enable-debug-command` lets this client run DEBUG.
fn allowed(ctx: &Ctx) -> bool {
    match ctx.server.config.get("enable-debug-command").as_str() {
        "yes" => true,
        "local" => ctx
            .client
            .handle
            .addr
            .parse::<SocketAddr>()
            .map(|a| a.ip().is_loopback())
            .unwrap_or(true),
        _ => false,
    }
}

fn bad_args(sub: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        String::from_utf8_lossy(sub)
    ))
}

fn debug(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if !allowed(ctx) {
        return Err(CmdError::Static(NOT_ALLOWED));
    }
    let sub = args[1];
    let argc = args.len();
    let is = |name: &str| eq_ic(sub, name);
    if is("help") && argc == 2 {
        debug_help(ctx)
    } else if is("sleep") && argc == 3 {
        debug_sleep(ctx, args[2])
    } else if is("object") && argc == 3 {
        debug_object(ctx, args[2])
    } else if is("set-active-expire") && argc == 3 {
        ctx.server.config.set_active_expire(atoi(args[2]) != 0);
        ctx.out.ok();
        Ok(())
    } else if is("set-disable-deny-scripts") && argc == 3 {
        let on = atoi(args[2]) != 0;
        ctx.server
            .scripts
            .deny_disabled
            .store(on, std::sync::atomic::Ordering::Relaxed);
        ctx.out.ok();
        Ok(())
    } else if is("pause-cron") && argc == 3 {
        // Accepted and without effect: ferrokv has no serverCron whose work a test would
        // want to hold back (the tracking table limit applies after each command, as
        // Redis's beforeSleep does).
        ctx.out.ok();
        Ok(())
    } else if is("protocol") && argc == 3 {
        debug_protocol(ctx, args[2])
    } else if is("digest") && argc == 2 {
        let d = dataset_digest(ctx);
        ctx.out.simple(&hex(&d));
        Ok(())
    } else if is("digest-value") && argc >= 2 {
        debug_digest_value(ctx, &args[2..])
    } else if is("change-repl-id") && argc == 2 {
        ctx.server.repl.change_replid();
        ctx.out.ok();
        Ok(())
    } else if is("stringmatch-test") && argc == 2 {
        stringmatch_test();
        ctx.out
            .simple("Apparently Redis did not crash: test passed");
        Ok(())
    } else if is("quicklist-packed-threshold") && argc == 3 {
        match crate::config::parse_memory_u64(&String::from_utf8_lossy(args[2])) {
            Some(n) if n <= u32::MAX as u64 => {
                ctx.out.ok();
                Ok(())
            }
            _ => Err(CmdError::Static(
                "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
            )),
        }
    } else if is("listpack") && argc == 3 {
        debug_listpack(ctx, args[2])
    } else if (is("set-skip-checksum-validation") && argc == 3) || (is("replybuffer") && argc == 4)
    {
        // Accepted for compatibility with Redis's test suites; nothing to tune here.
        ctx.out.ok();
        Ok(())
    } else if is("log") && argc == 3 {
        tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(args[2]));
        ctx.out.ok();
        Ok(())
    } else if is("error") && argc == 3 {
        // The text as the error reply, verbatim (CR/LF become spaces), as Redis writes it:
        // client libraries test their error handling with it.
        ctx.out.error_bytes(args[2]);
        Ok(())
    } else if is("reload") {
        debug_reload(ctx, &args[2..])
    } else if is("loadaof") && argc == 2 {
        debug_loadaof(ctx)
    } else {
        Err(bad_args(sub))
    }
}

const LOAD_FAILED: &str = "ERR Error trying to load the RDB dump";

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save the dataset to the RDB file (unless
/// NOSAVE), empty it (unless NOFLUSH) and load the file back, with every shard held, so
/// no client sees the dataset in between. A key both in memory (NOFLUSH) and in the file
/// takes the file's value (Redis: MERGE does that, and without it the server exits on a
/// duplicate; ferrokv never exits here).
fn debug_reload(ctx: &mut Ctx, options: &[&[u8]]) -> CmdResult {
    let (mut flush, mut save, mut merge) = (true, true, false);
    for a in options {
        if eq_ic(a, "noflush") {
            flush = false;
        } else if eq_ic(a, "nosave") {
            save = false;
        } else if eq_ic(a, "merge") {
            merge = true;
        } else {
            return Err(CmdError::Static(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    let server = ctx.server;
    if save {
        crate::persistence::save::save_locked(server, ctx.locks).map_err(CmdError::msg)?;
    }
    let path = crate::persistence::save::dump_path(server);
    if !flush && !merge {
        // Libraries are kept without NOFLUSH too; only MERGE may replace them.
        let clash = crate::persistence::save::rdb_has_loaded_library(server, &path);
        if !matches!(clash, Ok(false)) {
            tracing::warn!(
                "DEBUG RELOAD: {:?}",
                clash.map(|_| "a library of the file is loaded")
            );
            return Err(CmdError::Static(LOAD_FAILED));
        }
    }
    if flush {
        empty_dataset(ctx);
    }
    if let Err(e) = crate::persistence::save::load_rdb_into(server, &path, Some(&mut *ctx.locks)) {
        tracing::warn!("DEBUG RELOAD: {}", e);
        return Err(CmdError::Static(LOAD_FAILED));
    }
    ctx.locks.note_change();
    tracing::warn!("DB reloaded by DEBUG RELOAD");
    ctx.out.ok();
    Ok(())
}

/// Remove every key of every database through the locks the command holds.
fn empty_dataset(ctx: &mut Ctx) {
    ctx.locks.track_flush();
    let now = ctx.now;
    for db in 0..ctx.locks.db_count() {
        for shard in ctx.locks.db_shards(db) {
            drop(shard.take_all(now));
        }
    }
}

/// DEBUG LOADAOF: write out and fsync the log (when it is on), empty the dataset and load
/// the append-only files that the manifest on disk names, as Redis does. It replays
/// commands, which take their own locks, so it holds none itself and cannot run inside
/// MULTI/EXEC (where the transaction holds shards).
fn debug_loadaof(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.in_exec {
        return Err(CmdError::Static(
            "ERR DEBUG LOADAOF is not supported inside MULTI/EXEC",
        ));
    }
    let server = ctx.server;
    if server.aof.enabled() {
        server.aof.flush_all();
    }
    ctx.locks.track_flush();
    {
        let mut locks = crate::storage::LockSet::new(&server.dbs);
        locks.lock_all();
        let now = ctx.now;
        for db in 0..locks.db_count() {
            for shard in locks.db_shards(db) {
                drop(shard.take_all(now));
            }
        }
    }
    let Some(this) = server.arc() else {
        return Err(CmdError::Internal("server handle unavailable"));
    };
    if let Err(e) = crate::persistence::load::load_aof_from_disk(&this) {
        // Redis exits here: the dataset is gone and the files cannot be loaded.
        tracing::warn!("DEBUG LOADAOF: {}", e);
        return Err(CmdError::msg(format!("ERR {}", e)));
    }
    tracing::warn!("Append Only File loaded by DEBUG LOADAOF");
    ctx.out.ok();
    Ok(())
}

/// C's `atoi`: optional sign and leading digits, 0 when there are none.
fn atoi(s: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(s);
    let t = text.trim_start();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(18)
        .collect();
    let n = digits.parse::<i64>().unwrap_or(0);
    if neg {
        -n
    } else {
        n
    }
}

/// C's `strtod` on a prefix: the longest leading part that parses, else 0.
fn strtod_prefix(s: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(s);
    let t = text.trim_start();
    (1..=t.len().min(64))
        .rev()
        .filter_map(|n| t.get(..n))
        .find_map(|p| p.parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn debug_sleep(ctx: &mut Ctx, arg: &[u8]) -> CmdResult {
    let secs = strtod_prefix(arg);
    if secs.is_finite() && secs > 0.0 {
        // Like Redis, DEBUG SLEEP blocks the thread that runs it (here: this worker).
        std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(86_400.0)));
    }
    ctx.out.ok();
    Ok(())
}

fn debug_protocol(ctx: &mut Ctx, kind: &[u8]) -> CmdResult {
    let out = &mut *ctx.out;
    let k = crate::util::lower(kind);
    match k.as_str() {
        "string" => out.bulk(b"Hello World"),
        "integer" => out.int(12345),
        // Redis's fixed sample value (not meant as pi).
        #[allow(clippy::approx_constant)]
        "double" => out.double(3.141),
        "bignum" => out.big_number("1234567999999999999999999999999999999"),
        "null" => out.null(),
        "array" => {
            out.array(3);
            (0..3).for_each(|i| out.int(i));
        }
        "set" => {
            out.set(3);
            (0..3).for_each(|i| out.int(i));
        }
        "map" => {
            out.map(3);
            for i in 0..3 {
                out.int(i);
                out.boolean(i == 1);
            }
        }
        "attrib" => {
            if out.resp3 {
                out.attribute(1);
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if !out.resp3 {
                return Err(CmdError::Static("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        "verbatim" => out.verbatim(b"This is a verbatim\nstring", "txt"),
        "true" => out.boolean(true),
        "false" => out.boolean(false),
        _ => {
            return Err(CmdError::Static(
                "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// DEBUG OBJECT / LISTPACK: Redis's serialized (RDB) lengths, computed without saving.

/// RDB length prefix size (`rdbSaveLen`).
fn rdb_len_size(n: usize) -> usize {
    if n < 1 << 6 {
        1
    } else if n < 1 << 14 {
        2
    } else if n <= u32::MAX as usize {
        5
    } else {
        9
    }
}

/// Serialized size of a string as RDB stores it (integers in 8/16/32 bits when they fit;
/// LZF compression is not modelled).
fn rdb_string_size(s: &[u8]) -> usize {
    if s.len() <= 11 {
        if let Some(n) = crate::util::parse_canonical_i64(s) {
            if i8::try_from(n).is_ok() {
                return 2;
            } else if i16::try_from(n).is_ok() {
                return 3;
            } else if i32::try_from(n).is_ok() {
                return 5;
            }
        }
    }
    rdb_len_size(s.len()) + s.len()
}

/// Bytes one element takes in a listpack (encoding, data, back-length).
fn listpack_entry_size(s: &[u8]) -> usize {
    let body = match crate::util::parse_canonical_i64(s) {
        Some(n) if (0..=127).contains(&n) => 1,
        Some(n) if (-4096..=4095).contains(&n) => 2,
        Some(n) if i16::try_from(n).is_ok() => 3,
        Some(n) if (-(1 << 23)..(1 << 23)).contains(&n) => 4,
        Some(n) if i32::try_from(n).is_ok() => 5,
        Some(_) => 9,
        None if s.len() < 64 => 1 + s.len(),
        None if s.len() < 4096 => 2 + s.len(),
        None => 5 + s.len(),
    };
    let back = match body {
        0..=127 => 1,
        128..=16383 => 2,
        16384..=2097151 => 3,
        2097152..=268435455 => 4,
        _ => 5,
    };
    body + back
}

fn listpack_size(elements: &mut dyn Iterator<Item = &[u8]>) -> usize {
    6 + elements.map(listpack_entry_size).sum::<usize>() + 1
}

fn serialized_length(v: ValueRef<'_>) -> usize {
    match v {
        ValueRef::Str(s) => s.with_bytes(rdb_string_size),
        ValueRef::Hash(HashValue::Listpack(fields)) => {
            let n = listpack_size(&mut fields.iter().flat_map(|(f, x)| [f, x]));
            rdb_len_size(n) + n
        }
        ValueRef::Hash(HashValue::Table(t)) => {
            rdb_len_size(t.len())
                + t.iter()
                    .map(|(f, x)| rdb_string_size(f) + rdb_string_size(x))
                    .sum::<usize>()
        }
        // Collections: the size of their elements as RDB strings (Redis writes lists as
        // listpack nodes and small sets/zsets as blobs, so this is an estimate).
        ValueRef::List(l) => {
            let mut n = rdb_len_size(l.len());
            l.for_each(|e| n += rdb_string_size(e));
            n
        }
        ValueRef::Set(set) => {
            let mut n = rdb_len_size(set.len());
            set.for_each(|e| n += rdb_string_size(e));
            n
        }
        ValueRef::ZSet(z) => {
            let mut n = rdb_len_size(z.len());
            z.for_each(|e, _| n += rdb_string_size(e) + 8);
            n
        }
        // Streams: their nodes as Redis's listpacks plus the IDs (an estimate).
        ValueRef::Stream(s) => s
            .blocks()
            .map(|(_, b)| 16 + rdb_len_size(b.lp_bytes() as usize) + b.lp_bytes() as usize)
            .sum::<usize>()
            .saturating_add(32),
    }
}

fn debug_object(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let maxmemory_set = ctx.server.config.get("maxmemory") != "0";
    let mut db = ctx.db();
    // Like Redis's DEBUG OBJECT: a raw lookup, neither an access nor a lazy expiry (a
    // logically expired key is still described).
    let map = &db.shard(key)?.map;
    let idle = map.idle_seconds(key).unwrap_or(0);
    let entry = map.get(key).ok_or(CmdError::NoSuchKey)?;
    let value = entry.value();
    // Small integers are shared objects in Redis (refcount INT_MAX) unless maxmemory is set.
    let shared =
        matches!(value, ValueRef::Str(StrRef::Int(n)) if (0..10000).contains(&n)) && !maxmemory_set;
    let line = format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        entry.addr(),
        if shared { i32::MAX } else { 1 },
        value.encoding(),
        serialized_length(value),
        crate::util::lru_clock().saturating_sub(idle) & ((1 << 24) - 1),
        idle,
    );
    ctx.out.simple(&line);
    Ok(())
}

fn debug_listpack(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    match ctx.db().read(key)? {
        None => Err(CmdError::NoSuchKey),
        Some(ValueRef::Hash(HashValue::Listpack(_))) => {
            ctx.out.simple("Listpack structure printed on stdout");
            Ok(())
        }
        Some(_) => Err(CmdError::Static("ERR Not a listpack encoded object.")),
    }
}

// ---------------------------------------------------------------------------------------
// DEBUG DIGEST / DIGEST-VALUE: Redis's algorithm (debug.c), so equal datasets give equal
// digests on both servers, whatever the insertion order.

type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// `xorDigest`: digest ^= SHA1(data).
fn xor_digest(digest: &mut Digest, data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// `mixDigest`: digest = SHA1(digest ^ SHA1(data)).
fn mix_digest(digest: &mut Digest, data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(digest);
}

/// Redis's type code (`OBJ_STRING`...) for a type name.
fn type_code(v: ValueRef<'_>) -> u32 {
    match v.type_name() {
        "string" => 0,
        "list" => 1,
        "set" => 2,
        "zset" => 3,
        "hash" => 4,
        "stream" => 6,
        _ => 5,
    }
}

/// `xorObjectDigest`: the type, the content and the presence of a TTL.
fn object_digest(digest: &mut Digest, v: ValueRef<'_>, has_ttl: bool) {
    mix_digest(digest, &type_code(v).to_be_bytes());
    match v {
        ValueRef::Str(s) => s.with_bytes(|b| mix_digest(digest, b)),
        ValueRef::Hash(h) => {
            let mut field = |f: &[u8], x: &[u8]| {
                let mut ele = [0u8; 20];
                mix_digest(&mut ele, f);
                mix_digest(&mut ele, x);
                xor_digest(digest, &ele);
            };
            match h {
                HashValue::Listpack(v) => v.iter().for_each(|(f, x)| field(f, x)),
                HashValue::Table(t) => t.iter().for_each(|(f, x)| field(f, x)),
            }
        }
        // Lists: order matters; sets and sorted sets: order does not (xor of members).
        ValueRef::List(l) => l.for_each(|e| mix_digest(digest, e)),
        ValueRef::Set(set) => set.for_each(|e| xor_digest(digest, e)),
        ValueRef::ZSet(z) => z.for_each(|member, score| {
            let mut ele = [0u8; 20];
            mix_digest(&mut ele, member);
            mix_digest(&mut ele, resp::format_double(score).as_bytes());
            xor_digest(digest, &ele);
        }),
        // Streams: each entry's `<ms>.<seq>` then its fields and values, in ID order
        // (groups are not part of the digest, as in Redis).
        ValueRef::Stream(s) => {
            for e in s.range(StreamId::MIN, StreamId::MAX, false) {
                mix_digest(digest, format!("{}.{}", e.id.ms, e.id.seq).as_bytes());
                for (f, x) in &e.fields {
                    mix_digest(digest, f);
                    mix_digest(digest, x);
                }
            }
        }
    }
    if has_ttl {
        xor_digest(digest, b"!!expire!!");
    }
}

/// `computeDatasetDigest`: all zeros for an empty dataset.
pub fn dataset_digest(ctx: &mut Ctx) -> Digest {
    let mut final_digest = [0u8; 20];
    for j in 0..ctx.server.dbs.len() {
        if ctx.locks.db_shards(j).all(|s| s.map.is_empty()) {
            continue;
        }
        mix_digest(&mut final_digest, &(j as u32).to_be_bytes());
        for s in ctx.locks.db_shards(j) {
            for (k, e) in s.map.iter() {
                let mut d = [0u8; 20];
                mix_digest(&mut d, k);
                object_digest(&mut d, e.value(), e.expire_at() != 0);
                // Redis's `xorDigest(final, digest, 20)`: XOR of the key digest's SHA1.
                xor_digest(&mut final_digest, &d);
            }
        }
    }
    final_digest
}

fn debug_digest_value(ctx: &mut Ctx, keys: &[&[u8]]) -> CmdResult {
    let db = ctx.client.db;
    ctx.out.array(keys.len());
    for key in keys {
        let mut d = [0u8; 20];
        // Like Redis, logically expired keys still count (no lazy expiry here).
        if let Some(e) = ctx
            .locks
            .shard(db, shard_of(key))
            .and_then(|s| s.map.get(key))
        {
            object_digest(&mut d, e.value(), e.expire_at() != 0);
        }
        ctx.out.simple(&hex(&d));
    }
    Ok(())
}

fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{:02x}", b)).collect()
}

/// DEBUG STRINGMATCH-TEST: random patterns against random strings must not crash.
fn stringmatch_test() {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let alphabet = b"*?[]^-\\ab";
    for _ in 0..10_000 {
        let p: Vec<u8> = (0..rng.gen_range(0..16))
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect();
        let s: Vec<u8> = (0..rng.gen_range(0..16))
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect();
        let _ = crate::storage::glob::glob_match(&p, &s, false);
    }
}

fn debug_help(ctx: &mut Ctx) -> CmdResult {
    crate::commands::shared::help::help_reply(
        ctx,
        "DEBUG",
        &[
            "CHANGE-REPL-ID",
            "    Change the replication IDs of the instance.",
            "    Dangerous: should be used only for testing the replication subsystem.",
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "LISTPACK <key>",
            "    Show low level info about the ziplist encoding of <key>.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    Sets the threshold for elements to be inserted as plain vs packed nodes",
            "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "STRINGMATCH-TEST",
            "    Run a fuzz tester against the stringmatchlen() function.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{StrValue, Value};

    #[test]
    fn serialized_lengths_match_redis() {
        assert_eq!(rdb_string_size(b"hello"), 6);
        assert_eq!(rdb_string_size(b"123"), 2);
        assert_eq!(rdb_string_size(b"-5"), 2);
        assert_eq!(rdb_string_size(b"100000"), 5);
        assert_eq!(rdb_string_size(b"12345678901"), 12);
        assert_eq!(rdb_string_size(b""), 1);
        let mut lp = crate::storage::hash::Listpack::default();
        lp.push(b"f", b"v");
        let h = Value::Hash(HashValue::Listpack(lp));
        assert_eq!(serialized_length(h.as_value_ref()), 14);
    }

    #[test]
    fn digest_value_matches_redis() {
        let mut d = [0u8; 20];
        object_digest(
            &mut d,
            Value::Str(StrValue::from_bytes(b"hello")).as_value_ref(),
            false,
        );
        assert_eq!(hex(&d), "36b23a1456b2dce2c3ed252c456761301dba8060");
        let mut d = [0u8; 20];
        object_digest(
            &mut d,
            Value::Str(StrValue::from_bytes(b"123")).as_value_ref(),
            false,
        );
        assert_eq!(hex(&d), "89f7f51b707418f666d5b45e053bd5bbbf82ac2b");
    }

    #[test]
    fn c_number_parsing() {
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b"2"), 2);
        assert_eq!(atoi(b"-3x"), -3);
        assert_eq!(strtod_prefix(b"0.5s"), 0.5);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
    }
}
