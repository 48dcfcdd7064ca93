//! The sorted set family: ZADD, ZRANGE and its variants, ZUNION/ZINTER/ZDIFF (and STORE),
//! ZPOPMIN/ZPOPMAX/ZMPOP, ZRANDMEMBER, ZSCAN and friends.
//!
//! BZPOPMIN/BZPOPMAX/BZMPOP live with the blocking commands and use this module's
//! `pub(crate)` pieces:
//!
//! * [`zset_limits`]: the encoding thresholds from the config;
//! * [`parse_zmpop`]`(args, 2)`: BZMPOP's `numkeys key... MIN|MAX [COUNT n]` after the
//!   timeout (errors and their order as Redis), giving a [`ZmpopArgs`];
//!   [`keys_after_numkeys`]`(args, 2)` is the matching `keys_fn` body;
//! * [`generic_zpop`]: pop from the first existing sorted set of a key list and reply in
//!   ZPOPMIN, BZPOPMIN (`[key, member, score]`: `emit_key`, flat, count None) or
//!   ZMPOP/BZMPOP (`[key, [[member, score]...]]`: `emit_key`, `nested`) shape, deleting the
//!   key once empty; see [`PopReply`].
//!
//! Values live in [`ZSetValue`] (listpack or skiplist, see `storage/zset.rs`); this module
//! follows Redis 7.0's `t_zset.c` for argument checks, error order and reply shapes. The
//! handlers are split by theme: `zsets/parse.rs` (Redis's number and range parsing),
//! `zsets/basic.rs` (ZADD, ZREM, ZSCORE...), `zsets/range.rs` (ZRANGE family, ZCOUNT,
//! ZREMRANGEBY*), `zsets/setops.rs` (ZUNION, ZINTER, ZDIFF, ZINTERCARD), `zsets/pop.rs`
//! (ZPOP*, ZMPOP) and `zsets/sample.rs` (ZRANDMEMBER, ZSCAN).

mod basic;
mod parse;
mod pop;
mod range;
mod sample;
mod setops;

use super::table::{argflags, doc, Arg, BeginSearch, FindKeys, KeySpec};
use super::{acl, flags, CmdError, Command, Ctx};
use crate::stats::Stats;
use crate::storage::zset::{ZSetLimits, ZSetValue};
use crate::storage::{DbView, Value};
use resp::ReplyWriter;

use basic::{zadd, zcard, zincrby, zmscore, zrank, zrem, zrevrank, zscore};
// For the blocking commands (BZPOPMIN, BZPOPMAX, BZMPOP), written elsewhere.
#[allow(unused_imports)]
pub(crate) use pop::{generic_zpop, parse_zmpop, PopReply, ZmpopArgs};
use pop::{zmpop, zpopmax, zpopmin};
use range::{
    zcount, zlexcount, zrange, zrangebylex, zrangebyscore, zrangestore, zremrangebylex,
    zremrangebyrank, zremrangebyscore, zrevrange, zrevrangebylex, zrevrangebyscore,
};
use sample::{zrandmember, zscan};
#[allow(unused_imports)]
pub(crate) use setops::{keys_after_numkeys, keys_numkeys_at_1};
use setops::{keys_store, zdiff, zdiffstore, zinter, zintercard, zinterstore, zunion, zunionstore};

