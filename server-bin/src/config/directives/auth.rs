//! mod_authz_core's `Require` lines (`all`, `method`, `expr`) and its
//! containers `<RequireAny>`, `<RequireAll>` and `<RequireNone>`, with the
//! rules of mod_authz_host (`ip`, `local`, `env`), the user rules of
//! mod_authz_user (`valid-user`, `user`) and mod_authz_groupfile
//! (`group`); and how a user is authenticated: `AuthType Basic|None`,
//! `AuthName`, `AuthBasicProvider file`, `AuthUserFile`, `AuthGroupFile`,
//! and `AuthMerging Off|And|Or` (each a per-directory setting, in sections and in `.htaccess` under
//! `AllowOverride AuthConfig`).
//!
//! Apache's checks at load time are kept: a negated rule (`Require not`,
//! `<RequireNone>`) cannot stand where any one child is enough (a block's
//! own `Require` lines, `<RequireAny>`, `<RequireNone>`): there, it could
//! never change the answer; a container must hold at least one rule, and a
//! `<RequireAll>` at least one that is not negated.
//!
//! Core's `<Limit GET POST …>` and `<LimitExcept …>` sections (in
//! sections, in `.htaccess` under `AllowOverride Limit` or `AuthConfig`,
//! and inside the containers) make the `Require` lines they hold judge
//! only the methods they let through (`HEAD` goes with `GET`); nested,
//! they narrow each other. For another method such a line has no say
//! (`Require::Limited`). Other directives inside them apply to every
//! method, as in Apache, and the sections and server-wide directives
//! Apache refuses there are refused with its words.

use std::ffi::{OsStr, OsString};

use mpm_site::auth::{AuthMerging, AuthType};
use mpm_site::config::{Origin, Require};
use mpm_site::require::{parse_method, MethodLimit};

use super::state::{Allowed, Directive, Scope, State};
use super::text_args;
use crate::config::error::ConfigError;
use crate::config::lexer::Node;
use crate::config::values::{expr_rule, one_arg, parse_require, Res};

/// The authorization directives.
pub(super) fn directive(l: &mut State<'_>, d: &Directive<'_>) -> Option<Res<()>> {
    Some(match d.lower {
        "require" => l.allow(d.name, Allowed::Section, d.scope).and_then(|()| {
            let rule = limited(
                require_line(d.args, d.rest, Container::Any)?,
                l.limited.as_ref(),
            );
            add_to_block(&mut l.dir_config(d.scope).require, rule);
            Ok(())
        }),
        "authtype" => setting(l, d, |l, d| {
            let kind = match one_arg(d.name, d.args)?.to_ascii_lowercase().as_str() {
                "basic" => AuthType::Basic,
                "none" => AuthType::None,
                other => {
                    return Err(format!(
                        "AuthType {other}: mpmd authenticates with Basic only (mod_auth_basic); \
                         use AuthType Basic, or AuthType None"
                    ))
                }
            };
            l.dir_config(d.scope).auth.auth_type = Some(kind);
            Ok(())
        }),
        "authname" => setting(l, d, |l, d| {
            let name = one_arg(d.name, d.args)?;
            if name.chars().any(|c| c.is_control()) {
                return Err("AuthName: a realm cannot hold control characters".into());
            }
            l.dir_config(d.scope).auth.name = Some(name.to_string());
            Ok(())
        }),
        "authbasicprovider" => setting(l, d, |_, d| {
            match d.args {
                [] => Err("AuthBasicProvider needs a provider: file".into()),
                args if args.iter().all(|a| a.eq_ignore_ascii_case("file")) => Ok(()),
                args => Err(format!(
                    "AuthBasicProvider {}: mpmd has the file provider only (mod_authn_file, AuthUserFile)",
                    args.join(" ")
                )),
            }
        }),
        "authuserfile" => setting(l, d, |l, d| {
            one_arg(d.name, d.args)?;
            let path = l.path(&d.raw[0]);
            l.dir_config(d.scope).auth.user_file = Some(path);
            Ok(())
        }),
        "authgroupfile" => setting(l, d, |l, d| {
            one_arg(d.name, d.args)?;
            let path = l.path(&d.raw[0]);
            l.dir_config(d.scope).auth.group_file = Some(path);
            Ok(())
        }),
        "authmerging" => setting(l, d, |l, d| {
            let merging = match one_arg(d.name, d.args)?.to_ascii_lowercase().as_str() {
                "off" => AuthMerging::Off,
                "and" => AuthMerging::And,
                "or" => AuthMerging::Or,
                _ => return Err("AuthMerging takes Off, And or Or".into()),
            };
            l.dir_config(d.scope).auth.merging = Some(merging);
            Ok(())
        }),
        _ => return None,
    })
}

