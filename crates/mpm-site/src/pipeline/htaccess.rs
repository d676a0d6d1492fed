//! `.htaccess` files: which directive classes `AllowOverride` lets them
//! hold ([`Overrides`]), the parser `mpmd` gives the site
//! ([`OverrideParser`], the same directive code as the main
//! configuration), and the cache that keeps each parsed file by path,
//! modification time and size, looking at the file at most once a second
//! ([`HtaccessCache`]). The cache has a version, changed whenever what it
//! answers for some file changes, so the directory walks made from its
//! answers can be kept ([`crate::pipeline::walk`]) and dropped when it
//! moves on.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Origin;
use crate::pipeline::dir_config::DirConfig;

/// The directive classes `AllowOverride` names, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Overrides(u8);

impl Overrides {
    /// `AllowOverride None`: no `.htaccess` is read.
    pub const NONE: Overrides = Overrides(0);
    /// `AuthConfig`: authentication and authorisation (`AuthType`,
    /// `Require`, …).
    pub const AUTH_CONFIG: Overrides = Overrides(1);
    /// `FileInfo`: document types and handling (`AddType`, `SetHandler`,
    /// `ErrorDocument`, `Header`, `RewriteRule`, `SetEnvIf`, …).
    pub const FILE_INFO: Overrides = Overrides(2);
    /// `Indexes`: directory indexing (`DirectoryIndex`, `IndexOptions`,
    /// `FancyIndexing`, `ExpiresActive`, …).
    pub const INDEXES: Overrides = Overrides(4);
    /// `Limit`: host access (`Order`, `Allow`, `Deny`).
    pub const LIMIT: Overrides = Overrides(8);
    /// `Options` (`Options=…` is read as `Options`: mpmd's options are
    /// few, and a `.htaccess` may set each).
    pub const OPTIONS: Overrides = Overrides(16);
    /// `AllowOverride All`.
    pub const ALL: Overrides = Overrides(31);

    /// Both sets.
    pub fn union(self, other: Overrides) -> Overrides {
        Overrides(self.0 | other.0)
    }

    /// Whether every class of `other` is in `self`.
    pub fn contains(self, other: Overrides) -> bool {
        self.0 & other.0 == other.0
    }

    /// The class `AllowOverride` names `word` (any case), if it is one.
    pub fn class(word: &str) -> Option<Overrides> {
        Some(match word.to_ascii_lowercase().as_str() {
            "none" => Overrides::NONE,
            "all" => Overrides::ALL,
            "authconfig" => Overrides::AUTH_CONFIG,
            "fileinfo" => Overrides::FILE_INFO,
            "indexes" => Overrides::INDEXES,
            "limit" => Overrides::LIMIT,
            "options" => Overrides::OPTIONS,
            _ => return None,
        })
    }
}

/// What a `.htaccess` file in one directory may hold: `AllowOverride`'s
/// classes, `Options=…`'s list, and `AllowOverrideList`'s directives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtaccessRules<'a> {
    /// `AllowOverride` classes.
    pub overrides: Overrides,
    /// `AllowOverrideList` directives (lower case).
    pub list: &'a [String],
}

/// A `.htaccess` file that could not be used: the line and what is wrong.
/// The request is answered 500 and this is logged, as Apache does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideError {
    /// The file and line.
    pub origin: Origin,
    /// What is wrong ("Options not allowed here", "Invalid command …").
    pub message: String,
}

impl std::fmt::Display for OverrideError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

/// Parses a `.htaccess` file's text into a [`DirConfig`] with the same
/// directive code the main configuration uses (`mpmd` implements it in
/// its configuration loader). `rules` says what the file may hold; a
/// directive it may not hold, or one that is wrong, is an error naming
/// `file` and the line.
pub trait OverrideParser: Send + Sync {
    /// The configuration `text` (the file `file`, in directory `dir`) sets.
    fn parse(
        &self,
        text: &[u8],
        file: &Path,
        dir: &Path,
        rules: &HtaccessRules<'_>,
    ) -> Result<DirConfig, OverrideError>;
}

/// How long a file's last look is trusted: within it a request costs no
/// system call for the file.
pub const RECHECK: Duration = Duration::from_secs(1);

/// The largest `.htaccess` file read (as the main configuration's files
/// are limited): a larger one is a 500 with a log line.
pub const MAX_SIZE: u64 = 1 << 20;

/// The cached entries at most; past it the cache starts again empty.
const MAX_ENTRIES: usize = 4096;

/// What the cache holds for one path.
#[derive(Clone)]
struct Entry {
    /// When the file was last looked at.
    checked: Instant,
    /// `(mtime in ns, size, inode)` of what was parsed; `None` when no file
    /// was there.
    stamp: Option<(i128, u64, u64)>,
    /// The rules the file was parsed under (a file is parsed again when
    /// they differ).
    rules: (Overrides, Vec<String>),
    /// What it set, or why it could not be used.
    parsed: Result<Option<Arc<DirConfig>>, Failure>,
}

