//! One request through the proxy: a connection from the worker's pool
//! (or a new one), the request head and body streamed to the backend,
//! the response head read and its body handed to the server: as bytes
//! when it came whole with the head (a small answer leaves in one write
//! and its connection goes back to the pool at once), else as a stream
//! ([`BackendBody`]) that gives the connection back to the pool at its
//! end: a reader when its length is known (the length is kept), else a
//! writer that flushes whenever it has passed on all the backend sent so
//! far, so a stream of events is not held back.
//!
//! Retries follow pingora's rule: a request goes again on another
//! connection, whatever its method, when writing its head to a pooled
//! connection failed (nothing of it reached a live backend); a pooled
//! connection that ends or resets before any byte of an answer is retried
//! only for an idempotent request whose body (if any) was not yet read
//! from the client. A fresh connection is never retried.
//!
//! Failures, as Apache answers them, each with one line in the error log
//! naming the backend and the cause: a connection refused or not made
//! within `connectiontimeout=`, or a worker still in its error state →
//! 503; no answer within the timeout → 504; an answer that is not a valid
//! HTTP/1.x head, or none at all → 502. Once the head has been passed on,
//! a backend that ends its body early, sends broken chunked framing or
//! stops answering ends the stream with an error, and the server closes
//! the client's connection: the client never sees a truncated body that
//! looks complete (no last chunk, or fewer bytes than `Content-Length`).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{Method, StatusCode};
use mpm_core::h1::{BodyDecoder, Framing};
use mpm_core::{Body, BodyWriter, Request, Response, Tunnel};

use super::config::ProxyConfig;
use super::headers::{self, Incoming, Outgoing, RequestFraming};
use super::response::{list, parse_response_head, ResponseFraming, ResponseHead};
use super::worker::{BackendStream, ConnectError, Worker};
use crate::pages::error_response;

/// Bytes moved per read or write of a body, each way.
const BUF: usize = 64 * 1024;

/// The longest wait for a backend's `100 Continue` before the body is
/// sent anyway (RFC 9110 §10.1.1 lets a client stop waiting).
const CONTINUE_WAIT: Duration = Duration::from_secs(1);

/// What the exchange knows of the request and this server.
pub(super) struct Context<'a> {
    pub(super) cfg: &'a ProxyConfig,
    /// Path and query on the backend.
    pub(super) target: &'a str,
    pub(super) client_ip: String,
    pub(super) server_name: &'a str,
    pub(super) server_version: &'a str,
    /// `http://host` as the client reached this server.
    pub(super) public_base: &'a str,
}

/// Why reading a response head failed.
enum HeadFailure {
    /// The connection ended or reset before any byte of an answer.
    NoAnswer(io::Error),
    /// No answer within the timeout.
    TimedOut,
    /// An answer that ended early or is not valid.
    Bad(String),
}

