//! Streams against a real redis-server 7.0:
//!
//! * `random_sequences_streams`: seeded command sequences (explicit IDs, so both servers
//!   generate the same entries) with `DEBUG DIGEST` compared after every step;
//! * blocking XREAD scenarios (served by XADD from another connection, `$`, COUNT,
//!   timeouts, MULTI) whose transcripts must be byte-identical on both servers;
//! * DUMP/RESTORE and RDB files with consumer groups, consumers and pending entries, both
//!   ways, compared with `DEBUG DIGEST-VALUE` and `XINFO STREAM FULL`.

mod common;

use std::time::{Duration, Instant};

use common::diff::{run_random_sequences, Placeholder, BASE_PLACEHOLDERS};
use common::{escape, start_ferrokv, start_ferrokv_with, start_redis, start_server, Conn};
use common::{redis_server_bin, Reply, ServerGuard};

const TEMPLATES: &[&str] = &[
    "XADD {key} {id} {field} {val}",
    "XADD {key} {id} {field} {val} {field} {val}",
    "XADD {key} {ms}-* {field} {val}",
    "XADD {key} NOMKSTREAM {id} {field} {val}",
    "XADD {key} MAXLEN {approx} {n} {id} {field} {val}",
    "XADD {key} MINID {approx} {id} {id} {field} {val}",
    "XADD {key} MAXLEN ~ {n} LIMIT {n} {id} {field} {val}",
    "XLEN {key}",
    "XRANGE {key} {bound} {bound}",
    "XRANGE {key} - + COUNT {n}",
    "XREVRANGE {key} {bound} {bound} COUNT {n}",
    "XDEL {key} {id}",
    "XDEL {key} {id} {id} {id}",
    "XTRIM {key} MAXLEN {approx} {n}",
    "XTRIM {key} MINID {approx} {id}",
    "XTRIM {key} MAXLEN ~ {n} LIMIT {n}",
    "XSETID {key} {id}",
    "XSETID {key} {id} ENTRIESADDED {n} MAXDELETEDID {id}",
    "XREAD COUNT {n} STREAMS {key} {key} {id} {id}",
    "XREAD STREAMS {key} $",
    "XINFO STREAM {key}",
    "XINFO STREAM {key} FULL COUNT {n}",
    "CONFIG SET stream-node-max-entries {nodeentries}",
    "CONFIG SET stream-node-max-bytes {nodebytes}",
    "TYPE {key}",
    "OBJECT ENCODING {key}",
    "DEBUG DIGEST-VALUE {key}",
    "DEL {key}",
    "RENAME {key} {key}",
    "COPY {key} {key}",
    "SET {key} {val}",
];

const PLACEHOLDERS: &[Placeholder<'static>] = &[
    (
        "id",
        &[
            "0-0",
            "0-1",
            "1",
            "1-1",
            "2-0",
            "2-5",
            "3",
            "5-0",
            "7-1",
            "10",
            "10-3",
            "12-0",
            "15",
            "20-0",
            "100",
            "18446744073709551615-18446744073709551615",
            "x",
            "-",
        ],
    ),
    ("ms", &["0", "1", "5", "12", "30", "x"]),
    (
        "bound",
        &[
            "-", "+", "0", "1", "3", "(3", "(5-0", "10", "(0-0", "20-1", "x",
        ],
    ),
    ("n", &["0", "1", "2", "3", "10", "-1", "x"]),
    ("approx", &["=", "~", "1"]),
    ("nodeentries", &["2", "3", "100", "0"]),
    ("nodebytes", &["40", "100", "4096", "0"]),
];

#[test]
fn random_sequences_streams() {
    let placeholders: Vec<Placeholder<'static>> = PLACEHOLDERS
        .iter()
        .chain(BASE_PLACEHOLDERS)
        .copied()
        .collect();
    run_random_sequences("random_sequences_streams", TEMPLATES, &placeholders, true);
}

// ---------------------------------------------------------------------------------------
// Blocking XREAD
// ---------------------------------------------------------------------------------------

