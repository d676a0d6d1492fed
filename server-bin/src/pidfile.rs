//! The `PidFile`: written once the listeners are bound, removed at exit;
//! read by `-k` to find the running server.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// What the pid file says about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Running {
    /// No pid file.
    No,
    /// A pid file whose process is gone (or unreadable): stale.
    Stale(Option<i32>),
    /// The process is alive.
    Yes(i32),
}

/// Whether the server of `path` runs.
pub fn check(path: &Path) -> Running {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Running::No,
        Err(_) => return Running::Stale(None),
    };
    match text.trim().parse::<i32>() {
        Ok(pid) if pid > 1 => match kill(Pid::from_raw(pid), None) {
            Ok(()) | Err(nix::errno::Errno::EPERM) => Running::Yes(pid),
            Err(_) => Running::Stale(Some(pid)),
        },
        _ => Running::Stale(None),
    }
}

/// A written pid file, removed on drop (when still ours).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Write our pid to `path` (atomically, through a temporary file).
    pub fn write(path: &Path) -> Result<PidFile, String> {
        let pid = std::process::id();
        let tmp = path.with_extension(format!("tmp.{pid}"));
        let res = (|| {
            let mut f = fs::File::create(&tmp)?;
            writeln!(f, "{pid}")?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(format!(
                "could not write the pid file {}: {}",
                path.display(),
                mpm::strategy::error::describe_io(&e)
            ));
        }
        Ok(PidFile {
            path: path.to_path_buf(),
            pid,
        })
    }

    /// Where the file is now.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Move the file to `to` (a binary upgrade's `.oldbin`, and back);
    /// it is then removed there.
    pub fn rename(&mut self, to: &Path) -> Result<(), String> {
        fs::rename(&self.path, to).map_err(|e| {
            format!(
                "could not rename the pid file {} to {}: {}",
                self.path.display(),
                to.display(),
                mpm::strategy::error::describe_io(&e)
            )
        })?;
        self.path = to.to_path_buf();
        Ok(())
    }

    /// Remove the file now (graceful stop removes it at once).
    pub fn remove(&mut self) {
        let ours = fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            == Some(self.pid);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // A forked child owns no pid file.
        if std::process::id() == self.pid {
            self.remove();
        }
    }
}

/// Send `sig` to the server of `path`; a clear message when it is not
/// running.
pub fn signal(path: &Path, sig: Signal) -> Result<i32, String> {
    match check(path) {
        Running::Yes(pid) => kill(Pid::from_raw(pid), sig)
            .map(|_| pid)
            .map_err(|e| format!("could not signal mpmd (pid {pid}): {}", e.desc())),
        Running::No => Err(format!(
            "mpmd is not running (no pid file at {})",
            path.display()
        )),
        Running::Stale(pid) => Err(format!(
            "mpmd is not running (stale pid file {}{})",
            path.display(),
            pid.map(|p| format!(" names pid {p}, which is gone"))
                .unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_round_trip_and_removal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        assert_eq!(check(&path), Running::No);
        let mut f = PidFile::write(&path).unwrap();
        assert_eq!(check(&path), Running::Yes(std::process::id() as i32));
        f.remove();
        assert!(!path.exists());
    }

    #[test]
    fn stale_and_garbage_pid_files_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        fs::write(&path, "garbage\n").unwrap();
        assert_eq!(check(&path), Running::Stale(None));
        // pid_max is at most 2^22: this pid cannot exist.
        fs::write(&path, "99999999\n").unwrap();
        assert_eq!(check(&path), Running::Stale(Some(99999999)));
        let e = signal(&path, Signal::SIGTERM).unwrap_err();
        assert!(e.contains("stale pid file"), "{e}");
    }

    #[test]
    fn unwritable_pid_file_names_the_path() {
        let e = PidFile::write(Path::new("/nonexistent-dir/x.pid")).unwrap_err();
        assert!(e.contains("/nonexistent-dir/x.pid"), "{e}");
    }
}
