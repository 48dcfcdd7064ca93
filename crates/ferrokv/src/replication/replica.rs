//! The replica's side: REPLICAOF starts a link thread that connects to the primary, does
//! Redis 7.0's handshake (PING, AUTH, REPLCONF listening-port / capa eof psync2, PSYNC),
//! loads the RDB of a full sync (`$<len>` or `$EOF:<mark>`), then applies the stream as
//! the master client (as the append-only file's replay does) and acknowledges its offset
//! every second. Every applied command's bytes go to our own backlog and replicas, so our
//! offsets are the primary's.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use resp::{parse_request, Args, Limits, Parsed, ReplyWriter};

use super::backlog::Backlog;
use super::NO_REPLID;
use crate::commands::dispatch::execute;
use crate::server::{Client, ClientHandle, Server};

/// State of the link to our primary (ROLE's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Waiting to connect.
    Connect,
    /// Connecting.
    Connecting,
    /// Handshake in progress.
    Handshake,
    /// Receiving the RDB.
    Transfer,
    /// Applying the stream.
    Connected,
}

impl Link {
    /// ROLE's state name.
    pub fn name(self) -> &'static str {
        match self {
            Link::Connect => "connect",
            Link::Connecting => "connecting",
            Link::Handshake => "handshake",
            Link::Transfer => "sync",
            Link::Connected => "connected",
        }
    }
}

/// The primary we replicate.
#[derive(Debug)]
pub struct MasterState {
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Link state.
    pub link: Link,
    /// Last time we heard from it (Unix ms, 0: never).
    pub last_io_ms: u64,
    /// When the link went down (Unix ms, 0: never up).
    pub down_since_ms: u64,
    /// Size of the RDB being received (-1: EOF-marked, unknown).
    pub transfer_size: i64,
    /// Bytes of it received.
    pub transfer_read: i64,
    /// Link generation: a thread whose generation is not current stops.
    pub generation: u64,
    /// The master client (CLIENT LIST / KILL TYPE master), while connected.
    pub handle: Option<Arc<ClientHandle>>,
    /// The link's socket while connected (to see whether stream bytes wait unread).
    pub sock: Option<TcpStream>,
}

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// REPLICAOF host port: follow a (new) primary. Our replicas stay attached, as in Redis
/// 7.0: they are disconnected only once our history changes (a full sync loaded, or a
/// +CONTINUE under a new id), so they may continue; and what was queued for them before
/// the switch still reaches them.
pub fn replicate(server: &Arc<Server>, host: String, port: u16) {
    let gen = GENERATION.fetch_add(1, Ordering::AcqRel) + 1;
    {
        let mut st = server.repl.state.lock();
        if let Some(old) = st.master.take() {
            if let Some(h) = old.handle {
                h.kill();
            }
        }
        server.config.set_replicaof(&format!("{} {}", host, port));
        st.master = Some(MasterState {
            host,
            port,
            link: Link::Connect,
            last_io_ms: 0,
            down_since_ms: crate::util::now_ms(),
            transfer_size: -1,
            transfer_read: 0,
            generation: gen,
            handle: None,
            sock: None,
        });
        server.repl.update_feeding(&st);
    }
    crate::storage::expiry::set_replica_mode(true);
    unblock_blocked_clients(server);
    let server = server.clone();
    let spawned = std::thread::Builder::new()
        .name("repl-link".into())
        .spawn(move || link_thread(server, gen));
    if spawned.is_err() {
        tracing::warn!("Can't start the replication link thread");
    }
}

/// Redis's reply to clients blocked (BLPOP & co.) when the server turns into a replica.
const UNBLOCKED_REPLICA: &[u8] =
    b"-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n";

/// Clients blocked in a blocking command get an error when we start following a primary
/// (their command could never be served by a write of ours), as Redis does.
fn unblock_blocked_clients(server: &Server) {
    let handles: Vec<Arc<ClientHandle>> = server.clients.lock().values().cloned().collect();
    for h in handles {
        let waiter = h.blocked.lock().clone();
        if let Some(w) = waiter {
            w.finish(crate::server::blocking::WaitState::Served(
                UNBLOCKED_REPLICA.to_vec(),
            ));
        }
    }
}

