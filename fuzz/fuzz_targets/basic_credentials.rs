//! `basic_credentials`: `mpm_site::auth::parse_basic`, mod_auth_basic's
//! reading of `Authorization: Basic …` (the client's bytes).
//! Input: the field's value.
//!
//! Properties:
//!
//! 1. The answer is "another scheme" exactly when the first word (after
//!    spaces and tabs) is not `Basic` in any case.
//! 2. Credentials found have no `:` in the user, and written again as
//!    `Basic base64(user:password)` they parse back the same: the parser
//!    neither loses nor invents bytes.
//! 3. The challenge made from any realm is a valid header value that
//!    starts `Basic realm="` and ends `"`, or none when the realm holds a
//!    control byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_site::auth::{challenge, parse_basic, BasicError};

fuzz_target!(|data: &[u8]| {
    let result = parse_basic(data);
    let trimmed: Vec<u8> = data
        .iter()
        .copied()
        .skip_while(|&b| b == b' ' || b == b'\t')
        .collect();
    let word: Vec<u8> = trimmed
        .iter()
        .copied()
        .take_while(|&b| b != b' ' && b != b'\t')
        .collect();
    let basic = word.eq_ignore_ascii_case(b"basic");
    if data.len() <= 16 * 1024 {
        assert_eq!(
            result == Err(BasicError::OtherScheme),
            !basic,
            "scheme {word:?} judged {result:?}"
        );
    }
    if let Ok(c) = &result {
        assert!(!c.user.contains(&b':'), "a user with a colon: {c:?}");
        let mut pair = c.user.clone();
        pair.push(b':');
        pair.extend_from_slice(&c.password);
        use base64::Engine as _;
        let again = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(&pair)
        );
        assert_eq!(
            parse_basic(again.as_bytes()).as_ref(),
            Ok(c),
            "re-encoded as {again:?}"
        );
    }
    if let Ok(realm) = std::str::from_utf8(data) {
        match challenge(realm) {
            Some(value) => {
                let text = value.as_bytes();
                assert!(text.starts_with(b"Basic realm=\"") && text.ends_with(b"\""));
            }
            None => assert!(
                realm.chars().any(|c| c.is_ascii_control() && c != '\t'),
                "no challenge for {realm:?}"
            ),
        }
    }
});
