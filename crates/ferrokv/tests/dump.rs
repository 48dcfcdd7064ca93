//! DUMP / RESTORE and RDB files against a real redis-server 7.0, both ways.
//!
//! * `random_sequences_dump`: seeded command sequences (DUMP, RESTORE with every option and
//!   hostile payloads, plus TYPE/DEL/EXISTS/RENAME/OBJECT ENCODING) on both servers, every
//!   reply compared and `DEBUG DIGEST` after every step.
//! * `random_values_both_ways`: many random values of every type and encoding built on
//!   redis-server, DUMPed there and RESTOREd into ferrokv (digest and contents compared),
//!   then DUMPed by ferrokv and RESTOREd into redis-server (contents compared there). The
//!   DUMP bytes must be identical whenever both servers report the same encoding and
//!   Redis's element order is reproducible.
//! * `rdb_files_both_ways`: a dataset on redis-server (several databases, TTLs, every
//!   type/encoding, LRU/LFU metadata) SAVEd and read with `persistence::rdb::read_rdb`,
//!   every key, value and TTL checked against the server; then written with `write_rdb` and
//!   loaded by a fresh redis-server, whose `DEBUG DIGEST` must equal the source's.
//! * `corrupt_payloads_and_files`: every truncation and flipped bytes of payloads (over
//!   TCP: error replies, the server stays up) and of a Redis-written file (errors, no
//!   panic).

mod common;

use std::path::Path;

use common::diff::{Rng, BASE_PLACEHOLDERS};
use common::{redis_server_bin, start_ferrokv, start_redis, start_server, Conn, Reply, TempDir};
use ferrokv::persistence::rdb::{read_rdb, write_rdb, Limits, LoadedKey, RdbError, SaveOptions};
use ferrokv::storage::Value;

// ---------------------------------------------------------------------------------------
// Random command sequences
// ---------------------------------------------------------------------------------------

#[test]
fn random_sequences_dump() {
    // Payloads captured from redis-server 7.0.15 (strings, a quicklist list, a listpack
    // hash), and broken ones: wrong CRC, version 11, bad data, too short.
    const PAYLOADS: &[&str] = &[
        r#""\x00\x05hello\x0a\x00cr\xdfve4 \x0a""#,
        r#""\x00\xc0{\x0a\x00H\xe2S\xe1\x00zg\xb9""#,
        r#""\x00\xc3\x09@d\x01aa\xe0W\x00\x01aa\x0a\x00\xe8\xa3\xb5\x07\xb0m\xf2q""#,
        r#""\x12\x01\x02\x10\x10\x00\x00\x00\x03\x00\x81a\x02\x81b\x02\x81c\x02\xff\x0a\x00\xc8\x18\xb9\x0c\x953R\x9e""#,
        r#""\x10\xc3 8\x188\x00\x00\x00\x06\x00\x81f\x02\x81v\x02\x81n\x02\x05\x01\x84long\x05\x9ey\xe0\x14\x00\x01\x1f\xff\x0a\x00\xe04\xfe\x0e\xcc\xc3\xee\xe1""#,
        r#""\x00\x05hello\x0a\x00cr\xdfve4 \x0b""#,
        r#""\x00\x05hello\x0b\x00cr\xdfve4 \x0a""#,
        r#""\x00\xc4\x00\x0a\x00\x81\x0b\xca\x15\x95\xb9\xa4\x8d""#,
        "x",
        r#""""#,
    ];
    let templates: &[&str] = &[
        "DUMP {key}",
        "DUMP {key}",
        "DUMP {key} {key}",
        "RESTORE {key} {ttl} {payload}",
        "RESTORE {key} {ttl} {payload} REPLACE",
        "RESTORE {key} 0 {payload} {opt}",
        "RESTORE {key} {ttl} {payload} REPLACE {opt} {opt}",
        "RESTORE {key} {absttl} {payload} ABSTTL REPLACE",
        "RESTORE {key} {absttl} {payload} ABSTTL",
        "RESTORE {key}",
        "SET {key} {val}",
        "HSET {key} {field} {val}",
        "APPEND {key} {val}",
        "INCR {key}",
        "HDEL {key} {field}",
        "EXPIRE {key} {secs}",
        "TTL {key}",
        "DEL {key}",
        "EXISTS {key}",
        "TYPE {key}",
        "RENAME {key} {key}",
        "OBJECT ENCODING {key}",
        "DEBUG DIGEST-VALUE {key}",
        "GET {key}",
        "HGETALL {key}",
    ];
    let mut placeholders: Vec<common::diff::Placeholder<'_>> = vec![
        ("payload", PAYLOADS),
        ("ttl", &["0", "0", "100000", "-1", "abc", "1.5"]),
        ("absttl", &["0", "1", "4102444800000", "-5"]),
        (
            "opt",
            &[
                "REPLACE",
                "ABSTTL",
                "IDLETIME 10",
                "FREQ 5",
                "IDLETIME -1",
                "FREQ 300",
                "IDLETIME x",
                "foo",
                "IDLETIME",
            ],
        ),
    ];
    placeholders.extend_from_slice(BASE_PLACEHOLDERS);
    common::diff::run_random_sequences("dump", templates, &placeholders, true);
}

