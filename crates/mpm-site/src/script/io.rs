//! A script's pipes, read and written with a timeout on progress: every
//! wait is a `poll(2)` that also watches the error pipe, so what the
//! script writes there is logged while it runs.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::Script;

/// The longest line of a script's error output logged as one line; a
/// longer one is logged in pieces of this size.
pub const MAX_STDERR_LINE: usize = 8192;

/// What went wrong running a script.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The program could not be started (`execve` failed: not executable,
    /// a missing interpreter, no permission).
    #[error("couldn't create child process: {reason}: {}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why, as the system says it.
        reason: String,
    },
    /// The script made no progress (read no input, wrote no output) for
    /// the whole timeout.
    #[error("Timeout waiting for output from CGI script {name} (no progress for {secs} s; raise CGIScriptTimeout or Timeout)")]
    Timeout {
        /// The script.
        name: String,
        /// The timeout, in seconds.
        secs: u64,
    },
    /// A pipe failed.
    #[error("reading from or writing to CGI script {name}: {reason}")]
    Io {
        /// The script.
        name: String,
        /// Why.
        reason: String,
    },
    /// Reading the request body failed (the client left, was too slow,
    /// or sent more than `LimitRequestBody`).
    #[error("reading the request body for {name}: {source}")]
    Body {
        /// The script.
        name: String,
        /// What the body's reader said.
        source: io::Error,
    },
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?;
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )?;
    Ok(())
}

/// `poll` for at most `wait` (clamped to what `poll` takes).
pub(super) fn poll_for(fds: &mut [PollFd<'_>], wait: Duration) -> io::Result<usize> {
    let wait = wait.min(Duration::from_millis(i32::MAX as u64));
    let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
    loop {
        match poll(fds, timeout) {
            Ok(n) => return Ok(n as usize),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl Script {
    pub(super) fn new(
        child: Child,
        stdin: ChildStdin,
        stdout: ChildStdout,
        stderr: ChildStderr,
        name: String,
        timeout: Duration,
    ) -> Result<Script, ScriptError> {
        let script = Script {
            child: Some(child),
            stdin: Some(stdin),
            stdout,
            stderr: Some(stderr),
            stderr_line: Vec::new(),
            name,
            timeout,
            timed_out: false,
        };
        let nonblocking = [
            script.stdin.as_ref().map(|p| p.as_fd()),
            Some(script.stdout.as_fd()),
            script.stderr.as_ref().map(|p| p.as_fd()),
        ]
        .into_iter()
        .flatten()
        .try_for_each(set_nonblocking);
        nonblocking.map_err(|e| script.io_error(&e))?;
        Ok(script)
    }

    fn io_error(&self, e: &io::Error) -> ScriptError {
        ScriptError::Io {
            name: self.name.clone(),
            reason: mpm_core::error::describe_io(e),
        }
    }

    fn timeout_error(&mut self) -> ScriptError {
        self.timed_out = true;
        ScriptError::Timeout {
            name: self.name.clone(),
            secs: self.timeout.as_secs(),
        }
    }

    /// Copy the request body from `body` to the script's standard input,
    /// then close it. A script that exits (or closes its input) before
    /// reading it all is not an error: the rest is not sent, as Apache
    /// does. Returns the bytes the script took.
    pub fn send_body(&mut self, body: &mut dyn Read) -> Result<u64, ScriptError> {
        let mut buf = super::buf::GrowBuf::new(4 * 1024, 16 * 1024);
        let mut sent = 0u64;
        'body: loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ScriptError::Body {
                        name: self.name.clone(),
                        source,
                    })
                }
            };
            let mut from = 0;
            while from < n {
                match self.write_input(&buf[from..n])? {
                    Some(w) => {
                        from += w;
                        sent += w as u64;
                    }
                    // The script closed its input.
                    None => break 'body,
                }
            }
            buf.filled(n);
        }
        self.stdin = None;
        Ok(sent)
    }

    /// One write to the script's input, waiting for room up to the
    /// timeout (logging its error output meanwhile); `None` when it has
    /// closed its input.
    fn write_input(&mut self, bytes: &[u8]) -> Result<Option<usize>, ScriptError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let Some(stdin) = self.stdin.as_mut() else {
                return Ok(None);
            };
            match stdin.write(bytes) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    self.stdin = None;
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(self.io_error(&e)),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.timeout_error());
            }
            self.wait(PollFlags::POLLOUT, deadline - now)
                .map_err(|e| self.io_error(&e))?;
        }
    }

    /// Wait until the input (`POLLOUT`) or the output (`POLLIN`) is ready
    /// or `wait` passes, logging the error output that arrives meanwhile.
    fn wait(&mut self, on: PollFlags, wait: Duration) -> io::Result<()> {
        let stderr_ready = {
            let main = if on == PollFlags::POLLOUT {
                match self.stdin.as_ref() {
                    Some(stdin) => stdin.as_fd(),
                    None => return Ok(()),
                }
            } else {
                self.stdout.as_fd()
            };
            let mut fds = vec![PollFd::new(main, on)];
            if let Some(stderr) = self.stderr.as_ref() {
                fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
            }
            poll_for(&mut fds, wait)?;
            fds.get(1)
                .and_then(|fd| fd.revents())
                .is_some_and(|r| !r.is_empty())
        };
        if stderr_ready {
            self.read_stderr();
        }
        Ok(())
    }

    /// Read what the error pipe holds now and log its complete lines.
    fn read_stderr(&mut self) {
        let Some(stderr) = self.stderr.as_mut() else {
            return;
        };
        let mut buf = [0u8; 4096];
        let closed = loop {
            match stderr.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => self.stderr_line.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(_) => break true,
            }
            log_lines(&self.name, &mut self.stderr_line);
        };
        if closed {
            self.stderr = None;
            self.flush_stderr_line();
        }
    }

    /// Log an unfinished last line of error output.
    pub(super) fn flush_stderr_line(&mut self) {
        if !self.stderr_line.is_empty() {
            self.stderr_line.push(b'\n');
            log_lines(&self.name, &mut self.stderr_line);
        }
    }
}

/// Log the complete lines at the start of `pending` (and pieces of
/// [`MAX_STDERR_LINE`] of a longer one), keeping the rest, as Apache's
/// mod_cgi logs a script's error output: `AH01215: <line>: <script>`.
pub(super) fn log_lines(name: &str, pending: &mut Vec<u8>) {
    let mut start = 0;
    loop {
        let rest = &pending[start..];
        let end = match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i <= MAX_STDERR_LINE => i,
            _ if rest.len() >= MAX_STDERR_LINE => MAX_STDERR_LINE,
            _ => break,
        };
        let line = &rest[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // The error log escapes what is not printable.
        log::error!("AH01215: {}: {name}", String::from_utf8_lossy(line));
        start += if rest.get(end) == Some(&b'\n') {
            end + 1
        } else {
            end
        };
    }
    pending.drain(..start);
}

impl Read for Script {
    /// The script's output, waiting up to the timeout for each piece
    /// (an error of kind `TimedOut` after it; the script is then killed
    /// when dropped). End of file when the script closes its output.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.stdout.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                let error = self.timeout_error();
                return Err(io::Error::new(io::ErrorKind::TimedOut, error));
            }
            self.wait(PollFlags::POLLIN, deadline - now)?;
        }
    }
}
