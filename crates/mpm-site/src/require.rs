//! `Require` (mod_authz_core with mod_authz_host, mod_authz_user and
//! mod_authz_groupfile): whether a client may see a resource, from its
//! address, its method (`Require method`), its environment (`Require
//! env`), an expression (`Require expr`, which may read the user), and
//! from the user the authentication let in.
//!
//! As Apache, a rule answers one of five things ([`Authz`]), and the
//! containers combine them: `<RequireAny>` grants when one child grants,
//! `<RequireAll>` refuses when one child refuses, a rule that needs a user
//! when there is none says so (so that asking for a password may change
//! the answer), and a negated rule (`Require not`, `<RequireNone>`) turns
//! a grant into a refusal and a refusal into no opinion, since not being
//! refused is no reason to let in. A request is judged twice: before
//! authentication ([`before_authentication`]: granted at once, or a user
//! is needed, or refused) and, when a user was needed, after it
//! ([`after_authentication`]).

use std::io;
use std::net::IpAddr;

use crate::config::Require;
use crate::expr::Expr;

/// What one rule (or container) says of a request: mod_authz_core's
/// `authz_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authz {
    /// Let in.
    Granted,
    /// Refused, whoever the user.
    Denied,
    /// Refused for want of a user: with one the answer may differ.
    DeniedNoUser,
    /// No opinion (a negated rule that did not match, an empty container).
    Neutral,
    /// The rule could not be judged (a group file that cannot be read):
    /// a 500, logged where it failed.
    Error,
}

/// What a rule may ask of the request being judged.
pub struct Subject<'a> {
    /// The client's address (after mod_remoteip).
    pub peer: IpAddr,
    /// The address the connection came to.
    pub local: IpAddr,
    /// The user the authentication let in, if it ran.
    pub user: Option<&'a [u8]>,
    /// Whether `user` is in `group` (the `AuthGroupFile` in force); an
    /// error when the group file cannot be read.
    pub in_group: &'a dyn Fn(&[u8], &str) -> io::Result<bool>,
    /// The rest of the request, for `Require method`, `env` and `expr`.
    pub request: &'a dyn RequestFacts,
}

/// What `Require method`, `Require env` and `Require expr` read of the
/// request being judged (the pipeline's request state answers).
pub trait RequestFacts {
    /// The request's method.
    fn method(&self) -> &http::Method;

    /// Whether the environment variable `name` is set (to anything, the
    /// empty string included).
    fn has_env(&self, name: &str) -> bool;

    /// Whether `expr` holds for the request, with `user` as
    /// `%{REMOTE_USER}`.
    fn holds(&self, expr: &Expr, user: Option<&[u8]>) -> bool;
}

/// A method as Apache numbers it for `Require method`: `HEAD` is `GET`.
fn method_number(method: &http::Method) -> &http::Method {
    if method == http::Method::HEAD {
        &http::Method::GET
    } else {
        method
    }
}

/// The methods `Require method` may name (Apache's built-in ones, in
/// capitals; `HEAD` stands for `GET`). Another name is a configuration
/// error, as Apache's `Invalid Method`.
pub fn parse_method(name: &str) -> Option<http::Method> {
    const KNOWN: &[&str] = &[
        "GET",
        "HEAD",
        "PUT",
        "POST",
        "DELETE",
        "CONNECT",
        "OPTIONS",
        "TRACE",
        "PATCH",
        "PROPFIND",
        "PROPPATCH",
        "MKCOL",
        "COPY",
        "MOVE",
        "LOCK",
        "UNLOCK",
        "VERSION-CONTROL",
        "CHECKOUT",
        "UNCHECKOUT",
        "CHECKIN",
        "UPDATE",
        "LABEL",
        "REPORT",
        "MKWORKSPACE",
        "MKACTIVITY",
        "BASELINE-CONTROL",
        "MERGE",
    ];
    if !KNOWN.contains(&name) {
        return None;
    }
    let method = http::Method::from_bytes(name.as_bytes()).ok()?;
    Some(method_number(&method).clone())
}

