//! What the real `mpmd` serves: static files, conditional and range
//! requests, the path rules against escaping the document root, virtual
//! hosts, mod_alias, the status page, `Require`, the access log, protocol
//! limits and timeouts, and directives given on the command line. Raw
//! sockets through the harness, and `curl` where a real client matters.

mod common;

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

/// Text that lives outside every document root; no response may carry it.
const SECRET: &str = "TOP-SECRET-0xC0FFEE";

/// A config serving `site.docroot()` on `port` as `localhost`, plus `extra`.
fn conf_with(site: &Site, port: u16, extra: &str) -> PathBuf {
    site.config(&format!(
        "Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n{extra}\n",
        site.docroot().display()
    ))
}

/// Start mpmd on a free port with `extra` directives; (server, port).
fn serve(site: &Site, extra: &str) -> (Mpmd, u16) {
    let port = free_port();
    let conf = conf_with(site, port, extra);
    (start(site, &conf), port)
}

/// Everything the server sends for `bytes` until it closes (10 s at most).
fn raw_all(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = connect(addr(port));
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn status_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// A request that is still served normally (the server survived).
fn assert_still_serves(m: &Mpmd, port: u16, after: &str) {
    let r = get(addr(port), "localhost", "/");
    assert_eq!(
        r.status,
        200,
        "after {after} the server no longer serves /; stderr:\n{}",
        m.stderr()
    );
}

/// Poll `path` until it has at least `n` lines (the log is written after
/// the response goes out); fail with what it has.
fn wait_lines(path: &Path, n: usize, m: &Mpmd) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n {
            return lines;
        }
        if Instant::now() > until {
            panic!(
                "{} has {} lines, expected {n}:\n{text}\nstderr:\n{}",
                path.display(),
                lines.len(),
                m.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------- static

#[test]
fn the_root_serves_index_html_as_text_html() {
    let site = Site::new();
    site.write("htdocs/index.html", "<h1>home page</h1>");
    let (m, port) = serve(&site, "");
    let r = get(addr(port), "localhost", "/");
    assert_eq!(r.status, 200, "stderr:\n{}", m.stderr());
    assert_eq!(r.text(), "<h1>home page</h1>");
    let ct = r.header("content-type").unwrap_or("");
    assert!(ct.starts_with("text/html"), "Content-Type {ct:?}");
    assert_eq!(r.header("content-length"), Some("18"));
}

#[test]
fn content_type_follows_the_file_extension() {
    let site = Site::new();
    site.write("htdocs/style.css", "body { color: red }");
    site.write("htdocs/notes.txt", "plain words");
    let (m, port) = serve(&site, "");
    for (path, want, body) in [
        ("/style.css", "text/css", "body { color: red }"),
        ("/notes.txt", "text/plain", "plain words"),
    ] {
        let r = get(addr(port), "localhost", path);
        assert_eq!(r.status, 200, "{path}; stderr:\n{}", m.stderr());
        let ct = r.header("content-type").unwrap_or("");
        assert!(ct.starts_with(want), "{path}: Content-Type {ct:?}");
        assert_eq!(r.text(), body, "{path}");
    }
    // And through curl, which reports what it saw.
    let (code, out, err) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{content_type}",
        &format!("http://127.0.0.1:{port}/style.css"),
    ]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert!(out.starts_with("200 text/css"), "curl saw {out:?}");
}

#[test]
fn a_missing_file_is_a_404_page() {
    let site = Site::new();
    let (m, port) = serve(&site, "");
    let r = get(addr(port), "localhost", "/no-such-file.html");
    assert_eq!(r.status, 404, "stderr:\n{}", m.stderr());
    let ct = r.header("content-type").unwrap_or("");
    assert!(ct.starts_with("text/html"), "Content-Type {ct:?}");
    assert!(r.text().contains("Not Found"), "body: {}", r.text());
}

#[test]
fn a_directory_without_its_slash_is_redirected_to_it() {
    let site = Site::new();
    site.write("htdocs/docs/index.html", "docs index");
    let (m, port) = serve(&site, "");
    let r = get(addr(port), "localhost", "/docs?x=1");
    assert_eq!(r.status, 301, "stderr:\n{}", m.stderr());
    assert_eq!(r.header("location"), Some("http://localhost/docs/?x=1"));
    // curl follows it to the index.
    let (code, out, err) = curl(&["-L", "-D", "-", &format!("http://127.0.0.1:{port}/docs")]);
    assert_eq!(code, 0, "curl failed: {err}; stderr:\n{}", m.stderr());
    assert!(out.contains("HTTP/1.1 301"), "curl saw:\n{out}");
    assert!(
        out.contains(&format!("http://127.0.0.1:{port}/docs/")),
        "curl saw:\n{out}"
    );
    assert!(out.ends_with("docs index"), "curl saw:\n{out}");
}

#[test]
fn options_indexes_lists_a_directory_and_without_it_the_directory_is_forbidden() {
    let site = Site::new();
    site.write("htdocs/open/alpha.txt", "a");
    site.write("htdocs/open/beta.txt", "b");
    site.write("htdocs/open/.htpasswd", "hidden");
    site.write("htdocs/closed/gamma.txt", "c");
    let open = site.docroot().join("open");
    let (m, port) = serve(
        &site,
        &format!(
            "<Directory {}>\nOptions Indexes\n</Directory>\n",
            open.display()
        ),
    );
    let r = get(addr(port), "localhost", "/open/");
    assert_eq!(r.status, 200, "stderr:\n{}", m.stderr());
    let body = r.text();
    assert!(
        body.contains("alpha.txt") && body.contains("beta.txt"),
        "listing: {body}"
    );
    assert!(
        !body.contains(".htpasswd"),
        "listing shows .ht files: {body}"
    );
    let r = get(addr(port), "localhost", "/closed/");
    assert_eq!(r.status, 403, "listing without Indexes: {}", r.text());
    assert!(!r.text().contains("gamma.txt"), "{}", r.text());
}

#[test]
fn head_has_the_content_length_and_no_body() {
    let site = Site::new();
    site.write("htdocs/page.txt", "0123456789abcdef");
    let (m, port) = serve(&site, "");
    let all = raw_all(
        port,
        b"HEAD /page.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&all).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "got {text:?}; stderr:\n{}",
        m.stderr()
    );
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 16"),
        "head: {head}"
    );
    assert!(body.is_empty(), "HEAD sent a body: {body:?}");
    // curl -I agrees.
    let (code, out, err) = curl(&["-I", &format!("http://127.0.0.1:{port}/page.txt")]);
    assert_eq!(code, 0, "curl: {err}");
    assert!(
        out.to_ascii_lowercase().contains("content-length: 16"),
        "{out}"
    );
}

// ---------------------------------------------------- conditional, range

#[test]
fn a_matching_etag_gets_304() {
    let site = Site::new();
    site.write("htdocs/e.txt", "etag me");
    let (m, port) = serve(&site, "");
    let r = get(addr(port), "localhost", "/e.txt");
    let etag = r
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag: {:?}; stderr:\n{}", r.headers, m.stderr()))
        .to_string();
    let req = format!(
        "GET /e.txt HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    );
    let all = raw_all(port, req.as_bytes());
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 304"), "got {text:?}");
    assert!(text.ends_with("\r\n\r\n"), "304 carried a body: {text:?}");
    let other = "GET /e.txt HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: \"nope\"\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(addr(port), other.as_bytes()).status, 200);
}

#[test]
fn an_unchanged_last_modified_gets_304() {
    let site = Site::new();
    site.write("htdocs/lm.txt", "dated");
    let (m, port) = serve(&site, "");
    let r = get(addr(port), "localhost", "/lm.txt");
    let lm = r
        .header("last-modified")
        .unwrap_or_else(|| panic!("no Last-Modified: {:?}; {}", r.headers, m.stderr()))
        .to_string();
    let req = format!(
        "GET /lm.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: {lm}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw(addr(port), req.as_bytes()).status, 304);
    let old = "GET /lm.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(addr(port), old.as_bytes()).status, 200);
}

#[test]
fn a_byte_range_gets_206_with_content_range() {
    let site = Site::new();
    site.write("htdocs/r.txt", "abcdefghij");
    let (m, port) = serve(&site, "");
    let r = raw(
        addr(port),
        b"GET /r.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-3\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 206, "stderr:\n{}", m.stderr());
    assert_eq!(r.header("content-range"), Some("bytes 0-3/10"));
    assert_eq!(r.body, b"abcd");
}

#[test]
fn a_range_past_the_end_gets_416_with_the_length() {
    let site = Site::new();
    site.write("htdocs/r.txt", "abcdefghij");
    let (m, port) = serve(&site, "");
    let r = raw(
        addr(port),
        b"GET /r.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=1000-\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 416, "stderr:\n{}", m.stderr());
    assert_eq!(r.header("content-range"), Some("bytes */10"));
}

#[test]
fn curl_fetches_a_range() {
    let site = Site::new();
    site.write("htdocs/r.txt", "abcdefghij");
    let (m, port) = serve(&site, "");
    let (code, out, err) = curl(&["-r", "2-5", &format!("http://127.0.0.1:{port}/r.txt")]);
    assert_eq!(code, 0, "curl: {err}; stderr:\n{}", m.stderr());
    assert_eq!(out, "cdef");
}

// ------------------------------------------------------------- traversal

/// A site with `secret` next to the document root and `.htaccess` in it.
fn guarded_site() -> Site {
    let site = Site::new();
    site.write("secret", SECRET);
    site.write("htdocs/index.html", "public");
    site.write("htdocs/a/b.txt", "inner");
    site.write("htdocs/.htaccess", format!("# {SECRET}\n"));
    std::os::unix::fs::symlink(site.path("secret"), site.docroot().join("leak")).unwrap();
    site
}

#[test]
fn no_path_reaches_a_file_outside_the_document_root() {
    let site = guarded_site();
    let (m, port) = serve(
        &site,
        &format!(
            "<Directory {}>\nOptions None\n</Directory>\n",
            site.docroot().display()
        ),
    );
    let attempts: &[&str] = &[
        "/../secret",
        "/%2e%2e/secret",
        "/%2E%2E/%2e%2e/secret",
        "/a/../../secret",
        "/a/..%2f..%2fsecret",
        "/a/%2e%2e%2f%2e%2e%2fsecret",
        "/..%5csecret",
        "/%00",
        "/index.html%00.txt",
        "/.htaccess",
        "/a/../.htaccess",
        "/%2ehtaccess",
        "/leak",
    ];
    for path in attempts {
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let all = raw_all(port, req.as_bytes());
        let text = String::from_utf8_lossy(&all);
        assert!(
            !text.contains(SECRET),
            "{path} leaked the secret:\n{text}\nstderr:\n{}",
            m.stderr()
        );
        let line = status_line(&all);
        assert!(
            line.is_empty() || line.starts_with("HTTP/1.1 4"),
            "{path}: expected a 4xx refusal, got {line:?}"
        );
    }
    for (path, want) in [("/.htaccess", 403), ("/leak", 403), ("/../secret", 400)] {
        let r = get(addr(port), "localhost", path);
        assert_eq!(r.status, want, "{path}: {}", r.text());
    }
    // curl refuses nothing on our behalf with --path-as-is.
    let (code, out, err) = curl(&[
        "--path-as-is",
        "-w",
        "\n%{http_code}",
        &format!("http://127.0.0.1:{port}/a/../../secret"),
    ]);
    assert_eq!(code, 0, "curl: {err}");
    assert!(!out.contains(SECRET), "curl got the secret: {out}");
    assert!(out.ends_with("\n400"), "curl saw {out:?}");
    assert_still_serves(&m, port, "the traversal attempts");
}

/// What a request for a symlink to a file outside the document root gets
/// where no `Options` line is in force (Apache 2.4's default,
/// `FollowSymLinks`), and where a `<Directory>` block turns it off.
fn symlinks_follow_apaches_default_and_options(mpm: &str) {
    let site = Site::new();
    let target = site.write("outside/shared.txt", "shared content");
    let root = site.docroot();
    for dir in ["", "deep/er", "minus", "none", "owner", "list"] {
        site.write(&format!("htdocs/{dir}/plain.txt"), "plain content");
        std::os::unix::fs::symlink(&target, root.join(dir).join("shared.txt")).unwrap();
        std::os::unix::fs::symlink(site.path("outside"), root.join(dir).join("linkdir")).unwrap();
    }
    let blocks: String = [
        ("minus", "-FollowSymLinks"),
        ("none", "None"),
        ("owner", "SymLinksIfOwnerMatch"),
        ("list", "Indexes"),
    ]
    .iter()
    .map(|(dir, options)| {
        format!(
            "<Directory {}/{dir}>\nOptions {options}\n</Directory>\n",
            root.display()
        )
    })
    .collect();
    let port = free_port();
    let m = start_mpm(&site, mpm, port, &blocks);
    let mut wrong = Vec::new();
    for dir in ["", "/deep/er", "/minus", "/none", "/owner", "/list"] {
        let follows = matches!(dir, "" | "/deep/er");
        for (path, text) in [
            ("shared.txt", "shared content"),
            ("linkdir/shared.txt", "shared content"),
            ("plain.txt", "plain content"),
        ] {
            let path = format!("{dir}/{path}");
            let want = if follows || path.ends_with("plain.txt") {
                200
            } else {
                403
            };
            let r = get(addr(port), "localhost", &path);
            if r.status != want || (want == 200) != r.text().contains(text) {
                wrong.push(format!(
                    "{path}: {} {:?}, expected {want}",
                    r.status,
                    r.text()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{mpm}: {wrong:#?}\nstderr:\n{}",
        m.stderr()
    );
}

#[test]
fn a_symlink_is_followed_without_options_and_refused_by_none_minus_follow_symlinks_or_owner_match_under_prefork(
) {
    symlinks_follow_apaches_default_and_options("prefork");
}

#[test]
fn a_symlink_is_followed_without_options_and_refused_by_none_minus_follow_symlinks_or_owner_match_under_worker(
) {
    symlinks_follow_apaches_default_and_options("worker");
}

#[test]
fn a_symlink_is_followed_without_options_and_refused_by_none_minus_follow_symlinks_or_owner_match_under_event(
) {
    symlinks_follow_apaches_default_and_options("event");
}

#[test]
fn follow_symlinks_lets_a_link_lead_outside_where_options_none_is_above() {
    let site = Site::new();
    site.write("outside/shared.txt", "shared content");
    site.write("htdocs/sub/plain.txt", "plain");
    let link = site.docroot().join("sub/shared.txt");
    std::os::unix::fs::symlink(site.path("outside/shared.txt"), &link).unwrap();
    let root = site.docroot();
    let none = format!(
        "<Directory {}>\nOptions None\n</Directory>\n",
        root.display()
    );
    {
        let (m, port) = serve(&site, &none);
        let r = get(addr(port), "localhost", "/sub/shared.txt");
        assert_eq!(
            r.status,
            403,
            "a symlink under Options None was served: {}; stderr:\n{}",
            r.text(),
            m.stderr()
        );
        assert!(!r.text().contains("shared content"));
    }
    let (m, port) = serve(
        &site,
        &format!(
            "{none}<Directory {}/sub>\nOptions FollowSymLinks\n</Directory>\n",
            root.display()
        ),
    );
    let r = get(addr(port), "localhost", "/sub/shared.txt");
    assert_eq!(r.status, 200, "stderr:\n{}", m.stderr());
    assert_eq!(r.text(), "shared content");
}

// --------------------------------------------------------- virtual hosts

#[test]
fn two_ports_serve_their_own_virtual_hosts() {
    let site = Site::new();
    for name in ["a", "b", "c", "d"] {
        site.write(&format!("{name}/index.html"), format!("site {name}"));
    }
    let (p1, p2) = (free_port(), free_port());
    let root = site.root().display().to_string();
    let conf = site.config(&format!(
        "Listen 127.0.0.1:{p1}\nListen 127.0.0.1:{p2}\nServerName main.test\n\
         <VirtualHost 127.0.0.1:{p1}>\nServerName a.test\nDocumentRoot {root}/a\n</VirtualHost>\n\
         <VirtualHost 127.0.0.1:{p1}>\nServerName b.test\nServerAlias *.example.test\nDocumentRoot {root}/b\n</VirtualHost>\n\
         <VirtualHost 127.0.0.1:{p2}>\nServerName c.test\nDocumentRoot {root}/c\n</VirtualHost>\n\
         <VirtualHost 127.0.0.1:{p2}>\nServerName d.test\nServerAlias d.alias.test\nDocumentRoot {root}/d\n</VirtualHost>\n"
    ));
    let m = start(&site, &conf);
    let cases: &[(u16, &str, &str)] = &[
        (p1, "a.test", "site a"),
        (p1, "b.test", "site b"),
        (p1, "B.TEST", "site b"),
        (p1, "www.example.test", "site b"),
        (p1, "deep.www.example.test:80", "site b"),
        (p1, "unknown.test", "site a"),
        (p1, "c.test", "site a"),
        (p2, "c.test", "site c"),
        (p2, "d.test", "site d"),
        (p2, "d.alias.test", "site d"),
        (p2, "unknown.test", "site c"),
        (p2, "a.test", "site c"),
        (p2, "www.example.test", "site c"),
    ];
    let r = raw(
        addr(p1),
        b"GET http://b.test/ HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "site b"),
        "an absolute request URI names the host"
    );
    for (port, host, want) in cases {
        let r = get(addr(*port), host, "/");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, *want),
            "port {port} Host {host}; stderr:\n{}",
            m.stderr()
        );
    }
    // curl resolving the wildcard name to loopback.
    let (code, out, err) = curl(&[
        "--resolve",
        &format!("x.example.test:{p1}:127.0.0.1"),
        &format!("http://x.example.test:{p1}/"),
    ]);
    assert_eq!(code, 0, "curl: {err}");
    assert_eq!(out, "site b");
}

// -------------------------------------------------------------- mod_alias

#[test]
fn alias_and_redirect_rules_apply() {
    let site = Site::new();
    let hello = site.write("extra/hello.txt", "hello from alias");
    site.write("extra/files/one.txt", "file one");
    site.write("htdocs/hello.txt", "wrong hello");
    site.write("htdocs/older", "not redirected");
    let (m, port) = serve(
        &site,
        &format!(
            "Alias /hello {}\nAlias /files {}\n\
             Redirect permanent /old http://example.test/new\nRedirect gone /dead\n",
            hello.display(),
            site.path("extra/files").display()
        ),
    );
    let r = get(addr(port), "localhost", "/hello");
    assert_eq!(r.status, 200, "stderr:\n{}", m.stderr());
    assert_eq!(r.text(), "hello from alias");
    assert_eq!(
        get(addr(port), "localhost", "/hello.txt").text(),
        "wrong hello",
        "/hello.txt is not below /hello"
    );
    let r = get(addr(port), "localhost", "/files/one.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "file one"));
    let r = get(addr(port), "localhost", "/old/rest?q=1");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("http://example.test/new/rest?q=1")
    );
    let r = get(addr(port), "localhost", "/old");
    assert_eq!(
        (r.status, r.header("location")),
        (301, Some("http://example.test/new"))
    );
    let r = get(addr(port), "localhost", "/older");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "not redirected"),
        "/older is not below /old"
    );
    assert_eq!(get(addr(port), "localhost", "/dead").status, 410);
    assert_eq!(get(addr(port), "localhost", "/dead/x").status, 410);
}

// ----------------------------------------------------------------- status

fn status_field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name}: in\n{text}"))
        .to_string()
}

#[test]
fn server_status_counts_requests_for_a_local_client() {
    let site = Site::new();
    site.write("htdocs/index.html", "x");
    let (m, port) = serve(
        &site,
        "<Location /server-status>\nSetHandler server-status\nRequire local\n</Location>\n",
    );
    let r = get(addr(port), "localhost", "/server-status?auto");
    assert_eq!(r.status, 200, "stderr:\n{}", m.stderr());
    let first = r.text();
    // The strategy mpmd runs by default, as `-V` names it.
    let (_, version, _) = run(&["-V"]);
    let default_mpm = version
        .lines()
        .find_map(|l| l.strip_prefix("Server MPM:"))
        .map(str::trim)
        .expect("-V names the MPM")
        .to_string();
    assert_eq!(status_field(&first, "ServerMPM"), default_mpm, "{first}");
    for field in ["BusyWorkers", "IdleWorkers", "Scoreboard"] {
        status_field(&first, field);
    }
    let n1: u64 = status_field(&first, "Total Accesses").parse().unwrap();
    for _ in 0..3 {
        assert_eq!(get(addr(port), "localhost", "/").status, 200);
    }
    // A request is counted when its child has sent the response, which
    // may be a moment after the client has it: poll, and count our polls.
    let mut polls = 0;
    let (second, n2) = loop {
        let text = get(addr(port), "localhost", "/server-status?auto").text();
        let n: u64 = status_field(&text, "Total Accesses").parse().unwrap();
        if n >= n1 + 4 || polls == 50 {
            break (text, n);
        }
        polls += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(
        (n1 + 4..=n1 + 4 + polls).contains(&n2),
        "three pages and one status request (and {polls} polls) between the two counts:\n{first}\n---\n{second}"
    );
    let html = get(addr(port), "localhost", "/server-status");
    assert!(
        html.header("content-type")
            .unwrap_or("")
            .starts_with("text/html"),
        "{:?}",
        html.headers
    );
    assert!(
        html.text().contains("<title>mpmd Status</title>"),
        "{}",
        html.text()
    );
}

#[test]
fn server_status_refuses_a_client_outside_require_ip() {
    let site = Site::new();
    let (m, port) = serve(
        &site,
        "<Location /server-status>\nSetHandler server-status\nRequire ip 10.9.9.9\n</Location>\n",
    );
    let r = get(addr(port), "localhost", "/server-status?auto");
    assert_eq!(r.status, 403, "stderr:\n{}", m.stderr());
    assert!(!r.text().contains("Total Accesses"), "{}", r.text());
}

#[test]
fn require_all_denied_in_a_directory_forbids_it() {
    let site = Site::new();
    site.write("htdocs/private/p.txt", "private");
    site.write("htdocs/public.txt", "public");
    let (m, port) = serve(
        &site,
        &format!(
            "<Directory {}>\nRequire all denied\n</Directory>\n",
            site.docroot().join("private").display()
        ),
    );
    let r = get(addr(port), "localhost", "/private/p.txt");
    assert_eq!(r.status, 403, "stderr:\n{}", m.stderr());
    assert!(!r.text().contains("private"), "{}", r.text());
    assert_eq!(get(addr(port), "localhost", "/private/").status, 403);
    assert_eq!(get(addr(port), "localhost", "/public.txt").status, 200);
}

// ------------------------------------------------------------- access log

/// One access-log line split as `%h %l %u %t "%r"` and the rest by spaces.
struct LogLine {
    host: String,
    ident: String,
    user: String,
    time: String,
    request: String,
    rest: Vec<String>,
}

fn parse_log_line(line: &str) -> LogLine {
    let fail = || -> ! { panic!("log line does not have the format: {line:?}") };
    let (front, after_open) = line.split_once(" [").unwrap_or_else(|| fail());
    let (time, after_time) = after_open.split_once("] \"").unwrap_or_else(|| fail());
    let (request, rest) = after_time.split_once("\" ").unwrap_or_else(|| fail());
    let front: Vec<&str> = front.split(' ').collect();
    if front.len() != 3 {
        fail();
    }
    // Quoted fields after the request stay whole.
    let mut fields = Vec::new();
    let mut rest = rest;
    while !rest.is_empty() {
        if let Some(q) = rest.strip_prefix('"') {
            let (field, after) = q.split_once('"').unwrap_or_else(|| fail());
            fields.push(field.to_string());
            rest = after.trim_start();
        } else {
            let (field, after) = rest.split_once(' ').unwrap_or((rest, ""));
            fields.push(field.to_string());
            rest = after;
        }
    }
    LogLine {
        host: front[0].to_string(),
        ident: front[1].to_string(),
        user: front[2].to_string(),
        time: time.to_string(),
        request: request.to_string(),
        rest: fields,
    }
}

#[test]
fn access_logs_follow_their_formats_including_refused_requests() {
    let site = Site::new();
    site.write("htdocs/index.html", "0123456789");
    let port = free_port();
    let conf = site.config(&format!(
        "Listen 127.0.0.1:{port}\nServerName main.test\nDocumentRoot {docroot}\n\
         LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b %D %v\" mine\n\
         CustomLog logs/access_log mine\n\
         <VirtualHost 127.0.0.1:{port}>\nServerName one.test\n</VirtualHost>\n\
         <VirtualHost 127.0.0.1:{port}>\nServerName two.test\nCustomLog logs/combined_log combined\n</VirtualHost>\n",
        docroot = site.docroot().display()
    ));
    let m = start(&site, &conf);
    let a = addr(port);
    let r = get(a, "one.test", "/index.html");
    assert_eq!(r.status, 200, "stderr:\n{}", m.stderr());
    let etag = r.header("etag").expect("ETag").to_string();
    let req = format!(
        "GET /index.html HTTP/1.1\r\nHost: one.test\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw(a, req.as_bytes()).status, 304);
    assert_eq!(get(a, "one.test", "/missing").status, 404);
    let refused = raw_all(port, b"GET / HTTP/1.1\r\n\r\n");
    assert!(
        status_line(&refused).starts_with("HTTP/1.1 400"),
        "missing Host: {:?}",
        String::from_utf8_lossy(&refused)
    );
    let r = raw(
        a,
        b"GET /index.html?q=2 HTTP/1.1\r\nHost: two.test\r\nReferer: http://ref.test/page\r\nUser-Agent: itest-agent/1.0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);

    let mine = wait_lines(&site.path("logs/access_log"), 4, &m);
    assert_eq!(mine.len(), 4, "only one.test's requests: {mine:#?}");
    let want = [
        ("GET /index.html HTTP/1.1", "200", "10"),
        ("GET /index.html HTTP/1.1", "304", "-"),
        ("GET /missing HTTP/1.1", "404", ""),
        ("GET / HTTP/1.1", "400", ""),
    ];
    // Each child logs after its response went out, so lines of
    // successive requests may land in either order: match them by
    // request and status, each line used once.
    let mut unused: Vec<&String> = mine.iter().collect();
    for (request, status, bytes) in want {
        let pos = unused
            .iter()
            .position(|l| {
                let p = parse_log_line(l);
                p.request == request && p.rest.first().map(String::as_str) == Some(status)
            })
            .unwrap_or_else(|| panic!("no line for {request} {status} in {mine:#?}"));
        let line = unused.remove(pos);
        let l = parse_log_line(line);
        assert_eq!(
            (l.host.as_str(), l.ident.as_str(), l.user.as_str()),
            ("127.0.0.1", "-", "-"),
            "{line}"
        );
        // [26/Nov/2026:09:14:55 +0000]
        assert!(
            l.time.len() == 26 && l.time.as_bytes()[2] == b'/' && l.time.contains(" +"),
            "time field {:?} in {line}",
            l.time
        );
        assert_eq!(l.request, request, "{line}");
        assert_eq!(l.rest.len(), 4, "%>s %b %D %v in {line}");
        assert_eq!(l.rest[0], status, "{line}");
        if !bytes.is_empty() {
            assert_eq!(l.rest[1], bytes, "%b in {line}");
        } else {
            assert!(
                l.rest[1].parse::<u64>().is_ok_and(|n| n > 0),
                "%b in {line}"
            );
        }
        assert!(l.rest[2].parse::<u64>().is_ok(), "%D in {line}");
        assert_eq!(l.rest[3], "one.test", "%v in {line}");
    }

    let combined = wait_lines(&site.path("logs/combined_log"), 1, &m);
    assert_eq!(combined.len(), 1, "{combined:#?}");
    let l = parse_log_line(&combined[0]);
    assert_eq!(l.request, "GET /index.html?q=2 HTTP/1.1", "{}", combined[0]);
    assert_eq!(
        l.rest,
        ["200", "10", "http://ref.test/page", "itest-agent/1.0"],
        "{}",
        combined[0]
    );
}

// -------------------------------------------------------------- bad bytes

#[test]
fn malformed_requests_are_refused_and_the_server_keeps_serving() {
    let site = Site::new();
    site.write("htdocs/index.html", "ok");
    let (m, port) = serve(&site, "");
    let cases: &[(&str, &[u8])] = &[
        ("missing Host", b"GET / HTTP/1.1\r\n\r\n"),
        (
            "a list Content-Length",
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1, 2\r\n\r\nab",
        ),
        (
            "two Host headers",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ),
        (
            "a space before the colon",
            b"GET / HTTP/1.1\r\nHost : localhost\r\n\r\n",
        ),
    ];
    for (what, bytes) in cases {
        let all = raw_all(port, bytes);
        let line = status_line(&all);
        assert!(
            line.starts_with("HTTP/1.1 400"),
            "{what}: got {line:?}; stderr:\n{}",
            m.stderr()
        );
        assert_still_serves(&m, port, what);
    }
    let junk: Vec<u8> = (0u8..=255).cycle().skip(7).take(600).collect();
    for (what, bytes) in [
        ("binary junk", junk.as_slice()),
        ("NUL bytes", &[0u8; 64][..]),
        (
            "a TLS hello",
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        ),
    ] {
        let mut s = connect(addr(port));
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let line = status_line(&out);
        assert!(
            out.is_empty() || line.starts_with("HTTP/1.1 400"),
            "{what}: got {line:?}"
        );
        assert_still_serves(&m, port, what);
    }
}

// ---------------------------------------------------------------- timeouts

#[test]
fn a_slow_request_head_is_cut_with_408_and_the_next_client_is_served() {
    let site = Site::new();
    site.write("htdocs/index.html", "ok");
    let (m, port) = serve(&site, "RequestReadTimeout header=1-2,MinRate=500\n");
    let mut slow = connect(addr(port));
    let began = Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: local").unwrap();
    let mut out = Vec::new();
    let _ = slow.read_to_end(&mut out);
    let took = began.elapsed();
    assert!(
        status_line(&out).starts_with("HTTP/1.1 408"),
        "the half head got {:?} after {took:?}; stderr:\n{}",
        String::from_utf8_lossy(&out),
        m.stderr()
    );
    assert!(
        took >= Duration::from_millis(800) && took <= Duration::from_secs(3),
        "408 after {took:?}, configured 1-2 s"
    );
    assert_still_serves(&m, port, "the 408");
}

/// Send a request head that never ends, `chunk` bytes every `every`;
/// (what came back, how long until the server closed).
fn trickle(port: u16, chunk: usize, every: Duration) -> (Vec<u8>, Duration) {
    let slow = connect(addr(port));
    let mut writer = slow.try_clone().unwrap();
    let began = Instant::now();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: ");
        let bytes = vec![b'a'; chunk];
        // At most 6 s of sending; the server must cut it before.
        for _ in 0..(6000 / every.as_millis().max(1)) {
            if writer.write_all(&bytes).is_err() {
                break;
            }
            std::thread::sleep(every);
        }
    });
    let mut out = Vec::new();
    let _ = (&slow).read_to_end(&mut out);
    let took = began.elapsed();
    let _ = slow.shutdown(std::net::Shutdown::Both);
    sender.join().unwrap();
    (out, took)
}

#[test]
fn min_rate_extends_the_header_time_up_to_its_maximum() {
    let site = Site::new();
    site.write("htdocs/index.html", "ok");
    let (m, port) = serve(&site, "RequestReadTimeout header=1-2,MinRate=500\n");
    // 5 bytes a second earns 10 ms a second: cut after about 1 s.
    let (out, took) = trickle(port, 1, Duration::from_millis(200));
    assert!(
        status_line(&out).starts_with("HTTP/1.1 408"),
        "the slow head got {:?} after {took:?}; stderr:\n{}",
        String::from_utf8_lossy(&out),
        m.stderr()
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1900),
        "below MinRate the head was cut after {took:?}, not about 1 s"
    );
    // 1000 bytes a second earns more than it spends: cut at the 2 s cap.
    let (out, took) = trickle(port, 50, Duration::from_millis(50));
    assert!(
        status_line(&out).starts_with("HTTP/1.1 408"),
        "the fast endless head got {:?} after {took:?}; stderr:\n{}",
        String::from_utf8_lossy(&out),
        m.stderr()
    );
    assert!(
        took >= Duration::from_millis(1900) && took <= Duration::from_secs(4),
        "above MinRate the head was cut after {took:?}, not at the 2 s maximum"
    );
    assert_still_serves(&m, port, "the trickles");
}

#[test]
fn max_keep_alive_requests_closes_after_that_many() {
    let site = Site::new();
    site.write("htdocs/index.html", "ok");
    let (m, port) = serve(&site, "KeepAlive On\nMaxKeepAliveRequests 2\n");
    let all = raw_all(
        port,
        &b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(3),
    );
    let text = String::from_utf8_lossy(&all);
    assert_eq!(
        text.matches("HTTP/1.1 200").count(),
        2,
        "got:\n{text}\nstderr:\n{}",
        m.stderr()
    );
    let (_, second) = text.rsplit_once("HTTP/1.1 200").unwrap();
    assert!(
        second.to_ascii_lowercase().contains("connection: close"),
        "the last response does not announce the close:\n{text}"
    );
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_keep_alive_timeout() {
    let site = Site::new();
    site.write("htdocs/index.html", "ok");
    let (m, port) = serve(&site, "KeepAlive On\nKeepAliveTimeout 1\n");
    let s = connect(addr(port));
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 200, "stderr:\n{}", m.stderr());
    assert_ne!(
        resp.header("connection").map(str::to_ascii_lowercase),
        Some("close".into()),
        "the first response already closes"
    );
    // The connection is kept: a second request on it works.
    w.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r, false).status, 200);
    let idle = Instant::now();
    let mut rest = Vec::new();
    let n = r.read_to_end(&mut rest);
    let took = idle.elapsed();
    assert!(
        matches!(n, Ok(0)) || rest.is_empty(),
        "idle connection got {rest:?} ({n:?})"
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(4),
        "closed after {took:?}, KeepAliveTimeout 1 (read timeout is 10 s: {n:?})"
    );
    assert_still_serves(&m, port, "the keep-alive close");
}

#[test]
fn a_body_over_limit_request_body_is_refused_with_413() {
    let site = Site::new();
    site.write("htdocs/index.html", "ok");
    let (m, port) = serve(&site, "LimitRequestBody 10\n");
    let all = raw_all(
        port,
        b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\nhello world",
    );
    let line = status_line(&all);
    assert!(
        line.starts_with("HTTP/1.1 413"),
        "got {line:?}; stderr:\n{}",
        m.stderr()
    );
    // Ten bytes are within the limit (a POST to a file then gets it).
    let all = raw_all(
        port,
        b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhelloworld",
    );
    let line = status_line(&all);
    assert!(line.starts_with("HTTP/1.1 200"), "got {line:?}");
    assert_still_serves(&m, port, "the 413");
}

// ------------------------------------------------------------ command line

#[test]
fn directives_from_the_command_line_apply_before_and_after_the_file() {
    let site = Site::new();
    site.write("htdocs/index.html", "ok");
    let (p1, p2) = (free_port(), free_port());
    let conf = conf_with(&site, p1, "");
    let before = format!("Listen 127.0.0.1:{p2}");
    let m = start_args(
        &site,
        &[
            "-f",
            conf.to_str().unwrap(),
            "-C",
            &before,
            "-c",
            "Redirect /x http://example.test/",
        ],
    );
    for port in [p1, p2] {
        let r = get(addr(port), "localhost", "/");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "ok"),
            "port {port}; stderr:\n{}",
            m.stderr()
        );
    }
    let r = get(addr(p1), "localhost", "/x");
    assert_eq!(r.status, 302, "stderr:\n{}", m.stderr());
    assert_eq!(r.header("location"), Some("http://example.test/"));
}

