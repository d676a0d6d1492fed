//! The owner driven as a strategy drives it: a loopback socket polled
//! with a wake-up pipe, each stream job run on a thread of its own, and a
//! client speaking raw frames.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use super::{H2Owner, Wake};
use crate::config::ProtocolConfig;
use crate::h2::frame::{self, kind, FrameHeader, PREFACE};
use crate::h2::hpack::{self, Indexing};
use crate::h2::ErrorCode;
use crate::handler::{Body, Handler, Request, Response};
use crate::net::connection::{ConnInfo, Connection};
use crate::serve::ServeContext;

/// How long any wait of a test may last before it fails.
const BOUND: Duration = Duration::from_secs(10);

/// Serve one connection from `listener` with `handler` on a thread that
/// drives the owner as a strategy would; each job runs on a thread of
/// its own. `done` is set when the driver ends.
fn serve(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    done: Arc<AtomicBool>,
    finished: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (sock, _) = listener.accept().expect("accept");
        let conn = Connection::plain(sock, 0, Arc::from("test")).expect("a connection");
        let protocol = ProtocolConfig::default();
        let (wake_rx, wake_tx) = UnixStream::pair().expect("a wake-up pipe");
        wake_rx.set_nonblocking(true).unwrap();
        let wake_tx = Arc::new(wake_tx);
        let wake: Wake = Arc::new(move || {
            let _ = (&*wake_tx).write(&[1]);
        });
        let mut owner = H2Owner::new(conn, &protocol, &[], None, wake).expect("an owner");
        let mut scratch = vec![0u8; 16 * 1024];
        let ctx = ServeContext::bare(&*handler, &protocol);
        let until = Instant::now() + BOUND;
        std::thread::scope(|scope| {
            while Instant::now() < until {
                owner.drive(&mut scratch, Instant::now());
                for job in owner.take_jobs() {
                    let (ctx, finished) = (&ctx, &finished);
                    scope.spawn(move || {
                        job.run(ctx);
                        finished.fetch_add(1, Ordering::SeqCst);
                    });
                }
                if owner.is_done() {
                    break;
                }
                let write = if owner.wants_write() {
                    PollFlags::POLLOUT
                } else {
                    PollFlags::empty()
                };
                let mut fds = [
                    PollFd::new(owner.connection().as_fd(), PollFlags::POLLIN | write),
                    PollFd::new(wake_rx.as_fd(), PollFlags::POLLIN),
                ];
                let wait = if owner.wants_drive() {
                    Duration::ZERO
                } else {
                    owner
                        .deadline()
                        .map_or(Duration::from_millis(500), |d| {
                            d.saturating_duration_since(Instant::now())
                        })
                        .min(Duration::from_millis(500))
                };
                let _ = nix::poll::poll(&mut fds, crate::net::poll::poll_timeout(Some(wait)));
                let ev = |f: &PollFd| f.revents().unwrap_or(PollFlags::empty());
                let (sock, woke) = (ev(&fds[0]), ev(&fds[1]));
                if !woke.is_empty() {
                    let _ = (&wake_rx).read(&mut [0u8; 64]);
                }
                owner.ready(
                    sock.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR),
                    sock.contains(PollFlags::POLLOUT),
                );
                owner.on_deadline(Instant::now());
            }
            drop(owner);
        });
        done.store(true, Ordering::Release);
    })
}

/// A client speaking raw frames.
struct Client {
    sock: TcpStream,
    enc: hpack::Encoder,
    dec: hpack::Decoder,
    buf: Vec<u8>,
}

/// A frame the server sent.
#[derive(Debug)]
struct Got {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Client {
    fn connect(addr: std::net::SocketAddr) -> Client {
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(BOUND)).unwrap();
        let mut c = Client {
            sock,
            enc: hpack::Encoder::new(),
            dec: hpack::Decoder::default(),
            buf: Vec::new(),
        };
        let mut wire = PREFACE.to_vec();
        frame::encode_settings(&mut wire, &[]);
        c.sock.write_all(&wire).unwrap();
        c
    }

    fn get(&mut self, stream: u32, path: &str, end_stream: bool) {
        let mut block = Vec::new();
        self.enc.begin_block(&mut block);
        for (n, v) in [
            (":method", if end_stream { "GET" } else { "POST" }),
            (":scheme", "http"),
            (":path", path),
            (":authority", "example.com"),
        ] {
            self.enc.encode(
                n.as_bytes(),
                v.as_bytes(),
                Indexing::Incremental,
                &mut block,
            );
        }
        let mut wire = Vec::new();
        frame::encode_header_block(&mut wire, stream, &block, end_stream, 16_384);
        self.sock.write_all(&wire).unwrap();
    }

