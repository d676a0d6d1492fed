//! The phases a request goes through, in Apache's order, as methods of
//! [`Site`]: [`Site::process`] runs them, again from `translate_name`
//! after an internal redirect, and turns an [`Exit`] into the answer.
//!
//! | phase | what runs there |
//! |-------|-----------------|
//! | [`post_read_request`](Site::post_read_request) | the server's `SetEnvIf` lines (once, not again after an internal redirect) |
//! | [`translate_name`](Site::translate_name) | mod_proxy's `ProxyPass`, mod_alias's `Redirect` and `Alias`, else the `DocumentRoot` |
//! | [`map_to_storage`](Site::map_to_storage) | `TRACE` (`TraceEnable`); the directory walk (`<Directory>` by depth, `.htaccess` after each directory's sections, then `<DirectoryMatch>`), the file walk (`<Files>`, `<FilesMatch>`) |
//! | [`location_walk`](Site::location_walk) | `<Location>`, `<LocationMatch>` in file order, then the merge (cached) |
//! | [`if_walk`](Site::if_walk) | `<If>`, `<ElseIf>`, `<Else>` |
//! | [`header_parser`](Site::header_parser) | the sections' `SetEnvIf` lines |
//! | [`access_checker`](Site::access_checker) | `Require` (host and address) |
//! | [`type_checker`](Site::type_checker) | mod_mime: content type, charset, encoding, language, the handler by extension; `ForceType`, `SetHandler` |
//! | [`fixups`](Site::fixups) | mod_env (`SetEnv`, `UnsetEnv`, `PassEnv`); mod_headers' `RequestHeader`; mod_dir: `DirectorySlash`, `DirectoryIndex`, `FallbackResource` |
//! | [`handler`](Site::handler) | the handler by name ([`Handlers`](crate::pipeline::handler::Handlers)), or the default handler (files with `FileETag`'s validators, listings) |
//! | [`output_filters`](Site::output_filters) | the headers the phases set for the response, `AddDefaultCharset`; mod_expires, mod_headers' `Header`, mod_deflate and mod_brotli ([`crate::filters`]) |
//!
//! An error status from any phase is answered by
//! [`error_document`](Site::error_document): the `ErrorDocument` in force
//! (a local URL by an internal redirect with `REDIRECT_STATUS`, another
//! server's by a 302, a message), else mpmd's page with the
//! `ServerSignature` line.
//!
//! A module adds its work as one call in the phase where Apache runs it.
//! `map_to_storage` (the directory and file walks, `TRACE`) is written in
//! `pipeline/storage.rs`, and the answering of errors in
//! `pipeline/errors.rs`: both are methods of [`Site`] too.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use http::header::{HeaderValue, WWW_AUTHENTICATE};
use http::{Method, StatusCode};
use mpm_core::Response;

use crate::auth::{self, Outcome, RemoteUser};
use crate::pages::{allow_default, method_not_allowed, options_response, ALLOW_PAGE};
use crate::pipeline::dir_config::{DirConfig, MimeAttr};
use crate::pipeline::handler::HandlerName;
use crate::pipeline::request::{Exit, Opened, RequestState, Step};
use crate::pipeline::section::SectionKind;
use crate::pipeline::walk::Layer;
use crate::router::canonical_ip;
use crate::site::{Host, Site};
use crate::static_files;
use crate::uri_path::{self, escape_path};

/// Apache's default `LimitInternalRecursion`.
pub const DEFAULT_RECURSION_LIMIT: u32 = 10;

