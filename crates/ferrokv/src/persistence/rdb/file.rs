//! Whole RDB files: a writer producing what Redis 7.0's `rdbSaveRio` writes, and a
//! streaming reader for versions 1 to 12 (Redis 7.4).
//!
//! File layout: `REDIS0010`, aux fields (`redis-ver`, `redis-bits`, `ctime`, `used-mem`,
//! `aof-base`), then per non-empty database SELECTDB + RESIZEDB and its keys (each with an
//! optional EXPIRETIME_MS, IDLE or FREQ before type, key and value), EOF, and the CRC-64 of
//! everything before it (8 bytes LE; 0 when checksums are off).

use std::io::{self, BufReader, Read, Write};

use super::crc64::{Digest, CRC64};
use super::decode::{load_object, Limits, Src};
use super::encode::{encode_value, write_len, write_string, EncodeOptions};
use super::{opcodes, RdbError, MAX_READ_VERSION, RDB_VERSION};
use crate::storage::value::{Value, ValueRef};

/// What a saved file records besides the data.
#[derive(Clone, Debug)]
pub struct SaveOptions {
    /// `rdbcompression`.
    pub compression: bool,
    /// `rdbchecksum`: when false the trailer is 0 (loaders then skip the check).
    pub checksum: bool,
    /// `list-max-listpack-size`, for cutting lists into nodes as Redis would.
    pub list_max_listpack_size: i64,
    /// The `redis-ver` aux field.
    pub redis_version: String,
    /// The `ctime` aux field (Unix seconds).
    pub ctime: u64,
    /// The `used-mem` aux field (bytes).
    pub used_mem: u64,
    /// The `aof-base` aux field (the file is an AOF preamble).
    pub aof_base: bool,
    /// Function libraries' codes, written after the aux fields (`RDB_OPCODE_FUNCTION2`),
    /// before the databases, as Redis 7.0 writes them.
    pub functions: Vec<std::sync::Arc<[u8]>>,
}

impl Default for SaveOptions {
    /// Redis's defaults, `redis-ver` 7.0.15, `ctime` now, `used-mem` 0.
    fn default() -> Self {
        SaveOptions {
            compression: true,
            checksum: true,
            list_max_listpack_size: -2,
            redis_version: "7.0.15".into(),
            ctime: crate::util::now_ms() / 1000,
            used_mem: 0,
            aof_base: false,
            functions: Vec::new(),
        }
    }
}

/// Writes an RDB file key by key. Call [`RdbWriter::select_db`] before the keys of each
/// database (in increasing order, skipping empty ones, as Redis), then
/// [`RdbWriter::write_key`] per key, then [`RdbWriter::finish`].
pub struct RdbWriter<W: Write> {
    out: W,
    digest: Option<Digest>,
    opts: EncodeOptions,
    buf: Vec<u8>,
}

