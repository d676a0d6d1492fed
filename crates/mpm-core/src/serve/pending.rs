//! The end of a response the socket would not take at once
//! ([`PendingWrite`]): byte segments, part of a file, or a stream still to
//! read, which an event loop finishes as the socket becomes writable; and
//! the non-blocking writes a lent connection makes.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use bytes::Bytes;
use nix::poll::{PollFd, PollFlags};

use super::stream::{next_piece, Piece};
use crate::net::connection::Connection;
use crate::net::poll::poll_timeout;

/// Chunk size for copying streamed and file bodies.
pub(super) const COPY_CHUNK: usize = 64 * 1024;

// A file chunk is copied through the thread's file copy room.
const _: () = assert!(crate::net::rooms::FILE_COPY >= COPY_CHUNK);

/// Whether a write of `asked` bytes that took only `took` of them left
/// the socket full, so that the next write would only see `EAGAIN`: on
/// plain TCP it did (Linux marks a socket that ran out of send buffer
/// and wakes its poll with `EPOLLOUT` when room comes back: the loop's
/// edge-triggered poll reports it), unless the write was cut at the
/// kernel's largest single write (2 GiB). Not through a TLS layer, whose
/// write takes plaintext up to its own bound. tokio's rule for a short
/// write, the same.
pub(super) fn stopped_full(io: &Connection, asked: usize, took: usize) -> bool {
    took < asked && asked < 1 << 30 && io.plain_tcp().is_some()
}

/// A response stream still to read and send.
pub(super) struct StreamPart {
    pub(super) reader: Box<dyn std::io::Read + Send>,
    /// Bytes still due (`Content-Length`), `None` when unknown.
    pub(super) left: Option<u64>,
    /// Framed as chunks.
    pub(super) chunked: bool,
    pub(super) sent: u64,
}

impl std::fmt::Debug for StreamPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamPart")
            .field("left", &self.left)
            .field("chunked", &self.chunked)
            .field("sent", &self.sent)
            .finish()
    }
}

/// Part of a file still to send.
#[derive(Debug)]
pub(super) struct FilePart {
    pub(super) file: File,
    pub(super) offset: u64,
    pub(super) left: u64,
}

/// The end of a response the socket would not take at once: byte
/// segments, then part of a file. An event loop calls
/// [`PendingWrite::advance`] each time the socket is writable.
#[derive(Debug, Default)]
pub struct PendingWrite {
    pub(super) segs: VecDeque<Bytes>,
    pub(super) file: Option<FilePart>,
    pub(super) stream: Option<StreamPart>,
    /// Body bytes a finished stream gave.
    pub(super) streamed: u64,
}

impl PendingWrite {
    /// Bytes still to write (of a stream: those read and not yet written).
    pub fn remaining(&self) -> u64 {
        let segs: u64 = self.segs.iter().map(|s| s.len() as u64).sum();
        segs + self.file.as_ref().map_or(0, |f| f.left)
    }

    pub(super) fn streamed_so_far(&self) -> u64 {
        self.stream.as_ref().map_or(self.streamed, |s| s.sent)
    }

    /// Read the next piece of the stream (up to 16 KiB, framed) into a
    /// segment; false when there is no stream (left).
    fn refill(&mut self) -> io::Result<bool> {
        let Some(st) = self.stream.as_mut() else {
            return Ok(false);
        };
        let mut piece = Piece::new(st.chunked);
        let last = next_piece(&mut piece, &mut *st.reader, st.left, st.sent)?;
        let n = piece.len() as u64;
        st.sent += n;
        if let Some(l) = st.left.as_mut() {
            *l -= n;
        }
        let framed = piece.into_framed(last);
        if !framed.is_empty() {
            self.segs.push_back(framed);
        }
        if last {
            self.streamed = st.sent;
            self.stream = None;
        }
        Ok(true)
    }

