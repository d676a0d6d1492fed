//! The request path made safe to map onto a filesystem: percent-decoded,
//! with `.` and `..` resolved and the forms Apache refuses refused.
//!
//! - a bad escape (`%zz`, `%4`) → 400;
//! - `%00` → 404, and an encoded slash `%2F` → 404 (Apache with
//!   `AllowEncodedSlashes Off`);
//! - a backslash, raw or encoded → 404: on Unix it is an ordinary byte, but
//!   it is how traversal is spelled against Windows servers, and no file
//!   we serve should need it;
//! - `..` that would climb above `/` → 400, other `.`/`..` resolve (after
//!   decoding, so `%2e%2e` is `..`);
//! - repeated slashes merge (Apache's `MergeSlashes On`);
//! - any segment starting with `.ht` → 403 (`.htaccess`, `.htpasswd`).

use http::StatusCode;
use percent_encoding::{AsciiSet, CONTROLS};

/// Bytes escaped when a decoded path goes back into a URL (`Location`,
/// listing links): controls, space, non-ASCII and the characters that
/// would end or change a path (`? #  %` …).
pub const PATH_ESCAPE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// `path` (decoded bytes) escaped for a URL.
pub fn escape_path(path: &[u8]) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::percent_encode(path, PATH_ESCAPE)
}

/// Decode and normalise `raw` (an origin-form path starting with `/`) into
/// `out` (cleared first). The result starts with `/`, has no empty, `.` or
/// `..` segment, and ends with `/` when the request did (or when its last
/// segment was `.` or `..`). On refusal, the status to answer.
pub fn normalise(raw: &str, out: &mut Vec<u8>) -> Result<(), StatusCode> {
    out.clear();
    if is_plain(raw.as_bytes()) {
        // Already what the loop below would make of it, byte for byte.
        out.extend_from_slice(raw.as_bytes());
        return Ok(());
    }
    normalise_segments(raw, out)
}

/// [`normalise`]'s answer for `raw`, borrowed from `raw` itself when it
/// is already in that form (nearly every request's path: no copy, no
/// allocation), else made in `buf`.
pub fn normalised<'a>(raw: &'a str, buf: &'a mut Vec<u8>) -> Result<&'a [u8], StatusCode> {
    if is_plain(raw.as_bytes()) {
        return Ok(raw.as_bytes());
    }
    normalise_segments(raw, buf)?;
    Ok(buf)
}

/// [`normalise`] segment by segment, for any path.
fn normalise_segments(raw: &str, out: &mut Vec<u8>) -> Result<(), StatusCode> {
    out.clear();
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(StatusCode::BAD_REQUEST);
    };
    let mut trailing = false;
    for raw_segment in rest.split('/') {
        let start = out.len();
        out.push(b'/');
        decode_into(raw_segment.as_bytes(), out)?;
        match &out[start + 1..] {
            b"" | b"." => {
                out.truncate(start);
                trailing = true;
            }
            b".." => {
                out.truncate(start);
                match out.iter().rposition(|&b| b == b'/') {
                    Some(parent) => out.truncate(parent),
                    None => return Err(StatusCode::BAD_REQUEST),
                }
                trailing = true;
            }
            _ => trailing = false,
        }
    }
    if out.is_empty() || trailing {
        out.push(b'/');
    }
    if out
        .split(|&b| b == b'/')
        .any(|segment| segment.starts_with(b".ht"))
    {
        return Err(StatusCode::FORBIDDEN);
    }
    Ok(())
}

/// Whether [`normalise`] refuses `raw` or makes of it a path that does
/// not end with `/` (a file's, not a directory's), told from its last
/// segment alone: one that is not empty, `.` or `..`, and has no escape
/// (which could decode to one of those). A quick look for callers that
/// only need to know that (`Site::answer_never_blocks`); `false` says
/// nothing.
pub fn names_a_file(raw: &str) -> bool {
    let raw = raw.as_bytes();
    let last = match raw.iter().rposition(|&b| b == b'/') {
        Some(slash) => &raw[slash + 1..],
        None => raw,
    };
    !matches!(last, b"" | b"." | b"..") && !last.contains(&b'%')
}

/// A path [`normalise`] leaves as it is: it starts with `/` and has no
/// escape, no empty segment before the last, no segment starting with `.`
/// (so no `.`, `..` or `.ht*`), no backslash and no NUL. Most requests'
/// paths are (`/`, `/hello`, `/static/4k.bin`, `/blog/`): one pass over
/// the bytes instead of a decode and a copy segment by segment.
fn is_plain(raw: &[u8]) -> bool {
    if raw.first() != Some(&b'/') {
        return false;
    }
    // One pass; an ordinary byte costs one look in the table.
    let mut after_slash = false;
    for &b in raw {
        if !SPECIAL[usize::from(b)] {
            after_slash = false;
            continue;
        }
        match b {
            b'/' | b'.' if after_slash => return false,
            b'/' => after_slash = true,
            b'.' => after_slash = false,
            _ => return false,
        }
    }
    true
}

/// The bytes [`is_plain`] looks at: `/`, `.`, `%`, `\` and NUL.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    table[b'/' as usize] = true;
    table[b'.' as usize] = true;
    table[b'%' as usize] = true;
    table[b'\\' as usize] = true;
    table[0] = true;
    table
};

