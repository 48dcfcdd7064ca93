//! From an argument vector to a reply: resolve, check, lock, run, account.

use smallvec::SmallVec;

use super::{registry, CmdError, Command, Ctx, LockScope};
use crate::server::Client;
use crate::server::Server;
use crate::storage::db::{lock_id, shard_of, LockId};
use crate::storage::{LockSet, SHARDS};
use resp::ReplyWriter;

/// Per command id: whether its lookups touch keys (computed once from the registry).
static TOUCHES: std::sync::LazyLock<Vec<bool>> = std::sync::LazyLock::new(|| {
    let reg = registry();
    (0..reg.len()).map(|id| reg.touches_keys(id)).collect()
});

/// Resolve `args` to a table entry (descending into subcommands), with Redis's error texts
/// for unknown commands, unknown subcommands and wrong arity. The error is raw bytes: it
/// quotes the client's bytes as they are, as Redis does.
#[inline]
pub fn resolve(args: &[&[u8]]) -> Result<(usize, &'static Command), Vec<u8>> {
    let reg = registry();
    let Some(&name) = args.first() else {
        return Err(b"ERR empty command".to_vec());
    };
    let Some((id, cmd)) = reg.lookup(name) else {
        return Err(unknown_command_error(args));
    };
    if cmd.subcommands.is_empty() {
        if !cmd.arity_ok(args.len()) {
            return Err(CmdError::WrongArity.message(cmd.name).as_bytes().to_vec());
        }
        return Ok((id, cmd));
    }
    let Some(&sub) = args.get(1) else {
        // A container that also runs alone (COMMAND with no subcommand).
        if cmd.arity_ok(1) {
            return Ok((id, cmd));
        }
        return Err(CmdError::WrongArity.message(cmd.name).as_bytes().to_vec());
    };
    let Some((sid, scmd)) = reg.lookup_sub(cmd.name, sub) else {
        let mut msg = b"ERR unknown subcommand '".to_vec();
        msg.extend_from_slice(truncate_c(sub, 128));
        msg.extend_from_slice(format!("'. Try {} HELP.", cmd.name.to_ascii_uppercase()).as_bytes());
        return Err(msg);
    };
    if !scmd.arity_ok(args.len()) {
        return Err(CmdError::WrongArity
            .message(reg.full_name(sid))
            .as_bytes()
            .to_vec());
    }
    Ok((sid, scmd))
}

/// The last command name a client sent, byte for byte as it spelled it, and the command it
/// named: a client repeating a command (a pipeline, a worker's loop) skips the table lookup.
/// Only plain commands are kept: what a container (CONFIG, COMMAND) runs depends on the
/// next argument.
#[derive(Clone, Copy, Default)]
pub struct LastResolved {
    name: [u8; 15],
    len: u8,
    found: Option<(usize, &'static Command)>,
}

impl LastResolved {
    /// The command `name` resolved to last time, if `name` is that same name.
    #[inline(always)]
    fn get(&self, name: &[u8]) -> Option<(usize, &'static Command)> {
        let found = self.found?;
        let same = name.len() == usize::from(self.len) && self.name.get(..name.len()) == Some(name);
        same.then_some(found)
    }

    /// Remember that `name` named command `id` (names longer than the buffer are not kept).
    fn remember(&mut self, name: &[u8], id: usize, cmd: &'static Command) {
        if let Some(dst) = self.name.get_mut(..name.len()) {
            dst.copy_from_slice(name);
            self.len = name.len() as u8;
            self.found = Some((id, cmd));
        }
    }
}

/// [`resolve`] through the client's [`LastResolved`]: the arity is checked either way.
#[inline(always)]
fn resolve_cached(
    last: &mut LastResolved,
    args: &[&[u8]],
) -> Result<(usize, &'static Command), Vec<u8>> {
    if let Some(&name) = args.first() {
        if let Some((id, cmd)) = last.get(name) {
            if cmd.arity_ok(args.len()) {
                return Ok((id, cmd));
            }
        }
    }
    let (id, cmd) = resolve(args)?;
    // A container resolves to one of its subcommands (`config|get`) or, alone, to itself
    // (COMMAND): either depends on the next argument, so only plain commands are kept.
    if cmd.subcommands.is_empty() && !registry().full_name(id).contains('|') {
        if let Some(&name) = args.first() {
            last.remember(name, id, cmd);
        }
    }
    Ok((id, cmd))
}

/// Bytes as C's `%.*s` prints them: up to `max` bytes, stopping at a NUL byte.
fn truncate_c(s: &[u8], max: usize) -> &[u8] {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len()).min(max);
    s.get(..end).unwrap_or_default()
}