/// A per-directory authentication setting: allowed where `Require` is
/// (a section or `.htaccess`), then `apply`.
fn setting(
    l: &mut State<'_>,
    d: &Directive<'_>,
    apply: impl FnOnce(&mut State<'_>, &Directive<'_>) -> Res<()>,
) -> Res<()> {
    l.allow(d.name, Allowed::Section, d.scope)?;
    apply(l, d)
}

/// A `<RequireAny|All|None>` section (`kind`) met in `scope`, its rule
/// read by [`container`]: the rule joins the block's `Require`.
pub(super) fn section(
    l: &mut State<'_>,
    kind: Container,
    scope: Scope,
    origin: &Origin,
    rule: Require,
) -> Result<(), ConfigError> {
    l.allow(kind.name(), Allowed::Section, scope)
        .map_err(|message| ConfigError::at(origin, message))?;
    add_to_block(&mut l.dir_config(scope).require, rule);
    Ok(())
}

/// A container of `Require` rules; a block's own lines are an implicit
/// `<RequireAny>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Container {
    /// `<RequireAny>`, and a block's own `Require` lines.
    Any,
    /// `<RequireAll>`.
    All,
    /// `<RequireNone>`.
    None,
}

impl Container {
    /// The container a section name (lower case) opens.
    pub(super) fn of(lower_name: &str) -> Option<Container> {
        match lower_name {
            "requireany" => Some(Container::Any),
            "requireall" => Some(Container::All),
            "requirenone" => Some(Container::None),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Container::Any => "<RequireAny>",
            Container::All => "<RequireAll>",
            Container::None => "<RequireNone>",
        }
    }

    /// Whether one child decides (any of them): a negated child cannot.
    fn any_child_decides(self) -> bool {
        self != Container::All
    }
}

/// Whether `rule` only ever refuses (a negation).
fn is_negated(rule: &Require) -> bool {
    matches!(rule, Require::Not(_) | Require::NoneOf(_))
}

/// One `Require` line's arguments, in `parent`: `all granted|denied`,
/// `local`, `ip …`, `method …`, `env …`, `expr …`, `valid-user`,
/// `user NAME…`, `group NAME…`, or `not` before any of them. `line` is
/// the line after `Require` as written: an expression is the rest of it,
/// quotes kept, without double quotes around the whole (Apache's raw
/// `provider_args`), so `Require expr %{QUERY_STRING} == 'a b'` reads as
/// in Apache.
pub(super) fn require_line(args: &[String], line: &OsStr, parent: Container) -> Res<Require> {
    let (negated, rest) = match args.split_first() {
        Some((not, rest)) if not.eq_ignore_ascii_case("not") => (true, rest),
        _ => (false, args),
    };
    let rule = match rest.split_first() {
        Some((first, _)) if first.eq_ignore_ascii_case("expr") => {
            let line = line.to_string_lossy();
            let mut text = skip_word(&line);
            if negated {
                text = skip_word(text);
            }
            let text = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                Some(inner) => inner,
                None => text,
            };
            expr_rule(text)?
        }
        None => return Err("Require needs a rule, e.g. Require all granted".into()),
        Some((first, _)) if first.eq_ignore_ascii_case("not") => {
            return Err("Require not not …: a rule can be negated once".into())
        }
        Some((first, [])) if first.eq_ignore_ascii_case("valid-user") => Require::ValidUser,
        Some((first, []))
            if first.eq_ignore_ascii_case("user") || first.eq_ignore_ascii_case("group") =>
        {
            return Err(format!("Require {first} needs at least one name"))
        }
        Some((first, names)) if first.eq_ignore_ascii_case("user") => Require::User(names.to_vec()),
        Some((first, names)) if first.eq_ignore_ascii_case("group") => {
            Require::Group(names.to_vec())
        }
        Some(_) => parse_require(rest)?,
    };
    if !negated {
        return Ok(rule);
    }
    if parent.any_child_decides() {
        return Err(format!(
            "negative Require directive has no effect in {} directive (write it in a <RequireAll>, beside a rule that grants)",
            parent.name()
        ));
    }
    Ok(Require::Not(Box::new(rule)))
}

