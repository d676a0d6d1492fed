//! Who serves: started as root, `mpmd` never serves as root, as Apache.
//! With no `User`, the children (and the one process of `-X`) switch to
//! `nobody`; `User root` is refused. The ids are read from
//! `/proc/<pid>/status`. The tests that need root say so and pass when
//! not run as root.

mod common;

use common::*;

/// The ids `mpmd` serves as when started as root with no `User`/`Group`:
/// `nobody`, and group `nogroup` if the system has it, else nobody's own.
/// `None` (the test is skipped) when not root or without `nobody`.
fn default_ids() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: switching users needs the tests to run as root");
        return None;
    }
    let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody") else {
        eprintln!("skipped: no user nobody on this system");
        return None;
    };
    let gid = match nix::unistd::Group::from_name("nogroup") {
        Ok(Some(g)) => g.gid.as_raw(),
        _ => nobody.gid.as_raw(),
    };
    Some((nobody.uid.as_raw(), gid))
}

fn conf(site: &Site, mpm: &str, port: u16) -> std::path::PathBuf {
    site.write("htdocs/index.html", "<h1>home</h1>");
    site.config(&format!(
        "LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so\nListen 127.0.0.1:{port}\n\
         ServerName localhost\nDocumentRoot {}\nStartServers 2\n",
        site.docroot().display()
    ))
}

/// `mpmd` under `mpm` started on `site` with two children, once it has
/// answered a request.
fn serving(site: &Site, mpm: &str) -> Mpmd {
    let port = free_port();
    let m = start(site, &conf(site, mpm, port));
    assert!(
        wait_for(5.0, || children(m.pid()).len() >= 2),
        "{mpm}: no children; {}",
        m.stderr()
    );
    assert_eq!(
        try_get(addr(port), "/"),
        Some(200),
        "{mpm}: the site is not served; {}",
        m.stderr()
    );
    m
}

#[test]
fn started_as_root_with_no_user_the_children_serve_as_nobody_under_every_mpm() {
    let Some(ids) = default_ids() else { return };
    for mpm in ["event", "prefork", "worker"] {
        let site = Site::new();
        let m = serving(&site, mpm);
        for kid in children(m.pid()) {
            assert_eq!(
                ids_of(kid),
                Some(ids),
                "{mpm}: child {kid} runs as (uid, gid) {:?}, not nobody's {ids:?}",
                ids_of(kid)
            );
        }
        assert_eq!(
            ids_of(m.pid()).map(|(uid, _)| uid),
            Some(0),
            "{mpm}: the master keeps its user"
        );
        assert!(
            m.stderr().contains(&format!(
                "started as root with no User directive: the server serves as user nobody (uid {})",
                ids.0
            )),
            "{mpm}: no notice of the default user in the error log:\n{}",
            m.stderr()
        );
    }
}

/// The files a process maps (`/proc/<pid>/maps`: libraries, the
/// executable), without the kernel's own (`[heap]`, `[stack]`, ...).
fn mapped_files(pid: i32) -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with('/') && !p.starts_with("/dev/zero") && !p.starts_with("/SYSV"))
        .map(str::to_string)
        .collect()
}

/// The supplementary groups of `pid` (`Groups:` of its status), sorted.
fn groups_of(pid: i32) -> Option<Vec<u32>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Groups:"))?;
    let mut ids: Vec<u32> = line
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect();
    ids.sort_unstable();
    Some(ids)
}

/// The master looks `User` up once, before it forks; a child switches to
/// the ids it was given and looks nothing up itself. A passwd or group
/// lookup in the child would load the name service modules
/// (`libnss_systemd` and the libraries it needs, with `systemd` in
/// `/etc/nsswitch.conf`) into every child: mappings and relocations
/// dirtied per child, ~40 KiB of private memory each and ~300 KiB of
/// resident pages. The children keep the user's supplementary groups, as
/// `initgroups` gives them. (On a system whose `nsswitch.conf` names only
/// `files`, no module is loaded either way and the first check cannot
/// fail.)
#[test]
fn children_map_no_library_the_master_did_not_and_keep_the_users_groups_under_every_mpm() {
    let Some(ids) = default_ids() else { return };
    let nobody = std::ffi::CString::new("nobody").unwrap();
    let mut want = nix::unistd::getgrouplist(&nobody, nix::unistd::Gid::from_raw(ids.1))
        .expect("the groups of nobody")
        .into_iter()
        .map(|g| g.as_raw())
        .collect::<Vec<_>>();
    want.sort_unstable();
    want.dedup();
    for mpm in ["prefork", "worker", "event"] {
        let site = Site::new();
        let m = serving(&site, mpm);
        let master = mapped_files(m.pid());
        for kid in children(m.pid()) {
            let own: Vec<String> = mapped_files(kid).difference(&master).cloned().collect();
            assert!(
                own.is_empty(),
                "{mpm}: child {kid} loaded files its master had not mapped (a lookup made in \
                 the child, not once before the fork): {own:?}"
            );
            let mut groups = groups_of(kid).expect("the child's groups");
            groups.dedup();
            assert_eq!(
                groups, want,
                "{mpm}: child {kid} has supplementary groups {groups:?}, not nobody's {want:?}"
            );
        }
    }
}

#[test]
fn dash_x_started_as_root_switches_its_one_process_to_nobody_as_apache_does() {
    let Some(ids) = default_ids() else { return };
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, "event", port);
    let m = start_args(&site, &["-X", "-f", c.to_str().unwrap()]);
    assert_eq!(try_get(addr(port), "/"), Some(200), "{}", m.stderr());
    assert_eq!(
        ids_of(m.pid()),
        Some(ids),
        "mpmd -X serves as (uid, gid) {:?}, not nobody's {ids:?}",
        ids_of(m.pid())
    );
}

#[test]
fn user_root_by_name_or_uid_is_refused_under_t_in_one_line() {
    for user in ["root", "#0"] {
        let site = Site::new();
        let c = conf(&site, "event", free_port());
        let text = std::fs::read_to_string(&c).unwrap();
        std::fs::write(&c, format!("{text}User {user}\n")).unwrap();
        let lines = text.lines().count() + 1;
        let (code, _out, err) = run(&["-t", "-f", c.to_str().unwrap()]);
        assert_eq!(code, 1, "`User {user}` passed -t: {err}");
        assert_eq!(
            err.lines().count(),
            1,
            "`User {user}`: expected a one-line error, got:\n{err}"
        );
        assert!(
            err.starts_with(&format!(
                "mpmd: {}:{lines}: User {user}: this server has not been designed to serve pages while running as root",
                c.display()
            )),
            "`User {user}`: {err}"
        );
    }
}
