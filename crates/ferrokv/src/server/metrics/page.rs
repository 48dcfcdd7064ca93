//! `GET /`: the snapshot as a small HTML page for a person (no JavaScript; it reloads
//! itself every 5 seconds with a `<meta http-equiv="refresh">`). Every figure cell carries
//! `data-field="<INFO field>"` with the raw value, so tests can read the page back.

use std::fmt::Write;

use super::snapshot::Snapshot;

/// Commands listed in the table (the most called).
const TOP_COMMANDS: usize = 20;

const STYLE: &str = "\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f4f5f7;color:#1d2330}\
header{background:#1d2330;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}\
header p{margin:4px 0 0;color:#b8c0d0}main{padding:16px 24px;max-width:1100px}\
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:8px}\
.card{background:#fff;border-radius:8px;padding:10px 16px;min-width:140px;box-shadow:0 1px 2px #0002}\
.card .v{font-size:22px;font-weight:600}.card .l{color:#5b6475;font-size:12px;text-transform:uppercase}\
h2{font-size:16px;margin:20px 0 6px}.grid{display:flex;flex-wrap:wrap;gap:16px}\
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;border-radius:6px;overflow:hidden}\
th,td{padding:4px 12px;text-align:left;border-bottom:1px solid #eceef2}th{background:#e9ecf2;font-weight:600}\
td.n{text-align:right;font-variant-numeric:tabular-nums}footer{color:#5b6475;padding:12px 24px 24px}";

/// The status page.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let port = s.field("tcp_port").unwrap_or("?");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"5\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>ferrokv :{}</title><style>{}</style></head><body>\n",
        esc(port),
        STYLE
    );
    header(&mut out, s);
    out.push_str("<main>\n");
    cards(&mut out, s);
    out.push_str("<div class=\"grid\">\n");
    table_of_fields(&mut out, s, "Memory", MEMORY);
    table_of_fields(&mut out, s, "Clients and traffic", TRAFFIC);
    table_of_fields(&mut out, s, "Persistence", PERSISTENCE);
    out.push_str("</div>\n");
    keyspace(&mut out, s);
    commands(&mut out, s);
    errors(&mut out, s);
    let _ = write!(
        out,
        "</main><footer>Figures read at Unix time {:.0}, from the same sources as INFO. \
         Prometheus: <a href=\"/metrics\">/metrics</a>.</footer>\n</body></html>\n",
        s.unix_time
    );
    out
}

fn header(out: &mut String, s: &Snapshot) {
    let uptime = s.number("uptime_in_seconds").unwrap_or(0.0) as u64;
    let _ = writeln!(
        out,
        "<header><h1>ferrokv {}</h1><p>Redis {} compatible &middot; port {} &middot; role {} \
         &middot; pid {} &middot; up <span data-field=\"uptime_in_seconds\" data-value=\"{}\">{}</span></p></header>",
        esc(s.field("ferrokv_version").unwrap_or("")),
        esc(s.field("redis_version").unwrap_or("")),
        esc(s.field("tcp_port").unwrap_or("")),
        esc(s.field("role").unwrap_or("")),
        esc(s.field("process_id").unwrap_or("")),
        uptime,
        duration(uptime)
    );
}

/// The headline figures.
fn cards(out: &mut String, s: &Snapshot) {
    let hits = s.number("keyspace_hits").unwrap_or(0.0);
    let misses = s.number("keyspace_misses").unwrap_or(0.0);
    let ratio = if hits + misses > 0.0 {
        format!("{:.1}%", hits * 100.0 / (hits + misses))
    } else {
        "&ndash;".to_string()
    };
    let max = match s.number("maxmemory") {
        Some(m) if m > 0.0 => format!(" / {}", esc(s.field("maxmemory_human").unwrap_or(""))),
        _ => String::new(),
    };
    let total_keys = s.total_keys().to_string();
    let memory = format!("{}{}", esc(s.field("used_memory_human").unwrap_or("")), max);
    let items: [(&str, &str, String, String); 6] = [
        (
            "connected_clients",
            "clients",
            raw(s, "connected_clients"),
            esc(s.field("connected_clients").unwrap_or("0")),
        ),
        ("used_memory", "memory used", raw(s, "used_memory"), memory),
        ("keys", "keys", total_keys.clone(), total_keys),
        (
            "instantaneous_ops_per_sec",
            "ops/sec",
            raw(s, "instantaneous_ops_per_sec"),
            esc(s.field("instantaneous_ops_per_sec").unwrap_or("0")),
        ),
        (
            "total_commands_processed",
            "commands",
            raw(s, "total_commands_processed"),
            esc(s.field("total_commands_processed").unwrap_or("0")),
        ),
        (
            "hit_ratio",
            "hit ratio",
            format!("{}", hits / (hits + misses).max(1.0)),
            ratio,
        ),
    ];
    out.push_str("<section class=\"cards\">\n");
    for (field, label, value, shown) in items {
        let _ = writeln!(
            out,
            "<div class=\"card\"><div class=\"v\" data-field=\"{}\" data-value=\"{}\">{}</div><div class=\"l\">{}</div></div>",
            field,
            esc(&value),
            shown,
            label
        );
    }
    out.push_str("</section>\n");
}

