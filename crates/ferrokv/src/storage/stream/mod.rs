//! Streams: entries in compact blocks (see `block.rs`) indexed by their master ID in a
//! B-tree, as Redis keeps listpacks in a rax, plus the metadata Redis 7.0 keeps (length,
//! last/first ID, largest deleted ID, entries ever added) and the consumer groups.

mod block;
mod group;
mod id;

use std::collections::BTreeMap;
use std::ops::Bound;

pub use block::{Block, EntryPos, FLAG_DELETED, FLAG_SAMEFIELDS};
pub use group::{Consumer, ConsumerGroup, PendingEntry, SCG_INVALID_ENTRIES_READ};
pub use id::StreamId;

/// Redis's `STREAM_LISTPACK_MAX_SIZE`: the node size limit when the configured one is 0.
pub const LISTPACK_MAX_SIZE: u64 = 1 << 30;

/// The node limits from `stream-node-max-bytes` and `stream-node-max-entries`.
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    /// Bytes (0 = unlimited, capped at [`LISTPACK_MAX_SIZE`]).
    pub max_bytes: u64,
    /// Entries, deleted included (0 = unlimited).
    pub max_entries: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// How XADD picks the new entry's ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddId {
    /// `*`: from the clock, or after the last ID.
    Auto,
    /// `<ms>-*`: this millisecond, the next free sequence.
    Ms(u64),
    /// An explicit ID.
    Exact(StreamId),
}

/// Why an append failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The ID is not greater than the stream's last ID (Redis's EDOM).
    IdTooSmall,
    /// The fields and values are too large for one node, or `<ms>-*` would overflow the
    /// sequence (Redis's ERANGE).
    TooLarge,
}

/// What a trim keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimStrategy {
    /// At most this many entries.
    MaxLen(u64),
    /// Entries with IDs at or above this one.
    MinId(StreamId),
}

/// A trim request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrimArgs {
    /// What to keep.
    pub strategy: TrimStrategy,
    /// `~`: remove whole nodes only.
    pub approx: bool,
    /// Most entries to remove (0 = no limit); only with `approx`.
    pub limit: u64,
}

/// One entry read from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry<'a> {
    /// Its ID.
    pub id: StreamId,
    /// Field/value pairs in insertion order.
    pub fields: Vec<(&'a [u8], &'a [u8])>,
}

