//! mod_proxy_fcgi: one request to a FastCGI application (php-fpm) at a
//! `fcgi://` worker, over TCP or a Unix socket.
//!
//! The request's CGI/1.1 environment ([`crate::cgi::env`]) goes as
//! `PARAMS`, its body as `STDIN` records as the client sends it (bounded
//! by `LimitRequestBody`, which the body's reader enforces; a chunked
//! body is first read up to 16 KiB so that one that ends there goes with
//! its `CONTENT_LENGTH`, as Apache 2.4 sends it, `proxy-sendcl` to have
//! a longer one spooled to learn its length too),
//! and the
//! application's `STDOUT` is read as a CGI answer
//! ([`crate::cgi::response`]): its status and fields to the client, its
//! body streamed (flushed whenever the application has nothing more
//! ready, so a page that `flush()`es reaches the browser at once), never
//! held whole. `STDERR` goes to the error log a line at a time, naming
//! the worker and the script. As Apache's mod_proxy_fcgi, the answer is
//! passed as the script gave it: a `Location` is not followed here.
//!
//! Two ways lead here: a `ProxyPass … fcgi://…` rule (`SCRIPT_FILENAME`
//! is the backend URL's path and the rest of the request's), and
//! `SetHandler "proxy:unix:/run/php/php-fpm.sock|fcgi://localhost"`
//! ([`ProxyHandler`], Debian's php-fpm configuration): there the file
//! the URL maps to is the script (`SCRIPT_FILENAME`, with the request's
//! `PATH_INFO` and variables), and a script that does not exist is a 404
//! from mpmd, never passed to PHP.
//!
//! The worker's pool keeps connections only with `enablereuse=on`
//! (`FCGI_KEEP_CONN` is then asked for); a connection goes back to it
//! once `END_REQUEST` came and nothing followed. A pooled connection that
//! fails before any byte of the request reached a live application is
//! replaced by a new one, once.
//!
//! Failures, each one error-log line naming the worker (its socket or
//! address) and the cause: no connection (refused, no socket, the worker
//! in its `retry=` error state) or an application that refuses the
//! request (`FCGI_OVERLOADED`) → 503; no answer within the worker's
//! timeout (`timeout=`, `ProxyTimeout`, `Timeout`) → 504; records that
//! are not FastCGI, an answer that ends before its head, or a head that
//! is not a valid CGI answer (`Status: 99`, a CR in `Location`, more than
//! the limits) → 502. Once the head went to the client, a broken or
//! stalled answer ends the client's response with an error, so its
//! connection is closed rather than a truncated body looking complete.

use std::io::{self, Read, Seek, Write};
use std::path::Path;
use std::sync::Arc;

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Method, StatusCode};
use mpm_core::{Body, BodyWriter, ConnInfo, Request, Response};

use super::config::{FcgiBackendType, ProxyConfig};
use super::worker::{BackendStream, ConnectError, Worker};
use crate::cgi::{read_head, CgiRequest, ReadHeadError, ResponseLimits, ScriptDir};
use crate::fastcgi::{self, SendError, Stdout};
use crate::log_escape::{escape, Quotes};
use crate::pages::error_response;

/// Bytes moved per read of the answer's body.
const BUF: usize = 64 * 1024;

/// What the exchange knows of the request and this server.
pub(crate) struct Context<'a> {
    /// `SCRIPT_FILENAME` (see [`script_filename`]).
    pub(crate) script_filename: String,
    /// `SCRIPT_NAME`: the decoded URL path of the script.
    pub(crate) script_name: &'a str,
    /// `PATH_INFO` (empty: none).
    pub(crate) path_info: &'a str,
    /// `REQUEST_URI`, when an internal redirect changed it (`None`: the
    /// request's target).
    pub(crate) request_uri: Option<&'a str>,
    /// `QUERY_STRING`, when an internal redirect changed it.
    pub(crate) query: Option<&'a str>,
    /// The request's variables (`SetEnv`, the `REDIRECT_*` of an internal
    /// redirect).
    pub(crate) env: &'a [(String, String)],
    /// `REMOTE_USER` and `AUTH_TYPE`.
    pub(crate) user: Option<&'a str>,
    pub(crate) auth_type: Option<&'a str>,
    /// `CGIPassAuth` and `ProxyFCGISetEnvIf` where the request is.
    pub(crate) scripts: &'a ScriptDir,
    pub(crate) conn: &'a ConnInfo,
    pub(crate) server_name: &'a str,
    pub(crate) server_version: &'a str,
    pub(crate) document_root: &'a Path,
}

