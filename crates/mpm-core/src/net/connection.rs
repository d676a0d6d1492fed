//! An accepted connection and its facts.
//!
//! [`Connection`] hides whether the bytes travel in clear or through TLS
//! (its TLS half is [`super::tls_stream`]), so a handler never changes when
//! TLS is switched on: it only sees [`ConnInfo`].

use std::cell::OnceCell;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use nix::sys::socket::MsgFlags;

use crate::config::Http2Offer;
use crate::net::listener::Listener;
use crate::net::proxy::{self, Awaited, Expect, Proxied};
#[cfg(feature = "tls")]
use crate::net::tls_stream::TlsStream;
use crate::net::tls_stream::{HandshakeStatus, TlsInfo};

/// The facts of one connection a handler may want.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address: the TCP peer's, or the one a trusted load
    /// balancer's PROXY protocol header gave ([`ConnInfo::proxied`]).
    pub peer: SocketAddr,
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// Index of the listener it came from, in [`crate::Listeners`] order.
    pub listener: usize,
    /// The address that listener was configured with (`*:80`, …).
    pub listen_addr: Arc<str>,
    /// `Some` when the connection is TLS (always `None` in a build without
    /// the `tls` feature).
    pub tls: Option<TlsInfo>,
    /// `Some` when a proxy gave the client's address (`peer`): what it
    /// said and its own address (see [`crate::net::proxy`]).
    pub proxied: Option<Arc<Proxied>>,
}

impl ConnInfo {
    /// True when the connection is TLS.
    pub fn is_secure(&self) -> bool {
        self.tls.is_some()
    }

    /// The TCP peer's address: the proxy's when one gave the client's
    /// address, else `peer` (Apache's `%{c}a`).
    pub fn socket_peer(&self) -> SocketAddr {
        self.proxied.as_ref().map_or(self.peer, |p| p.proxy)
    }

    /// The peer's IP address as text (`127.0.0.1`, `::1`), written into
    /// `buf` rather than a new `String`: the scoreboard takes it for every
    /// request, and an IPv4 address is written without `fmt`.
    pub fn peer_ip_text<'b>(&self, buf: &'b mut [u8; IP_TEXT_LEN]) -> &'b str {
        ip_text(self.peer.ip(), buf)
    }
}

/// The longest text of an IP address:
/// `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
pub const IP_TEXT_LEN: usize = 45;

/// `ip` as `Display` writes it, in `buf`.
fn ip_text(ip: IpAddr, buf: &mut [u8; IP_TEXT_LEN]) -> &str {
    let len = match ip {
        IpAddr::V4(v4) => {
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    buf[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    buf[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                buf[len] = b'0' + octet % 10;
                len += 1;
            }
            len
        }
        IpAddr::V6(v6) => {
            let mut rest = &mut buf[..];
            // Never fails: the longest IPv6 text fits.
            let _ = write!(rest, "{v6}");
            IP_TEXT_LEN - rest.len()
        }
    };
    // Only ASCII digits, dots, colons and hex letters were written.
    std::str::from_utf8(&buf[..len]).unwrap_or("")
}

/// How the bytes travel.
#[derive(Debug)]
enum Transport {
    /// Clear-text TCP.
    Plain(TcpStream),
    /// TLS over TCP (rustls); boxed, as the session state is large.
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream>),
}

/// An accepted socket with its facts.
#[derive(Debug)]
pub struct Connection {
    transport: Transport,
    info: ConnInfo,
    /// The socket is in non-blocking mode (TLS only: chooses whether
    /// reads and writes may wait).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    nonblocking: bool,
    /// A PROXY protocol header to read before anything else.
    proxy: Option<Box<Awaited>>,
    /// How this connection may speak HTTP/2 (its listener's offer).
    http2: Http2Offer,
    /// The peer's IP address as text, made for the first request that
    /// shows it ([`Connection::peer_ip_text`]) and kept for the others.
    peer_text: OnceCell<PeerText>,
}

/// An IP address as text, in place (no allocation).
#[derive(Debug)]
struct PeerText {
    len: usize,
    bytes: [u8; IP_TEXT_LEN],
}

impl Connection {
    /// Wrap an accepted plain TCP stream.
    pub fn plain(stream: TcpStream, listener: usize, listen_addr: Arc<str>) -> io::Result<Self> {
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        Ok(Connection {
            transport: Transport::Plain(stream),
            info: ConnInfo {
                peer,
                local,
                listener,
                listen_addr,
                tls: None,
                proxied: None,
            },
            nonblocking: false,
            proxy: None,
            http2: Http2Offer::default(),
            peer_text: OnceCell::new(),
        })
    }

