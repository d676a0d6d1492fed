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
