//! Replication against real redis-server 7.0, both directions: a redis-server replica of
//! ferrokv (diskless and disk-based full syncs, partial resync after CLIENT KILL TYPE
//! replica) and a ferrokv replica of a redis-server primary (full sync under a write load,
//! partial resync after CLIENT KILL TYPE master, READONLY, ROLE, promotion). Each ends with
//! DEBUG DIGEST equal on both sides.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start_ferrokv_with, start_redis_with, Conn, Reply, ServerGuard};

/// One field of INFO `section`.
fn info_field(c: &mut Conn, section: &str, field: &str) -> Option<String> {
    let text = c.cmd(&["INFO", section]).expect_text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{}:", field)))
        .map(|v| v.trim().to_string())
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {}", what);
}

fn digest(c: &mut Conn) -> String {
    c.cmd(&["DEBUG", "DIGEST"]).expect_text()
}

/// Wait until the replica applied everything the primary produced and the digests agree.
/// Compared until they agree (for 20 s): keys written with a short TTL may expire on the
/// primary between reading the offsets and the digests, and the DEL reaches the replica a
/// moment later. A real divergence never agrees and fails with both digests.
fn assert_in_sync(primary: &mut Conn, replica: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = info_field(primary, "replication", "master_repl_offset");
        let r = info_field(replica, "replication", "slave_repl_offset");
        if p.is_some() && p == r {
            let (dp, dr) = (digest(primary), digest(replica));
            if dp == dr {
                return;
            }
            if Instant::now() >= deadline {
                assert_eq!(dp, dr, "DEBUG DIGEST differs");
            }
        } else if Instant::now() >= deadline {
            panic!("timed out waiting for the replica to catch up ({p:?} vs {r:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes of every type, in databases 0 and 2.
fn write_every_type(c: &mut Conn, tag: &str) {
    let k = |s: &str| format!("{}:{}", tag, s);
    let cmds: Vec<Vec<String>> = vec![
        vec!["SELECT".into(), "0".into()],
        vec!["SET".into(), k("str"), "value".into()],
        vec![
            "SET".into(),
            k("ttl"),
            "v".into(),
            "EX".into(),
            "1000".into(),
        ],
        vec!["INCRBYFLOAT".into(), k("float"), "1.5".into()],
        vec![
            "RPUSH".into(),
            k("list"),
            "a".into(),
            "b".into(),
            "c".into(),
            "d".into(),
        ],
        vec![
            "HSET".into(),
            k("hash"),
            "f1".into(),
            "1".into(),
            "f2".into(),
            "2".into(),
        ],
        vec![
            "SADD".into(),
            k("set"),
            "x".into(),
            "y".into(),
            "z".into(),
            "7".into(),
        ],
        vec![
            "ZADD".into(),
            k("zset"),
            "1".into(),
            "m1".into(),
            "2.5".into(),
            "m2".into(),
        ],
        vec![
            "XADD".into(),
            k("stream"),
            "*".into(),
            "f".into(),
            "v".into(),
        ],
        vec!["PFADD".into(), k("hll"), "a".into(), "b".into(), "c".into()],
        vec!["SETBIT".into(), k("bits"), "77".into(), "1".into()],
        vec!["SELECT".into(), "2".into()],
        vec!["SET".into(), k("db2"), "in db 2".into()],
        vec!["LPUSH".into(), k("db2list"), "1".into(), "2".into()],
        vec!["SELECT".into(), "0".into()],
    ];
    for cmd in cmds {
        let r = c.cmd(&cmd);
        assert!(!r.is_error(), "{:?} failed: {:?}", cmd, r);
    }
}

/// The commands whose propagated form differs from what the client sent.
fn write_rewritten_forms(c: &mut Conn, tag: &str) {
    let k = |s: &str| format!("{}:{}", tag, s);
    let ok = |r: Reply, what: &str| assert!(!r.is_error(), "{} failed: {:?}", what, r);
    // A transaction.
    ok(c.cmd(&["MULTI"]), "multi");
    c.cmd(&["INCR", &k("counter")]);
    c.cmd(&["LPUSH", &k("txlist"), "1", "2", "3"]);
    c.cmd(&["EXPIRE", &k("txlist"), "500"]);
    ok(c.cmd(&["EXEC"]), "exec");
    ok(c.cmd(&["EXPIRE", &k("str"), "300"]), "expire");
    ok(c.cmd(&["SET", &k("getdel"), "x"]), "set");
    ok(c.cmd(&["GETDEL", &k("getdel")]), "getdel");
    ok(c.cmd(&["SET", &k("getex"), "x"]), "set");
    ok(c.cmd(&["GETEX", &k("getex"), "PX", "900000"]), "getex px");
    ok(c.cmd(&["GETEX", &k("ttl"), "PERSIST"]), "getex persist");
    ok(
        c.cmd(&["LMPOP", "2", "nolist", &k("list"), "LEFT", "COUNT", "2"]),
        "lmpop",
    );
    ok(c.cmd(&["SPOP", &k("set")]), "spop");
    ok(c.cmd(&["INCRBYFLOAT", &k("float"), "0.25"]), "incrbyfloat");
    ok(
        c.cmd(&[
            "EVAL",
            "redis.call('set', KEYS[1], ARGV[1]); return redis.call('incr', KEYS[2])",
            "2",
            &k("script"),
            &k("scriptn"),
            "from a script",
        ]),
        "eval",
    );
    // A key that expires and is then read (lazy expiry propagates a DEL).
    ok(c.cmd(&["SET", &k("short"), "v", "PX", "30"]), "set px");
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(c.cmd(&["GET", &k("short")]), Reply::Nil);
}

/// A background writer until `stop`: plain writes and a few that expire.
fn write_load(port: u16, stop: Arc<AtomicBool>, tag: &'static str) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut c = Conn::connect(port).expect("connect for the write load");
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let key = format!("{}:{}", tag, n % 500);
            c.cmd(&["SET", &key, &n.to_string()]);
            c.cmd(&["RPUSH", &format!("{}:l", tag), &n.to_string()]);
            c.cmd(&["HINCRBY", &format!("{}:h", tag), &(n % 7).to_string(), "1"]);
            if n.is_multiple_of(50) {
                c.cmd(&["SET", &format!("{}:e{}", tag, n), "x", "PX", "20"]);
            }
            n += 1;
        }
        n
    })
}

