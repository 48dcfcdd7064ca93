//! Access control as Redis 7.0: users (flags, password hashes, a root selector and `(...)`
//! selectors), the permission check dispatch runs before a command, the ACL log, and the
//! ACL file. The ACL command family (`commands/families/acl.rs`) is the front end.
//!
//! The hot path: a client authenticated as a user whose root selector allows every
//! command, key and channel (the `default` user as shipped) costs one relaxed atomic load
//! per command ([`User::unrestricted`]); everything else happens only for restricted users.

pub mod selector;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};

use crate::commands::Command;
pub use selector::{Denied, RuleError, Selector};

/// A user's mutable part (SETUSER replaces it as a whole, so a check sees old or new).
#[derive(Clone, Debug)]
pub struct UserState {
    /// `on` / `off`.
    pub enabled: bool,
    /// `nopass`: any password works.
    pub nopass: bool,
    /// `sanitize-payload` (true) / `skip-sanitize-payload` (false), when given.
    pub sanitize: Option<bool>,
    /// SHA-256 hex digests, in the order added.
    pub passwords: Vec<String>,
    /// The root selector.
    pub root: Selector,
    /// `(...)` selectors, in order.
    pub selectors: Vec<Selector>,
}

/// One ACL user, shared by the clients authenticated as it.
#[derive(Debug)]
pub struct User {
    /// The user name.
    pub name: Vec<u8>,
    /// Root selector allows all commands, keys and channels (the check is skipped).
    unrestricted: AtomicBool,
    state: RwLock<UserState>,
}

impl User {
    fn new(name: &[u8], state: UserState) -> User {
        let u = User {
            name: name.to_vec(),
            unrestricted: AtomicBool::new(false),
            state: RwLock::new(state),
        };
        u.refresh();
        u
    }

    fn refresh(&self) {
        let s = self.state.read();
        let r = &s.root;
        self.unrestricted
            .store(r.all_commands && r.all_keys && r.all_channels, Relaxed);
    }

    /// True when every command, key and channel is allowed: no check needed.
    #[inline(always)]
    pub fn unrestricted(&self) -> bool {
        self.unrestricted.load(Relaxed)
    }

    /// A copy of the user's state.
    pub fn state(&self) -> UserState {
        self.state.read().clone()
    }

    fn replace(&self, state: UserState) {
        *self.state.write() = state;
        self.refresh();
    }

    /// Redis's `ACLCheckAllUserCommandPerm`: allowed when any selector allows it; else the
    /// most relevant refusal.
    pub fn check(&self, id: usize, cmd: &Command, args: &[&[u8]]) -> Result<(), Denied> {
        if self.unrestricted() {
            return Ok(());
        }
        let s = self.state.read();
        let mut worst = Denied::Command;
        for sel in std::iter::once(&s.root).chain(s.selectors.iter()) {
            match sel.check(id, cmd, args) {
                Ok(()) => return Ok(()),
                Err(d) => worst = worst.worse(d),
            }
        }
        Err(worst)
    }

    /// Redis's `ACLUserCheckKeyPerm`: some selector allows `key` with `need`
    /// ([`selector::PERM_READ`] / [`selector::PERM_WRITE`] bits).
    pub fn key_allowed(&self, key: &[u8], need: u8) -> bool {
        if self.unrestricted() {
            return true;
        }
        let s = self.state.read();
        std::iter::once(&s.root)
            .chain(s.selectors.iter())
            .any(|sel| sel.key_allowed(key, need))
    }

    /// The name as text.
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// SHA-256 of a password, lowercase hex.
pub fn hash_password(pass: &[u8]) -> String {
    let digest = Sha256::digest(pass);
    digest.iter().map(|b| format!("{:02x}", b)).collect()
}

impl UserState {
    /// A new user: off, no passwords, nothing allowed; channels per `acl-pubsub-default`.
    pub fn new(all_channels: bool) -> UserState {
        UserState {
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            root: Selector::new(all_channels),
            selectors: Vec::new(),
        }
    }

    /// Apply one SETUSER argument (after selector arguments were merged): Redis's
    /// `ACLSetUser`.
    pub fn apply(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), RuleError> {
        let lower = op.to_ascii_lowercase();
        match lower.as_slice() {
            // Redis ignores an empty rule.
            b"" => {}
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"skip-sanitize-payload" => self.sanitize = Some(false),
            b"sanitize-payload" => self.sanitize = Some(true),
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"clearselectors" => self.selectors.clear(),
            b"reset" => {
                *self = UserState::new(false);
                self.root.apply(b"resetkeys")?;
                if pubsub_all {
                    self.root.apply(b"allchannels")?;
                }
                self.sanitize = Some(true);
            }
            _ => return self.apply_other(op, pubsub_all),
        }
        Ok(())
    }

