//! `/metrics`: a [`Snapshot`] in the Prometheus text format (0.0.4), encoded by
//! prometheus-client, under the names and labels of oliver006/redis_exporter so that
//! dashboards and alerts written for it work unchanged.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::snapshot::Snapshot;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// How an INFO field is exported.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Gauge,
    /// The encoder appends `_total`.
    Counter,
    /// A counter whose redis_exporter name has no `_total` suffix (`total_error_replies`):
    /// exported untyped so that the name stays the one dashboards use.
    Untyped,
}

use Kind::{Counter, Gauge, Untyped};

/// INFO field -> metric name after `redis_` (redis_exporter's `metricMapGauges` and
/// `metricMapCounters`). A field INFO does not show is skipped, as the exporter does.
const INFO_FIELDS: &[(&str, &str, Kind)] = &[
    // Server
    ("uptime_in_seconds", "uptime_in_seconds", Gauge),
    ("process_id", "process_id", Gauge),
    ("io_threads_active", "io_threads_active", Gauge),
    // Clients
    ("connected_clients", "connected_clients", Gauge),
    ("blocked_clients", "blocked_clients", Gauge),
    ("maxclients", "max_clients", Gauge),
    ("tracking_clients", "tracking_clients", Gauge),
    (
        "clients_in_timeout_table",
        "clients_in_timeout_table",
        Gauge,
    ),
    (
        "client_recent_max_output_buffer",
        "client_recent_max_output_buffer_bytes",
        Gauge,
    ),
    (
        "client_recent_max_input_buffer",
        "client_recent_max_input_buffer_bytes",
        Gauge,
    ),
    // Memory
    ("used_memory", "memory_used_bytes", Gauge),
    ("used_memory_rss", "memory_used_rss_bytes", Gauge),
    ("used_memory_peak", "memory_used_peak_bytes", Gauge),
    ("used_memory_lua", "memory_used_lua_bytes", Gauge),
    ("used_memory_vm_eval", "memory_used_vm_eval_bytes", Gauge),
    (
        "used_memory_scripts_eval",
        "memory_used_scripts_eval_bytes",
        Gauge,
    ),
    ("used_memory_overhead", "memory_used_overhead_bytes", Gauge),
    ("used_memory_startup", "memory_used_startup_bytes", Gauge),
    ("used_memory_dataset", "memory_used_dataset_bytes", Gauge),
    (
        "used_memory_vm_functions",
        "memory_used_vm_functions_bytes",
        Gauge,
    ),
    ("used_memory_scripts", "memory_used_scripts_bytes", Gauge),
    (
        "used_memory_functions",
        "memory_used_functions_bytes",
        Gauge,
    ),
    ("used_memory_vm_total", "memory_used_vm_total", Gauge),
    ("maxmemory", "memory_max_bytes", Gauge),
    ("total_system_memory", "total_system_memory_bytes", Gauge),
    (
        "number_of_cached_scripts",
        "number_of_cached_scripts",
        Gauge,
    ),
    ("number_of_functions", "number_of_functions", Gauge),
    ("number_of_libraries", "number_of_libraries", Gauge),
    ("allocator_active", "allocator_active_bytes", Gauge),
    ("allocator_allocated", "allocator_allocated_bytes", Gauge),
    ("allocator_resident", "allocator_resident_bytes", Gauge),
    ("allocator_frag_ratio", "allocator_frag_ratio", Gauge),
    ("allocator_frag_bytes", "allocator_frag_bytes", Gauge),
    ("allocator_rss_ratio", "allocator_rss_ratio", Gauge),
    ("allocator_rss_bytes", "allocator_rss_bytes", Gauge),
    ("mem_fragmentation_ratio", "mem_fragmentation_ratio", Gauge),
    ("mem_fragmentation_bytes", "mem_fragmentation_bytes", Gauge),
    ("mem_clients_slaves", "mem_clients_slaves", Gauge),
    ("mem_clients_normal", "mem_clients_normal", Gauge),
    (
        "mem_not_counted_for_evict",
        "mem_not_counted_for_eviction_bytes",
        Gauge,
    ),
    (
        "mem_total_replication_buffers",
        "mem_total_replication_buffers_bytes",
        Gauge,
    ),
    (
        "lazyfree_pending_objects",
        "lazyfree_pending_objects",
        Gauge,
    ),
    ("active_defrag_running", "active_defrag_running", Gauge),
    // Persistence
    ("loading", "loading_dump_file", Gauge),
    ("async_loading", "async_loading", Gauge),
    (
        "rdb_changes_since_last_save",
        "rdb_changes_since_last_save",
        Gauge,
    ),
    ("rdb_bgsave_in_progress", "rdb_bgsave_in_progress", Gauge),
    (
        "rdb_last_save_time",
        "rdb_last_save_timestamp_seconds",
        Gauge,
    ),
    ("rdb_last_bgsave_status", "rdb_last_bgsave_status", Gauge),
    (
        "rdb_last_bgsave_time_sec",
        "rdb_last_bgsave_duration_sec",
        Gauge,
    ),
    (
        "rdb_current_bgsave_time_sec",
        "rdb_current_bgsave_duration_sec",
        Gauge,
    ),
    ("rdb_saves", "rdb_saves", Counter),
    ("rdb_last_cow_size", "rdb_last_cow_size_bytes", Gauge),
    (
        "rdb_last_load_keys_expired",
        "rdb_last_load_expired_keys",
        Gauge,
    ),
    (
        "rdb_last_load_keys_loaded",
        "rdb_last_load_loaded_keys",
        Gauge,
    ),
    ("aof_enabled", "aof_enabled", Gauge),
    ("aof_rewrite_in_progress", "aof_rewrite_in_progress", Gauge),
    ("aof_rewrite_scheduled", "aof_rewrite_scheduled", Gauge),
    (
        "aof_last_rewrite_time_sec",
        "aof_last_rewrite_duration_sec",
        Gauge,
    ),
    (
        "aof_current_rewrite_time_sec",
        "aof_current_rewrite_duration_sec",
        Gauge,
    ),
    ("aof_last_cow_size", "aof_last_cow_size_bytes", Gauge),
    ("aof_current_size", "aof_current_size_bytes", Gauge),
    ("aof_base_size", "aof_base_size_bytes", Gauge),
    ("aof_pending_rewrite", "aof_pending_rewrite", Gauge),
    ("aof_buffer_length", "aof_buffer_length", Gauge),
    ("aof_pending_bio_fsync", "aof_pending_bio_fsync", Gauge),
    ("aof_delayed_fsync", "aof_delayed_fsync", Gauge),
    (
        "aof_last_bgrewrite_status",
        "aof_last_bgrewrite_status",
        Gauge,
    ),
    ("aof_last_write_status", "aof_last_write_status", Gauge),
    ("module_fork_in_progress", "module_fork_in_progress", Gauge),
    (
        "module_fork_last_cow_size",
        "module_fork_last_cow_size",
        Gauge,
    ),
    // Stats
    (
        "instantaneous_ops_per_sec",
        "instantaneous_ops_per_sec",
        Gauge,
    ),
    (
        "instantaneous_input_kbps",
        "instantaneous_input_kbps",
        Gauge,
    ),
    (
        "instantaneous_output_kbps",
        "instantaneous_output_kbps",
        Gauge,
    ),
    (
        "current_eviction_exceeded_time",
        "current_eviction_exceeded_time_ms",
        Gauge,
    ),
    ("pubsub_channels", "pubsub_channels", Gauge),
    ("pubsub_patterns", "pubsub_patterns", Gauge),
    ("pubsubshard_channels", "pubsubshard_channels", Gauge),
    ("latest_fork_usec", "latest_fork_usec", Gauge),
    ("tracking_total_keys", "tracking_total_keys", Gauge),
    ("tracking_total_items", "tracking_total_items", Gauge),
    ("tracking_total_prefixes", "tracking_total_prefixes", Gauge),
    ("expired_stale_perc", "expired_stale_percentage", Gauge),
    (
        "migrate_cached_sockets",
        "migrate_cached_sockets_total",
        Gauge,
    ),
    ("active_defrag_hits", "defrag_hits", Gauge),
    ("active_defrag_misses", "defrag_misses", Gauge),
    ("active_defrag_key_hits", "defrag_key_hits", Gauge),
    ("active_defrag_key_misses", "defrag_key_misses", Gauge),
    (
        "total_connections_received",
        "connections_received",
        Counter,
    ),
    ("total_commands_processed", "commands_processed", Counter),
    ("rejected_connections", "rejected_connections", Counter),
    ("total_net_input_bytes", "net_input_bytes", Counter),
    ("total_net_output_bytes", "net_output_bytes", Counter),
    (
        "total_net_repl_input_bytes",
        "net_repl_input_bytes",
        Counter,
    ),
    (
        "total_net_repl_output_bytes",
        "net_repl_output_bytes",
        Counter,
    ),
    ("expired_keys", "expired_keys", Counter),
    (
        "expired_time_cap_reached_count",
        "expired_time_cap_reached",
        Counter,
    ),
    (
        "expire_cycle_cpu_milliseconds",
        "expire_cycle_cpu_time_ms",
        Counter,
    ),
    ("evicted_keys", "evicted_keys", Counter),
    ("evicted_clients", "evicted_clients", Counter),
    (
        "total_eviction_exceeded_time",
        "eviction_exceeded_time_ms",
        Counter,
    ),
    ("keyspace_hits", "keyspace_hits", Counter),
    ("keyspace_misses", "keyspace_misses", Counter),
    ("reply_buffer_shrinks", "reply_buffer_shrinks", Counter),
    ("reply_buffer_expands", "reply_buffer_expands", Counter),
    (
        "client_query_buffer_limit_disconnections",
        "client_query_buffer_limit_disconnections",
        Counter,
    ),
    (
        "client_output_buffer_limit_disconnections",
        "client_output_buffer_limit_disconnections",
        Counter,
    ),
    ("acl_access_denied_auth", "acl_access_denied_auth", Counter),
    ("acl_access_denied_cmd", "acl_access_denied_cmd", Counter),
    ("acl_access_denied_key", "acl_access_denied_key", Counter),
    (
        "acl_access_denied_channel",
        "acl_access_denied_channel",
        Counter,
    ),
    (
        "unexpected_error_replies",
        "unexpected_error_replies",
        Untyped,
    ),
    ("total_error_replies", "total_error_replies", Untyped),
    (
        "dump_payload_sanitizations",
        "dump_payload_sanitizations",
        Untyped,
    ),
    ("total_reads_processed", "total_reads_processed", Untyped),
    ("total_writes_processed", "total_writes_processed", Untyped),
    (
        "io_threaded_reads_processed",
        "io_threaded_reads_processed",
        Untyped,
    ),
    (
        "io_threaded_writes_processed",
        "io_threaded_writes_processed",
        Untyped,
    ),
    // Replication
    ("connected_slaves", "connected_slaves", Gauge),
    ("repl_backlog_size", "replication_backlog_bytes", Gauge),
    ("repl_backlog_active", "repl_backlog_is_active", Gauge),
    (
        "repl_backlog_first_byte_offset",
        "repl_backlog_first_byte_offset",
        Gauge,
    ),
    ("repl_backlog_histlen", "repl_backlog_history_bytes", Gauge),
    ("master_repl_offset", "master_repl_offset", Gauge),
    ("second_repl_offset", "second_repl_offset", Gauge),
    (
        "slave_expires_tracked_keys",
        "slave_expires_tracked_keys",
        Gauge,
    ),
    ("sync_full", "replica_resyncs_full", Gauge),
    ("sync_partial_ok", "replica_partial_resync_accepted", Gauge),
    ("sync_partial_err", "replica_partial_resync_denied", Gauge),
    // CPU
    ("used_cpu_sys", "cpu_sys_seconds", Counter),
    ("used_cpu_user", "cpu_user_seconds", Counter),
    ("used_cpu_sys_children", "cpu_sys_children_seconds", Counter),
    (
        "used_cpu_user_children",
        "cpu_user_children_seconds",
        Counter,
    ),
    (
        "used_cpu_sys_main_thread",
        "cpu_sys_main_thread_seconds",
        Counter,
    ),
    (
        "used_cpu_user_main_thread",
        "cpu_user_main_thread_seconds",
        Counter,
    ),
    // Cluster
    ("cluster_enabled", "cluster_enabled", Gauge),
];

