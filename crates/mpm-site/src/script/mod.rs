//! Running a CGI or FastCGI program as a child process of the serving
//! process: what mod_cgi and mod_fcgid share.
//!
//! - [`ScriptCommand`]: the program, its arguments, the environment it
//!   gets (nothing else: the server's own environment is not passed on),
//!   the directory it starts in (the script's own, as Apache does) and,
//!   for a process started by root, the user it runs as.
//! - [`Script`]: a started program with its three pipes. Every read of its
//!   output and write of its input waits at most the script's timeout
//!   (`CGIScriptTimeout`, by default `Timeout`) for progress, so a script
//!   that never reads its input or never closes its output cannot hold the
//!   thread (or process) serving the request longer than that; what it
//!   writes on its standard error goes to the error log, a line at a time,
//!   with the script's name, while its output is read (a script cannot
//!   block on a full error pipe).
//! - [`buf`]: the read buffer the scripts' I/O starts small with.
//! - [`reaper`]: a program whose request is over is handed to one thread
//!   per serving process that waits for it, ends it (its whole process
//!   group: `SIGTERM`, then `SIGKILL`) if it goes on, logs what it still
//!   writes on its standard error, and reaps it: no zombie is left, and no
//!   request waits for a script to exit.
//!
//! Descriptor hygiene: the program gets its three pipes as descriptors 0,
//! 1 and 2 (or, for a FastCGI program, its listening socket as 0) and
//! nothing else. Every descriptor the server opens is close-on-exec (the
//! standard library opens them so, and so do mpm-core's listeners, pipes
//! and accepted sockets), so no listener, client connection or log file
//! reaches a script. A descriptor the server was *started* with and did
//! not ask for (a shell's or a supervisor's, left open without
//! close-on-exec) is marked close-on-exec before the first program is
//! started in a process ([`close_inherited`]), so it does not reach
//! scripts either. The program starts in a process group of its own, so
//! that ending it ends whatever it started, and a signal sent to the
//! server's group (a terminal's Ctrl-C) does not reach it.

pub mod buf;
pub mod reaper;

mod io;

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

pub use io::ScriptError;

/// How to start a program: what `execve` gets, and where.
#[derive(Debug, Clone)]
pub struct ScriptCommand {
    /// The program: the script itself, or its wrapper (`FcgidWrapper
    /// /usr/bin/php-cgi`) which gets the script's path in the environment
    /// (`SCRIPT_FILENAME`).
    pub program: PathBuf,
    /// Arguments after the program's name (`argv[1..]`).
    pub args: Vec<OsString>,
    /// The whole environment of the program, in order.
    pub env: Vec<(OsString, OsString)>,
    /// The directory it starts in: the script's own, as Apache's mod_cgi
    /// and mod_fcgid start it.
    pub dir: PathBuf,
    /// `(uid, gid)` to run as, for a program started by a process that
    /// runs as root; `None` keeps the starter's (a server's child already
    /// runs as `User` and `Group`). Supplementary groups are dropped when
    /// it is set.
    pub user: Option<(u32, u32)>,
}

impl ScriptCommand {
    /// `program` with no arguments, an empty environment, started in the
    /// directory that holds it.
    pub fn new(program: impl Into<PathBuf>) -> ScriptCommand {
        let program = program.into();
        let dir = program
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        ScriptCommand {
            program,
            args: Vec::new(),
            env: Vec::new(),
            dir,
            user: None,
        }
    }

    /// The `std` command (after [`close_inherited`]): environment cleared and set, directory, own
    /// process group, user.
    fn command(&self) -> Command {
        close_inherited();
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .process_group(0);
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    /// Start the program with its standard input on `stdin` (a FastCGI
    /// program's listening socket) and its output and error output
    /// discarded (where mod_fcgid sends a FastCGI program's error output
    /// is the error log: `stderr` gives it).
    ///
    /// The program gets `SIGTERM` when the thread that started it ends
    /// (Linux's parent-death signal; a process ending ends its threads):
    /// a FastCGI program, which would otherwise wait on its socket
    /// forever, does not outlive the serving process that started it,
    /// however that process ends. Start it from a thread that lives as
    /// long as the process (the pool's manager thread).
    pub fn spawn_with(&self, stdin: Stdio, stderr: Stdio) -> std::io::Result<Child> {
        let mut cmd = self.command();
        mpm_core::process::spawn::end_with_starting_thread(
            &mut cmd,
            nix::sys::signal::Signal::SIGTERM,
        );
        cmd.stdin(stdin)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
    }

    /// Start the program with three pipes; `name` is how the error log
    /// names it (its path), `timeout` how long a read or write may wait
    /// for progress.
    pub fn spawn(&self, name: &str, timeout: Duration) -> Result<Script, ScriptError> {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ScriptError::Spawn {
                program: self.program.clone(),
                reason: mpm_core::error::describe_io(&e),
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            // std makes the three pipes asked for; not reached.
            reaper::adopt(child, None, name.to_string(), true);
            return Err(ScriptError::Spawn {
                program: self.program.clone(),
                reason: "its pipes were not made".into(),
            });
        };
        Script::new(child, stdin, stdout, stderr, name.to_string(), timeout)
    }
}

/// Mark every descriptor above 2 of this process close-on-exec, once per
/// process (the first time a program is started in it). Those the server
/// opens are so already; this catches those it inherited from whoever
/// started it. A serving process runs no program but scripts, so no
/// descriptor is meant to survive an `exec` from it.
pub fn close_inherited() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        let fds: Vec<i32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2)
            .collect();
        for fd in fds {
            use nix::fcntl::{fcntl, FcntlArg, FdFlag};
            if let Ok(bits) = fcntl(fd, FcntlArg::F_GETFD) {
                let flags = FdFlag::from_bits_truncate(bits) | FdFlag::FD_CLOEXEC;
                let _ = fcntl(fd, FcntlArg::F_SETFD(flags));
            }
        }
    });
}

/// A running program with its pipes: its standard input taking the
/// request body, its output read as the response, its error output logged.
/// Dropped, it is handed to the [`reaper`] (ended if it still runs).
pub struct Script {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    stderr: Option<ChildStderr>,
    /// The unfinished last line of its error output.
    stderr_line: Vec<u8>,
    name: String,
    timeout: Duration,
    /// A read or write timed out: it is killed at once when dropped.
    timed_out: bool,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .finish()
    }
}

impl Script {
    /// The process id, while it is not yet handed to the reaper.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How the error log names it.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            // Close its input first: a script reading to the end of its
            // input now sees it.
            self.stdin = None;
            self.flush_stderr_line();
            reaper::adopt(
                child,
                self.stderr.take(),
                std::mem::take(&mut self.name),
                self.timed_out,
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
