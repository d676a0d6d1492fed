//! Tunnels through the reverse proxy (mod_proxy_wstunnel, and
//! mod_proxy_http's `upgrade=`) in the real `mpmd`: a real WebSocket
//! client and server (tungstenite) on both sides of `ProxyPass /ws/
//! ws://…`, and a raw-socket backend speaking a custom protocol after its
//! `101` for `upgrade=ANY`; under event, prefork and worker, with plain
//! TCP and TLS between the client and `mpmd`.

mod common;

#[path = "../../crates/mpm/tests/support/pki.rs"]
mod pki;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use tungstenite::{Message, WebSocket};

/// What the echo backend saw of one tunnel.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// The path the handshake asked for.
    Path(String),
    /// The client's close (a Close frame or the end of the stream).
    Closed,
}

/// A WebSocket echo server on a free loopback port: every message comes
/// back as it came; the text `bye` makes it close the connection itself.
/// What it sees is sent on the channel.
struct EchoBackend {
    port: u16,
    seen: Receiver<Seen>,
    _accept: JoinHandle<()>,
}

impl EchoBackend {
    fn start() -> EchoBackend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, seen) = channel();
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let tx = tx.clone();
                std::thread::spawn(move || echo(stream, tx));
            }
        });
        EchoBackend {
            port,
            seen,
            _accept: accept,
        }
    }

    /// The next thing the backend saw, within 10 s.
    fn next(&self) -> Option<Seen> {
        self.seen.recv_timeout(Duration::from_secs(10)).ok()
    }
}

// The handshake callback's signature is tungstenite's (its error is an
// HTTP response).
#[allow(clippy::result_large_err)]
fn echo(stream: TcpStream, tx: Sender<Seen>) {
    let path_tx = tx.clone();
    let callback = move |req: &tungstenite::handshake::server::Request,
                         resp: tungstenite::handshake::server::Response| {
        let _ = path_tx.send(Seen::Path(req.uri().path().to_string()));
        Ok(resp)
    };
    let Ok(mut ws) = tungstenite::accept_hdr(stream, callback) else {
        return;
    };
    loop {
        match ws.read() {
            Ok(Message::Text(t)) if t == "bye" => {
                let _ = ws.close(None);
                // Until the client's answer to the close.
                while ws.read().is_ok() {}
                return;
            }
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(m).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => {
                let _ = tx.send(Seen::Closed);
                return;
            }
        }
    }
}

/// `mpmd` under `mpm` in front of `backend_port`: `/ws/` a `ws://`
/// worker, with `extra` directives.
fn start_proxy(mpm: &str, backend_port: u16, extra: &str) -> (Site, u16, Mpmd) {
    let site = Site::new();
    let port = free_port();
    let server = start_mpm(
        &site,
        mpm,
        port,
        &format!("ProxyPass /ws/ ws://127.0.0.1:{backend_port}/\n{extra}"),
    );
    (site, port, server)
}

/// A WebSocket client through the proxy on `port`, to `path`.
fn ws_client(port: u16, path: &str) -> WebSocket<TcpStream> {
    let tcp = TcpStream::connect(addr(port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (ws, resp) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), tcp)
        .unwrap_or_else(|e| panic!("the WebSocket handshake through mpmd failed: {e}"));
    assert_eq!(resp.status(), 101, "mpmd answered {resp:?}");
    ws
}

/// Text and binary messages go and come back; the backend got the
/// request for the right path.
fn messages_echo<S: Read + Write>(ws: &mut WebSocket<S>, backend: &EchoBackend) {
    assert_eq!(backend.next(), Some(Seen::Path("/chat".into())));
    ws.send(Message::text("hello through the tunnel")).unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Message::text("hello through the tunnel")
    );
    let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(blob.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(blob));
}

/// The client closes: the backend sees it.
fn client_close_reaches_the_backend<S: Read + Write>(mut ws: WebSocket<S>, backend: &EchoBackend) {
    ws.close(None).unwrap();
    // The close handshake completes through the tunnel.
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("the close did not complete: {e}"),
        }
    }
    assert_eq!(
        backend.next(),
        Some(Seen::Closed),
        "the backend never saw the client's close"
    );
}

/// The backend closes: the client sees the close and then the end of the
/// connection.
fn backend_close_reaches_the_client<S: Read + Write>(mut ws: WebSocket<S>) {
    ws.send(Message::text("bye")).unwrap();
    let mut saw_close = false;
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => saw_close = true,
            Ok(m) => panic!("unexpected message {m:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                panic!("the tunnel stayed open after the backend closed")
            }
            Err(e) => panic!("the backend's close did not arrive: {e}"),
        }
    }
    assert!(saw_close, "no Close frame from the backend");
}

