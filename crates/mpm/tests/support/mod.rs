//! What the conformance tests share: a test handler, raw-socket clients and
//! a small HTTP/1.1 response reader that checks framing exactly.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

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

/// One response as read off the wire.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Read one response; `head_only` for responses to HEAD (no body even with
/// a Content-Length). Panics with what it saw when the framing is wrong.
pub fn read_response(r: &mut BufReader<TcpStream>, head_only: bool) -> Resp {
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
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
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
        loop {
            let mut size = String::new();
            r.read_line(&mut size).expect("chunk size");
            let n = usize::from_str_radix(size.trim_end(), 16).expect("hex chunk size");
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).expect("chunk data");
            assert_eq!(&chunk[n..], b"\r\n", "chunk not followed by CRLF");
            if n == 0 {
                break;
            }
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else {
        r.read_to_end(&mut resp.body).expect("close-delimited body");
    }
    resp
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