/// Why a `.htaccess` file could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It could not be read (permission): 403.
    Unreadable(String),
    /// It holds a directive that is wrong or not allowed: 500.
    Invalid(OverrideError),
}

/// Parsed `.htaccess` files by path, shared by a process's threads.
/// Keyed by the path's bytes: hashing them is a few times cheaper than
/// hashing a `Path` (which hashes component by component).
#[derive(Default)]
pub struct HtaccessCache {
    entries: Mutex<HashMap<OsString, Entry>>,
    /// Changed whenever an answer for some file changes (a file parsed
    /// again, appeared, went, became unreadable) or the cache starts
    /// again: what was made from older answers is stale.
    version: AtomicU64,
}

/// What [`HtaccessCache::get`] answers: the file's configuration and until
/// when that answer holds without looking at the file again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Looked {
    /// What the file sets (`Ok(None)`: there is none), or why it cannot
    /// be used.
    pub parsed: Result<Option<Arc<DirConfig>>, Failure>,
    /// The end of the [`RECHECK`] interval of this look: until then the
    /// cache answers the same without a system call.
    pub fresh_until: Instant,
}

impl HtaccessCache {
    /// The cache's version: it changes whenever an answer for some file
    /// changes, so a result made from answers under one version is
    /// current while the version is the same (and each answer is fresh,
    /// [`Looked::fresh_until`]).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// What the file `file` (in directory `dir`) sets under `rules`:
    /// `Ok(None)` when there is none. Looked at again (a `stat`) at most
    /// once per [`RECHECK`], and parsed again only when its modification
    /// time, size or inode changed.
    pub fn get(
        &self,
        parser: &dyn OverrideParser,
        file: &Path,
        dir: &Path,
        rules: &HtaccessRules<'_>,
    ) -> Looked {
        let now = Instant::now();
        let previous = {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get(file.as_os_str()) {
                // The hit: no allocation, no system call.
                Some(entry)
                    if entry.rules.0 == rules.overrides
                        && entry.rules.1 == rules.list
                        && now.duration_since(entry.checked) < RECHECK =>
                {
                    return Looked {
                        parsed: entry.parsed.clone(),
                        fresh_until: entry.checked + RECHECK,
                    };
                }
                Some(entry) => Some(entry.clone()),
                None => None,
            }
        };
        let rules_key = (rules.overrides, rules.list.to_vec());
        let stamp = match std::fs::metadata(file) {
            Ok(meta) if meta.is_file() => Some((
                i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
                meta.size(),
                meta.ino(),
            )),
            Ok(_) => None,
            Err(e) if missing(&e) => None,
            Err(e) => {
                let failure = Err(unreadable(file, dir, &e));
                let same = previous.is_some_and(|p| p.stamp.is_none() && p.parsed == failure);
                return self.store(file, now, None, rules_key, failure, !same);
            }
        };
        if let Some(entry) = previous {
            if entry.rules == rules_key && entry.stamp == stamp {
                // Looked at again and unchanged: the same answer.
                return self.store(file, now, stamp, rules_key, entry.parsed, false);
            }
        }
        let parsed = match stamp {
            None => Ok(None),
            Some((_, size, _)) if size > MAX_SIZE => Err(Failure::Invalid(OverrideError {
                origin: Origin {
                    file: file.to_path_buf(),
                    line: 0,
                },
                message: format!(
                    "the file is larger than {} KiB, mpmd's limit for .htaccess files",
                    MAX_SIZE >> 10
                ),
            })),
            Some(_) => match std::fs::read(file) {
                Ok(text) => parser
                    .parse(&text, file, dir, rules)
                    .map(|config| Some(Arc::new(config)))
                    .map_err(Failure::Invalid),
                Err(e) if missing(&e) => Ok(None),
                Err(e) => Err(unreadable(file, dir, &e)),
            },
        };
        self.store(file, now, stamp, rules_key, parsed, true)
    }

    /// Every answer's last look made `by` older, as time passing would
    /// (for tests of what is kept from the answers).
    #[cfg(test)]
    pub(crate) fn age(&self, by: Duration) {
        for entry in self.entries.lock().unwrap().values_mut() {
            entry.checked -= by;
        }
    }

    /// Keep `parsed` for `file`; `changed` when it is another answer than
    /// the one kept before (the version moves on).
    fn store(
        &self,
        file: &Path,
        checked: Instant,
        stamp: Option<(i128, u64, u64)>,
        rules: (Overrides, Vec<String>),
        parsed: Result<Option<Arc<DirConfig>>, Failure>,
        changed: bool,
    ) -> Looked {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut changed = changed;
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(file.as_os_str()) {
            entries.clear();
            changed = true;
        }
        if changed {
            // Under the lock, so a reader that saw the new entry sees the
            // new version too.
            self.version.fetch_add(1, Ordering::AcqRel);
        }
        entries.insert(
            file.as_os_str().to_os_string(),
            Entry {
                checked,
                stamp,
                rules,
                parsed: parsed.clone(),
            },
        );
        Looked {
            parsed,
            fresh_until: checked + RECHECK,
        }
    }
}

