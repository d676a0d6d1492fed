//! mod_deflate and mod_brotli: a response compressed with gzip or Brotli
//! on its way out, when its type (`AddOutputFilterByType`), its file name
//! (`AddOutputFilter`) or its place (`SetOutputFilter`) asks for it and the
//! client accepts the coding ([`negotiate`]).
//!
//! What is compressed and what is not, as Apache's filters decide:
//!
//! - Never: a 1xx, 204, 205 or 206 answer; a redirect or an error (Apache
//!   sends the pages it makes for those as they are, without `Vary`); one
//!   whose `Content-Encoding` is already set (a precompressed file, a
//!   backend's gzip); and the codings the request's environment turns
//!   off: `no-gzip` (and `gzip-only-text/html=1` for types other than
//!   `text/html`) for gzip, `no-brotli` for Brotli.
//! - Not with gzip: a body known to be shorter than
//!   [`GZIP_MIN_LENGTH`] (69 bytes: Apache 2.4's mod_deflate sends 68
//!   bytes as they are, and says no `Vary` for them). mod_brotli has no
//!   such bound (it even encodes an empty body), and neither has mpmd's
//!   Brotli.
//! - A range request is answered by the file handler with a 206 of the
//!   identity body, so a range is never taken from a compressed one
//!   (Apache cuts the range out of the gzip stream it makes anew for each
//!   request).
//! - `Vary: Accept-Encoding` is added to every answer a coding is offered
//!   for past those checks, whether or not the client accepted one.
//! - The `ETag` of the encoded variant gets the coding as a suffix
//!   (`DeflateAlterETag AddSuffix`, the default: `"abc"` → `"abc-gzip"`,
//!   `"abc-br"`), or is kept or removed as configured. An `If-None-Match`
//!   that names the suffixed tag gets a 304 with it (Apache 2.4 compares
//!   the unsuffixed tag and never answers 304 there, its bug 45023: mpmd
//!   differs on purpose). A 304 from the handler (the client holds the
//!   identity variant) goes out with `Vary` and its own tag.
//! - `HEAD` gets the headers a `GET` would, without running an encoder
//!   unless the variant is cached or about to be.
//!
//! Bodies are streamed: a file, a reader or bytes are read through the
//! encoder a buffer (`DeflateBufferSize`) at a time and sent chunked. A
//! whole static file (the `Body::File` the file handler makes) no larger
//! than an eighth of the cache's budget is compressed once and kept in the
//! [`VariantCache`] by its device, inode, size, mtime, coding and level;
//! later requests are answered from memory with a `Content-Length` (a
//! file `MMapFile` keeps in memory is compressed at each request). A
//! body written by a [`Body::writer`](mpm_core::Body::writer) callback is
//! compressed as it is written, and its `flush` sends what was written so
//! far as a decodable piece (gzip's sync flush, Brotli's flush), so
//! Server-Sent Events stay live through mod_deflate as through Apache's.
//!
//! Precompressed siblings (`style.css.gz`, `style.css.br`) are served the
//! way Apache sites do it: mod_rewrite maps the request to the sibling
//! when the client accepts the coding, `[T=text/css,E=no-gzip:1]` keeps
//! the type and turns this filter off, and `Header append
//! Content-Encoding gzip` labels it; the filter sees the `Content-Encoding`
//! and leaves the body alone. Without rewrite rules, the variant cache
//! gives the same speed with no sibling files to keep in step.

pub mod cache;
pub mod encoder;
pub mod negotiate;
pub mod notes;

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, IF_NONE_MATCH, VARY,
};
use http::{Method, StatusCode};
use mpm_core::{Body, Response};

pub use cache::{VariantCache, VariantKey};
pub use encoder::{live_encoders, Settings};
pub use negotiate::Offer;

/// A content coding this module produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `gzip` (mod_deflate's `DEFLATE` filter).
    Gzip,
    /// `br` (mod_brotli's `BROTLI_COMPRESS` filter).
    Br,
}

impl Encoding {
    /// The coding's token in `Content-Encoding`, and the `ETag` suffix.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Br => "br",
        }
    }

    /// The filter's name in `AddOutputFilterByType` and its kin.
    pub fn from_filter_name(name: &str) -> Option<Encoding> {
        if name.eq_ignore_ascii_case("DEFLATE") {
            Some(Encoding::Gzip)
        } else if name.eq_ignore_ascii_case("BROTLI_COMPRESS") {
            Some(Encoding::Br)
        } else {
            None
        }
    }
}