/// The methods a `<Limit>` or `<LimitExcept>` section (or several
/// nested) lets its rules judge: those it names, or all but those. Names
/// are kept as [`parse_method`] gives them (`HEAD` is `GET`), so `<Limit
/// GET>` holds `HEAD` too, as in Apache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodLimit {
    /// `<Limit …>`: these methods only.
    Only(Vec<http::Method>),
    /// `<LimitExcept …>`: every method but these.
    AllBut(Vec<http::Method>),
}

impl MethodLimit {
    /// Whether a request of `method` is judged by the rules inside.
    pub fn contains(&self, method: &http::Method) -> bool {
        let asked = method_number(method);
        match self {
            MethodLimit::Only(list) => list.iter().any(|m| m == asked),
            MethodLimit::AllBut(list) => !list.iter().any(|m| m == asked),
        }
    }

    /// The methods both `self` and `inner` let through: a section nested
    /// in another narrows it.
    pub fn and(&self, inner: &MethodLimit) -> MethodLimit {
        use MethodLimit::{AllBut, Only};
        match (self, inner) {
            (Only(a), Only(b)) => Only(a.iter().filter(|m| b.contains(m)).cloned().collect()),
            (Only(a), AllBut(b)) | (AllBut(b), Only(a)) => {
                Only(a.iter().filter(|m| !b.contains(m)).cloned().collect())
            }
            (AllBut(a), AllBut(b)) => {
                let mut all = a.clone();
                all.extend(b.iter().filter(|m| !a.contains(m)).cloned());
                AllBut(all)
            }
        }
    }

    /// Whether no method at all is let through.
    pub fn is_empty(&self) -> bool {
        matches!(self, MethodLimit::Only(list) if list.is_empty())
    }

    /// Whether `self` and `other` let the same methods through.
    pub fn same_as(&self, other: &MethodLimit) -> bool {
        use MethodLimit::{AllBut, Only};
        let same = |a: &[http::Method], b: &[http::Method]| {
            a.iter().all(|m| b.contains(m)) && b.iter().all(|m| a.contains(m))
        };
        match (self, other) {
            (Only(a), Only(b)) | (AllBut(a), AllBut(b)) => same(a, b),
            _ => false,
        }
    }
}

/// Whether `rule` has a say on a request of `method`: a rule outside any
/// `<Limit>` always has, a container when one of its rules has
/// (Apache's container mask is the union of its children's). An empty
/// container (which no configuration makes) keeps its say, so that it
/// refuses as one with no opinion.
fn judges(rule: &Require, method: &http::Method) -> bool {
    match rule {
        Require::Limited(limit, _) => limit.contains(method),
        Require::Not(inner) => judges(inner, method),
        Require::Any(list) | Require::All(list) | Require::NoneOf(list) => {
            list.is_empty() || list.iter().any(|r| judges(r, method))
        }
        _ => true,
    }
}

/// Judge `rule` for `who` (mod_authz_core's `apply_authz_sections`), as
/// the top of a block's rules: a rule limited to other methods lets the
/// request in, as under a `<RequireAll>`.
pub fn evaluate(rule: &Require, who: &Subject<'_>) -> Authz {
    evaluate_in(rule, who, Op::All)
}