    fn apply_other(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), RuleError> {
        match op.first() {
            Some(b'>') => {
                let h = hash_password(op.get(1..).unwrap_or_default());
                self.add_hash(h);
            }
            Some(b'#') => {
                let h = valid_hash(op.get(1..).unwrap_or_default())?;
                self.add_hash(h);
            }
            Some(b'<') => {
                let h = hash_password(op.get(1..).unwrap_or_default());
                self.remove_hash(&h)?;
            }
            Some(b'!') => {
                let h = valid_hash(op.get(1..).unwrap_or_default())?;
                self.remove_hash(&h)?;
            }
            Some(b'(') if op.len() >= 2 && op.last() == Some(&b')') => {
                let inner = op.get(1..op.len() - 1).unwrap_or_default();
                let mut sel = Selector::new(pubsub_all);
                let words = resp::split_inline_args(inner).ok_or(RuleError::Syntax)?;
                for w in words {
                    sel.apply(&w)?;
                }
                self.selectors.push(sel);
            }
            _ => self.root.apply(op)?,
        }
        Ok(())
    }

    fn add_hash(&mut self, h: String) {
        self.nopass = false;
        if !self.passwords.contains(&h) {
            self.passwords.push(h);
        }
    }

    fn remove_hash(&mut self, h: &str) -> Result<(), RuleError> {
        let before = self.passwords.len();
        self.passwords.retain(|p| p != h);
        if self.passwords.len() == before {
            return Err(RuleError::NoSuchPassword);
        }
        Ok(())
    }

    /// Flags as ACL GETUSER lists them.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    /// Redis's `ACLDescribeUser` (the text after `user <name> ` in ACL LIST).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for f in self.flags() {
            s.push_str(f);
            s.push(' ');
        }
        for p in &self.passwords {
            s.push('#');
            s.push_str(p);
            s.push(' ');
        }
        s.push_str(&self.root.describe());
        for sel in &self.selectors {
            s.push_str(" (");
            s.push_str(&sel.describe());
            s.push(')');
        }
        s
    }

    /// Whether `pass` authenticates this user (enabled, and nopass or a matching hash).
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = hash_password(pass);
        self.passwords.contains(&h)
    }

    /// Whether `channel` (a pattern when `is_pattern`) is allowed by some selector.
    fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        std::iter::once(&self.root)
            .chain(self.selectors.iter())
            .any(|s| s.all_channels || selector::channel_allowed(&s.channels, channel, is_pattern))
    }
}

fn valid_hash(h: &[u8]) -> Result<String, RuleError> {
    if h.len() != 64
        || !h
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(h).into_owned())
}

/// Redis's `ACLMergeSelectorArguments`: `(` ... `)` spread over several arguments become one.
/// The error is the index of the argument that opened an unmatched parenthesis.
pub fn merge_selector_args(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, a) in args.iter().enumerate() {
        if let Some((start, mut sel)) = open.take() {
            sel.push(b' ');
            sel.extend_from_slice(a);
            if a.last() == Some(&b')') {
                out.push(sel);
            } else {
                open = Some((start, sel));
            }
            continue;
        }
        if a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some((j, a.to_vec()));
            continue;
        }
        if a.len() == 1 && a.first() == Some(&b'(') {
            open = Some((j, a.to_vec()));
            continue;
        }
        out.push(a.to_vec());
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(out),
    }
}

/// Why an entry was logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogReason {
    /// A command refused.
    Command,
    /// A key refused.
    Key,
    /// A channel refused.
    Channel,
    /// A failed AUTH / HELLO AUTH.
    Auth,
}

impl LogReason {
    fn name(self) -> &'static str {
        match self {
            LogReason::Command => "command",
            LogReason::Key => "key",
            LogReason::Channel => "channel",
            LogReason::Auth => "auth",
        }
    }
}

/// Where the refused command ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogContext {
    /// Sent by the client.
    Toplevel,
    /// Queued in, or run by, MULTI/EXEC.
    Multi,
    /// Called by a script or function.
    Lua,
}

impl LogContext {
    fn name(self) -> &'static str {
        match self {
            LogContext::Toplevel => "toplevel",
            LogContext::Multi => "multi",
            LogContext::Lua => "lua",
        }
    }
}

