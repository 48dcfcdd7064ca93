//! Scaling with cores, in process: SET/GET/INCR/HSET through the real dispatch path
//! (`commands::dispatch::execute`) from 1, 2, 4, ... threads (up to twice the cores), with
//! uniform and Zipf(0.99) keys. No sockets: what stops it scaling is shared state on the
//! command path (lock contention, false sharing).
//!
//!   cargo bench -p ferrokv --bench dispatch                  full run, then a table of
//!                                                            ops/s and the ratio to 1 thread
//!   cargo bench -p ferrokv --bench dispatch -- set/uniform   one group (criterion filter)
//!   cargo bench -p ferrokv --bench dispatch -- --test        each case once (smoke run)
//!   DISPATCH_KEYS=1000000 cargo bench ...                    keys of each kind (default 100k)
//!
//! Criterion's throughput is the requests of all threads per second of wall time.
//!
//! Instructions per request, deterministic (no sockets, no event loop): run the bench
//! binary under callgrind with `DISPATCH_ONLY=OP:N` (one thread, N requests of OP, no
//! criterion), once with N = 0 and once with N > 0, and divide the difference by N:
//!
//!   DISPATCH_KEYS=10000 DISPATCH_ONLY=set:100000 valgrind --tool=callgrind \
//!       target/release/deps/dispatch-<hash>

mod workload;

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use workload::{thread_counts, Bench, Dist, Op, Timing};

/// Requests, wall and CPU time summed over every sample, per (op, dist, threads).
type Totals = BTreeMap<(&'static str, &'static str, usize), (u64, Timing)>;

fn totals() -> &'static Mutex<Totals> {
    static T: OnceLock<Mutex<Totals>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn bench_dispatch(c: &mut Criterion, bench: &Bench) {
    for op in Op::ALL {
        for dist in Dist::ALL {
            let mut group = c.benchmark_group(format!("{}/{}", op.name(), dist.name()));
            group
                .sample_size(10)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(2));
            for threads in thread_counts() {
                // One iteration = one request on every thread.
                group.throughput(Throughput::Elements(threads as u64));
                group.bench_with_input(BenchmarkId::from_parameter(threads), &threads, |b, &t| {
                    b.iter_custom(|iters| {
                        let took = bench.run_timed(op, dist, t, iters);
                        if let Ok(mut m) = totals().lock() {
                            let e = m.entry((op.name(), dist.name(), t)).or_default();
                            e.0 += iters * t as u64;
                            e.1.wall += took.wall;
                            e.1.cpu += took.cpu;
                        }
                        took.wall
                    })
                });
            }
            group.finish();
        }
    }
}

/// The table the issue asks for: ops/s per thread count and the ratio to one thread;
/// then CPU nanoseconds per request and the ratio a machine with a free core per thread
/// would give if nothing but the CPU cost per request changed (threads x cpu-ns at 1
/// thread / cpu-ns at N): on a loaded machine, where the wall-clock ratio says little,
/// that column still shows contention and false sharing.
fn print_scaling() {
    let Ok(m) = totals().lock() else { return };
    println!("\nin-process dispatch scaling (all samples; ratio = ops/s / ops/s at 1 thread)");
    println!(
        "{:<6} {:<9} {:>7} {:>12} {:>7} {:>8} {:>9}",
        "op", "keys", "threads", "ops/s", "ratio", "cpu-ns", "cpu-ratio"
    );
    let (mut base, mut base_cpu) = (0.0, 0.0);
    for (&(op, dist, threads), &(ops, t)) in m.iter() {
        let rate = ops as f64 / t.wall.as_secs_f64().max(1e-9);
        let cpu_ns = t.cpu.as_nanos() as f64 / ops.max(1) as f64;
        if threads == 1 {
            (base, base_cpu) = (rate, cpu_ns);
        }
        let ratio = if base > 0.0 { rate / base } else { 0.0 };
        let cpu_ratio = if cpu_ns > 0.0 {
            threads as f64 * base_cpu / cpu_ns
        } else {
            0.0
        };
        println!(
            "{op:<6} {dist:<9} {threads:>7} {rate:>12.0} {ratio:>6.2}x {cpu_ns:>8.0} {cpu_ratio:>8.2}x"
        );
    }
}

/// `DISPATCH_ONLY=OP:N`: N requests of OP (set, get, incr, hset) on one thread, uniform
/// keys, then exit (for callgrind).
fn run_only(bench: &Bench, only: &str) {
    let (name, n) = only.split_once(':').unwrap_or((only, "100000"));
    let Some(op) = Op::ALL.into_iter().find(|o| o.name() == name) else {
        eprintln!("DISPATCH_ONLY: unknown op {name:?} (set, get, incr, hset)");
        std::process::exit(2);
    };
    let n: u64 = n.parse().unwrap_or(100_000);
    let t = bench.run(op, Dist::Uniform, 1, n);
    println!("{} x {}: {:?}", op.name(), n, t);
}

fn main() {
    let keys = std::env::var("DISPATCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let bench = Bench::new(keys);
    if let Ok(only) = std::env::var("DISPATCH_ONLY") {
        run_only(&bench, &only);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_dispatch(&mut c, &bench);
    c.final_summary();
    print_scaling();
}
