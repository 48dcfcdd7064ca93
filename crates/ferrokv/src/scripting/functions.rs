//! Redis 7.0 Functions: the library registry (FUNCTION LOAD ... FCALL) and the parts of
//! each VM that load libraries (`redis.register_function`) and call their functions.
//!
//! Libraries are kept server-wide as their source (`#!lua name=...` and the code); each VM
//! runs a library's code on first use (or when the library was replaced) and keeps the
//! callbacks it registered, the way compiled EVAL scripts are cached by SHA1.

use std::cell::RefCell;
use std::collections::BTreeMap;

// foldhash, not SipHash: these maps are looked up on every function call.
use hashbrown::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mlua::{Function, Lua, MultiValue, Table, Value};
use parking_lot::Mutex;

use super::engine::{error_text, script_flags, with_vm, Vm};
use super::raise;
use crate::server::Server;

/// The error for invalid library and function names (Redis 7.0 uses the library text for
/// both).
const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) \
                        and must be at least one character long";

/// How long a library's load-time code may run (Redis's LOAD_TIMEOUT_MS).
const LOAD_TIMEOUT_MS: u64 = 500;

/// One function of a library.
#[derive(Clone, Debug)]
pub struct FunctionInfo {
    /// Its name.
    pub name: String,
    /// `script_flags` bits.
    pub flags: u32,
    /// The `description` given to `register_function`, if any.
    pub description: Option<Vec<u8>>,
}

/// A loaded library.
#[derive(Debug)]
pub struct Library {
    /// Its name (`#!lua name=...`).
    pub name: String,
    /// The payload as given to FUNCTION LOAD (shebang included).
    pub code: Arc<[u8]>,
    /// Where the Lua code starts in `code` (the shebang's line feed, kept for line numbers).
    body_start: usize,
    /// Unique per load: a VM recompiles a library whose id it has not seen.
    id: u64,
    /// Its functions, in registration order.
    pub functions: Vec<FunctionInfo>,
}

impl Library {
    /// The Lua code (the payload without the shebang, its line feed kept).
    fn body(&self) -> &[u8] {
        self.code.get(self.body_start..).unwrap_or_default()
    }
}

#[derive(Default)]
struct Registry {
    libraries: BTreeMap<String, Arc<Library>>,
    /// Function name -> library name.
    functions: HashMap<String, String>,
}

/// The server's libraries.
#[derive(Default)]
pub struct Functions {
    registry: Mutex<Registry>,
    next_id: AtomicU64,
}

impl Functions {
    /// The library and description of function `name`.
    pub fn find(&self, name: &[u8]) -> Option<(Arc<Library>, FunctionInfo)> {
        // Function names are case-insensitive, as Redis's functions dictionary.
        let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        let reg = self.registry.lock();
        let lib = reg.libraries.get(reg.functions.get(&name)?)?;
        let info = lib
            .functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(&name))?
            .clone();
        Some((lib.clone(), info))
    }

    /// Every library, by name.
    pub fn libraries(&self) -> Vec<Arc<Library>> {
        self.registry.lock().libraries.values().cloned().collect()
    }

    /// Forget every library (FUNCTION FLUSH).
    pub fn flush(&self) {
        let mut reg = self.registry.lock();
        reg.libraries.clear();
        reg.functions.clear();
    }

    /// Remove library `name`; false when there is none.
    pub fn delete(&self, name: &[u8]) -> bool {
        let Ok(name) = std::str::from_utf8(name) else {
            return false;
        };
        let mut reg = self.registry.lock();
        let Some(lib) = reg.libraries.remove(name) else {
            return false;
        };
        for f in &lib.functions {
            reg.functions.remove(&f.name.to_ascii_lowercase());
        }
        true
    }

    /// Number of libraries and of functions.
    pub fn counts(&self) -> (usize, usize) {
        let reg = self.registry.lock();
        (reg.libraries.len(), reg.functions.len())
    }

    /// Total size of the libraries' code (INFO used_memory_functions).
    pub fn code_bytes(&self) -> usize {
        self.registry
            .lock()
            .libraries
            .values()
            .map(|l| l.code.len())
            .sum()
    }

    /// Install `lib`, replacing the library of the same name when `replace`. Errors are
    /// Redis's texts.
    fn install(&self, lib: Library, replace: bool) -> Result<(), String> {
        let mut reg = self.registry.lock();
        if reg.libraries.contains_key(&lib.name) && !replace {
            return Err(format!("ERR Library '{}' already exists", lib.name));
        }
        for f in &lib.functions {
            if let Some(owner) = reg.functions.get(&f.name.to_ascii_lowercase()) {
                if *owner != lib.name {
                    return Err(format!("ERR Function {} already exists", f.name));
                }
            }
        }
        if let Some(old) = reg.libraries.remove(&lib.name) {
            for f in &old.functions {
                reg.functions.remove(&f.name.to_ascii_lowercase());
            }
        }
        for f in &lib.functions {
            reg.functions
                .insert(f.name.to_ascii_lowercase(), lib.name.clone());
        }
        reg.libraries.insert(lib.name.clone(), Arc::new(lib));
        Ok(())
    }
}

