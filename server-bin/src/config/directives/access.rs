//! What a section (or the server, or a `.htaccess` file) sets about
//! access and handling: `Options`, `AllowOverride`, `AllowOverrideList`,
//! `Require` (mod_authz_core), `SetHandler`, and mod_mime's
//! `AddHandler`/`RemoveHandler`. Apache 2.2's access control (`Order`,
//! `Allow`, `Deny`) is refused with the `Require` to write instead.

use super::state::{Allowed, Directive, State};
use crate::config::values::{one_arg, parse_options, parse_require, Res};
use mpm_site::config::Require;
use mpm_site::pipeline::handler::BUILT_IN;
use mpm_site::pipeline::{HandlerName, MimeAttr, MimeEdit, Overrides};

/// The access directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "options" => options(l, d),
        "allowoverride" => allow_override(l, d),
        "allowoverridelist" => allow_override_list(l, d),
        "order" | "allow" | "deny" | "satisfy" => Err(format!(
            "{} is Apache 2.2 access control (mod_access_compat), not in mpmd; use Require (mod_authz_host), e.g. `Require all granted` or `Require ip 10.0.0.0/8`",
            d.name
        )),
        "require" => require(l, d),
        "sethandler" => set_handler(l, d),
        "addhandler" => add_handler(l, d),
        "removehandler" => remove_handler(l, d),
        _ => return None,
    })
}

/// `Options [+|-]option…`: a second line in one section applies on top of
/// the first.
fn options(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let (options, warnings) = parse_options(d.args)?;
    for w in warnings {
        l.warn(d.origin, w);
    }
    let slot = &mut l.dir_config(d.scope).options;
    *slot = Some(match *slot {
        Some(before) => before.then(options),
        None => options,
    });
    Ok(())
}

/// `AllowOverride None|All|class…` (classes `AuthConfig`, `FileInfo`,
/// `Indexes`, `Limit`, `Options[=…]`), in `<Directory>` only.
fn allow_override(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::Directory, d.scope)?;
    if d.args.is_empty() {
        return Err(
            "AllowOverride takes None, All or classes (AuthConfig FileInfo Indexes Limit Options)"
                .into(),
        );
    }
    let mut overrides = Overrides::NONE;
    for arg in d.args {
        // `Options=Indexes,FollowSymLinks`: the options a .htaccess may
        // set; mpmd lets it set every option it has.
        let word = arg.split_once('=').map_or(arg.as_str(), |(w, _)| w);
        if arg.contains('=') && !word.eq_ignore_ascii_case("options") {
            return Err(format!(
                "AllowOverride {arg}: only Options takes a list (Options=Indexes,FollowSymLinks)"
            ));
        }
        let Some(class) = Overrides::class(word) else {
            return Err(format!(
                "AllowOverride {arg}: not a class; use None, All, AuthConfig, FileInfo, Indexes, Limit or Options"
            ));
        };
        if class == Overrides::NONE && d.args.len() > 1 {
            return Err("AllowOverride None cannot be combined with other classes".into());
        }
        overrides = overrides.union(class);
    }
    l.dir_config(d.scope).allow_override = Some(overrides);
    Ok(())
}

/// `AllowOverrideList None|directive…`, in `<Directory>` only.
fn allow_override_list(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::Directory, d.scope)?;
    if d.args.is_empty() {
        return Err("AllowOverrideList takes None or directive names".into());
    }
    let list = if d.args.len() == 1 && d.args[0].eq_ignore_ascii_case("none") {
        Vec::new()
    } else {
        d.args.iter().map(|a| a.to_ascii_lowercase()).collect()
    };
    l.dir_config(d.scope).allow_override_list = Some(list);
    Ok(())
}

/// `Require …` in a section or `.htaccess`: several lines in one section
/// mean any of them (`<RequireAny>`, Apache's default).
fn require(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::Section, d.scope)?;
    let require = parse_require(d.args)?;
    let slot = &mut l.dir_config(d.scope).require;
    *slot = Some(match slot.take() {
        None => require,
        Some(Require::Any(mut list)) => {
            list.push(require);
            Require::Any(list)
        }
        Some(first) => Require::Any(vec![first, require]),
    });
    Ok(())
}

/// A handler name as written, with `-t`'s warning when mpmd has no
/// implementation for it (a request for it is then a 500, as Apache
/// answers for a handler no module provides).
fn handler_name(l: &mut State<'_>, d: &Directive<'_>, name: &str) -> HandlerName {
    let handler = HandlerName::parse(name);
    let known = BUILT_IN.contains(&handler.name()) || matches!(handler, HandlerName::ProxyServer);
    if !known {
        l.warn(
            d.origin,
            format_args!(
                "{} {name}: no module of mpmd provides this handler; requests for it will be answered 500 (handler not found)",
                d.name
            ),
        );
    }
    handler
}

/// `SetHandler name`: the handler of everything the section holds.
fn set_handler(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let name = one_arg(d.name, d.args)?;
    let handler = handler_name(l, d, name);
    l.dir_config(d.scope).handler = Some(handler);
    Ok(())
}

/// `AddHandler name ext…`.
fn add_handler(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let Some((name, exts)) = d.args.split_first().filter(|(_, e)| !e.is_empty()) else {
        return Err(
            "AddHandler takes a handler name and extensions: AddHandler cgi-script .cgi".into(),
        );
    };
    let handler = handler_name(l, d, name);
    let edits = mime_edits(MimeAttr::Handler, exts, Some(handler.name()));
    l.dir_config(d.scope).mime.extend(edits);
    Ok(())
}

/// `RemoveHandler ext…`.
fn remove_handler(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    if d.args.is_empty() {
        return Err("RemoveHandler takes extensions: RemoveHandler .cgi".into());
    }
    let edits = mime_edits(MimeAttr::Handler, d.args, None);
    l.dir_config(d.scope).mime.extend(edits);
    Ok(())
}

/// One edit of `attr` per extension (lower case, without its dot).
pub(super) fn mime_edits(attr: MimeAttr, exts: &[String], value: Option<&str>) -> Vec<MimeEdit> {
    exts.iter()
        .map(|ext| MimeEdit {
            attr,
            ext: ext.trim_start_matches('.').to_ascii_lowercase(),
            value: value.map(str::to_string),
        })
        .collect()
}
