//! The Lua engine: one Lua 5.1 VM per worker thread, set up as Redis 7.0 sets up its VM
//! (libraries, the `redis` table, protected globals), and running one script with the
//! caller's command context.

use std::cell::{Cell, RefCell};
use std::ffi::c_int;
// foldhash, not SipHash: these maps are looked up on every script call.
use hashbrown::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use resp::ReplyWriter;

use super::{raise, RedisError};
use crate::commands::dispatch::{call_handler, finish, plan_locks, resolve, LockIds};
use crate::commands::{flags, CmdError, CmdResult, Ctx};
use crate::server::{Client, Server};
use crate::storage::LockSet;

/// Instructions between two checks of the SCRIPT KILL flag.
const HOOK_EVERY: u32 = 100_000;
/// Upper bound for one VM's memory: a script that allocates past it fails with
/// "not enough memory" instead of taking the server down.
const VM_MEMORY_LIMIT: usize = 1 << 30;
/// The collector starts a cycle when the heap has grown by this percentage since the last
/// one (Lua's default is 200). Redis instead forces a collection step every 50 scripts,
/// which on a small script costs more than the script: a step finishes a whole cycle
/// (marking and sweeping the entire VM) when the heap is small. Lua's own incremental
/// collector, paced by allocation, does that work only once the garbage amounts to half
/// the live heap, and still keeps an idle VM near its live size (Redis's test: under
/// 100 KB after 10,000 small scripts).
const GC_PAUSE_PERCENT: i32 = 150;
/// The chunk name of the set-up code: its frames are skipped when locating an error.
pub(crate) const PRELUDE_NAME: &str = "=redis_prelude";
/// The error a killed script fails with.
const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

thread_local! {
    /// This thread's VM (taken out while a script runs).
    static VM: RefCell<Option<Box<Vm>>> = const { RefCell::new(None) };
    /// The protocol the running script asked for with `redis.setresp`.
    static SCRIPT_RESP: Cell<u8> = const { Cell::new(2) };
    /// Monotonic ms past which the library being loaded on this thread fails with
    /// "FUNCTION LOAD timeout" (0: no load runs).
    static LOAD_DEADLINE_MS: Cell<u64> = const { Cell::new(0) };
    /// State of `math.random` (Redis's rand48), per thread.
    static RAND48: Cell<u64> = const { Cell::new(0x1234_ABCD_330E) };
    /// The running script's state, reached by `redis.call`/`redis.pcall` (created once per
    /// VM, so a run creates no callbacks). Null while no script runs on this thread.
    static RUNNING: Cell<*const RefCell<RunState<'static, 'static>>> =
        const { Cell::new(std::ptr::null()) };
}

/// Publishes a run's state in [`RUNNING`] for as long as it lives (cleared on drop, also
/// when unwinding), so the state is never reachable after the run.
struct RunningGuard;

impl RunningGuard {
    fn publish(state: &RefCell<RunState<'_, '_>>) -> RunningGuard {
        // Only the lifetimes change: the pointer is used while `state` is borrowed by the
        // caller, which drops this guard before `state` goes away (see `with_running`).
        let ptr: *const RefCell<RunState<'static, 'static>> = std::ptr::from_ref(state).cast();
        RUNNING.with(|r| r.set(ptr));
        RunningGuard
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(std::ptr::null()));
    }
}

/// Script flags (shebang `flags=`), as Redis 7.0 names them.
pub mod script_flags {
    /// `no-writes`
    pub const NO_WRITES: u32 = 1 << 0;
    /// `allow-oom`
    pub const ALLOW_OOM: u32 = 1 << 1;
    /// `allow-stale`
    pub const ALLOW_STALE: u32 = 1 << 2;
    /// `no-cluster`
    pub const NO_CLUSTER: u32 = 1 << 3;
    /// `allow-cross-slot-keys`
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
    /// No shebang: EVAL's compatibility mode (writes allowed, flags ignored).
    pub const EVAL_COMPAT: u32 = 1 << 5;
    /// Names.
    pub const NAMES: &[(&str, u32)] = &[
        ("no-writes", NO_WRITES),
        ("allow-oom", ALLOW_OOM),
        ("allow-stale", ALLOW_STALE),
        ("no-cluster", NO_CLUSTER),
        ("allow-cross-slot-keys", ALLOW_CROSS_SLOT),
    ];
}

