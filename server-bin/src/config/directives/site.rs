//! What a host answers to and serves: `ServerName`, `ServerAlias`,
//! `ServerAdmin`, `DocumentRoot`, `DirectoryIndex`, mod_alias (`Alias`,
//! `Redirect` and its forms) and mod_mime's `AddType`.

use super::state::{Allowed, Block, Directive, HostSel, State};
use crate::config::values::{one_arg, parse_redirect, prepend, strip_server_name, Res};
use mpm_site::config::AliasRule;
use mpm_site::pipeline::MimeAttr;

/// The host directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "servername" => l.server(d).and_then(|()| {
            let name = strip_server_name(one_arg(d.name, d.args)?)?;
            l.host(d.scope.host).server_name = Some(name);
            Ok(())
        }),
        "serveralias" => server_alias(l, d),
        "serveradmin" => l.server(d).and_then(|()| {
            l.host(d.scope.host).server_admin = Some(one_arg(d.name, d.args)?.to_string());
            Ok(())
        }),
        "documentroot" => document_root(l, d),
        "directoryindex" => directory_index(l, d),
        "alias" => alias(l, d),
        "redirect" | "redirectpermanent" | "redirecttemp" => l.server(d).and_then(|()| {
            let rule = match d.lower {
                "redirectpermanent" => parse_redirect(&prepend("permanent", d.args))?,
                "redirecttemp" => parse_redirect(&prepend("temp", d.args))?,
                _ => parse_redirect(d.args)?,
            };
            l.host(d.scope.host).redirects.push(rule);
            Ok(())
        }),
        "aliasmatch" | "redirectmatch" | "scriptalias" | "scriptaliasmatch" => Err(format!(
            "{} is not supported by mpmd{}",
            d.name,
            if d.lower.starts_with("script") {
                " (no CGI)"
            } else {
                "; use Alias or Redirect with a path prefix"
            }
        )),
        "addtype" => add_type(l, d),
        _ => return None,
    })
}

/// `ServerAlias name…`, in `<VirtualHost>` only.
fn server_alias(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.server(d)?;
    if d.scope.host == HostSel::Main {
        return Err("ServerAlias only used in <VirtualHost>".into());
    }
    if d.args.is_empty() {
        return Err("ServerAlias takes at least one name".into());
    }
    l.host(d.scope.host)
        .server_aliases
        .extend(d.args.iter().cloned());
    Ok(())
}

/// `DocumentRoot directory` (a missing one is a warning).
fn document_root(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.server(d)?;
    let root = l.path(one_arg(d.name, d.raw)?);
    if !root.is_dir() {
        l.warn(
            d.origin,
            format_args!("DocumentRoot '{}' does not exist", root.display()),
        );
    }
    l.host(d.scope.host).document_root = Some(root);
    Ok(())
}

/// `DirectoryIndex file… | disabled`, for a host, a section or a
/// `.htaccess` file.
fn directory_index(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    if d.args.is_empty() {
        return Err("DirectoryIndex takes file names, or disabled".into());
    }
    let list = if d.args.iter().any(|a| a.eq_ignore_ascii_case("disabled")) {
        Vec::new()
    } else {
        d.args.to_vec()
    };
    l.dir_config(d.scope).directory_index = Some(list);
    Ok(())
}

/// `Alias /url-path /file/or/directory`.
fn alias(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.server(d)?;
    let [url, _] = d.args else {
        return Err("Alias takes two arguments: Alias /url-path /file/or/directory".into());
    };
    let rule = AliasRule {
        url: url.clone(),
        path: l.path(&d.raw[1]),
    };
    l.host(d.scope.host).aliases.push(rule);
    Ok(())
}

/// `AddType media-type extension…`: in the main server, for the whole
/// server's type table (a later line for an extension replaces an
/// earlier one); in a virtual host, a section or a `.htaccess` file, for
/// what it holds.
fn add_type(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let Some((mime, exts)) = d
        .args
        .split_first()
        .filter(|(m, e)| !e.is_empty() && m.contains('/'))
    else {
        return Err(
            "AddType takes a media type and extensions: AddType text/plain .txt .text".into(),
        );
    };
    if d.scope.host != HostSel::Main || d.scope.block != Block::None {
        let edits = super::access::mime_edits(MimeAttr::Type, exts, Some(mime));
        l.dir_config(d.scope).mime.extend(edits);
        return Ok(());
    }
    for ext in exts {
        let ext = ext.trim_start_matches('.').to_ascii_lowercase();
        l.add_types.retain(|(e, _)| *e != ext);
        l.add_types.push((ext, mime.clone()));
    }
    Ok(())
}
