//! What a `<Directory>`, `<Location>` or `.htaccess` file says about the
//! environment a script gets ([`ScriptDir`]): core's `CGIPassAuth`, which
//! mod_cgi, mod_fcgid and mod_proxy_fcgi read when they build it, and
//! mod_proxy_fcgi's `ProxyFCGISetEnvIf`, the last word on what goes to
//! the FastCGI application ([`FcgiSetEnvIf`]).

use std::borrow::Cow;
use std::sync::Arc;

use http::HeaderMap;

use super::CgiEnv;
use crate::expr::{Expr, StringExpr};
use crate::vars::RequestVars;

/// The per-directory settings of the script handlers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptDir {
    /// `CGIPassAuth On|Off` (unset: Off): whether `Authorization` and
    /// `Proxy-Authorization` reach a script as `HTTP_AUTHORIZATION` and
    /// `HTTP_PROXY_AUTHORIZATION`.
    pub pass_auth: Option<bool>,
    /// `ProxyFCGISetEnvIf`, in order: a later section's come after an
    /// earlier one's (Apache appends them).
    pub fcgi_set_env: Vec<Arc<FcgiSetEnvIf>>,
}

impl ScriptDir {
    /// `over` laid on `self`: its `CGIPassAuth` when it has one, its
    /// `ProxyFCGISetEnvIf` rules after `self`'s.
    pub fn merge(&mut self, over: &ScriptDir) {
        if over.pass_auth.is_some() {
            self.pass_auth = over.pass_auth;
        }
        self.fcgi_set_env.extend(over.fcgi_set_env.iter().cloned());
    }

    /// Whether `CGIPassAuth` is On.
    pub fn pass_auth(&self) -> bool {
        self.pass_auth.unwrap_or(false)
    }

    /// Apply the `ProxyFCGISetEnvIf` rules to `env`, the environment about
    /// to go to the application, in order: each condition sees `env` as
    /// it is then (its variables as `%{NAME}` and `reqenv('NAME')`) and
    /// the request's header fields (`req('Name')`).
    pub fn apply_fcgi_set_env(&self, env: &mut CgiEnv, headers: &HeaderMap) {
        for rule in &self.fcgi_set_env {
            let vars = EnvVars { env, headers };
            let Some(captures) = rule.condition.eval_captures(&vars) else {
                continue;
            };
            match &rule.value {
                None => {
                    env.remove(&rule.name);
                }
                Some(value) => {
                    let value = value.eval_with(&vars, &captures);
                    env.set(&rule.name, value.as_bytes());
                }
            }
        }
    }
}

/// `ProxyFCGISetEnvIf condition [!]name [value]` (Apache 2.4.26+): when
/// the ap_expr `condition` holds, `name` is set to the string expression
/// `value` (in which `$1`… are the condition's last regex groups; empty
/// when not given), or removed for `!name`.
#[derive(Debug, Clone)]
pub struct FcgiSetEnvIf {
    /// When the rule applies.
    pub condition: Expr,
    /// The variable set or removed.
    pub name: String,
    /// Its new value; `None`: removed (`!name`).
    pub value: Option<StringExpr>,
    /// The arguments as written (two rules are the same when they are).
    source: String,
}

impl PartialEq for FcgiSetEnvIf {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for FcgiSetEnvIf {}

impl FcgiSetEnvIf {
    /// The rule of the directive's arguments, or what is wrong with them
    /// (the message names the directive).
    pub fn parse(condition: &str, name: &str, value: Option<&str>) -> Result<Self, String> {
        let source = format!("{condition:?} {name:?} {value:?}");
        let condition = Expr::parse(condition).map_err(|e| {
            format!("ProxyFCGISetEnvIf: could not parse expression \"{condition}\": {e}")
        })?;
        let (name, value) = match name.strip_prefix('!') {
            Some("") => return Err("ProxyFCGISetEnvIf: \"!\" is not a valid variable name".into()),
            Some(unset) => {
                if let Some(value) = value {
                    return Err(format!(
                        "ProxyFCGISetEnvIf: a value (\"{value}\") is not allowed when removing a variable (!{unset})"
                    ));
                }
                (unset, None)
            }
            None => {
                let text = value.unwrap_or("");
                let value = StringExpr::parse(text).map_err(|e| {
                    format!("ProxyFCGISetEnvIf: could not parse expression \"{text}\": {e}")
                })?;
                (name, Some(value))
            }
        };
        if name.is_empty() {
            return Err("ProxyFCGISetEnvIf takes a condition, a variable name and a value".into());
        }
        Ok(FcgiSetEnvIf {
            condition,
            name: name.to_string(),
            value,
            source,
        })
    }
}

/// The variables a `ProxyFCGISetEnvIf` expression reads: the environment
/// about to be sent (it holds every CGI variable, `PATH_INFO`,
/// `SCRIPT_FILENAME`, `REMOTE_ADDR`, … under the names Apache's
/// expressions give them) and the request's header fields.
struct EnvVars<'a> {
    env: &'a CgiEnv,
    headers: &'a HeaderMap,
}

