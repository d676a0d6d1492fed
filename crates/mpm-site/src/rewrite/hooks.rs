//! Where the engine meets the site's request pipeline
//! ([`crate::pipeline`]): the server-context pass in `translate_name`
//! ([`Site::rewrite_translate`]), the per-directory pass at the start of
//! `fixups` ([`Site::rewrite_fixups`]), and what an [`Outcome`] changes
//! in the request's state.
//!
//! State kept across an internal redirect is kept in the request's notes,
//! as Apache keeps it: `[END]` (no more rewriting for this request), the
//! `Vary` names the rules read (Apache's `redirect-keeps-vary`), the
//! proxy URL of `[P]`, the forced type and handler of `[T=]`/`[H=]`.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use http::header::{HeaderValue, SET_COOKIE};
use http::StatusCode;

use super::{Action, DirRequest, Outcome, ServerRequest};
use crate::pages::redirect;
use crate::pipeline::handler::HandlerName;
use crate::pipeline::request::{text, Exit, RequestState};
use crate::site::{Host, Site};
use crate::uri_path::{self, escape_path};
use crate::vars::HttpVars;

/// `[END]` matched: no more rewriting for this request.
const END_NOTE: &str = "rewrite-end";
/// The `Vary` names the rules read, kept across an internal redirect.
const VARY_NOTE: &str = "rewrite-vary";
/// `[P]`'s backend URL, for the proxy handler.
pub(crate) const PROXY_NOTE: &str = "rewrite-proxy";
/// `[T=…]`.
const TYPE_NOTE: &str = "rewrite-forced-type";
/// `[H=…]`.
const HANDLER_NOTE: &str = "rewrite-forced-handler";

/// Apache's default `LimitRequestLine` (results longer than twice it are
/// refused).
const LIMIT_REQUEST_LINE: usize = 8190;

