//! mod_mime's directives beyond `AddType` and `AddHandler`: `AddCharset`,
//! `AddEncoding`, `AddLanguage` and their `Remove…` forms, `RemoveType`,
//! `ForceType`, `TypesConfig` (a `mime.types` file) and
//! `AddDefaultCharset`.

use super::access::mime_edits;
use super::state::{Allowed, Directive, State};
use crate::config::values::{one_arg, Res};
use mpm_site::pipeline::MimeAttr;

/// mod_mime's directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    let attr = match d.lower {
        "addcharset" | "removecharset" => MimeAttr::Charset,
        "addencoding" | "removeencoding" => MimeAttr::Encoding,
        "addlanguage" | "removelanguage" => MimeAttr::Language,
        "removetype" => MimeAttr::Type,
        "forcetype" => return Some(force_type(l, d)),
        "typesconfig" => return Some(types_config(l, d)),
        "adddefaultcharset" => return Some(add_default_charset(l, d)),
        _ => return None,
    };
    Some(edit(l, d, attr))
}

/// `AddCharset charset ext…`, `RemoveCharset ext…` and the like.
fn edit(l: &mut State<'_>, d: &Directive<'_>, attr: MimeAttr) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let edits = if d.lower.starts_with("remove") {
        if d.args.is_empty() {
            return Err(format!("{} takes extensions: {} .ext", d.name, d.name));
        }
        mime_edits(attr, d.args, None)
    } else {
        let Some((value, exts)) = d.args.split_first().filter(|(_, e)| !e.is_empty()) else {
            return Err(format!(
                "{} takes a value and extensions: {} value .ext",
                d.name, d.name
            ));
        };
        mime_edits(attr, exts, Some(value))
    };
    l.dir_config(d.scope).mime.extend(edits);
    Ok(())
}

/// `ForceType media-type|None`.
fn force_type(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let value = one_arg(d.name, d.args)?;
    let forced = if value.eq_ignore_ascii_case("none") {
        None
    } else if value.contains('/') {
        Some(value.to_string())
    } else {
        return Err(format!(
            "ForceType {value}: a media type (text/html) or None"
        ));
    };
    l.dir_config(d.scope).force_type = Some(forced);
    Ok(())
}

/// `AddDefaultCharset On|Off|charset` (`On` is `ISO-8859-1`, Apache's).
fn add_default_charset(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.allow(d.name, Allowed::PerDir, d.scope)?;
    let value = one_arg(d.name, d.args)?;
    let charset = match value.to_ascii_lowercase().as_str() {
        "off" => None,
        "on" => Some("ISO-8859-1".to_string()),
        _ if value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) =>
        {
            Some(value.to_string())
        }
        _ => {
            return Err(format!(
                "AddDefaultCharset {value}: On, Off or a charset name"
            ))
        }
    };
    l.dir_config(d.scope).default_charset = Some(charset);
    Ok(())
}

/// `TypesConfig file`: a `mime.types` file (`type ext ext…` per line, `#`
/// comments), read now; `AddType` lines win over it, and mpmd's own table
/// answers for extensions it does not name.
fn types_config(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    l.global(d)?;
    let path = l.path(one_arg(d.name, d.raw)?);
    let text = std::fs::read(&path).map_err(|e| {
        format!(
            "TypesConfig: could not open mime types config file {}: {}",
            path.display(),
            mpm::strategy::error::describe_io(&e)
        )
    })?;
    let pairs = parse_types(&String::from_utf8_lossy(&text));
    l.types_config = pairs;
    Ok(())
}

/// The `(extension, type)` pairs of a `mime.types` text.
pub(super) fn parse_types(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(media_type) = words.next().filter(|t| t.contains('/')) else {
            continue;
        };
        for ext in words {
            pairs.push((ext.to_ascii_lowercase(), media_type.to_string()));
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::parse_types;

    #[test]
    fn a_mime_types_file_gives_a_pair_per_extension_and_skips_comments() {
        let pairs = parse_types(
            "# comment\ntext/html\t\thtml HTM\napplication/x-none\nimage/png png # trailing\n\n",
        );
        assert_eq!(
            pairs,
            [
                ("html".to_string(), "text/html".to_string()),
                ("htm".to_string(), "text/html".to_string()),
                ("png".to_string(), "image/png".to_string()),
            ]
        );
    }
}
