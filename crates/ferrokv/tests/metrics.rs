//! The built-in Prometheus endpoint and status page over TCP: off by default, on with
//! `--metrics-port` or CONFIG SET, `/metrics`, `/`, 404/405, a port in use at start-up,
//! scrapes during a write load, and stalled HTTP clients that must not slow commands.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ferrokv_bin, free_port, start_ferrokv, start_server, Conn, ServerGuard};

/// Start ferrokv with `--metrics-port` on a free port; returns the server and that port.
fn start_with_metrics(extra: &[&str]) -> (ServerGuard, u16) {
    let chosen = Arc::new(Mutex::new(0u16));
    let slot = chosen.clone();
    let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    let guard = start_server("ferrokv", &ferrokv_bin(), &move |port| {
        let metrics = free_port();
        *slot.lock().unwrap() = metrics;
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--threads",
            "2",
            "--save",
            "",
            "--appendonly",
            "no",
            "--metrics-port",
            &metrics.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().cloned());
        args
    });
    let port = *chosen.lock().unwrap();
    (guard, port)
}

/// Whether the endpoint answers a request now (a connection closed at accept does not).
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut raw = Vec::new();
    s.write_all(request.as_bytes()).is_ok()
        && s.read_to_end(&mut raw).is_ok()
        && raw.starts_with(b"HTTP/1.1 200")
}

/// One HTTP/1.1 request (`Connection: close`): (status, headers in lower case, body).
fn http(port: u16, method: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        method, path
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Wait until `f` holds (up to 5 s; the endpoint follows CONFIG SET within a second).
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for: {}", what);
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}

/// Inodes of the sockets the process has open.
fn socket_inodes(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{}/fd", pid)) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let target = std::fs::read_link(e.ok()?.path()).ok()?;
        let t = target.to_string_lossy().into_owned();
        Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
    })
    .collect()
}

/// Local ports the process listens on (from /proc/net/tcp{,6}, state 0A = LISTEN).
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes = socket_inodes(pid);
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9))
            else {
                continue;
            };
            if *state == "0A" && inodes.iter().any(|i| i == inode) {
                if let Some(p) = local
                    .rsplit(':')
                    .next()
                    .and_then(|h| u16::from_str_radix(h, 16).ok())
                {
                    ports.push(p);
                }
            }
        }
    }
    ports.sort_unstable();
    ports
}

#[test]
fn off_by_default_and_switched_by_config_set() {
    let server = start_ferrokv(1);
    let mut c = server.connect();
    let got = c.cmd(&["CONFIG", "GET", "metrics-port"]);
    assert_eq!(got.expect_array()[1].expect_text(), "0");
    let got = c.cmd(&["CONFIG", "GET", "metrics-bind"]);
    assert_eq!(got.expect_array()[1].expect_text(), "");
    assert_eq!(
        listening_ports(server.pid()),
        vec![server.port],
        "only the Redis port is open by default"
    );

    let port = free_port();
    let ok = c.cmd(&["CONFIG", "SET", "metrics-port", &port.to_string()]);
    assert_eq!(ok.expect_text(), "OK");
    eventually("the endpoint opens after CONFIG SET", || port_open(port));
    let (status, _, body) = http(port, "GET", "/metrics");
    assert_eq!(status, 200);
    assert_eq!(sample(&body, "redis_up"), Some(1.0));
    let mut expected = vec![server.port, port];
    expected.sort_unstable();
    assert_eq!(listening_ports(server.pid()), expected);

    // A bind that cannot work is logged; the endpoint stays closed until it is fixed.
    c.cmd(&["CONFIG", "SET", "metrics-bind", "192.0.2.1"]);
    eventually("the endpoint closes on an unusable bind", || {
        !port_open(port)
    });
    c.cmd(&["CONFIG", "SET", "metrics-bind", "127.0.0.1"]);
    eventually("the endpoint reopens", || port_open(port));

    let ok = c.cmd(&["CONFIG", "SET", "metrics-port", "0"]);
    assert_eq!(ok.expect_text(), "OK");
    eventually("the endpoint closes after CONFIG SET 0", || {
        listening_ports(server.pid()) == vec![server.port]
    });
    let bad = c.cmd(&["CONFIG", "SET", "metrics-port", "70000"]);
    assert!(bad.is_error(), "out of range port accepted: {:?}", bad);
}

