//! Stream consumer groups: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER,
//! HELP), XREADGROUP (new entries with `>`, a consumer's history with an ID, COUNT, NOACK,
//! BLOCK), XACK, XPENDING, XCLAIM and XAUTOCLAIM, as Redis 7.0 has them. XINFO GROUPS and
//! XINFO CONSUMERS are in `commands/shared/stream_groups.rs` (the XINFO container belongs
//! to the streams family), with the reads that serving blocked readers shares.
//!
//! The data (groups, consumers, pending entries) lives in `storage/stream`. Delivery and
//! activity times are wall-clock milliseconds (see the shared module).
//!
//! Append-only file, as Redis propagates: XGROUP subcommands and XACK as given;
//! XREADGROUP as an `XCLAIM ... FORCE JUSTID LASTID` per delivery (plus XGROUP SETID and,
//! for a NOACK read that creates its consumer, XGROUP CREATECONSUMER); XCLAIM and
//! XAUTOCLAIM as the XCLAIMs of what they changed; several commands as one MULTI/EXEC.

use std::ops::Bound;

use crate::commands::shared::block::block_on_keys;
use crate::commands::shared::help::help_reply;
use crate::commands::shared::stream_args::{
    parse_id, parse_interval_id, parse_strict_id, parse_xread, write_entry, write_id,
    xread_key_positions, ERR_INVALID_START,
};
use crate::commands::shared::stream_groups::{
    deliver_new, group_setid_log, has_new_entries, id_arg, nogroup_for_key, nogroup_key_or_group,
    read_history, stream_mut, xclaim_log, GroupRead,
};
use crate::commands::{acl, class, flags, CmdError, CmdResult, Command, Ctx};
use crate::server::blocking::BlockOp;
use crate::storage::db::DbView;
use crate::storage::stream::{PendingEntry, StreamId, SCG_INVALID_ENTRIES_READ};
use crate::storage::{Entry, Value};
use crate::util::{eq_ic, now_ms, parse_canonical_i64};

/// The consumer-group commands' table.
pub static COMMANDS: &[Command] = &[
    Command::container("xgroup", -2, 0).subcommands(&[
        Command::new("create", -5, flags::WRITE | flags::DENYOOM, xgroup_create)
            .keys(2, 2, 1)
            .acl(acl::STREAM),
        Command::new("setid", -5, flags::WRITE, xgroup_setid)
            .keys(2, 2, 1)
            .acl(acl::STREAM),
        Command::new("destroy", 4, flags::WRITE, xgroup_destroy)
            .keys(2, 2, 1)
            .acl(acl::STREAM),
        Command::new(
            "createconsumer",
            5,
            flags::WRITE | flags::DENYOOM,
            xgroup_createconsumer,
        )
        .keys(2, 2, 1)
        .acl(acl::STREAM),
        Command::new("delconsumer", 5, flags::WRITE, xgroup_delconsumer)
            .keys(2, 2, 1)
            .acl(acl::STREAM),
        Command::new("help", 2, flags::LOADING | flags::STALE, xgroup_help).acl(acl::STREAM),
    ]),
    Command::new("xreadgroup", -7, flags::WRITE | flags::BLOCKING, xreadgroup)
        .keys_fn(xread_key_positions)
        .acl(acl::STREAM),
    Command::new("xack", -4, flags::WRITE | flags::FAST, xack)
        .keys(1, 1, 1)
        .acl(acl::STREAM),
    Command::new("xpending", -3, flags::READONLY, xpending)
        .keys(1, 1, 1)
        .acl(acl::STREAM),
    Command::new("xclaim", -6, flags::WRITE | flags::FAST, xclaim)
        .keys(1, 1, 1)
        .acl(acl::STREAM),
    Command::new("xautoclaim", -6, flags::WRITE | flags::FAST, xautoclaim)
        .keys(1, 1, 1)
        .acl(acl::STREAM),
];