#[test]
fn the_built_in_configuration_checks_ok() {
    let (code, _out, err) = run(&["-t"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(err.contains("Syntax OK"), "stderr: {err}");
}

// --------------------------------------------------------- mod_file_cache

/// `GET path` with extra request header lines (each ending in `\r\n`).
fn get_with(port: u16, path: &str, extra: &str) -> Resp {
    raw(
        addr(port),
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )
}

#[test]
fn an_mmapfile_is_served_with_its_headers_etag_304_and_ranges() {
    let site = Site::new();
    let file = site.write("htdocs/hello.txt", "Hello, World!");
    let (m, port) = serve(
        &site,
        &format!(
            "MMapFile htdocs/hello.txt\nAlias /hello {}\n",
            file.display()
        ),
    );
    let r = get(addr(port), "localhost", "/hello");
    assert_eq!(r.status, 200, "stderr:\n{}", m.stderr());
    assert_eq!(r.text(), "Hello, World!");
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let etag = r.header("etag").expect("an ETag").to_string();
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    assert_eq!(
        r.header("last-modified"),
        Some(httpdate::fmt_http_date(modified).as_str())
    );
    let all = raw_all(
        port,
        format!("GET /hello HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 304"), "got {text:?}");
    assert!(text.ends_with("\r\n\r\n"), "304 carried a body: {text:?}");
    let r = get_with(port, "/hello", "Range: bytes=7-11\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 7-11/13"));
    assert_eq!(r.body, b"World");
    let r = get_with(port, "/hello", "Range: bytes=13-\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */13"));
    let all = raw_all(
        port,
        b"HEAD /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&all);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 13"),
        "{head}"
    );
    assert!(body.is_empty(), "HEAD sent a body: {body:?}");
}

