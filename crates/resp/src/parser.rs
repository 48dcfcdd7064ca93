//! Incremental request parser. Stateless: each call looks at the buffered bytes and returns
//! either one complete request (with how many bytes it used) or "need more". Bulk payloads are
//! never copied: arguments are returned as ranges into the caller's buffer.

use std::ops::Range;

use smallvec::SmallVec;

/// Where the parser puts a multibulk request's arguments: their positions in the buffer
/// (`Vec<Range<usize>>`) or the argument slices themselves (`SmallVec<[&[u8]; N]>`, what
/// a connection executes, so no second pass turns positions into slices).
pub trait ArgSink<'a> {
    /// Forget the previous request's arguments.
    fn clear(&mut self);
    /// Room for `n` arguments.
    fn reserve(&mut self, n: usize);
    /// The next argument: `range` of `buf` (always within it).
    fn push(&mut self, buf: &'a [u8], range: Range<usize>);
}

impl<'a> ArgSink<'a> for Vec<Range<usize>> {
    #[inline]
    fn clear(&mut self) {
        Vec::clear(self);
    }
    #[inline]
    fn reserve(&mut self, n: usize) {
        Vec::reserve(self, n);
    }
    #[inline]
    fn push(&mut self, _buf: &'a [u8], range: Range<usize>) {
        Vec::push(self, range);
    }
}

impl<'a, const N: usize> ArgSink<'a> for SmallVec<[&'a [u8]; N]> {
    #[inline]
    fn clear(&mut self) {
        SmallVec::clear(self);
    }
    #[inline]
    fn reserve(&mut self, n: usize) {
        SmallVec::reserve(self, n);
    }
    #[inline]
    fn push(&mut self, buf: &'a [u8], range: Range<usize>) {
        SmallVec::push(self, buf.get(range).unwrap_or_default());
    }
}

/// Size limits applied while parsing, mirroring redis-server's settings.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest bulk string accepted.
    pub max_bulk_len: u64,
    /// Largest multibulk element count accepted (Redis: INT_MAX).
    pub max_multibulk_len: u64,
    /// Longest inline request or count line without a newline (Redis: 64 KiB).
    pub max_inline_len: usize,
    /// When false the client has not authenticated yet and Redis's tighter limits apply.
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as u64,
            max_inline_len: 64 * 1024,
            authenticated: true,
        }
    }
}

/// A protocol error; the text follows `ERR Protocol error: ` in the reply, after which the
/// connection is closed (as redis-server does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

/// Where a parsed request's arguments are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// Multibulk request: the arguments are what the parser wrote into the caller's
    /// [`ArgSink`] (ranges into the parsed buffer, or its slices).
    Ranges,
    /// Inline request: arguments after unquoting, owned.
    Owned(Vec<Vec<u8>>),
}

/// Result of one parse step.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The buffer does not hold a complete request yet.
    Incomplete,
    /// A complete request that used `consumed` bytes. It may have no arguments (an empty
    /// inline line or `*0`), which the server ignores.
    Request { args: Args, consumed: usize },
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let hay = buf.get(from..)?;
    let mut i = 0;
    while let Some(pos) = hay
        .get(i..)
        .and_then(|h| h.iter().position(|&b| b == b'\r'))
    {
        let at = i + pos;
        match hay.get(at + 1) {
            Some(b'\n') => return Some(from + at),
            Some(_) => i = at + 1,
            None => return None,
        }
    }
    None
}

/// Parse a length line's decimal number. Like Redis's `string2ll`: optional `-`, digits, no
/// `+`, no leading zeros, no spaces, within i64.
fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] => return if neg { None } else { Some(0) },
        [b'0', ..] => return None,
        _ if digits.len() > 19 => return None,
        _ => {}
    }
    let mut v: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as i64)?;
    }
    Some(if neg { -v } else { v })
}

