//! Sorted set values. PLACEHOLDER representation (a sorted vector) until the sorted-set
//! family lands with Redis's encodings; the public API below is what the rest of the server
//! uses.

/// Encoding thresholds read from the config (`zset-max-listpack-entries/value`).
#[derive(Clone, Copy, Debug)]
pub struct ZSetLimits {
    /// `zset-max-listpack-entries`.
    pub max_entries: usize,
    /// `zset-max-listpack-value`.
    pub max_value: usize,
}

/// A sorted set: members ordered by (score, member bytes).
#[derive(Clone, Debug, Default)]
pub struct ZSetValue {
    items: Vec<(f64, Vec<u8>)>,
}

impl ZSetValue {
    /// An empty sorted set.
    pub fn new() -> ZSetValue {
        ZSetValue::default()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty (an empty sorted set is deleted from the keyspace).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.items
            .iter()
            .find(|(_, m)| m == member)
            .map(|(s, _)| *s)
    }

    /// Add `member` or update its score; true when it was added.
    pub fn insert(&mut self, member: &[u8], score: f64, _limits: ZSetLimits) -> bool {
        let existed = self.remove(member);
        let at = self
            .items
            .partition_point(|(s, m)| (*s, m.as_slice()) < (score, member));
        self.items.insert(at, (score, member.to_vec()));
        !existed
    }

    /// Remove `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.items.iter().position(|(_, m)| m == member) {
            Some(i) => {
                self.items.remove(i);
                true
            }
            None => false,
        }
    }

    /// Remove and return the lowest (`max` false) or highest member with its score.
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        let (s, m) = if max {
            self.items.pop()?
        } else if self.items.is_empty() {
            return None;
        } else {
            self.items.remove(0)
        };
        Some((m, s))
    }

    /// Call `f` with every (member, score), lowest score first.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        self.items.iter().for_each(|(s, m)| f(m, *s));
    }

    /// Redis's encoding name (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        "skiplist"
    }

    /// Heap bytes held (MEMORY USAGE, INFO memory).
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * 32 + self.items.iter().map(|(_, m)| m.capacity()).sum::<usize>()
    }
}
