//! Server commands over real TCP against the built `ferrokv-server` binary: INFO's
//! sections, CLIENT LIST/KILL across connections, MONITOR, SLOWLOG, CLIENT PAUSE, CLIENT
//! REPLY, CONFIG REWRITE, DEBUG gating and SHUTDOWN.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{
    encode, start_ferrokv_with, start_ferrokv_with_config, Conn, ReadFail, Reply, ServerGuard,
    TempDir,
};

/// Worker threads: 0 is one per core, the server's default.
const THREADS: usize = 0;

/// Start the server with `extra` arguments; DEBUG is refused unless `extra` enables it.
fn start(extra: &[&str]) -> ServerGuard {
    let mut args = vec!["--enable-debug-command", "no"];
    args.extend_from_slice(extra);
    start_ferrokv_with(THREADS, &args)
}

fn start_debug() -> ServerGuard {
    start(&["--enable-debug-command", "yes"])
}

/// True when reading gives no reply because the server closed the connection.
fn closed(r: Result<Vec<u8>, ReadFail>) -> bool {
    matches!(r, Err(ReadFail::Closed(_)))
}

/// INFO text -> section name -> field -> value.
fn parse_info(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = String::new();
    for line in text.split("\r\n") {
        if let Some(name) = line.strip_prefix("# ") {
            current = name.to_string();
            sections.entry(current.clone()).or_default();
        } else if let Some((k, v)) = line.split_once(':') {
            sections
                .entry(current.clone())
                .or_default()
                .insert(k.to_string(), v.to_string());
        }
    }
    sections
}

#[test]
fn info_parses_into_sections_with_redis_fields() {
    let server = start_debug();
    let mut c = server.connect();
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::Simple("OK".into()));
    assert!(matches!(c.cmd(&["GET"]), Reply::Error(_)));
    assert!(matches!(c.cmd(&["NOSUCHCOMMAND"]), Reply::Error(_)));
    let text = c.cmd(&["INFO", "everything"]).expect_text();
    assert!(text.starts_with("# Server\r\nredis_version:7.0.15\r\n"));
    assert!(
        text.contains("\r\n\r\n# Clients\r\n"),
        "blank line between sections"
    );
    let info = parse_info(&text);
    for name in [
        "Server",
        "Clients",
        "Memory",
        "Persistence",
        "Stats",
        "Replication",
        "CPU",
        "Modules",
        "Commandstats",
        "Errorstats",
        "Latencystats",
        "Cluster",
        "Keyspace",
    ] {
        assert!(info.contains_key(name), "section {} missing", name);
    }
    let server_s = &info["Server"];
    assert_eq!(server_s["ferrokv_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(server_s["tcp_port"], server.port.to_string());
    assert_eq!(server_s["process_id"], server.pid().to_string());
    for field in [
        "run_id",
        "uptime_in_seconds",
        "hz",
        "lru_clock",
        "executable",
    ] {
        assert!(server_s.contains_key(field), "server field {}", field);
    }
    let mem = &info["Memory"];
    assert!(mem["used_memory"].parse::<u64>().expect("number") > 0);
    assert!(mem["used_memory_rss"].parse::<u64>().expect("number") > 0);
    assert!(mem.contains_key("used_memory_human"));
    assert!(mem.contains_key("maxmemory_policy"));
    assert_eq!(info["Clients"]["connected_clients"], "1");
    let stats = &info["Stats"];
    assert!(stats["total_commands_processed"].parse::<u64>().expect("n") >= 1);
    assert!(stats.contains_key("instantaneous_ops_per_sec"));
    assert_eq!(info["Persistence"]["aof_enabled"], "0");
    assert_eq!(info["Replication"]["role"], "master");
    assert!(info["CPU"]["used_cpu_user"].parse::<f64>().is_ok());
    assert_eq!(info["Keyspace"]["db0"], "keys=1,expires=0,avg_ttl=0");
    let set = &info["Commandstats"]["cmdstat_set"];
    assert!(set.starts_with("calls=1,usec="), "{}", set);
    assert!(set.ends_with(",rejected_calls=0,failed_calls=0"), "{}", set);
    assert!(info["Commandstats"]["cmdstat_get"].contains("rejected_calls=1"));
    assert_eq!(info["Errorstats"]["errorstat_ERR"], "count=2");
    assert_eq!(info["Cluster"]["cluster_enabled"], "0");

    // Default sections leave commandstats out; named sections select.
    let default = parse_info(&c.cmd(&["INFO"]).expect_text());
    assert!(!default.contains_key("Commandstats"));
    let two = parse_info(&c.cmd(&["INFO", "cpu", "KEYSPACE"]).expect_text());
    assert_eq!(two.len(), 2);

    // CONFIG RESETSTAT clears the counters.
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), Reply::Simple("OK".into()));
    let after = parse_info(&c.cmd(&["INFO", "commandstats", "errorstats"]).expect_text());
    assert!(after["Errorstats"].is_empty());
    assert!(!after["Commandstats"].contains_key("cmdstat_set"));
}

