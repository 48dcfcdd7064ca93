//! Reading RDB values, the way Redis 7.0's `rdbLoadObject` does, with every blob validated.
//!
//! Values are rebuilt through the storage types' public API, so the configured encoding
//! thresholds apply as after Redis's load: a blob-encoded hash or sorted set stays small
//! (listpack) unless it has more elements than the threshold (Redis checks only the count
//! for those), the others follow the thresholds as if their elements were added one by one.

use std::io::Read;

use super::crc64::crc64;
use super::listpack::{self, Entry};
use super::{intset, lzf, types, ziplist, zipmap, RdbError, RDB_VERSION};
use crate::config::Config;
use crate::storage::hash::{HashLimits, HashValue, Listpack};
use crate::storage::list::{End, ListLimits};
use crate::storage::set::SetLimits;
use crate::storage::value::{StrValue, Value};
use crate::storage::zset::ZSetLimits;
use crate::storage::{ListValue, SetValue, ZSetValue};

/// The encoding thresholds values are rebuilt with.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `hash-max-listpack-entries` / `-value`.
    pub hash: HashLimits,
    /// `list-max-listpack-size`.
    pub list: ListLimits,
    /// `set-max-intset-entries`.
    pub set: SetLimits,
    /// `zset-max-listpack-entries` / `-value`.
    pub zset: ZSetLimits,
}

impl Default for Limits {
    /// Redis's default thresholds.
    fn default() -> Self {
        Limits {
            hash: HashLimits {
                max_entries: 512,
                max_value: 64,
            },
            list: ListLimits {
                max_listpack_size: -2,
            },
            set: SetLimits {
                max_intset_entries: 512,
            },
            zset: ZSetLimits {
                max_entries: 128,
                max_value: 64,
            },
        }
    }
}

impl Limits {
    /// The thresholds currently configured.
    pub fn from_config(config: &Config) -> Limits {
        Limits {
            hash: HashLimits {
                max_entries: config.hash_max_listpack_entries(),
                max_value: config.hash_max_listpack_value(),
            },
            list: ListLimits {
                max_listpack_size: config.list_max_listpack_size(),
            },
            set: SetLimits {
                max_intset_entries: config.set_max_intset_entries(),
            },
            zset: ZSetLimits {
                max_entries: config.zset_max_listpack_entries(),
                max_value: config.zset_max_listpack_value(),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------
// Primitive reads
// ---------------------------------------------------------------------------------------

/// Most elements reserved ahead of time from an untrusted count.
const PREALLOC_MAX: usize = 1024;

/// A byte source with Redis's primitive RDB reads. Lengths are never trusted for
/// allocation: bytes are read in growing chunks, so a huge length on short data fails as
/// truncated without allocating it.
pub(super) struct Src<R> {
    inner: R,
    /// Bytes consumed so far.
    pub pos: u64,
}

impl<R: Read> Src<R> {
    pub fn new(inner: R) -> Src<R> {
        Src { inner, pos: 0 }
    }

    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf)?;
        self.pos += N as u64;
        Ok(buf)
    }

    pub fn u8(&mut self) -> Result<u8, RdbError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn bytes(&mut self, n: u64) -> Result<Vec<u8>, RdbError> {
        let mut v = Vec::with_capacity((n as usize).min(1 << 16));
        (&mut self.inner).take(n).read_to_end(&mut v)?;
        if v.len() as u64 != n {
            return Err(RdbError::Truncated);
        }
        self.pos += n;
        Ok(v)
    }

    /// `rdbLoadLenByRef`: (length, is a special string encoding).
    pub fn len_enc(&mut self) -> Result<(u64, bool), RdbError> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => ((b & 0x3f) as u64, false),
            1 => ((((b & 0x3f) as u64) << 8) | self.u8()? as u64, false),
            3 => ((b & 0x3f) as u64, true),
            _ => match b {
                0x80 => (u32::from_be_bytes(self.array()?) as u64, false),
                0x81 => (u64::from_be_bytes(self.array()?), false),
                _ => return Err(RdbError::Corrupt("unknown length encoding")),
            },
        })
    }

    /// `rdbLoadLen`. Like Redis, a special-encoding byte where a length is expected reads
    /// as its low 6 bits.
    pub fn len(&mut self) -> Result<u64, RdbError> {
        Ok(self.len_enc()?.0)
    }

    /// A length used as an element count or a size.
    pub fn count(&mut self) -> Result<usize, RdbError> {
        usize::try_from(self.len()?).map_err(|_| RdbError::Corrupt("length out of range"))
    }

    /// `rdbGenericLoadStringObject`: raw, integer-encoded or LZF-compressed bytes.
    pub fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        match self.len_enc()? {
            (n, false) => self.bytes(n),
            (0, true) => Ok((self.u8()? as i8).to_string().into_bytes()),
            (1, true) => Ok(i16::from_le_bytes(self.array()?).to_string().into_bytes()),
            (2, true) => Ok(i32::from_le_bytes(self.array()?).to_string().into_bytes()),
            (3, true) => {
                let clen = self.len()?;
                let len = usize::try_from(self.len()?)
                    .map_err(|_| RdbError::Corrupt("LZF length out of range"))?;
                let compressed = self.bytes(clen)?;
                lzf::decompress(&compressed, len)
                    .ok_or(RdbError::Corrupt("invalid LZF compressed string"))
            }
            _ => Err(RdbError::Corrupt("unknown string encoding")),
        }
    }

    /// `rdbLoadBinaryDoubleValue`.
    pub fn binary_double(&mut self) -> Result<f64, RdbError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// `rdbLoadDoubleValue`: the old text form (1-byte length; 253/254/255 = nan/inf/-inf).
    pub fn text_double(&mut self) -> Result<f64, RdbError> {
        match self.u8()? {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            n => {
                let text = self.bytes(n as u64)?;
                strtod_prefix(&text).ok_or(RdbError::Corrupt("invalid double"))
            }
        }
    }
}

