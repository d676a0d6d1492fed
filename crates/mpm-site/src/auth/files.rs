//! The files mod_authn_file and mod_authz_groupfile read
//! (`AuthUserFile`, `AuthGroupFile`), parsed once and read again only
//! when they change: a request looks at the file's modification time at
//! most once a second, so a busy protected path costs no `stat` storm and
//! an edited file is in force within a second.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a file's modification time is trusted before it is looked at
/// again.
pub const RECHECK: Duration = Duration::from_secs(1);

/// An `AuthUserFile` in htpasswd format: `user:hash` lines; `#` starts a
/// comment line; the first line of a user counts (as Apache reads it).
#[derive(Debug, Default)]
pub struct UserFile {
    users: HashMap<Vec<u8>, String>,
}

impl UserFile {
    /// Parse the text of an htpasswd file.
    pub fn parse(text: &[u8]) -> UserFile {
        let mut users = HashMap::new();
        for line in text.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let mut fields = line.splitn(3, |&b| b == b':');
            let (Some(user), Some(hash)) = (fields.next(), fields.next()) else {
                continue;
            };
            users
                .entry(user.to_vec())
                .or_insert_with(|| String::from_utf8_lossy(hash).into_owned());
        }
        UserFile { users }
    }

    /// The stored hash of `user`.
    pub fn hash(&self, user: &[u8]) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }
}

/// An `AuthGroupFile`: `group: user user …` lines (a group may take
/// several lines); `#` starts a comment line.
#[derive(Debug, Default)]
pub struct GroupFile {
    /// Each user's groups.
    groups: HashMap<Vec<u8>, Vec<Vec<u8>>>,
}

impl GroupFile {
    /// Parse the text of a group file.
    pub fn parse(text: &[u8]) -> GroupFile {
        let mut groups: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
        for line in text.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let group = trim(&line[..colon]);
            for user in line[colon + 1..]
                .split(|b| b.is_ascii_whitespace())
                .filter(|u| !u.is_empty())
            {
                let of_user = groups.entry(user.to_vec()).or_default();
                if !of_user.iter().any(|g| g == group) {
                    of_user.push(group.to_vec());
                }
            }
        }
        GroupFile { groups }
    }

    /// Whether `user` is a member of `group`.
    pub fn is_member(&self, user: &[u8], group: &[u8]) -> bool {
        self.groups
            .get(user)
            .is_some_and(|gs| gs.iter().any(|g| g == group))
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b, rest @ ..] = s {
        if !b.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    while let [rest @ .., b] = s {
        if !b.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    s
}

/// A file parsed into a `T`, read again when its modification time, size
/// or inode changes (looked at no more than once per [`RECHECK`]).
///
/// Each process keeps its own copy (it is made after the fork, or shared
/// by the threads of one process); a file that cannot be read is an error
/// each time it is asked for, so fixing it takes effect at once.
pub struct WatchedFile<T> {
    path: PathBuf,
    parse: fn(&[u8]) -> T,
    state: Mutex<Option<Loaded<T>>>,
}

struct Loaded<T> {
    value: Arc<T>,
    stamp: Stamp,
    checked: Instant,
}

/// What says a file changed: modification time (to the nanosecond),
/// size, inode (a file replaced by `rename`, as `htpasswd` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    mtime: (i64, i64),
    len: u64,
    ino: u64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            mtime: (meta.mtime(), meta.mtime_nsec()),
            len: meta.len(),
            ino: meta.ino(),
        }
    }
}

