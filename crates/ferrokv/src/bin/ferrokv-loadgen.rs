//! Open-loop latency load for scripts/bgsave.sh: SET requests at a fixed total rate over
//! many connections (pipelining off), each request's latency recorded in a histogram, in
//! phases of background work that this program starts on the server and waits for.
//!
//! Open loop: every connection sends on a fixed schedule (one request per `conns / rate`
//! seconds), whatever the server does. A reply that comes late delays the connection's
//! next requests; those are timed from when they were *due*, not from when they could be
//! sent, so a 50 ms stall shows up as the ~rate x 50 ms requests it held up, as an
//! application with its own clock would see it (closed-loop tools such as redis-benchmark
//! send nothing during a stall and so hide it). A request sent late only because this
//! program's own timer woke late is timed from its send.
//!
//! Phases, in order (each a histogram: count, p50, p99, p99.9, max):
//!   steady  `--steady` seconds with no background work (the reference);
//!   bgsave  from BGSAVE until `rdb_bgsave_in_progress:0`;
//!   aofrw   CONFIG SET appendonly yes (everysec), its first rewrite (not recorded), then
//!           from BGREWRITEAOF until `aof_rewrite_in_progress:0`;
//!   growth  appendonly off again; the load's SETs go to `--grow` new keys instead of the
//!           loaded ones, so the table grows by that many keys under the same rate.
//! It also samples the server's RSS (its forked children included) every 10 ms: the
//! highest value during `steady` and during each background phase.
//!
//! Output: one `key=value ...` line per phase and one `rss ...` line (latencies in us).
//!
//!   ferrokv-loadgen --port 6379 --rate 40000 --keys 1000000 --pid 1234 [--conns 50]
//!                   [--steady 2] [--grow 1000000] [--warmup 1]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Phases; requests are counted in the one current when they are sent.
const PHASES: [&str; 5] = ["warmup", "steady", "bgsave", "aofrw", "growth"];
/// Requests sent between phases (settling, enabling the AOF) land here, not reported.
const IDLE: usize = 0;

fn main() {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ferrokv-loadgen: {}", e);
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&opts) {
        eprintln!("ferrokv-loadgen: {}", e);
        std::process::exit(1);
    }
}

/// Command-line options.
struct Options {
    port: u16,
    rate: f64,
    conns: usize,
    keys: u64,
    pid: u32,
    steady: f64,
    warmup: f64,
    grow: u64,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut o = Options {
            port: 6379,
            rate: 10_000.0,
            conns: 50,
            keys: 1_000_000,
            pid: 0,
            steady: 2.0,
            warmup: 1.0,
            grow: 1_000_000,
        };
        while let Some(flag) = args.next() {
            let value = args.next().ok_or(format!("{} needs a value", flag))?;
            let num: f64 = value
                .parse()
                .map_err(|_| format!("bad value for {}: {}", flag, value))?;
            match flag.as_str() {
                "--port" => o.port = num as u16,
                "--rate" => o.rate = num,
                "--conns" => o.conns = num as usize,
                "--keys" => o.keys = num as u64,
                "--pid" => o.pid = num as u32,
                "--steady" => o.steady = num,
                "--warmup" => o.warmup = num,
                "--grow" => o.grow = num as u64,
                _ => return Err(format!("unknown option {}", flag)),
            }
        }
        if o.rate <= 0.0 || o.conns == 0 || o.keys == 0 {
            return Err("--rate, --conns and --keys must be positive".into());
        }
        Ok(o)
    }
}

/// A latency histogram in microseconds: exact below 64 us, then 64 buckets per power of
/// two (at most 1.6% wide), shared by the load threads.
struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    max: AtomicU64,
}

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: (0..64 * SUB).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    fn index(us: u64) -> usize {
        if us < SUB {
            return us as usize;
        }
        let exp = 63 - us.leading_zeros();
        let shift = exp - SUB_BITS;
        let sub = (us >> shift) & (SUB - 1);
        ((shift as u64 + 1) * SUB + sub) as usize
    }

    /// The highest value bucket `index` holds.
    fn upper(index: usize) -> u64 {
        let index = index as u64;
        if index < SUB {
            return index;
        }
        let shift = index / SUB - 1;
        ((SUB + index % SUB + 1) << shift) - 1
    }

    fn record(&self, us: u64) {
        let i = Self::index(us).min(self.buckets.len() - 1);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(us, Ordering::Relaxed);
    }

    /// The value at quantile `q` (0..1): the upper end of its bucket, at most the maximum.
    fn quantile(&self, q: f64) -> u64 {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return 0;
        }
        let rank = ((count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return Self::upper(i).min(self.max.load(Ordering::Relaxed));
            }
        }
        self.max.load(Ordering::Relaxed)
    }
}

/// What the load threads and the control thread share.
struct Shared {
    phase: AtomicUsize,
    stop: AtomicBool,
    /// While true, SETs go to new `grow:` keys.
    growing: AtomicBool,
    /// New keys handed out so far.
    grown: AtomicU64,
    hist: Vec<Histogram>,
    errors: AtomicU64,
    first_error: parking_lot::Mutex<Option<String>>,
}

