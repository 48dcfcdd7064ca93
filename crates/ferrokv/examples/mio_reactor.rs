//! EXPERIMENT (issue 15): the real command path behind a plain mio (epoll) event loop, to
//! measure what tokio's per-wake machinery costs per request. Not a server to run: plain
//! TCP only, one thread, no blocking commands, no CLIENT PAUSE, no script thread, no
//! replication hooks, no TLS, no output limits, no Pub/Sub delivery to idle connections.
//!
//! It builds a real [`Server`] as `main.rs` does (same arguments: `--port 6390 --save ''`
//! ...), accepts on one mio `Poll`, reads into a per-connection buffer, parses with
//! `resp::parse_request`, runs every complete request through
//! `commands::dispatch::execute` with a real [`Client`] (`start_batch` and `publish_info`
//! once per batch, the AOF hand-off before the replies go out, as `server::connection`
//! does) and writes the replies of a batch with one `write`.
//!
//!   cargo build --release -p ferrokv --example mio_reactor
//!   target/release/examples/mio_reactor --port 6390 --save ''
//!   FERROKV_BIN=target/release/examples/mio_reactor scripts/callgrind.sh
//!
//! Results: BENCHMARKS.md, "Experiment: dispatch behind a mio event loop".

use std::io::{ErrorKind, Read, Write};
use std::ops::Range;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use ferrokv::commands::dispatch::{execute, Outcome};
use ferrokv::config::Config;
use ferrokv::server::blocking::WaitState;
use ferrokv::server::{Client, Server};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use resp::{parse_request, Args, Limits, Parsed, ReplyWriter};
use smallvec::SmallVec;

/// The listening socket's token; connection `i` has token `i + 1`.
const LISTENER: Token = Token(0);
/// Bytes a read asks for at least when the buffer is full (Redis's PROTO_IOBUF_LEN).
const READ_CHUNK: usize = 16 * 1024;
/// A connection's first query buffer.
const FIRST_READ: usize = 1024;

/// One client connection and its buffers.
struct Conn {
    stream: TcpStream,
    client: Client,
    /// The query buffer, zeroed once when it grows (reads go to `inbuf[filled..]`, so no
    /// read pays for initialising its room).
    inbuf: Vec<u8>,
    /// Bytes of `inbuf` received and not yet executed.
    filled: usize,
    out: ReplyWriter,
    /// Bytes of `out.buf` already written (a partial write waits for WRITABLE).
    written: usize,
    /// WRITABLE interest is registered (only while a partial write waits).
    want_write: bool,
    /// Argument positions `parse_request` fills, reused for every request.
    ranges: Vec<Range<usize>>,
}

/// What a batch asks the loop to do with its connection.
#[derive(PartialEq)]
enum Next {
    Keep,
    Close,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let port = config.port();
    let server = Arc::new(Server::new(config));
    if let Err(e) = ferrokv::server::acl::startup(&server) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    server.set_self();
    // The same background threads as the real server (expiry, eviction, cron, timer), so
    // that the idle cost subtracted as the baseline is comparable.
    ferrokv::server::start_background(server.clone());
    if let Err(e) = ferrokv::server::timer::start() {
        eprintln!("timer: {e}");
        std::process::exit(1);
    }
    server.port.store(u64::from(port), Relaxed);
    if let Err(e) = run(&server, port) {
        eprintln!("event loop: {e}");
        std::process::exit(1);
    }
}

/// Accept and serve connections on `port` (127.0.0.1) forever; SIGTERM ends the process.
fn run(server: &Arc<Server>, port: u16) -> std::io::Result<()> {
    let mut poll = Poll::new()?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = Events::with_capacity(256);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                accept_all(server, &poll, &listener, &mut conns);
                continue;
            }
            let i = ev.token().0 - 1;
            let Some(Some(conn)) = conns.get_mut(i) else {
                continue;
            };
            let mut next = Next::Keep;
            let mut read = ev.is_readable() || ev.is_read_closed();
            if ev.is_writable() && conn.want_write {
                next = write_out(server, &poll, ev.token(), conn);
                // Input that arrived while the output waited raised its edge then: read now.
                read |= !conn.want_write;
            }
            if next == Next::Keep && read {
                next = on_readable(server, &poll, ev.token(), conn);
            }
            if next == Next::Close {
                if let Some(mut c) = conns.get_mut(i).and_then(Option::take) {
                    close(server, &poll, &mut c);
                }
            }
        }
    }
}