/// Whether `e` says there is no such file (or a path segment is a file).
fn missing(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR))
}

/// Apache's message for a `.htaccess` it cannot read (AH00529).
fn unreadable(file: &Path, dir: &Path, e: &io::Error) -> Failure {
    Failure::Unreadable(format!(
        "{}: {} pcfg_openfile: unable to check htaccess file, ensure it is readable and that '{}/' is executable",
        mpm_core::error::describe_io(e),
        file.display(),
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its calls; a file whose text is `bad` is refused.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl OverrideParser for Counting {
        fn parse(
            &self,
            text: &[u8],
            file: &Path,
            _: &Path,
            _: &HtaccessRules<'_>,
        ) -> Result<DirConfig, OverrideError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if text.starts_with(b"bad") {
                return Err(OverrideError {
                    origin: Origin {
                        file: file.to_path_buf(),
                        line: 1,
                    },
                    message: "bad not allowed here".into(),
                });
            }
            Ok(DirConfig {
                directory_index: Some(vec![String::from_utf8_lossy(text).trim().to_string()]),
                ..DirConfig::default()
            })
        }
    }

    /// Every entry's last look made `RECHECK` older, as a second passing.
    fn age(cache: &HtaccessCache) {
        cache.age(RECHECK);
    }

    /// `AllowOverride All`.
    const ALL: HtaccessRules<'static> = HtaccessRules {
        overrides: Overrides::ALL,
        list: &[],
    };

    /// A directory, where its `.htaccess` would be, a counting parser and
    /// an empty cache.
    fn setup() -> (
        tempfile::TempDir,
        std::path::PathBuf,
        Counting,
        HtaccessCache,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".htaccess");
        (dir, file, Counting::default(), HtaccessCache::default())
    }

    #[test]
    fn a_file_is_parsed_once_and_again_only_when_it_changed_after_the_recheck_interval() {
        let (dir, file, parser, cache) = setup();
        let get = || cache.get(&parser, &file, dir.path(), &ALL).parsed;
        assert_eq!(get(), Ok(None));
        std::fs::write(&file, "one.html").unwrap();
        // Within a second of looking, the missing file is still missing.
        assert_eq!(get(), Ok(None));
        age(&cache);
        let got = get().unwrap().unwrap();
        assert_eq!(got.directory_index(), ["one.html"]);
        for _ in 0..10 {
            get().unwrap();
        }
        assert_eq!(parser.0.load(Ordering::SeqCst), 1, "parsed once");
        std::fs::write(&file, "bad line").unwrap();
        age(&cache);
        let Err(Failure::Invalid(e)) = get() else {
            panic!("a changed, wrong file is refused");
        };
        assert_eq!(
            e.to_string(),
            format!("{}:1: bad not allowed here", file.display())
        );
        assert_eq!(parser.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_version_moves_only_when_an_answer_changes() {
        let (dir, file, parser, cache) = setup();
        let get = || cache.get(&parser, &file, dir.path(), &ALL);
        let start = cache.version();
        let first = get();
        assert_eq!(first.parsed, Ok(None));
        let after_first = cache.version();
        assert_ne!(after_first, start, "a first answer is a new one");
        let again = get();
        assert_eq!(again.fresh_until, first.fresh_until, "the same look");
        age(&cache);
        let looked_again = get();
        assert!(
            looked_again.fresh_until >= first.fresh_until,
            "a new look starts a new interval"
        );
        assert_eq!(
            cache.version(),
            after_first,
            "looked at again, still missing: the same answer"
        );
        std::fs::write(&file, "one.html").unwrap();
        assert_eq!(get().parsed, Ok(None), "within the interval: not looked at");
        assert_eq!(cache.version(), after_first);
        age(&cache);
        assert!(get().parsed.unwrap().is_some());
        let after_write = cache.version();
        assert_ne!(after_write, after_first, "the file appeared");
        age(&cache);
        get().parsed.unwrap();
        assert_eq!(cache.version(), after_write, "unchanged file: same version");
        assert_eq!(parser.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn allow_override_classes_are_named_as_in_apache() {
        assert_eq!(Overrides::class("All"), Some(Overrides::ALL));
        assert_eq!(Overrides::class("none"), Some(Overrides::NONE));
        let both = Overrides::AUTH_CONFIG.union(Overrides::FILE_INFO);
        assert!(both.contains(Overrides::FILE_INFO) && !both.contains(Overrides::OPTIONS));
        assert_eq!(Overrides::class("Everything"), None);
    }
}
