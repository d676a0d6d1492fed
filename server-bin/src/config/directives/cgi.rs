//! The scripts' directives. mod_cgi's `CGIScriptTimeout`, how long a
//! script may make no progress (read none of its input, write none of its
//! output) before it is cut off; `Timeout` when not set, as in Apache. A
//! main-server setting in mpmd (Apache also takes it in a `<VirtualHost>`
//! or a `<Directory>`).
//!
//! Per directory (and in `.htaccess`, as Apache allows them): core's
//! `CGIPassAuth On|Off` (`AllowOverride AuthConfig`), which mod_cgi,
//! mod_fcgid and mod_proxy_fcgi read, and mod_proxy_fcgi's
//! `ProxyFCGISetEnvIf condition [!]name [value]` (`FileInfo`).

use std::sync::Arc;

use super::state::{Allowed, Directive, Setter, State};
use crate::config::values::{on_off, one_arg, seconds, Res};
use mpm_site::cgi::FcgiSetEnvIf;

/// The one-value settings.
pub(super) const SERVER_WIDE: &[(&str, Setter)] = &[("cgiscripttimeout", script_timeout)];

fn script_timeout(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    l.cgi.timeout = Some(seconds(n, v)?);
    Ok(())
}

/// The per-directory directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "cgipassauth" => pass_auth(l, d),
        "proxyfcgisetenvif" => set_env_if(l, d),
        _ => return None,
    })
}

/// `CGIPassAuth On|Off`.
fn pass_auth(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let on = on_off(d.name, one_arg(d.name, d.args)?)?;
    l.dir_config(d.scope).scripts.pass_auth = Some(on);
    Ok(())
}

/// `ProxyFCGISetEnvIf condition [!]name [value]`.
fn set_env_if(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let rule = match d.args {
        [condition, name] => FcgiSetEnvIf::parse(condition, name, None)?,
        [condition, name, value] => FcgiSetEnvIf::parse(condition, name, Some(value))?,
        _ => {
            return Err(
                "ProxyFCGISetEnvIf takes an expression, a variable and a value: \
                 ProxyFCGISetEnvIf \"reqenv('PATH_INFO') =~ m#^/x#\" NAME \"value\""
                    .into(),
            )
        }
    };
    l.dir_config(d.scope)
        .scripts
        .fcgi_set_env
        .push(Arc::new(rule));
    Ok(())
}
