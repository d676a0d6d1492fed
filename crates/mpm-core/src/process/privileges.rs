//! Dropping privileges: a child started as root switches to `User` and
//! `Group` before it serves (the master looks them up once, before it
//! forks: [`Credentials`]), and a `User` that is root is refused, as
//! Apache refuses it.

use std::ffi::CString;

use nix::errno::Errno;
use nix::unistd::{Gid, Uid};

use crate::config::MpmConfig;

/// A `User` or `Group` value: a name, or `#n` for a numeric id.
fn numeric(value: &str) -> Option<u32> {
    value.strip_prefix('#').and_then(|n| n.parse().ok())
}

/// Who a child becomes: the ids a running-as-root server switches to,
/// looked up once by the master before it forks ([`Credentials::resolve`])
/// and applied by each child ([`Credentials::apply`]). The child then
/// calls no passwd or group lookup itself: such a lookup loads the name
/// service modules (`libnss_systemd` and what it needs) into the process
/// that makes it, and in a child that is ~300 KiB of mappings and their
/// relocations, dirtied per child (`benches/http/README.md`, "Children
/// and memory"). Apache also looks `User` up once, when it reads its
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user named, for messages (`nobody`, or `#65534`).
    user: Option<String>,
    uid: Option<Uid>,
    gid: Gid,
    /// The supplementary groups: the user's groups (as `initgroups`
    /// finds them), or only `gid` for a user without a name.
    groups: Vec<Gid>,
}

impl Credentials {
    /// The credentials `User`/`Group` name when running as root; `None`
    /// when not root (an unprivileged server cannot change users) or when
    /// neither is set. A `User` that is root (by name or uid) is refused,
    /// as Apache refuses it: see [`refuse_root_user`].
    pub fn resolve(cfg: &MpmConfig) -> Result<Option<Credentials>, String> {
        if !nix::unistd::geteuid().is_root() || (cfg.user.is_none() && cfg.group.is_none()) {
            return Ok(None);
        }
        let user = match cfg.user.as_deref() {
            None => None,
            Some(u) => {
                let resolved = resolve_user(u)?;
                if resolved.1.is_root() {
                    return Err(root_refused(u));
                }
                Some((u, resolved))
            }
        };
        let gid = match cfg.group.as_deref() {
            Some(g) => resolve_group(g)?,
            None => match &user {
                Some((_, (_, _, Some(gid)))) => *gid,
                _ => Gid::current(),
            },
        };
        let groups = match &user {
            Some((_, (Some(name), _, _))) => {
                let c = CString::new(name.as_str())
                    .map_err(|_| format!("the user name {name:?} contains a NUL byte"))?;
                nix::unistd::getgrouplist(&c, gid).map_err(|e| {
                    format!("listing the groups of user {name} failed: {}", e.desc())
                })?
            }
            _ => vec![gid],
        };
        Ok(Some(Credentials {
            user: user.as_ref().map(|(value, _)| value.to_string()),
            uid: user.map(|(_, (_, uid, _))| uid),
            gid,
            groups,
        }))
    }

    /// Switch this process to them: setgid, setgroups, setuid (in that
    /// order: the group ids can be changed only while still root). Makes
    /// no passwd or group lookup.
    pub fn apply(&self) -> Result<(), String> {
        let fail = |what: &str, e: Errno| format!("{what} failed: {}", e.desc());
        let gid = self.gid;
        nix::unistd::setgid(gid).map_err(|e| fail(&format!("setgid({gid})"), e))?;
        nix::unistd::setgroups(&self.groups).map_err(|e| fail("setgroups", e))?;
        if let Some(uid) = self.uid {
            let who = self.user.clone().unwrap_or_else(|| uid.to_string());
            nix::unistd::setuid(uid).map_err(|e| fail(&format!("setuid({who})"), e))?;
        }
        Ok(())
    }
}

