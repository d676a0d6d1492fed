//! mod_status: the `/server-status` page, rendered from the scoreboard.
//!
//! `?auto` gives mod_status's machine-readable text, with Apache 2.4's
//! field names and order, so existing monitoring (apache_exporter, munin,
//! collectd) reads it unchanged. Without it, an HTML page for people.
//!
//! Counting, as Apache 2.4's mod_status does:
//!
//! - busy: workers in `R W K D C L G` ([`WorkerState::is_busy`]); a `G`
//!   worker is also counted in `GracefulWorkers`;
//! - idle: workers in `_` ([`WorkerState::is_idle`]); `I` (a worker being
//!   cleaned up on its way out), `S` and `.` count as neither;
//! - `Processes`: process slots with a live pid; `Stopping`: those told to
//!   leave; the `Conns*` fields are summed over live processes;
//! - totals (accesses, bytes, durations) over every worker slot, including
//!   the counts a slot kept from processes that have since died, and the
//!   slots only an earlier strategy used ([`Scoreboard::totals`]).
//!
//! After the strategy changed on a restart, the board shows the new
//! strategy's shape (its `ServerLimit` rows of its own row length), and
//! each child of the old generation still finishing with its own row
//! (one slot for a prefork child, `ThreadLimit` for worker …), numbered
//! `slot-generation` in the HTML table as Apache does.
//!
//! Two departures, both documented: times are shown in UTC, and the
//! per-second and per-request rates use the exact byte count (Apache
//! rounds it to kilobytes first). As in Apache, `ReqPerSec` and
//! `BytesPerSec` are left out while the uptime is 0, and `BytesPerReq` and
//! `DurationPerReq` while no request was served.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use mpm_core::{Scoreboard, Snapshot, WorkerState};

use crate::utc_time::UtcTime;

/// Facts about the server shown on the page, besides the scoreboard.
#[derive(Debug, Clone)]
pub struct StatusInfo {
    /// `mpmd/0.1.0`: the product (before the `/`) names the page, as
    /// `Apache Server Status` is Apache's.
    pub server_version: String,
    /// The running strategy.
    pub mpm: mpm_core::MpmInfo,
    /// When (or how) the binary was built, shown as `Server Built`.
    pub built: String,
    /// When the parent process first started (the scoreboard's restart
    /// time is the last (re)start).
    pub started: SystemTime,
    /// The server's name, the first line of `?auto`.
    pub server_name: String,
}

/// Render the status page: `(content type, body)`. `auto` selects the
/// machine-readable text of `/server-status?auto`; `now` is the time the
/// page shows (and measures ages from).
pub fn render(
    sb: &Scoreboard,
    info: &StatusInfo,
    auto: bool,
    now: SystemTime,
) -> (&'static str, String) {
    let snap = sb.snapshot();
    let counts = Counts::of(&snap);
    let load = load_average();
    if auto {
        let mut page = render_auto(&snap, &counts, info, load, now);
        page.push_str(&crate::fcgid::status::auto());
        ("text/plain; charset=utf-8", page)
    } else {
        let mut page = render_html(&snap, &counts, info, load, now);
        // mod_fcgid's processes, before the end of the page.
        let fcgid = crate::fcgid::status::html();
        if !fcgid.is_empty() {
            let end = page.rfind("</body>").unwrap_or(page.len());
            page.insert_str(end, &fcgid);
        }
        ("text/html; charset=utf-8", page)
    }
}

/// What the page shows, counted once from a snapshot (the metrics page,
/// [`crate::metrics`], shows the same counts).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) busy: u32,
    pub(crate) idle: u32,
    pub(crate) graceful: u32,
    pub(crate) processes: u32,
    pub(crate) stopping: u32,
    pub(crate) conns_total: u64,
    pub(crate) conns_writing: u64,
    pub(crate) conns_keepalive: u64,
    pub(crate) conns_closing: u64,
    pub(crate) accesses: u64,
    pub(crate) bytes: u64,
    pub(crate) duration: Duration,
    /// One letter per worker slot, process by process.
    pub(crate) letters: String,
}

