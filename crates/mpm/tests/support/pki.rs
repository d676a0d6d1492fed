//! A certificate authority and host certificates made by the test (rcgen),
//! written as PEM files, and rustls clients that trust that authority.
//! Shared by the mpm and mpmd test suites and the benches (`#[path]`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A test CA whose certificates are written into `dir`.
pub struct Pki {
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
    dir: PathBuf,
}

/// A host certificate's files.
#[derive(Debug, Clone)]
pub struct HostCert {
    /// Leaf then CA certificate, PEM.
    pub cert: PathBuf,
    /// PKCS#8 private key, PEM.
    pub key: PathBuf,
}

impl Pki {
    /// A new CA, its certificate written to `dir/ca.pem`.
    pub fn new(dir: &Path) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "mpm test CA");
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = params.self_signed(&ca_key).expect("CA certificate");
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write ca.pem");
        Pki {
            ca_cert,
            ca_key,
            dir: dir.to_path_buf(),
        }
    }

    /// The CA certificate file (for `curl --cacert`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A certificate for `names` (the first is the subject's common name)
    /// signed by the CA, written as `<file>.crt` (leaf + CA) and
    /// `<file>.key`.
    pub fn host(&self, file: &str, names: &[&str]) -> HostCert {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("host params");
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        let key = KeyPair::generate().expect("host key");
        let cert = params
            .signed_by(&key, &self.ca_cert, &self.ca_key)
            .expect("host certificate");
        let out = HostCert {
            cert: self.dir.join(format!("{file}.crt")),
            key: self.dir.join(format!("{file}.key")),
        };
        std::fs::write(&out.cert, cert.pem() + &self.ca_cert.pem()).expect("write cert");
        std::fs::write(&out.key, key.serialize_pem()).expect("write key");
        out
    }

    /// A rustls client configuration trusting this CA, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_cert.der().clone())
            .expect("CA into the root store");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(cfg)
    }
}

/// A blocking TLS client stream.
pub type TlsClient = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connect `tcp` as a TLS client asking for `sni`, and finish the
/// handshake (so errors show here).
pub fn tls_connect(
    cfg: &Arc<rustls::ClientConfig>,
    sni: &str,
    tcp: TcpStream,
) -> std::io::Result<TlsClient> {
    let name = rustls::pki_types::ServerName::try_from(sni.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let conn = rustls::ClientConnection::new(cfg.clone(), name)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// The subject common name of the certificate the server presented.
pub fn peer_common_name(s: &TlsClient) -> String {
    let certs = s.conn.peer_certificates().expect("a server certificate");
    let der = certs[0].as_ref();
    // The CN is the UTF8String/PrintableString after OID 2.5.4.3; the
    // issuer's comes first, the subject's last.
    let oid = [0x06, 0x03, 0x55, 0x04, 0x03];
    let mut last = String::new();
    let mut i = 0;
    while i + oid.len() + 2 <= der.len() {
        if der[i..i + oid.len()] == oid {
            let len = der[i + oid.len() + 1] as usize;
            let start = i + oid.len() + 2;
            if let Some(v) = der.get(start..start + len) {
                last = String::from_utf8_lossy(v).into_owned();
            }
        }
        i += 1;
    }
    last
}

/// Read everything until the server closes (EOF, a reset, or an
/// unannounced TLS close).
pub fn read_all(s: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Send `raw` over a fresh TLS connection with `sni` and read until close.
pub fn tls_request(
    cfg: &Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    sni: &str,
    raw: &[u8],
) -> String {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut s = tls_connect(cfg, sni, tcp).expect("TLS handshake");
    s.write_all(raw).expect("send");
    String::from_utf8_lossy(&read_all(&mut s)).into_owned()
}
