//! CRC-64 as Redis computes it for RDB files and DUMP payloads: the Jones polynomial,
//! reflected, initial value 0, no final xor (`crc-catalog`'s CRC-64/REDIS; check value:
//! CRC of "123456789" = 0xe9c6d914c4b8d9ca).

use crc::{Crc, Table, CRC_64_REDIS};

/// The CRC engine (slice-by-16 tables, built at compile time).
pub static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// A running checksum.
pub type Digest = crc::Digest<'static, u64, Table<16>>;

/// CRC-64 of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    CRC64.checksum(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        let mut d = CRC64.digest();
        d.update(b"1234");
        d.update(b"56789");
        assert_eq!(d.finalize(), 0xe9c6_d914_c4b8_d9ca);
    }
}