const ERR_KEY_MUST_EXIST: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
const ERR_ENTRIESREAD: &str = "ERR value for ENTRIESREAD must be positive or -1";
const ERR_BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
const ERR_DOLLAR_IN_XREADGROUP: &str = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.";
const ERR_AUTOCLAIM_COUNT: &str = "ERR COUNT must be > 0";
/// XREADGROUP's default COUNT once it blocks (Redis's XREAD_BLOCKED_DEFAULT_COUNT).
pub const BLOCKED_DEFAULT_COUNT: u64 = 1000;
/// XAUTOCLAIM looks at most COUNT times this many pending entries.
const AUTOCLAIM_ATTEMPTS_FACTOR: u64 = 10;
/// XAUTOCLAIM's largest COUNT (Redis: LONG_MAX / max(sizeof(streamID), attempts factor)).
const AUTOCLAIM_MAX_COUNT: i64 = i64::MAX / 16;

// ---------------------------------------------------------------------------------------
// XGROUP

/// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try XGROUP HELP.`
/// with the subcommand as typed.
fn subcommand_syntax(args: &[&[u8]]) -> CmdError {
    CmdError::Msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
        String::from_utf8_lossy(args[1])
    ))
}

/// ENTRIESREAD's value: an integer, not below -1.
fn parse_entries_read(arg: &[u8]) -> Result<i64, CmdError> {
    let n = parse_canonical_i64(arg).ok_or(CmdError::NotInteger)?;
    if n < 0 && n != SCG_INVALID_ENTRIES_READ {
        return Err(CmdError::Static(ERR_ENTRIESREAD));
    }
    Ok(n)
}

/// The checks every XGROUP subcommand with a key makes, in Redis's order: the type, then
/// (unless CREATE ... MKSTREAM) that the key exists, then (for those that need it) the
/// group. Returns whether the stream exists.
fn xgroup_lookup(
    db: &mut DbView<'_, '_>,
    key: &[u8],
    group: &[u8],
    may_create: bool,
    needs_group: bool,
) -> Result<bool, CmdError> {
    let Some(s) = stream_mut(db, key)? else {
        return if may_create {
            Ok(false)
        } else {
            Err(CmdError::Static(ERR_KEY_MUST_EXIST))
        };
    };
    if needs_group && s.group(group).is_none() {
        return Err(nogroup_for_key(group, key));
    }
    Ok(true)
}

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n]
fn xgroup_create(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group) = (args[2], args[3]);
    let mut mkstream = false;
    let mut entries_read = SCG_INVALID_ENTRIES_READ;
    let mut i = 5;
    while let Some(&opt) = args.get(i) {
        if eq_ic(opt, "mkstream") {
            mkstream = true;
            i += 1;
        } else if let (true, Some(&n)) = (eq_ic(opt, "entriesread"), args.get(i + 1)) {
            entries_read = parse_entries_read(n)?;
            i += 2;
        } else {
            return Err(subcommand_syntax(args));
        }
    }
    let mut db = ctx.db();
    let exists = xgroup_lookup(&mut db, key, group, mkstream, false)?;
    if args.len() > 8 {
        return Err(subcommand_syntax(args));
    }
    let id = if args[4] == b"$" {
        match stream_mut(&mut db, key)? {
            Some(s) => s.last_id,
            None => StreamId::MIN,
        }
    } else {
        parse_strict_id(args[4], 0)?
    };
    if !exists {
        db.set_entry(key, Entry::new(Value::Stream(Box::default())))?;
    }
    let created = match stream_mut(&mut db, key)? {
        Some(s) => s.create_group(group, id, entries_read),
        None => return Err(CmdError::Internal("stream missing after MKSTREAM")),
    };
    if !created {
        return Err(CmdError::Static(ERR_BUSYGROUP));
    }
    db.changed_unwatched();
    db.notify(class::STREAM, "xgroup-create", key);
    ctx.out.ok();
    Ok(())
}