#[test]
fn an_mmapfile_keeps_its_old_contents_until_a_graceful_restart() {
    let site = Site::new();
    site.write("htdocs/hello.txt", "Hello, World!");
    let (mut m, port) = serve(&site, "MMapFile htdocs/hello.txt\n");
    let first = get(addr(port), "localhost", "/hello.txt");
    assert_eq!(first.text(), "Hello, World!", "stderr:\n{}", m.stderr());
    let old_etag = first.header("etag").expect("an ETag").to_string();
    site.write("htdocs/hello.txt", "Goodbye, World, for now!");
    // Several connections, so several children or threads answer.
    for i in 0..10 {
        let r = get(addr(port), "localhost", "/hello.txt");
        assert_eq!(
            (r.status, r.text().as_str(), r.header("etag")),
            (200, "Hello, World!", Some(old_etag.as_str())),
            "request {i} after the change on disk"
        );
    }
    m.signal(nix::sys::signal::Signal::SIGUSR1);
    m.wait_log("resuming normal operations", 2);
    // A child of the old generation may still answer a connection or two.
    let mut r = get(addr(port), "localhost", "/hello.txt");
    let until = Instant::now() + Duration::from_secs(5);
    while r.text() != "Goodbye, World, for now!" && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        r = get(addr(port), "localhost", "/hello.txt");
    }
    assert_eq!(
        r.text(),
        "Goodbye, World, for now!",
        "the restart did not load the new contents; stderr:\n{}",
        m.stderr()
    );
    assert_eq!(r.header("content-length"), Some("24"));
    assert_ne!(r.header("etag"), Some(old_etag.as_str()));
}

