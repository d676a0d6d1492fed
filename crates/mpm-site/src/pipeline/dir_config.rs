//! [`DirConfig`]: the per-directory configuration every section holds
//! (Apache's `core_dir_config` and the modules' per-dir configs in one
//! struct), and how two of them merge.
//!
//! Every field is "not set here" by default (`None`, or an empty list),
//! so a section, a `.htaccess` file or the server's own directives write
//! only what they set. [`DirConfig::merge`] lays a later section over an
//! earlier one, field by field, with each directive's own rule: most
//! replace (`Require`, `SetHandler`, `DirectoryIndex`), `Options` with
//! `+`/`-` changes what came before, lists made of edits (`AddType`,
//! `AddHandler`, `RemoveHandler`, nested sections) are concatenated and
//! read from the end.
//!
//! **Adding a module's settings** is one field and one merge line: add
//! the field (an `Option` for a replacing setting, a `Vec` for edits),
//! add one line to [`DirConfig::merge`] with [`replace`] or
//! [`append`] (or the module's own rule), and read it from the merged
//! config a phase hands you (`RequestState::dir`).

use std::sync::Arc;

use crate::auth::{merge_require, AuthSettings};
use crate::config::{Options, OptionsSetting, Require};
use crate::pipeline::handler::HandlerName;
use crate::pipeline::htaccess::Overrides;
use crate::pipeline::section::Section;

/// One per-directory configuration: what a `<Directory>`, `<Location>`,
/// `<Files>`, `<If>` section, a `.htaccess` file or the server's
/// directives outside any section set. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirConfig {
    /// `Options`: an absolute set or a `+`/`-` change of what the sections
    /// before left ([`OptionsSetting::then`]).
    pub options: Option<OptionsSetting>,
    /// `Require` (replaced by a later section's, as Apache 2.4's
    /// `AuthMerging Off`, or joined to it under `AuthMerging And|Or`).
    pub require: Option<Require>,
    /// `AuthType`, `AuthName`, `AuthUserFile`, `AuthGroupFile`: each
    /// replaced on its own by a later section's.
    pub auth: AuthSettings,
    /// `DirectoryIndex` (empty for `disabled`).
    pub directory_index: Option<Vec<String>>,
    /// `SetHandler` (`SetHandler None` is [`HandlerName::None`]: no
    /// handler, so the file's own is chosen again).
    pub handler: Option<HandlerName>,
    /// mod_mime's per-extension edits in order (`AddType`, `AddHandler`,
    /// `RemoveHandler`, …): concatenated, the last edit of an extension's
    /// attribute wins ([`MimeEdit`]).
    pub mime: Vec<MimeEdit>,
    /// `ForceType type` (`Some(None)`: `ForceType None`, undoing an
    /// earlier section's).
    pub force_type: Option<Option<String>>,
    /// `AllowOverride`: which directive classes a `.htaccess` file in
    /// this directory (and below) may hold.
    pub allow_override: Option<Overrides>,
    /// `AllowOverrideList`: directives a `.htaccess` file may hold
    /// whatever `AllowOverride` says (lower case).
    pub allow_override_list: Option<Vec<String>>,
    /// mod_headers, mod_expires, mod_deflate and mod_brotli
    /// ([`crate::filters`]): merged by each module's own rule
    /// ([`FilterConfig::merged`](crate::filters::FilterConfig::merged)).
    pub filters: crate::filters::FilterConfig,
    /// mod_rewrite's per-directory configuration (`RewriteEngine`,
    /// `RewriteRule`, … in a `<Directory>` or `.htaccess`), merged as
    /// Apache merges it ([`RewriteConfig::merge`](crate::rewrite::RewriteConfig::merge)).
    pub rewrite: Option<Arc<crate::rewrite::RewriteConfig>>,
    /// Sections written inside this one (or at server level): `<Files>`,
    /// `<FilesMatch>` and `<If>`/`<ElseIf>`/`<Else>`, in file order.
    /// Concatenated by the merge, as Apache's `sec_file` and `sec_if`: the
    /// file walk and the `<If>` walk read the merged list.
    pub nested: Vec<Arc<Section>>,
    /// `ErrorDocument status what`, in order: the last for a status wins.
    pub error_documents: Vec<(u16, ErrorDocument)>,
    /// `ServerSignature`: the line under mpmd's own pages.
    pub server_signature: Option<ServerSignature>,
    /// mod_dir's `DirectorySlash` (On: a directory without its slash is
    /// redirected to it).
    pub directory_slash: Option<bool>,
    /// mod_dir's `FallbackResource url` (`Some(None)`: `disabled`).
    pub fallback_resource: Option<Option<String>>,
    /// `FileETag`: what a file's `ETag` is made of.
    pub file_etag: Option<FileETag>,
    /// `AddDefaultCharset` (`Some(None)`: `Off`): the charset added to a
    /// `text/plain` or `text/html` answer that names none.
    pub default_charset: Option<Option<String>>,
    /// mod_setenvif's `SetEnvIf`, `SetEnvIfNoCase`, `BrowserMatch`, in
    /// order (applied in the header parser).
    pub setenvif: Vec<Arc<crate::pipeline::env::SetEnvIf>>,
    /// mod_env's `SetEnv`, `UnsetEnv`, `PassEnv`, in order (applied in the
    /// fixups).
    pub env: Vec<crate::pipeline::env::EnvEdit>,
    /// What the scripts' environment gets: `CGIPassAuth`,
    /// `ProxyFCGISetEnvIf` ([`ScriptDir::merge`](crate::cgi::ScriptDir::merge)).
    pub scripts: crate::cgi::ScriptDir,
    /// mod_autoindex's `IndexIgnore` wildcards, every section's added.
    pub index_ignore: Vec<String>,
    /// mod_autoindex's `IndexOptions`.
    pub index_options: Option<IndexOptions>,
    /// mod_autoindex's `IndexOrderDefault`: the column and direction a
    /// listing is sorted by when the client asks for none.
    pub index_order: Option<crate::listing::IndexOrder>,
    /// mod_autoindex's `HeaderName`: a file of the directory shown above
    /// its listing.
    pub header_name: Option<String>,
    /// mod_autoindex's `ReadmeName`: a file of the directory shown below
    /// its listing.
    pub readme_name: Option<String>,
}