// ---------------------------------------------------------------------------------------
// Contents, as a client sees them
// ---------------------------------------------------------------------------------------

/// A key's type and contents read with ordinary commands (sets and hashes sorted, scores as
/// Redis formats them).
fn contents(c: &mut Conn, key: &[u8]) -> (String, Vec<Vec<u8>>) {
    let t = c.cmd(&[&b"TYPE"[..], key]).expect_text();
    let cmd: &[&[u8]] = match t.as_str() {
        "string" => &[b"GET"],
        "list" => &[b"LRANGE", key, b"0", b"-1"],
        "set" => &[b"SMEMBERS"],
        "zset" => &[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"],
        "hash" => &[b"HGETALL"],
        _ => return (t, vec![]),
    };
    let mut args: Vec<&[u8]> = cmd.to_vec();
    if args.len() == 1 {
        args.push(key);
    }
    let items = match c.cmd(&args) {
        Reply::Bulk(b) => vec![b],
        Reply::Array(a) => a
            .iter()
            .map(|r| r.bytes().unwrap_or(b"?").to_vec())
            .collect(),
        other => panic!("{:?} -> {:?}", args, other),
    };
    (t.clone(), normalize(&t, items))
}

fn normalize(t: &str, items: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    match t {
        "set" => {
            let mut v = items;
            v.sort();
            v
        }
        "hash" => {
            let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = items
                .chunks(2)
                .map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default()))
                .collect();
            pairs.sort();
            pairs.into_iter().flat_map(|(f, v)| [f, v]).collect()
        }
        _ => items,
    }
}

/// The same contents computed from a value read from a file.
fn value_contents(v: &Value) -> (String, Vec<Vec<u8>>) {
    let mut items = Vec::new();
    match v {
        Value::Str(s) => items.push(s.to_vec()),
        Value::List(l) => l.for_each(|e| items.push(e.to_vec())),
        Value::Set(s) => s.for_each(|e| items.push(e.to_vec())),
        Value::ZSet(z) => z.for_each(|m, s| {
            items.push(m.to_vec());
            items.push(resp::format_double(s).into_bytes());
        }),
        Value::Hash(h) => h.iter().for_each(|(f, x)| {
            items.push(f.to_vec());
            items.push(x.to_vec());
        }),
        Value::Stream(s) => {
            let all = s.range(
                ferrokv::storage::stream::StreamId::MIN,
                ferrokv::storage::stream::StreamId::MAX,
                false,
            );
            for e in all {
                items.push(e.id.to_bytes());
                for (f, x) in e.fields {
                    items.push(f.to_vec());
                    items.push(x.to_vec());
                }
            }
        }
    }
    let t = v.type_name().to_string();
    let items = normalize(&t, items);
    (t, items)
}

fn digest(c: &mut Conn, key: &[u8]) -> Vec<u8> {
    c.cmd(&[&b"DEBUG"[..], b"DIGEST-VALUE", key]).expect_array()[0]
        .bytes()
        .unwrap()
        .to_vec()
}

fn ok(r: Reply, what: &str) {
    assert_eq!(r, Reply::Simple("OK".into()), "{}", what);
}

// ---------------------------------------------------------------------------------------
// Random values
// ---------------------------------------------------------------------------------------

