//! Concurrency over real TCP against ferrokv with two worker threads: optimistic
//! transactions (WATCH) under contention, atomic visibility of multi-key writes (MSET,
//! MULTI/EXEC), and deep pipelining.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{encode, encode_into, start_ferrokv, start_redis, Conn, Reply, ServerGuard};

/// Upper bound on any test's run time, so a livelock fails instead of hanging CI.
const DEADLINE: Duration = Duration::from_secs(120);

/// ferrokv with two worker threads; with `FERROKV_TEST_AGAINST_REDIS=1` a real redis-server
/// instead, to check the tests themselves.
fn start_target() -> ServerGuard {
    if std::env::var_os("FERROKV_TEST_AGAINST_REDIS").is_some() {
        start_redis()
    } else {
        start_ferrokv(2)
    }
}

fn int_of(r: &Reply) -> i64 {
    match r {
        Reply::Nil => 0,
        Reply::Bulk(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an integer: {:?}", r)),
        Reply::Int(i) => *i,
        other => panic!("unexpected reply {:?}", other),
    }
}

fn expect_ok(r: Reply, what: &str) {
    assert_eq!(r, Reply::Simple("OK".into()), "{}", what);
}

/// 8 clients each add 1 to one counter 200 times with WATCH/GET/MULTI/SET/EXEC, retrying
/// when EXEC is aborted. No increment may be lost or doubled.
#[test]
fn watch_multi_exec_counter() {
    const CLIENTS: usize = 8;
    const INCREMENTS: usize = 200;
    let server = start_target();
    expect_ok(
        server.connect().cmd(&["SET", "counter", "0"]),
        "SET counter 0",
    );
    let aborted = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..CLIENTS {
            let server = &server;
            let aborted = &aborted;
            s.spawn(move || {
                let mut c = server.connect();
                let mut done = 0;
                while done < INCREMENTS {
                    assert!(start.elapsed() < DEADLINE, "no progress: livelock?");
                    let mut req = encode(&["WATCH", "counter"]);
                    encode_into(&mut req, &["GET", "counter"]);
                    c.send_raw(&req).expect("send");
                    expect_ok(c.read_reply(), "WATCH");
                    let v = int_of(&c.read_reply());
                    let next = (v + 1).to_string();
                    let mut req = encode(&["MULTI"]);
                    encode_into(&mut req, &["SET", "counter", next.as_str()]);
                    encode_into(&mut req, &["EXEC"]);
                    c.send_raw(&req).expect("send");
                    expect_ok(c.read_reply(), "MULTI");
                    assert_eq!(c.read_reply(), Reply::Simple("QUEUED".into()));
                    match c.read_reply() {
                        Reply::Array(items) => {
                            assert_eq!(items, vec![Reply::Simple("OK".into())]);
                            done += 1;
                        }
                        Reply::Nil => {
                            aborted.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("EXEC replied {:?}", other),
                    }
                }
            });
        }
    });
    let final_value = int_of(&server.connect().cmd(&["GET", "counter"]));
    eprintln!(
        "counter: {} increments, {} aborted EXECs retried",
        final_value,
        aborted.load(Ordering::Relaxed)
    );
    assert_eq!(final_value, (CLIENTS * INCREMENTS) as i64);
}

/// 8 clients INCR one counter 500 times each, pipelined 50 deep: no increment is lost.
#[test]
fn concurrent_incr_loses_nothing() {
    const CLIENTS: usize = 8;
    const INCREMENTS: usize = 500;
    const BATCH: usize = 50;
    let server = start_target();
    std::thread::scope(|s| {
        for _ in 0..CLIENTS {
            let server = &server;
            s.spawn(move || {
                let mut c = server.connect();
                let mut req = Vec::new();
                for _ in 0..BATCH {
                    encode_into(&mut req, &["INCR", "hits"]);
                }
                for _ in 0..INCREMENTS / BATCH {
                    c.send_raw(&req).expect("send");
                    for _ in 0..BATCH {
                        match c.read_reply() {
                            Reply::Int(_) => {}
                            other => panic!("INCR replied {:?}", other),
                        }
                    }
                }
            });
        }
    });
    let total = int_of(&server.connect().cmd(&["GET", "hits"]));
    assert_eq!(total, (CLIENTS * INCREMENTS) as i64);
}

