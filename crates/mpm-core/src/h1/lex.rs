//! The request head's lexical layer: the byte classes of RFC 9110
//! (`tchar`) and finding line ends fast (NUL and bare CR refused on the
//! way), for both passes of [`super::parse`].

use super::head::HeadError;

/// `tchar` of RFC 9110 §5.6.2.
const fn token_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
}
pub(super) static TOKEN: [bool; 256] = token_table();

pub(super) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| TOKEN[b as usize])
}

/// The bytes the structural scan stops at: NUL, CR, LF.
const fn special_table() -> [bool; 256] {
    let mut t = [false; 256];
    t[0] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
}
static SPECIAL: [bool; 256] = special_table();

/// One line found by the structural scan.
pub(super) enum Line {
    /// Content is `buf[from..end]`; the next line starts at `next`.
    Complete { end: usize, next: usize },
    /// No line end yet; content so far ends at `resume` (a trailing CR
    /// that may be the start of CRLF is not counted), where a later scan
    /// goes on.
    Incomplete { resume: usize },
}

/// The index of the first NUL, CR or LF in `buf[from..]`, or `buf.len()`.
///
/// Looks at eight bytes at a time: `(w - 0x0e…) & !w & 0x80…` is non-zero
/// exactly when some byte of `w` is below 0x0e (the classic "has a byte
/// less than n" test, exact for n ≤ 128), so words of ordinary text are
/// skipped whole. In a word that holds such a byte, the lowest flagged
/// byte is the first one below 0x0e (a false flag needs a borrow, which
/// only comes from a lower byte below 0x0e), found by counting trailing
/// zeros: a control byte that is not NUL, CR or LF (HT, say) is stepped
/// over without looking at the bytes before it one by one.
pub(super) fn find_special(buf: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = buf.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let low = w.wrapping_sub(LO * 0x0e) & !w & HI;
        if low == 0 {
            i += 8;
            continue;
        }
        let at = (low.trailing_zeros() / 8) as usize;
        if SPECIAL[word[at] as usize] {
            return i + at;
        }
        i += at + 1;
    }
    while let Some(&b) = buf.get(i) {
        if SPECIAL[b as usize] {
            return i;
        }
        i += 1;
    }
    buf.len()
}

/// Finds the end of the line whose unscanned part starts at `from`,
/// refusing NUL and bare CR. `Incomplete { resume }`: no line end yet, and
/// a later call may start at `resume` (a trailing CR that may begin CRLF is
/// looked at again).
pub(super) fn scan_line(buf: &[u8], from: usize) -> Result<Line, HeadError> {
    let i = find_special(buf, from);
    if let Some(&b) = buf.get(i) {
        match b {
            b'\n' => {
                return Ok(Line::Complete {
                    end: i,
                    next: i + 1,
                })
            }
            b'\r' => match buf.get(i + 1) {
                Some(b'\n') => {
                    return Ok(Line::Complete {
                        end: i,
                        next: i + 2,
                    })
                }
                Some(_) => return Err(HeadError::bad("bare CR in request head")),
                None => return Ok(Line::Incomplete { resume: i }),
            },
            _ => return Err(HeadError::bad("NUL byte in request head")),
        }
    }
    Ok(Line::Incomplete { resume: buf.len() })
}

/// The next line of an already scanned (valid) head: content end and next
/// line start.
pub(super) fn next_line(buf: &[u8], from: usize) -> (usize, usize) {
    // In a scanned head the first special byte is a CR followed by LF, or
    // an LF.
    let i = find_special(buf, from);
    match buf.get(i) {
        Some(b'\r') => (i, (i + 2).min(buf.len())),
        Some(_) => (i, i + 1),
        None => (buf.len(), buf.len()),
    }
}
