//! The sections of one host, prepared once ([`Walks`]): `<Directory>`
//! sections sorted as Apache's `core_reorder_directories` sorts them
//! (fewest path components first, file order among equals), the regex
//! ones, the `<Location>` ones, and a cache of merged results by the
//! sections (and `.htaccess` files) that matched, so a request whose
//! directory was seen before costs one lookup, not a merge.
//!
//! The directory walk that goes a directory at a time (for `.htaccess`
//! files) is kept too, per directory ([`DirWalk`]): its sections, its
//! `.htaccess` files and their merge, made under one version of the
//! `.htaccess` cache ([`HtaccessCache::version`]) and trusted while that
//! version holds and every file it read is within its once-a-second
//! look. An internal redirect to a file of the same directory shares its
//! request's walk, as Apache's `ap_internal_redirect` shares the
//! request's per-directory configuration.
//!
//! [`HtaccessCache::version`]: crate::pipeline::htaccess::HtaccessCache::version

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustc_hash::FxBuildHasher;

use crate::pipeline::dir_config::DirConfig;
use crate::pipeline::section::{Section, SectionKind};

/// One per-directory config laid on the request's, in merge order.
#[derive(Clone)]
pub enum Layer<'h> {
    /// A section's (lives as long as the host).
    Section(&'h DirConfig),
    /// A nested section's (`<Files>`, `<If>`), shared with the config
    /// that holds it.
    Nested(Arc<Section>),
    /// A `.htaccess` file's (kept alive by the cache entries that use it).
    Htaccess(Arc<DirConfig>),
}

impl Layer<'_> {
    /// The config laid on.
    pub fn config(&self) -> &DirConfig {
        match self {
            Layer::Section(config) => config,
            Layer::Nested(section) => &section.config,
            Layer::Htaccess(config) => config,
        }
    }

    /// What keeps this layer's config where it is while a cache entry
    /// names it by address.
    fn pin(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        match self {
            Layer::Section(_) => None,
            Layer::Nested(section) => Some(section.clone()),
            Layer::Htaccess(config) => Some(config.clone()),
        }
    }

    fn key(&self) -> usize {
        std::ptr::from_ref(self.config()) as usize
    }
}

/// One step of a directory walk that goes a directory at a time: a
/// `<Directory>` section (by its place in [`Walks`]) or a `.htaccess`
/// file's configuration.
#[derive(Clone)]
pub enum Walked {
    /// The host's `<Directory>` section with this index.
    Section(usize),
    /// A `.htaccess` file's configuration.
    Htaccess(Arc<DirConfig>),
}

/// A directory walk's result, kept per directory: the `<Directory>`
/// sections and `.htaccess` files of every level from `/` to the
/// directory, and the host's base with them merged.
pub struct DirWalk {
    /// The directory walked, its path's bytes.
    dir: Box<[u8]>,
    steps: Vec<Walked>,
    /// The base with `steps` merged: the request's configuration when no
    /// other section matched.
    merged: Arc<DirConfig>,
    /// The `.htaccess` cache's version the walk read its files under.
    version: u64,
    /// When the earliest of its `.htaccess` answers is to be looked at
    /// again (`None`: it read none, so it holds for good).
    fresh_until: Option<Instant>,
}

impl DirWalk {
    /// The directory walked (its path's bytes).
    pub fn dir(&self) -> &[u8] {
        &self.dir
    }

    /// Whether it is current: made under `version` of the `.htaccess`
    /// cache, and every file it read looked at less than a
    /// [`RECHECK`](crate::pipeline::htaccess::RECHECK) ago at `now`.
    pub fn is_current(&self, version: u64, now: Instant) -> bool {
        self.version == version && self.fresh_until.is_none_or(|until| now < until)
    }
}

/// The most directory walks a host keeps; past it the cache starts again.
const MAX_WALKS: usize = 4096;

