//! Which content coding a client accepts, from its `Accept-Encoding`
//! (RFC 9110 §12.5.3), among those the configuration offers.
//!
//! Apache's mod_deflate looks only for the token `gzip` and ignores
//! q-values; here a coding with `q=0` is refused, the highest q wins, and
//! between equal q-values Brotli is preferred (it is smaller for text).
//! `*` stands for every coding the header does not name. When no coding
//! is acceptable the answer is the identity one, as Apache sends it (a 406
//! for `identity;q=0` would refuse a response the client can still use).

use super::Encoding;

/// The codings a response may be sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offer {
    /// mod_deflate's `DEFLATE` filter applies.
    pub gzip: bool,
    /// mod_brotli's `BROTLI_COMPRESS` filter applies.
    pub br: bool,
}

/// The q-value of `coding` in `accept` (`None`: not named, and no `*`).
fn quality(accept: &str, name: &str) -> Option<u16> {
    let mut star = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let token = parts.next().unwrap_or("").trim();
        if token.is_empty() {
            continue;
        }
        let q = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| parse_q(v.trim()))
            })
            .next()
            .unwrap_or(Some(1000));
        // A malformed q-value makes the item meaningless: skip it.
        let Some(q) = q else { continue };
        let named = token.eq_ignore_ascii_case(name)
            || (name == "gzip" && token.eq_ignore_ascii_case("x-gzip"));
        if named {
            return Some(q);
        }
        if token == "*" {
            star = Some(q);
        }
    }
    star
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn parse_q(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    let q = whole + thousandths;
    (q <= 1000).then_some(q)
}

/// The coding to send: the acceptable one of the offer with the highest
/// q-value (Brotli on a tie), or `None` for the identity coding.
pub fn choose(accept_encoding: Option<&[u8]>, offer: Offer) -> Option<Encoding> {
    let accept = std::str::from_utf8(accept_encoding?).ok()?;
    let br = offer
        .br
        .then(|| quality(accept, "br"))
        .flatten()
        .filter(|q| *q > 0);
    let gzip = offer
        .gzip
        .then(|| quality(accept, "gzip"))
        .flatten()
        .filter(|q| *q > 0);
    match (br, gzip) {
        (Some(b), Some(g)) if g > b => Some(Encoding::Gzip),
        (Some(_), _) => Some(Encoding::Br),
        (None, Some(_)) => Some(Encoding::Gzip),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Offer = Offer {
        gzip: true,
        br: true,
    };
    const GZIP: Offer = Offer {
        gzip: true,
        br: false,
    };

    fn pick(header: &str, offer: Offer) -> Option<Encoding> {
        choose(Some(header.as_bytes()), offer)
    }

    #[test]
    fn brotli_is_preferred_when_both_are_accepted_equally() {
        assert_eq!(pick("gzip, deflate, br", BOTH), Some(Encoding::Br));
        assert_eq!(pick("br;q=0.8, gzip;q=0.8", BOTH), Some(Encoding::Br));
    }

    #[test]
    fn a_higher_q_value_wins_over_the_preference() {
        assert_eq!(pick("br;q=0.5, gzip", BOTH), Some(Encoding::Gzip));
        assert_eq!(pick("br;q=0.5, gzip;q=0.25", BOTH), Some(Encoding::Br));
    }

    #[test]
    fn a_coding_with_q_zero_is_refused() {
        assert_eq!(pick("br;q=0, gzip", BOTH), Some(Encoding::Gzip));
        assert_eq!(pick("gzip;q=0", GZIP), None);
        assert_eq!(pick("gzip;q=0.000", GZIP), None);
    }

    #[test]
    fn star_stands_for_the_codings_not_named() {
        assert_eq!(pick("*", BOTH), Some(Encoding::Br));
        assert_eq!(pick("br;q=0, *", BOTH), Some(Encoding::Gzip));
        assert_eq!(pick("*;q=0, identity", BOTH), None);
    }

    #[test]
    fn only_offered_codings_are_chosen() {
        assert_eq!(pick("br", GZIP), None);
        assert_eq!(pick("x-gzip", GZIP), Some(Encoding::Gzip));
        assert_eq!(choose(None, BOTH), None);
        assert_eq!(pick("", BOTH), None);
    }

    #[test]
    fn identity_q_zero_with_nothing_else_acceptable_falls_back_to_identity() {
        assert_eq!(pick("identity;q=0", BOTH), None);
    }

    #[test]
    fn malformed_q_values_void_their_item() {
        assert_eq!(pick("gzip;q=2", GZIP), None);
        assert_eq!(pick("gzip;q=abc", GZIP), None);
        assert_eq!(pick("gzip;q=0.5555", GZIP), None);
        assert_eq!(pick("GZIP;Q=0.5", GZIP), Some(Encoding::Gzip));
    }
}
