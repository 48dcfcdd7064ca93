//! Hash values and their two encodings, as Redis keeps them:
//!
//! * [`Listpack`]: small hashes, one contiguous buffer of `field, value` pairs in insertion
//!   order (so HGETALL replies in exactly Redis's order), one allocation per hash;
//! * [`Dict`]: a chained hash table with power-of-two buckets whose SCAN cursor walks the
//!   buckets in reverse-binary order like Redis's `dictScan`, so HSCAN keeps its guarantee
//!   (every element present for the whole scan is returned) across resizes.
//!
//! A hash starts as a listpack and becomes a dict when it holds more than
//! `hash-max-listpack-entries` fields or a field or value longer than
//! `hash-max-listpack-value` bytes; it never converts back.

use std::fmt;
use std::hash::BuildHasher;

use super::alloc::{grow, shrink};
use hashbrown::DefaultHashBuilder;
use rand::Rng;

/// The conversion thresholds (`hash-max-listpack-entries`, `hash-max-listpack-value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashLimits {
    /// Most fields a listpack may hold.
    pub max_entries: usize,
    /// Longest field or value (bytes) a listpack may hold.
    pub max_value: usize,
}

// ---------------------------------------------------------------------------------------
// Listpack
// ---------------------------------------------------------------------------------------

/// A small hash: `[header][field][value]...` in insertion order. The header holds both
/// lengths (see [`put_header`]): one byte for a field up to 7 bytes with a value up to 15
/// (`f0` -> `12345678` costs 11 bytes), a byte plus the value's LEB128 length for fields
/// up to 63 bytes, else a marker byte and both lengths in LEB128.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Listpack {
    buf: Vec<u8>,
    len: usize,
}

/// Where one pair sits in a listpack's buffer.
#[derive(Clone, Copy, Debug)]
struct PairPos {
    /// Start of the pair's header.
    start: usize,
    /// Start of the value's bytes.
    value: usize,
    /// One past the value's last byte.
    end: usize,
}

fn put_varint(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Decode a length at `pos`: (length, position after the header). None on a malformed buffer
/// (which the listpack never writes; checked so that a bug cannot panic).
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

/// Headers below this are short: field length in bits 4..6, value length in bits 0..3.
const MID: u8 = 0x80;
/// `MID | field length` (0..63), then the value's length.
const LONG: u8 = 0xC0;
/// Longest field of a short header, and longest value.
const SHORT_FIELD: usize = 7;
const SHORT_VALUE: usize = 15;
/// Longest field of a mid header.
const MID_FIELD: usize = 63;

/// Bytes of the header of a pair with these lengths.
fn header_len(flen: usize, vlen: usize) -> usize {
    if flen <= SHORT_FIELD && vlen <= SHORT_VALUE {
        1
    } else if flen <= MID_FIELD {
        1 + varint_len(vlen)
    } else {
        1 + varint_len(flen) + varint_len(vlen)
    }
}

/// Write the header of a pair: short, mid or long (see [`Listpack`]).
fn put_header(buf: &mut Vec<u8>, flen: usize, vlen: usize) {
    if flen <= SHORT_FIELD && vlen <= SHORT_VALUE {
        buf.push(((flen << 4) | vlen) as u8);
    } else if flen <= MID_FIELD {
        buf.push(MID | flen as u8);
        put_varint(buf, vlen);
    } else {
        buf.push(LONG);
        put_varint(buf, flen);
        put_varint(buf, vlen);
    }
}

/// Decode the header at `pos`: (field length, value length, position of the field).
fn read_header(buf: &[u8], pos: usize) -> Option<(usize, usize, usize)> {
    let h = *buf.get(pos)?;
    let pos = pos + 1;
    if h < MID {
        Some(((h >> 4) as usize, (h & 0x0f) as usize, pos))
    } else if h < LONG {
        let (vlen, pos) = read_varint(buf, pos)?;
        Some(((h & 0x3f) as usize, vlen, pos))
    } else {
        let (flen, pos) = read_varint(buf, pos)?;
        let (vlen, pos) = read_varint(buf, pos)?;
        Some((flen, vlen, pos))
    }
}

/// The pair at `pos`: (field, value, position after them).
fn read_pair(buf: &[u8], pos: usize) -> Option<(&[u8], &[u8], usize)> {
    let (flen, vlen, f) = read_header(buf, pos)?;
    let v = f.checked_add(flen)?;
    let end = v.checked_add(vlen)?;
    Some((buf.get(f..v)?, buf.get(v..end)?, end))
}

/// Iterator over a listpack's pairs.
#[derive(Clone)]
pub struct ListpackIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (f, v, p) = read_pair(self.buf, self.pos)?;
        self.pos = p;
        Some((f, v))
    }
}

