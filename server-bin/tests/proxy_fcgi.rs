//! mod_proxy_fcgi in the real `mpmd`: `ProxyPass … fcgi://` to a php-fpm
//! each test starts for itself (`common::php`), over a Unix socket and
//! over TCP, under event, prefork and worker; and to fake FastCGI
//! applications of raw sockets for the answers php-fpm never sends
//! (garbage, a head without end, `Status: 99`, a CR in `Location`,
//! 100,000 headers, output faster than the client reads).

mod common;

#[path = "../../crates/mpm/tests/support/pki.rs"]
mod pki;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::php::{
    curl_i, lines, peak_child_rss_kb, php_pages, php_site, Gateway, PhpFpm, PhpListen,
};
use common::*;

/// mpmd under `mpm` on a free port serving `site`, `conf` after its
/// defaults: the server (stopped on drop, even when the test fails) and
/// its port.
fn serve(site: &Site, mpm: &str, conf: &str) -> (Mpmd, u16) {
    let port = free_port();
    (start_mpm(site, mpm, port, conf), port)
}

/// A php-fpm of the test's own (`listen`), the PHP suite's site, and
/// mpmd under `mpm` with the lines `conf` makes of php-fpm's URL for the
/// site's `app/` folder (`unix:…|fcgi://localhost/…/app/`).
struct PhpBehind {
    fpm: PhpFpm,
    site: Site,
    server: Mpmd,
    port: u16,
}

