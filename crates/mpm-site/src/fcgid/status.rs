//! The FastCGI processes on mod_status's page, as mod_fcgid's status
//! hook shows them: class, pid, state, requests served, age and idle
//! time, one row per process of the shared table.

use std::fmt::Write;

use super::regulate::ProcState;
use super::table;

fn state_name(state: ProcState) -> &'static str {
    match state {
        ProcState::Starting => "Starting",
        ProcState::Idle => "Ready",
        ProcState::Busy => "Working",
        ProcState::Retiring => "Exiting",
    }
}

/// The rows, for the HTML page (empty without a pool).
pub fn html() -> String {
    let Some(table) = table::existing() else {
        return String::new();
    };
    let now = table.now();
    let mut facts = table.facts();
    if facts.is_empty() {
        return String::new();
    }
    facts.sort_by(|a, b| a.1.name.cmp(&b.1.name).then(a.0.slot.cmp(&b.0.slot)));
    let mut s = String::from(
        "<hr /><h2>mod_fcgid status:</h2>\n<table border=\"0\">\n\
         <tr><th>Class</th><th>Pid</th><th>State</th><th>Requests</th><th>Age (s)</th><th>Idle (s)</th></tr>\n",
    );
    for (f, info) in facts {
        let mut class = String::new();
        crate::log_escape::escape(
            info.name.as_bytes(),
            crate::log_escape::Quotes::Kept,
            &mut class,
        );
        let class = class
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let _ = writeln!(
            s,
            "<tr><td>{class}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            info.pid,
            state_name(f.state),
            f.requests,
            now.saturating_sub(f.started).as_secs(),
            now.saturating_sub(f.last_active).as_secs(),
        );
    }
    s.push_str("</table>\n");
    s
}

/// The lines for `?auto`: `FcgidProcesses: n`, then one
/// `FcgidProcess: class pid state requests age` line per process.
pub fn auto() -> String {
    let Some(table) = table::existing() else {
        return String::new();
    };
    let now = table.now();
    let facts = table.facts();
    let mut s = String::new();
    let _ = writeln!(s, "FcgidProcesses: {}", facts.len());
    for (f, info) in facts {
        let _ = writeln!(
            s,
            "FcgidProcess: {} {} {} {} {}",
            info.name.replace(' ', "_"),
            info.pid,
            state_name(f.state),
            f.requests,
            now.saturating_sub(f.started).as_secs()
        );
    }
    s
}
