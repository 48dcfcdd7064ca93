//! A worker's event loop for plain TCP connections: one `mio::Poll` (epoll) per worker
//! thread, with the common case of a request done synchronously on readiness: read what
//! the socket has, run every complete request (`connection::run_ready`, the same code the
//! async path runs), write the replies with one `write`.
//!
//! Everything that must wait for something other than the socket's input is left to the
//! async path (`connection::run` on this worker's companion tokio runtime): a connection
//! is handed over, with its client, buffers and pending replies, the first time it blocks
//! (BLPOP & co), runs a script (the script thread), meets CLIENT PAUSE, becomes a replica
//! link or waits in WAIT (replication hooks), needs its replies held for `appendfsync
//! always`, or has replies the socket does not take at once (output limits and
//! backpressure). It stays there: those states are rare, and the async path is the one
//! that has always served them. TLS connections are served there from the start.
//!
//! Why not tokio for everything: its per-wake-up machinery (park, driver, task wake and
//! poll, `PollEvented`, the connection future's `select!`) cost ~1,200 instructions per
//! request at pipeline 1, a quarter of the whole request (BENCHMARKS.md, "Experiment:
//! dispatch behind a mio event loop").
//!
//! Other threads reach a connection served here through its `ClientHandle::notify`
//! (CLIENT KILL, Pub/Sub messages, MONITOR lines, tracking invalidations): the handle's
//! [`Link`] queues the connection's token and wakes the loop through a `mio::Waker`.

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;

use super::connection::{self, BatchEnd, ConnState, Stop};
use super::Server;

/// The waker's token.
const WAKER: Token = Token(usize::MAX);
/// Listener `i` has token `LISTENER_BASE - i`; connection slot `i` has token `i`.
const LISTENER_BASE: usize = usize::MAX - 1;
/// Bytes a read asks for at least once the buffer is full (Redis's PROTO_IOBUF_LEN).
const READ_CHUNK: usize = connection::READ_CHUNK;
/// A connection's first query buffer: enough for a client that sends one request at a
/// time, so that thousands of idle connections cost little.
const FIRST_READ: usize = 1024;
/// How long the loop waits before accepting again after `accept` failed (EMFILE...).
const ACCEPT_RETRY: Duration = Duration::from_millis(10);
/// Reads (of up to the buffer's room each) one connection gets per turn before the loop
/// serves the others: a client that keeps its socket full would otherwise hold the worker
/// forever, since the socket stays readable (tokio's task budget did this before).
const READS_PER_TURN: usize = 16;

/// The part of a worker's event loop that other threads use: its waker and the
/// connections to look at.
pub struct Shared {
    waker: Waker,
    /// Tokens of connections that were notified since the loop last looked.
    woken: Mutex<Vec<usize>>,
    /// CONFIG SET changed the listening sockets.
    listeners_changed: AtomicBool,
}

impl Shared {
    /// The shared part of the event loop that polls `poll`.
    pub fn new(poll: &Poll) -> std::io::Result<Arc<Shared>> {
        Ok(Arc::new(Shared {
            waker: Waker::new(poll.registry(), WAKER)?,
            woken: Mutex::new(Vec::new()),
            listeners_changed: AtomicBool::new(false),
        }))
    }

    /// Queue connection `token` and wake the loop (once for any number of tokens queued
    /// before it looks).
    fn wake_conn(&self, token: usize) {
        let mut woken = self.woken.lock();
        let first = woken.is_empty();
        woken.push(token);
        drop(woken);
        if first {
            let _ = self.waker.wake();
        }
    }

    /// The server's listening sockets changed: the loop accepts on the new ones.
    pub fn listeners_changed(&self) {
        self.listeners_changed.store(true, Relaxed);
        let _ = self.waker.wake();
    }
}

/// A connection's place in a worker's event loop (`ClientHandle::reactor`).
pub struct Link {
    shared: Arc<Shared>,
    token: usize,
}

impl Link {
    /// Have the loop look at the connection (killed, pending output).
    pub fn wake(&self) {
        self.shared.wake_conn(self.token);
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Link({})", self.token)
    }
}

