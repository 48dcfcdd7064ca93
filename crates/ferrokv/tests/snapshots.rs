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

/// Fill the server for [`snapshot_is_the_state_at_the_barrier`]: strings, strings with a
/// TTL, hashes, lists, sorted sets and counters in database 0, strings in database 1.
fn fill_mixed(c: &mut Conn) {
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for i in 0..3000 {
        cmds.push(v(&["SET", &format!("s:{}", i), &format!("value-{}", i)]));
    }
    for i in 0..300 {
        cmds.push(v(&["SET", &format!("t:{}", i), "ttl", "EX", "100000"]));
    }
    for i in 0..100 {
        cmds.push(v(&["HSET", &format!("h:{}", i), "a", "1", "b", "2"]));
        cmds.push(v(&["RPUSH", &format!("l:{}", i), "x", "y", "z"]));
        cmds.push(v(&["ZADD", &format!("z:{}", i), "1", "m1", "2", "m2"]));
        cmds.push(v(&["SET", &format!("n:{}", i), "10"]));
    }
    cmds.push(v(&["SELECT", "1"]));
    for i in 0..200 {
        cmds.push(v(&["SET", &format!("one:{}", i), "x"]));
    }
    cmds.push(v(&["SELECT", "0"]));
    pipeline(c, &cmds);
}

/// Send `cmds` in one write and read every reply (none may be an error).
fn pipeline(c: &mut Conn, cmds: &[Vec<String>]) {
    let mut bytes = Vec::new();
    for cmd in cmds {
        common::encode_into(&mut bytes, cmd);
    }
    c.send_raw(&bytes).expect("send");
    for cmd in cmds {
        let reply = c.read_reply();
        assert!(!reply.is_error(), "{:?}: {:?}", cmd, reply);
    }
}

/// Writes of every kind right after the barrier: overwrite, delete, create, expire and
/// persist, in-place changes of collections and counters, RENAME and MOVE, and a FLUSHDB
/// of database 1 (a whole-database command). Then the keys given a 1 ms TTL are read
/// after they expired, so lazy expiry deletes them too.
fn mutate_mixed(c: &mut Conn) {
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for i in (0..3000).step_by(7) {
        cmds.push(v(&["SET", &format!("s:{}", i), "changed"]));
        cmds.push(v(&["DEL", &format!("s:{}", i + 1)]));
        cmds.push(v(&["SET", &format!("new:{}", i), "created"]));
        cmds.push(v(&["EXPIRE", &format!("s:{}", i + 2), "50000"]));
        cmds.push(v(&["APPEND", &format!("s:{}", i + 3), "+more"]));
    }
    for i in (0..300).step_by(3) {
        cmds.push(v(&["PEXPIRE", &format!("t:{}", i), "1"]));
        cmds.push(v(&["PERSIST", &format!("t:{}", i + 1)]));
    }
    for i in 0..100 {
        cmds.push(v(&["HSET", &format!("h:{}", i), "a", "changed", "c", "3"]));
        cmds.push(v(&["LPUSH", &format!("l:{}", i), "w"]));
        cmds.push(v(&["ZINCRBY", &format!("z:{}", i), "5", "m1"]));
        cmds.push(v(&["INCR", &format!("n:{}", i)]));
    }
    cmds.push(v(&["RENAME", "s:5", "renamed:5"]));
    cmds.push(v(&["MOVE", "s:6", "2"]));
    cmds.push(v(&["SELECT", "1"]));
    cmds.push(v(&["FLUSHDB"]));
    cmds.push(v(&["SET", "one:after", "y"]));
    cmds.push(v(&["SELECT", "0"]));
    pipeline(c, &cmds);
    std::thread::sleep(Duration::from_millis(20));
    for i in (0..300).step_by(3) {
        assert_eq!(c.cmd(&["EXISTS", &format!("t:{}", i)]), Reply::Int(0));
    }
}

fn in_progress(c: &mut Conn, field: &str) -> bool {
    let info = c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
    info.contains(&format!("{}:1", field))
}

