//! The documentation half of the command table: what COMMAND DOCS prints (summary, since,
//! group, complexity, history, arguments...) and the documentation parts of COMMAND INFO
//! (tips, key specs), for every command and subcommand.
//!
//! This is generated data, never written by hand: `scripts/command_meta_from_redis.py`
//! writes one JSON file per command into `meta/` from a real redis-server 7.0 (so ferrokv
//! answers byte for byte as Redis does), and `build.rs` turns the folder into the static
//! table [`DOCS`] at compile time. What dispatch needs (arity, flags, key positions, lock
//! scope, handler) stays in Rust beside each handler (`table.rs`, `families/`); the tests
//! below check that the two halves name the same commands and agree on where the keys are.

/// COMMAND DOCS `doc_flags`.
pub mod doc {
    /// `deprecated`
    pub const DEPRECATED: u32 = 1 << 0;
    /// `syscmd`
    pub const SYSCMD: u32 = 1 << 1;
}

/// COMMAND DOCS argument flags.
pub mod argflags {
    /// `optional`
    pub const OPTIONAL: u8 = 1 << 0;
    /// `multiple`
    pub const MULTIPLE: u8 = 1 << 1;
    /// `multiple_token`
    pub const MULTIPLE_TOKEN: u8 = 1 << 2;
}

/// One documented argument of a command (COMMAND DOCS), as in Redis's JSON command files.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    /// Argument name.
    pub name: &'static str,
    /// `key`, `string`, `integer`, `double`, `pattern`, `unix-time`, `pure-token`, `oneof`,
    /// `block`.
    pub kind: &'static str,
    /// Index into the command's key specs, for `key` arguments (-1: none).
    pub key_spec_index: i32,
    /// The literal token that introduces the argument (`TYPE`, `WRITE`...).
    pub token: Option<&'static str>,
    /// Short description.
    pub summary: Option<&'static str>,
    /// Version that added the argument.
    pub since: Option<&'static str>,
    /// Version that deprecated the argument.
    pub deprecated_since: Option<&'static str>,
    /// [`argflags`] bits.
    pub flags: u8,
    /// Nested arguments (`oneof` and `block`).
    pub args: &'static [Arg],
}

/// How the first key is found (COMMAND INFO key spec `begin_search`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeginSearch {
    /// At a fixed argument index.
    Index(i32),
    /// After a keyword, searched from `start_from` (negative: from the end).
    Keyword {
        /// The keyword.
        keyword: &'static str,
        /// Where the search starts.
        start_from: i32,
    },
    /// Not described by a rule (SORT's BY/GET patterns and STORE).
    Unknown,
}

/// How the keys after the first are found (key spec `find_keys`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindKeys {
    /// `lastkey` relative to the first key (negative: from the end), `keystep`, `limit`.
    Range {
        /// Last key's offset.
        lastkey: i32,
        /// Step.
        keystep: i32,
        /// Limit divisor (0: none).
        limit: i32,
    },
    /// A count argument at `keynumidx` (relative to the begin), keys from `firstkey`.
    Keynum {
        /// Index of the count.
        keynumidx: i32,
        /// First key, relative to the begin.
        firstkey: i32,
        /// Step.
        keystep: i32,
    },
    /// Not described by a rule.
    Unknown,
}

/// A Redis 7 key specification.
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    /// Notes shown by COMMAND INFO.
    pub notes: Option<&'static str>,
    /// Key flags (`RO`, `RW`, `OW`, `RM`, `access`, `update`, `insert`, `delete`...).
    pub flags: &'static [&'static str],
    /// Begin search.
    pub begin: BeginSearch,
    /// Find keys.
    pub find: FindKeys,
}

/// The documentation of one command or subcommand (one `meta/*.json` file).
#[derive(Debug)]
pub struct CommandDocs {
    /// Full name: `get`, `config|get`.
    pub name: &'static str,
    /// One-line summary (empty: none).
    pub summary: &'static str,
    /// Redis version that introduced the command.
    pub since: &'static str,
    /// COMMAND DOCS group (`string`, `generic`, `hash`, `server`...).
    pub group: &'static str,
    /// Time complexity (empty: none).
    pub complexity: &'static str,
    /// COMMAND DOCS `deprecated_since` (empty: not deprecated).
    pub deprecated_since: &'static str,
    /// COMMAND DOCS `replaced_by` (empty: none).
    pub replaced_by: &'static str,
    /// [`doc`] bits.
    pub doc_flags: u32,
    /// `history`: (version, change).
    pub history: &'static [(&'static str, &'static str)],
    /// COMMAND INFO tips (`nondeterministic_output`, `request_policy:all_nodes`...).
    pub tips: &'static [&'static str],
    /// Documented arguments.
    pub args: &'static [Arg],
    /// Redis 7 key specs, as COMMAND INFO and COMMAND GETKEYS(ANDFLAGS) use them.
    pub key_specs: &'static [KeySpec],
}

include!(concat!(env!("OUT_DIR"), "/command_docs.rs"));

/// Documentation for a command without a `meta/` file (the tests make sure there is none).
static UNDOCUMENTED: CommandDocs = CommandDocs {
    name: "",
    summary: "",
    since: "",
    group: "generic",
    complexity: "",
    deprecated_since: "",
    replaced_by: "",
    doc_flags: 0,
    history: &[],
    tips: &[],
    args: &[],
    key_specs: &[],
};

/// The documentation of `full_name` (`get`, `config|get`, lowercase).
pub fn docs(full_name: &str) -> &'static CommandDocs {
    DOCS.binary_search_by(|d| d.name.cmp(full_name))
        .ok()
        .and_then(|i| DOCS.get(i))
        .unwrap_or(&UNDOCUMENTED)
}

/// Every documented command, sorted by full name.
pub fn all() -> &'static [CommandDocs] {
    DOCS
}
