//! Parsing the values of directives: numbers, durations, switches,
//! addresses, `Redirect`, `Options`, `Require`, `RequestReadTimeout` and
//! `<IfVersion>` arguments. Each returns the message of what is wrong
//! (the caller adds `file:line`).

use std::net::IpAddr;
use std::time::Duration;

use mpm::config::ReadStage;

use mpm_site::config::{
    IpNet, Options, OptionsSetting, RedirectRule, Require, RequireExpr, VhostAddr,
};

/// The Apache version `<IfVersion>` compares against.
const EMULATED_VERSION: [u32; 3] = [2, 4, 62];

pub(super) type Res<T> = Result<T, String>;

pub(super) fn prepend(first: &str, args: &[String]) -> Vec<String> {
    std::iter::once(first.to_string())
        .chain(args.iter().cloned())
        .collect()
}

/// The one argument of `name` (text or bytes).
pub(super) fn one_arg<'v, T>(name: &str, args: &'v [T]) -> Res<&'v T> {
    match args {
        [one] => Ok(one),
        [] => Err(format!("{name} takes one argument")),
        _ => Err(format!("{name} takes one argument, not {}", args.len())),
    }
}

pub(super) fn negation(word: &str) -> (bool, &str) {
    match word.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, word),
    }
}

/// A non-negative integer that fits `T`.
pub(super) fn number<T: TryFrom<u64> + std::fmt::Display>(name: &str, value: &str) -> Res<T> {
    let n: u64 = value
        .parse()
        .map_err(|_| format!("{name} takes a number, not '{value}'"))?;
    T::try_from(n).map_err(|_| format!("{name} takes a smaller number, not '{value}'"))
}

pub(super) fn on_off(name: &str, value: &str) -> Res<bool> {
    match value.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{name} must be On or Off, not '{value}'")),
    }
}

/// The longest duration a directive takes: the longest wait the core
/// makes a deadline of (365 days). Anything longer is surely a mistake,
/// and refusing it here says where it is, instead of a server that waits
/// less than it was told.
const LONGEST: Duration = mpm::strategy::deadline::LONGEST_WAIT;

/// What is wrong with a count of time units.
enum BadDuration {
    NotANumber,
    TooLong,
}

/// `digits` (only ASCII digits) of `unit`s, at most [`LONGEST`].
fn duration(digits: &str, unit: fn(u64) -> Duration) -> Result<Duration, BadDuration> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadDuration::NotANumber);
    }
    // All digits: only a value beyond u64 fails to parse.
    let n: u64 = digits.parse().map_err(|_| BadDuration::TooLong)?;
    let d = unit(n);
    if d > LONGEST {
        return Err(BadDuration::TooLong);
    }
    Ok(d)
}

/// "the largest value allowed is …", for messages.
fn longest_allowed() -> String {
    format!(
        "the largest value allowed is {} seconds (365 days)",
        LONGEST.as_secs()
    )
}

/// Seconds (`5`, `5s`) or milliseconds (`500ms`), at most 365 days.
pub(super) fn seconds(name: &str, value: &str) -> Res<Duration> {
    let parsed = match value.strip_suffix("ms") {
        Some(ms) => duration(ms, Duration::from_millis),
        None => duration(
            value.strip_suffix('s').unwrap_or(value),
            Duration::from_secs,
        ),
    };
    parsed.map_err(|bad| match bad {
        BadDuration::NotANumber => {
            format!("{name} takes a number of seconds (or milliseconds as 500ms), not '{value}'")
        }
        BadDuration::TooLong => format!("{name} {value} is too long: {}", longest_allowed()),
    })
}

pub(super) fn log_level(word: &str) -> Res<log::LevelFilter> {
    use log::LevelFilter::*;
    Ok(match word.to_ascii_lowercase().as_str() {
        "emerg" | "alert" | "crit" | "error" => Error,
        "warn" => Warn,
        "notice" | "info" => Info,
        "debug" => Debug,
        "trace1" | "trace2" | "trace3" | "trace4" | "trace5" | "trace6" | "trace7" | "trace8" => Trace,
        _ => {
            return Err(format!(
                "LogLevel: '{word}' is not a level; use emerg, alert, crit, error, warn, notice, info, debug or trace1-8"
            ))
        }
    })
}

