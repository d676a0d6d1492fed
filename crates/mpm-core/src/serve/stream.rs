//! A streamed response body on its way out: gathered into pieces of up
//! to [`STREAM_CHUNK`] bytes, each framed in place (a chunk's size line
//! before it, its line end after) so that a piece costs one write however
//! many `read`s or `write`s made it. A handler's reader is read until a
//! piece is full or the stream ends ([`Piece::fill_from`]); a handler's
//! writer ([`BodyWriter`]) fills pieces as it writes and sends one early
//! when it flushes.

use std::io::{self, Read, Write};

use crate::h1 as engine;

/// The most bytes one piece of a stream puts on the wire, framing
/// included, so one write: the most plaintext a TLS record holds, so that
/// under TLS too a piece is one record and one write.
pub(crate) const STREAM_CHUNK: usize = 16 * 1024;

/// The framing of a full chunk: its size line (`3ff8\r\n`) and line end.
const CHUNK_FRAMING: usize = 8;

/// Room before the data for a chunk's size line (`4000\r\n` at most).
const ROOM: usize = 8;
/// Room after the data for its line end and the last chunk.
const TAIL: usize = engine::CHUNK_END.len() + engine::LAST_CHUNK.len();

/// One piece of a streamed body, framed in place when it is sent.
pub(super) struct Piece {
    buf: Vec<u8>,
    /// Data bytes held (from `ROOM`).
    len: usize,
    /// The most data bytes it holds.
    cap: usize,
    chunked: bool,
}

impl Piece {
    /// An empty piece; `chunked` frames it as a chunk.
    pub(super) fn new(chunked: bool) -> Self {
        Piece {
            buf: vec![0; ROOM + STREAM_CHUNK + TAIL],
            len: 0,
            cap: if chunked {
                STREAM_CHUNK - CHUNK_FRAMING
            } else {
                STREAM_CHUNK
            },
            chunked,
        }
    }

