//! The request pipeline through the real `mpmd` under event, prefork and
//! worker: `.htaccess` files (read where `AllowOverride` lets them, seen
//! again when changed, refused with the file and line when they hold what
//! they may not, 403 when unreadable, never sent), the sections merged in
//! Apache's order, and handlers chosen by name.

mod common;

use common::*;

const MPMS: [&str; 3] = ["event", "prefork", "worker"];

/// A site under `mpm` with `sections` after the common directives.
fn serve(site: &Site, mpm: &str, sections: &str) -> (Mpmd, std::net::SocketAddr) {
    let port = free_port();
    let server = start_mpm(site, mpm, port, sections);
    (server, addr(port))
}

/// `GET path`: the status and the body as text.
fn fetch(at: std::net::SocketAddr, path: &str) -> (u16, String) {
    let resp = get(at, "localhost", path);
    (resp.status, resp.text())
}

#[test]
fn a_htaccess_file_is_read_where_allow_override_lets_it_and_seen_again_once_changed() {
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/open/index.html", "index");
        site.write("htdocs/open/start.html", "start");
        site.write("htdocs/open/.htaccess", "DirectoryIndex start.html\n");
        site.write("htdocs/closed/index.html", "index");
        site.write("htdocs/closed/start.html", "start");
        site.write("htdocs/closed/.htaccess", "DirectoryIndex start.html\n");
        let docroot = site.docroot();
        let (_server, at) = serve(
            &site,
            mpm,
            &format!(
                "<Directory {root}>\nAllowOverride Indexes\n</Directory>\n\
                 <Directory {root}/closed>\nAllowOverride None\n</Directory>\n",
                root = docroot.display()
            ),
        );
        assert_eq!(
            fetch(at, "/open/"),
            (200, "start".into()),
            "{mpm}: the .htaccess's DirectoryIndex"
        );
        assert_eq!(
            fetch(at, "/closed/"),
            (200, "index".into()),
            "{mpm}: AllowOverride None: the .htaccess is not read"
        );
        // A changed file (another size) is seen within the recheck second.
        site.write("htdocs/open/.htaccess", "DirectoryIndex   index.html\n");
        let mut last = (0, String::new());
        let seen = wait_for(10.0, || {
            last = fetch(at, "/open/");
            last == (200, "index".to_string())
        });
        assert!(
            seen,
            "{mpm}: the changed .htaccess was not seen; GET /open/ gave {last:?}"
        );
    }
}

#[test]
fn a_directive_a_htaccess_may_not_hold_is_a_500_with_its_file_and_line_in_the_error_log() {
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/dir/index.html", "index");
        site.write("htdocs/top.txt", "top");
        let file = site.write("htdocs/dir/.htaccess", "# Indexes only\nOptions +Indexes\n");
        let (mut server, at) = serve(
            &site,
            mpm,
            &format!(
                "<Directory {}>\nAllowOverride Indexes\n</Directory>\n",
                site.docroot().display()
            ),
        );
        let (status, _) = fetch(at, "/dir/");
        assert_eq!(
            status, 500,
            "{mpm}: a directive AllowOverride does not allow"
        );
        server.wait_log(
            &format!("{}:2: Options not allowed here", file.display()),
            1,
        );
        let (status, _) = fetch(at, "/dir/index.html");
        assert_eq!(status, 500, "{mpm}: every request below the directory");
        assert_eq!(
            fetch(at, "/top.txt"),
            (200, "top".into()),
            "{mpm}: above it, nothing changes"
        );
    }
}

#[test]
fn an_unreadable_htaccess_is_a_403_with_a_line_in_the_error_log() {
    use std::os::unix::fs::PermissionsExt;
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/dir/index.html", "index");
        let file = site.write("htdocs/dir/.htaccess", "DirectoryIndex index.html\n");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
        let (mut server, at) = serve(
            &site,
            mpm,
            &format!(
                "<Directory {}>\nAllowOverride All\n</Directory>\n",
                site.docroot().display()
            ),
        );
        let readable_anyway = std::fs::read(&file).is_ok() && !nix::unistd::geteuid().is_root();
        if readable_anyway {
            // A user whose permissions the file mode does not bind.
            eprintln!("{mpm}: skipped: this user reads a mode 000 file");
            continue;
        }
        let (status, _) = fetch(at, "/dir/index.html");
        assert_eq!(status, 403, "{mpm}: an unreadable .htaccess");
        server.wait_log(
            &format!(
                "{} pcfg_openfile: unable to check htaccess file",
                file.display()
            ),
            1,
        );
    }
}

