//! Client limits over TCP: `client-output-buffer-limit` for clients that pipeline without
//! reading and for Pub/Sub subscribers that do not read, backpressure without limits,
//! `client-query-buffer-limit`, `maxclients` (refusal text, CONFIG SET), and a hostile
//! load: thousands of idle connections plus clients that pipeline without reading, while
//! a normal client keeps its latency and the server its memory. Where Redis can be asked
//! the same, the test runs against ferrokv and a real redis-server and compares.
//!
//! `scripts/hostile-clients.sh` runs the hostile test bigger (more connections, more
//! attackers) and measures redis-server beside it.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{start_ferrokv_with, start_server, Conn, ServerGuard};

/// A 100 KB value: replies that fill output buffers fast.
const BIG: usize = 100 * 1024;

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn req(c: &mut Conn, args: &[&str]) -> Vec<u8> {
    c.request(args)
        .unwrap_or_else(|e| panic!("{:?}: {}", args, e))
}

fn ok(c: &mut Conn, args: &[&str]) {
    assert_eq!(
        String::from_utf8_lossy(&req(c, args)),
        "+OK\r\n",
        "{:?}",
        args
    );
}

fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "{} not reached in {} s",
            what,
            secs
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid)).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One INFO field (`name:value`), as text.
fn info_field(c: &mut Conn, section: &str, name: &str) -> String {
    let reply = req(c, &["INFO", section]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{}:", name)))
        .unwrap_or_else(|| panic!("INFO {} has no {}:\n{}", section, name, text))
        .to_string()
}

/// CLIENT LIST as a map from client name to its fields (unnamed clients left out).
fn clients_by_name(c: &mut Conn) -> HashMap<String, HashMap<String, String>> {
    let reply = req(c, &["CLIENT", "LIST"]);
    String::from_utf8_lossy(&reply)
        .lines()
        .map(|line| {
            line.split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        })
        .filter_map(|f| Some((f.get("name").filter(|n| !n.is_empty())?.clone(), f)))
        .collect()
}

/// How many clients the server's log says it closed for their output-buffer limits (one
/// line per client, as Redis logs it).
fn obuf_closes(server: &ServerGuard) -> usize {
    server
        .log()
        .matches("scheduled to be closed ASAP for overcoming of output buffer limits")
        .count()
}

/// Raise this process's open-files limit to its hard limit; returns the soft limit now.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    #[allow(clippy::unnecessary_cast)]
    let soft = lim.rlim_cur as u64;
    soft
}

/// Both servers, each with `extra` arguments (Redis's spelling; ferrokv takes the same).
fn both(extra: &[&str]) -> Vec<ServerGuard> {
    let redis_extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let redis = start_server("redis", &common::redis_server_bin(), &move |port| {
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(redis_extra.iter().cloned());
        args
    });
    vec![start_ferrokv_with(2, extra), redis]
}

/// A client that sends `n` GETs of the big key and never reads, from a thread (its
/// writes block once the server stops reading). Returns the connection's clone for
/// reading later and the writer thread.
fn pipeline_without_reading(
    port: u16,
    name: &str,
    n: usize,
) -> (std::net::TcpStream, std::thread::JoinHandle<()>) {
    let mut c = conn(port);
    ok(&mut c, &["CLIENT", "SETNAME", name]);
    let stream = c.stream.try_clone().expect("clone");
    let mut batch = Vec::new();
    for _ in 0..n {
        batch.extend(common::encode(&["GET", "big"]));
    }
    let writer = std::thread::spawn(move || {
        let _ = c.stream.set_write_timeout(Some(Duration::from_secs(30)));
        let _ = c.stream.write_all(&batch);
    });
    (stream, writer)
}

/// Read from `s` until the server closes it (true) or 10 s pass (false); returns the
/// bytes read too.
fn read_to_close(s: &mut std::net::TcpStream) -> (bool, usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (true, total),
            Ok(n) => total += n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (true, total),
        }
    }
    (false, total)
}

