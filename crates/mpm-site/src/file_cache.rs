//! mod_file_cache: the files `MMapFile` and `CacheFile` name, loaded once
//! per configuration (at startup and at each restart), so that a request
//! for one of them costs no `open`, `fstat`, `read` or `close`.
//!
//! - `MMapFile`: the contents are read into memory and every response is
//!   sent from there. Despite the directive's name they are not a memory
//!   mapping: a mapped file that is truncated on disk kills the process
//!   that touches the lost pages (SIGBUS); bytes read once cannot change.
//!   Such a file is answered as a small file kept between requests is
//!   ([`crate::memory_file`]: its metadata is the request's `finfo`, the
//!   head of its whole answer is made once).
//! - `CacheFile`: the descriptor is kept open and each response sends from
//!   a duplicate of it (`dup` and `close` per response, as `Body::File`
//!   owns its file). Sends give their own offset (`sendfile` with an offset,
//!   `pread`), so concurrent responses share the descriptor safely.
//!
//! As in Apache, a cached file is not looked at again: its length,
//! validators (`ETag`, `Last-Modified`) and, for `MMapFile`, its contents
//! are those it had when loaded, whatever happens to it on disk, until a
//! restart (`SIGHUP`, or a graceful `SIGUSR1`) loads it again. A `CacheFile`
//! rewritten in place is sent with its old length and whatever bytes the
//! kept file now holds, so change such files by renaming a new file into
//! place, then restart. The files are opened by the master process, with
//! the rights it starts with (as in Apache, before `User` applies).
//!
//! Only which bytes answer a request changes: the request still passes
//! every check of the static-file path (`<Location>` and `<Directory>`
//! `Require`, the symlink rule, `.ht*`) before the cache is consulted.
//! A request uses the cache when the path it resolves to is exactly a
//! cached path (both absolute and lexically normalised, as Apache compares
//! the request's file name); the path is not resolved through symlinks.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderValue;
use mpm_core::Body;
use rustc_hash::FxBuildHasher;

use crate::config::{CachedFile, FileCacheKind};
use crate::memory_file::MemoryFile;
use crate::mime::MimeTypes;
use crate::validators::Validators;

/// The files loaded for this configuration, by path.
#[derive(Default)]
pub struct FileCache {
    /// By the bytes of the path in plain form (no `//`, no `.` segment, no
    /// trailing `/`): hashing a `Path` goes component by component.
    files: HashMap<Box<[u8]>, Entry, FxBuildHasher>,
    /// Bit `n % 64` set for each loaded file whose name (last segment)
    /// is `n` bytes long: most requests for a file not loaded are told
    /// so from their name's length, with no hashing.
    name_lens: u64,
}

/// One loaded file: what its responses are made of.
pub struct Entry {
    /// `ETag` and `Last-Modified`, from the file as loaded.
    pub(crate) validators: Validators,
    /// Its length when loaded.
    pub(crate) len: u64,
    /// Its content type, from its name (`AddType`, then the built-in table).
    pub(crate) content_type: Option<HeaderValue>,
    content: Content,
}

enum Content {
    /// `MMapFile`: the bytes themselves (shared by every response), with
    /// the metadata and the whole answer's head, as a kept file has them.
    Memory(Arc<MemoryFile>),
    /// `CacheFile`: the open file.
    Descriptor(File),
}

impl FileCache {
    /// Load every file of `files`; one that cannot be loaded (gone since
    /// the configuration was read, unreadable, not a regular file) is
    /// logged as a warning and left out, and the server serves it from
    /// disk as any other file.
    pub fn load(files: &[CachedFile], mime: &MimeTypes) -> FileCache {
        let mut cache = FileCache::default();
        for file in files {
            match Entry::load(&file.path, file.kind, mime) {
                Ok(entry) => {
                    log::debug!(
                        "{}: {} loaded ({} bytes)",
                        file.kind.directive(),
                        file.path.display(),
                        entry.len
                    );
                    let key = key(&file.path);
                    cache.name_lens |= name_bit(&key);
                    cache.files.insert(key.into(), entry);
                }
                Err(e) => log::warn!(
                    "{}: {}: could not load {}: {e}, skipping",
                    file.origin,
                    file.kind.directive(),
                    file.path.display()
                ),
            }
        }
        cache
    }

