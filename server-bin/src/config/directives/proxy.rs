//! mod_proxy's and mod_proxy_http's directives: `ProxyPass` (with its
//! `key=value` parameters, `!` exclusions, and the one-argument form
//! inside `<Location>`), `ProxyPassMatch`, `ProxyPassReverse` (also one
//! argument inside `<Location>`), `ProxyPassReverseCookieDomain`,
//! `ProxyPassReverseCookiePath`, `ProxyPreserveHost`, `ProxyTimeout`,
//! `ProxyAddHeaders`, `ProxyVia` and `ProxyRequests Off`; and
//! mod_proxy_wstunnel's: `ws://` URLs, `upgrade=` and
//! `ProxyWebsocketIdleTimeout`.
//!
//! Every URL and parameter is checked as it is read, so `-t` names the
//! line of a bad one. Not built yet, and refused with a message saying
//! so: balancers (`balancer://`, `<Proxy>`, `BalancerMember`, `ProxySet`),
//! `https://` and `wss://` backends (no TLS client yet),
//! `ProxyWebsocketAsync`/`ProxyWebsocketFallbackToProxyHttp`, and
//! forward proxying (`ProxyRequests On`).
//!
//! As in Apache, the rules are tried in this order: the `<Location>`
//! forms (the last matching block's first), then the main server's
//! `ProxyPass`/`ProxyPassMatch` lines, then the virtual host's, each in
//! file order; the first that matches decides.

use std::time::Duration;

use super::state::{Block, Directive, ProxyHost, State};
use crate::config::values::{on_off, one_arg, seconds, Res};
use mpm_site::proxy::{
    BackendUrl, PassMatch, PassTarget, ProxyConfig, ProxyPass, ProxyPassReverse, ProxyRegex,
    ProxyVia, WorkerConfig,
};

/// The proxy directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "proxypass" | "proxypassmatch" => pass(l, d),
        "proxypassreverse" => reverse(l, d),
        "proxypassreversecookiedomain" | "proxypassreversecookiepath" => {
            l.server(d).and_then(|()| {
                let [internal, public] = d.args else {
                    return Err(format!("{} takes two arguments: internal public", d.name));
                };
                let pair = (internal.clone(), public.clone());
                let proxy = &mut l.host(d.scope.host).proxy;
                if d.lower.ends_with("domain") {
                    proxy.cookie_domains.push(pair);
                } else {
                    proxy.cookie_paths.push(pair);
                }
                Ok(())
            })
        }
        "proxypreservehost" => l.server(d).and_then(|()| {
            let on = on_off(d.name, one_arg(d.name, d.args)?)?;
            l.host(d.scope.host).proxy.preserve_host = Some(on);
            Ok(())
        }),
        "proxyaddheaders" => l.server(d).and_then(|()| {
            let on = on_off(d.name, one_arg(d.name, d.args)?)?;
            l.host(d.scope.host).proxy.add_headers = Some(on);
            Ok(())
        }),
        "proxytimeout" => l.server(d).and_then(|()| {
            let t = seconds(d.name, one_arg(d.name, d.args)?)?;
            l.host(d.scope.host).proxy.timeout = Some(t);
            Ok(())
        }),
        "proxyvia" => l.server(d).and_then(|()| {
            let via = match one_arg(d.name, d.args)?.to_ascii_lowercase().as_str() {
                "off" => ProxyVia::Off,
                "on" => ProxyVia::On,
                "full" => ProxyVia::Full,
                "block" => ProxyVia::Block,
                other => {
                    return Err(format!(
                        "ProxyVia must be On, Off, Full or Block, not '{other}'"
                    ))
                }
            };
            l.host(d.scope.host).proxy.via = Some(via);
            Ok(())
        }),
        "proxyrequests" => {
            l.server(d).and_then(|()| {
                if on_off(d.name, one_arg(d.name, d.args)?)? {
                    Err("ProxyRequests On (a forward proxy) is not supported by mpmd: only reverse \
                     proxying with ProxyPass is; write ProxyRequests Off or leave it out"
                    .into())
                } else {
                    Ok(())
                }
            })
        }
        "balancermember" | "proxyset" | "proxystatus" | "balancerpersist" | "balancerinherit"
        | "balancergrowth" | "proxyhcexpr" | "proxyhctemplate" | "proxyhctpsize" => Err(format!(
            "{}: balancers (mod_proxy_balancer, mod_proxy_hcheck) are not built yet in mpmd; \
             use ProxyPass to one backend",
            d.name
        )),
        "proxywebsocketidletimeout" => l.server(d).and_then(|()| {
            let t = seconds(d.name, one_arg(d.name, d.args)?)?;
            l.host(d.scope.host).proxy.tunnel_idle_timeout = Some(t);
            Ok(())
        }),
        "proxywebsocketasync" | "proxywebsocketfallbacktoproxyhttp" => Err(format!(
            "{}: not supported by mpmd: tunnels (ws://, upgrade=) are always passed by the \
             proxy and, under the event MPM, always held by the event loop without a thread; \
             remove the line",
            d.name
        )),
        _ => return None,
    })
}

