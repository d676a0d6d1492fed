//! Access control through the real `mpmd` under prefork, worker and event,
//! held against Apache httpd 2.4: how the main server's `<Directory>` and
//! `<Location>` sections and a virtual host's for the same paths merge.
//! Apache applies a virtual host's sections after the main server's
//! (shortest `<Directory>` path first, `<Location>` in file order), so the
//! virtual host wins; each directive is tried in both directions (the
//! host stricter, the host looser).
//!
//! The answers expected are Apache's: the same sections (with Apache's
//! `LoadModule` lines for mod_authz_core, mod_authz_host, mod_dir,
//! mod_autoindex, mod_mime and mod_status) served by Apache httpd 2.4.71
//! (Debian's apache2, mpm_event) from the same files gave every status
//! and body in [`MERGED`] and [`SERVER_LEVEL_INDEX`].

mod common;

use common::*;

/// Every answer that is not the one expected, one line each.
type Mismatches = Vec<String>;

/// A status and a text the body holds.
type Answer = (u16, &'static str);

const FORBIDDEN: Answer = (403, "Forbidden");
const NOT_FOUND: Answer = (404, "Not Found");

/// `(path, answer to plain.test, answer to v.test)`. `plain.test` is a virtual host with no
/// sections of its own, so it shows what the main server's sections give;
/// `v.test` adds its own sections for the same paths (see [`SECTIONS`]).
const MERGED: &[(&str, Answer, Answer)] = &[
    // The review's case: the main server opens a directory (Require all
    // granted, Options Indexes FollowSymLinks), the host shuts it
    // (Require ip 10.99.0.0/16, Options None): a file, the listing and a
    // link out of the root are refused to the host's clients.
    ("/deny/file.txt", (200, "file in deny"), FORBIDDEN),
    ("/deny/", (200, "Index of /deny</title>"), FORBIDDEN),
    ("/deny/out.txt", (200, "SECRET-OUTSIDE"), FORBIDDEN),
    // Require: the host looser.
    ("/grant/file.txt", FORBIDDEN, (200, "file in grant")),
    // Options Indexes: the host stricter, then looser.
    ("/noindex/", (200, "Index of /noindex</title>"), FORBIDDEN),
    ("/index/", FORBIDDEN, (200, "Index of /index</title>")),
    // Options FollowSymLinks: the host stricter, then looser.
    ("/nolink/out.txt", (200, "SECRET-OUTSIDE"), FORBIDDEN),
    ("/link/out.txt", FORBIDDEN, (200, "SECRET-OUTSIDE")),
    // The host's `Options -Indexes` changes the main server's options.
    ("/relative/", (200, "Index of /relative</title>"), FORBIDDEN),
    (
        "/relative/out.txt",
        (200, "SECRET-OUTSIDE"),
        (200, "SECRET-OUTSIDE"),
    ),
    // The host's `Options +FollowSymLinks` adds to the main server's
    // `Options Indexes`, though that block is written after the host.
    (
        "/later/",
        (200, "Index of /later</title>"),
        (200, "Index of /later</title>"),
    ),
    ("/later/out.txt", FORBIDDEN, (200, "SECRET-OUTSIDE")),
    // A deeper main-server block still wins over a host's shallower one.
    ("/nested/file.txt", (200, "file in nested"), FORBIDDEN),
    (
        "/nested/inner/file.txt",
        (200, "file in nested/inner"),
        (200, "file in nested/inner"),
    ),
    // Require comes before whether the file is there.
    ("/deny/missing.txt", NOT_FOUND, FORBIDDEN),
    ("/deny/missing/x", NOT_FOUND, FORBIDDEN),
    ("/deny/file.txt/", NOT_FOUND, FORBIDDEN),
    ("/nested/missing/x", NOT_FOUND, FORBIDDEN),
    ("/grant/missing/x", FORBIDDEN, NOT_FOUND),
    // DirectoryIndex in <Directory>: replaced, disabled, enabled.
    ("/dirindex/", (200, "main"), (200, "vhost")),
    ("/indexoff/", (200, "idx"), FORBIDDEN),
    ("/indexon/", FORBIDDEN, (200, "idx")),
    ("/plainidx/", (200, "idx"), (200, "idx")),
    // <Location> Require: the host stricter, then looser.
    ("/loc-deny/file.txt", (200, "file in loc-deny"), FORBIDDEN),
    ("/loc-grant/file.txt", FORBIDDEN, (200, "file in loc-grant")),
    // <Location> SetHandler: the host turns the status page off, then on.
    ("/status-on", (200, "mpmd Status"), NOT_FOUND),
    ("/status-off", NOT_FOUND, (200, "mpmd Status")),
    // <Location> blocks apply in order, not by length: the host's
    // `<Location /order>` after the main server's `/order/inner`, and the
    // main server's `/within` after its own `/within/inner`.
    (
        "/order/inner/file.txt",
        (200, "file in order/inner"),
        FORBIDDEN,
    ),
    (
        "/within/inner/file.txt",
        (200, "file in within/inner"),
        (200, "file in within/inner"),
    ),
    // The `<Files ".ht*">` idiom holds for every host.
    ("/.htaccess", FORBIDDEN, FORBIDDEN),
    ("/index/.htaccess", FORBIDDEN, FORBIDDEN),
];

/// `(path, answer to srv.test)`: a host's own server-level
/// `DirectoryIndex srv.html` is the default the main server's
/// `<Directory>` blocks replace, as in Apache.
const SERVER_LEVEL_INDEX: &[(&str, Answer)] =
    &[("/dirindex/", (200, "main")), ("/plainidx/", (200, "srv"))];

/// The sections, for document root `{root}` and port `{port}`.
const SECTIONS: &str = r#"DocumentRoot {root}
<Directory {root}>
    Options None
    Require all granted
</Directory>
<Files ".ht*">
    Require all denied
</Files>
<Directory {root}/deny>
    Options Indexes FollowSymLinks
    Require all granted
</Directory>
<Directory {root}/grant>
    Require all denied
</Directory>
<Directory {root}/noindex>
    Options Indexes
</Directory>
<Directory {root}/index>
    Options None
</Directory>
<Directory {root}/nolink>
    Options FollowSymLinks
</Directory>
<Directory {root}/link>
    Options None
</Directory>
<Directory {root}/relative>
    Options Indexes FollowSymLinks
</Directory>
<Directory {root}/nested/inner>
    Require all granted
</Directory>
<Directory {root}/dirindex>
    DirectoryIndex main.html
</Directory>
<Directory {root}/indexoff>
    DirectoryIndex index.html
</Directory>
<Directory {root}/indexon>
    DirectoryIndex disabled
</Directory>
<Location /loc-deny>
    Require all granted
</Location>
<Location /loc-grant>
    Require all denied
</Location>
<Location /status-on>
    SetHandler server-status
</Location>
<Location /status-off>
    SetHandler none
</Location>
<Location /order/inner>
    Require all granted
</Location>
<Location /within/inner>
    Require all denied
</Location>
<Location /within>
    Require all granted
</Location>
<VirtualHost 127.0.0.1:{port}>
    ServerName plain.test
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName v.test
    <Directory {root}/deny>
        Options None
        Require ip 10.99.0.0/16
    </Directory>
    <Directory {root}/grant>
        Require all granted
    </Directory>
    <Directory {root}/noindex>
        Options None
    </Directory>
    <Directory {root}/index>
        Options Indexes
    </Directory>
    <Directory {root}/nolink>
        Options None
    </Directory>
    <Directory {root}/link>
        Options FollowSymLinks
    </Directory>
    <Directory {root}/relative>
        Options -Indexes
    </Directory>
    <Directory {root}/later>
        Options +FollowSymLinks
    </Directory>
    <Directory {root}/nested>
        Require all denied
    </Directory>
    <Directory {root}/dirindex>
        DirectoryIndex vhost.html
    </Directory>
    <Directory {root}/indexoff>
        DirectoryIndex disabled
    </Directory>
    <Directory {root}/indexon>
        DirectoryIndex index.html
    </Directory>
    <Location /loc-deny>
        Require all denied
    </Location>
    <Location /loc-grant>
        Require all granted
    </Location>
    <Location /status-on>
        SetHandler none
    </Location>
    <Location /status-off>
        SetHandler server-status
    </Location>
    <Location /order>
        Require all denied
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName srv.test
    DirectoryIndex srv.html
</VirtualHost>
<Directory {root}/later>
    Options Indexes
</Directory>
"#;

/// The document root the sections talk about: a directory per case with
/// `file.txt` and `out.txt`, a link to a file outside the root.
fn write_tree(site: &Site) {
    let secret = site.write("outside/secret.txt", "SECRET-OUTSIDE\n");
    site.write("htdocs/index.html", "home\n");
    for dir in [
        "deny",
        "grant",
        "noindex",
        "index",
        "nolink",
        "link",
        "relative",
        "later",
        "nested",
        "nested/inner",
        "dirindex",
        "indexoff",
        "indexon",
        "loc-deny",
        "loc-grant",
        "order/inner",
        "within/inner",
        "plainidx",
    ] {
        site.write(
            &format!("htdocs/{dir}/file.txt"),
            format!("file in {dir}\n"),
        );
        std::os::unix::fs::symlink(&secret, site.path(&format!("htdocs/{dir}/out.txt"))).unwrap();
    }
    site.write("htdocs/dirindex/main.html", "main\n");
    site.write("htdocs/dirindex/vhost.html", "vhost\n");
    site.write("htdocs/dirindex/srv.html", "srv\n");
    site.write("htdocs/indexoff/index.html", "idx\n");
    site.write("htdocs/indexon/index.html", "idx\n");
    site.write("htdocs/plainidx/index.html", "idx\n");
    site.write("htdocs/plainidx/srv.html", "srv\n");
    site.write("htdocs/.htaccess", "Require all denied\n");
    site.write("htdocs/index/.htaccess", "Require all denied\n");
}

/// Ask `host` for `path` and note it in `wrong` unless the answer has
/// `status` and a body holding `text`.
fn check(port: u16, host: &str, path: &str, (status, text): Answer, wrong: &mut Mismatches) {
    let r = get(addr(port), host, path);
    let body = r.text();
    if r.status != status || !body.contains(text) {
        let start: String = body.chars().take(80).collect();
        wrong.push(format!(
            "{host}{path}: {} {start:?}; Apache: {status} with {text:?}",
            r.status
        ));
    }
}

fn sections_merge_as_apache_merges_them(mpm: &str) {
    let site = Site::new();
    write_tree(&site);
    let port = free_port();
    let sections = SECTIONS
        .replace("{root}", &site.docroot().display().to_string())
        .replace("{port}", &port.to_string());
    let conf = site.config(&format!(
        "{}Listen 127.0.0.1:{port}\nServerName localhost\n{sections}",
        mpm_directives(mpm)
    ));
    let m = start(&site, &conf);
    let mut wrong = Mismatches::new();
    for &(path, plain, vhost) in MERGED {
        check(port, "plain.test", path, plain, &mut wrong);
        check(port, "v.test", path, vhost, &mut wrong);
    }
    for &(path, answer) in SERVER_LEVEL_INDEX {
        check(port, "srv.test", path, answer, &mut wrong);
    }
    assert!(
        wrong.is_empty(),
        "under {mpm}, mpmd answered {} of {} requests unlike Apache:\n{}\nstderr:\n{}",
        wrong.len(),
        2 * MERGED.len() + SERVER_LEVEL_INDEX.len(),
        wrong.join("\n"),
        m.stderr()
    );
}

#[test]
fn a_virtual_hosts_sections_win_over_the_main_servers_as_in_apache_under_event() {
    sections_merge_as_apache_merges_them("event");
}

#[test]
fn a_virtual_hosts_sections_win_over_the_main_servers_as_in_apache_under_prefork() {
    sections_merge_as_apache_merges_them("prefork");
}

#[test]
fn a_virtual_hosts_sections_win_over_the_main_servers_as_in_apache_under_worker() {
    sections_merge_as_apache_merges_them("worker");
}
