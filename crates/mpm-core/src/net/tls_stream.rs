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
    super::tls_hello::Hello, nix::sys::socket::MsgFlags, rustls::ProtocolVersion, std::io::Read,
    std::net::TcpStream, std::os::fd::AsRawFd,
};

#[cfg(feature = "tls")]
mod write;

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

/// Most TLS bytes kept while records are not whole: a handshake message
/// of the 64 KiB rustls accepts, split over records, with their headers
/// and a record more.
#[cfg(feature = "tls")]
const MAX_INCOMING: usize = 96 * 1024;

/// A TCP stream with a rustls server session over it.
///
/// Works on a blocking socket (each read or write may wait, bounded by
/// the socket's timeouts) and on a non-blocking one (`WouldBlock` when
/// the socket has nothing for us or takes nothing more).
///
/// The session is rustls' unbuffered one: the stream owns the bytes on
/// either side of it (`incoming`, `outgoing`, `plaintext`), and each is
/// an empty `Vec` without allocation whenever it holds nothing, so an
/// idle connection keeps only rustls' keys and state. A read goes into
/// the thread's read room and whole records are decrypted there; only a
/// partial record is kept by the connection.
#[cfg(feature = "tls")]
pub(super) struct TlsStream {
    tcp: TcpStream,
    session: Session,
    /// TLS bytes received that do not make a whole record yet (or, before
    /// the session, the ClientHello so far).
    incoming: Vec<u8>,
    /// TLS bytes made for the peer; the first `sent` of them are sent.
    outgoing: Vec<u8>,
    sent: usize,
    /// Decrypted bytes; the first `taken` of them are read.
    plaintext: Vec<u8>,
    taken: usize,
    /// The SNI name of the ClientHello (lower case), as rustls read it,
    /// until [`TlsStream::info`] hands it over.
    sni: Option<Box<str>>,
    /// The first byte has been looked at (plain HTTP detection).
    sniffed: bool,
    /// `close_notify` is queued or sent.
    notified: bool,
    /// The peer said `close_notify` or ended the stream: reads return 0.
    peer_closed: bool,
    /// A fatal TLS error ended the session (its alert is queued).
    failed: bool,
    /// The client spoke plain HTTP (found by [`TlsStream::handshake_step`]):
    /// the session is never used, and reads, writes and the half-close of
    /// a lingering close go to the socket in clear.
    cleartext: bool,
}

/// The rustls side of a [`TlsStream`].
#[cfg(feature = "tls")]
// The session is the common case and lives inline in the stream (itself
// boxed by the connection).
#[allow(clippy::large_enum_variant)]
enum Session {
    /// Reading the ClientHello, whose SNI name and ALPN offer choose the
    /// configuration ([`crate::net::tls::TlsConfig::choose`]).
    Hello(crate::net::tls::TlsConfig),
    /// The session, made with the chosen configuration.
    Ready(rustls::server::UnbufferedServerConnection),
}

#[cfg(feature = "tls")]
impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("tcp", &self.tcp)
            .field(
                "session",
                &match &self.session {
                    Session::Hello(_) => "hello",
                    Session::Ready(c) if c.is_handshaking() => "handshaking",
                    Session::Ready(_) => "ready",
                },
            )
            .field("incoming", &self.incoming.len())
            .field("outgoing", &(self.outgoing.len() - self.sent))
            .field("plaintext", &(self.plaintext.len() - self.taken))
            .field("sni", &self.sni)
            .field("peer_closed", &self.peer_closed)
            .field("failed", &self.failed)
            .field("cleartext", &self.cleartext)
            .finish()
    }
}

/// What rustls is asked to do once it can take application data.
#[cfg(feature = "tls")]
enum Want<'a> {
    /// Nothing: only run it over the bytes received.
    Nothing,
    /// Encrypt these bytes (records appended to `outgoing`).
    Encrypt(&'a [u8]),
    /// Encrypt these bytes into this room, setting how many bytes of
    /// records it holds (0 when they went to `outgoing`: a room too
    /// small).
    Seal(&'a [u8], &'a mut [u8], &'a mut usize),
    /// Say `close_notify`.
    CloseNotify,
}

/// The error of reading or writing application data before the
/// handshake finished (a caller that skipped the handshake).
#[cfg(feature = "tls")]
fn not_handshaken() -> io::Error {
    io::Error::other("the TLS handshake has not finished: drive it with handshake_step first")
}

/// The error of using a session a fatal TLS error ended.
#[cfg(feature = "tls")]
fn session_failed() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the TLS session ended with an error and was closed",
    )
}

