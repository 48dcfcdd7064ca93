//! Function libraries survive restarts: in the AOF (FUNCTION LOAD logged; a rewrite puts
//! the libraries first in the base file) across `kill -9`, in RDB files (SAVE, then a
//! restart), and between redis-server 7.0 and ferrokv in both directions
//! (`RDB_OPCODE_FUNCTION2`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{start_ferrokv_with, start_server, Conn, ServerGuard, TempDir};

const LIB: &str =
    "#!lua name=plib\nredis.register_function('pf', function(k, a) return 'persisted' end)";
const LIB2: &str = "#!lua name=plib2\nredis.register_function{function_name='pf2', callback=function(k, a) return 'two' end, flags={'no-writes'}, description='second'}";

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
        ]
    })
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

fn call(c: &mut Conn, name: &str) -> String {
    c.cmd(&["FCALL", name, "0"]).expect_text()
}

fn load(c: &mut Conn, code: &str) {
    let r = c.cmd(&["FUNCTION", "LOAD", code]);
    assert!(!r.is_error(), "FUNCTION LOAD: {:?}", r);
}

/// FUNCTION LOAD in the AOF, kill -9, restart; then a rewrite (libraries first in the
/// base), one more library in the new incremental file, kill -9, restart.
#[test]
fn functions_survive_kill_9_with_the_aof() {
    let dir = TempDir::new("func-aof");
    let mut f = ferrokv_in(
        dir.path(),
        &["--appendonly", "yes", "--appendfsync", "always"],
    );
    let mut c = f.connect();
    load(&mut c, LIB);
    kill9(&mut f);
    let mut f = ferrokv_in(dir.path(), &["--appendonly", "yes"]);
    let mut c = f.connect();
    assert_eq!(call(&mut c, "pf"), "persisted");
    assert!(!c.cmd(&["BGREWRITEAOF"]).is_error());
    let deadline = Instant::now() + Duration::from_secs(10);
    while c
        .cmd(&["INFO", "persistence"])
        .expect_text()
        .contains("aof_rewrite_in_progress:1")
    {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    load(&mut c, LIB2);
    kill9(&mut f);
    let f = ferrokv_in(dir.path(), &["--appendonly", "yes"]);
    let mut c = f.connect();
    assert_eq!(call(&mut c, "pf"), "persisted");
    assert_eq!(call(&mut c, "pf2"), "two");
    drop(f);
}

/// SAVE writes the libraries; a restart from dump.rdb has them.
#[test]
fn functions_survive_a_restart_from_the_rdb() {
    let dir = TempDir::new("func-rdb");
    let mut f = ferrokv_in(dir.path(), &["--appendonly", "no"]);
    let mut c = f.connect();
    load(&mut c, LIB);
    load(&mut c, LIB2);
    assert_eq!(c.cmd(&["SAVE"]).expect_text(), "OK");
    kill9(&mut f);
    let f = ferrokv_in(dir.path(), &["--appendonly", "no"]);
    let mut c = f.connect();
    assert_eq!(call(&mut c, "pf"), "persisted");
    assert_eq!(c.cmd(&["FCALL_RO", "pf2", "0"]).expect_text(), "two");
}

/// redis-server's dump.rdb with libraries loads into ferrokv, and ferrokv's back into
/// redis-server, with the same FUNCTION LIST WITHCODE.
#[test]
fn functions_rdb_interop_with_redis() {
    let dir = TempDir::new("func-rdb-interop");
    let redis = redis_in(dir.path());
    let mut r = redis.connect();
    load(&mut r, LIB);
    let list_redis = r.cmd(&["FUNCTION", "LIST", "WITHCODE"]);
    assert_eq!(r.cmd(&["SAVE"]).expect_text(), "OK");
    drop(r);
    drop(redis);

    let mut f = ferrokv_in(dir.path(), &["--appendonly", "no"]);
    let mut c = f.connect();
    assert_eq!(call(&mut c, "pf"), "persisted");
    assert_eq!(c.cmd(&["FUNCTION", "LIST", "WITHCODE"]), list_redis);
    load(&mut c, LIB2);
    assert_eq!(c.cmd(&["SAVE"]).expect_text(), "OK");
    kill9(&mut f);

    let redis = redis_in(dir.path());
    let mut r = redis.connect();
    assert_eq!(call(&mut r, "pf"), "persisted");
    assert_eq!(r.cmd(&["FCALL_RO", "pf2", "0"]).expect_text(), "two");
    let desc = r.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "plib2"]);
    let second = format!("{:?}", common::Reply::Bulk(b"second".to_vec()));
    assert!(format!("{:?}", desc).contains(&second), "{:?}", desc);
}
