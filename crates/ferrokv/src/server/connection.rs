//! One client connection: read what is available, parse and execute every complete
//! request inline, write all replies with one syscall per batch.

use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use resp::{parse_request, Args, Limits, Parsed, ReplyWriter};
use smallvec::SmallVec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Client, ReplyMode, Server};
use crate::commands::dispatch::{execute, Outcome};

const READ_CHUNK: usize = 16 * 1024;

/// Serve one connection until it closes.
pub async fn serve(server: Arc<Server>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let addr = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let fd = stream.as_raw_fd() as i64;
    let handle = server.register_client(addr, laddr, fd);
    let maxclients: usize = server.config.get("maxclients").parse().unwrap_or(10000);
    if server.connected_clients() > maxclients {
        server
            .stats
            .rejected_connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
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
    'conn: loop {
        if inbuf.capacity() - inbuf.len() < READ_CHUNK / 2 {
            inbuf.reserve(READ_CHUNK);
        }
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
        if handle.is_killed() {
            break;
        }
        take_pending(&handle, &mut out);
        client.start_batch();

        // Execute every complete request in the buffer.
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
                        if let Outcome::Paused = execute(&server, &mut client, &mut out, &argv) {
                            // CLIENT PAUSE: stop here and retry this request later.
                            flush(&mut stream, &mut out, &server).await;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            // The batch's clock must not lag behind a long pause.
                            client.start_batch();
                            continue;
                        }
                        match client.reply_mode {
                            ReplyMode::Off => out.buf.truncate(before),
                            ReplyMode::SkipThis => {
                                out.buf.truncate(before);
                                client.reply_mode = ReplyMode::On;
                            }
                            _ => {}
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
        if inbuf.len() > server.config.query_buffer_limit() {
            tracing::warn!(
                "Closing client that reached max query buffer length: addr={}",
                handle.addr
            );
            break;
        }
        client.publish_info(out.resp3, inbuf.len());
        if !flush(&mut stream, &mut out, &server).await {
            break;
        }
        if client.shutdown_requested {
            server.shutdown("User requested shutdown...");
        }
        if client.close_after_reply {
            break;
        }
    }
    crate::commands::transactions::unwatch_all(&server, &mut client);
    server.unregister_client(handle.id);
}

/// `POST` and `Host:` as a command name: what Redis treats as a cross-protocol attack.
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
async fn flush(stream: &mut TcpStream, out: &mut ReplyWriter, server: &Server) -> bool {
    if out.buf.is_empty() {
        return true;
    }
    let ok = stream.write_all(&out.buf).await.is_ok();
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
