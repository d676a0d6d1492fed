//! Behaviour of the whole handler, over a temporary document root.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{
    HeaderMap, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED,
    LOCATION,
};
use http::{Method, StatusCode, Uri};
use mpm_core::{Body, ConnInfo, Exchange, Handler, RequestBody, Response};

use crate::config::{
    AliasRule, CachedFile, CustomLog, FileCacheKind, IpNet, Options, OptionsSetting, RedirectRule,
    Require, SiteConfig, VhostAddr, VirtualHost,
};
use crate::pipeline::{DirConfig, HandlerName, Section, SectionKind};
use crate::site::Site;
use crate::status::StatusInfo;

// ---------------------------------------------------------------- helpers

fn host(root: &Path, name: Option<&str>, addrs: &[&str]) -> VirtualHost {
    VirtualHost {
        addrs: addrs
            .iter()
            .map(|a| {
                let (ip, port) = a.rsplit_once(':').expect("addr:port");
                VhostAddr {
                    ip: (ip != "*").then(|| ip.trim_matches(['[', ']']).parse().expect("ip")),
                    port: (port != "*").then(|| port.parse().expect("port")),
                }
            })
            .collect(),
        server_name: name.map(str::to_string),
        ..VirtualHost::new(root)
    }
}

fn config(main: VirtualHost, vhosts: Vec<VirtualHost>) -> SiteConfig {
    SiteConfig {
        vhosts,
        ..SiteConfig::new(main)
    }
}

pub(crate) fn status_info() -> Arc<StatusInfo> {
    Arc::new(StatusInfo {
        server_version: "mpmd/test".into(),
        mpm: mpm_core::MpmInfo {
            name: "single",
            threaded: false,
            forked: false,
        },
        built: "today".into(),
        started: SystemTime::now(),
        server_name: "main.test".into(),
    })
}

fn site(cfg: &SiteConfig) -> Site {
    site_with_types(cfg, &[])
}

fn site_with_types(cfg: &SiteConfig, types: &[(String, String)]) -> Site {
    let scoreboard = mpm_core::Scoreboard::new(1, 1).expect("scoreboard");
    let mut cfg = cfg.clone();
    cfg.add_types = types.to_vec();
    Site::new(&cfg, scoreboard, status_info()).expect("site builds")
}

fn conn_at(local: &str, peer: &str) -> ConnInfo {
    ConnInfo {
        peer: peer.parse().expect("peer"),
        local: local.parse().expect("local"),
        listener: 0,
        listen_addr: Arc::from("*:80"),
        tls: None,
        proxied: None,
    }
}

fn conn() -> ConnInfo {
    conn_at("127.0.0.1:80", "127.0.0.1:50000")
}

fn send(
    site: &Site,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    conn: &ConnInfo,
) -> Response {
    send_as(site, http::Version::HTTP_11, method, uri, headers, conn)
}

/// `send` in HTTP `version`.
fn send_as(
    site: &Site,
    version: http::Version,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    conn: &ConnInfo,
) -> Response {
    let mut builder = http::Request::builder()
        .version(version)
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    site.handle(builder.body(RequestBody::empty()).expect("request"), conn)
}

fn get(site: &Site, uri: &str, headers: &[(&str, &str)]) -> Response {
    send(site, "GET", uri, headers, &conn())
}

fn body(response: Response) -> Vec<u8> {
    match response.into_body() {
        Body::Empty => Vec::new(),
        Body::Bytes(b) | Body::Kept { bytes: b, .. } => b.to_vec(),
        Body::Reader { mut reader, .. } => {
            let mut out = Vec::new();
            reader.read_to_end(&mut out).expect("read body");
            out
        }
        Body::Writer(_) => panic!("the site answered with a writer body"),
        Body::Tunnel(_) => panic!("the site answered with a tunnel"),
        Body::File {
            mut file,
            offset,
            len,
        } => {
            file.seek(SeekFrom::Start(offset)).expect("seek");
            let mut out = Vec::new();
            file.take(len).read_to_end(&mut out).expect("read file");
            assert_eq!(out.len() as u64, len, "file shorter than Body::File claims");
            out
        }
    }
}

fn text(response: Response) -> String {
    String::from_utf8_lossy(&body(response)).into_owned()
}

/// A field of `response`'s head: from its header map, or from the fields
/// encoded with a file (an untouched host's whole answer).
fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    if let Some(value) = response.headers().get(name) {
        return value.to_str().ok();
    }
    let Body::Kept {
        fields: encoded, ..
    } = response.body()
    else {
        return None;
    };
    std::str::from_utf8(encoded.as_bytes())
        .ok()?
        .split("\r\n")
        .find_map(|line| {
            let (field, value) = line.split_once(": ")?;
            field.eq_ignore_ascii_case(name).then_some(value)
        })
}

#[track_caller]
fn assert_status(response: &Response, status: u16, what: &str) {
    assert_eq!(
        response.status().as_u16(),
        status,
        "{what}: got {} with headers {:?}",
        response.status(),
        response.headers()
    );
}

/// A document root with a few files.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("htdocs");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(root.join("empty")).unwrap();
        fs::write(root.join("hello.txt"), "Hello, world!\n").unwrap();
        fs::write(root.join("digits.txt"), "0123456789").unwrap();
        fs::write(root.join("page.html"), "<p>page</p>").unwrap();
        fs::write(root.join("style.css"), "p{}").unwrap();
        fs::write(root.join("blob.unknownext"), "?").unwrap();
        fs::write(root.join(".htaccess"), "Require all denied").unwrap();
        fs::write(root.join("sub/index.html"), "sub index").unwrap();
        fs::write(root.join("empty/.htpasswd"), "user:pw").unwrap();
        fs::write(root.join("empty/b <&>.txt"), "b").unwrap();
        fs::write(root.join("empty/a.txt"), "a").unwrap();
        fs::create_dir(root.join("empty/zdir")).unwrap();
        fs::create_dir_all(dir.path().join("outside")).unwrap();
        fs::write(dir.path().join("outside/secret.txt"), "secret").unwrap();
        Fixture { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("htdocs")
    }

    fn main(&self) -> VirtualHost {
        host(&self.root(), Some("main.test"), &[])
    }

    fn site(&self) -> Site {
        site(&config(self.main(), Vec::new()))
    }

    fn with_main(&self, edit: impl FnOnce(&mut VirtualHost)) -> Site {
        let mut main = self.main();
        edit(&mut main);
        site(&config(main, Vec::new()))
    }
}

fn directory(path: &Path, options: Option<Options>, require: Option<Require>) -> Section {
    Section::new(SectionKind::Directory(path.to_path_buf())).with(DirConfig {
        options: options.map(OptionsSetting::Set),
        require,
        ..DirConfig::default()
    })
}

fn location(path: &str, handler: Option<HandlerName>, require: Option<Require>) -> Section {
    Section::new(SectionKind::Location(path.into())).with(DirConfig {
        handler,
        require,
        ..DirConfig::default()
    })
}

// ---------------------------------------------------------- virtual hosts

/// Hosts that each serve `who.txt` saying their name.
fn vhost_site() -> (tempfile::TempDir, Site) {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, addrs: &[&str], server_name: Option<&str>| {
        let root = dir.path().join(name);
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("who.txt"), name).unwrap();
        host(&root, server_name, addrs)
    };
    let main = make("main", &[], Some("main.test"));
    let first = make("first", &["*:80"], Some("first.test"));
    let mut second = make("second", &["*:80"], Some("second.test"));
    second.server_aliases = vec![
        "www.second.test".into(),
        "*.wild.test".into(),
        "w?.q.test".into(),
    ];
    let other_port = make("port8080", &["*:8080"], Some("second.test"));
    let exact = make("exact", &["127.0.0.2:80"], Some("exact.test"));
    let exact_named = make("exact-named", &["127.0.0.2:80"], Some("named.exact.test"));
    let any_port = make("anyport", &["127.0.0.3:*"], Some("anyport.test"));
    let cfg = config(
        main,
        vec![first, second, other_port, exact, exact_named, any_port],
    );
    (dir, site(&cfg))
}

fn who(site: &Site, local: &str, host_header: Option<&str>, uri: &str) -> String {
    let headers: Vec<(&str, &str)> = host_header.map(|h| ("host", h)).into_iter().collect();
    let response = send(
        site,
        "GET",
        uri,
        &headers,
        &conn_at(local, "127.0.0.1:40000"),
    );
    assert_status(
        &response,
        200,
        &format!("who.txt on {local} for {host_header:?}"),
    );
    text(response)
}

