//! The `cgi-script` handler: what the request pipeline found (the
//! script's file, its path info, the per-directory `Options`) made into
//! a run of the script ([`super::run`]).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use mpm_core::Response;

use super::{run, Outcome, Run, SCRIPT_ALIASED};
use crate::cgi::{CgiEnv, CgiRequest, ResponseLimits};
use crate::pipeline::handler::ContentHandler;
use crate::pipeline::request::{Exit, RequestState};
use crate::script::ScriptCommand;

/// Apache's `Timeout` default, for a `CgiConfig` without one.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// mod_cgi's handler for a site.
#[derive(Debug)]
pub struct CgiHandler {
    timeout: Duration,
    server_software: Arc<str>,
    /// Each host's `DocumentRoot`, numbered as the router numbers hosts.
    document_roots: Vec<PathBuf>,
}

impl CgiHandler {
    /// The handler with `config`'s timeout, `server_software` as
    /// `SERVER_SOFTWARE`, and the hosts' document roots.
    pub fn new(
        config: &super::CgiConfig,
        server_software: &str,
        document_roots: Vec<PathBuf>,
    ) -> CgiHandler {
        CgiHandler {
            timeout: config.timeout.unwrap_or(DEFAULT_TIMEOUT),
            server_software: server_software.into(),
            document_roots,
        }
    }
}

/// The script's file as the error log shows it.
fn shown(r: &RequestState<'_>) -> String {
    r.filename.display().to_string()
}

/// What mod_cgi and mod_fcgid check before they run a script: `Options
/// ExecCGI` (not needed below a `ScriptAlias`), then that the script is a
/// regular file (unless `virtual`, a wrapper that needs none): 403 or 404
/// with Apache's log line.
pub fn check_script(r: &RequestState<'_>, virtual_script: bool) -> Result<(), Exit> {
    let client = r.conn.peer.ip();
    let aliased = r.notes.get(SCRIPT_ALIASED) == Some("cgi-script");
    if !aliased && !r.dir.options().exec_cgi {
        log::error!(
            "[client {client}] AH02809: Options ExecCGI is off in this directory: {}",
            shown(r)
        );
        return Err(Exit::Status(StatusCode::FORBIDDEN));
    }
    if virtual_script {
        return Ok(());
    }
    match &r.finfo {
        None => {
            log::error!(
                "[client {client}] AH02811: script not found or unable to stat: {}",
                shown(r)
            );
            Err(Exit::Status(StatusCode::NOT_FOUND))
        }
        Some(meta) if meta.is_dir() => {
            log::error!(
                "[client {client}] AH01218: attempt to invoke directory as script: {}",
                shown(r)
            );
            Err(Exit::Status(StatusCode::FORBIDDEN))
        }
        Some(meta) if !meta.is_file() => {
            log::error!(
                "[client {client}] script is not a regular file: {}",
                shown(r)
            );
            Err(Exit::Status(StatusCode::FORBIDDEN))
        }
        Some(_) => Ok(()),
    }
}

impl ContentHandler for CgiHandler {
    fn handle(&self, r: &mut RequestState<'_>) -> Result<Response, Exit> {
        check_script(r, false)?;
        let name = shown(r);
        let nph = r
            .filename
            .file_name()
            .is_some_and(|n| n.as_bytes().starts_with(b"nph-"));
        let mut command = ScriptCommand::new(r.filename.clone());
        command.env = environment(r, &self.server_software, &self.document_roots);
        let mut request = r.take_request();
        let how = Run {
            command: &command,
            name: &name,
            nph,
            timeout: self.timeout,
            limits: ResponseLimits::default(),
        };
        match run(&how, request.body_mut()) {
            Outcome::Response(response) => Ok(response),
            // Apache serves a local Location as a GET of that URL.
            Outcome::LocalRedirect(location) => Err(Exit::Redirect(location)),
        }
    }
}

/// The CGI/1.1 environment of `r` (RFC 3875, [`crate::cgi::env`]), as a
/// child process's.
pub fn environment(
    r: &RequestState<'_>,
    server_software: &str,
    document_roots: &[PathBuf],
) -> Vec<(OsString, OsString)> {
    cgi_env(r, server_software, document_roots)
        .vars()
        .iter()
        .map(|(name, value)| (OsString::from(name), OsString::from_vec(value.clone())))
        .collect()
}

/// The CGI/1.1 environment of `r` (RFC 3875, [`crate::cgi::env`]), as
/// FastCGI `PARAMS` take it.
pub fn cgi_env(r: &RequestState<'_>, server_software: &str, document_roots: &[PathBuf]) -> CgiEnv {
    let headers = r.headers();
    let method = r.method().clone();
    let mut cgi = CgiRequest::new(
        &method,
        r.version(),
        r.request_uri(),
        headers,
        r.conn.local,
        r.conn.peer,
    );
    let document_root = document_roots
        .get(r.vhost)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let script_name_len = r.uri.len().saturating_sub(r.path_info.len());
    let script_name = String::from_utf8_lossy(&r.uri[..script_name_len]).into_owned();
    let path_info = String::from_utf8_lossy(&r.path_info).into_owned();
    let script_filename = r.filename.to_string_lossy().into_owned();
    let env: Vec<(String, String)> = r
        .subprocess_env
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    // The host as the client named it, else `ServerName` (Apache's
    // `UseCanonicalName Off`, as mod_proxy_fcgi's environment has it).
    let server_name = r
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map_or(&*r.server_name, crate::router::host_without_port)
        .to_string();
    cgi.server_name = &server_name;
    cgi.server_port = r.conn.local.port();
    cgi.server_software = server_software;
    cgi.https = r.conn.tls.is_some();
    cgi.document_root = &document_root;
    cgi.script_filename = &script_filename;
    cgi.script_name = &script_name;
    cgi.path_info = &path_info;
    cgi.query = r.query.as_deref();
    cgi.remote_user = r.user.as_deref();
    cgi.auth_type = r.auth_type.as_deref();
    cgi.pass_auth = r.dir.scripts.pass_auth();
    cgi.env = &env;
    cgi.environment()
}
