//! Core's default handler: the file the request maps to (found by the
//! pipeline's `map_to_storage`, typed by its `type_checker`), with its
//! validators and the answer [`conditional::evaluate`] decides from the
//! conditional headers and `Range` (200, 206, 304, 412 or 416); a
//! directory's listing; mod_dir's slash redirect and mod_alias's
//! `Redirect` answers.
//!
//! A file that `MMapFile` or `CacheFile` loaded ([`FileCache`]) is answered
//! from the cache once the path checks have passed, with the same
//! validators, conditionals and ranges as a file read from disk.

use std::borrow::Cow;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LANGUAGE,
    CONTENT_RANGE, CONTENT_TYPE, HOST, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE,
    IF_UNMODIFIED_SINCE, RANGE,
};
use http::{Method, StatusCode};
use mpm_core::{Body, ConnInfo, Response};

use crate::conditional::{self, Conditions, Decision};
use crate::config::RedirectRule;
use crate::file_cache::{slice, Entry, FileCache};
use crate::listing;
use crate::memory_file::{asks_conditionally, MemoryFile};
use crate::pages::{error_response, method_not_allowed, options_response, redirect};
use crate::pipeline::request::{Exit, Opened, RequestState};
use crate::pipeline::ETagParts;
use crate::uri_path::escape_path;
use crate::validators::Validators;

/// One request for a file, with what answering it needs.
pub struct FileRequest<'a> {
    /// GET or HEAD (for the conditional headers).
    pub method: &'a Method,
    /// Request headers (conditionals, `Range`).
    pub headers: &'a HeaderMap,
}

/// What the default handler needs besides the request.
pub struct Serving<'a> {
    /// The `MMapFile`/`CacheFile` cache.
    pub cache: &'a FileCache,
    /// `AccessFileName` (`.htaccess`): never sent.
    pub access_file_name: &'a str,
    /// `ServerSignature`'s line under a listing, when given: made only
    /// when a listing is (a file's answer has none).
    pub signature: &'a dyn Fn(&RequestState<'_>) -> Option<String>,
    /// `Allow` for `OPTIONS` and 405 ([`crate::pages::allow_default`]).
    pub allow: &'static str,
}

