//! What the conformance tests share: a test handler, raw-socket clients and
//! a small HTTP/1.1 response reader that checks framing exactly.
#![allow(dead_code)]

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub use mpm::testing::{read_response, Resp};
use mpm::{Body, ConnInfo, Handler, ProtocolConfig, Request, Response};

/// Routes by path; see each arm.
pub struct TestApp;

impl Handler for TestApp {
    fn handle(&self, mut req: Request<'_>, conn: &ConnInfo) -> Response {
        let path = req.uri().path().to_string();
        match path.as_str() {
            // The request body, read to the end, sent back.
            "/echo" => {
                let mut body = Vec::new();
                match req.body_mut().read_to_end(&mut body) {
                    Ok(_) => Response::new(Body::from(body)),
                    Err(e) => {
                        let mut r = Response::new(Body::from(format!("read error: {e}")));
                        *r.status_mut() = mpm::http::StatusCode::UNPROCESSABLE_ENTITY;
                        r
                    }
                }
            }
            // Never reads the body.
            "/ignore" => Response::new(Body::from("ignored")),
            // A validation failure: 400 after reading the body, or
            // without reading it (`/reject-unread`).
            "/reject" | "/reject-unread" => {
                if path == "/reject" {
                    let _ = std::io::copy(req.body_mut(), &mut std::io::sink());
                }
                let mut r = Response::new(Body::from("invalid"));
                *r.status_mut() = mpm::http::StatusCode::BAD_REQUEST;
                r
            }
            // A 404 that asks for the connection to close.
            "/gone" => {
                let mut r = Response::new(Body::from("gone"));
                *r.status_mut() = mpm::http::StatusCode::NOT_FOUND;
                r.headers_mut().insert(
                    mpm::http::header::CONNECTION,
                    mpm::http::HeaderValue::from_static("close"),
                );
                r
            }
            "/panic" => panic!("the test handler panics on purpose"),
            // Unknown length: chunked on 1.1.
            "/stream" => Response::new(Body::Reader {
                reader: Box::new(std::io::Cursor::new(b"0123456789".repeat(1000))),
                len: None,
            }),
            // A body the handler writes: flushed, then more than a chunk
            // holds, then the rest (under event, `/write` is answered by
            // the loop, `/write-worker` by a worker).
            "/write" | "/write-worker" => Response::new(Body::writer(|w| {
                w.write_all(b"first ")?;
                w.flush()?;
                w.write_all(&b"0123456789".repeat(2000))?;
                w.write_all(b" last")
            })),
            // Events until the server stops (or 2,000 of them).
            "/endless" => Response::new(Body::writer(|w| {
                for n in 0..2000 {
                    if w.server_stopping() {
                        return w.write_all(b"data: bye\n\n");
                    }
                    write!(w, "data: {n}\n\n")?;
                    w.flush()?;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(())
            })),
            // A kept answer: head fields encoded once, beside its bytes,
            // after a field of the response's own (under event, `/kept`
            // is answered by the loop, `/kept-worker` by a worker).
            "/kept" | "/kept-worker" => {
                static FIELDS: std::sync::OnceLock<mpm::EncodedFields> = std::sync::OnceLock::new();
                let fields = FIELDS.get_or_init(|| {
                    let mut head = mpm::http::HeaderMap::new();
                    head.insert("etag", mpm::http::HeaderValue::from_static("\"5-kept\""));
                    head.insert(
                        "content-type",
                        mpm::http::HeaderValue::from_static("text/plain"),
                    );
                    mpm::EncodedFields::new(&head)
                });
                let mut r = Response::new(Body::Kept {
                    bytes: mpm::Bytes::from_static(b"hello"),
                    fields: fields.clone(),
                });
                r.headers_mut()
                    .insert("x-own", mpm::http::HeaderValue::from_static("yes"));
                r
            }
            "/peer" => Response::new(Body::from(format!(
                "{} {}",
                conn.peer.ip(),
                conn.is_secure()
            ))),
            _ => Response::new(Body::from("Hello, World!")),
        }
    }

    /// Under event, the loop answers `/`, `/peer`, `/stream`, `/write` and
    /// `/kept` itself and
    /// workers take the rest, so the cases cover both and their mix on
    /// one connection (pipelining).
    fn answer_never_blocks(&self, _method: &mpm::http::Method, uri: &mpm::http::Uri) -> bool {
        matches!(uri.path(), "/" | "/peer" | "/stream" | "/write" | "/kept")
    }
}

/// A test server with the conformance app.
pub fn server(protocol: ProtocolConfig) -> mpm::testing::TestServer {
    mpm::testing::TestServer::start(Box::new(mpm::single::Single), Arc::new(TestApp), protocol)
}

/// Connect with generous read timeouts (a hung server fails the test
/// instead of hanging it).
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the test server");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Send `raw` on a new connection and read one response.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> (Resp, BufReader<TcpStream>) {
    let mut s = connect(addr);
    s.write_all(raw).expect("send request");
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, raw.starts_with(b"HEAD "));
    (resp, r)
}

/// True when the server closed the connection: the next read gives EOF (or
/// a reset) and no more bytes.
pub fn closed(r: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    match r.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

pub mod pki;

/// How a test client reaches the server: in clear or through TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP.
    Plain,
    /// TLS (rustls client trusting the test CA, SNI `a.test`).
    Tls,
}

