//! Client-side caching (CLIENT TRACKING) over real TCP with several raw RESP2/RESP3
//! connections: each scenario runs against ferrokv and against a real redis-server 7, and
//! the transcripts (every reply's and invalidation's exact bytes, in order) must be equal.
//! Then ferrokv-only checks: the tracking table's size limit, and caches that stay correct
//! while writers on other worker threads modify the keys.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{escape, start_ferrokv, start_redis, Conn, ServerGuard};

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

/// Everything the server sends until it is quiet for a moment.
fn drain(c: &mut Conn) -> Vec<u8> {
    c.read_until_close(Duration::from_millis(250)).0
}

fn hello3(c: &mut Conn) {
    req(c, &["HELLO", "3"]);
}

fn client_id(c: &mut Conn) -> String {
    let r = req(c, &["CLIENT", "ID"]);
    String::from_utf8_lossy(r.get(1..r.len() - 2).unwrap_or_default()).into_owned()
}

/// Run `scenario` on both servers; their transcripts must be identical.
fn on_both(name: &str, scenario: fn(u16) -> Vec<Vec<u8>>) {
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
}

/// RESP2: invalidations reach a `__redis__:invalidate` subscriber as Pub/Sub messages, one
/// per key, only for keys the tracking client read; flushes send a null; names are global
/// across databases.
fn resp2_redirect(port: u16) -> Vec<Vec<u8>> {
    let (mut r, mut w, mut s) = (conn(port), conn(port), conn(port));
    let sid = client_id(&mut s);
    let mut t = vec![req(&mut s, &["SUBSCRIBE", "__redis__:invalidate"])];
    t.push(req(&mut r, &["CLIENT", "TRACKING", "on", "REDIRECT", &sid]));
    t.push(req(&mut w, &["MSET", "a", "1", "b", "2", "c", "3"]));
    t.push(req(&mut r, &["MGET", "a", "x"]));
    t.push(req(&mut r, &["GET", "c"]));
    t.push(req(&mut w, &["DEL", "b"]));
    t.push(req(&mut w, &["INCR", "a"]));
    t.push(frame(&mut s));
    t.push(req(&mut w, &["SET", "x", "1"]));
    t.push(frame(&mut s));
    t.push(req(&mut w, &["SET", "a", "again"]));
    // The same name in another database: the table holds names only.
    t.push(req(&mut w, &["SELECT", "2"]));
    t.push(req(&mut w, &["SET", "c", "elsewhere"]));
    t.push(frame(&mut s));
    t.push(req(&mut r, &["GET", "a"]));
    t.push(req(&mut w, &["FLUSHDB"]));
    t.push(frame(&mut s));
    // A flush sends the null invalidation even with nothing tracked.
    t.push(req(&mut w, &["FLUSHALL"]));
    t.push(frame(&mut s));
    let line = String::from_utf8_lossy(&req(&mut r, &["CLIENT", "INFO"])).into_owned();
    t.push(field(&line, "flags=").into_bytes());
    t.push(field(&line, "redir=").replace(&sid, "ID").into_bytes());
    t.push(req(&mut r, &["CLIENT", "TRACKING", "off"]));
    t.push(req(&mut w, &["SET", "a", "no longer tracked"]));
    t.push(drain(&mut s));
    t
}

