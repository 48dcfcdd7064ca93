//! Redis's RDB serialization, interoperable with redis-server 7.0 both ways.
//!
//! * Values: [`encode_value`] / [`decode_value`] write and read one value (type byte and
//!   payload) as `rdbSaveObjectType` + `rdbSaveObject` / `rdbLoadObject` do.
//! * DUMP / RESTORE payloads: [`dump_payload`] (value, RDB version 10, CRC-64) and
//!   [`parse_dump_payload`], which checks the footer like Redis's `verifyDumpPayload`.
//! * Files: [`RdbWriter`] (or [`write_rdb`]) writes a `REDIS0010` file as Redis 7.0's
//!   `rdbSaveRio` does; [`read_rdb`] streams a file of version 1 to 12 and hands every key
//!   to a callback.
//!
//! Writing picks the encodings Redis 7.0 itself writes (QUICKLIST_2 lists of listpack
//! nodes, INTSET or SET, ZSET_LISTPACK or ZSET_2, HASH_LISTPACK or HASH; strings
//! integer-encoded or LZF-compressed as Redis does), so payloads are byte-identical to
//! Redis's wherever the element order is Redis's (see docs of [`encode_value`]).
//! Reading accepts every encoding Redis 6.2 to 7.4 writes for strings, lists, sets, sorted
//! sets and hashes; streams, modules and functions are reported as unsupported. Every blob
//! is validated; bad data is an error, never a panic.

pub mod crc64;
mod decode;
mod encode;
mod file;
pub mod functions;
pub mod intset;
pub mod listpack;
pub mod lzf;
mod stream;
pub mod ziplist;
pub mod zipmap;

use std::fmt;
use std::io;

pub use decode::{decode_value, parse_dump_payload, verify_dump_payload, Limits};
pub use encode::{dump_payload, dump_payload_with, encode_value, EncodeOptions};
pub use file::{read_rdb, write_rdb, LoadedKey, RdbSummary, RdbWriter, SaveOptions};

/// The RDB version Redis 7.0 writes (and the newest its RESTORE accepts).
pub const RDB_VERSION: u16 = 10;
/// The newest file version [`read_rdb`] reads (Redis 7.4).
pub const MAX_READ_VERSION: u32 = 12;

/// Object type bytes (`RDB_TYPE_*` in Redis's rdb.h).
pub mod types {
    /// A string.
    pub const STRING: u8 = 0;
    /// A list of strings (before 3.2).
    pub const LIST: u8 = 1;
    /// A set of strings.
    pub const SET: u8 = 2;
    /// A sorted set with scores as strings (before 3.0).
    pub const ZSET: u8 = 3;
    /// A hash of field/value strings.
    pub const HASH: u8 = 4;
    /// A sorted set with binary scores.
    pub const ZSET_2: u8 = 5;
    /// A module value (pre-GA format).
    pub const MODULE_PRE_GA: u8 = 6;
    /// A module value.
    pub const MODULE_2: u8 = 7;
    /// A hash in a zipmap blob (before 2.6).
    pub const HASH_ZIPMAP: u8 = 9;
    /// A list in one ziplist blob (before 3.2).
    pub const LIST_ZIPLIST: u8 = 10;
    /// An integer set blob.
    pub const SET_INTSET: u8 = 11;
    /// A sorted set in a ziplist blob (before 7.0).
    pub const ZSET_ZIPLIST: u8 = 12;
    /// A hash in a ziplist blob (before 7.0).
    pub const HASH_ZIPLIST: u8 = 13;
    /// A quicklist of ziplist nodes (3.2 to 6.2).
    pub const LIST_QUICKLIST: u8 = 14;
    /// A stream (5.0 format).
    pub const STREAM_LISTPACKS: u8 = 15;
    /// A hash in a listpack blob (7.0).
    pub const HASH_LISTPACK: u8 = 16;
    /// A sorted set in a listpack blob (7.0).
    pub const ZSET_LISTPACK: u8 = 17;
    /// A quicklist of listpack (or plain) nodes (7.0).
    pub const LIST_QUICKLIST_2: u8 = 18;
    /// A stream (7.0 format).
    pub const STREAM_LISTPACKS_2: u8 = 19;
    /// A set in a listpack blob (7.2).
    pub const SET_LISTPACK: u8 = 20;
    /// A stream (7.2 format).
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// Opcodes between keys (`RDB_OPCODE_*`).
pub mod opcodes {
    /// Slot information (7.4+ cluster files).
    pub const SLOT_INFO: u8 = 244;
    /// A function library (7.0).
    pub const FUNCTION2: u8 = 245;
    /// A function library (7.0 release candidates).
    pub const FUNCTION_PRE_GA: u8 = 246;
    /// Module auxiliary data.
    pub const MODULE_AUX: u8 = 247;
    /// LRU idle time of the next key (seconds).
    pub const IDLE: u8 = 248;
    /// LFU counter of the next key.
    pub const FREQ: u8 = 249;
    /// An auxiliary field (name, value).
    pub const AUX: u8 = 250;
    /// Database size hints.
    pub const RESIZEDB: u8 = 251;
    /// Expire time of the next key, Unix ms (8 bytes LE).
    pub const EXPIRETIME_MS: u8 = 252;
    /// Expire time of the next key, Unix s (4 bytes LE).
    pub const EXPIRETIME: u8 = 253;
    /// Switch database.
    pub const SELECTDB: u8 = 254;
    /// End of file (the CRC-64 follows).
    pub const EOF: u8 = 255;
}

/// Why RDB data could not be read.
#[derive(Debug)]
pub enum RdbError {
    /// The underlying reader failed.
    Io(io::Error),
    /// The data ended in the middle of something.
    Truncated,
    /// The data is malformed (what was wrong).
    Corrupt(&'static str),
    /// A collection without elements: Redis refuses it in RESTORE and skips it when loading
    /// a file.
    EmptyKey,
    /// Valid RDB data that ferrokv cannot hold (streams, modules, functions).
    Unsupported(&'static str),
    /// A file that does not start with `REDIS`.
    BadSignature,
    /// A file version this reader does not know.
    UnsupportedVersion(u32),
    /// The file's CRC-64 trailer does not match its contents.
    Checksum {
        /// The trailer's value.
        expected: u64,
        /// The contents' CRC-64.
        computed: u64,
    },
    /// A DUMP payload whose RDB version or CRC-64 is wrong.
    PayloadFooter,
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbError::Io(e) => write!(f, "I/O error: {}", e),
            RdbError::Truncated => write!(f, "unexpected end of RDB data"),
            RdbError::Corrupt(what) => write!(f, "corrupt RDB data: {}", what),
            RdbError::EmptyKey => write!(f, "empty collection"),
            RdbError::Unsupported(what) => write!(f, "unsupported RDB content: {}", what),
            RdbError::BadSignature => write!(f, "wrong signature (not an RDB file)"),
            RdbError::UnsupportedVersion(v) => write!(f, "can't handle RDB format version {}", v),
            RdbError::Checksum { expected, computed } => write!(
                f,
                "wrong RDB checksum: expected {:#018x}, got {:#018x}",
                expected, computed
            ),
            RdbError::PayloadFooter => write!(f, "DUMP payload version or checksum are wrong"),
        }
    }
}

impl std::error::Error for RdbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RdbError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for RdbError {
    fn from(e: io::Error) -> RdbError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            RdbError::Truncated
        } else {
            RdbError::Io(e)
        }
    }
}

#[cfg(test)]
mod tests;
