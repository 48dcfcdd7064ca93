//! The invariants that every input to `resp::parse_request` must satisfy. Shared by the
//! stable randomized test (`tests/parse_random.rs`) and the cargo-fuzz target
//! (`fuzz/fuzz_targets/parse_request.rs`, which includes this file by path).

use resp::{parse_request, Args, Limits, Parsed};

/// Limits picked from one byte, so fuzzers explore the small-limit and unauthenticated paths.
pub fn limits_from(selector: u8) -> Limits {
    let d = Limits::default();
    Limits {
        max_bulk_len: match selector & 3 {
            0 => d.max_bulk_len,
            1 => 16,
            2 => 1024,
            _ => 0,
        },
        max_multibulk_len: if selector & 4 != 0 {
            8
        } else {
            d.max_multibulk_len
        },
        max_inline_len: if selector & 8 != 0 {
            64
        } else {
            d.max_inline_len
        },
        authenticated: selector & 16 == 0,
    }
}

/// The arguments of one parsed request, owned.
pub fn args_of(buf: &[u8], args: &Args, ranges: &[std::ops::Range<usize>]) -> Vec<Vec<u8>> {
    match args {
        Args::Ranges => ranges.iter().map(|r| buf[r.clone()].to_vec()).collect(),
        Args::Owned(v) => v.clone(),
    }
}

/// Parse `data` as a stream of requests the way a connection does (consume one request at a
/// time until the parser needs more bytes or reports a protocol error) and check:
/// * no panic;
/// * every request consumes at least one byte and no more than what is buffered;
/// * argument ranges lie inside the consumed bytes;
/// * parsing exactly the consumed bytes again gives the same request (no lookahead);
/// * for requests within the inline limit, strict prefixes are `Incomplete` (the server never
///   acts on half a request).
///
/// Returns the requests parsed.
pub fn check_stream(data: &[u8], limits: &Limits) -> Vec<Vec<Vec<u8>>> {
    let mut ranges = Vec::new();
    let mut again = Vec::new();
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < data.len() {
        let buf = &data[pos..];
        match parse_request(buf, limits, &mut ranges) {
            Ok(Parsed::Incomplete) => break,
            Err(e) => {
                assert!(!e.0.is_empty(), "empty protocol error text");
                break;
            }
            Ok(Parsed::Request { args, consumed }) => {
                assert!(
                    consumed >= 1 && consumed <= buf.len(),
                    "consumed {} of {} bytes",
                    consumed,
                    buf.len()
                );
                if let Args::Ranges = args {
                    for r in &ranges {
                        assert!(
                            r.start <= r.end && r.end <= consumed,
                            "range {:?} outside the {} consumed bytes",
                            r,
                            consumed
                        );
                    }
                }
                let request = args_of(buf, &args, &ranges);
                // The argument slices a connection gets (`SmallVec` sink) are the same
                // request, with the same outcome.
                let mut slices: smallvec::SmallVec<[&[u8]; 8]> = smallvec::SmallVec::new();
                match parse_request(buf, limits, &mut slices) {
                    Ok(Parsed::Request {
                        args: Args::Ranges,
                        consumed: c2,
                    }) => {
                        assert_eq!(c2, consumed, "slice sink consumed differently");
                        let owned: Vec<Vec<u8>> = slices.iter().map(|a| a.to_vec()).collect();
                        assert_eq!(owned, request, "slice sink gave other arguments");
                    }
                    Ok(Parsed::Request {
                        args: Args::Owned(v),
                        consumed: c2,
                    }) => {
                        assert_eq!(c2, consumed, "slice sink consumed differently");
                        assert_eq!(v, request, "slice sink gave another inline request");
                    }
                    other => panic!("slice sink gave {:?} where ranges gave a request", other),
                }
                let exact = &buf[..consumed];
                match parse_request(exact, limits, &mut again) {
                    Ok(Parsed::Request {
                        args: args2,
                        consumed: c2,
                    }) => {
                        assert_eq!(c2, consumed, "re-parse consumed differently");
                        assert_eq!(args_of(exact, &args2, &again), request, "re-parse differs");
                    }
                    other => panic!("re-parse of the consumed bytes gave {:?}", other),
                }
                if consumed <= limits.max_inline_len {
                    let cuts = [consumed - 1, consumed / 2, 1.min(consumed - 1)];
                    for cut in cuts {
                        if cut == 0 {
                            continue;
                        }
                        let r = parse_request(&exact[..cut], limits, &mut again);
                        assert_eq!(
                            r,
                            Ok(Parsed::Incomplete),
                            "prefix of {} of {} bytes is not Incomplete",
                            cut,
                            consumed
                        );
                    }
                }
                out.push(request);
                pos += consumed;
            }
        }
    }
    out
}

/// Fuzz entry: the first byte picks the limits, the rest is the stream.
pub fn check_fuzz_input(data: &[u8]) {
    if let Some((&selector, rest)) = data.split_first() {
        check_stream(rest, &limits_from(selector));
    }
}
