//! One node of a stream: a compact byte buffer holding a master entry (the field names of
//! the node's first entry) and entries whose IDs are deltas against the node's master ID,
//! as Redis's listpack nodes in a rax. An entry whose fields equal the master's stores only
//! its values. Deleted entries stay in the buffer with a flag until the whole node goes.
//!
//! Buffer layout (LEB128 lengths):
//! `<nfields> (<len> <field>)*` then per entry
//! `<flags u8> <ms delta> <seq delta, zigzag> [<nfields> (<len> <field> <len> <value>)*
//! | (<len> <value>)*]`.
//!
//! Beside the bytes, a block tracks the size Redis's listpack for the same entries would
//! have, because Redis decides when to start a new node by that size
//! (`stream-node-max-bytes`), and approximate trimming removes whole nodes: matching
//! Redis's node boundaries makes `XTRIM ~` and `XINFO STREAM FULL` answer as Redis does.

use super::StreamId;

/// Entry flag: deleted (a tombstone).
pub const FLAG_DELETED: u8 = 1;
/// Entry flag: the entry's fields are the master entry's, only values are stored.
pub const FLAG_SAMEFIELDS: u8 = 2;

/// A node of entries.
#[derive(Clone, Debug, Default)]
pub struct Block {
    data: Vec<u8>,
    /// Live (not deleted) entries.
    pub live: u32,
    /// Entries flagged deleted.
    pub deleted: u32,
    /// Redis listpack bytes of everything but the header, terminator and the two counters.
    lp_rest: u32,
    /// Offset of the first entry (after the master fields).
    entries_start: u32,
}

/// Where one entry lies in its block.
#[derive(Clone, Copy, Debug)]
pub struct EntryPos {
    /// The entry's ID.
    pub id: StreamId,
    /// Its flags.
    pub flags: u8,
    /// Offset of the flags byte.
    pub flags_at: usize,
    /// Offset of the fields part.
    pub fields_at: usize,
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift >= 64 {
            return None;
        }
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

fn put_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = get_varint(buf, pos)? as usize;
    let s = buf.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(s)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Bytes of a listpack integer entry (encoding + data + back-length).
pub fn lp_int_size(v: i64) -> u32 {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    };
    enc + 1
}

/// Bytes of a listpack entry for `s` as `lpAppend` stores it (canonical integers as
/// integers).
pub fn lp_str_size(s: &[u8]) -> u32 {
    if s.len() <= 20 {
        if let Some(v) = crate::util::parse_canonical_i64(s) {
            return lp_int_size(v);
        }
    }
    let len = s.len();
    let enc = len
        + if len < 64 {
            1
        } else if len < 4096 {
            2
        } else {
            5
        };
    let back = match enc {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    };
    (enc + back).min(u32::MAX as usize) as u32
}

impl Block {
    /// A new block whose master fields are the even positions of `fields` (field, value
    /// pairs).
    pub fn new(fields: &[&[u8]]) -> Block {
        let n = fields.len() / 2;
        let mut data = Vec::with_capacity(64);
        put_varint(&mut data, n as u64);
        let mut lp_rest = lp_int_size(n as i64) + lp_int_size(0);
        for f in fields.iter().step_by(2) {
            put_bytes(&mut data, f);
            lp_rest = lp_rest.saturating_add(lp_str_size(f));
        }
        let entries_start = data.len() as u32;
        Block {
            data,
            live: 0,
            deleted: 0,
            lp_rest,
            entries_start,
        }
    }

    /// The size Redis's listpack for this node would have.
    pub fn lp_bytes(&self) -> u64 {
        7 + lp_int_size(self.live as i64) as u64
            + lp_int_size(self.deleted as i64) as u64
            + self.lp_rest as u64
    }

    /// Entries stored, deleted ones included.
    pub fn total(&self) -> u32 {
        self.live + self.deleted
    }