/// `IndexOptions`, set absolutely or changed (`+FoldersFirst
/// -IgnoreCase`) from what the sections before left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOptions {
    /// `IndexOptions FancyIndexing FoldersFirst`: exactly these.
    Set(IndexFlags),
    /// `IndexOptions +FoldersFirst -IgnoreCase`.
    Change {
        /// Turned on.
        add: IndexFlags,
        /// Turned off.
        remove: IndexFlags,
    },
}

/// The `IndexOptions` mpmd's listings follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexFlags {
    /// `FancyIndexing`: columns for the modification time and the size.
    pub fancy: bool,
    /// `HTMLTable`: those columns as an HTML table.
    pub html_table: bool,
    /// `FoldersFirst`: directories before files (in a fancy listing).
    pub folders_first: bool,
    /// `IgnoreCase`: names sorted without regard to case.
    pub ignore_case: bool,
    /// `SuppressHTMLPreamble`: the `HeaderName` file starts the page itself.
    pub suppress_preamble: bool,
    /// `VersionSort`: numbers in names sorted by value (`a2` before
    /// `a10`).
    pub version_sort: bool,
    /// `IgnoreClient`: the query string (`?C=M;O=D`) changes nothing, and
    /// the column heads are no links.
    pub ignore_client: bool,
    /// `SuppressColumnSorting`: the column heads are no links.
    pub suppress_column_sorting: bool,
}

impl IndexFlags {
    /// Every flag set in `self` or in `other`.
    pub fn union(self, other: IndexFlags) -> IndexFlags {
        self.zip(other, |a, b| a || b)
    }

    /// The flags of `self` that are not set in `other`.
    pub fn without(self, other: IndexFlags) -> IndexFlags {
        self.zip(other, |a, b| a && !b)
    }

