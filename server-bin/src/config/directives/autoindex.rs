//! mod_autoindex's directives: `IndexIgnore`, `IndexOptions`,
//! `HeaderName`, `ReadmeName` (and those of its icons and descriptions,
//! accepted with a warning: mpmd's listings show none).

use super::state::{Allowed, Directive, State};
use crate::config::values::{one_arg, Res};
use mpm_site::pipeline::{IndexFlags, IndexOptions};

/// mod_autoindex's directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "indexignore" => l.allow(d.name, Allowed::PerDir, d.scope).and_then(|()| {
            if d.args.is_empty() {
                return Err("IndexIgnore takes file names or wildcards".into());
            }
            l.dir_config(d.scope)
                .index_ignore
                .extend(d.args.iter().cloned());
            Ok(())
        }),
        "indexoptions" => index_options(l, d),
        "headername" | "readmename" => l.allow(d.name, Allowed::PerDir, d.scope).and_then(|()| {
            let name = one_arg(d.name, d.args)?.clone();
            let config = l.dir_config(d.scope);
            if d.lower == "headername" {
                config.header_name = Some(name);
            } else {
                config.readme_name = Some(name);
            }
            Ok(())
        }),
        "addicon" | "addiconbytype" | "addiconbyencoding" | "addalt" | "addaltbytype"
        | "addaltbyencoding" | "adddescription" | "defaulticon" | "indexorderdefault"
        | "indexstylesheet" | "indexheadinsert" => {
            l.allow(d.name, Allowed::PerDir, d.scope).map(|()| {
                l.warn(
                    d.origin,
                    format_args!(
                        "{} has no effect in mpmd (its listings show no icons or descriptions)",
                        d.name
                    ),
                );
            })
        }
        _ => return None,
    })
}

/// `IndexOptions option…`, or `+`/`-` changes of what the sections before
/// left.
fn index_options(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let (mut set, mut add, mut remove) = (
        IndexFlags::default(),
        IndexFlags::default(),
        IndexFlags::default(),
    );
    let mut relative = false;
    for arg in d.args {
        let (sign, word) = match arg.chars().next() {
            Some(c @ ('+' | '-')) => (Some(c), &arg[1..]),
            _ => (None, arg.as_str()),
        };
        relative |= sign.is_some();
        let mut one = IndexFlags::default();
        match word.split('=').next().unwrap_or("").to_ascii_lowercase().as_str() {
            "fancyindexing" => one.fancy = true,
            "htmltable" => one.html_table = true,
            "foldersfirst" => one.folders_first = true,
            "ignorecase" => one.ignore_case = true,
            "suppresshtmlpreamble" => one.suppress_preamble = true,
            "addaltclass" | "charset" | "descriptionwidth" | "iconheight" | "iconwidth"
            | "iconsarelinks" | "ignoreclient" | "namewidth" | "scanhtmltitles"
            | "showforbidden" | "suppresscolumnsorting" | "suppressdescription"
            | "suppressicon" | "suppresslastmodified" | "suppressrules"
            | "suppresssize" | "trackmodified" | "type" | "versionsort" | "xhtml" => {
                l.warn(d.origin, format_args!("IndexOptions {word} has no effect in mpmd"));
                continue;
            }
            _ => return Err(format!("IndexOptions {arg}: not an option (FancyIndexing, HTMLTable, FoldersFirst, IgnoreCase, SuppressHTMLPreamble, …)")),
        }
        let union = |a: IndexFlags, b: IndexFlags| IndexFlags {
            fancy: a.fancy || b.fancy,
            html_table: a.html_table || b.html_table,
            folders_first: a.folders_first || b.folders_first,
            ignore_case: a.ignore_case || b.ignore_case,
            suppress_preamble: a.suppress_preamble || b.suppress_preamble,
        };
        match sign {
            Some('+') => add = union(add, one),
            Some(_) => remove = union(remove, one),
            None => set = union(set, one),
        }
    }
    // As Apache: options without a sign in a line with signed ones add.
    let setting = if relative {
        IndexOptions::Change {
            add: IndexFlags {
                fancy: add.fancy || set.fancy,
                html_table: add.html_table || set.html_table,
                folders_first: add.folders_first || set.folders_first,
                ignore_case: add.ignore_case || set.ignore_case,
                suppress_preamble: add.suppress_preamble || set.suppress_preamble,
            },
            remove,
        }
    } else {
        IndexOptions::Set(set)
    };
    let config = l.dir_config(d.scope);
    config.index_options = Some(match config.index_options {
        // A second line of one section adds to the first, as Apache's.
        Some(IndexOptions::Set(before)) if !relative => IndexOptions::Set(IndexFlags {
            fancy: before.fancy || set.fancy,
            html_table: before.html_table || set.html_table,
            folders_first: before.folders_first || set.folders_first,
            ignore_case: before.ignore_case || set.ignore_case,
            suppress_preamble: before.suppress_preamble || set.suppress_preamble,
        }),
        _ => setting,
    });
    Ok(())
}