/// XGROUP SETID key group id|$ [ENTRIESREAD n]
fn xgroup_setid(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group) = (args[2], args[3]);
    let mut entries_read = SCG_INVALID_ENTRIES_READ;
    match args.len() {
        5 => {}
        7 if eq_ic(args[5], "entriesread") => entries_read = parse_entries_read(args[6])?,
        _ => return Err(subcommand_syntax(args)),
    }
    let mut db = ctx.db();
    xgroup_lookup(&mut db, key, group, false, true)?;
    let Some(s) = stream_mut(&mut db, key)? else {
        return Err(CmdError::Internal("stream vanished"));
    };
    let id = if args[4] == b"$" {
        s.last_id
    } else {
        parse_id(args[4], 0)?
    };
    s.set_group_id(group, id, entries_read);
    db.changed_unwatched();
    db.notify(class::STREAM, "xgroup-setid", key);
    ctx.out.ok();
    Ok(())
}

/// XGROUP DESTROY key group: 1 when the group existed. Its blocked readers get -NOGROUP.
fn xgroup_destroy(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group) = (args[2], args[3]);
    let mut db = ctx.db();
    xgroup_lookup(&mut db, key, group, false, false)?;
    let destroyed = stream_mut(&mut db, key)?.is_some_and(|s| s.destroy_group(group));
    if destroyed {
        db.changed_unwatched();
        db.notify(class::STREAM, "xgroup-destroy", key);
        // Readers blocked on this group are answered -NOGROUP.
        db.signal_blocked(key)?;
    }
    ctx.out.int(destroyed as i64);
    Ok(())
}

/// XGROUP CREATECONSUMER key group consumer: 1 when created.
fn xgroup_createconsumer(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group, consumer) = (args[2], args[3], args[4]);
    let mut db = ctx.db();
    xgroup_lookup(&mut db, key, group, false, true)?;
    let now = now_ms() as i64;
    let created = stream_mut(&mut db, key)?
        .and_then(|s| s.group_mut(group))
        .is_some_and(|g| g.create_consumer(consumer, now));
    if created {
        db.changed_unwatched();
        db.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    ctx.out.int(created as i64);
    Ok(())
}

/// XGROUP DELCONSUMER key group consumer: the number of pending entries it had (they are
/// dropped from the group's PEL too).
fn xgroup_delconsumer(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group, consumer) = (args[2], args[3], args[4]);
    let mut db = ctx.db();
    xgroup_lookup(&mut db, key, group, false, true)?;
    let deleted = stream_mut(&mut db, key)?
        .and_then(|s| s.group_mut(group))
        .and_then(|g| g.delete_consumer(consumer));
    if deleted.is_some() {
        db.changed_unwatched();
        db.notify(class::STREAM, "xgroup-delconsumer", key);
    }
    ctx.out.int(deleted.unwrap_or(0) as i64);
    Ok(())
}

fn xgroup_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XREADGROUP

/// What XREADGROUP asks of one stream: new entries (`>`) or the history after an ID.
#[derive(Clone, Copy)]
enum ReadFrom {
    New,
    History(StreamId),
}

/// XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...
fn xreadgroup(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let from_script = ctx.client.in_script;
    let x = parse_xread(args, true, "xreadgroup", from_script)?;
    let Some((group, consumer)) = x.group else {
        return Err(CmdError::Internal("XREADGROUP without GROUP"));
    };
    let keys = args.get(x.keys.clone()).unwrap_or_default();
    let mut reads = Vec::with_capacity(keys.len());
    {
        let mut db = ctx.db();
        for (i, &key) in keys.iter().enumerate() {
            let id_arg = args.get(x.ids_at + i).copied().unwrap_or_default();
            let found = stream_mut(&mut db, key)?.is_some_and(|s| s.group(group).is_some());
            if !found {
                return Err(nogroup_key_or_group(
                    key,
                    group,
                    " in XREADGROUP with GROUP option",
                ));
            }
            let from = match id_arg {
                b"$" => return Err(CmdError::Static(ERR_DOLLAR_IN_XREADGROUP)),
                b">" => ReadFrom::New,
                _ => match parse_strict_id(id_arg, 0)? {
                    // The largest ID is how Redis marks `>`: it reads as `>`.
                    StreamId::MAX => ReadFrom::New,
                    id => ReadFrom::History(id),
                },
            };
            reads.push((key, from));
        }
    }
    // Serve what can be served now, stream by stream in order (a stream named twice is
    // served once when the first read took its new entries): every history read, and
    // `>` reads with new entries.
    let resp3 = ctx.out.resp3;
    let mut body = resp::ReplyWriter::new();
    body.resp3 = resp3;
    let mut served = 0;
    {
        let mut db = ctx.db();
        for &(key, from) in &reads {
            let r = GroupRead {
                key,
                group,
                consumer,
                count: x.count,
                noack: x.noack,
            };
            match from {
                ReadFrom::History(after) => read_history(&mut db, &r, after, &mut body)?,
                ReadFrom::New => {
                    if !stream_mut(&mut db, key)?.is_some_and(|s| has_new_entries(s, group)) {
                        continue;
                    }
                    deliver_new(&mut db, &r, &mut body)?;
                }
            }
            served += 1;
        }
    }
    if served > 0 {
        if resp3 {
            ctx.out.map(served);
        } else {
            ctx.out.array(served);
        }
        ctx.out.raw(&body.buf);
        return Ok(());
    }
    match x.block_ms {
        Some(timeout) if !ctx.client.in_exec => {
            let count = if x.count == 0 {
                BLOCKED_DEFAULT_COUNT
            } else {
                x.count
            };
            block_for_group(ctx, keys, group, consumer, count, x.noack, timeout)
        }
        _ => {
            ctx.out.null_array();
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------
// XACK

/// XACK key group id...: the number of IDs that were pending.
fn xack(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group) = (args[1], args[2]);
    let mut db = ctx.db();
    let acked = {
        let Some(g) = stream_mut(&mut db, key)?.and_then(|s| s.group_mut(group)) else {
            ctx.out.int(0);
            return Ok(());
        };
        let ids = args[3..]
            .iter()
            .map(|a| parse_strict_id(a, 0))
            .collect::<Result<Vec<_>, _>>()?;
        ids.into_iter().filter(|&id| g.ack(id)).count()
    };
    if acked > 0 {
        db.changed_unwatched();
    }
    ctx.out.int(acked as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XPENDING

/// XPENDING's range form after parsing.
struct PendingRange<'a> {
    min_idle: i64,
    start: StreamId,
    end: StreamId,
    count: i64,
    consumer: Option<&'a [u8]>,
}

/// Parse `[IDLE ms] start end count [consumer]` (argv[3..]) in Redis's order: IDLE, then
/// COUNT, then the bounds.
fn parse_pending_range<'a>(args: &[&'a [u8]]) -> Result<PendingRange<'a>, CmdError> {
    let mut at = 3;
    let mut min_idle = 0;
    if eq_ic(args[3], "idle") {
        min_idle = parse_canonical_i64(args[4]).ok_or(CmdError::NotInteger)?;
        if args.len() < 8 {
            return Err(CmdError::Syntax);
        }
        at = 5;
    }
    let count = parse_canonical_i64(args[at + 2])
        .ok_or(CmdError::NotInteger)?
        .max(0);
    let (mut start, start_ex) = parse_interval_id(args[at], 0)?;
    if start_ex {
        start = start.incr().ok_or(CmdError::Static(ERR_INVALID_START))?;
    }
    let (mut end, end_ex) = parse_interval_id(args[at + 1], u64::MAX)?;
    if end_ex {
        end = end
            .decr()
            .ok_or(CmdError::Static("ERR invalid end ID for the interval"))?;
    }
    Ok(PendingRange {
        min_idle,
        start,
        end,
        count,
        consumer: args.get(at + 3).copied(),
    })
}

