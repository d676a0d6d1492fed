//! What an application writes: a synchronous [`Handler`].
//!
//! The handler runs on a plain thread (or in a child process) and may block:
//! a database call or a file read costs that thread only. It receives the
//! request head with a body that is a [`std::io::Read`], and the facts of
//! the connection, and returns a [`Response`] whose body the strategy sends
//! (with `sendfile` where it can).

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::h1::EncodedFields;
use crate::net::connection::ConnInfo;
pub use crate::serve::{BodyWriter, Tunnel};

/// The request a handler sees: the `http` crate's head with a body that
/// reads the (de-chunked, length-limited) request body from the connection.
pub type Request<'a> = http::Request<RequestBody<'a>>;

/// The response a handler returns.
pub type Response = http::Response<Body>;

/// The request body: a [`Read`] that decodes `Content-Length` or chunked
/// framing and stops at `LimitRequestBody` with an error (the server then
/// answers 413). It yields end-of-file at the end of the body; reading it
/// is optional: an unread body is drained or the connection closed.
pub struct RequestBody<'a> {
    inner: Option<&'a mut dyn Read>,
}

impl<'a> RequestBody<'a> {
    /// A body read from `inner`.
    pub fn new(inner: &'a mut dyn Read) -> Self {
        RequestBody { inner: Some(inner) }
    }

    /// A request without a body.
    pub fn empty() -> Self {
        RequestBody { inner: None }
    }
}

impl Read for RequestBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Some(r) => r.read(buf),
            None => Ok(0),
        }
    }
}

impl std::fmt::Debug for RequestBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestBody")
    }
}

/// A response body.
pub enum Body {
    /// No body (`Content-Length: 0`, or none at all for 204/304).
    Empty,
    /// Bytes in memory.
    Bytes(Bytes),
    /// Bytes in memory with head fields encoded once, for an answer a
    /// handler sends many times alike (a file kept in memory): the
    /// HTTP/1.x driver writes `fields`' lines after the response's own
    /// headers instead of encoding fields per response, and the HTTP/2
    /// driver adds the same fields to the response's header list, so an
    /// answer carries them whatever the protocol. Both are clones of what
    /// the handler keeps (a reference count each), so the answer costs no
    /// allocation. Otherwise it is sent as [`Body::Bytes`]`(bytes)`.
    ///
    /// ```
    /// use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
    /// use mpm_core::h1::EncodedFields;
    /// use mpm_core::{Body, Bytes, Response};
    ///
    /// // Made once, kept by the handler:
    /// let mut head = HeaderMap::new();
    /// head.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    /// let fields = EncodedFields::new(&head);
    /// let hello = Bytes::from_static(b"hello");
    /// // Per request:
    /// let resp = Response::new(Body::Kept {
    ///     bytes: hello.clone(),
    ///     fields: fields.clone(),
    /// });
    /// assert_eq!(resp.body().len(), Some(5));
    /// ```
    Kept {
        /// The body.
        bytes: Bytes,
        /// Head fields encoded once ([`EncodedFields::new`]).
        fields: EncodedFields,
    },
    /// A stream. With `len: Some(n)` it is sent with `Content-Length: n`
    /// (and must yield exactly `n` bytes); with `None` it is sent chunked to
    /// HTTP/1.1 clients, and delimited by closing the connection for 1.0.
    ///
    /// The reader is read until 16 KiB are gathered (or the stream ends),
    /// and each 16 KiB leave in one write (one chunk): a reader that
    /// yields a line per `read` costs no system call per line. So bytes a
    /// reader gives are not sent until 16 KiB follow them or it ends;
    /// for a stream whose parts must leave as they come (Server-Sent
    /// Events), use [`Body::writer`] and its `flush`.
    Reader {
        /// Yields the body's bytes.
        reader: Box<dyn Read + Send>,
        /// The body's length, when known (`Content-Length`).
        len: Option<u64>,
    },
    /// A body the handler writes as it goes, made by [`Body::writer`].
    Writer(WriteFn),
    /// `len` bytes of a file from `offset`: sent with `sendfile(2)` on plain
    /// TCP, copied through a buffer under TLS.
    File {
        /// The file, open for reading.
        file: File,
        /// Where the body starts in it.
        offset: u64,
        /// How many bytes from there.
        len: u64,
    },
    /// With status `101 Switching Protocols`: after the head (sent with
    /// `Connection: Upgrade`; put the `Upgrade` header in the response),
    /// the connection stops speaking HTTP and is joined to the tunnel's
    /// socket, bytes copied both ways until both sides close or the
    /// tunnel's idle timeout passes ([`Tunnel`]). The reverse proxy's
    /// WebSocket tunnels are made so. Under prefork and worker the tunnel
    /// holds its process or thread; under event the loop holds both
    /// sockets and no thread. With any other status the tunnel is closed
    /// and the body is empty.
    Tunnel(Box<Tunnel>),
}

