//! Giving freed heap back to the system.
//!
//! Why by hand: glibc's allocator keeps freed memory for reuse and returns
//! it to the system only from the top of a heap. After a million parsed
//! records are dropped (once built into the snapshot) most of that memory
//! sits in pages below live data, so the process would keep hundreds of
//! MiB it will not use again. `malloc_trim` releases every whole free
//! page, in every arena. No crate wraps it beyond `libc`.

/// Returns the allocator's free pages to the system (glibc only; a no-op
/// elsewhere).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
    // SAFETY: mi_collect only walks mimalloc's own heaps.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}
