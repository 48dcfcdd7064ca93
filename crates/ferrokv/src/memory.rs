//! Memory accounting. ferrokv allocates through jemalloc, whose statistics give the exact
//! number of bytes the server holds (INFO memory's `used_memory`), as Redis reports it.

/// The process-wide allocator.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Bytes currently allocated by the server (jemalloc `stats.allocated`).
pub fn used_memory() -> usize {
    #[cfg(not(target_env = "msvc"))]
    {
        // Statistics are cached by jemalloc until the epoch advances.
        if tikv_jemalloc_ctl::epoch::advance().is_ok() {
            if let Ok(n) = tikv_jemalloc_ctl::stats::allocated::read() {
                return n;
            }
        }
    }
    0
}

/// [`used_memory`] at most about a millisecond old: what `maxmemory` is checked against on
/// every command that may grow the dataset (advancing jemalloc's statistics epoch merges
/// every thread's counters, too slow to do per command).
pub fn used_memory_recent() -> usize {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static READ_AT_NS: AtomicU64 = AtomicU64::new(0);
    static VALUE: AtomicU64 = AtomicU64::new(0);
    let now = crate::util::mono_ns();
    let at = READ_AT_NS.load(Relaxed);
    if now.saturating_sub(at) >= 1_000_000
        && READ_AT_NS
            .compare_exchange(at, now, Relaxed, Relaxed)
            .is_ok()
    {
        VALUE.store(used_memory() as u64, Relaxed);
    }
    VALUE.load(Relaxed) as usize
}

/// Ask jemalloc to return dirty pages of every arena to the system (MEMORY PURGE).
pub fn purge() {
    #[cfg(not(target_env = "msvc"))]
    {
        // MALLCTL_ARENAS_ALL is 4096: "arena.4096.purge" purges every arena.
        // SAFETY: the name is a NUL-terminated mallctl that takes no value.
        let _ = unsafe { tikv_jemalloc_ctl::raw::write(b"arena.4096.purge\0", ()) };
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
        drop(v);
        assert!(super::rss() > 0);
    }
}