    /// Data bytes held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn is_full(&self) -> bool {
        self.len == self.cap
    }

    /// Copy as much of `data` as fits; how much that was.
    fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.cap - self.len);
        let at = ROOM + self.len;
        self.buf[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        n
    }

    /// Read from `reader` until the piece is full, `limit` more bytes are
    /// held, or the stream ends: `Ok(true)` when it ended.
    pub(super) fn fill_from(&mut self, reader: &mut dyn Read, limit: u64) -> io::Result<bool> {
        let end = ROOM + (self.len as u64 + limit).min(self.cap as u64) as usize;
        while ROOM + self.len < end {
            match reader.read(&mut self.buf[ROOM + self.len..end]) {
                Ok(0) => return Ok(true),
                Ok(n) => self.len += n.min(end - ROOM - self.len),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Where the framed bytes lie in `buf` (the data, with its chunk
    /// size line and line end when chunked, and the last chunk when
    /// `last`); the piece is empty again after.
    fn frame(&mut self, last: bool) -> std::ops::Range<usize> {
        let mut start = ROOM;
        let mut end = ROOM + self.len;
        if self.chunked {
            if self.len > 0 {
                let mut size = Vec::with_capacity(ROOM);
                engine::encode::chunk_header(self.len, &mut size);
                start = ROOM - size.len();
                self.buf[start..ROOM].copy_from_slice(&size);
                self.buf[end..end + engine::CHUNK_END.len()].copy_from_slice(engine::CHUNK_END);
                end += engine::CHUNK_END.len();
            }
            if last {
                self.buf[end..end + engine::LAST_CHUNK.len()].copy_from_slice(engine::LAST_CHUNK);
                end += engine::LAST_CHUNK.len();
            }
        }
        self.len = 0;
        start..end
    }

    /// The framed bytes (see [`Piece::frame`]), to write at once.
    pub(super) fn framed(&mut self, last: bool) -> &[u8] {
        let r = self.frame(last);
        &self.buf[r]
    }

    /// The framed bytes as a buffer of their own (for a write to finish
    /// later).
    pub(super) fn into_framed(mut self, last: bool) -> bytes::Bytes {
        let r = self.frame(last);
        bytes::Bytes::from(self.buf).slice(r)
    }
}

/// Read the next piece of a handler's stream into the empty `piece`, with
/// `left` bytes still due (`None`: until it ends) after the `sent` ones:
/// `Ok(true)` when it is the last. An error (logged) when the reader
/// fails, or ends before the length it promised.
pub(super) fn next_piece(
    piece: &mut Piece,
    reader: &mut dyn Read,
    left: Option<u64>,
    sent: u64,
) -> io::Result<bool> {
    let limit = left.unwrap_or(u64::MAX);
    let ended = piece.fill_from(reader, limit).inspect_err(|e| {
        log::error!("response body stream failed after {sent} bytes: {e}");
    })?;
    let n = piece.len() as u64;
    if ended && n < left.unwrap_or(0) {
        log::error!(
            "response body stream ended {} bytes short of its length; closing the connection",
            limit - n
        );
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(ended || n == limit)
}

/// Where a [`BodyWriter`] sends each framed piece: the socket (waiting
/// for room within `Timeout`), or memory.
pub(super) type Emit<'a> = dyn FnMut(&[u8]) -> io::Result<()> + 'a;

/// The body of a [`Body::Writer`](crate::Body::Writer) response as its
/// handler writes it: a [`Write`] that gathers what it is given into
/// chunks of up to 16 KiB, each sent with one write when full, and whose
/// [`flush`](Write::flush) sends what it holds at once (an event of
/// Server-Sent Events, a line of a progress report).
///
/// A write or flush fails once the client has gone (or did not take the
/// bytes within `Timeout`): end the body then, by returning the error.
/// A stream that would go on until its client leaves should also end
/// when [`BodyWriter::server_stopping`] says so. Framing is the server's:
/// chunked to an HTTP/1.1 client, delimited by closing the connection for
/// HTTP/1.0.
pub struct BodyWriter<'a> {
    piece: Piece,
    out: Out<'a>,
    stopping: &'a dyn Fn() -> bool,
    sent: u64,
    failed: Option<io::ErrorKind>,
}

/// Where a [`BodyWriter`]'s pieces go.
enum Out<'a> {
    /// The connection: each framed piece to `emit`.
    Emit(&'a mut Emit<'a>),
    /// A filter's sink ([`BodyWriter::run_into_sink`]): the pieces as
    /// they are, and `flush` flushes it.
    Sink(&'a mut dyn Write),
}

impl<'a> BodyWriter<'a> {
    pub(super) fn new(
        emit: &'a mut Emit<'a>,
        stopping: &'a dyn Fn() -> bool,
        chunked: bool,
    ) -> Self {
        BodyWriter {
            piece: Piece::new(chunked),
            out: Out::Emit(emit),
            stopping,
            sent: 0,
            failed: None,
        }
    }

    /// Whether the server is stopping or restarting (gracefully or not).
    /// An endless stream (events until the client leaves) should end when
    /// it is, by returning `Ok`: a graceful stop waits for the requests
    /// under way, as long as they last unless `GracefulShutdownTimeout`
    /// says otherwise.
    pub fn server_stopping(&self) -> bool {
        (self.stopping)()
    }

    /// Run `write` (the function of a [`Body::writer`](crate::Body::writer)
    /// body) with a writer whose bytes go to `sink` instead of the
    /// connection: how a filter changes such a body on its way out
    /// (mpm-site compresses it), `sink` turning what it is given into what
    /// the real writer sends. Bytes reach `sink` in pieces of up to 16 KiB,
    /// unframed; the function's `flush` hands over the piece held and
    /// flushes `sink` (so a compressed event stream still leaves event by
    /// event). `stopping` answers [`server_stopping`](Self::server_stopping):
    /// pass the real writer's [`stopping_signal`](Self::stopping_signal).
    /// A panic in `write` is not caught here: the real writer's runner
    /// catches it.
    pub fn run_into_sink(
        write: crate::handler::WriteFn,
        sink: &mut dyn Write,
        stopping: &dyn Fn() -> bool,
    ) -> io::Result<()> {
        let mut w = BodyWriter {
            piece: Piece::new(false),
            out: Out::Sink(sink),
            stopping,
            sent: 0,
            failed: None,
        };
        write(&mut w)?;
        w.send(true)
    }

    /// What [`server_stopping`](Self::server_stopping) asks, for a writer
    /// [`run_into_sink`](Self::run_into_sink) makes.
    pub fn stopping_signal(&self) -> &'a dyn Fn() -> bool {
        self.stopping
    }

    /// Body bytes sent so far (not counting those held for the next
    /// piece).
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    fn send(&mut self, last: bool) -> io::Result<()> {
        if let Some(kind) = self.failed {
            return Err(kind.into());
        }
        let n = self.piece.len() as u64;
        let framed = self.piece.framed(last);
        if framed.is_empty() {
            return Ok(());
        }
        let sent = match &mut self.out {
            Out::Emit(emit) => emit(framed),
            Out::Sink(sink) => sink.write_all(framed),
        };
        match sent {
            Ok(()) => {
                self.sent += n;
                Ok(())
            }
            Err(e) => {
                self.failed = Some(e.kind());
                Err(e)
            }
        }
    }

    /// End the body after the handler's writer returned `outcome`:
    /// `Ok(body bytes)` when it ended well and was sent whole, else
    /// `Err(body bytes sent)` (the connection then closes, so a chunked
    /// client sees the body cut short, never a complete-looking one).
    pub(super) fn finish(
        mut self,
        outcome: std::thread::Result<io::Result<()>>,
    ) -> Result<u64, u64> {
        match outcome {
            Ok(Ok(())) => match self.send(true) {
                Ok(()) => Ok(self.sent),
                Err(_) => Err(self.sent),
            },
            Ok(Err(e)) => {
                if self.failed.is_none() {
                    log::error!("response body writer failed after {} bytes: {e}", self.sent);
                }
                Err(self.sent)
            }
            Err(panic) => {
                log::error!(
                    "response body writer panicked after {} bytes: {}; closing the connection",
                    self.sent,
                    crate::error::panic_message(&*panic)
                );
                Err(self.sent)
            }
        }
    }
}

impl Write for BodyWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(kind) = self.failed {
            return Err(kind.into());
        }
        let n = self.piece.push(data);
        if self.piece.is_full() {
            self.send(false)?;
        }
        Ok(n)
    }

    /// Send what is held now, as one chunk.
    fn flush(&mut self) -> io::Result<()> {
        self.send(false)?;
        match &mut self.out {
            Out::Emit(_) => Ok(()),
            Out::Sink(sink) => sink.flush().inspect_err(|e| self.failed = Some(e.kind())),
        }
    }
}