fn websocket_through_the_proxy(mpm: &str) {
    let backend = EchoBackend::start();
    let (_site, port, _server) = start_proxy(mpm, backend.port, "");
    let mut ws = ws_client(port, "/ws/chat");
    messages_echo(&mut ws, &backend);
    client_close_reaches_the_backend(ws, &backend);
    let mut ws = ws_client(port, "/ws/chat");
    messages_echo(&mut ws, &backend);
    backend_close_reaches_the_client(ws);
}

#[test]
fn event_passes_websocket_messages_both_ways_and_either_side_closes_the_tunnel() {
    websocket_through_the_proxy("event");
}

#[test]
fn prefork_passes_websocket_messages_both_ways_and_either_side_closes_the_tunnel() {
    websocket_through_the_proxy("prefork");
}

#[test]
fn worker_passes_websocket_messages_both_ways_and_either_side_closes_the_tunnel() {
    websocket_through_the_proxy("worker");
}

/// As above with TLS between the client and `mpmd`: the tunnel copies
/// the decrypted bytes.
fn websocket_over_tls(mpm: &str) {
    let backend = EchoBackend::start();
    let site = Site::new();
    let pki = pki::Pki::new(site.root());
    let cert = pki.host("a", &["a.test"]);
    let port = free_port();
    let conf = site.config(&format!(
        "{}Listen 127.0.0.1:{port} https\nServerName a.test\nDocumentRoot {}\n\
         SSLEngine on\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n\
         ProxyPass /ws/ ws://127.0.0.1:{}/\n",
        mpm_directives(mpm),
        site.docroot().display(),
        cert.cert.display(),
        cert.key.display(),
        backend.port,
    ));
    let _server = start(&site, &conf);
    let cfg = pki.client_config(&[]);
    let connect = || {
        let tcp = TcpStream::connect(addr(port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let tls = pki::tls_connect(&cfg, "a.test", tcp).expect("TLS handshake with mpmd");
        let (ws, resp) = tungstenite::client(format!("wss://a.test:{port}/ws/chat"), tls)
            .unwrap_or_else(|e| panic!("the WebSocket handshake over TLS failed: {e}"));
        assert_eq!(resp.status(), 101);
        ws
    };
    let mut ws = connect();
    messages_echo(&mut ws, &backend);
    client_close_reaches_the_backend(ws, &backend);
    let mut ws = connect();
    messages_echo(&mut ws, &backend);
    backend_close_reaches_the_client(ws);
}

#[test]
fn event_tunnels_websockets_for_tls_clients() {
    websocket_over_tls("event");
}

#[test]
fn prefork_tunnels_websockets_for_tls_clients() {
    websocket_over_tls("prefork");
}

#[test]
fn worker_tunnels_websockets_for_tls_clients() {
    websocket_over_tls("worker");
}

/// A tunnel without a byte either way for `ProxyWebsocketIdleTimeout`
/// is closed: the client sees the end of the connection.
fn idle_tunnel_is_closed(mpm: &str) {
    let backend = EchoBackend::start();
    let (_site, port, _server) = start_proxy(mpm, backend.port, "ProxyWebsocketIdleTimeout 1\n");
    let mut ws = ws_client(port, "/ws/chat");
    messages_echo(&mut ws, &backend);
    let began = Instant::now();
    let ended = match ws.read() {
        Err(tungstenite::Error::ConnectionClosed)
        | Err(tungstenite::Error::AlreadyClosed)
        | Err(tungstenite::Error::Protocol(_)) => true,
        Err(tungstenite::Error::Io(e)) => e.kind() != ErrorKind::WouldBlock,
        Ok(m) => panic!("unexpected message {m:?}"),
        Err(e) => panic!("unexpected error {e}"),
    };
    let waited = began.elapsed();
    assert!(
        ended && waited >= Duration::from_millis(800) && waited < Duration::from_secs(8),
        "the idle tunnel ended after {waited:?} (ended: {ended}); want about 1 s"
    );
    assert_eq!(
        backend.next(),
        Some(Seen::Closed),
        "the backend's side of the idle tunnel stayed open"
    );
}

#[test]
fn event_closes_a_tunnel_idle_for_proxy_websocket_idle_timeout() {
    idle_tunnel_is_closed("event");
}

#[test]
fn worker_closes_a_tunnel_idle_for_proxy_websocket_idle_timeout() {
    idle_tunnel_is_closed("worker");
}

#[test]
fn prefork_closes_a_tunnel_idle_for_proxy_websocket_idle_timeout() {
    idle_tunnel_is_closed("prefork");
}

/// A raw backend for `upgrade=ANY`: `GET /no` gets a plain 200; any other
/// request naming `Upgrade: myproto` gets a 101 with a greeting, then
/// every byte comes back upper-cased, and when the client half-closes the
/// backend says `bye` and closes too.
fn raw_backend() -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                if head.starts_with("get /no ") {
                    let _ =
                        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nno upgrade\r\n");
                    return;
                }
                if !head.contains("\r\nupgrade: myproto\r\n")
                    || !head.contains("\r\nconnection: upgrade\r\n")
                {
                    let _ = s.write_all(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 10\r\n\r\nno upgrade",
                    );
                    return;
                }
                let _ = s.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: myproto\r\n\
                      Connection: Upgrade\r\n\r\nhello from the backend\n",
                );
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = s.write_all(b"bye\n");
            });
        }
    });
    (port, handle)
}

