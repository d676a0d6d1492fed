//! mod_rewrite: `RewriteEngine`, `RewriteBase`, `RewriteCond`,
//! `RewriteRule`, `RewriteMap` and `RewriteOptions`, as a pure engine.
//!
//! A [`RewriteConfig`] holds one context's directives (the server or a
//! virtual host, a `<Directory>` or an `.htaccess`); the server fills it
//! line by line ([`RewriteConfig::add_cond`], [`RewriteConfig::add_rule`],
//! …), merges contexts as Apache does ([`RewriteConfig::merge`]) and
//! asks it, per request, what to do:
//!
//! - [`RewriteConfig::server_pass`] in server context (Apache's
//!   `translate_name` hook): rules match the decoded URL path; a result
//!   is a file path ([`Action::File`]), a URL path handed on to the rest
//!   of the URL mapping (`[PT]`, [`Action::Uri`]), a redirect, a status,
//!   a proxy request;
//! - [`RewriteConfig::dir_pass`] in directory context (Apache's `fixups`
//!   hook): rules match the file name with the directory's prefix
//!   stripped; a rewritten result becomes an internal redirect to a new
//!   URL ([`Action::InternalRedirect`]), with `RewriteBase` or the
//!   document root turning the path back into a URL. The server runs the
//!   whole request again for it, counting against
//!   `LimitInternalRecursion`; a rule with `[END]` stops all later
//!   passes ([`Outcome::end`]).
//!
//! The engine reads the request through [`RequestVars`] (one trait with
//! the expression language, [`crate::expr`]), so it is tested without a
//! server; it changes nothing itself: the [`Outcome`] lists what to set
//! (environment, cookies, content type, handler, `Vary`).
//!
//! ## Apache's behaviour kept
//!
//! - `RewriteCond` backreferences `%N` come from the last matched
//!   regex condition, `$N` from the rule; `[OR]` chains; `[NV]`; a
//!   header read by a condition of a matching rule goes to `Vary`
//!   (except `Host`).
//! - The `<`/`>`/`<=`/`>=` string tests compare lengths first, as
//!   mod_rewrite does; `-eq`… compare integers (`atoi`: not a number
//!   is 0).
//! - A redirect's path is escaped (`ap_escape_uri`) unless `[NE]`; its
//!   query is escaped unless unchanged from the request's; `[B]`
//!   escapes backreferences (`[B=chars]` only those, `[BNP]` no `+`).
//! - `[F]`, `[G]`, `[R=4xx|5xx]` answer the status and drop the
//!   substitution; `[R]` without `[L]` lets later rules go on; `[N]`
//!   restarts at most `N=limit` (default 10,000) times, then 500 with a
//!   log line; a result longer than twice `LimitRequestLine` is 500.
//! - As Apache 2.4.60+: a substitution with a `?` for a request whose
//!   URL had an encoded one (`%3f`) is 403 unless `[UnsafeAllow3F]`, and
//!   a rewritten query with spaces or control characters is 403.
//! - `[S=n]` skips, `[C]` chains, `[QSA]`/`[QSD]`/`[QSL]`, `[DPI]`,
//!   `[E=…]` and `[CO=…]` are expanded after the substitution, `[T=…]`
//!   and `[H=…]` are lower-cased.
//! - In directory context: `PATH_INFO` is added back before matching,
//!   a relative substitution gets the directory prefix, the result is
//!   turned back into a URL by `RewriteBase` or the document root, and a
//!   result equal to the file name it started from is ignored (no loop).
//!   The request for the directory itself without its trailing slash is
//!   left to mod_dir (unless `RewriteOptions AllowNoSlash`).
//!
//! ## What differs
//!
//! - Regular expressions are the `regex` crate's (linear time, bounded
//!   size): see [`crate::pcre`] for the PCRE features refused (`-t`
//!   names the line) and those translated. A negative look-ahead of
//!   plain text at the end of a branch (`^\.(?!well-known/)`, Drupal's
//!   `.htaccess`) is rewritten into an equivalent alternation.
//! - `%{LA-U:…}` and `%{LA-F:…}` read the variable of the current
//!   request (no look-ahead sub-request); `-F` and `-U` ask
//!   [`RequestVars::subrequest_ok`].
//! - `RewriteMap prg:`, `dbm:`, `dbd:` are refused.