/// One ACL LOG entry (Redis 7.0.15's fields).
#[derive(Clone, Debug)]
pub struct LogEntry {
    /// How many times it happened (within a minute of the previous one).
    pub count: u64,
    /// Why.
    pub reason: LogReason,
    /// Where.
    pub context: LogContext,
    /// Command name, key, channel, or the AUTH command's name.
    pub object: Vec<u8>,
    /// The user (for AUTH: the name tried).
    pub username: Vec<u8>,
    /// Unix ms of the last occurrence.
    pub ctime_ms: u64,
    /// CLIENT LIST line of the client (no newline).
    pub client_info: String,
}

impl LogEntry {
    /// The entry's fields as ACL LOG returns them, age in seconds.
    pub fn fields(&self, now_ms: u64) -> (&'static str, &'static str, f64) {
        let age = now_ms.saturating_sub(self.ctime_ms) as f64 / 1000.0;
        (self.reason.name(), self.context.name(), age)
    }
}

/// How long consecutive identical refusals are merged into one entry (Redis: 60 s).
const LOG_GROUPING_MS: u64 = 60_000;

/// All users, the ACL log, and the derived "does the default user need AUTH" flag.
pub struct Acl {
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    /// The `default` user (never replaced: ACL LOAD and requirepass change its state).
    pub default: Arc<User>,
    auth_required: AtomicBool,
    default_nopass: AtomicBool,
    log: Mutex<VecDeque<LogEntry>>,
}

impl Default for Acl {
    fn default() -> Acl {
        let mut st = UserState::new(true);
        st.enabled = true;
        st.nopass = true;
        st.root.apply(b"~*").ok();
        st.root.apply(b"+@all").ok();
        let default = Arc::new(User::new(b"default", st));
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), default.clone());
        Acl {
            users: RwLock::new(users),
            default,
            auth_required: AtomicBool::new(false),
            default_nopass: AtomicBool::new(true),
            log: Mutex::new(VecDeque::new()),
        }
    }
}

impl Acl {
    /// Redis's `authRequired` before the client's own flag: the default user has a
    /// password or is off.
    #[inline(always)]
    pub fn auth_required(&self) -> bool {
        self.auth_required.load(Relaxed)
    }

    /// The default user is `nopass` (protected mode applies).
    pub fn default_nopass(&self) -> bool {
        self.default_nopass.load(Relaxed)
    }

    fn refresh_default(&self) {
        let s = self.default.state.read();
        self.auth_required.store(!s.nopass || !s.enabled, Relaxed);
        self.default_nopass.store(s.nopass, Relaxed);
    }

    /// A user by name.
    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    /// The names, sorted.
    pub fn user_names(&self) -> Vec<Vec<u8>> {
        self.users.read().keys().cloned().collect()
    }

    /// ACL LIST lines.
    pub fn list(&self) -> Vec<String> {
        self.users
            .read()
            .values()
            .map(|u| format!("user {} {}", u.name_str(), u.state.read().describe()))
            .collect()
    }

    /// The user `name`/`pass` authenticates as, if any.
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<Arc<User>> {
        let u = self.user(name)?;
        let ok = u.state.read().password_ok(pass);
        ok.then_some(u)
    }

    /// ACL SETUSER: apply `ops` to a copy of the user (or a new one) and install it only if
    /// every rule is valid. Returns the users whose subscribers must be checked.
    pub fn set_user(
        &self,
        name: &[u8],
        ops: &[&[u8]],
        pubsub_all: bool,
    ) -> Result<Arc<User>, String> {
        let merged = merge_selector_args(ops).map_err(|i| {
            format!(
                "ERR Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(ops.get(i).copied().unwrap_or_default())
            )
        })?;
        let existing = self.user(name);
        let mut st = match &existing {
            Some(u) => u.state(),
            None => UserState::new(pubsub_all),
        };
        for op in &merged {
            st.apply(op, pubsub_all).map_err(|e| {
                format!(
                    "ERR Error in ACL SETUSER modifier '{}': {}",
                    String::from_utf8_lossy(op),
                    e.text()
                )
            })?;
        }
        let user = match existing {
            Some(u) => {
                u.replace(st);
                u
            }
            None => {
                let u = Arc::new(User::new(name, st));
                self.users.write().insert(name.to_vec(), u.clone());
                u
            }
        };
        if Arc::ptr_eq(&user, &self.default) {
            self.refresh_default();
        }
        Ok(user)
    }

