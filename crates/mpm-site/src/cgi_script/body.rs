//! A script's body on its way to the client: spooled while the script
//! runs briefly, streamed when it goes on (see the [module](super)).

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mpm_core::Body;

/// Output kept in memory before it goes to a temporary file.
pub const SPOOL_MEMORY: usize = 64 * 1024;
/// The largest temporary file one response spools (nginx's
/// `fastcgi_max_temp_file_size` default): more is streamed.
pub const SPOOL_FILE: u64 = 1 << 30;
/// How long the body is spooled, waiting for the script to end, before
/// what it wrote is streamed (with the rest as it comes).
pub const SPOOL_WAIT: Duration = Duration::from_secs(1);

/// The body of a script's answer: `start` (read with the head), then the
/// rest of its `output` (a CGI's pipe, a FastCGI process's `STDOUT`), at
/// most `declared` bytes in all when the script gave a `Content-Length`.
/// `name` names the script in the log. `output` is dropped as soon as it
/// ends (so a CGI script is reaped and a FastCGI process freed then), or
/// when the streamed body is done.
pub fn spool<R: Read + Send + 'static>(
    output: R,
    name: &str,
    start: Vec<u8>,
    declared: Option<u64>,
) -> Body {
    spool_with(output, name, start, declared, SPOOL_WAIT, SPOOL_FILE)
}

/// [`spool`] with its bounds given (for tests).
pub fn spool_with<R: Read + Send + 'static>(
    mut script: R,
    name: &str,
    mut start: Vec<u8>,
    declared: Option<u64>,
    wait: Duration,
    max_file: u64,
) -> Body {
    let limit = declared.unwrap_or(u64::MAX);
    if start.len() as u64 > limit {
        start.truncate(limit as usize);
    }
    let deadline = Instant::now() + wait;
    let mut memory = start;
    let mut file: Option<(File, u64)> = None;
    let mut buf = crate::script::buf::GrowBuf::new(4 * 1024, 16 * 1024);
    loop {
        let have = memory.len() as u64 + file.as_ref().map_or(0, |f| f.1);
        if have >= limit {
            break;
        }
        if Instant::now() >= deadline || file.as_ref().is_some_and(|f| f.1 >= max_file) {
            // The script goes on: what it wrote, then the rest, streamed.
            return streamed(memory, file, script, limit - have);
        }
        let want = buf
            .len()
            .min((limit - have).min(usize::MAX as u64) as usize);
        let n = match script.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => {
                buf.filled(n);
                n
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log_cut(name, &e);
                // What arrived goes out; the connection closes after it
                // (a chunked body without its end, or a short one).
                return streamed(memory, file, FailedRead(Some(e)), u64::MAX);
            }
        };
        if file.is_none() && memory.len() + n <= SPOOL_MEMORY {
            memory.extend_from_slice(&buf[..n]);
            continue;
        }
        let (f, len) = match file.as_mut() {
            Some(f) => f,
            // The memory's bytes go first into the new file.
            None => match tempfile::tempfile().and_then(|mut f| {
                f.write_all(&memory)?;
                Ok(f)
            }) {
                Ok(f) => {
                    let len = memory.len() as u64;
                    memory.clear();
                    file.insert((f, len))
                }
                Err(e) => {
                    log::warn!(
                        "could not make a temporary file for the output of {} ({e}); it is streamed",
                        name
                    );
                    memory.extend_from_slice(&buf[..n]);
                    return streamed(memory, None, script, limit - have - n as u64);
                }
            },
        };
        if let Err(e) = f.write_all(&buf[..n]) {
            log::warn!(
                "writing the output of {} to a temporary file: {e}; it is streamed",
                name
            );
            memory.extend_from_slice(&buf[..n]);
            let spooled = *len;
            return streamed_after_file(memory, file, spooled, script, limit - have - n as u64);
        }
        *len += n as u64;
    }
    // The script ended (or gave all it declared): it goes to the reaper
    // now, and the answer is in memory or in the file.
    drop(script);
    match file {
        None => Body::Bytes(Bytes::from(memory)),
        Some((mut f, len)) => {
            if f.rewind().is_err() {
                return Body::Empty;
            }
            // Once there is a file, it holds every byte (memory none).
            Body::File {
                file: f,
                offset: 0,
                len,
            }
        }
    }
}

fn log_cut(name: &str, e: &io::Error) {
    match e.kind() {
        io::ErrorKind::TimedOut => log::error!(
            "AH01220: {}",
            e.get_ref()
                .map_or_else(|| e.to_string(), |inner| inner.to_string())
        ),
        _ => log::error!("reading the output of script {name}: {e}"),
    }
}

/// A reader that fails once with the error it holds.
struct FailedRead(Option<io::Error>);

impl Read for FailedRead {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

/// The spooled part (memory, then the file from its start), then `rest`
/// (at most `left` bytes of it), streamed with unknown length.
fn streamed(
    memory: Vec<u8>,
    file: Option<(File, u64)>,
    rest: impl Read + Send + 'static,
    left: u64,
) -> Body {
    let spooled = file.as_ref().map_or(0, |f| f.1);
    streamed_after_file(memory, file, spooled, rest, left)
}

fn streamed_after_file(
    memory: Vec<u8>,
    file: Option<(File, u64)>,
    spooled: u64,
    rest: impl Read + Send + 'static,
    left: u64,
) -> Body {
    // The file holds what came first; memory, what came after a write
    // to the file failed.
    let head: Box<dyn Read + Send> = match file {
        Some((mut f, _)) => {
            if f.rewind().is_err() {
                return Body::Empty;
            }
            Box::new(f.take(spooled).chain(Cursor::new(memory)))
        }
        None => Box::new(Cursor::new(memory)),
    };
    Body::Reader {
        reader: Box::new(head.chain(rest.take(left))),
        len: None,
    }
}