/// Accept every pending connection (mio is edge-triggered) and register it for reads.
fn accept_all(server: &Server, poll: &Poll, listener: &TcpListener, conns: &mut Vec<Option<Conn>>) {
    loop {
        let (mut stream, peer) = match listener.accept() {
            Ok(a) => a,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => {
                eprintln!("accept: {e}");
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let slot = conns
            .iter()
            .position(Option::is_none)
            .unwrap_or(conns.len());
        let token = Token(slot + 1);
        if poll
            .registry()
            .register(&mut stream, token, Interest::READABLE)
            .is_err()
        {
            continue;
        }
        let laddr = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream) as i64;
        let handle = server.register_client(peer.to_string(), laddr, fd);
        let conn = Conn {
            stream,
            client: Client::new(handle, !server.acl.auth_required()),
            inbuf: vec![0; FIRST_READ],
            filled: 0,
            out: ReplyWriter::new(),
            written: 0,
            want_write: false,
            ranges: Vec::new(),
        };
        if slot == conns.len() {
            conns.push(Some(conn));
        } else if let Some(s) = conns.get_mut(slot) {
            *s = Some(conn);
        }
    }
}

/// Read what the socket has, run every complete request, write the replies.
fn on_readable(server: &Server, poll: &Poll, token: Token, conn: &mut Conn) -> Next {
    loop {
        // Output still waiting for WRITABLE: read more only once it is out (backpressure).
        if conn.written < conn.out.buf.len() {
            return Next::Keep;
        }
        if conn.inbuf.len() - conn.filled < FIRST_READ / 2 {
            conn.inbuf.resize(conn.inbuf.len() + READ_CHUNK, 0);
        }
        let spare = conn.inbuf.len() - conn.filled;
        let room = conn.inbuf.get_mut(conn.filled..).unwrap_or_default();
        let n = match conn.stream.read(room) {
            Ok(0) => return Next::Close,
            Ok(n) => n,
            Err(e) => {
                return match e.kind() {
                    ErrorKind::WouldBlock => Next::Keep,
                    ErrorKind::Interrupted => continue,
                    _ => Next::Close,
                };
            }
        };
        conn.filled += n;
        server.stats.net_input_bytes.fetch_add(n as u64, Relaxed);
        if run_batch(server, conn) == Next::Close {
            let _ = write_out(server, poll, token, conn);
            return Next::Close;
        }
        if write_out(server, poll, token, conn) == Next::Close {
            return Next::Close;
        }
        // Edge-triggered: a read that did not fill the buffer drained the socket, and
        // bytes that arrive later raise a new edge. A full read may have left bytes.
        if n < spare {
            return Next::Keep;
        }
    }
}

/// Execute every complete request in the query buffer (what `server::connection` does
/// per batch, minus blocking, pausing, scripts, replication and output limits).
fn run_batch(server: &Server, conn: &mut Conn) -> Next {
    let Conn {
        client,
        inbuf,
        filled,
        out,
        ranges,
        ..
    } = conn;
    if client.handle.is_killed() {
        return Next::Close;
    }
    take_pending(client, out);
    client.start_batch();
    client.batch_qbuf = *filled;
    client.buf_caps = (inbuf.len(), out.buf.capacity());
    let mut next = Next::Keep;
    let mut start = 0usize;
    let mut argv_buf: SmallVec<[&[u8]; 8]> = SmallVec::new();
    loop {
        let limits = Limits {
            max_bulk_len: server.config.proto_max_bulk_len(),
            authenticated: client.authenticated,
            ..Limits::default()
        };
        let buf = inbuf.get(start..*filled).unwrap_or_default();
        let (args, consumed) = match parse_request(buf, &limits, ranges) {
            Ok(Parsed::Incomplete) => break,
            Ok(Parsed::Request { args, consumed }) => (args, consumed),
            Err(e) => {
                out.error(&format!("ERR Protocol error: {}", e.0));
                next = Next::Close;
                break;
            }
        };
        let owned: SmallVec<[&[u8]; 8]>;
        let argv: &[&[u8]] = match &args {
            Args::Ranges => {
                argv_buf.clear();
                argv_buf.extend(ranges.iter().map(|r| buf.get(r.clone()).unwrap_or(&[])));
                &argv_buf
            }
            Args::Owned(v) => {
                owned = v.iter().map(Vec::as_slice).collect();
                &owned
            }
        };
        start += consumed;
        if argv.is_empty() {
            continue;
        }
        run_one(server, client, out, argv);
        if client.close_after_reply || client.shutdown_requested {
            next = Next::Close;
            break;
        }
    }
    drop(argv_buf);
    if start > 0 {
        inbuf.copy_within(start..*filled, 0);
        *filled -= start;
    }
    if *filled == 0 && inbuf.len() > 2 * READ_CHUNK {
        *inbuf = vec![0; READ_CHUNK];
    }
    client.publish_info(out.resp3, *filled);
    // The AOF hand-off before the replies go out (no `appendfsync always` wait here).
    server.aof.write_after_batch();
    next
}

/// Run one request and apply CLIENT REPLY OFF/SKIP to its reply.
fn run_one(server: &Server, client: &mut Client, out: &mut ReplyWriter, argv: &[&[u8]]) {
    let before = out.buf.len();
    client.begin_reply();
    match execute(server, client, out, argv) {
        Outcome::Done => {}
        Outcome::Paused => {
            out.error("ERR mio_reactor experiment: CLIENT PAUSE is not supported");
        }
        Outcome::Blocked(waiter, _) => {
            // Withdraw the wait the command registered; this loop cannot park a client.
            waiter.finish(WaitState::Unblocked { error: true });
            ferrokv::commands::unblock::unregister(server, &waiter);
            out.error("ERR mio_reactor experiment: blocking commands are not supported");
        }
    }
    client.end_reply(&mut out.buf, before);
}

/// Output other connections left for this one (Pub/Sub messages, tracking).
fn take_pending(client: &Client, out: &mut ReplyWriter) {
    let mut p = client.handle.pending.lock();
    if !p.is_empty() {
        out.buf.extend_from_slice(&p);
        p.clear();
    }
}

/// Write the replies (one `write` when the socket takes them all); what the socket does
/// not take waits for a WRITABLE event.
fn write_out(server: &Server, poll: &Poll, token: Token, conn: &mut Conn) -> Next {
    while conn.written < conn.out.buf.len() {
        let rest = conn.out.buf.get(conn.written..).unwrap_or_default();
        match conn.stream.write(rest) {
            Ok(0) => return Next::Close,
            Ok(n) => {
                conn.written += n;
                server.stats.net_output_bytes.fetch_add(n as u64, Relaxed);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                return interest(poll, token, conn, true);
            }
            Err(_) => return Next::Close,
        }
    }
    conn.out.buf.clear();
    conn.written = 0;
    interest(poll, token, conn, false)
}

/// Register WRITABLE interest while output waits, and only then (mio is edge-triggered,
/// and a standing WRITABLE interest would wake the loop after writes for nothing).
fn interest(poll: &Poll, token: Token, conn: &mut Conn, write: bool) -> Next {
    if conn.want_write == write {
        return Next::Keep;
    }
    let wanted = if write {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    conn.want_write = write;
    match poll.registry().reregister(&mut conn.stream, token, wanted) {
        Ok(()) => Next::Keep,
        Err(_) => Next::Close,
    }
}

/// Forget a closed connection (WATCH, subscriptions, tracking are not set up here).
fn close(server: &Server, poll: &Poll, conn: &mut Conn) {
    let _ = poll.registry().deregister(&mut conn.stream);
    ferrokv::commands::shared::watch::unwatch_all(server, &mut conn.client);
    server.pubsub.forget_client(&mut conn.client);
    server.unregister_client(conn.client.handle.id);
}