    /// Write as much as the socket takes without waiting: `Ok(true)` when
    /// everything is written, `Ok(false)` when the socket is full (a write
    /// saw `EAGAIN`, or stopped short on plain TCP, which on Linux means
    /// full; wait for it to be writable, which an edge-triggered poll
    /// reports too),
    /// `Err` when the connection failed (or the file shrank under us).
    pub fn advance(&mut self, io: &mut Connection) -> io::Result<bool> {
        loop {
            // Whatever the transport itself holds (TLS records) goes first.
            match io.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if !self.segs.is_empty() {
                let mut slices = [IoSlice::new(&[]); 8];
                let mut k = 0;
                let mut asked = 0;
                for s in self.segs.iter().take(slices.len()) {
                    slices[k] = IoSlice::new(s);
                    asked += s.len();
                    k += 1;
                }
                match io.write_vectored(&slices[..k]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(mut n) => {
                        let full = stopped_full(io, asked, n);
                        while n > 0 {
                            let Some(front) = self.segs.front_mut() else {
                                break;
                            };
                            if n >= front.len() {
                                n -= front.len();
                                self.segs.pop_front();
                            } else {
                                let _ = front.split_to(n);
                                n = 0;
                            }
                        }
                        if full {
                            return Ok(false);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            let Some(f) = self.file.as_mut() else {
                if self.refill()? {
                    continue;
                }
                return Ok(true);
            };
            if f.left == 0 {
                self.file = None;
                continue;
            }
            if let Some(tcp) = io.plain_tcp() {
                let mut off = f.offset as libc::off_t;
                let want = f.left.min(1 << 30) as usize;
                match nix::sys::sendfile::sendfile(
                    tcp.as_fd(),
                    f.file.as_fd(),
                    Some(&mut off),
                    want,
                ) {
                    Ok(0) => return Err(shrank()),
                    Ok(n) => {
                        f.offset += n as u64;
                        f.left -= n as u64;
                    }
                    Err(nix::errno::Errno::EAGAIN) => return Ok(false),
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            } else {
                // Through a TLS layer: a chunk at a time through the
                // thread's copy room, never the whole file in memory. The
                // transport's own bytes were all sent (the flush above), so
                // it takes the whole chunk; what it would not is read again.
                let want = f.left.min(COPY_CHUNK as u64) as usize;
                let took = crate::net::rooms::with_file_copy(|room| {
                    let n = match f.file.read_at(&mut room[..want], f.offset) {
                        Ok(0) => return Err(shrank()),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Some(0)),
                        Err(e) => return Err(e),
                    };
                    match io.write(&room[..n]) {
                        Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                        Ok(m) => Ok(Some(m)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Some(0)),
                        Err(e) => Err(e),
                    }
                })?;
                let Some(m) = took else {
                    return Ok(false);
                };
                f.offset += m as u64;
                f.left -= m as u64;
            }
        }
    }
}

fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file shrank while it was being sent",
    )
}

/// Write the slices in order until done or the socket is full; the bytes
/// written (fewer than all of them: the socket is full, the next write
/// would see `EAGAIN`).
pub(super) fn write_now(io: &mut Connection, slices: &[&[u8]]) -> io::Result<usize> {
    let total: usize = slices.iter().map(|s| s.len()).sum();
    let mut done = 0;
    while done < total {
        // Skip what is written.
        let mut skip = done;
        let mut iov = [IoSlice::new(&[]); 4];
        let mut k = 0;
        let mut asked = 0;
        for s in slices {
            if skip >= s.len() {
                skip -= s.len();
                continue;
            }
            if k < iov.len() {
                iov[k] = IoSlice::new(&s[skip..]);
                asked += s.len() - skip;
                k += 1;
            }
            skip = 0;
        }
        match io.write_vectored(&iov[..k]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) if stopped_full(io, asked, n) => return Ok(done + n),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(done),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Write all of `buf` to a non-blocking connection, waiting for room at
/// most `timeout` at a time.
pub(super) fn write_all_polling(
    io: &mut Connection,
    buf: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match io.write(&buf[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(io, timeout)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    loop {
        match io.flush() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(io, timeout)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn wait_writable(io: &Connection, timeout: Duration) -> io::Result<()> {
    let mut fds = [PollFd::new(io.as_fd(), PollFlags::POLLOUT)];
    loop {
        match nix::poll::poll(&mut fds, poll_timeout(Some(timeout))) {
            Ok(0) => return Err(io::ErrorKind::TimedOut.into()),
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
