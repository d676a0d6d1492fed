//! Running a rule list against one request: Apache's
//! `apply_rewrite_list`, `apply_rewrite_rule`, `apply_rewrite_cond`,
//! `do_expand` and what `hook_uri2file` / `hook_fixup` make of the
//! result, over a [`RequestVars`] instead of a `request_rec`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{
    Action, CondTest, DirRequest, Fast, Outcome, Piece, RewriteConfig, RewriteMap, Rule, RuleFlags,
    ServerRequest, Template,
};
use crate::rewrite::Cond;
use crate::utc_time::UtcTime;
use crate::vars::{self, FileFacts, RequestVars};

mod cond;
mod finish;
mod text;

use text::*;

type Maps = HashMap<String, Arc<RewriteMap>>;

/// A match's groups (`$0`…`$9` of a rule, `%0`…`%9` of a condition) as
/// byte ranges into the text matched: nothing is copied until a
/// template uses a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Groups([Option<(usize, usize)>; 10]);

/// A match: the text matched and its groups.
#[derive(Clone, Copy)]
struct Caps<'s> {
    text: &'s str,
    groups: Groups,
}

impl<'s> Caps<'s> {
    /// Group `n`'s text, when it took part in the match.
    fn group(&self, n: usize) -> Option<&'s str> {
        let (start, end) = (*self.groups.0.get(n)?)?;
        self.text.get(start..end)
    }
}

/// How a rule list ended (Apache's `ACTION_*`).
enum ListEnd {
    Unchanged,
    Changed { no_escape: bool },
    Status,
}

/// The state one pass carries from rule to rule (the fields of
/// `request_rec` mod_rewrite changes).
struct Pass<'a> {
    vars: &'a dyn RequestVars,
    unparsed_uri: &'a str,
    maps: &'a Maps,
    perdir: Option<&'a str>,
    filename: String,
    path_info: Option<&'a str>,
    query: Option<String>,
    status: u16,
    uri_reduced: bool,
    limit: usize,
    out: Outcome,
    cookie_names: Vec<String>,
    /// The last file the conditions looked at and what it is: WordPress's
    /// `%{REQUEST_FILENAME} !-f` and `!-d` share one `stat`.
    looked: RefCell<Option<(String, Option<FileFacts>)>>,
    /// The text each rule's pattern is matched against, one buffer for
    /// the pass ([`Pass::match_target`]).
    target: String,
}

pub(super) fn server_pass(
    cfg: &RewriteConfig,
    vars: &dyn RequestVars,
    maps: &Maps,
    req: ServerRequest<'_>,
) -> Outcome {
    if !cfg.enabled() || cfg.rules.is_empty() {
        return Outcome::default();
    }
    let options = cfg.options.unwrap_or_default();
    if !options.allow_any_uri && !req.uri.starts_with('/') {
        return Outcome::default();
    }
    let mut pass = Pass::new(
        vars,
        maps,
        req.unparsed_uri,
        None,
        req.uri,
        None,
        req.query,
        req.limit_request_line,
    );
    let end = pass.apply_list(&cfg.rules);
    let action = match end {
        ListEnd::Unchanged => Action::None,
        ListEnd::Status => Action::Status(pass.status),
        ListEnd::Changed { no_escape } => {
            let f = std::mem::take(&mut pass.filename);
            if let Some(url) = f.strip_prefix("proxy:") {
                proxy_action(url, pass.query.as_deref(), no_escape)
            } else if let Some(skip) = absolute_uri(&f).map(|a| a.0) {
                redirect_action(&f, skip, &pass, req.query, no_escape)
            } else if let Some(path) = f.strip_prefix("passthrough:") {
                Action::Uri {
                    path: path.to_string(),
                    query: pass.query.clone(),
                }
            } else if !f.starts_with('/') {
                pass.out.error = Some(format!(
                    "mod_rewrite: the rewritten path '{f}' is neither a local path nor a URL; make the substitution start with '/'"
                ));
                Action::Status(400)
            } else {
                let path = if pass.uri_reduced || !prefix_exists(vars, &f) {
                    let root = vars::lookup(vars, "DOCUMENT_ROOT");
                    format!("{}{f}", root.trim_end_matches('/'))
                } else {
                    f
                };
                Action::File {
                    path,
                    query: pass.query.clone(),
                }
            }
        }
    };
    pass.out.action = action;
    pass.out
}

