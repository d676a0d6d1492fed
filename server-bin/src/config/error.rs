//! [`ConfigError`]: what the loader reports, at the file and line it is
//! about.

use mpm_site::config::Origin;

/// A configuration error: `file:line: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", match origin { Some(o) => format!("{o}: "), None => String::new() })]
pub struct ConfigError {
    /// Where: the directive's file and line, if the error is about one.
    pub origin: Option<Origin>,
    /// What is wrong, and what to write instead.
    pub message: String,
}

impl ConfigError {
    /// `message` about the directive at `origin`.
    pub fn at(origin: &Origin, message: String) -> ConfigError {
        ConfigError {
            origin: Some(origin.clone()),
            message,
        }
    }
}
