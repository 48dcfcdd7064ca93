//! List values, kept as Redis 7.0 keeps them: a quicklist, i.e. a sequence of compact nodes.
//!
//! * A node is one contiguous byte buffer of entries (listpack-like): each entry is a header
//!   byte, its payload, and a "back length" so the buffer can be walked from either end.
//!   Canonical integers are stored as integers (0..=127 in the header byte itself, others as
//!   1 to 8 little-endian bytes), so `1`, `42` or `-7` take 2 bytes and a 6-byte string 8.
//! * Nodes hold at most `list-max-listpack-size` entries (positive setting, and at most 8 KiB
//!   as Redis's safety limit) or bytes (-1..-5 = 4..64 KiB). An element larger than the
//!   limit gets a node of its own.
//! * A list of one node keeps that node inline ([`ListValue`] is 32 bytes), so a small list
//!   costs one heap allocation; longer lists keep a boxed deque of nodes plus the total
//!   count, so LLEN is O(1), both ends are O(1) and index lookups skip whole nodes.
//!
//! Buffers grow and shrink by jemalloc size classes, so the capacity reported by
//! [`ListValue::heap_size`] is what the allocator really holds. OBJECT ENCODING is always
//! `quicklist`, as in Redis 7.0 (node layout is not observable otherwise).

use std::collections::VecDeque;

use super::alloc::{grow, shrink, size_class};

/// Head pushes (LPUSH) fill a node only up to this many bytes: room at the head is made
/// by moving the node's bytes (see [`HEAD_GAP`]), and 1 KiB keeps those moves short while
/// the per-node overhead stays ~4%.
const HEAD_PUSH_NODE_BYTES: usize = 1024;

/// Free room kept in front of a node's entries once the node holds this many bytes and
/// gets an entry at its head: the next head pushes write into it without moving the
/// node's bytes (which cost ~100 instructions per LPUSH at 1 KiB nodes). Smaller nodes
/// move their few bytes instead and keep no free room (small lists stay small).
const HEAD_GAP: usize = 128;

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

/// Redis's `SIZE_SAFETY_LIMIT`: nodes limited by entry count stay under this many bytes.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Redis's `FILL_MAX`: larger positive settings are clamped.
const FILL_MAX: i64 = (1 << 15) - 1;

impl ListLimits {
    /// Redis's default (`-2`: 8 KiB nodes).
    pub const DEFAULT: ListLimits = ListLimits {
        max_listpack_size: -2,
    };

    /// (most entries, most bytes) per node, with Redis's clamping of the setting
    /// (`quicklistSetFill`: below -5 means -5, 0 means one entry per node).
    fn node_max(self) -> (usize, usize) {
        let fill = self.max_listpack_size.clamp(-5, FILL_MAX);
        if fill < 0 {
            (usize::MAX, 4096 << (-fill - 1))
        } else {
            (fill.max(1) as usize, SIZE_SAFETY_LIMIT)
        }
    }
}

impl Default for ListLimits {
    fn default() -> Self {
        ListLimits::DEFAULT
    }
}

// ---------------------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------------------

/// Header bytes: `0x00..=0x7F` an integer 0..=127 (no payload); `0x80..=0xBF` a string of
/// 0..=63 bytes; `0xC0..=0xC7` a signed little-endian integer of 1..=8 bytes; `STR_VAR` a
/// string whose LEB128 length follows.
const STR6: u8 = 0x80;
const INT_N: u8 = 0xC0;
const STR_VAR: u8 = 0xE0;

/// One element as stored: bytes, or an integer whose decimal form is the element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    /// A string element.
    Str(&'a [u8]),
    /// An element that is a canonical integer (stored compactly).
    Int(i64),
}

impl Elem<'_> {
    /// Call `f` with the element's bytes (integers formatted on the stack).
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Elem::Str(s) => f(s),
            Elem::Int(n) => f(super::value::itoa_stack(n).as_slice()),
        }
    }

    /// The element's bytes.
    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    /// True when the element equals `needle`.
    pub fn matches(self, needle: &Needle<'_>) -> bool {
        match self {
            Elem::Str(s) => s == needle.bytes,
            Elem::Int(n) => needle.int == Some(n),
        }
    }
}

/// A value to compare elements with (LREM, LPOS, LINSERT), parsed once.
#[derive(Clone, Copy, Debug)]
pub struct Needle<'a> {
    bytes: &'a [u8],
    int: Option<i64>,
}

impl<'a> Needle<'a> {
    /// Prepare `bytes` for comparisons.
    pub fn new(bytes: &'a [u8]) -> Needle<'a> {
        Needle {
            bytes,
            int: as_int(bytes),
        }
    }
}

/// The integer an element is stored as, if it is a canonical integer (Redis's
/// `lpStringToInt64`: no sign `+`, no leading zeros, no spaces, fits in an i64).
fn as_int(item: &[u8]) -> Option<i64> {
    if item.len() <= 20 {
        crate::util::parse_canonical_i64(item)
    } else {
        None
    }
}

/// Bytes of the smallest signed little-endian form of `v`.
fn int_width(v: i64) -> usize {
    (1..8)
        .find(|&w| {
            let bits = 8 * w as u32;
            let lo = -(1i64 << (bits - 1));
            let hi = (1i64 << (bits - 1)) - 1;
            (lo..=hi).contains(&v)
        })
        .unwrap_or(8)
}

/// Bytes of the back length of an entry whose header and payload take `body` bytes.
fn backlen_len(body: usize) -> usize {
    let bits = (usize::BITS - body.leading_zeros()).max(1) as usize;
    bits.div_ceil(7)
}

/// An element encoded for a node: header (with an integer's bytes), payload, back length.
struct Encoded<'a> {
    head: [u8; 12],
    head_len: usize,
    payload: &'a [u8],
    back: [u8; 10],
    back_len: usize,
}

