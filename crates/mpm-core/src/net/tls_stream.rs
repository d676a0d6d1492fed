//! TLS over an accepted TCP stream: the rustls server session read and
//! written on a blocking or a non-blocking socket, its handshake driven one
//! step at a time that never waits ([`HandshakeStatus`]), and plain HTTP
//! recognised at the first byte (a TLS record starts with 0x16:
//! [`is_plain_http`]). [`crate::Connection`] wraps it, so a handler never
//! knows whether TLS is on; [`super::tls`] builds the configurations.
//!
//! Without the `tls` feature only the words a connection uses remain
//! ([`TlsInfo`], [`HandshakeStatus`], [`is_plain_http`]); no session is
//! ever made, so a handshake step is done at once.

use std::fmt;
use std::io;
#[cfg(feature = "tls")]
use {
    nix::sys::socket::MsgFlags,
    rustls::ProtocolVersion,
    std::io::{Read, Write},
    std::net::TcpStream,
    std::os::fd::AsRawFd,
    std::sync::Arc,
};

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

/// Most plaintext rustls buffers for sending before `write` stops taking
/// more (so a non-blocking writer sees back-pressure).
#[cfg(feature = "tls")]
const SEND_BUFFER_LIMIT: usize = 64 * 1024;

/// Where a handshake stands after [`crate::Connection::handshake_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeStatus {
    /// Finished: the connection carries application data and
    /// [`crate::ConnInfo::tls`] is filled in.
    Done,
    /// Waiting for the client: call again when the socket is readable.
    WantRead,
    /// Our bytes are pending: call again when the socket is writable.
    WantWrite,
}

/// The marker error inside the `io::Error` of a handshake that met plain
/// HTTP (see [`is_plain_http`]).
#[derive(Debug)]
pub struct PlainHttp;

impl fmt::Display for PlainHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("plain HTTP received on a TLS port")
    }
}

impl std::error::Error for PlainHttp {}

/// True when a handshake error means the client spoke plain HTTP: answer
/// [`crate::net::tls::plain_http_response`] in clear and close.
pub fn is_plain_http(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<PlainHttp>())
}

/// A TCP stream with a rustls server session over it.
///
/// Works on a blocking socket (each read or write may wait, bounded by
/// the socket's timeouts) and on a non-blocking one (`WouldBlock` when
/// the socket has nothing for us or takes nothing more).
#[derive(Debug)]
#[cfg(feature = "tls")]
pub(super) struct TlsStream {
    tcp: TcpStream,
    session: Session,
    /// The first byte has been looked at (plain HTTP detection).
    sniffed: bool,
    /// Decrypted bytes are waiting in the session (as of the last read).
    plaintext: bool,
    /// `close_notify` is queued or sent.
    notified: bool,
    /// The client spoke plain HTTP (found by [`TlsStream::handshake_step`]):
    /// the session is never used, and reads, writes and the half-close of
    /// a lingering close go to the socket in clear. (Through the session,
    /// a lingering close would feed the client's HTTP to rustls, which
    /// then alerts after its `close_notify`: a debug assertion.)
    cleartext: bool,
}

/// The rustls side of a [`TlsStream`].
#[cfg(feature = "tls")]
// The session is the common case and lives inline in the stream (itself
// boxed by the connection); the rare ClientHello look is the boxed one.
#[allow(clippy::large_enum_variant)]
enum Session {
    /// Reading the ClientHello, whose SNI name (and ALPN offer) chooses
    /// the configuration ([`crate::net::tls::TlsConfig`]: a host whose
    /// `Protocols` differ from the address's).
    Hello(Box<(rustls::server::Acceptor, crate::net::tls::TlsConfig)>),
    /// The session, from the first byte when the configuration is the
    /// address's whatever the client says.
    Ready(rustls::ServerConnection),
}

#[cfg(feature = "tls")]
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Session::Hello(_) => f.write_str("Hello"),
            Session::Ready(c) => c.fmt(f),
        }
    }
}

/// The error of reading or writing application data before the
/// handshake chose a configuration (a caller that skipped the
/// handshake).
#[cfg(feature = "tls")]
fn not_handshaken() -> io::Error {
    io::Error::other("the TLS handshake has not finished: drive it with handshake_step first")
}

