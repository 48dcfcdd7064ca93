//! Shared helpers for the integration tests: start ferrokv and redis-server on free ports in
//! temporary folders (killed by a Drop guard, also on panic), a raw TCP client that sends
//! RESP multibulk requests and reads exactly one RESP2/RESP3 reply as its bytes, and a small
//! parsed reply type for tests that look at values.
#![allow(dead_code)]

pub mod diff;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a test waits for one reply before calling it missing.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/// Ask the kernel for a free loopback port (bind port 0). Another process may take it before
/// the server binds it; [`start_server`] retries with a new port when the server exits early.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "ferrokv-test-{}-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            nanos
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server process; killed (and its folder removed) when dropped.
pub struct ServerGuard {
    pub name: &'static str,
    pub port: u16,
    child: Child,
    pub dir: TempDir,
}

impl ServerGuard {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log (stdout and stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Last lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// True while the process is alive.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn connect(&self) -> Conn {
        Conn::connect(self.port)
            .unwrap_or_else(|e| panic!("connect to {} on port {}: {}", self.name, self.port, e))
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failing test shows what the server said (panics, warnings, closes).
            eprintln!(
                "--- last lines of the {} log (port {}):\n{}",
                self.name,
                self.port,
                self.log_tail(40)
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `program` with `args_for(port)` in a new temp folder and wait until it accepts
/// connections. Retries on a new port when the process exits early (port taken).
pub fn start_server(
    name: &'static str,
    program: &Path,
    args_for: &dyn Fn(u16) -> Vec<String>,
) -> ServerGuard {
    let mut last_log = String::new();
    for _attempt in 0..5 {
        let dir = TempDir::new(name);
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("create log");
        let log2 = log.try_clone().expect("clone log");
        let child = Command::new(program)
            .args(args_for(port))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} ({}): {}", name, program.display(), e));
        let mut guard = ServerGuard {
            name,
            port,
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !guard.is_running() {
                break;
            }
            // Connecting is not enough: if another test's server holds this port, our server
            // fails to bind and exits, and we must not use the other one. Both ferrokv and
            // redis-server log this line once their own socket listens.
            if TcpStream::connect(("127.0.0.1", port)).is_ok()
                && guard.log().contains("Ready to accept connections")
            {
                return guard;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        last_log = guard.log();
        // the guard kills the process here; try another port
    }
    panic!(
        "{} ({}) did not start accepting connections; last log:\n{}",
        name,
        program.display(),
        last_log
    );
}

/// Path of the ferrokv binary that cargo built for this test run.
pub fn ferrokv_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrokv-server"))
}

/// Start ferrokv with `--threads threads`, persistence off, in a temp folder.
pub fn start_ferrokv(threads: usize) -> ServerGuard {
    start_ferrokv_with(threads, &[])
}

/// [`start_ferrokv`] with `extra` arguments after the default ones; later options win, so
/// `extra` can also override a default (e.g. `--enable-debug-command no`).
pub fn start_ferrokv_with(threads: usize, extra: &[&str]) -> ServerGuard {
    start_ferrokv_args(None, threads, extra)
}

/// [`start_ferrokv_with`] with a config file as the first argument (as redis-server takes
/// it), for tests of CONFIG REWRITE and `config_file`.
pub fn start_ferrokv_with_config(config: &Path, threads: usize, extra: &[&str]) -> ServerGuard {
    start_ferrokv_args(Some(config), threads, extra)
}

fn start_ferrokv_args(config: Option<&Path>, threads: usize, extra: &[&str]) -> ServerGuard {
    let threads = threads.to_string();
    let config: Option<String> = config.map(|c| c.display().to_string());
    let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    start_server("ferrokv", &ferrokv_bin(), &move |port| {
        let mut args: Vec<String> = config.iter().cloned().collect();
        args.extend([
            "--port".into(),
            port.to_string(),
            "--threads".into(),
            threads.clone(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--enable-debug-command".into(),
            "yes".into(),
        ]);
        args.extend(extra.iter().cloned());
        args
    })
}

/// `redis-server` from PATH. Fails (never skips) when it is missing.
pub fn redis_server_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("redis-server");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "redis-server was not found on PATH. The differential tests compare ferrokv with a \
         real redis-server 7: run scripts/test.sh, which installs it (apt-get install \
         redis-server), or install it yourself."
    );
}

/// Start a real redis-server with persistence off, in a temp folder.
pub fn start_redis() -> ServerGuard {
    start_redis_with(&[])
}

/// [`start_redis`] with `extra` arguments after the defaults (a later `--save` or
/// `--appendonly` wins, as on redis-server's command line).
pub fn start_redis_with(extra: &[String]) -> ServerGuard {
    let extra = extra.to_vec();
    start_server("redis", &redis_server_bin(), &move |port| {
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--enable-debug-command".into(),
            "yes".into(),
            "--daemonize".into(),
            "no".into(),
        ];
        args.extend(extra.iter().cloned());
        args
    })
}

// ---------------------------------------------------------------------------------------------
// RESP frames
// ---------------------------------------------------------------------------------------------

/// Encode a request as a RESP multibulk.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    encode_into(&mut out, args);
    out
}

