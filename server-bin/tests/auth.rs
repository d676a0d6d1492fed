//! Basic authentication as a user meets it: the real `mpmd` under each
//! strategy, password files written by Apache's own `htpasswd` (each hash
//! it makes), curl sending the credentials, and the access log's `%u`.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const STRATEGIES: [&str; 3] = ["event", "prefork", "worker"];

/// A site with `auth/users`: alice (bcrypt, -B), bob (Apache MD5, -m),
/// carol (SHA-1, -s), dave (SHA-256 crypt, -2), erin (SHA-512 crypt, -5);
/// each password is the name followed by `pw`. `None` (the test skipped)
/// without `htpasswd` outside CI.
fn site_with_users() -> Option<(Site, PathBuf)> {
    if !have_htpasswd() {
        return None;
    }
    let site = Site::new();
    let users = password_file(&site);
    Some((site, users))
}

/// An `index.html` in each of `dirs` under the docroot, saying the
/// directory's name.
fn index_pages(site: &Site, dirs: &[&str]) {
    for dir in dirs {
        site.write(&format!("htdocs/{dir}/index.html"), format!("{dir}\n"));
    }
}

/// Basic authentication in the realm "Members" against `users`.
fn basic_auth(users: &Path) -> String {
    format!(
        "AuthType Basic\nAuthName Members\nAuthUserFile {}\n",
        users.display()
    )
}

fn password_file(site: &Site) -> PathBuf {
    site.mkdir("auth");
    htpasswd(site, &["-cbB", "auth/users", "alice", "alicepw"]);
    htpasswd(site, &["-bm", "auth/users", "bob", "bobpw"]);
    htpasswd(site, &["-bs", "auth/users", "carol", "carolpw"]);
    htpasswd(site, &["-b2", "auth/users", "dave", "davepw"]);
    htpasswd(site, &["-b5", "auth/users", "erin", "erinpw"]);
    site.path("auth/users")
}

/// What curl saw: the status and the head's text.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// `GET path` with curl, with `-u user:password` when given.
fn ask(port: u16, path: &str, credentials: Option<&str>) -> Answer {
    match credentials {
        Some(c) => ask_with(port, path, &["-u", c]),
        None => ask_with(port, path, &[]),
    }
}

/// `path` asked with curl and its `extra` arguments (`-X POST`, `-H …`,
/// `-u …`).
fn ask_with(port: u16, path: &str, extra: &[&str]) -> Answer {
    let url = format!("http://127.0.0.1:{port}{path}");
    let mut args = vec!["-i", url.as_str()];
    args.extend(extra);
    let (code, out, err) = curl(&args);
    assert_eq!(code, 0, "curl {args:?} failed: {err}");
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((out.as_str(), ""));
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// The `WWW-Authenticate` value of an answer's head.
fn challenge(a: &Answer) -> Option<&str> {
    a.head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("www-authenticate")
            .then(|| value.trim())
    })
}

/// The protected directory `private/` (Require valid-user) and an access
/// log of `%u %>s %U` lines.
fn private_site(site: &Site, users: &std::path::Path) -> String {
    site.write("htdocs/private/index.html", "the private page\n");
    site.write("htdocs/index.html", "the open page\n");
    format!(
        "<Directory {docroot}/private>\n\
           AuthType Basic\n\
           AuthName \"Private area\"\n\
           AuthBasicProvider file\n\
           AuthUserFile {users}\n\
           Require valid-user\n\
         </Directory>\n\
         LogFormat \"%u %>s %U\" withuser\n\
         CustomLog {root}/logs/access.log withuser\n",
        docroot = site.docroot().display(),
        users = users.display(),
        root = site.root().display(),
    )
}

/// `mpmd` under `mpm` serving [`private_site`] with [`site_with_users`]'s
/// password file: the site, the file, the port and the server.
fn start_private(mpm: &str) -> Option<(Site, PathBuf, u16, Mpmd)> {
    let (site, users) = site_with_users()?;
    let port = free_port();
    let m = start_mpm(&site, mpm, port, &private_site(&site, &users));
    Some((site, users, port, m))
}