fn unknown_command_error(args: &[&[u8]]) -> Vec<u8> {
    let mut listed = Vec::new();
    for a in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push(b'\'');
        listed.extend_from_slice(truncate_c(a, room));
        listed.extend_from_slice(b"' ");
    }
    let mut msg = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(truncate_c(args.first().copied().unwrap_or_default(), 128));
    msg.extend_from_slice(b"', with args beginning with: ");
    msg.extend_from_slice(&listed);
    msg
}

/// Commands that run immediately even inside MULTI (by full name: the subcommand
/// `latency|reset` is not RESET).
fn runs_inside_multi(id: usize) -> bool {
    matches!(
        registry().full_name(id),
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Commands a RESP2 client may send while it has Pub/Sub subscriptions (Redis 7.0's
/// `processCommand`; in RESP3 every command is allowed).
fn allowed_when_subscribed(id: usize) -> bool {
    matches!(
        registry().full_name(id),
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// What happened to a request.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Executed (or queued, or refused): its reply is in the output buffer.
    Done,
    /// CLIENT PAUSE holds it: nothing was done; the connection retries it later.
    Paused,
    /// A blocking command found no data: the client waits (timeout in ms, 0 = forever);
    /// its reply comes when the wait ends (see `server::blocking`).
    Blocked(std::sync::Arc<crate::server::blocking::Waiter>, u64),
}

/// Execute one request from a client, writing its reply to `out`.
pub fn execute(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    args: &[&[u8]],
) -> Outcome {
    let outcome = execute_request(server, client, out, args);
    if client.tracking.caching && client.multi.is_none() {
        // CLIENT CACHING applies to the next command (all of a transaction): Redis clears
        // it after any command but CLIENT's subcommands, outside MULTI.
        if !args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case(b"client"))
        {
            client.tracking.caching = false;
        }
    }
    outcome
}

/// [`execute`] without the CLIENT CACHING bookkeeping.
#[inline(always)]
fn execute_request(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    args: &[&[u8]],
) -> Outcome {
    let (id, cmd) = match resolve_cached(&mut client.last_resolved, args) {
        Ok(found) => found,
        Err(msg) => {
            count_rejected(server, args);
            if args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case(b"exec"))
            {
                // Redis: a refused EXEC (in MULTI or not) answers EXECABORT and ends any
                // transaction (execCommandAbort).
                abort_transaction(server, client, out, &msg);
                return Outcome::Done;
            }
            if client.multi.is_some() {
                client.multi_dirty = true;
            }
            reject_bytes(server, out, &msg);
            return Outcome::Done;
        }
    };
    if server.acl.auth_required() && !client.authenticated && !cmd.has(super::flags::NO_AUTH) {
        count_rejected_id(server, id);
        reject(server, out, "NOAUTH Authentication required.");
        return Outcome::Done;
    }
    // ACL: one atomic load for a user allowed everything (the default user as shipped).
    if !super::acl_check::unrestricted(server, client) {
        // A `no-multi` command inside MULTI gets that error first, as in Redis.
        let no_multi_error =
            client.multi.is_some() && cmd.has(super::flags::NO_MULTI) && !runs_inside_multi(id);
        let refused = if no_multi_error {
            None
        } else {
            super::acl_check::toplevel(server, client, id, cmd, args)
        };
        if let Some(msg) = refused {
            count_rejected_id(server, id);
            refuse_in_transaction(server, client, out, id, &msg);
            return Outcome::Done;
        }
    }
    if client.subs.total() > 0 && !out.resp3 && !allowed_when_subscribed(id) {
        count_rejected_id(server, id);
        let msg = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            registry().full_name(id)
        );
        reject(server, out, &msg);
        return Outcome::Done;
    }
    // Before queueing, as Redis's processCommand: a command refused while a script is
    // busy inside MULTI flags the transaction, and a refused EXEC aborts it.
    if busy(server, client, cmd) {
        count_rejected_id(server, id);
        refuse_in_transaction(server, client, out, id, server.scripts.busy_error());
        return Outcome::Done;
    }
    // The append-only file's replay is never refused (Redis's `mustObeyClient`).
    if server.config.maxmemory() != 0
        && !client.loading
        && !client.master
        && evict_before(server, client, out)
        && refused_for_memory(server, client, id, cmd, args)
    {
        count_rejected_id(server, id);
        refuse_in_transaction(server, client, out, id, OOM_ERROR);
        return Outcome::Done;
    }
    if crate::storage::expiry::replica_mode() && !client.master && !client.loading {
        let write = is_write_request(server, client, id, cmd, args);
        let stale_denied = denies_stale(client, id, cmd);
        if let Some(msg) = crate::replication::refused_on_replica(server, write, stale_denied) {
            count_rejected_id(server, id);
            refuse_in_transaction(server, client, out, id, msg);
            return Outcome::Done;
        }
    }
    if server.config.min_replicas_to_write() > 0
        && !client.master
        && !client.loading
        && is_write_request(server, client, id, cmd, args)
        && !crate::replication::enough_good_replicas(server)
    {
        count_rejected_id(server, id);
        refuse_in_transaction(server, client, out, id, crate::replication::NOREPLICAS);
        return Outcome::Done;
    }
    if client.multi.is_some() && !runs_inside_multi(id) {
        if cmd.has(super::flags::NO_MULTI) {
            client.multi_dirty = true;
            count_rejected_id(server, id);
            reject(server, out, "ERR Command not allowed inside a transaction");
            return Outcome::Done;
        }
        if let Some(queue) = client.multi.as_mut() {
            queue.push(args.iter().map(|a| a.to_vec()).collect());
        }
        out.simple("QUEUED");
        return Outcome::Done;
    }
    if server.is_loading() && !client.loading && !cmd.has(super::flags::LOADING) {
        count_rejected_id(server, id);
        reject(
            server,
            out,
            "LOADING Redis is loading the dataset in memory",
        );
        return Outcome::Done;
    }
    if server.is_paused_for(cmd, args) {
        return Outcome::Paused;
    }
    // The primary's stream is obeyed whatever our disk says (Redis's mustObeyClient).
    if let Some(msg) = disk_error(server, cmd).filter(|_| !client.master) {
        count_rejected_id(server, id);
        reject(server, out, &msg);
        return Outcome::Done;
    }
    run(server, client, out, id, cmd, args);
    match client.blocked.take() {
        Some((waiter, timeout_ms)) => Outcome::Blocked(waiter, timeout_ms),
        None => Outcome::Done,
    }
}

/// True when a script has run past `busy-reply-threshold` and `cmd` may not run meanwhile
/// (Redis answers -BUSY to everything without the `allow-busy` flag).
fn busy(server: &Server, client: &Client, cmd: &Command) -> bool {
    !cmd.has(super::flags::ALLOW_BUSY)
        && server
            .scripts
            .busy_for(client.handle.id, server.config.busy_threshold_ms())
}

/// Redis's MISCONF: while the AOF cannot be written, or the last BGSAVE failed with
/// `stop-writes-on-bgsave-error yes` and save points set, writes (and PING, as in Redis)
/// are refused; reads go on. They are accepted again once the disk works.
fn disk_error(server: &Server, cmd: &Command) -> Option<String> {
    // Two relaxed loads on the hot path; the rest only once something failed.
    if !server.aof.write_failed()
        && !server
            .saving
            .last_failed
            .load(std::sync::atomic::Ordering::Relaxed)
    {
        return None;
    }
    if !cmd.has(super::flags::WRITE) && cmd.name != "ping" {
        return None;
    }
    if server.aof.enabled() && server.aof.write_failed() {
        let why = server.aof.last_error.lock().clone();
        return Some(format!("MISCONF Errors writing to the AOF file: {}", why));
    }
    if crate::persistence::save::writes_refused(server) {
        return Some(
            "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to \
             persist to disk. Commands that may modify the data set are disabled, because this \
             instance is configured to report errors during writes if RDB snapshotting fails \
             (stop-writes-on-bgsave-error option). Please check the Redis logs for details \
             about the RDB error."
                .into(),
        );
    }
    None
}

/// Count a rejected call (INFO commandstats `rejected_calls`) for the entry `args` names,
/// when it names one (wrong arity of a known command or subcommand).
fn count_rejected(server: &Server, args: &[&[u8]]) {
    let reg = registry();
    let Some((id, cmd)) = args.first().and_then(|n| reg.lookup(n)) else {
        return;
    };
    let id = match args.get(1) {
        Some(sub) if !cmd.subcommands.is_empty() => match reg.lookup_sub(cmd.name, sub) {
            Some((sid, _)) => sid,
            None => return,
        },
        _ => id,
    };
    count_rejected_id(server, id);
}

/// Count a refused call of command `id` (INFO commandstats rejected_calls).
pub(crate) fn count_rejected_id(server: &Server, id: usize) {
    if let Some(s) = server.command_stats.local(id) {
        s.rejected_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Redis's `is_write_command` in `processCommand`: a write command, or EXEC with a write
/// command queued.
fn is_write_request(
    server: &Server,
    client: &Client,
    id: usize,
    cmd: &Command,
    args: &[&[u8]],
) -> bool {
    if cmd.has(super::flags::WRITE) {
        return true;
    }
    let name = registry().full_name(id);
    if crate::scripting::is_script_command(name) {
        return crate::scripting::script_declares_writes(server, name, args);
    }
    name == "exec"
        && client.multi.as_ref().is_some_and(|queue| {
            queue.iter().any(|argv| {
                let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
                resolve(&argv).is_ok_and(|(_, c)| c.has(super::flags::WRITE))
            })
        })
}

/// Redis's `is_denystale_command`: a command without the `stale` flag, or EXEC with such
/// a command queued.
fn denies_stale(client: &Client, id: usize, cmd: &Command) -> bool {
    if !cmd.has(super::flags::STALE) {
        return true;
    }
    registry().full_name(id) == "exec"
        && client.multi.as_ref().is_some_and(|queue| {
            queue.iter().any(|argv| {
                let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
                resolve(&argv).is_ok_and(|(_, c)| !c.has(super::flags::STALE))
            })
        })
}

/// Evict before a command while memory is over `maxmemory` (Redis's `performEvictions`
/// in `processCommand`, for every command); true when memory is still over the limit and
/// nothing more could be evicted. Invalidations of evicted keys this client tracks go
/// out before the command's reply.
#[cold]
#[inline(never)]
fn evict_before(server: &Server, client: &mut Client, out: &mut ReplyWriter) -> bool {
    use crate::server::evict::{over_limit, perform, Outcome};
    if !over_limit(server) {
        return false;
    }
    let buf = if client.replies_dropped() {
        &mut client.pushed
    } else {
        &mut out.buf
    };
    let mut own = crate::server::tracking::Own {
        id: client.handle.id,
        out: buf,
    };
    perform(server, Some(&mut own)) == Outcome::Fail
}

/// Redis's reply to a command refused because memory is over `maxmemory`.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Redis's `maxmemory` rule in `processCommand`: while memory is over the limit and
/// eviction failed (the caller checks), refuse
/// commands that may grow it (`denyoom`, scripts that declare writes without `allow-oom`,
/// an EXEC with such a command queued) and, inside MULTI, everything but EXEC, DISCARD,
/// QUIT and RESET (queueing itself takes memory).
fn refused_for_memory(
    server: &Server,
    client: &Client,
    id: usize,
    cmd: &Command,
    args: &[&[u8]],
) -> bool {
    let name = registry().full_name(id);
    let in_multi = client.multi.is_some();
    let denies = if name == "exec" {
        client.multi.as_ref().is_some_and(|queue| {
            queue.iter().any(|argv| {
                let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
                resolve(&argv).is_ok_and(|(qid, qcmd)| {
                    qcmd.has(super::flags::DENYOOM)
                        || crate::scripting::script_denies_oom(
                            server,
                            registry().full_name(qid),
                            &argv,
                        )
                })
            })
        })
    } else {
        cmd.has(super::flags::DENYOOM)
            || (in_multi && !matches!(name, "discard" | "quit" | "reset"))
            || crate::scripting::script_denies_oom(server, name, args)
    };
    denies
}

/// Refuse a command as Redis's `rejectCommand` does: EXEC aborts its transaction with the
/// reason; anything else inside MULTI marks the transaction so EXEC will abort.
fn refuse_in_transaction(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    id: usize,
    msg: &str,
) {
    if registry().full_name(id) == "exec" {
        abort_transaction(server, client, out, msg.as_bytes());
        return;
    }
    if client.multi.is_some() {
        client.multi_dirty = true;
    }
    reject(server, out, msg);
}

/// EXEC refused before running: discard any transaction and say why, as Redis's
/// `execCommandAbort` does.
fn abort_transaction(server: &Server, client: &mut Client, out: &mut ReplyWriter, msg: &[u8]) {
    client.multi = None;
    client.multi_dirty = false;
    super::shared::watch::unwatch_all(server, client);
    let reason = msg.strip_prefix(b"ERR ").unwrap_or(msg);
    let mut text = b"EXECABORT Transaction discarded because of: ".to_vec();
    text.extend_from_slice(reason);
    reject_bytes(server, out, &text);
}

/// Refuse a command before it runs.
pub fn reject(server: &Server, out: &mut ReplyWriter, msg: &str) {
    reject_bytes(server, out, msg.as_bytes());
}

/// [`reject`] with a text that may quote the client's raw bytes.
pub fn reject_bytes(server: &Server, out: &mut ReplyWriter, msg: &[u8]) {
    use std::sync::atomic::Ordering::Relaxed;
    server.stats.rejected_calls.fetch_add(1, Relaxed);
    server.record_error(&String::from_utf8_lossy(msg));
    out.error_bytes(msg);
}

/// Lock ids buffer: no heap allocation for commands with up to 8 keys.
pub type LockIds = SmallVec<[LockId; 8]>;

/// Collect the lock ids a command needs, given the client's database.
pub fn plan_locks(cmd: &Command, args: &[&[u8]], db: usize, db_count: usize, ids: &mut LockIds) {
    match cmd.lock {
        LockScope::Keys => {
            if cmd.keys_fn.is_some() {
                for pos in cmd.key_positions(args) {
                    if let Some(k) = args.get(pos) {
                        ids.push(lock_id(db, shard_of(k)));
                    }
                }
            } else if cmd.first_key > 0 && cmd.first_key == cmd.last_key {
                if let Some(k) = args.get(cmd.first_key as usize) {
                    ids.push(lock_id(db, shard_of(k)));
                }
            } else if cmd.first_key > 0 {
                let argc = args.len() as i32;
                let last = if cmd.last_key < 0 {
                    argc + cmd.last_key
                } else {
                    cmd.last_key
                };
                let step = cmd.step.max(1);
                let mut i = cmd.first_key;
                while i <= last && i < argc {
                    if let Some(k) = args.get(i as usize) {
                        ids.push(lock_id(db, shard_of(k)));
                    }
                    i += step;
                }
            }
        }
        LockScope::Db => ids.extend((0..SHARDS).map(|s| lock_id(db, s))),
        LockScope::All => ids.extend((0..db_count * SHARDS).map(|i| i as LockId)),
        LockScope::Custom(f) => f(args, db, db_count, ids),
    }
}

/// Take the shard locks a command needs, and tell the lock set which shard each key
/// argument is in (so handlers do not hash the keys again). The common one-key command
/// locks its shard directly: one slot computation, no id list. False when waiting was
/// aborted (see [`LockSet::lock_until`]).
fn lock_for_command<'s>(
    cmd: &Command,
    args: &[&[u8]],
    db: usize,
    locks: &mut LockSet<'s>,
    abort: &dyn Fn() -> bool,
) -> bool {
    let single_key = matches!(cmd.lock, LockScope::Keys)
        && cmd.keys_fn.is_none()
        && cmd.first_key > 0
        && cmd.first_key == cmd.last_key;
    if single_key {
        let Some(key) = args.get(cmd.first_key as usize) else {
            return true;
        };
        let shard = shard_of(key);
        locks.set_key_hint(key, shard);
        return locks.lock_one(lock_id(db, shard), abort);
    }
    let mut ids = LockIds::new();
    plan_locks(cmd, args, db, locks.db_count(), &mut ids);
    remember_key_shards(cmd, args, &ids, locks);
    locks.lock_until(&mut ids, abort)
}

/// Tell the lock set which shard each key argument is in (ids are in key order for key-spec
/// commands), so the handler's lookups do not hash the keys again.
fn remember_key_shards(cmd: &Command, args: &[&[u8]], ids: &[LockId], locks: &mut LockSet) {
    if !matches!(cmd.lock, LockScope::Keys) || cmd.keys_fn.is_some() || cmd.first_key <= 0 {
        return;
    }
    let step = cmd.step.max(1) as usize;
    let positions = (cmd.first_key as usize..args.len()).step_by(step);
    for (pos, id) in positions.zip(ids) {
        if let Some(key) = args.get(pos) {
            locks.set_key_hint(key, *id as usize % SHARDS);
        }
    }
}

/// True for commands that take the script mutex before their locks: the script commands
/// (a script may lock more shards as it goes), and the writes to the function libraries
/// (FUNCTION LOAD/DELETE/FLUSH/RESTORE lock no shard), so that a snapshot's start, which
/// holds the mutex (BGSAVE, the AOF rewrite), sees the libraries, the data and the log's
/// cut at one point. The ACL bit first: one test for every other command.
#[inline]
pub fn takes_script_mutex(cmd: &Command) -> bool {
    cmd.acl & super::acl::SCRIPTING != 0
        && (cmd.flags & super::flags::WRITE != 0 || crate::scripting::is_script_command(cmd.name))
}

/// Run a resolved command: lock, call the handler, account. Used by `execute` and EXEC.
#[inline(always)]
pub fn run(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    id: usize,
    cmd: &'static Command,
    args: &[&[u8]],
) {
    let start = client.command_start_ns();
    client.cmd_start_ns = start;
    // The ACL bit first: one test for every other command instead of name comparisons.
    let is_script =
        cmd.acl & super::acl::SCRIPTING != 0 && crate::scripting::is_script_command(cmd.name);
    // Waiting (for the script mutex or a shard a script holds) ends with -BUSY once the
    // running script passes the threshold.
    let abort = || busy(server, client, cmd);
    // A script takes the script mutex before any shard lock: the running script may wait
    // for shards while holding others, so nobody may wait for it while holding a shard.
    let script_guard = if is_script || takes_script_mutex(cmd) {
        match server.scripts.acquire(&abort) {
            Some(g) => Some(g),
            None => {
                reject(server, out, server.scripts.busy_error());
                return;
            }
        }
    } else {
        None
    };
    // The locks live in this block and are dropped in place at its end (a `drop(locks)`
    // moved the whole LockSet first: a ~450-byte copy per request).
    let result = {
        let mut locks = LockSet::new(&server.dbs);
        locks.notify = server.config.notify_flags();
        let reply_start = out.buf.len();
        if !lock_for_command(cmd, args, client.db, &mut locks, &abort) {
            reject(server, out, server.scripts.busy_error());
            return;
        }
        // Read after locking: a reader that registered a key under one of these shard locks
        // made it true before releasing the lock, so this write sees it.
        if server.tracking.active() {
            locks.tracking = Some(Box::new(crate::storage::db::Tracked {
                server,
                client: client.handle.id,
                deferred: Vec::new(),
            }));
        }
        if is_script && server.has_monitors() {
            // Redis shows a script call to MONITOR before the commands it runs (which show
            // as coming from `lua`), although EVAL is otherwise skip_monitor.
            server.feed_monitors(client, args);
        }
        locks.top_args = (args.as_ptr() as usize, args.len());
        let result = call_handler(server, client, out, &mut locks, id, cmd, args);
        let mut transaction = cmd.name == "exec" || is_script || locks.atomic_log;
        if locks.has_ready() {
            // The command's own effects are propagated first, then what serving blocked
            // clients did (Redis serves them after the command, as its own step).
            propagate_effects(server, client, &mut locks, transaction, args);
            locks.atomic_log = false;
            // Clients blocked on keys this command created are served before anyone else
            // can see the keys.
            // Served at the current time, not the command's start (Redis serves blocked clients
            // after the command returns, with the real clock): a key that expired during a
            // long EXEC serves nobody.
            super::unblock::serve_ready(server, &mut locks, crate::util::now_ms());
            transaction = locks.atomic_log;
        }
        if locks.has_events() {
            publish_events(server, client, out, &mut locks, reply_start);
        }
        if locks.tracking.is_some() {
            finish_tracking(server, client, out, &mut locks);
        }
        propagate_effects(server, client, &mut locks, transaction, args);
        result
    };
    drop(script_guard);
    finish(server, client, id, cmd, args, start, !result);
}

/// Propagate (append-only file, replicas) what the command queued, while the locks are
/// held: writes to the same keys reach the log and the stream in the order they took
/// effect. (Commands replayed from the log, at start-up or by DEBUG LOADAOF, are not
/// logged again.) A transaction's or a script's effects are one MULTI/EXEC block.
#[inline]
fn propagate_effects(
    server: &Server,
    client: &mut Client,
    locks: &mut LockSet<'_>,
    transaction: bool,
    args: &[&[u8]],
) {
    // A read (nothing queued): no call.
    if locks.propagate_top.is_none() && locks.propagated().is_empty() {
        return;
    }
    propagate_queued(server, client, locks, transaction, args);
}

/// [`propagate_effects`] when something is queued.
fn propagate_queued(
    server: &Server,
    client: &mut Client,
    locks: &mut LockSet<'_>,
    transaction: bool,
    args: &[&[u8]],
) {
    let top = locks.propagate_top.take();
    if client.loading {
        return;
    }
    if let Some(db) = top {
        if locks.propagated().is_empty() && !transaction {
            // The common case: one command logged as itself, encoded from its arguments.
            let epoch = locks.epoch();
            let end = crate::replication::propagate_args(server, db, args, client.master, epoch);
            if end > 0 {
                client.repl_woff = end;
            }
            return;
        }
        // Effects of others follow (or one MULTI/EXEC block holds them all): in order.
        let own = (db, args.iter().map(|a| a.to_vec()).collect());
        locks.propagated_mut().insert(0, own);
    }
    if locks.propagated().is_empty() {
        return;
    }
    let cmds = locks.take_propagated();
    let end =
        crate::replication::propagate(server, &cmds, transaction, client.master, locks.epoch());
    if end > 0 {
        client.repl_woff = end;
    }
}

/// After a command while somebody tracks keys: the invalidations the command caused for
/// its own client go out after its reply (Redis 7.0.15's pending invalidations), then
/// what Redis does before sleeping (BCAST batches, the tracking table's size limit).
#[cold]
#[inline(never)]
fn finish_tracking(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    locks: &mut LockSet<'_>,
) {
    let deferred = locks
        .tracking
        .as_deref_mut()
        .map(|t| std::mem::take(&mut t.deferred))
        .unwrap_or_default();
    // With CLIENT REPLY OFF/SKIP the reply is dropped, but pushes are not.
    let buf = if client.replies_dropped() {
        &mut client.pushed
    } else {
        &mut out.buf
    };
    let mut own = crate::server::tracking::Own {
        id: client.handle.id,
        out: buf,
    };
    if !deferred.is_empty() {
        server.tracking.send_deferred(server, &mut own, &deferred);
    }
    server.tracking.after_command(server, Some(&mut own));
}

/// Remember the keys a tracking client read (Redis's `trackingRememberKeys`, called for
/// read-only commands; inside a script, a read-only command makes the script's declared
/// keys remembered when it ends). Runs under the command's shard locks, so a write to
/// these keys on another thread either came before the read or sees them tracked.
#[cold]
#[inline(never)]
fn track_reads(ctx: &mut Ctx<'_, '_>, cmd: &Command, name: &str, args: &[&[u8]]) {
    if !ctx.client.tracking.remembers_reads() {
        return;
    }
    if crate::scripting::is_script_command(name) {
        if !std::mem::take(&mut ctx.client.tracking_script_read) {
            return;
        }
    } else if !cmd.has(super::flags::READONLY) {
        return;
    } else if ctx.client.in_script {
        ctx.client.tracking_script_read = true;
        return;
    }
    let keys: SmallVec<[&[u8]; 8]> = cmd
        .key_positions(args)
        .into_iter()
        .filter_map(|p| args.get(p).copied())
        .collect();
    if !keys.is_empty() {
        ctx.server.tracking.remember(ctx.client.handle.id, &keys);
    }
}

/// Publish the keyspace events the command recorded, while its locks are still held (so
/// each key's events go out in the order its changes happened). A RESP3 client subscribed
/// to its own events gets them before the command's reply, as Redis 7.0 writes them
/// during the command.
fn publish_events(
    server: &Server,
    client: &Client,
    out: &mut ReplyWriter,
    locks: &mut LockSet<'_>,
    reply_start: usize,
) {
    let events = locks.take_events();
    let mut own = ReplyWriter::new();
    own.resp3 = out.resp3;
    crate::server::notify::publish(server, locks.notify, &events, client.handle.id, &mut own);
    if !own.buf.is_empty() {
        let at = reply_start.min(out.buf.len());
        out.buf.splice(at..at, own.buf);
    }
}

/// Whether a command's key misses raise `keymiss`: Redis raises it in `lookupKeyRead`,
/// which read commands use (but not the introspection ones, with LOOKUP_NONOTIFY) and so do
/// the write commands that read a source before writing (their destination lookups use
/// `DbView::exists_for_write`, which stays quiet).
fn raises_keymiss(cmd: &Command, name: &str) -> bool {
    if cmd.has(super::flags::WRITE) {
        return matches!(
            name,
            "sinterstore"
                | "sunionstore"
                | "sdiffstore"
                | "zunionstore"
                | "zinterstore"
                | "zdiffstore"
                | "zrangestore"
                | "copy"
                | "sort"
                | "bitop"
                | "getdel"
                | "getex"
                | "getset"
                | "xack"
                | "xclaim"
                | "xautoclaim"
                | "xreadgroup"
        );
    }
    !(name.starts_with("object|") || name == "memory|usage" || name == "debug")
}

/// Call a handler with already-held locks and write its error, if any. Returns whether the
/// command succeeded.
#[inline(always)]
pub fn call_handler<'s>(
    server: &'s Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    locks: &mut LockSet<'s>,
    id: usize,
    cmd: &'static Command,
    args: &[&[u8]],
) -> bool {
    let name: &'static str = registry().full_name(id);
    let now = client.command_time_ms();
    // A CLIENT NO-TOUCH client touches keys only with TOUCH.
    let touch = TOUCHES.get(id).copied().unwrap_or(true) && (!client.no_touch || name == "touch");
    let db = client.db;
    if locks.notify != 0 {
        // Per command (EXEC runs several): see `raises_keymiss`.
        locks.notify_miss =
            locks.notify & crate::server::notify::class::KEY_MISS != 0 && raises_keymiss(cmd, name);
    }
    let mut ctx = Ctx {
        server,
        client,
        out,
        locks,
        now,
        name,
        touch,
    };
    let result = (cmd.handler)(&mut ctx, args);
    if ctx.locks.tracking.is_some() && ctx.client.tracking.on {
        track_reads(&mut ctx, cmd, name, args);
    }
    if crate::replication::propagating(server) {
        collect_propagation(ctx.locks, db, args);
    } else {
        ctx.locks.changes = 0;
        // Assigned only when set: dropping the old `None` in place cost ~20 instructions.
        if ctx.locks.rewrite.is_some() {
            ctx.locks.rewrite = None;
        }
    }
    match result {
        Ok(()) => true,
        Err(CmdError::Replied) => false,
        Err(e) => {
            let msg = e.message(name);
            server.record_error(&msg);
            ctx.out.error(&msg);
            false
        }
    }
}

/// After one command (top-level or inside EXEC): if it changed the dataset, queue what the
/// append-only file must get: its deterministic form if the handler gave one, else its own
/// arguments (as Redis propagates a command whose `dirty` count moved).
fn collect_propagation(locks: &mut LockSet<'_>, db: usize, args: &[&[u8]]) {
    let rewrite = locks.rewrite.take();
    if std::mem::take(&mut locks.changes) == 0 {
        return;
    }
    match rewrite {
        Some(cmds) => locks.propagated_mut().extend(cmds),
        // The top-level command itself (not one of EXEC's or a script's, whose argument
        // vectors are others), first to be logged: no copy, `propagate_effects` encodes
        // it from its arguments.
        None if locks.propagated().is_empty()
            && locks.propagate_top.is_none()
            && locks.top_args == (args.as_ptr() as usize, args.len()) =>
        {
            locks.propagate_top = Some(db);
        }
        None => locks
            .propagated_mut()
            .push((db, args.iter().map(|a| a.to_vec()).collect())),
    }
}

/// After a command ran: statistics, slow log, latency monitor, MONITOR feed.
#[inline(always)]
pub fn finish(
    server: &Server,
    client: &mut Client,
    id: usize,
    cmd: &'static Command,
    args: &[&[u8]],
    start_ns: u64,
    failed: bool,
) {
    let end = crate::util::mono_ns();
    // The next command of this batch starts where this one ended.
    client.clock_hint_ns = end;
    let ns = end.saturating_sub(start_ns);
    let micros = ns / 1000;
    server.record_call(id, ns, failed);
    client.last_cmd = id;
    client.note_command(cmd);
    if !cmd.has(super::flags::SKIP_SLOWLOG) {
        server.maybe_slowlog(client, args, micros);
    }
    // Like Redis, administrative commands are not shown to monitors.
    if server.has_monitors() && !cmd.has(super::flags::SKIP_MONITOR | super::flags::ADMIN) {
        server.feed_monitors(client, &redact_secrets(args));
    }
}

/// What MONITOR and SLOWLOG show of a command: passwords replaced by `(redacted)`, as
/// Redis 7.0 does for AUTH (every argument), ACL SETUSER (all but the subcommand), HELLO's
/// `AUTH username password` and
/// MIGRATE's `AUTH password` / `AUTH2 username password`.
pub fn redact_secrets<'s, 'a>(args: &'s [&'a [u8]]) -> std::borrow::Cow<'s, [&'a [u8]]> {
    const REDACTED: &[u8] = b"(redacted)";
    let Some(name) = args.first() else {
        return args.into();
    };
    let secret: Box<dyn Fn(usize) -> bool> = if name.eq_ignore_ascii_case(b"auth") {
        Box::new(|i| i >= 1)
    } else if name.eq_ignore_ascii_case(b"hello") {
        let at = args.iter().position(|a| a.eq_ignore_ascii_case(b"auth"));
        Box::new(move |i| at.is_some_and(|p| i == p + 1 || i == p + 2))
    } else if name.eq_ignore_ascii_case(b"acl")
        && args
            .get(1)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"setuser"))
    {
        // Redis hides every SETUSER argument from the user name on.
        Box::new(|i| i >= 2)
    } else if name.eq_ignore_ascii_case(b"migrate") {
        let auth = args.iter().position(|a| a.eq_ignore_ascii_case(b"auth"));
        let auth2 = args.iter().position(|a| a.eq_ignore_ascii_case(b"auth2"));
        Box::new(move |i| {
            auth.is_some_and(|p| i == p + 1) || auth2.is_some_and(|p| i == p + 1 || i == p + 2)
        })
    } else {
        return args.into();
    };
    args.iter()
        .enumerate()
        .map(|(i, a)| if secret(i) { REDACTED } else { *a })
        .collect::<Vec<_>>()
        .into()
}
