//! mod_cgi through the real `mpmd`, under event, prefork and worker:
//! `ScriptAlias`, `AddHandler cgi-script` with `Options ExecCGI`, the
//! environment and body a script gets, its error output in the error log,
//! `CGIScriptTimeout`, nph- scripts, bad scripts, and the processes: no
//! descriptor of the server reaches a script, it runs as the server's
//! user, and none is left a zombie.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;

const MPMS: [&str; 3] = ["event", "prefork", "worker"];

/// A script that answers `q` at once.
const QUICK: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nq'\n";
/// A script that answers `ran`.
const RAN: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nran'\n";

/// Write an executable script (0755) below the server root.
fn script(site: &Site, rel: &str, text: &str) -> PathBuf {
    let path = site.write(rel, text);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A site with `/cgi-bin/` → `<root>/cgi-bin/` and `extra` directives,
/// under `mpm`.
fn start_cgi(site: &Site, mpm: &str, extra: &str) -> (Mpmd, u16) {
    site.mkdir("cgi-bin");
    let port = free_port();
    let server = start_mpm(
        site,
        mpm,
        port,
        &format!(
            "ScriptAlias /cgi-bin/ {}/cgi-bin/\n{extra}",
            site.root().display()
        ),
    );
    (server, port)
}

const ENV_SCRIPT: &str = "#!/bin/sh
printf 'Content-Type: text/plain\\r\\nX-Script: env\\r\\n\\r\\n'
echo \"method=$REQUEST_METHOD\"
echo \"query=$QUERY_STRING\"
echo \"script_name=$SCRIPT_NAME\"
echo \"path_info=$PATH_INFO\"
echo \"filename=$SCRIPT_FILENAME\"
echo \"length=$CONTENT_LENGTH\"
echo \"x_test=$HTTP_X_TEST\"
echo \"proxy=${HTTP_PROXY:-none}\"
echo \"gateway=$GATEWAY_INTERFACE\"
echo \"pwd=$(pwd)\"
printf 'body='
cat
";

#[test]
fn a_script_alias_runs_the_script_with_its_environment_and_body_under_every_mpm() {
    for mpm in MPMS {
        let site = Site::new();
        let file = script(&site, "cgi-bin/env.cgi", ENV_SCRIPT);
        let (_server, port) = start_cgi(&site, mpm, "");
        let r = raw(
            addr(port),
            b"POST /cgi-bin/env.cgi/extra/path?a=1&b=2 HTTP/1.1\r\nHost: localhost\r\nX-Test: yes\r\nProxy: http://evil/\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        );
        let body = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, 200, "{mpm}: {body}");
        assert_eq!(r.header("X-Script"), Some("env"), "{mpm}");
        for want in [
            "method=POST".to_string(),
            "query=a=1&b=2".into(),
            "script_name=/cgi-bin/env.cgi".into(),
            "path_info=/extra/path".into(),
            format!("filename={}", file.display()),
            "length=5".into(),
            "x_test=yes".into(),
            "proxy=none".into(),
            "gateway=CGI/1.1".into(),
            format!("pwd={}", file.parent().unwrap().display()),
            "body=hello".into(),
        ] {
            assert!(
                body.contains(&want),
                "{mpm}: {want:?} missing from the script's answer:\n{body}"
            );
        }
    }
}

#[test]
fn add_handler_runs_scripts_where_exec_cgi_is_on_and_refuses_them_with_403_where_it_is_off() {
    for mpm in MPMS {
        let site = Site::new();
        script(&site, "htdocs/on/run.cgi", RAN);
        script(&site, "htdocs/off/run.cgi", RAN);
        let port = free_port();
        let mut server = start_mpm(
            &site,
            mpm,
            port,
            &format!(
                "AddHandler cgi-script .cgi .pl\n<Directory {}/on>\nOptions +ExecCGI\n</Directory>\n",
                site.docroot().display()
            ),
        );
        let on = get(addr(port), "localhost", "/on/run.cgi");
        assert_eq!(
            (on.status, &on.body[..]),
            (200, &b"ran"[..]),
            "{mpm}: with ExecCGI"
        );
        let off = get(addr(port), "localhost", "/off/run.cgi");
        assert_eq!(off.status, 403, "{mpm}: without ExecCGI the script ran");
        server.wait_log("Options ExecCGI is off in this directory", 1);
    }
}

#[test]
fn a_missing_script_is_404_and_one_that_cannot_run_is_500_with_a_log_line() {
    let site = Site::new();
    let not_executable = site.write("cgi-bin/plain.cgi", "#!/bin/sh\necho\n");
    let (mut server, port) = start_cgi(&site, "event", "");
    assert_eq!(
        get(addr(port), "localhost", "/cgi-bin/missing.cgi").status,
        404
    );
    assert_eq!(
        get(addr(port), "localhost", "/cgi-bin/plain.cgi").status,
        500
    );
    server.wait_log(&format!("{}", not_executable.display()), 1);
    assert!(
        server.stderr().contains("couldn't create child process"),
        "the error log says why the script could not run:\n{}",
        server.stderr()
    );
}

#[test]
fn what_a_script_writes_on_stderr_goes_to_the_error_log_with_its_name() {
    let site = Site::new();
    let file = script(
        &site,
        "cgi-bin/noisy.cgi",
        "#!/bin/sh\necho 'something odd happened' >&2\nprintf 'Content-Type: text/plain\\n\\nok'\n",
    );
    let (mut server, port) = start_cgi(&site, "prefork", "");
    assert_eq!(
        get(addr(port), "localhost", "/cgi-bin/noisy.cgi").status,
        200
    );
    server.wait_log(&format!("something odd happened: {}", file.display()), 1);
}

#[test]
fn a_silent_script_is_cut_off_after_cgi_script_timeout_with_504_under_every_mpm() {
    for mpm in MPMS {
        let site = Site::new();
        script(&site, "cgi-bin/silent.cgi", "#!/bin/sh\nexec sleep 60\n");
        script(
            &site,
            "cgi-bin/hold.cgi",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nstarted'\nexec sleep 60\n",
        );
        let (mut server, port) = start_cgi(&site, mpm, "CGIScriptTimeout 1");
        let started = Instant::now();
        let r = get(addr(port), "localhost", "/cgi-bin/silent.cgi");
        assert_eq!(r.status, 504, "{mpm}: a script silent past the timeout");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{mpm}: took {:?}",
            started.elapsed()
        );
        server.wait_log("Timeout waiting for output from CGI script", 1);
        // One that never closes its output: its answer is cut short.
        let started = Instant::now();
        let mut conn = connect(addr(port));
        conn.write_all(b"GET /cgi-bin/hold.cgi HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let _ = conn.read_to_end(&mut got);
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{mpm}: held {:?}",
            started.elapsed()
        );
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200"), "{mpm}: {text}");
        assert!(
            !text.ends_with("0\r\n\r\n"),
            "{mpm}: a cut answer must not end as complete: {text}"
        );
        // And the server goes on serving.
        script(&site, "cgi-bin/quick.cgi", QUICK);
        assert_eq!(
            get(addr(port), "localhost", "/cgi-bin/quick.cgi").status,
            200,
            "{mpm}"
        );
    }
}

