//! The ACL command: users (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI), categories
//! (CAT), GENPASS, DRYRUN, the log, and the ACL file (SAVE, LOAD). The users and the check
//! live in `server/acl`.

use std::sync::Arc;

use crate::commands::shared::help::help_reply;
use crate::commands::{acl, flags, registry, CmdError, CmdResult, Command, Ctx};
use crate::server::acl::{Acl, User};
use crate::server::Server;

const ADMIN: u32 = flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE;
const PLAIN: u32 = flags::NOSCRIPT | flags::LOADING | flags::STALE;

/// The ACL family's table.
pub static COMMANDS: &[Command] = &[Command::container("acl", -2, 0).subcommands(&[
    Command::new("cat", -2, PLAIN, acl_cat),
    Command::new("deluser", -3, ADMIN, acl_deluser),
    Command::new("dryrun", -4, ADMIN, acl_dryrun),
    Command::new("genpass", -2, PLAIN, acl_genpass),
    Command::new("getuser", 3, ADMIN, acl_getuser),
    Command::new("help", 2, flags::LOADING | flags::STALE, acl_help),
    Command::new("list", 2, ADMIN, acl_list),
    Command::new("load", 2, ADMIN, acl_load),
    Command::new("log", -2, ADMIN, acl_log),
    Command::new("save", 2, ADMIN, acl_save),
    Command::new("setuser", -3, ADMIN, acl_setuser),
    Command::new("users", 2, ADMIN, acl_users),
    Command::new("whoami", 2, PLAIN, acl_whoami),
])];

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// Redis's text for a subcommand given too many arguments (quoting it as sent).
fn wrong_args(args: &[&[u8]]) -> CmdError {
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        String::from_utf8_lossy(args[1])
    ))
}

fn pubsub_default_all(server: &Server) -> bool {
    server.config.get("acl-pubsub-default") == "allchannels"
}

fn acl_setuser(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let name = args[2];
    if name.iter().any(|&b| b == b' ' || b == 0) {
        return Err(CmdError::Static(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    let all = pubsub_default_all(ctx.server);
    let user = ctx
        .server
        .acl
        .set_user(name, &args[3..], all)
        .map_err(CmdError::Msg)?;
    if kill_unsubscribable(ctx.server, &user, ctx.client.handle.id) {
        ctx.client.close_after_reply = true;
    }
    ctx.out.ok();
    Ok(())
}

/// Whether client handle `h` is authenticated as `user`.
fn is_user_of(server: &Server, h: &crate::server::ClientHandle, user: &Arc<User>) -> bool {
    match &*h.user.lock() {
        Some(u) => Arc::ptr_eq(u, user),
        None => Arc::ptr_eq(&server.acl.default, user),
    }
}

/// Redis's `ACLKillPubsubClientsIfNeeded`: subscribers of `user` whose channels or
/// patterns are no longer allowed are disconnected. Returns whether client `me` (closed
/// after its reply) is one of them.
fn kill_unsubscribable(server: &Server, user: &Arc<User>, me: u64) -> bool {
    let clients: Vec<_> = server.clients.lock().values().cloned().collect();
    let mut mine = false;
    for h in clients {
        if !is_user_of(server, &h, user) {
            continue;
        }
        let subs = server.pubsub.subscriptions_of(h.id);
        if !subs.is_empty() && !Acl::subscriptions_allowed(user, &subs) {
            if h.id == me {
                mine = true;
            } else {
                kill_client(server, &h);
            }
        }
    }
    mine
}

/// Close another client (it leaves the client list at once, as Redis frees it).
fn kill_client(server: &Server, h: &crate::server::ClientHandle) {
    if !h.is_killed() {
        h.kill();
        server.unregister_client(h.id);
    }
}

/// Disconnect every client authenticated as one of `users`, except `me` (the caller
/// closes after its reply).
fn kill_clients_of(server: &Server, users: &[Arc<User>], me: u64) {
    if users.is_empty() {
        return;
    }
    let clients: Vec<_> = server.clients.lock().values().cloned().collect();
    for h in clients {
        if h.id != me && users.iter().any(|u| is_user_of(server, &h, u)) {
            kill_client(server, &h);
        }
    }
}

fn acl_deluser(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args[2..].iter().any(|n| *n == b"default") {
        return Err(CmdError::Static("ERR The 'default' user cannot be removed"));
    }
    let removed = ctx.server.acl.delete(&args[2..]);
    let mine = ctx
        .client
        .user
        .as_ref()
        .is_some_and(|u| removed.iter().any(|r| Arc::ptr_eq(r, u)));
    kill_clients_of(ctx.server, &removed, ctx.client.handle.id);
    if mine {
        // Redis frees the calling client after the reply.
        ctx.client.close_after_reply = true;
    }
    ctx.out.int(removed.len() as i64);
    Ok(())
}

fn acl_getuser(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some(user) = ctx.server.acl.user(args[2]) else {
        ctx.out.null();
        return Ok(());
    };
    let st = user.state();
    let out = &mut *ctx.out;
    out.map(6);
    out.bulk(b"flags");
    let flags = st.flags();
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(st.passwords.len());
    for p in &st.passwords {
        out.bulk(p.as_bytes());
    }
    describe_selector(out, &st.root);
    out.bulk(b"selectors");
    out.array(st.selectors.len());
    for s in &st.selectors {
        out.map(3);
        describe_selector(out, s);
    }
    Ok(())
}

fn describe_selector(out: &mut resp::ReplyWriter, s: &crate::server::acl::Selector) {
    out.bulk(b"commands");
    out.bulk(s.describe_commands().as_bytes());
    out.bulk(b"keys");
    out.bulk(s.describe_keys().as_bytes());
    out.bulk(b"channels");
    out.bulk(s.describe_channels().as_bytes());
}

fn acl_list(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let lines = ctx.server.acl.list();
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.bulk(l.as_bytes());
    }
    Ok(())
}

fn acl_users(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let names = ctx.server.acl.user_names();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(&n);
    }
    Ok(())
}

fn acl_whoami(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let name = match &ctx.client.user {
        Some(u) => u.name.clone(),
        None => b"default".to_vec(),
    };
    ctx.out.bulk(&name);
    Ok(())
}

fn acl_cat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(wrong_args(args));
    }
    let Some(cat) = args.get(2) else {
        ctx.out.array(acl::NAMES.len());
        for (_, n) in acl::NAMES {
            ctx.out.bulk(n.as_bytes());
        }
        return Ok(());
    };
    let Some(flag) = crate::server::acl::selector::category_flag(cat) else {
        return Err(CmdError::msg(format!(
            "ERR Unknown category '{}'",
            String::from_utf8_lossy(cat)
        )));
    };
    let reg = registry();
    let names: Vec<&str> = (0..reg.len())
        .filter(|&id| {
            reg.entries
                .get(id)
                .is_some_and(|(_, c)| c.acl_categories() & flag != 0)
        })
        .map(|id| reg.full_name(id))
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

