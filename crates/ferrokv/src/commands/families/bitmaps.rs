//! The bitmap family: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
//! Bitmaps are strings; bit 0 is the most significant bit of the first byte. Semantics and
//! error texts follow Redis 7.0's `bitops.c`.

use crate::commands::{acl, arg, arg_i64, class, flags, CmdError, CmdResult, Command, Ctx};
use crate::storage::shard::Entry;
use crate::storage::value::StackNum;
use crate::storage::{DbView, StrValue, Value};
use crate::storage::{ValueMut, ValueRef};
use crate::util::{eq_ic, parse_canonical_i64};

/// The bitmap family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("setbit", 4, flags::WRITE | flags::DENYOOM, setbit)
        .keys(1, 1, 1)
        .acl(acl::BITMAP),
    Command::new("getbit", 3, flags::READONLY | flags::FAST, getbit)
        .keys(1, 1, 1)
        .acl(acl::BITMAP),
    Command::new("bitcount", -2, flags::READONLY, bitcount)
        .keys(1, 1, 1)
        .acl(acl::BITMAP),
    Command::new("bitpos", -3, flags::READONLY, bitpos)
        .keys(1, 1, 1)
        .acl(acl::BITMAP),
    Command::new("bitop", -4, flags::WRITE | flags::DENYOOM, bitop)
        .keys(2, -1, 1)
        .acl(acl::BITMAP),
    Command::new("bitfield", -2, flags::WRITE | flags::DENYOOM, bitfield)
        .keys(1, 1, 1)
        .acl(acl::BITMAP),
    Command::new(
        "bitfield_ro",
        -2,
        flags::READONLY | flags::FAST,
        bitfield_ro,
    )
    .keys(1, 1, 1)
    .acl(acl::BITMAP),
];

const BIT_OFFSET_ERR: CmdError =
    CmdError::Static("ERR bit offset is not an integer or out of range");

/// Redis's `getBitOffsetFromArgument`: a non-negative bit offset whose byte is below
/// proto-max-bulk-len. With `hash_bits` (BITFIELD), `#N` means `N * bits`.
fn bit_offset(arg: &[u8], hash_bits: u32, max_bulk: u64) -> Result<u64, CmdError> {
    let use_hash = hash_bits > 0 && arg.first() == Some(&b'#');
    let digits = if use_hash {
        arg.get(1..).unwrap_or_default()
    } else {
        arg
    };
    let mut off = parse_canonical_i64(digits).ok_or(BIT_OFFSET_ERR)?;
    if use_hash {
        // C multiplies without overflow checks; the sign test below catches most wraps.
        off = off.wrapping_mul(hash_bits as i64);
    }
    if off < 0 || (off as u64 >> 3) >= max_bulk {
        return Err(BIT_OFFSET_ERR);
    }
    Ok(off as u64)
}

/// Make `key` a raw string of at least `maxbit / 8 + 1` bytes for a bit write (Redis's
/// `lookupStringForBitCommand`). Returns whether the key was created or grew. A created
/// key is inserted without signalling: the caller signals when Redis would.
fn prepare_bit_write(db: &mut DbView, key: &[u8], maxbit: u64) -> Result<bool, CmdError> {
    let need = (maxbit >> 3) as usize + 1;
    match db.get(key)? {
        None => {
            let value = Value::Str(StrValue::raw(vec![0u8; need]));
            db.shard(key)?.insert(key, Entry::new(value));
            Ok(true)
        }
        Some(e) => {
            let Some(ValueMut::Str(s)) = e.into_value_mut() else {
                return Err(CmdError::WrongType);
            };
            let data = s.into_raw();
            if data.len() < need {
                data.resize(need, 0);
                return Ok(true);
            }
            Ok(false)
        }
    }
}

/// The raw bytes of a string key prepared by [`prepare_bit_write`].
fn raw_bytes<'d>(db: &'d mut DbView, key: &[u8]) -> Result<&'d mut Vec<u8>, CmdError> {
    match db.value(key)? {
        Some(ValueMut::Str(s)) => Ok(s.into_raw()),
        _ => Err(CmdError::Internal("bitmap vanished")),
    }
}

