//! Configuration: Redis's parameter names, defaults and validation. Read from a redis.conf
//! style file and `--name value` arguments at start-up; CONFIG GET/SET at run time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

use parking_lot::RwLock;

/// How a parameter's value is checked and normalised.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// A byte count that accepts `k`, `kb`, `m`, `mb`, `g`, `gb` suffixes (Redis's
    /// `memtoull`); `unsigned` values saturate at 2^64-1 like Redis's `maxmemory`.
    Memory {
        min: i64,
        unsigned: bool,
    },
    Enum(&'static [&'static str]),
    Str,
    /// Validated by a function returning the normalised value or the reason.
    Special(fn(&str) -> Result<String, String>),
}

/// One parameter.
struct Param {
    name: &'static str,
    alias: Option<&'static str>,
    kind: Kind,
    default: &'static str,
    mutable: bool,
    /// Not matched by CONFIG GET patterns, only by its exact name (Redis's debugging
    /// parameters, HIDDEN_CONFIG).
    hidden: bool,
}

const fn p(name: &'static str, kind: Kind, default: &'static str, mutable: bool) -> Param {
    Param {
        name,
        alias: None,
        kind,
        default,
        mutable,
        hidden: false,
    }
}

/// A hidden parameter (see [`Param::hidden`]), mutable.
const fn hidden(name: &'static str, kind: Kind, default: &'static str) -> Param {
    Param {
        name,
        alias: None,
        kind,
        default,
        mutable: true,
        hidden: true,
    }
}

const fn pa(name: &'static str, alias: &'static str, kind: Kind, default: &'static str) -> Param {
    Param {
        name,
        alias: Some(alias),
        kind,
        default,
        mutable: true,
        hidden: false,
    }
}

const INT: Kind = Kind::Int {
    min: 0,
    max: i32::MAX as i64,
};
const INT1: Kind = Kind::Int {
    min: 1,
    max: i32::MAX as i64,
};
const LONG: Kind = Kind::Int {
    min: 0,
    max: i64::MAX,
};
const MEM: Kind = Kind::Memory {
    min: 0,
    unsigned: false,
};
const BOOL: Kind = Kind::Bool;
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];
const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const SHUTDOWN_ON_SIG: &[&str] = &["default", "save", "nosave", "now", "force"];

