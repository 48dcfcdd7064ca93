//! List steps shared by the list family and the blocking commands: typed lookup for writing
//! and the whole LMOVE step (LMOVE, RPOPLPUSH, BLMOVE, BRPOPLPUSH, and serving a blocked
//! BLMOVE).

use crate::commands::{class, CmdError, CmdResult};
use crate::storage::list::{End, ListLimits};
use crate::storage::{DbView, ListValue, Value};
use crate::storage::{ListEdit, ListMut, ValueMut};

/// The keyspace event of a pop at `end` (`lpop`/`rpop`).
pub fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

/// The keyspace event of a push at `end` (`lpush`/`rpush`).
pub fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// Look up a list for writing (no hit/miss accounting): None when the key is missing.
#[inline(always)]
pub fn write_list<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
) -> Result<Option<ListMut<'v>>, CmdError> {
    match db.value(key)? {
        None => Ok(None),
        Some(ValueMut::List(l)) => Ok(Some(l)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// WRONGTYPE if `dst` holds something other than a list (LMOVE checks it before popping).
pub fn check_move_target(db: &mut DbView<'_, '_>, dst: &[u8]) -> CmdResult {
    // A small list is not decoded to be checked.
    db.list_edit(dst).map(|_| ())
}

/// LMOVE's push step: push `value` at `to` of the list at `dst`, creating it if missing
/// (WRONGTYPE, and nothing changed, if `dst` holds another type). Signals `dst` and counts
/// the move as one dirty change.
pub fn lmove_push(
    db: &mut DbView<'_, '_>,
    dst: &[u8],
    value: &[u8],
    to: End,
    limits: ListLimits,
) -> CmdResult {
    // The list view is dropped (a small list written back to its record) before the
    // key is signalled.
    let pushed = match db.list_edit(dst)? {
        Some(ListEdit::Packed(p)) => {
            p.push(to, &[value], limits);
            true
        }
        Some(ListEdit::List(mut l)) => {
            l.push(to, value, limits);
            true
        }
        None => false,
    };
    if pushed {
        db.modified(dst)?;
    } else {
        let mut l = ListValue::new();
        l.push(to, value, limits);
        db.set(dst, Value::List(l))?;
    }
    db.notify(class::LIST, push_event(to), dst);
    Ok(())
}

/// After an element was popped from `src` by a move: delete `src` if its list is now empty
/// and signal it (WATCH), without another dirty count (Redis counts a move once).
pub fn settle_source(db: &mut DbView<'_, '_>, src: &[u8]) -> CmdResult {
    let empty = match db.list_edit(src) {
        Ok(l) => l.is_some_and(|l| l.is_empty()),
        Err(CmdError::WrongType) => false,
        Err(e) => return Err(e),
    };
    let shard = db.shard(src)?;
    if empty {
        shard.remove(src);
    }
    shard.touch_watched(src);
    db.locks.track_write(src, false);
    if empty {
        db.notify(class::GENERIC, "del", src);
    }
    Ok(())
}

/// Pop one element at `end` of `list` (a small list on its record's bytes).
pub fn pop_one(list: ListEdit<'_>, end: End) -> Option<Vec<u8>> {
    match list {
        ListEdit::Packed(p) => {
            let mut value = None;
            p.pop(end, 1, |e| value = Some(e.to_vec()));
            value
        }
        ListEdit::List(mut l) => l.pop(end),
    }
}

/// The whole LMOVE step: pop at `from` of `src`, push at `to` of `dst`, as Redis's
/// `lmoveGenericCommand` (source type, then destination type checked before popping;
/// `src == dst` rotates). Returns the moved element (the caller replies with it), or None
/// when `src` is missing.
pub fn move_element(
    db: &mut DbView<'_, '_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    limits: ListLimits,
) -> Result<Option<Vec<u8>>, CmdError> {
    if db.list_edit(src)?.is_none_or(|l| l.is_empty()) {
        return Ok(None);
    }
    check_move_target(db, dst)?;
    let Some(value) = db.list_edit(src)?.and_then(|l| pop_one(l, from)) else {
        return Ok(None);
    };
    lmove_push(db, dst, &value, to, limits)?;
    db.notify(class::LIST, pop_event(from), src);
    if src != dst {
        settle_source(db, src)?;
    }
    Ok(Some(value))
}