/// The server and client TLS configurations every TLS test shares: one
/// test CA and a certificate for `a.test`, made once per test binary.
pub fn tls_configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    static CONFIGS: std::sync::OnceLock<(Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>)> =
        std::sync::OnceLock::new();
    CONFIGS
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temporary directory");
            let pki = pki::Pki::new(dir.path());
            let a = pki.host("a", &["a.test"]);
            let spec = mpm::tls::CertSpec {
                names: vec!["a.test".into()],
                cert_file: a.cert,
                key_file: Some(a.key),
            };
            let server = mpm::tls::server_config(
                "test",
                &[spec],
                &mpm::tls::TlsPolicy::default(),
                &mpm::tls::TlsShared::new().expect("ticket key"),
            )
            .expect("server TLS configuration");
            (server, pki.client_config(&[b"http/1.1"]))
        })
        .clone()
}

/// The strategy a conformance run uses; all run in the test process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `single`: the blocking driver.
    Single,
    /// The event loop and its workers ([`mpm::event::Event::in_process`]).
    Event,
    /// Worker threads behind a listener ([`mpm::worker::Worker::in_process`]).
    WorkerThreads,
}

impl Strategy {
    fn build(self) -> Box<dyn mpm::strategy::Mpm> {
        match self {
            Strategy::Single => Box::new(mpm::single::Single),
            Strategy::Event => Box::new(mpm::event::Event::in_process()),
            Strategy::WorkerThreads => Box::new(mpm::worker::Worker::in_process()),
        }
    }
}

/// A test server with the conformance app over `transport`.
pub fn server_over(
    transport: Transport,
    strategy: Strategy,
    protocol: ProtocolConfig,
) -> mpm::testing::TestServer {
    match transport {
        Transport::Plain => {
            mpm::testing::TestServer::start(strategy.build(), Arc::new(TestApp), protocol)
        }
        Transport::Tls => mpm::testing::TestServer::start_tls(
            strategy.build(),
            Arc::new(TestApp),
            protocol,
            tls_configs().0,
        ),
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<pki::TlsClient>),
}

/// A client connection over either transport. Clones share the one
/// connection (a reader and a writer, as `TcpStream::try_clone` gives).
/// The TLS side is strict: a close without `close_notify` is an error
/// (`UnexpectedEof`), so the cases also check that the server ends every
/// TLS connection cleanly (a close-delimited body is then complete).
#[derive(Clone)]
pub struct Client {
    stream: std::rc::Rc<std::cell::RefCell<Stream>>,
    /// Bytes `peek` had to decrypt, read first.
    peeked: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
}

impl Client {
    fn tcp<R>(&self, f: impl FnOnce(&TcpStream) -> R) -> R {
        match &*self.stream.borrow() {
            Stream::Plain(s) => f(s),
            Stream::Tls(s) => f(&s.sock),
        }
    }

    /// Another handle on the same connection.
    pub fn try_clone(&self) -> std::io::Result<Client> {
        Ok(self.clone())
    }

    /// The client's own port (how the server's side names it).
    pub fn local_port(&self) -> u16 {
        self.tcp(|s| s.local_addr().expect("a connected socket").port())
    }

    /// Switch the socket's blocking mode.
    pub fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        self.tcp(|s| s.set_nonblocking(on))
    }

    /// Look at what the server sent without consuming it (decrypted, for
    /// TLS).
    pub fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut peeked = self.peeked.borrow_mut();
        if peeked.is_empty() {
            let mut tmp = [0u8; 4096];
            let n = self.read_stream(&mut tmp)?;
            peeked.extend_from_slice(&tmp[..n]);
        }
        let n = peeked.len().min(buf.len());
        buf[..n].copy_from_slice(&peeked[..n]);
        Ok(n)
    }

    /// Half-close (TLS says `close_notify` first).
    pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
        if let Stream::Tls(s) = &mut *self.stream.borrow_mut() {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        self.tcp(|s| s.shutdown(how))
    }

    fn read_stream(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut *self.stream.borrow_mut() {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Read for Client {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut peeked = self.peeked.borrow_mut();
        if !peeked.is_empty() {
            let n = peeked.len().min(buf.len());
            buf[..n].copy_from_slice(&peeked[..n]);
            peeked.drain(..n);
            return Ok(n);
        }
        drop(peeked);
        self.read_stream(buf)
    }
}

impl Write for Client {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut *self.stream.borrow_mut() {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => {
                let n = s.write(buf)?;
                s.flush()?;
                Ok(n)
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut *self.stream.borrow_mut() {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Connect over `transport` (TLS: handshake done), with the generous
/// timeouts of [`connect`].
pub fn connect_over(transport: Transport, addr: SocketAddr) -> Client {
    let tcp = connect(addr);
    let stream = match transport {
        Transport::Plain => Stream::Plain(tcp),
        Transport::Tls => Stream::Tls(Box::new(
            pki::tls_connect(&tls_configs().1, "a.test", tcp).expect("TLS handshake"),
        )),
    };
    Client {
        stream: std::rc::Rc::new(std::cell::RefCell::new(stream)),
        peeked: Default::default(),
    }
}

/// [`exchange`] over `transport`.
pub fn exchange_over(
    transport: Transport,
    addr: SocketAddr,
    raw: &[u8],
) -> (Resp, BufReader<Client>) {
    let mut c = connect_over(transport, addr);
    c.write_all(raw).expect("send request");
    let mut r = BufReader::new(c);
    let resp = read_response(&mut r, raw.starts_with(b"HEAD "));
    (resp, r)
}

/// [`closed`] for a [`Client`].
pub fn closed_over(r: &mut BufReader<Client>) -> bool {
    let mut rest = Vec::new();
    match r.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}
