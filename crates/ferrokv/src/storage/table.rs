//! The key table of one shard. Entries live in a slab of fixed-size chunks (no allocation
//! per key, no allocator rounding), and the hash index holds 4-byte slab positions (plus
//! hashbrown's control byte). With keys up to 15 bytes and strings up to 38 bytes stored
//! inline, a small string key costs its 72-byte node plus ~7-10 bytes of index.
//!
//! The API mirrors the subset of `HashMap<Box<[u8]>, Entry>` the server uses.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::key::KeyBuf;
use super::shard::Entry;

/// Nodes per slab chunk: chunks are allocated whole, so a shard's waste is at most one
/// partly used chunk (plus freed slots, which are reused first). 56 nodes of 72 bytes fill
/// a 4 KiB allocation (jemalloc's next class after 4096 is 5120: 64 nodes would waste 10%).
const CHUNK: usize = 56;

/// One key and its entry.
#[derive(Debug, Clone)]
pub struct Node {
    /// The entry (value and deadline).
    pub entry: Entry,
    /// The key bytes.
    pub key: KeyBuf,
}

/// Key -> entry map of one shard.
#[derive(Default)]
pub struct KeyTable {
    /// Slab positions, hashed by key.
    index: HashTable<u32>,
    /// The slab: `CHUNK` slots per chunk; `None` slots are on the free list.
    chunks: Vec<Vec<Option<Node>>>,
    /// Free slab positions.
    free: Vec<u32>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTable")
            .field("len", &self.len())
            .finish()
    }
}

#[inline]
fn slot(chunks: &[Vec<Option<Node>>], pos: u32) -> Option<&Node> {
    let pos = pos as usize;
    chunks.get(pos / CHUNK)?.get(pos % CHUNK)?.as_ref()
}

#[inline]
fn slot_mut(chunks: &mut [Vec<Option<Node>>], pos: u32) -> Option<&mut Node> {
    let pos = pos as usize;
    chunks.get_mut(pos / CHUNK)?.get_mut(pos % CHUNK)?.as_mut()
}

#[inline]
fn key_is(chunks: &[Vec<Option<Node>>], pos: u32, key: &[u8]) -> bool {
    slot(chunks, pos).is_some_and(|n| n.key.as_slice() == key)
}

impl KeyTable {
    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Index slots (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.index.capacity()
    }

    #[inline]
    fn find(&self, key: &[u8]) -> Option<u32> {
        let chunks = &self.chunks;
        self.index
            .find(self.hash(key), |&p| key_is(chunks, p, key))
            .copied()
    }

