//! mod_headers (`Header`, `RequestHeader`), mod_expires (`ExpiresActive`,
//! `ExpiresDefault`, `ExpiresByType`), mod_filter's
//! `AddOutputFilterByType`, mod_mime's `AddOutputFilter` and
//! `RemoveOutputFilter`, the core's `SetOutputFilter`, and the settings of
//! mod_deflate (`DeflateCompressionLevel`, `DeflateBufferSize`,
//! `DeflateAlterETag`, `DeflateFilterNote`) and mod_brotli
//! (`BrotliCompressionQuality`, `BrotliCompressionWindow`,
//! `BrotliAlterETag`, `BrotliFilterNote`): filled into the
//! per-directory configuration where they are written
//! ([`DirConfig::filters`](mpm_site::pipeline::DirConfig::filters)), which
//! the pipeline merges in Apache's order.
//!
//! As in Apache: the levels and `ETag` choices are server settings (main
//! server or `<VirtualHost>`), `Header … early` and `RequestHeader …
//! early` too; everything else may also be written in any section and in
//! `.htaccess` (`AllowOverride FileInfo`, `Indexes` for mod_expires). The
//! filters known by name are `DEFLATE` and `BROTLI_COMPRESS`; another name
//! (`INCLUDES`, `SUBSTITUTE`) is an error saying mpmd lacks it.

use super::state::{Allowed, Directive, State};
use crate::config::values::{number, on_off, one_arg, Res};
use mpm_site::compress::notes::NoteKind;
use mpm_site::compress::{AlterEtag, Encoding, Offer};
use mpm_site::expires::ExpiresRule;
use mpm_site::headers::{Condition, HeaderRule};

/// The family's directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    let known = matches!(
        d.lower,
        "header"
            | "requestheader"
            | "expiresactive"
            | "expiresdefault"
            | "expiresbytype"
            | "addoutputfilterbytype"
            | "setoutputfilter"
            | "addoutputfilter"
            | "removeoutputfilter"
            | "deflatecompressionlevel"
            | "deflatebuffersize"
            | "deflatealteretag"
            | "brotlicompressionquality"
            | "brotlicompressionwindow"
            | "brotlialteretag"
            | "deflatefilternote"
            | "brotlifilternote"
    );
    if !known {
        return unsupported(d.lower)
            .map(|why| Err(format!("{} is not supported by mpmd: {why}", d.name)));
    }
    let server_wide = d.lower.starts_with("deflate") || d.lower.starts_with("brotli");
    let allowed = if server_wide {
        Allowed::Server
    } else {
        Allowed::PerDir
    };
    Some(l.allow(d.name, allowed, d.scope).and_then(|()| apply(l, d)))
}

