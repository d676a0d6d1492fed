//! The common subset of Apache's expression language (ap_expr), as
//! `<If>`/`<ElseIf>`, `Header … expr=`, `RewriteCond expr` and
//! `Require expr` use it.
//!
//! An [`Expr`] is compiled once, when the configuration is read
//! ([`Expr::parse`], errors name the position), and evaluated per
//! request against a [`RequestVars`], the same trait the rewrite engine
//! reads ([`crate::vars`]).
//!
//! ```
//! use mpm_site::expr::Expr;
//!
//! let e = Expr::parse("%{HTTP_HOST} == 'www.example.org' && %{REQUEST_URI} =~ m#^/old/#")?;
//! # Ok::<(), mpm_site::expr::ExprError>(())
//! ```
//!
//! ## What is understood
//!
//! - values: `'single'` or `"double"` quoted strings (with `%{VAR}` and
//!   `$0`…`$9` inside), digits, `%{VAR}`, `%{func:arg}` (`%{HTTP:Host}`,
//!   `%{ENV:x}`), `$0`…`$9` (the groups of the last `=~` that matched),
//!   functions `tolower toupper escape unescape req http req_novary resp
//!   env osenv` with one argument, and `a . b` to join two values;
//! - comparisons: `==` (also `=`), `!=`, `<`, `<=`, `>`, `>=` (strings,
//!   byte-wise), `-eq -ne -lt -le -gt -ge` (integers; a value that is
//!   not one makes the comparison false), `=~ /re/` and `!~ /re/` (also
//!   `m#re#`, `i` after it for case-insensitive; PCRE syntax, see
//!   [`crate::pcre`]), `-ipmatch 'net/len'`, `-strmatch`/`-strcmatch`
//!   (glob, case-sensitive / not), `-fnmatch` (glob where `*` does not
//!   cross `/`), `in { 'a', 'b' }`;
//! - tests: `-f -d -s -e -l -L -h -x` on a file, `-F` and `-U` (a
//!   sub-request would succeed), `-n -z` (non-empty / empty), `-T`
//!   (true unless empty, `0`, `off`, `false` or `no`), `-R 'net'` (the
//!   client's address is in a network), and `-A` (= `-U`);
//! - `true`, `false`, `!`, `&&`, `||`, parentheses; `!` binds tighter
//!   than `&&`, which binds tighter than `||`.
//!
//! A variable name Apache does not know is refused at parse time, as is
//! an unknown function or operator.
//!
//! An [`Expr`] is a [`Condition`](crate::pipeline::Condition) of the
//! request pipeline: `<If>` sections can hold one.

mod condition;
mod parse;

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use regex::Regex;

pub use crate::vars::FileFacts;
use crate::vars::{self, RequestVars};

/// A compiled condition.
#[derive(Debug, Clone)]
pub struct Expr {
    cond: Cond,
    source: String,
}

/// A compiled string expression: text with `%{VAR}` and `%{func:arg}`
/// interpolated (the value side of `Header set … "expr=…"`-like uses).
#[derive(Debug, Clone)]
pub struct StringExpr {
    parts: Vec<Part>,
}

/// Why an expression could not be compiled, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// The byte offset in the expression's text.
    pub position: usize,
    /// What is wrong there.
    pub message: String,
}

impl ExprError {
    fn at(position: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.position + 1, self.message)
    }
}

impl std::error::Error for ExprError {}

impl Expr {
    /// Compiles `text` (regexes included), or says what is wrong where.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        Ok(Expr {
            cond: parse::parse_cond(text)?,
            source: text.to_string(),
        })
    }

    /// The text it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the condition holds, and the request headers its answer
    /// depended on, in the order read: what Apache adds to the
    /// response's `Vary` when it evaluates an expression (`Require expr`).
    pub fn eval_noting_vary(&self, vars: &dyn RequestVars) -> (bool, Vec<String>) {
        let mut state = State::default();
        let holds = self.cond.eval(vars, &mut state);
        (holds, state.vary.into_inner())
    }

    /// Whether the expression reads the variable `%{name}` (any case),
    /// as `Require expr` asks of `REMOTE_USER`.
    pub fn reads_var(&self, name: &str) -> bool {
        self.cond.reads_var(name)
    }

    /// Whether the condition holds for the request `vars` describes.
    pub fn eval(&self, vars: &dyn RequestVars) -> bool {
        let mut state = State::default();
        self.cond.eval(vars, &mut state)
    }

    /// [`eval`](Self::eval), giving the groups of the last `=~` that
    /// matched when the condition holds: a [`StringExpr`] evaluated with
    /// them ([`StringExpr::eval_with`]) reads them as `$0`…`$9`, as
    /// `ProxyFCGISetEnvIf`'s value reads its condition's.
    pub fn eval_captures(&self, vars: &dyn RequestVars) -> Option<Captures> {
        let mut state = State::default();
        self.cond.eval(vars, &mut state).then_some(Captures(state))
    }
}