    /// `f` applied to each flag of `self` and the same flag of `other`.
    fn zip(self, other: IndexFlags, f: impl Fn(bool, bool) -> bool) -> IndexFlags {
        IndexFlags {
            fancy: f(self.fancy, other.fancy),
            html_table: f(self.html_table, other.html_table),
            folders_first: f(self.folders_first, other.folders_first),
            ignore_case: f(self.ignore_case, other.ignore_case),
            suppress_preamble: f(self.suppress_preamble, other.suppress_preamble),
            version_sort: f(self.version_sort, other.version_sort),
            ignore_client: f(self.ignore_client, other.ignore_client),
            suppress_column_sorting: f(self.suppress_column_sorting, other.suppress_column_sorting),
        }
    }

    fn apply(self, setting: IndexOptions) -> IndexFlags {
        match setting {
            IndexOptions::Set(flags) => flags,
            IndexOptions::Change { add, remove } => self.without(remove).union(add),
        }
    }
}

/// What `ErrorDocument` answers an error with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorDocument {
    /// A local URL (`/errors/404.html`): served by an internal redirect,
    /// with the error's status and `REDIRECT_STATUS`, `REDIRECT_URL`.
    Local(String),
    /// Another server's URL: a 302 to it.
    Remote(String),
    /// A message (written in quotes): the body, with the error's status.
    Text(String),
    /// `default`: mpmd's own page (undoing an earlier section's).
    Default,
}

/// `ServerSignature`: what mpmd's own pages (errors, listings) say of the
/// server in their last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSignature {
    /// `Off` (Apache's default): nothing.
    Off,
    /// `On`: the server's name and version (as `ServerTokens` says), host
    /// and port.
    On,
    /// `EMail`: as `On`, the host a `mailto:` link to `ServerAdmin`.
    Email,
}

/// `FileETag`: which of a file's attributes its `ETag` is made of, set
/// absolutely or changed (`+INode -Size`) from what the sections before
/// left (Apache's default: `MTime Size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileETag {
    /// `FileETag INode MTime Size`, `FileETag None`, …: exactly these.
    Set(ETagParts),
    /// `FileETag +INode -Size`: these on, those off, the others as before.
    Change {
        /// Turned on.
        add: ETagParts,
        /// Turned off.
        remove: ETagParts,
    },
}

/// The parts of a file's `ETag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ETagParts {
    /// The inode number.
    pub inode: bool,
    /// The modification time.
    pub mtime: bool,
    /// The size.
    pub size: bool,
}

impl ETagParts {
    /// Apache 2.4's default: `MTime Size`.
    pub const DEFAULT: ETagParts = ETagParts {
        inode: false,
        mtime: true,
        size: true,
    };

    fn apply(self, setting: FileETag) -> ETagParts {
        match setting {
            FileETag::Set(parts) => parts,
            FileETag::Change { add, remove } => ETagParts {
                inode: (self.inode && !remove.inode) || add.inode,
                mtime: (self.mtime && !remove.mtime) || add.mtime,
                size: (self.size && !remove.size) || add.size,
            },
        }
    }
}

/// Lay `over`'s setting on `base` when `over` sets one: the rule of a
/// directive whose later value replaces the earlier.
pub fn replace<T: Clone>(base: &mut Option<T>, over: &Option<T>) {
    if over.is_some() {
        base.clone_from(over);
    }
}

/// Append `over`'s edits to `base`'s: the rule of a list of edits read
/// from the end (the later section's edits win).
pub fn append<T: Clone>(base: &mut Vec<T>, over: &[T]) {
    base.extend_from_slice(over);
}

