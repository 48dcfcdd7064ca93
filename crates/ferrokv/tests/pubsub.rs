//! Pub/Sub over real TCP. Each multi-client scenario runs against ferrokv and against a
//! real redis-server 7 and the transcripts (every reply's and message's exact bytes, in
//! order) must be equal. Then ferrokv-only tests: a slow subscriber is disconnected at the
//! output-buffer limit while others go on and memory stays bounded; per-publisher order
//! holds across worker threads.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{escape, start_ferrokv, start_ferrokv_with, start_redis, Conn, ServerGuard};

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

fn frame(c: &mut Conn) -> Vec<u8> {
    c.read_frame()
        .unwrap_or_else(|e| panic!("reading a reply: {}", e))
}

fn req(c: &mut Conn, args: &[&str]) -> Vec<u8> {
    c.request(args)
        .unwrap_or_else(|e| panic!("{:?}: {}", args, e))
}

/// Send a command that answers with `n` frames (SUBSCRIBE a b c) and read them all.
fn req_n(c: &mut Conn, args: &[&str], n: usize) -> Vec<Vec<u8>> {
    c.send(args).expect("send");
    (0..n).map(|_| frame(c)).collect()
}

/// Everything the server sends until it is quiet for a moment.
fn drain(c: &mut Conn) -> Vec<u8> {
    c.read_until_close(Duration::from_millis(300)).0
}

/// Switch a connection to RESP3; HELLO's reply (it holds the client id) is not compared.
fn hello3(c: &mut Conn) {
    req(c, &["HELLO", "3"]);
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

/// Subscriptions, counts, messages and pattern messages, RESP2 subscribed-mode errors and
/// PING, unsubscribing back to normal mode.
fn channels_and_patterns_resp2(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut b) = (conn(port), conn(port));
    let mut t = req_n(&mut a, &["SUBSCRIBE", "c1", "c2", "c1"], 3);
    t.push(req(&mut b, &["PUBLISH", "c1", "hello"]));
    t.push(frame(&mut a));
    t.extend(req_n(&mut a, &["PSUBSCRIBE", "c*"], 1));
    t.push(req(&mut b, &["PUBLISH", "c2", "both"]));
    t.push(frame(&mut a));
    t.push(frame(&mut a));
    t.push(req(&mut b, &["PUBLISH", "cx", "pattern only"]));
    t.push(frame(&mut a));
    t.push(req(&mut b, &["PUBLISH", "nobody", "x"]));
    t.push(req(&mut a, &["GET", "k"]));
    t.push(req(&mut a, &["CLIENT", "LIST"]));
    t.push(req(&mut a, &["HELLO", "3"]));
    t.push(req(&mut a, &["MULTI"]));
    t.push(req(&mut a, &["PING"]));
    t.push(req(&mut a, &["PING", "hi"]));
    t.push(req(&mut a, &["PING", "a", "b"]));
    t.push(req(&mut b, &["PUBSUB", "NUMSUB", "c1", "c2", "zz"]));
    t.push(req(&mut b, &["PUBSUB", "NUMPAT"]));
    t.push(req(&mut b, &["PUBSUB", "CHANNELS", "c1"]));
    t.push(req(&mut b, &["PUBSUB", "CHANNELS", "zz*"]));
    t.extend(req_n(&mut a, &["UNSUBSCRIBE", "c1", "nope"], 2));
    t.extend(req_n(&mut a, &["PUNSUBSCRIBE"], 1));
    t.extend(req_n(&mut a, &["UNSUBSCRIBE"], 1));
    t.extend(req_n(&mut a, &["UNSUBSCRIBE"], 1));
    t.extend(req_n(&mut a, &["PUNSUBSCRIBE"], 1));
    t.push(req(&mut a, &["PING"]));
    t.push(req(&mut a, &["GET", "k"]));
    t.push(req(&mut b, &["PUBSUB", "NUMPAT"]));
    t
}

#[test]
fn channels_and_patterns_resp2_match_redis() {
    let t = on_both("resp2", channels_and_patterns_resp2);
    assert_eq!(t[4], b"*3\r\n$7\r\nmessage\r\n$2\r\nc1\r\n$5\r\nhello\r\n");
}

