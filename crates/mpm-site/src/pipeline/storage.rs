//! `map_to_storage`: what is at the mapped file name (`finfo`,
//! `path_info`) and the directory and file walks (`<Directory>` by depth
//! with each directory's `.htaccess`, `<DirectoryMatch>`, `<Files>`,
//! `<FilesMatch>`), and `TRACE` as `TraceEnable` says.

use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::header::HeaderValue;
use http::{Method, StatusCode};
use mpm_core::Response;

use crate::memory_file::MemoryFile;
use crate::pages::{allow_default, method_not_allowed};
use crate::pipeline::dir_config::DirConfig;
use crate::pipeline::handler::HandlerName;
use crate::pipeline::htaccess::{Failure, HtaccessRules};
use crate::pipeline::request::{Exit, Opened, RequestState, Step};
use crate::pipeline::walk::{Layer, Walked};
use crate::site::{Host, Site};
use crate::static_files;

impl Site {
    /// Whether `MMapFile` or `CacheFile` names `filename`, and its bytes
    /// when they are in memory: an `MMapFile`'s, or a small file's kept
    /// since an earlier request (a `CacheFile` is answered from its
    /// descriptor, so it has none). `map_to_storage`'s look, and the
    /// untouched path's.
    pub(crate) fn in_memory(&self, filename: &Path) -> (bool, Option<Arc<MemoryFile>>) {
        match self.cache.get(filename) {
            Some(entry) => (true, entry.memory().cloned()),
            None => (false, self.open_files.get(filename)),
        }
    }

