//! Waiting on descriptors (sockets and pipes) with `poll(2)`: a wait in
//! poll's terms, and whether a descriptor is readable now. Used by the
//! accept loops, the serving code, TLS handshakes, the master and the
//! control broadcasts.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout};

/// Convert an optional duration into poll's timeout (rounded up to a
/// millisecond so a short wait never becomes a busy loop).
pub fn poll_timeout(timeout: Option<Duration>) -> PollTimeout {
    match timeout {
        None => PollTimeout::NONE,
        Some(d) => {
            let ms = d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}

/// Whether `fd` is readable now (a leave byte, or the writer gone).
pub fn readable(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}
