//! How a reaped child ended, and Apache's words for the signal that
//! ended it (`child pid 1234 exit signal Segmentation fault (11)`).

use nix::sys::signal::Signal;

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Death {
    /// Exit code 0.
    Clean,
    /// A non-zero exit code other than [`FATAL_EXIT`](crate::process::child::FATAL_EXIT).
    Status(i32),
    /// Killed by a signal.
    Signal(i32),
    /// [`FATAL_EXIT`](crate::process::child::FATAL_EXIT).
    Fatal,
}

/// Apache's words for the signals a child commonly dies of.
pub fn signal_description(sig: i32) -> String {
    let text = match sig {
        libc::SIGSEGV => "Segmentation fault",
        libc::SIGKILL => "Killed",
        libc::SIGABRT => "Aborted",
        libc::SIGBUS => "Bus error",
        libc::SIGFPE => "Floating point exception",
        libc::SIGILL => "Illegal instruction",
        libc::SIGTERM => "Terminated",
        libc::SIGINT => "Interrupt",
        libc::SIGHUP => "Hangup",
        libc::SIGPIPE => "Broken pipe",
        libc::SIGQUIT => "Quit",
        libc::SIGUSR1 => "User defined signal 1",
        libc::SIGUSR2 => "User defined signal 2",
        libc::SIGXCPU => "CPU time limit exceeded",
        libc::SIGXFSZ => "File size limit exceeded",
        _ => {
            return Signal::try_from(sig)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| format!("signal {sig}"))
        }
    };
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_described_as_apache_does() {
        assert_eq!(signal_description(11), "Segmentation fault");
        assert_eq!(signal_description(9), "Killed");
        assert_eq!(signal_description(libc::SIGSYS), "SIGSYS");
    }
}
