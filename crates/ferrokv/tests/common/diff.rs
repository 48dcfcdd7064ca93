//! The differential harness shared by the test files: case steps (the case-file format, see
//! `differential.rs`), a pair of servers (ferrokv and redis-server), running steps on both
//! in RESP2 or RESP3 and collecting mismatches, and seeded random command sequences.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    escape, escape_short, sort_top_level, start_ferrokv, start_redis, Conn, ReadFail, ServerGuard,
};

// ---------------------------------------------------------------------------------------------
// Case steps
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Exact,
    Unordered,
    TypeOnly,
}

#[derive(Debug, Clone)]
pub enum Action {
    Command(Compare, Vec<Vec<u8>>),
    Sleep(u64),
}

#[derive(Debug, Clone)]
pub struct Step {
    pub line: usize,
    pub text: String,
    pub action: Action,
}

/// Parse a case file. Lines that cannot be parsed are returned as errors (reported as
/// failures, not panics).
pub fn parse_case_text(text: &[u8]) -> (Vec<Step>, Vec<(usize, String)>) {
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let trimmed = trim_ascii(raw);
        if trimmed.is_empty() || trimmed[0] == b'#' {
            continue;
        }
        let shown = String::from_utf8_lossy(trimmed).into_owned();
        let (compare, rest) = if trimmed[0] == b'!' {
            let end = trimmed
                .iter()
                .position(|b| b.is_ascii_whitespace())
                .unwrap_or(trimmed.len());
            let rest = trim_ascii(&trimmed[end..]);
            match &trimmed[..end] {
                b"!unordered" => (Compare::Unordered, rest),
                b"!noreply-compare" => (Compare::TypeOnly, rest),
                b"!sleep" => {
                    match std::str::from_utf8(rest)
                        .ok()
                        .and_then(|s| s.trim().parse::<u64>().ok())
                    {
                        Some(ms) => steps.push(Step {
                            line: line_no,
                            text: shown,
                            action: Action::Sleep(ms),
                        }),
                        None => errors.push((line_no, format!("bad !sleep line: {}", shown))),
                    }
                    continue;
                }
                other => {
                    errors.push((
                        line_no,
                        format!("unknown directive {}", String::from_utf8_lossy(other)),
                    ));
                    continue;
                }
            }
        } else {
            (Compare::Exact, trimmed)
        };
        match resp::split_inline_args(rest) {
            Some(args) if !args.is_empty() => steps.push(Step {
                line: line_no,
                text: shown,
                action: Action::Command(compare, args),
            }),
            Some(_) => errors.push((line_no, format!("directive without a command: {}", shown))),
            None => errors.push((line_no, format!("unbalanced quotes: {}", shown))),
        }
    }
    (steps, errors)
}

pub fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Running steps against both servers
// ---------------------------------------------------------------------------------------------

pub struct Pair {
    pub redis: ServerGuard,
    pub ferrokv: ServerGuard,
}

impl Pair {
    pub fn start() -> Pair {
        let redis = start_redis();
        let ferrokv = start_ferrokv(2);
        Pair { redis, ferrokv }
    }
}

/// One side's connection; reopened (with the session's protocol) after the server closed it.
pub struct Side {
    port: u16,
    resp3: bool,
    conn: Option<Conn>,
    name: &'static str,
}

impl Side {
    pub fn new(server: &ServerGuard, resp3: bool) -> Side {
        Side {
            port: server.port,
            resp3,
            conn: None,
            name: server.name,
        }
    }

    /// The open connection, reconnecting (and sending `HELLO 3` in RESP3 sessions) if the
    /// previous one was closed. Returns a note when it had to reconnect mid-file.
    pub fn conn(&mut self) -> Result<&mut Conn, String> {
        if self.conn.is_none() {
            let mut c = Conn::connect(self.port)
                .map_err(|e| format!("cannot connect to {}: {}", self.name, e))?;
            // Case files build 512 MB values (BITFIELD, SETRANGE at the last offset): a
            // debug build on a loaded machine needs more than the usual 10 s of silence.
            c.timeout = std::time::Duration::from_secs(30);
            if self.resp3 {
                c.request(&["HELLO", "3"])
                    .map_err(|e| format!("HELLO 3 to {}: {}", self.name, e))?;
            }
            self.conn = Some(c);
        }
        Ok(self.conn.as_mut().expect("connection"))
    }

    pub fn send(&mut self, args: &[Vec<u8>]) -> Result<(), String> {
        let c = self.conn()?;
        if c.send(args).is_err() {
            self.conn = None;
            return Err("<write failed: connection closed>".into());
        }
        Ok(())
    }

    pub fn read(&mut self) -> Result<Vec<u8>, String> {
        let Some(c) = self.conn.as_mut() else {
            return Err("<not connected>".into());
        };
        match c.read_frame() {
            Ok(f) => Ok(f),
            Err(e) => {
                // A closed, timed-out or garbled connection cannot be trusted again.
                self.conn = None;
                Err(match e {
                    ReadFail::Closed(b) if b.is_empty() => "<connection closed>".to_string(),
                    other => other.to_string(),
                })
            }
        }
    }
}