#[test]
fn require_still_denies_a_cached_file() {
    let site = Site::new();
    let hello = site.write("htdocs/hello.txt", "Hello, World!");
    site.write("htdocs/private/p.txt", "private words");
    let (m, port) = serve(
        &site,
        &format!(
            "MMapFile {hello}\nCacheFile htdocs/private/p.txt\nAlias /hello {hello}\n\
             <Location /hello>\nRequire all denied\n</Location>\n\
             <Directory {private}>\nRequire all denied\n</Directory>\n",
            hello = hello.display(),
            private = site.docroot().join("private").display()
        ),
    );
    for path in ["/hello", "/private/p.txt"] {
        let r = get(addr(port), "localhost", path);
        assert_eq!(r.status, 403, "{path}; stderr:\n{}", m.stderr());
        assert!(
            !r.text().contains("Hello, World!") && !r.text().contains("private words"),
            "{path} leaked: {}",
            r.text()
        );
    }
    let r = get(addr(port), "localhost", "/hello.txt");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Hello, World!"),
        "the same file outside the denied location"
    );
}

#[test]
fn cachefile_serves_the_file_from_its_kept_descriptor() {
    let site = Site::new();
    let page = site.write("htdocs/page.html", "<p>kept open</p>");
    let (m, port) = serve(&site, "CacheFile htdocs/page.html\n");
    let r = get(addr(port), "localhost", "/page.html");
    assert_eq!(r.status, 200, "stderr:\n{}", m.stderr());
    assert_eq!(r.text(), "<p>kept open</p>");
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(r.header("etag").is_some(), "{:?}", r.headers);
    // Another file renamed into its place: the descriptor opened at
    // startup still holds the old one, and no request opens the path.
    let new = site.write("htdocs/new.html", "<p>the new page</p>");
    std::fs::rename(&new, &page).unwrap();
    for i in 0..5 {
        let r = get(addr(port), "localhost", "/page.html");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "<p>kept open</p>"),
            "request {i} after a new file took its name; stderr:\n{}",
            m.stderr()
        );
    }
    let r = get_with(port, "/page.html", "Range: bytes=3-6\r\n");
    assert_eq!((r.status, r.body.as_slice()), (206, &b"kept"[..]));
}