mod engine;
mod hooks;
mod map;
mod parse;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;

use crate::expr::Expr;
pub use crate::vars::RequestVars;
pub(crate) use hooks::PROXY_NOTE;
pub use map::RewriteMap;
pub use parse::{Cond, DEFAULT_MAX_ROUNDS};

/// One `RewriteRule` with the `RewriteCond`s written before it.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule and its conditions as written (for comparison).
    text: String,
    pattern: String,
    regex: Regex,
    /// A shortcut for the patterns `.htaccess` files use most (`.*`, `^`,
    /// `.`, `^literal$`): the same answer without the regex engine.
    fast: Option<Fast>,
    negate: bool,
    subst: Option<Template>,
    flags: RuleFlags,
    conds: Vec<Cond>,
}

impl Rule {
    /// The pattern as written (for log lines).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// A pattern simple enough to be matched without the regex engine.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fast {
    /// `^`: matches the empty start of anything.
    Start,
    /// `.*`, `^.*`, `^.*$`: the whole text (without a newline).
    All,
    /// `.`: the first character (not a newline).
    AnyChar,
    /// `^literal$`: exactly this text.
    Exact(String),
}

/// A rule's flags.
#[derive(Debug, Clone)]
struct RuleFlags {
    escape_backrefs: bool,
    escape_only: Option<String>,
    escape_no_plus: bool,
    chain: bool,
    cookies: Vec<Template>,
    discard_path_info: bool,
    env: Vec<Template>,
    end: bool,
    status: Option<u16>,
    handler: Option<Template>,
    last: bool,
    next: bool,
    max_rounds: u32,
    nocase: bool,
    no_escape: bool,
    no_subreq: bool,
    allow_3f: bool,
    proxy: bool,
    passthrough: bool,
    qs_append: bool,
    qs_discard: bool,
    qs_last: bool,
    redirect: Option<u16>,
    skip: usize,
    content_type: Option<Template>,
}

impl Default for RuleFlags {
    fn default() -> Self {
        RuleFlags {
            escape_backrefs: false,
            escape_only: None,
            escape_no_plus: false,
            chain: false,
            cookies: Vec::new(),
            discard_path_info: false,
            env: Vec::new(),
            end: false,
            status: None,
            handler: None,
            last: false,
            next: false,
            max_rounds: DEFAULT_MAX_ROUNDS,
            nocase: false,
            no_escape: false,
            no_subreq: false,
            allow_3f: false,
            proxy: false,
            passthrough: false,
            qs_append: false,
            qs_discard: false,
            qs_last: false,
            redirect: None,
            skip: 0,
            content_type: None,
        }
    }
}

/// A string with `$N`, `%N`, `%{VAR}` and `${map:key|default}` to fill.
#[derive(Debug, Clone, Default)]
pub struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    Lit(String),
    RuleRef(u8),
    CondRef(u8),
    Var(String),
    Map {
        name: String,
        key: Template,
        default: Option<Template>,
    },
}

/// What a `RewriteCond`'s pattern tests.
#[derive(Debug, Clone)]
enum CondTest {
    Regex(Box<Regex>),
    StrEq(String),
    StrLt(String),
    StrLe(String),
    StrGt(String),
    StrGe(String),
    IntEq(i64),
    IntNe(i64),
    IntLt(i64),
    IntLe(i64),
    IntGt(i64),
    IntGe(i64),
    Dir,
    File,
    NonEmptyFile,
    Symlink,
    Executable,
    SubreqFile,
    SubreqUrl,
    Expr(Box<Expr>),
}

