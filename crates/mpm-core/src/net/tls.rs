//! TLS with rustls: building a listening address's [`ServerConfig`] from its
//! hosts' certificates, and driving a connection's handshake.
//!
//! What lives here, in the order a connection meets it:
//!
//! - [`from_pem_files`]: the short way, one certificate and its key with
//!   the defaults below.
//! - [`load_certified_key`]: a certificate chain (PEM, leaf first) and its
//!   private key (PKCS#8, PKCS#1 or SEC1 PEM), parsed and checked to match;
//!   every error names the file and the problem (`mpmd -t` prints it).
//! - [`TlsPolicy`]: the protocol versions (TLS 1.2 and 1.3 only) and
//!   cipher suites (rustls' [`CipherSuite`] values) an address offers; the
//!   Apache syntax that names them (`SSLProtocol`, `SSLCipherSuite`) is
//!   read by `mpmd`'s configuration loader.
//! - [`server_config`]: one `Arc<ServerConfig>` per listening address, with
//!   an SNI resolver over its hosts (exact names and `*`/`?` wildcards, as
//!   `ServerName`/`ServerAlias` match; no match, or no SNI, gets the first
//!   host: the address's default), ALPN from [`TlsPolicy::alpn`]
//!   (`http/1.1` and `http/1.0` by default, `h2` first when the address
//!   speaks HTTP/2; a client that offers none of them, `h2` alone to an
//!   HTTP/1.1-only address say, is refused with a
//!   `no_application_protocol` alert), a session cache shared
//!   by the threads of a process, and the ticket key of a [`TlsShared`]
//!   made once in the master before any fork, so every child can resume
//!   every other child's sessions.
//! - [`TlsConfig`]: what a listener carries: that configuration, and
//!   copies with another ALPN list for hosts whose `Protocols` differ,
//!   chosen by the SNI name of the ClientHello, which the connection
//!   reads before it makes its rustls session.
//! - [`HandshakeStatus`] and [`crate::Connection::handshake_step`] (in
//!   [`super::tls_stream`]): one non-blocking step of the handshake, for
//!   an event loop; and [`handshake_blocking`], the same steps bounded by
//!   `Timeout`, for the strategies that give a thread to a connection.
//! - Plain HTTP sent to a TLS port is recognised at the first byte (a TLS
//!   record starts with 0x16): the step fails with an error for which
//!   [`is_plain_http`] is true, and the caller answers
//!   [`plain_http_response`] in clear and closes (its lingering close
//!   reads the socket in clear too, never through the session).
//!
//! Without the `tls` feature only what needs no rustls remains: the
//! plain-HTTP answer, [`handshake_blocking`] (done at once, as no
//! connection is TLS) and [`wildcard_match`].
//!
//! The ticket key rotates (rustls' `Ticketer`, every 6 hours) in each
//! process: the first next key is made before the fork too, so the first
//! rotation keeps the children in step; after the second, a ticket made by
//! one child may be refused by another, and that client makes a full
//! handshake, nothing worse. A restart makes a new generation of children
//! with the master's key, in step again.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};
#[cfg(feature = "tls")]
use {
    crate::error::Error,
    rustls::crypto::CryptoProvider,
    rustls::pki_types::pem::PemObject,
    rustls::pki_types::{CertificateDer, PrivateKeyDer},
    rustls::server::{ClientHello, ProducesTickets, ResolvesServerCert, ServerSessionMemoryCache},
    rustls::sign::CertifiedKey,
    rustls::{CipherSuite, SupportedCipherSuite, SupportedProtocolVersion},
    std::path::{Path, PathBuf},
    std::sync::Arc,
};

/// rustls' server configuration, what a TLS listener carries.
#[cfg(feature = "tls")]
pub use rustls::ServerConfig;

use crate::net::connection::Connection;
use crate::net::poll::poll_timeout;
use crate::net::tls_stream::{is_plain_http, HandshakeStatus};

