//! mod_expires: `Expires` and `Cache-Control: max-age` from
//! `ExpiresActive`, `ExpiresByType` and `ExpiresDefault`.
//!
//! As Apache 2.4 does it: nothing unless `ExpiresActive On`; nothing on an
//! error (4xx, 5xx); nothing when the response already has an `Expires`
//! (a handler's or a backend's). Otherwise the rule for the response's
//! media type (without parameters), else for its major type (`image/*`),
//! else `ExpiresDefault` gives the time: from the access (`A`, `access`,
//! `now`) or from the file's modification (`M`, `modification`; the
//! response's `Last-Modified`, and nothing when it has none). A time in
//! the past is now. `Expires` is set, and `max-age=<seconds>` is added to
//! any `Cache-Control` already there (`no-cache` stays, merged as
//! Apache's `apr_table_mergen` does: `no-cache, max-age=3600`).

use std::time::{Duration, SystemTime};

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, EXPIRES, LAST_MODIFIED};
use mpm_core::Response;

/// Where an expiry time is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The time of the request (`A`, `access`, `now`).
    Access,
    /// The file's modification time (`M`, `modification`).
    Modification,
}

/// One expiry rule: a base and a number of seconds after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiresRule {
    /// What the time counts from.
    pub base: Base,
    /// Seconds after the base.
    pub seconds: u64,
}

impl ExpiresRule {
    /// Parses `A3600`, `M86400` or `"access plus 1 month 2 days"` (units
    /// `years`, `months` (30 days), `weeks`, `days`, `hours`, `minutes`,
    /// `seconds`, singular or plural, as mod_expires counts them). The
    /// error says what is wrong, for a message with the file and line.
    pub fn parse(code: &str) -> Result<ExpiresRule, String> {
        let code = code.trim();
        let letter = |base, digits: &str| {
            digits
                .parse::<u64>()
                .map(|seconds| ExpiresRule { base, seconds })
                .map_err(|_| format!("'{code}': after A or M, a number of seconds is expected"))
        };
        if let Some(digits) = code.strip_prefix('A') {
            return letter(Base::Access, digits);
        }
        if let Some(digits) = code.strip_prefix('M') {
            return letter(Base::Modification, digits);
        }
        let mut words = code.split_ascii_whitespace();
        let base = match words.next().map(str::to_ascii_lowercase).as_deref() {
            Some("access" | "now") => Base::Access,
            Some("modification") => Base::Modification,
            _ => {
                return Err(format!(
                    "'{code}': expected A<seconds>, M<seconds> or \"access|now|modification plus <n> <unit>…\""
                ))
            }
        };
        let mut words = words.peekable();
        if words.peek().is_some_and(|w| w.eq_ignore_ascii_case("plus")) {
            words.next();
        }
        let mut seconds: u64 = 0;
        while let Some(number) = words.next() {
            let n: u64 = number
                .parse()
                .map_err(|_| format!("'{code}': '{number}' is not a number of units"))?;
            let unit = words
                .next()
                .ok_or_else(|| format!("'{code}': '{number}' has no unit (seconds, minutes, hours, days, weeks, months, years)"))?;
            let size = match unit.to_ascii_lowercase().trim_end_matches('s') {
                "year" => 365 * 86400,
                "month" => 30 * 86400,
                "week" => 7 * 86400,
                "day" => 86400,
                "hour" => 3600,
                "minute" => 60,
                "second" => 1,
                _ => {
                    return Err(format!(
                        "'{code}': unknown unit '{unit}' (seconds, minutes, hours, days, weeks, months, years)"
                    ))
                }
            };
            seconds = n
                .checked_mul(size)
                .and_then(|s| seconds.checked_add(s))
                .ok_or_else(|| format!("'{code}': the time is too large"))?;
        }
        Ok(ExpiresRule { base, seconds })
    }
}

/// mod_expires's settings for the requests of one place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiresConfig {
    /// `ExpiresActive On` (`Some(true)`) or `Off`; `None`: not written
    /// here (off, unless a configuration it is merged into says on).
    pub active: Option<bool>,
    /// `ExpiresDefault`.
    pub default: Option<ExpiresRule>,
    /// `ExpiresByType type rule`: a media type in lower case, or a major
    /// type and `*` (`image/*`); a later line for one type replaces an
    /// earlier one.
    pub by_type: Vec<(String, ExpiresRule)>,
}

