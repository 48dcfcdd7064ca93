//! Feed arbitrary bytes to ferrokv's RDB decoders: errors are expected, panics, hangs and
//! unbounded allocations are bugs. The first byte picks the entry point:
//!
//! * even: `decode_value` (one value: type byte + payload), and when it decodes, the value
//!   is encoded again and must decode to the same bytes once more (strings and lists, whose
//!   element order is fixed);
//! * odd: `read_rdb` on `REDIS0010` + the rest (a whole file, checksum included).
//!
//! Run: `cargo +nightly fuzz run rdb_load -- -max_total_time=60` (from the repo root).
//! Good seeds: DUMP payloads from redis-server prefixed with a 0 byte, and a dump.rdb with
//! its 9-byte header replaced by a 1 byte (copy them into `fuzz/corpus/rdb_load/`).
#![no_main]

use ferrokv::persistence::rdb::{decode_value, encode_value, read_rdb, EncodeOptions, Limits, RdbError};
use ferrokv::storage::Value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    if mode % 2 == 0 {
        if let Ok((value, used)) = decode_value(rest, &limits) {
            assert!(used <= rest.len());
            if matches!(value, Value::Str(_) | Value::List(_)) {
                let mut once = Vec::new();
                encode_value(&value, &EncodeOptions::default(), &mut once);
                let (again, n) = decode_value(&once, &limits).expect("re-encoded value decodes");
                assert_eq!(n, once.len());
                let mut twice = Vec::new();
                encode_value(&again, &EncodeOptions::default(), &mut twice);
                assert_eq!(once, twice);
            }
        }
    } else {
        let mut file = b"REDIS0010".to_vec();
        file.extend_from_slice(rest);
        let _ = read_rdb(&file[..], &limits, |_| Ok::<(), RdbError>(()));
    }
});
