//! The in-process scaling workload shared by `benches/dispatch.rs` (criterion) and
//! `tests/dispatch_bench.rs` (the same code at a tiny size, so the bench cannot rot).
//!
//! Each thread is one client: its own [`Client`] state and reply buffer, driving
//! `commands::dispatch::execute`, the function a connection calls for every parsed
//! request (command table lookup, arity and ACL checks, shard locks, keyspace, reply
//! writer, statistics), then what the connection does per batch of one request (the AOF
//! hand-off) and clearing the reply as a write would. No sockets, so what limits scaling
//! here is shared state on the command path: lock contention and false sharing.

#![allow(dead_code)]

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ferrokv::commands::dispatch::{execute, Outcome};
use ferrokv::config::Config;
use ferrokv::server::{Client, Server};
use rand::{Rng, SeedableRng};
use resp::ReplyWriter;

/// The commands measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `SET key:N <16 bytes>`
    Set,
    /// `GET key:N` (keys populated first, so every GET hits)
    Get,
    /// `INCR ctr:N`
    Incr,
    /// `HSET hash:N fM <16 bytes>` (10 fields per hash: small hashes)
    Hset,
}

impl Op {
    /// All of them, in report order.
    pub const ALL: [Op; 4] = [Op::Set, Op::Get, Op::Incr, Op::Hset];

    /// Lower-case command name, for report labels.
    pub fn name(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::Get => "get",
            Op::Incr => "incr",
            Op::Hset => "hset",
        }
    }
}

/// How keys are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dist {
    /// Every key equally likely.
    Uniform,
    /// Zipf with exponent 0.99 (YCSB's default skew): a few hot keys take most requests.
    Zipf,
}

impl Dist {
    /// Both, in report order.
    pub const ALL: [Dist; 2] = [Dist::Uniform, Dist::Zipf];

    /// Report label.
    pub fn name(self) -> &'static str {
        match self {
            Dist::Uniform => "uniform",
            Dist::Zipf => "zipf0.99",
        }
    }
}

/// The value SET and HSET write (16 bytes, stored inline).
const VALUE: &[u8] = b"vvvvvvvvvvvvvvvv";
/// Key indexes a thread cycles through (drawn in advance so that drawing costs nothing
/// in the measured loop).
const SEQUENCE_LEN: usize = 1 << 16;

/// A server with default configuration (persistence off, no replicas) and `keys` keys of
/// each kind already written, plus the argument bytes of every key.
pub struct Bench {
    /// The server the clients share.
    pub server: Arc<Server>,
    strings: Vec<Vec<u8>>,
    counters: Vec<Vec<u8>>,
    hashes: Vec<Vec<u8>>,
    fields: Vec<Vec<u8>>,
    zipf_cdf: Vec<f64>,
}

impl Bench {
    /// Build the server and populate `keys` strings, counters and hashes.
    pub fn new(keys: usize) -> Bench {
        let server = Arc::new(Server::new(Config::defaults()));
        server.set_self();
        let name = |prefix: &str, i: usize| format!("{prefix}:{i:08}").into_bytes();
        let bench = Bench {
            strings: (0..keys).map(|i| name("key", i)).collect(),
            counters: (0..keys).map(|i| name("ctr", i)).collect(),
            hashes: (0..keys).map(|i| name("hash", i)).collect(),
            fields: (0..10).map(|i| format!("f{i}").into_bytes()).collect(),
            zipf_cdf: zipf_cdf(keys, 0.99),
            server,
        };
        bench.populate();
        bench
    }

    /// Number of keys of each kind.
    pub fn keys(&self) -> usize {
        self.strings.len()
    }

    fn populate(&self) {
        let mut c = self.client();
        let mut out = ReplyWriter::new();
        for i in 0..self.keys() {
            for op in Op::ALL {
                c.start_batch();
                let argv = self.argv(op, i, i);
                execute(&self.server, &mut c, &mut out, &argv);
            }
            out.buf.clear();
        }
    }

    /// A client as a new connection gets one (authenticated: no password set).
    pub fn client(&self) -> Client {
        let h = self
            .server
            .register_client("127.0.0.1:1".into(), "127.0.0.1:6379".into(), -1);
        Client::new(h, true)
    }

    /// The arguments of `op` on key `i` (`n` picks the hash field).
    pub fn argv(&self, op: Op, i: usize, n: usize) -> Vec<&[u8]> {
        let field = |n: usize| self.fields[n % self.fields.len()].as_slice();
        match op {
            Op::Set => vec![b"SET", &self.strings[i], VALUE],
            Op::Get => vec![b"GET", &self.strings[i]],
            Op::Incr => vec![b"INCR", &self.counters[i]],
            Op::Hset => vec![b"HSET", &self.hashes[i], field(n), VALUE],
        }
    }

