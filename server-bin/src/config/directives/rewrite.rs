//! mod_rewrite's directives: `RewriteEngine`, `RewriteOptions`,
//! `RewriteBase`, `RewriteCond`, `RewriteRule` and `RewriteMap`, in the
//! server, a `<VirtualHost>`, a `<Directory>` and a `.htaccess` file
//! (the engine is [`mpm_site::rewrite`]).
//!
//! Outside any section, rules are server-context rules (run when the URL
//! is mapped) and `RewriteEngine`/`RewriteOptions` also set the
//! per-directory default, as in Apache; in any section or `.htaccess`
//! they are per-directory rules (run in the fixups, after the file is
//! found), with the section's path as the prefix Apache strips before
//! matching and puts before a relative substitution: a `<Directory>`'s
//! directory, an `.htaccess` file's directory, and, as Apache's
//! `cmd->path`, a `<Location>`'s URL path, a `<Files>` pattern, the
//! regex text of `<DirectoryMatch>`, `<FilesMatch>` and
//! `<LocationMatch>`, and `*If` inside `<If>`/`<ElseIf>`/`<Else>` (none
//! of which is a prefix of a file name, so there the rules match the
//! whole file name). `RewriteMap` is a server or `<VirtualHost>`
//! setting. A pattern, a flag or a condition that cannot be read is an
//! error naming the file and line.
//!
//! A section without mod_rewrite directives leaves the rewrite
//! configuration before it whole (rules and prefix), as Apache's merge
//! does for a module a section does not configure; one with any takes
//! its own rules, and the ones before it only under `RewriteOptions
//! Inherit`/`InheritBefore` ([`RewriteConfig::merge`]).

use std::sync::Arc;

use super::state::{Block, Directive, State};
use crate::config::values::{on_off, one_arg, Res};
use mpm_site::pipeline::SectionKind;
use mpm_site::rewrite::RewriteConfig;

/// The directives of mod_rewrite.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    if !matches!(
        d.lower,
        "rewriteengine"
            | "rewriteoptions"
            | "rewritebase"
            | "rewritecond"
            | "rewriterule"
            | "rewritemap"
    ) {
        return None;
    }
    Some(apply(l, d).map_err(|e| {
        if e.starts_with(d.name) {
            e
        } else {
            format!("{}: {e}", d.name)
        }
    }))
}

fn apply(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    if d.lower == "rewritemap" {
        l.server(d)?;
        let (name, source) = match d.args {
            [name, source] | [name, source, _] => (name, source),
            _ => {
                return Err(
                    "takes a map name and a source (txt:/path, rnd:/path, int:tolower)".into(),
                )
            }
        };
        let root = l.server_root.clone();
        return l.host(d.scope.host).rewrite.add_map(name, source, &root);
    }
    let server_level = d.scope.block == Block::None && l.open.is_empty();
    if server_level {
        let host = l.host(d.scope.host);
        return match d.lower {
            "rewriteengine" => {
                let on = on_off(d.name, one_arg(d.name, d.args)?)?;
                host.rewrite.engine = Some(on);
                dir_part(&mut host.dir.rewrite, None).engine = Some(on);
                Ok(())
            }
            "rewriteoptions" => {
                host.rewrite.add_options(d.args)?;
                dir_part(&mut host.dir.rewrite, None).add_options(d.args)
            }
            "rewritebase" => Err("RewriteBase: only valid in <Directory> and .htaccess (it names the URL of the directory)".into()),
            "rewritecond" => host.rewrite.add_cond(d.args),
            _ => host.rewrite.add_rule(d.args),
        };
    }
    let directory = match (d.scope.block, l.open.last().map(|s| &s.kind)) {
        (Block::Htaccess, None) => d
            .origin
            .file
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .ok_or("a .htaccess file without a directory")?,
        (_, Some(kind)) => section_path(kind),
        (_, None) => return Err(format!("{} is not allowed here", d.name)),
    };
    let cfg = dir_part(&mut l.dir_config(d.scope).rewrite, Some(&directory));
    match d.lower {
        "rewriteengine" => {
            cfg.engine = Some(on_off(d.name, one_arg(d.name, d.args)?)?);
            Ok(())
        }
        "rewriteoptions" => cfg.add_options(d.args),
        "rewritebase" => cfg.set_base(one_arg(d.name, d.args)?),
        "rewritecond" => cfg.add_cond(d.args),
        _ => cfg.add_rule(d.args),
    }
}

/// The path Apache gives a section's per-directory configuration
/// (`cmd->path`), which mod_rewrite takes as the section's directory
/// prefix.
fn section_path(kind: &SectionKind) -> String {
    match kind {
        SectionKind::Directory(path) => path.to_string_lossy().into_owned(),
        SectionKind::Location(path) | SectionKind::Files(path) => path.clone(),
        SectionKind::DirectoryMatch(re)
        | SectionKind::FilesMatch(re)
        | SectionKind::LocationMatch(re) => re.as_str().to_string(),
        SectionKind::If(_) | SectionKind::ElseIf(_) | SectionKind::Else => "*If".to_string(),
    }
}

/// The rewrite part of a per-directory config, made on first use for
/// `directory` (`None`: the server's own per-directory defaults).
fn dir_part<'c>(
    slot: &'c mut Option<Arc<RewriteConfig>>,
    directory: Option<&str>,
) -> &'c mut RewriteConfig {
    let cfg = slot.get_or_insert_with(|| {
        Arc::new(match directory {
            Some(dir) => RewriteConfig::directory(dir),
            None => RewriteConfig::server(),
        })
    });
    Arc::make_mut(cfg)
}