/// REPLICAOF NO ONE: stop following; keep the data, start a new history (the old id
/// stays valid as `replid2` up to the current offset, so our replicas continue).
pub fn promote(server: &Server) -> bool {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    let mut st = server.repl.state.lock();
    let Some(old) = st.master.take() else {
        return false;
    };
    if let Some(h) = old.handle {
        h.kill();
    }
    server.config.set_replicaof("");
    st.replid2 = std::mem::replace(&mut st.replid, crate::server::random_hex40());
    st.second_offset = st.offset as i64 + 1;
    st.last_db = None;
    for r in &st.replicas {
        r.handle.kill();
    }
    server.repl.update_feeding(&st);
    drop(st);
    crate::storage::expiry::set_replica_mode(false);
    tracing::info!("MASTER MODE enabled");
    true
}

/// Before a promotion asked by PSYNC ... FAILOVER: let the link apply what our primary
/// sent before it (it sent the stream, then connected to us), so our offset is the one
/// it asks to continue from. Waits while stream bytes wait unread on the link or the
/// offset still moves, 500 ms at most.
pub fn drain_link(server: &Server) {
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut last = server.repl.state.lock().offset;
    while Instant::now() < deadline {
        let unread = {
            let st = server.repl.state.lock();
            st.master
                .as_ref()
                .and_then(|m| m.sock.as_ref())
                .is_some_and(has_unread)
        };
        std::thread::sleep(Duration::from_millis(if unread { 2 } else { 20 }));
        let now = server.repl.state.lock().offset;
        if !unread && now == last {
            return;
        }
        last = now;
    }
}

/// True when bytes wait in the socket's receive queue (a non-blocking peek).
fn has_unread(sock: &TcpStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
    socket2::SockRef::from(sock)
        .recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        .is_ok_and(|n| n > 0)
}

fn current(gen: u64) -> bool {
    GENERATION.load(Ordering::Acquire) == gen
}

/// Update our link's state, if this thread's link is still the current one.
fn with_master(server: &Server, gen: u64, f: impl FnOnce(&mut MasterState)) {
    let mut st = server.repl.state.lock();
    if let Some(m) = st.master.as_mut().filter(|m| m.generation == gen) {
        f(m);
    }
}

