//! SORT and SORT_RO: sort a list, set or sorted set numerically or lexicographically, by
//! the element itself or by keys/hash fields named after it (BY pattern), return the element
//! or other keys (GET pattern), window with LIMIT, or STORE the result as a list. Follows
//! Redis's sort.c: option parsing before the type check, strtod scores, ties broken by the
//! element's bytes, LIMIT clamping, missing GET keys as nulls (empty strings when stored).
//! Comparisons use the C locale (byte order), as Redis does when started without a locale.

use crate::commands::dispatch::LockIds;
use crate::commands::{acl, class, flags, CmdError, CmdResult, Command, Ctx, LockScope};
use crate::storage::db::{lock_id, shard_of, DbView, SHARDS};
use crate::storage::list::{End, ListLimits, ListValue};
use crate::storage::Value;
use crate::storage::{StrRef, ValueMut, ValueRef};
use crate::util::eq_ic;

/// The SORT family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("sort", -2, flags::WRITE | flags::DENYOOM, sort)
        .keys(1, 1, 1)
        .keys_fn(sort_keys)
        .acl(acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS)
        .lock(LockScope::Custom(sort_locks)),
    Command::new("sort_ro", -2, flags::READONLY, sort_ro)
        .keys(1, 1, 1)
        .keys_fn(sort_ro_keys)
        .acl(acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS)
        .lock(LockScope::Custom(sort_locks)),
];

/// Parsed SORT options.
struct SortOptions<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    gets: Vec<&'a [u8]>,
}

impl SortOptions<'_> {
    /// BY with a constant pattern: keep the collection's own order.
    fn dont_sort(&self) -> bool {
        self.by.is_some_and(|p| !p.contains(&b'*'))
    }
}

