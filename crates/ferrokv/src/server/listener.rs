//! Listening sockets and worker threads. Each worker runs its own event loop
//! (`server::reactor`, epoll through mio) and executes the commands of the connections it
//! accepted inline: no hop to another thread on the hot path. A companion thread per
//! worker runs a tokio current-thread runtime for TLS connections and for the connections
//! the event loop hands over when they need to wait (blocking commands, scripts...).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

use super::{connection, Server};

/// Bind every address of `bind` on `port` (`-addr` marks an optional address, as in Redis).
pub fn bind_listener(bind: &str, port: u16, backlog: i32) -> Result<Vec<TcpListener>, String> {
    bind_addresses(bind, port, backlog, "tcp")
}

/// [`bind_listener`] for `tls-port` (Redis's error texts say "tls").
pub fn bind_tls_listener(bind: &str, port: u16, backlog: i32) -> Result<Vec<TcpListener>, String> {
    bind_addresses(bind, port, backlog, "tls")
}

fn bind_addresses(
    bind: &str,
    port: u16,
    backlog: i32,
    proto: &str,
) -> Result<Vec<TcpListener>, String> {
    let mut out = Vec::new();
    for addr in bind.split_whitespace() {
        let (optional, host) = match addr.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, addr),
        };
        let host = if host == "*" { "0.0.0.0" } else { host };
        let sockaddr: SocketAddr = if host.contains(':') {
            format!("[{}]:{}", host.trim_matches(|c| c == '[' || c == ']'), port)
        } else {
            format!("{}:{}", host, port)
        }
        .parse()
        .map_err(|e| format!("Invalid bind address '{}': {}", addr, e))?;
        match bind_one(sockaddr, backlog) {
            Ok(l) => out.push(l),
            Err(e) if optional => tracing::warn!("Skipping optional bind {}: {}", sockaddr, e),
            Err(e) => {
                return Err(format!(
                    "Warning: Could not create server TCP listening socket {}: bind: {}\nFailed listening on port {} ({}), aborting.",
                    sockaddr, e, port, proto
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(format!(
            "Failed listening on port {} ({}), aborting.",
            port, proto
        ));
    }
    Ok(out)
}

fn bind_one(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Start the background threads (active expiry; the persistence cron).
pub fn start_background(server: Arc<Server>) {
    crate::replication::start_from_config(&server);
    let s = server.clone();
    let _ = std::thread::Builder::new()
        .name("expire".into())
        .spawn(move || {
            crate::storage::expiry::run_active_expire(
                s,
                crate::commands::unblock::serve_after_expiry,
            )
        });
    let s = server.clone();
    let _ = std::thread::Builder::new()
        .name("evict".into())
        .spawn(move || crate::server::evict::run_background(s));
    let _ = std::thread::Builder::new()
        .name("cron".into())
        .spawn(move || run_cron(server));
}

/// Periodic persistence work (Redis's serverCron part of it): the automatic AOF rewrite,
/// the `save` points, scheduled BGSAVE / BGREWRITEAOF.
fn run_cron(server: Arc<Server>) {
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if server.is_shutting_down() {
            return;
        }
        crate::persistence::rewrite::maybe_auto_rewrite(&server);
        crate::persistence::save::maybe_bgsave(&server);
        crate::replication::cron(&server);
    }
}

/// Run the worker threads on `listeners` (plain) and `tls_listeners` and wait for a
/// shutdown signal.
pub fn run(
    server: Arc<Server>,
    listeners: Vec<TcpListener>,
    tls_listeners: Vec<TcpListener>,
) -> std::io::Result<()> {
    // Signal handlers first: a SIGTERM that arrives once clients can connect must already
    // mean "shut down cleanly", not the default "die".
    let signal_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut term, mut int) = signal_rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        Ok::<_, std::io::Error>((
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        ))
    })?;
    let threads = server.config.threads();
    super::timer::start()?;
    if let Some(port) = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
    {
        server
            .port
            .store(port as u64, std::sync::atomic::Ordering::Relaxed);
    }
    *server.listeners.lock() = listeners;
    *server.tls.listeners.lock() = tls_listeners;
    for i in 0..threads {
        start_worker(&server, i)?;
    }
    // Load the data while clients can already connect (they get -LOADING meanwhile).
    if let Err(e) = crate::persistence::load::start(&server) {
        tracing::error!("{}", e);
        std::process::exit(1);
    }
    server
        .loading
        .store(false, std::sync::atomic::Ordering::Release);
    tracing::info!(
        "Ready to accept connections tcp ({} worker threads)",
        threads
    );
    signal_rt.block_on(async move {
        loop {
            let reason = tokio::select! {
                _ = term.recv() => "Received SIGTERM scheduling shutdown...",
                _ = int.recv() => "Received SIGINT scheduling shutdown...",
            };
            tracing::warn!("{}", reason);
            // Save first when save points are set; if that fails, keep running (Redis).
            match crate::persistence::save::save_on_shutdown(&server, None) {
                Ok(()) => server.shutdown(reason),
                Err(e) => tracing::warn!("Error trying to save the DB, can't exit: {}", e),
            }
        }
    })
}

