//! What the server remembers about itself: per-command statistics, the slow log and the
//! latency monitor.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use super::Client;

/// INFO commandstats for one command.
#[derive(Default, Debug)]
pub struct CommandStats {
    /// Calls.
    pub calls: AtomicU64,
    /// Total microseconds.
    pub usec: AtomicU64,
    /// Rejected before running.
    pub rejected_calls: AtomicU64,
    /// Failed while running.
    pub failed_calls: AtomicU64,
    /// Latency distribution (LATENCY HISTOGRAM, INFO latencystats).
    pub latency: LatencyHistogram,
}

impl CommandStats {
    /// Add `other`'s counts to this one's.
    fn add(&self, other: &CommandStats) {
        for (a, b) in [
            (&self.calls, &other.calls),
            (&self.usec, &other.usec),
            (&self.rejected_calls, &other.rejected_calls),
            (&self.failed_calls, &other.failed_calls),
        ] {
            a.fetch_add(b.load(Relaxed), Relaxed);
        }
        for (a, b) in self.latency.buckets.iter().zip(&other.latency.buckets) {
            a.fetch_add(b.load(Relaxed), Relaxed);
        }
    }

    /// Forget every call (CONFIG RESETSTAT).
    fn reset(&self) {
        self.latency.reset();
        self.calls.store(0, Relaxed);
        self.usec.store(0, Relaxed);
        self.rejected_calls.store(0, Relaxed);
        self.failed_calls.store(0, Relaxed);
    }
}

/// Per-command statistics, striped like `stats::Counter`: each thread counts its calls in
/// its own stripe (a table of every command, allocated at the stripe's first use), and
/// readers (INFO, LATENCY HISTOGRAM, the metrics endpoint) sum the stripes. A single
/// shared table put every thread's SETs on the same cache lines.
#[derive(Debug)]
pub struct CommandStatsTable {
    commands: usize,
    stripes: Box<[std::sync::OnceLock<Box<[CommandStats]>>]>,
}

impl CommandStatsTable {
    /// Statistics for `commands` command ids.
    pub fn new(commands: usize) -> CommandStatsTable {
        CommandStatsTable {
            commands,
            stripes: (0..crate::stats::STRIPES)
                .map(|_| std::sync::OnceLock::new())
                .collect(),
        }
    }

    /// This thread's counters for command `id`, to add to.
    #[inline]
    pub fn local(&self, id: usize) -> Option<&CommandStats> {
        self.local_in(crate::stats::stripe(), id)
    }

    /// Stripe `stripe`'s counters for command `id` (see [`crate::stats::Counter::add_in`]).
    #[inline]
    pub fn local_in(&self, stripe: usize, id: usize) -> Option<&CommandStats> {
        let stripe = self.stripes.get(stripe)?;
        stripe
            .get_or_init(|| {
                (0..self.commands)
                    .map(|_| CommandStats::default())
                    .collect()
            })
            .get(id)
    }

    /// The totals of command `id` over every stripe: a copy, to read (named apart from a
    /// slice's `get` so that code written for the old shared table, which added to what
    /// `get` returned, fails to compile instead of counting into a copy).
    pub fn totals(&self, id: usize) -> Option<CommandStats> {
        if id >= self.commands {
            return None;
        }
        let total = CommandStats::default();
        for s in self.stripes.iter().filter_map(|s| s.get()) {
            if let Some(c) = s.get(id) {
                total.add(c);
            }
        }
        Some(total)
    }

    /// The totals of every command, by id.
    pub fn iter_totals(&self) -> impl Iterator<Item = CommandStats> + '_ {
        (0..self.commands).filter_map(|id| self.totals(id))
    }

    /// Forget every call of every command (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for s in self.stripes.iter().filter_map(|s| s.get()) {
            for c in s.iter() {
                c.reset();
            }
        }
    }
}

/// Number of [`LatencyHistogram`] buckets: below 1024 ns, then one per power of two up to
/// about 18 minutes (anything slower counts in the last).
pub const LATENCY_BUCKETS: usize = 32;

