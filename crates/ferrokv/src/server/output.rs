//! Output-buffer limits and backpressure for one connection.
//!
//! A connection's pending output is what it holds in its reply buffer and has not yet
//! written to the socket (replies to its own requests, and Pub/Sub messages or MONITOR
//! lines taken from `ClientHandle::pending`), plus what other threads queued in `pending`
//! meanwhile. Redis's `client-output-buffer-limit` applies to it per client class:
//! passing the hard limit, or staying above the soft limit for longer than its seconds,
//! closes the connection (logged, counted in INFO).
//!
//! While output is pending the connection keeps reading and running requests only as long
//! as its class has a hard limit that is not reached yet (then the limit decides, as in
//! Redis). A class without a hard limit (Redis's default for `normal`) gets backpressure
//! instead: once [`UNLIMITED_CAP`] bytes wait, the connection stops running requests and
//! stops reading until the peer takes its replies, so a client that pipelines without
//! reading cannot make the server grow without bound.

use std::sync::atomic::Ordering::Relaxed;

use super::stream::ConnStream;
use super::{Client, ClientHandle, Server};
use crate::config::{OBUF_NORMAL, OBUF_PUBSUB};
use resp::ReplyWriter;

/// Pending output at which a connection whose class has no hard limit stops running
/// requests and reading until its peer reads (ferrokv's backpressure; Redis buffers
/// without bound there).
pub const UNLIMITED_CAP: usize = 16 << 20;

/// How often a connection above its soft limit, waiting for the socket, checks whether
/// the soft limit's time has passed.
const SOFT_LIMIT_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// The Pub/Sub or connection output-buffer limits of one class; 0 = no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Hard limit in bytes.
    pub hard: u64,
    /// Soft limit in bytes.
    pub soft: u64,
    /// How long the output may stay above the soft limit.
    pub soft_seconds: u64,
}

impl Limits {
    /// The limits of `client-output-buffer-limit` class `class`.
    pub fn of_class(server: &Server, class: usize) -> Limits {
        let (hard, soft, soft_seconds) = server.config.output_limits(class);
        Limits {
            hard,
            soft,
            soft_seconds,
        }
    }

    /// The limits that apply to `client`'s replies now (Redis's `getClientType`: a
    /// subscribed client is `pubsub`, every other one `normal`). A replica link's stream
    /// is written by `replication::primary`, which applies the `replica` class to it.
    pub fn for_client(server: &Server, client: &Client) -> Limits {
        let class = if client.subs.total() > 0 {
            OBUF_PUBSUB
        } else {
            OBUF_NORMAL
        };
        Limits::of_class(server, class)
    }

    /// The smallest pending size at which [`room`] can answer anything but `Ok`: below it
    /// the connection skips the check (one comparison per request on the hot path).
    pub fn check_at(&self) -> usize {
        [self.hard, self.soft]
            .into_iter()
            .filter(|n| *n > 0)
            .map(|n| (n.min(usize::MAX as u64) as usize).saturating_add(REPLY_CHUNK))
            .fold(UNLIMITED_CAP, usize::min)
    }
}

/// The part of `pending` output bytes that the limits count: Redis counts the reply blocks
/// beyond the 16 KB buffer every client has, so a reply that fits that buffer never
/// closes a client, whatever the limit.
pub fn counted(pending: usize) -> u64 {
    pending.saturating_sub(REPLY_CHUNK) as u64
}

/// Redis's `checkClientOutputBufferLimits`: past the hard limit, or above the soft limit
/// for longer than its seconds (measured from when it was first seen above it).
pub fn over_limits(h: &ClientHandle, used: u64, l: Limits) -> bool {
    if l.hard > 0 && used >= l.hard {
        return true;
    }
    if l.soft == 0 || used < l.soft {
        h.soft_since_ms.store(0, Relaxed);
        return false;
    }
    let now = crate::util::mono_ns() / 1_000_000 + 1;
    let since = h.soft_since_ms.load(Relaxed);
    if since == 0 {
        h.soft_since_ms.store(now, Relaxed);
        return false;
    }
    now.saturating_sub(since) > l.soft_seconds * 1000
}