    /// The entry under `key`.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        let pos = self.find(key)?;
        slot(&self.chunks, pos).map(|n| &n.entry)
    }

    /// The entry under `key`, mutably.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let pos = self.find(key)?;
        slot_mut(&mut self.chunks, pos).map(|n| &mut n.entry)
    }

    /// True when `key` is present.
    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Put a node in a free slab slot; returns its position.
    fn alloc(&mut self, node: Node) -> u32 {
        if let Some(pos) = self.free.pop() {
            if let Some(s) = self
                .chunks
                .get_mut(pos as usize / CHUNK)
                .and_then(|c| c.get_mut(pos as usize % CHUNK))
            {
                *s = Some(node);
                return pos;
            }
        }
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK => {
                c.push(Some(node));
            }
            _ => {
                let mut c = Vec::with_capacity(CHUNK);
                c.push(Some(node));
                self.chunks.push(c);
            }
        }
        let last = self.chunks.last().map_or(0, |c| c.len());
        ((self.chunks.len() - 1) * CHUNK + last - 1) as u32
    }

    /// Insert or replace; returns the previous entry.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        if let Some(e) = self.get_mut(key) {
            return Some(std::mem::replace(e, entry));
        }
        let pos = self.alloc(Node {
            entry,
            key: KeyBuf::from_slice(key),
        });
        let h = self.hash(key);
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.insert_unique(h, pos, |&p| {
            hasher.hash_one(slot(chunks, p).map_or(&[][..], |n| n.key.as_slice()))
        });
        None
    }

    /// Remove `key`; returns its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.remove_node(key).map(|n| n.entry)
    }

    /// Remove `key`; returns its node (key and entry).
    pub fn remove_node(&mut self, key: &[u8]) -> Option<Node> {
        let h = self.hash(key);
        let chunks = &self.chunks;
        let pos = match self.index.find_entry(h, |&p| key_is(chunks, p, key)) {
            Ok(o) => o.remove().0,
            Err(_) => return None,
        };
        let node = self
            .chunks
            .get_mut(pos as usize / CHUNK)
            .and_then(|c| c.get_mut(pos as usize % CHUNK))
            .and_then(Option::take);
        self.free.push(pos);
        if self.index.is_empty() {
            // Give the slab back once the shard is empty.
            self.chunks = Vec::new();
            self.free = Vec::new();
        }
        node
    }

    /// Remove everything.
    pub fn clear(&mut self) {
        self.index = HashTable::new();
        self.chunks = Vec::new();
        self.free = Vec::new();
    }

    /// Every (key, entry).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.chunks
            .iter()
            .flatten()
            .flatten()
            .map(|n| (n.key.as_slice(), &n.entry))
    }

    /// Every (key, entry), entries mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&[u8], &mut Entry)> {
        self.chunks
            .iter_mut()
            .flatten()
            .flatten()
            .map(|n| (n.key.as_slice(), &mut n.entry))
    }

    /// Every key.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.iter().map(|(k, _)| k)
    }

    /// Keep only the entries for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&[u8], &mut Entry) -> bool) {
        let doomed: Vec<Box<[u8]>> = self
            .iter_mut()
            .filter_map(|(k, e)| (!f(k, e)).then(|| k.into()))
            .collect();
        for k in doomed {
            self.remove(&k);
        }
    }

    /// Remove and return every node.
    pub fn drain(&mut self) -> impl Iterator<Item = Node> {
        let chunks = std::mem::take(&mut self.chunks);
        self.clear();
        chunks.into_iter().flatten().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::value::{StrValue, Value};

    fn entry(v: &[u8]) -> Entry {
        Entry::new(Value::Str(StrValue::from_bytes(v)))
    }

    #[test]
    fn insert_get_remove() {
        let mut t = KeyTable::default();
        assert!(t.insert(b"a", entry(b"1")).is_none());
        assert!(t
            .insert(b"a-much-longer-key-than-inline", entry(b"2"))
            .is_none());
        assert!(t.insert(b"a", entry(b"3")).is_some());
        assert_eq!(t.len(), 2);
        assert!(t.contains_key(b"a-much-longer-key-than-inline"));
        assert!(t.remove(b"a").is_some());
        assert!(t.get(b"a").is_none());
        for i in 0..1000u32 {
            t.insert(&i.to_be_bytes(), entry(b"x"));
        }
        assert_eq!(t.len(), 1001);
        assert_eq!(t.iter().count(), 1001);
        t.retain(|k, _| k.len() == 4);
        assert_eq!(t.len(), 1000);
        for i in 0..500u32 {
            assert!(t.remove(&i.to_be_bytes()).is_some());
        }
        // freed slots are reused
        for i in 0..500u32 {
            t.insert(&(i + 5000).to_be_bytes(), entry(b"y"));
        }
        assert_eq!(
            t.chunks.len(),
            1001usize.div_ceil(CHUNK),
            "no new chunk for reused slots"
        );
        assert_eq!(t.len(), 1000);
        for i in 500..1000u32 {
            assert!(t.get(&i.to_be_bytes()).is_some());
        }
        assert_eq!(t.drain().count(), 1000);
        assert!(t.is_empty());
    }

    #[test]
    fn node_is_compact() {
        // A slab slot per key: keep it at 72 bytes (entry 56 + key 16).
        assert!(
            std::mem::size_of::<Option<Node>>() <= 72,
            "{}",
            std::mem::size_of::<Option<Node>>()
        );
    }
}
