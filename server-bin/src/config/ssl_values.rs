//! The values of mod_ssl's directives: `SSLProtocol` and `SSLCipherSuite`
//! in Apache's (OpenSSL's) syntax, read into the typed values mpm's TLS
//! building takes ([`TlsVersion`], rustls' [`CipherSuite`]).

use mpm::rustls::CipherSuite;
use mpm::tls::TlsVersion;

/// A cipher suite mpmd offers, by the names `SSLCipherSuite` may give it.
struct Suite {
    /// OpenSSL's name (`ECDHE-RSA-AES128-GCM-SHA256`); TLS 1.3 suites have
    /// only their IANA name.
    openssl: &'static str,
    /// The IANA name (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`).
    iana: &'static str,
    suite: CipherSuite,
    version: TlsVersion,
}

/// The suites rustls (ring) has, in its order of preference.
const SUITES: [Suite; 9] = [
    Suite {
        openssl: "TLS_AES_256_GCM_SHA384",
        iana: "TLS_AES_256_GCM_SHA384",
        suite: CipherSuite::TLS13_AES_256_GCM_SHA384,
        version: TlsVersion::Tls13,
    },
    Suite {
        openssl: "TLS_AES_128_GCM_SHA256",
        iana: "TLS_AES_128_GCM_SHA256",
        suite: CipherSuite::TLS13_AES_128_GCM_SHA256,
        version: TlsVersion::Tls13,
    },
    Suite {
        openssl: "TLS_CHACHA20_POLY1305_SHA256",
        iana: "TLS_CHACHA20_POLY1305_SHA256",
        suite: CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        version: TlsVersion::Tls13,
    },
    Suite {
        openssl: "ECDHE-ECDSA-AES256-GCM-SHA384",
        iana: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        suite: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        version: TlsVersion::Tls12,
    },
    Suite {
        openssl: "ECDHE-ECDSA-AES128-GCM-SHA256",
        iana: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        suite: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        version: TlsVersion::Tls12,
    },
    Suite {
        openssl: "ECDHE-ECDSA-CHACHA20-POLY1305",
        iana: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        suite: CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        version: TlsVersion::Tls12,
    },
    Suite {
        openssl: "ECDHE-RSA-AES256-GCM-SHA384",
        iana: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        suite: CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        version: TlsVersion::Tls12,
    },
    Suite {
        openssl: "ECDHE-RSA-AES128-GCM-SHA256",
        iana: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        suite: CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        version: TlsVersion::Tls12,
    },
    Suite {
        openssl: "ECDHE-RSA-CHACHA20-POLY1305",
        iana: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        suite: CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        version: TlsVersion::Tls12,
    },
];

/// Whether `suite` is a TLS 1.3 suite (`SSLCipherSuite TLSv1.3 …` names
/// only those; the plain form names the TLS 1.2 ones).
pub(super) fn is_tls13(suite: CipherSuite) -> bool {
    SUITES
        .iter()
        .any(|s| s.suite == suite && s.version == TlsVersion::Tls13)
}

/// OpenSSL keywords whose exclusion (`!aNULL`) names only suites rustls
/// never offers, so excluding them changes nothing.
const NEVER_OFFERED: &[&str] = &[
    "anull",
    "enull",
    "null",
    "exp",
    "export",
    "export40",
    "export56",
    "low",
    "medium",
    "md5",
    "rc4",
    "3des",
    "des",
    "idea",
    "seed",
    "camellia",
    "aria",
    "psk",
    "srp",
    "dss",
    "dsa",
    "adh",
    "aecdh",
    "kdhe",
    "dhe",
    "edh",
    "kedh",
    "sha1",
    "sha",
    "ccm",
    "ccm8",
    "aesccm",
    "aesccm8",
    "krsa",
    "cbc",
    "aes128-sha",
    "aes256-sha",
    "sslv3",
    "tlsv1",
    "ecdsa-sha1",
];

