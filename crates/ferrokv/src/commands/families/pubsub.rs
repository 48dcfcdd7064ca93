//! Pub/Sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, SSUBSCRIBE,
//! SUNSUBSCRIBE, SPUBLISH and PUBSUB. The registry and delivery are `server::pubsub`;
//! the client's own set of subscriptions is `Client::subs`.
//!
//! None of these commands lock keyspace shards: SSUBSCRIBE/SUNSUBSCRIBE/SPUBLISH declare
//! their channels as (not-key) keys for COMMAND INFO, as Redis does, but lock nothing.

use crate::commands::dispatch::LockIds;
use crate::commands::shared::help::help_reply;
use crate::commands::{flags, CmdError, CmdResult, Command, Ctx, LockScope};
use crate::server::pubsub::{Kind, Limits};
use resp::ReplyWriter;

const SUB_FLAGS: u32 = flags::PUBSUB | flags::NOSCRIPT | flags::LOADING | flags::STALE;
const PUB_FLAGS: u32 = flags::PUBSUB | flags::LOADING | flags::STALE | flags::FAST;
const INTROSPECT: u32 = flags::PUBSUB | flags::LOADING | flags::STALE;

/// Shard channels are keys only for cluster routing: no shard locks.
fn no_locks(_args: &[&[u8]], _db: usize, _db_count: usize, _ids: &mut LockIds) {}

/// The Pub/Sub family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("subscribe", -2, SUB_FLAGS, subscribe),
    Command::new("unsubscribe", -1, SUB_FLAGS, unsubscribe),
    Command::new("psubscribe", -2, SUB_FLAGS, psubscribe),
    Command::new("punsubscribe", -1, SUB_FLAGS, punsubscribe),
    Command::new("publish", 3, PUB_FLAGS, publish),
    Command::new("ssubscribe", -2, SUB_FLAGS, ssubscribe)
        .keys(1, -1, 1)
        .lock(LockScope::Custom(no_locks)),
    Command::new("sunsubscribe", -1, SUB_FLAGS, sunsubscribe)
        .keys(1, -1, 1)
        .lock(LockScope::Custom(no_locks)),
    Command::new("spublish", 3, PUB_FLAGS, spublish)
        .keys(1, 1, 1)
        .lock(LockScope::Custom(no_locks)),
    Command::container("pubsub", -2, 0).subcommands(&[
        Command::new("channels", -2, INTROSPECT, channels),
        Command::new("help", 2, flags::LOADING | flags::STALE, help),
        Command::new("numpat", 2, INTROSPECT, numpat),
        Command::new("numsub", -2, INTROSPECT, numsub),
        Command::new("shardchannels", -2, INTROSPECT, shardchannels),
        Command::new("shardnumsub", -2, INTROSPECT, shardnumsub),
    ]),
];

/// One subscribe/unsubscribe confirmation: `[kind, channel or nil, count]`, a push frame
/// in RESP3.
fn confirm(ctx: &mut Ctx, what: &str, name: Option<&[u8]>, count: usize) {
    with_push_writer(ctx, |out| {
        out.push(3);
        out.bulk(what.as_bytes());
        match name {
            Some(n) => out.bulk(n),
            None => out.null(),
        }
        out.int(count as i64);
    });
}

/// Write Pub/Sub frames where they survive CLIENT REPLY OFF/SKIP, as in Redis: the
/// reply buffer normally, `Client::pushed` while this command's reply is dropped.
fn with_push_writer(ctx: &mut Ctx, write: impl FnOnce(&mut ReplyWriter)) {
    if !ctx.client.replies_dropped() {
        write(ctx.out);
        return;
    }
    let mut out = ReplyWriter {
        buf: std::mem::take(&mut ctx.client.pushed),
        resp3: ctx.out.resp3,
    };
    write(&mut out);
    ctx.client.pushed = out.buf;
}

/// The count a confirmation carries: shard subscriptions for the S commands, channels
/// plus patterns for the others (Redis's two counters).
fn count(ctx: &Ctx, kind: Kind) -> usize {
    match kind {
        Kind::Shard => ctx.client.subs.shard.len(),
        Kind::Channel | Kind::Pattern => ctx.client.subs.count(),
    }
}

/// Add one subscription to the client's set and the registry; false if already there.
fn add(ctx: &mut Ctx, kind: Kind, name: &[u8]) -> bool {
    let subs = &mut ctx.client.subs;
    let new = match kind {
        Kind::Channel => subs.channels.insert(name.into()),
        Kind::Shard => subs.shard.insert(name.into()),
        Kind::Pattern => {
            let new = !subs.patterns.iter().any(|p| &**p == name);
            if new {
                subs.patterns.push(name.into());
            }
            new
        }
    };
    if new {
        ctx.server.pubsub.subscribe(kind, name, &ctx.client.handle);
    }
    new
}

/// Remove one subscription from the client's set and the registry.
fn remove(ctx: &mut Ctx, kind: Kind, name: &[u8]) {
    let subs = &mut ctx.client.subs;
    let had = match kind {
        Kind::Channel => subs.channels.remove(name),
        Kind::Shard => subs.shard.remove(name),
        Kind::Pattern => match subs.patterns.iter().position(|p| &**p == name) {
            Some(i) => {
                subs.patterns.remove(i);
                true
            }
            None => false,
        },
    };
    if had {
        ctx.server
            .pubsub
            .unsubscribe(kind, name, ctx.client.handle.id);
    }
}

