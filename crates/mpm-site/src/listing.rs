//! mod_autoindex: an HTML listing of a directory without an index file
//! (`Options Indexes`): Apache's plain list, or with `IndexOptions
//! FancyIndexing` the modification time and size of each entry (as
//! preformatted columns, or a table with `HTMLTable`); `IndexIgnore`,
//! `FoldersFirst`, `IgnoreCase`, `HeaderName`, `ReadmeName`,
//! `SuppressHTMLPreamble`, and the `ServerSignature` line.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::UNIX_EPOCH;

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::pages::escape_html;
use crate::pipeline::section::wildcard;
use crate::pipeline::IndexFlags;

/// What is escaped in a link to an entry: everything but unreserved
/// characters, so a name can never leave its `href`.
const NAME_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

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
    let title = escape_html(&String::from_utf8_lossy(url_path));
    let header = how.header_name.and_then(|n| insert(dir, n));
    let mut html = String::new();
    match (&header, flags.suppress_preamble) {
        (Some((text, true)), true) => html.push_str(text),
        _ => {
            html.push_str(&format!(
                "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html>\n <head>\n  \
                 <title>Index of {title}</title>\n </head>\n <body>\n"
            ));
            match &header {
                Some((text, _)) => html.push_str(text),
                None => html.push_str(&format!("<h1>Index of {title}</h1>\n")),
            }
        }
    }
    let parent = url_path != b"/";
    if flags.fancy && flags.html_table {
        table(&mut html, &entries, parent);
    } else if flags.fancy {
        preformatted(&mut html, &entries, parent);
    } else {
        html.push_str("<ul>");
        if parent {
            html.push_str("<li><a href=\"../\"> Parent Directory</a></li>\n");
        }
        for entry in &entries {
            let (href, text, slash) = link(entry);
            html.push_str(&format!(
                "<li><a href=\"{href}{slash}\"> {text}{slash}</a></li>\n"
            ));
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

/// An entry's link target, text and trailing slash.
fn link(entry: &Entry) -> (String, String, &'static str) {
    let slash = if entry.is_dir { "/" } else { "" };
    let href = percent_encode(&entry.name, NAME_ESCAPE).to_string();
    let text = escape_html(&String::from_utf8_lossy(&entry.name));
    (href, text, slash)
}

/// `FancyIndexing`: name, last modified and size in columns.
fn preformatted(html: &mut String, entries: &[Entry], parent: bool) {
    html.push_str("<pre>Name                    Last modified      Size<hr>");
    if parent {
        html.push_str("<a href=\"../\">Parent Directory</a>                             -\n");
    }
    for entry in entries {
        let (href, text, slash) = link(entry);
        let shown = format!("{text}{slash}");
        let pad = 24usize.saturating_sub(shown.chars().count()).max(1);
        html.push_str(&format!(
            "<a href=\"{href}{slash}\">{shown}</a>{:pad$}{}  {:>5}\n",
            "",
            modified(entry),
            size(entry),
        ));
    }
    html.push_str("<hr></pre>\n");
}

/// `FancyIndexing` with `HTMLTable`.
fn table(html: &mut String, entries: &[Entry], parent: bool) {
    html.push_str(
        "  <table>\n   <tr><th>Name</th><th>Last modified</th><th>Size</th></tr>\n   <tr><th colspan=\"3\"><hr></th></tr>\n",
    );
    if parent {
        html.push_str("<tr><td><a href=\"../\">Parent Directory</a></td><td>&nbsp;</td><td align=\"right\">  - </td></tr>\n");
    }
    for entry in entries {
        let (href, text, slash) = link(entry);
        html.push_str(&format!(
            "<tr><td><a href=\"{href}{slash}\">{text}{slash}</a></td><td align=\"right\">{}</td><td align=\"right\">{}</td></tr>\n",
            modified(entry),
            size(entry),
        ));
    }
    html.push_str("   <tr><th colspan=\"3\"><hr></th></tr>\n</table>\n");
}

/// `2026-12-01 19:42`, in UTC.
fn modified(entry: &Entry) -> String {
    let Some(mtime) = entry.mtime.filter(|t| t.duration_since(UNIX_EPOCH).is_ok()) else {
        return "-".into();
    };
    let time = crate::utc_time::UtcTime::of(mtime);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        time.year, time.month, time.day, time.hour, time.minute
    )
}

/// Apache's short sizes: `-` for a directory, `123`, `4.0K`, `12M`.
fn size(entry: &Entry) -> String {
    if entry.is_dir {
        return "-".into();
    }
    let n = entry.size as f64;
    match entry.size {
        0..=1023 => format!("{}", entry.size),
        1024..=10239 => format!("{:.1}K", n / 1024.0),
        10240..=1048575 => format!("{:.0}K", n / 1024.0),
        1048576..=10485759 => format!("{:.1}M", n / 1048576.0),
        _ => format!("{:.0}M", n / 1048576.0),
    }
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
