//! `config_lexer`: `mpmd::config::lexer::parse`, Apache's configuration
//! syntax without meaning (logical lines, words, `<Section>` blocks).
//! The loader that gives it meaning has its own target, `config_loader`.
//! Input: a configuration file's bytes.
//!
//! Properties:
//!
//! 1. No panic. A refusal names the file and a line that exists.
//! 2. Line numbers: every directive and section names the physical line
//!    its logical line starts on; in document order they strictly
//!    increase, and that line is neither blank nor a comment.
//! 3. Sections: a section name is never empty and holds no whitespace (it
//!    had to be matched by a `</name>`).
//! 4. Round trip: the tree written back as configuration text (each word
//!    bare or double-quoted with `\"`, one directive or tag per line)
//!    parses to the same tree, each node on the line it was written on.
//!    This holds the quoting, comment, continuation and section rules to
//!    one another.
//!
//! The target reaches the lexer only through [`lex`].
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mpmd::config::lexer::{parse, Node};
use mpmd::config::ConfigError;

const FILE: &str = "fuzz.conf";

/// The lexer on `data` as the file `FILE`, enclosed by nothing.
fn lex(data: &[u8]) -> Result<Vec<Node>, ConfigError> {
    parse(data, Path::new(FILE), 1, 0)
}

fuzz_target!(|data: &[u8]| {
    let lines = physical_lines(data);
    match lex(data) {
        Err(e) => {
            let origin = e
                .origin
                .as_ref()
                .unwrap_or_else(|| panic!("an error without a place: {e}"));
            assert_eq!(
                origin.file,
                Path::new(FILE),
                "error names another file: {e}"
            );
            assert!(
                (1..=lines.len()).contains(&origin.line),
                "error names line {} of {}: {e}",
                origin.line,
                lines.len()
            );
            assert!(!e.message.is_empty(), "an empty error message at {origin}");
        }
        Ok(tree) => {
            let flat = flatten(&tree);
            check_lines(&flat, &lines);
            check_round_trip(&flat);
        }
    }
});

/// The lines as numbered in messages: split at LF; a last line without its
/// newline counts, an empty one after the last newline does not.
fn physical_lines(data: &[u8]) -> Vec<&[u8]> {
    if data.is_empty() {
        return Vec::new();
    }
    let text = data.strip_suffix(b"\n").unwrap_or(data);
    text.split(|&b| b == b'\n').collect()
}

/// One line of a tree in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item<'a> {
    Directive(&'a str, Vec<&'a [u8]>, usize),
    Open(&'a str, Vec<&'a [u8]>, usize),
    Close(&'a str),
}

/// An argument's bytes, whether the lexer keeps arguments as text or as
/// bytes (`String` and `OsString` both).
fn arg_bytes<T: AsRef<OsStr>>(args: &[T]) -> Vec<&[u8]> {
    args.iter().map(|a| a.as_ref().as_bytes()).collect()
}

/// The tree in document order, without recursion (the fuzzer nests
/// sections deeply).
fn flatten(tree: &[Node]) -> Vec<Item<'_>> {
    let mut out = Vec::new();
    let mut stack: Vec<(&[Node], Option<&str>)> = vec![(tree, None)];
    while let Some((nodes, closing)) = stack.pop() {
        let Some((first, rest)) = nodes.split_first() else {
            if let Some(name) = closing {
                out.push(Item::Close(name));
            }
            continue;
        };
        stack.push((rest, closing));
        match first {
            Node::Directive {
                name, args, origin, ..
            } => {
                assert_eq!(origin.file, Path::new(FILE));
                out.push(Item::Directive(name, arg_bytes(args), origin.line));
            }
            Node::Section {
                name,
                args,
                origin,
                children,
            } => {
                assert_eq!(origin.file, Path::new(FILE));
                out.push(Item::Open(name, arg_bytes(args), origin.line));
                stack.push((children, Some(name)));
            }
        }
    }
    out
}