/// A random element: small/large/negative integers, short text, long repetitive text,
/// binary bytes.
fn element(rng: &mut Rng) -> Vec<u8> {
    match rng.next() % 8 {
        0 => (rng.next() % 200).to_string().into_bytes(),
        1 => ((rng.next() as i64) >> (rng.next() % 64))
            .to_string()
            .into_bytes(),
        2 => format!("e{}", rng.next() % 1000).into_bytes(),
        3 => "ab".repeat(10 + (rng.next() % 60) as usize).into_bytes(),
        4 => (0..(rng.next() % 40)).map(|_| rng.next() as u8).collect(),
        5 => b"".to_vec(),
        6 => format!("{:.3}", (rng.next() % 100000) as f64 / 7.0).into_bytes(),
        _ => format!("member-{:08}", rng.next() % 100_000_000).into_bytes(),
    }
}

fn int_member(rng: &mut Rng) -> Vec<u8> {
    let bits = [15u32, 31, 62][(rng.next() % 3) as usize];
    let v = (rng.next() % (1u64 << bits)) as i64 - (1i64 << (bits - 1));
    v.to_string().into_bytes()
}

/// Build one random value of `kind` under `key` on redis-server with ordinary commands.
/// Returns whether Redis's DUMP is expected to be reproducible byte for byte (given equal
/// encodings): lists only when built by RPUSH.
fn build(r: &mut Conn, rng: &mut Rng, key: &[u8], kind: u64) -> bool {
    let size = match rng.next() % 10 {
        0 => 600 + rng.next() % 1500,
        1..=3 => 100 + rng.next() % 200,
        _ => 1 + rng.next() % 40,
    } as usize;
    let mut reproducible = true;
    let push = |r: &mut Conn, cmd: &[u8], items: Vec<Vec<u8>>| {
        for chunk in items.chunks(100) {
            let mut args: Vec<&[u8]> = vec![cmd, key];
            args.extend(chunk.iter().map(|x| x.as_slice()));
            assert!(
                !r.cmd(&args).is_error(),
                "{:?}",
                String::from_utf8_lossy(cmd)
            );
        }
    };
    match kind {
        0 => {
            let v = match rng.next() % 4 {
                0 => int_member(rng),
                1 => "xyz".repeat(10 + (rng.next() % 500) as usize).into_bytes(),
                _ => element(rng),
            };
            ok(r.cmd(&[&b"SET"[..], key, &v]), "SET");
        }
        1 => {
            let items: Vec<Vec<u8>> = (0..size).map(|_| element(rng)).collect();
            if rng.next().is_multiple_of(4) {
                reproducible = false;
                push(r, b"LPUSH", items);
            } else {
                push(r, b"RPUSH", items);
            }
        }
        2 => {
            let ints = rng.next().is_multiple_of(2);
            let items: Vec<Vec<u8>> = (0..size)
                .map(|_| if ints { int_member(rng) } else { element(rng) })
                .collect();
            push(r, b"SADD", items);
        }
        3 => {
            let mut items = Vec::new();
            for _ in 0..size {
                let score = match rng.next() % 4 {
                    0 => (rng.next() % 1000).to_string(),
                    1 => format!("{}", (rng.next() % 100000) as f64 / 3.0),
                    2 => format!("-{}.5", rng.next() % 100),
                    _ => ["inf", "-inf", "0", "1e300"][(rng.next() % 4) as usize].to_string(),
                };
                items.push(score.into_bytes());
                items.push(element(rng));
            }
            push(r, b"ZADD", items);
        }
        _ => {
            let mut items = Vec::new();
            for i in 0..size {
                items.push(format!("f{}", i).into_bytes());
                items.push(element(rng));
            }
            push(r, b"HSET", items);
        }
    }
    reproducible
}

/// Encodings whose DUMP Redis writes in an order ferrokv reproduces.
fn ordered_encoding(enc: &str) -> bool {
    matches!(
        enc,
        "int" | "embstr" | "raw" | "quicklist" | "listpack" | "intset" | "skiplist"
    )
}