/// `RewriteOptions`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RewriteOptions {
    /// `Inherit`: the parent context's rules run after this one's.
    pub inherit: bool,
    /// `InheritBefore`: the parent context's rules run before.
    pub inherit_before: bool,
    /// `InheritDown`: every child context inherits (as if each said
    /// `Inherit`) unless it says `IgnoreInherit`.
    pub inherit_down: bool,
    /// `InheritDownBefore`.
    pub inherit_down_before: bool,
    /// `IgnoreInherit`.
    pub ignore_inherit: bool,
    /// `AllowNoSlash`: rules run for the directory named without its
    /// trailing slash too.
    pub allow_no_slash: bool,
    /// `AllowAnyURI`: server rules run for a request target that is not
    /// a URL path (`*`).
    pub allow_any_uri: bool,
    /// `MergeBase`: `RewriteBase` is inherited.
    pub merge_base: bool,
    /// `IgnoreContextInfo`.
    pub ignore_context_info: bool,
}

/// One context's mod_rewrite directives.
#[derive(Debug, Clone, Default)]
pub struct RewriteConfig {
    /// `RewriteEngine On|Off`, when written here (inherited otherwise).
    pub engine: Option<bool>,
    /// `RewriteOptions`, when written here (inherited otherwise).
    pub options: Option<RewriteOptions>,
    /// `RewriteBase`, in directory context.
    pub base: Option<String>,
    base_set: bool,
    /// The directory (with a trailing `/`) of a `<Directory>` or
    /// `.htaccess` context; `None` in server context.
    pub directory: Option<String>,
    rules: Vec<Arc<Rule>>,
    pending: Vec<Cond>,
    /// `RewriteMap`s, in server context.
    pub maps: HashMap<String, Arc<RewriteMap>>,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        self.text == other.text
    }
}

impl Eq for Rule {}

impl PartialEq for RewriteConfig {
    fn eq(&self, other: &RewriteConfig) -> bool {
        fn maps(c: &RewriteConfig) -> Vec<(&String, *const RewriteMap)> {
            let mut m: Vec<_> = c.maps.iter().map(|(k, v)| (k, Arc::as_ptr(v))).collect();
            m.sort();
            m
        }
        self.engine == other.engine
            && self.options == other.options
            && self.base == other.base
            && self.directory == other.directory
            && self.rules == other.rules
            && self.pending.len() == other.pending.len()
            && maps(self) == maps(other)
    }
}

impl Eq for RewriteConfig {}

/// `over` laid on `base` in a per-directory merge (one line of
/// [`DirConfig::merge`](crate::pipeline::DirConfig::merge)).
pub fn merge_dir(base: &mut Option<Arc<RewriteConfig>>, over: &Option<Arc<RewriteConfig>>) {
    match (base.as_ref(), over) {
        (_, None) => {}
        (None, Some(o)) => *base = Some(o.clone()),
        (Some(b), Some(o)) => *base = Some(Arc::new(RewriteConfig::merge(b, o))),
    }
}

/// What a pass decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Action {
    /// No rule rewrote anything.
    #[default]
    None,
    /// Answer this status (`[F]` 403, `[G]` 410, `[R=4xx]`, 400 for a
    /// result that is not a path, 500 for a loop or a result too long).
    Status(u16),
    /// Answer a redirect to `location` (absolute, escaped).
    Redirect {
        /// The `Location`.
        location: String,
        /// 301, 302, 303, 307, 308, …
        status: u16,
    },
    /// Proxy the request to `url` (absolute, with its query).
    Proxy {
        /// The backend URL.
        url: String,
    },
    /// Server context: serve this file path (the document root already
    /// prefixed where Apache prefixes it).
    File {
        /// The file.
        path: String,
        /// The query string from now on.
        query: Option<String>,
    },
    /// Server context `[PT]`: map this URL path as if requested
    /// (aliases, the document root, locations).
    Uri {
        /// The URL path (decoded).
        path: String,
        /// The query string from now on.
        query: Option<String>,
    },
    /// Directory context: run the request again for this URL path.
    InternalRedirect {
        /// The URL path (decoded).
        path: String,
        /// The query string of the new request.
        query: Option<String>,
    },
}