/// Parse the options after the key, in Redis's order and with its errors (LIMIT's numbers
/// are checked where they appear; a word that fits nowhere is a syntax error).
fn parse_options<'a>(
    args: &[&'a [u8]],
    readonly: bool,
    full_key_access: bool,
) -> Result<SortOptions<'a>, CmdError> {
    let mut o = SortOptions {
        desc: false,
        alpha: false,
        limit: None,
        store: None,
        by: None,
        gets: Vec::new(),
    };
    let mut j = 2;
    while let Some(word) = args.get(j) {
        let left = args.len() - j - 1;
        if eq_ic(word, "asc") {
            o.desc = false;
        } else if eq_ic(word, "desc") {
            o.desc = true;
        } else if eq_ic(word, "alpha") {
            o.alpha = true;
        } else if eq_ic(word, "limit") && left >= 2 {
            let start = crate::commands::arg_i64(args[j + 1])?;
            let count = crate::commands::arg_i64(args[j + 2])?;
            o.limit = Some((start, count));
            j += 2;
        } else if !readonly && eq_ic(word, "store") && left >= 1 {
            o.store = Some(args[j + 1]);
            j += 1;
        } else if eq_ic(word, "by") && left >= 1 {
            // A pattern reads keys the ACL check did not see: Redis wants read access to
            // every key.
            if args[j + 1].contains(&b'*') && !full_key_access {
                return Err(CmdError::Static(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.by = Some(args[j + 1]);
            j += 1;
        } else if eq_ic(word, "get") && left >= 1 {
            if !full_key_access {
                return Err(CmdError::Static(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.gets.push(args[j + 1]);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// Key positions: the sorted key and STORE's destination (Redis's `sortGetKeys`).
fn sort_keys(args: &[&[u8]]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut j = 2;
    while j < args.len() {
        let word = args[j];
        if eq_ic(word, "limit") {
            j += 2;
        } else if eq_ic(word, "get") || eq_ic(word, "by") {
            j += 1;
        } else if eq_ic(word, "store") && j + 1 < args.len() {
            // Redis keeps the last STORE.
            keys.truncate(1);
            keys.push(j + 1);
            j += 1;
        }
        j += 1;
    }
    keys
}

/// SORT_RO has only the sorted key.
fn sort_ro_keys(_args: &[&[u8]]) -> Vec<usize> {
    vec![1]
}

/// A BY or GET pattern can name any key of the database: then the whole database is
/// locked; otherwise only the sorted key and the destination.
fn sort_locks(args: &[&[u8]], db: usize, _db_count: usize, ids: &mut LockIds) {
    let mut j = 2;
    let mut patterns = false;
    while j + 1 < args.len() {
        if eq_ic(args[j], "by") && args[j + 1].contains(&b'*') {
            patterns = true;
        }
        if eq_ic(args[j], "get") && args[j + 1] != b"#" {
            patterns = true;
        }
        j += 1;
    }
    if patterns {
        ids.extend((0..SHARDS).map(|s| lock_id(db, s)));
        return;
    }
    for pos in sort_keys(args) {
        if let Some(k) = args.get(pos) {
            ids.push(lock_id(db, shard_of(k)));
        }
    }
}

fn sort(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, args, true)
}

/// What a BY or GET pattern finds for one element.
enum Lookup {
    Missing,
    Int(i64),
    Bytes(Vec<u8>),
}

impl Lookup {
    fn into_bytes(self) -> Option<Vec<u8>> {
        match self {
            Lookup::Missing => None,
            Lookup::Int(n) => Some(n.to_string().into_bytes()),
            Lookup::Bytes(b) => Some(b),
        }
    }
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; the first `*` is replaced by
/// the element; `->field` after it reads a hash field. Only strings (or hash fields) count.
fn lookup_by_pattern(db: &mut DbView<'_, '_>, pattern: &[u8], elem: &[u8]) -> Lookup {
    if pattern == b"#" {
        return Lookup::Bytes(elem.to_vec());
    }
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return Lookup::Missing;
    };
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&i| i + 2 < after.len());
    let (suffix, field) = match arrow {
        Some(i) => (&after[..i], Some(&after[i + 2..])),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(suffix);
    match (db.read(&key), field) {
        (Ok(Some(ValueRef::Hash(h))), Some(f)) => h
            .get(f)
            .map_or(Lookup::Missing, |v| Lookup::Bytes(v.to_vec())),
        (Ok(Some(ValueRef::Str(StrRef::Int(n)))), None) => Lookup::Int(n),
        (Ok(Some(ValueRef::Str(s))), None) => Lookup::Bytes(s.to_vec()),
        _ => Lookup::Missing,
    }
}

/// The C string up to the first NUL byte (what `strtod`/`strcoll` see).
fn c_str(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

/// A sort weight as Redis computes it with `strtod`: the whole C string must be a number
/// (leading spaces allowed), not NaN, not out of range; the empty string is 0.
fn strtod_score(b: &[u8]) -> Option<f64> {
    let s = c_str(b);
    if s.is_empty() {
        return Some(0.0);
    }
    let trimmed = s.trim_ascii_start();
    let v = crate::commands::shared::longdouble::LongDouble::parse(trimmed)?.to_f64();
    (!v.is_nan()).then_some(v)
}

/// One element to sort with its weight.
struct Item {
    elem: Vec<u8>,
    score: f64,
    cmp: Option<Vec<u8>>,
}

fn sort_generic(ctx: &mut Ctx, args: &[&[u8]], readonly: bool) -> CmdResult {
    let full_key_access = crate::commands::acl_check::user_of(ctx.server, ctx.client)
        .key_allowed(b"*", crate::server::acl::selector::PERM_READ);
    let mut o = parse_options(args, readonly, full_key_access)?;
    let limits = ListLimits {
        max_listpack_size: ctx.server.config.list_max_listpack_size(),
    };
    let key = args[1];
    let in_script = ctx.client.in_script;
    let mut db = ctx.db();
    let mut dont_sort = o.dont_sort();
    let (mut elems, ordered) = match db.value(key)? {
        None => (Vec::new(), true),
        Some(ValueMut::List(l)) => {
            let mut v = Vec::with_capacity(l.len());
            l.for_each(|e| v.push(e.to_vec()));
            (v, true)
        }
        Some(ValueMut::Set(s)) => {
            let mut v = Vec::with_capacity(s.len());
            s.for_each(|e| v.push(e.to_vec()));
            (v, false)
        }
        Some(ValueMut::ZSet(z)) => {
            let mut v = Vec::with_capacity(z.len());
            z.for_each(|e, _| v.push(e.to_vec()));
            (v, true)
        }
        Some(_) => return Err(CmdError::WrongType),
    };
    // A set has no order of its own: when the result is stored, or goes to a script, it
    // is sorted lexicographically so it does not depend on the set's layout.
    if dont_sort && !ordered && (o.store.is_some() || in_script) {
        dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = elems.len() as i64;
    let (start, end) = limit_window(o.limit, len);

    let mut window: Vec<Vec<u8>> = if dont_sort {
        if o.desc && ordered {
            elems.reverse();
        }
        elems
            .into_iter()
            .skip(start as usize)
            .take((end - start + 1).max(0) as usize)
            .collect()
    } else {
        let mut items = Vec::with_capacity(elems.len());
        let mut conversion_error = false;
        for elem in elems {
            let mut item = Item {
                elem,
                score: 0.0,
                cmp: None,
            };
            let weight = match o.by {
                Some(p) => lookup_by_pattern(&mut db, p, &item.elem),
                None => Lookup::Bytes(item.elem.clone()),
            };
            if o.alpha {
                if o.by.is_some() {
                    item.cmp = weight.into_bytes();
                }
            } else {
                match weight {
                    Lookup::Missing => {}
                    Lookup::Int(n) => item.score = n as f64,
                    Lookup::Bytes(b) => match strtod_score(&b) {
                        Some(v) => item.score = v,
                        None => conversion_error = true,
                    },
                }
            }
            items.push(item);
        }
        if conversion_error {
            return Err(CmdError::Static(
                "ERR One or more scores can't be converted into double",
            ));
        }
        let (alpha, by, stored, desc) = (o.alpha, o.by.is_some(), o.store.is_some(), o.desc);
        items.sort_by(|a, b| {
            let c = compare_items(a, b, alpha, by, stored);
            if desc {
                c.reverse()
            } else {
                c
            }
        });
        items
            .into_iter()
            .skip(start as usize)
            .take((end - start + 1).max(0) as usize)
            .map(|i| i.elem)
            .collect()
    };

    let Some(dst) = o.store else {
        let out_len = window.len() * o.gets.len().max(1);
        let mut rows: Vec<Option<Vec<u8>>> = Vec::with_capacity(out_len);
        for elem in window.drain(..) {
            if o.gets.is_empty() {
                rows.push(Some(elem));
                continue;
            }
            for p in &o.gets {
                rows.push(lookup_by_pattern(&mut db, p, &elem).into_bytes());
            }
        }
        ctx.out.array(rows.len());
        for r in rows {
            match r {
                Some(b) => ctx.out.bulk(&b),
                None => ctx.out.null(),
            }
        }
        return Ok(());
    };

    let mut list = ListValue::new();
    for elem in window.drain(..) {
        if o.gets.is_empty() {
            list.push(End::Right, &elem, limits);
            continue;
        }
        for p in &o.gets {
            let v = lookup_by_pattern(&mut db, p, &elem)
                .into_bytes()
                .unwrap_or_default();
            list.push(End::Right, &v, limits);
        }
    }
    let stored = list.len();
    if stored > 0 {
        db.set(dst, Value::List(list))?;
        db.notify(class::LIST, "sortstore", dst);
        ctx.server.stats.dirty(stored.saturating_sub(1) as u64);
    } else if db.delete(dst)? {
        db.notify(class::GENERIC, "del", dst);
    }
    ctx.out.int(stored as i64);
    Ok(())
}

/// Redis's LIMIT clamping: returns the inclusive window `[start, end]` (empty when
/// `end < start`).
fn limit_window(limit: Option<(i64, i64)>, len: i64) -> (i64, i64) {
    let (limit_start, limit_count) = limit.unwrap_or((0, -1));
    let mut start = limit_start.max(0).min(len);
    let count = limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    (start.max(0), end)
}

/// `sortCompare` without the DESC flip.
fn compare_items(a: &Item, b: &Item, alpha: bool, by: bool, stored: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if !alpha {
        return match a.score.partial_cmp(&b.score) {
            Some(Ordering::Equal) | None => a.elem.cmp(&b.elem),
            Some(o) => o,
        };
    }
    let (x, y) = if by {
        match (&a.cmp, &b.cmp) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => (x.as_slice(), y.as_slice()),
        }
    } else {
        (a.elem.as_slice(), b.elem.as_slice())
    };
    // Stored results compare whole byte strings; replies use strcoll, which stops at NUL.
    if stored {
        x.cmp(y)
    } else {
        c_str(x).cmp(c_str(y))
    }
}