/// A writer-style body: called once the response head is sent, with the
/// [`BodyWriter`] to write the body to. See [`Body::writer`].
pub type WriteFn = Box<dyn FnOnce(&mut BodyWriter<'_>) -> io::Result<()> + Send + 'static>;

impl Body {
    /// A body the handler writes as it goes: `write` is called once the
    /// response head is sent, on the thread that serves the request (so it
    /// may block, and wait between writes), with a [`BodyWriter`]. What
    /// it writes is sent in chunks of up to 16 KiB; [`flush`](io::Write::flush)
    /// sends what is held at once. Chunked to HTTP/1.1 clients, delimited
    /// by the close for HTTP/1.0; not called for `HEAD` (nor for 204 and
    /// 304). The body ends when `write` returns `Ok`; an error (a write
    /// that failed because the client left, or the handler's own) or a
    /// panic cuts it short and closes the connection.
    ///
    /// The thread is the stream's until `write` returns: a worker thread
    /// under worker and event, a whole process under prefork. A stream
    /// that goes on until its client leaves ends when a write fails
    /// (return that error), and should end when
    /// [`BodyWriter::server_stopping`] says so: a graceful stop waits for
    /// it otherwise. (When the event loop answers a request itself, which
    /// [`Handler::answer_never_blocks`] allows, `write` runs to its end at
    /// once and its output is sent as the socket takes it.)
    ///
    /// Server-Sent Events, one event a second:
    ///
    /// ```
    /// use std::io::Write;
    /// use mpm_core::{Body, Response};
    ///
    /// let mut resp = Response::new(Body::writer(|w| {
    ///     for n in 0..3 {
    ///         if w.server_stopping() {
    ///             break;
    ///         }
    ///         write!(w, "data: tick {n}\n\n")?;
    ///         w.flush()?; // the event leaves now
    ///         std::thread::sleep(std::time::Duration::from_millis(10));
    ///     }
    ///     Ok(())
    /// }));
    /// resp.headers_mut().insert(
    ///     http::header::CONTENT_TYPE,
    ///     http::HeaderValue::from_static("text/event-stream"),
    /// );
    /// ```
    pub fn writer<F>(write: F) -> Body
    where
        F: FnOnce(&mut BodyWriter<'_>) -> io::Result<()> + Send + 'static,
    {
        Body::Writer(Box::new(write))
    }

    /// The length the body will have on the wire, when known up front.
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) | Body::Kept { bytes: b, .. } => Some(b.len() as u64),
            Body::Reader { len, .. } => *len,
            Body::Writer(_) => None,
            Body::File { len, .. } => Some(*len),
            Body::Tunnel(_) => Some(0),
        }
    }

    /// The fields of a [`Body::Kept`] taken apart from its bytes (then a
    /// [`Body::Bytes`]); any other body as it is, with none. What a
    /// driver does before it writes the head.
    pub fn take_fields(self) -> (Body, Option<EncodedFields>) {
        match self {
            Body::Kept { bytes, fields } => (Body::Bytes(bytes), Some(fields)),
            body => (body, None),
        }
    }

    /// True for [`Body::Empty`] and zero-length bodies.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Body::Kept { bytes, fields } => write!(
                f,
                "Body::Kept({} bytes, {} bytes of fields)",
                bytes.len(),
                fields.as_bytes().len()
            ),
            Body::Reader { len, .. } => write!(f, "Body::Reader(len {len:?})"),
            Body::Writer(_) => f.write_str("Body::Writer"),
            Body::File { offset, len, .. } => write!(f, "Body::File({offset}+{len})"),
            Body::Tunnel(t) => write!(f, "Body::Tunnel({t:?})"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Bytes(b)
    }
}
impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::Bytes(b.into())
    }
}
impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Bytes(s.into())
    }
}
impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::Bytes(Bytes::from_static(s.as_bytes()))
    }
}
impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body::Bytes(Bytes::from_static(s))
    }
}

