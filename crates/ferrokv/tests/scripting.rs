//! Lua scripting over real TCP against ferrokv with four worker threads: a script's writes
//! are atomic even to keys it did not declare, long scripts make other clients get -BUSY
//! and SCRIPT KILL ends them, scripts touching undeclared keys never deadlock with
//! multi-key commands and transactions, and a script's effects survive `kill -9` through
//! the append-only file (as effects, not as EVAL).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start_ferrokv, start_ferrokv_with, Conn, Reply, ServerGuard, TempDir};

/// Upper bound for each test: a deadlock fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(120);

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

fn error_text(r: &Reply) -> String {
    match r {
        Reply::Error(e) => e.clone(),
        other => panic!("expected an error, got {:?}", other),
    }
}

/// Moves `ARGV[1]` units one at a time from the declared key to an undeclared one, so
/// half-done states exist inside the script.
const MOVE: &str = "local n = tonumber(ARGV[1]) \
    for i = 1, n do redis.call('decr', KEYS[1]) redis.call('incr', ARGV[2]) end \
    return n";

/// Keys `x` and `y` hash to different shards (slots 16287 and 12222).
#[test]
fn script_writes_are_atomic_even_to_undeclared_keys() {
    let server = start_ferrokv(4);
    let port = server.port;
    let mut c = server.connect();
    assert_eq!(
        c.cmd(&["MSET", "x", "100000", "y", "100000"]),
        Reply::Simple("OK".into())
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for t in 0..3 {
        let stop = stop.clone();
        readers.push(std::thread::spawn(move || {
            let mut r = Conn::connect(port).expect("connect");
            let mut checks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let sum = if t % 2 == 0 {
                    match r.cmd(&["MGET", "x", "y"]) {
                        Reply::Array(v) => v.iter().map(int_of).sum::<i64>(),
                        other => panic!("MGET: {:?}", other),
                    }
                } else {
                    r.cmd(&["MULTI"]);
                    r.cmd(&["GET", "x"]);
                    r.cmd(&["GET", "y"]);
                    match r.cmd(&["EXEC"]) {
                        Reply::Array(v) => v.iter().map(int_of).sum::<i64>(),
                        other => panic!("EXEC: {:?}", other),
                    }
                };
                assert_eq!(sum, 200_000, "a reader saw a script half-done");
                checks += 1;
            }
            checks
        }));
    }
    let mut writers = Vec::new();
    for t in 0..2 {
        writers.push(std::thread::spawn(move || {
            let mut w = Conn::connect(port).expect("connect");
            // One writer moves x -> y declaring x, the other y -> x declaring y.
            let (from, to) = if t == 0 { ("x", "y") } else { ("y", "x") };
            for _ in 0..150 {
                let r = w.cmd(&["EVAL", MOVE, "1", from, "50", to]);
                assert_eq!(r, Reply::Int(50), "script failed");
            }
        }));
    }
    let start = Instant::now();
    for w in writers {
        w.join().expect("writer");
    }
    stop.store(true, Ordering::Relaxed);
    let checks: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    assert!(checks > 0);
    assert!(start.elapsed() < DEADLINE);
    let sum: i64 = match c.cmd(&["MGET", "x", "y"]) {
        Reply::Array(v) => v.iter().map(int_of).sum(),
        other => panic!("{:?}", other),
    };
    assert_eq!(sum, 200_000);
}

