//! Lua scripting (EVAL family): the script cache, the "a script is running" state that
//! dispatch consults for -BUSY and SCRIPT KILL, and the Lua engine ([`engine`]).
//!
//! One script runs at a time in the whole server ([`Scripts::run_lock`]), as in Redis. Each
//! worker thread has its own Lua 5.1 VM (scripts cannot keep state between calls: globals
//! are protected), so no VM is ever shared between threads; the script bodies are cached
//! server-wide by SHA1 and compiled lazily by each thread that runs them.

mod call;
pub mod convert;
pub mod engine;
pub mod functions;
pub mod libs;

// foldhash, not SipHash: these maps are looked up on every script call.
use hashbrown::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, ReentrantMutex, ReentrantMutexGuard};

/// The -BUSY error text.
pub const BUSY_ERROR: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// The -BUSY error text while a function (FCALL) runs.
pub const BUSY_FUNCTION_ERROR: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// Server-wide scripting state.
#[derive(Default)]
pub struct Scripts {
    /// Held while a script runs (taken before the script's shard locks). Reentrant because
    /// EXEC takes it before locking a transaction that contains EVAL, whose handler then
    /// takes it again on the same thread.
    pub run_lock: ReentrantMutex<()>,
    /// Script bodies by lowercase SHA1 hex.
    cache: Mutex<HashMap<String, Arc<[u8]>>>,
    /// Sum of the cached bodies' lengths (INFO used_memory_scripts_eval).
    cache_bytes: AtomicUsize,
    /// Bumped by SCRIPT FLUSH: each thread's VM starts afresh when it sees a new value.
    pub generation: AtomicU64,
    /// Monotonic ms (+1) at which the running script started; 0 when none runs.
    running_since: AtomicU64,
    /// Client id of the running script's caller.
    running_client: AtomicU64,
    /// Set by SCRIPT KILL; the running script's instruction hook checks it.
    pub kill: Arc<AtomicBool>,
    /// The running script has called a write command (SCRIPT KILL refuses then).
    pub wrote: AtomicBool,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call `noscript` commands (Redis's test
    /// suite uses it to run DEBUG PROTOCOL and CLIENT LIST from scripts).
    pub deny_disabled: AtomicBool,
    /// Memory of each live Lua VM (INFO used_memory_lua): one slot per VM, which the VM
    /// updates with a plain store after each script (no lock per run). A slot no VM holds
    /// any more is dropped when the next VM registers.
    vm_memory: Mutex<Vec<Arc<AtomicUsize>>>,
    /// The running function's name and command (FUNCTION STATS); None while none runs
    /// (an EVAL script may run).
    running_function: Mutex<Option<(String, Vec<Vec<u8>>)>>,
    /// Function libraries (FUNCTION LOAD, FCALL).
    pub functions: functions::Functions,
    /// The script thread's job queue (started on first use).
    thread: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
}

/// Work for the script thread.
pub type Job = Box<dyn FnOnce() + Send>;

/// Whether a request runs on the script thread (see [`Scripts::submit`]): the commands
/// that run or compile scripts or libraries. SCRIPT KILL never does: it must answer while a script runs.
#[inline]
pub fn runs_on_script_thread(argv: &[&[u8]]) -> bool {
    let Some(name) = argv.first() else {
        return false;
    };
    // Every request passes here: the length and first letter decide for almost all of
    // them (eval, evalsha, eval_ro, evalsha_ro, fcall, fcall_ro, function, script).
    let candidate = matches!(
        (name.len(), name.first().map(|b| b | 0x20)),
        (4 | 7 | 10, Some(b'e')) | (5 | 8, Some(b'f')) | (6, Some(b's'))
    );
    if !candidate {
        return false;
    }
    let sub_is = |s: &[u8]| argv.get(1).is_some_and(|a| a.eq_ignore_ascii_case(s));
    [
        "eval",
        "evalsha",
        "eval_ro",
        "evalsha_ro",
        "fcall",
        "fcall_ro",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        || (name.eq_ignore_ascii_case(b"script") && sub_is(b"load"))
        || (name.eq_ignore_ascii_case(b"function") && (sub_is(b"load") || sub_is(b"restore")))
}

/// An error raised the way Redis's C code raises its error tables (`{err="CODE msg"}`): the
/// text already carries its error code and is used as is. Plain Lua errors (library
/// functions, `error("...")`) get the generic `ERR` code when they end a script.
#[derive(Debug)]
pub struct RedisError(pub String);

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedisError {}

/// Raise `text` (which starts with an error code) as Redis raises an error table.
pub fn raise(text: &str) -> mlua::Error {
    mlua::Error::external(RedisError(text.to_string()))
}

/// Commands that run a script (and so take [`Scripts::run_lock`] before their locks).
pub fn is_script_command(name: &str) -> bool {
    matches!(
        name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Whether a script command (EVAL, EVALSHA, FCALL and their _RO forms) is refused while
/// memory is over `maxmemory`, as Redis's `evalGetCommandFlags`/`fcallGetCommandFlags`
/// decide: a script that declares flags (a shebang, or a function's flags) is refused
/// unless it has `no-writes` or `allow-oom`; a script without a shebang, or one not found,
/// is not (its first write inside is checked instead).
pub fn script_denies_oom(server: &crate::server::Server, name: &str, args: &[&[u8]]) -> bool {
    use engine::script_flags::{ALLOW_OOM, EVAL_COMPAT, NO_WRITES};
    let flags = match name {
        "eval" | "eval_ro" => args
            .get(1)
            .and_then(|body| engine::parse_shebang(body).ok())
            .map(|(f, _)| f),
        "evalsha" | "evalsha_ro" => args.get(1).and_then(|sha| {
            let sha = std::str::from_utf8(sha).ok()?.to_ascii_lowercase();
            let body = server.scripts.get(&sha)?;
            engine::parse_shebang(&body).ok().map(|(f, _)| f)
        }),
        "fcall" | "fcall_ro" => args
            .get(1)
            .and_then(|f| server.scripts.functions.find(f))
            .map(|(_, info)| info.flags),
        _ => None,
    };
    flags.is_some_and(|f| f & (EVAL_COMPAT | NO_WRITES | ALLOW_OOM) == 0)
}

/// Whether a script command declares writes (a shebang or function flags without
/// `no-writes`): Redis then treats the call as a write command (`min-replicas-to-write`).
pub fn script_declares_writes(server: &crate::server::Server, name: &str, args: &[&[u8]]) -> bool {
    use engine::script_flags::{EVAL_COMPAT, NO_WRITES};
    let flags = match name {
        "eval" => args
            .get(1)
            .and_then(|body| engine::parse_shebang(body).ok())
            .map(|(f, _)| f),
        "evalsha" => args.get(1).and_then(|sha| {
            let sha = std::str::from_utf8(sha).ok()?.to_ascii_lowercase();
            let body = server.scripts.get(&sha)?;
            engine::parse_shebang(&body).ok().map(|(f, _)| f)
        }),
        "fcall" => args
            .get(1)
            .and_then(|f| server.scripts.functions.find(f))
            .map(|(_, info)| info.flags),
        _ => None,
    };
    flags.is_some_and(|f| f & (EVAL_COMPAT | NO_WRITES) == 0)
}

/// SHA1 of `body` as 40 lowercase hex characters.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

impl Scripts {
    /// Run `job` on the script thread. Scripts run there, not on the worker thread of
    /// their connection, so that thread goes on serving its other connections while a
    /// script runs (they get -BUSY past the threshold, as with Redis), and the server has
    /// one Lua VM for scripts, as Redis does. Gives the job back if the thread cannot be
    /// started or has gone.
    pub fn submit(&self, job: Job) -> Result<(), Job> {
        let mut slot = self.thread.lock();
        if slot.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<Job>();
            let started = std::thread::Builder::new()
                .name("lua-scripts".into())
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        // A panic is a bug; it must not take the thread (and every later
                        // script) with it. The job's caller sees its reply channel close.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if started.is_err() {
                return Err(job);
            }
            *slot = Some(tx);
        }
        match slot.as_ref() {
            Some(tx) => tx.send(job).map_err(|e| {
                *slot = None;
                e.0
            }),
            None => Err(job),
        }
    }

    /// Take the script mutex, polling `abort` while another script runs (a client that
    /// must get -BUSY instead of waiting). None when aborted.
    pub fn acquire(&self, abort: &dyn Fn() -> bool) -> Option<ReentrantMutexGuard<'_, ()>> {
        loop {
            if let Some(g) = self
                .run_lock
                .try_lock_for(std::time::Duration::from_millis(5))
            {
                return Some(g);
            }
            if abort() {
                return None;
            }
        }
    }

    /// The body of a cached script.
    pub fn get(&self, sha: &str) -> Option<Arc<[u8]>> {
        self.cache.lock().get(sha).cloned()
    }

    /// Cache a body under its SHA1; returns the body as cached.
    pub fn insert(&self, sha: &str, body: &[u8]) -> Arc<[u8]> {
        let mut cache = self.cache.lock();
        if let Some(b) = cache.get(sha) {
            return b.clone();
        }
        let b: Arc<[u8]> = body.into();
        cache.insert(sha.to_string(), b.clone());
        self.cache_bytes.fetch_add(body.len(), Ordering::Relaxed);
        b
    }

    /// True when `sha` (any case) is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        let lower = crate::util::lower(sha);
        self.cache.lock().contains_key(&lower)
    }

