//! Static files under a root (the `DocumentRoot` or an `Alias` target):
//! `<Directory>` options and `Require`, the symlink rule, directories
//! (301 to the slash form, `DirectoryIndex`, listings), content type,
//! validators, and the answer [`conditional::evaluate`] decides from the
//! conditional headers and `Range` (200, 206, 304, 412 or 416).
//!
//! A file that `MMapFile` or `CacheFile` loaded ([`FileCache`]) is answered
//! from the cache once the path checks have passed, with the same
//! validators, conditionals and ranges as a file read from disk.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT_RANGES, CONTENT_RANGE, CONTENT_TYPE, HOST, IF_MATCH,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE,
};
use http::{Method, StatusCode};
use mpm_core::{Body, ConnInfo, Response};

use crate::conditional::{self, Conditions, Decision};
use crate::config::{DirectoryBlock, Options, Require};
use crate::file_cache::{Entry, FileCache};
use crate::listing;
use crate::mime::MimeTypes;
use crate::pages::{error_response, redirect};
use crate::require;
use crate::uri_path::escape_path;
use crate::validators::Validators;

/// What a host's static files need from the configuration.
pub struct FileConfig {
    /// `<Directory>` blocks in the order Apache applies them: fewest path
    /// components first, and blocks of one length in the configuration's
    /// order (the main server's before a virtual host's own), so a later
    /// block's setting replaces an earlier one's.
    directories: Vec<DirectoryBlock>,
    /// Each block's path in plain form (its components joined by `/`),
    /// for comparing bytes instead of components on every request.
    plain: Vec<Vec<u8>>,
    /// The host's `DirectoryIndex` names, until a block sets its own.
    index: Vec<String>,
    /// Whether some block can turn `FollowSymLinks` off. When none can,
    /// every symlink is followed (Apache's default) and a request's path
    /// is neither matched against the blocks per segment nor `lstat`ed.
    symlinks_checked: bool,
}

/// What the `<Directory>` blocks holding one directory leave in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirSettings<'a> {
    /// `Options`.
    pub options: Options,
    /// `Require`, if any block set one.
    pub require: Option<&'a Require>,
    /// `DirectoryIndex` names (empty: `disabled`).
    pub index: &'a [String],
}

/// True when `path`'s bytes are its components joined by `/` (no empty
/// component, no `.` after the first, no trailing `/` but the root's): then
/// comparing bytes with [`within`] says what `Path::starts_with` says.
fn is_plain(path: &[u8]) -> bool {
    let body = path.strip_prefix(b"./").unwrap_or(path);
    !(body.windows(2).any(|w| w == b"//")
        || body.windows(3).any(|w| w == b"/./")
        || body.ends_with(b"/.")
        || (body.len() > 1 && body.ends_with(b"/")))
}

/// Whether the plain path `dir` is `base` (a block's path in plain form)
/// or lies below it: `Path::starts_with`, on bytes.
fn within(dir: &[u8], base: &[u8]) -> bool {
    if base.is_empty() {
        return true;
    }
    match dir.strip_prefix(base) {
        Some(rest) => rest.is_empty() || base.ends_with(b"/") || rest.starts_with(b"/"),
        None => false,
    }
}

/// One request for a file, with what answering it needs.
pub struct FileRequest<'a> {
    /// GET or HEAD (for the conditional headers).
    pub method: &'a Method,
    /// Request headers (conditionals, `Range`, `Host` for redirects).
    pub headers: &'a HeaderMap,
    /// The normalised, decoded URL path (for redirects and listings).
    pub url_path: &'a [u8],
    /// The raw query string, kept on the directory redirect.
    pub query: Option<&'a str>,
    /// The connection, for `Require`.
    pub conn: &'a ConnInfo,
}

impl FileConfig {
    /// The static-file settings of one host: its `<Directory>` blocks in
    /// configuration order (the main server's, then its own) and its
    /// `DirectoryIndex`.
    pub fn new(directories: &[DirectoryBlock], index: &[String]) -> FileConfig {
        let mut directories = directories.to_vec();
        // Stable: blocks of one length keep the configuration's order.
        directories.sort_by_key(|d| d.path.components().count());
        let plain = directories
            .iter()
            .map(|d| {
                d.path
                    .components()
                    .collect::<PathBuf>()
                    .into_os_string()
                    .into_vec()
            })
            .collect();
        let symlinks_checked = directories
            .iter()
            .any(|d| d.options.is_some_and(|o| o.may_refuse_symlinks()));
        FileConfig {
            directories,
            plain,
            index: index.to_vec(),
            symlinks_checked,
        }
    }

