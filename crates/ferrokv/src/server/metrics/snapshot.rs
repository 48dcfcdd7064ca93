//! One reading of the server's figures for a scrape or a page view. The numbers come from
//! INFO itself (`info_everything`, parsed back into fields as redis_exporter parses
//! `INFO ALL`), so the endpoint can never disagree with INFO; what INFO does not show
//! (key counts of empty databases, latency histogram buckets, the slow log) is read from
//! the same structures LATENCY HISTOGRAM, DBSIZE and SLOWLOG use.

use std::collections::HashMap;

use crate::server::Server;

/// One INFO section: its title (`Server`, `Memory`...) and its `name:value` fields.
#[derive(Debug, Default, Clone)]
pub struct Section {
    /// The title after `# `.
    pub title: String,
    /// Fields in INFO's order.
    pub fields: Vec<(String, String)>,
}

/// A command's INFO commandstats line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CommandFigures {
    /// Full name as INFO and LATENCY HISTOGRAM write it (`get`, `config|set`).
    pub name: String,
    /// Calls.
    pub calls: u64,
    /// Microseconds spent in all calls.
    pub usec: u64,
    /// Calls refused before running.
    pub rejected_calls: u64,
    /// Calls that failed while running.
    pub failed_calls: u64,
    /// `(percentile, microseconds)` from INFO latencystats.
    pub percentiles: Vec<(f64, f64)>,
    /// LATENCY HISTOGRAM's buckets, the empty ones below the highest used included:
    /// `(bucket bound in µs, calls at or below it)`.
    pub histogram: Vec<(u64, u64)>,
}

/// The slow log's size and newest entry.
#[derive(Debug, Default, Clone, Copy)]
pub struct SlowlogFigures {
    /// Entries kept.
    pub length: usize,
    /// Id of the newest entry (0 when none was ever logged).
    pub last_id: u64,
    /// Duration of the newest entry in microseconds.
    pub last_micros: u64,
}

/// Everything a scrape or the status page shows, read once.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Every INFO section, in INFO's order.
    pub sections: Vec<Section>,
    /// `(keys, keys with a TTL)` of every database, empty ones included.
    pub keyspace: Vec<(usize, usize)>,
    /// Commands with calls (INFO commandstats order), with their latency figures.
    pub commands: Vec<CommandFigures>,
    /// Error replies by error code (INFO errorstats).
    pub errors: Vec<(String, u64)>,
    /// SLOWLOG.
    pub slowlog: SlowlogFigures,
    /// LATENCY LATEST: (event, Unix seconds of the latest spike, its milliseconds).
    pub latency_events: Vec<(String, u64, u64)>,
    /// Unix time of the reading, in seconds.
    pub unix_time: f64,
    index: HashMap<String, (usize, usize)>,
}

impl Snapshot {
    /// Read the server's figures now. Takes each shard lock briefly, one at a time, to
    /// count keys (as DBSIZE does); never called with shard locks held.
    pub fn take(server: &Server) -> Snapshot {
        let keyspace: Vec<(usize, usize)> = server.dbs.iter().map(|db| db.approx_len()).collect();
        let text = crate::commands::families::server::info_everything(server, &keyspace);
        let mut snap = Snapshot::from_info(&text, keyspace);
        snap.add_histograms(server);
        let log = server.slowlog.lock();
        snap.slowlog = SlowlogFigures {
            length: log.entries.len(),
            last_id: log.next_id.saturating_sub(1),
            last_micros: log.entries.front().map_or(0, |e| e.micros),
        };
        drop(log);
        let mut events: Vec<(String, u64, u64)> = server
            .latency
            .lock()
            .events
            .iter()
            .filter_map(|(name, ev)| ev.samples.back().map(|&(at, ms)| (name.clone(), at, ms)))
            .collect();
        events.sort();
        snap.latency_events = events;
        snap.unix_time = crate::util::now_us() as f64 / 1e6;
        snap
    }

    /// Build from the text of `INFO everything` and the key counts.
    pub fn from_info(text: &str, keyspace: Vec<(usize, usize)>) -> Snapshot {
        let mut snap = Snapshot {
            keyspace,
            ..Default::default()
        };
        for line in text.split("\r\n").map(str::trim) {
            if let Some(title) = line.strip_prefix("# ") {
                snap.sections.push(Section {
                    title: title.to_string(),
                    fields: Vec::new(),
                });
                continue;
            }
            let (Some((name, value)), Some(section)) =
                (line.split_once(':'), snap.sections.last_mut())
            else {
                continue;
            };
            section.fields.push((name.to_string(), value.to_string()));
        }
        for (si, section) in snap.sections.iter().enumerate() {
            for (fi, (name, _)) in section.fields.iter().enumerate() {
                snap.index.entry(name.clone()).or_insert((si, fi));
            }
        }
        snap.commands = snap.parse_commandstats();
        snap.errors = snap
            .section("Errorstats")
            .iter()
            .filter_map(|(k, v)| {
                let code = k.strip_prefix("errorstat_")?;
                Some((code.to_string(), sub_field(v, "count")?.parse().ok()?))
            })
            .collect();
        snap
    }

