//! mod_autoindex: an HTML listing of a directory without an index file
//! (`Options Indexes`), written byte for byte as Apache 2.4's (its
//! doctype, title, absolute parent link, escapes and `text/html;
//! charset=ISO-8859-1`): the plain list, or with `IndexOptions
//! FancyIndexing` the modification time and size (`apr_strfsize`) of each
//! entry with Apache's column widths and sort links (as preformatted
//! columns, or a table with `HTMLTable`); `IndexIgnore`,
//! `FoldersFirst`, `IgnoreCase`, `VersionSort`, `HeaderName`,
//! `ReadmeName`, `SuppressHTMLPreamble`, and the `ServerSignature` line.
//!
//! The client chooses the order and the layout with the query string as
//! Apache 2.4 reads it ([`ClientChoice`]): `C=N|M|S|D` (the column),
//! `O=A|D` (the direction), `F=0|1|2` (plain, fancy, table), `V=0|1`
//! (version sort) and `P=pattern` (only the names that match), each
//! ended by `;` or `&`; the column heads then link to the other orders
//! carrying `F`, `V` and `P` along. `IndexOrderDefault` sets the order
//! without a query, `IndexOptions IgnoreClient` ignores the query (and
//! drops the links), `SuppressColumnSorting` drops the links.

use std::cmp::Ordering;
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
    /// `IndexOrderDefault` (name, ascending, when `None`).
    pub order: Option<IndexOrder>,
    /// The request's query string, as sent (`C=M;O=D`).
    pub query: Option<&'a str>,
}

/// A column a listing can be sorted by: mod_autoindex's keys, each named
/// by the letter of `?C=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `N`: the name.
    Name,
    /// `M`: the modification time.
    Modified,
    /// `S`: the size.
    Size,
    /// `D`: the description (mpmd shows none: by name).
    Description,
}

impl SortKey {
    /// The key of a `?C=` letter (capital, as Apache reads it).
    fn of_letter(letter: u8) -> Option<SortKey> {
        Some(match letter {
            b'N' => SortKey::Name,
            b'M' => SortKey::Modified,
            b'S' => SortKey::Size,
            b'D' => SortKey::Description,
            _ => return None,
        })
    }

    fn letter(self) -> char {
        match self {
            SortKey::Name => 'N',
            SortKey::Modified => 'M',
            SortKey::Size => 'S',
            SortKey::Description => 'D',
        }
    }
}

/// The order of a listing: `IndexOrderDefault Ascending|Descending
/// Name|Date|Size|Description`, or what the client's `?C=…;O=…` chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexOrder {
    /// The column.
    pub key: SortKey,
    /// Descending (`O=D`) rather than ascending.
    pub descending: bool,
}

impl Default for IndexOrder {
    fn default() -> IndexOrder {
        IndexOrder {
            key: SortKey::Name,
            descending: false,
        }
    }
}

impl IndexOrder {
    /// `IndexOrderDefault`'s two words (any case), or `None` when they
    /// are not a direction and a column.
    pub fn parse(direction: &str, key: &str) -> Option<IndexOrder> {
        let descending = match direction.to_ascii_lowercase().as_str() {
            "ascending" => false,
            "descending" => true,
            _ => return None,
        };
        let key = match key.to_ascii_lowercase().as_str() {
            "name" => SortKey::Name,
            "date" => SortKey::Modified,
            "size" => SortKey::Size,
            "description" => SortKey::Description,
            _ => return None,
        };
        Some(IndexOrder { key, descending })
    }
}

/// What the client's query string chose (mod_autoindex's reading of
/// `C=`, `O=`, `F=`, `V=`, `P=`, in any order, each ended by `;` or `&`;
/// reading stops at the first argument it does not know), and what the
/// column heads' links carry along (`colargs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientChoice {
    /// The order.
    pub order: IndexOrder,
    /// The flags, with `F=` and `V=` applied.
    pub flags: IndexFlags,
    /// `P=`: only names matching this wildcard are listed.
    pub pattern: Option<Vec<u8>>,
    /// `;F=…;V=…;P=…` as the links repeat it.
    pub link_args: String,
}