    fn reset(&mut self, stream: u32) {
        let mut wire = Vec::new();
        frame::encode_rst_stream(&mut wire, stream, ErrorCode::Cancel);
        self.sock.write_all(&wire).unwrap();
    }

    /// The next frame; `None` when the server closed.
    fn frame(&mut self) -> Option<Got> {
        loop {
            if self.buf.len() >= 9 {
                let h = FrameHeader::parse(self.buf[..9].try_into().unwrap());
                let end = 9 + h.len as usize;
                if self.buf.len() >= end {
                    let payload = self.buf[9..end].to_vec();
                    self.buf.drain(..end);
                    return Some(Got {
                        kind: h.kind,
                        flags: h.flags,
                        stream: h.stream,
                        payload,
                    });
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.sock.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Read until every stream of `streams` has its whole response: the
    /// bodies by stream, in the order given.
    fn bodies(&mut self, streams: &[u32]) -> Vec<String> {
        let mut bodies = vec![Vec::new(); streams.len()];
        let mut ended = vec![false; streams.len()];
        while ended.iter().any(|e| !e) {
            let f = self
                .frame()
                .unwrap_or_else(|| panic!("the server closed with streams unanswered: {ended:?}"));
            let Some(i) = streams.iter().position(|&s| s == f.stream) else {
                continue;
            };
            match f.kind {
                kind::HEADERS => {
                    self.dec
                        .decode(&f.payload, usize::MAX, |_, _, _| {})
                        .expect("the response head decodes");
                }
                kind::DATA => {
                    bodies[i].extend_from_slice(&f.payload);
                    // Window back at once, for the stream and the
                    // connection.
                    let n = f.payload.len() as u32;
                    if n > 0 {
                        let mut wire = Vec::new();
                        frame::encode_window_update(&mut wire, 0, n);
                        frame::encode_window_update(&mut wire, f.stream, n);
                        self.sock.write_all(&wire).unwrap();
                    }
                }
                kind::RST_STREAM => panic!("the server reset stream {}", f.stream),
                _ => {}
            }
            if f.flags & frame::flag::END_STREAM != 0 {
                ended[i] = true;
            }
        }
        bodies
            .into_iter()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }
}

/// A server for one connection, and its client.
struct Started {
    client: Client,
    /// Jobs whose thread is done.
    finished: Arc<AtomicUsize>,
    server: std::thread::JoinHandle<()>,
}

fn start(handler: Arc<dyn Handler>) -> Started {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicUsize::new(0));
    let server = serve(listener, handler, done, finished.clone());
    Started {
        client: Client::connect(addr),
        finished,
        server,
    }
}

impl Started {
    /// The client hangs up; the server's driver ends.
    fn end(self) {
        drop(self.client);
        self.server.join().expect("the driver thread panicked");
    }
}

#[test]
fn two_streams_of_one_connection_run_their_handlers_at_the_same_time() {
    // Each handler waits until both run: served one at a time, the first
    // would wait out its bound alone.
    let running = Arc::new(AtomicUsize::new(0));
    let seen = running.clone();
    let handler = move |_req: Request<'_>, _c: &ConnInfo| -> Response {
        seen.fetch_add(1, Ordering::SeqCst);
        let until = Instant::now() + BOUND;
        while seen.load(Ordering::SeqCst) < 2 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        let both = seen.load(Ordering::SeqCst) >= 2;
        Response::new(Body::from(if both { "together" } else { "alone" }))
    };
    let mut s = start(Arc::new(handler));
    s.client.get(1, "/a", true);
    s.client.get(3, "/b", true);
    let bodies = s.client.bodies(&[1, 3]);
    assert_eq!(
        bodies,
        ["together", "together"],
        "the two streams' handlers did not run at the same time"
    );
    s.end();
}

#[test]
fn a_reset_stream_makes_its_handlers_body_read_fail_and_the_connection_goes_on() {
    let (tx, rx) = mpsc::channel();
    let (reading_tx, reading) = mpsc::channel();
    let tx = std::sync::Mutex::new((tx, reading_tx));
    let handler = move |req: Request<'_>, _c: &ConnInfo| -> Response {
        if req.uri().path() == "/upload" {
            let _ = tx.lock().unwrap().1.send(());
            let mut body = req.into_body();
            let mut buf = [0u8; 64];
            let r = body.read(&mut buf).map_err(|e| e.kind());
            let _ = tx.lock().unwrap().0.send(r);
        }
        Response::new(Body::from("ok"))
    };
    let mut s = start(Arc::new(handler));
    s.client.get(1, "/upload", false);
    // The body never comes: the handler starts after the grace and
    // waits in its read until the reset reaches it.
    reading
        .recv_timeout(BOUND)
        .expect("the handler of a request whose body does not come was not called");
    s.client.reset(1);
    let read = rx
        .recv_timeout(BOUND)
        .expect("the handler's read did not end after the reset");
    assert!(
        read.is_err(),
        "the handler's read of a reset stream returned {read:?}"
    );
    s.client.get(3, "/next", true);
    assert_eq!(
        s.client.bodies(&[3]),
        ["ok"],
        "the next stream was not served"
    );
    s.end();
}

#[test]
fn a_large_answer_the_client_does_not_read_yet_frees_the_handlers_thread() {
    let handler = |_req: Request<'_>, _c: &ConnInfo| -> Response {
        Response::new(Body::Bytes(bytes::Bytes::from(vec![b'x'; 1 << 20])))
    };
    let mut s = start(Arc::new(handler));
    s.client.get(1, "/big", true);
    // The client reads nothing: no more than a window (64 KiB) of the
    // 1 MiB can leave, yet the job's thread is done.
    let until = Instant::now() + BOUND;
    while s.finished.load(Ordering::SeqCst) == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        s.finished.load(Ordering::SeqCst),
        1,
        "the handler's thread was still held by an answer the client had not read"
    );
    let got = s.client.bodies(&[1]);
    assert_eq!(got[0].len(), 1 << 20, "the answer was not whole once read");
    s.end();
}