#[test]
fn client_list_and_kill_across_connections() {
    let server = start_debug();
    let mut a = server.connect();
    let mut b = server.connect();
    let mut c = server.connect();
    assert_eq!(
        b.cmd(&["CLIENT", "SETNAME", "bee"]),
        Reply::Simple("OK".into())
    );
    let b_id = b.cmd(&["CLIENT", "ID"]).expect_int();
    assert_eq!(b.cmd(&["SELECT", "3"]), Reply::Simple("OK".into()));
    c.cmd(&["PING"]);
    let list = a.cmd(&["CLIENT", "LIST"]).expect_text();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{}", list);
    let b_line = lines
        .iter()
        .find(|l| l.contains("name=bee"))
        .expect("B is listed");
    assert!(b_line.starts_with(&format!("id={} addr=127.0.0.1:", b_id)));
    assert!(b_line.contains(" db=3 "), "{}", b_line);
    assert!(b_line.contains(" cmd=select "), "{}", b_line);
    for field in [
        "laddr=",
        "fd=",
        "age=",
        "idle=",
        "flags=N",
        "sub=0",
        "psub=0",
        "ssub=0",
        "multi=-1",
        "qbuf=",
        "qbuf-free=",
        "argv-mem=",
        "multi-mem=",
        "rbs=",
        "rbp=",
        "obl=",
        "oll=",
        "omem=",
        "tot-mem=",
        "events=r",
        "user=default",
        "redir=-1",
        "resp=2",
        "lib-name=",
        "lib-ver=",
    ] {
        assert!(b_line.contains(field), "{} missing in {}", field, b_line);
    }
    let own = a.cmd(&["CLIENT", "INFO"]).expect_text();
    assert!(own.contains(" cmd=client|info "), "{}", own);
    let only_b = a
        .cmd(&["CLIENT", "LIST", "ID", &b_id.to_string()])
        .expect_text();
    assert_eq!(only_b.lines().count(), 1);

    // New form: by id.
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", &b_id.to_string()]),
        Reply::Int(1)
    );
    assert!(closed(b.read_frame()), "B's connection is closed");
    // Old form: by address.
    let c_line = a.cmd(&["CLIENT", "INFO"]).expect_text();
    let a_addr = c_line
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .expect("addr")
        .to_string();
    let list = a.cmd(&["CLIENT", "LIST"]).expect_text();
    let c_addr = list
        .lines()
        .flat_map(|l| l.split(' '))
        .filter_map(|f| f.strip_prefix("addr="))
        .find(|addr| *addr != a_addr)
        .expect("C's address")
        .to_string();
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", &c_addr]),
        Reply::Simple("OK".into())
    );
    assert!(closed(c.read_frame()), "C's connection is closed");
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", &c_addr]),
        Reply::Error("ERR No such client".into())
    );
    // SKIPME yes (default) spares the caller.
    assert_eq!(a.cmd(&["CLIENT", "KILL", "TYPE", "normal"]), Reply::Int(0));
    assert_eq!(a.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn monitor_receives_another_clients_commands() {
    let server = start_debug();
    let mut mon = server.connect();
    let mut other = server.connect();
    assert_eq!(mon.cmd(&["MONITOR"]), Reply::Simple("OK".into()));
    other.cmd(&["SET", "key", "hello world"]);
    other.cmd(&["CONFIG", "GET", "hz"]); // admin commands are not shown
    other.cmd(&["GET", "key"]);
    let line = |r: Reply| match r {
        Reply::Simple(s) => s,
        other => panic!("not a status line: {:?}", other),
    };
    let first = line(mon.read_reply());
    let second = line(mon.read_reply());
    // +1339518083.107412 [0 127.0.0.1:60866] "set" "key" "hello world"
    let rest = first.as_str();
    let (ts, tail) = rest.split_once(' ').expect("timestamp");
    let (secs, micros) = ts.split_once('.').expect("seconds.micros");
    assert!(
        secs.parse::<u64>().is_ok() && micros.len() == 6,
        "{}",
        first
    );
    assert!(tail.starts_with("[0 127.0.0.1:"), "{}", first);
    assert!(
        tail.ends_with("] \"SET\" \"key\" \"hello world\""),
        "{}",
        first
    );
    assert!(second.ends_with("\"GET\" \"key\""), "{}", second);
}

#[test]
fn slowlog_records_debug_sleep() {
    let server = start_debug();
    let mut c = server.connect();
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), Reply::Simple("OK".into()));
    assert_eq!(
        c.cmd(&["CLIENT", "SETNAME", "sleeper"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        c.cmd(&["DEBUG", "SLEEP", "0.03"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Reply::Int(1));
    let entries = c.cmd(&["SLOWLOG", "GET"]);
    let entry = entries.expect_array()[0].expect_array();
    assert_eq!(entry.len(), 6);
    assert!(entry[2].expect_int() >= 30_000, "duration {:?}", entry[2]);
    let args: Vec<String> = entry[3]
        .expect_array()
        .iter()
        .map(Reply::expect_text)
        .collect();
    assert_eq!(args, ["DEBUG", "SLEEP", "0.03"]);
    assert!(entry[4].expect_text().starts_with("127.0.0.1:"));
    assert_eq!(entry[5].expect_text(), "sleeper");
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), Reply::Simple("OK".into()));
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Reply::Int(0));

    // The latency monitor sees it too once enabled.
    c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "10"]);
    c.cmd(&["DEBUG", "SLEEP", "0.02"]);
    let latest = c.cmd(&["LATENCY", "LATEST"]);
    let ev = latest.expect_array()[0].expect_array();
    assert_eq!(ev[0].expect_text(), "command");
    assert!(ev[2].expect_int() >= 20);
    assert_eq!(c.cmd(&["LATENCY", "RESET"]), Reply::Int(1));
}

