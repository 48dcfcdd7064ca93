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

use super::encode::{write_len, write_string};
use super::listpack::Builder;
use super::types;
use crate::storage::stream::{Block, Stream, StreamId};

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