#[test]
fn random_values_both_ways() {
    let redis = start_redis();
    let ferro = start_ferrokv(2);
    let mut r = redis.connect();
    let mut f = ferro.connect();
    let mut rng = Rng(0xd0d0_1234);
    let mut identical = 0;
    for i in 0..200u64 {
        let key = format!("k{}", i).into_bytes();
        let kind = i % 5;
        let reproducible = build(&mut r, &mut rng, &key, kind);
        let payload = r.cmd(&[&b"DUMP"[..], &key]).bytes().unwrap().to_vec();
        // Redis -> ferrokv.
        ok(
            f.cmd(&[&b"RESTORE"[..], &key, b"0", &payload]),
            "RESTORE in ferrokv",
        );
        let (rd, fd) = (digest(&mut r, &key), digest(&mut f, &key));
        assert_eq!(
            rd,
            fd,
            "digest of {} (kind {})",
            String::from_utf8_lossy(&key),
            kind
        );
        assert_eq!(f.cmd(&[&b"TYPE"[..], &key]), r.cmd(&[&b"TYPE"[..], &key]));
        // ferrokv -> Redis, under another name.
        let back = f.cmd(&[&b"DUMP"[..], &key]).bytes().unwrap().to_vec();
        let key2 = [&b"back:"[..], &key].concat();
        ok(
            r.cmd(&[&b"RESTORE"[..], &key2, b"0", &back]),
            "RESTORE in redis",
        );
        assert_eq!(digest(&mut r, &key2), rd);
        assert_eq!(contents(&mut r, &key2), contents(&mut r, &key));
        // Byte for byte when the encodings agree and the order is Redis's.
        let enc_r = r.cmd(&[&b"OBJECT"[..], b"ENCODING", &key]).expect_text();
        let enc_f = f.cmd(&[&b"OBJECT"[..], b"ENCODING", &key]).expect_text();
        if reproducible && enc_r == enc_f && ordered_encoding(&enc_r) {
            assert_eq!(
                common::escape(&back),
                common::escape(&payload),
                "DUMP of {} ({})",
                String::from_utf8_lossy(&key),
                enc_r
            );
            identical += 1;
        }
    }
    // Strings, quicklists, listpack hashes and skiplist sorted sets at least.
    eprintln!("{} of 200 DUMPs byte-identical to Redis's", identical);
    assert!(identical >= 90, "only {} byte-identical DUMPs", identical);
    // DUMP of a missing key is nil on both.
    assert_eq!(f.cmd(&["DUMP", "nokey"]), Reply::Nil);
}

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

/// A dataset with every type and encoding in databases 0, 1 and 5; some keys with TTLs.
fn build_dataset(r: &mut Conn) -> usize {
    let mut rng = Rng(0xf11e);
    let mut keys = 0;
    for db in ["0", "1", "5"] {
        ok(r.cmd(&["SELECT", db]), "SELECT");
        for i in 0..60u64 {
            let key = format!("db{}:k{}", db, i).into_bytes();
            build(r, &mut rng, &key, i % 5);
            if i % 4 == 0 {
                let at = (4_102_444_800_000 + i * 1000).to_string();
                assert_eq!(
                    r.cmd(&[&b"PEXPIREAT"[..], &key, at.as_bytes()]),
                    Reply::Int(1)
                );
            }
            keys += 1;
        }
    }
    ok(r.cmd(&["SELECT", "0"]), "SELECT");
    keys
}

fn read_file(
    path: &Path,
) -> Result<(Vec<LoadedKey>, ferrokv::persistence::rdb::RdbSummary), RdbError> {
    let file = std::fs::File::open(path).map_err(RdbError::Io)?;
    let mut keys = Vec::new();
    let summary = read_rdb(file, &Limits::default(), |k| {
        keys.push(k);
        Ok::<(), RdbError>(())
    })?;
    Ok((keys, summary))
}

fn server_digest(c: &mut Conn) -> Vec<u8> {
    c.cmd(&["DEBUG", "DIGEST"]).bytes().unwrap().to_vec()
}

