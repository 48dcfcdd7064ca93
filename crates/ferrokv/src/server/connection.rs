//! One client connection: read what is available, parse and execute every complete
//! request inline, write all replies with one syscall per batch.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use resp::{parse_request, Args, Limits, Parsed, ReplyWriter};
use smallvec::SmallVec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::blocking::{WaitState, Waiter};
use super::output::{self, Flushed, Room};
use super::stream::ConnStream;
use super::{Client, Server};
use crate::commands::dispatch::{execute, Outcome};

/// Bytes a read asks for at least (Redis's PROTO_IOBUF_LEN).
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// What Redis 7.0 writes to a connection it refuses in protected mode, before closing it.
const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Redis's protected mode: with `protected-mode yes` and no password for the default user,
/// only connections from 127.0.0.1 and ::1 are accepted (Redis compares the peer address
/// with exactly these two, so 127.0.0.2 is refused too).
fn refused_by_protected_mode(server: &Server, peer: Option<std::net::SocketAddr>) -> bool {
    if !server.acl.default_nopass() || server.config.get("protected-mode") != "yes" {
        return false;
    }
    let local = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => v4 == std::net::Ipv4Addr::LOCALHOST,
        std::net::IpAddr::V6(v6) => {
            v6 == std::net::Ipv6Addr::LOCALHOST
                || v6.to_ipv4_mapped() == Some(std::net::Ipv4Addr::LOCALHOST)
        }
    };
    !peer.is_some_and(|p| local(p.ip()))
}

/// `maxclients`: this connection (registered already) is one too many. Counted as
/// rejected, and not as received, as in Redis.
fn over_maxclients(server: &Server) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let maxclients: usize = server.config.get("maxclients").parse().unwrap_or(10000);
    if server.connected_clients() <= maxclients {
        return false;
    }
    server.stats.rejected_connections.fetch_add(1, Relaxed);
    server
        .stats
        .total_connections_received
        .fetch_sub(1, Relaxed);
    true
}

/// Why a new connection is refused: `maxclients`, or protected mode (counted in INFO);
/// the text to write to it before closing. None: serve it.
pub(super) fn refusal(
    server: &Server,
    peer: Option<std::net::SocketAddr>,
) -> Option<&'static [u8]> {
    if over_maxclients(server) {
        return Some(b"-ERR max number of clients reached\r\n");
    }
    if refused_by_protected_mode(server, peer) {
        server
            .stats
            .rejected_connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Some(PROTECTED_MODE_DENIED.as_bytes());
    }
    None
}

/// A connection's client state and buffers: what moves with it when a worker's event loop
/// (`server::reactor`) hands it to the async path.
pub(super) struct ConnState {
    /// The client.
    pub client: Client,
    /// Replies not yet written.
    pub out: ReplyWriter,
    /// Bytes received and not yet executed (the length is what was received).
    pub inbuf: Vec<u8>,
}

impl ConnState {
    /// A new connection's state for `handle`, with a query buffer of `inbuf`.
    pub fn new(server: &Server, handle: Arc<super::ClientHandle>, inbuf: Vec<u8>) -> ConnState {
        ConnState {
            client: Client::new(handle, !server.acl.auth_required()),
            out: ReplyWriter::new(),
            inbuf,
        }
    }
}

/// A request of a client blocked in BLPOP & co: its wait, timeout (ms) and arguments.
pub(super) type BlockedRequest = (Arc<Waiter>, u64, Vec<Vec<u8>>);

/// What a batch of requests ended with, for the work after it (a blocking wait, a
/// replication hook, writing the replies).
pub(super) struct BatchEnd {
    /// The last request blocked.
    pub blocked: Option<BlockedRequest>,
    /// Backpressure stopped the batch with requests left in the buffer.
    pub more_input: bool,
}

