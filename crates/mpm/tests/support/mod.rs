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
            "/panic" => panic!("the test handler panics on purpose"),
            // Unknown length: chunked on 1.1.
            "/stream" => Response::new(Body::Reader {
                reader: Box::new(std::io::Cursor::new(b"0123456789".repeat(1000))),
                len: None,
            }),
            "/peer" => Response::new(Body::from(format!(
                "{} {}",
                conn.peer.ip(),
                conn.is_secure()
            ))),
            _ => Response::new(Body::from("Hello, World!")),
        }
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