fn acl_genpass(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(wrong_args(args));
    }
    let bits = match args.get(2) {
        None => 256,
        Some(a) => match crate::commands::arg_i64(a)? {
            n if (1..=4096).contains(&n) => n as usize,
            _ => {
                return Err(CmdError::Static("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"))
            }
        },
    };
    use rand::RngCore;
    let chars = bits.div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut hex: String = bytes.iter().map(|b| format!("{:02x}", b)).collect();
    hex.truncate(chars);
    ctx.out.bulk(hex.as_bytes());
    Ok(())
}

fn acl_dryrun(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some(user) = ctx.server.acl.user(args[2]) else {
        return Err(CmdError::msg(format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(args[2])
        )));
    };
    let target = &args[3..];
    let (id, cmd) = lookup_for_dryrun(target).ok_or_else(|| {
        CmdError::msg(format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(target[0])
        ))
    })?;
    if !cmd.arity_ok(target.len()) {
        return Err(CmdError::msg(format!(
            "ERR wrong number of arguments for '{}' command",
            registry().full_name(id)
        )));
    }
    match crate::commands::acl_check::dryrun_text(&user, id, cmd, target) {
        None => ctx.out.ok(),
        Some(msg) => ctx.out.bulk(msg.as_bytes()),
    }
    Ok(())
}

/// Redis's `lookupCommand` on an argument vector: a container's subcommand when there is
/// one, the container alone otherwise.
fn lookup_for_dryrun(argv: &[&[u8]]) -> Option<(usize, &'static Command)> {
    let reg = registry();
    let (id, cmd) = reg.lookup(argv.first()?)?;
    if cmd.subcommands.is_empty() || argv.len() < 2 {
        return Some((id, cmd));
    }
    reg.lookup_sub(cmd.name, argv.get(1)?)
}

fn acl_log(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(wrong_args(args));
    }
    let mut count: i64 = 10;
    if let Some(a) = args.get(2) {
        if a.eq_ignore_ascii_case(b"reset") {
            ctx.server.acl.log_reset();
            ctx.out.ok();
            return Ok(());
        }
        count = crate::commands::arg_i64(a)?;
    }
    let entries = ctx
        .server
        .acl
        .log_entries(usize::try_from(count).unwrap_or(0));
    let now = crate::util::now_ms();
    let out = &mut *ctx.out;
    out.array(entries.len());
    for e in entries {
        let (reason, context, age) = e.fields(now);
        out.map(7);
        out.bulk(b"count");
        out.int(e.count as i64);
        out.bulk(b"reason");
        out.bulk(reason.as_bytes());
        out.bulk(b"context");
        out.bulk(context.as_bytes());
        out.bulk(b"object");
        out.bulk(&e.object);
        out.bulk(b"username");
        out.bulk(&e.username);
        out.bulk(b"age-seconds");
        out.double(age);
        out.bulk(b"client-info");
        out.bulk(e.client_info.as_bytes());
    }
    Ok(())
}

fn acl_save(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let path = ctx.server.config.get("aclfile");
    if path.is_empty() {
        return Err(CmdError::Static(NO_ACL_FILE));
    }
    crate::server::acl::save_file(ctx.server, &path).map_err(|e| {
        CmdError::msg(format!(
            "ERR There was an error trying to save the ACLs. Please check the server logs for more information ({})",
            e
        ))
    })?;
    ctx.out.ok();
    Ok(())
}

fn acl_load(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let path = ctx.server.config.get("aclfile");
    if path.is_empty() {
        return Err(CmdError::Static(NO_ACL_FILE));
    }
    let dropped = crate::server::acl::load_file(ctx.server, &path)
        .map_err(|e| CmdError::msg(format!("ERR {}", e)))?;
    let mine = ctx
        .client
        .user
        .as_ref()
        .is_some_and(|u| dropped.iter().any(|r| Arc::ptr_eq(r, u)));
    kill_clients_of(ctx.server, &dropped, ctx.client.handle.id);
    if mine {
        ctx.client.close_after_reply = true;
    }
    ctx.out.ok();
    Ok(())
}

fn acl_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(())
}