/// A `<Directory>` section, prepared.
struct DirSection {
    /// Its path's components joined by `/`, for comparing bytes.
    plain: Vec<u8>,
    /// How many components its path has.
    depth: usize,
    config: DirConfig,
}

/// The most merged results a host keeps; past it the cache starts again.
const MAX_MERGED: usize = 4096;

/// A merged result and the `.htaccess` configs it was made from (held so
/// their addresses, part of the key, are not reused while it is cached).
struct Merged {
    config: Arc<DirConfig>,
    _pinned: Vec<Arc<dyn std::any::Any + Send + Sync>>,
}

/// One host's sections, prepared for the walks.
pub struct Walks {
    /// The host's directives outside any section (Apache's
    /// `lookup_defaults`), with its `<Files>` and `<If>` sections nested.
    pub base: Arc<DirConfig>,
    dirs: Vec<DirSection>,
    dir_regex: Vec<Section>,
    locations: Vec<Section>,
    /// Whether some section may turn `FollowSymLinks` off or let a
    /// `.htaccess` file be read: then the directory walk goes a directory
    /// at a time.
    per_level: bool,
    /// Whether some section lets a `.htaccess` file be read.
    htaccess: bool,
    merged: Mutex<HashMap<Vec<usize>, Merged, FxBuildHasher>>,
    /// Directory walks by directory ([`DirWalk`]).
    walked: Mutex<HashMap<Box<[u8]>, Arc<DirWalk>, FxBuildHasher>>,
}

impl Walks {
    /// Prepare `sections` (in configuration order: the main server's, then
    /// the host's own) over the host's `base` config. `<Files>` and `<If>`
    /// sections written at server level join `base`'s nested ones.
    pub fn new(base: &DirConfig, sections: &[Section]) -> Walks {
        let mut base = base.clone();
        let mut dirs = Vec::new();
        let mut dir_regex = Vec::new();
        let mut locations = Vec::new();
        for section in sections {
            match &section.kind {
                SectionKind::Directory(path) => {
                    let plain: PathBuf = path.components().collect();
                    dirs.push(DirSection {
                        depth: path.components().count(),
                        plain: plain.into_os_string().into_vec(),
                        config: section.config.clone(),
                    })
                }
                SectionKind::DirectoryMatch(_) => dir_regex.push(section.clone()),
                SectionKind::Location(_) | SectionKind::LocationMatch(_) => {
                    locations.push(section.clone())
                }
                _ => base.nested.push(Arc::new(section.clone())),
            }
        }
        // Stable: sections of one depth keep the configuration's order.
        dirs.sort_by_key(|d| d.depth);
        let every_dir_config = || {
            dirs.iter()
                .map(|d| &d.config)
                .chain(dir_regex.iter().map(|s| &s.config))
        };
        let htaccess = base.reads_htaccess() || every_dir_config().any(DirConfig::reads_htaccess);
        let may_refuse_symlinks = std::iter::once(&base)
            .chain(every_dir_config())
            .chain(locations.iter().map(|s| &s.config))
            .any(|c| c.options.is_some_and(|o| o.may_refuse_symlinks()));
        Walks {
            base: Arc::new(base),
            dirs,
            dir_regex,
            locations,
            per_level: htaccess || may_refuse_symlinks,
            htaccess,
            merged: Mutex::new(HashMap::default()),
            walked: Mutex::new(HashMap::default()),
        }
    }

    /// Whether the directory walk must go a directory at a time (for
    /// `.htaccess` files or symlink checks).
    pub fn per_level(&self) -> bool {
        self.per_level
    }

    /// Whether some `AllowOverride` lets a `.htaccess` file be read.
    pub fn reads_htaccess(&self) -> bool {
        self.htaccess
    }