#[test]
fn rdb_files_both_ways() {
    let redis = start_redis();
    let mut r = redis.connect();
    let total = build_dataset(&mut r);
    ok(r.cmd(&["SAVE"]), "SAVE");
    let path = redis.dir.path().join("dump.rdb");
    let (keys, summary) = read_file(&path).expect("read redis's dump.rdb");
    assert_eq!(summary.version, 10);
    assert!(summary.checksum_verified);
    let aux: Vec<String> = summary
        .aux
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert_eq!(
        aux,
        ["redis-ver", "redis-bits", "ctime", "used-mem", "aof-base"]
    );
    assert_eq!(keys.len(), total);
    // Every key, value and TTL as the server reports it.
    for k in &keys {
        ok(r.cmd(&["SELECT", &k.db.to_string()]), "SELECT");
        assert_eq!(
            value_contents(&k.value),
            contents(&mut r, &k.key),
            "{}",
            String::from_utf8_lossy(&k.key)
        );
        let pexp = r.cmd(&[&b"PEXPIRETIME"[..], &k.key]).expect_int();
        assert_eq!(if pexp < 0 { 0 } else { pexp as u64 }, k.expire_at_ms);
        assert!(k.lru_idle.is_none() && k.lfu_freq.is_none());
    }
    ok(r.cmd(&["SELECT", "0"]), "SELECT");
    let source_digest = server_digest(&mut r);

    // Written back by ferrokv's writer, loaded by a fresh redis-server.
    for compression in [true, false] {
        let dir = TempDir::new("rdb-out");
        let file = dir.path().join("out.rdb");
        let opts = SaveOptions {
            compression,
            ..SaveOptions::default()
        };
        let items = keys
            .iter()
            .map(|k| (k.db, k.key.as_slice(), &k.value, k.expire_at_ms));
        let out = write_rdb(std::fs::File::create(&file).unwrap(), &opts, items).unwrap();
        drop(out);
        let loaded = redis_with(&[
            "--dir",
            &dir.path().display().to_string(),
            "--dbfilename",
            "out.rdb",
        ]);
        let mut l = loaded.connect();
        assert_eq!(
            server_digest(&mut l),
            source_digest,
            "compression {}",
            compression
        );
        // And ferrokv's reader reads its own file back identically.
        let (again, s) = read_file(&file).unwrap();
        assert!(s.checksum_verified);
        assert_eq!(again.len(), keys.len());
        for (a, b) in again.iter().zip(&keys) {
            assert_eq!(
                (a.db, &a.key, a.expire_at_ms),
                (b.db, &b.key, b.expire_at_ms)
            );
            assert_eq!(value_contents(&a.value), value_contents(&b.value));
        }
    }

    // LRU / LFU metadata: IDLE and FREQ opcodes.
    for (policy, idle) in [("allkeys-lru", true), ("allkeys-lfu", false)] {
        ok(
            r.cmd(&["CONFIG", "SET", "maxmemory-policy", policy]),
            "CONFIG SET",
        );
        ok(r.cmd(&["SAVE"]), "SAVE");
        let (keys, _) = read_file(&path).unwrap();
        assert_eq!(keys.len(), total);
        for k in &keys {
            assert_eq!((k.lru_idle.is_some(), k.lfu_freq.is_some()), (idle, !idle));
        }
    }
    ok(
        r.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]),
        "CONFIG SET",
    );

    // rdbchecksum no: Redis writes a zero trailer; the file still loads.
    let plain = redis_with(&["--rdbchecksum", "no"]);
    let mut p = plain.connect();
    assert_eq!(build_dataset(&mut p), total);
    ok(p.cmd(&["SAVE"]), "SAVE");
    let (keys, s) = read_file(&plain.dir.path().join("dump.rdb")).unwrap();
    assert!(!s.checksum_verified);
    assert_eq!(keys.len(), total);
}

/// A redis-server like `start_redis`'s with `extra` arguments.
fn redis_with(extra: &[&str]) -> common::ServerGuard {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    start_server("redis", &redis_server_bin(), &move |port| {
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--enable-debug-command",
            "yes",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().cloned());
        args
    })
}

// ---------------------------------------------------------------------------------------
// Corruption
// ---------------------------------------------------------------------------------------

