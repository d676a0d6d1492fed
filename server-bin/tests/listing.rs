//! Under event, a directory listing (its cost grows with the directory)
//! is built on a worker thread, never on the event loop, while a file is
//! still answered by the loop itself. Seen on `/server-status`: a worker's
//! row keeps the last request it served; the loop's slot has a row only
//! while it answers (it shows the status page being served).

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