    /// The `<Directory>` sections (not regex) holding `dir`, in merge
    /// order, onto `layers`.
    pub fn directory_sections<'h>(&'h self, dir: &Path, layers: &mut Vec<Layer<'h>>) {
        if self.dirs.is_empty() {
            return;
        }
        let bytes = dir.as_os_str().as_bytes();
        let plain = is_plain(bytes);
        for section in &self.dirs {
            let holds = if plain {
                within(bytes, &section.plain)
            } else {
                dir.starts_with(OsStr::from_bytes(&section.plain))
            };
            if holds {
                layers.push(Layer::Section(&section.config));
            }
        }
    }

    /// The `<Directory>` sections (not regex) whose path is `dir` itself
    /// (a plain path), onto `steps`: the sections of one level of a walk
    /// that goes a directory at a time.
    pub fn directory_sections_at(&self, dir: &[u8], steps: &mut Vec<Walked>) {
        for (i, section) in self.dirs.iter().enumerate() {
            let same = section.plain == dir || (section.plain.is_empty() && dir.is_empty());
            if same {
                steps.push(Walked::Section(i));
            }
        }
    }

    /// The configuration a walk's step lays on.
    pub fn step_config<'h>(&'h self, step: &'h Walked) -> &'h DirConfig {
        match step {
            Walked::Section(i) => &self.dirs[*i].config,
            Walked::Htaccess(config) => config,
        }
    }

    /// The layer a walk's step lays on.
    fn step_layer(&self, step: &Walked) -> Layer<'_> {
        match step {
            Walked::Section(i) => Layer::Section(&self.dirs[*i].config),
            Walked::Htaccess(config) => Layer::Htaccess(config.clone()),
        }
    }

    /// The steps of `walk` onto `layers`, in merge order.
    pub fn lay<'h>(&'h self, walk: &DirWalk, layers: &mut Vec<Layer<'h>>) {
        layers.extend(walk.steps.iter().map(|step| self.step_layer(step)));
    }

    /// Whether `layers` are `walk`'s steps and nothing more: then the
    /// merge is `walk`'s own.
    pub fn walk_merged(&self, walk: &DirWalk, layers: &[Layer<'_>]) -> Option<Arc<DirConfig>> {
        let same = layers.len() == walk.steps.len()
            && layers
                .iter()
                .zip(&walk.steps)
                .all(|(layer, step)| std::ptr::eq(layer.config(), self.step_config(step)));
        same.then(|| walk.merged.clone())
    }

    /// The walk of the directory `dir` kept from an earlier request, when
    /// it is current under the `.htaccess` cache's `version`.
    pub fn cached_walk(&self, dir: &[u8], version: u64) -> Option<Arc<DirWalk>> {
        let walks = self.walked.lock().unwrap_or_else(|e| e.into_inner());
        let walk = walks.get(dir)?;
        walk.is_current(version, Instant::now())
            .then(|| walk.clone())
    }

    /// The walk of `dir` made of `steps`, read under the `.htaccess`
    /// cache's `version` with answers fresh until `fresh_until`; kept for
    /// the next requests for the directory when `keep`.
    pub fn keep_walk(
        &self,
        dir: &[u8],
        steps: Vec<Walked>,
        version: u64,
        fresh_until: Option<Instant>,
        keep: bool,
    ) -> Arc<DirWalk> {
        let layers: Vec<Layer<'_>> = steps.iter().map(|step| self.step_layer(step)).collect();
        let walk = Arc::new(DirWalk {
            dir: dir.into(),
            merged: self.merged(&layers),
            steps,
            version,
            fresh_until,
        });
        if keep {
            let mut walks = self.walked.lock().unwrap_or_else(|e| e.into_inner());
            if walks.len() >= MAX_WALKS && !walks.contains_key(dir) {
                walks.clear();
            }
            walks.insert(dir.into(), walk.clone());
        }
        walk
    }

    /// The `<DirectoryMatch>` sections matching `dir`, onto `layers`.
    pub fn directory_match_sections<'h>(&'h self, dir: &Path, layers: &mut Vec<Layer<'h>>) {
        for section in &self.dir_regex {
            if section.kind.matches_directory(dir.as_os_str().as_bytes()) {
                layers.push(Layer::Section(&section.config));
            }
        }
    }

    /// The `<Files>` and `<FilesMatch>` sections nested in the base and in
    /// `layers` (in that order) that match the file named `name`, onto
    /// `layers`.
    pub fn file_sections<'h>(&'h self, name: &[u8], layers: &mut Vec<Layer<'h>>) {
        if !self.may_have_file_sections(layers) {
            return;
        }
        let mut found: Vec<Layer<'h>> = Vec::new();
        let visit = |config: &DirConfig, found: &mut Vec<Layer<'h>>| {
            for section in config.nested.iter().filter(|s| s.kind.is_files()) {
                if section.kind.matches_file(name) {
                    found.push(Layer::Nested(section.clone()));
                }
            }
        };
        visit(&self.base, &mut found);
        for layer in layers.iter() {
            visit(layer.config(), &mut found);
        }
        layers.extend(found);
    }

    /// Whether the base or `layers` nest any section (`<Files>`,
    /// `<FilesMatch>`, `<If>`): else [`Walks::file_sections`] has nothing
    /// to look at.
    pub fn may_have_file_sections(&self, layers: &[Layer<'_>]) -> bool {
        !self.base.nested.is_empty() || layers.iter().any(|l| !l.config().nested.is_empty())
    }

    /// Whether any `<Directory>` or `<DirectoryMatch>` section is
    /// configured (else the directory walk has nothing to match).
    pub fn has_directory_sections(&self) -> bool {
        !self.dirs.is_empty() || !self.dir_regex.is_empty()
    }

    /// Whether any `<DirectoryMatch>` section is configured.
    pub fn has_directory_match_sections(&self) -> bool {
        !self.dir_regex.is_empty()
    }

    /// The `<Location>` and `<LocationMatch>` sections matching the URL
    /// path `path`, in file order, onto `layers`.
    pub fn location_sections<'h>(&'h self, path: &[u8], layers: &mut Vec<Layer<'h>>) {
        for section in &self.locations {
            if section.kind.matches_location(path) {
                layers.push(Layer::Section(&section.config));
            }
        }
    }

    /// Whether a `<Location>` section may match a path at all.
    pub fn has_locations(&self) -> bool {
        !self.locations.is_empty()
    }

    /// The base with every layer laid on in turn: from the cache when these
    /// same layers were merged before.
    pub fn merged(&self, layers: &[Layer<'_>]) -> Arc<DirConfig> {
        if layers.is_empty() {
            return self.base.clone();
        }
        let key: Vec<usize> = layers.iter().map(Layer::key).collect();
        let mut cache = self.merged.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = cache.get(&key) {
            return hit.config.clone();
        }
        let mut config = (*self.base).clone();
        for layer in layers {
            config.merge(layer.config());
        }
        let config = Arc::new(config);
        if cache.len() >= MAX_MERGED {
            cache.clear();
        }
        let pinned = layers.iter().filter_map(Layer::pin).collect();
        cache.insert(
            key,
            Merged {
                config: config.clone(),
                _pinned: pinned,
            },
        );
        config
    }

    /// Every kept walk's `.htaccess` answers made `by` older, as time
    /// passing would (for tests of when a walk is made again).
    #[cfg(test)]
    pub(crate) fn age(&self, by: std::time::Duration) {
        for walk in self.walked.lock().unwrap().values_mut() {
            *walk = Arc::new(DirWalk {
                dir: walk.dir.clone(),
                steps: walk.steps.clone(),
                merged: walk.merged.clone(),
                version: walk.version,
                fresh_until: walk.fresh_until.map(|until| until - by),
            });
        }
    }

    /// Every section's config (the base's, the directories', the
    /// locations'), for questions about the whole host.
    pub fn configs(&self) -> impl Iterator<Item = &DirConfig> {
        std::iter::once(&*self.base)
            .chain(self.dirs.iter().map(|d| &d.config))
            .chain(self.dir_regex.iter().map(|s| &s.config))
            .chain(self.locations.iter().map(|s| &s.config))
    }
}

