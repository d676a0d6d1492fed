//! Apache's `AcceptFilter`: a listening socket that hands a new connection
//! to `accept` only once the client has sent something (Linux's
//! `TCP_DEFER_ACCEPT`).
//!
//! An HTTP client speaks first, so a connection that has sent nothing yet
//! gives the server nothing to do. With the filter, the kernel completes
//! the handshake but keeps such a connection out of the accept queue until
//! its first bytes arrive (or, after [`DEFER_ACCEPT`], hands it over
//! anyway); no child process or thread is woken for it or sits in a read
//! waiting for it, and the server's first read after `accept` finds the
//! request already there. A client that opens connections in advance, or
//! a port scan, costs the server no worker.
//!
//! As Apache httpd on Linux, `http` and `https` listeners defer by default
//! (`AcceptFilter http data`, `AcceptFilter https data`), and any filter
//! name but `none` means the same (the names of FreeBSD's accept filters,
//! `httpready` and `dataready`, included). `AcceptFilter http none` turns
//! it off: a connection is accepted as soon as its handshake completes.
//! The filter is applied to each socket in the master, before any fork,
//! so every child of every strategy shares it (the socket is one,
//! whoever holds a descriptor); [`crate::Listeners::set_accept_filters`]
//! applies a new choice on restart to the sockets kept.

use std::io;
use std::net::TcpListener;
use std::time::Duration;

use crate::net::listener::Listener;

/// How long the kernel waits for a silent connection's first bytes before
/// handing it to `accept` anyway: 30 seconds, as Apache.
pub const DEFER_ACCEPT: Duration = Duration::from_secs(30);

/// The accept filter of each listening protocol (`AcceptFilter protocol
/// filter`): which protocols' sockets wait for data before a connection is
/// accepted. The default is Apache's on Linux: `http` and `https` do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptFilters {
    /// (protocol, filter), both lower case, the last setting of each
    /// protocol only.
    by_protocol: Vec<(String, String)>,
}

impl Default for AcceptFilters {
    fn default() -> Self {
        AcceptFilters {
            by_protocol: vec![
                ("http".into(), "data".into()),
                ("https".into(), "data".into()),
            ],
        }
    }
}

impl AcceptFilters {
    /// Set the filter of `protocol` (`AcceptFilter protocol filter`):
    /// `none` accepts a connection as soon as its handshake completes;
    /// any other name waits for data, as Apache on Linux.
    pub fn set(&mut self, protocol: &str, filter: &str) {
        let protocol = protocol.to_ascii_lowercase();
        let filter = filter.to_ascii_lowercase();
        match self.by_protocol.iter_mut().find(|(p, _)| *p == protocol) {
            Some(entry) => entry.1 = filter,
            None => self.by_protocol.push((protocol, filter)),
        }
    }

    /// Whether sockets listening for `protocol` wait for the client's
    /// first bytes before a connection is accepted: a filter is set for
    /// it and is not `none`.
    pub fn defers(&self, protocol: &str) -> bool {
        self.by_protocol
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(protocol))
            .is_some_and(|(_, f)| f != "none")
    }

    /// Set (or clear) the filter on `listener`'s socket as its protocol's
    /// setting says; a failure is logged (the socket still serves,
    /// accepting connections before their data), as Apache does.
    pub(crate) fn apply_to(&self, listener: &Listener) {
        let defer = self.defers(&listener.addr.protocol);
        if let Err(e) = apply(&listener.socket, defer) {
            log::warn!(
                "could not {} TCP_DEFER_ACCEPT (AcceptFilter {} {}) on {}: {e}",
                if defer { "set" } else { "clear" },
                listener.addr.protocol,
                if defer { "data" } else { "none" },
                listener.addr
            );
        }
    }
}

/// Make `socket` (listening) wait for data before it hands a connection to
/// `accept` when `defer` is true ([`DEFER_ACCEPT`]), or hand connections
/// over at once when false. On systems without `TCP_DEFER_ACCEPT` nothing
/// changes.
pub fn apply(socket: &TcpListener, defer: bool) -> io::Result<()> {
    let secs = if defer { DEFER_ACCEPT.as_secs() } else { 0 };
    set_defer_accept(socket, secs as libc::c_int)
}

/// Whether `socket` (listening) waits for data before it hands a
/// connection to `accept` ([`apply`] with `defer`): then a connection just
/// accepted has its first bytes there already, and an event loop reads
/// them at once instead of waiting for a readiness event. False where the
/// system has no `TCP_DEFER_ACCEPT` or the question fails.
pub fn defers(socket: &TcpListener) -> bool {
    get_defer_accept(socket).is_ok_and(|secs| secs > 0)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn get_defer_accept(socket: &TcpListener) -> io::Result<libc::c_int> {
    use std::os::fd::AsRawFd;
    let mut secs: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the descriptor is the open socket `socket` borrows for the
    // whole call; the value points to a live `c_int` on this stack frame
    // and `len` holds its size, which bounds what the kernel writes.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&mut secs as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(secs)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn get_defer_accept(_: &TcpListener) -> io::Result<libc::c_int> {
    Ok(0)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_defer_accept(socket: &TcpListener, secs: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the descriptor is the open socket `socket` borrows for the
    // whole call; the option value points to a live `c_int` on this
    // stack frame and `len` is its size, which is what TCP_DEFER_ACCEPT
    // reads; the kernel keeps no pointer after the call returns.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&secs as *const libc::c_int).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_defer_accept(_: &TcpListener, _: libc::c_int) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Instant;

    #[test]
    fn http_and_https_wait_for_data_by_default_and_none_turns_it_off() {
        let mut f = AcceptFilters::default();
        assert!(f.defers("http") && f.defers("HTTPS"));
        assert!(!f.defers("ftp"), "a protocol with no filter set");
        f.set("HTTP", "None");
        assert!(!f.defers("http"));
        assert!(f.defers("https"));
        f.set("http", "httpready");
        assert!(f.defers("http"), "any filter name but none waits");
    }

    /// Accept from the non-blocking `l` until `limit` passes.
    fn accept_within(l: &TcpListener, limit: Duration) -> Option<std::net::TcpStream> {
        let until = Instant::now() + limit;
        loop {
            match l.accept() {
                Ok((s, _)) => return Some(s),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept failed: {e}"),
            }
            if Instant::now() > until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_deferring_socket_accepts_a_connection_only_once_it_has_sent() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        apply(&l, true).unwrap();
        assert!(defers(&l), "the filter set does not read back as set");
        let mut client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        // The handshake is complete on the client's side, yet nothing is
        // there to accept.
        assert!(
            accept_within(&l, Duration::from_millis(300)).is_none(),
            "a connection that sent nothing was accepted"
        );
        client.write_all(b"G").unwrap();
        assert!(
            accept_within(&l, Duration::from_secs(10)).is_some(),
            "the connection was not accepted within 10 s of its first byte"
        );
        // Off again: the next connection is accepted silent.
        apply(&l, false).unwrap();
        assert!(!defers(&l), "the filter cleared still reads back as set");
        let _silent = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        assert!(
            accept_within(&l, Duration::from_secs(10)).is_some(),
            "without the filter a silent connection was not accepted within 10 s"
        );
    }
}
