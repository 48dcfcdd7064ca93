//! maxmemory eviction under a write flood, for every policy that evicts: values of random
//! sizes are written until ten times `maxmemory` went in, while the server's resident set
//! (VmRSS in /proc/PID/status) is sampled; then the policy's choice is checked:
//! volatile-* never evict keys without a TTL, volatile-ttl evicts the nearest deadlines
//! first, LRU keeps recently read keys far more often than random eviction does, LFU keeps
//! frequently read keys.
//!
//! `short_run_every_policy` is the CI run (a small `maxmemory`, all policies in well under
//! a minute). `soak_external` is the long run that `scripts/eviction-soak.sh` drives
//! against a server it started (ferrokv or redis-server): `SOAK_PORT`, `SOAK_PID`,
//! `SOAK_MAXMEMORY` (bytes), `SOAK_SECS` (per policy), `SOAK_NAME`.

mod common;

use std::time::{Duration, Instant};

use common::{Conn, Reply};
use rand::{rngs::StdRng, Rng, SeedableRng};

const POLICIES: &[&str] = &[
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

/// Resident set size of `pid` in bytes (VmRSS).
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", pid))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn info_field(conn: &mut Conn, field: &str) -> u64 {
    let text = conn.cmd(&["INFO", "all"]).expect_text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{}:", field)))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO has no {}", field))
}

/// What one policy's run measured.
#[derive(Debug, Default)]
struct Outcome {
    policy: String,
    written: u64,
    max_rss: u64,
    final_rss: u64,
    evicted: u64,
    errors: u64,
    /// Hot keys (read often / recently) still present after the choice phase, of all.
    hot_kept: f64,
    /// Keys without a TTL still present (volatile-*), of all.
    persistent_kept: f64,
    /// volatile-ttl: mean TTL of surviving flood keys minus the mean of all written.
    ttl_bias_secs: f64,
    /// volatile-ttl: far-deadline keys still present, of all.
    far_kept: f64,
    secs: f64,
}

/// Send `cmds` pipelined and count error replies.
fn pipeline(conn: &mut Conn, cmds: &[Vec<u8>]) -> (u64, Vec<Reply>) {
    let mut buf = Vec::new();
    for c in cmds {
        buf.extend_from_slice(c);
    }
    conn.send_raw(&buf).expect("send batch");
    let mut errors = 0;
    let mut replies = Vec::with_capacity(cmds.len());
    for _ in cmds {
        let r = conn.read_reply();
        if r.is_error() {
            errors += 1;
        }
        replies.push(r);
    }
    (errors, replies)
}

fn set_cmd(key: &str, value: &[u8], ttl: Option<u64>) -> Vec<u8> {
    match ttl {
        Some(t) => common::encode(&[
            b"SET".as_slice(),
            key.as_bytes(),
            value,
            b"EX",
            t.to_string().as_bytes(),
        ]),
        None => common::encode(&[b"SET".as_slice(), key.as_bytes(), value]),
    }
}

/// Count how many of `keys` exist.
fn count_present(conn: &mut Conn, keys: &[String]) -> usize {
    let mut present = 0;
    for chunk in keys.chunks(500) {
        let cmds: Vec<Vec<u8>> = chunk
            .iter()
            .map(|k| common::encode(&["EXISTS", k.as_str()]))
            .collect();
        let (_, replies) = pipeline(conn, &cmds);
        present += replies.iter().filter(|r| r.expect_int() == 1).count();
    }
    present
}

/// Read every key of `keys` `times` times (pipelined).
fn read_all(conn: &mut Conn, keys: &[String], times: usize) {
    for _ in 0..times {
        for chunk in keys.chunks(500) {
            let cmds: Vec<Vec<u8>> = chunk
                .iter()
                .map(|k| common::encode(&["GET", k.as_str()]))
                .collect();
            pipeline(conn, &cmds);
        }
    }
}