/// A client that pipelines thousands of GETs of a 100 KB value and never reads is closed
/// at the `normal` hard limit, by ferrokv as by Redis; ferrokv counts and logs it.
#[test]
fn pipelining_client_is_closed_at_the_normal_hard_limit_like_redis() {
    for server in both(&[]) {
        let mut admin = server.connect();
        ok(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 4mb 0 0",
            ],
        );
        ok(&mut admin, &["SET", "big", &"x".repeat(BIG)]);
        let (mut stream, writer) = pipeline_without_reading(server.port, "greedy", 3000);
        wait_until(
            &format!("{}: greedy client closed", server.name),
            15,
            || !clients_by_name(&mut admin).contains_key("greedy"),
        );
        let (closed, _) = read_to_close(&mut stream);
        assert!(closed, "{}: the connection was closed", server.name);
        let _ = writer.join();
        assert_eq!(req(&mut admin, &["PING"]), b"+PONG\r\n");
        if server.name == "ferrokv" {
            assert_eq!(obuf_closes(&server), 1, "closes logged");
        }
    }
}

/// Expected bytes of `n` replies to GET of the big key.
fn big_replies(n: usize) -> usize {
    n * (format!("${}\r\n", BIG).len() + BIG + 2)
}

/// Without a `normal` limit (the default), a client that pipelines without reading gets
/// backpressure: the server stops running its requests once 16 MB wait, stays within
/// its memory, and the client, reading at last, gets every reply in full.
#[test]
fn without_limits_a_pipelining_client_gets_backpressure_and_every_reply() {
    let server = start_ferrokv_with(2, &[]);
    let mut admin = server.connect();
    ok(&mut admin, &["SET", "big", &"x".repeat(BIG)]);
    let rss_before = rss_kib(server.pid());
    const N: usize = 2000; // 200 MB of replies
    let (mut stream, writer) = pipeline_without_reading(server.port, "slow", N);
    std::thread::sleep(Duration::from_millis(1500));
    let rss_during = rss_kib(server.pid());
    assert_eq!(req(&mut admin, &["PING"]), b"+PONG\r\n");
    assert!(
        clients_by_name(&mut admin).contains_key("slow"),
        "no limit: not closed"
    );
    assert!(
        rss_during < rss_before + 64 * 1024,
        "RSS grew from {} KiB to {} KiB with one client not reading",
        rss_before,
        rss_during
    );
    // Now read everything: all N replies arrive, in full.
    let expected = big_replies(N);
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    while got < expected {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    writer.join().expect("writer");
    assert_eq!(got, expected, "every reply arrived");
}

/// With a `normal` hard limit not reached, a client that pipelines a lot and reads
/// slowly gets every reply (the server reads further requests while output waits).
#[test]
fn a_slow_reader_under_the_limit_gets_every_reply() {
    let server = start_ferrokv_with(2, &[]);
    let mut admin = server.connect();
    ok(
        &mut admin,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 512mb 0 0",
        ],
    );
    ok(&mut admin, &["SET", "big", &"x".repeat(BIG)]);
    const N: usize = 1000;
    let (mut stream, writer) = pipeline_without_reading(server.port, "slowreader", N);
    wait_until("CLIENT LIST shows pending output", 10, || {
        let fields = clients_by_name(&mut admin)
            .remove("slowreader")
            .expect("still connected");
        fields["omem"].parse::<usize>().unwrap() > 0
    });
    let expected = big_replies(N);
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    while got < expected {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
        if got % (8 << 20) < 64 * 1024 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    writer.join().expect("writer");
    assert_eq!(got, expected, "every reply arrived");
    assert_eq!(obuf_closes(&server), 0, "closes logged");
}

/// A subscriber that does not read is closed at the `pubsub` hard limit by both servers
/// (Redis's obuf-limits test, which cannot run against an external server): CLIENT LIST
/// shows its pending output growing, and under the limit until it is gone.
#[test]
fn a_subscriber_that_does_not_read_is_closed_by_both_at_the_hard_limit() {
    let mut published = Vec::new();
    for server in both(&[]) {
        let mut admin = server.connect();
        ok(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 100000 0 0",
            ],
        );
        let mut sub = server.connect();
        ok(&mut sub, &["CLIENT", "SETNAME", "deaf"]);
        req(&mut sub, &["SUBSCRIBE", "foo"]);
        let mut publisher = server.connect();
        let payload = "y".repeat(1000);
        let mut batches = 0;
        let mut max_omem = 0u64;
        loop {
            let mut batch = Vec::new();
            for _ in 0..20 {
                batch.extend(common::encode(&["PUBLISH", "foo", &payload]));
            }
            publisher.send_raw(&batch).expect("publish");
            for _ in 0..20 {
                publisher.read_frame().expect("publish reply");
            }
            batches += 1;
            match clients_by_name(&mut admin).get("deaf") {
                None => break,
                Some(f) => max_omem = max_omem.max(f["omem"].parse().unwrap_or(0)),
            }
            assert!(
                batches < 5000,
                "{}: the subscriber was never closed",
                server.name
            );
        }
        assert!(
            max_omem < 200_000,
            "{}: omem stayed under the limit (saw {})",
            server.name,
            max_omem
        );
        let (closed, _) = read_to_close(&mut sub.stream);
        assert!(closed, "{}: closed", server.name);
        published.push((server.name, batches * 20 * 1000));
    }
    eprintln!(
        "bytes published before the subscriber was closed: {:?}",
        published
    );
}

