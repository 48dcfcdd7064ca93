//! Configuration: Redis's parameter names, defaults and validation. Read from a redis.conf
//! style file and `--name value` arguments at start-up; CONFIG GET/SET at run time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};

use parking_lot::RwLock;

/// How a parameter's value is checked and normalised.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// A byte count that accepts `kb`, `mb`, `gb` suffixes.
    Memory {
        max: i64,
    },
    Enum(&'static [&'static str]),
    Str,
}

/// One parameter.
struct Param {
    name: &'static str,
    alias: Option<&'static str>,
    kind: Kind,
    default: &'static str,
    mutable: bool,
}

const fn p(name: &'static str, kind: Kind, default: &'static str, mutable: bool) -> Param {
    Param {
        name,
        alias: None,
        kind,
        default,
        mutable,
    }
}

const fn pa(name: &'static str, alias: &'static str, kind: Kind, default: &'static str) -> Param {
    Param {
        name,
        alias: Some(alias),
        kind,
        default,
        mutable: true,
    }
}

const INT: Kind = Kind::Int {
    min: 0,
    max: i32::MAX as i64,
};
const LONG: Kind = Kind::Int {
    min: 0,
    max: i64::MAX,
};
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];
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

/// Every supported parameter, with Redis 7.0's defaults (ferrokv's where documented).
static PARAMS: &[Param] = &[
    p("port", Kind::Int { min: 0, max: 65535 }, "6379", false),
    p("bind", Kind::Str, "127.0.0.1", false),
    p("dir", Kind::Str, "", true),
    p("dbfilename", Kind::Str, "dump.rdb", true),
    p(
        "databases",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "16",
        false,
    ),
    p("requirepass", Kind::Str, "", true),
    pa("io-threads", "threads", Kind::Int { min: 0, max: 128 }, "0"),
    p("loglevel", Kind::Enum(LOGLEVELS), "notice", true),
    p("logfile", Kind::Str, "", false),
    p("hz", Kind::Int { min: 1, max: 500 }, "10", true),
    p(
        "maxclients",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "10000",
        true,
    ),
    p("timeout", INT, "0", true),
    p("tcp-keepalive", INT, "300", true),
    p("tcp-backlog", INT, "511", false),
    p("daemonize", Kind::Bool, "no", false),
    p("protected-mode", Kind::Bool, "yes", true),
    p("pidfile", Kind::Str, "", false),
    p("unixsocket", Kind::Str, "", false),
    p(
        "proto-max-bulk-len",
        Kind::Memory { max: i64::MAX },
        "536870912",
        true,
    ),
    p(
        "client-query-buffer-limit",
        Kind::Memory { max: i64::MAX },
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
    p("latency-tracking", Kind::Bool, "yes", true),
    p(
        "latency-tracking-info-percentiles",
        Kind::Str,
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
        LONG,
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
    p("set-max-listpack-entries", LONG, "128", true),
    p("set-max-listpack-value", LONG, "64", true),
    pa(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        LONG,
        "128",
    ),
    pa(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        LONG,
        "64",
    ),
    p("maxmemory", Kind::Memory { max: i64::MAX }, "0", true),
    p("maxmemory-policy", Kind::Enum(POLICIES), "noeviction", true),
    p(
        "maxmemory-samples",
        Kind::Int { min: 1, max: 64 },
        "5",
        true,
    ),
    p("lfu-log-factor", INT, "10", true),
    p("lfu-decay-time", INT, "1", true),
    p("notify-keyspace-events", Kind::Str, "", true),
    p("appendonly", Kind::Bool, "no", true),
    p(
        "appendfsync",
        Kind::Enum(&["always", "everysec", "no"]),
        "everysec",
        true,
    ),
    p("appendfilename", Kind::Str, "appendonly.aof", false),
    p("appenddirname", Kind::Str, "appendonlydir", false),
    p("auto-aof-rewrite-percentage", INT, "100", true),
    p(
        "auto-aof-rewrite-min-size",
        Kind::Memory { max: i64::MAX },
        "67108864",
        true,
    ),
    p("aof-load-truncated", Kind::Bool, "yes", true),
    p("save", Kind::Str, "3600 1 300 100 60 10000", true),
    p("rdbcompression", Kind::Bool, "yes", true),
    p("rdbchecksum", Kind::Bool, "yes", true),
    p("stop-writes-on-bgsave-error", Kind::Bool, "yes", true),
    p("lazyfree-lazy-eviction", Kind::Bool, "no", true),
    p("lazyfree-lazy-expire", Kind::Bool, "no", true),
    p("lazyfree-lazy-server-del", Kind::Bool, "no", true),
    p("lazyfree-lazy-user-del", Kind::Bool, "no", true),
    p("lazyfree-lazy-user-flush", Kind::Bool, "no", true),
    p("activerehashing", Kind::Bool, "yes", true),
    p("dynamic-hz", Kind::Bool, "yes", true),
    p("lua-time-limit", LONG, "5000", true),
    p("busy-reply-threshold", LONG, "5000", true),
    p("cluster-enabled", Kind::Bool, "no", false),
    p("replica-read-only", Kind::Bool, "yes", true),
    p("acllog-max-len", LONG, "128", true),
    p(
        "client-output-buffer-limit",
        Kind::Str,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        true,
    ),
];

fn find_param(name: &str) -> Option<&'static Param> {
    PARAMS
        .iter()
        .find(|p| p.name == name || p.alias == Some(name))
}

/// Parse a memory amount like Redis's `memtoull` (`1gb`, `10k`, `512`).
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let (digits, mul) = [
        ("gb", 1i64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, mul)| lower.strip_suffix(suf).map(|d| (d.to_string(), *mul)))
    .unwrap_or((lower.clone(), 1));
    let n: i64 = digits.parse().ok()?;
    if n < 0 {
        return None;
    }
    n.checked_mul(mul)
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
            let n: i64 = value
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(format!(
                    "argument must be between {} and {} inclusive",
                    min, max
                ));
            }
            Ok(n.to_string())
        }
        Kind::Memory { max } => {
            let n =
                parse_memory(value).ok_or_else(|| "argument must be a memory value".to_string())?;
            if n > max {
                return Err(format!("argument must be between 0 and {} inclusive", max));
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
    proto_max_bulk_len: AtomicI64,
    query_buffer_limit: AtomicI64,
    hash_max_entries: AtomicI64,
    hash_max_value: AtomicI64,
    active_expire: AtomicBool,
    has_password: AtomicBool,
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
            proto_max_bulk_len: AtomicI64::new(512 << 20),
            query_buffer_limit: AtomicI64::new(1 << 30),
            hash_max_entries: AtomicI64::new(128),
            hash_max_value: AtomicI64::new(64),
            active_expire: AtomicBool::new(true),
            has_password: AtomicBool::new(false),
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
                cfg.config_file = Some(first.clone());
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
        let mut v = validate(param, value)?;
        if param.name == "dir" {
            if !startup {
                std::env::set_current_dir(&v).map_err(|e| e.to_string())?;
            } else {
                std::fs::create_dir_all(&v)
                    .map_err(|e| format!("Can't chdir to '{}': {}", v, e))?;
            }
            v = std::fs::canonicalize(&v)
                .map(|p| p.display().to_string())
                .unwrap_or(v);
        }
        self.values.write().insert(param.name, v);
        self.refresh_cache();
        Ok(())
    }

    /// CONFIG SET for one parameter; the error is the text after `possibly related to...`.
    pub fn set(&self, name: &str, value: &str) -> Result<(), ConfigSetError> {
        let lname = name.to_ascii_lowercase();
        if find_param(&lname).is_none() {
            return Err(ConfigSetError::Unknown);
        }
        self.set_inner(&lname, value, false)
            .map_err(ConfigSetError::Invalid)
    }

    /// The canonical name of a parameter (resolving aliases), if it exists.
    pub fn canonical_name(name: &str) -> Option<&'static str> {
        find_param(&name.to_ascii_lowercase()).map(|p| p.name)
    }

    /// CONFIG GET: every (name, value) whose name or alias matches the glob pattern.
    pub fn get_matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        let values = self.values.read();
        let mut out = Vec::new();
        for p in PARAMS {
            let value = values.get(p.name).cloned().unwrap_or_default();
            for name in std::iter::once(p.name).chain(p.alias) {
                if crate::storage::glob::glob_match(pattern, name.as_bytes(), true)
                    || pattern == b"*"
                {
                    out.push((name.to_string(), value.clone()));
                }
            }
        }
        out
    }

    /// A parameter's current value.
    pub fn get(&self, name: &str) -> String {
        self.values.read().get(name).cloned().unwrap_or_default()
    }

    fn int(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    fn refresh_cache(&self) {
        self.hz.store(self.int("hz"), Relaxed);
        self.slowlog_slower_than
            .store(self.int("slowlog-log-slower-than"), Relaxed);
        self.slowlog_max_len
            .store(self.int("slowlog-max-len"), Relaxed);
        self.latency_threshold
            .store(self.int("latency-monitor-threshold"), Relaxed);
        self.proto_max_bulk_len
            .store(self.int("proto-max-bulk-len"), Relaxed);
        self.query_buffer_limit
            .store(self.int("client-query-buffer-limit"), Relaxed);
        self.hash_max_entries
            .store(self.int("hash-max-listpack-entries"), Relaxed);
        self.hash_max_value
            .store(self.int("hash-max-listpack-value"), Relaxed);
        self.has_password
            .store(!self.get("requirepass").is_empty(), Relaxed);
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
    /// `latency-monitor-threshold` in milliseconds (0 disables).
    pub fn latency_threshold_ms(&self) -> i64 {
        self.latency_threshold.load(Relaxed)
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
            cfg.set("port", "1"),
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