impl std::fmt::Debug for BodyWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyWriter")
            .field("sent", &self.sent)
            .field("held", &self.piece.len())
            .finish()
    }
}

/// Run a handler's writer body with `emit` as its output, a panic caught;
/// `stopping` says whether the server is stopping.
pub(super) fn run_writer(
    write: crate::handler::WriteFn,
    emit: &mut Emit<'_>,
    stopping: &dyn Fn() -> bool,
    chunked: bool,
) -> Result<u64, u64> {
    let mut w = BodyWriter::new(emit, stopping, chunked);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(&mut w)));
    w.finish(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        chunked: bool,
        f: impl FnOnce(&mut BodyWriter<'_>) -> io::Result<()> + Send + 'static,
    ) -> (Vec<Vec<u8>>, Result<u64, u64>) {
        let mut pieces = Vec::new();
        let mut emit = |b: &[u8]| {
            pieces.push(b.to_vec());
            Ok(())
        };
        let r = run_writer(Box::new(f), &mut emit, &|| false, chunked);
        (pieces, r)
    }

    #[test]
    fn a_flush_sends_one_chunk_and_the_end_comes_with_the_last_bytes() {
        let (pieces, r) = collect(true, |w| {
            w.write_all(b"data: 1\n\n")?;
            w.flush()?;
            w.flush()?;
            w.write_all(b"data: 2\n\n")
        });
        assert_eq!(r, Ok(18));
        assert_eq!(
            pieces,
            vec![
                b"9\r\ndata: 1\n\n\r\n".to_vec(),
                b"9\r\ndata: 2\n\n\r\n0\r\n\r\n".to_vec()
            ]
        );
    }

    #[test]
    fn writes_are_gathered_into_pieces_of_16_kib() {
        let (pieces, r) = collect(false, |w| {
            for _ in 0..5000 {
                w.write_all(b"0123456789")?;
            }
            Ok(())
        });
        assert_eq!(r, Ok(50_000));
        let sizes: Vec<usize> = pieces.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![16384, 16384, 16384, 50_000 - 3 * 16384]);
    }

    #[test]
    fn a_failed_or_panicking_writer_does_not_end_the_chunked_body() {
        let (pieces, r) = collect(true, |w| {
            w.write_all(b"abc")?;
            w.flush()?;
            Err(io::ErrorKind::Other.into())
        });
        assert_eq!((pieces, r), (vec![b"3\r\nabc\r\n".to_vec()], Err(3)));
        let (pieces, r) = collect(true, |_| panic!("on purpose"));
        assert_eq!((pieces, r), (vec![], Err(0)));
    }

    /// Yields one line per `read`, as the reader did.
    struct Lines(usize);

    impl Read for Lines {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Ok(0);
            }
            self.0 -= 1;
            let n = buf.len().min(5);
            buf[..n].copy_from_slice(&b"line\n"[..n]);
            Ok(n)
        }
    }

    #[test]
    fn a_reader_is_read_until_the_piece_is_full_the_limit_or_the_end() {
        let mut lines = Lines(5000);
        let mut p = Piece::new(true);
        assert!(!p.fill_from(&mut lines, u64::MAX).unwrap());
        assert_eq!(p.len(), STREAM_CHUNK - 8);
        let framed = p.framed(false);
        assert!(framed.starts_with(b"3ff8\r\nline\n"), "{framed:?}");
        assert!(
            framed.ends_with(b"\r\n") && framed.len() == STREAM_CHUNK,
            "a full chunk is not 16 KiB on the wire"
        );
        assert!(!p.fill_from(&mut lines, 7).unwrap());
        assert_eq!(p.framed(false), b"7\r\nline\nli\r\n");
        let mut two = Lines(2);
        assert!(p.fill_from(&mut two, u64::MAX).unwrap(), "the end not seen");
        assert_eq!(p.framed(true), b"a\r\nline\nline\n\r\n0\r\n\r\n");
    }

    #[test]
    fn a_stream_with_a_length_ends_at_it_and_fails_short_of_it() {
        let mut p = Piece::new(false);
        let mut five = Lines(1);
        assert!(
            next_piece(&mut p, &mut five, Some(5), 0).unwrap(),
            "not the last at its length"
        );
        assert_eq!(p.framed(true), b"line\n");
        let mut five = Lines(1);
        let short = next_piece(&mut p, &mut five, Some(10), 0);
        assert_eq!(
            short.map_err(|e| e.kind()),
            Err(io::ErrorKind::UnexpectedEof)
        );
        let mut p = Piece::new(true);
        let mut five = Lines(1);
        assert!(next_piece(&mut p, &mut five, None, 0).unwrap());
        assert_eq!(p.framed(true), b"5\r\nline\n\r\n0\r\n\r\n");
    }

    /// A sink that records what it is given, a flush as `|`.
    struct Recording(Vec<u8>);

    impl Write for Recording {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.0.push(b'|');
            Ok(())
        }
    }

    #[test]
    fn a_writer_run_into_a_sink_hands_over_unframed_pieces_and_flushes_it_on_flush() {
        let mut sink = Recording(Vec::new());
        let write: crate::handler::WriteFn = Box::new(|w: &mut BodyWriter<'_>| {
            assert!(
                w.server_stopping(),
                "the stopping signal given is not the one asked"
            );
            w.write_all(b"event one\n")?;
            w.flush()?;
            w.write_all(b"event two\n")
        });
        BodyWriter::run_into_sink(write, &mut sink, &|| true).unwrap();
        assert_eq!(sink.0, b"event one\n|event two\n");
    }
}
