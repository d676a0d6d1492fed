//! The PROXY protocol: a load balancer in front of the server opens each
//! connection with a header that names the client, so the server sees
//! the client's address instead of the balancer's (HAProxy's
//! `send-proxy`/`send-proxy-v2`, nginx's `proxy_protocol on`, cloud
//! balancers).
//!
//! A listener reads it when it carries a [`ProxyProtocol`]
//! ([`crate::Listeners::set_proxy_protocol`]). Whether a connection must
//! send a header is decided from its address alone, never by sniffing the
//! first bytes (which would let any client forge an address):
//!
//! - an address among the [`ProxyProtocol::exceptions`] connects directly
//!   and sends no header (mod_remoteip's `RemoteIPProxyProtocolExceptions`);
//! - an address among the [`ProxyProtocol::trusted`] senders (any address
//!   when the list is empty, as Apache trusts by external means) must
//!   send a perfect header within [`ProxyProtocol::timeout`], before
//!   anything else, TLS handshake included; a connection that sends none,
//!   a malformed one or none in time is closed;
//! - any other address is refused at once: its header would not be
//!   believed, and it may not connect without one.
//!
//! The header is read without consuming a byte that follows it (it is
//! peeked, parsed, and exactly its length taken), so a header split
//! across TCP segments waits for its rest, and the request or TLS
//! ClientHello behind it stays whole. The client's address then becomes
//! [`ConnInfo::peer`](crate::ConnInfo::peer) (what logs, access rules
//! and the status page use), and what the header said is kept in
//! [`ConnInfo::proxied`](crate::ConnInfo::proxied), with the balancer's
//! own address. Both drivers read it: the event loop as one more step
//! before the head (no worker thread waits for it), the blocking driver
//! with [`read_blocking`] under its own deadline. [`header`] is the
//! sans-IO parser.

pub mod header;

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};
use nix::sys::socket::MsgFlags;

use crate::net::connection::Connection;
use crate::net::ipnet::IpNet;
use crate::net::poll::poll_timeout;
use header::{Parsed, ProxyHeader, Tlvs, MAX_HEADER_LEN};

/// A listener's PROXY protocol settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// The addresses that may send a header; empty: any address.
    pub trusted: Vec<IpNet>,
    /// The addresses that connect without a header (a monitor, a client
    /// on the local network).
    pub exceptions: Vec<IpNet>,
    /// How long the header may take to arrive after the connection is
    /// accepted: short, as a balancer sends it at once ([`Self::TIMEOUT`]
    /// by default), and its own bound, not `Timeout`.
    pub timeout: Duration,
}

impl Default for ProxyProtocol {
    fn default() -> Self {
        ProxyProtocol {
            trusted: Vec::new(),
            exceptions: Vec::new(),
            timeout: Self::TIMEOUT,
        }
    }
}

/// What a listener with the PROXY protocol expects of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A header, first.
    Header,
    /// No header: the address is an exception.
    Nothing,
    /// Nothing: the address may neither send a header nor connect
    /// without one.
    Refuse,
}

impl ProxyProtocol {
    /// The default time a header may take: 5 seconds.
    pub const TIMEOUT: Duration = Duration::from_secs(5);

    /// What a connection from `peer` must do.
    pub fn expects(&self, peer: IpAddr) -> Expect {
        if self.exceptions.iter().any(|n| n.contains(peer)) {
            Expect::Nothing
        } else if self.trusted.is_empty() || self.trusted.iter().any(|n| n.contains(peer)) {
            Expect::Header
        } else {
            Expect::Refuse
        }
    }
}

/// What a PROXY header said, beside the client's address (which becomes
/// the connection's `peer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxied {
    /// The balancer's own address: the TCP peer that sent the header
    /// (Apache's `%{c}a`).
    pub proxy: SocketAddr,
    /// The address the client connected to at the balancer.
    pub destination: Option<SocketAddr>,
    /// The header's version, 1 or 2; 0 when the address came from an
    /// HTTP header (`X-Forwarded-For`) instead.
    pub version: u8,
    /// The version 2 TLVs (ALPN, authority, SSL).
    pub tlvs: Tlvs,
}

