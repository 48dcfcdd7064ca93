//! The command table's types: one [`Command`] per command, declared beside its handler in
//! its family's file. Dispatch, arity checks, COMMAND, key locking (and later ACL and
//! cluster routing) all read these entries; the documentation half of each command lives
//! in generated data (`meta.rs`, `meta/*.json`).

use super::{CmdResult, Ctx};

/// A command handler: the context and the arguments (`args[0]` is the command name).
pub type Handler = fn(&mut Ctx<'_, '_>, &[&[u8]]) -> CmdResult;

/// Finds the key positions of a command whose keys move (e.g. `numkeys` arguments).
pub type KeysFn = fn(&[&[u8]]) -> Vec<usize>;

/// Command flags, as COMMAND INFO reports them.
pub mod flags {
    /// May modify the dataset.
    pub const WRITE: u32 = 1 << 0;
    /// Only reads.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory.
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 3;
    /// Pub/Sub related.
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed in scripts.
    pub const NOSCRIPT: u32 = 1 << 5;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 6;
    /// Allowed while loading the dataset.
    pub const LOADING: u32 = 1 << 7;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 8;
    /// Not shown to MONITOR.
    pub const SKIP_MONITOR: u32 = 1 << 9;
    /// Not logged in SLOWLOG.
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    /// O(1) or O(log n).
    pub const FAST: u32 = 1 << 11;
    /// Allowed before AUTH.
    pub const NO_AUTH: u32 = 1 << 12;
    /// May replicate even as read-only.
    pub const MAY_REPLICATE: u32 = 1 << 13;
    /// Not allowed inside MULTI.
    pub const NO_MULTI: u32 = 1 << 14;
    /// Allowed while a script is busy.
    pub const ALLOW_BUSY: u32 = 1 << 15;
    /// Keys are optional.
    pub const NO_MANDATORY_KEYS: u32 = 1 << 16;
    /// Works in sentinel mode.
    pub const SENTINEL: u32 = 1 << 17;
    /// Refused while a replica loads its data asynchronously.
    pub const NO_ASYNC_LOADING: u32 = 1 << 18;

    /// Names in COMMAND INFO order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (SENTINEL, "sentinel"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories. Categories that follow from flags (@write, @read, @fast, @slow, @admin,
/// @dangerous, @blocking, @pubsub) are derived, so entries list only the others.
pub mod acl {
    /// @keyspace
    pub const KEYSPACE: u32 = 1 << 0;
    /// @read
    pub const READ: u32 = 1 << 1;
    /// @write
    pub const WRITE: u32 = 1 << 2;
    /// @set
    pub const SET: u32 = 1 << 3;
    /// @sortedset
    pub const SORTEDSET: u32 = 1 << 4;
    /// @list
    pub const LIST: u32 = 1 << 5;
    /// @hash
    pub const HASH: u32 = 1 << 6;
    /// @string
    pub const STRING: u32 = 1 << 7;
    /// @bitmap
    pub const BITMAP: u32 = 1 << 8;
    /// @hyperloglog
    pub const HYPERLOGLOG: u32 = 1 << 9;
    /// @geo
    pub const GEO: u32 = 1 << 10;
    /// @stream
    pub const STREAM: u32 = 1 << 11;
    /// @pubsub
    pub const PUBSUB: u32 = 1 << 12;
    /// @admin
    pub const ADMIN: u32 = 1 << 13;
    /// @fast
    pub const FAST: u32 = 1 << 14;
    /// @slow
    pub const SLOW: u32 = 1 << 15;
    /// @blocking
    pub const BLOCKING: u32 = 1 << 16;
    /// @dangerous
    pub const DANGEROUS: u32 = 1 << 17;
    /// @connection
    pub const CONNECTION: u32 = 1 << 18;
    /// @transaction
    pub const TRANSACTION: u32 = 1 << 19;
    /// @scripting
    pub const SCRIPTING: u32 = 1 << 20;