/// Core's default handler: the file `map_to_storage` found, answered with
/// its validators, conditionals and ranges (from the `MMapFile`/`CacheFile`
/// cache when it holds it); for a directory that mod_dir found no index
/// in, its listing where `Options Indexes` allows one, else 403. Nothing
/// there, or path info after a file, is 404. As Apache's, it serves GET,
/// HEAD and POST alike (a POST's body is left unread, so the engine
/// drains it), except that a POST to a directory is 404 (mod_autoindex
/// lists for GET only); `OPTIONS` is answered with `Allow` and the file's
/// `Content-Type`, other methods with 405. A file named
/// `access_file_name` (`.htaccess`) is never sent, whatever the sections
/// say (403).
pub fn default_handler(r: &mut RequestState<'_>, how: Serving<'_>) -> Result<Response, Exit> {
    let Serving {
        cache,
        access_file_name,
        signature,
        allow,
    } = how;
    let method = r.method();
    if method == Method::OPTIONS {
        let mut response = options_response(allow);
        // Apache's type of a directory, `DIR_MAGIC_TYPE`, shows here.
        let content_type = r.content_type.clone().or_else(|| {
            r.finfo
                .as_ref()
                .filter(|m| m.is_dir())
                .map(|_| HeaderValue::from_static("httpd/unix-directory"))
        });
        if let Some(content_type) = content_type {
            response.headers_mut().insert(CONTENT_TYPE, content_type);
        }
        return Err(Exit::respond(response));
    }
    let post = method == Method::POST;
    if !post && method != Method::GET && method != Method::HEAD {
        return Err(Exit::respond(method_not_allowed(method, allow)));
    }
    if r.file_name() == access_file_name.as_bytes() {
        return Err(Exit::Status(StatusCode::FORBIDDEN));
    }
    // A `CacheFile` (an `MMapFile` is in memory, answered as a kept file).
    if r.cached && r.opened.is_none() {
        if let Some(entry) = cache.get(&r.filename) {
            if !r.path_info.is_empty() {
                return Err(Exit::Status(StatusCode::NOT_FOUND));
            }
            let req = FileRequest {
                method: r.method(),
                headers: r.headers(),
            };
            let content_type = r
                .content_type
                .clone()
                .or_else(|| entry.content_type.clone());
            let mut response = send_cached(entry, content_type, &req);
            describe(r, &mut response);
            return Ok(response);
        }
    }
    let Some(meta) = &r.finfo else {
        return Err(Exit::Status(StatusCode::NOT_FOUND));
    };
    if meta.is_dir() {
        if post {
            log::info!(
                "[client {}] Attempt to serve directory: {}",
                r.conn.peer.ip(),
                r.filename.display()
            );
            return Err(Exit::Status(StatusCode::NOT_FOUND));
        }
        if !r.dir.options().indexes {
            log::error!(
                "[client {}] Cannot serve directory {}/: No matching DirectoryIndex ({}) found, \
                 and server-generated directory index forbidden by Options directive",
                r.conn.peer.ip(),
                r.filename.display(),
                r.dir.directory_index().join(",")
            );
            return Err(Exit::Status(StatusCode::FORBIDDEN));
        }
        let how = listing::Listing {
            ignore: &r.dir.index_ignore,
            flags: r.dir.index_flags(),
            header_name: r.dir.header_name.as_deref(),
            readme_name: r.dir.readme_name.as_deref(),
            signature: signature(r),
            order: r.dir.index_order,
            query: r.query.as_deref(),
        };
        return match listing::render(&r.filename, &r.uri, &how) {
            Ok(html) => {
                let mut response = Response::new(Body::from(html));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(listing::CONTENT_TYPE),
                );
                Ok(response)
            }
            Err(e) => Err(Exit::Status(io_status(&e, &r.filename))),
        };
    }
    if !r.path_info.is_empty() {
        // `/file.txt/` or `/file.txt/more`: no path info on files.
        return Err(Exit::Status(StatusCode::NOT_FOUND));
    }
    if !meta.is_file() {
        // A fifo or a device: never.
        return Err(Exit::Status(StatusCode::FORBIDDEN));
    }
    let opened = r.opened.take();
    let req = FileRequest {
        method: r.method(),
        headers: r.headers(),
    };
    let mut response = match opened {
        Some(Opened::Memory(file)) => {
            send_memory(&file, r.content_type.as_ref(), &req, r.dir.etag_parts())
        }
        opened => {
            let file = match opened {
                Some(Opened::File(file)) => file,
                _ => open(&r.filename).map_err(Exit::Status)?.0,
            };
            let meta = r
                .finfo
                .as_ref()
                .ok_or(Exit::Status(StatusCode::NOT_FOUND))?;
            let validators = Validators::of(meta).with_parts(r.dir.etag_parts(), meta);
            send_file(file, meta.len(), &validators, r.content_type.clone(), &req)
        }
    };
    describe(r, &mut response);
    Ok(response)
}

/// `Content-Encoding` and `Content-Language` of a file's answer, from
/// mod_mime's `AddEncoding` and `AddLanguage`.
fn describe(r: &RequestState<'_>, response: &mut Response) {
    if !response.status().is_success() {
        return;
    }
    if let Some(value) = r
        .content_encoding
        .as_deref()
        .and_then(|e| HeaderValue::from_str(e).ok())
    {
        response.headers_mut().insert(CONTENT_ENCODING, value);
    }
    if !r.content_languages.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&r.content_languages.join(", ")) {
            response.headers_mut().insert(CONTENT_LANGUAGE, value);
        }
    }
}

/// Open for reading without blocking on a fifo, and stat the open file.
pub(crate) fn open(path: &Path) -> Result<(File, Metadata), StatusCode> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| io_status(&e, path))?;
    let meta = file.metadata().map_err(|e| io_status(&e, path))?;
    Ok((file, meta))
}