/// Poll INFO until `n` clients are blocked.
fn wait_blocked(port: u16, n: usize) {
    let mut c = Conn::connect(port).expect("connect");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = c.request(&["INFO", "clients"]).expect("INFO");
        let text = String::from_utf8_lossy(&info).to_string();
        let blocked = text
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        if blocked == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} blocked, got {blocked:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn frame(c: &mut Conn) -> Vec<u8> {
    c.read_frame()
        .unwrap_or_else(|e| panic!("reading a reply: {}", e))
}

/// The blocking scenarios on one server; returns every reply in order.
fn xread_scenarios(port: u16, resp3: bool) -> Vec<Vec<u8>> {
    let conn = || {
        let mut c = Conn::connect(port).expect("connect");
        if resp3 {
            c.request(&["HELLO", "3"]).expect("HELLO");
        }
        c
    };
    let (mut a, mut b, mut w) = (conn(), conn(), conn());
    let mut t = Vec::new();
    t.push(w.request(&["XADD", "s", "1-0", "f", "v"]).unwrap());
    // `$` resolves when the client blocks: only later entries are returned.
    a.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"])
        .unwrap();
    wait_blocked(port, 1);
    // b waits on two keys, for a key that does not exist yet, with COUNT.
    b.send(&[
        "XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "other", "s", "0", "1-0",
    ])
    .unwrap();
    wait_blocked(port, 2);
    t.push(w.request(&["XADD", "s", "2-0", "g", "w"]).unwrap());
    // Both are served by the same XADD (a read takes nothing away), each with its reply.
    t.push(frame(&mut a));
    t.push(frame(&mut b));
    // A new key served by its creation.
    a.send(&["XREAD", "BLOCK", "0", "STREAMS", "fresh", "$"])
        .unwrap();
    wait_blocked(port, 1);
    t.push(w.request(&["XADD", "fresh", "5-5", "x", "y"]).unwrap());
    t.push(frame(&mut a));
    // An XADD that does not go past the waited-for ID does not serve.
    a.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "100-0"])
        .unwrap();
    wait_blocked(port, 1);
    t.push(w.request(&["XADD", "s", "50-0", "f", "v"]).unwrap());
    t.push(w.request(&["XADD", "s", "101-0", "f", "v"]).unwrap());
    t.push(frame(&mut a));
    // A key of another type does not serve (nor fail) a waiting XREAD.
    a.send(&["XREAD", "BLOCK", "0", "STREAMS", "typed", "$"])
        .unwrap();
    wait_blocked(port, 1);
    t.push(w.request(&["SET", "typed", "x"]).unwrap());
    t.push(w.request(&["DEL", "typed"]).unwrap());
    t.push(w.request(&["XADD", "typed", "1-1", "a", "b"]).unwrap());
    t.push(frame(&mut a));
    // Timeouts: nil.
    t.push(
        a.request(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"])
            .unwrap(),
    );
    // Inside MULTI nothing blocks.
    t.push(a.request(&["MULTI"]).unwrap());
    t.push(
        a.request(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"])
            .unwrap(),
    );
    t.push(a.request(&["EXEC"]).unwrap());
    // Entries pushed inside a transaction serve after it.
    b.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"])
        .unwrap();
    wait_blocked(port, 1);
    t.push(w.request(&["MULTI"]).unwrap());
    t.push(w.request(&["XADD", "s", "200-0", "a", "1"]).unwrap());
    t.push(w.request(&["XADD", "s", "201-0", "a", "2"]).unwrap());
    t.push(w.request(&["EXEC"]).unwrap());
    t.push(frame(&mut b));
    // Errors before blocking.
    t.push(
        a.request(&["XREAD", "BLOCK", "-1", "STREAMS", "s", "$"])
            .unwrap(),
    );
    t.push(
        a.request(&["XREAD", "BLOCK", "x", "STREAMS", "s", "$"])
            .unwrap(),
    );
    t.push(
        a.request(&["XREAD", "BLOCK", "0", "STREAMS", "s", "+"])
            .unwrap(),
    );
    t.push(
        a.request(&["XREAD", "BLOCK", "0", "STREAMS", "s", ">"])
            .unwrap(),
    );
    t.push(
        a.request(&["XREAD", "BLOCK", "0", "STREAMS", "typed2", "s", "$"])
            .unwrap(),
    );
    t
}

#[test]
fn blocking_xread_matches_redis() {
    for resp3 in [false, true] {
        let redis: ServerGuard = start_redis();
        let ferrokv: ServerGuard = start_ferrokv(2);
        let r = xread_scenarios(redis.port, resp3);
        let f = xread_scenarios(ferrokv.port, resp3);
        let show = |t: &[Vec<u8>]| t.iter().map(|b| escape(b)).collect::<Vec<_>>().join(" | ");
        assert_eq!(
            r,
            f,
            "resp3 {resp3}\n  redis:   {}\n  ferrokv: {}",
            show(&r),
            show(&f)
        );
        // What the first served replies must be, whatever Redis says.
        let want_a: &[u8] = if resp3 {
            b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\ng\r\n$1\r\nw\r\n"
        } else {
            b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\ng\r\n$1\r\nw\r\n"
        };
        assert_eq!(f[2], want_a);
        let nil: &[u8] = if resp3 { b"_\r\n" } else { b"*-1\r\n" };
        assert_eq!(f[13], nil, "timeout reply");
    }
}

/// Many readers blocked on one stream are all served by one XADD from another thread.
#[test]
fn many_blocked_readers_all_served() {
    let server = start_ferrokv(2);
    let mut readers: Vec<Conn> = (0..20)
        .map(|_| Conn::connect(server.port).expect("connect"))
        .collect();
    for r in readers.iter_mut() {
        r.send(&["XREAD", "BLOCK", "0", "STREAMS", "q", "$"])
            .unwrap();
    }
    wait_blocked(server.port, 20);
    let mut w = server.connect();
    assert_eq!(
        w.cmd(&["XADD", "q", "7-7", "k", "v"]).bytes(),
        Some(&b"7-7"[..])
    );
    for r in readers.iter_mut() {
        let reply = r.read_reply();
        let streams = reply.expect_array();
        assert_eq!(streams.len(), 1);
    }
    wait_blocked(server.port, 0);
}

// ---------------------------------------------------------------------------------------
// DUMP/RESTORE and RDB files with consumer groups
// ---------------------------------------------------------------------------------------

/// A stream with several nodes, tombstones, two groups, consumers with and without
/// pending entries, built on redis-server.
fn build_stream(c: &mut Conn, key: &str) {
    for i in 1..=260 {
        let id = format!("{i}-1");
        let v = i.to_string();
        c.cmd(&["XADD", key, &id, "f", &v, "g", "x"]);
    }
    c.cmd(&["XADD", key, "300-1", "other", "1"]);
    c.cmd(&["XDEL", key, "5-1", "7-1", "150-1"]);
    c.cmd(&["XGROUP", "CREATE", key, "g1", "0"]);
    c.cmd(&["XGROUP", "CREATE", key, "g0", "10-1"]);
    c.cmd(&["XGROUP", "CREATE", key, "\"empty\"", "$"]);
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "3",
        "STREAMS",
        key,
        ">",
    ]);
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "2",
        "STREAMS",
        key,
        ">",
    ]);
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g0",
        "bob",
        "COUNT",
        "200",
        "STREAMS",
        key,
        ">",
    ]);
    c.cmd(&["XGROUP", "CREATECONSUMER", key, "g1", "carol"]);
    c.cmd(&["XACK", key, "g1", "1-1"]);
}