/// The sorted set family's table.
pub static COMMANDS: &[Command] = &[
    Command {
        name: "zadd",
        arity: -4,
        flags: flags::WRITE | flags::DENYOOM | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "update"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "1.2.0",
        summary: "Add one or more members to a sorted set, or update its score if it already exists",
        complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        history: &[("2.4.0", "Accepts multiple elements."), ("3.0.2", "Added the `XX`, `NX`, `CH` and `INCR` options."), ("6.2.0", "Added the `GT` and `LT` options.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "condition",
                kind: "oneof",
                since: Some("3.0.2"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "nx",
                        kind: "pure-token",
                        token: Some("NX"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "xx",
                        kind: "pure-token",
                        token: Some("XX"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "comparison",
                kind: "oneof",
                since: Some("6.2.0"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "gt",
                        kind: "pure-token",
                        token: Some("GT"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "lt",
                        kind: "pure-token",
                        token: Some("LT"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "change",
                kind: "pure-token",
                token: Some("CH"),
                since: Some("3.0.2"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
            Arg {
                name: "increment",
                kind: "pure-token",
                token: Some("INCR"),
                since: Some("3.0.2"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
            Arg {
                name: "score_member",
                kind: "block",
                flags: argflags::MULTIPLE,
                args: &[
                    Arg {
                        name: "score",
                        kind: "double",
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "member",
                        kind: "string",
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
        ],
        handler: zadd,
        ..Command::DEFAULT
    },

    Command {
        name: "zrem",
        arity: -3,
        flags: flags::WRITE | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "1.2.0",
        summary: "Remove one or more members from a sorted set",
        complexity: "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.",
        history: &[("2.4.0", "Accepts multiple elements.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "member",
                kind: "string",
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
        ],
        handler: zrem,
        ..Command::DEFAULT
    },

    Command {
        name: "zscore",
        arity: 3,
        flags: flags::READONLY | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "1.2.0",
        summary: "Get the score associated with the given member in a sorted set",
        complexity: "O(1)",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "member",
                kind: "string",
                ..Arg::DEFAULT
            },
        ],
        handler: zscore,
        ..Command::DEFAULT
    },

    Command {
        name: "zmscore",
        arity: -3,
        flags: flags::READONLY | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "6.2.0",
        summary: "Get the score associated with the given members in a sorted set",
        complexity: "O(N) where N is the number of members being requested.",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "member",
                kind: "string",
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
        ],
        handler: zmscore,
        ..Command::DEFAULT
    },

    Command {
        name: "zincrby",
        arity: 4,
        flags: flags::WRITE | flags::DENYOOM | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "update"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "1.2.0",
        summary: "Increment the score of a member in a sorted set",
        complexity: "O(log(N)) where N is the number of elements in the sorted set.",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "increment",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "member",
                kind: "string",
                ..Arg::DEFAULT
            },
        ],
        handler: zincrby,
        ..Command::DEFAULT
    },

    Command {
        name: "zcard",
        arity: 2,
        flags: flags::READONLY | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "1.2.0",
        summary: "Get the number of members in a sorted set",
        complexity: "O(1)",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
        ],
        handler: zcard,
        ..Command::DEFAULT
    },

    Command {
        name: "zcount",
        arity: 4,
        flags: flags::READONLY | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "2.0.0",
        summary: "Count the members in a sorted set with scores within the given values",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "min",
                kind: "double",
                ..Arg::DEFAULT
            },
            Arg {
                name: "max",
                kind: "double",
                ..Arg::DEFAULT
            },
        ],
        handler: zcount,
        ..Command::DEFAULT
    },

    Command {
        name: "zlexcount",
        arity: 4,
        flags: flags::READONLY | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "2.8.9",
        summary: "Count the number of members in a sorted set between a given lexicographical range",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "min",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "max",
                kind: "string",
                ..Arg::DEFAULT
            },
        ],
        handler: zlexcount,
        ..Command::DEFAULT
    },

    Command {
        name: "zrange",
        arity: -4,
        flags: flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "1.2.0",
        summary: "Return a range of members in a sorted set",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
        history: &[("6.2.0", "Added the `REV`, `BYSCORE`, `BYLEX` and `LIMIT` options.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "start",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "stop",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "sortby",
                kind: "oneof",
                since: Some("6.2.0"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "byscore",
                        kind: "pure-token",
                        token: Some("BYSCORE"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "bylex",
                        kind: "pure-token",
                        token: Some("BYLEX"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "rev",
                kind: "pure-token",
                token: Some("REV"),
                since: Some("6.2.0"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
            Arg {
                name: "offset_count",
                kind: "block",
                token: Some("LIMIT"),
                since: Some("6.2.0"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "offset",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "count",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "withscores",
                kind: "pure-token",
                token: Some("WITHSCORES"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        handler: zrange,
        ..Command::DEFAULT
    },

    Command {
        name: "zrangestore",
        arity: -5,
        flags: flags::WRITE | flags::DENYOOM,
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["OW", "update"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(2),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "6.2.0",
        summary: "Store a range of members from sorted set into another key",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.",
        args: &[
            Arg {
                name: "dst",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "src",
                kind: "key",
                key_spec_index: 1,
                ..Arg::DEFAULT
            },
            Arg {
                name: "min",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "max",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "sortby",
                kind: "oneof",
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "byscore",
                        kind: "pure-token",
                        token: Some("BYSCORE"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "bylex",
                        kind: "pure-token",
                        token: Some("BYLEX"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "rev",
                kind: "pure-token",
                token: Some("REV"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
            Arg {
                name: "offset_count",
                kind: "block",
                token: Some("LIMIT"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "offset",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "count",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
        ],
        handler: zrangestore,
        ..Command::DEFAULT
    },

    Command {
        name: "zrevrange",
        arity: -4,
        flags: flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "1.2.0",
        summary: "Return a range of members in a sorted set, by index, with scores ordered from high to low",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
        doc_flags: doc::DEPRECATED,
        deprecated_since: "6.2.0",
        replaced_by: "`ZRANGE` with the `REV` argument",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "start",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "stop",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "withscores",
                kind: "pure-token",
                token: Some("WITHSCORES"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        handler: zrevrange,
        ..Command::DEFAULT
    },

    Command {
        name: "zrangebyscore",
        arity: -4,
        flags: flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "1.0.5",
        summary: "Return a range of members in a sorted set, by score",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        doc_flags: doc::DEPRECATED,
        deprecated_since: "6.2.0",
        replaced_by: "`ZRANGE` with the `BYSCORE` argument",
        history: &[("2.0.0", "Added the `WITHSCORES` modifier.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "min",
                kind: "double",
                ..Arg::DEFAULT
            },
            Arg {
                name: "max",
                kind: "double",
                ..Arg::DEFAULT
            },
            Arg {
                name: "withscores",
                kind: "pure-token",
                token: Some("WITHSCORES"),
                since: Some("2.0.0"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
            Arg {
                name: "offset_count",
                kind: "block",
                token: Some("LIMIT"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "offset",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "count",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
        ],
        handler: zrangebyscore,
        ..Command::DEFAULT
    },

    Command {
        name: "zrevrangebyscore",
        arity: -4,
        flags: flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "2.2.0",
        summary: "Return a range of members in a sorted set, by score, with scores ordered from high to low",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        doc_flags: doc::DEPRECATED,
        deprecated_since: "6.2.0",
        replaced_by: "`ZRANGE` with the `REV` and `BYSCORE` arguments",
        history: &[("2.1.6", "`min` and `max` can be exclusive.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "max",
                kind: "double",
                ..Arg::DEFAULT
            },
            Arg {
                name: "min",
                kind: "double",
                ..Arg::DEFAULT
            },
            Arg {
                name: "withscores",
                kind: "pure-token",
                token: Some("WITHSCORES"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
            Arg {
                name: "offset_count",
                kind: "block",
                token: Some("LIMIT"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "offset",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "count",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
        ],
        handler: zrevrangebyscore,
        ..Command::DEFAULT
    },

    Command {
        name: "zrangebylex",
        arity: -4,
        flags: flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "2.8.9",
        summary: "Return a range of members in a sorted set, by lexicographical range",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        doc_flags: doc::DEPRECATED,
        deprecated_since: "6.2.0",
        replaced_by: "`ZRANGE` with the `BYLEX` argument",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "min",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "max",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "offset_count",
                kind: "block",
                token: Some("LIMIT"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "offset",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "count",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
        ],
        handler: zrangebylex,
        ..Command::DEFAULT
    },

    Command {
        name: "zrevrangebylex",
        arity: -4,
        flags: flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "2.8.9",
        summary: "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        doc_flags: doc::DEPRECATED,
        deprecated_since: "6.2.0",
        replaced_by: "`ZRANGE` with the `REV` and `BYLEX` arguments",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "max",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "min",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "offset_count",
                kind: "block",
                token: Some("LIMIT"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "offset",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "count",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
        ],
        handler: zrevrangebylex,
        ..Command::DEFAULT
    },

    Command {
        name: "zrank",
        arity: 3,
        flags: flags::READONLY | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "2.0.0",
        summary: "Determine the index of a member in a sorted set",
        complexity: "O(log(N))",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "member",
                kind: "string",
                ..Arg::DEFAULT
            },
        ],
        handler: zrank,
        ..Command::DEFAULT
    },

    Command {
        name: "zrevrank",
        arity: 3,
        flags: flags::READONLY | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "2.0.0",
        summary: "Determine the index of a member in a sorted set, with scores ordered from high to low",
        complexity: "O(log(N))",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "member",
                kind: "string",
                ..Arg::DEFAULT
            },
        ],
        handler: zrevrank,
        ..Command::DEFAULT
    },

    Command {
        name: "zpopmin",
        arity: -2,
        flags: flags::WRITE | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "5.0.0",
        summary: "Remove and return members with the lowest scores in a sorted set",
        complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "count",
                kind: "integer",
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        handler: zpopmin,
        ..Command::DEFAULT
    },

    Command {
        name: "zpopmax",
        arity: -2,
        flags: flags::WRITE | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "5.0.0",
        summary: "Remove and return members with the highest scores in a sorted set",
        complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "count",
                kind: "integer",
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        handler: zpopmax,
        ..Command::DEFAULT
    },

    Command {
        name: "zmpop",
        arity: -4,
        flags: flags::WRITE,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            },
        ],
        group: "sorted-set",
        since: "7.0.0",
        summary: "Remove and return members with scores in a sorted set",
        complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        args: &[
            Arg {
                name: "numkeys",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "where",
                kind: "oneof",
                args: &[
                    Arg {
                        name: "min",
                        kind: "pure-token",
                        token: Some("MIN"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "max",
                        kind: "pure-token",
                        token: Some("MAX"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "count",
                kind: "integer",
                token: Some("COUNT"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        keys_fn: Some(keys_numkeys_at_1),
        handler: zmpop,
        ..Command::DEFAULT
    },

    Command {
        name: "zrandmember",
        arity: -2,
        flags: flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "6.2.0",
        summary: "Get one or multiple random elements from a sorted set",
        complexity: "O(N) where N is the number of elements returned",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "options",
                kind: "block",
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "count",
                        kind: "integer",
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "withscores",
                        kind: "pure-token",
                        token: Some("WITHSCORES"),
                        flags: argflags::OPTIONAL,
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
        ],
        handler: zrandmember,
        ..Command::DEFAULT
    },

    Command {
        name: "zunion",
        arity: -3,
        flags: flags::READONLY,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            },
        ],
        group: "sorted-set",
        since: "6.2.0",
        summary: "Add multiple sorted sets",
        complexity: "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
        args: &[
            Arg {
                name: "numkeys",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "weight",
                kind: "integer",
                token: Some("WEIGHTS"),
                flags: argflags::OPTIONAL | argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "aggregate",
                kind: "oneof",
                token: Some("AGGREGATE"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "sum",
                        kind: "pure-token",
                        token: Some("SUM"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "min",
                        kind: "pure-token",
                        token: Some("MIN"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "max",
                        kind: "pure-token",
                        token: Some("MAX"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "withscores",
                kind: "pure-token",
                token: Some("WITHSCORES"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        keys_fn: Some(keys_numkeys_at_1),
        handler: zunion,
        ..Command::DEFAULT
    },

    Command {
        name: "zinter",
        arity: -3,
        flags: flags::READONLY,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            },
        ],
        group: "sorted-set",
        since: "6.2.0",
        summary: "Intersect multiple sorted sets",
        complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
        args: &[
            Arg {
                name: "numkeys",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "weight",
                kind: "integer",
                token: Some("WEIGHTS"),
                flags: argflags::OPTIONAL | argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "aggregate",
                kind: "oneof",
                token: Some("AGGREGATE"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "sum",
                        kind: "pure-token",
                        token: Some("SUM"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "min",
                        kind: "pure-token",
                        token: Some("MIN"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "max",
                        kind: "pure-token",
                        token: Some("MAX"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "withscores",
                kind: "pure-token",
                token: Some("WITHSCORES"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        keys_fn: Some(keys_numkeys_at_1),
        handler: zinter,
        ..Command::DEFAULT
    },

    Command {
        name: "zdiff",
        arity: -3,
        flags: flags::READONLY,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            },
        ],
        group: "sorted-set",
        since: "6.2.0",
        summary: "Subtract multiple sorted sets",
        complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
        args: &[
            Arg {
                name: "numkeys",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "withscores",
                kind: "pure-token",
                token: Some("WITHSCORES"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        keys_fn: Some(keys_numkeys_at_1),
        handler: zdiff,
        ..Command::DEFAULT
    },

    Command {
        name: "zunionstore",
        arity: -4,
        flags: flags::WRITE | flags::DENYOOM,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["OW", "update"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(2),
                find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            },
        ],
        group: "sorted-set",
        since: "2.0.0",
        summary: "Add multiple sorted sets and store the resulting sorted set in a new key",
        complexity: "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
        args: &[
            Arg {
                name: "destination",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "numkeys",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 1,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "weight",
                kind: "integer",
                token: Some("WEIGHTS"),
                flags: argflags::OPTIONAL | argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "aggregate",
                kind: "oneof",
                token: Some("AGGREGATE"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "sum",
                        kind: "pure-token",
                        token: Some("SUM"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "min",
                        kind: "pure-token",
                        token: Some("MIN"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "max",
                        kind: "pure-token",
                        token: Some("MAX"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
        ],
        keys_fn: Some(keys_store),
        handler: zunionstore,
        ..Command::DEFAULT
    },

    Command {
        name: "zinterstore",
        arity: -4,
        flags: flags::WRITE | flags::DENYOOM,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["OW", "update"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(2),
                find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            },
        ],
        group: "sorted-set",
        since: "2.0.0",
        summary: "Intersect multiple sorted sets and store the resulting sorted set in a new key",
        complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
        args: &[
            Arg {
                name: "destination",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "numkeys",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 1,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "weight",
                kind: "integer",
                token: Some("WEIGHTS"),
                flags: argflags::OPTIONAL | argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "aggregate",
                kind: "oneof",
                token: Some("AGGREGATE"),
                flags: argflags::OPTIONAL,
                args: &[
                    Arg {
                        name: "sum",
                        kind: "pure-token",
                        token: Some("SUM"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "min",
                        kind: "pure-token",
                        token: Some("MIN"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "max",
                        kind: "pure-token",
                        token: Some("MAX"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
        ],
        keys_fn: Some(keys_store),
        handler: zinterstore,
        ..Command::DEFAULT
    },

    Command {
        name: "zdiffstore",
        arity: -4,
        flags: flags::WRITE | flags::DENYOOM,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["OW", "update"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(2),
                find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            },
        ],
        group: "sorted-set",
        since: "6.2.0",
        summary: "Subtract multiple sorted sets and store the resulting sorted set in a new key",
        complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
        args: &[
            Arg {
                name: "destination",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "numkeys",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 1,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
        ],
        keys_fn: Some(keys_store),
        handler: zdiffstore,
        ..Command::DEFAULT
    },

    Command {
        name: "zintercard",
        arity: -3,
        flags: flags::READONLY,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            },
        ],
        group: "sorted-set",
        since: "7.0.0",
        summary: "Intersect multiple sorted sets and return the cardinality of the result",
        complexity: "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
        args: &[
            Arg {
                name: "numkeys",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "limit",
                kind: "integer",
                token: Some("LIMIT"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        keys_fn: Some(keys_numkeys_at_1),
        handler: zintercard,
        ..Command::DEFAULT
    },

    Command {
        name: "zremrangebyrank",
        arity: 4,
        flags: flags::WRITE,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "2.0.0",
        summary: "Remove all members in a sorted set within the given indexes",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "start",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "stop",
                kind: "integer",
                ..Arg::DEFAULT
            },
        ],
        handler: zremrangebyrank,
        ..Command::DEFAULT
    },

    Command {
        name: "zremrangebyscore",
        arity: 4,
        flags: flags::WRITE,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "1.2.0",
        summary: "Remove all members in a sorted set within the given scores",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "min",
                kind: "double",
                ..Arg::DEFAULT
            },
            Arg {
                name: "max",
                kind: "double",
                ..Arg::DEFAULT
            },
        ],
        handler: zremrangebyscore,
        ..Command::DEFAULT
    },

    Command {
        name: "zremrangebylex",
        arity: 4,
        flags: flags::WRITE,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "2.8.9",
        summary: "Remove all members in a sorted set between the given lexicographical range",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "min",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "max",
                kind: "string",
                ..Arg::DEFAULT
            },
        ],
        handler: zremrangebylex,
        ..Command::DEFAULT
    },

    Command {
        name: "zscan",
        arity: -3,
        flags: flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::SORTEDSET,
        tips: &["nondeterministic_output"],
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "2.8.0",
        summary: "Incrementally iterate sorted sets elements and associated scores",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "cursor",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "pattern",
                kind: "pattern",
                token: Some("MATCH"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
            Arg {
                name: "count",
                kind: "integer",
                token: Some("COUNT"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        handler: zscan,
        ..Command::DEFAULT
    },
];

/// The encoding thresholds (`zset-max-listpack-entries`, `zset-max-listpack-value`), read
/// from the config at each command (both are CONFIG SET-able).
pub(crate) fn zset_limits(ctx: &Ctx) -> ZSetLimits {
    ZSetLimits {
        max_entries: ctx.server.config.zset_max_listpack_entries(),
        max_value: ctx.server.config.zset_max_listpack_value(),
    }
}

/// Look up a sorted set for reading: counts the keyspace hit or miss (as Redis, a key of
/// the wrong type is a hit) and checks the type.
fn read_zset<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
    stats: &Stats,
) -> Result<Option<&'v mut ZSetValue>, CmdError> {
    match db.value(key)? {
        None => {
            stats.hit(false);
            Ok(None)
        }
        Some(Value::ZSet(z)) => {
            stats.hit(true);
            Ok(Some(z))
        }
        Some(_) => {
            stats.hit(true);
            Err(CmdError::WrongType)
        }
    }
}

/// Look up a sorted set for writing (no hit/miss accounting): None when the key is missing.
fn write_zset<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
) -> Result<Option<&'v mut ZSetValue>, CmdError> {
    match db.value(key)? {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// After removing `removed` members from the set at `key` in place: delete the key when the
/// set is empty, else signal the change; the dirty counter grows by `removed` in total, as
/// in Redis.
fn after_removal(
    db: &mut DbView<'_, '_>,
    key: &[u8],
    removed: usize,
    empty: bool,
) -> Result<(), CmdError> {
    if removed == 0 {
        return Ok(());
    }
    if empty {
        db.delete(key)?;
    } else {
        db.modified(key)?;
    }
    db.stats.dirty(removed as u64 - 1);
    Ok(())
}

/// Reply with a range of (member, score) pairs the way ZRANGE does: an array of members,
/// with scores flat after each member in RESP2 and as `[member, score]` pairs in RESP3.
/// `n` is the number of pairs `fill` writes with [`reply_pair`].
fn reply_range_header(out: &mut ReplyWriter, n: usize, withscores: bool) {
    out.array(if withscores && !out.resp3 { n * 2 } else { n });
}

/// One element of a ZRANGE-style reply (see [`reply_range_header`]).
fn reply_pair(out: &mut ReplyWriter, member: &[u8], score: f64, withscores: bool) {
    if withscores && out.resp3 {
        out.array(2);
    }
    out.bulk(member);
    if withscores {
        out.double(score);
    }
}
