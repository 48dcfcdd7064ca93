//! Tests of the RDB module against payloads captured from redis-server 7.0.15, round trips,
//! whole files, and hostile input (every truncation, flipped bits, random bytes).

use super::encode::{score_text, zset_listpack};
use super::*;
use crate::storage::hash::HashValue;
use crate::storage::list::End;
use crate::storage::value::{StrValue, Value};
use crate::storage::{ListValue, SetValue, ZSetValue};

/// A value's contents in a comparable form (sets and hash tables sorted).
#[derive(Debug, PartialEq)]
enum Content {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, u64)>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Stream(Vec<(String, Pairs)>),
}

/// Field/value pairs of a stream entry.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn content(v: &Value) -> Content {
    match v {
        Value::Str(s) => Content::Str(s.to_vec()),
        Value::List(l) => {
            let mut out = Vec::new();
            l.for_each(|e| out.push(e.to_vec()));
            Content::List(out)
        }
        Value::Set(s) => {
            let mut out = Vec::new();
            s.for_each(|e| out.push(e.to_vec()));
            out.sort();
            Content::Set(out)
        }
        Value::ZSet(z) => {
            let mut out = Vec::new();
            z.for_each(|m, s| out.push((m.to_vec(), s.to_bits())));
            Content::ZSet(out)
        }
        Value::Hash(h) => {
            let mut out: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            out.sort();
            Content::Hash(out)
        }
        Value::Stream(s) => Content::Stream(
            s.range(
                crate::storage::stream::StreamId::MIN,
                crate::storage::stream::StreamId::MAX,
                false,
            )
            .map(|e| {
                let f = e.fields.iter().map(|(f, v)| (f.to_vec(), v.to_vec()));
                (e.id.to_string(), f.collect())
            })
            .collect(),
        ),
    }
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn strs(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| b(s)).collect()
}

