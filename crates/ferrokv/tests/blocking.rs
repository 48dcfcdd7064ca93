//! Blocking pops over real TCP. Each scenario runs against ferrokv and against real
//! redis-server 7 and the transcripts (every reply's exact bytes, in order) must be equal;
//! the scenarios also assert what the replies must be. Then a concurrency test with many
//! producers and consumers on several keys checks exactly-once delivery, FIFO order per key
//! and that no consumer starves.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{escape, start_ferrokv, start_redis, Conn, ServerGuard};

/// Poll INFO until `n` clients are blocked (the order in which clients block is what the
/// scenarios are about, so each one waits until the previous one is parked).
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
            "expected {} blocked clients, INFO says {:?}",
            n,
            blocked
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn frame(c: &mut Conn) -> Vec<u8> {
    c.read_frame()
        .unwrap_or_else(|e| panic!("reading a reply: {}", e))
}

/// Send without waiting for the reply (the client is about to block).
fn send(c: &mut Conn, args: &[&str]) {
    c.send(args).expect("send");
}

/// Run `scenario` on both servers; their transcripts must be identical. Returns ferrokv's.
fn on_both(name: &str, scenario: fn(u16) -> Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let redis: ServerGuard = start_redis();
    let ferrokv: ServerGuard = start_ferrokv(2);
    let r = scenario(redis.port);
    let f = scenario(ferrokv.port);
    let show = |t: &[Vec<u8>]| t.iter().map(|b| escape(b)).collect::<Vec<_>>().join(" | ");
    assert_eq!(
        r,
        f,
        "{}: transcripts differ\n  redis:   {}\n  ferrokv: {}",
        name,
        show(&r),
        show(&f)
    );
    f
}

/// Two clients block on the same key, the first also on another key: a push to the other
/// key serves the first client from that key; a push to the shared key then serves the
/// second (first come, first served).
fn fifo_and_first_ready_key(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut b, mut p) = (conn(port), conn(port), conn(port));
    send(&mut a, &["BLPOP", "k1", "k2", "0"]);
    wait_blocked(port, 1);
    send(&mut b, &["BRPOP", "k1", "0"]);
    wait_blocked(port, 2);
    let mut t = vec![p.request(&["RPUSH", "k2", "x"]).expect("rpush")];
    t.push(frame(&mut a));
    t.push(p.request(&["RPUSH", "k1", "y", "z"]).expect("rpush"));
    t.push(frame(&mut b));
    t.push(p.request(&["LRANGE", "k1", "0", "-1"]).expect("lrange"));
    t
}

#[test]
fn fifo_and_first_ready_key_match_redis() {
    let t = on_both("fifo", fifo_and_first_ready_key);
    assert_eq!(t[1], b"*2\r\n$2\r\nk2\r\n$1\r\nx\r\n");
    assert_eq!(t[3], b"*2\r\n$2\r\nk1\r\n$1\r\nz\r\n");
}

/// The pushing client's very next command cannot take the element: the waiter was served
/// inside the push.
fn served_inside_the_push(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut p) = (conn(port), conn(port));
    send(&mut a, &["BLPOP", "q", "0"]);
    wait_blocked(port, 1);
    let mut pipeline = common::encode(&["RPUSH", "q", "job"]);
    pipeline.extend(common::encode(&["LPOP", "q"]));
    p.send_raw(&pipeline).expect("send");
    vec![frame(&mut p), frame(&mut p), frame(&mut a)]
}

#[test]
fn push_serves_waiter_atomically() {
    let t = on_both("atomic", served_inside_the_push);
    assert_eq!(
        t[1], b"$-1\r\n",
        "LPOP right after the push must find nothing"
    );
    assert_eq!(t[2], b"*2\r\n$1\r\nq\r\n$3\r\njob\r\n");
}

/// Pushes inside MULTI/EXEC serve waiters after the transaction, with what it left.
fn push_in_multi(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut p) = (conn(port), conn(port));
    send(&mut a, &["BLPOP", "q", "0"]);
    wait_blocked(port, 1);
    let mut t = Vec::new();
    for cmd in [
        &["MULTI"][..],
        &["RPUSH", "q", "a", "b"],
        &["LPOP", "q"],
        &["EXEC"],
    ] {
        t.push(p.request(cmd).expect("request"));
    }
    t.push(frame(&mut a));
    t.push(p.request(&["EXISTS", "q"]).expect("exists"));
    t
}