/// Every supported parameter, with Redis 7.0's defaults (ferrokv's where documented).
static PARAMS: &[Param] = &[
    // Set at start-up or by REPLICAOF (`Config::set_replicaof`); CONFIG SET refuses it,
    // as Redis does.
    Param {
        name: "replicaof",
        alias: Some("slaveof"),
        kind: Kind::Str,
        default: "",
        mutable: false,
        hidden: false,
    },
    // Client eviction is not implemented yet (issue 13); the value is checked as Redis does.
    p(
        "maxmemory-clients",
        Kind::Special(validate_memory_or_percent),
        "0",
        true,
    ),
    // Redis's debugging delays, for tests: microseconds per key.
    hidden("key-load-delay", INT, "0"),
    hidden("rdb-key-save-delay", INT, "0"),
    hidden(
        "loading-process-events-interval-bytes",
        Kind::Int {
            min: 1024,
            max: i32::MAX as i64,
        },
        "2097152",
    ),
    // Mutable: CONFIG SET binds the new sockets first (commands/families/server.rs).
    p("port", Kind::Int { min: 0, max: 65535 }, "6379", true),
    // TLS (server/tls.rs): a change to any of these rebuilds the TLS configuration
    // before CONFIG SET accepts it (commands/families/server.rs).
    p("tls-port", Kind::Int { min: 0, max: 65535 }, "0", true),
    p("tls-cert-file", Kind::Str, "", true),
    p("tls-key-file", Kind::Str, "", true),
    p("tls-key-file-pass", Kind::Str, "", true),
    p("tls-client-cert-file", Kind::Str, "", true),
    p("tls-client-key-file", Kind::Str, "", true),
    p("tls-client-key-file-pass", Kind::Str, "", true),
    p("tls-dh-params-file", Kind::Str, "", true),
    p("tls-ca-cert-file", Kind::Str, "", true),
    p("tls-ca-cert-dir", Kind::Str, "", true),
    p(
        "tls-auth-clients",
        Kind::Enum(&["no", "yes", "optional"]),
        "yes",
        true,
    ),
    p("tls-protocols", Kind::Str, "", true),
    p("tls-ciphers", Kind::Str, "", true),
    p("tls-ciphersuites", Kind::Str, "", true),
    p("tls-prefer-server-ciphers", BOOL, "no", true),
    p("tls-session-caching", BOOL, "yes", true),
    p("tls-session-cache-size", INT, "20480", true),
    p("tls-session-cache-timeout", INT, "300", true),
    p("tls-replication", BOOL, "no", true),
    p("tls-cluster", BOOL, "no", true),
    p("bind", Kind::Str, "127.0.0.1", true),
    // ferrokv's own: the Prometheus endpoint and status page (server/metrics/); port 0 is
    // off, an empty bind means the server's `bind`. Applied within a second of CONFIG SET.
    p("metrics-port", Kind::Int { min: 0, max: 65535 }, "0", true),
    p("metrics-bind", Kind::Str, "", true),
    p("dir", Kind::Str, "", true),
    p("dbfilename", Kind::Str, "dump.rdb", true),
    p("databases", INT1, "16", false),
    p("requirepass", Kind::Str, "", true),
    p("masterauth", Kind::Str, "", true),
    p("masteruser", Kind::Str, "", true),
    p("aclfile", Kind::Str, "", false),
    p(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
        true,
    ),
    pa("io-threads", "threads", Kind::Int { min: 0, max: 128 }, "0"),
    p("io-threads-do-reads", BOOL, "no", false),
    p("loglevel", Kind::Enum(LOGLEVELS), "notice", true),
    p("logfile", Kind::Str, "", false),
    p("syslog-enabled", BOOL, "no", false),
    p("syslog-ident", Kind::Str, "redis", false),
    p("always-show-logo", BOOL, "no", false),
    p("set-proc-title", BOOL, "yes", false),
    p("crash-log-enabled", BOOL, "yes", true),
    p("crash-memcheck-enabled", BOOL, "yes", true),
    p("hz", INT, "10", true),
    p("dynamic-hz", BOOL, "yes", true),
    p(
        "maxclients",
        Kind::Int {
            min: 1,
            max: u32::MAX as i64,
        },
        "10000",
        true,
    ),
    p("timeout", INT, "0", true),
    p("tcp-keepalive", INT, "300", true),
    p("tcp-backlog", INT, "511", false),
    p("daemonize", BOOL, "no", false),
    p(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
        false,
    ),
    p("protected-mode", BOOL, "yes", true),
    p("pidfile", Kind::Str, "", false),
    p("unixsocket", Kind::Str, "", false),
    p("unixsocketperm", Kind::Str, "0", false),
    p(
        "proto-max-bulk-len",
        Kind::Memory {
            min: 1 << 20,
            unsigned: false,
        },
        "536870912",
        true,
    ),
    p(
        "client-query-buffer-limit",
        Kind::Memory {
            min: 1 << 20,
            unsigned: false,
        },
        "1073741824",
        true,
    ),
    p(
        "slowlog-log-slower-than",
        Kind::Int {
            min: -1,
            max: i64::MAX,
        },
        "10000",
        true,
    ),
    p("slowlog-max-len", LONG, "128", true),
    p("latency-monitor-threshold", LONG, "0", true),
    p("latency-tracking", BOOL, "yes", true),
    p(
        "latency-tracking-info-percentiles",
        Kind::Special(validate_percentiles),
        "50 99 99.9",
        true,
    ),
    p(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
        false,
    ),
    p(
        "enable-protected-configs",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
        false,
    ),
    p(
        "enable-module-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
        false,
    ),
    pa(
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        LONG,
        "512",
    ),
    pa(
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        MEM,
        "64",
    ),
    pa(
        "list-max-listpack-size",
        "list-max-ziplist-size",
        Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        "-2",
    ),
    p("list-compress-depth", INT, "0", true),
    p("set-max-intset-entries", LONG, "512", true),
    pa(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        LONG,
        "128",
    ),
    pa(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        MEM,
        "64",
    ),
    p("hll-sparse-max-bytes", MEM, "3000", true),
    p("stream-node-max-bytes", MEM, "4096", true),
    p("stream-node-max-entries", LONG, "100", true),
    p(
        "active-expire-effort",
        Kind::Int { min: 1, max: 10 },
        "1",
        true,
    ),
    p("tracking-table-max-keys", LONG, "1000000", true),
    p(
        "maxmemory",
        Kind::Memory {
            min: 0,
            unsigned: true,
        },
        "0",
        true,
    ),
    p("maxmemory-policy", Kind::Enum(POLICIES), "noeviction", true),
    p("maxmemory-samples", INT1, "5", true),
    p(
        "maxmemory-eviction-tenacity",
        Kind::Int { min: 0, max: 100 },
        "10",
        true,
    ),
    p("lfu-log-factor", INT, "10", true),
    p("lfu-decay-time", INT, "1", true),
    p(
        "notify-keyspace-events",
        Kind::Special(validate_keyspace_events),
        "",
        true,
    ),
    p("appendonly", BOOL, "yes", true),
    p(
        "appendfsync",
        Kind::Enum(&["everysec", "always", "no"]),
        "everysec",
        true,
    ),
    p("appendfilename", Kind::Str, "appendonly.aof", false),
    p("appenddirname", Kind::Str, "appendonlydir", false),
    p("auto-aof-rewrite-percentage", INT, "100", true),
    p("auto-aof-rewrite-min-size", MEM, "67108864", true),
    p("aof-load-truncated", BOOL, "yes", true),
    p("aof-use-rdb-preamble", BOOL, "yes", true),
    p("aof-timestamp-enabled", BOOL, "no", true),
    p("aof-rewrite-incremental-fsync", BOOL, "yes", true),
    p("no-appendfsync-on-rewrite", BOOL, "no", true),
    p(
        "save",
        Kind::Special(validate_save),
        "3600 1 300 100 60 10000",
        true,
    ),
    p("rdbcompression", BOOL, "yes", true),
    p("rdbchecksum", BOOL, "yes", true),
    p("rdb-save-incremental-fsync", BOOL, "yes", true),
    p("rdb-del-sync-files", BOOL, "no", true),
    p("stop-writes-on-bgsave-error", BOOL, "yes", true),
    p(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
        true,
    ),
    p("lazyfree-lazy-eviction", BOOL, "no", true),
    p("lazyfree-lazy-expire", BOOL, "no", true),
    p("lazyfree-lazy-server-del", BOOL, "no", true),
    p("lazyfree-lazy-user-del", BOOL, "no", true),
    p("lazyfree-lazy-user-flush", BOOL, "no", true),
    p("activerehashing", BOOL, "yes", true),
    p("activedefrag", BOOL, "no", true),
    p("jemalloc-bg-thread", BOOL, "yes", true),
    pa("busy-reply-threshold", "lua-time-limit", LONG, "5000"),
    p("cluster-enabled", BOOL, "no", false),
    pa("replica-read-only", "slave-read-only", BOOL, "yes"),
    pa(
        "replica-serve-stale-data",
        "slave-serve-stale-data",
        BOOL,
        "yes",
    ),
    pa("replica-priority", "slave-priority", INT, "100"),
    pa("min-replicas-to-write", "min-slaves-to-write", INT, "0"),
    pa("min-replicas-max-lag", "min-slaves-max-lag", INT, "10"),
    p(
        "repl-backlog-size",
        Kind::Memory {
            min: 1,
            unsigned: false,
        },
        "1048576",
        true,
    ),
    p("repl-backlog-ttl", LONG, "3600", true),
    p("repl-timeout", INT1, "60", true),
    p("repl-diskless-sync", BOOL, "yes", true),
    // Replication (crates/ferrokv/src/replication/).
    p("repl-diskless-sync-delay", INT, "5", true),
    p("repl-diskless-sync-max-replicas", INT, "0", true),
    p(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
        true,
    ),
    pa(
        "repl-ping-replica-period",
        "repl-ping-slave-period",
        INT1,
        "10",
    ),
    p("repl-disable-tcp-nodelay", BOOL, "no", true),
    pa("replica-announce-ip", "slave-announce-ip", Kind::Str, ""),
    pa(
        "replica-announce-port",
        "slave-announce-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
    ),
    p("replica-announced", BOOL, "yes", true),
    pa("replica-lazy-flush", "slave-lazy-flush", BOOL, "no"),
    pa(
        "replica-ignore-maxmemory",
        "slave-ignore-maxmemory",
        BOOL,
        "yes",
    ),
    p("acllog-max-len", LONG, "128", true),
    p("shutdown-timeout", INT, "10", true),
    p(
        "shutdown-on-sigint",
        Kind::Enum(SHUTDOWN_ON_SIG),
        "default",
        true,
    ),
    p(
        "shutdown-on-sigterm",
        Kind::Enum(SHUTDOWN_ON_SIG),
        "default",
        true,
    ),
    p(
        "client-output-buffer-limit",
        Kind::Special(validate_obuf_limits),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        true,
    ),
];