/// How FUNCTION RESTORE treats the libraries already loaded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RestorePolicy {
    /// Keep them; a name collision fails the restore.
    Append,
    /// Restored libraries replace those of the same name.
    Replace,
    /// Drop them all first.
    Flush,
}

impl Functions {
    /// Install restored libraries as Redis's `libraryJoin` (or swap for FLUSH): all or
    /// nothing, under one registry lock.
    fn join(&self, libs: Vec<Library>, policy: RestorePolicy) -> Result<(), String> {
        let mut reg = self.registry.lock();
        if policy == RestorePolicy::Flush {
            reg.libraries.clear();
            reg.functions.clear();
        }
        let mut replaced: Vec<String> = Vec::new();
        for lib in &libs {
            if reg.libraries.contains_key(&lib.name) {
                if policy != RestorePolicy::Replace {
                    return Err(format!("ERR Library {} already exists", lib.name));
                }
                replaced.push(lib.name.clone());
            }
        }
        for lib in &libs {
            for f in &lib.functions {
                let clash = reg
                    .functions
                    .get(&f.name.to_ascii_lowercase())
                    .is_some_and(|owner| !replaced.contains(owner));
                if clash {
                    return Err(format!("ERR Function {} already exists", f.name));
                }
            }
        }
        for name in &replaced {
            if let Some(old) = reg.libraries.remove(name) {
                for f in &old.functions {
                    reg.functions.remove(&f.name.to_ascii_lowercase());
                }
            }
        }
        for lib in libs {
            for f in &lib.functions {
                reg.functions
                    .insert(f.name.to_ascii_lowercase(), lib.name.clone());
            }
            reg.libraries.insert(lib.name.clone(), Arc::new(lib));
        }
        Ok(())
    }
}

/// Compile and run one library's code (Redis's `functionsCreateWithLibraryCtx` without
/// installing it); `others` are libraries already created in the same batch.
fn create(server: &Server, payload: &[u8], others: &[Library]) -> Result<Library, String> {
    let (name, body_start) = parse_metadata(payload)?;
    if others.iter().any(|l| l.name == name) {
        return Err(format!("ERR Library '{}' already exists", name));
    }
    let id = server
        .scripts
        .functions
        .next_id
        .fetch_add(1, Ordering::Relaxed);
    let mut lib = Library {
        name,
        code: payload.into(),
        body_start,
        id,
        functions: Vec::new(),
    };
    let infos = with_vm(server, |vm| vm.load_library(&lib))??;
    if infos.is_empty() {
        return Err("ERR No functions registered".into());
    }
    for f in &infos {
        if others.iter().any(|l| {
            l.functions
                .iter()
                .any(|g| g.name.eq_ignore_ascii_case(&f.name))
        }) {
            return Err(format!("ERR Function {} already exists", f.name));
        }
    }
    lib.functions = infos;
    Ok(lib)
}