/// Wait until `c`'s reply to a command arrives, failing after `limit`.
fn wait_busy(port: u16, limit: Duration) -> Conn {
    let deadline = Instant::now() + limit;
    loop {
        let mut other = Conn::connect(port).expect("connect");
        let r = other.cmd(&["GET", "somekey"]);
        if let Reply::Error(e) = &r {
            assert!(e.starts_with("BUSY "), "{}", e);
            return other;
        }
        assert!(Instant::now() < deadline, "never got -BUSY");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn long_script_gets_busy_and_script_kill_stops_it() {
    let server = start_ferrokv(4);
    let port = server.port;
    let mut admin = server.connect();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "100"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        error_text(&admin.cmd(&["SCRIPT", "KILL"])),
        "NOTBUSY No scripts in execution right now."
    );
    drop(admin);
    let mut runner = Conn::connect(port).expect("connect");
    runner
        .send(&["EVAL", "while true do end", "0"])
        .expect("send");
    let mut other = wait_busy(port, Duration::from_secs(10));
    assert_eq!(
        error_text(&other.cmd(&["PING"])),
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]), Reply::Simple("OK".into()));
    let killed = error_text(&runner.read_reply());
    assert!(
        killed.starts_with("ERR Script killed by user with SCRIPT KILL..."),
        "{}",
        killed
    );
    // The server is usable again, by both connections.
    assert_eq!(
        other.cmd(&["SET", "after", "1"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(runner.cmd(&["GET", "after"]), Reply::Bulk(b"1".to_vec()));
    assert_eq!(
        error_text(&other.cmd(&["SCRIPT", "KILL"])),
        "NOTBUSY No scripts in execution right now."
    );
}

const BUSY_TEXT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// Start `while true do end` on its own connection and wait until others get -BUSY.
fn start_endless_script(port: u16) -> Conn {
    let mut runner = Conn::connect(port).expect("connect");
    runner
        .send(&["EVAL", "while true do end", "0"])
        .expect("send");
    drop(wait_busy(port, Duration::from_secs(10)));
    runner
}

/// SCRIPT KILL the endless script and read its error, so the server is free again.
fn kill_endless_script(port: u16, mut runner: Conn) {
    let mut admin = Conn::connect(port).expect("connect");
    assert_eq!(admin.cmd(&["SCRIPT", "KILL"]), Reply::Simple("OK".into()));
    let killed = error_text(&runner.read_reply());
    assert!(killed.starts_with("ERR Script killed"), "{}", killed);
}

/// Redis's `rejectCommand` during a busy script: a command refused while queueing marks
/// the transaction (EXEC aborts with "previous errors" after the script ends), and an EXEC
/// refused while busy discards the transaction with the BUSY text; none of it ever runs.
#[test]
fn transactions_during_a_busy_script_are_refused_whole() {
    let server = start_ferrokv(4);
    let port = server.port;
    let mut admin = server.connect();
    admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "50"]);
    admin.cmd(&["SET", "xx", "1"]);

    // Queued before the script, one command refused during it, EXEC after the kill.
    let mut tx = Conn::connect(port).expect("connect");
    assert_eq!(tx.cmd(&["MULTI"]), Reply::Simple("OK".into()));
    assert_eq!(tx.cmd(&["INCR", "xx"]), Reply::Simple("QUEUED".into()));
    let runner = start_endless_script(port);
    assert_eq!(
        error_text(&tx.cmd(&["MULTI"])),
        "ERR MULTI calls can not be nested"
    );
    assert_eq!(error_text(&tx.cmd(&["INCR", "xx"])), BUSY_TEXT);
    kill_endless_script(port, runner);
    assert_eq!(tx.cmd(&["INCR", "xx"]), Reply::Simple("QUEUED".into()));
    assert_eq!(
        error_text(&tx.cmd(&["EXEC"])),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(tx.cmd(&["PING", "out"]), Reply::Bulk(b"out".to_vec()));

    // EXEC itself arrives during the script.
    assert_eq!(tx.cmd(&["MULTI"]), Reply::Simple("OK".into()));
    assert_eq!(tx.cmd(&["INCR", "xx"]), Reply::Simple("QUEUED".into()));
    let runner = start_endless_script(port);
    assert_eq!(
        error_text(&tx.cmd(&["EXEC"])),
        format!("EXECABORT Transaction discarded because of: {BUSY_TEXT}")
    );
    kill_endless_script(port, runner);
    assert_eq!(tx.cmd(&["PING", "out"]), Reply::Bulk(b"out".to_vec()));
    assert_eq!(tx.cmd(&["GET", "xx"]), Reply::Bulk(b"1".to_vec()));
}

/// An EXEC that started waiting for a script's shard before the script passed the
/// threshold stops waiting once it passes, and is discarded with BUSY.
#[test]
fn exec_waiting_for_a_script_ends_with_busy() {
    let server = start_ferrokv(4);
    let port = server.port;
    let mut admin = server.connect();
    admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "500"]);
    let mut runner = Conn::connect(port).expect("connect");
    // The script holds key xx's shard from its first write on.
    runner
        .send(&[
            "EVAL",
            "redis.call('set', KEYS[1], 5) while true do end",
            "1",
            "xx",
        ])
        .expect("send");
    std::thread::sleep(Duration::from_millis(100));
    let mut tx = Conn::connect(port).expect("connect");
    assert_eq!(tx.cmd(&["MULTI"]), Reply::Simple("OK".into()));
    assert_eq!(tx.cmd(&["INCR", "xx"]), Reply::Simple("QUEUED".into()));
    let started = Instant::now();
    assert_eq!(
        error_text(&tx.cmd(&["EXEC"])),
        format!("EXECABORT Transaction discarded because of: {BUSY_TEXT}")
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // A script that wrote cannot be killed: SHUTDOWN NOSAVE ends it (and the server).
    let mut admin = Conn::connect(port).expect("connect");
    admin.send(&["SHUTDOWN", "NOSAVE"]).expect("send");
    drop(runner);
}

