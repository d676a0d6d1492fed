//! mod_fcgid's directives: the process pool's limits and timeouts, with
//! their current names and the legacy ones an old `php.conf` still
//! writes (`MaxRequestsPerProcess`, `DefaultMaxClassProcessCount`,
//! `IdleTimeout`, `MaxProcessCount`, `IPCCommTimeout`,
//! `IPCConnectTimeout`, `MaxRequestLen`, …), `FcgidInitialEnv` and
//! `FcgidWrapper`.
//!
//! Stricter than Apache: mpmd has one pool for the whole server, so every
//! one of them is a main-server setting (Apache also takes most in a
//! `<VirtualHost>`, and `FcgidWrapper` in a `<Directory>`).

use super::state::{set, Directive, Setter, State};
use crate::config::values::{number, seconds, Res};
use mpm_site::fcgid::Wrapper;

/// A count of processes: at least 1.
fn processes(name: &str, value: &str) -> Res<u32> {
    match number::<u32>(name, value)? {
        0 => Err(format!("{name} must be at least 1")),
        n => Ok(n),
    }
}

/// The one-value settings, each under its current and its legacy name.
pub(super) const SERVER_WIDE: &[(&str, Setter)] = &[
    ("fcgidmaxprocesses", max_processes),
    ("maxprocesscount", max_processes),
    ("fcgidmaxprocessesperclass", max_per_class),
    ("defaultmaxclassprocesscount", max_per_class),
    ("fcgidminprocessesperclass", min_per_class),
    ("defaultminclassprocesscount", min_per_class),
    ("fcgidmaxrequestsperprocess", max_requests),
    ("maxrequestsperprocess", max_requests),
    ("fcgididletimeout", idle_timeout),
    ("idletimeout", idle_timeout),
    ("fcgidprocesslifetime", lifetime),
    ("processlifetime", lifetime),
    ("fcgidiotimeout", io_timeout),
    ("ipccommtimeout", io_timeout),
    ("fcgidconnecttimeout", connect_timeout),
    ("ipcconnecttimeout", connect_timeout),
    ("fcgidmaxrequestlen", max_request_len),
    ("maxrequestlen", max_request_len),
    ("fcgidmaxrequestinmem", max_request_in_mem),
    ("maxrequestinmem", max_request_in_mem),
    ("fcgidipcdir", |l, _, v| {
        l.fcgid.ipc_dir = Some(l.path(v));
        Ok(())
    }),
    ("socketpath", |l, _, v| {
        l.fcgid.ipc_dir = Some(l.path(v));
        Ok(())
    }),
];

fn max_processes(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    set(&mut l.fcgid.max_processes, processes(n, v))
}
fn max_per_class(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    set(&mut l.fcgid.max_processes_per_class, processes(n, v))
}
fn min_per_class(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    set(&mut l.fcgid.min_processes_per_class, number(n, v))
}
fn max_requests(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    set(&mut l.fcgid.max_requests_per_process, number(n, v))
}
fn idle_timeout(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    set(&mut l.fcgid.idle_timeout, seconds(n, v))
}
fn lifetime(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    set(&mut l.fcgid.process_lifetime, seconds(n, v))
}
fn io_timeout(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    set(&mut l.fcgid.io_timeout, seconds(n, v))
}
fn connect_timeout(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    set(&mut l.fcgid.connect_timeout, seconds(n, v))
}
fn max_request_len(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    set(&mut l.fcgid.max_request_len, number(n, v))
}
fn max_request_in_mem(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    set(&mut l.fcgid.max_request_in_mem, number(n, v))
}

/// `FcgidInitialEnv name [value]` (`DefaultInitEnv`) and `FcgidWrapper
/// command [.ext] [virtual]` (`FCGIWrapper`).
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "fcgidinitialenv" | "defaultinitenv" => l.global(d).and_then(|()| match d.args {
            [name] => {
                l.fcgid.initial_env.push((name.clone(), String::new()));
                Ok(())
            }
            [name, value] => {
                l.fcgid.initial_env.push((name.clone(), value.clone()));
                Ok(())
            }
            _ => Err(format!(
                "{} takes a variable's name and its value: {} PHP_FCGI_MAX_REQUESTS 10000",
                d.name, d.name
            )),
        }),
        "fcgidwrapper" | "fcgiwrapper" => l.global(d).and_then(|()| wrapper(l, d)),
        _ => return None,
    })
}

fn wrapper(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    let usage = || {
        format!(
            "{} takes a program (with its arguments, quoted), then an optional .extension \
             and 'virtual': {} \"/usr/bin/php-cgi -c /etc/php.ini\" .php",
            d.name, d.name
        )
    };
    let (command, rest) = d.args.split_first().ok_or_else(usage)?;
    let mut words = command.split_whitespace();
    let program = words.next().ok_or_else(usage)?;
    let args = words.map(str::to_string).collect();
    let mut extension = None;
    let mut virtual_script = false;
    for word in rest {
        match word.strip_prefix('.') {
            Some(ext) if extension.is_none() && !ext.is_empty() && !ext.contains('/') => {
                extension = Some(ext.to_ascii_lowercase());
            }
            _ if word.eq_ignore_ascii_case("virtual") && !virtual_script => virtual_script = true,
            _ => {
                return Err(format!(
                    "{}: '{word}' is not an .extension or 'virtual'; {}",
                    d.name,
                    usage()
                ))
            }
        }
    }
    let program = l.path(program);
    if !program.is_file() {
        l.warn(
            d.origin,
            format_args!(
                "{}: {} is not a file (yet): requests for its scripts fail until it is",
                d.name,
                program.display()
            ),
        );
    }
    l.fcgid.wrappers.push(Wrapper {
        program,
        args,
        extension,
        virtual_script,
    });
    Ok(())
}
