//! mod_autoindex's directives: `IndexIgnore`, `IndexOptions`,
//! `IndexOrderDefault`, `HeaderName`, `ReadmeName` (and those of its
//! icons and descriptions, accepted with a warning: mpmd's listings show
//! none).

use super::state::{Allowed, Directive, State};
use crate::config::values::{one_arg, Res};
use mpm_site::listing::IndexOrder;
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
        "indexorderdefault" => l.allow(d.name, Allowed::PerDir, d.scope).and_then(|()| {
            let order = match d.args {
                [direction, key] => IndexOrder::parse(direction, key),
                _ => None,
            }
            .ok_or_else(|| {
                format!(
                    "IndexOrderDefault {}: takes Ascending or Descending, then Name, Date, Size or Description",
                    d.args.join(" ")
                )
            })?;
            l.dir_config(d.scope).index_order = Some(order);
            Ok(())
        }),
        "addicon" | "addiconbytype" | "addiconbyencoding" | "addalt" | "addaltbytype"
        | "addaltbyencoding" | "adddescription" | "defaulticon" | "indexstylesheet"
        | "indexheadinsert" => {
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
            "versionsort" => one.version_sort = true,
            "ignoreclient" => one.ignore_client = true,
            "suppresscolumnsorting" => one.suppress_column_sorting = true,
            "addaltclass" | "charset" | "descriptionwidth" | "iconheight" | "iconwidth"
            | "iconsarelinks" | "namewidth" | "scanhtmltitles" | "showforbidden"
            | "suppressdescription" | "suppressicon" | "suppresslastmodified"
            | "suppressrules" | "suppresssize" | "trackmodified" | "type" | "xhtml" => {
                l.warn(d.origin, format_args!("IndexOptions {word} has no effect in mpmd"));
                continue;
            }
            _ => return Err(format!("IndexOptions {arg}: not an option (FancyIndexing, HTMLTable, FoldersFirst, IgnoreCase, SuppressHTMLPreamble, …)")),
        }
        match sign {
            Some('+') => add = add.union(one),
            Some(_) => remove = remove.union(one),
            None => set = set.union(one),
        }
    }
    // As Apache: options without a sign in a line with signed ones add.
    let setting = if relative {
        IndexOptions::Change {
            add: add.union(set),
            remove,
        }
    } else {
        IndexOptions::Set(set)
    };
    let config = l.dir_config(d.scope);
    config.index_options = Some(match config.index_options {
        // A second line of one section adds to the first, as Apache's.
        Some(IndexOptions::Set(before)) if !relative => IndexOptions::Set(before.union(set)),
        _ => setting,
    });
    Ok(())
}