impl<'a> Encoded<'a> {
    #[inline]
    fn new(item: &'a [u8]) -> Encoded<'a> {
        let mut head = [0u8; 12];
        let mut head_len = 1;
        let mut payload: &[u8] = &[];
        match as_int(item) {
            Some(v) if (0..=127).contains(&v) => head[0] = v as u8,
            Some(v) => {
                let w = int_width(v);
                head[0] = INT_N + (w as u8 - 1);
                for (d, s) in head[1..].iter_mut().zip(&v.to_le_bytes()[..w]) {
                    *d = *s;
                }
                head_len += w;
            }
            None if item.len() < 64 => {
                head[0] = STR6 | item.len() as u8;
                payload = item;
            }
            None => {
                head[0] = STR_VAR;
                let mut n = item.len();
                while n >= 0x80 {
                    head[head_len] = (n as u8) | 0x80;
                    head_len += 1;
                    n >>= 7;
                }
                head[head_len] = n as u8;
                head_len += 1;
                payload = item;
            }
        }
        let body = head_len + payload.len();
        let back_len = backlen_len(body);
        let mut back = [0u8; 10];
        for (i, b) in back.iter_mut().take(back_len).enumerate() {
            // Most significant group first; every byte but the first has the high bit set,
            // so a reader walking backwards knows where the back length starts.
            let group = ((body >> (7 * (back_len - 1 - i))) & 0x7f) as u8;
            *b = if i == 0 { group } else { group | 0x80 };
        }
        Encoded {
            head,
            head_len,
            payload,
            back,
            back_len,
        }
    }

    fn len(&self) -> usize {
        self.head_len + self.payload.len() + self.back_len
    }

    /// Write the entry into `dst` (exactly `self.len()` bytes; a shorter `dst` gets nothing).
    fn write(&self, dst: &mut [u8]) {
        let (Some(head), Some(back)) = (
            self.head.get(..self.head_len),
            self.back.get(..self.back_len),
        ) else {
            return;
        };
        let Some((h, rest)) = dst.split_at_mut_checked(head.len()) else {
            return;
        };
        let Some((p, b)) = rest.split_at_mut_checked(self.payload.len()) else {
            return;
        };
        if let Some(b) = b.get_mut(..back.len()) {
            h.copy_from_slice(head);
            p.copy_from_slice(self.payload);
            b.copy_from_slice(back);
        }
    }
}

/// Decode the entry starting at `pos`: the element and the position after the entry.
/// None on a malformed buffer (never written; checked so that a bug cannot panic).
fn decode(buf: &[u8], pos: usize) -> Option<(Elem<'_>, usize)> {
    let h = *buf.get(pos)?;
    let p = pos + 1;
    let (elem, body_end) = match h {
        0x00..=0x7f => (Elem::Int(h as i64), p),
        0x80..=0xbf => {
            let end = p + (h & 0x3f) as usize;
            (Elem::Str(buf.get(p..end)?), end)
        }
        0xc0..=0xc7 => {
            let w = (h - INT_N) as usize + 1;
            let bytes = buf.get(p..p + w)?;
            let mut le = [0u8; 8];
            for (d, s) in le.iter_mut().zip(bytes) {
                *d = *s;
            }
            // Sign-extend from `w` bytes.
            let shift = 64 - 8 * w as u32;
            let v = (i64::from_le_bytes(le) << shift) >> shift;
            (Elem::Int(v), p + w)
        }
        STR_VAR => {
            let (n, start) = read_varint(buf, p)?;
            let end = start.checked_add(n)?;
            (Elem::Str(buf.get(start..end)?), end)
        }
        _ => return None,
    };
    Some((elem, body_end + backlen_len(body_end - pos)))
}

fn read_varint(buf: &[u8], mut pos: usize) -> Option<(usize, usize)> {
    let mut n = 0usize;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(pos)?;
        pos += 1;
        n |= ((b & 0x7f) as usize).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some((n, pos));
        }
        shift += 7;
        if shift >= usize::BITS {
            return None;
        }
    }
}

/// Start of the entry that ends at `end` (read from its back length).
fn prev_start(buf: &[u8], end: usize) -> Option<usize> {
    let mut p = end.checked_sub(1)?;
    let mut body = 0usize;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(p)?;
        body |= ((b & 0x7f) as usize).checked_shl(shift)?;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift >= usize::BITS {
            return None;
        }
        p = p.checked_sub(1)?;
    }
    p.checked_sub(body)
}

/// Byte range of entry `k` of the `count` entries in `data`, walking from the nearer end.
fn entry_range(data: &[u8], count: usize, k: usize) -> Option<(usize, usize)> {
    if k >= count {
        return None;
    }
    if k < count / 2 {
        let mut pos = 0;
        for _ in 0..k {
            pos = decode(data, pos)?.1;
        }
        Some((pos, decode(data, pos)?.1))
    } else {
        let mut end = data.len();
        for _ in 0..count - 1 - k {
            end = prev_start(data, end)?;
        }
        Some((prev_start(data, end)?, end))
    }
}

// ---------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------

/// One node: `count` entries in one buffer, `buf[gap..]`; `buf[..gap]` is free room for
/// head pushes (see [`HEAD_GAP`]) or what head pops left.
#[derive(Clone, Debug, Default)]
struct Node {
    buf: Vec<u8>,
    gap: u32,
    count: u32,
}

impl Node {
    /// The entries.
    fn data(&self) -> &[u8] {
        self.buf.get(self.gap as usize..).unwrap_or_default()
    }

    /// Bytes of the entries.
    fn bytes(&self) -> usize {
        self.buf.len() - self.gap as usize
    }

    /// Drop the free room in front of the entries (before edits that work on `buf` as a
    /// whole), giving memory back.
    fn compact(&mut self) {
        if self.gap > 0 {
            self.buf.drain(..self.gap as usize);
            self.gap = 0;
            shrink(&mut self.buf);
        }
    }

    /// Make sure `n` bytes are free in front of the entries, for a node big enough to
    /// keep a gap. False for small nodes (they insert by moving their bytes).
    fn reserve_head(&mut self, n: usize) -> bool {
        if self.gap as usize >= n {
            return true;
        }
        if self.bytes() < 2 * HEAD_GAP {
            return false;
        }
        let add = n.max(HEAD_GAP);
        let len = self.buf.len();
        grow(&mut self.buf, add);
        self.buf.resize(len + add, 0);
        self.buf.copy_within(..len, add);
        self.gap += add as u32;
        true
    }

    /// Whether one more entry of `size` bytes may go into this node.
    fn allows(&self, size: usize, limits: ListLimits) -> bool {
        let (max_n, max_b) = limits.node_max();
        (self.count as usize) < max_n && self.bytes() + size <= max_b
    }

    /// Whether one more entry may go in at the head. Inserting at the head moves every
    /// byte of the node, so head pushes stop filling a node at HEAD_PUSH_NODE_BYTES (a
    /// list built by LPUSH gets smaller nodes; replies and encodings are the same).
    fn allows_at_head(&self, size: usize, limits: ListLimits) -> bool {
        self.allows(size, limits) && self.bytes() + size <= HEAD_PUSH_NODE_BYTES
    }

    /// Whether the node is over the limits (a single entry never is: it has to go somewhere).
    fn oversized(&self, limits: ListLimits) -> bool {
        let (max_n, max_b) = limits.node_max();
        self.count > 1 && (self.count as usize > max_n || self.bytes() > max_b)
    }

    /// Byte range of entry `k`, walking from the nearer end.
    fn entry_range(&self, k: usize) -> Option<(usize, usize)> {
        entry_range(self.data(), self.count as usize, k)
    }

