//! Timers for the connection threads, kept off their event loops.
//!
//! The worker runtimes are built with I/O only: a tokio runtime with its time driver on
//! reads the clock and turns its timer wheel every time it wakes, which cost ~250
//! instructions per request at pipeline 1 although almost no request uses a timer. The
//! few that do (blocking-command timeouts, the soft output-buffer limit, shutdown grace
//! periods, replication pauses) create their timers here, on one small runtime of their
//! own; the timer fires there and wakes the task on its worker, like any other waker.
//!
//! Every timer of code that runs on a worker must come from here: a `tokio::time` timer
//! created on a worker panics ("timers are disabled"). `tests::workers_use_no_tokio_timers`
//! checks the source for it.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::{Builder, Handle};
use tokio::time::{Instant, Sleep, Timeout};

static TIMERS: OnceLock<Handle> = OnceLock::new();

/// Start the timer thread (the server does it before its workers, so that a failure is
/// a start-up error; tests start it on first use).
pub fn start() -> std::io::Result<&'static Handle> {
    if let Some(handle) = TIMERS.get() {
        return Ok(handle);
    }
    let rt = Builder::new_current_thread().enable_time().build()?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("timers".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))?;
    // Two racing starters: the loser's runtime thread idles forever, harmlessly.
    Ok(TIMERS.get_or_init(|| handle))
}

/// The timer runtime's handle.
fn handle() -> &'static Handle {
    match start() {
        Ok(handle) => handle,
        // Only reachable when `start` was not called at start-up and a thread cannot be
        // created now.
        Err(e) => panic!("the timer thread could not start: {e}"),
    }
}

/// A future that completes at `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    let _timers = handle().enter();
    tokio::time::sleep_until(deadline)
}

/// A future that completes after `duration`.
pub fn sleep(duration: Duration) -> Sleep {
    let _timers = handle().enter();
    tokio::time::sleep(duration)
}

/// `future`, or `Err(Elapsed)` once `duration` has passed.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    let _timers = handle().enter();
    tokio::time::timeout(duration, future)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime like the workers' (no time driver) waits on these timers.
    #[test]
    fn timers_fire_on_a_runtime_without_a_time_driver() {
        let rt = Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let started = std::time::Instant::now();
            sleep(Duration::from_millis(30)).await;
            assert!(started.elapsed() >= Duration::from_millis(30));
            sleep_until(Instant::now() + Duration::from_millis(10)).await;
            let never = std::future::pending::<()>();
            assert!(timeout(Duration::from_millis(10), never).await.is_err());
            assert_eq!(
                timeout(Duration::from_secs(5), async { 7 }).await.ok(),
                Some(7)
            );
        });
    }

    /// No code outside this file and the runtimes that keep their own time driver (the
    /// metrics endpoint) creates a `tokio::time` timer.
    #[test]
    fn workers_use_no_tokio_timers() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("src dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
                let rel = rel.to_string_lossy().replace('\\', "/");
                if rel == "server/timer.rs" || rel.starts_with("server/metrics/") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    let timer = [
                        "tokio::time::sleep",
                        "tokio::time::timeout",
                        "tokio::time::interval",
                    ]
                    .iter()
                    .any(|t| code.contains(t))
                        || code.contains("use tokio::time");
                    if timer {
                        offenders.push(format!("{}:{}: {}", rel, n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "use server::timer instead of tokio::time on worker threads:\n{}",
            offenders.join("\n")
        );
    }
}
