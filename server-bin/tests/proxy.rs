//! The reverse proxy (`ProxyPass`) in the real `mpmd`, in front of real
//! backends: embedded `mpm` servers started by the test (threads of this
//! process), a second `mpmd`, nginx from the distribution, and a fake
//! backend of raw sockets for the answers no real server sends (broken
//! heads, bodies cut short, silence).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use mpm::http::{header, HeaderValue, StatusCode};
use mpm::testing::TestServer;
use mpm::{Body, ConnInfo, ProtocolConfig, Request, Response};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Bytes of the large bodies: 64 MiB each way.
const LARGE: u64 = 64 << 20;

/// Byte `i` of a large body (251 is prime: a shifted or lost block shows).
fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// A reader of `len` pattern bytes, made as it is read.
struct Pattern {
    at: u64,
    len: u64,
}

impl Read for Pattern {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.len - self.at).min(out.len() as u64) as usize;
        for (k, b) in out[..n].iter_mut().enumerate() {
            *b = pattern_byte(self.at + k as u64);
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// Read `r` to its end: (bytes, whether every byte followed the pattern).
fn count_pattern(r: &mut impl Read) -> (u64, bool) {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut n, mut ok) = (0u64, true);
    loop {
        let got = match r.read(&mut buf) {
            Ok(0) | Err(_) => return (n, ok),
            Ok(got) => got,
        };
        ok &= buf[..got]
            .iter()
            .enumerate()
            .all(|(k, b)| *b == pattern_byte(n + k as u64));
        n += got as u64;
    }
}

/// The embedded backend: `/…/big` a 64 MiB download, `/…/upload` reads
/// the body and says how much of the pattern came and how it was framed,
/// `/…/refuse` a 403 without reading the body, anything else an echo of
/// the request (method, target, fields, the peer's port) with a
/// `Location` and a `Set-Cookie` naming the backend.
fn backend(req: Request<'_>, conn: &ConnInfo) -> Response {
    let path = req.uri().path().to_string();
    if path.ends_with("/big") {
        return Response::new(Body::Reader {
            reader: Box::new(Pattern { at: 0, len: LARGE }),
            len: Some(LARGE),
        });
    }
    if path.ends_with("/refuse") {
        let mut r = Response::new(Body::from("refused"));
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    }
    let framing = if req.headers().contains_key(header::TRANSFER_ENCODING) {
        "chunked".to_string()
    } else {
        format!("length {:?}", req.headers().get(header::CONTENT_LENGTH))
    };
    if path.ends_with("/upload") {
        let mut req = req;
        let (n, ok) = count_pattern(req.body_mut());
        return Response::new(Body::from(format!("bytes {n} pattern {ok} {framing}")));
    }
    let mut text = format!(
        "{} {}\npeer {}\n",
        req.method(),
        req.uri(),
        conn.peer.port()
    );
    for (name, value) in req.headers() {
        text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut req = req;
    let mut body = Vec::new();
    let _ = req.body_mut().read_to_end(&mut body);
    text.push_str(&format!("body {}\n", String::from_utf8_lossy(&body)));
    let mut r = Response::new(Body::from(text));
    let h = r.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("http://{host}/base/login")).unwrap(),
    );
    h.insert(
        header::SET_COOKIE,
        HeaderValue::from_static("id=1; Path=/base/x; HttpOnly"),
    );
    r
}

/// The embedded backend on a free port, threads of this process.
fn start_backend(protocol: ProtocolConfig) -> TestServer {
    let strategy = mpm::by_name("event-threads").expect("the in-process event strategy");
    TestServer::start(strategy, Arc::new(backend), protocol)
}

/// `mpmd` under `mpm` with `conf` after the common directives.
fn start_proxy(mpm: &str, conf: &str) -> (Site, u16, Mpmd) {
    let site = Site::new();
    let port = free_port();
    let server = start_mpm(&site, mpm, port, conf);
    (site, port, server)
}

/// One request on a new connection (closed after).
fn request(port: u16, text: &str) -> Resp {
    raw(addr(port), text.as_bytes())
}

