//! What the fuzz targets share: how the fuzzer chooses the sizes of the
//! reads a driver would make, so a target can feed a parser the same bytes
//! split in every way a network could split them.
//!
//! The targets themselves live in `fuzz_targets/`, one file each; this
//! crate is built only by `cargo fuzz` (see `README.md`).

/// Read sizes chosen by the fuzzer, taken from the front of its input:
/// `[n] [n size bytes] [payload…]`. `n` is taken modulo 9, so 0 to 8 size
/// bytes; with none, every read takes all that is left (one read).
///
/// A size byte `b` below 0x80 is a small read of `1 + b % 16` bytes
/// (splits inside a line end, a chunk size, a header name); from 0x80 up
/// it is `1 + (b - 0x80) * 8` bytes (up to about 1 KiB). The sizes repeat
/// in turn until the payload is used up.
#[derive(Debug, Clone)]
pub struct Reads<'a> {
    sizes: &'a [u8],
    next: usize,
}

impl<'a> Reads<'a> {
    /// Splits `data` into the read sizes and the payload. `None` when
    /// `data` is too short to hold the sizes it announces.
    pub fn split(data: &'a [u8]) -> Option<(Reads<'a>, &'a [u8])> {
        let (&n, rest) = data.split_first()?;
        let n = usize::from(n % 9);
        if rest.len() < n {
            return None;
        }
        let (sizes, payload) = rest.split_at(n);
        Some((Reads { sizes, next: 0 }, payload))
    }

    /// Reads that each take everything left.
    pub fn whole() -> Reads<'static> {
        Reads {
            sizes: &[],
            next: 0,
        }
    }

    /// Reads of one byte each.
    pub fn bytewise() -> Reads<'static> {
        Reads {
            sizes: &[0],
            next: 0,
        }
    }

    /// The size of the next read, at least 1 (`usize::MAX` for "all").
    pub fn next_size(&mut self) -> usize {
        if self.sizes.is_empty() {
            return usize::MAX;
        }
        let b = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        if b < 0x80 {
            1 + usize::from(b % 16)
        } else {
            1 + usize::from(b - 0x80) * 8
        }
    }
}