fn full_info(c: &mut Conn, key: &str) -> Vec<u8> {
    c.request(&["XINFO", "STREAM", key, "FULL", "COUNT", "0"])
        .unwrap()
}

fn digest_value(c: &mut Conn, key: &str) -> Vec<u8> {
    c.request(&["DEBUG", "DIGEST-VALUE", key]).unwrap()
}

#[test]
fn dump_restore_with_groups_both_ways() {
    let redis = start_redis();
    let ferrokv = start_ferrokv(2);
    let (mut r, mut f) = (redis.connect(), ferrokv.connect());
    build_stream(&mut r, "st");
    let payload = r.cmd(&["DUMP", "st"]).bytes().unwrap().to_vec();
    let restored = f.cmd(&[&b"RESTORE"[..], b"st", b"0", &payload]);
    assert_eq!(restored, Reply::Simple("OK".into()));
    assert_eq!(digest_value(&mut r, "st"), digest_value(&mut f, "st"));
    assert_eq!(full_info(&mut r, "st"), full_info(&mut f, "st"));
    // ferrokv writes the same bytes Redis wrote.
    let back = f.cmd(&["DUMP", "st"]).bytes().unwrap().to_vec();
    assert_eq!(escape(&back), escape(&payload));
    // And Redis reads ferrokv's payload of a stream built by ferrokv.
    for i in 1..=150 {
        f.cmd(&["XADD", "mine", &format!("{i}-0"), "a", &i.to_string()]);
    }
    f.cmd(&["XDEL", "mine", "3-0"]);
    let mine = f.cmd(&["DUMP", "mine"]).bytes().unwrap().to_vec();
    let ok = r.cmd(&[&b"RESTORE"[..], b"mine", b"0", &mine]);
    assert_eq!(ok, Reply::Simple("OK".into()));
    assert_eq!(digest_value(&mut r, "mine"), digest_value(&mut f, "mine"));
    assert_eq!(full_info(&mut r, "mine"), full_info(&mut f, "mine"));
}