    fn get(&self, k: usize) -> Option<Elem<'_>> {
        let (start, _) = self.entry_range(k)?;
        decode(self.data(), start).map(|(e, _)| e)
    }

    /// Insert an encoded entry at byte position `at` (an entry boundary).
    fn insert(&mut self, at: usize, enc: &Encoded<'_>) {
        let n = enc.len();
        let at = at.min(self.bytes());
        if at == 0 && self.reserve_head(n) {
            self.gap -= n as u32;
            let start = self.gap as usize;
            if let Some(dst) = self.buf.get_mut(start..start + n) {
                enc.write(dst);
            }
            self.count += 1;
            return;
        }
        // Positions in `buf` from here on.
        let at = at + self.gap as usize;
        let old = self.buf.len();
        grow(&mut self.buf, n);
        // Room for the entry: the bytes after `at` are copied up (no zeroing first).
        if old - at >= n {
            self.buf.extend_from_within(old - n..old);
            self.buf.copy_within(at..old - n, at + n);
        } else {
            self.buf.resize(old + n, 0);
            self.buf.copy_within(at..old, at + n);
        }
        if let Some(dst) = self.buf.get_mut(at..at + n) {
            enc.write(dst);
        }
        self.count += 1;
    }

    /// Remove the bytes `start..end`, which hold `entries` whole entries.
    fn remove(&mut self, start: usize, end: usize, entries: usize) {
        if start >= end || end > self.bytes() {
            return;
        }
        self.count = self.count.saturating_sub(entries as u32);
        if start == 0 {
            // From the head: the removed bytes join the free room, nothing moves (until
            // the room outgrows the entries).
            self.gap += end as u32;
            if self.gap as usize > HEAD_GAP.max(self.bytes()) {
                self.compact();
            }
            return;
        }
        let gap = self.gap as usize;
        self.buf.drain(gap + start..gap + end);
        shrink(&mut self.buf);
    }

    /// Remove every byte range of `ranges` (sorted, disjoint, one entry each) in one pass.
    fn remove_ranges(&mut self, ranges: &[(usize, usize)]) {
        self.compact();
        let mut write = match ranges.first() {
            Some(&(s, _)) => s,
            None => return,
        };
        for (i, &(_, end)) in ranges.iter().enumerate() {
            let next = ranges.get(i + 1).map_or(self.bytes(), |r| r.0);
            if end <= next && next <= self.bytes() {
                self.buf.copy_within(end..next, write);
                write += next - end;
            }
        }
        self.buf.truncate(write);
        self.count = self.count.saturating_sub(ranges.len() as u32);
        shrink(&mut self.buf);
    }

    /// Replace entry `k` with `enc`.
    fn replace(&mut self, k: usize, enc: &Encoded<'_>) -> bool {
        let Some((start, end)) = self.entry_range(k) else {
            return false;
        };
        self.remove(start, end, 1);
        self.insert(start, enc);
        true
    }

    /// Remove and return the element at `end`.
    fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let (start, stop) = match end {
            End::Left => (0, decode(self.data(), 0)?.1),
            End::Right => (prev_start(self.data(), self.bytes())?, self.bytes()),
        };
        let value = decode(self.data(), start)?.0.to_vec();
        self.remove(start, stop, 1);
        Some(value)
    }

    /// Split off entries `k..` into a new node.
    fn split_off(&mut self, k: usize) -> Node {
        let Some((at, _)) = self.entry_range(k) else {
            return Node::default();
        };
        self.compact();
        let moved_bytes = self.buf.get(at..).unwrap_or_default();
        let mut tail = Vec::with_capacity(size_class(moved_bytes.len()));
        tail.extend_from_slice(moved_bytes);
        self.buf.truncate(at);
        shrink(&mut self.buf);
        let moved = self.count.saturating_sub(k as u32);
        self.count = k as u32;
        Node {
            buf: tail,
            gap: 0,
            count: moved,
        }
    }

    /// Append `other`'s entries.
    fn append(&mut self, other: &Node) {
        self.compact();
        grow(&mut self.buf, other.bytes());
        self.buf.extend_from_slice(other.data());
        self.count += other.count;
    }

    /// Entry index at which to split an oversized node: about half of its bytes (and
    /// entries) on each side, at least one entry on each side.
    fn split_point(&self, limits: ListLimits) -> usize {
        let (max_n, _) = limits.node_max();
        let count = self.count as usize;
        let half_bytes = self.bytes() / 2;
        let mut pos = 0;
        let mut k = 0;
        while k + 1 < count && pos < half_bytes && k < max_n {
            match decode(self.data(), pos) {
                Some((_, next)) => pos = next,
                None => break,
            }
            k += 1;
        }
        k.clamp(1, count.saturating_sub(1).max(1))
    }
}

// ---------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------

/// A list (see the module documentation).
#[derive(Clone, Debug)]
pub struct ListValue {
    repr: Repr,
}

/// The 0-based position of a Redis list index in a list of `len` elements (negative
/// indexes count from the tail), if in range.
fn position_of_index(index: i64, len: usize) -> Option<usize> {
    let len = len as u64;
    if index >= 0 {
        ((index as u64) < len).then_some(index as usize)
    } else {
        // -1 is the last element: !index == -index - 1, without overflow at i64::MIN.
        let back = !index as u64;
        (back < len).then(|| (len - 1 - back) as usize)
    }
}

#[derive(Clone, Debug)]
enum Repr {
    /// Zero or one node, inline (an empty list has an empty node without allocation).
    Single(Node),
    /// Two nodes or more.
    Multi(Box<Multi>),
}

#[derive(Clone, Debug, Default)]
struct Multi {
    nodes: VecDeque<Node>,
    /// Total number of entries.
    len: usize,
}

impl Default for ListValue {
    fn default() -> Self {
        ListValue {
            repr: Repr::Single(Node::default()),
        }
    }
}

impl ListValue {
    /// An empty list, as a constant.
    pub const EMPTY: ListValue = ListValue {
        repr: Repr::Single(Node {
            buf: Vec::new(),
            gap: 0,
            count: 0,
        }),
    };

