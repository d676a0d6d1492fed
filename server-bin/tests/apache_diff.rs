//! Checked against Apache itself: Apache httpd 2.4 from the distribution
//! (`/usr/sbin/apache2`, MPM event, with its own configuration, ports and
//! logs in a temporary directory, never the system service) and the real
//! `mpmd` serve the same configuration fragment and the same document
//! tree; the same requests go to both and the answers are compared: the
//! status, the headers that matter (with each server's port written
//! `PORT`) and the decoded body.
//!
//! The corpus is `tests/apache_diff/<case set>/`; its README says how to
//! add a case set, what a `requests` file holds and how to name a
//! deliberate difference (which the test then reports with its reason
//! instead of failing). Run one set with its report:
//! `cargo test -p mpmd --test apache_diff static_files -- --nocapture`.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{addr, free_port, htpasswd, mpm_config, raw, run, start, try_get, Mpmd, Resp, Site};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Every case set of the corpus; each has its test at the end of this file
/// (and [`every_case_set_in_the_corpus_has_a_test`] keeps the two lists
/// equal).
const CASE_SETS: &[&str] = &[
    "static_files",
    "directory_index",
    "alias_redirect",
    "require_ip",
    "require_rules",
    "limit_sections",
    "if_sections",
    "status_codes",
    "conditionals",
    "security_headers",
    "header_note",
    "expires_by_type",
    "compression",
    "auth_basic",
    "rewrite_wordpress",
    "rewrite_laravel",
    "rewrite_drupal",
    "rewrite_flags",
    "rewrite_sections",
    "methods_and_types",
    "trace_off",
    "directory_listing",
    "listing_sort",
];

/// The distribution's Apache.
const APACHE_BIN: &str = "/usr/sbin/apache2";
/// Where Debian's Apache keeps its loadable modules.
const APACHE_MODULES_DIR: &str = "/usr/lib/apache2/modules";
/// The modules Apache loads for every case set (beside `mpm_event`): the
/// ones whose directives `mpmd` reads or is meant to read. A module loaded
/// here makes Apache enter `<IfModule>` blocks for it, as a site's own
/// Apache would; `mpmd` enters them only for what it has built in.
const APACHE_MODULES: &[&str] = &[
    "authn_core",
    "authn_file",
    "auth_basic",
    "authz_core",
    "authz_host",
    "authz_user",
    "authz_groupfile",
    "alias",
    "dir",
    "mime",
    "autoindex",
    "status",
    "reqtimeout",
    "env",
    "setenvif",
    "headers",
    "expires",
    "filter",
    "deflate",
    "brotli",
    "rewrite",
];

/// The response headers compared in every case (beside the ones a case
/// names with `compare:`): what a client or a cache acts on, and the
/// security headers a hardening configuration sets.
const COMPARED_HEADERS: &[&str] = &[
    "Location",
    "Content-Type",
    "Content-Encoding",
    "Content-Language",
    "Content-Range",
    "Cache-Control",
    "Expires",
    "Vary",
    "ETag",
    "Last-Modified",
    "Allow",
    "WWW-Authenticate",
    "Strict-Transport-Security",
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "X-XSS-Protection",
    "Cross-Origin-Opener-Policy",
    "Cross-Origin-Embedder-Policy",
    "Cross-Origin-Resource-Policy",
    "X-Permitted-Cross-Domain-Policies",
];

/// The corpus directory.
fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apache_diff")
}

// ---------------------------------------------------------------------
// The `requests` file of a case set.

/// One request of a case set and what to compare of its answers.
#[derive(Debug, Default)]
struct Case {
    name: String,
    /// `requests:LINE` of its `[name]` line, for messages.
    line: usize,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// The status both servers must answer (so that two equal failures do
    /// not pass).
    expect: Option<u16>,
    /// Headers compared beside [`COMPARED_HEADERS`].
    compare: Vec<String>,
    /// Deliberate differences: what (`status`, `body` or a header name,
    /// lower case) and why.
    differ: Vec<(String, String)>,
    /// What is not compared, and why.
    ignore: Vec<(String, String)>,
}

