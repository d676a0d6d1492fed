//! Reading the configuration through the real `mpmd`: what a broken or
//! hostile file does (`-t` must finish and name the file and line, never
//! hang, eat memory or crash), and bytes that are not UTF-8 (read as
//! Apache reads them: paths name exactly those bytes on disk).

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::*;

/// `mpmd -t -f conf`: (exit code, stderr). `run` kills it after 20 s.
fn check(conf: &Path) -> (i32, String) {
    let (code, _out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
    (code, err)
}

/// The site's configuration with `line` as its second directive (after
/// `Listen`): the line is line 5 of `mpmd.conf` (after the three-line
/// header `Site::config` writes).
fn conf_with(site: &Site, line: impl AsRef<[u8]>) -> std::path::PathBuf {
    let mut text = b"Listen 127.0.0.1:1\n".to_vec();
    text.extend_from_slice(line.as_ref());
    site.config_bytes(&text)
}

/// Assert `-t` failed (exit 1, not a signal) at `file:line` with `message`.
fn assert_refused(conf: &Path, at: &str, message: &str) {
    let (code, err) = check(conf);
    assert_eq!(
        code, 1,
        "-t should refuse the configuration (exit 1) but exited {code}; stderr:\n{err}"
    );
    assert!(
        err.contains(&format!("{at}: ")) && err.contains(message),
        "-t should say `{at}: …{message}…`; it said:\n{err}"
    );
}

#[test]
fn an_include_of_a_fifo_is_refused_at_once_with_its_line() {
    let site = Site::new();
    let fifo = site.path("fifo.conf");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let conf = conf_with(&site, format!("Include {}", fifo.display()));
    assert_refused(
        &conf,
        &format!("{}:5", conf.display()),
        &format!(
            "Include: '{}' is a fifo, not a regular file",
            fifo.display()
        ),
    );
}

#[test]
fn a_fifo_given_as_the_configuration_file_is_refused_at_once() {
    let site = Site::new();
    let fifo = site.path("mpmd.conf");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let (code, err) = check(&fifo);
    assert_eq!(code, 1, "-t should refuse a fifo; stderr:\n{err}");
    assert!(
        err.contains(&format!(
            "'{}' is a fifo, not a regular file",
            fifo.display()
        )),
        "{err}"
    );
}

#[test]
fn an_include_of_dev_zero_is_refused_instead_of_read_without_end() {
    let site = Site::new();
    let conf = conf_with(&site, "Include /dev/zero");
    assert_refused(
        &conf,
        &format!("{}:5", conf.display()),
        "Include: '/dev/zero' is a character device, not a regular file",
    );
}

#[test]
fn an_included_directory_holding_symlinks_to_itself_is_refused_instead_of_walked_forever() {
    let site = Site::new();
    site.write("conf.d/a.conf", "ServerAdmin a@example.com\n");
    // Two links: each level doubles the walk (2^40 before ELOOP stops it).
    for link in ["again", "self"] {
        std::os::unix::fs::symlink(".", site.path("conf.d").join(link)).unwrap();
    }
    let conf = conf_with(&site, "Include conf.d/");
    assert_refused(
        &conf,
        &format!("{}:5", conf.display()),
        &format!(
            "directory '{}' leads back to '{}'",
            site.path("conf.d/again").display(),
            site.path("conf.d").canonicalize().unwrap().display()
        ),
    );
}

#[test]
fn ten_thousand_nested_sections_are_refused_at_the_first_one_too_deep_without_crashing() {
    let site = Site::new();
    let n = 10_000;
    let nested = "<IfModule !x>\n".repeat(n) + &"</IfModule>\n".repeat(n);
    let conf = conf_with(&site, nested);
    // The 64th nested section is fine; the 65th (line 5 + 64) is not.
    assert_refused(
        &conf,
        &format!("{}:69", conf.display()),
        "<IfModule> is nested too deeply: 64 sections and Includes enclose it",
    );
}

#[test]
fn sections_in_an_included_file_count_with_the_sections_around_the_include() {
    let site = Site::new();
    let open = "<IfModule !x>\n".repeat(40);
    let close = "</IfModule>\n".repeat(40);
    site.write("inner.conf", format!("{open}{close}"));
    let conf = conf_with(&site, format!("{open}Include inner.conf\n{close}"));
    // 40 around the Include, the Include itself, then the 24th section of
    // inner.conf is the 65th level.
    assert_refused(
        &conf,
        &format!("{}:24", site.path("inner.conf").display()),
        "<IfModule> is nested too deeply",
    );
}

#[test]
fn an_included_file_larger_than_16_mib_is_refused_without_reading_it() {
    let site = Site::new();
    let big = site.path("big.conf");
    // Sparse: no disk space, and a reader that read it all would take a
    // while and 16 MiB of memory; it is refused from its size.
    std::fs::File::create(&big)
        .unwrap()
        .set_len((16 << 20) + 1)
        .unwrap();
    let conf = conf_with(&site, "Include big.conf");
    assert_refused(
        &conf,
        &format!("{}:5", conf.display()),
        &format!(
            "Include: '{}' is larger than 16 MiB, mpmd's limit for one configuration file",
            big.display()
        ),
    );
}

#[test]
fn latin1_paths_in_the_configuration_serve_the_files_at_those_exact_bytes_under_every_mpm() {
    for mpm in ["event", "prefork", "worker"] {
        let site = Site::new();
        // "café" and "über" in Latin-1: é is 0xe9, ü is 0xfc.
        let docroot = site.mkdir(OsStr::from_bytes(b"caf\xe9"));
        std::fs::write(docroot.join("index.html"), "the Latin-1 document root").unwrap();
        let aliased = site.mkdir(OsStr::from_bytes(b"\xfcber"));
        std::fs::write(aliased.join("f.txt"), "the Latin-1 alias").unwrap();
        let port = free_port();
        let mut conf = format!(
            "LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so\nListen 127.0.0.1:{port}\n\
             ServerName localhost\nStartServers 1\n"
        )
        .into_bytes();
        conf.extend_from_slice(b"# Ein Kommentar f\xfcr die Seite (Latin-1)\n");
        conf.extend_from_slice(b"DocumentRoot \"");
        conf.extend_from_slice(docroot.as_os_str().as_bytes());
        conf.extend_from_slice(b"\"\nAlias /u/ ");
        conf.extend_from_slice(aliased.as_os_str().as_bytes());
        conf.extend_from_slice(b"/\n");
        let conf = site.config_bytes(&conf);
        let m = start(&site, &conf);
        for (path, want) in [
            ("/", "the Latin-1 document root"),
            ("/u/f.txt", "the Latin-1 alias"),
        ] {
            let resp = get(addr(port), "localhost", path);
            assert_eq!(
                (resp.status, resp.text()),
                (200, want.to_string()),
                "{mpm}: GET {path}; stderr:\n{}",
                m.stderr()
            );
        }
    }
}

#[test]
fn a_value_that_must_be_text_but_holds_latin1_is_refused_naming_its_line() {
    let site = Site::new();
    let conf = conf_with(
        &site,
        b"# caf\xe9 is fine in a comment\nServerName caf\xe9.example\n",
    );
    assert_refused(
        &conf,
        &format!("{}:6", conf.display()),
        "ServerName: 'caf\u{fffd}.example' is not UTF-8 text, and only file paths may hold other bytes",
    );
}
