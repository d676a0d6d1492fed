//! `RewriteCond` and `RewriteRule` lines into [`Cond`] and [`Rule`]:
//! patterns compiled (PCRE syntax on the `regex` crate, [`crate::pcre`]),
//! substitutions split into [`Template`]s, flags checked. Every error
//! says which argument is wrong and what would be right; the caller adds
//! the file and line.

use regex::Regex;

use super::{CondTest, Fast, Piece, Rule, RuleFlags, Template};
use crate::expr::Expr;

/// One `RewriteCond TestString CondPattern [flags]`.
#[derive(Debug, Clone)]
pub struct Cond {
    pub(super) text: String,
    pub(super) test: Template,
    pub(super) kind: CondTest,
    pub(super) negate: bool,
    pub(super) nocase: bool,
    pub(super) or_next: bool,
    pub(super) no_vary: bool,
}

/// The most rounds a `[N]` rule may start before the request is
/// answered 500 (mod_rewrite's default since 2.4.8).
pub const DEFAULT_MAX_ROUNDS: u32 = 10_000;

impl Cond {
    /// Parses the arguments of a `RewriteCond` line.
    pub fn parse(args: &[String]) -> Result<Cond, String> {
        let (test, pattern, flags) = match args {
            [t, p] => (t, p, None),
            [t, p, f] => (t, p, Some(f)),
            _ => {
                return Err(format!(
                    "RewriteCond takes a test string, a condition pattern and optional [flags], not {} argument(s)",
                    args.len()
                ))
            }
        };
        let mut cond = Cond {
            text: args.join(" "),
            test: Template::parse(test)?,
            kind: CondTest::Regex(Box::new(empty_regex())),
            negate: false,
            nocase: false,
            or_next: false,
            no_vary: false,
        };
        if let Some(flags) = flags {
            for flag in flag_list(flags)? {
                match flag.to_ascii_lowercase().as_str() {
                    "nc" | "nocase" => cond.nocase = true,
                    "or" | "ornext" => cond.or_next = true,
                    "nv" | "novary" => cond.no_vary = true,
                    _ => {
                        return Err(format!(
                            "RewriteCond: unknown flag '{flag}' (known: NC, OR, NV)"
                        ))
                    }
                }
            }
        }
        if test == "expr" {
            let e =
                Expr::parse(pattern).map_err(|e| format!("RewriteCond expr '{pattern}': {e}"))?;
            cond.kind = CondTest::Expr(Box::new(e));
            return Ok(cond);
        }
        let mut p = pattern.as_str();
        if let Some(rest) = p.strip_prefix('!') {
            cond.negate = true;
            p = rest;
        }
        cond.kind = if let Some(rest) = p.strip_prefix("<=") {
            CondTest::StrLe(unquote(rest))
        } else if let Some(rest) = p.strip_prefix(">=") {
            CondTest::StrGe(unquote(rest))
        } else if let Some(rest) = p.strip_prefix('<') {
            CondTest::StrLt(unquote(rest))
        } else if let Some(rest) = p.strip_prefix('>') {
            CondTest::StrGt(unquote(rest))
        } else if let Some(rest) = p.strip_prefix('=') {
            CondTest::StrEq(unquote(rest))
        } else if let Some(test) = file_or_int_test(p)? {
            test
        } else {
            let re =
                crate::pcre::compile(p, cond.nocase).map_err(|e| format!("RewriteCond: {e}"))?;
            CondTest::Regex(Box::new(re))
        };
        Ok(cond)
    }
}

/// `=""` compares with the empty string, as Apache's documentation shows.
fn unquote(s: &str) -> String {
    if s == "\"\"" {
        String::new()
    } else {
        s.to_string()
    }
}

fn empty_regex() -> Regex {
    // The empty pattern always compiles; it is a placeholder until the
    // real test is known.
    Regex::new("").unwrap_or_else(|_| unreachable!("the empty regex compiles"))
}

fn file_or_int_test(p: &str) -> Result<Option<CondTest>, String> {
    // As mod_rewrite reads it: `-X` alone is a file test, `-XY…` with
    // more after a two-letter operator an integer comparison
    // (`-lt1024`, or quoted `"-lt 1024"`).
    let b = p.as_bytes();
    if b.first() != Some(&b'-') {
        return Ok(None);
    }
    if b.len() == 2 {
        return Ok(Some(match b[1] {
            b'd' => CondTest::Dir,
            b'f' => CondTest::File,
            b's' => CondTest::NonEmptyFile,
            b'l' | b'L' | b'h' => CondTest::Symlink,
            b'x' => CondTest::Executable,
            b'F' => CondTest::SubreqFile,
            b'U' => CondTest::SubreqUrl,
            _ => return Ok(None),
        }));
    }
    if b.len() < 4 || !p.is_char_boundary(3) {
        return Ok(None);
    }
    let rest = &p[3..];
    let int = || -> Result<i64, String> {
        rest.trim().parse::<i64>().map_err(|_| {
            format!("RewriteCond: '{p}' compares with '{rest}', which is not an integer (write -eq10 or \"-eq 10\")")
        })
    };
    Ok(Some(match &p[..3] {
        "-eq" => CondTest::IntEq(int()?),
        "-ne" => CondTest::IntNe(int()?),
        "-lt" => CondTest::IntLt(int()?),
        "-le" => CondTest::IntLe(int()?),
        "-gt" => CondTest::IntGt(int()?),
        "-ge" => CondTest::IntGe(int()?),
        _ => return Ok(None),
    }))
}