/// A stream value.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    blocks: BTreeMap<StreamId, Block>,
    /// Live entries.
    pub length: u64,
    /// The ID of the last entry ever added (or set by XSETID).
    pub last_id: StreamId,
    /// The first live entry's ID (0-0 when empty).
    pub first_id: StreamId,
    /// The largest ID ever deleted by XDEL (Redis 7.0's `max_deleted_entry_id`).
    pub max_deleted_entry_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name (byte order, as Redis's rax).
    pub groups: BTreeMap<Vec<u8>, ConsumerGroup>,
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    /// True without live entries.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Number of nodes (XINFO STREAM's `radix-tree-nodes` is derived from it).
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// The number of nodes Redis's rax would have for this stream's node keys
    /// (`radix-tree-nodes` of XINFO STREAM): the canonical radix tree of the 16-byte
    /// big-endian master IDs, chains of single children compressed into one node.
    pub fn rax_nodes(&self) -> u64 {
        let keys: Vec<[u8; 16]> = self.blocks.keys().map(|k| k.to_be_bytes()).collect();
        rax_count(&keys, 0)
    }

    /// The nodes with their master IDs, in order (RDB writing, XINFO FULL).
    pub fn blocks(&self) -> impl DoubleEndedIterator<Item = (&StreamId, &Block)> {
        self.blocks.iter()
    }

    /// Approximate heap bytes held.
    pub fn heap_size(&self) -> usize {
        let blocks: usize = self
            .blocks
            .values()
            .map(|b| b.heap_size() + std::mem::size_of::<(StreamId, Block)>() + 8)
            .sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(k, g)| k.len() + g.heap_size())
            .sum();
        std::mem::size_of::<Stream>() + blocks + groups
    }

    /// The ID the next `*` entry gets at `now_ms` (`streamNextID`); None when the last ID
    /// is the maximum.
    pub fn next_auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Append an entry (`streamAppendItem`). `fields` alternates field and value and is
    /// not empty. Returns the new ID.
    pub fn append(
        &mut self,
        id: AddId,
        fields: &[&[u8]],
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<StreamId, AddError> {
        let id = match id {
            AddId::Auto => self.next_auto_id(now_ms).ok_or(AddError::IdTooSmall)?,
            AddId::Ms(ms) if ms == self.last_id.ms => {
                // Redis 7.0 reports this overflow as ERANGE ("too large").
                if self.last_id.seq == u64::MAX {
                    return Err(AddError::TooLarge);
                }
                StreamId::new(ms, self.last_id.seq + 1)
            }
            AddId::Ms(ms) => StreamId::new(ms, 0),
            AddId::Exact(id) => id,
        };
        if id <= self.last_id {
            return Err(AddError::IdTooSmall);
        }
        let total: u64 = fields.iter().map(|f| f.len() as u64).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AddError::TooLarge);
        }
        self.append_exact(id, fields, limits, total);
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Store an entry in the last node, or start a new node when the last one is full by
    /// Redis's rules (bytes before the append plus the new fields' bytes, or entries).
    fn append_exact(&mut self, id: StreamId, fields: &[&[u8]], limits: NodeLimits, total: u64) {
        let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > LISTPACK_MAX_SIZE {
            LISTPACK_MAX_SIZE
        } else {
            limits.max_bytes
        };
        if let Some(mut last) = self.blocks.last_entry() {
            let b = last.get_mut();
            let full = b.lp_bytes() + total >= max_bytes
                || (limits.max_entries != 0 && b.total() as u64 >= limits.max_entries);
            if !full {
                let master = *last.key();
                last.get_mut().append(master, id, fields);
                return;
            }
            b.shrink();
        }
        let mut b = Block::new(fields);
        b.append(id, id, fields);
        self.blocks.insert(id, b);
    }

    /// Load-time append of a node as stored (RDB): the caller fills it entry by entry.
    pub fn insert_block(&mut self, master: StreamId, block: Block) {
        self.blocks.insert(master, block);
    }

    /// Iterate live entries with `start <= id <= end`, forward or backward.
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool) -> Range<'_> {
        let first_key = self
            .blocks
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(start);
        let blocks = if start > end {
            self.blocks.range(StreamId::MAX..StreamId::MAX)
        } else {
            self.blocks
                .range((Bound::Included(first_key), Bound::Included(end)))
        };
        Range {
            blocks,
            start,
            end,
            rev,
            cur: None,
            pos: Vec::new(),
        }
    }

    /// The first (or last) live entry's ID.
    pub fn edge_id(&self, first: bool) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX, !first)
            .next()
            .map(|e| e.id)
    }

    /// The entry with this ID, if live.
    pub fn get(&self, id: StreamId) -> Option<StreamEntry<'_>> {
        self.range(id, id, false).next()
    }

    /// Flag one entry deleted (`streamDeleteItem`); a node left without live entries goes.
    /// Does not touch the metadata beyond the length; see [`Stream::delete_ids`].
    fn delete_one(&mut self, id: StreamId) -> bool {
        let Some((&master, block)) = self.blocks.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(p) = block
            .positions(master)
            .into_iter()
            .find(|p| p.id == id && p.flags & block::FLAG_DELETED == 0)
        else {
            return false;
        };
        if block.live == 1 {
            self.blocks.remove(&master);
        } else {
            block.mark_deleted(&p);
        }
        self.length -= 1;
        true
    }

    /// XDEL: delete these IDs, updating the first ID and the largest deleted ID as Redis
    /// 7.0 does. Returns how many were deleted.
    pub fn delete_ids(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.delete_one(id) {
                if id == self.first_id {
                    first_entry = true;
                }
                if id > self.max_deleted_entry_id {
                    self.max_deleted_entry_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.edge_id(true).unwrap_or(StreamId::MAX);
            }
        }
        deleted
    }

    /// Trim (`streamTrim`): whole nodes while they can go entirely, then (exact mode) the
    /// entries of the next node that must go. Returns the number of entries removed.
    pub fn trim(&mut self, args: TrimArgs) -> u64 {
        let mut deleted: u64 = 0;
        loop {
            if let TrimStrategy::MaxLen(max) = args.strategy {
                if self.length <= max {
                    break;
                }
            }
            let Some(mut node) = self.blocks.first_entry() else {
                break;
            };
            let master = *node.key();
            let entries = node.get().live as u64;
            if args.limit != 0 && deleted + entries > args.limit {
                break;
            }
            let remove_node = match args.strategy {
                TrimStrategy::MaxLen(max) => self.length - entries >= max,
                TrimStrategy::MinId(min) => node.get().last_stored_id(master) < min,
            };
            if remove_node {
                node.remove();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if args.approx {
                break;
            }
            let block = node.get_mut();
            for p in block.positions(master) {
                let stop = match args.strategy {
                    TrimStrategy::MaxLen(max) => self.length <= max,
                    TrimStrategy::MinId(min) => p.id >= min,
                };
                if stop {
                    break;
                }
                if p.flags & block::FLAG_DELETED == 0 {
                    block.mark_deleted(&p);
                    self.length -= 1;
                    deleted += 1;
                }
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else {
            self.first_id = self.edge_id(true).unwrap_or(StreamId::MAX);
        }
        deleted
    }

    /// True when a deleted entry may lie in `[start, end]` (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted_entry_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_entry_id {
            return false;
        }
        let start = start.unwrap_or(StreamId::MIN);
        let end = end.unwrap_or(StreamId::MAX);
        start <= self.max_deleted_entry_id && self.max_deleted_entry_id <= end
    }

    /// The logical read counter of `id`, its distance from the first entry ever added
    /// (`streamEstimateDistanceFromFirstEverEntry`), or [`SCG_INVALID_ENTRIES_READ`] when
    /// it cannot be known.
    pub fn estimate_distance_from_first_ever_entry(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        }
        if id > self.last_id {
            return SCG_INVALID_ENTRIES_READ;
        }
        if self.max_deleted_entry_id.is_zero() || self.max_deleted_entry_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            }
            if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        SCG_INVALID_ENTRIES_READ
    }

    /// A group's lag (`streamReplyWithCGLag`): None when it cannot be computed.
    pub fn group_lag(&self, group: &ConsumerGroup) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if group.entries_read != SCG_INVALID_ENTRIES_READ
            && !self.range_has_tombstones(Some(group.last_id), None)
        {
            return Some(self.entries_added as i64 - group.entries_read);
        }
        let read = self.estimate_distance_from_first_ever_entry(group.last_id);
        if read != SCG_INVALID_ENTRIES_READ {
            Some(self.entries_added as i64 - read)
        } else {
            None
        }
    }

    /// Move a group's last delivered ID forward to `id` after delivering it with `>`,
    /// keeping its entries-read counter as Redis 7.0 does. No-op when `id` is not past
    /// the group's last ID.
    pub fn advance_group(&mut self, group: &[u8], id: StreamId) -> bool {
        let has_tomb = self.range_has_tombstones(Some(id), None);
        let estimate = self.estimate_distance_from_first_ever_entry(id);
        let added = self.entries_added;
        let Some(g) = self.groups.get_mut(group) else {
            return false;
        };
        if id <= g.last_id {
            return false;
        }
        if g.entries_read != SCG_INVALID_ENTRIES_READ && !has_tomb {
            g.entries_read += 1;
        } else if added != 0 {
            g.entries_read = estimate;
        }
        g.last_id = id;
        true
    }

    /// XGROUP CREATE's data step: false when the group exists. `entries_read` is
    /// ENTRIESREAD's value, [`SCG_INVALID_ENTRIES_READ`] when not given (as Redis 7.0).
    pub fn create_group(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.groups
            .insert(name.to_vec(), ConsumerGroup::new(last_id, entries_read));
        true
    }

    /// XGROUP SETID's data step: false when the group does not exist.
    pub fn set_group_id(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        match self.groups.get_mut(name) {
            Some(g) => {
                g.last_id = last_id;
                g.entries_read = entries_read;
                true
            }
            None => false,
        }
    }

    /// XGROUP DESTROY's data step.
    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        self.groups.remove(name).is_some()
    }

    /// A group by name.
    pub fn group(&self, name: &[u8]) -> Option<&ConsumerGroup> {
        self.groups.get(name)
    }

    /// A group by name, for changes.
    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut ConsumerGroup> {
        self.groups.get_mut(name)
    }
}

