//! The request's environment: mod_setenvif's conditions
//! ([`SetEnvIf`]: `SetEnvIf`, `SetEnvIfNoCase`, `BrowserMatch`,
//! `BrowserMatchNoCase`) and mod_env's edits ([`EnvEdit`]: `SetEnv`,
//! `UnsetEnv`, `PassEnv`).

use crate::pipeline::request::RequestState;
use crate::pipeline::section::Pattern;

/// What a `SetEnvIf` line tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `Remote_Addr`: the client's address.
    RemoteAddr,
    /// `Remote_Host`: the client's host name; mpmd looks up no names, so
    /// the address, as Apache with `HostnameLookups Off`.
    RemoteHost,
    /// `Server_Addr`: the address the client connected to.
    ServerAddr,
    /// `Request_Method`.
    RequestMethod,
    /// `Request_Protocol` (`HTTP/1.1`).
    RequestProtocol,
    /// `Request_URI`: the path asked for, without the query.
    RequestUri,
    /// A request header, else (when the request has none by that name)
    /// an environment variable set by an earlier line.
    Header(http::HeaderName),
    /// An environment variable set by an earlier line (a name that cannot
    /// be a header).
    Env(String),
}

impl Attribute {
    /// The attribute `name` names (the special names without regard to
    /// case, as Apache).
    pub fn parse(name: &str) -> Attribute {
        match name.to_ascii_lowercase().as_str() {
            "remote_addr" => Attribute::RemoteAddr,
            "remote_host" => Attribute::RemoteHost,
            "server_addr" => Attribute::ServerAddr,
            "request_method" => Attribute::RequestMethod,
            "request_protocol" => Attribute::RequestProtocol,
            "request_uri" => Attribute::RequestUri,
            _ => match http::HeaderName::from_bytes(name.as_bytes()) {
                Ok(header) => Attribute::Header(header),
                Err(_) => Attribute::Env(name.to_string()),
            },
        }
    }
}

/// One action of a `SetEnvIf` line: `name=value` (`$1`… from the match),
/// `name` (set to `1`), `!name` (unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvAction {
    /// The variable.
    pub name: String,
    /// The value (`None`: unset it).
    pub value: Option<String>,
}

impl EnvAction {
    /// The action written `word`.
    pub fn parse(word: &str) -> EnvAction {
        if let Some(name) = word.strip_prefix('!') {
            return EnvAction {
                name: name.to_string(),
                value: None,
            };
        }
        match word.split_once('=') {
            Some((name, value)) => EnvAction {
                name: name.to_string(),
                value: Some(value.to_string()),
            },
            None => EnvAction {
                name: word.to_string(),
                value: Some("1".to_string()),
            },
        }
    }
}

/// `SetEnvIf attribute regex action…` (and its `NoCase` and
/// `BrowserMatch` forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetEnvIf {
    /// What is tested.
    pub attribute: Attribute,
    /// The expression (case-insensitive for the `NoCase` forms).
    pub pattern: Pattern,
    /// What is set or unset when it matches.
    pub actions: Vec<EnvAction>,
}

impl SetEnvIf {
    /// Apply this line to `r`: when the attribute is there and matches, its
    /// actions, `$0`…`$9` replaced by the match's groups.
    pub fn apply(&self, r: &mut RequestState<'_>) {
        let value: Option<String> = match &self.attribute {
            Attribute::RemoteAddr | Attribute::RemoteHost => Some(r.conn.peer.ip().to_string()),
            Attribute::ServerAddr => Some(r.conn.local.ip().to_string()),
            Attribute::RequestMethod => Some(r.method().as_str().to_string()),
            Attribute::RequestProtocol => Some(format!("{:?}", r.version())),
            Attribute::RequestUri => Some(r.original_uri().path().to_string()),
            Attribute::Header(name) => match r.headers().get(name) {
                Some(v) => Some(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                None => r.subprocess_env.get(name.as_str()).map(str::to_string),
            },
            Attribute::Env(name) => r.subprocess_env.get(name).map(str::to_string),
        };
        let Some(value) = value else { return };
        let Some(captures) = self.pattern.regex().captures(value.as_bytes()) else {
            return;
        };
        for action in &self.actions {
            match &action.value {
                None => r.subprocess_env.unset(&action.name),
                Some(template) => {
                    let expanded = substitute(template, &captures);
                    r.subprocess_env.set(action.name.clone(), expanded);
                }
            }
        }
    }
}

/// `template` with `$0`…`$9` replaced by the groups of `captures` (a
/// missing group: nothing).
fn substitute(template: &str, captures: &regex::bytes::Captures<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            if let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                chars.next();
                if let Some(m) = captures.get(d as usize) {
                    out.push_str(&String::from_utf8_lossy(m.as_bytes()));
                }
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// One mod_env directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvEdit {
    /// `SetEnv name value`.
    Set(String, String),
    /// `UnsetEnv name…` (one edit per name).
    Unset(String),
    /// `PassEnv name…`: the server process's variable, when it has it.
    Pass(String),
}

impl EnvEdit {
    /// Apply this edit to `r`'s environment.
    pub fn apply(&self, r: &mut RequestState<'_>) {
        match self {
            EnvEdit::Set(name, value) => r.subprocess_env.set(name.clone(), value.clone()),
            EnvEdit::Unset(name) => r.subprocess_env.unset(name),
            EnvEdit::Pass(name) => {
                if let Some(value) = std::env::var_os(name) {
                    r.subprocess_env
                        .set(name.clone(), value.to_string_lossy().into_owned());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_as_apache_writes_them() {
        assert_eq!(
            EnvAction::parse("!gzip"),
            EnvAction {
                name: "gzip".into(),
                value: None
            }
        );
        assert_eq!(EnvAction::parse("mobile").value.as_deref(), Some("1"));
        assert_eq!(EnvAction::parse("ver=$1").value.as_deref(), Some("$1"));
        assert_eq!(Attribute::parse("Remote_Addr"), Attribute::RemoteAddr);
        assert_eq!(
            Attribute::parse("User-Agent"),
            Attribute::Header(http::header::USER_AGENT)
        );
    }

    #[test]
    fn dollar_digits_are_replaced_by_the_groups() {
        let re = regex::bytes::Regex::new(r"MSIE ([0-9]+)").unwrap();
        let caps = re.captures(b"Mozilla MSIE 8 x").unwrap();
        assert_eq!(substitute("ie$1-$9$$", &caps), "ie8-$$");
        assert_eq!(substitute("$0", &caps), "MSIE 8");
    }
}