#[test]
fn a_htaccess_file_is_never_sent_even_where_no_section_denies_it() {
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/.htaccess", "# secret\n");
        let (_server, at) = serve(&site, mpm, "");
        let (status, body) = fetch(at, "/.htaccess");
        assert_eq!(status, 403, "{mpm}: GET /.htaccess gave {body}");
    }
}

#[test]
fn sections_merge_in_apaches_order_files_after_directories_and_locations_last() {
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/sub/secret.txt", "secret");
        site.write("htdocs/sub/old.bak", "backup");
        site.write("htdocs/sub/plain.txt", "plain");
        site.write("htdocs/idx/index.html", "index");
        site.write("htdocs/2024/report.txt", "report");
        let root = site.docroot();
        let (_server, at) = serve(
            &site,
            mpm,
            &format!(
                "<Location /sub/secret.txt>\nRequire all granted\n</Location>\n\
                 <Directory {root}/sub>\n<Files secret.txt>\nRequire all denied\n</Files>\n</Directory>\n\
                 <FilesMatch \"\\.bak$\">\nRequire all denied\n</FilesMatch>\n\
                 <Directory {root}/idx>\n<Files index.html>\nRequire all denied\n</Files>\n</Directory>\n\
                 <DirectoryMatch \"^{root}/[0-9]+$\">\nRequire all denied\n</DirectoryMatch>\n\
                 <Directory {root}/2024>\nRequire all granted\n</Directory>\n",
                root = root.display()
            ),
        );
        for (path, want, why) in [
            ("/sub/plain.txt", 200, "no section refuses it"),
            ("/sub/old.bak", 403, "<FilesMatch> of the server"),
            ("/sub/secret.txt", 200, "<Location> comes after <Files>"),
            ("/idx/", 403, "the index file meets its <Files> section"),
            (
                "/2024/report.txt",
                403,
                "<DirectoryMatch> comes after <Directory>",
            ),
        ] {
            let (status, body) = fetch(at, path);
            assert_eq!(
                status, want,
                "{mpm}: GET {path}: {why}; the body was {body}"
            );
        }
    }
}

#[test]
fn handlers_are_chosen_by_name_and_one_no_module_provides_is_a_500() {
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/page.xyz", "not to be sent as is");
        site.write("htdocs/report.txt", "a file");
        let (mut server, at) = serve(
            &site,
            mpm,
            "AddHandler x-made-up .xyz\n<Files report.txt>\nSetHandler server-status\n</Files>\n",
        );
        let (status, _) = fetch(at, "/page.xyz");
        assert_eq!(status, 500, "{mpm}: a handler no module provides");
        server.wait_log("handler \"x-made-up\" not found for:", 1);
        let (status, body) = fetch(at, "/report.txt");
        assert_eq!(status, 200, "{mpm}");
        assert!(
            body.contains("Server Status"),
            "{mpm}: SetHandler server-status in <Files> gave {body}"
        );
    }
}

#[test]
fn an_error_document_is_served_with_the_errors_status_from_a_local_url_a_remote_one_or_text() {
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/errors/404.html", "custom not found");
        site.write("htdocs/gone/x", "x");
        site.write("htdocs/text/x", "x");
        let root = site.docroot();
        let (_server, at) = serve(
            &site,
            mpm,
            &format!(
                "ErrorDocument 404 /errors/404.html\n\
                 ErrorDocument 403 https://errors.example/forbidden\n\
                 <Directory {root}/text>\nErrorDocument 404 \"Nothing here, sorry\"\n</Directory>\n\
                 <Directory {root}/gone>\nRequire all denied\n</Directory>\n\
                 <Directory {root}/loop>\nErrorDocument 404 /loop/missing\n</Directory>\n",
                root = root.display()
            ),
        );
        assert_eq!(
            fetch(at, "/missing.html"),
            (404, "custom not found".into()),
            "{mpm}: a local ErrorDocument keeps the status"
        );
        let resp = get(at, "localhost", "/gone/x");
        assert_eq!(
            resp.status, 302,
            "{mpm}: a remote ErrorDocument is a redirect"
        );
        assert_eq!(
            resp.header("location"),
            Some("https://errors.example/forbidden")
        );
        assert_eq!(
            fetch(at, "/text/missing"),
            (404, "Nothing here, sorry".into()),
            "{mpm}: a message"
        );
        std::fs::create_dir_all(root.join("loop")).unwrap();
        let (status, body) = fetch(at, "/loop/nothing");
        assert_eq!(status, 404, "{mpm}: an ErrorDocument that fails itself");
        assert!(
            body.contains("Additionally, a 404 Not Found") && body.contains("ErrorDocument"),
            "{mpm}: the page says the ErrorDocument failed too: {body}"
        );
    }
}

