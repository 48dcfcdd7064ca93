//! SCAN's guarantee against the real server binary: every key present for the whole
//! iteration is returned at least once, even while another connection keeps adding many
//! keys (so the shards' tables grow and rehash between SCAN calls).

use std::collections::HashSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The server process, killed when the test ends (even on panic).
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

fn start_server() -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_ferrokv-server"))
        .args(["--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ferrokv-server");
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        thread::sleep(Duration::from_millis(20));
    }
    server
}

fn connect(server: &Server) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{}/", server.port))
        .expect("client")
        .get_connection()
        .expect("connection")
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
    let server = start_server();
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
    let server = start_server();
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