/// The groups of a condition's last `=~` match ([`Expr::eval_captures`]).
pub struct Captures(State);

impl StringExpr {
    /// Compiles `text`, or says what is wrong where.
    pub fn parse(text: &str) -> Result<StringExpr, ExprError> {
        Ok(StringExpr {
            parts: parse::parse_string(text)?,
        })
    }

    /// The text with its variables filled in from `vars`.
    pub fn eval(&self, vars: &dyn RequestVars) -> String {
        self.eval_in(vars, &State::default())
    }

    /// [`eval`](Self::eval), with `$0`…`$9` the groups of `captures`.
    pub fn eval_with(&self, vars: &dyn RequestVars, captures: &Captures) -> String {
        self.eval_in(vars, &captures.0)
    }

    fn eval_in(&self, vars: &dyn RequestVars, state: &State) -> String {
        let mut out = String::new();
        for p in &self.parts {
            out.push_str(&p.eval(vars, state));
        }
        out
    }
}

/// A condition's tree.
#[derive(Debug, Clone)]
enum Cond {
    True,
    False,
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Unary(UnOp, Word),
    Binary(Word, BinOp, Word),
    Regex(Word, Box<Regex>, bool),
    In(Word, Vec<Word>),
}

/// A value's tree.
#[derive(Debug, Clone)]
enum Word {
    Str(Vec<Part>),
    Func(Func, Box<Word>),
    Concat(Box<Word>, Box<Word>),
}

/// A piece of a string.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(VarRef),
    Backref(u8),
}

/// `%{NAME}` or `%{func:arg}`.
#[derive(Debug, Clone, PartialEq)]
enum VarRef {
    Name(String),
    Func(Func, String),
}

/// The functions taking one string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    ToLower,
    ToUpper,
    Escape,
    Unescape,
    Req,
    ReqNoVary,
    Resp,
    Env,
    OsEnv,
}

impl Func {
    fn by_name(name: &str) -> Option<Func> {
        Some(match name.to_ascii_lowercase().as_str() {
            "tolower" => Func::ToLower,
            "toupper" => Func::ToUpper,
            "escape" => Func::Escape,
            "unescape" => Func::Unescape,
            "req" | "http" => Func::Req,
            "req_novary" => Func::ReqNoVary,
            "resp" => Func::Resp,
            "env" | "reqenv" => Func::Env,
            "osenv" => Func::OsEnv,
            _ => return None,
        })
    }

    fn apply<'a>(self, vars: &'a dyn RequestVars, arg: &str) -> Cow<'a, str> {
        let or_empty = |v: Option<Cow<'a, str>>| v.unwrap_or(Cow::Borrowed(""));
        match self {
            Func::ToLower => Cow::Owned(arg.to_lowercase()),
            Func::ToUpper => Cow::Owned(arg.to_uppercase()),
            Func::Escape => Cow::Owned(vars::escape_path(arg)),
            Func::Unescape => Cow::Owned(vars::unescape(arg)),
            Func::Req | Func::ReqNoVary => or_empty(vars.header(arg)),
            Func::Resp => or_empty(vars.resp_header(arg)),
            Func::Env => or_empty(vars.env(arg)),
            Func::OsEnv => Cow::Owned(std::env::var(arg).unwrap_or_default()),
        }
    }
}

/// The tests on one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnOp {
    File,
    Dir,
    NonEmptyFile,
    Exists,
    Symlink,
    Executable,
    SubreqFile,
    SubreqUrl,
    NonEmpty,
    Empty,
    Truthy,
    RemoteIn,
}

impl UnOp {
    fn from_letter(name: &str) -> Option<UnOp> {
        Some(match name {
            "f" => UnOp::File,
            "d" => UnOp::Dir,
            "s" => UnOp::NonEmptyFile,
            "e" => UnOp::Exists,
            "l" | "L" | "h" => UnOp::Symlink,
            "x" => UnOp::Executable,
            "F" => UnOp::SubreqFile,
            "U" | "A" => UnOp::SubreqUrl,
            "n" => UnOp::NonEmpty,
            "z" => UnOp::Empty,
            "T" => UnOp::Truthy,
            "R" => UnOp::RemoteIn,
            _ => return None,
        })
    }