/// Mark `h` as closed for its output-buffer limits (logged as Redis logs it; counted in
/// INFO by the connection when it closes) and wake it.
pub fn close_for_limits(h: &ClientHandle) {
    if h.obuf_closed.swap(true, Relaxed) {
        return;
    }
    tracing::warn!(
        "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
        h.id,
        h.addr
    );
    h.kill();
}

/// What a connection may do with `pending` bytes of output waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Room {
    /// Go on reading and running requests.
    Ok,
    /// Stop running requests and reading until the peer takes some output.
    Full,
    /// The limits are passed: close the connection.
    Close,
}

/// Check `pending` bytes (plus what other threads queued for the client) against the
/// client's class limits.
pub fn room(server: &Server, client: &Client, pending: usize) -> Room {
    let h = &client.handle;
    let used = pending + h.pending.lock().len();
    let limits = Limits::for_client(server, client);
    if over_limits(h, counted(used), limits) {
        close_for_limits(h);
        return Room::Close;
    }
    if limits.hard == 0 && used >= UNLIMITED_CAP {
        return Room::Full;
    }
    Room::Ok
}

/// Bytes of a reply block in Redis (PROTO_REPLY_CHUNK_BYTES): CLIENT LIST shows pending
/// output as if it were held the way Redis holds it.
const REPLY_CHUNK: usize = 16 * 1024;

/// CLIENT LIST `obl`, `oll` and `omem` for `h`: its pending output (not yet written to the
/// socket, whether in the connection's reply buffer or queued by other threads), shown as
/// Redis would hold it: the first 16 KB in the static buffer (`obl`), the rest in 16 KB
/// blocks (`oll` of them, `omem` bytes).
pub fn client_list_fields(h: &ClientHandle) -> (usize, usize, usize) {
    let pending = h.unsent.load(Relaxed) as usize + h.pending.lock().len();
    let obl = pending.min(REPLY_CHUNK);
    let omem = pending - obl;
    (obl, omem.div_ceil(REPLY_CHUNK), omem)
}

/// The common case of writing replies, without a future: the socket takes the whole
/// buffer at once. True when it did (the buffer is then empty); false leaves everything
/// to [`flush`]. For TLS, true also needs the records flushed; when they are not, the
/// buffer is empty and [`flush`] sends them.
#[inline]
pub fn write_now<S: ConnStream>(
    stream: &mut S,
    out: &mut ReplyWriter,
    server: &Server,
    handle: &ClientHandle,
) -> bool {
    if out.buf.is_empty() {
        return true;
    }
    match stream.try_write_now(&out.buf) {
        Ok(n) if n >= out.buf.len() => {
            finish(server, handle, out, n);
            // Plain TCP: always true (compiled away).
            stream.try_flush_now().unwrap_or(false)
        }
        Ok(n) => {
            // Keep what the socket did not take; `flush` goes on from there.
            server.stats.net_output_bytes.fetch_add(n as u64, Relaxed);
            out.buf.drain(..n);
            false
        }
        Err(_) => false,
    }
}

/// How a call to [`flush`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Everything was written.
    All,
    /// Some output is still pending, and there is input to run (read into `inbuf`, or
    /// requests already there): the caller runs them and flushes again.
    Partly,
    /// The peer is gone, or the connection was killed (CLIENT KILL, output limits).
    Closed,
}