/// Pass `req` to `worker` and return the backend's answer (or the
/// proxy's own 502, 503 or 504).
pub(super) fn forward(worker: &Arc<Worker>, mut req: Request<'_>, ctx: &Context<'_>) -> Response {
    let method = req.method().clone();
    let client = req.headers();
    let framing = if client.contains_key(TRANSFER_ENCODING) {
        RequestFraming::Chunked
    } else {
        match client
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        {
            Some(n) => RequestFraming::Length(n),
            None => RequestFraming::None,
        }
    };
    let has_body = matches!(
        framing,
        RequestFraming::Chunked | RequestFraming::Length(1..)
    );
    let expect_continue = has_body
        && client
            .get_all(EXPECT)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    // (A request with a body is passed without its Upgrade.)
    let upgrade = tunnel_protocol(worker, &req).filter(|_| !has_body);
    let mut head = Vec::with_capacity(1024);
    headers::write_request_head(
        &mut head,
        ctx.cfg,
        &Outgoing {
            method: &method,
            target: ctx.target,
            backend_authority: &worker.config.url.authority(),
            client_ip: &ctx.client_ip,
            server_name: ctx.server_name,
            server_version: ctx.server_version,
            framing,
        },
        client,
    );
    if let Some(protocol) = &upgrade {
        // The hop-by-hop fields were left out; a tunnel asks again, for
        // this hop, with the protocol the worker lets through.
        head.truncate(head.len() - 2);
        head.extend_from_slice(b"Connection: Upgrade\r\nUpgrade: ");
        head.extend_from_slice(protocol.as_bytes());
        head.extend_from_slice(b"\r\n\r\n");
    }
    let upgrading = upgrade.is_some();
    let idempotent = matches!(
        method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    );
    let to_head = method == Method::HEAD;
    let mut body_read = false;
    let mut attempts = 0;
    let (stream, answer, rbuf, reusable) = loop {
        attempts += 1;
        let (mut stream, reused) = match worker.checkout() {
            Some(s) if attempts <= worker.config.max_idle + 1 => (s, true),
            _ => match worker.connect() {
                Ok(s) => (s, false),
                Err(ConnectError::InError(left)) => {
                    log::error!(
                        "proxy: {}: the backend is in its error state for {} s more (retry=); \
                         503 without trying",
                        worker.name,
                        left.as_secs() + 1
                    );
                    return error_response(StatusCode::SERVICE_UNAVAILABLE);
                }
                Err(ConnectError::Failed(e)) => {
                    log::error!(
                        "proxy: {}: could not connect ({e}); the backend is in error for {} s (retry=)",
                        worker.name,
                        worker.config.retry.as_secs()
                    );
                    return error_response(StatusCode::SERVICE_UNAVAILABLE);
                }
            },
        };
        if let Err(e) = stream.write_all(&head) {
            if reused {
                // Nothing of it reached a live backend: again, on another.
                continue;
            }
            log::error!("proxy: {}: sending the request failed: {e}", worker.name);
            return error_response(StatusCode::BAD_GATEWAY);
        }
        let mut rbuf = Vec::with_capacity(8 * 1024);
        let mut early: Option<ResponseHead> = None;
        if has_body {
            if expect_continue {
                match wait_continue(&mut stream, &mut rbuf, to_head, upgrading, worker.timeout) {
                    Ok(Some(final_head)) => early = Some(final_head),
                    Ok(None) => {}
                    Err(HeadFailure::NoAnswer(_)) if reused && idempotent => continue,
                    Err(failure) => return failed(worker, failure),
                }
            }
            if early.is_none() {
                body_read = true;
                if let Err(e) = send_body(&mut stream, req.body_mut(), framing) {
                    match e {
                        SendFailure::Client(e) => {
                            log::info!(
                                "proxy: {}: the client's request body could not be read ({e})",
                                worker.name
                            );
                            return error_response(StatusCode::BAD_REQUEST);
                        }
                        SendFailure::Backend(e) => {
                            // It may have answered before it stopped reading.
                            match read_head(&mut stream, &mut rbuf, to_head, upgrading) {
                                Ok(head) => break (stream, head, rbuf, false),
                                Err(_) => {
                                    log::error!(
                                        "proxy: {}: sending the request body failed: {e}",
                                        worker.name
                                    );
                                    return error_response(StatusCode::BAD_GATEWAY);
                                }
                            }
                        }
                    }
                }
            }
        }
        if let Some(head) = early {
            // The body the head announced was never sent: the connection
            // cannot carry another request.
            break (stream, head, rbuf, false);
        }
        match read_head(&mut stream, &mut rbuf, to_head, upgrading) {
            // A connection asked to upgrade is not pooled again.
            Ok(head) => break (stream, head, rbuf, !upgrading),
            Err(HeadFailure::NoAnswer(_)) if reused && idempotent && !body_read => continue,
            Err(failure) => return failed(worker, failure),
        }
    };
    if upgrading && answer.status == StatusCode::SWITCHING_PROTOCOLS {
        return switch(worker, stream, answer, rbuf, ctx);
    }
    respond(worker, stream, answer, rbuf, reusable, ctx)
}

/// The protocol `req` asks to switch to that `worker` tunnels
/// (`upgrade=`, `ws://`): an HTTP/1.1 request whose `Connection` says
/// `Upgrade` and whose `Upgrade` names a protocol the worker accepts.
fn tunnel_protocol(worker: &Worker, req: &Request<'_>) -> Option<String> {
    let rule = worker.config.upgrade.as_ref()?;
    if req.version() != http::Version::HTTP_11 {
        return None;
    }
    let h = req.headers();
    if !list(h, &CONNECTION).any(|t| t.eq_ignore_ascii_case("upgrade")) {
        return None;
    }
    rule.accepts(list(h, &UPGRADE)).map(str::to_string)
}