#[test]
fn client_pause_write_delays_set_but_not_get() {
    let server = start_debug();
    let mut admin = server.connect();
    let mut c = server.connect();
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "600", "WRITE"]),
        Reply::Simple("OK".into())
    );
    let t = Instant::now();
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
    assert!(t.elapsed() < Duration::from_millis(300), "GET was held");
    let t = Instant::now();
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::Simple("OK".into()));
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "SET was not held"
    );

    // UNPAUSE releases held writes at once.
    admin.cmd(&["CLIENT", "PAUSE", "5000", "WRITE"]);
    let mut writer = server.connect();
    writer.send(&["SET", "k", "w"]).expect("send");
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    assert_eq!(
        admin.cmd(&["CLIENT", "UNPAUSE"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(writer.read_reply(), Reply::Simple("OK".into()));
    assert!(t.elapsed() < Duration::from_millis(1000));
}

#[test]
fn client_reply_off_and_skip() {
    let server = start_debug();
    let mut c = server.connect();
    let mut bytes = Vec::new();
    for cmd in [
        &["CLIENT", "REPLY", "OFF"][..],
        &["PING", "a"],
        &["CLIENT", "REPLY", "ON"],
        &["CLIENT", "REPLY", "SKIP"],
        &["PING", "b"],
        &["PING", "c"],
        &["CLIENT", "REPLY", "SKIP"],
        &["CLIENT", "REPLY", "SKIP"],
        &["PING", "d"],
        &["PING", "e"],
    ] {
        bytes.extend(encode(cmd));
    }
    c.send_raw(&bytes).expect("write");
    assert_eq!(c.read_reply(), Reply::Simple("OK".into()));
    assert_eq!(c.read_reply(), Reply::Bulk(b"c".to_vec()));
    assert_eq!(c.read_reply(), Reply::Bulk(b"e".to_vec()));
}

#[test]
fn config_rewrite_and_set_atomicity() {
    let dir = TempDir::new("rewrite");
    let conf = dir.path().join("ferrokv.conf");
    std::fs::write(&conf, "# my settings\nhz 15\nmaxmemory 2mb\n").expect("write conf");
    let server = start_ferrokv_with_config(&conf, THREADS, &["--enable-debug-command", "no"]);
    let mut c = server.connect();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "1mb", "hz", "bogus"]),
        Reply::Error(
            "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
                .into()
        )
    );
    let got = c.cmd(&["CONFIG", "GET", "maxmemory"]);
    assert_eq!(
        got.expect_array()[1].expect_text(),
        "2097152",
        "nothing changed"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "1mb", "slowlog-max-len", "7"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), Reply::Simple("OK".into()));
    let text = std::fs::read_to_string(&conf).expect("read conf");
    assert!(
        text.starts_with("# my settings\nhz 15\nmaxmemory 1048576\n"),
        "{}",
        text
    );
    assert!(text.contains("slowlog-max-len 7\n"), "{}", text);
    let info = parse_info(&c.cmd(&["INFO", "server"]).expect_text());
    assert!(info["Server"]["config_file"].ends_with("ferrokv.conf"));
    drop(server);
    drop(dir);

    let plain = start(&[]);
    let mut c = plain.connect();
    assert_eq!(
        c.cmd(&["CONFIG", "REWRITE"]),
        Reply::Error("ERR The server is running without a config file".into())
    );
}

