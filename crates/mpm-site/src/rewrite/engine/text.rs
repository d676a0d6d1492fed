//! What a pass does to text: the actions a rule ends in (proxy,
//! redirect), prefix and URI work (`subst_prefix_path`, absolute URIs and
//! their escaping, back-reference escaping), regex and fast matching, and
//! `RewriteCond`'s comparisons.

use super::*;

pub(super) fn proxy_action(url: &str, query: Option<&str>, no_escape: bool) -> Action {
    let mut url = match absolute_uri(url) {
        Some((skip, _)) if !no_escape => escape_absolute_uri(url, skip),
        _ => url.to_string(),
    };
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Action::Proxy { url }
}

pub(super) fn redirect_action(
    f: &str,
    skip: usize,
    pass: &Pass<'_>,
    original_query: Option<&str>,
    no_escape: bool,
) -> Action {
    let mut location = if no_escape {
        f.to_string()
    } else {
        escape_absolute_uri(f, skip)
    };
    if let Some(q) = &pass.query {
        location.push('?');
        if no_escape || original_query == Some(q.as_str()) {
            location.push_str(q);
        } else {
            location.push_str(&vars::escape_path(q));
        }
    }
    let status = if (300..400).contains(&pass.status) {
        pass.status
    } else {
        302
    };
    Action::Redirect { location, status }
}

/// Whether the first segment of `path` exists (`/srv` of
/// `/srv/www/x`): a result that names an existing top directory is a
/// file path, anything else is below the document root.
pub(super) fn prefix_exists(vars: &dyn RequestVars, path: &str) -> bool {
    let first = path[1..].split('/').next().unwrap_or("");
    !first.is_empty() && vars.file(&format!("/{first}")).is_some()
}

/// `input` with the directory `prefix` (trailing `/` optional) replaced
/// by `subst` (given a trailing `/`), when `input` is below it (`None`
/// when it is not).
pub(super) fn subst_prefix_path(input: &str, prefix: &str, subst: &str) -> Option<String> {
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    let rest = input.strip_prefix(prefix)?.strip_prefix('/')?;
    let mut out = String::with_capacity(subst.len() + 1 + rest.len());
    out.push_str(subst);
    if !out.is_empty() && !out.ends_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    Some(out)
}

/// `text` replaced by `new` when there is one and it differs: whether
/// it was.
pub(super) fn replace_if_changed(text: &mut String, new: Option<String>) -> bool {
    match new {
        Some(new) if new != *text => {
            *text = new;
            true
        }
        _ => false,
    }
}

/// The variable a `%{LA-U:name}` or `%{LA-F:name}` looks ahead for:
/// mpmd reads it as it is now.
pub(super) fn var_name(name: &str) -> &str {
    name.strip_prefix("LA-U:")
        .or_else(|| name.strip_prefix("LA-F:"))
        .unwrap_or(name)
}

/// The schemes mod_rewrite takes as an absolute URL: the length of
/// `scheme://` (or `scheme:`) and whether a query string belongs to it.
pub(super) fn absolute_uri(uri: &str) -> Option<(usize, bool)> {
    if uri.starts_with('/') || uri.len() <= 5 {
        return None;
    }
    const SCHEMES: &[(&str, bool)] = &[
        ("ajp://", true),
        ("balancer://", true),
        ("ftp://", false),
        ("fcgi://", true),
        ("gopher://", false),
        ("http://", true),
        ("https://", true),
        ("h2://", true),
        ("h2c://", true),
        ("ldap://", false),
        ("mailto:", true),
        ("news:", false),
        ("nntp://", false),
        ("scgi://", true),
        ("ws://", true),
        ("wss://", true),
    ];
    SCHEMES.iter().find_map(|(s, q)| {
        (uri.len() >= s.len() && uri.as_bytes()[..s.len()].eq_ignore_ascii_case(s.as_bytes()))
            .then_some((s.len(), *q))
    })
}

/// An absolute URL with its path (after the host) escaped.
pub(super) fn escape_absolute_uri(uri: &str, skip: usize) -> String {
    let mut cut = skip;
    if uri[..skip].ends_with('/') {
        match uri[skip..].find('/') {
            Some(i) => cut = skip + i + 1,
            None => return uri.to_string(),
        }
        if cut >= uri.len() {
            return uri.to_string();
        }
    }
    format!("{}{}", &uri[..cut], vars::escape_path(&uri[cut..]))
}

/// A back-reference escaped as `[B]` asks: every character that is not
/// a letter, a digit or `_` (or only those in `only`), a space as `+`
/// unless `[BNP]`.
pub(super) fn escape_backref(text: &str, only: Option<&str>, no_plus: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for &b in text.as_bytes() {
        let escape = match only {
            None => !(b.is_ascii_alphanumeric() || b == b'_'),
            Some(set) => set.as_bytes().contains(&b),
        };
        if !escape {
            out.push(b as char);
        } else if b == b' ' && !no_plus {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// The groups of `re`'s first match in `text` (`$0`…`$9`), or `None`:
/// the search alone (no group positions to track) when the pattern has
/// no groups.
pub(super) fn matched(re: &regex::Regex, text: &str) -> Option<Groups> {
    let mut groups = Groups::default();
    if re.captures_len() == 1 {
        let m = re.find(text)?;
        groups.0[0] = Some((m.start(), m.end()));
        return Some(groups);
    }
    let caps = re.captures(text)?;
    for (slot, m) in groups.0.iter_mut().zip(caps.iter()) {
        *slot = m.map(|m| (m.start(), m.end()));
    }
    Some(groups)
}

/// What the regex engine would answer for a [`Fast`] pattern on `text`
/// (which holds no newline).
pub(super) fn fast_match(fast: &Fast, text: &str) -> Option<Groups> {
    let end = match fast {
        Fast::Start => 0,
        Fast::All => text.len(),
        Fast::AnyChar => text.chars().next()?.len_utf8(),
        Fast::Exact(lit) if lit == text => text.len(),
        Fast::Exact(_) => return None,
    };
    let mut groups = Groups::default();
    groups.0[0] = Some((0, end));
    Some(groups)
}

/// mod_rewrite's `compare_lexicography`: the longer string is greater;
/// equal lengths compare byte-wise.
pub(super) fn compare_lexicography(a: &str, b: &str) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

pub(super) fn compare_nocase(a: &str, b: &str) -> Ordering {
    let a = a.bytes().map(|c| c.to_ascii_lowercase());
    let b = b.bytes().map(|c| c.to_ascii_lowercase());
    a.cmp(b)
}

/// C's `atoi`: optional sign and leading digits, 0 when none.
pub(super) fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}