/// Append a RESP multibulk request to `out`.
pub fn encode_into<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < buf.len() {
        match buf[i..].iter().position(|&b| b == b'\r') {
            None => return None,
            Some(p) => {
                let at = i + p;
                if at + 1 >= buf.len() {
                    return None;
                }
                if buf[at + 1] == b'\n' {
                    return Some(at);
                }
                i = at + 1;
            }
        }
    }
    None
}

fn parse_len(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| format!("bad length {:?}", escape(line)))
}

/// Where the RESP2/RESP3 frame starting at `pos` ends (exclusive): `Ok(None)` when the buffer
/// does not hold all of it yet, `Err` when the bytes are not RESP. Handles nested aggregates,
/// maps, sets, attributes (the attribute and the reply it annotates count as one frame), push
/// frames, nulls (`_`, `$-1`, `*-1`), verbatim strings, big numbers, doubles and booleans.
pub fn frame_end(buf: &[u8], pos: usize) -> Result<Option<usize>, String> {
    frame_end_depth(buf, pos, 0)
}

fn frame_end_depth(buf: &[u8], pos: usize, depth: usize) -> Result<Option<usize>, String> {
    if depth > 128 {
        return Err("reply nested too deeply".into());
    }
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let Some(eol) = find_crlf(buf, pos + 1) else {
        return Ok(None);
    };
    let after_line = eol + 2;
    let line = &buf[pos + 1..eol];
    match kind {
        b'+' | b'-' | b':' | b',' | b'(' | b'#' | b'_' => Ok(Some(after_line)),
        b'$' | b'!' | b'=' => {
            let n = parse_len(line)?;
            if n < 0 {
                return Ok(Some(after_line));
            }
            let end = after_line + n as usize + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err("bulk payload not followed by CRLF".into());
            }
            Ok(Some(end))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = parse_len(line)?;
            let mut p = after_line;
            if n > 0 {
                let elems = if kind == b'%' || kind == b'|' {
                    2 * n
                } else {
                    n
                };
                for _ in 0..elems {
                    match frame_end_depth(buf, p, depth + 1)? {
                        None => return Ok(None),
                        Some(e) => p = e,
                    }
                }
            }
            if kind == b'|' {
                // an attribute annotates the reply that follows it
                return frame_end_depth(buf, p, depth + 1);
            }
            Ok(Some(p))
        }
        other => Err(format!("unknown RESP type byte {:?}", other as char)),
    }
}

/// Split an aggregate frame into its header line and its elements' frames (for maps and
/// attributes the keys and values alternate). Non-aggregates give no elements.
pub fn split_aggregate(frame: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let Some(eol) = find_crlf(frame, 1) else {
        return (frame.to_vec(), Vec::new());
    };
    let header = frame[..eol + 2].to_vec();
    match frame[0] {
        b'*' | b'~' | b'>' | b'%' => {}
        _ => return (frame.to_vec(), Vec::new()),
    }
    let mut elems = Vec::new();
    let mut p = eol + 2;
    while p < frame.len() {
        match frame_end(frame, p) {
            Ok(Some(e)) => {
                elems.push(frame[p..e].to_vec());
                p = e;
            }
            _ => break,
        }
    }
    (header, elems)
}

/// The frame with its top-level aggregate's elements sorted (map entries as key/value pairs),
/// for `!unordered` comparisons. Anything else is returned unchanged.
pub fn sort_top_level(frame: &[u8]) -> Vec<u8> {
    if frame.is_empty() {
        return frame.to_vec();
    }
    let (header, elems) = split_aggregate(frame);
    if elems.is_empty() {
        return frame.to_vec();
    }
    let mut out = header;
    if frame[0] == b'%' {
        let mut pairs: Vec<Vec<u8>> = elems.chunks(2).map(|c| c.concat()).collect();
        pairs.sort();
        for p in pairs {
            out.extend_from_slice(&p);
        }
    } else {
        let mut elems = elems;
        elems.sort();
        for e in elems {
            out.extend_from_slice(&e);
        }
    }
    out
}