/// The text of the answer to plain HTTP on a TLS port (as Apache's
/// mod_ssl words it).
const PLAIN_HTTP_TEXT: &str =
    "Bad Request: you're speaking plain HTTP to an SSL-enabled server port.\n\
Instead use the HTTPS scheme to access this URL, please.\n";

/// The answer to plain HTTP on a TLS port, sent in clear before the
/// connection closes: a 400 with the head every response of the server
/// has (`Date`, `Server: {server}` unless empty, `Connection: close`),
/// made by the engine's [`crate::h1::encode_head`].
pub fn plain_http_response(server: &str) -> Vec<u8> {
    let mut headers = http::HeaderMap::with_capacity(1);
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let mut out = Vec::with_capacity(256 + PLAIN_HTTP_TEXT.len());
    crate::h1::encode_head(
        &mut out,
        http::StatusCode::BAD_REQUEST,
        &headers,
        crate::h1::ResponseLength::Known(PLAIN_HTTP_TEXT.len() as u64),
        false,
        http::Version::HTTP_11,
        server,
    );
    out.extend_from_slice(PLAIN_HTTP_TEXT.as_bytes());
    out
}

/// Sessions each process's cache keeps (per listening address).
#[cfg(feature = "tls")]
const SESSION_CACHE_SIZE: usize = 1024;
/// The plaintext length of the ticket [`TlsShared::new`] makes to set
/// the accepted ticket length (a session ticket's state is well under).
#[cfg(feature = "tls")]
const TICKET_BOUND: usize = 1024;
/// Drive the handshake of `conn` to its end on the calling thread, each
/// wait bounded by `timeout` (the `Timeout` directive) and cut short when
/// `abort` becomes readable. Plain HTTP is answered with
/// [`plain_http_response`] (`server` is its `Server` header); the error is
/// returned so the caller closes. A connection without TLS, or already
/// handshaken, returns at once.
pub fn handshake_blocking(
    conn: &mut Connection,
    timeout: Duration,
    abort: Option<BorrowedFd<'_>>,
    server: &str,
) -> io::Result<()> {
    let deadline = crate::deadline::after(Instant::now(), timeout);
    loop {
        let want = match conn.handshake_step() {
            Ok(HandshakeStatus::Done) => return Ok(()),
            Ok(HandshakeStatus::WantRead) => PollFlags::POLLIN,
            Ok(HandshakeStatus::WantWrite) => PollFlags::POLLOUT,
            Err(e) => {
                if is_plain_http(&e) {
                    answer_plain_http(conn, timeout.min(Duration::from_secs(2)), server);
                }
                return Err(e);
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the TLS handshake did not finish within Timeout",
            ));
        }
        let sock = conn.as_fd();
        let mut fds = [
            PollFd::new(sock, want),
            PollFd::new(sock, PollFlags::empty()),
        ];
        if let Some(fd) = abort {
            fds[1] = PollFd::new(fd, PollFlags::POLLIN);
        }
        match nix::poll::poll(&mut fds, poll_timeout(Some(left))) {
            Ok(_) => {
                if abort.is_some() && fds[1].revents().is_some_and(|r| !r.is_empty()) {
                    return Err(io::ErrorKind::ConnectionAborted.into());
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Answer plain HTTP on a TLS port: [`plain_http_response`] in clear,
/// then stop sending and read what the client still sends for at most
/// `linger` (closing with unread bytes would reset the connection and
/// destroy the answer). Blocks; for the blocking strategies.
pub fn answer_plain_http(conn: &Connection, linger: Duration, server: &str) {
    if conn.write_plain(&plain_http_response(server)).is_err() {
        return;
    }
    let tcp = conn.tcp();
    if tcp.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let until = crate::deadline::after(Instant::now(), linger);
    let mut sink = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let mut fds = [PollFd::new(tcp.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, poll_timeout(Some(left))) {
            Ok(0) => return,
            Ok(_) => match nix::sys::socket::recv(
                std::os::fd::AsRawFd::as_raw_fd(tcp),
                &mut sink,
                nix::sys::socket::MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(0) => return,
                Ok(_) | Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return,
            },
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// One host's certificate: the names it answers to and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg(feature = "tls")]
pub struct CertSpec {
    /// `ServerName` and `ServerAlias` names; `*` and `?` are wildcards
    /// (`*.example.com`). Matched without regard to case.
    pub names: Vec<String>,
    /// The certificate chain, PEM, leaf first (`SSLCertificateFile`).
    pub cert_file: PathBuf,
    /// The private key, PEM: PKCS#8, PKCS#1 or SEC1
    /// (`SSLCertificateKeyFile`); `None` when it is in `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// A TLS protocol version rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg(feature = "tls")]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

#[cfg(feature = "tls")]
impl TlsVersion {
    /// The name Apache and OpenSSL use (`TLSv1.2`).
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }

    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }
}

/// The protocol versions and cipher suites of a listening address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg(feature = "tls")]
pub struct TlsPolicy {
    /// Versions offered (never empty).
    pub versions: Vec<TlsVersion>,
    /// Cipher suites in preference order; `None` for all that rustls
    /// has. A version none of them belongs to keeps all its suites.
    pub cipher_suites: Option<Vec<CipherSuite>>,
    /// Prefer our suite order to the client's (`SSLHonorCipherOrder on`).
    pub honor_cipher_order: bool,
    /// Issue session tickets (`SSLSessionTickets`, on by default).
    pub session_tickets: bool,
    /// Keep a session cache (`SSLSessionCache none` turns it off).
    pub session_cache: bool,
    /// The application protocols offered by ALPN, most preferred first
    /// (rustls picks the first of these the client offers): `http/1.1`
    /// and `http/1.0` by default; `h2` too when the address speaks
    /// HTTP/2 (`Protocols h2 http/1.1`, see [`crate::Http2Offer`]). A
    /// client that offers none of them is refused with a
    /// `no_application_protocol` alert; one that offers no ALPN at all
    /// speaks HTTP/1.1.
    pub alpn: Vec<Vec<u8>>,
}

/// The ALPN protocols of HTTP/1.x, in the order offered by default.
#[cfg(feature = "tls")]
pub const ALPN_HTTP1: [&[u8]; 2] = [b"http/1.1", b"http/1.0"];

/// HTTP/2's ALPN protocol identifier (RFC 9113 §3.2).
pub const ALPN_H2: &[u8] = b"h2";

#[cfg(feature = "tls")]
impl Default for TlsPolicy {
    fn default() -> Self {
        TlsPolicy {
            versions: vec![TlsVersion::Tls12, TlsVersion::Tls13],
            cipher_suites: None,
            honor_cipher_order: false,
            session_tickets: true,
            session_cache: true,
            alpn: ALPN_HTTP1.iter().map(|p| p.to_vec()).collect(),
        }
    }
}

/// Read a PEM certificate chain (leaf first) and private key, check that
/// the key belongs to the leaf, and make the signing key. Every error
/// names the file and the problem.
#[cfg(feature = "tls")]
pub fn load_certified_key(
    cert_file: &Path,
    key_file: Option<&Path>,
) -> Result<CertifiedKey, Error> {
    let fail = |file: &Path, what: String| Error::Tls(format!("{}: {what}", file.display()));
    let pem_error = |file: &Path, e: rustls::pki_types::pem::Error| match e {
        rustls::pki_types::pem::Error::Io(e) => fail(
            file,
            format!("cannot read: {}", crate::error::describe_io(&e)),
        ),
        other => fail(file, format!("not valid PEM: {other:?}")),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| pem_error(cert_file, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(cert_file, e))?;
    if certs.is_empty() {
        return Err(fail(
            cert_file,
            "no certificate found (expected -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let key_path = key_file.unwrap_or(cert_file);
    let key = match PrivateKeyDer::from_pem_file(key_path) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(fail(
                key_path,
                "no private key found (expected a PKCS#8, PKCS#1 or SEC1 PEM key: -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)".into(),
            ))
        }
        Err(e) => return Err(pem_error(key_path, e)),
    };
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| fail(key_path, format!("unusable private key: {e}")))?;
    let ck = CertifiedKey::new(certs, signing);
    match ck.keys_match() {
        Ok(()) => Ok(ck),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Err(fail(
            key_path,
            format!(
                "the private key does not match the certificate in {}",
                cert_file.display()
            ),
        )),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(ck),
        Err(e) => Err(fail(cert_file, format!("unusable certificate: {e}"))),
    }
}

/// What every TLS configuration of a server shares across processes and
/// restarts: the session-ticket key. Make it once in the master before
/// the first fork (children inherit it) and keep it across restarts, so
/// tickets stay valid through a graceful restart.
#[derive(Debug, Clone)]
#[cfg(feature = "tls")]
pub struct TlsShared {
    ticketer: Arc<dyn ProducesTickets>,
}

#[cfg(feature = "tls")]
impl TlsShared {
    /// A fresh random ticket key.
    pub fn new() -> Result<Self, Error> {
        let ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| Error::Tls(format!("could not make a session ticket key: {e}")))?;
        // rustls refuses to decrypt a ticket longer than the longest this
        // process has made (a defence against partitioning oracles), so a
        // child that has not issued a ticket yet would refuse its
        // siblings' tickets. One ticket made here, before the fork, sets
        // that bound for every child: longer than any real session ticket.
        let _ = ticketer.encrypt(&[0u8; TICKET_BOUND]);
        Ok(TlsShared { ticketer })
    }
}

/// What makes a TLS listening address's connections TLS: its rustls
/// configuration, and the hosts whose ALPN protocols differ from the
/// address's (`Protocols` per virtual host, `ProtocolsHonorOrder`).
///
/// rustls fixes a configuration's ALPN list before it reads the
/// ClientHello, so a host that offers other protocols gets its own
/// configuration (a copy of the address's with another list, sharing its
/// certificates, session cache and ticket key), chosen after the
/// ClientHello by the SNI name, the first host whose `ServerName` or
/// `ServerAlias` matches, as the certificate is. A client without SNI, or
/// with a name no host has, gets the address's. An address whose hosts
/// all offer the same is built with `From<Arc<ServerConfig>>`. (Every
/// connection reads its ClientHello's SNI name and ALPN offer before it
/// makes its session: rustls' unbuffered session, which keeps no buffers
/// while the connection is idle, takes its configuration when it is made
/// and has no `Acceptor`.)
///
/// With `ProtocolsHonorOrder off` the client's order wins: of the
/// protocols both offer, the first the client lists (rustls picks in the
/// server's order, so the choice is made here and handed to rustls as a
/// list of one).
#[derive(Debug, Clone)]
#[cfg(feature = "tls")]
pub struct TlsConfig {
    default: AlpnChoice,
    /// `(lower-case name patterns, choice)`, in host order; empty when
    /// every host offers what the address does.
    hosts: Arc<[(Vec<String>, AlpnChoice)]>,
}

/// How one host's ALPN protocol is chosen.
#[derive(Debug, Clone)]
#[cfg(feature = "tls")]
struct AlpnChoice {
    /// The configuration offering the host's list, in its order.
    ours: Arc<ServerConfig>,
    /// `ProtocolsHonorOrder off`: per protocol of the list, a
    /// configuration offering it alone.
    by_client: Option<ByProtocol>,
}

/// `(ALPN id, configuration offering it alone)`, one per protocol.
#[cfg(feature = "tls")]
type ByProtocol = Arc<[(Vec<u8>, Arc<ServerConfig>)]>;

#[cfg(feature = "tls")]
impl AlpnChoice {
    fn new(base: &Arc<ServerConfig>, alpn: &[Vec<u8>], honor_order: bool) -> AlpnChoice {
        let with = |list: Vec<Vec<u8>>| {
            if list == base.alpn_protocols {
                return base.clone();
            }
            let mut c = ServerConfig::clone(base);
            c.alpn_protocols = list;
            Arc::new(c)
        };
        AlpnChoice {
            ours: with(alpn.to_vec()),
            by_client: (!honor_order).then(|| {
                alpn.iter()
                    .map(|p| (p.clone(), with(vec![p.clone()])))
                    .collect()
            }),
        }
    }

    /// The configuration for a client offering `offered` (ALPN ids, its
    /// order).
    fn pick<'a>(&self, offered: Option<impl Iterator<Item = &'a [u8]>>) -> &Arc<ServerConfig> {
        if let (Some(ours), Some(offered)) = (&self.by_client, offered) {
            for o in offered {
                if let Some((_, cfg)) = ours.iter().find(|(p, _)| p == o) {
                    return cfg;
                }
            }
        }
        &self.ours
    }
}

#[cfg(feature = "tls")]
impl From<Arc<ServerConfig>> for TlsConfig {
    /// Every client gets `config`.
    fn from(config: Arc<ServerConfig>) -> TlsConfig {
        TlsConfig {
            default: AlpnChoice {
                ours: config,
                by_client: None,
            },
            hosts: Arc::new([]),
        }
    }
}

#[cfg(feature = "tls")]
impl TlsConfig {
    /// The address's configuration (its default host's ALPN list).
    pub fn server_config(&self) -> &Arc<ServerConfig> {
        &self.default.ours
    }

    /// Follow the client's ALPN order rather than the server's for
    /// clients that get the address's configuration
    /// (`ProtocolsHonorOrder off` on the default host) when `honor_order`
    /// is false.
    pub fn with_default_order(mut self, honor_order: bool) -> TlsConfig {
        let alpn = self.default.ours.alpn_protocols.clone();
        self.default = AlpnChoice::new(&self.default.ours, &alpn, honor_order);
        self
    }

    /// Clients whose SNI name matches one of `names` (`ServerName` and
    /// `ServerAlias` patterns, `*` and `?` wildcards) negotiate from
    /// `alpn` (most preferred first), in the server's order when
    /// `honor_order`, else in the client's. Hosts are matched in the
    /// order they are added, before the address's own configuration.
    pub fn with_host_alpn(
        mut self,
        names: &[String],
        alpn: &[Vec<u8>],
        honor_order: bool,
    ) -> TlsConfig {
        let choice = AlpnChoice::new(&self.default.ours, alpn, honor_order);
        let names = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        let mut hosts = self.hosts.to_vec();
        hosts.push((names, choice));
        self.hosts = hosts.into();
        self
    }

    /// The configuration for a ClientHello with SNI name `sni` offering
    /// the ALPN protocols `offered` (in the client's order).
    pub(crate) fn choose<'a>(
        &self,
        sni: Option<&str>,
        offered: Option<impl Iterator<Item = &'a [u8]>>,
    ) -> Arc<ServerConfig> {
        let name = sni.map(|n| n.strip_suffix('.').unwrap_or(n).to_ascii_lowercase());
        let host = name.as_deref().and_then(|name| {
            self.hosts.iter().find(|(patterns, _)| {
                patterns
                    .iter()
                    .any(|p| wildcard_match(p.as_bytes(), name.as_bytes()))
            })
        });
        host.map_or(&self.default, |(_, c)| c).pick(offered).clone()
    }
}

/// Picks a host's certificate by the SNI name.
#[derive(Debug)]
#[cfg(feature = "tls")]
struct SniResolver {
    /// `(lower-case name patterns, key)`, in host order; the first is the
    /// default.
    hosts: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

#[cfg(feature = "tls")]
impl SniResolver {
    fn pick(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let default = self.hosts.first().map(|(_, k)| k.clone());
        let Some(name) = sni.map(|n| n.strip_suffix('.').unwrap_or(n)) else {
            return default;
        };
        let name = name.to_ascii_lowercase();
        self.hosts
            .iter()
            .find(|(names, _)| {
                names
                    .iter()
                    .any(|p| wildcard_match(p.as_bytes(), name.as_bytes()))
            })
            .map(|(_, k)| k.clone())
            .or(default)
    }
}

#[cfg(feature = "tls")]
impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.pick(hello.server_name())
    }
}

/// Apache's `fnmatch` for `ServerName`/`ServerAlias`: `*` (any run, also
/// empty) and `?` (one byte), ASCII case-insensitive; `pattern` is already
/// lowercase. Used by SNI certificate choice and by mpmd's virtual host
/// routing, so both pick the same host for a name.
pub fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut back: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                back = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t].to_ascii_lowercase() => {
                p += 1;
                t += 1;
            }
            _ => match back {
                Some((bp, bt)) => {
                    p = bp + 1;
                    t = bt + 1;
                    back = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// The one-line path to TLS: the configuration of an address that serves
/// one certificate chain (`cert_file`: PEM, leaf first) with its private
/// key (`key_file`: PEM, PKCS#8, PKCS#1 or SEC1) to every client, with the
/// default [`TlsPolicy`] (TLS 1.2 and 1.3, every suite rustls has,
/// session tickets and a session cache) and a fresh ticket key. The files
/// are read now; an error names the file and what is wrong with it (cannot
/// be read, holds no certificate or no key, the key does not match the
/// certificate). For several hosts chosen by SNI, other versions or
/// suites, or one ticket key kept across restarts, use [`server_config`].
///
/// ```no_run
/// let tls = mpm_core::net::tls::from_pem_files("cert.pem", "key.pem")?;
/// # let _ = tls;
/// # Ok::<(), mpm_core::Error>(())
/// ```
#[cfg(feature = "tls")]
pub fn from_pem_files(
    cert_file: impl AsRef<Path>,
    key_file: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, Error> {
    let cert_file = cert_file.as_ref();
    let host = CertSpec {
        names: Vec::new(),
        cert_file: cert_file.to_path_buf(),
        key_file: Some(key_file.as_ref().to_path_buf()),
    };
    let what = cert_file.display().to_string();
    server_config(&what, &[host], &TlsPolicy::default(), &TlsShared::new()?)
}

/// Build the TLS configuration of one listening address from its hosts'
/// certificates (the first host is the default, for clients without SNI
/// or with a name no host has), `policy` and the `shared` ticket key.
/// `what` names the address in messages. For one certificate with the
/// defaults, [`from_pem_files`] is the short way.
#[cfg(feature = "tls")]
pub fn server_config(
    what: &str,
    hosts: &[CertSpec],
    policy: &TlsPolicy,
    shared: &TlsShared,
) -> Result<Arc<ServerConfig>, Error> {
    let mut keys = Vec::with_capacity(hosts.len());
    for h in hosts {
        let key = Arc::new(load_certified_key(&h.cert_file, h.key_file.as_deref())?);
        keys.push((h.names.clone(), key));
    }
    server_config_from_keys(what, keys, policy, shared)
}

/// As [`server_config`], with the keys already loaded (by
/// [`load_certified_key`]): `(names, key)` per host, the default first.
#[cfg(feature = "tls")]
pub fn server_config_from_keys(
    what: &str,
    hosts: Vec<(Vec<String>, Arc<CertifiedKey>)>,
    policy: &TlsPolicy,
    shared: &TlsShared,
) -> Result<Arc<ServerConfig>, Error> {
    if hosts.is_empty() {
        return Err(Error::Tls(format!(
            "{what}: a TLS address needs a host with SSLEngine on and SSLCertificateFile"
        )));
    }
    let resolver = SniResolver {
        hosts: hosts
            .into_iter()
            .map(|(names, key)| (names.iter().map(|n| n.to_ascii_lowercase()).collect(), key))
            .collect(),
    };
    let mut provider: CryptoProvider = rustls::crypto::ring::default_provider();
    if let Some(wanted) = &policy.cipher_suites {
        let all = std::mem::take(&mut provider.cipher_suites);
        let mut named = Vec::with_capacity(wanted.len());
        for w in wanted {
            match all.iter().find(|s| s.suite() == *w) {
                Some(s) => named.push(*s),
                None => {
                    return Err(Error::Tls(format!(
                        "{what}: rustls has no cipher suite {w:?}"
                    )))
                }
            }
        }
        // Versions for which no suite is named keep all theirs.
        for v in &policy.versions {
            let of_version = |s: &&SupportedCipherSuite| s.version() == v.rustls();
            let mut chosen: Vec<SupportedCipherSuite> =
                named.iter().filter(of_version).copied().collect();
            if chosen.is_empty() {
                chosen = all.iter().filter(of_version).copied().collect();
            }
            provider.cipher_suites.extend(chosen);
        }
    }
    let versions: Vec<&'static SupportedProtocolVersion> =
        policy.versions.iter().map(|v| v.rustls()).collect();
    let mut cfg = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)
        .map_err(|e| Error::Tls(format!("{what}: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    // Ours in preference order (rustls picks the first the client offers):
    // a client asking for HTTP/1.0 (`curl --http1.0`) is served too.
    cfg.alpn_protocols = policy.alpn.clone();
    cfg.ignore_client_order = policy.honor_cipher_order;
    cfg.session_storage = if policy.session_cache {
        ServerSessionMemoryCache::new(SESSION_CACHE_SIZE)
    } else {
        Arc::new(rustls::server::NoServerSessionStorage {})
    };
    // Without the ticket key, TLS 1.3 "tickets" are only ids into the
    // session cache (stateful, per process), as TLS 1.2 session ids are.
    if policy.session_tickets {
        cfg.ticketer = shared.ticketer.clone();
    }
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_server_alias_does() {
        assert!(wildcard_match(b"*.example.com", b"www.example.com"));
        assert!(wildcard_match(b"*.example.com", b"a.b.example.com"));
        assert!(!wildcard_match(b"*.example.com", b"example.com"));
        assert!(wildcard_match(b"ho?t", b"host"));
        assert!(!wildcard_match(b"host", b"hosts"));
    }

    /// A self-signed certificate for `localhost` and its key, written as
    /// `<name>.crt` and `<name>.key` in `dir`.
    #[cfg(feature = "tls")]
    fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    #[cfg(feature = "tls")]
    fn one_certificate_and_its_key_make_a_configuration_in_one_call() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "site");
        let cfg = from_pem_files(&cert, &key).unwrap();
        assert_eq!(cfg.alpn_protocols[0], b"http/1.1");
    }

    #[test]
    #[cfg(feature = "tls")]
    fn the_one_call_names_a_missing_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed(dir.path(), "site");
        let missing = dir.path().join("nosuch.key");
        let e = from_pem_files(&cert, &missing).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: cannot read: no such file or directory",
                missing.display()
            )
        );
    }

    #[test]
    #[cfg(feature = "tls")]
    fn the_one_call_names_the_files_of_a_key_that_is_not_the_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed(dir.path(), "one");
        let (_, other_key) = self_signed(dir.path(), "two");
        let e = from_pem_files(&cert, &other_key).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: the private key does not match the certificate in {}",
                other_key.display(),
                cert.display()
            )
        );
    }

    #[test]
    #[cfg(feature = "tls")]
    fn the_one_call_with_its_files_swapped_names_the_certificate_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "site");
        let e = from_pem_files(&key, &cert).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: no certificate found (expected -----BEGIN CERTIFICATE-----)",
                key.display()
            )
        );
    }

    #[test]
    #[cfg(feature = "tls")]
    fn a_missing_certificate_file_is_named() {
        let e = load_certified_key(Path::new("/nonexistent/cert.pem"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent/cert.pem: cannot read: no such file"),
            "{e}"
        );
    }
}
