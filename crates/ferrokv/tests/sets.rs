//! The set family against the real redis-server: seeded random command sequences over a
//! few keys, with `DEBUG DIGEST` (the whole dataset's content) compared after every step.
//!
//! Replies whose order is a hashtable's (SMEMBERS, SINTER, SUNION, SDIFF of hashtables) are
//! compared sorted; commands that pick members at random only appear where the outcome is
//! deterministic (SPOP of 0 or of more than the set holds, SRANDMEMBER of the whole set)
//! or with their reply's type compared only (SRANDMEMBER without a count, negative counts,
//! SSCAN's order), so the dataset stays the same on both servers.
//! `set-max-intset-entries` is changed along the way (2, 4 or 512) so the sequences cross
//! the intset/hashtable conversion often.

mod common;

use common::diff::{run_random_sequences, Placeholder, BASE_PLACEHOLDERS};

const TEMPLATES: &[&str] = &[
    "SADD {key} {member}",
    "SADD {key} {member} {member} {member}",
    "SADD {key} {member} {member} {member} {member} {member} {member}",
    "SREM {key} {member}",
    "SREM {key} {member} {member} {member}",
    "SISMEMBER {key} {member}",
    "SMISMEMBER {key} {member} {member} {member}",
    "SCARD {key}",
    "!unordered SMEMBERS {key}",
    "SMOVE {key} {key} {member}",
    "!unordered SINTER {key} {key}",
    "!unordered SINTER {key} {key} {key}",
    "SINTERCARD 2 {key} {key}",
    "SINTERCARD 3 {key} {key} {key} LIMIT {limit}",
    "SINTERSTORE {key} {key} {key}",
    "!unordered SUNION {key} {key}",
    "SUNIONSTORE {key} {key} {key}",
    "!unordered SDIFF {key} {key}",
    "!unordered SDIFF {key} {key} {key}",
    "SDIFFSTORE {key} {key} {key}",
    "SDIFFSTORE {key} {key} {key} {key} {key}",
    "SPOP {key} 0",
    "!unordered SPOP {key} 1000",
    "!noreply-compare SRANDMEMBER {key}",
    "!noreply-compare SRANDMEMBER {key} -3",
    "!unordered SRANDMEMBER {key} 1000",
    "SRANDMEMBER {key} 0",
    "!noreply-compare SSCAN {key} 0",
    "SSCAN {key} 0 COUNT 1000 MATCH {member}",
    "OBJECT ENCODING {key}",
    "DEBUG DIGEST-VALUE {key}",
    "TYPE {key}",
    "DEL {key}",
    "EXISTS {key} {key}",
    "RENAME {key} {key}",
    "COPY {key} {key}",
    "EXPIRE {key} {secs}",
    "SET {key} {val}",
    "HSET {key} {field} {val}",
    "CONFIG SET set-max-intset-entries {maxintset}",
];

const PLACEHOLDERS: &[Placeholder<'static>] = &[
    (
        "member",
        &[
            "1",
            "2",
            "3",
            "-5",
            "70000",
            "9223372036854775807",
            "-9223372036854775808",
            "a",
            "b",
            "\"\"",
            "\"\\x00\\xff\"",
            "01",
            "\"x y\"",
        ],
    ),
    ("limit", &["0", "1", "2", "-1", "x"]),
    ("maxintset", &["2", "4", "512"]),
];

#[test]
fn random_sequences_sets() {
    let placeholders: Vec<Placeholder<'static>> = PLACEHOLDERS
        .iter()
        .chain(BASE_PLACEHOLDERS)
        .copied()
        .collect();
    run_random_sequences("random_sequences_sets", TEMPLATES, &placeholders, true);
}

/// SSCAN's guarantee against the server binary: every member present for the whole scan is
/// returned at least once, while another connection grows the set (forcing rehashes) and
/// shrinks it again between SSCAN calls; an intset is returned whole with cursor 0.
#[test]
fn sscan_returns_every_original_member_while_the_set_changes() {
    let server = common::start_ferrokv(2);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap();
    let mut scanner = client.get_connection().unwrap();
    let mut writer = client.get_connection().unwrap();
    let originals: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    let _: i64 = redis::cmd("SADD")
        .arg("s")
        .arg(&originals)
        .query(&mut writer)
        .unwrap();

    let mut seen = std::collections::HashSet::new();
    let mut cursor: u64 = 0;
    let mut calls = 0;
    loop {
        let (next, members): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg("s")
            .arg(cursor)
            .arg("COUNT")
            .arg(5)
            .query(&mut scanner)
            .unwrap();
        seen.extend(members);
        calls += 1;
        assert!(calls < 20_000, "SSCAN does not terminate");
        // Grow a lot, then shrink back: the table resizes both ways mid-scan.
        let extra: Vec<String> = (0..3000).map(|i| format!("x{i}")).collect();
        let op = if calls % 2 == 1 { "SADD" } else { "SREM" };
        let _: i64 = redis::cmd(op)
            .arg("s")
            .arg(&extra)
            .query(&mut writer)
            .unwrap();
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for m in &originals {
        assert!(seen.contains(m), "SSCAN missed {m}");
    }

    let ints: Vec<i64> = (0..300).rev().collect();
    let _: i64 = redis::cmd("SADD")
        .arg("i")
        .arg(&ints)
        .query(&mut writer)
        .unwrap();
    let (next, members): (u64, Vec<i64>) = redis::cmd("SSCAN")
        .arg("i")
        .arg(77)
        .arg("COUNT")
        .arg(1)
        .query(&mut scanner)
        .unwrap();
    assert_eq!(next, 0);
    assert_eq!(members, (0..300).collect::<Vec<i64>>());
}

/// Counts Redis would turn into a reply exhausting memory are refused (a known difference:
/// redis-server 7.0 tries to build it); huge positive counts are clamped to the set.
#[test]
fn huge_random_counts_are_bounded() {
    let server = common::start_ferrokv(2);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: i64 = redis::cmd("SADD")
        .arg("s")
        .arg(&["a", "b", "1"])
        .query(&mut con)
        .unwrap();
    for count in ["-9223372036854775807", "-16777217"] {
        let err = redis::cmd("SRANDMEMBER")
            .arg("s")
            .arg(count)
            .query::<Vec<String>>(&mut con)
            .unwrap_err();
        assert!(err.to_string().contains("value is out of range"), "{err}");
    }
    let some: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("s")
        .arg(-1000)
        .query(&mut con)
        .unwrap();
    assert_eq!(some.len(), 1000);
    let all: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("s")
        .arg(i64::MAX)
        .query(&mut con)
        .unwrap();
    assert_eq!(all.len(), 3);
    let popped: Vec<String> = redis::cmd("SPOP")
        .arg("s")
        .arg(i64::MAX)
        .query(&mut con)
        .unwrap();
    assert_eq!(popped.len(), 3);
    let exists: i64 = redis::cmd("EXISTS").arg("s").query(&mut con).unwrap();
    assert_eq!(exists, 0);
}
