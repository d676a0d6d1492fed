//! The worker pool: dispatched requests and HTTP/2 streams wait in a
//! queue, idle workers park (the most recent first), connections come
//! back to the loop, and an HTTP/2 stream's news wakes it.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use mio::Waker;
use mpm_core::process::scoreboard::WorkerSlot;
use mpm_core::serve::h2::StreamJob;
use mpm_core::serve::{self, Dispatch, Handback, ServeBuffers, ServeContext};
use mpm_core::WorkerState;
use parking_lot::Mutex;

/// What a worker is given. (An HTTP/1.1 request, the common case, stays
/// inline in the queue as before: boxing it would cost an allocation per
/// request to save the queue's slots some bytes.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Job {
    /// A connection lent with a request (its key, the request).
    Conn(usize, Dispatch),
    /// One stream of an HTTP/2 connection the loop owns.
    Stream(StreamJob),
}

/// Work waiting for a worker.
#[derive(Default)]
pub(super) struct Queue {
    pub(super) jobs: VecDeque<Job>,
    /// Workers waiting, the most recent last: the next job goes to the
    /// worker that waited least, whose stack and caches are still warm.
    pub(super) idle: Vec<usize>,
    pub(super) done: bool,
}

/// How a waiting worker is woken.
pub(super) struct Parking {
    pub(super) thread: std::sync::OnceLock<std::thread::Thread>,
    pub(super) woken: AtomicBool,
}

/// What the loop and the workers share.
pub(super) struct Shared {
    pub(super) queue: Mutex<Queue>,
    pub(super) parking: Vec<Parking>,
    /// `queue.jobs.len()`, readable without the lock.
    pub(super) queued: AtomicUsize,
    /// Connections given back by workers (`None`: lost to a panic).
    pub(super) back: Mutex<Vec<(usize, Option<Handback>)>>,
    /// How workers wake the loop.
    pub(super) wakeup: Arc<Wakeup>,
}

/// How a worker wakes the loop: for a connection given back, and for an
/// HTTP/2 stream with news for its connection's owner.
pub(super) struct Wakeup {
    /// The loop is (about to be) waiting in `poll`: whoever has news for
    /// it must wake it.
    pub(super) sleeping: AtomicBool,
    waker: Waker,
    /// HTTP/2 connections (their keys) whose streams have news.
    pub(super) due: Mutex<Vec<usize>>,
}

impl Wakeup {
    /// Wake the loop if it sleeps.
    pub(super) fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst) {
            if let Err(e) = self.waker.wake() {
                log::error!("could not wake the event loop: {e}");
            }
        }
    }

    /// The HTTP/2 connection `key` has news: the loop drives it.
    pub(super) fn due(&self, key: usize) {
        self.due.lock().push(key);
        self.wake();
    }
}

impl Shared {
    /// The pool of `threads` workers, waking the loop through `waker`.
    pub(super) fn new(threads: usize, waker: Waker) -> Shared {
        Shared {
            queue: Mutex::new(Queue::default()),
            parking: (0..threads)
                .map(|_| Parking {
                    thread: std::sync::OnceLock::new(),
                    woken: AtomicBool::new(false),
                })
                .collect(),
            queued: AtomicUsize::new(0),
            back: Mutex::new(Vec::new()),
            wakeup: Arc::new(Wakeup {
                sleeping: AtomicBool::new(false),
                waker,
                due: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The next job for worker `me`; `None` when the child leaves.
    fn take(&self, me: usize) -> Option<Job> {
        let parking = &self.parking[me];
        let _ = parking.thread.set(std::thread::current());
        loop {
            {
                let mut q = self.queue.lock();
                if let Some(job) = q.jobs.pop_front() {
                    self.queued.store(q.jobs.len(), Ordering::Relaxed);
                    return Some(job);
                }
                if q.done {
                    return None;
                }
                q.idle.push(me);
            }
            // Woken only by whoever takes `me` off the idle list.
            while !parking.woken.swap(false, Ordering::Acquire) {
                std::thread::park();
            }
        }
    }

    fn wake(&self, w: usize) {
        let p = &self.parking[w];
        p.woken.store(true, Ordering::Release);
        if let Some(t) = p.thread.get() {
            t.unpark();
        }
    }

    pub(super) fn push(&self, job: Job) {
        let mut q = self.queue.lock();
        q.jobs.push_back(job);
        self.queued.store(q.jobs.len(), Ordering::Relaxed);
        let idle = q.idle.pop();
        drop(q);
        if let Some(w) = idle {
            self.wake(w);
        }
    }

    /// Give a connection back. The loop is woken only when it must act
    /// soon: to finish a write, or when the child is leaving. A connection
    /// that goes back to keep-alive (or to be closed) waits for the loop's
    /// next turn: its next request wakes the loop anyway, and the loop
    /// looks at least every [`LAZY`] while connections are lent out. That
    /// saves a wake-up of the loop per request.
    fn give_back(&self, key: usize, hb: Option<Handback>, leaving: bool) {
        let urgent = leaving || !matches!(&hb, Some(h) if h.pending.is_none());
        self.back.lock().push((key, hb));
        if urgent {
            self.wakeup.wake();
        }
    }

    /// Send every worker home once the queue is empty.
    pub(super) fn finish(&self) {
        let idle = {
            let mut q = self.queue.lock();
            q.done = true;
            std::mem::take(&mut q.idle)
        };
        for w in idle {
            self.wake(w);
        }
    }
}

/// A worker thread: answer dispatched requests until the child leaves.
pub(super) fn work(
    shared: &Shared,
    me: usize,
    slot: &WorkerSlot,
    ctx: &ServeContext<'_>,
    leaving: &(dyn Fn() -> bool + Sync),
) {
    let mut bufs = ServeBuffers::default();
    slot.set_state(WorkerState::Ready);
    while let Some(job) = shared.take(me) {
        let (key, d) = match job {
            Job::Conn(key, d) => (key, d),
            Job::Stream(stream) => {
                // Its owner is woken through the stream's link; nothing
                // comes back.
                if catch_unwind(AssertUnwindSafe(|| stream.run(ctx))).is_err() {
                    log::error!(
                        "an HTTP/2 stream ended with a panic in the serving code; the worker goes on"
                    );
                }
                slot.set_state(WorkerState::Ready);
                continue;
            }
        };
        if d.served == 0 {
            slot.add_connection();
        }
        let back = match catch_unwind(AssertUnwindSafe(|| {
            serve::serve_dispatched(d, ctx, &mut bufs)
        })) {
            Ok(hb) => Some(hb),
            Err(_) => {
                log::error!(
                    "a connection ended with a panic in the serving code; the worker goes on"
                );
                bufs = ServeBuffers::default();
                None
            }
        };
        slot.set_state(WorkerState::Ready);
        shared.give_back(key, back, leaving());
    }
    slot.set_state(WorkerState::Graceful);
}
