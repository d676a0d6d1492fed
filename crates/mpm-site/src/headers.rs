//! mod_headers: `Header` and `RequestHeader`, parsed from their
//! arguments and applied to a response's or a request's header fields.
//!
//! `Header [always|onsuccess] action name [value] [replacement]
//! [early|env=[!]var|expr=…]`, the actions `set`, `append`, `add`,
//! `unset`, `merge`, `edit`, `edit*`, `echo`, `setifempty`, `note`;
//! `RequestHeader` the same but `echo` and `note` (as Apache's). Values are format strings:
//! `%%`, `%t` (`t=` and the request's time in microseconds since the
//! epoch), `%D` (`D=` and the microseconds since the request arrived),
//! `%{VAR}e` (the request's environment) and `%{VAR}s` (mod_ssl's
//! variables), each `(null)` when unset, as mod_headers writes it.
//!
//! Apache keeps two tables of response headers: the normal one
//! (`onsuccess`, the default), sent with successful answers (2xx, and 304,
//! which Apache sends without swapping its tables), and the error one
//! (`always`), sent with every answer, errors and redirects included. So
//! here an `onsuccess` rule applies to 2xx and 304 answers and an
//! `always` rule to all. (Apache applies `always` rules to the error table
//! even on a success; one table here means a header the handler set and
//! one an `always set` rule set are one field, not two.)
//!
//! `Header echo`'s expression matches names without regard to case (the
//! fields' names are kept in lower case; clients write `X-Trace`).
//!
//! `expr=` conditions are Apache expressions ([`crate::expr`]), compiled
//! when the configuration is read and evaluated per request (`resp('…')`
//! reads the response's headers as they were before the `Header` rules
//! ran). `note` copies a field's value into the request's notes, which
//! the access log's `%{name}n` reads ([`crate::access_log::Notes`]).

use std::time::SystemTime;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use regex::bytes::{Captures, Regex, RegexBuilder};

use crate::expr::Expr;
use crate::vars::RequestVars;

/// The most compiled memory a `Header` expression may take (the `regex`
/// crate's size limit): a configuration cannot make a huge automaton.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Which of Apache's response tables a `Header` rule works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `onsuccess` (the default): successful answers (2xx, 304).
    OnSuccess,
    /// `always`: every answer, errors and redirects too.
    Always,
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Replace every field of the name with the value.
    Set,
    /// Append `, value` to the field (set it when absent).
    Append,
    /// Add another field of the name.
    Add,
    /// Remove every field of the name.
    Unset,
    /// Append unless the value is already one of the field's
    /// comma-separated values.
    Merge,
    /// Replace the first match of the expression in each field.
    Edit,
    /// `edit*`: replace every match.
    EditAll,
    /// `Header echo regex`: copy the request's fields whose names match.
    Echo,
    /// Set only when no field of the name is there.
    SetIfEmpty,
    /// `note name notename`: the (first) field's value copied into the
    /// request's note `notename` (a format), for the log's `%{notename}n`
    /// (a header a later rule unsets can still be logged).
    Note,
}

/// When a rule applies besides its table.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Always.
    None,
    /// `early`: before the request is mapped to a handler (request
    /// headers) or before the other rules (response headers).
    Early,
    /// `env=var` (`negate: false`) or `env=!var`: the variable is (not) set.
    Env {
        /// The variable.
        name: String,
        /// `!`.
        negate: bool,
    },
    /// `expr=…`: an Apache expression ([`crate::expr`]) holds.
    Expr(Box<Expr>),
}

/// Conditions compare by what was written.
impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Condition::None, Condition::None) | (Condition::Early, Condition::Early) => true,
            (
                Condition::Env { name, negate },
                Condition::Env {
                    name: other_name,
                    negate: other_negate,
                },
            ) => name == other_name && negate == other_negate,
            (Condition::Expr(a), Condition::Expr(b)) => a.source() == b.source(),
            _ => false,
        }
    }
}
impl Eq for Condition {}

/// A piece of a value's format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// `%t`.
    Time,
    /// `%D`.
    Duration,
    /// `%{VAR}e`.
    Env(String),
    /// `%{VAR}s`.
    Ssl(String),
}

/// A value with its format specifiers, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format(Vec<Piece>);

