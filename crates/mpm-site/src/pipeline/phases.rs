//! The phases a request goes through, in Apache's order, as methods of
//! [`Site`]: [`Site::process`] runs them, again from `translate_name`
//! after an internal redirect, and turns an [`Exit`] into the answer.
//!
//! | phase | what runs there |
//! |-------|-----------------|
//! | [`translate_name`](Site::translate_name) | mod_proxy's `ProxyPass`, mod_alias's `Redirect` and `Alias`, else the `DocumentRoot` |
//! | [`map_to_storage`](Site::map_to_storage) | the directory walk (`<Directory>` by depth, `.htaccess` after each directory's sections, then `<DirectoryMatch>`), the file walk (`<Files>`, `<FilesMatch>`) |
//! | [`location_walk`](Site::location_walk) | `<Location>`, `<LocationMatch>` in file order, then the merge (cached) |
//! | [`if_walk`](Site::if_walk) | `<If>`, `<ElseIf>`, `<Else>` |
//! | [`access_checker`](Site::access_checker) | `Require` (host and address) |
//! | [`type_checker`](Site::type_checker) | mod_mime: content type, encoding, language, the handler by extension; `ForceType`, `SetHandler` |
//! | [`fixups`](Site::fixups) | mod_dir: `DirectorySlash`, `DirectoryIndex` |
//! | [`handler`](Site::handler) | the handler by name ([`Handlers`](crate::pipeline::handler::Handlers)), or the default handler (files, listings) |
//! | [`output_filters`](Site::output_filters) | the headers the phases set for the response |
//!
//! A module adds its work as one call in the phase where Apache runs it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use http::header::HeaderValue;
use http::{Method, StatusCode};
use mpm_core::Response;

use crate::pages::{error_response, method_not_allowed, options_response};
use crate::pipeline::dir_config::{DirConfig, MimeAttr};
use crate::pipeline::handler::HandlerName;
use crate::pipeline::htaccess::{Failure, HtaccessRules};
use crate::pipeline::request::{Exit, RequestState, Step};
use crate::pipeline::section::SectionKind;
use crate::pipeline::walk::Layer;
use crate::require;
use crate::site::{Host, Site};
use crate::static_files;
use crate::uri_path::{self, escape_path, segment_prefix};

/// Apache's default `LimitInternalRecursion`.
pub const DEFAULT_RECURSION_LIMIT: u32 = 10;

impl Site {
    /// Answer `r` on `host`: every phase in order; an internal redirect
    /// starts again at `translate_name` (at most `LimitInternalRecursion`
    /// times, then 500); an error status is answered with its page.
    pub fn process(&self, host: &Host, r: &mut RequestState<'_>) -> Response {
        let mut outcome = self.run_phases(host, r);
        loop {
            let (url, fast) = match outcome {
                Ok(response) => return self.output_filters(r, response, true),
                Err(Exit::Respond(response)) => return self.output_filters(r, *response, false),
                Err(Exit::Status(status)) => {
                    let page = error_response(status);
                    return self.output_filters(r, page, false);
                }
                Err(Exit::Redirect(url)) => (url, false),
                Err(Exit::FastRedirect(url)) => (url, true),
            };
            if r.redirects >= self.recursion_limit {
                log::error!(
                    "Request exceeded the limit of {} internal redirects due to probable \
                     configuration error. Use 'LimitInternalRecursion' to increase the limit if \
                     necessary. (while serving {})",
                    self.recursion_limit,
                    r.uri_text().escape_debug()
                );
                return self.output_filters(
                    r,
                    error_response(StatusCode::INTERNAL_SERVER_ERROR),
                    false,
                );
            }
            let (raw_path, query) = match url.split_once('?') {
                Some((path, query)) => (path, Some(query.to_string())),
                None => (url.as_str(), None),
            };
            let mut path = Vec::with_capacity(raw_path.len() + 1);
            if let Err(status) = uri_path::normalise(raw_path, &mut path) {
                log::error!("an internal redirect to '{url}' is not a local URL path ({status})");
                return self.output_filters(r, error_response(status), false);
            }
            let base = host.walks.base.clone();
            if fast {
                r.fast_restart(path, query, base);
            } else {
                r.restart(url.clone(), path, query, base);
            }
            outcome = self.run_phases(host, r);
        }
    }

