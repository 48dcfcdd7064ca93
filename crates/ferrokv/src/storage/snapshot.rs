//! Point-in-time snapshots without fork(), for BGSAVE, the AOF rewrite and full syncs.
//!
//! A snapshot starts with every shard locked for a moment (no command is half done), when
//! it takes an epoch number. From then on each shard is written to the snapshot exactly
//! once, in the state it had at that moment, by the background walker. A command that
//! reaches a key of a shard the walker has not written yet first keeps that key's
//! *pre-image* in the shard (copy-on-write per key: the old entry, or "absent" for a key
//! that did not exist), once per key and snapshot; the walker then writes the shard from
//! its current entries with the pre-images in their place ([`ShardImage`]). So the file
//! is one point in time, clients keep running, a command pays for the keys it touches
//! (not for serializing the whole shard), and the extra memory is the pre-images of the
//! keys changed before the walker got to them plus one shard's serialization.
//!
//! Code that takes a shard without naming a key (whole-database commands, serving blocked
//! clients, the expiry cycle) calls [`capture`], which writes the whole shard at once, as
//! the walker would, before anything changes.
//!
//! The check on every access is one relaxed atomic load while no snapshot runs.
//!
//! **The start.** A command reads the epoch once, after it holds all its shard locks, and
//! decides every copy by that value ([`LockSet`](super::db::LockSet) keeps it), so a
//! command is wholly before the snapshot or wholly after it: a command that meets a shard
//! after another command that saw the new epoch took that lock after it and reads the new
//! epoch too, and the walker writes a shard only under its lock. So BGSAVE starts with no
//! barrier over the shards; it only keeps scripts out while the epoch starts (a script may
//! lock shards it did not declare after it read its epoch). The AOF rewrite starts the same
//! way: it cuts the log by epoch instead of at one moment ([`begin_then`] switches the log
//! before the epoch is published, [`walk_and_end_then`] ends the old file's share once the
//! walker has passed every shard, when no command of an older epoch can still be running;
//! see `persistence::aof`). A full sync still locks every shard for a moment: it cuts the
//! replication stream at one point. Code that takes one shard at a time (the expiry cycle,
//! eviction) reads the epoch at that access, which is the same for a single shard.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::Mutex;

use super::shard::{Entry, Shard};
use super::value::ValueRef;

/// Epoch of the running snapshot (0: none). Shards remember the last epoch written.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// The last epoch handed out.
static LAST_EPOCH: AtomicU64 = AtomicU64::new(0);
/// The running snapshot's job.
static JOB: Mutex<Option<Arc<Job>>> = Mutex::new(None);