#[test]
fn fallback_resource_serves_what_is_missing_and_directory_slash_off_keeps_the_url() {
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/app/front.txt", "front controller");
        site.write("htdocs/app/real.txt", "real file");
        site.write("htdocs/app/dir/index.html", "dir index");
        site.write("htdocs/noslash/index.html", "no slash index");
        let root = site.docroot();
        let (_server, at) = serve(
            &site,
            mpm,
            &format!(
                "<Directory {root}/app>\nFallbackResource /app/front.txt\n</Directory>\n\
                 <Directory {root}/noslash>\nDirectorySlash Off\n</Directory>\n",
                root = root.display()
            ),
        );
        assert_eq!(
            fetch(at, "/app/real.txt"),
            (200, "real file".into()),
            "{mpm}"
        );
        assert_eq!(
            fetch(at, "/app/pretty/permalink?x=1"),
            (200, "front controller".into()),
            "{mpm}: a missing path is served by the FallbackResource"
        );
        let resp = get(at, "localhost", "/app/dir");
        assert_eq!(resp.status, 301, "{mpm}: DirectorySlash On (the default)");
        assert_eq!(resp.header("location"), Some("http://localhost/app/dir/"));
        let resp = get(at, "localhost", "/noslash");
        assert_ne!(resp.status, 301, "{mpm}: DirectorySlash Off: no redirect");
        assert_eq!(
            fetch(at, "/noslash/"),
            (200, "no slash index".into()),
            "{mpm}"
        );
    }
}