#[derive(Debug)]
pub struct Mismatch {
    pub origin: String,
    pub command: String,
    pub protocol: &'static str,
    pub redis: String,
    pub ferrokv: String,
}

pub fn show(r: &Result<Vec<u8>, String>) -> String {
    match r {
        Ok(b) => format!("\"{}\"", escape_short(b, 600)),
        Err(e) => e.clone(),
    }
}

pub fn normalize(r: &Result<Vec<u8>, String>, compare: Compare) -> Result<Vec<u8>, String> {
    match (r, compare) {
        (Ok(b), Compare::Unordered) => Ok(sort_top_level(b)),
        (Ok(b), Compare::TypeOnly) => Ok(b.iter().take(1).copied().collect()),
        (other, _) => other.clone(),
    }
}

/// Run `steps` on fresh connections to both servers (after FLUSHALL and FUNCTION FLUSH, so
/// neither keys nor function libraries of an earlier file remain), in RESP2 or RESP3.
/// A server that cannot FLUSHALL (ferrokv before it had the command) is restarted instead,
/// so every file starts from an empty keyspace.
pub fn run_steps(
    pair: &mut Pair,
    origin: &str,
    steps: &[Step],
    resp3: bool,
    out: &mut Vec<Mismatch>,
) {
    let protocol = if resp3 { "RESP3" } else { "RESP2" };
    let trace = std::env::var_os("FERROKV_DIFF_TRACE").is_some();
    for server in [&mut pair.redis, &mut pair.ferrokv] {
        let flushed = Conn::connect(server.port)
            .map_err(|e| ReadFail::Malformed(e.to_string(), Vec::new()))
            .and_then(|mut c| {
                let flushed = c.request(&["FLUSHALL"])?;
                c.request(&["FUNCTION", "FLUSH"])?;
                Ok(flushed)
            });
        match flushed {
            Ok(r) if r.starts_with(b"+") => {}
            other => {
                let why = match other {
                    Ok(r) => escape(&r),
                    Err(e) => e.to_string(),
                };
                eprintln!(
                    "note: FLUSHALL on {} failed ({}); restarting it for {}",
                    server.name, why, origin
                );
                *server = if server.name == "redis" {
                    start_redis()
                } else {
                    start_ferrokv(2)
                };
            }
        }
    }
    let mut redis = Side::new(&pair.redis, resp3);
    let mut ferrokv = Side::new(&pair.ferrokv, resp3);
    let mut timeouts = 0;
    for step in steps {
        let (compare, args) = match &step.action {
            Action::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                continue;
            }
            Action::Command(c, a) => (*c, a),
        };
        let sent_r = redis.send(args);
        let sent_f = ferrokv.send(args);
        let got_r = sent_r.and_then(|_| redis.read());
        let got_f = sent_f.and_then(|_| ferrokv.read());
        if trace {
            eprintln!(
                "{}:{} [{}] {}\n    redis:   {}\n    ferrokv: {}",
                origin,
                step.line,
                protocol,
                step.text,
                show(&got_r),
                show(&got_f)
            );
        }
        if normalize(&got_r, compare) != normalize(&got_f, compare) {
            out.push(Mismatch {
                origin: format!("{}:{}", origin, step.line),
                command: step.text.clone(),
                protocol,
                redis: show(&got_r),
                ferrokv: show(&got_f),
            });
        }
        // A server that stopped answering would cost the reply timeout on every later line.
        let timed_out = |r: &Result<Vec<u8>, String>| matches!(r, Err(e) if e.contains("timeout"));
        if timed_out(&got_r) || timed_out(&got_f) {
            timeouts += 1;
            if timeouts >= 3 {
                out.push(Mismatch {
                    origin: format!("{}:{}", origin, step.line),
                    command: "(rest of the file skipped)".into(),
                    protocol,
                    redis: String::new(),
                    ferrokv: "3 replies timed out; a server stopped answering".into(),
                });
                break;
            }
        }
    }
}

pub fn report(title: &str, mismatches: &[Mismatch]) -> String {
    let mut s = format!("{}: {} mismatch(es)\n", title, mismatches.len());
    for m in mismatches {
        let _ = writeln!(
            s,
            "\n{} [{}] {}\n    redis:   {}\n    ferrokv: {}",
            m.origin, m.protocol, m.command, m.redis, m.ferrokv
        );
    }
    s
}

pub fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases")
}

/// SplitMix64: tiny, deterministic on every platform and independent of crate versions.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// Values for one `{name}` placeholder of a random-command template.
pub type Placeholder<'a> = (&'a str, &'a [&'a str]);

