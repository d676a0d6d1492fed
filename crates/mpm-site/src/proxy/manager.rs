//! mod_proxy_balancer's `balancer-manager` page, read-only: each
//! balancer with its `lbmethod` and sticky session, and each member with
//! its route, load factor, state (`Init Ok`, `Init Err` while in error,
//! `Init Stby` for a hot standby, `Init HcFl` while its health checks
//! hold it out, `Init Dis`/`Init Stop` when the
//! configuration turns it off), and its counters from the shared table:
//! requests, requests in progress (busy), errors, bytes sent to it and
//! read from it. As HTML, or with `?auto` as plain `key: value` lines
//! like mod_status's machine form. Apache's form that changes members is
//! not built: change the configuration and restart gracefully (the
//! counters and error states of the members kept are kept).
//!
//! Also here: the response body wrapper that counts the bytes a member
//! sends and keeps it busy until its answer has been passed on.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::sync::Arc;

use mpm_core::{Body, Response};

use super::balancer::{Balancer, Busy, Member, MemberState};
use crate::pages::escape_html as escape;

/// `response` with its body counted on `busy`'s member, which stays busy
/// until the body has been passed on (or dropped).
pub(super) fn count_body(response: Response, busy: Busy) -> Response {
    let (parts, body) = response.into_parts();
    let body = match body {
        Body::Reader { reader, len } => Body::Reader {
            reader: Box::new(Counted {
                inner: reader,
                busy,
            }),
            len,
        },
        Body::Writer(write) => Body::writer(move |w| {
            let outcome = write(w);
            busy.read(w.bytes_sent());
            drop(busy);
            outcome
        }),
        Body::Bytes(bytes) => {
            busy.read(bytes.len() as u64);
            Body::Bytes(bytes)
        }
        other => other,
    };
    Response::from_parts(parts, body)
}

/// A body reader that counts what passes.
struct Counted {
    inner: Box<dyn Read + Send>,
    busy: Busy,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.busy.read(n as u64);
        Ok(n)
    }
}

/// The state's name, as Apache's manager writes it.
fn state_name(state: MemberState, hot_standby: bool, stopped: bool) -> String {
    match state {
        MemberState::Ok if hot_standby => "Init Stby Ok".into(),
        MemberState::Ok => "Init Ok".into(),
        MemberState::Err(left) => format!(
            "Init Err{} (retry in {} s)",
            if hot_standby { " Stby" } else { "" },
            left.as_secs() + 1
        ),
        MemberState::HcFailed => "Init HcFl".into(),
        MemberState::Off if stopped => "Init Stop".into(),
        MemberState::Off => "Init Dis".into(),
    }
}

/// A member's fields, each as `(?auto key, HTML column, value)`, in the
/// page's order (after its URL).
fn member_fields(m: &Member) -> [(&'static str, &'static str, String); 11] {
    let c = m.counts();
    let health = m.health.as_ref();
    [
        ("Route", "Route", m.config.route.clone().unwrap_or_default()),
        ("LoadFactor", "Factor", m.config.loadfactor.to_string()),
        (
            "Status",
            "Status",
            state_name(m.state(), m.config.hot_standby, m.config.stopped),
        ),
        ("Requests", "Elected", c.requests.to_string()),
        ("Busy", "Busy", c.busy.to_string()),
        ("Errors", "Errors", c.errors.to_string()),
        ("To", "To", c.bytes_to.to_string()),
        ("From", "From", c.bytes_from.to_string()),
        (
            "HcMethod",
            "HC Method",
            health.map_or("NONE", |h| h.method.name()).to_string(),
        ),
        (
            "HcUri",
            "HC URI",
            health.map_or(String::new(), |h| h.uri.clone()),
        ),
        ("HealthChecks", "Checks", c.health_checks.to_string()),
    ]
}

/// The page: `(content type, body)`; `auto` for the plain-text form.
pub fn render(balancers: &[Arc<Balancer>], auto: bool) -> (&'static str, String) {
    let mut out = String::new();
    if auto {
        for b in balancers {
            let _ = writeln!(out, "Balancer: balancer://{}", b.config.name);
            let _ = writeln!(out, "LbMethod: {}", b.config.lbmethod.name());
            let sticky = b
                .config
                .sticky
                .as_ref()
                .map_or("(none)".to_string(), |(c, p)| sticky_text(c, p));
            let _ = writeln!(out, "StickySession: {sticky}");
            for m in &b.members {
                let _ = write!(out, "Member: {}", m.worker.name);
                for (key, _, value) in member_fields(m) {
                    // One word per value: spaces become _, none is "-".
                    let value = if value.is_empty() {
                        "-".to_string()
                    } else {
                        value.replace(' ', "_")
                    };
                    let _ = write!(out, " {key}={value}");
                }
                out.push('\n');
            }
        }
        return ("text/plain; charset=utf-8", out);
    }
    out.push_str(
        "<!DOCTYPE html>\n<html><head><title>Balancer Manager</title></head><body>\n\
         <h1>Load Balancer Manager</h1>\n<p>Read-only: change members in the \
         configuration and restart gracefully.</p>\n",
    );
    for b in balancers {
        let sticky = b
            .config
            .sticky
            .as_ref()
            .map_or("(None)".to_string(), |(c, p)| sticky_text(c, p));
        let _ = write!(
            out,
            "<h3>LoadBalancer Status for balancer://{}</h3>\n<table border=\"1\">\
             <tr><th>StickySession</th><th>LB Method</th></tr>\
             <tr><td>{}</td><td>{}</td></tr></table>\n<table border=\"1\">\
             <tr><th>Worker URL</th>",
            escape(&b.config.name),
            escape(&sticky),
            b.config.lbmethod.name()
        );
        for (_, column, _) in b.members.first().map(member_fields).unwrap_or_default() {
            let _ = write!(out, "<th>{column}</th>");
        }
        out.push_str("</tr>\n");
        for m in &b.members {
            let _ = write!(out, "<tr><td>{}</td>", escape(&m.worker.name));
            for (_, _, value) in member_fields(m) {
                let _ = write!(out, "<td>{}</td>", escape(&value));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    ("text/html; charset=utf-8", out)
}

fn sticky_text(cookie: &str, param: &str) -> String {
    if cookie == param {
        cookie.to_string()
    } else {
        format!("{cookie}|{param}")
    }
}
