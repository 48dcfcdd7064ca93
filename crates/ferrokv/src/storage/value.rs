//! Values stored in the keyspace and their encodings.

use std::ops::{Deref, DerefMut};

pub use super::hash::HashValue;
pub use super::list::{ListRef, ListValue};
pub use super::set::SetValue;
pub use super::stream::Stream;
pub use super::zset::{ZSetRef, ZSetValue};

/// Strings up to this many bytes are stored inside the entry (no separate allocation).
pub const INLINE_STR: usize = 38;

/// String bytes: short ones inline, longer ones in a heap `Vec`.
#[derive(Clone)]
pub enum StrBuf {
    /// At most [`INLINE_STR`] bytes stored in place.
    Inline {
        /// Used bytes.
        len: u8,
        /// Storage.
        buf: [u8; INLINE_STR],
    },
    /// Heap storage.
    Heap(Vec<u8>),
}

impl StrBuf {
    /// Copy bytes in, inline when they fit.
    pub fn from_slice(data: &[u8]) -> StrBuf {
        if data.len() <= INLINE_STR {
            let mut buf = [0u8; INLINE_STR];
            buf[..data.len()].copy_from_slice(data);
            StrBuf::Inline {
                len: data.len() as u8,
                buf,
            }
        } else {
            StrBuf::Heap(data.to_vec())
        }
    }

    /// Take a vector as is.
    pub fn from_vec(v: Vec<u8>) -> StrBuf {
        StrBuf::Heap(v)
    }

    /// The bytes as a growable vector (moving inline bytes to the heap first), for edits
    /// such as APPEND and SETRANGE.
    pub fn make_vec(&mut self) -> &mut Vec<u8> {
        if let StrBuf::Inline { len, buf } = self {
            let v = buf[..*len as usize].to_vec();
            *self = StrBuf::Heap(v);
        }
        match self {
            StrBuf::Heap(v) => v,
            StrBuf::Inline { .. } => unreachable!("converted to Heap above"),
        }
    }

    /// Heap bytes held (0 when inline).
    pub fn heap_capacity(&self) -> usize {
        match self {
            StrBuf::Inline { .. } => 0,
            StrBuf::Heap(v) => v.capacity(),
        }
    }
}

impl Deref for StrBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            StrBuf::Inline { len, buf } => &buf[..(*len as usize).min(INLINE_STR)],
            StrBuf::Heap(v) => v,
        }
    }
}

impl DerefMut for StrBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            StrBuf::Inline { len, buf } => &mut buf[..(*len as usize).min(INLINE_STR)],
            StrBuf::Heap(v) => v,
        }
    }
}

impl PartialEq for StrBuf {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for StrBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// A string value. Integers that Redis would store as `int` are kept as integers.
#[derive(Clone, Debug, PartialEq)]
pub enum StrValue {
    /// `OBJECT ENCODING` = `int`.
    Int(i64),
    /// `embstr` when `raw` is false and the length is at most 44, else `raw`.
    Bytes {
        /// The bytes.
        data: StrBuf,
        /// Modified in place or longer than the embstr limit.
        raw: bool,
    },
}

/// Strings that look like integers within this length become `int` encoded, as in Redis.
pub const MAX_INT_ENCODED_LEN: usize = 20;
/// Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT.
pub const EMBSTR_LIMIT: usize = 44;

impl StrValue {
    /// Build a value the way `SET` stores it: `int` when the bytes are a canonical integer.
    pub fn from_bytes(data: &[u8]) -> StrValue {
        if data.len() <= MAX_INT_ENCODED_LEN {
            if let Some(n) = crate::util::parse_canonical_i64(data) {
                return StrValue::Int(n);
            }
        }
        StrValue::Bytes {
            data: StrBuf::from_slice(data),
            raw: data.len() > EMBSTR_LIMIT,
        }
    }

    /// Owned bytes stored as `raw` (the result of APPEND, SETRANGE, SETBIT...).
    pub fn raw(data: Vec<u8>) -> StrValue {
        StrValue::Bytes {
            data: StrBuf::from_vec(data),
            raw: true,
        }
    }

    /// Owned bytes as Redis's `createStringObject` stores them: never `int`, `embstr` up to
    /// 44 bytes, else `raw` (INCRBYFLOAT's result, for instance).
    pub fn string_object(data: Vec<u8>) -> StrValue {
        let raw = data.len() > EMBSTR_LIMIT;
        let data = if data.len() <= INLINE_STR {
            StrBuf::from_slice(&data)
        } else {
            StrBuf::from_vec(data)
        };
        StrValue::Bytes { data, raw }
    }