fn wait_done(c: &mut Conn, field: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while in_progress(c, field) {
        assert!(Instant::now() < deadline, "{} did not end", field);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A snapshot is exactly the dataset at its start, whatever commands do to keys whose
/// shards it has not written yet (per-key copy-on-write, see `storage::snapshot`): BGSAVE's
/// file loads back with the digest taken at BGSAVE; the rewritten AOF's base replays to the
/// digest at its snapshot's start too, and base plus incremental file to the digest after
/// the writes.
#[test]
fn snapshot_is_the_state_at_the_barrier() {
    // rdb-key-save-delay keeps the snapshot running while the writes happen.
    let slow = ["--rdb-key-save-delay", "100", "--appendonly", "no"];
    let dir = TempDir::new("snapshot-barrier");
    let f = ferrokv_in(dir.path(), &slow);
    let mut c = f.connect();
    fill_mixed(&mut c);
    let at_barrier = digest(&mut c);
    assert_eq!(
        c.cmd(&["BGSAVE"]).expect_text(),
        "Background saving started"
    );
    mutate_mixed(&mut c);
    assert!(
        in_progress(&mut c, "rdb_bgsave_in_progress"),
        "the writes ran after the snapshot ended: they tested nothing"
    );
    let after = digest(&mut c);
    assert_ne!(after, at_barrier);
    wait_done(&mut c, "rdb_bgsave_in_progress");
    let info = c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
    assert!(info.contains("rdb_last_bgsave_status:ok"), "{}", info);
    drop(c);
    drop(f);
    let f = ferrokv_in(dir.path(), &["--appendonly", "no"]);
    let mut c = f.connect();
    assert_eq!(
        digest(&mut c),
        at_barrier,
        "BGSAVE's file is not the barrier's state"
    );
    drop(c);
    drop(f);

    let dir = TempDir::new("snapshot-barrier-aof");
    let slow = ["--rdb-key-save-delay", "100", "--appendonly", "yes"];
    let f = ferrokv_in(dir.path(), &slow);
    let mut c = f.connect();
    wait_done(&mut c, "aof_rewrite_in_progress");
    fill_mixed(&mut c);
    c.cmd(&["SET", "probe", "same"]);
    let at_barrier = digest(&mut c);
    assert!(c.cmd(&["BGREWRITEAOF"]).text().is_some());
    wait_for_rewrite_start(&mut c, dir.path());
    mutate_mixed(&mut c);
    assert!(
        in_progress(&mut c, "aof_rewrite_in_progress"),
        "the writes ran after the rewrite ended: they tested nothing"
    );
    let after = digest(&mut c);
    wait_done(&mut c, "aof_rewrite_in_progress");
    let manifest =
        std::fs::read_to_string(dir.path().join("appendonlydir/appendonly.aof.manifest"))
            .expect("manifest");
    let base = manifest
        .lines()
        .find(|l| l.contains("type b"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("a base file in the manifest")
        .to_string();
    let base = std::fs::read(dir.path().join("appendonlydir").join(base)).expect("base file");
    drop(c);
    drop(f);
    // The base alone, replayed into an empty server: the barrier's state.
    let fresh_dir = TempDir::new("snapshot-barrier-replay");
    let fresh = ferrokv_in(fresh_dir.path(), &["--appendonly", "no"]);
    let mut r = fresh.connect();
    r.send_raw(&base).expect("send the base");
    r.send(&["PING"]).expect("send PING");
    loop {
        let reply = r.read_reply();
        assert!(!reply.is_error(), "replaying the base: {:?}", reply);
        if reply == Reply::Simple("PONG".into()) {
            break;
        }
    }
    r.cmd(&["SELECT", "0"]);
    assert_eq!(
        digest(&mut r),
        at_barrier,
        "the rewrite's base is not the barrier's state"
    );
    // Base and incremental file: everything.
    let f = ferrokv_in(dir.path(), &["--appendonly", "yes"]);
    let mut c = f.connect();
    assert_eq!(
        digest(&mut c),
        after,
        "the AOF does not load to the state after the writes"
    );
}

/// The rewrite thread prepares its files before its snapshot starts: wait until a write
/// lands in the new incremental file (a SET of `probe` to the value it has, which leaves
/// the dataset as it was), so the writes after this are after the snapshot's start.
fn wait_for_rewrite_start(c: &mut Conn, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let new_incr = dir.join("appendonlydir/appendonly.aof.2.incr.aof");
    loop {
        c.cmd(&["SET", "probe", "same"]);
        if std::fs::metadata(&new_incr).is_ok_and(|m| m.len() > 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the rewrite's snapshot never started"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// scripts/bgsave.sh at a tiny size (the full run is on demand), so it cannot rot: a row
/// per phase with both servers' figures, and the RSS table. No timing assertions.
#[test]
fn bgsave_script_runs_at_a_tiny_size() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/bgsave.sh"))
        .env("KEYS", "2000")
        .env("GROW", "500")
        .env("RATE", "400")
        .env("CONNS", "8")
        .env("STEADY", "0.3")
        .env("WARMUP", "0.2")
        .env("NO_BUILD", "1")
        .env("FERROKV_BIN", common::ferrokv_bin())
        .env("LOADGEN_BIN", env!("CARGO_BIN_EXE_ferrokv-loadgen"))
        .output()
        .expect("run scripts/bgsave.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bgsave.sh failed:\n{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    for phase in ["| steady |", "| bgsave |", "| aofrw |", "| growth |"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(phase))
            .unwrap_or_else(|| panic!("no {} row:\n{}", phase, stdout));
        // Both servers answered requests in every phase.
        let counts = row.rsplit('|').nth(1).unwrap_or_default();
        assert!(
            counts
                .split(',')
                .all(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0)),
            "{}",
            row
        );
    }
    for server in ["| redis | ", "| ferrokv | "] {
        assert!(stdout.contains(server), "{}", stdout);
    }
}

fn info_field(c: &mut Conn, field: &str) -> String {
    let info = c.cmd(&["INFO", "persistence"]).text().unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{}:", field)))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn wait_for_field(c: &mut Conn, field: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(c, field) != want {
        assert!(Instant::now() < deadline, "{} never became {}", field, want);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// BGSAVE and BGREWRITEAOF inside MULTI/EXEC are scheduled, as Redis does, and run after
/// the transaction (with the log off, the rewrite writes a base). Starting them there took
/// every shard lock while the transaction held its own: the connection hung for good.
#[test]
fn background_saves_in_a_transaction_are_scheduled() {
    let dir = TempDir::new("exec-bgsave");
    let f = ferrokv_in(dir.path(), &["--appendonly", "no"]);
    let mut c = f.connect();
    // MULTI, SET key 1, `command`, EXEC: the SET's OK and `command`'s status line.
    let in_transaction = |c: &mut Conn, key: &str, command: &str, reply: &str| {
        assert_eq!(c.cmd(&["MULTI"]).expect_text(), "OK");
        c.cmd(&["SET", key, "1"]);
        c.cmd(&[command]);
        let ok = Reply::Simple("OK".into());
        assert_eq!(
            c.cmd(&["EXEC"]),
            Reply::Array(vec![ok, Reply::Simple(reply.into())])
        );
    };
    let saves = info_field(&mut c, "rdb_saves");
    in_transaction(&mut c, "a", "BGSAVE", "Background saving scheduled");
    let next: u64 = saves.parse::<u64>().expect("rdb_saves") + 1;
    wait_for_field(&mut c, "rdb_saves", &next.to_string());
    let scheduled = "Background append only file rewriting scheduled";
    in_transaction(&mut c, "b", "BGREWRITEAOF", scheduled);
    wait_for_field(&mut c, "aof_rewrites", "1");
    wait_done(&mut c, "aof_rewrite_in_progress");
    assert_eq!(c.cmd(&["GET", "b"]), Reply::Bulk(b"1".to_vec()));
}

/// BGSAVE starts without a barrier over the shards (each command reads the snapshot epoch
/// once it holds its locks): many BGSAVEs while writers run transactions and multi-key
/// commands over keys in different shards, and no file splits one of them.
#[test]
fn bgsave_without_a_barrier_never_splits_a_command() {
    let dir = TempDir::new("rdb-no-barrier");
    let f = ferrokv_in(dir.path(), &["--appendonly", "no", "--save", ""]);
    let port = f.port;
    let mut c = f.connect();
    let stop = Arc::new(AtomicBool::new(false));
    // A script whose keys are undeclared (it locks their shards as it goes).
    let script = "redis.call('INCR', 's:a') redis.call('INCR', 's:b:{other}') return 1";
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = Conn::connect(port).expect("connect");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    if w == 0 {
                        let v = n.to_string();
                        c.cmd(&["MSET", "m:a", &v, "m:b:{other}", &v, "m:c:{third}", &v]);
                    } else if w == 3 {
                        assert_eq!(c.cmd(&["EVAL", script, "0"]), Reply::Int(1));
                    } else {
                        c.cmd(&["MULTI"]);
                        c.cmd(&["INCR", "left"]);
                        c.cmd(&["INCR", "right:{other}"]);
                        assert!(matches!(c.cmd(&["EXEC"]), Reply::Array(_)));
                    }
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let rounds = 50;
    for round in 0..rounds {
        assert_eq!(
            c.cmd(&["BGSAVE"]).expect_text(),
            "Background saving started"
        );
        wait_done(&mut c, "rdb_bgsave_in_progress");
        let name = format!("dump-{}.rdb", round);
        std::fs::copy(dir.path().join("dump.rdb"), dir.path().join(&name)).expect("copy");
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        assert!(w.join().expect("writer") > 0);
    }
    drop(c);
    drop(f);
    for round in 0..rounds {
        let name = format!("dump-{}.rdb", round);
        let f = ferrokv_in(
            dir.path(),
            &["--appendonly", "no", "--save", "", "--dbfilename", &name],
        );
        let mut c = f.connect();
        let pair = [c.cmd(&["GET", "left"]), c.cmd(&["GET", "right:{other}"])];
        assert_eq!(pair[0], pair[1], "{}: the file splits a transaction", name);
        let pair = [c.cmd(&["GET", "s:a"]), c.cmd(&["GET", "s:b:{other}"])];
        assert_eq!(pair[0], pair[1], "{}: the file splits a script", name);
        let m = c.cmd(&["MGET", "m:a", "m:b:{other}", "m:c:{third}"]);
        let Reply::Array(values) = m else {
            panic!("MGET: {:?}", m)
        };
        assert!(
            values.windows(2).all(|w| w[0] == w[1]),
            "{}: the file splits an MSET: {:?}",
            name,
            values
        );
    }
}