/// RESP3: confirmations and messages are push frames, every command is allowed, PING is
/// an ordinary PONG; HELLO 2 while subscribed brings back the RESP2 rules.
fn subscribed_resp3(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut b) = (conn(port), conn(port));
    hello3(&mut a);
    let mut t = req_n(&mut a, &["SUBSCRIBE", "c1"], 1);
    t.extend(req_n(&mut a, &["PSUBSCRIBE", "c*"], 1));
    t.push(req(&mut b, &["PUBLISH", "c1", "hello"]));
    t.push(frame(&mut a));
    t.push(frame(&mut a));
    t.push(req(&mut a, &["SET", "k", "v"]));
    t.push(req(&mut a, &["GET", "k"]));
    t.push(req(&mut a, &["PING"]));
    // A message interleaved with ordinary replies.
    t.push(req(&mut b, &["PUBLISH", "c9", "m"]));
    t.push(frame(&mut a));
    // Its own copies (channel and pattern) come before PUBLISH's reply.
    t.extend(req_n(&mut a, &["PUBLISH", "c1", "to myself"], 3));
    t.extend(req_n(&mut a, &["UNSUBSCRIBE"], 1));
    t.extend(req_n(&mut a, &["UNSUBSCRIBE"], 1));
    req(&mut a, &["HELLO", "2"]);
    t.push(req(&mut a, &["PING"]));
    t.push(req(&mut a, &["GET", "k"]));
    t.push(req(&mut a, &["HELLO", "3"]));
    t.push(req(&mut b, &["PUBLISH", "cz", "resp2 now"]));
    t.push(frame(&mut a));
    t.push(req(&mut a, &["RESET"]));
    t.push(req(&mut b, &["PUBSUB", "NUMPAT"]));
    t.push(req(&mut a, &["GET", "k"]));
    t
}

#[test]
fn subscribed_resp3_matches_redis() {
    let t = on_both("resp3", subscribed_resp3);
    assert_eq!(t[0], b">3\r\n$9\r\nsubscribe\r\n$2\r\nc1\r\n:1\r\n");
}

/// Shard channels: their own count, `smessage`, PUBSUB SHARDCHANNELS/SHARDNUMSUB; not
/// reached by PUBLISH or patterns.
fn shard_channels(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut b) = (conn(port), conn(port));
    let mut t = req_n(&mut a, &["SUNSUBSCRIBE"], 1);
    t.extend(req_n(&mut a, &["SSUBSCRIBE", "s1", "{s1}x"], 2));
    t.extend(req_n(&mut a, &["SUBSCRIBE", "s1"], 1));
    t.push(req(&mut b, &["SPUBLISH", "s1", "sharded"]));
    t.push(frame(&mut a));
    t.push(req(&mut b, &["PUBLISH", "s1", "plain"]));
    t.push(frame(&mut a));
    t.push(req(&mut b, &["PUBSUB", "SHARDCHANNELS", "s1"]));
    t.push(req(&mut b, &["PUBSUB", "SHARDNUMSUB", "s1", "nope"]));
    t.push(req(&mut b, &["PUBSUB", "SHARDNUMSUB"]));
    t.push(req(&mut b, &["PUBSUB", "NUMSUB"]));
    t.extend(req_n(&mut a, &["SUNSUBSCRIBE", "s1", "x"], 2));
    t.extend(req_n(&mut a, &["UNSUBSCRIBE", "s1"], 1));
    t.push(req(&mut a, &["GET", "k"]));
    t.extend(req_n(&mut a, &["SUNSUBSCRIBE"], 1));
    t.push(req(&mut a, &["GET", "k"]));
    t
}

#[test]
fn shard_channels_match_redis() {
    on_both("shard", shard_channels);
}

/// PUBSUB's errors and HELP, arity errors.
fn introspection_errors(port: u16) -> Vec<Vec<u8>> {
    let mut a = conn(port);
    let mut t = Vec::new();
    for args in [
        &["PUBSUB", "HELP"][..],
        &["PUBSUB", "help", "x"],
        &["PUBSUB", "CHANNELS", "a", "b"],
        &["PUBSUB", "ShardChannels", "a", "b"],
        &["PUBSUB", "NUMPAT", "x"],
        &["PUBSUB", "foo"],
        &["PUBSUB"],
        &["SUBSCRIBE"],
        &["PSUBSCRIBE"],
        &["SSUBSCRIBE"],
        &["PUBLISH", "a"],
        &["SPUBLISH", "a", "b", "c"],
        &["PUBSUB", "CHANNELS"],
        &["PUBSUB", "NUMSUB"],
    ] {
        t.push(req(&mut a, args));
    }
    t
}

#[test]
fn introspection_and_errors_match_redis() {
    on_both("errors", introspection_errors);
}