/// Nodes of the canonical rax holding `keys` (sorted, equal length, sharing their first
/// `depth` bytes) below a node that starts at `depth`.
fn rax_count(keys: &[[u8; 16]], depth: usize) -> u64 {
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
        return 1;
    };
    if keys.len() == 1 {
        // A compressed node for the rest of the key (if any), then the key's leaf.
        return if depth >= 16 { 1 } else { 2 };
    }
    let lcp = (depth..16).take_while(|&i| first[i] == last[i]).count() + depth;
    if lcp > depth {
        // A compressed node up to where the keys part, then the branching node.
        return 1 + rax_count(keys, lcp);
    }
    let mut n = 1;
    let mut start = 0;
    while start < keys.len() {
        let b = keys[start][depth];
        let end = start + keys[start..].iter().take_while(|k| k[depth] == b).count();
        n += rax_count(&keys[start..end], depth + 1);
        start = end;
    }
    n
}

/// Iterator over a stream's live entries between two IDs.
pub struct Range<'a> {
    blocks: std::collections::btree_map::Range<'a, StreamId, Block>,
    start: StreamId,
    end: StreamId,
    rev: bool,
    cur: Option<&'a Block>,
    /// Positions still to yield from `cur`, in yield order reversed (popped from the end).
    pos: Vec<EntryPos>,
}

impl<'a> Range<'a> {
    fn load_next_block(&mut self) -> bool {
        let next = if self.rev {
            self.blocks.next_back()
        } else {
            self.blocks.next()
        };
        let Some((&master, block)) = next else {
            return false;
        };
        let (start, end) = (self.start, self.end);
        let mut pos: Vec<EntryPos> = block
            .positions(master)
            .into_iter()
            .filter(|p| p.flags & block::FLAG_DELETED == 0 && p.id >= start && p.id <= end)
            .collect();
        if !self.rev {
            pos.reverse();
        }
        self.pos = pos;
        self.cur = Some(block);
        true
    }
}

impl<'a> Iterator for Range<'a> {
    type Item = StreamEntry<'a>;

    fn next(&mut self) -> Option<StreamEntry<'a>> {
        loop {
            if let (Some(p), Some(block)) = (self.pos.pop(), self.cur) {
                return Some(StreamEntry {
                    id: p.id,
                    fields: block.fields(&p),
                });
            }
            if !self.load_next_block() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