    /// What is at `r.filename` (`finfo`, `path_info`), and the sections
    /// that hold it onto `layers`: the `<Directory>` sections by depth,
    /// each directory's `.htaccess` after its sections, the
    /// `<DirectoryMatch>` sections, then the `<Files>`/`<FilesMatch>`
    /// sections of everything so far. A symlink where `FollowSymLinks` is
    /// off is 403; so is a path the server may not search.
    pub fn map_to_storage<'h>(
        &'h self,
        host: &'h Host,
        r: &mut RequestState<'_>,
        layers: &mut Vec<Layer<'h>>,
    ) -> Step {
        if r.handler == Some(HandlerName::ProxyServer) || r.filename.as_os_str().is_empty() {
            return Ok(());
        }
        if r.method() == Method::TRACE {
            // http_core's TRACE, a map_to_storage hook as in Apache (after
            // mod_proxy's: a proxied TRACE goes to the backend).
            return Err(self.trace(r));
        }
        let (cached, in_memory) = self.in_memory(&r.filename);
        r.cached = cached;
        if let Some(file) = in_memory {
            r.finfo = Some(file.meta.clone());
            r.opened = Some(Opened::Memory(file));
        } else if !r.cached {
            match static_files::open(&r.filename) {
                Ok((file, meta)) => {
                    let kept = self.open_files.keep(&r.filename, &file, &meta, &self.mime);
                    r.opened = Some(match kept {
                        Some(kept) => Opened::Memory(kept),
                        None => Opened::File(file),
                    });
                    r.finfo = Some(meta);
                }
                Err(StatusCode::NOT_FOUND) => self.find_path_info(r),
                Err(StatusCode::FORBIDDEN) => match std::fs::metadata(&r.filename) {
                    // There, but not readable: the default handler says 403.
                    Ok(meta) => r.finfo = Some(meta),
                    Err(_) => return Err(Exit::Status(StatusCode::FORBIDDEN)),
                },
                Err(status) => return Err(Exit::Status(status)),
            }
        }
        let is_dir = r.finfo.as_ref().is_some_and(|m| m.is_dir());
        if !is_dir
            && r.path_info.is_empty()
            && r.uri.ends_with(b"/")
            && (r.finfo.is_some() || r.cached)
        {
            // `/file.txt/`: the file, with `/` past it.
            r.path_info.push(b'/');
        }
        let walks = &host.walks;
        if walks.per_level() {
            self.walk_levels(host, r, layers)?;
        }
        // The file's directory and name are read from `filename` only for
        // sections that may hold them.
        if walks.has_directory_sections() {
            let dir: &Path = if is_dir { &r.filename } else { r.file_dir() };
            if !walks.per_level() {
                walks.directory_sections(dir, layers);
            }
            walks.directory_match_sections(dir, layers);
        }
        if !is_dir && walks.may_have_file_sections(layers) {
            walks.file_sections(r.file_name(), layers);
        }
        Ok(())
    }

    /// For a `filename` that is not there (its `open` said so): the part
    /// that is, and the rest as `path_info` (Apache's directory walk stops
    /// at the first segment missing, or at a file). Segments come off the
    /// end as `Path::parent` takes them, read from the path's bytes.
    fn find_path_info(&self, r: &mut RequestState<'_>) {
        let mut bytes = std::mem::take(&mut r.filename).into_os_string().into_vec();
        let mut existing = bytes.len();
        // The missing segments, innermost first, as ranges of `bytes`.
        let mut missing: Vec<(usize, usize)> = Vec::new();
        while existing > r.root_len {
            // The whole path is known missing: `open` failed on it.
            let found = if existing < bytes.len() {
                std::fs::metadata(Path::new(OsStr::from_bytes(&bytes[..existing]))).ok()
            } else {
                None
            };
            match found {
                Some(meta) if meta.is_dir() => break,
                Some(meta) => {
                    // A file with more path after it.
                    r.finfo = Some(meta);
                    r.path_info = join_segments(&bytes, &missing);
                    bytes.truncate(existing);
                    r.filename = PathBuf::from(std::ffi::OsString::from_vec(bytes));
                    return;
                }
                None => {
                    let Some((name, parent)) = back_segment(&bytes[..existing]) else {
                        break;
                    };
                    missing.push(name);
                    existing = parent;
                }
            }
        }
        // `existing` is a directory (or the root): the first missing
        // segment is the file asked for, the rest is path info.
        let first = missing.pop();
        r.path_info = join_segments(&bytes, &missing);
        if let Some((start, end)) = first {
            // As `PathBuf::push`: a separator unless there is one.
            let at = if existing == 0 || bytes[existing - 1] == b'/' {
                existing
            } else {
                bytes[existing] = b'/';
                existing + 1
            };
            bytes.copy_within(start..end, at);
            existing = at + (end - start);
        }
        bytes.truncate(existing);
        r.filename = PathBuf::from(std::ffi::OsString::from_vec(bytes));
    }

    /// The directory walk a directory at a time, from `/` to the directory
    /// of `r.filename`: each level's `<Directory>` sections, then its
    /// `.htaccess` when `AllowOverride` lets one be read there; below the
    /// root, each segment `lstat`ed where `FollowSymLinks` is off. The
    /// result is the request's walk (an internal redirect to the same
    /// directory shares it) and is kept per directory for the next
    /// requests ([`DirWalk`](crate::pipeline::walk::DirWalk)), unless a
    /// level refused symlinks (that check is the file's own).
    fn walk_levels<'h>(
        &'h self,
        host: &'h Host,
        r: &mut RequestState<'_>,
        layers: &mut Vec<Layer<'h>>,
    ) -> Step {
        let walks = &host.walks;
        let is_dir = r.finfo.as_ref().is_some_and(|m| m.is_dir());
        // The levels are the directories: every component but a file's.
        let whole = is_dir || r.finfo.is_none() && r.filename.as_os_str().len() <= r.root_len;
        let key_len = walk_key(r.filename.as_os_str().as_bytes(), whole);
        let version = self.htaccess.version();
        if let Some(len) = key_len {
            let key = &r.filename.as_os_str().as_bytes()[..len];
            if let Some(walk) = r.walked.as_ref().filter(|walk| walk.dir() == key) {
                walks.lay(walk, layers);
                return Ok(());
            }
            if let Some(walk) = walks.cached_walk(key, version) {
                walks.lay(&walk, layers);
                r.walked = Some(walk);
                return Ok(());
            }
        }
        let components: Vec<_> = r.filename.components().collect();
        let levels = if whole {
            components.len()
        } else {
            components.len().saturating_sub(1)
        };
        let mut steps = Vec::new();
        let mut folded = Folded::new(&walks.base);
        let mut fresh_until: Option<std::time::Instant> = None;
        let mut refuses_links = false;
        let mut prefix = PathBuf::new();
        for (i, component) in components.iter().enumerate() {
            prefix.push(component);
            if i >= levels {
                break;
            }
            let first = steps.len();
            walks.directory_sections_at(prefix.as_os_str().as_bytes(), &mut steps);
            for step in &steps[first..] {
                folded.lay(walks.step_config(step));
            }
            if walks.reads_htaccess() && folded.reads_htaccess() {
                if let Some(parser) = &self.overrides {
                    let file = prefix.join(&self.access_file_name);
                    let rules = HtaccessRules {
                        overrides: folded.overrides(),
                        list: folded.list.as_deref().unwrap_or(&[]),
                    };
                    let looked = self.htaccess.get(&**parser, &file, &prefix, &rules);
                    fresh_until = Some(
                        fresh_until
                            .map_or(looked.fresh_until, |until| until.min(looked.fresh_until)),
                    );
                    match looked.parsed {
                        Ok(Some(config)) => {
                            folded.lay(&config);
                            steps.push(Walked::Htaccess(config));
                        }
                        Ok(None) => {}
                        Err(Failure::Unreadable(message)) => {
                            log::error!("[client {}] {message}", r.conn.peer.ip());
                            return Err(Exit::Status(StatusCode::FORBIDDEN));
                        }
                        Err(Failure::Invalid(e)) => {
                            log::error!("[client {}] {e}", r.conn.peer.ip());
                            return Err(Exit::Status(StatusCode::INTERNAL_SERVER_ERROR));
                        }
                    }
                }
            }
            // The next segment, below the root, where symlinks are refused.
            if !folded.options().follow_symlinks {
                refuses_links = true;
                if let Some(next) = components.get(i + 1) {
                    if prefix.as_os_str().len() >= r.root_len {
                        let child = prefix.join(next);
                        if std::fs::symlink_metadata(&child)
                            .is_ok_and(|m| m.file_type().is_symlink())
                        {
                            log::error!(
                                "[client {}] Symbolic link not allowed or link target not accessible: {}",
                                r.conn.peer.ip(),
                                child.display()
                            );
                            return Err(Exit::Status(StatusCode::FORBIDDEN));
                        }
                    }
                }
            }
        }
        let keep = key_len.is_some() && !refuses_links;
        let key = &r.filename.as_os_str().as_bytes()[..key_len.unwrap_or(0)];
        let walk = walks.keep_walk(key, steps, version, fresh_until, keep);
        walks.lay(&walk, layers);
        if keep {
            r.walked = Some(walk);
        }
        Ok(())
    }

    /// `TRACE` as `TraceEnable` says: the request echoed back as
    /// `message/http`, or 405 (`Off`), or 413 for a request with a body
    /// (unless `extended`).
    fn trace(&self, r: &RequestState<'_>) -> Exit {
        use crate::config::TraceEnable;
        if self.trace_enable == TraceEnable::Off {
            return Exit::respond(method_not_allowed(r.method(), allow_default(false)));
        }
        let has_body = r.headers().contains_key(http::header::TRANSFER_ENCODING)
            || r.headers()
                .get(http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        if has_body && self.trace_enable != TraceEnable::Extended {
            return Exit::Status(StatusCode::PAYLOAD_TOO_LARGE);
        }
        let mut echo =
            format!("{} {} {:?}\r\n", r.method(), r.original_uri(), r.version()).into_bytes();
        for (name, value) in r.headers() {
            echo.extend_from_slice(name.as_str().as_bytes());
            echo.extend_from_slice(b": ");
            echo.extend_from_slice(value.as_bytes());
            echo.extend_from_slice(b"\r\n");
        }
        let mut response = Response::new(mpm_core::Body::from(echo));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("message/http"),
        );
        Exit::respond(response)
    }
}

