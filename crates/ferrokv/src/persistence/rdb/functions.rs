//! FUNCTION DUMP / RESTORE payloads (Redis 7.0 `functionDumpCommand`): one
//! `RDB_OPCODE_FUNCTION2` and the library code (an RDB string) per library, then the RDB
//! version (2 bytes LE) and the CRC-64 of all that (8 bytes LE), as DUMP for keys.

use super::crc64::crc64;
use super::decode::{verify_dump_payload, Src};
use super::encode::write_string;
use super::{opcodes, RDB_VERSION};

/// The FUNCTION DUMP payload of libraries with these codes.
pub fn function_dump_payload(codes: &[&[u8]], compression: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(opcodes::FUNCTION2);
        write_string(&mut out, code, compression);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes of a FUNCTION RESTORE payload, or Redis's error text (without `ERR `).
pub fn parse_function_payload(payload: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    verify_dump_payload(payload)
        .map_err(|_| "DUMP payload version or checksum are wrong".to_string())?;
    let mut src = Src::new(payload);
    let mut codes = Vec::new();
    while (payload.len() as u64).saturating_sub(src.pos) > 10 {
        let op = src.u8().map_err(|_| "can not read data type".to_string())?;
        if op == opcodes::FUNCTION_PRE_GA {
            return Err("Pre-GA function format not supported".into());
        }
        if op != opcodes::FUNCTION2 {
            return Err("given type is not a function".into());
        }
        let code = src
            .string()
            .map_err(|_| "Failed loading library payload".to_string())?;
        codes.push(code);
    }
    Ok(codes)
}