/// DUMP payloads from redis-server 7.0.15 (default config, hash-max-listpack-entries 128)
/// and what they hold; `identical` when ferrokv's DUMP of the restored value must give the
/// same bytes with the placeholder-independent encodings (strings, lists, listpack hashes,
/// skiplist sorted sets).
fn redis_payloads() -> Vec<(&'static str, &'static [u8], Content, bool)> {
    vec![
        (
            "embstr",
            b"\x00\x05hello\x0a\x00cr\xdfve4 \x0a",
            Content::Str(b("hello")),
            true,
        ),
        (
            "int8",
            b"\x00\xc0{\x0a\x00H\xe2S\xe1\x00zg\xb9",
            Content::Str(b("123")),
            true,
        ),
        (
            "int16",
            b"\x00\xc1\x7f\xff\x0a\x00\x17`\x82(T\x80\x84\x80",
            Content::Str(b("-129")),
            true,
        ),
        (
            "int32",
            b"\x00\xc2p\x11\x01\x00\x0a\x00\x01\xa4\x08\xfe\x950\x95\xa5",
            Content::Str(b("70000")),
            true,
        ),
        (
            "int64 as digits",
            b"\x00\x0b12345678901\x0a\x000NR\xd7'\x17e\x10",
            Content::Str(b("12345678901")),
            true,
        ),
        (
            "lzf string",
            b"\x00\xc3\x09@d\x01aa\xe0W\x00\x01aa\x0a\x00\xe8\xa3\xb5\x07\xb0m\xf2q",
            Content::Str(vec![b'a'; 100]),
            true,
        ),
        (
            "quicklist2 list (lzf node)",
            b"\x12\x01\x02\xc3+@k\x1ck\x00\x00\x00\x07\x00\x81a\x02\x81b\x02\x01\x01\xf1x\xec\x03\xf2p\x11\x01\x04\xf45\x1c\xdc\xdf\x02 \x1b\x03\x09\xe0Fx\xe0<\x00\x01H\xff\x0a\x00\x1bK\x88D\x9f\x8f\x9d\xf0",
            Content::List(
                [
                    b("a"),
                    b("b"),
                    b("1"),
                    b("-5000"),
                    b("70000"),
                    b("12345678901"),
                    vec![b'x'; 70],
                ]
                .to_vec(),
            ),
            true,
        ),
        (
            "intset16",
            b"\x0b\x0e\x02\x00\x00\x00\x03\x00\x00\x00\xfd\xff\x01\x00\x02\x00\x0a\x00\xd1\xb7\x8e\xd9\xbc\x07\xc2\x7f",
            Content::Set(strs(&["-3", "1", "2"])),
            false,
        ),
        (
            "intset32",
            b"\x0b\x14\x04\x00\x00\x00\x03\x00\x00\x00\x90\xee\xfe\xff\x01\x00\x00\x00p\x11\x01\x00\x0a\x00Y\xe5Mq\x1e{\xfft",
            Content::Set(strs(&["-70000", "1", "70000"])),
            false,
        ),
        (
            "intset64",
            b"\x0b\x18\x08\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x005\x1c\xdc\xdf\x02\x00\x00\x00\x0a\x00\xf2\xf1\x98\xbf\x9b;\x88\x85",
            Content::Set(strs(&["1", "12345678901"])),
            false,
        ),
        (
            "hashtable set",
            b"\x02\x03\x01b\x01a\x01c\x0a\x00\x99\xcc\x80\xddY\x82\xd2U",
            Content::Set(strs(&["a", "b", "c"])),
            false,
        ),
        (
            "listpack hash (lzf)",
            b"\x10\xc3 8\x188\x00\x00\x00\x06\x00\x81f\x02\x81v\x02\x81n\x02\x05\x01\x84long\x05\x9ey\xe0\x14\x00\x01\x1f\xff\x0a\x00\xe04\xfe\x0e\xcc\xc3\xee\xe1",
            Content::Hash(vec![
                (b("f"), b("v")),
                (b("long"), vec![b'y'; 30]),
                (b("n"), b("5")),
            ]),
            true,
        ),
        (
            "hashtable hash",
            b"\x04\x02\x01n\xc0\x05\x01f\x01v\x0a\x00\x8e\x8c\xc4Z\xf3v\xf1\x8b",
            Content::Hash(vec![(b("f"), b("v")), (b("n"), b("5"))]),
            false,
        ),
        (
            "listpack zset (lzf)",
            b"\x11\xc3@O@Y\x1bY\x00\x00\x00\x10\x00\x81h\x02\x84-2.5\x05\x81d\x02\x00\x01\x81c\x02\x930.10\xe0\x05\x00\x121\x14\x81a\x02\x01\x01\x81b\x02\x831.5\x04\x81g\x02\xf4 ; \x00\x15\x10\x00\x09\x81f\x02\x851e+20\x06\x81e\x02\x83inf\x04\xff\x0a\x00\xa3(\x0770}\xf2E",
            Content::ZSet(vec![
                (b("h"), (-2.5f64).to_bits()),
                (b("d"), 0f64.to_bits()),
                (b("c"), 0.1f64.to_bits()),
                (b("a"), 1f64.to_bits()),
                (b("b"), 1.5f64.to_bits()),
                (b("g"), 4503599627370496f64.to_bits()),
                (b("f"), 1e20f64.to_bits()),
                (b("e"), f64::INFINITY.to_bits()),
            ]),
            false,
        ),
        (
            "skiplist zset",
            b"\x05\x03\x01b\x00\x00\x00\x00\x00\x00\x04@\x01a\x00\x00\x00\x00\x00\x00\xf0?\x01c\x00\x00\x00\x00\x00\x00\xf0\xff\x0a\x00\x9a$\xca\x8f\xdc\xb1\xd0\x8c",
            Content::ZSet(vec![
                (b("c"), f64::NEG_INFINITY.to_bits()),
                (b("a"), 1f64.to_bits()),
                (b("b"), 2.5f64.to_bits()),
            ]),
            false,
        ),
    ]
}