/// Parameters CONFIG SET refuses unless `enable-protected-configs` allows it.
const PROTECTED: &[&str] = &["dir", "dbfilename"];

fn find_param(name: &str) -> Option<&'static Param> {
    PARAMS
        .iter()
        .find(|p| p.name == name || p.alias == Some(name))
}

/// Parse a memory amount like Redis's `memtoull` (`1gb`, `10k`, `512`): digits then an
/// optional unit; digits beyond 2^64-1 saturate, as `strtoull` does.
pub fn parse_memory_u64(s: &str) -> Option<u64> {
    let digits_end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    if digits.is_empty() || digits.len() >= 128 {
        return None;
    }
    let n: u64 = digits.parse().unwrap_or(u64::MAX);
    Some(n.saturating_mul(mul))
}

/// Parse a memory amount that fits an i64 (None when malformed or larger).
pub fn parse_memory(s: &str) -> Option<i64> {
    parse_memory_u64(s).and_then(|n| i64::try_from(n).ok())
}

/// `save`: pairs of `<seconds> <changes>`, or empty.
fn validate_save(v: &str) -> Result<String, String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    if !words.len().is_multiple_of(2)
        || words
            .iter()
            .any(|w| crate::util::parse_canonical_i64(w.as_bytes()).is_none_or(|n| n < 0))
    {
        return Err("Invalid save parameters".into());
    }
    Ok(words.join(" "))
}

/// `maxmemory-clients`: a byte count (Redis's units) or a percentage of `maxmemory` up to
/// 100, kept as written with `%`.
fn validate_memory_or_percent(v: &str) -> Result<String, String> {
    const BAD: &str = "argument must be a memory or percent value";
    if let Some(pct) = v.strip_suffix('%') {
        let n: i64 = pct.parse().map_err(|_| BAD.to_string())?;
        if n < 0 {
            return Err(BAD.into());
        }
        if n > 100 {
            return Err("percentage argument must be less or equal to 100".into());
        }
        return Ok(format!("{}%", n));
    }
    parse_memory_u64(v)
        .map(|n| n.to_string())
        .ok_or_else(|| BAD.to_string())
}

/// `notify-keyspace-events`: Redis's class letters, normalised like
/// `keyspaceEventsFlagsToString`.
fn validate_keyspace_events(v: &str) -> Result<String, String> {
    const ORDER: &str = "g$lshzxetdn";
    const ALL: &str = "g$lshzxetd";
    let mut set = std::collections::HashSet::new();
    for c in v.chars() {
        match c {
            'A' => set.extend(ALL.chars()),
            'g' | '$' | 'l' | 's' | 'h' | 'z' | 'x' | 'e' | 'K' | 'E' | 't' | 'm' | 'd' | 'n' => {
                set.insert(c);
            }
            _ => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        }
    }
    let mut out = String::new();
    if ALL.chars().all(|c| set.contains(&c)) {
        out.push('A');
        if set.contains(&'n') {
            out.push('n');
        }
    } else {
        out.extend(ORDER.chars().filter(|c| set.contains(c)));
    }
    out.extend("KEm".chars().filter(|c| set.contains(c)));
    Ok(out)
}

/// The classes of `client-output-buffer-limit`, in the order Redis renders them.
const OBUF_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];
/// Index of the `normal` class in [`Config::output_limits`].
pub const OBUF_NORMAL: usize = 0;
/// Index of the `replica` (`slave`) class.
pub const OBUF_REPLICA: usize = 1;
/// Index of the `pubsub` class.
pub const OBUF_PUBSUB: usize = 2;

/// `client-output-buffer-limit`: `<class> <hard> <soft> <soft-seconds>` groups, sizes
/// normalised to bytes (`replica` is `slave`). Classes not given keep their values: see
/// [`merge_obuf_limits`].
fn validate_obuf_limits(v: &str) -> Result<String, String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut out = Vec::new();
    for group in words.chunks(4) {
        let [class, hard, soft, secs] = group else {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        };
        let class = match class.to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = parse_memory(hard).ok_or_else(bad)?;
        let soft = parse_memory(soft).ok_or_else(bad)?;
        let secs = crate::util::parse_canonical_i64(secs.as_bytes())
            .filter(|n| *n >= 0)
            .ok_or_else(bad)?;
        out.push(format!("{} {} {} {}", class, hard, soft, secs));
    }
    Ok(out.join(" "))
}