/// The flood: random sizes (64 B to `max_value`) until `bytes` were written and at least
/// `min_secs` passed; keys get a TTL under volatile policies (random, for volatile-ttl's
/// ordering). Returns (bytes written, max RSS, error replies, flood keys with their TTL).
#[allow(clippy::too_many_arguments)]
fn flood(
    conn: &mut Conn,
    pid: u32,
    rng: &mut StdRng,
    prefix: &str,
    bytes: u64,
    min_secs: f64,
    max_value: usize,
    volatile: bool,
    hot: &[String],
) -> (u64, u64, u64, Vec<(String, u64)>) {
    let started = Instant::now();
    let mut written = 0u64;
    let mut max_rss = 0u64;
    let mut errors = 0u64;
    let mut keys = Vec::new();
    let payload: Vec<u8> = (0..max_value).map(|i| b'a' + (i % 26) as u8).collect();
    let mut hot_read_at = Instant::now();
    while written < bytes || started.elapsed().as_secs_f64() < min_secs {
        let mut cmds = Vec::new();
        let mut batch = 0usize;
        while batch < 512 * 1024 {
            let size = rng.gen_range(64..=max_value);
            let key = format!("{}:{}", prefix, keys.len());
            let ttl = volatile.then(|| rng.gen_range(3600..7200u64));
            cmds.push(set_cmd(&key, &payload[..size], ttl));
            keys.push((key, ttl.unwrap_or(0)));
            batch += size;
        }
        let (e, _) = pipeline(conn, &cmds);
        errors += e;
        written += batch as u64;
        max_rss = max_rss.max(rss(pid));
        if !hot.is_empty() && hot_read_at.elapsed() >= Duration::from_secs(1) {
            // Frequently read keys stay frequently read (LFU counters decay by the minute).
            read_all(conn, hot, 2);
            hot_read_at = Instant::now();
        }
    }
    (written, max_rss, errors, keys)
}