/// `n` keys of 64 bytes, pipelined (so the full sync overlaps the write load).
fn fill(c: &mut Conn, n: usize) {
    let value = "v".repeat(64);
    let mut batch = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let mut args = vec!["MSET".to_string()];
        for i in chunk {
            args.push(format!("pop:{}", i));
            args.push(value.clone());
        }
        common::encode_into(&mut batch, &args);
    }
    c.send_raw(&batch).expect("send the fill");
    for _ in 0..n.div_ceil(100) {
        assert!(!c.read_reply().is_error());
    }
}

fn ferrokv_primary() -> ServerGuard {
    start_ferrokv_with(2, &["--repl-diskless-sync-delay", "0"])
}

#[test]
fn redis_replica_of_ferrokv_full_partial_and_disk_sync() {
    let primary = ferrokv_primary();
    let mut p = primary.connect();
    write_every_type(&mut p, "before");
    // Enough data that the sync overlaps the write load.
    fill(&mut p, 20_000);

    let stop = Arc::new(AtomicBool::new(false));
    let load = write_load(primary.port, stop.clone(), "load");
    let replica = start_redis_with(&[
        "--replicaof".into(),
        "127.0.0.1".into(),
        primary.port.to_string(),
    ]);
    let mut r = replica.connect();
    wait_for("the link to come up", Duration::from_secs(20), || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    });
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    assert!(load.join().expect("write load") > 0);
    write_every_type(&mut p, "after");
    write_rewritten_forms(&mut p, "after");
    assert_in_sync(&mut p, &mut r);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1")
    );

    // INFO and ROLE show the replica online.
    let line = info_field(&mut p, "replication", "slave0").expect("slave0 line");
    assert!(
        line.starts_with(&format!(
            "ip=127.0.0.1,port={},state=online,offset=",
            replica.port
        )),
        "{}",
        line
    );
    let role = p.cmd(&["ROLE"]);
    let parts = role.expect_array();
    assert_eq!(parts[0].expect_text(), "master");
    assert_eq!(parts[2].expect_array().len(), 1);

    // WAIT: the replica acknowledges our last write.
    p.cmd(&["SET", "waited", "1"]);
    assert_eq!(p.cmd(&["WAIT", "1", "5000"]).expect_int(), 1);

    // Partial resync: cut the link, keep writing, the replica continues from the backlog.
    let killed = p.cmd(&["CLIENT", "KILL", "TYPE", "replica"]).expect_int();
    assert_eq!(killed, 1);
    write_every_type(&mut p, "during-cut");
    wait_for("the replica to reconnect", Duration::from_secs(20), || {
        info_field(&mut p, "stats", "sync_partial_ok").as_deref() == Some("1")
    });
    write_rewritten_forms(&mut p, "after-cut");
    assert_in_sync(&mut p, &mut r);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1")
    );
    assert_eq!(
        info_field(&mut r, "stats", "sync_partial_ok").as_deref(),
        Some("0")
    );

    // A second replica with a disk-based full sync, both stay in sync.
    p.cmd(&["CONFIG", "SET", "repl-diskless-sync", "no"]);
    let replica2 = start_redis_with(&[
        "--replicaof".into(),
        "127.0.0.1".into(),
        primary.port.to_string(),
    ]);
    let mut r2 = replica2.connect();
    wait_for(
        "the second link to come up",
        Duration::from_secs(20),
        || info_field(&mut r2, "replication", "master_link_status").as_deref() == Some("up"),
    );
    write_rewritten_forms(&mut p, "two-replicas");
    assert_in_sync(&mut p, &mut r2);
    assert_in_sync(&mut p, &mut r);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("2")
    );
    assert_eq!(
        info_field(&mut p, "replication", "connected_slaves").as_deref(),
        Some("2")
    );
}