/// Start worker `i`: a thread with the event loop for plain TCP connections
/// (`server::reactor`), and a companion thread whose tokio runtime (I/O only: timers come
/// from server::timer, a time driver there cost instructions on every wake-up) serves TLS
/// connections and the plain ones the event loop hands over.
fn start_worker(server: &Arc<Server>, i: usize) -> std::io::Result<()> {
    let poll = mio::Poll::new()?;
    let shared = super::reactor::Shared::new(&poll)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let async_path = rt.handle().clone();
    let (s, sh) = (server.clone(), shared.clone());
    std::thread::Builder::new()
        .name(format!("worker-{}-async", i))
        .spawn(move || rt.block_on(async_worker(s, sh)))?;
    let s = server.clone();
    std::thread::Builder::new()
        .name(format!("worker-{}", i))
        .spawn(move || super::reactor::run(s, poll, shared, async_path))?;
    Ok(())
}

/// A worker's async side: accept on (its clones of) the server's TLS listeners and serve
/// each connection; when CONFIG SET replaces the listeners, stop accepting on the old ones
/// and start on the new, and tell the worker's event loop, which accepts on the plain
/// ones. Connections already accepted are not affected.
async fn async_worker(server: Arc<Server>, reactor: Arc<super::reactor::Shared>) {
    let mut changed = server.listeners_changed.subscribe();
    loop {
        changed.mark_unchanged();
        let tls_clones: Vec<TcpListener> = server
            .tls
            .listeners
            .lock()
            .iter()
            .filter_map(|l| l.try_clone().ok())
            .collect();
        let tasks: Vec<_> = tls_clones
            .into_iter()
            .map(|l| tokio::spawn(accept_loop(server.clone(), l)))
            .collect();
        if changed.changed().await.is_err() {
            // The server is gone: keep accepting until the process exits.
            for t in tasks {
                let _ = t.await;
            }
            return;
        }
        for t in tasks {
            t.abort();
        }
        reactor.listeners_changed();
    }
}

/// Accept connections on TLS listener `listener` and spawn a task for each, until
/// aborted. The task does the handshake first, with the configuration in force now.
async fn accept_loop(server: Arc<Server>, listener: TcpListener) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("listener: {}", e);
            return;
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if let Some(acceptor) = server.tls.acceptor() {
                    tokio::spawn(serve_tls(server.clone(), acceptor, stream));
                }
            }
            Err(e) => {
                tracing::warn!("Accepting client connection: {}", e);
                super::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// How long a connection on the TLS port may take to complete its handshake. A peer that
/// connects and sends nothing (or stops halfway) would otherwise hold its task and socket
/// forever, and 10,000 such peers would hold 10,000 of them; a real client finishes in
/// milliseconds.
pub const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Complete the TLS handshake of a connection accepted on the TLS port and serve it; a
/// failed handshake (no client certificate when one is required, an unknown CA) is
/// logged as Redis does and the connection closed, as is one not completed within
/// [`TLS_HANDSHAKE_TIMEOUT`].
async fn serve_tls(
    server: Arc<Server>,
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
) {
    let _ = stream.set_nodelay(true);
    match super::timer::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => connection::serve(server, tls).await,
        Ok(Err(e)) => tracing::warn!("Error accepting a client connection: {}", e),
        Err(_) => tracing::warn!(
            "Error accepting a client connection: TLS handshake not completed within {} s",
            TLS_HANDSHAKE_TIMEOUT.as_secs()
        ),
    }
}
