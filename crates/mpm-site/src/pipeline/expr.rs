//! The condition of an `<If>` / `<ElseIf>` section: a trait the
//! expression language (Apache's `ap_expr`) implements, so the sections
//! and their place in the merge do not depend on how expressions are
//! parsed.

use std::fmt::Debug;

use crate::pipeline::request::RequestState;

/// A parsed expression that says yes or no about a request (`<If>`,
/// `<ElseIf>`; `Header … expr=`). Two conditions are equal when their
/// texts are.
pub trait Condition: Send + Sync + Debug {
    /// Whether the expression holds for `r` (its variables read from the
    /// request, the environment and the file system). An error (a
    /// function that failed at request time) is logged by the caller and
    /// counts as false, as Apache does.
    fn evaluate(&self, r: &RequestState<'_>) -> Result<bool, String>;

    /// The expression as written, for messages and comparison.
    fn source(&self) -> &str;
}

impl PartialEq for dyn Condition {
    fn eq(&self, other: &dyn Condition) -> bool {
        self.source() == other.source()
    }
}

impl Eq for dyn Condition {}

/// Parse `text`, the expression of an `<If>` or `<ElseIf>` section, into a
/// [`Condition`]. This is the one place the configuration loader gets
/// expressions from: a fuller `ap_expr` implementation replaces this
/// function's body.
pub fn parse(text: &str) -> Result<std::sync::Arc<dyn Condition>, String> {
    let expr = simple::Simple::parse(text)?;
    Ok(std::sync::Arc::new(expr))
}

/// The common subset of Apache's expression syntax: `%{VAR}` and
/// `'strings'` (with `%{VAR}` inside), `req('Header')`, `http('Header')`,
/// `env('name')`; `==`, `!=`, `=~ /regex/[i]`, `!~`; `-f`, `-d`, `-s`
/// (files), `-z`, `-n` (strings); `&&`, `||`, `!`, parentheses, `true`,
/// `false`.
mod simple {
    use super::Condition;
    use crate::pipeline::request::RequestState;
    use crate::pipeline::section::Pattern;

    /// A parsed expression.
    #[derive(Debug)]
    pub struct Simple {
        source: String,
        root: Node,
    }

    #[derive(Debug)]
    enum Node {
        Bool(bool),
        Not(Box<Node>),
        And(Box<Node>, Box<Node>),
        Or(Box<Node>, Box<Node>),
        Compare(Word, bool, Word),
        Matches(Word, bool, Pattern),
        Test(char, Word),
    }

    #[derive(Debug, Clone)]
    enum Part {
        Text(String),
        Var(Var),
    }

    #[derive(Debug, Clone)]
    enum Var {
        Named(String),
        Header(http::HeaderName),
        Env(String),
    }

    #[derive(Debug, Clone)]
    struct Word(Vec<Part>);

    /// The variables `%{NAME}` may name (and any `HTTP_*` header).
    const NAMES: &[&str] = &[
        "REQUEST_URI",
        "REQUEST_METHOD",
        "REQUEST_SCHEME",
        "QUERY_STRING",
        "REQUEST_FILENAME",
        "SCRIPT_FILENAME",
        "PATH_INFO",
        "HTTPS",
        "REMOTE_ADDR",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "THE_REQUEST",
        "HANDLER",
        "CONTENT_TYPE",
        "REMOTE_USER",
        "AUTH_TYPE",
        "IPV6",
    ];

    struct Parser<'a> {
        text: &'a str,
        at: usize,
    }

    impl Simple {
        pub fn parse(text: &str) -> Result<Simple, String> {
            let mut p = Parser { text, at: 0 };
            let root = p.or()?;
            p.skip();
            if p.at < text.len() {
                return Err(p.error("unexpected text"));
            }
            Ok(Simple {
                source: text.to_string(),
                root,
            })
        }
    }

    impl Parser<'_> {
        fn rest(&self) -> &str {
            &self.text[self.at..]
        }

        fn skip(&mut self) {
            let trimmed = self.rest().trim_start();
            self.at = self.text.len() - trimmed.len();
        }

        fn error(&self, what: &str) -> String {
            format!(
                "Parse error in expression '{}' at character {}: {what}",
                self.text,
                self.at + 1
            )
        }

        fn eat(&mut self, token: &str) -> bool {
            self.skip();
            if self.rest().starts_with(token) {
                self.at += token.len();
                return true;
            }
            false
        }

        fn or(&mut self) -> Result<Node, String> {
            let mut left = self.and()?;
            while self.eat("||") {
                left = Node::Or(Box::new(left), Box::new(self.and()?));
            }
            Ok(left)
        }

        fn and(&mut self) -> Result<Node, String> {
            let mut left = self.unary()?;
            while self.eat("&&") {
                left = Node::And(Box::new(left), Box::new(self.unary()?));
            }
            Ok(left)
        }