/// A writer sets a, b and c to the same value with one MSET, over and over; readers on other
/// connections MGET a b c and must always see three equal values.
#[test]
fn mset_is_seen_atomically_by_mget() {
    const WRITES: usize = 3000;
    const READERS: usize = 3;
    let server = start_target();
    let writing = AtomicBool::new(true);
    let start = Instant::now();
    let reads: Vec<usize> = std::thread::scope(|s| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let server = &server;
                let writing = &writing;
                s.spawn(move || {
                    let mut c = server.connect();
                    let mut n = 0;
                    while writing.load(Ordering::Acquire) || n == 0 {
                        assert!(start.elapsed() < DEADLINE, "too slow");
                        match c.cmd(&["MGET", "a", "b", "c"]) {
                            Reply::Array(v) => {
                                assert_eq!(v.len(), 3, "MGET a b c");
                                assert!(
                                    v[0] == v[1] && v[1] == v[2],
                                    "MGET saw a half-applied MSET: {:?}",
                                    v
                                );
                            }
                            other => panic!("MGET replied {:?}", other),
                        }
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut w = server.connect();
        for i in 0..WRITES {
            let v = i.to_string();
            let r = w.cmd(&["MSET", "a", v.as_str(), "b", v.as_str(), "c", v.as_str()]);
            if r != Reply::Simple("OK".into()) {
                writing.store(false, Ordering::Release);
                panic!("MSET replied {:?}", r);
            }
        }
        writing.store(false, Ordering::Release);
        readers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("{} MSETs, reads per reader: {:?}", WRITES, reads);
}

/// A writer runs MULTI / SET x i / SET y i / EXEC; readers read x and y inside their own
/// MULTI/EXEC and with MGET, and must never see them differ.
#[test]
fn multi_exec_is_seen_atomically() {
    const WRITES: usize = 3000;
    let server = start_target();
    let writing = AtomicBool::new(true);
    let start = Instant::now();
    std::thread::scope(|s| {
        let mut readers = Vec::new();
        for use_mget in [false, true] {
            let server = &server;
            let writing = &writing;
            readers.push(s.spawn(move || {
                let mut c = server.connect();
                let mut n = 0;
                while writing.load(Ordering::Acquire) || n == 0 {
                    assert!(start.elapsed() < DEADLINE, "too slow");
                    let pair = if use_mget {
                        c.cmd(&["MGET", "x", "y"])
                    } else {
                        let mut req = encode(&["MULTI"]);
                        encode_into(&mut req, &["GET", "x"]);
                        encode_into(&mut req, &["GET", "y"]);
                        encode_into(&mut req, &["EXEC"]);
                        c.send_raw(&req).expect("send");
                        expect_ok(c.read_reply(), "MULTI");
                        assert_eq!(c.read_reply(), Reply::Simple("QUEUED".into()));
                        assert_eq!(c.read_reply(), Reply::Simple("QUEUED".into()));
                        c.read_reply()
                    };
                    match pair {
                        Reply::Array(v) => {
                            assert_eq!(v.len(), 2);
                            assert_eq!(
                                v[0],
                                v[1],
                                "saw a half-applied transaction (read with {})",
                                if use_mget {
                                    "MGET"
                                } else {
                                    "MULTI/GET/GET/EXEC"
                                }
                            );
                        }
                        other => panic!("read replied {:?}", other),
                    }
                    n += 1;
                }
                n
            }));
        }
        let mut w = server.connect();
        for i in 0..WRITES {
            let v = i.to_string();
            let mut req = encode(&["MULTI"]);
            encode_into(&mut req, &["SET", "x", v.as_str()]);
            encode_into(&mut req, &["SET", "y", v.as_str()]);
            encode_into(&mut req, &["EXEC"]);
            w.send_raw(&req).expect("send");
            let replies: Vec<Reply> = (0..4).map(|_| w.read_reply()).collect();
            let ok = Reply::Simple("OK".into());
            let queued = Reply::Simple("QUEUED".into());
            let expected = vec![
                ok.clone(),
                queued.clone(),
                queued,
                Reply::Array(vec![ok.clone(), ok]),
            ];
            if replies != expected {
                writing.store(false, Ordering::Release);
                panic!("writer transaction replied {:?}", replies);
            }
        }
        writing.store(false, Ordering::Release);
        for r in readers {
            r.join().unwrap();
        }
    });
}

/// 10000 SETs and 10000 GETs interleaved, sent in one write: all 20000 replies arrive, in order.
#[test]
fn deep_pipeline_replies_in_order() {
    const DEPTH: usize = 10_000;
    let server = start_target();
    let mut c = server.connect();
    let mut req = Vec::with_capacity(DEPTH * 80);
    for i in 0..DEPTH {
        let k = format!("key:{}", i);
        let v = format!("value:{}", i);
        encode_into(&mut req, &["SET", k.as_str(), v.as_str()]);
        encode_into(&mut req, &["GET", k.as_str()]);
    }
    // Write from another thread while this one reads, so neither side's socket buffer can
    // fill up and stall the other.
    let mut writer = c.stream.try_clone().expect("clone stream");
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        writer.write_all(&req).expect("write pipeline");
    });
    for i in 0..DEPTH {
        assert_eq!(c.read_reply(), Reply::Simple("OK".into()), "SET #{}", i);
        assert_eq!(
            c.read_reply(),
            Reply::Bulk(format!("value:{}", i).into_bytes()),
            "GET #{}",
            i
        );
    }
    sender.join().unwrap();
    // nothing more may follow
    let (rest, closed) = c.read_until_close(Duration::from_millis(200));
    assert!(rest.is_empty() && !closed, "extra bytes {:?}", rest);
    let _ = Conn::connect(server.port).expect("server still accepts");
}