#[test]
fn trace_is_echoed_as_apache_does_by_default_and_refused_with_trace_enable_off() {
    for mpm in MPMS {
        let site = Site::new();
        let (_server, at) = serve(&site, mpm, "");
        let resp = raw(
            at,
            b"TRACE /anything HTTP/1.1\r\nHost: localhost\r\nX-Probe: seen\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(resp.status, 200, "{mpm}: TraceEnable On (Apache's default)");
        assert_eq!(resp.header("content-type"), Some("message/http"));
        let echo = resp.text();
        assert!(
            echo.starts_with("TRACE /anything HTTP/1.1\r\n") && echo.contains("x-probe: seen"),
            "{mpm}: the request echoed: {echo:?}"
        );
        let with_body = raw(
            at,
            b"TRACE / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        );
        assert_eq!(with_body.status, 413, "{mpm}: a TRACE with a body");

        let site = Site::new();
        let (_server, at) = serve(&site, mpm, "TraceEnable Off\n");
        let resp = raw(
            at,
            b"TRACE / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(resp.status, 405, "{mpm}: TraceEnable Off");
    }
}

#[test]
fn file_etag_chooses_the_parts_of_the_etag_and_none_leaves_it_out() {
    use std::os::unix::fs::MetadataExt;
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/a/f.txt", "twelve bytes");
        site.write("htdocs/b/f.txt", "twelve bytes");
        site.write("htdocs/c/f.txt", "twelve bytes");
        let root = site.docroot();
        let (_server, at) = serve(
            &site,
            mpm,
            &format!(
                "<Directory {root}/b>\nFileETag INode Size\n</Directory>\n\
                 <Directory {root}/c>\nFileETag None\n</Directory>\n",
                root = root.display()
            ),
        );
        let default = get(at, "localhost", "/a/f.txt");
        let etag = default.header("etag").unwrap_or_default().to_string();
        assert!(
            etag.starts_with("\"c-"),
            "{mpm}: MTime Size by default: {etag}"
        );
        let b = get(at, "localhost", "/b/f.txt");
        let b_meta = std::fs::metadata(root.join("b/f.txt")).unwrap();
        assert_eq!(
            b.header("etag"),
            Some(format!("\"{:x}-c\"", b_meta.ino()).as_str()),
            "{mpm}: INode Size"
        );
        let c = get(at, "localhost", "/c/f.txt");
        assert_eq!(c.status, 200);
        assert_eq!(c.header("etag"), None, "{mpm}: FileETag None");
    }
}

#[test]
fn server_signature_signs_mpmds_own_pages_and_add_charset_names_the_charset() {
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/utf/page.html", "<p>é</p>");
        site.write("htdocs/plain.txt", "plain");
        let root = site.docroot();
        let (_server, at) = serve(
            &site,
            mpm,
            &format!(
                "ServerSignature On\nServerTokens Prod\nAddDefaultCharset utf-8\n\
                 <Directory {root}/utf>\nAddCharset UTF-8 .html\n</Directory>\n",
                root = root.display()
            ),
        );
        let (status, body) = fetch(at, "/missing");
        assert_eq!(status, 404);
        assert!(
            body.contains("<address>mpmd Server at localhost Port "),
            "{mpm}: the signature: {body}"
        );
        let page = get(at, "localhost", "/utf/page.html");
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=UTF-8"),
            "{mpm}"
        );
        let plain = get(at, "localhost", "/plain.txt");
        assert_eq!(
            plain.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "{mpm}: AddDefaultCharset"
        );
    }
}

#[test]
fn if_else_if_and_else_sections_apply_the_first_true_branch_of_their_chain() {
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/f.txt", "file");
        let root = site.docroot();
        let (_server, at) = serve(
            &site,
            mpm,
            &format!(
                "<Directory {root}>\n\
                 <If \"%{{QUERY_STRING}} == 'deny'\">\nRequire all denied\n</If>\n\
                 <ElseIf \"req('X-Probe') =~ /block/i\">\nRequire all denied\n</ElseIf>\n\
                 <Else>\nErrorDocument 404 \"no such file here\"\n</Else>\n\
                 </Directory>\n\
                 <If \"-f %{{REQUEST_FILENAME}} && %{{REQUEST_URI}} == '/f.txt'\">\nForceType text/x-checked\n</If>\n",
                root = root.display()
            ),
        );
        assert_eq!(fetch(at, "/f.txt?deny").0, 403, "{mpm}: <If>");
        let probed = raw(
            at,
            b"GET /f.txt HTTP/1.1\r\nHost: localhost\r\nX-Probe: BLOCK me\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(probed.status, 403, "{mpm}: <ElseIf>");
        let plain = get(at, "localhost", "/f.txt");
        assert_eq!(plain.status, 200, "{mpm}");
        assert_eq!(
            plain.header("content-type"),
            Some("text/x-checked"),
            "{mpm}: a server-level <If> with -f and &&"
        );
        assert_eq!(
            fetch(at, "/missing?deny"),
            (403, fetch(at, "/missing?deny").1),
            "{mpm}: the <If> branch, not <Else>"
        );
        assert_eq!(
            fetch(at, "/missing"),
            (404, "no such file here".into()),
            "{mpm}: <Else>"
        );
    }
}

#[test]
fn listings_follow_index_ignore_index_options_and_show_header_and_readme_files() {
    for mpm in MPMS {
        let site = Site::new();
        site.write("htdocs/list/b.txt", "b");
        site.write("htdocs/list/A.txt", "a");
        site.write("htdocs/list/zdir/x", "x");
        site.write("htdocs/list/notes.bak", "old");
        site.write("htdocs/list/HEADER.html", "<h2>Welcome to the list</h2>");
        site.write("htdocs/list/README.txt", "read <me>");
        let root = site.docroot();
        let (_server, at) = serve(
            &site,
            mpm,
            &format!(
                "<Directory {root}/list>\nOptions +Indexes\nIndexIgnore *.bak\n\
                 IndexOptions FancyIndexing FoldersFirst IgnoreCase\n\
                 HeaderName HEADER.html\nReadmeName README.txt\n</Directory>\n",
                root = root.display()
            ),
        );
        let (status, page) = fetch(at, "/list/");
        assert_eq!(status, 200, "{mpm}: {page}");
        assert!(!page.contains("notes.bak"), "{mpm}: IndexIgnore: {page}");
        assert!(
            page.contains("<h2>Welcome to the list</h2>"),
            "{mpm}: HeaderName: {page}"
        );
        assert!(
            page.contains("read &lt;me&gt;"),
            "{mpm}: ReadmeName, escaped: {page}"
        );
        assert!(
            !page.contains(">HEADER.html<"),
            "{mpm}: the header file is not listed: {page}"
        );
        let order: Vec<usize> = ["zdir/", "A.txt", "b.txt"]
            .iter()
            .map(|name| page.find(&format!(">{name}</a>")).unwrap_or(usize::MAX))
            .collect();
        assert!(
            order[0] < order[1] && order[1] < order[2] && order[2] != usize::MAX,
            "{mpm}: FoldersFirst then IgnoreCase order {order:?}: {page}"
        );
        assert!(
            page.contains("Last modified"),
            "{mpm}: FancyIndexing columns: {page}"
        );
    }
}
