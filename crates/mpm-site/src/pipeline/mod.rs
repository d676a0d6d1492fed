//! The request pipeline: Apache's per-directory configuration and its
//! request phases, which every module of the site plugs into.
//!
//! ## The model
//!
//! - [`DirConfig`] ([`dir_config`]): the per-directory configuration,
//!   one `Option`al field (or list of edits) per setting, and
//!   [`DirConfig::merge`], one line per field.
//! - [`Section`] ([`section`]): `<Directory>`, `<DirectoryMatch>`
//!   (`<Directory ~>`), `<Files>`, `<FilesMatch>` (`<Files ~>`),
//!   `<Location>`, `<LocationMatch>` (`<Location ~>`), `<If>`,
//!   `<ElseIf>`, `<Else>`, each with the `DirConfig` it sets. A
//!   [`VirtualHost`](crate::config::VirtualHost) holds its directives
//!   outside any section in `dir` and its sections in `sections` (the
//!   main server's first, then its own); `<Files>` and `<If>` written
//!   inside another section are in that section's `DirConfig::nested`.
//! - `.htaccess` ([`htaccess`]): read per directory where `AllowOverride`
//!   lets it, parsed by the [`OverrideParser`] `mpmd` gives
//!   ([`Site::with_overrides`](crate::Site::with_overrides)), cached by
//!   path, modification time and size, looked at once a second at most.
//! - [`RequestState`] ([`request`]): what the phases read and change about
//!   one request (Apache's `request_rec`): the URL and its file, the
//!   handler, the content type, the environment, the user, the merged
//!   `DirConfig`; [`Exit`] stops a request with a status, a response, or an
//!   internal redirect.
//! - Handlers by name ([`handler`]): `SetHandler`/`AddHandler` choose a
//!   [`HandlerName`]; [`Handlers`] maps names to implementations.
//!
//! ## Merge order (Apache's `ap_directory_walk`, `ap_file_walk`, `ap_location_walk`, `ap_if_walk`)
//!
//! Over the host's own directives (`VirtualHost::dir`, itself the main
//! server's with a virtual host's laid on):
//!
//! 1. `<Directory>` sections, fewest path components first (file order
//!    among equals, the main server's before a virtual host's), each
//!    directory's `.htaccess` right after its sections;
//! 2. `<DirectoryMatch>` / `<Directory ~>`, in file order;
//! 3. `<Files>` / `<FilesMatch>` of the server and of every section merged
//!    so far, in that order;
//! 4. `<Location>` / `<LocationMatch>`, in file order;
//! 5. `<If>` / `<ElseIf>` / `<Else>` of everything merged.
//!
//! Steps 1–4 are a pure function of which sections and `.htaccess` files
//! matched: [`walk::Walks`] keeps each such merge, so a request costs the
//! matching and one lookup (none when nothing matched). The walk of step
//! 1 that goes a directory at a time (for `.htaccess` files) is kept too,
//! per host and directory ([`walk::DirWalk`]), while the `.htaccess`
//! cache's version is the one it was made under and its files are within
//! their once-a-second look; an internal redirect to a file of the same
//! directory shares its request's walk, as Apache's does.
//!
//! ## The phases ([`phases`])
//!
//! [`Site::process`](crate::Site::process) runs, in Apache's order:
//! `translate_name` (`ProxyPass`, `Redirect`, `Alias`, `DocumentRoot`),
//! `map_to_storage` (directory walk with `.htaccess`, file walk),
//! `location_walk`, `if_walk`, `access_checker` (`Require`),
//! `type_checker` (mod_mime), `fixups` (mod_dir), `handler`, then
//! `output_filters`. An internal redirect starts again at
//! `translate_name`, at most `LimitInternalRecursion` times.
//!
//! ## Where a module plugs in
//!
//! - **Settings**: one field in [`DirConfig`] and one line in
//!   [`DirConfig::merge`]; `mpmd`'s directive fills the field of the
//!   innermost section (`State::dir_config` in `server-bin`'s loader), and
//!   the same code serves `.htaccess` (give the directive its
//!   `AllowOverride` class in `server-bin/src/config/directives/htaccess.rs`).
//! - **Work**: one call in the phase Apache runs it in ([`phases`]): e.g.
//!   mod_rewrite's server context in `translate_name`, its per-directory
//!   context in `fixups`; mod_auth_basic in `access_checker`'s
//!   neighbours; mod_headers/mod_expires/mod_deflate in `output_filters`.
//!   A phase returns [`Step`]: `Ok(())` to go on, `Err(Exit::…)` to stop.
//! - **A handler**: implement [`ContentHandler`] and register it by name in
//!   [`Handlers`] (see [`handler`]'s docs): `cgi-script`, `fcgid-script`,
//!   or the `proxy:` prefix.
//! - **`<If>` expressions**: [`expr::parse`], the one function the
//!   loader calls, returns Apache's expression language
//!   ([`crate::expr::Expr`], a [`Condition`]).
//! - **The environment**: [`env`](mod@env) (`SetEnv`, `SetEnvIf`); a handler reads
//!   [`RequestState::subprocess_env`], with `REDIRECT_*` variables after an
//!   internal redirect.

pub mod dir_config;
pub mod env;
mod errors;
pub mod expr;
pub mod handler;
pub mod htaccess;
pub mod phases;
pub mod request;
pub mod section;
mod storage;
pub mod walk;

pub use dir_config::{
    DirConfig, ETagParts, ErrorDocument, FileETag, IndexFlags, IndexOptions, MimeAttr, MimeEdit,
    ServerSignature,
};
pub use expr::Condition;
pub use handler::{ContentHandler, HandlerName, Handlers};
pub use htaccess::{OverrideError, OverrideParser, Overrides};
pub use request::{Exit, LazyHeaders, RequestState, Step, Table};
pub use section::{Pattern, Section, SectionKind};
