//! mod_rewrite through the real `mpmd` under event, prefork and worker:
//! the `.htaccess` files WordPress, Laravel and Drupal ship (one copy, in
//! `crates/mpm-site/src/rewrite/testdata/`), server-context rules, a
//! rewrite loop stopped by `LimitInternalRecursion`, and `-t` errors.
//! `index.php` is served as a file here (no PHP): its body shows that the
//! front controller answered.

mod common;

use common::*;

const MPMS: [&str; 3] = ["event", "prefork", "worker"];
const FRONT: &str = "<?php /* front controller */";

fn testdata(name: &str) -> String {
    let path = format!(
        "{}/../crates/mpm-site/src/rewrite/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A document root with a front controller, a file and a directory,
/// `htaccess` as its `.htaccess` (AllowOverride All), served by `mpm`.
fn app(mpm: &str, htaccess: &str, extra: &str) -> (Site, Mpmd, std::net::SocketAddr) {
    let site = Site::new();
    site.write("htdocs/index.php", FRONT);
    site.write("htdocs/style.css", "body{}");
    site.write("htdocs/admin/index.html", "admin");
    site.write("htdocs/.htaccess", htaccess);
    let port = free_port();
    let server = start_mpm(
        &site,
        mpm,
        port,
        &format!(
            "<Directory {}>\nAllowOverride All\n</Directory>\n{extra}",
            site.docroot().display()
        ),
    );
    (site, server, addr(port))
}

fn fetch(at: std::net::SocketAddr, path: &str) -> (u16, String) {
    let resp = get(at, "localhost", path);
    (resp.status, resp.text())
}

#[test]
fn wordpress_htaccess_sends_permalinks_to_index_php_and_serves_what_exists() {
    for mpm in MPMS {
        let (_site, _server, at) = app(
            mpm,
            &testdata("wordpress.htaccess"),
            "DirectoryIndex index.php index.html\n",
        );
        for path in ["/2024/05/hello-world/", "/about", "/category/news/?page=2"] {
            assert_eq!(
                fetch(at, path),
                (200, FRONT.into()),
                "{mpm}: {path} went elsewhere"
            );
        }
        assert_eq!(
            fetch(at, "/style.css"),
            (200, "body{}".into()),
            "{mpm}: an existing file"
        );
        assert_eq!(
            fetch(at, "/admin/"),
            (200, "admin".into()),
            "{mpm}: an existing directory"
        );
        assert_eq!(
            fetch(at, "/index.php"),
            (200, FRONT.into()),
            "{mpm}: index.php itself"
        );
        assert_eq!(
            fetch(at, "/"),
            (200, FRONT.into()),
            "{mpm}: the root, by DirectoryIndex"
        );
        let resp = get(at, "localhost", "/.htaccess");
        assert_eq!(resp.status, 403, "{mpm}: .htaccess is never served");
    }
}

#[test]
fn laravel_htaccess_redirects_trailing_slashes_and_sends_the_rest_to_the_front_controller() {
    for mpm in MPMS {
        let (_site, _server, at) = app(mpm, &testdata("laravel.htaccess"), "");
        let resp = get(at, "localhost", "/users/");
        assert_eq!(
            resp.status,
            301,
            "{mpm}: /users/ answered {} {}",
            resp.status,
            resp.text()
        );
        assert_eq!(
            resp.header("location"),
            Some("http://localhost/users"),
            "{mpm}"
        );
        assert_eq!(
            fetch(at, "/users/7?tab=a"),
            (200, FRONT.into()),
            "{mpm}: a route"
        );
        assert_eq!(
            fetch(at, "/style.css"),
            (200, "body{}".into()),
            "{mpm}: an asset"
        );
        let resp = raw(
            at,
            b"GET /api/me HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(resp.status, 200, "{mpm}");
        assert_eq!(
            resp.header("vary"),
            Some("Authorization"),
            "{mpm}: the header the rules read"
        );
    }
}

#[test]
fn drupal_htaccess_hides_dot_directories_and_other_php_files() {
    for mpm in MPMS {
        let (site, _server, at) = app(mpm, &testdata("drupal.htaccess"), "");
        site.write("htdocs/core/lib/Drupal.php", "<?php");
        site.write("htdocs/.git/config", "[core]");
        assert_eq!(
            fetch(at, "/.git/config").0,
            403,
            "{mpm}: a hidden directory"
        );
        assert_eq!(
            fetch(at, "/core/lib/Drupal.php").0,
            403,
            "{mpm}: another PHP file"
        );
        assert_eq!(fetch(at, "/node/1"), (200, FRONT.into()), "{mpm}: a route");
        assert_eq!(
            fetch(at, "/.well-known/x"),
            (200, FRONT.into()),
            "{mpm}: .well-known is not hidden"
        );
        let resp = get(at, "localhost", "/install.php?x=1");
        assert_eq!(resp.status, 301, "{mpm}");
        assert_eq!(
            resp.header("location"),
            Some("http://localhost/core/install.php?x=1"),
            "{mpm}"
        );
    }
}

#[test]
fn a_rewrite_loop_ends_with_500_and_a_line_in_the_error_log() {
    for mpm in MPMS {
        let (_site, mut server, at) =
            app(mpm, "RewriteEngine On\nRewriteRule ^(.*)$ /loop/$1\n", "");
        assert_eq!(fetch(at, "/x").0, 500, "{mpm}: the loop was not stopped");
        server.wait_log("Request exceeded the limit of 10 internal redirects", 1);
    }
}

#[test]
fn server_rules_redirect_refuse_and_map_with_the_query() {
    for mpm in MPMS {
        let rules = "RewriteEngine On\n\
                     RewriteRule ^/old/(.*)$ /new/$1?from=old [R=301,QSA,L]\n\
                     RewriteRule ^/secret - [F]\n\
                     RewriteRule ^/gone - [G]\n\
                     RewriteCond %{HTTP_USER_AGENT} ^curl\n\
                     RewriteRule ^/ua$ /style.css [L]\n\
                     RewriteRule ^/pretty$ /style.css [PT]\n";
        let (_site, _server, at) = app(mpm, "", rules);
        let resp = get(at, "localhost", "/old/a%20b?x=1");
        assert_eq!(resp.status, 301, "{mpm}");
        assert_eq!(
            resp.header("location"),
            Some("http://localhost/new/a%20b?from=old&x=1"),
            "{mpm}"
        );
        assert_eq!(fetch(at, "/secret/x").0, 403, "{mpm}");
        assert_eq!(fetch(at, "/gone").0, 410, "{mpm}");
        assert_eq!(fetch(at, "/pretty"), (200, "body{}".into()), "{mpm}: [PT]");
        assert_eq!(fetch(at, "/ua").0, 404, "{mpm}: the condition did not hold");
        let resp = raw(at, b"GET /ua HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/8\r\nConnection: close\r\n\r\n");
        assert_eq!(
            (resp.status, resp.text()),
            (200, "body{}".into()),
            "{mpm}: it did"
        );
        assert_eq!(resp.header("vary"), Some("User-Agent"), "{mpm}");
    }
}

#[test]
fn a_rule_mpmd_cannot_compile_is_a_config_error_with_its_file_and_line() {
    let site = Site::new();
    let conf = site.config(&format!(
        "Listen 127.0.0.1:{}\nDocumentRoot {}\nRewriteEngine On\nRewriteRule ^/(a)\\1$ /x\n",
        free_port(),
        site.docroot().display()
    ));
    let (code, out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
    assert_ne!(code, 0, "mpmd -t accepted a back-reference: {out}{err}");
    let said = format!("{out}{err}");
    assert!(
        said.contains(&format!("{}:7", conf.display())) && said.contains("back-reference"),
        "mpmd -t said: {said}"
    );
}

#[test]
fn rules_in_location_files_if_and_directorymatch_run_and_an_inner_section_without_rules_keeps_the_outer_ones(
) {
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/target.txt", "target");
        site.write("htdocs/app/x.txt", "app x");
        site.write("htdocs/app/keep.txt", "app keep");
        site.write("htdocs/files/legacy.html", "legacy");
        site.write("htdocs/files/db.bak", "backup");
        site.write("htdocs/page.txt", "page");
        site.write("htdocs/lit/page.txt", "lit page");
        site.write("htdocs/lit/target.txt", "lit target");
        site.write("htdocs/parent/child/old.txt", "child old");
        site.write("htdocs/parent/child/new.txt", "child new");
        let d = site.docroot();
        let d = d.display();
        let port = free_port();
        let _server = start_mpm(
            &site,
            mpm,
            port,
            &format!(
                "<Location /app>\nRewriteEngine On\nRewriteRule /app/x\\.txt$ /target.txt [L]\n</Location>\n\
                 <Directory {d}/files>\n\
                   <Files legacy.html>\nRewriteEngine On\nRewriteRule ^ /target.txt [L]\n</Files>\n\
                   <FilesMatch \"\\.bak$\">\nRewriteEngine On\nRewriteRule .* - [F]\n</FilesMatch>\n\
                 </Directory>\n\
                 <If \"%{{QUERY_STRING}} == 'go'\">\nRewriteEngine On\nRewriteRule page\\.txt$ /target.txt [R=302,L]\n</If>\n\
                 <DirectoryMatch \"{d}/lit\">\nRewriteEngine On\nRewriteRule ^page\\.txt$ target.txt [L]\n</DirectoryMatch>\n\
                 <Directory {d}/parent>\nRewriteEngine On\nRewriteRule ^(.*)old\\.txt$ $1new.txt [L]\n</Directory>\n\
                 <Directory {d}/parent/child>\nOptions +Indexes\n</Directory>\n"
            ),
        );
        let at = addr(port);
        for (path, status, body) in [
            ("/app/x.txt", 200, "target"),
            ("/app/keep.txt", 200, "app keep"),
            ("/files/legacy.html", 200, "target"),
            ("/files/db.bak", 403, ""),
            ("/page.txt", 200, "page"),
            ("/page.txt?go", 302, ""),
            ("/lit/page.txt", 200, "lit target"),
            ("/parent/child/old.txt", 200, "child new"),
        ] {
            let (got, text) = fetch(at, path);
            assert_eq!(got, status, "{mpm}: {path} was answered {got}: {text}");
            if status == 200 {
                assert_eq!(text, body, "{mpm}: {path} served another body");
            }
        }
    }
}
