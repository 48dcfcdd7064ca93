//! Memory accounting. ferrokv allocates through jemalloc, whose statistics give the exact
//! number of bytes the server holds (INFO memory's `used_memory`), as Redis reports it.

/// The process-wide allocator.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Bytes currently allocated by the server: jemalloc's `stats.allocated` less the bytes
/// parked in the threads' caches (`tcache_bytes`). A freed small block goes to its
/// thread's cache first, and jemalloc counts it as allocated until the cache is flushed,
/// in bursts of up to hundreds of KB as connections come and go on a thread; Redis's
/// `used_memory` counts what the program holds, which is steady. The caches are resident
/// all the same: [`watch_heap`] counts them with the allocator's overhead for eviction.
pub fn used_memory() -> usize {
    #[cfg(not(target_env = "msvc"))]
    {
        // Statistics are cached by jemalloc until the epoch advances.
        if tikv_jemalloc_ctl::epoch::advance().is_ok() {
            if let Ok(n) = tikv_jemalloc_ctl::stats::allocated::read() {
                return n.saturating_sub(tcache_bytes());
            }
        }
    }
    0
}

/// Bytes held in the thread caches of every arena (`stats.arenas.<all>.tcache_bytes`, as
/// of the last statistics epoch); 0 where jemalloc cannot say.
fn tcache_bytes() -> usize {
    #[cfg(not(target_env = "msvc"))]
    {
        use std::sync::OnceLock;
        // The name resolved once: MALLCTL_ARENAS_ALL (4096) merges every arena.
        static MIB: OnceLock<Option<[usize; 4]>> = OnceLock::new();
        let mib = MIB.get_or_init(|| {
            let mut mib = [0usize; 4];
            tikv_jemalloc_ctl::raw::name_to_mib(b"stats.arenas.4096.tcache_bytes\0", &mut mib)
                .ok()
                .map(|_| mib)
        });
        if let Some(mib) = mib {
            // SAFETY: the MIB names a read-only size_t statistic.
            return unsafe { tikv_jemalloc_ctl::raw::read_mib::<usize>(mib) }.unwrap_or(0);
        }
    }
    0
}

/// jemalloc's view of the heap (INFO `allocator_*`): bytes allocated, in active pages
/// (allocated plus the unused parts of partly used pages), resident (active plus
/// metadata plus dirty pages not yet returned), and metadata.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocatorStats {
    /// `stats.allocated`.
    pub allocated: usize,
    /// `stats.active`.
    pub active: usize,
    /// `stats.resident`.
    pub resident: usize,
    /// `stats.metadata`.
    pub metadata: usize,
}

/// Read [`AllocatorStats`] now (advances jemalloc's statistics epoch).
pub fn allocator_stats() -> AllocatorStats {
    #[cfg(not(target_env = "msvc"))]
    {
        use tikv_jemalloc_ctl::stats;
        if tikv_jemalloc_ctl::epoch::advance().is_ok() {
            return AllocatorStats {
                allocated: stats::allocated::read().unwrap_or(0),
                active: stats::active::read().unwrap_or(0),
                resident: stats::resident::read().unwrap_or(0),
                metadata: stats::metadata::read().unwrap_or(0),
            };
        }
    }
    AllocatorStats::default()
}

/// The smallest allocator overhead seen (jemalloc's resident minus allocated bytes): the
/// overhead of the idle structure (metadata, partly used pages of the empty tables),
/// which a memory limit cannot shrink.
static HEAP_BASELINE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);
/// Allocator overhead beyond [`HEAP_BASELINE`] (fragmentation, grown metadata, dirty
/// pages not yet purged) that eviction counts as used, so that the resident set, not only
/// the allocated bytes, stays within `maxmemory`. 0 within a small dead zone; at most a
/// quarter of the limit, so that it can never drive the eviction of everything (at small
/// limits fragmentation alone passes an eighth: random sizes leave slabs part used).
static HEAP_EXCESS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// See [`HEAP_EXCESS`]: what eviction adds to [`used_memory_recent`].
pub fn heap_excess() -> usize {
    HEAP_EXCESS.load(std::sync::atomic::Ordering::Relaxed) as usize
}

