//! RDB snapshots with real redis-server 7 on both sides: a `dump.rdb` written by Redis is
//! loaded at start-up (and becomes the AOF's base, so nothing is lost when moving over);
//! SAVE and BGSAVE files load into Redis with the same DEBUG DIGEST; BGSAVE is one point in
//! time while writers keep going; save points, SHUTDOWN SAVE/NOSAVE, and MISCONF when
//! snapshots cannot be written (stop-writes-on-bgsave-error).

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start_ferrokv_with, start_server, Conn, Reply, ServerGuard, TempDir};

fn ferrokv_in(dir: &Path, extra: &[&str]) -> ServerGuard {
    let d = dir.display().to_string();
    let mut args = vec!["--dir", d.as_str()];
    args.extend_from_slice(extra);
    start_ferrokv_with(2, &args)
}

/// redis-server with its data in `dir` (loads `dump.rdb` from there if present).
fn redis_in(dir: &Path) -> ServerGuard {
    let d = dir.display().to_string();
    start_server("redis", &common::redis_server_bin(), &move |port| {
        vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            d.clone(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--enable-debug-command".into(),
            "yes".into(),
        ]
    })
}

fn digest(c: &mut Conn) -> String {
    c.cmd(&["DEBUG", "DIGEST"]).expect_text()
}

