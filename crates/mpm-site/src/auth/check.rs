//! One request through mod_authz_core, mod_auth_basic and mod_authn_file,
//! in Apache's order: the `Require` rules are asked first without a user
//! (an address may be enough, or a refusal final); only when a user could
//! change the answer are the credentials read and checked against the
//! `AuthUserFile`, and the rules asked again with that user.
//!
//! What it needs of a request is what any per-directory configuration
//! gives: the `Require` in force, the authentication settings in force
//! ([`AuthSettings`]), the request's headers and its client. The answer
//! is the user let in (for `%u` and `REMOTE_USER`) or the response: 401
//! with the realm's challenge, 403, or 500 for a configuration that
//! cannot work (each logged as Apache logs it).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use http::{HeaderMap, HeaderValue, StatusCode};

use super::basic::{challenge, parse_basic, BasicError};
use super::files::{GroupFile, UserFile, WatchedFile};
use super::password::{verify, Check};
use crate::config::Require;
use crate::require::{
    after_authentication, before_authentication, RequestFacts, Subject, UserVerdict, Verdict,
};

/// `AuthType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// `AuthType Basic` (mod_auth_basic).
    Basic,
    /// `AuthType None`: no authentication (it undoes an inherited one).
    None,
}

/// The authentication settings in force for a request, each merged on
/// its own as Apache's per-directory configuration does (`None`: not set
/// by any section on the way).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSettings {
    /// `AuthType`.
    pub auth_type: Option<AuthType>,
    /// `AuthName`: the realm of the challenge.
    pub name: Option<String>,
    /// `AuthUserFile` (mod_authn_file; `AuthBasicProvider file`, the
    /// only provider, is its default).
    pub user_file: Option<PathBuf>,
    /// `AuthGroupFile` (mod_authz_groupfile).
    pub group_file: Option<PathBuf>,
    /// `AuthMerging` of this section (not inherited: it says how this
    /// section's `Require` joins the one before it).
    pub merging: Option<AuthMerging>,
}

/// `AuthMerging`: how a section's `Require` joins the one in force before
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMerging {
    /// It replaces it (Apache's default).
    Off,
    /// Both must grant (`<RequireAll>` of the two).
    And,
    /// Either may grant (`<RequireAny>` of the two).
    Or,
}

/// The `Require` in force once a section with `over` (and `AuthMerging
/// merging`) is laid on `base`: a section without rules keeps the ones
/// before it; with rules, they replace them, or join them under
/// `AuthMerging And|Or`.
pub fn merge_require(
    base: Option<Require>,
    over: &Option<Require>,
    merging: Option<AuthMerging>,
) -> Option<Require> {
    let Some(new) = over else {
        return base;
    };
    Some(match (base, merging) {
        (Some(old), Some(AuthMerging::And)) => Require::All(vec![old, new.clone()]),
        (Some(old), Some(AuthMerging::Or)) => Require::Any(vec![old, new.clone()]),
        _ => new.clone(),
    })
}

impl AuthSettings {
    /// `self` with what `inner` (a section nearer the request) sets on
    /// top.
    pub fn merged_with(&self, inner: &AuthSettings) -> AuthSettings {
        AuthSettings {
            auth_type: inner.auth_type.or(self.auth_type),
            name: inner.name.clone().or_else(|| self.name.clone()),
            user_file: inner.user_file.clone().or_else(|| self.user_file.clone()),
            group_file: inner.group_file.clone().or_else(|| self.group_file.clone()),
            merging: inner.merging,
        }
    }
}

/// Every `AuthUserFile` and `AuthGroupFile` a site reads, each parsed
/// once per process and read again when it changes ([`WatchedFile`]).
#[derive(Debug, Default)]
pub struct AuthFiles {
    users: Mutex<HashMap<PathBuf, Arc<WatchedFile<UserFile>>>>,
    groups: Mutex<HashMap<PathBuf, Arc<WatchedFile<GroupFile>>>>,
}

impl AuthFiles {
    /// No file read yet.
    pub fn new() -> AuthFiles {
        AuthFiles::default()
    }

