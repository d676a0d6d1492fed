//! mpmd runs with glibc's per-thread cache of free chunks kept to one a
//! size (`glibc.malloc.tcache_count=1`, src/tunables.rs), unless the
//! operator chose a count: it starts itself again, as the same process,
//! with the tunable added to what it was given.

mod common;

use std::process::Command;

use common::*;

/// The environment process `pid` was started (last exec'd) with.
fn environ(pid: i32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).expect("read environ");
    raw.split(|&b| b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

fn var_of(pid: i32, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    environ(pid)
        .into_iter()
        .find_map(|v| v.strip_prefix(&prefix).map(str::to_string))
}

/// What process `pid` was started with: `GLIBC_TUNABLES`, and the value
/// mpmd records when it starts itself again (the operator's).
#[derive(Debug, PartialEq)]
struct Started {
    tunables: Option<String>,
    given: Option<String>,
}

fn started(pid: i32) -> Started {
    Started {
        tunables: var_of(pid, "GLIBC_TUNABLES"),
        given: var_of(pid, "MPMD_GIVEN_GLIBC_TUNABLES"),
    }
}

/// Start mpmd (event) with `GLIBC_TUNABLES` set to `given` (or unset), check
/// it serves, and return what its master and a child run with.
fn run_with(given: Option<&str>) -> (Started, Started) {
    let site = Site::new();
    site.write("htdocs/index.html", "tuned\n");
    let port = free_port();
    let conf = mpm_config(&site, "event", port, "");
    let mut cmd = Command::new(mpmd_bin());
    cmd.args(["-f", conf.to_str().unwrap()]);
    cmd.env_remove("GLIBC_TUNABLES").env_remove("LD_PRELOAD");
    if let Some(g) = given {
        cmd.env("GLIBC_TUNABLES", g);
    }
    let mut m = spawn_command(site.root(), cmd);
    m.wait_log("resuming normal operations", 1);
    let r = get(addr(port), "localhost", "/");
    assert_eq!(r.status, 200, "{}", m.stderr());
    let master = started(m.pid());
    let child = children(m.pid()).first().copied().expect("a child");
    (master, started(child))
}

#[test]
fn without_glibc_tunables_mpmd_runs_with_one_cached_chunk_a_size() {
    let (master, child) = run_with(None);
    assert_eq!(
        master,
        Started {
            tunables: Some("glibc.malloc.tcache_count=1".into()),
            given: Some(String::new()),
        }
    );
    assert_eq!(child, master);
}

#[test]
fn other_tunables_of_the_operator_are_kept_beside_it() {
    let (master, _) = run_with(Some("glibc.malloc.arena_max=2"));
    // mpmd started again with the operator's value recorded; glibc, which
    // parses GLIBC_TUNABLES in place, leaves only its first tunable in
    // /proc's copy of the environment, so that one is all a test can see.
    assert_eq!(master.given.as_deref(), Some("glibc.malloc.arena_max=2"));
    assert!(
        master
            .tunables
            .as_deref()
            .is_some_and(|t| t.starts_with("glibc.malloc.arena_max=2")),
        "{master:?}"
    );
}

#[test]
fn a_tcache_count_the_operator_chose_is_left_alone() {
    let (master, child) = run_with(Some("glibc.malloc.tcache_count=7"));
    let alone = Started {
        tunables: Some("glibc.malloc.tcache_count=7".into()),
        given: None,
    };
    assert_eq!(master, alone);
    assert_eq!(child, alone);
}
