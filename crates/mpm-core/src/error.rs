//! Errors of the core.

use std::io;

/// What went wrong in the core; each message names what failed and on what.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `Listen` address could not be bound.
    #[error("could not bind to {addr}: {reason}")]
    Bind {
        /// The address as configured.
        addr: String,
        /// The cause, in words (`address already in use`).
        reason: String,
    },
    /// A `Listen` address did not parse.
    #[error("invalid Listen address {addr:?}: {reason}")]
    ListenAddr {
        /// The text given.
        addr: String,
        /// Why it is not an address.
        reason: &'static str,
    },
    /// The handler factory failed in a process.
    #[error("the handler could not start: {0}")]
    Handler(String),
    /// The shared-memory scoreboard could not be made.
    #[error("could not create the scoreboard ({slots} slots): {source}")]
    Scoreboard {
        /// Slots asked for.
        slots: usize,
        /// The system's reason.
        source: io::Error,
    },
    /// Installing signal handling or the control channel failed.
    #[error("could not set up process control: {0}")]
    Control(io::Error),
    /// A forked child could not start (its handler factory failed, or it
    /// could not drop privileges); the reason is in the error log.
    #[error(
        "child pid {pid} could not start (its reason is in the error log); the server stopped"
    )]
    ChildStartup {
        /// The child's process id.
        pid: i32,
    },
    /// A TLS certificate, key or setting is unusable; the message names
    /// the file or directive.
    #[error("{0}")]
    Tls(String),
    /// The thread that accepts connections or runs the event loop of a
    /// server in this process ended by a panic (a bug, or a handler's hook
    /// that panicked on that thread): the server stopped rather than keep
    /// a listening socket whose connections nobody would answer.
    #[error("{what} stopped by a panic ({reason}); the server stopped rather than accept connections it would not answer: start it again, and see the error log for where it panicked")]
    Panicked {
        /// What ended (`the event loop`).
        what: &'static str,
        /// The panic's message.
        reason: String,
    },
    /// Any other system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The system's reason.
        source: io::Error,
    },
}

impl Error {
    /// An `Io` error with a description of what was being done.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// The message of a caught panic (its `&str` or `String` payload).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Describe an I/O error the way an operator reads it: `address already in
/// use`, not `Address already in use (os error 98)`.
pub fn describe_io(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = nix::errno::Errno::from_raw(code).desc().to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => e.to_string(),
            }
        }
        None => e.to_string(),
    }
}