#[test]
fn corrupt_payloads_and_files() {
    let redis = start_redis();
    let ferro = start_ferrokv(2);
    let mut r = redis.connect();
    let mut f = ferro.connect();
    let mut rng = Rng(77);
    for kind in 0..5 {
        let key = format!("c{}", kind).into_bytes();
        build(&mut r, &mut rng, &key, kind);
    }
    for kind in 0..5 {
        let key = format!("c{}", kind).into_bytes();
        let payload = r.cmd(&[&b"DUMP"[..], &key]).bytes().unwrap().to_vec();
        // Every truncation (spread over ~400 cuts for big payloads) is refused like Redis.
        let stride = payload.len() / 400 + 1;
        for cut in (0..payload.len()).step_by(stride) {
            let args: [&[u8]; 5] = [b"RESTORE", b"t", b"0", &payload[..cut], b"REPLACE"];
            let (a, b) = (r.request(&args).unwrap(), f.request(&args).unwrap());
            assert_eq!(common::escape(&b), common::escape(&a), "cut {}", cut);
        }
        // Flipped bytes: wrong checksum on both.
        for i in (0..payload.len()).step_by(stride) {
            let mut bad = payload.clone();
            bad[i] ^= 0x41;
            let args: [&[u8]; 5] = [b"RESTORE", b"t", b"0", &bad, b"REPLACE"];
            assert!(f.cmd(&args).is_error());
        }
    }
    assert_eq!(f.cmd(&["PING"]), Reply::Simple("PONG".into()));

    // A Redis-written file: truncations are errors, flipped bytes never panic (and fail
    // the checksum when the structure survives).
    ok(r.cmd(&["SAVE"]), "SAVE");
    let bytes = std::fs::read(redis.dir.path().join("dump.rdb")).unwrap();
    let load = |data: &[u8]| read_rdb(data, &Limits::default(), |_| Ok::<(), RdbError>(()));
    assert!(load(&bytes).is_ok());
    for cut in (0..bytes.len()).step_by(bytes.len() / 500 + 1) {
        assert!(load(&bytes[..cut]).is_err(), "cut {}", cut);
    }
    for i in (0..bytes.len()).step_by(bytes.len() / 500 + 1) {
        let mut bad = bytes.clone();
        bad[i] ^= 0x10;
        assert!(load(&bad).is_err(), "flip at {}", i);
    }
}

// ---------------------------------------------------------------------------------------
// IDLETIME / FREQ
// ---------------------------------------------------------------------------------------

/// RESTORE's IDLETIME sets OBJECT IDLETIME as in Redis, including the wrap-around of its
/// 24-bit LRU clock for huge values (a clock tick may separate the two servers, hence ±1),
/// and FREQ sets OBJECT FREQ under an LFU policy.
#[test]
fn restore_idletime_and_freq() {
    let redis = start_redis();
    let ferro = start_ferrokv(2);
    let (mut r, mut f) = (redis.connect(), ferro.connect());
    let payload = b"\x00\x05hello\x0a\x00cr\xdfve4 \x0a";
    for idle in [
        "0",
        "1000",
        "10000000",
        "16777215",
        "16777216",
        "20000000",
        "100000000",
        "2147483648",
        "1099511627776",
    ] {
        let args: [&[u8]; 7] = [
            b"RESTORE",
            b"i",
            b"0",
            payload,
            b"REPLACE",
            b"IDLETIME",
            idle.as_bytes(),
        ];
        ok(r.cmd(&args), "RESTORE IDLETIME");
        ok(f.cmd(&args), "RESTORE IDLETIME");
        let a = r.cmd(&["OBJECT", "IDLETIME", "i"]).expect_int();
        let b = f.cmd(&["OBJECT", "IDLETIME", "i"]).expect_int();
        assert!(
            (a - b).abs() <= 1,
            "IDLETIME {}: redis {} ferrokv {}",
            idle,
            a,
            b
        );
    }
    for c in [&mut r, &mut f] {
        ok(
            c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]),
            "CONFIG",
        );
        for freq in ["0", "9", "255"] {
            let args: [&[u8]; 7] = [
                b"RESTORE",
                b"f",
                b"0",
                payload,
                b"REPLACE",
                b"FREQ",
                freq.as_bytes(),
            ];
            ok(c.cmd(&args), "RESTORE FREQ");
            let got = c.cmd(&["OBJECT", "FREQ", "f"]).expect_int();
            assert_eq!(got.to_string(), freq);
        }
        ok(
            c.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]),
            "CONFIG",
        );
    }
}
