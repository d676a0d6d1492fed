//! `uri_path`: `mpmd::site::uri_path::normalise`, the request path made
//! safe to map onto a filesystem. Input: the path as the request target
//! holds it (bytes that are not UTF-8 are replaced, as the server only
//! ever passes text).
//!
//! Properties of an accepted path (the normalised bytes):
//!
//! 1. It never leaves the root: it starts with `/`; between slashes every
//!    segment is non-empty, not `.` or `..`, and holds no NUL and no
//!    backslash (an empty segment only as the trailing `/`); and a
//!    document root joined with it stays below that root, every component
//!    after the root an ordinary name.
//! 2. No segment starts with `.ht` (those are refused with 403).
//! 3. It is a fixed point: escaped for a URL (`escape_path`, as the
//!    server writes `Location` and listing links) and normalised again, it
//!    comes back unchanged — a link the server writes leads where it says.
//! 4. A path already in normal form (segments of plain characters, no
//!    `.`/`..`, no `%`, no doubled slash) is accepted unchanged.
//!
//! A refused path gets 400, 403 or 404, nothing else.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use mpmd::site::uri_path::{escape_path, normalise};

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    match normalise(&raw, &mut out) {
        Ok(()) => {
            check_below_root(&raw, &out);
            check_fixed_point(&raw, &out);
        }
        Err(status) => {
            assert!(
                matches!(status.as_u16(), 400 | 403 | 404),
                "{raw:?} refused with {status}"
            );
            assert!(
                !already_normal(&raw),
                "{raw:?} is already normal but was refused with {status}"
            );
        }
    }
    if already_normal(&raw) {
        assert_eq!(
            String::from_utf8_lossy(&out),
            raw,
            "an already normal path was changed"
        );
    }
});

fn check_below_root(raw: &str, out: &[u8]) {
    let shown = String::from_utf8_lossy(out);
    assert!(out.starts_with(b"/"), "{raw:?} → {shown:?}: not absolute");
    // Between the leading `/` and an optional trailing one.
    let inner = &out[1..];
    let inner = if inner.len() > 1 {
        inner.strip_suffix(b"/").unwrap_or(inner)
    } else {
        inner
    };
    if !inner.is_empty() {
        for segment in inner.split(|&b| b == b'/') {
            assert!(
                !matches!(segment, b"" | b"." | b".."),
                "{raw:?} → {shown:?}: segment {:?} left in",
                String::from_utf8_lossy(segment)
            );
            assert!(
                !segment.contains(&0) && !segment.contains(&b'\\'),
                "{raw:?} → {shown:?}: NUL or backslash left in"
            );
            assert!(
                !segment.starts_with(b".ht"),
                "{raw:?} → {shown:?}: a .ht segment was accepted"
            );
        }
    }

    // Joined to a document root the way static files are found.
    let root = Path::new("/srv/www");
    let joined = root.join(bytes_path(inner));
    assert!(
        joined.starts_with(root),
        "{raw:?} → {shown:?}: {} is not below {}",
        joined.display(),
        root.display()
    );
    let below = joined.strip_prefix(root).unwrap_or(Path::new(""));
    for c in below.components() {
        assert!(
            matches!(c, Component::Normal(_)),
            "{raw:?} → {shown:?}: joined to {} it holds {c:?}",
            root.display()
        );
    }
}

fn check_fixed_point(raw: &str, out: &[u8]) {
    let link = escape_path(out).to_string();
    let mut again = Vec::new();
    let result = normalise(&link, &mut again);
    assert!(
        result.is_ok() && again == out,
        "{raw:?} → {:?}, escaped {link:?} → {:?} {:?}: not a fixed point",
        String::from_utf8_lossy(out),
        result,
        String::from_utf8_lossy(&again)
    );
}

/// `/` and segments of unreserved characters (no `%`, no `.`-only
/// segments, no `.ht` prefix), no doubled slash.
fn already_normal(raw: &str) -> bool {
    if raw.contains("//") {
        return false;
    }
    let Some(rest) = raw.strip_prefix('/') else {
        return false;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.is_empty()
        || rest.split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && !s.starts_with(".ht")
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        })
}

#[cfg(unix)]
fn bytes_path(b: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(b))
}