fn link_thread(server: Arc<Server>, gen: u64) {
    while current(gen) && !server.is_shutting_down() {
        let result = session(&server, gen);
        with_master(&server, gen, |m| {
            if m.link == Link::Connected {
                m.down_since_ms = crate::util::now_ms();
            }
            m.link = Link::Connect;
            m.sock = None;
            if let Some(h) = m.handle.take() {
                server.unregister_client(h.id);
            }
        });
        if let Err(e) = result {
            if current(gen) {
                tracing::warn!("Replication link: {}", e);
            }
        }
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until && current(gen) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A blocking connection with a read buffer.
struct Conn {
    sock: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    gen: u64,
    timeout: Duration,
}

impl Conn {
    fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let owned: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
        let mut out = Vec::new();
        crate::persistence::aof::encode_command(&mut out, &owned);
        self.sock.write_all(&out).map_err(|e| e.to_string())
    }

    /// Read more bytes (false on a read timeout); errors when the link is closed, no
    /// longer current, or silent past `repl-timeout`.
    fn fill(&mut self, since: &mut Instant) -> Result<bool, String> {
        if !current(self.gen) {
            return Err("replication link replaced".into());
        }
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        match self.sock.read(&mut chunk) {
            Ok(0) => Err("connection lost".into()),
            Ok(n) => {
                self.buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default());
                *since = Instant::now();
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if since.elapsed() > self.timeout {
                    return Err("Timeout connecting to the MASTER...".into());
                }
                Ok(false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }

    /// One reply line (without CRLF); empty lines (keep-alive newlines) are skipped.
    fn line(&mut self) -> Result<String, String> {
        let mut since = Instant::now();
        loop {
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            if let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                let line = rest.get(..nl).unwrap_or_default();
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let text = String::from_utf8_lossy(line).into_owned();
                self.pos += nl + 1;
                if text.is_empty() {
                    continue;
                }
                return Ok(text);
            }
            self.fill(&mut since)?;
        }
    }
}

/// One connection to the primary: handshake, sync, stream until it ends.
fn session(server: &Arc<Server>, gen: u64) -> Result<(), String> {
    let (host, port) = {
        let st = server.repl.state.lock();
        match st.master.as_ref().filter(|m| m.generation == gen) {
            Some(m) => (m.host.clone(), m.port),
            None => return Ok(()),
        }
    };
    // Configured at start-up: connect once the data on disk is loaded (Redis loads it
    // before anything else). This thread is the only other user of `loading`.
    while server.is_loading() && current(gen) {
        std::thread::sleep(Duration::from_millis(20));
    }
    with_master(server, gen, |m| m.link = Link::Connecting);
    let timeout = Duration::from_secs(
        server
            .config
            .get("repl-timeout")
            .parse::<u64>()
            .unwrap_or(60)
            .max(1),
    );
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("Unable to connect to MASTER: {}", e))?
        .next()
        .ok_or("Unable to connect to MASTER: no address")?;
    let sock = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("Error condition on socket for SYNC: {}", e))?;
    let _ = sock.set_nodelay(true);
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    tracing::info!("MASTER <-> REPLICA sync started");
    let mut conn = Conn {
        sock,
        buf: Vec::new(),
        pos: 0,
        gen,
        timeout,
    };
    with_master(server, gen, |m| m.link = Link::Handshake);
    handshake(server, &mut conn)?;
    let (id, offset) = {
        let st = server.repl.state.lock();
        if st.backlog.is_some() || st.offset > 0 {
            (st.replid.clone(), (st.offset + 1).to_string())
        } else {
            ("?".to_string(), "-1".to_string())
        }
    };
    // During our FAILOVER the target is told to become the primary (Redis's
    // `PSYNC <replid> <offset> FAILOVER`); its answer ends or aborts the failover.
    let failover = server.repl.failover.in_progress();
    if failover {
        let sent = conn.send(&[b"PSYNC", id.as_bytes(), offset.as_bytes(), b"FAILOVER"]);
        if sent.is_err() {
            super::failover::abort(server, "Write error to failover target");
        }
        sent?;
    } else {
        conn.send(&[b"PSYNC", id.as_bytes(), offset.as_bytes()])?;
    }
    let reply = conn.line();
    if failover {
        let accepted = reply
            .as_ref()
            .is_ok_and(|r| r.starts_with("+FULLRESYNC") || r.starts_with("+CONTINUE"));
        super::failover::psync_answered(server, accepted);
        if !accepted {
            return Err("Failover target rejected psync request".into());
        }
    }
    let reply = reply?;
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut words = rest.split_whitespace();
        let new_id = words.next().unwrap_or_default().to_string();
        let new_offset: u64 = words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or("bad FULLRESYNC reply")?;
        tracing::info!("Full resync from master: {}:{}", new_id, new_offset);
        full_load(server, &mut conn, gen, &new_id, new_offset)?;
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        tracing::info!("Successful partial resynchronization with master.");
        let mut st = server.repl.state.lock();
        if !new_id.is_empty() && new_id != st.replid {
            st.replid2 = std::mem::replace(&mut st.replid, new_id.to_string());
            st.second_offset = st.offset as i64 + 1;
            for r in &st.replicas {
                r.handle.kill();
            }
        }
        if st.backlog.is_none() {
            st.backlog = Some(Backlog::new(super::backlog_size(server), st.offset));
        }
    } else {
        return Err(format!("Unexpected reply to PSYNC from master: {}", reply));
    }
    apply_stream(server, &mut conn, gen)
}

/// PING, AUTH, REPLCONF listening-port / ip-address / capa.
fn handshake(server: &Server, conn: &mut Conn) -> Result<(), String> {
    conn.send(&[b"PING"])?;
    let pong = conn.line()?;
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("Error reply to PING from master: '{}'", pong));
    }
    let pass = server.config.get("masterauth");
    if !pass.is_empty() {
        let user = server.config.get("masteruser");
        if user.is_empty() {
            conn.send(&[b"AUTH", pass.as_bytes()])?;
        } else {
            conn.send(&[b"AUTH", user.as_bytes(), pass.as_bytes()])?;
        }
        let r = conn.line()?;
        if r.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {}", r));
        }
    }
    let announced: u16 = server
        .config
        .get("replica-announce-port")
        .parse()
        .unwrap_or(0);
    let port = if announced != 0 {
        announced
    } else {
        match server.port.load(Ordering::Relaxed) as u16 {
            // At start-up (`replicaof` in the config) the link may start before the
            // listeners are recorded: the configured port is the one we listen on.
            0 => server.config.get("port").parse().unwrap_or(0),
            bound => bound,
        }
    };
    conn.send(&[b"REPLCONF", b"listening-port", port.to_string().as_bytes()])?;
    let r = conn.line()?;
    if r.starts_with('-') {
        tracing::info!(
            "(Non critical) Master does not understand REPLCONF listening-port: {}",
            r
        );
    }
    let ip = server.config.get("replica-announce-ip");
    if !ip.is_empty() {
        conn.send(&[b"REPLCONF", b"ip-address", ip.as_bytes()])?;
        let _ = conn.line()?;
    }
    conn.send(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])?;
    let _ = conn.line()?;
    Ok(())
}