/// `SCRIPT_FILENAME` of the script at `path` (decoded) on `worker`, as
/// Apache writes it for `ProxyFCGIBackendType`: FPM,
/// `proxy:fcgi://host:port/path` (php-fpm takes the path after the
/// address); GENERIC, the path alone.
pub(crate) fn script_filename(worker: &Worker, cfg: &ProxyConfig, path: &str) -> String {
    match cfg.fcgi_backend_type {
        FcgiBackendType::Fpm => format!("proxy:fcgi://{}{path}", worker.config.url.authority()),
        FcgiBackendType::Generic => path.to_string(),
    }
}

/// Pass `req` to the FastCGI application at `worker` and return its
/// answer (or the proxy's own 502, 503 or 504).
pub(crate) fn forward(worker: &Arc<Worker>, req: Request<'_>, ctx: &Context<'_>) -> Response {
    let script_filename = ctx.script_filename.as_str();
    let keep_conn = !worker.config.disable_reuse;
    let to_head = req.method() == Method::HEAD;
    let chunked = req.headers().contains_key(TRANSFER_ENCODING)
        && !req.headers().contains_key(CONTENT_LENGTH);
    let has_body = chunked
        || req
            .headers()
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let mut env = environment(&req, ctx);
    let (head, mut client_body) = req.into_parts();
    let mut body = if chunked {
        let sendcl = ctx.env.iter().any(|(name, _)| name == "proxy-sendcl");
        match measure_body(&mut client_body, sendcl) {
            Ok((body, Some(length))) => {
                env.set("CONTENT_LENGTH", length.to_string().as_bytes());
                env.remove("HTTP_TRANSFER_ENCODING");
                body
            }
            Ok((body, None)) => body,
            Err(e) => {
                log::info!(
                    "proxy_fcgi: {}: the client's request body could not be read ({e})",
                    worker.name
                );
                return error_response(StatusCode::BAD_REQUEST);
            }
        }
    } else {
        ClientBody::Direct(&mut client_body)
    };
    // The administrator's last word on what goes (Apache's fix_cgivars).
    ctx.scripts.apply_fcgi_set_env(&mut env, &head.headers);

    let stream = {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (mut stream, reused) = match worker.checkout() {
                Some(s) if attempt == 1 => (s, true),
                _ => match connect(worker) {
                    Some(s) => (s, false),
                    None => return error_response(StatusCode::SERVICE_UNAVAILABLE),
                },
            };
            let mut head = Vec::with_capacity(2048);
            fastcgi::write_request(&mut head, keep_conn, &env);
            if reused && has_body {
                // The head alone first: if the pooled connection is dead,
                // nothing of the client's body has been read yet.
                if stream.write_all(&head).is_err() {
                    continue;
                }
                head.clear();
            }
            match fastcgi::send_stdin(&mut stream, head, &mut body) {
                Ok(_) => break stream,
                Err(SendError::Backend(_)) if reused && !has_body => continue,
                Err(SendError::Backend(e)) => {
                    log::error!(
                        "proxy_fcgi: {}: sending the request to the application failed: {e}; 502",
                        worker.name
                    );
                    return error_response(StatusCode::BAD_GATEWAY);
                }
                Err(SendError::Client(e)) => {
                    log::info!(
                        "proxy_fcgi: {}: the client's request body could not be read ({e})",
                        worker.name
                    );
                    return error_response(StatusCode::BAD_REQUEST);
                }
            }
        }
    };
    // Its reads and writes wait at most the worker's timeout: set when it
    // was made (`Worker::open`).
    let stderr = {
        let (name, script) = (worker.name.clone(), script_filename.to_string());
        Box::new(move |line: &[u8]| {
            let mut text = String::with_capacity(line.len());
            escape(line, Quotes::Kept, &mut text);
            log::error!("proxy_fcgi: {name}: {script}: stderr: {text}");
        })
    };
    let release: Option<fastcgi::client::Release<BackendStream>> = keep_conn.then(|| {
        let worker = worker.clone();
        Box::new(move |s: BackendStream| worker.checkin(s, None)) as _
    });
    let mut stdout = Stdout::new(stream, stderr, release);
    let (head, start) = match read_head(&mut stdout, ResponseLimits::default()) {
        Ok(answer) => answer,
        Err(e) => return failed(worker, script_filename, e),
    };

    let mut response = Response::new(Body::Empty);
    *response.status_mut() = head.status;
    *response.headers_mut() = head.headers;
    let length = head.content_length;
    // A small answer that came whole with its head leaves in one write.
    let mut whole = start;
    let mut buf = [0u8; 1024];
    while whole.len() < BUF {
        match stdout.read_buffered(&mut buf) {
            Ok(0) => break,
            Ok(n) => whole.extend_from_slice(&buf[..n]),
            Err(e) => return failed(worker, script_filename, ReadHeadError::Io(e)),
        }
    }
    if to_head || head.status == StatusCode::NO_CONTENT || head.status == StatusCode::NOT_MODIFIED {
        // No body goes to the client; a HEAD answer keeps the length the
        // script gave.
        *response.body_mut() = match length {
            Some(n) if to_head && n > 0 => Body::Reader {
                reader: Box::new(io::empty()),
                len: Some(n),
            },
            _ => Body::Empty,
        };
        if !to_head {
            response.headers_mut().remove(CONTENT_LENGTH);
        }
        return response;
    }
    if stdout.is_ended() {
        if let Some(n) = length {
            if n != whole.len() as u64 {
                log::error!(
                    "proxy_fcgi: {}: {script_filename}: the script's Content-Length says {n} bytes, its body has {}; 502",
                    worker.name,
                    whole.len()
                );
                return error_response(StatusCode::BAD_GATEWAY);
            }
        }
        *response.body_mut() = if whole.is_empty() {
            Body::Empty
        } else {
            Body::Bytes(whole.into())
        };
        return response;
    }
    let name = worker.name.clone();
    *response.body_mut() = match length {
        Some(len) => {
            // Sent with its length: exactly that many bytes, or the
            // client's connection is closed.
            let reader = Exact {
                inner: io::Cursor::new(whole).chain(stdout),
                left: len,
                name,
            };
            Body::Reader {
                reader: Box::new(reader),
                len: Some(len),
            }
        }
        None => Body::writer(move |out| stream_out(whole, stdout, out, &name)),
    };
    response
}