    /// `SEQUENCE_LEN` key indexes drawn from `dist` (each thread gets its own `seed`).
    pub fn sequence(&self, dist: Dist, seed: u64) -> Vec<u32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n = self.keys();
        (0..SEQUENCE_LEN)
            .map(|_| match dist {
                Dist::Uniform => rng.gen_range(0..n) as u32,
                Dist::Zipf => {
                    let u: f64 = rng.gen();
                    self.zipf_cdf.partition_point(|&c| c < u).min(n - 1) as u32
                }
            })
            .collect()
    }

    /// Run `ops` requests of `op` on each of `threads` threads at once, and return the
    /// wall time from the moment all threads start until the last one finishes.
    pub fn run(&self, op: Op, dist: Dist, threads: usize, ops: u64) -> Duration {
        self.run_timed(op, dist, threads, ops).wall
    }

    /// [`Bench::run`], also returning the CPU time the threads spent.
    pub fn run_timed(&self, op: Op, dist: Dist, threads: usize, ops: u64) -> Timing {
        let barrier = Barrier::new(threads + 1);
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let barrier = &barrier;
                    let seq = self.sequence(dist, 0x5eed + t as u64);
                    let mut client = self.client();
                    s.spawn(move || {
                        barrier.wait();
                        let cpu = thread_cpu();
                        self.client_loop(&mut client, op, &seq, ops);
                        let cpu = thread_cpu().saturating_sub(cpu);
                        self.server.unregister_client(client.handle.id);
                        cpu
                    })
                })
                .collect();
            barrier.wait();
            let start = Instant::now();
            let cpu = workers
                .into_iter()
                .map(|w| w.join().unwrap_or_default())
                .sum();
            Timing {
                wall: start.elapsed(),
                cpu,
            }
        })
    }

    /// One client's requests: what `server::connection` does for each request of a batch
    /// of one (pipeline 1), minus the socket.
    fn client_loop(&self, client: &mut Client, op: Op, seq: &[u32], ops: u64) {
        let mut out = ReplyWriter::new();
        let mut argv: Vec<&[u8]> = Vec::with_capacity(4);
        let mut next = seq.iter().cycle();
        for n in 0..ops {
            let i = next.next().copied().unwrap_or(0) as usize;
            argv.clear();
            argv.extend(self.argv_parts(op, i, n as usize));
            client.start_batch();
            let outcome = execute(&self.server, client, &mut out, &argv);
            debug_assert!(matches!(outcome, Outcome::Done));
            // The connection's per-batch step before its replies go out.
            self.server.aof.write_after_batch();
            debug_assert!(
                !out.buf.starts_with(b"-"),
                "{:?}",
                String::from_utf8_lossy(&out.buf)
            );
            out.buf.clear();
        }
    }

    /// [`Bench::argv`] without allocating a vector.
    fn argv_parts(&self, op: Op, i: usize, n: usize) -> impl Iterator<Item = &[u8]> {
        let field = self.fields[n % self.fields.len()].as_slice();
        let parts: [&[u8]; 4] = match op {
            Op::Set => [b"SET", &self.strings[i], VALUE, b""],
            Op::Get => [b"GET", &self.strings[i], b"", b""],
            Op::Incr => [b"INCR", &self.counters[i], b"", b""],
            Op::Hset => [b"HSET", &self.hashes[i], field, VALUE],
        };
        let len = match op {
            Op::Get | Op::Incr => 2,
            Op::Set => 3,
            Op::Hset => 4,
        };
        parts.into_iter().take(len)
    }

    /// Run one request from a fresh client and return its reply bytes.
    pub fn call(&self, argv: &[&[u8]]) -> Vec<u8> {
        let mut c = self.client();
        let mut out = ReplyWriter::new();
        c.start_batch();
        execute(&self.server, &mut c, &mut out, argv);
        self.server.unregister_client(c.handle.id);
        out.buf
    }
}

/// Wall and CPU time of one [`Bench::run_timed`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    /// From the start of all threads to the end of the last.
    pub wall: Duration,
    /// CPU time of all threads together. On a loaded machine, where threads wait for a
    /// core, CPU time per request still shows what contention costs: cache lines that
    /// move between cores and spinning on locks make every request take more of it.
    pub cpu: Duration,
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Cumulative distribution of Zipf(`s`) over ranks 1..=n (rank 1 the hottest, key 0).
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|k| {
            acc += 1.0 / (k as f64).powf(s);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

/// Thread counts measured: 1, 2, 4, ... up to twice the cores.
pub fn thread_counts() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut v = vec![1];
    while v.last().is_some_and(|&t| t * 2 <= 2 * cores) {
        let next = v.last().map_or(1, |&t| t * 2);
        v.push(next);
    }
    v
}