/// The backend switched protocols: the client gets its `101` (with its
/// `Upgrade` and end-to-end fields) and the connection becomes a tunnel
/// to the backend's socket, the bytes it sent after its head first. The
/// tunnel ends after `ProxyWebsocketIdleTimeout` (else the worker's
/// timeout) without a byte either way.
fn switch(
    worker: &Worker,
    stream: BackendStream,
    head: ResponseHead,
    rbuf: Vec<u8>,
    ctx: &Context<'_>,
) -> Response {
    let Some(protocol) = head.headers.get(UPGRADE).cloned() else {
        log::error!(
            "proxy: {}: 101 Switching Protocols without an Upgrade header",
            worker.name
        );
        return error_response(StatusCode::BAD_GATEWAY);
    };
    let mut fields = client_fields(&head, ctx);
    fields.insert(UPGRADE, protocol);
    let BackendStream::Tcp(stream) = stream else {
        // BackendUrl::parse refuses ws:// over a Unix socket.
        log::error!(
            "proxy: {}: a tunnel over a Unix socket is not supported",
            worker.name
        );
        return error_response(StatusCode::BAD_GATEWAY);
    };
    let idle = ctx.cfg.tunnel_idle_timeout.unwrap_or(worker.timeout);
    let tunnel = Tunnel::new(stream, idle).with_to_client(&rbuf);
    let mut response = Response::new(Body::Tunnel(Box::new(tunnel)));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *response.headers_mut() = fields;
    response
}

/// The proxy's answer when no response head came, logged.
fn failed(worker: &Worker, failure: HeadFailure) -> Response {
    match failure {
        HeadFailure::TimedOut => {
            log::error!(
                "proxy: {}: no answer within {} s (timeout=, ProxyTimeout)",
                worker.name,
                worker.timeout.as_secs_f64()
            );
            error_response(StatusCode::GATEWAY_TIMEOUT)
        }
        HeadFailure::NoAnswer(e) => {
            log::error!(
                "proxy: {}: the connection ended without an answer ({e})",
                worker.name
            );
            error_response(StatusCode::BAD_GATEWAY)
        }
        HeadFailure::Bad(why) => {
            log::error!("proxy: {}: {why}", worker.name);
            error_response(StatusCode::BAD_GATEWAY)
        }
    }
}

/// Read a final response head into `rbuf` (1xx answers skipped), and
/// drop its bytes from `rbuf`: what stays is the start of the body.
fn read_head(
    stream: &mut BackendStream,
    rbuf: &mut Vec<u8>,
    to_head: bool,
    upgrading: bool,
) -> Result<ResponseHead, HeadFailure> {
    loop {
        match parse_response_head(rbuf, to_head) {
            Ok(Some((head, n))) => {
                rbuf.drain(..n);
                if head.status == StatusCode::SWITCHING_PROTOCOLS && upgrading {
                    return Ok(head);
                }
                if head.status == StatusCode::SWITCHING_PROTOCOLS {
                    return Err(HeadFailure::Bad(
                        "101 Switching Protocols to a request that asked for no upgrade".into(),
                    ));
                }
                if head.status.is_informational() {
                    continue;
                }
                return Ok(head);
            }
            Ok(None) => {}
            Err(e) => return Err(HeadFailure::Bad(e.to_string())),
        }
        fill(stream, rbuf)?;
    }
}

/// Read more of an answer into `rbuf`.
fn fill(stream: &mut BackendStream, rbuf: &mut Vec<u8>) -> Result<(), HeadFailure> {
    let at = rbuf.len();
    rbuf.resize(at + 8 * 1024, 0);
    let got = stream.read(&mut rbuf[at..]);
    rbuf.truncate(at + *got.as_ref().unwrap_or(&0));
    match got {
        Ok(0) if at == 0 => Err(HeadFailure::NoAnswer(io::ErrorKind::UnexpectedEof.into())),
        Ok(0) => Err(HeadFailure::Bad(format!(
            "the connection ended in the response head ({at} bytes of it came)"
        ))),
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(HeadFailure::TimedOut)
        }
        Err(e) if at == 0 => Err(HeadFailure::NoAnswer(e)),
        Err(e) => Err(HeadFailure::Bad(format!(
            "reading the response head failed: {e}"
        ))),
    }
}

