//! mod_autoindex: an HTML listing of a directory without an index file
//! (`Options Indexes`), written byte for byte as Apache 2.4's (its
//! doctype, title, absolute parent link, escapes and `text/html;
//! charset=ISO-8859-1`): the plain list, or with `IndexOptions
//! FancyIndexing` the modification time and size (`apr_strfsize`) of each
//! entry with Apache's column widths and sort links (as preformatted
//! columns, or a table with `HTMLTable`); `IndexIgnore`,
//! `FoldersFirst`, `IgnoreCase`, `HeaderName`, `ReadmeName`,
//! `SuppressHTMLPreamble`, and the `ServerSignature` line.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::UNIX_EPOCH;

use percent_encoding::{percent_encode, AsciiSet};

use crate::pages::escape_html;
use crate::pipeline::section::wildcard;
use crate::pipeline::IndexFlags;
use crate::uri_path::escape_path;

/// What is escaped in a link to an entry, as Apache's
/// `ap_escape_path_segment`: what `ap_escape_uri` escapes, and `;` and `/`
/// (the link is then HTML-escaped, so a name can never leave its `href`).
const NAME_ESCAPE: &AsciiSet = &crate::vars::URI_PATH.add(b';').add(b'/');

/// The largest `HeaderName`/`ReadmeName` file shown.
const MAX_INSERT: u64 = 256 << 10;

/// How one listing is made (the directory's mod_autoindex settings).
#[derive(Debug, Clone, Default)]
pub struct Listing<'a> {
    /// `IndexIgnore` wildcards.
    pub ignore: &'a [String],
    /// `IndexOptions`.
    pub flags: IndexFlags,
    /// `HeaderName`.
    pub header_name: Option<&'a str>,
    /// `ReadmeName`.
    pub readme_name: Option<&'a str>,
    /// The `ServerSignature` line (HTML), if any.
    pub signature: Option<String>,
}

/// One entry of a listing.
struct Entry {
    name: Vec<u8>,
    is_dir: bool,
    size: u64,
    mtime: Option<std::time::SystemTime>,
}