    fn users(&self, path: &Path) -> io::Result<Arc<UserFile>> {
        watched(&self.users, path, UserFile::parse).get()
    }

    fn groups(&self, path: &Path) -> io::Result<Arc<GroupFile>> {
        watched(&self.groups, path, GroupFile::parse).get()
    }
}

fn watched<T>(
    map: &Mutex<HashMap<PathBuf, Arc<WatchedFile<T>>>>,
    path: &Path,
    parse: fn(&[u8]) -> T,
) -> Arc<WatchedFile<T>> {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    map.entry(path.to_path_buf())
        .or_insert_with(|| Arc::new(WatchedFile::new(path, parse)))
        .clone()
}

/// One request to judge.
pub struct Request<'a> {
    /// Its headers (`Authorization`).
    pub headers: &'a HeaderMap,
    /// Its client and local addresses, for `Require ip` and `local`.
    pub peer: std::net::IpAddr,
    /// The address the connection came to.
    pub local: std::net::IpAddr,
    /// What the log lines name: the decoded URL path (Apache's `r->uri`),
    /// made text only when a line is written.
    pub uri: &'a [u8],
    /// Its method, environment and variables, for `Require method`,
    /// `env` and `expr`.
    pub facts: &'a dyn RequestFacts,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Serve it; the user, when one authenticated.
    Allow {
        /// The user the credentials named (for `%u`, `REMOTE_USER`).
        user: Option<Vec<u8>>,
    },
    /// Answer this status instead (401, 403, 500; its `ErrorDocument` or
    /// page), with `WWW-Authenticate: challenge` for a 401.
    Refuse {
        /// 401, 403 or 500.
        status: StatusCode,
        /// `Basic realm="…"` for a 401.
        challenge: Option<HeaderValue>,
    },
}

