//! Reading Apache httpd's configuration syntax into a [`ServerConfig`].
//!
//! [`load`] is the entry point of `mpmd`: `-C` directives, then the file
//! (or the built-in `default.conf`), then `-c` directives. [`parse_bytes`]
//! reads a configuration held in memory, with `Include` allowed or
//! refused (for fuzzing, and for callers that must not touch other
//! files). The work is split by concern: `lexer` (lines, words, sections),
//! `include` (which files are read, and reading them safely),
//! `directives` (what each directive means, by family, includes, merging
//! of virtual hosts), `values` and `ssl_values` (the syntax of directives'
//! values), [`modules`] (the table of built-in modules behind
//! `<IfModule>`, `LoadModule`, `-l`, `-M`) and [`dump`] (what `-v`, `-V`,
//! `-l`, `-M` and `-S` print). What is read is a [`ServerConfig`]: the
//! site's handlers' configuration (`mpm_site::SiteConfig`) and the
//! server's own settings; [`ConfigError`] says what is wrong, and where.
//!
//! Bytes that are not UTF-8 are read as Apache reads them: comments may
//! hold any, and so may file paths (`DocumentRoot`, `Alias`'s directory,
//! `<Directory>`, log files, `Include` …), which name exactly those bytes
//! on disk; a value that must be text (a name, a number, a URL path) and
//! is not UTF-8 is an error that names its file and line.
//!
//! `<IfVersion>` is supported simply: `=`, `>`, `>=`, `<`, `<=` (optionally
//! negated with `!`) against Apache 2.4.62; regular expressions are errors.

mod directives;
pub mod dump;
pub mod error;
mod include;
pub mod lexer;
pub mod modules;
pub mod options;
pub mod server_config;
mod ssl_values;
mod values;

pub use directives::HtaccessContext;
pub use error::ConfigError;
pub use options::{IncludePolicy, LoadOptions};
pub use server_config::*;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

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
/// stops the reading. The file must be a regular file of at most 16 MiB.
pub fn load(path: Option<&Path>, opts: &LoadOptions) -> Result<ServerConfig, ConfigError> {
    let Some(path) = path else {
        let site = Path::new(SAMPLE_SITE);
        let site = site
            .canonicalize()
            .unwrap_or_else(|_| directives::normalize(site));
        let vars = [
            ("MPMD_SAMPLE_SITE", OsString::from(&site)),
            ("MPMD_TMP", OsString::from(std::env::temp_dir())),
        ];
        let source = Source {
            bytes: DEFAULT_CONF.as_bytes(),
            file: Path::new(DEFAULT_CONF_NAME),
            server_root: parent(&site),
            vars: &vars,
        };
        return read(source, opts, IncludePolicy::Follow);
    };
    let bytes = include::read_file(path).map_err(|e| ConfigError {
        origin: None,
        message: format!("configuration file: {e}"),
    })?;
    parse_bytes(&bytes, path, opts, IncludePolicy::Follow)
}

/// Read a configuration from `bytes`, named `origin` in messages (as if
/// it were that file: `ServerRoot` defaults to its directory), with the
/// `-C`/`-c` directives and defines of `opts`, and `Include` followed or
/// refused as `includes` says.
///
/// ```ignore
/// let cfg = config::parse_bytes(
///     b"Listen 8080\nDocumentRoot /srv/www\n",
///     Path::new("/etc/mpmd/fuzz.conf"),
///     &LoadOptions::default(),
///     IncludePolicy::Refuse,
/// )?;
/// ```
pub fn parse_bytes(
    bytes: &[u8],
    origin: &Path,
    opts: &LoadOptions,
    includes: IncludePolicy,
) -> Result<ServerConfig, ConfigError> {
    let absolute = std::env::current_dir()
        .map(|dir| directives::normalize(&dir.join(origin)))
        .unwrap_or_else(|_| origin.to_path_buf());
    let source = Source {
        bytes,
        file: origin,
        server_root: parent(&absolute),
        vars: &[],
    };
    read(source, opts, includes)
}

/// The main text of a configuration and what reading it needs.
struct Source<'a> {
    bytes: &'a [u8],
    /// Its name in messages.
    file: &'a Path,
    /// The default `ServerRoot`.
    server_root: PathBuf,
    /// Variables defined before reading (the built-in configuration's).
    vars: &'a [(&'a str, OsString)],
}

/// The directory holding `path` (`/` for a path without one).
fn parent(path: &Path) -> PathBuf {
    path.parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

fn read(
    source: Source<'_>,
    opts: &LoadOptions,
    includes: IncludePolicy,
) -> Result<ServerConfig, ConfigError> {
    let mut loader = directives::Loader::new(opts, source.server_root, source.file, includes);
    for (name, value) in source.vars {
        loader.define(name, value);
    }
    for (i, line) in opts.before.iter().enumerate() {
        loader.read_text(line.as_bytes(), Path::new("-C"), i + 1)?;
    }
    loader.read_main_file(source.bytes, source.file)?;
    for (i, line) in opts.after.iter().enumerate() {
        loader.read_text(line.as_bytes(), Path::new("-c"), i + 1)?;
    }
    loader.finish()
}

#[cfg(test)]
mod tests;
