//! The HyperLogLog family: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.
//!
//! An HLL is a plain string value holding Redis's exact bytes (`storage/hll.rs`), so GET,
//! SET, DUMP/RESTORE and RDB files carry it unchanged between ferrokv and redis-server. This
//! file follows Redis 7.0's `hyperloglog.c` for validity checks, error texts, the cached
//! cardinality (PFCOUNT of one key writes it back), keyspace events and dirty counts.

use crate::commands::{acl, class, flags, CmdError, CmdResult, Command, Ctx};
use crate::storage::hll::{self, Corrupt};
use crate::storage::value::StrValue;
use crate::storage::{StrRef, Value, ValueMut, ValueRef};
use crate::util::eq_ic;

/// The HyperLogLog family's table.
pub static COMMANDS: &[Command] = &[
    Command::new(
        "pfadd",
        -2,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        pfadd,
    )
    .keys(1, 1, 1)
    .acl(acl::HYPERLOGLOG),
    Command::new("pfcount", -2, flags::READONLY, pfcount)
        .keys(1, -1, 1)
        .acl(acl::HYPERLOGLOG),
    Command::new("pfmerge", -2, flags::WRITE | flags::DENYOOM, pfmerge)
        .keys(1, -1, 1)
        .acl(acl::HYPERLOGLOG),
    Command::new(
        "pfdebug",
        3,
        flags::WRITE | flags::DENYOOM | flags::ADMIN,
        pfdebug,
    )
    .keys(2, 2, 1)
    .acl(acl::HYPERLOGLOG),
    Command::new("pfselftest", 1, flags::ADMIN, pfselftest).acl(acl::HYPERLOGLOG),
];

/// `-WRONGTYPE Key is not a valid HyperLogLog string value.`
const NOT_HLL: CmdError =
    CmdError::Static("WRONGTYPE Key is not a valid HyperLogLog string value.");
/// `-INVALIDOBJ Corrupted HLL object detected`
const CORRUPT: CmdError = CmdError::Static("INVALIDOBJ Corrupted HLL object detected");

impl From<Corrupt> for CmdError {
    fn from(_: Corrupt) -> CmdError {
        CORRUPT
    }
}

/// The HLL bytes of a value (Redis's `isHLLObjectOrReply`): strings only, not
/// integer-encoded, with a valid header.
fn hll_bytes(v: ValueRef<'_>) -> Result<&[u8], CmdError> {
    match v {
        ValueRef::Str(StrRef::Bytes { data, .. }) if hll::is_valid(data) => Ok(data),
        ValueRef::Str(_) => Err(NOT_HLL),
        _ => Err(CmdError::WrongType),
    }
}

/// The HLL bytes of a value for editing in place (checked first, then made a raw string as
/// Redis's `dbUnshareStringValue` does).
fn hll_bytes_mut(v: ValueMut<'_>) -> Result<&mut Vec<u8>, CmdError> {
    hll_bytes(v.as_ref())?;
    match v {
        ValueMut::Str(s) => Ok(s.into_raw()),
        _ => Err(CmdError::WrongType),
    }
}

