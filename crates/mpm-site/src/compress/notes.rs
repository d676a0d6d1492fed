//! `DeflateFilterNote` and `BrotliFilterNote`: the sizes of a compressed
//! body noted for the access log (`%{name}n`), as mod_deflate and
//! mod_brotli note them once the body has been encoded to its end: the
//! bytes that went in, the bytes that came out (for gzip, the deflate
//! stream without gzip's 10-byte header and 8-byte trailer, as zlib's
//! `total_out` counts it), and the ratio, out × 100 / in in whole percent
//! (`-` when nothing went in). A body cut short (the client left) notes
//! nothing, so the log says `-`; a HEAD notes what its GET would send
//! when that is known without encoding a stream (a file, bytes in
//! memory), as Apache does.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::Encoding;

/// What a note holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// The bytes before encoding.
    Input,
    /// The bytes the encoder made.
    Output,
    /// Output × 100 / input.
    Ratio,
}

impl NoteKind {
    /// `Input`, `Output` or `Ratio`, in any case.
    pub fn parse(word: &str) -> Option<NoteKind> {
        match word.to_ascii_lowercase().as_str() {
            "input" => Some(NoteKind::Input),
            "output" => Some(NoteKind::Output),
            "ratio" => Some(NoteKind::Ratio),
            _ => None,
        }
    }
}

/// The notes one coding's filter writes (each kind at most once, the last
/// line of a server winning, as in Apache).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterNotes {
    /// `(kind, note name)`.
    pub names: Vec<(NoteKind, String)>,
}

impl FilterNotes {
    /// Note `kind` under `name` (instead of any name it had).
    pub fn set(&mut self, kind: NoteKind, name: String) {
        self.names.retain(|(k, _)| *k != kind);
        self.names.push((kind, name));
    }

    /// `add`'s notes where it names them, else these.
    pub fn merged(&self, add: &FilterNotes) -> FilterNotes {
        let mut out = self.clone();
        for (kind, name) in &add.names {
            out.set(*kind, name.clone());
        }
        out
    }
}

/// The sizes of one body, counted while it is encoded.
#[derive(Debug, Default)]
struct Sizes {
    input: AtomicU64,
    output: AtomicU64,
    done: AtomicBool,
}

/// In a compressed response's extensions when its coding notes sizes:
/// the access log asks it for `%{name}n`.
#[derive(Debug, Clone)]
pub struct SizeNotes {
    names: Vec<(NoteKind, String)>,
    sizes: Arc<Sizes>,
    /// What the coding adds around the compressed stream (gzip's header
    /// and trailer), left out of `Output` as zlib leaves it out.
    framing: u64,
}

impl SizeNotes {
    /// Notes `names` for a body encoded with `encoding`; `None` when
    /// there are none.
    pub(super) fn new(names: &FilterNotes, encoding: Encoding) -> Option<SizeNotes> {
        (!names.names.is_empty()).then(|| SizeNotes {
            names: names.names.clone(),
            sizes: Arc::default(),
            framing: match encoding {
                Encoding::Gzip => 18,
                Encoding::Br => 0,
            },
        })
    }

    /// A body already encoded whole: `input` bytes made `output`.
    pub(super) fn whole(&self, input: u64, output: u64) {
        self.sizes.input.store(input, Ordering::Relaxed);
        self.sizes.output.store(output, Ordering::Relaxed);
        self.sizes.done.store(true, Ordering::Release);
    }