/// What a pass decided, and what it asks the server to set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The decision.
    pub action: Action,
    /// `[E=…]`: environment variables to set (`Some`) or unset (`None`),
    /// in order.
    pub env: Vec<(String, Option<String>)>,
    /// `[CO=…]`: `Set-Cookie` values to add (also on error responses).
    pub cookies: Vec<String>,
    /// `[T=…]`: the content type to force.
    pub content_type: Option<String>,
    /// `[H=…]`: the handler to force.
    pub handler: Option<String>,
    /// Request headers the decision depended on, for `Vary`.
    pub vary: Vec<String>,
    /// `[END]` matched: no more rewriting for this request, not even
    /// after an internal redirect.
    pub end: bool,
    /// `[DPI]` (or a rewrite that replaced the file name): the path
    /// info from now on, when changed.
    pub path_info: Option<String>,
    /// The query string from now on, when the rules changed it but the
    /// action does not carry it (a directory rule that rewrote the file
    /// name to itself while changing the query: Apache keeps the new
    /// query and serves the file).
    pub query: Option<Option<String>>,
    /// Why a 500 or 400 was chosen, for the error log.
    pub error: Option<String>,
}

/// What a directory-context pass starts from.
#[derive(Debug, Clone, Copy)]
pub struct DirRequest<'a> {
    /// The request target as sent, or as the internal redirect that led
    /// here gave it (not decoded: `/a%3Fb?x=1`).
    pub unparsed_uri: &'a str,
    /// The file the URL mapped to (`r->filename`).
    pub filename: &'a str,
    /// The rest of the URL past it (`r->path_info`).
    pub path_info: &'a str,
    /// The query string.
    pub query: Option<&'a str>,
    /// Whether `Options FollowSymLinks` or `SymLinksIfOwnerMatch` is on
    /// here: mod_rewrite refuses to run (403) without either.
    pub symlinks_allowed: bool,
    /// The request's `LimitRequestLine` (a result longer than twice it
    /// is a 500).
    pub limit_request_line: usize,
}

/// What a server-context pass starts from.
#[derive(Debug, Clone, Copy)]
pub struct ServerRequest<'a> {
    /// The request target as sent, or as the internal redirect that led
    /// here gave it (not decoded: `/a%3Fb?x=1`).
    pub unparsed_uri: &'a str,
    /// The decoded URL path (`r->uri`).
    pub uri: &'a str,
    /// The query string.
    pub query: Option<&'a str>,
    /// The request's `LimitRequestLine`.
    pub limit_request_line: usize,
}

impl RewriteConfig {
    /// An empty server-context configuration.
    pub fn server() -> RewriteConfig {
        RewriteConfig::default()
    }

