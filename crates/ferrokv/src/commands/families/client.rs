//! CLIENT and its subcommands. Entries mirror Redis 7.0.15's metadata; SETINFO and
//! NO-TOUCH follow Redis 7.2 (clients such as redis-py 5 send CLIENT SETINFO on connect).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::commands::{acl, flags, CmdError, CmdResult, Command, Ctx};
use crate::server::{ClientHandle, ReplyMode};
use crate::util::{eq_ic, now_ms};

/// The CLIENT command.
pub static COMMANDS: &[Command] = &[Command::container("client", -2, 0).subcommands(&[
    Command::new(
        "caching",
        3,
        flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_caching,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "getname",
        2,
        flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_getname,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "getredir",
        2,
        flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_getredir,
    )
    .acl(acl::CONNECTION),
    Command::new("help", 2, flags::LOADING | flags::STALE, client_help).acl(acl::CONNECTION),
    Command::new(
        "id",
        2,
        flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_id,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "info",
        2,
        flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_info,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "kill",
        -3,
        flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_kill,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "list",
        -2,
        flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_list,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "no-evict",
        3,
        flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_no_evict,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "pause",
        -3,
        flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_pause,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "reply",
        3,
        flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_reply,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "setname",
        3,
        flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_setname,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "trackinginfo",
        2,
        flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_trackinginfo,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "tracking",
        -3,
        flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_tracking,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "unblock",
        -3,
        flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_unblock,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "unpause",
        2,
        flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_unpause,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "setinfo",
        4,
        flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_setinfo,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "no-touch",
        3,
        flags::NOSCRIPT | flags::LOADING | flags::STALE,
        client_no_touch,
    )
    .acl(acl::CONNECTION),
])];

fn client_id(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.client.handle.id as i64);
    Ok(())
}

fn client_setname(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    crate::commands::shared::client_attrs::validate_name(args[2])?;
    ctx.client.name = args[2].to_vec();
    ctx.out.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    if ctx.client.name.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(&ctx.client.name);
    }
    Ok(())
}

fn client_setinfo(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (attr, val) = (args[2], args[3]);
    let is_name = eq_ic(attr, "lib-name");
    if !is_name && !eq_ic(attr, "lib-ver") {
        return Err(CmdError::msg(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        )));
    }
    if !crate::commands::shared::client_attrs::valid_attr(val) {
        return Err(CmdError::msg(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr)
        )));
    }
    if is_name {
        ctx.client.lib_name = val.to_vec();
    } else {
        ctx.client.lib_ver = val.to_vec();
    }
    ctx.out.ok();
    Ok(())
}