/// `client-query-buffer-limit`: a request whose unparsed part passes the limit closes
/// the connection on both servers; ferrokv logs Redis's line and counts it.
#[test]
fn query_buffer_limit_closes_the_client_like_redis() {
    for server in both(&[]) {
        let mut admin = server.connect();
        ok(
            &mut admin,
            &["CONFIG", "SET", "client-query-buffer-limit", "1mb"],
        );
        let mut c = server.connect();
        let mut head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n".to_vec();
        head.extend(std::iter::repeat_n(b'x', 1_500_000));
        let _ = c.stream.write_all(&head);
        let (closed, got) = read_to_close(&mut c.stream);
        assert!(closed, "{}: closed", server.name);
        assert_eq!(got, 0, "{}: no reply", server.name);
        if server.name == "ferrokv" {
            assert_eq!(
                server
                    .log()
                    .matches("Closing client that reached max query buffer length")
                    .count(),
                1
            );
        }
        // Under the limit, a big value is fine.
        ok(&mut admin, &["SET", "k", &"z".repeat(900_000)]);
    }
}

/// `maxclients`: the connection past the limit gets Redis's error and is closed; it
/// counts in `rejected_connections` and not in `total_connections_received`.
#[test]
fn maxclients_refusal_matches_redis() {
    let mut seen = Vec::new();
    for server in both(&["--maxclients", "2"]) {
        let mut a = server.connect();
        assert_eq!(req(&mut a, &["PING"]), b"+PONG\r\n");
        // The start-up probes connected a varying number of times: count from here.
        let received_before: u64 = info_field(&mut a, "stats", "total_connections_received")
            .parse()
            .unwrap();
        let mut b = server.connect();
        assert_eq!(req(&mut b, &["PING"]), b"+PONG\r\n");
        let mut c = server.connect();
        let _ = c.send(&["PING"]);
        let (bytes, closed) = c.read_until_close(Duration::from_secs(5));
        assert!(closed, "{}: closed", server.name);
        let rejected = info_field(&mut a, "stats", "rejected_connections");
        let received = info_field(&mut a, "stats", "total_connections_received")
            .parse::<u64>()
            .unwrap()
            - received_before;
        drop(b);
        // A place is free again.
        wait_until("a free place", 5, || {
            let mut d = server.connect();
            d.request(&["PING"]).is_ok_and(|r| r == b"+PONG\r\n")
        });
        seen.push((
            String::from_utf8_lossy(&bytes).into_owned(),
            rejected,
            received,
        ));
    }
    assert_eq!(seen[0], seen[1], "ferrokv, then redis");
    assert_eq!(seen[0].0, "-ERR max number of clients reached\r\n");
}

/// CONFIG SET/GET maxclients: the same replies as Redis, including the refusal when the
/// system cannot give enough file descriptors (both inherit this process's limit).
#[test]
fn config_set_maxclients_matches_redis() {
    let mut seen = Vec::new();
    for server in both(&[]) {
        let mut c = server.connect();
        let mut replies = Vec::new();
        for args in [
            &["CONFIG", "SET", "maxclients", "0"][..],
            &["CONFIG", "SET", "maxclients", "abc"][..],
            &["CONFIG", "SET", "maxclients", "50"][..],
            &["CONFIG", "GET", "maxclients"][..],
            &["CONFIG", "SET", "maxclients", "100000"][..],
            &["CONFIG", "SET", "maxclients", "1000"][..],
            &["CONFIG", "GET", "maxclients"][..],
        ] {
            replies.push(String::from_utf8_lossy(&req(&mut c, args)).into_owned());
        }
        seen.push(replies);
    }
    assert_eq!(seen[0], seen[1], "ferrokv, then redis");
}