/// One connection served by the loop.
struct Conn {
    stream: TcpStream,
    /// Client and buffers. Here `state.inbuf` is zeroed room of its full length (reads go
    /// to `inbuf[filled..]`, so no read pays for initialising it); `filled` bytes of it
    /// were received and not yet executed.
    state: ConnState,
    filled: usize,
}

/// What the loop does with a connection after an event.
enum Next {
    /// Keep serving it here.
    Keep,
    /// Close it.
    Close,
    /// Hand it to the async path, which starts with the work after a batch.
    HandOver(BatchEnd),
    /// Its turn is over with input still unread: serve it again after the others (the
    /// edge was consumed, so no new event will come for what is already there).
    Again,
}

/// How writing the replies went.
enum Written {
    All,
    /// The socket took part of them; the rest is still in the buffer.
    Partly,
    Closed,
}

/// One worker's event loop.
struct Worker {
    server: Arc<Server>,
    poll: Poll,
    shared: Arc<Shared>,
    /// The companion runtime that serves connections handed over.
    async_path: tokio::runtime::Handle,
    listeners: Vec<TcpListener>,
    conns: Vec<Option<Conn>>,
    /// Empty slots of `conns`.
    free: Vec<usize>,
    /// `accept` failed: try again after [`ACCEPT_RETRY`].
    accept_retry: bool,
    /// The woken tokens being looked at (swapped with `Shared::woken`).
    woken: Vec<usize>,
    /// Connections whose turn ended with input left ([`Next::Again`]).
    again: Vec<usize>,
}

/// Run a worker's event loop on `poll` forever: accept on the server's plain listeners,
/// serve connections, hand the ones that need it to `async_path`.
pub fn run(
    server: Arc<Server>,
    poll: Poll,
    shared: Arc<Shared>,
    async_path: tokio::runtime::Handle,
) {
    let mut worker = Worker {
        server,
        poll,
        shared,
        async_path,
        listeners: Vec::new(),
        conns: Vec::new(),
        free: Vec::new(),
        accept_retry: false,
        woken: Vec::new(),
        again: Vec::new(),
    };
    worker.load_listeners();
    worker.run_loop();
}

