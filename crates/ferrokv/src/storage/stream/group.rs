//! Consumer groups as data: the group's last delivered ID and read counter, its pending
//! entries list (PEL) and its consumers, each with its own PEL of IDs. Redis shares one
//! NACK between the group's and the consumer's PEL; here the group's PEL holds the NACK
//! (owner name, delivery time and count) and a consumer's PEL the IDs it owns.

use std::collections::{BTreeMap, BTreeSet};

use super::StreamId;

/// Redis's `SCG_INVALID_ENTRIES_READ`: the group's read counter is unknown.
pub const SCG_INVALID_ENTRIES_READ: i64 = -1;

/// A pending (delivered, not acknowledged) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    /// The consumer that owns it.
    pub consumer: Vec<u8>,
    /// Last delivery, in Unix ms.
    pub delivery_time: i64,
    /// Times delivered.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Last time it was seen (read, claimed), in Unix ms.
    pub seen_time: i64,
    /// IDs it owns in the group's PEL.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerGroup {
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Logical read counter ([`SCG_INVALID_ENTRIES_READ`] when unknown).
    pub entries_read: i64,
    /// Pending entries by ID.
    pub pel: BTreeMap<StreamId, PendingEntry>,
    /// Consumers by name (byte order, as Redis's rax).
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl ConsumerGroup {
    /// A group without consumers.
    pub fn new(last_id: StreamId, entries_read: i64) -> ConsumerGroup {
        ConsumerGroup {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        let pel: usize = self.pel.values().map(|p| 64 + p.consumer.capacity()).sum();
        let consumers: usize = self
            .consumers
            .iter()
            .map(|(k, c)| 64 + k.capacity() + c.pel.len() * 24)
            .sum();
        std::mem::size_of::<ConsumerGroup>() + pel + consumers
    }

    /// Create a consumer (XGROUP CREATECONSUMER, or implicitly by XREADGROUP/XCLAIM);
    /// false when it exists.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.to_vec(),
            Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// The consumer, created when missing (`streamLookupConsumer` + create), with its
    /// seen time set to `now_ms`. Returns whether it was created.
    pub fn touch_consumer(&mut self, name: &[u8], now_ms: i64) -> bool {
        match self.consumers.get_mut(name) {
            Some(c) => {
                c.seen_time = now_ms;
                false
            }
            None => self.create_consumer(name, now_ms),
        }
    }

    /// Delete a consumer and its pending entries (XGROUP DELCONSUMER); None when it did
    /// not exist, else the number of pending entries it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Record a delivery of `id` to `consumer` (XREADGROUP without NOACK): a new NACK
    /// with count 1, or an existing one moved to this consumer with its time set and its
    /// count reset to 1, as Redis does. The consumer must exist (it is created if not).
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now_ms: i64) {
        if let Some(old) = self.pel.get(&id) {
            let owner = old.consumer.clone();
            if let Some(c) = self.consumers.get_mut(&owner) {
                c.pel.remove(&id);
            }
        }
        self.pel.insert(
            id,
            PendingEntry {
                consumer: consumer.to_vec(),
                delivery_time: now_ms,
                delivery_count: 1,
            },
        );
        self.consumers
            .entry(consumer.to_vec())
            .or_insert_with(|| Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            })
            .pel
            .insert(id);
    }

    /// Re-delivery of a pending entry from the consumer's own history (XREADGROUP with an
    /// ID): update its delivery time and count.
    pub fn redeliver(&mut self, id: StreamId, now_ms: i64) {
        if let Some(p) = self.pel.get_mut(&id) {
            p.delivery_time = now_ms;
            p.delivery_count += 1;
        }
    }

    /// XACK one ID: true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(&p.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Give a pending entry to `consumer` (XCLAIM/XAUTOCLAIM), creating the NACK when
    /// missing (XCLAIM FORCE), with the given delivery time and count. The consumer is
    /// created when missing.
    pub fn claim(
        &mut self,
        id: StreamId,
        consumer: &[u8],
        delivery_time: i64,
        delivery_count: u64,
        now_ms: i64,
    ) {
        if let Some(old) = self.pel.get(&id) {
            let owner = old.consumer.clone();
            if let Some(c) = self.consumers.get_mut(&owner) {
                c.pel.remove(&id);
            }
        }
        self.pel.insert(
            id,
            PendingEntry {
                consumer: consumer.to_vec(),
                delivery_time,
                delivery_count,
            },
        );
        self.consumers
            .entry(consumer.to_vec())
            .or_insert_with(|| Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            })
            .pel
            .insert(id);
    }

    /// Remove a pending entry whatever its owner (XCLAIM/XAUTOCLAIM of a deleted entry).
    pub fn drop_pending(&mut self, id: StreamId) -> bool {
        self.ack(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliver_ack_claim_keep_both_pels_in_step() {
        let mut g = ConsumerGroup::new(StreamId::MIN, 0);
        assert!(g.create_consumer(b"a", 1));
        assert!(!g.create_consumer(b"a", 1));
        let id = StreamId::new(1, 0);
        g.deliver(id, b"a", 10);
        g.deliver(StreamId::new(2, 0), b"b", 10);
        assert_eq!(g.consumers[&b"b"[..]].pel.len(), 1);
        g.claim(id, b"b", 20, 3, 20);
        assert!(g.consumers[&b"a"[..]].pel.is_empty());
        assert_eq!(g.consumers[&b"b"[..]].pel.len(), 2);
        assert_eq!(g.pel[&id].delivery_count, 3);
        g.redeliver(id, 30);
        assert_eq!(g.pel[&id].delivery_count, 4);
        assert!(g.ack(id));
        assert!(!g.ack(id));
        assert_eq!(g.delete_consumer(b"b"), Some(1));
        assert!(g.pel.is_empty());
        assert_eq!(g.delete_consumer(b"b"), None);
    }
}
