use super::*;
use crate::vars::table::TableVars;

fn request() -> TableVars {
    TableVars::default()
        .with("REQUEST_URI", "/blog/2024/hello")
        .with("QUERY_STRING", "a=1&b=2")
        .with("REQUEST_METHOD", "GET")
        .with("HTTPS", "off")
        .with("REMOTE_ADDR", "192.168.1.20")
        .with("SERVER_PORT", "8080")
        .header("Host", "www.example.org")
        .header("User-Agent", "curl/8.0")
        .env("STAGE", "prod")
        .file("/srv/www/index.php", 120)
        .file("/srv/www/empty", 0)
        .dir("/srv/www")
}

fn holds(text: &str) -> bool {
    let e = Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    e.eval(&request())
}

#[test]
fn string_comparisons_read_variables_and_headers() {
    assert!(holds("%{HTTP_HOST} == 'www.example.org'"));
    assert!(holds("%{HTTP_HOST} = \"www.example.org\""));
    assert!(holds("%{REQUEST_METHOD} != 'POST'"));
    assert!(holds("req('user-agent') == 'curl/8.0'"));
    assert!(holds("http('Host') == %{HTTP:host}"));
    assert!(holds("%{ENV:STAGE} == 'prod' && env('STAGE') == 'prod'"));
    assert!(holds(
        "'abc' < 'abd' && 'b' > 'a' && 'a' <= 'a' && 'b' >= 'a'"
    ));
    assert!(holds("'host=%{HTTP_HOST}' == 'host=www.example.org'"));
    assert!(holds(
        "%{HTTP_HOST} . ':' . %{SERVER_PORT} == 'www.example.org:8080'"
    ));
    assert!(!holds("%{HTTP_REFERER} == 'x'"));
    assert!(holds("-z %{HTTP_REFERER} && -n %{HTTP_HOST}"));
}

#[test]
fn integer_comparisons_need_integers() {
    assert!(holds("%{SERVER_PORT} -eq 8080"));
    assert!(holds("%{SERVER_PORT} -gt 80 && %{SERVER_PORT} -le 8080"));
    assert!(holds("10 -ne 9 && 9 -lt 10 && 10 -ge 10"));
    assert!(
        !holds("'abc' -eq 0"),
        "not an integer: false, never a panic"
    );
    assert!(!holds("'abc' -ne 0"));
}

#[test]
fn regexes_match_and_set_back_references() {
    assert!(holds("%{REQUEST_URI} =~ /^\\/blog\\/(\\d+)\\//"));
    assert!(holds("%{REQUEST_URI} =~ m#^/blog/(\\d+)/# && $1 == '2024'"));
    assert!(holds("%{HTTP_HOST} =~ /EXAMPLE/i"));
    assert!(holds("%{HTTP_HOST} !~ /EXAMPLE/"));
    assert!(!holds("%{REQUEST_URI} !~ m#^/blog#"));
}

#[test]
fn file_tests_read_the_file_system_through_the_trait() {
    assert!(holds("-f '/srv/www/index.php'"));
    assert!(holds("-s '/srv/www/index.php' && !-s '/srv/www/empty'"));
    assert!(holds("-d '/srv/www' && !-f '/srv/www'"));
    assert!(holds("-e '/srv/www/empty' && !-e '/srv/nothing'"));
    assert!(!holds("-f ''"));
}

#[test]
fn ip_glob_and_list_operators() {
    assert!(holds("%{REMOTE_ADDR} -ipmatch '192.168.0.0/16'"));
    assert!(holds("%{REMOTE_ADDR} -ipmatch '192.168'"));
    assert!(!holds("%{REMOTE_ADDR} -ipmatch '10.0.0.0/8'"));
    assert!(!holds("'nonsense' -ipmatch '10.0.0.0/8'"));
    assert!(holds("-R '192.168.1.0/24'"));
    assert!(holds("%{REQUEST_URI} -strmatch '/blog/*'"));
    assert!(holds("%{HTTP_HOST} -strcmatch 'WWW.*.ORG'"));
    assert!(!holds("%{REQUEST_URI} -fnmatch '/blog/*'"));
    assert!(holds("%{REQUEST_URI} -fnmatch '/blog/*/*'"));
    assert!(holds("'a1' -strmatch '[a-c]?'"));
    assert!(holds("%{REQUEST_METHOD} in { 'GET', 'HEAD' }"));
    assert!(!holds("%{REQUEST_METHOD} in { 'POST' }"));
}