#[test]
fn a_missing_mmapfile_is_a_warning_and_the_server_runs() {
    let site = Site::new();
    site.write("htdocs/index.html", "home");
    let port = free_port();
    let conf = conf_with(&site, port, "MMapFile htdocs/missing.txt\n");
    let missing = site.docroot().join("missing.txt");
    let want = format!("MMapFile: unable to stat({}), skipping", missing.display());
    let (code, _out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
    assert_eq!(code, 0, "-t refused a missing MMapFile: {err}");
    assert!(
        err.contains(&want) && err.contains("Syntax OK"),
        "-t said:\n{err}"
    );
    let m = start(&site, &conf);
    assert!(m.stderr().contains(&want), "stderr:\n{}", m.stderr());
    assert_eq!(get(addr(port), "localhost", "/").text(), "home");
    assert_eq!(get(addr(port), "localhost", "/missing.txt").status, 404);
}

#[test]
fn listen_with_a_host_name_serves_on_the_addresses_it_resolves_to_under_every_mpm() {
    let site = Site::new();
    site.write("htdocs/index.html", "home");
    for mpm in ["prefork", "worker", "event"] {
        let port = free_port();
        let conf = site.config(&format!(
            "{}Listen localhost:{port}\nServerName localhost\nDocumentRoot {}\n",
            mpm_directives(mpm),
            site.docroot().display()
        ));
        let (code, _out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
        assert_eq!(code, 0, "{mpm}: -t refused Listen localhost:{port}: {err}");
        let m = start(&site, &conf);
        let r = get(addr(port), "localhost", "/");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "home"),
            "{mpm}: Listen localhost:{port} on 127.0.0.1 answered otherwise; stderr:\n{}",
            m.stderr()
        );
    }
}

#[test]
fn a_host_name_and_its_address_on_one_port_are_the_same_listener_twice() {
    let site = Site::new();
    let port = free_port();
    let conf = site.config(&format!(
        "Listen 127.0.0.1:{port}\nListen localhost:{port}\nServerName localhost\nDocumentRoot {}\n",
        site.docroot().display()
    ));
    let (code, _out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
    assert_ne!(code, 0, "-t took the same address twice: {err}");
    assert!(
        err.contains("Cannot define multiple Listeners on the same IP:port")
            && err.contains(&format!("(127.0.0.1:{port} is already at ")),
        "-t said:\n{err}"
    );
}