/// The listing of `dir`, shown at `url_path` (ending in `/`): entries
/// sorted by name (`.ht*` files, `IndexIgnore`d names, and the
/// `HeaderName`/`ReadmeName` files left out), directories with a trailing
/// `/`, and a link to the parent directory below the root.
pub fn render(dir: &Path, url_path: &[u8], how: &Listing<'_>) -> io::Result<String> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().as_bytes().to_vec();
        let hidden = name.starts_with(b".ht")
            || how.ignore.iter().any(|p| wildcard(p.as_bytes(), &name))
            || [how.header_name, how.readme_name]
                .iter()
                .flatten()
                .any(|n| n.as_bytes() == name.as_slice());
        if hidden {
            continue;
        }
        // A symlink to a directory is listed as a directory.
        let meta = std::fs::metadata(entry.path()).ok();
        entries.push(Entry {
            name,
            is_dir: meta.as_ref().is_some_and(|m| m.is_dir()),
            size: meta.as_ref().map_or(0, |m| m.len()),
            mtime: meta.as_ref().and_then(|m| m.modified().ok()),
        });
    }
    let flags = how.flags;
    entries.sort_by(|a, b| {
        let folders = if flags.folders_first {
            b.is_dir.cmp(&a.is_dir)
        } else {
            std::cmp::Ordering::Equal
        };
        folders.then_with(|| {
            if flags.ignore_case {
                a.name
                    .to_ascii_lowercase()
                    .cmp(&b.name.to_ascii_lowercase())
            } else {
                a.name.cmp(&b.name)
            }
        })
    });
    // Apache's title drops the trailing slash (but keeps the root's).
    let shown_path = match url_path {
        [rest @ .., b'/'] if !rest.is_empty() => rest,
        all => all,
    };
    let title = escape_html(&String::from_utf8_lossy(shown_path));
    let header = how.header_name.and_then(|n| insert(dir, n));
    let mut html = String::new();
    match (&header, flags.suppress_preamble) {
        (Some((text, true)), true) => html.push_str(text),
        _ => {
            html.push_str(&format!(
                "{DOCTYPE}\n<html>\n <head>\n  <title>Index of {title}</title>\n </head>\n <body>\n"
            ));
            match &header {
                Some((text, _)) => html.push_str(text),
                None => html.push_str(&format!("<h1>Index of {title}</h1>\n")),
            }
        }
    }
    let parent = parent_href(url_path);
    let parent = parent.as_deref();
    if flags.fancy && flags.html_table {
        table(&mut html, &entries, parent);
    } else if flags.fancy {
        preformatted(&mut html, &entries, parent);
    } else {
        html.push_str("<ul>");
        if let Some(href) = parent {
            html.push_str(&format!(
                "<li><a href=\"{href}\"> Parent Directory</a></li>\n"
            ));
        }
        for entry in &entries {
            let (href, text) = link(entry);
            html.push_str(&format!("<li><a href=\"{href}\"> {text}</a></li>\n"));
        }
        html.push_str("</ul>\n");
    }
    if let Some((text, _)) = how.readme_name.and_then(|n| insert(dir, n)) {
        html.push_str(&text);
    }
    if let Some(signature) = &how.signature {
        html.push_str(signature);
        html.push('\n');
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

/// The doctype Apache 2.4's mod_autoindex writes.
const DOCTYPE: &str =
    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">";

/// The `Content-Type` of a listing: Apache's, whose `IndexOptions
/// Charset` defaults to ISO-8859-1.
pub const CONTENT_TYPE: &str = "text/html;charset=ISO-8859-1";

/// `FancyIndexing`'s name column: `IndexOptions NameWidth`'s default.
const NAME_WIDTH: usize = 23;

/// The sort links of `FancyIndexing`'s column heads, as Apache writes
/// them for a listing sorted by name, ascending.
const SORT_LINKS: [(&str, &str); 4] = [
    ("?C=N;O=D", "Name"),
    ("?C=M;O=A", "Last modified"),
    ("?C=S;O=A", "Size"),
    ("?C=D;O=A", "Description"),
];

/// The link to the parent of `url_path` (ending in `/`), absolute as
/// Apache writes it (`/a/b/` → `/a/`); none at the root.
fn parent_href(url_path: &[u8]) -> Option<String> {
    let [rest @ .., b'/'] = url_path else {
        return None;
    };
    let cut = rest.iter().rposition(|&b| b == b'/')?;
    let parent = &url_path[..=cut];
    Some(escape_html(&escape_path(parent).collect::<String>()))
}

/// An entry's link target (escaped as a URL path segment, then for HTML)
/// and its text (HTML-escaped), a directory's with its trailing `/`.
fn link(entry: &Entry) -> (String, String) {
    let slash = if entry.is_dir { "/" } else { "" };
    let href = percent_encode(&entry.name, NAME_ESCAPE).to_string();
    let text = String::from_utf8_lossy(&entry.name);
    (
        format!("{}{slash}", escape_html(&href)),
        format!("{}{slash}", escape_html(&text)),
    )
}

/// An entry's name as `FancyIndexing` shows it: cut to [`NAME_WIDTH`]
/// characters (the last three `..>`), HTML-escaped, and the padding that
/// fills the column.
fn column_name(entry: &Entry) -> (String, usize) {
    let slash = if entry.is_dir { "/" } else { "" };
    let name = format!("{}{slash}", String::from_utf8_lossy(&entry.name));
    let chars = name.chars().count();
    if chars > NAME_WIDTH {
        let cut: String = name.chars().take(NAME_WIDTH - 3).collect();
        (format!("{}..&gt;", escape_html(&cut)), 0)
    } else {
        (escape_html(&name), NAME_WIDTH - chars)
    }
}

/// `FancyIndexing`: name, last modified and size in preformatted
/// columns, as Apache lays them out.
fn preformatted(html: &mut String, entries: &[Entry], parent: Option<&str>) {
    let [name, modified_head, size_head, description] =
        SORT_LINKS.map(|(q, t)| format!("<a href=\"{q}\">{t}</a>"));
    let pad = NAME_WIDTH - "Name".len() + 1;
    html.push_str(&format!(
        "<pre>      {name}{:pad$}{modified_head}      {size_head}  {description}<hr>",
        ""
    ));
    if let Some(href) = parent {
        let pad = NAME_WIDTH - "Parent Directory".len() + 1;
        html.push_str(&format!(
            // Apache's blank date is one wider than a date and its gap.
            "      <a href=\"{href}\">Parent Directory</a>{:pad$}{:19}{}  \n",
            "",
            "",
            apr_strfsize(None)
        ));
    }
    for entry in entries {
        let (href, _) = link(entry);
        let (shown, pad) = column_name(entry);
        html.push_str(&format!(
            "      <a href=\"{href}\">{shown}</a>{:pad$} {}  {}  \n",
            "",
            modified(entry),
            apr_strfsize(size_of(entry)),
        ));
    }
    html.push_str("<hr></pre>\n");
}

/// `FancyIndexing` with `HTMLTable`, as Apache lays it out.
fn table(html: &mut String, entries: &[Entry], parent: Option<&str>) {
    html.push_str("  <table>\n   <tr><th valign=\"top\">&nbsp;</th>");
    for (query, text) in SORT_LINKS {
        html.push_str(&format!("<th><a href=\"{query}\">{text}</a></th>"));
    }
    html.push_str("</tr>\n   <tr><th colspan=\"5\"><hr></th></tr>\n");
    if let Some(href) = parent {
        let pad = NAME_WIDTH - "Parent Directory".len();
        html.push_str(&format!(
            "<tr><td valign=\"top\">&nbsp;</td><td><a href=\"{href}\">Parent Directory</a>{:pad$}</td>\
             <td>&nbsp;</td><td align=\"right\">{}</td><td>&nbsp;</td></tr>\n",
            "",
            apr_strfsize(None)
        ));
    }
    for entry in entries {
        let (href, _) = link(entry);
        let (shown, pad) = column_name(entry);
        html.push_str(&format!(
            "<tr><td valign=\"top\">&nbsp;</td><td><a href=\"{href}\">{shown}</a>{:pad$}</td>\
             <td align=\"right\">{}  </td><td align=\"right\">{}</td><td>&nbsp;</td></tr>\n",
            "",
            modified(entry),
            apr_strfsize(size_of(entry)),
        ));
    }
    html.push_str("   <tr><th colspan=\"5\"><hr></th></tr>\n</table>\n");
}

/// `2026-12-01 19:42`, in UTC; 16 spaces when unknown.
fn modified(entry: &Entry) -> String {
    let Some(mtime) = entry.mtime.filter(|t| t.duration_since(UNIX_EPOCH).is_ok()) else {
        return format!("{:16}", "");
    };
    let time = crate::utc_time::UtcTime::of(mtime);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        time.year, time.month, time.day, time.hour, time.minute
    )
}