#[test]
fn an_nph_script_sets_its_own_status_line() {
    let site = Site::new();
    script(
        &site,
        "cgi-bin/nph-raw.cgi",
        "#!/bin/sh\nprintf 'HTTP/1.1 299 Custom\\r\\nX-Nph: 1\\r\\n\\r\\nraw body'\n",
    );
    let (_server, port) = start_cgi(&site, "worker", "");
    let r = get(addr(port), "localhost", "/cgi-bin/nph-raw.cgi");
    assert_eq!((r.status, r.header("X-Nph")), (299, Some("1")));
    assert_eq!(r.body, b"raw body");
}

#[test]
fn bad_script_output_is_a_502_and_the_server_goes_on() {
    let site = Site::new();
    for (name, code) in [
        ("garbage", "echo 'this is no header'; echo"),
        ("no-end", "printf 'Content-Type: text/plain\\n'"),
        ("status-99", "printf 'Status: 99\\n\\n'"),
        (
            "location-cr",
            "printf 'Location: /a\\rSet-Cookie: x=1\\n\\n'",
        ),
        (
            "many-headers",
            "i=0; while [ $i -lt 100000 ]; do echo \"X-$i: y\"; i=$((i+1)); done; echo",
        ),
    ] {
        script(
            &site,
            &format!("cgi-bin/{name}.cgi"),
            &format!("#!/bin/sh\n{code}\n"),
        );
    }
    let (mut server, port) = start_cgi(&site, "event", "");
    for name in [
        "garbage",
        "no-end",
        "status-99",
        "location-cr",
        "many-headers",
    ] {
        let r = get(addr(port), "localhost", &format!("/cgi-bin/{name}.cgi"));
        assert_eq!(
            r.status, 502,
            "{name}: the server answered {} instead",
            r.status
        );
    }
    server.wait_log("bad response from script", 5);
}