/// Parse a `#!lua flags=...` first line. Returns the flags and the length of the shebang
/// (which is skipped when compiling, keeping its line feed so line numbers stay right), or
/// Redis's error text without the `ERR ` code.
pub fn parse_shebang(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((script_flags::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let line = body.get(..end).unwrap_or_default();
    let parts = resp::split_inline_args(line).unwrap_or_default();
    let Some(engine) = parts.first() else {
        return Err("Invalid engine in script shebang".into());
    };
    if engine.as_slice() != b"#!lua" {
        return Err(format!(
            "Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(engine)
        ));
    }
    let mut out = 0;
    for part in parts.iter().skip(1) {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!(
                "Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        };
        for flag in list.split(|&b| b == b',') {
            if flag.is_empty() && list.is_empty() {
                continue;
            }
            match script_flags::NAMES
                .iter()
                .find(|(n, _)| n.as_bytes() == flag)
            {
                Some((_, f)) => out |= f,
                None => {
                    return Err(format!(
                        "Unexpected flag in script shebang: {}",
                        String::from_utf8_lossy(flag)
                    ))
                }
            }
        }
    }
    Ok((out, end))
}

/// One thread's VM (fields used by `functions.rs` are crate-visible).
/// A script compiled on a VM.
struct Compiled {
    /// Keeps the function alive (the registry reference points to it).
    _function: Function,
    /// Registry reference of the function.
    reference: c_int,
    /// `script_flags` of its shebang.
    flags: u32,
}

pub(crate) struct Vm {
    pub(crate) lua: Lua,
    /// Where INFO reads this VM's memory (`Scripts::vm_memory_slot`).
    memory: Arc<std::sync::atomic::AtomicUsize>,
    /// Address of the server's scripting state this VM was built for.
    owner: usize,
    /// `Scripts::generation` when built (SCRIPT FLUSH rebuilds).
    generation: u64,
    /// Compiled scripts by SHA1, with each function's registry reference (scripts run
    /// with no mlua value pushed) and its shebang flags (parsed once, at compile time).
    compiled: HashMap<String, Compiled>,
    /// The environment scripts run in (the protected globals).
    env: Table,
    /// The real globals table (KEYS and ARGV are set here).
    globals: Table,
    /// `__redis__err__handler`.
    handler: Function,
    /// Registry references of `xpcall` and of the handler, for [`call_script`].
    xpcall_ref: c_int,
    handler_ref: c_int,
    /// The main state and the script runner, for [`call_script`].
    raw: RawVm,
    /// Functions (FUNCTION LOAD): the environment libraries run in and its load switch.
    pub(crate) funcs: super::functions::FunctionVm,
}

/// What the set-up code does in Lua: protected globals and library tables (Redis 7.0
/// makes them read-only inside its patched Lua; here they are proxies), and `pcall`
/// returning an error table's message as Redis 7.0's does.
const PRELUDE: &str = r#"
local real, errtext, check_kill = ...
local raw_rawset, raw_rawget, raw_next, raw_pairs, raw_ipairs = rawset, rawget, next, pairs, ipairs
local raw_setmt, raw_pcall, raw_setfenv = setmetatable, pcall, setfenv
local raw_loadstring, raw_load, raw_error, raw_type, raw_tostring = loadstring, load, error, type, tostring
local RO = "Attempt to modify a readonly table"
local target = raw_setmt({}, {__mode = "k"})
local mt_proxy, mt_target = {}, {}
local raw_getmt = getmetatable
local function deny() raw_error(RO, 2) end
local function protect(t)
  local p = raw_setmt({}, {__index = t, __newindex = deny})
  target[p] = t
  return p
end
for _, name in raw_ipairs({"string", "table", "math", "coroutine", "bit", "cjson", "cmsgpack", "struct", "redis"}) do
  if real[name] ~= nil then raw_rawset(real, name, protect(real[name])) end
end
-- Globals that exist resolve through a table chain (G -> real), with no Lua call per
-- access; only a missing one reaches the function that raises Redis's error.
raw_setmt(real, {
  __index = function(_, k)
    raw_error("Script attempted to access nonexistent global variable '" .. raw_tostring(k) .. "'", 2)
  end,
})
local G = raw_setmt({}, {__index = real, __newindex = deny})
target[G] = real
raw_rawset(real, "_G", G)
raw_rawset(real, "rawset", function(t, k, v)
  if target[t] or mt_target[t] then raw_error(RO, 0) end
  return raw_rawset(t, k, v)
end)
raw_rawset(real, "setmetatable", function(t, m)
  if target[t] or mt_target[t] then raw_error(RO, 0) end
  return raw_setmt(t, m)
end)
raw_rawset(real, "getmetatable", function(t)
  local mt = raw_getmt(t)
  if mt ~= nil and (target[t] or raw_type(t) == "string") then
    local p = mt_proxy[mt]
    if p == nil then
      p = raw_setmt({}, {__index = mt, __newindex = deny})
      mt_proxy[mt] = p
      mt_target[p] = mt
    end
    return p
  end
  return mt
end)
raw_rawset(real, "rawget", function(t, k) return raw_rawget(target[t] or t, k) end)
raw_rawset(real, "next", function(t, k) return raw_next(target[t] or t, k) end)
raw_rawset(real, "pairs", function(t) return raw_pairs(target[t] or t) end)
raw_rawset(real, "ipairs", function(t) return raw_ipairs(target[t] or t) end)
-- Source text only: precompiled (binary) chunks are refused, as in Redis.
local function load_text(s, name)
  if raw_type(s) == "string" and s:sub(1, 1) == "\27" then
    return nil, "binary chunks are not allowed"
  end
  local f, e = raw_loadstring(s, name)
  if f then raw_setfenv(f, G) end
  return f, e
end
raw_rawset(real, "loadstring", load_text)
raw_rawset(real, "load", function(fn, name)
  if raw_type(fn) ~= "function" then return raw_load(fn, name) end
  local parts = {}
  while true do
    local piece = fn()
    if piece == nil or piece == "" then break end
    parts[#parts + 1] = piece
  end
  return load_text(table.concat(parts), name or "=(load)")
end)
local function fix(ok, ...)
  if ok then return ok, ... end
  check_kill()
  local e = ...
  if raw_type(e) == "table" then
    local m = raw_rawget(e, "err")
    if raw_type(m) == "string" or raw_type(m) == "number" then return false, m end
  elseif raw_type(e) == "userdata" then
    return false, errtext(e)
  end
  return false, e
end
raw_rawset(real, "pcall", function(...) return fix(raw_pcall(...)) end)
for _, name in raw_ipairs({"print", "dofile", "loadfile", "getfenv", "setfenv", "newproxy", "module", "require", "package", "os", "io", "debug"}) do
  raw_rawset(real, name, nil)
end
return G
"#;

/// The error text an error raised by Rust code ends a script with: a [`RedisError`]'s text
/// as is, a plain message (as Lua's string errors) with the generic `ERR` code.
pub(crate) fn error_text(e: &mlua::Error) -> String {
    match pcall_text(e) {
        (text, true) => text,
        (text, false) => format!("ERR {}", text),
    }
}

/// The message `pcall` returns for an error raised by Rust code, and whether it already
/// carries an error code (a [`RedisError`]).
fn pcall_text(e: &mlua::Error) -> (String, bool) {
    match e {
        mlua::Error::ExternalError(inner) => match inner.downcast_ref::<RedisError>() {
            Some(r) => (r.0.clone(), true),
            None => (inner.to_string(), false),
        },
        mlua::Error::CallbackError { cause, .. } => pcall_text(cause),
        mlua::Error::RuntimeError(m) => (m.clone(), false),
        mlua::Error::MemoryError(_) => ("not enough memory".into(), false),
        other => (other.to_string(), false),
    }
}

/// Redis's `luaPushErrorBuff` normalisation: "-CODE msg" keeps its code, anything without
/// one gets `ERR`; trailing CR/LF trimmed.
pub(super) fn normalize_error(text: &[u8]) -> Vec<u8> {
    let trimmed = {
        let mut t = text;
        while let Some((&last, rest)) = t.split_last() {
            if last == b'\r' || last == b'\n' {
                t = rest;
            } else {
                break;
            }
        }
        t
    };
    match trimmed.strip_prefix(b"-") {
        Some(rest) if rest.contains(&b' ') => rest.to_vec(),
        Some(rest) => [&b"ERR "[..], rest].concat(),
        None => [&b"ERR "[..], trimmed].concat(),
    }
}

/// `{err = text}`.
fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(text)?)?;
    Ok(Value::Table(t))
}

/// `__redis__err__handler`: turn any error into `{err=..., source=..., line=...}` with the
/// position of the script code that raised it (C frames and set-up code skipped).
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Value> {
    let t = match err {
        Value::Table(t) => t,
        Value::Error(e) => {
            let t = lua.create_table()?;
            t.raw_set("err", error_text(&e))?;
            t
        }
        Value::String(s) => {
            let t = lua.create_table()?;
            t.raw_set(
                "err",
                lua.create_string([&b"ERR "[..], &s.as_bytes()].concat())?,
            )?;
            t
        }
        other => {
            let text = match &other {
                Value::Nil => "nil".to_string(),
                Value::Boolean(b) => b.to_string(),
                Value::Integer(i) => i.to_string(),
                Value::Number(n) => resp::format_double(*n),
                _ => other.type_name().to_string(),
            };
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {}", text))?;
            t
        }
    };
    for level in 1..32 {
        let Some(d) = lua.inspect_stack(level) else {
            break;
        };
        let src = d.source();
        let source = src.source.as_deref().unwrap_or("").to_string();
        if src.what == "C" || source == PRELUDE_NAME {
            continue;
        }
        let line = d.curr_line();
        t.raw_set("source", source)?;
        t.raw_set("line", line)?;
        break;
    }
    Ok(Value::Table(t))
}

/// Redis's rand48 (`redisLrand48`): the 48-bit linear congruential generator.
fn lrand48() -> i32 {
    RAND48.with(|s| {
        let x = (s.get().wrapping_mul(0x5DEE_CE66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        s.set(x);
        (x >> 17) as i32
    })
}

fn srand48(seed: i32) {
    RAND48.with(|s| s.set((((seed as u32) as u64) << 16) | 0x330E));
}

/// `math.random` as Redis replaces it (deterministic rand48).
fn math_random(lua: &Lua, args: MultiValue) -> mlua::Result<f64> {
    // luaL_argerror names the function from the calling instruction: unknown ('?') when
    // called by a C function such as pcall.
    let called_from_c = lua.inspect_stack(1).is_some_and(|d| d.source().what == "C");
    let fname = if called_from_c { "?" } else { "random" };
    let bad_arg = |n: usize, why: &str| {
        mlua::Error::RuntimeError(format!("bad argument #{} to '{}' ({})", n, fname, why))
    };
    let r = (lrand48() % i32::MAX) as f64 / i32::MAX as f64;
    let int_arg = |v: Option<&Value>, n: usize| -> mlua::Result<i64> {
        match v {
            Some(Value::Integer(i)) => Ok(*i),
            Some(Value::Number(f)) => Ok(*f as i64),
            Some(Value::String(s)) => s
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .map(|f| f as i64)
                .ok_or_else(|| bad_arg(n, "number expected")),
            _ => Err(bad_arg(n, "number expected")),
        }
    };
    match args.len() {
        0 => Ok(r),
        1 => {
            let u = int_arg(args.front(), 1)?;
            if u < 1 {
                return Err(bad_arg(1, "interval is empty"));
            }
            Ok((r * u as f64).floor() + 1.0)
        }
        2 => {
            let l = int_arg(args.front(), 1)?;
            let u = int_arg(args.get(1), 2)?;
            if l > u {
                return Err(bad_arg(2, "interval is empty"));
            }
            Ok((r * (u - l + 1) as f64).floor() + l as f64)
        }
        _ => Err(mlua::Error::RuntimeError(
            "wrong number of arguments".into(),
        )),
    }
}

impl Vm {
    fn new(owner: usize, generation: u64, kill: Arc<AtomicBool>) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )?;
        lua.set_memory_limit(VM_MEMORY_LIMIT)?;
        let globals = lua.globals();
        super::libs::register(&lua, &globals)?;
        let math: Table = globals.raw_get("math")?;
        math.raw_set(
            "random",
            lua.create_function(|lua, a: MultiValue| super::libs::at(lua, math_random(lua, a)))?,
        )?;
        math.raw_set(
            "randomseed",
            lua.create_function(|_, seed: f64| {
                srand48(seed as i64 as i32);
                Ok(())
            })?,
        )?;
        let redis = lua.create_table()?;
        super::libs::redis::register(&lua, &redis)?;
        for (name, raise) in [("call", true), ("pcall", false)] {
            // SAFETY: inside `exec_raw`'s protected call with room for the two values
            // `push_call_function` pushes; its result (the closure) is what remains.
            let f: Function =
                unsafe { lua.exec_raw((), |l| super::call::push_call_function(l, raise)) }?;
            redis.raw_set(name, f)?;
        }
        globals.raw_set("redis", redis)?;
        let handler = lua.create_function(error_handler)?;
        globals.raw_set("__redis__err__handler", handler.clone())?;
        let xpcall: Function = globals.raw_get("xpcall")?;
        let errtext = lua.create_function(|_, e: Value| {
            Ok(match e {
                Value::Error(e) => pcall_text(&e).0,
                _ => "unknown error".to_string(),
            })
        })?;
        let kill_check = kill.clone();
        let check_kill = lua.create_function(move |_, ()| {
            if kill_check.load(Ordering::Acquire) {
                return Err(raise(KILLED));
            }
            Ok(())
        })?;
        let env: Table = lua.load(PRELUDE).set_name(PRELUDE_NAME).call((
            globals.clone(),
            errtext,
            check_kill,
        ))?;
        // The set-up code's garbage would otherwise count in used_memory_lua for a while.
        lua.gc_collect()?;
        lua.gc_set_pause(GC_PAUSE_PERCENT);
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                if kill.load(Ordering::Acquire) {
                    return Err(raise(KILLED));
                }
                let deadline = LOAD_DEADLINE_MS.with(|d| d.get());
                if deadline != 0 && crate::util::mono_ns() / 1_000_000 > deadline {
                    return Err(raise("ERR FUNCTION LOAD timeout"));
                }
                Ok(VmState::Continue)
            },
        );
        let funcs = super::functions::FunctionVm::new(&lua, &globals)?;
        let xpcall_ref = registry_ref(&lua, &xpcall)?;
        let handler_ref = registry_ref(&lua, &handler)?;
        let raw = RawVm::new(&lua)?;
        Ok(Vm {
            lua,
            owner,
            generation,
            compiled: HashMap::new(),
            env,
            globals,
            handler,
            xpcall_ref,
            handler_ref,
            raw,
            funcs,
            memory: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        })
    }

    /// The compiled function of a script, compiling it on first use. Errors are Redis's
    /// full texts.
    /// Returns the function's registry reference (no mlua value is cloned per run).
    /// With the script's shebang flags.
    fn function(&mut self, sha: &str, body: &[u8]) -> Result<(c_int, u32), String> {
        if let Some(found) = self.compiled(sha) {
            return Ok(found);
        }
        let (flags, skip) = parse_shebang(body).map_err(|e| format!("ERR {}", e))?;
        let code = body.get(skip..).unwrap_or_default();
        let f = self
            .lua
            .load(code)
            .set_name("@user_script")
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| {
                let msg = match &e {
                    mlua::Error::SyntaxError { message, .. } => message.clone(),
                    other => error_text(other),
                };
                format!("ERR Error compiling script (new function): {}", msg)
            })?;
        let reference = registry_ref(&self.lua, &f).map_err(|e| error_text(&e))?;
        self.compiled.insert(
            sha.to_string(),
            Compiled {
                _function: f,
                reference,
                flags,
            },
        );
        Ok((reference, flags))
    }

    /// A script this VM has compiled already: its registry reference and shebang flags.
    fn compiled(&self, sha: &str) -> Option<(c_int, u32)> {
        self.compiled.get(sha).map(|c| (c.reference, c.flags))
    }
}

