//! The core's own directives: variables (`Define`, `UnDefine`, `Error`), where
//! the server listens and lives (`Listen`, `AcceptFilter`, `ServerRoot`, `PidFile`,
//! `LoadModule`), who it serves as (`User`, `Group`), and the directives
//! of Apache's core that `mpmd` accepts with no effect (listed in the
//! [module's documentation](super)).

use mpm::strategy::ListenAddr;

use super::state::{set, Directive, Setter, State};
use crate::config::modules;
use crate::config::values::{number, on_off, one_arg, Res};

/// `User`, `Group`, and the core's one-value directives with no effect.
pub(super) const SERVER_WIDE: &[(&str, Setter)] = &[
    ("user", |l, _, v| {
        let user =
            mpm::strategy::process::privileges::refuse_root_user(v).map(|()| Some(v.to_string()));
        set(&mut l.mpm.user, user)
    }),
    ("group", |l, _, v| {
        set(&mut l.mpm.group, Ok(Some(v.to_string())))
    }),
    ("maxmemfree", a_size),
    ("threadstacksize", a_size),
    ("receivebuffersize", a_size),
    ("sendbuffersize", a_size),
    ("enableexceptionhook", |_, n, v| on_off(n, v).map(drop)),
    ("hostnamelookups", |_, _, v| {
        match v.to_ascii_lowercase().as_str() {
        "off" => Ok(()),
        "on" | "double" => Err(
            "HostnameLookups On is not supported by mpmd (client addresses are never looked up); use HostnameLookups Off".into(),
        ),
        other => Err(format!("HostnameLookups must be On, Off or Double, not '{other}'")),
    }
    }),
];

/// A size in bytes, checked and not used (`MaxMemFree`, `ThreadStackSize`,
/// the socket buffer sizes: the system's choices stand).
fn a_size(_: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    number::<u64>(n, v).map(drop)
}

/// The core's other directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "define" => define(l, d),
        "undefine" => one_arg(d.name, d.args).map(|var| {
            l.defined.remove(var);
            l.vars.remove(var);
        }),
        // Apache's `Error "message"` stops reading with that message; one
        // with no message (found by the config_loader fuzz target) says so
        // rather than stop with an empty error.
        "error" => Err(match d.args.join(" ") {
            message if message.trim().is_empty() => {
                "Error takes one argument, the message to stop with: Error \"...\"".to_string()
            }
            message => message,
        }),
        "listen" => listen(l, d),
        "acceptfilter" => accept_filter(l, d),
        "serverroot" => server_root(l, d),
        "loadmodule" => l.global(d).and_then(|()| match d.args {
            [module, _file] => load_module(l, module, d),
            _ => Err("LoadModule takes two arguments: LoadModule module_id path".into()),
        }),
        "pidfile" => l.global(d).and_then(|()| {
            l.pid_file = Some(l.path(one_arg(d.name, d.raw)?));
            Ok(())
        }),
        "scoreboardfile" | "coredumpdirectory" | "defaultruntimedir" | "mutex" => {
            l.global(d).and_then(|()| match d.args {
                [] => Err(format!("{} takes at least one argument", d.name)),
                _ => Ok(()),
            })
        }
        "enablesendfile" | "enablemmap" => {
            one_arg(d.name, d.args).and_then(|v| on_off(d.name, v).map(drop))
        }
        "usecanonicalname" => one_of(
            d,
            "UseCanonicalName",
            &["on", "off", "dns"],
            "On, Off or DNS",
        ),
        "defaulttype" => {
            l.warn(
                d.origin,
                "DefaultType has no effect (as in Apache 2.4); types come from file extensions",
            );
            Ok(())
        }
        "namevirtualhost" => {
            l.warn(
                d.origin,
                "NameVirtualHost has no effect and will be removed in the next release",
            );
            Ok(())
        }
        _ => return None,
    })
}

/// A directive with no effect (`directive`, as Apache spells it) whose one
/// value must still be one of `allowed` (lower case), as Apache checks it;
/// `spelled` lists them for the message.
fn one_of(d: &Directive<'_>, directive: &str, allowed: &[&str], spelled: &str) -> Res<()> {
    let value = one_arg(d.name, d.args)?.to_ascii_lowercase();
    if allowed.contains(&value.as_str()) {
        return Ok(());
    }
    Err(format!("{directive} must be {spelled}, not '{value}'"))
}

