//! The password hashes of an htpasswd file, as Apache on Linux checks
//! them (`apr_password_validate`): bcrypt (`$2y$`, `$2a$`, `$2b$`),
//! Apache's MD5 (`$apr1$`), SHA-1 (`{SHA}`) and, as glibc's crypt(3)
//! would, SHA-256 and SHA-512 crypt (`$5$`, `$6$`). Plain text is refused
//! (Apache accepts it only on platforms without crypt(3)); so are the
//! other crypt(3) forms (DES, `$1$` MD5-crypt), with their name.
//!
//! Every comparison of a computed hash with the stored one is constant
//! time ([`subtle`]), so the time of an answer says nothing about how much
//! of a guess was right.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The password is the one the hash was made from.
    Match,
    /// It is not.
    Mismatch,
    /// The hash is of a kind mpmd does not check (named): the user cannot
    /// log in, and the operator is told which hash to write instead.
    Unsupported(&'static str),
}

/// Check `password` against `stored`, a hash as `htpasswd` writes it.
pub fn verify(stored: &str, password: &[u8]) -> Check {
    if stored.starts_with("$2y$") || stored.starts_with("$2a$") || stored.starts_with("$2b$") {
        // rust-bcrypt compares in constant time; a malformed hash is no
        // match.
        return match bcrypt::verify(password, stored) {
            Ok(true) => Check::Match,
            _ => Check::Mismatch,
        };
    }
    if let Some(rest) = stored.strip_prefix("$apr1$") {
        let salt = rest.split('$').next().unwrap_or("");
        let salt = &salt.as_bytes()[..salt.len().min(8)];
        return same(apr1(password, salt).as_bytes(), stored.as_bytes());
    }
    if let Some(encoded) = stored.strip_prefix("{SHA}") {
        let digest = Sha1::digest(password);
        return same(STANDARD.encode(digest).as_bytes(), encoded.as_bytes());
    }
    if stored.starts_with("$5$") || stored.starts_with("$6$") {
        return match sha_crypt(stored, password) {
            Some(computed) => same(computed.as_bytes(), stored.as_bytes()),
            None => Check::Mismatch,
        };
    }
    if stored.starts_with("$1$") {
        return Check::Unsupported("MD5-crypt ($1$)");
    }
    if stored.len() == 13 && stored.bytes().all(is_crypt64) {
        return Check::Unsupported("DES crypt");
    }
    Check::Unsupported("plain text or an unknown hash")
}

/// `Match` when `a` and `b` are equal, compared in constant time.
fn same(a: &[u8], b: &[u8]) -> Check {
    if bool::from(a.ct_eq(b)) {
        Check::Match
    } else {
        Check::Mismatch
    }
}

/// The alphabet of crypt(3)'s base 64.
const CRYPT64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn is_crypt64(b: u8) -> bool {
    CRYPT64.contains(&b)
}

/// Append the `n` low 6-bit groups of `v`, least significant first, in
/// crypt(3)'s base 64.
fn to64(out: &mut String, mut v: u32, n: usize) {
    for _ in 0..n {
        out.push(CRYPT64[(v & 0x3f) as usize] as char);
        v >>= 6;
    }
}

/// Apache's `$apr1$`: Poul-Henning Kamp's MD5-crypt with the magic
/// `$apr1$` (at most 8 bytes of salt, 1000 rounds), as
/// `$apr1$<salt>$<22 characters>`.
fn apr1(password: &[u8], salt: &[u8]) -> String {
    const MAGIC: &[u8] = b"$apr1$";
    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(MAGIC);
    ctx.update(salt);
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alternate[..n]);
        left -= n;
    }
    // One byte per bit of the length: a zero for a set bit, the
    // password's first byte for a clear one.
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut digest = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(digest);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(digest);
        } else {
            c.update(password);
        }
        digest = c.finalize();
    }
    let d = |i: usize| u32::from(digest[i]);
    let mut out = String::with_capacity(MAGIC.len() + salt.len() + 23);
    out.push_str("$apr1$");
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        to64(&mut out, (d(a) << 16) | (d(b) << 8) | d(c), 4);
    }
    to64(&mut out, d(11), 2);
    out
}

