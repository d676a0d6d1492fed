//! HTTP/2's directives (the core's `Protocols` and `ProtocolsHonorOrder`,
//! and mod_http2's `H2*`): which protocols a server speaks, per server or
//! `<VirtualHost>` (merged with the main server's in [`super::merge`]),
//! and the session's bounds, for the whole server.
//!
//! - `Protocols h2 h2c http/1.1` (server, `<VirtualHost>`): `h2` is
//!   HTTP/2 over TLS by ALPN, `h2c` HTTP/2 in clear (prior knowledge and
//!   `Upgrade: h2c`), `http/1.1` HTTP/1.x. Apache's default is
//!   `Protocols http/1.1`, and so is ours. An address offers what its
//!   default host says, and on TLS what the host a client's SNI names
//!   says (`crate::http2`, `crate::tls`).
//! - `ProtocolsHonorOrder on|off` (server, `<VirtualHost>`): on (the
//!   default), the server's order wins in ALPN; off, the client's (the
//!   first protocol it lists that the host speaks).
//! - `H2Direct on|off`: prior knowledge; on by default for `h2c`, off for
//!   TLS (where `on` lets a client that skipped ALPN start with the
//!   preface, as mod_http2).
//! - `H2Upgrade on|off`: `Upgrade: h2c` from HTTP/1.1; on by default for
//!   `h2c`; never on TLS (RFC 9113 §3.2 has no upgrade over TLS; mod_http2
//!   refuses it there too).
//! - `H2MaxSessionStreams`, `H2WindowSize`, `H2StreamMaxMemSize`,
//!   `H2MaxWorkers`, `H2MinWorkers` (main server only: mpmd has one
//!   protocol configuration): see [`mpm::Http2Config`]. `H2MaxWorkers`
//!   and `H2MinWorkers` size mod_http2's own thread pool; mpmd serves
//!   streams with the strategy's threads, so `H2MaxWorkers` only bounds
//!   how many streams of one connection are served at once and
//!   `H2MinWorkers` is accepted with no effect.
//! - `H2Push on|off`: accepted; only `off` takes effect (browsers dropped
//!   server push), `on` is a warning.
//! - `H2ModernTLSOnly on|off`: accepted; rustls offers only TLS 1.2 and
//!   1.3 with AEAD suites, which is what `on` asks for.

use super::state::{set, Directive, Setter, State};
use crate::config::server_config::{AppProtocol, ProtocolSettings};
use crate::config::values::{number, on_off, one_arg, Res};

/// The session's bounds, one value for the whole server each.
#[rustfmt::skip] // A table: one directive a line.
pub(super) const SERVER_WIDE: &[(&str, Setter)] = &[
    ("h2maxsessionstreams", |l, n, v| set(&mut l.protocol.http2.max_session_streams, in_range(n, v, 1, MAX_WINDOW))),
    ("h2windowsize", |l, n, v| set(&mut l.protocol.http2.window_size, in_range(n, v, 1, MAX_WINDOW))),
    ("h2streammaxmemsize", |l, n, v| set(&mut l.protocol.http2.stream_max_mem, in_range(n, v, 1024, 1 << 30).map(|m| m as usize))),
    ("h2maxworkers", |l, n, v| set(&mut l.protocol.http2.max_workers, in_range(n, v, 1, 1 << 16).map(Some))),
    ("h2minworkers", |_, n, v| in_range(n, v, 1, 1 << 16).map(drop)),
    ("h2push", push),
    ("h2moderntlsonly", |_, n, v| on_off(n, v).map(drop)),
];

/// The largest flow-control window and stream count HTTP/2 can announce
/// (RFC 9113 §6.5.2, §6.9.1).
const MAX_WINDOW: u32 = (1 << 31) - 1;

/// A whole number from `low` to `high`, or the message saying so.
fn in_range(name: &str, value: &str, low: u32, high: u32) -> Res<u32> {
    let n: u32 = number(name, value)?;
    if !(low..=high).contains(&n) {
        return Err(format!(
            "{name} {value}: the value must be from {low} to {high}"
        ));
    }
    Ok(n)
}

/// `H2Push on|off`: only `off` takes effect.
fn push(l: &mut State<'_>, name: &str, value: &str) -> Res<()> {
    if on_off(name, value)? {
        l.warnings.push(format!(
            "{name} on: mpmd never pushes (browsers dropped HTTP/2 server push); it stays off"
        ));
    }
    Ok(())
}

/// `Protocols`, `ProtocolsHonorOrder`, `H2Direct`, `H2Upgrade`, per host.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    let apply = |l: &mut State<'_>, f: fn(&mut ProtocolSettings, &Directive<'_>) -> Res<()>| {
        l.server(d)
            .and_then(|()| f(&mut l.host(d.scope.host).protocols, d))
    };
    Some(match d.lower {
        "protocols" => apply(l, |p, d| {
            p.protocols = Some(parse_protocols(d.name, d.args)?);
            Ok(())
        }),
        "protocolshonororder" => apply(l, |p, d| {
            p.honor_order = Some(on_off(d.name, one_arg(d.name, d.args)?)?);
            Ok(())
        }),
        "h2direct" => apply(l, |p, d| {
            p.h2_direct = Some(on_off(d.name, one_arg(d.name, d.args)?)?);
            Ok(())
        }),
        "h2upgrade" => apply(l, |p, d| {
            p.h2_upgrade = Some(on_off(d.name, one_arg(d.name, d.args)?)?);
            Ok(())
        }),
        _ => return None,
    })
}

/// `Protocols`' words: each of `h2`, `h2c`, `http/1.1` at most once, in
/// the order written (the server's preference).
fn parse_protocols(name: &str, args: &[String]) -> Res<Vec<AppProtocol>> {
    if args.is_empty() {
        return Err(format!(
            "{name} takes one or more of h2, h2c, http/1.1, e.g. {name} h2 http/1.1"
        ));
    }
    let mut out = Vec::with_capacity(args.len());
    for word in args {
        let p = AppProtocol::from_name(word).ok_or_else(|| {
            format!(
                "{name}: mpmd does not speak '{word}'; it knows h2 (HTTP/2 over TLS), h2c (HTTP/2 in clear) and http/1.1"
            )
        })?;
        if out.contains(&p) {
            return Err(format!("{name}: {word} is named twice"));
        }
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_are_read_in_the_order_written_and_unknown_ones_are_refused() {
        let args = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_protocols("Protocols", &args(&["h2", "HTTP/1.1", "h2c"])),
            Ok(vec![AppProtocol::H2, AppProtocol::Http11, AppProtocol::H2c])
        );
        let e = parse_protocols("Protocols", &args(&["h3"])).unwrap_err();
        assert!(e.contains("'h3'") && e.contains("h2c"), "{e}");
        let e = parse_protocols("Protocols", &args(&["h2", "h2"])).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        assert!(parse_protocols("Protocols", &[]).is_err());
    }

    #[test]
    fn a_window_or_stream_count_out_of_range_is_refused_with_the_range() {
        assert_eq!(in_range("H2WindowSize", "65535", 1, MAX_WINDOW), Ok(65535));
        let e = in_range("H2WindowSize", "2147483648", 1, MAX_WINDOW).unwrap_err();
        assert!(e.contains("2147483647"), "{e}");
        assert!(in_range("H2MaxSessionStreams", "0", 1, MAX_WINDOW).is_err());
        assert!(in_range("H2MaxSessionStreams", "many", 1, MAX_WINDOW).is_err());
    }
}