#[test]
fn a_proxied_request_reaches_the_backend_and_its_answer_comes_back_rewritten_under_every_strategy()
{
    let backend = start_backend(ProtocolConfig::default());
    let b = backend.addr();
    for mpm in ["event", "prefork", "worker"] {
        let (site, port, server) = start_proxy(
            mpm,
            &format!(
                "ProxyPass /app/static/ !\nProxyPass /app/ http://{b}/base/\n\
                 ProxyPassReverse /app/ http://{b}/base/\nProxyPassReverseCookiePath /base/ /app/\n\
                 <Location /app/admin>\nRequire ip 10.0.0.0/8\n</Location>\n"
            ),
        );
        site.write("htdocs/app/static/a.css", "from the files");
        let r = request(
            port,
            "GET /app/hello%20there?x=1 HTTP/1.1\r\nHost: www.example\r\n\
             Connection: close, X-Private, Upgrade\r\nX-Private: 1\r\nKeep-Alive: 300\r\n\
             Upgrade: websocket\r\n\
             X-Forwarded-For: 198.51.100.7\r\nTE: trailers\r\n\r\n",
        );
        let text = r.text();
        assert_eq!(r.status, 200, "{mpm}: {text}\n{}", server.stderr());
        assert!(
            text.starts_with("GET /base/hello%20there?x=1\n"),
            "{mpm}: {text}"
        );
        for seen in [
            format!("host: {b}\n"),
            "x-forwarded-for: 198.51.100.7, 127.0.0.1\n".into(),
            "x-forwarded-host: www.example\n".into(),
            "x-forwarded-server: localhost\n".into(),
        ] {
            assert!(
                text.contains(&seen),
                "{mpm}: the backend did not see {seen:?}: {text}"
            );
        }
        // Without a tunnel, an Upgrade request is passed as a plain one.
        for hop in ["x-private", "keep-alive", "te:", "connection", "upgrade"] {
            assert!(
                !text.contains(hop),
                "{mpm}: hop-by-hop {hop} reached the backend: {text}"
            );
        }
        assert_eq!(
            r.header("location"),
            Some("http://www.example/app/login"),
            "{mpm}: Location not rewritten by ProxyPassReverse"
        );
        assert_eq!(
            r.header("set-cookie"),
            Some("id=1; Path=/app/x; HttpOnly"),
            "{mpm}"
        );
        // Any method goes to the backend, and <Location>'s Require first.
        let r = request(
            port,
            "PROPFIND /app/dav HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(r.status, 200, "{mpm}: {}", r.text());
        assert!(
            r.text().starts_with("PROPFIND /base/dav\n"),
            "{mpm}: {}",
            r.text()
        );
        assert_eq!(
            get(addr(port), "localhost", "/app/admin/x").status,
            403,
            "{mpm}"
        );
        // An exclusion leaves the request to the files.
        let r = get(addr(port), "localhost", "/app/static/a.css");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "from the files"),
            "{mpm}"
        );
        // A chunked body goes on chunked; several requests on one client
        // connection.
        let mut c = mpm::testing::TestClient::connect(addr(port));
        for i in 0..3 {
            c.send(
                "POST",
                "/app/echo",
                &[("Host", "localhost"), ("Transfer-Encoding", "chunked")],
                b"5\r\nhello\r\n0\r\n\r\n",
            );
            let r = c.response();
            assert_eq!(r.status, 200, "{mpm}: request {i}: {}", r.text());
            assert!(
                r.text().contains("transfer-encoding: chunked\n"),
                "{mpm}: {}",
                r.text()
            );
            assert!(r.text().ends_with("body hello\n"), "{mpm}: {}", r.text());
        }
        drop(server);
    }
}