/// Where a snapshot's shards go (an RDB file, an AOF base file...).
pub trait Sink: Send {
    /// Write one shard of database `db` as it was at the barrier (called once per shard,
    /// in no particular order; never for an empty one).
    fn write_shard(&mut self, db: usize, image: &ShardImage<'_>) -> std::io::Result<()>;
    /// Write out what [`Sink::write_shard`] buffered. The walker calls it after each shard
    /// with no shard locked, so the disk is never waited for under a lock.
    fn drain(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// The concrete sink (to finish the file once the snapshot is complete).
    fn as_any(&mut self) -> &mut dyn std::any::Any;
}

/// A running snapshot.
pub struct Job {
    epoch: u64,
    sink: Mutex<Box<dyn Sink>>,
    /// The first error the sink returned.
    error: Mutex<Option<std::io::Error>>,
    /// Shards written so far.
    pub written: AtomicU64,
}

impl Job {
    /// The first error the sink returned, if any.
    pub fn take_error(&self) -> Option<std::io::Error> {
        self.error.lock().take()
    }

    /// The sink, once the snapshot is finished (to flush and close it).
    pub fn sink(&self) -> parking_lot::MutexGuard<'_, Box<dyn Sink>> {
        self.sink.lock()
    }
}

/// True while a snapshot is running.
pub fn in_progress() -> bool {
    EPOCH.load(Ordering::Acquire) != 0
}

/// Start a snapshot into `sink` (see the module documentation for why commands need no
/// barrier; the caller keeps scripts out meanwhile, or holds every shard). Returns None
/// when another snapshot is running.
pub fn begin(sink: Box<dyn Sink>) -> Option<Arc<Job>> {
    begin_then(sink, &mut |_| {})
}

/// [`begin`], calling `on_start` with the new epoch just before commands can read it (the
/// AOF rewrite switches the log there: a command that reads an older epoch is wholly in
/// the snapshot and logs to the old file, one that reads this one logs to the new file).
pub fn begin_then(sink: Box<dyn Sink>, on_start: &mut dyn FnMut(u64)) -> Option<Arc<Job>> {
    let mut slot = JOB.lock();
    if slot.is_some() {
        return None;
    }
    let epoch = LAST_EPOCH.fetch_add(1, Ordering::AcqRel) + 1;
    let job = Arc::new(Job {
        epoch,
        sink: Mutex::new(sink),
        error: Mutex::new(None),
        written: AtomicU64::new(0),
    });
    *slot = Some(job.clone());
    on_start(epoch);
    EPOCH.store(epoch, Ordering::Release);
    Some(job)
}

/// The running snapshot's epoch (0: none). A command reads it once, after locking.
/// Acquire (a plain load on x86): a command that reads a rewrite's epoch also sees the
/// log switch made just before it was published.
#[inline]
pub fn current_epoch() -> u64 {
    EPOCH.load(Ordering::Acquire)
}

/// [`capture_in`] for code that holds one shard (its epoch read now is its own).
#[inline]
pub fn capture(db: usize, shard: &mut Shard) {
    capture_in(db, shard, current_epoch());
}

/// Write `shard` to snapshot `epoch` (the epoch its command read; 0: none) if it has not
/// been written yet. Called with the shard locked: by the walker, and by code about to
/// change keys it does not name.
#[inline]
pub fn capture_in(db: usize, shard: &mut Shard, epoch: u64) {
    if epoch == 0 || shard.snapshot_epoch >= epoch {
        return;
    }
    capture_slow(db, shard, epoch);
}

#[cold]
fn capture_slow(db: usize, shard: &mut Shard, epoch: u64) {
    let Some(job) = JOB.lock().clone() else {
        return;
    };
    if job.epoch != epoch {
        return;
    }
    shard.snapshot_epoch = epoch;
    let pre = shard.snapshot_pre.take().filter(|p| p.epoch == epoch);
    let image = ShardImage {
        shard: &*shard,
        pre: pre.as_deref(),
    };
    if !image.is_empty() {
        let result = job.sink.lock().write_shard(db, &image);
        if let Err(e) = result {
            job.error.lock().get_or_insert(e);
        }
    }
    job.written.fetch_add(1, Ordering::Relaxed);
    // The pre-images (old values, possibly large) are freed here, under the shard lock;
    // they are only what changed before the walker came.
    drop(pre);
}

/// [`preserve_in`] for code that holds one shard (its epoch read now is its own).
#[inline]
pub fn preserve(shard: &mut Shard, key: &[u8]) {
    preserve_in(shard, key, current_epoch());
}

/// Keep the pre-image of `key` if snapshot `epoch` (the epoch its command read; 0: none)
/// has not written `shard` yet. Called with the shard locked, before `key` is read for a
/// change or changed; cheap when no snapshot runs and after the first call per key.
#[inline]
pub fn preserve_in(shard: &mut Shard, key: &[u8], epoch: u64) {
    if epoch == 0 || shard.snapshot_epoch >= epoch {
        return;
    }
    preserve_slow(shard, key, epoch);
}

#[cold]
fn preserve_slow(shard: &mut Shard, key: &[u8], epoch: u64) {
    // No job lookup needed: an epoch newer than the shard's means the walker has not been
    // here (it marks the shard under this lock), so the snapshot is still running.
    let pre = shard.snapshot_pre.get_or_insert_with(|| {
        Box::new(PreImages {
            epoch,
            keys: HashMap::new(),
        })
    });
    if pre.epoch != epoch {
        // Left from a snapshot that ended without writing this shard (cannot happen while
        // the walker visits every shard; cheap to be sure).
        pre.epoch = epoch;
        pre.keys.clear();
    }
    if pre.keys.contains_key(key) {
        return;
    }
    let old = shard.map.get(key).map(|e| e.to_entry());
    pre.keys.insert(key.into(), old);
}

/// The keys a shard's commands changed before the running snapshot wrote the shard, each
/// with its entry at the barrier (None: the key did not exist then).
#[derive(Debug, Default)]
pub struct PreImages {
    epoch: u64,
    keys: HashMap<Box<[u8]>, Option<Entry>>,
}

impl PreImages {
    /// Number of keys kept (for tests and memory accounting).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key was kept.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A shard as a snapshot sees it: its current entries, with the pre-images of the keys
/// changed since the barrier in their place.
pub struct ShardImage<'a> {
    shard: &'a Shard,
    pre: Option<&'a PreImages>,
}

impl<'a> ShardImage<'a> {
    /// The shard as it is now (SAVE, which holds every lock; writing a loaded dataset).
    pub fn current(shard: &'a Shard) -> ShardImage<'a> {
        ShardImage { shard, pre: None }
    }

    /// The pre-images, when some key changed.
    fn changed(&self) -> Option<&'a HashMap<Box<[u8]>, Option<Entry>>> {
        self.pre.map(|p| &p.keys).filter(|k| !k.is_empty())
    }