    /// The note `name` (any case), once the body was encoded to its end.
    pub fn get(&self, name: &str) -> Option<String> {
        let kind = self
            .names
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))?
            .0;
        if !self.sizes.done.load(Ordering::Acquire) {
            return None;
        }
        let input = self.sizes.input.load(Ordering::Relaxed);
        let output = self
            .sizes
            .output
            .load(Ordering::Relaxed)
            .saturating_sub(self.framing);
        Some(match kind {
            NoteKind::Input => input.to_string(),
            NoteKind::Output => output.to_string(),
            NoteKind::Ratio if input == 0 => "-".to_string(),
            NoteKind::Ratio => (output.saturating_mul(100) / input).to_string(),
        })
    }

    /// `source` counted as the encoder reads it.
    pub(super) fn count_input(&self, source: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        Box::new(Counting {
            inner: source,
            count: Arc::clone(&self.sizes),
            output: false,
        })
    }

    /// The encoder's output counted as it is read; its end marks the
    /// sizes as final.
    pub(super) fn count_output(&self, encoded: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        Box::new(Counting {
            inner: encoded,
            count: Arc::clone(&self.sizes),
            output: true,
        })
    }

    /// A writer counting what goes through it into `input` or `output`.
    pub(super) fn writer<W: Write>(&self, inner: W, output: bool) -> CountingWriter<W> {
        CountingWriter {
            inner,
            sizes: Arc::clone(&self.sizes),
            output,
        }
    }

    /// The encoded stream ended whole (a written body).
    pub(super) fn finished(&self) {
        self.sizes.done.store(true, Ordering::Release);
    }
}

/// A reader adding what it reads to one of the sizes.
struct Counting {
    inner: Box<dyn Read + Send>,
    count: Arc<Sizes>,
    /// Counts `output` (and marks the end), else `input`.
    output: bool,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let size = if self.output {
            &self.count.output
        } else {
            &self.count.input
        };
        size.fetch_add(n as u64, Ordering::Relaxed);
        if n == 0 && self.output && !buf.is_empty() {
            self.count.done.store(true, Ordering::Release);
        }
        Ok(n)
    }
}

/// A writer adding what it writes to one of the sizes.
pub(super) struct CountingWriter<W> {
    inner: W,
    sizes: Arc<Sizes>,
    output: bool,
}

impl<W> CountingWriter<W> {
    /// The writer it counted for.
    pub(super) fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        let size = if self.output {
            &self.sizes.output
        } else {
            &self.sizes.input
        };
        size.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notes(kinds: &[(NoteKind, &str)]) -> FilterNotes {
        let mut n = FilterNotes::default();
        for (kind, name) in kinds {
            n.set(*kind, name.to_string());
        }
        n
    }

    #[test]
    fn sizes_are_noted_once_the_body_ended_and_gzip_framing_is_left_out() {
        let names = notes(&[
            (NoteKind::Input, "instream"),
            (NoteKind::Output, "outstream"),
            (NoteKind::Ratio, "ratio"),
        ]);
        let gz = SizeNotes::new(&names, Encoding::Gzip).unwrap();
        let mut read = gz.count_output(gz.count_input(Box::new(io::Cursor::new(vec![7u8; 1000]))));
        let mut buf = [0u8; 600];
        assert_eq!(read.read(&mut buf).unwrap(), 600);
        assert_eq!(gz.get("ratio"), None, "not before the end");
        while read.read(&mut buf).unwrap() > 0 {}
        // The same reader counted both sides here: 1000 in, 1000 out.
        assert_eq!(gz.get("INSTREAM").as_deref(), Some("1000"));
        assert_eq!(gz.get("outstream").as_deref(), Some("982"));
        assert_eq!(gz.get("ratio").as_deref(), Some("98"));
        assert_eq!(gz.get("other"), None);
        let br = SizeNotes::new(&names, Encoding::Br).unwrap();
        br.whole(0, 1);
        assert_eq!(br.get("outstream").as_deref(), Some("1"));
        assert_eq!(br.get("ratio").as_deref(), Some("-"), "nothing went in");
    }

    #[test]
    fn a_kind_named_again_keeps_the_last_name_and_sections_merge_by_kind() {
        let base = notes(&[(NoteKind::Ratio, "r1"), (NoteKind::Input, "in")]);
        let add = notes(&[(NoteKind::Ratio, "r2")]);
        let merged = base.merged(&add);
        assert_eq!(
            merged.names,
            vec![
                (NoteKind::Input, "in".into()),
                (NoteKind::Ratio, "r2".into())
            ]
        );
        assert_eq!(NoteKind::parse("OUTPUT"), Some(NoteKind::Output));
        assert_eq!(NoteKind::parse("size"), None);
    }
}
