//! FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: a coordinated switch of roles
//! between this primary and one of its replicas, as Redis 7.0 does it.
//!
//! 1. `waiting-for-sync`: writes are paused (clients wait, as under CLIENT PAUSE WRITE)
//!    until the target (or, without TO, any replica) acknowledged our whole stream; the
//!    cron checks every 100 ms. Past TIMEOUT the failover is aborted, or with FORCE goes on
//!    anyway.
//! 2. `failover-in-progress`: we become a replica of the target and send it
//!    `PSYNC <our replid> <offset+1> FAILOVER`; the target promotes itself (its replid2 is
//!    our replid, so it answers +CONTINUE) and we continue as its replica.
//! 3. The PSYNC's answer ends the failover (writes resume; on a replica they now get
//!    READONLY); an error answer aborts it: we become a primary again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::server::Server;

/// Where a failover stands (INFO replication `master_failover_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No failover.
    None,
    /// Writes paused, waiting for the target to acknowledge our offset.
    WaitForSync,
    /// We are a replica of the target and sent it PSYNC ... FAILOVER.
    InProgress,
}

impl Phase {
    /// INFO's name.
    pub fn name(self) -> &'static str {
        match self {
            Phase::None => "no-failover",
            Phase::WaitForSync => "waiting-for-sync",
            Phase::InProgress => "failover-in-progress",
        }
    }
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// The replica we fail over to (chosen by the cron without TO).
    target: Option<(String, u16)>,
    /// Unix ms after which the wait ends (0: no timeout).
    end_ms: u64,
    /// FORCE: fail over at the timeout even if the target did not catch up.
    force: bool,
}

/// The failover state of a server.
#[derive(Debug)]
pub struct Failover {
    state: Mutex<State>,
    /// True from FAILOVER until the failover ends: writes are paused.
    pausing: AtomicBool,
}

impl Default for Failover {
    fn default() -> Self {
        Failover {
            state: Mutex::new(State {
                phase: Phase::None,
                target: None,
                end_ms: 0,
                force: false,
            }),
            pausing: AtomicBool::new(false),
        }
    }
}

/// A FAILOVER request, parsed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// TO host port.
    pub target: Option<(String, i64)>,
    /// TIMEOUT ms (0: none).
    pub timeout_ms: i64,
    /// FORCE.
    pub force: bool,
}

impl Failover {
    /// True while writes are paused by a failover (one relaxed load).
    #[inline]
    pub fn pausing(&self) -> bool {
        self.pausing.load(Ordering::Relaxed)
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.state.lock().phase
    }

    /// True while we are a replica of the target waiting for its PSYNC answer.
    pub fn in_progress(&self) -> bool {
        self.phase() == Phase::InProgress
    }

    fn clear(&self, st: &mut State) {
        st.phase = Phase::None;
        st.target = None;
        st.end_ms = 0;
        st.force = false;
        self.pausing.store(false, Ordering::Relaxed);
    }
}

/// Start a failover (the checks Redis makes, in its order, after parsing). Returns the
/// error text to reply with, if refused.
pub fn start(server: &Server, req: &Request) -> Result<(), &'static str> {
    let fo = &server.repl.failover;
    let mut st = fo.state.lock();
    if st.phase != Phase::None {
        return Err("ERR FAILOVER already in progress.");
    }
    let repl = server.repl.state.lock();
    if repl.master.is_some() {
        return Err("ERR FAILOVER is not valid when server is a replica.");
    }
    if repl.replicas.is_empty() {
        return Err("ERR FAILOVER requires connected replicas.");
    }
    if req.force && (req.timeout_ms == 0 || req.target.is_none()) {
        return Err(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        );
    }
    let mut target = None;
    if let Some((host, port)) = &req.target {
        let replica = repl
            .replicas
            .iter()
            .find(|r| r.ip.eq_ignore_ascii_case(host) && i64::from(r.port()) == *port);
        match replica {
            None => return Err("ERR FAILOVER target HOST and PORT is not a replica."),
            Some(r) if !r.is_online() => return Err("ERR FAILOVER target replica is not online."),
            Some(r) => target = Some((r.ip.clone(), r.port())),
        }
        tracing::info!("FAILOVER requested to {}:{}.", host, port);
    } else {
        tracing::info!("FAILOVER requested to any replica.");
    }
    drop(repl);
    st.phase = Phase::WaitForSync;
    st.target = target;
    st.end_ms = if req.timeout_ms > 0 {
        crate::util::now_ms() + req.timeout_ms as u64
    } else {
        0
    };
    st.force = req.force;
    fo.pausing.store(true, Ordering::Relaxed);
    Ok(())
}

/// FAILOVER ABORT.
pub fn abort_request(server: &Server) -> Result<(), &'static str> {
    if server.repl.failover.phase() == Phase::None {
        return Err("ERR No failover in progress.");
    }
    abort(server, "Failover manually aborted");
    Ok(())
}

/// End a failover without switching: a primary again (if we had become a replica of the
/// target), writes resume.
pub fn abort(server: &Server, why: &str) {
    let fo = &server.repl.failover;
    let mut st = fo.state.lock();
    if st.phase == Phase::None {
        return;
    }
    match &st.target {
        Some((h, p)) => tracing::info!("FAILOVER to {}:{} aborted: {}", h, p, why),
        None => tracing::info!("FAILOVER to any replica aborted: {}", why),
    }
    let was_replica = st.phase == Phase::InProgress;
    fo.clear(&mut st);
    drop(st);
    if was_replica {
        super::replica::promote(server);
    }
}