/// What [`call_script`] needs to run a script with plain Lua C API calls.
#[derive(Clone, Copy)]
struct RawVm {
    /// The VM's main state (valid as long as the VM's `Lua`).
    state: *mut mlua::ffi::lua_State,
    /// Registry reference of [`run_script_protected`].
    runner_ref: c_int,
    /// Registry references of the strings "KEYS" and "ARGV" (no hashing per run).
    names_ref: [c_int; 2],
}

impl RawVm {
    fn new(lua: &Lua) -> mlua::Result<RawVm> {
        let mut state = std::ptr::null_mut();
        let slot = &mut state;
        // SAFETY: only reads the state pointer mlua runs the closure with (the main state:
        // no coroutine runs while the VM is set up).
        unsafe { lua.exec_raw::<()>((), |l| *slot = l)? };
        // SAFETY: `run_script_protected` is a valid Lua C function.
        let runner = unsafe { lua.create_c_function(run_script_protected)? };
        let runner_ref = registry_ref(lua, &runner)?;
        let names_ref = [
            registry_ref(lua, lua.create_string("KEYS")?)?,
            registry_ref(lua, lua.create_string("ARGV")?)?,
        ];
        Ok(RawVm {
            state,
            runner_ref,
            names_ref,
        })
    }
}

/// A registry reference to `f` (kept for the VM's life; the VM is replaced on SCRIPT
/// FLUSH), so that running it pushes it with `lua_rawgeti` instead of an mlua value.
fn registry_ref(lua: &Lua, f: impl mlua::IntoLua) -> mlua::Result<c_int> {
    let mut r = 0;
    let slot = &mut r;
    // SAFETY: inside exec_raw's protected call with `f` at index 1, which `luaL_ref` pops.
    unsafe {
        lua.exec_raw::<()>(f, |l| {
            *slot = mlua::ffi::luaL_ref(l, mlua::ffi::LUA_REGISTRYINDEX);
        })?;
    }
    Ok(r)
}

