//! `rewrite_rule`: `mpm_site::rewrite` (the `RewriteCond`/`RewriteRule`
//! parser and the engine) and `mpm_site::expr` (`RewriteCond expr`,
//! `<If>`). Input: `[request] lines…`, split at `\n`; each line is
//! `C args…` (a condition), `R args…` (a rule), `B url` (`RewriteBase`),
//! `E text` (an expression alone), arguments split at tabs. The first
//! byte picks the request path, query and context (server or directory).
//!
//! Properties:
//!
//! 1. Parsing never panics; a refused expression names a position inside
//!    its text.
//! 2. The rules, run once against the request, end (the `[N]` bound and
//!    the length bound hold) and answer something coherent: a redirect
//!    or proxy URL is absolute, an internal redirect or a file is a path
//!    starting with `/`, a status is one mod_rewrite answers.
//! 3. The same rules on the same request answer the same (no hidden
//!    state but the maps, which this target does not use).
#![no_main]

use std::borrow::Cow;
use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use mpm_site::expr::{Expr, FileFacts};
use mpm_site::rewrite::{Action, DirRequest, RewriteConfig, ServerRequest};
use mpm_site::vars::RequestVars;

/// A request for the rules: a few variables, a header, a small tree.
struct Req {
    uri: &'static str,
}

impl RequestVars for Req {
    fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(match name {
            "REQUEST_URI" => self.uri,
            "SERVER_NAME" => "www.example.org",
            "SERVER_PORT" => "8080",
            "HTTPS" => "off",
            "DOCUMENT_ROOT" => "/srv/www",
            "REQUEST_METHOD" => "GET",
            "REMOTE_ADDR" => "192.0.2.1",
            _ => return None,
        }))
    }
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        name.eq_ignore_ascii_case("host")
            .then_some(Cow::Borrowed("www.example.org"))
    }
    fn env(&self, _name: &str) -> Option<Cow<'_, str>> {
        None
    }
    fn file(&self, path: &str) -> Option<FileFacts> {
        match path {
            "/srv" | "/srv/www" | "/srv/www/dir" => Some(FileFacts {
                is_dir: true,
                ..FileFacts::default()
            }),
            "/srv/www/index.php" | "/srv/www/a.txt" => Some(FileFacts {
                is_file: true,
                size: 5,
                ..FileFacts::default()
            }),
            _ => None,
        }
    }
}

const URIS: [&str; 4] = ["/", "/a.txt", "/dir/x/y", "/index.php"];

fn check(action: &Action) {
    match action {
        Action::Redirect { location, status } => {
            assert!(location.contains(':'), "a redirect to {location}");
            assert!((300..400).contains(status), "redirect status {status}");
        }
        Action::Proxy { url } => assert!(url.contains("://"), "a proxy to {url}"),
        Action::File { path, .. } | Action::InternalRedirect { path, .. } => {
            assert!(path.starts_with('/'), "a path {path}")
        }
        Action::Uri { .. } | Action::None => {}
        Action::Status(s) => assert!((400..600).contains(s), "status {s}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let per_dir = pick & 0x10 != 0;
    let mut cfg = if per_dir {
        RewriteConfig::directory("/srv/www")
    } else {
        RewriteConfig::server()
    };
    cfg.engine = Some(true);
    for line in text.split('\n').take(32) {
        let Some((kind, args)) = line.split_at_checked(1) else {
            continue;
        };
        let args: Vec<String> = args.split('\t').filter(|a| !a.is_empty()).map(str::to_string).collect();
        let _ = match kind {
            "C" => cfg.add_cond(&args),
            "R" => cfg.add_rule(&args),
            "B" => args.first().map_or(Ok(()), |b| cfg.set_base(b)),
            "E" => {
                if let Err(e) = Expr::parse(args.first().map_or("", String::as_str)) {
                    assert!(e.position <= args.first().map_or(0, String::len), "{e}");
                }
                Ok(())
            }
            _ => Ok(()),
        };
    }
    let uri = URIS[usize::from(pick & 3)];
    let query = (pick & 4 != 0).then_some("a=1&b=%20");
    let vars = Req { uri };
    let maps = HashMap::new();
    let run = || {
        if per_dir {
            let (filename, path_info) = match uri {
                "/dir/x/y" => ("/srv/www/dir/x", "/y"),
                "/" => ("/srv/www/", ""),
                u => (if u == "/a.txt" { "/srv/www/a.txt" } else { "/srv/www/index.php" }, ""),
            };
            cfg.dir_pass(
                &vars,
                &maps,
                DirRequest {
                    unparsed_uri: uri,
                    filename,
                    path_info,
                    query,
                    symlinks_allowed: pick & 8 == 0,
                    limit_request_line: 512,
                },
            )
        } else {
            cfg.server_pass(
                &vars,
                &maps,
                ServerRequest {
                    unparsed_uri: uri,
                    uri,
                    query,
                    limit_request_line: 512,
                },
            )
        }
    };
    let first = run();
    check(&first.action);
    assert_eq!(first, run(), "the same request answered differently");
});