    /// SCRIPT FLUSH: forget every script; VMs restart on their next script.
    pub fn flush(&self) {
        self.cache.lock().clear();
        self.cache_bytes.store(0, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Number of cached scripts.
    pub fn count(&self) -> usize {
        self.cache.lock().len()
    }

    /// Bytes of cached bodies.
    pub fn cache_bytes(&self) -> usize {
        self.cache_bytes.load(Ordering::Relaxed)
    }

    /// A memory slot for a new VM (see `vm_memory`).
    pub fn vm_memory_slot(&self) -> Arc<AtomicUsize> {
        let slot = Arc::new(AtomicUsize::new(0));
        let mut slots = self.vm_memory.lock();
        slots.retain(|s| Arc::strong_count(s) > 1);
        slots.push(slot.clone());
        slot
    }

    /// Memory of every live VM.
    pub fn vm_memory(&self) -> usize {
        self.vm_memory
            .lock()
            .iter()
            .filter(|s| Arc::strong_count(s) > 1)
            .map(|s| s.load(Ordering::Relaxed))
            .sum()
    }

    /// Mark a script as started by `client`.
    pub fn start(&self, client: u64) {
        self.kill.store(false, Ordering::Release);
        self.wrote.store(false, Ordering::Release);
        self.running_client.store(client, Ordering::Release);
        self.running_since
            .store(crate::util::mono_ns() / 1_000_000 + 1, Ordering::Release);
    }

    /// Mark the running script as ended.
    pub fn end(&self) {
        self.running_since.store(0, Ordering::Release);
        self.kill.store(false, Ordering::Release);
    }

    /// Record (Some) or clear (None) the function FCALL runs.
    pub fn set_running_function(&self, f: Option<(String, Vec<Vec<u8>>)>) {
        *self.running_function.lock() = f;
    }

    /// The running function's name and command, if a function runs.
    pub fn running_function(&self) -> Option<(String, Vec<Vec<u8>>)> {
        self.running_function.lock().clone()
    }

    /// Milliseconds the running script has run (0 when none runs).
    pub fn running_ms(&self) -> u64 {
        let since = self.running_since.load(Ordering::Acquire);
        if since == 0 {
            return 0;
        }
        (crate::util::mono_ns() / 1_000_000 + 1).saturating_sub(since)
    }

    /// The -BUSY text: it names FUNCTION KILL while a function runs, SCRIPT KILL otherwise.
    pub fn busy_error(&self) -> &'static str {
        if self.running_function.lock().is_some() {
            BUSY_FUNCTION_ERROR
        } else {
            BUSY_ERROR
        }
    }

    /// True while a script runs.
    /// SCRIPT KILL (`function` false) and FUNCTION KILL (`function` true): ask the running
    /// script to stop, with Redis's errors when none runs, when it has written, or when it
    /// is the other kind (each command kills only its own).
    pub fn kill_running(&self, function: bool) -> Result<(), crate::commands::CmdError> {
        use crate::commands::CmdError;
        if !self.running() {
            return Err(CmdError::Static(
                "NOTBUSY No scripts in execution right now.",
            ));
        }
        if self.wrote.load(Ordering::Acquire) {
            return Err(CmdError::Static(
                "UNKILLABLE Sorry the script already executed write commands against the \
                 dataset. You can either wait the script termination or kill the server in a \
                 hard way using the SHUTDOWN NOSAVE command.",
            ));
        }
        match (function, self.running_function().is_some()) {
            (false, true) => Err(CmdError::Static(BUSY_FUNCTION_ERROR)),
            (true, false) => Err(CmdError::Static(BUSY_ERROR)),
            _ => {
                self.kill.store(true, Ordering::Release);
                Ok(())
            }
        }
    }

    pub fn running(&self) -> bool {
        self.running_since.load(Ordering::Acquire) != 0
    }

    /// True when a script has been running for at least `threshold_ms` and `client` is not
    /// its caller: commands without `allow-busy` get -BUSY.
    pub fn busy_for(&self, client: u64, threshold_ms: u64) -> bool {
        let since = self.running_since.load(Ordering::Acquire);
        if since == 0 || self.running_client.load(Ordering::Acquire) == client {
            return false;
        }
        let now = crate::util::mono_ns() / 1_000_000 + 1;
        now.saturating_sub(since) >= threshold_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_command_is_in_the_scripting_acl_category() {
        // dispatch::run tests the ACL bit before the name (a cheap filter on the hot path).
        let reg = crate::commands::registry();
        for (name, cmd) in &reg.entries {
            if is_script_command(cmd.name) && !name.contains('|') {
                assert!(
                    cmd.acl & crate::commands::acl::SCRIPTING != 0,
                    "{name} lacks @scripting"
                );
            }
        }
    }

    #[test]
    fn script_thread_commands_in_any_case() {
        let yes: &[&[&str]] = &[
            &["EVAL", "return 1", "0"],
            &["evalsha", "x", "0"],
            &["Eval_Ro", "return 1", "0"],
            &["EVALSHA_RO", "x", "0"],
            &["fcall", "f", "0"],
            &["FCALL_RO", "f", "0"],
            &["FUNCTION", "LOAD", "code"],
            &["function", "restore", "payload"],
            &["SCRIPT", "load", "return 1"],
        ];
        let no: &[&[&str]] = &[
            &["SCRIPT", "KILL"],
            &["SCRIPT", "FLUSH"],
            &["FUNCTION", "LIST"],
            &["FUNCTION", "KILL"],
            &["GET", "k"],
            &["SET", "k", "v"],
            &["EXEC"],
            &["EVALX", "x"],
            &["FCALLS"],
            &["SELECT", "1"],
            &[],
        ];
        for (cases, want) in [(yes, true), (no, false)] {
            for c in cases {
                let argv: Vec<&[u8]> = c.iter().map(|a| a.as_bytes()).collect();
                assert_eq!(runs_on_script_thread(&argv), want, "{:?}", c);
            }
        }
    }
}