/// A command's latency distribution in power-of-two buckets of nanoseconds: bucket 0 holds
/// durations below 1024 ns, bucket `i` those in `[2^(9+i), 2^(10+i))`. These are the
/// bucket bounds Redis reports LATENCY HISTOGRAM with (its HDR histogram iterated from
/// 1024 ns by factors of 2); recording is one relaxed atomic add.
#[derive(Default, Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS],
}

impl LatencyHistogram {
    /// Count one call that took `ns` nanoseconds.
    #[inline]
    pub fn record(&self, ns: u64) {
        let bits = (u64::BITS - ns.leading_zeros()) as usize;
        let i = bits.saturating_sub(10).min(LATENCY_BUCKETS - 1);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Relaxed);
        }
    }

    /// Forget every call (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Relaxed);
        }
    }

    /// Calls recorded.
    pub fn total(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// Upper bound of bucket `i` in nanoseconds.
    fn upper_ns(i: usize) -> u64 {
        1u64 << (10 + i)
    }

    /// The cumulative distribution as LATENCY HISTOGRAM shows it: (bucket bound in µs,
    /// calls at or below it), for the buckets that hold calls.
    pub fn cdf(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Relaxed);
            if n > 0 {
                cumulative += n;
                out.push((Self::upper_ns(i) / 1000, cumulative));
            }
        }
        out
    }

    /// Every bucket from the first up to the highest that holds calls, as (bound in µs,
    /// calls at or below it): [`cdf`](Self::cdf) with the empty buckets in between too, so
    /// that the Prometheus histogram (server/metrics/) keeps its `le` values from one scrape
    /// to the next.
    pub fn cumulative_buckets(&self) -> Vec<(u64, u64)> {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let Some(top) = counts.iter().rposition(|&n| n > 0) else {
            return Vec::new();
        };
        let mut cumulative = 0;
        counts
            .iter()
            .take(top + 1)
            .enumerate()
            .map(|(i, n)| {
                cumulative += n;
                (Self::upper_ns(i) / 1000, cumulative)
            })
            .collect()
    }

    /// The latency at `percentile` (0..=100) in microseconds: the bound of the bucket that
    /// holds it (INFO latencystats).
    pub fn percentile_us(&self, percentile: f64) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        let wanted = ((percentile / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Relaxed);
            if cumulative >= wanted {
                return Self::upper_ns(i) as f64 / 1000.0;
            }
        }
        Self::upper_ns(LATENCY_BUCKETS - 1) as f64 / 1000.0
    }
}

/// One SLOWLOG entry.
#[derive(Clone, Debug)]
pub struct SlowLogEntry {
    /// Entry id.
    pub id: u64,
    /// Unix seconds.
    pub time: u64,
    /// Duration in microseconds.
    pub micros: u64,
    /// Arguments, Redis-trimmed (32 args max, 128 bytes per arg).
    pub args: Vec<Vec<u8>>,
    /// Client address.
    pub addr: String,
    /// Client name.
    pub name: Vec<u8>,
}

/// SLOWLOG.
#[derive(Default, Debug)]
pub struct SlowLog {
    /// Newest first.
    pub entries: VecDeque<SlowLogEntry>,
    /// Next id.
    pub next_id: u64,
}

const SLOWLOG_ENTRY_MAX_ARGC: usize = 32;
const SLOWLOG_ENTRY_MAX_STRING: usize = 128;

impl SlowLog {
    /// Record a slow command, trimming arguments like Redis.
    pub fn push(&mut self, client: &Client, args: &[&[u8]], micros: u64, max_len: usize) {
        let mut kept: Vec<Vec<u8>> = Vec::new();
        let argc = args.len().min(SLOWLOG_ENTRY_MAX_ARGC);
        for (i, a) in args.iter().take(argc).enumerate() {
            if argc != args.len() && i == argc - 1 {
                kept.push(format!("... ({} more arguments)", args.len() - argc + 1).into_bytes());
            } else if a.len() > SLOWLOG_ENTRY_MAX_STRING {
                let mut v = a[..SLOWLOG_ENTRY_MAX_STRING].to_vec();
                v.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - SLOWLOG_ENTRY_MAX_STRING).as_bytes(),
                );
                kept.push(v);
            } else {
                kept.push(a.to_vec());
            }
        }
        let entry = SlowLogEntry {
            id: self.next_id,
            time: crate::util::now_ms() / 1000,
            micros,
            args: kept,
            addr: client.handle.addr.clone(),
            name: client.name.clone(),
        };
        self.next_id += 1;
        self.entries.push_front(entry);
        while self.entries.len() > max_len {
            self.entries.pop_back();
        }
    }
}