#[test]
fn location_proxy_pass_proxy_pass_match_and_preserve_host_route_as_apache_does() {
    let backend = start_backend(ProtocolConfig::default());
    let b = backend.addr();
    let (_site, port, server) = start_proxy(
        "event",
        &format!(
            "ProxyPreserveHost On\nProxyVia On\n\
             ProxyPassMatch \"^/m/(.*)\\.txt$\" http://{b}/matched/$1\n\
             <Location /loc>\nProxyPass http://{b}/located\n</Location>\n\
             ProxyPass /loc/ http://127.0.0.1:1/never/\n"
        ),
    );
    let ask = |path: &str| {
        let r = get(addr(port), "www.example", path);
        assert_eq!(r.status, 200, "{path}: {}\n{}", r.text(), server.stderr());
        r.text()
    };
    let text = ask("/m/a%20b.txt?q=1");
    assert!(text.starts_with("GET /matched/a%20b?q=1\n"), "{text}");
    assert!(
        text.contains("host: www.example\n"),
        "ProxyPreserveHost: {text}"
    );
    assert!(text.contains("via: 1.1 localhost\n"), "ProxyVia: {text}");
    // The <Location> form is tried before the server's rules.
    let text = ask("/loc/x");
    assert!(text.starts_with("GET /located/x\n"), "{text}");
}

#[test]
fn a_refused_connection_gives_503_and_the_backend_is_not_tried_again_until_retry_passes() {
    let dead = free_port();
    let (_site, port, mut server) = start_proxy(
        "event-small",
        &format!("ProxyPass /app/ http://127.0.0.1:{dead}/ retry=30\n"),
    );
    let r = get(addr(port), "localhost", "/app/x");
    assert_eq!(r.status, 503, "{}", r.text());
    // One line naming the backend and the cause.
    server.wait_log(
        &format!("proxy: http://127.0.0.1:{dead}/: could not connect (Connection refused"),
        1,
    );
    // Something listens there now: within retry=, it is not tried.
    let listener = TcpListener::bind(addr(dead)).expect("bind the backend's port");
    listener.set_nonblocking(true).unwrap();
    let r = get(addr(port), "localhost", "/app/x");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the proxy connected to a backend in its error state"
    );
    server.wait_log("is in its error state", 1);
}