/// The request's CGI environment, as mod_proxy_fcgi gives it.
fn environment(req: &Request<'_>, ctx: &Context<'_>) -> crate::cgi::CgiEnv {
    let uri = req.uri();
    let request_uri = ctx
        .request_uri
        .unwrap_or_else(|| uri.path_and_query().map_or("/", |pq| pq.as_str()));
    let headers = req.headers();
    let (server_name, server_port) = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| split_host_port(h.trim()))
        .unwrap_or((ctx.server_name, None));
    let document_root = ctx.document_root.to_string_lossy();
    let mut cgi = CgiRequest::new(
        req.method(),
        req.version(),
        request_uri,
        headers,
        ctx.conn.local,
        ctx.conn.peer,
    );
    cgi.server_name = server_name;
    cgi.server_port = server_port.unwrap_or(0);
    cgi.server_software = ctx.server_version;
    cgi.https = ctx.conn.is_secure();
    cgi.document_root = &document_root;
    cgi.script_filename = &ctx.script_filename;
    cgi.script_name = ctx.script_name;
    cgi.path_info = ctx.path_info;
    cgi.query = ctx.query.or(uri.query());
    cgi.env = ctx.env;
    cgi.remote_user = ctx.user;
    cgi.auth_type = ctx.auth_type;
    cgi.pass_auth = ctx.scripts.pass_auth();
    let env = cgi.environment();
    for name in &env.skipped_headers {
        log::debug!("proxy_fcgi: not exporting header with invalid name as envvar: {name}");
    }
    env
}

/// The most of a chunked request body kept in memory to learn its length
/// (Apache's `MAX_MEM_SPOOL`).
const MAX_MEM_SPOOL: usize = 16 * 1024;

/// The client's request body on its way to the application.
enum ClientBody<'a> {
    /// Read from the client as it is sent.
    Direct(&'a mut dyn Read),
    /// Its first bytes, read to learn its length, then the rest.
    Prefetched(io::Chain<io::Cursor<Vec<u8>>, &'a mut dyn Read>),
    /// Read whole into an unlinked temporary file.
    Spooled(std::fs::File),
}

impl Read for ClientBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientBody::Direct(r) => r.read(buf),
            ClientBody::Prefetched(r) => r.read(buf),
            ClientBody::Spooled(f) => f.read(buf),
        }
    }
}