impl Format {
    /// Parses `text`, refusing a `%` specifier mod_headers does not know.
    pub fn parse(text: &str) -> Result<Format, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let arg = if chars.peek() == Some(&'{') {
                chars.next();
                let mut arg = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => arg.push(c),
                        None => return Err(format!("'{text}': '%{{' without its closing '}}'")),
                    }
                }
                Some(arg)
            } else {
                None
            };
            let piece = match (chars.next(), arg) {
                (Some('%'), None) => {
                    literal.push('%');
                    continue;
                }
                (Some('t'), None) => Piece::Time,
                (Some('D'), None) => Piece::Duration,
                (Some('e'), Some(var)) => Piece::Env(var),
                (Some('s'), Some(var)) => Piece::Ssl(var),
                (Some(c), _) => {
                    return Err(format!(
                        "'{text}': unrecognized header format %{c} (known: %%, %t, %D, %{{VAR}}e, %{{VAR}}s)"
                    ))
                }
                (None, _) => return Err(format!("'{text}': '%' at the end (write %% for a percent sign)")),
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Format(pieces))
    }

    /// The value for one request.
    pub fn render(&self, ctx: &Context<'_>) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Time => {
                    let micros = ctx
                        .request_time
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_micros();
                    out.push_str(&format!("t={micros}"));
                }
                Piece::Duration => {
                    let micros = ctx
                        .now
                        .duration_since(ctx.request_time)
                        .unwrap_or_default()
                        .as_micros();
                    out.push_str(&format!("D={micros}"));
                }
                Piece::Env(var) => out.push_str((ctx.env)(var).as_deref().unwrap_or("(null)")),
                Piece::Ssl(var) => out.push_str((ctx.ssl)(var).as_deref().unwrap_or("(null)")),
            }
        }
        out
    }
}

/// What a rule's values are made from, for one request.
pub struct Context<'a> {
    /// The request's environment (`SetEnvIf`, `RewriteRule [E=…]`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// mod_ssl's variables (`HTTPS`, `SSL_PROTOCOL`…).
    pub ssl: &'a dyn Fn(&str) -> Option<String>,
    /// When the request arrived.
    pub request_time: SystemTime,
    /// Now.
    pub now: SystemTime,
    /// The request's headers (for `Header echo`).
    pub request_headers: &'a HeaderMap,
    /// The request as `expr=` conditions read it.
    pub vars: &'a dyn RequestVars,
    /// Where `Header note` puts a note: its name and value (`None`: the
    /// header is absent, the note unset).
    pub note: &'a dyn Fn(&str, Option<&str>),
}

/// One `Header` or `RequestHeader` line.
#[derive(Debug, Clone)]
pub struct HeaderRule {
    /// `always` or `onsuccess` (`RequestHeader`: unused, `OnSuccess`).
    pub table: Table,
    /// What it does.
    pub action: Action,
    /// The field it works on (`echo`: unused).
    pub name: HeaderName,
    /// `set`…: the value; `edit`: the replacement.
    pub value: Option<Format>,
    /// `edit`, `edit*`: the expression; `echo`: the names' expression.
    pub pattern: Option<Regex>,
    /// `early`, `env=`.
    pub condition: Condition,
}

/// Rules compare by what was written (an expression by its text).
impl PartialEq for HeaderRule {
    fn eq(&self, other: &Self) -> bool {
        self.table == other.table
            && self.action == other.action
            && self.name == other.name
            && self.value == other.value
            && self.pattern.as_ref().map(Regex::as_str) == other.pattern.as_ref().map(Regex::as_str)
            && self.condition == other.condition
    }
}
impl Eq for HeaderRule {}

/// Whether `args` are of `RequestHeader` (true) or `Header`.
fn directive(request: bool) -> &'static str {
    if request {
        "RequestHeader"
    } else {
        "Header"
    }
}

fn compile(pattern: &str, what: &str, case_insensitive: bool) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .case_insensitive(case_insensitive)
        .build()
        .map_err(|e| format!("{what}: '{pattern}' is not a valid regular expression: {e}"))
}