impl Worker {
    fn run_loop(&mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = if !self.again.is_empty() {
                // Input is waiting: look for events without sleeping.
                Some(Duration::ZERO)
            } else {
                self.accept_retry.then_some(ACCEPT_RETRY)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != ErrorKind::Interrupted {
                    tracing::error!("worker event loop: {}", e);
                    std::thread::sleep(ACCEPT_RETRY);
                }
                continue;
            }
            if std::mem::take(&mut self.accept_retry) {
                for i in 0..self.listeners.len() {
                    self.accept_all(i);
                }
            }
            for ev in events.iter() {
                let t = ev.token();
                if t == WAKER {
                    self.on_wake();
                } else if t.0 < self.conns.len() {
                    self.on_readable(t.0);
                } else {
                    let i = LISTENER_BASE.wrapping_sub(t.0);
                    if i < self.listeners.len() {
                        self.accept_all(i);
                    }
                }
            }
            // Connections that had more input than one turn takes, after everyone else.
            // (A slot closed or reused meanwhile costs one read that finds nothing.)
            let again = std::mem::take(&mut self.again);
            for i in again {
                self.on_readable(i);
            }
        }
    }

    /// (Re)register the server's current listening sockets (clones, as each worker
    /// accepts on its own).
    fn load_listeners(&mut self) {
        for mut l in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let clones: Vec<std::net::TcpListener> = self
            .server
            .listeners
            .lock()
            .iter()
            .filter_map(|l| l.try_clone().ok())
            .collect();
        for (i, l) in clones.into_iter().enumerate() {
            let mut l = TcpListener::from_std(l);
            let token = Token(LISTENER_BASE - i);
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut l, token, Interest::READABLE)
            {
                tracing::error!("listener: {}", e);
            }
            // Kept even when it failed, so that tokens keep their positions.
            self.listeners.push(l);
        }
    }

    /// Accept every pending connection on listener `i` (epoll is edge-triggered here).
    fn accept_all(&mut self, i: usize) {
        loop {
            let Some(listener) = self.listeners.get(i) else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.add(stream, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("Accepting client connection: {}", e);
                    self.accept_retry = true;
                    return;
                }
            }
        }
    }

    /// Serve a new connection (or refuse it, as `connection::serve` does).
    fn add(&mut self, mut stream: TcpStream, peer: std::net::SocketAddr) {
        let _ = stream.set_nodelay(true);
        let laddr = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream) as i64;
        let handle = self.server.register_client(peer.to_string(), laddr, fd);
        if let Some(msg) = connection::refusal(&self.server, Some(peer)) {
            // A new socket's send buffer takes the short refusal whole.
            let _ = stream.write(msg);
            self.server.unregister_client(handle.id);
            return;
        }
        let slot = self.free.pop().unwrap_or(self.conns.len());
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(slot), Interest::READABLE)
        {
            tracing::warn!("Registering client connection: {}", e);
            self.server.unregister_client(handle.id);
            if slot < self.conns.len() {
                self.free.push(slot);
            }
            return;
        }
        *handle.reactor.lock() = Some(Link {
            shared: self.shared.clone(),
            token: slot,
        });
        let conn = Conn {
            stream,
            state: ConnState::new(&self.server, handle, vec![0; FIRST_READ]),
            filled: 0,
        };
        match self.conns.get_mut(slot) {
            Some(s) => *s = Some(conn),
            None => self.conns.push(Some(conn)),
        }
    }

    /// Input arrived on connection `i`.
    fn on_readable(&mut self, i: usize) {
        let Some(Some(conn)) = self.conns.get_mut(i) else {
            return;
        };
        let next = read_and_run(&self.server, conn);
        self.apply(i, next);
    }

    /// Other threads notified connections, or the listeners changed.
    fn on_wake(&mut self) {
        if self.shared.listeners_changed.swap(false, Relaxed) {
            self.load_listeners();
        }
        std::mem::swap(&mut *self.shared.woken.lock(), &mut self.woken);
        let mut woken = std::mem::take(&mut self.woken);
        for &i in &woken {
            // A token whose connection closed or moved meanwhile may name another
            // connection now: looking at it costs nothing wrong.
            let Some(Some(conn)) = self.conns.get_mut(i) else {
                continue;
            };
            let next = on_notified(&self.server, conn);
            self.apply(i, next);
        }
        woken.clear();
        self.woken = woken;
    }

    #[inline(always)]
    fn apply(&mut self, i: usize, next: Next) {
        match next {
            Next::Keep => {}
            Next::Close => self.close(i),
            Next::HandOver(end) => self.hand_over(i, end),
            Next::Again => self.again.push(i),
        }
    }

    /// Take connection `i` out of the loop.
    fn remove(&mut self, i: usize) -> Option<Conn> {
        let mut conn = self.conns.get_mut(i)?.take()?;
        self.free.push(i);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        *conn.state.client.handle.reactor.lock() = None;
        Some(conn)
    }

    fn close(&mut self, i: usize) {
        if let Some(mut conn) = self.remove(i) {
            connection::close_client(&self.server, &mut conn.state.client);
        }
    }

    /// Move connection `i` to the async path, which goes on from `end`.
    fn hand_over(&mut self, i: usize, end: BatchEnd) {
        let Some(conn) = self.remove(i) else {
            return;
        };
        let Conn {
            stream,
            mut state,
            filled,
        } = conn;
        state.inbuf.truncate(filled);
        let stream: std::net::TcpStream = stream.into();
        self.async_path.spawn(connection::serve_handed_over(
            self.server.clone(),
            stream,
            state,
            end,
        ));
    }
}

/// Read what the socket has, run every complete request, write the replies; until the
/// socket has nothing more (edge-triggered: a read that did not fill the room drained it,
/// and bytes arriving later raise a new edge).
fn read_and_run(server: &Server, conn: &mut Conn) -> Next {
    for _ in 0..READS_PER_TURN {
        let inbuf = &mut conn.state.inbuf;
        if inbuf.len() - conn.filled < FIRST_READ / 2 {
            inbuf.resize(inbuf.len() + READ_CHUNK, 0);
        }
        let spare = inbuf.len() - conn.filled;
        let room = inbuf.get_mut(conn.filled..).unwrap_or_default();
        let n = match conn.stream.read(room) {
            Ok(0) => return Next::Close,
            Ok(n) => n,
            Err(e) => match e.kind() {
                ErrorKind::WouldBlock => return Next::Keep,
                ErrorKind::Interrupted => continue,
                _ => return Next::Close,
            },
        };
        conn.filled += n;
        server.stats.net_input_bytes.fetch_add(n as u64, Relaxed);
        match run_batch(server, conn) {
            Next::Keep => {}
            other => return other,
        }
        if n < spare {
            return Next::Keep;
        }
    }
    Next::Again
}