/// One policy: flood to 10x `maxmemory` (or for `min_secs`), then the choice checks.
fn run_policy(port: u16, pid: u32, policy: &str, maxmemory: u64, min_secs: f64) -> Outcome {
    let mut conn = Conn::connect(port).expect("connect");
    conn.timeout = Duration::from_secs(60);
    let mut rng = StdRng::seed_from_u64(0x5eed ^ policy.len() as u64);
    let started = Instant::now();
    conn.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    conn.cmd(&["FLUSHALL"]);
    // The previous run's data may still be being freed (ferrokv drops big flushes on
    // another thread): start from an idle heap.
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut conn, "used_memory") > maxmemory / 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    conn.cmd(&["CONFIG", "SET", "maxmemory-policy", policy]);
    conn.cmd(&["CONFIG", "SET", "maxmemory", &maxmemory.to_string()]);
    let evicted_before = info_field(&mut conn, "evicted_keys");
    let volatile = policy.starts_with("volatile");
    let max_value = (maxmemory / 2000).clamp(256, 16 * 1024) as usize;
    let mut out = Outcome {
        policy: policy.to_string(),
        ..Outcome::default()
    };

    // Keys without a TTL (volatile-* must keep them), 15% of the limit.
    let mut persistent = Vec::new();
    if volatile {
        let value = vec![b'p'; 1024];
        let n = (maxmemory * 15 / 100 / 1200) as usize;
        let cmds: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let k = format!("p:{}", i);
                let c = set_cmd(&k, &value, None);
                persistent.push(k);
                c
            })
            .collect();
        for chunk in cmds.chunks(500) {
            out.errors += pipeline(&mut conn, chunk).0;
        }
    }
    // volatile-ttl: keys with far deadlines, 10% of the limit.
    let mut far = Vec::new();
    if policy == "volatile-ttl" {
        let value = vec![b'f'; 1024];
        let n = (maxmemory * 10 / 100 / 1200) as usize;
        let cmds: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let k = format!("far:{}", i);
                let c = set_cmd(&k, &value, Some(36_000));
                far.push(k);
                c
            })
            .collect();
        for chunk in cmds.chunks(500) {
            out.errors += pipeline(&mut conn, chunk).0;
        }
    }

    // LFU: frequently read keys (2% of the limit), written before the flood, read 40
    // times, then twice a second during it.
    let lfu = policy.ends_with("lfu");
    let mut hot: Vec<String> = Vec::new();
    if lfu {
        let value = vec![b'h'; 512];
        let n = (maxmemory * 2 / 100 / 600) as usize;
        hot = (0..n).map(|i| format!("h:{}", i)).collect();
        let ttl = volatile.then_some(36_000);
        let cmds: Vec<Vec<u8>> = hot.iter().map(|k| set_cmd(k, &value, ttl)).collect();
        for chunk in cmds.chunks(500) {
            out.errors += pipeline(&mut conn, chunk).0;
        }
        read_all(&mut conn, &hot, 40);
    }
    let (written, max_rss, errors, flood_keys) = flood(
        &mut conn,
        pid,
        &mut rng,
        "f",
        maxmemory * 10,
        min_secs,
        max_value,
        volatile,
        &hot,
    );
    out.written = written;
    out.max_rss = max_rss;
    out.errors += errors;

    if policy == "volatile-ttl" {
        let names: Vec<String> = flood_keys.iter().map(|(k, _)| k.clone()).collect();
        let mut kept_ttl = 0f64;
        let mut kept = 0f64;
        for chunk in names.chunks(500).zip(flood_keys.chunks(500)) {
            let cmds: Vec<Vec<u8>> = chunk
                .0
                .iter()
                .map(|k| common::encode(&["EXISTS", k.as_str()]))
                .collect();
            let (_, replies) = pipeline(&mut conn, &cmds);
            for (r, (_, ttl)) in replies.iter().zip(chunk.1) {
                if r.expect_int() == 1 {
                    kept += 1.0;
                    kept_ttl += *ttl as f64;
                }
            }
        }
        let all_mean =
            flood_keys.iter().map(|(_, t)| *t as f64).sum::<f64>() / flood_keys.len() as f64;
        out.ttl_bias_secs = if kept > 0.0 {
            kept_ttl / kept - all_mean
        } else {
            0.0
        };
        out.far_kept = count_present(&mut conn, &far) as f64 / far.len().max(1) as f64;
    } else if lfu {
        out.hot_kept = count_present(&mut conn, &hot) as f64 / hot.len().max(1) as f64;
    } else {
        // The choice phase: hot keys (2% of the limit) that are read, then a quarter of
        // the limit of new writes (at small limits much of memory is the key table's fixed
        // structure: the older keys must not run out first). LRU: the hot keys are written
        // a second after the flood and read a second later (the LRU clock counts seconds,
        // in Redis too), so everything else is idle longer.
        let value = vec![b'h'; 512];
        let n = (maxmemory * 2 / 100 / 600) as usize;
        let hot: Vec<String> = (0..n).map(|i| format!("h:{}", i)).collect();
        let ttl = volatile.then_some(36_000);
        let cmds: Vec<Vec<u8>> = hot.iter().map(|k| set_cmd(k, &value, ttl)).collect();
        std::thread::sleep(Duration::from_millis(1100));
        for chunk in cmds.chunks(500) {
            out.errors += pipeline(&mut conn, chunk).0;
        }
        std::thread::sleep(Duration::from_millis(1100));
        read_all(&mut conn, &hot, 1);
        let (_, rss2, e2, _) = flood(
            &mut conn,
            pid,
            &mut rng,
            "g",
            maxmemory / 4,
            0.0,
            max_value,
            volatile,
            &[],
        );
        out.max_rss = out.max_rss.max(rss2);
        out.errors += e2;
        out.hot_kept = count_present(&mut conn, &hot) as f64 / hot.len().max(1) as f64;
    }
    if volatile {
        out.persistent_kept =
            count_present(&mut conn, &persistent) as f64 / persistent.len().max(1) as f64;
    }
    out.evicted = info_field(&mut conn, "evicted_keys") - evicted_before;
    out.final_rss = rss(pid);
    if std::env::var_os("EVICT_DEBUG").is_some() {
        let info = conn.cmd(&["INFO", "memory"]).expect_text();
        for l in info.lines().filter(|l| {
            l.starts_with("used_memory:")
                || l.starts_with("allocator")
                || l.starts_with("used_memory_rss:")
                || l.starts_with("rss_")
        }) {
            eprintln!("  {}", l);
        }
    }
    out.secs = started.elapsed().as_secs_f64();
    conn.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    conn.cmd(&["FLUSHALL"]);
    out
}

