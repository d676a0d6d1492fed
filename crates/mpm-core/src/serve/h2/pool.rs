//! The threads that serve a connection's streams for the thread that
//! owns it: what a threaded strategy whose connection threads own their
//! HTTP/2 sessions (worker) lends the serving code
//! ([`ServeContext::streams`]).

use crate::serve::context::ServeContext;

/// One HTTP/2 stream's work for a pool thread: its handler called and
/// its response handed back to the connection's owner. It is run with
/// the context of the thread that takes it (its scoreboard slot shows
/// the stream's request), and it must end by itself: a stream whose
/// connection is gone fails its reads and writes at once.
pub type StreamJob = Box<dyn FnOnce(&ServeContext<'_>) + Send>;

/// Threads that serve the streams of the HTTP/2 connections the
/// strategy's threads own.
///
/// A thread whose connection speaks HTTP/2 asks to [`attach`] as its
/// owner, and is told its share: how many of its streams it may keep
/// with the pool at once (queued or running). It hands each stream to
/// [`submit`], at most its share at a time; its other streams wait with
/// it, in arrival order, until one of those ends. The share keeps one
/// connection from taking every thread of the process (what is left
/// serves other connections). A share of 0 means the pool cannot take
/// this connection's streams: the thread serves them itself, one at a
/// time. An owner that attached detaches when its connection ends
/// ([`Attached`] does it on drop).
///
/// [`attach`]: StreamPool::attach
/// [`submit`]: StreamPool::submit
pub trait StreamPool: Sync {
    /// Become an owner whose streams the pool serves: its share (see the
    /// trait docs), or 0 when it serves them itself.
    fn attach(&self) -> usize;

    /// An owner that attached is done: it hands over no more streams.
    fn detach(&self);

    /// Run `job` on a free thread, or queue it (in order) until one is.
    /// The pool runs every job it took, a leaving process included.
    fn submit(&self, job: StreamJob);
}

/// An owner attached to its pool, detached on drop (a panic included).
pub struct Attached<'a> {
    pool: &'a dyn StreamPool,
    /// The owner's share ([`StreamPool::attach`]), at least 1.
    pub share: usize,
}

impl<'a> Attached<'a> {
    /// Attach to `pool`: `None` when the owner serves its streams
    /// itself.
    pub fn to(pool: &'a dyn StreamPool) -> Option<Attached<'a>> {
        match pool.attach() {
            0 => None,
            share => Some(Attached { pool, share }),
        }
    }

    /// Hand `job` to the pool.
    pub fn submit(&self, job: StreamJob) {
        self.pool.submit(job);
    }
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        self.pool.detach();
    }
}