/// A request on a TLS connection made for `sni`, with `Host: host`.
fn over_tls(site: &Site, sni: &str, host: &str) -> Response {
    let mut conn = conn_at("127.0.0.1:80", "127.0.0.1:40000");
    conn.tls = Some(mpm_core::TlsInfo {
        sni: Some(sni.into()),
        version: "TLSv1.3".into(),
        alpn: None,
    });
    send(site, "GET", "/who.txt", &[("host", host)], &conn)
}

#[test]
fn a_host_that_disagrees_with_the_sni_name_is_misdirected() {
    let (_dir, site) = vhost_site();
    let r = over_tls(&site, "first.test", "second.test");
    assert_status(&r, 421, "SNI first.test, Host second.test");
    assert!(text(r).contains("Server Name Indication"));
    // Names of the same host agree, wildcard aliases included.
    let r = over_tls(&site, "www.second.test", "x.wild.test");
    assert_eq!(text(r), "second");
    // An SNI name no host has picks the default host, as an unknown Host
    // does: they agree.
    let r = over_tls(&site, "nobody.test", "unknown.test");
    assert_eq!(text(r), "first");
    let r = over_tls(&site, "nobody.test", "second.test");
    assert_status(&r, 421, "SNI of the default host, Host of another");
}

#[test]
fn vhost_is_chosen_by_server_name_alias_and_wildcard_alias() {
    let (_dir, site) = vhost_site();
    let at = "127.0.0.1:80";
    assert_eq!(who(&site, at, Some("second.test"), "/who.txt"), "second");
    assert_eq!(who(&site, at, Some("SECOND.test:80"), "/who.txt"), "second");
    assert_eq!(who(&site, at, Some("second.test."), "/who.txt"), "second");
    assert_eq!(
        who(&site, at, Some("www.second.test"), "/who.txt"),
        "second"
    );
    assert_eq!(who(&site, at, Some("a.b.wild.test"), "/who.txt"), "second");
    assert_eq!(who(&site, at, Some("w1.q.test"), "/who.txt"), "second");
    assert_eq!(who(&site, at, Some("first.test"), "/who.txt"), "first");
}

#[test]
fn unknown_or_missing_host_gets_the_first_vhost_of_the_address() {
    let (_dir, site) = vhost_site();
    assert_eq!(
        who(&site, "127.0.0.1:80", Some("nobody.test"), "/who.txt"),
        "first"
    );
    assert_eq!(
        who(&site, "127.0.0.1:80", Some("wild.test"), "/who.txt"),
        "first"
    );
    assert_eq!(who(&site, "127.0.0.1:80", None, "/who.txt"), "first");
}

#[test]
fn vhosts_are_per_port_and_unmatched_addresses_get_the_main_server() {
    let (_dir, site) = vhost_site();
    assert_eq!(
        who(&site, "127.0.0.1:8080", Some("second.test"), "/who.txt"),
        "port8080"
    );
    assert_eq!(
        who(&site, "127.0.0.1:8080", Some("first.test"), "/who.txt"),
        "port8080"
    );
    assert_eq!(
        who(&site, "127.0.0.1:9999", Some("first.test"), "/who.txt"),
        "main"
    );
    assert_eq!(who(&site, "127.0.0.3:9999", None, "/who.txt"), "anyport");
}

#[test]
fn exact_ip_vhosts_win_over_wildcard_ones() {
    let (_dir, site) = vhost_site();
    assert_eq!(
        who(&site, "127.0.0.2:80", Some("first.test"), "/who.txt"),
        "exact"
    );
    assert_eq!(
        who(&site, "127.0.0.2:80", Some("named.exact.test"), "/who.txt"),
        "exact-named"
    );
    assert_eq!(
        who(&site, "[::ffff:127.0.0.2]:80", None, "/who.txt"),
        "exact"
    );
}

#[test]
fn absolute_form_target_names_the_host() {
    let (_dir, site) = vhost_site();
    let got = who(
        &site,
        "127.0.0.1:80",
        Some("first.test"),
        "http://second.test/who.txt",
    );
    assert_eq!(
        got, "second",
        "the URI's authority wins over the Host header"
    );
}

// ------------------------------------------------------------- traversal

#[test]
fn every_traversal_form_is_refused() {
    let fx = Fixture::new();
    let site = fx.site();
    let cases = [
        ("/../outside/secret.txt", 400),
        ("/sub/../../outside/secret.txt", 400),
        ("/%2e%2e/outside/secret.txt", 400),
        ("/%2E%2E/%2e%2e/etc/passwd", 400),
        ("/..%2foutside/secret.txt", 404),
        ("/sub%2f..%2f..%2foutside%2fsecret.txt", 404),
        ("/hello.txt%00.html", 404),
        ("/%5c..%5coutside%5csecret.txt", 404),
        ("/bad%zzescape", 400),
        ("/.htaccess", 403),
        ("/%2ehtaccess", 403),
        ("/empty/.htpasswd", 403),
    ];
    for (uri, status) in cases {
        let response = get(&site, uri, &[]);
        assert_status(&response, status, uri);
        assert!(!text(response).contains("secret"), "{uri} leaked the file");
    }
}

#[test]
fn raw_backslash_is_not_found() {
    let fx = Fixture::new();
    let site = fx.site();
    for uri in ["/sub\\..\\hello.txt", "/hello.txt\\"] {
        assert_status(&get(&site, uri, &[]), 404, uri);
    }
}

#[test]
fn dot_segments_inside_the_root_resolve() {
    let fx = Fixture::new();
    let site = fx.site();
    for uri in [
        "/sub/../hello.txt",
        "/sub/%2e%2e/hello.txt",
        "/./hello.txt",
        "//hello.txt",
    ] {
        let response = get(&site, uri, &[]);
        assert_status(&response, 200, uri);
        assert_eq!(text(response), "Hello, world!\n", "{uri}");
    }
}

#[test]
fn non_origin_form_targets_are_bad_requests_except_options_star() {
    let fx = Fixture::new();
    let site = fx.site();
    let response = send(&site, "OPTIONS", "*", &[], &conn());
    assert_status(&response, 200, "OPTIONS *");
    assert_eq!(
        header(&response, "allow"),
        None,
        "Apache's OPTIONS * has no Allow"
    );
    assert_status(&get(&site, "*", &[]), 400, "GET *");
}

// --------------------------------------------------------------- symlinks

/// The fixture with `link.txt` and `linkdir` in the root, links to a file
/// and a directory outside it.
fn fixture_with_root_links() -> Fixture {
    let fx = Fixture::new();
    symlink(
        fx.dir.path().join("outside/secret.txt"),
        fx.root().join("link.txt"),
    )
    .unwrap();
    symlink(fx.dir.path().join("outside"), fx.root().join("linkdir")).unwrap();
    fx
}

#[test]
fn symlink_out_of_the_root_is_forbidden_with_options_none() {
    let fx = fixture_with_root_links();
    let root = fx.root();
    let site = fx.with_main(|m| m.sections.push(directory(&root, Some(Options::NONE), None)));
    for uri in ["/link.txt", "/linkdir/secret.txt", "/linkdir/"] {
        let response = get(&site, uri, &[]);
        assert_status(&response, 403, uri);
        assert!(text(response).contains("You don't have permission to access this resource."));
    }
}

#[test]
fn symlinks_are_followed_where_no_block_sets_options_as_in_apache() {
    let fx = fixture_with_root_links();
    let site = fx.site();
    for uri in ["/link.txt", "/linkdir/secret.txt"] {
        let response = get(&site, uri, &[]);
        assert_status(&response, 200, uri);
        assert_eq!(text(response), "secret");
    }
}

#[test]
fn minus_follow_symlinks_refuses_a_symlink_the_default_would_follow() {
    let fx = fixture_with_root_links();
    let root = fx.root();
    let site = fx.with_main(|m| {
        m.sections.push(block(&root, |b| {
            b.options = Some(OptionsSetting::Change {
                add: Options::NONE,
                remove: options(true, false),
            })
        }))
    });
    for uri in ["/link.txt", "/linkdir/secret.txt"] {
        assert_status(&get(&site, uri, &[]), 403, uri);
    }
    assert_status(&get(&site, "/hello.txt", &[]), 200, "a plain file");
}

#[test]
fn symlinks_are_followed_with_follow_symlinks() {
    let fx = fixture_with_root_links();
    let root = fx.root();
    let site = fx.with_main(|m| {
        m.sections.push(directory(
            &root,
            Some(Options {
                follow_symlinks: true,
                indexes: false,
                exec_cgi: false,
            }),
            None,
        ))
    });
    for uri in ["/link.txt", "/linkdir/secret.txt"] {
        let response = get(&site, uri, &[]);
        assert_status(&response, 200, uri);
        assert_eq!(text(response), "secret");
    }
}