#[test]
fn debug_is_refused_by_default() {
    let server = start(&[]);
    let mut c = server.connect();
    let r = c.cmd(&["DEBUG", "SLEEP", "0"]);
    assert_eq!(
        r,
        Reply::Error("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.".into())
    );
    let local = start(&["--enable-debug-command", "local"]);
    let mut c = local.connect();
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0"]), Reply::Simple("OK".into()));
}

#[test]
fn shutdown_stops_the_server() {
    let mut server = start(&[]);
    let mut c = server.connect();
    assert!(matches!(
        c.cmd(&["SHUTDOWN", "BOGUS"]),
        Reply::Error(e) if e == "ERR syntax error"
    ));
    c.send(&["SHUTDOWN", "NOSAVE"]).expect("send");
    assert!(closed(c.read_frame()), "no reply, connection closed");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if !server.is_running() {
            break;
        }
        assert!(Instant::now() < deadline, "server still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn debug_digest_matches_redis() {
    let server = start_debug();
    let mut c = server.connect();
    assert_eq!(
        c.cmd(&["DEBUG", "DIGEST"]).expect_text(),
        "0000000000000000000000000000000000000000"
    );
    c.cmd(&["SET", "n", "123"]);
    c.cmd(&["SET", "s", "hello"]);
    // Values computed by redis-server 7.0.15 for the same dataset.
    assert_eq!(
        c.cmd(&["DEBUG", "DIGEST"]).expect_text(),
        "5b647eb0c31e0d2050a71d4c3a3e3f52d435916e"
    );
    let v = c.cmd(&["DEBUG", "DIGEST-VALUE", "s", "missing"]);
    assert_eq!(
        v.expect_array()[0].expect_text(),
        "36b23a1456b2dce2c3ed252c456761301dba8060"
    );
    assert_eq!(v.expect_array()[1].expect_text(), "0".repeat(40));
}

/// LATENCY HISTOGRAM: calls and a cumulative histogram per command with calls, a container
/// standing for its subcommands, unknown names skipped; CONFIG RESETSTAT clears it; INFO
/// latencystats shows the configured percentiles.
#[test]
fn latency_histogram_and_latencystats() {
    let server = start(&[]);
    let mut c = server.connect();
    assert!(!c.cmd(&["HELLO", "3"]).is_error());
    c.cmd(&["CONFIG", "RESETSTAT"]).expect_text();
    c.cmd(&["SET", "a", "b"]).expect_text();
    c.cmd(&["SET", "c", "d"]).expect_text();
    c.cmd(&["CLIENT", "ID"]);
    /// (command, calls, [(bucket µs, cumulative calls)]).
    type Histogram = (String, i64, Vec<(i64, i64)>);
    let histo = |c: &mut Conn, args: &[&str]| -> Vec<Histogram> {
        let mut full = vec!["LATENCY", "HISTOGRAM"];
        full.extend_from_slice(args);
        let Reply::Map(entries) = c.cmd(&full) else {
            panic!("LATENCY HISTOGRAM is a map");
        };
        entries
            .into_iter()
            .map(|(name, v)| {
                let Reply::Map(fields) = v else {
                    panic!("a map per command")
                };
                assert_eq!(fields[0].0.expect_text(), "calls");
                assert_eq!(fields[1].0.expect_text(), "histogram_usec");
                let Reply::Map(buckets) = &fields[1].1 else {
                    panic!("histogram map")
                };
                let buckets: Vec<(i64, i64)> = buckets
                    .iter()
                    .map(|(k, v)| (k.expect_int(), v.expect_int()))
                    .collect();
                (name.expect_text(), fields[0].1.expect_int(), buckets)
            })
            .collect()
    };
    let set = histo(&mut c, &["set", "nosuch"]);
    assert_eq!(set.len(), 1);
    assert_eq!((set[0].0.as_str(), set[0].1), ("set", 2));
    let buckets = &set[0].2;
    assert!(buckets
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    assert_eq!(
        buckets.last().map(|b| b.1),
        Some(2),
        "cumulative up to all calls"
    );
    let client = histo(&mut c, &["client"]);
    assert_eq!(client.len(), 1);
    assert_eq!((client[0].0.as_str(), client[0].1), ("client|id", 1));
    let all = histo(&mut c, &[]);
    assert!(all.iter().any(|e| e.0 == "config|resetstat"));
    let info = c.cmd(&["INFO", "latencystats"]).expect_text();
    let line = info
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_set:"))
        .unwrap_or_else(|| panic!("no SET line in {info}"));
    assert!(
        line.contains(":p50=") && line.contains(",p99=") && line.contains(",p99.9="),
        "{line}"
    );
    c.cmd(&["CONFIG", "RESETSTAT"]).expect_text();
    assert!(
        histo(&mut c, &["set"]).is_empty(),
        "RESETSTAT clears the histograms"
    );
}

/// CONFIG SET port moves the listener (new connections on the new port, existing ones
/// unaffected); a port in use fails the whole CONFIG SET with Redis's text and nothing
/// changes; setting the current port again is a no-op.
#[test]
fn config_set_port_rebinds_and_rolls_back() {
    let server = start(&[]);
    let mut c = server.connect();
    c.cmd(&["SET", "k", "v"]).expect_text();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a busy port");
    let busy_port = busy.local_addr().expect("addr").port().to_string();
    let old_maxmemory = c.cmd(&["CONFIG", "GET", "maxmemory"]).expect_array()[1].expect_text();
    let refused = c.cmd(&["CONFIG", "SET", "maxmemory", "12345", "port", &busy_port]);
    assert_eq!(
        refused,
        Reply::Error(
            "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on \
             this port. Check server logs."
                .into()
        )
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]).expect_array()[1].expect_text(),
        old_maxmemory,
        "rolled back"
    );
    let same = server.port.to_string();
    assert_eq!(c.cmd(&["CONFIG", "SET", "port", &same]).expect_text(), "OK");
    drop(busy);
    let new_port = common::free_port();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "port", &new_port.to_string()])
            .expect_text(),
        "OK"
    );
    assert_eq!(
        c.cmd(&["GET", "k"]).expect_text(),
        "v",
        "old connection still served"
    );
    let mut moved = Conn::connect(new_port).expect("connect on the new port");
    assert_eq!(moved.cmd(&["GET", "k"]).expect_text(), "v");
    let info = moved.cmd(&["INFO", "server"]).expect_text();
    assert!(info.contains(&format!("tcp_port:{new_port}")), "{info}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Conn::connect(server.port).is_ok() {
        assert!(Instant::now() < deadline, "the old port still accepts");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// MONITOR and SLOWLOG never show passwords: AUTH's arguments, HELLO's `AUTH user pass`
/// and MIGRATE's `AUTH pass` / `AUTH2 user pass` read `(redacted)`, as in Redis 7.0.
#[test]
fn monitor_and_slowlog_redact_passwords() {
    let server = start_debug();
    let mut mon = server.connect();
    let mut other = server.connect();
    assert_eq!(mon.cmd(&["MONITOR"]), Reply::Simple("OK".into()));
    other.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    other.cmd(&["AUTH", "not-real", "not-a-password"]);
    other.cmd(&["HELLO", "2", "AUTH", "not-real", "not-a-password"]);
    other.cmd(&["SET", "k", "v"]);
    let line = |r: Reply| match r {
        Reply::Simple(s) => s,
        other => panic!("not a status line: {:?}", other),
    };
    let auth = line(mon.read_reply());
    let hello = line(mon.read_reply());
    assert!(
        auth.ends_with("\"AUTH\" \"(redacted)\" \"(redacted)\""),
        "{auth}"
    );
    assert!(
        hello.ends_with("\"HELLO\" \"2\" \"AUTH\" \"(redacted)\" \"(redacted)\""),
        "{hello}"
    );
    assert!(line(mon.read_reply()).ends_with("\"SET\" \"k\" \"v\""));
    let log = other.request(&["SLOWLOG", "GET", "10"]).expect("SLOWLOG");
    let text = String::from_utf8_lossy(&log);
    assert!(!text.contains("not-a-password"), "{text}");
    assert!(text.contains("(redacted)"), "{text}");
}

/// RESET: back to database 0, RESP2, no name, no MULTI, replies on, as Redis 7.0 (which
/// keeps CLIENT NO-EVICT).
#[test]
fn reset_clears_connection_state_as_redis_7_0() {
    let server = start(&[]);
    let mut c = server.connect();
    c.cmd(&["CLIENT", "SETNAME", "foo"]).expect_text();
    c.cmd(&["SELECT", "3"]).expect_text();
    c.cmd(&["CLIENT", "NO-EVICT", "on"]).expect_text();
    c.cmd(&["MULTI"]).expect_text();
    assert_eq!(c.cmd(&["RESET"]), Reply::Simple("RESET".into()));
    let info = c.cmd(&["CLIENT", "INFO"]).expect_text();
    for field in [" name= ", " flags=e ", " db=0 ", " multi=-1 ", " resp=2"] {
        assert!(info.contains(field), "{field} in {info}");
    }
}

/// Past `maxmemory` (nothing evicts yet), writes that grow memory are refused with Redis's
/// OOM error, while reads, deletes and a raised limit work; the limit is compared with the
/// memory in use, not with a count of keys.
#[test]
fn writes_past_maxmemory_get_oom() {
    let server = common::start_ferrokv(2);
    let mut c = server.connect();
    let info = match c.cmd(&["INFO", "memory"]) {
        common::Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    };
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory");
    let limit = (used + 4 * 1024 * 1024).to_string();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", limit.as_str()]),
        common::Reply::Simple("OK".into())
    );
    let value = "x".repeat(1000);
    let mut stored = 0;
    let refused = loop {
        let key = format!("key:{stored}");
        match c.cmd(&["SET", key.as_str(), value.as_str()]) {
            common::Reply::Simple(_) => stored += 1,
            common::Reply::Error(e) => break e,
            other => panic!("{other:?}"),
        }
        assert!(stored < 100_000, "no OOM after {stored} writes of 1 KB");
    };
    assert_eq!(
        refused,
        "OOM command not allowed when used memory > 'maxmemory'."
    );
    assert!(stored > 100, "refused after only {stored} keys");
    assert_eq!(
        c.cmd(&["GET", "key:0"]),
        common::Reply::Bulk(value.clone().into_bytes())
    );
    assert_eq!(c.cmd(&["DEL", "key:0"]), common::Reply::Int(1));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "0"]),
        common::Reply::Simple("OK".into())
    );
    assert_eq!(
        c.cmd(&["SET", "after", "1"]),
        common::Reply::Simple("OK".into())
    );
}

