//! A read buffer that starts small and grows the first time a read fills
//! it ([`GrowBuf`]): the scripts' small answers and bodiless requests (the
//! common case) then clear and touch a few kilobytes per request, not the
//! tens of kilobytes a big answer reads at a time. A profile of an fcgid
//! request had half its instructions in clearing such buffers.

/// A buffer of `first` bytes that becomes `max` bytes once a read filled
/// it; read into it and from it as a slice.
#[derive(Debug)]
pub struct GrowBuf {
    buf: Vec<u8>,
    max: usize,
}

impl GrowBuf {
    /// A buffer of `first` bytes, growing to `max`.
    pub fn new(first: usize, max: usize) -> GrowBuf {
        GrowBuf {
            buf: vec![0; first.min(max)],
            max,
        }
    }

    /// A read put `n` bytes at its start: when they filled it, it grows
    /// (keeping them) so the next read takes more.
    pub fn filled(&mut self, n: usize) {
        if n == self.buf.len() && n < self.max {
            self.buf.resize(self.max, 0);
        }
    }

    /// The buffer, as a vector (its length is its current size).
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

impl std::ops::Deref for GrowBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl std::ops::DerefMut for GrowBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_grows_once_a_read_fills_it_and_keeps_what_it_holds() {
        let mut b = GrowBuf::new(4, 16);
        b[..3].copy_from_slice(b"abc");
        b.filled(3);
        assert_eq!(b.len(), 4, "a read that did not fill it");
        b.copy_from_slice(b"wxyz");
        b.filled(4);
        assert_eq!(b.len(), 16);
        assert_eq!(&b[..4], b"wxyz");
        b.filled(16);
        assert_eq!(b.into_vec().len(), 16, "never past its most");
    }
}