// ------------------------------------------------------------ directories

#[test]
fn directory_without_slash_is_redirected_keeping_the_query() {
    let fx = Fixture::new();
    let site = fx.site();
    let response = get(&site, "/sub?x=1&y", &[("host", "main.test:8080")]);
    assert_status(&response, 301, "/sub");
    assert_eq!(
        header(&response, "location"),
        Some("http://main.test:8080/sub/?x=1&y")
    );
    let response = get(&site, "/sub", &[]);
    assert_eq!(header(&response, "location"), Some("/sub/"), "without Host");
}

#[test]
fn directory_with_slash_serves_its_index_file() {
    let fx = Fixture::new();
    let site = fx.site();
    let response = get(&site, "/sub/", &[]);
    assert_status(&response, 200, "/sub/");
    assert_eq!(header(&response, "content-type"), Some("text/html"));
    assert_eq!(text(response), "sub index");
}

#[test]
fn directory_without_index_is_forbidden_without_indexes() {
    let fx = Fixture::new();
    let site = fx.site();
    assert_status(&get(&site, "/empty/", &[]), 403, "/empty/ without Indexes");
}

#[test]
fn directory_listing_is_sorted_escaped_and_hides_ht_files() {
    let fx = Fixture::new();
    let root = fx.root();
    let site = fx.with_main(|m| {
        m.sections.push(directory(
            &root.join("empty"),
            Some(Options {
                follow_symlinks: false,
                indexes: true,
                exec_cgi: false,
            }),
            None,
        ))
    });
    let response = get(&site, "/empty/", &[]);
    assert_status(&response, 200, "/empty/ with Indexes");
    assert_eq!(
        header(&response, "content-type"),
        Some("text/html;charset=ISO-8859-1"),
        "Apache's listing type"
    );
    let html = text(response);
    assert!(html.contains("<title>Index of /empty</title>"), "{html}");
    assert!(
        !html.contains(".htpasswd"),
        "listing shows .htpasswd: {html}"
    );
    let a = html.find("href=\"a.txt\"").expect("a.txt listed");
    let b = html
        .find("href=\"b%20%3C&amp;%3E.txt\"> b &lt;&amp;&gt;.txt<")
        .unwrap_or_else(|| panic!("escaped name missing: {html}"));
    let z = html
        .find("href=\"zdir/\"> zdir/<")
        .expect("directory with slash");
    assert!(a < b && b < z, "entries not sorted: {html}");
    assert!(
        html.contains("<a href=\"/\"> Parent Directory</a>"),
        "{html}"
    );
}

// ------------------------------------------------------------ file heads

#[test]
fn content_type_comes_from_the_extension_and_add_type_overrides() {
    let fx = Fixture::new();
    let site = fx.site();
    for (uri, expected) in [
        ("/page.html", Some("text/html")),
        ("/style.css", Some("text/css")),
        ("/hello.txt", Some("text/plain")),
        ("/blob.unknownext", None),
    ] {
        let response = get(&site, uri, &[]);
        assert_eq!(header(&response, "content-type"), expected, "{uri}");
    }
    let typed = site_with_types(
        &config(fx.main(), Vec::new()),
        &[("unknownext".into(), "application/x-test".into())],
    );
    let response = get(&typed, "/blob.unknownext", &[]);
    assert_eq!(
        header(&response, "content-type"),
        Some("application/x-test")
    );
}