    /// Replace the default user's password as `requirepass` does (empty: `nopass`).
    pub fn set_requirepass(&self, pass: &str) {
        let mut st = self.default.state();
        st.passwords.clear();
        st.nopass = false;
        if pass.is_empty() {
            st.nopass = true;
        } else {
            st.add_hash(hash_password(pass.as_bytes()));
        }
        self.default.replace(st);
        self.refresh_default();
    }

    /// Remove users (never `default`): the removed ones, for disconnecting their clients.
    pub fn delete(&self, names: &[&[u8]]) -> Vec<Arc<User>> {
        let mut users = self.users.write();
        names.iter().filter_map(|n| users.remove(*n)).collect()
    }

    /// Record a refusal, merging it into a recent identical entry as Redis does.
    pub fn log(&self, mut entry: LogEntry, max_len: usize) {
        let mut log = self.log.lock();
        let now = entry.ctime_ms;
        if let Some(pos) = log.iter().position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.object == entry.object
                && e.username == entry.username
                && now.saturating_sub(e.ctime_ms) < LOG_GROUPING_MS
        }) {
            if let Some(mut old) = log.remove(pos) {
                old.count += 1;
                old.ctime_ms = now;
                old.client_info = std::mem::take(&mut entry.client_info);
                log.push_front(old);
            }
        } else {
            log.push_front(entry);
        }
        log.truncate(max_len);
    }

    /// The newest `count` entries.
    pub fn log_entries(&self, count: usize) -> Vec<LogEntry> {
        self.log.lock().iter().take(count).cloned().collect()
    }

    /// ACL LOG RESET.
    pub fn log_reset(&self) {
        self.log.lock().clear();
    }

    /// Parse ACL-file (or config `user`) lines into users, without installing them.
    pub fn parse_lines(
        lines: &[(usize, String)],
        pubsub_all: bool,
    ) -> Result<Vec<(Vec<u8>, UserState)>, String> {
        let mut out: Vec<(Vec<u8>, UserState)> = Vec::new();
        for (n, line) in lines {
            let words = resp::split_inline_args(line.as_bytes())
                .ok_or_else(|| format!("line {}: unbalanced quotes in acl line", n))?;
            let refs: Vec<&[u8]> = words.iter().map(|w| w.as_slice()).collect();
            let Some((first, rest)) = refs.split_first() else {
                continue;
            };
            if !first.eq_ignore_ascii_case(b"user") {
                return Err(format!("line {}: should start with user keyword", n));
            }
            let Some((name, ops)) = rest.split_first() else {
                return Err(format!("line {}: missing username", n));
            };
            if out.iter().any(|(u, _)| u == name) {
                return Err(format!(
                    "line {}: Duplicate user '{}' found",
                    n,
                    String::from_utf8_lossy(name)
                ));
            }
            let merged = merge_selector_args(ops)
                .map_err(|_| format!("line {}: Unmatched parenthesis in selector", n))?;
            let mut st = UserState::new(pubsub_all);
            for op in &merged {
                st.apply(op, pubsub_all).map_err(|e| {
                    format!(
                        "line {}: Error in applying operation '{}': {}",
                        n,
                        String::from_utf8_lossy(op),
                        e.text()
                    )
                })?;
            }
            out.push((name.to_vec(), st));
        }
        Ok(out)
    }

    /// Install parsed users (ACL LOAD / start-up): every user is replaced; the default
    /// user keeps its identity (its clients stay) and is reset to the shipped one when the
    /// file does not define it. Returns the users that were dropped.
    pub fn install(&self, parsed: Vec<(Vec<u8>, UserState)>) -> Vec<Arc<User>> {
        let mut map = BTreeMap::new();
        let mut default_state = None;
        for (name, st) in parsed {
            if name == b"default" {
                default_state = Some(st);
            } else {
                map.insert(name.clone(), Arc::new(User::new(&name, st)));
            }
        }
        let st = default_state.unwrap_or_else(|| {
            let mut st = UserState::new(true);
            st.enabled = true;
            st.nopass = true;
            st.root.apply(b"~*").ok();
            st.root.apply(b"+@all").ok();
            st
        });
        self.default.replace(st);
        self.refresh_default();
        map.insert(b"default".to_vec(), self.default.clone());
        let old = std::mem::replace(&mut *self.users.write(), map);
        old.into_values()
            .filter(|u| !Arc::ptr_eq(u, &self.default))
            .collect()
    }

    /// Users whose state must be replaced to reflect `requirepass` at start-up.
    pub fn contents(&self) -> String {
        let mut s = String::new();
        for line in self.list() {
            s.push_str(&line);
            s.push('\n');
        }
        s
    }

    /// Whether client subscriptions `subs` are all still allowed for `user`.
    pub fn subscriptions_allowed(user: &User, subs: &[(Vec<u8>, bool)]) -> bool {
        let st = user.state.read();
        subs.iter()
            .all(|(name, pat)| st.channel_allowed(name, *pat))
    }
}