/// Read from `s` until `want` has come (or the stream ends or 10 s pass).
fn read_until(s: &mut TcpStream, got: &mut Vec<u8>, want: &[u8]) {
    let mut buf = [0u8; 4096];
    while !got.windows(want.len()).any(|w| w == want) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn raw_protocol_through_upgrade_any(mpm: &str) {
    let (backend, _handle) = raw_backend();
    let site = Site::new();
    let port = free_port();
    let _server = start_mpm(
        &site,
        mpm,
        port,
        &format!("ProxyPass /raw/ http://127.0.0.1:{backend}/ upgrade=ANY\n"),
    );
    // A non-101 answer to an upgrade request is an ordinary response.
    let resp = raw(
        addr(port),
        b"GET /raw/no HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: myproto\r\n\r\n",
    );
    assert!(
        resp.status == 200 && resp.body == b"no upgrade\r\n",
        "mpmd answered {} {:?}",
        resp.status,
        String::from_utf8_lossy(&resp.body)
    );
    let mut s = TcpStream::connect(addr(port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Bytes sent right after the head reach the backend once it switched.
    s.write_all(
        b"GET /raw/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: myproto\r\n\r\nearly ",
    )
    .unwrap();
    let mut got = Vec::new();
    read_until(&mut s, &mut got, b"EARLY ");
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(
        text.starts_with("HTTP/1.1 101 ")
            && text.contains("\r\nUpgrade: myproto\r\n")
            && text.contains("\r\nConnection: Upgrade\r\n")
            && text.contains("\r\n\r\nhello from the backend\nEARLY "),
        "mpmd answered {text:?}"
    );
    s.write_all(b"abc").unwrap();
    got.clear();
    read_until(&mut s, &mut got, b"ABC");
    assert_eq!(got, b"ABC", "the tunnel did not pass bytes both ways");
    // Half-close: the backend sees the end, answers, and closes.
    s.shutdown(Shutdown::Write).unwrap();
    got.clear();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(
        got, b"bye\n",
        "after the client's half-close the backend's last bytes and close should come"
    );
}

#[test]
fn event_passes_a_custom_protocol_with_upgrade_any_and_half_closes() {
    raw_protocol_through_upgrade_any("event");
}

#[test]
fn prefork_passes_a_custom_protocol_with_upgrade_any_and_half_closes() {
    raw_protocol_through_upgrade_any("prefork");
}

#[test]
fn worker_passes_a_custom_protocol_with_upgrade_any_and_half_closes() {
    raw_protocol_through_upgrade_any("worker");
}

/// A WebSocket backend that completes handshakes on one thread and keeps
/// every connection open without reading: many idle tunnels, one thread.
fn idle_backend() -> (u16, Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            if let Ok(ws) = tungstenite::accept(stream) {
                held.push(ws);
                let _ = tx.send(held.len());
            }
        }
    });
    (port, rx)
}

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn event_holds_a_thousand_idle_tunnels_without_a_thread_under_16_kib_each() {
    const TUNNELS: usize = 1000;
    const WARM: usize = 50;
    let (backend, handshakes) = idle_backend();
    let site = Site::new();
    let port = free_port();
    let conf = site.config(&format!(
        "LoadModule mpm_event_module modules/mod_mpm_event.so\nStartServers 1\nServerLimit 1\n\
         ThreadsPerChild 4\nThreadLimit 4\nMaxRequestWorkers 4\nMinSpareThreads 1\n\
         MaxSpareThreads 5\nListen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n\
         ProxyPass /ws/ ws://127.0.0.1:{backend}/\n",
        site.docroot().display()
    ));
    site.write("htdocs/index.html", "still here");
    let mut server = spawn_with_nofile(
        site.root(),
        &["-f", conf.to_str().unwrap()],
        Some(4 * TUNNELS as u64 + 512),
    );
    assert!(
        wait_for(10.0, || try_get(addr(port), "/") == Some(200)),
        "mpmd did not start: {}",
        server.stderr()
    );
    let child = children(server.pid())[0];
    let mut clients = Vec::with_capacity(TUNNELS);
    let open = |clients: &mut Vec<_>, n: usize| {
        for _ in 0..n {
            clients.push(ws_client(port, "/ws/idle"));
        }
        let want = clients.len();
        assert!(
            wait_for(10.0, || handshakes
                .try_iter()
                .last()
                .is_some_and(|h| h >= want)
                || clients.len() < want),
            "the backend did not see {want} handshakes"
        );
    };
    // The first tunnels grow the loop's tables and the allocator's arenas.
    open(&mut clients, WARM);
    let threads = threads_of(child);
    let before = rss_kib(child);
    open(&mut clients, TUNNELS - WARM);
    let after = rss_kib(child);
    let per_tunnel = (after.saturating_sub(before) * 1024) / (TUNNELS - WARM) as u64;
    eprintln!(
        "{TUNNELS} idle tunnels: child RSS {before} KiB -> {after} KiB, {per_tunnel} bytes each; \
         threads {threads} -> {}",
        threads_of(child)
    );
    assert_eq!(
        threads_of(child),
        threads,
        "the child's threads changed while tunnels opened"
    );
    assert!(
        per_tunnel < 16 * 1024,
        "each idle tunnel cost {per_tunnel} bytes of the child's memory"
    );
    // Four threads, a thousand tunnels: a request is still answered at once.
    let began = Instant::now();
    let resp = get(addr(port), "localhost", "/");
    assert!(
        resp.status == 200 && began.elapsed() < Duration::from_secs(2),
        "with {TUNNELS} tunnels open a GET took {:?} and got {}",
        began.elapsed(),
        resp.status
    );
    // And the first tunnel still carries bytes (the backend does not
    // answer, but the client's frame must leave without an error).
    clients[0].send(Message::text("still open")).unwrap();
    drop(clients);
    server.signal(Signal::SIGTERM);
    server.wait_exit(10);
}

