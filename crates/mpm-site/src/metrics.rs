//! `SetHandler metrics`: the scoreboard in Prometheus's text exposition
//! format (version 0.0.4).
//!
//! Two families of series:
//!
//! - apache_exporter's, with its names, label sets, types and help texts,
//!   so a dashboard made for Apache reads `mpmd` unchanged. apache_exporter
//!   derives them from mod_status's `?auto` page; here they come from the
//!   same counts the status page shows ([`crate::status`]): `apache_up`,
//!   `apache_version`, `apache_info{version,mpm}`,
//!   `apache_generation{type}`, `apache_load{interval}`,
//!   `apache_accesses_total`, `apache_sent_kilobytes_total`,
//!   `apache_duration_ms_total`, `apache_uptime_seconds_total`,
//!   `apache_workers{state}`, `apache_scoreboard{state}`,
//!   `apache_connections{state}` and `apache_processes{state}`. Two of
//!   those names break Prometheus's naming rules (`promtool check metrics`
//!   says so: kilobytes and milliseconds are not base units); they are
//!   kept, as dashboards use them. As in Apache, the uptime is the time
//!   since the last (re)start.
//! - `mpmd`'s own, from the scoreboard's lifetime counters
//!   ([`mpm_core::Counters`]), which no restart resets:
//!   `mpmd_http_requests_total{vhost,method,class}`,
//!   `mpmd_http_request_duration_seconds{vhost}` (a histogram),
//!   `mpmd_http_request_bytes_total{vhost}`,
//!   `mpmd_http_response_body_bytes_total{vhost}`,
//!   `mpmd_tls_handshakes_total` and `mpmd_tls_handshake_failures_total`.
//!
//! Cardinality is bounded: no path label; `vhost` is a host's
//! `ServerName`, at most [`VHOST_CAP`](mpm_core::process::scoreboard::VHOST_CAP)
//! of them, further hosts counted as `other`; `method` is one of the nine
//! standard methods or `other`; `class` is `1xx` to `5xx` (or `other`).
//! A request series appears once it has counted a request.

use std::fmt::Write as _;
use std::time::SystemTime;

use mpm_core::process::scoreboard::{
    CountersSnapshot, CLASS_LABELS, DURATION_BOUNDS_US, METHOD_LABELS, OTHER_VHOST,
};
use mpm_core::{Scoreboard, WorkerState};

use crate::status::{self, Counts, StatusInfo};

/// The content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// apache_exporter's label for each scoreboard state, in
/// [`WorkerState::ALL`]'s order.
const SCOREBOARD_LABELS: [(WorkerState, &str); 11] = [
    (WorkerState::Ready, "idle"),
    (WorkerState::Starting, "startup"),
    (WorkerState::Read, "read"),
    (WorkerState::Write, "reply"),
    (WorkerState::KeepAlive, "keepalive"),
    (WorkerState::Dns, "dns"),
    (WorkerState::Closing, "closing"),
    (WorkerState::Logging, "logging"),
    (WorkerState::Graceful, "graceful_stop"),
    (WorkerState::Idle, "idle_cleanup"),
    (WorkerState::Dead, "open_slot"),
];

/// Render the metrics page at time `now`.
pub fn render(sb: &Scoreboard, info: &StatusInfo, now: SystemTime) -> String {
    let snap = sb.snapshot();
    let counts = Counts::of(&snap);
    let mut out = Exposition::default();
    apache_series(
        &mut out,
        &counts,
        info,
        snap.generation,
        status::uptime_secs(&snap, now),
        status::load_average(),
    );
    native_series(&mut out, &sb.counters().snapshot());
    out.text
}

/// The text being written, one family at a time.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// Start a family: its `# HELP` and `# TYPE` lines.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // `write!` to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample: `name{labels} value`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(k);
                self.text.push_str("=\"");
                escape_label(&mut self.text, v);
                self.text.push('"');
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A family of one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A label value as the format wants it: `\`, `"` and line feeds escaped.
fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// apache_exporter's `apache_version`: `mpmd/2.4.57 (x)` is 2.04057; `None`
/// when the version is not three dotted numbers.
fn version_number(server_version: &str) -> Option<f64> {
    let v = server_version.split('/').nth(1)?.split(' ').next()?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    let (major, minor, patch) = (parts.next()??, parts.next()??, parts.next()??);
    format!("{major}.{minor:02}{patch:03}").parse().ok()
}

