//! Bad input never crashes the server: random argument vectors for every command in the
//! table (names from COMMAND, subcommands included), with hostile arguments (huge and
//! negative numbers, empty, binary, option words in the wrong place). Every request must get
//! exactly one reply, no connection may die of a panic, and the server must stay healthy.

mod common;

use common::{start_ferrokv, Reply};

/// SplitMix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Commands that would stop the test itself rather than exercise input handling: they
/// end the process or connection, block on purpose, change how replies flow, or lock the
/// test out.
const SKIP: &[&str] = &[
    "shutdown",
    "debug",
    "monitor",
    "quit",
    "client|pause",
    "client|reply",
    "client|kill",
    "config|set",
    "config|rewrite",
    "config|resetstat",
    "hello",
    "auth",
    "reset",
    "bgrewriteaof",
    // Turn the connection into a replica link (the stream that follows is not a reply),
    // make the server a replica of a random address, or wait for replicas that never come.
    "sync",
    "psync",
    "replicaof",
    "slaveof",
    "wait",
    // Can lock the test's own (default) user out.
    "acl|setuser",
    "acl|deluser",
    "acl|load",
    // Block forever with a timeout of 0; their argument handling is covered by
    // tests/cases/blocking_*.txt and tests/blocking.rs.
    "blpop",
    "brpop",
    "blmove",
    "brpoplpush",
    "blmpop",
    "bzpopmin",
    "bzpopmax",
    "bzmpop",
];

const ARGS: &[&[u8]] = &[
    b"k",
    b"k2",
    b"{k}x",
    b"h",
    b"",
    b"0",
    b"1",
    b"-1",
    b"2",
    b"10",
    b"-100",
    b"1000000",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"1.5",
    b"-inf",
    b"inf",
    b"nan",
    b"1e400",
    b"abc",
    b"\x00\xff\r\n",
    b"*",
    b"[a-",
    b"\\",
    b"EX",
    b"PX",
    b"NX",
    b"XX",
    b"GT",
    b"LT",
    b"GET",
    b"KEEPTTL",
    b"COUNT",
    b"MATCH",
    b"TYPE",
    b"LIMIT",
    b"WITHSCORES",
    b"REPLACE",
    b"DB",
    b"SAMPLES",
    b"IDX",
    b"LEN",
    b"OVERFLOW",
    b"WRAP",
    b"SAT",
    b"FAIL",
    b"INCRBY",
    b"SET",
    b"u8",
    b"i64",
    b"u63",
    b"#1",
    b"BYTE",
    b"BIT",
    b"AND",
    b"NOT",
    b"ASYNC",
    b"SYNC",
    b"FIELD",
];

fn command_names(c: &mut common::Conn) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    let Reply::Array(all) = c.cmd(&["COMMAND"]) else {
        panic!("COMMAND did not return an array");
    };
    for info in all {
        let Reply::Array(fields) = info else { continue };
        if let Some(Reply::Bulk(name)) = fields.first() {
            names.push(name.clone());
        }
        if let Some(Reply::Array(subs)) = fields.get(9) {
            for sub in subs {
                if let Reply::Array(sf) = sub {
                    if let Some(Reply::Bulk(full)) = sf.first() {
                        names.push(full.clone());
                    }
                }
            }
        }
    }
    names.retain(|n| !SKIP.contains(&String::from_utf8_lossy(n).as_ref()));
    names
}

#[test]
fn random_commands_never_crash_the_server() {
    let server = start_ferrokv(2);
    let mut c = server.connect();
    let names = command_names(&mut c);
    assert!(names.len() > 100, "only {} commands", names.len());
    let mut rng = Rng(0x5eed);
    let mut sent = 0;
    for round in 0..400 {
        let mut batch = Vec::new();
        let n = 250;
        for _ in 0..n {
            let name = &names[rng.below(names.len())];
            let mut argv: Vec<Vec<u8>> = name.split(|&b| b == b'|').map(|p| p.to_vec()).collect();
            for _ in 0..rng.below(7) {
                argv.push(ARGS[rng.below(ARGS.len())].to_vec());
            }
            common::encode_into(&mut batch, &argv);
        }
        c.send_raw(&batch).expect("send batch");
        for i in 0..n {
            match c.read_frame() {
                Ok(_) => {}
                Err(e) => panic!(
                    "round {} request {}: no reply ({}); server log:\n{}",
                    round,
                    i,
                    e,
                    server.log_tail(30)
                ),
            }
        }
        sent += n;
        // Leave MULTI state and protocol as they were for the next batch.
        let _ = c.request(&["DISCARD"]);
    }
    assert!(sent >= 100_000);
    let mut fresh = server.connect();
    assert_eq!(fresh.cmd(&["PING"]), Reply::Simple("PONG".into()));
    let log = server.log();
    assert!(!log.contains("panicked"), "a connection panicked:\n{}", log);
}
