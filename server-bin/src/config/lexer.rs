//! Apache httpd's configuration syntax, without meaning: logical lines
//! (continuations joined, comments dropped), words (quotes honoured) and
//! the tree of `<Section>` … `</Section>` blocks.

use super::{ConfigError, Origin};
use std::path::Path;

/// One directive or section, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// `Name arg arg …`
    Directive {
        name: String,
        args: Vec<String>,
        origin: Origin,
    },
    /// `<Name arg …>` children `</Name>`
    Section {
        name: String,
        args: Vec<String>,
        origin: Origin,
        children: Vec<Node>,
    },
}

/// A logical line: its first physical line number and its text.
struct Line {
    number: usize,
    text: String,
}

/// Join continued lines (a trailing backslash) and drop blank lines and
/// comments (`#` first after whitespace, as Apache: a comment ending in a
/// backslash continues onto the next line too).
fn logical_lines(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut pending: Option<Line> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_end();
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (trimmed, false),
        };
        let line = match pending.take() {
            Some(mut line) => {
                line.text.push(' ');
                line.text.push_str(body.trim_start());
                line
            }
            None => Line {
                number: i + 1,
                text: body.to_string(),
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
        let t = l.text.trim_start();
        !t.is_empty() && !t.starts_with('#')
    });
    out
}

/// Split a line into words: whitespace separates them; a word that starts
/// with `"` or `'` runs to the matching quote and keeps its spaces (`\"`
/// inside stands for the quote itself).
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '\\' && chars.peek() == Some(&first) {
                    word.push(first);
                    chars.next();
                } else if c == first {
                    closed = true;
                    break;
                } else {
                    word.push(c);
                }
            }
            if !closed {
                return Err(format!(
                    "unterminated quoted string: {first}{word} (add the closing {first})"
                ));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    Ok(words)
}

/// A line that opens or closes a section, or a plain directive.
enum Parsed {
    Open(String, Vec<String>),
    Close(String),
    Directive(String, Vec<String>),
}

fn parse_line(text: &str) -> Result<Parsed, String> {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('<') {
        let Some(inner) = inner.strip_suffix('>') else {
            let name = inner.split_whitespace().next().unwrap_or("");
            return Err(format!("<{name}> directive missing closing '>'"));
        };
        if let Some(name) = inner.strip_prefix('/') {
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!("malformed closing tag '<{inner}>'"));
            }
            return Ok(Parsed::Close(name.to_string()));
        }
        let mut words = split_words(inner)?;
        if words.is_empty() {
            return Err("empty section tag '<>'".to_string());
        }
        let name = words.remove(0);
        return Ok(Parsed::Open(name, words));
    }
    let mut words = split_words(text)?;
    // Not empty: blank lines were dropped and the text is not a lone quote
    // pair only when it has a word; an empty quoted word still counts.
    if words.is_empty() {
        return Err("empty line".to_string());
    }
    let name = words.remove(0);
    Ok(Parsed::Directive(name, words))
}

/// Parse one file's text into its tree. `file` names it in messages;
/// `first_line` shifts line numbers (for `-C`/`-c` directives, each its own
/// one-line text).
pub fn parse(text: &str, file: &Path, first_line: usize) -> Result<Vec<Node>, ConfigError> {
    let origin = |n: usize| Origin {
        file: file.to_path_buf(),
        line: n + first_line - 1,
    };
    // Stack of open sections: (name, args, origin, children so far).
    let mut stack: Vec<(String, Vec<String>, Origin, Vec<Node>)> = Vec::new();
    let mut top: Vec<Node> = Vec::new();
    for line in logical_lines(text) {
        let here = origin(line.number);
        let parsed = parse_line(&line.text).map_err(|message| ConfigError {
            origin: Some(here.clone()),
            message,
        })?;
        match parsed {
            Parsed::Directive(name, args) => {
                let node = Node::Directive {
                    name,
                    args,
                    origin: here,
                };
                match stack.last_mut() {
                    Some(open) => open.3.push(node),
                    None => top.push(node),
                }
            }
            Parsed::Open(name, args) => stack.push((name, args, here, Vec::new())),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Vec<Node> {
        parse(text, Path::new("t.conf"), 1)
            .unwrap_or_else(|e| panic!("{text:?} did not parse: {e}"))
    }

    fn err(text: &str) -> String {
        match parse(text, Path::new("t.conf"), 1) {
            Ok(t) => panic!("{text:?} parsed as {t:?}, expected an error"),
            Err(e) => e.to_string(),
        }
    }

    fn directive(node: &Node) -> (&str, Vec<&str>, usize) {
        match node {
            Node::Directive { name, args, origin } => {
                (name, args.iter().map(String::as_str).collect(), origin.line)
            }
            other => panic!("expected a directive, got {other:?}"),
        }
    }

    #[test]
    fn double_and_single_quotes_keep_spaces_and_escaped_quotes() {
        assert_eq!(
            split_words(r#"LogFormat "%h \"%r\" x" 'a b' plain"#).unwrap(),
            vec!["LogFormat", r#"%h "%r" x"#, "a b", "plain"]
        );
    }

    #[test]
    fn empty_quoted_word_is_a_word() {
        assert_eq!(
            split_words(r#"Define X """#).unwrap(),
            vec!["Define", "X", ""]
        );
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(err("DocumentRoot \"/var/www\n").contains("t.conf:1: unterminated quoted string"));
    }

    #[test]
    fn backslash_continues_a_line_and_keeps_first_line_number() {
        let t = tree("\n\nListen \\\n   8080 \\\n  http\nServerName x\n");
        assert_eq!(directive(&t[0]), ("Listen", vec!["8080", "http"], 3));
        assert_eq!(directive(&t[1]), ("ServerName", vec!["x"], 6));
    }

    #[test]
    fn comments_only_at_line_start_and_continued_comment_swallows_next_line() {
        let t = tree("  # a comment\nServerName a#b\n# long \\\nListen 80\nListen 81\n");
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(directive(&t[0]), ("ServerName", vec!["a#b"], 2));
        assert_eq!(directive(&t[1]), ("Listen", vec!["81"], 5));
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
            ("VirtualHost", vec!["*:80".to_string()], 1)
        );
        let Node::Section {
            args,
            children: inner,
            ..
        } = &children[0]
        else {
            panic!("{children:?}")
        };
        assert_eq!(args, &vec!["/a b".to_string()]);
        assert_eq!(directive(&inner[0]), ("Options", vec!["None"], 3));
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
        let t = parse("Listen 80", Path::new("-C"), 2).unwrap();
        assert_eq!(directive(&t[0]).2, 2);
    }
}
