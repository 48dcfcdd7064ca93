//! The ACL check before a command runs (top level, inside EXEC, from a script) with Redis
//! 7.0.15's error texts, and the ACL log entries it leaves.

use super::{registry, Command};
use crate::server::acl::{Denied, LogContext, LogEntry, LogReason, User};
use crate::server::{Client, Server};

/// The user a client runs as.
#[inline(always)]
pub fn user_of<'a>(server: &'a Server, client: &'a Client) -> &'a User {
    client.user.as_deref().unwrap_or(&server.acl.default)
}

/// True when the client's user may run anything (no check needed).
#[inline(always)]
pub fn unrestricted(server: &Server, client: &Client) -> bool {
    user_of(server, client).unrestricted()
}

/// The check `processCommand` does: `None` when allowed; else the entry is logged and the
/// NOPERM text returned.
#[cold]
#[inline(never)]
pub fn toplevel(
    server: &Server,
    client: &Client,
    id: usize,
    cmd: &Command,
    args: &[&[u8]],
) -> Option<String> {
    let context = if client.multi.is_some() {
        LogContext::Multi
    } else {
        LogContext::Toplevel
    };
    let denied = refusal(server, client, id, cmd, args, context, None)?;
    Some(match denied {
        Denied::Command => format!(
            "NOPERM this user has no permissions to run the '{}' command",
            registry().full_name(id)
        ),
        Denied::Key(_) => {
            "NOPERM this user has no permissions to access one of the keys used as arguments".into()
        }
        Denied::Channel(_) => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
    })
}

/// EXEC's check of each queued command (the rules may have changed since it was queued).
pub fn in_exec(
    server: &Server,
    client: &Client,
    id: usize,
    cmd: &Command,
    args: &[&[u8]],
) -> Option<String> {
    if unrestricted(server, client) {
        return None;
    }
    let denied = refusal(server, client, id, cmd, args, LogContext::Multi, None)?;
    let reason = match denied {
        Denied::Command => "no permission to execute the command or subcommand",
        Denied::Key(_) => "no permission to touch the specified keys",
        Denied::Channel(_) => "no permission to access one of the channels used as arguments",
    };
    Some(format!(
        "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}",
        reason
    ))
}

/// The check of `redis.call` / `redis.pcall` (Redis 7.0.15's `scriptVerifyACL` texts).
pub fn in_script(
    server: &Server,
    client: &Client,
    caller_cmd: &str,
    id: usize,
    cmd: &Command,
    args: &[&[u8]],
) -> Option<String> {
    if unrestricted(server, client) {
        return None;
    }
    let denied = refusal(
        server,
        client,
        id,
        cmd,
        args,
        LogContext::Lua,
        Some(caller_cmd),
    )?;
    Some(
        match denied {
            Denied::Command => {
                "ERR The user executing the script can't run this command or subcommand"
            }
            Denied::Key(_) => "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
            Denied::Channel(_) => {
                "ERR The user executing the script can't publish to the channel mentioned in the command"
            }
        }
        .into(),
    )
}

/// ACL DRYRUN's answer for a refusal (Redis's verbose texts).
pub fn dryrun_text(user: &User, id: usize, cmd: &Command, args: &[&[u8]]) -> Option<String> {
    let denied = user.check(id, cmd, args).err()?;
    let arg =
        |i: usize| String::from_utf8_lossy(args.get(i).copied().unwrap_or_default()).into_owned();
    Some(match denied {
        Denied::Command => format!(
            "This user has no permissions to run the '{}' command",
            registry().full_name(id)
        ),
        Denied::Key(i) => format!(
            "This user has no permissions to access the '{}' key",
            arg(i)
        ),
        Denied::Channel(i) => format!(
            "This user has no permissions to access the '{}' channel",
            arg(i)
        ),
    })
}

/// The user's refusal of a command, if any, logged in ACL LOG in `context` as run by
/// `caller` (a script's EVAL/FCALL; None: the command itself).
fn refusal(
    server: &Server,
    client: &Client,
    id: usize,
    cmd: &Command,
    args: &[&[u8]],
    context: LogContext,
    caller: Option<&str>,
) -> Option<Denied> {
    let denied = user_of(server, client).check(id, cmd, args).err()?;
    let caller = caller.unwrap_or_else(|| registry().full_name(id));
    log_denied_as(server, client, denied, context, id, args, caller);
    Some(denied)
}

fn log_denied_as(
    server: &Server,
    client: &Client,
    denied: Denied,
    context: LogContext,
    id: usize,
    args: &[&[u8]],
    shown_cmd: &str,
) {
    let (reason, object) = match denied {
        Denied::Command => (
            LogReason::Command,
            registry().full_name(id).as_bytes().to_vec(),
        ),
        Denied::Key(i) => (
            LogReason::Key,
            args.get(i).copied().unwrap_or_default().to_vec(),
        ),
        Denied::Channel(i) => (
            LogReason::Channel,
            args.get(i).copied().unwrap_or_default().to_vec(),
        ),
    };
    let user = user_of(server, client).name.clone();
    add(server, client, reason, context, object, user, shown_cmd);
}

/// Log a failed authentication (`object` is the command as sent: `auth` / `hello`).
pub fn log_auth(server: &Server, client: &Client, object: &[u8], username: &[u8]) {
    let context = if client.multi.is_some() {
        LogContext::Multi
    } else {
        LogContext::Toplevel
    };
    let cmd = String::from_utf8_lossy(object).to_ascii_lowercase();
    add(
        server,
        client,
        LogReason::Auth,
        context,
        object.to_vec(),
        username.to_vec(),
        &cmd,
    );
}

fn add(
    server: &Server,
    client: &Client,
    reason: LogReason,
    context: LogContext,
    object: Vec<u8>,
    username: Vec<u8>,
    cmd: &str,
) {
    let resp3 = client
        .handle
        .resp3
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut info = super::shared::client_line::own_line(client, cmd, resp3);
    if info.ends_with('\n') {
        info.pop();
    }
    let max = usize::try_from(
        server
            .config
            .get("acllog-max-len")
            .parse::<i64>()
            .unwrap_or(128),
    )
    .unwrap_or(0);
    server.acl.log(
        LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            ctime_ms: crate::util::now_ms(),
            client_info: info,
        },
        max,
    );
}
