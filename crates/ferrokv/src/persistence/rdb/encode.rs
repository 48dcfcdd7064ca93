//! Writing values in RDB form, the way Redis 7.0's `rdbSaveObject` does.

use super::crc64::crc64;
use super::{intset, listpack, lzf, types, RDB_VERSION};
use crate::storage::hash::HashValue;
use crate::storage::value::{StrRef, ValueRef};
use crate::storage::{ListRef, SetValue, ZSetRef};

/// Choices that change the bytes written.
#[derive(Clone, Copy, Debug)]
pub struct EncodeOptions {
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes when that saves at least
    /// 4 bytes, as Redis does.
    pub compression: bool,
    /// `list-max-listpack-size`: how lists are cut into quicklist nodes (as RPUSH fills
    /// them in Redis).
    pub list_max_listpack_size: i64,
}

impl Default for EncodeOptions {
    /// Redis's defaults: compression on, 8 KiB list nodes.
    fn default() -> Self {
        EncodeOptions {
            compression: true,
            list_max_listpack_size: -2,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------------------

/// `rdbSaveLen`: 6, 14, 32 or 64 bits (big-endian beyond 6).
pub(super) fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(((len >> 8) as u8) | 0x40);
        out.push(len as u8);
    } else if len <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// `rdbEncodeInteger`: the 8, 16 or 32-bit integer string encodings; false when `v` needs
/// more (Redis then writes its digits).
fn write_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(b) = i8::try_from(v) {
        out.push(0xc0);
        out.push(b as u8);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xc1);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xc2);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// `rdbSaveLongLongAsStringObject`: an integer-encoded string, or its digits.
pub(super) fn write_i64_string(out: &mut Vec<u8>, v: i64) {
    if !write_int_encoded(out, v) {
        let digits = v.to_string();
        write_len(out, digits.len() as u64);
        out.extend_from_slice(digits.as_bytes());
    }
}

/// `rdbSaveRawString`: integer encoding for short canonical integers, LZF when enabled and
/// worth it, else length and bytes.
pub(super) fn write_string(out: &mut Vec<u8>, s: &[u8], compression: bool) {
    if s.len() <= 11 {
        if let Some(v) = crate::util::parse_canonical_i64(s) {
            if write_int_encoded(out, v) {
                return;
            }
        }
    }
    if compression && s.len() > 20 {
        // Redis requires the compressed form to save at least 4 bytes.
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push(0xc3);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// `rdbSaveBinaryDoubleValue`: 8 bytes little-endian.
fn write_binary_double(out: &mut Vec<u8>, d: f64) {
    out.extend_from_slice(&d.to_le_bytes());
}

/// Redis 7.0's `d2string`, the text of a score inside a listpack: integers in (-2^52, 2^52)
/// without decimals (-0 included, which becomes "0"), else `%.17g`.
pub(super) fn score_text(d: f64) -> String {
    const MIN: f64 = -4503599627370495.0;
    const MAX: f64 = 4503599627370496.0;
    if d.is_nan() {
        "nan".into()
    } else if d.is_infinite() {
        if d < 0.0 { "-inf" } else { "inf" }.into()
    } else if d > MIN && d < MAX && d == (d as i64) as f64 {
        (d as i64).to_string()
    } else {
        resp::format_double(d)
    }
}

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

/// Append `value` as RDB type byte + payload, the form DUMP and the file writer use.
///
/// Encodings chosen (Redis 7.0's):
/// * strings: integer-encoded when canonical and 32-bit, LZF when compression is on and it
///   saves space, else raw;
/// * lists: QUICKLIST_2, elements cut into listpack nodes as RPUSH fills them under
///   `list_max_listpack_size` (byte-identical to Redis for lists built by RPUSH);
/// * sets: INTSET (narrowest width, sorted) when the set is `intset`-encoded, else SET in
///   the set's iteration order;
/// * sorted sets: ZSET_LISTPACK when `listpack`-encoded, else ZSET_2 from the highest
///   score down (both byte-identical to Redis);
/// * hashes: HASH_LISTPACK in insertion order (byte-identical), else HASH in table order.
pub fn encode_value<'a>(value: impl Into<ValueRef<'a>>, opts: &EncodeOptions, out: &mut Vec<u8>) {
    match value.into() {
        ValueRef::Str(s) => {
            out.push(types::STRING);
            write_str_value(out, s, opts.compression);
        }
        ValueRef::List(l) => write_list(out, l, opts),
        ValueRef::Set(s) => write_set(out, s, opts.compression),
        ValueRef::ZSet(z) => write_zset(out, z, opts.compression),
        ValueRef::Hash(h) => write_hash(out, h, opts.compression),
        ValueRef::Stream(s) => super::stream::write_stream(out, s, opts.compression),
    }
}

/// `rdbSaveStringObject` for a string value.
pub(super) fn write_str_value(out: &mut Vec<u8>, s: StrRef<'_>, compression: bool) {
    match s {
        StrRef::Int(n) => write_i64_string(out, n),
        StrRef::Bytes { data, .. } => write_string(out, data, compression),
    }
}

/// Redis's `packed_threshold`: elements this large get a node of their own (PLAIN).
const PACKED_THRESHOLD: usize = 1 << 30;
/// `SIZE_SAFETY_LIMIT`: the most bytes a count-limited node may hold.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Node size limits of `list-max-listpack-size` -1 to -5.
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// `QUICKLIST_NODE_CONTAINER_PLAIN` / `_PACKED`.
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// Redis 7.0's `_quicklistNodeAllowInsert`: may an element of `sz` bytes join a node of
/// `node_sz` bytes and `count` elements?
fn node_allows(node_sz: usize, count: usize, fill: i64, sz: usize) -> bool {
    let overhead = if sz < 254 { 1 } else { 5 }
        + if sz < 64 {
            1
        } else if sz < 16384 {
            2
        } else {
            5
        };
    let new_sz = node_sz + sz + overhead;
    // quicklistSetFill clamps the setting to -5 ..= 32767.
    let fill = fill.clamp(-5, 32767);
    if fill < 0 {
        let level = OPTIMIZATION_LEVEL.get((-fill - 1) as usize);
        if level.is_some_and(|&limit| new_sz <= limit) {
            return true;
        }
    }
    if new_sz > SIZE_SAFETY_LIMIT {
        return false;
    }
    (count as i64) < fill
}

/// One quicklist node being written.
enum Node {
    Packed(listpack::Builder),
    Plain(Vec<u8>),
}

fn write_list(out: &mut Vec<u8>, l: ListRef<'_>, opts: &EncodeOptions) {
    let mut nodes: Vec<Node> = Vec::new();
    l.for_each(|item| {
        if item.len() >= PACKED_THRESHOLD {
            nodes.push(Node::Plain(item.to_vec()));
            return;
        }
        if let Some(Node::Packed(lp)) = nodes.last_mut() {
            if node_allows(
                lp.byte_size(),
                lp.len(),
                opts.list_max_listpack_size,
                item.len(),
            ) {
                lp.push(item);
                return;
            }
        }
        let mut lp = listpack::Builder::new();
        lp.push(item);
        nodes.push(Node::Packed(lp));
    });
    out.push(types::LIST_QUICKLIST_2);
    write_len(out, nodes.len() as u64);
    for node in nodes {
        match node {
            Node::Packed(lp) => {
                write_len(out, CONTAINER_PACKED);
                write_string(out, &lp.finish(), opts.compression);
            }
            Node::Plain(item) => {
                write_len(out, CONTAINER_PLAIN);
                write_string(out, &item, opts.compression);
            }
        }
    }
}

fn write_set(out: &mut Vec<u8>, s: &SetValue, compression: bool) {
    if s.encoding() == "intset" {
        let mut ints = Vec::with_capacity(s.len());
        let mut all_ints = true;
        s.for_each(|m| match crate::util::parse_canonical_i64(m) {
            Some(v) => ints.push(v),
            None => all_ints = false,
        });
        if all_ints {
            ints.sort_unstable();
            ints.dedup();
            out.push(types::SET_INTSET);
            write_string(out, &intset::encode(&ints), compression);
            return;
        }
    }
    out.push(types::SET);
    write_len(out, s.len() as u64);
    s.for_each(|m| write_string(out, m, compression));
}

/// The listpack Redis 7.0 keeps a small sorted set in: member, score, ... by ascending
/// score, each score as `d2string` text (stored as an integer entry when it is one).
pub(super) fn zset_listpack<'a>(items: impl IntoIterator<Item = (&'a [u8], f64)>) -> Vec<u8> {
    let mut lp = listpack::Builder::new();
    for (m, score) in items {
        lp.push(m);
        lp.push(score_text(score).as_bytes());
    }
    lp.finish()
}

