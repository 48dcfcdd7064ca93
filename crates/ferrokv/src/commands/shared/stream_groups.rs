//! Consumer-group steps that more than one place needs: the XREADGROUP read (new entries
//! with `>`, or a consumer's history) used by the `stream_groups` family and by serving
//! blocked readers (`commands/unblock.rs`); the AOF forms Redis propagates (XCLAIM ...
//! FORCE JUSTID LASTID, XGROUP SETID ... ENTRIESREAD, XGROUP CREATECONSUMER); Redis's
//! NOGROUP texts; and XINFO GROUPS / XINFO CONSUMERS, subcommands of the XINFO container
//! that the `streams` family declares.
//!
//! Delivery and activity times are wall-clock milliseconds (`util::now_ms`, Redis's
//! `mstime()`), not the command's clock: commands replayed from the AOF run with clock 0.

use crate::storage::ValueMut;
use resp::ReplyWriter;

use crate::commands::shared::stream_args::{write_entry, write_id};
use crate::commands::{class, CmdError, CmdResult, Ctx};
use crate::storage::db::DbView;
use crate::storage::stream::{PendingEntry, Stream, StreamId, SCG_INVALID_ENTRIES_READ};
use crate::util::now_ms;

/// What a blocked XREADGROUP gets when its group was destroyed meanwhile.
pub const ERR_BLOCKED_NOGROUP: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";
/// What a blocked XREADGROUP gets when its stream was deleted (or replaced by another
/// type) meanwhile (Redis 7.0).
pub const ERR_BLOCKED_DELETED: &str = "UNBLOCKED the stream key no longer exists";

/// Redis prints names with `%s`: up to a NUL byte, lossily as text here.
fn name(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// `NOGROUP No such key '<key>' or consumer group '<group>'` (XPENDING, XCLAIM,
/// XAUTOCLAIM), with `suffix` after it (XREADGROUP's " in XREADGROUP with GROUP option").
pub fn nogroup_key_or_group(key: &[u8], group: &[u8], suffix: &str) -> CmdError {
    CmdError::Msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'{}",
        name(key),
        name(group),
        suffix
    ))
}

/// `NOGROUP No such consumer group '<group>' for key name '<key>'` (XGROUP, XINFO).
pub fn nogroup_for_key(group: &[u8], key: &[u8]) -> CmdError {
    CmdError::Msg(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        name(group),
        name(key)
    ))
}

/// The stream at `key`: None when missing, WRONGTYPE for another type.
pub fn stream_mut<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
) -> Result<Option<&'v mut Stream>, CmdError> {
    match db.value(key)? {
        None => Ok(None),
        Some(ValueMut::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// An ID as the bytes of a command argument.
pub fn id_arg(id: StreamId) -> Vec<u8> {
    format!("{}-{}", id.ms, id.seq).into_bytes()
}

/// The XCLAIM Redis propagates for a pending entry (`streamPropagateXCLAIM`): it recreates
/// the entry with its owner, delivery time and count wherever it is replayed, and moves
/// the group's last ID forward to `last_id`.
pub fn xclaim_log(
    key: &[u8],
    group: &[u8],
    id: &[u8],
    p: &PendingEntry,
    last_id: StreamId,
) -> Vec<Vec<u8>> {
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        group.to_vec(),
        p.consumer.clone(),
        b"0".to_vec(),
        id.to_vec(),
        b"TIME".to_vec(),
        p.delivery_time.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        p.delivery_count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        id_arg(last_id),
    ]
}

/// The XGROUP SETID Redis propagates for a group's position (`streamPropagateGroupID`).
pub fn group_setid_log(
    key: &[u8],
    group: &[u8],
    last_id: StreamId,
    entries_read: i64,
) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        group.to_vec(),
        id_arg(last_id),
        b"ENTRIESREAD".to_vec(),
        entries_read.to_string().into_bytes(),
    ]
}

/// The XGROUP CREATECONSUMER Redis propagates when a NOACK read creates a consumer.
pub fn create_consumer_log(key: &[u8], group: &[u8], consumer: &[u8]) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"CREATECONSUMER".to_vec(),
        key.to_vec(),
        group.to_vec(),
        consumer.to_vec(),
    ]
}

/// One stream's part of an XREADGROUP.
pub struct GroupRead<'a> {
    /// The stream's key.
    pub key: &'a [u8],
    /// The group (known to exist).
    pub group: &'a [u8],
    /// The consumer (created when missing).
    pub consumer: &'a [u8],
    /// Most entries (0: no limit).
    pub count: u64,
    /// NOACK: deliver without pending entries.
    pub noack: bool,
}

/// Whether a `>` read of `group` has something to deliver now: the last live entry is
/// past the group's last delivered ID (`streamLastValidID` in Redis's XREADGROUP).
pub fn has_new_entries(s: &Stream, group: &[u8]) -> bool {
    match (s.edge_id(false), s.group(group)) {
        (Some(last), Some(g)) => last > g.last_id,
        _ => false,
    }
}

