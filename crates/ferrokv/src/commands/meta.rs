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

use crate::util::eq_ic;

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

/// A key spec's flags (`RO`, `access`...), as GETKEYSANDFLAGS lists them.
pub type KeyFlags = &'static [&'static str];

/// Redis's `getKeysUsingKeySpecs`: every spec in order; `None` when a spec cannot be
/// resolved (out-of-range positions, a bad key count, an incomplete spec).
pub fn keys_from_specs(
    specs: &[KeySpec],
    argv: &[&[u8]],
    arity: i32,
) -> Option<Vec<(usize, KeyFlags)>> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for spec in specs {
        if spec.flags.contains(&"not_key") {
            continue;
        }
        let mut first: i64 = match spec.begin {
            BeginSearch::Index(i) => i as i64,
            BeginSearch::Keyword {
                keyword,
                start_from,
            } => {
                let found = keyword_position(argv, keyword, start_from as i64);
                match found {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            // Redis: a spec it cannot follow makes it use the command's key finder.
            BeginSearch::Unknown => return None,
        };
        let (last, step) = match spec.find {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let (lastkey, limit) = (lastkey as i64, limit as i64);
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, keystep as i64)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let idx = first + keynumidx as i64;
                if keynumidx as i64 >= argc || idx >= argc {
                    return None;
                }
                let numkeys: i64 = std::str::from_utf8(argv[idx as usize])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .filter(|n| *n >= 0)?;
                first += firstkey as i64;
                (first.saturating_add(numkeys) - 1, keystep as i64)
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            if i >= argc || i < first {
                // Only reachable for variadic commands: no key, the command reports it.
                debug_assert!(arity < 0);
            } else {
                out.push((i as usize, spec.flags));
            }
            i += step.max(1);
        }
        if spec.flags.contains(&"incomplete") {
            return None;
        }
    }
    Some(out)
}

