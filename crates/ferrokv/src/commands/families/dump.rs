//! DUMP and RESTORE: a key's value as Redis's serialized payload (RDB encoding, RDB
//! version, CRC-64), interoperable with redis-server 7.0 both ways. The format lives in
//! `persistence::rdb`; this file follows Redis's `cluster.c` (`dumpCommand`,
//! `restoreCommand`) for argument checks, error order and replies. MIGRATE is DUMP, a
//! RESTORE sent to another server, and DEL, as Redis's `migrateCommand`.

use crate::commands::{acl, arg_i64, class, flags, CmdError, CmdResult, Command, Ctx};
use crate::persistence::rdb::{
    dump_payload_with, parse_dump_payload, EncodeOptions, Limits, RdbError,
};
use crate::storage::Entry;
use crate::util::eq_ic;

/// The DUMP/RESTORE family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("dump", 2, flags::READONLY, dump)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
    Command::new("restore", -4, flags::WRITE | flags::DENYOOM, restore)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE | acl::DANGEROUS),
    Command::new("migrate", -6, flags::WRITE, migrate)
        .keys(3, 3, 1)
        .keys_fn(migrate_keys)
        .acl(acl::KEYSPACE | acl::DANGEROUS),
];

/// How DUMP serializes under the current configuration.
fn encode_options(ctx: &Ctx) -> EncodeOptions {
    EncodeOptions {
        compression: ctx.server.config.get("rdbcompression") == "yes",
        list_max_listpack_size: ctx.server.config.list_max_listpack_size(),
    }
}

/// DUMP key: the serialized value, or nil.
fn dump(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let opts = encode_options(ctx);
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    match db.read(args[1])? {
        Some(v) => {
            stats.hit(true);
            out.bulk(&dump_payload_with(v, &opts));
        }
        None => {
            stats.hit(false);
            out.null();
        }
    }
    Ok(())
}

/// RESTORE's options.
#[derive(Default)]
struct RestoreOpts {
    replace: bool,
    absttl: bool,
    idle: Option<u64>,
    freq: Option<u8>,
}

/// Parse the options after the payload in Redis's order: IDLETIME and FREQ exclude each
/// other (the second one is a syntax error), each value is checked as it comes.
fn parse_restore_opts(args: &[&[u8]]) -> Result<RestoreOpts, CmdError> {
    let mut o = RestoreOpts::default();
    let mut j = 4;
    while let Some(&a) = args.get(j) {
        let value = args.get(j + 1).copied();
        if eq_ic(a, "replace") {
            o.replace = true;
        } else if eq_ic(a, "absttl") {
            o.absttl = true;
        } else if let (true, Some(v), None) = (eq_ic(a, "idletime"), value, o.freq) {
            let idle = arg_i64(v)?;
            if idle < 0 {
                return Err(CmdError::Static("ERR Invalid IDLETIME value, must be >= 0"));
            }
            o.idle = Some(idle as u64);
            j += 1;
        } else if let (true, Some(v), None) = (eq_ic(a, "freq"), value, o.idle) {
            let freq = arg_i64(v)?;
            let freq = u8::try_from(freq)
                .map_err(|_| CmdError::Static("ERR Invalid FREQ value, must be >= 0 and <= 255"))?;
            o.freq = Some(freq);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency].
fn restore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let o = parse_restore_opts(args)?;
    let key = args[1];
    let now = ctx.now;
    let limits = Limits::from_config(&ctx.server.config);
    let mut db = ctx.db();
    if !o.replace && db.exists(key)? {
        return Err(CmdError::Static("BUSYKEY Target key name already exists."));
    }
    let ttl = arg_i64(args[2])?;
    if ttl < 0 {
        return Err(CmdError::Static("ERR Invalid TTL value, must be >= 0"));
    }
    let value = parse_dump_payload(args[3], &limits).map_err(|e| match e {
        RdbError::PayloadFooter => {
            CmdError::Static("ERR DUMP payload version or checksum are wrong")
        }
        _ => CmdError::Static("ERR Bad data format"),
    })?;
    // REPLACE deletes the old key first: the new value is a new object (fresh LRU/LFU).
    let deleted = o.replace && db.exists(key)? && db.shard(key)?.remove(key).is_some();
    // A relative TTL counts from now (wrapping like Redis's signed arithmetic would).
    let at = if ttl != 0 && !o.absttl {
        ttl.wrapping_add(now as i64)
    } else {
        ttl
    };
    if at != 0 && at <= now as i64 {
        // Already expired: the key is not created (and the replaced one stays deleted).
        if deleted {
            db.modified(key)?;
            db.log_as(&[b"DEL", key]);
            db.notify(class::GENERIC, "del", key);
        }
        ctx.out.ok();
        return Ok(());
    }
    if ttl != 0 && !o.absttl {
        // The log gets the absolute deadline, so a reload does not restart the TTL.
        let mut logged: Vec<&[u8]> = args.to_vec();
        let at_text = at.to_string();
        logged[2] = at_text.as_bytes();
        logged.push(b"ABSTTL");
        db.log_as(&logged);
    }
    db.set_entry(
        key,
        Entry {
            value,
            expire_at: at as u64,
        },
    )?;
    db.shard(key)?.map.restore_access(key, o.idle, o.freq);
    db.notify(class::GENERIC, "restore", key);
    ctx.out.ok();
    Ok(())
}

/// MIGRATE's options after the timeout.
#[derive(Default)]
struct MigrateOpts<'a> {
    copy: bool,
    replace: bool,
    /// AUTH password (username None) or AUTH2 username password.
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    /// Where the keys start: 3 (the single key) or after KEYS.
    first_key: usize,
}