/// The common case of a length line: plain digits (no sign, no leading zero) then CRLF,
/// starting at `pos`. Returns the number and the position after the CRLF, or None when the
/// line is anything else (the caller then takes the general path, which also produces the
/// errors).
#[inline]
fn fast_length_line(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    // Most length lines have one or two digits ("*3", "$3", "$16"): no loop for them.
    if let Some(&[d, b'\r', b'\n']) = buf.get(pos..pos + 3) {
        if d.is_ascii_digit() {
            return Some((u64::from(d - b'0'), pos + 3));
        }
    }
    if let Some(&[d1, d2, b'\r', b'\n']) = buf.get(pos..pos + 4) {
        if (b'1'..=b'9').contains(&d1) && d2.is_ascii_digit() {
            return Some((u64::from(d1 - b'0') * 10 + u64::from(d2 - b'0'), pos + 4));
        }
    }
    let digits = buf.get(pos..)?;
    let mut v: u64 = 0;
    let mut i = 0;
    while let Some(&c) = digits.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v * 10 + d as u64;
        i += 1;
        if i > 18 {
            return None;
        }
    }
    if i == 0 || (i > 1 && digits[0] == b'0') {
        return None;
    }
    match (digits.get(i), digits.get(i + 1)) {
        (Some(b'\r'), Some(b'\n')) => Some((v, pos + i + 2)),
        _ => None,
    }
}

/// Parse one request from the start of `buf`. For multibulk requests the argument ranges are
/// written to `ranges` (cleared first), so a connection reuses one vector for every request.
pub fn parse_request<'a, S: ArgSink<'a>>(
    buf: &'a [u8],
    limits: &Limits,
    ranges: &mut S,
) -> Result<Parsed, ParseError> {
    ranges.clear();
    match buf.first() {
        None => Ok(Parsed::Incomplete),
        Some(b'*') => parse_multibulk(buf, limits, ranges),
        Some(_) => parse_inline(buf, limits),
    }
}

#[inline]
fn parse_multibulk<'a, S: ArgSink<'a>>(
    buf: &'a [u8],
    limits: &Limits,
    ranges: &mut S,
) -> Result<Parsed, ParseError> {
    if let Some((count, mut pos)) = fast_length_line(buf, 1) {
        if count <= limits.max_multibulk_len && (limits.authenticated || count <= 10) {
            if count == 0 {
                return Ok(Parsed::Request {
                    args: Args::Ranges,
                    consumed: pos,
                });
            }
            ranges.reserve(count.min(1024) as usize);
            for _ in 0..count {
                match buf.get(pos) {
                    None => return Ok(Parsed::Incomplete),
                    Some(b'$') => {}
                    Some(_) => return parse_multibulk_slow(buf, limits, ranges),
                }
                let Some((len, start)) = fast_length_line(buf, pos + 1) else {
                    return parse_multibulk_slow(buf, limits, ranges);
                };
                if len > limits.max_bulk_len || (!limits.authenticated && len > 16384) {
                    return parse_multibulk_slow(buf, limits, ranges);
                }
                let end = start + len as usize;
                if buf.len() < end + 2 {
                    return Ok(Parsed::Incomplete);
                }
                ranges.push(buf, start..end);
                pos = end + 2;
            }
            return Ok(Parsed::Request {
                args: Args::Ranges,
                consumed: pos,
            });
        }
    }
    parse_multibulk_slow(buf, limits, ranges)
}

/// The general multibulk path: any length line, Redis's error for each malformed one.
fn parse_multibulk_slow<'a, S: ArgSink<'a>>(
    buf: &'a [u8],
    limits: &Limits,
    ranges: &mut S,
) -> Result<Parsed, ParseError> {
    ranges.clear();
    let Some(eol) = find_crlf(buf, 1) else {
        if buf.len() > limits.max_inline_len {
            return Err(ParseError("too big mbulk count string".into()));
        }
        return Ok(Parsed::Incomplete);
    };
    let count = match parse_i64(&buf[1..eol]) {
        Some(n) if n <= 0 || (n as u64) <= limits.max_multibulk_len => n,
        _ => return Err(ParseError("invalid multibulk length".into())),
    };
    if !limits.authenticated && count > 10 {
        return Err(ParseError("unauthenticated multibulk length".into()));
    }
    let mut pos = eol + 2;
    if count <= 0 {
        return Ok(Parsed::Request {
            args: Args::Ranges,
            consumed: pos,
        });
    }
    ranges.reserve(count.min(1024) as usize);
    for _ in 0..count {
        let Some(&first) = buf.get(pos) else {
            return Ok(Parsed::Incomplete);
        };
        if first != b'$' {
            return Err(ParseError(format!("expected '$', got '{}'", first as char)));
        }
        let Some(eol) = find_crlf(buf, pos + 1) else {
            if buf.len() - pos > limits.max_inline_len {
                return Err(ParseError("too big bulk count string".into()));
            }
            return Ok(Parsed::Incomplete);
        };
        let len = match parse_i64(&buf[pos + 1..eol]) {
            Some(n) if n >= 0 && (n as u64) <= limits.max_bulk_len => n as usize,
            _ => return Err(ParseError("invalid bulk length".into())),
        };
        if !limits.authenticated && len > 16384 {
            return Err(ParseError("unauthenticated bulk length".into()));
        }
        let start = eol + 2;
        let end = start + len;
        if buf.len() < end + 2 {
            return Ok(Parsed::Incomplete);
        }
        ranges.push(buf, start..end);
        // Redis does not verify the CRLF after a bulk payload; it skips two bytes.
        pos = end + 2;
    }
    Ok(Parsed::Request {
        args: Args::Ranges,
        consumed: pos,
    })
}

