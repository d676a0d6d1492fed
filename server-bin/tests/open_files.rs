//! Small static files kept in memory between requests (mpm-site's
//! `open_files`, as nginx's `open_file_cache`), through the real `mpmd`
//! under event, prefork and worker: a kept file that changes on disk, or
//! goes, is answered as it now is within about a second (the entry is
//! looked at again at most once a second), ranges of a kept file are
//! its bytes, and a kept file or an `MMapFile` (answered the same way, from
//! a head made once per file) is typed and tagged as its sections say on
//! every request.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::*;

/// Asks for `path` until the answer is `want` (status and body), for at
/// most 10 s; the last answer when it never was.
fn answers_within(port: u16, path: &str, want: (u16, &str)) -> Result<(), (u16, String)> {
    let mut last = (0, String::new());
    let seen = wait_for(10.0, || {
        let r = get(addr(port), "localhost", path);
        last = (r.status, r.text());
        last.0 == want.0 && (want.0 != 200 || last.1 == want.1)
    });
    if seen {
        Ok(())
    } else {
        Err(last)
    }
}

#[test]
fn a_small_file_changed_or_removed_on_disk_is_answered_as_it_now_is_under_every_mpm() {
    for mpm in ["event", "prefork", "worker"] {
        let site = Site::new();
        site.write("htdocs/a.txt", "first");
        let port = free_port();
        let m = start_mpm(&site, mpm, port, "");
        for _ in 0..3 {
            let r = get(addr(port), "localhost", "/a.txt");
            assert_eq!(
                (r.status, r.text().as_str()),
                (200, "first"),
                "{mpm}: {}",
                m.stderr()
            );
        }
        // The same size, so only the times tell; then longer.
        for content in ["secon", "third, longer"] {
            std::thread::sleep(Duration::from_millis(20));
            site.write("htdocs/a.txt", content);
            if let Err((status, body)) = answers_within(port, "/a.txt", (200, content)) {
                panic!("{mpm}: after a.txt became {content:?} the server still answered {status} {body:?}");
            }
        }
        std::fs::remove_file(site.path("htdocs/a.txt")).unwrap();
        if let Err((status, body)) = answers_within(port, "/a.txt", (404, "")) {
            panic!("{mpm}: after a.txt was removed the server still answered {status} {body:?}");
        }
    }
}

#[test]
fn a_range_of_a_kept_file_is_its_bytes_under_every_mpm() {
    for mpm in ["event", "prefork", "worker"] {
        let site = Site::new();
        site.write("htdocs/digits.txt", "0123456789");
        let port = free_port();
        let _m = start_mpm(&site, mpm, port, "");
        let ask = b"GET /digits.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=2-5\r\nConnection: close\r\n\r\n";
        for round in 0..3 {
            let r = raw(addr(port), ask);
            assert_eq!(
                (r.status, r.text().as_str()),
                (206, "2345"),
                "{mpm}, request {round}: bytes 2-5 of 0123456789 answered otherwise"
            );
        }
    }
}