#[test]
fn only_its_three_pipes_reach_a_script_and_it_runs_as_the_servers_user() {
    let site = Site::new();
    script(
        &site,
        "cgi-bin/fds.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\necho uid=$(id -u)\nexec ls /proc/self/fd\n",
    );
    for mpm in MPMS {
        let (server, port) = start_cgi(&site, mpm, "");
        let r = get(addr(port), "localhost", "/cgi-bin/fds.cgi");
        let body = String::from_utf8_lossy(&r.body).into_owned();
        let mut lines = body.lines();
        let uid = lines.next().unwrap_or_default().to_string();
        let fds: Vec<&str> = lines.flat_map(|l| l.split_whitespace()).collect();
        assert_eq!(
            fds,
            ["0", "1", "2", "3"],
            "{mpm}: the script held more descriptors:\n{body}"
        );
        let child = children(server.pid())[0];
        let (server_uid, _) = ids_of(child).unwrap();
        assert_eq!(
            uid,
            format!("uid={server_uid}"),
            "{mpm}: the script ran as another user"
        );
    }
}

/// Zombies among the children of `parents`.
fn zombies_of(parents: &[i32]) -> Vec<i32> {
    parents
        .iter()
        .flat_map(|&p| children(p))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
        })
        .collect()
}

#[test]
fn scripts_are_reaped_so_no_zombie_is_left_after_many_requests() {
    for mpm in MPMS {
        let site = Site::new();
        script(&site, "cgi-bin/quick.cgi", QUICK);
        let (server, port) = start_cgi(&site, mpm, "");
        for _ in 0..300 {
            let r = get(addr(port), "localhost", "/cgi-bin/quick.cgi");
            assert_eq!(r.status, 200, "{mpm}");
        }
        let serving = children(server.pid());
        assert!(
            wait_for(10.0, || zombies_of(&serving).is_empty()),
            "{mpm}: zombies left: {:?}",
            zombies_of(&serving)
        );
    }
}

#[test]
fn under_event_a_finished_scripts_output_waits_for_a_slow_client_without_the_script() {
    let site = Site::new();
    // 20 MB, then exit: far more than the socket buffers take at once.
    script(
        &site,
        "cgi-bin/big.cgi",
        "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nhead -c 20000000 /dev/zero\n",
    );
    let (server, port) = start_cgi(&site, "event-small", "");
    let mut slow = connect(addr(port));
    slow.write_all(b"GET /cgi-bin/big.cgi HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 100];
    slow.read_exact(&mut first).unwrap();
    // The script is gone though the client has read almost nothing.
    let serving = children(server.pid());
    let scripts = || serving.iter().flat_map(|&p| children(p)).count();
    assert!(
        wait_for(10.0, || scripts() == 0),
        "the script is still running for a slow client"
    );
    // Both of the child's threads are free: two more requests are answered
    // while the slow client still reads.
    script(&site, "cgi-bin/quick.cgi", QUICK);
    for _ in 0..2 {
        let r = get(addr(port), "localhost", "/cgi-bin/quick.cgi");
        assert_eq!(r.status, 200, "a request waited behind the slow client");
    }
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).ok();
    drop(slow);
}

/// The first line of a PHP page run as a CGI script by `php-cgi` itself
/// (Debian's `php-cgi`): without mod_actions' `Action` to set
/// `REDIRECT_STATUS`, php-cgi must be told that running directly is
/// meant (`cgi.force_redirect=0`), as such Apache setups do.
const PHP_SHEBANG: &str = "#!/usr/bin/php-cgi -dcgi.force_redirect=0\n";

