//! mod_deflate, mod_brotli, mod_headers and mod_expires in the real
//! `mpmd` under prefork, worker and event: compressed bodies decoded by
//! the test (and by curl), HEAD, ranges, 304 with the suffixed `ETag`,
//! `Vary`, `Header always` on a 404, `Expires` by type.

mod common;

use std::io::Read;
use std::net::SocketAddr;

use common::*;

const STRATEGIES: [&str; 3] = ["prefork", "worker", "event"];

/// 100 KiB of text, compressible as a real asset is.
fn asset() -> Vec<u8> {
    let mut text = Vec::with_capacity(100 * 1024);
    let mut n = 0u32;
    while text.len() < 100 * 1024 {
        text.extend_from_slice(
            format!("line {n}: the quick brown fox jumps over the lazy dog\n").as_bytes(),
        );
        n += 1;
    }
    text.truncate(100 * 1024);
    text
}

const FILTERS: &str = "\
AddOutputFilterByType DEFLATE text/plain text/html
AddOutputFilterByType BROTLI_COMPRESS text/plain
<IfModule mod_headers.c>
Header always set X-Frame-Options SAMEORIGIN
Header set X-Served-Ok yes
Header always append Vary Origin
Header set X-Page yes \"expr=%{REQUEST_URI} =~ m#^/page#\"
</IfModule>
<IfModule mod_expires.c>
ExpiresActive On
ExpiresByType image/png \"access plus 1 month\"
ExpiresByType text/* A60
</IfModule>
";

/// Sections and `.htaccess` narrowing the filters to some places.
fn sections(docroot: &str) -> String {
    format!(
        "<FilesMatch \"\\.css$\">\n\
         Header set Cache-Control \"public, max-age=31536000, immutable\"\n\
         </FilesMatch>\n\
         <Location /static>\nAddOutputFilterByType DEFLATE text/css\n</Location>\n\
         <Directory {docroot}/quiet>\nAllowOverride FileInfo Indexes\n</Directory>\n"
    )
}

/// A site with the asset, a picture, a page, stylesheets and a
/// directory with a `.htaccess`, served by `mpm` with [`FILTERS`] and
/// [`sections`]; `check` runs against it.
fn each_strategy(check: impl Fn(SocketAddr, &str, &Mpmd)) {
    let site = Site::new();
    site.write("htdocs/asset.txt", asset());
    site.write("htdocs/pic.png", [0x89u8, b'P', b'N', b'G', 0, 1, 2, 3]);
    site.write("htdocs/page.html", "<p>hello</p>\n".repeat(50));
    site.write("htdocs/a.css", "body { color: black }\n".repeat(20));
    site.write("htdocs/static/a.css", "body { color: black }\n".repeat(20));
    site.write("htdocs/quiet/x.txt", "quiet\n".repeat(40));
    site.write(
        "htdocs/quiet/.htaccess",
        "Header set X-Htaccess yes\nExpiresActive Off\n",
    );
    let extra = format!(
        "{FILTERS}{}",
        sections(&site.docroot().display().to_string())
    );
    for mpm in STRATEGIES {
        let port = free_port();
        let m = start_mpm(&site, mpm, port, &extra);
        check(addr(port), mpm, &m);
    }
}

fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    raw(addr, text.as_bytes())
}

/// Every `Vary` field, joined as one list.
fn vary(resp: &Resp) -> String {
    resp.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("the body is not valid gzip");
    out
}

fn unbrotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(data, 4096)
        .read_to_end(&mut out)
        .expect("the body is not valid Brotli");
    out
}

#[test]
fn gzip_and_brotli_bodies_decode_to_the_file_with_vary_and_suffixed_etags() {
    each_strategy(|addr, mpm, m| {
        let plain = request(addr, "GET", "/asset.txt", &[]);
        assert_eq!(plain.status, 200, "{mpm}: {}", m.stderr());
        assert_eq!(
            plain.header("content-encoding"),
            None,
            "{mpm}: encoded without Accept-Encoding"
        );
        assert_eq!(plain.body, asset(), "{mpm}");
        let etag = plain.header("etag").expect("an ETag").to_string();
        assert!(
            vary(&plain).contains("Accept-Encoding"),
            "{mpm}: Vary was {:?}",
            vary(&plain)
        );
        // Twice: compressed, then from the cache (with its length).
        for round in 0..2 {
            let gz = request(addr, "GET", "/asset.txt", &[("Accept-Encoding", "gzip")]);
            assert_eq!(
                gz.header("content-encoding"),
                Some("gzip"),
                "{mpm} round {round}"
            );
            assert_eq!(gunzip(&gz.body), asset(), "{mpm} round {round}");
            assert!(
                gz.body.len() < asset().len() / 4,
                "{mpm}: barely compressed"
            );
            assert_eq!(
                gz.header("etag"),
                Some(format!("{}-gzip\"", etag.trim_end_matches('"')).as_str()),
                "{mpm}"
            );
            let br = request(
                addr,
                "GET",
                "/asset.txt",
                &[("Accept-Encoding", "gzip, deflate, br")],
            );
            assert_eq!(
                br.header("content-encoding"),
                Some("br"),
                "{mpm} round {round}"
            );
            assert_eq!(unbrotli(&br.body), asset(), "{mpm} round {round}");
            assert_eq!(
                br.header("etag"),
                Some(format!("{}-br\"", etag.trim_end_matches('"')).as_str()),
                "{mpm}"
            );
            assert_eq!(
                br.header("content-length"),
                Some(br.body.len().to_string().as_str()),
                "{mpm}: a cached variant is sent with its length"
            );
        }
        // gzip only where Brotli is not configured.
        let html = request(
            addr,
            "GET",
            "/page.html",
            &[("Accept-Encoding", "br, gzip")],
        );
        assert_eq!(html.header("content-encoding"), Some("gzip"), "{mpm}");
        // curl decodes what it asked for.
        let url = format!("http://{addr}/asset.txt");
        let (code, body, err) = curl(&["--compressed", &url]);
        assert_eq!(code, 0, "{mpm}: curl --compressed failed: {err}");
        assert_eq!(body.as_bytes(), asset(), "{mpm}: curl decoded another body");
    });
}

#[test]
fn head_gets_the_headers_of_a_compressed_get_and_no_body() {
    each_strategy(|addr, mpm, _| {
        let head = request(addr, "HEAD", "/asset.txt", &[("Accept-Encoding", "gzip")]);
        assert_eq!(head.status, 200, "{mpm}");
        assert_eq!(head.header("content-encoding"), Some("gzip"), "{mpm}");
        assert!(
            head.header("etag").is_some_and(|e| e.ends_with("-gzip\"")),
            "{mpm}"
        );
        assert!(head.body.is_empty(), "{mpm}: HEAD sent a body");
    });
}

#[test]
fn a_range_request_gets_identity_bytes_never_a_slice_of_the_gzip_stream() {
    each_strategy(|addr, mpm, _| {
        let part = request(
            addr,
            "GET",
            "/asset.txt",
            &[("Accept-Encoding", "gzip, br"), ("Range", "bytes=10-19")],
        );
        assert_eq!(part.status, 206, "{mpm}");
        assert_eq!(
            part.header("content-encoding"),
            None,
            "{mpm}: a range was compressed"
        );
        assert_eq!(part.body, &asset()[10..20], "{mpm}");
    });
}

#[test]
fn if_none_match_with_the_suffixed_etag_is_answered_304_with_that_etag() {
    each_strategy(|addr, mpm, _| {
        let gz = request(addr, "GET", "/asset.txt", &[("Accept-Encoding", "gzip")]);
        let tag = gz.header("etag").expect("an ETag").to_string();
        let again = request(
            addr,
            "GET",
            "/asset.txt",
            &[("Accept-Encoding", "gzip"), ("If-None-Match", &tag)],
        );
        assert_eq!(
            again.status, 304,
            "{mpm}: answered {} to If-None-Match {tag}",
            again.status
        );
        assert_eq!(again.header("etag"), Some(tag.as_str()), "{mpm}");
        assert!(again.body.is_empty(), "{mpm}");
        assert!(
            vary(&again).contains("Accept-Encoding"),
            "{mpm}: 304 with Vary {:?}",
            vary(&again)
        );
        // The gzip tag does not validate the Brotli variant.
        let br = request(
            addr,
            "GET",
            "/asset.txt",
            &[("Accept-Encoding", "br"), ("If-None-Match", &tag)],
        );
        assert_eq!(br.status, 200, "{mpm}");
        assert_eq!(br.header("content-encoding"), Some("br"), "{mpm}");
    });
}

#[test]
fn header_always_reaches_a_404_plain_header_set_only_successes_and_expr_selects_requests() {
    each_strategy(|addr, mpm, _| {
        let missing = request(addr, "GET", "/missing.txt", &[]);
        assert_eq!(missing.status, 404, "{mpm}");
        assert_eq!(
            missing.header("x-frame-options"),
            Some("SAMEORIGIN"),
            "{mpm}: 404 lost the always header"
        );
        assert_eq!(
            missing.header("x-served-ok"),
            None,
            "{mpm}: an onsuccess header on a 404"
        );
        let ok = request(addr, "GET", "/page.html", &[]);
        assert_eq!(ok.header("x-frame-options"), Some("SAMEORIGIN"), "{mpm}");
        assert_eq!(ok.header("x-served-ok"), Some("yes"), "{mpm}");
        assert_eq!(
            ok.header("x-page"),
            Some("yes"),
            "{mpm}: expr= did not hold"
        );
        let other = request(addr, "GET", "/asset.txt", &[]);
        assert_eq!(
            other.header("x-page"),
            None,
            "{mpm}: expr= held for /asset.txt"
        );
        let vary = vary(&ok);
        assert!(vary.contains("Origin"), "{mpm}: Vary {vary:?}");
        assert!(vary.contains("Accept-Encoding"), "{mpm}: Vary {vary:?}");
    });
}

#[test]
fn expires_by_type_gives_expires_and_max_age_by_exact_type_and_wildcard() {
    each_strategy(|addr, mpm, _| {
        let png = request(addr, "GET", "/pic.png", &[]);
        assert_eq!(
            png.header("cache-control"),
            Some("max-age=2592000"),
            "{mpm}"
        );
        let expires = png.header("expires").expect("an Expires header");
        let when = httpdate_secs(expires);
        let date = httpdate_secs(png.header("date").expect("a Date header"));
        assert!(
            (2_592_000 - 5..=2_592_000 + 5).contains(&(when - date)),
            "{mpm}: Expires {expires} is not a month after the Date"
        );
        let text = request(addr, "GET", "/asset.txt", &[]);
        assert_eq!(text.header("cache-control"), Some("max-age=60"), "{mpm}");
        let missing = request(addr, "GET", "/missing.png", &[]);
        assert_eq!(missing.header("expires"), None, "{mpm}: Expires on a 404");
    });
}

#[test]
fn sections_and_htaccess_narrow_headers_expiry_and_compression_to_their_places() {
    each_strategy(|addr, mpm, m| {
        let gz = [("Accept-Encoding", "gzip")];
        let inside = request(addr, "GET", "/static/a.css", &gz);
        assert_eq!(inside.status, 200, "{mpm}: {}", m.stderr());
        assert_eq!(
            inside.header("content-encoding"),
            Some("gzip"),
            "{mpm}: <Location /static> did not compress"
        );
        let outside = request(addr, "GET", "/a.css", &gz);
        assert_eq!(
            outside.header("content-encoding"),
            None,
            "{mpm}: compressed outside <Location /static>"
        );
        for css in [&inside, &outside] {
            assert_eq!(
                css.header("cache-control"),
                Some("public, max-age=31536000, immutable"),
                "{mpm}: <FilesMatch> Header set"
            );
        }
        let quiet = request(addr, "GET", "/quiet/x.txt", &[]);
        assert_eq!(
            quiet.header("x-htaccess"),
            Some("yes"),
            "{mpm}: .htaccess Header"
        );
        assert_eq!(
            quiet.header("expires"),
            None,
            "{mpm}: .htaccess ExpiresActive Off"
        );
        let loud = request(addr, "GET", "/asset.txt", &[]);
        assert!(
            loud.header("expires").is_some(),
            "{mpm}: no Expires outside /quiet"
        );
        assert_eq!(loud.header("x-htaccess"), None, "{mpm}");
    });
}

#[test]
fn early_and_the_compression_levels_are_refused_inside_a_section() {
    let site = Site::new();
    for (line, says) in [
        (
            "Header set X 1 early",
            "'early' is allowed only at server level",
        ),
        (
            "DeflateCompressionLevel 5",
            "DeflateCompressionLevel is not allowed inside <Directory>",
        ),
    ] {
        let conf = site.config(&format!(
            "Listen 127.0.0.1:{}\n<Directory /tmp>\n{line}\n</Directory>\n",
            free_port()
        ));
        let (code, out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
        let text = format!("{out}{err}");
        assert_ne!(code, 0, "{line}: accepted in <Directory>");
        assert!(text.contains(says), "{line}: said {text}");
    }
}

#[test]
fn a_precompressed_sibling_labelled_by_header_is_sent_as_it_is_never_compressed_again() {
    // What Apache sites write (the rewrite to the sibling aside): the
    // sibling keeps the original's type and is labelled gzip.
    let site = Site::new();
    let css = "body { color: black }\n".repeat(50);
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::best());
        enc.write_all(css.as_bytes()).unwrap();
        enc.finish().unwrap();
    }
    site.write("htdocs/style.css.gz", &gz);
    let extra = "AddOutputFilterByType DEFLATE text/css\n\
                 AddOutputFilterByType BROTLI_COMPRESS text/css\n\
                 <FilesMatch \"\\.css\\.gz$\">\n\
                 AddType text/css .gz\n\
                 Header append Content-Encoding gzip\n\
                 Header append Vary Accept-Encoding\n\
                 </FilesMatch>\n";
    for mpm in STRATEGIES {
        let port = free_port();
        let m = start_mpm(&site, mpm, port, extra);
        let resp = request(
            addr(port),
            "GET",
            "/style.css.gz",
            &[("Accept-Encoding", "gzip, br")],
        );
        assert_eq!(resp.status, 200, "{mpm}: {}", m.stderr());
        assert_eq!(resp.header("content-type"), Some("text/css"), "{mpm}");
        assert_eq!(resp.header("content-encoding"), Some("gzip"), "{mpm}");
        assert_eq!(resp.body, gz, "{mpm}: the sibling was compressed again");
        assert_eq!(gunzip(&resp.body), css.as_bytes(), "{mpm}");
    }
}

#[test]
fn under_event_a_file_whose_variants_are_cached_is_answered_by_the_loop_itself() {
    let site = Site::new();
    site.write("htdocs/asset.txt", asset());
    let port = free_port();
    let extra = "AddOutputFilterByType DEFLATE text/plain\n\
                 <Location /server-status>\nSetHandler server-status\n</Location>\n";
    let conf = site.config(&format!(
        "{}Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n{extra}",
        mpm_directives("event-small"),
        site.docroot().display()
    ));
    let m = start(&site, &conf);
    let gz = [("Accept-Encoding", "gzip")];
    // The first is compressed by a worker thread (nothing is cached yet).
    let first = request(addr(port), "GET", "/asset.txt?first", &gz);
    assert_eq!(first.status, 200, "{}", m.stderr());
    let second = request(addr(port), "GET", "/asset.txt?second", &gz);
    assert_eq!(second.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&second.body), asset());
    let page = request(addr(port), "GET", "/server-status", &[]).text();
    let rows = |needle: &str| {
        page.lines()
            .filter(|l| l.starts_with("<tr><td><b>") && l.contains(needle))
            .count()
    };
    assert_eq!(
        rows("GET /asset.txt?first HTTP/1.1"),
        1,
        "no worker thread compressed the first request:\n{page}"
    );
    assert_eq!(
        rows("GET /asset.txt?second HTTP/1.1"),
        0,
        "a worker thread served the cached variant the loop answers itself:\n{page}"
    );
}

/// An HTTP-date in seconds since the epoch.
fn httpdate_secs(text: &str) -> i64 {
    let t = httpdate::parse_http_date(text).unwrap_or_else(|e| panic!("'{text}': {e}"));
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn filter_directives_with_bad_values_are_refused_with_file_and_line() {
    let site = Site::new();
    for (line, says) in [
        ("Header set X %q", "unrecognized header format %q"),
        (
            "ExpiresByType image/png \"access plus 1 fortnight\"",
            "unknown unit 'fortnight'",
        ),
        (
            "AddOutputFilterByType SUBSTITUTE text/html",
            "no output filter 'SUBSTITUTE'",
        ),
        ("DeflateCompressionLevel 12", "between 1 and 9"),
        (
            "DeflateFilterNote Size sizenote",
            "DeflateFilterNote: Unknown note type Size",
        ),
        (
            "Header set X 1 \"expr=%{NO_SUCH_VAR} == '1'\"",
            "expr=%{NO_SUCH_VAR} == '1': at character",
        ),
    ] {
        let conf = site.config(&format!("Listen 127.0.0.1:{}\n{line}\n", free_port()));
        let (code, out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
        let text = format!("{out}{err}");
        assert_ne!(code, 0, "{line}: accepted");
        assert!(text.contains(says), "{line}: said {text}");
        assert!(
            text.contains("mpmd.conf:5"),
            "{line}: no file:line in {text}"
        );
    }
}

#[test]
fn deflate_and_brotli_filter_notes_log_the_sizes_and_ratio_of_each_compressed_body() {
    let site = Site::new();
    site.write("htdocs/asset.txt", asset());
    let log = site.root().join("logs/deflate.log");
    let extra = format!(
        "{FILTERS}\
         DeflateFilterNote Input instream\n\
         DeflateFilterNote Output outstream\n\
         DeflateFilterNote ratio\n\
         BrotliFilterNote Input instream\n\
         BrotliFilterNote Output outstream\n\
         BrotliFilterNote Ratio ratio\n\
         LogFormat \"%{{Accept-Encoding}}i %{{outstream}}n/%{{instream}}n (%{{ratio}}n%%)\" deflate\n\
         CustomLog {} deflate\n",
        log.display()
    );
    let whole = asset().len() as u64;
    for mpm in STRATEGIES {
        let _ = std::fs::remove_file(&log);
        let port = free_port();
        let m = start_mpm(&site, mpm, port, &extra);
        let mut want = Vec::new();
        for (accept, framing) in [("gzip", 18), ("br", 0)] {
            let resp = request(
                addr(port),
                "GET",
                "/asset.txt",
                &[("Accept-Encoding", accept)],
            );
            assert_eq!(resp.header("content-encoding"), Some(accept), "{mpm}");
            let out = resp.body.len() as u64 - framing;
            want.push(format!("{accept} {out}/{whole} ({}%)", out * 100 / whole));
        }
        let plain = request(addr(port), "GET", "/asset.txt", &[]);
        assert_eq!(plain.header("content-encoding"), None, "{mpm}");
        want.push("- -/- (-%)".to_string());
        want.sort();
        // In any order: each request is logged by the thread that ends it.
        let logged = wait_for(5.0, || {
            std::fs::read_to_string(&log).is_ok_and(|t| {
                let mut lines: Vec<&str> = t.lines().collect();
                lines.sort();
                lines == want
            })
        });
        assert!(
            logged,
            "{mpm}: the log did not say {want:?}; it holds:\n{}\nstderr:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            m.stderr()
        );
    }
}

#[test]
fn header_note_copies_a_header_into_a_note_the_access_log_reads_after_the_header_is_unset() {
    let site = Site::new();
    site.write("htdocs/page.txt", "page\n");
    let log = site.root().join("logs/notes.log");
    let extra = format!(
        "Header always set X-Trace \"trace-%{{STAGE}}e\"\n\
         Header always note X-Trace tracenote\n\
         Header always unset X-Trace\n\
         Header always note X-Absent absentnote\n\
         SetEnv STAGE prod\n\
         LogFormat \"%U [%{{TRACENOTE}}n] [%{{absentnote}}n] [%{{never}}n]\" notes\n\
         CustomLog {} notes\n",
        log.display()
    );
    for mpm in STRATEGIES {
        let _ = std::fs::remove_file(&log);
        let port = free_port();
        let m = start_mpm(&site, mpm, port, &extra);
        let resp = request(addr(port), "GET", "/page.txt", &[]);
        assert_eq!(resp.status, 200, "{mpm}: {}", m.stderr());
        assert_eq!(
            resp.header("x-trace"),
            None,
            "{mpm}: Header unset after the note left the header"
        );
        let want = "/page.txt [trace-prod] [-] [-]";
        let logged = wait_for(5.0, || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.lines().any(|l| l == want))
        });
        assert!(
            logged,
            "{mpm}: the log did not show the notes as {want:?}; it holds:\n{}\nstderr:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            m.stderr()
        );
    }
}
