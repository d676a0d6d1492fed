//! [`Error`]: what can fail when a [`Site`](crate::Site) is built. Serving
//! never fails with an error: a request that cannot be answered gets an
//! error page, and a log line that cannot be written is reported on the
//! error log.

use std::path::PathBuf;

/// Why a handler could not be built; each message names what failed and
/// on what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An access log file could not be opened (a missing directory, no
    /// permission).
    #[error("could not open log file {}: {reason}", path.display())]
    LogFile {
        /// The file.
        path: PathBuf,
        /// Why, as the system says it (`no such file or directory`).
        reason: String,
    },
    /// An `AddType` media type that cannot be a `Content-Type` value.
    #[error("AddType {media_type} {extension}: not a valid content type")]
    ContentType {
        /// The media type given.
        media_type: String,
        /// The extension it was given for.
        extension: String,
    },
    /// A balancer could not be made: a `ProxyPass` naming no balancer,
    /// one without members, or the members' shared memory.
    #[error("{message}")]
    Balancer {
        /// What failed, on what.
        message: String,
    },
}
