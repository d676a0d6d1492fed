//! `map_to_storage`: what is at the mapped file name (`finfo`,
//! `path_info`) and the directory and file walks (`<Directory>` by depth
//! with each directory's `.htaccess`, `<DirectoryMatch>`, `<Files>`,
//! `<FilesMatch>`), and `TRACE` as `TraceEnable` says.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use http::header::HeaderValue;
use http::{Method, StatusCode};
use mpm_core::Response;

use crate::pages::{allow_default, method_not_allowed};
use crate::pipeline::dir_config::DirConfig;
use crate::pipeline::handler::HandlerName;
use crate::pipeline::htaccess::{Failure, HtaccessRules};
use crate::pipeline::request::{Exit, Opened, RequestState, Step};
use crate::pipeline::walk::Layer;
use crate::site::{Host, Site};
use crate::static_files;

impl Site {
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
        r.cached = self.cache.get(&r.filename).is_some();
        // A small file served within the last second: its kept bytes.
        let kept = if r.cached {
            None
        } else {
            self.open_files.get(&r.filename)
        };
        if let Some((meta, contents)) = kept {
            r.opened = Some(Opened::Memory(contents));
            r.finfo = Some(meta);
        } else if !r.cached {
            match static_files::open(&r.filename) {
                Ok((file, meta)) => {
                    r.opened = Some(match self.open_files.keep(&r.filename, &file, &meta) {
                        Some(contents) => Opened::Memory(contents),
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
        let dir: &Path = if is_dir { &r.filename } else { r.file_dir() };
        if !walks.per_level() {
            walks.directory_sections(dir, layers);
        }
        walks.directory_match_sections(dir, layers);
        if !is_dir {
            walks.file_sections(r.file_name(), layers);
        }
        Ok(())
    }

    /// For a `filename` that is not there: the part that is, and the rest
    /// as `path_info` (Apache's directory walk stops at the first segment
    /// missing, or at a file).
    fn find_path_info(&self, r: &mut RequestState<'_>) {
        let root_len = r.root_len;
        let mut existing = r.filename.clone();
        let mut missing: Vec<Vec<u8>> = Vec::new();
        while existing.as_os_str().len() > root_len {
            match std::fs::metadata(&existing) {
                Ok(meta) if meta.is_dir() => break,
                Ok(meta) => {
                    // A file with more path after it.
                    r.finfo = Some(meta);
                    r.filename = existing;
                    r.path_info = join_segments(&missing);
                    return;
                }
                Err(_) => {
                    let Some(name) = existing.file_name() else {
                        break;
                    };
                    missing.push(name.as_bytes().to_vec());
                    existing.pop();
                }
            }
        }
        // `existing` is a directory (or the root): the first missing
        // segment is the file asked for, the rest is path info.
        if let Some(first) = missing.pop() {
            existing.push(OsStr::from_bytes(&first));
        }
        r.filename = existing;
        r.path_info = join_segments(&missing);
    }

    /// The directory walk a directory at a time, from `/` to the directory
    /// of `r.filename`: each level's `<Directory>` sections, then its
    /// `.htaccess` when `AllowOverride` lets one be read there; below the
    /// root, each segment `lstat`ed where `FollowSymLinks` is off.
    fn walk_levels<'h>(
        &'h self,
        host: &'h Host,
        r: &mut RequestState<'_>,
        layers: &mut Vec<Layer<'h>>,
    ) -> Step {
        let walks = &host.walks;
        let is_dir = r.finfo.as_ref().is_some_and(|m| m.is_dir());
        let components: Vec<_> = r.filename.components().collect();
        // The levels are the directories: every component but a file's.
        let levels = if is_dir || r.finfo.is_none() && r.filename.as_os_str().len() <= r.root_len {
            components.len()
        } else {
            components.len().saturating_sub(1)
        };
        let mut prefix = PathBuf::new();
        for (i, component) in components.iter().enumerate() {
            prefix.push(component);
            if i >= levels {
                break;
            }
            let first = layers.len();
            walks.directory_sections_at(prefix.as_os_str().as_bytes(), layers);
            let _ = first;
            let merged_here = fold(&walks.base, layers);
            if walks.reads_htaccess() && merged_here.reads_htaccess {
                if let Some(parser) = &self.overrides {
                    let file = prefix.join(&self.access_file_name);
                    let rules = HtaccessRules {
                        overrides: merged_here.overrides,
                        list: merged_here.list.unwrap_or(&[]),
                    };
                    match self.htaccess.get(&**parser, &file, &prefix, &rules) {
                        Ok(Some(config)) => layers.push(Layer::Htaccess(config)),
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
            let follow = fold(&walks.base, layers).options.follow_symlinks;
            if let Some(next) = components.get(i + 1) {
                if !follow && prefix.as_os_str().len() >= r.root_len {
                    let child = prefix.join(next);
                    if std::fs::symlink_metadata(&child).is_ok_and(|m| m.file_type().is_symlink()) {
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

/// What the sections so far leave for the walk's next step.
struct Folded<'a> {
    options: crate::config::Options,
    overrides: crate::pipeline::htaccess::Overrides,
    list: Option<&'a [String]>,
    reads_htaccess: bool,
}

/// `Options`, `AllowOverride` and `AllowOverrideList` of `base` with
/// `layers` laid on, without merging the rest.
fn fold<'a>(base: &'a DirConfig, layers: &'a [Layer<'_>]) -> Folded<'a> {
    let mut options = base.options;
    let mut overrides = base.allow_override;
    let mut list = base.allow_override_list.as_deref();
    for layer in layers {
        let config = layer.config();
        options = match (options, config.options) {
            (Some(before), Some(next)) => Some(before.then(next)),
            (before, next) => next.or(before),
        };
        if config.allow_override.is_some() {
            overrides = config.allow_override;
        }
        if let Some(l) = config.allow_override_list.as_deref() {
            list = Some(l);
        }
    }
    let overrides = overrides.unwrap_or_default();
    Folded {
        options: options.map_or(crate::config::Options::DEFAULT, |o| {
            o.apply(crate::config::Options::DEFAULT)
        }),
        overrides,
        reads_htaccess: overrides != crate::pipeline::htaccess::Overrides::NONE
            || list.is_some_and(|l| !l.is_empty()),
        list,
    }
}

/// `segments` (innermost first, as collected) joined as a path: `/a/b`.
fn join_segments(segments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for segment in segments.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    out
}
