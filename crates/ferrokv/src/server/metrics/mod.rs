//! The built-in Prometheus endpoint and status page: `GET /metrics` (the Prometheus text
//! format, with redis_exporter's metric names) and `GET /` (a small HTML page with the same
//! figures), on `metrics-port` (0, the default, is off) and `metrics-bind` (empty: the
//! server's `bind`).
//!
//! The HTTP server (hyper) runs on its own thread with its own single-threaded tokio
//! runtime, like a worker's, so a scrape never runs on a thread that executes commands:
//! a slow or stalled scraper only holds one of [`MAX_CONNECTIONS`] connection slots on
//! that thread, and every connection is closed after [`CONNECTION_DEADLINE`]. A scrape
//! reads the figures INFO reads ([`snapshot`]); counting keys takes each shard lock for
//! a moment, one at a time, as DBSIZE does.
//!
//! CONFIG SET of `metrics-port`, `metrics-bind` or `bind` is picked up within
//! [`CONFIG_POLL`]: the thread compares the configuration with what it listens on and
//! rebinds (a port it cannot bind is logged, and retried only when the configuration
//! changes again). At start-up a port that cannot be bound stops the server, as for
//! `port`.

pub mod exposition;
pub mod page;
pub mod snapshot;

use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::server::Server;

/// Connections served at once; more are closed at accept.
pub const MAX_CONNECTIONS: usize = 32;
/// The longest a connection stays open (keep-alive included).
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the configuration is compared with the listening sockets.
pub const CONFIG_POLL: Duration = Duration::from_millis(200);
const BACKLOG: i32 = 128;

/// Where the endpoint should listen: `(bind, port)`, or `None` when `metrics-port` is 0.
pub fn endpoint(config: &Config) -> Option<(String, u16)> {
    let port: u16 = config.get("metrics-port").parse().unwrap_or(0);
    if port == 0 {
        return None;
    }
    let bind = config.get("metrics-bind");
    let bind = if bind.trim().is_empty() {
        config.get("bind")
    } else {
        bind
    };
    Some((bind, port))
}

/// Bind the endpoint when `metrics-port` is set and start its thread (it also serves
/// ports set later with CONFIG SET). Fails when the configured port cannot be bound.
pub fn start(server: &Arc<Server>) -> Result<(), String> {
    let initial = match endpoint(&server.config) {
        Some((bind, port)) => {
            let listeners = crate::server::bind_listener(&bind, port, BACKLOG)
                .map_err(|e| format!("metrics endpoint: {}", e))?;
            tracing::info!("Metrics endpoint listening on {} port {}", bind, port);
            Some(((bind, port), listeners))
        }
        None => None,
    };
    let server = server.clone();
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || run(server, initial))
        .map(|_| ())
        .map_err(|e| format!("metrics endpoint thread: {}", e))
}

type Endpoint = (String, u16);

fn run(server: Arc<Server>, initial: Option<(Endpoint, Vec<TcpListener>)>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("metrics endpoint could not start its event loop: {}", e);
            return;
        }
    };
    rt.block_on(supervise(server, initial));
}

/// Serve the current endpoint; rebind when the configuration changes.
async fn supervise(server: Arc<Server>, initial: Option<(Endpoint, Vec<TcpListener>)>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (mut current, mut tasks) = match initial {
        Some((ep, listeners)) => (Some(ep), spawn_accept(&server, listeners, &slots)),
        None => (None, Vec::new()),
    };
    loop {
        tokio::time::sleep(CONFIG_POLL).await;
        if server.is_shutting_down() {
            return;
        }
        let wanted = endpoint(&server.config);
        if wanted == current {
            continue;
        }
        // Close the old sockets (the aborted tasks own them) before binding the new ones,
        // which may reuse the port.
        for t in tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
        if let Some((bind, port)) = &wanted {
            match crate::server::bind_listener(bind, *port, BACKLOG) {
                Ok(listeners) => {
                    tracing::info!("Metrics endpoint listening on {} port {}", bind, port);
                    tasks = spawn_accept(&server, listeners, &slots);
                }
                Err(e) => tracing::warn!("metrics endpoint: {}", e),
            }
        } else {
            tracing::info!("Metrics endpoint closed");
        }
        current = wanted;
    }
}

fn spawn_accept(
    server: &Arc<Server>,
    listeners: Vec<TcpListener>,
    slots: &Arc<Semaphore>,
) -> Vec<JoinHandle<()>> {
    listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(server.clone(), l, slots.clone())))
        .collect()
}

/// Accept connections until aborted; each is served by its own task while a slot is free.
async fn accept_loop(server: Arc<Server>, listener: TcpListener, slots: Arc<Semaphore>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("metrics endpoint: {}", e);
            return;
        }
    };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("metrics endpoint: accepting a connection: {}", e);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Too many connections (stalled scrapers): close this one rather than queue it.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let server = server.clone();
        tokio::spawn(async move {
            serve_connection(server, stream).await;
            drop(slot);
        });
    }
}

/// HTTP/1.1 on one connection, closed after [`CONNECTION_DEADLINE`] whatever it does.
async fn serve_connection(server: Arc<Server>, stream: tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let response = respond(&server, req.method(), req.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(CONNECTION_DEADLINE, conn).await;
}

/// The response to `method path`: `/metrics`, `/`, 404 for other paths, 405 for methods
/// other than GET and HEAD.
pub fn respond(server: &Server, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path {
        "/metrics" => match exposition::render(snapshot::Snapshot::take(server)) {
            Ok(text) => with_type(StatusCode::OK, text, exposition::CONTENT_TYPE),
            Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"),
        },
        "/" => {
            let html = page::render(&snapshot::Snapshot::take(server));
            with_type(StatusCode::OK, html, "text/html; charset=utf-8")
        }
        _ => plain(StatusCode::NOT_FOUND, "not found: try /metrics or /\n"),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    with_type(status, text.to_string(), "text/plain; charset=utf-8")
}

fn with_type(
    status: StatusCode,
    body: String,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_follows_the_configuration() {
        let cfg = Config::defaults();
        assert_eq!(endpoint(&cfg), None, "off by default");
        assert!(cfg.set("metrics-port", "9121").is_ok());
        assert_eq!(endpoint(&cfg), Some(("127.0.0.1".to_string(), 9121)));
        assert!(cfg.set("bind", "127.0.0.1 -::1").is_ok());
        assert_eq!(endpoint(&cfg), Some(("127.0.0.1 -::1".to_string(), 9121)));
        assert!(cfg.set("metrics-bind", "0.0.0.0").is_ok());
        assert_eq!(endpoint(&cfg), Some(("0.0.0.0".to_string(), 9121)));
        assert!(cfg.set("metrics-port", "65536").is_err());
        assert!(cfg.set("metrics-port", "0").is_ok());
        assert_eq!(endpoint(&cfg), None);
    }
}