/// A parsed reply, for tests that look at values rather than bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    /// Bulk or verbatim string.
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or `_`.
    Nil,
    /// Array, set or push.
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Double(String),
    Bool(bool),
    BigNumber(String),
}

impl Reply {
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The bytes of a bulk or simple string reply.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            Reply::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// A bulk/simple string as text (lossy), `None` for anything else.
    pub fn text(&self) -> Option<String> {
        self.bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// [`Reply::text`] for tests that expect a string; panics on anything else.
    pub fn expect_text(&self) -> String {
        self.text()
            .unwrap_or_else(|| panic!("not a string reply: {:?}", self))
    }

    /// The value of an integer reply; panics on anything else.
    pub fn expect_int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("not an integer reply: {:?}", other),
        }
    }

    /// The elements of an array reply; panics on anything else.
    pub fn expect_array(&self) -> &[Reply] {
        match self {
            Reply::Array(v) => v,
            other => panic!("not an array reply: {:?}", other),
        }
    }
}

/// Parse one complete frame.
pub fn parse_reply(frame: &[u8]) -> Result<Reply, String> {
    let (r, _) = parse_at(frame, 0)?;
    Ok(r)
}

fn parse_at(buf: &[u8], pos: usize) -> Result<(Reply, usize), String> {
    let kind = *buf.get(pos).ok_or("empty frame")?;
    let eol = find_crlf(buf, pos + 1).ok_or("truncated frame")?;
    let line = &buf[pos + 1..eol];
    let text = || String::from_utf8_lossy(line).into_owned();
    let next = eol + 2;
    Ok(match kind {
        b'+' => (Reply::Simple(text()), next),
        b'-' => (Reply::Error(text()), next),
        b':' => (Reply::Int(parse_len(line)?), next),
        b',' => (Reply::Double(text()), next),
        b'(' => (Reply::BigNumber(text()), next),
        b'#' => (Reply::Bool(line == b"t"), next),
        b'_' => (Reply::Nil, next),
        b'$' | b'!' | b'=' => {
            let n = parse_len(line)?;
            if n < 0 {
                (Reply::Nil, next)
            } else {
                let end = next + n as usize;
                let data = buf.get(next..end).ok_or("truncated bulk")?.to_vec();
                if kind == b'!' {
                    (
                        Reply::Error(String::from_utf8_lossy(&data).into_owned()),
                        end + 2,
                    )
                } else {
                    (Reply::Bulk(data), end + 2)
                }
            }
        }
        b'*' | b'~' | b'>' => {
            let n = parse_len(line)?;
            if n < 0 {
                return Ok((Reply::Nil, next));
            }
            let mut p = next;
            let mut v = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let (r, e) = parse_at(buf, p)?;
                v.push(r);
                p = e;
            }
            (Reply::Array(v), p)
        }
        b'%' | b'|' => {
            let n = parse_len(line)?;
            let mut p = next;
            let mut v = Vec::new();
            for _ in 0..n.max(0) {
                let (k, e) = parse_at(buf, p)?;
                let (val, e) = parse_at(buf, e)?;
                v.push((k, val));
                p = e;
            }
            if kind == b'|' {
                return parse_at(buf, p);
            }
            (Reply::Map(v), p)
        }
        other => return Err(format!("unknown RESP type byte {:?}", other as char)),
    })
}

/// Printable form of bytes: ASCII as is, `\r \n \t \" \\` escaped, others as `\xHH`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 8);
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{:02x}", b)),
        }
    }
    s
}

/// [`escape`], cut to `max` bytes of input with a note of the full length.
pub fn escape_short(bytes: &[u8], max: usize) -> String {
    if bytes.len() <= max {
        escape(bytes)
    } else {
        format!(
            "{}... ({} bytes in all)",
            escape(&bytes[..max]),
            bytes.len()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

/// How reading a reply ended when it did not give one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFail {
    /// The server closed the connection (EOF or reset); holds any partial bytes.
    Closed(Vec<u8>),
    /// No complete reply within the timeout; holds any partial bytes.
    Timeout(Vec<u8>),
    /// The bytes are not RESP.
    Malformed(String, Vec<u8>),
}

impl std::fmt::Display for ReadFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFail::Closed(b) if b.is_empty() => write!(f, "<connection closed>"),
            ReadFail::Closed(b) => write!(f, "<connection closed after {:?}>", escape(b)),
            ReadFail::Timeout(b) if b.is_empty() => write!(f, "<no reply (timeout)>"),
            ReadFail::Timeout(b) => write!(f, "<timeout after partial {:?}>", escape(b)),
            ReadFail::Malformed(why, b) => write!(f, "<malformed reply: {}: {:?}>", why, escape(b)),
        }
    }
}