/// The checks every policy's run must pass; `rss_allowance` is what the resident set may
/// hold beyond `maxmemory`.
fn check(o: &Outcome, maxmemory: u64, rss_allowance: u64) {
    let what = format!("{:?}", o);
    assert_eq!(o.errors, 0, "no command refused while evicting: {}", what);
    assert!(o.written >= maxmemory * 10, "flooded 10x: {}", what);
    assert!(o.evicted > 0, "evicted: {}", what);
    assert!(
        o.max_rss <= maxmemory + rss_allowance,
        "RSS {} over maxmemory {} + {}: {}",
        o.max_rss,
        maxmemory,
        rss_allowance,
        what
    );
    if o.policy.starts_with("volatile") {
        assert_eq!(
            o.persistent_kept, 1.0,
            "volatile-* evicts only TTL keys: {}",
            what
        );
    }
    if o.policy == "volatile-ttl" {
        // Sampling approximates (5 keys a round, as Redis, uniform among the TTL keys):
        // far deadlines stay, and the flood keys that stay have later deadlines than the
        // written ones on average. Runs here keep every far key and give a bias of
        // 800-1000 s (of a 3600 s spread); random choice gives ~0. The sampler that walked
        // to the next TTL key lost 10-40% of the far keys (they followed the long run of
        // keys without a TTL) and gave 45-100 s.
        assert!(o.far_kept >= 0.95, "far deadlines kept: {}", what);
        assert!(
            o.ttl_bias_secs > 300.0,
            "nearest deadlines go first: {}",
            what
        );
    } else if !o.policy.ends_with("random") {
        assert!(o.hot_kept >= 0.85, "hot keys kept: {}", what);
    }
}

#[test]
fn short_run_every_policy() {
    let server = common::start_ferrokv(2);
    let pid = server.pid();
    let mut conn = server.connect();
    // Memory that is not the data's (code, stacks, the allocator's metadata) is the same
    // with or without data: measured idle, allowed on top of 20% of maxmemory (at this
    // small limit the flood's own buffers and the pages freed between two purges are a
    // large share; the on-demand soak checks the plain 10% at a real size).
    let idle_rss = rss(pid);
    let idle_used = info_field(&mut conn, "used_memory");
    let baseline = idle_rss.saturating_sub(idle_used);
    let maxmemory: u64 = 48 << 20;
    let mut outcomes = Vec::new();
    for policy in POLICIES {
        let o = run_policy(server.port, pid, policy, maxmemory, 0.0);
        eprintln!(
            "{:16} written {:5} MiB, max RSS {:.2}x maxmemory (idle non-heap {} KiB), \
             evicted {}, hot kept {:.2}, far kept {:.2}, ttl bias {:.0}s, {:.1}s",
            o.policy,
            o.written >> 20,
            o.max_rss as f64 / maxmemory as f64,
            baseline >> 10,
            o.evicted,
            o.hot_kept,
            o.far_kept,
            o.ttl_bias_secs,
            o.secs
        );
        check(&o, maxmemory, maxmemory / 5 + baseline);
        outcomes.push(o);
    }
    let kept = |p: &str| {
        outcomes
            .iter()
            .find(|o| o.policy == p)
            .map_or(0.0, |o| o.hot_kept)
    };
    assert!(
        kept("allkeys-lru") > kept("allkeys-random") + 0.15,
        "LRU keeps recently read keys more often than random: {:?}",
        outcomes
    );
    assert!(conn.cmd(&["PING"]).expect_text() == "PONG");
}

/// The on-demand soak (scripts/eviction-soak.sh), against a server it started.
#[test]
#[ignore]
fn soak_external() {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{} is not set", k));
    let port: u16 = env("SOAK_PORT").parse().expect("SOAK_PORT");
    let pid: u32 = env("SOAK_PID").parse().expect("SOAK_PID");
    let maxmemory: u64 = env("SOAK_MAXMEMORY").parse().expect("SOAK_MAXMEMORY");
    let secs: f64 = env("SOAK_SECS").parse().expect("SOAK_SECS");
    let name = std::env::var("SOAK_NAME").unwrap_or_else(|_| "server".into());
    let mut worst = 0f64;
    let mut failures = Vec::new();
    for policy in POLICIES {
        let o = run_policy(port, pid, policy, maxmemory, secs);
        let ratio = o.max_rss as f64 / maxmemory as f64;
        worst = worst.max(ratio);
        println!(
            "SOAK {} {:16} written {:6} MiB in {:5.1}s  max RSS/maxmemory {:.3}  final {:.3}  \
             evicted {:8}  hot kept {:.2}  persistent kept {:.2}  far kept {:.2}  ttl bias {:.0}s  errors {}",
            name,
            o.policy,
            o.written >> 20,
            o.secs,
            ratio,
            o.final_rss as f64 / maxmemory as f64,
            o.evicted,
            o.hot_kept,
            o.persistent_kept,
            o.far_kept,
            o.ttl_bias_secs,
            o.errors
        );
        let verdict = std::panic::catch_unwind(|| check(&o, maxmemory, maxmemory / 10));
        if verdict.is_err() {
            failures.push(o.policy.clone());
        }
    }
    println!("SOAK {} worst max RSS/maxmemory {:.3}", name, worst);
    assert!(
        failures.is_empty(),
        "{}: failed policies {:?}",
        name,
        failures
    );
}

