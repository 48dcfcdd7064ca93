//! One client connection: read what is available, parse and execute every complete
//! request inline, write all replies with one syscall per batch.

use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use resp::{parse_request, Args, Limits, Parsed, ReplyWriter};
use smallvec::SmallVec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::blocking::{WaitState, Waiter};
use super::stream::ConnStream;
use super::{Client, ReplyMode, Server};
use crate::commands::dispatch::{execute, Outcome};

const READ_CHUNK: usize = 16 * 1024;

/// What Redis 7.0 writes to a connection it refuses in protected mode, before closing it.
const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Redis's protected mode: with `protected-mode yes` and no password for the default user,
/// only connections from 127.0.0.1 and ::1 are accepted (Redis compares the peer address
/// with exactly these two, so 127.0.0.2 is refused too).
fn refused_by_protected_mode(server: &Server, peer: Option<std::net::SocketAddr>) -> bool {
    if server.config.has_password() || server.config.get("protected-mode") != "yes" {
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
    let maxclients: usize = server.config.get("maxclients").parse().unwrap_or(10000);
    if server.connected_clients() > maxclients {
        server
            .stats
            .rejected_connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        write_and_close(&mut stream, b"-ERR max number of clients reached\r\n").await;
        server.unregister_client(handle.id);
        return;
    }
    if refused_by_protected_mode(&server, stream.tcp().peer_addr().ok()) {
        server
            .stats
            .rejected_connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        write_and_close(&mut stream, PROTECTED_MODE_DENIED.as_bytes()).await;
        server.unregister_client(handle.id);
        return;
    }
    let mut client = Client::new(handle.clone(), !server.config.has_password());
    let mut out = ReplyWriter::new();
    let mut inbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut start = 0usize;

    // One wake-up future for the connection's life, renewed only when it fires: creating
    // and dropping one per read showed up in the per-request instruction count.
    let wake = handle.wake.notified();
    tokio::pin!(wake);
    // Requests still in the buffer after a blocking command's wait: run them before reading.
    let mut resume = false;
    // A wake-up was consumed while writing: take the pending output without waiting.
    let mut woken = false;
    'conn: loop {
        if inbuf.capacity() - inbuf.len() < READ_CHUNK / 2 {
            inbuf.reserve(READ_CHUNK);
        }
        let skip_wait = std::mem::take(&mut resume) | std::mem::take(&mut woken);
        if !skip_wait {
            tokio::select! {
                biased;
                r = stream.read_buf(&mut inbuf) => match r {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(n) => {
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

        // Execute every complete request in the buffer (up to a command that blocks).
        let mut blocked = None;
        loop {
            let limits = Limits {
                max_bulk_len: server.config.proto_max_bulk_len(),
                authenticated: client.authenticated,
                ..Limits::default()
            };
            let buf = &inbuf[start..];
            match parse_request(buf, &limits, &mut ranges) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Request { args, consumed }) => {
                    let argv: SmallVec<[&[u8]; 8]> = match &args {
                        Args::Ranges => ranges
                            .iter()
                            .map(|r| buf.get(r.clone()).unwrap_or(&[]))
                            .collect(),
                        Args::Owned(v) => v.iter().map(|a| a.as_slice()).collect(),
                    };
                    if argv.first().is_some_and(|c| is_http_attack(c)) {
                        // Redis: a browser or HTTP client talking to us is an attack
                        // (cross-protocol scripting): log and drop the connection silently.
                        tracing::warn!(
                            "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection from {} aborted.",
                            handle.addr
                        );
                        break 'conn;
                    }
                    if !argv.is_empty() {
                        let before = out.buf.len();
                        let skipping = client.reply_mode == ReplyMode::Skip;
                        if skipping {
                            client.reply_mode = ReplyMode::SkipThis;
                        }
                        let outcome = if client.multi.is_none()
                            && crate::scripting::runs_on_script_thread(&argv)
                            && !server
                                .scripts
                                .busy_for(client.handle.id, server.config.busy_threshold_ms())
                        {
                            execute_on_script_thread(&server, &mut client, &mut out, &argv).await
                        } else {
                            execute(&server, &mut client, &mut out, &argv)
                        };
                        match outcome {
                            Outcome::Done => {}
                            Outcome::Paused => {
                                // CLIENT PAUSE: stop here and retry this request later.
                                flush(&mut stream, &mut out, &server).await;
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                // The batch's clock must not lag behind a long pause.
                                client.start_batch();
                                continue;
                            }
                            Outcome::Blocked(waiter, timeout_ms) => {
                                let owned: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
                                start += consumed;
                                blocked = Some((waiter, timeout_ms, owned));
                                break;
                            }
                        }
                        match client.reply_mode {
                            ReplyMode::Off => out.buf.truncate(before),
                            ReplyMode::SkipThis => {
                                out.buf.truncate(before);
                                client.reply_mode = ReplyMode::On;
                            }
                            _ => {}
                        }
                        if !client.pushed.is_empty() {
                            out.buf.append(&mut client.pushed);
                        }
                    }
                    start += consumed;
                    if client.close_after_reply || client.shutdown_requested {
                        break;
                    }
                }
                Err(e) => {
                    out.error(&format!("ERR Protocol error: {}", e.0));
                    server.record_error("ERR");
                    client.close_after_reply = true;
                    break;
                }
            }
        }
        if start > 0 {
            inbuf.drain(..start);
            start = 0;
        }
        if let Some((waiter, timeout_ms, argv)) = blocked {
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
        if inbuf.len() > server.config.query_buffer_limit() {
            tracing::warn!(
                "Closing client that reached max query buffer length: addr={}",
                handle.addr
            );
            break;
        }
        client.publish_info(out.resp3, inbuf.len());
        wait_for_durability(&server).await;
        if !flush_watching(
            &mut stream,
            &mut out,
            &server,
            &handle,
            &mut wake,
            &mut woken,
        )
        .await
        {
            break;
        }
        if client.shutdown_requested {
            server.shutdown("User requested shutdown...");
        }
        if client.close_after_reply {
            break;
        }
    }
    crate::commands::shared::watch::unwatch_all(&server, &mut client);
    server.pubsub.forget_client(&mut client);
    super::tracking::turn_off(&server, &mut client);
    server.unregister_client(handle.id);
    if S::BUFFERED {
        // TLS: say goodbye with close_notify, as an OpenSSL peer expects.
        let _ = tokio::time::timeout(Duration::from_millis(100), stream.shutdown()).await;
    }
}

/// Write `msg` to a connection that is refused (and flush it, for TLS).
async fn write_and_close<S: ConnStream>(stream: &mut S, msg: &[u8]) {
    if stream.write_all(msg).await.is_ok() && S::BUFFERED {
        let _ = stream.flush().await;
    }
}

/// `POST` and `Host:` as a command name: what Redis treats as a cross-protocol attack.
/// Execute a script command on the script thread (`Scripts::submit`) and wait for it
/// without blocking this worker thread: the client's state travels with the job and comes
/// back with the reply.
async fn execute_on_script_thread(
    server: &Arc<Server>,
    client: &mut Client,
    out: &mut ReplyWriter,
    argv: &[&[u8]],
) -> Outcome {
    let owned: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    let placeholder = Client::new(client.handle.clone(), client.authenticated);
    let moved = std::mem::replace(client, placeholder);
    let resp3 = out.resp3;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let srv = server.clone();
    let job: crate::scripting::Job = Box::new(move || {
        let mut c = moved;
        let mut o = ReplyWriter {
            buf: Vec::new(),
            resp3,
        };
        let refs: Vec<&[u8]> = owned.iter().map(|a| a.as_slice()).collect();
        let outcome = execute(&srv, &mut c, &mut o, &refs);
        let _ = tx.send((c, o, outcome));
    });
    if let Err(job) = server.scripts.submit(job) {
        // No script thread: run here (the job sends its result first).
        job();
    }
    match rx.await {
        Ok((c, o, outcome)) => {
            *client = c;
            out.buf.extend_from_slice(&o.buf);
            outcome
        }
        Err(_) => {
            out.error("ERR internal error: the script thread failed");
            Outcome::Done
        }
    }
}

fn is_http_attack(cmd: &[u8]) -> bool {
    cmd.eq_ignore_ascii_case(b"post") || cmd.eq_ignore_ascii_case(b"host:")
}

fn take_pending(handle: &super::ClientHandle, out: &mut ReplyWriter) {
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
    let mut ok = stream.write_all(&out.buf).await.is_ok();
    if ok && S::BUFFERED {
        ok = stream.flush().await.is_ok();
    }
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

/// [`flush`] for the main loop: while the socket does not take the bytes (a subscriber
/// that does not read), keep watching for wake-ups, so that a client killed meanwhile
/// (CLIENT KILL, the Pub/Sub output-buffer limits) is closed instead of waiting forever.
/// The bytes not yet written count against the output-buffer limits (`unsent`). A wake-up
/// consumed here sets `woken`, so the caller takes the pending output without waiting.
async fn flush_watching<'h, S: ConnStream>(
    stream: &mut S,
    out: &mut ReplyWriter,
    server: &Server,
    handle: &'h super::ClientHandle,
    wake: &mut std::pin::Pin<&mut tokio::sync::futures::Notified<'h>>,
    woken: &mut bool,
) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    if out.buf.is_empty() {
        return true;
    }
    // Usually the socket takes everything at once: no future, no select.
    let mut written = stream.try_write_now(&out.buf).unwrap_or(0);
    let ok = if written >= out.buf.len() {
        true
    } else {
        handle
            .unsent
            .store((out.buf.len() - written) as u64, Relaxed);
        // A TLS stream keeps records in its buffer: flush them once everything is written.
        let mut flushed = !S::BUFFERED;
        let ok = loop {
            let rest = out.buf.get(written..).filter(|r| !r.is_empty());
            if rest.is_none() && flushed {
                break true;
            }
            tokio::select! {
                biased;
                r = write_or_flush(stream, rest) => match r {
                    Err(_) => break false,
                    Ok(0) if rest.is_some() => break false,
                    Ok(_) if rest.is_none() => flushed = true,
                    Ok(n) => {
                        written += n;
                        handle
                            .unsent
                            .store(out.buf.len().saturating_sub(written) as u64, Relaxed);
                    }
                },
                _ = &mut *wake => {
                    wake.set(handle.wake.notified());
                    *woken = true;
                    if handle.is_killed() {
                        break false;
                    }
                }
            }
        };
        handle.unsent.store(0, Relaxed);
        ok
    };
    server
        .stats
        .net_output_bytes
        .fetch_add(written as u64, Relaxed);
    out.buf.clear();
    if out.buf.capacity() > 1 << 20 {
        out.buf.shrink_to(64 * 1024);
    }
    ok
}

/// Write some of `rest`, or flush the stream when everything is written.
async fn write_or_flush<S: ConnStream>(
    stream: &mut S,
    rest: Option<&[u8]>,
) -> std::io::Result<usize> {
    match rest {
        Some(r) => stream.write(r).await,
        None => stream.flush().await.map(|()| 0),
    }
}

/// End a wait from the waiting side (timeout, disconnect) unless it already ended, and
/// remove its registrations.
fn end_wait(server: &Server, waiter: &Arc<Waiter>, state: WaitState) {
    waiter.finish(state);
    crate::commands::unblock::unregister(server, waiter);
    *waiter.client.blocked.lock() = None;
    server
        .stats
        .blocked_clients
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
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
        server.stats.blocked_clients.fetch_add(1, Relaxed);
        *client.handle.blocked.lock() = Some(waiter.clone());
        client.blocked_now = true;
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
                    Some(d) => tokio::time::sleep_until(d).await,
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
                    if !flush_watching(stream, out, server, handle, wake, &mut woken).await {
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
                        if inbuf.len() > server.config.query_buffer_limit() {
                            end_wait(server, &waiter, WaitState::Unblocked { error: false });
                            return false;
                        }
                    }
                },
            }
        };
        end_wait(server, &waiter, state.clone());
        client.blocked_now = false;
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
    let aof = &server.aof;
    aof.write_after_batch();
    if aof.enabled() && aof.fsync() == crate::persistence::aof::Fsync::Always {
        aof.sync_for_reply().await;
    }
}
