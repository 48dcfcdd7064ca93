//! Point-in-time snapshots without fork(), for BGSAVE and the AOF rewrite.
//!
//! A snapshot starts with every shard locked for a moment (no command is half done), when
//! it takes an epoch number. From then on each shard is written to the snapshot exactly
//! once, in the state it had at that moment: by whichever comes first, the background
//! walker visiting it, or the first command that locks it (which writes the shard out
//! *before* it changes anything). So the file is one point in time, clients keep running,
//! and the extra memory is one shard's serialization at a time, not a copy of the dataset.
//!
//! The check on every lock is one relaxed atomic load while no snapshot runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::shard::Shard;

/// Epoch of the running snapshot (0: none). Shards remember the last epoch written.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// The last epoch handed out.
static LAST_EPOCH: AtomicU64 = AtomicU64::new(0);
/// The running snapshot's job.
static JOB: Mutex<Option<Arc<Job>>> = Mutex::new(None);

/// Where a snapshot's shards go (an RDB file, an AOF base file...).
pub trait Sink: Send {
    /// Write one shard of database `db` (called once per shard, in no particular order).
    fn write_shard(&mut self, db: usize, shard: &Shard) -> std::io::Result<()>;
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

/// Start a snapshot into `sink`. Must be called with every shard of every database locked
/// (the caller's barrier), so the epoch separates commands cleanly. Returns None when
/// another snapshot is running.
pub fn begin(sink: Box<dyn Sink>) -> Option<Arc<Job>> {
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
    EPOCH.store(epoch, Ordering::Release);
    Some(job)
}

/// Write `shard` to the running snapshot if it has not been written yet. Called with the
/// shard locked: by every locker before it changes anything, and by the walker.
#[inline]
pub fn capture(db: usize, shard: &mut Shard) {
    let epoch = EPOCH.load(Ordering::Relaxed);
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
    if shard.map.is_empty() {
        job.written.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let result = job.sink.lock().write_shard(db, shard);
    job.written.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = result {
        job.error.lock().get_or_insert(e);
    }
}

/// Walk every shard (taking each lock in turn) so the untouched ones are written too, then
/// end the snapshot. Returns the job for the caller to finish the file.
pub fn walk_and_end(dbs: &[super::Db], job: &Arc<Job>) {
    walk_and_end_paced(dbs, job, &mut || {});
}

/// [`walk_and_end`], calling `pace` after each shard with no lock held (a sink that
/// streams to a slow reader waits there, so its buffer stays bounded; commands that
/// capture shards themselves never wait).
pub fn walk_and_end_paced(dbs: &[super::Db], job: &Arc<Job>, pace: &mut dyn FnMut()) {
    for (i, db) in dbs.iter().enumerate() {
        for m in db.shards.iter() {
            {
                let mut shard = m.lock();
                capture(i, &mut shard);
            }
            pace();
        }
    }
    let mut slot = JOB.lock();
    if slot.as_ref().is_some_and(|j| Arc::ptr_eq(j, job)) {
        *slot = None;
        EPOCH.store(0, Ordering::Release);
    }
}