/// The labels of `redis_instance_info`, read from the INFO fields of the same names.
const INSTANCE_INFO_LABELS: &[&str] = &[
    "role",
    "redis_version",
    "redis_build_id",
    "redis_mode",
    "os",
    "maxmemory_policy",
    "tcp_port",
    "run_id",
    "process_id",
];

/// The snapshot in the Prometheus text format.
pub fn render(snapshot: Snapshot) -> Result<String, fmt::Error> {
    let mut registry = Registry::with_prefix("redis");
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?;
    Ok(out)
}

/// Encodes one snapshot; a new registry holds one per scrape.
#[derive(Debug)]
struct SnapshotCollector(Snapshot);

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let s = &self.0;
        single(
            &mut enc,
            "up",
            "ferrokv is answering (always 1).",
            Gauge,
            1.0,
        )?;
        instance_info(&mut enc, s)?;
        if let Some(uptime) = s.number("uptime_in_seconds") {
            let start = (s.unix_time - uptime).floor();
            let help = "Start time of the server since the Unix epoch in seconds.";
            single(&mut enc, "start_time_seconds", help, Gauge, start)?;
        }
        for (field, name, kind) in INFO_FIELDS {
            if let Some(v) = s.number(field) {
                single(&mut enc, name, &format!("INFO {}.", field), *kind, v)?;
            }
        }
        config_values(&mut enc, s)?;
        keyspace(&mut enc, s)?;
        commands(&mut enc, s)?;
        latency(&mut enc, s)?;
        errors_and_slowlog(&mut enc, s)
    }
}

