//! `Include` and `IncludeOptional`: a file, a directory's files or a
//! wildcard's, read into the configuration where the directive stands
//! (the loader's side; [`crate::config::include`] lists and reads files).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::state::Scope;
use super::{Loader, MAX_INCLUDE_DEPTH};
use crate::config::error::ConfigError;
use crate::config::include;
use crate::config::lexer::{self, lossy};
use crate::config::options::IncludePolicy;
use mpm_site::config::Origin;

impl Loader<'_> {
    /// `Include` / `IncludeOptional` of `pattern` (a file, a directory, or
    /// a wildcard), read at `scope`; refused under [`IncludePolicy::Refuse`].
    pub(super) fn include(
        &mut self,
        name: &str,
        pattern: &OsStr,
        optional: bool,
        origin: &Origin,
        scope: Scope,
    ) -> Result<(), ConfigError> {
        let here = |message| ConfigError::at(origin, message);
        if self.state.htaccess.is_some() {
            return Err(here(format!("{name} not allowed here")));
        }
        if self.includes == IncludePolicy::Refuse {
            return Err(here(format!(
                "{name} is refused: this configuration is read from bytes alone, with includes turned off"
            )));
        }
        let target = self.state.path(pattern);
        let files = if pattern.as_bytes().iter().any(|b| b"*?[".contains(b)) {
            // The glob crate matches text: a wildcard needs UTF-8.
            let (Some(text), Some(root)) = (pattern.to_str(), self.state.server_root.to_str())
            else {
                return Err(here(format!(
                    "{name} {}: a wildcard path must be UTF-8 text (name the file or directory instead)",
                    lossy(pattern.as_bytes())
                )));
            };
            // The ServerRoot part is literal even if it holds `[` or `*`.
            let text = if Path::new(text).is_absolute() {
                text.to_string()
            } else {
                format!("{}/{text}", glob::Pattern::escape(root))
            };
            let entries =
                glob::glob(&text).map_err(|e| here(format!("{name} {text}: bad wildcard: {e}")))?;
            let mut files = Vec::new();
            for entry in entries {
                let path = entry.map_err(|e| here(format!("{name} {text}: {e}")))?;
                files.extend(include::files_in(&path).map_err(|e| here(format!("{name}: {e}")))?);
            }
            if files.is_empty() && !optional {
                return Err(here(format!(
                    "{name}: no file matches the wildcard '{}' (use IncludeOptional to allow none)",
                    target.display()
                )));
            }
            files
        } else if target.exists() {
            include::files_in(&target).map_err(|e| here(format!("{name}: {e}")))?
        } else if optional {
            Vec::new()
        } else {
            return Err(here(format!(
                "{name}: could not open '{}': No such file or directory",
                target.display()
            )));
        };
        for file in files {
            self.include_file(name, &file, origin, scope)?;
        }
        Ok(())
    }

    /// Read one included file at `scope`: refused when it is already being
    /// read (a cycle, by canonical path), when includes or sections nest
    /// too deeply, and when it is not a regular file or too large.
    fn include_file(
        &mut self,
        name: &str,
        file: &Path,
        origin: &Origin,
        scope: Scope,
    ) -> Result<(), ConfigError> {
        let here = |message| ConfigError::at(origin, message);
        let canonical = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
        if self.include_stack.contains(&canonical) {
            let chain: Vec<String> = self
                .include_stack
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            return Err(here(format!(
                "{name} recursion: '{}' includes itself (chain: {} -> {})",
                file.display(),
                chain.join(" -> "),
                canonical.display()
            )));
        }
        if self.include_stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(here(format!(
                "{name} nested more than {MAX_INCLUDE_DEPTH} levels deep"
            )));
        }
        if self.depth + 1 >= lexer::MAX_NESTING {
            return Err(here(lexer::too_deep(name)));
        }
        let text = include::read_file(file).map_err(|e| here(format!("{name}: {e}")))?;
        self.count_bytes(text.len(), file)
            .map_err(|e| here(format!("{name}: {e}")))?;
        self.depth += 1;
        let nodes = lexer::parse(&text, file, 1, self.depth);
        let result = nodes.and_then(|nodes| {
            self.include_stack.push(canonical);
            let walked = self.walk(&nodes, scope);
            self.include_stack.pop();
            walked
        });
        self.depth -= 1;
        result
    }
}
