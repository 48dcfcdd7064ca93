//! Stream argument parsing and replies shared by the stream families (`streams` and
//! `stream_groups`): IDs with Redis's error texts, range bounds, the XREAD/XREADGROUP
//! option block and its key finder, and writing entries (RESP2/RESP3).

use std::ops::Range;

use resp::ReplyWriter;

use crate::commands::CmdError;
use crate::storage::stream::{StreamEntry, StreamId};
use crate::util::{eq_ic, parse_canonical_i64};

/// Redis's text for an unparsable stream ID.
pub const ERR_INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
/// An exclusive start bound past the maximum ID.
pub const ERR_INVALID_START: &str = "ERR invalid start ID for the interval";
/// An exclusive end bound below 0-0.
pub const ERR_INVALID_END: &str = "ERR invalid end ID for the interval";

/// Parse an ID as `streamParseIDOrReply`: `-` is 0-0, `+` the maximum, `<ms>` takes
/// `missing_seq` as its sequence.
pub fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    match arg {
        b"-" => Ok(StreamId::MIN),
        b"+" => Ok(StreamId::MAX),
        _ => parse_strict_id(arg, missing_seq),
    }
}

/// Parse an ID as `streamParseStrictIDOrReply`: `-` and `+` are invalid.
pub fn parse_strict_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    StreamId::parse(arg, missing_seq)
        .map(|(id, _)| id)
        .ok_or(CmdError::Static(ERR_INVALID_ID))
}

/// Parse one bound of an interval (`streamParseIntervalIDOrReply`): `(` makes it
/// exclusive (and then `-`/`+` are invalid). Returns the ID and whether it is exclusive.
pub fn parse_interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    match arg.split_first() {
        Some((b'(', rest)) if !rest.is_empty() => Ok((parse_strict_id(rest, missing_seq)?, true)),
        _ => Ok((parse_id(arg, missing_seq)?, false)),
    }
}

/// XRANGE-style `start end` as inclusive IDs: an incomplete start takes sequence 0 and an
/// incomplete end the maximum; exclusive bounds step by one, with Redis's errors when
/// they cannot (the start checked before the end is parsed, as Redis does).
pub fn parse_range_bounds(start: &[u8], end: &[u8]) -> Result<(StreamId, StreamId), CmdError> {
    let (mut s, s_ex) = parse_interval_id(start, 0)?;
    if s_ex {
        s = s.incr().ok_or(CmdError::Static(ERR_INVALID_START))?;
    }
    let (mut e, e_ex) = parse_interval_id(end, u64::MAX)?;
    if e_ex {
        e = e.decr().ok_or(CmdError::Static(ERR_INVALID_END))?;
    }
    Ok((s, e))
}

/// Write one entry: `[id, [field, value, ...]]` (the same in RESP2 and RESP3).
pub fn write_entry(out: &mut ReplyWriter, e: &StreamEntry<'_>) {
    out.array(2);
    write_id(out, e.id);
    out.array(e.fields.len() * 2);
    for (f, v) in &e.fields {
        out.bulk(f);
        out.bulk(v);
    }
}

