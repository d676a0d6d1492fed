//! Apache's regular expressions (PCRE syntax) on the `regex` crate.
//!
//! Apache compiles `RewriteRule`/`RewriteCond` patterns and ap_expr's
//! `=~` with PCRE, a backtracking engine whose matching time can grow
//! exponentially with the subject. Here every pattern is compiled by the
//! `regex` crate, whose matching time is linear in the subject, with a
//! bounded compiled size ([`SIZE_LIMIT`]). What the two syntaxes share
//! (classes, `\d \w \s`, anchors, groups, `(?:…)`, `(?i)`, named groups,
//! counted repetition, lazy quantifiers) is taken as written; what PCRE
//! writes differently is translated:
//!
//! - `\Z` (end, or before a final newline) becomes `(?:\n?\z)`;
//! - `\h` (horizontal space) becomes `[\t ]`;
//! - `\/`, `\-` and other escaped punctuation are kept as the literal;
//! - `(?'name'…)` becomes `(?P<name>…)`.
//!
//! What a linear-time engine cannot do is refused with an error naming
//! the feature, so `mpmd -t` says which line to change: back-references
//! in the pattern (`\1`, `\g{1}`, `\k<name>`), look-around (`(?=`, `(?!`,
//! `(?<=`, `(?<!`), atomic groups (`(?>`), possessive quantifiers (`a*+`),
//! recursion (`(?R)`, `(?1)`), conditionals (`(?(`), `\K`, `\G` and
//! callouts (`(?C`).

use regex::{Regex, RegexBuilder};

/// The largest compiled program a configured pattern may make, in bytes
/// (the `regex` crate's `size_limit`): generous for any URL pattern, and
/// a bound on the memory a hostile or mistaken pattern can take.
pub const SIZE_LIMIT: usize = 1 << 20;

/// Compiles a PCRE-syntax `pattern` (case-insensitively with `nocase`,
/// as `[NC]` asks), or says why it cannot be.
pub fn compile(pattern: &str, nocase: bool) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    RegexBuilder::new(&translated)
        .case_insensitive(nocase)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => {
                format!("regular expression '{pattern}' is too large (over {limit} bytes compiled); simplify it")
            }
            other => format!(
                "regular expression '{pattern}' is not valid: {}",
                other.to_string().lines().last().unwrap_or("syntax error")
            ),
        })
}