/// A restart with a `maxmemory` below the data in the append-only file loads all of it:
/// the log's replay is never refused for memory (Redis's rule); new writes are.
#[test]
fn aof_replay_ignores_maxmemory() {
    let dir = common::TempDir::new("oom-aof");
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        dir_arg.as_str(),
    ];
    {
        let mut server = common::start_ferrokv_with(2, &args);
        let mut c = server.connect();
        let value = "y".repeat(1000);
        for i in 0..2000 {
            let key = format!("k{i}");
            c.cmd(&["SET", key.as_str(), value.as_str()]);
        }
        assert_eq!(c.cmd(&["DBSIZE"]), common::Reply::Int(2000));
        c.send(&["SHUTDOWN", "NOSAVE"]).expect("send");
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.is_running() {
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut limited = args.to_vec();
    limited.extend_from_slice(&["--maxmemory", "1"]);
    let server = common::start_ferrokv_with(2, &limited);
    let mut c = server.connect();
    assert_eq!(c.cmd(&["DBSIZE"]), common::Reply::Int(2000));
    assert!(c.cmd(&["SET", "new", "v"]).is_error());
}

/// INFO's layout is Redis's, line for line: the same section headers and field names in
/// the same order, a blank line between sections and none after the last (values differ).
#[test]
fn info_layout_matches_redis() {
    let ferrokv = common::start_ferrokv(2);
    let redis = common::start_redis();
    let shape = |c: &mut common::Conn, args: &[&str]| -> Vec<String> {
        let text = match c.cmd(args) {
            common::Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("{other:?}"),
        };
        assert!(
            !text.ends_with("\r\n\r\n"),
            "{args:?}: blank line at the end"
        );
        text.split("\r\n")
            .map(|l| l.split(':').next().unwrap_or_default().to_string())
            .collect()
    };
    let (mut f, mut r) = (ferrokv.connect(), redis.connect());
    for args in [
        &["INFO", "memory"][..],
        &["INFO", "stats"],
        &["INFO", "memory", "clients"],
        &["INFO", "keyspace"],
    ] {
        assert_eq!(shape(&mut f, args), shape(&mut r, args), "{args:?}");
    }
}