/// Judge `rule` as a child of a container combining with `parent`.
fn evaluate_in(rule: &Require, who: &Subject<'_>, parent: Op) -> Authz {
    if !judges(rule, who.request.method()) {
        return match parent {
            Op::All => Authz::Granted,
            Op::Any => Authz::Neutral,
        };
    }
    let granted = |yes: bool| if yes { Authz::Granted } else { Authz::Denied };
    match rule {
        Require::AllGranted => Authz::Granted,
        Require::AllDenied => Authz::Denied,
        Require::Local => granted(who.peer.is_loopback() || who.peer == who.local),
        Require::Ip(nets) => granted(nets.iter().any(|net| net.contains(who.peer))),
        Require::ValidUser => match who.user {
            Some(_) => Authz::Granted,
            None => Authz::DeniedNoUser,
        },
        Require::User(names) => match who.user {
            Some(user) => granted(names.iter().any(|n| n.as_bytes() == user)),
            None => Authz::DeniedNoUser,
        },
        Require::Group(groups) => match who.user {
            None => Authz::DeniedNoUser,
            Some(user) => {
                for group in groups {
                    match (who.in_group)(user, group) {
                        Ok(true) => return Authz::Granted,
                        Ok(false) => {}
                        Err(_) => return Authz::Error,
                    }
                }
                Authz::Denied
            }
        },
        Require::Method(methods) => {
            let asked = method_number(who.request.method());
            granted(methods.iter().any(|m| method_number(m) == asked))
        }
        Require::Env(names) => granted(names.iter().any(|n| who.request.has_env(n))),
        Require::Expr(rule) => {
            if who.request.holds(&rule.expr, who.user) {
                Authz::Granted
            } else if rule.wants_user {
                // Apache's answer whether or not a user is known yet.
                Authz::DeniedNoUser
            } else {
                Authz::Denied
            }
        }
        Require::Not(inner) => negate(evaluate_in(inner, who, parent)),
        Require::Limited(_, inner) => evaluate_in(inner, who, parent),
        Require::Any(list) => combine(list, Op::Any, who),
        Require::All(list) => combine(list, Op::All, who),
        Require::NoneOf(list) => negate(combine(list, Op::Any, who)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Any,
    All,
}

/// A container's answer from its children's, in order: a refusal ends an
/// `All`, a grant ends an `Any`, and a want of a user is kept over a
/// refusal when a user could still change the answer.
fn combine(list: &[Require], op: Op, who: &Subject<'_>) -> Authz {
    let mut result = Authz::Neutral;
    for rule in list {
        let child = evaluate_in(rule, who, op);
        match child {
            Authz::Error => return Authz::Error,
            Authz::Neutral => continue,
            _ => {}
        }
        match op {
            Op::All => {
                if child == Authz::Denied {
                    return Authz::Denied;
                }
                if child == Authz::DeniedNoUser || result == Authz::Neutral {
                    result = child;
                }
            }
            Op::Any => {
                if child == Authz::Granted {
                    return Authz::Granted;
                }
                if (child == Authz::DeniedNoUser && result == Authz::Denied)
                    || result == Authz::Neutral
                {
                    result = child;
                }
            }
        }
    }
    result
}

/// `Require not` and `<RequireNone>`: a grant becomes a refusal, a
/// refusal no opinion.
fn negate(result: Authz) -> Authz {
    match result {
        Authz::Granted => Authz::Denied,
        Authz::Denied | Authz::DeniedNoUser => Authz::Neutral,
        other => other,
    }
}

/// The answer to a request before anyone authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Allow,
    /// A user is needed: authenticate, then ask [`after_authentication`].
    Authenticate,
    /// 403.
    Forbidden,
    /// 500 (already logged where it failed).
    Error,
}

/// Judge `rule` before authentication (mod_authz_core's
/// `authorize_userless`): let in, ask for a user, or refuse.
pub fn before_authentication(rule: &Require, who: &Subject<'_>) -> Verdict {
    match evaluate(rule, who) {
        Authz::Granted => Verdict::Allow,
        Authz::DeniedNoUser => Verdict::Authenticate,
        Authz::Denied | Authz::Neutral => Verdict::Forbidden,
        Authz::Error => Verdict::Error,
    }
}

/// The answer once a user authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVerdict {
    /// Serve it.
    Allow,
    /// 401 with the challenge again: this user may not, another may.
    Unauthorized,
    /// 500 (already logged where it failed).
    Error,
}

/// Judge `rule` for the authenticated user of `who` (mod_authz_core's
/// `authorize_user`, `AuthType` set): a refusal is a 401, so that the
/// client may offer another user.
pub fn after_authentication(rule: &Require, who: &Subject<'_>) -> UserVerdict {
    match evaluate(rule, who) {
        Authz::Granted => UserVerdict::Allow,
        Authz::DeniedNoUser | Authz::Denied | Authz::Neutral => UserVerdict::Unauthorized,
        Authz::Error => UserVerdict::Error,
    }
}

/// The request in flight as the pipeline's `access_checker` judges it,
/// with the request headers each `Require expr` read noted for the
/// response's `Vary` (as Apache's expressions add them).
pub struct Judged<'r, 'a> {
    /// The request.
    pub request: &'r crate::pipeline::request::RequestState<'a>,
    /// The headers read, in order, each once.
    pub vary: std::cell::RefCell<Vec<String>>,
}