/// RESP3: push frames; the client's own writes are invalidated after their reply (also
/// after EXEC and for FLUSHDB's null); RENAME invalidates both names, MOVE and EXPIRE
/// theirs; every read-only command's keys are tracked (EXISTS, TTL, OBJECT).
fn resp3_pushes(port: u16) -> Vec<Vec<u8>> {
    let (mut r, mut w) = (conn(port), conn(port));
    hello3(&mut r);
    let mut t = vec![req(&mut r, &["CLIENT", "TRACKING", "on"])];
    t.push(req(&mut r, &["SET", "z", "1"]));
    t.push(req(&mut r, &["GET", "z"]));
    t.push(req(&mut w, &["SET", "z", "2"]));
    t.push(frame(&mut r));
    t.push(req(&mut r, &["GET", "z"]));
    t.push(req(&mut r, &["SET", "z", "3"]));
    t.push(frame(&mut r));
    t.push(req(&mut r, &["GET", "z"]));
    t.push(req(&mut r, &["MULTI"]));
    t.push(req(&mut r, &["INCR", "z"]));
    t.push(req(&mut r, &["GET", "z"]));
    t.push(req(&mut r, &["EXEC"]));
    t.push(frame(&mut r));
    t.push(req(&mut r, &["FLUSHDB"]));
    t.push(frame(&mut r));
    t.push(req(&mut r, &["SET", "src", "1"]));
    t.push(req(&mut r, &["GET", "src"]));
    t.push(req(&mut r, &["GET", "dst"]));
    t.push(req(&mut w, &["RENAME", "src", "dst"]));
    t.push(frame(&mut r));
    t.push(frame(&mut r));
    t.push(req(&mut r, &["EXISTS", "dst"]));
    t.push(req(&mut w, &["MOVE", "dst", "3"]));
    t.push(frame(&mut r));
    t.push(req(&mut w, &["SET", "e", "1"]));
    t.push(req(&mut r, &["TTL", "e"]));
    t.push(req(&mut w, &["EXPIRE", "e", "100"]));
    t.push(frame(&mut r));
    t.push(req(&mut r, &["OBJECT", "ENCODING", "e"]));
    t.push(req(&mut w, &["PERSIST", "e"]));
    t.push(frame(&mut r));
    // Expiry (the active cycle) invalidates too.
    t.push(req(&mut w, &["SET", "gone", "1", "PX", "100"]));
    t.push(req(&mut r, &["GET", "gone"]));
    std::thread::sleep(Duration::from_millis(600));
    t.push(frame(&mut r));
    // Not read, not tracked; DBSIZE/KEYS track nothing.
    t.push(req(&mut r, &["DBSIZE"]));
    t.push(req(&mut w, &["SET", "untracked", "1"]));
    t.push(req(&mut r, &["PING"]));
    t.push(req(&mut r, &["CLIENT", "TRACKING", "off"]));
    t
}

/// BCAST: every modified key under a registered prefix, batched (one message per prefix,
/// keys sorted) per command; NOLOOP leaves out the client's own writes.
fn bcast(port: u16) -> Vec<Vec<u8>> {
    let (mut b, mut w) = (conn(port), conn(port));
    hello3(&mut b);
    let mut t = vec![req(
        &mut b,
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "k", "PREFIX", "a", "NOLOOP",
        ],
    )];
    t.push(req(&mut w, &["MULTI"]));
    for k in ["kz", "ka", "aa", "kb", "zz", "ka"] {
        t.push(req(&mut w, &["SET", k, "1"]));
    }
    t.push(req(&mut w, &["EXEC"]));
    t.push(frame(&mut b));
    t.push(frame(&mut b));
    t.push(req(&mut w, &["MSET", "k1", "1", "other", "2", "k0", "3"]));
    t.push(frame(&mut b));
    t.push(req(&mut b, &["SET", "kself", "1"]));
    t.push(req(&mut w, &["SET", "kw", "1"]));
    t.push(frame(&mut b));
    t.push(req(&mut b, &["CLIENT", "TRACKINGINFO"]));
    t.push(req(&mut b, &["CLIENT", "TRACKING", "off"]));
    t.push(req(&mut b, &["CLIENT", "TRACKING", "on", "BCAST"]));
    t.push(req(&mut b, &["SET", "mine", "1"]));
    t.push(frame(&mut b));
    t.push(req(&mut b, &["CLIENT", "TRACKING", "off"]));
    t
}

/// OPTIN / OPTOUT with CLIENT CACHING, and NOLOOP in the default mode.
fn optin_optout_noloop(port: u16) -> Vec<Vec<u8>> {
    let (mut o, mut w) = (conn(port), conn(port));
    hello3(&mut o);
    let mut t = vec![req(&mut o, &["CLIENT", "TRACKING", "on", "OPTIN"])];
    t.push(req(&mut o, &["GET", "o0"]));
    t.push(req(&mut o, &["CLIENT", "CACHING", "yes"]));
    t.push(req(&mut o, &["MULTI"]));
    t.push(req(&mut o, &["GET", "o1"]));
    t.push(req(&mut o, &["GET", "o2"]));
    t.push(req(&mut o, &["EXEC"]));
    t.push(req(&mut o, &["GET", "o3"]));
    t.push(req(
        &mut w,
        &["MSET", "o0", "1", "o1", "1", "o2", "1", "o3", "1"],
    ));
    t.push(frame(&mut o));
    t.push(frame(&mut o));
    t.push(req(&mut o, &["CLIENT", "TRACKING", "off"]));
    t.push(req(
        &mut o,
        &["CLIENT", "TRACKING", "on", "OPTOUT", "NOLOOP"],
    ));
    t.push(req(&mut o, &["CLIENT", "CACHING", "no"]));
    t.push(req(&mut o, &["GET", "p1"]));
    t.push(req(&mut o, &["GET", "p2"]));
    t.push(req(&mut o, &["SET", "p2", "mine"]));
    t.push(req(&mut o, &["GET", "p3"]));
    t.push(req(&mut w, &["MSET", "p1", "1", "p2", "1", "p3", "1"]));
    t.push(frame(&mut o));
    t.push(req(&mut o, &["PING"]));
    t.push(req(&mut o, &["CLIENT", "TRACKING", "off"]));
    t
}

