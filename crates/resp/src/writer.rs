//! Reply writer: renders replies straight into a connection's output buffer in the
//! connection's protocol (RESP2 or RESP3).

use std::io::Write;

/// Appends RESP replies to an output buffer.
#[derive(Debug, Default)]
pub struct ReplyWriter {
    /// The encoded bytes waiting to be written to the socket.
    pub buf: Vec<u8>,
    /// True when the connection negotiated RESP3 with HELLO 3.
    pub resp3: bool,
}

/// `prefix`, the decimal digits of `n`, CRLF (the itoa crate: two digits per step, no
/// zeroed scratch buffer; headers such as `$3` are on every reply).
#[inline]
fn push_int(buf: &mut Vec<u8>, prefix: u8, n: i64) {
    // Most headers (`$3`, `*2`, `:1`) have one or two digits: a fixed-size append each,
    // without formatting or a variable-length copy.
    if (0..10).contains(&n) {
        buf.extend_from_slice(&[prefix, b'0' + n as u8, b'\r', b'\n']);
    } else if (10..100).contains(&n) {
        let (tens, ones) = (n as u8 / 10, n as u8 % 10);
        buf.extend_from_slice(&[prefix, b'0' + tens, b'0' + ones, b'\r', b'\n']);
    } else {
        push_int_any(buf, prefix, n);
    }
}

/// [`push_int`] for any number.
fn push_int_any(buf: &mut Vec<u8>, prefix: u8, n: i64) {
    let mut digits = itoa::Buffer::new();
    let text = digits.format(n).as_bytes();
    buf.reserve(text.len() + 3);
    buf.push(prefix);
    buf.extend_from_slice(text);
    buf.extend_from_slice(b"\r\n");
}

/// Format a double the way Redis replies with it (`%.17g`, with `inf`/`-inf`/`nan`).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format_g17(d)
}

/// C's `%.17g`.
fn format_g17(d: f64) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.16e}", d);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", mant, sign, exp.abs())
    } else {
        let decimals = (16 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

impl ReplyWriter {
    /// A writer for a new RESP2 connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// `+OK`
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string (`+text`). The text must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error; `msg` is the full text without the leading `-` (e.g. `ERR syntax error`).
    /// CR/LF inside the message are replaced by spaces, as Redis does.
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// An error reply whose text holds raw bytes (Redis quotes a client's bytes as they
    /// are, e.g. in `ERR unknown command '\xff'`); CR and LF become spaces.
    pub fn error_bytes(&mut self, msg: &[u8]) {
        self.buf.push(b'-');
        for &b in msg {
            self.buf
                .push(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer.
    pub fn int(&mut self, n: i64) {
        push_int(&mut self.buf, b':', n);
    }

    /// A bulk string.
    pub fn bulk(&mut self, data: &[u8]) {
        // One reservation for the header, the data and the CRLF.
        self.buf.reserve(data.len() + 25);
        push_int(&mut self.buf, b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer rendered as a bulk string.
    pub fn bulk_int(&mut self, n: i64) {
        let mut digits = itoa::Buffer::new();
        self.bulk(digits.format(n).as_bytes());
    }

    /// The null reply for a missing bulk string (`$-1` / `_`).
    pub fn null(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }

    /// The null reply for a missing array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }

    /// Array header of `n` elements.
    pub fn array(&mut self, n: usize) {
        push_int(&mut self.buf, b'*', n as i64);
    }

    /// Map header of `n` key/value pairs (a flat array of 2n in RESP2).
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            push_int(&mut self.buf, b'%', n as i64);
        } else {
            push_int(&mut self.buf, b'*', 2 * n as i64);
        }
    }

    /// Set header of `n` elements (an array in RESP2).
    pub fn set(&mut self, n: usize) {
        push_int(
            &mut self.buf,
            if self.resp3 { b'~' } else { b'*' },
            n as i64,
        );
    }

    /// Push frame header (an array in RESP2).
    pub fn push(&mut self, n: usize) {
        push_int(
            &mut self.buf,
            if self.resp3 { b'>' } else { b'*' },
            n as i64,
        );
    }

    /// Attribute header (RESP3 only).
    pub fn attribute(&mut self, n: usize) {
        push_int(&mut self.buf, b'|', n as i64);
    }

    /// A double (`,` in RESP3, bulk string in RESP2), formatted like Redis's `addReplyDouble`.
    pub fn double(&mut self, d: f64) {
        let s = format_double(d);
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// A boolean (`#t`/`#f` in RESP3, `:1`/`:0` in RESP2).
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// A verbatim string (`=len\r\ntxt:...` in RESP3, bulk string in RESP2).
    pub fn verbatim(&mut self, data: &[u8], format: &str) {
        if self.resp3 {
            push_int(&mut self.buf, b'=', (data.len() + 4) as i64);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(data);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(data);
        }
    }

    /// A big number (`(` in RESP3, bulk string in RESP2).
    pub fn big_number(&mut self, digits: &str) {
        if self.resp3 {
            self.buf.push(b'(');
            self.buf.extend_from_slice(digits.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits.as_bytes());
        }
    }

    /// Append raw, already-encoded RESP bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Write formatted text as a bulk string.
    pub fn bulk_fmt(&mut self, args: std::fmt::Arguments<'_>) {
        let mut tmp = Vec::new();
        let _ = tmp.write_fmt(args);
        self.bulk(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_like_redis() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.0e-5), "1.0000000000000001e-05");
        assert_eq!(format_double(f64::INFINITY), "inf");
    }

    #[test]
    fn maps_in_both_protocols() {
        let mut w = ReplyWriter::new();
        w.map(1);
        w.null();
        assert_eq!(w.buf, b"*2\r\n$-1\r\n");
        let mut w = ReplyWriter {
            resp3: true,
            ..Default::default()
        };
        w.map(1);
        w.null();
        w.double(2.5);
        assert_eq!(w.buf, b"%1\r\n_\r\n,2.5\r\n");
    }

    #[test]
    fn integer_headers_at_every_digit_count() {
        for n in [
            i64::MIN,
            -100,
            -10,
            -1,
            0,
            1,
            9,
            10,
            42,
            99,
            100,
            12345,
            i64::MAX,
        ] {
            let mut buf = Vec::new();
            push_int(&mut buf, b':', n);
            assert_eq!(buf, format!(":{}\r\n", n).as_bytes(), "{}", n);
        }
    }
}
