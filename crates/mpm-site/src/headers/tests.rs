use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use http::header::HeaderMap;
use http::{HeaderValue, StatusCode};

use super::*;

fn rule(args: &str) -> HeaderRule {
    let args: Vec<&str> = args.split_whitespace().collect();
    HeaderRule::parse(&args, false).unwrap()
}

fn request_rule(args: &str) -> HeaderRule {
    let args: Vec<&str> = args.split_whitespace().collect();
    HeaderRule::parse(&args, true).unwrap()
}

fn env(name: &str) -> Option<String> {
    match name {
        "HAS" => Some("yes".into()),
        _ => None,
    }
}

fn ssl(name: &str) -> Option<String> {
    (name == "SSL_PROTOCOL").then(|| "TLSv1.3".into())
}

/// A request for `/secure/x` over TLS.
struct Vars;
impl crate::vars::RequestVars for Vars {
    fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        match name {
            "HTTPS" => Some("on".into()),
            "REQUEST_URI" => Some("/secure/x".into()),
            _ => None,
        }
    }
    fn header(&self, _name: &str) -> Option<Cow<'_, str>> {
        None
    }
    fn env(&self, name: &str) -> Option<Cow<'_, str>> {
        env(name).map(Cow::Owned)
    }
}

fn with_ctx<T>(request_headers: &HeaderMap, f: impl FnOnce(&Context<'_>) -> T) -> T {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let ctx = Context {
        env: &env,
        ssl: &ssl,
        request_time: start,
        now: start + Duration::from_micros(1500),
        request_headers,
        vars: &Vars,
        note: &|_, _| {},
    };
    f(&ctx)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn values(map: &HeaderMap, name: &str) -> Vec<String> {
    map.get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn apply(r: &HeaderRule, map: &mut HeaderMap) {
    let empty = HeaderMap::new();
    with_ctx(&empty, |ctx| r.apply(map, ctx));
}

#[test]
fn set_add_append_merge_unset_and_setifempty_follow_mod_headers() {
    let mut map = headers(&[("x-a", "1"), ("x-a", "2")]);
    apply(&rule("set X-A 3"), &mut map);
    assert_eq!(values(&map, "x-a"), ["3"]);
    apply(&rule("add X-A 4"), &mut map);
    assert_eq!(values(&map, "x-a"), ["3", "4"]);
    apply(&rule("append X-A 5"), &mut map);
    assert_eq!(values(&map, "x-a"), ["3, 4, 5"]);
    apply(&rule("merge X-A 4"), &mut map);
    assert_eq!(
        values(&map, "x-a"),
        ["3, 4, 5"],
        "merge added a value present"
    );
    apply(&rule("merge X-A 6"), &mut map);
    assert_eq!(values(&map, "x-a"), ["3, 4, 5, 6"]);
    apply(&rule("setifempty X-A 7"), &mut map);
    assert_eq!(values(&map, "x-a"), ["3, 4, 5, 6"]);
    apply(&rule("unset X-A"), &mut map);
    assert!(values(&map, "x-a").is_empty());
    apply(&rule("setifempty X-A 7"), &mut map);
    apply(&rule("append X-B 1"), &mut map);
    assert_eq!(values(&map, "x-a"), ["7"]);
    assert_eq!(values(&map, "x-b"), ["1"]);
}

#[test]
fn edit_replaces_the_first_match_and_edit_star_every_match_with_back_references() {
    let mut map = headers(&[("set-cookie", "a=1; path=/; path=/x")]);
    apply(&rule("edit Set-Cookie path=(/\\w*) route=$1"), &mut map);
    assert_eq!(values(&map, "set-cookie"), ["a=1; route=/; path=/x"]);
    apply(&rule("edit* Set-Cookie path= P&"), &mut map);
    assert_eq!(values(&map, "set-cookie"), ["a=1; route=/; Ppath=/x"]);
    let mut map = headers(&[("location", "http://a/"), ("location", "http://b/")]);
    apply(&rule("edit Location ^http: https:"), &mut map);
    assert_eq!(values(&map, "location"), ["https://a/", "https://b/"]);
}

#[test]
fn format_specifiers_render_time_duration_env_and_ssl_variables() {
    let format = Format::parse("%t %D %{HAS}e %{NONE}e %{SSL_PROTOCOL}s 100%%").unwrap();
    let empty = HeaderMap::new();
    let text = with_ctx(&empty, |ctx| format.render(ctx));
    assert_eq!(text, "t=1700000000000000 D=1500 yes (null) TLSv1.3 100%");
}

#[test]
fn unknown_format_specifiers_and_bad_lines_are_refused_with_the_reason() {
    for (line, says) in [
        ("set X %q", "unrecognized header format %q"),
        ("set X %{A", "without its closing"),
        ("set X abc%", "at the end"),
        ("frobnicate X 1", "unknown action 'frobnicate'"),
        ("set", "needs a header name"),
        ("set X", "one value"),
        ("set X 1 2", "one value"),
        ("unset X 1", "no value"),
        ("edit X ( y", "not a valid regular expression"),
        ("edit X a", "an expression and a replacement"),
        ("set Bad:Name 1", "not a valid header name"),
        (
            "set X 1 expr=%{NO_SUCH_THING}=='on'",
            "expr=%{NO_SUCH_THING}=='on': at character",
        ),
        ("set X 1 env=", "env= needs a variable name"),
    ] {
        let args: Vec<&str> = line.split_whitespace().collect();
        let err = HeaderRule::parse(&args, false).unwrap_err();
        assert!(err.contains(says), "{line}: {err}");
    }
    let err = HeaderRule::parse(&["note", "X-A", "a"], true).unwrap_err();
    assert!(
        err.starts_with("RequestHeader does not support the 'note' action"),
        "{err}"
    );
    assert!(HeaderRule::parse(&["note", "X-A", "a"], false).is_ok());
    let err = HeaderRule::parse(&["echo", "^X"], true).unwrap_err();
    assert!(
        err.starts_with("RequestHeader: unknown action 'echo'"),
        "{err}"
    );
}

#[test]
fn env_conditions_select_rules_by_the_request_environment() {
    let mut map = HeaderMap::new();
    apply(&rule("set X-Has 1 env=HAS"), &mut map);
    apply(&rule("set X-Not 1 env=!HAS"), &mut map);
    apply(&rule("set X-None 1 env=NONE"), &mut map);
    apply(&rule("set X-NotNone 1 env=!NONE"), &mut map);
    assert_eq!(values(&map, "x-has"), ["1"]);
    assert!(values(&map, "x-not").is_empty());
    assert!(values(&map, "x-none").is_empty());
    assert_eq!(values(&map, "x-notnone"), ["1"]);
}

#[test]
fn onsuccess_rules_skip_errors_and_redirects_while_always_rules_do_not() {
    let config = HeadersConfig {
        response: vec![
            rule("set X-Success 1"),
            rule("always set X-Always 1"),
            rule("onsuccess set X-Explicit 1"),
        ],
        request: Vec::new(),
    };
    let empty = HeaderMap::new();
    for (status, success) in [
        (StatusCode::OK, true),
        (StatusCode::NOT_MODIFIED, true),
        (StatusCode::NOT_FOUND, false),
        (StatusCode::MOVED_PERMANENTLY, false),
        (StatusCode::INTERNAL_SERVER_ERROR, false),
    ] {
        let mut map = HeaderMap::new();
        with_ctx(&empty, |ctx| config.apply_response(status, &mut map, ctx));
        assert_eq!(map.contains_key("x-success"), success, "{status}");
        assert_eq!(map.contains_key("x-explicit"), success, "{status}");
        assert!(map.contains_key("x-always"), "{status}");
    }
}

#[test]
fn early_rules_run_first_and_request_rules_split_by_phase() {
    let config = HeadersConfig {
        response: vec![rule("set X 2"), rule("append X 1 early")],
        request: vec![
            request_rule("set X-Late 1"),
            request_rule("set X-Early 1 early"),
        ],
    };
    let empty = HeaderMap::new();
    let mut map = HeaderMap::new();
    with_ctx(&empty, |ctx| {
        config.apply_response(StatusCode::OK, &mut map, ctx)
    });
    assert_eq!(values(&map, "x"), ["2"]);
    let mut req = HeaderMap::new();
    with_ctx(&empty, |ctx| config.apply_request(&mut req, true, ctx));
    assert!(req.contains_key("x-early") && !req.contains_key("x-late"));
    with_ctx(&empty, |ctx| config.apply_request(&mut req, false, ctx));
    assert!(req.contains_key("x-late"));
}

#[test]
fn echo_copies_the_request_headers_whose_names_match() {
    let request = headers(&[("x-trace", "abc"), ("x-other", "1"), ("accept", "*/*")]);
    let mut map = HeaderMap::new();
    with_ctx(&request, |ctx| rule("echo ^X-").apply(&mut map, ctx));
    assert_eq!(values(&map, "x-trace"), ["abc"]);
    assert_eq!(values(&map, "x-other"), ["1"]);
    assert!(!map.contains_key("accept"));
}

#[test]
fn expr_conditions_are_apache_expressions_evaluated_per_request() {
    let args = [
        "set",
        "Strict-Transport-Security",
        "max-age=31536000",
        "expr=%{HTTPS} == 'on'",
    ];
    let hsts = HeaderRule::parse(&args, false).unwrap();
    let args = ["set", "X-Old", "1", "expr=%{REQUEST_URI} =~ m#^/old/#"];
    let old = HeaderRule::parse(&args, false).unwrap();
    let mut map = HeaderMap::new();
    apply(&hsts, &mut map);
    apply(&old, &mut map);
    assert_eq!(
        values(&map, "strict-transport-security"),
        ["max-age=31536000"]
    );
    assert!(
        !map.contains_key("x-old"),
        "the expression was not evaluated"
    );
}