impl PhpBehind {
    fn start(mpm: &str, listen: PhpListen, conf: impl FnOnce(&str) -> String) -> PhpBehind {
        let fpm = PhpFpm::start(listen);
        let site = php_site();
        let app = fpm.url(&format!("{}/app/", site.docroot().display()));
        let (server, port) = serve(&site, mpm, &conf(&app));
        PhpBehind {
            fpm,
            site,
            server,
            port,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A fake FastCGI application answering with `answer`, and mpmd under
/// `mpm` passing `prefix` to it (with the `ProxyPass` parameters
/// `params`).
struct FakeBehind {
    app: FakeApp,
    _site: Site,
    server: Mpmd,
    port: u16,
}

impl FakeBehind {
    fn start(mpm: &str, answer: Answer, prefix: &str, params: &str) -> FakeBehind {
        let app = FakeApp::start(answer);
        let site = Site::new();
        let (server, port) = serve(
            &site,
            mpm,
            &format!(
                "ProxyPass {prefix} fcgi://127.0.0.1:{}/srv/{params}\n",
                app.port
            ),
        );
        FakeBehind {
            app,
            _site: site,
            server,
            port,
        }
    }
}

/// The PHP suite through php-fpm under `mpm`: `$_SERVER`, `$_GET`,
/// `$_POST` (urlencoded and a 20 MB upload), redirects, a status, cookies,
/// a 50 MB page streamed, a fatal error and stderr in the error log,
/// sessions, and a timeout.
fn php_suite(mpm: &str, listen: PhpListen) {
    let mut php = PhpBehind::start(mpm, listen, |url| {
        format!("ProxyPass /slow/ \"{url}\" timeout=1\nProxyPass /app/ \"{url}\" enablereuse=on\n")
    });
    let base = php.base();
    let names = php
        .fpm
        .url(&format!("{}/app/", php.site.docroot().display()));
    php_pages(
        &php.site,
        &mut php.server,
        &base,
        &Gateway {
            php_message: "PHP message: ",
            names,
        },
    );
    let server = &mut php.server;

    // A script that sleeps past the worker's timeout: 504, logged.
    let started = Instant::now();
    let (status, _, _) = curl_i(&[&format!("{base}/slow/sleep.php?s=4")]);
    assert_eq!(
        status, 504,
        "a script sleeping past timeout=1 gave {status}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    server.wait_log("sleep.php: no answer within 1 s", 1);
}

#[test]
fn event_runs_the_php_suite_through_php_fpm_on_a_unix_socket() {
    php_suite("event", PhpListen::Unix);
}

#[test]
fn prefork_runs_the_php_suite_through_php_fpm_on_a_unix_socket() {
    php_suite("prefork", PhpListen::Unix);
}

#[test]
fn worker_runs_the_php_suite_through_php_fpm_over_tcp() {
    php_suite("worker", PhpListen::Tcp);
}

#[test]
fn event_runs_the_php_suite_through_php_fpm_over_tcp() {
    php_suite("event", PhpListen::Tcp);
}

/// Under TLS, PHP sees `HTTPS=on` and the https scheme.
fn tls_gives_php_https_on(mpm: &str) {
    let fpm = PhpFpm::start(PhpListen::Unix);
    let site = php_site();
    let pki = pki::Pki::new(site.root());
    let cert = pki.host("a", &["a.test"]);
    let port = free_port();
    let conf = site.config(&format!(
        "{}Listen 127.0.0.1:{port} https\nServerName a.test\nDocumentRoot {root}\n\
         SSLEngine on\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n\
         ProxyPass /app/ \"{}\"\n",
        mpm_directives(mpm),
        cert.cert.display(),
        cert.key.display(),
        fpm.url(&format!("{}/app/", site.docroot().display())),
        root = site.docroot().display(),
    ));
    let _server = start(&site, &conf);
    let (status, _, body) = curl_i(&[
        "--cacert",
        pki.ca_file().to_str().unwrap(),
        "--resolve",
        &format!("a.test:{port}:127.0.0.1"),
        &format!("https://a.test:{port}/app/server.php"),
    ]);
    assert_eq!(status, 200, "{body}");
    let vars = lines(&body);
    assert_eq!(vars.get("HTTPS").map(String::as_str), Some("on"), "{body}");
    assert_eq!(
        vars.get("REQUEST_SCHEME").map(String::as_str),
        Some("https"),
        "{body}"
    );
    assert_eq!(vars.get("SERVER_NAME").map(String::as_str), Some("a.test"));
}

#[test]
fn event_gives_php_https_on_under_tls() {
    tls_gives_php_https_on("event");
}

#[test]
fn prefork_gives_php_https_on_under_tls() {
    tls_gives_php_https_on("prefork");
}

#[test]
fn worker_gives_php_https_on_under_tls() {
    tls_gives_php_https_on("worker");
}

#[test]
fn a_php_fpm_that_is_down_is_a_503_with_a_log_line_naming_its_socket() {
    let mut fpm = PhpFpm::start(PhpListen::Unix);
    let socket = fpm.socket.clone().unwrap();
    fpm.stop();
    let _ = std::fs::remove_file(&socket);
    let site = php_site();
    let (mut server, port) = serve(
        &site,
        "event",
        &format!("ProxyPass /app/ \"{}\"\n", fpm.url("/srv/app/")),
    );
    let (status, _, _) = curl_i(&[&format!("http://127.0.0.1:{port}/app/hello.php")]);
    assert_eq!(status, 503, "a request to a stopped php-fpm gave {status}");
    server.wait_log("could not connect", 1);
    let log = server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("could not connect"))
        .unwrap();
    assert!(
        line.contains(&socket.display().to_string()),
        "the 503's log line does not name the socket: {line}"
    );
}

// ---- Fake FastCGI applications ----

/// What a fake application sends for a request, by the request's
/// `SCRIPT_NAME`.
type Answer = fn(&str) -> Vec<u8>;

/// A FastCGI application of raw sockets on a free port: reads each
/// request's records up to the empty `STDIN`, then writes what `answer`
/// gives for its `SCRIPT_NAME`; keeps the connection when the request
/// asked (`FCGI_KEEP_CONN`) and the answer ends with `END_REQUEST`.
/// Counts connections and requests; stopped on drop.
struct FakeApp {
    port: u16,
    connections: Arc<AtomicUsize>,
    keep_conn_asked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FakeApp {
    fn start(answer: Answer) -> FakeApp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let app = FakeApp {
            port,
            connections: Arc::default(),
            keep_conn_asked: Arc::default(),
            stop: Arc::default(),
        };
        let (connections, keep, stop) = (
            app.connections.clone(),
            app.keep_conn_asked.clone(),
            app.stop.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        connections.fetch_add(1, Ordering::Relaxed);
                        let keep = keep.clone();
                        std::thread::spawn(move || serve_fake(stream, answer, &keep));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        app
    }
}

impl Drop for FakeApp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One record: (type, content).
fn read_record(r: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 8];
    r.read_exact(&mut h).ok()?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let mut content = vec![0u8; len + usize::from(h[6])];
    r.read_exact(&mut content).ok()?;
    content.truncate(len);
    Some((h[1], content))
}

fn serve_fake(stream: TcpStream, answer: Answer, keep_asked: &AtomicUsize) {
    use mpm_site::fastcgi::record;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    loop {
        let mut keep = false;
        let mut params = Vec::new();
        loop {
            let Some((kind, content)) = read_record(&mut r) else {
                return;
            };
            match kind {
                record::BEGIN_REQUEST => keep = content[2] & record::KEEP_CONN != 0,
                record::PARAMS => params.extend_from_slice(&content),
                record::STDIN if content.is_empty() => break,
                _ => {}
            }
        }
        if keep {
            keep_asked.fetch_add(1, Ordering::Relaxed);
        }
        let pairs = record::decode_params(&params).expect("valid PARAMS");
        let script = pairs
            .iter()
            .find(|(n, _)| *n == b"SCRIPT_NAME")
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let bytes = answer(&script);
        let ended = bytes.ends_with(&end_request());
        if w.write_all(&bytes).is_err() || !keep || !ended {
            return;
        }
    }
}

/// The records of an answer: `stdout` as `STDOUT`, its end, and
/// `END_REQUEST`.
fn fcgi_answer(stdout: &[u8]) -> Vec<u8> {
    use mpm_site::fastcgi::record;
    let mut wire = Vec::new();
    record::stream(&mut wire, record::STDOUT, 1, stdout);
    record::stream(&mut wire, record::STDOUT, 1, b"");
    wire.extend_from_slice(&end_request());
    wire
}

fn end_request() -> Vec<u8> {
    use mpm_site::fastcgi::record;
    let mut wire = Vec::new();
    record::header(&mut wire, record::END_REQUEST, 1, 8, 0);
    wire.extend_from_slice(&[0; 8]);
    wire
}

/// The fake application's answers, by path.
fn bad_answers(script: &str) -> Vec<u8> {
    match script {
        "/bad/garbage" => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi".to_vec(),
        "/bad/version" => {
            let mut wire = fcgi_answer(b"Content-Type: text/plain\r\n\r\nhi");
            wire[0] = 2;
            wire
        }
        "/bad/no-end" => fcgi_answer(b"Content-Type: text/plain\r\nX-A: 1\r\n"),
        "/bad/status-99" => fcgi_answer(b"Status: 99\r\n\r\nhi"),
        "/bad/location-cr" => {
            fcgi_answer(b"Status: 302\r\nLocation: /a\rSet-Cookie: evil=1\r\n\r\n")
        }
        "/bad/many-headers" => {
            let mut head = Vec::new();
            for i in 0..100_000 {
                head.extend_from_slice(format!("X-{i}: a\r\n").as_bytes());
            }
            head.extend_from_slice(b"\r\n");
            fcgi_answer(&head)
        }
        "/bad/cut" => {
            let mut wire = fcgi_answer(b"Content-Type: text/plain\r\n\r\nhello");
            wire.truncate(20);
            wire
        }
        _ => fcgi_answer(b"Content-Type: text/plain\r\n\r\nfine\n"),
    }
}

/// Each broken answer is a 502 with one error-log line naming the
/// application and the cause, and the next request is served.
fn broken_answers_are_502(mpm: &str) {
    let mut fake = FakeBehind::start(mpm, bad_answers, "/bad/", " enablereuse=on");
    let (port, app_port, server) = (fake.port, fake.app.port, &mut fake.server);
    for (path, cause) in [
        ("/bad/garbage", "version 72, not 1"),
        ("/bad/version", "version 2, not 1"),
        ("/bad/no-end", "ended inside its response head"),
        ("/bad/status-99", "invalid Status from the script: \"99\""),
        (
            "/bad/location-cr",
            "location header holds a control character",
        ),
        ("/bad/many-headers", "more than 100 header lines"),
        ("/bad/cut", "closed the connection"),
    ] {
        let resp = get(addr(port), "localhost", path);
        assert_eq!(
            resp.status,
            502,
            "{path} gave {} instead of 502:\n{}",
            resp.status,
            resp.text()
        );
        assert!(
            !resp.headers.iter().any(|(_, v)| v.contains("evil")),
            "a header of a refused answer reached the client: {:?}",
            resp.headers
        );
        server.wait_log(cause, 1);
        let log = server.stderr();
        let line = log.lines().find(|l| l.contains(cause)).unwrap();
        assert!(
            line.contains(&format!("fcgi://127.0.0.1:{}/srv/", app_port)) && line.contains("502"),
            "the log line of {path} does not name the application and the 502: {line}"
        );
        let resp = get(addr(port), "localhost", "/bad/fine");
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (200, "fine\n"),
            "after {path}"
        );
    }
}

#[test]
fn event_answers_502_to_broken_fastcgi_answers_and_goes_on() {
    broken_answers_are_502("event");
}

#[test]
fn prefork_answers_502_to_broken_fastcgi_answers_and_goes_on() {
    broken_answers_are_502("prefork");
}

#[test]
fn worker_answers_502_to_broken_fastcgi_answers_and_goes_on() {
    broken_answers_are_502("worker");
}

fn fine(_: &str) -> Vec<u8> {
    fcgi_answer(b"Content-Type: text/plain\r\n\r\nfine\n")
}

#[test]
fn enablereuse_keeps_fastcgi_connections_and_without_it_each_request_has_its_own() {
    for (reuse, param) in [(true, " enablereuse=on"), (false, "")] {
        let fake = FakeBehind::start("event-small", fine, "/app/", param);
        let (connections, asked) = ten_requests_on_one_connection(&fake.app, fake.port, "/app/x");
        if reuse {
            assert!(
                connections <= 2 && asked == 10,
                "with enablereuse=on, 10 requests took {connections} connections ({asked} asked FCGI_KEEP_CONN)"
            );
        } else {
            assert_eq!(
                (connections, asked),
                (10, 0),
                "without enablereuse, (connections, FCGI_KEEP_CONN asked) for 10 requests"
            );
        }
    }
}

/// Ten `GET path` on one keep-alive connection to mpmd on `port`, each
/// answered `fine` by `app`: then the connections `app` took and the
/// requests that asked it to keep one (`FCGI_KEEP_CONN`).
fn ten_requests_on_one_connection(app: &FakeApp, port: u16, path: &str) -> (usize, usize) {
    let mut s = connect(addr(port));
    let mut r = BufReader::new(s.try_clone().unwrap());
    for _ in 0..10 {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .unwrap();
        let resp = read_response(&mut r, false);
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (200, "fine\n"),
            "GET {path}"
        );
    }
    (
        app.connections.load(Ordering::Relaxed),
        app.keep_conn_asked.load(Ordering::Relaxed),
    )
}

fn flood(_: &str) -> Vec<u8> {
    use mpm_site::fastcgi::record;
    let mut wire = Vec::with_capacity(65 << 20);
    record::stream(
        &mut wire,
        record::STDOUT,
        1,
        b"Content-Type: application/octet-stream\r\n\r\n",
    );
    record::stream(&mut wire, record::STDOUT, 1, &vec![b'z'; 64 << 20]);
    record::stream(&mut wire, record::STDOUT, 1, b"");
    wire.extend_from_slice(&end_request());
    wire
}

fn hello_or_flood(script: &str) -> Vec<u8> {
    if script == "/app/flood" {
        flood(script)
    } else {
        fine(script)
    }
}

#[test]
fn an_application_faster_than_its_client_costs_bounded_memory_and_others_are_served() {
    let fake = FakeBehind::start("event", hello_or_flood, "/app/", "");
    let (server, port) = (&fake.server, fake.port);
    let mut slow = connect(addr(port));
    slow.write_all(b"GET /app/flood HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut head = String::new();
    let mut r = BufReader::new(slow.try_clone().unwrap());
    r.read_line(&mut head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The client reads nothing for a while: the application's 64 MiB
    // wait in its socket, not in mpmd.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let resp = get(addr(port), "localhost", "/app/other");
        assert_eq!((resp.status, resp.text().as_str()), (200, "fine\n"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let peak = peak_child_rss_kb(server.pid());
    assert!(
        peak < 40 * 1024,
        "a child peaked at {peak} kB with a 64 MiB answer its client did not read"
    );
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    let zs = rest.iter().filter(|&&b| b == b'z').count();
    assert_eq!(zs, 64 << 20, "the slow client got {zs} bytes of the body");
}

#[test]
fn proxy_fcgi_backend_type_generic_gives_the_path_alone_and_fpm_the_proxy_url() {
    for (kind, want) in [
        ("FPM", "proxy:fcgi://127.0.0.1:{port}/srv/app/a b.php"),
        ("GENERIC", "/srv/app/a b.php"),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let backend_port = listener.local_addr().unwrap().port();
        let seen = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut params = Vec::new();
            while let Some((kind, content)) = read_record(&mut r) {
                use mpm_site::fastcgi::record;
                match kind {
                    record::PARAMS => params.extend_from_slice(&content),
                    record::STDIN if content.is_empty() => break,
                    _ => {}
                }
            }
            let mut w = stream;
            let _ = w.write_all(&fine(""));
            let pairs = mpm_site::fastcgi::record::decode_params(&params).unwrap();
            pairs
                .into_iter()
                .find(|(n, _)| *n == b"SCRIPT_FILENAME")
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        });
        let site = Site::new();
        let (_server, port) = serve(
            &site,
            "event",
            &format!(
                "ProxyFCGIBackendType {kind}\nProxyPass /app/ fcgi://127.0.0.1:{backend_port}/srv/app/\n"
            ),
        );
        let resp = get(addr(port), "localhost", "/app/a%20b.php?q=1");
        assert_eq!(resp.status, 200);
        let want = want.replace("{port}", &backend_port.to_string());
        assert_eq!(
            seen.join().unwrap().as_deref(),
            Some(want.as_str()),
            "{kind}"
        );
    }
}

/// Debian's php-fpm configuration for Apache, unchanged: `.php` files
/// handed to php-fpm by `SetHandler "proxy:unix:…|fcgi://localhost"` in
/// `<FilesMatch>`, `DirectoryIndex index.php`; the script is the file
/// the URL maps to, with its `PATH_INFO`; a missing script is mpmd's
/// 404, never a question to PHP; other files stay files.
fn debian_php_fpm_configuration(mpm: &str) {
    let PhpBehind {
        fpm: _fpm,
        site,
        mut server,
        port,
    } = PhpBehind::start(mpm, PhpListen::Unix, |url| {
        let handler = url.split_once("|fcgi://localhost").map_or("", |(u, _)| u);
        format!(
            "<FilesMatch \".+\\.php$\">\n    SetHandler \"proxy:{handler}|fcgi://localhost\"\n</FilesMatch>\n\
             DirectoryIndex index.php index.html\nProxyFCGIBackendType FPM\n"
        )
    });
    site.write("htdocs/app/index.php", "<?php echo \"index of app\\n\";");
    site.write("htdocs/app/page.html", "<p>static</p>\n");
    let base = format!("http://127.0.0.1:{port}");
    let (status, _, body) = curl_i(&[&format!("{base}/app/")]);
    assert_eq!(
        (status, body.as_str()),
        (200, "index of app\n"),
        "DirectoryIndex index.php"
    );

    let (status, _, body) = curl_i(&[&format!("{base}/app/server.php/extra/path?q=1")]);
    assert_eq!(status, 200, "{body}");
    let vars = lines(&body);
    let app = format!("{}/app", site.docroot().display());
    for (name, want) in [
        ("SCRIPT_FILENAME", format!("{app}/server.php")),
        ("SCRIPT_NAME", "/app/server.php".to_string()),
        ("PATH_INFO", "/extra/path".to_string()),
        ("REQUEST_URI", "/app/server.php/extra/path?q=1".to_string()),
        ("QUERY_STRING", "q=1".to_string()),
        ("DOCUMENT_ROOT", site.docroot().display().to_string()),
    ] {
        assert_eq!(vars.get(name), Some(&want), "{name}; $_SERVER:\n{body}");
    }

    let (status, _, body) = curl_i(&[&format!("{base}/app/missing.php")]);
    assert_eq!(status, 404, "a missing script gave {status}: {body}");
    assert!(
        !body.contains("File not found.") && !body.contains("Primary script unknown"),
        "a missing script was passed to php-fpm, which answered: {body}"
    );
    server.wait_log("script not found or unable to stat", 1);

    let (status, _, body) = curl_i(&[&format!("{base}/app/page.html")]);
    assert_eq!((status, body.as_str()), (200, "<p>static</p>\n"));
    let (status, _, body) = curl_i(&["-d", "a=1", &format!("{base}/app/post.php")]);
    assert_eq!((status, body.as_str()), (200, "a=1\n"));
}

#[test]
fn event_serves_php_with_debians_php_fpm_configuration() {
    debian_php_fpm_configuration("event");
}

#[test]
fn prefork_serves_php_with_debians_php_fpm_configuration() {
    debian_php_fpm_configuration("prefork");
}

#[test]
fn worker_serves_php_with_debians_php_fpm_configuration() {
    debian_php_fpm_configuration("worker");
}

#[test]
fn a_request_body_past_limit_request_body_is_refused_with_413_under_every_strategy() {
    let fpm = PhpFpm::start(PhpListen::Unix);
    let site = php_site();
    let body = site.path("body.txt");
    std::fs::write(&body, "a=".to_string() + &"x".repeat(5000)).unwrap();
    for mpm in ["event", "prefork", "worker"] {
        let (_server, port) = serve(
            &site,
            mpm,
            &format!(
                "LimitRequestBody 1000\nProxyPass /app/ \"{}\"\n",
                fpm.url(&format!("{}/app/", site.docroot().display()))
            ),
        );
        for framing in [
            &["-H", "Content-Type: application/x-www-form-urlencoded"][..],
            &["-H", "Transfer-Encoding: chunked"][..],
        ] {
            let (status, _, _) = curl_i(
                &[
                    framing,
                    &[
                        "--data-binary",
                        &format!("@{}", body.display()),
                        &format!("http://127.0.0.1:{port}/app/post.php"),
                    ],
                ]
                .concat(),
            );
            assert_eq!(
                status, 413,
                "{mpm}: a 5 kB body ({framing:?}) past LimitRequestBody 1000 gave {status}"
            );
        }
    }
}

fn head_answers(script: &str) -> Vec<u8> {
    match script {
        "/app/length" => fcgi_answer(b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n"),
        "/app/no-content" => fcgi_answer(b"Status: 204\r\nContent-Length: 3\r\n\r\n"),
        _ => fine(script),
    }
}

#[test]
fn a_head_request_keeps_the_scripts_content_length_and_204_has_no_body() {
    let fake = FakeBehind::start("event", head_answers, "/app/", "");
    let port = fake.port;
    let resp = raw(
        addr(port),
        b"HEAD /app/length HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (resp.status, resp.header("content-length")),
        (200, Some("5")),
        "HEAD of a script answering Content-Length: 5 without its body"
    );
    let resp = get(addr(port), "localhost", "/app/no-content");
    assert_eq!(resp.status, 204);
    assert_eq!(resp.header("content-length"), None, "{:?}", resp.headers);
    let resp = get(addr(port), "localhost", "/app/other");
    assert_eq!((resp.status, resp.text().as_str()), (200, "fine\n"));
}

/// A chunked request body (no `Content-Length`) reaches PHP as Apache
/// 2.4's mod_proxy_fcgi sends it: one that ends within 16 KiB goes with
/// its `CONTENT_LENGTH` (PHP reads no body without one); a longer one
/// with `SetEnv proxy-sendcl 1` is spooled and goes with its length too.
#[test]
fn a_chunked_request_body_reaches_php_fpm_with_its_length_under_every_strategy() {
    let fpm = PhpFpm::start(PhpListen::Unix);
    let site = php_site();
    let url = fpm.url(&format!("{}/app/", site.docroot().display()));
    let long = site.path("long.txt");
    std::fs::write(&long, "a=".to_string() + &"x".repeat(100_000)).unwrap();
    for mpm in ["event", "prefork", "worker"] {
        let (_server, port) = serve(
            &site,
            mpm,
            &format!(
                "ProxyPass /app/ \"{url}\"\nProxyPass /sendcl/ \"{url}\"\n\
                 <Location /sendcl/>\nSetEnv proxy-sendcl 1\n</Location>\n"
            ),
        );
        let chunked = [
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Content-Type: application/x-www-form-urlencoded",
        ];
        let (status, _, body) = curl_i(
            &[
                &chunked[..],
                &[
                    "--data-binary",
                    "a=1&b=two",
                    &format!("http://127.0.0.1:{port}/app/post.php"),
                ],
            ]
            .concat(),
        );
        assert_eq!(
            (status, body.as_str()),
            (200, "a=1\nb=two\n"),
            "{mpm}: PHP's $_POST for a small chunked body"
        );
        let (status, _, body) = curl_i(
            &[
                &chunked[..],
                &[
                    "--data-binary",
                    &format!("@{}", long.display()),
                    &format!("http://127.0.0.1:{port}/sendcl/post.php"),
                ],
            ]
            .concat(),
        );
        assert_eq!(status, 200, "{mpm}: {body}");
        assert_eq!(
            body.trim_end().len(),
            100_002,
            "{mpm}: PHP's $_POST for a 100 kB chunked body with proxy-sendcl: {}",
            &body[..body.len().min(200)]
        );
    }
}

/// `CGIPassAuth` and `ProxyFCGISetEnvIf` (Apache 2.4.26's syntax: an
/// ap_expr condition, `$1` of its regex in the value, `!NAME` to remove)
/// shape what php-fpm gets, in a `<Location>` over a `ProxyPass` and in a
/// `.htaccess` file beside a `SetHandler "proxy:…"` script; without them
/// a password never reaches PHP.
#[test]
fn cgi_pass_auth_and_proxy_fcgi_set_env_if_shape_what_php_fpm_gets_under_every_strategy() {
    let fpm = PhpFpm::start(PhpListen::Unix);
    let site = php_site();
    let url = fpm.url(&format!("{}/app/", site.docroot().display()));
    let socket = fpm.socket.as_ref().unwrap().display().to_string();
    site.write(
        "htdocs/ht/server.php",
        std::fs::read(site.docroot().join("app/server.php")).unwrap(),
    );
    site.write(
        "htdocs/ht/.htaccess",
        "CGIPassAuth On\nProxyFCGISetEnvIf \"true\" FROM_HTACCESS \"yes\"\n",
    );
    for mpm in ["event", "prefork", "worker"] {
        let (_server, port) = serve(
            &site,
            mpm,
            &format!(
                "ProxyPass /plain/ \"{url}\"\nProxyPass /pass/ \"{url}\"\n\
                 <Location /pass/>\n\
                 CGIPassAuth On\n\
                 ProxyFCGISetEnvIf \"reqenv('SCRIPT_NAME') =~ m#/pass/(\\w+)\\.php$#\" SCRIPT_BASE \"$1\"\n\
                 ProxyFCGISetEnvIf \"true\" !HTTP_X_SECRET\n\
                 ProxyFCGISetEnvIf \"req('X-Tag') == 'blue'\" TAG \"tag-%{{REQUEST_METHOD}}\"\n\
                 </Location>\n\
                 <Directory {root}/ht>\nAllowOverride AuthConfig FileInfo\n\
                 SetHandler \"proxy:unix:{socket}|fcgi://localhost\"\n</Directory>\n",
                root = site.docroot().display()
            ),
        );
        let server_vars = |path: &str| {
            let (status, _, body) = curl_i(&[
                "-u",
                "user:pw",
                "-H",
                "X-Secret: s",
                "-H",
                "X-Tag: blue",
                &format!("http://127.0.0.1:{port}{path}"),
            ]);
            assert_eq!(status, 200, "{mpm}: {path}: {body}");
            lines(&body)
        };
        let auth = "Basic dXNlcjpwdw==".to_string();
        let plain = server_vars("/plain/server.php");
        assert_eq!(
            (
                plain.get("HTTP_AUTHORIZATION"),
                plain.get("HTTP_X_SECRET").map(String::as_str),
                plain.get("SCRIPT_BASE"),
                plain.get("TAG")
            ),
            (None, Some("s"), None, None),
            "{mpm}: without CGIPassAuth nor ProxyFCGISetEnvIf: {plain:?}"
        );
        let pass = server_vars("/pass/server.php");
        assert_eq!(
            (
                pass.get("HTTP_AUTHORIZATION"),
                pass.get("HTTP_X_SECRET"),
                pass.get("SCRIPT_BASE").map(String::as_str),
                pass.get("TAG").map(String::as_str)
            ),
            (Some(&auth), None, Some("server"), Some("tag-GET")),
            "{mpm}: in <Location /pass/> with CGIPassAuth On and ProxyFCGISetEnvIf: {pass:?}"
        );
        let ht = server_vars("/ht/server.php");
        assert_eq!(
            (
                ht.get("HTTP_AUTHORIZATION"),
                ht.get("FROM_HTACCESS").map(String::as_str)
            ),
            (Some(&auth), Some("yes")),
            "{mpm}: with CGIPassAuth On and ProxyFCGISetEnvIf in .htaccess: {ht:?}"
        );
    }
}

/// `<Proxy "unix:…|fcgi://localhost">` + `ProxySet` gives the worker that
/// `SetHandler "proxy:unix:…|fcgi://localhost"` uses its parameters, as
/// Apache shares a defined worker: `timeout=1` cuts a script sleeping 3 s
/// off with 504 (the host's `Timeout` is 60 s), and `enablereuse=on`
/// keeps the FastCGI connections of a `SetHandler "proxy:fcgi://…"`.
#[test]
fn proxy_set_in_a_proxy_section_gives_set_handler_workers_their_parameters_under_every_strategy() {
    let fpm = PhpFpm::start(PhpListen::Unix);
    let site = php_site();
    let socket = fpm.socket.as_ref().unwrap().display().to_string();
    for mpm in ["event", "prefork", "worker"] {
        let (mut server, port) = serve(
            &site,
            mpm,
            &format!(
                "Timeout 60\n<Proxy \"unix:{socket}|fcgi://localhost\">\nProxySet timeout=1 enablereuse=on\n</Proxy>\n\
                 <FilesMatch \"\\.php$\">\nSetHandler \"proxy:unix:{socket}|fcgi://localhost\"\n</FilesMatch>\n"
            ),
        );
        let started = Instant::now();
        let (status, _, body) = curl_i(&[&format!("http://127.0.0.1:{port}/app/sleep.php?s=3")]);
        assert_eq!(
            status, 504,
            "{mpm}: a script sleeping 3 s under ProxySet timeout=1 gave {status}: {body}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{mpm}");
        server.wait_log("no answer within 1 s", 1);
        let (status, _, body) = curl_i(&[&format!("http://127.0.0.1:{port}/app/hello.php")]);
        assert_eq!((status, body.as_str()), (200, "Hello, World!"), "{mpm}");
    }

    let app = FakeApp::start(fine);
    site.write("htdocs/fake/x.php", "");
    let (_server, port) = serve(
        &site,
        "event-small",
        &format!(
            "<Proxy fcgi://127.0.0.1:{p}>\nProxySet enablereuse=on\n</Proxy>\n\
             <Directory {root}/fake>\nSetHandler \"proxy:fcgi://127.0.0.1:{p}\"\n</Directory>\n",
            p = app.port,
            root = site.docroot().display()
        ),
    );
    let (connections, asked) = ten_requests_on_one_connection(&app, port, "/fake/x.php");
    assert!(
        connections <= 2 && asked == 10,
        "with ProxySet enablereuse=on, 10 requests took {connections} connections ({asked} asked FCGI_KEEP_CONN)"
    );
}