/// `http://name:port` → `name`; `[::1]:80` → `[::1]`.
pub(super) fn strip_server_name(value: &str) -> Res<String> {
    let rest = value.split_once("://").map_or(value, |(_, r)| r);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let host = if rest.starts_with('[') {
        match rest.find(']') {
            Some(end) => &rest[..=end],
            None => {
                return Err(format!(
                    "ServerName '{value}': unclosed '[' in an IPv6 address"
                ))
            }
        }
    } else {
        rest.split(':').next().unwrap_or(rest)
    };
    if host.is_empty() || host.contains('/') {
        return Err(format!("ServerName '{value}' is not a host name"));
    }
    Ok(host.to_string())
}

/// `*`, `*:80`, `_default_:80`, `127.0.0.1:8080`, `[::1]:8080`, `*:*`.
pub(super) fn parse_vhost_addr(text: &str) -> Res<VhostAddr> {
    let bad = |why: &str| format!("<VirtualHost {text}>: {why}");
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("unclosed '[' in an IPv6 address"))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("write [addr]:port"))?,
                ),
            ),
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let ip = match host {
        "*" | "_default_" => None,
        h => Some(h.parse::<IpAddr>().map_err(|_| {
            bad("give an IP address, * or _default_ (host names are not looked up)")
        })?),
    };
    let port = match port {
        None | Some("*") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| bad("the port must be a number from 0 to 65535 or *"))?,
        ),
    };
    Ok(VhostAddr { ip, port })
}

/// `Redirect [status] url-path [URL]`.
pub(super) fn parse_redirect(args: &[String]) -> Res<RedirectRule> {
    let (status, rest) = match args.first().map(|s| s.to_ascii_lowercase()) {
        Some(s) if s == "permanent" => (301, &args[1..]),
        Some(s) if s == "temp" => (302, &args[1..]),
        Some(s) if s == "seeother" => (303, &args[1..]),
        Some(s) if s == "gone" => (410, &args[1..]),
        Some(s) if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => {
            let code: u16 = s
                .parse()
                .map_err(|_| format!("Redirect: bad status '{s}'"))?;
            if !(300..=599).contains(&code) {
                return Err(format!(
                    "Redirect: status {code} is not a 3xx redirect or 4xx/5xx error status"
                ));
            }
            (code, &args[1..])
        }
        _ => (302, args),
    };
    let redirecting = (300..400).contains(&status);
    match (rest, redirecting) {
        ([from, to], true) => {
            if !from.starts_with('/') {
                return Err(format!("Redirect: the URL path '{from}' must start with /"));
            }
            if !(to.contains("://") || to.starts_with('/')) {
                return Err(format!(
                    "Redirect to non-URL '{to}': give an absolute URL (http://...) or a path"
                ));
            }
            Ok(RedirectRule {
                status,
                from: from.clone(),
                to: Some(to.clone()),
            })
        }
        ([from], false) => {
            if !from.starts_with('/') {
                return Err(format!("Redirect: the URL path '{from}' must start with /"));
            }
            Ok(RedirectRule {
                status,
                from: from.clone(),
                to: None,
            })
        }
        ([_], true) => Err(format!(
            "Redirect with status {status} needs a URL to redirect to"
        )),
        ([_, _], false) => Err(format!(
            "Redirect with status {status} takes no URL (status is not a redirect)"
        )),
        _ => Err("Redirect takes [status] url-path [URL]".into()),
    }
}

