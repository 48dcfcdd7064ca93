//! The keyspace: numbered databases, each a fixed array of shards keyed by cluster slot,
//! each shard behind its own lock. See docs/architecture.md.

pub mod alloc;
pub mod db;
pub mod expiry;
pub mod glob;
pub mod hash;
pub mod hll;
pub mod index;
pub mod key;
pub mod list;
pub mod set;
pub mod shard;
pub mod slab;
pub mod slot;
pub mod snapshot;
pub mod stream;
pub mod table;
pub mod value;
pub mod zset;

pub use db::{Db, DbView, LockSet, SHARDS};
pub use list::{ListRef, ListValue};
pub use set::SetValue;
pub use shard::{Entry, Shard, WatchFlag, Watcher};
pub use table::{
    EntryMut, EntryRef, KeyTable, ListEdit, ListMut, PackedList, StrMut, ValueMut, ZSetEdit,
    ZSetMut,
};
pub use value::{HashValue, StrBuf, StrRef, StrValue, Value, ValueRef};
pub use zset::{ZSetRef, ZSetValue};