/// Keep the allocator's own memory in check for a `limit` (`maxmemory`; 0 = none), called
/// periodically by the eviction thread: dirty pages (freed, not yet returned to the
/// system) past max(1 MiB, 1% of the limit) are purged first, which costs no data; the
/// overhead that remains past its baseline is published for eviction ([`heap_excess`]).
pub fn watch_heap(limit: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    set_dirty_decay(limit != 0);
    if limit == 0 {
        HEAP_EXCESS.store(0, Relaxed);
        return;
    }
    let dead_zone = (limit / 100).max(1 << 20);
    let mut s = allocator_stats();
    let dirty = s.resident.saturating_sub(s.active + s.metadata);
    if dirty > dead_zone {
        purge();
        s = allocator_stats();
    }
    // The thread caches are left out of `used_memory` but are resident: overhead here.
    let held = s.allocated.saturating_sub(tcache_bytes());
    let overhead = s.resident.saturating_sub(held) as u64;
    let base = HEAP_BASELINE.fetch_min(overhead, Relaxed).min(overhead);
    let extra = overhead.saturating_sub(base) as usize;
    let counted = if extra > dead_zone {
        extra.min(limit / 4)
    } else {
        0
    };
    HEAP_EXCESS.store(counted as u64, Relaxed);
}

/// Under a memory limit, freed pages go back to the system at once (jemalloc's
/// `dirty_decay_ms` 0 on every arena) instead of after jemalloc's default 10 s: pages
/// freed by eviction would otherwise stay resident while new writes take fresh ones.
/// Without a limit the default returns.
fn set_dirty_decay(limited: bool) {
    use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
    // 0: unknown, 1: default, 2: immediate.
    static STATE: AtomicU8 = AtomicU8::new(0);
    let want = if limited { 2 } else { 1 };
    if STATE.swap(want, Relaxed) == want {
        return;
    }
    #[cfg(not(target_env = "msvc"))]
    {
        let ms: isize = if limited { 0 } else { 10_000 };
        let arenas = tikv_jemalloc_ctl::arenas::narenas::read().unwrap_or(0);
        for i in 0..arenas {
            let name = format!("arena.{}.dirty_decay_ms\0", i);
            // SAFETY: a NUL-terminated mallctl name whose value is an ssize_t.
            let _ = unsafe { tikv_jemalloc_ctl::raw::write(name.as_bytes(), ms) };
        }
        let _ = unsafe {
            // SAFETY: as above; the default for arenas created later.
            tikv_jemalloc_ctl::raw::write(b"arenas.dirty_decay_ms\0", ms)
        };
    }
}

/// When [`used_memory_recent`] last read jemalloc's statistics (monotonic ns).
static READ_AT_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The value [`used_memory_recent`] returns until its next reading.
static VALUE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Take `freed` bytes off [`used_memory_recent`]'s cached reading: eviction frees memory
/// between two readings, and the commands that follow within the same millisecond must
/// not evict again for the same excess.
pub fn note_freed(freed: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    let _ = VALUE.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(freed as u64)));
}

/// Read jemalloc's statistics now for [`used_memory_recent`] (after CONFIG SET maxmemory,
/// so a new limit is judged on a fresh reading).
pub fn refresh_recent() -> usize {
    use std::sync::atomic::Ordering::Relaxed;
    let v = used_memory();
    VALUE.store(v as u64, Relaxed);
    READ_AT_NS.store(crate::util::mono_ns(), Relaxed);
    READING.fetch_add(1, Relaxed);
    v
}

/// Bytes this thread has freed minus bytes it has allocated since its jemalloc counters
/// started (wrapping): the difference of two readings is what the code in between gave
/// back. Reading is two loads through thread-local pointers, no statistics epoch.
pub fn thread_net_freed() -> i64 {
    #[cfg(not(target_env = "msvc"))]
    {
        thread_local! {
            static COUNTERS: Option<(
                tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
                tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
            )> = tikv_jemalloc_ctl::thread::allocatedp::read()
                .and_then(|a| Ok((a, tikv_jemalloc_ctl::thread::deallocatedp::read()?)))
                .ok();
        }
        COUNTERS.with(|c| c.map_or(0, |(a, d)| d.get().wrapping_sub(a.get()) as i64))
    }
    #[cfg(target_env = "msvc")]
    {
        0
    }
}

/// [`used_memory`] at most about a millisecond old: what `maxmemory` is checked against on
/// every command that may grow the dataset (advancing jemalloc's statistics epoch merges
/// every thread's counters, too slow to do per command).
pub fn used_memory_recent() -> usize {
    use std::sync::atomic::Ordering::Relaxed;
    let now = crate::util::mono_ns();
    let at = READ_AT_NS.load(Relaxed);
    if now.saturating_sub(at) >= 1_000_000
        && READ_AT_NS
            .compare_exchange(at, now, Relaxed, Relaxed)
            .is_ok()
    {
        VALUE.store(used_memory() as u64, Relaxed);
        READING.fetch_add(1, Relaxed);
    }
    let base = VALUE.load(Relaxed) as usize;
    // What this thread allocated since it first saw this reading: a command that just
    // grew memory (a 200 KB SETBIT) is seen by the next command of the same client at
    // once, not a millisecond later.
    let reading = READING.load(Relaxed);
    let net = thread_net_freed().wrapping_neg();
    SEEN.with(|seen| {
        let (r, at) = seen.get();
        if r != reading {
            seen.set((reading, net));
            base
        } else {
            base + net.wrapping_sub(at).max(0) as usize
        }
    })
}

