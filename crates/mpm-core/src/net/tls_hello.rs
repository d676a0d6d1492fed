//! The two facts of a TLS ClientHello that choose a connection's
//! configuration before rustls sees it: the SNI host name and the ALPN
//! protocols offered ([`read`]).
//!
//! rustls' unbuffered server session (what [`super::tls_stream`] drives)
//! takes its configuration, ALPN list included, when it is made, and has
//! no `Acceptor` to look at the ClientHello first; nor does it tell its
//! SNI name afterwards. So the hello is read here, from the TLS bytes the
//! stream has buffered: handshake records joined until the ClientHello is
//! whole, then its `server_name` and
//! `application_layer_protocol_negotiation` extensions. This reads only;
//! rustls then checks the same bytes in full, so a hello this reader
//! misjudges is refused by rustls with the right alert, never served with
//! a wrong choice: anything that is not a well-formed ClientHello is
//! [`Hello::Unreadable`], and the caller hands the bytes to rustls with
//! the address's own configuration.

/// A record's header: type, version, length.
const RECORD_HEADER: usize = 5;
/// `handshake` content type.
const HANDSHAKE: u8 = 22;
/// `client_hello` handshake type.
const CLIENT_HELLO: u8 = 1;
/// The longest handshake message rustls accepts (and so, this reader).
pub const MAX_HELLO: usize = 0xffff;
/// `server_name` extension.
const EXT_SNI: u16 = 0;
/// `application_layer_protocol_negotiation` extension.
const EXT_ALPN: u16 = 16;

/// What the buffered bytes say so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Hello<'a> {
    /// The ClientHello is not whole yet: read more.
    Incomplete,
    /// Not a well-formed ClientHello: rustls decides what to answer.
    Unreadable,
    /// The ClientHello's SNI host name (lower case; `None` without one,
    /// or for an IP address, which rustls ignores too) and ALPN offer.
    Read {
        /// The host name, lower case.
        sni: Option<String>,
        /// The protocols offered, in the client's order (`None`: no
        /// ALPN extension).
        alpn: Option<Vec<&'a [u8]>>,
    },
}

/// Read the ClientHello at the start of `tls` (the bytes received so
/// far); `joined` is scratch room for a hello split over records.
pub fn read<'a>(tls: &'a [u8], joined: &'a mut Vec<u8>) -> Hello<'a> {
    // The handshake message: in the first record, or joined from several.
    let mut at = 0;
    let mut first: Option<&'a [u8]> = None;
    joined.clear();
    loop {
        let Some(header) = tls.get(at..at + RECORD_HEADER) else {
            return Hello::Incomplete;
        };
        if header[0] != HANDSHAKE {
            return Hello::Unreadable;
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let Some(payload) = tls.get(at + RECORD_HEADER..at + RECORD_HEADER + len) else {
            return Hello::Incomplete;
        };
        at += RECORD_HEADER + len;
        if first.is_none() && joined.is_empty() {
            first = Some(payload);
        } else {
            if let Some(f) = first.take() {
                joined.extend_from_slice(f);
            }
            joined.extend_from_slice(payload);
        }
        let msg: &[u8] = first.unwrap_or(joined);
        if msg.len() < 4 {
            continue;
        }
        if msg[0] != CLIENT_HELLO {
            return Hello::Unreadable;
        }
        let body_len = usize::from(msg[1]) << 16 | usize::from(msg[2]) << 8 | usize::from(msg[3]);
        if body_len > MAX_HELLO {
            return Hello::Unreadable;
        }
        if msg.len() >= 4 + body_len {
            break;
        }
    }
    let msg: &'a [u8] = match first {
        Some(f) => f,
        None => joined,
    };
    let body_len = usize::from(msg[1]) << 16 | usize::from(msg[2]) << 8 | usize::from(msg[3]);
    match extensions(&msg[4..4 + body_len]) {
        Some(hello) => hello,
        None => Hello::Unreadable,
    }
}

/// A cursor over a hello's bytes; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    /// A block with a one-byte length.
    fn block8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }
    /// A block with a two-byte length.
    fn block16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