pub(super) fn dir_pass(
    cfg: &RewriteConfig,
    vars: &dyn RequestVars,
    maps: &Maps,
    req: DirRequest<'_>,
) -> Outcome {
    let Some(dir) = cfg.directory.as_deref() else {
        return Outcome::default();
    };
    if !cfg.enabled() || cfg.rules.is_empty() {
        return Outcome::default();
    }
    let options = cfg.options.unwrap_or_default();
    // The directory named without its slash is mod_dir's to redirect.
    if !options.allow_no_slash && dir.strip_suffix('/') == Some(req.filename) {
        return Outcome::default();
    }
    if !req.symlinks_allowed {
        return Outcome {
            action: Action::Status(403),
            error: Some(format!(
                "Options FollowSymLinks and SymLinksIfOwnerMatch are both off, so the RewriteRule directive is also forbidden due to its similar ability to circumvent directory restrictions: {}",
                req.filename
            )),
            ..Outcome::default()
        };
    }
    let mut pass = Pass::new(
        vars,
        maps,
        req.unparsed_uri,
        Some(dir),
        req.filename,
        Some(req.path_info),
        req.query,
        req.limit_request_line,
    );
    let end = pass.apply_list(&cfg.rules);
    let action = match end {
        ListEnd::Unchanged => Action::None,
        ListEnd::Status => Action::Status(pass.status),
        ListEnd::Changed { no_escape } => {
            let mut f = std::mem::take(&mut pass.filename);
            if let Some(url) = f.strip_prefix("proxy:") {
                let mut url = url.to_string();
                if let Some(q) = &pass.query {
                    url.push('?');
                    url.push_str(q);
                }
                Action::Proxy { url }
            } else if let Some(skip) = absolute_uri(&f).map(|a| a.0) {
                if let Some(base) = cfg.base.as_deref() {
                    // Replace the directory by the base URL after the host.
                    if let Some(slash) = f[skip..].find('/').map(|i| skip + i + 1) {
                        if slash < f.len() {
                            let rest = &f[slash..];
                            let replaced = subst_prefix_path(
                                rest,
                                dir.strip_prefix('/').unwrap_or(dir),
                                base.get(1..).unwrap_or(""),
                            );
                            if let Some(replaced) = replaced.filter(|r| r != rest) {
                                f = format!("{}{replaced}", &f[..slash]);
                            }
                        }
                    }
                }
                redirect_action(&f, skip, &pass, req.query, no_escape)
            } else {
                if let Some(rest) = f.strip_prefix("passthrough:") {
                    f = rest.to_string();
                }
                if !f.starts_with('/') {
                    pass.out.error = Some(format!(
                        "mod_rewrite: the rewritten path '{f}' in {dir} is neither a local path nor a URL"
                    ));
                    Action::Status(400)
                } else if f == req.filename {
                    // Rewritten to where it started: no internal redirect
                    // (that would loop), but the query string stays changed.
                    if pass.query.as_deref() != req.query {
                        pass.out.query = Some(pass.query.clone());
                    }
                    Action::None
                } else {
                    // The directory (or document root) before the path
                    // replaced by the base; unchanged, the context's.
                    let changed = if let Some(base) = cfg.base.as_deref() {
                        let replaced = subst_prefix_path(&f, dir, base);
                        replace_if_changed(&mut f, replaced)
                    } else {
                        let root = vars::lookup(vars, "DOCUMENT_ROOT");
                        let root = root.trim_end_matches('/');
                        if !root.is_empty()
                            && f.starts_with(root)
                            && f[root.len()..].starts_with('/')
                        {
                            f.drain(..root.len());
                            true
                        } else {
                            false
                        }
                    };
                    if !changed && !options.ignore_context_info {
                        let ctx_prefix = vars::lookup(vars, "CONTEXT_PREFIX");
                        if !ctx_prefix.is_empty() {
                            let ctx_root = vars::lookup(vars, "CONTEXT_DOCUMENT_ROOT");
                            if !ctx_root.is_empty() {
                                let replaced = subst_prefix_path(&f, &ctx_root, &ctx_prefix);
                                replace_if_changed(&mut f, replaced);
                            }
                        }
                    }
                    Action::InternalRedirect {
                        path: f,
                        query: pass.query.clone(),
                    }
                }
            }
        }
    };
    pass.out.action = action;
    pass.out
}