/// ASCII whitespace (Apache's `apr_isspace`), or, in text, any Unicode
/// whitespace: a word holding either is written quoted, and a section
/// name holds neither.
fn has_space(b: &[u8]) -> bool {
    b.iter()
        .any(|&c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        || String::from_utf8_lossy(b).contains(char::is_whitespace)
}

/// Without ASCII whitespace at either end.
fn trim_ascii(b: &[u8]) -> &[u8] {
    let is_space = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let start = b.iter().position(|c| !is_space(c)).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !is_space(c))
        .map_or(start, |i| i + 1);
    &b[start..end]
}

fn check_lines(flat: &[Item], lines: &[&[u8]]) {
    let mut previous = 0;
    for item in flat {
        let line = match item {
            Item::Directive(_, _, line) | Item::Open(_, _, line) => *line,
            Item::Close(name) => {
                assert!(
                    !name.is_empty() && !has_space(name.as_bytes()),
                    "section name {name:?} could not have been closed"
                );
                continue;
            }
        };
        assert!(
            line > previous,
            "{item:?} is on line {line}, not after the line before it ({previous})"
        );
        previous = line;
        let physical = lines
            .get(line.wrapping_sub(1))
            .unwrap_or_else(|| panic!("{item:?} names line {line} of {}", lines.len()));
        let t = trim_ascii(physical);
        assert!(
            !t.is_empty() && t[0] != b'#',
            "{item:?} names line {line}, which is {:?}",
            String::from_utf8_lossy(physical)
        );
    }
}

fn check_round_trip(flat: &[Item]) {
    let Some((text, expected)) = write(flat) else {
        return;
    };
    let shown = String::from_utf8_lossy(&text);
    let tree = lex(&text)
        .unwrap_or_else(|e| panic!("the tree written back does not parse ({e}):\n{shown}"));
    let again = flatten(&tree);
    assert_eq!(
        again, expected,
        "the tree written back reads differently:\n{shown}"
    );
}

/// The configuration text for `flat`, and the items it should read as
/// (line numbers those of the text). `None` when a word cannot be written
/// (none that the lexer produces, as far as is known: a word to be quoted
/// that ends in a backslash).
fn write<'a>(flat: &[Item<'a>]) -> Option<(Vec<u8>, Vec<Item<'a>>)> {
    let mut text = Vec::new();
    let mut expected = Vec::new();
    let mut line = 1;
    for item in flat {
        let written = match item {
            Item::Directive(name, args, _) => {
                expected.push(Item::Directive(name, args.clone(), line));
                words(name, args, Start::Directive)?
            }
            Item::Open(name, args, _) => {
                expected.push(Item::Open(name, args.clone(), line));
                [&b"<"[..], &words(name, args, Start::Section)?, b">"].concat()
            }
            Item::Close(name) => {
                expected.push(Item::Close(name));
                format!("</{name}>").into_bytes()
            }
        };
        text.extend_from_slice(&written);
        if written.ends_with(b"\\") {
            // A final backslash continues the line: double it and continue
            // onto an empty line, which ends the logical line.
            text.extend_from_slice(b"\\\n");
            line += 1;
        }
        text.push(b'\n');
        line += 1;
    }
    Some((text, expected))
}

/// Where the first word of a line stands.
#[derive(Clone, Copy)]
enum Start {
    /// A directive: a bare first word must not start a tag or a comment.
    Directive,
    /// After `<`: a bare first word must not make a closing tag.
    Section,
}

fn words(name: &str, args: &[&[u8]], start: Start) -> Option<Vec<u8>> {
    let first_needs_quotes = match start {
        Start::Directive => name.starts_with(['<', '#']),
        Start::Section => name.starts_with('/'),
    };
    let mut out = word(name.as_bytes(), first_needs_quotes)?;
    for arg in args {
        out.push(b' ');
        out.extend_from_slice(&word(arg, false)?);
    }
    Some(out)
}

fn word(w: &[u8], must_quote: bool) -> Option<Vec<u8>> {
    let quote =
        must_quote || w.is_empty() || w.starts_with(b"\"") || w.starts_with(b"'") || has_space(w);
    if !quote {
        return Some(w.to_vec());
    }
    if w.ends_with(b"\\") {
        return None;
    }
    let mut out = vec![b'"'];
    for &b in w {
        if b == b'"' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    Some(out)
}
