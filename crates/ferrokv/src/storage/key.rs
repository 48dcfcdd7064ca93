//! Keys as stored in the key table: up to 15 bytes inline in 16 bytes, longer keys behind
//! one pointer. Most keys real applications use (`user:1234`, `session:ab12...`) are inline.

/// Inline key length 0..=15. A fieldless enum rather than `u8` so the compiler knows the
/// values 16..=255 are free and stores [`KeyBuf`]'s variant tag there: the whole key stays
/// 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Len15 {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
}

const LENS: [Len15; 16] = [
    Len15::L0,
    Len15::L1,
    Len15::L2,
    Len15::L3,
    Len15::L4,
    Len15::L5,
    Len15::L6,
    Len15::L7,
    Len15::L8,
    Len15::L9,
    Len15::L10,
    Len15::L11,
    Len15::L12,
    Len15::L13,
    Len15::L14,
    Len15::L15,
];

/// Longest key stored inline.
pub const INLINE_KEY: usize = 15;

/// A key: inline when short, else boxed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyBuf {
    /// Up to [`INLINE_KEY`] bytes in place.
    Inline {
        /// Used bytes.
        len: Len15,
        /// Storage.
        buf: [u8; INLINE_KEY],
    },
    /// Longer keys (a thin pointer, keeping the enum at 16 bytes).
    Heap(Box<Box<[u8]>>),
}

impl KeyBuf {
    /// Copy a key in.
    pub fn from_slice(key: &[u8]) -> KeyBuf {
        match LENS.get(key.len()) {
            Some(&len) => {
                let mut buf = [0u8; INLINE_KEY];
                buf[..key.len()].copy_from_slice(key);
                KeyBuf::Inline { len, buf }
            }
            None => KeyBuf::Heap(Box::new(key.into())),
        }
    }

    /// The key bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            KeyBuf::Inline { len, buf } => &buf[..(*len as usize).min(INLINE_KEY)],
            KeyBuf::Heap(b) => b,
        }
    }

    /// Heap bytes held beyond the 16 inline bytes.
    pub fn heap_size(&self) -> usize {
        match self {
            KeyBuf::Inline { .. } => 0,
            KeyBuf::Heap(b) => 16 + b.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bytes_and_round_trips() {
        assert_eq!(std::mem::size_of::<KeyBuf>(), 16);
        for n in [0usize, 1, 14, 15, 16, 100] {
            let k: Vec<u8> = (0..n as u8).collect();
            assert_eq!(KeyBuf::from_slice(&k).as_slice(), &k[..]);
        }
    }
}