/// Run the requests received, then what `connection::run` does after a batch, or hand
/// the connection over when that needs waiting.
fn run_batch(server: &Server, conn: &mut Conn) -> Next {
    let Conn {
        stream,
        state,
        filled,
    } = conn;
    let ConnState { client, out, inbuf } = state;
    if client.handle.is_killed() {
        return Next::Close;
    }
    connection::take_pending(&client.handle, out);
    client.start_batch();
    client.batch_qbuf = *filled;
    client.buf_caps = (inbuf.len(), out.buf.capacity());
    let mut start = 0;
    let received = inbuf.get(..*filled).unwrap_or_default();
    let stop = connection::run_ready(server, client, out, received, &mut start);
    if start > 0 {
        inbuf.copy_within(start..*filled, 0);
        *filled -= start;
    }
    if *filled == 0 && inbuf.len() > 2 * READ_CHUNK {
        *inbuf = vec![0; READ_CHUNK];
    }
    let handover = match stop {
        Stop::Close => return Next::Close,
        Stop::Drained | Stop::EndBatch => None,
        // The request at the front runs on the async path.
        Stop::Full | Stop::Script | Stop::Paused => Some(BatchEnd {
            blocked: None,
            more_input: true,
        }),
        Stop::Blocked(b) => Some(BatchEnd {
            blocked: Some(b),
            more_input: false,
        }),
    };
    if let Some(end) = handover {
        return Next::HandOver(end);
    }
    if client.repl_hook.is_some() {
        return Next::HandOver(after_batch());
    }
    let received = inbuf.get(..*filled).unwrap_or_default();
    if connection::query_buffer_full(server, &client.handle, received) {
        return Next::Close;
    }
    client.publish_info(out.resp3, *filled);
    server.aof.write_after_batch();
    if !out.buf.is_empty() && connection::replies_wait_for_fsync(server) {
        return Next::HandOver(after_batch());
    }
    match write_out(server, stream, out) {
        Written::All => {}
        Written::Partly => return Next::HandOver(after_batch()),
        Written::Closed => return Next::Close,
    }
    if client.shutdown_requested {
        server.shutdown("User requested shutdown...");
    }
    if client.close_after_reply {
        return Next::Close;
    }
    Next::Keep
}

/// A hand-over that starts with the work after a batch (replication hook, the durability
/// wait, writing what is pending).
fn after_batch() -> BatchEnd {
    BatchEnd {
        blocked: None,
        more_input: false,
    }
}

/// Another thread notified the connection: close it if killed, else write what was
/// queued for it.
fn on_notified(server: &Server, conn: &mut Conn) -> Next {
    let ConnState { client, out, .. } = &mut conn.state;
    if client.handle.is_killed() {
        return Next::Close;
    }
    connection::take_pending(&client.handle, out);
    match write_out(server, &mut conn.stream, out) {
        Written::All => Next::Keep,
        Written::Partly => Next::HandOver(after_batch()),
        Written::Closed => Next::Close,
    }
}

/// Write the reply buffer, as much as the socket takes now.
fn write_out(server: &Server, stream: &mut TcpStream, out: &mut resp::ReplyWriter) -> Written {
    let mut written = 0;
    let result = loop {
        let Some(rest) = out.buf.get(written..).filter(|r| !r.is_empty()) else {
            break Written::All;
        };
        match stream.write(rest) {
            Ok(0) => break Written::Closed,
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break Written::Partly,
            Err(_) => break Written::Closed,
        }
    };
    if written > 0 {
        server
            .stats
            .net_output_bytes
            .fetch_add(written as u64, Relaxed);
    }
    match result {
        Written::All => {
            out.buf.clear();
            if out.buf.capacity() > 1 << 20 {
                out.buf.shrink_to(64 * 1024);
            }
        }
        Written::Partly => {
            out.buf.drain(..written);
        }
        Written::Closed => {}
    }
    result
}
