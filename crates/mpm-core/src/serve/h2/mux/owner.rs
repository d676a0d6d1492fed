//! The owner of one HTTP/2 connection: its socket and session, driven
//! without blocking by whoever polls (see the [module docs](super)).

use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes};
use http::HeaderMap;

use super::job::{Asked, StreamJob};
use super::link::{ConnSignal, Link, Out, Tail, Wake, RESET_CODE};
use crate::config::ProtocolConfig;
use crate::h2::{ErrorCode, Event, Session, StreamMap};
use crate::handler::Handler;
use crate::net::connection::{ConnInfo, Connection};
use crate::serve::context::{ServeContext, LINGER};
use crate::serve::h2::{session_config, Upgrade};

mod streams;

use streams::owned;

/// Most reads one [`H2Owner::drive`] makes before it lets the poller
/// serve others ([`H2Owner::wants_drive`] then says to come back).
const READS_PER_TURN: usize = 16;

/// Most rounds of taking the streams' news and writing one
/// [`H2Owner::drive`] makes (each writes up to a batch of the session's
/// output) before it lets the poller serve others.
const ROUNDS_PER_TURN: usize = 8;

/// Most rounds of [`H2Owner::drive_answering`]: a drive, then the
/// streams it answers here; their answers are written by the next round's
/// drive (past the last, [`H2Owner::wants_drive`] says to come back).
const ANSWER_ROUNDS: usize = 4;

/// What [`H2Owner::drive_answering`] gives its poller to run with the
/// poller's context.
type RunHere<'r> = dyn FnMut(&ServeContext<'_>) + 'r;

/// How long a connection stays idle (no stream open, nothing to write)
/// before its buffers are given back ([`Session::release_buffers`]): a
/// client between two bursts of requests (`h2load -m 10`, a page's next
/// assets) finds them still there instead of growing them again, and an
/// idle connection soon holds its HPACK tables and little else.
const RELEASE_AFTER: Duration = Duration::from_millis(500);

/// How long a request whose body is incomplete waits for more of it
/// before its handler starts anyway (as the one-at-a-time driver): a
/// stream the client ends at once, or resets, is never answered before
/// it does.
const BODY_GRACE: Duration = Duration::from_millis(100);

/// The body the owner sends itself, as far as it got.
enum Sending {
    Bytes(Bytes),
    File {
        file: std::fs::File,
        offset: u64,
        left: u64,
    },
}

/// What the owner keeps of a stream it received.
struct Owned {
    link: Arc<Link>,
    /// Not yet handed out: its body is incomplete (see [`BODY_GRACE`]).
    held: Option<StreamJob>,
    /// Body bytes taken from the handler that the session did not take
    /// yet.
    partial: Option<Bytes>,
    /// The body's end follows `partial`.
    end_after: bool,
    tail: Option<Sending>,
    /// Everything of the response is with the session.
    complete: bool,
    /// Parts were left in the link when the owner last looked.
    backlog: bool,
}

/// The streams, cut when they are dropped: a handler still running on a
/// stream of a connection that is gone sees its reads and writes fail.
#[derive(Default)]
struct Streams(StreamMap<Owned>);

impl Drop for Streams {
    fn drop(&mut self) {
        for st in self.0.values() {
            st.link.cut();
        }
    }
}

/// The bounds an owner waits under (see [`H2Owner::deadline`]).
#[derive(Default)]
struct Deadlines {
    /// The graceful stop's wait for the client's answer.
    stop: Option<Instant>,
    /// An incomplete request body's wait before its handler starts.
    grace: Option<Instant>,
    /// `KeepAliveTimeout` of a connection with no stream.
    keep_alive: Option<Instant>,
    /// `Timeout` for bytes that wait for the socket or a window.
    send: Option<Instant>,
    /// `Timeout` for a client that holds streams open and sends nothing.
    quiet: Option<Instant>,
    /// [`RELEASE_AFTER`] for an idle connection that holds its buffers.
    release: Option<Instant>,
}

