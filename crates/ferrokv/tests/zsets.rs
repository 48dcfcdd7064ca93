//! Sorted sets against redis-server: seeded random command sequences over a few keys, with
//! the whole dataset's `DEBUG DIGEST` compared after every step (see `common/diff.rs`).
//!
//! The encoding thresholds are CONFIG SET small now and then, so sets go through the
//! listpack -> skiplist conversion. Replies that are random or follow a hash table's order
//! (ZRANDMEMBER with small counts, ZSCAN of a skiplist) are left out; lex ranges run on one
//! key whose scores are all 0 (on mixed scores a skiplist's lex walk depends on its random
//! levels).

mod common;

use common::diff::{run_random_sequences, Placeholder, BASE_PLACEHOLDERS};

const TEMPLATES: &[&str] = &[
    // writes
    "ZADD {key} {zflags} {score} {member}",
    "ZADD {key} {score} {member} {score} {member} {score} {member}",
    "ZADD {key} {score} {member} {score} {member}",
    "ZINCRBY {key} {score} {member}",
    "ZREM {key} {member} {member}",
    "ZPOPMIN {key}",
    "ZPOPMAX {key} {n}",
    "ZPOPMIN {key} {n}",
    "ZMPOP 2 {key} {key} {minmax} COUNT {n}",
    "ZMPOP 1 {key} {minmax}",
    "ZREMRANGEBYRANK {key} {idx} {idx}",
    "ZREMRANGEBYSCORE {key} {min} {max}",
    "ZRANGESTORE {key} {key} {idx} {idx} {rev}",
    "ZRANGESTORE {key} {key} {min} {max} BYSCORE LIMIT {idx} {n}",
    "ZUNIONSTORE {key} 2 {key} {key} WEIGHTS {weight} {weight} AGGREGATE {agg}",
    "ZUNIONSTORE {key} 1 {key}",
    "ZINTERSTORE {key} 2 {key} {key} AGGREGATE {agg}",
    "ZINTERSTORE {key} 3 {key} {key} {key} WEIGHTS {weight} {weight} {weight}",
    "ZDIFFSTORE {key} 2 {key} {key}",
    // reads
    "ZSCORE {key} {member}",
    "ZMSCORE {key} {member} {member}",
    "ZCARD {key}",
    "ZRANK {key} {member}",
    "ZREVRANK {key} {member}",
    "ZCOUNT {key} {min} {max}",
    "ZRANGE {key} {idx} {idx} {withscores}",
    "ZRANGE {key} {idx} {idx} REV {withscores}",
    "ZRANGE {key} {min} {max} BYSCORE {rev} LIMIT {idx} {n} {withscores}",
    "ZREVRANGE {key} {idx} {idx} {withscores}",
    "ZRANGEBYSCORE {key} {min} {max} {withscores}",
    "ZRANGEBYSCORE {key} {min} {max} LIMIT {idx} {n}",
    "ZREVRANGEBYSCORE {key} {max} {min} {withscores} LIMIT {idx} {n}",
    "ZUNION 2 {key} {key} WEIGHTS {weight} {weight} AGGREGATE {agg} WITHSCORES",
    "ZUNION 3 {key} {key} {key} WITHSCORES",
    "ZINTER 2 {key} {key} AGGREGATE {agg} WITHSCORES",
    "ZINTER 2 {key} {key} WEIGHTS {weight} {weight} WITHSCORES",
    "ZDIFF 2 {key} {key} WITHSCORES",
    "ZINTERCARD 2 {key} {key} LIMIT {n}",
    "ZRANDMEMBER {key} 100 WITHSCORES",
    "ZRANDMEMBER {key} 0",
    "ZSCAN {key} 0 COUNT 1000 MATCH {member}",
    "DEBUG DIGEST-VALUE {key}",
    // lex ranges on a key whose scores are all 0
    "ZADD lx 0 {member} 0 {member}",
    "ZREM lx {member}",
    "ZRANGEBYLEX lx {lex} {lex} LIMIT {idx} {n}",
    "ZREVRANGEBYLEX lx {lex} {lex}",
    "ZRANGE lx {lex} {lex} BYLEX {rev}",
    "ZLEXCOUNT lx {lex} {lex}",
    "ZREMRANGEBYLEX lx {lex} {lex}",
    "ZRANGESTORE {key} lx {lex} {lex} BYLEX",
    "ZUNIONSTORE lx 2 lx {key} WEIGHTS 0 0",
    // generic
    "TYPE {key}",
    "DEL {key}",
    "EXISTS {key}",
    "RENAME {key} {key}",
    "OBJECT ENCODING {key}",
    "OBJECT ENCODING lx",
    "SET {key} {val}",
    "COPY {key} {key}",
    "CONFIG SET zset-max-listpack-entries {lpsize}",
    "CONFIG SET zset-max-listpack-value {lpvalue}",
];

const PLACEHOLDERS: &[Placeholder<'static>] = &[
    (
        "member",
        &[
            "m1",
            "m2",
            "m3",
            "m4",
            "m5",
            "m6",
            "\"\"",
            "long-member-name-x",
            "10",
        ],
    ),
    (
        "score",
        &[
            "0", "1", "-1", "2.5", "3", "inf", "-inf", "1e3", "-0", "0.1", "x",
        ],
    ),
    ("weight", &["1", "2", "0", "-1", "inf", "0.5"]),
    (
        "zflags",
        &[
            "", "NX", "XX", "GT", "LT", "CH", "XX GT CH", "LT CH", "INCR", "NX INCR", "GT INCR",
        ],
    ),
    (
        "min",
        &["-inf", "0", "(0", "1", "(1", "2.5", "(3", "inf", "x"],
    ),
    ("max", &["+inf", "0", "1", "(1", "3", "(2.5", "1e3", "-inf"]),
    ("lex", &["-", "+", "[m2", "(m3", "[m", "(m4", "[", "m1"]),
    ("idx", &["0", "1", "-1", "2", "-2", "5", "-10"]),
    ("n", &["0", "1", "2", "3", "-1"]),
    ("minmax", &["MIN", "MAX"]),
    ("agg", &["SUM", "MIN", "MAX"]),
    ("rev", &["", "REV"]),
    ("withscores", &["", "WITHSCORES"]),
    ("lpsize", &["2", "4", "128"]),
    ("lpvalue", &["2", "8", "64"]),
];

#[test]
fn random_sequences_zsets() {
    let mut placeholders: Vec<Placeholder> = PLACEHOLDERS.to_vec();
    placeholders.extend_from_slice(BASE_PLACEHOLDERS);
    run_random_sequences("random_sequences_zsets", TEMPLATES, &placeholders, true);
}