/// Where `keyword` is, searching from `start_from` (negative: backwards from the end).
fn keyword_position(argv: &[&[u8]], keyword: &str, start_from: i64) -> Option<i64> {
    let argc = argv.len() as i64;
    let (start, end) = if start_from > 0 {
        (start_from, argc - 1)
    } else {
        (argc + start_from, 1)
    };
    let mut i = start;
    while i != end {
        if i >= argc || i < 1 {
            return None;
        }
        if eq_ic(argv[i as usize], keyword) {
            return Some(i);
        }
        i = if start <= end { i + 1 } else { i - 1 };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_specs_follows_redis() {
        let mset = crate::commands::registry().lookup(b"mset").expect("mset").1;
        let argv: Vec<&[u8]> = vec![b"mset", b"a", b"1", b"b", b"2"];
        let keys = keys_from_specs(docs("mset").key_specs, &argv, mset.arity).expect("keys");
        assert_eq!(keys.iter().map(|k| k.0).collect::<Vec<_>>(), vec![1, 3]);
        let bitop = crate::commands::registry()
            .lookup(b"bitop")
            .expect("bitop")
            .1;
        let argv: Vec<&[u8]> = vec![b"bitop", b"and", b"d", b"x", b"y"];
        let keys = keys_from_specs(docs("bitop").key_specs, &argv, bitop.arity).expect("keys");
        assert_eq!(keys.iter().map(|k| k.0).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(keys[0].1, &["OW", "update"]);
        assert_eq!(keys[1].1, &["RO", "access"]);
    }

    #[test]
    fn keyword_search_both_directions() {
        let argv: Vec<&[u8]> = vec![b"cmd", b"a", b"STORE", b"k", b"store", b"j"];
        assert_eq!(keyword_position(&argv, "store", 1), Some(2));
        assert_eq!(keyword_position(&argv, "store", -1), Some(4));
        assert_eq!(keyword_position(&argv, "nope", 1), None);
    }

    #[test]
    fn every_handler_has_docs_and_every_doc_a_handler() {
        let registry = crate::commands::registry();
        let handled: Vec<&str> = registry.entries.iter().map(|(n, _)| n.as_str()).collect();
        let undocumented: Vec<&&str> = handled
            .iter()
            .filter(|n| DOCS.binary_search_by(|d| d.name.cmp(n)).is_err())
            .collect();
        let unhandled: Vec<&str> = DOCS
            .iter()
            .map(|d| d.name)
            .filter(|n| !handled.contains(n))
            .collect();
        assert!(
            undocumented.is_empty() && unhandled.is_empty(),
            "commands without a meta/*.json file: {undocumented:?}\n\
             meta/*.json files without a command in the table: {unhandled:?}\n\
             (scripts/command_meta_from_redis.py writes the files; delete those of commands \
             that do not exist)"
        );
        assert!(
            DOCS.windows(2).all(|w| w[0].name < w[1].name),
            "DOCS sorted"
        );
    }

    /// Builds argument vectors from a command's documented arguments, recording where it
    /// put `key` arguments.
    struct ArgvBuilder {
        /// 0: leave out optional arguments, one of each `multiple`, first choice of each
        /// `oneof`; 1: every optional argument, two of each `multiple`, last choice; above:
        /// pseudo-random choices from this seed.
        variant: u64,
        state: u64,
        argv: Vec<Vec<u8>>,
        /// (position, key spec index) of each generated key.
        keys: Vec<(usize, i32)>,
    }

    impl ArgvBuilder {
        fn new(name: &str, variant: u64) -> ArgvBuilder {
            let argv = name.split('|').map(|p| p.as_bytes().to_vec()).collect();
            ArgvBuilder {
                variant,
                state: variant.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
                argv,
                keys: Vec::new(),
            }
        }

        fn random(&mut self) -> u64 {
            // xorshift64
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            self.state
        }

        fn include_optional(&mut self) -> bool {
            match self.variant {
                0 => false,
                1 => true,
                _ => self.random().is_multiple_of(2),
            }
        }

        fn repetitions(&mut self) -> usize {
            match self.variant {
                0 => 1,
                1 => 2,
                _ => 1 + (self.random() % 3) as usize,
            }
        }

        fn choose(&mut self, n: usize) -> usize {
            match self.variant {
                0 => 0,
                1 => n.saturating_sub(1),
                _ => (self.random() % n.max(1) as u64) as usize,
            }
        }

        fn args(&mut self, args: &[Arg]) {
            for arg in args {
                if arg.flags & argflags::OPTIONAL != 0 && !self.include_optional() {
                    continue;
                }
                let reps = if arg.flags & argflags::MULTIPLE != 0 {
                    self.repetitions()
                } else {
                    1
                };
                for rep in 0..reps {
                    if let Some(token) = arg.token {
                        if rep == 0 || arg.flags & argflags::MULTIPLE_TOKEN != 0 {
                            self.argv.push(token.as_bytes().to_vec());
                        }
                    }
                    self.value(arg);
                }
            }
        }

        fn value(&mut self, arg: &Arg) {
            let text: &[u8] = match arg.kind {
                "pure-token" => return,
                "oneof" => {
                    let i = self.choose(arg.args.len());
                    if let Some(choice) = arg.args.get(i) {
                        let mut required = *choice;
                        required.flags &= !argflags::OPTIONAL;
                        self.args(&[required]);
                    }
                    return;
                }
                "block" => {
                    self.args(arg.args);
                    return;
                }
                "key" => {
                    self.keys.push((self.argv.len(), arg.key_spec_index));
                    let key = format!("key:{}", self.argv.len());
                    self.argv.push(key.into_bytes());
                    return;
                }
                "integer" => b"1",
                "double" => b"1.5",
                "unix-time" => b"1700000000",
                "pattern" => b"pat*",
                _ => b"value",
            };
            self.argv.push(text.to_vec());
        }

        /// Write the real key counts into `numkeys` arguments (key specs of type keynum).
        fn fix_key_counts(&mut self, specs: &[KeySpec]) {
            for (index, spec) in specs.iter().enumerate() {
                if let FindKeys::Range { limit: 2, .. } = spec.find {
                    self.pair_keys_with_values(index);
                    continue;
                }
                let FindKeys::Keynum { keynumidx, .. } = spec.find else {
                    continue;
                };
                let views: Vec<&[u8]> = self.argv.iter().map(Vec::as_slice).collect();
                let begin = match spec.begin {
                    BeginSearch::Index(i) => Some(i as i64),
                    BeginSearch::Keyword {
                        keyword,
                        start_from,
                    } => keyword_position(&views, keyword, start_from as i64).map(|p| p + 1),
                    BeginSearch::Unknown => None,
                };
                let count = self.keys.iter().filter(|k| k.1 == index as i32).count();
                let slot = begin
                    .and_then(|b| usize::try_from(b + keynumidx as i64).ok())
                    .and_then(|p| self.argv.get_mut(p));
                if let Some(slot) = slot {
                    *slot = count.to_string().into_bytes();
                }
            }
        }
    }

    impl ArgvBuilder {
        /// A key spec whose keys are the first half of the remaining arguments (XREAD's
        /// `STREAMS key... id...`): make the values after the keys as many as the keys.
        fn pair_keys_with_values(&mut self, index: usize) {
            let positions: Vec<usize> = self
                .keys
                .iter()
                .filter(|k| k.1 == index as i32)
                .map(|k| k.0)
                .collect();
            let Some(&last) = positions.iter().max() else {
                return;
            };
            self.argv.truncate(last + 1);
            for _ in 0..positions.len() {
                self.argv.push(b"value".to_vec());
            }
        }
    }

    /// For every command, on argument vectors built from its documented arguments: the key
    /// positions that drive shard locking (first/last/step or `keys_fn`, declared beside
    /// the handler) are exactly where the documentation puts `key` arguments, and the key
    /// specs (where they can be followed) find the same positions.
    #[test]
    fn key_positions_agree_with_documented_key_specs() {
        let registry = crate::commands::registry();
        let mut failures = Vec::new();
        let mut checked = 0;
        for (name, cmd) in &registry.entries {
            if !cmd.subcommands.is_empty() {
                continue;
            }
            let docs = docs(name);
            for variant in 0..24 {
                let mut b = ArgvBuilder::new(name, variant);
                b.args(docs.args);
                b.fix_key_counts(docs.key_specs);
                let argv: Vec<&[u8]> = b.argv.iter().map(Vec::as_slice).collect();
                if !cmd.arity_ok(argv.len()) {
                    continue;
                }
                checked += 1;
                let not_key = |spec: i32| {
                    usize::try_from(spec)
                        .ok()
                        .and_then(|i| docs.key_specs.get(i))
                        .is_some_and(|s| s.flags.contains(&"not_key"))
                };
                let mut documented: Vec<usize> = b
                    .keys
                    .iter()
                    .filter(|(_, spec)| !not_key(*spec))
                    .map(|(p, _)| *p)
                    .collect();
                documented.sort_unstable();
                let mut locked = cmd.key_positions(&argv);
                locked.sort_unstable();
                let shown = || String::from_utf8_lossy(&argv.join(&b' ')).into_owned();
                if !docs.key_specs.is_empty()
                    && docs.key_specs.iter().all(|s| s.flags.contains(&"not_key"))
                {
                    // Shard channels (SSUBSCRIBE, SPUBLISH): Redis puts them in the legacy
                    // key range and the key specs, flagged `not_key`; they must lock nothing.
                    let mut ids = crate::commands::dispatch::LockIds::new();
                    crate::commands::dispatch::plan_locks(cmd, &argv, 0, 16, &mut ids);
                    // (COMMAND INFO's range itself is compared with Redis's by the
                    // command_meta integration test.)
                    if !ids.is_empty() {
                        failures.push(format!(
                            "{name}: `{}`: not_key arguments {locked:?} lock {} shards",
                            shown(),
                            ids.len()
                        ));
                    }
                    continue;
                }
                if locked != documented {
                    failures.push(format!(
                        "{name}: `{}`: locks {locked:?}, documented keys {documented:?}",
                        shown()
                    ));
                }
                if let Some(found) = keys_from_specs(docs.key_specs, &argv, cmd.arity) {
                    let mut found: Vec<usize> = found.iter().map(|k| k.0).collect();
                    found.sort_unstable();
                    if found != documented {
                        failures.push(format!(
                            "{name}: `{}`: key specs find {found:?}, documented keys {documented:?}",
                            shown()
                        ));
                    }
                }
            }
        }
        failures.dedup();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(
            checked > 1000,
            "only {checked} argument vectors were checked"
        );
    }

    #[test]
    fn argv_builder_follows_the_documentation() {
        let docs = docs("zunionstore");
        let mut b = ArgvBuilder::new("zunionstore", 1);
        b.args(docs.args);
        b.fix_key_counts(docs.key_specs);
        let text: Vec<String> = b
            .argv
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        assert_eq!(
            text.join(" "),
            "zunionstore key:1 2 key:3 key:4 WEIGHTS 1 1 AGGREGATE MAX"
        );
        assert_eq!(b.keys, vec![(1, 0), (3, 1), (4, 1)]);
    }
}