impl Site {
    /// mod_rewrite in server context (Apache's `translate_name` hook, run
    /// first): `Ok(true)` when the rules mapped the URL to a file (the
    /// rest of the URL mapping is skipped), `Ok(false)` to go on (with a
    /// changed URL after `[PT]`), `Err` to answer at once.
    pub(crate) fn rewrite_translate(
        &self,
        host: &Host,
        r: &mut RequestState<'_>,
    ) -> Result<bool, Exit> {
        if let Some(vary) = r.notes.get(VARY_NOTE) {
            crate::pipeline::phases::merge_vary(&mut r.headers_out, [vary]);
        }
        let cfg = &host.rewrite;
        if !cfg.enabled() || cfg.rules().is_empty() || r.notes.get(END_NOTE).is_some() {
            return Ok(false);
        }
        let out = {
            let path = r.uri_text();
            let vars = self.request_vars(host, r, &path, None, None);
            cfg.server_pass(
                &vars,
                &cfg.maps,
                ServerRequest {
                    unparsed_uri: r.request_uri(),
                    uri: &path,
                    query: r.query.as_deref(),
                    limit_request_line: LIMIT_REQUEST_LINE,
                },
            )
        };
        let action = apply(r, out)?;
        match action {
            Action::File { path, query } => {
                let root = host.document_root.as_os_str().as_bytes();
                r.root_len = if path.as_bytes().starts_with(root) {
                    root.len()
                } else {
                    0
                };
                r.filename = PathBuf::from(path);
                r.query = query;
                Ok(true)
            }
            Action::Uri { path, query } => {
                let raw: String = escape_path(path.as_bytes()).collect();
                let mut uri = Vec::with_capacity(raw.len());
                uri_path::normalise(&raw, &mut uri).map_err(Exit::Status)?;
                r.uri = uri;
                r.query = query;
                Ok(false)
            }
            Action::Proxy { url } => {
                r.notes.set(PROXY_NOTE, url);
                r.handler = Some(HandlerName::ProxyServer);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// mod_rewrite in directory context (Apache's `fixups` hook, run
    /// before mod_dir): an internal redirect, a redirect, a status, a
    /// proxy request; then the `[T=]`/`[H=]` the rules forced.
    pub(crate) fn rewrite_fixups(&self, host: &Host, r: &mut RequestState<'_>) -> Result<(), Exit> {
        let run = r.dir.rewrite.clone().filter(|cfg| {
            cfg.enabled()
                && !cfg.rules().is_empty()
                && r.notes.get(END_NOTE).is_none()
                && r.handler != Some(HandlerName::ProxyServer)
                && !r.filename.as_os_str().is_empty()
        });
        if let Some(cfg) = run {
            let out = {
                let mut filename = text(r.filename.as_os_str().as_bytes());
                // Apache's directory walk keeps the slash of `/dir/`.
                if r.uri.ends_with(b"/") && r.finfo.as_ref().is_some_and(|m| m.is_dir()) {
                    filename.to_mut().push('/');
                }
                let path_info = text(&r.path_info);
                let path = r.uri_text();
                let vars = self.request_vars(host, r, &path, Some(&filename), Some(&path_info));
                cfg.dir_pass(
                    &vars,
                    &host.rewrite.maps,
                    DirRequest {
                        unparsed_uri: r.request_uri(),
                        filename: &filename,
                        path_info: &path_info,
                        query: r.query.as_deref(),
                        symlinks_allowed: r.dir.options().follow_symlinks,
                        limit_request_line: LIMIT_REQUEST_LINE,
                    },
                )
            };
            if out.path_info.is_some() {
                r.path_info.clear();
            }
            match apply(r, out)? {
                Action::InternalRedirect { path, query } => {
                    let mut url: String = escape_path(path.as_bytes()).collect();
                    if let Some(q) = query {
                        url.push('?');
                        url.push_str(&q);
                    }
                    return Err(Exit::Redirect(url));
                }
                Action::Proxy { url } => {
                    r.notes.set(PROXY_NOTE, url);
                    r.handler = Some(HandlerName::ProxyServer);
                }
                _ => {}
            }
        }
        if let Some(t) = r.notes.get(TYPE_NOTE) {
            r.content_type = HeaderValue::from_str(t).ok();
        }
        if let Some(h) = r.notes.get(HANDLER_NOTE) {
            r.handler = Some(HandlerName::parse(h));
        }
        Ok(())
    }

    /// The request as the rules read it.
    fn request_vars<'r>(
        &'r self,
        host: &'r Host,
        r: &'r RequestState<'_>,
        path: &'r str,
        filename: Option<&'r str>,
        path_info: Option<&'r str>,
    ) -> HttpVars<'r> {
        HttpVars {
            method: r.method(),
            target: r.original_uri(),
            version: r.version(),
            headers: r.headers(),
            conn: r.conn,
            path,
            query: Some(r.query.as_deref()),
            filename,
            path_info,
            document_root: host.document_root.to_str().unwrap_or(""),
            server_name: &host.server_name,
            server_admin: "",
            server_software: &self.status.server_version,
            remote_user: r.user.as_deref(),
            handler: None,
            env: &r.subprocess_env,
            response: None,
            is_subrequest: false,
        }
    }
}

/// What every outcome changes (environment, cookies, `Vary`, notes), and
/// the answer for a status or a redirect; the action is left to the pass.
fn apply(r: &mut RequestState<'_>, out: Outcome) -> Result<Action, Exit> {
    for (name, value) in out.env {
        match value {
            Some(v) => r.subprocess_env.set(name, v),
            None => r.subprocess_env.unset(&name),
        }
    }
    for cookie in &out.cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            r.err_headers_out.append(SET_COOKIE, value);
        }
    }
    if let Some(t) = out.content_type {
        r.notes.set(TYPE_NOTE, t);
    }
    if let Some(h) = out.handler {
        r.notes.set(HANDLER_NOTE, h);
    }
    if !out.vary.is_empty() {
        let mut names: Vec<String> = r
            .notes
            .get(VARY_NOTE)
            .map(|v| v.split(", ").map(str::to_string).collect())
            .unwrap_or_default();
        for name in &out.vary {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.clone());
            }
        }
        crate::pipeline::phases::merge_vary(
            &mut r.headers_out,
            out.vary.iter().map(String::as_str),
        );
        r.notes.set(VARY_NOTE, names.join(", "));
    }
    if out.end {
        r.notes.set(END_NOTE, "1");
    }
    if let Some(q) = out.query {
        r.query = q;
    }
    if let Some(e) = &out.error {
        log::error!("[client {}] {e}", r.conn.peer.ip());
    }
    match out.action {
        Action::Status(code) => Err(Exit::Status(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )),
        Action::Redirect { location, status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
            Err(Exit::respond(redirect(status, &location)))
        }
        other => Ok(other),
    }
}