fn setbit(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let offset = bit_offset(args[2], 0, ctx.server.config.proto_max_bulk_len())?;
    const BIT_ERR: CmdError = CmdError::Static("ERR bit is not an integer or out of range");
    let on = parse_canonical_i64(args[3]).ok_or(BIT_ERR)?;
    if on & !1 != 0 {
        return Err(BIT_ERR);
    }
    let (mut db, out) = ctx.db_out();
    let dirty = prepare_bit_write(&mut db, key, offset)?;
    let data = raw_bytes(&mut db, key)?;
    let mask = 1u8 << (7 - (offset & 7));
    let Some(byte) = data.get_mut((offset >> 3) as usize) else {
        return Err(CmdError::Internal("bitmap shorter than its offset"));
    };
    let old = *byte & mask != 0;
    let changed = old != (on == 1);
    if changed {
        *byte ^= mask;
    }
    if dirty || changed {
        db.modified(key)?;
        db.notify(class::STRING, "setbit", key);
    }
    out.int(old as i64);
    Ok(())
}

fn getbit(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(args[2], 0, ctx.server.config.proto_max_bulk_len())?;
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let bit = match db.read(args[1])? {
        None => {
            stats.hit(false);
            false
        }
        Some(ValueRef::Str(s)) => {
            stats.hit(true);
            let mut scratch = StackNum::default();
            let bytes = s.bytes(&mut scratch);
            bytes
                .get((offset >> 3) as usize)
                .is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0)
        }
        Some(_) => return Err(CmdError::WrongType),
    };
    out.int(bit as i64);
    Ok(())
}

/// Number of set bits.
fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut n: u64 = chunks
        .by_ref()
        .map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_ne_bytes(w).count_ones() as u64
        })
        .sum();
    n += chunks
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum::<u64>();
    n
}

/// Is the range unit BIT (true) or BYTE (false)? Anything else is a syntax error.
fn range_unit(arg: &[u8]) -> Result<bool, CmdError> {
    if eq_ic(arg, "bit") {
        Ok(true)
    } else if eq_ic(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Edge masks of a bit range: bits of the first and last byte that lie outside it.
fn edge_masks(start: i64, end: i64) -> (u8, u8) {
    let first = !((1u16 << (8 - (start & 7))) - 1) as u8;
    let last = ((1u16 << (7 - (end & 7))) - 1) as u8;
    (first, last)
}

fn bitcount(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let s = match db.read(args[1])? {
        None => {
            stats.hit(false);
            out.int(0);
            return Ok(());
        }
        Some(ValueRef::Str(s)) => {
            stats.hit(true);
            s
        }
        Some(_) => return Err(CmdError::WrongType),
    };
    let mut scratch = StackNum::default();
    let p = s.bytes(&mut scratch);
    let strlen = p.len() as i64;
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    let (mut start, mut end);
    match args.len() {
        4 | 5 => {
            start = arg_i64(args[2])?;
            end = arg_i64(args[3])?;
            if start < 0 && end < 0 && start > end {
                out.int(0);
                return Ok(());
            }
            let is_bit = match args.get(4) {
                Some(unit) => range_unit(unit)?,
                None => false,
            };
            let total = if is_bit { strlen << 3 } else { strlen };
            if start < 0 {
                start += total;
            }
            if end < 0 {
                end += total;
            }
            start = start.max(0);
            end = end.max(0);
            if end >= total {
                end = total - 1;
            }
            if is_bit && start <= end {
                (first_mask, last_mask) = edge_masks(start, end);
                start >>= 3;
                end >>= 3;
            }
        }
        2 => {
            start = 0;
            end = strlen - 1;
        }
        _ => return Err(CmdError::Syntax),
    }
    if start > end {
        out.int(0);
        return Ok(());
    }
    let range = p.get(start as usize..=end as usize).unwrap_or_default();
    let mut count = popcount(range);
    // The edge bytes are inside the range, so their masked bits were counted above.
    let first = range.first().copied().unwrap_or(0);
    let last = range.last().copied().unwrap_or(0);
    count -= (first & first_mask).count_ones() as u64;
    count -= (last & last_mask).count_ones() as u64;
    out.int(count as i64);
    Ok(())
}

/// Position of the first bit equal to `bit` (Redis's `redisBitpos`): for clear bits the
/// string is taken as zero padded, so a full string of ones answers `len * 8`; for set bits
/// none found answers -1.
fn first_bit(p: &[u8], bit: bool) -> i64 {
    let skip: u8 = if bit { 0 } else { 0xff };
    let mut chunks = p.chunks_exact(8);
    let mut base = 0usize;
    for c in chunks.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let word = u64::from_be_bytes(w);
        let word = if bit { word } else { !word };
        if word != 0 {
            return (base * 8) as i64 + word.leading_zeros() as i64;
        }
        base += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b != skip {
            let v = if bit { b } else { !b };
            return ((base + i) * 8) as i64 + v.leading_zeros() as i64;
        }
    }
    if bit {
        -1
    } else {
        (p.len() * 8) as i64
    }
}

fn bitpos(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let bit = arg_i64(args[2])?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::Static("ERR The bit argument must be 1 or 0."));
    }
    let bit = bit == 1;
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let s = match db.read(args[1])? {
        None => {
            stats.hit(false);
            out.int(if bit { -1 } else { 0 });
            return Ok(());
        }
        Some(ValueRef::Str(s)) => {
            stats.hit(true);
            s
        }
        Some(_) => return Err(CmdError::WrongType),
    };
    let mut scratch = StackNum::default();
    let p = s.bytes(&mut scratch);
    let strlen = p.len() as i64;
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    let mut end_given = false;
    let (mut start, mut end);
    match args.len() {
        4..=6 => {
            start = arg_i64(args[3])?;
            let is_bit = match args.get(5) {
                Some(unit) => range_unit(unit)?,
                None => false,
            };
            if let Some(e) = args.get(4) {
                end = arg_i64(e)?;
                end_given = true;
            } else if is_bit {
                end = (strlen << 3) + 7;
            } else {
                end = strlen - 1;
            }
            let total = if is_bit { strlen << 3 } else { strlen };
            if start < 0 {
                start += total;
            }
            if end < 0 {
                end += total;
            }
            start = start.max(0);
            end = end.max(0);
            if end >= total {
                end = total - 1;
            }
            if is_bit && start <= end {
                (first_mask, last_mask) = edge_masks(start, end);
                start >>= 3;
                end >>= 3;
            }
        }
        3 => {
            start = 0;
            end = strlen - 1;
        }
        _ => return Err(CmdError::Syntax),
    }
    if start > end {
        out.int(-1);
        return Ok(());
    }
    let (pos, start, bytes) = bitpos_in_range(p, bit, start, end, first_mask, last_mask);
    if end_given && !bit && pos == bytes << 3 {
        out.int(-1);
        return Ok(());
    }
    out.int(if pos != -1 { pos + (start << 3) } else { pos });
    Ok(())
}