impl Listpack {
    /// An empty listpack with room for `bytes` bytes of pairs.
    pub fn with_capacity(bytes: usize) -> Listpack {
        Listpack {
            buf: Vec::with_capacity(bytes),
            len: 0,
        }
    }

    /// Bytes one pair takes in the buffer.
    pub fn pair_size(field: &[u8], value: &[u8]) -> usize {
        header_len(field.len(), value.len()) + field.len() + value.len()
    }

    /// Number of pairs.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no pairs.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pairs in insertion order.
    #[inline]
    pub fn iter(&self) -> ListpackIter<'_> {
        ListpackIter {
            buf: &self.buf,
            pos: 0,
        }
    }

    fn find(&self, field: &[u8]) -> Option<PairPos> {
        let buf = &self.buf[..];
        let mut pos = 0;
        while pos < buf.len() {
            let (flen, vlen, fstart) = read_header(buf, pos)?;
            let value = fstart.checked_add(flen)?;
            let end = value.checked_add(vlen)?;
            if flen == field.len() && buf.get(fstart..value)? == field {
                return Some(PairPos {
                    start: pos,
                    value,
                    end,
                });
            }
            pos = end;
        }
        None
    }

    /// The value of `field`. Inlined: HGET's lookup (out of line after the session 9
    /// merges, which cost HGET ~35 instructions).
    #[inline]
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let p = self.find(field)?;
        self.buf.get(p.value..p.end)
    }

    /// Set `field` to `value`: replaced in place if present, else appended. True when added.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        match self.find(field) {
            Some(p) => {
                let old_len = p.end - p.value;
                if old_len == value.len() {
                    if let Some(dst) = self.buf.get_mut(p.value..p.end) {
                        dst.copy_from_slice(value);
                    }
                } else {
                    // The header holds the value's length: rewrite the whole pair in place
                    // (insertion order stays).
                    let mut enc = Vec::with_capacity(Self::pair_size(field, value));
                    put_header(&mut enc, field.len(), value.len());
                    enc.extend_from_slice(field);
                    enc.extend_from_slice(value);
                    let old = p.end - p.start;
                    if enc.len() > old {
                        grow(&mut self.buf, enc.len() - old);
                    }
                    self.buf.splice(p.start..p.end, enc);
                    shrink(&mut self.buf);
                }
                false
            }
            None => {
                self.push(field, value);
                true
            }
        }
    }

    /// Append a pair without looking for the field (the caller knows it is absent).
    pub fn push(&mut self, field: &[u8], value: &[u8]) {
        grow(&mut self.buf, Self::pair_size(field, value));
        put_header(&mut self.buf, field.len(), value.len());
        self.buf.extend_from_slice(field);
        self.buf.extend_from_slice(value);
        self.len += 1;
    }

    /// Remove `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(p) => {
                self.buf.drain(p.start..p.end);
                shrink(&mut self.buf);
                self.len -= 1;
                true
            }
            None => false,
        }
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.buf.capacity()
    }
}

impl fmt::Debug for Listpack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// Dict
// ---------------------------------------------------------------------------------------

const NIL: u32 = u32::MAX;
/// Marks a node on the free list (in `next`).
const FREE: u32 = 1 << 31;
const MIN_BUCKETS: usize = 4;

#[derive(Clone)]
struct Node {
    field: Box<[u8]>,
    value: Box<[u8]>,
    /// Low 32 bits of the field's hash (bucket = hash & mask; tables stay below 2^31 nodes).
    hash: u32,
    /// Next node of the bucket chain (NIL ends it); on a free node, FREE | (next free
    /// node + 1), with 0 ending the free list.
    next: u32,
}

impl Node {
    #[inline]
    fn is_free(&self) -> bool {
        self.next != NIL && self.next & FREE != 0
    }
}

/// A chained hash table with a slab of nodes (stable indices, a free list) and
/// power-of-two buckets. Grows at load factor 1 and shrinks below 10% fill, rebuilding
/// the slab compactly; SCAN cursors address buckets, so rebuilds never break a scan.
#[derive(Clone)]
pub struct Dict {
    buckets: Vec<u32>,
    nodes: Vec<Node>,
    /// Head of the free list (index into `nodes`) or NIL.
    free: u32,
    len: usize,
    hasher: DefaultHashBuilder,
}

