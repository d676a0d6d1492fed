//! `listing_query`: `mpm_site::listing::ClientChoice::read`, the query
//! string a client sends to a directory listing (`?C=N;O=D;F=2;V=1;P=*.txt`,
//! as mod_autoindex reads it). Input: the query's bytes, kept to what a
//! request target may hold (the head parser refuses controls, spaces and
//! DEL before a handler sees them; bytes that are not UTF-8 are replaced,
//! as the server only passes text).
//!
//! Properties, under plain, fancy and `IgnoreClient` configurations:
//!
//! 1. It never panics, whatever the bytes.
//! 2. `IgnoreClient` ignores the query: the configuration's order and
//!    flags come back, with column sorting suppressed, and no pattern.
//! 3. The sort links the listing writes lead to the same listing: the
//!    query a column head links to (`C=…;O=…` and the choice's
//!    `link_args`), read again, gives the same flags and pattern, and the
//!    order the link names. A pattern holding `;` or `&` is the exception,
//!    as in Apache:
//!    its links escape the pattern as `ap_escape_uri` does, which leaves
//!    both as they are, so the pattern ends early there and what follows
//!    is read as more of the query (the differential harness keeps mpmd's
//!    links byte for byte as Apache's).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_site::listing::{ClientChoice, IndexOrder, SortKey};
use mpm_site::pipeline::IndexFlags;

fuzz_target!(|data: &[u8]| {
    let query: String = String::from_utf8_lossy(data)
        .chars()
        .filter(|&c| c > ' ' && c != '\x7f')
        .collect();
    let fancy = IndexFlags {
        fancy: true,
        ..IndexFlags::default()
    };
    let ignoring = IndexFlags {
        ignore_client: true,
        ..fancy
    };
    for flags in [IndexFlags::default(), fancy, ignoring] {
        let order = IndexOrder::default();
        let choice = ClientChoice::read(Some(&query), order, flags);
        if flags.ignore_client {
            assert_eq!(choice.order, order, "{query:?}: IgnoreClient changed the order");
            assert!(choice.pattern.is_none(), "{query:?}: IgnoreClient took a pattern");
            assert!(
                choice.flags.suppress_column_sorting,
                "{query:?}: IgnoreClient left the column links"
            );
            continue;
        }
        for key in [SortKey::Name, SortKey::Modified, SortKey::Size, SortKey::Description] {
            for descending in [false, true] {
                let link = format!(
                    "C={};O={}{}",
                    letter(key),
                    if descending { 'D' } else { 'A' },
                    choice.link_args
                );
                let again = ClientChoice::read(Some(&link), order, flags);
                // See property 3: the rest of such a link is read as the
                // pattern's tail would be, by Apache too.
                let separable = choice
                    .pattern
                    .as_deref()
                    .is_some_and(|p| p.contains(&b';') || p.contains(&b'&'));
                if separable {
                    continue;
                }
                assert_eq!(
                    again.order,
                    IndexOrder { key, descending },
                    "{query:?}: the link {link:?} sorts otherwise"
                );
                assert_eq!(
                    again.flags, choice.flags,
                    "{query:?}: the link {link:?} lays the listing out otherwise"
                );
                assert_eq!(
                    again.pattern, choice.pattern,
                    "{query:?}: the link {link:?} filters otherwise"
                );
            }
        }
    }
});

fn letter(key: SortKey) -> char {
    match key {
        SortKey::Name => 'N',
        SortKey::Modified => 'M',
        SortKey::Size => 'S',
        SortKey::Description => 'D',
    }
}
