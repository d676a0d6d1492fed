//! Authentication, as mod_auth_basic and mod_authn_file do it: a client
//! names a user and a password in `Authorization: Basic …` ([`basic`]),
//! the password is checked against the hash an htpasswd file holds for
//! that user ([`password`], [`files`]), and a refused or missing login is
//! a 401 whose `WWW-Authenticate` names the realm (`AuthName`).
//!
//! Who may then see what is `Require`'s ([`crate::require`]): a user
//! rule (`valid-user`, `user`, `group`) wants a user, and only then is a
//! password asked for. [`check()`] runs a request through both, in
//! Apache's order.

pub mod basic;
pub mod check;
pub mod files;
pub mod password;

pub use basic::{challenge, parse_basic, BasicError, Credentials};
pub use check::{check, merge_require, AuthFiles, AuthMerging, AuthSettings, AuthType, Outcome};
pub use files::{GroupFile, UserFile, WatchedFile};
pub use password::{verify, Check};

/// The user a request authenticated as, noted in its response's
/// extensions for the access log's `%u` (Apache's `r->user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUser(pub String);