    /// The master field names.
    pub fn master_fields(&self) -> Vec<&[u8]> {
        let mut pos = 0;
        let n = get_varint(&self.data, &mut pos).unwrap_or(0);
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            match get_bytes(&self.data, &mut pos) {
                Some(f) => out.push(f),
                None => break,
            }
        }
        out
    }

    fn master_count(&self) -> u64 {
        let mut pos = 0;
        get_varint(&self.data, &mut pos).unwrap_or(0)
    }

    /// True when the pairs in `fields` have exactly the master's field names.
    fn same_fields(&self, fields: &[&[u8]]) -> bool {
        let mut pos = 0;
        let Some(n) = get_varint(&self.data, &mut pos) else {
            return false;
        };
        if n as usize != fields.len() / 2 {
            return false;
        }
        fields
            .iter()
            .step_by(2)
            .all(|f| get_bytes(&self.data, &mut pos) == Some(*f))
    }

    /// Append an entry (IDs must grow; the caller checks).
    pub fn append(&mut self, master: StreamId, id: StreamId, fields: &[&[u8]]) {
        let same = self.same_fields(fields);
        let ms_delta = id.ms.wrapping_sub(master.ms);
        let seq_delta = id.seq.wrapping_sub(master.seq) as i64;
        let flags = if same { FLAG_SAMEFIELDS } else { 0 };
        self.data.push(flags);
        put_varint(&mut self.data, ms_delta);
        put_varint(&mut self.data, zigzag(seq_delta));
        let n = fields.len() / 2;
        let mut lp =
            lp_int_size(flags as i64) + lp_int_size(ms_delta as i64) + lp_int_size(seq_delta);
        let lp_count = if same { n + 3 } else { 2 * n + 4 };
        lp += lp_int_size(lp_count as i64);
        if same {
            for v in fields.iter().skip(1).step_by(2) {
                put_bytes(&mut self.data, v);
                lp = lp.saturating_add(lp_str_size(v));
            }
        } else {
            put_varint(&mut self.data, n as u64);
            lp += lp_int_size(n as i64);
            for f in fields {
                put_bytes(&mut self.data, f);
                lp = lp.saturating_add(lp_str_size(f));
            }
        }
        self.lp_rest = self.lp_rest.saturating_add(lp);
        self.live += 1;
    }

    /// Append an entry read from a file, flagged deleted or not (RDB loading).
    pub fn append_loaded(
        &mut self,
        master: StreamId,
        id: StreamId,
        fields: &[&[u8]],
        deleted: bool,
    ) {
        let at = self.data.len();
        self.append(master, id, fields);
        if deleted {
            if let Some(f) = self.data.get_mut(at) {
                *f |= FLAG_DELETED;
            }
            self.live = self.live.saturating_sub(1);
            self.deleted += 1;
        }
    }

    /// Release spare capacity (a node that no longer grows).
    pub fn shrink(&mut self) {
        self.data.shrink_to_fit();
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.data.capacity()
    }

    /// Positions of every entry (deleted ones included), in ID order.
    pub fn positions(&self, master: StreamId) -> Vec<EntryPos> {
        let mut out = Vec::with_capacity(self.total() as usize);
        let mut pos = self.entries_start as usize;
        let nmaster = self.master_count();
        while pos < self.data.len() {
            match self.decode_at(master, nmaster, pos) {
                Some((p, next)) => {
                    out.push(p);
                    pos = next;
                }
                None => break,
            }
        }
        out
    }

    /// Decode the entry at `pos`: its position record and the offset of the next one.
    fn decode_at(&self, master: StreamId, nmaster: u64, pos: usize) -> Option<(EntryPos, usize)> {
        let d = &self.data;
        let flags = *d.get(pos)?;
        let mut p = pos + 1;
        let ms = master.ms.wrapping_add(get_varint(d, &mut p)?);
        let seq = master
            .seq
            .wrapping_add(unzigzag(get_varint(d, &mut p)?) as u64);
        let fields_at = p;
        if flags & FLAG_SAMEFIELDS != 0 {
            for _ in 0..nmaster {
                get_bytes(d, &mut p)?;
            }
        } else {
            let n = get_varint(d, &mut p)?;
            for _ in 0..n.checked_mul(2)? {
                get_bytes(d, &mut p)?;
            }
        }
        Some((
            EntryPos {
                id: StreamId { ms, seq },
                flags,
                flags_at: pos,
                fields_at,
            },
            p,
        ))
    }

    /// The field/value pairs of the entry at `at`.
    pub fn fields(&self, at: &EntryPos) -> Vec<(&[u8], &[u8])> {
        let d = &self.data;
        let mut p = at.fields_at;
        if at.flags & FLAG_SAMEFIELDS != 0 {
            let names = self.master_fields();
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                match get_bytes(d, &mut p) {
                    Some(v) => out.push((name, v)),
                    None => break,
                }
            }
            out
        } else {
            let n = get_varint(d, &mut p).unwrap_or(0);
            let mut out = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let (Some(f), Some(v)) = (get_bytes(d, &mut p), get_bytes(d, &mut p)) else {
                    break;
                };
                out.push((f, v));
            }
            out
        }
    }

    /// Flag the entry at `at` deleted (it must be live).
    pub fn mark_deleted(&mut self, at: &EntryPos) {
        if let Some(f) = self.data.get_mut(at.flags_at) {
            if *f & FLAG_DELETED == 0 {
                *f |= FLAG_DELETED;
                self.live = self.live.saturating_sub(1);
                self.deleted += 1;
            }
        }
    }

    /// The ID of the last entry stored, deleted or not (Redis's `lpGetEdgeStreamID`).
    pub fn last_stored_id(&self, master: StreamId) -> StreamId {
        self.positions(master)
            .last()
            .map(|p| p.id)
            .unwrap_or(master)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut p = 0;
            assert_eq!(get_varint(&b, &mut p), Some(v));
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn lp_sizes_match_redis_encodings() {
        assert_eq!(lp_str_size(b"1"), 2);
        assert_eq!(lp_str_size(b"-1"), 3);
        assert_eq!(lp_str_size(b"abc"), 5);
        assert_eq!(lp_str_size(b"01"), 4);
        assert_eq!(lp_int_size(i64::MAX), 10);
    }

    #[test]
    fn same_fields_store_only_values() {
        let m = StreamId { ms: 5, seq: 0 };
        let mut b = Block::new(&[b"f", b"v"]);
        b.append(m, m, &[b"f", b"v"]);
        b.append(m, StreamId { ms: 6, seq: 0 }, &[b"g", b"w"]);
        let pos = b.positions(m);
        assert_eq!(pos.len(), 2);
        assert_eq!(pos[0].flags, FLAG_SAMEFIELDS);
        assert_eq!(pos[1].flags, 0);
        assert_eq!(b.fields(&pos[1]), vec![(&b"g"[..], &b"w"[..])]);
        assert_eq!(b.fields(&pos[0]), vec![(&b"f"[..], &b"v"[..])]);
        // A Redis listpack: 7 + count(2) + deleted(2) + master (numfields 2, "f" 3, 0 2)
        // + entry 1 (flags 2, ms 2, seq 2, "v" 3, lp-count 2)
        // + entry 2 (flags 2, ms 2, seq 2, nf 2, "g" 3, "w" 3, lp-count 2).
        assert_eq!(b.lp_bytes(), 7 + 2 + 2 + 7 + 11 + 16);
    }
}
