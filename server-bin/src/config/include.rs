//! Finding and reading configuration files: the main file, and the files
//! an `Include` names (a file, a directory read recursively, a wildcard).
//!
//! A configuration comes from people and from tools, and a mistake in one
//! must end in an error, not in a reader that hangs or eats the machine:
//! only regular files are read (a FIFO would block `-t` forever and
//! `/dev/zero` never ends), one file is at most [`MAX_FILE_SIZE`] and all
//! files together at most [`MAX_TOTAL_SIZE`], and a directory that leads
//! back into itself (a symlink to `.`) is refused instead of walked
//! without end. Include cycles between files and the nesting depth are
//! the loader's (`directives.rs`, `lexer::MAX_NESTING`).

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::lexer::MAX_NESTING;

/// The largest configuration file read: 16 MiB. Apache's own sample
/// configuration is 20 KiB; a generated file with ten thousand virtual
/// hosts is a few MiB; the parsed tree of a file takes several times its
/// size in memory, so the cap also bounds that.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// The most bytes read for one configuration, every file counted each
/// time it is included: 256 MiB. Files that include one another several
/// times over (each including the next twice, sixteen deep) would
/// otherwise read the same bytes millions of times.
pub const MAX_TOTAL_SIZE: u64 = 256 << 20;

/// What a file is, for "… is a fifo, not a regular file".
fn kind(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a fifo"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// The bytes of the configuration file at `path`: refused, with the
/// reason, when it is not a regular file or is larger than
/// [`MAX_FILE_SIZE`]. Never blocks on a FIFO (opened non-blocking, then
/// refused) and never reads more than the cap, even from a file that grows
/// while it is read.
pub fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            format!(
                "could not open '{}': {}",
                path.display(),
                mpm::strategy::error::describe_io(&e)
            )
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("could not stat '{}': {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "'{}' is {}, not a regular file: only regular files are read as configuration",
            path.display(),
            kind(meta.file_type())
        ));
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(too_large(path));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&file)
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("could not read '{}': {e}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(too_large(path));
    }
    Ok(bytes)
}

/// The refusal of a file beyond [`MAX_FILE_SIZE`].
pub fn too_large(path: &Path) -> String {
    format!(
        "'{}' is larger than {} MiB, mpmd's limit for one configuration file (split it with Include)",
        path.display(),
        MAX_FILE_SIZE >> 20
    )
}

/// The files an `Include` of `path` reads: the file itself, or a
/// directory's files, recursively, each directory's entries in name order
/// (as Apache). A directory met again below itself (by canonical path: a
/// symlink to `.` or to a parent) is an error, as is a tree deeper than
/// [`MAX_NESTING`].
pub fn files_in(path: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    walk(path, &mut Vec::new(), &mut files)?;
    Ok(files)
}

fn walk(path: &Path, above: &mut Vec<PathBuf>, files: &mut Vec<PathBuf>) -> Result<(), String> {
    if !path.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let canonical = path
        .canonicalize()
        .map_err(|e| format!("could not resolve directory '{}': {e}", path.display()))?;
    if let Some(first) = above.iter().find(|d| **d == canonical) {
        return Err(format!(
            "directory '{}' leads back to '{}', which includes it already (a symlink loop?); remove the link or include the files by name",
            path.display(),
            first.display()
        ));
    }
    if above.len() >= MAX_NESTING {
        return Err(format!(
            "directory '{}' is more than {MAX_NESTING} directories deep below the one included",
            path.display()
        ));
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("could not read directory '{}': {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    above.push(canonical);
    for entry in entries {
        walk(&entry, above, files)?;
    }
    above.pop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    #[test]
    fn a_fifo_is_refused_at_once_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_file(&fifo).unwrap_err();
        assert!(e.contains("is a fifo, not a regular file"), "{e}");
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let e = read_file(Path::new("/dev/zero")).unwrap_err();
        assert!(e.contains("'/dev/zero' is a character device"), "{e}");
        let e = read_file(Path::new("/")).unwrap_err();
        assert!(e.contains("'/' is a directory"), "{e}");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.conf");
        // Sparse: no disk space used.
        File::create(&big)
            .unwrap()
            .set_len(MAX_FILE_SIZE + 1)
            .unwrap();
        let e = read_file(&big).unwrap_err();
        assert!(e.contains("larger than 16 MiB"), "{e}");
        let ok = dir.path().join("ok.conf");
        File::create(&ok).unwrap().set_len(MAX_FILE_SIZE).unwrap();
        assert_eq!(read_file(&ok).map(|b| b.len() as u64), Ok(MAX_FILE_SIZE));
    }

    #[test]
    fn a_directory_with_a_symlink_to_itself_is_an_error_not_an_endless_walk() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf.d");
        std::fs::create_dir(&conf).unwrap();
        std::fs::write(conf.join("a.conf"), "").unwrap();
        std::os::unix::fs::symlink(".", conf.join("self")).unwrap();
        let e = files_in(&conf).unwrap_err();
        assert!(
            e.contains(&format!(
                "directory '{}' leads back to",
                conf.join("self").display()
            )),
            "{e}"
        );
    }

    #[test]
    fn directories_are_read_recursively_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        for f in ["z.conf", "b/c/x.conf", "b/a.conf"] {
            std::fs::write(root.join(f), "").unwrap();
        }
        // The same directory twice, side by side, is no loop.
        std::os::unix::fs::symlink(root.join("b/c"), root.join("d")).unwrap();
        let files = files_in(root).unwrap();
        let rel: Vec<_> = files
            .iter()
            .map(|f| f.strip_prefix(root).unwrap())
            .collect();
        assert_eq!(
            rel,
            ["b/a.conf", "b/c/x.conf", "d/x.conf", "z.conf"].map(Path::new)
        );
    }
}
