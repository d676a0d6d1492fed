//! A php-fpm of the test's own: its configuration, socket, pid file, log
//! and session directory in a temporary directory, started in the
//! foreground (`-F`) in its own process group and killed with that group
//! on drop, even when the test fails. Never the system's service.
//!
//! ```ignore
//! let fpm = PhpFpm::start(PhpListen::Unix);
//! // ProxyPass /app/ "unix:{socket}|fcgi://localhost/…/app/"
//! let url = fpm.url("/srv/app/");
//! ```
//!
//! The PHP pages the suites run are in `server-bin/tests/php/`
//! ([`php_dir`]); the FastCGI, fcgid and CGI suites serve the same files.
#![allow(dead_code)]

use std::fs;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::HashMap;

use nix::sys::signal::{kill, Signal};

use super::{children, curl, Mpmd, Site};
use nix::unistd::Pid;

/// The directory of the PHP pages the suites serve.
pub fn php_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/php")
}

/// The php-fpm binary (Debian's `php-fpm` package installs
/// `/usr/sbin/php-fpm8.x`); a test without it fails, naming the package.
pub fn php_fpm_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = ["/usr/sbin", "/usr/local/sbin", "/usr/bin"]
        .iter()
        .filter_map(|dir| fs::read_dir(dir).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == "php-fpm" || n.starts_with("php-fpm8"))
        })
        .collect();
    found.sort();
    found.pop().expect(
        "php-fpm is not installed: apt-get install php-fpm (.ci/run installs it when missing)",
    )
}

/// The php-cgi binary (Debian's `php-cgi` package), for the CGI and
/// fcgid suites.
pub fn php_cgi_bin() -> PathBuf {
    let p = PathBuf::from("/usr/bin/php-cgi");
    assert!(
        p.exists(),
        "php-cgi is not installed: apt-get install php-cgi (.ci/run installs it when missing)"
    );
    p
}

/// Where a php-fpm listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhpListen {
    /// A Unix socket in its directory.
    Unix,
    /// A free TCP port on 127.0.0.1.
    Tcp,
}

/// A running php-fpm of the test's own.
pub struct PhpFpm {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    /// Its Unix socket (with [`PhpListen::Unix`]).
    pub socket: Option<PathBuf>,
    /// Its TCP port (with [`PhpListen::Tcp`]).
    pub port: Option<u16>,
}

impl PhpFpm {
    /// Start php-fpm with 4 workers (`pm = static`) and wait until it
    /// takes connections. `extra` lines go into the pool's section
    /// (`php_admin_value[…] = …`).
    pub fn start(listen: PhpListen) -> PhpFpm {
        PhpFpm::start_with(listen, "")
    }

    /// [`PhpFpm::start`] with more pool settings.
    pub fn start_with(listen: PhpListen, extra: &str) -> PhpFpm {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("sessions")).unwrap();
        let (socket, port) = match listen {
            PhpListen::Unix => (Some(root.join("php-fpm.sock")), None),
            PhpListen::Tcp => (None, Some(super::free_port())),
        };
        let address = match (&socket, port) {
            (Some(s), _) => s.display().to_string(),
            (None, Some(p)) => format!("127.0.0.1:{p}"),
            _ => unreachable!(),
        };
        // Root may run the test (mpmd then serves as nobody): the socket
        // is open to every user, php-fpm is allowed to run as root (-R).
        let conf = format!(
            "[global]\n\
             pid = {root}/php-fpm.pid\n\
             error_log = {root}/php-fpm.log\n\
             daemonize = no\n\
             [www]\n\
             listen = {address}\n\
             listen.mode = 0666\n\
             pm = static\n\
             pm.max_children = 4\n\
             catch_workers_output = yes\n\
             php_admin_value[session.save_path] = {root}/sessions\n\
             php_admin_value[upload_max_filesize] = 64M\n\
             php_admin_value[post_max_size] = 64M\n\
             php_admin_value[memory_limit] = 256M\n\
             php_admin_value[output_buffering] = 0\n\
             php_admin_flag[display_errors] = off\n\
             php_admin_flag[log_errors] = on\n\
             {extra}\n",
            root = root.display()
        );
        let conf_path = root.join("php-fpm.conf");
        fs::write(&conf_path, conf).unwrap();
        let log = fs::File::create(root.join("stderr.log")).unwrap();
        let mut cmd = Command::new(php_fpm_bin());
        cmd.args(["-F", "-R", "-y"])
            .arg(&conf_path)
            .args(["-p"])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let child = cmd.spawn().expect("start php-fpm");
        let mut fpm = PhpFpm {
            child: Some(child),
            dir,
            socket,
            port,
        };
        fpm.wait_ready();
        fpm
    }

    fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let up = match (&self.socket, self.port) {
                (Some(s), _) => UnixStream::connect(s).is_ok(),
                (None, Some(p)) => TcpStream::connect(("127.0.0.1", p)).is_ok(),
                _ => false,
            };
            if up {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "php-fpm exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < until,
                "php-fpm did not listen within 15 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its log and what it wrote to stderr.
    pub fn log(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("php-fpm.log"), read("stderr.log"))
    }

    /// A `fcgi://` URL for `ProxyPass` to its pool, `path` (the scripts'
    /// directory, ending in `/`) after the address: with a Unix socket,
    /// `unix:/…/php-fpm.sock|fcgi://localhost/path`.
    pub fn url(&self, path: &str) -> String {
        match (&self.socket, self.port) {
            (Some(s), _) => format!("unix:{}|fcgi://localhost{path}", s.display()),
            (None, Some(p)) => format!("fcgi://127.0.0.1:{p}{path}"),
            _ => unreachable!(),
        }
    }

    /// The master's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Stop it now (its whole process group): a backend that is down.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