/// A client connection that speaks raw RESP.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pub timeout: Duration,
}

impl Conn {
    pub fn connect(port: u16) -> io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            timeout: REPLY_TIMEOUT,
        })
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.send_raw(&encode(args))
    }

    /// Read exactly one reply frame (its exact bytes). Bytes after it stay buffered. The
    /// timeout counts from the last bytes received: a 512 MB reply may take longer than
    /// that in all on a loaded machine, but never stalls that long.
    pub fn read_frame(&mut self) -> Result<Vec<u8>, ReadFail> {
        let mut deadline = Instant::now() + self.timeout;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match frame_end(&self.buf, 0) {
                Ok(Some(end)) => {
                    let rest = self.buf.split_off(end);
                    return Ok(std::mem::replace(&mut self.buf, rest));
                }
                Ok(None) => {}
                Err(why) => return Err(ReadFail::Malformed(why, std::mem::take(&mut self.buf))),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ReadFail::Timeout(std::mem::take(&mut self.buf)));
            }
            let _ = self.stream.set_read_timeout(Some(deadline - now));
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ReadFail::Closed(std::mem::take(&mut self.buf))),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    deadline = Instant::now() + self.timeout;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Err(ReadFail::Timeout(std::mem::take(&mut self.buf)))
                }
                Err(_) => return Err(ReadFail::Closed(std::mem::take(&mut self.buf))),
            }
        }
    }

    /// Send a command and read its reply frame.
    pub fn request<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Vec<u8>, ReadFail> {
        if self.send(args).is_err() {
            return Err(ReadFail::Closed(Vec::new()));
        }
        self.read_frame()
    }

    /// Read one reply and parse it; panics on I/O trouble (for tests that expect replies).
    pub fn read_reply(&mut self) -> Reply {
        let frame = self
            .read_frame()
            .unwrap_or_else(|e| panic!("reading a reply: {}", e));
        parse_reply(&frame).unwrap_or_else(|e| panic!("parsing {:?}: {}", escape(&frame), e))
    }

    /// Send a command and return its parsed reply; panics on I/O trouble.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        self.send(args)
            .unwrap_or_else(|e| panic!("sending {:?}: {}", escape(&encode(args)), e));
        self.read_reply()
    }

    /// Read everything until the server closes the connection or stays quiet for `quiet`.
    /// Returns the bytes and whether the connection was closed.
    pub fn read_until_close(&mut self, quiet: Duration) -> (Vec<u8>, bool) {
        let mut out = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 64 * 1024];
        let _ = self.stream.set_read_timeout(Some(quiet));
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return (out, true),
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return (out, false)
                }
                Err(_) => return (out, true),
            }
        }
    }

    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let cases: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR x\r\n",
            b":1\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"_\r\n",
            b"$3\r\na\r\n\r\n",
            b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
            b"%1\r\n+a\r\n~2\r\n:1\r\n:2\r\n",
            b"|1\r\n+ttl\r\n:3\r\n$1\r\nx\r\n",
            b">2\r\n+message\r\n$1\r\nx\r\n",
            b"=8\r\ntxt:abcd\r\n",
            b"(123456789012345678901234567890\r\n",
            b",1.5\r\n",
            b"#t\r\n",
            b"!3\r\nERR\r\n",
        ];
        for c in cases {
            assert_eq!(frame_end(c, 0), Ok(Some(c.len())), "{}", escape(c));
            for cut in 0..c.len() {
                assert_eq!(
                    frame_end(&c[..cut], 0),
                    Ok(None),
                    "{} cut {}",
                    escape(c),
                    cut
                );
            }
        }
        assert_eq!(
            sort_top_level(b"*3\r\n:3\r\n:1\r\n:2\r\n"),
            b"*3\r\n:1\r\n:2\r\n:3\r\n".to_vec()
        );
        assert_eq!(
            sort_top_level(b"%2\r\n+b\r\n:1\r\n+a\r\n:2\r\n"),
            b"%2\r\n+a\r\n:2\r\n+b\r\n:1\r\n".to_vec()
        );
    }
}
