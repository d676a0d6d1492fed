//! One exchange: the handler called on a parsed head, its response sent,
//! the keep-alive decision, the access log; and the engine's refusals.

use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Instant, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode, Version};

use super::body::{BodyFailure, BodyReader, BodyState};
use super::context::{status_page, After, ServeContext, Serving, DRAIN_LIMIT};
use crate::deadline::read::ReadDeadline;
use crate::h1::{self as engine, BodyDecoder, HeadError, RequestHead};
use crate::handler::{Body, Exchange, RequestBody, Response};
use crate::net::connection::ConnInfo;
use crate::process::scoreboard::WorkerState;

impl Serving<'_, '_> {
    /// Answer a request head the engine refused; the connection closes.
    pub(super) fn refuse(&mut self, e: HeadError, started: SystemTime, clock: Instant) -> After {
        let line = e.request_line.clone().unwrap_or_default();
        if let Some(slot) = self.ctx.worker_slot {
            slot.begin_request(self.io.peer_ip_text(), "", &line);
        }
        let (mut headers, body) = engine::error_page(e.status, e.reason);
        if let Some(allow) = e.allow {
            headers.insert(http::header::ALLOW, HeaderValue::from_static(allow));
        }
        let mut resp = Response::new(Body::Bytes(body));
        *resp.status_mut() = e.status;
        *resp.headers_mut() = headers;
        let sent = self.send(resp, Version::HTTP_11, false, false);
        let empty = HeaderMap::new();
        self.log(Logged {
            line: &line,
            head: None,
            headers: &empty,
            notes: &http::Extensions::new(),
            status: e.status,
            body_bytes: sent.unwrap_or(0),
            started,
            clock,
        });
        After::Linger
    }

    /// The exchange is over: log it (see [`Logged::end`]).
    pub(super) fn log(&mut self, entry: Logged<'_>) {
        entry.end(self.ctx, self.io.info(), self.session.take_used());
    }

