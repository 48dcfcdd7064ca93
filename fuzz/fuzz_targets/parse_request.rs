//! Feed arbitrary bytes to `resp::parse_request` the way a connection does (one request after
//! another until it needs more bytes or reports a protocol error) and check the parser's
//! invariants: no panic, `consumed <= len`, ranges inside the request, no lookahead, and
//! prefixes of a request are `Incomplete`. The first byte picks the parser limits.
//!
//! Run: `cargo +nightly fuzz run parse_request -- -max_total_time=60` (from the repo root).
//! The invariants live in crates/resp/tests/parse_check/mod.rs, shared with the stable
//! randomized test `cargo test -p resp --test parse_random`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/resp/tests/parse_check/mod.rs"]
mod parse_check;

fuzz_target!(|data: &[u8]| {
    parse_check::check_fuzz_input(data);
});
