//! The C allocator's arenas, sized for a server of many threads, and its
//! free pages given back when a thread goes idle after TLS
//! ([`give_back_free_pages`]).
//!
//! glibc's `malloc` gives each thread that allocates while another holds
//! an arena a new arena of its own, up to eight per CPU (16 on two
//! CPUs). A worker or event child of 25 threads ends up with about 15,
//! and each keeps the most it ever held at once: glibc gives an arena's
//! memory back only when a chunk of 64 KiB or more is freed at its top,
//! which a server's small allocations never do. After a burst of TLS
//! handshakes (each some tens of KiB, freed when the connection ends),
//! every arena of a worker child kept 130 to 290 KiB, most of it free
//! (`benches/http/README.md`, "Children and memory").
//!
//! More arenas than CPUs buy nothing: no more threads than CPUs run at
//! once, and each thread keeps its own cache of small chunks (glibc's
//! tcache) in front of its arena, so most allocations take no lock at
//! all. [`one_arena_per_cpu`] caps the arenas at the CPUs this process
//! may run on (`M_ARENA_MAX`), before the first fork, so every child
//! inherits it (jemalloc and tcmalloc, Apache's APR allocator and nginx's
//! pools keep memory per thread or process in their own ways; this is
//! only glibc's).
//!
//! What `malloc_trim` cannot give back is what each thread's cache of
//! free chunks (glibc's tcache: up to seven of each size up to 1 KiB)
//! holds: glibc counts those as in use, and they keep their pages. After
//! TLS handshakes on 25 threads that was 1,300 KiB of a worker child's
//! heap, 720 KiB with one chunk a size. glibc takes that count only from
//! the environment a program starts with: a program embedding the library
//! sets `GLIBC_TUNABLES=glibc.malloc.tcache_count=1` where it is started
//! (its systemd unit, its shell), and `mpmd` starts itself again with it
//! (server-bin/src/tunables.rs).

/// Cap glibc's `malloc` arenas at the number of CPUs this process may run
/// on (at least 1). Does nothing with another C library, nor when the
/// operator chose the arenas already (`MALLOC_ARENA_MAX`, or
/// `glibc.malloc.arena_max` in `GLIBC_TUNABLES`, which glibc read at start
/// and this call would override).
pub fn one_arena_per_cpu() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tunables = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
        if std::env::var_os("MALLOC_ARENA_MAX").is_some()
            || tunables
                .to_string_lossy()
                .contains("glibc.malloc.arena_max")
        {
            return;
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpus = libc::c_int::try_from(cpus).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` only sets a parameter of the allocator, under
        // its own lock; M_ARENA_MAX is one glibc documents, and a value
        // it refuses leaves the default (the return value says so).
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cpus);
        }
    }
}

/// Give the pages the C allocator holds free back to the system, in every
/// arena (glibc's `malloc_trim(0)`: the free top of each arena, and the
/// whole free pages inside them). glibc does this by itself only for a
/// free top larger than its trim threshold (128 KiB, raised up to 64 MiB
/// after a large block is freed), so a process that once held much (a
/// burst of TLS sessions and their buffers) keeps it. Costs a walk of the
/// arenas' free chunks and a system call per run of free pages: for a
/// thread going idle after a connection that grew the heap, not per
/// request. Does nothing with another C library.
pub fn give_back_free_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes each arena's own lock and touches only
    // memory the allocator owns and holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}