impl Default for Dict {
    fn default() -> Self {
        Dict::with_capacity(0)
    }
}

impl Dict {
    /// An empty dict sized for `n` elements.
    pub fn with_capacity(n: usize) -> Dict {
        Dict {
            buckets: vec![NIL; n.max(MIN_BUCKETS).next_power_of_two()],
            nodes: Vec::with_capacity(n),
            free: NIL,
            len: 0,
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn hash(&self, field: &[u8]) -> u32 {
        self.hasher.hash_one(field) as u32
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// (index of the node holding `field`, index of its predecessor in the chain or NIL).
    fn find(&self, field: &[u8]) -> Option<(u32, u32)> {
        let h = self.hash(field);
        let mut prev = NIL;
        let mut i = *self.buckets.get(h as usize & self.mask())?;
        while i != NIL {
            let n = self.nodes.get(i as usize)?;
            if n.hash == h && &*n.field == field {
                return Some((i, prev));
            }
            prev = i;
            i = n.next;
        }
        None
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let (i, _) = self.find(field)?;
        self.nodes.get(i as usize).map(|n| &*n.value)
    }

    /// Set `field` to `value`; true when the field was added.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Some((i, _)) = self.find(field) {
            if let Some(n) = self.nodes.get_mut(i as usize) {
                n.value = value.into();
            }
            return false;
        }
        self.insert_new(field.into(), value.into());
        true
    }

    /// Insert a field known to be absent.
    fn insert_new(&mut self, field: Box<[u8]>, value: Box<[u8]>) {
        if self.len >= self.buckets.len() {
            self.resize(self.buckets.len() * 2);
        }
        let hash = self.hash(&field);
        let b = hash as usize & self.mask();
        let head = self.buckets.get(b).copied().unwrap_or(NIL);
        let node = Node {
            field,
            value,
            hash,
            next: head,
        };
        let idx = if self.free != NIL {
            let idx = self.free;
            if let Some(slot) = self.nodes.get_mut(idx as usize) {
                let link = slot.next & !FREE;
                self.free = if link == 0 { NIL } else { link - 1 };
                *slot = node;
            }
            idx
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        };
        if let Some(slot) = self.buckets.get_mut(b) {
            *slot = idx;
        }
        self.len += 1;
    }

    /// Remove `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let Some((i, prev)) = self.find(field) else {
            return false;
        };
        let Some(node) = self.nodes.get_mut(i as usize) else {
            return false;
        };
        let next = node.next;
        let bucket = node.hash as usize & (self.buckets.len() - 1);
        node.field = Box::default();
        node.value = Box::default();
        node.next = FREE | if self.free == NIL { 0 } else { self.free + 1 };
        self.free = i;
        if prev == NIL {
            if let Some(slot) = self.buckets.get_mut(bucket) {
                *slot = next;
            }
        } else if let Some(p) = self.nodes.get_mut(prev as usize) {
            p.next = next;
        }
        self.len -= 1;
        if self.buckets.len() > MIN_BUCKETS && self.len * 10 < self.buckets.len() {
            self.resize(self.len.max(MIN_BUCKETS).next_power_of_two());
        }
        true
    }

    /// Rebuild with `size` buckets (a power of two) and a compact slab.
    fn resize(&mut self, size: usize) {
        let old = std::mem::take(&mut self.nodes);
        self.nodes = Vec::with_capacity(self.len.max(size / 2));
        self.buckets = vec![NIL; size];
        self.free = NIL;
        let mask = size - 1;
        for mut n in old.into_iter().filter(|n| !n.is_free()) {
            let b = n.hash as usize & mask;
            let idx = self.nodes.len() as u32;
            if let Some(slot) = self.buckets.get_mut(b) {
                n.next = *slot;
                *slot = idx;
            }
            self.nodes.push(n);
        }
    }

    /// Every element, bucket by bucket.
    pub fn iter(&self) -> DictIter<'_> {
        DictIter {
            dict: self,
            bucket: 0,
            node: NIL,
        }
    }

    fn bucket_chain<'a>(&'a self, b: usize, mut f: impl FnMut(&'a [u8], &'a [u8])) {
        let mut i = self.buckets.get(b).copied().unwrap_or(NIL);
        while let Some(n) = self.nodes.get(i as usize) {
            f(&n.field, &n.value);
            i = n.next;
        }
    }

    /// Visit the elements of the bucket `cursor` addresses; returns the next cursor (0 when
    /// the scan is complete). Redis's `dictScan` cursor arithmetic: the cursor's bits are
    /// incremented from the top, so a scan stays valid when the table grows or shrinks.
    pub fn scan<'a>(&'a self, cursor: u64, f: impl FnMut(&'a [u8], &'a [u8])) -> u64 {
        let mask = self.mask() as u64;
        self.bucket_chain((cursor & mask) as usize, f);
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    /// Index of a uniformly random live node.
    fn random_index(&self, rng: &mut impl Rng) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        // The slab is at least ~10% live (it is compacted when the table shrinks), so this
        // loop ends quickly.
        loop {
            let i = rng.gen_range(0..self.nodes.len());
            if self.nodes.get(i).is_some_and(|n| !n.is_free()) {
                return Some(i);
            }
        }
    }

    /// A uniformly random element.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], &[u8])> {
        let i = self.random_index(rng)?;
        self.nodes.get(i).map(|n| (&*n.field, &*n.value))
    }

    /// `count` distinct random elements (count < len), each passed to `f`.
    pub fn random_distinct(
        &self,
        count: usize,
        rng: &mut impl Rng,
        mut f: impl FnMut(&[u8], &[u8]),
    ) {
        if count.saturating_mul(3) > self.len {
            // Many of them: choose among all live nodes.
            let live: Vec<&Node> = self.nodes.iter().filter(|n| !n.is_free()).collect();
            for i in rand::seq::index::sample(rng, live.len(), count.min(live.len())) {
                if let Some(n) = live.get(i) {
                    f(&n.field, &n.value);
                }
            }
            return;
        }
        // Few of them: draw until `count` distinct nodes were seen.
        let mut seen = hashbrown::HashSet::with_capacity(count);
        while seen.len() < count {
            let Some(i) = self.random_index(rng) else {
                return;
            };
            if seen.insert(i) {
                if let Some(n) = self.nodes.get(i) {
                    f(&n.field, &n.value);
                }
            }
        }
    }

    /// Approximate heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.buckets.capacity() * 4
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self
                .nodes
                .iter()
                .map(|n| n.field.len() + n.value.len())
                .sum::<usize>()
    }
}