/// Serve one connection (plain TCP or TLS, after its handshake) until it closes.
pub async fn serve<S: ConnStream>(server: Arc<Server>, mut stream: S) {
    let _ = stream.tcp().set_nodelay(true);
    let addr = stream
        .tcp()
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let laddr = stream
        .tcp()
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let fd = stream.tcp().as_raw_fd() as i64;
    let handle = server.register_client(addr, laddr, fd);
    if let Some(msg) = refusal(&server, stream.tcp().peer_addr().ok()) {
        write_and_close(&mut stream, msg).await;
        server.unregister_client(handle.id);
        return;
    }
    // Small until a read fills it: an idle connection holds 1 KB, not 16 (see `spare`).
    let state = ConnState::new(&server, handle, Vec::with_capacity(FIRST_READ));
    run(server, stream, state, None).await;
}

/// Serve a plain TCP connection that a worker's event loop hands over (`server::reactor`),
/// starting with the work after a batch (`end`): the blocking wait, the replication hook,
/// the durability wait and the replies still pending; then as any async connection.
pub(super) async fn serve_handed_over(
    server: Arc<Server>,
    stream: std::net::TcpStream,
    state: ConnState,
    end: BatchEnd,
) {
    match tokio::net::TcpStream::from_std(stream) {
        Ok(stream) => run(server, stream, state, Some(end)).await,
        Err(e) => {
            tracing::warn!("Handing a connection to the async path: {}", e);
            if let Some((waiter, _, _)) = &end.blocked {
                end_wait(&server, waiter, WaitState::Unblocked { error: false });
            }
            let mut client = state.client;
            close_client(&server, &mut client);
        }
    }
}

/// The connection's loop: wait for input or a wake-up, run the batch of requests, then
/// the work after it (`after_batch`). `entry` starts with the work after a batch that
/// ran elsewhere.
async fn run<S: ConnStream>(
    server: Arc<Server>,
    mut stream: S,
    state: ConnState,
    mut entry: Option<BatchEnd>,
) {
    let ConnState {
        mut client,
        mut out,
        mut inbuf,
    } = state;
    let handle = client.handle.clone();
    let mut read_filled = false;

    // One wake-up future for the connection's life, renewed only when it fires: creating
    // and dropping one per read showed up in the per-request instruction count.
    let wake = handle.wake.notified();
    tokio::pin!(wake);
    // Requests still in the buffer after a blocking command's wait: run them before reading.
    let mut resume = entry.is_some();
    // A wake-up was consumed while writing: take the pending output without waiting.
    let mut woken = false;
    'conn: loop {
        let end = match entry.take() {
            Some(end) => end,
            None => {
                let spare = make_room(&mut inbuf, std::mem::take(&mut read_filled));
                let skip_wait = std::mem::take(&mut resume) | std::mem::take(&mut woken);
                if !skip_wait {
                    tokio::select! {
                        biased;
                        r = stream.read_buf(&mut inbuf) => match r {
                            Ok(0) | Err(_) => break 'conn,
                            Ok(n) => {
                                read_filled = n == spare;
                                server.stats.net_input_bytes.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                            }
                        },
                        _ = &mut wake => {
                            wake.set(handle.wake.notified());
                        }
                    }
                }
                if handle.is_killed() {
                    break;
                }
                take_pending(&handle, &mut out);
                client.start_batch();
                client.batch_qbuf = inbuf.len();
                client.buf_caps = (inbuf.capacity(), out.buf.capacity());
                let mut start = 0usize;
                let end = run_batch(
                    &server,
                    &mut stream,
                    (&mut client, &mut out),
                    &inbuf,
                    &mut start,
                )
                .await;
                if start > 0 {
                    inbuf.drain(..start);
                }
                match end {
                    Some(end) => end,
                    None => break 'conn,
                }
            }
        };
        shrink_query_buffer(&mut inbuf);
        if let Some((waiter, timeout_ms, argv)) = end.blocked {
            let ended = wait_blocked(
                &server,
                &mut client,
                &handle,
                &mut stream,
                &mut wake,
                &mut inbuf,
                &mut out,
                waiter,
                timeout_ms,
                argv,
            )
            .await;
            if !ended {
                break;
            }
            resume = true;
            client.start_batch();
        }
        if let Some(hook) = client.repl_hook.take() {
            // PSYNC/SYNC (the connection becomes a replica link) or WAIT.
            let go_on = crate::replication::primary::run_hook(
                &server,
                &mut client,
                (&mut stream, (&handle, &mut wake)),
                &mut inbuf,
                &mut out,
                hook,
            )
            .await;
            if !go_on {
                break;
            }
            resume = true;
        }
        if query_buffer_full(&server, &handle, &inbuf) {
            break;
        }
        client.publish_info(out.resp3, inbuf.len());
        wait_for_durability(&server).await;
        let flushed = if output::write_now(&mut stream, &mut out, &server, &handle) {
            Flushed::All
        } else {
            output::flush(
                &mut stream,
                &mut out,
                (&server, &client),
                &handle,
                &mut wake,
                &mut woken,
                Some(&mut inbuf),
                end.more_input,
            )
            .await
        };
        match flushed {
            Flushed::All => resume |= end.more_input,
            Flushed::Partly => resume = true,
            Flushed::Closed => break,
        }
        if client.shutdown_requested {
            server.shutdown("User requested shutdown...");
        }
        if client.close_after_reply {
            break;
        }
    }
    close_client(&server, &mut client);
    if S::BUFFERED {
        // TLS: say goodbye with close_notify, as an OpenSSL peer expects.
        let _ = super::timer::timeout(Duration::from_millis(100), stream.shutdown()).await;
    }
}