/// `redis_instance_info{role=..., redis_version=..., ...} 1`.
fn instance_info(enc: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
    let labels: Vec<(&str, String)> = INSTANCE_INFO_LABELS
        .iter()
        .map(|l| (*l, s.field(l).unwrap_or_default().to_string()))
        .collect();
    let help = "Information about the server (the value is 1).";
    labelled(enc, "instance_info", help, Gauge, &[(labels, 1.0)])
}

/// `redis_config_maxmemory` and `redis_config_maxclients`, as redis_exporter reads them
/// from CONFIG GET (INFO shows the same values).
fn config_values(enc: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
    for (field, name) in [
        ("maxmemory", "config_maxmemory"),
        ("maxclients", "config_maxclients"),
    ] {
        if let Some(v) = s.number(field) {
            single(enc, name, &format!("CONFIG {}.", field), Gauge, v)?;
        }
    }
    Ok(())
}

/// `redis_db_keys{db="db0"}` and `redis_db_keys_expiring` for every database (empty ones
/// as 0, as redis_exporter pads them), `redis_db_avg_ttl_seconds` for those with keys.
fn keyspace(enc: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
    let rows = |pick: fn(&(usize, usize)) -> usize| -> Vec<(Vec<(&str, String)>, f64)> {
        s.keyspace
            .iter()
            .enumerate()
            .map(|(i, k)| (vec![("db", format!("db{}", i))], pick(k) as f64))
            .collect()
    };
    labelled(
        enc,
        "db_keys",
        "Keys in the database.",
        Gauge,
        &rows(|k| k.0),
    )?;
    let help = "Keys with a TTL in the database.";
    labelled(enc, "db_keys_expiring", help, Gauge, &rows(|k| k.1))?;
    let avg: Vec<(Vec<(&str, String)>, f64)> = s
        .section("Keyspace")
        .iter()
        .filter_map(|(db, v)| {
            let ms: f64 = v
                .split(',')
                .find_map(|kv| kv.strip_prefix("avg_ttl="))?
                .parse()
                .ok()?;
            Some((vec![("db", db.clone())], ms / 1000.0))
        })
        .collect();
    labelled(
        enc,
        "db_avg_ttl_seconds",
        "Average TTL of the database's keys with one.",
        Gauge,
        &avg,
    )
}

