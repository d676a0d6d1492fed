//! mod_proxy's and mod_proxy_http's directives: `ProxyPass` (with its
//! `key=value` parameters, `!` exclusions, and the one-argument form
//! inside `<Location>`), `ProxyPassMatch`, `ProxyPassReverse` (also one
//! argument inside `<Location>`), `ProxyPassReverseCookieDomain`,
//! `ProxyPassReverseCookiePath`, `ProxyPreserveHost`, `ProxyTimeout`,
//! `ProxyAddHeaders`, `ProxyVia` and `ProxyRequests Off`; and
//! mod_proxy_wstunnel's: `ws://` URLs, `upgrade=` and
//! `ProxyWebsocketIdleTimeout`; mod_proxy_fcgi's: `fcgi://` URLs (and
//! `unix:/path|fcgi://…`), `enablereuse=`, `ProxyFCGIBackendType`.
//!
//! mod_proxy_balancer's: `<Proxy balancer://name>` with `BalancerMember
//! url [key=value …]` and `ProxySet key=value …` inside it, or outside it
//! with the balancer's URL first (`BalancerMember balancer://api
//! http://127.0.0.1:9001`, `ProxySet balancer://api lbmethod=bybusyness`),
//! and a balancer's `lbmethod=`/`stickysession=` on the `ProxyPass` that
//! names it; `ProxyPassReverse path balancer://name/…` stands for one
//! rule per member. A `ProxyPass` to a balancer no `<Proxy>` defines, or one
//! without members, is refused at the end of reading. `<Proxy url>` of a
//! `fcgi://` backend (`"unix:/run/php/php-fpm.sock|fcgi://localhost"`) with
//! `ProxySet key=value …` inside (or `ProxySet url key=value …`) gives the
//! parameters of the worker `SetHandler "proxy:url"` uses.
//!
//! Every URL and parameter is checked as it is read, so `-t` names the
//! line of a bad one. mod_proxy_hcheck's `hcmethod=`, `hcuri=`,
//! `hcinterval=`, `hcpasses=`, `hcfails=` are read on a `BalancerMember`
//! and on the `ProxyPass` to a balancer (for every member). Not built
//! yet, and refused with a message saying so: `hcexpr=`/`hctemplate=`,
//! `<Proxy>` of an `http://` worker, `https://` and `wss://` backends (no TLS
//! client yet), `ProxyWebsocketAsync`/`ProxyWebsocketFallbackToProxyHttp`,
//! and forward proxying (`ProxyRequests On`).
//!
//! As in Apache, the rules are tried in this order: the `<Location>`
//! forms (the last matching block's first), then the main server's
//! `ProxyPass`/`ProxyPassMatch` lines, then the virtual host's, each in
//! file order; the first that matches decides.

use std::time::Duration;

