//! The write side of a [`TlsStream`]: plaintext sealed into records and
//! sent, the records that wait when the socket takes no more, and
//! `close_notify`. A write with nothing waiting before it is sealed in
//! the thread's seal room ([`crate::net::rooms`]) and sent from there;
//! only what the socket does not take is kept by the connection.

use std::io;
use std::io::Write;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

use nix::sys::socket::MsgFlags;

use super::{not_handshaken, session_failed, TlsStream, Want};

/// Most TLS bytes waiting to be sent before `write` takes no more
/// plaintext (so a non-blocking writer sees back-pressure).
const SEND_BUFFER_LIMIT: usize = 64 * 1024;

// A write's records are sealed whole in the thread's seal room.
const _: () = assert!(
    crate::net::rooms::TLS_SEAL >= SEND_BUFFER_LIMIT + (SEND_BUFFER_LIMIT / (16 * 1024) + 1) * 64
);

/// The error of writing after `close_notify`.
pub(super) fn closed_for_writing() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the TLS session is closed: no more data can be sent",
    )
}

/// `send` once without `SIGPIPE`, never waiting when `dont_wait`.
pub(super) fn send(tcp: &TcpStream, buf: &[u8], dont_wait: bool) -> io::Result<usize> {
    let mut flags = MsgFlags::MSG_NOSIGNAL;
    if dont_wait {
        flags |= MsgFlags::MSG_DONTWAIT;
    }
    loop {
        match nix::sys::socket::send(tcp.as_raw_fd(), buf, flags) {
            Err(nix::errno::Errno::EINTR) => {}
            other => return other.map_err(io::Error::from),
        }
    }
}

impl TlsStream {
    /// Send what is queued for the peer, until all is sent (then the
    /// buffer is given back) or the socket takes nothing more
    /// (`WouldBlock`, or a timeout on a blocking socket).
    pub(super) fn flush_out(&mut self, dont_wait: bool) -> io::Result<()> {
        while self.sent < self.outgoing.len() {
            match send(&self.tcp, &self.outgoing[self.sent..], dont_wait)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => self.sent += n,
            }
        }
        self.outgoing = Vec::new();
        self.sent = 0;
        Ok(())
    }

    /// TLS bytes wait to be sent.
    pub(in crate::net) fn wants_write(&self) -> bool {
        self.sent < self.outgoing.len()
    }

    /// Encrypt plaintext (at most what fills the send buffer to its
    /// limit) and send what the socket takes; `WouldBlock` only when
    /// nothing was taken.
    fn write_data(&mut self, buf: &[u8], dont_wait: bool) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.failed {
            return Err(session_failed());
        }
        if !self.handshaken() {
            return Err(not_handshaken());
        }
        // Room first: on a blocking socket this empties the buffer.
        match self.flush_out(dont_wait) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => other?,
        }
        let pending = self.outgoing.len() - self.sent;
        if pending >= SEND_BUFFER_LIMIT {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(SEND_BUFFER_LIMIT - pending);
        if pending == 0 {
            // Nothing waits before these records: sealed in the thread's
            // room and sent from there.
            return crate::net::rooms::with_tls_seal(|room| {
                self.seal_and_send(&buf[..n], room, dont_wait)
            });
        }
        self.outgoing.drain(..self.sent);
        self.sent = 0;
        if !self.drive_incoming(Want::Encrypt(&buf[..n]))? {
            return Err(closed_for_writing());
        }
        match self.flush_out(dont_wait) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => other?,
        }
        Ok(n)
    }

    /// Encrypt `data` into `room` and send the records from there; only
    /// what the socket does not take is kept (`outgoing`). `Ok(data.len())`.
    fn seal_and_send(
        &mut self,
        data: &[u8],
        room: &mut [u8],
        dont_wait: bool,
    ) -> io::Result<usize> {
        let mut sealed = 0;
        if !self.drive_incoming(Want::Seal(data, room, &mut sealed))? {
            return Err(closed_for_writing());
        }
        let mut sent = 0;
        if self.outgoing.is_empty() {
            while sent < sealed {
                match send(&self.tcp, &room[sent..sealed], dont_wait) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(k) => sent += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        // What the socket did not take; after records rustls queued on
        // the way (a key update's), which go first.
        self.outgoing.extend_from_slice(&room[sent..sealed]);
        match self.flush_out(dont_wait) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => other?,
        }
        Ok(data.len())
    }

    /// Write through the session (the socket in clear after plain HTTP).
    pub(in crate::net) fn write(&mut self, buf: &[u8], nonblocking: bool) -> io::Result<usize> {
        if self.cleartext {
            self.tcp.write(buf)
        } else {
            self.write_data(buf, nonblocking)
        }
    }

    /// As [`TlsStream::write`], with the first non-empty slice only
    /// through the session.
    pub(in crate::net) fn write_vectored(
        &mut self,
        bufs: &[io::IoSlice<'_>],
        nonblocking: bool,
    ) -> io::Result<usize> {
        if self.cleartext {
            return self.tcp.write_vectored(bufs);
        }
        let first = bufs.iter().find(|b| !b.is_empty());
        self.write_data(first.map_or(&[][..], |b| &b[..]), nonblocking)
    }

    /// Send every pending byte.
    pub(in crate::net) fn flush(&mut self, nonblocking: bool) -> io::Result<()> {
        if self.cleartext {
            self.tcp.flush()
        } else {
            self.flush_out(nonblocking)
        }
    }

    /// Say `close_notify` before a half-close (not to a client that spoke
    /// plain HTTP, nor before the handshake is over).
    pub(in crate::net) fn close_notify(&mut self, nonblocking: bool) {
        if self.cleartext || self.notified || self.failed || !self.handshaken() {
            return;
        }
        self.notified = true;
        if self.drive_incoming(Want::CloseNotify).is_ok() {
            let _ = self.flush_out(nonblocking);
        }
    }
}
