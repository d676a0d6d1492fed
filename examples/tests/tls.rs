//! The `tls` example: HTTPS from a certificate and a key in PEM files, in
//! one line of `Server`, answering over TLS; and an unusable file named in
//! the one line `main` prints.

#[path = "../../crates/mpm/tests/support/pki.rs"]
mod pki;
mod support;

use std::net::SocketAddr;

use support::Example;

#[test]
fn the_tls_example_answers_over_tls_with_the_certificate_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::Pki::new(dir.path());
    let host = pki.host("localhost", &["localhost"]);
    let mut example = Example::start(
        "tls",
        &[
            host.cert.to_str().unwrap(),
            host.key.to_str().unwrap(),
            "127.0.0.1:0",
        ],
    );
    // Bound before it prints: the address it names accepts at once.
    let first = example.wait_line("a `listening on https://ADDR/` line", |l| {
        l.starts_with("listening on https://")
    });
    let addr: SocketAddr = first["listening on https://".len()..]
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("the example printed {first:?} instead of its address"));
    let client = pki.client_config(&[b"http/1.1"]);
    let answer = pki::tls_request(
        &client,
        addr,
        "localhost",
        b"GET /hi HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(
        answer.starts_with("HTTP/1.1 200 OK\r\n"),
        "the example answered {answer:?}"
    );
    assert!(
        answer.ends_with("Hello over TLSv1.3 (SNI localhost), you asked for /hi.\n"),
        "the example answered {answer:?}"
    );
}

#[test]
fn the_tls_example_names_a_missing_key_file_in_the_one_line_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::Pki::new(dir.path());
    let host = pki.host("localhost", &["localhost"]);
    let missing = dir.path().join("nosuch.key");
    let mut example = Example::start(
        "tls",
        &[
            host.cert.to_str().unwrap(),
            missing.to_str().unwrap(),
            "127.0.0.1:0",
        ],
    );
    let (status, stderr) = example.wait_exit(30);
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(
        stderr,
        format!(
            "Error: {}: cannot read: no such file or directory\n",
            missing.display()
        ),
        "main's error is not the one line naming the key file"
    );
}