fn do_subscribe(ctx: &mut Ctx, args: &[&[u8]], kind: Kind, what: &str) -> CmdResult {
    for name in args.iter().skip(1) {
        add(ctx, kind, name);
        let n = count(ctx, kind);
        confirm(ctx, what, Some(name), n);
    }
    Ok(())
}

/// Messages published before the unsubscription was registered are still in the pending
/// buffer: they go out before its confirmation, as they would in Redis.
fn drain_pending(ctx: &mut Ctx) {
    let handle = ctx.client.handle.clone();
    let mut p = handle.pending.lock();
    if !p.is_empty() {
        with_push_writer(ctx, |out| out.buf.extend_from_slice(&p));
        p.clear();
    }
}

fn do_unsubscribe(ctx: &mut Ctx, args: &[&[u8]], kind: Kind, what: &str) -> CmdResult {
    let names: Vec<Box<[u8]>> = if args.len() > 1 {
        args.iter().skip(1).map(|a| (*a).into()).collect()
    } else {
        let subs = &ctx.client.subs;
        match kind {
            Kind::Channel => subs.channels.iter().cloned().collect(),
            Kind::Shard => subs.shard.iter().cloned().collect(),
            Kind::Pattern => subs.patterns.clone(),
        }
    };
    // Each confirmation carries the count left after its own name, as Redis replies one
    // by one; the replies are written after every removal so that pending messages can
    // go first.
    let mut counts = Vec::with_capacity(names.len());
    for name in &names {
        remove(ctx, kind, name);
        counts.push(count(ctx, kind));
    }
    drain_pending(ctx);
    if names.is_empty() {
        // Nothing to unsubscribe from: one confirmation with a nil channel.
        let n = count(ctx, kind);
        confirm(ctx, what, None, n);
    }
    for (name, n) in names.iter().zip(counts) {
        confirm(ctx, what, Some(name), n);
    }
    Ok(())
}

fn subscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    do_subscribe(ctx, args, Kind::Channel, "subscribe")
}

fn psubscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    do_subscribe(ctx, args, Kind::Pattern, "psubscribe")
}

fn ssubscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if ctx.client.in_exec {
        // Redis refuses it for clients that expect one reply per command (EXEC's).
        return Err(CmdError::Static(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    do_subscribe(ctx, args, Kind::Shard, "ssubscribe")
}

fn unsubscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    do_unsubscribe(ctx, args, Kind::Channel, "unsubscribe")
}

fn punsubscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    do_unsubscribe(ctx, args, Kind::Pattern, "punsubscribe")
}

fn sunsubscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    do_unsubscribe(ctx, args, Kind::Shard, "sunsubscribe")
}

fn do_publish(ctx: &mut Ctx, args: &[&[u8]], shard: bool) -> CmdResult {
    let (channel, message) = match (args.get(1), args.get(2)) {
        (Some(c), Some(m)) => (*c, *m),
        _ => return Err(CmdError::WrongArity),
    };
    let id = ctx.client.handle.id;
    let (hard, soft, soft_seconds) = ctx.server.config.pubsub_output_limits();
    let limits = Limits {
        hard,
        soft,
        soft_seconds,
    };
    let server = ctx.server;
    let mut n = 0;
    with_push_writer(ctx, |out| {
        n = server
            .pubsub
            .publish(shard, (channel, message), id, out, limits);
    });
    ctx.out.int(n);
    Ok(())
}

fn publish(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    // Propagated to replicas (not to the AOF: `replication::propagate` leaves it out), as
    // Redis's forceCommandPropagation(PROPAGATE_REPL).
    ctx.locks.note_change();
    do_publish(ctx, args, false)
}

fn spublish(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.locks.note_change();
    do_publish(ctx, args, true)
}

/// `PUBSUB CHANNELS|SHARDCHANNELS [pattern]`.
fn list_channels(ctx: &mut Ctx, args: &[&[u8]], shard: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(args.get(1).copied().unwrap_or_default())
        )));
    }
    let found = ctx.server.pubsub.channels(shard, args.get(2).copied());
    ctx.out.array(found.len());
    for c in &found {
        ctx.out.bulk(c);
    }
    Ok(())
}

fn channels(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    list_channels(ctx, args, false)
}

fn shardchannels(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    list_channels(ctx, args, true)
}

/// `PUBSUB NUMSUB|SHARDNUMSUB [channel ...]`: a flat array of (channel, count) pairs.
fn count_subscribers(ctx: &mut Ctx, args: &[&[u8]], shard: bool) -> CmdResult {
    let names = args.get(2..).unwrap_or_default();
    ctx.out.array(names.len() * 2);
    for name in names {
        let n = ctx.server.pubsub.numsub(shard, name);
        ctx.out.bulk(name);
        ctx.out.int(n as i64);
    }
    Ok(())
}

fn numsub(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    count_subscribers(ctx, args, false)
}

fn shardnumsub(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    count_subscribers(ctx, args, true)
}

fn numpat(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let n = ctx.server.pubsub.pattern_count();
    ctx.out.int(n as i64);
    Ok(())
}

fn help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}