impl ExpiresConfig {
    /// The rule for a response of `content_type`: exact type, then
    /// `major/*`, then the default.
    pub fn rule_for(&self, content_type: Option<&str>) -> Option<ExpiresRule> {
        let media = content_type
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let find = |t: &str| {
            self.by_type
                .iter()
                .rev()
                .find(|(k, _)| k == t)
                .map(|(_, rule)| *rule)
        };
        if !media.is_empty() {
            if let Some(rule) = find(&media) {
                return Some(rule);
            }
            if let Some((major, _)) = media.split_once('/') {
                if let Some(rule) = find(&format!("{major}/*")) {
                    return Some(rule);
                }
            }
        }
        self.default
    }

    /// This configuration with `add`'s settings over it, as mod_expires
    /// merges a section into its parent: `ExpiresActive` and
    /// `ExpiresDefault` when `add` writes them, `ExpiresByType` lines of
    /// both (`add`'s win for one type).
    pub fn merged(&self, add: &ExpiresConfig) -> ExpiresConfig {
        ExpiresConfig {
            active: add.active.or(self.active),
            default: add.default.or(self.default),
            by_type: self.by_type.iter().chain(&add.by_type).cloned().collect(),
        }
    }

    /// Sets `Expires` and `Cache-Control: max-age` on `response` for a
    /// request made at `now` (see the [module docs](self)). A response
    /// without `Content-Type` (a 304) is taken to be of `file_type`, the
    /// type of the file it stands for, as Apache still knows it then.
    pub fn apply(&self, response: &mut Response, now: SystemTime, file_type: Option<&str>) {
        if self.active != Some(true)
            || response.status().is_client_error()
            || response.status().is_server_error()
            || response.headers().contains_key(EXPIRES)
        {
            return;
        }
        let headers = response.headers();
        let content_type = match headers.get(CONTENT_TYPE) {
            Some(ct) => ct.to_str().ok(),
            None => file_type,
        };
        let Some(rule) = self.rule_for(content_type) else {
            return;
        };
        let base = match rule.base {
            Base::Access => now,
            Base::Modification => match headers
                .get(LAST_MODIFIED)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok())
            {
                Some(modified) => modified,
                None => return,
            },
        };
        let expires = (base + Duration::from_secs(rule.seconds)).max(now);
        let max_age = expires.duration_since(now).unwrap_or_default().as_secs();
        let headers = response.headers_mut();
        let max_age = format!("max-age={max_age}");
        let cache_control = match headers.get(CACHE_CONTROL).and_then(|v| v.to_str().ok()) {
            Some(existing) if !existing.trim().is_empty() => format!("{existing}, {max_age}"),
            _ => max_age,
        };
        if let Ok(value) = HeaderValue::try_from(cache_control) {
            headers.insert(CACHE_CONTROL, value);
        }
        if let Ok(value) = HeaderValue::try_from(httpdate::fmt_http_date(expires)) {
            headers.insert(EXPIRES, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use mpm_core::Body;

    fn rule(code: &str) -> ExpiresRule {
        ExpiresRule::parse(code).unwrap()
    }

    #[test]
    fn both_syntaxes_parse_to_seconds() {
        assert_eq!(
            rule("A3600"),
            ExpiresRule {
                base: Base::Access,
                seconds: 3600
            }
        );
        assert_eq!(
            rule("M60"),
            ExpiresRule {
                base: Base::Modification,
                seconds: 60
            }
        );
        assert_eq!(rule("access plus 1 month").seconds, 30 * 86400);
        assert_eq!(rule("now plus 1 year 2 days").seconds, 367 * 86400);
        assert_eq!(
            rule("modification plus 1 hour 30 minutes").base,
            Base::Modification
        );
        assert_eq!(rule("access plus 1 hour 30 minutes").seconds, 5400);
        assert_eq!(rule("access 1 week").seconds, 7 * 86400);
        assert_eq!(rule("access plus 0 seconds").seconds, 0);
    }

    #[test]
    fn bad_codes_are_refused_with_what_is_wrong() {
        for (code, says) in [
            ("A", "number of seconds"),
            ("Axyz", "number of seconds"),
            ("later plus 1 day", "expected A<seconds>"),
            ("access plus one day", "'one' is not a number"),
            ("access plus 1", "has no unit"),
            ("access plus 1 fortnight", "unknown unit 'fortnight'"),
            ("access plus 99999999999999999 years", "too large"),
        ] {
            let err = ExpiresRule::parse(code).unwrap_err();
            assert!(err.contains(says), "{code}: {err}");
        }
    }

    fn config() -> ExpiresConfig {
        ExpiresConfig {
            active: Some(true),
            default: Some(rule("A60")),
            by_type: vec![
                ("image/*".into(), rule("A3600")),
                ("image/png".into(), rule("A7200")),
                ("text/css".into(), rule("M100")),
            ],
        }
    }

    fn respond(content_type: &str, status: StatusCode) -> Response {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        response
    }

    fn get(response: &Response, name: http::HeaderName) -> Option<&str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn the_exact_type_then_the_wildcard_then_the_default_decide() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for (ct, age) in [
            ("image/png", "max-age=7200"),
            ("image/gif", "max-age=3600"),
            ("IMAGE/GIF; q=1", "max-age=3600"),
            ("text/html; charset=utf-8", "max-age=60"),
        ] {
            let mut response = respond(ct, StatusCode::OK);
            config().apply(&mut response, now, None);
            assert_eq!(get(&response, CACHE_CONTROL), Some(age), "{ct}");
        }
        let mut response = respond("image/png", StatusCode::OK);
        config().apply(&mut response, now, None);
        assert_eq!(
            get(&response, EXPIRES),
            Some(httpdate::fmt_http_date(now + Duration::from_secs(7200)).as_str())
        );
    }

    #[test]
    fn modification_base_counts_from_last_modified_and_never_into_the_past() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut response = respond("text/css", StatusCode::OK);
        response.headers_mut().insert(
            LAST_MODIFIED,
            HeaderValue::try_from(httpdate::fmt_http_date(now - Duration::from_secs(40))).unwrap(),
        );
        config().apply(&mut response, now, None);
        assert_eq!(get(&response, CACHE_CONTROL), Some("max-age=60"));
        let mut stale = respond("text/css", StatusCode::OK);
        stale.headers_mut().insert(
            LAST_MODIFIED,
            HeaderValue::try_from(httpdate::fmt_http_date(now - Duration::from_secs(4000)))
                .unwrap(),
        );
        config().apply(&mut stale, now, None);
        assert_eq!(get(&stale, CACHE_CONTROL), Some("max-age=0"));
        assert_eq!(
            get(&stale, EXPIRES),
            Some(httpdate::fmt_http_date(now).as_str())
        );
        // No Last-Modified: nothing.
        let mut none = respond("text/css", StatusCode::OK);
        config().apply(&mut none, now, None);
        assert_eq!(get(&none, EXPIRES), None);
    }

