//! `RewriteMap name type:source`: the lookups `${name:key|default}`
//! makes. `txt:` files (`key value` lines, `#` comments) and `rnd:`
//! files (`key a|b|c`, one chosen at random per lookup) are read once
//! and read again when their modification time changes (looked at at
//! most once a second, so a busy map costs no `stat` per request);
//! `int:` maps are `toupper`, `tolower`, `escape` and `unescape`.
//! `prg:`, `dbm:`, `dbd:` and `fastdbd:` maps are refused when the
//! configuration is read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::vars;

/// A map's definition and, for file maps, its cached contents.
#[derive(Debug)]
pub struct RewriteMap {
    kind: MapKind,
}

#[derive(Debug)]
enum MapKind {
    Txt(FileMap),
    Rnd(FileMap),
    Int(IntMap),
}

#[derive(Debug, Clone, Copy)]
enum IntMap {
    ToUpper,
    ToLower,
    Escape,
    Unescape,
}

#[derive(Debug)]
struct FileMap {
    path: PathBuf,
    cache: Mutex<FileCache>,
}

#[derive(Debug)]
struct FileCache {
    mtime: Option<SystemTime>,
    checked: Option<Instant>,
    entries: HashMap<String, String>,
}

/// How long a file map's modification time is trusted before it is
/// looked at again.
const RECHECK: Duration = Duration::from_secs(1);

impl RewriteMap {
    /// A map from `RewriteMap`'s second argument (`txt:/path`,
    /// `rnd:/path`, `int:tolower`); a file map's file must be readable
    /// now. Relative paths are taken below `server_root`.
    pub fn parse(source: &str, server_root: &Path) -> Result<RewriteMap, String> {
        let (kind, arg) = source.split_once(':').ok_or_else(|| {
            format!("RewriteMap '{source}': write type:source (txt:/path, rnd:/path, int:tolower)")
        })?;
        let file = |arg: &str| -> Result<FileMap, String> {
            let path = server_root.join(arg);
            let map = FileMap {
                path,
                cache: Mutex::new(FileCache {
                    mtime: None,
                    checked: None,
                    entries: HashMap::new(),
                }),
            };
            map.refresh(true).map_err(|e| {
                format!(
                    "RewriteMap {source}: cannot read {}: {e}",
                    map.path.display()
                )
            })?;
            Ok(map)
        };
        let kind = match kind.to_ascii_lowercase().as_str() {
            "txt" => MapKind::Txt(file(arg)?),
            "rnd" => MapKind::Rnd(file(arg)?),
            "int" => MapKind::Int(match arg.to_ascii_lowercase().as_str() {
                "toupper" => IntMap::ToUpper,
                "tolower" => IntMap::ToLower,
                "escape" => IntMap::Escape,
                "unescape" => IntMap::Unescape,
                _ => {
                    return Err(format!(
                        "RewriteMap int:{arg}: the internal maps are toupper, tolower, escape and unescape"
                    ))
                }
            }),
            "prg" | "dbm" | "dbd" | "fastdbd" => {
                return Err(format!(
                    "RewriteMap {kind}: maps are not supported by mpmd; use a txt: or rnd: file or an int: map"
                ))
            }
            _ => {
                return Err(format!(
                    "RewriteMap '{source}': unknown map type '{kind}' (txt, rnd, int)"
                ))
            }
        };
        Ok(RewriteMap { kind })
    }

    /// The value for `key`, or `None` when the map has none.
    pub fn lookup(&self, key: &str) -> Option<String> {
        match &self.kind {
            MapKind::Int(IntMap::ToUpper) => Some(key.to_uppercase()),
            MapKind::Int(IntMap::ToLower) => Some(key.to_lowercase()),
            MapKind::Int(IntMap::Escape) => Some(vars::escape_path(key)),
            MapKind::Int(IntMap::Unescape) => Some(vars::unescape(key)),
            MapKind::Txt(f) => f.get(key),
            MapKind::Rnd(f) => {
                let v = f.get(key)?;
                let choices: Vec<&str> = v.split('|').collect();
                Some(choices[random_below(choices.len())].to_string())
            }
        }
    }
}