/// A redirect to a client that is gone: RESP3 clients get `tracking-redir-broken` with
/// each invalidation, flag `R` and `broken_redirect`; RESP2 clients only the flag.
fn broken_redirect(port: u16) -> Vec<Vec<u8>> {
    let (mut r, mut w, mut s, mut q) = (conn(port), conn(port), conn(port), conn(port));
    let sid = client_id(&mut s);
    hello3(&mut r);
    let mut t = vec![req(&mut r, &["CLIENT", "TRACKING", "on", "REDIRECT", &sid])];
    t.push(req(&mut r, &["GET", "k"]));
    t.push(req(&mut s, &["QUIT"]));
    std::thread::sleep(Duration::from_millis(100));
    t.push(req(&mut w, &["SET", "k", "1"]));
    let broken = frame(&mut r);
    let id = format!(":{}\r\n", sid);
    t.push(
        String::from_utf8_lossy(&broken)
            .replace(&id, ":ID\r\n")
            .into_bytes(),
    );
    let info = req(&mut r, &["CLIENT", "TRACKINGINFO"]);
    t.push(
        String::from_utf8_lossy(&info)
            .replace(&id, ":ID\r\n")
            .into_bytes(),
    );
    let line = String::from_utf8_lossy(&req(&mut r, &["CLIENT", "INFO"])).into_owned();
    t.push(field(&line, "flags=").into_bytes());
    // RESP2 without a living target: only the flag.
    let sid2 = client_id(&mut q);
    let mut r2 = conn(port);
    t.push(req(
        &mut r2,
        &["CLIENT", "TRACKING", "on", "REDIRECT", &sid2],
    ));
    t.push(req(&mut r2, &["GET", "j"]));
    t.push(req(&mut q, &["QUIT"]));
    std::thread::sleep(Duration::from_millis(100));
    t.push(req(&mut w, &["SET", "j", "1"]));
    let line = String::from_utf8_lossy(&req(&mut r2, &["CLIENT", "INFO"])).into_owned();
    t.push(field(&line, "flags=").into_bytes());
    t.push(req(&mut r, &["CLIENT", "TRACKING", "off"]));
    t
}

/// Redirect targets: a RESP3 target gets pushes whether it subscribed or not; a RESP2
/// target that is not subscribed gets nothing. CLIENT LIST's flags and `redir=`.
fn redirect_targets(port: u16) -> Vec<Vec<u8>> {
    let (mut r, mut w, mut n) = (conn(port), conn(port), conn(port));
    let nid = client_id(&mut n);
    let mut t = vec![req(&mut r, &["CLIENT", "TRACKING", "on", "REDIRECT", &nid])];
    t.push(req(&mut r, &["GET", "q"]));
    t.push(req(&mut w, &["SET", "q", "1"]));
    t.push(drain(&mut n));
    hello3(&mut n);
    t.push(req(&mut r, &["GET", "q"]));
    t.push(req(&mut w, &["SET", "q", "2"]));
    t.push(frame(&mut n));
    let line = String::from_utf8_lossy(&req(&mut r, &["CLIENT", "INFO"])).into_owned();
    t.push(field(&line, "flags=").into_bytes());
    t.push(field(&line, "redir=").replace(&nid, "ID").into_bytes());
    t.push(req(&mut r, &["CLIENT", "TRACKING", "off"]));
    t.push(req(&mut r, &["CLIENT", "TRACKING", "on", "BCAST"]));
    let line = String::from_utf8_lossy(&req(&mut r, &["CLIENT", "INFO"])).into_owned();
    t.push(field(&line, "flags=").into_bytes());
    t.push(field(&line, "redir=").into_bytes());
    // Redis 7.0 reports an overlap among the given prefixes after the first one and
    // enables tracking anyway: an error, then +OK.
    let mut x = conn(port);
    x.send(&[
        "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "BAR", "PREFIX", "FOO", "PREFIX", "FOOB",
    ])
    .expect("send");
    t.push(frame(&mut x));
    t.push(frame(&mut x));
    t.push(req(&mut x, &["CLIENT", "TRACKINGINFO"]));
    t.push(req(&mut r, &["CLIENT", "TRACKING", "off"]));
    t
}