/// Forget a closing connection's client: output-limit statistics, WATCH, subscriptions,
/// tracking, the client list.
pub(super) fn close_client(server: &Server, client: &mut Client) {
    if client
        .handle
        .obuf_closed
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        server
            .stats
            .output_buffer_limit_disconnections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    crate::commands::shared::watch::unwatch_all(server, client);
    server.pubsub.forget_client(client);
    super::tracking::turn_off(server, client);
    server.unregister_client(client.handle.id);
}

/// Run the batch of requests in `inbuf[*start..]` on the async path: what
/// [`run_ready`] leaves to it (script commands, CLIENT PAUSE) is done here, waiting
/// without blocking the thread. None: close the connection now.
async fn run_batch<S: ConnStream>(
    server: &Arc<Server>,
    stream: &mut S,
    (client, out): (&mut Client, &mut ReplyWriter),
    inbuf: &[u8],
    start: &mut usize,
) -> Option<BatchEnd> {
    loop {
        let mut stop = run_ready(server, client, out, inbuf, start);
        if let Stop::Script = stop {
            match run_script_request(server, client, out, inbuf, start).await {
                Some(s) => stop = s,
                None => continue,
            }
        }
        let (blocked, more_input) = match stop {
            Stop::Drained | Stop::EndBatch => (None, false),
            Stop::Full => (None, true),
            Stop::Blocked(b) => (Some(b), false),
            Stop::Close => return None,
            // Not returned by `run_script_request`.
            Stop::Script => continue,
            Stop::Paused => {
                // CLIENT PAUSE: write what is done, then retry this request later.
                flush(stream, out, server).await;
                super::timer::sleep(Duration::from_millis(10)).await;
                // The batch's clock must not lag behind a long pause.
                client.start_batch();
                continue;
            }
        };
        return Some(BatchEnd {
            blocked,
            more_input,
        });
    }
}

/// Run the request at `inbuf[*start..]`, a script command, on the script thread. None:
/// go on with the batch.
async fn run_script_request(
    server: &Arc<Server>,
    client: &mut Client,
    out: &mut ReplyWriter,
    inbuf: &[u8],
    start: &mut usize,
) -> Option<Stop> {
    let buf = inbuf.get(*start..).unwrap_or_default();
    let limits = request_limits(server, client);
    let mut parsed: SmallVec<[&[u8]; 8]> = SmallVec::new();
    let Ok(Parsed::Request { args, consumed }) = parse_request(buf, &limits, &mut parsed) else {
        // `run_ready` parsed this very request a moment ago.
        return Some(Stop::EndBatch);
    };
    let owned: SmallVec<[&[u8]; 8]>;
    let argv: &[&[u8]] = match &args {
        Args::Ranges => &parsed,
        Args::Owned(v) => {
            owned = v.iter().map(|a| a.as_slice()).collect();
            &owned
        }
    };
    let before = out.buf.len();
    client.begin_reply();
    let outcome = execute_on_script_thread(server, client, out, argv).await;
    let check_at = server.config.output_check_at();
    settle(
        server,
        client,
        out,
        (outcome, before, argv),
        (consumed, start),
        check_at,
    )
}