#[test]
fn rdb_files_with_streams_both_ways() {
    // Redis -> ferrokv.
    let redis = start_redis();
    let mut r = redis.connect();
    build_stream(&mut r, "st");
    r.cmd(&["XADD", "empty", "MAXLEN", "0", "1-1", "a", "b"]);
    assert_eq!(r.cmd(&["SAVE"]), Reply::Simple("OK".into()));
    let dir = redis.dir.path().display().to_string();
    let ferrokv = start_ferrokv_with(2, &["--dir", &dir, "--dbfilename", "dump.rdb"]);
    let mut f = ferrokv.connect();
    for key in ["st", "empty"] {
        assert_eq!(
            digest_value(&mut r, key),
            digest_value(&mut f, key),
            "{key}"
        );
        assert_eq!(full_info(&mut r, key), full_info(&mut f, key), "{key}");
    }
    let source = r.request(&["DEBUG", "DIGEST"]).unwrap();
    assert_eq!(source, f.request(&["DEBUG", "DIGEST"]).unwrap());
    // ferrokv -> Redis: ferrokv's SAVE replaces the file in the same folder, which a
    // fresh redis-server then loads.
    std::fs::remove_file(redis.dir.path().join("dump.rdb")).unwrap();
    assert_eq!(f.cmd(&["SAVE"]), Reply::Simple("OK".into()));
    let loaded = start_server("redis", &redis_server_bin(), &|port| {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.clone(), "--enable-debug-command".into(), "yes".into()])
        .collect()
    });
    let mut l = loaded.connect();
    assert_eq!(l.request(&["DEBUG", "DIGEST"]).unwrap(), source);
    for key in ["st", "empty"] {
        assert_eq!(full_info(&mut l, key), full_info(&mut f, key), "{key}");
    }
}

// ---------------------------------------------------------------------------------------
// Append-only file
// ---------------------------------------------------------------------------------------

/// What must survive a restart: the content digest and the stream's metadata (not the
/// node layout, which an approximate trim replayed exactly may change).
fn stream_state(c: &mut Conn, key: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let digest = c.request(&["DEBUG", "DIGEST"]).unwrap();
    let info = c.cmd(&["XINFO", "STREAM", key]);
    let fields = info.expect_array();
    let mut meta = Vec::new();
    for pair in fields.chunks(2) {
        let name = pair[0].bytes().unwrap_or_default().to_vec();
        if name.starts_with(b"radix-tree") {
            continue;
        }
        meta.push(name);
        meta.push(format!("{:?}", pair[1]).into_bytes());
    }
    (digest, meta)
}