/// `DeflateAlterETag` / `BrotliAlterETag`: what becomes of the `ETag` of
/// an encoded variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlterEtag {
    /// The coding is added as a suffix: `"abc"` → `"abc-gzip"`.
    #[default]
    AddSuffix,
    /// Left as it is (two variants then share a tag: not recommended).
    NoChange,
    /// Removed.
    Remove,
}

/// mod_deflate and mod_brotli's settings for the requests of one place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompressConfig {
    /// `AddOutputFilterByType DEFLATE|BROTLI_COMPRESS type…`: the media
    /// types (lower case, no parameters) each coding applies to.
    pub by_type: Vec<(String, Encoding)>,
    /// `AddOutputFilter DEFLATE|BROTLI_COMPRESS .ext…`: file extensions
    /// (lower case, no dot) each coding applies to, whatever the type.
    pub by_extension: Vec<(String, Encoding)>,
    /// `RemoveOutputFilter ext…`: extensions whose `AddOutputFilter`
    /// of the configurations this one is merged into no longer apply.
    pub removed_extensions: Vec<String>,
    /// `SetOutputFilter DEFLATE;BROTLI_COMPRESS`: every response (`None`:
    /// not written here).
    pub always: Option<Offer>,
    /// The levels, buffer and `ETag` choices (server-wide settings).
    pub tuning: Tuning,
    /// `DeflateFilterNote`: the notes a gzipped body's sizes go to.
    pub deflate_notes: notes::FilterNotes,
    /// `BrotliFilterNote`: the same for Brotli.
    pub brotli_notes: notes::FilterNotes,
}

/// The compressors' settings Apache takes per server (main server or
/// `<VirtualHost>`), each `None` where not written (Apache's default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tuning {
    /// `DeflateCompressionLevel` (1–9; 6).
    pub gzip_level: Option<u32>,
    /// `BrotliCompressionQuality` (0–11; 5).
    pub br_quality: Option<u32>,
    /// `BrotliCompressionWindow` (10–24; 18).
    pub br_window: Option<u32>,
    /// `DeflateBufferSize` (bytes; 8096).
    pub buffer: Option<usize>,
    /// `DeflateAlterETag` (`AddSuffix`).
    pub deflate_alter_etag: Option<AlterEtag>,
    /// `BrotliAlterETag` (`AddSuffix`).
    pub brotli_alter_etag: Option<AlterEtag>,
}

impl Tuning {
    /// `add`'s settings where it writes them, else these.
    pub fn merged(&self, add: &Tuning) -> Tuning {
        Tuning {
            gzip_level: add.gzip_level.or(self.gzip_level),
            br_quality: add.br_quality.or(self.br_quality),
            br_window: add.br_window.or(self.br_window),
            buffer: add.buffer.or(self.buffer),
            deflate_alter_etag: add.deflate_alter_etag.or(self.deflate_alter_etag),
            brotli_alter_etag: add.brotli_alter_etag.or(self.brotli_alter_etag),
        }
    }

    /// The encoders' settings, Apache's defaults where none is written.
    pub fn settings(&self) -> Settings {
        let default = Settings::default();
        Settings {
            gzip_level: self.gzip_level.unwrap_or(default.gzip_level),
            br_quality: self.br_quality.unwrap_or(default.br_quality),
            br_window: self.br_window.unwrap_or(default.br_window),
            buffer: self.buffer.unwrap_or(default.buffer),
        }
    }
}

/// The shortest body mod_deflate gzips (measured on Apache 2.4: 68 bytes
/// are sent as they are, 69 compressed): shorter ones would grow by the
/// gzip header and trailer, or barely shrink.
pub const GZIP_MIN_LENGTH: u64 = 69;

/// The request, as the filter needs it.
pub struct CompressRequest<'a> {
    /// GET, HEAD…
    pub method: &'a Method,
    /// Its headers (`Accept-Encoding`, `If-None-Match`).
    pub headers: &'a http::HeaderMap,
    /// The decoded URL path, for `AddOutputFilter`'s extensions.
    pub path: &'a [u8],
    /// The request's environment (`SetEnvIf`, `RewriteRule [E=…]`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The file answered, when the body is one (the variant cache
    /// indexes its variants by it).
    pub filename: Option<&'a std::path::Path>,
}

