//! Apache httpd's configuration syntax, without meaning: logical lines
//! (continuations joined, comments dropped), words (quotes honoured) and
//! the tree of `<Section>` … `</Section>` blocks.
//!
//! The text is bytes, as Apache reads it: only the ASCII characters of the
//! syntax (whitespace, quotes, `\`, `#`, `<`, `/`, `>`) mean anything, and
//! any other byte, UTF-8 or not, is kept as it is in the words. Whether a
//! word must be UTF-8 text is the directive's business.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use mpm_site::config::Origin;

use super::error::ConfigError;

/// The deepest nesting of sections and `Include`s together (a section
/// inside 63 enclosing ones, counting each `Include` on the way as one).
/// Real configurations nest a handful deep; the cap keeps a generated or
/// hostile file (10,000 nested `<IfModule>`) from exhausting the stack of
/// the reader, which walks the tree recursively.
pub const MAX_NESTING: usize = 64;

/// One directive or section, as written. Names are text (a name that is
/// not UTF-8 is kept lossily: no directive is called so); arguments are
/// the bytes written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// `Name arg arg …`
    Directive {
        name: String,
        args: Vec<OsString>,
        /// The line after the name as written, quotes kept (Apache's
        /// raw arguments, which `Require expr` reads).
        rest: OsString,
        origin: Origin,
    },
    /// `<Name arg …>` children `</Name>`
    Section {
        name: String,
        args: Vec<OsString>,
        origin: Origin,
        children: Vec<Node>,
    },
}

/// A logical line: its first physical line number and its bytes.
struct Line {
    number: usize,
    text: Vec<u8>,
}

/// Apache's `apr_isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn trim_start(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes {
        if !is_space(*first) {
            break;
        }
        bytes = rest;
    }
    bytes
}

fn trim_end(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., last] = bytes {
        if !is_space(*last) {
            break;
        }
        bytes = rest;
    }
    bytes
}

/// The bytes as text for a message (not UTF-8: replaced, as `�`).
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Join continued lines (a trailing backslash) and drop blank lines and
/// comments (`#` first after whitespace, as Apache: a comment ending in a
/// backslash continues onto the next line too).
fn logical_lines(text: &[u8]) -> Vec<Line> {
    let mut out = Vec::new();
    let mut pending: Option<Line> = None;
    // As `str::lines`: a last line without its newline counts, an empty
    // one after the last newline does not.
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let trimmed = trim_end(raw);
        let (body, continues) = match trimmed.strip_suffix(b"\\") {
            Some(body) => (body, true),
            None => (trimmed, false),
        };
        let line = match pending.take() {
            Some(mut line) => {
                line.text.push(b' ');
                line.text.extend_from_slice(trim_start(body));
                line
            }
            None => Line {
                number: i + 1,
                text: body.to_vec(),
            },
        };
        if continues {
            pending = Some(line);
        } else {
            out.push(line);
        }
    }
    out.extend(pending);
    out.retain(|l| {
        let t = trim_start(&l.text);
        !t.is_empty() && t[0] != b'#'
    });
    out
}

/// Split a line into words: whitespace separates them; a word that starts
/// with `"` or `'` runs to the matching quote and keeps its spaces (`\"`
/// inside stands for the quote itself).
pub fn split_words(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut words = Vec::new();
    let mut rest = text;
    loop {
        rest = trim_start(rest);
        let Some(&first) = rest.first() else { break };
        let mut word = Vec::new();
        if first == b'"' || first == b'\'' {
            let mut i = 1;
            let mut closed = false;
            while i < rest.len() {
                let b = rest[i];
                if b == b'\\' && rest.get(i + 1) == Some(&first) {
                    word.push(first);
                    i += 2;
                } else if b == first {
                    closed = true;
                    i += 1;
                    break;
                } else {
                    word.push(b);
                    i += 1;
                }
            }
            if !closed {
                let quote = first as char;
                return Err(format!(
                    "unterminated quoted string: {quote}{} (add the closing {quote})",
                    lossy(&word)
                ));
            }
            rest = &rest[i..];
        } else {
            let end = rest.iter().position(|&b| is_space(b)).unwrap_or(rest.len());
            word.extend_from_slice(&rest[..end]);
            rest = &rest[end..];
        }
        words.push(word);
    }
    Ok(words)
}

/// A line that opens or closes a section, or a plain directive.
enum Parsed {
    Open(String, Vec<OsString>),
    Close(String),
    Directive(String, Vec<OsString>, OsString),
}

/// The first word as a name, the rest as arguments.
fn name_and_args(mut words: Vec<Vec<u8>>) -> (String, Vec<OsString>) {
    let name = lossy(&words.remove(0));
    (name, words.into_iter().map(OsString::from_vec).collect())
}

