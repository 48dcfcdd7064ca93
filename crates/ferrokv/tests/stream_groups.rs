//! Stream consumer groups over TCP: blocking XREADGROUP served by XADD (first come, first
//! served), a blocked XREADGROUP whose group or stream goes away, and the crash test of
//! issue 12: a producer adds 10,000 jobs, three consumers of one group process them
//! (XREADGROUP, then XACK), one consumer dies mid-way and the others XAUTOCLAIM its pending
//! jobs, and the server (appendfsync always) is killed with -9 and restarted in the middle;
//! at the end every job was acknowledged exactly once by the consumers' count and none was
//! lost.
//!
//! Each scenario takes the server to run as a function, so the same test can be pointed at
//! a real redis-server (`*_on_redis`, ignored by default: `cargo test --test stream_groups
//! -- --ignored`) to check the test itself.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    parse_reply, redis_server_bin, start_ferrokv_with, start_server, Conn, Reply, ServerGuard,
    TempDir,
};

/// Starts a server whose data (AOF, `appendfsync always`) lives in the given folder.
type Start = fn(&Path) -> ServerGuard;

fn ferrokv_in(dir: &Path) -> ServerGuard {
    let d = dir.display().to_string();
    start_ferrokv_with(
        2,
        &[
            "--dir",
            d.as_str(),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ],
    )
}

fn redis_in(dir: &Path) -> ServerGuard {
    let d = dir.display().to_string();
    start_server("redis", &redis_server_bin(), &move |port| {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            d.as_str(),
            "--daemonize",
            "no",
            "--enable-debug-command",
            "yes",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    })
}

fn kill9(server: &mut ServerGuard) {
    let status = std::process::Command::new("kill")
        .args(["-9", &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.is_running() {
        assert!(Instant::now() < deadline, "server survived kill -9");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn text(r: &Reply) -> String {
    r.text().unwrap_or_else(|| format!("{:?}", r))
}

/// The value of `field` in a flat [field, value, ...] array or a RESP3 map.
fn field<'a>(reply: &'a Reply, name: &str) -> &'a Reply {
    match reply {
        Reply::Array(items) => items
            .chunks(2)
            .find(|p| p[0].text().as_deref() == Some(name))
            .map(|p| &p[1]),
        Reply::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.text().as_deref() == Some(name))
            .map(|(_, v)| v),
        _ => None,
    }
    .unwrap_or_else(|| panic!("no field {name} in {reply:?}"))
}

// ---------------------------------------------------------------------------------------------
// Blocking XREADGROUP
// ---------------------------------------------------------------------------------------------

/// Send a blocking XREADGROUP and wait until the server counts the client as blocked.
fn block_reader(port: u16, admin: &mut Conn, consumer: &str, blocked_before: i64) -> Conn {
    let mut c = Conn::connect(port).expect("connect");
    c.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        consumer,
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ])
    .expect("send XREADGROUP");
    wait_blocked(admin, blocked_before + 1);
    c
}