/// `Options`: all words absolute (`FollowSymLinks Indexes`, `None`,
/// `All`) or all relative (`+Indexes -FollowSymLinks`), as Apache 2.4
/// requires; a relative setting is applied when a request is served.
pub(super) fn parse_options(args: &[String]) -> Res<(OptionsSetting, Vec<String>)> {
    if args.is_empty() {
        return Err("Options takes at least one option".into());
    }
    let relative = args.iter().filter(|a| a.starts_with(['+', '-'])).count();
    if relative != 0 && relative != args.len() {
        return Err("Either all Options must start with + or -, or no Option may.".into());
    }
    let (mut set, mut add, mut remove) = (Options::NONE, Options::NONE, Options::NONE);
    let mut warnings = Vec::new();
    for arg in args {
        let (sign, word) = arg.split_at(usize::from(relative > 0));
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "none" if relative == 0 => set = Options::NONE,
            "all" if relative == 0 => set = Options::ALL,
            "followsymlinks" | "indexes" | "execcgi" => {
                let one = Options {
                    follow_symlinks: lower == "followsymlinks",
                    indexes: lower == "indexes",
                    exec_cgi: lower == "execcgi",
                };
                match sign {
                    "+" => (add, remove) = (add.with(one), remove.without(one)),
                    "-" => (add, remove) = (add.without(one), remove.with(one)),
                    _ => set = set.with(one),
                }
            }
            "symlinksifownermatch" => warnings.push(format!(
                "Options {word} has no effect in mpmd: symlinks are followed only with FollowSymLinks"
            )),
            "includes" | "includesnoexec" | "multiviews" => {
                warnings.push(format!("Options {word} has no effect in mpmd"))
            }
            _ => return Err(format!("Illegal option {word}")),
        }
    }
    let setting = if relative > 0 {
        OptionsSetting::Change { add, remove }
    } else {
        OptionsSetting::Set(set)
    };
    Ok((setting, warnings))
}

/// `Require all granted|all denied|local|ip …|method …|env …` (the user
/// rules, `expr` and `not` are read by `directives::auth` first).
pub(super) fn parse_require(args: &[String]) -> Res<Require> {
    let words: Vec<String> = args.iter().map(|a| a.to_ascii_lowercase()).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["all", "granted"] => Ok(Require::AllGranted),
        ["all", "denied"] => Ok(Require::AllDenied),
        ["local"] => Ok(Require::Local),
        ["ip", ..] if args.len() > 1 => args[1..].iter().map(|a| parse_ipnet("Require ip", a)).collect::<Res<Vec<_>>>().map(Require::Ip),
        ["host", ..] | ["forward-dns", ..] => {
            Err("Require host is not supported by mpmd (client addresses are never looked up); use Require ip".into())
        }
        ["method", ..] => args[1..]
            .iter()
            .map(|name| {
                mpm_site::require::parse_method(name).ok_or_else(|| {
                    format!(
                        "Require method: Invalid Method '{name}' (methods are written in capitals: GET POST PUT DELETE OPTIONS …; HEAD goes with GET)"
                    )
                })
            })
            .collect::<Res<Vec<_>>>()
            .map(Require::Method),
        ["env", ..] => Ok(Require::Env(args[1..].to_vec())),
        _ => Err(format!(
            "Require {}: expected all granted, all denied, local, ip ADDRESS..., valid-user, user NAME..., group NAME..., method METHOD..., env VARIABLE... or expr EXPRESSION",
            args.join(" ")
        )),
    }
}

/// `Require expr TEXT` (`TEXT` as written on the line, see
/// `directives::auth::require_line`).
pub(super) fn expr_rule(text: &str) -> Res<Require> {
    if text.trim().is_empty() {
        return Err(
            "Require expr needs an expression, e.g. Require expr \"%{REQUEST_METHOD} == 'GET'\""
                .into(),
        );
    }
    RequireExpr::parse(text)
        .map(Require::Expr)
        .map_err(|e| format!("Require expr: Cannot parse expression in require line: {e}"))
}

/// An argument of `directive`: `10.1` (= 10.1.0.0/16), `192.168.0.0/16`, `10.0.0.0/255.0.0.0`, `::1`,
/// `2001:db8::/32`.
pub(super) fn parse_ipnet(directive: &str, text: &str) -> Res<IpNet> {
    let bad = || format!("{directive}: '{text}' is not an address or network");
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let (ip, implied) = match addr.parse::<IpAddr>() {
        Ok(ip) => (ip, if ip.is_ipv4() { 32 } else { 128 }),
        Err(_) if !addr.contains(':') && prefix.is_none() => {
            // A partial IPv4 address: `10.1` or `10.1.` is 10.1.0.0/16.
            let parts: Vec<&str> = addr.trim_end_matches('.').split('.').collect();
            if parts.len() > 3 {
                return Err(bad());
            }
            let mut octets = [0u8; 4];
            for (i, p) in parts.iter().enumerate() {
                octets[i] = p.parse().map_err(|_| bad())?;
            }
            (IpAddr::from(octets), 8 * parts.len() as u8)
        }
        Err(_) => return Err(bad()),
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => implied,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            Ok(_) => return Err(bad()),
            Err(_) => match (ip, p.parse::<IpAddr>()) {
                (IpAddr::V4(_), Ok(IpAddr::V4(mask))) => {
                    let bits = u32::from(mask);
                    if bits.leading_ones() + bits.trailing_zeros() != 32 {
                        return Err(bad());
                    }
                    bits.leading_ones() as u8
                }
                _ => return Err(bad()),
            },
        },
    };
    Ok(IpNet { addr: ip, prefix })
}