/// Parse a `requests` file (see the corpus README); errors name the line.
fn parse_requests(text: &str, file: &str) -> Result<Vec<Case>, String> {
    let mut cases: Vec<Case> = Vec::new();
    for (i, raw_line) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("{file}:{n}");
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "{}: a case name is letters, digits and '_' (a sentence in snake case), not {name:?}",
                    at()
                ));
            }
            if cases.iter().any(|c| c.name == name) {
                return Err(format!("{}: case [{name}] is named twice", at()));
            }
            cases.push(Case {
                name: name.to_string(),
                line: n,
                ..Case::default()
            });
            continue;
        }
        let Some(case) = cases.last_mut() else {
            return Err(format!(
                "{}: {line:?} before the first [case_name] line",
                at()
            ));
        };
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("{}: expected `key: value`, found {line:?}", at()));
        };
        let value = value.trim();
        let with_reason = |value: &str| -> Result<(String, String), String> {
            match value.split_once(char::is_whitespace) {
                Some((what, why)) if !why.trim().is_empty() => {
                    Ok((what.to_ascii_lowercase(), why.trim().to_string()))
                }
                _ => Err(format!(
                    "{}: `{key}: {value}` needs what (status, body or a header name) and then the reason",
                    at()
                )),
            }
        };
        match key.trim() {
            "request" => {
                let mut words = value.split_whitespace();
                match (words.next(), words.next(), words.next()) {
                    (Some(m), Some(t), None) => {
                        case.method = m.to_string();
                        case.target = t.to_string();
                    }
                    _ => return Err(format!("{}: `request: METHOD TARGET`, found {value:?}", at())),
                }
            }
            "header" => match value.split_once(':') {
                Some((name, v)) if !name.trim().is_empty() => {
                    case.headers.push((name.trim().to_string(), v.trim().to_string()))
                }
                _ => return Err(format!("{}: `header: Name: value`, found {value:?}", at())),
            },
            "body" => case.body = Some(unescape(value)),
            "expect" => {
                case.expect = Some(value.parse().map_err(|_| {
                    format!("{}: `expect: STATUS` (a number), found {value:?}", at())
                })?)
            }
            "compare" => case
                .compare
                .extend(value.split_whitespace().map(str::to_string)),
            "differ" => case.differ.push(with_reason(value)?),
            "ignore" => case.ignore.push(with_reason(value)?),
            other => {
                return Err(format!(
                    "{}: unknown key {other:?} (request, header, body, expect, compare, differ, ignore)",
                    at()
                ))
            }
        }
    }
    for c in &cases {
        if c.method.is_empty() {
            return Err(format!(
                "{file}:{}: case [{}] has no `request:`",
                c.line, c.name
            ));
        }
    }
    if cases.is_empty() {
        return Err(format!("{file}: no cases"));
    }
    Ok(cases)
}

/// `\r`, `\n`, `\t` and `\\` in a request body.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

// ---------------------------------------------------------------------
// The site both servers serve.

/// The modification time of every file of a case set's tree (2024-05-01
/// 12:00:00 UTC): fixed, so `Last-Modified` and `ETag` are the same on
/// every run, and long past, so Apache's `ETag` is strong (Apache makes it
/// weak for a file changed in the second of the request).
const TREE_MTIME: u64 = 1_714_564_800;

/// Copy the case set's directories (`htdocs/` and any other) into the
/// server root, readable by the servers' unprivileged users, each file
/// modified at [`TREE_MTIME`].
fn copy_tree(site: &Site, from: &Path, rel: &Path) {
    let mut entries: Vec<_> = fs::read_dir(from)
        .unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let target = rel.join(e.file_name());
        if path.is_dir() {
            let made = site.mkdir(&target);
            copy_tree(site, &path, &target);
            // A listing shows a directory's time too.
            if !rel.as_os_str().is_empty() {
                set_tree_mtime(&made);
            }
        } else if !rel.as_os_str().is_empty() {
            let bytes = fs::read(&path).unwrap();
            let written = site.write(target.to_str().unwrap(), bytes);
            set_tree_mtime(&written);
        }
    }
}

/// Set `path`'s (a file's or a directory's) modification time to
/// [`TREE_MTIME`].
fn set_tree_mtime(path: &Path) {
    set_mtime(path, TREE_MTIME);
}