impl CompressConfig {
    /// True when some directive asks for compression somewhere.
    pub fn is_active(&self) -> bool {
        !self.by_type.is_empty()
            || !self.by_extension.is_empty()
            || self.always.is_some_and(|o| o != Offer::default())
    }

    /// This configuration with `add`'s over it, as a section merges into
    /// its parent: the types of both; the extensions of both, less those
    /// `add` removes or sets again; `add`'s `SetOutputFilter` if it has
    /// one; the levels and `ETag` choices `add` writes.
    pub fn merged(&self, add: &CompressConfig) -> CompressConfig {
        let kept = self.by_extension.iter().filter(|(ext, _)| {
            !add.removed_extensions.contains(ext) && !add.by_extension.iter().any(|(e, _)| e == ext)
        });
        CompressConfig {
            by_type: self.by_type.iter().chain(&add.by_type).cloned().collect(),
            by_extension: kept.chain(&add.by_extension).cloned().collect(),
            removed_extensions: Vec::new(),
            always: add.always.or(self.always),
            tuning: self.tuning.merged(&add.tuning),
            deflate_notes: self.deflate_notes.merged(&add.deflate_notes),
            brotli_notes: self.brotli_notes.merged(&add.brotli_notes),
        }
    }

    /// The codings this configuration applies to a response of
    /// `content_type` for the URL `path`.
    pub fn offer(&self, content_type: Option<&str>, path: &[u8]) -> Offer {
        let mut offer = self.always.unwrap_or_default();
        let mut add = |encoding| match encoding {
            Encoding::Gzip => offer.gzip = true,
            Encoding::Br => offer.br = true,
        };
        if let Some(ct) = content_type {
            let media = media_type(ct);
            for (t, encoding) in &self.by_type {
                if t.eq_ignore_ascii_case(media) {
                    add(*encoding);
                }
            }
        }
        if !self.by_extension.is_empty() {
            let name = path.rsplit(|&b| b == b'/').next().unwrap_or_default();
            for ext in name.split(|&b| b == b'.').skip(1) {
                for (e, encoding) in &self.by_extension {
                    if e.as_bytes().eq_ignore_ascii_case(ext) {
                        add(*encoding);
                    }
                }
            }
        }
        offer
    }

    fn alter(&self, encoding: Encoding) -> AlterEtag {
        match encoding {
            Encoding::Gzip => self.tuning.deflate_alter_etag,
            Encoding::Br => self.tuning.brotli_alter_etag,
        }
        .unwrap_or_default()
    }
}

/// A `Content-Type` without its parameters, trimmed.
fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Adds `token` to the response's `Vary`, unless it is already listed
/// (or `*` is).
pub fn add_vary(response: &mut Response, token: &str) {
    let star = response.headers().get_all(VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim() == "*"))
    });
    if !star {
        crate::pipeline::phases::merge_vary(response.headers_mut(), [token]);
    }
}

/// The `ETag` `etag` with `-suffix` inside its closing quote.
fn suffixed(etag: &HeaderValue, suffix: &str) -> Option<HeaderValue> {
    let bytes = etag.as_bytes();
    let body = bytes.strip_suffix(b"\"")?;
    if body.len() < 2 {
        return None;
    }
    let mut tag = Vec::with_capacity(bytes.len() + suffix.len() + 1);
    tag.extend_from_slice(body);
    tag.push(b'-');
    tag.extend_from_slice(suffix.as_bytes());
    tag.push(b'"');
    HeaderValue::from_bytes(&tag).ok()
}