/// A graceful stop lets an open tunnel run (as Apache does), and still
/// ends within `GracefulShutdownTimeout`.
fn graceful_stop_with_a_tunnel_open(mpm: &str) {
    let backend = EchoBackend::start();
    let (_site, port, mut server) = start_proxy(mpm, backend.port, "GracefulShutdownTimeout 2\n");
    let mut ws = ws_client(port, "/ws/chat");
    messages_echo(&mut ws, &backend);
    let began = Instant::now();
    server.signal(Signal::SIGWINCH);
    // The tunnel goes on while the server drains.
    ws.send(Message::text("during the drain")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("during the drain"));
    let status = server.wait_exit(15);
    let took = began.elapsed();
    assert!(
        status.success() && took < Duration::from_secs(8),
        "the graceful stop with a tunnel open took {took:?} ({status:?}); want about 2 s"
    );
    assert!(ws.read().is_err(), "the tunnel outlived the server");
}

#[test]
fn event_graceful_stop_keeps_tunnels_until_graceful_shutdown_timeout() {
    graceful_stop_with_a_tunnel_open("event");
}

#[test]
fn prefork_graceful_stop_keeps_tunnels_until_graceful_shutdown_timeout() {
    graceful_stop_with_a_tunnel_open("prefork");
}

#[test]
fn worker_graceful_stop_keeps_tunnels_until_graceful_shutdown_timeout() {
    graceful_stop_with_a_tunnel_open("worker");
}

