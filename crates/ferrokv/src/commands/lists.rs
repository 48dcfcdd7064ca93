//! The list family: LPUSH/RPUSH(X), LPOP/RPOP, LLEN, LRANGE, LINDEX, LSET, LINSERT, LREM,
//! LTRIM, LPOS, LMOVE, RPOPLPUSH, LMPOP.
//!
//! Values live in [`ListValue`] (a quicklist, see `storage/list.rs`); this file follows
//! Redis 7.0's `t_list.c` for argument checks, error order, reply shapes and the dirty
//! counter (one per element pushed or popped, one per LSET/LINSERT/LMOVE).
//!
//! Shared with the blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP), which live
//! in another file:
//! * [`list_limits`]: node limits for lists created or grown by a command;
//! * [`parse_mpop`] / [`mpop_key_positions`]: LMPOP's `numkeys key... LEFT|RIGHT [COUNT n]`
//!   at any position (BLMPOP has its timeout first);
//! * [`pop_reply`] (LPOP/RPOP shapes), [`mpop_reply`] (LMPOP's `[key, [elements]]`) and
//!   [`finish_pop`] (delete the emptied key or signal the change, count dirty);
//! * [`move_element`] (the whole LMOVE step), built from [`check_move_target`],
//!   [`lmove_push`] (push to an existing or new destination) and [`settle_source`].

use std::ops::Range;

use super::table::{argflags, doc, Arg, BeginSearch, FindKeys, KeySpec};
use super::{acl, arg_i64, flags, CmdError, CmdResult, Command, Ctx};
use crate::stats::Stats;
use crate::storage::list::{Elem, End, ListLimits, Needle};
use crate::storage::{DbView, ListValue, Value};
use crate::util::{eq_ic, parse_canonical_i64};
use resp::ReplyWriter;

