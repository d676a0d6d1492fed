//! mod_file_cache: `MMapFile` and `CacheFile`, main-server settings as in
//! Apache. A named file that is missing or not a regular file is a warning
//! and is left out, so the server starts without it.

use std::path::PathBuf;

use super::state::{Directive, State};
use crate::config::values::Res;
use mpm_site::config::{CachedFile, FileCacheKind, Origin};

/// `MMapFile file…`, `CacheFile file…`.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    let kind = match d.lower {
        "mmapfile" => FileCacheKind::Contents,
        "cachefile" => FileCacheKind::Descriptor,
        _ => return None,
    };
    Some(l.global(d).and_then(|()| {
        if d.args.is_empty() {
            return Err(format!(
                "{n} takes one or more file names: {n} /path/file [/path/file2 ...]",
                n = d.name
            ));
        }
        for arg in d.raw {
            let path = l.path(arg);
            cache_file(l, path, kind, d.origin);
        }
        Ok(())
    }))
}

/// Add `path` to the files mod_file_cache loads, or warn and skip it
/// (as Apache): missing, not a regular file, or named already.
fn cache_file(l: &mut State<'_>, path: PathBuf, kind: FileCacheKind, origin: &Origin) {
    let name = kind.directive();
    match std::fs::metadata(&path) {
        Err(e) => l.warn(
            origin,
            format_args!("{name}: unable to stat({}), skipping: {e}", path.display()),
        ),
        Ok(meta) if !meta.is_file() => l.warn(
            origin,
            format_args!("{name}: {} isn't a regular file, skipping", path.display()),
        ),
        Ok(_) => match l.cached_files.iter().find(|c| c.path == path) {
            Some(first) => {
                let message = format!(
                    "{name}: {} is already cached ({} at {}), skipping",
                    path.display(),
                    first.kind.directive(),
                    first.origin
                );
                l.warn(origin, message);
            }
            None => l.cached_files.push(CachedFile {
                path,
                kind,
                origin: origin.clone(),
            }),
        },
    }
}