/// Per command: calls, time, rejected and failed calls (INFO commandstats).
fn commands(enc: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
    type Pick = fn(&super::snapshot::CommandFigures) -> f64;
    let families: [(&str, &str, Pick); 4] = [
        ("commands", "Calls per command.", |c| c.calls as f64),
        (
            "commands_duration_seconds",
            "Time spent per command, in seconds.",
            |c| c.usec as f64 / 1e6,
        ),
        (
            "commands_rejected_calls",
            "Calls refused before running, per command.",
            |c| c.rejected_calls as f64,
        ),
        (
            "commands_failed_calls",
            "Calls that failed while running, per command.",
            |c| c.failed_calls as f64,
        ),
    ];
    for (name, help, pick) in families {
        let rows: Vec<(Vec<(&str, String)>, f64)> = s
            .commands
            .iter()
            .map(|c| (vec![("cmd", c.name.clone())], pick(c)))
            .collect();
        labelled(enc, name, help, Counter, &rows)?;
    }
    Ok(())
}

/// `redis_commands_latencies_usec` (LATENCY HISTOGRAM's buckets, µs),
/// `redis_latency_percentiles_usec{quantile}` (INFO latencystats) and the latency
/// monitor's spikes.
fn latency(enc: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
    let with_histogram: Vec<_> = s
        .commands
        .iter()
        .filter(|c| !c.histogram.is_empty())
        .collect();
    if !with_histogram.is_empty() {
        let help = "A histogram of latencies per command, in microseconds.";
        let mut m =
            enc.encode_descriptor("commands_latencies_usec", help, None, MetricType::Histogram)?;
        for c in with_histogram {
            let labels = [("cmd", c.name.as_str())];
            let mut previous = 0;
            let buckets: Vec<(f64, u64)> = c
                .histogram
                .iter()
                .map(|&(bound, cumulative)| {
                    let n = cumulative.saturating_sub(previous);
                    previous = cumulative;
                    (bound as f64, n)
                })
                .collect();
            m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                c.usec as f64,
                previous,
                &buckets,
                None,
            )?;
        }
    }
    let rows: Vec<(Vec<(&str, String)>, f64)> = s
        .commands
        .iter()
        .flat_map(|c| {
            c.percentiles.iter().map(|&(p, usec)| {
                let q = format!("{}", p / 100.0);
                (vec![("cmd", c.name.clone()), ("quantile", q)], usec)
            })
        })
        .collect();
    let help = "Latency percentiles per command (INFO latencystats), in microseconds.";
    labelled(enc, "latency_percentiles_usec", help, Gauge, &rows)?;
    let (last, duration): (Vec<_>, Vec<_>) = s
        .latency_events
        .iter()
        .map(|(event, at, ms)| {
            let l = vec![("event_name", event.clone())];
            ((l.clone(), *at as f64), (l, *ms as f64 / 1000.0))
        })
        .unzip();
    labelled(
        enc,
        "latency_spike_last",
        "When the latest latency spike happened.",
        Gauge,
        &last,
    )?;
    let help = "Length of the latest latency spike, in seconds.";
    labelled(
        enc,
        "latency_spike_duration_seconds",
        help,
        Gauge,
        &duration,
    )
}

