//! Programs a serving process starts that must not outlive it.

use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sys::signal::Signal;

/// Have the program `cmd` starts get `signal` when the thread that
/// starts it ends (Linux's parent-death signal; a process ending ends
/// its threads), and not start at all when that thread ended before it
/// could ask for the signal. A long-running helper (a FastCGI program
/// waiting on its socket) then does not outlive the serving process
/// that started it, however that process ends. Start the program from a
/// thread that lives as long as the process.
pub fn end_with_starting_thread(cmd: &mut Command, signal: Signal) {
    let starter = std::process::id() as libc::pid_t;
    let signal = signal as libc::c_ulong;
    // SAFETY: the closure runs in the forked child before `exec` and
    // calls only `prctl`, `getppid` and `_exit`, which are
    // async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The starter ended before the signal was asked for.
            if libc::getppid() != starter {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    #[test]
    fn a_program_started_by_a_thread_gets_the_signal_when_that_thread_ends() {
        let child = std::thread::spawn(|| {
            let mut cmd = Command::new("sleep");
            cmd.arg("30").stdin(Stdio::null());
            end_with_starting_thread(&mut cmd, Signal::SIGTERM);
            cmd.spawn().unwrap()
        })
        .join()
        .unwrap();
        let mut child = child;
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                assert_eq!(status.signal(), Some(libc::SIGTERM), "{status}");
                return;
            }
            if Instant::now() > until {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the program still ran 10 s after the thread that started it ended");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
