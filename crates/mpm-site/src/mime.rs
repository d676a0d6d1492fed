//! Content types from file names: `AddType` overrides, then the built-in
//! table (`mime_guess`, corrected by `APACHE_TYPES` where Debian's
//! `/etc/mime.types`, which Apache reads through `TypesConfig`, answers
//! otherwise for a common web extension).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::HeaderValue;

use crate::error::Error;

/// Extension → content type overrides (`AddType`), consulted before
/// `mime_guess`. Extensions are stored without the dot, lowercase.
pub struct MimeTypes {
    /// Tells this table's answers from another's in [`RECENT`].
    id: u64,
    overrides: Vec<(String, HeaderValue)>,
}

impl Default for MimeTypes {
    fn default() -> MimeTypes {
        MimeTypes {
            id: next_id(),
            overrides: Vec::new(),
        }
    }
}

/// A number no other [`MimeTypes`] of this process has.
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The longest extension [`RECENT`] keeps; longer ones are looked up
/// each time.
const EXT_MAX: usize = 16;
/// How many extensions [`RECENT`] keeps per thread.
const RECENT_LEN: usize = 8;

/// An extension as [`RECENT`] keeps it: its bytes, as written, and length.
type ExtKey = ([u8; EXT_MAX], usize);

thread_local! {
    /// The content types last looked up on this thread, newest first: by
    /// table id and extension, the answer.
    static RECENT: RefCell<Vec<(u64, ExtKey, Option<HeaderValue>)>> =
        RefCell::new(Vec::with_capacity(RECENT_LEN));
}

impl MimeTypes {
    /// A table from `(extension, type)` pairs; an extension may be written
    /// with or without its dot. A type that cannot be a header value is an
    /// error naming it.
    pub fn new(pairs: &[(String, String)]) -> Result<MimeTypes, Error> {
        let mut overrides = Vec::with_capacity(pairs.len());
        for (ext, mime) in pairs {
            let value = HeaderValue::from_str(mime).map_err(|_| Error::ContentType {
                media_type: mime.clone(),
                extension: ext.clone(),
            })?;
            overrides.push((ext.trim_start_matches('.').to_ascii_lowercase(), value));
        }
        // Later AddType lines win, as in Apache.
        overrides.reverse();
        Ok(MimeTypes {
            id: next_id(),
            overrides,
        })
    }

    /// The content type of a file named `name`, if its extension is known.
    /// The answers for the last few extensions are kept per thread, so a
    /// file served again costs no search of the tables.
    pub fn lookup(&self, name: &[u8]) -> Option<HeaderValue> {
        let dot = name.iter().rposition(|&b| b == b'.')?;
        self.lookup_ext(&name[dot + 1..])
    }

    /// The content type of a file named `name` as mod_mime reads a name
    /// with no section's `AddType`: each extension after the first dot in
    /// turn, the last one known winning (`page.html.en` is text/html,
    /// `a.txt.php` text/plain... unless `.php` is known).
    pub fn of_name(&self, name: &[u8]) -> Option<HeaderValue> {
        let mut found = None;
        for ext in name.split(|&b| b == b'.').skip(1).filter(|e| !e.is_empty()) {
            if let Some(media_type) = self.lookup_ext(ext) {
                found = Some(media_type);
            }
        }
        found
    }

    /// The content type of the extension `ext` (without its dot), kept
    /// per thread as [`MimeTypes::lookup`]'s answers are.
    pub fn lookup_ext(&self, ext: &[u8]) -> Option<HeaderValue> {
        if ext.is_empty() {
            return None;
        }
        if ext.len() > EXT_MAX {
            return self.search(ext);
        }
        let mut key: ExtKey = ([0; EXT_MAX], ext.len());
        key.0[..ext.len()].copy_from_slice(ext);
        RECENT
            .try_with(|recent| {
                let mut recent = recent.borrow_mut();
                if let Some(i) = recent
                    .iter()
                    .position(|(id, k, _)| *id == self.id && *k == key)
                {
                    // Move to the front: the oldest falls out first.
                    recent[..=i].rotate_right(1);
                    return recent[0].2.clone();
                }
                let found = self.search(ext);
                if recent.len() == RECENT_LEN {
                    recent.pop();
                }
                recent.insert(0, (self.id, key, found.clone()));
                found
            })
            // The cache is gone while the thread exits: search.
            .unwrap_or_else(|_| self.search(ext))
    }

    /// The content type of the extension `ext` (without its dot) from the
    /// tables.
    fn search(&self, ext: &[u8]) -> Option<HeaderValue> {
        let ext = std::str::from_utf8(ext).ok()?;
        if let Some((_, value)) = self
            .overrides
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        {
            return Some(value.clone());
        }
        if let Some((_, apache)) = APACHE_TYPES
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        {
            return apache.map(HeaderValue::from_static);
        }
        mime_guess::from_ext(ext)
            .first_raw()
            .map(HeaderValue::from_static)
    }
}

