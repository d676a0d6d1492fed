//! The PROXY protocol header, versions 1 and 2, sans IO: bytes in, a
//! header (and how many bytes it took) or "not complete yet" out.
//!
//! Strict, as the protocol's author asks of a receiver that expects a
//! header: anything but a perfect header is an error, never taken as the
//! start of the request. Version 1 is one line of at most 107 bytes;
//! version 2 a 16-byte prefix and at most [`MAX_V2_LEN`] bytes of
//! addresses and TLVs. A `LOCAL` header (v2) or `UNKNOWN` line (v1) gives
//! no address: the connection is the proxy's own (a health check), and
//! any address it carries is ignored. The TLVs read are ALPN, authority
//! (the TLS server name), SSL (with its version, cipher and client
//! certificate's common name) and CRC32C, which is checked when present.
//!
//! [`parse`] never panics and never reads past the header, so the bytes
//! that follow it (a TLS ClientHello, a request) stay the next layer's.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The twelve bytes that open a version 2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Longest version 1 line, CRLF included (the protocol's own bound).
pub const V1_MAX_LEN: usize = 107;
/// Longest version 2 header accepted, its 16-byte prefix included: room
/// for the addresses and the TLVs a load balancer sends (HAProxy's SSL
/// TLV with a long certificate name, a unique id, an authority of 255
/// bytes), far below the 64 KiB the length field allows.
pub const MAX_V2_LEN: usize = 4096;
/// Bytes a reader should have room for: the longest header accepted.
pub const MAX_HEADER_LEN: usize = MAX_V2_LEN;

/// What [`parse`] made of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A header may still complete: read more and parse again from the
    /// start.
    Incomplete,
    /// A whole header, `len` bytes long; what follows is not its.
    Complete {
        /// The header (boxed: it is large, and made once per connection).
        header: Box<ProxyHeader>,
        /// Its length in bytes.
        len: usize,
    },
}

/// A parsed PROXY header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyHeader {
    /// Version 1 or 2.
    pub version: u8,
    /// The client's address and the address it connected to; `None` for
    /// `LOCAL` (v2), `UNKNOWN` (v1) and address families that are not
    /// TCP over IP (v2 `UNSPEC` or `UNIX`): the connection's own
    /// addresses stand.
    pub addresses: Option<(SocketAddr, SocketAddr)>,
    /// Version 2 TLVs that were understood.
    pub tlvs: Tlvs,
}

/// The version 2 TLVs read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tlvs {
    /// `PP2_TYPE_ALPN`: the protocol the client chose with the proxy.
    pub alpn: Option<Vec<u8>>,
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (its SNI).
    pub authority: Option<String>,
    /// `PP2_TYPE_SSL`: the client spoke TLS to the proxy.
    pub ssl: Option<SslTlv>,
}

/// What `PP2_TYPE_SSL` says about the client's TLS connection to the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SslTlv {
    /// `PP2_CLIENT_SSL`: the client connected over TLS.
    pub ssl: bool,
    /// `PP2_CLIENT_CERT_CONN`: it presented a certificate on this connection.
    pub cert_conn: bool,
    /// `PP2_CLIENT_CERT_SESS`: it presented one in this TLS session.
    pub cert_sess: bool,
    /// The certificate was verified (the `verify` field is zero).
    pub verified: bool,
    /// `PP2_SUBTYPE_SSL_VERSION` (`TLSv1.3`).
    pub version: Option<String>,
    /// `PP2_SUBTYPE_SSL_CIPHER`.
    pub cipher: Option<String>,
    /// `PP2_SUBTYPE_SSL_CN`: the client certificate's common name.
    pub common_name: Option<String>,
}

/// Why bytes are not a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(&'static str);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ParseError {}

fn bad<T>(why: &'static str) -> Result<T, ParseError> {
    Err(ParseError(why))
}

/// Parse a PROXY header (either version) at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, ParseError> {
    const V1_PREFIX: &[u8] = b"PROXY ";
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        return if n < V2_SIGNATURE.len() {
            Ok(Parsed::Incomplete)
        } else {
            parse_v2(buf)
        };
    }
    let n = buf.len().min(V1_PREFIX.len());
    if buf[..n] == V1_PREFIX[..n] {
        return if n < V1_PREFIX.len() {
            Ok(Parsed::Incomplete)
        } else {
            parse_v1(buf)
        };
    }
    bad("the connection does not start with a PROXY protocol header")
}

