//! Conditional requests and ranges through the real `mpmd` with `curl`,
//! under event, prefork and worker: every precondition of RFC 9110 §13
//! (`If-Match`, `If-Unmodified-Since`, `If-None-Match`,
//! `If-Modified-Since`, `If-Range`) alone and against each other in the
//! order of §13.2.2, and `Range`, for a file read from disk and for the
//! same file kept by `MMapFile` and by `CacheFile`.
//!
//! The answers are those Apache httpd 2.4.71 gave for the same requests on
//! a file of the same size and date, except two where RFC 9110 is
//! followed: `If-Match` that passes with an `If-Unmodified-Since` that
//! does not is 200 (§13.2.2 step 2 skips the date; Apache says 412).
//! Several ranges get the whole file (200), where Apache sends
//! `multipart/byteranges`.

mod common;

use std::fs::File;
use std::time::{Duration, SystemTime};

use common::*;

/// The file's contents: 13 bytes.
const CONTENT: &str = "Hello, world!";
/// Its modification time, `Wed, 01 Jan 2020 00:00:00 GMT`.
const MODIFIED: u64 = 1_577_836_800;
const BEFORE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const FUTURE: &str = "Fri, 01 Jan 2100 00:00:00 GMT";

/// What a response carried.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_range: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
    body: String,
}

/// `curl -i` for `url` with `args` before it: the status, some headers
/// and the body.
fn fetch(url: &str, args: &[&str]) -> Answer {
    let mut all = args.to_vec();
    all.extend(["-i", url]);
    let (code, out, err) = curl(&all);
    assert_eq!(code, 0, "curl {all:?} failed: {err}");
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    Answer {
        status,
        content_range: header("content-range"),
        etag: header("etag"),
        last_modified: header("last-modified"),
        body: body.to_string(),
    }
}

/// The whole file, its first four bytes, nothing.
enum Expect {
    Whole,
    FirstFour,
    Empty,
    /// 416 with `Content-Range: bytes */13`.
    Unsatisfiable,
}

/// One request's headers, in curl's arguments, and the answer expected.
struct Case {
    name: &'static str,
    args: Vec<String>,
    status: u16,
    expect: Expect,
}

/// Every case, for a file whose `ETag` is `etag` and `Last-Modified` is
/// `modified`.
fn cases(etag: &str, modified: &str) -> Vec<Case> {
    let h = |name: &str, value: &str| vec!["-H".to_string(), format!("{name}: {value}")];
    let range = || vec!["-r".to_string(), "0-3".to_string()];
    let both = |a: Vec<String>, b: Vec<String>| [a, b].concat();
    let weak = format!("W/{etag}");
    let case = |name, args, status, expect| Case {
        name,
        args,
        status,
        expect,
    };
    use Expect::*;
    vec![
        case("no condition", vec![], 200, Whole),
        // If-Match: strong comparison, `*`.
        case("If-Match ours", h("If-Match", etag), 200, Whole),
        case(
            "If-Match list",
            h("If-Match", &format!("\"x\", {etag}")),
            200,
            Whole,
        ),
        case("If-Match *", h("If-Match", "*"), 200, Whole),
        case("If-Match other", h("If-Match", "\"x\""), 412, Empty),
        case("If-Match weak ours", h("If-Match", &weak), 412, Empty),
        // If-Unmodified-Since.
        case(
            "If-Unmodified-Since before",
            h("If-Unmodified-Since", BEFORE),
            412,
            Empty,
        ),
        case(
            "If-Unmodified-Since ours",
            h("If-Unmodified-Since", modified),
            200,
            Whole,
        ),
        case(
            "If-Unmodified-Since later",
            h("If-Unmodified-Since", FUTURE),
            200,
            Whole,
        ),
        case(
            "If-Unmodified-Since bad",
            h("If-Unmodified-Since", "yesterday"),
            200,
            Whole,
        ),
        case(
            "If-Match ours + If-Unmodified-Since before",
            both(h("If-Match", etag), h("If-Unmodified-Since", BEFORE)),
            200,
            Whole,
        ),
        // If-None-Match: weak comparison, `*`.
        case("If-None-Match ours", h("If-None-Match", etag), 304, Empty),
        case(
            "If-None-Match weak ours",
            h("If-None-Match", &weak),
            304,
            Empty,
        ),
        case("If-None-Match *", h("If-None-Match", "*"), 304, Empty),
        case(
            "If-None-Match other",
            h("If-None-Match", "\"x\""),
            200,
            Whole,
        ),
        // If-Modified-Since.
        case(
            "If-Modified-Since ours",
            h("If-Modified-Since", modified),
            304,
            Empty,
        ),
        case(
            "If-Modified-Since before",
            h("If-Modified-Since", BEFORE),
            200,
            Whole,
        ),
        case(
            "If-Modified-Since future",
            h("If-Modified-Since", FUTURE),
            200,
            Whole,
        ),
        case(
            "If-Modified-Since bad",
            h("If-Modified-Since", "nope"),
            200,
            Whole,
        ),
        case(
            "If-None-Match other + If-Modified-Since ours",
            both(
                h("If-None-Match", "\"x\""),
                h("If-Modified-Since", modified),
            ),
            200,
            Whole,
        ),
        // 412 before 304.
        case(
            "If-Match other + If-None-Match ours",
            both(h("If-Match", "\"x\""), h("If-None-Match", etag)),
            412,
            Empty,
        ),
        case(
            "If-Unmodified-Since before + If-None-Match ours",
            both(h("If-Unmodified-Since", BEFORE), h("If-None-Match", etag)),
            412,
            Empty,
        ),
        case(
            "If-Unmodified-Since before + If-Modified-Since ours",
            both(
                h("If-Unmodified-Since", BEFORE),
                h("If-Modified-Since", modified),
            ),
            412,
            Empty,
        ),
        // Range and If-Range.
        case("Range", range(), 206, FirstFour),
        case(
            "Range + If-Range ours",
            both(range(), h("If-Range", etag)),
            206,
            FirstFour,
        ),
        case(
            "Range + If-Range our date",
            both(range(), h("If-Range", modified)),
            206,
            FirstFour,
        ),
        case(
            "Range + If-Range other",
            both(range(), h("If-Range", "\"x\"")),
            200,
            Whole,
        ),
        case(
            "Range + If-Range weak ours",
            both(range(), h("If-Range", &weak)),
            200,
            Whole,
        ),
        case(
            "Range + If-Range other date",
            both(range(), h("If-Range", BEFORE)),
            200,
            Whole,
        ),
        case(
            "Range + If-Range bad",
            both(range(), h("If-Range", "garbage")),
            200,
            Whole,
        ),
        case("If-Range without Range", h("If-Range", "\"x\""), 200, Whole),
        case(
            "Range past the end",
            vec!["-r".into(), "100-".into()],
            416,
            Unsatisfiable,
        ),
        case(
            "Range past the end + If-Range other",
            both(vec!["-r".into(), "100-".into()], h("If-Range", "\"x\"")),
            200,
            Whole,
        ),
        case(
            "several ranges",
            vec!["-r".into(), "0-1,3-4".into()],
            200,
            Whole,
        ),
        // Preconditions before the range.
        case(
            "Range + If-None-Match ours",
            both(range(), h("If-None-Match", etag)),
            304,
            Empty,
        ),
        case(
            "Range + If-Match other",
            both(range(), h("If-Match", "\"x\"")),
            412,
            Empty,
        ),
        case(
            "Range + If-Modified-Since before",
            both(range(), h("If-Modified-Since", BEFORE)),
            206,
            FirstFour,
        ),
        // HEAD as GET; other methods.
        case("HEAD + Range", both(vec!["-I".into()], range()), 206, Empty),
        case(
            "HEAD + If-None-Match ours",
            both(vec!["-I".into()], h("If-None-Match", etag)),
            304,
            Empty,
        ),
        case(
            "HEAD + If-Match other",
            both(vec!["-I".into()], h("If-Match", "\"x\"")),
            412,
            Empty,
        ),
        case(
            "POST + If-Match other",
            both(vec!["-X".into(), "POST".into()], h("If-Match", "\"x\"")),
            412,
            Expect::Empty,
        ),
    ]
}

