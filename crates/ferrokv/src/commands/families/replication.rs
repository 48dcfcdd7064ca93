//! The replication family: REPLICAOF / SLAVEOF, REPLCONF, PSYNC, SYNC, WAIT, ROLE,
//! FAILOVER (its state machine is `crate::replication::failover`). The
//! protocol itself lives in `crate::replication`; PSYNC, SYNC and WAIT leave a hook for
//! their connection (they need the socket, or to wait without blocking the thread).

use std::sync::atomic::Ordering;

use crate::commands::{acl, flags, CmdError, CmdResult, Command, Ctx};
use crate::replication::{failover as fo, replica, Hook};

/// The replication family's table.
pub static COMMANDS: &[Command] = &[
    Command::new(
        "replicaof",
        3,
        flags::ADMIN | flags::NOSCRIPT | flags::STALE | flags::NO_ASYNC_LOADING,
        replicaof,
    ),
    Command::new(
        "slaveof",
        3,
        flags::ADMIN | flags::NOSCRIPT | flags::STALE | flags::NO_ASYNC_LOADING,
        replicaof,
    ),
    Command::new(
        "replconf",
        -1,
        flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE | flags::ALLOW_BUSY,
        replconf,
    ),
    Command::new(
        "psync",
        -3,
        flags::ADMIN | flags::NOSCRIPT | flags::NO_ASYNC_LOADING | flags::NO_MULTI,
        psync,
    ),
    Command::new(
        "sync",
        1,
        flags::ADMIN | flags::NOSCRIPT | flags::NO_ASYNC_LOADING | flags::NO_MULTI,
        sync,
    ),
    Command::new("wait", 3, flags::NOSCRIPT, wait).acl(acl::CONNECTION),
    Command::new(
        "failover",
        -1,
        flags::ADMIN | flags::NOSCRIPT | flags::STALE,
        failover,
    ),
    Command::new(
        "role",
        1,
        flags::NOSCRIPT | flags::LOADING | flags::STALE | flags::FAST,
        role,
    )
    .acl(acl::ADMIN | acl::DANGEROUS),
];

fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// REPLICAOF host port | NO ONE.
fn replicaof(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if ctx.server.repl.failover.phase() != fo::Phase::None {
        return Err(CmdError::Static(
            "ERR REPLICAOF not allowed while failing over.",
        ));
    }
    if ctx.client.handle.info.lock().flags.contains('S') {
        return Err(CmdError::Static(
            "ERR Command is not valid when client is a replica.",
        ));
    }
    let (host, port) = (args[1], args[2]);
    if eq(host, "no") && eq(port, "one") {
        if replica::promote(ctx.server) {
            tracing::info!(
                "MASTER MODE enabled (user request from 'id={}')",
                ctx.client.handle.id
            );
        }
        ctx.out.ok();
        return Ok(());
    }
    let port = crate::util::parse_canonical_i64(port)
        .filter(|p| (0..=65535).contains(p))
        .ok_or(CmdError::Static("ERR Invalid master port"))?;
    let host = String::from_utf8_lossy(host).into_owned();
    let same = ctx
        .server
        .repl
        .state
        .lock()
        .master
        .as_ref()
        .is_some_and(|m| m.host.eq_ignore_ascii_case(&host) && i64::from(m.port) == port);
    if same {
        ctx.out.simple("OK Already connected to specified master");
        return Ok(());
    }
    let Some(server) = ctx.server.arc() else {
        return Err(CmdError::Internal("server not shared"));
    };
    tracing::info!(
        "REPLICAOF {}:{} enabled (user request from 'id={}')",
        host,
        port,
        ctx.client.handle.id
    );
    replica::replicate(&server, host, port as u16);
    ctx.out.ok();
    Ok(())
}

