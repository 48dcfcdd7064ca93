//! The geo family: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEOSEARCHSTORE, GEORADIUS,
//! GEORADIUSBYMEMBER and the read-only `_RO` forms.
//!
//! A geo set is a sorted set whose scores are 52-bit geohashes (`geo/hash.rs`); this file
//! follows Redis 7.0's `geo.c` for argument parsing, error texts and order, the search over
//! the nine cells around the centre, and reply formats (coordinates as `%.17Lf` trimmed,
//! distances as `%.4f`).

mod hash;

use crate::storage::{ValueMut, ZSetMut};
use std::cmp::Ordering;

use hash::{Shape, ShapeKind};

use crate::commands::{acl, arg_i64, class, flags, CmdError, CmdResult, Command, Ctx};
use crate::stats::Stats;
use crate::storage::zset::{ScoreRange, ZSetLimits, ZSetValue};
use crate::storage::{DbView, Value};
use crate::util::{eq_ic, parse_f64};

/// The geo family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("geoadd", -5, flags::WRITE | flags::DENYOOM, geoadd)
        .keys(1, 1, 1)
        .acl(acl::GEO),
    Command::new("geopos", -2, flags::READONLY, geopos)
        .keys(1, 1, 1)
        .acl(acl::GEO),
    Command::new("geodist", -4, flags::READONLY, geodist)
        .keys(1, 1, 1)
        .acl(acl::GEO),
    Command::new("geohash", -2, flags::READONLY, geohash)
        .keys(1, 1, 1)
        .acl(acl::GEO),
    Command::new("geosearch", -7, flags::READONLY, geosearch)
        .keys(1, 1, 1)
        .acl(acl::GEO),
    Command::new(
        "geosearchstore",
        -8,
        flags::WRITE | flags::DENYOOM,
        geosearchstore,
    )
    .keys(1, 2, 1)
    .acl(acl::GEO),
    Command::new("georadius", -6, flags::WRITE | flags::DENYOOM, georadius)
        .keys(1, 1, 1)
        .keys_fn(georadius_keys)
        .acl(acl::GEO),
    Command::new("georadius_ro", -6, flags::READONLY, georadius_ro)
        .keys(1, 1, 1)
        .acl(acl::GEO),
    Command::new(
        "georadiusbymember",
        -5,
        flags::WRITE | flags::DENYOOM,
        georadiusbymember,
    )
    .keys(1, 1, 1)
    .keys_fn(georadius_keys)
    .acl(acl::GEO),
    Command::new(
        "georadiusbymember_ro",
        -5,
        flags::READONLY,
        georadiusbymember_ro,
    )
    .keys(1, 1, 1)
    .acl(acl::GEO),
];

/// GEORADIUS/GEORADIUSBYMEMBER's keys: the source and the key after every STORE or
/// STOREDIST (what their key specs find; the last one is the one written).
fn georadius_keys(args: &[&[u8]]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut i = 5;
    while i < args.len() {
        if (eq_ic(args[i], "store") || eq_ic(args[i], "storedist")) && i + 1 < args.len() {
            keys.push(i + 1);
            i += 1;
        }
        i += 1;
    }
    keys
}

