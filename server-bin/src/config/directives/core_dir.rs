//! Core and mod_dir settings of a directory and of the server:
//! `ErrorDocument`, `FileETag`, `ServerSignature`, `DirectorySlash`,
//! `FallbackResource` (per directory); `TraceEnable`, `AccessFileName`,
//! `LimitInternalRecursion` (for the whole server).

use super::state::{Allowed, Directive, State};
use crate::config::values::{number, on_off, one_arg, Res};
use mpm_site::config::TraceEnable;
use mpm_site::pipeline::{ETagParts, ErrorDocument, FileETag, ServerSignature};

/// These directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "errordocument" => error_document(l, d),
        "fileetag" => file_etag(l, d),
        "serversignature" => server_signature(l, d),
        "directoryslash" => l.allow(d.name, Allowed::PerDir, d.scope).and_then(|()| {
            let on = on_off(d.name, one_arg(d.name, d.args)?)?;
            l.dir_config(d.scope).directory_slash = Some(on);
            Ok(())
        }),
        "fallbackresource" => l.allow(d.name, Allowed::PerDir, d.scope).and_then(|()| {
            let url = one_arg(d.name, d.args)?;
            let fallback = (!url.eq_ignore_ascii_case("disabled")).then(|| url.clone());
            l.dir_config(d.scope).fallback_resource = Some(fallback);
            Ok(())
        }),
        "traceenable" => l.global(d).and_then(|()| {
            l.trace_enable = match one_arg(d.name, d.args)?.to_ascii_lowercase().as_str() {
                "on" => TraceEnable::On,
                "off" => TraceEnable::Off,
                "extended" => TraceEnable::Extended,
                other => {
                    return Err(format!(
                        "TraceEnable must be On, Off or extended, not '{other}'"
                    ))
                }
            };
            Ok(())
        }),
        "accessfilename" => l.global(d).and_then(|()| {
            let name = one_arg(d.name, d.args)?;
            if name.is_empty() || name.contains('/') {
                return Err(format!("AccessFileName {name}: a file name, without /"));
            }
            l.access_file_name = name.clone();
            Ok(())
        }),
        "limitinternalrecursion" => l.global(d).and_then(|()| {
            // The second number (subrequest nesting) is read and checked;
            // mpmd's subrequests are internal redirects, counted by the first.
            let (first, rest) = d
                .args
                .split_first()
                .ok_or("LimitInternalRecursion takes a number (and optionally a second)")?;
            if rest.len() > 1 {
                return Err("LimitInternalRecursion takes one or two numbers".into());
            }
            let limit: u32 = number(d.name, first)?;
            for extra in rest {
                let _: u32 = number(d.name, extra)?;
            }
            l.limit_internal_recursion = limit.max(1);
            Ok(())
        }),
        _ => return None,
    })
}

/// `ErrorDocument status /local/url|http://remote/url|"message"|default`,
/// read as Apache reads it: a value with a space is a message, one
/// starting with `/` a local URL, a URL with a scheme a remote one,
/// anything else a message.
fn error_document(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let [status, what] = d.args else {
        return Err(
            "ErrorDocument takes a status and what to answer: ErrorDocument 404 /errors/404.html"
                .into(),
        );
    };
    let code: u16 = status
        .parse()
        .ok()
        .filter(|c| (400..=599).contains(c))
        .ok_or_else(|| format!("ErrorDocument {status}: an error status from 400 to 599"))?;
    let doc = if what.eq_ignore_ascii_case("default") {
        ErrorDocument::Default
    } else if what.contains(' ') {
        ErrorDocument::Text(what.clone())
    } else if what.starts_with('/') {
        ErrorDocument::Local(what.clone())
    } else if what.contains("://") {
        if code == 401 {
            l.warn(
                d.origin,
                "cannot use a full URL in a 401 ErrorDocument directive --- ignoring!",
            );
            return Ok(());
        }
        ErrorDocument::Remote(what.clone())
    } else {
        ErrorDocument::Text(what.clone())
    };
    l.dir_config(d.scope).error_documents.push((code, doc));
    Ok(())
}

/// `FileETag INode|MTime|Size|All|None …` or `+`/`-` changes.
fn file_etag(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    if d.args.is_empty() {
        return Err("FileETag takes INode, MTime, Size, All or None (or +/- changes)".into());
    }
    let relative = d.args.iter().filter(|a| a.starts_with(['+', '-'])).count();
    if relative != 0 && relative != d.args.len() {
        return Err("FileETag: either all keywords start with + or -, or none does".into());
    }
    let (mut set, mut add, mut remove) = (
        ETagParts::default(),
        ETagParts::default(),
        ETagParts::default(),
    );
    for arg in d.args {
        let (sign, word) = arg.split_at(usize::from(relative > 0));
        let one = match word.to_ascii_lowercase().as_str() {
            "inode" => ETagParts {
                inode: true,
                ..ETagParts::default()
            },
            "mtime" => ETagParts {
                mtime: true,
                ..ETagParts::default()
            },
            "size" => ETagParts {
                size: true,
                ..ETagParts::default()
            },
            "all" if relative == 0 => ETagParts {
                inode: true,
                mtime: true,
                size: true,
            },
            "none" if relative == 0 && d.args.len() == 1 => ETagParts::default(),
            _ => {
                return Err(format!(
                    "FileETag: unknown keyword '{arg}' (INode, MTime, Size, All, None)"
                ))
            }
        };
        let union = |a: ETagParts, b: ETagParts| ETagParts {
            inode: a.inode || b.inode,
            mtime: a.mtime || b.mtime,
            size: a.size || b.size,
        };
        match sign {
            "+" => add = union(add, one),
            "-" => remove = union(remove, one),
            _ => set = union(set, one),
        }
    }
    let setting = if relative > 0 {
        FileETag::Change { add, remove }
    } else {
        FileETag::Set(set)
    };
    l.dir_config(d.scope).file_etag = Some(setting);
    Ok(())
}

/// `ServerSignature On|Off|EMail`.
fn server_signature(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let value = one_arg(d.name, d.args)?;
    let signature = match value.to_ascii_lowercase().as_str() {
        "on" => ServerSignature::On,
        "off" => ServerSignature::Off,
        "email" => ServerSignature::Email,
        other => {
            return Err(format!(
                "ServerSignature must be On, Off or EMail, not '{other}'"
            ))
        }
    };
    l.dir_config(d.scope).server_signature = Some(signature);
    Ok(())
}