/// The search of BITPOS over bytes `start..=end` with edge masks, as Redis does it: the
/// first (partial) byte, the whole middle, then the (partial) last byte. Returns the
/// position relative to the returned start byte and the bytes left in the range there.
fn bitpos_in_range(
    p: &[u8],
    bit: bool,
    mut start: i64,
    end: i64,
    first_mask: u8,
    last_mask: u8,
) -> (i64, i64, i64) {
    let masked = |byte: u8, mask: u8| if bit { byte & !mask } else { byte | mask };
    let at = |i: i64| p.get(i as usize).copied().unwrap_or(0);
    let mut bytes = end - start + 1;
    if first_mask != 0 {
        let mut tmp = masked(at(start), first_mask);
        if last_mask != 0 && bytes == 1 {
            tmp = masked(tmp, last_mask);
        }
        let pos = first_bit(&[tmp], bit);
        if bytes == 1 || (pos != -1 && pos != 8) {
            return (pos, start, bytes);
        }
        start += 1;
        bytes -= 1;
    }
    let cur = bytes - if last_mask != 0 { 1 } else { 0 };
    if cur > 0 {
        let slice = p
            .get(start as usize..(start + cur) as usize)
            .unwrap_or_default();
        let pos = first_bit(slice, bit);
        if bytes == cur || (pos != -1 && pos != cur << 3) {
            return (pos, start, bytes);
        }
        start += cur;
        bytes -= cur;
    }
    let tmp = masked(at(end), last_mask);
    (first_bit(&[tmp], bit), start, bytes)
}

