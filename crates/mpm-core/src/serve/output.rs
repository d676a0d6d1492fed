//! Writing a response: the head and a body of bytes, a stream or a file
//! (`sendfile` on plain TCP, with the head held back by `MSG_MORE`; copied
//! under TLS; a small file read into the head's write).

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use http::Version;

use super::context::{Mode, ServeContext, Serving};
use super::pending::{self, COPY_CHUNK};
use super::stream::{self, Piece};
use crate::h1::{self as engine, ResponseLength};
use crate::handler::{Body, Response};

/// A file body up to this size is read into the response buffer and sent
/// with the head in one write (one `pread` and one `writev` instead of a
/// `sendfile` after the head). Measured pinned on loopback: for a 13-byte
/// file that took `/hello` from about 31k to 39k requests per second; for
/// a 4 KiB file `sendfile` was ahead (25.5k against 23.2k, three rounds),
/// hence the bound.
pub(super) const SMALL_FILE: usize = 2048;

/// Append `len` bytes of `file` from `offset` to `buf`; an error (and `buf`
/// as it was) when the file is shorter now.
pub(super) fn append_file(
    buf: &mut Vec<u8>,
    file: &std::fs::File,
    offset: u64,
    len: u64,
) -> io::Result<()> {
    let start = buf.len();
    buf.resize(start + len as usize, 0);
    match file.read_exact_at(&mut buf[start..], offset) {
        Ok(()) => Ok(()),
        Err(e) => {
            buf.truncate(start);
            log::error!("file shrank while being sent: {e}");
            Err(e)
        }
    }
}

