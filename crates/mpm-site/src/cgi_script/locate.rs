//! Which file of a request's path is the script, and what follows it:
//! Apache's directory walk, which takes the first component that is a
//! file as the resource and the rest of the path as `PATH_INFO`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use http::StatusCode;

/// A script found below a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The script's file.
    pub file: PathBuf,
    /// How many bytes of the relative path name the script (its URL is
    /// the prefix up to there, `SCRIPT_NAME`).
    pub used: usize,
    /// What follows it: empty, or from a `/` on (`PATH_INFO`).
    pub path_info: String,
}

/// Find the script `rel` (a normalised path without leading `/`) names
/// below `root`: the first component that is a regular file, the rest
/// being its path info. A missing component before it is a 404; a path
/// that is all directories, or a component that is neither file nor
/// directory, is a 403 (Apache's "attempt to invoke directory as
/// script").
pub fn locate(root: &Path, rel: &[u8]) -> Result<Located, StatusCode> {
    let mut file = root.to_path_buf();
    let mut used = 0;
    for segment in rel.split(|&b| b == b'/') {
        if segment.is_empty() {
            // A trailing slash (normalised paths have no others).
            used += 1;
            continue;
        }
        file.push(OsStr::from_bytes(segment));
        used += segment.len();
        let meta = std::fs::metadata(&file).map_err(|_| StatusCode::NOT_FOUND)?;
        if meta.is_file() {
            let rest = &rel[used..];
            return Ok(Located {
                file,
                used,
                path_info: String::from_utf8_lossy(rest).into_owned(),
            });
        }
        if !meta.is_dir() {
            return Err(StatusCode::FORBIDDEN);
        }
        // The separator after a directory.
        used += 1;
    }
    Err(StatusCode::FORBIDDEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_file_is_the_script_and_the_rest_its_path_info() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/run.cgi"), "").unwrap();
        let found = locate(dir.path(), b"sub/run.cgi/a/b/").unwrap();
        assert_eq!(found.file, dir.path().join("sub/run.cgi"));
        assert_eq!(found.used, "sub/run.cgi".len());
        assert_eq!(found.path_info, "/a/b/");
        let bare = locate(dir.path(), b"sub/run.cgi").unwrap();
        assert_eq!((bare.used, bare.path_info.as_str()), (11, ""));
    }

    #[test]
    fn a_missing_script_is_404_and_a_directory_403() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(
            locate(dir.path(), b"nope.cgi/x"),
            Err(StatusCode::NOT_FOUND)
        );
        assert_eq!(locate(dir.path(), b"sub/"), Err(StatusCode::FORBIDDEN));
        assert_eq!(locate(dir.path(), b""), Err(StatusCode::FORBIDDEN));
    }
}
