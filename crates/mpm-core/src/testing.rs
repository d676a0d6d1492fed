//! A server on `127.0.0.1:0` for tests and examples: any strategy, any
//! handler, its address and a control handle back, stopped on drop.
//!
//! ```
//! use std::sync::Arc;
//! use mpm_core::{process::single::Single, testing::TestServer, *};
//!
//! struct Hello;
//! impl Handler for Hello {
//!     fn handle(&self, _: Request<'_>, _: &ConnInfo) -> Response {
//!         Response::new(Body::from("hi"))
//!     }
//! }
//!
//! let server = TestServer::start(Box::new(Single), Arc::new(Hello), ProtocolConfig::default());
//! let resp = server.get("/");
//! assert_eq!((resp.status, resp.text().as_str()), (200, "hi"));
//! ```
//!
//! [`TestServer::get`], [`TestServer::post`] and [`TestServer::request`]
//! send one request on a new connection and parse the response
//! ([`Resp`]: status, headers, the body with chunked framing decoded);
//! a [`TestClient`] keeps its connection for several. Both speak plain
//! HTTP/1.1; for exact bytes on the wire (framing, pipelining, a slow
//! client), write to a `TcpStream` and read with [`read_response`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::{MpmConfig, ProtocolConfig};
use crate::control::Exit;
use crate::control::{Control, ControlHandle, Phase};
use crate::handler::{shared_factory, Handler};
use crate::mpm::{Mpm, RunContext};
use crate::net::listener::{ListenAddr, Listeners};
use crate::process::master::Master;
use crate::process::scoreboard::Scoreboard;

/// A running server; stops (and joins its thread) on drop.
pub struct TestServer {
    addr: SocketAddr,
    control: ControlHandle,
    scoreboard: Scoreboard,
    phases: Arc<parking_lot::Mutex<Vec<Phase>>>,
    thread: Option<JoinHandle<Result<Exit, crate::Error>>>,
}

impl TestServer {
    /// Start `mpm` with `handler` on a free loopback port and wait until it
    /// runs. Panics (it is for tests) when it cannot start.
    pub fn start(
        mut mpm: Box<dyn Mpm>,
        handler: Arc<dyn Handler>,
        protocol: ProtocolConfig,
    ) -> Self {
        Self::start_with(
            mpm.as_mut().info().name,
            move || mpm,
            handler,
            protocol,
            MpmConfig::default(),
        )
    }

    /// As [`TestServer::start`], with MPM directives.
    pub fn start_with(
        name: &str,
        make: impl FnOnce() -> Box<dyn Mpm> + Send + 'static,
        handler: Arc<dyn Handler>,
        protocol: ProtocolConfig,
        mpm_cfg: MpmConfig,
    ) -> Self {
        Self::start_full(name, make, handler, protocol, mpm_cfg, None)
    }

    /// As [`TestServer::start`], its connections TLS with `tls`.
    #[cfg(feature = "tls")]
    pub fn start_tls(
        mut mpm: Box<dyn Mpm>,
        handler: Arc<dyn Handler>,
        protocol: ProtocolConfig,
        tls: impl Into<crate::TlsConfig>,
    ) -> Self {
        Self::start_full(
            mpm.as_mut().info().name,
            move || mpm,
            handler,
            protocol,
            MpmConfig::default(),
            Some(tls.into()),
        )
    }

