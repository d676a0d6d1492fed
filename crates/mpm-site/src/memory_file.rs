//! A file whose bytes and metadata are in memory ([`MemoryFile`]): the
//! one answer path for a small file kept between requests
//! ([`crate::open_files`]) and for a file `MMapFile` loaded
//! ([`crate::file_cache`]).
//!
//! Everything of a whole answer that depends on the file alone is made
//! once, when the file is read: its validators and the response head's
//! fields (`ETag`, `Last-Modified`, `Accept-Ranges`, and `Content-Type`
//! from its name), ready as `HeaderValue`s, and the same fields encoded
//! for an HTTP/1.x head ([`EncodedFields`]). A request with no conditional
//! header and no `Range` (nearly all) is answered with a clone of that
//! head (each value's clone shares its bytes) and of the contents: no
//! formatting, no clock read, no conditional evaluation; on a host no
//! directive touches (`site/untouched.rs`) an HTTP/1.x request gets the
//! encoded fields instead of the map (nothing after the handler reads
//! them), so no field is encoded per request either. Any other
//! request goes through [`crate::conditional::evaluate`] as a file read
//! from disk does, with the same validators.

use std::fs::Metadata;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT_RANGES, CONTENT_TYPE, IF_MATCH, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE,
};
use mpm_core::h1::EncodedFields;
use mpm_core::{Body, Response};

use crate::mime::MimeTypes;
use crate::validators::Validators;

/// See the module documentation.
pub struct MemoryFile {
    /// What `stat` said of it when it was read (the request's `finfo`).
    pub(crate) meta: Metadata,
    /// All its bytes.
    pub(crate) contents: Bytes,
    /// `ETag` and `Last-Modified` (Apache's default `FileETag`).
    pub(crate) validators: Validators,
    /// Its content type by its name, as mod_mime gives it when no section
    /// has `AddType` ([`MimeTypes::of_name`]).
    pub(crate) content_type: Option<HeaderValue>,
    /// The head of a 200 with the whole file, in the order a file read
    /// from disk is described: `ETag`, `Last-Modified`, `Accept-Ranges`,
    /// `Content-Type`.
    head: HeaderMap,
    /// `head` encoded once for HTTP/1.x, for an answer nothing after the
    /// handler reads or changes ([`MemoryFile::whole_response`]).
    encoded: EncodedFields,
    /// Whether a directive touches this file's answer, as the last host
    /// that asked found it ([`MemoryFile::untouched_on`]): the host's key
    /// shifted left by one, its answer in the low bit; 0 when no host
    /// asked yet.
    verdict: AtomicU64,
}

impl MemoryFile {
    /// The file named `name` (its last segment, for its type), described
    /// by `meta`, holding `contents`.
    pub(crate) fn new(name: &[u8], meta: Metadata, contents: Bytes, mime: &MimeTypes) -> Self {
        let validators = Validators::of(&meta);
        let content_type = mime.of_name(name);
        let mut head = HeaderMap::with_capacity(4);
        validators.describe_into(&mut head);
        head.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(content_type) = &content_type {
            head.insert(CONTENT_TYPE, content_type.clone());
        }
        MemoryFile {
            meta,
            contents,
            validators,
            content_type,
            encoded: EncodedFields::new(&head),
            head,
            verdict: AtomicU64::new(0),
        }
    }

    /// Whether no directive touches this file's answer on the host whose
    /// key is `host` (see `site/untouched.rs`): `judge`'s answer, asked
    /// once and kept with the file for the next requests of that host. A
    /// host's sections never change while it serves (it reads no
    /// `.htaccess` when it asks), and a changed file is a new
    /// `MemoryFile`, asked again; keys are never reused, so a kept answer
    /// is never another host's. Only the last host's answer is kept: a
    /// file that two hosts serve in turn is judged again at each turn.
    pub(crate) fn untouched_on(&self, host: u64, judge: impl FnOnce() -> bool) -> bool {
        let seen = self.verdict.load(Ordering::Relaxed);
        if seen >> 1 == host {
            return seen & 1 == 1;
        }
        let untouched = judge();
        self.verdict
            .store(host << 1 | u64::from(untouched), Ordering::Relaxed);
        untouched
    }