/// Send `buf` with `MSG_MORE`, the part of a response that a `sendfile`
/// body follows: the kernel holds it back to leave with the body's first
/// bytes, so a small file goes out as one segment, not two (nginx's
/// `tcp_nopush`; `TCP_NODELAY` would otherwise send the head alone). The
/// `sendfile` that follows ends the hold. `Ok(n)` with `n < buf.len()`
/// only on a non-blocking socket that is full.
pub(super) fn send_more(tcp: &std::net::TcpStream, buf: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut done = 0;
    while done < buf.len() {
        match nix::sys::socket::send(
            tcp.as_raw_fd(),
            &buf[done..],
            nix::sys::socket::MsgFlags::from_bits_retain(libc::MSG_MORE),
        ) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) if done > 0 => return Ok(done),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// [`send_more`] on a blocking socket: all of it, or an error.
fn send_all_more(tcp: &std::net::TcpStream, buf: &[u8]) -> io::Result<()> {
    match send_more(tcp, buf)? {
        n if n == buf.len() => Ok(()),
        _ => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// Whether the server is stopping or restarting, gracefully or not.
pub(super) fn stopping(ctx: &ServeContext<'_>) -> bool {
    let readable = crate::net::poll::readable;
    ctx.abort.is_some_and(readable)
        || match ctx.leaving {
            Some(leaving) => leaving(),
            None => ctx.idle_close.is_some_and(readable),
        }
}

impl Serving<'_, '_> {
    /// Send a response; `Ok(body bytes)` or `Err(body bytes sent before
    /// the failure)`. A [`Body::Kept`]'s fields are written after the
    /// response's own headers, as they were encoded.
    pub(super) fn send(
        &mut self,
        resp: Response,
        version: Version,
        is_head: bool,
        keep: bool,
    ) -> Result<u64, u64> {
        let (parts, body) = resp.into_parts();
        let (body, encoded) = body.take_fields();
        let encoded = encoded.as_ref();
        let method = if is_head {
            http::Method::HEAD
        } else {
            http::Method::GET
        };
        let length = engine::plan_length(version, &method, parts.status, body.len());
        let keep = keep && length != ResponseLength::CloseDelimited;
        let mut wbuf = self.head_buf(&parts, encoded, length, keep, version);
        let send_body = !is_head && length != ResponseLength::NoBody;
        // A streamed body (a reader, a writer) is made by the worker, so
        // it is written by the worker too; anything else can be finished
        // by the event loop. (Unless the loop answers the request itself:
        // a handler that lets it promised its stream is quick.)
        let handoff = match self.ctx.mode {
            Mode::Blocking => false,
            Mode::Lent => !send_body || !matches!(body, Body::Reader { .. } | Body::Writer(_)),
            Mode::Loop { .. } => true,
        };
        let result = if handoff {
            let body = if send_body { body } else { Body::Empty };
            self.send_handoff(&mut wbuf, body, length == ResponseLength::Chunked)
        } else if !send_body {
            self.io.write_all(&wbuf).map(|_| 0).map_err(|_| 0)
        } else {
            self.send_body(&mut wbuf, body, length)
        };
        self.wbuf = wbuf;
        let (Ok(n) | Err(n)) = result;
        self.stats.body_bytes += n;
        result
    }

    /// The response head encoded into the connection's write buffer
    /// (taken: give it back to `self.wbuf` when done).
    pub(super) fn head_buf(
        &mut self,
        parts: &http::response::Parts,
        encoded: Option<&engine::EncodedFields>,
        length: ResponseLength,
        keep: bool,
        version: Version,
    ) -> Vec<u8> {
        let mut wbuf = std::mem::take(&mut self.wbuf);
        wbuf.clear();
        engine::encode_head_with(
            &mut wbuf,
            parts.status,
            &parts.headers,
            encoded,
            length,
            keep,
            version,
            &self.ctx.protocol.server_header,
        );
        wbuf
    }

    pub(super) fn send_body(
        &mut self,
        wbuf: &mut Vec<u8>,
        body: Body,
        length: ResponseLength,
    ) -> Result<u64, u64> {
        let chunked = length == ResponseLength::Chunked;
        match body {
            // Not a 101 the engine honoured: an empty body.
            Body::Empty | Body::Tunnel(_) => self.io.write_all(wbuf).map(|_| 0).map_err(|_| 0),
            // A kept answer's fields are in the head already.
            Body::Bytes(b) | Body::Kept { bytes: b, .. } => {
                if chunked && !b.is_empty() {
                    engine::encode::chunk_header(b.len(), wbuf);
                }
                let small = wbuf.len() + b.len() <= COPY_CHUNK;
                let r = if small {
                    wbuf.extend_from_slice(&b);
                    self.io.write_all(wbuf)
                } else {
                    self.io.write_all(wbuf).and_then(|_| self.io.write_all(&b))
                };
                let r = r.and_then(|_| {
                    if chunked {
                        if b.is_empty() {
                            self.io.write_all(engine::encode::LAST_CHUNK)
                        } else {
                            self.io.write_all(engine::encode::CHUNK_END)?;
                            self.io.write_all(engine::encode::LAST_CHUNK)
                        }
                    } else {
                        Ok(())
                    }
                });
                r.map(|_| b.len() as u64).map_err(|_| 0)
            }
            Body::Reader { mut reader, len } => {
                self.write_whole(wbuf).map_err(|_| 0u64)?;
                // Pieces of up to 16 KiB, each one write however many
                // reads made it.
                let mut piece = Piece::new(chunked);
                let mut sent = 0u64;
                loop {
                    let left = len.map(|l| l - sent);
                    let last = stream::next_piece(&mut piece, &mut *reader, left, sent)
                        .map_err(|_| sent)?;
                    let n = piece.len() as u64;
                    let framed = piece.framed(last);
                    if !framed.is_empty() {
                        self.write_whole(framed).map_err(|_| sent)?;
                    }
                    sent += n;
                    if last {
                        return Ok(sent);
                    }
                }
            }
            Body::Writer(write) => {
                self.write_whole(wbuf).map_err(|_| 0u64)?;
                let ctx = self.ctx;
                let stopping = || stopping(ctx);
                let mut emit = |piece: &[u8]| self.write_whole(piece);
                stream::run_writer(write, &mut emit, &stopping, chunked)
            }
            Body::File { file, offset, len } if len <= SMALL_FILE as u64 => {
                // One write of head and body: cheaper than sendfile for a
                // few pages, and one segment on the wire.
                append_file(wbuf, &file, offset, len).map_err(|_| 0u64)?;
                self.io.write_all(wbuf).map_err(|_| 0u64)?;
                Ok(len)
            }
            Body::File { file, offset, len } => {
                let head = match self.io.plain_tcp() {
                    Some(tcp) if len > 0 => send_all_more(tcp, wbuf),
                    _ => self.io.write_all(wbuf),
                };
                head.map_err(|_| 0u64)?;
                let sent = if self.io.plain_tcp().is_some() {
                    self.sendfile(&file, offset, len)
                } else {
                    self.copy_file(&file, offset, len)
                };
                match sent {
                    Ok(()) => Ok(len),
                    Err(n) => Err(n),
                }
            }
        }
    }

    pub(super) fn sendfile(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
    ) -> Result<(), u64> {
        let Some(tcp) = self.io.plain_tcp() else {
            return self.copy_file(file, offset, len);
        };
        let mut off = offset as libc::off_t;
        let mut left = len;
        while left > 0 {
            let want = left.min(1 << 30) as usize;
            match nix::sys::sendfile::sendfile(tcp.as_fd(), file.as_fd(), Some(&mut off), want) {
                Ok(0) => {
                    log::error!(
                        "file shrank while being sent ({} of {len} bytes sent)",
                        len - left
                    );
                    return Err(len - left);
                }
                Ok(n) => left -= n as u64,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return Err(len - left),
            }
        }
        Ok(())
    }

    pub(super) fn copy_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
    ) -> Result<(), u64> {
        crate::net::rooms::with_file_copy(|chunk| {
            let mut done = 0u64;
            while done < len {
                let want = (len - done).min(COPY_CHUNK as u64) as usize;
                let n = match file.read_at(&mut chunk[..want], offset + done) {
                    Ok(0) => return Err(done),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Err(done),
                };
                self.write_whole(&chunk[..n]).map_err(|_| done)?;
                done += n as u64;
            }
            Ok(())
        })
    }

    /// Write all of `buf`, whatever the mode: on a lent connection the
    /// socket is non-blocking, so wait for room, at most `Timeout` each
    /// time.
    pub(super) fn write_whole(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.ctx.mode.is_lent() {
            pending::write_all_polling(self.io, buf, self.ctx.protocol.timeouts.timeout)
        } else {
            self.io.write_all(buf)
        }
    }
}