fn run(o: &Options) -> Result<(), String> {
    let shared = Arc::new(Shared {
        phase: AtomicUsize::new(IDLE),
        stop: AtomicBool::new(false),
        growing: AtomicBool::new(false),
        grown: AtomicU64::new(0),
        hist: PHASES.iter().map(|_| Histogram::new()).collect(),
        errors: AtomicU64::new(0),
        first_error: parking_lot::Mutex::new(None),
    });
    let mut control = Control::connect(o.port)?;
    let start = Instant::now() + Duration::from_millis(200);
    let interval = Duration::from_secs_f64(o.conns as f64 / o.rate);
    let mut threads = Vec::new();
    for i in 0..o.conns {
        let stream = TcpStream::connect(("127.0.0.1", o.port)).map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let first = start + interval.mul_f64(i as f64 / o.conns as f64);
        let (keys, grow) = (o.keys, o.grow);
        threads.push(std::thread::spawn(move || {
            load(stream, &shared, first, interval, keys, grow, i as u64)
        }));
    }
    let result = phases(o, &shared, &mut control);
    shared.stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let rss = result?;
    report(&shared, &rss)
}

/// Highest RSS (kB) seen in the steady, bgsave and aofrw phases.
#[derive(Default)]
struct Rss {
    steady: u64,
    bgsave: u64,
    aofrw: u64,
}

/// Run the phases on the control connection while the load runs.
fn phases(o: &Options, shared: &Shared, c: &mut Control) -> Result<Rss, String> {
    let mut rss = Rss::default();
    let set_phase = |name: &str| {
        let i = PHASES.iter().position(|p| *p == name).unwrap_or(IDLE);
        shared.phase.store(i, Ordering::Relaxed);
    };
    set_phase("warmup");
    std::thread::sleep(Duration::from_secs_f64(o.warmup + 0.2));
    set_phase("steady");
    rss.steady = sample_for(o.pid, Duration::from_secs_f64(o.steady));

    set_phase("bgsave");
    c.expect_ok(&["BGSAVE"])?;
    rss.bgsave = sample_until(o.pid, c, "rdb_bgsave_in_progress:0")?;
    set_phase("warmup");

    c.expect_ok(&["CONFIG", "SET", "appendfsync", "everysec"])?;
    c.expect_ok(&["CONFIG", "SET", "appendonly", "yes"])?;
    std::thread::sleep(Duration::from_millis(50));
    sample_until(o.pid, c, "aof_rewrite_in_progress:0")?;
    wait_info(c, "aof_rewrite_scheduled:0")?;
    std::thread::sleep(Duration::from_millis(500));
    set_phase("aofrw");
    c.expect_ok(&["BGREWRITEAOF"])?;
    std::thread::sleep(Duration::from_millis(10));
    rss.aofrw = sample_until(o.pid, c, "aof_rewrite_in_progress:0")?;
    set_phase("warmup");
    c.expect_ok(&["CONFIG", "SET", "appendonly", "no"])?;
    std::thread::sleep(Duration::from_millis(500));

    set_phase("growth");
    shared.growing.store(true, Ordering::Relaxed);
    while shared.grown.load(Ordering::Relaxed) < o.grow {
        std::thread::sleep(Duration::from_millis(10));
    }
    set_phase("warmup");
    Ok(rss)
}