/// Judge `req` under `require` and `settings` (see the module's text).
pub fn check(
    require: Option<&Require>,
    settings: &AuthSettings,
    files: &AuthFiles,
    req: &Request<'_>,
) -> Outcome {
    let basic = settings.auth_type == Some(AuthType::Basic);
    let Some(require) = require else {
        if basic {
            log::error!(
                "AuthType configured with no corresponding authorization directives for {}: add a Require line",
                Uri(req.uri)
            );
            return refuse(StatusCode::INTERNAL_SERVER_ERROR);
        }
        return Outcome::Allow { user: None };
    };
    let no_groups = |_: &[u8], _: &str| Ok(false);
    let anonymous = Subject {
        peer: req.peer,
        local: req.local,
        user: None,
        in_group: &no_groups,
        request: req.facts,
    };
    match before_authentication(require, &anonymous) {
        Verdict::Allow => return Outcome::Allow { user: None },
        Verdict::Forbidden => {
            log::error!("client denied by server configuration: {}", Uri(req.uri));
            return refuse(StatusCode::FORBIDDEN);
        }
        Verdict::Error => return refuse(StatusCode::INTERNAL_SERVER_ERROR),
        Verdict::Authenticate => {}
    }
    if !basic {
        log::error!(
            "No authentication done but request not allowed without authentication for {}. \
             Authentication not configured? (add AuthType Basic, AuthName and AuthUserFile)",
            Uri(req.uri)
        );
        return refuse(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let Some(realm) = settings.name.as_deref() else {
        log::error!(
            "need AuthName: {} (AuthType Basic names its realm with AuthName)",
            Uri(req.uri)
        );
        return refuse(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let user = match authenticate(settings, files, req) {
        Ok(user) => user,
        Err(Authn::Challenge) => return unauthorized(realm),
        Err(Authn::Error) => return refuse(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let in_group = |user: &[u8], group: &str| -> io::Result<bool> {
        let Some(path) = settings.group_file.as_deref() else {
            log::error!(
                "No group file was specified in the configuration (Require group needs AuthGroupFile) for {}",
                Uri(req.uri)
            );
            return Ok(false);
        };
        match files.groups(path) {
            Ok(groups) => Ok(groups.is_member(user, group.as_bytes())),
            Err(e) => {
                log::error!(
                    "Could not open group file: {}: {}",
                    path.display(),
                    mpm_core::error::describe_io(&e)
                );
                Err(e)
            }
        }
    };
    let who = Subject {
        peer: req.peer,
        local: req.local,
        user: Some(&user),
        in_group: &in_group,
        request: req.facts,
    };
    match after_authentication(require, &who) {
        UserVerdict::Allow => Outcome::Allow { user: Some(user) },
        UserVerdict::Unauthorized => {
            log::error!(
                "user {}: authorization failure for \"{}\"",
                logged(&user),
                Uri(req.uri)
            );
            unauthorized(realm)
        }
        UserVerdict::Error => refuse(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Why [`authenticate`] let nobody in.
enum Authn {
    /// 401 with the challenge (no, wrong or unknown credentials).
    Challenge,
    /// 500: the password file is missing or unreadable (logged).
    Error,
}

/// mod_auth_basic + mod_authn_file: the user whose password the request
/// gave.
fn authenticate(
    settings: &AuthSettings,
    files: &AuthFiles,
    req: &Request<'_>,
) -> Result<Vec<u8>, Authn> {
    let Some(value) = req.headers.get(http::header::AUTHORIZATION) else {
        return Err(Authn::Challenge);
    };
    let credentials = match parse_basic(value.as_bytes()) {
        Ok(c) => c,
        Err(BasicError::OtherScheme) => {
            log::error!("client used wrong authentication scheme: {}", Uri(req.uri));
            return Err(Authn::Challenge);
        }
        Err(BasicError::Malformed) => {
            log::error!("client sent malformed Basic credentials: {}", Uri(req.uri));
            return Err(Authn::Challenge);
        }
    };
    let Some(path) = settings.user_file.as_deref() else {
        log::error!(
            "AuthUserFile not specified in the configuration for {} (AuthBasicProvider file reads it)",
            Uri(req.uri)
        );
        return Err(Authn::Error);
    };
    let users = files.users(path).map_err(|e| {
        log::error!(
            "Could not open password file: {}: {}",
            path.display(),
            mpm_core::error::describe_io(&e)
        );
        Authn::Error
    })?;
    let user = credentials.user;
    let Some(hash) = users.hash(&user) else {
        log::error!("user {} not found: {}", logged(&user), Uri(req.uri));
        return Err(Authn::Challenge);
    };
    match verify(hash, &credentials.password) {
        Check::Match => Ok(user),
        Check::Mismatch => {
            log::error!(
                "user {}: authentication failure for \"{}\": Password Mismatch",
                logged(&user),
                Uri(req.uri)
            );
            Err(Authn::Challenge)
        }
        Check::Unsupported(kind) => {
            log::error!(
                "user {}: the password of this user in {} is {kind}, which mpmd does not check; \
                 write it again with htpasswd -B (bcrypt)",
                logged(&user),
                path.display()
            );
            Err(Authn::Challenge)
        }
    }
}

/// A URL path in a log line, as text (the error log escapes what it
/// writes, control bytes included).
struct Uri<'a>(&'a [u8]);

impl std::fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.0))
    }
}

/// A user name (bytes from the network) as text for a log line.
fn logged(user: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(user)
}

fn refuse(status: StatusCode) -> Outcome {
    Outcome::Refuse {
        status,
        challenge: None,
    }
}

/// 401 with `WWW-Authenticate: Basic realm="…"`.
fn unauthorized(realm: &str) -> Outcome {
    Outcome::Refuse {
        status: StatusCode::UNAUTHORIZED,
        challenge: challenge(realm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::basic::encode;

    struct Fixture {
        dir: tempfile::TempDir,
        files: AuthFiles,
    }

    // Hashes written by htpasswd: alice (bcrypt) alicepw, bob ($apr1$)
    // bobpw, carol ({SHA}) carolpw; dan has a DES hash.
    const USERS: &str = "alice:$2y$04$gF0SP9cb2zRtjjyMJJlAH.wRXrdcdQvG1UIxMf3FC/LVRktBzJms6\n\
                         bob:$apr1$8Zk6DQVF$Pz7I9XJb2T2qQAWiSRpqU.\n\
                         carol:{SHA}s3lY8hvguXyCP2PMxFsSNoI1V18=\n\
                         dan:qiqyhUoLpyLNI\n";

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("users"), USERS).unwrap();
            std::fs::write(dir.path().join("groups"), "admins: carol\n").unwrap();
            Fixture {
                dir,
                files: AuthFiles::new(),
            }
        }

        fn settings(&self) -> AuthSettings {
            AuthSettings {
                auth_type: Some(AuthType::Basic),
                name: Some("Members".into()),
                user_file: Some(self.dir.path().join("users")),
                group_file: Some(self.dir.path().join("groups")),
                merging: None,
            }
        }

        fn ask(&self, require: &Require, settings: &AuthSettings, auth: Option<String>) -> Outcome {
            let mut headers = HeaderMap::new();
            if let Some(a) = auth {
                headers.insert(http::header::AUTHORIZATION, a.parse().unwrap());
            }
            let req = Request {
                headers: &headers,
                peer: "192.0.2.9".parse().unwrap(),
                local: "192.0.2.1".parse().unwrap(),
                uri: b"/members/",
                facts: &crate::require::TestFacts::get(),
            };
            check(Some(require), settings, &self.files, &req)
        }
    }

    /// The status, the challenge and the user of an outcome.
    fn seen(o: Outcome) -> (u16, Option<String>, Option<String>) {
        match o {
            Outcome::Allow { user } => (200, None, user.map(|u| String::from_utf8(u).unwrap())),
            Outcome::Refuse { status, challenge } => (
                status.as_u16(),
                challenge.map(|v| v.to_str().unwrap().to_string()),
                None,
            ),
        }
    }

    const CHALLENGE: &str = "Basic realm=\"Members\"";

    #[test]
    fn valid_user_asks_for_credentials_and_checks_them() {
        // The hashes in USERS are for these passwords (see password.rs).
        let fx = Fixture::new();
        let s = fx.settings();
        let rule = Require::ValidUser;
        assert_eq!(
            seen(fx.ask(&rule, &s, None)),
            (401, Some(CHALLENGE.into()), None)
        );
        assert_eq!(
            seen(fx.ask(&rule, &s, Some(encode("alice", "pa:ss wörd")))),
            (200, None, Some("alice".into()))
        );
        assert_eq!(
            seen(fx.ask(&rule, &s, Some(encode("bob", "secret")))),
            (200, None, Some("bob".into()))
        );
        assert_eq!(
            seen(fx.ask(&rule, &s, Some(encode("carol", "sha1pass")))),
            (200, None, Some("carol".into()))
        );
        for refused in [
            encode("alice", "wrong"),
            encode("zoe", "secret"),
            encode("dan", "crypt"),
            "Bearer x".to_string(),
            "Basic !!!".to_string(),
        ] {
            assert_eq!(
                seen(fx.ask(&rule, &s, Some(refused.clone()))),
                (401, Some(CHALLENGE.into()), None),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_refused_user_gets_the_challenge_again() {
        let fx = Fixture::new();
        let s = fx.settings();
        let admins = Require::Group(vec!["admins".into()]);
        assert_eq!(
            seen(fx.ask(&admins, &s, Some(encode("bob", "secret")))),
            (401, Some(CHALLENGE.into()), None)
        );
        assert_eq!(
            seen(fx.ask(&admins, &s, Some(encode("carol", "sha1pass")))),
            (200, None, Some("carol".into()))
        );
        // No group file: nobody is in a group.
        let no_groups = AuthSettings {
            group_file: None,
            ..s.clone()
        };
        assert_eq!(
            seen(fx.ask(&admins, &no_groups, Some(encode("carol", "sha1pass")))).0,
            401
        );
        // An unreadable group file: 500.
        let lost = AuthSettings {
            group_file: Some(fx.dir.path().join("gone")),
            ..s
        };
        assert_eq!(
            seen(fx.ask(&admins, &lost, Some(encode("carol", "sha1pass")))).0,
            500
        );
    }

    #[test]
    fn configurations_that_cannot_work_are_500() {
        let fx = Fixture::new();
        let s = fx.settings();
        let rule = Require::ValidUser;
        let creds = || Some(encode("bob", "secret"));
        // Require valid-user without AuthType (or with AuthType None).
        for auth_type in [None, Some(AuthType::None)] {
            let none = AuthSettings {
                auth_type,
                ..s.clone()
            };
            assert_eq!(seen(fx.ask(&rule, &none, creds())).0, 500, "{auth_type:?}");
        }
        let no_name = AuthSettings {
            name: None,
            ..s.clone()
        };
        assert_eq!(seen(fx.ask(&rule, &no_name, creds())).0, 500);
        // A missing password file: 401 until credentials come, then 500.
        let lost = AuthSettings {
            user_file: Some(fx.dir.path().join("gone")),
            ..s.clone()
        };
        assert_eq!(seen(fx.ask(&rule, &lost, None)).0, 401);
        assert_eq!(seen(fx.ask(&rule, &lost, creds())).0, 500);
        // AuthType Basic and no Require at all.
        let req = Request {
            headers: &HeaderMap::new(),
            peer: "192.0.2.9".parse().unwrap(),
            local: "192.0.2.1".parse().unwrap(),
            uri: b"/",
            facts: &crate::require::TestFacts::get(),
        };
        assert_eq!(seen(check(None, &s, &fx.files, &req)).0, 500);
        assert_eq!(
            seen(check(None, &AuthSettings::default(), &fx.files, &req)).0,
            200
        );
    }

    #[test]
    fn an_address_rule_needs_no_password_and_all_denied_asks_for_none() {
        let fx = Fixture::new();
        let s = fx.settings();
        let net = crate::config::IpNet {
            addr: "192.0.2.0".parse().unwrap(),
            prefix: 24,
        };
        let office = Require::Any(vec![Require::Ip(vec![net]), Require::ValidUser]);
        assert_eq!(seen(fx.ask(&office, &s, None)), (200, None, None));
        let denied = Require::All(vec![Require::AllDenied, Require::ValidUser]);
        assert_eq!(seen(fx.ask(&denied, &s, None)), (403, None, None));
    }

    #[test]
    fn settings_merge_field_by_field() {
        let outer = AuthSettings {
            auth_type: Some(AuthType::Basic),
            name: Some("Outer".into()),
            user_file: Some("/a".into()),
            group_file: None,
            merging: Some(AuthMerging::And),
        };
        let inner = AuthSettings {
            name: Some("Inner".into()),
            group_file: Some("/g".into()),
            ..AuthSettings::default()
        };
        assert_eq!(
            outer.merged_with(&inner),
            AuthSettings {
                auth_type: Some(AuthType::Basic),
                name: Some("Inner".into()),
                user_file: Some("/a".into()),
                group_file: Some("/g".into()),
                merging: None,
            },
            "AuthMerging is the inner section's own"
        );
    }

    #[test]
    fn authmerging_joins_a_sections_rules_to_the_ones_before() {
        let outer = Some(Require::Local);
        let inner = Some(Require::ValidUser);
        assert_eq!(merge_require(outer.clone(), &inner, None), inner);
        assert_eq!(
            merge_require(outer.clone(), &inner, Some(AuthMerging::Off)),
            inner
        );
        assert_eq!(
            merge_require(outer.clone(), &inner, Some(AuthMerging::And)),
            Some(Require::All(vec![Require::Local, Require::ValidUser]))
        );
        assert_eq!(
            merge_require(outer.clone(), &inner, Some(AuthMerging::Or)),
            Some(Require::Any(vec![Require::Local, Require::ValidUser]))
        );
        // No rules of its own: the ones before stay; none before: its own.
        assert_eq!(
            merge_require(outer.clone(), &None, Some(AuthMerging::And)),
            outer
        );
        assert_eq!(merge_require(None, &inner, Some(AuthMerging::And)), inner);
    }
}
