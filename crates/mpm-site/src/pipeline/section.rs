//! [`Section`]: one configuration section (`<Directory>`,
//! `<DirectoryMatch>`, `<Files>`, `<FilesMatch>`, `<Location>`,
//! `<LocationMatch>`, `<If>`, `<ElseIf>`, `<Else>`) with the
//! [`DirConfig`] it sets, and what each kind matches.

use std::sync::Arc;

use crate::config::Origin;
use crate::pipeline::dir_config::DirConfig;
use crate::pipeline::expr::Condition;
use crate::uri_path::segment_prefix;

/// One section and what it sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Which kind, and what it matches.
    pub kind: SectionKind,
    /// What it sets (with the `<Files>` and `<If>` sections written
    /// inside it in [`DirConfig::nested`]).
    pub config: DirConfig,
    /// Where it starts.
    pub origin: Origin,
}

impl Section {
    /// A section of `kind` that sets nothing yet.
    pub fn new(kind: SectionKind) -> Section {
        Section {
            kind,
            config: DirConfig::default(),
            origin: Origin::default(),
        }
    }

    /// This section with `config`.
    pub fn with(mut self, config: DirConfig) -> Section {
        self.config = config;
        self
    }
}

/// What a section applies to. Where each is merged is Apache's order
/// ([`crate::pipeline`]'s docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// `<Directory /path>`: the directory and everything below it.
    Directory(std::path::PathBuf),
    /// `<DirectoryMatch regex>` or `<Directory ~ regex>`: directories whose
    /// path matches (tried with and without a trailing `/`).
    DirectoryMatch(Pattern),
    /// `<Files name>`: files whose name (the last path segment) matches the
    /// wildcard (`*`, `?`, `[…]`), case-sensitive.
    Files(String),
    /// `<FilesMatch regex>` or `<Files ~ regex>`: files whose name matches.
    FilesMatch(Pattern),
    /// `<Location /url-path>`: the URL path and everything below it, by
    /// whole segments.
    Location(String),
    /// `<LocationMatch regex>` or `<Location ~ regex>`: URL paths that
    /// match.
    LocationMatch(Pattern),
    /// `<If expr>`: applies when the expression is true; starts a chain.
    If(Arc<dyn Condition>),
    /// `<ElseIf expr>`: applies when no section before it in its chain did
    /// and the expression is true.
    ElseIf(Arc<dyn Condition>),
    /// `<Else>`: applies when no section before it in its chain did.
    Else,
}

impl SectionKind {
    /// The section's name as written (`<Directory>` …), for messages.
    pub fn directive(&self) -> &'static str {
        match self {
            SectionKind::Directory(_) => "<Directory>",
            SectionKind::DirectoryMatch(_) => "<DirectoryMatch>",
            SectionKind::Files(_) => "<Files>",
            SectionKind::FilesMatch(_) => "<FilesMatch>",
            SectionKind::Location(_) => "<Location>",
            SectionKind::LocationMatch(_) => "<LocationMatch>",
            SectionKind::If(_) => "<If>",
            SectionKind::ElseIf(_) => "<ElseIf>",
            SectionKind::Else => "<Else>",
        }
    }

    /// Whether this is a `<Files>` or `<FilesMatch>` section.
    pub fn is_files(&self) -> bool {
        matches!(self, SectionKind::Files(_) | SectionKind::FilesMatch(_))
    }

    /// Whether this is an `<If>`, `<ElseIf>` or `<Else>` section.
    pub fn is_if(&self) -> bool {
        matches!(
            self,
            SectionKind::If(_) | SectionKind::ElseIf(_) | SectionKind::Else
        )
    }

    /// For a `<Files>` or `<FilesMatch>`: whether it holds the file named
    /// `name` (the last segment of its path).
    pub fn matches_file(&self, name: &[u8]) -> bool {
        match self {
            SectionKind::Files(pattern) => wildcard(pattern.as_bytes(), name),
            SectionKind::FilesMatch(pattern) => pattern.is_match_bytes(name),
            _ => false,
        }
    }

    /// For a `<Location>` or `<LocationMatch>`: whether it holds the
    /// decoded, normalised URL path `path`.
    pub fn matches_location(&self, path: &[u8]) -> bool {
        match self {
            SectionKind::Location(prefix) => {
                let prefix = prefix.as_bytes();
                // `<Location />` holds every path; a prefix ending in `/`
                // holds what lies below it.
                segment_prefix(path, prefix) || (prefix.ends_with(b"/") && path.starts_with(prefix))
            }
            SectionKind::LocationMatch(pattern) => pattern.is_match_bytes(path),
            _ => false,
        }
    }

    /// For a `<DirectoryMatch>`: whether it holds the directory `dir`
    /// (absolute, no trailing slash).
    pub fn matches_directory(&self, dir: &[u8]) -> bool {
        match self {
            SectionKind::DirectoryMatch(pattern) => {
                let mut slashed = Vec::with_capacity(dir.len() + 1);
                slashed.extend_from_slice(dir);
                if !dir.ends_with(b"/") {
                    slashed.push(b'/');
                }
                pattern.is_match_bytes(&slashed) || pattern.is_match_bytes(dir)
            }
            _ => false,
        }
    }
}

