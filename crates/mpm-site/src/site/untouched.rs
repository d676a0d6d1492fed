//! A GET or HEAD of a file in memory that no directive touches, answered
//! without the request pipeline.
//!
//! Where nothing acts between a file's mapping and its answer, every
//! phase of [`Site::process`] leaves such a request as it found it, and
//! the default handler answers it from the file in memory
//! ([`crate::memory_file`]: a kept file or an `MMapFile`).
//! [`Site::answer_untouched`] gives that same answer directly: the path
//! mapped by `Alias` or the `DocumentRoot` as `translate_name` maps it,
//! the file looked up as `map_to_storage` looks it up, the answer made by
//! the same `static_files::send_memory` (whole, 304, 206, 412, 416 as
//! the conditional headers and `Range` say), except that a whole answer
//! to an HTTP/1.x request carries its head's fields as the
//! [`EncodedFields`](mpm_core::h1::EncodedFields) made with the file (no
//! header map cloned, no field encoded per request: nothing after the
//! handler reads them). So it costs no
//! [`RequestState`](crate::pipeline::request::RequestState), no phase and
//! no allocation besides the answer's head.
//!
//! What is decided once per host, when the site is built
//! ([`untouched_host`]): no `.htaccess` is read, no walk goes a directory
//! at a time (symlink checks), no `<Location>` or `<DirectoryMatch>`
//! section, no mod_rewrite in server context; and, for a host with no
//! section at all, that its base leaves a file's answer alone (then it
//! holds for every file). What is decided once per
//! file and host, the first time the file in memory is asked for, and
//! kept with it ([`MemoryFile::untouched_on`]): the configuration its
//! `<Directory>` sections merge to (as the pipeline merges them, from its
//! cache) sets nothing a phase reads for a file ([`leaves_files_alone`]:
//! no `Require` but `Require all granted`, no `AuthType`, no
//! `SetHandler`/`AddType`/`ForceType`, no `SetEnv`/`SetEnvIf`, no
//! mod_headers, mod_expires or compression, no `AddDefaultCharset`, no
//! per-directory mod_rewrite), no `<Files>` or `<FilesMatch>` section of
//! it holds the file's name and no `<If>` section is there. So Debian's
//! default sections (`<Directory />` denied, `<Directory /var/www/>`
//! granted with `Options Indexes FollowSymLinks` and `AllowOverride
//! None`, `<FilesMatch "^\.ht">` denied) answer `/var/www`'s files so,
//! and a file under `/` elsewhere, or a `.ht` file, through the pipeline
//! (403). Per request: anything else (a `Redirect`, a `ProxyPass` or a
//! `ScriptAlias` that takes the path, a path that is not in its plain
//! form or names a directory, a file not in memory, the
//! `AccessFileName`) goes through the pipeline as before.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use http::Method;
use mpm_core::{Request, Response};

use crate::memory_file::{asks_conditionally, MemoryFile};
use crate::open_files::now_secs;
use crate::pipeline::dir_config::DirConfig;
use crate::pipeline::walk::Walks;
use crate::site::{recent, Host, Site};
use crate::static_files::{self, FileRequest};
use crate::uri_path;

