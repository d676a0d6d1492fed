//! mod_log_config and the core's logging: `ErrorLog`, `LogLevel` (one of
//! each for the server), `LogFormat`, `CustomLog` and `TransferLog` (per
//! host).

use super::state::{Directive, HostSel, LogFmt, State};
use crate::config::values::{log_level, one_arg, Res};

/// The logging directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "errorlog" => error_log(l, d),
        "loglevel" => log_level_directive(l, d),
        "logformat" => l.server(d).and_then(|()| {
            match d.args {
                [format] => l.default_format = format.clone(),
                [format, nick] => {
                    l.log_formats.insert(nick.clone(), format.clone());
                }
                _ => return Err("LogFormat takes a format and an optional nickname".into()),
            }
            Ok(())
        }),
        "customlog" | "transferlog" => custom_log(l, d),
        _ => return None,
    })
}

/// `ErrorLog file`: one for the server (a virtual host's is a warning).
fn error_log(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.server(d)?;
    let target = one_arg(d.name, d.args)?;
    if target.starts_with("syslog") {
        return Err("ErrorLog syslog is not supported by mpmd; give a file".into());
    }
    if target.starts_with('|') {
        return Err(
            "piped logs (ErrorLog \"|command\") are not supported by mpmd; give a file".into(),
        );
    }
    let path = l.path(&d.raw[0]);
    if d.scope.host == HostSel::Main {
        l.error_log = Some(path);
    } else {
        l.warn(
            d.origin,
            "mpmd keeps one error log: ErrorLog inside <VirtualHost> has no effect",
        );
    }
    Ok(())
}

/// `LogLevel level [module:level …]`: the level, for the server (per
/// module levels are read and have no effect).
fn log_level_directive(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.server(d)?;
    let mut level = None;
    for arg in d.args.iter().filter(|a| !a.contains(':')) {
        level = Some(log_level(arg)?);
    }
    if d.args.is_empty() {
        return Err(
            "LogLevel takes a level: emerg, alert, crit, error, warn, notice, info, debug, trace1-8"
                .into(),
        );
    }
    match (d.scope.host, level) {
        (HostSel::Main, Some(level)) => l.log_level = level,
        (HostSel::Vhost(_), Some(_)) => l.warn(
            d.origin,
            "mpmd keeps one log level: LogLevel inside <VirtualHost> has no effect",
        ),
        (_, None) => {}
    }
    Ok(())
}

/// `CustomLog file format-or-nickname`, `TransferLog file`.
fn custom_log(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.server(d)?;
    let (target, format) = match (d.lower, d.args) {
        ("transferlog", [target]) => (target, LogFmt::Default),
        ("customlog", [target, format]) => (target, LogFmt::Given(format.clone())),
        ("customlog", [_, _, cond]) => {
            return Err(format!(
                "CustomLog condition '{cond}' is not supported by mpmd; log every request or none"
            ))
        }
        ("customlog", _) => return Err("CustomLog takes a file and a format or nickname".into()),
        _ => return Err("TransferLog takes one file".into()),
    };
    if target.starts_with('|') {
        return Err(format!(
            "piped logs ({} \"|command\") are not supported by mpmd; give a file",
            d.name
        ));
    }
    let path = l.path(&d.raw[0]);
    l.host(d.scope.host)
        .custom_logs
        .push((path, format, d.origin.clone()));
    Ok(())
}
