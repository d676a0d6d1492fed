//! `CustomLog`: one line per exchange in mod_log_config's format language.
//!
//! A format is parsed once, at startup, into a list of items. A log file is
//! opened once with `O_APPEND` and shared by every host that names the same
//! path; each line goes out in one `write`, so processes that inherited the
//! file after `fork` do not interleave inside a line.
//!
//! Supported: `%h %a %{c}h %{c}a %A %l %u %t %r %s %>s %b %B %D %T %{s|ms|us}T %v %V %p
//! %{local|remote}p %m %U %q %H %{Name}i %{Name}n %%`. `%{Name}n` is a note
//! of the request (`Header note`: [`Notes`] in the response's extensions; names without regard to case, as Apache's
//! tables), `-` when unset. `%{Name}o` logs `-` (the
//! exchange does not carry response headers). `%t` is in UTC (`+0000`),
//! and `%U` is the path as the client sent it. Conditions (`%400,501{…}i`)
//! are accepted and ignored. Anything else is written literally. `%u` is
//! the user the request authenticated as ([`RemoteUser`] in the response's
//! extensions), `-` when none; `%l` is always `-`. `%h` and
//! `%a` are the client's address (mpmd never looks names up), which a
//! PROXY protocol header or `RemoteIPHeader` may have given; `%{c}h` and
//! `%{c}a` are the TCP peer's (the load balancer's, then), as in Apache.
//!
//! An embedding program that answers with its own handler logs in the same
//! formats by opening an [`AccessLog`] and writing each exchange from its
//! [`Handler::log`](mpm_core::Handler::log).

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use mpm_core::Exchange;

use crate::auth::RemoteUser;
use crate::error::Error;
use crate::log_escape::{self, Quotes};
use crate::router::{canonical_ip, request_host};
use crate::utc_time::UtcTime;

/// The request's notes (Apache's `r->notes`: what `Header note` copied),
/// put in the response's extensions for the access log's `%{name}n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes(pub crate::pipeline::Table);

impl Notes {
    /// The note `name`, without regard to case (as `apr_table_get`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// An open log file, shared by every host that writes to it.
#[derive(Debug)]
pub struct LogFile {
    file: File,
}

impl LogFile {
    /// Open (creating, mode 0644) `path` for appending; the error says
    /// which file and why.
    pub fn open(path: &Path) -> Result<LogFile, Error> {
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(path)
            .map(|file| LogFile { file })
            .map_err(|e| Error::LogFile {
                path: path.to_path_buf(),
                reason: mpm_core::error::describe_io(&e),
            })
    }
}

/// A parsed format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(String),
    ClientIp,
    PeerIp,
    LocalIp,
    Dash,
    User,
    Time,
    RequestLine,
    Status,
    BodyClf,
    Body,
    Micros,
    Millis,
    Seconds,
    ServerName,
    Host,
    LocalPort,
    RemotePort,
    Method,
    Path,
    Query,
    Protocol,
    RequestHeader(http::HeaderName),
    Note(String),
}