/// The owner of one HTTP/2 connection (see the [module docs](super)).
pub struct H2Owner {
    io: Connection,
    session: Session,
    /// What the streams share with the owner, and the connection's facts
    /// their handlers see: made for the first stream, let go when the
    /// connection is idle again (the streams' threads keep their own), so
    /// an idle connection holds neither.
    signal: Option<Arc<ConnSignal>>,
    info: Option<Arc<ConnInfo>>,
    wake: Wake,
    streams: Streams,
    jobs: Vec<StreamJob>,
    /// Bytes to write before the session's (the `101` of an upgrade).
    prefix: Vec<u8>,
    /// The socket may have bytes to read / room to write (the last try
    /// did not end in `WouldBlock`, or the poller said so since).
    can_read: bool,
    can_write: bool,
    /// Reads were cut short by [`READS_PER_TURN`].
    more: bool,
    /// The client closed, or the socket failed.
    closed: bool,
    /// The socket took nothing within `Timeout`: closed without more.
    given_up: bool,
    /// The last time the client sent, and the last time bytes left.
    last_read: Instant,
    last_write: Instant,
    /// A graceful stop began (GOAWAY in two steps) at this time.
    stopping_since: Option<Instant>,
    /// Idle since then, with buffers not yet given back.
    idle_since: Option<Instant>,
    /// Given back, and idle since.
    released: bool,
    keep_alive: Duration,
    timeout: Duration,
    window: usize,
    stream_mem: usize,
}

impl H2Owner {
    /// Own `conn`, which speaks HTTP/2 from now on: `early` holds bytes
    /// already read from it (the preface sniffed by prior knowledge, what
    /// followed an `Upgrade: h2c` request); `upgraded` the request a
    /// `101` switched (it is written first, and the request is stream
    /// 1). `wake` is called, on a stream's thread, when a stream has news
    /// for the owner: the poller then calls [`H2Owner::drive`]. The
    /// socket is made non-blocking. `None` (with the connection, to
    /// close) when the upgrade's `HTTP2-Settings` are invalid or the
    /// socket cannot be made non-blocking.
    pub fn new(
        conn: Connection,
        protocol: &ProtocolConfig,
        early: &[u8],
        upgraded: Option<Upgrade>,
        wake: Wake,
    ) -> Result<H2Owner, Box<Connection>> {
        let mut conn = conn;
        if socket2::SockRef::from(conn.tcp())
            .set_nonblocking(true)
            .is_err()
        {
            return Err(Box::new(conn));
        }
        conn.set_nonblocking_mode(true);
        let cfg = session_config(protocol);
        let (session, first, prefix) = match upgraded {
            None => (Session::new(&cfg), None, Vec::new()),
            Some(up) => match Session::upgraded(&cfg, &up.settings) {
                Ok(s) => (s, Some(up), super::super::sniff::SWITCHING.to_vec()),
                Err(e) => {
                    log::debug!("HTTP/2 upgrade from {} refused: {e}", conn.info().peer);
                    return Err(Box::new(conn));
                }
            },
        };
        let now = Instant::now();
        let mut owner = H2Owner {
            io: conn,
            session,
            signal: None,
            info: None,
            wake,
            streams: Streams::default(),
            jobs: Vec::new(),
            prefix,
            can_read: true,
            can_write: true,
            more: false,
            closed: false,
            given_up: false,
            last_read: now,
            last_write: now,
            stopping_since: None,
            idle_since: None,
            released: false,
            keep_alive: protocol.timeouts.keep_alive_timeout,
            timeout: protocol.timeouts.timeout,
            window: protocol.http2.window_size as usize,
            stream_mem: cfg.stream_max_mem,
        };
        if let Some(up) = first {
            let (signal, info) = owner.shared();
            let link = Link::new(signal, owner.stream_mem, true);
            owner.jobs.push(StreamJob {
                stream: 1,
                asked: Asked::Request(up.head),
                link: link.clone(),
                info,
                started: up.started,
                clock: up.clock,
            });
            owner.streams.0.insert(1, owned(link, None));
        }
        if !early.is_empty() {
            owner.add_received(early.len());
            owner.session.receive(early, now);
            owner.on_events();
        }
        Ok(owner)
    }

