//! The in-process scaling benchmark (`benches/dispatch.rs`) at a tiny size, so it cannot
//! rot: every op and key distribution from 1, 2 and 4 threads, checking what the requests
//! did (never how fast).

#[path = "../benches/workload/mod.rs"]
mod workload;

use workload::{Bench, Dist, Op};

const KEYS: usize = 200;
const OPS: u64 = 300;

/// Sum of every `ctr:N` counter, read back with GET.
fn counters_total(bench: &Bench) -> u64 {
    (0..bench.keys())
        .map(|i| parse_bulk_int(&bench.call(&[b"GET", format!("ctr:{i:08}").as_bytes()])))
        .sum()
}

/// `$N\r\n<digits>\r\n` -> the number.
fn parse_bulk_int(reply: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.split("\r\n");
    assert!(lines.next().is_some_and(|l| l.starts_with('$')), "{text:?}");
    lines
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{text:?}"))
}

#[test]
fn dispatch_bench_runs_every_case() {
    let bench = Bench::new(KEYS);
    // Populating ran one INCR per counter.
    let mut expected = KEYS as u64;
    assert_eq!(counters_total(&bench), expected);
    for op in Op::ALL {
        for dist in Dist::ALL {
            for threads in [1, 2, 4] {
                bench.run(op, dist, threads, OPS);
                if op == Op::Incr {
                    expected += threads as u64 * OPS;
                }
            }
        }
    }
    // No increment lost between threads, and the keyspace has exactly the keys written.
    assert_eq!(counters_total(&bench), expected);
    assert_eq!(
        bench.call(&[b"DBSIZE"]),
        format!(":{}\r\n", 3 * KEYS).into_bytes()
    );
    assert_eq!(
        bench.call(&[b"GET", b"key:00000000"]),
        b"$16\r\nvvvvvvvvvvvvvvvv\r\n".to_vec()
    );
    // The commands were counted (the statistics are part of the path measured).
    let stats = String::from_utf8_lossy(&bench.call(&[b"INFO", b"commandstats"])).into_owned();
    assert!(stats.contains("cmdstat_hset:calls="), "{stats}");
}

#[test]
fn zipf_keys_are_skewed_and_uniform_keys_are_not() {
    let bench = Bench::new(1000);
    let hot = |dist| {
        let seq = bench.sequence(dist, 1);
        seq.iter().filter(|&&i| i < 10).count() as f64 / seq.len() as f64
    };
    // Zipf(0.99) over 1000 keys puts ~39% of draws on the 10 hottest keys; uniform 1%.
    assert!(hot(Dist::Zipf) > 0.3, "{}", hot(Dist::Zipf));
    assert!(hot(Dist::Uniform) < 0.03, "{}", hot(Dist::Uniform));
}