/// A body without a `Content-Length` (chunked), as Apache's
/// mod_proxy_fcgi sends it: up to [`MAX_MEM_SPOOL`] bytes are read
/// first; a body that ended within them goes with its length
/// (`CONTENT_LENGTH`, which PHP needs to read a body). A longer one is
/// streamed without a length, unless the request has the variable
/// `proxy-sendcl` (`SetEnv proxy-sendcl 1`): then it is read whole into a
/// temporary file first and goes with its length.
fn measure_body(body: &mut dyn Read, sendcl: bool) -> io::Result<(ClientBody<'_>, Option<u64>)> {
    let mut start = Vec::new();
    body.take(MAX_MEM_SPOOL as u64 + 1)
        .read_to_end(&mut start)?;
    if start.len() <= MAX_MEM_SPOOL {
        let length = start.len() as u64;
        return Ok((
            ClientBody::Prefetched(io::Cursor::new(start).chain(body)),
            Some(length),
        ));
    }
    if !sendcl {
        return Ok((
            ClientBody::Prefetched(io::Cursor::new(start).chain(body)),
            None,
        ));
    }
    let mut file = tempfile::tempfile()?;
    file.write_all(&start)?;
    let rest = io::copy(body, &mut file)?;
    file.rewind()?;
    Ok((ClientBody::Spooled(file), Some(start.len() as u64 + rest)))
}

/// `host[:port]` of a `Host` header (an IPv6 address in brackets).
fn split_host_port(host: &str) -> (&str, Option<u16>) {
    if let Some(v6) = host.strip_prefix('[') {
        return match v6.split_once(']') {
            Some((addr, rest)) => (addr, rest.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (host, None),
        },
        None => (host, None),
    }
}

/// A new connection, or `None` when there is none (the reason logged:
/// the request gets 503).
fn connect(worker: &Worker) -> Option<BackendStream> {
    match worker.connect() {
        Ok(stream) => Some(stream),
        Err(ConnectError::InError(left)) => {
            log::error!(
                "proxy_fcgi: {}: the application is in its error state for {} s more (retry=); 503 without trying",
                worker.name,
                left.as_secs() + 1
            );
            None
        }
        Err(ConnectError::Failed(e)) => {
            log::error!(
                "proxy_fcgi: {}: could not connect ({e}); 503, the application is in error for {} s (retry=)",
                worker.name,
                worker.config.retry.as_secs()
            );
            None
        }
    }
}

/// The proxy's answer when no valid head came, logged.
fn failed(worker: &Worker, script: &str, e: ReadHeadError) -> Response {
    let (status, why) = match e {
        ReadHeadError::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            (
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "no answer within {} s (timeout=, ProxyTimeout)",
                    worker.timeout.as_secs_f64()
                ),
            )
        }
        ReadHeadError::Io(e) if e.kind() == io::ErrorKind::Other => {
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        ReadHeadError::Io(e) if e.kind() == io::ErrorKind::InvalidData => (
            StatusCode::BAD_GATEWAY,
            format!("a broken FastCGI record: {e}"),
        ),
        ReadHeadError::Io(e) => (StatusCode::BAD_GATEWAY, e.to_string()),
        ReadHeadError::Bad(e) => (StatusCode::BAD_GATEWAY, e.to_string()),
    };
    log::error!(
        "proxy_fcgi: {}: {script}: {why}; {}",
        worker.name,
        status.as_u16()
    );
    error_response(status)
}

/// Copy a body of unknown length to the client, flushing whenever the
/// application has nothing more ready.
fn stream_out(
    start: Vec<u8>,
    mut stdout: Stdout<BackendStream>,
    out: &mut BodyWriter<'_>,
    name: &str,
) -> io::Result<()> {
    if !start.is_empty() {
        out.write_all(&start)?;
    }
    drop(start);
    let mut buf = vec![0u8; BUF];
    loop {
        if !stdout.ready() {
            out.flush()?;
        }
        let n = stdout.read(&mut buf).map_err(|e| body_failed(name, e))?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])?;
    }
}

/// An answer that failed after its head: logged; the error closes the
/// client's connection.
fn body_failed(name: &str, e: io::Error) -> io::Error {
    log::error!(
        "proxy_fcgi: {name}: the answer's body failed: {e}; closing the client's connection"
    );
    e
}

/// A body with the script's `Content-Length`: exactly `left` bytes, an
/// error when the answer ends short (the bytes past it are dropped).
struct Exact<R> {
    inner: R,
    left: u64,
    name: String,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = out
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self
            .inner
            .read(&mut out[..max])
            .map_err(|e| body_failed(&self.name, e))?;
        if n == 0 {
            let e = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the body ended {} bytes before its Content-Length",
                    self.left
                ),
            );
            return Err(body_failed(&self.name, e));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_header_gives_the_server_name_and_port() {
        assert_eq!(
            split_host_port("www.example:8080"),
            ("www.example", Some(8080))
        );
        assert_eq!(split_host_port("www.example"), ("www.example", None));
        assert_eq!(split_host_port("[::1]:81"), ("::1", Some(81)));
        assert_eq!(split_host_port("[::1]"), ("::1", None));
        assert_eq!(split_host_port("a:b"), ("a:b", None));
    }
}
