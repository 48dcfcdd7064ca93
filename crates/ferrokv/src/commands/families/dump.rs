//! DUMP and RESTORE: a key's value as Redis's serialized payload (RDB encoding, RDB
//! version, CRC-64), interoperable with redis-server 7.0 both ways. The format lives in
//! `persistence::rdb`; this file follows Redis's `cluster.c` (`dumpCommand`,
//! `restoreCommand`) for argument checks, error order and replies.

use crate::commands::{acl, arg_i64, class, flags, CmdError, CmdResult, Command, Ctx};
use crate::persistence::rdb::{
    dump_payload_with, parse_dump_payload, EncodeOptions, Limits, RdbError,
};
use crate::storage::Entry;
use crate::util::eq_ic;

/// The DUMP/RESTORE family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("dump", 2, flags::READONLY, dump)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
    Command::new("restore", -4, flags::WRITE | flags::DENYOOM, restore)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE | acl::DANGEROUS),
];

/// How DUMP serializes under the current configuration.
fn encode_options(ctx: &Ctx) -> EncodeOptions {
    EncodeOptions {
        compression: ctx.server.config.get("rdbcompression") == "yes",
        list_max_listpack_size: ctx.server.config.list_max_listpack_size(),
    }
}

/// DUMP key: the serialized value, or nil.
fn dump(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let opts = encode_options(ctx);
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    match db.value(args[1])? {
        Some(v) => {
            stats.hit(true);
            out.bulk(&dump_payload_with(v, &opts));
        }
        None => {
            stats.hit(false);
            out.null();
        }
    }
    Ok(())
}

/// RESTORE's options.
#[derive(Default)]
struct RestoreOpts {
    replace: bool,
    absttl: bool,
    idle: Option<u64>,
    freq: Option<u8>,
}

/// Parse the options after the payload in Redis's order: IDLETIME and FREQ exclude each
/// other (the second one is a syntax error), each value is checked as it comes.
fn parse_restore_opts(args: &[&[u8]]) -> Result<RestoreOpts, CmdError> {
    let mut o = RestoreOpts::default();
    let mut j = 4;
    while let Some(&a) = args.get(j) {
        let value = args.get(j + 1).copied();
        if eq_ic(a, "replace") {
            o.replace = true;
        } else if eq_ic(a, "absttl") {
            o.absttl = true;
        } else if let (true, Some(v), None) = (eq_ic(a, "idletime"), value, o.freq) {
            let idle = arg_i64(v)?;
            if idle < 0 {
                return Err(CmdError::Static("ERR Invalid IDLETIME value, must be >= 0"));
            }
            o.idle = Some(idle as u64);
            j += 1;
        } else if let (true, Some(v), None) = (eq_ic(a, "freq"), value, o.idle) {
            let freq = arg_i64(v)?;
            let freq = u8::try_from(freq)
                .map_err(|_| CmdError::Static("ERR Invalid FREQ value, must be >= 0 and <= 255"))?;
            o.freq = Some(freq);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency].
fn restore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let o = parse_restore_opts(args)?;
    let key = args[1];
    let now = ctx.now;
    let limits = Limits::from_config(&ctx.server.config);
    let mut db = ctx.db();
    if !o.replace && db.exists(key)? {
        return Err(CmdError::Static("BUSYKEY Target key name already exists."));
    }
    let ttl = arg_i64(args[2])?;
    if ttl < 0 {
        return Err(CmdError::Static("ERR Invalid TTL value, must be >= 0"));
    }
    let value = parse_dump_payload(args[3], &limits).map_err(|e| match e {
        RdbError::PayloadFooter => {
            CmdError::Static("ERR DUMP payload version or checksum are wrong")
        }
        _ => CmdError::Static("ERR Bad data format"),
    })?;
    // REPLACE deletes the old key first: the new value is a new object (fresh LRU/LFU).
    let deleted = o.replace && db.exists(key)? && db.shard(key)?.remove(key).is_some();
    // A relative TTL counts from now (wrapping like Redis's signed arithmetic would).
    let at = if ttl != 0 && !o.absttl {
        ttl.wrapping_add(now as i64)
    } else {
        ttl
    };
    if at != 0 && at <= now as i64 {
        // Already expired: the key is not created (and the replaced one stays deleted).
        if deleted {
            db.modified(key)?;
            db.log_as(&[b"DEL", key]);
            db.notify(class::GENERIC, "del", key);
        }
        ctx.out.ok();
        return Ok(());
    }
    if ttl != 0 && !o.absttl {
        // The log gets the absolute deadline, so a reload does not restart the TTL.
        let mut logged: Vec<&[u8]> = args.to_vec();
        let at_text = at.to_string();
        logged[2] = at_text.as_bytes();
        logged.push(b"ABSTTL");
        db.log_as(&logged);
    }
    db.set_entry(
        key,
        Entry {
            value,
            expire_at: at as u64,
        },
    )?;
    db.shard(key)?.map.restore_access(key, o.idle, o.freq);
    db.notify(class::GENERIC, "restore", key);
    ctx.out.ok();
    Ok(())
}