/// Read the settings of the hostile test from the environment (the on-demand script
/// makes it bigger).
fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// RSS per idle connection of `server`: open `n` connections (each sends one PING, as
/// a client that connected and went quiet), wait, measure.
fn idle_connections(server: &ServerGuard, n: usize) -> (Vec<std::net::TcpStream>, f64) {
    let before = rss_kib(server.pid());
    let mut idle = Vec::with_capacity(n);
    for i in 0..n {
        match std::net::TcpStream::connect(("127.0.0.1", server.port)) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("{}: connection {} failed: {}", server.name, i, e),
        }
    }
    for s in &mut idle {
        s.write_all(b"PING\r\n").expect("ping");
    }
    let mut buf = [0u8; 16];
    for s in &mut idle {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = s.read(&mut buf);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(server.pid());
    let per = (after.saturating_sub(before) * 1024) as f64 / n.max(1) as f64;
    (idle, per)
}

/// 10,000 idle connections (as many as this process may open) plus clients that
/// pipeline GETs of a 100 KB value without reading: the server's memory stays bounded,
/// the attackers are closed at the `normal` limit, and a normal client's PING keeps a
/// short round trip meanwhile.
#[test]
fn hostile_clients_do_not_hurt_the_others() {
    let nofile = raise_nofile() as usize;
    let wanted = env_num("FERROKV_HOSTILE_CONNS", 10_000);
    let attackers = env_num("FERROKV_HOSTILE_ATTACKERS", 4);
    // This process holds one end of each connection: keep room for the rest.
    let conns = wanted.min(nofile.saturating_sub(200));
    if conns < wanted {
        eprintln!(
            "open-files limit {}: {} idle connections instead of {}",
            nofile, conns, wanted
        );
    }
    let maxclients = (conns + attackers + 100).to_string();
    if std::env::var("FERROKV_HOSTILE_REDIS").is_ok() {
        // First, and closed again before ferrokv's: this process's descriptors are few.
        let redis = both(&["--maxclients", &maxclients]).pop().expect("redis");
        let (r_idle, r_per) = idle_connections(&redis, conns);
        eprintln!(
            "redis-server: {} idle connections, {:.0} bytes of RSS each",
            conns, r_per
        );
        drop(r_idle);
    }
    let server = start_ferrokv_with(
        2,
        &[
            "--maxclients",
            &maxclients,
            "--client-output-buffer-limit",
            "normal 8mb 2mb 1",
        ],
    );
    let mut admin = server.connect();
    ok(&mut admin, &["SET", "big", &"x".repeat(BIG)]);
    let rss_start = rss_kib(server.pid());
    let (_idle, per_conn) = idle_connections(&server, conns);
    eprintln!(
        "ferrokv: {} idle connections, {:.0} bytes of RSS each",
        conns, per_conn
    );
    assert!(
        per_conn < 32.0 * 1024.0,
        "{:.0} bytes of RSS per idle connection",
        per_conn
    );
    let rss_idle = rss_kib(server.pid());

    // The attack: each sends 3000 GETs (300 MB of replies) and never reads.
    let mut attack = Vec::new();
    for i in 0..attackers {
        attack.push(pipeline_without_reading(
            server.port,
            &format!("attacker{}", i),
            3000,
        ));
    }
    let mut probe = server.connect();
    let mut worst = Duration::ZERO;
    let mut max_rss = 0;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let t = Instant::now();
        assert_eq!(req(&mut probe, &["PING"]), b"+PONG\r\n");
        worst = worst.max(t.elapsed());
        max_rss = max_rss.max(rss_kib(server.pid()));
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_until("every attacker closed", 20, || {
        let names = clients_by_name(&mut admin);
        (0..attackers).all(|i| !names.contains_key(&format!("attacker{}", i)))
    });
    for (mut stream, writer) in attack {
        let (closed, _) = read_to_close(&mut stream);
        assert!(closed, "an attacker's connection was closed");
        let _ = writer.join();
    }
    eprintln!(
        "RSS: {} KiB at start, {} KiB with idle connections, at most {} KiB under attack; worst PING {:?}",
        rss_start, rss_idle, max_rss, worst
    );
    assert_eq!(obuf_closes(&server), attackers, "closes logged");
    // Each attacker may hold its limit and one batch of replies: far below the 1.2 GB
    // they asked for.
    assert!(
        max_rss < rss_idle + (attackers as u64) * 40 * 1024,
        "RSS went from {} KiB to {} KiB",
        rss_idle,
        max_rss
    );
    assert!(
        worst < Duration::from_millis(250),
        "a normal client's PING took {:?} during the attack",
        worst
    );
    assert_eq!(
        info_field(&mut admin, "clients", "connected_clients"),
        (conns + 2).to_string()
    );
}

