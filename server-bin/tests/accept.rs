//! Accepting connections through the real `mpmd`, under every strategy,
//! and what the socket layer does for them: `AcceptFilter` (Linux's
//! `TCP_DEFER_ACCEPT`), on by default for `http` as in Apache, keeps a
//! connection that has sent nothing away from the server's children and
//! threads until it sends; the write timeout each accepted socket
//! inherits; the segments of a last response.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::*;

const MPMS: [&str; 3] = ["prefork", "worker", "event"];

/// The directives of strategy `mpm` with one process and one worker in
/// all: a connection that took the worker would keep every other client
/// waiting.
fn one_worker(mpm: &str) -> &'static str {
    match mpm {
        "prefork" => "LoadModule mpm_prefork_module modules/mod_mpm_prefork.so\nStartServers 1\nMinSpareServers 1\nMaxSpareServers 2\nServerLimit 1\nMaxRequestWorkers 1\n",
        "worker" => "LoadModule mpm_worker_module modules/mod_mpm_worker.so\nStartServers 1\nServerLimit 1\nThreadsPerChild 1\nThreadLimit 1\nMaxRequestWorkers 1\nMinSpareThreads 1\nMaxSpareThreads 2\n",
        "event" => "LoadModule mpm_event_module modules/mod_mpm_event.so\nStartServers 1\nServerLimit 1\nThreadsPerChild 1\nThreadLimit 1\nMaxRequestWorkers 1\nMinSpareThreads 1\nMaxSpareThreads 2\n",
        other => panic!("no such strategy: {other}"),
    }
}

/// `mpmd` under `mpm` with one worker ([`one_worker`]) on a free port,
/// serving `site`, with `extra` directives.
fn start_one_worker(site: &Site, mpm: &str, extra: &str) -> (u16, Mpmd) {
    let port = free_port();
    let conf = site.config(&format!(
        "{}Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n{extra}",
        one_worker(mpm),
        site.docroot().display()
    ));
    (port, start(site, &conf))
}

/// A site with a home page and `/server-status`; a silent connection that
/// a worker did take would hold it for a minute (`RequestReadTimeout`,
/// `Timeout`), far past the tests' bounds.
fn site() -> Site {
    let site = Site::new();
    site.write("htdocs/index.html", "<h1>home</h1>");
    site
}

const COMMON: &str = "<Location /server-status>\nSetHandler server-status\n</Location>\n\
                      RequestReadTimeout header=60\nTimeout 60\n";

/// `/server-status?auto` on a new connection, or what went wrong when it
/// is not answered with a 200 within 10 s.
fn status_page(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(addr(port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /server-status?auto HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut out = Vec::new();
    if let Err(e) = s.read_to_end(&mut out) {
        return Err(format!(
            "no complete answer within 10 s ({e}); got {:?}",
            String::from_utf8_lossy(&out)
        ));
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    if !text.starts_with("HTTP/1.1 200") {
        return Err(format!("answered {text:?}"));
    }
    Ok(text)
}

/// A field of `?auto`.
fn field<'p>(page: &'p str, name: &str) -> &'p str {
    let prefix = format!("{name}: ");
    page.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {name} on the status page:\n{page}"))
}

/// Whether the server shows that it took the silent connection: a
/// second busy worker beside the one serving the status request, or,
/// under event, the loop holding a second connection.
fn holds_the_silent_connection(mpm: &str, page: &str) -> bool {
    let name = if mpm == "event" {
        "ConnsTotal"
    } else {
        "BusyWorkers"
    };
    field(page, name).parse::<u32>().unwrap_or(0) > 1
}

#[test]
fn a_connection_that_sends_nothing_holds_no_worker_until_it_sends_under_every_mpm() {
    for mpm in MPMS {
        let site = site();
        let (port, m) = start_one_worker(&site, mpm, COMMON);
        let mut silent = connect(addr(port));
        // The only worker is free for another client: the silent
        // connection was not handed to it.
        let page = status_page(port).unwrap_or_else(|e| {
            panic!(
                "{mpm}: with a silent connection open, the status page was not served: {e}; {}",
                m.stderr()
            )
        });
        assert!(
            !holds_the_silent_connection(mpm, &page),
            "{mpm}: the server took a connection that has sent nothing:\n{page}"
        );
        // Once it sends, it is served.
        silent
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut std::io::BufReader::new(silent), false);
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (200, "<h1>home</h1>"),
            "{mpm}: the connection that sent late; {}",
            m.stderr()
        );
    }
}

#[test]
fn with_accept_filter_none_a_silent_connection_is_taken_at_once_under_every_mpm() {
    for mpm in MPMS {
        let site = site();
        let port = free_port();
        let m = start_mpm(
            &site,
            mpm,
            port,
            &format!("{COMMON}AcceptFilter http none\n"),
        );
        let silent = connect(addr(port));
        let mut page = String::new();
        assert!(
            wait_for(10.0, || {
                page = status_page(port).unwrap_or_default();
                !page.is_empty() && holds_the_silent_connection(mpm, &page)
            }),
            "{mpm}: with AcceptFilter http none, a silent connection was not taken within 10 s; status:\n{page}\n{}",
            m.stderr()
        );
        drop(silent);
    }
}