/// C's `strtod` on the start of `s` (leading spaces skipped, longest numeric prefix):
/// None when nothing converts.
pub(super) fn strtod_prefix(s: &[u8]) -> Option<f64> {
    let start = s.iter().position(|c| !c.is_ascii_whitespace())?;
    let s = s.get(start..)?;
    let s = s.get(..s.len().min(127))?;
    (1..=s.len()).rev().find_map(|end| {
        let text = std::str::from_utf8(s.get(..end)?).ok()?;
        // Rust accepts a few forms strtod does not ("1_0" is not one; "+inf" is fine).
        text.parse::<f64>().ok()
    })
}

/// A sorted-set score stored in a listpack or ziplist (`zzlGetScore`): an integer entry, or
/// text read as `strtod` does (0 when it is not a number, as in Redis).
fn entry_score(e: Entry<'_>) -> f64 {
    match e {
        Entry::Int(n) => n as f64,
        Entry::Str(s) => strtod_prefix(s).unwrap_or(0.0),
    }
}

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

/// Load the value of RDB type `rdb_type` (`rdbLoadObject`).
pub(super) fn load_object<R: Read>(
    src: &mut Src<R>,
    rdb_type: u8,
    limits: &Limits,
) -> Result<Value, RdbError> {
    match rdb_type {
        types::STRING => Ok(Value::Str(StrValue::from_bytes(&src.string()?))),
        types::LIST => load_plain_list(src, limits),
        types::SET => load_plain_set(src, limits),
        types::ZSET | types::ZSET_2 => load_plain_zset(src, rdb_type == types::ZSET_2, limits),
        types::HASH => load_plain_hash(src, limits),
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            load_quicklist(src, rdb_type == types::LIST_QUICKLIST_2, limits)
        }
        types::HASH_ZIPMAP => {
            let blob = src.string()?;
            let pairs = zipmap::parse(&blob)?;
            hash_from_pairs(pairs.into_iter(), limits.hash)
        }
        types::LIST_ZIPLIST => {
            let blob = src.string()?;
            list_from_entries(ziplist::parse(&blob)?, limits)
        }
        types::SET_INTSET => {
            let blob = src.string()?;
            let mut set = SetValue::new();
            for v in intset::parse(&blob)? {
                set.insert(v.to_string().as_bytes(), limits.set);
            }
            Ok(Value::Set(set))
        }
        types::SET_LISTPACK => {
            let blob = src.string()?;
            set_from_members(listpack::parse(&blob)?, limits)
        }
        types::ZSET_ZIPLIST | types::ZSET_LISTPACK => {
            let blob = src.string()?;
            let entries = if rdb_type == types::ZSET_LISTPACK {
                listpack::parse(&blob)?
            } else {
                ziplist::parse(&blob)?
            };
            zset_from_entries(&entries, limits)
        }
        types::HASH_ZIPLIST | types::HASH_LISTPACK => {
            let blob = src.string()?;
            let entries = if rdb_type == types::HASH_LISTPACK {
                listpack::parse(&blob)?
            } else {
                ziplist::parse(&blob)?
            };
            if !entries.len().is_multiple_of(2) {
                return Err(RdbError::Corrupt("hash blob with an odd number of entries"));
            }
            let pairs = entries.chunks_exact(2).map(|p| (p[0], p[1]));
            hash_from_entry_pairs(pairs, entries.len() / 2, limits.hash)
        }
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => {
            super::stream::load_stream(src, rdb_type)
        }
        types::MODULE_PRE_GA | types::MODULE_2 => Err(RdbError::Unsupported("module values")),
        22..=25 => Err(RdbError::Unsupported("hash field expiration (Redis 7.4)")),
        _ => Err(RdbError::Corrupt("unknown object type")),
    }
}

