//! How both logs write bytes they did not choose (a client's request line,
//! a path from the network): Apache's `ap_escape_logitem` and
//! `ap_escape_errorlog_item`, so a record stays one line and no control
//! byte reaches the terminal of whoever reads the log. The access log
//! ([`crate::access_log`]) uses it, and so does `mpmd`'s error log.

/// Whether [`escape`] backslashes `"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quotes {
    /// `\"`: the access log, whose fields are often quoted.
    Escaped,
    /// `"` as it is: the error log (as Apache's error log).
    Kept,
}

/// Escape one log item as Apache does (`ap_escape_logitem`,
/// `ap_escape_errorlog_item`): `\` backslashed, `\b \n \r \t \v` spelled
/// so, every other control byte and every byte beyond ASCII as `\xhh`, and
/// `"` backslashed or kept as `quotes` says. The one escaping of both
/// logs, so neither lets a client's bytes through that the other stops.
pub fn escape(bytes: &[u8], quotes: Quotes, out: &mut String) {
    for &b in bytes {
        match b {
            b'"' if quotes == Quotes::Kept => out.push('"'),
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x08 => out.push_str("\\b"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x0b => out.push_str("\\v"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\x");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_log_escapes_quotes_and_the_error_log_keeps_them() {
        let (mut access, mut error) = (String::new(), String::new());
        escape(b"say \"hi\"\x1b", Quotes::Escaped, &mut access);
        escape(b"say \"hi\"\x1b", Quotes::Kept, &mut error);
        assert_eq!(access, "say \\\"hi\\\"\\x1b");
        assert_eq!(error, "say \"hi\"\\x1b");
    }
}
