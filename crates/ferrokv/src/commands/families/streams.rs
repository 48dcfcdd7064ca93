//! Streams: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XREAD (blocking too), XSETID and
//! the XINFO container (STREAM, HELP; GROUPS and CONSUMERS belong to the consumer-group
//! commands). The data structure is `storage/stream`; argument parsing and replies that
//! the consumer-group family shares live in `commands/shared/stream_args.rs`.

use crate::commands::shared::block::block_on_keys;
use crate::commands::shared::help::help_reply;
use crate::commands::shared::stream_args::{
    parse_range_bounds, parse_strict_id, parse_xread, write_entries, write_entry, write_id,
    write_xread_header, write_xread_stream, xread_key_positions, ERR_INVALID_ID,
};
use crate::commands::shared::stream_groups::{xinfo_consumers, xinfo_groups};
use crate::commands::{acl, class, flags, CmdError, CmdResult, Command, Ctx};
use crate::server::blocking::BlockOp;
use crate::storage::db::DbView;
use crate::storage::stream::{
    AddError, AddId, NodeLimits, Stream, StreamEntry, StreamId, TrimArgs, TrimStrategy,
    SCG_INVALID_ENTRIES_READ,
};
use crate::storage::Value;
use crate::storage::ValueMut;
use crate::util::{eq_ic, parse_canonical_i64};

/// The XINFO subcommands. XINFO GROUPS and XINFO CONSUMERS (the consumer-group commands)
/// are added here as two more entries; their handlers live in `commands/shared/` so this
/// family can list them without importing another family.
const XINFO_SUBCOMMANDS: &[Command] = &[
    Command::new("help", 2, flags::LOADING | flags::STALE, xinfo_help).acl(acl::STREAM),
    Command::new("stream", -3, flags::READONLY, xinfo_stream)
        .keys(2, 2, 1)
        .acl(acl::STREAM),
    Command::new("groups", 3, flags::READONLY, xinfo_groups)
        .keys(2, 2, 1)
        .acl(acl::STREAM),
    Command::new("consumers", 4, flags::READONLY, xinfo_consumers)
        .keys(2, 2, 1)
        .acl(acl::STREAM),
];

/// The stream commands' table.
pub static COMMANDS: &[Command] = &[
    Command::new(
        "xadd",
        -5,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        xadd,
    )
    .keys(1, 1, 1)
    .acl(acl::STREAM),
    Command::new("xlen", 2, flags::READONLY | flags::FAST, xlen)
        .keys(1, 1, 1)
        .acl(acl::STREAM),
    Command::new("xrange", -4, flags::READONLY, xrange)
        .keys(1, 1, 1)
        .acl(acl::STREAM),
    Command::new("xrevrange", -4, flags::READONLY, xrevrange)
        .keys(1, 1, 1)
        .acl(acl::STREAM),
    Command::new("xdel", -3, flags::WRITE | flags::FAST, xdel)
        .keys(1, 1, 1)
        .acl(acl::STREAM),
    Command::new("xtrim", -4, flags::WRITE, xtrim)
        .keys(1, 1, 1)
        .acl(acl::STREAM),
    Command::new("xread", -4, flags::READONLY | flags::BLOCKING, xread)
        .keys_fn(xread_key_positions)
        .acl(acl::STREAM),
    Command::new(
        "xsetid",
        -3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        xsetid,
    )
    .keys(1, 1, 1)
    .acl(acl::STREAM),
    Command::container("xinfo", -2, 0).subcommands(XINFO_SUBCOMMANDS),
];

// ---------------------------------------------------------------------------------------
// Helpers