impl FileMap {
    fn get(&self, key: &str) -> Option<String> {
        if let Err(e) = self.refresh(false) {
            log::warn!(
                "RewriteMap file {} could not be read again ({e}); its last contents stay in use",
                self.path.display()
            );
        }
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.entries.get(key).cloned()
    }

    /// Reads the file again when its modification time changed (looked
    /// at at most once per [`RECHECK`] unless `force`).
    fn refresh(&self, force: bool) -> std::io::Result<()> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if !force
            && cache
                .checked
                .is_some_and(|t| now.duration_since(t) < RECHECK)
        {
            return Ok(());
        }
        cache.checked = Some(now);
        let mtime = std::fs::metadata(&self.path)?.modified().ok();
        if !force && mtime == cache.mtime {
            return Ok(());
        }
        let text = std::fs::read(&self.path)?;
        let text = String::from_utf8_lossy(&text);
        let mut entries = HashMap::new();
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            if let (Some(k), Some(v)) = (words.next(), words.next()) {
                entries
                    .entry(k.to_string())
                    .or_insert_with(|| v.to_string());
            }
        }
        cache.entries = entries;
        cache.mtime = mtime;
        Ok(())
    }
}

/// A number below `n` (> 0), good enough to spread load over a `rnd:`
/// map's choices: a per-process xorshift seeded from the clock.
fn random_below(n: usize) -> usize {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
            | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    (x % n.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_maps_read_key_value_lines_and_reread_on_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("map.txt");
        std::fs::write(
            &path,
            "# comment\nalpha one\nbeta   two extra\n\nalpha shadowed\n",
        )
        .expect("write");
        let map = RewriteMap::parse("txt:map.txt", dir.path()).expect("parses");
        assert_eq!(map.lookup("alpha").as_deref(), Some("one"));
        assert_eq!(map.lookup("beta").as_deref(), Some("two"));
        assert_eq!(map.lookup("gamma"), None);
        std::fs::write(&path, "alpha changed\n").expect("write");
        let later = SystemTime::now() + Duration::from_secs(10);
        let f = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        f.set_modified(later).expect("mtime");
        if let MapKind::Txt(fm) = &map.kind {
            fm.cache.lock().expect("lock").checked = None;
        }
        assert_eq!(map.lookup("alpha").as_deref(), Some("changed"));
    }

    #[test]
    fn rnd_maps_choose_among_the_alternatives() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("r"), "servers a|b|c\n").expect("write");
        let map = RewriteMap::parse("rnd:r", dir.path()).expect("parses");
        for _ in 0..20 {
            let v = map.lookup("servers").expect("has");
            assert!(["a", "b", "c"].contains(&v.as_str()), "{v}");
        }
    }

    #[test]
    fn int_maps_and_refused_kinds() {
        let root = Path::new("/");
        assert_eq!(
            RewriteMap::parse("int:toupper", root)
                .expect("int")
                .lookup("aB")
                .as_deref(),
            Some("AB")
        );
        assert_eq!(
            RewriteMap::parse("int:tolower", root)
                .expect("int")
                .lookup("aB")
                .as_deref(),
            Some("ab")
        );
        assert_eq!(
            RewriteMap::parse("int:escape", root)
                .expect("int")
                .lookup("a b")
                .as_deref(),
            Some("a%20b")
        );
        assert_eq!(
            RewriteMap::parse("int:unescape", root)
                .expect("int")
                .lookup("a%20b")
                .as_deref(),
            Some("a b")
        );
        for (src, says) in [
            ("prg:/bin/cat", "not supported"),
            ("int:reverse", "toupper, tolower"),
            ("txt:/nonexistent/map", "cannot read /nonexistent/map"),
            ("foo", "type:source"),
            ("xml:/x", "unknown map type"),
        ] {
            let err = RewriteMap::parse(src, root).expect_err(src);
            assert!(err.contains(says), "{src}: {err}");
        }
    }
}