/// Run `f` with this thread's VM for `server` (built on first use or after SCRIPT FLUSH).
pub(crate) fn with_vm<R>(server: &Server, f: impl FnOnce(&mut Vm) -> R) -> Result<R, String> {
    let scripts = &server.scripts;
    let owner = scripts as *const _ as usize;
    let generation = scripts.generation.load(Ordering::Acquire);
    let taken = VM.with(|v| v.borrow_mut().take());
    let mut vm = match taken {
        Some(vm) if vm.owner == owner && vm.generation == generation => vm,
        _ => {
            let mut vm = Vm::new(owner, generation, scripts.kill.clone())
                .map_err(|e| format!("ERR Error creating the Lua VM: {}", e))?;
            vm.memory = scripts.vm_memory_slot();
            Box::new(vm)
        }
    };
    let r = f(&mut vm);
    vm.memory.store(vm.lua.used_memory(), Ordering::Relaxed);
    VM.with(|v| *v.borrow_mut() = Some(vm));
    Ok(r)
}

/// Compile a script on this thread's VM (SCRIPT LOAD checks syntax this way).
pub fn compile(server: &Server, sha: &str, body: &[u8]) -> Result<(), String> {
    with_vm(server, |vm| vm.function(sha, body).map(|_| ()))?
}

