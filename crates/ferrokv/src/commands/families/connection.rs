//! Connection commands: PING, ECHO, QUIT, RESET, AUTH, SELECT, HELLO.
//! (CLIENT lives in `client.rs`.)

use crate::commands::{acl, arg_i64, flags, CmdError, CmdResult, Command, Ctx};
use crate::server::{ReplyMode, FERROKV_VERSION, REDIS_VERSION};
use crate::util::eq_ic;
use std::sync::atomic::Ordering::Relaxed;

/// The connection family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("ping", -1, flags::FAST, ping).acl(acl::CONNECTION),
    Command::new("echo", 2, flags::LOADING | flags::STALE | flags::FAST, echo).acl(acl::CONNECTION),
    Command::new(
        "quit",
        -1,
        flags::NOSCRIPT
            | flags::LOADING
            | flags::STALE
            | flags::FAST
            | flags::NO_AUTH
            | flags::ALLOW_BUSY,
        quit,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "reset",
        1,
        flags::NOSCRIPT
            | flags::LOADING
            | flags::STALE
            | flags::FAST
            | flags::NO_AUTH
            | flags::ALLOW_BUSY,
        reset,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "auth",
        -2,
        flags::NOSCRIPT
            | flags::LOADING
            | flags::STALE
            | flags::FAST
            | flags::NO_AUTH
            | flags::ALLOW_BUSY,
        auth,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "select",
        2,
        flags::LOADING | flags::STALE | flags::FAST,
        select,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "hello",
        -1,
        flags::NOSCRIPT
            | flags::LOADING
            | flags::STALE
            | flags::FAST
            | flags::NO_AUTH
            | flags::ALLOW_BUSY,
        hello,
    )
    .acl(acl::CONNECTION),
];

fn ping(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() <= 2 && ctx.client.subs.total() > 0 && !ctx.out.resp3 {
        // RESP2 subscribed mode: PING answers in the shape of a message.
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(args.get(1).copied().unwrap_or_default());
        return Ok(());
    }
    match args.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(args[1]),
        _ => return Err(CmdError::WrongArity),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(args[1]);
    Ok(())
}

fn quit(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    // Gone for everyone else from now on, as in Redis (which frees the client before it
    // serves anything else): a command another connection sends once it has read this
    // +OK must not find it, e.g. an invalidation redirected here must report
    // `tracking-redir-broken`, not go to a closing connection. The connection's own
    // close unregisters it again (harmless).
    ctx.server.unregister_client(ctx.client.handle.id);
    Ok(())
}

fn reset(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.client.multi = None;
    ctx.client.multi_dirty = false;
    crate::commands::shared::watch::unwatch_all(ctx.server, ctx.client);
    ctx.client.db = 0;
    ctx.server.pubsub.forget_client(ctx.client);
    crate::server::tracking::turn_off(ctx.server, ctx.client);
    ctx.out.resp3 = false;
    ctx.client.handle.resp3.store(false, Relaxed);
    ctx.client.name.clear();
    ctx.client.reply_mode = ReplyMode::On;
    // Redis 7.0 keeps CLIENT NO-EVICT across RESET (7.2 clears it with NO-TOUCH).
    ctx.client.no_touch = false;
    if ctx.client.monitor {
        ctx.client.monitor = false;
        ctx.server.remove_monitor(ctx.client.handle.id);
    }
    // Back to the default user (Redis's `clientSetDefaultAuth`).
    ctx.client.user = None;
    *ctx.client.handle.user.lock() = None;
    ctx.client.authenticated = !ctx.server.acl.auth_required();
    ctx.out.simple("RESET");
    Ok(())
}

/// Authenticate the client as `user` with `pass` (Redis's `ACLAuthenticateUser`): on
/// failure the attempt goes to the ACL log, with `object` the command as sent.
fn authenticate(ctx: &mut Ctx, object: &[u8], user: &[u8], pass: &[u8]) -> CmdResult {
    match ctx.server.acl.authenticate(user, pass) {
        Some(u) => {
            let u = (!std::sync::Arc::ptr_eq(&u, &ctx.server.acl.default)).then_some(u);
            ctx.client.set_user(u);
            Ok(())
        }
        None => {
            crate::commands::acl_check::log_auth(ctx.server, ctx.client, object, user);
            Err(CmdError::Static(
                "WRONGPASS invalid username-password pair or user is disabled.",
            ))
        }
    }
}

fn auth(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (user, pass) = match args.len() {
        2 => (&b"default"[..], args[1]),
        3 => (args[1], args[2]),
        _ => return Err(CmdError::Syntax),
    };
    if args.len() == 2 && ctx.server.acl.default_nopass() {
        return Err(CmdError::Static(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    authenticate(ctx, args[0], user, pass)?;
    ctx.out.ok();
    Ok(())
}

fn select(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let n = arg_i64(args[1])?;
    // Redis reads the index as an `int` first (getIntFromObjectOrReply).
    if n < i64::from(i32::MIN) || n > i64::from(i32::MAX) {
        return Err(CmdError::Static(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if n < 0 || n as usize >= ctx.server.dbs.len() {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.client.db = n as usize;
    ctx.out.ok();
    Ok(())
}

fn hello(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut proto = if ctx.out.resp3 { 3 } else { 2 };
    let mut i = 1;
    if let Some(v) = args.get(1) {
        let n = crate::util::parse_canonical_i64(v).ok_or(CmdError::Static(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        if !(2..=3).contains(&n) {
            return Err(CmdError::Static("NOPROTO unsupported protocol version"));
        }
        proto = n;
        i = 2;
    }
    let mut auth: Option<(&[u8], &[u8])> = None;
    let mut setname: Option<&[u8]> = None;
    while i < args.len() {
        let more = args.len() - i - 1;
        if eq_ic(args[i], "auth") && more >= 2 {
            auth = Some((args[i + 1], args[i + 2]));
            i += 3;
        } else if eq_ic(args[i], "setname") && more >= 1 {
            setname = Some(args[i + 1]);
            i += 2;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(args[i])
            )));
        }
    }
    if let Some((user, pass)) = auth {
        authenticate(ctx, args[0], user, pass)?;
    }
    if !ctx.client.authenticated {
        return Err(CmdError::Static(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(name) = setname {
        crate::commands::shared::client_attrs::validate_name(name)?;
        ctx.client.name = name.to_vec();
    }
    ctx.out.resp3 = proto == 3;
    ctx.client.handle.resp3.store(proto == 3, Relaxed);
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(ctx.client.handle.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    let _ = FERROKV_VERSION;
    Ok(())
}