#[test]
fn push_in_multi_serves_after_exec() {
    let t = on_both("multi", push_in_multi);
    assert_eq!(t[4], b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n");
    assert_eq!(t[5], b":0\r\n");
}

/// BLMOVE's push to its destination serves a client blocked there, in the same step.
fn blmove_chain(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut b, mut p) = (conn(port), conn(port), conn(port));
    send(&mut a, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
    wait_blocked(port, 1);
    send(&mut b, &["BLPOP", "dst", "0"]);
    wait_blocked(port, 2);
    vec![
        p.request(&["RPUSH", "src", "m"]).expect("rpush"),
        frame(&mut a),
        frame(&mut b),
        p.request(&["EXISTS", "src", "dst"]).expect("exists"),
    ]
}

#[test]
fn blmove_destination_serves_next_waiter() {
    let t = on_both("blmove", blmove_chain);
    assert_eq!(t[1], b"$1\r\nm\r\n");
    assert_eq!(t[2], b"*2\r\n$3\r\ndst\r\n$1\r\nm\r\n");
    assert_eq!(t[3], b":0\r\n");
}

/// Sorted-set and multi-pop waiters, in RESP2 and RESP3.
fn zset_and_mpop(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut b, mut c, mut p) = (conn(port), conn(port), conn(port), conn(port));
    let mut t = vec![c
        .request(&["HELLO", "3"])
        .map(|r| r[..1].to_vec())
        .expect("hello")];
    send(&mut a, &["BZPOPMIN", "z", "0"]);
    wait_blocked(port, 1);
    send(
        &mut b,
        &["BLMPOP", "0", "2", "l1", "l2", "RIGHT", "COUNT", "2"],
    );
    wait_blocked(port, 2);
    send(&mut c, &["BZMPOP", "0", "1", "z2", "MAX", "COUNT", "5"]);
    wait_blocked(port, 3);
    t.push(
        p.request(&["ZADD", "z", "2.5", "b", "1", "a"])
            .expect("zadd"),
    );
    t.push(frame(&mut a));
    t.push(p.request(&["RPUSH", "l2", "1", "2", "3"]).expect("rpush"));
    t.push(frame(&mut b));
    t.push(
        p.request(&["ZADD", "z2", "1", "x", "inf", "y"])
            .expect("zadd"),
    );
    t.push(frame(&mut c));
    t
}