impl<'r, 'a> Judged<'r, 'a> {
    /// `request`, nothing read yet.
    pub fn new(request: &'r crate::pipeline::request::RequestState<'a>) -> Judged<'r, 'a> {
        Judged {
            request,
            vary: std::cell::RefCell::new(Vec::new()),
        }
    }
}

impl RequestFacts for Judged<'_, '_> {
    fn method(&self) -> &http::Method {
        self.request.method()
    }

    fn has_env(&self, name: &str) -> bool {
        self.request.subprocess_env.get(name).is_some()
    }

    fn holds(&self, expr: &Expr, user: Option<&[u8]>) -> bool {
        let user = user.map(String::from_utf8_lossy);
        let (holds, read) = expr.holds_for(self.request, user.as_deref());
        let mut vary = self.vary.borrow_mut();
        for name in &read {
            crate::expr::note_header(&mut vary, name);
        }
        holds
    }
}

/// [`RequestFacts`] for tests: a method, the environment variables set,
/// and the variables an expression reads.
#[cfg(test)]
pub(crate) struct TestFacts {
    pub method: http::Method,
    pub env: Vec<&'static str>,
}

#[cfg(test)]
impl TestFacts {
    pub(crate) fn get() -> TestFacts {
        TestFacts {
            method: http::Method::GET,
            env: Vec::new(),
        }
    }
}

#[cfg(test)]
impl RequestFacts for TestFacts {
    fn method(&self) -> &http::Method {
        &self.method
    }

    fn has_env(&self, name: &str) -> bool {
        self.env.contains(&name)
    }