/// The list family's table.
pub static COMMANDS: &[Command] = &[
    Command {
        name: "lpush",
        arity: -3,
        flags: flags::WRITE | flags::DENYOOM | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "insert"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "1.0.0",
        summary: "Prepend one or multiple elements to a list",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        history: &[("2.4.0", "Accepts multiple `element` arguments.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "element",
                kind: "string",
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
        ],
        handler: lpush,
        ..Command::DEFAULT
    },

    Command {
        name: "rpush",
        arity: -3,
        flags: flags::WRITE | flags::DENYOOM | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "insert"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "1.0.0",
        summary: "Append one or multiple elements to a list",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        history: &[("2.4.0", "Accepts multiple `element` arguments.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "element",
                kind: "string",
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
        ],
        handler: rpush,
        ..Command::DEFAULT
    },

    Command {
        name: "lpushx",
        arity: -3,
        flags: flags::WRITE | flags::DENYOOM | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "insert"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "2.2.0",
        summary: "Prepend an element to a list, only if the list exists",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        history: &[("4.0.0", "Accepts multiple `element` arguments.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "element",
                kind: "string",
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
        ],
        handler: lpushx,
        ..Command::DEFAULT
    },

    Command {
        name: "rpushx",
        arity: -3,
        flags: flags::WRITE | flags::DENYOOM | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "insert"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "2.2.0",
        summary: "Append an element to a list, only if the list exists",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        history: &[("4.0.0", "Accepts multiple `element` arguments.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "element",
                kind: "string",
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
        ],
        handler: rpushx,
        ..Command::DEFAULT
    },

    Command {
        name: "lpop",
        arity: -2,
        flags: flags::WRITE | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "1.0.0",
        summary: "Remove and get the first elements in a list",
        complexity: "O(N) where N is the number of elements returned",
        history: &[("6.2.0", "Added the `count` argument.")],
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
                since: Some("6.2.0"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        handler: lpop,
        ..Command::DEFAULT
    },

    Command {
        name: "rpop",
        arity: -2,
        flags: flags::WRITE | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "1.0.0",
        summary: "Remove and get the last elements in a list",
        complexity: "O(N) where N is the number of elements returned",
        history: &[("6.2.0", "Added the `count` argument.")],
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
                since: Some("6.2.0"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        handler: rpop,
        ..Command::DEFAULT
    },

    Command {
        name: "llen",
        arity: 2,
        flags: flags::READONLY | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "1.0.0",
        summary: "Get the length of a list",
        complexity: "O(1)",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
        ],
        handler: llen,
        ..Command::DEFAULT
    },

    Command {
        name: "lrange",
        arity: 4,
        flags: flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "1.0.0",
        summary: "Get a range of elements from a list",
        complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
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
        handler: lrange,
        ..Command::DEFAULT
    },

    Command {
        name: "lindex",
        arity: 3,
        flags: flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "1.0.0",
        summary: "Get an element from a list by its index",
        complexity: "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "index",
                kind: "integer",
                ..Arg::DEFAULT
            },
        ],
        handler: lindex,
        ..Command::DEFAULT
    },

    Command {
        name: "lset",
        arity: 4,
        flags: flags::WRITE | flags::DENYOOM,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "update"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "1.0.0",
        summary: "Set the value of an element in a list by its index",
        complexity: "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "index",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "element",
                kind: "string",
                ..Arg::DEFAULT
            },
        ],
        handler: lset,
        ..Command::DEFAULT
    },

    Command {
        name: "linsert",
        arity: 5,
        flags: flags::WRITE | flags::DENYOOM,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "insert"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "2.2.0",
        summary: "Insert an element before or after another element in a list",
        complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "where",
                kind: "oneof",
                args: &[
                    Arg {
                        name: "before",
                        kind: "pure-token",
                        token: Some("BEFORE"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "after",
                        kind: "pure-token",
                        token: Some("AFTER"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "pivot",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "element",
                kind: "string",
                ..Arg::DEFAULT
            },
        ],
        handler: linsert,
        ..Command::DEFAULT
    },

    Command {
        name: "lrem",
        arity: 4,
        flags: flags::WRITE,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "1.0.0",
        summary: "Remove elements from a list",
        complexity: "O(N+M) where N is the length of the list and M is the number of elements removed.",
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
                ..Arg::DEFAULT
            },
            Arg {
                name: "element",
                kind: "string",
                ..Arg::DEFAULT
            },
        ],
        handler: lrem,
        ..Command::DEFAULT
    },

    Command {
        name: "ltrim",
        arity: 4,
        flags: flags::WRITE,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "1.0.0",
        summary: "Trim a list to the specified range",
        complexity: "O(N) where N is the number of elements to be removed by the operation.",
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
        handler: ltrim,
        ..Command::DEFAULT
    },

    Command {
        name: "lpos",
        arity: -3,
        flags: flags::READONLY,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RO", "access"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "6.0.6",
        summary: "Return the index of matching elements on a list",
        complexity: "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.",
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "element",
                kind: "string",
                ..Arg::DEFAULT
            },
            Arg {
                name: "rank",
                kind: "integer",
                token: Some("RANK"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
            Arg {
                name: "num-matches",
                kind: "integer",
                token: Some("COUNT"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
            Arg {
                name: "len",
                kind: "integer",
                token: Some("MAXLEN"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        handler: lpos,
        ..Command::DEFAULT
    },

    Command {
        name: "lmove",
        arity: 5,
        flags: flags::WRITE | flags::DENYOOM,
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
            KeySpec {
                notes: None,
                flags: &["RW", "insert"],
                begin: BeginSearch::Index(2),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "6.2.0",
        summary: "Pop an element from a list, push it to another list and return it",
        complexity: "O(1)",
        args: &[
            Arg {
                name: "source",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "destination",
                kind: "key",
                key_spec_index: 1,
                ..Arg::DEFAULT
            },
            Arg {
                name: "wherefrom",
                kind: "oneof",
                args: &[
                    Arg {
                        name: "left",
                        kind: "pure-token",
                        token: Some("LEFT"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "right",
                        kind: "pure-token",
                        token: Some("RIGHT"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "whereto",
                kind: "oneof",
                args: &[
                    Arg {
                        name: "left",
                        kind: "pure-token",
                        token: Some("LEFT"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "right",
                        kind: "pure-token",
                        token: Some("RIGHT"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
        ],
        handler: lmove,
        ..Command::DEFAULT
    },

    Command {
        name: "rpoplpush",
        arity: 3,
        flags: flags::WRITE | flags::DENYOOM,
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
            KeySpec {
                notes: None,
                flags: &["RW", "insert"],
                begin: BeginSearch::Index(2),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "1.2.0",
        summary: "Remove the last element in a list, prepend it to another list and return it",
        complexity: "O(1)",
        doc_flags: doc::DEPRECATED,
        deprecated_since: "6.2.0",
        replaced_by: "`LMOVE` with the `RIGHT` and `LEFT` arguments",
        args: &[
            Arg {
                name: "source",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "destination",
                kind: "key",
                key_spec_index: 1,
                ..Arg::DEFAULT
            },
        ],
        handler: rpoplpush,
        ..Command::DEFAULT
    },

    Command {
        name: "lmpop",
        arity: -4,
        flags: flags::WRITE,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            },
        ],
        group: "list",
        since: "7.0.0",
        summary: "Pop elements from a list",
        complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
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
                        name: "left",
                        kind: "pure-token",
                        token: Some("LEFT"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "right",
                        kind: "pure-token",
                        token: Some("RIGHT"),
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
        handler: lmpop,
        keys_fn: Some(lmpop_keys),
        ..Command::DEFAULT
    },

];

// ---------------------------------------------------------------------------------------
// Shared helpers (also used by the blocking list commands)
// ---------------------------------------------------------------------------------------

/// `LPOP key count` with a negative or non-numeric count.
const ERR_MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
/// LSET past either end.
const ERR_INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
const ERR_RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
const ERR_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
const ERR_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
const ERR_NUMKEYS: &str = "ERR numkeys should be greater than 0";
const ERR_MPOP_COUNT: &str = "ERR count should be greater than 0";

/// Node limits for lists created or grown now (`list-max-listpack-size`).
pub(crate) fn list_limits(ctx: &Ctx) -> ListLimits {
    ListLimits {
        max_listpack_size: ctx.server.config.list_max_listpack_size(),
    }
}

/// Redis's `getRangeLongFromObjectOrReply` with a message: `msg` both when the argument is
/// not an integer and when it is outside `min..=max`.
fn arg_in_range(arg: &[u8], min: i64, max: i64, msg: &'static str) -> Result<i64, CmdError> {
    match parse_canonical_i64(arg) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(CmdError::Static(msg)),
    }
}

/// `LEFT` or `RIGHT` (any case), else a syntax error.
pub(crate) fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if eq_ic(arg, "left") {
        Ok(End::Left)
    } else if eq_ic(arg, "right") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Look up a list for reading: counts the keyspace hit or miss (as Redis, a key of the
/// wrong type is a hit) and checks the type.
fn read_list<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
    stats: &Stats,
) -> Result<Option<&'v mut ListValue>, CmdError> {
    match db.value(key)? {
        None => {
            stats.hit(false);
            Ok(None)
        }
        Some(Value::List(l)) => {
            stats.hit(true);
            Ok(Some(l))
        }
        Some(_) => {
            stats.hit(true);
            Err(CmdError::WrongType)
        }
    }
}

/// Look up a list for writing (no hit/miss accounting): None when the key is missing.
fn write_list<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
) -> Result<Option<&'v mut ListValue>, CmdError> {
    match db.value(key)? {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Reply with one element as a bulk string.
fn reply_elem(out: &mut ReplyWriter, e: Elem<'_>) {
    match e {
        Elem::Str(s) => out.bulk(s),
        Elem::Int(n) => out.bulk_int(n),
    }
}

/// Signal a change of `key` to WATCHers without counting it in the dirty counter (for
/// commands whose dirty count Redis does not tie to each key they touch).
fn signal_quiet(db: &mut DbView<'_, '_>, key: &[u8]) -> Result<(), CmdError> {
    db.shard(key)?.touch_watched(key);
    Ok(())
}

/// Pop from `list` at `end` and reply as LPOP/RPOP do: without a count, one bulk string
/// (null if the list is empty); with a count, an array of up to `count` elements in pop
/// order. Returns the number of elements popped; the caller then calls [`finish_pop`].
/// (LPOP's count 0 and missing-key replies are handled before, by the caller.)
pub(crate) fn pop_reply(
    out: &mut ReplyWriter,
    list: &mut ListValue,
    end: End,
    count: Option<usize>,
) -> usize {
    match count {
        None => match list.pop(end) {
            Some(v) => {
                out.bulk(&v);
                1
            }
            None => {
                out.null();
                0
            }
        },
        Some(n) => {
            out.array(n.min(list.len()));
            list.pop_n(end, n, |e| reply_elem(out, e))
        }
    }
}

/// Pop up to `count` elements of `list` (stored under `key`) at `end` and reply as LMPOP
/// and BLMPOP do: `[key, [elements]]`. Returns the number popped; then call [`finish_pop`].
pub(crate) fn mpop_reply(
    out: &mut ReplyWriter,
    key: &[u8],
    list: &mut ListValue,
    end: End,
    count: usize,
) -> usize {
    out.array(2);
    out.bulk(key);
    pop_reply(out, list, end, Some(count))
}

/// After `popped` elements were popped from the list at `key`: delete the key if the list
/// is now empty, else signal the change (WATCH); counts `popped` changes as dirty.
pub(crate) fn finish_pop(db: &mut DbView<'_, '_>, key: &[u8], popped: usize) -> CmdResult {
    if popped == 0 {
        return Ok(());
    }
    let empty = matches!(db.value(key)?, Some(Value::List(l)) if l.is_empty());
    if empty {
        db.delete(key)?;
    } else {
        db.modified(key)?;
    }
    db.stats.dirty(popped as u64 - 1);
    Ok(())
}

/// LMPOP's (and BLMPOP's) arguments after parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MPop {
    /// Positions of the keys in the argument vector.
    pub keys: Range<usize>,
    /// Which end to pop from.
    pub end: End,
    /// Most elements to pop (1 without COUNT).
    pub count: usize,
}

/// Parse `numkeys key [key ...] LEFT|RIGHT [COUNT count]` with `numkeys` at
/// `args[numkeys_at]` (1 for LMPOP, 2 for BLMPOP), with Redis's errors in Redis's order.
pub(crate) fn parse_mpop(args: &[&[u8]], numkeys_at: usize) -> Result<MPop, CmdError> {
    let numkeys_arg = args.get(numkeys_at).ok_or(CmdError::WrongArity)?;
    let numkeys = arg_in_range(numkeys_arg, 1, i64::MAX, ERR_NUMKEYS)? as usize;
    let first = numkeys_at + 1;
    let where_at = first.saturating_add(numkeys);
    let end = match args.get(where_at) {
        Some(a) => parse_end(a)?,
        None => return Err(CmdError::Syntax),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while let Some(opt) = args.get(j) {
        match args.get(j + 1) {
            Some(n) if count.is_none() && eq_ic(opt, "count") => {
                count = Some(arg_in_range(n, 1, i64::MAX, ERR_MPOP_COUNT)? as usize);
                j += 2;
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(MPop {
        keys: first..where_at,
        end,
        count: count.unwrap_or(1),
    })
}

/// Key positions of an LMPOP-style argument vector with `numkeys` at `numkeys_at` (the
/// table's `keys_fn`, for shard locking and for COMMAND GETKEYS when the key spec does not
/// apply). As Redis's `genericGetKeys` (`lmpopGetKeys`, `blmpopGetKeys`): numkeys read with
/// C's `atoi`, no keys unless `1 <= numkeys <= argc - numkeys_at - 1`. Whenever the handler
/// gets as far as touching keys, these are exactly its keys.
pub(crate) fn mpop_key_positions(args: &[&[u8]], numkeys_at: usize) -> Vec<usize> {
    let first = numkeys_at + 1;
    let num = args.get(numkeys_at).map_or(0, |a| c_atoi(a));
    if num < 1 || num as usize > args.len().saturating_sub(first) {
        return Vec::new();
    }
    (first..first + num as usize).collect()
}

/// glibc's `atoi`: `(int)strtol(s, NULL, 10)` (leading spaces, a sign, digits; saturated to
/// the i64 range, then truncated to 32 bits).
fn c_atoi(s: &[u8]) -> i32 {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for d in digits.iter().take_while(|c| c.is_ascii_digit()) {
        let d = (d - b'0') as i64;
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    v as i32
}

fn lmpop_keys(args: &[&[u8]]) -> Vec<usize> {
    mpop_key_positions(args, 1)
}

/// WRONGTYPE if `dst` holds something other than a list (LMOVE checks it before popping).
pub(crate) fn check_move_target(db: &mut DbView<'_, '_>, dst: &[u8]) -> CmdResult {
    match db.value(dst)? {
        None | Some(Value::List(_)) => Ok(()),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// LMOVE's push step: push `value` at `to` of the list at `dst`, creating it if missing
/// (WRONGTYPE, and nothing changed, if `dst` holds another type). Signals `dst` and counts
/// the move as one dirty change.
pub(crate) fn lmove_push(
    db: &mut DbView<'_, '_>,
    dst: &[u8],
    value: &[u8],
    to: End,
    limits: ListLimits,
) -> CmdResult {
    match db.value(dst)? {
        Some(Value::List(l)) => {
            l.push(to, value, limits);
            db.modified(dst)
        }
        Some(_) => Err(CmdError::WrongType),
        None => {
            let mut l = ListValue::new();
            l.push(to, value, limits);
            db.set(dst, Value::List(l))
        }
    }
}

/// After an element was popped from `src` by a move: delete `src` if its list is now empty
/// and signal it (WATCH), without another dirty count (Redis counts a move once).
pub(crate) fn settle_source(db: &mut DbView<'_, '_>, src: &[u8]) -> CmdResult {
    let empty = matches!(db.value(src)?, Some(Value::List(l)) if l.is_empty());
    let shard = db.shard(src)?;
    if empty {
        shard.remove(src);
    }
    shard.touch_watched(src);
    Ok(())
}

/// The whole LMOVE step: pop at `from` of `src`, push at `to` of `dst`, as Redis's
/// `lmoveGenericCommand` (source type, then destination type checked before popping;
/// `src == dst` rotates). Returns the moved element (the caller replies with it), or None
/// when `src` is missing.
pub(crate) fn move_element(
    db: &mut DbView<'_, '_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    limits: ListLimits,
) -> Result<Option<Vec<u8>>, CmdError> {
    if write_list(db, src)?.is_none_or(|l| l.is_empty()) {
        return Ok(None);
    }
    check_move_target(db, dst)?;
    let Some(value) = write_list(db, src)?.and_then(|l| l.pop(from)) else {
        return Ok(None);
    };
    lmove_push(db, dst, &value, to, limits)?;
    if src != dst {
        settle_source(db, src)?;
    }
    Ok(Some(value))
}

// ---------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------

/// LPUSH/RPUSH/LPUSHX/RPUSHX (`xx`: only onto an existing list).
fn push_generic(ctx: &mut Ctx, args: &[&[u8]], end: End, xx: bool) -> CmdResult {
    let (key, items) = (args[1], &args[2..]);
    let limits = list_limits(ctx);
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let len = match write_list(&mut db, key)? {
        Some(list) => {
            items.iter().for_each(|it| list.push(end, it, limits));
            let len = list.len();
            db.modified(key)?;
            len
        }
        None if xx => {
            out.int(0);
            return Ok(());
        }
        None => {
            let mut list = ListValue::new();
            items.iter().for_each(|it| list.push(end, it, limits));
            let len = list.len();
            db.set(key, Value::List(list))?;
            len
        }
    };
    stats.dirty(items.len().saturating_sub(1) as u64);
    out.int(len as i64);
    Ok(())
}

fn lpush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push_generic(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push_generic(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push_generic(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push_generic(ctx, args, End::Right, true)
}

/// LPOP/RPOP `key [count]`.
fn pop_generic(ctx: &mut Ctx, args: &[&[u8]], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::WrongArity);
    }
    let count = match args.get(2) {
        Some(a) => Some(arg_in_range(a, 0, i64::MAX, ERR_MUST_BE_POSITIVE)? as usize),
        None => None,
    };
    let key = args[1];
    let (mut db, out) = ctx.db_out();
    let Some(list) = write_list(&mut db, key)? else {
        if count.is_some() {
            out.null_array();
        } else {
            out.null();
        }
        return Ok(());
    };
    if count == Some(0) {
        out.array(0);
        return Ok(());
    }
    let popped = pop_reply(out, list, end, count);
    finish_pop(&mut db, key, popped)
}

fn lpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, args, End::Right)
}

fn lmpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mpop = parse_mpop(args, 1)?;
    let keys = args.get(mpop.keys.clone()).unwrap_or_default();
    let (mut db, out) = ctx.db_out();
    for key in keys {
        match write_list(&mut db, key)? {
            Some(list) if !list.is_empty() => {
                let popped = mpop_reply(out, key, list, mpop.end, mpop.count);
                return finish_pop(&mut db, key, popped);
            }
            _ => {}
        }
    }
    out.null_array();
    Ok(())
}

fn llen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let n = read_list(&mut db, args[1], stats)?.map_or(0, |l| l.len());
    out.int(n as i64);
    Ok(())
}

fn lrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let start = arg_i64(args[2])?;
    let stop = arg_i64(args[3])?;
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(list) = read_list(&mut db, args[1], stats)? else {
        out.array(0);
        return Ok(());
    };
    match clamp_range(list.len(), start, stop) {
        Some((first, n)) => {
            out.array(n);
            list.iter_at(first, n, true)
                .for_each(|e| reply_elem(out, e));
        }
        None => out.array(0),
    }
    Ok(())
}

/// Redis's range normalization (LRANGE, LTRIM): negative indexes count from the tail;
/// Some((first position, number of elements)) or None for an empty range.
fn clamp_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    let stop = stop.min(len - 1);
    Some((start as usize, (stop - start + 1) as usize))
}

fn ltrim(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let start = arg_i64(args[2])?;
    let stop = arg_i64(args[3])?;
    let key = args[1];
    let limits = list_limits(ctx);
    let (mut db, out) = ctx.db_out();
    let Some(list) = write_list(&mut db, key)? else {
        out.ok();
        return Ok(());
    };
    let len = list.len();
    let (ltrim, rtrim) = match clamp_range(len, start, stop) {
        Some((first, n)) => (first, len - first - n),
        None => (len, 0),
    };
    list.trim(ltrim, rtrim, limits);
    let empty = list.is_empty();
    let removed = (ltrim + rtrim) as u64;
    // Redis signals the key even when nothing was trimmed, and counts one change per
    // element removed.
    if empty {
        db.delete(key)?;
    } else if removed > 0 {
        db.modified(key)?;
    } else {
        signal_quiet(&mut db, key)?;
    }
    db.stats.dirty(removed.saturating_sub(1));
    out.ok();
    Ok(())
}

fn lindex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(list) = read_list(&mut db, args[1], stats)? else {
        out.null();
        return Ok(());
    };
    let index = arg_i64(args[2])?;
    match list.index(index).and_then(|i| list.get(i)) {
        Some(e) => reply_elem(out, e),
        None => out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let limits = list_limits(ctx);
    let (mut db, out) = ctx.db_out();
    let list = write_list(&mut db, key)?.ok_or(CmdError::NoSuchKey)?;
    let index = arg_i64(args[2])?;
    let done = list
        .index(index)
        .is_some_and(|i| list.set(i, args[3], limits));
    if !done {
        return Err(CmdError::Static(ERR_INDEX_OUT_OF_RANGE));
    }
    db.modified(key)?;
    out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let after = if eq_ic(args[2], "after") {
        true
    } else if eq_ic(args[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let key = args[1];
    let limits = list_limits(ctx);
    let (mut db, out) = ctx.db_out();
    let Some(list) = write_list(&mut db, key)? else {
        out.int(0);
        return Ok(());
    };
    if !list.insert(args[3], args[4], after, limits) {
        out.int(-1);
        return Ok(());
    }
    let len = list.len();
    db.modified(key)?;
    out.int(len as i64);
    Ok(())
}

fn lrem(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let toremove = arg_i64(args[2])?;
    let key = args[1];
    let limits = list_limits(ctx);
    let (mut db, out) = ctx.db_out();
    let Some(list) = write_list(&mut db, key)? else {
        out.int(0);
        return Ok(());
    };
    // A negative count scans from the tail. Redis negates it in a C long, so i64::MIN stays
    // negative and never matches the number removed: everything goes, as with 0.
    let (max, from_tail) = match toremove {
        i64::MIN => (0, true),
        n if n < 0 => (n.unsigned_abs() as usize, true),
        n => (n as usize, false),
    };
    let removed = list.remove(args[3], max, from_tail, limits);
    if removed > 0 {
        if list.is_empty() {
            db.delete(key)?;
        } else {
            db.modified(key)?;
        }
        db.stats.dirty(removed as u64 - 1);
    }
    out.int(removed as i64);
    Ok(())
}

/// LPOS's options.
struct LposOpts {
    rank: i64,
    /// -1 when COUNT was not given.
    count: i64,
    maxlen: i64,
}

fn parse_lpos(args: &[&[u8]]) -> Result<LposOpts, CmdError> {
    let mut o = LposOpts {
        rank: 1,
        count: -1,
        maxlen: 0,
    };
    let mut j = 3;
    while let Some(opt) = args.get(j) {
        let Some(&val) = args.get(j + 1) else {
            return Err(CmdError::Syntax);
        };
        if eq_ic(opt, "rank") {
            o.rank = arg_i64(val)?;
            if o.rank == 0 {
                return Err(CmdError::Static(ERR_RANK_ZERO));
            }
        } else if eq_ic(opt, "count") {
            o.count = arg_in_range(val, 0, i64::MAX, ERR_COUNT_NEGATIVE)?;
        } else if eq_ic(opt, "maxlen") {
            o.maxlen = arg_in_range(val, 0, i64::MAX, ERR_MAXLEN_NEGATIVE)?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    Ok(o)
}

fn lpos(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let LposOpts {
        mut rank,
        count,
        maxlen,
    } = parse_lpos(args)?;
    // A negative rank searches from the tail. Redis negates it in a C long: i64::MIN stays
    // negative, so every match qualifies; the wrapping arithmetic below keeps that.
    let forward = rank >= 0;
    if !forward {
        rank = rank.wrapping_neg();
    }
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(list) = read_list(&mut db, args[1], stats)? else {
        if count != -1 {
            out.array(0);
        } else {
            out.null();
        }
        return Ok(());
    };
    let needle = Needle::new(args[2]);
    let len = list.len();
    let iter = if forward {
        list.iter()
    } else {
        list.iter_at(len.saturating_sub(1), len, false)
    };
    let (mut index, mut matches, mut matchindex) = (0i64, 0i64, -1i64);
    let mut found = Vec::new();
    for e in iter {
        if maxlen != 0 && index >= maxlen {
            break;
        }
        if e.matches(&needle) {
            matches += 1;
            matchindex = if forward {
                index
            } else {
                len as i64 - index - 1
            };
            if matches >= rank {
                if count == -1 {
                    break;
                }
                found.push(matchindex);
                if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                    break;
                }
            }
        }
        index += 1;
        matchindex = -1;
    }
    if count != -1 {
        out.array(found.len());
        found.into_iter().for_each(|i| out.int(i));
    } else if matchindex != -1 {
        out.int(matchindex);
    } else {
        out.null();
    }
    Ok(())
}

fn lmove(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let from = parse_end(args[3])?;
    let to = parse_end(args[4])?;
    lmove_generic(ctx, args[1], args[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    lmove_generic(ctx, args[1], args[2], End::Right, End::Left)
}

fn lmove_generic(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let limits = list_limits(ctx);
    let (mut db, out) = ctx.db_out();
    match move_element(&mut db, src, dst, from, to, limits)? {
        Some(v) => out.bulk(&v),
        None => out.null(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<&[u8]> {
        s.split(' ').map(str::as_bytes).collect()
    }

    #[test]
    fn mpop_parsing_for_both_commands() {
        let a = argv("LMPOP 2 k1 k2 RIGHT COUNT 3");
        assert_eq!(
            parse_mpop(&a, 1),
            Ok(MPop {
                keys: 2..4,
                end: End::Right,
                count: 3
            })
        );
        let b = argv("BLMPOP 0.5 1 k1 left");
        assert_eq!(
            parse_mpop(&b, 2),
            Ok(MPop {
                keys: 3..4,
                end: End::Left,
                count: 1
            })
        );
        assert_eq!(mpop_key_positions(&a, 1), vec![2, 3]);
        assert_eq!(mpop_key_positions(&b, 2), vec![3]);
        let bad = [
            ("LMPOP 0 k LEFT", CmdError::Static(ERR_NUMKEYS)),
            ("LMPOP 2 k LEFT", CmdError::Syntax),
            ("LMPOP 1 k UP", CmdError::Syntax),
            ("LMPOP 1 k LEFT COUNT 0", CmdError::Static(ERR_MPOP_COUNT)),
            ("LMPOP 1 k LEFT COUNT 1 COUNT 1", CmdError::Syntax),
            ("LMPOP 9223372036854775807 k LEFT", CmdError::Syntax),
        ];
        for (line, err) in bad {
            assert_eq!(parse_mpop(&argv(line), 1), Err(err), "{line}");
        }
        assert!(mpop_key_positions(&argv("LMPOP 3 k LEFT"), 1).is_empty());
        assert!(mpop_key_positions(&argv("LMPOP 9223372036854775807 k LEFT"), 1).is_empty());
        assert_eq!(mpop_key_positions(&argv("LMPOP 2 k LEFT"), 1), vec![2, 3]);
    }

    #[test]
    fn atoi_like_glibc() {
        assert_eq!(c_atoi(b"12x"), 12);
        assert_eq!(c_atoi(b"  -3"), -3);
        assert_eq!(c_atoi(b"+4"), 4);
        assert_eq!(c_atoi(b"x"), 0);
        assert_eq!(c_atoi(b"4294967297"), 1);
        assert_eq!(c_atoi(b"9223372036854775807"), -1);
        assert_eq!(c_atoi(b"99999999999999999999"), -1);
    }

    #[test]
    fn ranges_like_redis() {
        assert_eq!(clamp_range(10, 0, -1), Some((0, 10)));
        assert_eq!(clamp_range(10, -3, -1), Some((7, 3)));
        assert_eq!(clamp_range(10, 5, 2), None);
        assert_eq!(clamp_range(10, 10, 20), None);
        assert_eq!(clamp_range(10, i64::MIN, i64::MAX), Some((0, 10)));
        assert_eq!(clamp_range(0, 0, -1), None);
    }
}