    /// Run the handler on a parsed head and send its response.
    pub(super) fn answer(
        &mut self,
        head: &mut RequestHead,
        served: u32,
        started: SystemTime,
        clock: Instant,
    ) -> After {
        let info: ConnInfo = self.io.info().clone();
        if let Some(slot) = self.ctx.worker_slot {
            slot.begin_request(
                self.io.peer_ip_text(),
                host_of(&head.headers),
                &head.request_line,
            );
        }
        let limits = &self.ctx.protocol.limits;
        let t = &self.ctx.protocol.timeouts;
        let mut body = BodyState {
            decoder: BodyDecoder::with_limits(head.framing, limits),
            // Without a body the stage never runs: no clock read for it.
            deadline: ReadDeadline::new(
                t.request_read.body,
                if head.framing.has_body() {
                    Instant::now()
                } else {
                    clock
                },
            ),
            pending_continue: head.expect_continue && head.framing.has_body(),
            failure: None,
        };
        let is_head = head.method == http::Method::HEAD;
        let version = head.version;
        let handler = self.ctx.handler;
        let outcome = {
            let mut reader = BodyReader {
                conn: self,
                body: &mut body,
            };
            // The request is made inside the closure: the ~250 bytes of
            // its head are not moved into it.
            catch_unwind(AssertUnwindSafe(|| {
                let builder = request_builder(head, handler, version);
                let Ok(req) = builder.body(RequestBody::new(&mut reader));
                handler.handle(req, &info)
            }))
        };
        // The body the handler left unread: drain a little so the
        // connection can go on, else close. Broken framing found here is
        // refused below as if the handler had read it (a 400 for a
        // smuggled trailer, whoever the handler is).
        let mut unread = None;
        if outcome.is_ok() && body.failure.is_none() && !body.decoder.is_complete() {
            if body.pending_continue {
                // The client waits for our go-ahead we never gave: it may
                // or may not send the body, so the connection cannot be
                // reused.
                unread = Some(After::Close);
            } else {
                let mut reader = BodyReader {
                    conn: self,
                    body: &mut body,
                };
                let drained = io::copy(&mut (&mut reader).take(DRAIN_LIMIT), &mut io::sink());
                if drained.is_err() || !body.decoder.is_complete() {
                    unread = Some(After::Linger);
                }
            }
        }
        self.set_state(WorkerState::Write);
        let (resp, mut after) = match (outcome, body.failure) {
            (_, Some(BodyFailure::TooLarge)) => (
                status_page(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is larger than the server accepts",
                ),
                After::Linger,
            ),
            (_, Some(BodyFailure::Malformed(why))) => {
                (status_page(StatusCode::BAD_REQUEST, why), After::Linger)
            }
            // The handler answered without the body, whose rest was slow or
            // cut while draining it: its answer stands, then the close.
            (Ok(resp), Some(BodyFailure::TimedOut | BodyFailure::Gone)) if unread.is_some() => {
                (resp, After::Linger)
            }
            (_, Some(BodyFailure::TimedOut)) => (
                status_page(
                    StatusCode::REQUEST_TIMEOUT,
                    "the server timed out waiting for the request body",
                ),
                After::Linger,
            ),
            (_, Some(BodyFailure::Gone)) => {
                let empty = HeaderMap::new();
                self.log(Logged {
                    line: &head.request_line,
                    head: Some(head),
                    headers: &empty,
                    notes: &http::Extensions::new(),
                    status: StatusCode::BAD_REQUEST,
                    body_bytes: 0,
                    started,
                    clock,
                });
                return After::Close;
            }
            // The handler's own answer, whatever its status: the connection
            // goes on when the body was read or drained (framing intact),
            // unless the handler asked for a close (below).
            (Ok(resp), None) => (resp, unread.unwrap_or(After::KeepAlive)),
            (Err(panic), None) => {
                let what = crate::error::panic_message(&*panic);
                log::error!(
                    "handler panicked on \"{}\" from {}: {what}; answered 500 and closed the connection",
                    head.request_line,
                    info.peer
                );
                (
                    status_page(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the server encountered an internal error",
                    ),
                    After::Close,
                )
            }
        };
        if after == After::KeepAlive
            && resp.status() == StatusCode::SWITCHING_PROTOCOLS
            && matches!(resp.body(), Body::Tunnel(_))
        {
            return self.switch(resp, head, started, clock);
        }
        let status = resp.status();
        let body_len = resp.body().len();
        let length = engine::plan_length(version, &head.method, status, body_len);
        let engine_keep = engine::keep_alive_after(head, served, t, length);
        let idle_close = match self.ctx.leaving {
            Some(leaving) => leaving(),
            None => self.ctx.idle_close.is_some_and(crate::net::poll::readable),
        };
        let keep =
            after == After::KeepAlive && engine_keep && !idle_close && !asks_close(resp.headers());
        if after == After::KeepAlive && !keep {
            after = if !self.session.is_empty() {
                After::Linger
            } else {
                After::Close
            };
        }
        if !keep && !head.keep_alive && after == After::Close {
            self.cork_for_close(resp.body());
        }
        let mut resp = resp;
        let notes = std::mem::take(resp.extensions_mut());
        let sent = self.send(resp, version, is_head, keep);
        let (bytes, ok) = match sent {
            Ok(n) => (n, true),
            Err(n) => (n, false),
        };
        self.set_state(WorkerState::Logging);
        self.log(Logged {
            line: &head.request_line,
            head: Some(head),
            headers: &head.headers,
            notes: &notes,
            status,
            body_bytes: bytes,
            started,
            clock,
        });
        self.stats.requests += 1;
        if !ok {
            return After::Close;
        }
        after
    }
}

impl Serving<'_, '_> {
    /// Send a `101` with `Connection: Upgrade` and keep its tunnel, with
    /// the bytes the client sent after the request head, for the driver
    /// ([`After::Tunnel`]). The exchange is logged now, as a 101 with no
    /// body.
    fn switch(
        &mut self,
        resp: Response,
        head: &RequestHead,
        started: SystemTime,
        clock: Instant,
    ) -> After {
        let (parts, body) = resp.into_parts();
        let Body::Tunnel(mut tunnel) = body else {
            return After::Close;
        };
        let mut wbuf = self.head_buf(
            &parts,
            None,
            engine::ResponseLength::NoBody,
            true,
            Version::HTTP_11,
        );
        // The head ends with an empty line; the engine writes no
        // `Connection` of its own for a kept connection.
        wbuf.truncate(wbuf.len() - 2);
        wbuf.extend_from_slice(b"Connection: Upgrade\r\n\r\n");
        let sent = self.write_whole(&wbuf);
        self.wbuf = wbuf;
        self.set_state(WorkerState::Logging);
        self.log(Logged {
            line: &head.request_line,
            head: Some(head),
            headers: &head.headers,
            notes: &parts.extensions,
            status: parts.status,
            body_bytes: 0,
            started,
            clock,
        });
        self.stats.requests += 1;
        if sent.is_err() {
            return After::Close;
        }
        self.session
            .consume_buffered(|early| tunnel.push_to_peer(early));
        self.tunnel = Some(tunnel);
        After::Tunnel
    }
}

