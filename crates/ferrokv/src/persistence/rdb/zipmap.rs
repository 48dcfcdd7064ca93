//! Zipmaps, the blob Redis before 2.6 stored small hashes in (RDB type 9). Only parsed:
//! `<count byte, 254+ = unknown> (<len> <key> <len> <free byte> <value> <free bytes>)* <0xFF>`
//! where a length is one byte below 254 or 254 followed by a u32 (little-endian).

use super::RdbError;

/// A (field, value) pair of a zipmap.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

fn bad(what: &'static str) -> RdbError {
    RdbError::Corrupt(what)
}

fn len_at(blob: &[u8], pos: usize) -> Result<(usize, usize), RdbError> {
    match *blob.get(pos).ok_or(bad("zipmap truncated"))? {
        n @ 0..=253 => Ok((n as usize, pos + 1)),
        254 => {
            let b = blob.get(pos + 1..pos + 5).ok_or(bad("zipmap truncated"))?;
            Ok((
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
                pos + 5,
            ))
        }
        _ => Err(bad("zipmap with an invalid length")),
    }
}

/// Validate a zipmap and return its (field, value) pairs.
pub fn parse(blob: &[u8]) -> Result<Vec<Pair<'_>>, RdbError> {
    let count = *blob.first().ok_or(bad("zipmap too short"))? as usize;
    let mut pairs = Vec::new();
    let mut pos = 1;
    loop {
        if *blob.get(pos).ok_or(bad("zipmap truncated"))? == 0xff {
            pos += 1;
            break;
        }
        let (klen, p) = len_at(blob, pos)?;
        let key = blob.get(p..p + klen).ok_or(bad("zipmap truncated"))?;
        let (vlen, p) = len_at(blob, p + klen)?;
        let free = *blob.get(p).ok_or(bad("zipmap truncated"))? as usize;
        let value = blob
            .get(p + 1..p + 1 + vlen)
            .ok_or(bad("zipmap truncated"))?;
        pos = p + 1 + vlen + free;
        pairs.push((key, value));
    }
    if pos != blob.len() {
        return Err(bad("zipmap size mismatch"));
    }
    if count < 254 && count != pairs.len() {
        return Err(bad("zipmap element count mismatch"));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let blob = b"\x02\x01a\x02\x00xy\x01b\x01\x02z..\xff";
        assert_eq!(
            parse(blob).unwrap(),
            vec![(&b"a"[..], &b"xy"[..]), (&b"b"[..], &b"z"[..])]
        );
        for cut in 0..blob.len() {
            assert!(parse(&blob[..cut]).is_err());
        }
    }
}