#[test]
fn file_response_carries_validators_and_the_file_body() {
    let fx = Fixture::new();
    let site = fx.site();
    let response = get(&site, "/hello.txt", &[]);
    assert_status(&response, 200, "/hello.txt");
    let etag = header(&response, "etag").expect("ETag");
    assert!(
        etag.starts_with("\"e-") && etag.ends_with('"'),
        "ETag {etag}"
    );
    let modified = fs::metadata(fx.root().join("hello.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        header(&response, "last-modified"),
        Some(httpdate::fmt_http_date(modified).as_str())
    );
    assert_eq!(header(&response, "accept-ranges"), Some("bytes"));
    // A small file is answered from the bytes kept of it (open_files).
    assert!(
        matches!(response.body(), Body::Bytes(b) if b.len() == 14),
        "a 14-byte file was not answered from its kept bytes"
    );
    assert_eq!(text(response), "Hello, world!\n");
}

#[test]
fn matching_if_none_match_gets_304_without_body() {
    let fx = Fixture::new();
    let site = fx.site();
    let etag = header(&get(&site, "/hello.txt", &[]), "etag")
        .unwrap()
        .to_string();
    let weak = format!("W/{etag}");
    let list = format!("\"nope\", {etag}");
    for value in [etag.as_str(), weak.as_str(), list.as_str(), "*"] {
        let response = get(&site, "/hello.txt", &[("if-none-match", value)]);
        assert_status(&response, 304, value);
        assert_eq!(header(&response, "etag"), Some(etag.as_str()));
        assert!(response.headers().contains_key(LAST_MODIFIED));
        assert!(response.body().is_empty(), "304 with a body");
    }
    let response = get(&site, "/hello.txt", &[("if-none-match", "\"other\"")]);
    assert_status(&response, 200, "non-matching If-None-Match");
}

#[test]
fn if_modified_since_gets_304_unless_if_none_match_disagrees() {
    let fx = Fixture::new();
    let site = fx.site();
    let first = get(&site, "/hello.txt", &[]);
    let last_modified = header(&first, "last-modified").unwrap().to_string();
    let response = get(
        &site,
        "/hello.txt",
        &[("if-modified-since", &last_modified)],
    );
    assert_status(&response, 304, "If-Modified-Since = Last-Modified");
    assert!(response.headers().contains_key(ETAG));
    let earlier = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
    assert_status(
        &get(&site, "/hello.txt", &[("if-modified-since", &earlier)]),
        200,
        "modified since an old date",
    );
    assert_status(
        &get(
            &site,
            "/hello.txt",
            &[
                ("if-modified-since", &last_modified),
                ("if-none-match", "\"other\""),
            ],
        ),
        200,
        "If-None-Match takes precedence",
    );
}

// ------------------------------------------------------------------ ranges

#[test]
fn single_ranges_get_206_with_content_range() {
    let fx = Fixture::new();
    let site = fx.site();
    for (range, content_range, bytes) in [
        ("bytes=2-5", "bytes 2-5/10", "2345"),
        ("bytes=7-", "bytes 7-9/10", "789"),
        ("bytes=-3", "bytes 7-9/10", "789"),
        ("bytes=8-1000", "bytes 8-9/10", "89"),
    ] {
        let response = get(&site, "/digits.txt", &[("range", range)]);
        assert_status(&response, 206, range);
        assert_eq!(
            header(&response, "content-range"),
            Some(content_range),
            "{range}"
        );
        assert_eq!(text(response), bytes, "{range}");
    }
}

#[test]
fn unsatisfiable_range_gets_416_and_multiple_ranges_the_whole_file() {
    let fx = Fixture::new();
    let site = fx.site();
    let response = get(&site, "/digits.txt", &[("range", "bytes=10-")]);
    assert_status(&response, 416, "range past the end");
    assert_eq!(header(&response, "content-range"), Some("bytes */10"));
    let response = get(&site, "/digits.txt", &[("range", "bytes=0-1,4-5")]);
    assert_status(&response, 200, "multiple ranges");
    assert!(!response.headers().contains_key(CONTENT_RANGE));
    assert_eq!(text(response), "0123456789");
}

#[test]
fn if_range_honours_the_range_only_when_it_matches() {
    let fx = Fixture::new();
    let site = fx.site();
    let first = get(&site, "/digits.txt", &[]);
    let etag = header(&first, "etag").unwrap().to_string();
    let date = header(&first, "last-modified").unwrap().to_string();
    for validator in [etag.as_str(), date.as_str()] {
        let response = get(
            &site,
            "/digits.txt",
            &[("range", "bytes=0-0"), ("if-range", validator)],
        );
        assert_status(&response, 206, validator);
    }
    for validator in ["\"stale\"", "Thu, 01 Jan 1970 00:00:01 GMT"] {
        let response = get(
            &site,
            "/digits.txt",
            &[("range", "bytes=0-0"), ("if-range", validator)],
        );
        assert_status(&response, 200, validator);
        assert_eq!(text(response), "0123456789");
    }
}

// ---------------------------------------------------------------- methods

#[test]
fn head_gets_the_same_headers_as_get() {
    let fx = Fixture::new();
    let site = fx.site();
    let got = get(&site, "/page.html", &[]);
    let head = send(&site, "HEAD", "/page.html", &[], &conn());
    assert_status(&head, 200, "HEAD");
    for name in [CONTENT_TYPE, ETAG, LAST_MODIFIED, ACCEPT_RANGES] {
        assert_eq!(
            header(&head, name.as_str()),
            header(&got, name.as_str()),
            "{name}"
        );
    }
    assert_eq!(
        head.body().len(),
        Some(11),
        "HEAD must announce the GET length"
    );
}

#[test]
fn a_post_gets_the_file_other_methods_get_405_or_501_with_allow_and_options_gets_200() {
    let fx = Fixture::new();
    let site = fx.site();
    let allow = Some("GET, HEAD, POST, OPTIONS, TRACE");
    // Apache's default handler serves a POST as a GET.
    let response = send(&site, "POST", "/hello.txt", &[], &conn());
    assert_status(&response, 200, "POST");
    assert_eq!(text(response), "Hello, world!\n", "POST");
    for method in ["PUT", "DELETE", "PATCH"] {
        let response = send(&site, method, "/hello.txt", &[], &conn());
        assert_status(&response, 405, method);
        assert_eq!(header(&response, "allow"), allow, "{method}");
    }
    let response = send(&site, "BREW", "/hello.txt", &[], &conn());
    assert_status(&response, 501, "unknown method");
    assert_eq!(header(&response, "allow"), allow, "unknown method");
    let response = send(&site, "OPTIONS", "/hello.txt", &[], &conn());
    assert_status(&response, 200, "OPTIONS");
    assert_eq!(header(&response, "allow"), allow);
    assert_eq!(
        header(&response, "content-type"),
        Some("text/plain"),
        "OPTIONS names the file's type"
    );
    assert!(response.body().is_empty());
    // TRACE is echoed, as Apache's TraceEnable On (its default) does.
    let response = send(&site, "TRACE", "/hello.txt", &[], &conn());
    assert_status(&response, 200, "TRACE");
    assert_eq!(header(&response, "content-type"), Some("message/http"));
}

#[test]
fn error_pages_use_apaches_wording() {
    let fx = Fixture::new();
    let site = fx.site();
    let response = get(&site, "/missing.txt", &[]);
    assert_status(&response, 404, "missing file");
    assert!(text(response).contains("The requested URL was not found on this server."));
    assert_status(
        &get(&site, "/hello.txt/", &[]),
        404,
        "file with trailing slash",
    );
}

// --------------------------------------------------------------- mod_alias

#[test]
fn redirect_appends_the_rest_of_the_path_and_the_query() {
    let fx = Fixture::new();
    let site = fx.with_main(|m| {
        m.redirects = vec![
            RedirectRule {
                status: 301,
                from: "/old".into(),
                to: Some("http://example.test/new".into()),
            },
            RedirectRule {
                status: 302,
                from: "/temp/".into(),
                to: Some("http://example.test/t/".into()),
            },
            RedirectRule {
                status: 410,
                from: "/gone".into(),
                to: None,
            },
        ]
    });
    let response = get(&site, "/old/a%20b/c?x=1", &[]);
    assert_status(&response, 301, "/old/a b/c");
    assert_eq!(
        header(&response, "location"),
        Some("http://example.test/new/a%20b/c?x=1")
    );
    assert!(text(response).contains("http://example.test/new/a%20b/c?x=1"));
    let response = get(&site, "/old", &[]);
    assert_eq!(
        header(&response, "location"),
        Some("http://example.test/new")
    );
    let response = get(&site, "/temp/x", &[]);
    assert_status(&response, 302, "/temp/x");
    assert_eq!(
        header(&response, "location"),
        Some("http://example.test/t/x")
    );
    assert_status(
        &get(&site, "/oldish", &[]),
        404,
        "prefix without segment boundary",
    );
    let response = get(&site, "/gone/x", &[]);
    assert_status(&response, 410, "gone");
    assert!(!response.headers().contains_key(LOCATION));
}

#[test]
fn redirect_to_a_path_is_made_absolute_on_the_requests_host() {
    let fx = Fixture::new();
    let site = fx.with_main(|m| {
        m.redirects = vec![
            RedirectRule {
                status: 302,
                from: "/old".into(),
                to: Some("/new".into()),
            },
            RedirectRule {
                status: 303,
                from: "/see".into(),
                to: Some("/there".into()),
            },
        ]
    });
    let response = get(&site, "/old/a?x=1", &[("host", "main.test:8080")]);
    assert_status(&response, 302, "/old/a");
    assert_eq!(
        header(&response, "location"),
        Some("http://main.test:8080/new/a?x=1"),
        "as mod_alias: scheme and Host before the path"
    );
    let response = get(&site, "/see", &[("host", "main.test")]);
    assert_eq!(
        header(&response, "location"),
        Some("http://main.test/there")
    );
    assert!(
        text(response).contains(
            "<p>The answer to your request is located <a href=\"http://main.test/there\">here</a>.</p>"
        ),
        "Apache's wording of a 303"
    );
}

#[test]
fn alias_maps_a_file_and_a_directory() {
    let fx = Fixture::new();
    let outside = fx.dir.path().join("outside");
    fs::write(outside.join("style.css"), "body{}").unwrap();
    let site = fx.with_main(|m| {
        m.aliases = vec![
            AliasRule {
                url: "/hello".into(),
                path: outside.join("secret.txt"),
                script: false,
            },
            AliasRule {
                url: "/assets/".into(),
                path: outside.clone(),
                script: false,
            },
            AliasRule {
                url: "/stuff".into(),
                path: outside.clone(),
                script: false,
            },
        ]
    });
    let response = get(&site, "/hello", &[]);
    assert_status(&response, 200, "file alias");
    assert_eq!(text(response), "secret");
    assert_status(&get(&site, "/hello/x", &[]), 404, "below a file alias");
    let response = get(&site, "/assets/style.css", &[]);
    assert_status(&response, 200, "directory alias");
    assert_eq!(header(&response, "content-type"), Some("text/css"));
    assert_eq!(text(response), "body{}");
    assert_status(
        &get(&site, "/stuff/secret.txt", &[]),
        200,
        "alias without slash",
    );
    let response = get(&site, "/stuff", &[]);
    assert_status(&response, 301, "aliased directory without slash");
    assert_eq!(header(&response, "location"), Some("/stuff/"));
    assert_status(
        &get(&site, "/assets", &[]),
        404,
        "alias with slash needs the slash",
    );
}

// ----------------------------------------------------------------- Require

#[test]
fn location_require_ip_and_local_refuse_other_clients() {
    let fx = Fixture::new();
    let site = fx.with_main(|m| {
        m.sections = vec![
            location(
                "/sub",
                None,
                Some(Require::Ip(vec![IpNet {
                    addr: "10.0.0.0".parse().unwrap(),
                    prefix: 8,
                }])),
            ),
            location("/hello.txt", None, Some(Require::Local)),
            location("/digits.txt", None, Some(Require::AllDenied)),
        ]
    });
    let loopback = conn();
    let lan = conn_at("10.0.0.1:80", "10.9.8.7:1234");
    let stranger = conn_at("10.0.0.1:80", "192.0.2.7:1234");
    assert_status(
        &send(&site, "GET", "/sub/", &[], &loopback),
        403,
        "ip from loopback",
    );
    assert_status(&send(&site, "GET", "/sub/", &[], &lan), 200, "ip from 10/8");
    assert_status(
        &send(&site, "GET", "/hello.txt", &[], &loopback),
        200,
        "local from loopback",
    );
    assert_status(
        &send(&site, "GET", "/hello.txt", &[], &stranger),
        403,
        "local from afar",
    );
    let same_host = conn_at("10.0.0.1:80", "10.0.0.1:999");
    assert_status(
        &send(&site, "GET", "/hello.txt", &[], &same_host),
        200,
        "local: same address",
    );
    let response = send(&site, "GET", "/digits.txt", &[], &loopback);
    assert_status(&response, 403, "all denied");
    assert!(text(response).contains("You don't have permission to access this resource."));
}

#[test]
fn directory_require_is_inherited_by_subdirectories_and_overridable() {
    let fx = Fixture::new();
    fs::create_dir_all(fx.root().join("sub/open")).unwrap();
    fs::write(fx.root().join("sub/open/f.txt"), "open").unwrap();
    let root = fx.root();
    let site = fx.with_main(|m| {
        m.sections = vec![
            directory(&root.join("sub/open"), None, Some(Require::AllGranted)),
            directory(&root.join("sub"), None, Some(Require::AllDenied)),
        ]
    });
    assert_status(&get(&site, "/sub/index.html", &[]), 403, "denied directory");
    assert_status(&get(&site, "/sub/", &[]), 403, "denied directory itself");
    assert_status(&get(&site, "/sub", &[]), 403, "denied directory, no slash");
    assert_status(
        &get(&site, "/sub/missing", &[]),
        403,
        "denied even when missing",
    );
    assert_status(
        &get(&site, "/sub/open/f.txt", &[]),
        200,
        "granted subdirectory",
    );
    assert_status(&get(&site, "/hello.txt", &[]), 200, "outside the block");
}

// ------------------------------------------- how sections are merged

// `VirtualHost::sections` holds the main server's blocks
// and then the virtual host's own (config::load merges them so); these
// tests hand the site such lists and check Apache's answers.

fn options(follow_symlinks: bool, indexes: bool) -> Options {
    Options {
        follow_symlinks,
        indexes,
        exec_cgi: false,
    }
}

fn block(path: &Path, edit: impl FnOnce(&mut DirConfig)) -> Section {
    let mut block = directory(path, None, None);
    edit(&mut block.config);
    block
}

/// The fixture with a link out of the root in `empty/`.
fn fixture_with_link() -> Fixture {
    let fx = Fixture::new();
    symlink(
        fx.dir.path().join("outside/secret.txt"),
        fx.root().join("empty/link.txt"),
    )
    .unwrap();
    fx
}

#[test]
fn a_deeper_directory_block_wins_over_a_later_shallower_one() {
    let fx = fixture_with_link();
    let root = fx.root();
    let site = fx.with_main(|m| {
        m.sections = vec![
            block(&root.join("empty"), |b| {
                b.options = Some(OptionsSetting::Set(Options::ALL));
                b.require = Some(Require::AllGranted);
            }),
            block(&root, |b| {
                b.options = Some(OptionsSetting::Set(Options::NONE));
                b.require = Some(Require::AllDenied);
            }),
        ]
    });
    assert_status(&get(&site, "/hello.txt", &[]), 403, "the shallow block");
    for uri in ["/empty/a.txt", "/empty/", "/empty/link.txt"] {
        assert_status(&get(&site, uri, &[]), 200, uri);
    }
}

#[test]
fn relative_options_change_what_the_blocks_applied_before_them_left() {
    let fx = fixture_with_link();
    let root = fx.root();
    let empty = root.join("empty");
    let change = |add, remove| OptionsSetting::Change { add, remove };
    let with = |blocks: Vec<(&Path, OptionsSetting)>| {
        fx.with_main(|m| {
            m.sections = blocks
                .into_iter()
                .map(|(path, setting)| block(path, |b| b.options = Some(setting)))
                .collect()
        })
    };
    let answers = |site: &Site| {
        (
            get(site, "/empty/", &[]).status().as_u16(),
            get(site, "/empty/link.txt", &[]).status().as_u16(),
        )
    };
    // The main server's block, then the virtual host's `Options -Indexes`.
    let site = with(vec![
        (&empty, OptionsSetting::Set(Options::ALL)),
        (&empty, change(Options::NONE, options(false, true))),
    ]);
    assert_eq!(answers(&site), (403, 200), "(listing, link) after -Indexes");
    // `+FollowSymLinks` adds to `Indexes` from a block of the same path
    // before it, whatever file order wrote them in.
    let site = with(vec![
        (&empty, OptionsSetting::Set(options(false, true))),
        (&empty, change(options(true, false), Options::NONE)),
    ]);
    assert_eq!(
        answers(&site),
        (200, 200),
        "(listing, link) after +FollowSymLinks"
    );
    // A relative block on a parent is applied before a deeper absolute one.
    let site = with(vec![
        (&empty, OptionsSetting::Set(options(false, true))),
        (&root, change(options(true, false), Options::NONE)),
    ]);
    assert_eq!(
        answers(&site),
        (200, 403),
        "the deeper Options Indexes replaces all"
    );
    // With nothing before it, a relative setting starts from Apache's
    // default, FollowSymLinks.
    let site = with(vec![(&empty, change(options(false, true), Options::NONE))]);
    assert_eq!(
        answers(&site),
        (200, 200),
        "(listing, link) after +Indexes alone"
    );
    let site = with(vec![(&empty, change(Options::NONE, options(true, false)))]);
    assert_eq!(
        answers(&site),
        (403, 403),
        "(listing, link) after -FollowSymLinks alone"
    );
}

#[test]
fn directory_index_of_a_later_block_replaces_the_earlier_and_the_hosts() {
    let fx = Fixture::new();
    let root = fx.root();
    fs::write(root.join("empty/main.html"), "main").unwrap();
    fs::write(root.join("empty/vhost.html"), "vhost").unwrap();
    let index = |names: &[&str]| Some(names.iter().map(|n| n.to_string()).collect());
    let site = fx.with_main(|m| {
        m.dir.directory_index = Some(vec!["a.txt".into()]);
        m.sections = vec![
            block(&root.join("empty"), |b| {
                b.directory_index = index(&["main.html"])
            }),
            block(&root.join("empty"), |b| {
                b.directory_index = index(&["vhost.html"])
            }),
        ]
    });
    assert_eq!(text(get(&site, "/empty/", &[])), "vhost");
    fs::write(root.join("sub/a.txt"), "sub a").unwrap();
    let site = fx.with_main(|m| {
        m.dir.directory_index = Some(vec!["a.txt".into()]);
        m.sections = vec![block(&root.join("empty"), |b| {
            b.directory_index = index(&[]);
            b.options = Some(OptionsSetting::Set(options(false, true)));
        })];
    });
    assert!(
        text(get(&site, "/empty/", &[])).contains("Index of /empty<"),
        "DirectoryIndex disabled: a listing, not a.txt"
    );
    assert_eq!(
        text(get(&site, "/sub/", &[])),
        "sub a",
        "the host's DirectoryIndex outside the block"
    );
}

#[test]
fn location_blocks_apply_in_order_so_a_later_shorter_one_wins() {
    let fx = Fixture::new();
    let site = fx.with_main(|m| {
        m.sections = vec![
            location("/sub/inner", None, Some(Require::AllGranted)),
            location("/sub", None, Some(Require::AllDenied)),
            location("/empty", None, Some(Require::AllDenied)),
            location("/empty/a.txt", None, Some(Require::AllGranted)),
            location("/hello.txt", Some(HandlerName::ServerStatus), None),
            location("/", Some(HandlerName::None), None),
        ]
    });
    assert_status(
        &get(&site, "/sub/inner/x", &[]),
        403,
        "/sub after /sub/inner",
    );
    assert_status(
        &get(&site, "/empty/a.txt", &[]),
        200,
        "/empty/a.txt after /empty",
    );
    assert_status(&get(&site, "/empty/b.txt", &[]), 403, "/empty");
    let response = get(&site, "/hello.txt", &[]);
    assert_eq!(
        text(response),
        "Hello, world!\n",
        "SetHandler none of a later / block"
    );
}

// ------------------------------------------- what the event loop answers

fn at_once(site: &Site, method: Method, uri: &str) -> bool {
    site.answer_never_blocks(&method, &uri.parse::<Uri>().expect("uri"))
}

#[test]
fn a_request_a_proxy_pass_takes_goes_to_a_worker_and_an_excluded_one_does_not() {
    use crate::proxy::{BackendUrl, ProxyPass, WorkerConfig};
    let fx = Fixture::new();
    let mut main = fx.main();
    let backend = BackendUrl::parse("http://127.0.0.1:9/").expect("url");
    main.proxy.passes = vec![
        ProxyPass::exclude("/app/static/"),
        ProxyPass::prefix("/app/", WorkerConfig::new(backend)),
    ];
    let site = site(&config(main, Vec::new()));
    assert!(
        !at_once(&site, Method::GET, "/app/x"),
        "a proxied GET blocks on its backend"
    );
    assert!(
        at_once(&site, Method::GET, "/app/static/a.css"),
        "an excluded path is a file"
    );
    assert!(at_once(&site, Method::GET, "/hello.txt"));
}

#[test]
fn a_script_alias_sends_its_scripts_to_a_worker_and_leaves_files_to_the_loop() {
    let fx = Fixture::new();
    let site = fx.with_main(|main| {
        main.aliases.push(AliasRule {
            url: "/cgi-bin".into(),
            path: fx.root().join("sub"),
            script: true,
        })
    });
    assert!(
        !at_once(&site, Method::GET, "/cgi-bin/run"),
        "a ScriptAlias's script was left to the event loop"
    );
    assert!(
        at_once(&site, Method::GET, "/hello.txt"),
        "a file beside a ScriptAlias was sent to a worker"
    );
    assert!(
        at_once(&fx.site(), Method::GET, "/hello.txt"),
        "a file of a bare host was sent to a worker"
    );
}

#[test]
fn basic_authentication_goes_to_a_worker_never_the_event_loop() {
    // A password file read and a bcrypt hash take milliseconds by design.
    let fx = Fixture::new();
    let root = fx.root();
    let mut main = fx.main();
    let mut members = DirConfig {
        require: Some(Require::ValidUser),
        ..DirConfig::default()
    };
    members.auth.auth_type = Some(crate::auth::AuthType::Basic);
    main.sections = vec![Section::new(SectionKind::Directory(root.join("sub"))).with(members)];
    let plain = site(&config(fx.main(), Vec::new()));
    let protected = site(&config(main, Vec::new()));
    assert!(
        !at_once(&protected, Method::GET, "/sub/a.txt"),
        "an authenticated GET is answered by the loop"
    );
    assert!(
        at_once(&plain, Method::GET, "/hello.txt"),
        "a plain file is"
    );
}

#[test]
fn a_directory_that_may_be_listed_goes_to_a_worker_and_bounded_answers_do_not() {
    let fx = Fixture::new();
    let root = fx.root();
    let mut main = fx.main();
    main.sections = vec![directory(
        &root.join("empty"),
        Some(options(false, true)),
        None,
    )];
    main.sections.push(location(
        "/empty/status",
        Some(HandlerName::ServerStatus),
        None,
    ));
    main.redirects = vec![RedirectRule {
        status: 302,
        from: "/empty/moved".into(),
        to: Some("http://elsewhere.test/".into()),
    }];
    main.aliases = vec![AliasRule {
        url: "/alias".into(),
        path: root.join("empty"),
        script: false,
    }];
    let mut vhost = host(&root, Some("v.test"), &["*:80"]);
    vhost.sections = vec![directory(
        &root.join("sub"),
        Some(options(false, true)),
        None,
    )];
    let site = site(&config(main, vec![vhost]));
    for uri in ["/empty/", "/empty/./", "/alias/", "/sub/"] {
        assert!(
            !at_once(&site, Method::GET, uri),
            "GET {uri} may be a listing"
        );
        assert!(
            !at_once(&site, Method::HEAD, uri),
            "HEAD {uri} may be a listing"
        );
    }
    for uri in [
        "/empty",
        "/empty/a.txt",
        "/hello.txt",
        "/",
        "/empty/status/",
        "/empty/moved/",
        "/missing/",
        "/%2e%2e/",
    ] {
        assert!(at_once(&site, Method::GET, uri), "GET {uri} is bounded");
    }
    assert!(!at_once(&site, Method::POST, "/hello.txt"), "POST");
}

// --------------------------------------------------------- mod_file_cache

/// The fixture's site with `files` (paths below the document root) loaded
/// by `MMapFile` (`Contents`) or `CacheFile` (`Descriptor`), after `edit`.
fn cached_site(
    fx: &Fixture,
    files: &[(&str, FileCacheKind)],
    edit: impl FnOnce(&mut VirtualHost),
) -> Site {
    let mut main = fx.main();
    edit(&mut main);
    let mut cfg = config(main, Vec::new());
    cfg.cached_files = files
        .iter()
        .map(|(rel, kind)| CachedFile {
            path: fx.root().join(rel),
            kind: *kind,
            origin: Default::default(),
        })
        .collect();
    site(&cfg)
}

#[test]
fn cached_files_answer_as_the_file_on_disk_did_when_loaded() {
    let fx = Fixture::new();
    let plain = fx.site();
    let cached = cached_site(
        &fx,
        &[
            ("hello.txt", FileCacheKind::Contents),
            ("digits.txt", FileCacheKind::Descriptor),
        ],
        |_| {},
    );
    for uri in ["/hello.txt", "/digits.txt"] {
        let want = get(&plain, uri, &[]);
        let got = get(&cached, uri, &[]);
        assert_status(&got, 200, uri);
        for name in [CONTENT_TYPE, ETAG, LAST_MODIFIED, ACCEPT_RANGES] {
            assert_eq!(
                header(&got, name.as_str()),
                header(&want, name.as_str()),
                "{uri}: {name}"
            );
        }
        assert_eq!(got.body().len(), want.body().len(), "{uri}: length");
        assert_eq!(body(got), body(want), "{uri}: body");
    }
    assert!(
        matches!(
            get(&cached, "/hello.txt", &[]).body(),
            Body::Bytes(_) | Body::Kept { .. }
        ),
        "MMapFile answers from memory"
    );
    assert!(
        matches!(get(&cached, "/digits.txt", &[]).body(), Body::File { .. }),
        "CacheFile answers from its descriptor"
    );
    let etag = header(&get(&plain, "/hello.txt", &[]), "etag")
        .unwrap()
        .to_string();
    // Changed on disk: the cached copy keeps answering as loaded.
    fs::write(fx.root().join("hello.txt"), "Changed since the start").unwrap();
    let response = get(&cached, "/hello.txt", &[]);
    assert_eq!(header(&response, "etag"), Some(etag.as_str()));
    assert_eq!(text(response), "Hello, world!\n");
    let response = get(&cached, "/hello.txt", &[("if-none-match", &etag)]);
    assert_status(&response, 304, "If-None-Match of the loaded file");
    assert!(response.body().is_empty(), "304 with a body");
    // The uncached site sees the change once its kept copy of the small
    // file is looked at again (at most a second later).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while header(&get(&plain, "/hello.txt", &[]), "etag") == Some(etag.as_str()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the uncached site still answers with the old ETag after 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn cached_files_honour_ranges_and_conditionals() {
    let fx = Fixture::new();
    let cached = cached_site(
        &fx,
        &[
            ("hello.txt", FileCacheKind::Contents),
            ("digits.txt", FileCacheKind::Descriptor),
        ],
        |_| {},
    );
    for (uri, range, content_range, bytes) in [
        ("/hello.txt", "bytes=0-4", "bytes 0-4/14", "Hello"),
        ("/hello.txt", "bytes=-7", "bytes 7-13/14", "world!\n"),
        ("/digits.txt", "bytes=2-5", "bytes 2-5/10", "2345"),
        ("/digits.txt", "bytes=8-1000", "bytes 8-9/10", "89"),
    ] {
        let response = get(&cached, uri, &[("range", range)]);
        assert_status(&response, 206, range);
        assert_eq!(header(&response, "content-range"), Some(content_range));
        assert_eq!(text(response), bytes, "{uri} {range}");
    }
    for uri in ["/hello.txt", "/digits.txt"] {
        let response = get(&cached, uri, &[("range", "bytes=100-")]);
        assert_status(&response, 416, uri);
        let first = get(&cached, uri, &[]);
        let date = header(&first, "last-modified").unwrap().to_string();
        assert_status(
            &get(&cached, uri, &[("if-modified-since", &date)]),
            304,
            uri,
        );
        let response = get(
            &cached,
            uri,
            &[("range", "bytes=0-0"), ("if-range", "\"stale\"")],
        );
        assert_status(&response, 200, "If-Range that does not match");
        let head = send(&cached, "HEAD", uri, &[], &conn());
        assert_status(&head, 200, "HEAD");
        assert_eq!(
            head.body().len(),
            first.body().len(),
            "HEAD length of {uri}"
        );
    }
}

#[test]
fn a_cached_index_file_answers_for_its_directory() {
    let fx = Fixture::new();
    let cached = cached_site(&fx, &[("sub/index.html", FileCacheKind::Contents)], |_| {});
    fs::write(fx.root().join("sub/index.html"), "changed").unwrap();
    let response = get(&cached, "/sub/", &[]);
    assert_status(&response, 200, "/sub/");
    assert_eq!(header(&response, "content-type"), Some("text/html"));
    assert_eq!(text(response), "sub index");
    assert_status(&get(&cached, "/sub", &[]), 301, "/sub without its slash");
}

#[test]
fn every_access_check_still_applies_to_a_cached_file() {
    let fx = Fixture::new();
    let root = fx.root();
    let outside = fx.dir.path().join("outside");
    symlink(outside.join("secret.txt"), root.join("link.txt")).unwrap();
    let files = [
        ("hello.txt", FileCacheKind::Contents),
        ("digits.txt", FileCacheKind::Descriptor),
        ("sub/index.html", FileCacheKind::Contents),
        ("link.txt", FileCacheKind::Contents),
    ];
    let cached = cached_site(&fx, &files, |m| {
        m.sections = vec![
            directory(&root, Some(Options::NONE), None),
            directory(&root.join("sub"), None, Some(Require::AllDenied)),
        ];
        m.sections
            .push(location("/digits.txt", None, Some(Require::AllDenied)));
        m.aliases = vec![AliasRule {
            url: "/denied-alias".into(),
            path: root.join("sub/index.html"),
            script: false,
        }];
    });
    for (uri, status) in [
        ("/sub/index.html", 403),
        ("/sub/", 403),
        ("/denied-alias", 403),
        ("/digits.txt", 403),
        ("/link.txt", 403),
        ("/hello.txt/", 404),
        ("/hello.txt/x", 404),
    ] {
        let response = get(&cached, uri, &[]);
        assert_status(&response, status, uri);
        let text = text(response);
        assert!(
            !text.contains("sub index") && !text.contains("secret") && !text.contains("0123"),
            "{uri} leaked: {text}"
        );
    }
    assert_status(&get(&cached, "/hello.txt", &[]), 200, "allowed cached file");
}

// ------------------------------------------------------------ status page

#[test]
fn status_page_is_served_from_its_location() {
    let fx = Fixture::new();
    let site = fx.with_main(|m| {
        m.sections = vec![location(
            "/server-status",
            Some(HandlerName::ServerStatus),
            Some(Require::Local),
        )]
    });
    let response = get(&site, "/server-status?auto", &[]);
    assert_status(&response, 200, "?auto");
    assert_eq!(header(&response, "cache-control"), Some("no-cache"));
    assert!(header(&response, "content-type").is_some_and(|t| t.starts_with("text/plain")));
    let auto = text(response);
    assert!(auto.contains("ServerMPM: single"), "auto page: {auto}");
    let response = get(&site, "/server-status", &[]);
    assert_status(&response, 200, "html");
    assert!(header(&response, "content-type").is_some_and(|t| t.starts_with("text/html")));
    assert!(response.headers().contains_key(CACHE_CONTROL));
    let far = conn_at("10.0.0.1:80", "192.0.2.7:1234");
    assert_status(
        &send(&site, "GET", "/server-status", &[], &far),
        403,
        "status from afar",
    );
    assert_status(
        &send(&site, "POST", "/server-status", &[], &conn()),
        405,
        "POST status",
    );
}

#[test]
fn metrics_page_is_served_from_its_location_and_logged_exchanges_count_by_host() {
    let (_dir, site) = vhost_site();
    let conn80 = conn_at("127.0.0.1:80", "127.0.0.1:50000");
    let uri: Uri = "/who.txt".parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("host", "www.second.test".parse().unwrap());
    let mut ex = exchange_for(&conn80, "GET /who.txt HTTP/1.1", &uri, &headers, 200, 6);
    ex.received = 40;
    site.log(&ex);
    // No host has this name: the address's default (first.test) counts it.
    let mut unknown = HeaderMap::new();
    unknown.insert("host", "nobody.test".parse().unwrap());
    site.log(&exchange_for(
        &conn80,
        "GET / HTTP/1.1",
        &uri,
        &unknown,
        404,
        0,
    ));

    let fx = Fixture::new();
    let metrics = fx.with_main(|m| {
        m.sections = vec![location(
            "/metrics",
            Some(HandlerName::Metrics),
            Some(Require::Local),
        )]
    });
    let response = get(&metrics, "/metrics", &[]);
    assert_status(&response, 200, "metrics");
    assert_eq!(
        header(&response, "content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(text(response).contains("apache_info{mpm=\"single\""));
    let far = conn_at("10.0.0.1:80", "192.0.2.7:1234");
    assert_status(
        &send(&metrics, "GET", "/metrics", &[], &far),
        403,
        "metrics from afar",
    );

    let page = crate::metrics::render(&site.scoreboard, &site.status, SystemTime::now());
    for line in [
        "mpmd_http_requests_total{vhost=\"second.test\",method=\"GET\",class=\"2xx\"} 1\n",
        "mpmd_http_requests_total{vhost=\"first.test\",method=\"GET\",class=\"4xx\"} 1\n",
        "mpmd_http_request_bytes_total{vhost=\"second.test\"} 40\n",
        "mpmd_http_response_body_bytes_total{vhost=\"second.test\"} 6\n",
    ] {
        assert!(page.contains(line), "no {line:?} in:\n{page}");
    }
    assert!(
        !page.contains("nobody.test"),
        "a Host header made a label:\n{page}"
    );
}

// -------------------------------------------------------------- access log

/// No notes from a handler (an exchange the tests make up).
static NO_NOTES: std::sync::LazyLock<http::Extensions> =
    std::sync::LazyLock::new(http::Extensions::new);

fn exchange_for<'a>(
    conn: &'a ConnInfo,
    line: &'a str,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    status: u16,
    bytes: u64,
) -> Exchange<'a> {
    Exchange {
        conn,
        request_line: line,
        method: Some(&Method::GET),
        uri: Some(uri),
        headers,
        status: StatusCode::from_u16(status).unwrap(),
        body_bytes: bytes,
        received: 0,
        started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_681_288),
        duration: Duration::from_micros(1234),
        notes: &NO_NOTES,
    }
}