/// Every case against `url`; the mismatches, one line each.
fn check_all(url: &str) -> Vec<String> {
    let plain = fetch(url, &[]);
    let etag = plain.etag.clone().unwrap_or_default();
    let modified = plain.last_modified.clone().unwrap_or_default();
    assert_eq!(
        modified, "Wed, 01 Jan 2020 00:00:00 GMT",
        "{url}: Last-Modified; answer {plain:?}"
    );
    let mut wrong = Vec::new();
    for case in cases(&etag, &modified) {
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let got = fetch(url, &args);
        let body_ok = match case.expect {
            Expect::Whole => got.body == CONTENT && got.content_range.is_none(),
            Expect::FirstFour => {
                got.body == CONTENT[..4] && got.content_range.as_deref() == Some("bytes 0-3/13")
            }
            Expect::Empty => got.body.is_empty(),
            Expect::Unsatisfiable => got.content_range.as_deref() == Some("bytes */13"),
        };
        let validators_ok = !matches!(case.status, 304 | 412)
            || (got.etag.as_deref() == Some(&etag) && got.last_modified.is_some());
        if got.status != case.status || !body_ok || !validators_ok {
            wrong.push(format!(
                "{url} {}: {} {:?} Content-Range {:?} ETag {:?}; want {}",
                case.name, got.status, got.body, got.content_range, got.etag, case.status
            ));
        }
    }
    wrong
}

fn preconditions_and_ranges_follow_rfc_9110(mpm: &str) {
    let site = Site::new();
    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(MODIFIED);
    for name in ["disk.txt", "mmap.txt", "cache.txt"] {
        let path = site.write(&format!("htdocs/{name}"), CONTENT);
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(modified))
            .unwrap();
    }
    let port = free_port();
    let docroot = site.docroot().display().to_string();
    let m = start_mpm(
        &site,
        mpm,
        port,
        &format!("MMapFile {docroot}/mmap.txt\nCacheFile {docroot}/cache.txt"),
    );
    let mut wrong = Vec::new();
    for name in ["disk.txt", "mmap.txt", "cache.txt"] {
        wrong.extend(check_all(&format!("http://127.0.0.1:{port}/{name}")));
    }
    assert!(
        wrong.is_empty(),
        "under {mpm}, {} answers differ from RFC 9110's:\n{}\nstderr:\n{}",
        wrong.len(),
        wrong.join("\n"),
        m.stderr()
    );
}

#[test]
fn preconditions_and_ranges_are_answered_in_rfc_9110_order_under_event() {
    preconditions_and_ranges_follow_rfc_9110("event");
}

#[test]
fn preconditions_and_ranges_are_answered_in_rfc_9110_order_under_prefork() {
    preconditions_and_ranges_follow_rfc_9110("prefork");
}

#[test]
fn preconditions_and_ranges_are_answered_in_rfc_9110_order_under_worker() {
    preconditions_and_ranges_follow_rfc_9110("worker");
}