#[test]
fn each_htpasswd_hash_lets_its_user_in_and_wrong_credentials_get_the_challenge() {
    for mpm in STRATEGIES {
        let Some((site, _users, port, m)) = start_private(mpm) else {
            return;
        };
        for user in ["alice", "bob", "carol", "dave", "erin"] {
            let a = ask(port, "/private/", Some(&format!("{user}:{user}pw")));
            assert_eq!(
                (a.status, a.body.as_str()),
                (200, "the private page\n"),
                "{mpm}: {user} with the right password got {}; stderr:\n{}",
                a.head,
                m.stderr()
            );
        }
        for (credentials, what) in [
            (None, "no credentials"),
            (Some("alice:bobpw"), "a wrong password"),
            (Some("zoe:alicepw"), "an unknown user"),
            (Some("alice:"), "an empty password"),
        ] {
            let a = ask(port, "/private/", credentials);
            assert_eq!(a.status, 401, "{mpm}: {what} got {}", a.head);
            assert_eq!(
                challenge(&a),
                Some("Basic realm=\"Private area\""),
                "{mpm}: {what}: the 401 has no challenge: {}",
                a.head
            );
            assert!(
                a.body.contains("This server could not verify that you"),
                "{mpm}: {what}: not Apache's 401 page: {}",
                a.body
            );
        }
        assert_eq!(ask(port, "/", None).status, 200, "{mpm}: the open page");
        // The access log names the user that logged in, `-` otherwise.
        let log = site.path("logs/access.log");
        let wanted = [
            "alice 200 /private/",
            "erin 200 /private/",
            "- 401 /private/",
            "- 200 /",
        ];
        assert!(
            wait_for(5.0, || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                wanted.iter().all(|w| text.lines().any(|l| l == *w))
            }),
            "{mpm}: the access log lacks one of {wanted:?}:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            !text.contains("zoe") && !text.contains("alice 401"),
            "{mpm}: a refused user was logged as if let in:\n{text}"
        );
        assert!(
            m.stderr().contains(
                "user alice: authentication failure for \"/private/\": Password Mismatch"
            ) && m.stderr().contains("user zoe not found: /private/"),
            "{mpm}: the refusals are not in the error log:\n{}",
            m.stderr()
        );
    }
}

#[test]
fn a_changed_password_is_in_force_within_a_second_in_every_child() {
    for mpm in STRATEGIES {
        let Some((site, _users, port, m)) = start_private(mpm) else {
            return;
        };
        // Several connections, so several children (prefork) have read
        // the file before it changes.
        for _ in 0..6 {
            assert_eq!(
                ask(port, "/private/", Some("alice:alicepw")).status,
                200,
                "{mpm}"
            );
        }
        htpasswd(&site, &["-bB", "auth/users", "alice", "changed"]);
        assert!(
            wait_for(5.0, || (0..4).all(|_| ask(
                port,
                "/private/",
                Some("alice:changed")
            )
            .status
                == 200)),
            "{mpm}: the new password was not taken within 5 s; stderr:\n{}",
            m.stderr()
        );
        for _ in 0..6 {
            assert_eq!(
                ask(port, "/private/", Some("alice:alicepw")).status,
                401,
                "{mpm}: the old password still works"
            );
        }
    }
}