fn log_site(dir: &Path, formats: &[(&str, &str)]) -> Site {
    let mut main = host(dir, Some("main.test"), &[]);
    main.custom_logs = formats
        .iter()
        .map(|(file, format)| CustomLog {
            path: dir.join(file),
            format: format.to_string(),
        })
        .collect();
    site(&config(main, Vec::new()))
}

#[test]
fn common_and_combined_lines_match_apache() {
    let dir = tempfile::tempdir().unwrap();
    let site = log_site(
        dir.path(),
        &[
            ("common.log", "%h %l %u %t \"%r\" %>s %b"),
            (
                "combined.log",
                "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"",
            ),
            ("extra.log", "%D %v %V %p %m %U%q %H %T %B %A 100%% %Z"),
        ],
    );
    let conn = conn_at("127.0.0.1:8080", "127.0.0.9:5555");
    let uri: Uri = "/a/b?x=1".parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("host", "www.test:8080".parse().unwrap());
    headers.insert("user-agent", "curl/8 \"quoted\"".parse().unwrap());
    site.log(&exchange_for(
        &conn,
        "GET /a/b?x=1 HTTP/1.1",
        &uri,
        &headers,
        200,
        42,
    ));
    site.log(&exchange_for(
        &conn,
        "GET /a/b?x=1 HTTP/1.1",
        &uri,
        &headers,
        304,
        0,
    ));
    let read = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap();
    assert_eq!(
        read("common.log"),
        "127.0.0.9 - - [26/Nov/2026:08:21:28 +0000] \"GET /a/b?x=1 HTTP/1.1\" 200 42\n\
         127.0.0.9 - - [26/Nov/2026:08:21:28 +0000] \"GET /a/b?x=1 HTTP/1.1\" 304 -\n"
    );
    assert_eq!(
        read("combined.log").lines().next().unwrap(),
        "127.0.0.9 - - [26/Nov/2026:08:21:28 +0000] \"GET /a/b?x=1 HTTP/1.1\" 200 42 \"-\" \
         \"curl/8 \\\"quoted\\\"\""
    );
    assert_eq!(
        read("extra.log").lines().next().unwrap(),
        "1234 main.test www.test 8080 GET /a/b?x=1 HTTP/1.1 0 42 127.0.0.1 100% %Z"
    );
}

