//! The request's environment: mod_env (`SetEnv`, `UnsetEnv`, `PassEnv`)
//! and mod_setenvif (`SetEnvIf`, `SetEnvIfNoCase`, `BrowserMatch`,
//! `BrowserMatchNoCase`).

use std::sync::Arc;

use super::state::{Allowed, Directive, State};
use crate::config::values::Res;
use mpm_site::pipeline::env::{Attribute, EnvAction, EnvEdit, SetEnvIf};
use mpm_site::pipeline::Pattern;

/// mod_env's and mod_setenvif's directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "setenv" => set_env(l, d),
        "unsetenv" | "passenv" => names(l, d),
        "setenvif" | "setenvifnocase" | "browsermatch" | "browsermatchnocase" => set_env_if(l, d),
        _ => return None,
    })
}

/// `SetEnv name [value]` (an empty value when none is given).
fn set_env(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let edit = match d.args {
        [name] => EnvEdit::Set(name.clone(), String::new()),
        [name, value] => EnvEdit::Set(name.clone(), value.clone()),
        _ => return Err("SetEnv takes a variable and a value: SetEnv NAME value".into()),
    };
    l.dir_config(d.scope).env.push(edit);
    Ok(())
}

/// `UnsetEnv name…`, `PassEnv name…`.
fn names(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    if d.args.is_empty() {
        return Err(format!("{} takes variable names", d.name));
    }
    let pass = d.lower == "passenv";
    let edits = d.args.iter().map(|name| {
        if pass {
            EnvEdit::Pass(name.clone())
        } else {
            EnvEdit::Unset(name.clone())
        }
    });
    l.dir_config(d.scope).env.extend(edits);
    Ok(())
}

/// `SetEnvIf attribute regex [!]var[=value]…`, its `NoCase` form, and
/// `BrowserMatch[NoCase] regex …` (the `User-Agent` header).
fn set_env_if(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let browser = d.lower.starts_with("browsermatch");
    let (attribute, rest) = if browser {
        ("User-Agent", d.args)
    } else {
        match d.args.split_first() {
            Some((attribute, rest)) => (attribute.as_str(), rest),
            None => return Err(usage(d.name)),
        }
    };
    let Some((regex, actions)) = rest.split_first().filter(|(_, a)| !a.is_empty()) else {
        return Err(usage(d.name));
    };
    let pattern =
        Pattern::new(regex, d.lower.ends_with("nocase")).map_err(|e| format!("{}: {e}", d.name))?;
    let rule = SetEnvIf {
        attribute: Attribute::parse(attribute),
        pattern,
        actions: actions.iter().map(|a| EnvAction::parse(a)).collect(),
    };
    l.dir_config(d.scope).setenvif.push(Arc::new(rule));
    Ok(())
}

fn usage(name: &str) -> String {
    if name.to_ascii_lowercase().starts_with("browsermatch") {
        format!("{name} takes a regular expression and variables: {name} \"MSIE [0-9]\" old_ie")
    } else {
        format!("{name} takes an attribute, a regular expression and variables: {name} Request_URI \"\\.gif$\" image")
    }
}