impl Counts {
    pub(crate) fn of(snap: &Snapshot) -> Counts {
        let mut c = Counts::default();
        for p in &snap.processes {
            if p.pid != 0 {
                c.processes += 1;
                c.stopping += u32::from(p.quiescing);
                c.conns_total += u64::from(p.conns_total);
                c.conns_writing += u64::from(p.conns_writing);
                c.conns_keepalive += u64::from(p.conns_keepalive);
                c.conns_closing += u64::from(p.conns_closing);
            }
            for w in &p.workers {
                c.letters.push(w.state.letter());
                if w.state.is_busy() {
                    c.busy += 1;
                    c.graceful += u32::from(w.state == WorkerState::Graceful);
                } else if w.state.is_idle() {
                    c.idle += 1;
                }
            }
        }
        c.accesses = snap.totals.accesses;
        c.bytes = snap.totals.bytes;
        c.duration = snap.totals.duration;
        c
    }
}

pub(crate) fn uptime_secs(snap: &Snapshot, now: SystemTime) -> u64 {
    now.duration_since(snap.restart_time)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn render_auto(
    snap: &Snapshot,
    c: &Counts,
    info: &StatusInfo,
    load: Option<[f64; 3]>,
    now: SystemTime,
) -> String {
    let up = uptime_secs(snap, now);
    let duration_ms = c.duration.as_millis();
    let mut s = String::new();
    // `write!` to a String cannot fail.
    let _ = writeln!(s, "{}", info.server_name);
    let _ = writeln!(s, "ServerVersion: {}", info.server_version);
    let _ = writeln!(s, "ServerMPM: {}", info.mpm.name);
    let _ = writeln!(s, "Server Built: {}", info.built);
    let _ = writeln!(s, "CurrentTime: {}", long_time(now));
    let _ = writeln!(s, "RestartTime: {}", long_time(snap.restart_time));
    let _ = writeln!(s, "ParentServerConfigGeneration: {}", snap.generation);
    let _ = writeln!(
        s,
        "ParentServerMPMGeneration: {}",
        mpm_generation(snap.generation)
    );
    let _ = writeln!(s, "ServerUptimeSeconds: {up}");
    let _ = writeln!(s, "ServerUptime:{}", spelled_duration(up));
    if let Some([l1, l5, l15]) = load {
        let _ = writeln!(s, "Load1: {l1:.2}\nLoad5: {l5:.2}\nLoad15: {l15:.2}");
    }
    let _ = writeln!(s, "Total Accesses: {}", c.accesses);
    let _ = writeln!(s, "Total kBytes: {}", c.bytes / 1024);
    let _ = writeln!(s, "Total Duration: {duration_ms}");
    let _ = writeln!(s, "Uptime: {up}");
    if up > 0 {
        let _ = writeln!(s, "ReqPerSec: {}", fmt_g(c.accesses as f64 / up as f64));
        let _ = writeln!(s, "BytesPerSec: {}", fmt_g(c.bytes as f64 / up as f64));
    }
    if c.accesses > 0 {
        let _ = writeln!(
            s,
            "BytesPerReq: {}",
            fmt_g(c.bytes as f64 / c.accesses as f64)
        );
        let per_req_ms = c.duration.as_secs_f64() * 1000.0 / c.accesses as f64;
        let _ = writeln!(s, "DurationPerReq: {}", fmt_g(per_req_ms));
    }
    let _ = writeln!(s, "BusyWorkers: {}", c.busy);
    let _ = writeln!(s, "GracefulWorkers: {}", c.graceful);
    let _ = writeln!(s, "IdleWorkers: {}", c.idle);
    let _ = writeln!(s, "Processes: {}", c.processes);
    let _ = writeln!(s, "Stopping: {}", c.stopping);
    let _ = writeln!(s, "ConnsTotal: {}", c.conns_total);
    let _ = writeln!(s, "ConnsAsyncWriting: {}", c.conns_writing);
    let _ = writeln!(s, "ConnsAsyncKeepAlive: {}", c.conns_keepalive);
    let _ = writeln!(s, "ConnsAsyncClosing: {}", c.conns_closing);
    let _ = writeln!(s, "Scoreboard: {}", c.letters);
    s
}

/// How HTTP/2 streams are served by the strategy `mpm` (see
/// `mpm_core::serve::h2`), as Apache's mod_status names the MPM: each
/// stream counts on the table below as a request of the thread serving
/// it. Shown on the HTML page only: `?auto` keeps Apache's fields, in
/// Apache's order. One place for the words.
fn h2_streams(mpm: &mpm_core::MpmInfo) -> &'static str {
    match mpm.name {
        "event" | "event-threads" => {
            "served at the same time, each a request of the worker \
             that serves it; the event loop holds the connection"
        }
        "worker" | "worker-threads" => {
            "served at the same time on the child's idle threads (at most \
             ThreadsPerChild - 2 of one connection, the rest queued in \
             arrival order), each a request of the thread serving it; the \
             connection's own thread holds the connection"
        }
        _ if mpm.threaded => {
            "served one at a time per connection, in arrival order, \
             each a request of the thread that holds the connection"
        }
        _ => {
            "served one at a time per connection, in arrival order, \
             by the process that holds it (one thread per process, as \
             Apache's prefork)"
        }
    }
}