/// Write the reply buffer. While the socket does not take all of it, keep watching for
/// wake-ups (a client killed meanwhile is closed instead of waiting forever) and, when
/// `inbuf` is given and the limits leave room, for input: the client's further requests
/// run while output waits, as in Redis, so the limits can apply. Pending bytes are in
/// `handle.unsent` meanwhile (Pub/Sub deliveries count them). A wake-up consumed here sets
/// `woken`, so the caller takes the pending output without waiting. `more_input` says that
/// `inbuf` already holds requests that were not run (backpressure stopped them).
#[allow(clippy::too_many_arguments)]
pub async fn flush<'h, S: ConnStream>(
    stream: &mut S,
    out: &mut ReplyWriter,
    (server, client): (&Server, &Client),
    handle: &'h ClientHandle,
    wake: &mut std::pin::Pin<&mut tokio::sync::futures::Notified<'h>>,
    woken: &mut bool,
    mut inbuf: Option<&mut Vec<u8>>,
    more_input: bool,
) -> Flushed {
    // TLS: records of earlier writes may wait in the session even with an empty buffer.
    if out.buf.is_empty() && (!S::BUFFERED || stream.try_flush_now().unwrap_or(false)) {
        return Flushed::All;
    }
    // Usually the socket takes everything at once: no future, no select.
    let mut written = stream.try_write_now(&out.buf).unwrap_or(0);
    if written >= out.buf.len() && stream.try_flush_now().unwrap_or(false) {
        finish(server, handle, out, written);
        return Flushed::All;
    }
    let result = loop {
        let rest_len = out.buf.len().saturating_sub(written);
        // Everything taken: done for plain TCP; TLS also needs its records sent.
        if rest_len == 0 {
            match stream.try_flush_now() {
                Ok(true) => break Flushed::All,
                Ok(false) => {}
                Err(_) => break Flushed::Closed,
            }
        }
        handle.unsent.store(rest_len as u64, Relaxed);
        let may_read = match room(server, client, rest_len) {
            Room::Close => break Flushed::Closed,
            Room::Full => false,
            Room::Ok => inbuf.is_some(),
        };
        if may_read && more_input {
            break Flushed::Partly;
        }
        // TLS: requests can wait decrypted in the session while the socket has nothing
        // more to read, so look there first (plain TCP: compiled away).
        if S::BUFFERED && may_read {
            if let Some(buf) = inbuf.as_deref_mut() {
                buf.reserve(super::connection::READ_CHUNK);
                match stream.try_read_now(buf) {
                    Ok(0) => break Flushed::Closed,
                    Ok(n) => {
                        server.stats.net_input_bytes.fetch_add(n as u64, Relaxed);
                        break Flushed::Partly;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break Flushed::Closed,
                }
            }
        }
        // Above the soft limit, its time can pass with no traffic at all: look again.
        let soft_watch = handle.soft_since_ms.load(Relaxed) != 0;
        tokio::select! {
            biased;
            _ = &mut *wake => {
                wake.set(handle.wake.notified());
                *woken = true;
                if handle.is_killed() {
                    break Flushed::Closed;
                }
            }
            r = stream.tcp().writable() => {
                if r.is_err() {
                    break Flushed::Closed;
                }
                if rest_len == 0 {
                    // TLS only: the loop's head sends the records.
                    continue;
                }
                match stream.try_write_now(out.buf.get(written..).unwrap_or(&[])) {
                    Ok(0) => break Flushed::Closed,
                    Ok(n) => written += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break Flushed::Closed,
                }
            }
            r = stream.tcp().readable(), if may_read => {
                if r.is_err() {
                    break Flushed::Closed;
                }
                let Some(buf) = inbuf.as_deref_mut() else { continue };
                buf.reserve(super::connection::READ_CHUNK);
                match stream.try_read_now(buf) {
                    Ok(0) => break Flushed::Closed,
                    Ok(n) => {
                        server.stats.net_input_bytes.fetch_add(n as u64, Relaxed);
                        break Flushed::Partly;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break Flushed::Closed,
                }
            }
            _ = super::timer::sleep(SOFT_LIMIT_TICK), if soft_watch => {}
        }
    };
    if result == Flushed::Partly {
        server
            .stats
            .net_output_bytes
            .fetch_add(written as u64, Relaxed);
        out.buf.drain(..written.min(out.buf.len()));
    } else {
        finish(server, handle, out, written);
    }
    result
}

/// The reply buffer is written (or will never be): count it, empty it, give back what a
/// big reply grew.
fn finish(server: &Server, handle: &ClientHandle, out: &mut ReplyWriter, written: usize) {
    server
        .stats
        .net_output_bytes
        .fetch_add(written as u64, Relaxed);
    if handle.unsent.load(Relaxed) != 0 {
        handle.unsent.store(0, Relaxed);
    }
    out.buf.clear();
    if out.buf.capacity() > 1 << 20 {
        out.buf.shrink_to(64 * 1024);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_at_is_the_smallest_limit_set() {
        let none = Limits::default();
        assert_eq!(none.check_at(), UNLIMITED_CAP);
        let l = Limits {
            hard: 1000,
            soft: 500,
            soft_seconds: 1,
        };
        assert_eq!(l.check_at(), 500 + REPLY_CHUNK);
        let big = Limits {
            hard: 1 << 40,
            soft: 0,
            soft_seconds: 0,
        };
        assert_eq!(big.check_at(), UNLIMITED_CAP);
    }
}