/// The handler's request for a head, HTTP/1.1's and HTTP/2's alike
/// (`version` says which), without its body yet. The handler takes the
/// headers; a copy stays in `head` for the log hook only if that reads
/// them.
pub(super) fn request_builder(
    head: &mut RequestHead,
    handler: &dyn crate::handler::Handler,
    version: Version,
) -> RequestParts {
    let headers = if handler.log_reads_headers() {
        head.headers.clone()
    } else {
        std::mem::take(&mut head.headers)
    };
    RequestParts {
        method: head.method.clone(),
        uri: head.uri.clone(),
        version,
        headers,
    }
}

/// A request head in `http`'s types, waiting for its body
/// ([`request_builder`]). Set into an `http::Request` directly rather
/// than through `http::request::Builder`, whose every step moves the
/// whole head and can fail only on conversions this never needs.
pub(super) struct RequestParts {
    method: http::Method,
    uri: http::Uri,
    version: Version,
    headers: HeaderMap,
}

impl RequestParts {
    /// The request with `body`. It cannot fail: the `Result` keeps the
    /// shape of `http::request::Builder::body` for the callers.
    pub(super) fn body<B>(self, body: B) -> Result<http::Request<B>, std::convert::Infallible> {
        let mut req = http::Request::new(body);
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri;
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers;
        Ok(req)
    }
}

/// What a driver logs when an exchange ends, HTTP/1.1's and HTTP/2's
/// alike.
pub(super) struct Logged<'a> {
    pub(super) line: &'a str,
    pub(super) head: Option<&'a RequestHead>,
    pub(super) headers: &'a HeaderMap,
    pub(super) notes: &'a http::Extensions,
    pub(super) status: StatusCode,
    pub(super) body_bytes: u64,
    pub(super) started: SystemTime,
    pub(super) clock: Instant,
}

impl Logged<'_> {
    /// End the request on the worker's scoreboard slot, then call the
    /// handler's log hook (the access log) with the exchange; `received`
    /// is what the request took on the wire.
    pub(super) fn end(self, ctx: &ServeContext<'_>, conn: &ConnInfo, received: u64) {
        let duration = self.clock.elapsed();
        if let Some(slot) = ctx.worker_slot {
            slot.end_request(self.body_bytes, duration);
        }
        let ex = Exchange {
            conn,
            request_line: self.line,
            method: self.head.map(|h| &h.method),
            uri: self.head.map(|h| &h.uri),
            headers: self.headers,
            status: self.status,
            body_bytes: self.body_bytes,
            received,
            started: self.started,
            duration,
            notes: self.notes,
        };
        call_log(ctx.handler, &ex);
    }
}

/// The handler's log hook on `ex`, a panic in it caught (and logged): the
/// one way every driver logs an exchange.
pub(super) fn call_log(handler: &dyn crate::handler::Handler, ex: &Exchange<'_>) {
    if catch_unwind(AssertUnwindSafe(|| handler.log(ex))).is_err() {
        log::error!("the handler's log hook panicked");
    }
}

/// The request's `Host` value, for the scoreboard (`""` without one).
/// Clients send it first, so the map's first field is looked at before
/// the map is searched (a hash and a probe); the first field is the
/// first value of its name, so the answer is the same. HTTP/2's streams
/// show theirs with it too.
pub(in crate::serve) fn host_of(headers: &HeaderMap) -> &str {
    let first = headers
        .iter()
        .next()
        .filter(|(name, _)| *name == http::header::HOST)
        .map(|(_, value)| value);
    first
        .or_else(|| headers.get(http::header::HOST))
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
}

/// Whether a handler's response says `Connection: close`: its way to end
/// the connection after this answer (the engine writes the header itself).
fn asks_close(headers: &HeaderMap) -> bool {
    !headers.is_empty()
        && headers
            .get_all(http::header::CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}
