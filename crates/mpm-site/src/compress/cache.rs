//! Compressed variants of static files, kept in memory within a byte
//! budget, so a file asked for again is not compressed again.
//!
//! An entry is keyed by the file's identity and version (device, inode,
//! size, mtime: a file replaced or rewritten is another key) and by the
//! coding and level it was made with. When the budget is full the entry
//! used longest ago goes first (least recently used). The cache is per
//! process: under prefork each child fills its own.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use super::Encoding;

/// What names one compressed variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VariantKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    encoding: Encoding,
    level: u32,
}

impl VariantKey {
    /// The key of `encoding` at `level` of the file `meta` describes.
    pub fn new(meta: &Metadata, encoding: Encoding, level: u32) -> VariantKey {
        VariantKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            encoding,
            level,
        }
    }
}

struct Entry {
    data: Bytes,
    /// The clock when it was last used.
    used: u64,
    /// The file's path, when known.
    path: Option<PathBuf>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<VariantKey, Entry>,
    /// How many entries each path has (for [`VariantCache::knows`]).
    paths: HashMap<PathBuf, usize>,
    bytes: usize,
    clock: u64,
}

impl Inner {
    fn remove(&mut self, key: &VariantKey) {
        let Some(gone) = self.entries.remove(key) else {
            return;
        };
        self.bytes -= gone.data.len();
        if let Some(path) = gone.path {
            if let Some(count) = self.paths.get_mut(&path) {
                *count -= 1;
                if *count == 0 {
                    self.paths.remove(&path);
                }
            }
        }
    }
}

/// The cache of compressed variants, shared by a process's threads.
pub struct VariantCache {
    budget: usize,
    inner: Mutex<Inner>,
}

impl VariantCache {
    /// A cache holding at most `budget` bytes of compressed data (0: none).
    pub fn new(budget: usize) -> VariantCache {
        VariantCache {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The table; a thread that panicked while holding it left it whole
    /// (each change is made before the lock is released).
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The largest file whose variants are kept: an eighth of the budget,
    /// so one file never empties the cache.
    pub fn max_source(&self) -> u64 {
        (self.budget / 8) as u64
    }

    /// The variant `key` names, if kept.
    pub fn get(&self, key: &VariantKey) -> Option<Bytes> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.entries.get_mut(key)?;
        entry.used = now;
        Some(entry.data.clone())
    }

    /// Keep `data` as the variant `key` names (of the file at `path`,
    /// when known), making room by dropping the entries used longest ago.
    pub fn insert(&self, key: VariantKey, data: Bytes, path: Option<&Path>) {
        if data.len() > self.budget {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        inner.remove(&key);
        while inner.bytes + data.len() > self.budget {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            inner.remove(&oldest);
        }
        inner.bytes += data.len();
        let path = path.map(Path::to_path_buf);
        if let Some(path) = &path {
            *inner.paths.entry(path.clone()).or_default() += 1;
        }
        inner.entries.insert(
            key,
            Entry {
                data,
                used: now,
                path,
            },
        );
    }

    /// Whether some variant of the file at `path` is kept (of some
    /// version of it: the file may have changed since).
    pub fn knows(&self, path: &Path) -> bool {
        self.lock().paths.contains_key(path)
    }

    /// Bytes of compressed data kept.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ino: u64) -> VariantKey {
        VariantKey {
            dev: 1,
            ino,
            size: 10,
            mtime: (0, 0),
            encoding: Encoding::Gzip,
            level: 6,
        }
    }

    #[test]
    fn the_cache_stays_within_its_budget_dropping_the_least_recently_used() {
        let cache = VariantCache::new(300);
        cache.insert(key(1), Bytes::from(vec![0; 100]), None);
        cache.insert(key(2), Bytes::from(vec![0; 100]), None);
        cache.insert(key(3), Bytes::from(vec![0; 100]), None);
        // 1 is used again: 2 is now the oldest.
        assert!(cache.get(&key(1)).is_some());
        cache.insert(key(4), Bytes::from(vec![0; 100]), None);
        assert_eq!(cache.bytes(), 300);
        assert!(
            cache.get(&key(2)).is_none(),
            "the least recently used stayed"
        );
        for kept in [1, 3, 4] {
            assert!(cache.get(&key(kept)).is_some(), "{kept} was dropped");
        }
    }

    #[test]
    fn a_variant_larger_than_the_budget_is_not_kept() {
        let cache = VariantCache::new(50);
        cache.insert(key(1), Bytes::from(vec![0; 51]), None);
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn replacing_an_entry_counts_its_bytes_once() {
        let cache = VariantCache::new(1000);
        cache.insert(key(1), Bytes::from(vec![0; 100]), None);
        cache.insert(key(1), Bytes::from(vec![0; 40]), None);
        assert_eq!((cache.len(), cache.bytes()), (1, 40));
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn a_path_is_known_while_one_of_its_variants_is_kept() {
        let cache = VariantCache::new(150);
        let key = |ino, encoding| VariantKey {
            dev: 1,
            ino,
            size: 10,
            mtime: (0, 0),
            encoding,
            level: 6,
        };
        let a = Path::new("/srv/a.txt");
        cache.insert(key(1, Encoding::Gzip), Bytes::from(vec![0; 50]), Some(a));
        cache.insert(key(1, Encoding::Br), Bytes::from(vec![0; 50]), Some(a));
        assert!(cache.knows(a));
        assert!(!cache.knows(Path::new("/srv/b.txt")));
        // Two more push both of a's variants out.
        let b = Path::new("/srv/b.txt");
        cache.insert(key(2, Encoding::Gzip), Bytes::from(vec![0; 50]), Some(b));
        cache.insert(key(2, Encoding::Br), Bytes::from(vec![0; 100]), Some(b));
        assert!(!cache.knows(a), "a's variants are gone");
        assert!(cache.knows(b));
    }
}
