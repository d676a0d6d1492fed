//! A GET or HEAD of a file in memory that no directive touches, answered
//! without the request pipeline.
//!
//! On a host where nothing acts between a file's mapping and its answer
//! (no section of any kind, no `.htaccess`, no mod_rewrite, and a server
//! configuration that sets nothing a phase reads for a file: no
//! `Require` or `AuthType`, no `SetHandler`/`AddType`/`ForceType`, no
//! `SetEnv`/`SetEnvIf`, no mod_headers, mod_expires or compression, no
//! `AddDefaultCharset`), every phase of [`Site::process`] leaves such a
//! request as it found it, and the default handler answers it from the
//! file in memory ([`crate::memory_file`]: a kept file or an `MMapFile`).
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
//! Whether a host is such a host is decided once, when the site is built
//! ([`untouched_host`]); whether a request can be answered so, per request:
//! anything else (a `Redirect`, a `ProxyPass` or a `ScriptAlias` that takes
//! the path, a path that is not in its plain form or names a directory, a
//! file not in memory, the `AccessFileName`) goes through the pipeline as
//! before.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use http::Method;
use mpm_core::{Request, Response};

use crate::memory_file::{asks_conditionally, MemoryFile};
use crate::pipeline::dir_config::DirConfig;
use crate::pipeline::walk::Walks;
use crate::site::{Host, Site};
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
        let file = FILE_NAME.with_borrow_mut(|name| {
            crate::pipeline::request::join_mapped(root.as_os_str().as_bytes(), rel, name);
            let filename = Path::new(OsStr::from_bytes(name));
            // map_to_storage's: `MMapFile`, else a kept file (a
            // `CacheFile` is answered from its descriptor, by the pipeline).
            let file = self.in_memory(filename).1?;
            // The default handler never sends the `AccessFileName`.
            let named = crate::pipeline::request::last_segment(filename);
            (named != self.access_file_name.as_bytes()).then_some(file)
        })?;
        if !file.meta.is_file() {
            return None;
        }
        let base = &host.walks.base;
        let http1 = req.version() < http::Version::HTTP_2;
        if http1 && MemoryFile::etag_fits(base.etag_parts()) && !asks_conditionally(req.headers()) {
            // The whole file, with the head's fields encoded with it
            // (nothing after this reads or changes them).
            return Some(file.whole_response());
        }
        let req = FileRequest {
            method,
            headers: req.headers(),
        };
        Some(static_files::send_memory(
            &file,
            file.content_type.as_ref(),
            &req,
            base.etag_parts(),
        ))
    }
}

/// Whether no request of a host with these `walks` and this mod_rewrite
/// configuration meets a directive between its mapping and its answer,
/// for a file: see the module documentation. A setting not known here to
/// leave a file's answer alone counts as touching it, so a setting added
/// to [`DirConfig`] later keeps its host on the pipeline until it is
/// listed here.
pub(crate) fn untouched_host(walks: &Walks, rewrite: &crate::rewrite::RewriteConfig) -> bool {
    if walks.reads_htaccess()
        || walks.per_level()
        || walks.has_directory_sections()
        || walks.has_locations()
        || rewrite.enabled()
    {
        return false;
    }
    // What the phases read for a file, once the settings that only matter
    // elsewhere are set aside: what is left must be nothing.
    let base = &*walks.base;
    let for_files = DirConfig {
        // Read for directories (Indexes), symlinks (`per_level` above) and
        // scripts (`ExecCGI`, with a handler, which counts below).
        options: None,
        // Read where `.htaccess` files are (`reads_htaccess` above).
        allow_override: None,
        allow_override_list: None,
        // mod_dir: directories, and missing files.
        directory_index: None,
        directory_slash: None,
        fallback_resource: None,
        // Error answers.
        error_documents: Vec::new(),
        server_signature: None,
        // Passed on to the answer as it is.
        file_etag: None,
        // Scripts' environment, listings.
        scripts: Default::default(),
        index_ignore: Vec::new(),
        index_options: None,
        index_order: None,
        header_name: None,
        readme_name: None,
        ..base.clone()
    };
    // `AddDefaultCharset Off` and `SetHandler None` or `default-handler`
    // choose what no setting chooses.
    let for_files = DirConfig {
        default_charset: for_files.default_charset.clone().filter(Option::is_some),
        handler: for_files.handler.clone().filter(|h| {
            !matches!(
                h,
                crate::pipeline::handler::HandlerName::None
                    | crate::pipeline::handler::HandlerName::DefaultHandler
            )
        }),
        ..for_files
    };
    for_files == DirConfig::default()
}
