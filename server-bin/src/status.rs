//! mod_status pages. Stand-in with the agreed signature so `site` compiles;
//! the status helper's file replaces this one at merge.

use std::time::SystemTime;

/// What the status page shows besides the scoreboard.
pub struct StatusInfo {
    pub server_version: String,
    pub mpm: mpm::MpmInfo,
    pub built: String,
    pub started: SystemTime,
    pub server_name: String,
}

/// Render the status page: `(content type, body)`; `auto` gives the
/// machine-readable `?auto` form.
pub fn render(
    _sb: &mpm::Scoreboard,
    info: &StatusInfo,
    auto: bool,
    _now: SystemTime,
) -> (&'static str, String) {
    if auto {
        (
            "text/plain; charset=ISO-8859-1",
            format!(
                "ServerVersion: {}\nServerMPM: {}\n",
                info.server_version, info.mpm.name
            ),
        )
    } else {
        (
            "text/html; charset=ISO-8859-1",
            format!(
                "<html><body><h1>Server status for {}</h1></body></html>\n",
                info.server_name
            ),
        )
    }
}