    /// The phases from `translate_name` to the handler.
    fn run_phases<'h>(
        &'h self,
        host: &'h Host,
        r: &mut RequestState<'_>,
    ) -> Result<Response, Exit> {
        let mut layers = Vec::new();
        self.translate_name(host, r)?;
        self.map_to_storage(host, r, &mut layers)?;
        self.location_walk(host, r, &mut layers);
        r.dir = host.walks.merged(&layers);
        self.if_walk(r);
        self.access_checker(r)?;
        self.type_checker(r)?;
        self.fixups(host, r)?;
        self.handler(host, r)
    }

    /// Map the URL to a file (or to a handler that needs none): mod_proxy's
    /// `ProxyPass` first (it takes every method), then mod_alias's
    /// `Redirect` (answered at once) and `Alias`, else the `DocumentRoot`.
    pub fn translate_name(&self, host: &Host, r: &mut RequestState<'_>) -> Step {
        if self.rewrite_translate(host, r)? {
            return Ok(());
        }
        if host.proxy.takes(&r.uri) {
            r.handler = Some(HandlerName::ProxyServer);
            return Ok(());
        }
        let path = &r.uri;
        if let Some(rule) = host
            .redirects
            .iter()
            .find(|rule| segment_prefix(path, rule.from.as_bytes()))
        {
            let rest = &path[rule.from.len()..];
            return Err(static_files::redirect_exit(rule, rest, r));
        }
        let (root, rel) = match host
            .aliases
            .iter()
            .find(|alias| segment_prefix(path, alias.url.as_bytes()))
        {
            Some(alias) => {
                let rest = &path[alias.url.len()..];
                (&alias.path, rest.strip_prefix(b"/").unwrap_or(rest))
            }
            None => (&host.document_root, path.get(1..).unwrap_or_default()),
        };
        let rel = rel.strip_suffix(b"/").unwrap_or(rel);
        let mut filename = PathBuf::with_capacity(root.as_os_str().len() + rel.len() + 1);
        filename.push(root);
        r.root_len = filename.as_os_str().len();
        if !rel.is_empty() {
            for segment in rel.split(|&b| b == b'/') {
                filename.push(OsStr::from_bytes(segment));
            }
        }
        r.filename = filename;
        Ok(())
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
        r.cached = self.cache.get(&r.filename).is_some();
        if !r.cached {
            match static_files::open(&r.filename) {
                Ok((file, meta)) => {
                    r.opened = Some(file);
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
        let dir: &Path = if is_dir {
            &r.filename
        } else {
            r.filename.parent().unwrap_or(&r.filename)
        };
        if walks.per_level() {
            self.walk_levels(host, r, layers)?;
        } else {
            walks.directory_sections(dir, layers);
        }
        let dir: &Path = if is_dir {
            &r.filename
        } else {
            r.filename.parent().unwrap_or(&r.filename)
        };
        walks.directory_match_sections(dir, layers);
        if !is_dir {
            if let Some(name) = r.filename.file_name() {
                walks.file_sections(name.as_bytes(), layers);
            }
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

    /// The `<Location>` and `<LocationMatch>` sections of `r.uri` onto
    /// `layers` (merged over the directory walk's, as Apache's second
    /// location walk is).
    pub fn location_walk<'h>(
        &'h self,
        host: &'h Host,
        r: &RequestState<'_>,
        layers: &mut Vec<Layer<'h>>,
    ) {
        if host.walks.has_locations() {
            host.walks.location_sections(&r.uri, layers);
        }
    }

    /// The `<If>`, `<ElseIf>` and `<Else>` sections of the merged config,
    /// each chain's first true branch merged over it. A condition that
    /// fails to evaluate is logged and counts as false.
    pub fn if_walk(&self, r: &mut RequestState<'_>) {
        if !r.dir.nested.iter().any(|s| s.kind.is_if()) {
            return;
        }
        let sections = r.dir.nested.clone();
        let mut merged: Option<DirConfig> = None;
        // Whether the current chain has applied a branch.
        let mut chain_taken = false;
        for section in sections.iter().filter(|s| s.kind.is_if()) {
            let applies = match &section.kind {
                SectionKind::If(cond) => {
                    chain_taken = false;
                    evaluate(cond.as_ref(), r)
                }
                SectionKind::ElseIf(cond) => !chain_taken && evaluate(cond.as_ref(), r),
                SectionKind::Else => !chain_taken,
                _ => false,
            };
            if applies {
                chain_taken = true;
                merged
                    .get_or_insert_with(|| (*r.dir).clone())
                    .merge(&section.config);
            }
        }
        if let Some(config) = merged {
            r.dir = std::sync::Arc::new(config);
        }
    }

    /// `Require` (mod_authz_host's forms): 403 when the merged config's
    /// rule refuses the client. Authentication (`check_user_id`) and
    /// user-based authorisation (`auth_checker`) join here.
    pub fn access_checker(&self, r: &mut RequestState<'_>) -> Step {
        match &r.dir.require {
            Some(rule) if !require::allows(rule, r.conn) => {
                Err(Exit::Status(StatusCode::FORBIDDEN))
            }
            _ => Ok(()),
        }
    }

    /// mod_mime: the content type, encoding, languages and handler from
    /// the file name's extensions (every one after the first dot, as
    /// Apache reads them: `AddType`/`AddHandler` of a section first, the
    /// server's types for the last extension), then `ForceType` and
    /// `SetHandler` over them.
    pub fn type_checker(&self, r: &mut RequestState<'_>) -> Step {
        let dir = r.dir.clone();
        let name = if r.finfo.as_ref().is_some_and(|m| m.is_dir()) {
            None
        } else {
            r.filename.file_name().map(|n| n.as_bytes())
        };
        if let Some(name) = name {
            if !dir.mime.is_empty() {
                let text = String::from_utf8_lossy(name).to_ascii_lowercase();
                for ext in text.split('.').skip(1).filter(|e| !e.is_empty()) {
                    if let Some(value) = dir.mime_value(MimeAttr::Type, ext) {
                        r.content_type = HeaderValue::from_str(value).ok();
                    }
                    if let Some(value) = dir.mime_value(MimeAttr::Handler, ext) {
                        r.handler = Some(HandlerName::parse(value));
                    }
                    if let Some(value) = dir.mime_value(MimeAttr::Encoding, ext) {
                        r.content_encoding = Some(value.to_string());
                    }
                    if let Some(value) = dir.mime_value(MimeAttr::Language, ext) {
                        r.content_languages.push(value.to_string());
                    }
                }
            }
            if r.content_type.is_none() {
                r.content_type = self.mime.lookup(name);
            }
        }
        if let Some(forced) = &dir.force_type {
            r.content_type = forced
                .as_deref()
                .and_then(|t| HeaderValue::from_str(t).ok());
        }
        match &dir.handler {
            Some(HandlerName::None) | None => {}
            Some(name) if r.handler != Some(HandlerName::ProxyServer) => {
                r.handler = Some(name.clone())
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// mod_dir, for a directory the default handler would serve: without
    /// its trailing slash, a 301 to it (`DirectorySlash`); with it, the
    /// first `DirectoryIndex` file there, served in its place.
    pub fn fixups(&self, host: &Host, r: &mut RequestState<'_>) -> Step {
        self.rewrite_fixups(host, r)?;
        let default = matches!(
            r.handler,
            None | Some(HandlerName::None | HandlerName::DefaultHandler)
        );
        if !default || !r.finfo.as_ref().is_some_and(|m| m.is_dir()) {
            return Ok(());
        }
        if !r.uri.ends_with(b"/") {
            return Err(Exit::respond(static_files::slash_redirect(r)));
        }
        let follow = r.dir.options().follow_symlinks;
        for name in r.dir.directory_index() {
            let candidate = r.filename.join(name);
            if !follow {
                match std::fs::symlink_metadata(&candidate) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        return Err(Exit::Status(StatusCode::FORBIDDEN))
                    }
                    Ok(_) => {}
                    Err(_) => continue,
                }
            }
            let there = self.cache.get(&candidate).is_some()
                || std::fs::metadata(&candidate).is_ok_and(|m| m.is_file());
            if there {
                let mut url = String::with_capacity(r.uri.len() + name.len() + 16);
                url.extend(escape_path(&r.uri));
                url.extend(escape_path(name.as_bytes()));
                if let Some(query) = &r.query {
                    url.push('?');
                    url.push_str(query);
                }
                return Err(Exit::FastRedirect(url));
            }
        }
        Ok(())
    }

    /// Run the handler chosen: the default handler (files and listings)
    /// for none, mod_proxy's for `proxy-server`, else the implementation
    /// registered for the name; a name nobody registered is a 500
    /// ("handler not found"), as in Apache.
    pub fn handler(&self, host: &Host, r: &mut RequestState<'_>) -> Result<Response, Exit> {
        match r.handler.clone() {
            None | Some(HandlerName::None | HandlerName::DefaultHandler) => {
                static_files::default_handler(r, &self.cache, &self.access_file_name)
            }
            Some(HandlerName::ProxyServer) => {
                let route = match r.notes.get(crate::rewrite::PROXY_NOTE) {
                    Some(url) => host.proxy.route_url(url).map_err(|e| {
                        log::error!("[client {}] mod_rewrite [P]: {e}", r.conn.peer.ip());
                        Exit::Status(StatusCode::BAD_GATEWAY)
                    })?,
                    None => host
                        .proxy
                        .route(&r.uri, r.query.as_deref())
                        .ok_or(Exit::Status(StatusCode::NOT_FOUND))?,
                };
                let facts = crate::proxy::ServerFacts {
                    server_name: &host.server_name,
                    server_version: &self.status.server_version,
                };
                let conn = r.conn;
                let req = r.take_request();
                Ok(host.proxy.forward(&route, req, conn, &facts))
            }
            Some(name) => {
                let Some(implementation) = self.handlers.lookup(&name) else {
                    log::error!(
                        "[client {}] handler \"{name}\" not found for: {}",
                        r.conn.peer.ip(),
                        r.filename.display()
                    );
                    return Err(Exit::Status(StatusCode::INTERNAL_SERVER_ERROR));
                };
                implementation.handle(r)
            }
        }
    }

    /// The response on its way out: the headers the phases set for it
    /// (`headers_out` on a handler's answer, `err_headers_out` on every
    /// answer). mod_headers, mod_expires and mod_deflate join here.
    pub fn output_filters(
        &self,
        r: &mut RequestState<'_>,
        mut response: Response,
        handled: bool,
    ) -> Response {
        if handled && !r.headers_out.is_empty() {
            for (name, value) in r.headers_out.drain().filter_map(|(n, v)| n.map(|n| (n, v))) {
                response.headers_mut().entry(name).or_insert(value);
            }
        }
        if !r.err_headers_out.is_empty() {
            for (name, value) in r.err_headers_out.iter() {
                response.headers_mut().append(name.clone(), value.clone());
            }
        }
        response
    }
}

/// A built-in page's method rule: `OPTIONS` answered with `Allow`, other
/// methods than GET and HEAD refused with 405.
pub fn page_method(method: &Method) -> Result<(), Exit> {
    if method == Method::OPTIONS {
        return Err(Exit::respond(options_response()));
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(Exit::respond(method_not_allowed(method)));
    }
    Ok(())
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

/// A condition's answer, an error logged and taken as false.
fn evaluate(cond: &dyn crate::pipeline::expr::Condition, r: &RequestState<'_>) -> bool {
    match cond.evaluate(r) {
        Ok(answer) => answer,
        Err(e) => {
            log::error!(
                "[client {}] Error evaluating expression '{}': {e}",
                r.conn.peer.ip(),
                cond.source()
            );
            false
        }
    }
}
