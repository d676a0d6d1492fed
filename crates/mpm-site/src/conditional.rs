//! Conditional requests and byte ranges of a static representation
//! (RFC 9110 §13 and §14), as pure functions: the request's header values
//! as bytes in, a typed decision out. Nothing here touches a file or a
//! clock, so every order and edge can be tested, and fuzzed, alone (as
//! `mpm_site::conditional`; the module uses only `std` and `httpdate`).
//! The entry points are [`evaluate`] and [`parse_range`].
//!
//! [`evaluate`] takes the preconditions in the order of RFC 9110 §13.2.2:
//!
//! 1. `If-Match` (strong comparison, `*` = any current representation):
//!    false → 412;
//! 2. only without `If-Match`, `If-Unmodified-Since`: modified after the
//!    date → 412 (an invalid date is ignored);
//! 3. `If-None-Match` (weak comparison, `*`): false → 304 for GET and
//!    HEAD, 412 for other methods;
//! 4. only without `If-None-Match`, for GET and HEAD, `If-Modified-Since`:
//!    not modified since the date → 304 (an invalid date, or one later
//!    than now, is ignored, as Apache does);
//! 5. for GET and HEAD with `Range`: `If-Range` (a strong entity tag equal
//!    to ours, or exactly our `Last-Modified`) decides between the range
//!    (206, or 416 when it is past the end) and the whole (200).
//!
//! Where Apache httpd 2.4 differs, RFC 9110 is followed: Apache also
//! checks `If-Unmodified-Since` when `If-Match` passed (step 2 says not
//! to). As in Apache, a HEAD with `Range` is answered as the GET would be
//! (206 headers).
//!
//! Several header fields of one name are given joined by `, ` (a list's
//! members, RFC 9110 §5.3); for a date that makes the value invalid, and
//! the field is ignored, as §13.1.3 and §13.1.4 ask.
//!
//! Multiple ranges (`bytes=0-1,5-6`) are answered with the whole
//! representation (200): `multipart/byteranges` is not supported, which
//! RFC 9110 §14.2 allows.

/// The request's conditional header fields and `Range`, each the raw field
/// value (several fields of one name joined by `, `); `None` when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a [u8]>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a [u8]>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a [u8]>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a [u8]>,
    /// `If-Range`.
    pub if_range: Option<&'a [u8]>,
    /// `Range`.
    pub range: Option<&'a [u8]>,
}

/// The selected representation, as its validators describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Representation<'a> {
    /// The `ETag` value sent with it (`"…"` or `W/"…"`), if any.
    pub etag: Option<&'a [u8]>,
    /// Its `Last-Modified` time, in seconds since the Unix epoch, if any.
    pub last_modified: Option<u64>,
    /// Its length in bytes.
    pub len: u64,
}

/// What to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// 200 with the whole representation.
    Whole,
    /// 206 with bytes `first..=last` (`first <= last < len`).
    Part {
        /// The first byte's offset.
        first: u64,
        /// The last byte's offset (included).
        last: u64,
    },
    /// 304: the client's copy is current.
    NotModified,
    /// 412: a precondition failed.
    PreconditionFailed,
    /// 416: the range starts past the end (`Content-Range: bytes */len`).
    RangeNotSatisfiable,
}

/// What a `Range` field value asks of a representation of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAsk {
    /// No range, an invalid one, another unit, or several: everything.
    Whole,
    /// Bytes `first..=last`, within the representation.
    Part {
        /// The first byte's offset.
        first: u64,
        /// The last byte's offset (included).
        last: u64,
    },
    /// The range starts at or past the end (or asks for 0 final bytes).
    Unsatisfiable,
}