fn parse_line(text: &[u8]) -> Result<Parsed, String> {
    let text = trim_end(trim_start(text));
    if let Some(inner) = text.strip_prefix(b"<") {
        let Some(inner) = inner.strip_suffix(b">") else {
            let name = split_words(inner)
                .ok()
                .and_then(|w| w.into_iter().next())
                .unwrap_or_default();
            return Err(format!("<{}> directive missing closing '>'", lossy(&name)));
        };
        if let Some(name) = inner.strip_prefix(b"/") {
            let name = trim_end(trim_start(name));
            if name.is_empty() || name.iter().any(|&b| is_space(b)) {
                return Err(format!("malformed closing tag '<{}>'", lossy(inner)));
            }
            return Ok(Parsed::Close(lossy(name)));
        }
        let words = split_words(inner)?;
        if words.is_empty() {
            return Err("empty section tag '<>'".to_string());
        }
        let (name, args) = name_and_args(words);
        return Ok(Parsed::Open(name, args));
    }
    let words = split_words(text)?;
    // Not empty: blank lines were dropped and the text is not a lone quote
    // pair only when it has a word; an empty quoted word still counts.
    if words.is_empty() {
        return Err("empty line".to_string());
    }
    let rest = if text.first().is_some_and(|&b| b == b'"' || b == b'\'') {
        // A quoted name: no raw arguments (no directive is written so).
        Vec::new()
    } else {
        let end = text.iter().position(|&b| is_space(b)).unwrap_or(text.len());
        trim_start(&text[end..]).to_vec()
    };
    let (name, args) = name_and_args(words);
    Ok(Parsed::Directive(name, args, OsString::from_vec(rest)))
}

/// Parse one file's bytes into its tree. `file` names it in messages;
/// `first_line` shifts line numbers (for `-C`/`-c` directives, each its own
/// one-line text); `enclosing` is how many sections and `Include`s already
/// enclose the text (see [`MAX_NESTING`]).
pub fn parse(
    text: &[u8],
    file: &Path,
    first_line: usize,
    enclosing: usize,
) -> Result<Vec<Node>, ConfigError> {
    let origin = |n: usize| Origin {
        file: file.to_path_buf(),
        line: n + first_line - 1,
    };
    // Stack of open sections: (name, args, origin, children so far).
    let mut stack: Vec<(String, Vec<OsString>, Origin, Vec<Node>)> = Vec::new();
    let mut top: Vec<Node> = Vec::new();
    for line in logical_lines(text) {
        let here = origin(line.number);
        let parsed = parse_line(&line.text).map_err(|message| ConfigError {
            origin: Some(here.clone()),
            message,
        })?;
        match parsed {
            Parsed::Directive(name, args, rest) => {
                let node = Node::Directive {
                    name,
                    args,
                    rest,
                    origin: here,
                };
                match stack.last_mut() {
                    Some(open) => open.3.push(node),
                    None => top.push(node),
                }
            }
            Parsed::Open(name, args) => {
                if enclosing + stack.len() >= MAX_NESTING {
                    return Err(ConfigError {
                        message: too_deep(&format!("<{name}>")),
                        origin: Some(here),
                    });
                }
                stack.push((name, args, here, Vec::new()))
            }
            Parsed::Close(name) => {
                let Some((open_name, args, open_origin, children)) = stack.pop() else {
                    return Err(ConfigError {
                        origin: Some(here),
                        message: format!("</{name}> without matching <{name}> section"),
                    });
                };
                if !open_name.eq_ignore_ascii_case(&name) {
                    return Err(ConfigError {
                        message: format!(
                            "<{open_name}> opened here is closed by </{name}> at line {}; expected </{open_name}>",
                            here.line
                        ),
                        origin: Some(open_origin),
                    });
                }
                let node = Node::Section {
                    name: open_name,
                    args,
                    origin: open_origin,
                    children,
                };
                match stack.last_mut() {
                    Some(open) => open.3.push(node),
                    None => top.push(node),
                }
            }
        }
    }
    if let Some((name, _, origin, _)) = stack.pop() {
        return Err(ConfigError {
            origin: Some(origin),
            message: format!("<{name}> section is not closed (add </{name}>)"),
        });
    }
    Ok(top)
}