const MEMORY: &[(&str, &str)] = &[
    ("used_memory_human", "used"),
    ("used_memory_rss_human", "resident (RSS)"),
    ("used_memory_peak_human", "peak"),
    ("maxmemory_human", "maxmemory"),
    ("maxmemory_policy", "policy"),
    ("mem_fragmentation_ratio", "fragmentation"),
];

const TRAFFIC: &[(&str, &str)] = &[
    ("connected_clients", "connected clients"),
    ("blocked_clients", "blocked clients"),
    ("total_connections_received", "connections received"),
    ("rejected_connections", "rejected connections"),
    ("total_net_input_bytes", "bytes in"),
    ("total_net_output_bytes", "bytes out"),
    ("expired_keys", "expired keys"),
    ("evicted_keys", "evicted keys"),
    ("keyspace_hits", "keyspace hits"),
    ("keyspace_misses", "keyspace misses"),
];

const PERSISTENCE: &[(&str, &str)] = &[
    ("aof_enabled", "append-only file"),
    ("aof_last_write_status", "last AOF write"),
    ("rdb_changes_since_last_save", "changes since save"),
    ("rdb_last_save_time", "last save"),
    ("rdb_last_bgsave_status", "last BGSAVE"),
    ("rdb_bgsave_in_progress", "BGSAVE running"),
    ("aof_rewrite_in_progress", "AOF rewrite running"),
    ("role", "role"),
    ("connected_slaves", "connected replicas"),
];

/// A two-column table of INFO fields (those INFO shows).
fn table_of_fields(out: &mut String, s: &Snapshot, title: &str, fields: &[(&str, &str)]) {
    let _ = writeln!(out, "<div><h2>{}</h2><table>", esc(title));
    for (field, label) in fields {
        if let Some(v) = s.field(field) {
            let _ = writeln!(
                out,
                "<tr><th>{}</th><td class=\"n\" data-field=\"{}\" data-value=\"{}\">{}</td></tr>",
                esc(label),
                field,
                esc(v),
                esc(&shown(s, field, v))
            );
        }
    }
    out.push_str("</table></div>\n");
}

fn keyspace(out: &mut String, s: &Snapshot) {
    out.push_str("<h2>Keyspace</h2><table id=\"keyspace\"><tr><th>database</th><th>keys</th><th>with a TTL</th></tr>\n");
    let mut any = false;
    for (i, (keys, expires)) in s.keyspace.iter().enumerate() {
        if *keys == 0 {
            continue;
        }
        any = true;
        let _ = writeln!(
            out,
            "<tr><td>db{i}</td><td class=\"n\" data-field=\"db{i}.keys\" data-value=\"{keys}\">{keys}</td>\
             <td class=\"n\" data-field=\"db{i}.expires\" data-value=\"{expires}\">{expires}</td></tr>"
        );
    }
    if !any {
        out.push_str("<tr><td colspan=\"3\">no keys</td></tr>\n");
    }
    out.push_str("</table>\n");
}