/// Write a list of entries.
pub fn write_entries(out: &mut ReplyWriter, entries: &[StreamEntry<'_>]) {
    out.array(entries.len());
    for e in entries {
        write_entry(out, e);
    }
}

/// Write an ID as a bulk string.
pub fn write_id(out: &mut ReplyWriter, id: StreamId) {
    out.bulk_fmt(format_args!("{}-{}", id.ms, id.seq));
}

/// Header of an XREAD/XREADGROUP result with `n` streams: a map in RESP3, an array in
/// RESP2. Follow with [`write_xread_stream`] for each stream.
pub fn write_xread_header(out: &mut ReplyWriter, n: usize) {
    if out.resp3 {
        out.map(n);
    } else {
        out.array(n);
    }
}

/// One `key -> entries` element of an XREAD/XREADGROUP result (after
/// [`write_xread_header`]).
pub fn write_xread_stream(out: &mut ReplyWriter, key: &[u8], entries: &[StreamEntry<'_>]) {
    if !out.resp3 {
        out.array(2);
    }
    out.bulk(key);
    write_entries(out, entries);
}

/// The options of XREAD / XREADGROUP before the keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XReadArgs<'a> {
    /// GROUP's group and consumer names (XREADGROUP).
    pub group: Option<(&'a [u8], &'a [u8])>,
    /// COUNT (0 = no limit; negative counts become 0 as in Redis).
    pub count: u64,
    /// BLOCK's timeout in ms (0 = forever), None without BLOCK.
    pub block_ms: Option<u64>,
    /// NOACK (XREADGROUP).
    pub noack: bool,
    /// Positions of the keys in the argument vector.
    pub keys: Range<usize>,
    /// Position of the first ID (the IDs follow the keys, one per key).
    pub ids_at: usize,
}

/// Parse XREAD's or XREADGROUP's options (`group` true for XREADGROUP) up to and
/// including STREAMS, with Redis's errors in Redis's order. `_cmd` (the command's name) is
/// not used: Redis 7.0's unbalanced-list error names XREAD for both commands.
/// `from_script` refuses BLOCK as Redis does for Lua.
pub fn parse_xread<'a>(
    args: &[&'a [u8]],
    group: bool,
    _cmd: &str,
    from_script: bool,
) -> Result<XReadArgs<'a>, CmdError> {
    let mut r = XReadArgs::default();
    let mut streams_at = None;
    let mut i = 1;
    while let Some(&o) = args.get(i) {
        let more = args.len() - i - 1;
        if eq_ic(o, "block") && more > 0 {
            if from_script {
                return Err(CmdError::Msg(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(args.first().copied().unwrap_or(b""))
                )));
            }
            i += 1;
            r.block_ms = Some(parse_ms_timeout(args[i])?);
        } else if eq_ic(o, "count") && more > 0 {
            i += 1;
            let n = parse_canonical_i64(args[i]).ok_or(CmdError::NotInteger)?;
            r.count = n.max(0) as u64;
        } else if eq_ic(o, "streams") && more > 0 {
            let first = i + 1;
            let n = args.len() - first;
            if !n.is_multiple_of(2) {
                // Redis 7.0.15 says XREAD and '$' for XREADGROUP too.
                return Err(CmdError::Static(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            streams_at = Some(first);
            r.keys = first..first + n / 2;
            r.ids_at = first + n / 2;
            break;
        } else if eq_ic(o, "group") && more >= 2 {
            if !group {
                return Err(CmdError::Static(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((args[i + 1], args[i + 2]));
            i += 2;
        } else if eq_ic(o, "noack") {
            if !group {
                return Err(CmdError::Static(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if streams_at.is_none() {
        return Err(CmdError::Syntax);
    }
    if group && r.group.is_none() {
        return Err(CmdError::Static("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// A timeout in milliseconds (`getTimeoutFromObjectOrReply` with UNIT_MILLISECONDS): an
/// integer, not negative. Returns the milliseconds (0 = forever).
pub fn parse_ms_timeout(arg: &[u8]) -> Result<u64, CmdError> {
    let n = parse_canonical_i64(arg).ok_or(CmdError::Static(
        "ERR timeout is not an integer or out of range",
    ))?;
    if n < 0 {
        return Err(CmdError::Static("ERR timeout is negative"));
    }
    Ok(n as u64)
}

/// Key positions of XREAD / XREADGROUP (Redis's `xreadGetKeys`): the first half of the
/// arguments after the STREAMS option; none on a syntax error.
pub fn xread_key_positions(args: &[&[u8]]) -> Vec<usize> {
    let mut i = 1;
    let mut streams = None;
    while let Some(&a) = args.get(i) {
        if eq_ic(a, "block") || eq_ic(a, "count") {
            i += 1;
        } else if eq_ic(a, "group") {
            i += 2;
        } else if eq_ic(a, "noack") {
        } else if eq_ic(a, "streams") {
            streams = Some(i);
            break;
        } else {
            break;
        }
        i += 1;
    }
    let Some(pos) = streams else {
        return Vec::new();
    };
    let num = args.len() - pos - 1;
    if num == 0 || !num.is_multiple_of(2) {
        return Vec::new();
    }
    (pos + 1..pos + 1 + num / 2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<&[u8]> {
        s.split(' ').map(str::as_bytes).collect()
    }

    #[test]
    fn bounds() {
        assert_eq!(
            parse_range_bounds(b"-", b"+").unwrap(),
            (StreamId::MIN, StreamId::MAX)
        );
        assert_eq!(
            parse_range_bounds(b"5", b"7").unwrap(),
            (StreamId::new(5, 0), StreamId::new(7, u64::MAX))
        );
        assert_eq!(
            parse_range_bounds(b"(5-1", b"(7-0").unwrap(),
            (StreamId::new(5, 2), StreamId::new(6, u64::MAX))
        );
        assert!(matches!(
            parse_range_bounds(b"(-", b"+"),
            Err(CmdError::Static(ERR_INVALID_ID))
        ));
        assert!(matches!(
            parse_range_bounds(b"(18446744073709551615-18446744073709551615", b"+"),
            Err(CmdError::Static(ERR_INVALID_START))
        ));
        assert!(matches!(
            parse_range_bounds(b"-", b"(0-0"),
            Err(CmdError::Static(ERR_INVALID_END))
        ));
        assert!(parse_id(b"(", 0).is_err());
        assert!(parse_strict_id(b"+", 0).is_err());
    }

    #[test]
    fn xread_options_and_keys() {
        let a = v("XREAD COUNT 2 BLOCK 10 STREAMS a b 0 $");
        let r = parse_xread(&a, false, "xread", false).unwrap();
        assert_eq!(r.count, 2);
        assert_eq!(r.block_ms, Some(10));
        assert_eq!(r.keys, 6..8);
        assert_eq!(r.ids_at, 8);
        assert_eq!(xread_key_positions(&a), vec![6, 7]);
        let a = v("XREADGROUP GROUP g c NOACK STREAMS s >");
        let r = parse_xread(&a, true, "xreadgroup", false).unwrap();
        assert_eq!(r.group, Some((&b"g"[..], &b"c"[..])));
        assert!(r.noack);
        assert_eq!(xread_key_positions(&a), vec![6]);
        assert!(matches!(
            parse_xread(&v("XREAD STREAMS a"), false, "xread", false),
            Err(CmdError::Static(_))
        ));
        assert!(parse_xread(&v("XREAD NOACK STREAMS a 0"), false, "xread", false).is_err());
        assert!(xread_key_positions(&v("XREAD STREAMS a")).is_empty());
    }

    #[test]
    fn entry_replies() {
        let mut out = ReplyWriter::new();
        let e = StreamEntry {
            id: StreamId::new(1, 2),
            fields: vec![(&b"f"[..], &b"v"[..])],
        };
        write_xread_header(&mut out, 1);
        write_xread_stream(&mut out, b"k", &[e]);
        assert_eq!(
            out.buf,
            b"*1\r\n*2\r\n$1\r\nk\r\n*1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
                .to_vec()
        );
    }
}