/// `ProxyPass path url|! [key=value …]` (or one argument fewer inside
/// `<Location>`), and `ProxyPassMatch regex url|! [key=value …]`.
fn pass(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    let is_match = d.lower == "proxypassmatch";
    let (matcher, rest, in_location) = match d.scope.block {
        Block::None => {
            let Some((first, rest)) = d.args.split_first() else {
                return Err(usage(d.name));
            };
            let matcher = if is_match {
                PassMatch::Regex(ProxyRegex::new(first).map_err(|e| format!("{}: {e}", d.name))?)
            } else {
                if !first.starts_with('/') {
                    return Err(format!(
                        "{} {first}: the path must start with / (e.g. ProxyPass /app/ http://127.0.0.1:8080/)",
                        d.name
                    ));
                }
                PassMatch::Prefix(first.clone())
            };
            (matcher, rest, false)
        }
        Block::Location(i) if !is_match => {
            let path = l.host(d.scope.host).locations[i].path.clone();
            (PassMatch::Prefix(path), d.args, true)
        }
        _ => {
            return Err(format!(
                "{} is allowed at server level, in <VirtualHost>{}",
                d.name,
                if is_match {
                    ""
                } else {
                    " or in <Location> (with one argument fewer)"
                }
            ))
        }
    };
    let Some((url, params)) = rest.split_first() else {
        return Err(usage(d.name));
    };
    let target = if url == "!" {
        if !params.is_empty() {
            return Err(format!("{}: an exclusion (!) takes no parameters", d.name));
        }
        PassTarget::Exclude
    } else {
        let parsed = BackendUrl::parse(url).map_err(|e| format!("{} {e}", d.name))?;
        if !is_match && parsed.path.contains('$') {
            return Err(format!(
                "{} {url}: $1… substitutions are for ProxyPassMatch",
                d.name
            ));
        }
        if parsed.host.contains('$') {
            return Err(format!(
                "{} {url}: the host cannot hold a substitution",
                d.name
            ));
        }
        let mut worker = WorkerConfig::new(parsed);
        for param in params {
            worker.set_param(param)?;
        }
        PassTarget::Backend(worker)
    };
    let rule = ProxyPass {
        matcher,
        target,
        origin: d.origin.clone(),
    };
    let proxy = &mut l.host(d.scope.host).proxy;
    if in_location {
        proxy.location_passes.push(rule);
    } else {
        proxy.passes.push(rule);
    }
    Ok(())
}

fn usage(name: &str) -> String {
    format!("{name} takes a path and a URL (or !), then key=value parameters: {name} /app/ http://127.0.0.1:8080/ timeout=30")
}

/// `ProxyPassReverse path url` (one argument inside `<Location>`).
fn reverse(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    let (path, url) = match (d.scope.block, d.args) {
        (Block::None, [path, url]) => (path.clone(), url),
        (Block::Location(i), [url]) => (l.host(d.scope.host).locations[i].path.clone(), url),
        (_, [_, _, third, ..]) if third.eq_ignore_ascii_case("interpolate") => {
            return Err("ProxyPassReverse … interpolate is not supported by mpmd".into())
        }
        (Block::None | Block::Location(_), _) => {
            return Err(
                "ProxyPassReverse takes a path and a URL (ProxyPassReverse /app/ http://127.0.0.1:8080/), \
                 or the URL alone inside <Location>"
                    .into(),
            )
        }
        _ => {
            return Err(
                "ProxyPassReverse is allowed at server level, in <VirtualHost> or in <Location>"
                    .into(),
            )
        }
    };
    BackendUrl::parse(url).map_err(|e| format!("ProxyPassReverse {e}"))?;
    l.host(d.scope.host).proxy.reverse.push(ProxyPassReverse {
        path,
        url: url.clone(),
    });
    Ok(())
}

/// A host's proxy configuration: its own settings, after the main
/// server's (`main`, for a virtual host), the rules in the order they
/// are tried (see the module's text); `timeout` is the server's
/// `Timeout`, for a host without `ProxyTimeout`.
pub(super) fn merged(own: &ProxyHost, main: Option<&ProxyHost>, timeout: Duration) -> ProxyConfig {
    let empty = ProxyHost::default();
    let main_or_empty = main.unwrap_or(&empty);
    let both = |f: fn(&ProxyHost) -> &Vec<_>| -> Vec<ProxyPass> {
        let mut v = f(main_or_empty).clone();
        v.extend(f(own).iter().cloned());
        v
    };
    let mut passes: Vec<ProxyPass> = both(|h| &h.location_passes);
    passes.reverse();
    passes.extend(both(|h| &h.passes));
    let pairs = |f: fn(&ProxyHost) -> &Vec<(String, String)>| -> Vec<(String, String)> {
        f(main_or_empty).iter().chain(f(own)).cloned().collect()
    };
    let defaults = ProxyConfig::default();
    ProxyConfig {
        passes,
        reverse: main_or_empty
            .reverse
            .iter()
            .chain(&own.reverse)
            .cloned()
            .collect(),
        reverse_cookie_domains: pairs(|h| &h.cookie_domains),
        reverse_cookie_paths: pairs(|h| &h.cookie_paths),
        preserve_host: own
            .preserve_host
            .or(main_or_empty.preserve_host)
            .unwrap_or(defaults.preserve_host),
        timeout: own.timeout.or(main_or_empty.timeout).unwrap_or(timeout),
        add_headers: own
            .add_headers
            .or(main_or_empty.add_headers)
            .unwrap_or(defaults.add_headers),
        via: own.via.or(main_or_empty.via).unwrap_or(defaults.via),
        tunnel_idle_timeout: own
            .tunnel_idle_timeout
            .or(main_or_empty.tunnel_idle_timeout),
    }
}
