//! Reading Apache httpd's configuration syntax into a [`ServerConfig`].
//!
//! [`load`] is the one entry point: `-C` directives, then the file (or the
//! built-in `default.conf`), then `-c` directives. The work is split by
//! concern: `lexer` (lines, words, sections), `directives` (what each
//! directive means, includes, merging of virtual hosts) and `modules` (the
//! table of built-in modules behind `<IfModule>`, `LoadModule`, `-l`, `-M`).
//!
//! `<IfVersion>` is supported simply: `=`, `>`, `>=`, `<`, `<=` (optionally
//! negated with `!`) against Apache 2.4.62; regular expressions are errors.

mod directives;
mod lexer;
pub mod modules;
pub mod types;
pub use types::*;

use std::path::{Path, PathBuf};

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

/// The built-in configuration (`mpmd` without `-f`).
const DEFAULT_CONF: &str = include_str!("default.conf");
/// How the built-in configuration is named in messages.
const DEFAULT_CONF_NAME: &str = "(built-in default.conf)";
/// The repository's sample site, served by the built-in configuration.
const SAMPLE_SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../site");

/// Read the configuration at `path`, or the built-in default when `None`.
///
/// Relative paths in the file resolve against `ServerRoot`, which defaults
/// to the directory of `path` (the repository root for the built-in
/// configuration); the main server's `DocumentRoot` defaults to
/// `<ServerRoot>/htdocs`. Warnings (a missing `DocumentRoot`, directives
/// with no effect) come back in [`ServerConfig::warnings`]; the first error
/// stops the reading.
pub fn load(path: Option<&Path>, opts: &LoadOptions) -> Result<ServerConfig, ConfigError> {
    let (text, file, server_root) = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                origin: None,
                message: format!("could not open configuration file {}: {e}", path.display()),
            })?;
            let absolute = std::env::current_dir()
                .map(|dir| directives::normalize(&dir.join(path)))
                .unwrap_or_else(|_| path.to_path_buf());
            let root = absolute
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/"));
            (text, path.to_path_buf(), root)
        }
        None => {
            let site = Path::new(SAMPLE_SITE);
            let site = site
                .canonicalize()
                .unwrap_or_else(|_| directives::normalize(site));
            let root = site
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/"));
            (
                DEFAULT_CONF.to_string(),
                PathBuf::from(DEFAULT_CONF_NAME),
                root,
            )
        }
    };
    let mut loader = directives::Loader::new(opts, server_root, &file);
    if path.is_none() {
        let site = loader_site();
        loader.define("MPMD_SAMPLE_SITE", &site);
        loader.define("MPMD_TMP", &std::env::temp_dir().display().to_string());
    }
    for (i, line) in opts.before.iter().enumerate() {
        loader.read_text(line, Path::new("-C"), i + 1)?;
    }
    loader.read_main_file(&text, &file)?;
    for (i, line) in opts.after.iter().enumerate() {
        loader.read_text(line, Path::new("-c"), i + 1)?;
    }
    loader.finish()
}

/// The sample site's directory, canonical when it exists.
fn loader_site() -> String {
    let site = Path::new(SAMPLE_SITE);
    site.canonicalize()
        .unwrap_or_else(|_| directives::normalize(site))
        .display()
        .to_string()
}
