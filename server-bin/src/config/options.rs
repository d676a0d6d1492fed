//! What the loader is told besides the configuration's text: the command
//! line's additions ([`LoadOptions`]) and whether `Include` may read other
//! files ([`IncludePolicy`]).

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

/// What `Include` and `IncludeOptional` do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludePolicy {
    /// Read the files they name (a configuration file on disk).
    Follow,
    /// Refuse them with an error at their line: the configuration is only
    /// the bytes given (fuzzing, or text from a source that must not make
    /// the server read other files).
    Refuse,
}