        fn unary(&mut self) -> Result<Node, String> {
            self.skip();
            if self.rest().starts_with("!") && !self.rest().starts_with("!=") {
                self.at += 1;
                return Ok(Node::Not(Box::new(self.unary()?)));
            }
            if self.eat("(") {
                let inner = self.or()?;
                if !self.eat(")") {
                    return Err(self.error("')' expected"));
                }
                return Ok(inner);
            }
            for (word, value) in [("true", true), ("false", false)] {
                if self.rest().starts_with(word) {
                    self.at += word.len();
                    return Ok(Node::Bool(value));
                }
            }
            for test in ['f', 'd', 's', 'z', 'n'] {
                let op = format!("-{test}");
                if self.rest().starts_with(&op)
                    && self.rest()[op.len()..].starts_with(char::is_whitespace)
                {
                    self.at += op.len();
                    return Ok(Node::Test(test, self.word()?));
                }
            }
            let left = self.word()?;
            self.skip();
            for (op, negate) in [("=~", false), ("!~", true)] {
                if self.eat(op) {
                    return Ok(Node::Matches(left, negate, self.regex()?));
                }
            }
            for (op, negate) in [("==", false), ("!=", true), ("=", false)] {
                if self.eat(op) {
                    return Ok(Node::Compare(left, negate, self.word()?));
                }
            }
            Err(self.error("a comparison (==, !=, =~, !~) expected"))
        }