/// `pattern` in the `regex` crate's syntax, or the PCRE feature it uses
/// that a linear-time engine refuses.
fn translate(pattern: &str) -> Result<String, String> {
    let refuse = |what: &str| {
        Err(format!(
            "regular expression '{pattern}' uses {what}, which mpmd's linear-time regex engine does not support; rewrite the pattern without it"
        ))
    };
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !in_class {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        match c {
            '\\' => {
                let Some(&next) = chars.get(i + 1) else {
                    return Err(format!(
                        "regular expression '{pattern}' ends with a lone '\\'; escape it as '\\\\'"
                    ));
                };
                i += 2;
                match next {
                    '1'..='9' if !in_class => return refuse("a back-reference (\\1…\\9)"),
                    'g' | 'k' if !in_class => return refuse("a back-reference (\\g or \\k)"),
                    'K' => return refuse("\\K"),
                    'G' => return refuse("\\G"),
                    'Z' if !in_class => out.push_str("(?:\n?\\z)"),
                    'h' => out.push_str(if in_class { "\\t " } else { "[\\t ]" }),
                    'Q' => {
                        // \Q…\E: everything up to \E is literal.
                        let mut literal = String::new();
                        while i < chars.len() {
                            if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                                i += 2;
                                break;
                            }
                            literal.push(chars[i]);
                            i += 1;
                        }
                        out.push_str(&regex::escape(&literal));
                    }
                    'E' => {}
                    n if n.is_ascii_punctuation() || n == ' ' => {
                        if n == ' ' {
                            out.push(' ');
                        } else {
                            out.push('\\');
                            out.push(n);
                        }
                    }
                    n => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                i += 1;
                // A ']' or '^]' first in a class is a literal.
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                continue;
            }
            '[' if in_class => {
                // POSIX classes ([:alpha:]) are shared; a lone '[' is a
                // literal in PCRE but nests in the regex crate.
                if chars.get(i + 1) == Some(&':') {
                    out.push('[');
                } else {
                    out.push_str("\\[");
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '(' if !in_class && chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..].iter().take(3).collect();
                if rest.starts_with('=') || rest.starts_with('!') {
                    match trailing_lookahead(&chars, i, depth) {
                        Some((text, end)) => {
                            out.push_str(&lookahead_as_alternation(&text, rest.starts_with('!')));
                            depth -= 1;
                            i = end;
                            continue;
                        }
                        None => {
                            return refuse(
                                "a look-ahead ((?= or (?!) other than one of plain text ending a top-level branch",
                            )
                        }
                    }
                }
                if rest.starts_with("<=") || rest.starts_with("<!") {
                    return refuse("a look-behind ((?<= or (?<!)");
                }
                if rest.starts_with('>') {
                    return refuse("an atomic group ((?>)");
                }
                if rest.starts_with('(') {
                    return refuse("a conditional group ((?()");
                }
                if rest.starts_with('R')
                    || rest.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '&')
                {
                    return refuse("recursion ((?R) or (?n))");
                }
                if rest.starts_with('C') {
                    return refuse("a callout ((?C)");
                }
                if rest.starts_with('\'') {
                    let name_end = chars[i + 3..].iter().position(|&c| c == '\'');
                    let Some(len) = name_end else {
                        return Err(format!(
                            "regular expression '{pattern}' has an unclosed group name"
                        ));
                    };
                    let name: String = chars[i + 3..i + 3 + len].iter().collect();
                    out.push_str("(?P<");
                    out.push_str(&name);
                    out.push('>');
                    i += 3 + len + 1;
                    continue;
                }
                out.push('(');
            }
            '+' if !in_class && i > 0 && is_quantifier_end(&chars, i - 1) => {
                return refuse("a possessive quantifier (*+, ++, ?+)");
            }
            other => out.push(other),
        }
        i += 1;
    }
    Ok(out)
}