/// A fake backend of raw sockets: answers each request by its path with
/// the bytes [`fake_answer`] gives, then closes (or, for `/silent`, holds
/// the connection until the test ends). Stopped on drop.
struct FakeBackend {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What the fake backend sends for `path`, and whether it then stays
/// silent instead of closing.
fn fake_answer(path: &str) -> (Vec<u8>, bool) {
    let text = |s: &str| s.as_bytes().to_vec();
    match path {
        "/cl-te" => (text("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), false),
        "/two-cl" => (text("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), false),
        "/not-http" => (text("ICY 200 OK\r\n\r\nhello"), false),
        "/huge" => {
            let mut head = text("HTTP/1.1 200 OK\r\nX-Big: ");
            head.resize(70 * 1024, b'a');
            head.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
            (head, false)
        }
        "/truncated" => (text("HTTP/1.1 200 OK\r\nContent-Le"), false),
        "/nothing" => (Vec::new(), false),
        "/silent" => (Vec::new(), true),
        "/short-length" => {
            let mut r = text("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
            r.extend(std::iter::repeat_n(b'x', 1000));
            (r, false)
        }
        "/events" => (
            text("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n"),
            true,
        ),
        "/short-chunked" => (text("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), false),
        "/chunked-text" => {
            let mut r = text("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
            for line in CHUNKED_TEXT.lines() {
                let line = format!("{line}\n");
                r.extend(format!("{:x}\r\n{line}\r\n", line.len()).bytes());
            }
            r.extend(b"0\r\n\r\n");
            (r, false)
        }
        "/slow" => {
            std::thread::sleep(Duration::from_millis(300));
            (text("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow"), false)
        }
        _ => (text("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"), false),
    }
}

/// The body `/chunked-text` sends, a chunk a line.
const CHUNKED_TEXT: &str = "the first line of a streamed answer\n\
                            the second line of a streamed answer\n\
                            the third line of a streamed answer\n\
                            and the last line, after which the body ends\n";

impl FakeBackend {
    fn start() -> FakeBackend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut silent = Vec::new();
            for conn in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let line = String::from_utf8_lossy(&head).into_owned();
                let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                let (answer, stay) = fake_answer(&path);
                let _ = conn.write_all(&answer);
                if stay {
                    silent.push(conn);
                }
            }
        });
        FakeBackend {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn bad_backend_answers_give_502_or_504_and_the_child_goes_on() {
    let fake = FakeBackend::start();
    std::thread::scope(|scope| {
        for mpm in ["event-small", "prefork", "worker"] {
            scope.spawn(|| bad_backend_answers_under(mpm, fake.addr));
        }
    });
}

fn bad_backend_answers_under(mpm: &str, fake: SocketAddr) {
    let (_site, port, mut server) =
        start_proxy(mpm, &format!("ProxyPass / http://{fake}/ timeout=1\n"));
    // One child (event-small) must be the same one after every answer.
    let one = mpm == "event-small";
    assert!(wait_for(5.0, || !one || children(server.pid()).len() == 1));
    let child = children(server.pid());
    for (path, status, logged) in [
        ("/cl-te", 502, "both Content-Length and Transfer-Encoding"),
        ("/two-cl", 502, "two different Content-Length values"),
        ("/not-http", 502, "the status line is not HTTP/1.x"),
        ("/huge", 502, "response head larger than the limits"),
        (
            "/truncated",
            502,
            "the connection ended in the response head",
        ),
        ("/nothing", 502, "the connection ended without an answer"),
        ("/silent", 504, "no answer within 1 s"),
    ] {
        let t = Instant::now();
        let r = get(addr(port), "localhost", path);
        assert_eq!(r.status, status, "{mpm}: {path}: {}", r.text());
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{mpm}: {path} took {:?}",
            t.elapsed()
        );
        server.wait_log(logged, 1);
        let log = server.stderr();
        let line = log.lines().find(|l| l.contains(logged)).unwrap_or_default();
        assert!(
            line.contains(&format!("proxy: http://{fake}/: ")),
            "{mpm}: {path}: the error log line does not name the backend: {line}"
        );
        let r = get(addr(port), "localhost", "/fine");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "ok"),
            "{mpm}: after {path}"
        );
        assert!(
            !server.stderr().contains("exit signal"),
            "{mpm}: a child died: {}",
            server.stderr()
        );
        if one {
            assert_eq!(
                children(server.pid()),
                child,
                "after {path}: the child changed"
            );
        }
    }
}

/// Send `GET path` on a kept-alive connection and read what comes until
/// the server closes it (or 10 s pass): the bytes, and whether it closed.
fn read_until_close(port: u16, path: &str) -> (Vec<u8>, bool) {
    let mut s = connect(addr(port));
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (all, true),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (all, true),
            Err(_) => return (all, false),
        }
    }
}

#[test]
fn a_backend_that_closes_mid_body_closes_the_client_connection() {
    let fake = FakeBackend::start();
    for mpm in ["event", "prefork", "worker"] {
        let (_site, port, mut server) =
            start_proxy(mpm, &format!("ProxyPass / http://{}/\n", fake.addr));
        let (bytes, closed) = read_until_close(port, "/short-length");
        let text = String::from_utf8_lossy(&bytes);
        assert!(closed, "{mpm}: the client connection stayed open: {text}");
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{mpm}: {text}");
        assert!(text.contains("Content-Length: 100000\r\n"), "{mpm}: {text}");
        let body = bytes.len() - text.find("\r\n\r\n").unwrap() - 4;
        assert!(body < 100000, "{mpm}: {body} body bytes look complete");
        let (bytes, closed) = read_until_close(port, "/short-chunked");
        let text = String::from_utf8_lossy(&bytes);
        assert!(closed, "{mpm}: the client connection stayed open: {text}");
        assert!(
            !text.contains("\r\n0\r\n\r\n"),
            "{mpm}: a last chunk was sent: {text}"
        );
        server.wait_log(
            "the backend closed the connection in the middle of the body",
            2,
        );
    }
}

#[test]
fn a_streamed_answer_reaches_the_client_while_the_backend_is_still_sending() {
    let fake = FakeBackend::start();
    for mpm in ["event", "prefork", "worker"] {
        let (_site, port, _server) =
            start_proxy(mpm, &format!("ProxyPass / http://{}/\n", fake.addr));
        let mut s = BufReader::new(connect(addr(port)));
        s.get_mut()
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        s.get_mut()
            .write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let head = mpm::testing::read_head(&mut s);
        assert_eq!(head.status, 200, "{mpm}");
        // The backend holds its connection open after the first event.
        let event = mpm::testing::read_chunk(&mut s);
        assert_eq!(
            event.as_deref(),
            Some(&b"data: 1\n\n"[..]),
            "{mpm}: the first event did not arrive while the stream is open"
        );
    }
}

#[test]
fn pooled_connections_outlive_a_backend_that_closes_idle_ones_after_one_second() {
    let mut protocol = ProtocolConfig::default();
    protocol.timeouts.keep_alive_timeout = Duration::from_secs(1);
    let backend = start_backend(protocol);
    let b = backend.addr();
    // The strategies side by side, each with its own proxy: one wait.
    std::thread::scope(|scope| {
        for mpm in ["event-small", "prefork", "worker"] {
            scope.spawn(move || pool_survives_under(mpm, b));
        }
    });
}

fn pool_survives_under(mpm: &str, b: SocketAddr) {
    let (_site, port, server) = start_proxy(mpm, &format!("ProxyPass / http://{b}/ ttl=30\n"));
    // A POST with a body is not retried once sent: only a pool that
    // never hands out a connection the backend closed keeps it from
    // a 502.
    let post = "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n\r\nx";
    let mut reused = 0;
    for round in 0..8 {
        if round > 0 {
            std::thread::sleep(Duration::from_millis(1100));
        }
        let mut c = connect(addr(port));
        c.write_all(post.as_bytes()).unwrap();
        c.write_all(post.as_bytes()).unwrap();
        let mut r = BufReader::new(c);
        let first = read_response(&mut r, false);
        let second = read_response(&mut r, false);
        for resp in [&first, &second] {
            assert_eq!(
                resp.status,
                200,
                "{mpm}: round {round}: {}\n{}",
                resp.text(),
                server.stderr()
            );
        }
        let peer = |r: &Resp| r.text().lines().nth(1).unwrap_or("").to_string();
        if peer(&first) == peer(&second) {
            reused += 1;
        }
    }
    assert!(
        reused >= 4,
        "{mpm}: the backend connection was reused in {reused} of 8 rounds"
    );
    assert!(
        !server.stderr().contains("proxy:"),
        "{mpm}: {}",
        server.stderr()
    );
}

/// `VmRSS` of `pid`, in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn uploads_and_downloads_of_64_mib_stream_through_with_bounded_memory() {
    let backend = start_backend(ProtocolConfig::default());
    let b = backend.addr();
    let (_site, port, server) = start_proxy(
        "event-small",
        &format!("ProxyPass / http://{b}/\nLimitRequestBody 0\n"),
    );
    assert!(wait_for(5.0, || children(server.pid()).len() == 1));
    let child = children(server.pid())[0];
    // Warm up: one small exchange each way.
    assert_eq!(get(addr(port), "localhost", "/echo").status, 200);
    let before = rss_kib(child);

    // Download: the backend's length is kept.
    let mut s = BufReader::new(connect(addr(port)));
    s.get_mut()
        .write_all(b"GET /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let head = mpm::testing::read_head(&mut s);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("67108864"));
    assert_eq!(
        count_pattern(&mut s),
        (LARGE, true),
        "the download arrived whole"
    );

    // Uploads: with a length, and chunked.
    for chunked in [false, true] {
        let mut s = connect(addr(port));
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_string()
        } else {
            format!("Content-Length: {LARGE}")
        };
        s.write_all(
            format!("POST /upload HTTP/1.1\r\nHost: localhost\r\n{framing}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let mut pattern = Pattern { at: 0, len: LARGE };
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = pattern.read(&mut buf).unwrap();
            if chunked {
                s.write_all(format!("{n:x}\r\n").as_bytes()).unwrap();
                s.write_all(&buf[..n]).unwrap();
                s.write_all(b"\r\n").unwrap();
            } else {
                s.write_all(&buf[..n]).unwrap();
            }
            if n == 0 {
                break;
            }
        }
        let r = read_response(&mut BufReader::new(s), false);
        let expect = if chunked {
            "bytes 67108864 pattern true chunked".to_string()
        } else {
            format!("bytes {LARGE} pattern true length Some(\"{LARGE}\")")
        };
        assert_eq!((r.status, r.text()), (200, expect), "{}", server.stderr());
    }
    let grown = rss_kib(child).saturating_sub(before);
    eprintln!("child RSS: {before} KiB before, grew by {grown} KiB");
    assert!(
        grown < 16 * 1024,
        "the child's RSS grew by {grown} KiB passing 64 MiB each way"
    );
}

#[test]
fn expect_100_continue_is_answered_only_when_the_backend_asks_for_the_body() {
    let backend = start_backend(ProtocolConfig::default());
    let b = backend.addr();
    let (_site, port, server) = start_proxy("event", &format!("ProxyPass / http://{b}/\n"));
    let mut s = BufReader::new(connect(addr(port)));
    s.get_mut()
        .write_all(
            b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let mut line = String::new();
    s.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n", "{}", server.stderr());
    s.read_line(&mut line).unwrap();
    s.get_mut().write_all(&[0, 1, 2]).unwrap();
    let r = read_response(&mut s, false);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "bytes 3 pattern true length Some(\"3\")")
    );

    // The backend answers without the body: so does the proxy, no 100.
    let mut s = BufReader::new(connect(addr(port)));
    s.get_mut()
        .write_all(
            b"POST /refuse HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let r = read_response(&mut s, false);
    assert_eq!((r.status, r.text().as_str()), (403, "refused"));
}

#[test]
fn proxied_requests_are_logged_with_the_backend_time_and_shown_on_server_status() {
    let fake = FakeBackend::start();
    let (site, port, _server) = start_proxy(
        "worker",
        &format!(
            "ProxyPass /server-status !\nProxyPass / http://{}/\n\
             LogFormat \"%D %>s %U\" timed\nCustomLog logs/access_log timed\n\
             <Location /server-status>\nSetHandler server-status\n</Location>\n",
            fake.addr
        ),
    );
    let slow = std::thread::spawn(move || get(addr(port), "localhost", "/slow").status);
    assert!(
        wait_for(5.0, || get(addr(port), "localhost", "/server-status")
            .text()
            .contains("GET /slow HTTP/1.1")),
        "the proxied request in flight is not on /server-status"
    );
    assert_eq!(slow.join().unwrap(), 200);
    let log_path = site.path("logs/access_log");
    let mut line = String::new();
    assert!(wait_for(5.0, || {
        line = std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .lines()
            .find(|l| l.ends_with(" 200 /slow"))
            .unwrap_or("")
            .to_string();
        !line.is_empty()
    }));
    let micros: u64 = line.split(' ').next().unwrap().parse().unwrap();
    assert!(
        micros >= 300_000,
        "%D is {micros} µs for a backend that took 300 ms"
    );
}

#[test]
fn config_test_checks_proxy_urls_and_lists_the_proxy_modules() {
    let site = Site::new();
    let conf = site.config(&format!(
        "Listen 127.0.0.1:{}\nServerName localhost\n<IfModule proxy_http_module>\n\
         ProxyPass /a/ http://127.0.0.1:1/ retry=never\n</IfModule>\n",
        free_port()
    ));
    let (code, out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("mpmd.conf:7: ProxyPass retry=never: give a number of seconds"),
        "{err}"
    );
    let (_, out, _) = run(&["-l"]);
    assert!(
        out.contains("mod_proxy.c") && out.contains("mod_proxy_http.c"),
        "{out}"
    );
}

#[test]
fn a_site_moves_to_a_new_server_by_graceful_restart_into_proxy_pass_without_a_failed_request() {
    // "new": the changed copy of the site, in another mpmd.
    let new_site = Site::new();
    new_site.write("htdocs/index.html", "new home");
    let new_port = free_port();
    let _new = start_mpm(&new_site, "worker", new_port, "");
    // "old": serves the site from its files, under keep-alive load.
    let old_site = Site::new();
    old_site.write("htdocs/index.html", "old home");
    let old_port = free_port();
    let conf = |extra: &str| {
        format!(
            "{}Listen 127.0.0.1:{old_port}\nServerName localhost\nDocumentRoot {}\n{extra}",
            mpm_directives("event"),
            old_site.docroot().display()
        )
    };
    let conf_path = old_site.config(&conf(""));
    let mut old = start(&old_site, &conf_path);
    assert_eq!(get(addr(old_port), "localhost", "/").text(), "old home");
    let load = MixedLoad::start(old_port, "/", 3, 1);
    assert!(wait_for(10.0, || load.ok() >= 50), "no load served");
    old_site.config(&conf(&format!(
        "ProxyPass / http://127.0.0.1:{new_port}/\nProxyPassReverse / http://127.0.0.1:{new_port}/\n"
    )));
    old.signal(Signal::SIGUSR1);
    old.wait_log("resuming normal operations", 2);
    assert!(
        wait_for(10.0, || get(addr(old_port), "localhost", "/").text()
            == "new home"),
        "the old server does not answer with the new site's content"
    );
    let ok = load.ok();
    assert!(wait_for(10.0, || load.ok() >= ok + 50), "the load stalled");
    let report = load.finish();
    eprintln!(
        "moved under load: {} ok, {} retried by the client, {} failed",
        report.ok,
        report.retried,
        report.failures.len()
    );
    assert!(
        report.failures.is_empty(),
        "{} failed requests ({} ok): {:?}\n{}",
        report.failures.len(),
        report.ok,
        report.failures,
        old.stderr()
    );
}

/// The distribution's nginx, if this machine has one.
fn nginx_bin() -> Option<PathBuf> {
    [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// nginx in the foreground (`daemon off`), with its configuration, pid
/// file, logs and temporary paths in a temporary directory, in its own
/// process group, killed with it on drop.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Nginx {
    /// Serves `/hello` and logs each request's connection number.
    fn start(bin: &PathBuf) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        std::fs::create_dir_all(dir.path().join("html")).unwrap();
        std::fs::write(dir.path().join("html/hello"), "Hello from nginx").unwrap();
        let conf = format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             \x20 log_format conn '$connection $connection_requests $request';\n\
             \x20 access_log {d}/access.log conn;\n\
             \x20 client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
             \x20 scgi_temp_path {d}/scgi;\n  keepalive_timeout 30s;\n\
             \x20 server {{\n    listen 127.0.0.1:{port};\n    root {d}/html;\n  }}\n}}\n"
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&file)
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start nginx");
        Nginx { child, dir, port }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

#[test]
fn an_nginx_backend_is_served_through_kept_alive_pooled_connections() {
    let Some(bin) = nginx_bin() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is missing under CI: .ci/run installs it"
        );
        eprintln!(
            "\n\n*** SKIPPED: no nginx binary (/usr/sbin/nginx); install it \
             (apt-get install nginx-light or nginx, as .ci/run does) to run this test ***\n"
        );
        return;
    };
    let nginx = Nginx::start(&bin);
    assert!(
        wait_for(10.0, || try_get(addr(nginx.port), "/hello") == Some(200)),
        "nginx did not start: {}{}",
        nginx.read("stderr.log"),
        nginx.read("error.log")
    );
    let (_site, port, server) = start_proxy(
        "event-small",
        &format!("ProxyPass /n/ http://127.0.0.1:{}/\n", nginx.port),
    );
    for i in 0..10 {
        let r = get(addr(port), "localhost", "/n/hello");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "Hello from nginx"),
            "request {i}: {}",
            server.stderr()
        );
    }
    // The proxied requests came on one kept-alive connection from the pool
    // (the one child), the 10th as that connection's 10th request.
    // (nginx writes its log line after the answer: wait for it.)
    let tenth = |log: &str| {
        log.lines()
            .filter(|l| l.contains("GET /hello"))
            .any(|l| l.split(' ').nth(1) == Some("10"))
    };
    assert!(
        wait_for(5.0, || tenth(&nginx.read("access.log"))),
        "nginx did not see one connection carry the 10 proxied requests:\n{}",
        nginx.read("access.log")
    );
}