/// A regular expression from the configuration, compiled once with a
/// bounded size (the `regex` crate matches in linear time), compared by
/// its text.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: regex::bytes::Regex,
}

/// The most memory one configuration regex may compile to.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Pattern {
    /// `source` compiled (Perl-compatible syntax as Apache's PCRE, without
    /// back-references or look-around); `case_insensitive` for
    /// `SetEnvIfNoCase` and `[NC]`. An error says why it is not a regex.
    pub fn new(source: &str, case_insensitive: bool) -> Result<Pattern, String> {
        let regex = regex::bytes::RegexBuilder::new(source)
            .case_insensitive(case_insensitive)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| format!("'{source}' is not a regular expression mpmd can use: {e}"))?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled expression (for captures).
    pub fn regex(&self) -> &regex::bytes::Regex {
        &self.regex
    }

    /// Whether it matches somewhere in `text`.
    pub fn is_match_bytes(&self, text: &[u8]) -> bool {
        self.regex.is_match(text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source && self.regex.as_str() == other.regex.as_str()
    }
}

impl Eq for Pattern {}

/// Shell wildcard matching of a whole name, as `fnmatch` without flags:
/// `*` any run, `?` one byte, `[abc]`, `[a-z]`, `[!x]`/`[^x]` one byte of
/// (or not of) a set, `\x` the byte `x`; case-sensitive.
pub fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and the name position it matched up to.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => class(&pattern[p..], name[n]).map(|len| p + len),
            Some(b'\\') if p + 1 < pattern.len() => (pattern[p + 1] == name[n]).then_some(p + 2),
            Some(&c) => (c == name[n]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                n += 1;
            }
            (None, Some((sp, sn))) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// For a `[…]` class at the start of `pattern`: its length when `byte` is
/// in it, `None` when it is not (or the class is not closed: then `[` is
/// matched as itself).
fn class(pattern: &[u8], byte: u8) -> Option<usize> {
    let mut i = 1;
    let negate = matches!(pattern.get(1), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    while i < pattern.len() {
        let c = pattern[i];
        if c == b']' && !first {
            return (found != negate).then_some(i + 1);
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&e| e != b']') {
            if (c..=pattern[i + 2]).contains(&byte) {
                found = true;
            }
            i += 3;
        } else {
            if c == byte {
                found = true;
            }
            i += 1;
        }
    }
    // Not closed: a literal `[`.
    (byte == b'[').then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_whole_names_as_fnmatch_does() {
        for (pattern, name, want) in [
            ("*.php", "index.php", true),
            ("*.php", "index.php.txt", false),
            (".ht*", ".htaccess", true),
            (".ht*", "a.htaccess", false),
            ("wp-config.php", "wp-config.php", true),
            ("wp-config.php", "WP-config.php", false),
            ("?.txt", "a.txt", true),
            ("?.txt", "ab.txt", false),
            ("[ab]*.c", "bx.c", true),
            ("[!ab]*.c", "bx.c", false),
            ("[a-c]", "b", true),
            ("a*b*c", "aXXbYYbc", true),
            ("a*b*c", "aXXbYYbd", false),
            ("*", "", true),
            ("[", "[", true),
            ("\\*", "*", true),
            ("\\*", "x", false),
        ] {
            assert_eq!(
                wildcard(pattern.as_bytes(), name.as_bytes()),
                want,
                "{pattern} against {name}"
            );
        }
    }

    #[test]
    fn each_kind_matches_what_apache_applies_it_to() {
        let location = SectionKind::Location("/app".into());
        assert!(location.matches_location(b"/app"));
        assert!(location.matches_location(b"/app/x"));
        assert!(!location.matches_location(b"/apple"));
        assert!(SectionKind::Location("/".into()).matches_location(b"/x/y"));
        let re = SectionKind::LocationMatch(Pattern::new(r"\.php$", false).unwrap());
        assert!(re.matches_location(b"/a/index.php"));
        assert!(!re.matches_location(b"/a/index.phps"));
        let files = SectionKind::FilesMatch(Pattern::new(r"^\.ht", false).unwrap());
        assert!(files.matches_file(b".htpasswd"));
        assert!(!files.matches_file(b"x.ht"));
        let dirs = SectionKind::DirectoryMatch(Pattern::new(r"/\.git/", false).unwrap());
        assert!(dirs.matches_directory(b"/srv/www/.git"));
        assert!(dirs.matches_directory(b"/srv/www/.git/objects"));
        assert!(!dirs.matches_directory(b"/srv/www/git"));
        let exact = SectionKind::DirectoryMatch(Pattern::new(r"^/srv/www/[0-9]+$", false).unwrap());
        assert!(exact.matches_directory(b"/srv/www/42"));
        assert!(!exact.matches_directory(b"/srv/www/42/sub"));
    }

    #[test]
    fn a_regex_too_large_to_compile_is_refused_with_the_reason() {
        let e = Pattern::new("(", false).unwrap_err();
        assert!(e.contains("is not a regular expression"), "{e}");
        let huge = "a{1000}{1000}";
        assert!(Pattern::new(huge, false).is_err());
    }
}