fn write_zset(out: &mut Vec<u8>, z: ZSetRef<'_>, compression: bool) {
    let mut items: Vec<(Vec<u8>, f64)> = Vec::with_capacity(z.len());
    z.for_each(|m, score| items.push((m.to_vec(), score)));
    if z.encoding() == "listpack" {
        let blob = zset_listpack(items.iter().map(|(m, s)| (m.as_slice(), *s)));
        out.push(types::ZSET_LISTPACK);
        write_string(out, &blob, compression);
        return;
    }
    // Redis writes the skiplist from the tail (highest score) so that loading inserts
    // every element at the head.
    out.push(types::ZSET_2);
    write_len(out, items.len() as u64);
    for (m, score) in items.iter().rev() {
        write_string(out, m, compression);
        write_binary_double(out, *score);
    }
}

fn write_hash(out: &mut Vec<u8>, h: &HashValue, compression: bool) {
    match h {
        HashValue::Listpack(_) => {
            let mut lp = listpack::Builder::new();
            for (f, v) in h.iter() {
                lp.push(f);
                lp.push(v);
            }
            out.push(types::HASH_LISTPACK);
            write_string(out, &lp.finish(), compression);
        }
        HashValue::Table(_) => {
            out.push(types::HASH);
            write_len(out, h.len() as u64);
            for (f, v) in h.iter() {
                write_string(out, f, compression);
                write_string(out, v, compression);
            }
        }
    }
}

/// A DUMP payload of `value` with Redis's defaults (compression on, 8 KiB list nodes):
/// the serialized value, the RDB version (2 bytes LE) and the CRC-64 of all that (8 bytes
/// LE), as Redis's `createDumpPayload`.
pub fn dump_payload<'a>(value: impl Into<ValueRef<'a>>) -> Vec<u8> {
    dump_payload_with(value, &EncodeOptions::default())
}

/// [`dump_payload`] with explicit options (`rdbcompression`, `list-max-listpack-size`).
pub fn dump_payload_with<'a>(value: impl Into<ValueRef<'a>>, opts: &EncodeOptions) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_value(value, opts, &mut out);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}
