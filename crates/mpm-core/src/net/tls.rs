//! TLS with rustls: building a listening address's [`ServerConfig`] from its
//! hosts' certificates, and driving a connection's handshake.
//!
//! What lives here, in the order a connection meets it:
//!
//! - [`load_certified_key`]: a certificate chain (PEM, leaf first) and its
//!   private key (PKCS#8, PKCS#1 or SEC1 PEM), parsed and checked to match;
//!   every error names the file and the problem (`mpmd -t` prints it).
//! - [`TlsPolicy`]: the protocol versions (`SSLProtocol`, TLS 1.2 and 1.3
//!   only) and cipher suites (`SSLCipherSuite`, by OpenSSL or IANA name).
//! - [`server_config`]: one `Arc<ServerConfig>` per listening address, with
//!   an SNI resolver over its hosts (exact names and `*`/`?` wildcards, as
//!   `ServerName`/`ServerAlias` match; no match, or no SNI, gets the first
//!   host: the address's default), ALPN `http/1.1` and `http/1.0` (a
//!   client that offers neither, `h2` alone say, is refused with a
//!   `no_application_protocol` alert), a session cache shared
//!   by the threads of a process, and the ticket key of a [`TlsShared`]
//!   made once in the master before any fork, so every child can resume
//!   every other child's sessions.
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
//! The ticket key rotates (rustls' `Ticketer`, every 6 hours) in each
//! process: the first next key is made before the fork too, so the first
//! rotation keeps the children in step; after the second, a ticket made by
//! one child may be refused by another, and that client makes a full
//! handshake, nothing worse. A restart makes a new generation of children
//! with the master's key, in step again.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ProducesTickets, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

pub use rustls::ServerConfig;

use crate::error::Error;
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
const SESSION_CACHE_SIZE: usize = 1024;
/// The plaintext length of the ticket [`TlsShared::new`] makes to set
/// the accepted ticket length (a session ticket's state is well under).
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
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

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
pub struct TlsPolicy {
    /// Versions offered (never empty).
    pub versions: Vec<TlsVersion>,
    /// Cipher suites by IANA name, in preference order; `None` for all
    /// that rustls has.
    pub cipher_suites: Option<Vec<&'static str>>,
    /// Prefer our suite order to the client's (`SSLHonorCipherOrder on`).
    pub honor_cipher_order: bool,
    /// Issue session tickets (`SSLSessionTickets`, on by default).
    pub session_tickets: bool,
    /// Keep a session cache (`SSLSessionCache none` turns it off).
    pub session_cache: bool,
}

impl Default for TlsPolicy {
    fn default() -> Self {
        TlsPolicy {
            versions: vec![TlsVersion::Tls12, TlsVersion::Tls13],
            cipher_suites: None,
            honor_cipher_order: false,
            session_tickets: true,
            session_cache: true,
        }
    }
}

