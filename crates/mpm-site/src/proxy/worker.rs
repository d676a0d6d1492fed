//! A worker: one backend URL with its pool of kept-alive connections and
//! its error state, as mod_proxy's `proxy_worker` (without a balancer's
//! shared state: the pool and the error state belong to one child).
//!
//! The pool is bounded (`max=` idle connections) and last in, first out,
//! so the connection handed out is the one idle the shortest time. A
//! connection is never handed out past its time to live (`ttl=`, else the
//! backend's announced keep-alive timeout less a second, else
//! [`DEFAULT_TTL`]), and one the backend has already closed (its end of
//! file or reset waiting in the socket) is found by a peek before it is
//! used and dropped: the stale keep-alive race that gives Apache's users
//! 502s is then left to the rare case of a close that crosses the request
//! on the wire, which the exchange retries (the `exchange` module).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::config::{WorkerConfig, DEFAULT_TTL};

/// A connection to a backend: TCP, or a Unix socket (`unix:/path|…`).
#[derive(Debug)]
pub enum BackendStream {
    /// To `host:port`.
    Tcp(TcpStream),
    /// To a Unix socket.
    Unix(UnixStream),
}

impl BackendStream {
    /// Set the longest wait of each read and write.
    pub fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        match self {
            BackendStream::Tcp(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))
            }
            BackendStream::Unix(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))
            }
        }
    }

    /// Set the longest wait of each read.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        match self {
            BackendStream::Tcp(s) => s.set_read_timeout(Some(timeout)),
            BackendStream::Unix(s) => s.set_read_timeout(Some(timeout)),
        }
    }
}

impl Read for BackendStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BackendStream::Tcp(s) => s.read(buf),
            BackendStream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for BackendStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            BackendStream::Tcp(s) => s.write(buf),
            BackendStream::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            BackendStream::Tcp(s) => s.write_vectored(bufs),
            BackendStream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for BackendStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            BackendStream::Tcp(s) => s.as_fd(),
            BackendStream::Unix(s) => s.as_fd(),
        }
    }
}

/// One backend, shared by the requests of a child.
#[derive(Debug)]
pub struct Worker {
    /// Its configuration (the first rule that named its URL).
    pub config: WorkerConfig,
    /// The URL as written, the worker's name in messages.
    pub name: String,
    /// `timeout=`, or the host's `ProxyTimeout`.
    pub timeout: Duration,
    idle: Mutex<Vec<Idle>>,
    /// Until when the worker is in error (no connection tried).
    error_until: Mutex<Option<Instant>>,
}

/// A kept-alive connection waiting in the pool.
#[derive(Debug)]
struct Idle {
    stream: BackendStream,
    /// When it must no longer be used.
    expires: Instant,
}