impl fmt::Debug for Dict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

/// Iterator over a dict's elements, bucket by bucket.
pub struct DictIter<'a> {
    dict: &'a Dict,
    bucket: usize,
    node: u32,
}

impl<'a> Iterator for DictIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while self.node == NIL {
            let head = *self.dict.buckets.get(self.bucket)?;
            self.bucket += 1;
            self.node = head;
        }
        let n = self.dict.nodes.get(self.node as usize)?;
        self.node = n.next;
        Some((&n.field, &n.value))
    }
}

// ---------------------------------------------------------------------------------------
// HashValue
// ---------------------------------------------------------------------------------------

/// A hash value: a small insertion-ordered listpack, or a hash table.
#[derive(Clone, Debug)]
pub enum HashValue {
    /// `listpack`: fields in insertion order, as Redis keeps small hashes.
    Listpack(Listpack),
    /// `hashtable` (boxed: keeps every entry of the keyspace small).
    Table(Box<Dict>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Listpack::default())
    }
}

/// Iterator over a hash's (field, value) pairs in its encoding's order.
pub enum HashIter<'a> {
    /// Over a listpack.
    Listpack(ListpackIter<'a>),
    /// Over a dict.
    Table(DictIter<'a>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Listpack(i) => i.next(),
            HashIter::Table(i) => i.next(),
        }
    }
}

impl HashValue {
    /// An empty hash that will receive `pairs` (a flat field/value list): a listpack sized
    /// for them, or directly a table when they exceed the limits.
    pub fn for_pairs(pairs: &[&[u8]], limits: HashLimits) -> HashValue {
        let n = pairs.len() / 2;
        if n > limits.max_entries || pairs.iter().any(|a| a.len() > limits.max_value) {
            return HashValue::Table(Box::new(Dict::with_capacity(n)));
        }
        let bytes = pairs
            .chunks(2)
            .map(|p| match p {
                [f, v] => Listpack::pair_size(f, v),
                _ => 0,
            })
            .sum::<usize>();
        HashValue::Listpack(Listpack::with_capacity(bytes))
    }

