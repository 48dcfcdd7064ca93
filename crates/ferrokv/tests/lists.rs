//! The list family against redis-server: seeded random command sequences over a few keys,
//! with `DEBUG DIGEST` compared after every step (so any difference in the stored lists shows
//! at the step that caused it), under several `list-max-listpack-size` settings so lists
//! cross node boundaries. The case files `tests/cases/lists_*.txt` cover the fixed cases.

mod common;

use common::diff::{run_random_sequences, Placeholder, BASE_PLACEHOLDERS};

const TEMPLATES: &[&str] = &[
    "LPUSH {key} {elem}",
    "LPUSH {key} {elem} {elem} {elem}",
    "RPUSH {key} {elem}",
    "RPUSH {key} {elem} {elem} {elem} {elem} {elem}",
    "LPUSHX {key} {elem}",
    "RPUSHX {key} {elem} {elem}",
    "LPOP {key}",
    "RPOP {key}",
    "LPOP {key} {cnt}",
    "RPOP {key} {cnt}",
    "LPOP {key} 4",
    "RPOP {key} 3",
    "LLEN {key}",
    "LRANGE {key} 0 -1",
    "LRANGE {key} {idx} {idx}",
    "LINDEX {key} {idx}",
    "LSET {key} {idx} {elem}",
    "LINSERT {key} BEFORE {elem} {elem}",
    "LINSERT {key} AFTER {elem} {elem}",
    "LREM {key} {cnt} {elem}",
    "LTRIM {key} {idx} {idx}",
    "LPOS {key} {elem}",
    "LPOS {key} {elem} RANK {cnt}",
    "LPOS {key} {elem} COUNT {cnt}",
    "LPOS {key} {elem} RANK {cnt} COUNT {cnt} MAXLEN {cnt}",
    "LMOVE {key} {key} {end} {end}",
    "RPOPLPUSH {key} {key}",
    "LMPOP 1 {key} {end}",
    "LMPOP 2 {key} {key} {end} COUNT {cnt}",
    "LMPOP 3 {key} {key} {key} {end}",
    "CONFIG SET list-max-listpack-size {lsize}",
    "SET {key} {elem}",
    "HSET {key} f {elem}",
    "TYPE {key}",
    "DEL {key}",
    "EXISTS {key} {key}",
    "RENAME {key} {key}",
    "COPY {key} {key} REPLACE",
    "OBJECT ENCODING {key}",
    "DEBUG DIGEST-VALUE {key}",
    "MULTI",
    "EXEC",
    "WATCH {key}",
];

const PLACEHOLDERS: &[Placeholder<'static>] = &[
    ("key", &["a", "b", "c"]),
    (
        "elem",
        &[
            "a",
            "b",
            "a",
            "1",
            "-7",
            "300",
            "\"\"",
            "\"\\x00\\xff\"",
            "9223372036854775807",
            "01",
            "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789",
        ],
    ),
    (
        "idx",
        &[
            "0", "1", "2", "-1", "-2", "-3", "5", "-7", "100", "-100", "x",
        ],
    ),
    ("cnt", &["0", "1", "2", "3", "-1", "-2", "100", "x"]),
    ("end", &["LEFT", "RIGHT", "left", "right", "up"]),
    ("lsize", &["1", "2", "3", "4", "-1", "-2"]),
];

#[test]
fn random_sequences_lists() {
    let mut placeholders: Vec<Placeholder<'static>> = PLACEHOLDERS.to_vec();
    placeholders.extend_from_slice(BASE_PLACEHOLDERS);
    run_random_sequences("random_sequences_lists", TEMPLATES, &placeholders, true);
}