    /// An empty list.
    pub fn new() -> ListValue {
        ListValue::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Single(n) => n.count as usize,
            Repr::Multi(m) => m.len,
        }
    }

    /// True when empty (an empty list is deleted from the keyspace).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's encoding name (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Heap bytes held (MEMORY USAGE, INFO memory).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Single(n) => n.buf.capacity(),
            Repr::Multi(m) => {
                std::mem::size_of::<Multi>()
                    + m.nodes.capacity() * std::mem::size_of::<Node>()
                    + m.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
            }
        }
    }

    /// The entries of a list small enough to be packed into its key's record: one node
    /// (or none) of at most [`PACKED_MAX`] entries and bytes. None for larger lists.
    #[inline]
    pub fn packed(&self) -> Option<Packed<'_>> {
        match &self.repr {
            Repr::Single(n) if n.count as usize <= PACKED_MAX && n.bytes() <= PACKED_MAX => {
                Some(Packed {
                    data: n.data(),
                    count: n.count as usize,
                })
            }
            _ => None,
        }
    }

    /// Make this list the packed list `p`, reusing this list's buffer when it is one node
    /// (a table decodes every edited small list into the same `ListValue`), with room for
    /// `extra` more bytes.
    pub fn load_packed(&mut self, p: Packed<'_>, extra: usize) {
        match &mut self.repr {
            Repr::Single(n) => {
                n.buf.clear();
                n.gap = 0;
                n.count = p.count as u32;
                grow(&mut n.buf, p.data.len() + extra);
                n.buf.extend_from_slice(p.data);
            }
            Repr::Multi(_) => *self = p.to_list_with_room(extra),
        }
    }

    /// A read view of this list.
    #[inline]
    pub fn as_list_ref(&self) -> ListRef<'_> {
        ListRef::Value(self)
    }

    /// Number of nodes (for tests and DEBUG-style introspection).
    pub fn node_count(&self) -> usize {
        match &self.repr {
            Repr::Single(n) => (n.count > 0) as usize,
            Repr::Multi(m) => m.nodes.len(),
        }
    }

    fn node(&self, i: usize) -> Option<&Node> {
        match &self.repr {
            Repr::Single(n) => (i == 0 && n.count > 0).then_some(n),
            Repr::Multi(m) => m.nodes.get(i),
        }
    }

    /// Run `f` on node `i`, keeping the total count right.
    fn with_node<R>(&mut self, i: usize, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        match &mut self.repr {
            Repr::Single(n) => (i == 0).then(|| f(n)),
            Repr::Multi(m) => {
                let n = m.nodes.get_mut(i)?;
                let before = n.count as usize;
                let r = f(n);
                m.len = (m.len + n.count as usize).saturating_sub(before);
                Some(r)
            }
        }
    }

    /// Insert `node` (non-empty) at node position `i`, going multi-node if needed.
    fn insert_node(&mut self, i: usize, node: Node) {
        match &mut self.repr {
            Repr::Single(n) if n.count == 0 => *n = node,
            Repr::Single(n) => {
                let old = std::mem::take(n);
                let len = old.count as usize + node.count as usize;
                let mut nodes = VecDeque::with_capacity(4);
                nodes.push_back(old);
                nodes.insert(i.min(1), node);
                self.repr = Repr::Multi(Box::new(Multi { nodes, len }));
            }
            Repr::Multi(m) => {
                m.len += node.count as usize;
                let at = i.min(m.nodes.len());
                m.nodes.insert(at, node);
            }
        }
    }

    /// Remove node `i`, going back to a single inline node when one is left.
    fn remove_node(&mut self, i: usize) {
        match &mut self.repr {
            Repr::Single(n) => {
                if i == 0 {
                    *n = Node::default();
                }
            }
            Repr::Multi(m) => {
                if let Some(n) = m.nodes.remove(i) {
                    m.len = m.len.saturating_sub(n.count as usize);
                }
                if m.nodes.len() <= 1 {
                    let last = m.nodes.pop_front().unwrap_or_default();
                    self.repr = Repr::Single(last);
                }
            }
        }
    }

    /// Node and entry-in-node of element `idx` (0-based from the head), walking whole
    /// nodes from the nearer end.
    fn locate(&self, idx: usize) -> Option<(usize, usize)> {
        let len = self.len();
        if idx >= len {
            return None;
        }
        let nodes = self.node_count();
        if idx < len / 2 {
            let mut rest = idx;
            for i in 0..nodes {
                let c = self.node(i)?.count as usize;
                if rest < c {
                    return Some((i, rest));
                }
                rest -= c;
            }
        } else {
            let mut rest = len - 1 - idx;
            for i in (0..nodes).rev() {
                let c = self.node(i)?.count as usize;
                if rest < c {
                    return Some((i, c - 1 - rest));
                }
                rest -= c;
            }
        }
        None
    }

    /// The 0-based position of a Redis index (negative counts from the tail), if in range.
    pub fn index(&self, index: i64) -> Option<usize> {
        position_of_index(index, self.len())
    }

    /// Add `item` at `end`.
    pub fn push(&mut self, end: End, item: &[u8], limits: ListLimits) {
        let enc = Encoded::new(item);
        let nodes = self.node_count();
        if nodes > 0 {
            let i = if end == End::Left { 0 } else { nodes - 1 };
            let fits = self.node(i).is_some_and(|n| match end {
                End::Left => n.allows_at_head(enc.len(), limits),
                End::Right => n.allows(enc.len(), limits),
            });
            if fits {
                self.with_node(i, |n| {
                    let at = if end == End::Left { 0 } else { n.bytes() };
                    n.insert(at, &enc)
                });
                return;
            }
        }
        if end == End::Left {
            // The old head gets no more head pushes: its free room goes.
            self.with_node(0, Node::compact);
        }
        let mut node = Node::default();
        node.insert(0, &enc);
        self.insert_node(if end == End::Left { 0 } else { nodes }, node);
    }

    /// Remove and return the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let nodes = self.node_count();
        if nodes == 0 {
            return None;
        }
        let i = if end == End::Left { 0 } else { nodes - 1 };
        let value = self.with_node(i, |n| n.pop(end))??;
        if self.node(i).is_none_or(|n| n.count == 0) {
            self.remove_node(i);
        }
        Some(value)
    }

    /// Call `f` with every element, head to tail.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        for e in self.iter() {
            e.with_bytes(&mut f);
        }
    }

    /// Every element, head to tail.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            list: ListRef::Value(self),
            node: 0,
            pos: 0,
            remaining: self.len(),
            forward: true,
        }
    }

    /// Up to `count` elements starting at position `start` (0-based from the head), towards
    /// the tail (`forward`) or towards the head.
    pub fn iter_at(&self, start: usize, count: usize, forward: bool) -> Iter<'_> {
        let mut it = Iter {
            list: ListRef::Value(self),
            node: 0,
            pos: 0,
            remaining: 0,
            forward,
        };
        if let Some((i, k)) = self.locate(start) {
            if let Some((s, e)) = self.node(i).and_then(|n| n.entry_range(k)) {
                it.node = i;
                it.pos = if forward { s } else { e };
                let available = if forward {
                    self.len() - start
                } else {
                    start + 1
                };
                it.remaining = count.min(available);
            }
        }
        it
    }

    /// The element at position `idx` (0-based from the head).
    pub fn get(&self, idx: usize) -> Option<Elem<'_>> {
        let (i, k) = self.locate(idx)?;
        self.node(i)?.get(k)
    }

    /// Replace the element at position `idx`; false when out of range.
    pub fn set(&mut self, idx: usize, item: &[u8], limits: ListLimits) -> bool {
        let Some((i, k)) = self.locate(idx) else {
            return false;
        };
        let enc = Encoded::new(item);
        if self.with_node(i, |n| n.replace(k, &enc)) != Some(true) {
            return false;
        }
        self.rebalance(i, limits);
        true
    }

    /// Insert `item` before or `after` the first element equal to `pivot` (LINSERT).
    /// Returns whether the pivot was found.
    pub fn insert(&mut self, pivot: &[u8], item: &[u8], after: bool, limits: ListLimits) -> bool {
        let needle = Needle::new(pivot);
        let Some((i, at)) = self.find_first(&needle, after) else {
            return false;
        };
        let enc = Encoded::new(item);
        self.with_node(i, |n| n.insert(at, &enc));
        self.rebalance(i, limits);
        true
    }

    /// Node and byte position just before (or after) the first element equal to `needle`.
    fn find_first(&self, needle: &Needle<'_>, after: bool) -> Option<(usize, usize)> {
        for i in 0..self.node_count() {
            let node = self.node(i)?;
            let mut pos = 0;
            while pos < node.bytes() {
                let (e, end) = decode(node.data(), pos)?;
                if e.matches(needle) {
                    return Some((i, if after { end } else { pos }));
                }
                pos = end;
            }
        }
        None
    }

    /// Remove up to `max` elements equal to `value` (0: all), scanning from the tail when
    /// `from_tail` (LREM). Returns the number removed.
    pub fn remove(
        &mut self,
        value: &[u8],
        max: usize,
        from_tail: bool,
        limits: ListLimits,
    ) -> usize {
        let needle = Needle::new(value);
        let nodes = self.node_count();
        let mut removed = 0;
        let mut touched: Option<(usize, usize)> = None;
        let mut emptied = Vec::new();
        for step in 0..nodes {
            let i = if from_tail { nodes - 1 - step } else { step };
            let budget = if max == 0 { usize::MAX } else { max - removed };
            let n = self.remove_in_node(i, &needle, budget, from_tail);
            if n > 0 {
                removed += n;
                touched = Some(touched.map_or((i, i), |(lo, hi)| (lo.min(i), hi.max(i))));
                if self.node(i).is_none_or(|n| n.count == 0) {
                    emptied.push(i);
                }
            }
            if max != 0 && removed >= max {
                break;
            }
        }
        // Drop emptied nodes from the highest position down so positions stay valid.
        emptied.sort_unstable();
        for &i in emptied.iter().rev() {
            self.remove_node(i);
        }
        if let Some((lo, hi)) = touched {
            self.merge_range(lo.saturating_sub(1), hi, limits);
        }
        removed
    }

    /// Remove up to `budget` matches of `needle` from node `i`: its first ones, or its last
    /// ones when `from_tail`. Returns the number removed.
    fn remove_in_node(
        &mut self,
        i: usize,
        needle: &Needle<'_>,
        budget: usize,
        from_tail: bool,
    ) -> usize {
        let Some(node) = self.node(i) else {
            return 0;
        };
        let mut ranges = Vec::new();
        let mut pos = 0;
        while pos < node.bytes() {
            let Some((e, end)) = decode(node.data(), pos) else {
                break;
            };
            if e.matches(needle) {
                ranges.push((pos, end));
                if !from_tail && ranges.len() == budget {
                    break;
                }
            }
            pos = end;
        }
        if ranges.len() > budget {
            ranges.drain(..ranges.len() - budget);
        }
        if !ranges.is_empty() {
            self.with_node(i, |n| n.remove_ranges(&ranges));
        }
        ranges.len()
    }

    /// Remove `count` elements starting at position `start`, merging the nodes around the
    /// cut when they fit in one.
    pub fn delete_range(&mut self, start: usize, count: usize, limits: ListLimits) {
        self.delete_span(start, count, Some(limits));
    }

    /// Remove up to `n` elements at `end`, calling `f` with each in pop order (LPOP/RPOP
    /// with a count, LMPOP). Returns the number removed.
    pub fn pop_n(&mut self, end: End, n: usize, mut f: impl FnMut(Elem<'_>)) -> usize {
        let len = self.len();
        let n = n.min(len);
        if n == 0 {
            return 0;
        }
        let (start, first) = match end {
            End::Left => (0, 0),
            End::Right => (len - 1, len - n),
        };
        for e in self.iter_at(start, n, end == End::Left) {
            f(e);
        }
        // Cutting at an end leaves no small node in the middle: nothing to merge.
        self.delete_span(first, n, None);
        n
    }

    fn delete_span(&mut self, start: usize, count: usize, merge: Option<ListLimits>) {
        let count = count.min(self.len().saturating_sub(start));
        let Some((first, mut k)) = self.locate(start) else {
            return;
        };
        let mut i = first;
        let mut rest = count;
        while rest > 0 {
            let Some(node) = self.node(i) else {
                break;
            };
            let c = node.count as usize;
            if k == 0 && rest >= c {
                self.remove_node(i);
                rest -= c;
                continue;
            }
            let take = rest.min(c - k);
            let range = node.entry_range(k).zip(node.entry_range(k + take - 1));
            if let Some(((s, _), (_, e))) = range {
                self.with_node(i, |n| n.remove(s, e, take));
            }
            rest -= take;
            i += 1;
            k = 0;
        }
        if let Some(limits) = merge {
            self.merge_range(first.saturating_sub(1), first + 1, limits);
        }
    }

    /// Remove `ltrim` elements from the head and `rtrim` from the tail (LTRIM).
    pub fn trim(&mut self, ltrim: usize, rtrim: usize, limits: ListLimits) {
        self.delete_range(0, ltrim, limits);
        let len = self.len();
        let rtrim = rtrim.min(len);
        self.delete_range(len - rtrim, rtrim, limits);
    }

    /// After node `i` changed: split it while it is over the limits, or merge it with a
    /// neighbour when both fit in one node.
    fn rebalance(&mut self, i: usize, limits: ListLimits) {
        if self.node(i).is_some_and(|n| n.oversized(limits)) {
            self.split(i, limits);
        } else {
            self.merge_range(i.saturating_sub(1), i, limits);
        }
    }

    /// Split node `i` (and the halves, recursively) until every part fits.
    fn split(&mut self, i: usize, limits: ListLimits) {
        let mut pending = vec![i];
        while let Some(j) = pending.pop() {
            let Some(node) = self.node(j) else {
                continue;
            };
            if !node.oversized(limits) {
                continue;
            }
            let k = node.split_point(limits);
            let Some(tail) = self.with_node(j, |n| n.split_off(k)) else {
                continue;
            };
            if tail.count == 0 {
                continue;
            }
            self.insert_node(j + 1, tail);
            // Check both halves again, the right one first: splitting it leaves `j` in place.
            pending.push(j);
            pending.push(j + 1);
        }
    }

    /// Merge neighbouring nodes in positions `lo..=hi + 1` while the merged node fits.
    fn merge_range(&mut self, lo: usize, hi: usize, limits: ListLimits) {
        let (max_n, max_b) = limits.node_max();
        let mut i = lo;
        let mut end = hi + 1;
        while i < end && i + 1 < self.node_count() {
            let fits = match (self.node(i), self.node(i + 1)) {
                (Some(a), Some(b)) => {
                    a.count as usize + b.count as usize <= max_n && a.bytes() + b.bytes() <= max_b
                }
                _ => false,
            };
            if fits {
                // Entries move between nodes: the total count does not change.
                if let Repr::Multi(m) = &mut self.repr {
                    if let Some(next) = m.nodes.remove(i + 1) {
                        if let Some(a) = m.nodes.get_mut(i) {
                            a.append(&next);
                        }
                    }
                    if m.nodes.len() <= 1 {
                        let last = m.nodes.pop_front().unwrap_or_default();
                        self.repr = Repr::Single(last);
                    }
                }
                end = end.saturating_sub(1);
            } else {
                i += 1;
            }
        }
    }

    /// Check the structure (tests).
    #[cfg(test)]
    fn check(&self, limits: ListLimits) {
        let mut total = 0;
        for i in 0..self.node_count() {
            let n = self.node(i).unwrap();
            assert!(n.count > 0, "empty node {i}");
            assert!(
                !n.oversized(limits),
                "oversized node {i}: {} entries {} bytes",
                n.count,
                n.bytes()
            );
            let mut pos = 0;
            let mut c = 0;
            while pos < n.bytes() {
                let (_, end) = decode(n.data(), pos).unwrap();
                assert_eq!(prev_start(n.data(), end), Some(pos));
                pos = end;
                c += 1;
            }
            assert_eq!(pos, n.bytes());
            assert_eq!(c, n.count);
            total += c as usize;
        }
        assert_eq!(total, self.len());
        if let Repr::Multi(m) = &self.repr {
            assert!(m.nodes.len() >= 2, "multi with {} nodes", m.nodes.len());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Packed lists (in a key's record) and the read view
// ---------------------------------------------------------------------------------------

/// Most entries and bytes a packed list may hold (its count and length are one byte each
/// in the record; records are at most 128 bytes anyway).
pub const PACKED_MAX: usize = u8::MAX as usize;

/// A small list's entries as they sit in a key's record (see `slab.rs`): the entry bytes
/// of a one-node list ([`ListValue`]'s node encoding) and their number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packed<'a> {
    /// The entries, back to back.
    pub data: &'a [u8],
    /// Their number.
    pub count: usize,
}

impl Packed<'_> {
    /// The list (one node holding the entries, allocated to its size class).
    pub fn to_list(self) -> ListValue {
        self.to_list_with_room(0)
    }

    /// [`Packed::to_list`] with room for `extra` more bytes (a list decoded to be edited:
    /// the usual push then needs no reallocation).
    pub fn to_list_with_room(self, extra: usize) -> ListValue {
        if self.count == 0 || self.data.is_empty() {
            return ListValue::new();
        }
        let mut buf = Vec::with_capacity(size_class(self.data.len() + extra));
        buf.extend_from_slice(self.data);
        ListValue {
            repr: Repr::Single(Node {
                buf,
                gap: 0,
                count: self.count as u32,
            }),
        }
    }
}

/// A list as lookups hand it out: a [`ListValue`] in a node, or the packed entries of a
/// small list in its key's record. The read methods have [`ListValue`]'s names.
#[derive(Clone, Copy, Debug)]
pub enum ListRef<'a> {
    /// A list in a node.
    Value(&'a ListValue),
    /// A small list in its key's record.
    Packed(Packed<'a>),
}

impl<'a> From<&'a ListValue> for ListRef<'a> {
    fn from(l: &'a ListValue) -> ListRef<'a> {
        ListRef::Value(l)
    }
}

impl<'a> ListRef<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ListRef::Value(l) => l.len(),
            ListRef::Packed(p) => p.count,
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's encoding name (`OBJECT ENCODING`): `quicklist` either way, as Redis 7.0
    /// reports for every list.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Heap bytes held (none for a packed list: its bytes are the record's).
    pub fn heap_size(&self) -> usize {
        match self {
            ListRef::Value(l) => l.heap_size(),
            ListRef::Packed(_) => 0,
        }
    }

    /// Number of nodes (a packed list is one).
    pub fn node_count(&self) -> usize {
        match self {
            ListRef::Value(l) => l.node_count(),
            ListRef::Packed(p) => (p.count > 0) as usize,
        }
    }

    /// The entry bytes of node `i`.
    fn node_data(&self, i: usize) -> Option<&'a [u8]> {
        match *self {
            ListRef::Value(l) => l.node(i).map(Node::data),
            ListRef::Packed(p) => (i == 0 && p.count > 0).then_some(p.data),
        }
    }

    /// See [`ListValue::index`].
    pub fn index(&self, index: i64) -> Option<usize> {
        position_of_index(index, self.len())
    }

    /// See [`ListValue::get`].
    pub fn get(&self, idx: usize) -> Option<Elem<'a>> {
        match *self {
            ListRef::Value(l) => l.get(idx),
            ListRef::Packed(p) => {
                let (start, _) = entry_range(p.data, p.count, idx)?;
                decode(p.data, start).map(|(e, _)| e)
            }
        }
    }

    /// See [`ListValue::iter`].
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            list: *self,
            node: 0,
            pos: 0,
            remaining: self.len(),
            forward: true,
        }
    }

    /// See [`ListValue::iter_at`].
    pub fn iter_at(&self, start: usize, count: usize, forward: bool) -> Iter<'a> {
        match *self {
            ListRef::Value(l) => l.iter_at(start, count, forward),
            ListRef::Packed(p) => {
                let mut it = Iter {
                    list: *self,
                    node: 0,
                    pos: 0,
                    remaining: 0,
                    forward,
                };
                if let Some((s, e)) = entry_range(p.data, p.count, start) {
                    it.pos = if forward { s } else { e };
                    let available = if forward { p.count - start } else { start + 1 };
                    it.remaining = count.min(available);
                }
                it
            }
        }
    }

    /// Call `f` with every element, head to tail.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        for e in self.iter() {
            e.with_bytes(&mut f);
        }
    }

    /// An owned copy.
    pub fn to_list(&self) -> ListValue {
        match *self {
            ListRef::Value(l) => l.clone(),
            ListRef::Packed(p) => p.to_list(),
        }
    }
}