/// What the sections so far leave for the walk's next step: `Options`,
/// `AllowOverride` and `AllowOverrideList` of the base with each level's
/// configurations laid on as the walk goes (each laid on once).
struct Folded {
    options: Option<crate::config::OptionsSetting>,
    overrides: Option<crate::pipeline::htaccess::Overrides>,
    list: Option<Vec<String>>,
}

impl Folded {
    fn new(base: &DirConfig) -> Folded {
        Folded {
            options: base.options,
            overrides: base.allow_override,
            list: base.allow_override_list.clone(),
        }
    }

    /// `config` laid on, as [`DirConfig::merge`] lays these three.
    fn lay(&mut self, config: &DirConfig) {
        self.options = match (self.options, config.options) {
            (Some(before), Some(next)) => Some(before.then(next)),
            (before, next) => next.or(before),
        };
        if config.allow_override.is_some() {
            self.overrides = config.allow_override;
        }
        if let Some(list) = &config.allow_override_list {
            self.list = Some(list.clone());
        }
    }

    fn options(&self) -> crate::config::Options {
        self.options.map_or(crate::config::Options::DEFAULT, |o| {
            o.apply(crate::config::Options::DEFAULT)
        })
    }

    fn overrides(&self) -> crate::pipeline::htaccess::Overrides {
        self.overrides.unwrap_or_default()
    }

