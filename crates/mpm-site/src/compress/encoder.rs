//! Streaming encoders: a response body read through gzip (flate2, on
//! miniz_oxide) or Brotli, a buffer at a time, never whole in memory; or,
//! for a body its handler writes ([`Body::writer`](mpm_core::Body::writer)),
//! written through one ([`WriteEncoder`]), whose `flush` sends what was
//! written so far as a complete piece of the coding.
//!
//! Each encoder alive is counted ([`live_encoders`]); dropping the body
//! (the client left, the response was cut short) drops its encoder and its
//! buffers with it.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Encoding;

/// Encoders made and not yet dropped, in this process.
static LIVE: AtomicUsize = AtomicUsize::new(0);

#[cfg(test)]
thread_local! {
    /// Encoders made and not yet dropped by this thread (tests run in
    /// parallel threads, so they count their own).
    static HERE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

/// Encoders made and not yet dropped by this thread.
#[cfg(test)]
pub(crate) fn live_here() -> isize {
    HERE.with(|h| h.get())
}

/// How many encoders are alive in this process: each compressed response
/// being sent holds one until its body is dropped.
pub fn live_encoders() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// How an encoder works: the level or quality and the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `DeflateCompressionLevel` (1–9).
    pub gzip_level: u32,
    /// `BrotliCompressionQuality` (0–11).
    pub br_quality: u32,
    /// `BrotliCompressionWindow` (10–24), log₂ of the window.
    pub br_window: u32,
    /// `DeflateBufferSize`: how much input is read at a time.
    pub buffer: usize,
}

impl Default for Settings {
    /// Apache's defaults: zlib's level 6, Brotli quality 5 and window 18,
    /// 8096 bytes of input at a time.
    fn default() -> Settings {
        Settings {
            gzip_level: 6,
            br_quality: 5,
            br_window: 18,
            buffer: 8096,
        }
    }
}

impl Settings {
    /// The level of `encoding`, part of a cached variant's key.
    pub fn level(&self, encoding: Encoding) -> u32 {
        match encoding {
            Encoding::Gzip => self.gzip_level,
            Encoding::Br => self.br_quality,
        }
    }
}

/// A reader that counts itself in [`LIVE`] while it exists.
struct Counted<R> {
    inner: R,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Counted<R> {
        LIVE.fetch_add(1, Ordering::Relaxed);
        #[cfg(test)]
        HERE.with(|h| h.set(h.get() + 1));
        Counted { inner }
    }
}

impl<R> Drop for Counted<R> {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        #[cfg(test)]
        HERE.with(|h| h.set(h.get() - 1));
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

/// An encoder written to: what is written to it goes, encoded, to the
/// writer `W` it was made over; [`flush`](Write::flush) encodes what it
/// holds as a complete piece (gzip's sync flush, Brotli's flush) and
/// flushes `W`; [`finish`](WriteEncoder::finish) ends the stream.
pub struct WriteEncoder<W: Write>(Counted<Coder<W>>);

enum Coder<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Br(Box<brotli::CompressorWriter<W>>),
    /// Finished.
    Done,
}

impl<W: Write> WriteEncoder<W> {
    /// An encoder for `encoding` writing to `out`.
    pub fn new(out: W, encoding: Encoding, settings: &Settings) -> WriteEncoder<W> {
        let buffer = settings.buffer.clamp(1024, 1 << 20);
        WriteEncoder(Counted::new(match encoding {
            Encoding::Gzip => Coder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(settings.gzip_level.clamp(1, 9)),
            )),
            Encoding::Br => Coder::Br(Box::new(brotli::CompressorWriter::new(
                out,
                buffer,
                settings.br_quality.min(11),
                settings.br_window.clamp(10, 24),
            ))),
        }))
    }

    /// End the encoded stream (its trailer written to the writer). A
    /// write that fails here has failed the writer too, which says so.
    pub fn finish(self) -> io::Result<()> {
        let WriteEncoder(mut counted) = self;
        match std::mem::replace(&mut counted.inner, Coder::Done) {
            Coder::Gzip(gz) => gz.finish().map(drop),
            // Brotli's end cannot fail but in the writer, which keeps the
            // failure and reports it when the body ends.
            Coder::Br(br) => {
                br.into_inner();
                Ok(())
            }
            Coder::Done => Ok(()),
        }
    }
}

impl<W: Write> Write for WriteEncoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.0.inner {
            Coder::Gzip(gz) => gz.write(data),
            Coder::Br(br) => br.write(data),
            Coder::Done => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0.inner {
            Coder::Gzip(gz) => gz.flush(),
            Coder::Br(br) => br.flush(),
            Coder::Done => Ok(()),
        }
    }
}

/// `source` read through the encoder for `encoding`: its output is the
/// encoded body, produced as it is read.
pub fn encode_reader(
    source: Box<dyn Read + Send>,
    encoding: Encoding,
    settings: &Settings,
) -> Box<dyn Read + Send> {
    let buffer = settings.buffer.clamp(1024, 1 << 20);
    match encoding {
        Encoding::Gzip => {
            let input = io::BufReader::with_capacity(buffer, source);
            let level = flate2::Compression::new(settings.gzip_level.clamp(1, 9));
            Box::new(Counted::new(flate2::bufread::GzEncoder::new(input, level)))
        }
        Encoding::Br => Box::new(Counted::new(brotli::CompressorReader::new(
            source,
            buffer,
            settings.br_quality.min(11),
            settings.br_window.clamp(10, 24),
        ))),
    }
}

/// The whole of `source` encoded, for the cache of static variants.
pub fn encode_all(
    source: impl Read + Send + 'static,
    size_hint: usize,
    encoding: Encoding,
    settings: &Settings,
) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(size_hint / 3 + 64);
    encode_reader(Box::new(source), encoding, settings).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| b"lorem ipsum dolor sit amet "[i % 27])
            .collect()
    }

    fn decode(encoding: Encoding, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match encoding {
            Encoding::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Br => {
                brotli::Decompressor::new(data, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
        }
        out
    }

    #[test]
    fn both_encoders_round_trip_a_body() {
        let body = text(100_000);
        for encoding in [Encoding::Gzip, Encoding::Br] {
            let encoded = encode_all(
                io::Cursor::new(body.clone()),
                body.len(),
                encoding,
                &Settings::default(),
            )
            .unwrap();
            assert!(
                encoded.len() < body.len() / 10,
                "{encoding:?} did not compress"
            );
            assert_eq!(decode(encoding, &encoded), body, "{encoding:?} round trip");
        }
    }

    /// A source that yields `remaining` bytes, never more than asked, and
    /// counts how much was read.
    struct Endless(usize);
    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(4096);
            buf[..n].fill(b'a');
            self.0 += n;
            Ok(n)
        }
    }

    #[test]
    fn an_encoder_reads_its_source_a_buffer_at_a_time_and_is_freed_when_dropped() {
        for encoding in [Encoding::Gzip, Encoding::Br] {
            let before = live_here();
            let mut reader = encode_reader(Box::new(Endless(0)), encoding, &Settings::default());
            assert_eq!(live_here(), before + 1);
            let mut buf = [0u8; 100];
            // An endless source: reading some output never reads it all.
            let mut got = 0;
            while got == 0 {
                got = reader.read(&mut buf).unwrap();
            }
            drop(reader);
            assert_eq!(live_here(), before, "{encoding:?} encoder still counted");
        }
    }
}