/// Set `path`'s (a file's or a directory's) modification time to `secs`
/// after the epoch.
fn set_mtime(path: &Path, secs: u64) {
    let mtime = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    let file = if path.is_dir() {
        fs::File::open(path)
    } else {
        fs::File::options().write(true).open(path)
    };
    file.and_then(|f| f.set_modified(mtime))
        .unwrap_or_else(|e| panic!("set the time of {}: {e}", path.display()));
}

/// Run the case set's `setup` file: `mkdir DIR`, `symlink TARGET LINK`,
/// `chmod OCTAL PATH`, `mtime ±SECONDS PATH` (modified that long after
/// [`TREE_MTIME`], or before it), `htpasswd ARGS…` (the real tool), paths
/// relative to the server root.
fn run_setup(site: &Site, text: &str, file: &str) {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{file}:{}", i + 1);
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["mkdir", dir] => {
                site.mkdir(dir);
            }
            ["copy", from, to] => {
                let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(from);
                let text = fs::read(&source)
                    .unwrap_or_else(|e| panic!("{at}: copy {}: {e}", source.display()));
                site.write(to, text);
            }
            ["symlink", target, link] => {
                std::os::unix::fs::symlink(target, site.path(link))
                    .unwrap_or_else(|e| panic!("{at}: symlink {target} {link}: {e}"));
            }
            ["chmod", mode, path] => {
                use std::os::unix::fs::PermissionsExt;
                let mode = u32::from_str_radix(mode, 8)
                    .unwrap_or_else(|_| panic!("{at}: chmod takes an octal mode, not {mode:?}"));
                fs::set_permissions(site.path(path), fs::Permissions::from_mode(mode))
                    .unwrap_or_else(|e| panic!("{at}: chmod {path}: {e}"));
            }
            ["mtime", offset, path] => {
                let offset: i64 = offset.parse().unwrap_or_else(|_| {
                    panic!("{at}: mtime takes seconds from 2024-05-01 12:00 UTC, not {offset:?}")
                });
                set_mtime(&site.path(path), TREE_MTIME.saturating_add_signed(offset));
            }
            ["htpasswd", args @ ..] => htpasswd(site, args),
            _ => panic!(
                "{at}: unknown setup line {line:?} (mkdir, symlink, chmod, mtime, htpasswd, copy)"
            ),
        }
    }
}

// ---------------------------------------------------------------------
// Apache.

/// Apache httpd in the foreground with its own configuration, pid file,
/// logs and runtime directory under the site's root, in its own process
/// group, killed with it on drop.
struct Apache {
    child: Child,
    port: u16,
    root: PathBuf,
}

