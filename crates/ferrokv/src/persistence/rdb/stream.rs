//! Streams in RDB form: Redis 7.0's `RDB_TYPE_STREAM_LISTPACKS_2` (written and read) and
//! the older `RDB_TYPE_STREAM_LISTPACKS` (read).
//!
//! Layout: the number of nodes; per node its master ID (16 bytes big-endian, as an RDB
//! string) and its listpack (an RDB string); the length; the last ID; (v2) the first ID,
//! the largest deleted ID and the entries-added counter; the groups: name, last ID, (v2)
//! entries read, the group PEL (16-byte ID, delivery time as 8 bytes little-endian ms,
//! delivery count) and the consumers (name, seen time, the IDs of their PEL).
//!
//! A node's listpack: `count deleted nfields field... 0` (the master entry), then per entry
//! `flags ms-delta seq-delta [nfields field value ...| value ...] lp-count`.

use std::collections::BTreeSet;
use std::io::Read;

use super::decode::Src;
use super::encode::{write_len, write_string};
use super::listpack::{self, Builder, Entry};
use super::{types, RdbError};
use crate::storage::stream::{Block, ConsumerGroup, PendingEntry, Stream, StreamId};
use crate::storage::Value;

/// Redis's listpack for one node.
pub fn node_listpack(master: StreamId, block: &Block) -> Vec<u8> {
    let mut lp = Builder::new();
    lp.push_int(block.live as i64);
    lp.push_int(block.deleted as i64);
    let names = block.master_fields();
    lp.push_int(names.len() as i64);
    for f in &names {
        lp.push(f);
    }
    lp.push_int(0);
    for p in block.positions(master) {
        let same = p.flags & crate::storage::stream::FLAG_SAMEFIELDS != 0;
        lp.push_int(p.flags as i64);
        lp.push_int(p.id.ms.wrapping_sub(master.ms) as i64);
        lp.push_int(p.id.seq.wrapping_sub(master.seq) as i64);
        let fields = block.fields(&p);
        if same {
            for (_, v) in &fields {
                lp.push(v);
            }
            lp.push_int(fields.len() as i64 + 3);
        } else {
            lp.push_int(fields.len() as i64);
            for (f, v) in &fields {
                lp.push(f);
                lp.push(v);
            }
            lp.push_int(2 * fields.len() as i64 + 4);
        }
    }
    lp.finish()
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

/// Append a stream as `STREAM_LISTPACKS_2` (type byte and payload).
pub fn write_stream(out: &mut Vec<u8>, s: &Stream, compression: bool) {
    out.push(types::STREAM_LISTPACKS_2);
    write_len(out, s.block_count() as u64);
    for (master, block) in s.blocks() {
        write_string(out, &master.to_be_bytes(), false);
        write_string(out, &node_listpack(*master, block), compression);
    }
    write_len(out, s.length);
    write_id(out, s.last_id);
    write_id(out, s.first_id);
    write_id(out, s.max_deleted_entry_id);
    write_len(out, s.entries_added);
    write_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        write_string(out, name, compression);
        write_id(out, g.last_id);
        write_len(out, g.entries_read as u64);
        write_len(out, g.pel.len() as u64);
        for (id, p) in &g.pel {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&p.delivery_time.to_le_bytes());
            write_len(out, p.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_string(out, cname, compression);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            write_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

fn corrupt(what: &'static str) -> RdbError {
    RdbError::Corrupt(what)
}

fn read_id<R: Read>(src: &mut Src<R>) -> Result<StreamId, RdbError> {
    Ok(StreamId::new(src.len()?, src.len()?))
}

fn raw_id<R: Read>(src: &mut Src<R>) -> Result<StreamId, RdbError> {
    StreamId::from_be_bytes(&src.array::<16>()?).ok_or(corrupt("stream ID"))
}

fn ms_time<R: Read>(src: &mut Src<R>) -> Result<i64, RdbError> {
    Ok(i64::from_le_bytes(src.array::<8>()?))
}

fn int_of(e: Option<&Entry<'_>>) -> Result<i64, RdbError> {
    match e {
        Some(Entry::Int(n)) => Ok(*n),
        Some(Entry::Str(s)) => {
            crate::util::parse_canonical_i64(s).ok_or(corrupt("stream listpack integer"))
        }
        None => Err(corrupt("truncated stream listpack")),
    }
}

/// `len` items from `start`, or a corruption error (lengths come from the file).
fn items_at(bytes: &[Vec<u8>], start: usize, len: usize) -> Result<&[Vec<u8>], RdbError> {
    let end = start
        .checked_add(len)
        .ok_or(corrupt("stream listpack length"))?;
    bytes
        .get(start..end)
        .ok_or(corrupt("truncated stream listpack"))
}

/// Rebuild one node from Redis's listpack.
fn load_node(master: StreamId, blob: &[u8]) -> Result<Block, RdbError> {
    let items = listpack::parse(blob)?;
    if items.is_empty() {
        return Err(corrupt("empty listpack inside stream"));
    }
    let bytes: Vec<Vec<u8>> = items.iter().map(|e| e.to_vec()).collect();
    let count = int_of(items.first())?;
    let deleted = int_of(items.get(1))?;
    let nmaster = usize::try_from(int_of(items.get(2))?).map_err(|_| corrupt("field count"))?;
    let names = items_at(&bytes, 3, nmaster)?;
    if int_of(items.get(3 + nmaster))? != 0 {
        return Err(corrupt("master entry terminator"));
    }
    let mut master_pairs: Vec<&[u8]> = Vec::with_capacity(nmaster * 2);
    for n in names {
        master_pairs.push(n);
        master_pairs.push(b"");
    }
    let mut block = Block::new(&master_pairs);
    let mut i = 4 + nmaster;
    let mut last: Option<StreamId> = None;
    while i < items.len() {
        let flags = int_of(items.get(i))?;
        let ms = master.ms.wrapping_add(int_of(items.get(i + 1))? as u64);
        let seq = master.seq.wrapping_add(int_of(items.get(i + 2))? as u64);
        let id = StreamId::new(ms, seq);
        if last.is_some_and(|l| l >= id) || id < master {
            return Err(corrupt("stream IDs out of order"));
        }
        last = Some(id);
        i += 3;
        let mut pairs: Vec<&[u8]> = Vec::new();
        if flags & crate::storage::stream::FLAG_SAMEFIELDS as i64 != 0 {
            let values = items_at(&bytes, i, nmaster)?;
            for (n, v) in names.iter().zip(values) {
                pairs.push(n);
                pairs.push(v);
            }
            i += nmaster;
        } else {
            let nf = usize::try_from(int_of(items.get(i))?).map_err(|_| corrupt("fields"))?;
            i += 1;
            let fv = items_at(&bytes, i, nf.checked_mul(2).ok_or(corrupt("fields"))?)?;
            pairs.extend(fv.iter().map(Vec::as_slice));
            i += 2 * nf;
        }
        if pairs.is_empty() {
            return Err(corrupt("stream entry without fields"));
        }
        int_of(items.get(i))?; // lp-count
        i += 1;
        let is_deleted = flags & crate::storage::stream::FLAG_DELETED as i64 != 0;
        block.append_loaded(master, id, &pairs, is_deleted);
    }
    if block.live as i64 != count || block.deleted as i64 != deleted {
        return Err(corrupt("stream node counters"));
    }
    Ok(block)
}

/// Load a stream of RDB type `rdb_type` (15, 19 or 21).
pub(super) fn load_stream<R: Read>(src: &mut Src<R>, rdb_type: u8) -> Result<Value, RdbError> {
    let mut s = Stream::new();
    let nodes = src.len()?;
    for _ in 0..nodes {
        let key = src.string()?;
        if key.len() != 16 {
            return Err(corrupt("stream node key is not a 128-bit ID"));
        }
        let master = StreamId::from_be_bytes(&key).ok_or(corrupt("stream node key"))?;
        let blob = src.string()?;
        let block = load_node(master, &blob)?;
        if block.total() == 0 {
            return Err(corrupt("empty stream node"));
        }
        // A node with only deleted entries can exist (trimmed); keep it as Redis does.
        s.insert_block(master, block);
    }
    s.length = src.len()?;
    s.last_id = read_id(src)?;
    let v2 = rdb_type != types::STREAM_LISTPACKS;
    if v2 {
        s.first_id = read_id(src)?;
        s.max_deleted_entry_id = read_id(src)?;
        s.entries_added = src.len()?;
    } else {
        s.first_id = s.edge_id(true).unwrap_or(StreamId::MIN);
        s.entries_added = s.length;
    }
    let live: u64 = s.blocks().map(|(_, b)| b.live as u64).sum();
    if live != s.length {
        return Err(corrupt("stream length does not match its entries"));
    }
    let ngroups = src.len()?;
    for _ in 0..ngroups {
        let name = src.string()?;
        let last_id = read_id(src)?;
        let entries_read = if v2 {
            src.len()? as i64
        } else {
            s.estimate_distance_from_first_ever_entry(last_id)
        };
        let mut g = ConsumerGroup::new(last_id, entries_read);
        let npel = src.len()?;
        for _ in 0..npel {
            let id = raw_id(src)?;
            let delivery_time = ms_time(src)?;
            let delivery_count = src.len()?;
            let pe = PendingEntry {
                consumer: Vec::new(),
                delivery_time,
                delivery_count,
            };
            if g.pel.insert(id, pe).is_some() {
                return Err(corrupt("duplicated global PEL entry"));
            }
        }
        let nconsumers = src.len()?;
        for _ in 0..nconsumers {
            let cname = src.string()?;
            let seen_time = ms_time(src)?;
            if rdb_type == types::STREAM_LISTPACKS_3 {
                ms_time(src)?; // active time (Redis 7.2)
            }
            let mut ids = BTreeSet::new();
            let n = src.len()?;
            for _ in 0..n {
                let id = raw_id(src)?;
                let pe = g
                    .pel
                    .get_mut(&id)
                    .ok_or(corrupt("consumer PEL entry not in the group PEL"))?;
                pe.consumer = cname.clone();
                ids.insert(id);
            }
            if !g.create_consumer(&cname, seen_time) {
                return Err(corrupt("duplicated consumer"));
            }
            if let Some(c) = g.consumers.get_mut(&cname) {
                c.pel = ids;
            }
        }
        if g.pel
            .values()
            .any(|p| p.consumer.is_empty() && !g.consumers.contains_key(&p.consumer))
        {
            return Err(corrupt("PEL entry without a consumer"));
        }
        if !s.create_group(&name, g.last_id, g.entries_read) {
            return Err(corrupt("duplicated consumer group"));
        }
        if let Some(slot) = s.group_mut(&name) {
            *slot = g;
        }
    }
    Ok(Value::Stream(Box::new(s)))
}