#[test]
fn ferrokv_replica_of_redis_full_partial_and_promotion() {
    let primary = start_redis_with(&[]);
    let mut p = primary.connect();
    write_every_type(&mut p, "before");
    fill(&mut p, 20_000);

    let stop = Arc::new(AtomicBool::new(false));
    let load = write_load(primary.port, stop.clone(), "load");
    let replica = start_ferrokv_with(2, &["--replicaof", &format!("127.0.0.1 {}", primary.port)]);
    let mut r = replica.connect();
    wait_for("the link to come up", Duration::from_secs(20), || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    });
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    assert!(load.join().expect("write load") > 0);
    write_every_type(&mut p, "after");
    write_rewritten_forms(&mut p, "after");
    assert_in_sync(&mut p, &mut r);

    // A replica refuses writes, answers reads, and shows its role.
    let err = r.cmd(&["SET", "x", "1"]);
    assert_eq!(
        err,
        Reply::Error("READONLY You can't write against a read only replica.".into())
    );
    assert_eq!(r.cmd(&["GET", "after:str"]).expect_text(), "value");
    let role = r.cmd(&["ROLE"]);
    let parts = role.expect_array();
    assert_eq!(parts[0].expect_text(), "slave");
    assert_eq!(parts[3].expect_text(), "connected");
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]),
        Reply::Simple("OK Already connected to specified master".into())
    );

    // A key the primary has not expired yet reads as missing on the replica, but stays.
    p.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    p.cmd(&["SET", "soon", "v", "PX", "100"]);
    assert_in_sync(&mut p, &mut r);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(r.cmd(&["GET", "soon"]), Reply::Nil);
    assert_eq!(r.cmd(&["DBSIZE"]), p.cmd(&["DBSIZE"]));
    p.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);

    // Partial resync after the replica's link to its primary is cut.
    let killed = r.cmd(&["CLIENT", "KILL", "TYPE", "master"]).expect_int();
    assert_eq!(killed, 1);
    write_every_type(&mut p, "during-cut");
    wait_for("the replica to reconnect", Duration::from_secs(20), || {
        info_field(&mut p, "stats", "sync_partial_ok").as_deref() == Some("1")
    });
    write_rewritten_forms(&mut p, "after-cut");
    assert_in_sync(&mut p, &mut r);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1")
    );

    // Promotion keeps the old history as replid2.
    let old_id = info_field(&mut r, "replication", "master_replid").expect("replid");
    let offset: u64 = info_field(&mut r, "replication", "master_repl_offset")
        .expect("offset")
        .parse()
        .expect("number");
    assert_eq!(
        r.cmd(&["REPLICAOF", "NO", "ONE"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        info_field(&mut r, "replication", "role").as_deref(),
        Some("master")
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_replid2"),
        Some(old_id)
    );
    assert_eq!(
        info_field(&mut r, "replication", "second_repl_offset"),
        Some((offset + 1).to_string())
    );
    assert_eq!(r.cmd(&["SET", "x", "1"]), Reply::Simple("OK".into()));
}

#[test]
fn ferrokv_chain_and_min_replicas() {
    let primary = ferrokv_primary();
    let mut p = primary.connect();
    // No replica yet: writes are refused while min-replicas-to-write asks for one.
    p.cmd(&["CONFIG", "SET", "min-replicas-to-write", "1"]);
    assert_eq!(
        p.cmd(&["SET", "k", "v"]),
        Reply::Error("NOREPLICAS Not enough good replicas to write.".into())
    );
    // As Redis: refused when queued, so EXEC aborts.
    p.cmd(&["MULTI"]);
    assert!(p.cmd(&["SET", "k", "v"]).is_error());
    assert_eq!(
        p.cmd(&["EXEC"]),
        Reply::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
    assert_eq!(p.cmd(&["GET", "k"]), Reply::Nil);
    p.cmd(&["CONFIG", "SET", "min-replicas-to-write", "0"]);
    write_every_type(&mut p, "off");
    p.cmd(&["CONFIG", "SET", "min-replicas-to-write", "1"]);

    let replica = start_ferrokv_with(
        2,
        &[
            "--replicaof",
            &format!("127.0.0.1 {}", primary.port),
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    let mut r = replica.connect();
    wait_for("the link to come up", Duration::from_secs(20), || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    });
    // A replica of the replica: the chain carries the primary's stream byte for byte.
    let sub = start_ferrokv_with(2, &["--replicaof", &format!("127.0.0.1 {}", replica.port)]);
    let mut s = sub.connect();
    wait_for(
        "the chained link to come up",
        Duration::from_secs(20),
        || info_field(&mut s, "replication", "master_link_status").as_deref() == Some("up"),
    );
    wait_for("a good replica", Duration::from_secs(5), || {
        !p.cmd(&["SET", "k", "v"]).is_error()
    });
    write_rewritten_forms(&mut p, "chain");
    assert_in_sync(&mut p, &mut r);
    assert_in_sync(&mut p, &mut s);
    assert_eq!(
        info_field(&mut s, "replication", "master_replid"),
        info_field(&mut p, "replication", "master_replid")
    );
    // WAIT through a ferrokv replica (REPLCONF GETACK / ACK).
    p.cmd(&["SET", "acked", "1"]);
    assert_eq!(p.cmd(&["WAIT", "1", "5000"]).expect_int(), 1);

    // Promoting the middle replica: its own replica continues from the old history
    // (PSYNC with the old id, accepted through replid2) without a full sync.
    let old_id = info_field(&mut r, "replication", "master_replid");
    assert_eq!(
        r.cmd(&["REPLICAOF", "NO", "ONE"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(info_field(&mut r, "replication", "master_replid2"), old_id);
    wait_for(
        "the chained replica to continue",
        Duration::from_secs(20),
        || info_field(&mut r, "stats", "sync_partial_ok").as_deref() == Some("1"),
    );
    assert_eq!(
        info_field(&mut r, "stats", "sync_full").as_deref(),
        Some("1")
    );
    r.cmd(&["SET", "on the promoted one", "1"]);
    assert_in_sync(&mut r, &mut s);
    assert_eq!(
        info_field(&mut s, "replication", "master_replid"),
        info_field(&mut r, "replication", "master_replid")
    );
}

#[test]
fn ferrokv_replica_authenticates_with_masteruser_and_masterauth() {
    let primary = start_redis_with(&["--requirepass".into(), "primary-pw".into()]);
    let mut p = primary.connect();
    assert_eq!(p.cmd(&["AUTH", "primary-pw"]), Reply::Simple("OK".into()));
    p.cmd(&["ACL", "SETUSER", "repl", "on", ">repl-pw", "+@all", "~*"]);
    p.cmd(&["SET", "guarded", "1"]);
    // A wrong password keeps the link down; the right user and password bring it up.
    let replica = start_ferrokv_with(
        2,
        &[
            "--replicaof",
            &format!("127.0.0.1 {}", primary.port),
            "--masteruser",
            "repl",
            "--masterauth",
            "wrong",
        ],
    );
    let mut r = replica.connect();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        info_field(&mut r, "replication", "master_link_status").as_deref(),
        Some("down")
    );
    r.cmd(&["CONFIG", "SET", "masterauth", "repl-pw"]);
    wait_for("the authenticated link", Duration::from_secs(20), || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    });
    p.cmd(&["SET", "after", "2"]);
    assert_in_sync(&mut p, &mut r);
    assert_eq!(r.cmd(&["GET", "guarded"]).expect_text(), "1");
}

/// A SYNC client as Redis's Tcl helper `attach_to_replication_stream` is: it sends SYNC,
/// reads the `$<len>` RDB and keeps the socket to read the stream. Returns the socket and
/// any stream bytes read with the RDB.
fn attach_sync_client(port: u16, wait_before_sync: Duration) -> (std::net::TcpStream, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    // The connection task waits for its first request meanwhile (the stall needed that).
    std::thread::sleep(wait_before_sync);
    s.write_all(b"SYNC\r\n").expect("send SYNC");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        // Newlines before the length are keep-alives.
        let start = buf.iter().position(|&b| b != b'\n').unwrap_or(buf.len());
        if let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&buf[start..start + nl])
                .trim()
                .to_string();
            let len: usize = line
                .strip_prefix('$')
                .and_then(|l| l.parse().ok())
                .unwrap_or_else(|| panic!("SYNC answered {:?}", line));
            let body = start + nl + 1;
            if buf.len() >= body + len {
                return (s, buf.split_off(body + len));
            }
        }
        let n = s.read(&mut chunk).expect("reading the SYNC payload");
        assert!(n > 0, "closed during SYNC");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Read the stream until it contains `needle`, for at most `timeout`; returns what was read.
fn read_stream_until(
    s: &mut std::net::TcpStream,
    mut got: Vec<u8>,
    needle: &[u8],
    timeout: Duration,
) -> Vec<u8> {
    use std::io::Read;
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; 4096];
    while !got.windows(needle.len()).any(|w| w == needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left)).expect("read timeout");
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    got
}

/// Issue 14's stall: back-to-back SYNC clients, each reading one write from its stream and
/// closing. A connection that had waited for its first request before sending SYNC kept
/// that wait registered, and it swallowed the wake-up meant for the stream writer: the
/// write reached the client only with the next one (never, in Redis's unit/multi).
#[test]
fn back_to_back_sync_clients_each_get_their_stream() {
    let server = ferrokv_primary();
    let mut c = server.connect();
    for i in 0..30 {
        // Half the clients send SYNC at once, half after the connection went idle.
        let pause = Duration::from_millis(if i % 2 == 0 { 30 } else { 0 });
        let (mut s, early) = attach_sync_client(server.port, pause);
        let key = format!("back-to-back:{}", i);
        // A single write: nothing after it would push the stream along.
        assert_eq!(c.cmd(&["SET", &key, "v"]), Reply::Simple("OK".into()));
        let got = read_stream_until(&mut s, early, key.as_bytes(), Duration::from_secs(2));
        assert!(
            got.windows(key.len()).any(|w| w == key.as_bytes()),
            "SYNC client {} got no stream within 2 s: {:?}",
            i,
            String::from_utf8_lossy(&got)
        );
        drop(s);
    }
    // Every closed link is noticed (no replica is left attached).
    wait_for(
        "the closed links to detach",
        Duration::from_secs(10),
        || info_field(&mut c, "replication", "connected_slaves").as_deref() == Some("0"),
    );
}

/// REPLICAOF host port keeps our replicas attached (Redis 7.0: they may continue once we
/// follow the new primary), so what was queued for them before the switch still reaches
/// them, even when the switch comes at once; REPLICAOF NO ONE disconnects them.
#[test]
fn replicaof_keeps_replicas_until_the_history_changes() {
    let server = ferrokv_primary();
    let mut c = server.connect();
    for round in 0..5 {
        let (mut s, early) = attach_sync_client(server.port, Duration::ZERO);
        let key = format!("before-the-switch:{}", round);
        // The write and the switch in one round trip: the stream writer may not have run.
        c.send(&["SET", &key, "v"]).expect("send");
        c.send(&["REPLICAOF", "127.0.0.1", &common::free_port().to_string()])
            .expect("send");
        assert_eq!(c.read_reply(), Reply::Simple("OK".into()));
        assert_eq!(c.read_reply(), Reply::Simple("OK".into()));
        let got = read_stream_until(&mut s, early, key.as_bytes(), Duration::from_secs(2));
        assert!(
            got.windows(key.len()).any(|w| w == key.as_bytes()),
            "round {}: the write before REPLICAOF never reached the replica: {:?}",
            round,
            String::from_utf8_lossy(&got)
        );
        assert_eq!(
            info_field(&mut c, "replication", "connected_slaves").as_deref(),
            Some("1")
        );
        assert_eq!(
            c.cmd(&["REPLICAOF", "NO", "ONE"]),
            Reply::Simple("OK".into())
        );
        // Promotion starts a new history: the replica is disconnected.
        let (_, closed) = {
            use std::io::Read;
            let mut rest = Vec::new();
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("read timeout");
            let closed = loop {
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk) {
                    Ok(0) => break true,
                    Ok(n) => rest.extend_from_slice(&chunk[..n]),
                    Err(_) => break false,
                }
            };
            (rest, closed)
        };
        assert!(closed, "round {}: REPLICAOF NO ONE kept the replica", round);
    }
}