#[test]
fn php_pages_run_as_cgi_scripts_through_php_cgi_under_every_mpm() {
    assert!(
        std::path::Path::new("/usr/bin/php-cgi").exists(),
        "php-cgi is not installed: apt-get install php-cgi (.ci/run installs it when missing)"
    );
    let pages = [
        ("server.php", "<?php foreach ($_SERVER as $k => $v) { if (is_string($v)) echo \"$k=$v\\n\"; }"),
        (
            "post.php",
            "<?php foreach ($_POST as $k => $v) echo \"$k=$v\\n\"; \
             foreach ($_FILES as $k => $f) echo \"file:$k {$f['size']} \" . hash_file('crc32b', $f['tmp_name']) . \"\\n\";",
        ),
        ("redirect.php", "<?php header('Location: http://example.test/elsewhere');"),
        ("teapot.php", "<?php http_response_code(418); echo 'short and stout';"),
        ("cookie.php", "<?php setcookie('a', '1'); setcookie('b', '2'); echo 'set';"),
        ("stderr.php", "<?php file_put_contents('php://stderr', \"stderr line from stderr.php\\n\"); echo 'ok';"),
        ("fatal.php", "<?php no_such_function();"),
        (
            "session.php",
            "<?php session_save_path(dirname(__DIR__, 2) . '/sessions'); session_start(); \
             $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1; echo $_SESSION['n'];",
        ),
        ("big.php", "<?php $mb = str_repeat('x', 1 << 20); for ($i = 0; $i < 50; $i++) echo $mb;"),
    ];
    let upload: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut multipart = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XyZ\r\nContent-Disposition: form-data; name=\"up\"; filename=\"up.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    multipart.extend_from_slice(&upload);
    multipart.extend_from_slice(b"\r\n--XyZ--\r\n");
    let crc = crc32(&upload);
    for mpm in MPMS {
        let site = Site::new();
        for (name, code) in pages {
            script(
                &site,
                &format!("htdocs/php/{name}"),
                &format!("{PHP_SHEBANG}{code}\n"),
            );
        }
        // Uploads of 20 MiB: php-cgi reads `.user.ini` beside the page.
        site.write(
            "htdocs/php/.user.ini",
            "upload_max_filesize=32M\npost_max_size=32M\n",
        );
        // Sessions in the site, writable by the server's user.
        let sessions = site.mkdir("sessions");
        std::fs::set_permissions(&sessions, std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = free_port();
        let mut server = start_mpm(
            &site,
            mpm,
            port,
            &format!(
                "AddHandler cgi-script .php\n<Directory {}/php>\nOptions +ExecCGI\n</Directory>\n",
                site.docroot().display()
            ),
        );
        let at = addr(port);
        let r = get(at, "localhost", "/php/server.php?x=1");
        let body = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, 200, "{mpm}: {body}");
        for want in [
            "REQUEST_METHOD=GET",
            "QUERY_STRING=x=1",
            "SCRIPT_NAME=/php/server.php",
            "GATEWAY_INTERFACE=CGI/1.1",
        ] {
            assert!(
                body.contains(want),
                "{mpm}: {want} missing from $_SERVER:\n{body}"
            );
        }
        let r = raw(
            at,
            b"POST /php/post.php HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 13\r\nConnection: close\r\n\r\nname=mpm&n=42",
        );
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            "name=mpm\nn=42\n",
            "{mpm}: $_POST"
        );
        let mut request = format!(
            "POST /php/post.php HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            multipart.len()
        )
        .into_bytes();
        request.extend_from_slice(&multipart);
        let r = raw(at, &request);
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            format!("note=hi\nfile:up {} {crc:08x}\n", upload.len()),
            "{mpm}: a 20 MiB multipart upload"
        );
        let r = get(at, "localhost", "/php/redirect.php");
        assert_eq!(
            (r.status, r.header("Location")),
            (302, Some("http://example.test/elsewhere")),
            "{mpm}"
        );
        let r = get(at, "localhost", "/php/teapot.php");
        assert_eq!(
            (r.status, &r.body[..]),
            (418, &b"short and stout"[..]),
            "{mpm}"
        );
        let r = get(at, "localhost", "/php/cookie.php");
        let cookies: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, ["a=1", "b=2"], "{mpm}: setcookie");
        assert_eq!(get(at, "localhost", "/php/stderr.php").body, b"ok", "{mpm}");
        server.wait_log("stderr line from stderr.php", 1);
        let r = get(at, "localhost", "/php/fatal.php");
        assert_eq!(r.status, 500, "{mpm}: a fatal error");
        server.wait_log("Call to undefined function no_such_function()", 1);
        // A session across requests: the counter goes up for one cookie.
        let first = get(at, "localhost", "/php/session.php");
        assert_eq!(first.body, b"1", "{mpm}: a new session");
        let cookie = first
            .header("Set-Cookie")
            .and_then(|c| c.split(';').next())
            .unwrap_or_else(|| panic!("{mpm}: no session cookie"))
            .to_string();
        for n in ["2", "3"] {
            let r = raw(
                at,
                format!("GET /php/session.php HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            assert_eq!(
                String::from_utf8_lossy(&r.body),
                n,
                "{mpm}: the session's counter"
            );
        }
        let r = get(at, "localhost", "/php/big.php");
        assert_eq!(
            (r.status, r.body.len()),
            (200, 50 << 20),
            "{mpm}: the 50 MiB page"
        );
    }
}