    /// An empty configuration for the directory `dir` (a trailing `/`
    /// is added when missing).
    pub fn directory(dir: &str) -> RewriteConfig {
        let mut d = dir.to_string();
        if !d.ends_with('/') {
            d.push('/');
        }
        RewriteConfig {
            directory: Some(d),
            ..RewriteConfig::default()
        }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    /// Whether the engine is on here (off unless some context said On).
    pub fn enabled(&self) -> bool {
        self.engine == Some(true)
    }

    /// `RewriteBase url` (directory context only).
    pub fn set_base(&mut self, url: &str) -> Result<(), String> {
        if self.directory.is_none() {
            return Err("RewriteBase: only valid in <Directory> and .htaccess".into());
        }
        if !url.starts_with('/') {
            return Err(format!(
                "RewriteBase {url}: the base must be a URL path starting with '/'"
            ));
        }
        self.base = Some(url.to_string());
        self.base_set = true;
        Ok(())
    }

    /// `RewriteOptions opt…` (added to those already given here).
    pub fn add_options(&mut self, words: &[String]) -> Result<(), String> {
        let mut o = self.options.unwrap_or_default();
        for w in words {
            match w.to_ascii_lowercase().as_str() {
                "inherit" => o.inherit = true,
                "inheritbefore" => o.inherit_before = true,
                "inheritdown" => o.inherit_down = true,
                "inheritdownbefore" => o.inherit_down_before = true,
                "ignoreinherit" => o.ignore_inherit = true,
                "allownoslash" => o.allow_no_slash = true,
                "allowanyuri" => o.allow_any_uri = true,
                "mergebase" => o.merge_base = true,
                "ignorecontextinfo" => o.ignore_context_info = true,
                "legacyprefixdocroot" | "longurloptimization" => {}
                m if m.starts_with("maxredirects=") => {
                    log::warn!("RewriteOptions: MaxRedirects is gone since Apache 2.2; LimitInternalRecursion bounds internal redirects");
                }
                _ => {
                    return Err(format!(
                        "RewriteOptions: unknown option '{w}' (Inherit, InheritBefore, InheritDown, InheritDownBefore, IgnoreInherit, AllowNoSlash, AllowAnyURI, MergeBase, IgnoreContextInfo)"
                    ))
                }
            }
        }
        self.options = Some(o);
        Ok(())
    }

    /// `RewriteCond …`: kept for the next `RewriteRule`.
    pub fn add_cond(&mut self, args: &[String]) -> Result<(), String> {
        self.pending.push(Cond::parse(args)?);
        Ok(())
    }

    /// `RewriteRule …`, with the conditions written since the last rule.
    pub fn add_rule(&mut self, args: &[String]) -> Result<(), String> {
        let mut rule = Rule::parse(args)?;
        rule.conds = std::mem::take(&mut self.pending);
        for c in &rule.conds {
            rule.text.push('\n');
            rule.text.push_str(&c.text);
        }
        self.rules.push(Arc::new(rule));
        Ok(())
    }

    /// How many `RewriteCond`s wait for a rule (Apache drops them
    /// silently; the loader may warn).
    pub fn dangling_conds(&self) -> usize {
        self.pending.len()
    }

    /// `RewriteMap name source` (server context), a file map's file
    /// read now (relative paths below `server_root`).
    pub fn add_map(&mut self, name: &str, source: &str, server_root: &Path) -> Result<(), String> {
        let source = if source.contains(':') && !source.starts_with('/') {
            source.to_string()
        } else {
            format!("txt:{source}")
        };
        let map = RewriteMap::parse(&source, server_root)?;
        self.maps.insert(name.to_string(), Arc::new(map));
        Ok(())
    }

    /// The configuration in effect where `over` is written inside (or
    /// below) `base`: engine and options inherited when not set, rules
    /// and maps inherited only with `Inherit`/`InheritBefore` (or the
    /// parent's `InheritDown…`), as Apache merges them.
    pub fn merge(base: &RewriteConfig, over: &RewriteConfig) -> RewriteConfig {
        let options = over.options.or(base.options);
        let o = options.unwrap_or_default();
        let b = base.options.unwrap_or_default();
        let after = o.inherit || (b.inherit_down && !o.ignore_inherit);
        let before = !after && (o.inherit_before || (b.inherit_down_before && !o.ignore_inherit));
        let (rules, maps) = if after {
            let mut maps = base.maps.clone();
            maps.extend(over.maps.iter().map(|(k, v)| (k.clone(), v.clone())));
            (
                over.rules.iter().chain(&base.rules).cloned().collect(),
                maps,
            )
        } else if before {
            let mut maps = over.maps.clone();
            maps.extend(base.maps.iter().map(|(k, v)| (k.clone(), v.clone())));
            (
                base.rules.iter().chain(&over.rules).cloned().collect(),
                maps,
            )
        } else {
            (over.rules.clone(), over.maps.clone())
        };
        let (base_url, base_set) = if o.merge_base && !over.base_set {
            (base.base.clone(), base.base_set)
        } else {
            (over.base.clone(), over.base_set)
        };
        RewriteConfig {
            engine: over.engine.or(base.engine),
            options,
            base: base_url,
            base_set,
            directory: over.directory.clone().or_else(|| base.directory.clone()),
            rules,
            pending: Vec::new(),
            maps,
        }
    }

    /// Runs the rules in server context (Apache's `translate_name`).
    /// `maps` are the server's `RewriteMap`s.
    pub fn server_pass(
        &self,
        vars: &dyn RequestVars,
        maps: &HashMap<String, Arc<RewriteMap>>,
        req: ServerRequest<'_>,
    ) -> Outcome {
        engine::server_pass(self, vars, maps, req)
    }

    /// Runs the rules in directory context (Apache's `fixups`).
    pub fn dir_pass(
        &self,
        vars: &dyn RequestVars,
        maps: &HashMap<String, Arc<RewriteMap>>,
        req: DirRequest<'_>,
    ) -> Outcome {
        engine::dir_pass(self, vars, maps, req)
    }
}

#[cfg(test)]
mod tests;