thread_local! {
    /// The file name being looked up, made in the same buffer each time.
    static FILE_NAME: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Site {
    /// The answer to `req` on `host` when it is a GET or HEAD of a file in
    /// memory that no directive touches (see the module documentation),
    /// else `None`: the pipeline answers it.
    pub(crate) fn answer_untouched(&self, host: &Host, req: &Request<'_>) -> Option<Response> {
        if !host.untouched {
            return None;
        }
        let method = req.method();
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let raw = req.uri().path().as_bytes();
        if let Some(response) = recent::answer(host.key, raw, |file| answer(host, file, req)) {
            return Some(response);
        }
        // `Site::handle`'s normalisation (no copy for a path already in
        // its plain form); a refused path gets its error page there.
        let mut buf = Vec::new();
        let path = uri_path::normalised(req.uri().path(), &mut buf).ok()?;
        if path.ends_with(b"/") {
            // A directory, or path info after a file.
            return None;
        }
        // translate_name's: a `ProxyPass`, a `Redirect` or a `ScriptAlias`.
        if host.proxy.takes(path) || host.redirect_of(path).is_some() {
            return None;
        }
        let alias = host.alias_of(path);
        if alias.is_some_and(|alias| alias.script) {
            return None;
        }
        let (root, rel) = host.map_under(alias, path);
        // The second a kept file is found current in (taken before the
        // look, so no later one).
        let second = now_secs();
        let (file, mapped) = FILE_NAME.with_borrow_mut(|name| {
            crate::pipeline::request::join_mapped(root.as_os_str().as_bytes(), rel, name);
            let filename = Path::new(OsStr::from_bytes(name));
            // map_to_storage's: `MMapFile`, else a kept file (a
            // `CacheFile` is answered from its descriptor, by the pipeline).
            let (mapped, file) = self.in_memory(filename);
            let file = file?;
            // The default handler never sends the `AccessFileName`.
            let named = crate::pipeline::request::last_segment(filename);
            let untouched = named != self.access_file_name.as_bytes()
                && file.meta.is_file()
                && file.untouched_on(host.key, || untouched_file(&host.walks, filename));
            untouched.then_some((file, mapped))
        })?;
        if std::ptr::eq(path, raw) {
            // `path` is the request's own (already plain): what the next
            // request for it finds.
            recent::keep(host.key, path, &file, (!mapped).then_some(second));
        }
        Some(answer(host, &file, req))
    }
}

/// The answer to `req` (a GET or HEAD) on `host` from `file`, a file in
/// memory no directive of `host` touches.
fn answer(host: &Host, file: &MemoryFile, req: &Request<'_>) -> Response {
    let base = &host.walks.base;
    let http1 = req.version() < http::Version::HTTP_2;
    if http1 && MemoryFile::etag_fits(base.etag_parts()) && !asks_conditionally(req.headers()) {
        // The whole file, with the head's fields encoded with it
        // (nothing after this reads or changes them).
        return file.whole_response();
    }
    let req = FileRequest {
        method: req.method(),
        headers: req.headers(),
    };
    static_files::send_memory(file, file.content_type.as_ref(), &req, base.etag_parts())
}

/// A key no other host of this process has had (never 0): what a file in
/// memory keeps its verdict under ([`MemoryFile::untouched_on`]).
pub(crate) fn next_host_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Whether a request of a host with these `walks` and this mod_rewrite
/// configuration may meet no directive between its mapping and its
/// answer, for some file: see the module documentation. What its
/// sections and settings say of a file is [`untouched_file`]'s.
pub(crate) fn untouched_host(walks: &Walks, rewrite: &crate::rewrite::RewriteConfig) -> bool {
    if walks.reads_htaccess()
        || walks.per_level()
        || walks.has_directory_match_sections()
        || walks.has_locations()
        || rewrite.enabled()
    {
        return false;
    }
    // With no section, every file's configuration is the base: decided
    // here for all of them, so a host whose base touches every file
    // makes no per-request look before its pipeline.
    walks.has_directory_sections()
        || !walks.base.nested.is_empty()
        || leaves_files_alone(&walks.base)
}

/// Whether no directive of a host with these `walks` (an
/// [`untouched_host`]'s) touches the answer for the file `filename`: its
/// `<Directory>` sections merged as the pipeline merges them leave a
/// file's answer alone, and no section nested in them (or at server
/// level) may hold it: a `<Files>` or `<FilesMatch>` that matches its
/// name, or any `<If>`, which reads the request.
pub(crate) fn untouched_file(walks: &Walks, filename: &Path) -> bool {
    let mut layers = Vec::new();
    walks.directory_sections(crate::pipeline::request::dir_of(filename), &mut layers);
    let merged = walks.merged(&layers);
    let name = crate::pipeline::request::last_segment(filename);
    let nested_may_hold = merged
        .nested
        .iter()
        .any(|section| !section.kind.is_files() || section.kind.matches_file(name));
    // The answer is tagged as the host's base says (`FileETag`).
    let tagged_as_the_base = merged.etag_parts() == walks.base.etag_parts();
    !nested_may_hold && tagged_as_the_base && leaves_files_alone(&merged)
}

/// Whether `config` (a merged one, its nested sections looked at by the
/// caller) sets nothing a phase reads for a file. A setting not known
/// here to leave a file's answer alone counts as touching it, so a
/// setting added to [`DirConfig`] later keeps its files on the pipeline
/// until it is listed here.
fn leaves_files_alone(config: &DirConfig) -> bool {
    // What the phases read for a file, once the settings that only matter
    // elsewhere are set aside: what is left must be nothing.
    let for_files = DirConfig {
        // Read for directories (Indexes), symlinks (the host's
        // `per_level`) and scripts (`ExecCGI`, with a handler, which
        // counts below).
        options: None,
        // Read where `.htaccess` files are (the host's `reads_htaccess`).
        allow_override: None,
        allow_override_list: None,
        // mod_dir: directories, and missing files.
        directory_index: None,
        directory_slash: None,
        fallback_resource: None,
        // Error answers.
        error_documents: Vec::new(),
        server_signature: None,
        // The answer's, as the host's base says (the caller compares).
        file_etag: None,
        // Scripts' environment, listings.
        scripts: Default::default(),
        index_ignore: Vec::new(),
        index_options: None,
        index_order: None,
        header_name: None,
        readme_name: None,
        // Looked at by the caller.
        nested: Vec::new(),
        ..config.clone()
    };
    // `AddDefaultCharset Off`, `SetHandler None` or `default-handler`
    // choose what no setting chooses; `Require all granted` (with no
    // `AuthType`, which counts) grants what no `Require` grants, without
    // reading the request.
    let for_files = DirConfig {
        default_charset: for_files.default_charset.clone().filter(Option::is_some),
        handler: for_files.handler.clone().filter(|h| {
            !matches!(
                h,
                crate::pipeline::handler::HandlerName::None
                    | crate::pipeline::handler::HandlerName::DefaultHandler
            )
        }),
        require: for_files
            .require
            .clone()
            .filter(|r| *r != crate::config::Require::AllGranted),
        ..for_files
    };
    for_files == DirConfig::default()
}