#[cfg(feature = "tls")]
impl Drop for TlsStream {
    /// Say `close_notify` (best effort, never waiting), so the client can
    /// tell our close from a cut: a close-delimited body is complete.
    fn drop(&mut self) {
        if let Session::Ready(conn) = &mut self.session {
            if !self.notified && !conn.is_handshaking() {
                conn.send_close_notify();
                let _ = self.flush_tls(true);
            }
        }
    }
}

/// `recv`/`send` with `MSG_DONTWAIT`: never waits, whatever the socket's
/// mode, so a handshake step cannot block.
#[cfg(feature = "tls")]
struct DontWait<'a>(&'a TcpStream);

#[cfg(feature = "tls")]
impl Read for DontWait<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        nix::sys::socket::recv(self.0.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT)
            .map_err(io::Error::from)
    }
}

#[cfg(feature = "tls")]
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

#[cfg(feature = "tls")]
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[cfg(feature = "tls")]
impl TlsStream {
    /// Send what rustls has for the peer, until it has nothing or the
    /// socket takes nothing more (`WouldBlock`, or a timeout on a blocking
    /// socket).
    fn flush_tls(&mut self, dont_wait: bool) -> io::Result<()> {
        let Session::Ready(conn) = &mut self.session else {
            return Ok(());
        };
        while conn.wants_write() {
            let r = if dont_wait {
                conn.write_tls(&mut DontWait(&self.tcp))
            } else {
                conn.write_tls(&mut &self.tcp)
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
        let Session::Ready(conn) = &mut self.session else {
            return Err(not_handshaken());
        };
        let n = loop {
            let r = if dont_wait {
                conn.read_tls(&mut DontWait(&self.tcp))
            } else {
                conn.read_tls(&mut &self.tcp)
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        match conn.process_new_packets() {
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
            let Session::Ready(conn) = &mut self.session else {
                return Err(not_handshaken());
            };
            match conn.reader().read(buf) {
                Ok(n) => {
                    if let Ok(state) = conn.process_new_packets() {
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
            if conn.wants_write() {
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
        let Session::Ready(conn) = &mut self.session else {
            return Err(not_handshaken());
        };
        let n = conn.writer().write(buf)?;
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

    /// Whether the socket is in non-blocking mode now.
    pub(super) fn socket_is_nonblocking(&self) -> bool {
        nix::fcntl::fcntl(self.tcp.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .map(|f| {
                nix::fcntl::OFlag::from_bits_truncate(f).contains(nix::fcntl::OFlag::O_NONBLOCK)
            })
            .unwrap_or(false)
    }

    /// A server session over `tcp` (accepted, handshake not begun).
    pub(super) fn new(tcp: TcpStream, cfg: &crate::net::tls::TlsConfig) -> io::Result<TlsStream> {
        let session = if cfg.looks_at_hello() {
            Session::Hello(Box::new((rustls::server::Acceptor::default(), cfg.clone())))
        } else {
            Session::Ready(start(cfg.server_config().clone())?)
        };
        Ok(TlsStream {
            tcp,
            session,
            sniffed: false,
            plaintext: false,
            notified: false,
            cleartext: false,
        })
    }

    /// The TCP stream under the session.
    pub(super) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// What the handshake negotiated (once it is done).
    pub(super) fn info(&self) -> TlsInfo {
        let Session::Ready(conn) = &self.session else {
            return TlsInfo::default();
        };
        TlsInfo {
            sni: conn.server_name().map(str::to_string),
            version: version_name(conn.protocol_version()),
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        }
    }

    /// One step of the handshake that never waits, whatever the socket's
    /// mode (see [`crate::Connection::handshake_step`]).
    pub(super) fn handshake_step(&mut self) -> io::Result<HandshakeStatus> {
        loop {
            match self.flush_tls(true) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(HandshakeStatus::WantWrite)
                }
                other => other?,
            }
            if let Session::Ready(conn) = &self.session {
                if !conn.is_handshaking() {
                    return Ok(HandshakeStatus::Done);
                }
            }
            if !self.sniffed {
                let mut first = [0u8; 1];
                match nix::sys::socket::recv(
                    self.tcp.as_raw_fd(),
                    &mut first,
                    MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
                ) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(_) if first[0] != 0x16 => {
                        self.cleartext = true;
                        return Err(io::Error::new(io::ErrorKind::InvalidData, PlainHttp));
                    }
                    Ok(_) => self.sniffed = true,
                    Err(nix::errno::Errno::EAGAIN) => return Ok(HandshakeStatus::WantRead),
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            if let Session::Hello(_) = self.session {
                match self.read_hello() {
                    Ok(()) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(HandshakeStatus::WantRead)
                    }
                    Err(e) => return Err(e),
                }
            }
            match self.read_records(true) {
                Ok(true) => {}
                Ok(false) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(HandshakeStatus::WantRead)
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Decrypted bytes are waiting (as of the last read).
    pub(super) fn has_plaintext(&self) -> bool {
        self.plaintext
    }

    /// Read the ClientHello (once: `WouldBlock` until it is whole) and
    /// make the session with the configuration it chooses.
    fn read_hello(&mut self) -> io::Result<()> {
        let Session::Hello(hello) = &mut self.session else {
            return Ok(());
        };
        let (acceptor, configs) = &mut **hello;
        loop {
            match acceptor.read_tls(&mut DontWait(&self.tcp)) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let accepted = match acceptor.accept() {
                Ok(None) => continue,
                Ok(Some(accepted)) => accepted,
                Err((e, mut alert)) => {
                    let _ = alert.write_all(&mut DontWait(&self.tcp));
                    return Err(tls_error(e));
                }
            };
            let hello = accepted.client_hello();
            let cfg = configs.choose(hello.server_name(), hello.alpn());
            let mut conn = match accepted.into_connection(cfg) {
                Ok(conn) => conn,
                Err((e, mut alert)) => {
                    let _ = alert.write_all(&mut DontWait(&self.tcp));
                    return Err(tls_error(e));
                }
            };
            conn.set_buffer_limit(Some(SEND_BUFFER_LIMIT));
            self.session = Session::Ready(conn);
            return Ok(());
        }
    }

    /// TLS bytes wait to be sent.
    pub(super) fn wants_write(&self) -> bool {
        matches!(&self.session, Session::Ready(conn) if conn.wants_write())
    }

    /// Read what has already arrived without waiting.
    pub(super) fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cleartext {
            DontWait(&self.tcp).read(buf)
        } else {
            self.read_data(buf, true)
        }
    }

    /// Read decrypted bytes (the socket in clear after plain HTTP).
    pub(super) fn read(&mut self, buf: &mut [u8], nonblocking: bool) -> io::Result<usize> {
        if self.cleartext {
            self.tcp.read(buf)
        } else {
            self.read_data(buf, nonblocking)
        }
    }

    /// Write through the session (the socket in clear after plain HTTP).
    pub(super) fn write(&mut self, buf: &[u8], nonblocking: bool) -> io::Result<usize> {
        if self.cleartext {
            self.tcp.write(buf)
        } else {
            self.write_data(buf, nonblocking)
        }
    }

    /// As [`TlsStream::write`], with the first non-empty slice only
    /// through the session.
    pub(super) fn write_vectored(
        &mut self,
        bufs: &[io::IoSlice<'_>],
        nonblocking: bool,
    ) -> io::Result<usize> {
        if self.cleartext {
            return self.tcp.write_vectored(bufs);
        }
        let first = bufs.iter().find(|b| !b.is_empty());
        self.write_data(first.map_or(&[][..], |b| &b[..]), nonblocking)
    }

    /// Send every pending byte.
    pub(super) fn flush(&mut self, nonblocking: bool) -> io::Result<()> {
        if self.cleartext {
            self.tcp.flush()
        } else {
            self.flush_tls(nonblocking)
        }
    }

    /// Say `close_notify` before a half-close (not to a client that spoke
    /// plain HTTP).
    pub(super) fn close_notify(&mut self, nonblocking: bool) {
        if let (false, Session::Ready(conn)) = (self.cleartext, &mut self.session) {
            conn.send_close_notify();
            self.notified = true;
            let _ = self.flush_tls(nonblocking);
        }
    }
}

/// A session with `cfg`, its send buffer bounded.
#[cfg(feature = "tls")]
fn start(cfg: Arc<rustls::ServerConfig>) -> io::Result<rustls::ServerConnection> {
    let mut conn = rustls::ServerConnection::new(cfg).map_err(tls_error)?;
    conn.set_buffer_limit(Some(SEND_BUFFER_LIMIT));
    Ok(conn)
}

/// The name of a negotiated protocol version (`TLSv1.3`).
#[cfg(feature = "tls")]
fn version_name(v: Option<ProtocolVersion>) -> String {
    match v {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}