#[test]
fn a_kept_or_mapped_file_is_typed_and_tagged_as_its_sections_say_on_every_request_under_every_mpm()
{
    for mpm in ["event", "prefork", "worker"] {
        let site = Site::new();
        site.write("htdocs/a.txt", "kept");
        site.write("htdocs/m.txt", "mapped");
        site.write("htdocs/forced.txt", "forced");
        site.write("htdocs/tagged/b.txt", "tagged");
        site.write("htdocs/tagged/m.txt", "tagged and mapped");
        site.write("htdocs/typed/c.txt", "typed");
        let docroot = site.docroot();
        let docroot = docroot.display();
        let port = free_port();
        let m = start_mpm(
            &site,
            mpm,
            port,
            &format!(
                "MMapFile {docroot}/m.txt {docroot}/tagged/m.txt\n\
                 <Files forced.txt>\nForceType application/x-forced\n</Files>\n\
                 <Directory {docroot}/tagged>\nFileETag INode Size\n</Directory>\n\
                 <Directory {docroot}/typed>\nAddType text/x-typed .txt\n</Directory>\n"
            ),
        );
        // Apache's default `FileETag MTime Size`, and `INode Size`.
        let etag = |rel: &str, inode: bool| {
            let meta = std::fs::metadata(site.path(rel)).unwrap();
            let micros = meta.mtime() as u64 * 1_000_000 + meta.mtime_nsec() as u64 / 1_000;
            if inode {
                format!("\"{:x}-{:x}\"", meta.ino(), meta.len())
            } else {
                format!("\"{:x}-{micros:x}\"", meta.len())
            }
        };
        let cases = [
            ("/a.txt", "kept", "text/plain", etag("htdocs/a.txt", false)),
            (
                "/m.txt",
                "mapped",
                "text/plain",
                etag("htdocs/m.txt", false),
            ),
            (
                "/forced.txt",
                "forced",
                "application/x-forced",
                etag("htdocs/forced.txt", false),
            ),
            (
                "/tagged/b.txt",
                "tagged",
                "text/plain",
                etag("htdocs/tagged/b.txt", true),
            ),
            (
                "/tagged/m.txt",
                "tagged and mapped",
                "text/plain",
                etag("htdocs/tagged/m.txt", true),
            ),
            (
                "/typed/c.txt",
                "typed",
                "text/x-typed",
                etag("htdocs/typed/c.txt", false),
            ),
        ];
        for round in 0..3 {
            for (path, body, content_type, etag) in &cases {
                let r = get(addr(port), "localhost", path);
                let got = (
                    r.status,
                    r.text(),
                    r.header("content-type"),
                    r.header("etag"),
                    r.header("accept-ranges"),
                    r.header("last-modified").is_some(),
                );
                let want = (
                    200,
                    body.to_string(),
                    Some(*content_type),
                    Some(etag.as_str()),
                    Some("bytes"),
                    true,
                );
                assert_eq!(
                    got,
                    want,
                    "{mpm}, request {round} for {path}: answered otherwise (headers {:?}); stderr:\n{}",
                    r.headers,
                    m.stderr()
                );
            }
        }
    }
}

#[test]
fn under_debians_default_sections_kept_and_mapped_files_are_answered_as_their_sections_say_under_every_mpm(
) {
    for mpm in ["event", "prefork", "worker"] {
        let site = Site::new();
        site.write("htdocs/a.txt", "kept");
        site.write("htdocs/m.txt", "mapped");
        site.write("htdocs/.htaccess", "Require all denied");
        site.write("htdocs/headed/h.txt", "headed");
        site.write("outside/secret.txt", "secret");
        let docroot = site.docroot();
        let docroot = docroot.display();
        let outside = site.path("outside/secret.txt");
        let outside = outside.display();
        let port = free_port();
        // Debian's apache2.conf sections, the document root its /var/www/.
        let m = start_mpm(
            &site,
            mpm,
            port,
            &format!(
                "MMapFile {docroot}/m.txt\n\
                 Alias /secret.txt {outside}\n\
                 <Directory />\nOptions FollowSymLinks\nAllowOverride None\nRequire all denied\n</Directory>\n\
                 <Directory /usr/share>\nAllowOverride None\nRequire all granted\n</Directory>\n\
                 <Directory {docroot}/>\nOptions Indexes FollowSymLinks\nAllowOverride None\nRequire all granted\n</Directory>\n\
                 <FilesMatch \"^\\.ht\">\nRequire all denied\n</FilesMatch>\n\
                 <Directory {docroot}/headed>\nHeader set X-Headed yes\n</Directory>\n"
            ),
        );
        // status, body, the X-Headed field
        let cases = [
            ("/a.txt", 200, "kept", None),
            ("/m.txt", 200, "mapped", None),
            ("/headed/h.txt", 200, "headed", Some("yes")),
            ("/.htaccess", 403, "", None),
            ("/secret.txt", 403, "", None),
        ];
        // The first request reads a file (and keeps it), the next ones
        // find it in memory.
        for round in 0..3 {
            for (path, status, body, headed) in cases {
                let r = get(addr(port), "localhost", path);
                let text = r.text();
                let got = (
                    r.status,
                    if status == 200 { text.as_str() } else { "" },
                    r.header("x-headed"),
                    r.header("content-type").filter(|_| status == 200),
                    r.header("etag").is_some() == (status == 200),
                );
                let want = (
                    status,
                    body,
                    headed,
                    Some("text/plain").filter(|_| status == 200),
                    true,
                );
                assert_eq!(
                    got,
                    want,
                    "{mpm}, request {round} for {path}: answered otherwise (headers {:?}); stderr:\n{}",
                    r.headers,
                    m.stderr()
                );
            }
        }
    }
}