/// PFADD key [element ...]
fn pfadd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let max_bytes = ctx.server.config.hll_sparse_max_bytes();
    let mut db = ctx.db();
    let mut updated = 0u64;
    let mut result = Ok(());
    // The view is turned into the string's bytes in the lookup (no value view left
    // alive across the arms).
    let found = db.value(key)?.map(hll_bytes_mut);
    match found {
        None => {
            let mut v = hll::new_sparse();
            updated += 1;
            for ele in &args[2..] {
                match hll::add(&mut v, ele, max_bytes) {
                    Ok(changed) => updated += u64::from(changed),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            hll::invalidate_cache(&mut v);
            db.set(key, Value::Str(StrValue::raw(v)))?;
        }
        Some(v) => {
            let v = v?;
            for ele in &args[2..] {
                match hll::add(v, ele, max_bytes) {
                    Ok(changed) => updated += u64::from(changed),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            if result.is_ok() && updated > 0 {
                hll::invalidate_cache(v);
                db.modified(key)?;
            }
        }
    }
    result?;
    if updated > 0 {
        db.stats.dirty(updated - 1);
        db.notify(class::STRING, "pfadd", key);
    }
    ctx.out.int(i64::from(updated > 0));
    Ok(())
}

/// PFCOUNT key [key ...]: one key answers from (and refreshes) its cached cardinality;
/// several keys estimate their union.
fn pfcount(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let mut db = ctx.db();
    if args.len() > 2 {
        let mut max = vec![0u8; hll::REGISTERS];
        for key in &args[1..] {
            let value = db.read(key)?;
            stats.hit(value.is_some());
            let Some(value) = value else {
                continue;
            };
            hll::merge_into(&mut max, hll_bytes(value)?)?;
        }
        ctx.out.int(hll::count_registers(&max) as i64);
        return Ok(());
    }
    let key = args[1];
    let value = db.value(key)?.map(hll_bytes_mut);
    stats.hit(value.is_some());
    let Some(v) = value else {
        ctx.out.int(0);
        return Ok(());
    };
    let v = v?;
    let card = match hll::cached(v) {
        Some(card) => card,
        None => {
            let card = hll::count(v)?;
            hll::set_cache(v, card);
            // The string changed: WATCH sees it and the command is propagated.
            db.modified(key)?;
            card
        }
    };
    ctx.out.int(card as i64);
    Ok(())
}

/// PFMERGE destkey [sourcekey ...]: the union of every key given (the destination
/// included) written into the destination.
fn pfmerge(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let max_bytes = ctx.server.config.hll_sparse_max_bytes();
    let mut db = ctx.db();
    let mut max = vec![0u8; hll::REGISTERS];
    let mut use_dense = false;
    for key in &args[1..] {
        let value = db.read(key)?;
        stats.hit(value.is_some());
        let Some(value) = value else {
            continue;
        };
        let v = hll_bytes(value)?;
        use_dense |= hll::encoding(v) == hll::DENSE;
        hll::merge_into(&mut max, v)?;
    }
    let write = |v: &mut Vec<u8>| -> Result<(), CmdError> {
        if use_dense {
            hll::sparse_to_dense(v)?;
        }
        for (i, &m) in max.iter().enumerate() {
            if m != 0 {
                // Failures cannot happen here: the value was checked while merging.
                let _ = hll::set_register(v, i, m, max_bytes);
            }
        }
        hll::invalidate_cache(v);
        Ok(())
    };
    let dst = args[1];
    let found = db.value(dst)?.map(hll_bytes_mut);
    match found {
        Some(v) => {
            write(v?)?;
            db.modified(dst)?;
        }
        None => {
            let mut v = hll::new_sparse();
            write(&mut v)?;
            db.set(dst, Value::Str(StrValue::raw(v)))?;
        }
    }
    db.notify(class::STRING, "pfadd", dst);
    ctx.out.ok();
    Ok(())
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
fn pfdebug(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let sub = args[1];
    let key = args[2];
    let (mut db, out) = ctx.db_out();
    let Some(value) = db.value(key)? else {
        return Err(CmdError::Static("ERR The specified key does not exist"));
    };
    let v = hll_bytes_mut(value)?;
    if eq_ic(sub, "getreg") {
        let converted = hll::encoding(v) == hll::SPARSE;
        hll::sparse_to_dense(v)?;
        let regs = v.get(hll::HDR_SIZE..).unwrap_or_default();
        out.array(hll::REGISTERS);
        for i in 0..hll::REGISTERS {
            out.int(i64::from(hll::dense_get(regs, i)));
        }
        if converted {
            forced_propagation(&mut db);
        }
    } else if eq_ic(sub, "decode") {
        if hll::encoding(v) != hll::SPARSE {
            return Err(CmdError::Static("ERR HLL encoding is not sparse"));
        }
        out.bulk(hll::decode_sparse(v).as_bytes());
    } else if eq_ic(sub, "encoding") {
        out.simple(if hll::encoding(v) == hll::DENSE {
            "dense"
        } else {
            "sparse"
        });
    } else if eq_ic(sub, "todense") {
        let converted = hll::encoding(v) == hll::SPARSE;
        hll::sparse_to_dense(v)?;
        out.int(i64::from(converted));
        if converted {
            forced_propagation(&mut db);
        }
    } else {
        return Err(CmdError::Msg(format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

/// A PFDEBUG encoding change: counted as a change so the command is propagated, but (as in
/// Redis) not signalled to WATCH.
fn forced_propagation(db: &mut crate::storage::DbView<'_, '_>) {
    db.stats.dirty(1);
    db.locks.note_change();
}

/// PFSELFTEST: checks the register packing, the sparse/dense agreement and the estimator's
/// error on a known sequence; replies OK or a TESTFAILED error.
fn pfselftest(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    match selftest() {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(why) => Err(CmdError::Msg(format!("ERR TESTFAILED {why}"))),
    }
}

fn selftest() -> Result<(), String> {
    let mut sparse = hll::new_sparse();
    let mut dense = hll::new_sparse();
    hll::sparse_to_dense(&mut dense).map_err(|_| "todense")?;
    let mut checkpoint = 1u64;
    for i in 1..=100_000u64 {
        let ele = i.to_le_bytes();
        let a = hll::add(&mut sparse, &ele, 3000).map_err(|_| "sparse add")?;
        let b = hll::add(&mut dense, &ele, usize::MAX).map_err(|_| "dense add")?;
        if a != b {
            return Err(format!("sparse and dense disagree at element {i}"));
        }
        if i == checkpoint {
            let (cs, cd) = (
                hll::count(&sparse).map_err(|_| "count")?,
                hll::count(&dense).map_err(|_| "count")?,
            );
            if cs != cd {
                return Err(format!("counts {cs} and {cd} differ at {i}"));
            }
            // 1.04/sqrt(16384) is about 0.81%; allow five standard errors.
            let err = (cd as f64 - i as f64).abs() / i as f64;
            if i >= 10 && err > 0.0406 {
                return Err(format!("error {err} too large at {i}"));
            }
            checkpoint *= 10;
        }
    }
    Ok(())
}