/// XPENDING key group [[IDLE ms] start end count [consumer]]
fn xpending(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group) = (args[1], args[2]);
    let n = args.len();
    if n != 3 && !(6..=9).contains(&n) {
        return Err(CmdError::Syntax);
    }
    let range = if n >= 6 {
        Some(parse_pending_range(args)?)
    } else {
        None
    };
    let (mut db, out) = ctx.db_out();
    let g = stream_mut(&mut db, key)?
        .and_then(|s| s.group(group))
        .ok_or_else(|| nogroup_key_or_group(key, group, ""))?;
    match range {
        None => {
            out.array(4);
            out.int(g.pel.len() as i64);
            match (g.pel.keys().next(), g.pel.keys().next_back()) {
                (Some(&first), Some(&last)) => {
                    write_id(out, first);
                    write_id(out, last);
                    let owners: Vec<_> = g
                        .consumers
                        .iter()
                        .filter(|(_, c)| !c.pel.is_empty())
                        .collect();
                    out.array(owners.len());
                    for (cname, c) in owners {
                        out.array(2);
                        out.bulk(cname);
                        out.bulk_int(c.pel.len() as i64);
                    }
                }
                _ => {
                    out.null();
                    out.null();
                    out.null_array();
                }
            }
        }
        Some(r) => {
            // Walked lazily: COUNT bounds the work, not the size of the PEL.
            let ids: Box<dyn Iterator<Item = StreamId> + '_> = match r.consumer {
                Some(c) => match g.consumers.get(c) {
                    Some(c) if r.start <= r.end => Box::new(c.pel.range(r.start..).copied()),
                    _ => Box::new(std::iter::empty()),
                },
                None if r.start <= r.end => Box::new(g.pel.range(r.start..).map(|(id, _)| *id)),
                None => Box::new(std::iter::empty()),
            };
            let now = now_ms() as i64;
            let mut rows: Vec<(StreamId, &PendingEntry)> = Vec::new();
            for id in ids {
                if rows.len() as i64 >= r.count || id > r.end {
                    break;
                }
                let Some(p) = g.pel.get(&id) else { continue };
                if r.min_idle != 0 && now - p.delivery_time < r.min_idle {
                    continue;
                }
                rows.push((id, p));
            }
            out.array(rows.len());
            for (id, p) in rows {
                out.array(4);
                write_id(out, id);
                out.bulk(&p.consumer);
                out.int((now - p.delivery_time).max(0));
                out.int(p.delivery_count as i64);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XCLAIM

/// XCLAIM's options after the IDs.
struct ClaimOptions {
    force: bool,
    justid: bool,
    /// IDLE/TIME as an absolute delivery time, None without them.
    delivery_time: Option<i64>,
    /// RETRYCOUNT, None without it (or negative).
    retry_count: Option<u64>,
    last_id: StreamId,
}

fn claim_int(arg: &[u8], what: &str) -> Result<i64, CmdError> {
    parse_canonical_i64(arg)
        .ok_or_else(|| CmdError::Msg(format!("ERR Invalid {what} option argument for XCLAIM")))
}

/// Parse the options that follow XCLAIM's IDs (from `args[j]`).
fn parse_claim_options(args: &[&[u8]], mut j: usize, now: i64) -> Result<ClaimOptions, CmdError> {
    let mut o = ClaimOptions {
        force: false,
        justid: false,
        delivery_time: None,
        retry_count: None,
        last_id: StreamId::MIN,
    };
    while let Some(&opt) = args.get(j) {
        let value = args.get(j + 1).copied();
        match value {
            _ if eq_ic(opt, "force") => o.force = true,
            _ if eq_ic(opt, "justid") => o.justid = true,
            Some(v) if eq_ic(opt, "idle") => {
                o.delivery_time = Some(now.saturating_sub(claim_int(v, "IDLE")?));
                j += 1;
            }
            Some(v) if eq_ic(opt, "time") => {
                o.delivery_time = Some(claim_int(v, "TIME")?);
                j += 1;
            }
            Some(v) if eq_ic(opt, "retrycount") => {
                let n = claim_int(v, "RETRYCOUNT")?;
                o.retry_count = u64::try_from(n).ok();
                j += 1;
            }
            Some(v) if eq_ic(opt, "lastid") => {
                o.last_id = parse_strict_id(v, 0)?;
                j += 1;
            }
            _ => {
                return Err(CmdError::Msg(format!(
                    "ERR Unrecognized XCLAIM option '{}'",
                    String::from_utf8_lossy(opt)
                )))
            }
        }
        j += 1;
    }
    Ok(o)
}

/// XCLAIM key group consumer min-idle-time id... [IDLE ms] [TIME ms] [RETRYCOUNT n]
/// [FORCE] [JUSTID] [LASTID id]
fn xclaim(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group, consumer) = (args[1], args[2], args[3]);
    let db_index = ctx.client.db;
    let (mut db, out) = ctx.db_out();
    if stream_mut(&mut db, key)?
        .and_then(|s| s.group(group))
        .is_none()
    {
        return Err(nogroup_key_or_group(key, group, ""));
    }
    let min_idle = parse_canonical_i64(args[4])
        .ok_or(CmdError::Static(
            "ERR Invalid min-idle-time argument for XCLAIM",
        ))?
        .max(0);
    let mut j = 5;
    while args.get(j).is_some_and(|a| parse_strict_id(a, 0).is_ok()) {
        j += 1;
    }
    let id_args = &args[5..j];
    let now = now_ms() as i64;
    let o = parse_claim_options(args, j, now)?;
    let delivery_time = match o.delivery_time {
        Some(t) if (0..=now).contains(&t) => t,
        _ => now,
    };

    let Some(s) = stream_mut(&mut db, key)? else {
        return Err(CmdError::Internal("stream vanished"));
    };
    let mut log: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut changed = false;
    let mut log_last_id = false;
    if let Some(g) = s.group_mut(group) {
        if o.last_id > g.last_id {
            g.last_id = o.last_id;
            log_last_id = true;
            changed = true;
        }
    }
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut created = false;
    for &arg in id_args {
        let id = parse_strict_id(arg, 0)?;
        let exists = s.get(id).is_some();
        let Some(g) = s.group_mut(group) else { break };
        if !exists {
            // A pending entry for a deleted entry goes (and so it does on replay).
            if let Some(p) = g.pel.get(&id) {
                log.push(xclaim_log(key, group, arg, p, g.last_id));
                log_last_id = false;
                g.drop_pending(id);
                changed = true;
            }
            continue;
        }
        let (old_count, old_owner) = match g.pel.get(&id) {
            Some(p) => (p.delivery_count, Some(p.delivery_time)),
            None if o.force => (1, None),
            None => continue,
        };
        if let Some(old_time) = old_owner {
            if min_idle != 0 && now - old_time < min_idle {
                continue;
            }
        }
        if claimed.is_empty() {
            created = g.touch_consumer(consumer, now);
        }
        let count = match o.retry_count {
            Some(n) => n,
            None if o.justid => old_count,
            None => old_count + 1,
        };
        g.claim(id, consumer, delivery_time, count, now);
        if let Some(p) = g.pel.get(&id) {
            log.push(xclaim_log(key, group, arg, p, g.last_id));
        }
        log_last_id = false;
        changed = true;
        claimed.push(id);
    }
    if log_last_id {
        if let Some(g) = s.group(group) {
            log.push(group_setid_log(key, group, g.last_id, g.entries_read));
        }
    }
    out.array(claimed.len());
    for &id in &claimed {
        if o.justid {
            write_id(out, id);
        } else if let Some(e) = s.get(id) {
            write_entry(out, &e);
        }
    }
    if created {
        db.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    if changed || created {
        db.changed_unwatched();
    }
    for cmd in log {
        db.locks.propagate_as(db_index, cmd);
    }
    db.locks.propagate_nothing();
    db.locks.log_atomically();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XAUTOCLAIM

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT n] [JUSTID]: claims up to
/// COUNT entries idle long enough, looking at no more than COUNT * 10; replies
/// `[next start, claimed, deleted IDs]` (pending entries of deleted entries are dropped
/// and count against COUNT).
fn xautoclaim(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group, consumer) = (args[1], args[2], args[3]);
    let min_idle = parse_canonical_i64(args[4])
        .ok_or(CmdError::Static(
            "ERR Invalid min-idle-time argument for XAUTOCLAIM",
        ))?
        .max(0);
    let (mut start, start_ex) = parse_interval_id(args[5], 0)?;
    if start_ex {
        start = start.incr().ok_or(CmdError::Static(ERR_INVALID_START))?;
    }
    let mut count: u64 = 100;
    let mut justid = false;
    let mut j = 6;
    while let Some(&opt) = args.get(j) {
        if eq_ic(opt, "count") && j + 1 < args.len() {
            let n = parse_canonical_i64(args[j + 1])
                .filter(|n| (1..=AUTOCLAIM_MAX_COUNT).contains(n))
                .ok_or(CmdError::Static(ERR_AUTOCLAIM_COUNT))?;
            count = n as u64;
            j += 1;
        } else if eq_ic(opt, "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let db_index = ctx.client.db;
    let (mut db, out) = ctx.db_out();
    let Some(s) = stream_mut(&mut db, key)?.filter(|s| s.group(group).is_some()) else {
        return Err(nogroup_key_or_group(key, group, ""));
    };
    let now = now_ms() as i64;
    let mut attempts = count.saturating_mul(AUTOCLAIM_ATTEMPTS_FACTOR);
    let mut from = Bound::Included(start);
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut log: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut created = false;
    while attempts > 0 && count > 0 {
        attempts -= 1;
        let Some(id) = s.group(group).and_then(|g| {
            g.pel
                .range((from, Bound::Unbounded))
                .next()
                .map(|(id, _)| *id)
        }) else {
            break;
        };
        from = Bound::Excluded(id);
        let exists = s.get(id).is_some();
        let Some(g) = s.group_mut(group) else { break };
        let Some(p) = g.pel.get(&id) else { break };
        if !exists {
            log.push(xclaim_log(key, group, &id_arg(id), p, g.last_id));
            g.drop_pending(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        if min_idle != 0 && now - p.delivery_time < min_idle {
            continue;
        }
        let delivery_count = p.delivery_count + u64::from(!justid);
        if claimed.is_empty() {
            created = g.touch_consumer(consumer, now);
        }
        g.claim(id, consumer, now, delivery_count, now);
        if let Some(p) = g.pel.get(&id) {
            log.push(xclaim_log(key, group, &id_arg(id), p, g.last_id));
        }
        claimed.push(id);
        count -= 1;
    }
    let next = s
        .group(group)
        .and_then(|g| {
            g.pel
                .range((from, Bound::Unbounded))
                .next()
                .map(|(id, _)| *id)
        })
        .unwrap_or(StreamId::MIN);
    out.array(3);
    write_id(out, next);
    out.array(claimed.len());
    for &id in &claimed {
        if justid {
            write_id(out, id);
        } else if let Some(e) = s.get(id) {
            write_entry(out, &e);
        }
    }
    out.array(deleted.len());
    for &id in &deleted {
        write_id(out, id);
    }
    if created {
        db.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    if !log.is_empty() || created {
        db.changed_unwatched();
    }
    for cmd in log {
        db.locks.propagate_as(db_index, cmd);
    }
    db.locks.propagate_nothing();
    db.locks.log_atomically();
    Ok(())
}

/// Block the client on every stream of the read (they all have the group): the first
/// XADD that gives one of them entries past the group's last delivered ID serves it, in
/// the group's name (see `shared::stream_groups::serve_blocked_group`).
fn block_for_group(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    group: &[u8],
    consumer: &[u8],
    count: u64,
    noack: bool,
    timeout_ms: u64,
) -> CmdResult {
    let mut unique: Vec<Box<[u8]>> = Vec::with_capacity(keys.len());
    for k in keys {
        if !unique.iter().any(|u| **u == **k) {
            unique.push((*k).into());
        }
    }
    let op = BlockOp::XReadGroup {
        group: group.into(),
        consumer: consumer.into(),
        count,
        noack,
    };
    block_on_keys(ctx, unique, op, timeout_ms)
}
