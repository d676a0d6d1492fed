//! The engine against tables: one test per flag and condition kind,
//! the three applications' `.htaccess` files, and the errors.

use super::*;
use crate::vars::table::TableVars;
use crate::vars::{FileFacts, RequestVars};
use std::borrow::Cow;

fn words(line: &str) -> Vec<String> {
    // Whitespace-separated, double quotes group (as the config lexer).
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A configuration from directive lines (`RewriteEngine`, `RewriteBase`,
/// `RewriteCond`, `RewriteRule`, `RewriteOptions`, `RewriteMap`).
fn config(mut cfg: RewriteConfig, text: &str) -> RewriteConfig {
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let w = words(line);
        let args = &w[1..];
        let r = match w[0].as_str() {
            "RewriteEngine" => {
                cfg.engine = Some(args[0].eq_ignore_ascii_case("on"));
                Ok(())
            }
            "RewriteBase" => cfg.set_base(&args[0]),
            "RewriteCond" => cfg.add_cond(args),
            "RewriteRule" => cfg.add_rule(args),
            "RewriteOptions" => cfg.add_options(args),
            "RewriteMap" => cfg.add_map(&args[0], &args[1], Path::new("/")),
            "<IfModule" | "</IfModule>" | "Options" => Ok(()),
            other => Err(format!("test: unknown directive {other}")),
        };
        r.unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    cfg
}

fn server(text: &str) -> RewriteConfig {
    config(
        RewriteConfig::server(),
        &format!("RewriteEngine On\n{text}"),
    )
}

fn dir(path: &str, text: &str) -> RewriteConfig {
    config(RewriteConfig::directory(path), text)
}

fn site() -> TableVars {
    TableVars::default()
        .with("SERVER_NAME", "www.example.org")
        .with("SERVER_PORT", "80")
        .with("HTTPS", "off")
        .with("DOCUMENT_ROOT", "/srv/www")
        .with("REQUEST_METHOD", "GET")
        .header("Host", "www.example.org")
        .dir("/srv")
        .dir("/srv/www")
        .file("/srv/www/index.php", 100)
        .file("/srv/www/style.css", 10)
        .dir("/srv/www/wp-admin")
        .file("/srv/www/empty.txt", 0)
}

fn run_server(cfg: &RewriteConfig, vars: &TableVars, uri: &str, query: Option<&str>) -> Outcome {
    run_server_sent(cfg, vars, uri, uri, query)
}

/// A server pass for a request sent as `unparsed_uri` (decoded: `uri`).
fn run_server_sent(
    cfg: &RewriteConfig,
    vars: &TableVars,
    unparsed_uri: &str,
    uri: &str,
    query: Option<&str>,
) -> Outcome {
    cfg.server_pass(
        vars,
        &cfg.maps,
        ServerRequest {
            unparsed_uri,
            uri,
            query,
            limit_request_line: 8190,
        },
    )
}

fn run_dir(
    cfg: &RewriteConfig,
    vars: &TableVars,
    filename: &str,
    path_info: &str,
    query: Option<&str>,
) -> Outcome {
    cfg.dir_pass(
        vars,
        &cfg.maps,
        DirRequest {
            unparsed_uri: "/",
            filename,
            path_info,
            query,
            symlinks_allowed: true,
            limit_request_line: 8190,
        },
    )
}

fn file(path: &str) -> Action {
    Action::File {
        path: path.into(),
        query: None,
    }
}

fn redirect(location: &str, status: u16) -> Action {
    Action::Redirect {
        location: location.into(),
        status,
    }
}

fn internal(path: &str, query: Option<&str>) -> Action {
    Action::InternalRedirect {
        path: path.into(),
        query: query.map(Into::into),
    }
}

#[test]
fn engine_off_or_no_rules_changes_nothing() {
    let cfg = config(RewriteConfig::server(), "RewriteRule ^ /x");
    assert_eq!(run_server(&cfg, &site(), "/a", None), Outcome::default());
    let cfg = server("");
    assert_eq!(run_server(&cfg, &site(), "/a", None).action, Action::None);
}

#[test]
fn server_rules_map_to_the_document_root_unless_the_first_segment_exists() {
    let cfg = server("RewriteRule ^/old/(.*)$ /new/$1");
    assert_eq!(
        run_server(&cfg, &site(), "/old/a/b", None).action,
        file("/srv/www/new/a/b")
    );
    let cfg = server("RewriteRule ^/raw$ /srv/www/index.php");
    assert_eq!(
        run_server(&cfg, &site(), "/raw", None).action,
        file("/srv/www/index.php")
    );
    let cfg = server("RewriteRule ^/pt$ /index.php [PT]");
    assert_eq!(
        run_server(&cfg, &site(), "/pt", Some("a=1")).action,
        Action::Uri {
            path: "/index.php".into(),
            query: Some("a=1".into())
        }
    );
    let cfg = server("RewriteRule ^/rel$ relative");
    let out = run_server(&cfg, &site(), "/rel", None);
    assert_eq!(out.action, Action::Status(400));
    assert!(out.error.is_some_and(|e| e.contains("'relative'")));
}

#[test]
fn rule_patterns_negate_and_ignore_case() {
    let cfg = server("RewriteRule !^/keep /other [L]");
    assert_eq!(
        run_server(&cfg, &site(), "/keep", None).action,
        Action::None
    );
    assert_eq!(
        run_server(&cfg, &site(), "/x", None).action,
        file("/srv/www/other")
    );
    let cfg = server("RewriteRule ^/ABC$ /abc [NC]");
    assert_eq!(
        run_server(&cfg, &site(), "/aBc", None).action,
        file("/srv/www/abc")
    );
}

#[test]
fn redirects_are_qualified_escaped_and_keep_their_status() {
    let cfg = server("RewriteRule ^/old/(.*)$ /new/$1 [R=301,L]");
    assert_eq!(
        run_server(&cfg, &site(), "/old/a b", Some("x=1")).action,
        redirect("http://www.example.org/new/a%20b?x=1", 301)
    );
    let cfg = server("RewriteRule ^/old/(.*)$ /new/$1 [R,NE,L]");
    assert_eq!(
        run_server(&cfg, &site(), "/old/a#b", None).action,
        redirect("http://www.example.org/new/a#b", 302)
    );
    let cfg = server("RewriteRule ^/s$ /t [R=seeother]");
    assert_eq!(
        run_server(&cfg, &site(), "/s", None).action,
        redirect("http://www.example.org/t", 303)
    );
    let cfg = server("RewriteRule ^/ext$ https://other.example/path?q=a\\%20b [L]");
    assert_eq!(
        run_server(&cfg, &site(), "/ext", None).action,
        redirect("https://other.example/path?q=a%2520b", 302),
        "a new query is escaped, as Apache does (NE prevents it)"
    );
    let vars = site().with("SERVER_PORT", "8443").with("HTTPS", "on");
    let cfg = server("RewriteRule ^/p$ /q [R=308]");
    assert_eq!(
        run_server(&cfg, &vars, "/p", None).action,
        redirect("https://www.example.org:8443/q", 308)
    );
}

#[test]
fn an_absolute_url_to_this_server_is_reduced_to_a_path() {
    let cfg = server("RewriteRule ^/a$ http://www.example.org/b");
    assert_eq!(
        run_server(&cfg, &site(), "/a", None).action,
        file("/srv/www/b")
    );
}

#[test]
fn status_flags_drop_the_substitution() {
    for (flags, status) in [
        ("[F]", 403),
        ("[G]", 410),
        ("[R=404]", 404),
        ("[R=503]", 503),
    ] {
        let cfg = server(&format!(
            "RewriteRule ^/secret /ignored {flags}\nRewriteRule ^ /never"
        ));
        assert_eq!(
            run_server(&cfg, &site(), "/secret", None).action,
            Action::Status(status),
            "{flags}"
        );
    }
}

#[test]
fn query_flags_append_discard_and_split_last() {
    let cases = [
        ("RewriteRule ^/a$ /b?x=1", Some("y=2"), Some("x=1")),
        (
            "RewriteRule ^/a$ /b?x=1 [QSA]",
            Some("y=2"),
            Some("x=1&y=2"),
        ),
        ("RewriteRule ^/a$ /b?x=1 [QSA]", None, Some("x=1")),
        ("RewriteRule ^/a$ /b [QSD]", Some("y=2"), None),
        ("RewriteRule ^/a$ /b", Some("y=2"), Some("y=2")),
        ("RewriteRule ^/a$ /b? ", Some("y=2"), None),
        ("RewriteRule ^/a$ /b?c?d=1 [QSL]", None, Some("d=1")),
    ];
    for (rule, query, want) in cases {
        let out = run_server(&server(rule), &site(), "/a", query);
        let Action::File { query: got, path } = out.action else {
            panic!("{rule}: {:?}", out.action)
        };
        assert_eq!(got.as_deref(), want, "{rule} with {query:?}");
        if rule.contains("QSL") {
            assert_eq!(path, "/srv/www/b?c");
        }
    }
}

#[test]
fn conditions_test_strings_files_and_numbers() {
    let vars = site()
        .with("REQUEST_FILENAME", "/srv/www/index.php")
        .with("QUERY_STRING", "id=42")
        .header("User-Agent", "curl/8");
    let holds = |cond: &str| {
        let cfg = server(&format!("RewriteCond {cond}\nRewriteRule ^ /yes"));
        matches!(run_server(&cfg, &vars, "/x", Some("id=42")).action, Action::File { path, .. } if path == "/srv/www/yes")
    };
    assert!(holds("%{HTTP_USER_AGENT} ^curl"));
    assert!(holds("%{HTTP:user-agent} ^CURL [NC]"));
    assert!(holds("%{HTTP_USER_AGENT} !^wget"));
    assert!(!holds("%{HTTP_USER_AGENT} ^CURL"));
    assert!(holds("%{QUERY_STRING} =id=42"));
    assert!(holds("%{QUERY_STRING} =ID=42 [NC]"));
    assert!(holds("%{HTTP_REFERER} =\"\""));
    assert!(holds("%{QUERY_STRING} !=\"\""));
    assert!(holds("/srv/www/index.php -f"));
    assert!(holds("/srv/www/index.php -s"));
    assert!(!holds("/srv/www/empty.txt -s"));
    assert!(holds("/srv/www/wp-admin -d"));
    assert!(holds("/srv/www/nothing !-f"));
    assert!(holds("%{DOCUMENT_ROOT}/style.css -f"));
    assert!(holds("10 -gt9"));
    assert!(holds("10 \"-ge 10\""));
    assert!(holds("9 -lt10"));
    assert!(holds("9 -le9"));
    assert!(holds("abc -eq0"), "atoi: not a number is 0");
    assert!(holds("5 -ne4"));
    assert!(holds("b >a"));
    assert!(holds("abc >zz"), "mod_rewrite compares lengths first");
    assert!(holds("a <b"));
    assert!(holds("a <=a"));
    assert!(holds("b >=a"));
    assert!(holds(
        "expr \"%{QUERY_STRING} =~ /id=(\\d+)/ && -f '/srv/www/index.php'\""
    ));
    assert!(!holds("expr \"%{REQUEST_METHOD} == 'POST'\""));
}

#[test]
fn or_chains_and_back_references_from_conditions() {
    let cfg = server(
        "RewriteCond %{HTTP_HOST} ^www\\.(.+)$ [OR]\n\
         RewriteCond %{HTTP_HOST} ^w3\\.(.+)$\n\
         RewriteRule ^/(.*)$ http://%1/$1 [R=301,L]",
    );
    for host in ["www.example.com", "w3.example.com"] {
        let vars = site().with("SERVER_NAME", host).header("Host", host);
        assert_eq!(
            run_server(&cfg, &vars, "/a/b", None).action,
            redirect("http://example.com/a/b", 301),
            "{host}"
        );
    }
    let vars = site()
        .with("SERVER_NAME", "example.com")
        .header("Host", "example.com");
    assert_eq!(run_server(&cfg, &vars, "/a", None).action, Action::None);
}

#[test]
fn headers_read_by_conditions_of_a_matching_rule_go_to_vary() {
    let vars = site()
        .header("Accept-Language", "de")
        .header("User-Agent", "x");
    let cfg = server(
        "RewriteCond %{HTTP:Accept-Language} ^de\n\
         RewriteCond %{HTTP_HOST} .\n\
         RewriteCond %{HTTP_USER_AGENT} . [NV]\n\
         RewriteRule ^/$ /de/ [L]",
    );
    let out = run_server(&cfg, &vars, "/", None);
    assert_eq!(
        out.vary,
        vec!["Accept-Language".to_string()],
        "Host and [NV] are not added"
    );
    let cfg = server("RewriteCond %{HTTP:Accept-Language} ^fr\nRewriteRule ^/$ /fr/");
    assert!(run_server(&cfg, &vars, "/", None).vary.is_empty());
}

#[test]
fn env_cookie_type_and_handler_flags() {
    let cfg = server(
        "RewriteRule ^/(\\w+)\\.gz$ - [E=ZIPPED:$1,E=!GONE,T=Application/X-Gzip,H=My-Handler,CO=seen:1:.example.org:60:/:secure:HttpOnly:Lax,CO=plain:v:example.org]",
    );
    let vars = site().env("GONE", "x");
    let out = run_server(&cfg, &vars, "/file.gz", None);
    assert_eq!(out.action, Action::None);
    assert_eq!(
        out.env,
        vec![
            ("ZIPPED".into(), Some("file".into())),
            ("GONE".into(), None)
        ]
    );
    assert_eq!(out.content_type.as_deref(), Some("application/x-gzip"));
    assert_eq!(out.handler.as_deref(), Some("my-handler"));
    assert_eq!(
        out.cookies,
        vec![
            "seen=1; path=/; domain=.example.org; expires=Thu, 29-Feb-2024 14:05:09 GMT; secure; HttpOnly; SameSite=Lax".to_string(),
            "plain=v; path=/; domain=example.org".to_string(),
        ]
    );
    let cfg = server("RewriteRule ^ - [E=A:1]\nRewriteCond %{ENV:A} =1\nRewriteRule ^ /seen");
    assert_eq!(
        run_server(&cfg, &site(), "/x", None).action,
        file("/srv/www/seen"),
        "E= is visible to later rules"
    );
}

#[test]
fn last_end_skip_chain_and_next() {
    let cfg = server("RewriteRule ^/a$ /b [L]\nRewriteRule ^/b$ /c");
    assert_eq!(
        run_server(&cfg, &site(), "/a", None).action,
        file("/srv/www/b")
    );
    let cfg = server("RewriteRule ^/a$ /b\nRewriteRule ^/b$ /c");
    assert_eq!(
        run_server(&cfg, &site(), "/a", None).action,
        file("/srv/www/c")
    );
    let out = run_server(
        &server("RewriteRule ^/a$ /b [END]\nRewriteRule ^/b$ /c"),
        &site(),
        "/a",
        None,
    );
    assert!(out.end);
    assert_eq!(out.action, file("/srv/www/b"));
    let cfg = server("RewriteRule ^/a$ /b [S=1]\nRewriteRule ^ /skipped\nRewriteRule ^/b$ /c");
    assert_eq!(
        run_server(&cfg, &site(), "/a", None).action,
        file("/srv/www/c")
    );
    let cfg = server("RewriteRule ^/x$ /y [C]\nRewriteRule ^/y$ /z [C]\nRewriteRule ^ /chained\nRewriteRule ^/q$ /after");
    assert_eq!(
        run_server(&cfg, &site(), "/x", None).action,
        file("/srv/www/chained")
    );
    assert_eq!(
        run_server(&cfg, &site(), "/q", None).action,
        file("/srv/www/after"),
        "a failed chain head skips the chain"
    );
    let cfg = server("RewriteRule ^/(.*)-(.*)$ /$1_$2 [N]");
    assert_eq!(
        run_server(&cfg, &site(), "/a-b-c", None).action,
        file("/srv/www/a_b_c")
    );
    let cfg = server("RewriteRule ^/(.*)$ /x$1 [N=5]");
    let out = run_server(&cfg, &site(), "/a", None);
    assert_eq!(out.action, Action::Status(500));
    assert!(out
        .error
        .is_some_and(|e| e.contains("maximum number of rounds (5)")));
}

#[test]
fn an_encoded_question_mark_made_a_query_or_a_spaced_query_is_refused_as_apache_2_4_60_does() {
    let cfg = server("RewriteRule ^/e/(.*)$ /x/$1 [L]");
    let out = run_server_sent(&cfg, &site(), "/e/a%3Fb", "/e/a?b", None);
    assert_eq!(out.action, Action::Status(403));
    assert!(out.error.is_some_and(|e| e.contains("UnsafeAllow3F")));
    let cfg = server("RewriteRule ^/e/(.*)$ /x/$1 [L,UnsafeAllow3F]");
    assert_eq!(
        run_server_sent(&cfg, &site(), "/e/a%3Fb", "/e/a?b", None).action,
        Action::File {
            path: "/srv/www/x/a".into(),
            query: Some("b".into())
        }
    );
    let cfg = server("RewriteRule ^/q/(.*)$ /x?y=$1 [L]");
    let out = run_server(&cfg, &site(), "/q/a b", None);
    assert_eq!(out.action, Action::Status(403));
    assert!(out
        .error
        .is_some_and(|e| e.contains("control characters or spaces")));
}

#[test]
fn multi_byte_characters_where_a_scheme_or_prefix_would_end_are_not_a_panic() {
    // Found by the rewrite_rule fuzz target (a lossy byte in a variable
    // name); the same slicing read substitutions built from the URL.
    let cfg = server("RewriteCond %{REQ\u{fffd}UEST_URI} (.+)/$\nRewriteRule ^/(.*)$ /$1 [L]");
    assert_eq!(
        run_server(&cfg, &site(), "/x/", None).action,
        Action::None,
        "an unknown variable is empty"
    );
    let cfg = server("RewriteRule ^/(.*)$ $1 [L]");
    for uri in [
        "/htt\u{e9}",
        "/ht\u{e9}p://x/",
        "/http\u{e9}//a",
        "/http:/\u{e9}a",
    ] {
        let out = run_server(&cfg, &site(), uri, None);
        assert_eq!(out.action, Action::Status(400), "{uri}: {out:?}");
    }
}

#[test]
fn a_result_longer_than_twice_the_request_line_limit_is_500() {
    let cfg = server("RewriteRule ^/(.*)$ /$1$1$1$1 [N]");
    let out = run_server(&cfg, &site(), "/abcdefgh", None);
    assert_eq!(out.action, Action::Status(500));
    assert!(out
        .error
        .is_some_and(|e| e.contains("exceeded maximum length")));
}

#[test]
fn escaping_back_references_with_b_and_bnp() {
    let cfg = server("RewriteRule ^/s/(.*)$ /search.php?q=$1 [B,L]");
    let Action::File { query, .. } = run_server(&cfg, &site(), "/s/a b&c", None).action else {
        panic!("not a file")
    };
    assert_eq!(query.as_deref(), Some("q=a+b%26c"));
    let cfg = server("RewriteRule ^/s/(.*)$ /search.php?q=$1 [B,BNP,L]");
    let Action::File { query, .. } = run_server(&cfg, &site(), "/s/a b", None).action else {
        panic!("not a file")
    };
    assert_eq!(query.as_deref(), Some("q=a%20b"));
    let cfg = server("RewriteRule ^/s/(.*)$ /search.php?q=$1 [B=&,L]");
    let Action::File { query, .. } = run_server(&cfg, &site(), "/s/a-b&c", None).action else {
        panic!("not a file")
    };
    assert_eq!(
        query.as_deref(),
        Some("q=a-b%26c"),
        "only the characters named are escaped"
    );
}

#[test]
fn proxy_results_are_absolute_with_the_query() {
    let cfg = server("RewriteRule ^/api/(.*)$ http://127.0.0.1:9000/v1/$1 [P]");
    assert_eq!(
        run_server(&cfg, &site(), "/api/x y", Some("a=1")).action,
        Action::Proxy {
            url: "http://127.0.0.1:9000/v1/x%20y?a=1".into()
        }
    );
    let cfg = dir(
        "/srv/www/",
        "RewriteEngine On\nRewriteRule ^app/(.*)$ /backend/$1 [P]",
    );
    assert_eq!(
        run_dir(&cfg, &site(), "/srv/www/app", "/x", None).action,
        Action::Proxy {
            url: "http://www.example.org/backend/x".into()
        }
    );
}

#[test]
fn maps_look_up_keys_with_defaults() {
    let dir_ = tempfile::tempdir().expect("tempdir");
    let path = dir_.path().join("products.txt");
    std::fs::write(&path, "shoes 17\nhats 42\n").expect("write");
    let cfg = server(&format!(
        "RewriteMap products txt:{}\nRewriteMap lc int:tolower\nRewriteRule ^/p/(.*)$ /item.php?id=${{products:${{lc:$1}}|0}} [L]",
        path.display()
    ));
    let query = |uri: &str| match run_server(&cfg, &site(), uri, None).action {
        Action::File { query, .. } => query,
        other => panic!("{other:?}"),
    };
    assert_eq!(query("/p/SHOES").as_deref(), Some("id=17"));
    assert_eq!(query("/p/socks").as_deref(), Some("id=0"));
    let cfg = server("RewriteRule ^/(.*)$ /${nomap:$1|fallback}");
    assert_eq!(
        run_server(&cfg, &site(), "/a", None).action,
        file("/srv/www/fallback")
    );
}

#[test]
fn variables_and_time_in_substitutions() {
    let vars = site().header("Host", "www.example.org");
    let cfg = server("RewriteRule ^/t$ /%{TIME_YEAR}/%{HTTP_HOST}/%{REQUEST_METHOD}/%{ENV:NONE}x");
    assert_eq!(
        run_server(&cfg, &vars, "/t", None).action,
        file("/srv/www/2024/www.example.org/GET/x")
    );
    let cfg = server("RewriteRule ^/t$ /lit\\$1%{unclosed");
    assert_eq!(
        run_server(&cfg, &vars, "/t", None).action,
        file("/srv/www/lit$1%{unclosed")
    );
}

#[test]
fn dir_rules_strip_the_directory_and_redirect_internally() {
    let cfg = dir(
        "/srv/www/blog",
        "RewriteEngine On\nRewriteRule ^post/(\\d+)$ show.php?id=$1 [L]",
    );
    assert_eq!(
        run_dir(&cfg, &site(), "/srv/www/blog/post", "/12", Some("x=1")).action,
        internal("/blog/show.php", Some("id=12"))
    );
    let cfg = dir(
        "/srv/www/blog",
        "RewriteEngine On\nRewriteBase /weblog/\nRewriteRule ^post/(\\d+)$ show.php?id=$1 [L]",
    );
    assert_eq!(
        run_dir(&cfg, &site(), "/srv/www/blog/post", "/12", None).action,
        internal("/weblog/show.php", Some("id=12"))
    );
    let cfg = dir(
        "/srv/www/blog",
        "RewriteEngine On\nRewriteRule ^old$ new [R=301,L]",
    );
    assert_eq!(
        run_dir(&cfg, &site(), "/srv/www/blog/old", "", None).action,
        redirect("http://www.example.org/srv/www/blog/new", 301),
        "without RewriteBase Apache puts the file path in the URL"
    );
    let cfg = dir(
        "/srv/www/blog",
        "RewriteEngine On\nRewriteBase /blog\nRewriteRule ^old$ new [R=301,L]",
    );
    assert_eq!(
        run_dir(&cfg, &site(), "/srv/www/blog/old", "", None).action,
        redirect("http://www.example.org/blog/new", 301)
    );
}

#[test]
fn dir_rules_leave_the_slashless_directory_and_identical_results_alone() {
    let cfg = dir("/srv/www/blog", "RewriteEngine On\nRewriteRule ^ index.php");
    assert_eq!(
        run_dir(&cfg, &site(), "/srv/www/blog", "", None).action,
        Action::None
    );
    let cfg = dir(
        "/srv/www/",
        "RewriteEngine On\nRewriteRule ^index\\.php$ index.php",
    );
    assert_eq!(
        run_dir(&cfg, &site(), "/srv/www/index.php", "", None).action,
        Action::None
    );
}

#[test]
fn dir_rules_need_follow_symlinks() {
    let cfg = dir("/srv/www/", "RewriteEngine On\nRewriteRule ^ -");
    let out = cfg.dir_pass(
        &site(),
        &cfg.maps,
        DirRequest {
            unparsed_uri: "/x",
            filename: "/srv/www/x",
            path_info: "",
            query: None,
            symlinks_allowed: false,
            limit_request_line: 8190,
        },
    );
    assert_eq!(out.action, Action::Status(403));
    assert!(out.error.is_some_and(|e| e.contains("FollowSymLinks")));
}

#[test]
fn dpi_discards_the_path_info_for_later_rules() {
    let cfg = dir(
        "/srv/www/",
        "RewriteEngine On\nRewriteRule ^a(.*)$ b [DPI]\nRewriteRule ^b$ c.php [L]",
    );
    assert_eq!(
        run_dir(&cfg, &site(), "/srv/www/a", "/more", None).action,
        internal("/c.php", None)
    );
    let cfg = dir(
        "/srv/www/",
        "RewriteEngine On\nRewriteRule ^a(.*)$ b\nRewriteRule ^b$ c.php [L]",
    );
    assert_eq!(
        run_dir(&cfg, &site(), "/srv/www/a", "/more", None).action,
        internal("/b", None),
        "without DPI the path info is matched again"
    );
}

const WORDPRESS: &str = include_str!("testdata/wordpress.htaccess");
const LARAVEL: &str = include_str!("testdata/laravel.htaccess");
const DRUPAL: &str = include_str!("testdata/drupal.htaccess");

/// The request as the server would present it to the per-dir pass of
/// `/srv/www/`: the longest existing path as the file name, the rest as
/// path info.
fn htaccess_run(cfg: &RewriteConfig, vars: TableVars, uri: &str, query: Option<&str>) -> Outcome {
    let mut filename = "/srv/www".to_string();
    let mut segments = uri.split_inclusive('/').skip(1).peekable();
    while let Some(seg) = segments.next() {
        filename.push('/');
        filename.push_str(seg.trim_end_matches('/'));
        match vars.files.get(&filename) {
            Some(f) if f.is_dir && seg.ends_with('/') => continue,
            Some(f) if f.is_dir && segments.peek().is_none() => break,
            _ => break,
        }
    }
    let filename = filename.trim_end_matches('/').to_string();
    let consumed = filename.len() - "/srv/www".len();
    let path_info = uri.get(consumed..).unwrap_or("").to_string();
    let vars = vars
        .with("REQUEST_URI", uri)
        .with("REQUEST_FILENAME", &filename);
    run_dir(cfg, &vars, &filename, &path_info, query)
}

#[test]
fn wordpress_htaccess_sends_unknown_paths_to_index_php() {
    let cfg = dir("/srv/www/", WORDPRESS);
    let out = htaccess_run(
        &cfg,
        site().header("Authorization", "Bearer t"),
        "/2024/05/hello-world/",
        Some("p=1"),
    );
    assert_eq!(out.action, internal("/index.php", Some("p=1")));
    assert!(out
        .env
        .contains(&("HTTP_AUTHORIZATION".into(), Some("Bearer t".into()))));
    assert_eq!(
        htaccess_run(&cfg, site(), "/style.css", None).action,
        Action::None,
        "an existing file is served"
    );
    assert_eq!(
        htaccess_run(&cfg, site(), "/wp-admin", None).action,
        Action::None,
        "the directory itself"
    );
    assert_eq!(
        htaccess_run(&cfg, site(), "/wp-admin/", None).action,
        Action::None,
        "an existing directory"
    );
    assert_eq!(
        htaccess_run(&cfg, site(), "/index.php", None).action,
        Action::None,
        "index.php stops the rules"
    );
}

#[test]
fn laravel_htaccess_redirects_trailing_slashes_and_uses_the_front_controller() {
    let cfg = dir("/srv/www/", LARAVEL);
    assert_eq!(
        htaccess_run(&cfg, site(), "/users/", None).action,
        redirect("http://www.example.org/users", 301)
    );
    assert_eq!(
        htaccess_run(&cfg, site(), "/users/7", Some("tab=a")).action,
        internal("/index.php", Some("tab=a"))
    );
    assert_eq!(
        htaccess_run(&cfg, site(), "/style.css", None).action,
        Action::None
    );
    let out = htaccess_run(&cfg, site().header("Authorization", "Basic x"), "/u", None);
    assert!(out
        .env
        .contains(&("HTTP_AUTHORIZATION".into(), Some("Basic x".into()))));
    assert_eq!(out.vary, vec!["Authorization".to_string()]);
}

#[test]
fn drupal_htaccess_hides_dot_files_and_uses_the_front_controller() {
    let cfg = dir("/srv/www/", DRUPAL);
    let vars = || {
        site()
            .dir("/srv/www/core")
            .dir("/srv/www/core/lib")
            .file("/srv/www/core/lib/x.php", 1)
            .file("/srv/www/core/install.php", 1)
    };
    assert_eq!(
        htaccess_run(&cfg, vars(), "/.git/config", None).action,
        Action::Status(403)
    );
    assert_eq!(
        htaccess_run(&cfg, vars(), "/sites/.hidden/x", None).action,
        Action::Status(403)
    );
    assert_eq!(
        htaccess_run(&cfg, vars(), "/.well-known/acme", None).action,
        internal("/index.php", None)
    );
    assert_eq!(
        htaccess_run(&cfg, vars(), "/core/lib/x.php", None).action,
        Action::Status(403)
    );
    assert_eq!(
        htaccess_run(&cfg, vars(), "/node/1", Some("a=b")).action,
        internal("/index.php", Some("a=b"))
    );
    assert_eq!(
        htaccess_run(&cfg, vars(), "/favicon.ico", None).action,
        Action::None
    );
    assert_eq!(
        htaccess_run(&cfg, vars(), "/install.php", Some("x=1")).action,
        redirect("http://www.example.org/core/install.php?x=1", 301)
    );
    let out = htaccess_run(&cfg, vars(), "/core/install.php", Some("x=1"));
    assert_eq!(
        out.action,
        Action::None,
        "rewritten to itself: served as it is"
    );
    assert_eq!(
        out.query,
        Some(Some("rewrite=ok&x=1".into())),
        "with the new query"
    );
    let without_www = DRUPAL
        .replace(
            "# RewriteCond %{HTTP_HOST} ^www",
            "RewriteCond %{HTTP_HOST} ^www",
        )
        .replace(
            "# RewriteRule ^ http%{ENV:protossl}://%1",
            "RewriteRule ^ http%{ENV:protossl}://%1",
        );
    let cfg = dir("/srv/www/", &without_www);
    assert_eq!(
        htaccess_run(&cfg, vars(), "/node/1", None).action,
        redirect("http://example.org/node/1", 301),
        "the www. stripping Drupal ships commented out, enabled"
    );
}

fn patterns(cfg: &RewriteConfig) -> Vec<&str> {
    cfg.rules().iter().map(|r| r.pattern()).collect()
}

#[test]
fn options_inherit_merge_rules_in_order() {
    let parent = server("RewriteRule ^/p$ /parent");
    let child = config(RewriteConfig::server(), "RewriteRule ^/c$ /child");
    let merged = RewriteConfig::merge(&parent, &child);
    assert!(merged.enabled(), "the engine state is inherited");
    assert_eq!(
        merged.rules().len(),
        1,
        "rules are not inherited by default"
    );
    let child = config(
        RewriteConfig::server(),
        "RewriteOptions Inherit\nRewriteRule ^ /child-first",
    );
    let merged = RewriteConfig::merge(&parent, &child);
    assert_eq!(patterns(&merged), ["^", "^/p$"]);
    let child = config(
        RewriteConfig::server(),
        "RewriteOptions InheritBefore\nRewriteRule ^ /child-last",
    );
    let merged = RewriteConfig::merge(&parent, &child);
    assert_eq!(patterns(&merged), ["^/p$", "^"]);
    let down = config(
        RewriteConfig::server(),
        "RewriteEngine On\nRewriteOptions InheritDown\nRewriteRule ^/p$ /parent",
    );
    let child = config(RewriteConfig::server(), "RewriteRule ^ /c");
    assert_eq!(RewriteConfig::merge(&down, &child).rules().len(), 2);
}

#[test]
fn the_regex_free_shortcuts_answer_as_the_regex_engine() {
    let patterns = [
        "^",
        ".*",
        "^.*",
        "^.*$",
        ".",
        "^index\\.php$",
        "^a/b-c~d$",
        "!^x$",
        "!.",
    ];
    for pattern in patterns {
        let cfg = dir(
            "/srv/www/",
            &format!("RewriteEngine On\nRewriteRule {pattern} /r/$0 [L]"),
        );
        let negate = pattern.starts_with('!');
        let re = crate::pcre::compile(pattern.trim_start_matches('!'), false).expect("compiles");
        for target in [
            "",
            "index.php",
            "index.phpx",
            "a/b-c~d",
            "x",
            "xy",
            "ü/x",
            "a\nb",
        ] {
            let want = match re.find(target) {
                _ if negate && re.is_match(target) => None,
                _ if negate => Some(String::new()),
                Some(m) => Some(m.as_str().to_string()),
                None => None,
            };
            let filename = format!("/srv/www/{target}");
            let got = match run_dir(&cfg, &site(), &filename, "", None).action {
                Action::InternalRedirect { path, .. } => {
                    path.strip_prefix("/r/").map(str::to_string)
                }
                Action::None => None,
                other => panic!("{pattern} on {target:?}: {other:?}"),
            };
            assert_eq!(got, want, "{pattern} on {target:?}");
        }
    }
}

#[test]
fn parse_errors_say_what_is_wrong() {
    let cases: &[(&[&str], bool, &str)] = &[
        (&["^a"], true, "pattern, a substitution"),
        (&["^a", "b", "[L", "x"], true, "not 4 argument"),
        (&["^a", "b", "L"], true, "in brackets"),
        (&["^a", "b", "[X]"], true, "unknown flag 'X'"),
        (&["^a", "b", "[R=200]"], true, "300–399"),
        (&["^a", "b", "[S=x]"], true, "non-negative integer"),
        (&["^a", "b", "[N=0]"], true, "positive integer"),
        (&["^a", "b", "[CO=x:y]"], true, "CO=NAME:VALUE:domain"),
        (&["(a)\\1", "b"], true, "back-reference"),
        (&["(", "b"], true, "not valid"),
        (&["%{X}", "a", "[ZZ]"], false, "unknown flag 'ZZ'"),
        (&["%{X}", "-eqabc"], false, "not an integer"),
        (&["expr", "%{NOPE} == 1"], false, "unknown variable 'NOPE'"),
        (&["%{X}", "(?<=a)"], false, "look-behind"),
    ];
    for (args, is_rule, says) in cases {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut cfg = RewriteConfig::server();
        let err = if *is_rule {
            cfg.add_rule(&args)
        } else {
            cfg.add_cond(&args)
        }
        .expect_err(&format!("{args:?}"));
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let mut cfg = RewriteConfig::server();
    assert!(cfg
        .set_base("/x")
        .expect_err("server")
        .contains("only valid"));
    let mut cfg = RewriteConfig::directory("/srv");
    assert!(cfg
        .set_base("x")
        .expect_err("relative")
        .contains("starting with '/'"));
    assert!(cfg
        .add_options(&["Bogus".into()])
        .expect_err("bogus")
        .contains("unknown option"));
    cfg.add_cond(&["a".into(), "b".into()]).expect("cond");
    assert_eq!(cfg.dangling_conds(), 1);
}

/// [`TableVars`] that counts the files looked at.
struct CountingFiles(TableVars, std::cell::Cell<usize>);

impl RequestVars for CountingFiles {
    fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        RequestVars::var(&self.0, name)
    }
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        RequestVars::header(&self.0, name)
    }
    fn env(&self, name: &str) -> Option<Cow<'_, str>> {
        RequestVars::env(&self.0, name)
    }
    fn file(&self, path: &str) -> Option<FileFacts> {
        self.1.set(self.1.get() + 1);
        RequestVars::file(&self.0, path)
    }
}

#[test]
fn wordpress_not_a_file_and_not_a_directory_conditions_look_at_the_file_once() {
    let cfg = dir("/srv/www/", WORDPRESS);
    let vars = CountingFiles(
        site().with("REQUEST_FILENAME", "/srv/www/2024"),
        std::cell::Cell::new(0),
    );
    let out = cfg.dir_pass(
        &vars,
        &cfg.maps,
        DirRequest {
            unparsed_uri: "/2024/05/hello-world/",
            filename: "/srv/www/2024",
            path_info: "/05/hello-world/",
            query: None,
            symlinks_allowed: true,
            limit_request_line: 8190,
        },
    );
    assert_eq!(
        out.action,
        Action::InternalRedirect {
            path: "/index.php".into(),
            query: None
        },
        "the permalink goes to the front controller"
    );
    assert_eq!(
        vars.1.get(),
        1,
        "`!-f` and `!-d` on the same REQUEST_FILENAME looked at the file {} times",
        vars.1.get()
    );
}