impl DirConfig {
    /// `over` laid on `self`, as Apache merges a later section's
    /// per-directory config over the one in force: one line per setting.
    pub fn merge(&mut self, over: &DirConfig) {
        self.options = match (self.options, over.options) {
            (Some(before), Some(next)) => Some(before.then(next)),
            (before, next) => next.or(before),
        };
        self.require = merge_require(self.require.take(), &over.require, over.auth.merging);
        self.auth = self.auth.merged_with(&over.auth);
        replace(&mut self.directory_index, &over.directory_index);
        replace(&mut self.handler, &over.handler);
        append(&mut self.mime, &over.mime);
        replace(&mut self.force_type, &over.force_type);
        replace(&mut self.allow_override, &over.allow_override);
        replace(&mut self.allow_override_list, &over.allow_override_list);
        crate::rewrite::merge_dir(&mut self.rewrite, &over.rewrite);
        append(&mut self.nested, &over.nested);
        append(&mut self.error_documents, &over.error_documents);
        replace(&mut self.server_signature, &over.server_signature);
        replace(&mut self.directory_slash, &over.directory_slash);
        replace(&mut self.fallback_resource, &over.fallback_resource);
        self.file_etag = match (self.file_etag, over.file_etag) {
            (Some(before), Some(FileETag::Change { .. })) => {
                let parts = before_parts(before).apply(over.file_etag.unwrap_or(before));
                Some(FileETag::Set(parts))
            }
            (before, next) => next.or(before),
        };
        replace(&mut self.default_charset, &over.default_charset);
        append(&mut self.setenvif, &over.setenvif);
        append(&mut self.env, &over.env);
        self.scripts.merge(&over.scripts);
        append(&mut self.index_ignore, &over.index_ignore);
        self.index_options = match (self.index_options, over.index_options) {
            (Some(before), Some(next @ IndexOptions::Change { .. })) => Some(IndexOptions::Set(
                IndexFlags::default().apply(before).apply(next),
            )),
            (before, next) => next.or(before),
        };
        replace(&mut self.index_order, &over.index_order);
        replace(&mut self.header_name, &over.header_name);
        replace(&mut self.readme_name, &over.readme_name);
        if !over.filters.is_unset() {
            self.filters = self.filters.merged(&over.filters);
        }
    }

    /// The `IndexOptions` in force.
    pub fn index_flags(&self) -> IndexFlags {
        self.index_options
            .map_or(IndexFlags::default(), |o| IndexFlags::default().apply(o))
    }

    /// The `ErrorDocument` for `status`, unless none (or `default`) is in
    /// force.
    pub fn error_document(&self, status: u16) -> Option<&ErrorDocument> {
        self.error_documents
            .iter()
            .rev()
            .find(|(s, _)| *s == status)
            .map(|(_, doc)| doc)
            .filter(|doc| **doc != ErrorDocument::Default)
    }

    /// The parts of a file's `ETag` in force (`FileETag`).
    pub fn etag_parts(&self) -> ETagParts {
        self.file_etag
            .map_or(ETagParts::DEFAULT, |s| ETagParts::DEFAULT.apply(s))
    }

    /// `self` with `over` laid on it (see [`DirConfig::merge`]).
    pub fn merged(&self, over: &DirConfig) -> DirConfig {
        let mut merged = self.clone();
        merged.merge(over);
        merged
    }

    /// The `Options` in force: the merged setting applied to Apache's
    /// default (`FollowSymLinks`).
    pub fn options(&self) -> Options {
        self.options
            .map_or(Options::DEFAULT, |o| o.apply(Options::DEFAULT))
    }

    /// The `DirectoryIndex` names in force (Apache's default:
    /// `index.html`).
    pub fn directory_index(&self) -> &[String] {
        match &self.directory_index {
            Some(names) => names,
            None => std::slice::from_ref(&*DEFAULT_INDEX),
        }
    }

    /// What a `.htaccess` file may set here: `AllowOverride` (Apache's
    /// default `None`).
    pub fn overrides(&self) -> Overrides {
        self.allow_override.unwrap_or(Overrides::NONE)
    }

    /// Whether a `.htaccess` file is read in a directory this config is in
    /// force for: `AllowOverride` other than `None`, or an
    /// `AllowOverrideList` other than `None`.
    pub fn reads_htaccess(&self) -> bool {
        self.overrides() != Overrides::NONE
            || self
                .allow_override_list
                .as_ref()
                .is_some_and(|list| !list.is_empty())
    }