#[test]
fn groups_and_nested_require_containers_decide_who_gets_in() {
    let Some((site, users)) = site_with_users() else {
        return;
    };
    site.write(
        "auth/groups",
        "admins: alice carol\nbanned: carol\nstaff: bob dave\n",
    );
    index_pages(&site, &["admins", "strict", "office"]);
    let common = format!(
        "AuthType Basic\nAuthName Members\nAuthUserFile {}\nAuthGroupFile {}\n",
        users.display(),
        site.path("auth/groups").display()
    );
    let docroot = site.docroot();
    let docroot = docroot.display();
    let extra = format!(
        "<Directory {docroot}/admins>\n{common}Require group admins\n</Directory>\n\
         <Directory {docroot}/strict>\n{common}\
           <RequireAll>\n\
             Require valid-user\n\
             Require not user bob\n\
             <RequireNone>\n\
               Require group banned\n\
             </RequireNone>\n\
           </RequireAll>\n\
         </Directory>\n\
         <Directory {docroot}/office>\n{common}\
           <RequireAny>\n\
             Require ip 10.0.0.0/8\n\
             <RequireAll>\n\
               Require group staff\n\
               Require not user dave\n\
             </RequireAll>\n\
           </RequireAny>\n\
         </Directory>\n"
    );
    let port = free_port();
    let m = start_mpm(&site, "event", port, &extra);
    for (path, user, status) in [
        ("/admins/", "alice", 200),
        ("/admins/", "carol", 200),
        ("/admins/", "bob", 401),
        ("/strict/", "alice", 200),
        ("/strict/", "erin", 200),
        ("/strict/", "bob", 401),
        ("/strict/", "carol", 401),
        ("/office/", "bob", 200),
        ("/office/", "dave", 401),
        ("/office/", "alice", 401),
    ] {
        let a = ask(port, path, Some(&format!("{user}:{user}pw")));
        assert_eq!(
            a.status,
            status,
            "{user} on {path}: {}\nstderr:\n{}",
            a.head,
            m.stderr()
        );
    }
    assert_eq!(ask(port, "/strict/", None).status, 401);
    assert!(
        m.stderr()
            .contains("user bob: authorization failure for \"/admins/\""),
        "{}",
        m.stderr()
    );
}

#[test]
fn htaccess_asks_for_a_password_only_where_allowoverride_authconfig_lets_it() {
    let Some((site, users)) = site_with_users() else {
        return;
    };
    let htaccess = format!(
        "AuthType Basic\nAuthName \"From htaccess\"\nAuthUserFile {}\nRequire user bob\n",
        users.display()
    );
    for dir in ["allowed", "ignored"] {
        site.write(&format!("htdocs/{dir}/index.html"), format!("{dir}\n"));
        site.write(&format!("htdocs/{dir}/.htaccess"), &htaccess);
    }
    let docroot = site.docroot();
    let extra = format!(
        "<Directory {d}/allowed>\nAllowOverride AuthConfig\n</Directory>\n\
         <Directory {d}/ignored>\nAllowOverride None\n</Directory>\n",
        d = docroot.display()
    );
    let port = free_port();
    let m = start_mpm(&site, "event", port, &extra);
    let a = ask(port, "/allowed/", None);
    assert_eq!(
        (a.status, challenge(&a)),
        (401, Some("Basic realm=\"From htaccess\"")),
        "{}\n{}",
        a.head,
        m.stderr()
    );
    assert_eq!(ask(port, "/allowed/", Some("bob:bobpw")).status, 200);
    assert_eq!(ask(port, "/allowed/", Some("alice:alicepw")).status, 401);
    assert_eq!(
        ask(port, "/ignored/", None).status,
        200,
        "AllowOverride None: the .htaccess file is not read"
    );
}

/// Each case's request (`what`, `path`, curl arguments) is answered with
/// its status by the server on `port`.
fn answers_are(port: u16, mpm: &str, m: &Mpmd, cases: &[(&str, &str, &[&str], u16)]) {
    for (what, path, args, status) in cases {
        let a = ask_with(port, path, args);
        assert_eq!(
            a.status,
            *status,
            "{mpm}: {what} ({path} {args:?}) was answered {}\nstderr:\n{}",
            a.head,
            m.stderr()
        );
    }
}