fn commands(out: &mut String, s: &Snapshot) {
    let mut cmds: Vec<_> = s.commands.iter().collect();
    cmds.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.name.cmp(&b.name)));
    out.push_str(
        "<h2>Commands</h2><table id=\"commands\"><tr><th>command</th><th>calls</th><th>µs/call</th>\
         <th>p50 µs</th><th>p99 µs</th><th>failed</th><th>rejected</th></tr>\n",
    );
    if cmds.is_empty() {
        out.push_str("<tr><td colspan=\"7\">no calls yet</td></tr>\n");
    }
    for c in cmds.into_iter().take(TOP_COMMANDS) {
        let pct = |want: f64| {
            c.percentiles
                .iter()
                .find(|(p, _)| (*p - want).abs() < 1e-9)
                .map_or("&ndash;".to_string(), |(_, us)| format!("{:.3}", us))
        };
        let per_call = if c.calls > 0 {
            c.usec as f64 / c.calls as f64
        } else {
            0.0
        };
        let name = esc(&c.name);
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td class=\"n\" data-field=\"cmdstat_{name}.calls\" data-value=\"{calls}\">{calls}</td>\
             <td class=\"n\">{per_call:.2}</td><td class=\"n\">{p50}</td><td class=\"n\">{p99}</td>\
             <td class=\"n\">{failed}</td><td class=\"n\">{rejected}</td></tr>",
            calls = c.calls,
            p50 = pct(50.0),
            p99 = pct(99.0),
            failed = c.failed_calls,
            rejected = c.rejected_calls,
        );
    }
    out.push_str("</table>\n");
}

fn errors(out: &mut String, s: &Snapshot) {
    if s.errors.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Error replies</h2><table id=\"errors\"><tr><th>code</th><th>count</th></tr>\n",
    );
    for (code, n) in &s.errors {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
            esc(code),
            n
        );
    }
    out.push_str("</table>\n");
}

/// How a field reads for a person: flags as yes/no, byte counts with units, times as ages.
fn shown(s: &Snapshot, field: &str, v: &str) -> String {
    match field {
        "aof_enabled" | "rdb_bgsave_in_progress" | "aof_rewrite_in_progress" => {
            if v == "0" { "no" } else { "yes" }.to_string()
        }
        "total_net_input_bytes" | "total_net_output_bytes" => v.parse().map_or_else(
            |_| v.to_string(),
            crate::commands::families::server::bytes_to_human,
        ),
        "rdb_last_save_time" => match v.parse::<f64>() {
            Ok(at) => format!("{} ago", duration((s.unix_time - at).max(0.0) as u64)),
            Err(_) => v.to_string(),
        },
        _ => v.to_string(),
    }
}

/// An INFO field's raw text for a `data-value` attribute.
fn raw(s: &Snapshot, field: &str) -> String {
    s.field(field).unwrap_or("0").to_string()
}

/// `3d 4h 5m 6s`, leading zero units left out.
fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{}s", s),
        (0, 0, _) => format!("{}m {}s", m, s),
        (0, _, _) => format!("{}h {}m {}s", h, m, s),
        _ => format!("{}d {}h {}m {}s", d, h, m, s),
    }
}

/// Text escaped for HTML (element content and quoted attributes).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(65), "1m 5s");
        assert_eq!(duration(3 * 3600 + 7), "3h 0m 7s");
        assert_eq!(duration(2 * 86400 + 61), "2d 0h 1m 1s");
    }

    #[test]
    fn page_shows_the_figures() {
        let info = "# Server\r\nredis_version:7.0.15\r\nferrokv_version:0.1.0\r\ntcp_port:6379\r\n\
                    uptime_in_seconds:61\r\n# Clients\r\nconnected_clients:3\r\n\
                    # Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n\
                    # Commandstats\r\ncmdstat_set:calls=7,usec=70,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n";
        let s = Snapshot::from_info(info, vec![(5, 2), (0, 0), (1, 0)]);
        let html = render(&s);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("data-field=\"connected_clients\" data-value=\"3\""));
        assert!(html.contains("data-field=\"keys\" data-value=\"6\""));
        assert!(html.contains("data-field=\"db0.keys\" data-value=\"5\""));
        assert!(html.contains("data-field=\"db2.keys\" data-value=\"1\""));
        assert!(!html.contains("db1.keys"), "empty databases are left out");
        assert!(html.contains("data-field=\"cmdstat_set.calls\" data-value=\"7\""));
        assert!(html.contains("1m 1s"));
        assert!(!html.contains("<script"));
    }
}