/// The answer to a request by `method` (`GET`, `HEAD`, …) with
/// `conditions` for `representation`, `now` seconds after the Unix epoch
/// (to ignore `If-Modified-Since` dates in the future).
pub fn evaluate(
    method: &str,
    conditions: &Conditions<'_>,
    representation: &Representation<'_>,
    now: u64,
) -> Decision {
    let read = method == "GET" || method == "HEAD";
    let modified = representation.last_modified;
    if let Some(value) = conditions.if_match {
        if !if_match(value, representation.etag) {
            return Decision::PreconditionFailed;
        }
    } else if let (Some(date), Some(modified)) =
        (conditions.if_unmodified_since.and_then(http_date), modified)
    {
        if modified > date {
            return Decision::PreconditionFailed;
        }
    }
    if let Some(value) = conditions.if_none_match {
        if !if_none_match(value, representation.etag) {
            return if read {
                Decision::NotModified
            } else {
                Decision::PreconditionFailed
            };
        }
    } else if let (true, Some(date), Some(modified)) = (
        read,
        conditions.if_modified_since.and_then(http_date),
        modified,
    ) {
        if date <= now && modified <= date {
            return Decision::NotModified;
        }
    }
    let Some(range) = conditions.range.filter(|_| read) else {
        return Decision::Whole;
    };
    if conditions
        .if_range
        .is_some_and(|value| !if_range(value, representation))
    {
        return Decision::Whole;
    }
    match parse_range(range, representation.len) {
        RangeAsk::Whole => Decision::Whole,
        RangeAsk::Part { first, last } => Decision::Part { first, last },
        RangeAsk::Unsatisfiable => Decision::RangeNotSatisfiable,
    }
}

/// `If-Match`: `*`, or a listed tag that strongly matches `etag`.
fn if_match(value: &[u8], etag: Option<&[u8]>) -> bool {
    if trim(value) == b"*" {
        return true;
    }
    let Some(ours) = etag.and_then(one_tag) else {
        return false;
    };
    tags(value).any(|tag| tag.strong_eq(&ours))
}

/// `If-None-Match`: true unless `*`, or a listed tag weakly matches `etag`.
pub(crate) fn if_none_match(value: &[u8], etag: Option<&[u8]>) -> bool {
    if trim(value) == b"*" {
        return false;
    }
    let Some(ours) = etag.and_then(one_tag) else {
        return true;
    };
    !tags(value).any(|tag| tag.opaque == ours.opaque)
}

/// `If-Range`: an entity tag strongly equal to ours, or an HTTP-date
/// exactly our `Last-Modified`; anything else is false.
fn if_range(value: &[u8], representation: &Representation<'_>) -> bool {
    let value = trim(value);
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        return match (one_tag(value), representation.etag.and_then(one_tag)) {
            (Some(theirs), Some(ours)) => theirs.strong_eq(&ours),
            _ => false,
        };
    }
    http_date(value).is_some_and(|date| Some(date) == representation.last_modified)
}

/// An entity tag: `W/` or not, and the quoted opaque part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag<'a> {
    weak: bool,
    /// With its quotes.
    opaque: &'a [u8],
}

impl Tag<'_> {
    /// Strong comparison: neither weak, and the same characters.
    fn strong_eq(&self, other: &Tag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }
}

/// The entity tags of a list (`"a", W/"b"`), up to the first thing that
/// is not one (RFC 9110 §8.8.3: `etagc` is `!` or `#`-`~` or obs-text,
/// so a tag may hold a comma: the list is read tag by tag, not split).
fn tags(mut value: &[u8]) -> impl Iterator<Item = Tag<'_>> {
    std::iter::from_fn(move || {
        let start = value
            .iter()
            .position(|&b| !matches!(b, b' ' | b'\t' | b','))?;
        let (tag, len) = tag_at(&value[start..])?;
        value = &value[start + len..];
        Some(tag)
    })
}

/// The value as exactly one entity tag (with optional whitespace around).
fn one_tag(value: &[u8]) -> Option<Tag<'_>> {
    let value = trim(value);
    match tag_at(value)? {
        (tag, len) if len == value.len() => Some(tag),
        _ => None,
    }
}

/// The entity tag at the start of `s` and the bytes it takes.
fn tag_at(s: &[u8]) -> Option<(Tag<'_>, usize)> {
    let (weak, rest) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let inner = rest.strip_prefix(b"\"")?;
    let close = inner.iter().position(|&b| b == b'"')?;
    if !inner[..close].iter().all(|&b| b == 0x21 || b >= 0x23) || inner[..close].contains(&0x7f) {
        return None;
    }
    let opaque = &rest[..close + 2];
    Some((Tag { weak, opaque }, s.len() - rest.len() + close + 2))
}

/// An HTTP-date (any of the three forms) in seconds since the epoch.
fn http_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(trim(value)).ok()?;
    let time = httpdate::parse_http_date(text).ok()?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// What the `Range` field value `value` asks of a representation of