/// True when `path`'s bytes are its components joined by `/` (no empty
/// component, no `.` after the first, no trailing `/` but the root's): then
/// comparing bytes with [`within`] says what `Path::starts_with` says.
pub fn is_plain(path: &[u8]) -> bool {
    let body = path.strip_prefix(b"./").unwrap_or(path);
    // One look at each byte, with the two before it: no `//`, no `/./`.
    let (mut before, mut last) = (0u8, 0u8);
    for &b in body {
        if b == b'/' && (last == b'/' || last == b'.' && before == b'/') {
            return false;
        }
        (before, last) = (last, b);
    }
    // No trailing `/` but the root's, no trailing `/.`.
    !(body.len() > 1 && last == b'/' || last == b'.' && before == b'/')
}

/// Whether the plain path `dir` is `base` (a section's path in plain
/// form) or lies below it: `Path::starts_with`, on bytes.
pub fn within(dir: &[u8], base: &[u8]) -> bool {
    if base.is_empty() {
        return true;
    }
    match dir.strip_prefix(base) {
        Some(rest) => rest.is_empty() || base.ends_with(b"/") || rest.starts_with(b"/"),
        None => false,
    }
}
#[cfg(test)]
mod merge_order {
    use super::*;
    use crate::pipeline::section::Pattern;