/// Placeholders every template may use: `{key}`, `{field}`, `{val}`, `{int}`, `{secs}`,
/// `{db}`. Family tests add their own (`{member}`, `{score}`, ...) in front of these.
pub const BASE_PLACEHOLDERS: &[Placeholder<'static>] = &[
    ("key", &["a", "b", "c", "{a}x"]),
    ("field", &["f1", "f2", "f3"]),
    (
        "val",
        &[
            "v",
            "\"\"",
            "0",
            "1",
            "-7",
            "10",
            "3.5",
            "\"hello world\"",
            "\"\\x00\\xffbin\"",
            "9223372036854775807",
            "-9223372036854775808",
            "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
        ],
    ),
    ("int", &["0", "1", "-1", "5", "100", "-100", "x", "1.5"]),
    ("secs", &["100", "1000", "86400"]),
    ("db", &["0", "1", "2"]),
];

/// `steps` lines drawn from `templates`, each `{name}` replaced by a value from the first
/// matching entry of `placeholders` (deterministic for a seed).
pub fn random_lines_with(
    seed: u64,
    steps: usize,
    templates: &[&str],
    placeholders: &[Placeholder<'_>],
) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut lines = Vec::with_capacity(steps);
    for _ in 0..steps {
        let template = rng.pick(templates);
        let mut line = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            // `{a}x`-style literal keys never appear in templates; placeholders are words.
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            line.push_str(&rest[..open]);
            let name = &rest[open + 1..open + close];
            let values = placeholders
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("unknown placeholder {{{}}} in {:?}", name, template));
            line.push_str(rng.pick(values));
            rest = &rest[open + close + 1..];
        }
        line.push_str(rest);
        lines.push(line);
    }
    lines
}

/// [`random_lines_with`] and the base placeholders only.
pub fn random_lines(seed: u64, steps: usize, templates: &[&str]) -> Vec<String> {
    random_lines_with(seed, steps, templates, BASE_PLACEHOLDERS)
}

/// Seeded random command sequences from `templates`, run on both servers in RESP2 and RESP3;
/// panics with the seed and the sequence (in case-file form) up to the first mismatch.
/// With `digest_every_step`, `DEBUG DIGEST` (the whole dataset's content hash, the same
/// algorithm on both servers) is compared after every command (`FERROKV_DIGEST_EVERY=n`:
/// every n commands, for quicker local runs), so a difference in state shows at the step
/// that caused it even when no reply reveals it.
/// `FERROKV_DIFF_SEED` runs one seed, `FERROKV_DIFF_SEEDS` sets how many, and
/// `FERROKV_DIFF_STEPS` the length (default 400).
pub fn run_random_sequences(
    name: &str,
    templates: &[&str],
    placeholders: &[Placeholder<'_>],
    digest_every_step: bool,
) {
    let steps: usize = std::env::var("FERROKV_DIFF_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    // Digest-checked runs cost a whole-dataset digest per step: 8 seeds by default there,
    // 16 otherwise (FERROKV_DIFF_SEEDS=n sets the count).
    let count: u64 = std::env::var("FERROKV_DIFF_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if digest_every_step { 8 } else { 16 });
    let seeds: Vec<u64> = match std::env::var("FERROKV_DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("FERROKV_DIFF_SEED must be a number")],
        Err(_) => (1..=count).chain([0xfe77_0c0d]).collect(),
    };
    let mut pair = Pair::start();
    let mut failures = String::new();
    for seed in seeds {
        let mut lines = random_lines_with(seed, steps, templates, placeholders);
        if digest_every_step {
            let every: usize = std::env::var("FERROKV_DIGEST_EVERY")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1)
                .max(1);
            let total = lines.len();
            lines = lines
                .into_iter()
                .enumerate()
                .flat_map(|(i, l)| {
                    if (i + 1) % every == 0 || i + 1 == total {
                        vec![l, "DEBUG DIGEST".to_string()]
                    } else {
                        vec![l]
                    }
                })
                .collect();
        }
        let text = lines.join("\n");
        let (case_steps, errors) = parse_case_text(text.as_bytes());
        assert!(
            errors.is_empty(),
            "generator produced bad lines: {:?}",
            errors
        );
        for resp3 in [false, true] {
            let mut mismatches = Vec::new();
            let origin = format!("{} seed {}", name, seed);
            run_steps(&mut pair, &origin, &case_steps, resp3, &mut mismatches);
            if let Some(first) = mismatches.first() {
                let upto: usize = first
                    .origin
                    .rsplit(':')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(lines.len());
                let _ = writeln!(
                    failures,
                    "\n{}\nReproduce: FERROKV_DIFF_SEED={} FERROKV_DIFF_STEPS={} cargo test \
                     --test <this test file> {}\nsequence up to the first mismatch \
                     (case-file form, {}):\n{}\n",
                    report(
                        &format!("{} seed {} {}", name, seed, first.protocol),
                        &mismatches
                    ),
                    seed,
                    steps,
                    name,
                    first.protocol,
                    lines[..upto.min(lines.len())].join("\n")
                );
            }
        }
    }
    if !failures.is_empty() {
        panic!("random sequences differ:\n{}", failures);
    }
}