fn render_html(
    snap: &Snapshot,
    c: &Counts,
    info: &StatusInfo,
    load: Option<[f64; 3]>,
    now: SystemTime,
) -> String {
    let up = uptime_secs(snap, now);
    let name = escape(&info.server_name);
    let product = escape(info.server_version.split('/').next().unwrap_or_default());
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html><head>\n<title>{product} Status</title>\n</head><body>\n\
         <h1>{product} Server Status for {name}</h1>\n\n"
    );
    let _ = writeln!(
        s,
        "<dl><dt>Server Version: {}</dt>",
        escape(&info.server_version)
    );
    let _ = writeln!(s, "<dt>Server MPM: {}</dt>", escape(info.mpm.name));
    let _ = writeln!(s, "<dt>HTTP/2 streams: {}</dt>", h2_streams(&info.mpm));
    let _ = writeln!(
        s,
        "<dt>Server Built: {}\n</dt></dl><hr /><dl>",
        escape(&info.built)
    );
    let _ = writeln!(s, "<dt>Current Time: {}</dt>", long_time(now));
    let _ = writeln!(s, "<dt>Restart Time: {}</dt>", long_time(snap.restart_time));
    let _ = writeln!(
        s,
        "<dt>Parent Server Started: {}</dt>",
        long_time(info.started)
    );
    let _ = writeln!(
        s,
        "<dt>Parent Server Config. Generation: {}</dt>",
        snap.generation
    );
    let _ = writeln!(
        s,
        "<dt>Parent Server MPM Generation: {}</dt>",
        mpm_generation(snap.generation)
    );
    let _ = writeln!(s, "<dt>Server uptime: {}</dt>", spelled_duration(up));
    if let Some([l1, l5, l15]) = load {
        let _ = writeln!(s, "<dt>Server load: {l1:.2} {l5:.2} {l15:.2}</dt>");
    }
    let _ = writeln!(
        s,
        "<dt>Total accesses: {} - Total Traffic: {} - Total Duration: {}</dt>",
        c.accesses,
        human_bytes(c.bytes as f64),
        c.duration.as_millis()
    );
    let mut rates = Vec::new();
    if up > 0 {
        rates.push(format!(
            "{} requests/sec",
            fmt_g(c.accesses as f64 / up as f64)
        ));
        rates.push(format!(
            "{}/second",
            human_bytes(c.bytes as f64 / up as f64)
        ));
    }
    if c.accesses > 0 {
        rates.push(format!(
            "{}/request",
            human_bytes(c.bytes as f64 / c.accesses as f64)
        ));
        let per_req_ms = c.duration.as_secs_f64() * 1000.0 / c.accesses as f64;
        rates.push(format!("{} ms/request", fmt_g(per_req_ms)));
    }
    if !rates.is_empty() {
        let _ = writeln!(s, "<dt>{}</dt>", rates.join(" - "));
    }
    let _ = writeln!(
        s,
        "<dt>{} requests currently being processed, {} idle workers</dt>\n</dl>",
        c.busy, c.idle
    );
    if info.mpm.name == "event" {
        render_async_table(&mut s, snap, c);
    }
    // The letters are `_ S R W K D C L G I .`: nothing to escape.
    s.push_str("<pre>");
    let letters: Vec<char> = c.letters.chars().collect();
    for row in letters.chunks(64) {
        s.extend(row.iter());
        s.push('\n');
    }
    s.push_str("</pre>\n<p>Scoreboard Key:<br />\n");
    let legend: Vec<String> = WorkerState::ALL
        .iter()
        .map(|st| {
            format!(
                "\"<b><code>{}</code></b>\" {}",
                st.letter(),
                st.description()
            )
        })
        .collect();
    let _ = writeln!(s, "{}</p>", legend.join(",\n"));

    s.push_str(
        "<table border=\"0\"><tr><th>Srv</th><th>PID</th><th>Acc</th><th>M</th>\
         <th>SS</th><th>Req</th><th>Client</th><th>VHost</th><th>Request</th></tr>\n",
    );
    for (p, proc_) in snap.processes.iter().enumerate() {
        for w in proc_
            .workers
            .iter()
            .filter(|w| w.state != WorkerState::Dead)
        {
            let pid = if proc_.pid == 0 {
                "-".to_string()
            } else {
                proc_.pid.to_string()
            };
            let ss = if w.last_used == SystemTime::UNIX_EPOCH {
                "-".to_string()
            } else {
                now.duration_since(w.last_used)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
                    .to_string()
            };
            let _ = writeln!(
                s,
                "<tr><td><b>{p}-{}</b></td><td>{pid}</td><td>{}/{}/{}</td><td><b>{}</b></td>\
                 <td>{ss}</td><td>{}</td><td>{}</td><td nowrap>{}</td><td nowrap>{}</td></tr>",
                proc_.generation,
                w.conn_access_count,
                w.child_access_count,
                w.access_count,
                w.state.letter(),
                w.last_duration.as_millis(),
                escape(&w.client),
                escape(&w.vhost),
                escape(&w.request),
            );
        }
    }
    s.push_str(
        "</table>\n<hr /><table>\n\
         <tr><th>Srv</th><td>Child Server number - generation</td></tr>\n\
         <tr><th>PID</th><td>OS process ID</td></tr>\n\
         <tr><th>Acc</th><td>Number of accesses this connection / this child / this slot</td></tr>\n\
         <tr><th>M</th><td>Mode of operation</td></tr>\n\
         <tr><th>SS</th><td>Seconds since beginning of most recent request</td></tr>\n\
         <tr><th>Req</th><td>Milliseconds required to process most recent request</td></tr>\n\
         </table>\n</body></html>\n",
    );
    s
}