/// Iterator over elements (see [`ListValue::iter`] and [`ListValue::iter_at`]).
pub struct Iter<'a> {
    list: ListRef<'a>,
    node: usize,
    /// Forward: start of the next entry; backward: end of the next entry.
    pos: usize,
    remaining: usize,
    forward: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            let node = self.list.node_data(self.node)?;
            if self.forward {
                if self.pos < node.len() {
                    let (e, end) = decode(node, self.pos)?;
                    self.pos = end;
                    self.remaining -= 1;
                    return Some(e);
                }
                self.node += 1;
                self.pos = 0;
            } else {
                if self.pos > 0 {
                    let start = prev_start(node, self.pos)?;
                    let (e, _) = decode(node, start)?;
                    self.pos = start;
                    self.remaining -= 1;
                    return Some(e);
                }
                self.node = self.node.checked_sub(1)?;
                self.pos = self.list.node_data(self.node)?.len();
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(n: i64) -> ListLimits {
        ListLimits {
            max_listpack_size: n,
        }
    }

    fn items(l: &ListValue) -> Vec<Vec<u8>> {
        l.iter().map(|e| e.to_vec()).collect()
    }

    #[test]
    fn list_value_is_small() {
        assert_eq!(std::mem::size_of::<ListValue>(), 32);
    }

    #[test]
    fn entries_roundtrip() {
        let samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"0".to_vec(),
            b"127".to_vec(),
            b"128".to_vec(),
            b"-1".to_vec(),
            b"-0".to_vec(),
            b"01".to_vec(),
            b"+1".to_vec(),
            b"9223372036854775807".to_vec(),
            b"-9223372036854775808".to_vec(),
            b"9223372036854775808".to_vec(),
            b"\x00\xffbin".to_vec(),
            vec![b'x'; 63],
            vec![b'y'; 64],
            vec![b'z'; 200],
            vec![b'w'; 20000],
        ];
        for s in &samples {
            let enc = Encoded::new(s);
            let mut buf = vec![0u8; enc.len()];
            enc.write(&mut buf);
            let (e, end) = decode(&buf, 0).unwrap();
            assert_eq!(e.to_vec(), *s);
            assert_eq!(end, buf.len());
            assert_eq!(prev_start(&buf, end), Some(0));
        }
        // Small integers and short strings are compact.
        assert_eq!(Encoded::new(b"5").len(), 2);
        assert_eq!(Encoded::new(b"1000").len(), 4);
        assert_eq!(Encoded::new(b"item-0").len(), 8);
        // Integer widths at the boundaries.
        for v in [
            127i64,
            128,
            -128,
            -129,
            32767,
            32768,
            -32768,
            -32769,
            i64::MAX,
            i64::MIN,
            1 << 40,
        ] {
            let s = v.to_string();
            let enc = Encoded::new(s.as_bytes());
            let mut buf = vec![0u8; enc.len()];
            enc.write(&mut buf);
            assert_eq!(decode(&buf, 0).unwrap().0, Elem::Int(v));
        }
    }

    #[test]
    fn size_classes() {
        assert_eq!(size_class(1), 8);
        assert_eq!(size_class(70), 80);
        assert_eq!(size_class(128), 128);
        assert_eq!(size_class(129), 160);
        assert_eq!(size_class(257), 320);
        assert_eq!(size_class(8192), 8192);
        assert_eq!(size_class(8193), 10240);
    }

    #[test]
    fn small_list_is_one_allocation() {
        let mut l = ListValue::new();
        for i in 0..10 {
            l.push(
                End::Right,
                format!("item-{i}").as_bytes(),
                ListLimits::DEFAULT,
            );
        }
        assert_eq!(l.node_count(), 1);
        assert!(matches!(l.repr, Repr::Single(_)));
        assert_eq!(l.heap_size(), 80);
        assert_eq!(l.len(), 10);
    }

    #[test]
    fn nodes_follow_every_setting() {
        // (setting, most entries per node, most bytes per node)
        let cases = [
            (1, 1, 8192),
            (4, 4, 8192),
            (0, 1, 8192),
            (128, 128, 8192),
            (100_000, 32767, 8192),
            (-1, usize::MAX, 4096),
            (-2, usize::MAX, 8192),
            (-3, usize::MAX, 16384),
            (-4, usize::MAX, 32768),
            (-5, usize::MAX, 65536),
            (-6, usize::MAX, 65536),
        ];
        for (setting, max_n, max_b) in cases {
            let limits = lim(setting);
            assert_eq!(limits.node_max(), (max_n, max_b), "setting {setting}");
            let mut l = ListValue::new();
            for i in 0..3000 {
                let item = format!("element-number-{i}");
                let end = if i % 3 == 0 { End::Left } else { End::Right };
                l.push(end, item.as_bytes(), limits);
            }
            l.check(limits);
            for i in 0..l.node_count() {
                let n = l.node(i).unwrap();
                assert!(n.count as usize <= max_n && n.bytes() <= max_b);
            }
            if max_n < 3000 {
                assert!(
                    l.node_count() >= 3000usize.div_ceil(max_n),
                    "setting {setting}"
                );
            }
        }
    }

    #[test]
    fn large_elements_get_their_own_node() {
        let limits = lim(-1);
        let mut l = ListValue::new();
        l.push(End::Right, b"a", limits);
        l.push(End::Right, &vec![b'x'; 10_000], limits);
        l.push(End::Right, b"b", limits);
        l.check(limits);
        assert_eq!(l.node_count(), 3);
        assert_eq!(l.get(1).unwrap().to_vec().len(), 10_000);
        // Replacing the big one with a small one merges everything back.
        assert!(l.set(1, b"small", limits));
        l.check(limits);
        assert_eq!(l.node_count(), 1);
        assert_eq!(
            items(&l),
            vec![b"a".to_vec(), b"small".to_vec(), b"b".to_vec()]
        );
    }

    #[test]
    fn index_math() {
        let limits = lim(4);
        let mut l = ListValue::new();
        for i in 0..50 {
            l.push(End::Right, i.to_string().as_bytes(), limits);
        }
        assert_eq!(l.node_count(), 13);
        assert_eq!(l.index(0), Some(0));
        assert_eq!(l.index(49), Some(49));
        assert_eq!(l.index(50), None);
        assert_eq!(l.index(-1), Some(49));
        assert_eq!(l.index(-50), Some(0));
        assert_eq!(l.index(-51), None);
        assert_eq!(l.index(i64::MIN), None);
        assert_eq!(l.index(i64::MAX), None);
        for i in 0..50 {
            assert_eq!(l.get(i), Some(Elem::Int(i as i64)));
            let fwd: Vec<_> = l.iter_at(i, 100, true).map(|e| e.to_vec()).collect();
            assert_eq!(fwd.len(), 50 - i);
            let back: Vec<_> = l.iter_at(i, 100, false).map(|e| e.to_vec()).collect();
            assert_eq!(back.len(), i + 1);
            assert_eq!(back.last().unwrap(), b"0");
        }
        assert!(l.iter_at(50, 3, true).next().is_none());
    }

    #[test]
    fn split_and_merge() {
        let limits = lim(4);
        let mut l = ListValue::new();
        for i in 0..8 {
            l.push(End::Right, format!("v{i}").as_bytes(), limits);
        }
        assert_eq!(l.node_count(), 2);
        // Inserting into a full node splits it.
        assert!(l.insert(b"v1", b"new", true, limits));
        l.check(limits);
        assert_eq!(l.node_count(), 3);
        // Removing makes neighbours merge.
        assert_eq!(l.remove(b"new", 0, false, limits), 1);
        assert_eq!(l.remove(b"v2", 0, false, limits), 1);
        l.check(limits);
        assert_eq!(l.node_count(), 2);
        l.delete_range(1, 5, limits);
        l.check(limits);
        assert_eq!(items(&l), vec![b"v0".to_vec(), b"v7".to_vec()]);
        assert_eq!(l.node_count(), 1);
        assert!(matches!(l.repr, Repr::Single(_)));
        assert_eq!(l.pop(End::Left), Some(b"v0".to_vec()));
        assert_eq!(l.pop(End::Left), Some(b"v7".to_vec()));
        assert_eq!(l.pop(End::Left), None);
        assert_eq!(l.heap_size(), 0);
    }

    #[test]
    fn pop_n_from_both_ends() {
        let limits = lim(3);
        let mut l = ListValue::new();
        for i in 0..10 {
            l.push(End::Right, i.to_string().as_bytes(), limits);
        }
        let mut got = Vec::new();
        assert_eq!(l.pop_n(End::Right, 4, |e| got.push(e.to_vec())), 4);
        assert_eq!(
            got,
            vec![b"9".to_vec(), b"8".to_vec(), b"7".to_vec(), b"6".to_vec()]
        );
        got.clear();
        assert_eq!(l.pop_n(End::Left, 2, |e| got.push(e.to_vec())), 2);
        assert_eq!(got, vec![b"0".to_vec(), b"1".to_vec()]);
        l.check(limits);
        assert_eq!(l.pop_n(End::Left, usize::MAX, |_| {}), 4);
        assert!(l.is_empty());
        assert_eq!(l.pop_n(End::Left, 3, |_| {}), 0);
        assert_eq!(l.heap_size(), 0);
    }

    /// A tiny deterministic generator for the model test.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn random_item(rng: &mut Lcg) -> Vec<u8> {
        match rng.below(6) {
            0 => rng.below(300).to_string().into_bytes(),
            1 => format!("-{}", rng.next()).into_bytes(),
            2 => vec![b'a' + rng.below(3) as u8; rng.below(4)],
            3 => vec![b'L'; 60 + rng.below(200)],
            4 => vec![0xff, rng.below(4) as u8],
            _ => format!("0{}", rng.below(3)).into_bytes(),
        }
    }

    /// Head pushes into a big node write into its free room (no move); head pops leave
    /// room; every other edit on a node with room gives the same list as a model.
    #[test]
    fn head_room_is_used_and_edits_stay_consistent() {
        let limits = lim(-2);
        let mut rng = Lcg(7);
        let mut l = ListValue::new();
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        let mut saw_room = false;
        for step in 0..3000 {
            let v = format!("item-{}", rng.below(50)).into_bytes();
            match rng.below(9) {
                0..=3 => {
                    l.push(End::Left, &v, limits);
                    model.push_front(v);
                }
                4 => assert_eq!(l.pop(End::Left), model.pop_front()),
                5 => {
                    let idx = rng.below(model.len() + 1);
                    if l.set(idx, &v, limits) {
                        model[idx] = v;
                    }
                }
                6 => {
                    let pos = model.iter().position(|x| *x == v);
                    assert_eq!(l.insert(&v, b"ins", false, limits), pos.is_some());
                    if let Some(p) = pos {
                        model.insert(p, b"ins".to_vec());
                    }
                }
                7 => {
                    let before = model.len();
                    model.retain(|x| x.as_slice() != b"ins");
                    assert_eq!(l.remove(b"ins", 0, false, limits), before - model.len());
                }
                _ => {
                    l.push(End::Right, &v, limits);
                    model.push_back(v);
                }
            }
            saw_room |= (0..l.node_count()).any(|i| l.node(i).is_some_and(|n| n.gap > 0));
            if step % 50 == 0 {
                l.check(limits);
                let got: Vec<Vec<u8>> = l.iter().map(|e| e.to_vec()).collect();
                assert_eq!(
                    got,
                    model.iter().cloned().collect::<Vec<_>>(),
                    "step {step}"
                );
                let last = l.len().saturating_sub(1);
                let back: Vec<Vec<u8>> = l
                    .iter_at(last, l.len(), false)
                    .map(|e| e.to_vec())
                    .collect();
                assert_eq!(back, model.iter().rev().cloned().collect::<Vec<_>>());
            }
        }
        assert!(saw_room, "no node ever had room at its head");
    }

    #[test]
    fn matches_a_simple_model() {
        for setting in [-5, -2, -1, 0, 1, 2, 3, 7, 64] {
            let limits = lim(setting);
            let mut rng = Lcg(setting as u64 ^ 0x5eed);
            let mut l = ListValue::new();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for step in 0..4000 {
                match rng.below(10) {
                    0 | 1 => {
                        let v = random_item(&mut rng);
                        l.push(End::Left, &v, limits);
                        model.push_front(v);
                    }
                    2 | 3 => {
                        let v = random_item(&mut rng);
                        l.push(End::Right, &v, limits);
                        model.push_back(v);
                    }
                    4 => {
                        let end = if rng.below(2) == 0 {
                            End::Left
                        } else {
                            End::Right
                        };
                        let want = if end == End::Left {
                            model.pop_front()
                        } else {
                            model.pop_back()
                        };
                        assert_eq!(l.pop(end), want);
                    }
                    5 => {
                        let idx = rng.below(model.len() + 2);
                        let v = random_item(&mut rng);
                        let ok = l.set(idx, &v, limits);
                        assert_eq!(ok, idx < model.len());
                        if ok {
                            model[idx] = v;
                        }
                    }
                    6 => {
                        let pivot = random_item(&mut rng);
                        let v = random_item(&mut rng);
                        let after = rng.below(2) == 0;
                        let pos = model.iter().position(|x| *x == pivot);
                        assert_eq!(l.insert(&pivot, &v, after, limits), pos.is_some());
                        if let Some(p) = pos {
                            model.insert(if after { p + 1 } else { p }, v);
                        }
                    }
                    7 => {
                        let v = random_item(&mut rng);
                        let max = rng.below(3);
                        let from_tail = rng.below(2) == 0;
                        let mut want = 0;
                        if from_tail {
                            let mut i = model.len();
                            while i > 0 && (max == 0 || want < max) {
                                i -= 1;
                                if model[i] == v {
                                    model.remove(i);
                                    want += 1;
                                }
                            }
                        } else {
                            let mut i = 0;
                            while i < model.len() && (max == 0 || want < max) {
                                if model[i] == v {
                                    model.remove(i);
                                    want += 1;
                                } else {
                                    i += 1;
                                }
                            }
                        }
                        assert_eq!(l.remove(&v, max, from_tail, limits), want);
                    }
                    8 => {
                        if rng.below(8) == 0 {
                            let start = rng.below(model.len() + 1);
                            let count = rng.below(model.len() / 3 + 2);
                            l.delete_range(start, count, limits);
                            let end = (start + count).min(model.len());
                            if start < model.len() {
                                model.drain(start..end);
                            }
                        }
                    }
                    _ => {
                        let idx = rng.below(model.len() + 1);
                        assert_eq!(
                            l.get(idx).map(|e| e.to_vec()),
                            model.get(idx).cloned(),
                            "get {idx}"
                        );
                        let n = rng.below(20);
                        let fwd: Vec<_> = l.iter_at(idx, n, true).map(|e| e.to_vec()).collect();
                        let want: Vec<_> = model.iter().skip(idx).take(n).cloned().collect();
                        assert_eq!(fwd, want);
                        let back: Vec<_> = l.iter_at(idx, n, false).map(|e| e.to_vec()).collect();
                        let want: Vec<_> = if idx < model.len() {
                            model.iter().take(idx + 1).rev().take(n).cloned().collect()
                        } else {
                            Vec::new()
                        };
                        assert_eq!(back, want);
                    }
                }
                if step % 50 == 0 {
                    l.check(limits);
                    assert_eq!(
                        items(&l),
                        Vec::from(model.clone()),
                        "setting {setting} step {step}"
                    );
                }
                assert_eq!(l.len(), model.len());
            }
            l.check(limits);
            assert_eq!(items(&l), Vec::from(model));
            let cloned = l.clone();
            assert_eq!(items(&cloned), items(&l));
        }
    }

    #[test]
    fn heap_size_counts_every_buffer() {
        let limits = lim(-1);
        let mut l = ListValue::new();
        for i in 0..2000 {
            l.push(End::Right, format!("value-{i:06}").as_bytes(), limits);
        }
        assert!(l.node_count() > 2);
        let bytes: usize = (0..l.node_count())
            .map(|i| l.node(i).unwrap().bytes())
            .sum();
        assert!(l.heap_size() >= bytes);
        assert!(l.heap_size() < bytes * 2);
        l.trim(10, 10, limits);
        assert_eq!(l.len(), 1980);
        assert_eq!(l.get(0).unwrap().to_vec(), b"value-000010");
        l.check(limits);
    }
}
