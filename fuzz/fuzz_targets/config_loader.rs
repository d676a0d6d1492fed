//! `config_loader`: `mpmd::config::parse_bytes`, the whole Apache-syntax
//! loader (lexer, every directive, sections, virtual hosts, the MPM
//! checks) on a configuration read from memory with `Include` refused, so
//! the fuzzer never reaches the file system through it.
//!
//! Properties:
//!
//! 1. No panic, whatever the bytes (`Timeout 18446744073709551615`,
//!    10,000 nested sections, Latin-1, NULs…).
//! 2. A refusal names the file it was given and a line that exists (or no
//!    place at all for a conflict between directives), with a message.
//! 3. Loading is a function of the bytes: the same bytes load to the same
//!    configuration, or fail with the same error.
//!
//! The same bytes are then read as a `.htaccess` file (the loader's
//! directive code under `AllowOverride All`, then `Indexes` alone), with
//! the same three properties: a `.htaccess` is bytes from a site's
//! authors, read while the server runs.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mpm_site::pipeline::htaccess::HtaccessRules;
use mpm_site::pipeline::Overrides;
use mpmd::config::{parse_bytes, HtaccessContext, IncludePolicy, LoadOptions};

const FILE: &str = "/fuzz/fuzz.conf";
const HTACCESS: &str = "/fuzz/.htaccess";

fuzz_target!(|data: &[u8]| {
    let opts = LoadOptions {
        compiled_mpms: vec!["prefork", "worker", "event"],
        ..LoadOptions::default()
    };
    let first = parse_bytes(data, Path::new(FILE), &opts, IncludePolicy::Refuse);
    if let Err(e) = &first {
        assert!(!e.message.is_empty(), "an empty error: {e:?}");
        if let Some(origin) = &e.origin {
            let lines = data.split(|&b| b == b'\n').count();
            assert_eq!(origin.file, Path::new(FILE), "error names another file: {e}");
            assert!(
                (1..=lines).contains(&origin.line),
                "error names line {} of {lines}: {e}",
                origin.line
            );
        }
    }
    let again = parse_bytes(data, Path::new(FILE), &opts, IncludePolicy::Refuse);
    assert_eq!(first, again, "the same bytes loaded twice differ");

    let parser = HtaccessContext::default().parser();
    let lines = data.split(|&b| b == b'\n').count();
    for overrides in [Overrides::ALL, Overrides::INDEXES] {
        let rules = HtaccessRules {
            overrides,
            list: &[],
        };
        let parse = || parser.parse(data, Path::new(HTACCESS), Path::new("/fuzz"), &rules);
        let first = parse();
        if let Err(e) = &first {
            assert!(!e.message.is_empty(), "an empty .htaccess error: {e:?}");
            assert_eq!(e.origin.file, Path::new(HTACCESS), "error names another file: {e}");
            assert!(e.origin.line <= lines, "error names line {} of {lines}: {e}", e.origin.line);
        }
        assert_eq!(first, parse(), "the same .htaccess read twice differs");
    }
});
