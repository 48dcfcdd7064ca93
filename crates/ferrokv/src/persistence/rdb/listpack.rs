//! Listpacks, the blob Redis 7 stores small hashes, sorted sets and quicklist nodes in:
//! a builder that encodes entries exactly as Redis's `lpAppend` does (strings that are
//! canonical integers become integer entries), and a parser that validates the whole blob
//! (header, every entry's encoding and back-length, the terminator, the element count).
//!
//! Layout: `<total bytes u32 LE> <count u16 LE, 65535 = unknown> <entry>* <0xFF>`; an entry
//! is `<encoding+data> <backlen>`, the backlen being the size of `encoding+data` in 1 to 5
//! bytes, 7 bits each, most significant first, every byte but the first flagged with 0x80.

use super::RdbError;
use crate::util::parse_canonical_i64;

/// Header size: total bytes and element count.
pub const HEADER: usize = 6;
/// The terminator byte.
const END: u8 = 0xff;
/// The count field's "unknown, count the entries" value.
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One listpack (or ziplist) entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A string entry.
    Str(&'a [u8]),
    /// An integer entry.
    Int(i64),
}

impl Entry<'_> {
    /// The entry as bytes (integers in decimal, as Redis returns them).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Entry::Str(s) => s.to_vec(),
            Entry::Int(n) => n.to_string().into_bytes(),
        }
    }

    /// Call `f` with the entry's bytes.
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Entry::Str(s) => f(s),
            Entry::Int(n) => f(n.to_string().as_bytes()),
        }
    }

    /// Length of the entry's bytes.
    pub fn byte_len(self) -> usize {
        match self {
            Entry::Str(s) => s.len(),
            Entry::Int(n) => crate::storage::value::itoa_stack(n).as_slice().len(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------

/// Size in bytes of the back-length that records an entry of `l` bytes.
pub fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn push_backlen(buf: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let b = ((l >> (7 * i)) & 127) as u8;
        // The first (most significant) byte has no continuation flag.
        buf.push(if i == n - 1 { b } else { b | 128 });
    }
}

/// Encoding bytes and size of an integer entry (`lpEncodeGetType` for integers).
fn int_encoding(v: i64, out: &mut Vec<u8>) {
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = if v < 0 { (1 << 13) + v } else { v } as u64;
        out.push(((u >> 8) as u8) | 0xc0);
        out.push(u as u8);
    } else if (-32768..=32767).contains(&v) {
        out.push(0xf1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-8388608..=8388607).contains(&v) {
        out.push(0xf2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if (-2147483648..=2147483647).contains(&v) {
        out.push(0xf3);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        out.push(0xf4);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Bytes an entry for `s` takes in a listpack (encoding, data and back-length), as
/// `lpAppend` would store it.
pub fn entry_size(s: &[u8]) -> usize {
    let enc = match lp_int(s) {
        Some(v) => match v {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8388608..=8388607 => 4,
            -2147483648..=2147483647 => 5,
            _ => 9,
        },
        None => str_header_size(s.len()) + s.len(),
    };
    enc + backlen_size(enc)
}

fn str_header_size(len: usize) -> usize {
    if len < 64 {
        1
    } else if len < 4096 {
        2
    } else {
        5
    }
}

/// Redis's `lpStringToInt64`: canonical decimal integers only.
fn lp_int(s: &[u8]) -> Option<i64> {
    if s.len() > 20 {
        return None;
    }
    parse_canonical_i64(s)
}

/// A listpack under construction.
#[derive(Debug, Clone)]
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// An empty listpack.
    pub fn new() -> Builder {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; HEADER]);
        Builder { buf, count: 0 }
    }

    /// Append `s` as `lpAppend` does: as an integer entry when it is a canonical integer.
    pub fn push(&mut self, s: &[u8]) {
        match lp_int(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    /// Append an integer entry.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        int_encoding(v, &mut self.buf);
        let l = self.buf.len() - start;
        push_backlen(&mut self.buf, l);
        self.count += 1;
    }

    /// Append a string entry (no integer conversion).
    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.push(0xe0 | (len >> 8) as u8);
            self.buf.push(len as u8);
        } else {
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        let l = self.buf.len() - start;
        push_backlen(&mut self.buf, l);
        self.count += 1;
    }

    /// Entries so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no entry was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the finished listpack will take.
    pub fn byte_size(&self) -> usize {
        self.buf.len() + 1
    }

    /// The finished blob (header filled in, terminator added).
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(END);
        let total = self.buf.len() as u32;
        let count = self.count.min(COUNT_UNKNOWN as usize) as u16;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

fn bad(what: &'static str) -> RdbError {
    RdbError::Corrupt(what)
}

/// Read `n` little-endian bytes at `pos` as an unsigned value.
fn le(blob: &[u8], pos: usize, n: usize) -> Result<u64, RdbError> {
    let bytes = blob
        .get(pos..pos + n)
        .ok_or(bad("listpack entry out of range"))?;
    Ok(bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

/// Sign-extend the low `bits` bits of `v`.
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Decode the entry at `pos`: (entry, size of encoding+data). `end` bounds the entries.
fn entry_at(blob: &[u8], pos: usize, end: usize) -> Result<(Entry<'_>, usize), RdbError> {
    let b = *blob.get(pos).ok_or(bad("listpack entry out of range"))?;
    let (entry, size) = if b & 0x80 == 0 {
        (Entry::Int((b & 0x7f) as i64), 1)
    } else if b & 0xc0 == 0x80 {
        let len = (b & 0x3f) as usize;
        let s = blob.get(pos + 1..pos + 1 + len);
        (
            Entry::Str(s.ok_or(bad("listpack string out of range"))?),
            1 + len,
        )
    } else if b & 0xe0 == 0xc0 {
        let v = ((b as u64 & 0x1f) << 8) | le(blob, pos + 1, 1)?;
        (Entry::Int(sign_extend(v, 13)), 2)
    } else if b & 0xf0 == 0xe0 {
        let len = (((b & 0x0f) as usize) << 8) | le(blob, pos + 1, 1)? as usize;
        let s = blob.get(pos + 2..pos + 2 + len);
        (
            Entry::Str(s.ok_or(bad("listpack string out of range"))?),
            2 + len,
        )
    } else {
        match b {
            0xf0 => {
                let len = le(blob, pos + 1, 4)? as usize;
                let s = pos.checked_add(5 + len).and_then(|e| blob.get(pos + 5..e));
                (
                    Entry::Str(s.ok_or(bad("listpack string out of range"))?),
                    5 + len,
                )
            }
            0xf1 => (Entry::Int(sign_extend(le(blob, pos + 1, 2)?, 16)), 3),
            0xf2 => (Entry::Int(sign_extend(le(blob, pos + 1, 3)?, 24)), 4),
            0xf3 => (Entry::Int(sign_extend(le(blob, pos + 1, 4)?, 32)), 5),
            0xf4 => (Entry::Int(le(blob, pos + 1, 8)? as i64), 9),
            _ => return Err(bad("listpack entry with an invalid encoding")),
        }
    };
    if pos + size > end {
        return Err(bad("listpack entry out of range"));
    }
    Ok((entry, size))
}

/// Decode the back-length whose last byte is at `last`.
fn backlen_at(blob: &[u8], last: usize) -> Option<usize> {
    let mut v: usize = 0;
    let mut shift = 0;
    let mut p = last;
    loop {
        let b = *blob.get(p)?;
        v |= ((b & 127) as usize) << shift;
        if b & 128 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
        p = p.checked_sub(1)?;
    }
}

/// Validate a whole listpack and return its entries, in order. Every check of Redis's
/// `lpValidateIntegrity` (deep) is made: header size, terminator, each entry inside the
/// blob, back-lengths consistent, element count.
pub fn parse(blob: &[u8]) -> Result<Vec<Entry<'_>>, RdbError> {
    if blob.len() < HEADER + 1 {
        return Err(bad("listpack too short"));
    }
    if le(blob, 0, 4)? as usize != blob.len() {
        return Err(bad("listpack header size mismatch"));
    }
    let end = blob.len() - 1;
    if blob.get(end) != Some(&END) {
        return Err(bad("listpack without terminator"));
    }
    let count = le(blob, 4, 2)? as u16;
    let mut entries = Vec::with_capacity((count as usize).min(blob.len() / 2));
    let mut pos = HEADER;
    while pos < end {
        let (entry, size) = entry_at(blob, pos, end)?;
        let bl = backlen_size(size);
        let next = pos + size + bl;
        if next > end {
            return Err(bad("listpack entry out of range"));
        }
        if backlen_at(blob, next - 1) != Some(size) {
            return Err(bad("listpack back-length mismatch"));
        }
        entries.push(entry);
        pos = next;
    }
    if count != COUNT_UNKNOWN && count as usize != entries.len() {
        return Err(bad("listpack element count mismatch"));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_like_redis() {
        // RPUSH l a b 1 2 in redis 7.0.15 gives this node.
        let mut b = Builder::new();
        for s in [&b"a"[..], b"b", b"1", b"2"] {
            b.push(s);
        }
        assert_eq!(
            b.finish(),
            b"\x11\x00\x00\x00\x04\x00\x81a\x02\x81b\x02\x01\x01\x02\x01\xff".to_vec()
        );
    }

    #[test]
    fn integers_round_trip() {
        let values = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8388607,
            -8388608,
            8388608,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ];
        let mut b = Builder::new();
        for v in values {
            b.push(v.to_string().as_bytes());
        }
        let long = vec![b'x'; 5000];
        b.push(&long);
        b.push(&[b'y'; 100]);
        b.push(b"-0");
        b.push(b"007");
        let blob = b.finish();
        let entries = parse(&blob).unwrap();
        for (e, v) in entries.iter().zip(values) {
            assert_eq!(*e, Entry::Int(v));
        }
        assert_eq!(entries[values.len()], Entry::Str(&long));
        assert_eq!(entries[values.len() + 2], Entry::Str(b"-0"));
        assert_eq!(entries[values.len() + 3], Entry::Str(b"007"));
    }

    #[test]
    fn entry_size_matches_builder() {
        for s in [
            &b"1"[..],
            b"-5000",
            b"hello",
            &[b'z'; 70],
            &[b'z'; 5000],
            b"99999999999",
        ] {
            let mut b = Builder::new();
            b.push(s);
            assert_eq!(b.byte_size(), HEADER + 1 + entry_size(s), "{:?}", s);
        }
    }

    #[test]
    fn corrupt_blobs_are_errors() {
        let mut b = Builder::new();
        b.push(b"hello");
        b.push(b"12345");
        let blob = b.finish();
        for cut in 0..blob.len() {
            assert!(parse(&blob[..cut]).is_err());
        }
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut x = blob.clone();
                x[i] ^= 1 << bit;
                let _ = parse(&x); // must not panic
            }
        }
        let mut x = blob.clone();
        x[4] = 3; // wrong count
        assert!(parse(&x).is_err());
    }
}