use super::state::{Block, Directive, HostSel, ProxyBlock, ProxyHost, Scope, State};
use crate::config::error::ConfigError;
use crate::config::values::{on_off, one_arg, seconds, Res};
use mpm_site::config::Origin;
use mpm_site::proxy::{
    BackendScheme, BackendUrl, BalancerConfig, BalancerUrl, FcgiBackendType, MemberConfig,
    PassMatch, PassTarget, ProxyConfig, ProxyPass, ProxyPassReverse, ProxyRegex, ProxyVia,
    WorkerConfig,
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
        "balancermember" => member(l, d),
        "proxyset" => proxy_set(l, d),
        "proxystatus" | "balancerpersist" | "balancerinherit" | "balancergrowth" => Err(format!(
            "{} is not supported by mpmd's balancer (balancers of the main server are \
             inherited by every <VirtualHost>; members' state is kept across graceful restarts)",
            d.name
        )),
        "proxyhcexpr" | "proxyhctemplate" | "proxyhctpsize" => Err(format!(
            "{} is not supported by mpmd's health checks (hcmethod=, hcuri=, hcinterval=, \
             hcpasses= and hcfails= on BalancerMember or the ProxyPass to the balancer are)",
            d.name
        )),
        "proxywebsocketidletimeout" => l.server(d).and_then(|()| {
            let t = seconds(d.name, one_arg(d.name, d.args)?)?;
            l.host(d.scope.host).proxy.tunnel_idle_timeout = Some(t);
            Ok(())
        }),
        "proxyfcgibackendtype" => l.server(d).and_then(|()| {
            let kind = match one_arg(d.name, d.args)?.to_ascii_lowercase().as_str() {
                "fpm" => FcgiBackendType::Fpm,
                "generic" => FcgiBackendType::Generic,
                other => {
                    return Err(format!(
                        "ProxyFCGIBackendType must be FPM or GENERIC, not '{other}'"
                    ))
                }
            };
            l.host(d.scope.host).proxy.fcgi_backend_type = Some(kind);
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
        Block::Location if !is_match && l.location_path().is_some() => {
            let path = l.location_path().unwrap_or_default();
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
    } else if let Some(balancer) = BalancerUrl::parse(url).map_err(|e| format!("{} {e}", d.name))? {
        if is_match && balancer.path.contains('$') {
            return Err(format!(
                "{} {url}: $1… substitutions in a balancer:// path are not supported by mpmd",
                d.name
            ));
        }
        for param in params {
            // Checked now, applied to the balancer at the end of reading.
            BalancerConfig::new(&balancer.name).set_param(param)?;
            l.host(d.scope.host).proxy.balancer_params.push((
                balancer.name.clone(),
                param.clone(),
                d.origin.clone(),
            ));
        }
        PassTarget::Balancer(balancer)
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
            if param.to_ascii_lowercase().starts_with("hc") {
                return Err(format!(
                    "{} {param}: health checks are for balancer members in mpmd: put the backend \
                     in a <Proxy balancer://…> and the hc… parameters on its BalancerMember",
                    d.name
                ));
            }
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
        (Block::Location, [url]) if l.location_path().is_some() => {
            (l.location_path().unwrap_or_default(), url)
        }
        (_, [_, _, third, ..]) if third.eq_ignore_ascii_case("interpolate") => {
            return Err("ProxyPassReverse … interpolate is not supported by mpmd".into())
        }
        (Block::None | Block::Location, _) => {
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
    // A balancer's URL stands for each of its members' (at the end of
    // reading, when every member is known).
    if BalancerUrl::parse(url)
        .map_err(|e| format!("ProxyPassReverse {e}"))?
        .is_none()
    {
        BackendUrl::parse(url).map_err(|e| format!("ProxyPassReverse {e}"))?;
    }
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
pub(super) fn merged(
    own: &ProxyHost,
    main: Option<&ProxyHost>,
    timeout: Duration,
) -> Result<ProxyConfig, ConfigError> {
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
    let balancers = balancers(own, main, &passes)?;
    for r in main_or_empty.reverse.iter().chain(&own.reverse) {
        if let Ok(Some(url)) = BalancerUrl::parse(&r.url) {
            if !balancers.iter().any(|b| b.name == url.name) {
                return Err(ConfigError {
                    origin: None,
                    message: format!(
                        "ProxyPassReverse {} {}: no <Proxy balancer://{}> defines this balancer",
                        r.path, r.url, url.name
                    ),
                });
            }
        }
    }
    Ok(ProxyConfig {
        passes,
        reverse: reverse_urls(main_or_empty.reverse.iter().chain(&own.reverse), &balancers),
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
        balancers,
        workers: {
            // The host's own parameters for a backend replace the main
            // server's.
            let mut workers: Vec<WorkerConfig> = main_or_empty.workers.clone();
            for w in &own.workers {
                workers.retain(|have| !have.url.same_backend(&w.url));
                workers.push(w.clone());
            }
            workers
        },
        fcgi_backend_type: own
            .fcgi_backend_type
            .or(main_or_empty.fcgi_backend_type)
            .unwrap_or(defaults.fcgi_backend_type),
    })
}

/// The index of balancer `name` in the host's list, made if new.
fn balancer_index(l: &mut State<'_>, host: HostSel, name: &str, origin: &Origin) -> usize {
    let balancers = &mut l.host(host).proxy.balancers;
    match balancers.iter().position(|b| b.name == name) {
        Some(i) => i,
        None => {
            balancers.push(BalancerConfig {
                origin: origin.clone(),
                ..BalancerConfig::new(name)
            });
            balancers.len() - 1
        }
    }
}

/// `<Proxy balancer://name>` (the balancer's index, for the directives
/// inside) or `<Proxy url>` of a backend (`"unix:/run/php/php-fpm.sock|fcgi://localhost"`,
/// `fcgi://127.0.0.1:9000`: the worker's index, for the `ProxySet` inside).
pub(super) fn open_proxy(
    l: &mut State<'_>,
    args: &[String],
    origin: &Origin,
    scope: Scope,
) -> Res<ProxyBlock> {
    if scope.block != Block::None {
        return Err("<Proxy> is allowed at server level or in <VirtualHost>".into());
    }
    let [url] = args else {
        return Err("<Proxy> takes one URL: <Proxy balancer://api> or <Proxy \"unix:/run/php/php-fpm.sock|fcgi://localhost\">".into());
    };
    let Some(balancer) = BalancerUrl::parse(url).map_err(|e| format!("<Proxy {e}>"))? else {
        let parsed = fcgi_backend(url).map_err(|e| format!("<Proxy {e}>"))?;
        return Ok(ProxyBlock::Worker(worker_index(l, scope.host, parsed)));
    };
    if !balancer.path.is_empty() && balancer.path != "/" {
        return Err(format!(
            "<Proxy {url}>: a balancer is named without a path (<Proxy balancer://{}>)",
            balancer.name
        ));
    }
    Ok(ProxyBlock::Balancer(balancer_index(
        l,
        scope.host,
        &balancer.name,
        origin,
    )))
}

/// The backend of a `<Proxy url>` or `ProxySet url …` that is not a
/// balancer: a `fcgi://` one, whose parameters `SetHandler "proxy:…"`
/// takes (an `http://` backend's go on its `ProxyPass` line).
fn fcgi_backend(url: &str) -> Res<BackendUrl> {
    let parsed = BackendUrl::parse(url)?;
    if parsed.scheme != BackendScheme::Fcgi {
        return Err(format!(
            "{url}: only <Proxy balancer://name> (a balancer's members) and the <Proxy> of a \
             fcgi:// backend (its ProxySet parameters, for SetHandler \"proxy:…\") are supported \
             by mpmd; give an {} backend's parameters on its ProxyPass line",
            url.split_once("://").map_or("other", |(scheme, _)| scheme)
        ));
    }
    Ok(parsed)
}

/// The index of the worker of `url`'s backend in the host's list, made
/// if new.
fn worker_index(l: &mut State<'_>, host: HostSel, url: BackendUrl) -> usize {
    let workers = &mut l.host(host).proxy.workers;
    match workers.iter().position(|w| w.url.same_backend(&url)) {
        Some(i) => i,
        None => {
            workers.push(WorkerConfig::new(url));
            workers.len() - 1
        }
    }
}

/// `BalancerMember [balancer://name] url [key=value …]`.
fn member(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    let usage = "BalancerMember takes a member's URL and key=value parameters inside \
                 <Proxy balancer://name>, or the balancer's URL first outside it";
    let (index, rest) = match d.scope.block {
        Block::Proxy(ProxyBlock::Balancer(i)) => (i, d.args),
        Block::None => {
            let Some((first, rest)) = d.args.split_first() else {
                return Err(usage.into());
            };
            let Some(balancer) = BalancerUrl::parse(first)
                .map_err(|e| format!("BalancerMember {e}"))?
                .filter(|_| !rest.is_empty())
            else {
                return Err(usage.into());
            };
            let i = balancer_index(l, d.scope.host, &balancer.name, d.origin);
            (i, rest)
        }
        _ => return Err(usage.into()),
    };
    let Some((url, params)) = rest.split_first() else {
        return Err(usage.into());
    };
    let parsed = BackendUrl::parse(url).map_err(|e| format!("BalancerMember {e}"))?;
    let mut m = MemberConfig::new(parsed);
    for param in params {
        m.set_param(param)?;
    }
    let balancer = &mut l.host(d.scope.host).proxy.balancers[index];
    if balancer
        .members
        .iter()
        .any(|have| have.worker.url == m.worker.url)
    {
        return Err(format!(
            "BalancerMember {url}: balancer://{} has this member already",
            balancer.name
        ));
    }
    balancer.members.push(m);
    Ok(())
}

/// `ProxySet [url] key=value …`: a balancer's parameters, or a
/// backend's (for `SetHandler "proxy:url"`); the URL is left out inside
/// its `<Proxy>`.
fn proxy_set(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    let (which, params) = match d.scope.block {
        Block::Proxy(which) => (which, d.args),
        Block::None => {
            let Some((first, rest)) = d.args.split_first() else {
                return Err("ProxySet takes a URL (balancer://name or a backend's) then key=value parameters".into());
            };
            let which = match BalancerUrl::parse(first).map_err(|e| format!("ProxySet {e}"))? {
                Some(balancer) => {
                    ProxyBlock::Balancer(balancer_index(l, d.scope.host, &balancer.name, d.origin))
                }
                None => {
                    let url = fcgi_backend(first).map_err(|e| format!("ProxySet {e}"))?;
                    ProxyBlock::Worker(worker_index(l, d.scope.host, url))
                }
            };
            (which, rest)
        }
        _ => {
            return Err(
                "ProxySet is allowed in <Proxy …>, at server level or in <VirtualHost>".into(),
            )
        }
    };
    if params.is_empty() {
        return Err("ProxySet takes key=value parameters (lbmethod=bybusyness, timeout=30)".into());
    }
    let proxy = &mut l.host(d.scope.host).proxy;
    for param in params {
        match which {
            ProxyBlock::Balancer(i) => proxy.balancers[i].set_param(param)?,
            ProxyBlock::Worker(i) => proxy.workers[i]
                .set_param(param)
                .map_err(|e| e.replacen("ProxyPass", "ProxySet", 1))?,
        }
    }
    Ok(())
}

/// A host's balancers after the main server's (a virtual host inherits
/// them; its own of the same name wins), with the parameters written on
/// `ProxyPass` lines applied; every `balancer://` a rule names must be
/// defined and have members.
fn balancers(
    own: &ProxyHost,
    main: Option<&ProxyHost>,
    passes: &[ProxyPass],
) -> Result<Vec<BalancerConfig>, ConfigError> {
    let mut out: Vec<BalancerConfig> = Vec::new();
    for b in main
        .into_iter()
        .flat_map(|m| &m.balancers)
        .chain(&own.balancers)
    {
        out.retain(|have| have.name != b.name);
        out.push(b.clone());
    }
    for (name, param, origin) in main
        .into_iter()
        .flat_map(|m| &m.balancer_params)
        .chain(&own.balancer_params)
    {
        let Some(b) = out.iter_mut().find(|b| &b.name == name) else {
            return Err(ConfigError::at(
                origin,
                format!("ProxyPass balancer://{name}: no <Proxy balancer://{name}> defines this balancer"),
            ));
        };
        b.set_param(param).map_err(|e| ConfigError::at(origin, e))?;
    }
    for pass in passes {
        if let PassTarget::Balancer(url) = &pass.target {
            match out.iter().find(|b| b.name == url.name) {
                None => {
                    return Err(ConfigError::at(
                        &pass.origin,
                        format!(
                            "ProxyPass {url}: no <Proxy balancer://{}> defines this balancer",
                            url.name
                        ),
                    ))
                }
                Some(b) if b.members.is_empty() => {
                    return Err(ConfigError::at(
                        &b.origin,
                        format!(
                            "balancer://{} has no BalancerMember (add BalancerMember http://host:port inside <Proxy>)",
                            b.name
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
    }
    Ok(out)
}

/// The `ProxyPassReverse` rules with a `balancer://name/path` URL
/// replaced by one rule per member (the member's URL, then the path), as
/// Apache rewrites an answer from any member.
fn reverse_urls<'a>(
    rules: impl Iterator<Item = &'a ProxyPassReverse>,
    balancers: &[BalancerConfig],
) -> Vec<ProxyPassReverse> {
    let mut out = Vec::new();
    for r in rules {
        match BalancerUrl::parse(&r.url) {
            Ok(Some(url)) => {
                for b in balancers.iter().filter(|b| b.name == url.name) {
                    for m in &b.members {
                        let member = m.worker.url.to_string();
                        out.push(ProxyPassReverse {
                            path: r.path.clone(),
                            url: format!("{}{}", member.trim_end_matches('/'), url.path),
                        });
                    }
                }
            }
            _ => out.push(r.clone()),
        }
    }
    out
}