/// What the running script's `redis.call` works with.
struct RunState<'a, 's> {
    server: &'s Server,
    client: &'a mut Client,
    locks: &'a mut LockSet<'s>,
    read_only: bool,
    /// Memory was over `maxmemory` when the script started (and it lacks `allow-oom`):
    /// its first write that may grow memory is refused with -OOM.
    oom_at_start: bool,
    /// The caller's command (EVAL, FCALL...): the ACL log's client-info shows it.
    caller_cmd: &'static str,
}

/// A script to run.
pub struct Script<'a> {
    /// SHA1 of the body (the name in error texts).
    pub sha: &'a str,
    /// The body when the caller has it (EVAL). EVALSHA gives None: the body is looked up
    /// in the script cache only if this thread's VM has not compiled the script yet.
    pub body: Option<&'a [u8]>,
    /// KEYS.
    pub keys: &'a [&'a [u8]],
    /// ARGV.
    pub args: &'a [&'a [u8]],
    /// EVAL_RO / EVALSHA_RO.
    pub read_only: bool,
}

/// Run a script for the client of `ctx` and write its reply. The caller holds the script
/// mutex and the shards of the declared keys.
pub fn run(ctx: &mut Ctx, script: &Script) -> CmdResult {
    let server = ctx.server;
    run_target(ctx, |vm| {
        let (f, sflags) = match vm.compiled(script.sha) {
            Some(found) => found,
            None => {
                let cached;
                let body = match script.body {
                    Some(body) => body,
                    None => {
                        cached = server
                            .scripts
                            .get(script.sha)
                            .ok_or_else(|| NOSCRIPT.to_string())?;
                        &cached[..]
                    }
                };
                vm.function(script.sha, body)?
            }
        };
        let mode = script_mode(sflags, script.read_only)?;
        let (lua, refs, raw) = (vm.lua.clone(), [vm.xpcall_ref, f, vm.handler_ref], vm.raw);
        let call = move |out: &mut ReplyWriter, failure: &mut Option<String>| {
            call_script(raw, &lua, script, refs, out, failure)
        };
        Ok((call, mode))
    })
}

/// Redis's reply to EVALSHA of a SHA1 it does not have.
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// How a script may run, from its shebang flags and the command (EVAL or EVAL_RO).
#[derive(Debug, Clone, Copy)]
struct Mode {
    /// No writes (EVAL_RO, FCALL_RO, `no-writes`).
    read_only: bool,
    /// `allow-oom`: writes are allowed over maxmemory.
    allow_oom: bool,
}

fn script_mode(sflags: u32, ro_command: bool) -> Result<Mode, String> {
    let declares_writes = sflags & (script_flags::EVAL_COMPAT | script_flags::NO_WRITES) == 0;
    if ro_command && declares_writes {
        return Err("ERR Can not execute a script with write flag using *_ro command.".into());
    }
    Ok(Mode {
        read_only: ro_command || sflags & script_flags::NO_WRITES != 0,
        allow_oom: sflags & script_flags::ALLOW_OOM != 0,
    })
}

/// Run a function (FCALL): the callback of `name` in `library`, called with the KEYS and
/// ARGV tables as its arguments. The caller holds the script mutex and the declared keys'
/// shards, and has checked the function's flags against FCALL_RO.
pub fn run_function(
    ctx: &mut Ctx,
    lib: &super::functions::Library,
    name: &str,
    keys: &[&[u8]],
    args: &[&[u8]],
    read_only: bool,
    allow_oom: bool,
) -> CmdResult {
    let mode = Mode {
        read_only,
        allow_oom,
    };
    run_target(ctx, |vm| {
        let f = vm.library_function(lib, name)?;
        let lua = vm.lua.clone();
        // No KEYS/ARGV globals for functions (an earlier EVAL's stay otherwise).
        vm.globals
            .raw_set("KEYS", Value::Nil)
            .map_err(|e| error_text(&e))?;
        vm.globals
            .raw_set("ARGV", Value::Nil)
            .map_err(|e| error_text(&e))?;
        let (wrap, handler) = (vm.funcs.call_wrap.clone(), vm.handler.clone());
        let call = move |out: &mut ReplyWriter, failure: &mut Option<String>| {
            call_function(&lua, (wrap, f, handler), [keys, args], name, out, failure)
        };
        Ok((call, mode))
    })
}

/// Run what `prepare` returns (a protected call of the script that writes its reply or
/// its failure's text, and how the script may run) as the running script, and reply.
fn run_target<C>(
    ctx: &mut Ctx,
    prepare: impl FnOnce(&mut Vm) -> Result<(C, Mode), String>,
) -> CmdResult
where
    C: FnOnce(&mut ReplyWriter, &mut Option<String>) -> mlua::Result<()>,
{
    let server = ctx.server;
    let saved_db = ctx.client.db;
    let saved_in_exec = ctx.client.in_exec;
    let saved_in_script = ctx.client.in_script;
    let client_id = ctx.client.handle.id;
    let mut reply = ReplyWriter {
        buf: Vec::with_capacity(64),
        resp3: ctx.out.resp3,
    };
    // Nothing left from an earlier run that failed before its reply was taken.
    super::convert::take_reply_errors();
    let result = with_vm(server, |vm| -> Result<(), String> {
        let (
            call,
            Mode {
                read_only,
                allow_oom,
            },
        ) = prepare(vm)?;
        SCRIPT_RESP.with(|r| r.set(2));
        let state = RefCell::new(RunState {
            server,
            client: &mut *ctx.client,
            locks: &mut *ctx.locks,
            read_only,
            // Redis decides once, when the script starts (its arguments and Lua stack
            // would otherwise count against it).
            oom_at_start: !allow_oom && server.out_of_memory(),
            caller_cmd: ctx.name,
        });
        server.scripts.start(client_id);
        let mut failure = None;
        let outcome = {
            let _published = RunningGuard::publish(&state);
            call(&mut reply, &mut failure)
        };
        server.scripts.end();
        outcome.map_err(|e| error_text(&e))?;
        match failure {
            Some(text) => Err(text),
            None => Ok(()),
        }
    });
    ctx.client.db = saved_db;
    ctx.client.in_exec = saved_in_exec;
    ctx.client.in_script = saved_in_script;
    // Errors in the reply count once: those the script made itself now, those of the
    // commands it called were counted when they ran. Either makes the script's command
    // count as failed.
    let errors = super::convert::take_reply_errors();
    match result {
        Ok(Ok(())) => {
            for text in &errors.fresh {
                server.record_error(text);
            }
            ctx.out.raw(&reply.buf);
            if errors.any() {
                Err(CmdError::Replied)
            } else {
                Ok(())
            }
        }
        Ok(Err(msg)) | Err(msg) if errors.counted > 0 => {
            ctx.out.error(&msg);
            Err(CmdError::Replied)
        }
        Ok(Err(msg)) | Err(msg) => Err(CmdError::Msg(msg)),
    }
}

