//! mod_cgi: a request answered by a program the server starts for it
//! (`ScriptAlias`, or `AddHandler cgi-script` where `Options ExecCGI` is
//! on), with the request's CGI/1.1 environment ([`crate::cgi::env`]), the
//! request body on its standard input and its output read back as a CGI
//! response ([`crate::cgi::response`]).
//!
//! - [`handler`]: the `cgi-script` handler of the request pipeline: the
//!   file the pipeline found is the script, what follows it `PATH_INFO`;
//!   403 where `Options ExecCGI` is off (except below a `ScriptAlias`), a
//!   missing script 404, a directory 403, each with a log line.
//! - [`run`]: start the program ([`crate::script`]), send it the body,
//!   read its head and make the response; a script that makes no progress
//!   for `CGIScriptTimeout` (default `Timeout`) is cut off (504 before its
//!   head, the connection closed after), a head that is not a CGI response
//!   (garbage, no end, `Status: 99`, a `Location` with CR or LF, too many
//!   or too large fields) is a 502, each with one error-log line naming
//!   the script.
//! - [`body`]: how the output reaches the client. It is read into memory
//!   (64 KiB) and then an unlinked temporary file for as long as the
//!   script keeps writing, up to [`body::SPOOL_WAIT`] and
//!   [`body::SPOOL_FILE`]: a script that ends within that is answered
//!   from memory or the file, which the event strategy's loop writes to a
//!   slow client with no thread held (and the others with `sendfile`),
//!   and the script is gone at once. Output that goes on longer is
//!   streamed as the script writes it, holding the thread as the script
//!   runs, as Apache does.
//!
//! Non-parsed-header scripts (`nph-` names) write their own status line:
//! it and their fields are read (bounded as any head) and their body is
//! passed on as they wrote it, bounded and timed out the same; the server
//! frames it itself (so a kept-alive connection stays usable), which is
//! the one difference from Apache, which copies the bytes unframed.

pub mod body;
pub mod handler;

use std::io::Read;
use std::time::Duration;

use http::header::{HeaderValue, LOCATION, SET_COOKIE};
use http::StatusCode;
use mpm_core::{Body, Response};

use crate::cgi::{read_head, CgiHead, Disposition, ReadHeadError, ResponseLimits};
use crate::pages::{error_response, redirect};
use crate::script::{ScriptCommand, ScriptError};

pub use handler::CgiHandler;

/// The note `ScriptAlias` leaves on a request (Apache's
/// `alias-forced-type`): its script runs without `Options ExecCGI`.
pub const SCRIPT_ALIASED: &str = "alias-forced-type";

/// mod_cgi's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgiConfig {
    /// `CGIScriptTimeout`: how long a script may make no progress; `None`
    /// takes the server's `Timeout`.
    pub timeout: Option<Duration>,
}

/// What a script's run ends in.
#[derive(Debug)]
pub enum Outcome {
    /// The answer to send.
    Response(Response),
    /// The script asked for a local redirect (`Location: /path` with no
    /// `Status`): the server serves that path in place of this request,
    /// as a `GET`.
    LocalRedirect(String),
}

/// How one script is run.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// The program and its environment.
    pub command: &'a ScriptCommand,
    /// How the error log names it (its file).
    pub name: &'a str,
    /// A non-parsed-header script (`nph-`).
    pub nph: bool,
    /// `CGIScriptTimeout`, or `Timeout`.
    pub timeout: Duration,
    /// The bounds on its head.
    pub limits: ResponseLimits,
}