#[cfg(feature = "tls")]
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// `recv` once, never waiting when `dont_wait` (whatever the socket's
/// mode); `EINTR` retried.
#[cfg(feature = "tls")]
fn recv(tcp: &TcpStream, buf: &mut [u8], dont_wait: bool) -> io::Result<usize> {
    let flags = if dont_wait {
        MsgFlags::MSG_DONTWAIT
    } else {
        MsgFlags::empty()
    };
    loop {
        match nix::sys::socket::recv(tcp.as_raw_fd(), buf, flags) {
            Err(nix::errno::Errno::EINTR) => {}
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Append the handshake or alert record rustls has for the peer to
/// `out`.
#[cfg(feature = "tls")]
fn encode(
    e: &mut rustls::unbuffered::EncodeTlsData<'_, rustls::server::ServerConnectionData>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    use rustls::unbuffered::EncodeError;
    let need = match e.encode(&mut []) {
        Ok(_) => return Ok(()),
        Err(EncodeError::InsufficientSize(s)) => s.required_size,
        Err(other) => return Err(io::Error::other(other)),
    };
    let start = out.len();
    out.resize(start + need, 0);
    match e.encode(&mut out[start..]) {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(other) => {
            out.truncate(start);
            Err(io::Error::other(other))
        }
    }
}

/// Append what `make` writes to `out`, room grown to what it says it
/// needs: the records of `len` bytes of application data (or an alert).
#[cfg(feature = "tls")]
fn append_records(
    out: &mut Vec<u8>,
    len: usize,
    mut make: impl FnMut(&mut [u8]) -> Result<usize, rustls::unbuffered::EncryptError>,
) -> io::Result<()> {
    use rustls::unbuffered::EncryptError;
    let start = out.len();
    // Each record of at most 16 KiB costs under 64 bytes of header,
    // content type, nonce and tag.
    let mut room = len + (len / (16 * 1024) + 1) * 64;
    loop {
        out.resize(start + room, 0);
        match make(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(s)) if s.required_size > room => {
                room = s.required_size;
            }
            Err(e) => {
                out.truncate(start);
                return Err(io::Error::other(e));
            }
        }
    }
}

#[cfg(feature = "tls")]
impl Drop for TlsStream {
    /// Say `close_notify` (best effort, never waiting), so the client can
    /// tell our close from a cut: a close-delimited body is complete.
    fn drop(&mut self) {
        if !self.notified && !self.cleartext && !self.failed && self.handshaken() {
            self.notified = true;
            if self.drive_incoming(Want::CloseNotify).is_ok() {
                let _ = self.flush_out(true);
            }
        }
    }
}

#[cfg(feature = "tls")]
impl TlsStream {
    /// A server session over `tcp` (accepted, handshake not begun): its
    /// configuration is chosen from `cfg` by the ClientHello.
    pub(super) fn new(tcp: TcpStream, cfg: &crate::net::tls::TlsConfig) -> io::Result<TlsStream> {
        Ok(TlsStream {
            tcp,
            session: Session::Hello(cfg.clone()),
            incoming: Vec::new(),
            outgoing: Vec::new(),
            sent: 0,
            plaintext: Vec::new(),
            taken: 0,
            sni: None,
            sniffed: false,
            notified: false,
            peer_closed: false,
            failed: false,
            cleartext: false,
        })
    }

    /// The handshake is over: application data flows.
    fn handshaken(&self) -> bool {
        matches!(&self.session, Session::Ready(c) if !c.is_handshaking())
    }

    /// Run rustls over `input` (the bytes received and not yet consumed)
    /// until it needs more of them, and do `want` once it takes
    /// application data. Records it decrypts go to `plaintext`, records
    /// it makes to `outgoing`. Returns how many bytes of `input` it
    /// consumed (the rest: a partial record, to keep for the next call)
    /// and whether `want` was done. On a TLS error, the alert rustls
    /// makes is queued (the caller sends it, best effort) and the session
    /// is over.
    fn drive(&mut self, input: &mut [u8], mut want: Want<'_>) -> io::Result<(usize, bool)> {
        use rustls::unbuffered::ConnectionState;
        if self.failed {
            return Err(session_failed());
        }
        let Session::Ready(conn) = &mut self.session else {
            return Err(not_handshaken());
        };
        let mut used = 0;
        let mut done = false;
        let failure = loop {
            let status = conn.process_tls_records(&mut input[used..]);
            let discard = status.discard;
            let state = match status.state {
                Ok(state) => state,
                Err(e) => {
                    used += discard;
                    break e;
                }
            };
            let mut stop = false;
            match state {
                ConnectionState::ReadTraffic(mut records) => {
                    while let Some(record) = records.next_record() {
                        match record {
                            Ok(r) => self.plaintext.extend_from_slice(r.payload),
                            Err(e) => return Err(tls_error(e)),
                        }
                    }
                }
                // Never offered (`max_early_data_size` is 0): dropped.
                ConnectionState::ReadEarlyData(mut records) => {
                    while records.next_record().is_some() {}
                }
                ConnectionState::EncodeTlsData(mut e) => encode(&mut e, &mut self.outgoing)?,
                // Queued in `outgoing`, sent in order by `flush_out`.
                ConnectionState::TransmitTlsData(t) => t.done(),
                ConnectionState::PeerClosed => self.peer_closed = true,
                ConnectionState::Closed => {
                    self.peer_closed = true;
                    stop = true;
                }
                ConnectionState::WriteTraffic(mut w) => {
                    match std::mem::replace(&mut want, Want::Nothing) {
                        Want::Nothing => {}
                        Want::Encrypt(data) => {
                            append_records(&mut self.outgoing, data.len(), |out| {
                                w.encrypt(data, out)
                            })?;
                            done = true;
                        }
                        Want::Seal(data, room, sealed) => {
                            use rustls::unbuffered::EncryptError;
                            match w.encrypt(data, room) {
                                Ok(n) => *sealed = n,
                                // Never: the room holds the records of
                                // the most plaintext a write takes.
                                Err(EncryptError::InsufficientSize(_)) => {
                                    append_records(&mut self.outgoing, data.len(), |out| {
                                        w.encrypt(data, out)
                                    })?
                                }
                                Err(e) => return Err(io::Error::other(e)),
                            }
                            done = true;
                        }
                        Want::CloseNotify => {
                            append_records(&mut self.outgoing, 0, |out| w.queue_close_notify(out))?;
                            done = true;
                        }
                    }
                    stop = true;
                }
                // BlockedHandshake: more bytes needed; and any state a
                // later rustls adds.
                _ => stop = true,
            }
            used += discard;
            if stop {
                return Ok((used, done));
            }
        };
        // The alert rustls queued for the error, as TLS bytes.
        loop {
            let status = conn.process_tls_records(&mut input[used..]);
            used += status.discard;
            match status.state {
                Ok(ConnectionState::EncodeTlsData(mut e)) => {
                    if encode(&mut e, &mut self.outgoing).is_err() {
                        break;
                    }
                }
                Ok(ConnectionState::TransmitTlsData(t)) => t.done(),
                _ => break,
            }
        }
        self.failed = true;
        Err(tls_error(failure))
    }

    /// [`TlsStream::drive`] over the partial record kept from earlier
    /// reads (rustls must always see the bytes it has not consumed).
    fn drive_incoming(&mut self, want: Want<'_>) -> io::Result<bool> {
        let mut incoming = std::mem::take(&mut self.incoming);
        let (used, done) = self.drive(&mut incoming, want)?;
        incoming.drain(..used);
        if !incoming.is_empty() {
            self.incoming = incoming;
        }
        Ok(done)
    }

    /// Read from the socket once and run rustls over what arrived.
    /// `Ok(false)` at the end of the stream. On a TLS error, its alert is
    /// sent (best effort, never waiting).
    fn read_records(&mut self, dont_wait: bool) -> io::Result<bool> {
        if self.incoming.len() >= MAX_INCOMING {
            self.failed = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the client sent a TLS record or handshake message larger than 64 KiB",
            ));
        }
        let r = crate::net::rooms::with_tls_read(|room| self.read_into(room, dont_wait));
        match r {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
                let _ = self.flush_out(true);
                Err(e)
            }
            other => other,
        }
    }

    /// [`TlsStream::read_records`] with `room` to read into: whole
    /// records are decrypted there when no partial one waits; what is
    /// left of a record is kept in `incoming`.
    fn read_into(&mut self, room: &mut [u8], dont_wait: bool) -> io::Result<bool> {
        let n = recv(&self.tcp, room, dont_wait)?;
        if n == 0 {
            return Ok(false);
        }
        self.plaintext.reserve(n);
        if self.incoming.is_empty() {
            let (used, _) = self.drive(&mut room[..n], Want::Nothing)?;
            self.incoming.extend_from_slice(&room[used..n]);
        } else {
            self.incoming.extend_from_slice(&room[..n]);
            self.drive_incoming(Want::Nothing)?;
        }
        Ok(true)
    }

    /// Decrypted bytes, reading records as needed.
    fn read_data(&mut self, buf: &mut [u8], dont_wait: bool) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.taken < self.plaintext.len() {
                let waiting = &self.plaintext[self.taken..];
                let n = waiting.len().min(buf.len());
                buf[..n].copy_from_slice(&waiting[..n]);
                self.taken += n;
                if self.taken == self.plaintext.len() {
                    self.plaintext = Vec::new();
                    self.taken = 0;
                }
                return Ok(n);
            }
            if self.failed {
                return Err(session_failed());
            }
            // After close_notify, or the peer closed without it: the end,
            // for HTTP (its framing says whether a message was cut).
            if self.peer_closed {
                return Ok(0);
            }
            if !self.handshaken() {
                return Err(not_handshaken());
            }
            // A key update or session tickets may wait to be sent. On a
            // non-blocking socket a full send buffer does not stop the
            // read: the caller sees `wants_write` and flushes later.
            if self.wants_write() {
                match self.flush_out(dont_wait) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && dont_wait => {}
                    other => other?,
                }
            }
            if !self.read_records(dont_wait)? {
                self.peer_closed = true;
            }
        }
    }

    /// Whether the socket is in non-blocking mode now.
    pub(super) fn socket_is_nonblocking(&self) -> bool {
        nix::fcntl::fcntl(self.tcp.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .map(|f| {
                nix::fcntl::OFlag::from_bits_truncate(f).contains(nix::fcntl::OFlag::O_NONBLOCK)
            })
            .unwrap_or(false)
    }

    /// The TCP stream under the session.
    pub(super) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// What the handshake negotiated (once it is done). The SNI name
    /// moves to the answer: the connection asks once, when the handshake
    /// is done, and keeps it there.
    pub(super) fn info(&mut self) -> TlsInfo {
        let Session::Ready(conn) = &self.session else {
            return TlsInfo::default();
        };
        TlsInfo {
            sni: self.sni.take().map(String::from),
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
            match self.flush_out(true) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(HandshakeStatus::WantWrite)
                }
                other => other?,
            }
            if self.failed {
                return Err(session_failed());
            }
            if self.handshaken() {
                return Ok(HandshakeStatus::Done);
            }
            if self.peer_closed {
                return Err(io::ErrorKind::UnexpectedEof.into());
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
            let step = if let Session::Hello(_) = self.session {
                self.read_hello()
            } else {
                match self.read_records(true) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(io::ErrorKind::UnexpectedEof.into()),
                    Err(e) => Err(e),
                }
            };
            match step {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(HandshakeStatus::WantRead)
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Decrypted bytes are waiting.
    pub(super) fn has_plaintext(&self) -> bool {
        self.taken < self.plaintext.len()
    }

    /// Read until the ClientHello is whole (`WouldBlock` until then),
    /// make the session with the configuration its SNI name and ALPN
    /// offer choose, and run it over the bytes read.
    fn read_hello(&mut self) -> io::Result<()> {
        let Session::Hello(configs) = &self.session else {
            return Ok(());
        };
        // Through the read room, so a hello that stalls holds only the
        // bytes it sent.
        let n = crate::net::rooms::with_tls_read(|room| {
            let n = recv(&self.tcp, room, true)?;
            self.incoming.extend_from_slice(&room[..n]);
            io::Result::Ok(n)
        })?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut joined = Vec::new();
        let (cfg, sni) = match super::tls_hello::read(&self.incoming, &mut joined) {
            Hello::Incomplete if self.incoming.len() < MAX_INCOMING => return Ok(()),
            Hello::Read { sni, alpn } => (
                configs.choose(sni.as_deref(), alpn.as_ref().map(|a| a.iter().copied())),
                sni,
            ),
            // rustls reads it and says what is wrong.
            Hello::Incomplete | Hello::Unreadable => (configs.server_config().clone(), None),
        };
        self.session = Session::Ready(
            rustls::server::UnbufferedServerConnection::new(cfg).map_err(tls_error)?,
        );
        self.sni = sni.map(String::into_boxed_str);
        match self.drive_incoming(Want::Nothing) {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = self.flush_out(true);
                Err(e)
            }
        }
    }

    /// Read what has already arrived without waiting.
    pub(super) fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cleartext {
            recv(&self.tcp, buf, true)
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