/// `Define NAME [value]`.
fn define(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    let (var, value) = match d.args {
        [var] => (var, None),
        [var, value] => (var, Some(value)),
        _ => return Err("Define takes one or two arguments: Define NAME [value]".into()),
    };
    if var.contains(':') {
        return Err(format!(
            "Define: variable name '{var}' must not contain ':'"
        ));
    }
    l.defined.insert(var.clone());
    match value {
        Some(_) => l.vars.insert(var.clone(), d.raw[1].clone()),
        None => l.vars.remove(var),
    };
    Ok(())
}

/// `Listen [IP:]port [protocol]`; a host name instead of an IP address
/// listens on every address it resolves to, as Apache's.
fn listen(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.global(d)?;
    let args = d.args;
    if args.is_empty() || args.len() > 2 {
        return Err(
            "Listen takes an address and an optional protocol: Listen [IP:]port [http]".into(),
        );
    }
    for mut addr in ListenAddr::resolve(&args.join(" ")).map_err(|e| e.to_string())? {
        if args.len() == 1 && addr.port == 443 {
            // As Apache: port 443 speaks https unless told otherwise.
            addr.protocol = "https".into();
        }
        if !matches!(addr.protocol.as_str(), "http" | "https") {
            return Err(format!(
                "Listen {}: unknown protocol '{}' (use http or https)",
                args.join(" "),
                addr.protocol
            ));
        }
        if let Some((_, first)) = l
            .listens
            .iter()
            .find(|(l, _)| l.ip == addr.ip && l.port == addr.port)
        {
            return Err(format!(
                "Cannot define multiple Listeners on the same IP:port ({addr} is already at {first})"
            ));
        }
        l.listens.push((addr, d.origin.clone()));
    }
    Ok(())
}

/// `AcceptFilter protocol filter`: whether the sockets of `Listen`
/// addresses of that protocol hand a connection to the server only once
/// it has sent data (`TCP_DEFER_ACCEPT`; on by default for `http` and
/// `https`, as Apache on Linux); `none` turns it off, any other filter
/// name (`data`, `httpready`) turns it on.
fn accept_filter(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.global(d)?;
    match d.args {
        [protocol, filter] => {
            l.accept_filters.set(protocol, filter);
            Ok(())
        }
        _ => Err(
            "AcceptFilter takes a protocol and a filter: AcceptFilter http data, or AcceptFilter http none to accept connections before they send"
                .into(),
        ),
    }
}

/// `ServerRoot directory`: relative paths written after it resolve against
/// it.
fn server_root(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.global(d)?;
    let root = l.path(one_arg(d.name, d.raw)?);
    if !root.is_dir() {
        return Err(format!(
            "ServerRoot must be a valid directory; '{}' is not",
            root.display()
        ));
    }
    l.server_root = root;
    Ok(())
}

/// `LoadModule module path`: an MPM chooses the strategy; a built-in
/// module is a warning (as Apache's "already loaded"); anything else is
/// an error, as mpmd loads no modules.
fn load_module(l: &mut State<'_>, module: &str, d: &Directive<'_>) -> Res<()> {
    let compiled = &l.opts.compiled_mpms;
    if let Some(mpm) = module
        .strip_suffix("_module")
        .and_then(|_| modules::mpm_of(module))
    {
        if !compiled.contains(&mpm) {
            return Err(format!(
                "Cannot load module {module}: the {mpm} MPM is not compiled into mpmd; compiled in: {}",
                compiled.join(", ")
            ));
        }
        return match &l.mpm_name {
            Some(loaded) if loaded == mpm => {
                l.warn(
                    d.origin,
                    format_args!("module {module} is already loaded, skipping"),
                );
                Ok(())
            }
            Some(loaded) => Err(format!(
                "Only one MPM can be loaded: mpm_{loaded}_module is loaded already, so {module} cannot be"
            )),
            None => {
                l.mpm_name = Some(mpm.to_string());
                Ok(())
            }
        };
    }
    if module.starts_with("mpm_") && module.ends_with("_module") {
        return Err(format!(
            "Cannot load module {module}: there is no such MPM; compiled in: {}",
            compiled.join(", ")
        ));
    }
    if modules::built_in(module).is_some() {
        l.warn(
            d.origin,
            format_args!("module {module} is built-in and can't be loaded"),
        );
        return Ok(());
    }
    let list: Vec<String> = modules::compiled_modules(compiled)
        .into_iter()
        .map(|m| m.id)
        .collect();
    Err(format!(
        "Cannot load module {module}: mpmd has no loadable modules; compiled in: {}",
        list.join(", ")
    ))
}