    /// The socket's readiness, as the poller learnt it (an edge-triggered
    /// poller says each edge once; a level-triggered one may say it
    /// every time): call [`H2Owner::drive`] after.
    pub fn ready(&mut self, readable: bool, writable: bool) {
        self.can_read |= readable;
        self.can_write |= writable;
    }

    /// Do everything that can be done now without waiting: read what the
    /// client sent (into `buf`, a scratch buffer the poller may share
    /// between connections), take the streams' news (response parts,
    /// bodies read), frame responses into the windows, write what the
    /// socket takes. Then hand out [`H2Owner::take_jobs`], and wait as
    /// [`H2Owner::wants_write`], [`H2Owner::wants_drive`] and
    /// [`H2Owner::deadline`] say, or close when [`H2Owner::is_done`].
    pub fn drive(&mut self, buf: &mut [u8], now: Instant) {
        self.more = false;
        if self.can_read && !self.closed {
            self.read(buf, now);
        }
        // Writing can open windows (events), taking news can fill them:
        // around until nothing moves, or the turn's budget is spent (then
        // the poller comes back: `wants_drive`).
        let mut rounds = 0;
        loop {
            let news = self.signal.as_ref().is_some_and(|s| s.take_news());
            let moved = self.collect(news, buf);
            let wrote = self.write(now);
            self.on_events();
            if !moved && !wrote {
                break;
            }
            rounds += 1;
            if rounds == ROUNDS_PER_TURN {
                self.more = true;
                break;
            }
        }
        self.release_ready(now);
        if !self.is_idle() {
            self.idle_since = None;
            self.released = false;
        } else if !self.released {
            self.idle_since.get_or_insert(now);
        }
    }

    /// No stream open or waiting, nothing to write.
    fn is_idle(&self) -> bool {
        self.session.is_idle()
            && self.streams.0.is_empty()
            && self.jobs.is_empty()
            && !self.wants_write()
    }

    /// Give back the buffers of a connection idle for [`RELEASE_AFTER`]:
    /// the session's, and what the streams shared.
    fn release_idle(&mut self) {
        if self.is_idle() {
            self.session.release_buffers();
            self.signal = None;
            self.info = None;
            self.released = true;
        }
        self.idle_since = None;
    }

    /// [`H2Owner::drive`] for a poller that answers a stream itself when
    /// its answer never blocks ([`StreamJob::answers_at_once`] with
    /// `handler`: a static file, a status page), as nginx serves static
    /// files from its event loop: event's loop and worker's connection
    /// thread. `on_poller` is called with a function to run on the
    /// poller's own thread with its [`ServeContext`] (its scoreboard
    /// slot shows the stream meanwhile); every other stream goes to
    /// `hand_out`, in arrival order, for a pool thread
    /// ([`StreamJob::run`]). Drives again to write what was answered, a
    /// few rounds at most ([`H2Owner::wants_drive`] then says to come
    /// back). A panic in the serving code ends that stream (reset), not
    /// the poller. The streams answered here.
    pub fn drive_answering(
        &mut self,
        buf: &mut [u8],
        handler: &dyn Handler,
        on_poller: &mut dyn FnMut(&mut RunHere<'_>),
        hand_out: &mut dyn FnMut(StreamJob),
    ) -> usize {
        let mut here = Vec::new();
        let mut answered = 0;
        for _ in 0..ANSWER_ROUNDS {
            self.drive(buf, Instant::now());
            for job in self.jobs.drain(..) {
                if job.answers_at_once(handler) {
                    here.push(job);
                } else {
                    hand_out(job);
                }
            }
            if here.is_empty() {
                return answered;
            }
            on_poller(&mut |ctx| {
                for job in here.drain(..) {
                    answered += 1;
                    if catch_unwind(AssertUnwindSafe(|| job.run_at_once(ctx))).is_err() {
                        log::error!(
                            "an HTTP/2 stream ended with a panic in the serving code; \
                             its connection goes on"
                        );
                    }
                }
            });
            // (A poller that did not call it: its pool serves them.)
            here.drain(..).for_each(&mut *hand_out);
        }
        // Answers of the last round wait for the next drive.
        self.more = true;
        answered
    }

    /// Requests ready for a thread: run each with [`StreamJob::run`] on a
    /// pool thread (in this order, which is the order they came).
    pub fn take_jobs(&mut self) -> std::vec::Drain<'_, StreamJob> {
        self.jobs.drain(..)
    }