/// Redis's obuf-limits test "No response for single command if client output buffer hard
/// limit is enforced": a single reply past the `normal` hard limit is never sent; the
/// client is closed before it reads anything.
#[test]
fn a_single_reply_past_the_hard_limit_is_not_sent() {
    for server in both(&[]) {
        let mut admin = server.connect();
        ok(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 100000 0 0",
            ],
        );
        let item = "x".repeat(1000);
        for _ in 0..150 {
            req(&mut admin, &["LPUSH", "mylist", &item]);
        }
        let mut c = server.connect();
        ok(&mut c, &["CLIENT", "SETNAME", "mybiglist"]);
        c.send(&["LRANGE", "mylist", "0", "-1"]).expect("send");
        let (closed, got) = read_to_close(&mut c.stream);
        assert!(closed, "{}: closed", server.name);
        assert_eq!(got, 0, "{}: nothing of the reply was sent", server.name);
        assert!(!clients_by_name(&mut admin).contains_key("mybiglist"));
    }
}

/// Above the `normal` soft limit for longer than its seconds, a client that pipelined and
/// then went quiet (no traffic at all) is closed too, by both servers.
#[test]
fn the_soft_limit_applies_without_traffic() {
    for server in both(&[]) {
        let mut admin = server.connect();
        ok(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 0 1mb 1",
            ],
        );
        ok(&mut admin, &["SET", "big", &"x".repeat(BIG)]);
        let start = Instant::now();
        let (mut stream, writer) = pipeline_without_reading(server.port, "quiet", 300);
        writer.join().expect("writer");
        wait_until(&format!("{}: quiet client closed", server.name), 10, || {
            !clients_by_name(&mut admin).contains_key("quiet")
        });
        assert!(
            start.elapsed() >= Duration::from_millis(900),
            "{}: not before the soft limit's second",
            server.name
        );
        let (closed, _) = read_to_close(&mut stream);
        assert!(closed, "{}: closed", server.name);
    }
}

/// The `replica` class applies to replica links: a replica that sent SYNC and then reads
/// nothing is closed once its stream has stayed above the class's soft limit for longer
/// than its seconds (no hard limit set), by ferrokv as by Redis.
#[test]
fn a_replica_link_that_does_not_read_is_closed_at_the_replica_soft_limit() {
    for server in both(&["--repl-diskless-sync-delay", "0"]) {
        let mut admin = server.connect();
        ok(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "replica 0 256kb 1",
            ],
        );
        let mut replica =
            std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        replica.write_all(b"SYNC\r\n").expect("sync");
        wait_until("the replica link", 10, || {
            info_field(&mut admin, "replication", "connected_slaves") == "1"
        });
        let value = "v".repeat(10_000);
        let mut writer = server.connect();
        let started = Instant::now();
        let mut closed = false;
        // Up to 100 MB of stream, far past what the socket buffers take.
        for round in 0..10_000 {
            let cmds: Vec<u8> = (0..10)
                .flat_map(|i| {
                    common::encode(&["SET", &format!("k{}", (round * 10 + i) % 500), &value])
                })
                .collect();
            writer.send_raw(&cmds).expect("send");
            for _ in 0..10 {
                writer.read_frame().expect("reply");
            }
            if info_field(&mut admin, "replication", "connected_slaves") == "0" {
                closed = true;
                break;
            }
            if started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
        assert!(closed, "{}: the replica link was never closed", server.name);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{}: closed before the soft limit's second",
            server.name
        );
        drop(replica);
    }
}