fn parse_inline(buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_inline_len {
            return Err(ParseError("too big inline request".into()));
        }
        return Ok(Parsed::Incomplete);
    };
    let mut line = &buf[..nl];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    let args =
        split_inline_args(line).ok_or_else(|| ParseError("unbalanced quotes in request".into()))?;
    Ok(Parsed::Request {
        args: Args::Owned(args),
        consumed: nl + 1,
    })
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Split a line into arguments like Redis's `sdssplitargs`: spaces separate, `"..."` allows
/// `\n \r \t \b \a \\ \"` and `\xHH` escapes, `'...'` allows `\'`. Returns None on
/// unbalanced quotes or a closing quote not followed by a space.
pub fn split_inline_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && hex_val(line[i + 2]).is_some()
                    && hex_val(line[i + 3]).is_some()
                {
                    let hi = hex_val(line[i + 2]).unwrap_or(0);
                    let lo = hex_val(line[i + 3]).unwrap_or(0);
                    cur.push(hi * 16 + lo);
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<Parsed, ParseError> {
        parse_request(buf, &Limits::default(), &mut Vec::new())
    }

    fn args(buf: &[u8]) -> Vec<Vec<u8>> {
        let mut ranges = Vec::new();
        match parse_request(buf, &Limits::default(), &mut ranges).unwrap() {
            Parsed::Request {
                args: Args::Ranges, ..
            } => ranges.iter().map(|r| buf[r.clone()].to_vec()).collect(),
            Parsed::Request {
                args: Args::Owned(v),
                ..
            } => v,
            Parsed::Incomplete => panic!("incomplete"),
        }
    }

    #[test]
    fn fast_length_lines_agree_with_the_general_rule() {
        // The rule: plain digits, no sign, no leading zero, at most 18 digits, then CRLF.
        fn reference(line: &[u8]) -> Option<(u64, usize)> {
            let i = line.iter().take_while(|b| b.is_ascii_digit()).count();
            if i == 0 || i > 18 || (i > 1 && line[0] == b'0') || line.get(i..i + 2) != Some(b"\r\n")
            {
                return None;
            }
            std::str::from_utf8(&line[..i])
                .ok()?
                .parse()
                .ok()
                .map(|v| (v, i + 2))
        }
        let cases: &[&[u8]] = &[
            b"0\r\n",
            b"7\r\n",
            b"00\r\n",
            b"07\r\n",
            b"10\r\n",
            b"99\r\n",
            b"100\r\n",
            b"16\r\nxx",
            b"1\r",
            b"1\n\r",
            b"12\r",
            b"a\r\n",
            b"1a\r\n",
            b"\r\n",
            b"",
            b"123456789012345678\r\n",
            b"1234567890123456789\r\n",
            b"-1\r\n",
            b"+1\r\n",
        ];
        for line in cases {
            let mut buf = b"$".to_vec();
            buf.extend_from_slice(line);
            let want = reference(line).map(|(v, n)| (v, n + 1));
            assert_eq!(
                fast_length_line(&buf, 1),
                want,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn multibulk_complete_and_partial() {
        let req = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        assert_eq!(args(req), vec![b"GET".to_vec(), b"k".to_vec()]);
        for cut in 0..req.len() {
            assert_eq!(parse(&req[..cut]).unwrap(), Parsed::Incomplete);
        }
    }

    #[test]
    fn multibulk_errors_match_redis() {
        assert_eq!(
            parse(b"*x\r\n"),
            Err(ParseError("invalid multibulk length".into()))
        );
        assert_eq!(
            parse(b"*1\r\n+a\r\n"),
            Err(ParseError("expected '$', got '+'".into()))
        );
        assert_eq!(
            parse(b"*1\r\n$-1\r\n"),
            Err(ParseError("invalid bulk length".into()))
        );
        assert_eq!(
            parse(b"*1\r\n$600000000\r\n"),
            Err(ParseError("invalid bulk length".into()))
        );
    }

    #[test]
    fn fast_path_agrees_with_general_path() {
        let base: &[&[u8]] = &[
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            b"*1\r\n$0\r\n\r\n",
            b"*0\r\n",
            b"*01\r\n$1\r\na\r\n",
            b"*1\r\n$01\r\na\r\n",
            b"*-1\r\n",
            b"*1\r\n$-1\r\n",
            b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$3\r\nxyz\r\n",
            b"*1\r\n$99999999999999999999\r\n",
            b"*2\r\n$1\r\na\r\n+x\r\n",
        ];
        let limit_sets = [
            Limits::default(),
            Limits {
                authenticated: false,
                ..Limits::default()
            },
            Limits {
                max_bulk_len: 2,
                ..Limits::default()
            },
        ];
        for req in base {
            for cut in 0..=req.len() {
                for limits in &limit_sets {
                    let (mut r1, mut r2) = (Vec::new(), Vec::new());
                    let fast = parse_multibulk(&req[..cut], limits, &mut r1);
                    let slow = parse_multibulk_slow(&req[..cut], limits, &mut r2);
                    assert_eq!(fast, slow, "{:?} cut {}", String::from_utf8_lossy(req), cut);
                    if matches!(fast, Ok(Parsed::Request { .. })) {
                        assert_eq!(r1, r2);
                    }
                }
            }
        }
    }

    #[test]
    fn inline_quotes() {
        assert_eq!(
            args(b"set a \"b c\\x41\"\r\n"),
            vec![b"set".to_vec(), b"a".to_vec(), b"b cA".to_vec()]
        );
        assert_eq!(args(b"  \r\n"), Vec::<Vec<u8>>::new());
        assert!(parse(b"set \"a\r\n").is_err());
        assert!(parse(b"set \"a\"b\r\n").is_err());
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    /// Feed a long pipeline in chunks of many sizes, parsing like the server does (parse
    /// what is complete, keep the rest): every request comes out intact, none is an error.
    #[test]
    fn pipeline_split_at_any_point() {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for i in 0..3000 {
            let k = format!("key:{}", i);
            let v = format!("value:{}", i);
            for args in [
                vec!["SET".to_string(), k.clone(), v.clone()],
                vec!["GET".to_string(), k],
            ] {
                stream.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
                for a in &args {
                    stream.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
                }
                expected.push(args);
            }
        }
        for chunk in [1usize, 2, 3, 7, 13, 64, 1000, 4096, 16384] {
            let mut buf: Vec<u8> = Vec::new();
            let mut got = Vec::new();
            let mut ranges = Vec::new();
            for piece in stream.chunks(chunk) {
                buf.extend_from_slice(piece);
                let mut start = 0;
                loop {
                    match parse_request(&buf[start..], &Limits::default(), &mut ranges) {
                        Ok(Parsed::Incomplete) => break,
                        Ok(Parsed::Request {
                            args: Args::Ranges,
                            consumed,
                        }) => {
                            let b = &buf[start..];
                            got.push(
                                ranges
                                    .iter()
                                    .map(|r| String::from_utf8_lossy(&b[r.clone()]).into_owned())
                                    .collect::<Vec<_>>(),
                            );
                            start += consumed;
                        }
                        other => panic!("chunk {}: {:?}", chunk, other),
                    }
                }
                buf.drain(..start);
            }
            assert_eq!(got, expected, "chunk size {}", chunk);
        }
    }
}