/// `PROXY TCP4|TCP6 src dst sport dport\r\n` or `PROXY UNKNOWN…\r\n`.
fn parse_v1(buf: &[u8]) -> Result<Parsed, ParseError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    // The line ends at its first CR, which LF must follow; a LF before
    // it is refused (as soon as it is seen, so a split line is refused
    // the same way).
    let Some(cr) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return if buf.len() >= V1_MAX_LEN {
            bad("PROXY v1 line longer than 107 bytes")
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    if window[cr] == b'\n' {
        return bad("PROXY v1 line ends without CR before LF");
    }
    let Some(&next) = buf.get(cr + 1) else {
        return Ok(Parsed::Incomplete);
    };
    if next != b'\n' {
        return bad("PROXY v1 line has a CR not followed by LF");
    }
    let len = cr + 2;
    if len > V1_MAX_LEN {
        return bad("PROXY v1 line longer than 107 bytes");
    }
    let line = std::str::from_utf8(&buf[6..cr]).or(bad("PROXY v1 line is not ASCII"))?;
    if let Some(rest) = line.strip_prefix("UNKNOWN") {
        // Whatever follows UNKNOWN is to be ignored (the protocol says so).
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return bad("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
        }
        let header = ProxyHeader {
            version: 1,
            ..ProxyHeader::default()
        };
        return Ok(Parsed::Complete {
            header: Box::new(header),
            len,
        });
    }
    let mut fields = line.split(' ');
    let (Some(proto), Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return bad("PROXY v1 line does not have five fields separated by single spaces");
    };
    let (src, dst): (IpAddr, IpAddr) = match proto {
        "TCP4" => (
            IpAddr::V4(
                src.parse()
                    .or(bad("PROXY v1 source is not an IPv4 address"))?,
            ),
            IpAddr::V4(
                dst.parse()
                    .or(bad("PROXY v1 destination is not an IPv4 address"))?,
            ),
        ),
        "TCP6" => (
            IpAddr::V6(
                src.parse()
                    .or(bad("PROXY v1 source is not an IPv6 address"))?,
            ),
            IpAddr::V6(
                dst.parse()
                    .or(bad("PROXY v1 destination is not an IPv6 address"))?,
            ),
        ),
        _ => return bad("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN"),
    };
    let header = ProxyHeader {
        version: 1,
        addresses: Some((
            SocketAddr::new(src, port(sport)?),
            SocketAddr::new(dst, port(dport)?),
        )),
        tlvs: Tlvs::default(),
    };
    Ok(Parsed::Complete {
        header: Box::new(header),
        len,
    })
}

/// A v1 port: 1 to 5 decimal digits, no sign, no leading zero, at most
/// 65535.
fn port(text: &str) -> Result<u16, ParseError> {
    let digits = !text.is_empty()
        && text.len() <= 5
        && text.bytes().all(|b| b.is_ascii_digit())
        && !(text.len() > 1 && text.starts_with('0'));
    match text.parse::<u16>() {
        Ok(p) if digits => Ok(p),
        _ => bad("PROXY v1 port is not a number from 0 to 65535"),
    }
}

/// The 16-byte prefix, then addresses and TLVs.
fn parse_v2(buf: &[u8]) -> Result<Parsed, ParseError> {
    let Some(prefix) = buf.get(..16) else {
        return Ok(Parsed::Incomplete);
    };
    let ver_cmd = prefix[12];
    if ver_cmd >> 4 != 2 {
        return bad("PROXY v2 header has a version other than 2");
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        _ => return bad("PROXY v2 command is neither LOCAL nor PROXY"),
    };
    let fam = prefix[13];
    let body_len = usize::from(u16::from_be_bytes([prefix[14], prefix[15]]));
    let len = 16 + body_len;
    if len > MAX_V2_LEN {
        return bad("PROXY v2 header is longer than 4096 bytes");
    }
    let Some(body) = buf.get(16..len) else {
        return Ok(Parsed::Incomplete);
    };
    // Address block length by family; its TLVs follow.
    let (addr_len, addresses) = match fam {
        0x00 => (0, None),
        0x11 => {
            let Some(a) = body.get(..12) else {
                return bad("PROXY v2 header too short for its IPv4 addresses");
            };
            let ip = |i: usize| Ipv4Addr::new(a[i], a[i + 1], a[i + 2], a[i + 3]);
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            let src = SocketAddr::new(IpAddr::V4(ip(0)), port(8));
            let dst = SocketAddr::new(IpAddr::V4(ip(4)), port(10));
            (12, Some((src, dst)))
        }
        0x21 => {
            let Some(a) = body.get(..36) else {
                return bad("PROXY v2 header too short for its IPv6 addresses");
            };
            let ip = |i: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&a[i..i + 16]);
                Ipv6Addr::from(o)
            };
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            let src = SocketAddr::new(IpAddr::V6(ip(0)), port(32));
            let dst = SocketAddr::new(IpAddr::V6(ip(16)), port(34));
            (36, Some((src, dst)))
        }
        0x31 => {
            if body.len() < 216 {
                return bad("PROXY v2 header too short for its UNIX addresses");
            }
            (216, None)
        }
        0x12 | 0x22 | 0x32 => {
            return bad("PROXY v2 header is for a datagram connection, not a stream");
        }
        _ => return bad("PROXY v2 address family is not one the protocol defines"),
    };
    let tlvs = parse_tlvs(buf, 16 + addr_len, len)?;
    let header = ProxyHeader {
        version: 2,
        // LOCAL: the proxy's own connection; addresses it carries are
        // ignored (never a forged source).
        addresses: if local { None } else { addresses },
        tlvs,
    };
    Ok(Parsed::Complete {
        header: Box::new(header),
        len,
    })
}