impl Site {
    /// Answer `r` on `host`: every phase in order; an internal redirect
    /// starts again at `translate_name` (at most `LimitInternalRecursion`
    /// times, then 500); an error status is answered with its page.
    pub fn process(&self, host: &Host, r: &mut RequestState<'_>) -> Response {
        self.post_read_request(r);
        // mod_headers' `RequestHeader … early` (post_read_request).
        crate::filters::request_phase(r, &host.walks.base.filters, &self.mime, true);
        let mut outcome = self.run_phases(host, r);
        loop {
            let (url, fast) = match outcome {
                Ok(mut response) => {
                    if let Some(status) = r.error_status {
                        // An error document: the error's status, unless it
                        // chose another (a script's `Status`).
                        if response.status() == StatusCode::OK {
                            *response.status_mut() = status;
                        }
                    }
                    return self.output_filters(r, response, true);
                }
                Err(Exit::Respond(response)) => return self.output_filters(r, *response, false),
                Err(Exit::Status(status)) => match self.error_document(host, r, status) {
                    Ok(response) => return self.output_filters(r, response, false),
                    Err(url) => (url, false),
                },
                Err(Exit::Redirect(url)) => (url, false),
                Err(Exit::FastRedirect(url)) => (url, true),
            };
            if r.redirects >= self.recursion_limit {
                log::error!(
                    "[client {}] Request exceeded the limit of {} internal redirects due to probable \
                     configuration error. Use 'LimitInternalRecursion' to increase the limit if \
                     necessary. (while serving {})",
                    r.conn.peer.ip(),
                    self.recursion_limit,
                    r.uri_text().escape_debug()
                );
                let page = self.error_page(host, r, StatusCode::INTERNAL_SERVER_ERROR, None);
                return self.output_filters(r, page, false);
            }
            let (raw_path, query) = match url.split_once('?') {
                Some((path, query)) => (path, Some(query.to_string())),
                None => (url.as_str(), None),
            };
            let mut path = Vec::with_capacity(raw_path.len() + 1);
            if let Err(status) = uri_path::normalise(raw_path, &mut path) {
                log::error!("an internal redirect to '{url}' is not a local URL path ({status})");
                let page = self.error_page(host, r, StatusCode::INTERNAL_SERVER_ERROR, None);
                return self.output_filters(r, page, false);
            }
            let base = host.walks.base.clone();
            if fast {
                r.fast_restart(path, query, base);
            } else {
                r.restart(url, path, query, base);
            }
            outcome = self.run_phases(host, r);
        }
    }

    /// What runs once, before the first `translate_name`: the server's
    /// own `SetEnvIf` lines (Apache's `post_read_request`).
    pub fn post_read_request(&self, r: &mut RequestState<'_>) {
        if r.dir.setenvif.is_empty() {
            return;
        }
        let base = r.dir.clone();
        for rule in &base.setenvif {
            rule.apply(r);
        }
    }