/// The stream at `key`: None when missing, WRONGTYPE for another type.
fn stream_at<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
) -> Result<Option<&'v mut Stream>, CmdError> {
    match db.value(key)? {
        None => Ok(None),
        Some(ValueMut::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Tell clients blocked on `key` (XREAD, XREADGROUP) that it has new entries. A key that
/// was just created is signalled by the keyspace itself.
fn signal_blocked(db: &mut DbView<'_, '_>, key: &[u8]) -> Result<(), CmdError> {
    if db.shard(key)?.has_blocked(key) {
        let index = db.db;
        db.locks.signal_ready(index, key);
    }
    Ok(())
}

/// Redis's cap on the default approximate-trim LIMIT.
const STREAM_MAX_DEFAULT_LIMIT: u64 = 1_000_000;

/// XADD's and XTRIM's options (`streamParseAddOrTrimArgsOrReply`).
#[derive(Debug, Default)]
struct AddTrim {
    trim: Option<TrimStrategy>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// LIMIT was given (the logged form drops it).
    limit_given: bool,
    /// The ID argument (XADD): its position and the parsed form.
    id: Option<AddId>,
    /// Position of the ID argument (or where it would be).
    id_pos: usize,
}

/// Parse the options after the key, with Redis's errors in Redis's order. `obey`: the
/// AOF loader, which (as Redis's `mustObeyClient`) trims without a limit and accepts the
/// LIMIT that Redis's propagated form keeps beside `=`.
fn parse_add_trim(
    args: &[&[u8]],
    xadd: bool,
    limits: NodeLimits,
    obey: bool,
) -> Result<AddTrim, CmdError> {
    const BOTH: &str =
        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    let mut r = AddTrim::default();
    let mut limit_given = false;
    let mut i = 2;
    while let Some(&opt) = args.get(i) {
        let more = args.len() - 1 - i;
        if xadd && opt == b"*" {
            r.id = Some(AddId::Auto);
            break;
        } else if (eq_ic(opt, "maxlen") || eq_ic(opt, "minid")) && more > 0 {
            if r.trim.is_some() {
                return Err(CmdError::Static(BOTH));
            }
            r.approx = false;
            let next = args[i + 1];
            if more >= 2 && next == b"~" {
                r.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let value = args[i + 1];
            r.trim = Some(if eq_ic(opt, "maxlen") {
                let n = parse_canonical_i64(value).ok_or(CmdError::NotInteger)?;
                if n < 0 {
                    return Err(CmdError::Static("ERR The MAXLEN argument must be >= 0."));
                }
                TrimStrategy::MaxLen(n as u64)
            } else {
                TrimStrategy::MinId(parse_strict_id(value, 0)?)
            });
            i += 1;
        } else if eq_ic(opt, "limit") && more > 0 {
            let n = parse_canonical_i64(args[i + 1]).ok_or(CmdError::NotInteger)?;
            if n < 0 {
                return Err(CmdError::Static("ERR The LIMIT argument must be >= 0."));
            }
            r.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && eq_ic(opt, "nomkstream") {
            r.nomkstream = true;
        } else if xadd {
            r.id = Some(parse_add_id(opt)?);
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    r.id_pos = i;
    r.limit_given = limit_given;
    if r.limit != 0 && r.trim.is_none() {
        return Err(CmdError::Static(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && r.trim.is_none() {
        return Err(CmdError::Static(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if obey {
        r.limit = 0;
    } else if limit_given {
        if !r.approx {
            return Err(CmdError::Static(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if r.approx {
        r.limit = 100u64.saturating_mul(limits.max_entries);
        if r.limit == 0 {
            r.limit = 10_000;
        }
        r.limit = r.limit.min(STREAM_MAX_DEFAULT_LIMIT);
    }
    Ok(r)
}

/// XADD's ID: `<ms>-*` takes the next sequence of that millisecond; anything else is a
/// strict ID (an incomplete one gets sequence 0).
fn parse_add_id(arg: &[u8]) -> Result<AddId, CmdError> {
    if let Some(ms) = arg.strip_suffix(b"-*") {
        if let Some((id, false)) = StreamId::parse(ms, 0) {
            return Ok(AddId::Ms(id.ms));
        }
        return Err(CmdError::Static(ERR_INVALID_ID));
    }
    match StreamId::parse(arg, 0) {
        Some((id, _)) => Ok(AddId::Exact(id)),
        None => Err(CmdError::Static(ERR_INVALID_ID)),
    }
}

/// The trim argument as the AOF gets it: exact, with the value that reproduces the
/// result (Redis's `streamRewriteTrimArgument` for approximate trims).
fn logged_trim(s: &Stream, r: &AddTrim) -> Option<[Vec<u8>; 3]> {
    let trim = r.trim?;
    Some(match trim {
        TrimStrategy::MaxLen(n) => {
            let n = if r.approx { s.length } else { n };
            [
                b"MAXLEN".to_vec(),
                b"=".to_vec(),
                n.to_string().into_bytes(),
            ]
        }
        TrimStrategy::MinId(id) => {
            let id = if r.approx { s.first_id } else { id };
            [b"MINID".to_vec(), b"=".to_vec(), id.to_bytes()]
        }
    })
}

fn trim_args(r: &AddTrim) -> Option<TrimArgs> {
    r.trim.map(|strategy| TrimArgs {
        strategy,
        approx: r.approx,
        limit: r.limit,
    })
}

// ---------------------------------------------------------------------------------------
// XADD, XDEL, XTRIM, XSETID

fn xadd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let limits = ctx.server.config.stream_node_limits();
    let r = parse_add_trim(args, true, limits, ctx.client.loading)?;
    let field_pos = r.id_pos + 1;
    let nfields = args.len().saturating_sub(field_pos);
    if args.len() < field_pos + 2 || nfields % 2 == 1 {
        return Err(CmdError::WrongArity);
    }
    let fields = &args[field_pos..];
    let add_id = r.id.unwrap_or(AddId::Auto);
    if add_id == AddId::Exact(StreamId::MIN) {
        return Err(CmdError::Static(
            "ERR The ID specified in XADD must be greater than 0-0",
        ));
    }
    let key = args[1];
    let now = ctx.now;
    let mut db = ctx.db();
    let mut fresh = None;
    let s: &mut Stream = match stream_at(&mut db, key)? {
        Some(s) => s,
        None if r.nomkstream => {
            ctx.out.null();
            return Ok(());
        }
        None => fresh.insert(Stream::new()),
    };
    if s.last_id == StreamId::MAX {
        return Err(CmdError::Static(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = s.append(add_id, fields, now, limits).map_err(|e| match e {
        AddError::IdTooSmall => CmdError::Static(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        ),
        AddError::TooLarge => CmdError::Static("ERR Elements are too large to be stored"),
    })?;
    let trimmed = trim_args(&r).map_or(0, |t| s.trim(t));
    // The command as given is deterministic unless the ID or an approximate trim
    // came from the server's state: then log the ID generated and the exact trim.
    let log = (!matches!(add_id, AddId::Exact(_)) || r.approx || r.limit_given).then(|| {
        let mut log: Vec<Vec<u8>> = vec![b"XADD".to_vec(), key.to_vec()];
        if r.nomkstream {
            log.push(b"NOMKSTREAM".to_vec());
        }
        if let Some(t) = logged_trim(s, &r) {
            log.extend(t);
        }
        log.push(id.to_bytes());
        log.extend(fields.iter().map(|f| f.to_vec()));
        log
    });
    match fresh {
        Some(s) => db.set(key, Value::Stream(Box::new(s)))?,
        None => {
            db.modified(key)?;
            signal_blocked(&mut db, key)?;
        }
    }
    db.notify(class::STREAM, "xadd", key);
    if trimmed > 0 {
        db.notify(class::STREAM, "xtrim", key);
    }
    if let Some(log) = log {
        let index = db.db;
        db.locks.propagate_as(index, log);
    }
    write_id(ctx.out, id);
    Ok(())
}

fn xtrim(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let limits = ctx.server.config.stream_node_limits();
    let key = args[1];
    let r = parse_add_trim(args, false, limits, ctx.client.loading)?;
    let mut db = ctx.db();
    let Some(s) = stream_at(&mut db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = trim_args(&r).map_or(0, |t| s.trim(t));
    if deleted > 0 {
        let mut log: Vec<Vec<u8>> = vec![b"XTRIM".to_vec(), key.to_vec()];
        if let Some(t) = logged_trim(s, &r) {
            log.extend(t);
        }
        db.notify(class::STREAM, "xtrim", key);
        db.modified(key)?;
        let index = db.db;
        db.locks.propagate_as(index, log);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

fn xdel(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let mut db = ctx.db();
    let Some(s) = stream_at(&mut db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let ids = args[2..]
        .iter()
        .map(|a| parse_strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let deleted = s.delete_ids(&ids);
    if deleted > 0 {
        db.modified(key)?;
        db.notify(class::STREAM, "xdel", key);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

fn xsetid(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let id = parse_strict_id(args[2], 0)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while let Some(&opt) = args.get(i) {
        let value = args.get(i + 1);
        match value {
            Some(v) if eq_ic(opt, "entriesadded") => {
                let n = parse_canonical_i64(v).ok_or(CmdError::NotInteger)?;
                if n < 0 {
                    return Err(CmdError::Static("ERR entries_added must be positive"));
                }
                entries_added = Some(n as u64);
            }
            Some(v) if eq_ic(opt, "maxdeletedid") => {
                max_deleted = parse_strict_id(v, 0)?;
                if id < max_deleted {
                    return Err(CmdError::Static(
                        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                    ));
                }
            }
            _ => return Err(CmdError::Syntax),
        }
        i += 2;
    }
    let key = args[1];
    let mut db = ctx.db();
    let s = stream_at(&mut db, key)?.ok_or(CmdError::NoSuchKey)?;
    if s.length > 0 {
        let top = s.edge_id(false).unwrap_or(StreamId::MIN);
        if id < top {
            return Err(CmdError::Static(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| s.length > n) {
            return Err(CmdError::Static(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    // Redis 7.0.15 never refuses an ID below the current max_deleted_entry_id (its check
    // compares with the MAXDELETEDID argument, checked above), so neither do we.
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if !max_deleted.is_zero() {
        s.max_deleted_entry_id = max_deleted;
    }
    db.modified(key)?;
    db.notify(class::STREAM, "xsetid", key);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XLEN, XRANGE, XREVRANGE

fn xlen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut db = ctx.db();
    let n = stream_at(&mut db, args[1])?.map_or(0, |s| s.length);
    ctx.out.int(n as i64);
    Ok(())
}

fn xrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_command(ctx, args, false)
}

fn xrevrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_command(ctx, args, true)
}

/// XRANGE / XREVRANGE (`xrangeGenericCommand`).
fn range_command(ctx: &mut Ctx, args: &[&[u8]], rev: bool) -> CmdResult {
    let (start, end) = if rev {
        (args[3], args[2])
    } else {
        (args[2], args[3])
    };
    let (start, end) = parse_range_bounds(start, end)?;
    let mut count: Option<u64> = None;
    let mut j = 4;
    while let Some(&opt) = args.get(j) {
        match args.get(j + 1) {
            Some(n) if eq_ic(opt, "count") => {
                let n = parse_canonical_i64(n).ok_or(CmdError::NotInteger)?;
                count = Some(n.max(0) as u64);
                j += 2;
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    let (mut db, out) = ctx.db_out();
    let Some(s) = stream_at(&mut db, args[1])? else {
        out.array(0);
        return Ok(());
    };
    if count == Some(0) {
        out.null_array();
        return Ok(());
    }
    let limit = count.map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX));
    let entries: Vec<StreamEntry<'_>> = s.range(start, end, rev).take(limit).collect();
    write_entries(out, &entries);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XREAD

fn xread(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let p = parse_xread(args, false, "xread", ctx.client.in_script)?;
    let keys = &args[p.keys.clone()];
    let id_args = &args[p.ids_at..];
    // Resolve each key's ID (`$` = the stream's last ID now), type-checking as we go.
    let mut ids = Vec::with_capacity(keys.len());
    {
        let mut db = ctx.db();
        for (key, id_arg) in keys.iter().zip(id_args) {
            let s = stream_at(&mut db, key)?;
            let id = match *id_arg {
                b"$" => s.map_or(StreamId::MIN, |s| s.last_id),
                b">" => {
                    return Err(CmdError::Static(
                        "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                    ))
                }
                a => parse_strict_id(a, 0)?,
            };
            ids.push(id);
        }
    }
    let count = usize::try_from(p.count).unwrap_or(usize::MAX);
    let (mut db, out) = ctx.db_out();
    let mut ready = Vec::new();
    for (i, (key, id)) in keys.iter().zip(&ids).enumerate() {
        if let Some(s) = stream_at(&mut db, key)? {
            if s.length > 0 && s.edge_id(false).is_some_and(|top| top > *id) {
                ready.push(i);
            }
        }
    }
    if !ready.is_empty() {
        write_xread_header(out, ready.len());
        for i in ready {
            let (key, id) = (keys[i], ids[i]);
            if let Some(s) = stream_at(&mut db, key)? {
                let entries = entries_after(s, id, count);
                write_xread_stream(out, key, &entries);
            }
        }
        return Ok(());
    }
    match p.block_ms {
        Some(timeout) if !ctx.client.in_exec => block_xread(ctx, keys, &ids, p.count, timeout),
        _ => {
            ctx.out.null_array();
            Ok(())
        }
    }
}

/// Up to `count` entries (0 = all) with IDs greater than `id`.
fn entries_after(s: &Stream, id: StreamId, count: usize) -> Vec<StreamEntry<'_>> {
    let Some(start) = id.incr() else {
        return Vec::new();
    };
    let limit = if count == 0 { usize::MAX } else { count };
    s.range(start, StreamId::MAX, false).take(limit).collect()
}

/// Register a blocked XREAD on its keys (the first ID given for a key repeated wins, as in
/// Redis).
fn block_xread(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    ids: &[StreamId],
    count: u64,
    timeout_ms: u64,
) -> CmdResult {
    let mut waits: Vec<(Box<[u8]>, StreamId)> = Vec::with_capacity(keys.len());
    for (k, id) in keys.iter().zip(ids) {
        if !waits.iter().any(|(u, _)| **u == **k) {
            waits.push(((*k).into(), *id));
        }
    }
    let keys = waits.iter().map(|(k, _)| k.clone()).collect();
    block_on_keys(ctx, keys, BlockOp::XRead { ids: waits, count }, timeout_ms)
}

// ---------------------------------------------------------------------------------------
// XINFO

fn xinfo_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}

fn xinfo_stream(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    // The key is looked up before the options are read, as in Redis.
    let (mut db, out) = ctx.db_out();
    let s = stream_at(&mut db, args[2])?.ok_or(CmdError::NoSuchKey)?;
    let opts = &args[3..];
    let mut full = false;
    let mut count: u64 = 10;
    if !opts.is_empty() {
        let syntax = || {
            CmdError::Msg(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
                String::from_utf8_lossy(args[1])
            ))
        };
        if (opts.len() != 1 && opts.len() != 3) || !eq_ic(opts[0], "full") {
            return Err(syntax());
        }
        if opts.len() == 3 {
            if !eq_ic(opts[1], "count") {
                return Err(syntax());
            }
            let n = parse_canonical_i64(opts[2]).ok_or(CmdError::NotInteger)?;
            count = if n < 0 { 10 } else { n as u64 };
        }
        full = true;
    }
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.length as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.block_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.rax_nodes() as i64);
    out.bulk(b"last-generated-id");
    write_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    write_id(out, s.max_deleted_entry_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    write_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for (name, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            out.bulk(name);
            match s.range(StreamId::MIN, StreamId::MAX, rev).next() {
                Some(e) => write_entry(out, &e),
                None => out.null(),
            }
        }
        return Ok(());
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    out.bulk(b"entries");
    let entries: Vec<StreamEntry<'_>> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .take(limit)
        .collect();
    write_entries(out, &entries);
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        write_id(out, g.last_id);
        out.bulk(b"entries-read");
        if g.entries_read != SCG_INVALID_ENTRIES_READ {
            out.int(g.entries_read);
        } else {
            out.null();
        }
        out.bulk(b"lag");
        match s.group_lag(g) {
            Some(lag) => out.int(lag),
            None => out.null(),
        }
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let pel: Vec<_> = g.pel.iter().take(limit).collect();
        out.array(pel.len());
        for (id, p) in pel {
            out.array(4);
            write_id(out, *id);
            out.bulk(&p.consumer);
            out.int(p.delivery_time);
            out.int(p.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let ids: Vec<_> = c.pel.iter().take(limit).collect();
            out.array(ids.len());
            for id in ids {
                let (time, n) = g
                    .pel
                    .get(id)
                    .map_or((0, 0), |p| (p.delivery_time, p.delivery_count));
                out.array(3);
                write_id(out, *id);
                out.int(time);
                out.int(n as i64);
            }
        }
    }
    Ok(())
}
