//! HTTP's settings, for the whole server (mpmd has one protocol
//! configuration, where Apache lets a virtual host set some of these):
//! `KeepAlive`, `KeepAliveTimeout`, `MaxKeepAliveRequests`, `Timeout`,
//! `RequestReadTimeout`, the `LimitRequest*` limits and `ServerTokens`.

use super::state::{set, Directive, Setter, State};
use crate::config::values::{number, on_off, parse_read_stage, seconds, Res};

/// Every one of them but `RequestReadTimeout`, which takes several stages.
#[rustfmt::skip] // A table: one directive a line.
pub(super) const SERVER_WIDE: &[(&str, Setter)] = &[
    ("keepalive", |l, n, v| set(&mut l.protocol.timeouts.keep_alive, on_off(n, v))),
    ("keepalivetimeout", |l, n, v| set(&mut l.protocol.timeouts.keep_alive_timeout, seconds(n, v))),
    ("maxkeepaliverequests", |l, n, v| set(&mut l.protocol.timeouts.max_keep_alive_requests, number(n, v))),
    ("timeout", |l, n, v| set(&mut l.protocol.timeouts.timeout, seconds(n, v))),
    ("limitrequestline", |l, n, v| set(&mut l.protocol.limits.request_line, number(n, v))),
    ("limitrequestfieldsize", |l, n, v| set(&mut l.protocol.limits.field_size, number(n, v))),
    ("limitrequestfields", |l, n, v| set(&mut l.protocol.limits.fields, number(n, v))),
    ("limitrequestbody", |l, n, v| set(&mut l.protocol.limits.body, number(n, v))),
    ("limitrequestheadmemory", |l, n, v| set(&mut l.protocol.limits.head_budget, number(n, v))),
    ("servertokens", server_tokens),
];

/// `ServerTokens Prod|Major|Minor|Minimal|OS|Full`: how much the `Server`
/// header says.
fn server_tokens(l: &mut State<'_>, _: &str, v: &str) -> Res<()> {
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or("0");
    let minor = parts.next().unwrap_or("0");
    l.protocol.server_header = match v.to_ascii_lowercase().as_str() {
        "prod" | "productonly" => "mpmd".to_string(),
        "major" => format!("mpmd/{major}"),
        "minor" => format!("mpmd/{major}.{minor}"),
        "min" | "minimal" => format!("mpmd/{version}"),
        "os" | "full" => format!("mpmd/{version} (Unix)"),
        other => {
            return Err(format!(
                "ServerTokens takes Prod, Major, Minor, Minimal, OS or Full, not '{other}'"
            ))
        }
    };
    Ok(())
}

/// `RequestReadTimeout header=20-40,MinRate=500 body=…`.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    match d.lower {
        "requestreadtimeout" => Some(request_read_timeout(l, d)),
        _ => None,
    }
}

fn request_read_timeout(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.global(d)?;
    if d.args.is_empty() {
        return Err(
            "RequestReadTimeout takes stage settings such as header=20-40,MinRate=500".into(),
        );
    }
    for arg in d.args {
        let stage = parse_read_stage(arg)?;
        let timeouts = &mut l.protocol.timeouts.request_read;
        match stage {
            ("header", s) => timeouts.header = s,
            ("body", s) => timeouts.body = s,
            _ => l.warn(
                d.origin,
                format_args!(
                    "RequestReadTimeout {arg}: the handshake stage has no effect without TLS"
                ),
            ),
        }
    }
    Ok(())
}