fn load_plain_list<R: Read>(src: &mut Src<R>, limits: &Limits) -> Result<Value, RdbError> {
    let n = src.count()?;
    if n == 0 {
        return Err(RdbError::EmptyKey);
    }
    let mut list = ListValue::new();
    for _ in 0..n {
        list.push(End::Right, &src.string()?, limits.list);
    }
    Ok(Value::List(list))
}

fn load_plain_set<R: Read>(src: &mut Src<R>, limits: &Limits) -> Result<Value, RdbError> {
    let n = src.count()?;
    if n == 0 {
        return Err(RdbError::EmptyKey);
    }
    let mut set = SetValue::new();
    for _ in 0..n {
        if !set.insert(&src.string()?, limits.set) {
            return Err(RdbError::Corrupt("duplicate set members"));
        }
    }
    Ok(Value::Set(set))
}

fn load_plain_zset<R: Read>(
    src: &mut Src<R>,
    binary: bool,
    limits: &Limits,
) -> Result<Value, RdbError> {
    let n = src.count()?;
    if n == 0 {
        return Err(RdbError::EmptyKey);
    }
    let mut z = ZSetValue::new();
    for _ in 0..n {
        let member = src.string()?;
        let score = if binary {
            src.binary_double()?
        } else {
            src.text_double()?
        };
        if score.is_nan() {
            return Err(RdbError::Corrupt("sorted set with a NaN score"));
        }
        if !z.insert(&member, score, limits.zset) {
            return Err(RdbError::Corrupt("duplicate sorted set members"));
        }
    }
    Ok(Value::ZSet(z))
}

fn load_plain_hash<R: Read>(src: &mut Src<R>, limits: &Limits) -> Result<Value, RdbError> {
    let n = src.count()?;
    if n == 0 {
        return Err(RdbError::EmptyKey);
    }
    let mut h = HashValue::default();
    for _ in 0..n {
        let field = src.string()?;
        let value = src.string()?;
        if !h.set(&field, &value, limits.hash) {
            return Err(RdbError::Corrupt("duplicate hash fields"));
        }
    }
    Ok(Value::Hash(h))
}

/// `QUICKLIST_NODE_CONTAINER_PLAIN` / `_PACKED`.
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

fn load_quicklist<R: Read>(src: &mut Src<R>, v2: bool, limits: &Limits) -> Result<Value, RdbError> {
    let nodes = src.len()?;
    if nodes == 0 {
        return Err(RdbError::EmptyKey);
    }
    let mut list = ListValue::new();
    for _ in 0..nodes {
        let container = if v2 { src.len()? } else { CONTAINER_PACKED };
        if container != CONTAINER_PLAIN && container != CONTAINER_PACKED {
            return Err(RdbError::Corrupt(
                "quicklist node with an unknown container",
            ));
        }
        let blob = src.string()?;
        if container == CONTAINER_PLAIN {
            if blob.is_empty() {
                return Err(RdbError::Corrupt("empty quicklist plain node"));
            }
            list.push(End::Right, &blob, limits.list);
            continue;
        }
        let entries = if v2 {
            listpack::parse(&blob)?
        } else {
            ziplist::parse(&blob)?
        };
        // Redis 6.2 could write empty ziplist nodes (skipped); an empty listpack node is
        // corruption.
        if entries.is_empty() && v2 {
            return Err(RdbError::Corrupt("empty quicklist node"));
        }
        for e in entries {
            e.with_bytes(|b| list.push(End::Right, b, limits.list));
        }
    }
    if list.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    Ok(Value::List(list))
}

fn list_from_entries(entries: Vec<Entry<'_>>, limits: &Limits) -> Result<Value, RdbError> {
    if entries.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    let mut list = ListValue::new();
    for e in entries {
        e.with_bytes(|b| list.push(End::Right, b, limits.list));
    }
    Ok(Value::List(list))
}

fn set_from_members(entries: Vec<Entry<'_>>, limits: &Limits) -> Result<Value, RdbError> {
    if entries.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    let mut set = SetValue::new();
    for e in entries {
        if !e.with_bytes(|b| set.insert(b, limits.set)) {
            return Err(RdbError::Corrupt("duplicate set members"));
        }
    }
    Ok(Value::Set(set))
}