/// The message for `what` (`<IfModule>`, `Include`) past [`MAX_NESTING`].
pub fn too_deep(what: &str) -> String {
    format!(
        "{what} is nested too deeply: {MAX_NESTING} sections and Includes enclose it, \
         mpmd's limit (look for a runaway Include or a generated block)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn tree(text: impl AsRef<[u8]>) -> Vec<Node> {
        let text = text.as_ref();
        parse(text, Path::new("t.conf"), 1, 0)
            .unwrap_or_else(|e| panic!("{:?} did not parse: {e}", lossy(text)))
    }

    fn err(text: impl AsRef<[u8]>) -> String {
        let text = text.as_ref();
        match parse(text, Path::new("t.conf"), 1, 0) {
            Ok(t) => panic!("{:?} parsed as {t:?}, expected an error", lossy(text)),
            Err(e) => e.to_string(),
        }
    }

    fn words(text: &str) -> Vec<String> {
        split_words(text.as_bytes())
            .unwrap()
            .iter()
            .map(|w| lossy(w))
            .collect()
    }

    fn directive(node: &Node) -> (&str, Vec<&[u8]>, usize) {
        match node {
            Node::Directive {
                name, args, origin, ..
            } => (
                name,
                args.iter().map(|a| a.as_bytes()).collect(),
                origin.line,
            ),
            other => panic!("expected a directive, got {other:?}"),
        }
    }

    #[test]
    fn double_and_single_quotes_keep_spaces_and_escaped_quotes() {
        assert_eq!(
            words(r#"LogFormat "%h \"%r\" x" 'a b' plain"#),
            vec!["LogFormat", r#"%h "%r" x"#, "a b", "plain"]
        );
    }

    #[test]
    fn empty_quoted_word_is_a_word() {
        assert_eq!(words(r#"Define X """#), vec!["Define", "X", ""]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(err("DocumentRoot \"/var/www\n").contains("t.conf:1: unterminated quoted string"));
    }

    #[test]
    fn backslash_continues_a_line_and_keeps_first_line_number() {
        let t = tree("\n\nListen \\\n   8080 \\\n  http\nServerName x\n");
        assert_eq!(directive(&t[0]), ("Listen", vec![&b"8080"[..], b"http"], 3));
        assert_eq!(directive(&t[1]), ("ServerName", vec![&b"x"[..]], 6));
    }

    #[test]
    fn comments_only_at_line_start_and_continued_comment_swallows_next_line() {
        let t = tree("  # a comment\nServerName a#b\n# long \\\nListen 80\nListen 81\n");
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(directive(&t[0]), ("ServerName", vec![&b"a#b"[..]], 2));
        assert_eq!(directive(&t[1]), ("Listen", vec![&b"81"[..]], 5));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept_in_words_and_comments_as_written() {
        // Latin-1: "é" is 0xe9, "ü" 0xfc; CRLF line ends too.
        let t = tree(b"# r\xe9sum\xe9 of the site\r\nDocumentRoot \"/srv/caf\xe9 \xfc\"\r\nAlias /x /d/\xff\r\n");
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(
            directive(&t[0]),
            ("DocumentRoot", vec![&b"/srv/caf\xe9 \xfc"[..]], 2)
        );
        assert_eq!(directive(&t[1]), ("Alias", vec![&b"/x"[..], b"/d/\xff"], 3));
    }

    #[test]
    fn only_ascii_whitespace_separates_words() {
        // U+00A0 (no-break space, c2 a0 in UTF-8) is part of a word, as
        // in Apache's C locale.
        assert_eq!(
            words("ServerAdmin a\u{a0}b\tc"),
            vec!["ServerAdmin", "a\u{a0}b", "c"]
        );
    }

    #[test]
    fn sections_nest_and_closing_names_are_case_insensitive() {
        let t = tree("<VirtualHost *:80>\n <Directory \"/a b\">\n  Options None\n </directory>\n</VIRTUALHOST>\n");
        let Node::Section {
            name,
            args,
            children,
            origin,
        } = &t[0]
        else {
            panic!("{t:?}")
        };
        assert_eq!(
            (name.as_str(), args.clone(), origin.line),
            ("VirtualHost", vec![OsString::from("*:80")], 1)
        );
        let Node::Section {
            args,
            children: inner,
            ..
        } = &children[0]
        else {
            panic!("{children:?}")
        };
        assert_eq!(args, &vec![OsString::from("/a b")]);
        assert_eq!(directive(&inner[0]), ("Options", vec![&b"None"[..]], 3));
    }

    #[test]
    fn sections_nested_past_the_limit_are_refused_at_the_line_that_opens_one_too_many() {
        let deep = |n: usize| "<IfModule !x>\n".repeat(n) + &"</IfModule>\n".repeat(n);
        assert_eq!(tree(deep(MAX_NESTING)).len(), 1);
        assert_eq!(
            err(deep(10_000)),
            format!("t.conf:{}: {}", MAX_NESTING + 1, too_deep("<IfModule>"))
        );
        // Enclosing sections and Includes count too.
        let e = parse(deep(4).as_bytes(), Path::new("t.conf"), 1, MAX_NESTING - 3).unwrap_err();
        assert_eq!(e.origin.map(|o| o.line), Some(4));
    }

    #[test]
    fn unclosed_section_names_its_opening_line() {
        assert_eq!(
            err("Listen 80\n<VirtualHost *:80>\nServerName a\n"),
            "t.conf:2: <VirtualHost> section is not closed (add </VirtualHost>)"
        );
    }

    #[test]
    fn mismatched_close_names_both_lines() {
        assert_eq!(
            err("<VirtualHost *:80>\n<Directory />\n</VirtualHost>\n"),
            "t.conf:2: <Directory> opened here is closed by </VirtualHost> at line 3; expected </Directory>"
        );
    }

    #[test]
    fn stray_close_and_missing_bracket_are_errors() {
        assert!(err("</IfModule>\n").starts_with("t.conf:1: </IfModule> without matching"));
        assert!(err("<IfModule foo\n</IfModule>\n").contains("missing closing '>'"));
    }

    #[test]
    fn first_line_offsets_numbers_for_command_line_directives() {
        let t = parse(b"Listen 80", Path::new("-C"), 2, 0).unwrap();
        assert_eq!(directive(&t[0]).2, 2);
    }
}