/// After a request head with `Expect: 100-continue`: wait (at most
/// [`CONTINUE_WAIT`]) for the backend's `100 Continue`, `Ok(None)`, or
/// its final answer without the body, `Ok(Some(head))`. A backend that
/// says nothing in time gets the body anyway.
fn wait_continue(
    stream: &mut BackendStream,
    rbuf: &mut Vec<u8>,
    to_head: bool,
    upgrading: bool,
    timeout: Duration,
) -> Result<Option<ResponseHead>, HeadFailure> {
    stream
        .set_read_timeout(CONTINUE_WAIT.min(timeout))
        .map_err(HeadFailure::NoAnswer)?;
    let outcome = loop {
        match parse_response_head(rbuf, to_head) {
            Ok(Some((head, n))) if head.status == StatusCode::CONTINUE => {
                rbuf.drain(..n);
                break Ok(None);
            }
            Ok(Some((head, n))) if head.status.is_informational() => {
                rbuf.drain(..n);
                continue;
            }
            Ok(Some(_)) => match read_head(stream, rbuf, to_head, upgrading) {
                Ok(head) => break Ok(Some(head)),
                Err(e) => break Err(e),
            },
            Ok(None) => {}
            Err(e) => break Err(HeadFailure::Bad(e.to_string())),
        }
        match fill(stream, rbuf) {
            Ok(()) => {}
            Err(HeadFailure::TimedOut) if rbuf.is_empty() => break Ok(None),
            Err(e) => break Err(e),
        }
    };
    stream
        .set_read_timeout(timeout)
        .map_err(HeadFailure::NoAnswer)?;
    outcome
}

/// Why the request body did not reach the backend.
enum SendFailure {
    /// Reading it from the client failed.
    Client(io::Error),
    /// Writing it to the backend failed.
    Backend(io::Error),
}

/// Stream the client's body to the backend, framed as `framing`, through
/// one bounded buffer.
fn send_body(
    stream: &mut BackendStream,
    body: &mut dyn Read,
    framing: RequestFraming,
) -> Result<(), SendFailure> {
    let chunked = framing == RequestFraming::Chunked;
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match body.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SendFailure::Client(e)),
        };
        let sent = if n == 0 {
            if chunked {
                stream.write_all(b"0\r\n\r\n")
            } else {
                Ok(())
            }
        } else if chunked {
            stream
                .write_all(format!("{n:x}\r\n").as_bytes())
                .and_then(|()| stream.write_all(&buf[..n]))
                .and_then(|()| stream.write_all(b"\r\n"))
        } else {
            stream.write_all(&buf[..n])
        };
        sent.map_err(SendFailure::Backend)?;
        if n == 0 {
            return Ok(());
        }
    }
}

/// The backend's response fields as the client gets them (hop-by-hop
/// ones dropped, `ProxyPassReverse*` applied).
fn client_fields(head: &ResponseHead, ctx: &Context<'_>) -> http::HeaderMap {
    headers::response_headers(
        &head.headers,
        ctx.cfg,
        &Incoming {
            public_base: ctx.public_base,
            server_name: ctx.server_name,
            server_version: ctx.server_version,
        },
    )
}

/// The client's response: the backend's status and fields (rewritten),
/// and its body: bytes when it came whole with the head, else a stream.
fn respond(
    worker: &Arc<Worker>,
    stream: BackendStream,
    head: ResponseHead,
    mut rbuf: Vec<u8>,
    reusable: bool,
    ctx: &Context<'_>,
) -> Response {
    let fields = client_fields(&head, ctx);
    let keep = reusable && head.keep_alive;
    let body = match head.framing {
        ResponseFraming::Empty => {
            if keep && rbuf.is_empty() {
                worker.checkin(stream, head.keep_alive_timeout);
            }
            // A HEAD answer keeps the length the backend announced.
            let announced = head
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            match announced {
                Some(len) if len > 0 && !head.status.is_informational() => Body::Reader {
                    reader: Box::new(io::empty()),
                    len: Some(len),
                },
                _ => Body::Empty,
            }
        }
        ResponseFraming::Length(n) if rbuf.len() as u64 >= n => {
            // The whole body came with the head (a small answer): it
            // leaves with the head in one write, and the connection goes
            // back to the pool at once.
            if keep && rbuf.len() as u64 == n {
                worker.checkin(stream, head.keep_alive_timeout);
            }
            rbuf.truncate(n as usize);
            Body::Bytes(rbuf.into())
        }
        framing => {
            let (decoder, len) = match framing {
                ResponseFraming::Length(n) => {
                    (Some(BodyDecoder::new(Framing::Length(n), 0)), Some(n))
                }
                ResponseFraming::Chunked => (Some(BodyDecoder::new(Framing::Chunked, 0)), None),
                _ => (None, None),
            };
            let body = BackendBody {
                stream: Some(stream),
                buf: rbuf,
                start: 0,
                decoder,
                worker: worker.clone(),
                keep,
                announced: head.keep_alive_timeout,
                passed: 0,
            };
            match len {
                Some(len) => Body::Reader {
                    reader: Box::new(body),
                    len: Some(len),
                },
                // A stream (Server-Sent Events, a long poll): what came
                // leaves as soon as nothing more has, not once 16 KiB
                // gathered.
                None => Body::writer(move |out| stream_out(body, out)),
            }
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = head.status;
    *response.headers_mut() = fields;
    if head.status == StatusCode::NO_CONTENT || head.status == StatusCode::NOT_MODIFIED {
        response.headers_mut().remove(CONTENT_LENGTH);
    }
    response
}

/// Copy a body of unknown length to the client, flushing whenever what
/// the backend sent so far has been passed on (the next read would wait
/// for it).
fn stream_out(mut body: BackendBody, out: &mut BodyWriter<'_>) -> io::Result<()> {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match body.read_some(&mut buf, false)? {
            Some(n) => n,
            None => {
                out.flush()?;
                body.read(&mut buf)?
            }
        };
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])?;
    }
}