/// One EVAL run as the protected runner reads it (through a light userdata).
struct ScriptCall<'a, 'b> {
    script: &'a Script<'a>,
    /// Registry references of "KEYS" and "ARGV".
    names: [c_int; 2],
    /// Registry references of xpcall, the script's function and the error handler.
    refs: [c_int; 3],
    out: &'b mut ReplyWriter,
    failure: &'b mut Option<String>,
}

/// Set KEYS and ARGV (two new tables in the real globals), call `xpcall(f, handler)` and
/// write its result (the reply, or the failure's text), all in one protected call: with a
/// memory limit on the VM, each mlua table or string operation would otherwise be a
/// protected call of its own, most of a small script's cost. The protected call is a
/// plain `lua_pcall` of [`run_script_protected`] on the VM's main state (no closure is
/// allocated per run); mlua's `exec_raw` is the fallback if the main state's stack is not
/// as mlua leaves it between calls.
fn call_script(
    raw: RawVm,
    lua: &Lua,
    script: &Script,
    refs: [c_int; 3],
    out: &mut ReplyWriter,
    failure: &mut Option<String>,
) -> mlua::Result<()> {
    use mlua::ffi;
    check_lengths(&[script.keys, script.args])?;
    let mut call = ScriptCall {
        script,
        names: raw.names_ref,
        refs,
        out,
        failure,
    };
    let l = raw.state;
    // SAFETY: `l` is the main state of `lua` (taken by `Vm::new`), used on this thread only
    // and not inside any other Lua call (a script run starts here). Between mlua calls its
    // stack is empty and at least BASIC_STACK_SIZE (40) slots large (Lua never shrinks it
    // below that), so the two pushes below fit without growing it (growing could raise a
    // memory error outside any protected call); a stack that is not nearly empty takes the
    // mlua path instead. `lua_rawgeti` of the registry and `lua_pushlightuserdata` do not
    // allocate. The runner reads `call` through the pointer only during `lua_pcall`, while
    // `call` lives; `lua_pcall` leaves the stack as it found it on success, and the error
    // value is removed on failure.
    unsafe {
        let top = ffi::lua_gettop(l);
        if top > 8 {
            return lua.exec_raw::<()>((), |l| script_call_body(l, &mut call));
        }
        ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, raw.runner_ref);
        ffi::lua_pushlightuserdata(l, std::ptr::from_mut(&mut call).cast::<std::ffi::c_void>());
        let status = ffi::lua_pcall(l, 1, 0, 0);
        if status == 0 {
            return Ok(());
        }
        let message = lua_error_message(l, -1);
        ffi::lua_settop(l, top);
        Err(if status == ffi::LUA_ERRMEM {
            mlua::Error::MemoryError(message)
        } else {
            mlua::Error::RuntimeError(message)
        })
    }
}

/// `redis.acl_check_cmd`: whether the running script's user may run `argv` (a resolved
/// command); false also when no script runs on this thread.
pub(crate) fn acl_allows(id: usize, cmd: &crate::commands::Command, argv: &[&[u8]]) -> bool {
    let ptr = RUNNING.with(|r| r.get());
    if ptr.is_null() {
        return false;
    }
    // SAFETY: as in `run_script_command`: the pointer was published by `RunningGuard` for
    // the run executing on this thread right now, which outlives this synchronous call.
    let state = unsafe { &*ptr };
    let Ok(st) = state.try_borrow() else {
        return false;
    };
    crate::commands::acl_check::user_of(st.server, st.client)
        .check(id, cmd, argv)
        .is_ok()
}

/// The message of the error value at `idx`: its text if it is a string.
///
/// # Safety
/// `idx` must be a valid stack index of `l`.
unsafe fn lua_error_message(l: *mut mlua::ffi::lua_State, idx: c_int) -> String {
    if mlua::ffi::lua_type(l, idx) != mlua::ffi::LUA_TSTRING {
        return "unknown error".into();
    }
    let mut len = 0usize;
    let ptr = mlua::ffi::lua_tolstring(l, idx, &mut len);
    if ptr.is_null() {
        return "unknown error".into();
    }
    // SAFETY: a string value's bytes, valid while it is on the stack (it is).
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    String::from_utf8_lossy(bytes).into_owned()
}

/// The protected runner: `lua_pcall`ed by [`call_script`] with a [`ScriptCall`] pointer.
unsafe extern "C-unwind" fn run_script_protected(l: *mut mlua::ffi::lua_State) -> c_int {
    let call = mlua::ffi::lua_touserdata(l, 1).cast::<ScriptCall>();
    mlua::ffi::lua_settop(l, 0);
    // SAFETY: `call_script` passes a pointer to its live, exclusively borrowed `ScriptCall`.
    if let Some(call) = unsafe { call.as_mut() } {
        script_call_body(l, call);
    }
    0
}