/// `len` bytes: one `bytes` range (`first-last`, `first-`, `-suffix`);
/// anything else (another unit, several ranges, a malformed or reversed
/// range) asks for the whole.
pub fn parse_range(value: &[u8], len: u64) -> RangeAsk {
    let value = trim(value);
    let Some(spec) = value
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case(b"bytes="))
        .map(|_| trim(&value[6..]))
    else {
        return RangeAsk::Whole;
    };
    if spec.contains(&b',') {
        return RangeAsk::Whole;
    }
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return RangeAsk::Whole;
    };
    let (first, last) = (trim(&spec[..dash]), trim(&spec[dash + 1..]));
    if first.is_empty() {
        return match number(last) {
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if len == 0 => RangeAsk::Unsatisfiable,
            Some(suffix) => RangeAsk::Part {
                first: len.saturating_sub(suffix),
                last: len - 1,
            },
            None => RangeAsk::Whole,
        };
    }
    let Some(first) = number(first) else {
        return RangeAsk::Whole;
    };
    let last = if last.is_empty() {
        None
    } else {
        match number(last) {
            Some(last) if last >= first => Some(last),
            _ => return RangeAsk::Whole,
        }
    };
    if first >= len {
        return RangeAsk::Unsatisfiable;
    }
    RangeAsk::Part {
        first,
        last: last.map_or(len - 1, |last| last.min(len - 1)),
    }
}

