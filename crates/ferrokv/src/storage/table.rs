//! The key table of one shard: a hashbrown table of pointers to nodes, each node holding
//! the key and its entry in ONE allocation (keys up to 16 bytes and strings up to 38 bytes
//! live inside the node). A slot costs 8 bytes plus one control byte, so a small string key
//! costs about one allocation plus ~14 bytes of table.
//!
//! The API mirrors the subset of `HashMap<Box<[u8]>, Entry>` the server uses.

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry as TableEntry, HashTable};
use smallvec::SmallVec;

use super::shard::Entry;

/// Keys up to this many bytes are stored inside the node.
pub const INLINE_KEY: usize = 16;

/// A key as stored in a node.
pub type KeyBuf = SmallVec<[u8; INLINE_KEY]>;

/// One key and its entry, allocated together.
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
    table: HashTable<Box<Node>>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTable")
            .field("len", &self.table.len())
            .finish()
    }
}

impl KeyTable {
    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Number of slots (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// The entry under `key`.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        let h = self.hash(key);
        self.table
            .find(h, |n| n.key.as_slice() == key)
            .map(|n| &n.entry)
    }

    /// The entry under `key`, mutably.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let h = self.hash(key);
        self.table
            .find_mut(h, |n| n.key.as_slice() == key)
            .map(|n| &mut n.entry)
    }

    /// True when `key` is present.
    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Insert or replace; returns the previous entry.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        let h = self.hash(key);
        let hasher = &self.hasher;
        match self.table.entry(
            h,
            |n| n.key.as_slice() == key,
            |n| hasher.hash_one(n.key.as_slice()),
        ) {
            TableEntry::Occupied(mut o) => Some(std::mem::replace(&mut o.get_mut().entry, entry)),
            TableEntry::Vacant(v) => {
                v.insert(Box::new(Node {
                    entry,
                    key: KeyBuf::from_slice(key),
                }));
                None
            }
        }
    }

    /// Remove `key`; returns its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.remove_node(key).map(|n| n.entry)
    }

    /// Remove `key`; returns its node (key and entry).
    pub fn remove_node(&mut self, key: &[u8]) -> Option<Box<Node>> {
        let h = self.hash(key);
        match self.table.find_entry(h, |n| n.key.as_slice() == key) {
            Ok(o) => Some(o.remove().0),
            Err(_) => None,
        }
    }

    /// Remove everything.
    pub fn clear(&mut self) {
        self.table.clear();
    }

    /// Every (key, entry).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.table.iter().map(|n| (n.key.as_slice(), &n.entry))
    }

    /// Every (key, entry), entries mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&[u8], &mut Entry)> {
        self.table.iter_mut().map(|n| {
            let n = &mut **n;
            (n.key.as_slice(), &mut n.entry)
        })
    }

    /// Every key.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.table.iter().map(|n| n.key.as_slice())
    }

    /// Keep only the entries for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&[u8], &mut Entry) -> bool) {
        self.table.retain(|n| {
            let n = &mut **n;
            f(n.key.as_slice(), &mut n.entry)
        });
    }

    /// Remove and return every node.
    pub fn drain(&mut self) -> impl Iterator<Item = Box<Node>> + '_ {
        self.table.drain()
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
    }

    #[test]
    fn node_fits_allocator_class() {
        // One node per small key: keep it within an 80-byte allocation class.
        assert!(
            std::mem::size_of::<Node>() <= 80,
            "{}",
            std::mem::size_of::<Node>()
        );
    }
}
