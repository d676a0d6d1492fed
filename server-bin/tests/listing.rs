//! Under event, a directory listing (its cost grows with the directory)
//! is built on a worker thread, never on the event loop, while a file is
//! still answered by the loop itself. Seen on `/server-status`: a worker's
//! row keeps the last request it served; the loop's slot has a row only
//! while it answers (it shows the status page being served).
//!
//! Under every strategy, the client sorts a listing with mod_autoindex's
//! query string (`?C=S;O=D`), and `IndexOrderDefault`, `IgnoreClient`
//! and `VersionSort` are honoured.

mod common;

use common::*;

/// The rows of the status page's worker table that show `request`.
fn rows_showing<'p>(page: &'p str, request: &str) -> Vec<&'p str> {
    page.lines()
        .filter(|l| l.starts_with("<tr><td><b>") && l.contains(request))
        .collect()
}

#[test]
fn a_directory_listing_is_built_by_a_worker_thread_and_a_file_by_the_event_loop() {
    let site = Site::new();
    for i in 0..50 {
        site.write(&format!("htdocs/list/entry-{i:02}.txt"), "x");
    }
    site.write("htdocs/file.txt", "a file\n");
    let port = free_port();
    let docroot = site.docroot().display().to_string();
    let conf = site.config(&format!(
        "{}Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {docroot}\n\
         <Directory {docroot}/list>\nOptions Indexes\n</Directory>\n\
         <Location /server-status>\nSetHandler server-status\n</Location>\n",
        mpm_directives("event-small")
    ));
    let m = start(&site, &conf);
    let listing = get(addr(port), "localhost", "/list/");
    assert_eq!(listing.status, 200, "GET /list/; stderr:\n{}", m.stderr());
    assert!(
        listing.text().contains("entry-49.txt"),
        "{}",
        listing.text()
    );
    assert_eq!(get(addr(port), "localhost", "/file.txt").status, 200);
    let page = get(addr(port), "localhost", "/server-status").text();
    assert_eq!(
        rows_showing(&page, "GET /server-status HTTP/1.1").len(),
        1,
        "the loop's row, answering the status page itself, is not shown:\n{page}"
    );
    assert_eq!(
        rows_showing(&page, "GET /list/ HTTP/1.1").len(),
        1,
        "no worker thread's row shows the listing: the event loop built it:\n{page}"
    );
    assert_eq!(
        rows_showing(&page, "GET /file.txt HTTP/1.1"),
        Vec::<&str>::new(),
        "a worker thread served the file the loop answers itself:\n{page}"
    );
}

/// The names of a listing's entries, in the order shown.
fn names_in(page: &str) -> Vec<&str> {
    page.split("<a href=\"")
        .skip(1)
        .filter_map(|a| a.split_once('"').map(|(href, _)| href))
        .filter(|href| !href.starts_with('?') && !href.starts_with('/'))
        .collect()
}

#[test]
fn the_query_string_sorts_a_listing_and_the_column_heads_link_to_the_other_orders() {
    for mpm in ["event", "prefork", "worker"] {
        let site = Site::new();
        site.write("htdocs/list/a.txt", "x".repeat(300));
        site.write("htdocs/list/b2.txt", "x".repeat(10));
        site.write("htdocs/list/b10.txt", "x".repeat(2000));
        site.write("htdocs/list/sub/n.txt", "n");
        site.write("htdocs/bysize/small.txt", "x");
        site.write("htdocs/bysize/large.txt", "x".repeat(5000));
        site.write("htdocs/fixed/b.txt", "bb");
        site.write("htdocs/fixed/a.txt", "a");
        let d = site.docroot();
        let d = d.display();
        let port = free_port();
        let m = start_mpm(
            &site,
            mpm,
            port,
            &format!(
                "<Directory {d}>\nOptions Indexes\n</Directory>\n\
                 <Directory {d}/list>\nIndexOptions FancyIndexing FoldersFirst\n</Directory>\n\
                 <Directory {d}/bysize>\nIndexOptions FancyIndexing\nIndexOrderDefault Descending Size\n</Directory>\n\
                 <Directory {d}/fixed>\nIndexOptions FancyIndexing IgnoreClient\n</Directory>\n"
            ),
        );
        let page = |path: &str| {
            let resp = get(addr(port), "localhost", path);
            assert_eq!(
                resp.status,
                200,
                "{mpm}: GET {path}; stderr:\n{}",
                m.stderr()
            );
            resp.text()
        };
        for (query, order) in [
            ("", ["sub/", "a.txt", "b10.txt", "b2.txt"]),
            ("?C=N;O=D", ["sub/", "b2.txt", "b10.txt", "a.txt"]),
            ("?C=S;O=D", ["sub/", "b10.txt", "a.txt", "b2.txt"]),
            ("?C=S;O=A;V=1", ["sub/", "b2.txt", "a.txt", "b10.txt"]),
            ("?V=1", ["sub/", "a.txt", "b2.txt", "b10.txt"]),
        ] {
            let text = page(&format!("/list/{query}"));
            assert_eq!(
                names_in(&text),
                order,
                "{mpm}: /list/{query} listed\n{text}"
            );
        }
        // The current column's head reverses it; the others start
        // ascending; V= is carried along.
        let text = page("/list/?C=S;O=A;V=1");
        for link in ["?C=N;O=A;V=1", "?C=M;O=A;V=1", "?C=S;O=D;V=1"] {
            assert!(
                text.contains(&format!("<a href=\"{link}\">")),
                "{mpm}: no link {link} in\n{text}"
            );
        }
        // P= lists only what matches.
        assert_eq!(
            names_in(&page("/list/?P=b*")),
            ["b10.txt", "b2.txt"],
            "{mpm}: ?P=b*"
        );
        // IndexOrderDefault without a query.
        assert_eq!(
            names_in(&page("/bysize/")),
            ["large.txt", "small.txt"],
            "{mpm}"
        );
        // IgnoreClient: the query changes nothing and the heads are text.
        let text = page("/fixed/?C=N;O=D");
        assert_eq!(
            names_in(&text),
            ["a.txt", "b.txt"],
            "{mpm}: IgnoreClient sorted by the query"
        );
        assert!(
            !text.contains("?C="),
            "{mpm}: IgnoreClient left sort links:\n{text}"
        );
    }
}