    /// Every choice: the strategy made by `make`, MPM directives, and TLS
    /// when `tls` is given.
    pub fn start_full(
        _name: &str,
        make: impl FnOnce() -> Box<dyn Mpm> + Send + 'static,
        handler: Arc<dyn Handler>,
        protocol: ProtocolConfig,
        mpm_cfg: MpmConfig,
        tls: Option<crate::TlsConfig>,
    ) -> Self {
        let addr: ListenAddr = if tls.is_some() {
            "127.0.0.1:0 https"
        } else {
            "127.0.0.1:0"
        }
        .parse()
        .expect("loopback address");
        let mut listeners = Listeners::bind(&[addr], 128).expect("bind 127.0.0.1:0");
        listeners.set_tls(0, tls);
        let local = listeners.get(0).expect("one listener").local;
        let control = Control::new().expect("control channel");
        let handle = control.handle();
        let (tx, rx) = std::sync::mpsc::channel();
        let phases = Arc::new(parking_lot::Mutex::new(vec![control.phase()]));
        let seen = phases.clone();
        control.on_phase(move |p| {
            seen.lock().push(p);
            let _ = tx.send(p);
        });
        let mut mpm = make();
        let (mpm_cfg, _) = mpm.check_config(&mpm_cfg);
        let (procs, threads) = mpm.scoreboard_shape(&mpm_cfg);
        let scoreboard = Scoreboard::new(procs, threads).expect("scoreboard");
        let sb = scoreboard.clone();
        let thread = std::thread::spawn(move || {
            mpm.run(RunContext {
                listeners: &listeners,
                factory: shared_factory(handler),
                protocol: Arc::new(protocol),
                mpm: &mpm_cfg,
                control: &control,
                scoreboard: &sb,
                master: &Master::new(),
            })
        });
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(Phase::Running) => break,
                Ok(_) => continue,
                Err(_) => panic!("the test server did not reach Running within 10 s"),
            }
        }
        TestServer {
            addr: local,
            control: handle,
            scoreboard,
            phases,
            thread: Some(thread),
        }
    }

    /// Every lifecycle phase the server has been in, in order (starting
    /// with `Starting`).
    pub fn phases(&self) -> Vec<Phase> {
        self.phases.lock().clone()
    }

    /// Wait (up to `timeout`) for the server's thread to end on its own,
    /// e.g. after a command sent through [`TestServer::control`].
    pub fn join(&mut self, timeout: Duration) -> Option<Result<Exit, crate::Error>> {
        let until = crate::deadline::after(std::time::Instant::now(), timeout);
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            if std::time::Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let t = self.thread.take()?;
        Some(
            t.join().unwrap_or_else(|_| {
                Err(crate::Error::Handler("the server thread panicked".into()))
            }),
        )
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Send commands to the server.
    pub fn control(&self) -> &ControlHandle {
        &self.control
    }

    /// The server's scoreboard.
    pub fn scoreboard(&self) -> &Scoreboard {
        &self.scoreboard
    }

    /// Stop the server and return how `run` ended.
    pub fn stop(mut self) -> Result<Exit, crate::Error> {
        self.control.stop();
        self.thread
            .take()
            .expect("running")
            .join()
            .unwrap_or_else(|_| Err(crate::Error::Handler("the server thread panicked".into())))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.control.stop();
            let _ = t.join();
        }
    }
}

/// The client side: one request each on a new connection.
impl TestServer {
    /// `GET path` on a new connection.
    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], b"")
    }

    /// `POST path` with `body` (sent with its `Content-Length`) on a new
    /// connection.
    pub fn post(&self, path: &str, body: impl AsRef<[u8]>) -> Resp {
        self.request("POST", path, &[], body.as_ref())
    }

    /// `method path` with `headers` and `body` on a new connection (see
    /// [`TestClient::request`]).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        self.client().request(method, path, headers, body)
    }

    /// A client connection, kept for several requests.
    pub fn client(&self) -> TestClient {
        TestClient::connect(self.addr)
    }
}

/// A plain HTTP/1.1 client connection for tests: requests sent one at a
/// time on the one connection, responses parsed ([`Resp`]). Any I/O error
/// or malformed response panics with what it was (it is for tests); every
/// read waits at most 30 s, so a server that does not answer fails the
/// test instead of hanging it.
///
/// ```
/// use std::sync::Arc;
/// use mpm_core::{process::single::Single, testing::TestServer, *};
///
/// struct Echo;
/// impl Handler for Echo {
///     fn handle(&self, mut req: Request<'_>, _: &ConnInfo) -> Response {
///         let mut body = Vec::new();
///         std::io::Read::read_to_end(req.body_mut(), &mut body).unwrap();
///         Response::new(Body::from(body))
///     }
/// }
///
/// let server = TestServer::start(Box::new(Single), Arc::new(Echo), ProtocolConfig::default());
/// let mut client = server.client();
/// assert_eq!(client.post("/", "one").text(), "one");
/// let last = client.request("POST", "/", &[("Connection", "close")], b"two");
/// assert!(last.closes());
/// assert!(client.is_closed());
/// ```
pub struct TestClient {
    conn: BufReader<TcpStream>,
    host: String,
}

