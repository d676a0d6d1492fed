//! `.htaccess` files as the directory walk reads them and keeps them
//! (per host and directory): a change is seen once the file's look is a
//! [`RECHECK`] old, never later, and by every directory below it.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::pipeline::htaccess::{HtaccessRules, OverrideError, OverrideParser, Overrides, RECHECK};

/// A `.htaccess` file's first line is the directory's one
/// `DirectoryIndex` name; counts the files it parsed.
#[derive(Default)]
struct IndexParser(AtomicUsize);

impl OverrideParser for IndexParser {
    fn parse(
        &self,
        text: &[u8],
        _: &Path,
        _: &Path,
        _: &HtaccessRules<'_>,
    ) -> Result<DirConfig, OverrideError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let name = String::from_utf8_lossy(text);
        Ok(DirConfig {
            directory_index: Some(vec![name.lines().next().unwrap_or("").trim().to_string()]),
            ..DirConfig::default()
        })
    }
}

/// A document root (the second value) with `a/`, `a/sub/` and `b/`,
/// each holding `index.html`, `one.html` and `second.html` whose text
/// names the file and its directory, and `a/.htaccess` naming
/// `one.html`.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("htdocs");
    for sub in ["a", "a/sub", "b"] {
        let at = root.join(sub);
        fs::create_dir_all(&at).unwrap();
        for name in ["index.html", "one.html", "second.html"] {
            fs::write(at.join(name), format!("{name} of {sub}")).unwrap();
        }
    }
    fs::write(root.join("a/.htaccess"), "one.html\n").unwrap();
    (dir, root)
}

/// `root` served with `AllowOverride All` there (by `IndexParser`).
fn reading_htaccess(root: &Path) -> (Site, Arc<IndexParser>) {
    let mut main = host(root, Some("main.test"), &[]);
    main.sections = vec![block(root, |b| b.allow_override = Some(Overrides::ALL))];
    let parser = Arc::new(IndexParser::default());
    let site = site(&config(main, Vec::new())).with_overrides(parser.clone());
    (site, parser)
}

#[track_caller]
fn assert_serves(site: &Site, uri: &str, host: &str, want: &str) {
    let response = get(site, uri, &[("host", host)]);
    assert_status(&response, 200, uri);
    assert_eq!(text(response), want, "GET {uri} on {host}");
}

#[test]
fn a_changed_htaccess_is_seen_once_its_look_is_a_second_old_and_not_before() {
    let (_dir, root) = tree();
    let (site, parser) = reading_htaccess(&root);
    for _ in 0..3 {
        assert_serves(&site, "/a/", "main.test", "one.html of a");
        assert_serves(&site, "/a/sub/", "main.test", "one.html of a/sub");
    }
    assert_eq!(parser.0.load(Ordering::SeqCst), 1, "parsed once");
    fs::write(root.join("a/.htaccess"), "second.html\n").unwrap();
    // Within the second of the last look, the file is not looked at.
    assert_serves(&site, "/a/", "main.test", "one.html of a");
    assert_serves(&site, "/a/sub/", "main.test", "one.html of a/sub");
    site.age_htaccess(RECHECK);
    // The subdirectory first: its own walk reads its parent's file.
    assert_serves(&site, "/a/sub/", "main.test", "second.html of a/sub");
    assert_serves(&site, "/a/", "main.test", "second.html of a");
    fs::remove_file(root.join("a/.htaccess")).unwrap();
    site.age_htaccess(RECHECK);
    assert_serves(&site, "/a/", "main.test", "index.html of a");
    assert_serves(&site, "/a/sub/", "main.test", "index.html of a/sub");
}

#[test]
fn a_walk_kept_below_a_changed_htaccess_is_made_again_once_any_request_saw_the_change() {
    let (_dir, root) = tree();
    let (site, _) = reading_htaccess(&root);
    assert_serves(&site, "/a/sub/", "main.test", "one.html of a/sub");
    fs::write(root.join("a/.htaccess"), "second.html\n").unwrap();
    // Only the file's look is old: the walk kept for `a/sub/` is fresh
    // by its clock, but `a/` reads the file again and sees the change.
    site.htaccess.age(RECHECK);
    assert_serves(&site, "/a/", "main.test", "second.html of a");
    assert_serves(&site, "/a/sub/", "main.test", "second.html of a/sub");
}

#[test]
fn each_directory_keeps_its_own_walk() {
    let (_dir, root) = tree();
    let (site, _) = reading_htaccess(&root);
    fs::write(root.join("b/.htaccess"), "second.html\n").unwrap();
    for _ in 0..2 {
        assert_serves(&site, "/a/", "main.test", "one.html of a");
        assert_serves(&site, "/b/", "main.test", "second.html of b");
        assert_serves(&site, "/a/sub/", "main.test", "one.html of a/sub");
        assert_serves(&site, "/a/one.html", "main.test", "one.html of a");
    }
}

#[test]
fn hosts_sharing_a_directory_keep_their_own_walks() {
    let (_dir, root) = tree();
    let mut reads = host(&root, Some("reads.test"), &["*:80"]);
    reads.sections = vec![block(&root, |b| b.allow_override = Some(Overrides::ALL))];
    let ignores = host(&root, Some("ignores.test"), &["*:80"]);
    let cfg = config(host(&root, Some("main.test"), &[]), vec![reads, ignores]);
    let site = site(&cfg).with_overrides(Arc::new(IndexParser::default()));
    for _ in 0..2 {
        assert_serves(&site, "/a/", "reads.test", "one.html of a");
        assert_serves(&site, "/a/", "ignores.test", "index.html of a");
    }
}