/// The response, compressed if the configuration and the client say so
/// (see the [module docs](self)). `cache` keeps variants of whole files.
pub fn apply(
    cfg: &CompressConfig,
    cache: &VariantCache,
    req: &CompressRequest<'_>,
    mut response: Response,
) -> Response {
    let status = response.status();
    if status.is_informational()
        || (status.as_u16() >= 300 && status != StatusCode::NOT_MODIFIED)
        || matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::RESET_CONTENT | StatusCode::SWITCHING_PROTOCOLS
        )
        || matches!(response.body(), Body::Tunnel(_))
    {
        return response;
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let mut offer = cfg.offer(content_type, req.path);
    if offer == Offer::default() {
        return response;
    }
    if (req.env)("no-gzip").is_some()
        || ((req.env)("gzip-only-text/html").as_deref() == Some("1")
            && !content_type.is_some_and(|ct| media_type(ct).eq_ignore_ascii_case("text/html")))
    {
        offer.gzip = false;
    }
    if (req.env)("no-brotli").is_some() {
        offer.br = false;
    }
    if response
        .body()
        .len()
        .is_some_and(|len| len < GZIP_MIN_LENGTH)
    {
        offer.gzip = false;
    }
    let encoded = response
        .headers()
        .get_all(CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if offer == Offer::default() || encoded {
        return response;
    }
    add_vary(&mut response, "Accept-Encoding");
    if status == StatusCode::PARTIAL_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || response.headers().contains_key(CONTENT_RANGE)
    {
        return response;
    }
    let Some(encoding) = negotiate::choose(
        req.headers.get(ACCEPT_ENCODING).map(HeaderValue::as_bytes),
        offer,
    ) else {
        return response;
    };

    // The encoded variant's validator, and a 304 if the client has it.
    match cfg.alter(encoding) {
        AlterEtag::AddSuffix => {
            let tag = response
                .headers()
                .get(ETAG)
                .and_then(|etag| suffixed(etag, encoding.token()));
            match tag {
                Some(tag) => {
                    response.headers_mut().insert(ETAG, tag);
                }
                None => {
                    response.headers_mut().remove(ETAG);
                }
            }
        }
        AlterEtag::NoChange => {}
        AlterEtag::Remove => {
            response.headers_mut().remove(ETAG);
        }
    }
    let headers = response.headers_mut();
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding.token()));
    headers.remove(CONTENT_LENGTH);
    if status == StatusCode::OK
        && (*req.method == Method::GET || *req.method == Method::HEAD)
        && not_modified(req, &response)
    {
        return into_not_modified(response);
    }

    let head = *req.method == Method::HEAD;
    let names = match encoding {
        Encoding::Gzip => &cfg.deflate_notes,
        Encoding::Br => &cfg.brotli_notes,
    };
    // A HEAD notes the sizes when they are known without encoding a
    // stream (a file or bytes in memory), as Apache notes them.
    let sizes = notes::SizeNotes::new(names, encoding);
    if let Some(sizes) = &sizes {
        response.extensions_mut().insert(sizes.clone());
    }
    let (parts, body) = response.into_parts();
    let body = encode_body(
        body,
        encoding,
        cfg,
        cache,
        head,
        req.filename,
        sizes.as_ref(),
    );
    Response::from_parts(parts, body)
}

/// Whether the request's `If-None-Match` names the (altered) `ETag` of
/// `response`.
fn not_modified(req: &CompressRequest<'_>, response: &Response) -> bool {
    match (req.headers.get(IF_NONE_MATCH), response.headers().get(ETAG)) {
        (Some(theirs), Some(ours)) => {
            !crate::conditional::if_none_match(theirs.as_bytes(), Some(ours.as_bytes()))
        }
        _ => false,
    }
}

/// A 304 for the encoded variant: the validators and caching headers of
/// the 200, no body and no representation headers that would relabel the
/// client's stored copy.
fn into_not_modified(response: Response) -> Response {
    let (mut parts, _) = response.into_parts();
    parts.status = StatusCode::NOT_MODIFIED;
    for name in [CONTENT_ENCODING, CONTENT_TYPE, CONTENT_LENGTH] {
        parts.headers.remove(name);
    }
    Response::from_parts(parts, Body::Empty)
}

