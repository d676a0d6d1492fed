//! Header fields across the proxy: the request head written to the
//! backend (hop-by-hop fields removed, `Host` per `ProxyPreserveHost`,
//! `X-Forwarded-*` and `Via` added) and the backend's response fields as
//! the client gets them (hop-by-hop fields removed, `ProxyPassReverse*`
//! applied, `Via` added).
//!
//! Hop-by-hop fields (RFC 9110 §7.6.1) are `Connection` and every field
//! it names, `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`,
//! `Transfer-Encoding` and `Upgrade`; the body's framing
//! (`Content-Length` or chunked) is written by the proxy for each side.
//! Without a tunnel, an `Upgrade` request is passed as a plain request,
//! as Apache does without `upgrade=`; for a worker that tunnels (`ws://`,
//! `upgrade=`) the exchange asks again for this hop, with
//! `Connection: Upgrade` and the protocol it lets through.

use std::io::Write;

use http::header::{
    CONNECTION, CONTENT_LENGTH, HOST, LOCATION, SET_COOKIE, TE, TRAILER, TRANSFER_ENCODING,
    UPGRADE, VIA,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::config::{ProxyConfig, ProxyVia};
use super::response::list;

/// The fields that describe one connection, not the message.
const HOP_BY_HOP: &[&str] = &["keep-alive", "proxy-connection"];

/// Whether `name` is hop-by-hop in every message.
fn is_fixed_hop_by_hop(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == TE
        || name == TRAILER
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || HOP_BY_HOP.contains(&name.as_str())
}

/// The other fields a message's `Connection` names (lowercase, as header
/// names compare), read once per message: none, and no allocation, for
/// the usual `keep-alive` or `close`.
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    list(headers, &CONNECTION)
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .filter(|name| !is_fixed_hop_by_hop(name))
        .collect()
}

/// Whether `name` is hop-by-hop in a message whose `Connection` names
/// `named` (see [`connection_named`]).
fn is_hop_by_hop(name: &HeaderName, named: &[HeaderName]) -> bool {
    is_fixed_hop_by_hop(name) || named.contains(name)
}

/// How the request body goes to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestFraming {
    /// No body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// Chunked (the client sent it chunked).
    Chunked,
}

/// What the request head to the backend is made from, besides the
/// client's fields.
pub(super) struct Outgoing<'a> {
    pub(super) method: &'a Method,
    /// Path and query on the backend.
    pub(super) target: &'a str,
    /// The backend URL's `host[:port]`.
    pub(super) backend_authority: &'a str,
    /// The client's address.
    pub(super) client_ip: &'a str,
    /// This server's name (`X-Forwarded-Server`, `Via`).
    pub(super) server_name: &'a str,
    /// `Server` header value, for `ProxyVia Full`.
    pub(super) server_version: &'a str,
    pub(super) framing: RequestFraming,
}