    /// Names in Redis's order.
    pub const NAMES: &[(u32, &str)] = &[
        (KEYSPACE, "keyspace"),
        (READ, "read"),
        (WRITE, "write"),
        (SET, "set"),
        (SORTEDSET, "sortedset"),
        (LIST, "list"),
        (HASH, "hash"),
        (STRING, "string"),
        (BITMAP, "bitmap"),
        (HYPERLOGLOG, "hyperloglog"),
        (GEO, "geo"),
        (STREAM, "stream"),
        (PUBSUB, "pubsub"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (SLOW, "slow"),
        (BLOCKING, "blocking"),
        (DANGEROUS, "dangerous"),
        (CONNECTION, "connection"),
        (TRANSACTION, "transaction"),
        (SCRIPTING, "scripting"),
    ];
}

/// Computes the shard locks of a command that touches other databases than the client's
/// (MOVE, COPY ... DB, SWAPDB): arguments, client's database, number of databases, output.
pub type LocksFn = fn(&[&[u8]], usize, usize, &mut super::dispatch::LockIds);

/// Which shard locks a command needs before its handler runs.
#[derive(Clone, Copy, Debug)]
pub enum LockScope {
    /// The shards of its keys (from the key spec or `keys_fn`); none if it has no keys.
    Keys,
    /// Every shard of the client's current database (KEYS, DBSIZE, FLUSHDB...).
    Db,
    /// Every shard of every database (FLUSHALL).
    All,
    /// Computed from the arguments (MOVE, COPY, SWAPDB).
    Custom(LocksFn),
}

/// One command (or subcommand) of the table: what dispatch, locking and ACL need. Its
/// documentation (COMMAND DOCS, key specs, tips) is generated data in `meta/*.json`,
/// looked up by full name through [`super::meta::docs`].
///
/// Entries are written with the `const` builder, a few lines each, beside their handlers:
///
/// ```ignore
/// Command::new("hset", -4, flags::WRITE | flags::DENYOOM | flags::FAST, hset)
///     .keys(1, 1, 1)
///     .acl(acl::HASH),
/// ```
#[derive(Clone, Copy)]
pub struct Command {
    /// Lowercase name (`get`; subcommands just `get` under `config`).
    pub name: &'static str,
    /// Redis arity: positive = exact, negative = at least |arity| (name included).
    pub arity: i32,
    /// [`flags`] bits.
    pub flags: u32,
    /// Position of the first key (0: no keys). With `last_key` and `step`, the legacy key
    /// range of COMMAND INFO and, unless `keys_fn` is set, the key positions that locking uses.
    pub first_key: i32,
    /// Position of the last key (negative counts from the end).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// For commands whose key positions depend on the arguments (`movablekeys`).
    pub keys_fn: Option<KeysFn>,
    /// [`acl`] category bits beyond those derived from flags.
    pub acl: u32,
    /// Locks taken before the handler runs.
    pub lock: LockScope,
    /// The handler (for container commands, never called: a subcommand is).
    pub handler: Handler,
    /// Subcommands (`CONFIG GET`...), empty for plain commands.
    pub subcommands: &'static [Command],
}

fn no_handler(_: &mut Ctx<'_, '_>, _: &[&[u8]]) -> CmdResult {
    Err(super::CmdError::Internal("command has no handler"))
}

impl Command {
    /// A command without keys; chain [`Command::keys`], [`Command::acl`]... for the rest.
    pub const fn new(name: &'static str, arity: i32, flags: u32, handler: Handler) -> Command {
        Command {
            name,
            arity,
            flags,
            first_key: 0,
            last_key: 0,
            step: 0,
            keys_fn: None,
            acl: 0,
            lock: LockScope::Keys,
            handler,
            subcommands: &[],
        }
    }

    /// A container (`CONFIG`, `OBJECT`...) that only dispatches to its subcommands.
    pub const fn container(name: &'static str, arity: i32, flags: u32) -> Command {
        Command::new(name, arity, flags, no_handler)
    }

    /// Keys at `first..=last` (negative `last` counts from the end) every `step` arguments.
    pub const fn keys(mut self, first: i32, last: i32, step: i32) -> Command {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    /// Key positions computed from the arguments (the command is `movablekeys`).
    pub const fn keys_fn(mut self, finder: KeysFn) -> Command {
        self.keys_fn = Some(finder);
        self
    }

    /// ACL categories beyond those that follow from the flags.
    pub const fn acl(mut self, categories: u32) -> Command {
        self.acl = categories;
        self
    }

    /// Locks other than the shards of the command's keys.
    pub const fn lock(mut self, scope: LockScope) -> Command {
        self.lock = scope;
        self
    }

    /// The subcommands of a container.
    pub const fn subcommands(mut self, subcommands: &'static [Command]) -> Command {
        self.subcommands = subcommands;
        self
    }

    /// True when `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        (a > 0 && argc == a as usize) || (a < 0 && argc >= (-a) as usize)
    }

    /// Has the flag(s).
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Positions of the keys in `args`.
    pub fn key_positions(&self, args: &[&[u8]]) -> Vec<usize> {
        if let Some(f) = self.keys_fn {
            return f(args);
        }
        if self.first_key <= 0 {
            return Vec::new();
        }
        let argc = args.len() as i32;
        let last = if self.last_key < 0 {
            argc + self.last_key
        } else {
            self.last_key
        };
        let step = self.step.max(1);
        let mut out = Vec::new();
        let mut i = self.first_key;
        while i <= last && i < argc {
            out.push(i as usize);
            i += step;
        }
        out
    }

    /// ACL categories including those derived from flags.
    pub fn acl_categories(&self) -> u32 {
        let mut c = self.acl;
        if self.has(flags::WRITE) {
            c |= acl::WRITE;
        }
        if self.has(flags::READONLY) && self.acl & acl::SCRIPTING == 0 {
            c |= acl::READ;
        }
        if self.has(flags::ADMIN) {
            c |= acl::ADMIN | acl::DANGEROUS;
        }
        if self.has(flags::PUBSUB) {
            c |= acl::PUBSUB;
        }
        if self.has(flags::FAST) {
            c |= acl::FAST;
        }
        if self.has(flags::BLOCKING) {
            c |= acl::BLOCKING;
        }
        if c & acl::FAST == 0 {
            c |= acl::SLOW;
        }
        c
    }
}