/// Lines of the server's log that contain `what`.
fn log_count(server: &ServerGuard, what: &str) -> usize {
    server.log().lines().filter(|l| l.contains(what)).count()
}

/// Three redis-server replicas asking for a full sync at about the same time, under a
/// write load, share one snapshot of ferrokv (`extra`: how the primary syncs); all end in
/// sync with the primary.
fn concurrent_full_syncs_share_one_snapshot(extra: &[&str], target: &str) {
    let primary = start_ferrokv_with(2, extra);
    let mut p = primary.connect();
    write_every_type(&mut p, "before");
    fill(&mut p, 10_000);
    let stop = Arc::new(AtomicBool::new(false));
    let load = write_load(primary.port, stop.clone(), "load");
    let replicas: Vec<ServerGuard> = (0..3)
        .map(|_| {
            start_redis_with(&[
                "--replicaof".into(),
                "127.0.0.1".into(),
                primary.port.to_string(),
            ])
        })
        .collect();
    let mut conns: Vec<Conn> = replicas.iter().map(|r| r.connect()).collect();
    for r in conns.iter_mut() {
        wait_for("the links to come up", Duration::from_secs(25), || {
            info_field(r, "replication", "master_link_status").as_deref() == Some("up")
        });
    }
    stop.store(true, Ordering::Relaxed);
    assert!(load.join().expect("write load") > 0);
    write_rewritten_forms(&mut p, "after");
    for r in conns.iter_mut() {
        // The load's short-lived keys expire on the primary meanwhile (a DEL in the stream
        // that may land between reading the offsets and the digests): look again until
        // both agree.
        wait_for("the replicas to match", Duration::from_secs(20), || {
            let po = info_field(&mut p, "replication", "master_repl_offset");
            po.is_some()
                && po == info_field(r, "replication", "slave_repl_offset")
                && digest(&mut p) == digest(r)
        });
    }
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("3")
    );
    let started = format!("Starting BGSAVE for SYNC with target: {}", target);
    assert_eq!(
        log_count(&primary, &started),
        1,
        "one snapshot for three replicas; log:\n{}",
        primary.log_tail(40)
    );
}