/// Create the consumer if missing (with its `xgroup-createconsumer` event), and mark it
/// seen now. Returns whether it was created.
fn touch_consumer(db: &mut DbView<'_, '_>, r: &GroupRead<'_>, now: i64) -> Result<bool, CmdError> {
    let created = match stream_mut(db, r.key)?.and_then(|s| s.group_mut(r.group)) {
        Some(g) => g.touch_consumer(r.consumer, now),
        None => return Err(CmdError::Internal("group vanished while reading")),
    };
    if created {
        db.notify(class::STREAM, "xgroup-createconsumer", r.key);
    }
    Ok(created)
}

/// Deliver the entries after the group's last delivered ID to `r.consumer` (XREADGROUP
/// with `>`, or a blocked reader being served): writes `[key, entries]` (the RESP2 pair
/// or the RESP3 map element) to `out`, moves the group's last ID and read counter entry by
/// entry, records a pending entry per delivery unless NOACK, and queues the AOF forms
/// Redis propagates. Returns the number of entries delivered.
pub fn deliver_new(
    db: &mut DbView<'_, '_>,
    r: &GroupRead<'_>,
    out: &mut ReplyWriter,
) -> Result<usize, CmdError> {
    let now = now_ms() as i64;
    let created = touch_consumer(db, r, now)?;
    let db_index = db.db;
    let mut log: Vec<Vec<Vec<u8>>> = Vec::new();
    if created && r.noack {
        log.push(create_consumer_log(r.key, r.group, r.consumer));
    }
    let Some(s) = stream_mut(db, r.key)? else {
        return Err(CmdError::Internal("stream vanished while reading"));
    };
    let start = s.group(r.group).and_then(|g| g.last_id.incr());
    // Write the entries while the stream is borrowed, remembering their IDs; the group is
    // updated after (nothing it reads changes meanwhile).
    let mut ids = Vec::new();
    if !out.resp3 {
        out.array(2);
    }
    out.bulk(r.key);
    if let Some(start) = start {
        let limit = if r.count == 0 {
            usize::MAX
        } else {
            r.count as usize
        };
        let entries: Vec<_> = s.range(start, StreamId::MAX, false).take(limit).collect();
        out.array(entries.len());
        for e in &entries {
            write_entry(out, e);
            ids.push(e.id);
        }
    } else {
        out.array(0);
    }
    let mut moved = false;
    for &id in &ids {
        moved |= s.advance_group(r.group, id);
        if r.noack {
            continue;
        }
        if let Some(g) = s.group_mut(r.group) {
            g.deliver(id, r.consumer, now);
            if let Some(p) = g.pel.get(&id) {
                log.push(xclaim_log(r.key, r.group, &id_arg(id), p, g.last_id));
            }
        }
    }
    // Redis 7.0 propagates the group's position only with NOACK (the XCLAIMs carry
    // LASTID, but not the read counter): without NOACK the SETID goes to the append-only
    // file only, so a reload restores the counter while the stream stays Redis's.
    let setid = if moved {
        s.group(r.group)
            .map(|g| group_setid_log(r.key, r.group, g.last_id, g.entries_read))
    } else {
        None
    };
    db.changed_unwatched();
    for cmd in log {
        db.locks.propagate_as(db_index, cmd);
    }
    if let Some(cmd) = setid {
        let target = if r.noack {
            db_index
        } else {
            db_index | crate::replication::AOF_ONLY
        };
        db.locks.propagate_as(target, cmd);
    }
    db.locks.log_atomically();
    Ok(ids.len())
}

/// A consumer's history (XREADGROUP with an ID): its pending entries after `after`, up to
/// `r.count`; each found entry counts as delivered again (time and count), an entry that
/// was deleted meanwhile shows as `[id, nil]`. Writes `[key, entries]` to `out`.
pub fn read_history(
    db: &mut DbView<'_, '_>,
    r: &GroupRead<'_>,
    after: StreamId,
    out: &mut ReplyWriter,
) -> Result<(), CmdError> {
    let now = now_ms() as i64;
    touch_consumer(db, r, now)?;
    let Some(s) = stream_mut(db, r.key)? else {
        return Err(CmdError::Internal("stream vanished while reading"));
    };
    // Redis increments the ID; the largest ID wraps to 0-0 (never reached: it means `>`).
    let start = after.incr().unwrap_or(StreamId::MIN);
    let limit = if r.count == 0 {
        usize::MAX
    } else {
        r.count as usize
    };
    let pending: Vec<StreamId> = s
        .group(r.group)
        .and_then(|g| g.consumers.get(r.consumer))
        .map(|c| c.pel.range(start..).take(limit).copied().collect())
        .unwrap_or_default();
    if !out.resp3 {
        out.array(2);
    }
    out.bulk(r.key);
    out.array(pending.len());
    let mut found = Vec::new();
    for &id in &pending {
        match s.get(id) {
            Some(e) => {
                write_entry(out, &e);
                found.push(id);
            }
            None => {
                out.array(2);
                write_id(out, id);
                out.null_array();
            }
        }
    }
    let mut log = Vec::new();
    if let Some(g) = s.group_mut(r.group) {
        for id in found {
            g.redeliver(id, now);
            if let Some(p) = g.pel.get(&id) {
                log.push(xclaim_log(r.key, r.group, &id_arg(id), p, g.last_id));
            }
        }
    }
    // Redis 7.0 logs nothing for a history read; the new delivery times and counts are
    // logged here (as XCLAIMs), so a restart keeps them.
    db.changed_unwatched();
    db.locks.propagate_nothing();
    let db_index = db.db;
    for cmd in log {
        db.locks.propagate_as(db_index, cmd);
    }
    db.locks.log_atomically();
    Ok(())
}