/// `rule` as written inside the `<Limit>`/`<LimitExcept>` sections
/// that let `limit` through (none: as it is).
fn limited(rule: Require, limit: Option<&MethodLimit>) -> Require {
    match limit {
        Some(limit) => Require::Limited(limit.clone(), Box::new(rule)),
        None => rule,
    }
}

/// The methods a `<Limit …>` (`except` false) or `<LimitExcept …>`
/// section naming `methods` lets through, inside sections that let
/// `outer` through; `htaccess` when read from a `.htaccess` file, where a
/// method Apache does not know cannot be added. Apache's checks: `TRACE`
/// belongs to `TraceEnable`, and a section must narrow what it is in
/// without leaving nothing.
pub(super) fn limit_section(
    except: bool,
    methods: &[String],
    outer: Option<&MethodLimit>,
    htaccess: bool,
) -> Res<MethodLimit> {
    let name = if except { "<LimitExcept>" } else { "<Limit>" };
    if methods.is_empty() {
        return Err(format!("{name} directive requires additional arguments"));
    }
    let mut list = Vec::new();
    for word in methods {
        let method = match parse_method(word) {
            Some(known) => known,
            None if htaccess => {
                return Err(format!(
                    "Could not register method '{word}' for {name} from .htaccess configuration"
                ))
            }
            None => http::Method::from_bytes(word.as_bytes())
                .map_err(|_| format!("{name}: {word:?} is not a method name"))?,
        };
        if method == http::Method::TRACE && !except {
            return Err("TRACE cannot be controlled by <Limit>, see TraceEnable".into());
        }
        if !list.contains(&method) {
            list.push(method);
        }
    }
    let own = if except {
        MethodLimit::AllBut(list)
    } else {
        MethodLimit::Only(list)
    };
    let narrowed = match outer {
        Some(outer) => outer.and(&own),
        None => own,
    };
    if narrowed.is_empty() {
        return Err(format!("{name} directive excludes all methods"));
    }
    if outer.is_some_and(|outer| outer.same_as(&narrowed)) {
        return Err(format!(
            "{name} directive specifies methods already excluded"
        ));
    }
    Ok(narrowed)
}

/// Whether a section named `lower` is `<Limit>` (false) or
/// `<LimitExcept>` (true).
pub(super) fn limit_kind(lower: &str) -> Option<bool> {
    match lower {
        "limit" => Some(false),
        "limitexcept" => Some(true),
        _ => None,
    }
}

/// `text` after its first word and the blanks that follow it.
fn skip_word(text: &str) -> &str {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    text[end..].trim_start()
}