/// One `stage=timeout[-max][,MinRate=rate]` of `RequestReadTimeout`.
pub(super) fn parse_read_stage(arg: &str) -> Res<(&str, ReadStage)> {
    let bad = |why: &str| format!("RequestReadTimeout {arg}: {why}");
    let (stage, value) = arg
        .split_once('=')
        .ok_or_else(|| bad("expected stage=timeout (header=20-40,MinRate=500)"))?;
    let stage = match stage.to_ascii_lowercase().as_str() {
        "header" => "header",
        "body" => "body",
        "handshake" => "handshake",
        _ => return Err(bad("the stage must be header, body or handshake")),
    };
    let mut parts = value.split(',');
    let times = parts.next().unwrap_or("");
    let secs = |t: &str| {
        duration(t, Duration::from_secs).map_err(|e| match e {
            BadDuration::NotANumber => bad("a timeout is a number of seconds"),
            BadDuration::TooLong => bad(&format!("{t} is too long: {}", longest_allowed())),
        })
    };
    let (initial, max) = match times.split_once('-') {
        Some((a, b)) => (secs(a)?, Some(secs(b)?)),
        None => (secs(times)?, None),
    };
    let mut min_rate = 0;
    for option in parts {
        match option.split_once('=') {
            Some((k, v)) if k.eq_ignore_ascii_case("minrate") => {
                min_rate = v
                    .parse()
                    .map_err(|_| bad("MinRate takes a number of bytes per second"))?;
                if min_rate == 0 {
                    return Err(bad("MinRate must be greater than 0"));
                }
            }
            _ => {
                return Err(bad(
                    "the only option after the timeout is MinRate=bytes-per-second",
                ))
            }
        }
    }
    if let Some(max) = max {
        if max <= initial {
            return Err(bad(
                "the maximum timeout must be larger than the initial one",
            ));
        }
        if min_rate == 0 {
            return Err(bad("a timeout range needs MinRate=bytes-per-second"));
        }
    }
    if initial.is_zero() {
        if max.is_some() || min_rate != 0 {
            return Err(bad("a disabled stage (0) takes no range or MinRate"));
        }
        return Ok((
            stage,
            ReadStage {
                initial: Duration::ZERO,
                max: None,
                min_rate: 0,
            },
        ));
    }
    Ok((
        stage,
        ReadStage {
            initial,
            max,
            min_rate,
        },
    ))
}