#[test]
fn log_lines_go_to_the_selected_vhost_and_shared_files_are_opened_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut main = host(dir.path(), Some("main.test"), &[]);
    main.custom_logs = vec![CustomLog {
        path: dir.path().join("main.log"),
        format: "main %v %>s".into(),
    }];
    let mut a = host(dir.path(), Some("a.test"), &["*:80"]);
    a.custom_logs = vec![CustomLog {
        path: dir.path().join("shared.log"),
        format: "a %v %>s".into(),
    }];
    let mut b = host(dir.path(), Some("b.test"), &["*:80"]);
    b.custom_logs = vec![CustomLog {
        path: dir.path().join("shared.log"),
        format: "b %v %>s".into(),
    }];
    let nolog = host(dir.path(), Some("nolog.test"), &["*:81"]);
    let site = site(&config(main, vec![a, b, nolog]));
    let conn80 = conn_at("127.0.0.1:80", "127.0.0.1:1");
    let uri: Uri = "/".parse().unwrap();
    let mut for_b = HeaderMap::new();
    for_b.insert("host", "b.test".parse().unwrap());
    site.log(&exchange_for(
        &conn80,
        "GET / HTTP/1.1",
        &uri,
        &for_b,
        200,
        1,
    ));
    let no_headers = HeaderMap::new();
    let refused = Exchange {
        method: None,
        uri: None,
        ..exchange_for(&conn80, "BAD", &uri, &no_headers, 400, 0)
    };
    site.log(&refused);
    let conn81 = conn_at("127.0.0.1:81", "127.0.0.1:1");
    site.log(&exchange_for(
        &conn81,
        "GET / HTTP/1.1",
        &uri,
        &HeaderMap::new(),
        404,
        0,
    ));
    let shared = fs::read_to_string(dir.path().join("shared.log")).unwrap();
    assert_eq!(shared, "b b.test 200\na a.test 400\n");
    let main_log = fs::read_to_string(dir.path().join("main.log")).unwrap();
    assert_eq!(
        main_log, "main nolog.test 404\n",
        "a host without CustomLog uses the main server's"
    );
}

