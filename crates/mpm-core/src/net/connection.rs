//! An accepted connection and its facts.
//!
//! [`Connection`] hides whether the bytes travel in clear or through TLS, so
//! a handler never changes when TLS is switched on: it only sees
//! [`ConnInfo`].

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

use nix::sys::socket::MsgFlags;

use crate::net::tls::HandshakeStatus;

/// What a TLS session negotiated; filled in by the TLS acceptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The SNI name the client sent, if any.
    pub sni: Option<String>,
    /// Negotiated protocol version, e.g. `TLSv1.3`.
    pub version: String,
    /// Negotiated ALPN protocol, e.g. `http/1.1`.
    pub alpn: Option<String>,
}

/// The facts of one connection a handler may want.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// Index of the listener it came from, in [`crate::Listeners`] order.
    pub listener: usize,
    /// The address that listener was configured with (`*:80`, …).
    pub listen_addr: Arc<str>,
    /// `Some` when the connection is TLS.
    pub tls: Option<TlsInfo>,
}

impl ConnInfo {
    /// True when the connection is TLS.
    pub fn is_secure(&self) -> bool {
        self.tls.is_some()
    }
}

/// How the bytes travel.
#[derive(Debug)]
pub enum Transport {
    /// Clear-text TCP.
    Plain(TcpStream),
    /// TLS over TCP (rustls); boxed, as the session state is large.
    Tls(Box<TlsStream>),
}

/// A TCP stream with a rustls server session over it.
///
/// Works on a blocking socket (each read or write may wait, bounded by
/// the socket's timeouts) and on a non-blocking one (`WouldBlock` when
/// the socket has nothing for us or takes nothing more).
#[derive(Debug)]
pub struct TlsStream {
    tcp: TcpStream,
    session: rustls::ServerConnection,
    /// The first byte has been looked at (plain HTTP detection).
    sniffed: bool,
    /// Decrypted bytes are waiting in the session (as of the last read).
    plaintext: bool,
    /// `close_notify` is queued or sent.
    notified: bool,
    /// The client spoke plain HTTP (found by [`Connection::handshake_step`]):
    /// the session is never used, and reads, writes and the half-close of
    /// a lingering close go to the socket in clear. (Through the session,
    /// a lingering close would feed the client's HTTP to rustls, which
    /// then alerts after its `close_notify`: a debug assertion.)
    cleartext: bool,
}

impl Drop for TlsStream {
    /// Say `close_notify` (best effort, never waiting), so the client can
    /// tell our close from a cut: a close-delimited body is complete.
    fn drop(&mut self) {
        if !self.notified && !self.session.is_handshaking() {
            self.session.send_close_notify();
            let _ = self.flush_tls(true);
        }
    }
}

/// `recv`/`send` with `MSG_DONTWAIT`: never waits, whatever the socket's
/// mode, so a handshake step cannot block.
struct DontWait<'a>(&'a TcpStream);

impl Read for DontWait<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        nix::sys::socket::recv(self.0.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT)
            .map_err(io::Error::from)
    }
}