impl RequestVars for EnvVars<'_> {
    fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        self.env.get(name).map(String::from_utf8_lossy)
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        crate::vars::header_text(self.headers, name)
    }

    fn env(&self, name: &str) -> Option<Cow<'_, str>> {
        self.var(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(c: &str, n: &str, v: Option<&str>) -> Arc<FcgiSetEnvIf> {
        Arc::new(FcgiSetEnvIf::parse(c, n, v).unwrap())
    }

    #[test]
    fn set_env_if_rules_set_with_the_conditions_groups_and_unset_in_order() {
        let mut env = CgiEnv::default();
        env.set("PATH_INFO", b"/foo42.php");
        env.set("HTTP_X_SECRET", b"s");
        let mut headers = HeaderMap::new();
        headers.insert("x-tag", "t1".parse().unwrap());
        let dir = ScriptDir {
            pass_auth: None,
            fcgi_set_env: vec![
                rule(
                    r"reqenv('PATH_INFO') =~ m#/foo(\d+)\.php$#",
                    "COVENV1",
                    Some("$1"),
                ),
                rule(
                    r"reqenv('PATH_INFO') =~ m#/foo(\d+)\.php$#",
                    "PATH_INFO",
                    Some("/foo.php"),
                ),
                rule("true", "!HTTP_X_SECRET", None),
                rule("req('X-Tag') == 't1'", "TAGGED", Some("%{PATH_INFO}-yes")),
                rule("false", "NEVER", Some("x")),
                rule("true", "EMPTY", None.or(Some(""))),
            ],
        };
        dir.apply_fcgi_set_env(&mut env, &headers);
        let get = |n: &str| env.get(n).map(|v| String::from_utf8_lossy(v).into_owned());
        assert_eq!(get("COVENV1").as_deref(), Some("42"));
        assert_eq!(get("PATH_INFO").as_deref(), Some("/foo.php"));
        assert_eq!(get("HTTP_X_SECRET"), None);
        assert_eq!(get("TAGGED").as_deref(), Some("/foo.php-yes"));
        assert_eq!(get("NEVER"), None);
        assert_eq!(get("EMPTY").as_deref(), Some(""));
    }

    #[test]
    fn a_bad_set_env_if_says_what_is_wrong() {
        let e = FcgiSetEnvIf::parse("%{NOPE} == 1", "A", Some("b")).unwrap_err();
        assert!(e.contains("could not parse expression"), "{e}");
        let e = FcgiSetEnvIf::parse("true", "!A", Some("b")).unwrap_err();
        assert!(e.contains("not allowed when removing"), "{e}");
        let e = FcgiSetEnvIf::parse("true", "!", None).unwrap_err();
        assert!(e.contains("not a valid variable name"), "{e}");
    }

    #[test]
    fn cgi_pass_auth_is_off_unless_a_section_turns_it_on_and_later_sections_win() {
        let mut dir = ScriptDir::default();
        assert!(!dir.pass_auth());
        dir.merge(&ScriptDir {
            pass_auth: Some(true),
            ..ScriptDir::default()
        });
        assert!(dir.pass_auth());
        dir.merge(&ScriptDir::default());
        assert!(dir.pass_auth(), "a section that says nothing keeps it");
        dir.merge(&ScriptDir {
            pass_auth: Some(false),
            ..ScriptDir::default()
        });
        assert!(!dir.pass_auth());
    }
}