impl<W: Write> RdbWriter<W> {
    /// Start a file: writes the header and the aux fields.
    pub fn new(out: W, opts: &SaveOptions) -> io::Result<RdbWriter<W>> {
        let mut w = RdbWriter {
            out,
            digest: opts.checksum.then(|| CRC64.digest()),
            opts: EncodeOptions {
                compression: opts.compression,
                list_max_listpack_size: opts.list_max_listpack_size,
            },
            buf: Vec::with_capacity(4096),
        };
        w.buf
            .extend_from_slice(format!("REDIS{:04}", RDB_VERSION).as_bytes());
        let bits = (usize::BITS as i64).to_string();
        let aux: [(&str, String); 5] = [
            ("redis-ver", opts.redis_version.clone()),
            ("redis-bits", bits),
            ("ctime", opts.ctime.to_string()),
            ("used-mem", opts.used_mem.to_string()),
            ("aof-base", u8::from(opts.aof_base).to_string()),
        ];
        for (name, value) in aux {
            w.buf.push(opcodes::AUX);
            write_string(&mut w.buf, name.as_bytes(), opts.compression);
            write_string(&mut w.buf, value.as_bytes(), opts.compression);
        }
        for code in &opts.functions {
            w.buf.push(opcodes::FUNCTION2);
            write_string(&mut w.buf, code, opts.compression);
        }
        w.flush_buf()?;
        Ok(w)
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if let Some(d) = &mut self.digest {
            d.update(&self.buf);
        }
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Start database `db`: SELECTDB, then RESIZEDB with its key count and the number of
    /// keys with a TTL (size hints for the loader).
    pub fn select_db(&mut self, db: usize, keys: usize, expires: usize) -> io::Result<()> {
        self.buf.push(opcodes::SELECTDB);
        write_len(&mut self.buf, db as u64);
        self.buf.push(opcodes::RESIZEDB);
        write_len(&mut self.buf, keys as u64);
        write_len(&mut self.buf, expires as u64);
        self.flush_buf()
    }

    /// Write one key: its deadline (`expire_at_ms`, Unix ms, 0 = none), the LRU idle
    /// seconds or LFU counter when given (Redis writes them under an LRU / LFU
    /// maxmemory-policy), then type, key and value.
    pub fn write_key(
        &mut self,
        key: &[u8],
        value: ValueRef<'_>,
        expire_at_ms: u64,
        lru_idle: Option<u64>,
        lfu_freq: Option<u8>,
    ) -> io::Result<()> {
        if expire_at_ms != 0 {
            self.buf.push(opcodes::EXPIRETIME_MS);
            self.buf.extend_from_slice(&expire_at_ms.to_le_bytes());
        }
        if let Some(idle) = lru_idle {
            self.buf.push(opcodes::IDLE);
            write_len(&mut self.buf, idle);
        }
        if let Some(freq) = lfu_freq {
            self.buf.push(opcodes::FREQ);
            self.buf.push(freq);
        }
        // encode_value writes the type byte first; the key goes between it and the value.
        let mut value_bytes = Vec::new();
        encode_value(value, &self.opts, &mut value_bytes);
        let (type_byte, payload) = value_bytes.split_first().unwrap_or((&0, &[]));
        self.buf.push(*type_byte);
        write_string(&mut self.buf, key, self.opts.compression);
        self.buf.extend_from_slice(payload);
        self.flush_buf()
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// End the file: EOF and the CRC-64 trailer (0 without checksums); flushes and returns
    /// the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(opcodes::EOF);
        self.flush_buf()?;
        let crc = self.digest.take().map_or(0, |d| d.finalize());
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Write a whole file from `(db, key, value, expire_at_ms)` items (deadline 0 = none), in
/// any order: they are grouped by database (ascending) for SELECTDB/RESIZEDB.
pub fn write_rdb<'a, W, V, I>(out: W, opts: &SaveOptions, keys: I) -> io::Result<W>
where
    W: Write,
    V: Into<ValueRef<'a>>,
    I: IntoIterator<Item = (usize, &'a [u8], V, u64)>,
{
    let mut items: Vec<(usize, &[u8], ValueRef<'a>, u64)> = keys
        .into_iter()
        .map(|(db, k, v, at)| (db, k, v.into(), at))
        .collect();
    items.sort_by_key(|it| it.0);
    let mut w = RdbWriter::new(out, opts)?;
    for group in items.chunk_by(|a, b| a.0 == b.0) {
        let expires = group.iter().filter(|it| it.3 != 0).count();
        w.select_db(group[0].0, group.len(), expires)?;
        for &(_, key, value, expire) in group {
            w.write_key(key, value, expire, None, None)?;
        }
    }
    w.finish()
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// One key read from a file.
#[derive(Debug)]
pub struct LoadedKey {
    /// Its database (from the last SELECTDB; 0 before any). Not checked against any
    /// limit: the caller refuses numbers beyond its `databases`, as Redis does.
    pub db: usize,
    /// The key.
    pub key: Vec<u8>,
    /// The value, rebuilt under the loader's thresholds.
    pub value: Value,
    /// Deadline in Unix ms, 0 when none. Keys already expired are reported too (Redis's
    /// master skips them when loading; that is the caller's choice).
    pub expire_at_ms: u64,
    /// LRU idle seconds recorded for the key (IDLE opcode).
    pub lru_idle: Option<u64>,
    /// LFU counter recorded for the key (FREQ opcode).
    pub lfu_freq: Option<u8>,
}

/// What a read file contained besides keys.
#[derive(Debug, Default)]
pub struct RdbSummary {
    /// The file's RDB version.
    pub version: u32,
    /// Aux fields in file order (`redis-ver`, `ctime`, ...).
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Keys handed to the callback.
    pub keys: u64,
    /// Empty collections skipped (as Redis does).
    pub empty_keys_skipped: u64,
    /// False when the file was saved without a checksum (trailer 0) or predates them.
    pub checksum_verified: bool,
    /// Function libraries' codes (`RDB_OPCODE_FUNCTION2`), in file order.
    pub functions: Vec<Vec<u8>>,
}

/// A reader that feeds the CRC-64 with every byte it passes on.
struct CrcRead<R> {
    inner: R,
    digest: Digest,
}

impl<R: Read> Read for CrcRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Per-key metadata opcodes seen before the key.
#[derive(Default)]
struct Pending {
    expire_at_ms: u64,
    lru_idle: Option<u64>,
    lfu_freq: Option<u8>,
}

/// Read a whole RDB file (versions 1 to 12) from `input`, calling `on_key` for every key
/// in file order; an error from `on_key` stops the load and is returned. Aux fields are
/// collected in the summary; IDLE/FREQ/EXPIRETIME are attached to their key; RESIZEDB and
/// slot info are skipped; functions and module data are [`RdbError::Unsupported`]; empty
/// collections are skipped like Redis does. The CRC-64 trailer is verified (0 = none).
pub fn read_rdb<R, F, E>(input: R, limits: &Limits, mut on_key: F) -> Result<RdbSummary, E>
where
    R: Read,
    F: FnMut(LoadedKey) -> Result<(), E>,
    E: From<RdbError>,
{
    let mut src = Src::new(CrcRead {
        inner: BufReader::with_capacity(64 * 1024, input),
        digest: CRC64.digest(),
    });
    let mut summary = RdbSummary {
        version: read_header(&mut src)?,
        ..RdbSummary::default()
    };
    let mut db = 0usize;
    let mut pending = Pending::default();
    loop {
        let op = src.u8()?;
        match op {
            opcodes::EXPIRETIME => {
                let secs = i32::from_le_bytes(src.array()?);
                pending.expire_at_ms = (secs as i64 * 1000) as u64;
            }
            opcodes::EXPIRETIME_MS => pending.expire_at_ms = u64::from_le_bytes(src.array()?),
            opcodes::FREQ => pending.lfu_freq = Some(src.u8()?),
            opcodes::IDLE => pending.lru_idle = Some(src.len()?),
            opcodes::EOF => break,
            opcodes::SELECTDB => {
                db = usize::try_from(src.len()?)
                    .map_err(|_| RdbError::Corrupt("database number out of range"))?;
            }
            opcodes::RESIZEDB => {
                src.len()?;
                src.len()?;
            }
            opcodes::SLOT_INFO => {
                for _ in 0..3 {
                    src.len()?;
                }
            }
            opcodes::AUX => {
                let name = src.string()?;
                let value = src.string()?;
                summary.aux.push((name, value));
            }
            opcodes::MODULE_AUX => return Err(RdbError::Unsupported("module aux data").into()),
            opcodes::FUNCTION2 => summary.functions.push(src.string()?),
            opcodes::FUNCTION_PRE_GA => {
                return Err(RdbError::Unsupported("pre-GA functions").into())
            }
            rdb_type => {
                let key = src.string()?;
                let meta = std::mem::take(&mut pending);
                match load_object(&mut src, rdb_type, limits) {
                    Ok(value) => {
                        summary.keys += 1;
                        on_key(LoadedKey {
                            db,
                            key,
                            value,
                            expire_at_ms: meta.expire_at_ms,
                            lru_idle: meta.lru_idle,
                            lfu_freq: meta.lfu_freq,
                        })?;
                    }
                    Err(RdbError::EmptyKey) => summary.empty_keys_skipped += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    if summary.version >= 5 {
        // The checksum covers everything up to and including the EOF opcode.
        let computed = src.inner_mut().digest.clone().finalize();
        let expected = u64::from_le_bytes(src.array()?);
        if expected != 0 {
            if expected != computed {
                return Err(RdbError::Checksum { expected, computed }.into());
            }
            summary.checksum_verified = true;
        }
    }
    Ok(summary)
}

fn read_header<R: Read>(src: &mut Src<R>) -> Result<u32, RdbError> {
    let head: [u8; 9] = src.array()?;
    if &head[..5] != b"REDIS" {
        return Err(RdbError::BadSignature);
    }
    let version = std::str::from_utf8(&head[5..])
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or(RdbError::BadSignature)?;
    if !(1..=MAX_READ_VERSION).contains(&version) {
        return Err(RdbError::UnsupportedVersion(version));
    }
    Ok(version)
}