/// One finished exchange, handed to [`Handler::log`] after the response was
/// sent (or failed): what an access log needs.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// The connection it came on.
    pub conn: &'a ConnInfo,
    /// The request line as received (`GET / HTTP/1.1`), lossily decoded.
    pub request_line: &'a str,
    /// Method, when the request line parsed.
    pub method: Option<&'a http::Method>,
    /// Request target, when the request line parsed.
    pub uri: Option<&'a http::Uri>,
    /// Request headers (empty for a request refused before they parsed).
    pub headers: &'a http::HeaderMap,
    /// Status sent.
    pub status: http::StatusCode,
    /// Body bytes sent (not counting the head).
    pub body_bytes: u64,
    /// Bytes of the request received: request line, header fields and
    /// the body as framed (chunk sizes included), as far as they were
    /// read (mod_logio's `%I`, less TLS overhead).
    pub received: u64,
    /// When the first byte of the request arrived.
    pub started: SystemTime,
    /// From the first byte of the request to the last byte of the response.
    pub duration: Duration,
    /// The extensions of the handler's response (empty for an answer the
    /// engine made): what the handler noted for its own log hook, such as
    /// the user it authenticated (mod_log_config's `%u`).
    pub notes: &'a http::Extensions,
}

/// An application: called once per request, on a thread that may block.
///
/// ```
/// use mpm_core::{Body, ConnInfo, Handler, Request, Response};
///
/// struct Hello;
/// impl Handler for Hello {
///     fn handle(&self, _req: Request<'_>, _conn: &ConnInfo) -> Response {
///         Response::new(Body::from("Hello, World!"))
///     }
/// }
/// ```
///
/// A closure with `handle`'s signature is a handler too (with the defaults
/// of the other methods):
///
/// ```
/// use mpm_core::{Body, ConnInfo, Handler, Request, Response};
///
/// let hello = |_req: Request<'_>, _conn: &ConnInfo| Response::new(Body::from("Hello"));
/// fn is_a_handler(_: impl Handler) {}
/// is_a_handler(hello);
/// ```
///
/// # State: one handler per process
///
/// `handle` takes `&self` because one handler value serves every thread of
/// a process at once: state in it (a `Mutex<Vec<_>>`, an atomic counter, a
/// cache) is shared by those threads. It is *not* shared between
/// processes. Under a strategy that forks children (`prefork`, `worker`,
/// `event`), each child gets its own copy of the handler as it was when the
/// child was forked, and changes made in one child are never seen by the
/// others nor by the master. To share state across requests:
///
/// - run in one process (an in-process strategy: the event loop and its
///   threads, worker threads, or `single`), where the one handler is the
///   only copy;
/// - keep the state outside the processes (a database, a file, a cache
///   server), and make the connection to it in each child with a
///   [`HandlerFactory`] (called after `fork`), so no connection is shared
///   by two processes;
/// - or keep it per process on purpose (a per-child cache), made by the
///   factory.
///
/// A panic inside `handle` is caught at the strategy's edge: the client gets
/// a 500, that connection closes, the process and its other threads go on.
///
/// # The connection after an answer
///
/// Whatever its status, a handler's answer keeps a keep-alive connection
/// open for the client's next request, so a 400 or 404 from an API's
/// validation costs no new connection. The request body must be done
/// with for that: read to its end, or left unread and then drained by the
/// server (up to 256 KiB, within `RequestReadTimeout`). The connection
/// closes after the answer only where the next request's bytes could not
/// be found for sure, or where the client or the configuration says so:
///
/// - an unread body larger than the drain allows, or one the client was
///   told to wait with (`Expect: 100-continue` never answered);
/// - the server's own refusals (a malformed head or chunked body: 400;
///   a body over `LimitRequestBody`: 413; a request or body too slow:
///   408; 414, 417, 431, 501, 505), and a 500 after a panic;
/// - the client's `Connection: close` (or an HTTP/1.0 client without
///   keep-alive), `KeepAlive Off`, `MaxKeepAliveRequests`, a graceful stop;
/// - a body of unknown length to an HTTP/1.0 client (its end is the close);
/// - the handler's own `Connection: close` header in its response: the
///   way to end a connection after this answer.
///
/// This differs from Apache httpd, which closes after every 400, 408,
/// 411, 413, 414, 500, 501 and 503 whoever made it.
pub trait Handler: Send + Sync + 'static {
    /// Answer one request.
    fn handle(&self, req: Request<'_>, conn: &ConnInfo) -> Response;

    /// Called after each exchange, including requests the engine refused
    /// itself (400, 408, 413 …). The default does nothing.
    fn log(&self, _exchange: &Exchange<'_>) {}

    /// Whether [`Handler::log`] reads [`Exchange::headers`]. When false,
    /// the engine hands the request's headers to [`Handler::handle`]
    /// without keeping a copy for the log, and `log` sees an empty map.
    /// The default, true, is always right; a handler whose `log` does not
    /// look at the headers saves a copy of them per request by saying
    /// false.
    fn log_reads_headers(&self) -> bool {
        true
    }

    /// Whether answering a request for `uri` by `method` never blocks: the
    /// response is built in memory or from a file the page cache holds,
    /// with no network call, no lock held for long, no sleep, and a
    /// streamed body's reader never waits either. A strategy may then
    /// answer it on a thread that must never wait: the event strategy's
    /// loop answers it itself instead of handing it to a worker thread,
    /// which saves two thread switches (nginx serves static files that
    /// way). Asked only for requests without a body.
    ///
    /// A promise broken (an answer that blocks after all) stalls every
    /// connection that thread holds, so say yes only for what you know.
    /// The default, false, is always safe: the request is answered on a
    /// thread where blocking is fine.
    fn answer_never_blocks(&self, method: &http::Method, uri: &http::Uri) -> bool {
        let _ = (method, uri);
        false
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn handle(&self, req: Request<'_>, conn: &ConnInfo) -> Response {
        (**self).handle(req, conn)
    }
    fn log(&self, exchange: &Exchange<'_>) {
        (**self).log(exchange)
    }
    fn log_reads_headers(&self) -> bool {
        (**self).log_reads_headers()
    }
    fn answer_never_blocks(&self, method: &http::Method, uri: &http::Uri) -> bool {
        (**self).answer_never_blocks(method, uri)
    }
}

/// A closure taking the request and the connection is a handler, so a
/// small server needs no type of its own:
/// `Server::new(|req: Request<'_>, _: &ConnInfo| …)`. The other methods
/// keep their defaults (no logging, every answer may block).
impl<F> Handler for F
where
    F: Fn(Request<'_>, &ConnInfo) -> Response + Send + Sync + 'static,
{
    fn handle(&self, req: Request<'_>, conn: &ConnInfo) -> Response {
        self(req, conn)
    }
    /// A closure logs nothing: no copy of the headers is kept for it.
    fn log_reads_headers(&self) -> bool {
        false
    }
}

/// Makes the handler of one process: called in each child after `fork` (and
/// once by a strategy that serves in the calling process), so per-process
/// state such as a database connection is made where it lives. An error stops the server
/// with that message: a handler that cannot start is a fatal startup error.
pub type HandlerFactory = Arc<dyn Fn() -> Result<Arc<dyn Handler>, String> + Send + Sync + 'static>;

/// A factory that hands out `handler` itself. Under a strategy that serves
/// in the calling process that is the one handler every thread shares;
/// under a forking strategy each child has its own copy of it, as it was
/// when the child was forked (see [`Handler`]'s section on state).
pub fn shared_factory(handler: Arc<dyn Handler>) -> HandlerFactory {
    Arc::new(move || Ok(handler.clone()))
}