/// Why [`run_ready`] stopped.
pub(super) enum Stop {
    /// No complete request is left in the buffer.
    Drained,
    /// The batch ends after this request (QUIT, SHUTDOWN, a replication hook, a protocol
    /// error): write the replies, then see.
    EndBatch,
    /// Output backpressure: requests are left in the buffer.
    Full,
    /// Close the connection now, without writing (an attack, the output limits).
    Close,
    /// The request at `start` runs on the script thread.
    Script,
    /// CLIENT PAUSE holds the request at `start`: retry it later.
    Paused,
    /// The request before `start` blocked.
    Blocked(BlockedRequest),
}

/// The parser's limits for `client`'s next request.
#[inline]
fn request_limits(server: &Server, client: &Client) -> Limits {
    Limits {
        max_bulk_len: server.config.proto_max_bulk_len(),
        authenticated: client.authenticated,
        ..Limits::default()
    }
}

/// Execute every complete request in `inbuf[*start..]`, appending the replies to `out`
/// and moving `start` past each, until the buffer holds no complete request or a request
/// needs what only the async path does (waiting for the script thread or a pause).
/// Shared by the worker event loop and the async path: both run requests the same way.
pub(super) fn run_ready(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    inbuf: &[u8],
    start: &mut usize,
) -> Stop {
    // Pending output at which the limits are checked (one comparison per request).
    let check_at = server.config.output_check_at();
    // Refilled in place by the parser: building and moving a new vector per request cost a
    // copy of it, and positions turned into slices a second pass.
    let mut argv_buf: SmallVec<[&[u8]; 8]> = SmallVec::new();
    loop {
        let buf = inbuf.get(*start..).unwrap_or_default();
        if buf.is_empty() {
            // The common end of a batch, without a call to the parser.
            return Stop::Drained;
        }
        let limits = request_limits(server, client);
        let (args, consumed) = match parse_request(buf, &limits, &mut argv_buf) {
            Ok(Parsed::Incomplete) => return Stop::Drained,
            Ok(Parsed::Request { args, consumed }) => (args, consumed),
            Err(e) => {
                out.error(&format!("ERR Protocol error: {}", e.0));
                server.record_error("ERR");
                client.close_after_reply = true;
                return Stop::EndBatch;
            }
        };
        let owned_argv: SmallVec<[&[u8]; 8]>;
        let argv: &[&[u8]] = match &args {
            // The parser wrote the argument slices.
            Args::Ranges => &argv_buf,
            Args::Owned(v) => {
                owned_argv = v.iter().map(|a| a.as_slice()).collect();
                &owned_argv
            }
        };
        if argv.first().is_some_and(|c| is_http_attack(c)) {
            // Redis: a browser or HTTP client talking to us is an attack
            // (cross-protocol scripting): log and drop the connection silently.
            tracing::warn!(
                "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection from {} aborted.",
                client.handle.addr
            );
            return Stop::Close;
        }
        if argv.is_empty() {
            *start += consumed;
            continue;
        }
        if client.multi.is_none()
            && crate::scripting::runs_on_script_thread(argv)
            && !server
                .scripts
                .busy_for(client.handle.id, server.config.busy_threshold_ms())
        {
            return Stop::Script;
        }
        let before = out.buf.len();
        client.begin_reply();
        let outcome = execute(server, client, out, argv);
        let ran = (outcome, before, argv);
        if let Some(stop) = settle(server, client, out, ran, (consumed, start), check_at) {
            return stop;
        }
    }
}