/// The body of a script run, inside a protected call with an empty stack.
///
/// # Safety
/// A memory error raised by the API calls below unwinds to the protected call, and these
/// frames own nothing that needs dropping across an API call (borrowed slices, integers,
/// and the caller's `out` and `failure`). Stack room is checked first (it may allocate,
/// inside the protection): the three functions, then at most the name, the table and one
/// element. The registry references were made by the VM. `LUA_GLOBALSINDEX` is valid in Lua
/// 5.1, and the real globals have no `__newindex` for `lua_rawset` to bypass. `lua_call`
/// runs xpcall, which catches the script's own errors and leaves its results from index 1.
unsafe fn script_call_body(l: *mut mlua::ffi::lua_State, call: &mut ScriptCall) {
    use mlua::ffi;
    ffi::lua_checkstack(l, 7);
    for r in call.refs {
        ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, r);
    }
    let [keys, argv] = call.names;
    for (name, items) in [(keys, call.script.keys), (argv, call.script.args)] {
        ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, name);
        push_string_array(l, items);
        ffi::lua_rawset(l, ffi::LUA_GLOBALSINDEX);
    }
    ffi::lua_call(l, 2, ffi::LUA_MULTRET);
    write_outcome(l, call.script.sha, call.out, call.failure);
}

/// FCALL: `call_wrap(f, handler, keys, args)` (xpcall of `f(keys, args)`) and its result,
/// in one protected call as [`call_script`].
fn call_function(
    lua: &Lua,
    (wrap, f, handler): (Function, Function, Function),
    [keys, args]: [&[&[u8]]; 2],
    name: &str,
    out: &mut ReplyWriter,
    failure: &mut Option<String>,
) -> mlua::Result<()> {
    check_lengths(&[keys, args])?;
    // SAFETY: as in `call_script`: wrap, f and handler at indexes 1 to 3, the two tables
    // pushed above them, and `lua_call` leaves wrap's results (xpcall's) from index 1.
    unsafe {
        lua.exec_raw::<()>((wrap, f, handler), |l| {
            use mlua::ffi;
            ffi::lua_checkstack(l, 4);
            push_string_array(l, keys);
            push_string_array(l, args);
            ffi::lua_call(l, 4, ffi::LUA_MULTRET);
            write_outcome(l, name, out, failure);
        })
    }
}

/// Lua's C API takes element indexes as C ints (a request never has 2^31 arguments).
fn check_lengths(lists: &[&[&[u8]]]) -> mlua::Result<()> {
    if lists
        .iter()
        .any(|items| i32::try_from(items.len()).is_err())
    {
        return Err(mlua::Error::RuntimeError("too many arguments".into()));
    }
    Ok(())
}

/// Push a new array of `items` as Lua strings.
///
/// # Safety
/// Inside a protected call, with room for two more values; `items.len()` fits a C int.
unsafe fn push_string_array(l: *mut mlua::ffi::lua_State, items: &[&[u8]]) {
    use mlua::ffi;
    ffi::lua_createtable(l, items.len() as i32, 0);
    for (i, item) in items.iter().enumerate() {
        ffi::lua_pushlstring(l, item.as_ptr().cast(), item.len());
        ffi::lua_rawseti_(l, -2, i as i32 + 1);
    }
}

/// After a protected call of a script left `ok, value` from stack index 1: write the reply
/// (in the protocol the script chose) or, when it failed, the failure's text.
///
/// # Safety
/// Inside a protected call, with the protected call's results from index 1.
unsafe fn write_outcome(
    l: *mut mlua::ffi::lua_State,
    name: &str,
    out: &mut ReplyWriter,
    failure: &mut Option<String>,
) {
    use mlua::ffi;
    let ok = ffi::lua_type(l, 1) == ffi::LUA_TBOOLEAN && ffi::lua_toboolean(l, 1) != 0;
    if ffi::lua_gettop(l) < 2 {
        ffi::lua_settop(l, 2);
    }
    if ok {
        let resp = SCRIPT_RESP.with(|r| r.get());
        super::convert::write_value(l, 2, out, resp, 0);
    } else {
        *failure = Some(super::convert::failure_text(l, 2, name));
    }
}

/// Run one command for the running script (`redis.call`/`redis.pcall`, see
/// [`super::call`]): the reply bytes in the script's protocol, or an error raised before
/// the command ran (Redis's texts).
pub(super) fn run_script_command(argv: &[&[u8]]) -> Result<Vec<u8>, String> {
    let ptr = RUNNING.with(|r| r.get());
    if ptr.is_null() {
        return Err("ERR redis.call/pcall can only be called inside a script invocation".into());
    }
    // SAFETY: `ptr` was published by `RunningGuard::publish` from a `RefCell<RunState>` that
    // `run_target` keeps alive (on its stack) until after the guard is dropped, and it is
    // read only on this thread (thread-local), synchronously inside that run: Lua calls
    // `redis.call` only while `run_target` is executing the script. The RefCell still
    // checks that no two `redis.call`s borrow the state at once.
    let state = unsafe { &*ptr };
    let mut st = state
        .try_borrow_mut()
        .map_err(|_| "ERR redis.call is not reentrant".to_string())?;
    execute(&mut st, argv)
}

