//! Byte buffers sized by jemalloc's size classes: a buffer's capacity is what the
//! allocator really holds, growth goes to the next class (a quarter more at most above
//! 128 bytes, so appends stay amortized O(1) without doubling's up-to-2x slack), and
//! removals give memory back. Redis reallocs its listpacks to the exact length, which
//! leaves the same slack: only the size class.

/// The jemalloc size class an allocation of `n` bytes gets (16-byte steps up to 128, then
/// four classes per doubling), so capacities match what the allocator really holds.
pub fn size_class(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => (n + 15) & !15,
        _ => {
            let p = usize::BITS - (n - 1).leading_zeros();
            let step = 1usize << (p - 3);
            n.saturating_add(step - 1) & !(step - 1)
        }
    }
}

/// Make room for `extra` more bytes, growing to the next size class.
#[inline]
pub fn grow(buf: &mut Vec<u8>, extra: usize) {
    let need = buf.len().saturating_add(extra);
    if need > buf.capacity() {
        buf.reserve_exact(size_class(need) - buf.len());
    }
}

/// Give memory back after removals (with some slack, so alternating push/pop at a class
/// boundary does not reallocate every time).
#[inline]
pub fn shrink(buf: &mut Vec<u8>) {
    let len = buf.len();
    if buf.capacity() > size_class(len + len / 4) {
        buf.shrink_to(size_class(len));
    }
}