/// BITOP operations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let op = if eq_ic(args[1], "and") {
        BitOp::And
    } else if eq_ic(args[1], "or") {
        BitOp::Or
    } else if eq_ic(args[1], "xor") {
        BitOp::Xor
    } else if eq_ic(args[1], "not") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::Static(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let dest = args[2];
    let sources = args.get(3..).unwrap_or_default();
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    // First pass: types and lengths (no copies of the sources).
    let mut maxlen = 0usize;
    for key in sources {
        match db.read(key)? {
            None => stats.hit(false),
            Some(ValueRef::Str(s)) => {
                stats.hit(true);
                maxlen = maxlen.max(s.len());
            }
            Some(_) => return Err(CmdError::WrongType),
        }
    }
    if maxlen == 0 {
        if db.delete(dest)? {
            db.notify(class::GENERIC, "del", dest);
        }
        out.int(0);
        return Ok(());
    }
    // Second pass: fold each source into the result; missing bytes count as zero.
    let mut res = vec![0u8; maxlen];
    for (i, key) in sources.iter().enumerate() {
        let mut scratch = StackNum::default();
        let src: &[u8] = match db.read(key)? {
            Some(ValueRef::Str(s)) => s.bytes(&mut scratch),
            _ => &[],
        };
        if i == 0 {
            res.iter_mut().zip(src).for_each(|(r, s)| *r = *s);
            if op == BitOp::Not {
                res.iter_mut().for_each(|b| *b = !*b);
            }
            continue;
        }
        match op {
            BitOp::And => {
                for (j, r) in res.iter_mut().enumerate() {
                    *r &= src.get(j).copied().unwrap_or(0);
                }
            }
            BitOp::Or => res.iter_mut().zip(src).for_each(|(r, s)| *r |= s),
            BitOp::Xor => res.iter_mut().zip(src).for_each(|(r, s)| *r ^= s),
            BitOp::Not => {}
        }
    }
    db.set(dest, Value::Str(StrValue::raw(res)))?;
    db.notify(class::STRING, "set", dest);
    out.int(maxlen as i64);
    Ok(())
}

/// BITFIELD overflow behaviours.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// BITFIELD operations.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FieldOpKind {
    Get,
    Set,
    IncrBy,
}

/// One parsed BITFIELD operation.
#[derive(Clone, Copy, Debug)]
struct FieldOp {
    kind: FieldOpKind,
    offset: u64,
    value: i64,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

/// Redis's `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    const ERR: CmdError = CmdError::Static(
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
    );
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(ERR),
    };
    // C reads the digits as a NUL-terminated string.
    let rest = arg.get(1..).unwrap_or_default();
    let rest = rest.split(|&b| b == 0).next().unwrap_or_default();
    let bits = parse_canonical_i64(rest).ok_or(ERR)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(ERR);
    }
    Ok((signed, bits as u32))
}

/// Parse BITFIELD's operations; also returns the highest bit written (if any write).
fn parse_field_ops(args: &[&[u8]], max_bulk: u64) -> Result<(Vec<FieldOp>, Option<u64>), CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest: Option<u64> = None;
    let mut j = 2;
    while let Some(&sub) = args.get(j) {
        let remaining = args.len() - j - 1;
        let kind = if eq_ic(sub, "get") && remaining >= 2 {
            FieldOpKind::Get
        } else if eq_ic(sub, "set") && remaining >= 3 {
            FieldOpKind::Set
        } else if eq_ic(sub, "incrby") && remaining >= 3 {
            FieldOpKind::IncrBy
        } else if eq_ic(sub, "overflow") && remaining >= 1 {
            let name = arg(args, j + 1)?;
            overflow = if eq_ic(name, "wrap") {
                Overflow::Wrap
            } else if eq_ic(name, "sat") {
                Overflow::Sat
            } else if eq_ic(name, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::Static("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = field_type(arg(args, j + 1)?)?;
        let offset = bit_offset(arg(args, j + 2)?, bits, max_bulk)?;
        let mut value = 0;
        if kind != FieldOpKind::Get {
            let last = offset + bits as u64 - 1;
            highest = Some(highest.map_or(last, |h| h.max(last)));
            value = arg_i64(arg(args, j + 3)?)?;
        }
        ops.push(FieldOp {
            kind,
            offset,
            value,
            overflow,
            bits,
            signed,
        });
        j += if kind == FieldOpKind::Get { 3 } else { 4 };
    }
    Ok((ops, highest))
}

fn bitfield(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, args, false)
}

fn bitfield_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, args, true)
}

