//! Randomized tests of the request parser on stable Rust: round trips of random requests in
//! multibulk and inline form, split at random points, and many mutated and random inputs
//! checked against the invariants in `parse_check` (the same ones the cargo-fuzz target
//! checks). `RESP_FUZZ_ITERS` sets the number of mutated inputs (default 100000);
//! `RESP_FUZZ_SEED` the seed.

mod parse_check;

use parse_check::{check_fuzz_input, check_stream, limits_from};
use resp::{parse_request, split_inline_args, Limits, Parsed};

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

const INTERESTING: &[&[u8]] = &[
    b"*",
    b"$",
    b"\r\n",
    b"\r",
    b"\n",
    b"-1",
    b"0",
    b"1",
    b"2",
    b"-",
    b"+",
    b"\"",
    b"'",
    b"\\",
    b"\\x",
    b"\\x4",
    b"\\x41",
    b" ",
    b"\t",
    b"\x00",
    b"9223372036854775807",
    b"9223372036854775808",
    b"2147483648",
    b"536870912",
    b"SET",
    b"GET",
    b"PING",
];

fn random_arg(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 0,
        1..=6 => rng.below(8),
        7 | 8 => rng.below(64),
        _ => rng.below(3000),
    };
    (0..len)
        .map(|_| {
            if rng.chance(3) {
                b"\r\n\"' \\x"[rng.below(7)]
            } else {
                rng.next() as u8
            }
        })
        .collect()
}

fn random_request(rng: &mut Rng) -> Vec<Vec<u8>> {
    let n = 1 + rng.below(6);
    (0..n).map(|_| random_arg(rng)).collect()
}

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Quote an argument so that `split_inline_args` gives it back (as redis-cli would).
fn quote_inline(arg: &[u8]) -> Vec<u8> {
    let mut out = b"\"".to_vec();
    for &b in arg {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{:02x}", b).as_bytes()),
        }
    }
    out.push(b'"');
    out
}

fn parse_all(data: &[u8], limits: &Limits) -> Vec<Vec<Vec<u8>>> {
    check_stream(data, limits)
}

#[test]
fn multibulk_round_trip_and_any_split() {
    let mut rng = Rng(1);
    let limits = Limits::default();
    for _ in 0..2000 {
        let reqs: Vec<Vec<Vec<u8>>> = (0..1 + rng.below(5))
            .map(|_| random_request(&mut rng))
            .collect();
        let mut stream = Vec::new();
        for r in &reqs {
            stream.extend_from_slice(&multibulk(r));
        }
        assert_eq!(parse_all(&stream, &limits), reqs);
        // The same stream arriving in two reads: the first part gives the complete requests
        // it holds, then the rest continues from where the parser stopped.
        let cut = rng.below(stream.len() + 1);
        let mut buf = stream[..cut].to_vec();
        let mut got = Vec::new();
        let mut ranges = Vec::new();
        let mut start = 0;
        for phase in 0..2 {
            if phase == 1 {
                buf.extend_from_slice(&stream[cut..]);
            }
            loop {
                match parse_request(&buf[start..], &limits, &mut ranges).unwrap() {
                    Parsed::Incomplete => break,
                    Parsed::Request { args, consumed } => {
                        got.push(parse_check::args_of(&buf[start..], &args, &ranges));
                        start += consumed;
                    }
                }
            }
        }
        assert_eq!(got, reqs);
        assert_eq!(start, stream.len());
    }
}

#[test]
fn inline_round_trip() {
    let mut rng = Rng(2);
    let limits = Limits::default();
    for _ in 0..2000 {
        let args = random_request(&mut rng);
        let mut line = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            // plain words need no quotes
            if !a.is_empty() && a.iter().all(|b| b.is_ascii_alphanumeric()) {
                line.extend_from_slice(a);
            } else {
                line.extend_from_slice(&quote_inline(a));
            }
        }
        assert_eq!(split_inline_args(&line), Some(args.clone()), "{:?}", line);
        line.extend_from_slice(b"\r\n");
        if line.len() <= limits.max_inline_len {
            assert_eq!(parse_all(&line, &limits), vec![args]);
        }
    }
}

fn mutate(rng: &mut Rng, mut data: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            2 => {
                let i = rng.below(len + 1);
                let what = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(i..i, what.iter().copied());
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(16)).min(len);
                data.drain(a..b);
            }
            4 => data.truncate(rng.below(len + 1)),
            5 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(32)).min(len);
                let piece = data[a..b].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, piece);
            }
            _ => {
                let extra = random_arg(rng);
                data.extend_from_slice(&extra);
            }
        }
    }
    data
}

#[test]
fn mutated_and_random_inputs_keep_invariants() {
    let iters: usize = std::env::var("RESP_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let seed: u64 = std::env::var("RESP_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = Rng(seed);
    for i in 0..iters {
        let mut data = vec![rng.next() as u8]; // limits selector
        match rng.below(4) {
            0 => {
                let n = rng.below(64);
                data.extend((0..n).map(|_| {
                    if rng.chance(2) {
                        b"*$\r\n-0123456789 \"'"[rng.below(17)]
                    } else {
                        rng.next() as u8
                    }
                }));
            }
            1 => {
                for _ in 0..1 + rng.below(3) {
                    data.extend_from_slice(&multibulk(&random_request(&mut rng)));
                }
            }
            _ => {
                for _ in 0..1 + rng.below(3) {
                    if rng.chance(2) {
                        data.extend_from_slice(&multibulk(&random_request(&mut rng)));
                    } else {
                        let args = random_request(&mut rng);
                        for a in args {
                            data.extend_from_slice(&quote_inline(&a));
                            data.push(b' ');
                        }
                        data.extend_from_slice(b"\r\n");
                    }
                }
            }
        }
        let data = if rng.chance(5) {
            data
        } else {
            mutate(&mut rng, data)
        };
        let result = std::panic::catch_unwind(|| check_fuzz_input(&data));
        if result.is_err() {
            panic!(
                "iteration {} (RESP_FUZZ_SEED={}): invariant broken for input {:?}",
                i, seed, data
            );
        }
    }
}

#[test]
fn limits_selector_covers_variants() {
    assert!(limits_from(0).authenticated);
    assert!(!limits_from(16).authenticated);
    assert_eq!(limits_from(8).max_inline_len, 64);
    // an oversized inline line without newline is a protocol error, not a buffer that grows
    let data = vec![b'a'; 65];
    let r = parse_request(&data, &limits_from(8), &mut Vec::new());
    assert!(r.is_err(), "{:?}", r);
}
