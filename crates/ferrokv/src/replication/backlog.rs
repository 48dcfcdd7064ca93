//! The replication backlog: the last `repl-backlog-size` bytes of the replication stream,
//! so a replica that lost its link can continue (PSYNC ... +CONTINUE) with only the bytes
//! it missed instead of a full sync.

use std::collections::VecDeque;

/// A ring of the most recent stream bytes.
#[derive(Debug)]
pub struct Backlog {
    buf: VecDeque<u8>,
    size: usize,
    /// Stream offset of the last byte held (the primary's `master_repl_offset`).
    end: u64,
}

impl Backlog {
    /// An empty backlog of `size` bytes whose next byte will have offset `end + 1`.
    pub fn new(size: usize, end: u64) -> Backlog {
        Backlog {
            buf: VecDeque::new(),
            size: size.max(1),
            end,
        }
    }

    /// Append stream bytes, dropping the oldest beyond the size.
    pub fn push(&mut self, data: &[u8]) {
        self.end += data.len() as u64;
        if data.len() >= self.size {
            self.buf.clear();
            let tail = data.get(data.len() - self.size..).unwrap_or(data);
            self.buf.extend(tail);
            return;
        }
        let over = (self.buf.len() + data.len()).saturating_sub(self.size);
        self.buf.drain(..over);
        self.buf.extend(data);
    }

    /// Change the size (CONFIG SET repl-backlog-size), keeping the newest bytes.
    pub fn resize(&mut self, size: usize) {
        self.size = size.max(1);
        let over = self.buf.len().saturating_sub(self.size);
        self.buf.drain(..over);
    }

    /// The configured size.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Bytes held (INFO `repl_backlog_histlen`).
    pub fn histlen(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Offset of the oldest byte held (INFO `repl_backlog_first_byte_offset`).
    pub fn first_byte_offset(&self) -> u64 {
        self.end + 1 - self.histlen()
    }

    /// The bytes from stream offset `from` (the first byte a replica wants: its offset
    /// plus one) to the end, or None when they are no longer (or not yet) held.
    pub fn since(&self, from: u64) -> Option<Vec<u8>> {
        if from < self.first_byte_offset() || from > self.end + 1 {
            return None;
        }
        let skip = (from - self.first_byte_offset()) as usize;
        Some(self.buf.iter().skip(skip).copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bytes_and_answers_ranges() {
        let mut b = Backlog::new(8, 100);
        assert_eq!(b.first_byte_offset(), 101);
        assert_eq!(b.since(101), Some(vec![]));
        b.push(b"abcdef");
        assert_eq!(b.since(103), Some(b"cdef".to_vec()));
        b.push(b"ghij");
        // 10 bytes pushed into 8: offsets 103..=110 remain.
        assert_eq!(b.histlen(), 8);
        assert_eq!(b.first_byte_offset(), 103);
        assert_eq!(b.since(102), None);
        assert_eq!(b.since(109), Some(b"ij".to_vec()));
        assert_eq!(b.since(111), Some(vec![]));
        assert_eq!(b.since(112), None);
        b.push(b"0123456789");
        assert_eq!(b.since(113), Some(b"23456789".to_vec()));
        b.resize(3);
        assert_eq!(b.since(118), Some(b"789".to_vec()));
        assert_eq!(b.since(117), None);
    }
}