/// `redis_errors_total{err}` (INFO errorstats) and the slow log's figures.
fn errors_and_slowlog(enc: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
    let rows: Vec<(Vec<(&str, String)>, f64)> = s
        .errors
        .iter()
        .map(|(code, n)| (vec![("err", code.clone())], *n as f64))
        .collect();
    labelled(
        enc,
        "errors",
        "Error replies by error code.",
        Counter,
        &rows,
    )?;
    let log = s.slowlog;
    single(
        enc,
        "slowlog_length",
        "Entries in the slow log.",
        Gauge,
        log.length as f64,
    )?;
    single(
        enc,
        "slowlog_last_id",
        "Id of the newest slow log entry.",
        Gauge,
        log.last_id as f64,
    )?;
    let help = "Duration of the newest slow log entry, in seconds.";
    single(
        enc,
        "last_slow_execution_duration_seconds",
        help,
        Gauge,
        log.last_micros as f64 / 1e6,
    )
}

fn metric_type(kind: Kind) -> MetricType {
    match kind {
        Gauge => MetricType::Gauge,
        Counter => MetricType::Counter,
        Untyped => MetricType::Unknown,
    }
}

/// One series without labels.
fn single(enc: &mut DescriptorEncoder, name: &str, help: &str, kind: Kind, v: f64) -> fmt::Result {
    let m = enc.encode_descriptor(name, help, None, metric_type(kind))?;
    value(m, kind, v)
}

