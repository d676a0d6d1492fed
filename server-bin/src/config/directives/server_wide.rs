//! The directives that take one value for the whole server: written in
//! the main server only, outside any section, each sets one setting. Their
//! families list them in tables (name → setter) instead of code, so each
//! such directive is one line: its name, how its value is read, and what
//! it sets. [`setter`] looks a name up in every family's table.

use super::state::Setter;

/// The setter of the one-value, server-wide directive `lower` (its
/// lower-case name), if it is one.
pub(super) fn setter(lower: &str) -> Option<Setter> {
    [
        super::server::SERVER_WIDE,
        super::mpm_common::SERVER_WIDE,
        super::protocol::SERVER_WIDE,
        super::ssl::SERVER_WIDE,
        super::remoteip::SERVER_WIDE,
        super::cgi::SERVER_WIDE,
        super::fcgid::SERVER_WIDE,
        super::h2::SERVER_WIDE,
    ]
    .into_iter()
    .flatten()
    .find(|(name, _)| *name == lower)
    .map(|&(_, set)| set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_wide_directive_is_in_one_table_once_and_lower_case() {
        let names: Vec<&str> = [
            super::super::server::SERVER_WIDE,
            super::super::mpm_common::SERVER_WIDE,
            super::super::protocol::SERVER_WIDE,
            super::super::ssl::SERVER_WIDE,
            super::super::remoteip::SERVER_WIDE,
            super::super::cgi::SERVER_WIDE,
            super::super::fcgid::SERVER_WIDE,
            super::super::h2::SERVER_WIDE,
        ]
        .into_iter()
        .flatten()
        .map(|(name, _)| *name)
        .collect();
        for (i, name) in names.iter().enumerate() {
            assert_eq!(
                *name,
                name.to_ascii_lowercase(),
                "{name} is matched in lower case"
            );
            assert!(!names[..i].contains(name), "{name} is in the tables twice");
        }
        assert!(setter("keepalive").is_some() && setter("servername").is_none());
    }
}