/// Parse MIGRATE's options in Redis's order: the first unknown word is a syntax error,
/// and KEYS ends the options (every later argument is a key).
fn parse_migrate_opts<'a>(args: &[&'a [u8]]) -> Result<MigrateOpts<'a>, CmdError> {
    let mut o = MigrateOpts {
        first_key: 3,
        ..MigrateOpts::default()
    };
    let mut i = 6;
    while let Some(word) = args.get(i) {
        let more = args.len() - 1 - i;
        if eq_ic(word, "copy") {
            o.copy = true;
        } else if eq_ic(word, "replace") {
            o.replace = true;
        } else if eq_ic(word, "auth") {
            let password = args.get(i + 1).ok_or(CmdError::Syntax)?;
            o.auth = Some((None, password));
            i += 1;
        } else if eq_ic(word, "auth2") {
            if more < 2 {
                return Err(CmdError::Syntax);
            }
            o.auth = Some((Some(args[i + 1]), args[i + 2]));
            i += 2;
        } else if eq_ic(word, "keys") {
            if !args[3].is_empty() {
                return Err(CmdError::Static(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            o.first_key = i + 1;
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

/// MIGRATE's key positions (Redis's `migrateGetKeys`): the key argument, or every
/// argument after KEYS; the options before KEYS are skipped with their values.
fn migrate_keys(args: &[&[u8]]) -> Vec<usize> {
    let mut i = 6;
    while let Some(word) = args.get(i) {
        if eq_ic(word, "keys") {
            if args.get(3).is_some_and(|k| !k.is_empty()) {
                return Vec::new();
            }
            return (i + 1..args.len()).collect();
        }
        if eq_ic(word, "auth") {
            i += 1;
        } else if eq_ic(word, "auth2") {
            i += 2;
        }
        i += 1;
    }
    vec![3]
}

/// A key to migrate: its name, the remaining TTL in ms (0: none) and its DUMP payload.
struct Outgoing<'a> {
    key: &'a [u8],
    ttl: i64,
    payload: Vec<u8>,
}

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password |
/// AUTH2 username password] [KEYS key ...]: send the keys that exist as RESTOREs (after
/// AUTH and SELECT) over one connection, then delete those the target acknowledged
/// (unless COPY), logged as one DEL. The keys' shards stay locked for the whole exchange,
/// so nobody sees a key on both servers or on neither.
fn migrate(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let o = parse_migrate_opts(args)?;
    let timeout = arg_i64(args[5])?;
    let dbid = arg_i64(args[4])?;
    let timeout =
        std::time::Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    let opts = encode_options(ctx);
    let now = ctx.now as i64;
    let mut db = ctx.db();
    let mut outgoing = Vec::new();
    let keys = if o.first_key == 3 {
        args.get(3..4)
    } else {
        args.get(o.first_key..)
    };
    for key in keys.unwrap_or_default() {
        let Some(entry) = db.get(key)? else { continue };
        let Some(value) = entry.value() else { continue };
        let at = entry.expire_at();
        let ttl = if at == 0 { 0 } else { (at as i64 - now).max(1) };
        outgoing.push(Outgoing {
            key,
            ttl,
            payload: dump_payload_with(value, &opts),
        });
    }
    if outgoing.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    let host = String::from_utf8_lossy(args[1]);
    // Redis reads the port with atoi and connects without waiting: a refused connection
    // shows only when the request is written.
    let Ok(port) = u16::try_from(leading_int(args[2])) else {
        return Err(CmdError::Static(
            "IOERR error or timeout connecting to the client",
        ));
    };
    let mut target = match migrate_target::Target::connect(&host, port, timeout) {
        Ok(target) => target,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(CmdError::Static(
                "IOERR error or timeout writing to target instance",
            ))
        }
        Err(_) => {
            return Err(CmdError::Static(
                "IOERR error or timeout connecting to the client",
            ))
        }
    };
    let request = migrate_request(&o, dbid, &outgoing);
    if target.send(&request).is_err() {
        return Err(CmdError::Static(
            "IOERR error or timeout writing to target instance",
        ));
    }
    // AUTH and SELECT replies first; an error there is reported as the target's error.
    let mut early_error = None;
    let expected = usize::from(o.auth.is_some()) + 1;
    for _ in 0..expected {
        match target.read_line() {
            Ok(line) if line.starts_with(b"-") && early_error.is_none() => early_error = Some(line),
            Ok(_) => {}
            Err(_) => {
                return Err(CmdError::Static(
                    "IOERR error or timeout reading to target instance",
                ))
            }
        }
    }
    let mut target_error = early_error;
    let mut socket_error = false;
    let mut moved: Vec<&[u8]> = Vec::new();
    for item in &outgoing {
        let line = match target.read_line() {
            Ok(line) => line,
            Err(_) => {
                socket_error = true;
                break;
            }
        };
        if target_error.is_some() || line.starts_with(b"-") {
            target_error.get_or_insert(line);
        } else if !o.copy {
            if db.delete(item.key)? {
                db.notify(class::GENERIC, "del", item.key);
            }
            moved.push(item.key);
        }
    }
    if !moved.is_empty() {
        let mut logged: Vec<&[u8]> = vec![b"DEL"];
        logged.extend(moved);
        db.log_as(&logged);
    }
    if let Some(line) = target_error {
        let text = line.strip_prefix(b"-").unwrap_or(&line);
        return Err(CmdError::msg(format!(
            "ERR Target instance replied with error: {}",
            String::from_utf8_lossy(text)
        )));
    }
    if socket_error {
        return Err(CmdError::Static(
            "IOERR error or timeout reading to target instance",
        ));
    }
    ctx.out.ok();
    Ok(())
}

/// C's `atoi`: optional sign and leading digits, 0 when there are none.
fn leading_int(arg: &[u8]) -> i64 {
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    let n = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if neg {
        -n
    } else {
        n
    }
}

/// The commands MIGRATE sends: [AUTH], SELECT, then one RESTORE per key.
fn migrate_request(o: &MigrateOpts, dbid: i64, outgoing: &[Outgoing]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |argv: &[&[u8]]| {
        out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
        for a in argv {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    };
    match o.auth {
        Some((Some(user), password)) => push(&[b"AUTH", user, password]),
        Some((None, password)) => push(&[b"AUTH", password]),
        None => {}
    }
    push(&[b"SELECT", dbid.to_string().as_bytes()]);
    for item in outgoing {
        let ttl = item.ttl.to_string();
        let mut argv: Vec<&[u8]> = vec![b"RESTORE", item.key, ttl.as_bytes(), &item.payload];
        if o.replace {
            argv.push(b"REPLACE");
        }
        push(&argv);
    }
    out
}

/// MIGRATE's side of the connection to the target server: blocking I/O with the
/// command's timeout on every read and write, as Redis's `syncWrite`/`syncReadLine`.
mod migrate_target {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;

    /// An open connection to the target.
    pub struct Target {
        reader: BufReader<TcpStream>,
    }

    impl Target {
        /// Connect to `host:port`, trying each address it resolves to.
        pub fn connect(host: &str, port: u16, timeout: Duration) -> std::io::Result<Target> {
            let mut last = std::io::Error::other("no address");
            for addr in (host, port).to_socket_addrs()? {
                match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(stream) => {
                        stream.set_read_timeout(Some(timeout))?;
                        stream.set_write_timeout(Some(timeout))?;
                        stream.set_nodelay(true)?;
                        return Ok(Target {
                            reader: BufReader::new(stream),
                        });
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        }

        /// Write all of `bytes`.
        pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.reader.get_mut().write_all(bytes)
        }

        /// One reply line without its CRLF (MIGRATE only reads status and error replies).
        pub fn read_line(&mut self) -> std::io::Result<Vec<u8>> {
            let mut line = Vec::new();
            let n = self.reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            Ok(line)
        }
    }
}
