//! `Options Indexes`: an HTML listing of a directory without an index file,
//! in the spirit of mod_autoindex's plain form.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::pages::escape_html;

/// What is escaped in a link to an entry: everything but unreserved
/// characters, so a name can never leave its `href`.
const NAME_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The listing of `dir`, shown at `url_path` (ending in `/`): entries
/// sorted by name, directories with a trailing `/`, `.ht*` files left out,
/// and a link to the parent directory below the root.
pub fn render(dir: &Path, url_path: &[u8]) -> io::Result<String> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.as_bytes().starts_with(b".ht") {
            continue;
        }
        // A symlink to a directory is listed as a directory.
        let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
        entries.push((name, is_dir));
    }
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let title = escape_html(&String::from_utf8_lossy(url_path));
    let mut html = format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html>\n <head>\n  \
         <title>Index of {title}</title>\n </head>\n <body>\n<h1>Index of {title}</h1>\n<ul>"
    );
    if url_path != b"/" {
        html.push_str("<li><a href=\"../\"> Parent Directory</a></li>\n");
    }
    for (name, is_dir) in &entries {
        let slash = if *is_dir { "/" } else { "" };
        let href = percent_encode(name.as_bytes(), NAME_ESCAPE);
        let text = escape_html(&String::from_utf8_lossy(name.as_bytes()));
        html.push_str(&format!(
            "<li><a href=\"{href}{slash}\"> {text}{slash}</a></li>\n"
        ));
    }
    html.push_str("</ul>\n</body></html>\n");
    Ok(html)
}