/// After a request ran (its reply starts at `before` in `out`): apply CLIENT REPLY, move
/// `start` past it, and see whether the batch stops here. None: go on.
#[inline(always)]
fn settle(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    (outcome, before, argv): (Outcome, usize, &[&[u8]]),
    (consumed, start): (usize, &mut usize),
    check_at: usize,
) -> Option<Stop> {
    match outcome {
        Outcome::Done => client.end_reply(&mut out.buf, before),
        // Not run: the same request is tried again.
        Outcome::Paused => return Some(Stop::Paused),
        Outcome::Blocked(waiter, timeout_ms) => {
            *start += consumed;
            let argv = argv.iter().map(|a| a.to_vec()).collect();
            return Some(Stop::Blocked((waiter, timeout_ms, argv)));
        }
    }
    *start += consumed;
    if out.buf.len() >= check_at {
        match output::room(server, client, out.buf.len()) {
            Room::Ok => {}
            Room::Full => return Some(Stop::Full),
            Room::Close => return Some(Stop::Close),
        }
    }
    if client.close_after_reply || client.shutdown_requested || client.repl_hook.is_some() {
        return Some(Stop::EndBatch);
    }
    None
}
/// Write `msg` to a connection that is refused (and flush it, for TLS).
async fn write_and_close<S: ConnStream>(stream: &mut S, msg: &[u8]) {
    let _ = super::stream::send(stream, msg).await;
}