impl Apache {
    /// Start Apache on `port` with the common part and `fragment`, and wait
    /// (bounded) until it answers.
    fn start(site: &Site, port: u16, fragment: &str) -> Apache {
        let root = site.root().to_path_buf();
        site.mkdir("run");
        let r = root.display();
        let mut conf = format!(
            "ServerRoot {r}\nPidFile {r}/logs/apache.pid\nErrorLog {r}/logs/apache_error.log\n\
             LogLevel info\nDefaultRuntimeDir {r}/run\nMutex file:{r}/run default\n\
             LoadModule mpm_event_module {APACHE_MODULES_DIR}/mod_mpm_event.so\n\
             StartServers 1\nServerLimit 1\nThreadsPerChild 4\nThreadLimit 4\n\
             MaxRequestWorkers 4\nMinSpareThreads 1\nMaxSpareThreads 4\n"
        );
        for m in APACHE_MODULES {
            let _ = writeln!(
                conf,
                "LoadModule {m}_module {APACHE_MODULES_DIR}/mod_{m}.so"
            );
        }
        if nix::unistd::geteuid().is_root() {
            // Started as root, Apache serves as this user (mpmd, without
            // `User`, serves as nobody too).
            conf.push_str("User #65534\nGroup #65534\n");
        }
        let _ = write!(
            conf,
            "TypesConfig /etc/mime.types\n\
             LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b\" common\n\
             CustomLog {r}/logs/apache_access.log common\n\
             Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {r}/htdocs\n\
             {fragment}\n"
        );
        let file = site.write("apache.conf", conf);
        let log = fs::File::create(root.join("logs/apache_stderr.log")).unwrap();
        let child = Command::new(APACHE_BIN)
            .arg("-d")
            .arg(&root)
            .arg("-f")
            .arg(&file)
            .arg("-DFOREGROUND")
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {APACHE_BIN}: {e}"));
        let mut apache = Apache { child, port, root };
        let until = Instant::now() + Duration::from_secs(20);
        while try_get(addr(port), "/").is_none() {
            if let Ok(Some(st)) = apache.child.try_wait() {
                panic!(
                    "Apache exited ({st}) instead of serving; its stderr:\n{}\nits error log:\n{}",
                    apache.read("logs/apache_stderr.log"),
                    apache.read("logs/apache_error.log")
                );
            }
            assert!(
                Instant::now() < until,
                "Apache did not answer on port {port} within 20 s; its error log:\n{}",
                apache.read("logs/apache_error.log")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        apache
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap_or_default()
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------
// Asking both and comparing.

/// One server under comparison.
struct Server<'a> {
    name: &'static str,
    port: u16,
    /// Its own validators (`{etag:/path}`), asked once per path.
    memo: HashMap<String, Resp>,
    /// Its error log, for failure messages.
    log: Box<dyn Fn() -> String + 'a>,
}

impl Server<'_> {
    fn addr(&self) -> SocketAddr {
        addr(self.port)
    }

    /// `{port}`, `{etag:/path}` and `{last-modified:/path}` in `s`, with
    /// this server's own values, and `{basic:user:password}`.
    fn substitute(&mut self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let inner = &rest[open + 1..open + close];
            let value = match inner.split_once(':') {
                None if inner == "port" => self.port.to_string(),
                Some(("basic", pair)) => {
                    let (user, password) = pair.split_once(':').unwrap_or((pair, ""));
                    mpm_site::auth::basic::encode(user, password)
                }
                Some((header @ ("etag" | "last-modified"), path)) => {
                    let port = self.port;
                    let resp = self.memo.entry(path.to_string()).or_insert_with(|| {
                        raw(
                            addr(port),
                            request_bytes("GET", path, &[], None, port).as_slice(),
                        )
                    });
                    resp.header(header)
                        .unwrap_or_else(|| panic!("{} sent no {header} for GET {path}", self.name))
                        .to_string()
                }
                _ => rest[open..open + close + 1].to_string(),
            };
            out.push_str(&value);
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }

    fn ask(&mut self, case: &Case) -> Resp {
        let target = self.substitute(&case.target);
        let headers: Vec<(String, String)> = case
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), self.substitute(v)))
            .collect();
        let bytes = request_bytes(
            &case.method,
            &target,
            &headers,
            case.body.as_deref(),
            self.port,
        );
        raw(self.addr(), &bytes)
    }
}

/// A request on its own connection: `Host: localhost:PORT` unless the case
/// sends its own (`{none}`: none at all), `Connection: close`,
/// `Content-Length` for a body.
fn request_bytes(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: Option<&str>,
    port: u16,
) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        let _ = write!(out, "Host: localhost:{port}\r\n");
    }
    for (n, v) in headers.iter().filter(|(_, v)| v != "{none}") {
        let _ = write!(out, "{n}: {v}\r\n");
    }
    if let Some(b) = body {
        let _ = write!(out, "Content-Length: {}\r\n", b.len());
    }
    out.push_str("Connection: close\r\n\r\n");
    if let Some(b) = body {
        out.push_str(b);
    }
    out.into_bytes()
}

/// What of an answer is compared, as text: `status`, `body` (decoded, as
/// text or a byte count) or a header (every value, joined), with the
/// server's port written `PORT` and `Expires` written relative to `Date`.
fn item(resp: &Resp, what: &str, port: u16) -> String {
    let text = match what {
        "status" => resp.status.to_string(),
        "body" => match decoded_body(resp) {
            Ok(body) => match String::from_utf8(body) {
                Ok(text) => text,
                Err(e) => format!("{} bytes (not UTF-8)", e.into_bytes().len()),
            },
            Err(e) => format!("undecodable body: {e}"),
        },
        header => {
            let values: Vec<&str> = resp
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(header))
                .map(|(_, v)| v.as_str())
                .collect();
            if values.is_empty() {
                return "(none)".to_string();
            }
            let joined = values.join(", ");
            if header == "allow" {
                // Apache lists the methods in its hash table's order.
                let mut methods: Vec<&str> = joined.split(',').map(str::trim).collect();
                methods.sort_unstable();
                return methods.join(", ");
            }
            if header == "expires" {
                if let Some(rel) = relative_to_date(resp, &joined) {
                    return rel;
                }
            }
            joined
        }
    };
    text.replace(&format!(":{port}"), ":PORT")
}

