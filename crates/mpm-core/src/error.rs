//! Errors of the core.

use std::fmt;
use std::io;

/// What went wrong in the core; each message names what failed and on what,
/// and says its cause in words.
///
/// The system's own error, where there is one, is also the error's
/// [`source`](std::error::Error::source), so code can look at it:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = format!("127.0.0.1:{}", taken.local_addr()?.port()).parse()?;
/// match mpm_core::Listeners::bind(&[addr], 16) {
///     Err(mpm_core::Error::Bind { source, .. })
///         if source.kind() == std::io::ErrorKind::AddrInUse => {} // try another port
///     other => panic!("expected the port to be in use: {other:?}"),
/// }
/// # Ok(()) }
/// ```
///
/// `Debug` prints the same message as `Display` (then any deeper causes,
/// one a line), so `fn main() -> Result<(), mpm::Error>` ends with a line
/// an operator reads: `Error: could not bind to 127.0.0.1:8080: address
/// already in use`.
#[derive(thiserror::Error)]
pub enum Error {
    /// A `Listen` address could not be bound.
    #[error("could not bind to {addr}: {}", describe_io(.source))]
    Bind {
        /// The address as configured.
        addr: String,
        /// The system's reason: match its [`kind`](io::Error::kind)
        /// (`AddrInUse`, `PermissionDenied`, `AddrNotAvailable`).
        source: io::Error,
    },
    /// A `Listen` address did not parse.
    #[error("invalid Listen address {addr:?}: {reason}")]
    ListenAddr {
        /// The text given.
        addr: String,
        /// Why it is not an address.
        reason: &'static str,
    },
    /// No strategy of that name is compiled into this build.
    #[error(
        "no strategy named {name:?}: this build has {}; a strategy is compiled in by its Cargo feature of the mpm crate (event, prefork, worker)",
        compiled.join(", ")
    )]
    UnknownStrategy {
        /// The name asked for.
        name: String,
        /// The strategies this build has, the default first.
        compiled: Vec<&'static str>,
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
    Control(#[source] io::Error),
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

/// The message, then the causes below the one it already names in words
/// (every variant's message says its immediate cause).
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut deeper = std::error::Error::source(self).and_then(|s| s.source());
        if deeper.is_some() {
            f.write_str("\n\nCaused by:")?;
        }
        while let Some(cause) = deeper {
            write!(f, "\n    {cause}")?;
            deeper = cause.source();
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a cause of its own, as a library under a handler
    /// factory might return inside an `io::Error`.
    #[derive(Debug)]
    struct Outer(io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the pool could not connect")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn debug_is_the_message_when_the_message_names_the_only_cause() {
        let e = Error::Bind {
            addr: "127.0.0.1:80".into(),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert_eq!(
            format!("{e:?}"),
            "could not bind to 127.0.0.1:80: permission denied"
        );
        assert_eq!(format!("{e:?}"), e.to_string());
    }

    #[test]
    fn debug_adds_the_causes_below_the_one_the_message_names() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let e = Error::io("starting the handler", io::Error::other(Outer(refused)));
        assert_eq!(
            format!("{e:?}"),
            "starting the handler: the pool could not connect\n\nCaused by:\n    connection refused"
        );
    }
}
