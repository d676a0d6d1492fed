//! The end of a pass: the URI made absolute or reduced to a local path
//! (`fully_qualify`, `reduce_uri`), as Apache's `hook_uri2file` does, and
//! `[CO=…]` cookies.

use super::*;

impl Pass<'_> {
    fn scheme(&self) -> &'static str {
        if vars::lookup(self.vars, "HTTPS").eq_ignore_ascii_case("on") {
            "https"
        } else {
            "http"
        }
    }

    fn port(&self) -> (u16, bool) {
        let scheme = self.scheme();
        let default = if scheme == "https" { 443 } else { 80 };
        let port = vars::lookup(self.vars, "SERVER_PORT")
            .parse()
            .unwrap_or(default);
        (port, port == default)
    }

    /// `scheme://server[:port]` prefixed to a result that is not yet an
    /// absolute URL.
    pub(super) fn fully_qualify(&mut self) {
        if absolute_uri(&self.filename).is_some() {
            return;
        }
        let (port, default) = self.port();
        let server = vars::lookup(self.vars, "SERVER_NAME");
        let port = if default {
            String::new()
        } else {
            format!(":{port}")
        };
        let slash = if self.filename.starts_with('/') {
            ""
        } else {
            "/"
        };
        self.filename = format!("{}://{server}{port}{slash}{}", self.scheme(), self.filename);
    }

    /// `http[s]://this-server[:port]/path` made `/path`.
    pub(super) fn reduce_uri(&mut self) {
        if self.filename.starts_with('/') {
            // A local path already (no scheme to read the request for).
            return;
        }
        let scheme = self.scheme();
        let f = &self.filename;
        let prefix_len = scheme.len() + 3;
        if f.len() <= prefix_len
            || !f.as_bytes()[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
            || &f.as_bytes()[scheme.len()..prefix_len] != b"://"
        {
            return;
        }
        let rest = &f[prefix_len..];
        let host_end = rest.find(['/', ':']).unwrap_or(rest.len());
        let host = &rest[..host_end];
        let (port, url) = match rest.as_bytes().get(host_end) {
            Some(b':') => {
                let after = &rest[host_end + 1..];
                let end = after.find('/').unwrap_or(after.len());
                let url = if end == after.len() {
                    "/"
                } else {
                    &after[end..]
                };
                (atoi(&after[..end]), url)
            }
            Some(_) => (if scheme == "https" { 443 } else { 80 }, &rest[host_end..]),
            None => (if scheme == "https" { 443 } else { 80 }, "/"),
        };
        let server = vars::lookup(self.vars, "SERVER_NAME");
        let this_port = i64::from(self.port().0);
        if host.eq_ignore_ascii_case(&server) && port == this_port {
            self.filename = url.to_string();
            self.uri_reduced = true;
        }
    }

    /// `[CO=…]` after expansion: one `Set-Cookie` per cookie name and
    /// request, in mod_rewrite's format.
    pub(super) fn add_cookie(&mut self, text: &str) {
        let (sep, body) = match text.strip_prefix(';') {
            Some(rest) => (';', rest),
            None => (':', text),
        };
        let parts: Vec<&str> = body.split(sep).filter(|s| !s.is_empty()).collect();
        let [name, value, domain, rest @ ..] = parts.as_slice() else {
            return;
        };
        if self.cookie_names.iter().any(|n| n == name) {
            return;
        }
        self.cookie_names.push(name.to_string());
        let mut cookie = format!(
            "{name}={value}; path={}; domain={domain}",
            rest.get(1).unwrap_or(&"/")
        );
        if let Some(minutes) = rest.first().map(|l| atoi(l)).filter(|&m| m != 0) {
            let when = if minutes > 0 {
                self.vars.now() + Duration::from_secs(minutes.unsigned_abs() * 60)
            } else {
                self.vars
                    .now()
                    .checked_sub(Duration::from_secs(minutes.unsigned_abs() * 60))
                    .unwrap_or(SystemTime::UNIX_EPOCH)
            };
            let t = UtcTime::of(when);
            cookie.push_str(&format!(
                "; expires={}, {:02}-{}-{:04} {:02}:{:02}:{:02} GMT",
                t.weekday_short(),
                t.day,
                t.month_short(),
                t.year,
                t.hour,
                t.minute,
                t.second
            ));
        }
        let yes = |s: Option<&&str>, word: &str| {
            s.is_some_and(|s| {
                s.eq_ignore_ascii_case("true") || *s == "1" || s.eq_ignore_ascii_case(word)
            })
        };
        if yes(rest.get(2), "secure") {
            cookie.push_str("; secure");
        }
        if yes(rest.get(3), "HttpOnly") {
            cookie.push_str("; HttpOnly");
        }
        if let Some(s) = rest
            .get(4)
            .filter(|s| **s != "0" && !s.eq_ignore_ascii_case("false"))
        {
            cookie.push_str(&format!("; SameSite={s}"));
        }
        self.out.cookies.push(cookie);
    }
}