    /// A section of `kind` whose mark is its `DirectoryIndex`.
    fn marked(kind: SectionKind, mark: &str) -> Section {
        Section::new(kind).with(DirConfig {
            directory_index: Some(vec![mark.to_string()]),
            ..DirConfig::default()
        })
    }

    fn dir(path: &str, mark: &str) -> Section {
        marked(SectionKind::Directory(path.into()), mark)
    }

    fn re(pattern: &str) -> Pattern {
        Pattern::new(pattern, false).unwrap()
    }

    /// The mark left in force for the file `file` requested as `uri`: the
    /// walks in the order the pipeline runs them.
    fn winner(sections: &[Section], file: &str, uri: &str) -> String {
        let walks = Walks::new(&DirConfig::default(), sections);
        let file = Path::new(file);
        let dir = file.parent().unwrap();
        let mut layers = Vec::new();
        walks.directory_sections(dir, &mut layers);
        walks.directory_match_sections(dir, &mut layers);
        walks.file_sections(file.file_name().unwrap().as_bytes(), &mut layers);
        walks.location_sections(uri.as_bytes(), &mut layers);
        walks.merged(&layers).directory_index()[0].clone()
    }

    /// Each case: the sections in file order, and the one whose setting
    /// Apache leaves in force for `/srv/www/sub/a.php` (URL `/sub/a.php`),
    /// per core's `ap_directory_walk`, `ap_file_walk` and
    /// `ap_location_walk` (server/request.c) and the section-merging
    /// rules in Apache's "Configuration Sections" documentation.
    #[test]
    fn each_kind_of_section_is_merged_where_apache_merges_it() {
        let files = |mark| marked(SectionKind::Files("*.php".into()), mark);
        let cases: Vec<(&str, Vec<Section>, &str)> = vec![
            (
                "a deeper <Directory> wins over a shallower one written after it",
                vec![dir("/srv/www/sub", "deep"), dir("/srv/www", "shallow")],
                "deep",
            ),
            (
                "of two <Directory> for one path, the later (a virtual host's) wins",
                vec![dir("/srv/www", "main"), dir("/srv/www", "vhost")],
                "vhost",
            ),
            (
                "<DirectoryMatch> comes after every <Directory>",
                vec![
                    marked(SectionKind::DirectoryMatch(re("^/srv/www")), "regex"),
                    dir("/srv/www/sub", "deep"),
                ],
                "regex",
            ),
            (
                "<Files> comes after <DirectoryMatch>",
                vec![
                    files("files"),
                    marked(SectionKind::DirectoryMatch(re("/sub$")), "regex"),
                ],
                "files",
            ),
            (
                "<FilesMatch> and <Files> in file order",
                vec![
                    marked(SectionKind::FilesMatch(re(r"\.php$")), "first"),
                    files("second"),
                ],
                "second",
            ),
            (
                "<Files> nested in a <Directory> come after the server's",
                vec![
                    dir("/srv/www", "dir").with(DirConfig {
                        nested: vec![Arc::new(files("nested"))],
                        ..DirConfig::default()
                    }),
                    files("server"),
                ],
                "nested",
            ),
            (
                "<Location> comes after <Files>",
                vec![
                    marked(SectionKind::Location("/sub".into()), "location"),
                    files("files"),
                ],
                "location",
            ),
            (
                "<Location> and <LocationMatch> in file order, whatever their lengths",
                vec![
                    marked(SectionKind::Location("/sub/a.php".into()), "long"),
                    marked(SectionKind::LocationMatch(re("^/")), "regex"),
                    marked(SectionKind::Location("/".into()), "short"),
                ],
                "short",
            ),
            (
                "a <Location> that does not hold the path is not merged",
                vec![
                    dir("/srv/www", "dir"),
                    marked(SectionKind::Location("/su".into()), "prefix-only"),
                ],
                "dir",
            ),
        ];
        for (why, sections, want) in cases {
            assert_eq!(
                winner(&sections, "/srv/www/sub/a.php", "/sub/a.php"),
                want,
                "{why}"
            );
        }
    }