/// SUBSCRIBE and PUBLISH inside MULTI/EXEC: the subscription confirmations and the
/// message to the publishing client itself are written into EXEC's reply, as Redis does;
/// SSUBSCRIBE is refused there.
fn inside_exec(port: u16) -> Vec<Vec<u8>> {
    let mut a = conn(port);
    for args in [
        &["MULTI"][..],
        &["SUBSCRIBE", "q", "r"],
        &["PUBLISH", "q", "x"],
        &["SSUBSCRIBE", "s"],
        &["PING"],
        &["GET", "k"],
        &["EXEC"],
    ] {
        a.send(args).expect("send");
    }
    let mut t = vec![drain(&mut a)];
    t.push(req(&mut a, &["GET", "k"]));
    t.push(req(&mut a, &["RESET"]));
    hello3(&mut a);
    for args in [
        &["MULTI"][..],
        &["SUBSCRIBE", "q"],
        &["PUBLISH", "q", "x"],
        &["EXEC"],
    ] {
        a.send(args).expect("send");
    }
    t.push(drain(&mut a));
    t
}

#[test]
fn subscribe_and_publish_inside_exec_match_redis() {
    on_both("exec", inside_exec);
}

/// With CLIENT REPLY OFF, confirmations and messages still arrive (Redis 7.0 pushes them
/// past the reply mode), while ordinary replies are dropped.
fn reply_off(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut b) = (conn(port), conn(port));
    hello3(&mut a);
    a.send(&["CLIENT", "REPLY", "OFF"]).expect("send");
    let mut t = req_n(&mut a, &["SUBSCRIBE", "channel"], 1);
    t.extend(req_n(&mut a, &["PSUBSCRIBE", "ch*"], 1));
    t.push(req(&mut b, &["PUBLISH", "channel", "hello"]));
    t.push(frame(&mut a));
    t.push(frame(&mut a));
    a.send(&["GET", "k"]).expect("send");
    t.extend(req_n(&mut a, &["PUBLISH", "channel", "self"], 2));
    t.extend(req_n(&mut a, &["UNSUBSCRIBE", "channel"], 1));
    t.push(req(&mut a, &["CLIENT", "REPLY", "ON"]));
    t.push(req(&mut a, &["PUNSUBSCRIBE"]));
    t
}

#[test]
fn client_reply_off_still_pushes_match_redis() {
    on_both("reply off", reply_off);
}

/// Poll INFO until `n` clients are blocked.
fn wait_blocked(port: u16, n: usize) {
    let mut c = conn(port);
    let want = format!("blocked_clients:{}\r\n", n);
    wait_until(|| String::from_utf8_lossy(&req(&mut c, &["INFO", "clients"])).contains(&want));
}

/// A RESP3 subscriber may block (BLPOP): messages reach it while it waits.
fn blocked_subscriber(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut b) = (conn(port), conn(port));
    hello3(&mut a);
    let mut t = req_n(&mut a, &["SUBSCRIBE", "c"], 1);
    a.send(&["BLPOP", "q", "0"]).expect("send");
    wait_blocked(port, 1);
    t.push(req(&mut b, &["PUBLISH", "c", "while blocked"]));
    t.push(frame(&mut a));
    t.push(req(&mut b, &["RPUSH", "q", "x"]));
    t.push(frame(&mut a));
    t
}

#[test]
fn blocked_resp3_subscriber_gets_messages_match_redis() {
    on_both("blocked", blocked_subscriber);
}

/// RESET and disconnecting drop every subscription.
fn reset_and_disconnect(port: u16) -> Vec<Vec<u8>> {
    let (mut a, mut b) = (conn(port), conn(port));
    let mut t = req_n(&mut a, &["SUBSCRIBE", "x"], 1);
    t.extend(req_n(&mut a, &["PSUBSCRIBE", "x*"], 1));
    t.extend(req_n(&mut a, &["SSUBSCRIBE", "sx"], 1));
    t.push(req(&mut a, &["RESET"]));
    t.push(req(&mut b, &["PUBLISH", "x", "gone"]));
    t.push(req(&mut b, &["SPUBLISH", "sx", "gone"]));
    t.push(req(&mut b, &["PUBSUB", "NUMPAT"]));
    t.push(req(&mut a, &["GET", "k"]));
    let mut c = conn(port);
    t.extend(req_n(&mut c, &["SUBSCRIBE", "y"], 1));
    t.push(req(&mut b, &["PUBSUB", "NUMSUB", "y"]));
    drop(c);
    wait_until(|| req(&mut b, &["PUBSUB", "NUMSUB", "y"]) == b"*2\r\n$1\r\ny\r\n:0\r\n");
    t.push(req(&mut b, &["PUBLISH", "y", "gone"]));
    t
}

