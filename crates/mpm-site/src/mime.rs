//! Content types from file names: `AddType` overrides, then the built-in
//! table (`mime_guess`).

use http::header::HeaderValue;

use crate::error::Error;

/// Extension → content type overrides (`AddType`), consulted before
/// `mime_guess`. Extensions are stored without the dot, lowercase.
#[derive(Default)]
pub struct MimeTypes {
    overrides: Vec<(String, HeaderValue)>,
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
        Ok(MimeTypes { overrides })
    }

    /// The content type of a file named `name`, if its extension is known.
    pub fn lookup(&self, name: &[u8]) -> Option<HeaderValue> {
        let dot = name.iter().rposition(|&b| b == b'.')?;
        let ext = std::str::from_utf8(&name[dot + 1..]).ok()?;
        if ext.is_empty() {
            return None;
        }
        if let Some((_, value)) = self
            .overrides
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        {
            return Some(value.clone());
        }
        mime_guess::from_ext(ext)
            .first_raw()
            .map(HeaderValue::from_static)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
