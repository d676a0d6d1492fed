//! mod_ssl's directives, per host (merged with the main server's in
//! [`super::merge`]) or for the whole server; the syntax of their values
//! (`SSLProtocol`, `SSLCipherSuite`) is in `config::ssl_values`.

use super::state::{set, Directive, Setter, State};
use crate::config::ssl_values::{is_tls13, parse_cipher_suites, parse_protocols};
use crate::config::values::{on_off, one_arg, seconds, Res};

/// The session settings, one for the server.
pub(super) const SERVER_WIDE: &[(&str, Setter)] = &[
    ("sslsessiontickets", |l, n, v| {
        set(&mut l.ssl_session_tickets, on_off(n, v))
    }),
    ("sslsessioncache", |l, _, v| {
        set(
            &mut l.ssl_session_cache,
            Ok(!v.eq_ignore_ascii_case("none")),
        )
    }),
    ("sslpassphrasedialog", |_, _, v| {
        if !v.eq_ignore_ascii_case("builtin") {
            return Err(
                "SSLPassPhraseDialog: mpmd reads only unencrypted keys; only `builtin` is accepted"
                    .into(),
            );
        }
        Ok(())
    }),
];

/// mod_ssl's other directives; any other `SSL…` is refused with the list
/// of those mpmd knows.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    if !d.lower.starts_with("ssl") {
        return None;
    }
    Some(match d.lower {
        "sslengine" => l.server(d).and_then(|()| {
            let on = match one_arg(d.name, d.args)?.to_ascii_lowercase().as_str() {
                "on" => true,
                "off" => false,
                "optional" => return Err("SSLEngine optional (TLS upgrade of a plain connection) is not supported by mpmd; use SSLEngine on".into()),
                other => return Err(format!("SSLEngine must be on or off, not '{other}'")),
            };
            l.host(d.scope.host).ssl.engine = Some(on);
            Ok(())
        }),
        "sslcertificatefile" => l.server(d).and_then(|()| {
            let path = l.path(one_arg(d.name, d.raw)?);
            let ssl = &mut l.host(d.scope.host).ssl;
            ssl.cert_file = Some(path);
            ssl.cert_origin = Some(d.origin.clone());
            Ok(())
        }),
        "sslcertificatekeyfile" => l.server(d).and_then(|()| {
            let path = l.path(one_arg(d.name, d.raw)?);
            l.host(d.scope.host).ssl.key_file = Some(path);
            Ok(())
        }),
        "sslcertificatechainfile" => Err(
            "SSLCertificateChainFile is obsolete (as in Apache 2.4.8+): append the chain to the SSLCertificateFile, after the server's certificate".into(),
        ),
        "sslprotocol" => l.server(d).and_then(|()| {
            let words: Vec<&str> = d.args.iter().map(String::as_str).collect();
            if words.is_empty() {
                return Err(
                    "SSLProtocol takes protocols, e.g. SSLProtocol -all +TLSv1.2 +TLSv1.3".into(),
                );
            }
            l.host(d.scope.host).ssl.protocols = Some(parse_protocols(&words)?);
            Ok(())
        }),
        "sslciphersuite" => cipher_suite(l, d),
        "sslhonorcipherorder" => l.server(d).and_then(|()| {
            l.host(d.scope.host).ssl.honor_cipher_order =
                Some(on_off(d.name, one_arg(d.name, d.args)?)?);
            Ok(())
        }),
        "sslsessioncachetimeout" => l
            .server(d)
            .and_then(|()| seconds(d.name, one_arg(d.name, d.args)?).map(drop)),
        "sslrandomseed" => l.global(d),
        "sslcompression" | "sslinsecurerenegotiation" => l.server(d).and_then(|()| {
            if on_off(d.name, one_arg(d.name, d.args)?)? {
                return Err(format!(
                    "{} on is not supported (insecure); mpmd never enables it",
                    d.name
                ));
            }
            Ok(())
        }),
        _ => Err(format!(
            "{} is not supported by mpmd's mod_ssl (rustls); it knows SSLEngine, SSLCertificateFile, SSLCertificateKeyFile, SSLProtocol, SSLCipherSuite, SSLHonorCipherOrder, SSLSessionTickets, SSLSessionCache, SSLSessionCacheTimeout, SSLRandomSeed, SSLPassPhraseDialog builtin, SSLCompression off",
            d.name
        )),
    })
}

/// `SSLCipherSuite [SSL|TLSv1.3] list`: the plain form sets the TLS 1.2
/// suites, the `TLSv1.3` form the TLS 1.3 ones; each keeps the other's.
fn cipher_suite(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.server(d)?;
    let (tls13, spec) = match d.args {
        [spec] => (false, spec.as_str()),
        [proto, spec] if proto.eq_ignore_ascii_case("SSL") => (false, spec.as_str()),
        [proto, spec] if proto.eq_ignore_ascii_case("TLSv1.3") => (true, spec.as_str()),
        _ => return Err("SSLCipherSuite takes [SSL|TLSv1.3] and a cipher list, e.g. SSLCipherSuite ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256".into()),
    };
    let suites = parse_cipher_suites(spec)?;
    if tls13 && !suites.iter().all(|&s| is_tls13(s)) {
        return Err(format!("SSLCipherSuite TLSv1.3 {spec}: only TLSv1.3 suites (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256) belong here"));
    }
    let ssl = &mut l.host(d.scope.host).ssl;
    let mut all: Vec<_> = ssl
        .cipher_suites
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|&s| is_tls13(s) != tls13)
        .collect();
    all.extend(suites);
    ssl.cipher_suites = Some(all);
    Ok(())
}