/// Run the script for one request whose body is `body`.
pub fn run(how: &Run<'_>, body: &mut dyn Read) -> Outcome {
    let mut script = match how.command.spawn(how.name, how.timeout) {
        Ok(script) => script,
        Err(e) => {
            // AH01241: exec of '…' failed / couldn't create child process.
            log::error!("AH01241: {e}");
            return Outcome::Response(error_response(StatusCode::INTERNAL_SERVER_ERROR));
        }
    };
    match script.send_body(body) {
        Ok(_) => {}
        // The engine answers for the body itself (413, 408, 400).
        Err(ScriptError::Body { .. }) => {
            return Outcome::Response(error_response(StatusCode::BAD_REQUEST))
        }
        Err(e @ ScriptError::Timeout { .. }) => {
            log::error!("AH01220: {e}");
            return Outcome::Response(closing(error_response(StatusCode::GATEWAY_TIMEOUT)));
        }
        Err(e) => {
            log::error!("{e}");
            return Outcome::Response(error_response(StatusCode::INTERNAL_SERVER_ERROR));
        }
    }
    let head = if how.nph {
        read_nph_head(&mut script, how.limits)
    } else {
        read_head(&mut script, how.limits)
    };
    let (head, start) = match head {
        Ok(parsed) => parsed,
        Err(ReadHeadError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            log::error!(
                "AH01220: {}",
                e.into_inner().map_or_else(String::new, |e| e.to_string())
            );
            return Outcome::Response(closing(error_response(StatusCode::GATEWAY_TIMEOUT)));
        }
        Err(e) => {
            log::error!("AH01215: bad response from script {}: {e}", how.name);
            return Outcome::Response(error_response(StatusCode::BAD_GATEWAY));
        }
    };
    if !how.nph {
        match head.disposition() {
            Disposition::Document => {}
            Disposition::LocalRedirect(location) => {
                // The body is discarded, the script ended by the reaper.
                return Outcome::LocalRedirect(location);
            }
            Disposition::ClientRedirect => return Outcome::Response(client_redirect(&head)),
        }
    }
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = head.status;
    *response.headers_mut() = head.headers;
    // The server frames the body itself, from what the script sends.
    response.headers_mut().remove(http::header::CONTENT_LENGTH);
    *response.body_mut() = body::spool(script, how.name, start, head.content_length);
    Outcome::Response(response)
}

/// A 302 with the script's `Location` and cookies, and the server's own
/// body (Apache's answer to `Location: http://…` without `Status`).
fn client_redirect(head: &CgiHead) -> Response {
    let location = head
        .headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("/");
    let mut response = redirect(StatusCode::FOUND, location);
    for cookie in head.headers.get_all(SET_COOKIE) {
        response.headers_mut().append(SET_COOKIE, cookie.clone());
    }
    response
}

/// An answer after which the connection closes (the script's input may
/// be half sent, its output half read).
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The head of a non-parsed-header script: its status line
/// (`HTTP/1.1 200 OK`), then fields as any CGI head (so bounded and
/// checked the same).
fn read_nph_head(
    output: &mut dyn Read,
    limits: ResponseLimits,
) -> Result<(CgiHead, Vec<u8>), ReadHeadError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match output.read(&mut byte)? {
            0 => return Err(crate::cgi::BadCgiResponse::Empty.into()),
            _ if byte[0] == b'\n' => break,
            _ if line.len() >= 1024 => {
                return Err(crate::cgi::BadCgiResponse::TooLarge(1024).into())
            }
            _ => line.push(byte[0]),
        }
    }
    let status = nph_status(&line).ok_or_else(|| {
        let shown = String::from_utf8_lossy(&line[..line.len().min(80)])
            .escape_debug()
            .to_string();
        crate::cgi::BadCgiResponse::BadStatus(shown)
    })?;
    let (mut head, start) = read_head(output, limits)?;
    head.status = status;
    head.status_given = true;
    Ok((head, start))
}

/// The status of an `HTTP/1.x NNN reason` line (200–599).
fn nph_status(line: &[u8]) -> Option<StatusCode> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))?;
    let code = rest.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || rest.get(3).is_some_and(|&b| b != b' ') {
        return None;
    }
    StatusCode::from_bytes(code)
        .ok()
        .filter(|s| (200..600).contains(&s.as_u16()))
}

#[cfg(test)]
mod tests;
