//! Listening sockets handed to `mpmd` at start, by systemd's socket
//! activation or by the previous master in a binary upgrade: one
//! mechanism for both.
//!
//! The sockets are descriptors 3, 4, … with `LISTEN_FDS` (how many),
//! `LISTEN_PID` (the process they are for: ours, or the variables are
//! someone else's and ignored) and `LISTEN_FDNAMES`, as `sd_listen_fds(3)`
//! says (read with the `sd-notify` crate). A binary upgrade passes
//! them the same way, plus `MPMD_UPGRADE_FD`: the descriptor of the socket
//! on which the new master tells the old one it serves (see
//! [`crate::upgrade`]).
//!
//! Each socket is matched to a `Listen` directive by its address and port
//! ([`ListenAddr::is_bound_at`]) and used instead of binding
//! ([`Listeners::bind_with`]); a `Listen` with no socket is bound as usual.
//! A socket-activated socket that no `Listen` takes is an error naming
//! both (the unit and the configuration disagree); after an upgrade, a
//! socket whose `Listen` was removed is closed.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use mpm::strategy::{Inherited, ListenAddr};

/// The variable naming the upgrade socket's descriptor.
pub const UPGRADE_FD: &str = "MPMD_UPGRADE_FD";

/// Take the descriptor of the upgrade socket the previous master passed
/// (only when `LISTEN_PID` is ours), and remove the variable. Call before
/// [`take_sockets`], which removes `LISTEN_PID`.
pub fn take_upgrade_fd() -> Result<Option<OwnedFd>, String> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        == Some(std::process::id());
    let text = std::env::var(UPGRADE_FD).ok();
    std::env::remove_var(UPGRADE_FD);
    let (true, Some(text)) = (ours, text) else {
        return Ok(None);
    };
    let fd: RawFd = text
        .trim()
        .parse()
        .map_err(|_| format!("{UPGRADE_FD}={text} is not a descriptor number"))?;
    nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(|e| format!("{UPGRADE_FD}={fd}: {}", e.desc()))?;
    // SAFETY: the previous master passed this descriptor open, for this
    // process (LISTEN_PID is ours), and nothing else here owns it.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Take the listening sockets the environment hands this process, and
/// remove the variables (so nothing started later mistakes them for its
/// own). An error when a descriptor is not a listening TCP socket.
pub fn take_sockets() -> Result<Vec<Inherited>, String> {
    let fds = sd_notify::listen_fds_with_names(true)
        .map_err(|e| format!("the inherited sockets (LISTEN_FDS, LISTEN_FDNAMES): {e}"))?;
    fds.map(|(fd, name)| listener_from(fd, name)).collect()
}

fn listener_from(fd: RawFd, name: String) -> Result<Inherited, String> {
    use nix::sys::socket::{getsockopt, sockopt};
    // SAFETY: sd_listen_fds hands this process descriptors 3 … 3+n-1 for
    // it alone (LISTEN_PID checked by the crate); each is owned once here.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let listening = getsockopt(&owned, sockopt::AcceptConn).unwrap_or(false);
    let stream = getsockopt(&owned, sockopt::SockType)
        .is_ok_and(|t| t == nix::sys::socket::SockType::Stream);
    let socket = TcpListener::from(owned);
    let inherited = Inherited::new(socket, name.clone());
    match inherited {
        Ok(s) if listening && stream => Ok(s),
        _ => Err(format!(
            "inherited descriptor {fd} ({name}) is not a listening TCP socket: \
             give mpmd stream sockets only (ListenStream= in the .socket unit)"
        )),
    }
}

/// Check the sockets no `Listen` took. Socket activation: an error
/// naming the socket and the directive it should have matched. After an
/// upgrade: each is closed, and logged.
pub fn leftovers(
    left: Vec<Inherited>,
    listens: &[ListenAddr],
    upgrade: bool,
) -> Result<(), String> {
    for s in left {
        if upgrade {
            log::info!(
                "the previous master's socket {} is no longer configured: closed here",
                s.display_addr()
            );
            continue;
        }
        return Err(mismatch(&s.local, &s.name, listens));
    }
    Ok(())
}

/// The one-line error for a socket-activated socket at `local` that no
/// `Listen` among `listens` takes.
pub fn mismatch(local: &SocketAddr, name: &str, listens: &[ListenAddr]) -> String {
    let at = if local.ip().is_unspecified() {
        format!("*:{}", local.port())
    } else {
        local.to_string()
    };
    match listens.iter().find(|l| l.port == local.port()) {
        Some(l) => format!(
            "the socket-activated socket {at} ({name}) does not match `Listen {l}`: \
             give ListenStream= in the .socket unit and Listen the same address"
        ),
        None => {
            let all: Vec<String> = listens.iter().map(|l| l.to_string()).collect();
            format!(
                "the socket-activated socket {at} ({name}) matches no Listen directive \
                 (Listen {}): add `Listen {at}` or remove it from the .socket unit",
                if all.is_empty() {
                    "none".to_string()
                } else {
                    all.join(", ")
                }
            )
        }
    }
}

/// The socket-activated addresses still need a `Listen` after a reload
/// (their sockets are systemd's, kept across restarts): the error for the
/// first one the new configuration lacks.
pub fn still_configured(
    activated: &[(SocketAddr, String)],
    listens: &[ListenAddr],
) -> Result<(), String> {
    for (local, name) in activated {
        if !listens.iter().any(|l| l.is_bound_at(local)) {
            return Err(mismatch(local, name, listens));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn la(s: &str) -> ListenAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_mismatch_names_the_socket_and_the_listen_directive() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let e = mismatch(&local, "web", &[la("127.0.0.2:8080")]);
        assert!(
            e.contains("127.0.0.1:8080 (web) does not match `Listen 127.0.0.2:8080`"),
            "{e}"
        );
        let e = mismatch(&local, "web", &[la("9000"), la("127.0.0.1:9001")]);
        assert!(
            e.contains("matches no Listen directive (Listen *:9000, 127.0.0.1:9001)"),
            "{e}"
        );
    }

    #[test]
    fn an_activated_address_must_stay_configured() {
        let local: SocketAddr = "[::]:8080".parse().unwrap();
        let act = vec![(local, "web".to_string())];
        assert!(still_configured(&act, &[la("8080")]).is_ok());
        let e = still_configured(&act, &[la("8081")]).unwrap_err();
        assert!(e.contains("*:8080 (web) matches no Listen"), "{e}");
    }
}
