use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

/// `sh -c code` run as a CGI script.
fn shell(code: &str, dir: &Path) -> ScriptCommand {
    ScriptCommand {
        args: vec!["-c".into(), code.into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        dir: dir.to_path_buf(),
        ..ScriptCommand::new("/bin/sh")
    }
}

fn run_shell(code: &str, body: &[u8], timeout: Duration, nph: bool) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let command = shell(code, dir.path());
    let how = Run {
        command: &command,
        name: "/test/script.cgi",
        nph,
        timeout,
        limits: ResponseLimits::default(),
    };
    run(&how, &mut &body[..])
}

fn response(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Response(r) => r,
        Outcome::LocalRedirect(to) => panic!("a local redirect to {to}, not a response"),
    }
}

fn body_bytes(body: Body) -> Vec<u8> {
    let mut out = Vec::new();
    match body {
        Body::Empty => {}
        Body::Bytes(b) => out.extend_from_slice(&b),
        Body::Reader { mut reader, .. } => {
            let _ = reader.read_to_end(&mut out);
        }
        Body::File { mut file, len, .. } => {
            (&mut file).take(len).read_to_end(&mut out).unwrap();
        }
        other => panic!("an unexpected body {other:?}"),
    }
    out
}

#[test]
fn a_scripts_status_fields_and_body_make_the_response() {
    let r = response(run_shell(
        "read line; printf 'Status: 201 Made\\r\\nContent-Type: text/plain\\r\\nX-Got: %s\\r\\n\\r\\nbody' \"$line\"",
        b"posted\n",
        Duration::from_secs(10),
        false,
    ));
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["x-got"], "posted");
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert!(
        matches!(r.body(), Body::Bytes(_)),
        "a short body is answered from memory"
    );
    assert_eq!(body_bytes(r.into_body()), b"body");
}

#[test]
fn a_bad_head_is_a_502() {
    for code in [
        "echo garbage without a colon; echo",
        "printf 'Content-Type: text/plain\\n'",
        "printf 'Status: 99\\n\\n'",
        "i=0; while [ $i -lt 200 ]; do echo \"X-$i: y\"; i=$((i+1)); done; echo",
        "",
    ] {
        let r = response(run_shell(code, b"", Duration::from_secs(10), false));
        assert_eq!(
            r.status(),
            StatusCode::BAD_GATEWAY,
            "for the script `{code}`"
        );
    }
}

#[test]
fn a_script_silent_past_the_timeout_is_a_504_and_the_connection_closes() {
    let started = Instant::now();
    let r = response(run_shell(
        "sleep 30",
        b"",
        Duration::from_millis(300),
        false,
    ));
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(r.headers()["connection"], "close");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn location_alone_is_a_local_redirect_or_a_302() {
    match run_shell(
        "printf 'Location: /other?x=1\\n\\n'",
        b"",
        Duration::from_secs(10),
        false,
    ) {
        Outcome::LocalRedirect(to) => assert_eq!(to, "/other?x=1"),
        Outcome::Response(r) => panic!("a {} instead of a local redirect", r.status()),
    }
    let r = response(run_shell(
        "printf 'Location: http://example.com/\\nSet-Cookie: a=1\\n\\nignored'",
        b"",
        Duration::from_secs(10),
        false,
    ));
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()["location"], "http://example.com/");
    assert_eq!(r.headers()["set-cookie"], "a=1");
}

#[test]
fn a_large_output_from_a_script_that_ends_is_answered_from_a_temporary_file() {
    let r = response(run_shell(
        "printf 'Content-Type: text/plain\\n\\n'; head -c 1000000 /dev/zero",
        b"",
        Duration::from_secs(10),
        false,
    ));
    assert!(
        matches!(r.body(), Body::File { len: 1_000_000, .. }),
        "{:?}",
        r.body()
    );
    assert_eq!(body_bytes(r.into_body()).len(), 1_000_000);
}

#[test]
fn output_that_goes_on_is_streamed_with_what_was_spooled_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut script = shell("printf 'one '; sleep 1; printf two", dir.path())
        .spawn("slow", Duration::from_secs(10))
        .unwrap();
    script.send_body(&mut std::io::empty()).unwrap();
    let body = body::spool_with(
        script,
        "slow",
        b"zero ".to_vec(),
        None,
        Duration::from_millis(100),
        1 << 20,
    );
    assert!(matches!(body, Body::Reader { len: None, .. }), "{body:?}");
    assert_eq!(body_bytes(body), b"zero one two");
}

#[test]
fn a_declared_content_length_bounds_the_body() {
    let r = response(run_shell(
        "printf 'Content-Length: 3\\n\\nabcdef'",
        b"",
        Duration::from_secs(10),
        false,
    ));
    assert_eq!(body_bytes(r.into_body()), b"abc");
}

#[test]
fn an_nph_script_gives_its_own_status_line() {
    let r = response(run_shell(
        "printf 'HTTP/1.1 202 Taken\\r\\nX-Nph: yes\\r\\n\\r\\nraw'",
        b"",
        Duration::from_secs(10),
        true,
    ));
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["x-nph"], "yes");
    assert_eq!(body_bytes(r.into_body()), b"raw");
    let bad = response(run_shell(
        "printf 'Status: 200\\n\\n'",
        b"",
        Duration::from_secs(10),
        true,
    ));
    assert_eq!(bad.status(), StatusCode::BAD_GATEWAY);
}

#[test]
fn a_program_that_cannot_run_is_a_500() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-executable.cgi");
    std::fs::write(&path, "#!/bin/sh\necho\n").unwrap();
    let command = ScriptCommand::new(&path);
    let how = Run {
        command: &command,
        name: "not-executable.cgi",
        nph: false,
        timeout: Duration::from_secs(1),
        limits: ResponseLimits::default(),
    };
    let r = response(run(&how, &mut std::io::empty()));
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
