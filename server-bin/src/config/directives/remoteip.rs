//! mod_remoteip's directives: the PROXY protocol per listening address
//! (`RemoteIPProxyProtocol`, in the main server or a `<VirtualHost>`,
//! applied to the addresses that host serves), its exceptions and
//! timeout, and the client-address header (`RemoteIPHeader`) with the
//! proxies trusted to send either.
//!
//! Beyond Apache, `RemoteIPTrustedProxy` and `RemoteIPInternalProxy` also
//! say who may send a PROXY header: when either is set, a connection from
//! any other address to a PROXY-protocol address is refused (unless it is
//! an exception). `RemoteIPProxyProtocolTimeout` (mpmd's own) bounds the
//! wait for the header, 5 seconds by default. Stricter than Apache: every
//! directive but `RemoteIPProxyProtocol` is a main-server setting (mpmd
//! has one list of proxies), and proxies are written as addresses or
//! networks, never host names.

use super::state::{set, Directive, Setter, State};
use crate::config::values::{on_off, one_arg, parse_ipnet, seconds, Res};
use mpm_site::config::IpNet;

/// The one-value settings.
pub(super) const SERVER_WIDE: &[(&str, Setter)] = &[
    ("remoteipheader", |l, n, v| {
        let name = http::HeaderName::from_bytes(v.as_bytes())
            .map_err(|_| format!("{n} {v}: not a header field name"))?;
        l.remote_ip.header = Some(name);
        Ok(())
    }),
    ("remoteipproxyprotocoltimeout", |l, n, v| {
        set(&mut l.proxy_protocol_timeout, seconds(n, v))
    }),
];

/// The lists and the per-host switch.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "remoteipproxyprotocol" => l.server(d).and_then(|()| {
            let on = on_off(d.name, one_arg(d.name, d.args)?)?;
            l.host(d.scope.host).proxy_protocol = Some(on);
            Ok(())
        }),
        "remoteipproxyprotocolexceptions" => {
            list(l, d).map(|nets| l.proxy_protocol_exceptions.extend(nets))
        }
        "remoteiptrustedproxy" => list(l, d).map(|nets| l.remote_ip.trusted.extend(nets)),
        "remoteipinternalproxy" => list(l, d).map(|nets| l.remote_ip.internal.extend(nets)),
        "remoteiptrustedproxylist" | "remoteipinternalproxylist" => Err(format!(
            "{} (a file of proxies) is not supported by mpmd; list them with {} ADDRESS…",
            d.name,
            &d.name[..d.name.len() - 4]
        )),
        "remoteipproxiesheader" => Err(
            "RemoteIPProxiesHeader is not supported by mpmd: the proxies' addresses are not passed on"
                .into(),
        ),
        _ => return None,
    })
}

/// A main-server list of addresses and networks (`10.0.0.0/8`, `::1`).
fn list(l: &State<'_>, d: &Directive<'_>) -> Res<Vec<IpNet>> {
    l.global(d)?;
    if d.args.is_empty() {
        return Err(format!(
            "{} takes addresses or networks, e.g. {} 10.0.0.0/8 192.0.2.7",
            d.name, d.name
        ));
    }
    d.args.iter().map(|a| parse_ipnet(d.name, a)).collect()
}