/// `<IfVersion [[!]op] version>` against [`EMULATED_VERSION`]; a version
/// with fewer parts compares only those (`= 2.4` holds for every 2.4.x).
pub(super) fn if_version(args: &[String]) -> Res<bool> {
    let (op, version) = match args {
        [v] => ("=", v.as_str()),
        [op, v] => (op.as_str(), v.as_str()),
        _ => return Err("<IfVersion> takes [operator] version, e.g. <IfVersion >= 2.4>".into()),
    };
    let (negate, op) = negation(op);
    if op == "~" || version.starts_with('/') {
        return Err("<IfVersion> with a regular expression is not supported by mpmd; compare with = > >= < <=".into());
    }
    let parts = version
        .split('.')
        .map(|p| p.parse::<u32>())
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|p| (1..=3).contains(&p.len()))
        .ok_or_else(|| {
            format!("<IfVersion>: '{version}' is not a version such as 2.4 or 2.4.62")
        })?;
    let ours = &EMULATED_VERSION[..parts.len()];
    let ord = ours.cmp(parts.as_slice());
    let result = match op {
        "=" | "==" => ord.is_eq(),
        ">" => ord.is_gt(),
        ">=" => ord.is_ge(),
        "<" => ord.is_lt(),
        "<=" => ord.is_le(),
        other => return Err(format!("<IfVersion>: unknown operator '{other}'")),
    };
    Ok(result != negate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_or_milliseconds() {
        assert_eq!(seconds("T", "5"), Ok(Duration::from_secs(5)));
        assert_eq!(seconds("T", "5s"), Ok(Duration::from_secs(5)));
        assert_eq!(seconds("T", "250ms"), Ok(Duration::from_millis(250)));
        assert!(seconds("T", "5m")
            .unwrap_err()
            .contains("T takes a number of seconds"));
        assert!(seconds("T", "-5").is_err());
        assert!(seconds("T", "+5").is_err(), "only digits, as written");
    }

    #[test]
    fn durations_longer_than_a_year_are_refused_with_the_largest_allowed() {
        assert_eq!(seconds("T", "31536000"), Ok(LONGEST));
        assert_eq!(seconds("T", "31536000000ms"), Ok(LONGEST));
        let too_long = "is too long: the largest value allowed is 31536000 seconds (365 days)";
        for value in [
            "31536001",
            "31536000001ms",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999999s",
        ] {
            assert_eq!(
                seconds("Timeout", value),
                Err(format!("Timeout {value} {too_long}"))
            );
        }
        let e = parse_read_stage("header=20-18446744073709551615,MinRate=500").unwrap_err();
        assert_eq!(
            e,
            format!("RequestReadTimeout header=20-18446744073709551615,MinRate=500: 18446744073709551615 {too_long}")
        );
    }

    #[test]
    fn numbers_are_non_negative_and_fit_their_field() {
        assert_eq!(number::<u32>("N", "42"), Ok(42));
        assert_eq!(
            number::<u32>("N", "x"),
            Err("N takes a number, not 'x'".to_string())
        );
        assert!(number::<u32>("N", "4294967296")
            .unwrap_err()
            .contains("smaller number"));
    }

    #[test]
    fn networks_in_every_apache_spelling() {
        let net = |t: &str| parse_ipnet("Require ip", t).map(|n| (n.addr.to_string(), n.prefix));
        assert_eq!(net("10"), Ok(("10.0.0.0".into(), 8)));
        assert_eq!(net("10.1."), Ok(("10.1.0.0".into(), 16)));
        assert_eq!(net("192.168.1.7"), Ok(("192.168.1.7".into(), 32)));
        assert_eq!(net("10.0.0.0/255.255.0.0"), Ok(("10.0.0.0".into(), 16)));
        assert_eq!(net("2001:db8::/32"), Ok(("2001:db8::".into(), 32)));
        assert!(net("10.0.0.0/255.0.255.0").is_err(), "a mask with holes");
        assert!(net("1.2.3.4.5").is_err());
        assert!(net("::1/129").is_err());
    }

    #[test]
    fn virtual_host_addresses() {
        let addr = |t: &str| parse_vhost_addr(t).map(|a| (a.ip.map(|i| i.to_string()), a.port));
        assert_eq!(addr("*"), Ok((None, None)));
        assert_eq!(addr("*:80"), Ok((None, Some(80))));
        assert_eq!(addr("_default_:443"), Ok((None, Some(443))));
        assert_eq!(
            addr("127.0.0.1:8080"),
            Ok((Some("127.0.0.1".into()), Some(8080)))
        );
        assert_eq!(addr("[::1]:8080"), Ok((Some("::1".into()), Some(8080))));
        assert_eq!(addr("[::1]"), Ok((Some("::1".into()), None)));
        assert!(addr("host.example:80").is_err());
        assert!(addr("*:http").is_err());
    }

    #[test]
    fn read_stage_forms() {
        let (stage, s) = parse_read_stage("header=20-40,MinRate=500").unwrap();
        assert_eq!(
            (stage, s.initial, s.max, s.min_rate),
            (
                "header",
                Duration::from_secs(20),
                Some(Duration::from_secs(40)),
                500
            )
        );
        let (_, s) = parse_read_stage("body=0").unwrap();
        assert_eq!((s.initial, s.max, s.min_rate), (Duration::ZERO, None, 0));
        assert!(
            parse_read_stage("body=0,MinRate=5").is_err(),
            "a disabled stage has no rate"
        );
        assert!(parse_read_stage("header=20,MinRate=0").is_err());
    }

    #[test]
    fn server_names_lose_scheme_port_and_slash() {
        assert_eq!(
            strip_server_name("https://a.example:443/"),
            Ok("a.example".into())
        );
        assert_eq!(strip_server_name("a.example"), Ok("a.example".into()));
        assert!(strip_server_name("http://a/b").is_err());
    }
}