    /// The value as Redis's `getLongLongFromObject` reads it: the integer itself, or the
    /// bytes when they are a canonical integer (`string2ll`).
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrValue::Int(n) => Some(*n),
            StrValue::Bytes { data, .. } => crate::util::parse_canonical_i64(data),
        }
    }

    /// The bytes, formatting an integer into `scratch` (no allocation). Useful when the
    /// bytes must stay borrowed while other work happens.
    #[inline]
    pub fn bytes<'a>(&'a self, scratch: &'a mut StackNum) -> &'a [u8] {
        match self {
            StrValue::Int(n) => {
                *scratch = itoa_stack(*n);
                scratch.as_slice()
            }
            StrValue::Bytes { data, .. } => data,
        }
    }

    /// The value's bytes (integers are formatted).
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            StrValue::Int(n) => n.to_string().into_bytes(),
            StrValue::Bytes { data, .. } => data.to_vec(),
        }
    }

    /// Call `f` with the bytes without allocating for the `Bytes` case.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            StrValue::Int(n) => {
                let mut buf = itoa_stack(*n);
                f(buf.as_slice())
            }
            StrValue::Bytes { data, .. } => f(data),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => itoa_stack(*n).as_slice().len(),
            StrValue::Bytes { data, .. } => data.len(),
        }
    }

    /// True when the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Turn the value into owned mutable bytes (for in-place edits), marking it `raw`.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if let StrValue::Int(n) = self {
            *self = StrValue::raw(n.to_string().into_bytes());
        }
        match self {
            StrValue::Bytes { data, raw } => {
                *raw = true;
                data.make_vec()
            }
            StrValue::Int(_) => unreachable!("converted above"),
        }
    }

    /// Redis's encoding name.
    pub fn encoding(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Bytes { data, raw } => {
                if !*raw && data.len() <= EMBSTR_LIMIT {
                    "embstr"
                } else {
                    "raw"
                }
            }
        }
    }
}

/// A small stack buffer holding a formatted i64.
#[derive(Clone, Copy, Debug, Default)]
pub struct StackNum {
    bytes: [u8; 20],
    start: usize,
}

impl StackNum {
    /// The digits.
    pub fn as_slice(&mut self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// Format an i64 without allocating.
pub fn itoa_stack(n: i64) -> StackNum {
    let mut bytes = [0u8; 20];
    let mut i = 20;
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        bytes[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        bytes[i] = b'-';
    }
    StackNum { bytes, start: i }
}

/// A value stored under a key.
#[derive(Clone, Debug)]
pub enum Value {
    /// Strings (and bitmaps).
    Str(StrValue),
    /// Hashes.
    Hash(HashValue),
    /// Lists.
    List(ListValue),
    /// Sets.
    Set(SetValue),
    /// Sorted sets.
    ZSet(ZSetValue),
    /// Streams (boxed: the stream's metadata would not fit the slab node).
    Stream(Box<Stream>),
}

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::List(l) => l.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Approximate heap bytes held by the value (for INFO memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(StrValue::Int(_)) => 0,
            Value::Str(StrValue::Bytes { data, .. }) => data.heap_capacity(),
            Value::Hash(h) => h.heap_size(),
            Value::List(l) => l.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => z.heap_size(),
            Value::Stream(s) => s.heap_size(),
        }
    }
}

/// A borrowed string value: what readers see, whether the string lives in a `StrValue` or
/// packed into a key record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StrRef<'a> {
    /// `OBJECT ENCODING` = `int`.
    Int(i64),
    /// The bytes; `raw` as in [`StrValue::Bytes`].
    Bytes {
        /// The bytes.
        data: &'a [u8],
        /// Modified in place or longer than the embstr limit.
        raw: bool,
    },
}

