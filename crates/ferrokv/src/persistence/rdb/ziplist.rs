//! Ziplists, the blob Redis before 7.0 stored small hashes, sorted sets and list nodes in.
//! Only parsed (Redis 7 converts them to listpacks when loading, and so do we). Every
//! check of Redis's deep `ziplistValidateIntegrity` is made.
//!
//! Layout: `<zlbytes u32 LE> <zltail u32 LE> <zllen u16 LE> <entry>* <0xFF>`; an entry is
//! `<prevlen: 1 byte, or 0xFE + u32 LE> <encoding> <data>`.

use super::listpack::Entry;
use super::RdbError;

const HEADER: usize = 10;
const END: u8 = 0xff;
const BIG_PREVLEN: u8 = 254;

fn bad(what: &'static str) -> RdbError {
    RdbError::Corrupt(what)
}

fn le(blob: &[u8], pos: usize, n: usize) -> Result<u64, RdbError> {
    let bytes = blob
        .get(pos..pos + n)
        .ok_or(bad("ziplist entry out of range"))?;
    Ok(bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

fn be(blob: &[u8], pos: usize, n: usize) -> Result<u64, RdbError> {
    let bytes = blob
        .get(pos..pos + n)
        .ok_or(bad("ziplist entry out of range"))?;
    Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Decode the entry at `pos`: (prevlen, entry, total entry size).
fn entry_at(blob: &[u8], pos: usize, end: usize) -> Result<(usize, Entry<'_>, usize), RdbError> {
    let first = *blob.get(pos).ok_or(bad("ziplist entry out of range"))?;
    let (prevlen, mut p) = if first < BIG_PREVLEN {
        (first as usize, pos + 1)
    } else if first == BIG_PREVLEN {
        (le(blob, pos + 1, 4)? as usize, pos + 5)
    } else {
        return Err(bad("ziplist entry with an invalid prevlen"));
    };
    let enc = *blob.get(p).ok_or(bad("ziplist entry out of range"))?;
    let entry = match enc >> 6 {
        0 => {
            let len = (enc & 0x3f) as usize;
            p += 1;
            let s = blob
                .get(p..p + len)
                .ok_or(bad("ziplist string out of range"))?;
            p += len;
            Entry::Str(s)
        }
        1 => {
            let len = (((enc & 0x3f) as usize) << 8) | be(blob, p + 1, 1)? as usize;
            p += 2;
            let s = blob
                .get(p..p + len)
                .ok_or(bad("ziplist string out of range"))?;
            p += len;
            Entry::Str(s)
        }
        2 => {
            if enc != 0x80 {
                return Err(bad("ziplist entry with an invalid encoding"));
            }
            let len = be(blob, p + 1, 4)? as usize;
            p += 5;
            let s = p
                .checked_add(len)
                .and_then(|e| blob.get(p..e))
                .ok_or(bad("ziplist string out of range"))?;
            p += len;
            Entry::Str(s)
        }
        _ => {
            let (v, n) = match enc {
                0xc0 => (sign_extend(le(blob, p + 1, 2)?, 16), 2),
                0xd0 => (sign_extend(le(blob, p + 1, 4)?, 32), 4),
                0xe0 => (le(blob, p + 1, 8)? as i64, 8),
                0xf0 => (sign_extend(le(blob, p + 1, 3)?, 24), 3),
                0xfe => (sign_extend(le(blob, p + 1, 1)?, 8), 1),
                0xf1..=0xfd => (((enc & 0x0f) as i64) - 1, 0),
                _ => return Err(bad("ziplist entry with an invalid encoding")),
            };
            p += 1 + n;
            Entry::Int(v)
        }
    };
    if p > end {
        return Err(bad("ziplist entry out of range"));
    }
    Ok((prevlen, entry, p - pos))
}

/// Validate a whole ziplist and return its entries in order.
pub fn parse(blob: &[u8]) -> Result<Vec<Entry<'_>>, RdbError> {
    if blob.len() < HEADER + 1 {
        return Err(bad("ziplist too short"));
    }
    if le(blob, 0, 4)? as usize != blob.len() {
        return Err(bad("ziplist header size mismatch"));
    }
    let end = blob.len() - 1;
    if blob.get(end) != Some(&END) {
        return Err(bad("ziplist without terminator"));
    }
    let tail = le(blob, 4, 4)? as usize;
    if tail > end {
        return Err(bad("ziplist tail offset out of range"));
    }
    let count = le(blob, 8, 2)? as usize;
    let mut entries = Vec::with_capacity(count.min(blob.len() / 2));
    let mut pos = HEADER;
    let mut prev_size = 0;
    let mut last = HEADER;
    while pos < end {
        let (prevlen, entry, size) = entry_at(blob, pos, end)?;
        if prevlen != prev_size {
            return Err(bad("ziplist prevlen mismatch"));
        }
        entries.push(entry);
        last = pos;
        prev_size = size;
        pos += size;
    }
    if last != tail {
        return Err(bad("ziplist tail offset mismatch"));
    }
    if count != u16::MAX as usize && count != entries.len() {
        return Err(bad("ziplist element count mismatch"));
    }
    Ok(entries)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Build a ziplist the way Redis 6 did (for tests of the loader).
    pub fn build(items: &[Entry<'_>]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut tail = HEADER;
        for it in items {
            let start = body.len();
            tail = HEADER + start;
            if prev < 254 {
                body.push(prev as u8);
            } else {
                body.push(254);
                body.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match *it {
                Entry::Str(s) if s.len() < 64 => {
                    body.push(s.len() as u8);
                    body.extend_from_slice(s);
                }
                Entry::Str(s) if s.len() < 16384 => {
                    body.push(0x40 | (s.len() >> 8) as u8);
                    body.push(s.len() as u8);
                    body.extend_from_slice(s);
                }
                Entry::Str(s) => {
                    body.push(0x80);
                    body.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    body.extend_from_slice(s);
                }
                Entry::Int(v) if (0..=12).contains(&v) => body.push(0xf1 + v as u8),
                Entry::Int(v) if i8::try_from(v).is_ok() => {
                    body.push(0xfe);
                    body.push(v as u8);
                }
                Entry::Int(v) if i16::try_from(v).is_ok() => {
                    body.push(0xc0);
                    body.extend_from_slice(&(v as i16).to_le_bytes());
                }
                Entry::Int(v) if (-8388608..8388608).contains(&v) => {
                    body.push(0xf0);
                    body.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                }
                Entry::Int(v) if i32::try_from(v).is_ok() => {
                    body.push(0xd0);
                    body.extend_from_slice(&(v as i32).to_le_bytes());
                }
                Entry::Int(v) => {
                    body.push(0xe0);
                    body.extend_from_slice(&v.to_le_bytes());
                }
            }
            prev = body.len() - start;
        }
        let total = HEADER + body.len() + 1;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(tail as u32).to_le_bytes());
        out.extend_from_slice(&(items.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(END);
        out
    }

    #[test]
    fn round_trip() {
        let long = vec![b'q'; 300];
        let huge = vec![b'h'; 20000];
        let items = [
            Entry::Str(b"a"),
            Entry::Int(0),
            Entry::Int(12),
            Entry::Int(13),
            Entry::Int(-1),
            Entry::Int(300),
            Entry::Int(-8388608),
            Entry::Int(1 << 30),
            Entry::Int(i64::MIN),
            Entry::Str(&long),
            Entry::Str(&huge),
            Entry::Str(b""),
        ];
        let blob = build(&items);
        assert_eq!(parse(&blob).unwrap(), items.to_vec());
        for cut in 0..blob.len().min(400) {
            assert!(parse(&blob[..cut]).is_err());
        }
    }

    #[test]
    fn empty_ziplist() {
        let blob = build(&[]);
        assert_eq!(parse(&blob).unwrap(), vec![]);
    }
}