impl LogFormat {
    /// Parse mod_log_config's format language; never fails: what it does
    /// not know is kept as text.
    pub fn parse(format: &str) -> LogFormat {
        let mut items = Vec::new();
        let mut literal = String::new();
        let mut chars = format.char_indices().peekable();
        while let Some((start, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => literal.push('\n'),
                    Some('t') => literal.push('\t'),
                    Some(other) => literal.push(other),
                    None => literal.push('\\'),
                },
                '%' => {
                    // Conditions and the original/final marker.
                    while chars.peek().is_some_and(|&(_, c)| {
                        c.is_ascii_digit() || matches!(c, '!' | ',' | '<' | '>')
                    }) {
                        chars.next();
                    }
                    let mut arg = None;
                    if chars.peek().is_some_and(|&(_, c)| c == '{') {
                        chars.next();
                        let mut text = String::new();
                        for (_, c) in chars.by_ref() {
                            if c == '}' {
                                break;
                            }
                            text.push(c);
                        }
                        arg = Some(text);
                    }
                    let Some((end, directive)) = chars.next() else {
                        literal.push_str(&format[start..]);
                        break;
                    };
                    match item(directive, arg.as_deref()) {
                        Some(Item::Literal(text)) => literal.push_str(&text),
                        Some(item) => {
                            if !literal.is_empty() {
                                items.push(Item::Literal(std::mem::take(&mut literal)));
                            }
                            items.push(item);
                        }
                        None => literal.push_str(&format[start..end + directive.len_utf8()]),
                    }
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            items.push(Item::Literal(literal));
        }
        LogFormat { items }
    }

    /// Whether a line reads the request's headers (`%{Name}i`, `%V`).
    pub fn reads_headers(&self) -> bool {
        self.items
            .iter()
            .any(|item| matches!(item, Item::Host | Item::RequestHeader(_)))
    }

    /// Append the line (with its newline) for `ex` to `out`; `server_name`
    /// is the canonical name of the host that served it.
    pub fn render(&self, ex: &Exchange<'_>, server_name: &str, out: &mut String) {
        use std::fmt::Write as _;
        for item in &self.items {
            // Writing to a String cannot fail.
            let _ = match item {
                Item::Literal(text) => {
                    out.push_str(text);
                    Ok(())
                }
                Item::ClientIp => write!(out, "{}", canonical_ip(ex.conn.peer.ip())),
                Item::PeerIp => write!(out, "{}", canonical_ip(ex.conn.socket_peer().ip())),
                Item::LocalIp => write!(out, "{}", canonical_ip(ex.conn.local.ip())),
                Item::Dash => {
                    out.push('-');
                    Ok(())
                }
                Item::User => {
                    match ex.notes.get::<RemoteUser>() {
                        Some(user) if !user.0.is_empty() => escape(user.0.as_bytes(), out),
                        Some(_) => out.push_str("\"\""),
                        None => out.push('-'),
                    }
                    Ok(())
                }
                Item::Time => {
                    clf_time(ex.started, out);
                    Ok(())
                }
                Item::RequestLine => {
                    escape(ex.request_line.as_bytes(), out);
                    Ok(())
                }
                Item::Status => write!(out, "{}", ex.status.as_u16()),
                Item::BodyClf if ex.body_bytes == 0 => {
                    out.push('-');
                    Ok(())
                }
                Item::BodyClf | Item::Body => write!(out, "{}", ex.body_bytes),
                Item::Micros => write!(out, "{}", ex.duration.as_micros()),
                Item::Millis => write!(out, "{}", ex.duration.as_millis()),
                Item::Seconds => write!(out, "{}", ex.duration.as_secs()),
                Item::ServerName => {
                    escape(server_name.as_bytes(), out);
                    Ok(())
                }
                Item::Host => {
                    let host = request_host(ex.uri, ex.headers).unwrap_or(server_name);
                    escape(host.as_bytes(), out);
                    Ok(())
                }
                Item::LocalPort => write!(out, "{}", ex.conn.local.port()),
                Item::RemotePort => write!(out, "{}", ex.conn.peer.port()),
                Item::Method => {
                    match ex.method {
                        Some(m) => escape(m.as_str().as_bytes(), out),
                        None => out.push('-'),
                    }
                    Ok(())
                }
                Item::Path => {
                    match ex.uri {
                        Some(uri) => escape(uri.path().as_bytes(), out),
                        None => out.push('-'),
                    }
                    Ok(())
                }
                Item::Query => {
                    if let Some(query) = ex.uri.and_then(|u| u.query()) {
                        out.push('?');
                        escape(query.as_bytes(), out);
                    }
                    Ok(())
                }
                Item::Protocol => {
                    match ex
                        .request_line
                        .rsplit(' ')
                        .next()
                        .filter(|p| p.starts_with("HTTP/"))
                    {
                        Some(protocol) => escape(protocol.as_bytes(), out),
                        None => out.push('-'),
                    }
                    Ok(())
                }
                Item::Note(name) => {
                    match ex.notes.get::<Notes>().and_then(|n| n.get(name)) {
                        Some(value) => escape(value.as_bytes(), out),
                        None => {
                            // DeflateFilterNote / BrotliFilterNote.
                            let sizes = ex
                                .notes
                                .get::<crate::compress::notes::SizeNotes>()
                                .and_then(|n| n.get(name));
                            match sizes {
                                Some(value) => out.push_str(&value),
                                None => out.push('-'),
                            }
                        }
                    }
                    Ok(())
                }
                Item::RequestHeader(name) => {
                    let mut values = ex.headers.get_all(name).iter();
                    match values.next() {
                        None => out.push('-'),
                        Some(first) => {
                            escape(first.as_bytes(), out);
                            for more in values {
                                out.push_str(", ");
                                escape(more.as_bytes(), out);
                            }
                        }
                    }
                    Ok(())
                }
            };
        }
        out.push('\n');
    }
}

/// The item a `%` directive names; `None` for one we do not know.
fn item(directive: char, arg: Option<&str>) -> Option<Item> {
    Some(match (directive, arg) {
        ('%', _) => Item::Literal("%".into()),
        ('h' | 'a', Some("c")) => Item::PeerIp,
        ('h' | 'a', _) => Item::ClientIp,
        ('A', _) => Item::LocalIp,
        ('l', _) => Item::Dash,
        ('u', _) => Item::User,
        ('t', None) => Item::Time,
        ('r', _) => Item::RequestLine,
        ('s', _) => Item::Status,
        ('b', _) => Item::BodyClf,
        ('B', _) => Item::Body,
        ('D', _) => Item::Micros,
        ('T', None | Some("s")) => Item::Seconds,
        ('T', Some("ms")) => Item::Millis,
        ('T', Some("us")) => Item::Micros,
        ('v', _) => Item::ServerName,
        ('V', _) => Item::Host,
        ('p', None | Some("canonical" | "local")) => Item::LocalPort,
        ('p', Some("remote")) => Item::RemotePort,
        ('m', _) => Item::Method,
        ('U', _) => Item::Path,
        ('q', _) => Item::Query,
        ('H', _) => Item::Protocol,
        ('i', Some(name)) => {
            Item::RequestHeader(http::HeaderName::from_bytes(name.as_bytes()).ok()?)
        }
        ('o', Some(_)) => Item::Dash,
        ('n', Some(name)) => Item::Note(name.to_string()),
        _ => return None,
    })
}

/// Apache's `ap_escape_logitem`: `"` and `\` backslashed, `\b \n \r \t \v`
/// spelled so, other control and non-ASCII bytes as `\xhh` (the escaping
/// the error log shares).
fn escape(bytes: &[u8], out: &mut String) {
    log_escape::escape(bytes, Quotes::Escaped, out)
}

/// `[26/Nov/2026:08:21:28 +0000]`.
fn clf_time(t: SystemTime, out: &mut String) {
    use std::fmt::Write as _;
    let u = UtcTime::of(t);
    let _ = write!(
        out,
        "[{:02}/{}/{}:{:02}:{:02}:{:02} +0000]",
        u.day,
        u.month_short(),
        u.year,
        u.hour,
        u.minute,
        u.second
    );
}

/// One access log: lines in one format to one (possibly shared) file.
#[derive(Debug, Clone)]
pub struct AccessLog {
    file: Arc<LogFile>,
    format: Arc<LogFormat>,
}

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl AccessLog {
    /// Lines in `format` to `file` (which other logs may share).
    pub fn new(file: Arc<LogFile>, format: Arc<LogFormat>) -> AccessLog {
        AccessLog { file, format }
    }

    /// Open the file `path` for lines in `format` (mod_log_config's
    /// language, such as [`CustomLog::COMBINED`](crate::config::CustomLog::COMBINED)).
    pub fn open(path: &Path, format: &str) -> Result<AccessLog, Error> {
        Ok(AccessLog::new(
            Arc::new(LogFile::open(path)?),
            Arc::new(LogFormat::parse(format)),
        ))
    }

    /// Whether a line reads the request's headers.
    pub fn reads_headers(&self) -> bool {
        self.format.reads_headers()
    }

    /// Write the line for `ex` in one `write`; `server_name` is the
    /// canonical name of the host that served it (`%v`). A failed write
    /// is reported on the error log, never to the client.
    pub fn write(&self, ex: &Exchange<'_>, server_name: &str) {
        LINE.with(|line| {
            let mut line = line.borrow_mut();
            line.clear();
            self.format.render(ex, server_name, &mut line);
            if let Err(e) = (&self.file.file).write_all(line.as_bytes()) {
                log::error!("access log: {}", mpm_core::error::describe_io(&e));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_time_formats_utc_dates() {
        let mut out = String::new();
        clf_time(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_681_288),
            &mut out,
        );
        assert_eq!(out, "[26/Nov/2026:08:21:28 +0000]");
        out.clear();
        clf_time(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400),
            &mut out,
        );
        assert_eq!(out, "[29/Feb/2000:00:00:00 +0000]");
    }

    #[test]
    fn user_is_the_authenticated_one_escaped_or_a_dash() {
        user_and_notes_are_logged(
            "%l %u|",
            &[
                (None, None, "- -|\n"),
                (Some("alice"), None, "- alice|\n"),
                (Some("ev\"il\n"), None, "- ev\\\"il\\n|\n"),
                (Some(""), None, "- \"\"|\n"),
            ],
        );
    }

    #[test]
    fn a_note_is_logged_by_name_without_regard_to_case_escaped_or_a_dash() {
        user_and_notes_are_logged(
            "%{Trace}n|%{other}n",
            &[
                (None, None, "-|-\n"),
                (None, Some(("trace", "a b")), "a b|-\n"),
                (None, Some(("TRACE", "q\"x")), "q\\\"x|-\n"),
            ],
        );
    }

    /// `format` rendered for each (user, note, expected line).
    #[allow(clippy::type_complexity)]
    fn user_and_notes_are_logged(
        format: &str,
        cases: &[(Option<&str>, Option<(&str, &str)>, &str)],
    ) {
        let format = LogFormat::parse(format);
        let conn = mpm_core::ConnInfo {
            peer: "127.0.0.1:50000".parse().unwrap(),
            local: "127.0.0.1:80".parse().unwrap(),
            listener: 0,
            listen_addr: Arc::from("*:80"),
            tls: None,
            proxied: None,
        };
        let headers = http::HeaderMap::new();
        let line = |notes: &http::Extensions| {
            let ex = Exchange {
                conn: &conn,
                request_line: "GET / HTTP/1.1",
                method: None,
                uri: None,
                headers: &headers,
                status: http::StatusCode::OK,
                body_bytes: 0,
                received: 0,
                started: SystemTime::UNIX_EPOCH,
                duration: std::time::Duration::ZERO,
                notes,
            };
            let mut out = String::new();
            format.render(&ex, "localhost", &mut out);
            out
        };
        for (user, note, want) in cases {
            let mut notes = http::Extensions::new();
            if let Some(user) = user {
                notes.insert(RemoteUser(user.to_string()));
            }
            if let Some((name, value)) = note {
                let mut table = crate::pipeline::Table::default();
                table.set(*name, *value);
                notes.insert(Notes(table));
            }
            assert_eq!(line(&notes), *want, "{user:?} {note:?}");
        }
    }

    #[test]
    fn escape_follows_ap_escape_logitem() {
        let mut out = String::new();
        escape(b"a\"b\\c\nd\x01\xff", &mut out);
        assert_eq!(out, "a\\\"b\\\\c\\nd\\x01\\xff");
    }

    #[test]
    fn unknown_directives_stay_literal() {
        let format = LogFormat::parse("%Z %{x}Z 100%% %");
        assert_eq!(format.items, vec![Item::Literal("%Z %{x}Z 100% %".into())]);
        let format = LogFormat::parse("%>s|%400,501{Referer}i");
        assert_eq!(
            format.items,
            vec![
                Item::Status,
                Item::Literal("|".into()),
                Item::RequestHeader(http::header::REFERER)
            ]
        );
    }
}