    /// The value of mod_mime's attribute `attr` for the extension `ext`
    /// (lower case, without its dot): the last edit's, `None` when no edit
    /// names it or the last one removed it.
    pub fn mime_value(&self, attr: MimeAttr, ext: &str) -> Option<&str> {
        self.mime
            .iter()
            .rev()
            .find(|e| e.attr == attr && e.ext == ext)
            .and_then(|e| e.value.as_deref())
    }
}

/// The parts an earlier `FileETag` leaves, from Apache's default.
fn before_parts(setting: FileETag) -> ETagParts {
    ETagParts::DEFAULT.apply(setting)
}

static DEFAULT_INDEX: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| "index.html".to_string());

/// Which of a file's attributes a mod_mime directive maps an extension to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MimeAttr {
    /// `AddType` / `RemoveType`.
    Type,
    /// `AddHandler` / `RemoveHandler`.
    Handler,
    /// `AddEncoding` / `RemoveEncoding`.
    Encoding,
    /// `AddCharset` / `RemoveCharset`.
    Charset,
    /// `AddLanguage` / `RemoveLanguage`.
    Language,
}

/// One mod_mime edit: `AddHandler cgi-script .cgi` is
/// `{ attr: Handler, ext: "cgi", value: Some("cgi-script") }`,
/// `RemoveHandler .cgi` the same with `value: None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeEdit {
    /// The attribute set or removed.
    pub attr: MimeAttr,
    /// The extension, lower case, without its dot.
    pub ext: String,
    /// The value (`None`: removed).
    pub value: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(options: Options) -> Option<OptionsSetting> {
        Some(OptionsSetting::Set(options))
    }

    #[test]
    fn a_later_setting_replaces_and_an_unset_one_keeps_what_came_before() {
        let mut base = DirConfig {
            require: Some(Require::AllDenied),
            directory_index: Some(vec!["a.html".into()]),
            ..DirConfig::default()
        };
        base.merge(&DirConfig {
            require: Some(Require::AllGranted),
            ..DirConfig::default()
        });
        assert_eq!(base.require, Some(Require::AllGranted));
        assert_eq!(base.directory_index(), ["a.html"]);
        assert_eq!(DirConfig::default().directory_index(), ["index.html"]);
    }

    #[test]
    fn relative_options_change_the_options_before_them_and_absolute_ones_replace() {
        let indexes = Options {
            follow_symlinks: false,
            indexes: true,
            exec_cgi: false,
        };
        let plus_indexes = DirConfig {
            options: Some(OptionsSetting::Change {
                add: indexes,
                remove: Options::NONE,
            }),
            ..DirConfig::default()
        };
        // No section before: applied to the default (FollowSymLinks).
        assert_eq!(
            plus_indexes.options(),
            Options {
                exec_cgi: false,
                ..Options::ALL
            }
        );
        let none = DirConfig {
            options: set(Options::NONE),
            ..DirConfig::default()
        };
        assert_eq!(none.merged(&plus_indexes).options(), indexes);
        assert_eq!(plus_indexes.merged(&none).options(), Options::NONE);
    }

    #[test]
    fn the_last_mime_edit_of_an_extension_wins_and_a_removal_clears_it() {
        let edit = |attr, ext: &str, value: Option<&str>| MimeEdit {
            attr,
            ext: ext.into(),
            value: value.map(str::to_string),
        };
        let server = DirConfig {
            mime: vec![
                edit(MimeAttr::Handler, "cgi", Some("cgi-script")),
                edit(MimeAttr::Type, "x", Some("text/x-one")),
            ],
            ..DirConfig::default()
        };
        let dir = DirConfig {
            mime: vec![
                edit(MimeAttr::Handler, "cgi", None),
                edit(MimeAttr::Type, "x", Some("text/x-two")),
            ],
            ..DirConfig::default()
        };
        assert_eq!(
            server.mime_value(MimeAttr::Handler, "cgi"),
            Some("cgi-script")
        );
        let merged = server.merged(&dir);
        assert_eq!(merged.mime_value(MimeAttr::Handler, "cgi"), None);
        assert_eq!(merged.mime_value(MimeAttr::Type, "x"), Some("text/x-two"));
        assert_eq!(merged.mime_value(MimeAttr::Type, "y"), None);
    }
}