/// A blocked XREADGROUP whose stream key was signalled (new entries, or the group or the
/// key went away): the complete reply in the waiter's protocol, or None while it must
/// keep waiting. As Redis 7.0: `-UNBLOCKED ...` when the key is gone or holds another type,
/// `-NOGROUP ...` when the group was destroyed, else the entries after the group's last
/// delivered ID once the stream's last ID is past it.
pub fn serve_blocked_group(
    db: &mut DbView<'_, '_>,
    r: &GroupRead<'_>,
    resp3: bool,
) -> Option<Vec<u8>> {
    let mut out = ReplyWriter::new();
    out.resp3 = resp3;
    let ready = match db.value(r.key) {
        Ok(Some(ValueMut::Stream(s))) => match s.group(r.group) {
            Some(g) => Ok(s.last_id > g.last_id),
            None => Err(ERR_BLOCKED_NOGROUP),
        },
        _ => Err(ERR_BLOCKED_DELETED),
    };
    match ready {
        Ok(false) => return None,
        Ok(true) => {
            if resp3 {
                out.map(1);
            } else {
                out.array(1);
            }
            if let Err(e) = deliver_new(db, r, &mut out) {
                let mut err = ReplyWriter::new();
                err.resp3 = resp3;
                err.error(&e.message("xreadgroup"));
                return Some(err.buf);
            }
        }
        Err(text) => out.error(text),
    }
    Some(out.buf)
}

// ---------------------------------------------------------------------------------------
// XINFO GROUPS / XINFO CONSUMERS (listed by the XINFO container of the streams family)

/// The stream at `key` for XINFO: `ERR no such key` when missing.
fn info_stream<'v>(db: &'v mut DbView<'_, '_>, key: &[u8]) -> Result<&'v mut Stream, CmdError> {
    stream_mut(db, key)?.ok_or(CmdError::NoSuchKey)
}

/// XINFO GROUPS key: each group's name, consumers, pending, last-delivered-id,
/// entries-read (null when unknown) and lag (null when it cannot be computed).
pub fn xinfo_groups(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (mut db, out) = ctx.db_out();
    let s = info_stream(&mut db, args[2])?;
    out.array(s.groups.len());
    for (gname, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(gname);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        write_id(out, g.last_id);
        out.bulk(b"entries-read");
        if g.entries_read == SCG_INVALID_ENTRIES_READ {
            out.null();
        } else {
            out.int(g.entries_read);
        }
        out.bulk(b"lag");
        match s.group_lag(g) {
            Some(lag) => out.int(lag),
            None => out.null(),
        }
    }
    Ok(())
}

/// XINFO CONSUMERS key group: each consumer's name, pending count and idle time (ms since
/// it was last seen), as Redis 7.0 reports them.
pub fn xinfo_consumers(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group) = (args[2], args[3]);
    let (mut db, out) = ctx.db_out();
    let s = info_stream(&mut db, key)?;
    let g = s.group(group).ok_or_else(|| nogroup_for_key(group, key))?;
    let now = now_ms() as i64;
    out.array(g.consumers.len());
    for (cname, c) in &g.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(cname);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int((now - c.seen_time).max(0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(cmd: &[Vec<u8>]) -> String {
        cmd.iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The logged forms are the commands Redis propagates, argument for argument.
    #[test]
    fn aof_forms_are_redis_propagated_commands() {
        let p = PendingEntry {
            consumer: b"alice".to_vec(),
            delivery_time: 1_700_000_000_123,
            delivery_count: 3,
        };
        assert_eq!(
            words(&xclaim_log(b"s", b"g", b"5-1", &p, StreamId::new(9, 0))),
            "XCLAIM s g alice 0 5-1 TIME 1700000000123 RETRYCOUNT 3 FORCE JUSTID LASTID 9-0"
        );
        assert_eq!(
            words(&group_setid_log(b"s", b"g", StreamId::new(9, 2), -1)),
            "XGROUP SETID s g 9-2 ENTRIESREAD -1"
        );
        assert_eq!(
            words(&create_consumer_log(b"s", b"g", b"bob")),
            "XGROUP CREATECONSUMER s g bob"
        );
    }

    /// Names in NOGROUP errors stop at a NUL byte, as Redis's `%s` does.
    #[test]
    fn nogroup_texts() {
        assert_eq!(
            nogroup_key_or_group(b"k\0x", b"g", "").message(""),
            "NOGROUP No such key 'k' or consumer group 'g'"
        );
        assert_eq!(
            nogroup_for_key(b"g", b"k").message(""),
            "NOGROUP No such consumer group 'g' for key name 'k'"
        );
    }
}