impl ClientChoice {
    /// `query` read over `order` and `flags` (the configuration's).
    pub fn read(query: Option<&str>, order: IndexOrder, flags: IndexFlags) -> ClientChoice {
        let mut choice = ClientChoice {
            order,
            flags,
            pattern: None,
            link_args: String::new(),
        };
        if flags.ignore_client {
            choice.flags.suppress_column_sorting = true;
            return choice;
        }
        let (mut format, mut version, mut pattern_arg) = (None, None, None);
        let mut rest = query.unwrap_or("").as_bytes();
        // A one-letter value, ended by the end, `;` or `&`.
        let single = |rest: &[u8]| -> Option<u8> {
            match rest {
                [_, b'=', v] | [_, b'=', v, b';' | b'&', ..] => Some(*v),
                _ => None,
            }
        };
        while !rest.is_empty() {
            let value = single(rest);
            let step = if rest.len() > 3 { 4 } else { 3 };
            match (rest[0], value.and_then(SortKey::of_letter), value) {
                (b'C', Some(key), _) => choice.order.key = key,
                (b'O', _, Some(v @ (b'A' | b'D'))) => choice.order.descending = v == b'D',
                (b'F', _, Some(v @ (b'0' | b'1' | b'2'))) => {
                    choice.flags.fancy = v != b'0';
                    choice.flags.html_table = v == b'2';
                    format = Some(v as char);
                }
                (b'V', _, Some(v @ (b'0' | b'1'))) => {
                    choice.flags.version_sort = v == b'1';
                    version = Some(v as char);
                }
                (b'P', _, _) if rest.get(1) == Some(&b'=') => {
                    let text = &rest[2..];
                    let end = text
                        .iter()
                        .position(|&b| b == b';' || b == b'&')
                        .unwrap_or(text.len());
                    choice.pattern = None;
                    pattern_arg = None;
                    if end > 0 {
                        if let Some(p) = unescape_url(&text[..end]) {
                            pattern_arg = Some(escape_uri(&p));
                            choice.pattern = Some(p);
                        }
                    }
                    // Past the separator, if anything follows it.
                    rest = text.get(end + 1..).unwrap_or(&[]);
                    continue;
                }
                _ => break,
            }
            rest = &rest[step.min(rest.len())..];
        }
        if let Some(f) = format {
            choice.link_args.push_str(&format!(";F={f}"));
        }
        if let Some(v) = version {
            choice.link_args.push_str(&format!(";V={v}"));
        }
        if let Some(p) = pattern_arg {
            choice.link_args.push_str(";P=");
            choice.link_args.push_str(&p);
        }
        choice
    }

    /// The head of `column` (`Name`, `Last modified`, …): a link to the
    /// listing sorted by it, ascending, or descending when it is the
    /// current ascending column; plain text when sorting by column is
    /// suppressed.
    fn head(&self, key: SortKey, text: &str) -> String {
        if self.flags.suppress_column_sorting {
            return text.to_string();
        }
        let direction = if self.order.key == key && !self.order.descending {
            'D'
        } else {
            'A'
        };
        format!(
            "<a href=\"?C={};O={direction}{}\">{text}</a>",
            key.letter(),
            self.link_args
        )
    }

    /// The four column heads.
    fn heads(&self) -> [String; 4] {
        [
            self.head(SortKey::Name, "Name"),
            self.head(SortKey::Modified, "Last modified"),
            self.head(SortKey::Size, "Size"),
            self.head(SortKey::Description, "Description"),
        ]
    }
}

/// `text` with `%XX` decoded, as Apache's `ap_unescape_url`: `None` for a
/// `%` without two hex digits, or one that decodes to `/` or NUL.
fn unescape_url(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'%' {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let hex = text.get(i + 1..i + 3)?;
        let byte = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        if byte == b'/' || byte == 0 {
            return None;
        }
        out.push(byte);
        i += 3;
    }
    Some(out)
}

/// `bytes` escaped as Apache's `ap_escape_uri` escapes a path (so a link
/// never holds a quote or an angle bracket).
fn escape_uri(bytes: &[u8]) -> String {
    percent_encode(bytes, crate::vars::URI_PATH).to_string()
}

/// One entry of a listing.
struct Entry {
    name: Vec<u8>,
    is_dir: bool,
    size: u64,
    mtime: Option<std::time::SystemTime>,
}

impl Entry {
    /// The name Apache sorts by: a directory's with its `/`.
    fn sort_name(&self) -> std::borrow::Cow<'_, [u8]> {
        if self.is_dir {
            let mut name = self.name.clone();
            name.push(b'/');
            std::borrow::Cow::Owned(name)
        } else {
            std::borrow::Cow::Borrowed(&self.name)
        }
    }
}