#[test]
fn redis_payloads_load_with_their_contents() {
    for (name, payload, expected, _) in redis_payloads() {
        let v = parse_dump_payload(payload, &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {}", name, e));
        assert_eq!(content(&v), expected, "{}", name);
        // And what ferrokv writes loads back to the same contents.
        let again = parse_dump_payload(&dump_payload(&v), &Limits::default()).unwrap();
        assert_eq!(content(&again), expected, "{} (re-encoded)", name);
    }
}

#[test]
fn dump_is_byte_identical_to_redis() {
    for (name, payload, _, identical) in redis_payloads() {
        let v = parse_dump_payload(payload, &Limits::default()).unwrap();
        if identical {
            assert_eq!(dump_payload(&v), payload.to_vec(), "{}", name);
        }
    }
}

#[test]
fn zset_listpack_and_intset_blobs_match_redis() {
    // The blob inside the listpack-zset payload, as Redis compressed it.
    let (_, payload, expected, _) = redis_payloads()
        .into_iter()
        .find(|p| p.0 == "listpack zset (lzf)")
        .unwrap();
    let Content::ZSet(items) = expected else {
        unreachable!()
    };
    let items: Vec<(Vec<u8>, f64)> = items
        .into_iter()
        .map(|(m, s)| (m, f64::from_bits(s)))
        .collect();
    let blob = zset_listpack(items.iter().map(|(m, s)| (m.as_slice(), *s)));
    let mut body = vec![types::ZSET_LISTPACK];
    encode::write_string(&mut body, &blob, true);
    assert_eq!(&payload[..payload.len() - 10], body.as_slice());
    assert_eq!(score_text(-0.0), "0");
    assert_eq!(score_text(0.1), "0.10000000000000001");
    assert_eq!(score_text(1e20), "1e+20");
    // Intsets: the narrowest width, as Redis has it.
    let (_, payload, _, _) = redis_payloads()
        .into_iter()
        .find(|p| p.0 == "intset32")
        .unwrap();
    let mut body = vec![types::SET_INTSET];
    encode::write_string(&mut body, &intset::encode(&[-70000, 1, 70000]), true);
    assert_eq!(&payload[..payload.len() - 10], body.as_slice());
}

#[test]
fn payload_footer_checks() {
    let p = dump_payload(&Value::Str(StrValue::from_bytes(b"x")));
    assert!(verify_dump_payload(&p).is_ok());
    // Version 11 is refused, 0 and 9 accepted (when the CRC matches).
    for (version, ok) in [(11u16, false), (0, true), (9, true), (10, true)] {
        let mut q = p[..p.len() - 10].to_vec();
        q.extend_from_slice(&version.to_le_bytes());
        let crc = crc64::crc64(&q);
        q.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(verify_dump_payload(&q).is_ok(), ok, "version {}", version);
    }
    let mut bad_crc = p.clone();
    *bad_crc.last_mut().unwrap() ^= 1;
    assert!(matches!(
        parse_dump_payload(&bad_crc, &Limits::default()),
        Err(RdbError::PayloadFooter)
    ));
    assert!(matches!(
        parse_dump_payload(b"short", &Limits::default()),
        Err(RdbError::PayloadFooter)
    ));
}

/// Build a payload around a hand-made body (version 10, correct CRC).
fn payload(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn redis_quirks_are_kept() {
    let l = Limits::default();
    // A value cut short reads on into the footer, as in Redis (0x0a = 10).
    let v = parse_dump_payload(&payload(b"\x00\xc0"), &l).unwrap();
    assert_eq!(content(&v), Content::Str(b("10")));
    // Trailing bytes after the value are ignored.
    let v = parse_dump_payload(&payload(b"\x00\x05hello extra"), &l).unwrap();
    assert_eq!(content(&v), Content::Str(b("hello")));
    // LZF with an expected length of 0 is the empty string.
    let v = parse_dump_payload(&payload(b"\x00\xc3\x01\x00\x00"), &l).unwrap();
    assert_eq!(content(&v), Content::Str(vec![]));
    // Errors Redis reports as "Bad data format".
    for body in [
        &b"\x00\xc3\x00\x05"[..],
        b"\x00\xc4\x00",
        b"\x00\x82\x00",
        b"\x01\x00",
        b"\x02\x00",
        b"\x04\x00",
        b"\x05\x00",
        b"\x12\x00",
        b"\x12\x01\x03\x01x",
        b"\x12\x01\x01\x00",
        b"\x12\x01\x02\x07\x07\x00\x00\x00\x00\x00\xff",
        b"\x10\x09\x09\x00\x00\x00\x01\x00\x81a\x02\xff",
        b"\x0f\x00",
        b"\x07\x00",
        b"\x08\x00",
    ] {
        assert!(
            parse_dump_payload(&payload(body), &l).is_err(),
            "{:?} should be an error",
            body
        );
    }
    // A plain quicklist node holds one element.
    let v = parse_dump_payload(&payload(b"\x12\x01\x01\x01x"), &l).unwrap();
    assert_eq!(content(&v), Content::List(strs(&["x"])));
}

#[test]
fn legacy_encodings_load() {
    use super::listpack::Entry;
    use super::ziplist::tests::build;
    let l = Limits::default();
    let blob = |b: Vec<u8>| {
        let mut out = Vec::new();
        encode::write_string(&mut out, &b, false);
        out
    };
    let zl = build(&[Entry::Str(b"a"), Entry::Int(5), Entry::Str(b"bb")]);
    let empty = build(&[]);
    // LIST_QUICKLIST: an empty node (Redis 6.2 could write them) is skipped.
    let mut body = vec![types::LIST_QUICKLIST, 2];
    body.extend(blob(empty.clone()));
    body.extend(blob(zl.clone()));
    let v = parse_dump_payload(&payload(&body), &l).unwrap();
    assert_eq!(content(&v), Content::List(strs(&["a", "5", "bb"])));
    // LIST_ZIPLIST.
    let mut body = vec![types::LIST_ZIPLIST];
    body.extend(blob(zl));
    assert!(parse_dump_payload(&payload(&body), &l).is_ok());
    // HASH_ZIPLIST and ZSET_ZIPLIST (a score that is not a number reads as 0, as in Redis).
    let hz = build(&[
        Entry::Str(b"f"),
        Entry::Str(b"v"),
        Entry::Str(b"n"),
        Entry::Int(7),
    ]);
    let mut body = vec![types::HASH_ZIPLIST];
    body.extend(blob(hz));
    let v = parse_dump_payload(&payload(&body), &l).unwrap();
    assert_eq!(
        content(&v),
        Content::Hash(vec![(b("f"), b("v")), (b("n"), b("7"))])
    );
    let zz = build(&[
        Entry::Str(b"m"),
        Entry::Str(b"abc"),
        Entry::Str(b"k"),
        Entry::Str(b"2.5"),
    ]);
    let mut body = vec![types::ZSET_ZIPLIST];
    body.extend(blob(zz));
    let v = parse_dump_payload(&payload(&body), &l).unwrap();
    assert_eq!(
        content(&v),
        Content::ZSet(vec![(b("m"), 0f64.to_bits()), (b("k"), 2.5f64.to_bits())])
    );
    // Duplicates are refused.
    let dup = build(&[
        Entry::Str(b"a"),
        Entry::Int(1),
        Entry::Str(b"a"),
        Entry::Int(2),
    ]);
    let mut body = vec![types::ZSET_ZIPLIST];
    body.extend(blob(dup));
    assert!(parse_dump_payload(&payload(&body), &l).is_err());
    // HASH_ZIPMAP.
    let mut body = vec![types::HASH_ZIPMAP];
    body.extend(blob(b"\x02\x01a\x02\x00xy\x01b\x01\x02z..\xff".to_vec()));
    let v = parse_dump_payload(&payload(&body), &l).unwrap();
    assert_eq!(
        content(&v),
        Content::Hash(vec![(b("a"), b("xy")), (b("b"), b("z"))])
    );
    // Old text scores (ZSET, type 3) and plain lists (type 1).
    let body = b"\x03\x02\x01a\x031.5\x01b\xfe";
    let v = parse_dump_payload(&payload(body), &l).unwrap();
    assert_eq!(
        content(&v),
        Content::ZSet(vec![
            (b("a"), 1.5f64.to_bits()),
            (b("b"), f64::INFINITY.to_bits())
        ])
    );
    let v = parse_dump_payload(&payload(b"\x01\x02\x01a\xc0\x07"), &l).unwrap();
    assert_eq!(content(&v), Content::List(strs(&["a", "7"])));
    // SET_LISTPACK (Redis 7.2).
    let mut lp = listpack::Builder::new();
    lp.push(b"x");
    lp.push(b"12");
    let mut body = vec![types::SET_LISTPACK];
    body.extend(blob(lp.finish()));
    let v = parse_dump_payload(&payload(&body), &l).unwrap();
    assert_eq!(content(&v), Content::Set(strs(&["12", "x"])));
}

/// One value of every type, with the shapes that exercise every writer path.
fn sample_values() -> Vec<Value> {
    let limits = Limits::default();
    let mut out = vec![
        Value::Str(StrValue::from_bytes(b"plain")),
        Value::Str(StrValue::Int(-9_000_000_000)),
        Value::Str(StrValue::raw(vec![b'z'; 300])),
        Value::Str(StrValue::from_bytes(b"")),
    ];
    let mut list = ListValue::new();
    for i in 0..600 {
        let item = format!("{}{}", i, "y".repeat(i % 80));
        list.push(End::Right, item.as_bytes(), limits.list);
    }
    out.push(Value::List(list));
    let mut set = SetValue::new();
    for m in ["1", "-2", "x", "300000"] {
        set.insert(m.as_bytes(), limits.set);
    }
    out.push(Value::Set(set));
    let mut z = ZSetValue::new();
    for (i, m) in ["a", "b", "c", "ddd"].iter().enumerate() {
        z.insert(m.as_bytes(), i as f64 * 0.25 - 0.5, limits.zset);
    }
    out.push(Value::ZSet(z));
    let mut small = HashValue::default();
    small.set(b"f", b"v", limits.hash);
    small.set(b"12", b"-7", limits.hash);
    out.push(Value::Hash(small));
    let mut big = HashValue::default();
    for i in 0..300 {
        let f = format!("field{}", i);
        big.set(f.as_bytes(), &vec![b'v'; i % 100], limits.hash);
    }
    out.push(Value::Hash(big));
    out
}

#[test]
fn values_round_trip_with_and_without_compression() {
    for compression in [true, false] {
        let opts = EncodeOptions {
            compression,
            list_max_listpack_size: -2,
        };
        for v in sample_values() {
            let mut bytes = Vec::new();
            encode_value(&v, &opts, &mut bytes);
            let (back, used) = decode_value(&bytes, &Limits::default()).unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(content(&back), content(&v));
        }
    }
}

#[test]
fn list_nodes_follow_the_fill() {
    // With a count fill of 3, seven elements make nodes of 3, 3 and 1.
    let mut list = ListValue::new();
    for i in 0..7 {
        list.push(End::Right, i.to_string().as_bytes(), Limits::default().list);
    }
    let opts = EncodeOptions {
        compression: false,
        list_max_listpack_size: 3,
    };
    let mut bytes = Vec::new();
    encode_value(&Value::List(list), &opts, &mut bytes);
    assert_eq!(&bytes[..2], &[types::LIST_QUICKLIST_2, 3]);
}

/// Every truncation of every payload is an error; no bit flip panics.
#[test]
fn truncated_and_flipped_payloads() {
    let mut payloads: Vec<Vec<u8>> = redis_payloads().into_iter().map(|p| p.1.to_vec()).collect();
    payloads.extend(sample_values().iter().map(dump_payload));
    let l = Limits::default();
    for p in &payloads {
        // Every cut of small payloads, ~500 cuts spread over big ones.
        let stride = (p.len() / 500).max(1);
        for cut in (0..p.len()).step_by(stride) {
            assert!(parse_dump_payload(&p[..cut], &l).is_err());
        }
        let body = &p[..p.len() - 10];
        for cut in (0..body.len()).step_by(stride) {
            assert!(decode_value(&body[..cut], &l).is_err(), "cut {}", cut);
        }
        // Flipped bits in the value (with the CRC fixed up so the value gets parsed).
        let step = (body.len() / 200).max(1);
        for i in (0..body.len()).step_by(step) {
            for bit in [0, 3, 7] {
                let mut q = body.to_vec();
                q[i] ^= 1 << bit;
                let _ = parse_dump_payload(&payload(&q), &l);
                let _ = decode_value(&q, &l);
            }
        }
    }
}

/// SplitMix64, for a randomized decoder test that is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Random mutations (byte changes, insertions, deletions, splices) of valid values and
/// files, and plain random bytes, through the value decoder and the file reader: errors
/// are fine, panics are not.
#[test]
fn randomized_decoder_never_panics() {
    let mut seeds: Vec<Vec<u8>> = sample_values()
        .iter()
        .map(|v| {
            let mut b = Vec::new();
            encode_value(v, &EncodeOptions::default(), &mut b);
            b
        })
        .collect();
    seeds.extend(redis_payloads().into_iter().map(|p| p.1.to_vec()));
    seeds.push(sample_file(true));
    let mut rng = Rng(0x5eed_0001);
    let l = Limits::default();
    for round in 0..20_000 {
        let mut data = if round % 10 == 0 {
            (0..rng.next() % 64).map(|_| rng.next() as u8).collect()
        } else {
            seeds[(rng.next() % seeds.len() as u64) as usize].clone()
        };
        for _ in 0..1 + rng.next() % 4 {
            if data.is_empty() {
                break;
            }
            let at = (rng.next() % data.len() as u64) as usize;
            match rng.next() % 5 {
                0 => data[at] = rng.next() as u8,
                1 => data[at] ^= 1 << (rng.next() % 8),
                2 => {
                    data.remove(at);
                }
                3 => data.insert(at, rng.next() as u8),
                _ => data.truncate(at),
            }
        }
        let _ = decode_value(&data, &l);
        let _ = parse_dump_payload(&payload(&data), &l);
        if data.starts_with(b"REDIS") {
            let _ = read_rdb(&data[..], &l, |_k| Ok::<(), RdbError>(()));
        }
    }
}

/// A file with two databases, TTLs, and every sample value.
fn sample_file(checksum: bool) -> Vec<u8> {
    let values = sample_values();
    let keys: Vec<Vec<u8>> = (0..values.len())
        .map(|i| format!("k{}", i).into_bytes())
        .collect();
    let items = values.iter().zip(&keys).enumerate().map(|(i, (v, k))| {
        (
            i % 2 * 3,
            k.as_slice(),
            v,
            if i.is_multiple_of(3) {
                4_000_000_000_000
            } else {
                0
            },
        )
    });
    let opts = SaveOptions {
        checksum,
        ctime: 1_700_000_000,
        ..SaveOptions::default()
    };
    write_rdb(Vec::new(), &opts, items).unwrap()
}

#[test]
fn file_round_trip() {
    for checksum in [true, false] {
        let file = sample_file(checksum);
        assert!(file.starts_with(b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfa\x0aredis-bits\xc0\x40"));
        let mut keys = Vec::new();
        let summary = read_rdb(&file[..], &Limits::default(), |k: LoadedKey| {
            keys.push(k);
            Ok::<(), RdbError>(())
        })
        .unwrap();
        assert_eq!(summary.version, 10);
        assert_eq!(summary.checksum_verified, checksum);
        assert_eq!(summary.aux.len(), 5);
        let values = sample_values();
        assert_eq!(keys.len(), values.len());
        // Keys come grouped by database: db 0 first.
        let mut sorted: Vec<&LoadedKey> = keys.iter().collect();
        sorted.sort_by_key(|k| k.key.clone());
        for k in &keys {
            let i: usize = std::str::from_utf8(&k.key[1..]).unwrap().parse().unwrap();
            assert_eq!(k.db, i % 2 * 3);
            assert_eq!(k.expire_at_ms != 0, i.is_multiple_of(3));
            assert_eq!(content(&k.value), content(&values[i]));
        }
        // Corruption: every truncation fails; a flipped byte fails the checksum.
        for cut in (0..file.len()).step_by(file.len() / 300 + 1) {
            assert!(
                read_rdb(&file[..cut], &Limits::default(), |_| Ok::<(), RdbError>(())).is_err()
            );
        }
        if checksum {
            let mut bad = file.clone();
            let mid = bad.len() / 2;
            bad[mid] ^= 0x20;
            assert!(read_rdb(&bad[..], &Limits::default(), |_| Ok::<(), RdbError>(())).is_err());
        }
    }
}

#[test]
fn file_opcodes() {
    // IDLE, FREQ, EXPIRETIME (seconds), RESIZEDB, an empty key skipped, no checksum.
    let mut f = b"REDIS0009".to_vec();
    f.extend_from_slice(b"\xfe\x02\xfb\x02\x00");
    f.extend_from_slice(b"\xf8\x05\x00\x01a\x01x");
    f.extend_from_slice(b"\xf9\x07\xfd\x10\x00\x00\x00\x00\x01b\x01y");
    f.extend_from_slice(b"\x02\x01e\x00");
    f.push(0xff);
    f.extend_from_slice(&[0; 8]);
    let mut keys = Vec::new();
    let s = read_rdb(&f[..], &Limits::default(), |k: LoadedKey| {
        keys.push(k);
        Ok::<(), RdbError>(())
    })
    .unwrap();
    assert_eq!(s.keys, 2);
    assert_eq!(s.empty_keys_skipped, 1);
    assert!(!s.checksum_verified);
    assert_eq!(
        (keys[0].db, keys[0].lru_idle, keys[0].lfu_freq),
        (2, Some(5), None)
    );
    assert_eq!((keys[1].lfu_freq, keys[1].expire_at_ms), (Some(7), 16_000));
    // Functions and module data are unsupported; bad signature and versions are refused.
    for (bytes, what) in [
        (&b"REDIS0010\xf5"[..], "functions"),
        (b"REDIS0010\xf7", "module"),
        (b"REDIS0010\x00\x01k\x15", "stream"),
        (b"RODIS0010\xff", "signature"),
        (b"REDIS0013\xff", "version"),
    ] {
        let r = read_rdb(bytes, &Limits::default(), |_| Ok::<(), RdbError>(()));
        assert!(r.is_err(), "{}", what);
    }
}