    fn holds(&self, expr: &Expr, user: Option<&[u8]>) -> bool {
        struct Vars<'a>(&'a TestFacts, Option<&'a [u8]>);
        impl crate::vars::RequestVars for Vars<'_> {
            fn var(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
                match name {
                    "REQUEST_METHOD" => Some(self.0.method.as_str().into()),
                    "REMOTE_USER" => self.1.map(String::from_utf8_lossy),
                    _ => None,
                }
            }
            fn header(&self, _: &str) -> Option<std::borrow::Cow<'_, str>> {
                None
            }
            fn env(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
                self.0.has_env(name).then_some("1".into())
            }
        }
        expr.eval(&Vars(self, user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IpNet;

    fn net(text: &str, prefix: u8) -> IpNet {
        IpNet {
            addr: text.parse().unwrap(),
            prefix,
        }
    }

    static GET: TestFacts = TestFacts {
        method: http::Method::GET,
        env: Vec::new(),
    };

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// alice is in admins and staff, bob in staff; the group file of
    /// `broken` cannot be read.
    fn groups(user: &[u8], group: &str) -> io::Result<bool> {
        match group {
            "broken" => Err(io::Error::other("unreadable")),
            "admins" => Ok(user == b"alice"),
            "staff" => Ok(user == b"alice" || user == b"bob"),
            _ => Ok(false),
        }
    }

    fn who(user: Option<&str>) -> Subject<'_> {
        Subject {
            peer: ip("10.0.0.7"),
            local: ip("10.0.0.1"),
            user: user.map(str::as_bytes),
            in_group: &groups,
            request: &GET,
        }
    }

    fn users(names: &[&str]) -> Require {
        Require::User(names.iter().map(|s| s.to_string()).collect())
    }

    fn group(name: &str) -> Require {
        Require::Group(vec![name.to_string()])
    }

    fn not(rule: Require) -> Require {
        Require::Not(Box::new(rule))
    }

    #[test]
    fn local_grants_loopback_and_same_address_clients() {
        let on = |peer, local| Subject {
            peer: ip(peer),
            local: ip(local),
            user: None,
            in_group: &groups,
            request: &GET,
        };
        let ok = |rule: &Require, peer, local| evaluate(rule, &on(peer, local)) == Authz::Granted;
        assert!(ok(&Require::Local, "127.0.0.5", "10.0.0.1"));
        assert!(ok(&Require::Local, "10.0.0.1", "10.0.0.1"));
        assert!(!ok(&Require::Local, "10.0.0.2", "10.0.0.1"));
        let any = Require::Any(vec![
            Require::AllDenied,
            Require::Ip(vec![net("10.0.0.0", 8)]),
        ]);
        assert!(ok(&any, "10.0.0.2", "127.0.0.1"));
        assert!(!ok(&any, "11.0.0.2", "127.0.0.1"));
    }

    #[test]
    fn user_rules_want_a_user_then_name_it() {
        for rule in [Require::ValidUser, users(&["alice"]), group("admins")] {
            assert_eq!(evaluate(&rule, &who(None)), Authz::DeniedNoUser, "{rule:?}");
            assert_eq!(
                evaluate(&rule, &who(Some("alice"))),
                Authz::Granted,
                "{rule:?}"
            );
        }
        assert_eq!(
            evaluate(&Require::ValidUser, &who(Some("bob"))),
            Authz::Granted
        );
        assert_eq!(
            evaluate(&users(&["alice", "carol"]), &who(Some("bob"))),
            Authz::Denied
        );
        assert_eq!(
            evaluate(&users(&["alice", "bob"]), &who(Some("bob"))),
            Authz::Granted
        );
        assert_eq!(evaluate(&group("admins"), &who(Some("bob"))), Authz::Denied);
        let either = Require::Group(vec!["admins".into(), "staff".into()]);
        assert_eq!(evaluate(&either, &who(Some("bob"))), Authz::Granted);
        assert_eq!(evaluate(&group("broken"), &who(Some("bob"))), Authz::Error);
    }

    #[test]
    fn an_address_rule_in_any_lets_in_without_a_password() {
        // Require ip 10.0.0.0/8 + Require valid-user: the office needs no
        // password, the rest do.
        let rule = Require::Any(vec![
            Require::Ip(vec![net("10.0.0.0", 8)]),
            Require::ValidUser,
        ]);
        assert_eq!(before_authentication(&rule, &who(None)), Verdict::Allow);
        let outside = Subject {
            peer: ip("192.0.2.1"),
            ..who(None)
        };
        assert_eq!(
            before_authentication(&rule, &outside),
            Verdict::Authenticate
        );
        // RequireAll: the office AND a password.
        let all = Require::All(vec![
            Require::Ip(vec![net("10.0.0.0", 8)]),
            Require::ValidUser,
        ]);
        assert_eq!(
            before_authentication(&all, &who(None)),
            Verdict::Authenticate
        );
        assert_eq!(before_authentication(&all, &outside), Verdict::Forbidden);
        assert_eq!(
            after_authentication(&all, &who(Some("bob"))),
            UserVerdict::Allow
        );
    }

    #[test]
    fn require_not_refuses_only_inside_require_all() {
        // <RequireAll> Require valid-user / Require not user bob
        let rule = Require::All(vec![Require::ValidUser, not(users(&["bob"]))]);
        assert_eq!(
            before_authentication(&rule, &who(None)),
            Verdict::Authenticate
        );
        assert_eq!(
            after_authentication(&rule, &who(Some("alice"))),
            UserVerdict::Allow
        );
        assert_eq!(
            after_authentication(&rule, &who(Some("bob"))),
            UserVerdict::Unauthorized
        );
        // A negation alone never grants.
        assert_eq!(
            evaluate(&not(users(&["bob"])), &who(Some("alice"))),
            Authz::Neutral
        );
        assert_eq!(
            evaluate(&not(Require::AllGranted), &who(None)),
            Authz::Denied
        );
        // <RequireAll> Require all granted / Require not ip 10.0.0.0/8
        let outsiders = Require::All(vec![
            Require::AllGranted,
            not(Require::Ip(vec![net("10.0.0.0", 8)])),
        ]);
        assert_eq!(
            before_authentication(&outsiders, &who(None)),
            Verdict::Forbidden
        );
    }

    #[test]
    fn require_none_refuses_what_any_child_grants() {
        // <RequireAll> valid-user + <RequireNone> group admins, user carol
        let rule = Require::All(vec![
            Require::ValidUser,
            Require::NoneOf(vec![group("admins"), users(&["carol"])]),
        ]);
        assert_eq!(
            after_authentication(&rule, &who(Some("bob"))),
            UserVerdict::Allow
        );
        assert_eq!(
            after_authentication(&rule, &who(Some("alice"))),
            UserVerdict::Unauthorized
        );
        assert_eq!(
            after_authentication(&rule, &who(Some("carol"))),
            UserVerdict::Unauthorized
        );
        // Alone, RequireNone never grants.
        let alone = Require::NoneOf(vec![users(&["carol"])]);
        assert_eq!(
            before_authentication(&alone, &who(None)),
            Verdict::Forbidden
        );
    }

    #[test]
    fn nested_containers_combine_as_apache_does() {
        // <RequireAny>
        //   <RequireAll> group staff, not user bob </RequireAll>
        //   user carol
        // </RequireAny>
        let rule = Require::Any(vec![
            Require::All(vec![group("staff"), not(users(&["bob"]))]),
            users(&["carol"]),
        ]);
        assert_eq!(
            before_authentication(&rule, &who(None)),
            Verdict::Authenticate
        );
        for (user, verdict) in [
            ("alice", UserVerdict::Allow),
            ("bob", UserVerdict::Unauthorized),
            ("carol", UserVerdict::Allow),
            ("dave", UserVerdict::Unauthorized),
        ] {
            assert_eq!(
                after_authentication(&rule, &who(Some(user))),
                verdict,
                "{user}"
            );
        }
        // An error anywhere is an error.
        let broken = Require::Any(vec![group("broken"), Require::AllGranted]);
        assert_eq!(
            after_authentication(&broken, &who(Some("bob"))),
            UserVerdict::Error
        );
        // An all-denied sibling wins over a want of a user in RequireAll,
        // and loses to it in RequireAny.
        let all = Require::All(vec![Require::ValidUser, Require::AllDenied]);
        assert_eq!(before_authentication(&all, &who(None)), Verdict::Forbidden);
        let any = Require::Any(vec![Require::AllDenied, Require::ValidUser]);
        assert_eq!(
            before_authentication(&any, &who(None)),
            Verdict::Authenticate
        );
        // An empty container has no opinion: refused.
        assert_eq!(
            before_authentication(&Require::All(vec![]), &who(None)),
            Verdict::Forbidden
        );
    }

    fn judge(rule: &Require, facts: &TestFacts, user: Option<&str>) -> Authz {
        let who = Subject {
            peer: ip("10.0.0.7"),
            local: ip("10.0.0.1"),
            user: user.map(str::as_bytes),
            in_group: &groups,
            request: facts,
        };
        evaluate(rule, &who)
    }

    fn expr(text: &str) -> Require {
        Require::Expr(crate::config::RequireExpr::parse(text).unwrap())
    }

    #[test]
    fn method_grants_the_methods_it_names_and_head_with_get() {
        let rule = Require::Method(vec![
            parse_method("GET").unwrap(),
            parse_method("OPTIONS").unwrap(),
        ]);
        for (method, expected) in [
            (http::Method::GET, Authz::Granted),
            (http::Method::HEAD, Authz::Granted),
            (http::Method::OPTIONS, Authz::Granted),
            (http::Method::POST, Authz::Denied),
            (http::Method::from_bytes(b"BREW").unwrap(), Authz::Denied),
        ] {
            let facts = TestFacts {
                method: method.clone(),
                env: vec![],
            };
            assert_eq!(judge(&rule, &facts, None), expected, "{method}");
        }
        assert_eq!(parse_method("HEAD"), Some(http::Method::GET));
        assert_eq!(parse_method("get"), None, "names are Apache's capitals");
        assert_eq!(parse_method("BREW"), None);
    }

    fn methods(names: &[&str]) -> Vec<http::Method> {
        names.iter().map(|n| parse_method(n).unwrap()).collect()
    }

    fn facts(method: &str) -> TestFacts {
        TestFacts {
            method: http::Method::from_bytes(method.as_bytes()).unwrap(),
            env: vec![],
        }
    }

    #[test]
    fn a_limited_rule_lets_other_methods_in_under_all_and_has_no_say_under_any() {
        let post_only =
            |rule| Require::Limited(MethodLimit::Only(methods(&["POST"])), Box::new(rule));
        // Alone (the top is an AND): other methods pass, POST is judged.
        let alone = post_only(Require::ValidUser);
        assert_eq!(judge(&alone, &facts("GET"), None), Authz::Granted);
        assert_eq!(judge(&alone, &facts("POST"), None), Authz::DeniedNoUser);
        // In an Any beside a rule that refuses: no say for GET, so the
        // other rule decides; for POST either may grant.
        let any = Require::Any(vec![Require::AllDenied, post_only(Require::AllGranted)]);
        assert_eq!(judge(&any, &facts("GET"), None), Authz::Denied);
        assert_eq!(judge(&any, &facts("POST"), None), Authz::Granted);
        // A container all of whose rules are limited is limited too.
        let inner = Require::Any(vec![post_only(Require::AllDenied)]);
        let all = Require::All(vec![Require::AllGranted, inner]);
        assert_eq!(judge(&all, &facts("GET"), None), Authz::Granted);
        assert_eq!(judge(&all, &facts("POST"), None), Authz::Denied);
        // A negated limited rule: judged (and negated) for its methods only.
        let rule = Require::All(vec![Require::AllGranted, post_only(not(Require::Local))]);
        assert_eq!(judge(&rule, &facts("GET"), None), Authz::Granted);
        assert_eq!(judge(&rule, &facts("POST"), None), Authz::Granted);
    }

    #[test]
    fn method_limits_nest_by_narrowing_and_count_head_as_get() {
        let get_post = MethodLimit::Only(methods(&["GET", "POST"]));
        let not_post = MethodLimit::AllBut(methods(&["POST", "PUT"]));
        let both = get_post.and(&not_post);
        assert!(both.same_as(&MethodLimit::Only(methods(&["GET"]))));
        assert!(both.contains(&http::Method::HEAD), "HEAD is GET");
        assert!(!both.contains(&http::Method::POST));
        let wider = not_post.and(&MethodLimit::AllBut(methods(&["DELETE"])));
        assert!(wider.same_as(&MethodLimit::AllBut(methods(&["PUT", "DELETE", "POST"]))));
        assert!(wider.contains(&http::Method::from_bytes(b"BREW").unwrap()));
        assert!(MethodLimit::Only(methods(&["PUT"]))
            .and(&MethodLimit::Only(methods(&["GET"])))
            .is_empty());
        assert!(!not_post.is_empty());
    }

    #[test]
    fn env_grants_when_one_of_the_variables_is_set() {
        let rule = Require::Env(vec!["let_me_in".into(), "office".into()]);
        let facts = TestFacts {
            method: http::Method::GET,
            env: vec!["office"],
        };
        assert_eq!(judge(&rule, &facts, None), Authz::Granted);
        assert_eq!(judge(&rule, &TestFacts::get(), None), Authz::Denied);
        // In a RequireAll beside a user rule: the variable and a user.
        let all = Require::All(vec![rule, Require::ValidUser]);
        assert_eq!(
            before_authentication(
                &all,
                &Subject {
                    request: &facts,
                    ..who(None)
                }
            ),
            Verdict::Authenticate
        );
        assert_eq!(before_authentication(&all, &who(None)), Verdict::Forbidden);
    }

    #[test]
    fn expr_grants_when_it_holds_and_asks_for_a_user_when_it_reads_one() {
        let post = TestFacts {
            method: http::Method::POST,
            env: vec![],
        };
        let rule = expr("%{REQUEST_METHOD} == 'GET'");
        assert_eq!(judge(&rule, &TestFacts::get(), None), Authz::Granted);
        assert_eq!(judge(&rule, &post, None), Authz::Denied);
        // Reading REMOTE_USER: false is "no user yet", as Apache.
        let alice = expr("%{REMOTE_USER} == 'alice'");
        assert_eq!(judge(&alice, &TestFacts::get(), None), Authz::DeniedNoUser);
        assert_eq!(
            judge(&alice, &TestFacts::get(), Some("alice")),
            Authz::Granted
        );
        assert_eq!(
            before_authentication(&alice, &who(None)),
            Verdict::Authenticate
        );
        assert_eq!(
            after_authentication(&alice, &who(Some("bob"))),
            UserVerdict::Unauthorized
        );
        // Negated in a RequireAll: GETs only, from anyone.
        let rule = Require::All(vec![
            Require::AllGranted,
            not(expr("%{REQUEST_METHOD} != 'GET'")),
        ]);
        assert_eq!(before_authentication(&rule, &who(None)), Verdict::Allow);
        let on_post = Subject {
            request: &post,
            ..who(None)
        };
        assert_eq!(before_authentication(&rule, &on_post), Verdict::Forbidden);
    }
}