/// The bytes of a chunked body from `s` up to the last chunk.
fn read_chunks(s: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(chunk) = mpm::testing::read_chunk(s) {
        body.extend(chunk);
    }
    body
}

#[test]
fn a_streamed_answer_is_compressed_and_each_piece_it_flushes_decodes_as_it_comes() {
    let fake = FakeBackend::start();
    for mpm in ["event", "prefork", "worker"] {
        let (_site, port, server) = start_proxy(
            mpm,
            &format!(
                "ProxyPass / http://{}/\n\
                 AddOutputFilterByType DEFLATE text/plain text/event-stream\n\
                 AddOutputFilterByType BROTLI_COMPRESS text/plain text/event-stream\n",
                fake.addr
            ),
        );
        for coding in ["gzip", "br"] {
            // A whole body of unknown length, compressed.
            let mut s = ask_encoded(port, "/chunked-text", coding);
            let head = mpm::testing::read_head(&mut s);
            assert_eq!(
                (head.status, head.header("content-encoding")),
                (200, Some(coding)),
                "{mpm}: the streamed text/plain answer was not {coding}-encoded: {head:?}\n{}",
                server.stderr()
            );
            assert_eq!(
                head.header("vary"),
                Some("Accept-Encoding"),
                "{mpm} {coding}"
            );
            let encoded = read_chunks(&mut s);
            assert_eq!(
                String::from_utf8_lossy(&decode(coding, &encoded)),
                CHUNKED_TEXT,
                "{mpm}: the {coding} body did not decode to the backend's"
            );

            // An event stream that stays open: its first event, flushed,
            // decodes before the stream ends.
            let mut s = ask_encoded(port, "/events", coding);
            let head = mpm::testing::read_head(&mut s);
            assert_eq!(
                head.header("content-encoding"),
                Some(coding),
                "{mpm}: {head:?}"
            );
            let mut decoded = Vec::new();
            let mut partial = Partial::new(coding);
            while !decoded.ends_with(b"data: 1\n\n") {
                let chunk = mpm::testing::read_chunk(&mut s).unwrap_or_else(|| {
                    panic!("{mpm}: the {coding} stream ended before its first event decoded")
                });
                decoded = partial.feed(&chunk);
            }
            assert_eq!(decoded, b"data: 1\n\n", "{mpm} {coding}");
        }
    }
}

