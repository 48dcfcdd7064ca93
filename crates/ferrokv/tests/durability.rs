//! Durability of the append-only file, proven with `kill -9` (never a clean shutdown where
//! it matters): with `appendfsync always` every acknowledged write survives; with
//! `everysec` the loss is bounded to about a second; every type and TTL comes back; a
//! truncated tail is dropped with a warning; corruption stops start-up with the file and
//! offset; group commit makes one fsync cover many clients' writes.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start_ferrokv_with, Conn, Reply, ServerGuard, TempDir};

/// Start ferrokv with its data in `dir` and the AOF on (`extra` may override).
fn start_in(dir: &Path, extra: &[&str]) -> ServerGuard {
    let d = dir.display().to_string();
    let mut args = vec!["--dir", d.as_str(), "--appendonly", "yes"];
    args.extend_from_slice(extra);
    start_ferrokv_with(2, &args)
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

/// SHUTDOWN (which replies nothing) and wait for the process to exit.
fn shutdown(mut server: ServerGuard, mut c: Conn) {
    c.send(&["SHUTDOWN"]).expect("send SHUTDOWN");
    let _ = c.read_until_close(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.is_running() {
        assert!(
            Instant::now() < deadline,
            "SHUTDOWN did not stop the server"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn digest(c: &mut Conn) -> String {
    c.cmd(&["DEBUG", "DIGEST"]).expect_text()
}

fn int(r: Reply) -> i64 {
    match r {
        Reply::Int(n) => n,
        other => panic!("expected an integer, got {:?}", other),
    }
}

/// Writers on several connections under `appendfsync always`, killed with -9 mid-stream:
/// every write that was acknowledged is there after the restart.
#[test]
fn always_keeps_every_acknowledged_write() {
    let data = TempDir::new("durability-always");
    let mut server = start_in(data.path(), &["--appendfsync", "always"]);
    let port = server.port;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for t in 0..8 {
        let stop = stop.clone();
        writers.push(std::thread::spawn(move || {
            let mut c = Conn::connect(port).expect("connect");
            let list = format!("log:{}", t);
            let mut acked = 0u64;
            while !stop.load(Ordering::Relaxed) {
                c.send(&["RPUSH", list.as_str(), &acked.to_string()])
                    .expect("send");
                match c.read_frame() {
                    Ok(f) if f.starts_with(b":") => acked += 1,
                    _ => break, // the server was killed
                }
            }
            // Keep sending until the connection breaks, so the kill lands mid-stream.
            acked
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    kill9(&mut server);
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    assert!(
        acked.iter().all(|&n| n > 0),
        "writers made no progress: {:?}",
        acked
    );
    drop(server);

    let server = start_in(data.path(), &["--appendfsync", "always"]);
    let mut c = server.connect();
    for (t, &n) in acked.iter().enumerate() {
        let list = format!("log:{}", t);
        let len = int(c.cmd(&["LLEN", &list])) as u64;
        assert!(
            len >= n && len <= n + 1,
            "{}: {} acknowledged pushes, {} after restart",
            list,
            n,
            len
        );
        // In order, none missing in between.
        let items = c.cmd(&["LRANGE", &list, "0", "-1"]);
        for (i, item) in items.expect_array().iter().enumerate() {
            assert_eq!(item.text(), Some(i.to_string()));
        }
    }
}

/// `everysec`: after a kill -9, what is missing was acknowledged in about the last second.
#[test]
fn everysec_loses_at_most_about_a_second() {
    let data = TempDir::new("durability-everysec");
    let mut server = start_in(data.path(), &["--appendfsync", "everysec"]);
    let mut c = server.connect();
    let started = Instant::now();
    let mut acked_at: Vec<Duration> = Vec::new();
    while started.elapsed() < Duration::from_millis(2500) {
        let n = acked_at.len();
        assert!(matches!(
            c.cmd(&["SET", &format!("k:{}", n), "v"]),
            Reply::Simple(_)
        ));
        acked_at.push(started.elapsed());
    }
    let killed_at = started.elapsed();
    kill9(&mut server);
    drop(server);
    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    let survived = int(c.cmd(&["DBSIZE"])) as usize;
    // Keys were written in order: the first `survived` are there.
    if survived > 0 {
        assert_eq!(int(c.cmd(&["EXISTS", &format!("k:{}", survived - 1)])), 1);
    }
    let lost_window = match acked_at.get(survived) {
        Some(first_lost) => killed_at.saturating_sub(*first_lost),
        None => Duration::ZERO,
    };
    assert!(
        lost_window <= Duration::from_millis(2200),
        "lost writes acknowledged {:?} before the kill ({} of {} survived)",
        lost_window,
        survived,
        acked_at.len()
    );
}

/// Every type, TTLs, databases, transactions and the deterministic forms (relative TTLs,
/// float increments, random pops, blocking pops) come back identical after kill -9.
#[test]
fn dataset_survives_kill9_identically() {
    let data = TempDir::new("durability-types");
    let mut server = start_in(data.path(), &["--appendfsync", "always"]);
    let mut c = server.connect();
    let script: &[&[&str]] = &[
        &["SET", "s", "hello"],
        &["SET", "ttl", "v", "EX", "1000"],
        &["SETEX", "ttl2", "500", "v"],
        &["SET", "gone", "v", "PX", "1"],
        &["INCRBYFLOAT", "f", "1.1"],
        &["INCRBYFLOAT", "f", "2.25"],
        &["APPEND", "s", " world"],
        &["SETRANGE", "s", "0", "J"],
        &["SETBIT", "bits", "100", "1"],
        &["HSET", "h", "a", "1", "b", "2"],
        &["HINCRBYFLOAT", "h", "a", "0.5"],
        &["RPUSH", "l", "a", "b", "c", "d"],
        &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
        &["SADD", "set", "1", "2", "3", "x", "y"],
        &["SPOP", "set"],
        &["SPOP", "set", "2"],
        &["SADD", "ints", "5", "6", "7"],
        &["ZADD", "z", "1", "a", "2.5", "b", "3", "c"],
        &["ZINCRBY", "z", "0.25", "a"],
        &["ZPOPMAX", "z"],
        &["EXPIRE", "h", "2000"],
        &["PEXPIRE", "l2", "900000"],
        &["GETEX", "s", "EX", "3000"],
        &["SELECT", "3"],
        &["SET", "in3", "x"],
        &["MULTI"],
        &["INCR", "counter"],
        &["INCR", "counter"],
        &["RPUSH", "q", "job1", "job2"],
        &["EXEC"],
        &["BLPOP", "q", "0"],
        &["SELECT", "0"],
        &["SORT", "ints", "STORE", "sorted"],
        &["SINTERSTORE", "inter", "set", "ints"],
    ];
    for cmd in script {
        let r = c.cmd(cmd);
        assert!(!r.is_error(), "{:?}: {:?}", cmd, r);
    }
    std::thread::sleep(Duration::from_millis(20)); // "gone" expires
    assert_eq!(int(c.cmd(&["EXISTS", "gone"])), 0);
    let before = digest(&mut c);
    let ttl_before = int(c.cmd(&["PTTL", "ttl"]));
    kill9(&mut server);
    drop(server);

    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    assert_eq!(
        digest(&mut c),
        before,
        "dataset differs after kill -9 and reload"
    );
    let ttl_after = int(c.cmd(&["PTTL", "ttl"]));
    assert!(
        ttl_after <= ttl_before && ttl_after > ttl_before - 5000,
        "TTL restarted instead of continuing: {} then {}",
        ttl_before,
        ttl_after
    );
    assert_eq!(c.cmd(&["GET", "f"]).text(), Some("3.35".into()));
}

/// A crash in the middle of writing a command leaves a partial command at the end of the
/// last file: with aof-load-truncated yes (the default) it is dropped with a warning and
/// cut off the file; with `no`, start-up fails and says where.
#[test]
fn truncated_tail_is_dropped_or_refused() {
    let data = TempDir::new("durability-truncated");
    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    for i in 0..10 {
        c.cmd(&["SET", &format!("k{}", i), "v"]);
    }
    shutdown(server, c);
    let incr = data.path().join("appendonlydir/appendonly.aof.1.incr.aof");
    let full = std::fs::read(&incr).expect("read incr");
    // Every cut inside the last command, plus an unfinished MULTI block.
    let last_cmd_start = full
        .windows(3)
        .rposition(|w| w == b"*3\r")
        .expect("a SET in the file");
    // Every byte of the last command.
    for cut in last_cmd_start + 1..full.len() {
        std::fs::write(&incr, &full[..cut]).expect("truncate");
        let server = start_in(data.path(), &[]);
        let mut c = server.connect();
        assert_eq!(int(c.cmd(&["DBSIZE"])), 9, "cut at {}", cut);
        assert!(server.log().contains("short read"), "{}", server.log());
        drop(server);
        assert_eq!(
            std::fs::metadata(&incr).expect("incr").len() as usize,
            last_cmd_start,
            "the partial command was not cut off"
        );
    }
    // An unfinished transaction at the end is dropped as a whole.
    let mut with_multi = full.clone();
    with_multi
        .extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$2\r\nzz\r\n$1\r\n1\r\n");
    std::fs::write(&incr, &with_multi).expect("write");
    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    assert_eq!(int(c.cmd(&["EXISTS", "zz"])), 0);
    assert_eq!(int(c.cmd(&["DBSIZE"])), 10);
    drop(server);

    // aof-load-truncated no: refuse to start, naming the file and the offset.
    std::fs::write(&incr, &full[..full.len() - 3]).expect("truncate");
    let out = std::process::Command::new(common::ferrokv_bin())
        .args([
            "--port",
            &common::free_port().to_string(),
            "--dir",
            &data.path().display().to_string(),
        ])
        .args(["--aof-load-truncated", "no"])
        .output()
        .expect("run ferrokv");
    assert_eq!(out.status.code(), Some(1));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("appendonly.aof.1.incr.aof") && text.contains("offset"),
        "{}",
        text
    );
}

/// A damaged byte in the middle of the log stops start-up with the file and offset: never
/// a silent partial load.
#[test]
fn corruption_in_the_middle_stops_startup() {
    let data = TempDir::new("durability-corrupt");
    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    for i in 0..20 {
        c.cmd(&["RPUSH", "l", &format!("item{}", i)]);
    }
    shutdown(server, c);
    let incr = data.path().join("appendonlydir/appendonly.aof.1.incr.aof");
    let mut bytes = std::fs::read(&incr).expect("read");
    let mid = bytes.len() / 2;
    let star = mid
        + bytes[mid..]
            .iter()
            .position(|&b| b == b'*')
            .expect("a command");
    bytes[star] = b'#';
    std::fs::write(&incr, &bytes).expect("write");
    let out = std::process::Command::new(common::ferrokv_bin())
        .args([
            "--port",
            &common::free_port().to_string(),
            "--dir",
            &data.path().display().to_string(),
        ])
        .output()
        .expect("run ferrokv");
    assert_eq!(out.status.code(), Some(1));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("appendonly.aof.1.incr.aof") && text.contains(&format!("offset {}", star)),
        "{}",
        text
    );
}

/// Group commit: with `always` and 50 clients writing at once, one fsync covers many
/// writes (counted by INFO's aof_fsyncs), and each client still gets its acknowledgements.
#[test]
fn always_group_commit_shares_fsyncs() {
    let data = TempDir::new("durability-group");
    let server = start_in(data.path(), &["--appendfsync", "always"]);
    let port = server.port;
    let fsyncs = |c: &mut Conn| -> u64 {
        let info = c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
        info.lines()
            .find_map(|l| l.strip_prefix("aof_fsyncs:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("aof_fsyncs in INFO persistence")
    };
    let mut c = server.connect();
    let before = fsyncs(&mut c);
    const CLIENTS: usize = 50;
    const WRITES: usize = 40;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(port).expect("connect");
                for i in 0..WRITES {
                    assert_eq!(int(c.cmd(&["INCR", &format!("c{}", t)])), i as i64 + 1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    let used = fsyncs(&mut c) - before;
    let writes = (CLIENTS * WRITES) as u64;
    assert!(used > 0);
    assert!(
        used * 3 < writes,
        "{} fsyncs for {} writes: group commit is not sharing fsyncs",
        used,
        writes
    );
}

fn info_field(c: &mut Conn, field: &str) -> String {
    let info = c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{}:", field)))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{} missing from INFO persistence", field))
}

/// Writers keep going while BGREWRITEAOF compacts the log (one kill -9 lands during the
/// rewrite, one after it): every acknowledged write is there after each restart.
#[test]
fn rewrite_under_load_loses_nothing() {
    for kill_during_rewrite in [true, false] {
        let data = TempDir::new("durability-rewrite");
        let mut server = start_in(data.path(), &["--appendfsync", "always"]);
        let port = server.port;
        // Enough data that the rewrite takes a while.
        let mut c = server.connect();
        let mut pipeline = Vec::new();
        for i in 0..50_000 {
            pipeline.extend(common::encode(&[
                "SET",
                &format!("bulk:{}", i),
                "some value",
            ]));
        }
        c.send_raw(&pipeline).expect("send");
        for _ in 0..50_000 {
            c.read_frame().expect("SET reply");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut c = Conn::connect(port).expect("connect");
                    let list = format!("log:{}", t);
                    let mut acked = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if c.send(&["RPUSH", list.as_str(), &acked.to_string()])
                            .is_err()
                        {
                            break;
                        }
                        match c.read_frame() {
                            Ok(f) if f.starts_with(b":") => acked += 1,
                            _ => break,
                        }
                    }
                    acked
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let r = c.cmd(&["BGREWRITEAOF"]);
        assert!(!r.is_error(), "{:?}", r);
        if !kill_during_rewrite {
            let deadline = Instant::now() + Duration::from_secs(30);
            while info_field(&mut c, "aof_rewrites") != "1" {
                assert!(Instant::now() < deadline, "rewrite did not finish");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        kill9(&mut server);
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<u64> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        drop(server);

        let server = start_in(data.path(), &[]);
        let mut c = server.connect();
        assert!(int(c.cmd(&["DBSIZE"])) >= 50_000);
        assert_eq!(
            c.cmd(&["GET", "bulk:49999"]).text(),
            Some("some value".into())
        );
        for (t, &n) in acked.iter().enumerate() {
            let len = int(c.cmd(&["LLEN", &format!("log:{}", t)])) as u64;
            assert!(
                len >= n && len <= n + 1,
                "log:{}: {} acknowledged, {} after restart (kill during rewrite: {})",
                t,
                n,
                len,
                kill_during_rewrite
            );
        }
        if !kill_during_rewrite {
            let manifest =
                std::fs::read_to_string(data.path().join("appendonlydir/appendonly.aof.manifest"))
                    .expect("manifest");
            assert!(
                manifest.contains("appendonly.aof.2.base.aof"),
                "{}",
                manifest
            );
            assert!(!data
                .path()
                .join("appendonlydir/appendonly.aof.1.incr.aof")
                .exists());
        }
    }
}

/// BGREWRITEAOF does not wait for running commands (no barrier over the shards): it starts
/// and replies while a transaction sleeps between its two writes (DEBUG SLEEP inside EXEC
/// holds the transaction's shards). That transaction is in the new base (the walker waits
/// for its shards), so it is logged to the old file only: after the rewrite and kill -9,
/// each of its writes is applied once.
#[test]
fn rewrite_starts_while_a_transaction_runs() {
    let data = TempDir::new("durability-cut-exec");
    let mut server = start_in(data.path(), &["--appendfsync", "always"]);
    let mut e = server.connect();
    let mut batch = Vec::new();
    let commands: [&[&str]; 5] = [
        &["MULTI"],
        &["INCR", "a"],
        &["DEBUG", "SLEEP", "2"],
        &["INCR", "b"],
        &["EXEC"],
    ];
    for cmd in commands {
        common::encode_into(&mut batch, cmd);
    }
    e.send_raw(&batch).expect("send");
    std::thread::sleep(Duration::from_millis(300));
    // A new connection: the sleeping worker cannot accept it, the other one does.
    let mut r = server.connect();
    assert_eq!(
        r.cmd(&["BGREWRITEAOF"]).expect_text(),
        "Background append only file rewriting started"
    );
    e.timeout = Duration::from_millis(1);
    assert!(
        matches!(e.read_frame(), Err(common::ReadFail::Timeout(_))),
        "the transaction ended before the rewrite started"
    );
    e.timeout = Duration::from_secs(10);
    for want in ["OK", "QUEUED", "QUEUED", "QUEUED"] {
        assert_eq!(e.read_reply().expect_text(), want);
    }
    let ok = Reply::Simple("OK".into());
    assert_eq!(
        e.read_reply(),
        Reply::Array(vec![Reply::Int(1), ok, Reply::Int(1)])
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(&mut r, "aof_rewrites") != "1" {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill9(&mut server);
    drop(server);
    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    let one = Reply::Bulk(b"1".to_vec());
    assert_eq!(
        c.cmd(&["MGET", "a", "b"]),
        Reply::Array(vec![one.clone(), one])
    );
}

/// BGREWRITEAOF prepares its files on the rewrite thread (their fsyncs would stall the
/// worker's clients): a failure there is reported as Redis reports a failed rewrite, in
/// INFO and the log, and the next rewrite works once the cause is gone.
#[test]
fn rewrite_that_cannot_create_its_files_fails_in_info() {
    let data = TempDir::new("durability-rw-fail");
    let server = start_in(data.path(), &["--appendfsync", "always"]);
    let mut c = server.connect();
    c.cmd(&["SET", "k", "1"]);
    let dir = data.path().join("appendonlydir");
    let moved = data.path().join("moved-away");
    std::fs::rename(&dir, &moved).expect("move the AOF directory away");
    let started = "Background append only file rewriting started";
    assert_eq!(c.cmd(&["BGREWRITEAOF"]).expect_text(), started);
    let wait_idle = |c: &mut Conn| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while info_field(c, "aof_rewrite_in_progress") != "0" {
            assert!(Instant::now() < deadline, "rewrite did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_idle(&mut c);
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "err");
    assert_eq!(info_field(&mut c, "aof_rewrites"), "0");
    std::fs::rename(&moved, &dir).expect("move it back");
    assert_eq!(c.cmd(&["BGREWRITEAOF"]).expect_text(), started);
    wait_idle(&mut c);
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(info_field(&mut c, "aof_rewrites"), "1");
    assert_eq!(c.cmd(&["INCR", "k"]), Reply::Int(2));
}

/// The rewrite's cut under load: many rewrites while pipelined writers run INCRs,
/// transactions and scripts (none idempotent: a command logged on both sides of the cut
/// is applied twice on reload, one logged on neither is lost), then kill -9, once after
/// the last rewrite and once during it: the reloaded dataset is the one acknowledged
/// (`always`), digest for digest and counter for counter. (On two cores a command rarely
/// straddles a rewrite's start; `rewrite_starts_while_a_transaction_runs` makes one.)
#[test]
fn rewrite_cut_neither_loses_nor_repeats_a_command() {
    /// Commands per pipelined batch (a multiple of 3: INCR, MULTI/EXEC, EVAL).
    const BATCH: i64 = 48;
    for kill_during_rewrite in [false, true] {
        let data = TempDir::new("durability-cut");
        let mut server = start_in(data.path(), &["--appendfsync", "always"]);
        let port = server.port;
        let mut c = server.connect();
        for i in 0..2_000 {
            c.cmd(&["SET", &format!("bulk:{}", i), "v"]);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let script = "redis.call('INCR', KEYS[1]) redis.call('INCR', KEYS[2]) return 1";
        // Pipelined, so a worker always has a command between its locks and its log
        // append when a rewrite starts.
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut c = Conn::connect(port).expect("connect");
                    let (a, b) = (format!("a:{}", w), format!("b:{}:{{x}}", w));
                    let mut batch = Vec::new();
                    for _ in 0..BATCH / 3 {
                        common::encode_into(&mut batch, &["INCR", a.as_str()]);
                        common::encode_into(&mut batch, &["MULTI"]);
                        common::encode_into(&mut batch, &["INCR", a.as_str()]);
                        common::encode_into(&mut batch, &["INCR", b.as_str()]);
                        common::encode_into(&mut batch, &["EXEC"]);
                        common::encode_into(&mut batch, &["EVAL", script, "2", &b, &a]);
                    }
                    let mut acked = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        c.send_raw(&batch).expect("send");
                        for i in 0..BATCH / 3 {
                            // `a` counts every command so far.
                            let n = acked + 3 * i;
                            assert_eq!(c.read_reply(), Reply::Int(n + 1));
                            assert_eq!(c.read_reply().expect_text(), "OK");
                            assert_eq!(c.read_reply().expect_text(), "QUEUED");
                            assert_eq!(c.read_reply().expect_text(), "QUEUED");
                            assert!(matches!(c.read_reply(), Reply::Array(_)));
                            assert_eq!(c.read_reply(), Reply::Int(1));
                        }
                        acked += BATCH;
                    }
                    acked
                })
            })
            .collect();
        let rounds = if kill_during_rewrite { 5 } else { 15 };
        for round in 0..rounds {
            if kill_during_rewrite && round == rounds - 1 {
                // The last one slowed down, so the kill lands while it runs.
                c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "2000"]);
            }
            let r = c.cmd(&["BGREWRITEAOF"]);
            assert!(!r.is_error(), "{:?}", r);
            if kill_during_rewrite && round == rounds - 1 {
                break;
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while info_field(&mut c, "aof_rewrite_in_progress") != "0" {
                assert!(Instant::now() < deadline, "rewrite did not finish");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<i64> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        let before = digest(&mut c);
        if kill_during_rewrite {
            assert_eq!(info_field(&mut c, "aof_rewrite_in_progress"), "1");
        }
        kill9(&mut server);
        drop(server);

        let server = start_in(data.path(), &[]);
        let mut c = server.connect();
        for (w, &n) in acked.iter().enumerate() {
            // Every command adds one to a; of every three, the last two add one to b.
            let want_a = n;
            let want_b = n / 3 * 2 + i64::from(n % 3 == 2);
            let got = |c: &mut Conn, k: String| {
                c.cmd(&["GET", &k])
                    .text()
                    .and_then(|t| t.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            assert_eq!(
                got(&mut c, format!("a:{}", w)),
                want_a,
                "a:{} (kill during rewrite: {})",
                w,
                kill_during_rewrite
            );
            assert_eq!(
                got(&mut c, format!("b:{}:{{x}}", w)),
                want_b,
                "b:{} (kill during rewrite: {})",
                w,
                kill_during_rewrite
            );
        }
        assert_eq!(
            digest(&mut c),
            before,
            "kill during rewrite: {}",
            kill_during_rewrite
        );
    }
}

/// The log rewrites itself once it grows past auto-aof-rewrite-percentage and
/// auto-aof-rewrite-min-size, and the result reloads to the same dataset.
#[test]
fn automatic_rewrite_keeps_the_dataset() {
    let data = TempDir::new("durability-auto");
    let server = start_in(
        data.path(),
        &[
            "--auto-aof-rewrite-min-size",
            "64kb",
            "--auto-aof-rewrite-percentage",
            "50",
        ],
    );
    let mut c = server.connect();
    for i in 0..5000 {
        c.cmd(&["INCR", &format!("counter:{}", i % 50)]);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut c, "aof_rewrites") == "0" {
        assert!(Instant::now() < deadline, "no automatic rewrite happened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut c, "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = digest(&mut c);
    shutdown(server, c);
    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    assert_eq!(digest(&mut c), before);
    assert_eq!(c.cmd(&["GET", "counter:7"]).text(), Some("100".into()));
}

/// A full disk: once the log cannot be written, writes are refused with Redis's MISCONF
/// error while reads go on; when space comes back, writes are accepted again and nothing
/// that was acknowledged is lost. The disk is a 1 MiB tmpfs mounted by the test (it needs
/// root, as the development and CI machines give; it fails saying so otherwise).
#[test]
fn full_disk_refuses_writes_and_recovers() {
    let mount = TempDir::new("durability-fulldisk");
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(mount.path())
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "this test mounts a small tmpfs to fill a disk and needs root (mount failed)"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.path().to_path_buf());
    let filler = mount.path().join("filler");
    std::fs::write(&filler, vec![0u8; 700 * 1024]).expect("filler");
    let server = start_in(mount.path(), &["--appendfsync", "everysec"]);
    let mut c = server.connect();
    let value = "x".repeat(16 * 1024);
    let mut acked = 0;
    let mut refused = None;
    for i in 0..200 {
        match c.cmd(&["SET", &format!("k{}", i), &value]) {
            Reply::Simple(_) => acked += 1,
            Reply::Error(e) => {
                refused = Some(e);
                break;
            }
            other => panic!("SET: {:?}", other),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = refused.expect("writes were never refused on a full disk");
    assert_eq!(
        refused, "MISCONF Errors writing to the AOF file: No space left on device",
        "error text"
    );
    // Reads still work, and INFO says why.
    assert_eq!(c.cmd(&["STRLEN", "k0"]), Reply::Int(value.len() as i64));
    assert_eq!(info_field(&mut c, "aof_last_write_status"), "err");
    // Space comes back: writes are accepted again once the log catches up.
    std::fs::remove_file(&filler).expect("remove filler");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.cmd(&["SET", "after", "ok"]) {
            Reply::Simple(_) => break,
            Reply::Error(e) if e.starts_with("MISCONF") => {
                assert!(Instant::now() < deadline, "writes still refused: {}", e);
                std::thread::sleep(Duration::from_millis(50));
            }
            other => panic!("SET: {:?}", other),
        }
    }
    assert_eq!(info_field(&mut c, "aof_last_write_status"), "ok");
    shutdown(server, c);
    let server = start_in(mount.path(), &[]);
    let mut c = server.connect();
    for i in 0..acked {
        assert_eq!(
            int(c.cmd(&["EXISTS", &format!("k{}", i)])),
            1,
            "acknowledged k{} lost",
            i
        );
    }
    assert_eq!(c.cmd(&["GET", "after"]).text(), Some("ok".into()));
}

/// Clients that connect while the log is being loaded get -LOADING (INFO still answers,
/// with loading:1), then the data once loading is done.
#[test]
fn clients_get_loading_while_the_log_replays() {
    let data = TempDir::new("durability-loading");
    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    let mut pipeline = Vec::new();
    for i in 0..200_000 {
        pipeline.extend(common::encode(&["SET", &format!("key:{}", i), "value"]));
    }
    c.send_raw(&pipeline).expect("send");
    for _ in 0..200_000 {
        c.read_frame().expect("reply");
    }
    shutdown(server, c);

    let port = common::free_port();
    let log = std::fs::File::create(data.path().join("restart.log")).expect("log");
    let mut child = std::process::Command::new(common::ferrokv_bin())
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            &data.path().display().to_string(),
        ])
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start ferrokv");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut saw_loading = false;
    let mut saw_info_loading = false;
    loop {
        assert!(Instant::now() < deadline, "never finished loading");
        let Ok(mut c) = Conn::connect(port) else {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        match c.cmd(&["GET", "key:199999"]) {
            Reply::Error(e) => {
                assert_eq!(e, "LOADING Redis is loading the dataset in memory");
                saw_loading = true;
                let info = c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
                saw_info_loading |= info.contains("loading:1");
            }
            Reply::Bulk(v) => {
                assert_eq!(v, b"value");
                break;
            }
            other => panic!("GET during start-up: {:?}", other),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        saw_loading,
        "no client ever saw -LOADING (200,000 commands to replay)"
    );
    assert!(saw_info_loading, "INFO never said loading:1");
}

/// kill -9 while a BGSAVE is writing its file, with the AOF on (`always`): every
/// acknowledged write comes back from the log, and no half-written dump.rdb was published.
#[test]
fn kill9_during_bgsave_loses_nothing() {
    let data = TempDir::new("durability-bgsave");
    let mut server = start_in(data.path(), &["--appendfsync", "always"]);
    let port = server.port;
    let mut c = server.connect();
    let mut pipeline = Vec::new();
    for i in 0..100_000 {
        pipeline.extend(common::encode(&[
            "SET",
            &format!("bulk:{}", i),
            "some value",
        ]));
    }
    c.send_raw(&pipeline).expect("send");
    for _ in 0..100_000 {
        c.read_frame().expect("reply");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = Conn::connect(port).expect("connect");
            let mut acked = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if c.send(&["RPUSH", "log", &acked.to_string()]).is_err() {
                    break;
                }
                match c.read_frame() {
                    Ok(f) if f.starts_with(b":") => acked += 1,
                    _ => break,
                }
            }
            acked
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        c.cmd(&["BGSAVE"]).expect_text(),
        "Background saving started"
    );
    kill9(&mut server);
    stop.store(true, Ordering::Relaxed);
    let acked = writer.join().expect("writer");
    drop(server);
    if let Ok(bytes) = std::fs::read(data.path().join("dump.rdb")) {
        // Only a complete file may carry the name (it ends with EOF and its checksum).
        assert!(
            bytes.len() > 9 && bytes[bytes.len() - 9] == 0xff,
            "a partial dump.rdb"
        );
    }
    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    assert_eq!(int(c.cmd(&["DBSIZE"])), 100_001);
    let len = int(c.cmd(&["LLEN", "log"])) as u64;
    assert!(
        len >= acked && len <= acked + 1,
        "{} acknowledged, {} after restart",
        acked,
        len
    );
}

/// A damaged dump.rdb stops start-up with a message naming it: never a partial load.
#[test]
fn corrupt_dump_rdb_stops_startup() {
    let data = TempDir::new("durability-badrdb");
    let server = start_in(data.path(), &["--appendonly", "no"]);
    let mut c = server.connect();
    for i in 0..100 {
        c.cmd(&["HSET", &format!("h{}", i), "field", &format!("value {}", i)]);
    }
    assert_eq!(c.cmd(&["SAVE"]).expect_text(), "OK");
    shutdown(server, c);
    let path = data.path().join("dump.rdb");
    let good = std::fs::read(&path).expect("dump.rdb");
    for at in [good.len() / 3, good.len() / 2, good.len() - 3] {
        let mut bad = good.clone();
        bad[at] ^= 0x5a;
        std::fs::write(&path, &bad).expect("write");
        let out = std::process::Command::new(common::ferrokv_bin())
            .args(["--port", &common::free_port().to_string()])
            .args([
                "--dir",
                &data.path().display().to_string(),
                "--appendonly",
                "no",
            ])
            .output()
            .expect("run ferrokv");
        assert_eq!(out.status.code(), Some(1), "byte {} flipped", at);
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("dump.rdb"), "{}", text);
    }
}

/// CONFIG SET appendonly yes on a server started without the log: the dataset becomes the
/// log's base (in the background) and later writes are logged; after kill -9 a restart
/// with the log finds both. CONFIG SET appendfsync switches the policy live.
#[test]
fn appendonly_turned_on_at_runtime() {
    let data = TempDir::new("durability-runtime");
    let mut server = start_in(data.path(), &["--appendonly", "no"]);
    let mut c = server.connect();
    for i in 0..1000 {
        c.cmd(&["SET", &format!("before:{}", i), "v"]);
    }
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "appendonly", "yes"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    c.cmd(&["CONFIG", "SET", "appendfsync", "always"]);
    for i in 0..100 {
        c.cmd(&["RPUSH", "after", &i.to_string()]);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut c, "aof_rewrites") != "1" {
        assert!(Instant::now() < deadline, "the base was never written");
        std::thread::sleep(Duration::from_millis(20));
    }
    c.cmd(&["RPUSH", "after", "last"]);
    let before = digest(&mut c);
    kill9(&mut server);
    drop(server);
    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    assert_eq!(digest(&mut c), before);
    assert_eq!(int(c.cmd(&["LLEN", "after"])), 101);
}

/// DEBUG LOADAOF empties the dataset and loads the log back (values, types and absolute
/// TTLs), without logging the replayed commands a second time; DEBUG RELOAD does the same
/// through dump.rdb. Both keep the dataset digest, and a restart after them still finds it.
#[test]
fn debug_loadaof_and_reload_keep_the_dataset() {
    let data = TempDir::new("loadaof");
    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    c.cmd(&["SET", "s", "v"]).expect_text();
    c.cmd(&["SET", "t", "v", "EX", "1000"]).expect_text();
    c.cmd(&["RPUSH", "l", "a", "b", "c"]);
    c.cmd(&["HSET", "h", "f", "1"]);
    c.cmd(&["ZADD", "z", "1.5", "m"]);
    c.cmd(&["SET", "gone", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    // Lazy expiry logs the DEL now, so the log holds the whole story before LOADAOF.
    assert_eq!(int(c.cmd(&["EXISTS", "gone"])), 0);
    let before = digest(&mut c);
    let log_size = || -> u64 {
        std::fs::read_dir(data.path().join("appendonlydir"))
            .expect("appendonlydir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".incr."))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    };
    let size_before = log_size();
    assert_eq!(c.cmd(&["DEBUG", "LOADAOF"]).expect_text(), "OK");
    assert_eq!(
        log_size(),
        size_before,
        "replayed commands are not logged again"
    );
    assert_eq!(digest(&mut c), before, "same dataset after DEBUG LOADAOF");
    let ttl = int(c.cmd(&["TTL", "t"]));
    assert!((990..=1000).contains(&ttl), "TTL after LOADAOF: {ttl}");
    assert_eq!(int(c.cmd(&["EXISTS", "gone"])), 0);
    assert_eq!(int(c.cmd(&["DBSIZE"])), 5);
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]).expect_text(), "OK");
    assert_eq!(digest(&mut c), before, "same dataset after DEBUG RELOAD");
    c.cmd(&["SET", "after", "1"]).expect_text();
    let with_after = digest(&mut c);
    shutdown(server, c);
    let server = start_in(data.path(), &[]);
    let mut c = server.connect();
    assert_eq!(
        digest(&mut c),
        with_after,
        "restart after LOADAOF and RELOAD"
    );
}

/// With `appendonly no`, BGREWRITEAOF still writes the dataset as a base file with a
/// manifest naming only it (Redis 7), and DEBUG LOADAOF loads it back.
#[test]
fn bgrewriteaof_with_the_log_off_writes_a_base() {
    let data = TempDir::new("rewrite-off");
    let server = start_in(data.path(), &["--appendonly", "no"]);
    let mut c = server.connect();
    c.cmd(&["SET", "k", "v"]).expect_text();
    c.cmd(&["RPUSH", "l", "a", "b"]);
    let before = digest(&mut c);
    assert_eq!(
        c.cmd(&["BGREWRITEAOF"]).expect_text(),
        "Background append only file rewriting started"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    let manifest =
        std::fs::read_to_string(data.path().join("appendonlydir/appendonly.aof.manifest"))
            .expect("manifest");
    assert!(manifest.contains("type b"), "a base: {manifest}");
    assert!(
        !manifest.contains("type i"),
        "no incremental file: {manifest}"
    );
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    c.cmd(&["SET", "k", "changed"]).expect_text();
    assert_eq!(c.cmd(&["DEBUG", "LOADAOF"]).expect_text(), "OK");
    assert_eq!(
        digest(&mut c),
        before,
        "the base holds the dataset of the rewrite"
    );
}