/// Receive the RDB of a full sync and replace the dataset with it, as
/// `repl-diskless-load` says: `disabled`, into a temporary file first; `on-empty-db`,
/// straight from the link when the dataset is empty (else as `disabled`); `swapdb`,
/// parsed from the link into memory while the old data is still served, which is
/// replaced only once the new one arrived whole (a failed transfer keeps it).
fn full_load(
    server: &Arc<Server>,
    conn: &mut Conn,
    gen: u64,
    id: &str,
    offset: u64,
) -> Result<(), String> {
    with_master(server, gen, |m| {
        m.link = Link::Transfer;
        m.last_io_ms = crate::util::now_ms();
    });
    let header = conn.line()?;
    let mode = server.config.get("repl-diskless-load");
    let from_link = mode == "swapdb" || (mode == "on-empty-db" && dataset_is_empty(server));
    let loaded = if from_link {
        load_from_link(server, conn, gen, &header, mode == "swapdb")
    } else {
        load_through_file(server, conn, gen, &header)
    };
    loaded.map_err(|e| {
        format!(
            "Failed trying to load the MASTER synchronization DB from disk: {}",
            e
        )
    })?;
    {
        let mut st = server.repl.state.lock();
        st.replid = id.to_string();
        st.replid2 = NO_REPLID.to_string();
        st.second_offset = -1;
        st.offset = offset;
        st.backlog = Some(Backlog::new(super::backlog_size(server), offset));
        for r in &st.replicas {
            r.handle.kill();
        }
    }
    if server.aof.enabled() {
        // The log must hold the loaded data: rewrite it from the new dataset.
        let _ = crate::persistence::rewrite::start(server);
    }
    tracing::info!("MASTER <-> REPLICA sync: Finished with success");
    Ok(())
}

/// True when no database holds a key.
fn dataset_is_empty(server: &Server) -> bool {
    server
        .dbs
        .iter()
        .all(|db| db.shards.iter().all(|shard| shard.lock().map.is_empty()))
}

/// `repl-diskless-load disabled`: the RDB into a temporary file, then flush and load it.
fn load_through_file(
    server: &Arc<Server>,
    conn: &mut Conn,
    gen: u64,
    header: &str,
) -> Result<(), String> {
    let path = std::path::PathBuf::from(format!(
        "temp-{}.{}.rdb",
        crate::util::now_ms(),
        std::process::id()
    ));
    let received = receive_rdb(server, conn, gen, header, &path);
    if let Err(e) = received {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
    server.loading.store(true, Ordering::Release);
    flush_everything(server);
    let loaded = crate::persistence::save::load_rdb(server, &path);
    server.loading.store(false, Ordering::Release);
    let _ = std::fs::remove_file(&path);
    loaded.map(|_| ())
}

/// `repl-diskless-load`: the RDB parsed straight from the link (no temporary file).
fn load_from_link(
    server: &Arc<Server>,
    conn: &mut Conn,
    gen: u64,
    header: &str,
    swap: bool,
) -> Result<(), String> {
    tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
    let mut reader = PayloadReader::new(server, conn, gen, header)?;
    if swap {
        // The old data stays served until the new one is complete.
        let parsed = crate::persistence::save::parse_rdb(server, &mut reader, "from the link")?;
        reader.drain()?;
        tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
        server.loading.store(true, Ordering::Release);
        flush_everything(server);
        let loaded = crate::persistence::save::apply_parsed_rdb(server, parsed, "from the link");
        server.loading.store(false, Ordering::Release);
        return loaded.map(|_| ());
    }
    tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
    server.loading.store(true, Ordering::Release);
    flush_everything(server);
    let loaded =
        crate::persistence::save::load_rdb_from(server, &mut reader, "from the link", None)
            .and_then(|_| reader.drain());
    if loaded.is_err() {
        // Half a dataset is worse than none (Redis empties it too).
        flush_everything(server);
    }
    server.loading.store(false, Ordering::Release);
    loaded
}

/// The RDB payload of a full sync read straight from the link: exactly `$<len>` bytes,
/// or everything up to the `$EOF:<mark>` mark (the last 40 bytes seen are held back until
/// they are known not to be the mark; stream bytes after it stay in the link's buffer).
struct PayloadReader<'a> {
    server: &'a Server,
    conn: &'a mut Conn,
    gen: u64,
    /// `$<len>`: bytes left.
    left: Option<usize>,
    mark: Option<Vec<u8>>,
    held: Vec<u8>,
    /// The mark was found (EOF form).
    done: bool,
    read: i64,
    since: Instant,
    last_report: Instant,
}

