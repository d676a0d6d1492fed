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
}

#[derive(Default)]
struct Inner {
    entries: HashMap<VariantKey, Entry>,
    bytes: usize,
    clock: u64,
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

    /// Keep `data` as the variant `key` names, making room by dropping
    /// the entries used longest ago.
    pub fn insert(&self, key: VariantKey, data: Bytes) {
        if data.len() > self.budget {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        if let Some(old) = inner.entries.remove(&key) {
            inner.bytes -= old.data.len();
        }
        while inner.bytes + data.len() > self.budget {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some(gone) = inner.entries.remove(&oldest) {
                inner.bytes -= gone.data.len();
            }
        }
        inner.bytes += data.len();
        inner.entries.insert(key, Entry { data, used: now });
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
        cache.insert(key(1), Bytes::from(vec![0; 100]));
        cache.insert(key(2), Bytes::from(vec![0; 100]));
        cache.insert(key(3), Bytes::from(vec![0; 100]));
        // 1 is used again: 2 is now the oldest.
        assert!(cache.get(&key(1)).is_some());
        cache.insert(key(4), Bytes::from(vec![0; 100]));
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
        cache.insert(key(1), Bytes::from(vec![0; 51]));
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn replacing_an_entry_counts_its_bytes_once() {
        let cache = VariantCache::new(1000);
        cache.insert(key(1), Bytes::from(vec![0; 100]));
        cache.insert(key(1), Bytes::from(vec![0; 40]));
        assert_eq!((cache.len(), cache.bytes()), (1, 40));
    }
}