impl Write for DontWait<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        nix::sys::socket::send(
            self.0.as_raw_fd(),
            buf,
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        )
        .map_err(io::Error::from)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// Send what rustls has for the peer, until it has nothing or the
    /// socket takes nothing more (`WouldBlock`, or a timeout on a blocking
    /// socket).
    fn flush_tls(&mut self, dont_wait: bool) -> io::Result<()> {
        while self.session.wants_write() {
            let r = if dont_wait {
                self.session.write_tls(&mut DontWait(&self.tcp))
            } else {
                self.session.write_tls(&mut &self.tcp)
            };
            match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Read TLS records from the socket once and decrypt them. `Ok(false)`
    /// at the end of the stream.
    fn read_records(&mut self, dont_wait: bool) -> io::Result<bool> {
        let n = loop {
            let r = if dont_wait {
                self.session.read_tls(&mut DontWait(&self.tcp))
            } else {
                self.session.read_tls(&mut &self.tcp)
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        match self.session.process_new_packets() {
            Ok(state) => {
                self.plaintext = state.plaintext_bytes_to_read() > 0;
            }
            Err(e) => {
                // Tell the peer why (the alert rustls queued), best effort.
                let _ = self.flush_tls(true);
                return Err(tls_error(e));
            }
        }
        Ok(n > 0)
    }

    /// Decrypted bytes, reading records as needed.
    fn read_data(&mut self, buf: &mut [u8], dont_wait: bool) -> io::Result<usize> {
        loop {
            match self.session.reader().read(buf) {
                Ok(n) => {
                    if let Ok(state) = self.session.process_new_packets() {
                        self.plaintext = state.plaintext_bytes_to_read() > 0;
                    }
                    return Ok(n);
                }
                // The peer closed without close_notify: the end, for HTTP
                // (its framing says whether a message was cut).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            self.plaintext = false;
            // A handshake or key update may want an answer first. On a
            // non-blocking socket a full send buffer does not stop the
            // read: the caller sees `wants_write` and flushes later.
            if self.session.wants_write() {
                match self.flush_tls(dont_wait) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && dont_wait => {}
                    other => other?,
                }
            }
            if !self.read_records(dont_wait)? {
                return Ok(0);
            }
        }
    }

    /// Take plaintext into rustls (at most its buffer limit) and send what
    /// it can; `WouldBlock` only when nothing was taken.
    fn write_data(&mut self, buf: &[u8], dont_wait: bool) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Room first: on a blocking socket this empties the buffer.
        match self.flush_tls(dont_wait) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => other?,
        }
        let n = self.session.writer().write(buf)?;
        match self.flush_tls(dont_wait) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => {}
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn nonblocking(&self) -> bool {
        nix::fcntl::fcntl(self.tcp.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .map(|f| {
                nix::fcntl::OFlag::from_bits_truncate(f).contains(nix::fcntl::OFlag::O_NONBLOCK)
            })
            .unwrap_or(false)
    }
}

/// An accepted socket with its facts.
#[derive(Debug)]
pub struct Connection {
    transport: Transport,
    info: ConnInfo,
    /// The socket is in non-blocking mode (TLS only: chooses whether
    /// reads and writes may wait).
    nonblocking: bool,
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
            },
            nonblocking: false,
        })
    }

    /// Wrap a stream just accepted from `listener` (number `index`), with
    /// the peer address `accept` returned. Saves the `getpeername` call,
    /// and the `getsockname` one when the listener is bound to one
    /// address. When the listener carries a TLS configuration, the
    /// connection is TLS and its handshake has not begun: drive it with
    /// [`Connection::handshake_step`] (or
    /// [`crate::net::tls::handshake_blocking`]). The stream may be blocking or
    /// non-blocking; the mode is read here, so set it before.
    pub fn accepted(
        stream: TcpStream,
        peer: SocketAddr,
        index: usize,
        listener: &crate::net::listener::Listener,
    ) -> io::Result<Self> {
        let local = if listener.local.ip().is_unspecified() {
            stream.local_addr()?
        } else {
            listener.local
        };
        let transport = match &listener.tls {
            None => Transport::Plain(stream),
            Some(cfg) => Transport::Tls(Box::new(Self::tls_stream(stream, cfg.clone())?)),
        };
        let mut conn = Connection {
            transport,
            info: ConnInfo {
                peer,
                local,
                listener: index,
                listen_addr: listener.name.clone(),
                tls: None,
            },
            nonblocking: false,
        };
        if let Transport::Tls(t) = &conn.transport {
            conn.nonblocking = t.nonblocking();
        }
        Ok(conn)
    }

    fn tls_stream(tcp: TcpStream, cfg: Arc<rustls::ServerConfig>) -> io::Result<TlsStream> {
        let mut session = rustls::ServerConnection::new(cfg).map_err(tls_error)?;
        session.set_buffer_limit(Some(crate::net::tls::SEND_BUFFER_LIMIT));
        Ok(TlsStream {
            tcp,
            session,
            sniffed: false,
            plaintext: false,
            notified: false,
            cleartext: false,
        })
    }

    /// Tell the connection that its socket is now blocking (`false`) or
    /// non-blocking (`true`), after changing the socket's mode.
    pub fn set_nonblocking_mode(&mut self, nonblocking: bool) {
        self.nonblocking = nonblocking;
    }

    /// The connection's facts.
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }

    /// True when the connection is TLS (handshaken or not).
    pub fn is_tls(&self) -> bool {
        matches!(self.transport, Transport::Tls(_))
    }

    /// True while a TLS handshake is under way (or not yet begun).
    pub fn handshake_pending(&self) -> bool {
        match &self.transport {
            Transport::Tls(_) => self.info.tls.is_none(),
            Transport::Plain(_) => false,
        }
    }

    /// One step of the TLS handshake that never waits, whatever the
    /// socket's mode: send what is pending, read what has arrived, and say
    /// what to wait for next. `Done` (at once for plain TCP) fills
    /// [`ConnInfo::tls`]. An error ends the connection; when
    /// [`crate::net::tls::is_plain_http`] is true for it, the client spoke
    /// plain HTTP: write [`crate::net::tls::plain_http_response`] with
    /// [`Connection::write_plain`] and close (a lingering close reads the
    /// socket in clear from then on).
    pub fn handshake_step(&mut self) -> io::Result<HandshakeStatus> {
        let Transport::Tls(t) = &mut self.transport else {
            return Ok(HandshakeStatus::Done);
        };
        if self.info.tls.is_some() {
            return Ok(HandshakeStatus::Done);
        }
        loop {
            match t.flush_tls(true) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(HandshakeStatus::WantWrite)
                }
                other => other?,
            }
            if !t.session.is_handshaking() {
                self.info.tls = Some(TlsInfo {
                    sni: t.session.server_name().map(str::to_string),
                    version: crate::net::tls::version_name(t.session.protocol_version()),
                    alpn: t
                        .session
                        .alpn_protocol()
                        .map(|p| String::from_utf8_lossy(p).into_owned()),
                });
                return Ok(HandshakeStatus::Done);
            }
            if !t.sniffed {
                let mut first = [0u8; 1];
                match nix::sys::socket::recv(
                    t.tcp.as_raw_fd(),
                    &mut first,
                    MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
                ) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(_) if first[0] != 0x16 => {
                        t.cleartext = true;
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            crate::net::tls::PlainHttp,
                        ));
                    }
                    Ok(_) => t.sniffed = true,
                    Err(nix::errno::Errno::EAGAIN) => return Ok(HandshakeStatus::WantRead),
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            match t.read_records(true) {
                Ok(true) => {}
                Ok(false) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(HandshakeStatus::WantRead)
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Decrypted bytes already waiting, which a poll on the socket would
    /// not show (two requests in one TLS record): read before waiting.
    pub fn has_buffered_plaintext(&self) -> bool {
        match &self.transport {
            Transport::Tls(t) => t.plaintext,
            Transport::Plain(_) => false,
        }
    }

    /// TLS bytes wait to be sent (after a `WouldBlock` on a non-blocking
    /// socket): call [`Write::flush`] when the socket is writable.
    pub fn wants_write(&self) -> bool {
        match &self.transport {
            Transport::Tls(t) => t.session.wants_write(),
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
            Transport::Tls(_) => None,
        }
    }

    /// The underlying TCP stream, whatever the layer above it.
    pub fn tcp(&self) -> &TcpStream {
        match &self.transport {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &t.tcp,
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
            Transport::Tls(t) if t.cleartext => DontWait(&t.tcp).read(buf),
            Transport::Tls(t) => t.read_data(buf, true),
        }
    }

    /// Half-close the sending side (for lingering close); TLS says
    /// `close_notify` first (not to a client that spoke plain HTTP).
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if let Transport::Tls(t) = &mut self.transport {
            if !t.cleartext {
                t.session.send_close_notify();
                t.notified = true;
                let _ = t.flush_tls(self.nonblocking);
            }
        }
        self.tcp().shutdown(std::net::Shutdown::Write)
    }
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) if t.cleartext => t.tcp.read(buf),
            Transport::Tls(t) => t.read_data(buf, self.nonblocking),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) if t.cleartext => t.tcp.write(buf),
            Transport::Tls(t) => t.write_data(buf, self.nonblocking),
        }
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(s) => s.write_vectored(bufs),
            Transport::Tls(t) if t.cleartext => t.tcp.write_vectored(bufs),
            Transport::Tls(t) => {
                let first = bufs.iter().find(|b| !b.is_empty());
                t.write_data(first.map_or(&[][..], |b| &b[..]), self.nonblocking)
            }
        }
    }
    /// Send every pending byte; for TLS on a non-blocking socket,
    /// `WouldBlock` while some remain ([`Connection::wants_write`]).
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.transport {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(t) if t.cleartext => t.tcp.flush(),
            Transport::Tls(t) => t.flush_tls(self.nonblocking),
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