    /// The phases from `translate_name` to the handler.
    #[inline]
    fn run_phases<'h>(
        &'h self,
        host: &'h Host,
        r: &mut RequestState<'_>,
    ) -> Result<Response, Exit> {
        let mut layers = Vec::new();
        self.translate_name(host, r)?;
        self.map_to_storage(host, r, &mut layers)?;
        self.location_walk(host, r, &mut layers);
        if !layers.is_empty() {
            // The directory walk's own merge when nothing else matched.
            let walked = r.walked.as_ref();
            r.dir = match walked.and_then(|walk| host.walks.walk_merged(walk, &layers)) {
                Some(merged) => merged,
                None => host.walks.merged(&layers),
            };
        }
        self.if_walk(r);
        self.header_parser(host, r)?;
        self.access_checker(r)?;
        self.type_checker(r)?;
        self.fixups(host, r)?;
        self.handler(host, r)
    }

    /// Map the URL to a file (or to a handler that needs none): mod_proxy's
    /// `ProxyPass` first (it takes every method), then mod_alias's
    /// `Redirect` (answered at once) and `Alias` (or `ScriptAlias`, whose
    /// files get the `cgi-script` handler), else the `DocumentRoot`.
    pub fn translate_name(&self, host: &Host, r: &mut RequestState<'_>) -> Step {
        if self.rewrite_translate(host, r)? {
            return Ok(());
        }
        if host.proxy.takes(&r.uri) {
            r.handler = Some(HandlerName::ProxyServer);
            return Ok(());
        }
        let path = &r.uri;
        if let Some(rule) = host.redirect_of(path) {
            let rest = &path[rule.from.len()..];
            return Err(static_files::redirect_exit(
                rule,
                rest,
                r.query.as_deref(),
                r.headers(),
                r.conn,
            ));
        }
        let alias = host.alias_of(path);
        if alias.is_some_and(|alias| alias.script) {
            // mod_alias's ScriptAlias: mod_cgi runs what is there.
            r.handler = Some(HandlerName::CgiScript);
            r.notes.set(crate::cgi_script::SCRIPT_ALIASED, "cgi-script");
        }
        let (root, rel) = host.map_under(alias, path);
        let root = root.as_os_str().as_bytes();
        let mut filename = Vec::with_capacity(root.len() + rel.len() + 1);
        crate::pipeline::request::join_mapped(root, rel, &mut filename);
        r.root_len = root.len();
        r.filename = PathBuf::from(std::ffi::OsString::from_vec(filename));
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
        let mut pending: Vec<std::sync::Arc<crate::pipeline::Section>> = r
            .dir
            .nested
            .iter()
            .filter(|s| s.kind.is_if())
            .cloned()
            .collect();
        let mut merged: Option<DirConfig> = None;
        // The request headers the conditions read, for `Vary` (Apache
        // adds them whatever the answer).
        let mut vary = Vec::new();
        // Sections a branch taken holds are walked after the others, as
        // their own chains (nested `<If>`).
        while !pending.is_empty() {
            let mut inner = Vec::new();
            // Whether the current chain has applied a branch.
            let mut chain_taken = false;
            for section in &pending {
                let applies = match &section.kind {
                    SectionKind::If(cond) => {
                        chain_taken = false;
                        evaluate(cond.as_ref(), r, &mut vary)
                    }
                    SectionKind::ElseIf(cond) => {
                        !chain_taken && evaluate(cond.as_ref(), r, &mut vary)
                    }
                    SectionKind::Else => !chain_taken,
                    _ => false,
                };
                if applies {
                    chain_taken = true;
                    let config = merged.get_or_insert_with(|| (*r.dir).clone());
                    config.merge(&section.config);
                    inner.extend(
                        section
                            .config
                            .nested
                            .iter()
                            .filter(|s| s.kind.is_if())
                            .cloned(),
                    );
                }
            }
            pending = inner;
        }
        vary_on(&mut r.headers_out, &vary);
        if let Some(mut config) = merged {
            // The branches' own `<If>` sections were walked here.
            config.nested.retain(|s| !s.kind.is_if());
            r.dir = std::sync::Arc::new(config);
        }
    }

    /// mod_setenvif's lines of the sections (the server's ran before
    /// `translate_name`), in order.
    pub fn header_parser(&self, host: &Host, r: &mut RequestState<'_>) -> Step {
        let server_lines = host.walks.base.setenvif.len();
        if r.dir.setenvif.len() > server_lines {
            let dir = r.dir.clone();
            for rule in &dir.setenvif[server_lines..] {
                rule.apply(r);
            }
        }
        Ok(())
    }

    /// Apache's `access_checker`, `check_user_id` and `auth_checker` in
    /// one ([`auth::check()`]): the merged config's `Require` without a
    /// user (addresses), then, when a user could change the answer,
    /// mod_auth_basic's credentials checked against the `AuthUserFile`
    /// and the rules again with that user (`REMOTE_USER`, `%u`). A 401
    /// carries the realm's challenge in `err_headers_out`, which every
    /// answer gets, an error page made for the status included.
    pub fn access_checker(&self, r: &mut RequestState<'_>) -> Step {
        // No `Require` and no `AuthType Basic`: granted, nothing read (what
        // `auth::check` answers then, without making its request).
        if r.dir.require.is_none() && r.dir.auth.auth_type != Some(crate::auth::AuthType::Basic) {
            return Ok(());
        }
        let dir = r.dir.clone();
        let conn = r.conn;
        let judged = crate::require::Judged::new(r);
        let req = auth::check::Request {
            headers: r.headers(),
            peer: canonical_ip(conn.peer.ip()),
            local: canonical_ip(conn.local.ip()),
            uri: &r.uri,
            facts: &judged,
        };
        let outcome = auth::check(dir.require.as_ref(), &dir.auth, &self.auth_files, &req);
        // The headers a `Require expr` read, as Apache merges them into
        // `headers_out` (so an error answer, which drops those, has none).
        let vary = judged.vary.into_inner();
        vary_on(&mut r.headers_out, &vary);
        match outcome {
            Outcome::Allow { user: None } => Ok(()),
            Outcome::Allow { user: Some(user) } => {
                r.user = Some(String::from_utf8_lossy(&user).into_owned());
                r.auth_type = Some("Basic".to_string());
                Ok(())
            }
            Outcome::Refuse { status, challenge } => {
                if let Some(value) = challenge {
                    r.err_headers_out.insert(WWW_AUTHENTICATE, value);
                }
                Err(Exit::Status(status))
            }
        }
    }

    /// mod_mime: the content type, encoding, languages and handler from
    /// the file name's extensions (every one after the first dot, as
    /// Apache reads them: for each, `AddType`/`AddHandler` of a section
    /// first, else the server's types; the last type found wins), then
    /// `ForceType` and `SetHandler` over them.
    pub fn type_checker(&self, r: &mut RequestState<'_>) -> Step {
        // Fields borrowed apart: `dir` and `filename` are read while the
        // content type and handler are written.
        let dir: &DirConfig = &r.dir;
        let named =
            !(r.finfo.as_ref().is_some_and(|m| m.is_dir()) || r.filename.as_os_str().is_empty());
        // The file's name is read from `filename` only where it is needed.
        use crate::pipeline::request::last_segment;
        let mut charset = None;
        if named {
            // Each extension after the first dot in turn, the last type
            // found winning, as Apache's mod_mime: a section's `AddType`
            // for it, else the server's types (so `page.html.en` is
            // text/html, `a.txt.php` text/plain). A type set before this
            // phase (mod_rewrite's `T=`) is not replaced by the server's.
            let preset = r.content_type.is_some();
            if dir.mime.is_empty() {
                // The server's types alone: a file in memory was typed so
                // by its name when it was read.
                if !preset {
                    r.content_type = match &r.opened {
                        Some(Opened::Memory(file)) => file.content_type.clone(),
                        _ => self.mime.of_name(last_segment(&r.filename)),
                    };
                }
            }
            let with_sections = (!dir.mime.is_empty()).then(|| last_segment(&r.filename));
            for ext in with_sections
                .into_iter()
                .flat_map(|name| name.split(|&b| b == b'.').skip(1))
                .filter(|e| !e.is_empty())
            {
                let lower = String::from_utf8_lossy(ext).to_ascii_lowercase();
                if let Some(value) = dir.mime_value(MimeAttr::Type, &lower) {
                    r.content_type = HeaderValue::from_str(value).ok();
                } else if !preset {
                    if let Some(found) = self.mime.lookup_ext(ext) {
                        r.content_type = Some(found);
                    }
                }
                let ext = lower.as_str();
                if let Some(value) = dir.mime_value(MimeAttr::Handler, ext) {
                    r.handler = Some(HandlerName::parse(value));
                }
                if let Some(value) = dir.mime_value(MimeAttr::Encoding, ext) {
                    r.content_encoding = Some(value.to_string());
                }
                if let Some(value) = dir.mime_value(MimeAttr::Language, ext) {
                    r.content_languages.push(value.to_string());
                }
                if let Some(value) = dir.mime_value(MimeAttr::Charset, ext) {
                    charset = Some(value);
                }
            }
        }
        if let Some(forced) = &dir.force_type {
            r.content_type = forced
                .as_deref()
                .and_then(|t| HeaderValue::from_str(t).ok());
        }
        if let (Some(charset), Some(media_type)) = (charset, &r.content_type) {
            let text = String::from_utf8_lossy(media_type.as_bytes());
            if !text.to_ascii_lowercase().contains("charset=") {
                r.content_type = HeaderValue::from_str(&format!("{text}; charset={charset}")).ok();
            }
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

    /// mod_env's `SetEnv`, `UnsetEnv`, `PassEnv`; then mod_dir, for what
    /// the default handler would serve: a directory without its trailing
    /// slash is redirected to it (301, unless `DirectorySlash Off`); with
    /// it, the first `DirectoryIndex` file there is served in its place;
    /// where nothing is there, the `FallbackResource` is.
    pub fn fixups(&self, host: &Host, r: &mut RequestState<'_>) -> Step {
        // mod_rewrite's fixup runs first (APR_HOOK_FIRST), as in Apache.
        self.rewrite_fixups(host, r)?;
        let dir = r.dir.clone();
        for edit in &dir.env {
            edit.apply(r);
        }
        // mod_headers' `RequestHeader` (its fixup hook).
        crate::filters::request_phase(r, &dir.filters, &self.mime, false);
        let default = matches!(
            r.handler,
            None | Some(HandlerName::None | HandlerName::DefaultHandler)
        );
        if !default {
            return Ok(());
        }
        if r.finfo.is_none() && !r.cached && !r.filename.as_os_str().is_empty() {
            if let Some(Some(fallback)) = &r.dir.fallback_resource {
                return Err(Exit::FastRedirect(fallback_url(fallback, &r.uri)));
            }
            return Ok(());
        }
        if !r.finfo.as_ref().is_some_and(|m| m.is_dir()) {
            return Ok(());
        }
        if !r.uri.ends_with(b"/") {
            if r.dir.directory_slash == Some(false) {
                return Ok(());
            }
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
                let signature = |r: &RequestState<'_>| self.signature(host, r);
                let trace = self.trace_enable != crate::config::TraceEnable::Off;
                let how = static_files::Serving {
                    cache: &self.cache,
                    access_file_name: &self.access_file_name,
                    signature: &signature,
                    allow: allow_default(trace),
                };
                static_files::default_handler(r, how)
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
                let env: Vec<(String, String)> = r
                    .subprocess_env
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                let (user, auth_type, dir) = (r.user.clone(), r.auth_type.clone(), r.dir.clone());
                let facts = crate::proxy::ServerFacts {
                    server_name: &host.server_name,
                    server_version: &self.status.server_version,
                    document_root: &host.document_root,
                    env: &env,
                    user: user.as_deref(),
                    auth_type: auth_type.as_deref(),
                    scripts: &dir.scripts,
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
    /// answer), `AddDefaultCharset`, then mod_expires, mod_headers and
    /// the compressors ([`crate::filters`]).
    pub fn output_filters(
        &self,
        r: &mut RequestState<'_>,
        mut response: Response,
        handled: bool,
    ) -> Response {
        if let Some(Some(charset)) = &r.dir.default_charset {
            add_default_charset(&mut response, charset);
        }
        if let Some(mut set) = r.headers_out.take().filter(|_| handled) {
            // A header the answer has keeps the answer's values, but
            // `Vary` lists are joined; every value of a header the answer
            // lacks is taken (`drain` names a header once, then gives its
            // further values without the name).
            let mut taking = None;
            for (name, value) in set.drain() {
                if let Some(name) = name {
                    taking = (!response.headers().contains_key(&name)
                        || name == http::header::VARY)
                        .then_some(name);
                }
                match &taking {
                    Some(name) if name == http::header::VARY => {
                        merge_vary(response.headers_mut(), value.to_str().ok());
                    }
                    Some(name) => {
                        response.headers_mut().append(name.clone(), value);
                    }
                    None => {}
                }
            }
        }
        if !r.err_headers_out.is_empty() {
            for (name, value) in r.err_headers_out.iter() {
                response.headers_mut().append(name.clone(), value.clone());
            }
        }
        if let Some(user) = &r.user {
            response.extensions_mut().insert(RemoteUser(user.clone()));
        }
        // mod_expires, mod_headers' `Header`, mod_deflate and mod_brotli.
        crate::filters::output_phase(r, &self.variants, &self.mime, response)
    }
}

/// A built-in page's method rule: `OPTIONS` answered with `Allow`, other
/// methods than GET and HEAD refused with 405.
pub fn page_method(method: &Method) -> Result<(), Exit> {
    if method == Method::OPTIONS {
        return Err(Exit::respond(options_response(ALLOW_PAGE)));
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(Exit::respond(method_not_allowed(method, ALLOW_PAGE)));
    }
    Ok(())
}

/// `AddDefaultCharset`: `; charset=…` on a `text/plain` or `text/html`
/// answer that names no charset.
fn add_default_charset(response: &mut Response, charset: &str) {
    let Some(value) = response.headers().get(http::header::CONTENT_TYPE) else {
        return;
    };
    let Ok(text) = value.to_str() else { return };
    let essence = text.split(';').next().unwrap_or("").trim();
    let textual =
        essence.eq_ignore_ascii_case("text/plain") || essence.eq_ignore_ascii_case("text/html");
    if !textual || text.to_ascii_lowercase().contains("charset=") {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&format!("{text}; charset={charset}")) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
}

/// The URL a `FallbackResource` names, for a request for `uri`: as
/// written when it is a path from the root, else relative to `uri`'s
/// directory.
fn fallback_url(fallback: &str, uri: &[u8]) -> String {
    if fallback.starts_with('/') {
        return fallback.to_string();
    }
    let dir = match uri.iter().rposition(|&b| b == b'/') {
        Some(i) => &uri[..=i],
        None => b"/",
    };
    let mut url: String = escape_path(dir).collect();
    url.push_str(fallback);
    url
}

/// A condition's answer, an error logged and taken as false.
/// Add the request headers of `names` to `headers`' `Vary` (Apache
/// merges what its expressions read into `headers_out`).
fn vary_on(headers: &mut http::HeaderMap, names: &[String]) {
    if !names.is_empty() {
        merge_vary(headers, names.iter().map(String::as_str));
    }
}

/// Add the header names of `lists` (each a comma-separated list) to
/// `headers`' `Vary`, each once, kept as one value joined by commas, as
/// Apache's `fixup_vary` sends it. Nothing changes when all are listed.
pub(crate) fn merge_vary<'a>(
    headers: &mut http::HeaderMap,
    lists: impl IntoIterator<Item = &'a str>,
) {
    let mut names: Vec<String> = Vec::new();
    let add = |list: &str, names: &mut Vec<String>| {
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.to_string());
            }
        }
    };
    for value in headers.get_all(http::header::VARY) {
        add(value.to_str().unwrap_or(""), &mut names);
    }
    let listed = names.len();
    for list in lists {
        add(list, &mut names);
    }
    if names.len() == listed {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&names.join(",")) {
        headers.insert(http::header::VARY, value);
    }
}

fn evaluate(
    cond: &dyn crate::pipeline::expr::Condition,
    r: &RequestState<'_>,
    vary: &mut Vec<String>,
) -> bool {
    match cond.evaluate(r, vary) {
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