fn bitfield_generic(ctx: &mut Ctx, args: &[&[u8]], read_only: bool) -> CmdResult {
    let key = args[1];
    let (ops, highest) = parse_field_ops(args, ctx.server.config.proto_max_bulk_len())?;
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(highest) = highest else {
        // Only GETs: a read lookup; a missing key reads as zeros.
        let mut scratch = StackNum::default();
        let src: &[u8] = match db.read(key)? {
            None => {
                stats.hit(false);
                &[]
            }
            Some(ValueRef::Str(s)) => {
                stats.hit(true);
                s.bytes(&mut scratch)
            }
            Some(_) => return Err(CmdError::WrongType),
        };
        out.array(ops.len());
        for op in &ops {
            out.int(field_value(op, read_field(src, op.offset, op.bits)));
        }
        return Ok(());
    };
    if read_only {
        return Err(CmdError::Static(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let dirty = prepare_bit_write(&mut db, key, highest)?;
    let data = raw_bytes(&mut db, key)?;
    out.array(ops.len());
    let mut changes = 0u64;
    for op in &ops {
        let old = read_field(data, op.offset, op.bits);
        if op.kind == FieldOpKind::Get {
            out.int(field_value(op, old));
            continue;
        }
        let (new, overflowed) = if op.signed {
            signed_update(op, old)
        } else {
            unsigned_update(op, old)
        };
        if overflowed && op.overflow == Overflow::Fail {
            out.null();
            continue;
        }
        // SET answers the old value, INCRBY the new one.
        if op.kind == FieldOpKind::IncrBy {
            out.int(new as i64);
        } else {
            out.int(field_value(op, old));
        }
        write_field(data, op.offset, op.bits, new);
        let old_cmp = if op.signed {
            sign_extend(old, op.bits) as u64
        } else {
            old
        };
        if dirty || old_cmp != new {
            changes += 1;
        }
    }
    if changes > 0 {
        db.modified(key)?;
        db.stats.dirty(changes - 1);
        db.notify(class::STRING, "setbit", key);
    }
    Ok(())
}

/// A field's value as BITFIELD replies with it: signed fields are sign-extended.
fn field_value(op: &FieldOp, raw: u64) -> i64 {
    if op.signed {
        sign_extend(raw, op.bits)
    } else {
        raw as i64
    }
}

/// Read `bits` bits at bit `offset` (big-endian bit order); bytes past the end are zeros.
fn read_field(p: &[u8], offset: u64, bits: u32) -> u64 {
    let mut value = 0u64;
    for i in 0..bits as u64 {
        let pos = offset + i;
        let byte = p.get((pos >> 3) as usize).copied().unwrap_or(0);
        let bit = (byte >> (7 - (pos & 7))) & 1;
        value = (value << 1) | bit as u64;
    }
    value
}

/// Sign-extend a `bits`-wide two's complement value.
fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Write the low `bits` bits of `value` at bit `offset`; the bytes exist.
fn write_field(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..bits as u64 {
        let bit = (value >> (bits as u64 - 1 - i)) & 1;
        let pos = offset + i;
        if let Some(byte) = p.get_mut((pos >> 3) as usize) {
            let mask = 1u8 << (7 - (pos & 7));
            *byte = (*byte & !mask) | ((bit as u8) << (7 - (pos & 7)));
        }
    }
}

/// The new value of a signed SET/INCRBY (as stored, two's complement in 64 bits) and
/// whether it overflowed, per Redis's `checkSignedBitfieldOverflow`.
fn signed_update(op: &FieldOp, old_raw: u64) -> (u64, bool) {
    let old = sign_extend(old_raw, op.bits);
    let (value, incr) = match op.kind {
        FieldOpKind::IncrBy => (old, op.value),
        _ => (op.value, 0),
    };
    match check_signed_overflow(value, incr, op.bits, op.overflow) {
        Some(limit) => (limit as u64, true),
        None => (value.wrapping_add(incr) as u64, false),
    }
}

/// Same for unsigned fields (`checkUnsignedBitfieldOverflow`).
fn unsigned_update(op: &FieldOp, old: u64) -> (u64, bool) {
    let (value, incr) = match op.kind {
        FieldOpKind::IncrBy => (old, op.value),
        _ => (op.value as u64, 0),
    };
    match check_unsigned_overflow(value, incr, op.bits, op.overflow) {
        Some(limit) => (limit, true),
        None => (value.wrapping_add(incr as u64), false),
    }
}

/// `Some(result)` when `value + incr` does not fit `bits` unsigned bits: the wrapped or
/// saturated value (FAIL callers ignore it).
fn check_unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || {
        let mask = if bits == 64 { 0 } else { u64::MAX << bits };
        value.wrapping_add(incr as u64) & !mask
    };
    if value > max || (incr > 0 && incr > maxincr) {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => max,
        })
    } else if incr < 0 && incr < minincr {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => 0,
        })
    } else {
        None
    }
}

