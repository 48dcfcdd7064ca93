//! MIGRATE over real TCP between ferrokv and a real redis-server 7.0, both ways: values,
//! TTLs and databases arrive intact, COPY keeps the source, REPLACE overwrites, a target's
//! refusal (BUSYKEY, a wrong password) comes back as Redis's error and keeps the source,
//! the keys that moved are logged as one DEL in the append-only file, and MONITOR shows
//! the passwords redacted.

mod common;

use common::{start_ferrokv, start_ferrokv_with, start_redis, Conn, Reply, TempDir};

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn int(r: Reply) -> i64 {
    match r {
        Reply::Int(i) => i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn migrate(src: &mut Conn, port: u16, rest: &[&str]) -> Reply {
    let port = port.to_string();
    let mut argv = vec!["MIGRATE", "127.0.0.1", port.as_str()];
    argv.extend_from_slice(rest);
    src.cmd(&argv)
}

/// Fill `c` with one key of each kind, one with a TTL, in database 0.
fn fill(c: &mut Conn) {
    assert_eq!(c.cmd(&["SET", "s", "hello"]), ok());
    assert_eq!(c.cmd(&["SET", "ttl", "x", "PX", "100000"]), ok());
    c.cmd(&["RPUSH", "l", "a", "b", "c"]);
    c.cmd(&["HSET", "h", "f", "v", "g", "w"]);
    c.cmd(&["SADD", "set", "1", "2", "3"]);
    c.cmd(&["ZADD", "z", "1", "a", "2", "b"]);
}

/// Values as `DEBUG DIGEST-VALUE` sees them, so both servers can be compared.
fn digests(c: &mut Conn, keys: &[&str]) -> Reply {
    let mut argv = vec!["DEBUG", "DIGEST-VALUE"];
    argv.extend_from_slice(keys);
    c.cmd(&argv)
}

const KEYS: &[&str] = &["s", "ttl", "l", "h", "set", "z"];

fn check_moves(src: &mut Conn, dst: &mut Conn, dst_port: u16) {
    fill(src);
    let before = digests(src, KEYS);
    // One key, then several with KEYS into database 5, COPY first.
    assert_eq!(migrate(src, dst_port, &["s", "0", "5000"]), ok());
    assert_eq!(int(src.cmd(&["EXISTS", "s"])), 0);
    assert_eq!(dst.cmd(&["GET", "s"]), bulk("hello"));
    let rest = [
        "", "5", "5000", "COPY", "KEYS", "ttl", "l", "h", "set", "z", "nosuch",
    ];
    assert_eq!(migrate(src, dst_port, &rest), ok());
    assert_eq!(int(src.cmd(&["EXISTS", "ttl", "l", "h", "set", "z"])), 5);
    dst.cmd(&["SELECT", "5"]);
    let ttl = int(dst.cmd(&["PTTL", "ttl"]));
    assert!(ttl > 90_000 && ttl <= 100_000, "TTL after MIGRATE: {ttl}");
    assert_eq!(
        digests(dst, &KEYS[1..]),
        match digests(src, &KEYS[1..]) {
            r @ Reply::Array(_) => r,
            other => panic!("{other:?}"),
        }
    );
    // Again without COPY: the target refuses existing keys (BUSYKEY), the source keeps them.
    let again = ["", "5", "5000", "KEYS", "ttl", "l"];
    match migrate(src, dst_port, &again) {
        Reply::Error(e) => assert_eq!(
            e,
            "ERR Target instance replied with error: BUSYKEY Target key name already exists."
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(int(src.cmd(&["EXISTS", "ttl", "l"])), 2);
    // REPLACE moves them.
    let replace = [
        "", "5", "5000", "REPLACE", "KEYS", "ttl", "l", "h", "set", "z",
    ];
    assert_eq!(migrate(src, dst_port, &replace), ok());
    assert_eq!(int(src.cmd(&["DBSIZE"])), 0);
    let mut after = digests(dst, &KEYS[1..]);
    dst.cmd(&["SELECT", "0"]);
    if let (Reply::Array(all), Reply::Array(moved)) = (&before, &mut after) {
        moved.insert(0, all[0].clone());
        assert_eq!(&before, &after, "values changed on the way");
    } else {
        panic!("{before:?} {after:?}");
    }
    // Nothing left: NOKEY.
    assert_eq!(
        migrate(src, dst_port, &["s", "0", "5000"]),
        Reply::Simple("NOKEY".into())
    );
}

#[test]
fn migrate_from_ferrokv_to_redis() {
    let ferrokv = start_ferrokv(2);
    let redis = start_redis();
    check_moves(&mut ferrokv.connect(), &mut redis.connect(), redis.port);
}

#[test]
fn migrate_from_redis_to_ferrokv() {
    let ferrokv = start_ferrokv(2);
    let redis = start_redis();
    check_moves(&mut redis.connect(), &mut ferrokv.connect(), ferrokv.port);
}

#[test]
fn refused_auth_keeps_the_source_and_monitor_redacts() {
    let src = start_ferrokv(2);
    let dst = start_ferrokv_with(2, &["--requirepass", "secret"]);
    let mut c = src.connect();
    let mut monitor = src.connect();
    assert_eq!(monitor.cmd(&["MONITOR"]), ok());
    c.cmd(&["SET", "k", "v"]);
    match migrate(&mut c, dst.port, &["k", "0", "5000", "AUTH", "wrong"]) {
        Reply::Error(e) => assert!(
            e.starts_with("ERR Target instance replied with error: WRONGPASS"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(
        migrate(
            &mut c,
            dst.port,
            &["k", "0", "5000", "AUTH2", "default", "secret"]
        ),
        ok()
    );
    assert_eq!(int(c.cmd(&["EXISTS", "k"])), 0);
    let mut d = dst.connect();
    assert_eq!(d.cmd(&["AUTH", "secret"]), ok());
    assert_eq!(d.cmd(&["GET", "k"]), bulk("v"));
    // MONITOR: SET, MIGRATE, GET, MIGRATE, with the passwords redacted.
    let mut lines = Vec::new();
    for _ in 0..4 {
        match monitor.read_reply() {
            Reply::Simple(line) => lines.push(line),
            other => panic!("{other:?}"),
        }
    }
    assert!(lines[1].ends_with(r#""AUTH" "(redacted)""#), "{}", lines[1]);
    assert!(
        lines[3].ends_with(r#""AUTH2" "(redacted)" "(redacted)""#),
        "{}",
        lines[3]
    );
    assert!(!lines
        .iter()
        .any(|l| l.contains("secret") || l.contains("wrong")));
}

#[test]
fn migrated_keys_leave_the_append_only_file_as_one_del() {
    let dir = TempDir::new("migrate-aof");
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let src = start_ferrokv_with(
        2,
        &[
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            &dir_arg,
        ],
    );
    let dst = start_redis();
    let mut c = src.connect();
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["SET", "b", "2"]);
    c.cmd(&["SET", "c", "3"]);
    assert_eq!(
        migrate(
            &mut c,
            dst.port,
            &["", "0", "5000", "KEYS", "a", "b", "nosuch"]
        ),
        ok()
    );
    // COPY changes nothing here, so it is not logged at all.
    assert_eq!(
        migrate(&mut c, dst.port, &["", "0", "5000", "COPY", "KEYS", "c"]),
        ok()
    );
    let mut aof = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("appendonlydir")).expect("aof dir") {
        let path = entry.expect("entry").path();
        if path.to_string_lossy().ends_with(".incr.aof") {
            aof.extend(std::fs::read(&path).expect("read aof"));
        }
    }
    let text = String::from_utf8_lossy(&aof);
    assert!(
        text.contains("*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n"),
        "{text}"
    );
    assert!(!text.to_ascii_lowercase().contains("migrate"), "{text}");
    assert_eq!(int(c.cmd(&["EXISTS", "a", "b", "c"])), 1);
}