/// Extensions whose type in Debian's `/etc/mime.types` (what Apache
/// answers with its usual `TypesConfig`) differs from `mime_guess`'s:
/// the type Apache sends, or none where the file names none (Apache then
/// sends no `Content-Type`: `.php` is typed by the handler that runs it,
/// never by mod_mime).
const APACHE_TYPES: &[(&str, Option<&str>)] = &[
    ("ico", Some("image/vnd.microsoft.icon")),
    ("map", None),
    ("mjs", Some("text/javascript")),
    ("otf", Some("font/otf")),
    ("php", None),
    ("rss", Some("application/x-rss+xml")),
    ("woff", Some("font/woff")),
    ("xml", Some("application/xml")),
    ("yaml", None),
    ("yml", None),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_typed_by_its_last_known_extension_after_the_first_dot() {
        let mime = MimeTypes::default();
        let of = |name: &str| mime.of_name(name.as_bytes());
        assert_eq!(of("page.html.en").unwrap(), "text/html");
        assert_eq!(of("a.tar.txt").unwrap(), "text/plain");
        assert_eq!(of("hello.txt").unwrap(), "text/plain");
        assert_eq!(of("README"), None);
        assert_eq!(of(".txt"), mime.lookup_ext(b"txt"), "a dot file's name");
        assert_eq!(of("a..txt.").unwrap(), "text/plain");
    }

    #[test]
    fn add_type_overrides_mime_guess_and_later_lines_win() {
        let mime = MimeTypes::new(&[
            (".txt".into(), "text/x-first".into()),
            ("TXT".into(), "text/x-second".into()),
        ])
        .unwrap();
        assert_eq!(mime.lookup(b"a.txt").unwrap(), "text/x-second");
        assert_eq!(mime.lookup(b"a.html").unwrap(), "text/html");
        assert_eq!(mime.lookup(b"noext"), None);
        assert_eq!(mime.lookup(b"a.unknownext"), None);
    }

    #[test]
    fn common_web_extensions_get_the_types_apache_reads_from_debians_mime_types() {
        let plain = MimeTypes::default();
        for (name, want) in [
            ("a.html", Some("text/html")),
            ("a.css", Some("text/css")),
            ("a.js", Some("text/javascript")),
            ("a.mjs", Some("text/javascript")),
            ("a.json", Some("application/json")),
            ("a.svg", Some("image/svg+xml")),
            ("favicon.ico", Some("image/vnd.microsoft.icon")),
            ("a.png", Some("image/png")),
            ("a.jpg", Some("image/jpeg")),
            ("a.webp", Some("image/webp")),
            ("a.avif", Some("image/avif")),
            ("a.woff", Some("font/woff")),
            ("a.woff2", Some("font/woff2")),
            ("a.ttf", Some("font/ttf")),
            ("a.otf", Some("font/otf")),
            ("a.mp4", Some("video/mp4")),
            ("a.webm", Some("video/webm")),
            ("a.txt", Some("text/plain")),
            ("a.xml", Some("application/xml")),
            ("a.pdf", Some("application/pdf")),
            ("a.wasm", Some("application/wasm")),
            ("app.js.map", None),
            ("index.php", None),
            ("a.YML", None),
        ] {
            let got = plain.lookup(name.as_bytes());
            assert_eq!(
                got.as_ref().and_then(|v| v.to_str().ok()),
                want,
                "type of {name}"
            );
        }
        // AddType still wins over the corrections.
        let php = MimeTypes::new(&[("php".into(), "application/x-httpd-php".into())]).unwrap();
        assert_eq!(php.lookup(b"index.php").unwrap(), "application/x-httpd-php");
    }

    #[test]
    fn each_table_answers_for_itself_however_often_and_in_whatever_order_asked() {
        let plain = MimeTypes::default();
        let custom = MimeTypes::new(&[("txt".into(), "text/x-custom".into())]).unwrap();
        let long = format!("a.{}", "x".repeat(EXT_MAX + 1));
        for round in 0..3 {
            // More extensions than a thread keeps, so some fall out.
            for ext in [
                "gif", "png", "css", "js", "json", "svg", "webp", "pdf", "zip",
            ] {
                let name = format!("f.{ext}");
                assert_eq!(
                    plain.lookup(name.as_bytes()),
                    mime_guess::from_ext(ext)
                        .first_raw()
                        .map(HeaderValue::from_static),
                    "round {round}: type of {name}"
                );
            }
            for (table, name, want) in [
                (&plain, "a.txt", "text/plain"),
                (&custom, "a.txt", "text/x-custom"),
                (&custom, "a.TXT", "text/x-custom"),
                (&plain, "a.TxT", "text/plain"),
            ] {
                let got = table.lookup(name.as_bytes());
                assert_eq!(got.unwrap(), want, "round {round}: type of {name}");
            }
            assert_eq!(plain.lookup(b"a.unknownext"), None, "round {round}");
            assert_eq!(plain.lookup(long.as_bytes()), None, "round {round}");
        }
        // A table made later, where a dropped one was, answers for itself.
        drop(custom);
        let again = MimeTypes::new(&[("txt".into(), "text/x-again".into())]).unwrap();
        assert_eq!(again.lookup(b"a.txt").unwrap(), "text/x-again");
    }
}