#[test]
fn an_idle_connection_gives_its_buffers_back_once_after_a_pause_not_after_each_burst() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = Client::connect(listener.local_addr().unwrap());
    let (sock, _) = listener.accept().expect("accept");
    let conn = Connection::plain(sock, 0, Arc::from("test")).expect("a connection");
    let protocol = ProtocolConfig::default();
    let wake: Wake = Arc::new(|| {});
    let mut owner = H2Owner::new(conn, &protocol, &[], None, wake).expect("an owner");
    let handler = |_req: Request<'_>, _c: &ConnInfo| Response::new(Body::from("hi"));
    let ctx = ServeContext::bare(&handler, &protocol);
    let mut scratch = vec![0u8; 16 * 1024];
    let mut burst = |owner: &mut H2Owner, client: &mut Client, stream: u32| {
        client.get(stream, "/", true);
        let until = Instant::now() + BOUND;
        while !owner.has_jobs() && Instant::now() < until {
            owner.ready(true, true);
            owner.drive(&mut scratch, Instant::now());
        }
        for job in owner.take_jobs() {
            job.run(&ctx);
        }
        owner.drive(&mut scratch, Instant::now());
        assert_eq!(client.bodies(&[stream]), ["hi"], "stream {stream}'s answer");
        // The client's window updates, read; nothing else to do.
        owner.ready(true, true);
        owner.drive(&mut scratch, Instant::now());
    };
    burst(&mut owner, &mut client, 1);
    let now = Instant::now();
    let held = owner.buffered();
    let due = owner.deadline().expect("a deadline");
    assert!(
        held > 0 && due <= now + Duration::from_secs(1),
        "right after a burst the idle connection holds {held} bytes, due at {:?} from now",
        due.saturating_duration_since(now)
    );
    // The next burst comes before the pause ends: the buffers are still there.
    burst(&mut owner, &mut client, 3);
    assert!(
        owner.buffered() >= held,
        "the second burst found {} bytes, the first left {held}",
        owner.buffered()
    );
    let later = owner.deadline().expect("a deadline") + Duration::from_millis(1);
    owner.on_deadline(later);
    owner.drive(&mut scratch, later);
    let left = owner.buffered();
    let next = owner.deadline().expect("the keep-alive deadline");
    assert!(
        left < held,
        "after the pause the idle connection still holds {left} bytes of {held}"
    );
    assert!(
        next >= later + Duration::from_secs(1),
        "once given back, the connection is due again {:?} later (keep-alive expected)",
        next.saturating_duration_since(later)
    );
}
