//! The files a thread answered lately without the pipeline, by request
//! path: so the next request for the same path on the same host goes
//! straight to its file in memory, without mapping the path again (its
//! rules, the file name joined, the `MMapFile` or kept-file lookup with
//! its hashing and lock, the verdict).
//!
//! Each thread keeps a few (a small table indexed by the path's length
//! and last byte, one entry per slot, replaced on a miss). An entry says
//! what [`Site::answer_untouched`](crate::site::Site) found for one host
//! (by its key, never reused) and one path in plain form, so what it
//! depends on cannot change under it: the host's rules and sections are
//! fixed while it serves, and an `MMapFile` is loaded once for the site.
//! A kept file ([`crate::open_files`]) may change on disk: its entry holds
//! only within the clock second in which the kept file was known current
//! (as the kept files' own look holds, "at most once a second"), so a
//! change is seen within the same second it would be without this table.
//! Only files up to the kept files' own limit are held here, so what a
//! slot keeps alive after its caches let go of it stays small.

use std::cell::RefCell;
use std::sync::Arc;

use crate::memory_file::MemoryFile;
use crate::open_files::{now_secs, MAX_FILE};

/// Entries per thread.
const SLOTS: usize = 8;

/// One path's file, for one host.
struct Seen {
    host: u64,
    path: Vec<u8>,
    file: Arc<MemoryFile>,
    /// For a kept file, the clock second ([`now_secs`]) within which its
    /// entry holds; `None` for an `MMapFile`, which holds while its host
    /// serves.
    second: Option<u64>,
}

thread_local! {
    static SEEN: RefCell<[Option<Seen>; SLOTS]> =
        const { RefCell::new([const { None }; SLOTS]) };
}

/// The slot of `path` (a plain path: not empty).
fn slot(path: &[u8]) -> usize {
    (path.len() ^ usize::from(path.last().copied().unwrap_or(0))) % SLOTS
}

/// `answer` applied to the file `host` answered `path` with lately, when
/// this thread keeps it and it still holds; `None` otherwise.
pub(crate) fn answer<T>(
    host: u64,
    path: &[u8],
    answer: impl FnOnce(&MemoryFile) -> T,
) -> Option<T> {
    SEEN.with_borrow(|seen| {
        let seen = seen[slot(path)].as_ref()?;
        if seen.host != host || seen.path != path {
            return None;
        }
        if seen.second.is_some_and(|second| second != now_secs()) {
            return None;
        }
        Some(answer(&seen.file))
    })
}

/// Keep `file` as what `host` answers the plain `path` with: an
/// `MMapFile` (`second` is `None`), or a kept file known current within
/// clock second `second`.
pub(crate) fn keep(host: u64, path: &[u8], file: &Arc<MemoryFile>, second: Option<u64>) {
    if file.contents.len() as u64 > MAX_FILE {
        return;
    }
    SEEN.with_borrow_mut(|seen| match &mut seen[slot(path)] {
        Some(seen) => {
            seen.host = host;
            seen.path.clear();
            seen.path.extend_from_slice(path);
            seen.file = file.clone();
            seen.second = second;
        }
        empty => {
            *empty = Some(Seen {
                host,
                path: path.to_vec(),
                file: file.clone(),
                second,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::MimeTypes;

    fn file(contents: &'static [u8]) -> Arc<MemoryFile> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, contents).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        Arc::new(MemoryFile::new(
            b"a.txt",
            meta,
            bytes::Bytes::from_static(contents),
            &MimeTypes::default(),
        ))
    }

    fn found(host: u64, path: &[u8]) -> Option<Vec<u8>> {
        answer(host, path, |f| f.contents.to_vec())
    }

    #[test]
    fn an_entry_answers_only_its_host_and_path_and_a_kept_file_only_within_its_second() {
        let mapped = file(b"mapped");
        keep(7, b"/m.txt", &mapped, None);
        assert_eq!(found(7, b"/m.txt").as_deref(), Some(&b"mapped"[..]));
        assert_eq!(found(8, b"/m.txt"), None, "another host's entry answered");
        // Same length and last byte: the same slot, another path.
        assert_eq!(found(7, b"/n.txt"), None, "another path's entry answered");

        let kept = file(b"kept");
        keep(7, b"/k.txt", &kept, Some(now_secs()));
        // Within the second (or, past its end, a miss: never the other way).
        let within = now_secs();
        let got = found(7, b"/k.txt");
        if now_secs() == within {
            assert_eq!(got.as_deref(), Some(&b"kept"[..]));
        }
        keep(7, b"/k.txt", &kept, Some(now_secs() - 1));
        assert_eq!(
            found(7, b"/k.txt"),
            None,
            "a kept file's entry answered after its second"
        );
    }
}