/// The replica link got its answer to PSYNC ... FAILOVER: `accepted` (+CONTINUE or
/// +FULLRESYNC) ends the failover; anything else aborts it.
pub fn psync_answered(server: &Server, accepted: bool) {
    if !server.repl.failover.in_progress() {
        return;
    }
    if accepted {
        let fo = &server.repl.failover;
        let mut st = fo.state.lock();
        fo.clear(&mut st);
    } else {
        abort(server, "Failover target rejected psync request");
    }
}

/// Cron (every 100 ms): while waiting for sync, fail over once the target acknowledged
/// our whole stream, or abort (or, with FORCE, go on) at the timeout.
pub fn cron(server: &Arc<Server>) {
    let fo = &server.repl.failover;
    if !fo.pausing() {
        return;
    }
    let mut st = fo.state.lock();
    if st.phase != Phase::WaitForSync {
        return;
    }
    if st.end_ms != 0 && crate::util::now_ms() >= st.end_ms {
        if st.force {
            if let Some((host, port)) = st.target.clone() {
                tracing::info!(
                    "FAILOVER to {}:{} time out exceeded, failing over.",
                    host,
                    port
                );
                st.phase = Phase::InProgress;
                drop(st);
                super::replica::replicate(server, host, port);
                return;
            }
        }
        drop(st);
        abort(server, "Replica never caught up before timeout");
        return;
    }
    let synced = {
        let repl = server.repl.state.lock();
        let offset = repl.offset;
        repl.replicas
            .iter()
            .filter(|r| match &st.target {
                Some((h, p)) => r.ip.eq_ignore_ascii_case(h) && r.port() == *p,
                None => true,
            })
            .find(|r| r.is_online() && r.ack_offset.load(Ordering::Acquire) == offset)
            .map(|r| (r.ip.clone(), r.port()))
    };
    if let Some((host, port)) = synced {
        tracing::info!("Failover target {}:{} is synced, failing over.", host, port);
        st.target = Some((host.clone(), port));
        st.phase = Phase::InProgress;
        drop(st);
        super::replica::replicate(server, host, port);
    }
}

/// Parse FAILOVER's arguments (after the name) as Redis does: ABORT alone, or any order
/// of TO host port, TIMEOUT ms, FORCE, each at most once. `Ok(None)`: ABORT.
pub fn parse(args: &[&[u8]]) -> Result<Option<Request>, &'static str> {
    let eq = |a: &[u8], w: &str| a.eq_ignore_ascii_case(w.as_bytes());
    if let [only] = args {
        if eq(only, "abort") {
            return Ok(None);
        }
    }
    let mut req = Request::default();
    let mut i = 0;
    while let Some(&word) = args.get(i) {
        let rest = args.len() - i - 1;
        if eq(word, "timeout") && rest >= 1 && req.timeout_ms == 0 {
            let ms = args
                .get(i + 1)
                .and_then(|v| crate::util::parse_canonical_i64(v))
                .ok_or("ERR value is not an integer or out of range")?;
            if ms <= 0 {
                return Err("ERR FAILOVER timeout must be greater than 0");
            }
            req.timeout_ms = ms;
            i += 2;
        } else if eq(word, "to") && rest >= 2 && req.target.is_none() {
            let port = args
                .get(i + 2)
                .and_then(|v| crate::util::parse_canonical_i64(v))
                .ok_or("ERR value is not an integer or out of range")?;
            let host = args.get(i + 1).copied().unwrap_or_default();
            req.target = Some((String::from_utf8_lossy(host).into_owned(), port));
            i += 3;
        } else if eq(word, "force") && !req.force {
            req.force = true;
            i += 1;
        } else {
            return Err("ERR syntax error");
        }
    }
    Ok(Some(req))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> Result<Option<Request>, &'static str> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        parse(&args)
    }

    #[test]
    fn parses_as_redis() {
        assert_eq!(p(&["abort"]), Ok(None));
        assert_eq!(p(&["ABORT", "timeout", "5"]), Err("ERR syntax error"));
        assert_eq!(p(&[]), Ok(Some(Request::default())));
        let r = p(&["to", "h", "7", "TIMEOUT", "100", "force"])
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(r.target, Some(("h".to_string(), 7)));
        assert_eq!(r.timeout_ms, 100);
        assert!(r.force);
        assert_eq!(
            p(&["to", "h", "x"]),
            Err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            p(&["timeout", "0"]),
            Err("ERR FAILOVER timeout must be greater than 0")
        );
        assert_eq!(
            p(&["timeout", "5", "timeout", "6"]),
            Err("ERR syntax error")
        );
        assert_eq!(p(&["to", "a"]), Err("ERR syntax error"));
        assert_eq!(p(&["force", "force"]), Err("ERR syntax error"));
        assert_eq!(p(&["foo"]), Err("ERR syntax error"));
    }

    #[test]
    fn phase_names() {
        assert_eq!(Phase::None.name(), "no-failover");
        assert_eq!(Phase::WaitForSync.name(), "waiting-for-sync");
        assert_eq!(Phase::InProgress.name(), "failover-in-progress");
    }
}