/// `ON` / `OFF` argument (anything else is a syntax error).
fn on_off(arg: &[u8]) -> Result<bool, CmdError> {
    if eq_ic(arg, "on") {
        Ok(true)
    } else if eq_ic(arg, "off") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

fn client_no_evict(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.client.no_evict = on_off(args[2])?;
    ctx.out.ok();
    Ok(())
}

fn client_no_touch(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.client.no_touch = on_off(args[2])?;
    ctx.out.ok();
    Ok(())
}

fn client_reply(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    // OFF and SKIP send no reply of their own: the connection drops this command's output
    // according to the mode set here.
    if eq_ic(args[2], "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if eq_ic(args[2], "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if eq_ic(args[2], "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::Skip;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

fn client_pause(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let timeout = crate::util::parse_canonical_i64(args[2]).ok_or(CmdError::Static(
        "ERR timeout is not an integer or out of range",
    ))?;
    if timeout < 0 {
        return Err(CmdError::Static("ERR timeout is negative"));
    }
    let writes_only = match args.get(3) {
        None => false,
        Some(m) if eq_ic(m, "write") => true,
        Some(m) if eq_ic(m, "all") => false,
        Some(_) => {
            return Err(CmdError::Static(
                "ERR CLIENT PAUSE mode must be WRITE or ALL",
            ))
        }
    };
    if args.len() > 4 {
        return Err(CmdError::Static(
            "ERR unknown subcommand or wrong number of arguments for 'pause'. Try CLIENT HELP.",
        ));
    }
    let deadline = now_ms().saturating_add(timeout as u64);
    ctx.server.pause_clients(deadline, writes_only);
    ctx.out.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.server.unpause_clients();
    ctx.out.ok();
    Ok(())
}

fn client_getredir(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.client.tracking_redir());
    Ok(())
}

fn client_trackinginfo(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let mode = ctx.client.tracking;
    let (broken, prefixes) = if mode.on {
        ctx.server.tracking.client_info(ctx.client.handle.id)
    } else {
        (false, Vec::new())
    };
    let mut flags: Vec<&[u8]> = vec![if mode.on { b"on" } else { b"off" }];
    if mode.bcast {
        flags.push(b"bcast");
    }
    if mode.optin {
        flags.push(b"optin");
        if mode.caching {
            flags.push(b"caching-yes");
        }
    }
    if mode.optout {
        flags.push(b"optout");
        if mode.caching {
            flags.push(b"caching-no");
        }
    }
    if mode.noloop {
        flags.push(b"noloop");
    }
    if broken {
        flags.push(b"broken_redirect");
    }
    let redir = ctx.client.tracking_redir();
    let out = &mut *ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(flags.len());
    for f in flags {
        out.bulk(f);
    }
    out.bulk(b"redirect");
    out.int(redir);
    out.bulk(b"prefixes");
    out.array(prefixes.len());
    for p in &prefixes {
        out.bulk(p);
    }
    Ok(())
}

/// The options of CLIENT TRACKING ON|OFF, as parsed.
#[derive(Default)]
struct TrackingOptions<'a> {
    redirect: u64,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    prefixes: Vec<&'a [u8]>,
}

/// Parse CLIENT TRACKING's options in Redis's order of checks (a REDIRECT target must
/// exist when it is given).
fn parse_tracking_options<'a>(
    ctx: &Ctx,
    args: &[&'a [u8]],
) -> Result<TrackingOptions<'a>, CmdError> {
    let mut o = TrackingOptions::default();
    let mut redirect_given = false;
    let mut i = 3;
    while let Some(&opt) = args.get(i) {
        let next = args.get(i + 1).copied();
        if eq_ic(opt, "redirect") && next.is_some() {
            i += 1;
            if redirect_given {
                return Err(CmdError::Static(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = crate::commands::arg_i64(next.unwrap_or_default())?;
            let exists = u64::try_from(id)
                .ok()
                .is_some_and(|id| ctx.server.clients.lock().contains_key(&id));
            if !exists {
                return Err(CmdError::Static(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            redirect_given = true;
            o.redirect = id as u64;
        } else if eq_ic(opt, "bcast") {
            o.bcast = true;
        } else if eq_ic(opt, "optin") {
            o.optin = true;
        } else if eq_ic(opt, "optout") {
            o.optout = true;
        } else if eq_ic(opt, "noloop") {
            o.noloop = true;
        } else if eq_ic(opt, "prefix") && next.is_some() {
            i += 1;
            o.prefixes.push(next.unwrap_or_default());
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
fn client_tracking(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let o = parse_tracking_options(ctx, args)?;
    if eq_ic(args[2], "off") {
        crate::server::tracking::turn_off(ctx.server, ctx.client);
        ctx.out.ok();
        return Ok(());
    }
    if !eq_ic(args[2], "on") {
        return Err(CmdError::Syntax);
    }
    let cur = ctx.client.tracking;
    if !o.bcast && !o.prefixes.is_empty() {
        return Err(CmdError::Static(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if cur.on && cur.bcast != o.bcast {
        return Err(CmdError::Static(
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if o.bcast && (o.optin || o.optout) {
        return Err(CmdError::Static(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if o.optin && o.optout {
        return Err(CmdError::Static(
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if (o.optin && cur.optout) || (o.optout && cur.optin) {
        return Err(CmdError::Static(
            "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if o.bcast {
        match ctx
            .server
            .tracking
            .check_prefixes(ctx.client.handle.id, &o.prefixes)
        {
            Err(msg) => return Err(CmdError::msg(msg)),
            // Redis 7.0 reports this overlap and enables tracking anyway.
            Ok(Some(msg)) => {
                ctx.server.record_error(&msg);
                ctx.out.error(&msg);
            }
            Ok(None) => {}
        }
    }
    let mode = crate::server::tracking::Mode {
        on: true,
        bcast: o.bcast,
        optin: o.optin,
        optout: o.optout,
        noloop: o.noloop,
        // Enabling again keeps a pending CLIENT CACHING (Redis does not clear the flag).
        caching: cur.on && cur.caching,
        redirect: o.redirect,
    };
    ctx.server
        .tracking
        .enable(&ctx.client.handle, &mode, &o.prefixes);
    ctx.client.tracking = mode;
    ctx.out.ok();
    Ok(())
}

/// CLIENT CACHING YES|NO: the next command's reads are (OPTIN) or are not (OPTOUT) tracked.
fn client_caching(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mode = ctx.client.tracking;
    if !mode.on {
        return Err(CmdError::Static(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    }
    if eq_ic(args[2], "yes") {
        if !mode.optin {
            return Err(CmdError::Static(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if eq_ic(args[2], "no") {
        if !mode.optout {
            return Err(CmdError::Static(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.client.tracking.caching = true;
    ctx.out.ok();
    Ok(())
}

fn client_unblock(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let id = crate::commands::arg_i64(args[2])?;
    let mut error = false;
    if let Some(reason) = args.get(3) {
        if eq_ic(reason, "error") {
            error = true;
        } else if !eq_ic(reason, "timeout") {
            return Err(CmdError::Static(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    }
    if args.len() > 4 {
        return Err(CmdError::Syntax);
    }
    let handle = u64::try_from(id)
        .ok()
        .and_then(|id| ctx.server.clients.lock().get(&id).cloned());
    let waiter = handle.and_then(|h| h.blocked.lock().clone());
    let unblocked =
        waiter.is_some_and(|w| w.finish(crate::server::blocking::WaitState::Unblocked { error }));
    ctx.out.int(unblocked as i64);
    Ok(())
}

/// One CLIENT LIST line (with the trailing newline) for the calling client, from its live
/// state.
fn own_line(ctx: &Ctx) -> String {
    crate::commands::shared::client_line::own_line(ctx.client, ctx.name, ctx.out.resp3)
}

/// One CLIENT LIST line for another client, from what its connection last published.
fn other_line(h: &ClientHandle) -> String {
    let info = h.info.lock().clone();
    let idle = match h
        .last_interaction
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        0 => h.created.elapsed().as_secs(),
        t => crate::util::mono_ns().saturating_sub(t) / 1_000_000_000,
    };
    let cmd = if info.last_cmd.is_empty() {
        "NULL"
    } else {
        info.last_cmd.as_str()
    };
    crate::commands::shared::client_line::format_line(
        h,
        &crate::commands::shared::client_line::LineFields {
            name: &info.name,
            idle,
            flags: &info.flags,
            db: info.db,
            multi: info.multi,
            qbuf: info.qbuf,
            buf_caps: info.buf_caps,
            cmd,
            resp: info.resp,
            lib_name: &info.lib_name,
            lib_ver: &info.lib_ver,
            subs: [info.sub, info.psub, info.ssub],
            redir: info.redir,
        },
    )
}

/// Redis's `getClientType` for the clients ferrokv has: `pubsub` while subscribed.
fn client_type(ctx: &Ctx, h: &ClientHandle) -> &'static str {
    let subscribed = if h.id == ctx.client.handle.id {
        ctx.client.subs.total() > 0
    } else {
        h.info.lock().flags.contains('P')
    };
    let flags = h.info.lock().flags.clone();
    if flags.contains('S') {
        "replica"
    } else if flags.contains('M') {
        "master"
    } else if subscribed {
        "pubsub"
    } else {
        "normal"
    }
}

/// Connected clients, ordered by id (Redis lists them in connection order).
fn clients_by_id(ctx: &Ctx) -> Vec<Arc<ClientHandle>> {
    let mut v: Vec<Arc<ClientHandle>> = ctx.server.clients.lock().values().cloned().collect();
    v.sort_by_key(|h| h.id);
    v
}

/// The type a client has for `TYPE` filters: monitors are `normal` in Redis too; there
/// are no replicas or masters yet; a client with subscriptions is `pubsub`.
fn parse_type(arg: &[u8]) -> Result<&'static str, CmdError> {
    for t in ["normal", "master", "replica", "slave", "pubsub"] {
        if eq_ic(arg, t) {
            return Ok(if t == "slave" { "replica" } else { t });
        }
    }
    Err(CmdError::msg(format!(
        "ERR Unknown client type '{}'",
        String::from_utf8_lossy(arg)
    )))
}

fn client_list(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut type_filter: Option<&str> = None;
    let mut ids: Option<Vec<u64>> = None;
    if args.len() > 2 {
        if eq_ic(args[2], "type") && args.len() == 4 {
            type_filter = Some(parse_type(args[3])?);
        } else if eq_ic(args[2], "id") && args.len() >= 4 {
            let mut v = Vec::new();
            for a in &args[3..] {
                // Any integer is accepted; ids that exist nowhere simply match nothing.
                match crate::util::parse_canonical_i64(a) {
                    Some(n) => v.push(n as u64),
                    None => return Err(CmdError::Static("ERR Invalid client ID")),
                }
            }
            ids = Some(v);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let me = ctx.client.handle.id;
    let mut text = String::new();
    for h in clients_by_id(ctx) {
        if type_filter.is_some_and(|t| t != client_type(ctx, &h)) {
            continue;
        }
        if ids.as_ref().is_some_and(|v| !v.contains(&h.id)) {
            continue;
        }
        if h.id == me {
            text.push_str(&own_line(ctx));
        } else {
            text.push_str(&other_line(&h));
        }
    }
    ctx.out.verbatim(text.as_bytes(), "txt");
    Ok(())
}

fn client_info(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let line = own_line(ctx);
    ctx.out.verbatim(line.as_bytes(), "txt");
    Ok(())
}

/// The filters of CLIENT KILL's new form.
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<Vec<u8>>,
    laddr: Option<Vec<u8>>,
    kind: Option<&'static str>,
    user: Option<std::sync::Arc<crate::server::acl::User>>,
    maxage: Option<u64>,
    skipme: bool,
}

fn parse_kill_filter(ctx: &Ctx, args: &[&[u8]]) -> Result<KillFilter, CmdError> {
    let mut f = KillFilter {
        skipme: true,
        ..KillFilter::default()
    };
    let mut i = 2;
    while i < args.len() {
        let (opt, val) = match (args.get(i), args.get(i + 1)) {
            (Some(o), Some(v)) => (*o, *v),
            _ => return Err(CmdError::Syntax),
        };
        if eq_ic(opt, "id") {
            match crate::util::parse_canonical_i64(val) {
                Some(n) if n > 0 => f.id = Some(n as u64),
                _ => return Err(CmdError::Static("ERR client-id should be greater than 0")),
            }
        } else if eq_ic(opt, "type") {
            f.kind = Some(parse_type(val)?);
        } else if eq_ic(opt, "addr") {
            f.addr = Some(val.to_vec());
        } else if eq_ic(opt, "laddr") {
            f.laddr = Some(val.to_vec());
        } else if eq_ic(opt, "user") {
            let Some(u) = ctx.server.acl.user(val) else {
                return Err(CmdError::msg(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(val)
                )));
            };
            f.user = Some(u);
        } else if eq_ic(opt, "skipme") {
            f.skipme = if eq_ic(val, "yes") {
                true
            } else if eq_ic(val, "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else if eq_ic(opt, "maxage") {
            match crate::util::parse_canonical_i64(val) {
                Some(n) if n >= 0 => f.maxage = Some(n as u64),
                _ => return Err(CmdError::Syntax),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(f)
}

fn client_kill(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let me = ctx.client.handle.id;
    if args.len() == 3 {
        // Old form: CLIENT KILL ip:port.
        let target = clients_by_id(ctx)
            .into_iter()
            .find(|h| h.addr.as_bytes() == args[2])
            .ok_or(CmdError::Static("ERR No such client"))?;
        kill(ctx, &target, me);
        ctx.out.ok();
        return Ok(());
    }
    let f = parse_kill_filter(ctx, args)?;
    let mut killed = 0;
    for h in clients_by_id(ctx) {
        let matches = f.id.is_none_or(|id| id == h.id)
            && f.addr.as_deref().is_none_or(|a| a == h.addr.as_bytes())
            && f.laddr.as_deref().is_none_or(|a| a == h.laddr.as_bytes())
            && f.kind.is_none_or(|t| t == client_type(ctx, &h))
            && f.user.as_ref().is_none_or(|u| {
                let mine = h.user.lock().clone();
                match mine {
                    Some(m) => std::sync::Arc::ptr_eq(&m, u),
                    None => std::sync::Arc::ptr_eq(&ctx.server.acl.default, u),
                }
            })
            && f.maxage
                .is_none_or(|age| h.created.elapsed().as_secs() >= age)
            && !(f.skipme && h.id == me);
        if matches {
            kill(ctx, &h, me);
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

/// Close a client: ourselves after this reply, another connection at its next wake-up.
/// Another client leaves the client list (and `connected_clients`) at once, as Redis frees
/// it at once; its connection task cleans up the rest when it wakes.
fn kill(ctx: &mut Ctx, h: &ClientHandle, me: u64) {
    if h.id == me {
        ctx.client.close_after_reply = true;
    } else if !h.killed.load(Relaxed) {
        h.kill();
        ctx.server.unregister_client(h.id);
    }
}

fn client_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    crate::commands::shared::help::help_reply(
        ctx,
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "    * MAXAGE <maxage>",
            "      Kill connections older than the specified age.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    );
    Ok(())
}