/// `Expires` as `Date + N s`, so two servers asked a moment apart agree.
fn relative_to_date(resp: &Resp, expires: &str) -> Option<String> {
    let date = httpdate::parse_http_date(resp.header("date")?).ok()?;
    let exp = httpdate::parse_http_date(expires).ok()?;
    Some(match exp.duration_since(date) {
        Ok(d) => format!("Date + {} s", d.as_secs()),
        Err(e) => format!("Date - {} s", e.duration().as_secs()),
    })
}

/// The body with its `Content-Encoding` (gzip, deflate, br) undone.
fn decoded_body(resp: &Resp) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match resp
        .header("content-encoding")
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("identity") => out.extend_from_slice(&resp.body),
        Some("gzip" | "x-gzip") => {
            flate2::read::GzDecoder::new(&resp.body[..]).read_to_end(&mut out)?;
        }
        Some("deflate") => {
            flate2::read::ZlibDecoder::new(&resp.body[..]).read_to_end(&mut out)?;
        }
        Some("br") => {
            brotli::Decompressor::new(&resp.body[..], 4096).read_to_end(&mut out)?;
        }
        Some(other) => {
            return Err(std::io::Error::other(format!(
                "unknown Content-Encoding {other:?}"
            )))
        }
    }
    Ok(out)
}

/// At most 400 characters of `s`, for a message.
fn short(s: &str) -> String {
    let mut out: String = s.chars().take(400).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}

