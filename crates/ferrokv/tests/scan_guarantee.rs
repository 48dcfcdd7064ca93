//! SCAN's guarantee against the real server binary: every key present for the whole
//! iteration is returned at least once, even while another connection keeps adding many
//! keys (so the shards' tables grow and rehash between SCAN calls).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{start_ferrokv, ServerGuard};

/// Several worker threads, so that connections really run in parallel.
const THREADS: usize = 4;

fn connect(server: &ServerGuard) -> redis::Connection {
    let con = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port))
        .expect("client")
        .get_connection()
        .expect("connection");
    // A deadlocked server must fail the test, not hang it.
    con.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    con
}

fn set_many(con: &mut redis::Connection, keys: impl Iterator<Item = String>) {
    let mut pipe = redis::pipe();
    for k in keys {
        pipe.cmd("SET").arg(k).arg("v").ignore();
    }
    pipe.query::<()>(con).expect("pipelined SETs");
}

/// One full SCAN iteration; `between` runs after every call.
fn scan_all(con: &mut redis::Connection, count: usize, mut between: impl FnMut()) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: u64 = 0;
    let mut calls = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(count)
            .query(con)
            .expect("SCAN");
        seen.extend(keys);
        calls += 1;
        assert!(calls < 100_000, "SCAN does not terminate");
        between();
        if next == 0 {
            return seen;
        }
        cursor = next;
    }
}

#[test]
fn scan_returns_every_original_key_while_keys_are_added() {
    const ORIGINAL: usize = 20_000;
    const BATCH: usize = 250;
    let server = start_ferrokv(THREADS);
    let mut con = connect(&server);
    set_many(&mut con, (0..ORIGINAL).map(|i| format!("orig:{i}")));

    // A second connection adds new keys in batches until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let batches = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, batches) = (stop.clone(), batches.clone());
        let mut con = connect(&server);
        thread::spawn(move || {
            let mut next = 0usize;
            while !stop.load(Ordering::Acquire) {
                set_many(&mut con, (next..next + BATCH).map(|i| format!("new:{i}")));
                next += BATCH;
                batches.fetch_add(1, Ordering::Release);
            }
        })
    };

    // Between SCAN calls, wait for the writer to land at least one more batch, so the
    // iteration really interleaves with table growth.
    let seen = scan_all(&mut con, 100, || {
        let target = batches.load(Ordering::Acquire) + 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        while batches.load(Ordering::Acquire) < target && Instant::now() < deadline {
            thread::yield_now();
        }
    });
    stop.store(true, Ordering::Release);
    writer.join().expect("writer thread");

    let added = batches.load(Ordering::Acquire) * BATCH;
    assert!(
        added >= ORIGINAL,
        "only {added} keys were added during the scan"
    );
    let seen: HashSet<String> = seen.into_iter().collect();
    let missing: Vec<String> = (0..ORIGINAL)
        .map(|i| format!("orig:{i}"))
        .filter(|k| !seen.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "{} original keys never returned, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn quiet_scan_returns_each_key_exactly_once() {
    let server = start_ferrokv(THREADS);
    let mut con = connect(&server);
    set_many(&mut con, (0..5_000).map(|i| format!("k:{i}")));
    // Keys sharing a hash tag share a shard: a big shard is returned in one call.
    set_many(&mut con, (0..1_000).map(|i| format!("{{tag}}:{i}")));
    for count in [1, 10, 1000, 1_000_000] {
        let seen = scan_all(&mut con, count, || {});
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(seen.len(), 6_000, "COUNT {count}");
        assert_eq!(unique.len(), 6_000, "COUNT {count}");
    }
}

#[test]
fn scan_inside_exec_and_cross_db_commands_do_not_deadlock() {
    let server = start_ferrokv(THREADS);
    let mut con = connect(&server);
    set_many(&mut con, (0..2_000).map(|i| format!("k:{i}")));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    // Whole-database and cross-database lockers racing with the transactions below.
    for job in 0..3 {
        let stop = stop.clone();
        let mut con = connect(&server);
        workers.push(thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                i += 1;
                let key = format!("k:{}", i % 2_000);
                match job {
                    0 => {
                        let _: Vec<String> = redis::cmd("KEYS")
                            .arg("k:1*")
                            .query(&mut con)
                            .expect("KEYS");
                    }
                    1 => {
                        let _: i64 = redis::cmd("COPY")
                            .arg(&key)
                            .arg("copied")
                            .arg("DB")
                            .arg(1)
                            .arg("REPLACE")
                            .query(&mut con)
                            .expect("COPY");
                    }
                    _ => {
                        let _: () = redis::cmd("SET")
                            .arg(&key)
                            .arg(i)
                            .query(&mut con)
                            .expect("SET");
                    }
                }
            }
        }));
    }
    // Transactions that hold some shards and SCAN the rest.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut calls = 0;
    while Instant::now() < deadline {
        let mut cursor: u64 = 0;
        loop {
            let ((), (next, _keys)): ((), (u64, Vec<String>)) = redis::pipe()
                .atomic()
                .cmd("SET")
                .arg("k:7")
                .arg("x")
                .cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(500)
                .query(&mut con)
                .expect("MULTI/SET/SCAN/EXEC");
            calls += 1;
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    stop.store(true, Ordering::Release);
    for w in workers {
        w.join().expect("worker");
    }
    assert!(calls > 0);
}
