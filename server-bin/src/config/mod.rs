//! Reading Apache httpd's configuration syntax. (API fixed; being written.)

pub mod types;
pub use types::*;

use std::path::Path;

/// A configuration error: `file:line: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", match origin { Some(o) => format!("{o}: "), None => String::new() })]
pub struct ConfigError {
    pub origin: Option<Origin>,
    pub message: String,
}

/// What the command line adds to the file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-D NAME` (for `<IfDefine>`).
    pub defines: Vec<String>,
    /// Strategies compiled in (`mpm::compiled()`), for `LoadModule
    /// mpm_*_module` and `<IfModule>`.
    pub compiled_mpms: Vec<&'static str>,
    /// `-C directive`: processed before the file.
    pub before: Vec<String>,
    /// `-c directive`: processed after the file.
    pub after: Vec<String>,
}

/// Read the configuration at `path`, or the built-in default when `None`.
pub fn load(_path: Option<&Path>, _opts: &LoadOptions) -> Result<ServerConfig, ConfigError> {
    unimplemented!("being written")
}
