//! LZF, the compression Redis applies to RDB strings longer than 20 bytes.
//!
//! The compressor is a port of the liblzf 3.6 `lzf_compress` that Redis bundles, with
//! Redis's settings (`HLOG` 16, `VERY_FAST`, offsets in the hash table), so that compressed
//! strings come out byte-identical to Redis's. Redis leaves the hash table uninitialised
//! (`INIT_HTAB` 0); a fresh table behaves like a zeroed one, which is what we model: the
//! table is a per-thread array whose slots are tagged with a generation number, so each call
//! starts from an empty table without clearing 64Ki slots.
//!
//! The decompressor checks every back reference and length, so corrupt input is an error,
//! never an out-of-bounds access.

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// Hash of the three bytes folded into `hval` (liblzf's `IDX` for `VERY_FAST`). `hval` keeps
/// growing to the left as in C (`unsigned int` arithmetic), which matters for the result.
#[inline]
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// The hash table: (generation, input offset) per slot.
struct Table {
    generation: u32,
    slots: Vec<(u32, u32)>,
}

thread_local! {
    static TABLE: RefCell<Table> = const { RefCell::new(Table { generation: 0, slots: Vec::new() }) };
}

impl Table {
    /// Start a new compression: every slot becomes empty.
    fn reset(&mut self) {
        if self.slots.len() != HSIZE {
            self.slots = vec![(0, 0); HSIZE];
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slots.iter_mut().for_each(|s| *s = (0, 0));
            self.generation = 1;
        }
    }

    /// The offset stored in slot `i` (0 when empty: offset 0 never yields a match), and
    /// store `pos` there.
    #[inline]
    fn swap(&mut self, i: usize, pos: usize) -> usize {
        let generation = self.generation;
        match self.slots.get_mut(i) {
            Some(slot) => {
                let old = if slot.0 == generation {
                    slot.1 as usize
                } else {
                    0
                };
                *slot = (generation, pos as u32);
                old
            }
            None => 0,
        }
    }

    #[inline]
    fn set(&mut self, i: usize, pos: usize) {
        let generation = self.generation;
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = (generation, pos as u32);
        }
    }
}

/// Output under construction, with liblzf's pointer moves expressed as an index.
struct Out {
    buf: Vec<u8>,
    op: usize,
}

impl Out {
    #[inline]
    fn put(&mut self, at: usize, b: u8) {
        if at >= self.buf.len() {
            self.buf.resize(at + 1, 0);
        }
        if let Some(slot) = self.buf.get_mut(at) {
            *slot = b;
        }
    }

    #[inline]
    fn push(&mut self, b: u8) {
        self.put(self.op, b);
        self.op += 1;
    }

    /// `op[-lit-1] = lit-1`: close the literal run of `lit` bytes (its header byte).
    #[inline]
    fn stop_run(&mut self, lit: usize) {
        if let Some(at) = self.op.checked_sub(lit + 1) {
            self.put(at, (lit as u8).wrapping_sub(1));
        }
    }
}

/// Compress `input` into at most `out_len` bytes, exactly as Redis's `lzf_compress` does;
/// `None` when it does not fit (Redis then stores the string uncompressed).
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if input.is_empty() || out_len == 0 || input.len() > u32::MAX as usize {
        return None;
    }
    TABLE.with(|t| {
        let mut table = t.borrow_mut();
        table.reset();
        compress_with(&mut table, input, out_len)
    })
}