/// Parse an `SSLProtocol` value (`-all +TLSv1.2 +TLSv1.3`, `TLSv1.3`,
/// `all -SSLv3 -TLSv1 -TLSv1.1`): `all` means every version rustls has
/// (TLS 1.2 and 1.3). Anything older asked for is refused with a message
/// that says what to write instead.
pub fn parse_protocols(args: &[&str]) -> Result<Vec<TlsVersion>, String> {
    let mut set: Vec<TlsVersion> = Vec::new();
    let all = [TlsVersion::Tls12, TlsVersion::Tls13];
    for (i, arg) in args.iter().enumerate() {
        let (sign, name) = match arg.as_bytes().first() {
            Some(b'+') => ('+', &arg[1..]),
            Some(b'-') => ('-', &arg[1..]),
            // A bare name replaces what came before, as in Apache.
            _ => ('=', *arg),
        };
        let versions: &[TlsVersion] = match name.to_ascii_lowercase().as_str() {
            "all" => &all,
            "tlsv1.2" => &all[..1],
            "tlsv1.3" => &all[1..],
            old @ ("sslv2" | "sslv3" | "tlsv1" | "tlsv1.1") => {
                if sign == '-' {
                    &[] // excluding what is never offered
                } else {
                    return Err(format!(
                        "SSLProtocol: {name} is not supported: mpmd speaks TLSv1.2 and TLSv1.3 only ({old} is insecure); write `SSLProtocol -all +TLSv1.2 +TLSv1.3`"
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "SSLProtocol: unknown protocol '{arg}' (use all, TLSv1.2, TLSv1.3 with + or -)"
                ))
            }
        };
        match sign {
            '=' if i == 0 => set = versions.to_vec(),
            '=' | '+' => set.extend(
                versions
                    .iter()
                    .filter(|v| !set.contains(v))
                    .copied()
                    .collect::<Vec<_>>(),
            ),
            _ => set.retain(|v| !versions.contains(v)),
        }
    }
    set.sort();
    if set.is_empty() {
        return Err(format!(
            "SSLProtocol {}: no protocol left; write `SSLProtocol -all +TLSv1.2 +TLSv1.3`",
            args.join(" ")
        ));
    }
    Ok(set)
}

/// Parse an `SSLCipherSuite` list: names separated by `:`, `,` or spaces,
/// each an OpenSSL name (`ECDHE-RSA-AES128-GCM-SHA256`) or an IANA name
/// (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, `TLS_AES_128_GCM_SHA256`) of a
/// suite rustls has; `HIGH`, `DEFAULT` and `ALL` add every suite rustls
/// has; `!name`/`-name` removes a suite, and excluding a class rustls never
/// offers (`!aNULL`, `!MD5`, `!RC4`, `!3DES` …) is accepted. Any other
/// name is refused. Returns the suites in order.
pub fn parse_cipher_suites(spec: &str) -> Result<Vec<CipherSuite>, String> {
    let mut out: Vec<CipherSuite> = Vec::new();
    for word in spec.split([':', ',', ' ', '\t']).filter(|w| !w.is_empty()) {
        let (remove, name) = match word.as_bytes()[0] {
            b'!' | b'-' => (true, &word[1..]),
            b'+' => (false, &word[1..]),
            _ => (false, word),
        };
        let lower = name.to_ascii_lowercase();
        if lower.starts_with('@') {
            continue; // @STRENGTH, @SECLEVEL=2: ordering hints
        }
        let found: Vec<CipherSuite> = match lower.as_str() {
            "high"
            | "default"
            | "all"
            | "complementofdefault"
            | "ecdhe"
            | "eecdh"
            | "aesgcm"
            | "aes"
            | "chacha20"
            | "tlsv1.2"
            | "tlsv1.3" => SUITES.iter().map(|s| s.suite).collect(),
            _ => SUITES
                .iter()
                .filter(|s| {
                    s.openssl.eq_ignore_ascii_case(name) || s.iana.eq_ignore_ascii_case(name)
                })
                .map(|s| s.suite)
                .collect(),
        };
        if found.is_empty() {
            if remove && NEVER_OFFERED.contains(&lower.as_str()) {
                continue;
            }
            return Err(format!(
                "SSLCipherSuite: '{name}' is not a cipher suite mpmd has; it has {}",
                SUITES
                    .iter()
                    .map(|s| s.openssl)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if remove {
            out.retain(|s| !found.contains(s));
        } else {
            for s in found {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
    }
    if out.is_empty() {
        return Err(format!(
            "SSLCipherSuite {spec}: no cipher suite left (name at least one, e.g. ECDHE-RSA-AES128-GCM-SHA256)"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_protocol_accepts_modern_versions_and_refuses_old_ones() {
        let p = |s: &str| parse_protocols(&s.split_whitespace().collect::<Vec<_>>());
        assert_eq!(
            p("-all +TLSv1.2 +TLSv1.3").unwrap(),
            [TlsVersion::Tls12, TlsVersion::Tls13]
        );
        assert_eq!(p("TLSv1.3").unwrap(), [TlsVersion::Tls13]);
        assert_eq!(p("all -TLSv1.3").unwrap(), [TlsVersion::Tls12]);
        assert_eq!(p("all -SSLv3 -TLSv1 -TLSv1.1").unwrap().len(), 2);
        let e = p("-all +TLSv1.1 +TLSv1.2").unwrap_err();
        assert!(
            e.contains("TLSv1.1 is not supported") && e.contains("-all +TLSv1.2 +TLSv1.3"),
            "{e}"
        );
        assert!(p("-all").unwrap_err().contains("no protocol left"));
        assert!(p("TLSv9").unwrap_err().contains("unknown protocol"));
    }

    #[test]
    fn ssl_cipher_suite_takes_openssl_and_iana_names_and_refuses_others() {
        let s = parse_cipher_suites("ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384").unwrap();
        assert_eq!(
            s,
            [
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::TLS13_AES_256_GCM_SHA384
            ]
        );
        assert_eq!(parse_cipher_suites("HIGH:!aNULL:!MD5").unwrap().len(), 9);
        assert_eq!(
            parse_cipher_suites("HIGH:!ECDHE-RSA-CHACHA20-POLY1305")
                .unwrap()
                .len(),
            8
        );
        let e = parse_cipher_suites("AES128-SHA").unwrap_err();
        assert!(e.contains("'AES128-SHA' is not a cipher suite"), "{e}");
        assert!(parse_cipher_suites("!MD5")
            .unwrap_err()
            .contains("no cipher suite left"));
    }

    #[test]
    fn every_suite_named_is_one_rustls_offers() {
        let offered: Vec<CipherSuite> = mpm::rustls::crypto::ring::default_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        for s in &SUITES {
            assert!(offered.contains(&s.suite), "{} is not offered", s.iana);
            assert_eq!(
                is_tls13(s.suite),
                s.iana.starts_with("TLS_AES") || s.iana.starts_with("TLS_CHACHA")
            );
        }
        assert_eq!(
            offered.len(),
            SUITES.len(),
            "rustls offers a suite mpmd cannot name"
        );
    }
}