impl<'a> PayloadReader<'a> {
    fn new(
        server: &'a Server,
        conn: &'a mut Conn,
        gen: u64,
        header: &str,
    ) -> Result<PayloadReader<'a>, String> {
        let body = header.strip_prefix('$').ok_or_else(|| {
            format!(
                "Bad protocol from MASTER, the first byte is not '$': {}",
                header
            )
        })?;
        let (left, mark) = match body.strip_prefix("EOF:") {
            Some(mark) if mark.len() == 40 => (None, Some(mark.as_bytes().to_vec())),
            Some(_) => return Err("Bad EOF mark from MASTER".into()),
            None => (
                Some(
                    body.parse()
                        .map_err(|_| format!("Bad bulk length from MASTER: {}", header))?,
                ),
                None,
            ),
        };
        Ok(PayloadReader {
            server,
            conn,
            gen,
            left,
            mark,
            held: Vec::new(),
            done: false,
            read: 0,
            since: Instant::now(),
            last_report: Instant::now(),
        })
    }

    /// Read more from the link (false: nothing yet).
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.last_report.elapsed() > Duration::from_millis(200) {
            self.last_report = Instant::now();
            let (read, size) = (self.read, self.left.map_or(-1, |l| self.read + l as i64));
            with_master(self.server, self.gen, |m| {
                m.transfer_read = read;
                m.transfer_size = size;
                m.last_io_ms = crate::util::now_ms();
            });
        }
        self.conn
            .fill(&mut self.since)
            .map_err(std::io::Error::other)
    }

    /// Consume whatever is left of the payload after the RDB's end.
    fn drain(&mut self) -> Result<(), String> {
        let mut sink = [0u8; 16 * 1024];
        loop {
            match self.read(&mut sink) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

impl Read for PayloadReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(left) = self.left {
                if left == 0 {
                    return Ok(0);
                }
                let rest = self.conn.buf.get(self.conn.pos..).unwrap_or_default();
                if !rest.is_empty() {
                    let n = rest.len().min(left).min(out.len());
                    if let (Some(dst), Some(src)) = (out.get_mut(..n), rest.get(..n)) {
                        dst.copy_from_slice(src);
                    }
                    self.conn.pos += n;
                    self.left = Some(left - n);
                    self.read += n as i64;
                    return Ok(n);
                }
                self.fill()?;
                continue;
            }
            // EOF-marked: give out what cannot be part of the mark.
            let give = if self.done {
                self.held.len()
            } else {
                self.held.len().saturating_sub(40)
            };
            if give > 0 {
                let n = give.min(out.len());
                if let (Some(dst), Some(src)) = (out.get_mut(..n), self.held.get(..n)) {
                    dst.copy_from_slice(src);
                }
                self.held.drain(..n);
                self.read += n as i64;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            let rest = self.conn.buf.get(self.conn.pos..).unwrap_or_default();
            if rest.is_empty() {
                self.fill()?;
                continue;
            }
            let scan_from = self.held.len().saturating_sub(39);
            self.held.extend_from_slice(rest);
            self.conn.pos = self.conn.buf.len();
            let mark = self.mark.as_deref().unwrap_or_default();
            let found = self
                .held
                .get(scan_from..)
                .and_then(|t| t.windows(40).position(|w| w == mark))
                .map(|i| i + scan_from);
            if let Some(at) = found {
                // Stream bytes after the mark stay for the stream.
                self.conn.buf = self.held.split_off(at + 40);
                self.conn.pos = 0;
                self.held.truncate(at);
                self.done = true;
            }
        }
    }
}