#[test]
fn unopenable_log_file_is_a_startup_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut main = host(dir.path(), Some("main.test"), &[]);
    let bad = dir.path().join("no/such/dir/access.log");
    main.custom_logs = vec![CustomLog {
        path: bad.clone(),
        format: "%h".into(),
    }];
    let scoreboard = mpm_core::Scoreboard::new(1, 1).unwrap();
    let err = match Site::new(&config(main, Vec::new()), scoreboard, status_info()) {
        Ok(_) => panic!("a log in a missing directory was accepted"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        err,
        format!(
            "could not open log file {}: no such file or directory",
            bad.display()
        )
    );
}

#[test]
fn the_log_hook_asks_for_the_request_headers_only_when_a_host_choice_remoteip_or_a_format_reads_them(
) {
    let dir = tempfile::tempdir().unwrap();
    let with_log = |format: &str| {
        let mut main = host(dir.path(), Some("main.test"), &[]);
        main.custom_logs = vec![CustomLog {
            path: dir.path().join("access.log"),
            format: format.into(),
        }];
        main
    };
    let reads = |cfg: &SiteConfig| site(cfg).log_reads_headers();
    assert!(
        !reads(&config(with_log("%h %l %u %t \"%r\" %>s %b"), vec![])),
        "one host, common log format: no headers needed, yet the site asked for them"
    );
    assert!(
        !reads(&config(host(dir.path(), Some("main.test"), &[]), vec![])),
        "one host, no log: no headers needed, yet the site asked for them"
    );
    for format in ["%{User-Agent}i", "%V", CustomLog::COMBINED] {
        assert!(
            reads(&config(with_log(format), vec![])),
            "the format {format:?} reads a request header, yet the site did not ask for them"
        );
    }
    let vhost = host(dir.path(), Some("a.test"), &["*:80"]);
    assert!(
        reads(&config(with_log("%>s"), vec![vhost])),
        "with virtual hosts the Host header chooses the log, yet the site did not ask for it"
    );
    let mut cfg = config(with_log("%a %>s"), vec![]);
    cfg.remote_ip.header = Some(http::HeaderName::from_static("x-forwarded-for"));
    assert!(
        reads(&cfg),
        "RemoteIPHeader makes %a read a header, yet the site did not ask for it"
    );
}