    /// Wrap a stream just accepted from `listener` (number `index`), with
    /// the peer address `accept` returned. Saves the `getpeername` call,
    /// and the `getsockname` one when the listener is bound to one
    /// address. When the listener carries a TLS configuration, the
    /// connection is TLS and its handshake has not begun: drive it with
    /// [`Connection::handshake_step`] (or
    /// [`crate::net::tls::handshake_blocking`]). When the listener reads
    /// the PROXY protocol, the header comes first, within its own
    /// deadline: the handshake steps read it (or
    /// [`crate::net::proxy::read_blocking`]). The stream may be blocking
    /// or non-blocking; the mode is read here, so set it before.
    pub fn accepted(
        stream: TcpStream,
        peer: SocketAddr,
        index: usize,
        listener: &Listener,
    ) -> io::Result<Self> {
        let local = if listener.local.ip().is_unspecified() {
            stream.local_addr()?
        } else {
            listener.local
        };
        let (transport, nonblocking) = match &listener.tls {
            None => (Transport::Plain(stream), false),
            #[cfg(feature = "tls")]
            Some(cfg) => {
                let t = TlsStream::new(stream, cfg)?;
                let nonblocking = t.socket_is_nonblocking();
                (Transport::Tls(Box::new(t)), nonblocking)
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
        };
        Ok(Connection {
            transport,
            info: ConnInfo {
                peer,
                local,
                listener: index,
                listen_addr: listener.name.clone(),
                tls: None,
                proxied: None,
            },
            nonblocking,
            proxy: awaited(listener, peer),
            http2: listener.http2,
            peer_text: OnceCell::new(),
        })
    }

    /// Tell the connection that its socket is now blocking (`false`) or
    /// non-blocking (`true`), after changing the socket's mode.
    pub fn set_nonblocking_mode(&mut self, nonblocking: bool) {
        self.nonblocking = nonblocking;
    }

    /// How this connection may speak HTTP/2: its listener's
    /// [`Http2Offer`] (none for [`Connection::plain`]).
    pub fn http2_offer(&self) -> Http2Offer {
        self.http2
    }

    /// The connection's facts.
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }

    /// [`ConnInfo::peer_ip_text`], made once per connection: the
    /// scoreboard shows the client of every request, and a kept-alive
    /// connection's client does not change (a PROXY header, read before
    /// any request, sets it anew).
    pub fn peer_ip_text(&self) -> &str {
        let text = self.peer_text.get_or_init(|| {
            let mut bytes = [0; IP_TEXT_LEN];
            let len = self.info.peer_ip_text(&mut bytes).len();
            PeerText { len, bytes }
        });
        // `ip_text` writes ASCII only.
        std::str::from_utf8(&text.bytes[..text.len]).unwrap_or("")
    }

    /// True when the connection is TLS (handshaken or not).
    pub fn is_tls(&self) -> bool {
        match self.transport {
            Transport::Plain(_) => false,
            #[cfg(feature = "tls")]
            Transport::Tls(_) => true,
        }
    }

    /// True while a PROXY header is awaited or a TLS handshake is under
    /// way (or not yet begun).
    pub fn handshake_pending(&self) -> bool {
        if self.proxy.is_some() {
            return true;
        }
        match &self.transport {
            #[cfg(feature = "tls")]
            Transport::Tls(_) => self.info.tls.is_none(),
            Transport::Plain(_) => false,
        }
    }

    /// One step of the TLS handshake that never waits, whatever the
    /// socket's mode: send what is pending, read what has arrived, and say
    /// what to wait for next. `Done` (at once for plain TCP) fills
    /// [`ConnInfo::tls`]. An error ends the connection; when
    /// [`crate::net::tls_stream::is_plain_http`] is true for it, the client spoke
    /// plain HTTP: write [`crate::net::tls::plain_http_response`] with
    /// [`Connection::write_plain`] and close (a lingering close reads the
    /// socket in clear from then on).
    pub fn handshake_step(&mut self) -> io::Result<HandshakeStatus> {
        if !self.read_proxy_header()? {
            return Ok(HandshakeStatus::WantRead);
        }
        match &mut self.transport {
            #[cfg(feature = "tls")]
            Transport::Tls(t) if self.info.tls.is_none() => {
                let status = t.handshake_step()?;
                if status == HandshakeStatus::Done {
                    self.info.tls = Some(t.info());
                }
                Ok(status)
            }
            _ => Ok(HandshakeStatus::Done),
        }
    }

    /// When the PROXY header awaited must have arrived; `None` when none
    /// is (any more).
    pub fn proxy_deadline(&self) -> Option<Instant> {
        self.proxy.as_ref().map(|a| a.deadline)
    }