const PP2_TYPE_ALPN: u8 = 0x01;
const PP2_TYPE_AUTHORITY: u8 = 0x02;
const PP2_TYPE_CRC32C: u8 = 0x03;
const PP2_TYPE_SSL: u8 = 0x20;
const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
const PP2_CLIENT_SSL: u8 = 0x01;
const PP2_CLIENT_CERT_CONN: u8 = 0x02;
const PP2_CLIENT_CERT_SESS: u8 = 0x04;

/// The TLVs of `header[start..end]` (`header` is the whole header, which
/// the CRC32C TLV covers).
fn parse_tlvs(header: &[u8], start: usize, end: usize) -> Result<Tlvs, ParseError> {
    let mut tlvs = Tlvs::default();
    let mut at = start;
    while at < end {
        let (kind, value, next) = tlv(header, at, end)?;
        match kind {
            PP2_TYPE_ALPN => tlvs.alpn = Some(value.to_vec()),
            PP2_TYPE_AUTHORITY => {
                let name = std::str::from_utf8(value).or(bad("PROXY v2 authority is not UTF-8"))?;
                tlvs.authority = Some(name.to_string());
            }
            PP2_TYPE_CRC32C => {
                let [a, b, c, d] = value else {
                    return bad("PROXY v2 CRC32C TLV is not 4 bytes long");
                };
                let sent = u32::from_be_bytes([*a, *b, *c, *d]);
                if crc32c_with_zeroed(&header[..end], at + 3) != sent {
                    return bad("PROXY v2 header fails its CRC32C check");
                }
            }
            PP2_TYPE_SSL => tlvs.ssl = Some(ssl_tlv(value)?),
            _ => {} // NOOP, UNIQUE_ID, NETNS and custom types: not used.
        }
        at = next;
    }
    Ok(tlvs)
}

/// The TLV at `buf[at..end]`: its type, value and where the next begins.
fn tlv(buf: &[u8], at: usize, end: usize) -> Result<(u8, &[u8], usize), ParseError> {
    let Some(&[kind, hi, lo]) = buf.get(at..at + 3).filter(|_| at + 3 <= end) else {
        return bad("PROXY v2 TLV is cut short");
    };
    let value_end = at + 3 + usize::from(u16::from_be_bytes([hi, lo]));
    if value_end > end {
        return bad("PROXY v2 TLV is longer than the header");
    }
    Ok((kind, &buf[at + 3..value_end], value_end))
}

/// `PP2_TYPE_SSL`: client flags (1 byte), verify (4 bytes), sub-TLVs.
fn ssl_tlv(value: &[u8]) -> Result<SslTlv, ParseError> {
    let Some(&[client, v0, v1, v2, v3]) = value.get(..5) else {
        return bad("PROXY v2 SSL TLV is shorter than 5 bytes");
    };
    let mut ssl = SslTlv {
        ssl: client & PP2_CLIENT_SSL != 0,
        cert_conn: client & PP2_CLIENT_CERT_CONN != 0,
        cert_sess: client & PP2_CLIENT_CERT_SESS != 0,
        verified: u32::from_be_bytes([v0, v1, v2, v3]) == 0,
        ..SslTlv::default()
    };
    let mut at = 5;
    while at < value.len() {
        let (kind, sub, next) = tlv(value, at, value.len())?;
        let text = || {
            std::str::from_utf8(sub)
                .map(str::to_string)
                .or(bad("PROXY v2 SSL sub-TLV is not UTF-8"))
        };
        match kind {
            PP2_SUBTYPE_SSL_VERSION => ssl.version = Some(text()?),
            PP2_SUBTYPE_SSL_CN => ssl.common_name = Some(text()?),
            PP2_SUBTYPE_SSL_CIPHER => ssl.cipher = Some(text()?),
            _ => {} // signature and key algorithms: not used.
        }
        at = next;
    }
    Ok(ssl)
}