/// Read `$<len>` bytes or an `$EOF:<mark>`-terminated payload into `path`.
fn receive_rdb(
    server: &Server,
    conn: &mut Conn,
    gen: u64,
    header: &str,
    path: &std::path::Path,
) -> Result<(), String> {
    let body = header.strip_prefix('$').ok_or_else(|| {
        format!(
            "Bad protocol from MASTER, the first byte is not '$': {}",
            header
        )
    })?;
    let mut file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut since = Instant::now();
    let mut last_report = Instant::now();
    let mut progress = |read: i64, size: i64| {
        if last_report.elapsed() > Duration::from_millis(200) {
            last_report = Instant::now();
            with_master(server, gen, |m| {
                m.transfer_read = read;
                m.transfer_size = size;
                m.last_io_ms = crate::util::now_ms();
            });
        }
    };
    if let Some(mark) = body.strip_prefix("EOF:") {
        let mark = mark.as_bytes().to_vec();
        if mark.len() != 40 {
            return Err("Bad EOF mark from MASTER".into());
        }
        // Everything but the last 40 bytes seen may be written; the mark ends it.
        let mut tail: Vec<u8> = Vec::new();
        let mut read = 0i64;
        loop {
            let rest = conn.buf.get(conn.pos..).unwrap_or_default();
            // Only where a mark could end in the new bytes is searched.
            let scan_from = tail.len().saturating_sub(39);
            tail.extend_from_slice(rest);
            read += rest.len() as i64;
            conn.pos = conn.buf.len();
            // The mark may be followed by stream bytes in the same read: those stay in
            // the connection's buffer.
            let found = tail
                .get(scan_from..)
                .and_then(|t| t.windows(40).position(|w| w == mark.as_slice()))
                .map(|i| i + scan_from);
            if let Some(at) = found {
                file.write_all(tail.get(..at).unwrap_or_default())
                    .map_err(|e| e.to_string())?;
                conn.buf = tail.split_off(at + 40);
                conn.pos = 0;
                break;
            }
            if tail.len() > 1 << 20 {
                let keep = tail.split_off(tail.len() - 40);
                file.write_all(&tail).map_err(|e| e.to_string())?;
                tail = keep;
            }
            progress(read, -1);
            conn.fill(&mut since)?;
        }
    } else {
        let len: usize = body
            .parse()
            .map_err(|_| format!("Bad bulk length from MASTER: {}", header))?;
        let mut left = len;
        loop {
            let rest = conn.buf.get(conn.pos..).unwrap_or_default();
            let take = rest.len().min(left);
            file.write_all(rest.get(..take).unwrap_or_default())
                .map_err(|e| e.to_string())?;
            conn.pos += take;
            left -= take;
            if left == 0 {
                break;
            }
            progress((len - left) as i64, len as i64);
            conn.fill(&mut since)?;
        }
    }
    file.sync_all().map_err(|e| e.to_string())
}

/// Empty every database before loading the primary's data (FLUSHALL through the
/// dispatcher, not propagated).
fn flush_everything(server: &Server) {
    let handle = server.new_client_handle("replication".into(), String::new(), -1);
    let mut client = Client::new(handle, true);
    client.loading = true;
    let mut out = ReplyWriter::new();
    execute(server, &mut client, &mut out, &[b"FLUSHALL"]);
}