#[test]
fn functions_and_truth() {
    assert!(holds("tolower(%{HTTP_HOST}) == 'www.example.org'"));
    assert!(holds("toupper('ab') == 'AB'"));
    assert!(holds(
        "escape('/a b') == '/a%20b' && unescape('%41') == 'A'"
    ));
    assert!(holds("-T 'yes' && !-T 'off' && !-T '0' && !-T ''"));
    assert!(holds("true && !false"));
    assert!(holds("false || (true && !(false))"));
    assert!(holds("!false && false || true"), "&& binds tighter than ||");
    assert!(!holds("!(true || false)"));
}

#[test]
fn string_expressions_interpolate() {
    let s = StringExpr::parse("host=%{HTTP_HOST} stage=%{ENV:STAGE} ua=%{req:User-Agent}")
        .expect("parses");
    assert_eq!(
        s.eval(&request()),
        "host=www.example.org stage=prod ua=curl/8.0"
    );
}

#[test]
fn errors_say_what_and_where() {
    for (text, at, what) in [
        ("%{HTTP_HOST} ==", 15, "value at the end"),
        ("%{NOPE} == 'x'", 0, "unknown variable 'NOPE'"),
        (
            "%{HTTP_ACCEPT_LANGUAGE} == 'de'",
            0,
            "read the header with req('accept-language')",
        ),
        ("%{HTTP_HOST} =~ /(a/", 16, "not valid"),
        ("%{HTTP_HOST} =~ /(?<=a)/", 16, "look-behind"),
        (
            "'a' == 'b' 'c'",
            11,
            "found a string after a complete condition",
        ),
        ("'a", 0, "not closed"),
        ("%{HTTP_HOST}", 0, "a value alone is not a condition"),
        ("'a' -foo 'b'", 4, "unknown operator '-foo'"),
        ("frob('a') == 'b'", 0, "unknown function"),
        ("('a' == 'b'", 11, "expected ')'"),
        ("%{HTTP_HOST} =~ 'x'", 16, "regular expression"),
        ("%{bogus:x} == ''", 0, "unknown function 'bogus'"),
    ] {
        let err = Expr::parse(text).expect_err(text);
        assert_eq!(err.position, at, "{text}: {err}");
        assert!(err.message.contains(what), "{text}: {err}");
    }
    let err = Expr::parse("%{X} == 1").expect_err("unknown");
    assert_eq!(err.to_string(), "at character 1: unknown variable 'X'");
}

#[test]
fn glob_does_not_blow_up() {
    let text = "a".repeat(5000);
    let pat = "*a*a*a*a*a*a*b";
    assert!(!glob(text.as_bytes(), pat.as_bytes(), false, false));
    assert!(glob(b"", b"*", false, false));
    assert!(!glob(b"x", b"[", false, false));
    assert!(glob(b"[", b"[", false, false));
}

#[test]
fn the_headers_an_answer_read_are_noted_for_vary_as_apache_notes_them() {
    let vary = |text: &str| {
        let e = Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        e.eval_noting_vary(&request())
    };
    assert_eq!(
        vary("req('X-Token') == 'open' || %{HTTP_HOST} == 'www.example.org'"),
        (true, vec!["X-Token".to_string(), "Host".to_string()])
    );
    // Short-circuit: what was not read is not noted.
    assert_eq!(
        vary("%{HTTP:User-Agent} == 'curl/8.0' || http('Accept') == 'x'"),
        (true, vec!["User-Agent".to_string()])
    );
    // req_novary, variables that are not headers, and ENV: no Vary.
    assert_eq!(
        vary("req_novary('Host') == 'x' || %{REQUEST_METHOD} == 'GET' || -n %{ENV:STAGE}"),
        (true, vec![])
    );
    // Each header once.
    assert_eq!(
        vary("req('Host') == 'a' || %{HTTP_HOST} == 'b'"),
        (false, vec!["Host".to_string()])
    );
}