    #[test]
    fn the_same_sections_merged_twice_come_from_the_cache() {
        let sections = [dir("/srv", "a"), dir("/srv/www", "b")];
        let walks = Walks::new(&DirConfig::default(), &sections);
        let mut layers = Vec::new();
        walks.directory_sections(Path::new("/srv/www/x"), &mut layers);
        let first = walks.merged(&layers);
        let again = walks.merged(&layers);
        assert!(Arc::ptr_eq(&first, &again));
        assert!(
            Arc::ptr_eq(&walks.merged(&[]), &walks.base),
            "nothing matched: the base"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    use super::{is_plain, within};

    /// The byte comparison answers as `Path::starts_with` for every pair of
    /// these paths that it is used for (a plain `dir`).
    #[test]
    fn comparing_plain_bytes_answers_as_path_starts_with() {
        let paths: [&[u8]; 26] = [
            b"",
            b"/",
            b"//",
            b"/srv",
            b"/srv/",
            b"/srv//",
            b"/srv/www",
            b"/srv/www/",
            b"/srv/ww",
            b"/srv/www2",
            b"/srv/www/a",
            b"/srv//www/a",
            b"/srv/./www",
            b"/srv/www/.",
            b"/srv/www/..",
            b"/srv/../srv/www",
            b"srv",
            b"srv/www",
            b"./srv",
            b"./srv/www",
            b".",
            b"..",
            b"../x",
            b"a/b/",
            b"/a b/c",
            b"/\xff/\xfe",
        ];
        let mut compared = 0;
        for dir in paths {
            let dir_path = Path::new(OsStr::from_bytes(dir));
            if !is_plain(dir) {
                continue;
            }
            for base in paths {
                let base_path = Path::new(OsStr::from_bytes(base));
                let plain: PathBuf = base_path.components().collect();
                assert_eq!(
                    within(dir, plain.as_os_str().as_bytes()),
                    dir_path.starts_with(base_path),
                    "{:?} under {:?}",
                    String::from_utf8_lossy(dir),
                    String::from_utf8_lossy(base)
                );
                compared += 1;
            }
        }
        assert!(compared > 300, "only {compared} pairs compared");
        assert!(is_plain(b"/srv/www") && is_plain(b"/") && is_plain(b"./a/b"));
        assert!(!is_plain(b"/srv//www") && !is_plain(b"/srv/") && !is_plain(b"/a/./b"));
    }
}
