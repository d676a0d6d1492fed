//! Small static files kept in memory between requests, as nginx's
//! `open_file_cache` keeps descriptors: a hot 4 KiB file costs no `openat`,
//! `statx`, `pread` or `close`, only the `writev` of its answer.
//!
//! A file of up to [`MAX_FILE`] bytes that `map_to_storage` opens is read
//! once and kept with its metadata. A later request for the same file name
//! takes both from here; at most once a second per file, a `stat` of the
//! name checks that it is still the same file, unchanged (device, inode,
//! size, modification and change times to the nanosecond, mode): anything
//! else drops the entry and the request opens the file as the first one
//! did. So a file changed on disk is answered as it was for at most about
//! a second (nginx's `open_file_cache_valid` is 60 s), and a file removed
//! or made unreadable too. Everything else a request goes through
//! (`<Directory>` sections, `Require`, the symlink rule, `.ht*`) is
//! unchanged: only how the file's bytes are had is.
//!
//! Bounded: at most [`MAX_ENTRIES`] files and [`MAX_BYTES`] bytes per
//! process (per configuration); when a new file does not fit, the cache
//! starts again empty (as the `.htaccess` cache). Unlike `MMapFile` (all
//! the configuration names, never looked at again), it needs no
//! configuration and follows the files.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rustc_hash::FxBuildHasher;

use crate::memory_file::MemoryFile;
use crate::mime::MimeTypes;

/// The largest file kept: a few pages, the size of a small answer.
pub const MAX_FILE: u64 = 16 * 1024;
/// The most bytes kept per process.
pub const MAX_BYTES: usize = 1024 * 1024;
/// The most files kept per process.
pub const MAX_ENTRIES: usize = 256;

/// See the module documentation.
#[derive(Default)]
pub struct OpenFiles {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By the file name's bytes (hashing a `Path` walks its components).
    files: HashMap<Box<[u8]>, Hot, FxBuildHasher>,
    /// The bytes of every entry.
    bytes: usize,
}

struct Hot {
    /// Its bytes, metadata and the head of its whole answer.
    file: Arc<MemoryFile>,
    /// The second (since the epoch) the file was last seen unchanged.
    checked: u64,
}

impl OpenFiles {
    /// The file named `path` (its metadata, contents and answer's head),
    /// when it is kept and still the file it was (looked at again at most
    /// once a second).
    pub fn get(&self, path: &Path) -> Option<Arc<MemoryFile>> {
        let key = path.as_os_str().as_bytes();
        let now = now_secs();
        let (file, checked) = {
            let inner = self.inner.lock().ok()?;
            let hot = inner.files.get(key)?;
            (hot.file.clone(), hot.checked)
        };
        if checked == now {
            return Some(file);
        }
        // The `stat` is made without the lock held.
        let fresh = std::fs::metadata(path)
            .ok()
            .is_some_and(|m| same_file(&m, &file.meta));
        let mut inner = self.inner.lock().ok()?;
        if fresh {
            if let Some(entry) = inner.files.get_mut(key) {
                entry.checked = now;
            }
            Some(file)
        } else {
            if let Some(gone) = inner.files.remove(key) {
                inner.bytes -= gone.file.contents.len();
            }
            None
        }
    }

    /// Keeps `file` (opened as `path`, with `meta`) when it is a regular
    /// file small enough, and gives it, read whole, with its answer's head
    /// (typed by `mime`); `None` (nothing kept) otherwise, or when it
    /// cannot be read whole.
    pub fn keep(
        &self,
        path: &Path,
        file: &File,
        meta: &Metadata,
        mime: &MimeTypes,
    ) -> Option<Arc<MemoryFile>> {
        if !meta.is_file() || meta.len() > MAX_FILE {
            return None;
        }
        let mut contents = vec![0; meta.len() as usize];
        file.read_exact_at(&mut contents, 0).ok()?;
        let name = crate::pipeline::request::last_segment(path);
        let kept = Arc::new(MemoryFile::new(
            name,
            meta.clone(),
            Bytes::from(contents),
            mime,
        ));
        let len = kept.contents.len();
        let mut inner = self.inner.lock().ok()?;
        if inner.files.len() >= MAX_ENTRIES || inner.bytes + len > MAX_BYTES {
            inner.files.clear();
            inner.bytes = 0;
        }
        let hot = Hot {
            file: kept.clone(),
            checked: now_secs(),
        };
        let key: Box<[u8]> = path.as_os_str().as_bytes().into();
        inner.bytes += len;
        if let Some(old) = inner.files.insert(key, hot) {
            inner.bytes -= old.file.contents.len();
        }
        Some(kept)
    }
}

