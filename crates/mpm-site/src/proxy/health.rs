//! mod_proxy_hcheck: balancer members checked in the background, never
//! on a request's path.
//!
//! Where the checks run: one thread in each child (started by
//! [`start_checker`] from the handler factory, which runs in every child
//! after `fork`), and for each member, one check per `hcinterval=` over
//! all the children: the child whose thread first finds the check due
//! takes it with a compare-and-swap on the member's shared "next check"
//! time, the others see it taken. So the checks go on while any child
//! lives, a child that dies mid-check only delays the next one by an
//! interval, and the master stays single-threaded for `fork` (a check
//! that blocks on a slow backend blocks only its thread). The result goes
//! to the shared slot: `hcfails=` failures in a row take the member out
//! for every child at once, `hcpasses=` passes in a row bring it back.
//!
//! A check connects within the member's `connectiontimeout=` (else its
//! timeout), both bounded by the interval and 5 s; `TCP` passes once
//! connected, `GET`/`HEAD`/`OPTIONS` send `hcuri=` (after the member's
//! path) over HTTP/1.0 and pass on a 2xx or 3xx status line.

use std::io::{Read, Write};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::balancer::{Balancer, HcMethod, HealthCheck, Member};

/// How often the thread looks for a due check.
const TICK: Duration = Duration::from_millis(100);
/// The longest wait of one check, whatever the interval.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Start this process's checker thread, if a member of `balancers` has
/// health checks; it ends when `balancers` is dropped (a new
/// configuration) or the process exits.
pub fn start_checker(balancers: &Arc<Vec<Arc<Balancer>>>) -> std::io::Result<()> {
    let any = balancers
        .iter()
        .flat_map(|b| &b.members)
        .any(|m| m.health.is_some());
    if !any {
        return Ok(());
    }
    let weak: Weak<Vec<Arc<Balancer>>> = Arc::downgrade(balancers);
    std::thread::Builder::new()
        .name("proxy-hcheck".into())
        .spawn(move || run(&weak))
        .map(|_| ())
}

fn run(balancers: &Weak<Vec<Arc<Balancer>>>) {
    loop {
        let Some(list) = balancers.upgrade() else {
            return;
        };
        for b in list.iter() {
            for m in &b.members {
                let Some(hc) = &m.health else { continue };
                if !m.slot.take_check(hc.interval) {
                    continue;
                }
                let outcome = probe(m, hc);
                let change = m.slot.record_check(outcome.is_ok(), hc.passes, hc.fails);
                match (change, &outcome) {
                    (Some(false), Err(why)) => log::error!(
                        "proxy: balancer://{}: {} failed {} health check(s) in a row ({why}); \
                         no child sends it requests until it passes {}",
                        b.config.name,
                        m.worker.name,
                        hc.fails,
                        hc.passes
                    ),
                    (Some(true), _) => log::warn!(
                        "proxy: balancer://{}: {} passed {} health check(s) in a row; back in use",
                        b.config.name,
                        m.worker.name,
                        hc.passes
                    ),
                    _ => {}
                }
            }
        }
        drop(list);
        std::thread::sleep(TICK);
    }
}

/// One check of `m`: `Ok` when it passes, else why not.
fn probe(m: &Member, hc: &HealthCheck) -> Result<(), String> {
    let cfg = &m.worker.config;
    let wait = cfg
        .connection_timeout
        .unwrap_or(m.worker.timeout)
        .min(hc.interval)
        .min(MAX_WAIT);
    let mut stream = m
        .worker
        .open(wait, wait)
        .map_err(|e| format!("connecting: {e}"))?;
    if cfg.url.scheme == super::config::BackendScheme::Fcgi {
        // A FastCGI application is not asked an HTTP question: that it
        // takes a connection is its health.
        return Ok(());
    }
    let method = match hc.method {
        HcMethod::None | HcMethod::Tcp => return Ok(()),
        HcMethod::Get => "GET",
        HcMethod::Head => "HEAD",
        HcMethod::Options => "OPTIONS",
    };
    let mut path = format!("{}{}", cfg.url.path.trim_end_matches('/'), hc.uri);
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let io = |e: std::io::Error| format!("{method} {path}: {e}");
    stream
        .write_all(
            format!(
                "{method} {path} HTTP/1.0\r\nHost: {}\r\nUser-Agent: mpmd-hcheck\r\n\
                 Connection: close\r\n\r\n",
                cfg.url.authority()
            )
            .as_bytes(),
        )
        .map_err(io)?;
    // The status line: "HTTP/1.x NNN".
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match stream.read(&mut head[got..]).map_err(io)? {
            0 => break,
            n => got += n,
        }
    }
    let line = &head[..got];
    let status = line
        .strip_prefix(b"HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| std::str::from_utf8(code).ok()?.parse::<u16>().ok());
    match status {
        Some(code) if (200..400).contains(&code) => Ok(()),
        Some(code) => Err(format!("{method} {path} answered {code}")),
        None => Err(format!("{method} {path}: no HTTP status line")),
    }
}