#[test]
fn a_body_over_limit_request_body_is_refused_with_413() {
    let site = Site::new();
    script(&site, "cgi-bin/env.cgi", ENV_SCRIPT);
    let (_server, port) = start_cgi(&site, "event", "LimitRequestBody 10");
    let mut request =
        b"POST /cgi-bin/env.cgi HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
            .to_vec();
    request.extend_from_slice(&[b'x'; 100]);
    assert_eq!(raw(addr(port), &request).status, 413);
}

#[test]
fn a_local_location_serves_that_path_in_place_of_the_script() {
    let site = Site::new();
    site.write("htdocs/target.txt", "the target");
    script(
        &site,
        "cgi-bin/local.cgi",
        "#!/bin/sh\nprintf 'Location: /target.txt\\n\\n'\n",
    );
    let (_server, port) = start_cgi(&site, "prefork", "");
    let r = get(addr(port), "localhost", "/cgi-bin/local.cgi");
    assert_eq!((r.status, &r.body[..]), (200, &b"the target"[..]));
}

/// CRC-32 (IEEE), as PHP's `hash('crc32b')` gives it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `CGIPassAuth On` in a `.htaccess` file (`AllowOverride AuthConfig`,
/// as Apache allows it) gives a php-cgi script the client's
/// `Authorization`; in a directory without it a password never reaches
/// the script.
#[test]
fn cgi_pass_auth_in_htaccess_gives_a_php_script_the_authorization_only_there() {
    let page = "<?php echo 'auth=' . ($_SERVER['HTTP_AUTHORIZATION'] ?? 'none') . \"\\n\";";
    for mpm in MPMS {
        let site = Site::new();
        for dir in ["on", "off"] {
            script(
                &site,
                &format!("htdocs/php/{dir}/auth.php"),
                &format!("{PHP_SHEBANG}{page}\n"),
            );
        }
        site.write("htdocs/php/on/.htaccess", "CGIPassAuth On\n");
        let port = free_port();
        let _server = start_mpm(
            &site,
            mpm,
            port,
            &format!(
                "AddHandler cgi-script .php\n<Directory {}/php>\nOptions +ExecCGI\nAllowOverride AuthConfig\n</Directory>\n",
                site.docroot().display()
            ),
        );
        for (dir, want) in [("on", "auth=Basic dXNlcjpwdw==\n"), ("off", "auth=none\n")] {
            let r = raw(
                addr(port),
                format!(
                    "GET /php/{dir}/auth.php HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic dXNlcjpwdw==\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            assert_eq!(
                (r.status, String::from_utf8_lossy(&r.body).as_ref()),
                (200, want),
                "{mpm}: /php/{dir}/auth.php"
            );
        }
    }
}