    /// Whether jobs wait to be taken.
    pub fn has_jobs(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// Bytes wait for room in the socket: poll for writability (an
    /// edge-triggered poller registered for both gets it anyway).
    pub fn wants_write(&self) -> bool {
        !self.given_up
            && !self.closed
            && (self.prefix_left() || self.session.wants_write() || self.io.wants_write())
    }

    /// [`H2Owner::drive`] stopped with work left (bytes left in the
    /// socket, or output that could still be written), to be fair to the
    /// poller's other connections: drive again soon, without waiting for
    /// an event (an edge-triggered poller gets none for it).
    pub fn wants_drive(&self) -> bool {
        self.more
    }

    /// When [`H2Owner::on_deadline`] is due, if ever: the end of
    /// `KeepAliveTimeout` when no stream is open, of `Timeout` when the
    /// client neither reads nor sends while it should, of the graceful
    /// stop's wait for the client's answer, of the wait for an
    /// incomplete request body before its handler starts, and of an idle
    /// connection's wait before its buffers are given back.
    pub fn deadline(&self) -> Option<Instant> {
        let d = self.deadlines();
        [d.stop, d.grace, d.keep_alive, d.send, d.quiet, d.release]
            .into_iter()
            .flatten()
            .min()
    }

    /// Each bound that applies now (see [`H2Owner::deadline`]).
    fn deadlines(&self) -> Deadlines {
        let mut d = Deadlines::default();
        if self.is_done() {
            return d;
        }
        let active = self.last_write.max(self.last_read);
        d.stop = self.stopping_since.map(|since| since + LINGER);
        if self.wants_write() || self.session.is_stalled() {
            d.send = Some(active + self.timeout);
        }
        if self.streams.0.values().any(|s| s.held.is_some()) {
            d.grace = Some(self.last_read + BODY_GRACE);
        }
        d.release = self.idle_since.map(|since| since + RELEASE_AFTER);
        if self.session.is_idle() && self.streams.0.is_empty() {
            d.keep_alive = Some(active + self.keep_alive);
        } else if self.streams.0.values().all(|s| s.complete) {
            // Streams the client holds open with no handler left on them
            // (a body it never ends, a header block it never finishes):
            // Timeout from its last bytes.
            d.quiet = Some(active + self.timeout);
        }
        d
    }

    /// Act on the bounds that passed by `now` (none passed: nothing
    /// happens). Drive after, to write what this queued.
    pub fn on_deadline(&mut self, now: Instant) {
        let d = self.deadlines();
        let passed = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if passed(d.stop) {
            self.session.finish_shutdown();
            // Streams in flight still finish, with the plain bounds.
            self.stopping_since = None;
        }
        if passed(d.grace) {
            self.release_ready(now);
        }
        if passed(d.release) {
            self.release_idle();
        }
        if passed(d.keep_alive) {
            // KeepAliveTimeout: a clean GOAWAY, as an idle HTTP/1.1
            // connection is closed.
            self.session.shutdown();
            self.session.finish_shutdown();
        } else if passed(d.send) {
            if self.session.is_stalled() {
                self.session.abort(
                    ErrorCode::FlowControlError,
                    "the client opened no window within Timeout",
                );
            } else {
                // The socket took nothing within Timeout.
                self.given_up = true;
            }
        } else if passed(d.quiet) {
            self.session
                .abort(ErrorCode::NoError, "the client sent nothing within Timeout");
        }
        self.on_events();
    }

    /// A graceful stop or restart: GOAWAY in two steps; the streams the
    /// client sent before the final one are all served, then the
    /// connection is done.
    pub fn begin_stop(&mut self, now: Instant) {
        if self.stopping_since.is_none() && !self.session.is_finished() {
            self.stopping_since = Some(now);
            // The client has LINGER to answer the PING (then the final
            // GOAWAY goes at once) and send what it had in flight.
            self.session.shutdown();
        }
    }

    /// The connection is over: close it (with a lingering close: see
    /// [`H2Owner::into_connection`]). Every stream's handler has been
    /// told.
    pub fn is_done(&self) -> bool {
        self.closed || self.given_up || self.session.is_finished()
    }

    /// The connection's streams now open (on the session) and served by
    /// a thread now.
    pub fn open_streams(&self) -> usize {
        self.session.open_streams()
    }

    /// The connection back, for its lingering close; any stream still
    /// running on a thread is cut (its reads and writes fail).
    pub fn into_connection(self) -> Connection {
        drop(self.streams);
        self.io
    }

    /// The `101` of an upgrade was written already (by the HTTP/1.1
    /// driver that read the request, on a thread that owns its
    /// connection): it is not written again.
    pub(in crate::serve) fn switched_already(&mut self) {
        self.prefix = Vec::new();
    }

    /// The connection, to register it with a poller.
    pub fn connection(&self) -> &Connection {
        &self.io
    }

    /// The memory this connection's owner holds in buffers besides its
    /// fixed size (an idle one holds its HPACK tables and little else).
    pub fn buffered(&self) -> usize {
        self.session.buffered() + self.prefix.capacity()
    }

    fn prefix_left(&self) -> bool {
        !self.prefix.is_empty()
    }

    /// The streams' shared state and the connection's facts, made if
    /// the connection had none (it was idle).
    fn shared(&mut self) -> (Arc<ConnSignal>, Arc<ConnInfo>) {
        let wake = &self.wake;
        let signal = self
            .signal
            .get_or_insert_with(|| Arc::new(ConnSignal::new(wake.clone())));
        let io = &self.io;
        let info = self.info.get_or_insert_with(|| Arc::new(io.info().clone()));
        (signal.clone(), info.clone())
    }

    fn add_received(&mut self, n: usize) {
        self.shared()
            .0
            .received
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    fn read(&mut self, buf: &mut [u8], now: Instant) {
        for _ in 0..READS_PER_TURN {
            match self.io.read_nonblocking(buf) {
                Ok(0) => {
                    self.closed = true;
                    break;
                }
                Ok(n) => {
                    self.add_received(n);
                    self.last_read = now;
                    self.session.receive(&buf[..n], now);
                    self.on_events();
                    if self.session.is_finished() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.can_read = false;
                    return;
                }
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
        }
        if self.closed {
            self.can_read = false;
            // Every stream's handler is told.
            for st in self.streams.0.values() {
                st.link.cut();
            }
        } else {
            self.more = true;
        }
    }

    /// Write what the socket takes; whether any byte left.
    fn write(&mut self, now: Instant) -> bool {
        if !self.can_write || self.closed || self.given_up {
            return false;
        }
        let mut wrote = false;
        loop {
            let out: &[u8] = if !self.prefix.is_empty() {
                &self.prefix
            } else if self.session.wants_write() {
                self.session.output()
            } else {
                &[]
            };
            if out.is_empty() {
                break;
            }
            match self.io.write(out) {
                Ok(0) => {
                    self.closed = true;
                    return wrote;
                }
                Ok(n) => {
                    wrote = true;
                    self.last_write = now;
                    if self.prefix.is_empty() {
                        self.session.written(n);
                    } else {
                        self.prefix.drain(..n);
                        if self.prefix.is_empty() {
                            self.prefix = Vec::new();
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.can_write = false;
                    return wrote;
                }
                Err(_) => {
                    self.closed = true;
                    return wrote;
                }
            }
        }
        match self.io.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.can_write = false,
            Err(_) => self.closed = true,
        }
        wrote
    }
}