impl HeaderRule {
    /// Parses the arguments of a `Header` line (`request: false`) or a
    /// `RequestHeader` line; the error says what is wrong and how to
    /// write it.
    pub fn parse(args: &[&str], request: bool) -> Result<HeaderRule, String> {
        let name_of = directive(request);
        let usage = if request {
            "RequestHeader set|append|add|unset|merge|edit|edit*|setifempty name [value] [replacement] [early|env=[!]var]"
        } else {
            "Header [always|onsuccess] set|append|add|unset|merge|edit|edit*|echo|setifempty|note name [value] [replacement] [early|env=[!]var]"
        };
        let mut args = args.iter().copied().peekable();
        let mut table = Table::OnSuccess;
        if !request {
            match args.peek().map(|a| a.to_ascii_lowercase()).as_deref() {
                Some("always") => {
                    table = Table::Always;
                    args.next();
                }
                Some("onsuccess") => {
                    args.next();
                }
                _ => {}
            }
        }
        let action_word = args
            .next()
            .ok_or_else(|| format!("{name_of} needs an action and a header name: {usage}"))?;
        let action = match action_word.to_ascii_lowercase().as_str() {
            "set" => Action::Set,
            "append" => Action::Append,
            "add" => Action::Add,
            "unset" => Action::Unset,
            "merge" => Action::Merge,
            "edit" => Action::Edit,
            "edit*" => Action::EditAll,
            "echo" if !request => Action::Echo,
            "setifempty" => Action::SetIfEmpty,
            "note" if !request => Action::Note,
            "note" => {
                return Err(
                    "RequestHeader does not support the 'note' action (as Apache: only Header notes a response header)"
                        .into(),
                )
            }
            other => return Err(format!("{name_of}: unknown action '{other}'; {usage}")),
        };
        let header = args
            .next()
            .ok_or_else(|| format!("{name_of} {action_word} needs a header name: {usage}"))?;
        let (name, mut pattern) = if action == Action::Echo {
            (
                HeaderName::from_static("x-echo"),
                // Names are kept in lower case; Apache matches them as the
                // client wrote them, usually `X-Trace`: matching without
                // case finds what an Apache user expects.
                Some(compile(header, "Header echo", true)?),
            )
        } else {
            let name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("{name_of}: '{header}' is not a valid header name"))?;
            (name, None)
        };
        let rest: Vec<&str> = args.collect();
        // The last argument may be the condition.
        let (values, condition) = match rest.split_last() {
            Some((last, before)) if is_condition(last) => (before, parse_condition(last, name_of)?),
            _ => (&rest[..], Condition::None),
        };
        let wanted = match action {
            Action::Unset | Action::Echo => 0,
            Action::Edit | Action::EditAll => 2,
            _ => 1,
        };
        if values.len() != wanted {
            return Err(format!(
                "{name_of} {action_word} takes {} after the header name, found {}: {usage}",
                match wanted {
                    0 => "no value",
                    1 => "one value",
                    _ => "an expression and a replacement",
                },
                values.len()
            ));
        }
        let value = match action {
            Action::Edit | Action::EditAll => {
                pattern = Some(compile(
                    values[0],
                    &format!("{name_of} {action_word}"),
                    false,
                )?);
                Some(Format::parse(values[1]).map_err(|e| format!("{name_of}: {e}"))?)
            }
            Action::Unset | Action::Echo => None,
            _ => Some(Format::parse(values[0]).map_err(|e| format!("{name_of}: {e}"))?),
        };
        Ok(HeaderRule {
            table,
            action,
            name,
            value,
            pattern,
            condition,
        })
    }

    /// Whether the rule's condition lets it apply.
    fn allowed(&self, ctx: &Context<'_>) -> bool {
        match &self.condition {
            Condition::None | Condition::Early => true,
            Condition::Env { name, negate } => (ctx.env)(name).is_some() != *negate,
            Condition::Expr(expr) => expr.eval(ctx.vars),
        }
    }

    /// Applies the rule to `headers` (`echo` copies from the request's).
    pub fn apply(&self, headers: &mut HeaderMap, ctx: &Context<'_>) {
        if !self.allowed(ctx) {
            return;
        }
        let value = || {
            let text = self
                .value
                .as_ref()
                .map(|f| f.render(ctx))
                .unwrap_or_default();
            match HeaderValue::try_from(text) {
                Ok(value) => Some(value),
                Err(_) => {
                    log::warn!(
                        "mod_headers: the value for {} holds a character a header cannot carry; not set",
                        self.name
                    );
                    None
                }
            }
        };
        match self.action {
            Action::Set => {
                if let Some(v) = value() {
                    headers.insert(&self.name, v);
                }
            }
            Action::Add => {
                if let Some(v) = value() {
                    headers.append(&self.name, v);
                }
            }
            Action::SetIfEmpty => {
                if !headers.contains_key(&self.name) {
                    if let Some(v) = value() {
                        headers.insert(&self.name, v);
                    }
                }
            }
            Action::Unset => {
                headers.remove(&self.name);
            }
            Action::Append | Action::Merge => {
                let Some(new) = value() else { return };
                let existing: Vec<&[u8]> = headers
                    .get_all(&self.name)
                    .iter()
                    .map(HeaderValue::as_bytes)
                    .collect();
                if existing.is_empty() {
                    headers.insert(&self.name, new);
                    return;
                }
                if self.action == Action::Merge
                    && existing.iter().any(|v| {
                        v.split(|&b| b == b',')
                            .any(|item| item.trim_ascii() == new.as_bytes())
                    })
                {
                    return;
                }
                let mut joined = existing.join(&b", "[..]);
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(new.as_bytes());
                if let Ok(v) = HeaderValue::from_bytes(&joined) {
                    headers.insert(&self.name, v);
                }
            }
            Action::Edit | Action::EditAll => {
                let (Some(pattern), Some(replacement)) = (&self.pattern, &self.value) else {
                    return;
                };
                let replacement = replacement.render(ctx);
                let edited: Vec<HeaderValue> = headers
                    .get_all(&self.name)
                    .iter()
                    .filter_map(|v| {
                        let limit = if self.action == Action::Edit { 1 } else { 0 };
                        let out = pattern.replacen(v.as_bytes(), limit, |caps: &Captures<'_>| {
                            substitute(&replacement, caps)
                        });
                        HeaderValue::from_bytes(&out).ok()
                    })
                    .collect();
                if edited.is_empty() {
                    return;
                }
                headers.remove(&self.name);
                for v in edited {
                    headers.append(&self.name, v);
                }
            }
            Action::Note => {
                let name = self
                    .value
                    .as_ref()
                    .map(|f| f.render(ctx))
                    .unwrap_or_default();
                let value = headers
                    .get(&self.name)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()));
                (ctx.note)(&name, value.as_deref());
            }
            Action::Echo => {
                let Some(pattern) = &self.pattern else { return };
                for (name, value) in ctx.request_headers {
                    if pattern.is_match(name.as_str().as_bytes()) {
                        headers.append(name, value.clone());
                    }
                }
            }
        }
    }
}

