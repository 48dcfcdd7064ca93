//! List values. PLACEHOLDER representation (a deque of byte vectors) until the list family
//! lands with Redis's encodings; the public API below is what the rest of the server uses.

use std::collections::VecDeque;

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head (LPUSH / LPOP side).
    Left,
    /// The tail (RPUSH / RPOP side).
    Right,
}

/// Encoding thresholds read from the config (`list-max-listpack-size`).
#[derive(Clone, Copy, Debug)]
pub struct ListLimits {
    /// `list-max-listpack-size`: positive = entries per node, -1..-5 = 4..64 KiB per node.
    pub max_listpack_size: i64,
}

/// A list.
#[derive(Clone, Debug, Default)]
pub struct ListValue {
    items: VecDeque<Vec<u8>>,
}

impl ListValue {
    /// An empty list.
    pub fn new() -> ListValue {
        ListValue::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty (an empty list is deleted from the keyspace).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Add `item` at `end`.
    pub fn push(&mut self, end: End, item: &[u8], _limits: ListLimits) {
        match end {
            End::Left => self.items.push_front(item.to_vec()),
            End::Right => self.items.push_back(item.to_vec()),
        }
    }

    /// Remove and return the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }
    }

    /// Call `f` with every element, head to tail.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        self.items.iter().for_each(|i| f(i));
    }

    /// Redis's encoding name (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Heap bytes held (MEMORY USAGE, INFO memory).
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * 24 + self.items.iter().map(|i| i.capacity()).sum::<usize>()
    }
}
