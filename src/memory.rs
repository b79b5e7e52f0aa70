//! Giving freed heap back to the system.
//!
//! Why: after a million parsed records are dropped (once built into the
//! snapshot) most of that memory sits in pages between live data, and an
//! allocator keeps freed memory for reuse, so the process would keep
//! hundreds of MiB it will not use again. The `eightfold` binary runs on
//! mimalloc (`main.rs`; with glibc's allocator the pages of records parsed
//! on one thread stayed in that thread's arena, BENCHMARKS.md), and
//! `mi_collect` gives back its free pages; test binaries keep glibc's
//! allocator, whose `malloc_trim` does the same. Neither has a crate
//! beyond its `-sys` bindings.

/// Returns the allocator's free pages to the system: mimalloc's (of this
/// thread and rayon's), and glibc's where it is the C library. Called
/// after a start, a reload, and every API call (`api::on_blocking_thread`).
pub fn trim() {
    // mimalloc frees a thread's pages only on that thread: the threads
    // that parsed and built (rayon's) would keep theirs while idle.
    // SAFETY: mi_collect only walks mimalloc's own heaps (empty when it
    // is not the allocator).
    let collect = || unsafe { libmimalloc_sys::mi_collect(true) };
    rayon::broadcast(|_| collect());
    collect();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// From now on, pages the allocator frees go back to the system at once,
/// instead of after mimalloc's delay (10 ms), which only runs out on a
/// later allocation by the same thread: a thread that then idles (a
/// tokio blocking thread after an API change, a rayon thread after a
/// build) kept what it had freed for good, and memory after 1,000 change
/// batches stayed 7-12 MiB above a fresh start's (BENCHMARKS.md). Called
/// once the first snapshot is built: while a million parsed records are
/// freed at start, giving each page back at once costs ~25 % more CPU.
pub fn give_back_at_once() {
    // mimalloc.h (v3, the version libmimalloc-sys builds by default, and
    // v2 alike): `mi_option_purge_delay`, 15th in `mi_option_e`; the -sys
    // crate has no constant for it.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one of mimalloc's options, read on its next purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

/// Turns transparent huge pages off for this process (Linux; a no-op
/// elsewhere). Why: mimalloc asks for huge pages, and at start a million
/// records are parsed and freed while the zones are built; each time a
/// freed range is given back and touched again the kernel clears a whole
/// 2 MiB page. At 1 M records that clearing was ~40 % of start-up CPU
/// (`perf`, BENCHMARKS.md); with 4 KiB pages start-up takes ~35 % less
/// CPU, memory is the same, and queries are answered as fast (NSD and
/// Knot, on glibc's allocator, get no huge pages here either).
pub fn small_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