/// Length of the match between `input[r..]` and `input[ip..]` as liblzf computes it (the
/// unrolled loop included, which may go past `maxlen` by design). Starts knowing that the
/// first three bytes match.
#[inline]
fn match_len(input: &[u8], r: usize, ip: usize, maxlen: usize) -> usize {
    let same = |len: usize| match (input.get(r + len), input.get(ip + len)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    let mut len = 2;
    if maxlen > 16 {
        for _ in 0..16 {
            len += 1;
            if !same(len) {
                return len;
            }
        }
    }
    loop {
        len += 1;
        if !(len < maxlen && same(len)) {
            return len;
        }
    }
}

fn compress_with(table: &mut Table, input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_end = input.len();
    let mut out = Out {
        buf: Vec::with_capacity(out_len.min(in_end) + 1),
        op: 1, // start run
    };
    let mut lit: usize = 0;
    let mut ip: usize = 0;
    let byte = |i: usize| input.get(i).copied().unwrap_or(0) as u32;
    let mut hval: u32 = (byte(0) << 8) | byte(1);
    while ip + 2 < in_end {
        hval = (hval << 8) | byte(ip + 2);
        let r = table.swap(idx(hval), ip);
        let off = ip.wrapping_sub(r).wrapping_sub(1);
        if off < MAX_OFF && r > 0 && input.get(r..r + 3) == input.get(ip..ip + 3) {
            let maxlen = (in_end - ip - 2).min(MAX_REF);
            // First a conservative test, then the exact one.
            if out.op + 3 + 1 >= out_len && out.op - usize::from(lit == 0) + 3 + 1 >= out_len {
                return None;
            }
            out.stop_run(lit);
            out.op -= usize::from(lit == 0);
            let len = match_len(input, r, ip, maxlen) - 2;
            ip += 1;
            if len < 7 {
                out.push(((off >> 8) + (len << 5)) as u8);
            } else {
                out.push(((off >> 8) + (7 << 5)) as u8);
                out.push((len - 7) as u8);
            }
            out.push(off as u8);
            lit = 0;
            out.op += 1; // start run
            ip += len + 1;
            if ip + 2 >= in_end {
                break;
            }
            // VERY_FAST: rehash the last two positions of the match.
            ip -= 2;
            hval = (byte(ip) << 8) | byte(ip + 1);
            hval = (hval << 8) | byte(ip + 2);
            table.set(idx(hval), ip);
            ip += 1;
            hval = (hval << 8) | byte(ip + 2);
            table.set(idx(hval), ip);
            ip += 1;
        } else {
            if out.op >= out_len {
                return None;
            }
            lit += 1;
            out.push(input.get(ip).copied().unwrap_or(0));
            ip += 1;
            if lit == MAX_LIT {
                out.stop_run(lit);
                lit = 0;
                out.op += 1;
            }
        }
    }
    if out.op + 3 > out_len {
        return None;
    }
    while ip < in_end {
        lit += 1;
        out.push(input.get(ip).copied().unwrap_or(0));
        ip += 1;
        if lit == MAX_LIT {
            out.stop_run(lit);
            lit = 0;
            out.op += 1;
        }
    }
    out.stop_run(lit);
    out.op -= usize::from(lit == 0);
    out.buf.truncate(out.op);
    out.buf.resize(out.op, 0);
    Some(out.buf)
}

/// Largest expansion LZF allows: a 3-byte back reference produces 264 bytes.
const MAX_RATIO: usize = 88;

/// Decompress `input`, which must produce exactly `out_len` bytes (as Redis's loader
/// demands). `None` on corrupt input. Like Redis, an expected length of 0 accepts any input.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if out_len == 0 {
        return Some(Vec::new());
    }
    if out_len > input.len().saturating_mul(MAX_RATIO) {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = *input.get(ip)? as usize;
        ip += 1;
        if ctrl < (1 << 5) {
            let run = ctrl + 1;
            if out.len() + run > out_len {
                return None;
            }
            out.extend_from_slice(input.get(ip..ip + run)?);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip)? as usize;
                ip += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(ip)? as usize + 1;
            ip += 1;
            let len = len + 2;
            if out.len() + len > out_len {
                return None;
            }
            let start = out.len().checked_sub(back)?;
            // Overlapping copies repeat the pattern, byte by byte as in C.
            for i in start..start + len {
                let b = *out.get(i)?;
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's `rdbSaveLzfStringObject` asks for `len - 4` bytes at most.
    fn redis_compress(s: &[u8]) -> Option<Vec<u8>> {
        compress(s, s.len() - 4)
    }

    #[test]
    fn matches_redis_for_a_run() {
        // DUMP of a 65 x "a" string in redis-server 7.0.15:
        // \x00\xc3\x09\x40\x41 + "\x01aa\xe04\x00\x01aa"
        let s = vec![b'a'; 65];
        assert_eq!(
            redis_compress(&s).unwrap(),
            b"\x01aa\xe0\x34\x00\x01aa".to_vec()
        );
    }

    #[test]
    fn round_trips() {
        let mut seed = 7u64;
        for n in [1usize, 2, 3, 5, 21, 100, 1000, 70000] {
            for kind in 0..3 {
                let data: Vec<u8> = (0..n)
                    .map(|i| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        match kind {
                            0 => (seed >> 60) as u8,
                            1 => b"abcabcabd"[i % 9],
                            _ => (seed >> 33) as u8,
                        }
                    })
                    .collect();
                if let Some(c) = compress(&data, data.len() + 64) {
                    assert_eq!(decompress(&c, data.len()).unwrap(), data);
                }
            }
        }
    }

    #[test]
    fn incompressible_is_none() {
        let data: Vec<u8> = (0..=255u8).collect();
        assert!(redis_compress(&data).is_none());
    }

    #[test]
    fn corrupt_input_is_rejected() {
        assert!(decompress(b"\x05ab", 6).is_none()); // literal run past the input
        assert!(decompress(b"\x20\x05", 3).is_none()); // back reference before the start
        assert!(decompress(b"\x00a", 2).is_none()); // too short
        assert!(decompress(b"\x01ab", 1).is_none()); // too long
        assert!(decompress(b"\x00a", 1_000_000).is_none()); // absurd length
        assert_eq!(decompress(b"\x00a\x20\x00", 4).unwrap(), b"aaaa");
        assert_eq!(decompress(b"junk", 0).unwrap(), b"");
    }
}