/// CRC32C (Castagnoli) of `bytes`, with the four bytes at `zeroed` taken
/// as zero (the checksum's own field, as the protocol computes it).
fn crc32c_with_zeroed(bytes: &[u8], zeroed: usize) -> u32 {
    let mut crc = !0u32;
    for (i, &b) in bytes.iter().enumerate() {
        let b = if (zeroed..zeroed + 4).contains(&i) {
            0
        } else {
            b
        };
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Build a version 2 header: `PROXY` with `addresses`, or `LOCAL` with
/// none; `tlvs` are `(type, value)` pairs written as given. For tests,
/// the fuzz target's seeds and clients written in Rust.
pub fn encode_v2(addresses: Option<(SocketAddr, SocketAddr)>, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    let mut body = Vec::new();
    let fam = match addresses {
        None => 0x00,
        Some((SocketAddr::V4(s), SocketAddr::V4(d))) => {
            body.extend_from_slice(&s.ip().octets());
            body.extend_from_slice(&d.ip().octets());
            body.extend_from_slice(&s.port().to_be_bytes());
            body.extend_from_slice(&d.port().to_be_bytes());
            0x11
        }
        Some((s, d)) => {
            let v6 = |a: SocketAddr| match a.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            body.extend_from_slice(&v6(s).octets());
            body.extend_from_slice(&v6(d).octets());
            body.extend_from_slice(&s.port().to_be_bytes());
            body.extend_from_slice(&d.port().to_be_bytes());
            0x21
        }
    };
    for (kind, value) in tlvs {
        body.push(*kind);
        body.extend_from_slice(&(value.len() as u16).to_be_bytes());
        body.extend_from_slice(value);
    }
    out.push(if addresses.is_some() { 0x21 } else { 0x20 });
    out.push(fam);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn complete(buf: &[u8]) -> (ProxyHeader, usize) {
        match parse(buf) {
            Ok(Parsed::Complete { header, len }) => (*header, len),
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(buf)),
        }
    }

    #[test]
    fn v1_tcp4_and_tcp6_lines_give_both_addresses_and_their_length() {
        let line = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n";
        let (h, len) = complete(line);
        assert_eq!(len, 45);
        assert_eq!(
            h.addresses,
            Some((sa("192.0.2.7:56324"), sa("198.51.100.1:443")))
        );
        let (h, _) = complete(b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
        assert_eq!(
            h.addresses,
            Some((sa("[2001:db8::1]:1"), sa("[::1]:65535")))
        );
    }

    #[test]
    fn v1_unknown_keeps_the_connection_addresses() {
        let (h, len) = complete(b"PROXY UNKNOWN\r\n");
        assert_eq!((h.addresses, len), (None, 15));
        let (h, _) = complete(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n");
        assert_eq!(h.addresses, None);
    }

    #[test]
    fn every_prefix_of_a_header_is_incomplete_never_an_error() {
        let v1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n".to_vec();
        let v2 = encode_v2(
            Some((sa("192.0.2.7:1"), sa("192.0.2.8:2"))),
            &[(PP2_TYPE_ALPN, b"h2")],
        );
        for whole in [v1, v2] {
            for cut in 0..whole.len() {
                assert_eq!(parse(&whole[..cut]), Ok(Parsed::Incomplete), "cut at {cut}");
            }
            assert!(
                matches!(parse(&whole), Ok(Parsed::Complete { len, .. }) if len == whole.len())
            );
        }
    }

    #[test]
    fn malformed_v1_lines_are_refused() {
        for bad in [
            &b"PROXY TCP4 192.0.2.7  198.51.100.1 1 2\r\n"[..],
            b"PROXY TCP4 192.0.2.7 198.51.100.1 1 2 3\r\n",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 +1 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX",
            // Found by the proxy_header fuzz target: a LF inside an UNKNOWN
            // line was taken whole but refused when cut before the CR.
            b"PROXY UNKNOWN ffff::1 ff\x01\0\0\0\0\0\n:2 1 2\r\n",
            b"PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXY UNKNOWNX\r\n",
            b"GET / HTTP/1.1\r\n",
            b"\r\n\r\n\0\r\nQUIT\r",
        ] {
            assert!(
                parse(bad).is_err(),
                "{:?} was taken",
                String::from_utf8_lossy(bad)
            );
        }
        let long = [&b"PROXY UNKNOWN "[..], &[b'x'; 100]].concat();
        assert!(parse(&long).is_err(), "a line past 107 bytes was taken");
    }

    #[test]
    fn v2_proxy_gives_addresses_and_tlvs() {
        let mut ssl = vec![PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN, 0, 0, 0, 0];
        ssl.extend_from_slice(&[PP2_SUBTYPE_SSL_VERSION, 0, 7]);
        ssl.extend_from_slice(b"TLSv1.3");
        ssl.extend_from_slice(&[PP2_SUBTYPE_SSL_CN, 0, 6]);
        ssl.extend_from_slice(b"client");
        let bytes = encode_v2(
            Some((sa("[2001:db8::5]:40000"), sa("[2001:db8::1]:443"))),
            &[
                (PP2_TYPE_ALPN, b"http/1.1"),
                (PP2_TYPE_AUTHORITY, b"example.org"),
                (0x04, b"\0\0"),
                (PP2_TYPE_SSL, &ssl),
            ],
        );
        let (h, len) = complete(&[&bytes[..], b"GET"].concat());
        assert_eq!(len, bytes.len());
        assert_eq!(h.version, 2);
        assert_eq!(
            h.addresses,
            Some((sa("[2001:db8::5]:40000"), sa("[2001:db8::1]:443")))
        );
        assert_eq!(h.tlvs.alpn.as_deref(), Some(&b"http/1.1"[..]));
        assert_eq!(h.tlvs.authority.as_deref(), Some("example.org"));
        let ssl = h.tlvs.ssl.unwrap();
        assert!(ssl.ssl && ssl.cert_conn && !ssl.cert_sess && ssl.verified);
        assert_eq!(ssl.version.as_deref(), Some("TLSv1.3"));
        assert_eq!(ssl.common_name.as_deref(), Some("client"));
    }

    #[test]
    fn v2_local_ignores_any_address_it_carries() {
        let mut bytes = encode_v2(Some((sa("10.9.9.9:1"), sa("10.0.0.1:80"))), &[]);
        bytes[12] = 0x20; // LOCAL, addresses left in
        let (h, _) = complete(&bytes);
        assert_eq!(h.addresses, None);
        let (h, len) = complete(&encode_v2(None, &[]));
        assert_eq!((h.addresses, len), (None, 16));
    }

    #[test]
    fn v2_crc32c_is_checked_when_present() {
        let addrs = Some((sa("192.0.2.1:1000"), sa("192.0.2.2:80")));
        let mut bytes = encode_v2(addrs, &[(PP2_TYPE_CRC32C, &[0; 4])]);
        let at = bytes.len() - 4;
        let crc = crc32c_with_zeroed(&bytes, at);
        bytes[at..].copy_from_slice(&crc.to_be_bytes());
        complete(&bytes);
        bytes[at] ^= 1;
        assert!(parse(&bytes).is_err(), "a wrong checksum was taken");
        // The standard check value of CRC32C.
        assert_eq!(crc32c_with_zeroed(b"123456789", 100), 0xe306_9283);
    }

    #[test]
    fn malformed_v2_headers_are_refused() {
        let good = encode_v2(Some((sa("192.0.2.1:1"), sa("192.0.2.2:2"))), &[(1, b"h2")]);
        let with = |i: usize, b: u8| {
            let mut v = good.clone();
            v[i] = b;
            v
        };
        for (what, bytes) in [
            ("version 3", with(12, 0x31)),
            ("command 2", with(12, 0x22)),
            ("UDP", with(13, 0x12)),
            ("family 0x41", with(13, 0x41)),
            ("IPv6 in a short body", with(13, 0x21)),
            ("a TLV past the end", with(good.len() - 3, 9)),
            ("a TLV cut short", with(15, good[15] - 4)),
        ] {
            assert!(parse(&bytes).is_err(), "{what} was taken");
        }
        let mut huge = good[..16].to_vec();
        huge[14..16].copy_from_slice(&5000u16.to_be_bytes());
        assert!(parse(&huge).is_err(), "a 5000-byte header was awaited");
    }
}