/// `replica-ignore-maxmemory`: a replica over its `maxmemory` evicts nothing by itself
/// (default yes) and refuses nothing, keeping every key its primary sends; with `no` it
/// evicts as a primary does.
#[test]
fn replica_ignores_maxmemory_by_default() {
    let primary = common::start_ferrokv(1);
    let replica = common::start_ferrokv(1);
    let mut p = primary.connect();
    let mut r = replica.connect();
    assert_eq!(
        r.cmd(&["CONFIG", "GET", "replica-ignore-maxmemory"]),
        Reply::Array(vec![
            Reply::Bulk(b"replica-ignore-maxmemory".to_vec()),
            Reply::Bulk(b"yes".to_vec())
        ])
    );
    r.cmd(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]);
    let wait = |what: &str, c: &mut Conn, ok: &dyn Fn(&mut Conn) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ok(c) {
            assert!(Instant::now() < deadline, "timed out waiting for {}", what);
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("the link", &mut r, &|c| {
        c.cmd(&["INFO", "replication"])
            .expect_text()
            .contains("master_link_status:up")
    });
    // 8 MB of values against a 2 MB limit on the replica.
    let used = info_field(&mut r, "used_memory");
    let limit = used + (2 << 20);
    r.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]);
    r.cmd(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    let value = "v".repeat(8 * 1024);
    let cmds: Vec<Vec<u8>> = (0..1000)
        .map(|i| set_cmd(&format!("k:{}", i), value.as_bytes(), None))
        .collect();
    for chunk in cmds.chunks(100) {
        assert_eq!(pipeline(&mut p, chunk).0, 0);
    }
    wait("the replica to hold every key", &mut r, &|c| {
        c.cmd(&["DBSIZE"]).expect_int() == 1000
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r.cmd(&["DBSIZE"]).expect_int(), 1000, "nothing evicted");
    assert_eq!(info_field(&mut r, "evicted_keys"), 0);
    assert!(info_field(&mut r, "used_memory") > limit, "over its limit");
    // Reads are not refused for memory either.
    assert!(!r.cmd(&["GET", "k:1"]).is_error());

    // With `no` the replica evicts down to its limit by itself.
    r.cmd(&["CONFIG", "SET", "replica-ignore-maxmemory", "no"]);
    wait("the replica to evict", &mut r, &|c| {
        info_field(c, "evicted_keys") > 0
    });
    assert!(r.cmd(&["DBSIZE"]).expect_int() < 1000);
    r.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
}

/// INFO's `used_memory` does not include INFO's own working memory: with the keyspace
/// section (every shard's lock held) it matches INFO memory's within a few KB, so a limit
/// computed from it (Redis's Tcl suite does `used_memory + 100 KB`) means what it says.
#[test]
fn info_used_memory_leaves_out_info_itself() {
    let server = common::start_ferrokv(2);
    let mut conn = server.connect();
    let used = |conn: &mut Conn, section: &str| -> i64 {
        let text = conn.cmd(&["INFO", section]).expect_text();
        text.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory")
    };
    let _ = used(&mut conn, "memory");
    let alone = used(&mut conn, "memory");
    let with_keyspace = used(&mut conn, "default");
    assert!(
        (with_keyspace - alone).abs() < 64 * 1024,
        "INFO memory {} vs INFO default {}",
        alone,
        with_keyspace
    );
}