/// Apply the classes in `new` to the `current` value (every class rendered, in order).
fn merge_obuf_limits(current: &str, new: &str) -> String {
    let mut classes: Vec<(String, String)> = OBUF_CLASSES
        .iter()
        .map(|c| (c.to_string(), String::from("0 0 0")))
        .collect();
    for text in [current, new] {
        let words: Vec<&str> = text.split_whitespace().collect();
        for group in words.chunks(4) {
            if let [class, hard, soft, secs] = group {
                if let Some(slot) = classes.iter_mut().find(|(c, _)| c == class) {
                    slot.1 = format!("{} {} {}", hard, soft, secs);
                }
            }
        }
    }
    classes
        .iter()
        .map(|(c, v)| format!("{} {}", c, v))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `latency-tracking-info-percentiles`: doubles within [0, 100].
fn validate_percentiles(v: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for w in v.split_whitespace() {
        let f = crate::util::parse_f64(w.as_bytes())
            .ok_or_else(|| "Invalid latency-tracking-info-percentiles parameters".to_string())?;
        if !(0.0..=100.0).contains(&f) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .into(),
            );
        }
        out.push(format!("{}", f));
    }
    Ok(out.join(" "))
}

/// Why a value was refused (the text after `... argument 'name') - `).
fn validate(param: &Param, value: &str) -> Result<String, String> {
    match param.kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int { min, max } => {
            let n = crate::util::parse_canonical_i64(value.as_bytes())
                .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(format!(
                    "argument must be between {} and {} inclusive",
                    min, max
                ));
            }
            // Redis keeps hz within [1, 500] whatever is asked.
            let n = if param.name == "hz" {
                n.clamp(1, 500)
            } else {
                n
            };
            Ok(n.to_string())
        }
        Kind::Memory { min, unsigned } => {
            let n = parse_memory_u64(value)
                .ok_or_else(|| "argument must be a memory value".to_string())?;
            if unsigned {
                return Ok(n.to_string());
            }
            if n > i64::MAX as u64 || (n as i64) < min {
                return Err(format!(
                    "argument must be between {} and {} inclusive",
                    min,
                    i64::MAX
                ));
            }
            Ok(n.to_string())
        }
        Kind::Enum(options) => {
            let v = value.to_ascii_lowercase();
            if options.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(format!(
                    "argument(s) must be one of the following: {}",
                    options.join(", ")
                ))
            }
        }
        Kind::Str => Ok(value.to_string()),
        Kind::Special(f) => f(value),
    }
}

/// The server's configuration.
pub struct Config {
    values: RwLock<BTreeMap<&'static str, String>>,
    /// Path of the config file the server was started with (for CONFIG REWRITE / INFO).
    pub config_file: Option<String>,
    hz: AtomicI64,
    slowlog_slower_than: AtomicI64,
    slowlog_max_len: AtomicI64,
    latency_threshold: AtomicI64,
    busy_threshold: AtomicI64,
    /// `min-replicas-to-write` (checked on every write while not 0).
    min_replicas: AtomicI64,
    /// `maxmemory` in bytes (0: no limit), read by every command that may grow memory.
    maxmemory: AtomicU64,
    proto_max_bulk_len: AtomicI64,
    query_buffer_limit: AtomicI64,
    hash_max_entries: AtomicI64,
    hash_max_value: AtomicI64,
    list_max_listpack_size: AtomicI64,
    stream_node_max_bytes: AtomicI64,
    stream_node_max_entries: AtomicI64,
    list_compress_depth: AtomicI64,
    set_max_intset_entries: AtomicI64,
    zset_max_entries: AtomicI64,
    zset_max_value: AtomicI64,
    hll_sparse_max_bytes: AtomicI64,
    active_expire: AtomicBool,
    has_password: AtomicBool,
    /// `user ...` lines of the configuration (line number, text).
    user_lines: parking_lot::Mutex<Vec<(usize, String)>>,
    latency_tracking: AtomicBool,
    /// `client-output-buffer-limit` per class (normal, replica, pubsub, the order of
    /// [`OBUF_CLASSES`]): hard, soft, seconds.
    obuf: [[AtomicU64; 3]; 3],
    /// Pending output below which no class's limit can apply (see
    /// [`Config::output_check_at`]).
    obuf_check_at: AtomicU64,
    /// `notify-keyspace-events` as `server::notify::class` bits (0 = off, the default).
    notify_flags: AtomicU32,
    /// `tracking-table-max-keys` (0 = no limit).
    tracking_max_keys: AtomicI64,
}

impl Config {
    /// Defaults only.
    pub fn defaults() -> Config {
        let mut values = BTreeMap::new();
        for p in PARAMS {
            values.insert(p.name, p.default.to_string());
        }
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        values.insert("dir", cwd);
        let cfg = Config {
            values: RwLock::new(values),
            config_file: None,
            hz: AtomicI64::new(10),
            slowlog_slower_than: AtomicI64::new(10000),
            slowlog_max_len: AtomicI64::new(128),
            latency_threshold: AtomicI64::new(0),
            busy_threshold: AtomicI64::new(5000),
            min_replicas: AtomicI64::new(0),
            maxmemory: AtomicU64::new(0),
            proto_max_bulk_len: AtomicI64::new(512 << 20),
            query_buffer_limit: AtomicI64::new(1 << 30),
            hash_max_entries: AtomicI64::new(128),
            hash_max_value: AtomicI64::new(64),
            list_max_listpack_size: AtomicI64::new(-2),
            stream_node_max_bytes: AtomicI64::new(4096),
            stream_node_max_entries: AtomicI64::new(100),
            list_compress_depth: AtomicI64::new(0),
            set_max_intset_entries: AtomicI64::new(512),
            zset_max_entries: AtomicI64::new(128),
            zset_max_value: AtomicI64::new(64),
            hll_sparse_max_bytes: AtomicI64::new(3000),
            active_expire: AtomicBool::new(true),
            has_password: AtomicBool::new(false),
            user_lines: parking_lot::Mutex::new(Vec::new()),
            latency_tracking: AtomicBool::new(true),
            obuf: Default::default(),
            obuf_check_at: AtomicU64::new(0),
            notify_flags: AtomicU32::new(0),
            tracking_max_keys: AtomicI64::new(1_000_000),
        };
        cfg.refresh_cache();
        cfg
    }