    /// Number of keys in the image.
    pub fn len(&self) -> usize {
        let mut len = self.shard.map.len();
        for (key, old) in self.changed().into_iter().flatten() {
            match (self.shard.map.contains_key(key), old.is_some()) {
                (true, false) => len -= 1,
                (false, true) => len += 1,
                _ => {}
            }
        }
        len
    }

    /// True when the image has no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys with a deadline in the image.
    pub fn volatile(&self) -> usize {
        let mut volatile = self.shard.volatile;
        for (key, old) in self.changed().into_iter().flatten() {
            if self.shard.map.get(key).is_some_and(|e| e.expire_at() != 0) {
                volatile -= 1;
            }
            if old.as_ref().is_some_and(|e| e.expire_at != 0) {
                volatile += 1;
            }
        }
        volatile
    }

    /// Call `f` with each key of the image, its value and deadline (0: none), in no
    /// particular order; stops at the first error.
    pub fn for_each<E>(
        &self,
        mut f: impl FnMut(&[u8], ValueRef<'_>, u64) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(changed) = self.changed() else {
            for (key, e) in self.shard.map.iter() {
                f(key, e.value(), e.expire_at())?;
            }
            return Ok(());
        };
        for (key, e) in self.shard.map.iter() {
            match changed.get(key) {
                None => f(key, e.value(), e.expire_at())?,
                Some(Some(old)) => f(key, old.value.as_value_ref(), old.expire_at)?,
                // Created after the barrier.
                Some(None) => {}
            }
        }
        for (key, old) in changed {
            if let Some(old) = old {
                if !self.shard.map.contains_key(key) {
                    // Deleted after the barrier.
                    f(key, old.value.as_value_ref(), old.expire_at)?;
                }
            }
        }
        Ok(())
    }
}

/// Walk every shard (taking each lock in turn) so the untouched ones are written too, then
/// end the snapshot. Returns the job for the caller to finish the file.
pub fn walk_and_end(dbs: &[super::Db], job: &Arc<Job>) {
    walk_and_end_paced(dbs, job, &mut || {}, &mut || {});
}

/// [`walk_and_end`], calling `before_end` once every shard is written and before the
/// epoch ends: by then every command that read an older epoch has finished (it held its
/// shards until done, and the walker took each after it), and no command has read 0 yet.
pub fn walk_and_end_then(dbs: &[super::Db], job: &Arc<Job>, before_end: &mut dyn FnMut()) {
    walk_and_end_paced(dbs, job, &mut || {}, before_end);
}

/// [`walk_and_end`], calling `pace` after each shard with no lock held (a sink that
/// streams to a slow reader waits there, so its buffer stays bounded; commands that
/// capture shards themselves never wait), and `before_end` as [`walk_and_end_then`] does.
pub fn walk_and_end_paced(
    dbs: &[super::Db],
    job: &Arc<Job>,
    pace: &mut dyn FnMut(),
    before_end: &mut dyn FnMut(),
) {
    for (i, db) in dbs.iter().enumerate() {
        for m in db.shards.iter() {
            {
                let mut shard = m.lock();
                capture_in(i, &mut shard, job.epoch);
            }
            let drained = job.sink.lock().drain();
            if let Err(e) = drained {
                job.error.lock().get_or_insert(e);
            }
            pace();
        }
    }
    before_end();
    let mut slot = JOB.lock();
    if slot.as_ref().is_some_and(|j| Arc::ptr_eq(j, job)) {
        *slot = None;
        EPOCH.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::value::{StrValue, Value};

    fn entry(v: &str, expire_at: u64) -> Entry {
        Entry {
            value: Value::Str(StrValue::from_bytes(v.as_bytes())),
            expire_at,
        }
    }

    fn text(v: ValueRef<'_>) -> String {
        match v {
            ValueRef::Str(s) => String::from_utf8_lossy(&s.to_vec()).into_owned(),
            _ => "?".into(),
        }
    }

    /// The image is the shard at the barrier: changed keys show their pre-images, created
    /// keys are left out, deleted keys come back; counts and deadlines follow.
    #[test]
    fn image_puts_pre_images_in_place() {
        let mut shard = Shard::default();
        shard.insert(b"same", entry("s", 0));
        shard.insert(b"changed", entry("new", 0));
        shard.insert(b"created", entry("c", 7));
        shard.insert(b"ttl-cleared", entry("t", 0));
        let mut keys = HashMap::new();
        keys.insert(
            b"changed".to_vec().into_boxed_slice(),
            Some(entry("old", 0)),
        );
        keys.insert(b"created".to_vec().into_boxed_slice(), None);
        keys.insert(b"deleted".to_vec().into_boxed_slice(), Some(entry("d", 9)));
        keys.insert(
            b"ttl-cleared".to_vec().into_boxed_slice(),
            Some(entry("t", 5)),
        );
        let pre = PreImages { epoch: 1, keys };
        let image = ShardImage {
            shard: &shard,
            pre: Some(&pre),
        };
        let mut seen = Vec::new();
        image
            .for_each(|k, v, at| {
                seen.push((String::from_utf8_lossy(k).into_owned(), text(v), at));
                Ok::<(), ()>(())
            })
            .expect("no error");
        seen.sort();
        let expect = [
            ("changed", "old", 0),
            ("deleted", "d", 9),
            ("same", "s", 0),
            ("ttl-cleared", "t", 5),
        ];
        let expect: Vec<(String, String, u64)> = expect
            .iter()
            .map(|(k, v, at)| (k.to_string(), v.to_string(), *at))
            .collect();
        assert_eq!(seen, expect);
        assert_eq!(image.len(), 4);
        assert_eq!(image.volatile(), 2);
        assert_eq!(ShardImage::current(&shard).len(), 4);
        assert_eq!(ShardImage::current(&shard).volatile(), 1);
    }

    /// Without a running snapshot, `preserve` keeps nothing.
    #[test]
    fn preserve_is_idle_without_a_snapshot() {
        let mut shard = Shard::default();
        shard.insert(b"k", entry("v", 0));
        shard.snapshot_epoch = u64::MAX;
        preserve(&mut shard, b"k");
        assert!(shard.snapshot_pre.is_none());
    }
}