fn wait_blocked(admin: &mut Conn, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = text(&admin.cmd(&["INFO", "clients"]));
        let blocked = info
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(-1);
        if blocked == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "blocked_clients stayed {blocked}, wanted {n}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Three consumers block on the same group; each XADD serves exactly one of them, in the
/// order they blocked, and the group's PEL records each delivery to its consumer.
fn blocked_readers_are_served_in_order(start: Start) {
    let data = TempDir::new("groups-block");
    let server = start(data.path());
    let mut admin = server.connect();
    assert_eq!(
        text(&admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"])),
        "OK"
    );
    let mut readers: Vec<Conn> = ["c1", "c2", "c3"]
        .iter()
        .enumerate()
        .map(|(i, name)| block_reader(server.port, &mut admin, name, i as i64))
        .collect();
    for (i, r) in readers.iter_mut().enumerate() {
        let id = format!("{}-0", i + 1);
        assert_eq!(
            text(&admin.cmd(&["XADD", "s", &id, "n", &i.to_string()])),
            id
        );
        let reply = r.read_reply();
        let expected = Reply::Array(vec![Reply::Array(vec![
            Reply::Bulk(b"s".to_vec()),
            Reply::Array(vec![Reply::Array(vec![
                Reply::Bulk(id.clone().into_bytes()),
                Reply::Array(vec![
                    Reply::Bulk(b"n".to_vec()),
                    Reply::Bulk(i.to_string().into_bytes()),
                ]),
            ])]),
        ])]);
        assert_eq!(reply, expected, "reader {i}");
    }
    // Each delivery is pending for the consumer it went to.
    let pending = admin.cmd(&["XPENDING", "s", "g", "-", "+", "10"]);
    let owners: Vec<(String, String)> = pending
        .expect_array()
        .iter()
        .map(|e| (text(&e.expect_array()[0]), text(&e.expect_array()[1])))
        .collect();
    assert_eq!(
        owners,
        [("1-0", "c1"), ("2-0", "c2"), ("3-0", "c3")].map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let groups = admin.cmd(&["XINFO", "GROUPS", "s"]);
    let g = &groups.expect_array()[0];
    assert_eq!(text(field(g, "last-delivered-id")), "3-0");
    assert_eq!(field(g, "entries-read"), &Reply::Int(3));
    assert_eq!(field(g, "lag"), &Reply::Int(0));
    wait_blocked(&mut admin, 0);
}

/// A MULTI with two XADDs serves the blocked reader once, after the transaction, with both
/// entries (no COUNT given).
fn blocked_reader_served_after_exec(start: Start) {
    let data = TempDir::new("groups-exec");
    let server = start(data.path());
    let mut admin = server.connect();
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut r = block_reader(server.port, &mut admin, "c1", 0);
    admin.cmd(&["MULTI"]);
    admin.cmd(&["XADD", "s", "1-0", "a", "1"]);
    admin.cmd(&["XADD", "s", "2-0", "b", "2"]);
    let exec = admin.cmd(&["EXEC"]);
    assert_eq!(exec.expect_array().len(), 2);
    let reply = r.read_reply();
    let entries = &reply.expect_array()[0].expect_array()[1];
    let ids: Vec<String> = entries
        .expect_array()
        .iter()
        .map(|e| text(&e.expect_array()[0]))
        .collect();
    assert_eq!(ids, ["1-0", "2-0"]);
}

/// XGROUP DESTROY unblocks the group's readers with -NOGROUP; deleting the stream (DEL,
/// or SET over it) unblocks them with Redis 7.0's -UNBLOCKED error.
fn blocked_reader_errors_when_group_or_stream_goes(start: Start) {
    let data = TempDir::new("groups-gone");
    let server = start(data.path());
    let mut admin = server.connect();
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);

    let mut r = block_reader(server.port, &mut admin, "c1", 0);
    assert_eq!(admin.cmd(&["XGROUP", "DESTROY", "s", "g"]), Reply::Int(1));
    assert_eq!(
        r.read_reply(),
        Reply::Error(
            "NOGROUP the consumer group this client was blocked on no longer exists".into()
        )
    );
    wait_blocked(&mut admin, 0);

    for kill in [&["DEL", "s"][..], &["SET", "s", "x"][..]] {
        admin.cmd(&["DEL", "s"]);
        admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut r = block_reader(server.port, &mut admin, "c1", 0);
        assert!(!admin.cmd(kill).is_error());
        assert_eq!(
            r.read_reply(),
            Reply::Error("UNBLOCKED the stream key no longer exists".into()),
            "after {kill:?}"
        );
        wait_blocked(&mut admin, 0);
    }

    // Another group's destruction leaves the reader blocked; it is served later.
    admin.cmd(&["DEL", "s"]);
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    admin.cmd(&["XGROUP", "CREATE", "s", "other", "$"]);
    let mut r = block_reader(server.port, &mut admin, "c1", 0);
    assert_eq!(
        admin.cmd(&["XGROUP", "DESTROY", "s", "other"]),
        Reply::Int(1)
    );
    wait_blocked(&mut admin, 1);
    admin.cmd(&["XADD", "s", "5-0", "f", "v"]);
    let reply = r.read_reply();
    assert_eq!(
        text(&reply.expect_array()[0].expect_array()[1].expect_array()[0].expect_array()[0]),
        "5-0"
    );
}

/// A stream that expires under a blocked XREADGROUP: the lookup that reclaims it (active
/// expiry off), or else the active expiry cycle, answers the reader -UNBLOCKED, as Redis
/// 7.0 does.
fn blocked_reader_errors_when_stream_expires(start: Start) {
    let data = TempDir::new("groups-expire");
    let server = start(data.path());
    let mut admin = server.connect();
    assert_eq!(text(&admin.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"])), "OK");
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    admin.cmd(&["PEXPIRE", "s", "50"]);
    let mut r = block_reader(server.port, &mut admin, "c1", 0);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(admin.cmd(&["EXISTS", "s"]), Reply::Int(0));
    assert_eq!(
        r.read_reply(),
        Reply::Error("UNBLOCKED the stream key no longer exists".into())
    );
    assert_eq!(text(&admin.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"])), "OK");
    wait_blocked(&mut admin, 0);

    // The active expiry cycle answers it too, without any command touching the key.
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut r = block_reader(server.port, &mut admin, "c1", 0);
    admin.cmd(&["PEXPIRE", "s", "50"]);
    assert_eq!(
        r.read_reply(),
        Reply::Error("UNBLOCKED the stream key no longer exists".into())
    );
}

#[test]
fn blocked_xreadgroup_errors_when_stream_expires() {
    blocked_reader_errors_when_stream_expires(ferrokv_in);
}

#[test]
fn blocked_xreadgroup_served_by_xadd_in_order() {
    blocked_readers_are_served_in_order(ferrokv_in);
}

#[test]
fn blocked_xreadgroup_served_after_exec() {
    blocked_reader_served_after_exec(ferrokv_in);
}

#[test]
fn blocked_xreadgroup_errors_when_group_or_stream_deleted() {
    blocked_reader_errors_when_group_or_stream_goes(ferrokv_in);
}

#[test]
#[ignore = "checks the test itself against redis-server"]
fn blocking_scenarios_on_redis() {
    blocked_readers_are_served_in_order(redis_in);
    blocked_reader_served_after_exec(redis_in);
    blocked_reader_errors_when_group_or_stream_goes(redis_in);
    blocked_reader_errors_when_stream_expires(redis_in);
}

// ---------------------------------------------------------------------------------------------
// Seeded random sequences against redis-server
// ---------------------------------------------------------------------------------------------

/// Consumer-group commands whose replies do not depend on time (idle times are bucketed
/// by a script, min-idle is 0), over two streams, two groups and three consumers, with
/// entries added, deleted and trimmed meanwhile. DEBUG DIGEST after every step compares the
/// entries; the group state shows in the replies (XINFO GROUPS, XPENDING).
const GROUP_TEMPLATES: &[&str] = &[
    // `1-*`: the next sequence of millisecond 1, the same on both servers.
    "XADD {skey} 1-* f {sval}",
    "XADD {skey} 1-* f {sval}",
    "XADD {skey} 1-* f {sval}",
    "XADD {skey} 1-* f {sval} g {sval}",
    "XADD {skey} {sid} f {sval}",
    "XADD {skey} MAXLEN {scnt} 1-* f {sval}",
    "XDEL {skey} {sid} {sid}",
    "XTRIM {skey} MAXLEN {scnt}",
    "DEL {skey}",
    "XLEN {skey}",
    "XGROUP CREATE {skey} {group} {gid}",
    "XGROUP CREATE {skey} {group} {gid} MKSTREAM",
    "XGROUP CREATE {skey} {group} {gid} MKSTREAM",
    "XGROUP CREATE {skey} {group} 0 MKSTREAM",
    "XGROUP CREATE {skey} {group} {gid} ENTRIESREAD {scnt}",
    "XGROUP SETID {skey} {group} {gid}",
    "XGROUP SETID {skey} {group} {gid} ENTRIESREAD {scnt}",
    "XGROUP DESTROY {skey} {group}",
    "XGROUP CREATECONSUMER {skey} {group} {cons}",
    "XGROUP DELCONSUMER {skey} {group} {cons}",
    "XREADGROUP GROUP {group} {cons} COUNT {scnt} STREAMS {skey} >",
    "XREADGROUP GROUP {group} {cons} COUNT {scnt} STREAMS {skey} >",
    "XREADGROUP GROUP {group} {cons} STREAMS {skey} >",
    "XREADGROUP GROUP {group} {cons} NOACK COUNT {scnt} STREAMS {skey} >",
    "XREADGROUP GROUP {group} {cons} COUNT {scnt} STREAMS {skey} {gid}",
    "XREADGROUP GROUP {group} {cons} STREAMS s1 s2 > >",
    "XACK {skey} {group} {sid} {sid}",
    "XACK {skey} {group} {sid}",
    "XACK {skey} {group} {sid} {sid} {sid} {sid}",
    "XCLAIM {skey} {group} {cons} 0 {sid} {sid} JUSTID",
    "XCLAIM {skey} {group} {cons} 0 {sid} RETRYCOUNT {scnt}",
    "XCLAIM {skey} {group} {cons} 0 {sid} FORCE JUSTID",
    "XCLAIM {skey} {group} {cons} 0 {sid} LASTID {gid} JUSTID",
    "XAUTOCLAIM {skey} {group} {cons} 0 {gid} COUNT {scnt} JUSTID",
    "XAUTOCLAIM {skey} {group} {cons} 0 {gid} COUNT {scnt}",
    "XPENDING {skey} {group}",
    "XINFO GROUPS {skey}",
    "EVAL \"local r = redis.call('xpending', KEYS[1], ARGV[1], '-', '+', '100') for _, e in ipairs(r) do e[3] = e[3] < 1000 and 'recent' or 'old' end return r\" 1 {skey} {group}",
    "EVAL \"local r = redis.call('xinfo', 'consumers', KEYS[1], ARGV[1]) for _, c in ipairs(r) do c[6] = c[6] < 1000 and 'recent' or 'old' end return r\" 1 {skey} {group}",
];

const GROUP_PLACEHOLDERS: &[common::diff::Placeholder<'static>] = &[
    ("skey", &["s1", "s2", "s1"]),
    ("group", &["g1", "g2", "g1"]),
    ("cons", &["c1", "c2", "c3"]),
    (
        "sid",
        &[
            "1-0", "1-1", "1-2", "1-3", "1-4", "1-5", "1-6", "1-7", "1-8", "1-9", "1-10", "1-12",
            "1-15", "1", "2-0", "0-1",
        ],
    ),
    (
        "gid",
        &["0", "$", "1-2", "1-5", "1-9", "1-14", "0-0", "2-0"],
    ),
    ("scnt", &["0", "1", "2", "3", "5", "-1"]),
    ("sval", &["a", "b", "1", "\"\""]),
];

#[test]
fn random_group_sequences_match_redis() {
    common::diff::run_random_sequences(
        "random_sequences_stream_groups",
        GROUP_TEMPLATES,
        GROUP_PLACEHOLDERS,
        true,
    );
}

// ---------------------------------------------------------------------------------------------
// Groups in the append-only file
// ---------------------------------------------------------------------------------------------

/// What a restart must give back of the groups of `key`: XINFO GROUPS (entries-read and
/// lag included), and per group each pending entry's ID, owner and delivery count and each
/// consumer's name and pending count (idle times move on, so they are left out).
fn group_state(c: &mut Conn, key: &str) -> Vec<String> {
    let mut state = vec![format!("{:?}", c.cmd(&["XINFO", "GROUPS", key]))];
    let groups = c.cmd(&["XINFO", "GROUPS", key]);
    for g in groups.expect_array() {
        let name = text(field(g, "name"));
        let pending = c.cmd(&["XPENDING", key, &name, "-", "+", "1000"]);
        for p in pending.expect_array() {
            let p = p.expect_array();
            state.push(format!("{name} {} {} {:?}", text(&p[0]), text(&p[1]), p[3]));
        }
        let consumers = c.cmd(&["XINFO", "CONSUMERS", key, &name]);
        for cons in consumers.expect_array() {
            state.push(format!(
                "{name} consumer {} {:?}",
                text(field(cons, "name")),
                field(cons, "pending")
            ));
        }
    }
    state
}

/// Group changes of every kind, then kill -9 and restart (twice: once from the commands
/// logged as they happened, once more after an AOF rewrite): the groups come back as they
/// were, consumers without pending entries and read counters included.
fn groups_survive_restart(start: Start) {
    let data = TempDir::new("groups-aof");
    let mut server = start(data.path());
    let mut c = server.connect();
    let script: &[&[&str]] = &[
        &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
        &["XGROUP", "CREATE", "s", "other", "0", "ENTRIESREAD", "0"],
        &["XGROUP", "CREATE", "s", "doomed", "0"],
        &["XADD", "s", "1-0", "f", "1"],
        &["XADD", "s", "2-0", "f", "2"],
        &["XADD", "s", "3-0", "f", "3"],
        &["XADD", "s", "4-0", "f", "4"],
        &["XADD", "s", "5-0", "f", "5"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "NOACK",
            "COUNT",
            "1",
            "STREAMS",
            "s",
            ">",
        ],
        &["XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", ">"],
        &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"],
        &["XACK", "s", "g", "4-0"],
        &["XCLAIM", "s", "g", "dave", "0", "1-0", "RETRYCOUNT", "7"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "erin"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "frank"],
        &["XGROUP", "DELCONSUMER", "s", "g", "frank"],
        &[
            "XREADGROUP",
            "GROUP",
            "other",
            "x",
            "COUNT",
            "3",
            "STREAMS",
            "s",
            ">",
        ],
        &["XDEL", "s", "2-0"],
        &["XAUTOCLAIM", "s", "other", "y", "0", "0", "COUNT", "2"],
        &["XGROUP", "DESTROY", "s", "doomed"],
        &[
            "XCLAIM", "s", "other", "z", "0", "3-0", "LASTID", "4-0", "JUSTID",
        ],
    ];
    for cmd in script {
        let r = c.cmd(cmd);
        assert!(!r.is_error(), "{cmd:?}: {r:?}");
    }
    // A blocked NOACK reader served by XADD creates its consumer.
    let mut reader = server.connect();
    reader
        .send(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "gina",
            "NOACK",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ])
        .expect("send");
    wait_blocked(&mut c, 1);
    c.cmd(&["XADD", "s", "6-0", "f", "6"]);
    assert!(!reader.read_reply().is_error());
    let before = group_state(&mut c, "s");
    kill9(&mut server);
    drop(server);
    let mut server = start(data.path());
    let mut c = server.connect();
    assert_eq!(group_state(&mut c, "s"), before, "after kill -9");
    // A rewritten AOF recreates pending entries with XCLAIM, which (as in Redis) cannot
    // recreate one whose stream entry was deleted: acknowledge that one first.
    assert_eq!(c.cmd(&["XACK", "s", "g", "2-0"]), Reply::Int(1));
    let r = c.cmd(&["BGREWRITEAOF"]);
    assert!(!r.is_error(), "{r:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = text(&c.cmd(&["INFO", "persistence"]));
        if info.contains("aof_rewrite_in_progress:0") && !info.contains("aof_rewrite_scheduled:1") {
            break;
        }
        assert!(Instant::now() < deadline, "AOF rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    c.cmd(&["XREADGROUP", "GROUP", "g", "henry", "STREAMS", "s", ">"]);
    let before = group_state(&mut c, "s");
    kill9(&mut server);
    drop(server);
    let server = start(data.path());
    let mut c = server.connect();
    assert_eq!(
        group_state(&mut c, "s"),
        before,
        "after a rewrite and kill -9"
    );
}

#[test]
fn groups_survive_kill9_and_aof_rewrite() {
    groups_survive_restart(ferrokv_in);
}

// ---------------------------------------------------------------------------------------------
// The crash test
// ---------------------------------------------------------------------------------------------

const JOBS: u64 = 10_000;
const KEY: &str = "jobs";
const GROUP: &str = "workers";
/// Jobs idle this long may be taken over with XAUTOCLAIM. Far above the time a live
/// consumer holds a job (a few ms) and the time the server is down, so a job is never
/// claimed while its live owner is acknowledging it.
const MIN_IDLE_MS: u64 = 4000;
/// Marks the server of this test (clients reconnect by port after the restart, and a port
/// may meanwhile belong to another test's server).
const TOKEN_KEY: &str = "crash-test-token";

/// What the threads share.
struct Shared {
    port: AtomicU16,
    token: String,
    /// Per job: acknowledgements the consumers counted (an XACK that answered 1, or whose
    /// reply was lost and whose retry found the job no longer pending).
    acks: Vec<AtomicU32>,
    /// Per job: times a consumer processed it (at least once; more after a crash).
    runs: Vec<AtomicU32>,
    acked: AtomicU64,
    /// Jobs a consumer took over from another with XAUTOCLAIM.
    claimed: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    /// A connection to this test's server, or None while it is down or loading.
    fn connect(&self) -> Option<Conn> {
        let mut c = Conn::connect(self.port.load(Ordering::Acquire)).ok()?;
        c.timeout = Duration::from_secs(5);
        let frame = c.request(&["GET", TOKEN_KEY]).ok()?;
        match parse_reply(&frame) {
            Ok(Reply::Bulk(b)) if b == self.token.as_bytes() => Some(c),
            _ => None,
        }
    }

    fn connect_retrying(&self) -> Option<Conn> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(c) = self.connect() {
                return Some(c);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn job_of(id: &str) -> u64 {
    let ms: u64 = id
        .split('-')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("unexpected entry ID {id}"));
    ms - 1
}

/// The producer: job `i` is entry `(i+1)-0` with field `n` = i, added in pipelined batches.
/// After a reconnect it resumes after the last entry the stream has (explicit IDs make a
/// repeated XADD an error, never a duplicate job).
fn produce(shared: Arc<Shared>) {
    let mut next = 0u64;
    while next < JOBS {
        let Some(mut c) = shared.connect_retrying() else {
            return;
        };
        match c
            .request(&["XREVRANGE", KEY, "+", "-", "COUNT", "1"])
            .map(|f| parse_reply(&f))
        {
            Ok(Ok(Reply::Array(v))) => {
                if let Some(e) = v.first() {
                    next = job_of(&text(&e.expect_array()[0])) + 1;
                }
            }
            _ => continue,
        }
        'batches: while next < JOBS {
            let end = (next + 100).min(JOBS);
            let mut batch = Vec::new();
            for i in next..end {
                common::encode_into(
                    &mut batch,
                    &["XADD", KEY, &format!("{}-0", i + 1), "n", &i.to_string()],
                );
            }
            if c.send_raw(&batch).is_err() {
                break;
            }
            let first = next;
            for i in first..end {
                match c.read_frame().map(|f| parse_reply(&f)) {
                    Ok(Ok(Reply::Bulk(_))) => next = i + 1,
                    Ok(Ok(Reply::Error(e))) if e.contains("equal or smaller") => next = i + 1,
                    _ => break 'batches, // killed, or loading: reconnect
                }
            }
        }
    }
}

/// Entries of an XREADGROUP reply (one stream) or of XAUTOCLAIM's second element, as
/// job numbers (entries deleted meanwhile come as [id, nil]; there are none here).
fn entry_jobs(entries: &Reply) -> Vec<u64> {
    entries
        .expect_array()
        .iter()
        .map(|e| job_of(&text(&e.expect_array()[0])))
        .collect()
}

/// One consumer's connection-level loop state.
struct Consumer {
    name: String,
    shared: Arc<Shared>,
    /// XACKs sent whose reply never came (the server died): retried after a reconnect.
    in_flight: Vec<u64>,
    /// Stop after this many acknowledgements and one more read, leaving that read's jobs
    /// pending (the consumer that dies).
    dies_after: Option<u64>,
    my_acks: u64,
}

enum Step {
    Continue,
    Reconnect,
    Done,
}

impl Consumer {
    fn run(mut self) -> u64 {
        while !self.shared.stop.load(Ordering::Relaxed) {
            let Some(mut c) = self.shared.connect_retrying() else {
                break;
            };
            match self.session(&mut c) {
                Step::Done => break,
                Step::Continue | Step::Reconnect => continue,
            }
        }
        self.my_acks
    }

    /// One connection's life: settle the XACKs in doubt, process this consumer's own
    /// pending jobs (deliveries whose reply was lost), then new jobs and claims.
    fn session(&mut self, c: &mut Conn) -> Step {
        if !self.in_flight.is_empty() {
            let jobs = std::mem::take(&mut self.in_flight);
            if let Err(()) = self.ack(c, &jobs, true) {
                return Step::Reconnect;
            }
        }
        let Some(history) = self.read(c, "0") else {
            return Step::Reconnect;
        };
        if self.process(c, &history).is_err() {
            return Step::Reconnect;
        }
        loop {
            if self.shared.acked.load(Ordering::Acquire) >= JOBS
                || self.shared.stop.load(Ordering::Relaxed)
            {
                return Step::Done;
            }
            if let Some(limit) = self.dies_after {
                if self.my_acks >= limit {
                    // Take a batch and die with it pending.
                    return match self.read(c, ">") {
                        Some(jobs) if !jobs.is_empty() => Step::Done,
                        Some(_) => Step::Continue,
                        None => Step::Reconnect,
                    };
                }
            }
            let Some(mut jobs) = self.read(c, ">") else {
                return Step::Reconnect;
            };
            if jobs.is_empty() {
                let Some(claimed) = self.autoclaim(c) else {
                    return Step::Reconnect;
                };
                self.shared
                    .claimed
                    .fetch_add(claimed.len() as u64, Ordering::Relaxed);
                jobs = claimed;
            }
            if self.process(c, &jobs).is_err() {
                return Step::Reconnect;
            }
        }
    }

    /// XREADGROUP from `id` (`>` or `0`); None when the connection failed or the server
    /// is loading.
    fn read(&mut self, c: &mut Conn, id: &str) -> Option<Vec<u64>> {
        let cmd = [
            "XREADGROUP",
            "GROUP",
            GROUP,
            &self.name,
            "COUNT",
            "50",
            "BLOCK",
            "50",
            "STREAMS",
            KEY,
            id,
        ];
        match parse_reply(&c.request(&cmd).ok()?).ok()? {
            Reply::Nil => Some(Vec::new()),
            Reply::Array(streams) => Some(entry_jobs(&streams.first()?.expect_array()[1])),
            _ => None,
        }
    }

    /// XAUTOCLAIM jobs idle for MIN_IDLE_MS (a dead consumer's) from the start of the PEL.
    fn autoclaim(&mut self, c: &mut Conn) -> Option<Vec<u64>> {
        let idle = MIN_IDLE_MS.to_string();
        let cmd = [
            "XAUTOCLAIM",
            KEY,
            GROUP,
            &self.name,
            &idle,
            "0",
            "COUNT",
            "50",
        ];
        match parse_reply(&c.request(&cmd).ok()?).ok()? {
            Reply::Array(parts) => Some(entry_jobs(parts.get(1)?)),
            _ => None,
        }
    }

    /// "Run" each job, then acknowledge them all (one XACK per job, pipelined).
    fn process(&mut self, c: &mut Conn, jobs: &[u64]) -> Result<(), ()> {
        for &j in jobs {
            self.shared.runs[j as usize].fetch_add(1, Ordering::Relaxed);
        }
        self.ack(c, jobs, false)
    }

    /// XACK each job. An answer of 1 is our acknowledgement. With `retry` (the first try's
    /// reply was lost), 0 means the first try took effect: the job is no longer pending,
    /// and nobody else can have taken it over that fast. Jobs whose reply does not come are
    /// kept for the next connection.
    fn ack(&mut self, c: &mut Conn, jobs: &[u64], retry: bool) -> Result<(), ()> {
        let mut batch = Vec::new();
        for &j in jobs {
            common::encode_into(&mut batch, &["XACK", KEY, GROUP, &format!("{}-0", j + 1)]);
        }
        if c.send_raw(&batch).is_err() {
            self.in_flight.extend_from_slice(jobs);
            return Err(());
        }
        for (i, &j) in jobs.iter().enumerate() {
            let counted = match c.read_frame().map(|f| parse_reply(&f)) {
                Ok(Ok(Reply::Int(1))) => true,
                Ok(Ok(Reply::Int(0))) => retry,
                Ok(Ok(other)) if !other.is_error() => panic!("XACK answered {other:?}"),
                _ => {
                    self.in_flight.extend_from_slice(&jobs[i..]);
                    return Err(());
                }
            };
            if counted {
                self.shared.acks[j as usize].fetch_add(1, Ordering::Relaxed);
                self.shared.acked.fetch_add(1, Ordering::AcqRel);
                self.my_acks += 1;
            }
        }
        Ok(())
    }
}

fn crash_scenario(start: Start) {
    let data = TempDir::new("groups-crash");
    let mut server = start(data.path());
    let token = format!("{}-{}", std::process::id(), server.port);
    {
        let mut c = server.connect();
        assert_eq!(text(&c.cmd(&["SET", TOKEN_KEY, &token])), "OK");
        assert_eq!(
            text(&c.cmd(&["XGROUP", "CREATE", KEY, GROUP, "$", "MKSTREAM"])),
            "OK"
        );
    }
    let shared = Arc::new(Shared {
        port: AtomicU16::new(server.port),
        token,
        acks: (0..JOBS).map(|_| AtomicU32::new(0)).collect(),
        runs: (0..JOBS).map(|_| AtomicU32::new(0)).collect(),
        acked: AtomicU64::new(0),
        claimed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let producer = {
        let s = shared.clone();
        std::thread::spawn(move || produce(s))
    };
    let consumers: Vec<_> = [("alice", None), ("bob", None), ("carol", Some(1500))]
        .into_iter()
        .map(|(name, dies_after)| {
            let consumer = Consumer {
                name: name.to_string(),
                shared: shared.clone(),
                in_flight: Vec::new(),
                dies_after,
                my_acks: 0,
            };
            std::thread::spawn(move || consumer.run())
        })
        .collect();

    // Kill the server -9 in the middle of the run and start it again on its data.
    let deadline = Instant::now() + Duration::from_secs(180);
    while shared.acked.load(Ordering::Acquire) < JOBS * 2 / 5 {
        assert!(Instant::now() < deadline, "no progress before the kill");
        std::thread::sleep(Duration::from_millis(5));
    }
    kill9(&mut server);
    let acked_at_kill = shared.acked.load(Ordering::Acquire);
    drop(server);
    let server = start(data.path());
    shared.port.store(server.port, Ordering::Release);

    while shared.acked.load(Ordering::Acquire) < JOBS {
        if Instant::now() > deadline {
            shared.stop.store(true, Ordering::Relaxed);
            panic!(
                "timed out: {} of {JOBS} jobs acknowledged",
                shared.acked.load(Ordering::Acquire)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    shared.stop.store(true, Ordering::Relaxed);
    producer.join().expect("producer");
    let per_consumer: Vec<u64> = consumers
        .into_iter()
        .map(|t| t.join().expect("consumer"))
        .collect();

    let reruns = (0..JOBS)
        .filter(|&j| shared.runs[j as usize].load(Ordering::Relaxed) > 1)
        .count();
    eprintln!(
        "crash test: {acked_at_kill} acknowledged at the kill; acknowledgements per consumer \
         {per_consumer:?}; {} taken over by XAUTOCLAIM; {reruns} jobs run more than once",
        shared.claimed.load(Ordering::Relaxed)
    );
    // Every job acknowledged exactly once by the consumers' count, and run at least once.
    let twice: Vec<u64> = (0..JOBS)
        .filter(|&j| shared.acks[j as usize].load(Ordering::Relaxed) != 1)
        .collect();
    assert!(
        twice.is_empty(),
        "jobs not acknowledged exactly once: {:?} (acks {:?})",
        &twice[..twice.len().min(20)],
        twice
            .iter()
            .take(20)
            .map(|&j| shared.acks[j as usize].load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    );
    assert!((0..JOBS).all(|j| shared.runs[j as usize].load(Ordering::Relaxed) >= 1));
    assert!(acked_at_kill < JOBS, "the kill came after the end");
    assert!(per_consumer[2] >= 1500, "carol acknowledged before dying");
    assert!(
        shared.claimed.load(Ordering::Relaxed) > 0,
        "nobody claimed the dead consumer's jobs"
    );

    // The server agrees: nothing pending, everything delivered; and so does a restart.
    let check = |server: &ServerGuard| {
        let mut c = server.connect();
        assert_eq!(c.cmd(&["XLEN", KEY]), Reply::Int(JOBS as i64));
        let summary = c.cmd(&["XPENDING", KEY, GROUP]);
        assert_eq!(summary.expect_array()[0], Reply::Int(0), "{summary:?}");
        let groups = c.cmd(&["XINFO", "GROUPS", KEY]);
        let g = &groups.expect_array()[0];
        assert_eq!(text(field(g, "last-delivered-id")), format!("{JOBS}-0"));
        assert_eq!(field(g, "pending"), &Reply::Int(0));
        assert_eq!(field(g, "lag"), &Reply::Int(0));
        assert_eq!(field(g, "consumers"), &Reply::Int(3));
    };
    check(&server);
    let mut server = server;
    kill9(&mut server);
    drop(server);
    check(&start(data.path()));
}

#[test]
fn crash_every_job_acknowledged_exactly_once() {
    crash_scenario(ferrokv_in);
}

#[test]
#[ignore = "checks the test itself against redis-server"]
fn crash_scenario_on_redis() {
    crash_scenario(redis_in);
}