    /// The loaded file at `path` (absolute, normalised), if any.
    pub fn get(&self, path: &Path) -> Option<&Entry> {
        let bytes = path.as_os_str().as_bytes();
        // No file loaded at all (no `MMapFile` or `CacheFile`): no look at
        // the name either.
        if self.name_lens == 0 || self.name_lens & name_bit(bytes) == 0 {
            return None;
        }
        // A request's file name is nearly always in plain form: looked up
        // as it is first, made plain only when that finds nothing.
        if let Some(entry) = self.files.get(bytes) {
            return Some(entry);
        }
        match key(path) {
            Cow::Owned(plain) => self.files.get(&*plain),
            Cow::Borrowed(_) => None,
        }
    }

    /// How many files are loaded.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.files.len()
    }
}

impl Entry {
    fn load(path: &Path, kind: FileCacheKind, mime: &MimeTypes) -> Result<Entry, String> {
        // Non-blocking, so that a fifo put in the file's place since the
        // configuration was read cannot hang the master.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| mpm_core::error::describe_io(&e))?;
        let meta = file
            .metadata()
            .map_err(|e| mpm_core::error::describe_io(&e))?;
        if !meta.is_file() {
            return Err("not a regular file".into());
        }
        let len = meta.len();
        let name = path.file_name().map_or(&b""[..], |n| n.as_bytes());
        let validators = Validators::of(&meta);
        let content = match kind {
            FileCacheKind::Contents => {
                let contents = read_exactly(&file, len)?;
                Content::Memory(Arc::new(MemoryFile::new(name, meta, contents, mime)))
            }
            FileCacheKind::Descriptor => Content::Descriptor(file),
        };
        Ok(Entry {
            validators,
            len,
            content_type: mime.lookup(name),
            content,
        })
    }

    /// The file's bytes, metadata and answer's head, for `MMapFile`
    /// (answered as a kept file is); `None` for `CacheFile`.
    pub(crate) fn memory(&self) -> Option<&Arc<MemoryFile>> {
        match &self.content {
            Content::Memory(file) => Some(file),
            Content::Descriptor(_) => None,
        }
    }

    /// The body for `len` bytes from `offset` (within the loaded length).
    /// For `CacheFile`, an error when the descriptor cannot be duplicated
    /// (the process is out of descriptors).
    pub(crate) fn body(&self, offset: u64, len: u64) -> std::io::Result<Body> {
        match &self.content {
            Content::Memory(file) => Ok(Body::Bytes(slice(&file.contents, offset, len))),
            Content::Descriptor(file) => Ok(Body::File {
                file: file.try_clone()?,
                offset,
                len,
            }),
        }
    }
}

/// The bytes `path` is kept under: its own when they are in plain form (a
/// request's file name nearly always is), else its components joined as
/// `Path` equality sees them (`/a//b/./c/` is `/a/b/c`).
fn key(path: &Path) -> Cow<'_, [u8]> {
    let bytes = path.as_os_str().as_bytes();
    let plain = !bytes.windows(2).any(|w| w == b"//")
        && !bytes.windows(3).any(|w| w == b"/./")
        && !bytes.ends_with(b"/.")
        && (bytes.len() <= 1 || !bytes.ends_with(b"/"));
    if plain {
        Cow::Borrowed(bytes)
    } else {
        Cow::Owned(
            path.components()
                .collect::<PathBuf>()
                .into_os_string()
                .into_vec(),
        )
    }
}

/// The bit of [`FileCache::name_lens`] for `path`: its last component's
/// length (as `Path::components` reads it: trailing `/` and `/.` aside),
/// modulo 64.
fn name_bit(path: &[u8]) -> u64 {
    let mut end = path.len();
    loop {
        while end > 1 && path[end - 1] == b'/' {
            end -= 1;
        }
        if end >= 2 && path[end - 1] == b'.' && path[end - 2] == b'/' {
            end -= 1;
            continue;
        }
        break;
    }
    let start = path[..end]
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |slash| slash + 1);
    1 << ((end - start) % 64)
}

/// `len` bytes of `bytes` from `offset`, as far as it holds them (no copy).
pub(crate) fn slice(bytes: &Bytes, offset: u64, len: u64) -> Bytes {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let end = usize::try_from(offset.saturating_add(len))
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    bytes.slice(start..end.max(start))
}