/// The SNI name and ALPN offer of a ClientHello's body; `None` when it
/// is malformed.
fn extensions(body: &[u8]) -> Option<Hello<'_>> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // legacy_version, random
    r.block8()?; // legacy_session_id
    r.block16()?; // cipher_suites
    r.block8()?; // legacy_compression_methods
    let mut sni = None;
    let mut alpn = None;
    if r.0.is_empty() {
        // No extensions at all (an old TLS 1.2 client).
        return Some(Hello::Read { sni, alpn });
    }
    let mut exts = Reader(r.block16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()? as u16;
        let mut data = Reader(exts.block16()?);
        match kind {
            EXT_SNI => sni = host_name(&mut data)?,
            EXT_ALPN => {
                let mut list = Reader(data.block16()?);
                let mut offered = Vec::with_capacity(4);
                while !list.0.is_empty() {
                    offered.push(list.block8()?);
                }
                alpn = Some(offered);
            }
            _ => {}
        }
    }
    Some(Hello::Read { sni, alpn })
}

/// The first `host_name` entry of a `server_name` extension, as rustls
/// keeps it: lower case, `None` for an IP address. `None` (malformed)
/// when the name is no DNS name at all.
fn host_name(data: &mut Reader<'_>) -> Option<Option<String>> {
    let mut list = Reader(data.block16()?);
    // An empty list, or an unknown name type first (whose encoding is
    // unknown, so rustls stops there too): no name.
    if list.0.is_empty() || list.u8()? != 0 {
        return Some(None);
    }
    let name = std::str::from_utf8(list.block16()?).ok()?;
    match rustls::pki_types::ServerName::try_from(name).ok()? {
        rustls::pki_types::ServerName::DnsName(_) => Some(Some(name.to_ascii_lowercase())),
        _ => Some(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The first flight of a rustls client with `sni` and `alpn`.
    fn client_hello(sni: &str, alpn: &[&[u8]]) -> Vec<u8> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(std::iter::empty());
        let mut cfg = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let name = rustls::pki_types::ServerName::try_from(sni.to_string()).unwrap();
        let mut c = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
        let mut out = Vec::new();
        c.write_tls(&mut out).unwrap();
        out
    }

    #[test]
    fn the_sni_name_and_alpn_offer_of_a_client_hello_are_read() {
        let tls = client_hello("Www.Example.com", &[b"h2", b"http/1.1"]);
        let mut joined = Vec::new();
        assert_eq!(
            read(&tls, &mut joined),
            Hello::Read {
                sni: Some("www.example.com".into()),
                alpn: Some(vec![&b"h2"[..], &b"http/1.1"[..]]),
            }
        );
    }

    #[test]
    fn a_client_hello_split_over_records_and_reads_is_joined() {
        let tls = client_hello("localhost", &[b"http/1.1"]);
        // Each byte of the hello in a record of its own.
        let payload = &tls[RECORD_HEADER..];
        let mut split = Vec::new();
        for b in payload {
            split.extend_from_slice(&[HANDSHAKE, 3, 1, 0, 1, *b]);
        }
        let mut joined = Vec::new();
        for cut in 0..split.len() {
            assert_eq!(
                read(&split[..cut], &mut joined),
                Hello::Incomplete,
                "{cut} bytes"
            );
        }
        assert_eq!(
            read(&split, &mut joined),
            Hello::Read {
                sni: Some("localhost".into()),
                alpn: Some(vec![&b"http/1.1"[..]]),
            }
        );
    }

    #[test]
    fn an_ip_address_as_sni_is_no_name_and_garbage_is_unreadable() {
        let tls = client_hello("127.0.0.1", &[]);
        let mut joined = Vec::new();
        assert_eq!(
            read(&tls, &mut joined),
            Hello::Read {
                sni: None,
                alpn: None
            }
        );
        assert_eq!(
            read(b"\x16\x03\x01\x00\x04\x02\x00\x00\x00", &mut joined),
            Hello::Unreadable
        );
        assert_eq!(read(b"GET / HTTP/1.1\r\n", &mut joined), Hello::Unreadable);
        let mut cut = tls.clone();
        cut[RECORD_HEADER + 4 + 2 + 32] = 200; // a session id longer than the hello
        assert_eq!(read(&cut, &mut joined), Hello::Unreadable);
    }

    /// Bytes from the network: a hello cut anywhere, or with any byte
    /// changed to any value, is read without a panic.
    #[test]
    fn no_cut_or_changed_byte_of_a_hello_panics_the_reader() {
        let tls = client_hello("www.example.com", &[b"h2", b"http/1.1"]);
        let mut joined = Vec::new();
        for cut in 0..tls.len() {
            let _ = read(&tls[..cut], &mut joined);
        }
        let mut changed = tls.clone();
        for i in 0..tls.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                changed[i] = v;
                let _ = read(&changed, &mut joined);
            }
            changed[i] = tls[i];
        }
    }
}
