//! One request to a FastCGI application over a blocking connection (TCP
//! or Unix socket): the request written ([`write_request`],
//! [`send_stdin`]), its `STDOUT` read back as a [`Read`] ([`Stdout`]),
//! `STDERR` handed to a callback a line at a time, and the connection
//! given back (to a pool) once `END_REQUEST` came and nothing followed
//! it.
//!
//! Memory is bounded whatever the application sends: one read buffer
//! ([`FIRST_READ`], up to [`READ_BUF`]) and one `STDERR` line
//! ([`MAX_STDERR_LINE`]).
//!
//! The request body goes as `STDIN` records as the client's bytes come,
//! before the answer is read (as Apache's mod_proxy_fcgi sends it): an
//! application that answers megabytes before it reads its input would
//! wait on the server while the server waits on it, until the timeout.
//! php-fpm reads its input first.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use super::record::{self, BadRecord, Event, RecordReader};
use crate::cgi::CgiEnv;
use crate::script::buf::GrowBuf;

/// The request id used: one request at a time on a connection.
pub const REQUEST_ID: u16 = 1;

/// Bytes read from the application at a time, at most: the buffer
/// starts at [`FIRST_READ`] and grows to this the first time a read fills
/// it (an answer of a few kilobytes costs no 64 KiB buffer to clear).
pub const READ_BUF: usize = 64 * 1024;

/// The read buffer's first size.
pub const FIRST_READ: usize = 8 * 1024;

/// The longest `STDERR` line handed out; a longer one is cut there.
pub const MAX_STDERR_LINE: usize = 8 * 1024;

/// Client body bytes per `STDIN` record sent.
const STDIN_CHUNK: usize = 32 * 1024;

/// Append the request's first records: `BEGIN_REQUEST` (with
/// `FCGI_KEEP_CONN` when the connection is to be reused), the
/// environment as `PARAMS` and the empty `PARAMS` that ends it.
pub fn write_request(out: &mut Vec<u8>, keep_conn: bool, env: &CgiEnv) {
    record::begin_request(out, REQUEST_ID, keep_conn);
    let params = record::encode_params(
        env.vars()
            .iter()
            .map(|(name, value)| (name.as_bytes(), value.as_slice())),
    );
    record::stream(out, record::PARAMS, REQUEST_ID, &params);
    record::stream(out, record::PARAMS, REQUEST_ID, b"");
}

/// Why the request body did not reach the application.
#[derive(Debug)]
pub enum SendError {
    /// Reading it from the client failed (or passed `LimitRequestBody`).
    Client(io::Error),
    /// Writing it to the application failed.
    Backend(io::Error),
}

/// Send what `head` holds (the records of [`write_request`]), then the
/// client's `body` as `STDIN` records through one bounded buffer, then
/// the empty `STDIN` that ends it. A request without a body leaves in
/// one write. Gives the body's length.
pub fn send_stdin(
    stream: &mut impl Write,
    mut head: Vec<u8>,
    body: &mut dyn Read,
) -> Result<u64, SendError> {
    let mut buf = GrowBuf::new(FIRST_READ, STDIN_CHUNK);
    let mut sent = 0u64;
    loop {
        let n = match body.read(&mut buf[..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SendError::Client(e)),
        };
        record::stream(&mut head, record::STDIN, REQUEST_ID, &buf[..n]);
        buf.filled(n);
        stream.write_all(&head).map_err(SendError::Backend)?;
        head.clear();
        if n == 0 {
            return Ok(sent);
        }
        sent += n as u64;
    }
}

/// What happens to the connection once the request ended cleanly.
pub type Release<S> = Box<dyn FnOnce(S) + Send>;

/// Where the application's `STDERR` lines go (the error log).
pub type StderrSink = Box<dyn FnMut(&[u8]) + Send>;