    /// A 200 with the whole file, typed by its name, for an HTTP/1.x
    /// request whose answer nothing after the handler reads or changes (no
    /// output filter, no HTTP/2 framing): its head's fields are the
    /// [`EncodedFields`] made with the file, which the engine writes as
    /// they are, and the response's header map stays empty.
    pub(crate) fn whole_response(&self) -> Response {
        Response::new(Body::Kept {
            bytes: self.contents.clone(),
            fields: self.encoded.clone(),
        })
    }

    /// The head of a 200 with the whole file, typed `content_type` (the
    /// request's, which a section's `AddType` or `ForceType` may have
    /// changed from the name's): the kept head cloned, its
    /// `Content-Type` replaced only when it differs.
    pub(crate) fn whole_head(&self, content_type: Option<&HeaderValue>) -> HeaderMap {
        let mut head = self.head.clone();
        if content_type != self.content_type.as_ref() {
            match content_type {
                Some(value) => {
                    head.insert(CONTENT_TYPE, value.clone());
                }
                None => {
                    head.remove(CONTENT_TYPE);
                }
            }
        }
        head
    }

    /// Whether the kept `ETag` is the one a request's `FileETag` asks
    /// for (Apache's default, `MTime Size`).
    pub(crate) fn etag_fits(parts: crate::pipeline::ETagParts) -> bool {
        parts == crate::pipeline::ETagParts::DEFAULT
    }
}

/// Whether the request's headers hold a conditional field (`If-…`) or
/// `Range`: one pass over the names, no hashing (most requests hold
/// none).
pub(crate) fn asks_conditionally(headers: &HeaderMap) -> bool {
    // Each is a standard name: comparing one is comparing its tag.
    const ASKING: [HeaderName; 6] = [
        IF_MATCH,
        IF_NONE_MATCH,
        IF_MODIFIED_SINCE,
        IF_UNMODIFIED_SINCE,
        IF_RANGE,
        RANGE,
    ];
    headers.keys().any(|name| ASKING.contains(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderName, ETAG, LAST_MODIFIED};

    /// The names a whole answer's kept head holds, in order.
    const HEAD_NAMES: [HeaderName; 4] = [ETAG, LAST_MODIFIED, ACCEPT_RANGES, CONTENT_TYPE];

    fn file(dir: &std::path::Path, name: &str) -> MemoryFile {
        let path = dir.join(name);
        std::fs::write(&path, "hello").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        MemoryFile::new(
            name.as_bytes(),
            meta,
            Bytes::from_static(b"hello"),
            &MimeTypes::default(),
        )
    }

    #[test]
    fn the_whole_answers_head_is_made_once_in_the_order_a_file_from_disk_has() {
        let dir = tempfile::tempdir().unwrap();
        let f = file(dir.path(), "a.txt");
        let head = f.whole_head(f.content_type.as_ref());
        let names: Vec<_> = head.keys().cloned().collect();
        assert_eq!(names, HEAD_NAMES, "the head's fields");
        assert_eq!(head[CONTENT_TYPE], "text/plain");
        assert_eq!(head[ACCEPT_RANGES], "bytes");
        assert_eq!(
            Some(head[ETAG].as_bytes()),
            f.validators.representation(5).etag,
            "the ETag the conditionals compare with"
        );
    }

    #[test]
    fn another_content_type_replaces_the_names_and_none_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = file(dir.path(), "a.txt");
        let forced = HeaderValue::from_static("application/x-forced");
        let head = f.whole_head(Some(&forced));
        assert_eq!(head[CONTENT_TYPE], "application/x-forced");
        let names: Vec<_> = head.keys().cloned().collect();
        assert_eq!(names, HEAD_NAMES, "replaced in place");
        let head = f.whole_head(None);
        assert!(
            head.get(CONTENT_TYPE).is_none(),
            "a type was sent: {head:?}"
        );
        // A file with no type by its name, typed by the request.
        let g = file(dir.path(), "noext");
        assert!(g.content_type.is_none());
        let head = g.whole_head(Some(&forced));
        assert_eq!(head[CONTENT_TYPE], "application/x-forced");
    }
}