#[test]
fn config_test_checks_ws_urls_and_upgrade_and_lists_proxy_wstunnel_module() {
    let site = Site::new();
    let port = free_port();
    let good = site.config(&format!(
        "Listen 127.0.0.1:{port}\nServerName localhost\n<IfModule proxy_wstunnel_module>\n\
         ProxyPass /ws/ ws://127.0.0.1:1/\nProxyPass /raw/ http://127.0.0.1:1/ upgrade=ANY\n\
         ProxyWebsocketIdleTimeout 30\n</IfModule>\n"
    ));
    let (code, out, err) = run(&["-t", "-f", good.to_str().unwrap()]);
    assert_eq!(code, 0, "mpmd -t refused tunnels: {out}{err}");
    let (_, out, _) = run(&["-M", "-f", good.to_str().unwrap()]);
    assert!(out.contains("proxy_wstunnel_module"), "{out}");
    for (line, says) in [
        (
            "ProxyPass /ws/ wss://127.0.0.1:1/",
            "wss:// backends are not supported by mpmd yet",
        ),
        (
            "ProxyPass /raw/ http://127.0.0.1:1/ upgrade=a,b",
            "upgrade=a,b: give a protocol name",
        ),
    ] {
        // (The same file, rewritten.)
        let bad = site.config(&format!(
            "Listen 127.0.0.1:{port}\nServerName localhost\n{line}\n"
        ));
        let (code, out, err) = run(&["-t", "-f", bad.to_str().unwrap()]);
        assert_ne!(code, 0, "{line}: {out}{err}");
        assert!(
            err.contains("mpmd.conf:") && err.contains(says),
            "{line}: {err}"
        );
    }
    let (_, out, _) = run(&["-l"]);
    assert!(out.contains("mod_proxy_wstunnel.c"), "{out}");
}

/// Sum of the resident memory of `master`'s children, in KiB.
fn children_rss_kib(master: i32) -> u64 {
    children(master).into_iter().map(rss_kib).sum()
}

/// A client that sends without reading fills the tunnel: the server stops
/// reading from it (back-pressure) instead of buffering, its memory stays
/// flat, and once the client reads, every byte arrives in order.
fn back_pressure(mpm: &str) {
    const TOTAL: usize = 48 << 20;
    let (backend, _handle) = raw_backend();
    let site = Site::new();
    let port = free_port();
    let server = start_mpm(
        &site,
        mpm,
        port,
        &format!("ProxyPass /raw/ http://127.0.0.1:{backend}/ upgrade=ANY\n"),
    );
    let mut s = TcpStream::connect(addr(port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /raw/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: myproto\r\n\r\n",
    )
    .unwrap();
    let mut got = Vec::new();
    read_until(&mut s, &mut got, b"hello from the backend\n");
    assert!(got.starts_with(b"HTTP/1.1 101 "), "mpmd answered {got:?}");
    let data: Arc<Vec<u8>> = Arc::new((0..TOTAL).map(|i| b'a' + (i % 26) as u8).collect());
    let before = children_rss_kib(server.pid());
    // Send without reading until the tunnel stops taking bytes for a while.
    s.set_nonblocking(true).unwrap();
    let (mut sent, mut refused) = (0, 0);
    while sent < TOTAL && refused < 50 {
        match s.write(&data[sent..(sent + 65536).min(TOTAL)]) {
            Ok(n) => {
                sent += n;
                refused = 0;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                refused += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("the tunnel failed while filling: {e}"),
        }
    }
    assert!(
        sent < TOTAL,
        "the tunnel took all {TOTAL} bytes from a client that reads nothing: no back-pressure"
    );
    let grown = children_rss_kib(server.pid()).saturating_sub(before);
    eprintln!("{mpm}: {sent} bytes in flight, the children's RSS grew by {grown} KiB");
    assert!(
        grown < 4096,
        "the children grew by {grown} KiB while {sent} bytes waited in the tunnel"
    );
    // Now read everything while the rest is sent.
    s.set_nonblocking(false).unwrap();
    let mut writer = s.try_clone().unwrap();
    let rest = data.clone();
    let send = std::thread::spawn(move || {
        writer.write_all(&rest[sent..]).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::with_capacity(TOTAL + 8);
    s.read_to_end(&mut back).unwrap();
    send.join().unwrap();
    assert_eq!(
        back.len(),
        TOTAL + 4,
        "bytes were lost or added in the tunnel"
    );
    assert!(
        back[..TOTAL]
            .iter()
            .zip(data.iter())
            .all(|(b, d)| *b == d.to_ascii_uppercase()),
        "bytes came back out of order or changed"
    );
    assert_eq!(&back[TOTAL..], b"bye\n");
}

#[test]
fn event_tunnel_stops_reading_a_side_whose_bytes_the_other_does_not_take() {
    back_pressure("event");
}

#[test]
fn worker_tunnel_stops_reading_a_side_whose_bytes_the_other_does_not_take() {
    back_pressure("worker");
}