/// The suites rustls (ring) has: `(OpenSSL name, IANA name, suite)`.
fn suites() -> [(&'static str, &'static str, SupportedCipherSuite); 9] {
    use rustls::crypto::ring::cipher_suite as cs;
    [
        (
            "TLS_AES_256_GCM_SHA384",
            "TLS_AES_256_GCM_SHA384",
            cs::TLS13_AES_256_GCM_SHA384,
        ),
        (
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_128_GCM_SHA256",
            cs::TLS13_AES_128_GCM_SHA256,
        ),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
}

/// OpenSSL keywords whose exclusion (`!aNULL`) names only suites rustls
/// never offers, so excluding them changes nothing.
const NEVER_OFFERED: &[&str] = &[
    "anull",
    "enull",
    "null",
    "exp",
    "export",
    "export40",
    "export56",
    "low",
    "medium",
    "md5",
    "rc4",
    "3des",
    "des",
    "idea",
    "seed",
    "camellia",
    "aria",
    "psk",
    "srp",
    "dss",
    "dsa",
    "adh",
    "aecdh",
    "kdhe",
    "dhe",
    "edh",
    "kedh",
    "sha1",
    "sha",
    "ccm",
    "ccm8",
    "aesccm",
    "aesccm8",
    "krsa",
    "cbc",
    "aes128-sha",
    "aes256-sha",
    "sslv3",
    "tlsv1",
    "ecdsa-sha1",
];

/// Parse an `SSLProtocol` value (`-all +TLSv1.2 +TLSv1.3`, `TLSv1.3`,
/// `all -SSLv3 -TLSv1 -TLSv1.1`): `all` means every version rustls has
/// (TLS 1.2 and 1.3). Anything older asked for is refused with a message
/// that says what to write instead.
pub fn parse_protocols(args: &[&str]) -> Result<Vec<TlsVersion>, String> {
    let mut set: Vec<TlsVersion> = Vec::new();
    let all = [TlsVersion::Tls12, TlsVersion::Tls13];
    for (i, arg) in args.iter().enumerate() {
        let (sign, name) = match arg.as_bytes().first() {
            Some(b'+') => ('+', &arg[1..]),
            Some(b'-') => ('-', &arg[1..]),
            // A bare name replaces what came before, as in Apache.
            _ => ('=', *arg),
        };
        let versions: &[TlsVersion] = match name.to_ascii_lowercase().as_str() {
            "all" => &all,
            "tlsv1.2" => &all[..1],
            "tlsv1.3" => &all[1..],
            old @ ("sslv2" | "sslv3" | "tlsv1" | "tlsv1.1") => {
                if sign == '-' {
                    &[] // excluding what is never offered
                } else {
                    return Err(format!(
                        "SSLProtocol: {name} is not supported: mpmd speaks TLSv1.2 and TLSv1.3 only ({old} is insecure); write `SSLProtocol -all +TLSv1.2 +TLSv1.3`"
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "SSLProtocol: unknown protocol '{arg}' (use all, TLSv1.2, TLSv1.3 with + or -)"
                ))
            }
        };
        match sign {
            '=' if i == 0 => set = versions.to_vec(),
            '=' | '+' => set.extend(
                versions
                    .iter()
                    .filter(|v| !set.contains(v))
                    .copied()
                    .collect::<Vec<_>>(),
            ),
            _ => set.retain(|v| !versions.contains(v)),
        }
    }
    set.sort();
    if set.is_empty() {
        return Err(format!(
            "SSLProtocol {}: no protocol left; write `SSLProtocol -all +TLSv1.2 +TLSv1.3`",
            args.join(" ")
        ));
    }
    Ok(set)
}

/// Parse an `SSLCipherSuite` list: names separated by `:`, `,` or spaces,
/// each an OpenSSL name (`ECDHE-RSA-AES128-GCM-SHA256`) or an IANA name
/// (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, `TLS_AES_128_GCM_SHA256`) of a
/// suite rustls has; `HIGH`, `DEFAULT` and `ALL` add every suite rustls
/// has; `!name`/`-name` removes a suite, and excluding a class rustls never
/// offers (`!aNULL`, `!MD5`, `!RC4`, `!3DES` …) is accepted. Any other
/// name is refused. Returns IANA names in order.
pub fn parse_cipher_suites(spec: &str) -> Result<Vec<&'static str>, String> {
    let table = suites();
    let mut out: Vec<&'static str> = Vec::new();
    for word in spec.split([':', ',', ' ', '\t']).filter(|w| !w.is_empty()) {
        let (remove, name) = match word.as_bytes()[0] {
            b'!' | b'-' => (true, &word[1..]),
            b'+' => (false, &word[1..]),
            _ => (false, word),
        };
        let lower = name.to_ascii_lowercase();
        if lower.starts_with('@') {
            continue; // @STRENGTH, @SECLEVEL=2: ordering hints
        }
        let found: Vec<&'static str> = match lower.as_str() {
            "high"
            | "default"
            | "all"
            | "complementofdefault"
            | "ecdhe"
            | "eecdh"
            | "aesgcm"
            | "aes"
            | "chacha20"
            | "tlsv1.2"
            | "tlsv1.3" => table.iter().map(|s| s.1).collect(),
            _ => table
                .iter()
                .filter(|s| s.0.eq_ignore_ascii_case(name) || s.1.eq_ignore_ascii_case(name))
                .map(|s| s.1)
                .collect(),
        };
        if found.is_empty() {
            if remove && NEVER_OFFERED.contains(&lower.as_str()) {
                continue;
            }
            return Err(format!(
                "SSLCipherSuite: '{name}' is not a cipher suite mpmd has; it has {}",
                table.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
            ));
        }
        if remove {
            out.retain(|s| !found.contains(s));
        } else {
            for s in found {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
    }
    if out.is_empty() {
        return Err(format!(
            "SSLCipherSuite {spec}: no cipher suite left (name at least one, e.g. ECDHE-RSA-AES128-GCM-SHA256)"
        ));
    }
    Ok(out)
}

/// Read a PEM certificate chain (leaf first) and private key, check that
/// the key belongs to the leaf, and make the signing key. Every error
/// names the file and the problem.
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
pub struct TlsShared {
    ticketer: Arc<dyn ProducesTickets>,
}

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

/// Picks a host's certificate by the SNI name.
#[derive(Debug)]
struct SniResolver {
    /// `(lower-case name patterns, key)`, in host order; the first is the
    /// default.
    hosts: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

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

/// Build the TLS configuration of one listening address from its hosts'
/// certificates (the first host is the default, for clients without SNI
/// or with a name no host has), `policy` and the `shared` ticket key.
/// `what` names the address in messages.
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
        let table = suites();
        let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
        // Versions for which no suite is named keep all theirs.
        for v in &policy.versions {
            let of_version = |s: &SupportedCipherSuite| s.version() == v.rustls();
            let named: Vec<SupportedCipherSuite> = wanted
                .iter()
                .filter_map(|w| table.iter().find(|t| t.1 == *w).map(|t| t.2))
                .filter(of_version)
                .collect();
            if named.is_empty() {
                chosen.extend(table.iter().map(|t| t.2).filter(of_version));
            } else {
                chosen.extend(named);
            }
        }
        provider.cipher_suites = chosen;
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
    cfg.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
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
    fn ssl_protocol_accepts_modern_versions_and_refuses_old_ones() {
        let p = |s: &str| parse_protocols(&s.split_whitespace().collect::<Vec<_>>());
        assert_eq!(
            p("-all +TLSv1.2 +TLSv1.3").unwrap(),
            [TlsVersion::Tls12, TlsVersion::Tls13]
        );
        assert_eq!(p("TLSv1.3").unwrap(), [TlsVersion::Tls13]);
        assert_eq!(p("all -TLSv1.3").unwrap(), [TlsVersion::Tls12]);
        assert_eq!(p("all -SSLv3 -TLSv1 -TLSv1.1").unwrap().len(), 2);
        let e = p("-all +TLSv1.1 +TLSv1.2").unwrap_err();
        assert!(
            e.contains("TLSv1.1 is not supported") && e.contains("-all +TLSv1.2 +TLSv1.3"),
            "{e}"
        );
        assert!(p("-all").unwrap_err().contains("no protocol left"));
        assert!(p("TLSv9").unwrap_err().contains("unknown protocol"));
    }

    #[test]
    fn ssl_cipher_suite_takes_openssl_and_iana_names_and_refuses_others() {
        let s = parse_cipher_suites("ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384").unwrap();
        assert_eq!(
            s,
            [
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_AES_256_GCM_SHA384"
            ]
        );
        assert_eq!(parse_cipher_suites("HIGH:!aNULL:!MD5").unwrap().len(), 9);
        assert_eq!(
            parse_cipher_suites("HIGH:!ECDHE-RSA-CHACHA20-POLY1305")
                .unwrap()
                .len(),
            8
        );
        let e = parse_cipher_suites("AES128-SHA").unwrap_err();
        assert!(e.contains("'AES128-SHA' is not a cipher suite"), "{e}");
        assert!(parse_cipher_suites("!MD5")
            .unwrap_err()
            .contains("no cipher suite left"));
    }

    #[test]
    fn wildcards_match_as_server_alias_does() {
        assert!(wildcard_match(b"*.example.com", b"www.example.com"));
        assert!(wildcard_match(b"*.example.com", b"a.b.example.com"));
        assert!(!wildcard_match(b"*.example.com", b"example.com"));
        assert!(wildcard_match(b"ho?t", b"host"));
        assert!(!wildcard_match(b"host", b"hosts"));
    }

    #[test]
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
