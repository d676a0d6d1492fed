//! Giving freed memory back to the system.
//!
//! A crowd of clients that send large heads and leave makes the loop
//! allocate and free megabytes of head buffers. glibc's allocator keeps
//! freed memory in its heap for reuse, so without help the child's
//! resident size stays at its high-water mark long after they left. The
//! loop calls [`release_free_memory`] once the bytes its head buffers hold
//! have fallen well below their peak.

/// Return the allocator's free pages to the system (glibc's
/// `malloc_trim(0)`, which releases whole free pages inside every arena,
/// not only at the top of the heap). Costs a walk of the heap: call it
/// after large frees, not per request. A no-op on other C libraries.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only rearranges the
    // allocator's own free lists under its locks; it is safe to call from
    // any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