    #[test]
    fn errors_inactive_configurations_and_existing_expires_are_left_alone() {
        let now = SystemTime::now();
        let mut response = respond("image/png", StatusCode::NOT_FOUND);
        config().apply(&mut response, now, None);
        assert_eq!(get(&response, EXPIRES), None);
        let mut response = respond("image/png", StatusCode::OK);
        ExpiresConfig {
            active: Some(false),
            ..config()
        }
        .apply(&mut response, now, None);
        assert_eq!(get(&response, EXPIRES), None);
        let mut response = respond("image/png", StatusCode::OK);
        response
            .headers_mut()
            .insert(EXPIRES, HeaderValue::from_static("0"));
        config().apply(&mut response, now, None);
        assert_eq!(get(&response, EXPIRES), Some("0"));
        assert_eq!(get(&response, CACHE_CONTROL), None);
        // A redirect and a 304 get them.
        for status in [StatusCode::MOVED_PERMANENTLY, StatusCode::NOT_MODIFIED] {
            let mut response = respond("image/png", status);
            config().apply(&mut response, now, None);
            assert!(get(&response, EXPIRES).is_some(), "{status}");
        }
    }

    #[test]
    fn max_age_is_merged_into_an_existing_cache_control() {
        let mut response = respond("image/png", StatusCode::OK);
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("public"));
        config().apply(&mut response, SystemTime::now(), None);
        assert_eq!(get(&response, CACHE_CONTROL), Some("public, max-age=7200"));
    }
}