/// `body` encoded: from the cache for a whole file, else streamed; its
/// sizes counted into `sizes` when the configuration notes them.
fn encode_body(
    body: Body,
    encoding: Encoding,
    cfg: &CompressConfig,
    cache: &VariantCache,
    head: bool,
    filename: Option<&std::path::Path>,
    sizes: Option<&notes::SizeNotes>,
) -> Body {
    let settings = &cfg.tuning.settings();
    let source: Box<dyn Read + Send> = match body {
        Body::File { file, offset, len } => {
            match cached_file(&file, offset, len, encoding, cfg, cache, filename) {
                Some(bytes) => {
                    if let Some(sizes) = sizes {
                        sizes.whole(len, bytes.len() as u64);
                    }
                    return Body::Bytes(bytes);
                }
                None if head => return unknown_length(),
                None => Box::new(FilePart {
                    file,
                    pos: offset,
                    end: offset.saturating_add(len),
                }),
            }
        }
        Body::Bytes(bytes) if head => {
            // Small and in memory: encode it, for the length a GET sends.
            let len = bytes.len();
            return match encoder::encode_all(io::Cursor::new(bytes), len, encoding, settings) {
                Ok(data) => {
                    if let Some(sizes) = sizes {
                        sizes.whole(len as u64, data.len() as u64);
                    }
                    Body::from(data)
                }
                Err(_) => unknown_length(),
            };
        }
        Body::Bytes(bytes) => Box::new(io::Cursor::new(bytes)),
        Body::Reader { .. } if head => return unknown_length(),
        Body::Reader { reader, .. } => reader,
        // Not called for HEAD: the head a GET would get.
        Body::Writer(write) => return encode_writer(write, encoding, *settings, sizes.cloned()),
        Body::Empty => {
            // As mod_brotli: an empty body is a (short) Brotli stream too.
            return match encoder::encode_all(io::empty(), 0, encoding, settings) {
                Ok(data) => {
                    if let Some(sizes) = sizes {
                        sizes.whole(0, data.len() as u64);
                    }
                    Body::from(data)
                }
                Err(_) => Body::Empty,
            };
        }
        other => return other,
    };
    let reader = match sizes {
        Some(sizes) => sizes.count_output(encoder::encode_reader(
            sizes.count_input(source),
            encoding,
            settings,
        )),
        None => encoder::encode_reader(source, encoding, settings),
    };
    Body::Reader { reader, len: None }
}

/// A [`Body::writer`] body compressed: the handler's function runs with a
/// writer whose bytes go through the encoder to the real one; its
/// `flush` flushes the encoder too, so what was written so far leaves as
/// a piece the client can decode (an event stream stays live).
fn encode_writer(
    write: mpm_core::handler::WriteFn,
    encoding: Encoding,
    settings: Settings,
    sizes: Option<notes::SizeNotes>,
) -> Body {
    Body::writer(move |out| {
        let stopping = out.stopping_signal();
        let Some(sizes) = sizes else {
            let mut encoded = encoder::WriteEncoder::new(out, encoding, &settings);
            mpm_core::BodyWriter::run_into_sink(write, &mut encoded, stopping)?;
            return encoded.finish();
        };
        let encoded = encoder::WriteEncoder::new(sizes.writer(out, true), encoding, &settings);
        let mut input = sizes.writer(encoded, false);
        mpm_core::BodyWriter::run_into_sink(write, &mut input, stopping)?;
        input.into_inner().finish()?;
        sizes.finished();
        Ok(())
    })
}

/// A body of unknown length (sent chunked) that a HEAD never reads.
fn unknown_length() -> Body {
    Body::Reader {
        reader: Box::new(io::empty()),
        len: None,
    }
}

/// The bytes of a file from `pos` to `end`, read with `pread`: the
/// descriptor's offset is left alone, as it may be shared (`CacheFile`).
struct FilePart {
    file: File,
    pos: u64,
    end: u64,
}

impl Read for FilePart {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.end - self.pos).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file became shorter while it was being compressed",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// The cached variant of the whole `file`, made now if it is not kept
/// yet; `None` when the body is a part of the file, the file is too
/// large for the cache, or it cannot be read.
fn cached_file(
    file: &File,
    offset: u64,
    len: u64,
    encoding: Encoding,
    cfg: &CompressConfig,
    cache: &VariantCache,
    filename: Option<&std::path::Path>,
) -> Option<Bytes> {
    if offset != 0 || len > cache.max_source() {
        return None;
    }
    let meta = file.metadata().ok()?;
    if meta.len() != len {
        return None;
    }
    let key = VariantKey::new(&meta, encoding, cfg.tuning.settings().level(encoding));
    if let Some(bytes) = cache.get(&key) {
        return Some(bytes);
    }
    let source = FilePart {
        file: file.try_clone().ok()?,
        pos: 0,
        end: len,
    };
    let data = match encoder::encode_all(source, len as usize, encoding, &cfg.tuning.settings()) {
        Ok(data) => Bytes::from(data),
        Err(err) => {
            log::error!("compressing a file for the cache: {err}");
            return None;
        }
    };
    cache.insert(key, data.clone(), filename);
    Some(data)
}

#[cfg(test)]
mod tests;