/// mod_status's table for an asynchronous MPM (event): one row per live
/// child with whether it is stopping (and from an older generation),
/// its connections and whether it accepts new ones, its busy and idle
/// threads, and the connections its event loop holds writing, in
/// keep-alive and closing; then a `Sum` row, as Apache 2.4 prints it.
fn render_async_table(s: &mut String, snap: &Snapshot, c: &Counts) {
    s.push_str(
        "<table rules=\"all\" cellpadding=\"1%\">\n\
         <tr><th rowspan=\"2\">Slot</th><th rowspan=\"2\">PID</th><th rowspan=\"2\">Stopping</th>\
         <th colspan=\"2\">Connections</th>\n<th colspan=\"2\">Threads</th>\
         <th colspan=\"3\">Async connections</th></tr>\n\
         <tr><th>total</th><th>accepting</th><th>busy</th><th>idle</th>\
         <th>writing</th><th>keep-alive</th><th>closing</th></tr>\n",
    );
    for (slot, p) in snap.processes.iter().enumerate() {
        if p.pid == 0 {
            continue;
        }
        let busy = p.workers.iter().filter(|w| w.state.is_busy()).count();
        let idle = p.workers.iter().filter(|w| w.state.is_idle()).count();
        let old = if p.generation != snap.generation {
            " (old gen)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<tr><td>{slot}</td><td>{}</td><td>{}{old}</td><td>{}</td><td>{}</td>\
             <td>{busy}</td><td>{idle}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.pid,
            yes_no(p.quiescing),
            p.conns_total,
            yes_no(p.accepting),
            p.conns_writing,
            p.conns_keepalive,
            p.conns_closing,
        );
    }
    let _ = writeln!(
        s,
        "<tr><td>Sum</td><td>{}</td><td>{}</td><td>{}</td><td>&nbsp;</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n</table>",
        c.processes,
        c.stopping,
        c.conns_total,
        c.busy,
        c.idle,
        c.conns_writing,
        c.conns_keepalive,
        c.conns_closing,
    );
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Apache's MPM generation counts restarts from 0 while the configuration
/// generation counts configuration reads from 1: one behind.
pub(crate) fn mpm_generation(config_generation: u32) -> u32 {
    config_generation.saturating_sub(1)
}

/// `Thursday, 26-Nov-2026 08:21:28 UTC` (Apache's `%A, %d-%b-%Y %H:%M:%S %Z`).
fn long_time(t: SystemTime) -> String {
    let u = UtcTime::of(t);
    format!(
        "{}, {:02}-{}-{} {:02}:{:02}:{:02} UTC",
        u.weekday_long(),
        u.day,
        u.month_short(),
        u.year,
        u.hour,
        u.minute,
        u.second
    )
}

/// Apache's `show_time`: ` 1 day 2 hours 5 seconds` (zero parts left out,
/// each part with a leading space; empty for 0).
fn spelled_duration(secs: u64) -> String {
    let parts = [
        (secs / 86_400, "day"),
        (secs / 3600 % 24, "hour"),
        (secs / 60 % 60, "minute"),
        (secs % 60, "second"),
    ];
    let mut s = String::new();
    for (n, unit) in parts {
        if n > 0 {
            let _ = write!(s, " {n} {unit}{}", if n == 1 { "" } else { "s" });
        }
    }
    s
}

/// Apache's `format_byte_out`: `512 B`, `2.5 kB`, `3.1 MB`, `1.0 GB`.
fn human_bytes(bytes: f64) -> String {
    const K: f64 = 1024.0;
    if bytes < 5.0 * K {
        format!("{} B", bytes as u64)
    } else if bytes < 500.0 * K {
        format!("{:.1} kB", bytes / K)
    } else if bytes < 500.0 * K * K {
        format!("{:.1} MB", bytes / (K * K))
    } else {
        format!("{:.1} GB", bytes / (K * K * K))
    }
}

/// C's `%g` as APR prints it (six significant digits, trailing zeros cut,
/// and no `0` before the point: `.024`), the number format of `?auto`.
fn fmt_g(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return "0".to_string();
    }
    // `{:e}` rounds to six significant digits and tells the exponent.
    let sci = format!("{:.5e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if x < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let m = trim_zeros(mantissa);
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    let decimals = usize::try_from(5 - exp).unwrap_or(0);
    let fixed = format!("{:.*}", decimals, x.abs());
    let fixed = trim_zeros(&fixed);
    let fixed = fixed
        .strip_prefix('0')
        .filter(|f| f.starts_with('.'))
        .unwrap_or(fixed);
    format!("{sign}{fixed}")
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// HTML-escape text from the network or the configuration.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// The 1, 5 and 15 minute load averages, from `/proc/loadavg`.
pub(crate) fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn info() -> StatusInfo {
        StatusInfo {
            server_version: "mpmd/0.1.0".into(),
            mpm: mpm_core::MpmInfo {
                name: "worker",
                threaded: true,
                forked: true,
            },
            built: "test build".into(),
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_681_000),
            server_name: "localhost".into(),
        }
    }

    /// Two processes of three workers: `W_K` in the first, `GI.` in the
    /// second (which is stopping); three requests, 3048 bytes, 12 ms.
    fn board() -> (Scoreboard, SystemTime) {
        let sb = Scoreboard::new(2, 3).expect("scoreboard");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_681_288);
        sb.set_restart_time(now - Duration::from_secs(125));
        sb.set_generation(2);
        sb.process(0).start(100, 2);
        sb.process(1).start(101, 1);
        sb.process(1).quiescing.store(1, Ordering::Relaxed);
        sb.process(0).conns_total.store(2, Ordering::Relaxed);
        let w = sb.worker(0, 0);
        w.begin_request(
            "127.0.0.1",
            "localhost:8080",
            "GET /<script>alert('x')</script> HTTP/1.1",
        );
        w.end_request(2048, Duration::from_millis(2));
        w.set_state(WorkerState::Write);
        sb.worker(0, 1).set_state(WorkerState::Ready);
        let k = sb.worker(0, 2);
        k.begin_request("::1", "localhost:8080", "GET / HTTP/1.1");
        k.end_request(1000, Duration::from_millis(4));
        k.set_state(WorkerState::KeepAlive);
        let g = sb.worker(1, 0);
        g.begin_request("10.0.0.2", "other", "GET /old HTTP/1.0");
        g.end_request(0, Duration::from_millis(6));
        g.set_state(WorkerState::Graceful);
        sb.worker(1, 1).set_state(WorkerState::Idle);
        (sb, now)
    }

    fn field<'a>(text: &'a str, name: &str) -> &'a str {
        let prefix = format!("{name}:");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.strip_prefix(' ').unwrap_or(v))
            .unwrap_or_else(|| panic!("no {name:?} line in:\n{text}"))
    }

    #[test]
    fn auto_counts_workers_as_apache_does() {
        let (sb, now) = board();
        let (ctype, text) = render(&sb, &info(), true, now);
        assert!(ctype.starts_with("text/plain"), "{ctype}");
        assert_eq!(text.lines().next(), Some("localhost"));
        assert_eq!(field(&text, "Scoreboard"), "W_KGI.");
        assert_eq!(field(&text, "BusyWorkers"), "3", "W, K and G are busy");
        assert_eq!(field(&text, "GracefulWorkers"), "1");
        assert_eq!(field(&text, "IdleWorkers"), "1", "only _ is idle");
        assert_eq!(field(&text, "Processes"), "2");
        assert_eq!(field(&text, "Stopping"), "1");
        assert_eq!(field(&text, "ConnsTotal"), "2");
        assert_eq!(field(&text, "Total Accesses"), "3");
        assert_eq!(field(&text, "Total kBytes"), "2");
        assert_eq!(field(&text, "Total Duration"), "12");
        assert_eq!(field(&text, "Uptime"), "125");
        assert_eq!(field(&text, "ServerUptimeSeconds"), "125");
        assert_eq!(field(&text, "ServerUptime"), "2 minutes 5 seconds");
        assert_eq!(field(&text, "ReqPerSec"), ".024");
        assert_eq!(field(&text, "BytesPerSec"), "24.384");
        assert_eq!(field(&text, "BytesPerReq"), "1016");
        assert_eq!(field(&text, "DurationPerReq"), "4");
        assert_eq!(
            field(&text, "CurrentTime"),
            "Thursday, 26-Nov-2026 08:21:28 UTC"
        );
        assert_eq!(
            field(&text, "RestartTime"),
            "Thursday, 26-Nov-2026 08:19:23 UTC"
        );
        assert_eq!(field(&text, "ParentServerConfigGeneration"), "2");
        assert_eq!(field(&text, "ServerMPM"), "worker");
    }

    #[test]
    fn auto_fields_come_in_apaches_order() {
        let (sb, now) = board();
        let (_, text) = render(&sb, &info(), true, now);
        let names: Vec<&str> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':').map(|(k, _)| k))
            .filter(|k| !k.starts_with("Load"))
            // mod_fcgid's lines follow, when a pool of this process has
            // a table (other tests' pools).
            .filter(|k| !k.starts_with("Fcgid"))
            .collect();
        assert_eq!(
            names,
            [
                "ServerVersion",
                "ServerMPM",
                "Server Built",
                "CurrentTime",
                "RestartTime",
                "ParentServerConfigGeneration",
                "ParentServerMPMGeneration",
                "ServerUptimeSeconds",
                "ServerUptime",
                "Total Accesses",
                "Total kBytes",
                "Total Duration",
                "Uptime",
                "ReqPerSec",
                "BytesPerSec",
                "BytesPerReq",
                "DurationPerReq",
                "BusyWorkers",
                "GracefulWorkers",
                "IdleWorkers",
                "Processes",
                "Stopping",
                "ConnsTotal",
                "ConnsAsyncWriting",
                "ConnsAsyncKeepAlive",
                "ConnsAsyncClosing",
                "Scoreboard",
            ]
        );
    }

    #[test]
    fn rates_are_left_out_before_any_request_and_uptime() {
        let sb = Scoreboard::new(1, 2).expect("scoreboard");
        let now = sb.restart_time();
        let (_, text) = render(&sb, &info(), true, now);
        for absent in ["ReqPerSec", "BytesPerSec", "BytesPerReq", "DurationPerReq"] {
            assert!(
                !text.contains(absent),
                "{absent} shown on an empty board:\n{text}"
            );
        }
        assert_eq!(field(&text, "Scoreboard"), "..");
        assert_eq!(field(&text, "ServerUptime"), "");
        assert_eq!(field(&text, "Processes"), "0");
    }

    #[test]
    fn the_html_page_is_named_for_the_product_in_server_version() {
        let (sb, now) = board();
        let mut embedded = info();
        embedded.server_version = "www<x>/2.1".into();
        let (_, html) = render(&sb, &embedded, false, now);
        assert!(
            html.contains("<title>www&lt;x&gt; Status</title>")
                && html.contains("<h1>www&lt;x&gt; Server Status for localhost</h1>"),
            "the page is not named for www<x>:\n{html}"
        );
    }

    #[test]
    fn html_escapes_the_request_line_and_lists_live_slots() {
        let (sb, now) = board();
        let (ctype, html) = render(&sb, &info(), false, now);
        assert!(ctype.starts_with("text/html"), "{ctype}");
        assert!(
            !html.contains("<script>"),
            "request line not escaped:\n{html}"
        );
        assert!(
            html.contains("GET /&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; HTTP/1.1"),
            "{html}"
        );
        assert!(html.contains("<title>mpmd Status</title>"));
        assert!(html.contains("mpmd Server Status for localhost"));
        assert!(html.contains("<pre>W_KGI.\n</pre>"), "{html}");
        assert!(html.contains("3 requests currently being processed, 1 idle workers"));
        assert!(html.contains("\"<b><code>_</code></b>\" Waiting for Connection"));
        assert!(
            html.contains("<td><b>0-2</b></td><td>100</td><td>1/1/1</td><td><b>W</b></td>"),
            "{html}"
        );
        // Five slots are not `.`.
        assert_eq!(html.matches("<tr><td><b>").count(), 5, "{html}");
    }

    #[test]
    fn html_for_event_has_a_row_per_child_with_its_async_connections() {
        let (sb, now) = board();
        let p = sb.process(0);
        p.accepting.store(1, Ordering::Relaxed);
        p.conns_writing.store(1, Ordering::Relaxed);
        p.conns_keepalive.store(5, Ordering::Relaxed);
        p.conns_total.store(7, Ordering::Relaxed);
        let q = sb.process(1);
        q.conns_closing.store(2, Ordering::Relaxed);
        q.conns_total.store(2, Ordering::Relaxed);
        let mut event = info();
        event.mpm.name = "event";
        let (_, html) = render(&sb, &event, false, now);
        assert!(html.contains("<th>accepting</th>"), "{html}");
        assert!(
            html.contains("<th colspan=\"3\">Async connections</th>"),
            "{html}"
        );
        // Process 0: not stopping, 7 connections, accepting, W and K busy,
        // one `_` idle; 1 writing, 5 keep-alive, 0 closing.
        assert!(
            html.contains(
                "<tr><td>0</td><td>100</td><td>no</td><td>7</td><td>yes</td>\
                 <td>2</td><td>1</td><td>1</td><td>5</td><td>0</td></tr>"
            ),
            "{html}"
        );
        // Process 1: stopping and of the previous generation, not
        // accepting; its G is busy, its I neither busy nor idle.
        assert!(
            html.contains(
                "<tr><td>1</td><td>101</td><td>yes (old gen)</td><td>2</td><td>no</td>\
                 <td>1</td><td>0</td><td>0</td><td>0</td><td>2</td></tr>"
            ),
            "{html}"
        );
        assert!(
            html.contains(
                "<tr><td>Sum</td><td>2</td><td>1</td><td>9</td><td>&nbsp;</td>\
                 <td>3</td><td>1</td><td>1</td><td>5</td><td>2</td></tr>"
            ),
            "{html}"
        );
        // Not for a strategy without an event loop.
        let (_, html) = render(&sb, &info(), false, now);
        assert!(!html.contains("Async connections"), "{html}");
    }

    /// After prefork (4 servers of one slot) switched to worker (2 servers
    /// of 3 slots), one prefork child of generation 1 still finishing in
    /// slot 3.
    #[test]
    fn after_a_change_of_strategy_the_page_shows_both_generations_each_with_its_own_row() {
        let sb = Scoreboard::new(4, 3).expect("scoreboard");
        let now = sb.restart_time() + Duration::from_secs(10);
        sb.set_shape_in_use(4, 1);
        sb.prepare_process(3, 1);
        sb.process(3).start(300, 1);
        sb.process(3).quiescing.store(1, Ordering::Relaxed);
        let old = sb.worker(3, 0);
        old.begin_request("127.0.0.1", "localhost", "GET /big HTTP/1.1");
        old.set_state(WorkerState::Graceful);
        sb.set_generation(2);
        sb.set_shape_in_use(2, 3);
        sb.prepare_process(0, 3);
        sb.process(0).start(100, 2);
        sb.worker(0, 0).set_state(WorkerState::Ready);
        let (_, text) = render(&sb, &info(), true, now);
        assert_eq!(
            field(&text, "Scoreboard"),
            "_SS......G",
            "worker rows of 3, the empty slots between, the prefork child's one"
        );
        assert_eq!(field(&text, "Processes"), "2");
        assert_eq!(field(&text, "Stopping"), "1");
        assert_eq!(field(&text, "ServerMPM"), "worker");
        let (_, html) = render(&sb, &info(), false, now);
        assert!(
            html.contains("<td><b>3-1</b></td><td>300</td>")
                && html.contains("<td nowrap>GET /big HTTP/1.1</td>"),
            "the old child's row is missing:\n{html}"
        );
        assert!(html.contains("<td><b>0-2</b></td><td>100</td>"), "{html}");
    }

    #[test]
    fn html_wraps_the_scoreboard_at_64_letters() {
        let sb = Scoreboard::new(3, 50).expect("scoreboard");
        let (_, html) = render(&sb, &info(), false, sb.restart_time());
        let pre = html
            .split("<pre>")
            .nth(1)
            .and_then(|r| r.split("</pre>").next())
            .expect("no <pre>");
        let rows: Vec<usize> = pre.lines().map(str::len).collect();
        assert_eq!(rows, [64, 64, 22]);
    }

    #[test]
    fn numbers_print_like_apr_percent_g() {
        assert_eq!(fmt_g(0.0), "0");
        assert_eq!(fmt_g(0.024), ".024");
        assert_eq!(fmt_g(24.384), "24.384");
        assert_eq!(fmt_g(1016.0), "1016");
        assert_eq!(fmt_g(1.0 / 3.0), ".333333");
        assert_eq!(fmt_g(123456.7), "123457");
        assert_eq!(fmt_g(1234567.0), "1.23457e+06");
        assert_eq!(fmt_g(0.00001), "1e-05");
    }

    #[test]
    fn uptime_is_spelled_like_apache() {
        assert_eq!(spelled_duration(0), "");
        assert_eq!(spelled_duration(61), " 1 minute 1 second");
        assert_eq!(spelled_duration(90_000), " 1 day 1 hour");
        assert_eq!(
            spelled_duration(2 * 86_400 + 7200 + 3),
            " 2 days 2 hours 3 seconds"
        );
    }
}