/// SHA-256/512 crypt (`$5$` / `$6$`, Ulrich Drepper's specification, as
/// glibc): the hash `stored` would be for `password`, in the same form
/// (`$6$rounds=N$salt$hash` keeps its `rounds=`), or `None` when `stored`
/// is not of that form.
fn sha_crypt(stored: &str, password: &[u8]) -> Option<String> {
    let (id, rest) = stored[1..].split_once('$')?;
    let (rounds, rest) = match rest.strip_prefix("rounds=") {
        Some(r) => {
            let (n, rest) = r.split_once('$')?;
            // glibc clamps the count into its range.
            let n: usize = n.parse().ok()?;
            (Some(n.clamp(1000, 999_999_999)), rest)
        }
        None => (None, rest),
    };
    let salt = rest.split_once('$').map_or(rest, |(s, _)| s);
    let salt = &salt[..salt.len().min(16)];
    let hash = match id {
        "5" => {
            let params = sha_crypt::Sha256Params::new(rounds.unwrap_or(5000)).ok()?;
            sha_crypt::sha256_crypt_b64(password, salt.as_bytes(), &params).ok()?
        }
        "6" => {
            let params = sha_crypt::Sha512Params::new(rounds.unwrap_or(5000)).ok()?;
            sha_crypt::sha512_crypt_b64(password, salt.as_bytes(), &params).ok()?
        }
        _ => return None,
    };
    Some(match rounds {
        Some(n) => format!("${id}$rounds={n}${salt}${hash}"),
        None => format!("${id}${salt}${hash}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by Apache's htpasswd 2.4 (-m, -B, -s, -2, -5) and
    // openssl passwd (-5, -6, -1).
    const APR1: &str = "$apr1$8Zk6DQVF$Pz7I9XJb2T2qQAWiSRpqU.";
    const APR1_EMPTY: &str = "$apr1$gbPrI/.V$N3CbMmpRpcRpRN54NaxSt.";
    const BCRYPT: &str = "$2y$04$gF0SP9cb2zRtjjyMJJlAH.wRXrdcdQvG1UIxMf3FC/LVRktBzJms6";
    const SHA1: &str = "{SHA}s3lY8hvguXyCP2PMxFsSNoI1V18=";
    const SHA256: &str = "$5$Vl0eF9zqA/bEfQ4x$XUAkmE/zvtljEPVKSJVIaH9IywG9T51P4Hz0nkCV/Q8";
    const SHA512_ROUNDS: &str = "$6$rounds=6000$BUBk2u2RnPjLfjjS$u1ScceobpFPdoWoA.G0vo85UgzBM0/erkWKYXMDO3A51OhDDTIU59BTfqOAf5QaXkIFCqlm55HNx5V6beBpIi0";
    const SHA512: &str = "$6$abcdefgh$RuHMAEAY4rhIgrNJMoDyPk49qTV66r6Tjlt3Vg1bkAsQhskGOXluw1ZCkWpc.oOlVD2BoVsAOHbhVn3F9Jb/x/";

    #[test]
    fn each_hash_htpasswd_writes_checks_its_password() {
        for (stored, password) in [
            (APR1, "secret"),
            (APR1_EMPTY, ""),
            (BCRYPT, "pa:ss wörd"),
            (SHA1, "sha1pass"),
            (SHA256, "two"),
            (SHA512_ROUNDS, "five"),
            (SHA512, "six"),
        ] {
            assert_eq!(
                verify(stored, password.as_bytes()),
                Check::Match,
                "{stored}"
            );
            assert_eq!(
                verify(stored, format!("{password}x").as_bytes()),
                Check::Mismatch,
                "{stored} with a wrong password"
            );
        }
    }

    #[test]
    fn bcrypt_variants_2a_and_2b_are_checked_too() {
        // The same hash under the other prefixes (the algorithm is the
        // same for passwords without 8-bit bytes).
        let hash = "$2y$04$CtZNtg5Yrsilig4m0SB/7eIeeVr0bkSUb4yN.rfAEWshmGRQ5vt8i";
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let stored = format!("{prefix}{}", &hash[4..]);
            assert_eq!(verify(&stored, b"x"), Check::Match, "{stored}");
            assert_eq!(verify(&stored, b"y"), Check::Mismatch, "{stored}");
        }
    }

    #[test]
    fn apr1_is_computed_as_apache_does() {
        assert_eq!(apr1(b"secret", b"8Zk6DQVF"), APR1);
        assert_eq!(apr1(b"", b"gbPrI/.V"), APR1_EMPTY);
    }

    #[test]
    fn plain_text_des_and_md5_crypt_are_refused_by_name() {
        assert_eq!(
            verify("plain", b"plain"),
            Check::Unsupported("plain text or an unknown hash")
        );
        assert_eq!(
            verify("qiqyhUoLpyLNI", b"crypt"),
            Check::Unsupported("DES crypt")
        );
        assert_eq!(
            verify("$1$ab$DhE4rThZkU68L.Y47EsBy1", b"md5crypt"),
            Check::Unsupported("MD5-crypt ($1$)")
        );
    }

    #[test]
    fn malformed_hashes_never_match() {
        for stored in [
            "$2y$04$short",
            "$apr1$",
            "{SHA}",
            "$6$",
            "$5$rounds=x$a$b",
            "$2y$",
        ] {
            assert_eq!(verify(stored, b""), Check::Mismatch, "{stored}");
            assert_eq!(verify(stored, b"x"), Check::Mismatch, "{stored}");
        }
    }
}
