//! mod_headers (`Header`, `RequestHeader`), mod_expires (`ExpiresActive`,
//! `ExpiresDefault`, `ExpiresByType`), mod_filter's
//! `AddOutputFilterByType`, mod_mime's `AddOutputFilter` and
//! `RemoveOutputFilter`, the core's `SetOutputFilter`, and the settings of
//! mod_deflate (`DeflateCompressionLevel`, `DeflateBufferSize`,
//! `DeflateAlterETag`) and mod_brotli (`BrotliCompressionQuality`,
//! `BrotliCompressionWindow`, `BrotliAlterETag`): filled into the host's
//! [`FilterConfig`], merged with the main server's at the end of reading.
//!
//! The filters known by name are `DEFLATE` and `BROTLI_COMPRESS`; another
//! name (`INCLUDES`, `SUBSTITUTE`) is an error saying mpmd lacks it.
//! The levels and `ETag` choices are server settings (main server or
//! `<VirtualHost>`), as in Apache. Stricter than Apache for now: the
//! others are also written at server level or in `<VirtualHost>` only, not
//! in `<Directory>`, `<Location>` or `.htaccess`.

use super::state::{Directive, State};
use crate::config::values::{number, on_off, one_arg, Res};
use mpm_site::compress::{AlterEtag, Encoding, Offer, Settings};
use mpm_site::expires::ExpiresRule;
use mpm_site::filters::FilterConfig;
use mpm_site::headers::HeaderRule;

/// One server's settings as written there (`None`: not written).
#[derive(Debug, Default)]
pub(super) struct Written {
    config: FilterConfig,
    gzip_level: Option<u32>,
    br_quality: Option<u32>,
    br_window: Option<u32>,
    buffer: Option<usize>,
    deflate_alter_etag: Option<AlterEtag>,
    brotli_alter_etag: Option<AlterEtag>,
}

/// A host's settings: what it wrote over the main server's (`main`,
/// already merged; `None` for the main server itself).
pub(super) fn merged(own: &Written, main: Option<&FilterConfig>) -> FilterConfig {
    let base = main.cloned().unwrap_or_default();
    let defaults = base.compress.settings;
    let mut add = own.config.clone();
    add.compress.settings = Settings {
        gzip_level: own.gzip_level.unwrap_or(defaults.gzip_level),
        br_quality: own.br_quality.unwrap_or(defaults.br_quality),
        br_window: own.br_window.unwrap_or(defaults.br_window),
        buffer: own.buffer.unwrap_or(defaults.buffer),
    };
    add.compress.deflate_alter_etag = own
        .deflate_alter_etag
        .unwrap_or(base.compress.deflate_alter_etag);
    add.compress.brotli_alter_etag = own
        .brotli_alter_etag
        .unwrap_or(base.compress.brotli_alter_etag);
    base.merged(&add)
}

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
    );
    if !known {
        return None;
    }
    Some(l.server(d).and_then(|()| apply(l, d)))
}

fn apply(l: &mut State<'_>, d: &Directive<'_>) -> Res<()> {
    let args: Vec<&str> = d.args.iter().map(String::as_str).collect();
    let written = &mut l.host(d.scope.host).filters;
    let config = &mut written.config;
    match d.lower {
        "header" | "requestheader" => {
            let request = d.lower == "requestheader";
            let rule = HeaderRule::parse(&args, request)?;
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
            written.gzip_level = Some(bounded(d.name, one_arg(d.name, &args)?, 1, 9)?);
        }
        "brotlicompressionquality" => {
            written.br_quality = Some(bounded(d.name, one_arg(d.name, &args)?, 0, 11)?);
        }
        "brotlicompressionwindow" => {
            written.br_window = Some(bounded(d.name, one_arg(d.name, &args)?, 10, 24)?);
        }
        "deflatebuffersize" => {
            let size: usize = number(d.name, one_arg(d.name, &args)?)?;
            if size == 0 || size > 1 << 20 {
                return Err(format!(
                    "{}: the buffer must be 1 to 1048576 bytes, not {size}",
                    d.name
                ));
            }
            written.buffer = Some(size);
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
                written.deflate_alter_etag = Some(alter);
            } else {
                written.brotli_alter_etag = Some(alter);
            }
        }
        _ => unreachable_family(d.name)?,
    }
    Ok(())
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