fn apache_series(
    out: &mut Exposition,
    c: &Counts,
    info: &StatusInfo,
    generation: u32,
    uptime: u64,
    load: Option<[f64; 3]>,
) {
    out.single(
        "apache_up",
        "gauge",
        "Could the apache server be reached",
        1,
    );
    if let Some(v) = version_number(&info.server_version) {
        out.single("apache_version", "gauge", "Apache server version", v);
    }
    out.family("apache_info", "gauge", "Apache version information");
    out.sample(
        "apache_info",
        &[("mpm", info.mpm.name), ("version", &info.server_version)],
        1,
    );
    out.family("apache_generation", "gauge", "Apache restart generation");
    out.sample("apache_generation", &[("type", "config")], generation);
    out.sample(
        "apache_generation",
        &[("type", "mpm")],
        status::mpm_generation(generation),
    );
    if let Some([l1, l5, l15]) = load {
        out.family("apache_load", "gauge", "Apache server load");
        out.sample("apache_load", &[("interval", "1min")], l1);
        out.sample("apache_load", &[("interval", "5min")], l5);
        out.sample("apache_load", &[("interval", "15min")], l15);
    }
    out.single(
        "apache_accesses_total",
        "counter",
        "Current total apache accesses (*)",
        c.accesses,
    );
    out.single(
        "apache_sent_kilobytes_total",
        "counter",
        "Current total kbytes sent (*)",
        c.bytes / 1024,
    );
    out.single(
        "apache_duration_ms_total",
        "counter",
        "Total duration of all registered requests in ms",
        c.duration.as_millis(),
    );
    out.single(
        "apache_uptime_seconds_total",
        "counter",
        "Current uptime in seconds (*)",
        uptime,
    );
    out.family("apache_workers", "gauge", "Apache worker statuses");
    out.sample("apache_workers", &[("state", "busy")], c.busy);
    out.sample("apache_workers", &[("state", "idle")], c.idle);
    out.family("apache_scoreboard", "gauge", "Apache scoreboard statuses");
    let mut by_state = [0u32; SCOREBOARD_LABELS.len()];
    for letter in c.letters.chars() {
        if let Some(i) = SCOREBOARD_LABELS
            .iter()
            .position(|(s, _)| s.letter() == letter)
        {
            by_state[i] += 1;
        }
    }
    for ((_, label), n) in SCOREBOARD_LABELS.iter().zip(by_state) {
        out.sample("apache_scoreboard", &[("state", label)], n);
    }
    out.family("apache_connections", "gauge", "Apache connection statuses");
    out.sample(
        "apache_connections",
        &[("state", "closing")],
        c.conns_closing,
    );
    out.sample(
        "apache_connections",
        &[("state", "keepalive")],
        c.conns_keepalive,
    );
    out.sample("apache_connections", &[("state", "total")], c.conns_total);
    out.sample(
        "apache_connections",
        &[("state", "writing")],
        c.conns_writing,
    );
    out.family("apache_processes", "gauge", "Apache process count");
    out.sample("apache_processes", &[("state", "all")], c.processes);
    out.sample("apache_processes", &[("state", "stopping")], c.stopping);
}