/// When running as root with `User`/`Group` set, switch to them
/// ([`Credentials::resolve`], then [`Credentials::apply`]) in one step,
/// for a process that forks no children (the single-process mode).
pub fn drop_privileges(cfg: &MpmConfig) -> Result<(), String> {
    match Credentials::resolve(cfg)? {
        Some(c) => c.apply(),
        None => Ok(()),
    }
}

/// Refuse a `User` value that names root (`root`, `#0`, or any name whose
/// uid is 0), as Apache does: serving as root lets any local user read any
/// file through the races of a file server. A value that names no user at
/// all is not refused here: switching to it fails later, with its own
/// message.
pub fn refuse_root_user(value: &str) -> Result<(), String> {
    match resolve_user(value) {
        Ok((_, uid, _)) if uid.is_root() => Err(root_refused(value)),
        _ => Ok(()),
    }
}

fn root_refused(value: &str) -> String {
    format!(
        "User {value}: this server has not been designed to serve pages while running as root \
         (any local user could read any file through its races); name an unprivileged user, \
         e.g. User nobody"
    )
}

/// (name, uid, primary gid) of a `User` value.
fn resolve_user(value: &str) -> Result<(Option<String>, Uid, Option<Gid>), String> {
    if let Some(n) = numeric(value) {
        let uid = Uid::from_raw(n);
        let entry = nix::unistd::User::from_uid(uid).ok().flatten();
        return Ok((
            entry.as_ref().map(|u| u.name.clone()),
            uid,
            entry.map(|u| u.gid),
        ));
    }
    match nix::unistd::User::from_name(value) {
        Ok(Some(u)) => Ok((Some(u.name), u.uid, Some(u.gid))),
        Ok(None) => Err(format!(
            "User {value}: no such user (use a name from the passwd database or #uid)"
        )),
        Err(e) => Err(format!("User {value}: looking it up failed: {}", e.desc())),
    }
}

fn resolve_group(value: &str) -> Result<Gid, String> {
    if let Some(n) = numeric(value) {
        return Ok(Gid::from_raw(n));
    }
    match nix::unistd::Group::from_name(value) {
        Ok(Some(g)) => Ok(g.gid),
        Ok(None) => Err(format!(
            "Group {value}: no such group (use a name from the group database or #gid)"
        )),
        Err(e) => Err(format!("Group {value}: looking it up failed: {}", e.desc())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_are_written_with_a_hash() {
        assert_eq!(numeric("#65534"), Some(65534));
        assert_eq!(numeric("65534"), None);
        assert_eq!(numeric("#x"), None);
    }

    #[test]
    fn an_unknown_user_is_an_error_that_names_it() {
        let e = resolve_user("no-such-user-here").unwrap_err();
        assert!(e.contains("User no-such-user-here: no such user"), "{e}");
        let e = resolve_group("no-such-group-here").unwrap_err();
        assert!(e.contains("Group no-such-group-here: no such group"), "{e}");
    }

    #[test]
    fn a_user_that_is_root_is_refused_by_name_or_uid() {
        for root in ["root", "#0"] {
            let e = refuse_root_user(root).unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "User {root}: this server has not been designed to serve pages while running as root"
                )),
                "{e}"
            );
        }
        assert_eq!(refuse_root_user("#65534"), Ok(()));
        assert_eq!(
            refuse_root_user("no-such-user-here"),
            Ok(()),
            "an unknown user is reported when switching to it"
        );
        if nix::unistd::geteuid().is_root() {
            let cfg = MpmConfig {
                user: Some("#0".into()),
                ..MpmConfig::default()
            };
            let e = drop_privileges(&cfg).unwrap_err();
            assert!(e.contains("serve pages while running as root"), "{e}");
        }
    }

    #[test]
    fn without_user_or_group_privileges_are_kept() {
        assert_eq!(drop_privileges(&MpmConfig::default()), Ok(()));
    }
}