/// An entry's size for the listing: none for a directory.
fn size_of(entry: &Entry) -> Option<u64> {
    (!entry.is_dir).then_some(entry.size)
}

/// APR's `apr_strfsize`, four characters as Apache's listings show sizes:
/// `  - ` for none, `123 ` below 973 bytes, then `4.9K`, ` 12K`, `1.0M`…
/// (tenths below 9.5 of a unit, a unit stepped up from 973 of the one
/// below).
fn apr_strfsize(size: Option<u64>) -> String {
    const UNITS: &[u8] = b"KMGTPE";
    let Some(mut size) = size else {
        return "  - ".into();
    };
    if size < 973 {
        return format!("{size:3} ");
    }
    let mut unit = 0;
    let mut remain = size & 1023;
    size >>= 10;
    // Up a unit while this one would show 973 or more.
    while size >= 973 && unit + 1 < UNITS.len() {
        unit += 1;
        remain = size & 1023;
        size >>= 10;
    }
    let unit = UNITS[unit] as char;
    if size < 9 || (size == 9 && remain < 973) {
        remain = (remain * 5 + 256) / 512;
        if remain >= 10 {
            size += 1;
            remain = 0;
        }
        return format!("{size}.{remain}{unit}");
    }
    if remain >= 512 {
        size += 1;
    }
    format!("{size:3}{unit}")
}

