//! The hello example: a closure as the handler, on port 0.

mod support;

use support::{request, Example};

#[test]
fn hello_answers_every_path_with_a_greeting_from_its_closure() {
    let hello = Example::listening("hello", &["127.0.0.1:0"]);
    for path in ["/", "/some/where"] {
        let resp = request(hello.addr, "GET", path, "");
        assert_eq!(
            (resp.status, resp.text()),
            (200, format!("Hello, 127.0.0.1! You asked for {path}.\n")),
            "hello answered GET {path} so"
        );
    }
}

#[test]
fn hello_serves_in_its_own_process_by_default() {
    let hello = Example::listening("hello", &["127.0.0.1:0"]);
    let first = &hello.seen[0];
    assert!(
        first.ends_with("(event-threads)"),
        "hello's first line names another strategy than the in-process event loop: {first}"
    );
}