    fn letter(self) -> char {
        match self {
            UnOp::File => 'f',
            UnOp::Dir => 'd',
            UnOp::NonEmptyFile => 's',
            UnOp::Exists => 'e',
            UnOp::Symlink => 'l',
            UnOp::Executable => 'x',
            UnOp::SubreqFile => 'F',
            UnOp::SubreqUrl => 'U',
            UnOp::NonEmpty => 'n',
            UnOp::Empty => 'z',
            UnOp::Truthy => 'T',
            UnOp::RemoteIn => 'R',
        }
    }
}

/// The comparisons of two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    StrEq,
    StrNe,
    StrLt,
    StrLe,
    StrGt,
    StrGe,
    IntEq,
    IntNe,
    IntLt,
    IntLe,
    IntGt,
    IntGe,
    IpMatch,
    StrMatch,
    StrCMatch,
    FnMatch,
    In,
}

impl BinOp {
    fn from_dash_name(name: &str) -> Option<BinOp> {
        Some(match name {
            "eq" => BinOp::IntEq,
            "ne" => BinOp::IntNe,
            "lt" => BinOp::IntLt,
            "le" => BinOp::IntLe,
            "gt" => BinOp::IntGt,
            "ge" => BinOp::IntGe,
            "ipmatch" => BinOp::IpMatch,
            "strmatch" => BinOp::StrMatch,
            "strcmatch" => BinOp::StrCMatch,
            "fnmatch" => BinOp::FnMatch,
            "in" => BinOp::In,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            BinOp::StrEq => "==",
            BinOp::StrNe => "!=",
            BinOp::StrLt => "<",
            BinOp::StrLe => "<=",
            BinOp::StrGt => ">",
            BinOp::StrGe => ">=",
            BinOp::IntEq => "-eq",
            BinOp::IntNe => "-ne",
            BinOp::IntLt => "-lt",
            BinOp::IntLe => "-le",
            BinOp::IntGt => "-gt",
            BinOp::IntGe => "-ge",
            BinOp::IpMatch => "-ipmatch",
            BinOp::StrMatch => "-strmatch",
            BinOp::StrCMatch => "-strcmatch",
            BinOp::FnMatch => "-fnmatch",
            BinOp::In => "in",
        }
    }
}

/// What an evaluation carries along: the groups of the last `=~` that
/// matched, for `$0`…`$9`, and the request headers read that the answer
/// varies on.
#[derive(Default)]
struct State {
    groups: Vec<Option<String>>,
    vary: std::cell::RefCell<Vec<String>>,
}

impl State {
    /// Note that the answer depends on request header `name` (Apache's
    /// `add_vary`: `req()`, `http()`, `%{HTTP:…}` and the `HTTP_*`
    /// variables it knows; not `req_novary()`).
    fn vary_on(&self, name: &str) {
        note_header(&mut self.vary.borrow_mut(), name);
    }
}

/// Add the request header `name` to `list` unless it is there in any
/// case: the headers an answer read, each once, for `Vary`.
pub(crate) fn note_header(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|v| v.eq_ignore_ascii_case(name)) {
        list.push(name.to_string());
    }
}

/// The header behind each `HTTP_*` variable Apache's expressions know.
pub(crate) const HEADER_VARS: &[(&str, &str)] = &[
    ("HTTP_USER_AGENT", "User-Agent"),
    ("HTTP_PROXY_CONNECTION", "Proxy-Connection"),
    ("HTTP_REFERER", "Referer"),
    ("HTTP_COOKIE", "Cookie"),
    ("HTTP_FORWARDED", "Forwarded"),
    ("HTTP_HOST", "Host"),
    ("HTTP_ACCEPT", "Accept"),
];

impl Cond {
    fn eval(&self, vars: &dyn RequestVars, st: &mut State) -> bool {
        match self {
            Cond::True => true,
            Cond::False => false,
            Cond::Not(c) => !c.eval(vars, st),
            Cond::And(a, b) => a.eval(vars, st) && b.eval(vars, st),
            Cond::Or(a, b) => a.eval(vars, st) || b.eval(vars, st),
            Cond::Unary(op, w) => {
                let v = w.eval(vars, st);
                unary(*op, &v, vars)
            }
            Cond::Binary(a, op, b) => {
                let l = a.eval(vars, st);
                let r = b.eval(vars, st);
                binary(*op, &l, &r)
            }
            Cond::Regex(w, re, negate) => {
                let v = w.eval(vars, st);
                match re.captures(&v) {
                    Some(caps) => {
                        st.groups = caps
                            .iter()
                            .map(|m| m.map(|m| m.as_str().to_string()))
                            .collect();
                        !negate
                    }
                    None => *negate,
                }
            }
            Cond::In(w, list) => {
                let v = w.eval(vars, st);
                list.iter().any(|item| item.eval(vars, st) == v)
            }
        }
    }
}