#[test]
fn script_that_wrote_is_unkillable_until_shutdown_nosave() {
    let mut server = start_ferrokv(4);
    let port = server.port;
    let mut admin = server.connect();
    admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
    let mut runner = Conn::connect(port).expect("connect");
    runner
        .send(&["EVAL", "redis.call('set', 'w', '1') while true do end", "0"])
        .expect("send");
    let mut other = wait_busy(port, Duration::from_secs(10));
    let e = error_text(&other.cmd(&["SCRIPT", "KILL"]));
    assert!(e.starts_with("UNKILLABLE "), "{}", e);
    other.send(&["SHUTDOWN", "NOSAVE"]).expect("send");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.is_running() {
        assert!(
            Instant::now() < deadline,
            "SHUTDOWN NOSAVE did not stop the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Scripts that lock undeclared keys while they run, multi-key commands (MSET, MGET,
/// RENAME) and MULTI/EXEC on the same keys from other connections: everyone finishes.
#[test]
fn scripts_with_undeclared_keys_never_deadlock() {
    let server = start_ferrokv(4);
    let port = server.port;
    let keys: Vec<String> = (0..8).map(|i| format!("key:{}", i)).collect();
    let mut c = server.connect();
    for k in &keys {
        c.cmd(&["SET", k.as_str(), "0"]);
    }
    let script = "for i = 1, #ARGV do redis.call('incr', ARGV[i]) end return #ARGV";
    let mut threads = Vec::new();
    for t in 0..6 {
        let keys = keys.clone();
        threads.push(std::thread::spawn(move || {
            let mut w = Conn::connect(port).expect("connect");
            for i in 0..300usize {
                let a = &keys[(i + t) % 8];
                let b = &keys[(i * 3 + t + 1) % 8];
                let d = &keys[(i * 5 + t + 2) % 8];
                let r = match t {
                    // Scripts declaring one key and touching others, in varying orders.
                    0 | 1 => w.cmd(&[
                        "EVAL",
                        script,
                        "1",
                        a.as_str(),
                        b.as_str(),
                        d.as_str(),
                        a.as_str(),
                    ]),
                    2 => w.cmd(&["MSET", a.as_str(), "1", b.as_str(), "2", d.as_str(), "3"]),
                    3 => w.cmd(&["MGET", d.as_str(), b.as_str(), a.as_str()]),
                    4 => {
                        w.cmd(&["MULTI"]);
                        w.cmd(&["INCR", b.as_str()]);
                        w.cmd(&["INCR", a.as_str()]);
                        w.cmd(&["EVAL", script, "0", d.as_str()]);
                        w.cmd(&["EXEC"])
                    }
                    _ => {
                        let tmp = format!("{}:tmp", a);
                        w.cmd(&["RENAME", a.as_str(), tmp.as_str()]);
                        w.cmd(&["RENAME", tmp.as_str(), a.as_str()])
                    }
                };
                if let Reply::Error(e) = &r {
                    // RENAME may race with another RENAME of the same key.
                    assert!(e.contains("no such key"), "{}", e);
                }
            }
        }));
    }
    let start = Instant::now();
    for t in threads {
        while !t.is_finished() {
            assert!(
                start.elapsed() < DEADLINE,
                "deadlock: clients did not finish"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        t.join().expect("client thread");
    }
}

/// A script's writes reach the append-only file as their effects, in one MULTI/EXEC
/// block, and survive `kill -9`.
#[test]
fn script_effects_are_logged_and_survive_kill9() {
    let data = TempDir::new("scripting-aof");
    let d = data.path().display().to_string();
    let args = [
        "--dir",
        d.as_str(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let mut server: ServerGuard = start_ferrokv_with(2, &args);
    let mut c = server.connect();
    let r = c.cmd(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'a') redis.call('rpush', 'undeclared', 'x', 'y') \
         redis.call('incrby', 'n', 5) return 1",
        "1",
        "k",
    ]);
    assert_eq!(r, Reply::Int(1));
    // One write alone is logged without MULTI.
    assert_eq!(
        c.cmd(&["EVAL", "return redis.call('set', 'single', '1')", "0"]),
        Reply::Simple("OK".into())
    );
    // A read-only script logs nothing.
    c.cmd(&["EVAL", "return redis.call('get', 'k')", "0"]);
    let status = std::process::Command::new("kill")
        .args(["-9", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.is_running() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut log = Vec::new();
    for entry in std::fs::read_dir(data.path().join("appendonlydir")).expect("appendonlydir") {
        let path = entry.expect("entry").path();
        if path.to_string_lossy().ends_with(".incr.aof") {
            log.extend(std::fs::read(&path).expect("read aof"));
        }
    }
    let text = String::from_utf8_lossy(&log).to_lowercase();
    assert!(!text.contains("eval"), "the log has EVAL:\n{}", text);
    assert!(text.contains("multi") && text.contains("exec"), "{}", text);
    assert!(
        text.contains("rpush") && text.contains("incrby"),
        "{}",
        text
    );
    assert_eq!(text.matches("multi").count(), 1, "{}", text);
    drop(server);
    let server = start_ferrokv_with(2, &args);
    let mut c = server.connect();
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Bulk(b"a".to_vec()));
    assert_eq!(c.cmd(&["LLEN", "undeclared"]), Reply::Int(2));
    assert_eq!(c.cmd(&["GET", "n"]), Reply::Bulk(b"5".to_vec()));
    assert_eq!(c.cmd(&["GET", "single"]), Reply::Bulk(b"1".to_vec()));
}

/// With one worker thread every connection shares the script caller's thread: scripts run
/// on the script thread, so those connections still get -BUSY and can SCRIPT KILL.
#[test]
fn connections_on_the_callers_thread_get_busy_too() {
    let server = start_ferrokv(1);
    let port = server.port;
    let mut other = server.connect();
    other.cmd(&["CONFIG", "SET", "busy-reply-threshold", "50"]);
    let mut runner = Conn::connect(port).expect("connect");
    runner
        .send(&["EVAL", "while true do end", "0"])
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match other.cmd(&["PING"]) {
            Reply::Error(e) if e.starts_with("BUSY ") => break,
            Reply::Simple(_) => {}
            r => panic!("unexpected {:?}", r),
        }
        assert!(Instant::now() < deadline, "never got -BUSY");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]), Reply::Simple("OK".into()));
    let killed = error_text(&runner.read_reply());
    assert!(
        killed.starts_with("ERR Script killed by user with SCRIPT KILL..."),
        "{}",
        killed
    );
    assert_eq!(other.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

/// A client blocked on a list that a script pushes to is served after the script, not in
/// the middle of it (blocking commands themselves are `noscript` in Redis 7.0).
#[test]
fn blocked_clients_are_served_after_the_script() {
    let server = start_ferrokv(4);
    let port = server.port;
    let mut waiter = Conn::connect(port).expect("connect");
    waiter.send(&["BLPOP", "jobs", "0"]).expect("send");
    let mut c = server.connect();
    // Wait until the BLPOP is registered (CLIENT LIST shows a blocked client).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = c.cmd(&["CLIENT", "LIST"]).expect_text();
        if list.contains("cmd=blpop") {
            break;
        }
        assert!(Instant::now() < deadline, "BLPOP never blocked");
        std::thread::sleep(Duration::from_millis(10));
    }
    let r = c.cmd(&[
        "EVAL",
        "redis.call('rpush', 'jobs', 'a', 'b') \
         local inside = redis.call('llen', 'jobs') \
         return {inside, redis.pcall('blpop', 'empty', 0)['err']}",
        "0",
    ]);
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::Int(2),
            Reply::Bulk(b"ERR This Redis command is not allowed from script".to_vec())
        ])
    );
    assert_eq!(
        waiter.read_reply(),
        Reply::Array(vec![
            Reply::Bulk(b"jobs".to_vec()),
            Reply::Bulk(b"a".to_vec())
        ])
    );
    assert_eq!(c.cmd(&["LLEN", "jobs"]), Reply::Int(1));
}