/// `early`, `env=…` or `expr=…`.
fn is_condition(arg: &str) -> bool {
    arg.eq_ignore_ascii_case("early")
        || arg.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("env="))
        || arg
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("expr="))
}

fn parse_condition(arg: &str, name_of: &str) -> Result<Condition, String> {
    if arg.eq_ignore_ascii_case("early") {
        return Ok(Condition::Early);
    }
    if let Some(var) = arg
        .get(4..)
        .filter(|_| arg[..4].eq_ignore_ascii_case("env="))
    {
        let (negate, var) = match var.strip_prefix('!') {
            Some(v) => (true, v),
            None => (false, var),
        };
        if var.is_empty() {
            return Err(format!(
                "{name_of}: env= needs a variable name (env=VAR or env=!VAR)"
            ));
        }
        return Ok(Condition::Env {
            name: var.to_string(),
            negate,
        });
    }
    let text = &arg[5..];
    Expr::parse(text)
        .map(|expr| Condition::Expr(Box::new(expr)))
        .map_err(|e| format!("{name_of} ... expr={text}: {e}"))
}

/// Apache's `ap_pregsub`: `$0`…`$9` and `&` are the match's groups,
/// `\` makes the next character literal.
fn substitute(replacement: &str, caps: &Captures<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(replacement.len());
    let mut bytes = replacement.bytes();
    while let Some(c) = bytes.next() {
        let group = match c {
            b'&' => Some(0),
            b'$' => match bytes.clone().next() {
                Some(d @ b'0'..=b'9') => {
                    bytes.next();
                    Some(usize::from(d - b'0'))
                }
                _ => None,
            },
            _ => None,
        };
        match group {
            Some(n) => {
                if let Some(m) = caps.get(n) {
                    out.extend_from_slice(m.as_bytes());
                }
            }
            None if c == b'\\' => {
                if let Some(next) = bytes.next() {
                    out.push(next);
                } else {
                    out.push(c);
                }
            }
            None => out.push(c),
        }
    }
    out
}

/// A virtual host's or a section's `Header` and `RequestHeader` rules,
/// in the order Apache applies them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadersConfig {
    /// `Header` lines, in order.
    pub response: Vec<HeaderRule>,
    /// `RequestHeader` lines, in order.
    pub request: Vec<HeaderRule>,
}

impl HeadersConfig {
    /// True when there is no rule.
    pub fn is_empty(&self) -> bool {
        self.response.is_empty() && self.request.is_empty()
    }

    /// This configuration's rules, then `add`'s, as mod_headers merges a
    /// section into its parent.
    pub fn merged(&self, add: &HeadersConfig) -> HeadersConfig {
        HeadersConfig {
            response: self.response.iter().chain(&add.response).cloned().collect(),
            request: self.request.iter().chain(&add.request).cloned().collect(),
        }
    }

    /// Applies the `RequestHeader` rules to the request's `headers`:
    /// `early` ones when `early` is true (before the request is mapped),
    /// the others when false (before the handler runs).
    pub fn apply_request(&self, headers: &mut HeaderMap, early: bool, ctx: &Context<'_>) {
        for rule in &self.request {
            if matches!(rule.condition, Condition::Early) == early {
                rule.apply(headers, ctx);
            }
        }
    }

    /// Applies the `Header` rules to an answer with `status`: `early`
    /// ones first, then the others, each in configuration order;
    /// `onsuccess` rules only for 2xx and 304.
    pub fn apply_response(
        &self,
        status: http::StatusCode,
        headers: &mut HeaderMap,
        ctx: &Context<'_>,
    ) {
        let success = status.is_success() || status == http::StatusCode::NOT_MODIFIED;
        for early in [true, false] {
            for rule in &self.response {
                if matches!(rule.condition, Condition::Early) != early {
                    continue;
                }
                if rule.table == Table::Always || success {
                    rule.apply(headers, ctx);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