impl TestClient {
    /// Connect to `addr` (any server, not only a [`TestServer`]).
    pub fn connect(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr)
            .unwrap_or_else(|e| panic!("could not connect to the server at {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set a read timeout");
        TestClient {
            conn: BufReader::new(s),
            host: addr.to_string(),
        }
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Resp {
        self.request("GET", path, &[], b"")
    }

    /// `POST path` with `body`.
    pub fn post(&mut self, path: &str, body: impl AsRef<[u8]>) -> Resp {
        self.request("POST", path, &[], body.as_ref())
    }

    /// Send a request ([`TestClient::send`]) and read its response (no
    /// body for `HEAD`).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        self.send(method, path, headers, body);
        read_response(&mut self.conn, method == "HEAD")
    }

    /// Send `method path HTTP/1.1` with a `Host` (unless `headers` has
    /// one), `headers`, a `Content-Length` for a body (unless `headers`
    /// frame it), and `body`; read the response later with
    /// [`TestClient::response`], or its head and chunks one by one
    /// ([`TestClient::head`], [`TestClient::chunk`]).
    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut out = format!("{method} {path} HTTP/1.1\r\n");
        if !has("host") {
            out.push_str(&format!("Host: {}\r\n", self.host));
        }
        for (name, value) in headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        self.conn
            .get_mut()
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("could not send {method} {path}: {e}"));
    }

    /// Read one whole response (to a request that was not `HEAD`).
    pub fn response(&mut self) -> Resp {
        read_response(&mut self.conn, false)
    }

    /// Read a response's head only (its `body` empty): for a body to
    /// read as it comes, with [`TestClient::chunk`].
    pub fn head(&mut self) -> Resp {
        read_head(&mut self.conn)
    }

    /// The next chunk of a chunked body, as the server sent it; `None`
    /// for the last (empty) chunk, after which the trailers are read.
    pub fn chunk(&mut self) -> Option<Vec<u8>> {
        read_chunk(&mut self.conn)
    }

    /// Whether the server has closed the connection: reads until it does
    /// (or 30 s pass), true when nothing more came.
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.conn.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    /// The connection, for bytes of one's own.
    pub fn stream(&mut self) -> &mut TcpStream {
        self.conn.get_mut()
    }
}

/// One response as read off the wire.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Resp {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// True when the response says `Connection: close`.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Read one response; `head_only` for responses to HEAD (no body even with
/// a Content-Length). Panics with what it saw when the framing is wrong.
pub fn read_response(r: &mut impl BufRead, head_only: bool) -> Resp {
    let mut resp = read_head(r);
    let status = resp.status;
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return resp;
    }
    if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().expect("numeric Content-Length");
        let mut body = vec![0; len];
        r.read_exact(&mut body).expect("body of Content-Length");
        resp.body = body;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        while let Some(chunk) = read_chunk(r) {
            resp.body.extend_from_slice(&chunk);
        }
    } else {
        r.read_to_end(&mut resp.body).expect("close-delimited body");
    }
    resp
}

/// Read a response's status line and headers (`body` left empty).
/// Panics with what it saw when they are malformed.
pub fn read_head(r: &mut impl BufRead) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    assert!(line.starts_with("HTTP/1.1 "), "bad status line {line:?}");
    assert!(line.ends_with("\r\n"), "status line without CRLF: {line:?}");
    let status: u16 = line[9..12].parse().expect("status code");
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).expect("header line");
        assert!(h.ends_with("\r\n"), "header without CRLF: {h:?}");
        if h == "\r\n" {
            break;
        }
        let (n, v) = h.trim_end().split_once(':').expect("header with a colon");
        headers.push((n.to_string(), v.trim().to_string()));
    }
    Resp {
        status,
        headers,
        body: Vec::new(),
    }
}

/// Read one chunk of a chunked body: its data, or `None` for the last
/// chunk (whose trailer section is read too). Panics with what it saw
/// when the framing is wrong.
pub fn read_chunk(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut size = String::new();
    r.read_line(&mut size).expect("chunk size");
    let n = usize::from_str_radix(size.trim_end(), 16)
        .unwrap_or_else(|_| panic!("not a chunk size line: {size:?}"));
    if n == 0 {
        loop {
            let mut trailer = String::new();
            r.read_line(&mut trailer).expect("trailer line");
            assert!(
                trailer.ends_with("\r\n"),
                "trailer without CRLF: {trailer:?}"
            );
            if trailer == "\r\n" {
                return None;
            }
        }
    }
    let mut chunk = vec![0; n + 2];
    r.read_exact(&mut chunk).expect("chunk data");
    assert_eq!(&chunk[n..], b"\r\n", "chunk not followed by CRLF");
    chunk.truncate(n);
    Some(chunk)
}