/// Counts the readings of [`used_memory_recent`].
static READING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// The reading this thread last saw and its net allocation then.
    static SEEN: std::cell::Cell<(u64, i64)> = const { std::cell::Cell::new((u64::MAX, 0)) };
}

/// Ask jemalloc to return dirty pages of every arena to the system (MEMORY PURGE).
pub fn purge() {
    #[cfg(not(target_env = "msvc"))]
    {
        // MALLCTL_ARENAS_ALL is 4096: "arena.4096.purge" purges every arena. jemalloc
        // refuses (EPERM) a purge given any old or new value pointer, even of size 0, so
        // this calls mallctl with null pointers rather than `tikv_jemalloc_ctl::raw::write`.
        // SAFETY: the name is a NUL-terminated mallctl that reads and writes nothing, and
        // every pointer passed is null with a zero length.
        unsafe {
            tikv_jemalloc_sys::mallctl(
                c"arena.4096.purge".as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            );
        }
    }
}

/// Resident set size of the process in bytes (from /proc/self/statm).
pub fn rss() -> usize {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<usize>().ok())
        })
        .map(|pages| pages * page)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn allocation_is_counted() {
        // Other tests allocate and free concurrently, so only check that a large live
        // allocation is counted.
        let v = std::hint::black_box(vec![1u8; 10 << 20]);
        let used = super::used_memory();
        assert!(used >= 10 << 20, "used_memory {} with 10 MiB live", used);
        let before = super::thread_net_freed();
        drop(v);
        let freed = super::thread_net_freed().wrapping_sub(before);
        assert!(freed >= 10 << 20, "freeing 10 MiB counted {}", freed);
        assert!(super::rss() > 0);
    }

    #[test]
    fn thread_caches_are_not_used_memory() {
        // Small blocks freed on this thread: some stay in its cache, which jemalloc's
        // `stats.allocated` still counts and `used_memory` leaves out.
        let blocks: Vec<Box<[u8; 64]>> = (0..2000).map(|_| Box::new([1u8; 64])).collect();
        drop(std::hint::black_box(blocks));
        let _ = tikv_jemalloc_ctl::epoch::advance();
        let cached = super::tcache_bytes();
        assert!(cached > 0, "freed small blocks sit in the thread cache");
        let raw = tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0);
        assert!(raw >= cached);
    }

    #[test]
    fn purge_returns_dirty_pages() {
        // Free 64 MiB in large allocations: their pages stay resident (dirty) until the
        // decay period passes or a purge returns them.
        let blocks: Vec<Vec<u8>> = (0..64).map(|_| vec![7u8; 1 << 20]).collect();
        drop(std::hint::black_box(blocks));
        let before = super::allocator_stats();
        super::purge();
        let after = super::allocator_stats();
        assert!(
            after.resident + (16 << 20) < before.resident,
            "purge returned too little: resident {} -> {}",
            before.resident,
            after.resident
        );
    }
}

/// Turn jemalloc's background thread on or off (`jemalloc-bg-thread`, on by default as
/// in Redis): it returns freed pages to the system over jemalloc's decay time (10 s)
/// without waiting for the next allocation, so the resident set follows what is held.
pub fn set_background_purge(on: bool) {
    #[cfg(not(target_env = "msvc"))]
    {
        use std::sync::atomic::{AtomicU8, Ordering};
        // 0 unknown, 1 off, 2 on: mallctl only on a change.
        static STATE: AtomicU8 = AtomicU8::new(0);
        let want = if on { 2 } else { 1 };
        if STATE.swap(want, Ordering::Relaxed) != want {
            if let Err(e) = tikv_jemalloc_ctl::background_thread::write(on) {
                tracing::warn!("jemalloc-bg-thread: {}", e);
            }
        }
    }
    #[cfg(target_env = "msvc")]
    let _ = on;
}

/// Whether jemalloc's background thread runs.
pub fn background_purge() -> bool {
    #[cfg(not(target_env = "msvc"))]
    {
        tikv_jemalloc_ctl::background_thread::read().unwrap_or(false)
    }
    #[cfg(target_env = "msvc")]
    false
}

#[cfg(all(test, not(target_env = "msvc")))]
mod purge_tests {
    #[test]
    fn the_background_thread_follows_the_setting() {
        super::set_background_purge(true);
        assert!(super::background_purge());
        super::set_background_purge(false);
        assert!(!super::background_purge());
        super::set_background_purge(true);
        assert!(super::background_purge());
    }
}