/// The flags between `[` and `]`, split at commas.
fn flag_list(text: &str) -> Result<Vec<&str>, String> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("flags '{text}' must be written in brackets: [flag,flag]"))?;
    Ok(inner
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect())
}

impl Rule {
    /// Parses the arguments of a `RewriteRule` line (the conditions
    /// written before it are attached by the caller).
    pub fn parse(args: &[String]) -> Result<Rule, String> {
        let (pattern, subst, flags) = match args {
            [p, s] => (p, s, None),
            [p, s, f] => (p, s, Some(f)),
            _ => {
                return Err(format!(
                    "RewriteRule takes a pattern, a substitution and optional [flags], not {} argument(s)",
                    args.len()
                ))
            }
        };
        let mut f = RuleFlags::default();
        if let Some(flags) = flags {
            for flag in flag_list(flags)? {
                parse_flag(&mut f, flag)?;
            }
        }
        let (negate, p) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        let regex = crate::pcre::compile(p, f.nocase).map_err(|e| format!("RewriteRule: {e}"))?;
        let subst = if subst == "-" {
            None
        } else {
            Some(Template::parse(subst)?)
        };
        Ok(Rule {
            text: args.join(" "),
            pattern: pattern.clone(),
            fast: if f.nocase { None } else { fast(p) },
            regex,
            negate,
            subst,
            flags: f,
            conds: Vec::new(),
        })
    }
}

/// The [`Fast`] form of a pattern, when it has one.
fn fast(pattern: &str) -> Option<Fast> {
    match pattern {
        "^" => return Some(Fast::Start),
        ".*" | "^.*" | "^.*$" => return Some(Fast::All),
        "." => return Some(Fast::AnyChar),
        _ => {}
    }
    let inner = pattern.strip_prefix('^')?.strip_suffix('$')?;
    let mut lit = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let n = chars.next()?;
                if !n.is_ascii_punctuation() {
                    return None;
                }
                lit.push(n);
            }
            c if c.is_alphanumeric() || "/_-~,;:@&=%!'\"<>".contains(c) => lit.push(c),
            _ => return None,
        }
    }
    Some(Fast::Exact(lit))
}

fn parse_flag(f: &mut RuleFlags, flag: &str) -> Result<(), String> {
    let (key, value) = match flag.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (flag, None),
    };
    let need = |what: &str| -> Result<&str, String> {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("RewriteRule flag '{key}' needs a value: {key}={what}"))
    };
    match key.to_ascii_lowercase().as_str() {
        "b" => {
            f.escape_backrefs = true;
            f.escape_only = value.map(str::to_string);
        }
        "bnp" | "backrefnoplus" => f.escape_no_plus = true,
        "c" | "chain" => f.chain = true,
        "co" | "cookie" => {
            let v = need("NAME:VALUE:domain[:lifetime[:path[:secure[:httponly[:samesite]]]]]")?;
            let sep = if v.starts_with(';') { ';' } else { ':' };
            if v.trim_start_matches(';').split(sep).count() < 3 {
                return Err(format!(
                    "RewriteRule flag CO={v}: write CO=NAME:VALUE:domain[:lifetime[:path[:secure[:httponly[:samesite]]]]]"
                ));
            }
            f.cookies.push(Template::parse(v)?);
        }
        "dpi" | "discardpath" => f.discard_path_info = true,
        "e" | "env" => f.env.push(Template::parse(need("VAR[:VALUE] or E=!VAR")?)?),
        "end" => f.end = true,
        "f" | "forbidden" => f.status = Some(403),
        "g" | "gone" => f.status = Some(410),
        "h" | "handler" => f.handler = Some(Template::parse(need("handler-name")?)?),
        "l" | "last" => f.last = true,
        "n" | "next" => {
            f.next = true;
            if let Some(v) = value {
                f.max_rounds = v
                    .parse::<u32>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("RewriteRule flag N={v}: the bound must be a positive integer"))?;
            }
        }
        "nc" | "nocase" => f.nocase = true,
        "ne" | "noescape" => f.no_escape = true,
        "ns" | "nosubreq" => f.no_subreq = true,
        "p" | "proxy" => f.proxy = true,
        "pt" | "passthrough" => f.passthrough = true,
        "qsa" | "qsappend" => f.qs_append = true,
        "qsd" | "qsdiscard" => f.qs_discard = true,
        "qsl" | "qslast" => f.qs_last = true,
        "r" | "redirect" => {
            let code = match value {
                None => 302,
                Some(v) => match v.to_ascii_lowercase().as_str() {
                    "permanent" => 301,
                    "temp" => 302,
                    "seeother" => 303,
                    n => n.parse::<u16>().ok().filter(|c| (300..=599).contains(c)).ok_or_else(|| {
                        format!("RewriteRule flag R={v}: the status must be 300–399 (a redirect) or 400–599 (an error), or permanent/temp/seeother")
                    })?,
                },
            };
            if (300..400).contains(&code) {
                f.redirect = Some(code);
            } else {
                f.status = Some(code);
            }
        }
        "s" | "skip" => {
            let v = need("N")?;
            f.skip = v
                .parse::<usize>()
                .map_err(|_| format!("RewriteRule flag S={v}: the number of rules to skip must be a non-negative integer"))?;
        }
        "t" | "type" => f.content_type = Some(Template::parse(need("media/type")?)?),
        "unsafeallow3f" => f.allow_3f = true,
        "unsafeprefixstat" => {}
        _ => {
            return Err(format!(
                "RewriteRule: unknown flag '{flag}' (known: B, BNP, C, CO, DPI, E, END, F, G, H, L, N, NC, NE, NS, P, PT, QSA, QSD, QSL, R, S, T, UnsafeAllow3F)"
            ))
        }
    }
    Ok(())
}