/// The request as the rules see it mid-pass: the file name, query
/// string, path info and environment as the rules so far changed them,
/// and a record of the request headers read (for `Vary`).
struct Overlay<'p, 'a> {
    pass: &'p Pass<'a>,
    seen: RefCell<Vec<String>>,
}

impl RequestVars for Overlay<'_, '_> {
    fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        let p = self.pass;
        match &*vars::upper(name) {
            "REQUEST_FILENAME" | "SCRIPT_FILENAME" => Some(Cow::Borrowed(p.filename.as_str())),
            "QUERY_STRING" => p.query.as_deref().map(Cow::Borrowed),
            "PATH_INFO" if p.perdir.is_some() => p.path_info.map(Cow::Borrowed),
            // Headers go through `header`, so they are seen for `Vary`.
            n if n.starts_with("HTTP_") => None,
            _ => p.vars.var(name),
        }
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        let v = self.pass.vars.header(name);
        if v.is_some() && !name.eq_ignore_ascii_case("host") {
            let mut seen = self.seen.borrow_mut();
            if !seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                seen.push(name.to_string());
            }
        }
        v
    }

    fn resp_header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.pass.vars.resp_header(name)
    }

    fn env(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.pass.out.env.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => v.as_deref().map(Cow::Borrowed),
            None => self.pass.vars.env(name),
        }
    }

    fn file(&self, path: &str) -> Option<FileFacts> {
        let mut looked = self.pass.looked.borrow_mut();
        if let Some((last, facts)) = looked.as_ref() {
            if last == path {
                return *facts;
            }
        }
        let facts = self.pass.vars.file(path);
        *looked = Some((path.to_string(), facts));
        facts
    }

    fn subrequest_ok(&self, target: &str, is_url: bool) -> bool {
        self.pass.vars.subrequest_ok(target, is_url)
    }

    fn now(&self) -> SystemTime {
        self.pass.vars.now()
    }
}