/// Whether `now` describes the same file as `then`, unchanged.
fn same_file(now: &Metadata, then: &Metadata) -> bool {
    now.is_file()
        && now.dev() == then.dev()
        && now.ino() == then.ino()
        && now.len() == then.len()
        && now.mtime() == then.mtime()
        && now.mtime_nsec() == then.mtime_nsec()
        && now.ctime() == then.ctime()
        && now.ctime_nsec() == then.ctime_nsec()
        && now.mode() == then.mode()
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn written(dir: &Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        let mut f = File::create(&path).unwrap();
        f.write_all(contents).unwrap();
        path
    }

    fn opened(path: &Path) -> (File, Metadata) {
        let f = File::open(path).unwrap();
        let m = f.metadata().unwrap();
        (f, m)
    }

    /// Ages the entry's last check, as if a second had passed.
    fn age(cache: &OpenFiles, path: &Path) {
        let mut inner = cache.inner.lock().unwrap();
        inner
            .files
            .get_mut(path.as_os_str().as_bytes())
            .unwrap()
            .checked = 0;
    }

    #[test]
    fn a_small_file_is_kept_and_given_back_without_opening_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), "a.txt", b"hello");
        let cache = OpenFiles::default();
        assert!(cache.get(&path).is_none(), "an empty cache gave a file");
        let (f, m) = opened(&path);
        let kept = cache.keep(&path, &f, &m, &MimeTypes::default());
        assert_eq!(
            kept.map(|k| k.contents.clone()).as_deref(),
            Some(&b"hello"[..])
        );
        let file = cache.get(&path).expect("the kept file");
        assert_eq!((&file.contents[..], file.meta.len()), (&b"hello"[..], 5));
    }

    #[test]
    fn a_file_changed_on_disk_is_dropped_at_the_next_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), "a.txt", b"hello");
        let cache = OpenFiles::default();
        let (f, m) = opened(&path);
        cache.keep(&path, &f, &m, &MimeTypes::default()).unwrap();
        written(dir.path(), "a.txt", b"changed, longer");
        age(&cache, &path);
        assert!(
            cache.get(&path).is_none(),
            "a changed file was given as it was"
        );
        assert_eq!(cache.inner.lock().unwrap().bytes, 0);
        // Removed: the same.
        let (f, m) = opened(&path);
        cache.keep(&path, &f, &m, &MimeTypes::default()).unwrap();
        std::fs::remove_file(&path).unwrap();
        age(&cache, &path);
        assert!(cache.get(&path).is_none(), "a removed file was given");
    }

    #[test]
    fn an_unchanged_file_survives_its_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), "a.txt", b"hello");
        let cache = OpenFiles::default();
        let (f, m) = opened(&path);
        cache.keep(&path, &f, &m, &MimeTypes::default()).unwrap();
        age(&cache, &path);
        assert!(cache.get(&path).is_some(), "an unchanged file was dropped");
    }

    #[test]
    fn large_files_and_directories_are_not_kept_and_the_bounds_hold() {
        let dir = tempfile::tempdir().unwrap();
        let big = written(dir.path(), "big", &vec![b'x'; MAX_FILE as usize + 1]);
        let cache = OpenFiles::default();
        let (f, m) = opened(&big);
        assert!(
            cache.keep(&big, &f, &m, &MimeTypes::default()).is_none(),
            "a large file was kept"
        );
        let (f, m) = opened(dir.path());
        assert!(
            cache
                .keep(dir.path(), &f, &m, &MimeTypes::default())
                .is_none(),
            "a directory was kept"
        );
        let mut files = Vec::new();
        for i in 0..MAX_ENTRIES + 10 {
            let path = written(dir.path(), &format!("f{i}"), &vec![b'y'; 8 * 1024]);
            let (f, m) = opened(&path);
            cache.keep(&path, &f, &m, &MimeTypes::default()).unwrap();
            files.push(path);
        }
        let inner = cache.inner.lock().unwrap();
        assert!(
            inner.files.len() <= MAX_ENTRIES,
            "{} files kept",
            inner.files.len()
        );
        assert!(inner.bytes <= MAX_BYTES, "{} bytes kept", inner.bytes);
        let sum: usize = inner.files.values().map(|h| h.file.contents.len()).sum();
        assert_eq!(sum, inner.bytes, "the byte count drifted");
    }
}
