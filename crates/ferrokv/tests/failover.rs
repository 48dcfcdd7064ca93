//! FAILOVER (issue 14): a primary and its replica swap roles with no write lost and no
//! full sync, with ferrokv on both sides and with a real redis-server 7.0 on either side;
//! writes wait (they are not refused) while the failover waits for the target; TIMEOUT
//! aborts, ABORT aborts, and the refusals answer Redis's texts.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start_ferrokv_with, start_redis_with, Conn, Reply, ServerGuard};

fn replica_args(primary: &ServerGuard) -> Vec<String> {
    vec![
        "--replicaof".into(),
        "127.0.0.1".into(),
        primary.port.to_string(),
    ]
}

fn start_ferrokv_replica(primary: &ServerGuard) -> ServerGuard {
    let args = replica_args(primary);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    start_ferrokv_with(2, &refs)
}

fn info_field(c: &mut Conn, field: &str) -> Option<String> {
    let text = c.cmd(&["INFO", "replication"]).expect_text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{}:", field)))
        .map(|v| v.trim().to_string())
}

fn stat(c: &mut Conn, field: &str) -> i64 {
    let text = c.cmd(&["INFO", "stats"]).expect_text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{}:", field)))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {} in INFO stats", field))
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {}", what);
}

fn wait_link_up(r: &mut Conn) {
    wait_for("the link to come up", Duration::from_secs(30), || {
        info_field(r, "master_link_status").as_deref() == Some("up")
    });
}

/// Wait until the primary lists its replica as online: the replica's side of the link is
/// up a moment earlier (it loaded the RDB), and FAILOVER needs the primary's view.
fn wait_replica_online(p: &mut Conn) {
    wait_for(
        "the primary to see its replica online",
        Duration::from_secs(30),
        || info_field(p, "slave0").is_some_and(|v| v.contains("state=online")),
    );
}

fn wait_in_sync(primary: &mut Conn, replica: &mut Conn) {
    wait_for("the replica to catch up", Duration::from_secs(30), || {
        let p = info_field(primary, "master_repl_offset");
        let r = info_field(replica, "slave_repl_offset");
        p.is_some() && p == r
    });
    let d1 = primary.cmd(&["DEBUG", "DIGEST"]).expect_text();
    let d2 = replica.cmd(&["DEBUG", "DIGEST"]).expect_text();
    assert_eq!(d1, d2, "DEBUG DIGEST differs");
}

fn role(c: &mut Conn) -> String {
    c.cmd(&["ROLE"]).expect_array()[0].expect_text()
}

fn err(r: Reply) -> String {
    match r {
        Reply::Error(e) => e,
        other => panic!("expected an error, got {:?}", other),
    }
}