/// Start both servers on the case set `set` and compare their answers to
/// each of its requests; panics with every unexpected difference, and
/// prints the deliberate ones with their reasons.
fn check_case_set(set: &str) {
    if !Path::new(APACHE_BIN).is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{APACHE_BIN} is missing under CI: .ci/run installs apache2"
        );
        eprintln!(
            "\n\n*** SKIPPED: no {APACHE_BIN}; install it (apt-get install apache2, \
             as .ci/run does) to compare mpmd with Apache ***\n"
        );
        return;
    }
    let dir = corpus().join(set);
    let file = |name: &str| format!("tests/apache_diff/{set}/{name}");
    let requests = fs::read_to_string(dir.join("requests"))
        .unwrap_or_else(|e| panic!("read {}: {e}", file("requests")));
    let cases = parse_requests(&requests, &file("requests")).unwrap_or_else(|e| panic!("{e}"));

    let site = Site::new();
    copy_tree(&site, &dir, Path::new(""));
    if let Ok(setup) = fs::read_to_string(dir.join("setup")) {
        run_setup(&site, &setup, &file("setup"));
    }
    let fragment = fs::read_to_string(dir.join("site.conf"))
        .unwrap_or_else(|e| panic!("read {}: {e}", file("site.conf")))
        .replace("@ROOT@", &site.root().display().to_string());

    let mpmd_port = free_port();
    let conf = mpm_config(&site, "event", mpmd_port, &fragment);
    let (code, _, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
    if code != 0 {
        // mpmd names its own file: say where the fragment starts in it.
        let text = fs::read_to_string(&conf).unwrap_or_default();
        let before = text.find(fragment.as_str()).unwrap_or(0);
        panic!(
            "case set {set}: mpmd does not accept {} (a directive it does not parse yet? \
             add the case set with its feature); its line 1 is line {} of mpmd.conf:\n{err}",
            file("site.conf"),
            text[..before].lines().count() + 1
        );
    }
    let mpmd: Mpmd = start(&site, &conf);
    let apache = Apache::start(&site, free_port(), &fragment);

    let mut servers = [
        Server {
            name: "Apache",
            port: apache.port,
            memo: HashMap::new(),
            log: Box::new(|| apache.read("logs/apache_error.log")),
        },
        Server {
            name: "mpmd",
            port: mpmd_port,
            memo: HashMap::new(),
            log: Box::new(|| mpmd.stderr()),
        },
    ];

    let mut report = String::new();
    let mut failures = Vec::new();
    for case in &cases {
        let at = format!("[{}] ({}:{})", case.name, file("requests"), case.line);
        let a = servers[0].ask(case);
        let m = servers[1].ask(case);
        if let Some(want) = case.expect {
            for (server, resp) in [(&servers[0], &a), (&servers[1], &m)] {
                if resp.status != want {
                    failures.push(format!(
                        "{at}: {} answered {} where the case expects {want}",
                        server.name, resp.status
                    ));
                }
            }
        }
        let mut items: Vec<String> = vec!["status".into()];
        items.extend(COMPARED_HEADERS.iter().map(|h| h.to_ascii_lowercase()));
        items.extend(case.compare.iter().map(|h| h.to_ascii_lowercase()));
        items.push("body".into());
        items.dedup();
        for (what, why) in &case.ignore {
            let _ = writeln!(report, "{at}: {what} not compared: {why}");
        }
        for what in &items {
            let what = what.as_str();
            if case.ignore.iter().any(|(w, _)| *w == what) {
                continue;
            }
            let va = item(&a, what, servers[0].port);
            let vm = item(&m, what, servers[1].port);
            let marked = case.differ.iter().find(|(w, _)| w == what);
            match (marked, va == vm) {
                (None, true) => {}
                (None, false) => failures.push(format!(
                    "{at}: {what}: Apache answered {}, mpmd answered {}",
                    short(&va),
                    short(&vm)
                )),
                (Some((_, why)), false) => {
                    let _ = writeln!(
                        report,
                        "{at}: deliberate difference in {what}: Apache {}, mpmd {}: {why}",
                        short(&va),
                        short(&vm)
                    );
                }
                (Some(_), true) => failures.push(format!(
                    "{at}: {what} is marked as a deliberate difference, but both answer {}: \
                     remove the `differ: {what}` line",
                    short(&va)
                )),
            }
        }
        for (what, _) in &case.differ {
            if !items.contains(what) {
                failures.push(format!(
                    "{at}: `differ: {what}` names nothing compared (status, body, a header \
                     of COMPARED_HEADERS or of the case's `compare:`)"
                ));
            }
        }
    }
    eprintln!(
        "case set {set}: {} cases compared with Apache\n{report}",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "case set {set}: mpmd answered differently from Apache ({} differences):\n{}\n\n\
         Apache's error log:\n{}\nmpmd's log:\n{}",
        failures.len(),
        failures.join("\n"),
        (servers[0].log)(),
        (servers[1].log)()
    );
}

// ---------------------------------------------------------------------
// The tests: one per case set.

#[test]
fn every_case_set_in_the_corpus_has_a_test() {
    let mut on_disk: Vec<String> = fs::read_dir(corpus())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASE_SETS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "the corpus directories (left) and CASE_SETS in apache_diff.rs (right) differ: \
         each case set needs its entry and its test"
    );
    for set in CASE_SETS {
        let file = format!("tests/apache_diff/{set}/requests");
        let text = fs::read_to_string(corpus().join(set).join("requests"))
            .unwrap_or_else(|e| panic!("read {file}: {e}"));
        parse_requests(&text, &file).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            corpus().join(set).join("site.conf").is_file(),
            "tests/apache_diff/{set}/site.conf is missing"
        );
    }
}