/// Sample RSS every 10 ms for `d`; the highest value.
fn sample_for(pid: u32, d: Duration) -> u64 {
    let end = Instant::now() + d;
    let mut peak = 0;
    while Instant::now() < end {
        peak = peak.max(tree_rss_kb(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
    peak
}

/// Sample RSS every 10 ms until INFO persistence contains `done`; the highest value.
fn sample_until(pid: u32, c: &mut Control, done: &str) -> Result<u64, String> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut peak = tree_rss_kb(pid);
    loop {
        let info = c.request(&["INFO", "persistence"])?;
        if info.contains(done) {
            return Ok(peak);
        }
        if Instant::now() > deadline {
            return Err(format!("gave up waiting for {}", done));
        }
        peak = peak.max(tree_rss_kb(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_info(c: &mut Control, done: &str) -> Result<(), String> {
    sample_until(0, c, done).map(|_| ())
}

/// RSS in kB of `pid` and its children (Redis's forked child); 0 without a pid.
fn tree_rss_kb(pid: u32) -> u64 {
    if pid == 0 {
        return 0;
    }
    let children =
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", pid, pid)).unwrap_or_default();
    std::iter::once(pid.to_string())
        .chain(children.split_whitespace().map(str::to_string))
        .map(|p| {
            std::fs::read_to_string(format!("/proc/{}/status", p))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// One connection's open-loop SET load until `stop`.
fn load(
    mut stream: TcpStream,
    shared: &Shared,
    first: Instant,
    interval: Duration,
    keys: u64,
    grow: u64,
    seed: u64,
) {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut req = Vec::with_capacity(128);
    let mut next = first;
    let mut last_done = Instant::now();
    let value = [b'v'; 32];
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let sent = Instant::now();
        // Held up by our own late reply: timed from when it was due (open loop).
        let from = if next < last_done { next } else { sent };
        let phase = shared.phase.load(Ordering::Relaxed);
        let key = next_key(shared, &mut rng, keys, grow);
        req.clear();
        encode_set(&mut req, key.as_bytes(), &value);
        if let Err(e) = round_trip(&mut stream, &req) {
            note_error(shared, e);
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
        }
        last_done = Instant::now();
        if let Some(h) = shared.hist.get(phase) {
            h.record(last_done.duration_since(from).as_micros() as u64);
        }
        next += interval;
    }
}

/// The next key: a random loaded one, or a new one while the table grows.
fn next_key(shared: &Shared, rng: &mut u64, keys: u64, grow: u64) -> String {
    if shared.growing.load(Ordering::Relaxed) {
        let n = shared.grown.fetch_add(1, Ordering::Relaxed);
        if n < grow {
            return format!("grow:{:09}", n);
        }
    }
    // xorshift64
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    format!("key:{:09}", *rng % keys)
}

fn encode_set(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
    for arg in [key, value] {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Send one request and read its `+OK` (anything else is an error).
fn round_trip(stream: &mut TcpStream, req: &[u8]) -> Result<(), String> {
    stream.write_all(req).map_err(|e| e.to_string())?;
    let mut reply = [0u8; 5];
    stream.read_exact(&mut reply).map_err(|e| e.to_string())?;
    if &reply != b"+OK\r\n" {
        let mut rest = [0u8; 256];
        let n = stream.read(&mut rest).unwrap_or(0);
        let mut all = reply.to_vec();
        all.extend_from_slice(rest.get(..n).unwrap_or_default());
        return Err(String::from_utf8_lossy(&all).trim_end().to_string());
    }
    Ok(())
}

fn note_error(shared: &Shared, e: String) {
    shared.errors.fetch_add(1, Ordering::Relaxed);
    shared.first_error.lock().get_or_insert(e);
}

/// Print one line per reported phase and the RSS line.
fn report(shared: &Shared, rss: &Rss) -> Result<(), String> {
    for (name, h) in PHASES.iter().zip(&shared.hist).skip(1) {
        println!(
            "phase={} n={} p50_us={} p99_us={} p999_us={} max_us={}",
            name,
            h.count.load(Ordering::Relaxed),
            h.quantile(0.5),
            h.quantile(0.99),
            h.quantile(0.999),
            h.max.load(Ordering::Relaxed)
        );
    }
    println!(
        "rss steady_kb={} bgsave_peak_kb={} aofrw_peak_kb={}",
        rss.steady, rss.bgsave, rss.aofrw
    );
    let errors = shared.errors.load(Ordering::Relaxed);
    if errors > 0 {
        return Err(format!(
            "{} requests failed, the first with: {}",
            errors,
            shared.first_error.lock().clone().unwrap_or_default()
        ));
    }
    Ok(())
}

/// The control connection (BGSAVE, INFO, CONFIG SET).
struct Control {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Control {
    fn connect(port: u16) -> Result<Control, String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        Ok(Control {
            stream,
            buf: Vec::new(),
        })
    }

    /// Send a command; its reply as text (simple string, error, integer or bulk string).
    fn request(&mut self, args: &[&str]) -> Result<String, String> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
        }
        self.stream.write_all(&req).map_err(|e| e.to_string())?;
        let line = self.line()?;
        match line.split_at_checked(1) {
            Some(("$", len)) => {
                let len: usize = len.parse().map_err(|_| format!("bad reply {}", line))?;
                self.fill(len + 2)?;
                let body: Vec<u8> = self.buf.drain(..len + 2).take(len).collect();
                Ok(String::from_utf8_lossy(&body).into_owned())
            }
            Some(("+" | ":", rest)) => Ok(rest.to_string()),
            _ => Err(format!("{:?}: {}", args, line)),
        }
    }

    /// A command that must not fail.
    fn expect_ok(&mut self, args: &[&str]) -> Result<(), String> {
        self.request(args).map(|_| ())
    }

    fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).take(end).collect();
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            self.more()?;
        }
    }

    fn fill(&mut self, n: usize) -> Result<(), String> {
        while self.buf.len() < n {
            self.more()?;
        }
        Ok(())
    }

    fn more(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the control connection".into());
        }
        self.buf
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    /// Buckets cover every value and report at most 1.6% above it.
    #[test]
    fn histogram_buckets() {
        for v in [
            0u64, 1, 63, 64, 65, 127, 128, 1000, 12_345, 2_000_000, 50_000_000,
        ] {
            let upper = Histogram::upper(Histogram::index(v));
            assert!(upper >= v, "{} -> {}", v, upper);
            assert!(upper as f64 <= v as f64 * 1.016 + 1.0, "{} -> {}", v, upper);
        }
        let h = Histogram::new();
        for v in 1..=1000 {
            h.record(v);
        }
        assert!((500..=508).contains(&h.quantile(0.5)));
        assert!((990..=1000).contains(&h.quantile(0.99)));
        assert_eq!(h.quantile(1.0), 1000);
    }
}