/// A header the connection still has to read, and by when.
#[derive(Debug)]
pub(crate) struct Awaited {
    pub(crate) deadline: Instant,
    pub(crate) refuse: bool,
}

/// One attempt that never waits to read the header from `tcp` (whose
/// peer is `peer`): `Ok(None)` while it is not complete.
pub(crate) fn read_step(tcp: &TcpStream, peer: SocketAddr) -> io::Result<Option<Box<ProxyHeader>>> {
    let refused = |why: &dyn std::fmt::Display| {
        log::info!("connection from {peer} refused: {why}");
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("PROXY protocol header from {peer}: {why}"),
        )
    };
    let mut buf = [0u8; MAX_HEADER_LEN];
    let fd = tcp.as_raw_fd();
    let n = match nix::sys::socket::recv(fd, &mut buf, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT)
    {
        Ok(0) => return Err(refused(&"closed before its PROXY header was complete")),
        Ok(n) => n,
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return Ok(None),
        Err(e) => return Err(io::Error::from(e)),
    };
    let (header, len) = match header::parse(&buf[..n]) {
        Ok(Parsed::Incomplete) => return Ok(None),
        Ok(Parsed::Complete { header, len }) => (header, len),
        Err(e) => return Err(refused(&e)),
    };
    // Take exactly the header: it is in the socket's buffer (just peeked).
    let mut taken = 0;
    while taken < len {
        match nix::sys::socket::recv(fd, &mut buf[taken..len], MsgFlags::MSG_DONTWAIT) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => taken += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io::Error::from(e)),
        }
    }
    Ok(Some(header))
}

/// The refusal of a connection from an address that is not trusted.
pub(crate) fn untrusted(peer: SocketAddr) -> io::Error {
    log::info!(
        "connection from {peer} refused: it is not a trusted proxy, and this address expects a PROXY protocol header"
    );
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{peer} is not a trusted sender of PROXY protocol headers"),
    )
}

/// Read the PROXY header of `conn`, waiting (on a blocking or
/// non-blocking socket) until it is complete, its deadline passes or
/// `abort` becomes readable. Does nothing when none is awaited.
pub fn read_blocking(conn: &mut Connection, abort: Option<BorrowedFd<'_>>) -> io::Result<()> {
    while let Some(deadline) = conn.proxy_deadline() {
        if conn.read_proxy_header()? {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            log::debug!(
                "connection from {} closed: no PROXY protocol header in time",
                conn.info().peer
            );
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no PROXY protocol header in time",
            ));
        }
        let sock = conn.as_fd();
        let mut fds = [
            PollFd::new(sock, PollFlags::POLLIN),
            PollFd::new(sock, PollFlags::empty()),
        ];
        if let Some(fd) = abort {
            fds[1] = PollFd::new(fd, PollFlags::POLLIN);
        }
        match nix::poll::poll(&mut fds, poll_timeout(Some(left))) {
            Ok(_) if abort.is_some() && fds[1].revents().is_some_and(|r| !r.is_empty()) => {
                return Err(io::ErrorKind::ConnectionAborted.into());
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io::Error::from(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        IpNet::host(text.parse().unwrap())
    }

    #[test]
    fn the_address_alone_decides_what_is_expected() {
        let open = ProxyProtocol::default();
        assert_eq!(open.expects("192.0.2.1".parse().unwrap()), Expect::Header);
        let p = ProxyProtocol {
            trusted: vec![net("127.0.0.2")],
            exceptions: vec![net("127.0.0.3")],
            ..ProxyProtocol::default()
        };
        assert_eq!(p.expects("127.0.0.2".parse().unwrap()), Expect::Header);
        assert_eq!(
            p.expects("::ffff:127.0.0.2".parse().unwrap()),
            Expect::Header
        );
        assert_eq!(p.expects("127.0.0.3".parse().unwrap()), Expect::Nothing);
        assert_eq!(p.expects("127.0.0.1".parse().unwrap()), Expect::Refuse);
    }
}
