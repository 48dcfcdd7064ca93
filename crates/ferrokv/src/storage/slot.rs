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

/// Slicing-by-4 tables: `T[k][v]` is the CRC register after feeding byte `v` followed by
/// `k` zero bytes, so four input bytes cost four lookups instead of four dependent steps.
const fn crc16_tables() -> [[u16; 256]; 4] {
    let t0 = crc16_table();
    let mut t = [[0u16; 256]; 4];
    t[0] = t0;
    let mut k = 1;
    while k < 4 {
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

static CRC16: [[u16; 256]; 4] = crc16_tables();

fn crc16_bytewise(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        crc = (crc << 8) ^ CRC16[0][(((crc >> 8) as u8) ^ b) as usize];
    }
    crc
}

/// CRC16-CCITT (XMODEM), the checksum Redis Cluster uses for key slots.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let x0 = ((crc >> 8) as u8 ^ c[0]) as usize;
        let x1 = ((crc & 0xff) as u8 ^ c[1]) as usize;
        crc = CRC16[3][x0] ^ CRC16[2][x1] ^ CRC16[1][c[2] as usize] ^ CRC16[0][c[3] as usize];
    }
    crc16_bytewise(crc, chunks.remainder())
}

/// The part of the key that is hashed: the first non-empty `{...}` section, else the key.
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    // Every key argument of every command passes here: memchr, not a byte loop.
    let Some(open) = memchr::memchr(b'{', key) else {
        return key;
    };
    let rest = key.get(open + 1..).unwrap_or_default();
    match memchr::memchr(b'}', rest) {
        Some(len) if len > 0 => rest.get(..len).unwrap_or(key),
        _ => key,
    }
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
        // Slicing-by-4 agrees with the byte-at-a-time definition for every length.
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
}