    /// Whether a `.htaccess` file is read at this level.
    fn reads_htaccess(&self) -> bool {
        self.overrides() != crate::pipeline::htaccess::Overrides::NONE
            || self.list.as_ref().is_some_and(|l| !l.is_empty())
    }
}

/// How many bytes of `filename` name the directory a walk goes to (the
/// whole of it when `whole`, else its parent), when that prefix's
/// components are the walk's levels: `filename` plain (one trailing `/`
/// aside, which names the same directory). `None`: a path whose bytes
/// say less than its components (`//`, `/./`), walked but not kept.
fn walk_key(filename: &[u8], whole: bool) -> Option<usize> {
    let trimmed = match filename {
        [rest @ .., b'/'] if !rest.is_empty() => rest,
        _ => filename,
    };
    if !crate::pipeline::walk::is_plain(trimmed) || trimmed.starts_with(b"./") {
        return None;
    }
    if whole {
        return Some(trimmed.len());
    }
    Some(match trimmed.iter().rposition(|&b| b == b'/') {
        Some(0) => 1,
        Some(i) => i,
        None => 0,
    })
}

/// The segments of `bytes` at `ranges` (innermost first, as collected)
/// joined as a path: `/a/b`.
fn join_segments(bytes: &[u8], ranges: &[(usize, usize)]) -> Vec<u8> {
    let len = ranges.iter().map(|(start, end)| end - start + 1).sum();
    let mut out = Vec::with_capacity(len);
    for &(start, end) in ranges.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(&bytes[start..end]);
    }
    out
}

/// `Path::file_name` and `Path::parent` of `path`, on its bytes: the
/// range of its last segment (trailing `/` and `.` segments skipped) and
/// the length of what precedes it (its separators and `.` segments
/// trimmed, the root kept). `None` when there is no name: the root,
/// nothing, a leading `.`, or `..`.
fn back_segment(path: &[u8]) -> Option<((usize, usize), usize)> {
    // The segment ending at `end` (after skipping separators): its start.
    let segment = |end: usize| {
        path[..end]
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(0, |i| i + 1)
    };
    let trim = |mut end: usize| loop {
        while end > 0 && path[end - 1] == b'/' {
            end -= 1;
        }
        let start = segment(end);
        if start > 0 && &path[start..end] == b"." {
            end = start;
            continue;
        }
        return end;
    };
    let end = trim(path.len());
    let start = segment(end);
    let name = &path[start..end];
    if name.is_empty() || name == b"." || name == b".." {
        return None;
    }
    let mut parent = trim(start);
    if parent == 0 && path.first() == Some(&b'/') {
        parent = 1;
    }
    Some(((start, end), parent))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use super::back_segment;

    /// The byte reading answers as `Path::file_name` and `Path::parent`.
    #[test]
    fn the_last_segment_and_its_parent_come_off_as_path_takes_them() {
        let paths: [&[u8]; 24] = [
            b"",
            b"/",
            b"//",
            b"/a",
            b"/a/",
            b"/a//",
            b"/srv/www/2024/05/hello-world/",
            b"/srv/www/x.php",
            b"/srv//www/x",
            b"/srv/./www/x",
            b"/srv/www/x/.",
            b"/srv/www/x/./",
            b"/srv/www/..",
            b"/srv/www/../x",
            b"a",
            b"a/b",
            b"a/b/",
            b"./a",
            b"./a/b",
            b".",
            b"..",
            b"../x",
            b"/\xff/\xfe b",
            b"/a/.hidden",
        ];
        for bytes in paths {
            let path = Path::new(OsStr::from_bytes(bytes));
            let want = path.file_name().map(|name| {
                let parent = path.parent().expect("a named path has a parent");
                (name.as_bytes(), parent.as_os_str().as_bytes())
            });
            let got = back_segment(bytes)
                .map(|((start, end), parent)| (&bytes[start..end], &bytes[..parent]));
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(bytes));
        }
    }
}
