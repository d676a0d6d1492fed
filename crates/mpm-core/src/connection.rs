//! An accepted connection and its facts.
//!
//! [`Connection`] hides whether the bytes travel in clear or through TLS, so
//! a handler never changes when TLS is switched on: it only sees
//! [`ConnInfo`].

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

/// What a TLS session negotiated; filled in by the TLS acceptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The SNI name the client sent, if any.
    pub sni: Option<String>,
    /// Negotiated protocol version, e.g. `TLSv1.3`.
    pub version: String,
    /// Negotiated ALPN protocol, e.g. `http/1.1`.
    pub alpn: Option<String>,
}

/// The facts of one connection a handler may want.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// Index of the listener it came from, in [`crate::Listeners`] order.
    pub listener: usize,
    /// The address that listener was configured with (`*:80`, …).
    pub listen_addr: Arc<str>,
    /// `Some` when the connection is TLS.
    pub tls: Option<TlsInfo>,
}

impl ConnInfo {
    /// True when the connection is TLS.
    pub fn is_secure(&self) -> bool {
        self.tls.is_some()
    }
}

/// How the bytes travel. TLS slots in here as another variant.
#[derive(Debug)]
pub enum Transport {
    /// Clear-text TCP.
    Plain(TcpStream),
}

/// An accepted socket with its facts.
#[derive(Debug)]
pub struct Connection {
    transport: Transport,
    info: ConnInfo,
}

impl Connection {
    /// Wrap an accepted plain TCP stream.
    pub fn plain(stream: TcpStream, listener: usize, listen_addr: Arc<str>) -> io::Result<Self> {
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        Ok(Connection {
            transport: Transport::Plain(stream),
            info: ConnInfo {
                peer,
                local,
                listener,
                listen_addr,
                tls: None,
            },
        })
    }

    /// Wrap a stream just accepted from `listener` (number `index`), with
    /// the peer address `accept` returned. Saves the `getpeername` call,
    /// and the `getsockname` one when the listener is bound to one
    /// address.
    pub fn accepted(
        stream: TcpStream,
        peer: SocketAddr,
        index: usize,
        listener: &crate::listener::Listener,
    ) -> io::Result<Self> {
        let local = if listener.local.ip().is_unspecified() {
            stream.local_addr()?
        } else {
            listener.local
        };
        Ok(Connection {
            transport: Transport::Plain(stream),
            info: ConnInfo {
                peer,
                local,
                listener: index,
                listen_addr: listener.name.clone(),
                tls: None,
            },
        })
    }

    /// The connection's facts.
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }

    /// The plain TCP stream when there is no TLS layer (so a strategy may
    /// use `sendfile`).
    pub fn plain_tcp(&self) -> Option<&TcpStream> {
        match &self.transport {
            Transport::Plain(s) => Some(s),
        }
    }

    /// The underlying TCP stream, whatever the layer above it.
    pub fn tcp(&self) -> &TcpStream {
        match &self.transport {
            Transport::Plain(s) => s,
        }
    }

    /// Read what has already arrived without waiting: `Err(WouldBlock)`
    /// when nothing has.
    pub fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(s) => {
                nix::sys::socket::recv(s.as_raw_fd(), buf, nix::sys::socket::MsgFlags::MSG_DONTWAIT)
                    .map_err(io::Error::from)
            }
        }
    }

    /// Half-close the sending side (for lingering close).
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.tcp().shutdown(std::net::Shutdown::Write)
    }
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(s) => s.read(buf),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(s) => s.write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Plain(s) => s.write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.transport {
            Transport::Plain(s) => s.flush(),
        }
    }
}

impl AsRawFd for Connection {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp().as_raw_fd()
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tcp().as_fd()
    }
}