#[test]
fn metrics_page_and_errors_over_http() {
    let (server, port) = start_with_metrics(&[]);
    let mut c = server.connect();
    for i in 0..5 {
        c.cmd(&["SET", &format!("k{}", i), "v"]);
    }
    c.cmd(&["EXPIRE", "k0", "100"]);
    c.cmd(&["GET", "k1"]);
    c.cmd(&["GET", "missing"]);
    c.cmd(&["LPUSH", "k1", "x"]); // WRONGTYPE

    let (status, head, body) = http(port, "GET", "/metrics");
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{}",
        head
    );
    assert_eq!(sample(&body, "redis_up"), Some(1.0));
    assert_eq!(
        sample(&body, "redis_commands_total{cmd=\"set\"}"),
        Some(5.0)
    );
    assert_eq!(sample(&body, "redis_db_keys{db=\"db0\"}"), Some(5.0));
    assert_eq!(
        sample(&body, "redis_db_keys_expiring{db=\"db0\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&body, "redis_db_keys{db=\"db15\"}"), Some(0.0));
    assert_eq!(sample(&body, "redis_keyspace_hits_total"), Some(1.0));
    assert_eq!(sample(&body, "redis_keyspace_misses_total"), Some(1.0));
    assert_eq!(
        sample(&body, "redis_errors_total{err=\"WRONGTYPE\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&body, "redis_commands_failed_calls_total{cmd=\"lpush\"}"),
        Some(1.0)
    );
    assert!(sample(&body, "redis_memory_used_bytes").unwrap_or(0.0) > 0.0);
    assert!(
        sample(&body, "redis_commands_latencies_usec_count{cmd=\"set\"}") == Some(5.0),
        "histogram count: {}",
        body
    );
    assert!(body.contains("redis_instance_info{role=\"master\",redis_version=\"7.0.15\""));

    let (status, head, page) = http(port, "GET", "/");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"));
    assert!(
        page.contains("data-field=\"keys\" data-value=\"5\""),
        "{}",
        page
    );
    assert!(!page.contains("<script"));

    let (status, _, _) = http(port, "GET", "/nope");
    assert_eq!(status, 404);
    let (status, head, _) = http(port, "POST", "/metrics");
    assert_eq!(status, 405);
    assert!(head.contains("allow: get, head"));
    let (status, _, body) = http(port, "HEAD", "/metrics");
    assert_eq!(status, 200);
    assert!(body.is_empty(), "HEAD has no body");
}

#[test]
fn metrics_port_in_use_stops_start_up() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = common::TempDir::new("metrics-in-use");
    let out = std::process::Command::new(ferrokv_bin())
        .args([
            "--port",
            &free_port().to_string(),
            "--metrics-port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ferrokv");
    assert_eq!(out.status.code(), Some(1));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("metrics endpoint"), "{}", text);
}

#[test]
fn scrapes_during_a_write_load_and_stalled_scrapers() {
    let (server, port) = start_with_metrics(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (stop, writes, redis_port) = (stop.clone(), writes.clone(), server.port);
            std::thread::spawn(move || {
                let mut c = Conn::connect(redis_port).expect("connect");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut batch = Vec::new();
                    for i in 0..50 {
                        let key = format!("w{}:{}", w, (n + i) % 2000);
                        common::encode_into(&mut batch, &["SET", key.as_str(), "value"]);
                    }
                    c.send_raw(&batch).expect("send");
                    for _ in 0..50 {
                        c.read_frame().expect("reply");
                    }
                    n += 50;
                    writes.fetch_add(50, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // Stalled HTTP clients: more than the endpoint serves at once, sending half a request.
    let stalled: Vec<TcpStream> = (0..40)
        .filter_map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").ok()?;
            Some(s)
        })
        .collect();
    assert!(!stalled.is_empty());

    // Commands keep their latency while the metrics thread is saturated.
    let mut c = server.connect();
    let mut worst = Duration::ZERO;
    for _ in 0..50 {
        let t = Instant::now();
        assert_eq!(c.cmd(&["PING"]).expect_text(), "PONG");
        worst = worst.max(t.elapsed());
    }
    assert!(worst < Duration::from_secs(1), "PING took {:?}", worst);
    drop(stalled);
    // The endpoint frees the stalled connections' slots once it sees them closed; until
    // then a new connection is closed at accept (by design), so wait for a served one.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers(port) {
        assert!(Instant::now() < deadline, "the endpoint never served again");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Scrapes during the load: every one parses, counters never go back.
    let mut last = 0.0;
    let mut scrapes = 0;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let (status, _, body) = http(port, "GET", "/metrics");
        assert_eq!(status, 200);
        let processed = sample(&body, "redis_commands_processed_total").expect("processed");
        assert!(processed >= last, "{} after {}", processed, last);
        last = processed;
        scrapes += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    assert!(scrapes >= 3, "only {} scrapes in 2 s", scrapes);
    let done = writes.load(Ordering::Relaxed);
    assert!(done > 0);
    let (_, _, body) = http(port, "GET", "/metrics");
    let set_calls = sample(&body, "redis_commands_total{cmd=\"set\"}").expect("set calls");
    assert_eq!(set_calls, done as f64, "every SET counted once");
}