/// `Some(result)` when `value + incr` does not fit `bits` signed bits.
fn check_signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => max,
        })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => min,
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitpos_scan() {
        assert_eq!(first_bit(&[0, 0, 0x10], true), 19);
        assert_eq!(first_bit(&[0xff; 9], false), 72);
        assert_eq!(first_bit(&[0; 9], true), -1);
        assert_eq!(first_bit(&[], false), 0);
        assert_eq!(
            first_bit(
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
                false
            ),
            71
        );
    }

    #[test]
    fn fields_round_trip() {
        let mut p = vec![0u8; 2];
        write_field(&mut p, 7, 5, 23);
        assert_eq!(p, vec![0b0000_0001, 0b0111_0000]);
        assert_eq!(read_field(&p, 7, 5), 23);
        assert_eq!(sign_extend(read_field(&[0xff], 0, 8), 8), -1);
    }

    #[test]
    fn overflow_rules() {
        assert_eq!(check_unsigned_overflow(255, 1, 8, Overflow::Wrap), Some(0));
        assert_eq!(check_unsigned_overflow(255, 1, 8, Overflow::Sat), Some(255));
        assert_eq!(check_unsigned_overflow(0, -1, 8, Overflow::Sat), Some(0));
        assert_eq!(check_signed_overflow(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(
            check_signed_overflow(-128, -1, 8, Overflow::Sat),
            Some(-128)
        );
        assert_eq!(
            check_signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(check_signed_overflow(5, 1, 8, Overflow::Wrap), None);
    }

    #[test]
    fn counting_and_masks() {
        assert_eq!(popcount(b"foobar"), 26);
        assert_eq!(popcount(&[0xff; 17]), 136);
        assert_eq!(popcount(&[]), 0);
        // Bits 3..=12: the first byte loses bits 0-2, the last byte bits 13-15.
        assert_eq!(edge_masks(3, 12), (0b1110_0000, 0b0000_0111));
        assert_eq!(edge_masks(8, 15), (0, 0));
    }

    #[test]
    fn bitpos_ranges() {
        let p = [0xff, 0xf0, 0x00];
        // Whole bytes 1..=2, looking for a clear bit: bit 4 of byte 1.
        assert_eq!(bitpos_in_range(&p, false, 1, 2, 0, 0), (4, 1, 2));
        // Bits 7..=15 looking for a set bit: bit 7 of byte 0 (relative position 7).
        let (first, last) = edge_masks(7, 15);
        assert_eq!(bitpos_in_range(&p, true, 0, 1, first, last), (7, 0, 2));
        // Bits 12..=23 have no set bit.
        let (first, last) = edge_masks(12, 23);
        assert_eq!(bitpos_in_range(&p, true, 1, 2, first, last).0, -1);
    }

    #[test]
    fn field_types() {
        assert_eq!(field_type(b"i64"), Ok((true, 64)));
        assert_eq!(field_type(b"u63"), Ok((false, 63)));
        assert_eq!(field_type(b"u1"), Ok((false, 1)));
        assert_eq!(field_type(b"u8\0junk"), Ok((false, 8)));
        for bad in [
            &b"u64"[..],
            b"i65",
            b"u0",
            b"i",
            b"",
            b"x8",
            b"U8",
            b"u08",
            b"u-1",
        ] {
            assert!(field_type(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(bit_offset(b"#2", 8, 1 << 29), Ok(16));
        assert!(bit_offset(b"#2", 0, 1 << 29).is_err());
        assert!(bit_offset(b"-1", 0, 1 << 29).is_err());
        assert!(bit_offset(b"4294967296", 0, 1 << 29).is_err());
        assert_eq!(bit_offset(b"4294967295", 0, 1 << 29), Ok(4294967295));
    }
}