impl Cond {
    fn reads_var(&self, name: &str) -> bool {
        match self {
            Cond::True | Cond::False => false,
            Cond::Not(c) => c.reads_var(name),
            Cond::And(a, b) | Cond::Or(a, b) => a.reads_var(name) || b.reads_var(name),
            Cond::Unary(_, w) | Cond::Regex(w, _, _) => w.reads_var(name),
            Cond::Binary(a, _, b) => a.reads_var(name) || b.reads_var(name),
            Cond::In(w, list) => w.reads_var(name) || list.iter().any(|i| i.reads_var(name)),
        }
    }
}

impl Word {
    fn reads_var(&self, name: &str) -> bool {
        match self {
            Word::Str(parts) => parts
                .iter()
                .any(|p| matches!(p, Part::Var(VarRef::Name(n)) if n.eq_ignore_ascii_case(name))),
            Word::Func(_, arg) => arg.reads_var(name),
            Word::Concat(a, b) => a.reads_var(name) || b.reads_var(name),
        }
    }

    fn eval<'a>(&self, vars: &'a dyn RequestVars, st: &State) -> Cow<'a, str> {
        match self {
            Word::Str(parts) if parts.len() == 1 => parts[0].eval(vars, st),
            Word::Str(parts) => {
                let mut s = String::new();
                for p in parts {
                    s.push_str(&p.eval(vars, st));
                }
                Cow::Owned(s)
            }
            Word::Func(f, arg) => {
                let a = arg.eval(vars, st);
                if *f == Func::Req {
                    st.vary_on(&a);
                }
                f.apply(vars, &a)
            }
            Word::Concat(a, b) => {
                let mut s = a.eval(vars, st).into_owned();
                s.push_str(&b.eval(vars, st));
                Cow::Owned(s)
            }
        }
    }
}

impl Part {
    fn eval<'a>(&self, vars: &'a dyn RequestVars, st: &State) -> Cow<'a, str> {
        match self {
            Part::Lit(s) => Cow::Owned(s.clone()),
            Part::Var(VarRef::Name(n)) => {
                if let Some((_, header)) =
                    HEADER_VARS.iter().find(|(v, _)| v.eq_ignore_ascii_case(n))
                {
                    st.vary_on(header);
                }
                vars::lookup(vars, n)
            }
            Part::Var(VarRef::Func(f, arg)) => {
                if *f == Func::Req {
                    st.vary_on(arg);
                }
                f.apply(vars, arg)
            }
            Part::Backref(n) => Cow::Owned(
                st.groups
                    .get(usize::from(*n))
                    .cloned()
                    .flatten()
                    .unwrap_or_default(),
            ),
        }
    }
}

fn unary(op: UnOp, v: &str, vars: &dyn RequestVars) -> bool {
    let file = || if v.is_empty() { None } else { vars.file(v) };
    match op {
        UnOp::File => file().is_some_and(|f| f.is_file),
        UnOp::Dir => file().is_some_and(|f| f.is_dir),
        UnOp::NonEmptyFile => file().is_some_and(|f| f.is_file && f.size > 0),
        UnOp::Exists => file().is_some(),
        UnOp::Symlink => file().is_some_and(|f| f.is_symlink),
        UnOp::Executable => file().is_some_and(|f| f.is_executable),
        UnOp::SubreqFile => !v.is_empty() && vars.subrequest_ok(v, false),
        UnOp::SubreqUrl => !v.is_empty() && vars.subrequest_ok(v, true),
        UnOp::NonEmpty => !v.is_empty(),
        UnOp::Empty => v.is_empty(),
        UnOp::Truthy => {
            !(v.is_empty()
                || v == "0"
                || v.eq_ignore_ascii_case("off")
                || v.eq_ignore_ascii_case("false")
                || v.eq_ignore_ascii_case("no"))
        }
        UnOp::RemoteIn => {
            let addr = vars::lookup(vars, "REMOTE_ADDR");
            ip_match(&addr, v)
        }
    }
}