/// Why no connection could be had.
#[derive(Debug)]
pub enum ConnectError {
    /// The worker is in its error state for this long still.
    InError(Duration),
    /// Connecting failed (the worker is now in error for `retry=`).
    Failed(io::Error),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Worker {
    /// A worker for `config`, whose reads and writes wait at most
    /// `timeout` unless `config.timeout` says otherwise.
    pub fn new(config: WorkerConfig, timeout: Duration) -> Worker {
        Worker {
            name: config.url.to_string(),
            timeout: config.timeout.unwrap_or(timeout),
            config,
            idle: Mutex::new(Vec::new()),
            error_until: Mutex::new(None),
        }
    }

    /// A pooled connection that is still alive, if one is idle.
    pub fn checkout(&self) -> Option<BackendStream> {
        if self.config.disable_reuse {
            return None;
        }
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        while let Some(conn) = idle.pop() {
            if conn.expires > now && is_alive(&conn.stream) {
                return Some(conn.stream);
            }
        }
        None
    }

    /// Keep `stream` for a later request, the backend having announced
    /// `announced` as its keep-alive timeout (if it did). Dropped (closed)
    /// when the pool is full or reuse is off.
    pub fn checkin(&self, stream: BackendStream, announced: Option<Duration>) {
        if self.config.disable_reuse || self.config.max_idle == 0 {
            return;
        }
        let ttl = self.config.ttl.unwrap_or_else(|| match announced {
            Some(t) => t.saturating_sub(Duration::from_secs(1)),
            None => DEFAULT_TTL,
        });
        if ttl.is_zero() {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() >= self.config.max_idle {
            // The oldest goes: it is the likeliest to have been closed.
            idle.remove(0);
        }
        idle.push(Idle {
            stream,
            expires: Instant::now() + ttl,
        });
    }

    /// Whether the connection [`checkout`](Self::checkout) would hand out
    /// is there and alive (the dead or expired ones on top are dropped).
    pub fn has_live_idle(&self) -> bool {
        if self.config.disable_reuse {
            return false;
        }
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        while let Some(conn) = idle.last() {
            if conn.expires > now && is_alive(&conn.stream) {
                return true;
            }
            idle.pop();
        }
        false
    }

    /// Idle connections in the pool now.
    pub fn idle_count(&self) -> usize {
        lock(&self.idle).len()
    }

    /// How long the worker stays in its error state (in this child), if
    /// it is in it.
    pub fn error_left(&self) -> Option<Duration> {
        let now = Instant::now();
        lock(&self.error_until)
            .filter(|&t| t > now)
            .map(|t| t - now)
    }

    /// A new connection to the backend, or why not: at once while the
    /// worker is in its error state; a failed attempt puts it there for
    /// `retry=`.
    pub fn connect(&self) -> Result<BackendStream, ConnectError> {
        let now = Instant::now();
        {
            let mut until = lock(&self.error_until);
            match *until {
                Some(t) if t > now => return Err(ConnectError::InError(t - now)),
                Some(_) => *until = None,
                None => {}
            }
        }
        self.dial().map_err(|e| {
            if !self.config.retry.is_zero() {
                *lock(&self.error_until) = Some(Instant::now() + self.config.retry);
            }
            ConnectError::Failed(e)
        })
    }

    fn dial(&self) -> io::Result<BackendStream> {
        self.open(
            self.config.connection_timeout.unwrap_or(self.timeout),
            self.timeout,
        )
    }

    /// A new connection to the backend's address (its Unix socket, else
    /// each address of its host in turn), made within `wait`; each read
    /// and write on it then waits at most `timeout`. The health checks
    /// connect with it too.
    pub fn open(&self, wait: Duration, timeout: Duration) -> io::Result<BackendStream> {
        let url = &self.config.url;
        if let Some(path) = &url.unix {
            let socket = connect(
                socket2::Domain::UNIX,
                &socket2::SockAddr::unix(path)?,
                wait,
                timeout,
            )?;
            return Ok(BackendStream::Unix(socket.into()));
        }
        let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port).to_socket_addrs()?.collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        for addr in addrs {
            match connect(
                socket2::Domain::for_address(addr),
                &addr.into(),
                wait,
                timeout,
            ) {
                Ok(socket) => {
                    socket.set_nodelay(true)?;
                    if self.config.tcp_keepalive {
                        socket.set_keepalive(true)?;
                    }
                    return Ok(BackendStream::Tcp(socket.into()));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// A blocking stream socket connected to `addr` within `wait`, its reads
/// and writes then bounded by `timeout`. The connect itself is blocking,
/// bounded by the send timeout (Linux ends a blocking `connect` at
/// `SO_SNDTIMEO`), so a connection costs `socket`, the two timeouts and
/// `connect`: no switch to non-blocking and back, no `poll` (eight system
/// calls fewer than a non-blocking connect and the timeouts set after it;
/// a Unix socket connects at once or fails at once).
fn connect(
    domain: socket2::Domain,
    addr: &socket2::SockAddr,
    wait: Duration,
    timeout: Duration,
) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    socket.set_write_timeout(Some(wait))?;
    socket.set_read_timeout(Some(timeout))?;
    loop {
        match socket.connect(addr) {
            Ok(()) => break,
            // The send timeout passed: Linux says EINPROGRESS (TCP) or
            // EAGAIN (a Unix socket whose backlog stayed full).
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EAGAIN)) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no connection within {} s", wait.as_secs_f64()),
                ))
            }
            // A signal came. A Unix socket's connect is made whole or
            // not at all: again. TCP's goes on: it is waited for as a
            // non-blocking connect is.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if domain != socket2::Domain::UNIX {
                    finish_connect(&socket, wait)?;
                    break;
                }
            }
            Err(e) => return Err(e),
        }
    }
    if wait != timeout {
        socket.set_write_timeout(Some(timeout))?;
    }
    Ok(socket)
}

/// Wait up to `wait` for a connection under way on `socket` to be made.
fn finish_connect(socket: &socket2::Socket, wait: Duration) -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no connection within {} s", wait.as_secs_f64()),
            ));
        }
        let ms = PollTimeout::try_from(left.as_millis().max(1).min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)];
        match poll(&mut fds, ms) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => break,
            Err(e) => return Err(e.into()),
        }
    }
    match socket.take_error()? {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Whether an idle connection is still open: nothing to read (no end of
/// file, no reset, no stray bytes a backend should not have sent).
/// One system call: a peek that does not wait (`MSG_PEEK | MSG_DONTWAIT`),
/// the socket left blocking.
fn is_alive(stream: &BackendStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    let peeked = socket2::SockRef::from(stream)
        .recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT);
    matches!(peeked, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::config::BackendUrl;
    use std::net::TcpListener;

    fn worker_for(addr: SocketAddr) -> Worker {
        let url = BackendUrl::parse(&format!("http://{addr}/")).unwrap();
        Worker::new(WorkerConfig::new(url), Duration::from_secs(5))
    }

    #[test]
    fn a_pooled_connection_the_backend_closed_is_not_handed_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let worker = worker_for(listener.local_addr().unwrap());
        worker.checkin(worker.connect().unwrap(), None);
        let (backend_side, _) = listener.accept().unwrap();
        let alive = worker
            .checkout()
            .expect("an open pooled connection is handed out");
        worker.checkin(alive, None);
        drop(backend_side);
        // The backend's FIN arrives in a moment: poll for it.
        let until = Instant::now() + Duration::from_secs(5);
        let mut handed_out = true;
        while handed_out && Instant::now() < until {
            handed_out = match worker.checkout() {
                Some(s) => {
                    worker.checkin(s, None);
                    std::thread::sleep(Duration::from_millis(10));
                    true
                }
                None => false,
            };
        }
        assert!(
            !handed_out,
            "a connection the backend closed was still handed out"
        );
        assert_eq!(worker.idle_count(), 0);
    }

    #[test]
    fn a_refused_connection_puts_the_worker_in_error_for_retry() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let worker = worker_for(addr);
        assert!(matches!(worker.connect(), Err(ConnectError::Failed(_))));
        match worker.connect() {
            Err(ConnectError::InError(left)) => assert!(left <= Duration::from_secs(60)),
            other => panic!("a second attempt within retry= gave {other:?}"),
        }
    }
}