/// The listing of `dir`, shown at `url_path` (ending in `/`): entries
/// sorted by name (`.ht*` files, `IndexIgnore`d names, and the
/// `HeaderName`/`ReadmeName` files left out), directories with a trailing
/// `/`, and a link to the parent directory below the root.
pub fn render(dir: &Path, url_path: &[u8], how: &Listing<'_>) -> io::Result<String> {
    let choice = ClientChoice::read(how.query, how.order.unwrap_or_default(), how.flags);
    let flags = choice.flags;
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
        if hidden
            || !choice
                .pattern
                .as_deref()
                .is_none_or(|p| pattern_match(p, &name))
        {
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
    entries.sort_by(|a, b| compare(a, b, &choice));
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
        table(&mut html, &entries, parent, &choice.heads());
    } else if flags.fancy {
        preformatted(&mut html, &entries, parent, &choice.heads());
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

/// `P=`'s wildcard against a name, as `apr_fnmatch` with
/// `APR_FNM_NOESCAPE | APR_FNM_PERIOD`: a backslash is itself, and a
/// leading `.` is matched only by a `.`.
fn pattern_match(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    let mut literal = Vec::with_capacity(pattern.len());
    for &b in pattern {
        if b == b'\\' {
            literal.push(b'\\');
        }
        literal.push(b);
    }
    wildcard(&literal, name)
}

/// Two entries in the order Apache's `dsortf` puts them: directories
/// first with `FoldersFirst` (in a fancy listing), then by the chosen
/// column, then by name (`VersionSort`'s natural order, `IgnoreCase`'s
/// case-blind one, then byte for byte), the whole reversed for `O=D`.
fn compare(a: &Entry, b: &Entry, choice: &ClientChoice) -> Ordering {
    let flags = choice.flags;
    if flags.fancy && flags.folders_first && a.is_dir != b.is_dir {
        return if a.is_dir {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let (c1, c2) = if choice.order.descending {
        (b, a)
    } else {
        (a, b)
    };
    // Without FancyIndexing Apache reads no time or size: all equal.
    let by_key = match choice.order.key {
        SortKey::Modified if flags.fancy => c1.mtime.cmp(&c2.mtime),
        SortKey::Size if flags.fancy => size_of(c1).cmp(&size_of(c2)),
        _ => Ordering::Equal,
    };
    if by_key != Ordering::Equal {
        return by_key;
    }
    let (n1, n2) = (c1.sort_name(), c2.sort_name());
    let mut result = Ordering::Equal;
    if flags.version_sort {
        if flags.ignore_case {
            result = natural_cmp(&n1, &n2, true);
        }
        if result == Ordering::Equal {
            result = natural_cmp(&n1, &n2, false);
        }
    }
    if result == Ordering::Equal && flags.ignore_case {
        result = n1
            .iter()
            .map(u8::to_ascii_lowercase)
            .cmp(n2.iter().map(u8::to_ascii_lowercase));
    }
    result.then_with(|| n1.cmp(&n2))
}

/// APR's `apr_strnatcmp` (`apr_strnatcasecmp` with `fold_case`): runs of
/// digits compared as numbers (`a2` < `a10`), a run starting with `0` as
/// a fraction (`1.05` < `1.5`), spaces skipped.
fn natural_cmp(a: &[u8], b: &[u8], fold_case: bool) -> Ordering {
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let (mut i, mut j) = (0, 0);
    loop {
        while at(a, i).is_ascii_whitespace() {
            i += 1;
        }
        while at(b, j).is_ascii_whitespace() {
            j += 1;
        }
        let (ca, cb) = (at(a, i), at(b, j));
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let digits = if ca == b'0' || cb == b'0' {
                fraction_cmp(&a[i..], &b[j..])
            } else {
                integer_cmp(&a[i..], &b[j..])
            };
            if digits != Ordering::Equal {
                return digits;
            }
        }
        if ca == 0 && cb == 0 {
            return Ordering::Equal;
        }
        let (ca, cb) = if fold_case {
            (ca.to_ascii_uppercase(), cb.to_ascii_uppercase())
        } else {
            (ca, cb)
        };
        match ca.cmp(&cb) {
            Ordering::Equal => {}
            other => return other,
        }
        i += 1;
        j += 1;
    }
}

/// Two runs of digits as whole numbers: the longer run is the larger;
/// of two as long, the first digit that differs decides.
fn integer_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let mut bias = Ordering::Equal;
    let mut k = 0;
    loop {
        let da = a.get(k).is_some_and(u8::is_ascii_digit);
        let db = b.get(k).is_some_and(u8::is_ascii_digit);
        match (da, db) {
            (false, false) => return bias,
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            (true, true) => {
                if bias == Ordering::Equal {
                    bias = a[k].cmp(&b[k]);
                }
            }
        }
        k += 1;
    }
}

/// Two runs of digits as fractions: the first digit that differs
/// decides; a run that ends first is the smaller.
fn fraction_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let mut k = 0;
    loop {
        let da = a.get(k).is_some_and(u8::is_ascii_digit);
        let db = b.get(k).is_some_and(u8::is_ascii_digit);
        match (da, db) {
            (false, false) => return Ordering::Equal,
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            (true, true) => match a[k].cmp(&b[k]) {
                Ordering::Equal => {}
                other => return other,
            },
        }
        k += 1;
    }
}

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
fn preformatted(html: &mut String, entries: &[Entry], parent: Option<&str>, heads: &[String; 4]) {
    let [name, modified_head, size_head, description] = heads;
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
fn table(html: &mut String, entries: &[Entry], parent: Option<&str>, heads: &[String; 4]) {
    html.push_str("  <table>\n   <tr><th valign=\"top\">&nbsp;</th>");
    for head in heads {
        html.push_str(&format!("<th>{head}</th>"));
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

    #[test]
    fn the_query_string_is_read_as_mod_autoindex_reads_it() {
        let read = |q: &str| ClientChoice::read(Some(q), IndexOrder::default(), flags(true, false));
        let c = read("C=M;O=D");
        assert_eq!((c.order.key, c.order.descending), (SortKey::Modified, true));
        assert_eq!(c.link_args, "");
        // An argument it does not know ends the reading.
        let c = read("C=X;O=D");
        assert_eq!(c.order, IndexOrder::default());
        let c = read("O=D&junk;C=S");
        assert_eq!((c.order.key, c.order.descending), (SortKey::Name, true));
        let c = read("C=S&F=2;V=1;P=*.txt");
        assert_eq!(c.order.key, SortKey::Size);
        assert!(c.flags.fancy && c.flags.html_table && c.flags.version_sort);
        assert_eq!(c.pattern.as_deref(), Some(&b"*.txt"[..]));
        assert_eq!(c.link_args, ";F=2;V=1;P=*.txt");
        assert_eq!(
            c.head(SortKey::Size, "Size"),
            "<a href=\"?C=S;O=D;F=2;V=1;P=*.txt\">Size</a>"
        );
        assert_eq!(
            c.head(SortKey::Name, "Name"),
            "<a href=\"?C=N;O=A;F=2;V=1;P=*.txt\">Name</a>"
        );
        // A pattern that does not decode is ignored; F=0 turns fancy off.
        let c = read("P=%2F;F=0");
        assert_eq!((c.pattern, c.link_args.as_str()), (None, ";F=0"));
        assert!(!c.flags.fancy);
        // IgnoreClient: nothing read, no links.
        let ignoring = IndexFlags {
            ignore_client: true,
            ..flags(true, false)
        };
        let c = ClientChoice::read(Some("C=S;O=D"), IndexOrder::default(), ignoring);
        assert_eq!(c.order, IndexOrder::default());
        assert_eq!(c.head(SortKey::Name, "Name"), "Name");
    }

    #[test]
    fn version_sort_compares_numbers_by_value_as_apr_strnatcmp() {
        use Ordering::*;
        for (a, b, want) in [
            ("a2", "a10", Less),
            ("a10", "a2", Greater),
            ("v1.05", "v1.5", Less),
            ("x 1", "x1", Equal),
            ("file9.txt", "file09.txt", Greater),
            ("abc", "abd", Less),
            ("", "a", Less),
        ] {
            assert_eq!(
                natural_cmp(a.as_bytes(), b.as_bytes(), false),
                want,
                "{a} {b}"
            );
        }
        assert_eq!(natural_cmp(b"ABC2", b"abc10", true), Less);
        assert_eq!(natural_cmp(b"ABC2", b"abc10", false), Less);
        assert_eq!(natural_cmp(b"b", b"A", false), Greater);
        assert_eq!(natural_cmp(b"b", b"A", true), Greater);
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
