//! Intsets, the blob Redis stores small all-integer sets in: `<encoding u32 LE: 2, 4 or 8>
//! <length u32 LE> <values, sorted ascending, little-endian, encoding bytes each>`.

use super::RdbError;

/// Encode sorted, distinct values with the narrowest width that holds them all (what Redis
/// has when the set never held a wider value).
pub fn encode(sorted: &[i64]) -> Vec<u8> {
    let width = sorted
        .iter()
        .map(|&v| {
            if i16::try_from(v).is_ok() {
                2
            } else if i32::try_from(v).is_ok() {
                4
            } else {
                8
            }
        })
        .max()
        .unwrap_or(2);
    let mut out = Vec::with_capacity(8 + width * sorted.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// Validate an intset (Redis's deep `intsetValidateIntegrity`: known width, size matching
/// the length, not empty, strictly ascending) and return its values.
pub fn parse(blob: &[u8]) -> Result<Vec<i64>, RdbError> {
    let header = |i: usize| -> Result<usize, RdbError> {
        let b = blob
            .get(i..i + 4)
            .ok_or(RdbError::Corrupt("intset too short"))?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let width = header(0)?;
    if ![2, 4, 8].contains(&width) {
        return Err(RdbError::Corrupt("intset with an invalid encoding"));
    }
    let count = header(4)?;
    if count.checked_mul(width).and_then(|n| n.checked_add(8)) != Some(blob.len()) {
        return Err(RdbError::Corrupt("intset size mismatch"));
    }
    if count == 0 {
        return Err(RdbError::Corrupt("intset is empty"));
    }
    let mut values = Vec::with_capacity(count);
    for chunk in blob.get(8..).unwrap_or_default().chunks_exact(width) {
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(chunk);
        let shift = 64 - 8 * width as u32;
        let v = (i64::from_le_bytes(buf) << shift) >> shift;
        if values.last().is_some_and(|&prev| prev >= v) {
            return Err(RdbError::Corrupt("intset not sorted or with duplicates"));
        }
        values.push(v);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis() {
        // SADD si 1 2 3 in redis 7.0.15: \x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00
        assert_eq!(
            encode(&[1, 2, 3]),
            b"\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00".to_vec()
        );
        for vals in [
            vec![-5, 70000],
            vec![i64::MIN, 0, i64::MAX],
            vec![-32768, 32767],
        ] {
            assert_eq!(parse(&encode(&vals)).unwrap(), vals);
        }
    }

    #[test]
    fn corrupt() {
        assert!(parse(b"").is_err());
        assert!(parse(b"\x02\x00\x00\x00\x00\x00\x00\x00").is_err()); // empty
        assert!(parse(b"\x03\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00").is_err());
        assert!(parse(b"\x02\x00\x00\x00\x02\x00\x00\x00\x02\x00\x01\x00").is_err());
        assert!(parse(b"\x02\x00\x00\x00\xff\xff\xff\xff\x02\x00").is_err());
    }
}
