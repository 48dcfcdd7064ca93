//! Set values. PLACEHOLDER representation (a hash set of byte vectors) until the set family
//! lands with Redis's encodings; the public API below is what the rest of the server uses.

/// Encoding thresholds read from the config (`set-max-intset-entries`).
#[derive(Clone, Copy, Debug)]
pub struct SetLimits {
    /// `set-max-intset-entries`.
    pub max_intset_entries: usize,
}

/// A set.
#[derive(Clone, Debug, Default)]
pub struct SetValue {
    members: Box<hashbrown::HashSet<Vec<u8>>>,
}

impl SetValue {
    /// An empty set.
    pub fn new() -> SetValue {
        SetValue::default()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when empty (an empty set is deleted from the keyspace).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// True when `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        self.members.contains(member)
    }

    /// Add `member`; true when it was not there.
    pub fn insert(&mut self, member: &[u8], _limits: SetLimits) -> bool {
        self.members.insert(member.to_vec())
    }

    /// Remove `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        self.members.remove(member)
    }

    /// Call `f` with every member (in the encoding's order).
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        self.members.iter().for_each(|m| f(m));
    }

    /// Redis's encoding name (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }

    /// Heap bytes held (MEMORY USAGE, INFO memory).
    pub fn heap_size(&self) -> usize {
        self.members.capacity() * 32 + self.members.iter().map(|m| m.capacity()).sum::<usize>()
    }
}