/// A sorted set from a (member, score)* blob. Within the entry threshold Redis keeps the
/// blob as it is (long members included), so the member-length threshold is not applied.
fn zset_from_entries(entries: &[Entry<'_>], limits: &Limits) -> Result<Value, RdbError> {
    if !entries.len().is_multiple_of(2) {
        return Err(RdbError::Corrupt(
            "sorted set blob with an odd number of entries",
        ));
    }
    let n = entries.len() / 2;
    if n == 0 {
        return Err(RdbError::EmptyKey);
    }
    let lim = if n <= limits.zset.max_entries {
        ZSetLimits {
            max_entries: limits.zset.max_entries,
            max_value: usize::MAX,
        }
    } else {
        limits.zset
    };
    let mut z = ZSetValue::new();
    for pair in entries.chunks_exact(2) {
        let score = entry_score(pair[1]);
        if score.is_nan() {
            return Err(RdbError::Corrupt("sorted set with a NaN score"));
        }
        if !pair[0].with_bytes(|m| z.insert(m, score, lim)) {
            return Err(RdbError::Corrupt("duplicate sorted set members"));
        }
    }
    Ok(Value::ZSet(z))
}

/// A hash from the pairs of a listpack or ziplist blob: kept as a listpack in the blob's
/// order when within the entry threshold (Redis checks only the count), else a table.
fn hash_from_entry_pairs<'a>(
    pairs: impl Iterator<Item = (Entry<'a>, Entry<'a>)>,
    n: usize,
    limits: HashLimits,
) -> Result<Value, RdbError> {
    if n == 0 {
        return Err(RdbError::EmptyKey);
    }
    let owned = pairs.map(|(f, v)| (f.to_vec(), v.to_vec()));
    if n > limits.max_entries {
        let mut h = HashValue::default();
        for (f, v) in owned {
            if !h.set(&f, &v, limits) {
                return Err(RdbError::Corrupt("duplicate hash fields"));
            }
        }
        return Ok(Value::Hash(h));
    }
    let mut lp = Listpack::with_capacity(0);
    let mut seen = hashbrown::HashSet::with_capacity(n.min(PREALLOC_MAX));
    for (f, v) in owned {
        lp.push(&f, &v);
        if !seen.insert(f) {
            return Err(RdbError::Corrupt("duplicate hash fields"));
        }
    }
    Ok(Value::Hash(HashValue::Listpack(lp)))
}

/// A hash from (field, value) pairs added one by one under the thresholds (zipmaps: Redis
/// converts them when a field or value is too long as well).
fn hash_from_pairs<'a>(
    pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    limits: HashLimits,
) -> Result<Value, RdbError> {
    let mut h = HashValue::default();
    for (f, v) in pairs {
        if !h.set(f, v, limits) {
            return Err(RdbError::Corrupt("duplicate hash fields"));
        }
    }
    if h.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    Ok(Value::Hash(h))
}

// ---------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------

/// Decode one value (type byte + payload, as [`super::encode_value`] writes) from the start
/// of `bytes`: the value and the number of bytes it took. Trailing bytes are left alone.
pub fn decode_value(bytes: &[u8], limits: &Limits) -> Result<(Value, usize), RdbError> {
    let mut src = Src::new(bytes);
    let rdb_type = src.u8()?;
    let value = load_object(&mut src, rdb_type, limits)?;
    Ok((value, src.pos as usize))
}

/// Check a DUMP payload's footer as Redis's `verifyDumpPayload`: at least 10 bytes, RDB
/// version at most [`RDB_VERSION`], CRC-64 of everything before the CRC. Returns the
/// payload's RDB version.
pub fn verify_dump_payload(payload: &[u8]) -> Result<u16, RdbError> {
    let body_len = payload
        .len()
        .checked_sub(10)
        .ok_or(RdbError::PayloadFooter)?;
    let (covered, crc) = payload.split_at(body_len + 2);
    let version = covered
        .get(body_len..)
        .and_then(|v| v.try_into().ok())
        .map(u16::from_le_bytes)
        .ok_or(RdbError::PayloadFooter)?;
    let crc: [u8; 8] = crc.try_into().map_err(|_| RdbError::PayloadFooter)?;
    if version > RDB_VERSION || crc64(covered) != u64::from_le_bytes(crc) {
        return Err(RdbError::PayloadFooter);
    }
    Ok(version)
}

/// Check a DUMP payload ([`verify_dump_payload`]) and decode its value.
/// [`RdbError::PayloadFooter`] is RESTORE's "DUMP payload version or checksum are wrong";
/// every other error is its "Bad data format".
///
/// Like Redis, the value is read from the whole payload, footer included: a value cut
/// short may borrow the footer's bytes and still load, exactly as it does in Redis.
pub fn parse_dump_payload(payload: &[u8], limits: &Limits) -> Result<Value, RdbError> {
    verify_dump_payload(payload)?;
    Ok(decode_value(payload, limits)?.0)
}