    /// Number of fields.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(l) => l.len(),
            HashValue::Table(t) => t.len(),
        }
    }

    /// True when the hash has no fields.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `field`.
    #[inline]
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Listpack(l) => l.get(field),
            HashValue::Table(t) => t.get(field),
        }
    }

    /// True when `field` exists.
    #[inline]
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Set `field` to `value` (Redis's `hashTypeSet`): a field or value longer than the
    /// limit converts the listpack first; more entries than the limit converts it after.
    /// True when the field was added.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if let HashValue::Listpack(_) = self {
            if field.len() > limits.max_value || value.len() > limits.max_value {
                self.convert();
            }
        }
        match self {
            HashValue::Listpack(l) => {
                let added = l.set(field, value);
                if l.len() > limits.max_entries {
                    self.convert();
                }
                added
            }
            HashValue::Table(t) => t.set(field, value),
        }
    }

    /// Remove `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(l) => l.remove(field),
            HashValue::Table(t) => t.remove(field),
        }
    }

    /// Turn a listpack into a hash table (a table stays as it is).
    pub fn convert(&mut self) {
        if let HashValue::Listpack(l) = self {
            let mut t = Dict::with_capacity(l.len());
            for (f, v) in l.iter() {
                t.insert_new(f.into(), v.into());
            }
            *self = HashValue::Table(Box::new(t));
        }
    }

    /// The pairs, in the encoding's order (insertion order for a listpack).
    #[inline]
    pub fn iter(&self) -> HashIter<'_> {
        match self {
            HashValue::Listpack(l) => HashIter::Listpack(l.iter()),
            HashValue::Table(t) => HashIter::Table(t.iter()),
        }
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes held.
    pub fn heap_size(&self) -> usize {
        match self {
            HashValue::Listpack(l) => l.heap_size(),
            HashValue::Table(t) => t.heap_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HashLimits = HashLimits {
        max_entries: 4,
        max_value: 8,
    };

    fn pairs(h: &HashValue) -> Vec<(Vec<u8>, Vec<u8>)> {
        h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    #[test]
    fn listpack_headers_short_mid_and_long() {
        // Every header form and boundary, then value changes that move a pair across forms.
        let lens = [0usize, 1, 7, 8, 15, 16, 63, 64, 127, 128, 300];
        let mut l = Listpack::default();
        let mut model = Vec::new();
        for &f in &lens {
            for &v in &lens {
                let field: Vec<u8> = format!("{f}-{v}-").bytes().cycle().take(f).collect();
                if model
                    .iter()
                    .any(|(mf, _): &(Vec<u8>, Vec<u8>)| *mf == field)
                {
                    continue;
                }
                let value = vec![b'a' + (v % 26) as u8; v];
                assert!(l.set(&field, &value));
                model.push((field, value));
            }
        }
        let size: usize = model.iter().map(|(f, v)| Listpack::pair_size(f, v)).sum();
        assert_eq!(l.buf.len(), size);
        assert_eq!(Listpack::pair_size(b"f0", b"12345678"), 11);
        assert_eq!(Listpack::pair_size(b"field:1", b"value-0000000001"), 25);
        for (i, (f, v)) in model.iter_mut().enumerate() {
            let new = vec![b'z'; [3usize, 15, 16, 200, 0][i % 5]];
            assert!(!l.set(f, &new));
            *v = new;
        }
        let got: Vec<(Vec<u8>, Vec<u8>)> =
            l.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        assert_eq!(got, model, "values replaced in place, insertion order kept");
        for (f, v) in &model {
            assert_eq!(l.get(f), Some(&v[..]));
        }
        for (f, _) in model.iter().step_by(2) {
            assert!(l.remove(f));
        }
        let left: Vec<&Vec<u8>> = model.iter().skip(1).step_by(2).map(|(f, _)| f).collect();
        let got: Vec<Vec<u8>> = l.iter().map(|(f, _)| f.to_vec()).collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), left);
        assert_eq!(l.len(), left.len());
    }

    #[test]
    fn listpack_capacity_follows_size_classes() {
        use crate::storage::alloc::size_class;
        let mut l = Listpack::default();
        for i in 0..100u32 {
            l.push(format!("f{i}").as_bytes(), b"12345678");
            // never more than the allocator's class for the length (no doubling slack)
            assert!(l.buf.capacity() <= size_class(l.buf.len()), "{i}");
        }
        assert!(l.set(b"new", b"v"));
        assert!(!l.set(b"f3", b"a much longer value than before"));
        assert_eq!(l.get(b"f3"), Some(&b"a much longer value than before"[..]));
        for i in 0..90u32 {
            assert!(l.remove(format!("f{i}").as_bytes()));
        }
        assert_eq!(l.len(), 11);
        assert!(l.buf.capacity() <= size_class(l.buf.len() + l.buf.len() / 4));
        assert_eq!(l.get(b"f95"), Some(&b"12345678"[..]));
    }

    #[test]
    fn listpack_keeps_insertion_order_and_updates_in_place() {
        let mut h = HashValue::default();
        assert!(h.set(b"a", b"1", LIMITS));
        assert!(h.set(b"b", b"22", LIMITS));
        assert!(h.set(b"c", b"", LIMITS));
        assert!(!h.set(b"a", b"longer", LIMITS));
        assert!(!h.set(b"b", b"x", LIMITS));
        assert_eq!(
            pairs(&h),
            vec![
                (b"a".to_vec(), b"longer".to_vec()),
                (b"b".to_vec(), b"x".to_vec()),
                (b"c".to_vec(), b"".to_vec())
            ]
        );
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.get(b"c"), Some(&b""[..]));
        assert_eq!(h.get(b"a"), Some(&b"longer"[..]));
        assert_eq!(h.len(), 2);
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn long_lengths_use_multibyte_headers() {
        let mut l = Listpack::default();
        let big = vec![7u8; 300];
        l.push(&big, b"v");
        l.push(b"k", &big);
        assert_eq!(l.get(&big), Some(&b"v"[..]));
        assert_eq!(l.get(b"k"), Some(&big[..]));
        l.set(&big, &big);
        assert_eq!(l.get(&big), Some(&big[..]));
        assert_eq!(l.iter().count(), 2);
    }

    #[test]
    fn converts_on_entries_and_on_length() {
        let mut h = HashValue::default();
        for i in 0..4u8 {
            h.set(&[i], b"v", LIMITS);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"x", b"v", LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);

        let mut h = HashValue::default();
        h.set(b"f", b"123456789", LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"f"), Some(&b"123456789"[..]));
    }

    #[test]
    fn dict_grows_shrinks_and_keeps_everything() {
        let mut d = Dict::default();
        for i in 0..1000u32 {
            assert!(d.set(&i.to_be_bytes(), &i.to_le_bytes()));
        }
        assert!(!d.set(&5u32.to_be_bytes(), b"five"));
        assert_eq!(d.len(), 1000);
        assert_eq!(d.iter().count(), 1000);
        assert_eq!(d.get(&5u32.to_be_bytes()), Some(&b"five"[..]));
        for i in 0..990u32 {
            assert!(d.remove(&i.to_be_bytes()));
        }
        assert_eq!(d.len(), 10);
        assert!(d.buckets.len() <= 16);
        for i in 990..1000u32 {
            assert_eq!(d.get(&i.to_be_bytes()), Some(&i.to_le_bytes()[..]));
        }
        // free slots are reused
        for i in 0..5u32 {
            d.set(&i.to_be_bytes(), b"again");
        }
        assert_eq!(d.len(), 15);
        assert_eq!(d.iter().count(), 15);
    }

    #[test]
    fn dict_scan_visits_all_even_across_resizes() {
        let mut d = Dict::default();
        for i in 0..200u32 {
            d.set(&i.to_be_bytes(), b"v");
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut steps = 0;
        loop {
            cursor = d.scan(cursor, |f, _| {
                seen.insert(f.to_vec());
            });
            steps += 1;
            // grow the table mid-scan, then shrink it
            if steps == 20 {
                for i in 1000..3000u32 {
                    d.set(&i.to_be_bytes(), b"n");
                }
            }
            if steps == 60 {
                for i in 1000..3000u32 {
                    d.remove(&i.to_be_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..200u32 {
            assert!(seen.contains(i.to_be_bytes().as_slice()), "missed {i}");
        }
    }

    #[test]
    fn dict_random_sampling() {
        let mut d = Dict::default();
        for i in 0..50u32 {
            d.set(&i.to_be_bytes(), b"v");
        }
        let mut rng = rand::thread_rng();
        assert!(d.random(&mut rng).is_some());
        for count in [1, 5, 20, 49] {
            let mut got = std::collections::HashSet::new();
            d.random_distinct(count, &mut rng, |f, _| {
                got.insert(f.to_vec());
            });
            assert_eq!(got.len(), count);
        }
    }
}