/// A backend's response body as the server reads it: the bytes that came
/// with the head first, then the socket, decoded by the engine's own
/// `Content-Length` and chunked decoder; the connection goes back to the
/// worker's pool as soon as the body is complete (when the backend keeps
/// it open). An error (the backend closed early, broke its framing or
/// timed out) ends the client's response with an error, so the server
/// closes that connection.
struct BackendBody {
    stream: Option<BackendStream>,
    /// Bytes read and not yet decoded, from `start`.
    buf: Vec<u8>,
    start: usize,
    /// `None`: the body ends when the backend closes.
    decoder: Option<BodyDecoder>,
    worker: Arc<Worker>,
    keep: bool,
    announced: Option<Duration>,
    /// Body bytes given to the server so far.
    passed: u64,
}

impl BackendBody {
    /// The body is complete: the connection goes back to the pool when
    /// nothing beyond the body came on it.
    fn complete(&mut self) {
        if let Some(stream) = self.stream.take() {
            if self.keep && self.start == self.buf.len() {
                self.worker.checkin(stream, self.announced);
            }
        }
    }

    fn fail(&mut self, why: String) -> io::Error {
        log::error!(
            "proxy: {}: {why} after {} body bytes; closing the client's connection",
            self.worker.name,
            self.passed
        );
        self.stream = None;
        io::Error::new(io::ErrorKind::UnexpectedEof, why)
    }
}

impl Read for BackendBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_some(out, true)?.unwrap_or(0))
    }
}

impl BackendBody {
    /// Body bytes into `out` (0 at the end); with `block` false, `None`
    /// when none came yet and the socket must be read (which may wait).
    fn read_some(&mut self, out: &mut [u8], block: bool) -> io::Result<Option<usize>> {
        if out.is_empty() {
            return Ok(Some(0));
        }
        loop {
            if self.decoder.as_ref().is_some_and(BodyDecoder::is_complete) {
                self.complete();
                return Ok(Some(0));
            }
            if self.start < self.buf.len() {
                let avail = &self.buf[self.start..];
                let n = match &mut self.decoder {
                    None => {
                        let n = avail.len().min(out.len());
                        out[..n].copy_from_slice(&avail[..n]);
                        self.start += n;
                        n
                    }
                    Some(decoder) => {
                        let window = &avail[..avail.len().min(out.len())];
                        let d = match decoder.decode(window) {
                            Ok(d) => d,
                            Err(e) => {
                                return Err(self.fail(format!("the response body is broken: {e}")))
                            }
                        };
                        let n = d.data.len();
                        out[..n].copy_from_slice(&window[d.data]);
                        self.start += d.consumed;
                        n
                    }
                };
                if self.start == self.buf.len() {
                    self.start = 0;
                    self.buf.clear();
                }
                if n > 0 {
                    self.passed += n as u64;
                    if self.decoder.as_ref().is_some_and(BodyDecoder::is_complete) {
                        self.complete();
                    }
                    return Ok(Some(n));
                }
                continue;
            }
            let Some(stream) = self.stream.as_mut() else {
                return Ok(Some(0));
            };
            if !block {
                return Ok(None);
            }
            if self.buf.capacity() < BUF {
                self.buf.reserve(BUF - self.buf.len());
            }
            self.buf.resize(BUF, 0);
            let got = stream.read(&mut self.buf);
            self.buf.truncate(*got.as_ref().unwrap_or(&0));
            match got {
                Ok(0) if self.decoder.is_none() => {
                    // A body delimited by the close: this is its end.
                    self.stream = None;
                    return Ok(Some(0));
                }
                Ok(0) => {
                    return Err(self.fail(
                        "the backend closed the connection in the middle of the body".into(),
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(self.fail("no more of the body within the timeout".into()))
                }
                Err(e) => return Err(self.fail(format!("reading the body failed: {e}"))),
            }
        }
    }
}
