//! `config_lexer`: `mpmd::config::lexer::parse`, Apache's configuration
//! syntax without meaning (logical lines, words, `<Section>` blocks).
//! Input: a configuration file's bytes (bytes that are not UTF-8 are
//! replaced: the lexer takes text today).
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
//! The loader (`config::load` from bytes, `Include` off) gets its own
//! target once it can read a configuration from memory; see README.md.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mpmd::config::lexer::{parse, Node};

const FILE: &str = "fuzz.conf";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    match parse(&text, Path::new(FILE), 1) {
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

/// One line of a tree in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item<'a> {
    Directive(&'a str, &'a [String], usize),
    Open(&'a str, &'a [String], usize),
    Close(&'a str),
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
            Node::Directive { name, args, origin } => {
                assert_eq!(origin.file, Path::new(FILE));
                out.push(Item::Directive(name, args, origin.line));
            }
            Node::Section {
                name,
                args,
                origin,
                children,
            } => {
                assert_eq!(origin.file, Path::new(FILE));
                out.push(Item::Open(name, args, origin.line));
                stack.push((children, Some(name)));
            }
        }
    }
    out
}

fn check_lines(flat: &[Item], lines: &[&str]) {
    let mut previous = 0;
    for item in flat {
        let line = match item {
            Item::Directive(_, _, line) | Item::Open(_, _, line) => *line,
            Item::Close(name) => {
                assert!(
                    !name.is_empty() && !name.contains(char::is_whitespace),
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
        let t = physical.trim();
        assert!(
            !t.is_empty() && !t.starts_with('#'),
            "{item:?} names line {line}, which is {physical:?}"
        );
    }
}

fn check_round_trip(flat: &[Item]) {
    let Some((text, expected)) = write(flat) else {
        return;
    };
    let tree = parse(&text, Path::new(FILE), 1)
        .unwrap_or_else(|e| panic!("the tree written back does not parse ({e}):\n{text}"));
    let again = flatten(&tree);
    assert_eq!(
        again, expected,
        "the tree written back reads differently:\n{text}"
    );
}

/// The configuration text for `flat`, and the items it should read as
/// (line numbers those of the text). `None` when a word cannot be written
/// (none that the lexer produces, as far as is known: a word to be quoted
/// that ends in a backslash).
fn write<'a>(flat: &[Item<'a>]) -> Option<(String, Vec<Item<'a>>)> {
    let mut text = String::new();
    let mut expected = Vec::new();
    let mut line = 1;
    for item in flat {
        let written = match item {
            Item::Directive(name, args, _) => {
                expected.push(Item::Directive(name, args, line));
                words(name, args, Start::Directive)?
            }
            Item::Open(name, args, _) => {
                expected.push(Item::Open(name, args, line));
                format!("<{}>", words(name, args, Start::Section)?)
            }
            Item::Close(name) => {
                expected.push(Item::Close(name));
                format!("</{name}>")
            }
        };
        text.push_str(&written);
        if written.ends_with('\\') {
            // A final backslash continues the line: double it and continue
            // onto an empty line, which ends the logical line.
            text.push_str("\\\n");
            line += 1;
        }
        text.push('\n');
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

fn words(name: &str, args: &[String], start: Start) -> Option<String> {
    let first_needs_quotes = match start {
        Start::Directive => name.starts_with(['<', '#']),
        Start::Section => name.starts_with('/'),
    };
    let mut out = word(name, first_needs_quotes)?;
    for arg in args {
        out.push(' ');
        out.push_str(&word(arg, false)?);
    }
    Some(out)
}

fn word(w: &str, must_quote: bool) -> Option<String> {
    let quote =
        must_quote || w.is_empty() || w.starts_with(['"', '\'']) || w.contains(char::is_whitespace);
    if !quote {
        return Some(w.to_string());
    }
    if w.ends_with('\\') {
        return None;
    }
    Some(format!("\"{}\"", w.replace('"', "\\\"")))
}