/// The application's `STDOUT` as a [`Read`]: end of file after
/// `END_REQUEST`. An error says why the answer is broken: the kind is
/// `TimedOut` or `WouldBlock` (no byte within the socket's timeout),
/// `InvalidData` (not FastCGI records, [`BadRecord`]), `UnexpectedEof`
/// (the connection ended before `END_REQUEST`) or `Other` (an
/// `END_REQUEST` that says the application refused the request:
/// overloaded, no multiplexing, unknown role).
pub struct Stdout<S: Read + AsFd> {
    stream: Option<S>,
    reader: RecordReader,
    buf: GrowBuf,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    stderr: StderrSink,
    /// A `STDERR` line being gathered.
    line: Vec<u8>,
    release: Option<Release<S>>,
    /// Whether `END_REQUEST` came (the stream is over).
    ended: bool,
}

impl<S: Read + AsFd> Stdout<S> {
    /// The answer on `stream`: `stderr` gets each `STDERR` line (without
    /// its line end), `release` the connection when the request ended
    /// cleanly with nothing after it (`None`: it is closed).
    pub fn new(stream: S, stderr: StderrSink, release: Option<Release<S>>) -> Self {
        Stdout {
            stream: Some(stream),
            reader: RecordReader::new(REQUEST_ID),
            buf: GrowBuf::new(FIRST_READ, READ_BUF),
            start: 0,
            end: 0,
            stderr,
            line: Vec::new(),
            release,
            ended: false,
        }
    }

