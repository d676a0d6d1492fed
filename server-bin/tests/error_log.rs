//! The error log through the real `mpmd`: bytes a client chose reach it
//! only escaped, as in Apache (`\x1b`, never a raw escape sequence for
//! the terminal of whoever reads the log).

mod common;

use std::os::unix::net::UnixListener;

use common::*;

#[test]
fn a_requested_path_with_an_escape_sequence_reaches_the_error_log_escaped_under_every_mpm() {
    for mpm in ["event", "prefork", "worker"] {
        let site = Site::new();
        // A socket in the document root: opening it fails (ENXIO), which
        // the static files answer with 500 and log with the path the
        // request named. The name holds ESC [ 3 1 m: "turn red".
        let _socket = UnixListener::bind(site.docroot().join("a\x1b[31mred")).unwrap();
        let port = free_port();
        // No ErrorLog: the error log is stderr.
        let conf = site.config(&format!(
            "LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so\nListen 127.0.0.1:{port}\n\
             ServerName localhost\nStartServers 1\nDocumentRoot {}\n",
            site.docroot().display()
        ));
        let m = start(&site, &conf);
        let resp = get(addr(port), "localhost", "/a%1B%5B31mred");
        assert_eq!(resp.status, 500, "{mpm}: {}", m.stderr());
        assert!(
            wait_for(10.0, || m.stderr().contains("[31mred")),
            "{mpm}: the failed open was not logged:\n{}",
            m.stderr()
        );
        let log = m.stderr();
        let line = log.lines().find(|l| l.contains("[31mred")).unwrap();
        assert!(
            !line.contains('\x1b'),
            "{mpm}: the error log holds the raw ESC byte: {line:?}"
        );
        assert!(
            line.contains(&format!("{}/a\\x1b[31mred: ", site.docroot().display())),
            "{mpm}: the error log line does not hold the path escaped: {line:?}"
        );
    }
}