fn signal(server: &ServerGuard, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// SET w:<n> until stopped or refused; returns the writes answered OK and the refusal.
/// `done` counts them as they come.
fn writer(
    port: u16,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> std::thread::JoinHandle<(Vec<u64>, Option<String>)> {
    std::thread::spawn(move || {
        let mut c = Conn::connect(port).expect("connect the writer");
        c.timeout = Duration::from_secs(30);
        let mut ok = Vec::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            match c.cmd(&["SET", &format!("w:{}", n), &n.to_string()]) {
                Reply::Simple(s) if s == "OK" => {
                    ok.push(n);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Reply::Error(e) => return (ok, Some(e)),
                other => panic!("SET answered {:?}", other),
            }
            n += 1;
        }
        (ok, None)
    })
}

/// The primary fails over to its replica under a write load: the writer's writes wait
/// during the failover and then get READONLY; every write answered OK is on the new
/// primary; the old primary continues as its replica with a partial resync only.
fn swap_roles(primary: &ServerGuard, replica: &ServerGuard, with_target: bool) {
    let mut p = primary.connect();
    let mut r = replica.connect();
    wait_link_up(&mut r);
    for i in 0..200 {
        p.cmd(&["RPUSH", "list", &i.to_string()]);
    }
    wait_in_sync(&mut p, &mut r);
    let full_before = stat(&mut r, "sync_full");
    let partial_before = stat(&mut r, "sync_partial_ok");

    // A client blocked in BLPOP is unblocked with an error when its server becomes a
    // replica.
    let mut blocked = primary.connect();
    blocked
        .send(&["BLPOP", "nothing-here", "0"])
        .expect("send BLPOP");
    wait_for("the BLPOP to block", Duration::from_secs(10), || {
        let text = p.cmd(&["INFO", "clients"]).expect_text();
        text.lines()
            .any(|l| l == "blocked_clients:1" || l == "blocked_clients:1\r")
    });
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let load = writer(primary.port, stop.clone(), done.clone());
    wait_for(
        "writes before the failover",
        Duration::from_secs(20),
        || done.load(Ordering::Relaxed) >= 20,
    );
    let reply = if with_target {
        p.cmd(&["FAILOVER", "TO", "127.0.0.1", &replica.port.to_string()])
    } else {
        p.cmd(&["FAILOVER"])
    };
    assert_eq!(reply, Reply::Simple("OK".into()));
    wait_for("the failover to end", Duration::from_secs(30), || {
        info_field(&mut p, "master_failover_state").as_deref() == Some("no-failover")
    });
    assert_eq!(role(&mut p), "slave");
    assert_eq!(role(&mut r), "master");
    assert_eq!(
        blocked.read_reply(),
        Reply::Error(
            "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"
                .into()
        )
    );
    // CONFIG GET replicaof follows the roles (as Redis; CONFIG REWRITE writes it).
    let replicaof =
        |c: &mut Conn| c.cmd(&["CONFIG", "GET", "replicaof"]).expect_array()[1].expect_text();
    assert_eq!(replicaof(&mut p), format!("127.0.0.1 {}", replica.port));
    assert_eq!(replicaof(&mut r), "");
    // The writer's write that waited during the failover is refused now, not lost.
    let (ok, refusal) = load.join().expect("writer");
    stop.store(true, Ordering::Relaxed);
    assert_eq!(
        refusal.as_deref(),
        Some("READONLY You can't write against a read only replica.")
    );
    assert!(!ok.is_empty());
    for n in &ok {
        assert_eq!(
            r.cmd(&["GET", &format!("w:{}", n)]),
            Reply::Bulk(n.to_string().into_bytes()),
            "acknowledged write w:{} lost",
            n
        );
    }
    // The new primary takes writes; the old one follows without a full sync.
    r.cmd(&["SET", "after", "1"]);
    wait_link_up(&mut p);
    wait_in_sync(&mut r, &mut p);
    assert_eq!(
        stat(&mut r, "sync_full"),
        full_before,
        "a full sync happened"
    );
    assert_eq!(stat(&mut r, "sync_partial_ok"), partial_before + 1);
    assert_eq!(p.cmd(&["GET", "after"]), Reply::Bulk(b"1".to_vec()));
}

#[test]
fn failover_between_ferrokv_servers() {
    let primary = start_ferrokv_with(2, &[]);
    let replica = start_ferrokv_replica(&primary);
    swap_roles(&primary, &replica, true);
    // And back, to any replica this time.
    swap_roles(&replica, &primary, false);
}

#[test]
fn failover_from_ferrokv_to_redis_and_back() {
    let primary = start_ferrokv_with(2, &[]);
    let replica = start_redis_with(&replica_args(&primary));
    swap_roles(&primary, &replica, true);
    // redis-server fails over to ferrokv: ferrokv gets PSYNC ... FAILOVER.
    swap_roles(&replica, &primary, false);
}

/// Which server plays the primary and the replica.
#[derive(Clone, Copy)]
enum Kind {
    Ferrokv,
    Redis,
}

fn start_primary(kind: Kind) -> ServerGuard {
    match kind {
        Kind::Ferrokv => start_ferrokv_with(2, &[]),
        Kind::Redis => start_redis_with(&[]),
    }
}

fn start_replica(kind: Kind, primary: &ServerGuard) -> ServerGuard {
    match kind {
        Kind::Ferrokv => start_ferrokv_replica(primary),
        Kind::Redis => start_redis_with(&replica_args(primary)),
    }
}

#[test]
fn failover_refusals_timeout_and_abort() {
    refusals_timeout_and_abort(Kind::Ferrokv);
}

/// The same checks against redis-server 7.0: the texts and behaviour are Redis's.
#[test]
fn failover_refusals_timeout_and_abort_on_redis() {
    refusals_timeout_and_abort(Kind::Redis);
}

fn refusals_timeout_and_abort(kind: Kind) {
    let primary = start_primary(kind);
    let mut p = primary.connect();
    assert_eq!(
        err(p.cmd(&["FAILOVER"])),
        "ERR FAILOVER requires connected replicas."
    );
    let replica = start_replica(kind, &primary);
    let mut r = replica.connect();
    wait_link_up(&mut r);
    wait_replica_online(&mut p);
    let port = replica.port.to_string();
    assert_eq!(
        err(r.cmd(&["FAILOVER"])),
        "ERR FAILOVER is not valid when server is a replica."
    );
    assert_eq!(
        err(p.cmd(&["FAILOVER", "TO", "127.0.0.1", &port, "FORCE"])),
        "ERR FAILOVER with force option requires both a timeout and target HOST and IP."
    );
    assert_eq!(
        err(p.cmd(&["FAILOVER", "FORCE", "TIMEOUT", "100"])),
        "ERR FAILOVER with force option requires both a timeout and target HOST and IP."
    );
    assert_eq!(
        err(p.cmd(&["FAILOVER", "TO", "127.0.0.1", "1"])),
        "ERR FAILOVER target HOST and PORT is not a replica."
    );
    assert_eq!(
        err(p.cmd(&["FAILOVER", "ABORT"])),
        "ERR No failover in progress."
    );
    assert_eq!(
        err(p.cmd(&[
            "PSYNC",
            "0000000000000000000000000000000000000000",
            "1",
            "FAILOVER"
        ])),
        "ERR PSYNC FAILOVER can't be sent to a master."
    );
    assert_eq!(
        err(r.cmd(&[
            "PSYNC",
            "0000000000000000000000000000000000000000",
            "1",
            "FAILOVER"
        ])),
        "ERR PSYNC FAILOVER replid must match my replid."
    );

    // The replica never catches up: TIMEOUT aborts, the primary stays one.
    signal(&replica, "-STOP");
    p.cmd(&["SET", "case", "1"]);
    assert_eq!(
        p.cmd(&["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "300"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        info_field(&mut p, "master_failover_state").as_deref(),
        Some("waiting-for-sync")
    );
    wait_for("the failover to time out", Duration::from_secs(10), || {
        info_field(&mut p, "master_failover_state").as_deref() == Some("no-failover")
    });
    assert_eq!(role(&mut p), "master");
    assert!(primary
        .log()
        .contains("Replica never caught up before timeout"));

    // FAILOVER ABORT: a write waiting meanwhile runs once the failover is aborted.
    assert_eq!(
        p.cmd(&["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "60000"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        err(p.cmd(&["FAILOVER"])),
        "ERR FAILOVER already in progress."
    );
    assert_eq!(
        err(p.cmd(&["REPLICAOF", "NO", "ONE"])),
        "ERR REPLICAOF not allowed while failing over."
    );
    assert_eq!(
        err(p.cmd(&["PSYNC", "?", "-1"])),
        "NOMASTERLINK Can't SYNC while failing over"
    );
    let mut w = primary.connect();
    w.timeout = Duration::from_millis(300);
    w.send(&["SET", "case", "2"]).expect("send");
    assert!(w.read_frame().is_err(), "a write ran during the failover");
    // Reads still run.
    assert_eq!(p.cmd(&["GET", "case"]), Reply::Bulk(b"1".to_vec()));
    assert_eq!(p.cmd(&["FAILOVER", "ABORT"]), Reply::Simple("OK".into()));
    w.timeout = Duration::from_secs(10);
    assert_eq!(w.read_reply(), Reply::Simple("OK".into()));
    assert_eq!(
        info_field(&mut p, "master_failover_state").as_deref(),
        Some("no-failover")
    );
    signal(&replica, "-CONT");
    wait_in_sync(&mut p, &mut r);
    assert_eq!(role(&mut p), "master");
    assert_eq!(r.cmd(&["GET", "case"]), Reply::Bulk(b"2".to_vec()));
}

#[test]
fn failover_aborts_when_the_target_rejects_psync() {
    target_rejects_psync(Kind::Ferrokv);
}

#[test]
fn failover_aborts_when_the_target_rejects_psync_on_redis() {
    target_rejects_psync(Kind::Redis);
}

fn target_rejects_psync(kind: Kind) {
    let primary = start_primary(kind);
    let replica = start_replica(kind, &primary);
    let mut p = primary.connect();
    let mut r = replica.connect();
    wait_link_up(&mut r);
    wait_replica_online(&mut p);
    r.cmd(&["ACL", "SETUSER", "default", "-psync"]);
    assert_eq!(
        p.cmd(&["FAILOVER", "TO", "127.0.0.1", &replica.port.to_string()]),
        Reply::Simple("OK".into())
    );
    wait_for("the failover to end", Duration::from_secs(20), || {
        info_field(&mut p, "master_failover_state").as_deref() == Some("no-failover")
    });
    assert_eq!(role(&mut p), "master");
    assert!(primary
        .log()
        .contains("Failover target rejected psync request"));
    r.cmd(&["ACL", "SETUSER", "default", "+psync"]);
    p.cmd(&["SET", "k", "v"]);
    wait_link_up(&mut r);
    wait_in_sync(&mut p, &mut r);
}

/// replica-announce-ip / -port name the replica in its primary's INFO (slaveN), ROLE and
/// FAILOVER TO; replica-priority and replica-announced show in the replica's INFO, as in
/// Redis (Sentinel reads them there).
#[test]
fn replica_announce_settings() {
    let primary = start_ferrokv_with(2, &[]);
    let mut args = replica_args(&primary);
    for a in [
        "--replica-announce-ip",
        "10.1.2.3",
        "--replica-announce-port",
        "7777",
        "--replica-priority",
        "42",
        "--replica-announced",
        "no",
    ] {
        args.push(a.to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let replica = start_ferrokv_with(2, &refs);
    let mut p = primary.connect();
    let mut r = replica.connect();
    wait_link_up(&mut r);
    let slave0 = info_field(&mut p, "slave0").expect("slave0 line");
    assert!(
        slave0.starts_with("ip=10.1.2.3,port=7777,state=online,offset="),
        "{}",
        slave0
    );
    assert_eq!(info_field(&mut r, "slave_priority").as_deref(), Some("42"));
    assert_eq!(
        info_field(&mut r, "replica_announced").as_deref(),
        Some("0")
    );
    let role = p.cmd(&["ROLE"]);
    let replicas = role.expect_array()[2].expect_array();
    assert_eq!(replicas[0].expect_array()[0].expect_text(), "10.1.2.3");
    assert_eq!(replicas[0].expect_array()[1].expect_text(), "7777");
    // FAILOVER finds the replica by its announced address only.
    assert_eq!(
        err(p.cmd(&["FAILOVER", "TO", "127.0.0.1", &replica.port.to_string()])),
        "ERR FAILOVER target HOST and PORT is not a replica."
    );
    r.cmd(&["CONFIG", "SET", "replica-priority", "7"]);
    assert_eq!(info_field(&mut r, "slave_priority").as_deref(), Some("7"));
}

/// TIMEOUT + FORCE: the target is stopped (SIGSTOP) when the primary writes and fails
/// over; the primary becomes its replica anyway, and once the target runs again it applies
/// the write it had been sent before answering PSYNC ... FAILOVER, so the old primary
/// continues without a full sync and nothing is lost. (The replica attached with a partial
/// resync: the first write after that must reach it at once, not at its next ACK.)
#[test]
fn forced_failover_to_a_stopped_replica() {
    let a = start_ferrokv_with(2, &[]);
    let b = start_ferrokv_replica(&a);
    let mut ca = a.connect();
    let mut cb = b.connect();
    wait_link_up(&mut cb);
    ca.cmd(&["SET", "k", "1"]);
    wait_in_sync(&mut ca, &mut cb);
    assert_eq!(ca.cmd(&["FAILOVER"]), Reply::Simple("OK".into()));
    wait_for("the first failover", Duration::from_secs(20), || {
        info_field(&mut ca, "master_failover_state").as_deref() == Some("no-failover")
            && info_field(&mut ca, "master_link_status").as_deref() == Some("up")
    });
    // Now b is the primary and a its replica (attached with +CONTINUE).
    let full_before = stat(&mut ca, "sync_full");
    signal(&a, "-STOP");
    cb.cmd(&["SET", "case", "2"]);
    let b_offset = info_field(&mut cb, "master_repl_offset");
    let a_port = a.port.to_string();
    assert_eq!(
        cb.cmd(&[
            "FAILOVER",
            "TO",
            "127.0.0.1",
            &a_port,
            "TIMEOUT",
            "100",
            "FORCE"
        ]),
        Reply::Simple("OK".into())
    );
    wait_for(
        "the forced failover to start",
        Duration::from_secs(10),
        || info_field(&mut cb, "master_failover_state").as_deref() == Some("failover-in-progress"),
    );
    assert_eq!(role(&mut cb), "slave");
    signal(&a, "-CONT");
    wait_for(
        "the forced failover to end",
        Duration::from_secs(20),
        || info_field(&mut cb, "master_failover_state").as_deref() == Some("no-failover"),
    );
    assert_eq!(role(&mut ca), "master");
    assert_eq!(ca.cmd(&["GET", "case"]), Reply::Bulk(b"2".to_vec()));
    assert_eq!(
        info_field(&mut ca, "second_repl_offset").map(|o| o.parse::<u64>().unwrap_or(0)),
        b_offset.map(|o| o.parse::<u64>().unwrap_or(0) + 1)
    );
    assert_eq!(
        stat(&mut ca, "sync_full"),
        full_before,
        "the old primary needed a full sync"
    );
    wait_link_up(&mut cb);
    wait_in_sync(&mut ca, &mut cb);
    assert!(b.log().contains("time out exceeded, failing over."));
}