fn native_series(out: &mut Exposition, counters: &CountersSnapshot) {
    // Named hosts always; `other` once it has counted something.
    let hosts: Vec<_> = counters
        .vhosts
        .iter()
        .filter(|v| v.name != OTHER_VHOST || v.count() > 0)
        .collect();
    out.family(
        "mpmd_http_requests_total",
        "counter",
        "Requests answered, by virtual host (its ServerName; \"other\" beyond the cap), \
         method and status class.",
    );
    for v in &hosts {
        for (m, row) in v.requests.iter().enumerate() {
            for (k, &n) in row.iter().enumerate() {
                if n > 0 {
                    out.sample(
                        "mpmd_http_requests_total",
                        &[
                            ("vhost", &v.name),
                            ("method", METHOD_LABELS[m]),
                            ("class", CLASS_LABELS[k]),
                        ],
                        n,
                    );
                }
            }
        }
    }
    let name = "mpmd_http_request_duration_seconds";
    out.family(
        name,
        "histogram",
        "Time from a request's first byte to its response's last, by virtual host.",
    );
    for v in &hosts {
        let mut cumulative = 0;
        for (i, &n) in v.buckets.iter().enumerate() {
            cumulative += n;
            let le = match DURATION_BOUNDS_US.get(i) {
                Some(&us) => (us as f64 / 1e6).to_string(),
                None => "+Inf".to_string(),
            };
            out.sample(
                "mpmd_http_request_duration_seconds_bucket",
                &[("vhost", &v.name), ("le", &le)],
                cumulative,
            );
        }
        out.sample(
            "mpmd_http_request_duration_seconds_sum",
            &[("vhost", &v.name)],
            v.duration.as_secs_f64(),
        );
        out.sample(
            "mpmd_http_request_duration_seconds_count",
            &[("vhost", &v.name)],
            cumulative,
        );
    }
    out.family(
        "mpmd_http_request_bytes_total",
        "counter",
        "Bytes of requests received (request line, header fields and body as framed), \
         by virtual host.",
    );
    for v in &hosts {
        out.sample(
            "mpmd_http_request_bytes_total",
            &[("vhost", &v.name)],
            v.received,
        );
    }
    out.family(
        "mpmd_http_response_body_bytes_total",
        "counter",
        "Bytes of response bodies sent, by virtual host.",
    );
    for v in &hosts {
        out.sample(
            "mpmd_http_response_body_bytes_total",
            &[("vhost", &v.name)],
            v.sent,
        );
    }
    out.single(
        "mpmd_tls_handshakes_total",
        "counter",
        "TLS handshakes completed.",
        counters.tls_handshakes,
    );
    out.single(
        "mpmd_tls_handshake_failures_total",
        "counter",
        "TLS handshakes that failed: an error, plain HTTP on a TLS port, a timeout.",
        counters.tls_failures,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_version_reads_as_apache_exporter_reads_it() {
        assert_eq!(version_number("Apache/2.4.57 (Debian)"), Some(2.04057));
        assert_eq!(version_number("mpmd/0.1.0"), Some(0.01));
        assert_eq!(version_number("mpmd"), None);
        assert_eq!(version_number("mpmd/1.x.0"), None);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        escape_label(&mut s, "a\"b\\c\nd");
        assert_eq!(s, "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn the_histogram_is_cumulative_and_its_count_is_its_last_bucket() {
        let sb = Scoreboard::new(1, 1).expect("scoreboard");
        let c = sb.counters();
        let h = c.vhost("h.test");
        for us in [50, 300, 300, 2_000_000, 30_000_000] {
            c.record(
                h,
                Some(&http::Method::GET),
                http::StatusCode::OK,
                Duration::from_micros(us),
                0,
                0,
            );
        }
        let mut out = Exposition::default();
        native_series(&mut out, &c.snapshot());
        let text = out.text;
        for (le, n) in [
            ("0.0001", 1),
            ("0.0005", 3),
            ("2.5", 4),
            ("10", 4),
            ("+Inf", 5),
        ] {
            let line = format!(
                "mpmd_http_request_duration_seconds_bucket{{vhost=\"h.test\",le=\"{le}\"}} {n}\n"
            );
            assert!(text.contains(&line), "no {line:?} in\n{text}");
        }
        assert!(text.contains("mpmd_http_request_duration_seconds_count{vhost=\"h.test\"} 5\n"));
        assert!(text.contains(
            "mpmd_http_requests_total{vhost=\"h.test\",method=\"GET\",class=\"2xx\"} 5\n"
        ));
        assert!(
            !text.contains("vhost=\"other\""),
            "an empty other cell shown:\n{text}"
        );
    }
}