#[test]
fn aof_replays_stream_writes_and_rewrites() {
    let data = common::TempDir::new("streams-aof");
    let d = data.path().display().to_string();
    let args = [
        "--dir",
        d.as_str(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let server = start_ferrokv_with(2, &args);
    let mut c = server.connect();
    for i in 0..500 {
        c.cmd(&["XADD", "s", "*", "n", &i.to_string()]);
    }
    c.cmd(&["XADD", "s", "MAXLEN", "~", "250", "*", "n", "x"]);
    c.cmd(&["XTRIM", "s", "MAXLEN", "~", "120"]);
    c.cmd(&["XADD", "s", "MINID", "~", "0-1", "*", "n", "y"]);
    let ids = c.cmd(&["XRANGE", "s", "-", "+", "COUNT", "3"]);
    let first = ids.expect_array()[1].expect_array()[0]
        .bytes()
        .unwrap()
        .to_vec();
    c.cmd(&[&b"XDEL"[..], b"s", &first]);
    c.cmd(&["XADD", "s", "99999999999999-*", "n", "z"]);
    c.cmd(&["XSETID", "s", "99999999999999-99", "ENTRIESADDED", "1000"]);
    c.cmd(&["XADD", "gone", "1-1", "a", "b"]);
    c.cmd(&["XDEL", "gone", "1-1"]);
    let before = (stream_state(&mut c, "s"), stream_state(&mut c, "gone"));
    drop(c);
    drop(server); // SIGKILL: the log is all there is.
    let server = start_ferrokv_with(2, &args);
    let mut c = server.connect();
    let after = (stream_state(&mut c, "s"), stream_state(&mut c, "gone"));
    assert_eq!(before, after, "replayed log");
    assert!(!c.cmd(&["BGREWRITEAOF"]).is_error());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info =
            String::from_utf8_lossy(&c.request(&["INFO", "persistence"]).unwrap()).to_string();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrites:1") {
            break;
        }
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(c);
    drop(server);
    let server = start_ferrokv_with(2, &args);
    let mut c = server.connect();
    let rewritten = (stream_state(&mut c, "s"), stream_state(&mut c, "gone"));
    assert_eq!(before, rewritten, "rewritten log");
}

/// Truncated and flipped stream payloads (with a valid checksum, so the decoder itself sees
/// them) are refused or loaded, never crash the server; whatever loads can be read whole.
#[test]
fn corrupt_stream_payloads_never_crash() {
    let redis = start_redis();
    let ferrokv = start_ferrokv(2);
    let (mut r, mut f) = (redis.connect(), ferrokv.connect());
    build_stream(&mut r, "st");
    let payload = r.cmd(&["DUMP", "st"]).bytes().unwrap().to_vec();
    let body = &payload[..payload.len() - 10];
    let version = &payload[payload.len() - 10..payload.len() - 8];
    let with_crc = |b: &[u8]| {
        let mut p = b.to_vec();
        p.extend_from_slice(version);
        let crc = ferrokv::persistence::rdb::crc64::crc64(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    };
    let mut candidates: Vec<Vec<u8>> = (1..body.len())
        .step_by(7)
        .map(|n| body[..n].to_vec())
        .collect();
    let mut seed: u64 = 0x5eed;
    for _ in 0..400 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut b = body.to_vec();
        let at = (seed >> 33) as usize % b.len();
        b[at] ^= 1 << ((seed >> 20) % 8);
        candidates.push(b);
    }
    for (i, c) in candidates.iter().enumerate() {
        let key = format!("c{i}");
        let p = with_crc(c);
        let reply = f.cmd(&[&b"RESTORE"[..], key.as_bytes(), b"0", &p]);
        if !reply.is_error() {
            f.cmd(&["XRANGE", &key, "-", "+"]);
            f.cmd(&["XINFO", "STREAM", &key, "FULL"]);
            f.cmd(&["XREVRANGE", &key, "+", "-"]);
            f.cmd(&["DUMP", &key]);
        }
    }
    assert_eq!(f.cmd(&["PING"]), Reply::Simple("PONG".into()));
    assert!(
        !ferrokv.log().contains("panicked"),
        "{}",
        ferrokv.log_tail(20)
    );
}

/// An append-only file written by redis-server (approximate trims propagated as `=` with
/// LIMIT kept, XADD with generated IDs) replays in ferrokv to the same dataset.
#[test]
fn redis_aof_with_streams_loads() {
    let redis = start_server("redis", &redis_server_bin(), &|port| {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            "no",
            "--enable-debug-command",
            "yes",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    });
    let mut r = redis.connect();
    for i in 0..400 {
        r.cmd(&["XADD", "s", "*", "n", &i.to_string()]);
    }
    r.cmd(&[
        "XADD", "s", "MAXLEN", "~", "150", "LIMIT", "1000", "*", "n", "x",
    ]);
    r.cmd(&["XTRIM", "s", "MINID", "~", "0-1"]);
    r.cmd(&["XTRIM", "s", "MAXLEN", "~", "20"]);
    r.cmd(&["XADD", "s", "5-*", "n", "late"]);
    r.cmd(&["XADD", "t", "NOMKSTREAM", "*", "a", "b"]);
    let digest = r.request(&["DEBUG", "DIGEST"]).unwrap();
    let _ = r.request(&["SHUTDOWN"]);
    let dir = redis.dir.path().display().to_string();
    let ferrokv = start_ferrokv_with(2, &["--dir", &dir, "--appendonly", "yes"]);
    let mut f = ferrokv.connect();
    assert_eq!(f.request(&["DEBUG", "DIGEST"]).unwrap(), digest);
}