/// Load libraries from their codes (FUNCTION RESTORE, RDB and AOF loading) with `policy`.
pub fn restore(server: &Server, codes: &[Vec<u8>], policy: RestorePolicy) -> Result<(), String> {
    let mut libs: Vec<Library> = Vec::with_capacity(codes.len());
    for code in codes {
        let lib = create(server, code, &libs)?;
        libs.push(lib);
    }
    server.scripts.functions.join(libs, policy)
}

/// The codes of every library (FUNCTION DUMP, RDB files, AOF rewrites).
pub fn codes(server: &Server) -> Vec<Arc<[u8]>> {
    server
        .scripts
        .functions
        .libraries()
        .iter()
        .map(|l| l.code.clone())
        .collect()
}

/// True for Redis's valid library and function names: letters, digits and underscores.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The library name of a payload and where its code starts, or Redis's error text.
pub fn parse_metadata(payload: &[u8]) -> Result<(String, usize), String> {
    if !payload.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = payload.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let line = payload.get(..end).unwrap_or_default();
    let parts = match resp::split_inline_args(line) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid library metadata".into()),
    };
    let engine = parts
        .first()
        .and_then(|p| p.get(2..))
        .unwrap_or_default()
        .to_vec();
    let mut name: Option<Vec<u8>> = None;
    for part in parts.iter().skip(1) {
        let is_name = part
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"name="));
        if !is_name {
            return Err(format!(
                "ERR Invalid metadata value given: {}",
                String::from_utf8_lossy(part)
            ));
        }
        if name.is_some() {
            return Err(
                "ERR Invalid metadata value, name argument was given multiple times".into(),
            );
        }
        name = Some(part.get(5..).unwrap_or_default().to_vec());
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err(format!("ERR {}", BAD_NAME));
    }
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!(
            "ERR Engine '{}' not found",
            String::from_utf8_lossy(&engine)
        ));
    }
    Ok((String::from_utf8_lossy(&name).into_owned(), end))
}

/// FUNCTION LOAD: run the library's code, register its functions. Returns its name.
pub fn load(server: &Server, payload: &[u8], replace: bool) -> Result<String, String> {
    let (name, body_start) = parse_metadata(payload)?;
    let functions = &server.scripts.functions;
    if !replace && functions.registry.lock().libraries.contains_key(&name) {
        return Err(format!("ERR Library '{}' already exists", name));
    }
    let id = functions.next_id.fetch_add(1, Ordering::Relaxed);
    let mut lib = Library {
        name,
        code: payload.into(),
        body_start,
        id,
        functions: Vec::new(),
    };
    let infos = with_vm(server, |vm| vm.load_library(&lib))??;
    if infos.is_empty() {
        return Err("ERR No functions registered".into());
    }
    lib.functions = infos;
    let name = lib.name.clone();
    functions.install(lib, replace)?;
    Ok(name)
}

/// A function registered while a library loads.
struct Registered {
    info: FunctionInfo,
    callback: Function,
}

thread_local! {
    /// The functions registered by the library loading on this thread (None: no load).
    static LOADING: RefCell<Option<Vec<Registered>>> = const { RefCell::new(None) };
}

/// The library part of a VM.
pub(crate) struct FunctionVm {
    /// The environment of library code: only `redis.register_function`, `redis.log` and
    /// the version while loading, the scripts' protected globals afterwards (closures keep
    /// their chunk's environment in Lua 5.1, so one table switches, as in Redis).
    env: Table,
    /// Switch `env` to the load-time globals (true) or back.
    set_loading: Function,
    /// `(f, handler, keys, args)` -> `xpcall(function() return f(keys, args) end, handler)`.
    pub(crate) call_wrap: Function,
    /// Callbacks by library name, with the library id they were compiled for.
    compiled: HashMap<String, (u64, HashMap<String, Function>)>,
}