/// Run one command for a script. Errors before the command runs are Redis's texts.
/// A refusal counts in INFO errorstats here, where it arises (as Redis's `scriptCall`); the
/// error table the script gets says so, and the script's reply does not count it again.
fn execute(st: &mut RunState, refs: &[&[u8]]) -> Result<Vec<u8>, String> {
    let (id, cmd) = match resolve(refs) {
        Ok(found) => found,
        Err(m) => {
            let msg = if m.starts_with(b"ERR wrong number of arguments") {
                "ERR Wrong number of args calling Redis command from script"
            } else {
                "ERR Unknown Redis command called from script"
            };
            st.server.record_error(msg);
            return Err(msg.to_string());
        }
    };
    if let Err(msg) = admit(st, id, cmd, refs) {
        // A command refused before it ran also counts as rejected.
        crate::commands::dispatch::count_rejected_id(st.server, id);
        st.server.record_error(&msg);
        return Err(msg);
    }
    // Shards this command needs that the script does not hold yet: taken now, waiting
    // while holding the others (only the running script may), kept until the script ends.
    let mut ids = LockIds::new();
    plan_locks(cmd, refs, st.client.db, st.server.dbs.len(), &mut ids);
    for lid in ids {
        st.locks.lock_more(lid);
    }
    let mut out = ReplyWriter {
        buf: Vec::new(),
        resp3: SCRIPT_RESP.with(|r| r.get()) == 3,
    };
    // Like inside MULTI: blocking commands do not block.
    st.client.in_exec = true;
    st.client.in_script = true;
    let start = crate::util::mono_ns();
    let ok = call_handler(st.server, st.client, &mut out, st.locks, id, cmd, refs);
    finish(st.server, st.client, id, cmd, refs, start, !ok);
    Ok(out.buf)
}

/// The checks a script's command passes before it runs (Redis's order): allowed from
/// scripts, ACL, memory, writes allowed. Marks the script as having written.
fn admit(
    st: &mut RunState,
    id: usize,
    cmd: &crate::commands::Command,
    refs: &[&[u8]],
) -> Result<(), String> {
    if cmd.has(flags::NOSCRIPT) && !st.server.scripts.deny_disabled.load(Ordering::Relaxed) {
        return Err("ERR This Redis command is not allowed from script".into());
    }
    if let Some(msg) =
        crate::commands::acl_check::in_script(st.server, st.client, st.caller_cmd, id, cmd, refs)
    {
        return Err(msg);
    }
    if st.oom_at_start
        && cmd.has(flags::DENYOOM)
        && !st.server.scripts.wrote.load(Ordering::Acquire)
    {
        return Err(crate::commands::dispatch::OOM_ERROR.into());
    }
    if cmd.has(flags::WRITE) {
        if st.read_only {
            return Err("ERR Write commands are not allowed from read-only scripts.".into());
        }
        if let Some(msg) = crate::replication::script_write_refused(st.server, st.client.master) {
            return Err(msg.into());
        }
        st.server.scripts.wrote.store(true, Ordering::Release);
    }
    Ok(())
}

/// Give the library load that starts on this thread `ms` milliseconds (None: the load
/// ended), as Redis's 500 ms load timeout.
pub(crate) fn set_load_deadline(ms: Option<u64>) {
    let at = ms.map_or(0, |ms| crate::util::mono_ns() / 1_000_000 + ms);
    LOAD_DEADLINE_MS.with(|d| d.set(at));
}

/// `redis.setresp`: set the running script's protocol.
pub fn set_script_resp(v: u8) {
    SCRIPT_RESP.with(|r| r.set(v));
}

/// Build `{err=...}` as `redis.error_reply` does.
pub fn error_reply_table(lua: &Lua, text: &[u8]) -> mlua::Result<Value> {
    let with_dash = if text.starts_with(b"-") {
        text.to_vec()
    } else {
        [&b"-"[..], text].concat()
    };
    error_table(lua, &normalize_error(&with_dash))
}

/// Build `{err=...}` for an internal error message (code `ERR` added).
pub fn plain_error_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    error_table(lua, &normalize_error(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm() -> Vm {
        Vm::new(0, 0, Arc::new(AtomicBool::new(false))).expect("vm")
    }

    /// Run `body` (compiled as an EVAL script) with `keys` through `call_script`.
    fn run(
        vm: &mut Vm,
        body: &[u8],
        keys: &[&[u8]],
    ) -> (mlua::Result<()>, Vec<u8>, Option<String>) {
        // The body names itself in the compiled-script cache.
        let sha = String::from_utf8_lossy(body).into_owned();
        let (f, _) = vm.function(&sha, body).expect("compile");
        let script = Script {
            sha: &sha,
            body: Some(body),
            keys,
            args: &[],
            read_only: false,
        };
        let mut out = ReplyWriter {
            buf: Vec::new(),
            resp3: false,
        };
        let mut failure = None;
        let refs = [vm.xpcall_ref, f, vm.handler_ref];
        let r = call_script(vm.raw, &vm.lua, &script, refs, &mut out, &mut failure);
        (r, out.buf, failure)
    }

    fn main_stack_top(vm: &Vm) -> c_int {
        // SAFETY: reads the top of the VM's main state on its own thread.
        unsafe { mlua::ffi::lua_gettop(vm.raw.state) }
    }

    #[test]
    fn a_script_runs_through_the_raw_protected_call() {
        let mut vm = vm();
        let (r, out, failure) = run(&mut vm, b"return KEYS[1]", &[b"k"]);
        assert!(r.is_ok());
        assert_eq!(out, b"$1\r\nk\r\n");
        assert!(failure.is_none());
        let (r, _, failure) = run(&mut vm, b"error('boom')", &[]);
        assert!(r.is_ok());
        let text = failure.expect("failure");
        assert!(text.contains("boom"), "{text}");
        assert_eq!(main_stack_top(&vm), 0);
    }

    #[test]
    fn a_memory_error_outside_the_script_is_reported_and_the_stack_restored() {
        let mut vm = vm();
        let keys: Vec<Vec<u8>> = (0..2000).map(|i| format!("key:{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
        // Compile first, then leave almost no room: building KEYS fails inside the runner.
        let _ = vm.function("return 1", b"return 1").expect("compile");
        vm.lua
            .set_memory_limit(vm.lua.used_memory() + 1024)
            .expect("limit");
        let (r, _, _) = run(&mut vm, b"return 1", &refs);
        assert!(matches!(r, Err(mlua::Error::MemoryError(_))), "{r:?}");
        assert_eq!(main_stack_top(&vm), 0);
        vm.lua.set_memory_limit(VM_MEMORY_LIMIT).expect("limit");
        let (r, out, _) = run(&mut vm, b"return 1", &refs);
        assert!(r.is_ok());
        assert_eq!(out, b":1\r\n");
    }
}
