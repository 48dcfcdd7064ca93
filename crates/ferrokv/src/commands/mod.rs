//! Commands: the table (gathered from one file per family), lookup, and dispatch.
//!
//! The data path: the connection hands each parsed argument vector to [`dispatch::execute`],
//! which resolves the entry in the table (arity and unknown-command errors), checks AUTH and
//! MULTI queueing, locks the shards of the command's keys, runs the handler with a [`Ctx`],
//! and records statistics (INFO commandstats, SLOWLOG, LATENCY, MONITOR).

pub mod acl_check;
mod args;
pub mod dispatch;
mod error;
pub mod families;
pub mod meta;
pub mod shared;
pub mod table;
pub mod unblock;

use std::sync::OnceLock;

pub use args::{arg, arg_f64, arg_i64, arg_in_range};
pub use error::{CmdError, CmdResult};
pub use table::{acl, flags, Command, Handler, LockScope};

pub use crate::server::notify::class;
use crate::server::{Client, Server};
use crate::storage::{DbView, LockSet};
use resp::ReplyWriter;

/// The flattened table: every command and subcommand with a numeric id (for statistics).
pub struct Registry {
    /// (full name like `config|get`, entry), indexed by id.
    pub entries: Vec<(String, &'static Command)>,
    /// Top-level commands in table order.
    pub top: Vec<&'static Command>,
    by_name: hashbrown::HashMap<Box<[u8]>, usize>,
    /// Top-level names of up to 15 bytes packed into an integer ([`pack_name`]): the
    /// lookup every request makes hashes two words instead of a byte slice.
    by_packed: PackedIndex,
}

/// An open-addressing table from packed names to (id, entry): one multiply to hash, one
/// or two probes (it is at most a quarter full), no indirection through `entries`. Built
/// once with the registry; an empty slot has name 0, which no packed name is (its length
/// byte is at least 1).
struct PackedIndex {
    slots: Vec<(u128, usize, Option<&'static Command>)>,
    /// 64 minus log2 of the slot count: the hash is the top bits of a product.
    shift: u32,
}

impl PackedIndex {
    /// An index with room for `n` names at a load of at most 1/4.
    fn with_capacity(n: usize) -> Self {
        let size = (n.max(1) * 4).next_power_of_two();
        PackedIndex {
            slots: vec![(0, 0, None); size],
            shift: 64 - size.trailing_zeros(),
        }
    }

