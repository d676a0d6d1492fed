//! A file's validators, `ETag` and `Last-Modified`, made once from its
//! metadata (for a file read from disk at each request, for a cached one
//! when it is loaded).

use std::cell::RefCell;
use std::fs::Metadata;
use std::time::{Duration, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderValue, ETAG, LAST_MODIFIED};
use mpm_core::Response;

use crate::conditional::Representation;

/// The validators of a file: `ETag`, `Last-Modified` (ready as header
/// values) and the mtime they were made from.
#[derive(Clone)]
pub(crate) struct Validators {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
    mtime_secs: u64,
}

/// How many validators [`Validators::of`] keeps per thread.
const RECENT_LEN: usize = 8;

thread_local! {
    /// The validators last made on this thread, newest first, by the
    /// size and mtime they were made from.
    static RECENT: RefCell<Vec<((u64, Duration), Validators)>> =
        RefCell::new(Vec::with_capacity(RECENT_LEN));
}

impl Validators {
    /// The validators of the file `meta` describes. They depend on its
    /// size and mtime alone, so the last few made on this thread are kept:
    /// a file served again and again is described without formatting.
    pub(crate) fn of(meta: &Metadata) -> Validators {
        let since_epoch = meta
            .modified()
            .unwrap_or(UNIX_EPOCH)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let key = (meta.len(), since_epoch);
        RECENT
            .try_with(|recent| {
                let mut recent = recent.borrow_mut();
                if let Some(i) = recent.iter().position(|(k, _)| *k == key) {
                    // Move to the front: the oldest falls out first.
                    recent[..=i].rotate_right(1);
                    return recent[0].1.clone();
                }
                let made = Validators::make(key.0, key.1);
                if recent.len() == RECENT_LEN {
                    recent.pop();
                }
                recent.insert(0, (key, made.clone()));
                made
            })
            // The cache is gone while the thread exits: make them afresh.
            .unwrap_or_else(|_| Validators::make(key.0, key.1))
    }

    /// The validators of a file of `len` bytes last modified `since_epoch`
    /// after the epoch.
    fn make(len: u64, since_epoch: Duration) -> Validators {
        // Apache's default `FileETag MTime Size`: size and mtime in
        // microseconds, hex.
        let etag = format!("\"{:x}-{:x}\"", len, since_epoch.as_micros());
        Validators {
            etag: HeaderValue::try_from(etag).ok(),
            last_modified: HeaderValue::try_from(httpdate::fmt_http_date(UNIX_EPOCH + since_epoch))
                .ok(),
            mtime_secs: since_epoch.as_secs(),
        }
    }

    /// These validators with the `ETag` `FileETag` asks for when it is not
    /// Apache's default (`MTime Size`): of the file's inode, size and
    /// mtime (microseconds) those `parts` name, in that order, hex; none
    /// at all for `FileETag None`.
    pub(crate) fn with_parts(
        mut self,
        parts: crate::pipeline::ETagParts,
        meta: &Metadata,
    ) -> Validators {
        use std::os::unix::fs::MetadataExt;
        if parts == crate::pipeline::ETagParts::DEFAULT {
            return self;
        }
        let mtime = meta
            .modified()
            .unwrap_or(UNIX_EPOCH)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        let mut fields = Vec::with_capacity(3);
        if parts.inode {
            fields.push(format!("{:x}", meta.ino()));
        }
        if parts.size {
            fields.push(format!("{:x}", meta.len()));
        }
        if parts.mtime {
            fields.push(format!("{mtime:x}"));
        }
        self.etag = if fields.is_empty() {
            None
        } else {
            HeaderValue::try_from(format!("\"{}\"", fields.join("-"))).ok()
        };
        self
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
        self.describe_into(response.headers_mut());
    }

    /// `ETag` and `Last-Modified` into `headers`, in that order.
    pub(crate) fn describe_into(&self, headers: &mut HeaderMap) {
        if let Some(etag) = &self.etag {
            headers.insert(ETAG, etag.clone());
        }
        if let Some(date) = &self.last_modified {
            headers.insert(LAST_MODIFIED, date.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;

    fn headers(v: &Validators) -> (Vec<u8>, Vec<u8>, u64) {
        (
            v.etag.as_ref().unwrap().as_bytes().to_vec(),
            v.last_modified.as_ref().unwrap().as_bytes().to_vec(),
            v.mtime_secs,
        )
    }

    #[test]
    fn validators_follow_the_file_when_it_changes_and_many_others_were_described() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        let mut file = File::create(&path).unwrap();
        file.write_all(b"hello").unwrap();
        let first = UNIX_EPOCH + Duration::from_secs(784_111_777);
        file.set_modified(first).unwrap();
        let before = headers(&Validators::of(&file.metadata().unwrap()));
        assert_eq!(
            before,
            (
                format!("\"5-{:x}\"", 784_111_777u128 * 1_000_000).into_bytes(),
                b"Sun, 06 Nov 1994 08:49:37 GMT".to_vec(),
                784_111_777
            ),
            "validators of the file as first written"
        );
        // Described again: the same.
        assert_eq!(headers(&Validators::of(&file.metadata().unwrap())), before);
        // More files than the cache holds, then the first one changed.
        for i in 0..2 * RECENT_LEN as u64 {
            file.set_modified(first + Duration::from_secs(i + 1))
                .unwrap();
            let v = Validators::of(&file.metadata().unwrap());
            assert_eq!(v.mtime_secs, 784_111_777 + i + 1, "mtime of version {i}");
        }
        file.write_all(b"!").unwrap();
        file.set_modified(first + Duration::from_micros(1)).unwrap();
        let after = headers(&Validators::of(&file.metadata().unwrap()));
        assert_eq!(
            after,
            (
                format!("\"6-{:x}\"", 784_111_777u128 * 1_000_000 + 1).into_bytes(),
                b"Sun, 06 Nov 1994 08:49:37 GMT".to_vec(),
                784_111_777
            ),
            "validators after the file grew by a byte, a microsecond later"
        );
        // And the first version, described again, is what it was.
        file.set_len(5).unwrap();
        file.set_modified(first).unwrap();
        assert_eq!(headers(&Validators::of(&file.metadata().unwrap())), before);
    }
}
