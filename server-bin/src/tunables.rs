//! glibc's per-thread cache of free chunks, kept to one chunk a size.
//!
//! glibc's `malloc` keeps, for each thread, up to seven free chunks of each
//! size up to 1 KiB (its tcache) for the thread's next allocations, and
//! gives none of them back: `malloc_trim` (which a child calls after a TLS
//! connection, `mpm::process::malloc`) sees them as in use. They are spread
//! over the heap, so each keeps a page. A worker child of 25 threads kept
//! 1,300 KiB of heap and arena after a burst of TLS handshakes, of which
//! 430 KiB with no tcache and 720 KiB with one chunk a size; a prefork child
//! keeps its one thread's. One chunk a size costs nothing measurable on the
//! serving path (instructions per request: `/hello` 9,777 → 9,766, a new
//! connection 12,177 → 12,160, 4 KiB 10,129 → 10,132), where none costs 7 %.
//!
//! glibc reads its tunables only from the environment it starts with, so
//! mpmd, when the operator set no `glibc.malloc.tcache_count` of their own
//! (`GLIBC_TUNABLES`; setting it to 7, glibc's default, keeps glibc's way),
//! starts itself again at once with `glibc.malloc.tcache_count=1` added,
//! as the same process (the same pid, descriptors and arguments), and then
//! gives the programs it starts the environment it was given. Nothing is
//! done under valgrind (whose tools would lose the process at the `exec`),
//! with another C library, or when `/proc/self/exe` cannot be run.

/// The tunable mpmd adds.
pub const TCACHE_COUNT: &str = "glibc.malloc.tcache_count=1";

/// While mpmd runs again with [`TCACHE_COUNT`]: the `GLIBC_TUNABLES` it was
/// started with (empty: none), to be given back.
const GIVEN: &str = "MPMD_GIVEN_GLIBC_TUNABLES";

/// What `GLIBC_TUNABLES` becomes, given its current value: `None` when the
/// operator chose a tcache count already.
pub fn with_ours(current: &str) -> Option<String> {
    if current
        .split(':')
        .any(|t| t.trim().starts_with("glibc.malloc.tcache_count="))
    {
        return None;
    }
    Some(if current.trim().is_empty() {
        TCACHE_COUNT.to_string()
    } else {
        format!("{current}:{TCACHE_COUNT}")
    })
}

/// First thing in `main`, before any thread starts: run again with
/// [`TCACHE_COUNT`] when it is not in force, or, in the process run again,
/// put the environment back. Returns only when mpmd is to go on in this
/// process image.
pub fn apply() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::env;
        use std::os::unix::process::CommandExt;

        if let Some(given) = env::var_os(GIVEN) {
            // The second start: glibc has read ours.
            env::remove_var(GIVEN);
            if given.is_empty() {
                env::remove_var("GLIBC_TUNABLES");
            } else {
                env::set_var("GLIBC_TUNABLES", given);
            }
            return;
        }
        if env::var_os("LD_PRELOAD").is_some_and(|p| p.to_string_lossy().contains("vgpreload")) {
            return;
        }
        let current = env::var("GLIBC_TUNABLES").unwrap_or_default();
        let Some(ours) = with_ours(&current) else {
            return;
        };
        let mut args = env::args_os();
        let Some(arg0) = args.next() else {
            return;
        };
        let err = std::process::Command::new("/proc/self/exe")
            .arg0(arg0)
            .args(args)
            .env(GIVEN, &current)
            .env("GLIBC_TUNABLES", ours)
            .exec();
        // Still here: the exec failed; glibc's default it is.
        eprintln!("mpmd: could not start again with {TCACHE_COUNT} ({err}); going on without");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_is_added_to_what_the_operator_set_unless_they_chose_a_tcache_count() {
        assert_eq!(with_ours("").as_deref(), Some(TCACHE_COUNT));
        assert_eq!(
            with_ours("glibc.malloc.arena_max=2").as_deref(),
            Some("glibc.malloc.arena_max=2:glibc.malloc.tcache_count=1")
        );
        assert_eq!(with_ours("glibc.malloc.tcache_count=7"), None);
        assert_eq!(
            with_ours("glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0"),
            None
        );
        // Another tcache tunable is not the count.
        assert_eq!(
            with_ours("glibc.malloc.tcache_max=64").as_deref(),
            Some("glibc.malloc.tcache_max=64:glibc.malloc.tcache_count=1")
        );
    }
}