impl<'a> StrRef<'a> {
    /// See [`StrValue::as_i64`].
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            StrRef::Int(n) => Some(n),
            StrRef::Bytes { data, .. } => crate::util::parse_canonical_i64(data),
        }
    }

    /// The bytes, formatting an integer into `scratch` (no allocation).
    #[inline]
    pub fn bytes<'b>(&self, scratch: &'b mut StackNum) -> &'b [u8]
    where
        'a: 'b,
    {
        match *self {
            StrRef::Int(n) => {
                *scratch = itoa_stack(n);
                scratch.as_slice()
            }
            StrRef::Bytes { data, .. } => data,
        }
    }

    /// The value's bytes (integers are formatted).
    pub fn to_vec(&self) -> Vec<u8> {
        match *self {
            StrRef::Int(n) => n.to_string().into_bytes(),
            StrRef::Bytes { data, .. } => data.to_vec(),
        }
    }

    /// Call `f` with the bytes without allocating.
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            StrRef::Int(n) => {
                let mut buf = itoa_stack(n);
                f(buf.as_slice())
            }
            StrRef::Bytes { data, .. } => f(data),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match *self {
            StrRef::Int(n) => itoa_stack(n).as_slice().len(),
            StrRef::Bytes { data, .. } => data.len(),
        }
    }

    /// True when the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's encoding name.
    pub fn encoding(&self) -> &'static str {
        match *self {
            StrRef::Int(_) => "int",
            StrRef::Bytes { data, raw } => {
                if !raw && data.len() <= EMBSTR_LIMIT {
                    "embstr"
                } else {
                    "raw"
                }
            }
        }
    }

    /// An owned copy, with the same encoding.
    pub fn to_owned_value(&self) -> StrValue {
        match *self {
            StrRef::Int(n) => StrValue::Int(n),
            StrRef::Bytes { data, raw } => StrValue::Bytes {
                data: StrBuf::from_slice(data),
                raw,
            },
        }
    }

    /// Heap bytes an owned copy would hold (0 when it fits inline).
    pub fn heap_size(&self) -> usize {
        match *self {
            StrRef::Int(_) => 0,
            StrRef::Bytes { data, .. } if data.len() <= INLINE_STR => 0,
            StrRef::Bytes { data, .. } => data.len(),
        }
    }
}

impl StrValue {
    /// A borrowed view.
    #[inline]
    pub fn as_str_ref(&self) -> StrRef<'_> {
        match self {
            StrValue::Int(n) => StrRef::Int(*n),
            StrValue::Bytes { data, raw } => StrRef::Bytes { data, raw: *raw },
        }
    }
}

/// A borrowed value, as lookups hand it out ([`crate::storage::EntryRef::value`]).
#[derive(Clone, Copy, Debug)]
pub enum ValueRef<'a> {
    /// Strings (and bitmaps).
    Str(StrRef<'a>),
    /// Hashes.
    Hash(&'a HashValue),
    /// Lists.
    List(ListRef<'a>),
    /// Sets.
    Set(&'a SetValue),
    /// Sorted sets.
    ZSet(ZSetRef<'a>),
    /// Streams.
    Stream(&'a Stream),
}

impl ValueRef<'_> {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueRef::Str(_) => "string",
            ValueRef::Hash(_) => "hash",
            ValueRef::List(_) => "list",
            ValueRef::Set(_) => "set",
            ValueRef::ZSet(_) => "zset",
            ValueRef::Stream(_) => "stream",
        }
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        match self {
            ValueRef::Str(s) => s.encoding(),
            ValueRef::Hash(h) => h.encoding(),
            ValueRef::List(l) => l.encoding(),
            ValueRef::Set(s) => s.encoding(),
            ValueRef::ZSet(z) => z.encoding(),
            ValueRef::Stream(_) => "stream",
        }
    }

    /// Approximate heap bytes held by the value (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            ValueRef::Str(s) => s.heap_size(),
            ValueRef::Hash(h) => h.heap_size(),
            ValueRef::List(l) => l.heap_size(),
            ValueRef::Set(s) => s.heap_size(),
            ValueRef::ZSet(z) => z.heap_size(),
            ValueRef::Stream(s) => s.heap_size(),
        }
    }

    /// An owned copy (snapshot pre-images, COPY, RENAME's source...).
    pub fn to_owned_value(&self) -> Value {
        match *self {
            ValueRef::Str(s) => Value::Str(s.to_owned_value()),
            ValueRef::Hash(h) => Value::Hash(h.clone()),
            ValueRef::List(l) => Value::List(l.to_list()),
            ValueRef::Set(s) => Value::Set(s.clone()),
            ValueRef::ZSet(z) => Value::ZSet(z.to_zset()),
            ValueRef::Stream(s) => Value::Stream(Box::new(s.clone())),
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    #[inline]
    fn from(v: &'a Value) -> ValueRef<'a> {
        v.as_value_ref()
    }
}

impl Value {
    /// A borrowed view.
    #[inline]
    pub fn as_value_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Str(s) => ValueRef::Str(s.as_str_ref()),
            Value::Hash(h) => ValueRef::Hash(h),
            Value::List(l) => ValueRef::List(ListRef::Value(l)),
            Value::Set(s) => ValueRef::Set(s),
            Value::ZSet(z) => ValueRef::ZSet(ZSetRef::Value(z)),
            Value::Stream(s) => ValueRef::Stream(s),
        }
    }
}