/// The status for a failed file-system call: 404 for missing, 403 for
/// permission (and symlink loops), 500 for the rest (logged).
fn io_status(e: &io::Error, path: &Path) -> StatusCode {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => StatusCode::NOT_FOUND,
        Some(libc::EACCES | libc::EPERM | libc::ELOOP) => StatusCode::FORBIDDEN,
        _ => {
            log::error!("{}: {}", path.display(), mpm_core::error::describe_io(e));
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// 301 from a directory path without its slash to the path with it, as an
/// absolute URL on the request's host (Apache with `UseCanonicalName Off`),
/// keeping the query string.
pub(crate) fn slash_redirect(r: &RequestState<'_>) -> Response {
    let mut location = String::with_capacity(r.uri.len() + 32);
    push_origin(&mut location, r.headers(), r.conn);
    location.extend(escape_path(&r.uri));
    location.push('/');
    if let Some(query) = &r.query {
        location.push('?');
        location.push_str(query);
    }
    redirect(StatusCode::MOVED_PERMANENTLY, &location)
}

/// The answer to a matching `Redirect`: the target with the rest of the
/// path and the query appended, or the rule's bare status (410 for `gone`).
pub(crate) fn redirect_exit(
    rule: &RedirectRule,
    rest: &[u8],
    query: Option<&str>,
    headers: &HeaderMap,
    conn: &ConnInfo,
) -> Exit {
    let Ok(status) = StatusCode::from_u16(rule.status) else {
        return Exit::Status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    match &rule.to {
        Some(to) if status.is_redirection() => {
            let mut location = String::with_capacity(to.len() + rest.len() + 48);
            // mod_alias makes a path absolute on the request's host.
            if to.starts_with('/') {
                push_origin(&mut location, headers, conn);
            }
            location.push_str(to);
            location.extend(escape_path(rest));
            if let Some(query) = query {
                location.push('?');
                location.push_str(query);
            }
            Exit::respond(redirect(status, &location))
        }
        _ => Exit::Status(status),
    }
}

/// Append the scheme and the request's `Host` (`http://example.com:8080`)
/// to `location`, so that a path becomes the absolute URL Apache answers
/// (`UseCanonicalName Off`); nothing when the request has no `Host`.
pub(crate) fn push_origin(location: &mut String, headers: &HeaderMap, conn: &ConnInfo) {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    if let Some(host) = host.filter(|h| !h.is_empty()) {
        location.push_str(if conn.is_secure() {
            "https://"
        } else {
            "http://"
        });
        location.push_str(host);
    }
}

/// The value of the header fields `name` in `headers`: one field's as it
/// is, several joined by `, ` (RFC 9110 §5.3).
fn field<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<Cow<'h, [u8]>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first.as_bytes()));
    };
    let mut joined = first.as_bytes().to_vec();
    for value in std::iter::once(second).chain(values) {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(value.as_bytes());
    }
    Some(Cow::Owned(joined))
}

/// A file's response: 200, 206, 304 or 416; the body sent from the open
/// file of `len` bytes.
fn send_file(
    file: File,
    len: u64,
    validators: &Validators,
    content_type: Option<HeaderValue>,
    req: &FileRequest<'_>,
) -> Response {
    respond(validators, len, content_type, req, |offset, len| {
        Ok(Body::File { file, offset, len })
    })
}

/// The response for a file in memory (kept, or an `MMapFile`), typed
/// `content_type`: to a request with no conditional header and no
/// `Range`, when the `ETag` asked for (`FileETag`, as `etag_parts`) is
/// the kept one, the head made with the file and its bytes, shared;
/// otherwise as [`send_file`] answers, from the same validators.
pub(crate) fn send_memory(
    file: &MemoryFile,
    content_type: Option<&HeaderValue>,
    req: &FileRequest<'_>,
    etag_parts: ETagParts,
) -> Response {
    if MemoryFile::etag_fits(etag_parts) && !asks_conditionally(req.headers) {
        let mut response = Response::new(Body::Bytes(file.contents.clone()));
        *response.headers_mut() = file.whole_head(content_type);
        return response;
    }
    let validators = file.validators.clone().with_parts(etag_parts, &file.meta);
    let len = file.meta.len();
    respond(
        &validators,
        len,
        content_type.cloned(),
        req,
        |offset, len| Ok(Body::Bytes(slice(&file.contents, offset, len))),
    )
}

/// A cached file's response, as [`send_file`] would make it from the file
/// as it was when loaded.
fn send_cached(
    entry: &Entry,
    content_type: Option<HeaderValue>,
    req: &FileRequest<'_>,
) -> Response {
    respond(
        &entry.validators,
        entry.len,
        content_type,
        req,
        |offset, len| {
            entry.body(offset, len).map_err(|e| {
                log::error!(
                    "could not send a cached file: {}",
                    mpm_core::error::describe_io(&e)
                );
                StatusCode::INTERNAL_SERVER_ERROR
            })
        },
    )
}

/// What [`conditional::evaluate`] decides for a file of `len` bytes with
/// `validators` from the request's conditional fields and `Range`: for a
/// request with none (most), the whole, with no lookup and no clock read.
fn decide(validators: &Validators, len: u64, req: &FileRequest<'_>) -> Decision {
    let headers = req.headers;
    if !asks_conditionally(headers) {
        return Decision::Whole;
    }
    let if_match = field(headers, &IF_MATCH);
    let if_none_match = field(headers, &IF_NONE_MATCH);
    let if_modified_since = field(headers, &IF_MODIFIED_SINCE);
    let if_unmodified_since = field(headers, &IF_UNMODIFIED_SINCE);
    let if_range = field(headers, &IF_RANGE);
    let range = field(headers, &RANGE);
    let conditions = Conditions {
        if_match: if_match.as_deref(),
        if_none_match: if_none_match.as_deref(),
        if_modified_since: if_modified_since.as_deref(),
        if_unmodified_since: if_unmodified_since.as_deref(),
        if_range: if_range.as_deref(),
        range: range.as_deref(),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    conditional::evaluate(
        req.method.as_str(),
        &conditions,
        &validators.representation(len),
        now,
    )
}

/// The response for a file of `len` bytes with `validators`, as
/// [`conditional::evaluate`] decides from the request's headers: 200 or
/// 206 with the body `body(offset, len)` makes for the bytes chosen, or
/// 304, 412 or 416.
fn respond(
    validators: &Validators,
    len: u64,
    content_type: Option<HeaderValue>,
    req: &FileRequest<'_>,
    body: impl FnOnce(u64, u64) -> Result<Body, StatusCode>,
) -> Response {
    let decision = decide(validators, len, req);
    let mut response = Response::new(Body::Empty);
    let (offset, part_len) = match decision {
        Decision::NotModified | Decision::PreconditionFailed => {
            // As Apache: the validators and no body.
            *response.status_mut() = if decision == Decision::NotModified {
                StatusCode::NOT_MODIFIED
            } else {
                StatusCode::PRECONDITION_FAILED
            };
            validators.describe(&mut response);
            // Apache's 412 describes the file as a 200 would (type and
            // ranges), with no body; its 304 does not.
            if decision == Decision::PreconditionFailed {
                let headers = response.headers_mut();
                headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
                if let Some(content_type) = content_type {
                    headers.insert(CONTENT_TYPE, content_type);
                }
            }
            return response;
        }
        Decision::RangeNotSatisfiable => {
            let mut refused = error_response(StatusCode::RANGE_NOT_SATISFIABLE);
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                refused.headers_mut().insert(CONTENT_RANGE, value);
            }
            return refused;
        }
        Decision::Whole => (0, len),
        Decision::Part { first, last } => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")) {
                response.headers_mut().insert(CONTENT_RANGE, value);
            }
            (first, last - first + 1)
        }
    };
    validators.describe(&mut response);
    let headers = response.headers_mut();
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(content_type) = content_type {
        headers.insert(CONTENT_TYPE, content_type);
    }
    match body(offset, part_len) {
        Ok(body) => *response.body_mut() = body,
        Err(status) => return error_response(status),
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_system_errors_map_to_apaches_statuses() {
        let path = Path::new("/x");
        let status = |errno| io_status(&io::Error::from_raw_os_error(errno), path);
        assert_eq!(status(libc::ENOENT), StatusCode::NOT_FOUND);
        assert_eq!(status(libc::ENOTDIR), StatusCode::NOT_FOUND);
        assert_eq!(status(libc::EACCES), StatusCode::FORBIDDEN);
        assert_eq!(status(libc::ELOOP), StatusCode::FORBIDDEN);
        assert_eq!(status(libc::EIO), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