/// Write the request head for the backend into `out`.
pub(super) fn write_request_head(
    out: &mut Vec<u8>,
    cfg: &ProxyConfig,
    req: &Outgoing<'_>,
    client: &HeaderMap,
) {
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let client_host = client.get(HOST).and_then(|h| h.to_str().ok());
    let host = match client_host {
        Some(h) if cfg.preserve_host => h,
        _ => req.backend_authority,
    };
    field(out, "Host", host.as_bytes());
    let mut forwarded_for: Option<Vec<u8>> = None;
    let mut forwarded_host: Option<Vec<u8>> = None;
    let mut forwarded_server: Option<Vec<u8>> = None;
    let mut via: Option<Vec<u8>> = None;
    let named = connection_named(client);
    for (name, value) in client {
        if name == HOST || name == CONTENT_LENGTH || is_hop_by_hop(name, &named) {
            continue;
        }
        let joined = match name.as_str() {
            "x-forwarded-for" if cfg.add_headers => &mut forwarded_for,
            "x-forwarded-host" if cfg.add_headers => &mut forwarded_host,
            "x-forwarded-server" if cfg.add_headers => &mut forwarded_server,
            "via" if matches!(cfg.via, ProxyVia::On | ProxyVia::Full) => &mut via,
            "via" if cfg.via == ProxyVia::Block => continue,
            _ => {
                field(out, name.as_str(), value.as_bytes());
                continue;
            }
        };
        let list = joined.get_or_insert_with(Vec::new);
        if !list.is_empty() {
            list.extend_from_slice(b", ");
        }
        list.extend_from_slice(value.as_bytes());
    }
    let append = |list: Option<Vec<u8>>, more: &[u8]| -> Vec<u8> {
        let mut list = list.unwrap_or_default();
        if !list.is_empty() {
            list.extend_from_slice(b", ");
        }
        list.extend_from_slice(more);
        list
    };
    if cfg.add_headers {
        field(
            out,
            "X-Forwarded-For",
            &append(forwarded_for, req.client_ip.as_bytes()),
        );
        if let Some(h) = client_host {
            field(
                out,
                "X-Forwarded-Host",
                &append(forwarded_host, h.as_bytes()),
            );
        } else if let Some(list) = forwarded_host {
            field(out, "X-Forwarded-Host", &list);
        }
        field(
            out,
            "X-Forwarded-Server",
            &append(forwarded_server, req.server_name.as_bytes()),
        );
    }
    if matches!(cfg.via, ProxyVia::On | ProxyVia::Full) {
        field(
            out,
            "Via",
            &append(
                via,
                via_value(cfg.via, req.server_name, req.server_version).as_bytes(),
            ),
        );
    }
    match req.framing {
        RequestFraming::None => {}
        RequestFraming::Length(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        RequestFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// This proxy's `Via` element.
fn via_value(via: ProxyVia, server_name: &str, server_version: &str) -> String {
    match via {
        ProxyVia::Full if !server_version.is_empty() => {
            format!("1.1 {server_name} ({server_version})")
        }
        _ => format!("1.1 {server_name}"),
    }
}

/// What rewriting a response's fields needs to know of the request.
pub(super) struct Incoming<'a> {
    /// `http://host` or `https://host` as the client reached this server,
    /// for `ProxyPassReverse`'s absolute URLs.
    pub(super) public_base: &'a str,
    pub(super) server_name: &'a str,
    pub(super) server_version: &'a str,
}

/// The backend's response fields as the client gets them.
pub(super) fn response_headers(
    backend: &HeaderMap,
    cfg: &ProxyConfig,
    incoming: &Incoming<'_>,
) -> HeaderMap {
    let named = connection_named(backend);
    let mut out = HeaderMap::with_capacity(backend.len() + 1);
    for (name, value) in backend {
        if name == CONTENT_LENGTH || is_hop_by_hop(name, &named) {
            continue;
        }
        let value = if name == LOCATION || name == "content-location" || name == "uri" {
            reverse_url(value, cfg, incoming.public_base)
        } else if name == SET_COOKIE {
            reverse_cookie(value, cfg)
        } else {
            value.clone()
        };
        out.append(name.clone(), value);
    }
    if matches!(cfg.via, ProxyVia::On | ProxyVia::Full) {
        let mine = via_value(cfg.via, incoming.server_name, incoming.server_version);
        let joined = match out.get(VIA).map(|v| v.as_bytes()) {
            Some(theirs) => [theirs, b", ", mine.as_bytes()].concat(),
            None => mine.into_bytes(),
        };
        if let Ok(v) = HeaderValue::from_bytes(&joined) {
            out.insert(VIA, v);
        }
    }
    out
}

/// `ProxyPassReverse`: a URL starting with a rule's backend URL, made to
/// start with the rule's path on this server instead (absolute, as
/// Apache writes it).
fn reverse_url(value: &HeaderValue, cfg: &ProxyConfig, public_base: &str) -> HeaderValue {
    let Ok(text) = value.to_str() else {
        return value.clone();
    };
    for rule in &cfg.reverse {
        if let Some(rest) = text.strip_prefix(rule.url.as_str()) {
            let path = rule.path.trim_end_matches('/');
            let sep = if rest.starts_with('/') || rest.is_empty() && !rule.path.ends_with('/') {
                ""
            } else {
                "/"
            };
            let new = format!("{public_base}{path}{sep}{rest}");
            return HeaderValue::from_str(&new).unwrap_or_else(|_| value.clone());
        }
    }
    value.clone()
}

/// `ProxyPassReverseCookieDomain` and `…Path` on one `Set-Cookie`.
fn reverse_cookie(value: &HeaderValue, cfg: &ProxyConfig) -> HeaderValue {
    if cfg.reverse_cookie_domains.is_empty() && cfg.reverse_cookie_paths.is_empty() {
        return value.clone();
    }
    let Ok(text) = value.to_str() else {
        return value.clone();
    };
    let mut changed = false;
    let parts: Vec<String> = text
        .split(';')
        .enumerate()
        .map(|(i, part)| {
            let Some((key, val)) = part.split_once('=').filter(|_| i > 0) else {
                return part.to_string();
            };
            let attr = key.trim();
            let val_t = val.trim();
            if attr.eq_ignore_ascii_case("domain") {
                let bare = val_t.strip_prefix('.').unwrap_or(val_t);
                for (internal, public) in &cfg.reverse_cookie_domains {
                    let internal = internal.strip_prefix('.').unwrap_or(internal);
                    if bare.eq_ignore_ascii_case(internal) {
                        changed = true;
                        return format!("{key}={public}");
                    }
                }
            } else if attr.eq_ignore_ascii_case("path") {
                for (internal, public) in &cfg.reverse_cookie_paths {
                    if let Some(rest) = val_t.strip_prefix(internal.as_str()) {
                        changed = true;
                        return format!("{key}={public}{rest}");
                    }
                }
            }
            part.to_string()
        })
        .collect();
    if !changed {
        return value.clone();
    }
    HeaderValue::from_str(&parts.join(";")).unwrap_or_else(|_| value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::config::ProxyPassReverse;

    fn headers(fields: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in fields {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn outgoing<'a>(method: &'a Method, framing: RequestFraming) -> Outgoing<'a> {
        Outgoing {
            method,
            target: "/x?y",
            backend_authority: "127.0.0.1:9000",
            client_ip: "192.0.2.1",
            server_name: "www.example",
            server_version: "mpmd/0.1",
            framing,
        }
    }

    #[test]
    fn the_request_head_drops_hop_by_hop_fields_and_adds_forwarded_ones() {
        let client = headers(&[
            ("host", "www.example"),
            ("connection", "keep-alive, X-Secret"),
            ("x-secret", "1"),
            ("keep-alive", "300"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("transfer-encoding", "chunked"),
            ("x-forwarded-for", "198.51.100.7"),
            ("accept", "*/*"),
        ]);
        let mut out = Vec::new();
        let get = Method::POST;
        write_request_head(
            &mut out,
            &ProxyConfig::default(),
            &outgoing(&get, RequestFraming::Chunked),
            &client,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("POST /x?y HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n"),
            "{text}"
        );
        for gone in ["x-secret", "keep-alive", "te:", "upgrade", "connection"] {
            assert!(
                !text.to_ascii_lowercase().contains(gone),
                "{gone} passed: {text}"
            );
        }
        assert!(text.contains("accept: */*\r\n"), "{text}");
        assert!(
            text.contains("X-Forwarded-For: 198.51.100.7, 192.0.2.1\r\n"),
            "{text}"
        );
        assert!(text.contains("X-Forwarded-Host: www.example\r\n"), "{text}");
        assert!(
            text.contains("X-Forwarded-Server: www.example\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with("Transfer-Encoding: chunked\r\n\r\n"),
            "{text}"
        );
        assert_eq!(text.matches("ransfer-").count(), 1, "{text}");

        let cfg = ProxyConfig {
            preserve_host: true,
            add_headers: false,
            via: ProxyVia::On,
            ..ProxyConfig::default()
        };
        let mut out = Vec::new();
        write_request_head(
            &mut out,
            &cfg,
            &outgoing(&get, RequestFraming::Length(3)),
            &client,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Host: www.example\r\n"), "{text}");
        assert!(!text.contains("X-Forwarded-Server"), "{text}");
        assert!(text.contains("Via: 1.1 www.example\r\n"), "{text}");
        assert!(text.contains("Content-Length: 3\r\n"), "{text}");
    }

    #[test]
    fn response_locations_and_cookies_are_rewritten_for_the_client() {
        let cfg = ProxyConfig {
            reverse: vec![ProxyPassReverse {
                path: "/app/".into(),
                url: "http://127.0.0.1:9000/".into(),
            }],
            reverse_cookie_domains: vec![("backend.internal".into(), "www.example".into())],
            reverse_cookie_paths: vec![("/".into(), "/app/".into())],
            ..ProxyConfig::default()
        };
        let backend = headers(&[
            ("location", "http://127.0.0.1:9000/login?next=1"),
            ("content-location", "http://elsewhere/x"),
            (
                "set-cookie",
                "id=1; Domain=backend.internal; Path=/a; HttpOnly",
            ),
            ("connection", "close, x-private"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("content-length", "5"),
        ]);
        let incoming = Incoming {
            public_base: "http://www.example",
            server_name: "www.example",
            server_version: "",
        };
        let out = response_headers(&backend, &cfg, &incoming);
        assert_eq!(out["location"], "http://www.example/app/login?next=1");
        assert_eq!(out["content-location"], "http://elsewhere/x");
        assert_eq!(
            out["set-cookie"],
            "id=1; Domain=www.example; Path=/app/a; HttpOnly"
        );
        for gone in [
            "connection",
            "x-private",
            "transfer-encoding",
            "content-length",
        ] {
            assert!(!out.contains_key(gone), "{gone} passed");
        }
    }
}