/// Look up a sorted set for reading (counts the keyspace hit or miss).
fn read_zset<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
    stats: &Stats,
) -> Result<Option<ZSetMut<'v>>, CmdError> {
    let v = db.value(key)?;
    stats.hit(v.is_some());
    match v {
        None => Ok(None),
        Some(ValueMut::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

fn limits(ctx: &Ctx) -> ZSetLimits {
    ZSetLimits {
        max_entries: ctx.server.config.zset_max_listpack_entries(),
        max_value: ctx.server.config.zset_max_listpack_value(),
    }
}

/// A coordinate as Redis's `addReplyHumanLongDouble` prints it: 17 decimals, trailing zeros
/// (and a trailing dot) removed, `-0` as `0`.
fn human_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// Reply with a coordinate (a bulk string in RESP2, a double in RESP3).
fn reply_coord(out: &mut resp::ReplyWriter, d: f64) {
    let s = human_double(d);
    if out.resp3 {
        out.raw(format!(",{s}\r\n").as_bytes());
    } else {
        out.bulk(s.as_bytes());
    }
}

/// Reply with a distance (`%.4f`, a bulk string in both protocols).
fn reply_distance(out: &mut resp::ReplyWriter, d: f64) {
    out.bulk(format!("{d:.4}").as_bytes());
}

/// Redis's `extractLongLatOrReply`.
fn parse_lonlat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let x = parse_f64(lon).ok_or(CmdError::NotFloat)?;
    let y = parse_f64(lat).ok_or(CmdError::NotFloat)?;
    if !(hash::LONG_MIN..=hash::LONG_MAX).contains(&x)
        || !(hash::LAT_MIN..=hash::LAT_MAX).contains(&y)
    {
        return Err(CmdError::Msg(format!(
            "ERR invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok((x, y))
}

/// Redis's `extractUnitOrReply`: meters per unit.
fn parse_unit(unit: &[u8]) -> Result<f64, CmdError> {
    match () {
        _ if eq_ic(unit, "m") => Ok(1.0),
        _ if eq_ic(unit, "km") => Ok(1000.0),
        _ if eq_ic(unit, "ft") => Ok(0.3048),
        _ if eq_ic(unit, "mi") => Ok(1609.34),
        _ => Err(CmdError::Static(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// Redis's `extractDistanceOrReply`: `radius unit`.
fn parse_radius(radius: &[u8], unit: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = parse_f64(radius).ok_or(CmdError::Static("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::Static("ERR radius cannot be negative"));
    }
    Ok((r, parse_unit(unit)?))
}

/// Redis's `extractBoxOrReply`: `width height unit`.
fn parse_box(args: &[&[u8]]) -> Result<(f64, f64, f64), CmdError> {
    let w = parse_f64(args[0]).ok_or(CmdError::Static("ERR need numeric width"))?;
    let h = parse_f64(args[1]).ok_or(CmdError::Static("ERR need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(CmdError::Static("ERR height or width cannot be negative"));
    }
    Ok((w, h, parse_unit(args[2])?))
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: ZADD with geohash scores (and
/// ZADD's keyspace event).
fn geoadd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut at = 2;
    while let Some(opt) = args.get(at) {
        match () {
            _ if eq_ic(opt, "nx") => nx = true,
            _ if eq_ic(opt, "xx") => xx = true,
            _ if eq_ic(opt, "ch") => ch = true,
            _ => break,
        }
        at += 1;
    }
    let triples = &args[at..];
    if !triples.len().is_multiple_of(3) || (xx && nx) || triples.is_empty() {
        return Err(CmdError::Syntax);
    }
    let mut points = Vec::with_capacity(triples.len() / 3);
    for t in triples.chunks_exact(3) {
        let (x, y) = parse_lonlat(t[0], t[1])?;
        points.push((hash::encode_score(x, y), t[2]));
    }
    let limits = limits(ctx);
    let (mut added, mut updated) = (0usize, 0usize);
    let mut db = ctx.db();
    let mut apply = |z: &mut ZSetValue| {
        for &(score, member) in &points {
            match z.score(member) {
                None if xx => {}
                None => {
                    z.insert(member, score, limits);
                    added += 1;
                }
                Some(_) if nx => {}
                #[allow(clippy::float_cmp)]
                Some(cur) if cur == score => {}
                Some(_) => {
                    z.insert(member, score, limits);
                    updated += 1;
                }
            }
        }
    };
    // The view ends with this statement (it borrows `db`).
    let existing = match db.value(key)? {
        None => false,
        Some(ValueMut::ZSet(mut z)) => {
            apply(&mut z);
            true
        }
        Some(_) => return Err(CmdError::WrongType),
    };
    match existing {
        true => {
            if added + updated > 0 {
                db.modified(key)?;
            }
        }
        false if xx => {}
        false => {
            let first_len = points.first().map_or(0, |p| p.1.len());
            let mut z = ZSetValue::for_new_key(first_len, limits);
            apply(&mut z);
            if !z.is_empty() {
                db.set(key, Value::ZSet(z))?;
            }
        }
    }
    ctx.server
        .stats
        .dirty((added + updated).saturating_sub(1) as u64);
    if added + updated > 0 {
        ctx.notify(class::ZSET, "zadd", key);
    }
    let n = if ch { added + updated } else { added };
    ctx.out.int(n as i64);
    Ok(())
}

/// GEOPOS key [member ...]
fn geopos(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let z = read_zset(&mut db, args[1], stats)?;
    out.array(args.len() - 2);
    for member in &args[2..] {
        match z.as_ref().and_then(|z| z.score(member)) {
            None => out.null_array(),
            Some(score) => {
                let (x, y) = hash::decode_score(score);
                out.array(2);
                reply_coord(out, x);
                reply_coord(out, y);
            }
        }
    }
    Ok(())
}

/// GEOHASH key [member ...]
fn geohash(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let z = read_zset(&mut db, args[1], stats)?;
    out.array(args.len() - 2);
    for member in &args[2..] {
        match z.as_ref().and_then(|z| z.score(member)) {
            None => out.null(),
            Some(score) => out.bulk(&hash::standard_geohash(score)),
        }
    }
    Ok(())
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
fn geodist(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let to_meter = match args.len() {
        5 => parse_unit(args[4])?,
        n if n > 5 => return Err(CmdError::Syntax),
        _ => 1.0,
    };
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(z) = read_zset(&mut db, args[1], stats)? else {
        out.null();
        return Ok(());
    };
    match (z.score(args[2]), z.score(args[3])) {
        (Some(s1), Some(s2)) => {
            let (a, b) = (hash::decode_score(s1), hash::decode_score(s2));
            reply_distance(out, hash::distance(a.0, a.1, b.0, b.1) / to_meter);
        }
        _ => out.null(),
    }
    Ok(())
}

/// Which command runs the search (Redis's `RADIUS_*`/`GEOSEARCH*` flags).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// GEORADIUS, GEORADIUS_RO.
    Coords,
    /// GEORADIUSBYMEMBER, GEORADIUSBYMEMBER_RO.
    Member,
    /// GEOSEARCH.
    Search,
    /// GEOSEARCHSTORE.
    SearchStore,
}

/// Result order.
#[derive(Clone, Copy, PartialEq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// One member found by a search.
struct Point {
    lon: f64,
    lat: f64,
    dist: f64,
    score: f64,
    member: Vec<u8>,
}

/// A parsed search request.
struct Request<'a> {
    shape: Option<Shape>,
    store: Option<&'a [u8]>,
    storedist: bool,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    count: i64,
}

/// Points of `z` inside `shape`, scanning the cells in Redis's order; stops at `limit` points
/// (0: no limit).
fn points_in_shape(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<Point> {
    let cells = hash::search_cells(shape);
    let mut found = Vec::new();
    let mut last_processed = 0usize;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Huge radii can make neighbours repeat the previous cell (Redis only compares with
        // a previous neighbour, never with the centre).
        if last_processed != 0 && *cell == cells[last_processed] {
            continue;
        }
        if limit != 0 && found.len() >= limit {
            break;
        }
        let (min, max) = cell.score_range();
        let range = ScoreRange {
            min: min as f64,
            max: max as f64,
            minex: false,
            maxex: true,
        };
        let (lo, hi) = z.score_range(&range);
        let mut done = false;
        z.for_range(lo, hi, false, &mut |member, score| {
            if done {
                return;
            }
            let (lon, lat) = hash::decode_score(score);
            if let Some(dist) = shape.contains(lon, lat) {
                found.push(Point {
                    lon,
                    lat,
                    dist,
                    score,
                    member: member.to_vec(),
                });
            }
            if limit != 0 && found.len() >= limit {
                done = true;
            }
        });
        last_processed = i;
    }
    found
}

/// `geoPoint` order by distance.
fn by_dist(a: &Point, b: &Point) -> Ordering {
    a.dist.partial_cmp(&b.dist).unwrap_or(Ordering::Equal)
}

/// Sort `v` enough that positions `0..=upto` hold the smallest elements in order: the
/// Bentley-McIlroy quicksort with Redis's `pqsort` pruning (sub-ranges that do not
/// intersect `0..=upto` are left unsorted). Equal elements end up where Redis puts them.
fn partial_sort<T>(v: &mut [T], upto: usize, cmp: fn(&T, &T) -> Ordering) {
    let (lrange, rrange) = (0usize, upto);
    if v.is_empty() {
        return;
    }
    let mut lo = 0usize;
    let mut n = v.len();
    loop {
        let a = lo;
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]).is_gt() {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c.is_gt() {
                    break;
                }
                if c.is_eq() {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[a]);
                if c.is_lt() {
                    break;
                }
                if c.is_eq() {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let overlaps = |first: usize, count: usize| {
            let last = first + count - 1;
            !((lrange < first && rrange < first) || (lrange > last && rrange > last))
        };
        let r = pb - pa;
        if r > 1 && overlaps(a, r) {
            partial_sort_range(v, a, r, rrange, cmp);
        }
        let r = pd - pc;
        if r > 1 {
            lo = pn - r;
            n = r;
            if overlaps(lo, n) {
                continue;
            }
        }
        return;
    }
}

/// [`partial_sort`] of `v[lo..lo + n]` keeping the original target range.
fn partial_sort_range<T>(
    v: &mut [T],
    lo: usize,
    n: usize,
    rrange: usize,
    cmp: fn(&T, &T) -> Ordering,
) {
    // The target range always starts at 0, before or at the sub-slice's start, so re-based
    // on the sub-slice only its end matters.
    if rrange < lo {
        return;
    }
    let sub = &mut v[lo..lo + n];
    partial_sort(sub, (rrange - lo).min(n - 1), cmp);
}

/// The median of three positions.
fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: fn(&T, &T) -> Ordering) -> usize {
    if cmp(&v[a], &v[b]).is_lt() {
        if cmp(&v[b], &v[c]).is_lt() {
            b
        } else if cmp(&v[a], &v[c]).is_lt() {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]).is_gt() {
        b
    } else if cmp(&v[a], &v[c]).is_lt() {
        a
    } else {
        c
    }
}

/// Swap `n` elements starting at `i` with those starting at `j`.
fn vecswap<T>(v: &mut [T], i: usize, j: usize, n: usize) {
    for k in 0..n {
        v.swap(i + k, j + k);
    }
}

/// Parse the options after `base` (Redis's `georadiusGeneric` loop). `z` is the source set
/// (FROMMEMBER reads its member's position from it).
fn parse_request<'a>(
    args: &[&'a [u8]],
    base: usize,
    kind: Kind,
    nostore: bool,
    z: Option<&ZSetValue>,
    mut shape: Option<Shape>,
) -> Result<Request<'a>, CmdError> {
    let search = matches!(kind, Kind::Search | Kind::SearchStore);
    let mut req = Request {
        shape: None,
        store: (kind == Kind::SearchStore).then(|| args[1]),
        storedist: false,
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        any: false,
        count: 0,
    };
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut center = shape.map(|s| s.xy);
    let rest = &args[base.min(args.len())..];
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i];
        let left = rest.len() - i - 1;
        if eq_ic(arg, "withdist") {
            req.withdist = true;
        } else if eq_ic(arg, "withhash") {
            req.withhash = true;
        } else if eq_ic(arg, "withcoord") {
            req.withcoord = true;
        } else if eq_ic(arg, "any") {
            req.any = true;
        } else if eq_ic(arg, "asc") {
            req.sort = Sort::Asc;
        } else if eq_ic(arg, "desc") {
            req.sort = Sort::Desc;
        } else if eq_ic(arg, "count") && left >= 1 {
            req.count = arg_i64(rest[i + 1])?;
            if req.count <= 0 {
                return Err(CmdError::Static("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (eq_ic(arg, "store") || eq_ic(arg, "storedist"))
            && left >= 1
            && !nostore
            && !search
        {
            req.store = Some(rest[i + 1]);
            req.storedist = eq_ic(arg, "storedist");
            i += 1;
        } else if eq_ic(arg, "storedist") && kind == Kind::SearchStore {
            req.storedist = true;
        } else if eq_ic(arg, "frommember") && left >= 1 && search && !fromloc {
            if let Some(z) = z {
                let score = z.score(rest[i + 1]).ok_or(CmdError::Static(
                    "ERR could not decode requested zset member",
                ))?;
                center = Some(hash::decode_score(score));
            }
            frommember = true;
            i += 1;
        } else if eq_ic(arg, "fromlonlat") && left >= 2 && search && !frommember {
            center = Some(parse_lonlat(rest[i + 1], rest[i + 2])?);
            fromloc = true;
            i += 2;
        } else if eq_ic(arg, "byradius") && left >= 2 && search && !bybox {
            let (r, conversion) = parse_radius(rest[i + 1], rest[i + 2])?;
            shape = Some(Shape {
                xy: (0.0, 0.0),
                conversion,
                kind: ShapeKind::Radius(r),
            });
            byradius = true;
            i += 2;
        } else if eq_ic(arg, "bybox") && left >= 3 && search && !byradius {
            let (w, h, conversion) = parse_box(&rest[i + 1..i + 4])?;
            shape = Some(Shape {
                xy: (0.0, 0.0),
                conversion,
                kind: ShapeKind::Box(w, h),
            });
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if req.store.is_some() && (req.withdist || req.withhash || req.withcoord) {
        return Err(CmdError::Msg(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if kind == Kind::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let cmd = String::from_utf8_lossy(args[0]);
    if search && !(frommember || fromloc) {
        return Err(CmdError::Msg(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {cmd}"
        )));
    }
    if search && !(byradius || bybox) {
        return Err(CmdError::Msg(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {cmd}"
        )));
    }
    if req.any && req.count == 0 {
        return Err(CmdError::Static(
            "ERR the ANY argument requires COUNT argument",
        ));
    }
    req.shape = match (shape, center) {
        (Some(mut s), Some(xy)) => {
            s.xy = xy;
            Some(s)
        }
        _ => None,
    };
    Ok(req)
}

/// Redis's `georadiusGeneric`: `src` is the source key's position, `base` where the options
/// start.
fn search_generic(ctx: &mut Ctx, args: &[&[u8]], kind: Kind, nostore: bool) -> CmdResult {
    let src = if kind == Kind::SearchStore { 2 } else { 1 };
    let stats = &ctx.server.stats;
    let limits = limits(ctx);
    let mut db = ctx.db();
    // The view borrows `db`: it ends once the points are found.
    let view = read_zset(&mut db, args[src], stats)?;
    let z: Option<&ZSetValue> = view.as_deref();
    // The centre and radius GEORADIUS & co take before the options.
    let (base, shape) = match kind {
        Kind::Coords => {
            let xy = parse_lonlat(args[2], args[3])?;
            let (r, conversion) = parse_radius(args[4], args[5])?;
            let s = Shape {
                xy,
                conversion,
                kind: ShapeKind::Radius(r),
            };
            (6, Some(s))
        }
        Kind::Member => match z {
            // Without a source the radius is not even parsed.
            None => (5, None),
            Some(z) => {
                let score = z.score(args[2]).ok_or(CmdError::Static(
                    "ERR could not decode requested zset member",
                ))?;
                let xy = hash::decode_score(score);
                let (r, conversion) = parse_radius(args[3], args[4])?;
                let s = Shape {
                    xy,
                    conversion,
                    kind: ShapeKind::Radius(r),
                };
                (5, Some(s))
            }
        },
        Kind::Search => (2, None),
        Kind::SearchStore => (3, None),
    };
    let mut req = parse_request(args, base, kind, nostore, z, shape)?;
    let (Some(z), Some(shape)) = (z, req.shape) else {
        drop(view);
        return match req.store {
            Some(dst) => {
                let mut db = ctx.db();
                if db.delete(dst)? {
                    db.notify(class::GENERIC, "del", dst);
                }
                ctx.out.int(0);
                Ok(())
            }
            None => {
                ctx.out.array(0);
                Ok(())
            }
        };
    };
    let count = usize::try_from(req.count).unwrap_or(usize::MAX);
    if count != 0 && req.sort == Sort::None && !req.any {
        req.sort = Sort::Asc;
    }
    let mut found = points_in_shape(z, &shape, if req.any { count } else { 0 });
    drop(view);
    if found.is_empty() && req.store.is_none() {
        ctx.out.array(0);
        return Ok(());
    }
    let returned = if count == 0 {
        found.len()
    } else {
        count.min(found.len())
    };
    let cmp: fn(&Point, &Point) -> Ordering = match req.sort {
        Sort::Asc => by_dist,
        _ => |a, b| by_dist(b, a),
    };
    if req.sort != Sort::None {
        // Redis sorts everything with libc's qsort (a stable merge sort in glibc) but a
        // COUNT-limited result with its own partial quicksort, whose order of equal
        // distances is visible.
        if returned == found.len() {
            found.sort_by(cmp);
        } else {
            partial_sort(&mut found, returned.saturating_sub(1), cmp);
        }
    }
    found.truncate(returned);
    for p in &mut found {
        p.dist /= shape.conversion;
    }
    match req.store {
        None => reply_points(ctx, &req, &found),
        Some(dst) => store_points(ctx, &req, dst, found, limits, kind),
    }
}

/// The search reply: members, or arrays of member and the WITH* fields.
fn reply_points(ctx: &mut Ctx, req: &Request, found: &[Point]) -> CmdResult {
    let out = &mut *ctx.out;
    let options =
        usize::from(req.withdist) + usize::from(req.withhash) + usize::from(req.withcoord);
    out.array(found.len());
    for p in found {
        if options > 0 {
            out.array(options + 1);
        }
        out.bulk(&p.member);
        if req.withdist {
            reply_distance(out, p.dist);
        }
        if req.withhash {
            out.int(p.score as i64);
        }
        if req.withcoord {
            out.array(2);
            reply_coord(out, p.lon);
            reply_coord(out, p.lat);
        }
    }
    Ok(())
}

/// STORE/STOREDIST/GEOSEARCHSTORE: the result replaces `dst` (deleted when empty).
fn store_points(
    ctx: &mut Ctx,
    req: &Request,
    dst: &[u8],
    found: Vec<Point>,
    limits: ZSetLimits,
    kind: Kind,
) -> CmdResult {
    let n = found.len();
    let mut entries: Vec<(Vec<u8>, f64)> = found
        .into_iter()
        .map(|p| (p.member, if req.storedist { p.dist } else { p.score }))
        .collect();
    entries.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    // A member found twice (a duplicated cell) is stored once, as the skiplist keeps one.
    entries.dedup_by(|a, b| a.0 == b.0);
    let mut db = ctx.db();
    if n > 0 {
        db.set(dst, Value::ZSet(ZSetValue::from_sorted(entries, limits)))?;
        let event = if kind == Kind::SearchStore {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        db.notify(class::ZSET, event, dst);
        db.stats.dirty(n as u64 - 1);
    } else if db.delete(dst)? {
        db.notify(class::GENERIC, "del", dst);
    }
    ctx.out.int(n as i64);
    Ok(())
}

/// GEOSEARCH key FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit [options]
fn geosearch(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search_generic(ctx, args, Kind::Search, true)
}

/// GEOSEARCHSTORE dst src ... [STOREDIST]
fn geosearchstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search_generic(ctx, args, Kind::SearchStore, false)
}

/// GEORADIUS key lon lat radius unit [options] [STORE k|STOREDIST k]
fn georadius(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search_generic(ctx, args, Kind::Coords, false)
}

/// GEORADIUS_RO key lon lat radius unit [options]
fn georadius_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search_generic(ctx, args, Kind::Coords, true)
}

/// GEORADIUSBYMEMBER key member radius unit [options] [STORE k|STOREDIST k]
fn georadiusbymember(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search_generic(ctx, args, Kind::Member, false)
}

/// GEORADIUSBYMEMBER_RO key member radius unit [options]
fn georadiusbymember_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    search_generic(ctx, args, Kind::Member, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_print_like_redis() {
        assert_eq!(human_double(13.361389338970184), "13.36138933897018433");
        assert_eq!(human_double(2.0), "2");
        assert_eq!(human_double(-0.0), "0");
    }

    #[test]
    fn partial_sort_orders_the_prefix() {
        let mut v: Vec<u32> = (0..200).map(|i| (i * 7919) % 211).collect();
        let mut all = v.clone();
        all.sort();
        partial_sort(&mut v, 9, |a, b| a.cmp(b));
        assert_eq!(&v[..10], &all[..10]);
    }

    #[test]
    fn store_key_positions() {
        let args: Vec<&[u8]> = vec![b"georadius", b"k", b"1", b"2", b"3", b"m", b"store", b"d"];
        assert_eq!(georadius_keys(&args), vec![1, 7]);
        let args: Vec<&[u8]> = vec![
            b"georadius",
            b"k",
            b"1",
            b"2",
            b"3",
            b"m",
            b"store",
            b"d",
            b"storedist",
            b"e",
        ];
        assert_eq!(georadius_keys(&args), vec![1, 7, 9]);
        let args: Vec<&[u8]> = vec![b"georadius", b"k", b"1", b"2", b"3", b"m", b"store"];
        assert_eq!(georadius_keys(&args), vec![1]);
    }
}