/// Disk: the second and third replica join the running sync to a file (slowed down by
/// `rdb-key-save-delay` so they arrive while it runs) and get the same file.
#[test]
fn concurrent_disk_syncs_share_one_rdb_file() {
    concurrent_full_syncs_share_one_snapshot(
        &["--repl-diskless-sync", "no", "--rdb-key-save-delay", "500"],
        "disk",
    );
}

/// Diskless: the replicas gather during `repl-diskless-sync-delay` (30 s, cut short by
/// `repl-diskless-sync-max-replicas 3` once all three wait) and get one RDB stream.
#[test]
fn concurrent_diskless_syncs_share_one_stream() {
    let begun = Instant::now();
    concurrent_full_syncs_share_one_snapshot(
        &[
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "30",
            "--repl-diskless-sync-max-replicas",
            "3",
        ],
        "replicas sockets",
    );
    assert!(
        begun.elapsed() < Duration::from_secs(28),
        "the sync waited for the whole delay"
    );
}

/// The same commands on a redis-server replica and a ferrokv replica of one redis-server
/// primary, replies compared (RESP2).
fn same_on_both(redis: &mut Conn, ferrokv: &mut Conn, cmds: &[&[&str]]) {
    for cmd in cmds {
        let want = redis.request(cmd).expect("redis replica reply");
        let got = ferrokv.request(cmd).expect("ferrokv replica reply");
        assert_eq!(
            common::escape(&got),
            common::escape(&want),
            "{:?} on the replicas",
            cmd
        );
    }
}