    /// One step that never waits of reading the awaited PROXY header:
    /// `Ok(true)` once read (or when none is awaited), `Ok(false)` while
    /// incomplete; an error ends the connection (a refused address, a
    /// malformed header, the peer gone). The client's address becomes
    /// [`ConnInfo::peer`].
    pub fn read_proxy_header(&mut self) -> io::Result<bool> {
        let Some(awaited) = &self.proxy else {
            return Ok(true);
        };
        let socket_peer = self.info.peer;
        if awaited.refuse {
            return Err(proxy::untrusted(socket_peer));
        }
        let Some(header) = proxy::read_step(self.tcp(), socket_peer)? else {
            return Ok(false);
        };
        self.proxy = None;
        if let Some((client, destination)) = header.addresses {
            self.info.peer = client;
            self.peer_text = OnceCell::new();
            self.info.proxied = Some(Arc::new(Proxied {
                proxy: socket_peer,
                destination: Some(destination),
                version: header.version,
                tlvs: header.tlvs,
            }));
        }
        Ok(true)
    }

    /// Decrypted bytes already waiting, which a poll on the socket would
    /// not show (two requests in one TLS record): read before waiting.
    pub fn has_buffered_plaintext(&self) -> bool {
        match &self.transport {
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.has_plaintext(),
            Transport::Plain(_) => false,
        }
    }

    /// TLS bytes wait to be sent (after a `WouldBlock` on a non-blocking
    /// socket): call [`Write::flush`] when the socket is writable.
    pub fn wants_write(&self) -> bool {
        match &self.transport {
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.wants_write(),
            Transport::Plain(_) => false,
        }
    }

    /// Write `bytes` to the socket in clear, beside any TLS: for the
    /// plain-HTTP answer on a TLS port.
    pub fn write_plain(&self, bytes: &[u8]) -> io::Result<()> {
        let mut tcp = self.tcp();
        tcp.write_all(bytes)
    }

    /// The plain TCP stream when there is no TLS layer (so a strategy may
    /// use `sendfile`).
    pub fn plain_tcp(&self) -> Option<&TcpStream> {
        match &self.transport {
            Transport::Plain(s) => Some(s),
            #[cfg(feature = "tls")]
            Transport::Tls(_) => None,
        }
    }

    /// The underlying TCP stream, whatever the layer above it.
    pub fn tcp(&self) -> &TcpStream {
        match &self.transport {
            Transport::Plain(s) => s,
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.tcp(),
        }
    }

    /// Read what has already arrived without waiting: `Err(WouldBlock)`
    /// when nothing has (for TLS: no complete record).
    pub fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(s) => {
                nix::sys::socket::recv(s.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT)
                    .map_err(io::Error::from)
            }
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.read_nonblocking(buf),
        }
    }

    /// Hold back partial segments (`TCP_CORK`) until the socket is closed
    /// or shut down for writing, which sends the last one with the FIN:
    /// before the last response of a connection. Plain TCP only; should
    /// the call fail, the response leaves as it would have (one segment
    /// more).
    pub fn cork(&self) {
        if let Some(s) = self.plain_tcp() {
            let _ = socket2::SockRef::from(s).set_cork(true);
        }
    }

    /// Half-close the sending side (for lingering close); TLS says
    /// `close_notify` first (not to a client that spoke plain HTTP).
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Transport::Tls(t) = &mut self.transport {
            t.close_notify(self.nonblocking);
        }
        self.tcp().shutdown(std::net::Shutdown::Write)
    }
}

/// The PROXY header a connection from `peer` to `listener` must send
/// first, if any.
fn awaited(listener: &Listener, peer: SocketAddr) -> Option<Box<Awaited>> {
    let p = listener.proxy.as_ref()?;
    let refuse = match p.expects(peer.ip()) {
        Expect::Nothing => return None,
        Expect::Header => false,
        Expect::Refuse => true,
    };
    let deadline = crate::deadline::after(Instant::now(), p.timeout);
    Some(Box::new(Awaited { deadline, refuse }))
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.read(buf, self.nonblocking),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.write(buf, self.nonblocking),
        }
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(s) => s.write_vectored(bufs),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.write_vectored(bufs, self.nonblocking),
        }
    }
    /// Send every pending byte; for TLS on a non-blocking socket,
    /// `WouldBlock` while some remain ([`Connection::wants_write`]).
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.transport {
            Transport::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.flush(self.nonblocking),
        }
    }
}

impl AsRawFd for Connection {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp().as_raw_fd()
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tcp().as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_writes_what_display_writes() {
        let mut addrs: Vec<IpAddr> = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "127.0.0.1",
            "::",
            "::1",
            "::ffff:1.2.3.4",
            "2001:db8::8a2e:370:7334",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        // The longest text an address has.
        addrs.push(IpAddr::V6(
            std::net::Ipv4Addr::BROADCAST.to_ipv6_compatible(),
        ));
        for octet in 0..=255u8 {
            addrs.push(IpAddr::from([octet, 255 - octet, octet / 7, 99]));
        }
        for addr in addrs {
            let mut buf = [0; IP_TEXT_LEN];
            assert_eq!(
                ip_text(addr, &mut buf),
                addr.to_string(),
                "text of {addr:?}"
            );
        }
    }
}