/// The file `name` of `dir` to show in the page: HTML as it is (and
/// whether it is HTML), other text escaped in a `<pre>`; `None` when it is
/// missing, not a file or too large.
fn insert(dir: &Path, name: &str) -> Option<(String, bool)> {
    if name.contains('/') {
        return None;
    }
    let path = dir.join(name);
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_INSERT {
        return None;
    }
    let text = String::from_utf8_lossy(&std::fs::read(&path).ok()?).into_owned();
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".html") || lower.ends_with(".htm") {
        Some((text, true))
    } else {
        Some((format!("<pre>\n{}</pre>\n", escape_html(&text)), false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of `files` (name, contents) and subdirectories (names
    /// ending in `/`), every one modified at 2024-05-01 12:00 UTC.
    fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let when = UNIX_EPOCH + std::time::Duration::from_secs(1_714_564_800);
        for (name, contents) in files {
            let path = dir.path().join(name.trim_end_matches('/'));
            if name.ends_with('/') {
                std::fs::create_dir(&path).expect("mkdir");
                std::fs::File::open(&path)
            } else {
                std::fs::write(&path, contents).expect("write");
                std::fs::File::options().write(true).open(&path)
            }
            .and_then(|f| f.set_modified(when))
            .expect("set the time");
        }
        dir
    }

    fn flags(fancy: bool, html_table: bool) -> IndexFlags {
        IndexFlags {
            fancy,
            html_table,
            ..IndexFlags::default()
        }
    }

    #[test]
    fn sizes_are_written_as_apr_strfsize_writes_them() {
        for (size, want) in [
            (None, "  - "),
            (Some(0), "  0 "),
            (Some(3), "  3 "),
            (Some(972), "972 "),
            (Some(973), "1.0K"),
            (Some(1000), "1.0K"),
            (Some(5000), "4.9K"),
            (Some(20_000), " 20K"),
            (Some(10 << 20), " 10M"),
            (Some(1 << 30), "1.0G"),
            (Some(u64::MAX), " 16E"),
        ] {
            assert_eq!(apr_strfsize(size), want, "size {size:?}");
        }
    }

    #[test]
    fn a_plain_listing_is_the_list_apache_writes() {
        let dir = tree(&[
            ("a.txt", b"hi\n"),
            ("big.bin", &[b'x'; 5000]),
            ("inner/", b""),
            ("with space&.txt", b"s\n"),
        ]);
        let html = render(dir.path(), b"/sub/", &Listing::default()).expect("listing");
        assert_eq!(html, PLAIN);
    }

    #[test]
    fn a_fancy_listing_has_the_columns_apache_writes() {
        let dir = tree(&[
            ("a very long file name that goes on.txt", b"x\n"),
            ("a.txt", b"hi\n"),
            ("big.bin", &[b'x'; 5000]),
            ("sd/", b""),
        ]);
        let how = Listing {
            flags: flags(true, false),
            ..Listing::default()
        };
        let html = render(dir.path(), b"/sub/inner/d/", &how).expect("listing");
        assert_eq!(html, PREFORMATTED);
    }

    #[test]
    fn a_fancy_table_listing_is_the_table_apache_writes() {
        let dir = tree(&[("a.txt", b"hi\n"), ("big.bin", &[b'x'; 5000]), ("d/", b"")]);
        let how = Listing {
            flags: flags(true, true),
            ..Listing::default()
        };
        let html = render(dir.path(), b"/sub/inner/", &how).expect("listing");
        assert_eq!(html, TABLE);
    }

    /// What Apache 2.4.71 answered for each listing.
    const PLAIN: &str = concat!(
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n",
            "<html>\n",
            " <head>\n",
            "  <title>Index of /sub</title>\n",
            " </head>\n",
            " <body>\n",
            "<h1>Index of /sub</h1>\n",
            "<ul><li><a href=\"/\"> Parent Directory</a></li>\n",
            "<li><a href=\"a.txt\"> a.txt</a></li>\n",
            "<li><a href=\"big.bin\"> big.bin</a></li>\n",
            "<li><a href=\"inner/\"> inner/</a></li>\n",
            "<li><a href=\"with%20space&amp;.txt\"> with space&amp;.txt</a></li>\n",
            "</ul>\n",
            "</body></html>\n"
        );
    const PREFORMATTED: &str = concat!(
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n",
            "<html>\n",
            " <head>\n",
            "  <title>Index of /sub/inner/d</title>\n",
            " </head>\n",
            " <body>\n",
            "<h1>Index of /sub/inner/d</h1>\n",
            "<pre>      <a href=\"?C=N;O=D\">Name</a>                    <a href=\"?C=M;O=A\">Last modified</a>      <a href=\"?C=S;O=A\">Size</a>  <a href=\"?C=D;O=A\">Description</a><hr>      <a href=\"/sub/inner/\">Parent Directory</a>                             -   \n",
            "      <a href=\"a%20very%20long%20file%20name%20that%20goes%20on.txt\">a very long file nam..&gt;</a> 2024-05-01 12:00    2   \n",
            "      <a href=\"a.txt\">a.txt</a>                   2024-05-01 12:00    3   \n",
            "      <a href=\"big.bin\">big.bin</a>                 2024-05-01 12:00  4.9K  \n",
            "      <a href=\"sd/\">sd/</a>                     2024-05-01 12:00    -   \n",
            "<hr></pre>\n",
            "</body></html>\n"
        );
    const TABLE: &str = concat!(
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n",
            "<html>\n",
            " <head>\n",
            "  <title>Index of /sub/inner</title>\n",
            " </head>\n",
            " <body>\n",
            "<h1>Index of /sub/inner</h1>\n",
            "  <table>\n",
            "   <tr><th valign=\"top\">&nbsp;</th><th><a href=\"?C=N;O=D\">Name</a></th><th><a href=\"?C=M;O=A\">Last modified</a></th><th><a href=\"?C=S;O=A\">Size</a></th><th><a href=\"?C=D;O=A\">Description</a></th></tr>\n",
            "   <tr><th colspan=\"5\"><hr></th></tr>\n",
            "<tr><td valign=\"top\">&nbsp;</td><td><a href=\"/sub/\">Parent Directory</a>       </td><td>&nbsp;</td><td align=\"right\">  - </td><td>&nbsp;</td></tr>\n",
            "<tr><td valign=\"top\">&nbsp;</td><td><a href=\"a.txt\">a.txt</a>                  </td><td align=\"right\">2024-05-01 12:00  </td><td align=\"right\">  3 </td><td>&nbsp;</td></tr>\n",
            "<tr><td valign=\"top\">&nbsp;</td><td><a href=\"big.bin\">big.bin</a>                </td><td align=\"right\">2024-05-01 12:00  </td><td align=\"right\">4.9K</td><td>&nbsp;</td></tr>\n",
            "<tr><td valign=\"top\">&nbsp;</td><td><a href=\"d/\">d/</a>                     </td><td align=\"right\">2024-05-01 12:00  </td><td align=\"right\">  - </td><td>&nbsp;</td></tr>\n",
            "   <tr><th colspan=\"5\"><hr></th></tr>\n",
            "</table>\n",
            "</body></html>\n"
        );
}