#[test]
fn require_method_env_and_expr_decide_in_sections_containers_and_htaccess_under_every_strategy() {
    let Some((site, users)) = site_with_users() else {
        return;
    };
    index_pages(&site, &["readonly", "flagged", "token", "hta"]);
    // In .htaccess (AllowOverride AuthConfig): reads for all, other
    // methods only for a client the environment marks and never with
    // ?debug.
    site.write(
        "htdocs/hta/.htaccess",
        "<RequireAny>\n\
           Require method GET\n\
           <RequireAll>\n\
             Require env office\n\
             Require not expr \"%{QUERY_STRING} =~ /debug/\"\n\
           </RequireAll>\n\
         </RequireAny>\n",
    );
    let d = site.docroot();
    let d = d.display();
    let auth = basic_auth(&users);
    let extra = format!(
        "SetEnvIf User-Agent ^office office\n\
         <Directory {d}/readonly>\n  Require method GET OPTIONS\n</Directory>\n\
         <Directory {d}/flagged>\n  Require env office trusted\n</Directory>\n\
         <Directory {d}/token>\n{auth}\
           Require expr \"req('X-Token') == 'open' || %{{REMOTE_USER}} == 'alice'\"\n\
         </Directory>\n\
         <Directory {d}/hta>\n  AllowOverride AuthConfig\n</Directory>\n"
    );
    for mpm in STRATEGIES {
        let port = free_port();
        let m = start_mpm(&site, mpm, port, &extra);
        let office = ["-A", "office-pc"];
        let cases: Vec<(&str, &str, &[&str], u16)> = vec![
            ("GET under Require method GET", "/readonly/", &[][..], 200),
            ("HEAD goes with GET", "/readonly/", &["-I"][..], 200),
            (
                "OPTIONS is named",
                "/readonly/",
                &["-X", "OPTIONS"][..],
                200,
            ),
            (
                "DELETE is not named",
                "/readonly/",
                &["-X", "DELETE"][..],
                403,
            ),
            ("POST is not named", "/readonly/", &["-d", "x=1"][..], 403),
            ("no variable set", "/flagged/", &[][..], 403),
            ("SetEnvIf set office", "/flagged/", &office[..], 200),
            ("no token, no user", "/token/", &[][..], 401),
            ("the token", "/token/", &["-H", "X-Token: open"][..], 200),
            ("alice", "/token/", &["-u", "alice:alicepw"][..], 200),
            ("bob", "/token/", &["-u", "bob:bobpw"][..], 401),
            ("a GET", "/hta/", &[][..], 200),
            ("a DELETE", "/hta/", &["-X", "DELETE"][..], 403),
            (
                "a DELETE from the office",
                "/hta/",
                &["-X", "DELETE", "-A", "office"][..],
                405,
            ),
            (
                "a DELETE from the office with ?debug",
                "/hta/?debug",
                &["-X", "DELETE", "-A", "office"][..],
                403,
            ),
        ];
        answers_are(port, mpm, &m, &cases);
        let refused = ask_with(port, "/token/", &[]);
        assert_eq!(
            challenge(&refused),
            Some("Basic realm=\"Members\""),
            "{mpm}: a Require expr reading REMOTE_USER asks for a password: {}",
            refused.head
        );
        drop(m);
    }
}