/// Replicas do not expire keys: a key whose deadline passed (the primary has not deleted
/// it: active expiry off there) answers as missing to reads, but still counts in DBSIZE
/// and may come out of RANDOMKEY, exactly as on a redis-server replica; both from the RDB
/// of the full sync (a replica keeps expired keys when loading it) and from the stream.
/// CONFIG GET replicaof follows REPLICAOF.
#[test]
fn replica_reads_of_logically_expired_keys_match_redis() {
    let primary = start_redis_with(&["--repl-diskless-sync-delay".into(), "0".into()]);
    let mut p = primary.connect();
    p.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    p.cmd(&["SET", "in-rdb", "1", "PX", "50"]);
    p.cmd(&["HSET", "in-rdb-hash", "f", "v"]);
    p.cmd(&["PEXPIRE", "in-rdb-hash", "50"]);
    std::thread::sleep(Duration::from_millis(200));
    let of = format!("127.0.0.1 {}", primary.port);
    let redis_replica = start_redis_with(&[
        "--replicaof".into(),
        "127.0.0.1".into(),
        primary.port.to_string(),
    ]);
    let ferrokv_replica = start_ferrokv_with(2, &["--replicaof", &of]);
    let mut rr = redis_replica.connect();
    let mut fr = ferrokv_replica.connect();
    assert_in_sync_with_redis_replica(&mut p, &mut rr, &mut fr);
    let reads: &[&[&str]] = &[
        &["DBSIZE"],
        &["GET", "in-rdb"],
        &["EXISTS", "in-rdb", "in-rdb-hash"],
        &["TTL", "in-rdb"],
        &["TYPE", "in-rdb-hash"],
        &["HGETALL", "in-rdb-hash"],
        &["SCAN", "0", "COUNT", "100"],
        &["KEYS", "*"],
    ];
    same_on_both(&mut rr, &mut fr, reads);
    // Every key is volatile and expired: Redis gives one of them (at random) after its
    // tries, never nil.
    for c in [&mut rr, &mut fr] {
        let key = c.cmd(&["RANDOMKEY"]).expect_text();
        assert!(
            key == "in-rdb" || key == "in-rdb-hash",
            "RANDOMKEY gave {:?}",
            key
        );
    }
    // Through the stream, beside a live key.
    p.cmd(&["SET", "in-stream", "1", "PX", "50"]);
    p.cmd(&["SET", "live", "1"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_in_sync_with_redis_replica(&mut p, &mut rr, &mut fr);
    let reads: &[&[&str]] = &[
        &["DBSIZE"],
        &["GET", "in-stream"],
        &["EXISTS", "in-stream", "live"],
        &["SCAN", "0", "COUNT", "100"],
        &["KEYS", "*"],
        &["RANDOMKEY"],
        &["RANDOMKEY"],
        &["RANDOMKEY"],
    ];
    same_on_both(&mut rr, &mut fr, reads);
    // The primary's DEL (here from its lazy expiry) removes them on both.
    p.cmd(&["GET", "in-rdb"]);
    p.cmd(&["GET", "in-stream"]);
    assert_in_sync_with_redis_replica(&mut p, &mut rr, &mut fr);
    same_on_both(&mut rr, &mut fr, &[&["DBSIZE"], &["KEYS", "*"]]);

    same_on_both(&mut rr, &mut fr, &[&["CONFIG", "GET", "replicaof"]]);
    assert_eq!(
        fr.cmd(&["CONFIG", "GET", "replicaof"]),
        Reply::Array(vec![
            Reply::Bulk(b"replicaof".to_vec()),
            Reply::Bulk(of.clone().into_bytes())
        ])
    );
    for c in [&mut rr, &mut fr] {
        assert_eq!(
            c.cmd(&["REPLICAOF", "NO", "ONE"]),
            Reply::Simple("OK".into())
        );
    }
    same_on_both(
        &mut rr,
        &mut fr,
        &[
            &["CONFIG", "GET", "replicaof"],
            &["CONFIG", "GET", "slaveof"],
        ],
    );
}

/// Wait until both replicas applied everything the primary produced.
fn assert_in_sync_with_redis_replica(p: &mut Conn, rr: &mut Conn, fr: &mut Conn) {
    wait_for("the replicas to catch up", Duration::from_secs(20), || {
        let po = info_field(p, "replication", "master_repl_offset");
        po.is_some()
            && po == info_field(rr, "replication", "slave_repl_offset")
            && po == info_field(fr, "replication", "slave_repl_offset")
            && info_field(fr, "replication", "master_link_status").as_deref() == Some("up")
    });
}

/// A ferrokv replica of redis-server with `repl-diskless-load` `mode`, holding `local`
/// keys of its own before the sync: ends with the primary's data, loaded from the link
/// (`from_link`) or through a temporary file.
fn diskless_load(mode: &str, local: usize, from_link: bool) {
    let primary = start_redis_with(&["--repl-diskless-sync-delay".into(), "0".into()]);
    let mut p = primary.connect();
    write_every_type(&mut p, "primary");
    fill(&mut p, 5_000);
    let replica = start_ferrokv_with(2, &["--repl-diskless-load", mode]);
    let mut r = replica.connect();
    for i in 0..local {
        r.cmd(&["SET", &format!("local:{}", i), "x"]);
    }
    r.cmd(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]);
    wait_for_link(&mut r);
    assert_in_sync(&mut p, &mut r);
    assert_eq!(r.cmd(&["EXISTS", "local:0"]).expect_int(), 0);
    assert_eq!(
        replica.log().contains("Loading DB in memory"),
        from_link,
        "{}:\n{}",
        mode,
        replica.log_tail(20)
    );
}

#[test]
fn repl_diskless_load_modes() {
    diskless_load("disabled", 0, false);
    diskless_load("on-empty-db", 0, true);
    diskless_load("on-empty-db", 10, false);
    diskless_load("swapdb", 10, true);
}

/// `repl-diskless-load swapdb`: the old data is served while the new one arrives, and
/// kept when the transfer fails (the primary dies halfway).
#[test]
fn swapdb_keeps_the_old_data_when_the_transfer_fails() {
    let primary = start_redis_with(&[
        "--repl-diskless-sync".into(),
        "yes".into(),
        "--repl-diskless-sync-delay".into(),
        "0".into(),
        "--rdb-key-save-delay".into(),
        "200".into(),
    ]);
    let mut p = primary.connect();
    fill(&mut p, 20_000);
    let replica = start_ferrokv_with(2, &["--repl-diskless-load", "swapdb"]);
    let mut r = replica.connect();
    r.cmd(&["SET", "old", "data"]);
    r.cmd(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]);
    wait_for("the transfer to start", Duration::from_secs(20), || {
        info_field(&mut r, "replication", "master_sync_in_progress").as_deref() == Some("1")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r.cmd(&["GET", "old"]).expect_text(), "data");
    let killed = std::process::Command::new("kill")
        .args(["-9", &primary.pid().to_string()])
        .status()
        .expect("kill -9");
    assert!(killed.success());
    wait_for("the link to drop", Duration::from_secs(20), || {
        info_field(&mut r, "replication", "master_sync_in_progress").as_deref() == Some("0")
    });
    assert_eq!(r.cmd(&["GET", "old"]).expect_text(), "data");
    assert_eq!(r.cmd(&["DBSIZE"]).expect_int(), 1);
}

/// A replica configured at start-up connects once its own RDB is loaded (its full sync
/// then replaces that data); REPLICAOF sent while it loads is refused with -LOADING.
#[test]
fn replicaof_while_loading_at_start() {
    let primary = start_redis_with(&["--repl-diskless-sync-delay".into(), "0".into()]);
    let mut p = primary.connect();
    write_every_type(&mut p, "primary");
    // An RDB of 20,000 keys for the replica to load slowly at start.
    let source = start_redis_with(&[]);
    let mut s = source.connect();
    fill(&mut s, 20_000);
    s.cmd(&["SAVE"]);
    let data = common::TempDir::new("replica-loading");
    std::fs::copy(
        source.dir.path().join("dump.rdb"),
        data.path().join("dump.rdb"),
    )
    .expect("copy dump.rdb");
    let port = common::free_port();
    let mut child = std::process::Command::new(common::ferrokv_bin())
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            &data.path().display().to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--key-load-delay",
            "100",
            "--enable-debug-command",
            "yes",
            "--replicaof",
            &format!("127.0.0.1 {}", primary.port),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start ferrokv");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut c = loop {
            if let Ok(mut c) = Conn::connect(port) {
                if c.request(&["PING"]).is_ok() {
                    break c;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let refused = c.cmd(&["REPLICAOF", "NO", "ONE"]);
        assert_eq!(
            refused,
            Reply::Error("LOADING Redis is loading the dataset in memory".into())
        );
        wait_for_link(&mut c);
        assert_in_sync(&mut p, &mut c);
        assert_eq!(c.cmd(&["EXISTS", "pop:0"]).expect_int(), 0);
    }));
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// Wait until a replica's link is up (its full sync done).
fn wait_for_link(r: &mut Conn) {
    wait_for("the link to come up", Duration::from_secs(30), || {
        let info = r.request(&["INFO", "replication"]).unwrap_or_default();
        String::from_utf8_lossy(&info).contains("master_link_status:up")
    });
}

/// scripts/repl-bench.sh at a tiny size (the full run is on demand), so it cannot rot:
/// both tables with a row per server.
#[test]
fn repl_bench_script_runs_at_a_tiny_size() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/repl-bench.sh"))
        .env("KEYS", "2000")
        .env("RATE", "300")
        .env("STEADY", "0.5")
        .env("FLOOD", "10000")
        .env("NO_BUILD", "1")
        .env("FERROKV_BIN", common::ferrokv_bin())
        .output()
        .expect("run scripts/repl-bench.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "repl-bench.sh failed:\n{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    for server in ["| redis |", "| ferrokv |"] {
        assert_eq!(stdout.matches(server).count(), 2, "{}", stdout);
    }
    assert!(stdout.contains("(a) full sync of 2000 keys"), "{}", stdout);
    assert!(
        stdout.contains("(b) SET flood at pipeline 16"),
        "{}",
        stdout
    );
}