fn apply(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    let args: Vec<&str> = d.args.iter().map(String::as_str).collect();
    let at_server = l.allow(d.name, Allowed::Server, d.scope).is_ok();
    let config = &mut l.dir_config(d.scope).filters;
    let tuning = &mut config.compress.tuning;
    match d.lower {
        "header" | "requestheader" => {
            let request = d.lower == "requestheader";
            let rule = HeaderRule::parse(&args, request)?;
            if matches!(rule.condition, Condition::Early) && !at_server {
                return Err(format!(
                    "{}: 'early' is allowed only at server level or in <VirtualHost>, not in a section or .htaccess",
                    d.name
                ));
            }
            if request {
                config.headers.request.push(rule);
            } else {
                config.headers.response.push(rule);
            }
        }
        "expiresactive" => {
            config.expires.active = Some(on_off(d.name, one_arg(d.name, d.args)?)?);
        }
        "expiresdefault" => {
            let rule =
                ExpiresRule::parse(&args.join(" ")).map_err(|e| format!("{}: {e}", d.name))?;
            config.expires.default = Some(rule);
        }
        "expiresbytype" => {
            let [media, code @ ..] = &args[..] else {
                return Err(format!(
                    "{} takes a media type and a time: {} image/png \"access plus 1 month\"",
                    d.name, d.name
                ));
            };
            if code.is_empty() || !media.contains('/') {
                return Err(format!(
                    "{} takes a media type (type/subtype or type/*) and a time, e.g. {} image/png \"access plus 1 month\"",
                    d.name, d.name
                ));
            }
            let rule = ExpiresRule::parse(&code.join(" "))
                .map_err(|e| format!("{} {media}: {e}", d.name))?;
            config
                .expires
                .by_type
                .push((media.to_ascii_lowercase(), rule));
        }
        "addoutputfilterbytype" => {
            let [filters, types @ ..] = &args[..] else {
                return Err(usage_by_type(d.name));
            };
            if types.is_empty() {
                return Err(usage_by_type(d.name));
            }
            for encoding in filter_names(d.name, filters)? {
                for t in types {
                    config
                        .compress
                        .by_type
                        .push((t.to_ascii_lowercase(), encoding));
                }
            }
        }
        "setoutputfilter" => {
            let mut offer = Offer::default();
            for encoding in filter_names(d.name, one_arg(d.name, &args)?)? {
                match encoding {
                    Encoding::Gzip => offer.gzip = true,
                    Encoding::Br => offer.br = true,
                }
            }
            config.compress.always = Some(offer);
        }
        "addoutputfilter" => {
            let [filters, exts @ ..] = &args[..] else {
                return Err(format!(
                    "{} takes filters and extensions: {} DEFLATE .html .css",
                    d.name, d.name
                ));
            };
            if exts.is_empty() {
                return Err(format!(
                    "{} takes filters and extensions: {} DEFLATE .html .css",
                    d.name, d.name
                ));
            }
            for encoding in filter_names(d.name, filters)? {
                for ext in exts {
                    config
                        .compress
                        .by_extension
                        .push((extension(ext), encoding));
                }
            }
        }
        "removeoutputfilter" => {
            if args.is_empty() {
                return Err(format!(
                    "{} takes extensions: {} .html .css",
                    d.name, d.name
                ));
            }
            for ext in &args {
                let ext = extension(ext);
                config.compress.by_extension.retain(|(e, _)| *e != ext);
                config.compress.removed_extensions.push(ext);
            }
        }
        "deflatecompressionlevel" => {
            tuning.gzip_level = Some(bounded(d.name, one_arg(d.name, &args)?, 1, 9)?);
        }
        "brotlicompressionquality" => {
            tuning.br_quality = Some(bounded(d.name, one_arg(d.name, &args)?, 0, 11)?);
        }
        "brotlicompressionwindow" => {
            tuning.br_window = Some(bounded(d.name, one_arg(d.name, &args)?, 10, 24)?);
        }
        "deflatebuffersize" => {
            let size: usize = number(d.name, one_arg(d.name, &args)?)?;
            if size == 0 || size > 1 << 20 {
                return Err(format!(
                    "{}: the buffer must be 1 to 1048576 bytes, not {size}",
                    d.name
                ));
            }
            tuning.buffer = Some(size);
        }
        "deflatefilternote" | "brotlifilternote" => {
            let (kind, name) = match args.as_slice() {
                [name] => (NoteKind::Ratio, *name),
                [kind, name] => (
                    NoteKind::parse(kind).ok_or_else(|| {
                        format!(
                            "{}: Unknown note type {kind} (Input, Output or Ratio)",
                            d.name
                        )
                    })?,
                    *name,
                ),
                _ => {
                    return Err(format!(
                        "{} takes a note name, after Input, Output or Ratio: {} Ratio ratio",
                        d.name, d.name
                    ))
                }
            };
            let notes = if d.lower == "deflatefilternote" {
                &mut config.compress.deflate_notes
            } else {
                &mut config.compress.brotli_notes
            };
            notes.set(kind, name.to_string());
        }
        "deflatealteretag" | "brotlialteretag" => {
            let value = one_arg(d.name, &args)?;
            let alter = match value.to_ascii_lowercase().as_str() {
                "addsuffix" => AlterEtag::AddSuffix,
                "nochange" => AlterEtag::NoChange,
                "remove" => AlterEtag::Remove,
                _ => {
                    return Err(format!(
                        "{} must be AddSuffix, NoChange or Remove, not '{value}'",
                        d.name
                    ))
                }
            };
            if d.lower == "deflatealteretag" {
                tuning.deflate_alter_etag = Some(alter);
            } else {
                tuning.brotli_alter_etag = Some(alter);
            }
        }
        _ => unreachable_family(d.name)?,
    }
    Ok(())
}

/// Why a directive of mod_deflate or mod_brotli that mpmd does not
/// implement is refused (`None`: not one of theirs).
fn unsupported(lower: &str) -> Option<&'static str> {
    Some(match lower {
        "deflatewindowsize" | "deflatememlevel" | "brotlicompressionmaxinputblock" => {
            "the encoders use their defaults (DeflateCompressionLevel, BrotliCompressionQuality and BrotliCompressionWindow are honoured); remove the line"
        }
        "deflateinflatelimitrequestbody" | "deflateinflateratiolimit" | "deflateinflateratioburst" => {
            "request bodies are never inflated (there is no INFLATE input filter); remove the line"
        }
        _ => return None,
    })
}

/// [`directive`] lists the names [`apply`] knows; a name in one and not
/// the other is a mistake here, said as an error rather than a panic.
fn unreachable_family(name: &str) -> Res<()> {
    Err(format!(
        "{name}: not handled by the filters' directives (a bug in mpmd)"
    ))
}

fn usage_by_type(name: &str) -> String {
    format!("{name} takes filters and media types: {name} DEFLATE text/html text/css")
}

/// `DEFLATE;BROTLI_COMPRESS`: the codings of the filters named.
fn filter_names(directive: &str, text: &str) -> Res<Vec<Encoding>> {
    text.split(';')
        .filter(|name| !name.is_empty())
        .map(|name| {
            Encoding::from_filter_name(name).ok_or_else(|| {
                format!(
                    "{directive}: mpmd has no output filter '{name}' (it has DEFLATE and BROTLI_COMPRESS)"
                )
            })
        })
        .collect()
}

/// `.js` or `js` as mod_mime keeps extensions: lower case, no dot.
fn extension(text: &str) -> String {
    text.trim_start_matches('.').to_ascii_lowercase()
}

fn bounded(name: &str, value: &str, low: u32, high: u32) -> Res<u32> {
    let n: u32 = number(name, value)?;
    if !(low..=high).contains(&n) {
        return Err(format!("{name} must be between {low} and {high}, not {n}"));
    }
    Ok(n)
}
