//! mod_auth_basic's wire format: the credentials a client sends
//! (`Authorization: Basic base64(user:password)`, RFC 7617) and the
//! challenge a 401 carries (`WWW-Authenticate: Basic realm="…"`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::HeaderValue;

/// The user and password of `Authorization: Basic …`, as bytes: RFC 7617
/// leaves their encoding to the client, and a password file compares
/// bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Before the first `:` of the decoded pair.
    pub user: Vec<u8>,
    /// After the first `:` (it may hold more).
    pub password: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    // Never the password, not even in a test's failure message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &String::from_utf8_lossy(&self.user))
            .finish_non_exhaustive()
    }
}

/// Why an `Authorization` field gave no [`Credentials`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicError {
    /// Another scheme (`Bearer`, `Digest` …): Apache logs "client used
    /// wrong authentication scheme".
    OtherScheme,
    /// `Basic` with no token, a token that is not base64, or a decoded
    /// pair without `:`.
    Malformed,
}

/// The longest `Authorization` value read: a field is at most
/// `LimitRequestFieldSize` (8190) anyway; this bounds the work when an
/// embedder's engine allows more.
const MAX_FIELD: usize = 16 * 1024;

/// Parse the value of an `Authorization` field as Basic credentials.
///
/// The scheme is matched without regard to case and may be followed by
/// any number of spaces or tabs; the token is standard base64 with or
/// without its padding (as Apache's decoder takes it), then optional
/// trailing whitespace. The decoded pair is split at its first `:` (RFC
/// 7617: a user-id cannot hold one); a pair without `:` is malformed, as
/// Apache 2.4 refuses it.
pub fn parse_basic(value: &[u8]) -> Result<Credentials, BasicError> {
    if value.len() > MAX_FIELD {
        return Err(BasicError::Malformed);
    }
    let value = trim(value);
    let scheme_end = value
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case(b"basic") {
        return Err(BasicError::OtherScheme);
    }
    let token = trim(&value[scheme_end..]);
    if token.is_empty() || token.iter().any(|&b| b == b' ' || b == b'\t') {
        return Err(BasicError::Malformed);
    }
    let unpadded = strip_padding(token).ok_or(BasicError::Malformed)?;
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(unpadded)
        .map_err(|_| BasicError::Malformed)?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(BasicError::Malformed)?;
    Ok(Credentials {
        user: decoded[..colon].to_vec(),
        password: decoded[colon + 1..].to_vec(),
    })
}

/// `token` without its trailing `=` (at most two, and only when they
/// complete a quantum), or `None` when the padding is misplaced.
fn strip_padding(token: &[u8]) -> Option<&[u8]> {
    let pads = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - pads];
    match pads {
        0 => Some(body),
        1 | 2 if token.len() & 3 == 0 => Some(body),
        _ => None,
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `Basic realm="<realm>"`, the `WWW-Authenticate` of a 401: the realm as
/// a quoted-string (RFC 9110 §5.6.4, `"` and `\` escaped). `None` when
/// the realm holds a byte a header cannot carry (a control byte).
pub fn challenge(realm: &str) -> Option<HeaderValue> {
    let mut value = String::with_capacity(realm.len() + 16);
    value.push_str("Basic realm=\"");
    for c in realm.chars() {
        if c == '"' || c == '\\' {
            value.push('\\');
        }
        value.push(c);
    }
    value.push('"');
    HeaderValue::from_str(&value).ok()
}

/// `Basic base64(user:password)`: what a client sends (for tests and
/// embedders' clients).
pub fn encode(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(value: &str) -> (String, String) {
        let c = parse_basic(value.as_bytes()).unwrap_or_else(|e| panic!("{value:?}: {e:?}"));
        (
            String::from_utf8(c.user).unwrap(),
            String::from_utf8(c.password).unwrap(),
        )
    }

    #[test]
    fn basic_credentials_are_split_at_the_first_colon() {
        assert_eq!(
            ok(&encode("alice", "secret")),
            ("alice".into(), "secret".into())
        );
        assert_eq!(ok(&encode("bob", "a:b:c")), ("bob".into(), "a:b:c".into()));
        assert_eq!(ok(&encode("", "")), (String::new(), String::new()));
        // "Aladdin:open sesame", RFC 7617's example.
        assert_eq!(
            ok("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            ("Aladdin".into(), "open sesame".into())
        );
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_whitespace_is_lenient() {
        assert_eq!(ok("basic   YTpi").0, "a");
        assert_eq!(ok("BASIC\tYTpi  ").1, "b");
        assert_eq!(ok("  Basic YTpi").0, "a");
        // Padding may be left out, as Apache's decoder does not need it.
        assert_eq!(ok("Basic YTpiYw").1, "bc");
        assert_eq!(ok("Basic YTpiYw==").1, "bc");
    }

    #[test]
    fn other_schemes_and_malformed_tokens_are_told_apart() {
        assert_eq!(parse_basic(b"Bearer abc"), Err(BasicError::OtherScheme));
        assert_eq!(parse_basic(b"Basicx YTpi"), Err(BasicError::OtherScheme));
        assert_eq!(parse_basic(b""), Err(BasicError::OtherScheme));
        for bad in [
            "Basic",
            "Basic ",
            "Basic !!!!",
            "Basic YTpi YTpi",
            "Basic YWJj",      // "abc": no colon
            "Basic YTpi=",     // misplaced padding
            "Basic YTpiYw===", // too much padding
        ] {
            assert_eq!(
                parse_basic(bad.as_bytes()),
                Err(BasicError::Malformed),
                "{bad:?}"
            );
        }
        let long = format!("Basic {}", "A".repeat(MAX_FIELD));
        assert_eq!(parse_basic(long.as_bytes()), Err(BasicError::Malformed));
    }

    #[test]
    fn non_utf8_bytes_survive_decoding() {
        let c =
            parse_basic(format!("Basic {}", STANDARD.encode(b"\xffu:\xfe")).as_bytes()).unwrap();
        assert_eq!((c.user, c.password), (b"\xffu".to_vec(), b"\xfe".to_vec()));
    }

    #[test]
    fn the_challenge_quotes_the_realm() {
        assert_eq!(challenge("Members").unwrap(), "Basic realm=\"Members\"");
        assert_eq!(
            challenge("say \"hi\" \\ o/").unwrap(),
            "Basic realm=\"say \\\"hi\\\" \\\\ o/\""
        );
        assert!(challenge("bad\nrealm").is_none());
    }

    #[test]
    fn credentials_never_show_the_password() {
        let c = parse_basic(encode("alice", "hunter2").as_bytes()).unwrap();
        let shown = format!("{c:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
