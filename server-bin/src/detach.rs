//! Detaching from the terminal (`-k start`): the fork, the new session and
//! the standard descriptors. The binary's only `unsafe`, each block with
//! the reason it is sound.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

/// Point the standard error at `/dev/null` (detached, with an error log
/// to write to instead).
pub(crate) fn redirect_stderr_to_null() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto our own stderr descriptor; `null` is open for
        // the duration of the call.
        unsafe {
            libc::dup2(null.as_raw_fd(), 2);
        }
    }
}

/// Detach from the terminal (`-k start`): the parent waits until the child
/// has written its pid file (exit 0) or failed (exit 1, the child has
/// printed why). Returns the pipe on which the child says it is ready.
pub(crate) fn daemonize() -> Result<OwnedFd, String> {
    use nix::unistd::{fork, setsid, ForkResult};
    let (r, w) = nix::unistd::pipe().map_err(|e| format!("could not detach: {}", e.desc()))?;
    // SAFETY: mpmd is single-threaded at this point (no thread has been
    // started yet), so the child may run any code after fork.
    match unsafe { fork() } {
        Err(e) => Err(format!("could not detach: {}", e.desc())),
        Ok(ForkResult::Parent { .. }) => {
            drop(w);
            let mut buf = [0u8; 2];
            let mut f = std::fs::File::from(r);
            let ok = matches!(f.read(&mut buf), Ok(2)) && &buf == b"ok";
            std::process::exit(if ok { 0 } else { 1 });
        }
        Ok(ForkResult::Child) => {
            drop(r);
            let _ = setsid();
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                use std::os::fd::AsRawFd;
                // SAFETY: dup2 onto the standard descriptors of this
                // process; `null` stays open for the duration of the call.
                unsafe {
                    libc::dup2(null.as_raw_fd(), 0);
                    libc::dup2(null.as_raw_fd(), 1);
                }
            }
            let _ = std::io::stdout().flush();
            Ok(w)
        }
    }
}