fn binary(op: BinOp, l: &str, r: &str) -> bool {
    let ints = || Some((l.trim().parse::<i64>().ok()?, r.trim().parse::<i64>().ok()?));
    match op {
        BinOp::StrEq | BinOp::In => l == r,
        BinOp::StrNe => l != r,
        BinOp::StrLt => l < r,
        BinOp::StrLe => l <= r,
        BinOp::StrGt => l > r,
        BinOp::StrGe => l >= r,
        BinOp::IntEq => ints().is_some_and(|(a, b)| a == b),
        BinOp::IntNe => ints().is_some_and(|(a, b)| a != b),
        BinOp::IntLt => ints().is_some_and(|(a, b)| a < b),
        BinOp::IntLe => ints().is_some_and(|(a, b)| a <= b),
        BinOp::IntGt => ints().is_some_and(|(a, b)| a > b),
        BinOp::IntGe => ints().is_some_and(|(a, b)| a >= b),
        BinOp::IpMatch => ip_match(l, r),
        BinOp::StrMatch => glob(l.as_bytes(), r.as_bytes(), false, false),
        BinOp::StrCMatch => glob(l.as_bytes(), r.as_bytes(), true, false),
        BinOp::FnMatch => glob(l.as_bytes(), r.as_bytes(), false, true),
    }
}

/// Whether the address `addr` is in the network `net` (`10.0.0.0/8`,
/// `10.1` for `10.1.0.0/16`, `::1`, `2001:db8::/32`). Anything that is
/// not an address or a network does not match.
pub fn ip_match(addr: &str, net: &str) -> bool {
    let Ok(addr) = addr.trim().parse::<IpAddr>() else {
        return false;
    };
    parse_net(net.trim()).is_some_and(|n| n.contains(addr))
}

fn parse_net(text: &str) -> Option<crate::IpNet> {
    let (host, prefix) = match text.split_once('/') {
        Some((h, p)) => (h, Some(p.parse::<u8>().ok()?)),
        None => (text, None),
    };
    if let Ok(addr) = host.parse::<IpAddr>() {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        return (prefix <= max).then_some(crate::IpNet { addr, prefix });
    }
    // A partial IPv4 address (`10.1`) stands for its network.
    let octets: Vec<u8> = host
        .split('.')
        .map(|o| o.parse().ok())
        .collect::<Option<_>>()?;
    if octets.is_empty() || octets.len() > 4 || prefix.is_some() {
        return None;
    }
    let mut full = [0u8; 4];
    full[..octets.len()].copy_from_slice(&octets);
    Some(crate::IpNet {
        addr: IpAddr::from(full),
        prefix: 8 * octets.len() as u8,
    })
}

/// Shell-style matching of `text` against `pat` (`*`, `?`, `[a-z]`,
/// `[!x]`, `\x`); with `path`, `*` and `?` do not match `/`. Linear in
/// practice: one star remembered at a time.
fn glob(text: &[u8], pat: &[u8], nocase: bool, path: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let mut advanced = false;
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' if !(path && text[t] == b'/') => {
                    p += 1;
                    t += 1;
                    advanced = true;
                }
                b'[' => {
                    if let Some((hit, next)) = class(&pat[p..], text[t], nocase) {
                        if hit {
                            p += next;
                            t += 1;
                            advanced = true;
                        }
                    } else if text[t] == b'[' {
                        p += 1;
                        t += 1;
                        advanced = true;
                    }
                }
                b'\\' if p + 1 < pat.len() => {
                    if eq(pat[p + 1], text[t]) {
                        p += 2;
                        t += 1;
                        advanced = true;
                    }
                }
                c => {
                    if eq(c, text[t]) {
                        p += 1;
                        t += 1;
                        advanced = true;
                    }
                }
            }
        }
        if advanced {
            continue;
        }
        match star {
            Some((sp, st)) if !(path && text[st] == b'/') => {
                star = Some((sp, st + 1));
                p = sp + 1;
                t = st + 1;
            }
            _ => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// A bracket class at the start of `pat` against `c`: whether it holds
/// `c`, and the class's length; `None` when the class is not closed.
fn class(pat: &[u8], c: u8, nocase: bool) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let c = if nocase { c.to_ascii_lowercase() } else { c };
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    let mut hit = false;
    let mut first = true;
    while i < pat.len() {
        if pat[i] == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        let lo = fold(pat[i]);
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&b| b != b']') {
            let hi = fold(pat[i + 2]);
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests;