/// A look-ahead `(?=text)` or `(?!text)` starting at `chars[at]` whose
/// text is plain (letters, digits, escaped punctuation, `/`, `-`, `_`)
/// and which ends a top-level branch (the pattern ends or `|` follows
/// outside any group): its text and the index past its `)`. Only there
/// may it consume what it looks at without changing what matches.
fn trailing_lookahead(
    chars: &[char],
    at: usize,
    depth_inside: usize,
) -> Option<(Vec<char>, usize)> {
    if depth_inside != 1 {
        return None;
    }
    let mut i = at + 3;
    let mut text = Vec::new();
    loop {
        match *chars.get(i)? {
            ')' => break,
            '\\' => {
                let n = *chars.get(i + 1)?;
                if !n.is_ascii_punctuation() {
                    return None;
                }
                text.push(n);
                i += 2;
            }
            c if ".[]()*+?{}|^$".contains(c) => return None,
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    let end = i + 1;
    match chars.get(end) {
        None | Some('|') if !text.is_empty() => Some((text, end)),
        _ => None,
    }
}

/// What `(?!text)` (`negative`) or `(?=text)` at the end of a branch
/// matches, without look-around: the end, or a character that differs
/// from `text` at some point before its end.
fn lookahead_as_alternation(text: &[char], negative: bool) -> String {
    let lit = |c: char| regex::escape(&c.to_string());
    if !negative {
        return text.iter().map(|&c| lit(c)).collect();
    }
    let class = |c: char| {
        if c.is_ascii_punctuation() {
            format!("[^\\{c}]")
        } else {
            format!("[^{c}]")
        }
    };
    let mut inner = String::new();
    for (k, &c) in text.iter().enumerate().rev() {
        inner = if k == text.len() - 1 {
            format!("(?:$|{})", class(c))
        } else {
            format!("(?:$|{}|{}{inner})", class(c), lit(c))
        };
    }
    inner
}

/// Whether `chars[at]` ends a quantifier (`*`, `+`, `?`, `}`), so a `+`
/// after it makes it possessive. A `?` after `(` starts a group and an
/// escaped one is a literal.
fn is_quantifier_end(chars: &[char], at: usize) -> bool {
    let escaped = at > 0 && chars[at - 1] == '\\' && (at < 2 || chars[at - 2] != '\\');
    if escaped {
        return false;
    }
    match chars[at] {
        '*' | '+' => true,
        '?' => at == 0 || chars[at - 1] != '(',
        '}' => chars[..at]
            .iter()
            .rev()
            .take_while(|&&c| c != '{')
            .all(|c| c.is_ascii_digit() || *c == ','),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_syntax_compiles_and_matches() {
        let re = compile(r"^/(\d+)/([a-z\-]+)\.html$", false).expect("compiles");
        let caps = re.captures("/12/my-page.html").expect("matches");
        assert_eq!(&caps[1], "12");
        assert_eq!(&caps[2], "my-page");
        assert!(compile(r"^wp-admin\/", false)
            .expect("escaped slash")
            .is_match("wp-admin/x"));
        assert!(compile(r"^(?<year>\d{4})$", false)
            .expect("named")
            .is_match("2024"));
        assert!(compile(r"\.(?:css|js)$", true)
            .expect("nc")
            .is_match("A.CSS"));
    }

    #[test]
    fn pcre_only_escapes_are_translated() {
        let re = compile(r"abc\Z", false).expect("\\Z");
        assert!(re.is_match("xabc\n") && re.is_match("abc") && !re.is_match("abcd"));
        assert!(compile(r"a\hb", false).expect("\\h").is_match("a\tb"));
        assert!(compile(r"\Qa.b\E$", false).expect("\\Q").is_match("xa.b"));
        assert!(!compile(r"\Qa.b\E$", false).expect("\\Q").is_match("xaxb"));
        assert!(compile(r"(?'n'x)", false)
            .expect("quoted name")
            .is_match("x"));
        assert!(compile(r"[]a]", false).expect("] first").is_match("]"));
        assert!(compile(r"[a[]", false).expect("[ inside").is_match("["));
    }

    #[test]
    fn backtracking_only_features_are_refused_by_name() {
        for (pattern, names) in [
            (r"(a)\1", "back-reference"),
            (r"(?=a)b", "look-ahead"),
            (r"(?!a)b", "look-ahead"),
            (r"(x(?!a))", "look-ahead"),
            (r"x(?!a.)", "look-ahead"),
            (r"(?<=a)b", "look-behind"),
            (r"(?>a)", "atomic"),
            (r"a*+", "possessive"),
            (r"a{2}+", "possessive"),
            (r"(?R)", "recursion"),
            (r"a\Kb", "\\K"),
        ] {
            let err = compile(pattern, false).expect_err(pattern);
            assert!(err.contains(names), "{pattern}: {err}");
        }
        assert!(
            compile(r"a+?", false).is_ok(),
            "lazy quantifiers are shared"
        );
        assert!(compile(r"(?:a)?+", false).is_err());
    }

    #[test]
    fn a_trailing_negative_lookahead_of_plain_text_is_translated() {
        // Drupal's .htaccess: hidden files are refused, .well-known is not.
        let re = compile(r"/\.|^\.(?!well-known/)", false).expect("translated");
        assert!(re.is_match(".htaccess"));
        assert!(re.is_match(".git/config"));
        assert!(re.is_match("sites/.hidden"));
        assert!(re.is_match(".well-knownx"));
        assert!(re.is_match(".well"));
        assert!(!re.is_match(".well-known/acme-challenge/x"));
        assert!(!re.is_match("index.php"));
        let re = compile(r"^a(?=b)", false).expect("positive");
        assert!(re.is_match("ab") && !re.is_match("ac"));
        let re = compile(r"^x(?!ab)|^y", true).expect("nocase");
        assert!(!re.is_match("XAB") && re.is_match("XAC") && re.is_match("x") && re.is_match("Y"));
    }

    #[test]
    fn oversized_patterns_are_refused() {
        let err = compile(r"(\w{100}){100}", false).expect_err("too big");
        assert!(err.contains("too large"), "{err}");
        assert!(compile("(", false).expect_err("bad").contains("not valid"));
        assert!(compile("a\\", false).expect_err("lone").contains("lone"));
    }
}