    /// Whether `END_REQUEST` came.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Whether a [`read`](Read::read) now would not wait: bytes are
    /// buffered, the answer is over, or the socket has something (bytes,
    /// an end, an error) to read.
    pub fn ready(&self) -> bool {
        if self.start < self.end || self.ended {
            return true;
        }
        let Some(stream) = &self.stream else {
            return true;
        };
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        let peeked = socket2::SockRef::from(stream)
            .recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT);
        !matches!(peeked, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// `STDOUT` bytes from what is buffered only, never reading the
    /// socket: 0 when none is buffered (the answer may go on).
    pub fn read_buffered(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.decode(out)
    }

    /// Decode buffered bytes into `out` until some `STDOUT` bytes, the
    /// end, or nothing left buffered.
    fn decode(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.start < self.end && !self.ended {
            let avail = self.end - self.start;
            // Stream content is handed out as a range of the window: no
            // more than `out` takes.
            let window = &self.buf[self.start..self.start + avail.min(out.len().max(1))];
            let (used, event) = self.reader.next(window).map_err(broken)?;
            let window_start = self.start;
            self.start += used;
            match event {
                Some(Event::Stdout(range)) => {
                    let n = range.len();
                    let from = window_start + range.start;
                    out[..n].copy_from_slice(&self.buf[from..from + n]);
                    return Ok(n);
                }
                Some(Event::Stderr(range)) => {
                    let from = window_start + range.start;
                    let bytes = self.buf[from..from + range.len()].to_vec();
                    self.stderr_bytes(&bytes);
                }
                Some(Event::StdoutEnd) | None => {}
                Some(Event::End {
                    protocol_status, ..
                }) => {
                    self.ended = true;
                    self.flush_stderr();
                    if protocol_status != record::REQUEST_COMPLETE {
                        self.stream = None;
                        return Err(io::Error::other(refusal(protocol_status)));
                    }
                    self.finish();
                }
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(0)
    }

    /// The request ended cleanly: the connection goes to `release` when
    /// nothing came after `END_REQUEST`.
    fn finish(&mut self) {
        let clean = self.start == self.end;
        if let (Some(stream), Some(release)) = (self.stream.take(), self.release.take()) {
            if clean {
                release(stream);
            }
        }
    }

    /// Gather `STDERR` bytes into lines.
    fn stderr_bytes(&mut self, mut bytes: &[u8]) {
        while let Some(at) = bytes.iter().position(|&b| b == b'\n') {
            self.push_line(&bytes[..at]);
            self.flush_stderr();
            bytes = &bytes[at + 1..];
        }
        self.push_line(bytes);
    }

    fn push_line(&mut self, bytes: &[u8]) {
        let room = MAX_STDERR_LINE.saturating_sub(self.line.len());
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn flush_stderr(&mut self) {
        let line = std::mem::take(&mut self.line);
        let text = line.strip_suffix(b"\r").unwrap_or(&line);
        if !text.is_empty() {
            (self.stderr)(text);
        }
        self.line = line;
        self.line.clear();
    }
}

/// The error of a broken record.
fn broken(e: BadRecord) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// What an `END_REQUEST` that is not `REQUEST_COMPLETE` says.
fn refusal(protocol_status: u8) -> String {
    match protocol_status {
        record::CANT_MPX_CONN => "the application refused the request: it takes one request per connection (FCGI_CANT_MPX_CONN)".into(),
        record::OVERLOADED => "the application refused the request: it is overloaded (FCGI_OVERLOADED)".into(),
        record::UNKNOWN_ROLE => "the application refused the request: it does not play the responder role (FCGI_UNKNOWN_ROLE)".into(),
        other => format!("the application ended the request with protocol status {other}"),
    }
}

impl<S: Read + AsFd> Read for Stdout<S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.decode(out)?;
            if n > 0 || self.ended {
                return Ok(n);
            }
            let Some(stream) = self.stream.as_mut() else {
                return Err(io::ErrorKind::UnexpectedEof.into());
            };
            match stream.read(&mut self.buf[..]) {
                Ok(0) => {
                    self.stream = None;
                    self.flush_stderr();
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        if self.reader.at_boundary() {
                            "the application closed the connection before END_REQUEST"
                        } else {
                            "the application closed the connection in the middle of a record"
                        },
                    ));
                }
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                    self.buf.filled(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stream = None;
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::sync::{Arc, Mutex};

    fn end(wire: &mut Vec<u8>, status: u8) {
        record::header(wire, record::END_REQUEST, REQUEST_ID, 8, 0);
        wire.extend_from_slice(&[0, 0, 0, 0, status, 0, 0, 0]);
    }

    /// An application's answer on one end of a socket pair, then that end
    /// closed or kept.
    fn serve(wire: Vec<u8>, keep: bool) -> (UnixStream, Option<UnixStream>) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut theirs = theirs;
        std::thread::spawn({
            let mut w = theirs.try_clone().unwrap();
            move || {
                let _ = w.write_all(&wire);
            }
        })
        .join()
        .unwrap();
        if keep {
            (ours, Some(theirs))
        } else {
            let _ = theirs.flush();
            drop(theirs);
            (ours, None)
        }
    }

    type Lines = Arc<Mutex<Vec<String>>>;

    fn stdout(stream: UnixStream, released: &Arc<Mutex<bool>>) -> (Stdout<UnixStream>, Lines) {
        let lines: Lines = Arc::default();
        let sink = lines.clone();
        let flag = released.clone();
        let out = Stdout::new(
            stream,
            Box::new(move |l: &[u8]| sink.lock().unwrap().push(String::from_utf8_lossy(l).into())),
            Some(Box::new(move |_s| *flag.lock().unwrap() = true)),
        );
        (out, lines)
    }

    #[test]
    fn the_request_is_begin_params_and_stdin_streamed_in_records() {
        let mut env = CgiEnv::default();
        env.set("SCRIPT_FILENAME", b"/srv/a.php");
        let mut head = Vec::new();
        write_request(&mut head, true, &env);
        let mut wire = Vec::new();
        let body = vec![b'x'; 70_000];
        let sent = send_stdin(&mut wire, head, &mut &body[..]).unwrap();
        assert_eq!(sent, 70_000);
        // BEGIN_REQUEST with KEEP_CONN, PARAMS, empty PARAMS, STDIN...,
        // empty STDIN.
        assert_eq!(&wire[..3], &[1, record::BEGIN_REQUEST, 0]);
        assert_eq!(wire[10], record::KEEP_CONN);
        let mut kinds = Vec::new();
        let mut stdin = Vec::new();
        let mut params = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let h = &wire[at..at + 8];
            let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
            let content = &wire[at + 8..at + 8 + len];
            kinds.push((h[1], len));
            match h[1] {
                record::STDIN => stdin.extend_from_slice(content),
                record::PARAMS => params.extend_from_slice(content),
                _ => {}
            }
            at += 8 + len + usize::from(h[6]);
        }
        assert_eq!(stdin, body);
        assert_eq!(
            record::decode_params(&params).unwrap(),
            [(&b"SCRIPT_FILENAME"[..], &b"/srv/a.php"[..])]
        );
        assert_eq!(kinds.last(), Some(&(record::STDIN, 0)));
        assert!(kinds
            .iter()
            .all(|&(_, len)| len <= STDIN_CHUNK.max(params.len())));
    }

    #[test]
    fn stdout_is_read_stderr_logged_a_line_at_a_time_and_the_connection_released() {
        let mut wire = Vec::new();
        record::stream(
            &mut wire,
            record::STDERR,
            REQUEST_ID,
            b"PHP Warning: a\nPHP ",
        );
        record::stream(
            &mut wire,
            record::STDOUT,
            REQUEST_ID,
            b"Status: 200\r\n\r\nhello",
        );
        record::stream(&mut wire, record::STDERR, REQUEST_ID, b"Notice: b");
        record::stream(&mut wire, record::STDOUT, REQUEST_ID, b"");
        end(&mut wire, record::REQUEST_COMPLETE);
        let (ours, _theirs) = serve(wire, true);
        let released = Arc::new(Mutex::new(false));
        let (mut out, lines) = stdout(ours, &released);
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        assert_eq!(text, "Status: 200\r\n\r\nhello");
        assert_eq!(*lines.lock().unwrap(), ["PHP Warning: a", "PHP Notice: b"]);
        assert!(
            *released.lock().unwrap(),
            "a clean end releases the connection"
        );
    }

    #[test]
    fn an_answer_that_ends_early_or_is_refused_is_an_error_and_the_connection_is_not_released() {
        let released = Arc::new(Mutex::new(false));
        let mut wire = Vec::new();
        record::stream(&mut wire, record::STDOUT, REQUEST_ID, b"Status: 200\r\n");
        let (ours, _) = serve(wire, false);
        let (mut out, _) = stdout(ours, &released);
        let e = out.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");

        let mut wire = Vec::new();
        end(&mut wire, record::OVERLOADED);
        let (ours, _theirs) = serve(wire, true);
        let (mut out, _) = stdout(ours, &released);
        let e = out.read(&mut [0; 10]).unwrap_err();
        assert!(e.to_string().contains("overloaded"), "{e}");

        let (ours, _) = serve(b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), false);
        let (mut out, _) = stdout(ours, &released);
        let e = out.read(&mut [0; 10]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert!(!*released.lock().unwrap());
    }

    #[test]
    fn a_huge_stderr_line_is_cut_and_memory_stays_bounded() {
        let mut wire = Vec::new();
        record::stream(&mut wire, record::STDERR, REQUEST_ID, &vec![b'e'; 200_000]);
        record::stream(&mut wire, record::STDOUT, REQUEST_ID, b"");
        end(&mut wire, record::REQUEST_COMPLETE);
        let (ours, _theirs) = {
            let (ours, theirs) = UnixStream::pair().unwrap();
            let mut w = theirs.try_clone().unwrap();
            std::thread::spawn(move || w.write_all(&wire));
            (ours, theirs)
        };
        let released = Arc::new(Mutex::new(false));
        let (mut out, lines) = stdout(ours, &released);
        assert_eq!(out.read(&mut [0; 16]).unwrap(), 0);
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), MAX_STDERR_LINE);
    }
}