#[test]
fn limit_and_limit_except_let_their_require_lines_judge_only_their_methods_under_every_strategy() {
    let Some((site, users)) = site_with_users() else {
        return;
    };
    index_pages(&site, &["members", "readonly", "mixed", "hta"]);
    // In .htaccess: reads for everyone, anything else only from an
    // address no test client has.
    site.write(
        "htdocs/hta/.htaccess",
        "<Limit GET>\n  Require all granted\n</Limit>\n\
         <LimitExcept GET>\n  Require ip 192.0.2.1\n</LimitExcept>\n",
    );
    let d = site.docroot();
    let d = d.display();
    let auth = basic_auth(&users);
    let extra = format!(
        "<Directory {d}/members>\n{auth}\
           <Limit POST PUT DELETE>\n    Require valid-user\n  </Limit>\n\
         </Directory>\n\
         <Directory {d}/readonly>\n\
           <LimitExcept GET OPTIONS>\n    Require all denied\n  </LimitExcept>\n\
         </Directory>\n\
         <Directory {d}/mixed>\n{auth}\
           <RequireAll>\n    Require all granted\n\
             <Limit DELETE>\n      Require user alice\n    </Limit>\n\
           </RequireAll>\n\
         </Directory>\n\
         <Directory {d}/hta>\n  AllowOverride AuthConfig\n</Directory>\n"
    );
    for mpm in STRATEGIES {
        let port = free_port();
        let m = start_mpm(&site, mpm, port, &extra);
        let cases: Vec<(&str, &str, &[&str], u16)> = vec![
            ("a GET needs no user", "/members/", &[][..], 200),
            ("a POST needs one", "/members/", &["-d", "x=1"][..], 401),
            (
                "a DELETE needs one",
                "/members/",
                &["-X", "DELETE"][..],
                401,
            ),
            (
                "alice may DELETE (the file then says 405)",
                "/members/",
                &["-X", "DELETE", "-u", "alice:alicepw"][..],
                405,
            ),
            ("GET is excepted", "/readonly/", &[][..], 200),
            ("HEAD goes with GET", "/readonly/", &["-I"][..], 200),
            (
                "OPTIONS is excepted",
                "/readonly/",
                &["-X", "OPTIONS"][..],
                200,
            ),
            ("POST is not", "/readonly/", &["-d", "x=1"][..], 403),
            ("DELETE is not", "/readonly/", &["-X", "DELETE"][..], 403),
            ("a GET in the RequireAll", "/mixed/", &[][..], 200),
            (
                "a DELETE asks for alice",
                "/mixed/",
                &["-X", "DELETE"][..],
                401,
            ),
            (
                "bob may not DELETE",
                "/mixed/",
                &["-X", "DELETE", "-u", "bob:bobpw"][..],
                401,
            ),
            (
                "alice may",
                "/mixed/",
                &["-X", "DELETE", "-u", "alice:alicepw"][..],
                405,
            ),
            ("a GET under the .htaccess", "/hta/", &[][..], 200),
            (
                "a POST under the .htaccess",
                "/hta/",
                &["-d", "x=1"][..],
                403,
            ),
        ];
        answers_are(port, mpm, &m, &cases);
        drop(m);
    }
}

#[test]
fn limit_sections_that_cannot_hold_are_refused_with_the_line_as_apache_refuses_them() {
    let site = Site::new();
    for (section, says) in [
        (
            "<Limit GET TRACE>\nRequire all denied\n</Limit>",
            "TRACE cannot be controlled by <Limit>, see TraceEnable",
        ),
        (
            "<Limit POST>\n<Limit GET>\nRequire all denied\n</Limit>\n</Limit>",
            "<Limit> directive excludes all methods",
        ),
        (
            "<Limit GET POST>\n<LimitExcept PUT>\nRequire all denied\n</LimitExcept>\n</Limit>",
            "<LimitExcept> directive specifies methods already excluded",
        ),
        (
            "<Limit>\nRequire all denied\n</Limit>",
            "<Limit> directive requires additional arguments",
        ),
        (
            "<Limit GET>\n<Files x>\nRequire all denied\n</Files>\n</Limit>",
            "<Files> cannot occur within <Limit> or <LimitExcept> section",
        ),
        (
            "<RequireAll>\n<Limit GET>\nOptions None\n</Limit>\n</RequireAll>",
            "Options cannot occur within <RequireAll>",
        ),
    ] {
        let conf = site.config(&format!(
            "{}<Directory /x>\n{section}\n</Directory>\n",
            mpm_directives("event")
        ));
        let conf = conf.display().to_string();
        let (code, out, err) = run(&["-t", "-f", &conf]);
        assert_ne!(code, 0, "{section} was accepted: {out}{err}");
        assert!(
            err.contains(says) && err.contains(&format!("{conf}:")),
            "{section}: mpmd said {err}"
        );
    }
    let conf = site.config(&format!(
        "{}<Limit GET>\nRequire all denied\n</Limit>\n",
        mpm_directives("event")
    ));
    let (code, _, err) = run(&["-t", "-f", &conf.display().to_string()]);
    assert_ne!(code, 0, "<Limit> at server level was accepted");
    assert!(
        err.contains("<Limit> is allowed only inside <Directory>"),
        "mpmd said {err}"
    );
}