/// Lua set-up of [`FunctionVm`], run with the real globals after the scripts' set-up.
const FUNCTION_PRELUDE: &str = r#"
local R, regfn = ...
local rawget, error, tostring, xpcall, setmetatable = rawget, error, tostring, xpcall, setmetatable
local loading = false
local function deny() error("Attempt to modify a readonly table", 2) end
local redis = rawget(R, "redis")
local api = {
  register_function = regfn, log = redis.log,
  LOG_DEBUG = redis.LOG_DEBUG, LOG_VERBOSE = redis.LOG_VERBOSE,
  LOG_NOTICE = redis.LOG_NOTICE, LOG_WARNING = redis.LOG_WARNING,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}
local load_redis = setmetatable({}, {
  __index = function(_, k)
    local v = rawget(api, k)
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = deny,
})
local E = setmetatable({}, {
  __index = function(_, k)
    local v
    if loading then
      if k == "redis" then v = load_redis end
    else
      v = rawget(R, k)
    end
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = deny,
})
local function set_loading(b) loading = b end
local function call_wrap(f, h, k, a)
  return xpcall(function() return f(k, a) end, h)
end
return E, set_loading, call_wrap
"#;

impl FunctionVm {
    /// Set up the library environment of a VM whose real globals are `globals`.
    pub(crate) fn new(lua: &Lua, globals: &Table) -> mlua::Result<FunctionVm> {
        let regfn = lua.create_function(register_function)?;
        let (env, set_loading, call_wrap): (Table, Function, Function) = lua
            .load(FUNCTION_PRELUDE)
            .set_name(super::engine::PRELUDE_NAME)
            .call((globals.clone(), regfn))?;
        Ok(FunctionVm {
            env,
            set_loading,
            call_wrap,
            compiled: HashMap::new(),
        })
    }
}

impl Vm {
    /// Run a library's code, keep the callbacks it registers, and return their infos.
    fn load_library(&mut self, lib: &Library) -> Result<Vec<FunctionInfo>, String> {
        let f = self
            .lua
            .load(lib.body())
            .set_name("@user_function")
            .set_environment(self.funcs.env.clone())
            .into_function()
            .map_err(|e| {
                let msg = match &e {
                    mlua::Error::SyntaxError { message, .. } => message.clone(),
                    other => error_text(other),
                };
                format!("ERR Error compiling function: {}", msg)
            })?;
        LOADING.with(|l| *l.borrow_mut() = Some(Vec::new()));
        super::engine::set_load_deadline(Some(LOAD_TIMEOUT_MS));
        let outcome = self
            .funcs
            .set_loading
            .call::<()>(true)
            .and_then(|_| f.call::<()>(()));
        super::engine::set_load_deadline(None);
        let _ = self.funcs.set_loading.call::<()>(false);
        let registered = LOADING.with(|l| l.borrow_mut().take()).unwrap_or_default();
        outcome.map_err(|e| {
            let text = error_text(&e);
            // mlua appends a traceback to Lua runtime errors; Redis's text ends before it.
            let text = text.split("\nstack traceback:").next().unwrap_or_default();
            format!("ERR Error registering functions: {}", text)
        })?;
        let infos = registered.iter().map(|r| r.info.clone()).collect();
        let callbacks = registered
            .into_iter()
            .map(|r| (r.info.name, r.callback))
            .collect();
        self.funcs
            .compiled
            .insert(lib.name.clone(), (lib.id, callbacks));
        Ok(infos)
    }

    /// The callback of function `name` of `lib`, loading the library on first use.
    pub(crate) fn library_function(
        &mut self,
        lib: &Library,
        name: &str,
    ) -> Result<Function, String> {
        let current = self
            .funcs
            .compiled
            .get(&lib.name)
            .is_some_and(|(id, _)| *id == lib.id);
        if !current {
            self.load_library(lib)?;
        }
        self.funcs
            .compiled
            .get(&lib.name)
            .and_then(|(_, fs)| fs.get(name))
            .cloned()
            .ok_or_else(|| "ERR Function not found".to_string())
    }
}