/// A family of labelled series (nothing at all when `rows` is empty).
fn labelled<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: Kind,
    rows: &[(L, f64)],
) -> fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    let mut m = enc.encode_descriptor(name, help, None, metric_type(kind))?;
    for (labels, v) in rows {
        value(m.encode_family(labels)?, kind, *v)?;
    }
    Ok(())
}

/// Encode a value, whole numbers without a fraction (`5`, not `5.0`).
fn value(mut m: MetricEncoder, kind: Kind, v: f64) -> fmt::Result {
    let whole = v.fract() == 0.0 && v.abs() < 9.0e15;
    match (kind, whole) {
        (Counter, true) if v >= 0.0 => m.encode_counter::<NoLabelSet, _, u64>(&(v as u64), None),
        (Counter, _) => m.encode_counter::<NoLabelSet, _, u64>(&v, None),
        (_, true) => m.encode_gauge(&(v as i64)),
        (_, false) => m.encode_gauge(&v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> String {
        let info = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:10\r\nprocess_id:7\r\n\
                    # Memory\r\nused_memory:2048\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n\
                    # Persistence\r\nrdb_last_bgsave_status:ok\r\nrdb_saves:2\r\n\
                    # Stats\r\ntotal_commands_processed:9\r\ntotal_error_replies:1\r\nused_cpu_sys:0.25\r\n\
                    # Commandstats\r\ncmdstat_set:calls=4,usec=40,usec_per_call=10.00,rejected_calls=0,failed_calls=1\r\n\
                    # Errorstats\r\nerrorstat_ERR:count=1\r\n\
                    # Latencystats\r\nlatency_percentiles_usec_set:p50=1.003,p99=2.007\r\n\
                    # Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=1500\r\n";
        let mut s = Snapshot::from_info(info, vec![(3, 1), (0, 0)]);
        s.unix_time = 1000.0;
        if let Some(set) = s.commands.first_mut() {
            set.histogram = vec![(1, 1), (2, 3), (8, 4)];
        }
        render(s).unwrap_or_default()
    }

    #[test]
    fn redis_exporter_names_and_labels() {
        let text = rendered();
        for line in [
            "redis_up 1",
            "redis_uptime_in_seconds 10",
            "redis_start_time_seconds 990",
            "redis_memory_used_bytes 2048",
            "redis_memory_max_bytes 0",
            "redis_rdb_last_bgsave_status 1",
            "redis_rdb_saves_total 2",
            "redis_commands_processed_total 9",
            "redis_total_error_replies 1",
            "redis_cpu_sys_seconds_total 0.25",
            "redis_commands_total{cmd=\"set\"} 4",
            "redis_commands_duration_seconds_total{cmd=\"set\"} 0.00004",
            "redis_commands_failed_calls_total{cmd=\"set\"} 1",
            "redis_errors_total{err=\"ERR\"} 1",
            "redis_db_keys{db=\"db0\"} 3",
            "redis_db_keys{db=\"db1\"} 0",
            "redis_db_keys_expiring{db=\"db0\"} 1",
            "redis_db_avg_ttl_seconds{db=\"db0\"} 1.5",
            "redis_latency_percentiles_usec{cmd=\"set\",quantile=\"0.99\"} 2.007",
            "redis_commands_latencies_usec_bucket{cmd=\"set\",le=\"2\"} 3",
            "redis_commands_latencies_usec_bucket{cmd=\"set\",le=\"+Inf\"} 4",
            "redis_commands_latencies_usec_count{cmd=\"set\"} 4",
            "# TYPE redis_commands_latencies_usec histogram",
            "# TYPE redis_total_error_replies untyped",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing line {:?} in:\n{}",
                line,
                text
            );
        }
        assert!(text.contains("redis_instance_info{role=\"\",redis_version=\"7.0.15\""));
        // Absent INFO fields are not invented.
        assert!(!text.contains("redis_connected_slaves"));
    }
}