    /// The settings in force in `dir`: every block holding it applied in
    /// turn, from Apache's defaults (`Options FollowSymLinks`, no
    /// `Require`, the host's `DirectoryIndex`).
    pub fn effective(&self, dir: &Path) -> DirSettings<'_> {
        let mut settings = DirSettings {
            options: Options::DEFAULT,
            require: None,
            index: &self.index,
        };
        let bytes = dir.as_os_str().as_bytes();
        let plain = is_plain(bytes);
        let holds = |i: usize| -> bool {
            if plain {
                within(bytes, &self.plain[i])
            } else {
                dir.starts_with(&self.directories[i].path)
            }
        };
        for (_, block) in self
            .directories
            .iter()
            .enumerate()
            .filter(|&(i, _)| holds(i))
        {
            if let Some(options) = block.options {
                settings.options = options.apply(settings.options);
            }
            if let Some(require) = &block.require {
                settings.require = Some(require);
            }
            if let Some(index) = &block.index {
                settings.index = index;
            }
        }
        settings
    }

    /// The settings in force in `dir`, or 403 when its `Require` refuses
    /// the client of `conn`.
    fn allowed(&self, dir: &Path, conn: &ConnInfo) -> Result<DirSettings<'_>, StatusCode> {
        let settings = self.effective(dir);
        match settings.require {
            Some(require) if !require::allows(require, conn) => Err(StatusCode::FORBIDDEN),
            _ => Ok(settings),
        }
    }

    /// Answer `req` from `rel` (the path below `root`, without its leading
    /// slash), from `cache` when the file is one it holds.
    pub fn serve(
        &self,
        root: &Path,
        rel: &[u8],
        req: &FileRequest<'_>,
        mime: &MimeTypes,
        cache: &FileCache,
    ) -> Response {
        let trailing_slash = req.url_path.ends_with(b"/");
        let rel = rel.strip_suffix(b"/").unwrap_or(rel);
        let mut path = root.to_path_buf();
        if !rel.is_empty() {
            if let Err(status) = self.walk(&mut path, rel, req.conn) {
                return error_response(status);
            }
        }
        // `Require` as Apache applies it: a directory's own, or for a file
        // (or nothing at all) that of the directory holding it, before
        // anything is said about the file.
        let holder = path.parent().unwrap_or(&path);
        if let Some(entry) = cache.get(&path) {
            // A regular file when loaded: the checks below for a file.
            if let Err(status) = self.allowed(holder, req.conn) {
                return error_response(status);
            }
            if trailing_slash {
                return error_response(StatusCode::NOT_FOUND);
            }
            return send_cached(entry, req);
        }
        let (file, meta) = match open(&path) {
            Ok(opened) => opened,
            Err(status) => {
                return error_response(self.allowed(holder, req.conn).err().unwrap_or(status))
            }
        };
        if meta.is_dir() {
            drop(file);
            let settings = match self.allowed(&path, req.conn) {
                Ok(settings) => settings,
                Err(status) => return error_response(status),
            };
            if !trailing_slash {
                return slash_redirect(req);
            }
            return directory(&path, &settings, req, mime, cache);
        }
        if let Err(status) = self.allowed(holder, req.conn) {
            return error_response(status);
        }
        if trailing_slash || !meta.is_file() {
            // `/file.txt/`: no path info on files; a fifo or device: never.
            return error_response(if meta.is_file() {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::FORBIDDEN
            });
        }
        let name = if rel.is_empty() {
            path.as_os_str().as_bytes()
        } else {
            rel
        };
        send_file(file, &meta, name, req, mime)
    }

    /// Extend `path` (the root) by the segments of `rel`, refusing a
    /// symlink where the directory holding it lacks `FollowSymLinks`. A
    /// segment that is not there is 404, or 403 when the `Require` of the
    /// directory it is missing from refuses the client. When no block
    /// turns `FollowSymLinks` off, nothing is checked here: opening the
    /// file says whether it is there.
    fn walk(&self, path: &mut PathBuf, rel: &[u8], conn: &ConnInfo) -> Result<(), StatusCode> {
        if !self.symlinks_checked {
            for segment in rel.split(|&b| b == b'/') {
                path.push(OsStr::from_bytes(segment));
            }
            return Ok(());
        }
        for segment in rel.split(|&b| b == b'/') {
            let options = self.effective(path).options;
            path.push(OsStr::from_bytes(segment));
            if !options.follow_symlinks {
                match std::fs::symlink_metadata(&*path) {
                    Ok(meta) if meta.file_type().is_symlink() => return Err(StatusCode::FORBIDDEN),
                    Ok(_) => {}
                    Err(e) => {
                        let status = io_status(&e, path);
                        path.pop();
                        return Err(self.allowed(path, conn).err().unwrap_or(status));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The answer for the directory `dir` (its URL ends in `/`): its first
/// `DirectoryIndex` file, else a listing if `Options Indexes`, else 403.
fn directory(
    dir: &Path,
    settings: &DirSettings<'_>,
    req: &FileRequest<'_>,
    mime: &MimeTypes,
    cache: &FileCache,
) -> Response {
    for name in settings.index {
        let candidate = dir.join(name);
        if !settings.options.follow_symlinks {
            match std::fs::symlink_metadata(&candidate) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return error_response(StatusCode::FORBIDDEN)
                }
                Ok(_) => {}
                Err(_) => continue,
            }
        }
        if let Some(entry) = cache.get(&candidate) {
            return send_cached(entry, req);
        }
        match open(&candidate) {
            Ok((file, meta)) if meta.is_file() => {
                return send_file(file, &meta, name.as_bytes(), req, mime);
            }
            Ok(_) | Err(StatusCode::NOT_FOUND) => continue,
            Err(status) => return error_response(status),
        }
    }
    if !settings.options.indexes {
        return error_response(StatusCode::FORBIDDEN);
    }
    match listing::render(dir, req.url_path) {
        Ok(html) => {
            let mut response = Response::new(Body::from(html));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html;charset=UTF-8"),
            );
            response
        }
        Err(e) => error_response(io_status(&e, dir)),
    }
}

/// Open for reading without blocking on a fifo, and stat the open file.
fn open(path: &Path) -> Result<(File, Metadata), StatusCode> {
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
fn slash_redirect(req: &FileRequest<'_>) -> Response {
    let mut location = String::with_capacity(req.url_path.len() + 32);
    push_origin(&mut location, req.headers, req.conn);
    location.extend(escape_path(req.url_path));
    location.push('/');
    if let Some(query) = req.query {
        location.push('?');
        location.push_str(query);
    }
    redirect(StatusCode::MOVED_PERMANENTLY, &location)
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

/// A file's response: 200, 206, 304 or 416.
fn send_file(
    file: File,
    meta: &Metadata,
    name: &[u8],
    req: &FileRequest<'_>,
    mime: &MimeTypes,
) -> Response {
    let file_name = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
    respond(
        &Validators::of(meta),
        meta.len(),
        mime.lookup(file_name),
        req,
        |offset, len| Ok(Body::File { file, offset, len }),
    )
}

/// A cached file's response, as [`send_file`] would make it from the file
/// as it was when loaded.
fn send_cached(entry: &Entry, req: &FileRequest<'_>) -> Response {
    respond(
        &entry.validators,
        entry.len,
        entry.content_type.clone(),
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
    let headers = req.headers;
    // Most requests carry none of these fields: one pass over the names
    // (no hashing) saves six map lookups per file answered.
    let asks = headers.keys().any(|name| {
        let name = name.as_str();
        name.starts_with("if-") || name == "range"
    });
    let field = |name: &HeaderName| if asks { field(headers, name) } else { None };
    let if_match = field(&IF_MATCH);
    let if_none_match = field(&IF_NONE_MATCH);
    let if_modified_since = field(&IF_MODIFIED_SINCE);
    let if_unmodified_since = field(&IF_UNMODIFIED_SINCE);
    let if_range = field(&IF_RANGE);
    let range = field(&RANGE);
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
    let decision = conditional::evaluate(
        req.method.as_str(),
        &conditions,
        &validators.representation(len),
        now,
    );
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

#[cfg(test)]
mod path_tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    use super::{is_plain, within};

    /// The byte comparison answers as `Path::starts_with` for every pair of
    /// these paths that it is used for (a plain `dir`).
    #[test]
    fn comparing_plain_bytes_answers_as_path_starts_with() {
        let paths: [&[u8]; 26] = [
            b"",
            b"/",
            b"//",
            b"/srv",
            b"/srv/",
            b"/srv//",
            b"/srv/www",
            b"/srv/www/",
            b"/srv/ww",
            b"/srv/www2",
            b"/srv/www/a",
            b"/srv//www/a",
            b"/srv/./www",
            b"/srv/www/.",
            b"/srv/www/..",
            b"/srv/../srv/www",
            b"srv",
            b"srv/www",
            b"./srv",
            b"./srv/www",
            b".",
            b"..",
            b"../x",
            b"a/b/",
            b"/a b/c",
            b"/\xff/\xfe",
        ];
        let mut compared = 0;
        for dir in paths {
            let dir_path = Path::new(OsStr::from_bytes(dir));
            if !is_plain(dir) {
                continue;
            }
            for base in paths {
                let base_path = Path::new(OsStr::from_bytes(base));
                let plain: PathBuf = base_path.components().collect();
                assert_eq!(
                    within(dir, plain.as_os_str().as_bytes()),
                    dir_path.starts_with(base_path),
                    "{:?} under {:?}",
                    String::from_utf8_lossy(dir),
                    String::from_utf8_lossy(base)
                );
                compared += 1;
            }
        }
        assert!(compared > 300, "only {compared} pairs compared");
        assert!(is_plain(b"/srv/www") && is_plain(b"/") && is_plain(b"./a/b"));
        assert!(!is_plain(b"/srv//www") && !is_plain(b"/srv/") && !is_plain(b"/a/./b"));
    }
}