/// Read and parse an ACL file (lines `user <name> <rules>`; blank lines and `#` comments
/// skipped).
fn read_file(path: &str, pubsub_all: bool) -> Result<Vec<(Vec<u8>, UserState)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{}': {}", path, e))?;
    let lines: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    Acl::parse_lines(&lines, pubsub_all).map_err(|e| format!("{}:{}", path, e))
}

/// ACL LOAD: replace every user with the file's (all or nothing). Returns the users that
/// were replaced, whose clients must be disconnected.
pub fn load_file(server: &crate::server::Server, path: &str) -> Result<Vec<Arc<User>>, String> {
    let all = server.config.get("acl-pubsub-default") == "allchannels";
    let parsed = read_file(path, all)?;
    Ok(server.acl.install(parsed))
}

/// ACL SAVE: write ACL LIST's lines to a temporary file and rename it over `path`.
pub fn save_file(server: &crate::server::Server, path: &str) -> Result<(), String> {
    let tmp = format!("{}.tmp-{}", path, std::process::id());
    std::fs::write(&tmp, server.acl.contents()).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        e.to_string()
    })
}

/// At start-up: `requirepass`, then the users of the config file (`user` lines) or of
/// `aclfile` (Redis refuses both at once).
pub fn startup(server: &crate::server::Server) -> Result<(), String> {
    let pass = server.config.get("requirepass");
    if !pass.is_empty() {
        server.acl.set_requirepass(&pass);
    }
    let lines = server.config.user_lines();
    let aclfile = server.config.get("aclfile");
    let all = server.config.get("acl-pubsub-default") == "allchannels";
    if !lines.is_empty() && !aclfile.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    if !lines.is_empty() {
        let mut parsed = Acl::parse_lines(&lines, all)?;
        if !parsed.iter().any(|(n, _)| n == b"default") {
            // Users from the config file come on top of the default user as it is.
            parsed.push((b"default".to_vec(), server.acl.default.state()));
        }
        server.acl.install(parsed);
    } else if !aclfile.is_empty() {
        let mut parsed = read_file(&aclfile, all)?;
        if !parsed.iter().any(|(n, _)| n == b"default") {
            parsed.push((b"default".to_vec(), server.acl.default.state()));
        }
        server.acl.install(parsed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::registry;

    fn user(ops: &[&str]) -> UserState {
        let mut st = UserState::new(false);
        for op in ops {
            st.apply(op.as_bytes(), false).expect("valid rule");
        }
        st
    }

    fn check(st: &UserState, argv: &[&str]) -> Result<(), Denied> {
        let args: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        let (id, cmd) = crate::commands::dispatch::resolve(&args).expect("command");
        let u = User::new(b"t", st.clone());
        u.check(id, cmd, &args)
    }

    #[test]
    fn default_user_is_unrestricted_until_restricted() {
        let acl = Acl::default();
        assert!(acl.default.unrestricted());
        assert!(!acl.auth_required());
        acl.set_user(b"default", &[b"-flushall"], false)
            .expect("setuser");
        assert!(!acl.default.unrestricted());
        acl.set_user(b"default", &[b"+@all"], false)
            .expect("setuser");
        assert!(acl.default.unrestricted());
        acl.set_requirepass("pw");
        assert!(acl.auth_required());
        assert!(acl.authenticate(b"default", b"pw").is_some());
        assert!(acl.authenticate(b"default", b"no").is_none());
        acl.set_requirepass("");
        assert!(!acl.auth_required());
    }

    #[test]
    fn commands_keys_and_channels() {
        let st = user(&[
            "on",
            "nopass",
            "~k*",
            "%R~r*",
            "%W~w*",
            "&c*",
            "+@read",
            "+set",
            "+publish",
            "+psubscribe",
        ]);
        assert_eq!(check(&st, &["get", "k1"]), Ok(()));
        assert_eq!(check(&st, &["get", "x"]), Err(Denied::Key(1)));
        assert_eq!(check(&st, &["hset", "k", "f", "v"]), Err(Denied::Command));
        assert_eq!(check(&st, &["get", "r1"]), Ok(()));
        assert_eq!(check(&st, &["set", "r1", "v"]), Err(Denied::Key(1)));
        assert_eq!(check(&st, &["set", "w1", "v"]), Ok(()));
        assert_eq!(check(&st, &["set", "w1", "v", "get"]), Err(Denied::Key(1)));
        assert_eq!(check(&st, &["mget", "k1", "x", "k2"]), Err(Denied::Key(2)));
        assert_eq!(check(&st, &["publish", "c1", "m"]), Ok(()));
        assert_eq!(check(&st, &["publish", "d1", "m"]), Err(Denied::Channel(1)));
        // A pattern subscription must match a channel rule literally.
        assert_eq!(check(&st, &["psubscribe", "c*"]), Ok(()));
        assert_eq!(check(&st, &["psubscribe", "c1*"]), Err(Denied::Channel(1)));
    }

    #[test]
    fn selectors_and_first_args() {
        let st = user(&["~a*", "+get", "(~b* +set)", "+select|0"]);
        assert_eq!(check(&st, &["get", "a1"]), Ok(()));
        assert_eq!(check(&st, &["set", "b1", "v"]), Ok(()));
        // Neither selector: the key refusal (higher than a command refusal) is reported.
        assert_eq!(check(&st, &["set", "a1", "v"]), Err(Denied::Key(1)));
        assert_eq!(check(&st, &["select", "0"]), Ok(()));
        assert_eq!(check(&st, &["select", "1"]), Err(Denied::Command));
        assert!(st.describe().contains("(~b* resetchannels -@all +set)"));
    }

    #[test]
    fn rule_errors_leave_the_user_unchanged() {
        let acl = Acl::default();
        acl.set_user(b"u", &[b"on", b"+get"], false)
            .expect("setuser");
        let before = acl.user(b"u").expect("user").state().describe();
        let err = acl
            .set_user(b"u", &[b"+set", b"+nosuchcommand"], false)
            .expect_err("bad rule");
        assert!(err.contains("'+nosuchcommand': Unknown command or category name in ACL"));
        assert_eq!(acl.user(b"u").expect("user").state().describe(), before);
        let err = acl
            .set_user(b"u", &[b"(~a", b"+get"], false)
            .expect_err("unmatched");
        assert!(err.starts_with("ERR Unmatched parenthesis"));
    }

    #[test]
    fn describe_uses_the_closest_categories() {
        let st = user(&["+@hash", "-hget", "+get"]);
        assert_eq!(st.root.describe_commands(), "-@all +@hash +get -hget");
        let st = user(&["+@all", "-@dangerous"]);
        assert_eq!(st.root.describe_commands(), "+@all -@dangerous");
        let st = user(&["+@hash", "+set", "+@string"]);
        assert_eq!(st.root.describe_commands(), "-@all +@string +@hash");
        assert!(registry().len() > 300);
    }

    #[test]
    fn log_groups_identical_refusals() {
        let acl = Acl::default();
        let entry = |obj: &[u8], t: u64| LogEntry {
            count: 1,
            reason: LogReason::Key,
            context: LogContext::Toplevel,
            object: obj.to_vec(),
            username: b"u".to_vec(),
            ctime_ms: t,
            client_info: String::new(),
        };
        acl.log(entry(b"a", 1000), 10);
        acl.log(entry(b"b", 2000), 10);
        acl.log(entry(b"a", 3000), 10);
        let e = acl.log_entries(10);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].object.as_slice(), e[0].count), (&b"a"[..], 2));
        acl.log(entry(b"a", 3000 + LOG_GROUPING_MS), 10);
        assert_eq!(acl.log_entries(10).len(), 3);
        acl.log(entry(b"c", 90_000), 2);
        assert_eq!(acl.log_entries(10).len(), 2);
    }

    #[test]
    fn merge_selector_arguments() {
        let args: Vec<&[u8]> = vec![b"on", b"(~a", b"+get)", b"(~b)", b"+set"];
        let merged = merge_selector_args(&args).expect("balanced");
        assert_eq!(
            merged,
            vec![
                b"on".to_vec(),
                b"(~a +get)".to_vec(),
                b"(~b)".to_vec(),
                b"+set".to_vec()
            ]
        );
        assert_eq!(merge_selector_args(&[b"on", b"(~a"]), Err(1));
    }
}