/// The rule of a `<RequireAny|All|None>` section in `parent`, from its
/// children: `Require` lines, nested containers and `<Limit>` sections
/// around them. `limit` is what the `<Limit>` sections it is in let
/// through; `htaccess` when read from a `.htaccess` file; `expand` is the
/// walker's `${VAR}` expansion.
pub(super) fn container(
    kind: Container,
    parent: Container,
    origin: &Origin,
    children: &[Node],
    limit: Option<&MethodLimit>,
    htaccess: bool,
    expand: &mut dyn FnMut(&OsStr, &Origin) -> OsString,
) -> Result<Require, ConfigError> {
    if kind == Container::None && parent.any_child_decides() {
        return Err(ConfigError::at(
            origin,
            format!(
                "<RequireNone> directive has no effect in {} directive (write it in a <RequireAll>, beside a rule that grants)",
                parent.name()
            ),
        ));
    }
    let mut rules = Vec::new();
    children_of(kind, children, limit, htaccess, expand, &mut rules)?;
    if rules.is_empty() {
        return Err(ConfigError::at(
            origin,
            format!(
                "{} directive contains no authorization directives",
                kind.name()
            ),
        ));
    }
    if kind == Container::All && rules.iter().all(is_negated) {
        return Err(ConfigError::at(
            origin,
            "<RequireAll> directive contains only negative authorization directives (add a rule that grants, e.g. Require valid-user)".into(),
        ));
    }
    Ok(match kind {
        Container::Any => Require::Any(rules),
        Container::All => Require::All(rules),
        Container::None => Require::NoneOf(rules),
    })
}

/// The rules of a container of `kind` written in `children` (or in a
/// `<Limit>` section inside it, which narrows `limit`), added to `rules`.
fn children_of(
    kind: Container,
    children: &[Node],
    limit: Option<&MethodLimit>,
    htaccess: bool,
    expand: &mut dyn FnMut(&OsStr, &Origin) -> OsString,
    rules: &mut Vec<Require>,
) -> Result<(), ConfigError> {
    let holds_only = |what: String| {
        format!(
            "{what} cannot occur within {}; it holds only Require lines, <RequireAny>, <RequireAll>, <RequireNone> and <Limit>",
            kind.name()
        )
    };
    for child in children {
        match child {
            Node::Directive {
                name,
                args,
                rest,
                origin,
            } if name.eq_ignore_ascii_case("require") => {
                let raw: Vec<OsString> = args.iter().map(|a| expand(a, origin)).collect();
                let args = text_args(name, &raw).map_err(|m| ConfigError::at(origin, m))?;
                let rest = expand(rest, origin);
                let rule =
                    require_line(&args, &rest, kind).map_err(|m| ConfigError::at(origin, m))?;
                rules.push(limited(rule, limit));
            }
            Node::Section {
                name,
                args,
                origin,
                children,
            } => {
                let lower = name.to_ascii_lowercase();
                if let Some(inner) = Container::of(&lower) {
                    rules.push(container(
                        inner, kind, origin, children, limit, htaccess, expand,
                    )?);
                } else if let Some(except) = limit_kind(&lower) {
                    let raw: Vec<OsString> = args.iter().map(|a| expand(a, origin)).collect();
                    let methods = text_args(name, &raw).map_err(|m| ConfigError::at(origin, m))?;
                    let narrowed = limit_section(except, &methods, limit, htaccess)
                        .map_err(|m| ConfigError::at(origin, m))?;
                    children_of(kind, children, Some(&narrowed), htaccess, expand, rules)?;
                } else {
                    return Err(ConfigError::at(origin, holds_only(format!("<{name}>"))));
                }
            }
            Node::Directive { name, origin, .. } => {
                return Err(ConfigError::at(origin, holds_only(name.to_string())))
            }
        }
    }
    Ok(())
}

/// Add `rule` to a section's `Require` (an implicit `<RequireAny>` of its
/// lines and containers).
fn add_to_block(slot: &mut Option<Require>, rule: Require) {
    *slot = Some(match slot.take() {
        None => rule,
        Some(Require::Any(mut list)) => {
            list.push(rule);
            Require::Any(list)
        }
        Some(first) => Require::Any(vec![first, rule]),
    });
}
