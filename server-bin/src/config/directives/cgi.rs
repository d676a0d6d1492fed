//! mod_cgi's directive: `CGIScriptTimeout`, how long a script may make
//! no progress (read none of its input, write none of its output) before
//! it is cut off; `Timeout` when not set, as in Apache. A main-server
//! setting in mpmd (Apache also takes it in a `<VirtualHost>` or a
//! `<Directory>`).

use super::state::{Setter, State};
use crate::config::values::{seconds, Res};

/// The one-value settings.
pub(super) const SERVER_WIDE: &[(&str, Setter)] = &[("cgiscripttimeout", script_timeout)];

fn script_timeout(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    l.cgi.timeout = Some(seconds(n, v)?);
    Ok(())
}