    #[inline]
    fn home(&self, packed: u128) -> usize {
        let folded = (packed as u64) ^ ((packed >> 64) as u64);
        (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    fn insert(&mut self, packed: u128, id: usize, cmd: &'static Command) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(packed);
        while let Some(slot) = self.slots.get_mut(i) {
            if slot.0 == 0 || slot.0 == packed {
                *slot = (packed, id, Some(cmd));
                return;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn get(&self, packed: u128) -> Option<(usize, &'static Command)> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(packed);
        loop {
            let slot = self.slots.get(i)?;
            if slot.0 == packed {
                return slot.2.map(|c| (slot.1, c));
            }
            if slot.0 == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

/// A command name of up to 15 bytes, lowercased, and its length as one integer (None if
/// longer). The length in the top byte keeps `get` apart from `get\0`.
fn pack_name(name: &[u8]) -> Option<u128> {
    if name.len() > 15 {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes.get_mut(..name.len())?.copy_from_slice(name);
    bytes[15] = name.len() as u8;
    Some(ascii_lowercase_bytes(u128::from_le_bytes(bytes)))
}

/// `to_ascii_lowercase` of each of 16 bytes at once (SWAR: no per-byte loop, no variable
/// shifts of a 128-bit integer). Bytes of 0x80 and above are left alone.
fn ascii_lowercase_bytes(x: u128) -> u128 {
    const EACH: u128 = u128::MAX / 0xFF; // 0x0101...01
    let high = x & (EACH * 0x80);
    let low7 = x & (EACH * 0x7F);
    // Per byte, no carry out (at most 0x7F + 0x3F): the top bit says "at least b'A'",
    // and in the second sum "above b'Z'".
    let at_least_a = low7 + EACH * (0x80 - u128::from(b'A'));
    let above_z = low7 + EACH * (0x80 - u128::from(b'Z') - 1);
    let upper = at_least_a & !above_z & !high & (EACH * 0x80);
    x | (upper >> 2)
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// The command registry (built on first use).
pub fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| {
        let mut r = Registry {
            entries: Vec::new(),
            top: Vec::new(),
            by_name: hashbrown::HashMap::new(),
            by_packed: PackedIndex::with_capacity(families::tables().iter().map(|f| f.len()).sum()),
        };
        for family in families::tables() {
            for cmd in family {
                r.top.push(cmd);
                r.by_name
                    .insert(cmd.name.as_bytes().into(), r.entries.len());
                if let Some(packed) = pack_name(cmd.name.as_bytes()) {
                    r.by_packed.insert(packed, r.entries.len(), cmd);
                }
                r.entries.push((cmd.name.to_string(), cmd));
                for sub in cmd.subcommands {
                    let full = format!("{}|{}", cmd.name, sub.name);
                    r.by_name.insert(full.as_bytes().into(), r.entries.len());
                    r.entries.push((full, sub));
                }
            }
        }
        r
    })
}

impl Registry {
    /// Look up a top-level command by name, case-insensitively.
    pub fn lookup(&self, name: &[u8]) -> Option<(usize, &'static Command)> {
        if let Some(packed) = pack_name(name) {
            return self.by_packed.get(packed);
        }
        let mut buf = [0u8; 32];
        let lowered = buf.get_mut(..name.len())?;
        for (d, s) in lowered.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        // Only top-level names: `config|get` typed as a command name is unknown, as in Redis.
        if lowered.contains(&b'|') {
            return None;
        }
        let id = *self.by_name.get(&*lowered)?;
        self.entries.get(id).map(|(_, c)| (id, *c))
    }

    /// Look up `parent|sub`, case-insensitively.
    pub fn lookup_sub(&self, parent: &str, sub: &[u8]) -> Option<(usize, &'static Command)> {
        let full = format!("{}|{}", parent, crate::util::lower(sub));
        let id = *self.by_name.get(full.as_bytes())?;
        self.entries.get(id).map(|(_, c)| (id, *c))
    }

    /// The full name (`get`, `config|get`) of an id.
    pub fn full_name(&self, id: usize) -> &str {
        self.entries.get(id).map(|(n, _)| n.as_str()).unwrap_or("")
    }

    /// Whether command `id`'s key lookups count as accesses (OBJECT IDLETIME/FREQ). Redis
    /// looks keys up with LOOKUP_NOTOUCH in EXISTS, TYPE, the TTL family, OBJECT, MEMORY
    /// USAGE and DEBUG.
    pub fn touches_keys(&self, id: usize) -> bool {
        const NO_TOUCH: &[&str] = &[
            "exists",
            "type",
            "ttl",
            "pttl",
            "expiretime",
            "pexpiretime",
            "memory|usage",
            "debug",
        ];
        let name = self.full_name(id);
        !(name.starts_with("object") || NO_TOUCH.contains(&name))
    }

    /// Number of ids (commands and subcommands).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What a handler works with.
pub struct Ctx<'c, 's> {
    /// The server (config, databases, statistics, clients).
    pub server: &'s Server,
    /// The calling client's connection state.
    pub client: &'c mut Client,
    /// Where replies go.
    pub out: &'c mut ReplyWriter,
    /// The shard locks taken for this command (or for the whole EXEC).
    pub locks: &'c mut LockSet<'s>,
    /// The command's clock (Unix ms): every expiry check of one command uses the same time.
    pub now: u64,
    /// Full name of the running command (for error texts).
    pub name: &'static str,
    /// Whether key lookups count as accesses (see [`Registry::touches_keys`]).
    pub touch: bool,
}

impl<'c, 's> Ctx<'c, 's> {
    /// The client's selected database.
    pub fn db(&mut self) -> DbView<'_, 's> {
        let db = self.client.db;
        self.db_at(db)
    }

    /// The selected database and the reply writer at once (a handler that reads a value and
    /// replies with it needs both borrows).
    pub fn db_out(&mut self) -> (DbView<'_, 's>, &mut ReplyWriter) {
        let touch = self.touch;
        let db = DbView {
            locks: &mut *self.locks,
            db: self.client.db,
            now: self.now,
            stats: &self.server.stats,
            touch,
        };
        (db, &mut *self.out)
    }

    /// Log `cmd` in the append-only file instead of this command's own arguments (see
    /// [`DbView::log_as`]).
    pub fn log_as(&mut self, cmd: &[&[u8]]) {
        let db = self.client.db;
        self.locks
            .propagate_as(db, cmd.iter().map(|a| a.to_vec()).collect());
    }

    /// Record keyspace event `event` of `class` on `key` of the selected database (see
    /// `server::notify`).
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        let db = self.client.db;
        self.locks.notify(db, class, event, key);
    }

    /// Another database (MOVE, COPY ... DB, SWAPDB); its shards must be locked.
    pub fn db_at(&mut self, db: usize) -> DbView<'_, 's> {
        let touch = self.touch;
        DbView {
            locks: &mut *self.locks,
            db,
            now: self.now,
            stats: &self.server.stats,
            touch,
        }
    }
}

#[cfg(test)]
mod lookup_tests {
    use super::*;

    #[test]
    fn packed_lowercase_matches_byte_by_byte() {
        for b in 0..=255u8 {
            for pos in 0..15 {
                let mut name = vec![b'x'; 15];
                name[pos] = b;
                let want: Vec<u8> = name.iter().map(|c| c.to_ascii_lowercase()).collect();
                let mut bytes = [0u8; 16];
                bytes[..15].copy_from_slice(&want);
                bytes[15] = 15;
                assert_eq!(
                    pack_name(&name),
                    Some(u128::from_le_bytes(bytes)),
                    "{} at {}",
                    b,
                    pos
                );
            }
        }
        assert_eq!(pack_name(&[b'a'; 16]), None);
        assert_ne!(pack_name(b"get"), pack_name(b"get\0"));
    }

    #[test]
    fn every_command_is_found_in_any_case_and_nothing_else_is() {
        let reg = registry();
        for cmd in &reg.top {
            let upper = cmd.name.to_ascii_uppercase();
            let (id, found) = reg.lookup(upper.as_bytes()).expect(cmd.name);
            assert_eq!(found.name, cmd.name);
            assert_eq!(reg.full_name(id), cmd.name);
        }
        assert!(reg.lookup(b"get\0").is_none());
        assert!(reg.lookup(b"\0get").is_none());
        assert!(reg.lookup(b"ge").is_none());
        assert!(reg.lookup(b"config|get").is_none());
        assert!(reg.lookup(b"").is_none());
        assert!(reg.lookup(&[b'x'; 40]).is_none());
    }
}