/// Apply the primary's stream as the master client until the link ends.
fn apply_stream(server: &Arc<Server>, conn: &mut Conn, gen: u64) -> Result<(), String> {
    let peer = conn
        .sock
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let local = conn
        .sock
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let handle = server.register_client(peer, local, -1);
    handle.info.lock().flags = "M".into();
    let sock = conn.sock.try_clone().ok();
    with_master(server, gen, |m| {
        m.link = Link::Connected;
        m.last_io_ms = crate::util::now_ms();
        m.handle = Some(handle.clone());
        m.sock = sock;
    });
    tracing::info!(
        "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization or finished sync."
    );
    let mut client = Client::new(handle.clone(), true);
    client.master = true;
    let mut out = ReplyWriter::new();
    let limits = Limits {
        max_bulk_len: u64::MAX >> 1,
        authenticated: true,
        ..Limits::default()
    };
    let mut ranges = Vec::new();
    let mut last_ack: Option<Instant> = None;
    let mut since = Instant::now();
    loop {
        if handle.is_killed() {
            return Err("master client killed".into());
        }
        loop {
            let rest = conn.buf.get(conn.pos..).unwrap_or_default();
            let (argv, consumed) = match parse_request(rest, &limits, &mut ranges) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Request { args, consumed }) => {
                    let argv: Vec<Vec<u8>> = match &args {
                        Args::Ranges => ranges
                            .iter()
                            .map(|r| rest.get(r.clone()).unwrap_or(&[]).to_vec())
                            .collect(),
                        Args::Owned(v) => v.clone(),
                    };
                    (argv, consumed)
                }
                Err(e) => return Err(format!("Protocol error from master: {}", e.0)),
            };
            let bytes = rest.get(..consumed).unwrap_or_default().to_vec();
            conn.pos += consumed;
            apply_one(server, conn, &mut client, &mut out, &argv, &bytes)?;
        }
        let due = last_ack.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if due {
            send_ack(server, conn)?;
            last_ack = Some(Instant::now());
        }
        if conn.fill(&mut since)? {
            let n = conn.buf.len() as u64;
            server.repl.net_input.fetch_add(n, Ordering::Relaxed);
            with_master(server, gen, |m| m.last_io_ms = crate::util::now_ms());
        }
    }
}

/// Apply one command of the stream and account its bytes.
fn apply_one(
    server: &Server,
    conn: &mut Conn,
    client: &mut Client,
    out: &mut ReplyWriter,
    argv: &[Vec<u8>],
    bytes: &[u8],
) -> Result<(), String> {
    let is = |i: usize, w: &[u8]| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(w));
    if is(0, b"replconf") && is(1, b"getack") {
        // Acknowledge what was applied before this request (as Redis).
        send_ack(server, conn)?;
        server.repl.feed_raw(bytes);
        return Ok(());
    }
    if argv.is_empty() {
        server.repl.feed_raw(bytes);
        return Ok(());
    }
    let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    let _apply = server.repl.apply.lock();
    loop {
        client.start_batch();
        match execute(server, client, out, &refs) {
            // A script of a local client runs past busy-reply-threshold: the command was
            // refused without effect; it runs once the script ends (Redis defers the
            // master's commands the same way).
            crate::commands::dispatch::Outcome::Done if out.buf.starts_with(b"-BUSY") => {
                out.buf.clear();
                // Refused while queueing inside MULTI: the transaction is not spoiled.
                client.multi_dirty = false;
                std::thread::sleep(Duration::from_millis(10));
            }
            crate::commands::dispatch::Outcome::Done => break,
            // CLIENT PAUSE holds the stream too; the command runs once it ends.
            crate::commands::dispatch::Outcome::Paused => {
                std::thread::sleep(Duration::from_millis(10));
            }
            crate::commands::dispatch::Outcome::Blocked(waiter, _) => {
                // A primary never sends a command that blocks; end it at once.
                waiter.finish(crate::server::blocking::WaitState::TimedOut);
                crate::commands::unblock::unregister(server, &waiter);
                break;
            }
        }
    }
    if out.buf.first() == Some(&b'-') {
        tracing::warn!(
            "== CRITICAL == This replica is sending an error to its master: '{}' after processing the command '{}'",
            String::from_utf8_lossy(out.buf.get(1..out.buf.len().saturating_sub(2)).unwrap_or_default()),
            String::from_utf8_lossy(argv.first().map(Vec::as_slice).unwrap_or_default())
        );
    }
    out.buf.clear();
    server.repl.feed_raw(bytes);
    Ok(())
}

fn send_ack(server: &Server, conn: &mut Conn) -> Result<(), String> {
    let offset = server.repl.state.lock().offset.to_string();
    conn.send(&[b"REPLCONF", b"ACK", offset.as_bytes()])
}