/// REPLCONF option value [option value ...]: what a replica tells us in its handshake.
fn replconf(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut i = 1;
    while let (Some(&opt), Some(&val)) = (args.get(i), args.get(i + 1)) {
        if eq(opt, "listening-port") {
            let port = crate::util::parse_canonical_i64(val).ok_or(CmdError::NotInteger)?;
            ctx.client.repl_conf.port = port as u16;
        } else if eq(opt, "ip-address") {
            ctx.client.repl_conf.ip = Some(String::from_utf8_lossy(val).into_owned());
        } else if eq(opt, "capa") {
            if eq(val, "eof") {
                ctx.client.repl_conf.capa_eof = true;
            } else if eq(val, "psync2") {
                ctx.client.repl_conf.capa_psync2 = true;
            }
        } else if eq(opt, "ack") || eq(opt, "getack") {
            // ACKs are read by the replica link itself, GETACK by the primary's link on a
            // replica: from anyone else they are ignored, without a reply (as Redis).
            return Ok(());
        } else if eq(opt, "rdb-only") || eq(opt, "rdb-filter-only") {
            // Accepted (redis-cli --rdb sends them); ferrokv sends the whole RDB.
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        i += 2;
    }
    ctx.out.ok();
    Ok(())
}

/// Refuse SYNC/PSYNC during our own failover, and on a replica whose link is down
/// (Redis's texts).
fn sync_allowed(ctx: &Ctx) -> CmdResult {
    if ctx.server.repl.failover.phase() != fo::Phase::None {
        return Err(CmdError::Static(
            "NOMASTERLINK Can't SYNC while failing over",
        ));
    }
    let st = ctx.server.repl.state.lock();
    if st
        .master
        .as_ref()
        .is_some_and(|m| m.link != replica::Link::Connected)
    {
        return Err(CmdError::Static(
            "NOMASTERLINK Can't SYNC while not connected with my master",
        ));
    }
    Ok(())
}

/// PSYNC replid offset [FAILOVER]: the connection becomes a replica (after this
/// command). With FAILOVER, sent by our primary during its FAILOVER, we first become a
/// primary (the replid must be ours: we are in sync with it).
fn psync(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if ctx.client.handle.info.lock().flags.contains('S') {
        return Ok(());
    }
    if args.get(3).is_some_and(|a| eq(a, "failover")) {
        let (replica, ours) = {
            let st = ctx.server.repl.state.lock();
            (st.master.is_some(), st.replid.as_bytes() == args[1])
        };
        if !replica {
            return Err(CmdError::Static(
                "ERR PSYNC FAILOVER can't be sent to a master.",
            ));
        }
        if !ours {
            return Err(CmdError::Static(
                "ERR PSYNC FAILOVER replid must match my replid.",
            ));
        }
        replica::drain_link(ctx.server);
        if replica::promote(ctx.server) {
            tracing::info!(
                "MASTER MODE enabled (failover request from 'id={} addr={}')",
                ctx.client.handle.id,
                ctx.client.handle.addr
            );
        }
    }
    sync_allowed(ctx)?;
    ctx.client.repl_hook = Some(Hook::Sync(Some((args[1].to_vec(), args[2].to_vec()))));
    Ok(())
}

/// SYNC: the old full sync (an RDB, then the stream; no +FULLRESYNC line).
fn sync(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    if ctx.client.handle.info.lock().flags.contains('S') {
        return Ok(());
    }
    sync_allowed(ctx)?;
    ctx.client.repl_hook = Some(Hook::Sync(None));
    Ok(())
}

/// WAIT numreplicas timeout.
fn wait(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if ctx.server.repl.is_replica() {
        return Err(CmdError::Static(
            "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        ));
    }
    let replicas = crate::util::parse_canonical_i64(args[1]).ok_or(CmdError::NotInteger)?;
    let timeout = crate::util::parse_canonical_i64(args[2]).ok_or(CmdError::Static(
        "ERR timeout is not an integer or out of range",
    ))?;
    if timeout < 0 {
        return Err(CmdError::Static("ERR timeout is negative"));
    }
    let offset = ctx.client.repl_woff;
    let acked = ctx.server.repl.acked_at_least(offset) as i64;
    // Inside MULTI or a script nothing may wait: answer with what is known now.
    if ctx.client.in_exec || ctx.client.in_script || acked >= replicas {
        ctx.out.int(acked);
        return Ok(());
    }
    ctx.client.repl_hook = Some(Hook::Wait {
        replicas: replicas.max(0) as u64,
        offset,
        timeout_ms: timeout as u64,
    });
    Ok(())
}

/// ROLE.
fn role(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let st = ctx.server.repl.state.lock();
    if let Some(m) = &st.master {
        ctx.out.array(5);
        ctx.out.bulk(b"slave");
        ctx.out.bulk(m.host.as_bytes());
        ctx.out.int(i64::from(m.port));
        ctx.out.bulk(m.link.name().as_bytes());
        let offset = if m.link == replica::Link::Connected {
            st.offset as i64
        } else {
            -1
        };
        ctx.out.int(offset);
        return Ok(());
    }
    let online: Vec<_> = st.replicas.iter().filter(|r| r.is_online()).collect();
    ctx.out.array(3);
    ctx.out.bulk(b"master");
    ctx.out.int(st.offset as i64);
    ctx.out.array(online.len());
    for r in online {
        ctx.out.array(3);
        ctx.out.bulk(r.ip.as_bytes());
        ctx.out.bulk(r.port().to_string().as_bytes());
        ctx.out
            .bulk(r.ack_offset.load(Ordering::Relaxed).to_string().as_bytes());
    }
    Ok(())
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms].
fn failover(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let rest = args.get(1..).unwrap_or_default();
    match fo::parse(rest).map_err(CmdError::Static)? {
        None => fo::abort_request(ctx.server).map_err(CmdError::Static)?,
        Some(req) => fo::start(ctx.server, &req).map_err(CmdError::Static)?,
    }
    ctx.out.ok();
    Ok(())
}
