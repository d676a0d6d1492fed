//! One stream's channel between its owner and the thread running its
//! handler: the request body going to the handler, the response going
//! back, each bounded, and the stream's end (a reset, a GOAWAY, the
//! connection closing) reaching whichever side waits.

use std::collections::VecDeque;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use parking_lot::{Condvar, Mutex};

use crate::h2::ErrorCode;

/// How the owner of a connection is told that one of its streams has
/// news (a response part, a body read): the strategy's wake-up (an event
/// loop's `Waker` with the connection's key, a thread's eventfd). Called on
/// the stream's thread; it must not block.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// What every stream of one connection shares with the owner.
pub(super) struct ConnSignal {
    /// Some stream has news the owner has not looked at.
    news: AtomicBool,
    wake: Wake,
    /// Bytes read from the client since a stream was last logged (`%I`).
    pub(super) received: AtomicU64,
}

impl ConnSignal {
    pub(super) fn new(wake: Wake) -> ConnSignal {
        ConnSignal {
            news: AtomicBool::new(false),
            wake,
            received: AtomicU64::new(0),
        }
    }

    /// Tell the owner: one wake-up until it looks.
    pub(super) fn poke(&self) {
        if !self.news.swap(true, Ordering::AcqRel) {
            (self.wake)();
        }
    }

    /// The owner looks: whether anything was poked since it last did.
    pub(super) fn take_news(&self) -> bool {
        self.news.swap(false, Ordering::AcqRel)
    }
}

/// A response part on its way to the owner.
pub(super) enum Out {
    /// An interim head (`100 Continue`).
    Interim(StatusCode),
    /// The response head; `end`: no body follows.
    Head {
        status: StatusCode,
        headers: HeaderMap,
        end: bool,
    },
    /// Body bytes the handler's thread produced.
    Data(Bytes),
    /// The rest of the body, which needs no thread: the owner frames it
    /// as the windows open, after the handler's thread is free.
    Tail(Tail),
    /// The body is complete.
    End,
    /// The body failed mid-way: reset the stream (the client must not
    /// take a cut body for a whole one).
    Reset,
}

/// A body the owner sends by itself.
pub(super) enum Tail {
    Bytes(Bytes),
    File { file: File, offset: u64, len: u64 },
}

/// Why a stream's side of the channel cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gone {
    /// Reset by the client (or for breaking a rule), or the connection
    /// ended.
    Reset,
    /// The other side did not move within the bound.
    TimedOut,
}

/// The state both sides lock.
#[derive(Default)]
pub(super) struct Shared {
    /// Request body bytes received and not yet read by the handler.
    pub(super) body: VecDeque<Bytes>,
    /// The client ended the body.
    pub(super) body_ended: bool,
    /// Body bytes read since the owner last gave window back.
    pub(super) consumed: usize,
    /// Response parts not yet taken by the owner.
    pub(super) out: VecDeque<Out>,
    /// The bytes of `Data` parts in `out`.
    pub(super) out_bytes: usize,
    /// The stream is gone: every read and write fails.
    pub(super) gone: bool,
    /// The handler's thread is done with the stream.
    pub(super) done: bool,
    /// A thread waits on the condition (for body bytes or for room).
    waiting: bool,
    /// The stream is served on a thread that must never wait (the
    /// poller's own): response bytes never wait for room.
    pub(super) never_wait: bool,
}

/// One stream's channel (see the module docs).
pub(super) struct Link {
    pub(super) state: Mutex<Shared>,
    cond: Condvar,
    pub(super) conn: Arc<ConnSignal>,
    /// Most response bytes waiting in `out` before the handler's thread
    /// waits for the owner (`H2StreamMaxMemSize`).
    pub(super) room: usize,
}

impl Link {
    pub(super) fn new(conn: Arc<ConnSignal>, room: usize, body_ended: bool) -> Arc<Link> {
        Arc::new(Link {
            state: Mutex::new(Shared {
                body_ended,
                ..Shared::default()
            }),
            cond: Condvar::new(),
            conn,
            room: room.max(1),
        })
    }

    // The owner's side.

    /// Wake the handler's thread if it waits.
    pub(super) fn notify(&self, s: &mut Shared) {
        if std::mem::take(&mut s.waiting) {
            self.cond.notify_all();
        }
    }

    /// The stream is gone: the handler's reads and writes fail.
    pub(super) fn cut(&self) {
        let mut s = self.state.lock();
        s.gone = true;
        s.body.clear();
        self.notify(&mut s);
    }

    // The handler's side.

    /// Send a response part to the owner; `Data` waits while `room`
    /// bytes already wait, until `until`.
    pub(super) fn send(&self, part: Out, until: Instant) -> Result<(), Gone> {
        let mut s = self.state.lock();
        if let Out::Data(b) = &part {
            while !s.never_wait && s.out_bytes > 0 && s.out_bytes + b.len() > self.room && !s.gone {
                s.waiting = true;
                if self.cond.wait_until(&mut s, until).timed_out() {
                    s.waiting = false;
                    return Err(Gone::TimedOut);
                }
            }
            s.out_bytes += b.len();
        }
        if s.gone {
            return Err(Gone::Reset);
        }
        s.out.push_back(part);
        drop(s);
        self.conn.poke();
        Ok(())
    }

    /// The handler's thread is done; what it sent stays for the owner.
    pub(super) fn finish(&self) {
        self.state.lock().done = true;
        self.conn.poke();
    }

    /// Read request body bytes into `out`, waiting for them until
    /// `until`: `Ok(0)` at the body's end.
    pub(super) fn read(&self, out: &mut [u8], until: Instant) -> Result<usize, Gone> {
        let mut s = self.state.lock();
        loop {
            if s.gone {
                return Err(Gone::Reset);
            }
            if let Some(front) = s.body.front_mut() {
                let n = out.len().min(front.len());
                out[..n].copy_from_slice(&front[..n]);
                bytes::Buf::advance(front, n);
                if front.is_empty() {
                    s.body.pop_front();
                }
                s.consumed += n;
                drop(s);
                // The client may send more: the owner gives window back.
                self.conn.poke();
                return Ok(n);
            }
            if s.body_ended {
                return Ok(0);
            }
            s.waiting = true;
            if self.cond.wait_until(&mut s, until).timed_out() {
                s.waiting = false;
                if s.body.is_empty() && !s.body_ended && !s.gone {
                    return Err(Gone::TimedOut);
                }
            }
        }
    }
}

/// How the owner ends a stream whose handler failed mid-body.
pub(super) const RESET_CODE: ErrorCode = ErrorCode::InternalError;