/// Execute a script command on the script thread (`Scripts::submit`) and wait for it
/// without blocking this worker thread. The job works on this connection's client, reply
/// buffer and arguments in place (no copies): this task only waits meanwhile, and if it is
/// dropped while waiting, [`JobWait`] blocks until the job has finished with them.
async fn execute_on_script_thread(
    server: &Arc<Server>,
    client: &mut Client,
    out: &mut ReplyWriter,
    argv: &[&[u8]],
) -> Outcome {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let borrowed = BorrowedRequest {
        client: std::ptr::from_mut(client),
        out: std::ptr::from_mut(out),
        // The cast erases the slices' lifetime (the job must be 'static); clippy sees only
        // the unchanged pointer type.
        #[allow(clippy::unnecessary_cast)]
        argv: std::ptr::from_ref(argv) as *const [&'static [u8]],
    };
    let srv = server.clone();
    let job: crate::scripting::Job = Box::new(move || {
        let b = borrowed;
        // SAFETY: the pointers come from the `&mut`/`&` borrows of the caller above, which
        // waits (in `JobWait`, also when dropped) until this job has sent its outcome or
        // was dropped: until then nothing else uses them, and they stay valid (they point
        // into the connection task's pinned state, or its heap buffers, which are dropped
        // only after the `JobWait` inside that state). The 'static lifetime of the
        // argument slices is never observable outside this call.
        let (c, o, a) = unsafe { (&mut *b.client, &mut *b.out, &*b.argv) };
        let outcome = execute(&srv, c, o, a);
        let _ = tx.send(outcome);
    });
    let mut wait = JobWait { rx, done: false };
    if let Err(job) = server.scripts.submit(job) {
        // No script thread: run here (the job sends its result first).
        job();
    }
    let outcome = (&mut wait.rx).await;
    wait.done = true;
    match outcome {
        Ok(outcome) => outcome,
        Err(_) => {
            out.error("ERR internal error: the script thread failed");
            Outcome::Done
        }
    }
}

/// A request's state lent to a script-thread job (see [`execute_on_script_thread`]).
struct BorrowedRequest {
    client: *mut Client,
    out: *mut ReplyWriter,
    argv: *const [&'static [u8]],
}

// SAFETY: the pointees are used by exactly one thread at a time: the script thread while
// the job runs, the connection task (which waits for the job) before and after.
unsafe impl Send for BorrowedRequest {}

/// The wait for a script-thread job; dropping it before the job finished blocks until it
/// has (the job uses the waiting task's client and buffers in place).
struct JobWait {
    rx: tokio::sync::oneshot::Receiver<Outcome>,
    done: bool,
}

impl Drop for JobWait {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Only when the connection task is dropped mid-script (server shutdown): wait for
        // the job to send its outcome or be dropped (the sender closes either way).
        while let Err(tokio::sync::oneshot::error::TryRecvError::Empty) = self.rx.try_recv() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// `POST` and `Host:` as a command name: what Redis treats as a cross-protocol attack.
fn is_http_attack(cmd: &[u8]) -> bool {
    cmd.eq_ignore_ascii_case(b"post") || cmd.eq_ignore_ascii_case(b"host:")
}

pub(super) fn take_pending(handle: &super::ClientHandle, out: &mut ReplyWriter) {
    let mut p = handle.pending.lock();
    if !p.is_empty() {
        out.buf.extend_from_slice(&p);
        p.clear();
    }
}

/// Write the output buffer; false when the peer is gone.
async fn flush<S: ConnStream>(stream: &mut S, out: &mut ReplyWriter, server: &Server) -> bool {
    if out.buf.is_empty() {
        return true;
    }
    let ok = super::stream::send(stream, &out.buf).await.is_ok();
    server
        .stats
        .net_output_bytes
        .fetch_add(out.buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
    out.buf.clear();
    if out.buf.capacity() > 1 << 20 {
        out.buf.shrink_to(64 * 1024);
    }
    ok
}

/// The query buffer's first size: enough for the requests of a client that sends one at a
/// time, so that thousands of idle connections cost little.
const FIRST_READ: usize = 1024;

/// Make room in the query buffer before a read and return the room: a full
/// [`READ_CHUNK`] once a read filled the buffer (a client that pipelines or sends big
/// values), or when little is left.
#[inline]
fn make_room(inbuf: &mut Vec<u8>, read_filled: bool) -> usize {
    if read_filled || inbuf.capacity() - inbuf.len() < FIRST_READ / 2 {
        inbuf.reserve(READ_CHUNK);
    }
    inbuf.capacity() - inbuf.len()
}

/// Give back a query buffer that a big request grew, once it is empty (Redis resizes
/// query buffers in its cron): a connection that sent one large value and went idle must
/// not keep holding it.
#[inline]
fn shrink_query_buffer(inbuf: &mut Vec<u8>) {
    if inbuf.is_empty() && inbuf.capacity() > 2 * READ_CHUNK {
        *inbuf = Vec::with_capacity(READ_CHUNK);
    }
}

/// `client-query-buffer-limit`: an unparsed query buffer past the limit closes the
/// connection (logged with the first bytes of the buffer, as Redis does; counted in INFO).
#[inline]
pub(super) fn query_buffer_full(
    server: &Server,
    handle: &super::ClientHandle,
    inbuf: &[u8],
) -> bool {
    if inbuf.len() <= server.config.query_buffer_limit() {
        return false;
    }
    close_for_query_buffer(server, handle, inbuf);
    true
}

/// Log and count a close for `client-query-buffer-limit` (cold).
#[cold]
fn close_for_query_buffer(server: &Server, handle: &super::ClientHandle, inbuf: &[u8]) {
    let head = inbuf.get(..64).unwrap_or(inbuf);
    tracing::warn!(
        "Closing client that reached max query buffer length: id={} addr={} qbuf={} (qbuf initial bytes: {:?})",
        handle.id,
        handle.addr,
        inbuf.len(),
        String::from_utf8_lossy(head)
    );
    server
        .stats
        .query_buffer_limit_disconnections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// End a wait from the waiting side (timeout, disconnect) unless it already ended, and
/// remove its registrations.
fn end_wait(server: &Server, waiter: &Arc<Waiter>, state: WaitState) {
    waiter.finish(state);
    crate::commands::unblock::unregister(server, waiter);
    *waiter.client.blocked.lock() = None;
}

/// Park a client blocked in BLPOP & co until its wait ends, then put the reply in `out`.
/// Bytes the client sends meanwhile are kept in `inbuf` (run after the wait, as Redis
/// does). A BLMOVE that could not be served atomically runs again and may block again.
/// Returns false when the connection must close (peer gone, CLIENT KILL).
#[allow(clippy::too_many_arguments)]
async fn wait_blocked<'h, S: ConnStream>(
    server: &Server,
    client: &mut Client,
    handle: &'h super::ClientHandle,
    stream: &mut S,
    wake: &mut std::pin::Pin<&mut tokio::sync::futures::Notified<'h>>,
    inbuf: &mut Vec<u8>,
    out: &mut ReplyWriter,
    mut waiter: Arc<Waiter>,
    mut timeout_ms: u64,
    argv: Vec<Vec<u8>>,
) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    loop {
        *client.handle.blocked.lock() = Some(waiter.clone());
        client.blocked_now = true;
        client.info_changed = true;
        client.publish_info(out.resp3, inbuf.len());
        // The replies before the blocking command go out now.
        wait_for_durability(server).await;
        if !flush(stream, out, server).await {
            end_wait(server, &waiter, WaitState::Unblocked { error: false });
            return false;
        }
        // A deadline past what the clock can represent is as good as none.
        let deadline = (timeout_ms > 0)
            .then(|| tokio::time::Instant::now().checked_add(Duration::from_millis(timeout_ms)))
            .flatten();
        let state = loop {
            let current = waiter.state.lock().clone();
            if current != WaitState::Waiting {
                break current;
            }
            if handle.is_killed() {
                end_wait(server, &waiter, WaitState::Unblocked { error: false });
                return false;
            }
            let sleep = async {
                match deadline {
                    Some(d) => super::timer::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut *wake => {
                    wake.set(handle.wake.notified());
                    // Pub/Sub messages (RESP3 clients may block while subscribed). A
                    // wake-up consumed while writing is harmless: the wait state is
                    // checked again at the top of the loop.
                    take_pending(handle, out);
                    let mut woken = false;
                    let flushed = output::flush(
                        stream,
                        out,
                        (server, client),
                        handle,
                        wake,
                        &mut woken,
                        None,
                        false,
                    )
                    .await;
                    if flushed == Flushed::Closed {
                        end_wait(server, &waiter, WaitState::Unblocked { error: false });
                        return false;
                    }
                }
                _ = sleep => {
                    waiter.finish(WaitState::TimedOut);
                }
                r = stream.read_buf(inbuf) => match r {
                    Ok(0) | Err(_) => {
                        end_wait(server, &waiter, WaitState::Unblocked { error: false });
                        return false;
                    }
                    Ok(n) => {
                        server.stats.net_input_bytes.fetch_add(n as u64, Relaxed);
                        if query_buffer_full(server, handle, inbuf) {
                            end_wait(server, &waiter, WaitState::Unblocked { error: false });
                            return false;
                        }
                    }
                },
            }
        };
        end_wait(server, &waiter, state.clone());
        client.blocked_now = false;
        client.info_changed = true;
        match state {
            WaitState::Served(reply) => {
                if reply.starts_with(b"-") {
                    server.record_blocked_failure(client.last_cmd, &reply);
                }
                out.buf.extend_from_slice(&reply)
            }
            WaitState::Unblocked { error: true } => {
                out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
            }
            WaitState::TimedOut | WaitState::Unblocked { error: false } => out.null_array(),
            WaitState::Waiting => {}
            WaitState::Retry => {
                client.start_batch();
                let args: SmallVec<[&[u8]; 8]> = argv.iter().map(|a| a.as_slice()).collect();
                match execute(server, client, out, &args) {
                    Outcome::Blocked(w, t) => {
                        waiter = w;
                        timeout_ms = t;
                        continue;
                    }
                    Outcome::Done | Outcome::Paused => {}
                }
            }
        }
        return true;
    }
}

/// With `appendfsync always`, replies wait until everything logged so far is on disk, so
/// no reply (to a writer, or to a reader of fresh data) gets ahead of the log.
async fn wait_for_durability(server: &Server) {
    server.aof.write_after_batch();
    if replies_wait_for_fsync(server) {
        server.aof.sync_for_reply().await;
    }
}

/// Replies wait for the log's fsync (`appendfsync always`).
#[inline]
pub(super) fn replies_wait_for_fsync(server: &Server) -> bool {
    let aof = &server.aof;
    aof.enabled() && aof.fsync() == crate::persistence::aof::Fsync::Always
}