/// One latency event's history.
#[derive(Default, Debug, Clone)]
pub struct LatencyEvent {
    /// (Unix seconds, milliseconds), oldest first, at most 160 samples.
    pub samples: VecDeque<(u64, u64)>,
    /// Highest latency ever seen.
    pub max: u64,
}

/// LATENCY: per-event samples above `latency-monitor-threshold`.
#[derive(Default, Debug)]
pub struct LatencyMonitor {
    /// Event name -> history.
    pub events: HashMap<String, LatencyEvent>,
}

const LATENCY_TS_LEN: usize = 160;

impl LatencyMonitor {
    /// Record a latency sample; samples in the same second keep the max, like Redis.
    pub fn add(&mut self, event: &str, ms: u64) {
        let now = crate::util::now_ms() / 1000;
        let ev = self.events.entry(event.to_string()).or_default();
        ev.max = ev.max.max(ms);
        if let Some(last) = ev.samples.back_mut() {
            if last.0 == now {
                last.1 = last.1.max(ms);
                return;
            }
        }
        ev.samples.push_back((now, ms));
        while ev.samples.len() > LATENCY_TS_LEN {
            ev.samples.pop_front();
        }
    }
}

#[cfg(test)]
mod latency_tests {
    use super::LatencyHistogram;

    #[test]
    fn buckets_are_powers_of_two_from_1024_ns() {
        let h = LatencyHistogram::default();
        for ns in [0, 1023, 1024, 2047, 2048, 5_000_000] {
            h.record(ns);
        }
        h.record(u64::MAX);
        assert_eq!(h.total(), 7);
        let cdf = h.cdf();
        assert_eq!(cdf[0], (1, 2), "below 1024 ns");
        assert_eq!(cdf[1], (2, 4), "1024..2048 ns");
        assert_eq!(cdf[2], (4, 5), "2048..4096 ns");
        assert_eq!(cdf[3], (8388, 6), "5 ms in 4.19..8.39 ms");
        assert_eq!(
            cdf.last().map(|c| c.1),
            Some(7),
            "the slowest call in the last bucket"
        );
        let all = h.cumulative_buckets();
        assert_eq!(
            all.len(),
            super::LATENCY_BUCKETS,
            "every bucket up to the last used"
        );
        assert_eq!(&all[..4], &[(1, 2), (2, 4), (4, 5), (8, 5)]);
        assert_eq!(all.last().map(|c| c.1), Some(7));
        assert_eq!(h.percentile_us(50.0), 2.048);
        assert_eq!(h.percentile_us(0.0), 1.024);
        h.reset();
        assert_eq!(h.total(), 0);
        assert_eq!(h.percentile_us(99.0), 0.0);
        assert!(h.cumulative_buckets().is_empty());
    }
}

#[cfg(test)]
mod striped_tests {
    use super::CommandStatsTable;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn command_stats_sum_the_stripes_and_reset() {
        let t = CommandStatsTable::new(3);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10 {
                        if let Some(c) = t.local(1) {
                            c.calls.fetch_add(1, Relaxed);
                            c.usec.fetch_add(2, Relaxed);
                            c.latency.record(2000);
                        }
                    }
                });
            }
        });
        let c = t.totals(1).expect("id 1 exists");
        assert_eq!(c.calls.load(Relaxed), 40);
        assert_eq!(c.usec.load(Relaxed), 80);
        assert_eq!(c.latency.total(), 40);
        assert_eq!(t.totals(0).map(|c| c.calls.load(Relaxed)), Some(0));
        assert!(t.totals(3).is_none() && t.local(3).is_none());
        assert_eq!(t.iter_totals().count(), 3);
        t.reset();
        assert_eq!(t.totals(1).map(|c| c.latency.total()), Some(0));
        assert_eq!(
            t.iter_totals().map(|c| c.calls.load(Relaxed)).sum::<u64>(),
            0
        );
    }
}