impl<'a> Pass<'a> {
    /// A pass from the request's file name (the URL path in server
    /// context), path info and query.
    #[allow(clippy::too_many_arguments)]
    fn new(
        vars: &'a dyn RequestVars,
        maps: &'a Maps,
        unparsed_uri: &'a str,
        perdir: Option<&'a str>,
        filename: &str,
        path_info: Option<&'a str>,
        query: Option<&str>,
        limit: usize,
    ) -> Pass<'a> {
        Pass {
            vars,
            unparsed_uri,
            maps,
            perdir,
            filename: filename.to_string(),
            path_info,
            query: query.map(str::to_string),
            status: 0,
            uri_reduced: false,
            limit,
            out: Outcome::default(),
            cookie_names: Vec::new(),
            looked: RefCell::new(None),
            target: String::new(),
        }
    }

    fn overlay(&self) -> Overlay<'_, 'a> {
        Overlay {
            pass: self,
            seen: RefCell::new(Vec::new()),
        }
    }

    fn apply_list(&mut self, rules: &[Arc<Rule>]) -> ListEnd {
        let mut changed: Option<bool> = None;
        let mut round: u32 = 1;
        'rounds: loop {
            let mut i = 0;
            while i < rules.len() {
                let rule = &rules[i];
                let Ok(applied) = self.apply_rule(rule) else {
                    return ListEnd::Status;
                };
                let Some(substituted) = applied else {
                    // A failed rule skips the rules chained to it.
                    while i < rules.len() && rules[i].flags.chain {
                        i += 1;
                    }
                    i += 1;
                    continue;
                };
                if self.filename.len() > 2 * self.limit {
                    self.out.error = Some(format!(
                        "RewriteRule '{}' and URI '{}' exceeded maximum length ({})",
                        rule.pattern,
                        self.filename,
                        2 * self.limit
                    ));
                    self.status = 500;
                    return ListEnd::Status;
                }
                let f = &rule.flags;
                if f.status.is_some() {
                    return ListEnd::Status;
                }
                if substituted {
                    changed = Some(f.no_escape);
                }
                if f.passthrough {
                    self.filename = format!("passthrough:{}", self.filename);
                    changed = Some(false);
                    break 'rounds;
                }
                if f.end {
                    self.out.end = true;
                    break 'rounds;
                }
                if f.proxy || f.last {
                    break 'rounds;
                }
                if f.next {
                    round += 1;
                    if round >= f.max_rounds {
                        self.out.error = Some(format!(
                            "RewriteRule '{}' and URI '{}' exceeded maximum number of rounds ({}) via the [N] flag",
                            rule.pattern, self.filename, f.max_rounds
                        ));
                        self.status = 500;
                        return ListEnd::Status;
                    }
                    continue 'rounds;
                }
                i += 1 + f.skip;
            }
            break;
        }
        match changed {
            None => ListEnd::Unchanged,
            Some(no_escape) => ListEnd::Changed { no_escape },
        }
    }

    /// What the rule's pattern is matched against, written into `out`:
    /// the file name (with the path info and without the directory, in
    /// directory context).
    fn match_target(&self, out: &mut String) {
        out.clear();
        let Some(dir) = self.perdir else {
            out.push_str(&self.filename);
            return;
        };
        let pi = self.path_info.unwrap_or("");
        // Whether the file name followed by the path info starts with
        // `prefix`.
        let starts = |prefix: &str| {
            let (f, p) = (self.filename.as_bytes(), prefix.as_bytes());
            if f.len() >= p.len() {
                f.starts_with(p)
            } else {
                p.starts_with(f) && pi.as_bytes().starts_with(&p[f.len()..])
            }
        };
        let strip = !starts("proxy:") && starts(dir);
        let skip = if strip { dir.len() } else { 0 };
        if skip <= self.filename.len() {
            out.push_str(&self.filename[skip..]);
            out.push_str(pi);
        } else {
            out.push_str(&pi[skip - self.filename.len()..]);
        }
    }

    /// Applies one rule: `None` when it did not match, `Some(true)` when
    /// it substituted, `Some(false)` for a match without substitution;
    /// `Err` when it refused the request (the status is set).
    fn apply_rule(&mut self, rule: &Rule) -> Result<Option<bool>, ()> {
        // The pass's target buffer, taken while the rule runs: its
        // captures point into it as the rule changes the pass.
        let mut target = std::mem::take(&mut self.target);
        self.match_target(&mut target);
        let applied = self.apply_rule_to(rule, &target);
        self.target = target;
        applied
    }

    /// [`Pass::apply_rule`] with the rule's match target `target`.
    fn apply_rule_to(&mut self, rule: &Rule, target: &str) -> Result<Option<bool>, ()> {
        let groups = if rule.negate {
            let hit = match (&rule.fast, target.contains('\n')) {
                (Some(fast), false) => fast_match(fast, target).is_some(),
                _ => rule.regex.is_match(target),
            };
            if hit {
                return Ok(None);
            }
            Groups::default()
        } else {
            let found = match (&rule.fast, target.contains('\n')) {
                (Some(fast), false) => fast_match(fast, target),
                _ => matched(&rule.regex, target),
            };
            match found {
                Some(groups) => groups,
                None => return Ok(None),
            }
        };
        let rule_caps = Caps {
            text: target,
            groups,
        };
        // The last condition that captured: its input and groups.
        let mut cond_text = String::new();
        let mut cond_groups = Groups::default();
        let mut vary: Vec<String> = Vec::new();
        let conds = &rule.conds;
        let mut i = 0;
        while i < conds.len() {
            let c = &conds[i];
            let (rc, seen) = self.apply_cond(c, &rule_caps, &mut cond_text, &mut cond_groups);
            let seen = if c.no_vary { Vec::new() } else { seen };
            if c.or_next {
                if !rc {
                    i += 1;
                    continue;
                }
                while i < conds.len() && conds[i].or_next {
                    i += 1;
                }
            } else if !rc {
                return Ok(None);
            }
            vary.extend(seen);
            i += 1;
        }
        for v in vary {
            if !self.out.vary.iter().any(|s| s.eq_ignore_ascii_case(&v)) {
                self.out.vary.push(v);
            }
        }
        let cond_caps = Caps {
            text: &cond_text,
            groups: cond_groups,
        };
        let f = &rule.flags;
        let newuri = match (&rule.subst, f.status) {
            (Some(t), None) => Some(self.expand(t, &rule_caps, &cond_caps, Some(f))),
            _ => None,
        };
        for e in &f.env {
            let mut text = self.expand(e, &rule_caps, &cond_caps, None);
            let entry = if let Some(name) = text.strip_prefix('!') {
                (name.to_string(), None)
            } else if let Some(colon) = text.find(':') {
                let name = text[..colon].to_string();
                text.drain(..=colon);
                (name, Some(text))
            } else {
                (text, Some(String::new()))
            };
            self.out.env.push(entry);
        }
        for co in &f.cookies {
            let text = self.expand(co, &rule_caps, &cond_caps, None);
            self.add_cookie(&text);
        }
        let Some(newuri) = newuri else {
            self.force_type_handler(f, &rule_caps, &cond_caps);
            if let Some(status) = f.status {
                self.status = status;
            }
            return Ok(Some(false));
        };
        // Apache 2.4.60+ (CVE-2024-38474): a `?` produced from a request
        // that had an encoded one (`%3f`) is refused unless the rule says
        // [UnsafeAllow3F].
        if !f.allow_3f
            && newuri.contains('?')
            && self.unparsed_uri.to_ascii_lowercase().contains("%3f")
        {
            self.out.error = Some(format!(
                "Unsafe URL with %3f URL rewritten without UnsafeAllow3F (rule '{}')",
                rule.pattern
            ));
            self.status = 403;
            return Err(());
        }
        self.filename = newuri;
        if self.perdir.is_some() && f.discard_path_info {
            self.path_info = None;
            self.out.path_info = Some(String::new());
        }
        self.split_query(f);
        // Apache 2.4.60+: a query made with spaces or control characters
        // is refused.
        if self
            .query
            .as_deref()
            .is_some_and(|q| q.bytes().any(|b| b <= b' ' || b == 0x7f))
        {
            self.out.error = Some(format!(
                "Rewritten query string contains control characters or spaces (rule '{}')",
                rule.pattern
            ));
            self.status = 403;
            return Err(());
        }
        if let Some(dir) = self.perdir {
            if !self.filename.starts_with('/') && absolute_uri(&self.filename).is_none() {
                self.filename = format!("{dir}{}", self.filename);
            }
        }
        if f.proxy {
            if self.perdir.is_some() && !f.no_escape {
                self.filename = vars::escape_path(&self.filename);
            }
            self.fully_qualify();
            self.filename = format!("proxy:{}", self.filename);
            return Ok(Some(true));
        }
        if let Some(code) = f.redirect {
            self.fully_qualify();
            self.status = code;
            return Ok(Some(true));
        }
        self.reduce_uri();
        if absolute_uri(&self.filename).is_some() {
            self.status = 302;
            return Ok(Some(true));
        }
        self.force_type_handler(f, &rule_caps, &cond_caps);
        Ok(Some(true))
    }

    fn force_type_handler(&mut self, f: &RuleFlags, rule_caps: &Caps<'_>, cond_caps: &Caps<'_>) {
        if let Some(t) = &f.content_type {
            let v = self
                .expand(t, rule_caps, cond_caps, Some(f))
                .to_ascii_lowercase();
            if !v.is_empty() {
                self.out.content_type = Some(v);
            }
        }
        if let Some(t) = &f.handler {
            let v = self
                .expand(t, rule_caps, cond_caps, Some(f))
                .to_ascii_lowercase();
            if !v.is_empty() {
                self.out.handler = Some(v);
            }
        }
    }

    /// Apache's `splitout_queryargs`: a `?` in the result starts the new
    /// query string (`[QSA]` appends the old one, `[QSD]` drops it,
    /// `[QSL]` splits at the last `?`).
    fn split_query(&mut self, f: &RuleFlags) {
        if let Some((_, false)) = absolute_uri(&self.filename) {
            self.query = None;
            return;
        }
        if f.qs_discard {
            self.query = None;
        }
        let at = if f.qs_last {
            self.filename.rfind('?')
        } else {
            self.filename.find('?')
        };
        let Some(at) = at else {
            return;
        };
        let q = self.filename[at + 1..].to_string();
        self.filename.truncate(at);
        if f.qs_append {
            if !q.is_empty() {
                self.query = Some(match self.query.take() {
                    Some(old) => format!("{q}&{old}"),
                    None => q,
                });
            }
        } else {
            self.query = Some(q);
        }
        if let Some(args) = &mut self.query {
            if args.ends_with('&') {
                args.pop();
            }
            if args.is_empty() {
                self.query = None;
            }
        }
    }
}