#[test]
fn a_requests_file_with_a_mistake_is_refused_with_its_line() {
    for (text, want) in [
        (
            "request: GET /\n",
            "r:1: \"request: GET /\" before the first [case_name] line",
        ),
        ("[a b]\n", "r:1: a case name is letters, digits and '_'"),
        (
            "[a]\nrequest: GET /\n[a]\nrequest: GET /\n",
            "r:3: case [a] is named twice",
        ),
        ("[a]\nheader: X-Only\n", "r:2: `header: Name: value`"),
        ("[a]\nrequest: GET\n", "r:2: `request: METHOD TARGET`"),
        (
            "[a]\nrequest: GET /\ndiffer: status\n",
            "r:3: `differ: status` needs what",
        ),
        ("[a]\nrequest: GET /\nexpect: ok\n", "r:3: `expect: STATUS`"),
        (
            "[a]\nrequest: GET /\nsend: x\n",
            "r:3: unknown key \"send\"",
        ),
        ("[a]\nheader: A: b\n", "r:1: case [a] has no `request:`"),
        ("# nothing\n", "r: no cases"),
    ] {
        match parse_requests(text, "r") {
            Ok(cases) => panic!("{text:?} was read as {cases:?}"),
            Err(e) => assert!(e.starts_with(want), "{text:?}:\n  got  {e}\n  want {want}…"),
        }
    }
    let cases = parse_requests(
        "[a_case]\nrequest: POST /x?y\nheader: Host: h\nbody: a\\r\\nb\nexpect: 201\n\
         compare: ETag Age\ndiffer: Location Apache bug 123\nignore: body it holds the time\n",
        "r",
    )
    .unwrap();
    let c = &cases[0];
    assert_eq!((c.method.as_str(), c.target.as_str()), ("POST", "/x?y"));
    assert_eq!(c.headers, [("Host".to_string(), "h".to_string())]);
    assert_eq!(c.body.as_deref(), Some("a\r\nb"));
    assert_eq!(c.expect, Some(201));
    assert_eq!(c.compare, ["ETag", "Age"]);
    assert_eq!(
        c.differ,
        [("location".to_string(), "Apache bug 123".to_string())]
    );
    assert_eq!(
        c.ignore,
        [("body".to_string(), "it holds the time".to_string())]
    );
}

#[test]
fn static_files_are_answered_as_apache_answers_them() {
    check_case_set("static_files");
}

#[test]
fn directory_index_is_answered_as_apache_answers_it() {
    check_case_set("directory_index");
}

#[test]
fn alias_and_redirect_are_answered_as_apache_answers_them() {
    check_case_set("alias_redirect");
}

#[test]
fn require_ip_is_answered_as_apache_answers_it() {
    check_case_set("require_ip");
}

#[test]
fn require_method_env_and_expr_are_answered_as_apache_answers_them() {
    check_case_set("require_rules");
}

#[test]
fn limit_and_limit_except_sections_decide_as_apache_decides() {
    check_case_set("limit_sections");
}

#[test]
fn if_sections_take_the_branch_and_vary_as_apache_does() {
    check_case_set("if_sections");
}

#[test]
fn status_codes_are_the_ones_apache_answers() {
    check_case_set("status_codes");
}

#[test]
fn conditional_requests_are_answered_as_apache_answers_them() {
    check_case_set("conditionals");
}

#[test]
fn header_note_leaves_the_answer_as_apache_leaves_it() {
    check_case_set("header_note");
}

#[test]
fn security_headers_are_sent_as_apache_sends_them() {
    check_case_set("security_headers");
}

#[test]
fn expires_by_type_is_answered_as_apache_answers_it() {
    check_case_set("expires_by_type");
}

#[test]
fn compression_is_negotiated_as_apache_negotiates_it() {
    check_case_set("compression");
}

#[test]
fn basic_authentication_is_answered_as_apache_answers_it() {
    check_case_set("auth_basic");
}

#[test]
fn wordpress_htaccess_is_answered_as_apache_answers_it() {
    check_case_set("rewrite_wordpress");
}

#[test]
fn laravel_htaccess_is_answered_as_apache_answers_it() {
    check_case_set("rewrite_laravel");
}

#[test]
fn drupal_htaccess_is_answered_as_apache_answers_it() {
    check_case_set("rewrite_drupal");
}

#[test]
fn rewrite_flags_and_conditions_are_answered_as_apache_answers_them() {
    check_case_set("rewrite_flags");
}

#[test]
fn rewrite_rules_in_every_section_and_their_inheritance_are_answered_as_apache_answers_them() {
    check_case_set("rewrite_sections");
}

#[test]
fn methods_allow_and_file_types_are_answered_as_apache_answers_them() {
    check_case_set("methods_and_types");
}

#[test]
fn listings_are_sorted_and_laid_out_as_the_query_asks_as_apache_does() {
    check_case_set("listing_sort");
}

#[test]
fn directory_listings_are_written_as_apache_writes_them() {
    check_case_set("directory_listing");
}

#[test]
fn trace_enable_off_is_answered_as_apache_answers_it() {
    check_case_set("trace_off");
}