/// A Lua string or number as text (`lua_isstring`), else None.
fn lua_text(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => Some(resp::format_double(*n).into_bytes()),
        _ => None,
    }
}

/// `redis.register_function(name, callback)` or `redis.register_function{...}`.
fn register_function(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    let loading = LOADING.with(|l| l.borrow().is_some());
    if !loading {
        return Err(raise(
            "ERR redis.register_function can only be called on FUNCTION LOAD command",
        ));
    }
    let reg = read_register_args(args).map_err(|m| raise(&format!("ERR {}", m)))?;
    if !valid_name(reg.info.name.as_bytes()) {
        return Err(raise(&format!("ERR {}", BAD_NAME)));
    }
    LOADING.with(|l| {
        let mut l = l.borrow_mut();
        let list = l.get_or_insert_with(Vec::new);
        // Case-sensitive here (a library's own dictionary), unlike the server-wide one.
        if list.iter().any(|r| r.info.name == reg.info.name) {
            return Err(raise("ERR Function already exists in the library"));
        }
        list.push(reg);
        Ok(())
    })
}

/// The arguments of `register_function`, with Redis's error texts (without `ERR `).
fn read_register_args(args: MultiValue) -> Result<Registered, &'static str> {
    let args: Vec<Value> = args.into_iter().collect();
    match args.as_slice() {
        [Value::Table(t)] => read_named_args(t),
        [_] => Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."),
        [name, callback] => {
            let name = lua_text(name)
                .ok_or("first argument to redis.register_function must be a string")?;
            let Value::Function(callback) = callback else {
                return Err("second argument to redis.register_function must be a function");
            };
            Ok(Registered {
                info: FunctionInfo {
                    name: String::from_utf8_lossy(&name).into_owned(),
                    flags: 0,
                    description: None,
                },
                callback: callback.clone(),
            })
        }
        _ => Err("wrong number of arguments to redis.register_function"),
    }
}

/// `register_function{function_name=..., callback=..., flags={...}, description=...}`.
fn read_named_args(t: &Table) -> Result<Registered, &'static str> {
    let mut name = None;
    let mut callback = None;
    let mut description = None;
    let mut flags = 0;
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|_| "unknown argument given to redis.register_function")?;
        let key = lua_text(&k)
            .ok_or("named argument key given to redis.register_function is not a string")?;
        match key.to_ascii_lowercase().as_slice() {
            b"function_name" => {
                name = Some(lua_text(&v).ok_or(
                    "function_name argument given to redis.register_function must be a string",
                )?)
            }
            b"description" => {
                description = Some(lua_text(&v).ok_or(
                    "description argument given to redis.register_function must be a string",
                )?)
            }
            b"callback" => match v {
                Value::Function(f) => callback = Some(f),
                _ => {
                    return Err(
                        "callback argument given to redis.register_function must be a function",
                    )
                }
            },
            b"flags" => {
                let Value::Table(list) = v else {
                    return Err("flags argument to redis.register_function must be a table representing function flags");
                };
                flags = read_flags(&list).ok_or("unknown flag given")?;
            }
            _ => return Err("unknown argument given to redis.register_function"),
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let callback = callback.ok_or("redis.register_function must get a callback argument")?;
    Ok(Registered {
        info: FunctionInfo {
            name: String::from_utf8_lossy(&name).into_owned(),
            flags,
            description,
        },
        callback,
    })
}

/// The flags of a `flags` table; None for an unknown one.
fn read_flags(list: &Table) -> Option<u32> {
    let mut flags = 0;
    for pair in list.pairs::<Value, Value>() {
        let (_, v) = pair.ok()?;
        let text = lua_text(&v)?;
        let (_, bit) = script_flags::NAMES
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(&text))?;
        flags |= bit;
    }
    Some(flags)
}