#[test]
fn a_client_that_stops_reading_holds_the_only_worker_no_longer_than_timeout_under_every_mpm() {
    for mpm in MPMS {
        let site = site();
        // Larger than what the socket buffers of both ends take.
        site.write("htdocs/big.bin", vec![b'x'; 16 << 20]);
        let (port, m) = start_one_worker(
            &site,
            mpm,
            "<Location /server-status>\nSetHandler server-status\n</Location>\nTimeout 1\n",
        );
        // A small receive buffer (no autotuning, which would take in tens
        // of MiB before the server's writes stop making progress).
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.set_recv_buffer_size(8192).unwrap();
        sock.connect(&addr(port).into()).unwrap();
        let mut stuck: TcpStream = sock.into();
        stuck
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        // The worker gives up on the write after Timeout and is free for
        // the next client; the status page says only its own request is
        // being served.
        let mut last = String::new();
        assert!(
            wait_for(30.0, || {
                last = match status_page(port) {
                    Ok(page) => page,
                    Err(e) => e,
                };
                last.contains("BusyWorkers: 1\n")
            }),
            "{mpm}: 30 s after a client stopped reading a 16 MiB answer (Timeout 1), the server still held it: {last}\n{}",
            m.stderr()
        );
        drop(stuck);
    }
}

/// The TCP segments `s` has received so far, and how many of them carried
/// data (Linux's `tcpi_segs_in`, `tcpi_data_segs_in`).
fn segments_in(s: &TcpStream) -> (u32, u32) {
    // SAFETY: tcp_info is a plain C struct of integers, for which all
    // zero bytes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the descriptor is the open socket `s` borrows; `info` is a
    // live tcp_info on this stack frame and `len` its size, which the
    // kernel writes at most (and updates `len` to what it wrote).
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    (info.tcpi_segs_in, info.tcpi_data_segs_in)
}

#[test]
fn the_response_to_a_request_that_asks_to_close_leaves_with_the_fin_in_one_segment_under_prefork_and_worker(
) {
    for mpm in ["prefork", "worker"] {
        let site = site();
        site.write("htdocs/hello.txt", "Hello, World!");
        let port = free_port();
        let m = start_mpm(&site, mpm, port, "");
        let mut s = connect(addr(port));
        let (handshake, _) = segments_in(&s);
        s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        assert!(
            answer.ends_with(b"\r\n\r\nHello, World!"),
            "{mpm}: {:?}; {}",
            String::from_utf8_lossy(&answer),
            m.stderr()
        );
        let (all, data) = segments_in(&s);
        // After the handshake: the acknowledgement of the request (unless
        // the answer carried it), then the answer with the FIN.
        assert!(
            data == 1 && all - handshake <= 2,
            "{mpm}: the answer came in {data} segment(s) with data, {} in all after the handshake (the FIN apart from the data)",
            all - handshake
        );
    }
}

/// The status page's row of the request whose line holds `marker` (the
/// request for the page itself shows in its worker's row).
fn row_of<'p>(page: &'p str, marker: &str) -> &'p str {
    page.lines()
        .find(|l| l.starts_with("<tr>") && l.contains(marker))
        .unwrap_or_else(|| panic!("no row for {marker} on the status page:\n{page}"))
}

/// GET `path` on `s` (kept alive unless `close`), the answer read whole.
fn ask(s: &TcpStream, path: &str, close: bool) -> Resp {
    let connection = if close { "Connection: close\r\n" } else { "" };
    (&*s)
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{connection}\r\n").as_bytes())
        .unwrap();
    read_response(&mut std::io::BufReader::new(s), false)
}

#[test]
fn the_status_page_shows_each_connections_own_client_after_a_kept_alive_one_under_every_mpm() {
    // One worker, so both connections are served in the same slot: the
    // client's text, made once per connection, must be the second
    // connection's own, not the first's kept.
    for mpm in MPMS {
        let site = site();
        let (port, m) = start_one_worker(&site, mpm, COMMON);
        for (from, other) in [("127.0.0.2", "127.0.0.3"), ("127.0.0.3", "127.0.0.2")] {
            let s =
                connect_from(from, addr(port)).expect("a connection from another loopback address");
            for n in 0..3 {
                let marker = format!("/server-status?{mpm}-{from}-{n}");
                let page = ask(&s, &marker, n == 2);
                assert_eq!(page.status, 200, "{mpm}: {marker}; {}", m.stderr());
                let row = row_of(&page.text(), &marker).to_string();
                assert!(
                    row.contains(&format!("<td>{from}</td>")) && !row.contains(other),
                    "{mpm}: request {n} from {from} shows another client: {row}"
                );
            }
        }
    }
}