/// All `len` bytes of `file`, or an error when it holds fewer (it shrank
/// while being read) or memory for them cannot be had.
fn read_exactly(file: &File, len: u64) -> Result<Bytes, String> {
    let size = usize::try_from(len).map_err(|_| format!("{len} bytes do not fit in memory"))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(size)
        .map_err(|_| format!("no memory for its {len} bytes"))?;
    file.take(len)
        .read_to_end(&mut buf)
        .map_err(|e| mpm_core::error::describe_io(&e))?;
    if buf.len() != size {
        return Err(format!(
            "it shrank while being read ({} of {len} bytes)",
            buf.len()
        ));
    }
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;

    fn cached(path: &Path, kind: FileCacheKind) -> CachedFile {
        CachedFile {
            path: path.to_path_buf(),
            kind,
            origin: Origin::default(),
        }
    }

    fn body_bytes(body: Body) -> Vec<u8> {
        match body {
            Body::Bytes(b) => b.to_vec(),
            Body::File { file, offset, len } => {
                let mut out = vec![0; len as usize];
                std::os::unix::fs::FileExt::read_exact_at(&file, &mut out, offset)
                    .expect("read the cached file");
                out
            }
            other => panic!("a cached file gave {other:?}"),
        }
    }

    #[test]
    fn contents_are_kept_and_later_changes_on_disk_are_not_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello.txt");
        std::fs::write(&path, "Hello, World!").unwrap();
        let mime = MimeTypes::default();
        let cache = FileCache::load(&[cached(&path, FileCacheKind::Contents)], &mime);
        std::fs::write(&path, "changed").unwrap();
        let entry = cache.get(&path).expect("hello.txt is cached");
        assert_eq!(entry.len, 13);
        assert_eq!(entry.content_type.as_ref().unwrap(), "text/plain");
        assert_eq!(body_bytes(entry.body(0, 13).unwrap()), b"Hello, World!");
        assert_eq!(body_bytes(entry.body(7, 5).unwrap()), b"World");
    }

    #[test]
    fn a_descriptor_is_kept_and_each_body_reads_its_own_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("page.html");
        std::fs::write(&path, "0123456789").unwrap();
        let mime = MimeTypes::default();
        let cache = FileCache::load(&[cached(&path, FileCacheKind::Descriptor)], &mime);
        // Gone from the directory, still served from the kept descriptor.
        std::fs::remove_file(&path).unwrap();
        let entry = cache.get(&path).expect("page.html is cached");
        assert_eq!(entry.content_type.as_ref().unwrap(), "text/html");
        let first = entry.body(2, 3).unwrap();
        let second = entry.body(0, 10).unwrap();
        assert_eq!(body_bytes(first), b"234");
        assert_eq!(body_bytes(second), b"0123456789");
    }

    /// A file is found under any spelling `Path` equality takes as its
    /// path, as when the cache was keyed by `PathBuf`.
    #[test]
    fn a_cached_file_is_found_under_each_spelling_of_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let path = dir.path().join("d/hello.txt");
        std::fs::write(&path, "Hello, World!").unwrap();
        let mime = MimeTypes::default();
        let root = dir.path().display().to_string();
        let named = PathBuf::from(format!("{root}//d/./hello.txt"));
        let cache = FileCache::load(&[cached(&named, FileCacheKind::Contents)], &mime);
        for spelling in [
            "/d/hello.txt",
            "/d//hello.txt",
            "/./d/hello.txt",
            "/d/hello.txt/",
            "/d/hello.txt//",
            "/d/hello.txt/.",
            "/d/hello.txt/./",
        ] {
            let asked = PathBuf::from(format!("{root}{spelling}"));
            assert!(cache.get(&asked).is_some(), "{spelling}: not found");
        }
        let other = PathBuf::from(format!("{root}/d/../d/hello.txt"));
        assert!(cache.get(&other).is_none(), "a `..` spelling was found");
    }

    #[test]
    fn a_file_that_cannot_be_loaded_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.txt");
        let mime = MimeTypes::default();
        let cache = FileCache::load(
            &[
                cached(&missing, FileCacheKind::Contents),
                cached(dir.path(), FileCacheKind::Descriptor),
            ],
            &mime,
        );
        assert_eq!(cache.len(), 0);
        assert!(cache.get(&missing).is_none());
    }
}