// ------------------------------------------- request state and phases

/// A handler that answers with the request's environment, one `NAME=value`
/// a line, and its URI.
struct EchoEnv;

impl crate::pipeline::ContentHandler for EchoEnv {
    fn handle(
        &self,
        r: &mut crate::pipeline::RequestState<'_>,
    ) -> Result<Response, crate::pipeline::Exit> {
        let mut out = format!("uri={}\nrequest_uri={}\n", r.uri_text(), r.request_uri());
        for (name, value) in r.subprocess_env.iter() {
            out.push_str(&format!("{name}={value}\n"));
        }
        Ok(Response::new(Body::from(out)))
    }
}

/// A handler that always redirects internally to itself, counting its
/// calls.
struct Looper(Arc<std::sync::atomic::AtomicUsize>);

impl crate::pipeline::ContentHandler for Looper {
    fn handle(
        &self,
        _: &mut crate::pipeline::RequestState<'_>,
    ) -> Result<Response, crate::pipeline::Exit> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(crate::pipeline::Exit::Redirect("/again.loop".into()))
    }
}

thread_local! {
    /// The calls of the `Looper` of the site this thread made last.
    static LOOPS: std::cell::RefCell<Arc<std::sync::atomic::AtomicUsize>> = Default::default();
}

fn env_site(fx: &Fixture) -> Site {
    use crate::pipeline::env::{Attribute, EnvAction, EnvEdit, SetEnvIf};
    use crate::pipeline::{ErrorDocument, MimeAttr, MimeEdit, Pattern};
    let mut main = fx.main();
    main.dir.setenvif.push(Arc::new(SetEnvIf {
        attribute: Attribute::parse("User-Agent"),
        pattern: Pattern::new("Bot/([0-9]+)", false).unwrap(),
        actions: vec![EnvAction::parse("bot=$1"), EnvAction::parse("!gone")],
    }));
    main.dir
        .env
        .push(EnvEdit::Set("SITE".into(), "test".into()));
    main.dir
        .env
        .push(EnvEdit::Set("gone".into(), "unset later".into()));
    main.dir.env.push(EnvEdit::Unset("gone".into()));
    for (ext, name) in [("echo", "echo-env"), ("loop", "looper")] {
        main.dir.mime.push(MimeEdit {
            attr: MimeAttr::Handler,
            ext: ext.into(),
            value: Some(name.into()),
        });
    }
    main.dir
        .error_documents
        .push((404, ErrorDocument::Local("/env.echo".into())));
    let mut site = site(&config(main, Vec::new()));
    site.handlers_mut().register("echo-env", Arc::new(EchoEnv));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    LOOPS.with(|l| *l.borrow_mut() = calls.clone());
    site.handlers_mut()
        .register("looper", Arc::new(Looper(calls)));
    site
}

#[test]
fn set_env_if_and_set_env_fill_the_environment_a_handler_reads() {
    let fx = Fixture::new();
    let site = env_site(&fx);
    let response = get(&site, "/x.echo?q=1", &[("user-agent", "Bot/42 (x)")]);
    assert_status(&response, 200, "a registered handler by extension");
    let body = text(response);
    assert!(body.contains("bot=42\n"), "SetEnvIf with $1: {body}");
    assert!(body.contains("SITE=test\n"), "SetEnv: {body}");
    assert!(!body.contains("gone="), "UnsetEnv after SetEnv: {body}");
}

#[test]
fn a_local_error_document_is_an_internal_redirect_with_redirect_variables_and_the_status() {
    let fx = Fixture::new();
    let site = env_site(&fx);
    let response = get(&site, "/missing.txt?a=b", &[("user-agent", "Bot/7")]);
    assert_status(&response, 404, "the error's status, from the ErrorDocument");
    let body = text(response);
    for line in [
        "uri=/env.echo\n",
        "request_uri=/env.echo\n",
        "REDIRECT_STATUS=404\n",
        "REDIRECT_URL=/missing.txt\n",
        "REDIRECT_QUERY_STRING=a=b\n",
        "REDIRECT_bot=7\n",
    ] {
        assert!(body.contains(line), "{line:?} in {body}");
    }
}

#[test]
fn internal_redirects_stop_at_limit_internal_recursion_with_a_500() {
    let fx = Fixture::new();
    let site = env_site(&fx);
    let response = get(&site, "/start.loop", &[]);
    assert_status(&response, 500, "a redirect loop");
    let calls = LOOPS.with(|l| l.borrow().load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(
        calls, 11,
        "the request and its 10 internal redirects, Apache's default limit"
    );
}

#[test]
fn a_handler_nobody_registered_is_a_500_and_set_handler_none_undoes_an_outer_one() {
    let fx = Fixture::new();
    let root = fx.root();
    let site = fx.with_main(|m| {
        m.dir.handler = Some(HandlerName::Other("imap-file".to_string()));
        m.sections.push(
            Section::new(SectionKind::Directory(root.join("sub"))).with(DirConfig {
                handler: Some(HandlerName::None),
                ..DirConfig::default()
            }),
        );
    });
    assert_status(&get(&site, "/hello.txt", &[]), 500, "imap-file: no module");
    assert_status(
        &get(&site, "/sub/index.html", &[]),
        200,
        "SetHandler none below",
    );
}

mod htaccess;
mod untouched;