impl<T> std::fmt::Debug for WatchedFile<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<T> WatchedFile<T> {
    /// Watch `path`, parsed with `parse` when first asked for.
    pub fn new(path: impl Into<PathBuf>, parse: fn(&[u8]) -> T) -> WatchedFile<T> {
        WatchedFile {
            path: path.into(),
            parse,
            state: Mutex::new(None),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed file as it is now (at most [`RECHECK`] old).
    pub fn get(&self) -> io::Result<Arc<T>> {
        self.get_at(Instant::now())
    }

    fn get_at(&self, now: Instant) -> io::Result<Arc<T>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(loaded) = state.as_mut() {
            if now.saturating_duration_since(loaded.checked) < RECHECK {
                return Ok(loaded.value.clone());
            }
            let meta = fs::metadata(&self.path)?;
            loaded.checked = now;
            if Stamp::of(&meta) == loaded.stamp {
                return Ok(loaded.value.clone());
            }
        }
        // First use, or changed: read it (with its stamp taken from the
        // open file, so a change during the read shows next time).
        let mut file = fs::File::open(&self.path)?;
        let stamp = Stamp::of(&file.metadata()?);
        let mut text = Vec::new();
        io::Read::read_to_end(&mut file, &mut text)?;
        let value = Arc::new((self.parse)(&text));
        *state = Some(Loaded {
            value: value.clone(),
            stamp,
            checked: now,
        });
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_file_keeps_the_first_line_of_each_user_and_skips_comments() {
        let f = UserFile::parse(
            b"# users\nalice:$apr1$x$y\r\nbob:{SHA}abc=:extra\n\nalice:second\nnocolon\n:emptyuser\n",
        );
        assert_eq!(f.hash(b"alice"), Some("$apr1$x$y"));
        assert_eq!(f.hash(b"bob"), Some("{SHA}abc="));
        assert_eq!(f.hash(b"nocolon"), None);
        assert_eq!(f.hash(b""), Some("emptyuser"));
        assert_eq!(f.hash(b"carol"), None);
        assert_eq!(f.hash(b"# users"), None);
    }

    #[test]
    fn a_group_file_lists_members_over_several_lines() {
        let g = GroupFile::parse(
            b"# groups\nadmins: alice  bob\nstaff:carol\tdave\r\nadmins: erin\n editors : alice\n",
        );
        for (user, group, member) in [
            ("alice", "admins", true),
            ("bob", "admins", true),
            ("erin", "admins", true),
            ("carol", "staff", true),
            ("dave", "staff", true),
            ("alice", "editors", true),
            ("carol", "admins", false),
            ("nobody", "admins", false),
            ("alice", "staff", false),
        ] {
            assert_eq!(
                g.is_member(user.as_bytes(), group.as_bytes()),
                member,
                "{user} in {group}"
            );
        }
    }

    #[test]
    fn a_watched_file_is_read_again_only_after_a_second_and_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        fs::write(&path, "alice:one\n").unwrap();
        let watched = WatchedFile::new(&path, UserFile::parse);
        let t0 = Instant::now();
        let hash = |at: Instant| {
            watched
                .get_at(at)
                .unwrap()
                .hash(b"alice")
                .map(str::to_string)
        };
        assert_eq!(hash(t0).as_deref(), Some("one"));
        // Replaced (as htpasswd does: a new inode and size).
        let tmp = dir.path().join("users.tmp");
        fs::write(&tmp, "alice:two!\n").unwrap();
        fs::rename(&tmp, &path).unwrap();
        assert_eq!(
            hash(t0 + Duration::from_millis(500)).as_deref(),
            Some("one"),
            "looked at again within the second"
        );
        assert_eq!(hash(t0 + RECHECK).as_deref(), Some("two!"));
        // Gone: an error each time, until it is back.
        fs::remove_file(&path).unwrap();
        assert!(watched.get_at(t0 + RECHECK * 2).is_err());
        fs::write(&path, "alice:three\n").unwrap();
        assert_eq!(hash(t0 + RECHECK * 2).as_deref(), Some("three"));
    }

    #[test]
    fn a_missing_file_is_an_error_naming_nothing_it_did_not_read() {
        let watched = WatchedFile::new("/nonexistent/mpm-users", UserFile::parse);
        let e = watched.get().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(watched.path(), Path::new("/nonexistent/mpm-users"));
    }
}
