//! A file's validators, `ETag` and `Last-Modified`, made once from its
//! metadata (for a file read from disk at each request, for a cached one
//! when it is loaded).

use std::fs::Metadata;
use std::time::UNIX_EPOCH;

use http::header::{HeaderValue, ETAG, LAST_MODIFIED};
use mpm_core::Response;

use crate::conditional::Representation;

/// The validators of a file: `ETag`, `Last-Modified` (ready as header
/// values) and the mtime they were made from.
pub(crate) struct Validators {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
    mtime_secs: u64,
}

impl Validators {
    /// The validators of the file `meta` describes.
    pub(crate) fn of(meta: &Metadata) -> Validators {
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        let since_epoch = mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
        // Apache's default `FileETag MTime Size`: size and mtime in
        // microseconds, hex.
        let etag = format!("\"{:x}-{:x}\"", meta.len(), since_epoch.as_micros());
        Validators {
            etag: HeaderValue::try_from(etag).ok(),
            last_modified: HeaderValue::try_from(httpdate::fmt_http_date(mtime)).ok(),
            mtime_secs: since_epoch.as_secs(),
        }
    }

    /// As [`crate::conditional::evaluate`] takes them, for a file of `len` bytes.
    pub(crate) fn representation(&self, len: u64) -> Representation<'_> {
        Representation {
            etag: self.etag.as_ref().map(HeaderValue::as_bytes),
            last_modified: Some(self.mtime_secs),
            len,
        }
    }

    /// `ETag` and `Last-Modified` on `response`.
    pub(crate) fn describe(&self, response: &mut Response) {
        let headers = response.headers_mut();
        if let Some(etag) = &self.etag {
            headers.insert(ETAG, etag.clone());
        }
        if let Some(date) = &self.last_modified {
            headers.insert(LAST_MODIFIED, date.clone());
        }
    }
}