#[test]
fn require_method_env_and_expr_mistakes_are_refused_with_the_line_and_the_fix() {
    let site = Site::new();
    for (rule, says) in [
        ("Require method get", "Invalid Method 'get'"),
        ("Require method BREW", "Invalid Method 'BREW'"),
        ("Require expr", "Require expr needs an expression"),
        (
            "Require expr \"%{REQUEST_URI} =~ /(/\"",
            "Cannot parse expression in require line",
        ),
    ] {
        let conf = site.config(&format!(
            "{}<Location />\n{rule}\n</Location>\n",
            mpm_directives("event")
        ));
        let text = std::fs::read_to_string(&conf).unwrap();
        let line = 1 + text.lines().position(|l| l == rule).unwrap();
        let conf = conf.display().to_string();
        let (code, out, err) = run(&["-t", "-f", &conf]);
        assert_ne!(code, 0, "{rule} was accepted: {out}{err}");
        assert!(
            err.contains(says) && err.contains(&format!("{conf}:{line}:")),
            "{rule}: mpmd said {err}"
        );
    }
}

#[test]
fn a_hash_mpmd_does_not_check_is_refused_with_a_log_line_naming_user_and_file() {
    let Some((site, users)) = site_with_users() else {
        return;
    };
    // crypt(3) DES, which Apache on Linux checks through the C library.
    htpasswd(&site, &["-bd", "auth/users", "dan", "danpw"]);
    let port = free_port();
    let m = start_mpm(&site, "event", port, &private_site(&site, &users));
    assert_eq!(ask(port, "/private/", Some("dan:danpw")).status, 401);
    let want = format!(
        "user dan: the password of this user in {} is DES crypt, which mpmd does not check",
        users.display()
    );
    assert!(
        wait_for(5.0, || m.stderr().contains(&want)),
        "no log line {want:?}:\n{}",
        m.stderr()
    );
}

#[test]
fn require_valid_user_without_authtype_and_a_missing_password_file_are_500_with_the_reason() {
    if !have_htpasswd() {
        return;
    }
    let site = Site::new();
    site.write("htdocs/noauth/index.html", "x\n");
    site.write("htdocs/lost/index.html", "x\n");
    let docroot = site.docroot();
    let extra = format!(
        "<Directory {d}/noauth>\nRequire valid-user\n</Directory>\n\
         <Directory {d}/lost>\nAuthType Basic\nAuthName Lost\nAuthUserFile {missing}\nRequire valid-user\n</Directory>\n",
        d = docroot.display(),
        missing = site.path("auth/missing").display()
    );
    let port = free_port();
    let m = start_mpm(&site, "event", port, &extra);
    assert_eq!(ask(port, "/noauth/", None).status, 500);
    assert_eq!(ask(port, "/lost/", None).status, 401, "credentials first");
    assert_eq!(ask(port, "/lost/", Some("a:b")).status, 500);
    let log = m.stderr();
    assert!(
        log.contains(
            "No authentication done but request not allowed without authentication for /noauth/"
        ) && log.contains(&format!(
            "Could not open password file: {}",
            site.path("auth/missing").display()
        )),
        "{log}"
    );
}