#[test]
fn reset_and_disconnect_match_redis() {
    on_both("reset", reset_and_disconnect);
}

fn wait_until(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached in 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `key=value` fields of a CLIENT LIST / CLIENT INFO line.
fn fields(line: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(line)
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// CLIENT LIST shows `flags=P`, `sub=`, `psub=` and `ssub=` as Redis does, TYPE pubsub
/// selects subscribers, and INFO counts channels and patterns.
#[test]
fn client_list_and_info_show_subscriptions() {
    let server = start_ferrokv(2);
    let (mut a, mut b) = (server.connect(), server.connect());
    req_n(&mut a, &["SUBSCRIBE", "c1", "c2"], 2);
    req_n(&mut a, &["PSUBSCRIBE", "p*"], 1);
    req_n(&mut a, &["SSUBSCRIBE", "s"], 1);
    // The subscriber's fields are refreshed once its batch is done.
    std::thread::sleep(Duration::from_millis(50));
    let list = req(&mut b, &["CLIENT", "LIST", "TYPE", "pubsub"]);
    let f = fields(&list);
    assert_eq!(f.get("flags").map(String::as_str), Some("P"), "{:?}", f);
    assert_eq!(f.get("sub").map(String::as_str), Some("2"));
    assert_eq!(f.get("psub").map(String::as_str), Some("1"));
    assert_eq!(f.get("ssub").map(String::as_str), Some("1"));
    let normal = req(&mut b, &["CLIENT", "LIST", "TYPE", "normal"]);
    assert_eq!(String::from_utf8_lossy(&normal).matches("id=").count(), 1);
    let info = String::from_utf8_lossy(&req(&mut b, &["INFO", "stats"])).to_string();
    for want in [
        "pubsub_channels:2",
        "pubsub_patterns:1",
        "pubsubshard_channels:1",
    ] {
        assert!(info.contains(want), "INFO lacks {}:\n{}", want, info);
    }
    assert_eq!(
        req(&mut b, &["CLIENT", "KILL", "TYPE", "pubsub"]),
        b":1\r\n"
    );
    wait_until(|| req(&mut b, &["PUBSUB", "NUMPAT"]) == b":0\r\n");
}

/// Resident set size of a process in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid)).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Read raw bytes until `total` have arrived (a fast reader: no frame parsing); returns
/// the bytes read.
fn read_bytes(c: &mut Conn, total: usize) -> usize {
    use std::io::Read;
    let mut got = 0;
    let mut chunk = vec![0u8; 1 << 20];
    let _ = c.stream.set_read_timeout(Some(Duration::from_secs(30)));
    while got < total {
        match c.stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got
}

/// The bytes of one RESP2 `message` frame.
fn message_len(channel: &str, payload: &str) -> usize {
    common::encode(&["message", channel, payload]).len()
}

/// A subscriber that never reads is disconnected once its output passes the hard limit,
/// the server's memory stays bounded, and a subscriber that reads gets every message.
#[test]
fn slow_subscriber_is_disconnected_at_the_hard_limit() {
    let server = start_ferrokv(2);
    let port = server.port;
    let mut admin = server.connect();
    assert_eq!(
        req(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 8mb 0 0"
            ]
        ),
        b"+OK\r\n"
    );
    let mut slow = server.connect();
    req_n(&mut slow, &["SUBSCRIBE", "flood"], 1);
    const N: usize = 20_000;
    let payload = "x".repeat(4096);
    let expected: usize = (0..N)
        .map(|i| message_len("flood", &format!("{}:{}", i, payload)))
        .sum();
    let reader = std::thread::spawn(move || {
        let mut good = conn(port);
        req_n(&mut good, &["SUBSCRIBE", "flood"], 1);
        // The connection goes back with the count: it must stay subscribed.
        (read_bytes(&mut good, expected), good)
    });
    wait_until(|| {
        req(&mut admin, &["PUBSUB", "NUMSUB", "flood"]) == b"*2\r\n$5\r\nflood\r\n:2\r\n"
    });
    let rss_before = rss_kib(server.pid());
    let mut publisher = server.connect();
    // 20,000 x 4 KiB = 80 MiB: far more than socket buffers and the limit together.
    for chunk in 0..N / 100 {
        let mut batch = Vec::new();
        for i in 0..100 {
            batch.extend(common::encode(&[
                "PUBLISH",
                "flood",
                &format!("{}:{}", chunk * 100 + i, payload),
            ]));
        }
        publisher.send_raw(&batch).expect("publish");
        for _ in 0..100 {
            frame(&mut publisher);
        }
    }
    let rss_after = rss_kib(server.pid());
    let (got, _good) = reader.join().expect("reader");
    assert_eq!(got, expected, "the reading subscriber got everything");
    assert_eq!(
        req(&mut admin, &["PUBSUB", "NUMSUB", "flood"]),
        b"*2\r\n$5\r\nflood\r\n:1\r\n",
        "the slow subscriber is gone"
    );
    let (_, closed) = slow.read_until_close(Duration::from_secs(5));
    assert!(closed, "the slow subscriber's connection was closed");
    assert!(
        rss_after < rss_before + 40 * 1024,
        "RSS grew from {} KiB to {} KiB",
        rss_before,
        rss_after
    );
    assert!(server
        .log()
        .contains("for overcoming of output buffer limits"));
}

/// Above the soft limit for longer than its seconds, a subscriber is disconnected too.
#[test]
fn slow_subscriber_is_disconnected_after_the_soft_limit_time() {
    let server = start_ferrokv(2);
    let mut admin = server.connect();
    req(
        &mut admin,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 0 256kb 1",
        ],
    );
    assert_eq!(
        req(&mut admin, &["CONFIG", "GET", "client-output-buffer-limit"]),
        b"*2\r\n$26\r\nclient-output-buffer-limit\r\n$58\r\nnormal 0 0 0 slave 268435456 67108864 60 pubsub 0 262144 1\r\n"
    );
    let mut slow = server.connect();
    req_n(&mut slow, &["SUBSCRIBE", "s"], 1);
    let payload = "y".repeat(8192);
    let mut publisher = server.connect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for _ in 0..50 {
            req(&mut publisher, &["PUBLISH", "s", &payload]);
        }
        if req(&mut admin, &["PUBSUB", "NUMSUB", "s"]) == b"*2\r\n$1\r\ns\r\n:0\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "soft limit never applied");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// With four worker threads, each subscriber sees each publisher's messages in publish
/// order, none missing, channel and pattern subscribers alike.
#[test]
fn per_publisher_order_across_threads() {
    let server = start_ferrokv_with(4, &[]);
    let port = server.port;
    const PUBLISHERS: usize = 4;
    const EACH: usize = 3000;
    let mut subscribers = Vec::new();
    for s in 0..4 {
        let mut c = conn(port);
        if s % 2 == 0 {
            req_n(&mut c, &["SUBSCRIBE", "ord"], 1);
        } else {
            req_n(&mut c, &["PSUBSCRIBE", "o*"], 1);
        }
        subscribers.push(c);
    }
    let mut admin = conn(port);
    wait_until(|| req(&mut admin, &["PUBSUB", "NUMSUB", "ord"]) == b"*2\r\n$3\r\nord\r\n:2\r\n");
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || {
                let mut next = [0usize; PUBLISHERS];
                for _ in 0..PUBLISHERS * EACH {
                    let f = frame(&mut c);
                    let text = String::from_utf8_lossy(&f).to_string();
                    let body = text.lines().nth_back(0).unwrap_or_default().to_string();
                    let (p, seq) = body.split_once(':').expect("p:seq");
                    let p: usize = p.parse().expect("publisher");
                    let seq: usize = seq.parse().expect("seq");
                    assert_eq!(seq, next[p], "publisher {} out of order", p);
                    next[p] += 1;
                }
                next
            })
        })
        .collect();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            std::thread::spawn(move || {
                let mut c = conn(port);
                for chunk in 0..EACH / 50 {
                    let mut batch = Vec::new();
                    for i in 0..50 {
                        let msg = format!("{}:{}", p, chunk * 50 + i);
                        batch.extend(common::encode(&["PUBLISH", "ord", &msg]));
                    }
                    c.send_raw(&batch).expect("publish");
                    for _ in 0..50 {
                        assert_eq!(frame(&mut c), b":4\r\n");
                    }
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().expect("publisher");
    }
    for r in readers {
        assert_eq!(r.join().expect("reader"), [EACH; PUBLISHERS]);
    }
}