fn shutdown(mut server: ServerGuard, mut c: Conn, args: &[&str]) {
    let mut cmd = vec!["SHUTDOWN"];
    cmd.extend_from_slice(args);
    c.send(&cmd).expect("send SHUTDOWN");
    let _ = c.read_until_close(Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.is_running() {
        assert!(
            Instant::now() < deadline,
            "SHUTDOWN did not stop the server"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every type and encoding, TTLs, several databases.
fn fill(c: &mut Conn) {
    let script: &[&[&str]] = &[
        &["SET", "s", "hello"],
        &["SET", "n", "12345"],
        &["SET", "long", &"x".repeat(500)],
        &["SET", "ttl", "v", "EX", "5000"],
        &["RPUSH", "l", "a", "b", "1", "2"],
        &["SADD", "ints", "1", "2", "300000", "-5"],
        &["SADD", "strs", "a", "b", "c"],
        &["ZADD", "z", "1", "a", "2.5", "b", "-inf", "c"],
        &["HSET", "h", "f1", "v1", "f2", "2"],
        &["SELECT", "5"],
        &["SET", "in5", "x"],
        &["HSET", "h5", "a", "b"],
        &["SELECT", "0"],
    ];
    for cmd in script {
        let r = c.cmd(cmd);
        assert!(!r.is_error(), "{:?}: {:?}", cmd, r);
    }
    let mut big = vec!["SADD".to_string(), "bigset".into()];
    big.extend((0..1000).map(|i| format!("m{}", i)));
    c.cmd(&big);
    let mut bigz = vec!["ZADD".to_string(), "bigz".into()];
    for i in 0..500 {
        bigz.push(i.to_string());
        bigz.push(format!("e{}", i));
    }
    c.cmd(&bigz);
}

/// Redis's dump.rdb -> ferrokv (default settings: the AOF is on) -> same digest; restarted
/// again it comes back from the AOF, whose base now holds the RDB's data.
#[test]
fn redis_dump_rdb_loads_into_ferrokv() {
    let dir = TempDir::new("rdb-from-redis");
    let redis = redis_in(dir.path());
    let mut r = redis.connect();
    fill(&mut r);
    let expected = digest(&mut r);
    assert!(r.cmd(&["SAVE"]).expect_text() == "OK");
    drop(r);
    drop(redis);
    assert!(dir.path().join("dump.rdb").exists());

    let f = ferrokv_in(dir.path(), &["--appendonly", "yes"]);
    let mut c = f.connect();
    assert_eq!(digest(&mut c), expected, "data from Redis's dump.rdb");
    let ttl = match c.cmd(&["TTL", "ttl"]) {
        Reply::Int(n) => n,
        other => panic!("TTL: {:?}", other),
    };
    assert!(ttl > 4900 && ttl <= 5000, "TTL {}", ttl);
    shutdown(f, c, &["NOSAVE"]);
    std::fs::remove_file(dir.path().join("dump.rdb")).expect("remove dump.rdb");
    let f = ferrokv_in(dir.path(), &["--appendonly", "yes"]);
    let mut c = f.connect();
    assert_eq!(digest(&mut c), expected, "data from the AOF base");
}

/// ferrokv's SAVE and BGSAVE files load into redis-server with the same digest.
#[test]
fn ferrokv_snapshots_load_into_redis() {
    for command in ["SAVE", "BGSAVE"] {
        let dir = TempDir::new("rdb-to-redis");
        let f = ferrokv_in(dir.path(), &[]);
        let mut c = f.connect();
        fill(&mut c);
        let expected = digest(&mut c);
        let before = c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
        assert!(before.contains("rdb_saves:0"));
        let r = c.cmd(&[command]);
        assert!(!r.is_error(), "{}: {:?}", command, r);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
            if info.contains("rdb_saves:1") && info.contains("rdb_bgsave_in_progress:0") {
                assert!(info.contains("rdb_last_bgsave_status:ok"), "{}", info);
                assert!(info.contains("rdb_changes_since_last_save:0"), "{}", info);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not finish: {}",
                command,
                info
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(c);
        drop(f);
        let redis = redis_in(dir.path());
        let mut r = redis.connect();
        assert_eq!(
            digest(&mut r),
            expected,
            "{} file loaded into Redis",
            command
        );
    }
}

/// BGSAVE while writers keep changing two keys in different shards in one transaction:
/// the file is one point in time, so the two are equal in it; the writers never stop.
#[test]
fn bgsave_is_a_point_in_time_under_load() {
    let dir = TempDir::new("rdb-point-in-time");
    let f = ferrokv_in(dir.path(), &[]);
    let port = f.port;
    let mut c = f.connect();
    // Enough data that the background walk takes a while.
    let mut pipeline = Vec::new();
    for i in 0..100_000 {
        pipeline.extend(common::encode(&["SET", &format!("bulk:{}", i), "v"]));
    }
    c.send_raw(&pipeline).expect("send");
    for _ in 0..100_000 {
        c.read_frame().expect("reply");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut w = Conn::connect(port).expect("connect");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    w.cmd(&["MULTI"]);
                    w.cmd(&["INCR", "left"]);
                    w.cmd(&["INCR", "right:{other}"]);
                    assert!(matches!(w.cmd(&["EXEC"]), Reply::Array(_)));
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        c.cmd(&["BGSAVE"]).expect_text(),
        "Background saving started"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
        if info.contains("rdb_saves:1") && info.contains("rdb_bgsave_in_progress:0") {
            break;
        }
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let done: u64 = writers.into_iter().map(|w| w.join().expect("writer")).sum();
    assert!(done > 0);
    drop(c);
    drop(f);
    let redis = redis_in(dir.path());
    let mut r = redis.connect();
    let left = r.cmd(&["GET", "left"]).text();
    let right = r.cmd(&["GET", "right:{other}"]).text();
    assert!(left.is_some(), "the writers had started before BGSAVE");
    assert_eq!(left, right, "the snapshot split a transaction");
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(100_002));
}

/// A save point (`save 1 1`) saves by itself; SHUTDOWN saves when save points are set and
/// SHUTDOWN NOSAVE does not.
#[test]
fn save_points_and_shutdown() {
    let dir = TempDir::new("rdb-savepoints");
    let f = ferrokv_in(dir.path(), &["--save", "1 1", "--appendonly", "no"]);
    let mut c = f.connect();
    c.cmd(&["SET", "a", "1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.path().join("dump.rdb").exists() {
        assert!(
            Instant::now() < deadline,
            "no save after a save point was reached"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    c.cmd(&["SET", "b", "2"]);
    shutdown(f, c, &[]);
    let f = ferrokv_in(dir.path(), &["--save", "1 1", "--appendonly", "no"]);
    let mut c = f.connect();
    assert_eq!(
        c.cmd(&["GET", "b"]).text(),
        Some("2".into()),
        "SHUTDOWN saved"
    );
    c.cmd(&["SET", "c", "3"]);
    shutdown(f, c, &["NOSAVE"]);
    let f = ferrokv_in(dir.path(), &["--save", "", "--appendonly", "no"]);
    let mut c = f.connect();
    assert_eq!(
        c.cmd(&["EXISTS", "c"]),
        Reply::Int(0),
        "SHUTDOWN NOSAVE did not save"
    );
    c.cmd(&["SET", "d", "4"]);
    shutdown(f, c, &["SAVE"]);
    let f = ferrokv_in(dir.path(), &["--appendonly", "no"]);
    let mut c = f.connect();
    assert_eq!(
        c.cmd(&["GET", "d"]).text(),
        Some("4".into()),
        "SHUTDOWN SAVE saved"
    );
}

/// A full disk makes BGSAVE fail; with save points set and stop-writes-on-bgsave-error,
/// writes (and PING) get Redis's MISCONF while reads go on, until a save succeeds again.
#[test]
fn failed_bgsave_refuses_writes_until_a_save_works() {
    let mount = TempDir::new("rdb-fulldisk");
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
    let f = ferrokv_in(
        mount.path(),
        &[
            "--appendonly",
            "no",
            "--save",
            "3600 1",
            "--rdbcompression",
            "no",
            "--enable-protected-configs",
            "yes",
        ],
    );
    let mut c = f.connect();
    let value = "y".repeat(100_000);
    for i in 0..15 {
        c.cmd(&["SET", &format!("k{}", i), &value]);
    }
    c.cmd(&["BGSAVE"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
        if info.contains("rdb_last_bgsave_status:err") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "BGSAVE did not fail on a full disk: {}",
            info
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = c.cmd(&["SET", "x", "1"]);
    match &refused {
        Reply::Error(e) => assert!(
            e.starts_with("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk."),
            "{}",
            e
        ),
        other => panic!("write accepted after a failed BGSAVE: {:?}", other),
    }
    assert!(c.cmd(&["PING"]).is_error());
    assert_eq!(c.cmd(&["STRLEN", "k0"]), Reply::Int(100_000));
    // Give it room (writes are refused, so the data cannot shrink): point `dir` at a
    // roomy folder and save again.
    let roomy = TempDir::new("rdb-roomy");
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dir", &roomy.path().display().to_string()]),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        c.cmd(&["BGSAVE"]).expect_text(),
        "Background saving started"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
        if info.contains("rdb_last_bgsave_status:ok") && info.contains("rdb_bgsave_in_progress:0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "BGSAVE did not succeed again: {}",
            info
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.cmd(&["SET", "x", "1"]), Reply::Simple("OK".into()));
    assert!(roomy.path().join("dump.rdb").exists());
}

/// BGSAVE while an AOF rewrite runs: refused with Redis's text, or with SCHEDULE queued
/// and run once the rewrite ends; BGREWRITEAOF during a BGSAVE is scheduled likewise.
#[test]
fn bgsave_schedule_waits_for_the_rewrite() {
    let dir = TempDir::new("rdb-schedule");
    let f = ferrokv_in(dir.path(), &["--appendonly", "yes"]);
    let mut c = f.connect();
    let mut pipeline = Vec::new();
    for i in 0..200_000 {
        pipeline.extend(common::encode(&["SET", &format!("k:{}", i), "v"]));
    }
    c.send_raw(&pipeline).expect("send");
    for _ in 0..200_000 {
        c.read_frame().expect("reply");
    }
    let info = |c: &mut Conn| c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
    assert_eq!(
        c.cmd(&["BGREWRITEAOF"]).expect_text(),
        "Background append only file rewriting started"
    );
    if info(&mut c).contains("aof_rewrite_in_progress:1") {
        match c.cmd(&["BGSAVE"]) {
            Reply::Error(e) => assert!(e.starts_with("ERR Another child process is active")),
            other => panic!("BGSAVE during a rewrite: {:?}", other),
        }
    }
    let r = c.cmd(&["BGSAVE", "SCHEDULE"]).expect_text();
    assert!(
        r == "Background saving scheduled" || r == "Background saving started",
        "{}",
        r
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = info(&mut c);
        if text.contains("rdb_saves:1") && text.contains("aof_rewrites:1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "scheduled BGSAVE never ran: {}",
            text
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(matches!(c.cmd(&["BGSAVE", "NOW"]), Reply::Error(_)));
}
