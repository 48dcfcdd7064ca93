//! Redis Cluster hash slots: CRC16 (XMODEM) of the key or of its `{hash tag}`, mod 16384.
//! The slot picks a key's shard, so keys sharing a hash tag always share a shard.

/// Number of cluster hash slots.
pub const SLOTS: usize = 16384;

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// Slicing-by-8 tables: `T[k][v]` is the CRC register after feeding byte `v` followed by
/// `k` zero bytes, so eight input bytes cost eight independent lookups instead of eight
/// dependent steps (a 16-byte key: two steps).
const fn crc16_tables() -> [[u16; 256]; 8] {
    let t0 = crc16_table();
    let mut t = [[0u16; 256]; 8];
    t[0] = t0;
    let mut k = 1;
    while k < 8 {
        let mut v = 0;
        while v < 256 {
            let prev = t[k - 1][v];
            t[k][v] = (prev << 8) ^ t0[(prev >> 8) as usize];
            v += 1;
        }
        k += 1;
    }
    t
}

static CRC16: [[u16; 256]; 8] = crc16_tables();

fn crc16_bytewise(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        crc = (crc << 8) ^ CRC16[0][(((crc >> 8) as u8) ^ b) as usize];
    }
    crc
}

/// CRC16-CCITT (XMODEM), the checksum Redis Cluster uses for key slots.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let x0 = ((crc >> 8) as u8 ^ c[0]) as usize;
        let x1 = ((crc & 0xff) as u8 ^ c[1]) as usize;
        crc = CRC16[7][x0]
            ^ CRC16[6][x1]
            ^ CRC16[5][c[2] as usize]
            ^ CRC16[4][c[3] as usize]
            ^ CRC16[3][c[4] as usize]
            ^ CRC16[2][c[5] as usize]
            ^ CRC16[1][c[6] as usize]
            ^ CRC16[0][c[7] as usize];
    }
    let rest = chunks.remainder();
    let mut fours = rest.chunks_exact(4);
    for c in &mut fours {
        let x0 = ((crc >> 8) as u8 ^ c[0]) as usize;
        let x1 = ((crc & 0xff) as u8 ^ c[1]) as usize;
        crc = CRC16[3][x0] ^ CRC16[2][x1] ^ CRC16[1][c[2] as usize] ^ CRC16[0][c[3] as usize];
    }
    crc16_bytewise(crc, fours.remainder())
}

/// The part of the key that is hashed: the first non-empty `{...}` section, else the key.
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    // Every key argument of every command passes here: no byte loop.
    let Some(open) = find_open_brace(key) else {
        return key;
    };
    let rest = key.get(open + 1..).unwrap_or_default();
    match memchr::memchr(b'}', rest) {
        Some(len) if len > 0 => rest.get(..len).unwrap_or(key),
        _ => key,
    }
}

/// The position of the first `{` in `key`. Short keys (most keys) are scanned eight bytes
/// at a time in a register (memchr's vector setup cost more than the scan for them);
/// long ones with memchr.
#[inline]
fn find_open_brace(key: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const BRACES: u64 = ONES * b'{' as u64;
    if key.len() > 32 {
        return memchr::memchr(b'{', key);
    }
    let mut chunks = key.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let Ok(bytes) = <[u8; 8]>::try_from(c) else {
            break;
        };
        // A zero byte of `x` is a `{`; the lowest flagged byte is exact (flags above it
        // may be false, from the borrow).
        let x = u64::from_le_bytes(bytes) ^ BRACES;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'{')
        .map(|i| base + i)
}

/// The cluster hash slot of a key.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS as u16 - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from `CLUSTER KEYSLOT` on redis-server.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") & 16383);
        assert_eq!(hash_tag(b"a{b}c{d}"), b"b");
        assert_eq!(hash_tag(b"a{"), b"a{");
        assert_eq!(hash_tag(b"{}x"), b"{}x");
        assert_eq!(hash_tag(b"x}{y}"), b"y");
        assert_eq!(hash_tag(b"{{y}}"), b"{y");
        assert_eq!(crc16(b"123456789"), 0x31c3);
        // Slicing-by-8 agrees with the byte-at-a-time definition for every length.
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..data.len() {
            assert_eq!(
                crc16(&data[..n]),
                crc16_bytewise(0, &data[..n]),
                "len {}",
                n
            );
        }
    }

    #[test]
    fn open_brace_found_at_every_position_and_length() {
        for len in 0..48usize {
            // No brace at all, then one at each position, with bytes that differ from `{`
            // by one bit around it (0x7a, 0x7c, 0xfb) to catch a sloppy comparison.
            let filler: Vec<u8> = (0..len).map(|i| [b'z', b'|', 0xfb, b'a'][i % 4]).collect();
            assert_eq!(find_open_brace(&filler), None, "len {}", len);
            for at in 0..len {
                let mut key = filler.clone();
                key[at] = b'{';
                assert_eq!(find_open_brace(&key), Some(at), "len {} at {}", len, at);
                // A second brace later does not move the answer.
                if at + 3 < len {
                    key[at + 3] = b'{';
                    assert_eq!(find_open_brace(&key), Some(at), "len {} at {}+", len, at);
                }
            }
        }
    }
}