/// A decimal number of digits only (no sign, no space), if it fits.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `value` without spaces and tabs around it.
fn trim(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| matches!(b, b' ' | b'\t');
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &[u8] = b"\"d-59b08c1fa4000\"";
    /// `Wed, 01 Jan 2020 00:00:00 GMT`.
    const MODIFIED: u64 = 1_577_836_800;
    const MODIFIED_DATE: &[u8] = b"Wed, 01 Jan 2020 00:00:00 GMT";
    const BEFORE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";
    const AFTER: &[u8] = b"Fri, 01 Jan 2021 00:00:00 GMT";
    const NOW: u64 = 1_700_000_000;
    const FUTURE: &[u8] = b"Fri, 01 Jan 2100 00:00:00 GMT";

    fn file() -> Representation<'static> {
        Representation {
            etag: Some(ETAG),
            last_modified: Some(MODIFIED),
            len: 13,
        }
    }

    fn decide(method: &str, conditions: Conditions<'_>) -> Decision {
        evaluate(method, &conditions, &file(), NOW)
    }

    fn get(conditions: Conditions<'_>) -> Decision {
        decide("GET", conditions)
    }

    const RANGE: Option<&[u8]> = Some(b"bytes=0-3");
    const PART: Decision = Decision::Part { first: 0, last: 3 };

    #[test]
    fn if_match_compares_strongly_and_star_matches_any() {
        let with = |v: &'static [u8]| {
            get(Conditions {
                if_match: Some(v),
                ..Default::default()
            })
        };
        assert_eq!(with(ETAG), Decision::Whole);
        assert_eq!(
            with(b"\"x\", \"d-59b08c1fa4000\""),
            Decision::Whole,
            "in a list"
        );
        assert_eq!(with(b"*"), Decision::Whole);
        assert_eq!(with(b"\"x\""), Decision::PreconditionFailed);
        assert_eq!(
            with(b"W/\"d-59b08c1fa4000\""),
            Decision::PreconditionFailed,
            "weak"
        );
        assert_eq!(
            with(b"d-59b08c1fa4000"),
            Decision::PreconditionFailed,
            "unquoted"
        );
        let no_etag = Representation {
            etag: None,
            ..file()
        };
        let conditions = Conditions {
            if_match: Some(ETAG),
            ..Default::default()
        };
        assert_eq!(
            evaluate("GET", &conditions, &no_etag, NOW),
            Decision::PreconditionFailed
        );
    }

    #[test]
    fn if_unmodified_since_fails_after_a_change_and_only_without_if_match() {
        let with = |v: &'static [u8]| {
            get(Conditions {
                if_unmodified_since: Some(v),
                ..Default::default()
            })
        };
        assert_eq!(with(BEFORE), Decision::PreconditionFailed);
        assert_eq!(with(MODIFIED_DATE), Decision::Whole, "the same second");
        assert_eq!(with(AFTER), Decision::Whole);
        assert_eq!(with(b"yesterday"), Decision::Whole, "invalid: ignored");
        let both = Conditions {
            if_match: Some(ETAG),
            if_unmodified_since: Some(BEFORE),
            ..Default::default()
        };
        assert_eq!(
            get(both),
            Decision::Whole,
            "If-Match decides (§13.2.2 step 2)"
        );
    }

    #[test]
    fn if_none_match_compares_weakly_and_fails_with_304_or_412_by_method() {
        let with = |method, v: &'static [u8]| {
            decide(
                method,
                Conditions {
                    if_none_match: Some(v),
                    ..Default::default()
                },
            )
        };
        assert_eq!(with("GET", ETAG), Decision::NotModified);
        assert_eq!(with("HEAD", ETAG), Decision::NotModified);
        assert_eq!(
            with("GET", b"W/\"d-59b08c1fa4000\""),
            Decision::NotModified,
            "weak"
        );
        assert_eq!(
            with("GET", b"\"a,b\", \"d-59b08c1fa4000\""),
            Decision::NotModified
        );
        assert_eq!(with("GET", b"*"), Decision::NotModified);
        assert_eq!(with("GET", b"\"x\""), Decision::Whole);
        assert_eq!(with("POST", ETAG), Decision::PreconditionFailed);
        assert_eq!(with("DELETE", b"*"), Decision::PreconditionFailed);
        assert_eq!(with("POST", b"\"x\""), Decision::Whole);
    }

    #[test]
    fn if_modified_since_is_weighed_only_without_if_none_match_and_for_reads() {
        let with = |method, v: &'static [u8]| {
            decide(
                method,
                Conditions {
                    if_modified_since: Some(v),
                    ..Default::default()
                },
            )
        };
        assert_eq!(with("GET", MODIFIED_DATE), Decision::NotModified);
        assert_eq!(with("HEAD", AFTER), Decision::NotModified);
        assert_eq!(with("GET", BEFORE), Decision::Whole);
        assert_eq!(
            with("GET", FUTURE),
            Decision::Whole,
            "later than now: ignored"
        );
        assert_eq!(with("GET", b"nope"), Decision::Whole);
        let two = b"Wed, 01 Jan 2020 00:00:00 GMT, Wed, 01 Jan 2020 00:00:00 GMT";
        assert_eq!(with("GET", two), Decision::Whole, "two members: ignored");
        assert_eq!(with("POST", MODIFIED_DATE), Decision::Whole);
        let both = Conditions {
            if_none_match: Some(b"\"x\""),
            if_modified_since: Some(MODIFIED_DATE),
            ..Default::default()
        };
        assert_eq!(get(both), Decision::Whole, "If-None-Match decides (step 4)");
    }

    #[test]
    fn preconditions_are_taken_in_rfc_9110_order() {
        // 412 from step 1 or 2 before 304 from step 3 or 4.
        let c = Conditions {
            if_match: Some(b"\"x\""),
            if_none_match: Some(ETAG),
            ..Default::default()
        };
        assert_eq!(get(c), Decision::PreconditionFailed);
        let c = Conditions {
            if_unmodified_since: Some(BEFORE),
            if_modified_since: Some(MODIFIED_DATE),
            ..Default::default()
        };
        assert_eq!(get(c), Decision::PreconditionFailed);
        // 304 before any range.
        let c = Conditions {
            if_none_match: Some(ETAG),
            range: RANGE,
            ..Default::default()
        };
        assert_eq!(get(c), Decision::NotModified);
        // 412 before any range.
        let c = Conditions {
            if_match: Some(b"\"x\""),
            range: Some(b"bytes=100-"),
            ..Default::default()
        };
        assert_eq!(get(c), Decision::PreconditionFailed);
        // Preconditions that pass leave the range to decide.
        let c = Conditions {
            if_match: Some(ETAG),
            if_none_match: Some(b"\"x\""),
            range: RANGE,
            ..Default::default()
        };
        assert_eq!(get(c), PART);
        let c = Conditions {
            if_modified_since: Some(BEFORE),
            range: RANGE,
            ..Default::default()
        };
        assert_eq!(get(c), PART);
    }

    #[test]
    fn if_range_gives_the_range_only_for_our_strong_etag_or_exact_date() {
        let with = |v: &'static [u8]| {
            get(Conditions {
                if_range: Some(v),
                range: RANGE,
                ..Default::default()
            })
        };
        assert_eq!(with(ETAG), PART);
        assert_eq!(with(MODIFIED_DATE), PART);
        assert_eq!(with(b"\"x\""), Decision::Whole);
        assert_eq!(with(b"W/\"d-59b08c1fa4000\""), Decision::Whole, "weak");
        assert_eq!(with(AFTER), Decision::Whole, "a later date is not ours");
        assert_eq!(with(b"garbage"), Decision::Whole);
        let c = Conditions {
            if_range: Some(b"\"x\""),
            range: Some(b"bytes=100-"),
            ..Default::default()
        };
        assert_eq!(get(c), Decision::Whole, "no 416 for a range ignored");
        let c = Conditions {
            if_range: Some(b"\"x\""),
            ..Default::default()
        };
        assert_eq!(get(c), Decision::Whole, "If-Range without Range");
    }

    #[test]
    fn a_range_is_honoured_for_get_and_head_only() {
        let with = |method| {
            decide(
                method,
                Conditions {
                    range: RANGE,
                    ..Default::default()
                },
            )
        };
        assert_eq!(with("GET"), PART);
        assert_eq!(with("HEAD"), PART);
        assert_eq!(with("POST"), Decision::Whole);
        let c = Conditions {
            range: Some(b"bytes=13-"),
            ..Default::default()
        };
        assert_eq!(get(c), Decision::RangeNotSatisfiable);
    }

    #[test]
    fn entity_tag_lists_are_read_tag_by_tag() {
        let all: Vec<_> = tags(b" \"a,b\" ,W/\"c\",,\"\"").collect();
        assert_eq!(
            all,
            [
                Tag {
                    weak: false,
                    opaque: b"\"a,b\""
                },
                Tag {
                    weak: true,
                    opaque: b"\"c\""
                },
                Tag {
                    weak: false,
                    opaque: b"\"\""
                },
            ]
        );
        assert_eq!(tags(b"\"a\", junk, \"b\"").count(), 1, "stops at junk");
        assert_eq!(tags(b"\"open").count(), 0);
        assert_eq!(tags(b"\"a\x7f\"").count(), 0, "DEL is not etagc");
        assert_eq!(
            one_tag(b" \"a\" "),
            Some(Tag {
                weak: false,
                opaque: b"\"a\""
            })
        );
        assert_eq!(one_tag(b"\"a\" \"b\""), None);
    }

    #[test]
    fn ranges_parse_as_rfc_9110_says() {
        let part = |first, last| RangeAsk::Part { first, last };
        let parse = |v: &str, len| parse_range(v.as_bytes(), len);
        assert_eq!(parse("bytes=0-4", 10), part(0, 4));
        assert_eq!(parse("bytes=5-", 10), part(5, 9));
        assert_eq!(parse("bytes=-3", 10), part(7, 9));
        assert_eq!(parse("bytes=-30", 10), part(0, 9));
        assert_eq!(parse("bytes=8-100", 10), part(8, 9));
        assert_eq!(parse(" bytes= 1 - 2 ", 10), part(1, 2));
        assert_eq!(parse("bytes=10-", 10), RangeAsk::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 10), RangeAsk::Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), RangeAsk::Unsatisfiable);
        assert_eq!(parse("bytes=-5", 0), RangeAsk::Unsatisfiable);
        assert_eq!(parse("bytes=5-2", 10), RangeAsk::Whole);
        assert_eq!(parse("bytes=0-1,3-4", 10), RangeAsk::Whole);
        assert_eq!(parse("items=0-1", 10), RangeAsk::Whole);
        assert_eq!(parse("bytes=x-1", 10), RangeAsk::Whole);
        assert_eq!(parse("bytes=+1-2", 10), RangeAsk::Whole);
        assert_eq!(parse("bytes=-", 10), RangeAsk::Whole);
        assert_eq!(parse("bytes=", 10), RangeAsk::Whole);
        assert_eq!(parse("bytes=99999999999999999999-", 10), RangeAsk::Whole);
        assert_eq!(parse("BYTES=1-2", 10), part(1, 2));
        assert_eq!(parse_range(b"bytes=\xff-1", 10), RangeAsk::Whole);
        assert_eq!(
            parse("bytes=-18446744073709551615", u64::MAX),
            part(0, u64::MAX - 1)
        );
    }
}
