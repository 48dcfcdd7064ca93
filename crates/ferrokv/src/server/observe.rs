//! What the server remembers about itself: per-command statistics, the slow log and the
//! latency monitor.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;

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