impl Drop for PhpFpm {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A site whose document root holds the PHP suite's pages in `app/`.
pub fn php_site() -> Site {
    let site = Site::new();
    for entry in std::fs::read_dir(php_dir()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".php") {
            site.write(
                &format!("htdocs/app/{name}"),
                std::fs::read(entry.path()).unwrap(),
            );
        }
    }
    site
}

/// The `KEY=value` lines of a page.
pub fn lines(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `curl -i` of `url`: (status, head text, body).
pub fn curl_i(args: &[&str]) -> (u16, String, String) {
    let (code, out, err) = curl(&[&["-i"], args].concat());
    assert_eq!(code, 0, "curl {args:?} failed: {err}");
    let mut rest = out.as_str();
    // Interim answers (100 Continue to an upload) first.
    while rest.starts_with("HTTP/1.1 1") {
        rest = rest.split_once("\r\n\r\n").map_or("", |(_, r)| r);
    }
    let (head, body) = rest
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head from curl {args:?}: {out}"));
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    (status, head.to_string(), body.to_string())
}

/// The peak resident memory (kB) of the biggest child of `master`.
pub fn peak_child_rss_kb(master: i32) -> u64 {
    children(master)
        .into_iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// What differs between the ways PHP runs behind mpmd, for [`php_pages`].
pub struct Gateway {
    /// What PHP puts before an error's text on its stderr (php-fpm:
    /// `PHP message: `; php-cgi as a FastCGI process: nothing).
    pub php_message: &'static str,
    /// What an error-log line of the script's stderr names besides the
    /// script (the backend's socket, the fcgid class).
    pub names: String,
}

/// The PHP suite's pages through `server` (listening at `base`, the
/// pages at `{base}/app/`, files in `site`'s `htdocs/app/`): `$_SERVER`,
/// `$_GET`, `$_POST` (urlencoded and a 20 MB upload), redirects, a
/// status, cookies, a 50 MB page streamed, a fatal error and stderr in
/// the error log, sessions. php-fpm's (mod_proxy_fcgi), the fcgid
/// pool's and CGI's suites run it.
pub fn php_pages(site: &Site, server: &mut Mpmd, base: &str, gateway: &Gateway) {
    let app = format!("{}/app/", site.docroot().display());
    let port = base.rsplit(':').next().unwrap_or_default();
    // $_SERVER: the CGI variables.
    let (status, _, body) = curl_i(&[
        "-H",
        "X-Custom: yes",
        "-H",
        "Proxy: http://evil.example:3128",
        &format!("{base}/app/server.php?x=1&y=a%20b"),
    ]);
    assert_eq!(status, 200, "server.php answered {status}: {body}");
    let vars = lines(&body);
    let docroot = site.docroot().display().to_string();
    for (name, want) in [
        ("SCRIPT_FILENAME", format!("{app}server.php")),
        ("SCRIPT_NAME", "/app/server.php".to_string()),
        ("REQUEST_URI", "/app/server.php?x=1&y=a%20b".to_string()),
        ("QUERY_STRING", "x=1&y=a%20b".to_string()),
        ("REQUEST_METHOD", "GET".to_string()),
        ("GATEWAY_INTERFACE", "CGI/1.1".to_string()),
        ("SERVER_PROTOCOL", "HTTP/1.1".to_string()),
        ("SERVER_NAME", "127.0.0.1".to_string()),
        ("SERVER_PORT", port.to_string()),
        ("SERVER_ADDR", "127.0.0.1".to_string()),
        ("REMOTE_ADDR", "127.0.0.1".to_string()),
        ("DOCUMENT_ROOT", docroot.clone()),
        ("REQUEST_SCHEME", "http".to_string()),
        ("HTTP_X_CUSTOM", "yes".to_string()),
        ("HTTP_HOST", format!("127.0.0.1:{port}")),
    ] {
        assert_eq!(
            vars.get(name),
            Some(&want),
            "{name}: PHP saw {:?}; all of $_SERVER:\n{body}",
            vars.get(name)
        );
    }
    assert!(
        vars.get("REMOTE_PORT")
            .is_some_and(|p| p.parse::<u16>().is_ok()),
        "REMOTE_PORT: {body}"
    );
    assert!(
        !vars.contains_key("HTTP_PROXY"),
        "a client's Proxy header reached PHP as HTTP_PROXY (httpoxy):\n{body}"
    );
    assert!(!vars.contains_key("HTTPS"), "HTTPS without TLS:\n{body}");

    // $_GET
    let (_, _, body) = curl_i(&[&format!("{base}/app/get.php?a=1&b=two%20words")]);
    assert_eq!(body, "a=1\nb=two words\n");

    // $_POST, urlencoded
    let (_, _, body) = curl_i(&["-d", "name=mpmd&lang=rust", &format!("{base}/app/post.php")]);
    assert_eq!(body, "name=mpmd\nlang=rust\n");

    // $_POST, a 20 MB multipart upload.
    let upload = site.path("upload.bin");
    let data: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&upload, &data).unwrap();
    let (code, md5, _) = run_cmd("md5sum", &[upload.to_str().unwrap()]);
    assert_eq!(code, 0);
    let md5 = md5.split_whitespace().next().unwrap().to_string();
    let (status, _, body) = curl_i(&[
        "-F",
        "note=hello",
        "-F",
        &format!("upload=@{}", upload.display()),
        &format!("{base}/app/post.php"),
    ]);
    assert_eq!(status, 200, "the upload answered {status}: {body}");
    assert_eq!(
        body,
        format!("note=hello\nfile:upload {} {md5}\n", data.len())
    );

    // header('Location: …'): PHP answers 302 with it, local or absolute.
    for to in ["/elsewhere/page", "https://example.com/x?y=1"] {
        let (status, head, _) = curl_i(&[&format!("{base}/app/redirect.php?to={to}")]);
        assert_eq!(status, 302, "redirect.php?to={to}: {head}");
        assert!(
            head.lines().any(|l| l == format!("Location: {to}")),
            "no Location: {to} in\n{head}"
        );
    }

    // http_response_code(418)
    let (status, _, body) = curl_i(&[&format!("{base}/app/teapot.php")]);
    assert_eq!((status, body.as_str()), (418, "I'm a teapot\n"));

    // setcookie, twice.
    let (_, head, _) = curl_i(&[&format!("{base}/app/cookie.php")]);
    let cookies: Vec<&str> = head
        .lines()
        .filter_map(|l| l.strip_prefix("Set-Cookie: "))
        .collect();
    assert_eq!(
        cookies,
        ["flavour=oatmeal", "size=large; path=/app/; HttpOnly"],
        "{head}"
    );

    // A 50 MB page streamed: all of it, never held whole in a child.
    let (code, size, err) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download}",
        &format!("{base}/app/big.php"),
    ]);
    assert_eq!((code, size.as_str()), (0, "200 52428800"), "{err}");
    let peak = peak_child_rss_kb(server.pid());
    assert!(
        peak < 40 * 1024,
        "a child of mpmd peaked at {peak} kB while passing a 50 MB page: it was held in memory"
    );

    // A fatal error: PHP's 500, its message in the error log with the
    // script's name; error_log() too.
    let (status, _, _) = curl_i(&[&format!("{base}/app/fatal.php")]);
    assert_eq!(status, 500);
    server.wait_log(
        &format!("fatal.php: stderr: {}PHP Fatal error", gateway.php_message),
        1,
    );
    let (status, _, body) = curl_i(&[&format!("{base}/app/stderr.php")]);
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    server.wait_log(
        &format!(
            "stderr.php: stderr: {}stderr line from stderr.php",
            gateway.php_message
        ),
        1,
    );
    let log = server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("stderr line from stderr.php"))
        .unwrap();
    assert!(
        line.contains(&gateway.names),
        "the stderr line does not name {}: {line}",
        gateway.names
    );

    // Sessions across requests.
    let jar = site.path("cookies.txt");
    let jar = jar.to_str().unwrap();
    for n in 1..=3 {
        let (_, _, body) = curl_i(&["-b", jar, "-c", jar, &format!("{base}/app/session.php")]);
        assert_eq!(body, format!("{n}\n"), "request {n} of the session");
    }
}

/// `program args`: (exit code, stdout, stderr).
pub fn run_cmd(program: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