/// The value of `name` (like `flags=`) in a CLIENT INFO line.
fn field(line: &str, name: &str) -> String {
    line.split(' ')
        .find(|f| f.starts_with(name))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn resp2_redirect_matches_redis() {
    on_both("resp2_redirect", resp2_redirect);
}

#[test]
fn resp3_pushes_match_redis() {
    on_both("resp3_pushes", resp3_pushes);
}

#[test]
fn bcast_matches_redis() {
    on_both("bcast", bcast);
}

#[test]
fn optin_optout_noloop_match_redis() {
    on_both("optin_optout_noloop", optin_optout_noloop);
}

#[test]
fn broken_redirect_matches_redis() {
    on_both("broken_redirect", broken_redirect);
}

#[test]
fn redirect_targets_match_redis() {
    on_both("redirect_targets", redirect_targets);
}

/// Past `tracking-table-max-keys`, tracked keys are invalidated until the table fits, and
/// INFO counts what is left.
#[test]
fn tracking_table_limit_evicts_keys() {
    let server = start_ferrokv(2);
    let (mut r, mut w) = (conn(server.port), conn(server.port));
    hello3(&mut r);
    req(&mut r, &["CLIENT", "TRACKING", "on"]);
    req(&mut r, &["MGET", "t1", "t2", "t3", "t4", "t5"]);
    req(&mut w, &["CONFIG", "SET", "tracking-table-max-keys", "2"]);
    let pushes = drain(&mut r);
    let count = pushes.windows(10).filter(|w| w == b"invalidate").count();
    assert_eq!(count, 3, "{}", escape(&pushes));
    let info = String::from_utf8_lossy(&req(&mut w, &["INFO"])).into_owned();
    assert!(info.contains("tracking_total_keys:2\r\n"), "{}", info);
    assert!(info.contains("tracking_total_items:2\r\n"), "{}", info);
    assert!(info.contains("tracking_clients:1\r\n"), "{}", info);
}

/// A reader's frame: an invalidation push drops its keys from `cache` (None); anything
/// else is a reply, returned.
fn handle(frame: Vec<u8>, cache: &mut HashMap<Vec<u8>, Vec<u8>>) -> Option<Vec<u8>> {
    if !frame.starts_with(b">2\r\n$10\r\ninvalidate\r\n") {
        return Some(frame);
    }
    let reply = common::parse_reply(&frame).expect("push");
    if let Some(keys) = reply.expect_array().get(1) {
        for k in keys.expect_array() {
            cache.remove(k.bytes().unwrap_or_default());
        }
    }
    None
}

/// Readers cache what they GET and drop what they are told to; writers on other worker
/// threads keep changing the keys. Once the writers stop and every reader has drained its
/// invalidations (a PING's reply comes after them), every cached value is the stored one.
#[test]
fn caches_stay_correct_under_concurrent_writers() {
    let server = start_ferrokv(4);
    let port = server.port;
    let keys: Vec<String> = (0..8).map(|i| format!("key:{}", i)).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for wi in 0..3 {
        let keys = keys.clone();
        let stop = stop.clone();
        writers.push(std::thread::spawn(move || {
            let mut w = conn(port);
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let k = &keys[(n as usize + wi) % keys.len()];
                req(&mut w, &["SET", k, &format!("{}-{}", wi, n)]);
                n += 1;
            }
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..3 {
        let keys = keys.clone();
        let stop = stop.clone();
        readers.push(std::thread::spawn(move || {
            let mut r = conn(port);
            hello3(&mut r);
            req(&mut r, &["CLIENT", "TRACKING", "on"]);
            let mut cache: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let k = keys[i % keys.len()].clone();
                i += 1;
                if cache.contains_key(k.as_bytes()) {
                    continue;
                }
                r.send(&["GET", &k]).expect("send");
                let value = loop {
                    let f = frame(&mut r);
                    if let Some(v) = handle(f, &mut cache) {
                        break v;
                    }
                };
                cache.insert(k.into_bytes(), value);
            }
            (r, cache)
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    let mut check = conn(port);
    hello3(&mut check);
    for reader in readers {
        let (mut r, mut cache) = reader.join().expect("reader");
        r.send(&["PING"]).expect("send");
        loop {
            let f = frame(&mut r);
            if handle(f, &mut cache).is_some() {
                break;
            }
        }
        for (k, v) in &cache {
            let k = String::from_utf8_lossy(k).into_owned();
            let actual = req(&mut check, &["GET", &k]);
            assert_eq!(escape(&actual), escape(v), "stale cache entry for {}", k);
        }
    }
}