    /// Build the configuration from `ferrokv-server [config-file] [--name value ...]`.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut cfg = Config::defaults();
        let mut rest = args;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first).map_err(|e| {
                    format!("Fatal error, can't open config file '{}': {}", first, e)
                })?;
                cfg.load_text(&text)?;
                // Absolute, because the server changes directory to `dir` after start-up.
                cfg.config_file = Some(
                    std::fs::canonicalize(first)
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| first.clone()),
                );
                rest = &args[1..];
            }
        }
        // `--name v1 v2 --other v` : like redis-server, join the words after an option.
        let mut text = String::new();
        for a in rest {
            if let Some(name) = a.strip_prefix("--") {
                text.push('\n');
                text.push_str(name);
            } else {
                text.push(' ');
                text.push('"');
                text.push_str(&a.replace('\\', "\\\\").replace('"', "\\\""));
                text.push('"');
            }
        }
        cfg.load_text(&text)?;
        Ok(cfg)
    }

    /// Apply redis.conf-style lines (`name value...`, `#` comments).
    pub fn load_text(&self, text: &str) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = resp::split_inline_args(line.as_bytes()).ok_or_else(|| {
                format!("line {}: unbalanced quotes in configuration line", n + 1)
            })?;
            let words: Vec<String> = words
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            let Some((name, vals)) = words.split_first() else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            if name == "user" {
                // ACL users: kept as lines and applied once the server exists.
                self.user_lines.lock().push((n + 1, line.to_string()));
                continue;
            }
            let value = vals.join(" ");
            self.set_inner(&name, &value, true).map_err(|e| {
                format!(
                    "*** FATAL CONFIG FILE ERROR ***\nline {}: '{}'\n{}",
                    n + 1,
                    line,
                    e
                )
            })?;
        }
        Ok(())
    }

    fn set_inner(&self, name: &str, value: &str, startup: bool) -> Result<(), String> {
        let param = find_param(name)
            .ok_or_else(|| "Bad directive or wrong number of arguments".to_string())?;
        if !startup && !param.mutable {
            return Err("can't set immutable config".into());
        }
        let v = self.merged(param, validate(param, value)?);
        let v = Self::apply_side_effects(param, v, startup)?;
        self.values.write().insert(param.name, v);
        self.refresh_cache();
        Ok(())
    }

    /// Effects a value has outside the table (changing directory for `dir`); returns the
    /// value to store.
    fn apply_side_effects(param: &Param, v: String, startup: bool) -> Result<String, String> {
        if param.name == "maxclients" && !startup {
            // Startup adjusts the descriptor limit once the whole file is read (main).
            crate::server::fdlimit::check_config_set(v.parse().unwrap_or(0))?;
            return Ok(v);
        }
        if param.name != "dir" {
            return Ok(v);
        }
        if !startup {
            std::env::set_current_dir(&v).map_err(|e| e.to_string())?;
        } else {
            std::fs::create_dir_all(&v).map_err(|e| format!("Can't chdir to '{}': {}", v, e))?;
        }
        Ok(std::fs::canonicalize(&v)
            .map(|p| p.display().to_string())
            .unwrap_or(v))
    }

    /// CONFIG SET for one parameter; the error is the text after `possibly related to...`.
    pub fn set(&self, name: &str, value: &str) -> Result<(), ConfigSetError> {
        self.set_many(&[(name, value)], true).map_err(|(_, e)| e)
    }

    /// CONFIG SET of several parameters at once, all or nothing, as Redis 7 does: unknown,
    /// immutable or repeated names are refused before anything changes; if a value is
    /// refused, every parameter keeps its old value. The error names the argument at fault.
    /// Protected parameters (`dir`, `dbfilename`) need `enable-protected-configs` `yes`, or
    /// `local` and a `local_client`.
    pub fn set_many(
        &self,
        pairs: &[(&str, &str)],
        local_client: bool,
    ) -> Result<(), (String, ConfigSetError)> {
        let mut params: Vec<&'static Param> = Vec::with_capacity(pairs.len());
        for (name, _) in pairs {
            let lname = name.to_ascii_lowercase();
            let param =
                find_param(&lname).ok_or_else(|| (name.to_string(), ConfigSetError::Unknown))?;
            if !param.mutable {
                return Err((
                    name.to_string(),
                    ConfigSetError::Invalid("can't set immutable config".into()),
                ));
            }
            if PROTECTED.contains(&param.name) {
                let allowed = match self.get("enable-protected-configs").as_str() {
                    "yes" => true,
                    "local" => local_client,
                    _ => false,
                };
                if !allowed {
                    return Err((
                        name.to_string(),
                        ConfigSetError::Invalid("can't set protected config".into()),
                    ));
                }
            }
            // Like Redis 7.0, a repeated name is refused, while a name and its alias may
            // both be given (the later one wins).
            if pairs[..params.len()]
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                return Err((
                    name.to_string(),
                    ConfigSetError::Invalid("duplicate parameter".into()),
                ));
            }
            params.push(param);
        }
        let mut values = Vec::with_capacity(pairs.len());
        for (param, (name, value)) in params.iter().zip(pairs) {
            let v = validate(param, value)
                .map_err(|e| (name.to_string(), ConfigSetError::Invalid(e)))?;
            let v = self.merged(param, v);
            values.push(v);
        }
        let mut table = self.values.write();
        let old_dir = table.get("dir").cloned();
        let mut applied = Vec::with_capacity(values.len());
        for ((param, (name, _)), v) in params.iter().zip(pairs).zip(values) {
            match Self::apply_side_effects(param, v, false) {
                Ok(v) => applied.push((param.name, v)),
                Err(e) => {
                    // Undo what the earlier parameters did outside the table.
                    if applied.iter().any(|(n, _)| *n == "dir") {
                        if let Some(d) = &old_dir {
                            let _ = std::env::set_current_dir(d);
                        }
                    }
                    return Err((name.to_string(), ConfigSetError::Invalid(e)));
                }
            }
        }
        for (n, v) in applied {
            table.insert(n, v);
        }
        drop(table);
        self.refresh_cache();
        Ok(())
    }

    /// The canonical name and the value as it would be stored, when `value` is valid for
    /// parameter `name` (lets a caller check a CONFIG SET's effect before it is applied).
    pub fn validated(&self, name: &str, value: &str) -> Option<(&'static str, String)> {
        let param = find_param(&name.to_ascii_lowercase())?;
        let v = validate(param, value).ok()?;
        Some((param.name, self.merged(param, v)))
    }

    /// The canonical name of a parameter (resolving aliases), if it exists.
    pub fn canonical_name(name: &str) -> Option<&'static str> {
        find_param(&name.to_ascii_lowercase()).map(|p| p.name)
    }

    /// CONFIG GET: every (name, value) whose name or alias matches one of the patterns,
    /// each once. Like Redis 7.0, a pattern without glob characters names a parameter
    /// case-insensitively and is answered with the client's spelling.
    pub fn get_matching_any(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let values = self.values.read();
        let mut out = Vec::new();
        for p in PARAMS {
            let value = values.get(p.name).cloned().unwrap_or_default();
            for name in std::iter::once(p.name).chain(p.alias) {
                let shown = patterns.iter().find_map(|pat| {
                    let is_glob = pat.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
                    if is_glob && p.hidden {
                        None
                    } else if !is_glob {
                        pat.eq_ignore_ascii_case(name.as_bytes())
                            .then(|| String::from_utf8_lossy(pat).into_owned())
                    } else {
                        crate::storage::glob::glob_match(pat, name.as_bytes(), true)
                            .then(|| name.to_string())
                    }
                });
                if let Some(shown) = shown {
                    out.push((shown, value.clone()));
                }
            }
        }
        out
    }

    /// CONFIG GET with one pattern.
    pub fn get_matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        self.get_matching_any(&[pattern])
    }

    /// CONFIG REWRITE: rewrite the file the server was started with so that it holds the
    /// current configuration. Lines of known parameters are updated in place (later
    /// duplicates dropped); comments and unknown lines are kept; parameters that differ
    /// from their default and are not in the file are appended after a marker line.
    pub fn rewrite(&self) -> Result<(), String> {
        self.rewrite_with_users(None)
    }

    /// [`Config::rewrite`], with the ACL users as `user` lines (Redis writes them when no
    /// `aclfile` is set: `Some(lines)`; with an `aclfile`, `None`, they are dropped).
    pub fn rewrite_with_users(&self, users: Option<Vec<String>>) -> Result<(), String> {
        let Some(path) = &self.config_file else {
            return Err("ERR The server is running without a config file".into());
        };
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let values = self.values.read();
        let render = |p: &Param| -> Option<String> {
            let v = values.get(p.name).cloned().unwrap_or_default();
            if p.name == "replicaof" {
                // `replicaof <host> <port>` (two arguments), or no line on a primary.
                let mut words = v.split_whitespace();
                return match (words.next(), words.next()) {
                    (Some(h), Some(port)) => {
                        Some(format!("replicaof {} {}", quote_config_value(h), port))
                    }
                    _ => None,
                };
            }
            Some(format!("{} {}", p.name, quote_config_value(&v)))
        };
        let mut written: Vec<&'static str> = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        let mut users_written = false;
        const MARKER: &str = "# Generated by CONFIG REWRITE";
        for line in old.lines() {
            let trimmed = line.trim();
            if trimmed == MARKER {
                continue;
            }
            let first = trimmed.split_whitespace().next().unwrap_or("");
            if trimmed.starts_with('#') || first.is_empty() {
                lines.push(line.to_string());
                continue;
            }
            if first.eq_ignore_ascii_case("user") {
                // Users are written in one block where the first `user` line was.
                if let Some(users) = users.as_ref().filter(|_| !users_written) {
                    lines.extend(users.iter().cloned());
                }
                users_written = true;
                continue;
            }
            match find_param(&first.to_ascii_lowercase()) {
                Some(p) if written.contains(&p.name) => {}
                Some(p) => {
                    written.push(p.name);
                    lines.extend(render(p));
                }
                None => lines.push(line.to_string()),
            }
        }
        let mut appended = false;
        for p in PARAMS {
            if written.contains(&p.name) {
                continue;
            }
            let current = values.get(p.name).map(String::as_str).unwrap_or("");
            let default = validate(p, p.default).unwrap_or_else(|_| p.default.to_string());
            if current == default || (p.name == "dir" && current.is_empty()) {
                continue;
            }
            if !appended {
                lines.push(MARKER.to_string());
                appended = true;
            }
            lines.extend(render(p));
        }
        if let Some(users) = users.filter(|u| !users_written && !u.is_empty()) {
            // Every user, the default one included, as Redis does.
            if !appended {
                lines.push(MARKER.to_string());
            }
            lines.extend(users);
        }
        let mut text = lines.join("\n");
        text.push('\n');
        let tmp = format!("{}.tmp-{}", path, std::process::id());
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("ERR Rewriting config file: {}", e))
    }

    /// Startup found too few file descriptors for `maxclients`: use `n` instead (the
    /// value CONFIG GET shows, as in Redis).
    pub fn set_reduced_maxclients(&self, n: u64) {
        self.values.write().insert("maxclients", n.to_string());
    }

    /// REPLICAOF changed the primary we follow (`host port`, or "" for none): CONFIG GET
    /// `replicaof` and CONFIG REWRITE show it, as in Redis (Sentinel relies on the
    /// rewrite to keep a reconfigured replica's role across restarts).
    pub fn set_replicaof(&self, value: &str) {
        self.values.write().insert("replicaof", value.to_string());
    }

    /// A parameter's current value.
    pub fn get(&self, name: &str) -> String {
        self.values.read().get(name).cloned().unwrap_or_default()
    }

    /// A validated value as it is stored: `client-output-buffer-limit` keeps the classes
    /// the new value does not name, as Redis does.
    fn merged(&self, param: &Param, v: String) -> String {
        if param.name == "client-output-buffer-limit" {
            merge_obuf_limits(&self.get(param.name), &v)
        } else {
            v
        }
    }

    /// The `pubsub` class of `client-output-buffer-limit`: hard bytes, soft bytes, soft
    /// seconds (0 = no limit).
    pub fn pubsub_output_limits(&self) -> (u64, u64, u64) {
        self.output_limits(OBUF_PUBSUB)
    }

    /// Pending output (bytes) below which no output limit of the classes a connection can
    /// have applies, nor the backpressure cap: connections compare with it after each
    /// command and look closer only past it.
    pub fn output_check_at(&self) -> usize {
        self.obuf_check_at.load(Relaxed) as usize
    }

    /// One class of `client-output-buffer-limit` ([`OBUF_NORMAL`], [`OBUF_REPLICA`],
    /// [`OBUF_PUBSUB`]): hard bytes, soft bytes, soft seconds (0 = no limit).
    pub fn output_limits(&self, class: usize) -> (u64, u64, u64) {
        match self.obuf.get(class) {
            Some([h, s, t]) => (h.load(Relaxed), s.load(Relaxed), t.load(Relaxed)),
            None => (0, 0, 0),
        }
    }

    fn int(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    fn refresh_cache(&self) {
        crate::server::evict::configure(
            &self.get("maxmemory-policy"),
            self.int("maxmemory-samples"),
            self.int("maxmemory-eviction-tenacity"),
        );
        crate::server::evict::configure_replica(self.get("replica-ignore-maxmemory") == "yes");
        crate::storage::table::configure_lfu(
            self.get("maxmemory-policy").ends_with("-lfu"),
            self.int("lfu-log-factor").clamp(0, u32::MAX as i64) as u32,
            self.int("lfu-decay-time").clamp(0, u32::MAX as i64) as u32,
        );
        crate::memory::set_background_purge(self.get("jemalloc-bg-thread") == "yes");
        self.hz.store(self.int("hz"), Relaxed);
        self.tracking_max_keys
            .store(self.int("tracking-table-max-keys"), Relaxed);
        self.slowlog_slower_than
            .store(self.int("slowlog-log-slower-than"), Relaxed);
        self.slowlog_max_len
            .store(self.int("slowlog-max-len"), Relaxed);
        self.latency_threshold
            .store(self.int("latency-monitor-threshold"), Relaxed);
        self.busy_threshold
            .store(self.int("busy-reply-threshold"), Relaxed);
        self.min_replicas
            .store(self.int("min-replicas-to-write"), Relaxed);
        self.maxmemory
            .store(self.get("maxmemory").parse().unwrap_or(0), Relaxed);
        self.latency_tracking
            .store(self.get("latency-tracking") == "yes", Relaxed);
        self.proto_max_bulk_len
            .store(self.int("proto-max-bulk-len"), Relaxed);
        self.query_buffer_limit
            .store(self.int("client-query-buffer-limit"), Relaxed);
        self.hash_max_entries
            .store(self.int("hash-max-listpack-entries"), Relaxed);
        self.hash_max_value
            .store(self.int("hash-max-listpack-value"), Relaxed);
        self.list_max_listpack_size
            .store(self.int("list-max-listpack-size"), Relaxed);
        self.stream_node_max_bytes
            .store(self.int("stream-node-max-bytes"), Relaxed);
        self.stream_node_max_entries
            .store(self.int("stream-node-max-entries"), Relaxed);
        self.list_compress_depth
            .store(self.int("list-compress-depth"), Relaxed);
        self.set_max_intset_entries
            .store(self.int("set-max-intset-entries"), Relaxed);
        self.zset_max_entries
            .store(self.int("zset-max-listpack-entries"), Relaxed);
        self.zset_max_value
            .store(self.int("zset-max-listpack-value"), Relaxed);
        self.hll_sparse_max_bytes
            .store(self.int("hll-sparse-max-bytes"), Relaxed);
        self.has_password
            .store(!self.get("requirepass").is_empty(), Relaxed);
        self.notify_flags.store(
            crate::server::notify::parse_flags(&self.get("notify-keyspace-events")),
            Relaxed,
        );
        let limits = self.get("client-output-buffer-limit");
        let words: Vec<&str> = limits.split_whitespace().collect();
        for group in words.chunks(4) {
            if let [class, rest @ ..] = group {
                let slots = OBUF_CLASSES
                    .iter()
                    .position(|c| c == class)
                    .and_then(|i| self.obuf.get(i));
                for (slot, w) in slots.into_iter().flatten().zip(rest) {
                    slot.store(w.parse().unwrap_or(0), Relaxed);
                }
            }
        }
        let check_at = [OBUF_NORMAL, OBUF_PUBSUB]
            .into_iter()
            .map(|class| {
                let (hard, soft, soft_seconds) = self.output_limits(class);
                crate::server::output::Limits {
                    hard,
                    soft,
                    soft_seconds,
                }
                .check_at()
            })
            .min()
            .unwrap_or(0);
        self.obuf_check_at.store(check_at as u64, Relaxed);
    }

    /// `tracking-table-max-keys` (0 = no limit).
    pub fn tracking_max_keys(&self) -> usize {
        self.tracking_max_keys.load(Relaxed).max(0) as usize
    }

    /// `notify-keyspace-events` as `server::notify::class` bits: one relaxed load, so
    /// commands pay nothing more while notifications are off.
    #[inline]
    pub fn notify_flags(&self) -> u32 {
        self.notify_flags.load(Relaxed)
    }
    /// `hz`.
    pub fn hz(&self) -> u64 {
        self.hz.load(Relaxed).max(1) as u64
    }
    /// `slowlog-log-slower-than` in microseconds (negative disables).
    pub fn slowlog_slower_than(&self) -> i64 {
        self.slowlog_slower_than.load(Relaxed)
    }
    /// `slowlog-max-len`.
    pub fn slowlog_max_len(&self) -> usize {
        self.slowlog_max_len.load(Relaxed) as usize
    }
    /// `latency-tracking`: per-command latency histograms are kept.
    pub fn latency_tracking(&self) -> bool {
        self.latency_tracking.load(Relaxed)
    }
    /// `latency-tracking-info-percentiles`, as numbers.
    pub fn latency_tracking_percentiles(&self) -> Vec<f64> {
        self.get("latency-tracking-info-percentiles")
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
    /// `latency-monitor-threshold` in milliseconds (0 disables).
    pub fn latency_threshold_ms(&self) -> i64 {
        self.latency_threshold.load(Relaxed)
    }
    /// `maxmemory` in bytes; 0 when unlimited.
    #[inline]
    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Relaxed)
    }
    /// `min-replicas-to-write` (0: writes need no replicas).
    #[inline]
    pub fn min_replicas_to_write(&self) -> i64 {
        self.min_replicas.load(Relaxed)
    }

    /// `busy-reply-threshold` (alias `lua-time-limit`) in milliseconds: how long a script
    /// runs before other clients get -BUSY.
    pub fn busy_threshold_ms(&self) -> u64 {
        self.busy_threshold.load(Relaxed).max(0) as u64
    }
    /// `proto-max-bulk-len`.
    pub fn proto_max_bulk_len(&self) -> u64 {
        self.proto_max_bulk_len.load(Relaxed) as u64
    }
    /// `client-query-buffer-limit`.
    pub fn query_buffer_limit(&self) -> usize {
        self.query_buffer_limit.load(Relaxed) as usize
    }
    /// `hash-max-listpack-entries`.
    pub fn hash_max_listpack_entries(&self) -> usize {
        self.hash_max_entries.load(Relaxed) as usize
    }
    /// `hash-max-listpack-value`.
    pub fn hash_max_listpack_value(&self) -> usize {
        self.hash_max_value.load(Relaxed) as usize
    }
    /// `stream-node-max-bytes` and `stream-node-max-entries`: when XADD starts a new node.
    pub fn stream_node_limits(&self) -> crate::storage::stream::NodeLimits {
        crate::storage::stream::NodeLimits {
            max_bytes: self.stream_node_max_bytes.load(Relaxed).max(0) as u64,
            max_entries: self.stream_node_max_entries.load(Relaxed).max(0) as u64,
        }
    }

    /// `list-max-listpack-size`: positive = entries per node, -1..-5 = node size 4..64 KiB.
    pub fn list_max_listpack_size(&self) -> i64 {
        self.list_max_listpack_size.load(Relaxed)
    }
    /// `list-compress-depth` (accepted; ferrokv does not compress list nodes).
    pub fn list_compress_depth(&self) -> i64 {
        self.list_compress_depth.load(Relaxed)
    }
    /// `set-max-intset-entries`.
    pub fn set_max_intset_entries(&self) -> usize {
        self.set_max_intset_entries.load(Relaxed) as usize
    }
    /// `zset-max-listpack-entries`.
    pub fn zset_max_listpack_entries(&self) -> usize {
        self.zset_max_entries.load(Relaxed) as usize
    }
    /// `zset-max-listpack-value`.
    pub fn zset_max_listpack_value(&self) -> usize {
        self.zset_max_value.load(Relaxed) as usize
    }
    /// `hll-sparse-max-bytes`: the longest a sparse HyperLogLog may grow before it becomes
    /// dense.
    pub fn hll_sparse_max_bytes(&self) -> usize {
        self.hll_sparse_max_bytes.load(Relaxed).max(0) as usize
    }
    /// The `user` lines of the configuration file, with their line numbers.
    pub fn user_lines(&self) -> Vec<(usize, String)> {
        self.user_lines.lock().clone()
    }

    /// True when `requirepass` is set.
    pub fn has_password(&self) -> bool {
        self.has_password.load(Relaxed)
    }
    /// Whether the active expiry cycle runs (DEBUG SET-ACTIVE-EXPIRE).
    pub fn active_expire_enabled(&self) -> bool {
        self.active_expire.load(Relaxed)
    }
    /// Turn the active expiry cycle on or off.
    pub fn set_active_expire(&self, on: bool) {
        self.active_expire.store(on, Relaxed);
    }
    /// `port`.
    pub fn port(&self) -> u16 {
        self.int("port") as u16
    }
    /// `databases`.
    pub fn databases(&self) -> usize {
        self.int("databases").max(1) as usize
    }
    /// Worker threads: `io-threads`/`--threads`, or the number of cores when 0.
    pub fn threads(&self) -> usize {
        match self.int("io-threads") {
            n if n > 0 => n as usize,
            _ => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

/// A value as a config file line needs it: quoted when empty or when it has spaces,
/// quotes or unprintable bytes.
fn quote_config_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        v.to_string()
    } else {
        crate::util::repr(v.as_bytes())
    }
}

/// Why CONFIG SET refused a parameter.
#[derive(Debug)]
pub enum ConfigSetError {
    /// No such parameter.
    Unknown,
    /// The value was refused; the reason.
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_and_validation() {
        let cfg = Config::from_args(&["--port".into(), "7000".into(), "--save".into(), "".into()])
            .unwrap();
        assert_eq!(cfg.port(), 7000);
        assert_eq!(cfg.get("save"), "");
        assert!(matches!(
            cfg.set("databases", "1"),
            Err(ConfigSetError::Invalid(_))
        ));
        assert!(matches!(cfg.set("nope", "1"), Err(ConfigSetError::Unknown)));
        cfg.set("maxmemory", "1mb").unwrap();
        assert_eq!(cfg.get("maxmemory"), "1048576");
        assert_eq!(
            cfg.get_matching(b"hash-max-*").len(),
            4,
            "both canonical names and aliases match"
        );
    }
}