        fn regex(&mut self) -> Result<Pattern, String> {
            self.skip();
            let close = if self.rest().starts_with('m') {
                self.at += 1;
                let delimiter = self
                    .rest()
                    .chars()
                    .next()
                    .ok_or_else(|| self.error("regex expected"))?;
                self.at += delimiter.len_utf8();
                delimiter
            } else if self.rest().starts_with('/') {
                self.at += 1;
                '/'
            } else {
                return Err(self.error("a regular expression (/…/) expected"));
            };
            let body_start = self.at;
            let mut escaped = false;
            let mut end = None;
            for (i, c) in self.rest().char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == close {
                    end = Some(i);
                    break;
                }
            }
            let end = end.ok_or_else(|| self.error("unterminated regular expression"))?;
            let body = self.text[body_start..body_start + end]
                .replace(&format!("\\{close}"), &close.to_string());
            self.at = body_start + end + close.len_utf8();
            let nocase = self.rest().starts_with('i');
            if nocase {
                self.at += 1;
            }
            Pattern::new(&body, nocase).map_err(|e| self.error(&e))
        }

        fn word(&mut self) -> Result<Word, String> {
            self.skip();
            let rest = self.rest();
            if rest.starts_with("%{") {
                return Ok(Word(vec![Part::Var(self.var()?)]));
            }
            if let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
                self.at += 1;
                let mut parts = Vec::new();
                let mut text = String::new();
                loop {
                    let rest = self.rest();
                    let Some(c) = rest.chars().next() else {
                        return Err(self.error("unterminated string"));
                    };
                    if c == quote {
                        self.at += 1;
                        break;
                    }
                    if rest.starts_with("%{") {
                        if !text.is_empty() {
                            parts.push(Part::Text(std::mem::take(&mut text)));
                        }
                        parts.push(Part::Var(self.var()?));
                        continue;
                    }
                    if c == '\\' {
                        if let Some(next) = rest[1..].chars().next() {
                            text.push(next);
                            self.at += 1 + next.len_utf8();
                            continue;
                        }
                    }
                    text.push(c);
                    self.at += c.len_utf8();
                }
                if !text.is_empty() || parts.is_empty() {
                    parts.push(Part::Text(text));
                }
                return Ok(Word(parts));
            }
            for (function, make) in [
                ("req(", header as fn(&str) -> Result<Var, String>),
                ("http(", header),
                ("reqenv(", env),
                ("env(", env),
            ] {
                if rest.starts_with(function) {
                    self.at += function.len();
                    let argument = self.word()?;
                    if !self.eat(")") {
                        return Err(self.error("')' expected"));
                    }
                    let literal = match argument.0.as_slice() {
                        [Part::Text(t)] => t.clone(),
                        _ => return Err(self.error("a function takes a 'string'")),
                    };
                    let var = make(&literal).map_err(|e| self.error(&e))?;
                    return Ok(Word(vec![Part::Var(var)]));
                }
            }
            // A bare word (a number, a name).
            let len = rest
                .find(|c: char| c.is_whitespace() || "()=!&|".contains(c))
                .unwrap_or(rest.len());
            if len == 0 {
                return Err(self.error("a value expected"));
            }
            let bare = rest[..len].to_string();
            self.at += len;
            Ok(Word(vec![Part::Text(bare)]))
        }

        fn var(&mut self) -> Result<Var, String> {
            self.at += 2;
            let Some(end) = self.rest().find('}') else {
                return Err(self.error("unterminated %{"));
            };
            let name = self.rest()[..end].to_string();
            self.at += end + 1;
            let upper = name.to_ascii_uppercase();
            if let Some(header_name) = upper.strip_prefix("HTTP_").filter(|_| upper != "HTTPS") {
                return header(&header_name.replace('_', "-")).map_err(|e| self.error(&e));
            }
            if let Some(env_name) = name
                .strip_prefix("ENV:")
                .or_else(|| name.strip_prefix("env:"))
            {
                return Ok(Var::Env(env_name.to_string()));
            }
            if NAMES.contains(&upper.as_str()) {
                return Ok(Var::Named(upper));
            }
            Err(self.error(&format!("unknown variable name '{name}'")))
        }
    }

    fn header(name: &str) -> Result<Var, String> {
        http::HeaderName::from_bytes(name.as_bytes())
            .map(Var::Header)
            .map_err(|_| format!("'{name}' is not a header name"))
    }

    fn env(name: &str) -> Result<Var, String> {
        Ok(Var::Env(name.to_string()))
    }

    impl Var {
        fn value(&self, r: &RequestState<'_>) -> String {
            match self {
                Var::Header(name) => r
                    .headers()
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
                Var::Env(name) => r.subprocess_env.get(name).unwrap_or_default().to_string(),
                Var::Named(name) => named(name, r),
            }
        }
    }

    fn named(name: &str, r: &RequestState<'_>) -> String {
        let secure = r.conn.is_secure();
        match name {
            "REQUEST_URI" => r.uri_text().into_owned(),
            "REQUEST_METHOD" => r.method().as_str().to_string(),
            "REQUEST_SCHEME" => if secure { "https" } else { "http" }.to_string(),
            "QUERY_STRING" => r.query.clone().unwrap_or_default(),
            "REQUEST_FILENAME" | "SCRIPT_FILENAME" => r.filename.to_string_lossy().into_owned(),
            "PATH_INFO" => String::from_utf8_lossy(&r.path_info).into_owned(),
            "HTTPS" => if secure { "on" } else { "off" }.to_string(),
            "REMOTE_ADDR" => crate::router::canonical_ip(r.conn.peer.ip()).to_string(),
            "SERVER_NAME" => r.server_name.to_string(),
            "SERVER_PORT" => r.conn.local.port().to_string(),
            "SERVER_PROTOCOL" => format!("{:?}", r.version()),
            "THE_REQUEST" => format!("{} {} {:?}", r.method(), r.original_uri(), r.version()),
            "HANDLER" => r
                .handler
                .as_ref()
                .map(|h| h.name().to_string())
                .unwrap_or_default(),
            "CONTENT_TYPE" => r
                .content_type
                .as_ref()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
            "REMOTE_USER" => r.user.clone().unwrap_or_default(),
            "AUTH_TYPE" => r.auth_type.clone().unwrap_or_default(),
            "IPV6" => if r.conn.peer.is_ipv6() { "on" } else { "off" }.to_string(),
            _ => String::new(),
        }
    }

    impl Word {
        fn value(&self, r: &RequestState<'_>) -> String {
            let mut out = String::new();
            for part in &self.0 {
                match part {
                    Part::Text(text) => out.push_str(text),
                    Part::Var(var) => out.push_str(&var.value(r)),
                }
            }
            out
        }
    }

    impl Node {
        fn eval(&self, r: &RequestState<'_>) -> bool {
            match self {
                Node::Bool(b) => *b,
                Node::Not(inner) => !inner.eval(r),
                Node::And(a, b) => a.eval(r) && b.eval(r),
                Node::Or(a, b) => a.eval(r) || b.eval(r),
                Node::Compare(a, negate, b) => (a.value(r) == b.value(r)) != *negate,
                Node::Matches(a, negate, re) => re.is_match_bytes(a.value(r).as_bytes()) != *negate,
                Node::Test(test, word) => {
                    let value = word.value(r);
                    match test {
                        'z' => value.is_empty(),
                        'n' => !value.is_empty(),
                        _ => match std::fs::metadata(&value) {
                            Ok(meta) => match test {
                                'f' => meta.is_file(),
                                'd' => meta.is_dir(),
                                _ => meta.is_file() && meta.len() > 0,
                            },
                            Err(_) => false,
                        },
                    }
                }
            }
        }
    }

    impl Condition for Simple {
        fn evaluate(&self, r: &RequestState<'_>) -> Result<bool, String> {
            Ok(self.root.eval(r))
        }

        fn source(&self) -> &str {
            &self.source
        }
    }

    #[cfg(test)]
    mod tests {
        use super::Simple;

        #[test]
        fn the_common_subset_parses_and_mistakes_say_where() {
            for ok in [
                "%{REQUEST_URI} == '/x'",
                "%{HTTP_HOST} =~ /^www\\./i && !(%{QUERY_STRING} == '')",
                "-f %{REQUEST_FILENAME} || %{REQUEST_METHOD} != 'POST'",
                "req('X-Forwarded-Proto') == 'https'",
                "'%{HTTPS}-x' == 'on-x'",
                "true",
                "-z %{ENV:missing}",
            ] {
                assert!(Simple::parse(ok).is_ok(), "{ok}: {:?}", Simple::parse(ok));
            }
            let e = Simple::parse("%{NO_SUCH} == 'x'").unwrap_err();
            assert!(e.contains("unknown variable name 'NO_SUCH'"), "{e}");
            let e = Simple::parse("%{REQUEST_URI} == ").unwrap_err();
            assert!(e.contains("at character"), "{e}");
            assert!(Simple::parse("%{REQUEST_URI} =~ /(/").is_err());
        }
    }
}