    /// The fields of the section titled `title` (empty when INFO has no such section).
    pub fn section(&self, title: &str) -> &[(String, String)] {
        self.sections
            .iter()
            .find(|s| s.title.eq_ignore_ascii_case(title))
            .map_or(&[], |s| &s.fields)
    }

    /// An INFO field's text, from whichever section has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        let &(si, fi) = self.index.get(name)?;
        let (_, value) = self.sections.get(si)?.fields.get(fi)?;
        Some(value)
    }

    /// An INFO field as a number: plain numbers, `ok`/`err` statuses as 1/0 (as
    /// redis_exporter reads `rdb_last_bgsave_status`), percentages without their sign.
    pub fn number(&self, name: &str) -> Option<f64> {
        let v = self.field(name)?;
        match v {
            "ok" | "up" => Some(1.0),
            "err" | "down" => Some(0.0),
            _ => v.trim_end_matches('%').parse().ok(),
        }
    }

    /// Sum of the keys of every database.
    pub fn total_keys(&self) -> usize {
        self.keyspace.iter().map(|k| k.0).sum()
    }

    fn parse_commandstats(&self) -> Vec<CommandFigures> {
        let percentiles: HashMap<&str, Vec<(f64, f64)>> = self
            .section("Latencystats")
            .iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("latency_percentiles_usec_")?;
                let values = v
                    .split(',')
                    .filter_map(|p| {
                        let (pct, usec) = p.strip_prefix('p')?.split_once('=')?;
                        Some((pct.parse().ok()?, usec.parse().ok()?))
                    })
                    .collect();
                Some((name, values))
            })
            .collect();
        self.section("Commandstats")
            .iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("cmdstat_")?;
                let num = |f: &str| sub_field(v, f).and_then(|x| x.parse::<u64>().ok());
                Some(CommandFigures {
                    name: name.to_string(),
                    calls: num("calls")?,
                    usec: num("usec")?,
                    rejected_calls: num("rejected_calls").unwrap_or(0),
                    failed_calls: num("failed_calls").unwrap_or(0),
                    percentiles: percentiles.get(name).cloned().unwrap_or_default(),
                    histogram: Vec::new(),
                })
            })
            .collect()
    }

    /// LATENCY HISTOGRAM's buckets for the commands INFO listed.
    fn add_histograms(&mut self, server: &Server) {
        let reg = crate::commands::registry();
        let by_name: HashMap<&str, usize> =
            (0..reg.len()).map(|id| (reg.full_name(id), id)).collect();
        for cmd in &mut self.commands {
            if let Some(stats) = by_name
                .get(cmd.name.as_str())
                .and_then(|id| server.command_stats.totals(*id))
            {
                cmd.histogram = stats.latency.cumulative_buckets();
            }
        }
    }
}

/// The value of `name=` in a `a=1,b=2` INFO value.
fn sub_field<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:42\r\n\r\n\
        # Persistence\r\nrdb_last_bgsave_status:ok\r\naof_last_write_status:err\r\n\r\n\
        # Commandstats\r\ncmdstat_set:calls=3,usec=30,usec_per_call=10.00,rejected_calls=1,failed_calls=2\r\n\
        cmdstat_config|get:calls=1,usec=5,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n\r\n\
        # Errorstats\r\nerrorstat_ERR:count=4\r\nerrorstat_WRONGTYPE:count=1\r\n\r\n\
        # Latencystats\r\nlatency_percentiles_usec_set:p50=1.003,p99=2.007,p99.9=4.015\r\n";

    #[test]
    fn parses_info_back_into_fields() {
        let s = Snapshot::from_info(INFO, vec![(3, 1), (0, 0)]);
        assert_eq!(s.field("redis_version"), Some("7.0.15"));
        assert_eq!(s.number("uptime_in_seconds"), Some(42.0));
        assert_eq!(s.number("rdb_last_bgsave_status"), Some(1.0));
        assert_eq!(s.number("aof_last_write_status"), Some(0.0));
        assert_eq!(s.field("missing"), None);
        assert_eq!(s.total_keys(), 3);
        assert_eq!(s.commands.len(), 2);
        let set = &s.commands[0];
        assert_eq!(
            (
                set.name.as_str(),
                set.calls,
                set.usec,
                set.rejected_calls,
                set.failed_calls
            ),
            ("set", 3, 30, 1, 2)
        );
        assert_eq!(
            set.percentiles,
            vec![(50.0, 1.003), (99.0, 2.007), (99.9, 4.015)]
        );
        assert_eq!(s.commands[1].name, "config|get");
        assert!(s.commands[1].percentiles.is_empty());
        assert_eq!(
            s.errors,
            vec![("ERR".to_string(), 4), ("WRONGTYPE".to_string(), 1)]
        );
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let s = Snapshot::from_info(
            "no section yet:1\r\n# Commandstats\r\ncmdstat_x:calls=zz\r\nnocolon\r\n",
            Vec::new(),
        );
        assert_eq!(s.field("no section yet"), None);
        assert!(s.commands.is_empty());
    }
}