#[test]
fn zset_and_mpop_waiters_match_redis() {
    let t = on_both("zset", zset_and_mpop);
    assert_eq!(t[2], b"*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(t[4], b"*2\r\n$2\r\nl2\r\n*2\r\n$1\r\n3\r\n$1\r\n2\r\n");
}

/// Waiters on sorted sets that ZADD creates packed in their key's record (ferrokv) and
/// grown past it: the pops edit the record, and what is left reads back.
fn zset_packed_waiters(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut b, mut p) = (conn(port), conn(port), conn(port));
    let mut t = vec![];
    send(&mut a, &["BZPOPMIN", "zp", "0"]);
    wait_blocked(port, 1);
    send(&mut b, &["BZPOPMAX", "zp", "0"]);
    wait_blocked(port, 2);
    t.push(
        p.request(&["ZADD", "zp", "1", "a", "2", "b", "3", "c"])
            .expect("zadd"),
    );
    t.push(frame(&mut a));
    t.push(frame(&mut b));
    t.push(
        p.request(&["ZRANGE", "zp", "0", "-1", "WITHSCORES"])
            .expect("zrange"),
    );
    // A set too big for a record (30 members of 20 bytes) wakes a waiter alike.
    send(&mut a, &["BZPOPMIN", "zbig", "0"]);
    wait_blocked(port, 1);
    let members: Vec<String> = (0..30).map(|i| format!("member-{i:013}")).collect();
    let mut args = vec!["ZADD".to_string(), "zbig".to_string()];
    for (i, m) in members.iter().enumerate() {
        args.push(i.to_string());
        args.push(m.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    t.push(p.request(&args).expect("zadd"));
    t.push(frame(&mut a));
    t.push(p.request(&["ZCARD", "zbig"]).expect("zcard"));
    t.push(
        p.request(&["DEBUG", "DIGEST-VALUE", "zp", "zbig"])
            .expect("digest"),
    );
    t
}

#[test]
fn zset_packed_waiters_match_redis() {
    let t = on_both("zset-packed", zset_packed_waiters);
    assert_eq!(t[1], b"*3\r\n$2\r\nzp\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(t[2], b"*3\r\n$2\r\nzp\r\n$1\r\nc\r\n$1\r\n3\r\n");
    assert_eq!(t[3], b"*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
    assert_eq!(t[6], b":29\r\n");
}

/// Timeouts, CLIENT UNBLOCK (TIMEOUT and ERROR), and commands pipelined behind a blocked
/// one run after it.
fn timeouts_and_unblock(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut p) = (conn(port), conn(port));
    let id = match common::parse_reply(&a.request(&["CLIENT", "ID"]).expect("id")) {
        Ok(common::Reply::Int(n)) => n.to_string(),
        other => panic!("CLIENT ID: {:?}", other),
    };
    let started = Instant::now();
    let mut t = vec![a.request(&["BLPOP", "k", "0.2"]).expect("blpop")];
    assert!(started.elapsed() >= Duration::from_millis(190));
    let mut pipeline = common::encode(&["BRPOPLPUSH", "k", "d", "0"]);
    pipeline.extend(common::encode(&["PING"]));
    a.send_raw(&pipeline).expect("send");
    wait_blocked(port, 1);
    t.push(
        p.request(&["CLIENT", "UNBLOCK", &id, "ERROR"])
            .expect("unblock"),
    );
    t.push(frame(&mut a));
    t.push(frame(&mut a));
    send(&mut a, &["BZPOPMAX", "k", "0"]);
    wait_blocked(port, 1);
    t.push(p.request(&["CLIENT", "UNBLOCK", &id]).expect("unblock"));
    t.push(p.request(&["CLIENT", "UNBLOCK", &id]).expect("unblock"));
    t.push(frame(&mut a));
    t
}

#[test]
fn timeouts_and_client_unblock_match_redis() {
    let t = on_both("unblock", timeouts_and_unblock);
    assert_eq!(t[0], b"*-1\r\n");
    assert_eq!(t[1], b":1\r\n");
    assert_eq!(t[2], b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
    assert_eq!(t[3], b"+PONG\r\n");
    assert_eq!(t[5], b":0\r\n");
}

/// A blocked client that disconnects leaves nothing behind: the next push stays in the
/// list and INFO counts no blocked client.
fn disconnect_leaves_no_trace(port: u16) -> Vec<Vec<u8>> {
    let mut p = conn(port);
    {
        let mut a = conn(port);
        send(&mut a, &["BLPOP", "gone", "0"]);
        wait_blocked(port, 1);
        a.shutdown();
    }
    wait_blocked(port, 0);
    vec![
        p.request(&["RPUSH", "gone", "x"]).expect("rpush"),
        p.request(&["LLEN", "gone"]).expect("llen"),
    ]
}

#[test]
fn disconnected_waiter_leaves_no_trace() {
    let t = on_both("disconnect", disconnect_leaves_no_trace);
    assert_eq!(t[1], b":1\r\n");
}

/// Many producers and consumers over several keys (on a server with several worker
/// threads): every element is delivered exactly once, each key's elements reach the
/// consumers in push order, and every consumer gets work.
#[test]
fn many_producers_and_consumers_exactly_once() {
    const KEYS: usize = 4;
    const PRODUCERS: usize = 4;
    const PER_PRODUCER: usize = 500;
    const CONSUMERS: usize = 8;
    let server = start_ferrokv(4);
    let port = server.port;
    let received: Arc<Mutex<Vec<(String, String, usize)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut consumers = Vec::new();
    for c in 0..CONSUMERS {
        let received = received.clone();
        consumers.push(std::thread::spawn(move || {
            let mut conn = Conn::connect(port).expect("connect");
            let mut args: Vec<String> = vec!["BLPOP".into()];
            // Each consumer lists the keys in a different order.
            args.extend((0..KEYS).map(|k| format!("q{}", (k + c) % KEYS)));
            args.push("2".into());
            let mut mine = 0;
            loop {
                match conn.cmd(&args) {
                    common::Reply::Array(kv) => {
                        let key = kv[0].text().expect("key");
                        let val = kv[1].text().expect("value");
                        received.lock().expect("lock").push((key, val, c));
                        mine += 1;
                    }
                    common::Reply::Nil => return mine,
                    other => panic!("BLPOP: {:?}", other),
                }
            }
        }));
    }
    // Let the consumers block first, so pushes race against parked waiters.
    wait_blocked(port, CONSUMERS);
    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        producers.push(std::thread::spawn(move || {
            let mut conn = Conn::connect(port).expect("connect");
            for i in 0..PER_PRODUCER {
                let key = format!("q{}", (p + i) % KEYS);
                let reply = conn.cmd(&["RPUSH", &key, &format!("{}:{}", p, i)]);
                assert!(matches!(reply, common::Reply::Int(_)), "{:?}", reply);
            }
        }));
    }
    for p in producers {
        p.join().expect("producer");
    }
    let per_consumer: Vec<usize> = consumers
        .into_iter()
        .map(|c| c.join().expect("consumer"))
        .collect();
    let received = received.lock().expect("lock");
    assert_eq!(received.len(), PRODUCERS * PER_PRODUCER, "delivered count");
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (_, v, _) in received.iter() {
        *seen.entry(v.as_str()).or_default() += 1;
    }
    assert!(
        seen.values().all(|&n| n == 1),
        "an element was delivered twice"
    );
    assert_eq!(seen.len(), PRODUCERS * PER_PRODUCER);
    assert!(
        per_consumer.iter().all(|&n| n > 0),
        "a consumer starved: {:?}",
        per_consumer
    );
    // FIFO per key under concurrency: one producer and one consumer per key, all keys at
    // once; each consumer must see its key's elements in push order.
    let mut pairs = Vec::new();
    for k in 0..KEYS {
        let key = format!("fifo{}", k);
        let consumer_key = key.clone();
        let consumer = std::thread::spawn(move || {
            let mut conn = Conn::connect(port).expect("connect");
            for i in 0..PER_PRODUCER {
                match conn.cmd(&["BLPOP", &consumer_key, "5"]) {
                    common::Reply::Array(kv) => {
                        assert_eq!(kv[1].text(), Some(i.to_string()), "{}", consumer_key)
                    }
                    other => panic!("BLPOP {}: {:?}", consumer_key, other),
                }
            }
        });
        let producer = std::thread::spawn(move || {
            let mut conn = Conn::connect(port).expect("connect");
            for i in 0..PER_PRODUCER {
                conn.cmd(&["RPUSH", &key, &i.to_string()]);
            }
        });
        pairs.push((producer, consumer));
    }
    for (p, c) in pairs {
        p.join().expect("producer");
        c.join().expect("consumer");
    }
}

/// FIFO per key with waiters: clients that block one after another on one key receive the
/// elements of one push in the order they blocked.
#[test]
fn waiters_are_served_in_blocking_order() {
    let server = start_ferrokv(2);
    let port = server.port;
    let mut waiters = Vec::new();
    for i in 0..5 {
        let mut c = conn(port);
        send(&mut c, &["BLPOP", "line", "0"]);
        wait_blocked(port, i + 1);
        waiters.push(c);
    }
    let mut p = conn(port);
    p.cmd(&["RPUSH", "line", "0", "1", "2", "3", "4"]);
    for (i, c) in waiters.iter_mut().enumerate() {
        match c.read_reply() {
            common::Reply::Array(kv) => assert_eq!(kv[1].text(), Some(i.to_string())),
            other => panic!("BLPOP: {:?}", other),
        }
    }
}

/// SWAPDB serves clients blocked on a key that exists after the swap, and leaves waiting
/// those whose key has expired meanwhile (compared with redis-server).
fn swapdb_scenario(port: u16) -> Vec<Vec<u8>> {
    let mut c = conn(port);
    let mut waiter = conn(port);
    let mut out = Vec::new();
    out.push(c.request(&["FLUSHALL"]).expect("FLUSHALL"));
    out.push(waiter.request(&["SELECT", "9"]).expect("SELECT"));
    send(&mut waiter, &["BRPOP", "k", "5"]);
    wait_blocked(port, 1);
    out.push(c.request(&["SELECT", "1"]).expect("SELECT"));
    out.push(c.request(&["RPUSH", "k", "hello"]).expect("RPUSH"));
    out.push(c.request(&["SWAPDB", "1", "9"]).expect("SWAPDB"));
    out.push(frame(&mut waiter));
    // An expired key does not serve the waiter: it stays blocked until CLIENT UNBLOCK.
    out.push(c.request(&["FLUSHALL"]).expect("FLUSHALL"));
    out.push(
        c.request(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"])
            .expect("DEBUG"),
    );
    out.push(c.request(&["RPUSH", "k", "hello"]).expect("RPUSH"));
    out.push(c.request(&["PEXPIRE", "k", "50"]).expect("PEXPIRE"));
    let id = String::from_utf8_lossy(&waiter.request(&["CLIENT", "ID"]).expect("ID"))
        .trim_start_matches(':')
        .trim()
        .to_string();
    send(&mut waiter, &["BRPOP", "k", "0"]);
    wait_blocked(port, 1);
    std::thread::sleep(Duration::from_millis(80));
    out.push(c.request(&["SWAPDB", "1", "9"]).expect("SWAPDB"));
    std::thread::sleep(Duration::from_millis(30));
    wait_blocked(port, 1);
    out.push(c.request(&["CLIENT", "UNBLOCK", &id]).expect("UNBLOCK"));
    out.push(frame(&mut waiter));
    out.push(
        c.request(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"])
            .expect("DEBUG"),
    );
    out
}

/// A MULTI that pushes to a key a client waits on, gives it a short TTL and then sleeps
/// past it: at the end of EXEC the key has expired, so the waiter stays blocked (Redis
/// 7.0), until CLIENT UNBLOCK.
fn multi_push_expire_sleep_scenario(port: u16) -> Vec<Vec<u8>> {
    let mut c = conn(port);
    let mut waiter = conn(port);
    let mut out = Vec::new();
    out.push(c.request(&["FLUSHALL"]).expect("FLUSHALL"));
    out.push(
        c.request(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"])
            .expect("DEBUG"),
    );
    let id = String::from_utf8_lossy(&waiter.request(&["CLIENT", "ID"]).expect("ID"))
        .trim_start_matches(':')
        .trim()
        .to_string();
    send(&mut waiter, &["BRPOP", "k", "0"]);
    wait_blocked(port, 1);
    for cmd in [
        &["MULTI"][..],
        &["RPUSH", "k", "hello"],
        &["PEXPIRE", "k", "100"],
        &["DEBUG", "SLEEP", "0.2"],
        &["EXEC"],
    ] {
        out.push(c.request(cmd).expect("MULTI step"));
    }
    std::thread::sleep(Duration::from_millis(30));
    wait_blocked(port, 1);
    out.push(c.request(&["CLIENT", "UNBLOCK", &id]).expect("UNBLOCK"));
    out.push(frame(&mut waiter));
    out.push(
        c.request(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"])
            .expect("DEBUG"),
    );
    out
}

#[test]
fn multi_push_then_expiry_leaves_the_waiter_blocked() {
    let transcript = on_both("multi_expire", multi_push_expire_sleep_scenario);
    assert_eq!(
        transcript.last().map(|f| f.as_slice()),
        Some(&b"+OK\r\n"[..])
    );
}

#[test]
fn swapdb_wakes_clients_blocked_on_keys_that_exist_after_it() {
    let transcript = on_both("swapdb", swapdb_scenario);
    assert!(
        transcript
            .iter()
            .any(|f| f == b"*2\r\n$1\r\nk\r\n$5\r\nhello\r\n"),
        "the first waiter got the element"
    );
}

/// Waiters served from small lists (popped on their record's bytes in ferrokv): a BLMPOP
/// that leaves part of a new list, and a BLMOVE whose destination is a small list that
/// its push moves into a larger record.
fn served_from_small_lists(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut b, mut p) = (conn(port), conn(port), conn(port));
    let dst: Vec<String> = (0..13).map(|i| format!("el-{i:02}")).collect();
    let mut rpush = vec!["RPUSH", "dst"];
    rpush.extend(dst.iter().map(String::as_str));
    let mut t = vec![p.request(&rpush).expect("rpush")];
    send(&mut a, &["BLMPOP", "0", "1", "jobs", "LEFT", "COUNT", "2"]);
    wait_blocked(port, 1);
    send(&mut b, &["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]);
    wait_blocked(port, 2);
    t.push(
        p.request(&["RPUSH", "jobs", "j1", "j2", "j3"])
            .expect("rpush"),
    );
    t.push(frame(&mut a));
    t.push(p.request(&["LRANGE", "jobs", "0", "-1"]).expect("lrange"));
    t.push(
        p.request(&["RPUSH", "src", "moved-element"])
            .expect("rpush"),
    );
    t.push(frame(&mut b));
    t.push(p.request(&["LRANGE", "dst", "0", "2"]).expect("lrange"));
    t.push(p.request(&["LLEN", "dst"]).expect("llen"));
    t.push(p.request(&["EXISTS", "src"]).expect("exists"));
    t
}

#[test]
fn waiters_served_from_small_lists_match_redis() {
    let t = on_both("small", served_from_small_lists);
    assert_eq!(t[2], b"*2\r\n$4\r\njobs\r\n*2\r\n$2\r\nj1\r\n$2\r\nj2\r\n");
    assert_eq!(t[3], b"*1\r\n$2\r\nj3\r\n");
    assert_eq!(t[5], b"$13\r\nmoved-element\r\n");
    assert_eq!(t[7], b":14\r\n");
    assert_eq!(t[8], b":0\r\n");
}
