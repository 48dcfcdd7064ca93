//! The server process as an operator sees it: start-up errors, signals, limits that close
//! connections.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ferrokv_bin, start_ferrokv, Conn};

/// Wait for a child to exit, up to `limit`.
fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn port_in_use_is_a_clear_error_and_exit_code_1() {
    let first = start_ferrokv(1);
    let out = Command::new(ferrokv_bin())
        .args(["--port", &first.port.to_string()])
        .current_dir(first.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run second server");
    assert_eq!(out.status.code(), Some(1), "exit status {:?}", out.status);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("Address already in use") && text.contains(&first.port.to_string()),
        "message: {}",
        text
    );
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let dir = common::TempDir::new("sigterm");
    let port = common::free_port();
    let mut child = Command::new(ferrokv_bin())
        .args(["--port", &port.to_string()])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start server");
    let start = Instant::now();
    while Conn::connect(port).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = Conn::connect(port).expect("connect");
    // The append-only file may still be loading (-LOADING) for a moment.
    while c.cmd(&["PING"]).text().as_deref() != Some("PONG") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server did not answer PING"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) with a valid pid of our own child and a standard signal.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = wait_exit(&mut child, Duration::from_secs(10)).expect("server exits on SIGTERM");
    assert_eq!(status.code(), Some(0));
    let out = child.wait_with_output().expect("output");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("SIGTERM"), "log: {}", log);
}

#[test]
fn oversized_requests_are_refused_without_allocating() {
    let server = start_ferrokv(1);
    // A 4 GiB bulk length is refused at once with Redis's error, and the connection closes.
    let mut c = server.connect();
    c.send_raw(b"*1\r\n$4294967296\r\n").expect("send");
    let (bytes, closed) = c.read_until_close(Duration::from_secs(5));
    assert_eq!(bytes, b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(closed);

    // Past client-query-buffer-limit the connection is closed (Redis: no reply).
    let mut admin = server.connect();
    assert!(!admin
        .cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1048576"])
        .is_error());
    let mut c = server.connect();
    let mut big = b"*2\r\n$3\r\nGET\r\n$10000000\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
    let _ = c.send_raw(&big);
    let (_, closed) = c.read_until_close(Duration::from_secs(5));
    assert!(closed, "connection past the query buffer limit stays open");
    // The server is fine.
    assert_eq!(admin.cmd(&["PING"]).text().as_deref(), Some("PONG"));
}

#[test]
fn every_pipelined_command_has_its_own_time() {
    // Redis takes a time snapshot per command, not per read: in one pipeline, a key that
    // expires while an earlier command runs is gone for the later ones.
    let server = start_ferrokv(1);
    let mut c = server.connect();
    let mut batch = Vec::new();
    common::encode_into(&mut batch, &["SET", "k", "v", "PX", "100"]);
    common::encode_into(&mut batch, &["DEBUG", "SLEEP", "0.3"]);
    common::encode_into(&mut batch, &["GET", "k"]);
    c.send_raw(&batch).expect("send pipeline");
    assert_eq!(c.read_reply().expect_text(), "OK");
    assert_eq!(c.read_reply().expect_text(), "OK");
    assert_eq!(c.read_reply(), common::Reply::Nil);
}

/// True when `bytes` hold an ESC (the start of every ANSI colour code).
fn has_escape(bytes: &[u8]) -> bool {
    bytes.contains(&0x1b)
}

#[test]
fn logs_to_a_redirected_stderr_or_a_logfile_are_plain_text() {
    // stderr and stdout to a file, as `ferrokv-server > server.log 2>&1` does.
    let server = start_ferrokv(1);
    let mut c = server.connect();
    assert_eq!(c.cmd(&["PING"]).text().as_deref(), Some("PONG"));
    let log = std::fs::read(server.dir.path().join("server.log")).expect("read log");
    let text = String::from_utf8_lossy(&log);
    assert!(text.contains("Ready to accept connections"), "log: {text}");
    assert!(text.contains("INFO"), "the level is kept: {text}");
    assert!(
        text.lines().next().is_some_and(|l| l.starts_with("20")),
        "lines start with a timestamp: {text}"
    );
    assert!(!has_escape(&log), "escape codes in the log: {text:?}");

    // --logfile: the same, in the named file.
    let dir = common::TempDir::new("logfile");
    let port = common::free_port();
    let logfile = dir.path().join("ferrokv.log");
    let mut child = Command::new(ferrokv_bin())
        .args([
            "--port",
            &port.to_string(),
            "--appendonly",
            "no",
            "--save",
            "",
        ])
        .arg("--logfile")
        .arg(&logfile)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    let start = Instant::now();
    let ready = |log: &[u8]| String::from_utf8_lossy(log).contains("Ready to accept connections");
    while !std::fs::read(&logfile).is_ok_and(|l| ready(&l)) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read(&logfile).expect("read logfile");
    let text = String::from_utf8_lossy(&log);
    assert!(text.contains("Ready to accept connections"), "log: {text}");
    assert!(!has_escape(&log), "escape codes in the log file: {text:?}");
    assert!(
        has_escape(b"\x1b[32m INFO"),
        "the check sees an escape code"
    );
}