/// A connection to `port` that asked for `path` accepting `coding` (and
/// nothing after it), read with a 5 s bound.
fn ask_encoded(port: u16, path: &str, coding: &str) -> BufReader<TcpStream> {
    let mut s = BufReader::new(connect(addr(port)));
    s.get_mut()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        s.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: {coding}\r\n\r\n"
    )
    .unwrap();
    s
}

/// `data` decoded from `coding` (gzip or br), whole.
fn decode(coding: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if coding == "gzip" {
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("gzip body");
    } else {
        brotli::Decompressor::new(data, 4096)
            .read_to_end(&mut out)
            .expect("brotli body");
    }
    out
}

/// A decoder fed a stream piece by piece, saying what it decoded so far.
enum Partial {
    Gzip(Box<flate2::write::GzDecoder<Vec<u8>>>),
    Br(Box<brotli::DecompressorWriter<Vec<u8>>>),
}

impl Partial {
    fn new(coding: &str) -> Partial {
        if coding == "gzip" {
            Partial::Gzip(Box::new(flate2::write::GzDecoder::new(Vec::new())))
        } else {
            Partial::Br(Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096)))
        }
    }

    fn feed(&mut self, piece: &[u8]) -> Vec<u8> {
        match self {
            Partial::Gzip(d) => {
                d.write_all(piece).expect("gzip piece");
                d.flush().expect("gzip flush");
                d.get_ref().clone()
            }
            Partial::Br(d) => {
                d.write_all(piece).expect("brotli piece");
                d.flush().expect("brotli flush");
                d.get_ref().clone()
            }
        }
    }
}
