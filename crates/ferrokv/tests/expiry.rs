//! Active expiry: keys with a TTL that nobody reads must still be reclaimed.
//!
//! Two checks: one against the built `ferrokv-server` binary over TCP (100k keys with a 1 s
//! TTL, written in pipelines and never read), and one in-process that drives
//! `storage::expiry::expire_cycle` directly and counts the shards' keys, so lazy expiry on
//! lookups cannot hide a broken cycle.

mod common;

use std::time::{Duration, Instant};

use common::start_ferrokv;
use ferrokv::config::Config;
use ferrokv::server::Server;
use ferrokv::storage::db::shard_of;
use ferrokv::storage::expiry::expire_cycle;
use ferrokv::storage::{Entry, StrValue, Value};
use ferrokv::util::now_ms;

const KEYS: usize = 100_000;
const TTL_MS: u64 = 1000;
const DEADLINE: Duration = Duration::from_secs(10);

fn key(i: usize) -> String {
    format!("expiry-test:{i}")
}

/// How many keys the server holds, without reading (and so lazily expiring) them: DBSIZE,
/// else the `# Keyspace` section of INFO. None when the server has neither yet.
fn count_keys(con: &mut redis::Connection) -> Option<u64> {
    if let Ok(n) = redis::cmd("DBSIZE").query::<u64>(con) {
        return Some(n);
    }
    let info: String = redis::cmd("INFO").arg("keyspace").query(con).ok()?;
    if !info.contains("# Keyspace") {
        return None;
    }
    let keys = info
        .lines()
        .find_map(|l| l.strip_prefix("db0:keys="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Some(keys)
}

/// TTL of every test key in one pipeline; counts those that still exist. This reads the
/// keys (lazy expiry deletes them too), so it is only the fallback check.
fn count_by_ttl(con: &mut redis::Connection) -> usize {
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("TTL").arg(key(i));
    }
    let ttls: Vec<i64> = pipe.query(con).expect("TTL pipeline");
    assert_eq!(ttls.len(), KEYS);
    ttls.iter().filter(|&&t| t != -2).count()
}

#[test]
fn active_expiry_reclaims_unread_keys() {
    // Threads 0: one worker per core, the server's default.
    let server = start_ferrokv(0);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port))
        .expect("client for the test server");
    let mut con = client.get_connection().expect("connect");

    let fill_start = Instant::now();
    for batch in (0..KEYS).collect::<Vec<_>>().chunks(5000) {
        let mut pipe = redis::pipe();
        for &i in batch {
            pipe.cmd("SET").arg(key(i)).arg("v").ignore();
            pipe.cmd("PEXPIRE").arg(key(i)).arg(TTL_MS).ignore();
        }
        pipe.query::<()>(&mut con).expect("fill pipeline");
    }
    let filled = Instant::now();

    match count_keys(&mut con) {
        Some(n) => {
            // Nothing has expired yet (unless filling took longer than the TTL).
            if fill_start.elapsed() < Duration::from_millis(TTL_MS / 2) {
                assert_eq!(n, KEYS as u64, "keys missing right after filling");
            }
            loop {
                let n = count_keys(&mut con).expect("key count");
                if n == 0 {
                    break;
                }
                assert!(
                    filled.elapsed() < DEADLINE,
                    "{n} expired keys still held {:?} after filling",
                    filled.elapsed()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        None => {
            // No DBSIZE/INFO yet: TTLs must be set, and every key gone after its deadline.
            let pttl: i64 = redis::cmd("PTTL")
                .arg(key(KEYS - 1))
                .query(&mut con)
                .expect("PTTL");
            if filled.elapsed() < Duration::from_millis(TTL_MS / 2) {
                assert!(pttl > 0 && pttl <= TTL_MS as i64, "PTTL {pttl}");
            }
            std::thread::sleep(Duration::from_millis(TTL_MS + 1500));
            assert_eq!(count_by_ttl(&mut con), 0);
        }
    }
}

#[test]
fn expire_cycle_reclaims_unread_keys_in_process() {
    let server = Server::new(Config::defaults());
    let db = server.dbs.first().expect("database 0");
    let deadline = now_ms() + TTL_MS;
    for i in 0..KEYS {
        let k = key(i);
        let entry = Entry {
            value: Value::Str(StrValue::from_bytes(b"v")),
            expire_at: deadline,
        };
        db.shards[shard_of(k.as_bytes())]
            .lock()
            .insert(k.as_bytes(), entry);
    }
    // A few keys without a TTL must survive.
    for i in 0..10 {
        let k = format!("persistent:{i}");
        db.shards[shard_of(k.as_bytes())].lock().insert(
            k.as_bytes(),
            Entry::new(Value::Str(StrValue::from_bytes(b"v"))),
        );
    }
    assert_eq!(db.approx_len(), (KEYS + 10, KEYS));
    // Inserting straight into shards bypasses DbView, which normally raises this hint.
    db.may_have_volatile
        .store(true, std::sync::atomic::Ordering::Relaxed);

    // Before the deadline a cycle deletes nothing.
    let budget = Duration::from_millis(25);
    let mut cursor = expire_cycle(&server, 0, budget);
    if now_ms() < deadline {
        assert_eq!(db.approx_len().0, KEYS + 10);
    }

    std::thread::sleep(Duration::from_millis(TTL_MS + 50));
    let start = Instant::now();
    while db.approx_len().1 > 0 {
        assert!(
            start.elapsed() < DEADLINE,
            "{:?} keys left after {:?}",
            db.approx_len(),
            start.elapsed()
        );
        cursor = expire_cycle(&server, cursor, budget);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(db.approx_len(), (10, 0));
    assert_eq!(
        server
            .stats
            .expired_keys
            .load(std::sync::atomic::Ordering::Relaxed),
        KEYS as u64
    );
}