fn decode_into(segment: &[u8], out: &mut Vec<u8>) -> Result<(), StatusCode> {
    let mut i = 0;
    while i < segment.len() {
        let byte = match segment[i] {
            b'%' => {
                let hi = segment.get(i + 1).and_then(|&c| hex(c));
                let lo = segment.get(i + 2).and_then(|&c| hex(c));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        i += 3;
                        hi << 4 | lo
                    }
                    _ => return Err(StatusCode::BAD_REQUEST),
                }
            }
            c => {
                i += 1;
                c
            }
        };
        if matches!(byte, 0 | b'/' | b'\\') {
            return Err(StatusCode::NOT_FOUND);
        }
        out.push(byte);
    }
    Ok(())
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Whether `path` starts with `prefix` on a segment boundary: `/a` covers
/// `/a`, `/a/` and `/a/b` but not `/ab`; a prefix ending in `/` covers
/// everything below it.
pub fn segment_prefix(path: &[u8], prefix: &[u8]) -> bool {
    path.starts_with(prefix)
        && (path.len() == prefix.len() || prefix.ends_with(b"/") || path[prefix.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_borrowed_form_is_what_normalise_makes() {
        for raw in [
            "/", "/hello", "/a/b/", "/a//b", "/a/./b", "/a/../b", "/%41b", "/a%2fb", "/..", "x",
            "/a/b/..", "/é",
        ] {
            let mut made = Vec::new();
            let want = normalise(raw, &mut made).map(|()| made);
            let mut buf = Vec::new();
            let got = normalised(raw, &mut buf).map(<[u8]>::to_vec);
            assert_eq!(got, want, "{raw:?}");
        }
    }

    fn norm(raw: &str) -> Result<String, StatusCode> {
        let mut out = Vec::new();
        normalise(raw, &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn dot_segments_resolve_below_the_root() {
        assert_eq!(norm("/a/./b/../c"), Ok("/a/c".into()));
        assert_eq!(norm("/a/b/.."), Ok("/a/".into()));
        assert_eq!(norm("/a/%2e%2E/b"), Ok("/b".into()));
        assert_eq!(norm("//a///b/"), Ok("/a/b/".into()));
        assert_eq!(norm("/"), Ok("/".into()));
        assert_eq!(norm("/a/.."), Ok("/".into()));
    }

    #[test]
    fn climbing_above_the_root_is_a_bad_request() {
        assert_eq!(norm("/.."), Err(StatusCode::BAD_REQUEST));
        assert_eq!(norm("/a/../../etc/passwd"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(norm("/%2e%2e/etc/passwd"), Err(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn refused_escapes_get_apaches_statuses() {
        assert_eq!(norm("/a%zz"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(norm("/a%4"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(norm("/a%00b"), Err(StatusCode::NOT_FOUND));
        assert_eq!(norm("/a%2fb"), Err(StatusCode::NOT_FOUND));
        assert_eq!(norm("/a%5c..%5cb"), Err(StatusCode::NOT_FOUND));
        assert_eq!(norm("/a\\b"), Err(StatusCode::NOT_FOUND));
        assert_eq!(norm("/x/.htaccess"), Err(StatusCode::FORBIDDEN));
        assert_eq!(norm("/%2ehtpasswd"), Err(StatusCode::FORBIDDEN));
        assert_eq!(norm("a"), Err(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn decoding_keeps_other_bytes() {
        assert_eq!(norm("/a%20b/%C3%A9"), Ok("/a b/é".into()));
        assert_eq!(norm("/.hello"), Ok("/.hello".into()));
    }

    #[test]
    fn a_path_said_to_name_a_file_is_refused_or_normalised_without_a_trailing_slash() {
        let cases = [
            "/",
            "/a",
            "/a/",
            "/a/.",
            "/a/..",
            "/a/b.txt",
            "/a/%2e",
            "/a/%2e%2e",
            "/a%2f",
            "/.",
            "/..",
            "/a/.b",
            "/a/..b",
            "/a//b",
            "/a/./b",
            "/x/../y",
            "/a%zz",
            "a",
            "/.htaccess",
            "/a/b/",
            "/a/b/%2F",
        ];
        for raw in cases {
            if names_a_file(raw) {
                assert!(
                    !norm(raw).is_ok_and(|path| path.ends_with('/')),
                    "{raw} was said to name a file but normalises to {:?}",
                    norm(raw)
                );
            }
        }
        assert!(names_a_file("/hello") && names_a_file("/static/4k.bin"));
        assert!(!names_a_file("/a/") && !names_a_file("/a/.") && !names_a_file("/a/%2e"));
    }

    /// The fast path for plain paths answers as the full decode does.
    #[test]
    fn plain_paths_are_normalised_as_the_full_pass_would() {
        let cases = [
            "/",
            "/a",
            "/a/",
            "/a/b.txt",
            "/a.b/c",
            "/a./b",
            "/a..",
            "/.a",
            "/a/.b",
            "//",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/..",
            "/.htaccess",
            "/a%20b",
            "/a\\b",
            "/a\0b",
            "/x/",
            "/x.ht/y",
            "/é",
            "",
            "a",
            "/a/b/c/d/e/f/g/",
        ];
        for raw in cases {
            let (mut fast, mut full) = (Vec::new(), vec![b'x']);
            let got = normalise(raw, &mut fast).map(|()| fast);
            let slow = normalise_segments(raw, &mut full).map(|()| full);
            assert_eq!(got, slow, "{raw:?}: fast and full pass differ");
        }
    }

    #[test]
    fn segment_prefix_respects_boundaries() {
        assert!(segment_prefix(b"/a", b"/a"));
        assert!(segment_prefix(b"/a/b", b"/a"));
        assert!(!segment_prefix(b"/ab", b"/a"));
        assert!(segment_prefix(b"/a/b", b"/a/"));
        assert!(segment_prefix(b"/anything", b"/"));
    }
}