impl Template {
    /// Splits a substitution (or a test string, an `E=` value) into its
    /// pieces: text, `$N`, `%N`, `%{VAR}`, `${map:key|default}`; a `\`
    /// makes the next character literal.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let b = text.as_bytes();
        let mut i = 0;
        let flush = |lit: &mut String, pieces: &mut Vec<Piece>| {
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(lit)));
            }
        };
        while i < b.len() {
            match b[i] {
                b'\\' if i + 1 < b.len() => {
                    let ch = text[i + 1..].chars().next().unwrap_or('\\');
                    lit.push(ch);
                    i += 1 + ch.len_utf8();
                }
                b'$' | b'%' if i + 1 < b.len() && b[i + 1].is_ascii_digit() => {
                    flush(&mut lit, &mut pieces);
                    let n = b[i + 1] - b'0';
                    pieces.push(if b[i] == b'$' {
                        Piece::RuleRef(n)
                    } else {
                        Piece::CondRef(n)
                    });
                    i += 2;
                }
                b'$' | b'%' if i + 1 < b.len() && b[i + 1] == b'{' => {
                    // As mod_rewrite: an unclosed `%{`, or `${` without a
                    // `:`, stays as it is written.
                    let close = matching_brace(b, i + 1);
                    let inner = close.map(|c| &text[i + 2..c]);
                    match (b[i], close, inner) {
                        (b'%', Some(close), Some(inner)) => {
                            flush(&mut lit, &mut pieces);
                            pieces.push(Piece::Var(inner.to_string()));
                            i = close + 1;
                        }
                        (b'$', Some(close), Some(inner)) if inner.contains(':') => {
                            let (name, rest) = inner.split_once(':').unwrap_or((inner, ""));
                            let (key, default) = split_default(rest);
                            flush(&mut lit, &mut pieces);
                            pieces.push(Piece::Map {
                                name: name.to_string(),
                                key: Template::parse(key)?,
                                default: default
                                    .filter(|d| !d.is_empty())
                                    .map(Template::parse)
                                    .transpose()?,
                            });
                            i = close + 1;
                        }
                        _ => {
                            lit.push(b[i] as char);
                            lit.push('{');
                            i += 2;
                        }
                    }
                }
                _ => {
                    let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                    lit.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        flush(&mut lit, &mut pieces);
        Ok(Template { pieces })
    }

    /// The map names this template looks up, for a check that each is
    /// defined.
    pub fn maps(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for p in &self.pieces {
            if let Piece::Map { name, key, default } = p {
                out.push(name.as_str());
                out.extend(key.maps());
                if let Some(d) = default {
                    out.extend(d.maps());
                }
            }
        }
        out
    }
}

/// The index of the `}` closing the `{` at `open`, counting nested
/// `%{`/`${`.
fn matching_brace(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `key|default` split at the first `|` outside nested braces.
fn split_default(text: &str) -> (&str, Option<&str>) {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '|' if depth == 0 => return (&text[..i], Some(&text[i + 1..])),
            _ => {}
        }
    }
    (text, None)
}
