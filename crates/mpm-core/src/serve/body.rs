//! The request body as the handler reads it: decoded from the session,
//! read from the socket as needed within the body deadline, `100 Continue`
//! sent on the first read.

use std::io::{self, Read};
use std::time::Instant;

use super::context::{Ready, Serving};
use crate::deadline::read::ReadDeadline;
use crate::h1::{self as engine, BodyDecoder, BodyError, BodyStep};

#[derive(Debug, Clone, Copy)]
pub(super) enum BodyFailure {
    TooLarge,
    Malformed(&'static str),
    TimedOut,
    Gone,
}

pub(super) struct BodyState {
    pub(super) decoder: BodyDecoder,
    pub(super) deadline: ReadDeadline,
    pub(super) pending_continue: bool,
    pub(super) failure: Option<BodyFailure>,
}

/// The request body as the handler reads it.
pub(super) struct BodyReader<'c, 'a, 'b> {
    pub(super) conn: &'c mut Serving<'a, 'b>,
    pub(super) body: &'c mut BodyState,
}

impl Read for BodyReader<'_, '_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = self.body.failure {
            return Err(failure_error(f));
        }
        if out.is_empty() || self.body.decoder.is_complete() {
            return Ok(0);
        }
        if self.body.pending_continue {
            self.body.pending_continue = false;
            if self.conn.session.is_empty() {
                self.conn
                    .write_whole(engine::encode::CONTINUE_100)
                    .map_err(|e| self.fail(BodyFailure::Gone, e))?;
            }
        }
        let timeout = self.conn.ctx.protocol.timeouts.timeout;
        loop {
            match self.conn.session.read_body(&mut self.body.decoder, out) {
                Ok(BodyStep::Data(n)) => return Ok(n),
                Ok(BodyStep::End) => return Ok(0),
                Ok(BodyStep::NeedMore) => {}
                Err(e) => {
                    let f = match e {
                        BodyError::TooLarge => BodyFailure::TooLarge,
                        BodyError::Malformed(why) => BodyFailure::Malformed(why),
                    };
                    self.body.failure = Some(f);
                    return Err(failure_error(f));
                }
            }
            let now = Instant::now();
            if self.body.deadline.expired(now) {
                return Err(self.fail(BodyFailure::TimedOut, io::ErrorKind::TimedOut.into()));
            }
            match self
                .conn
                .wait(self.body.deadline.wait_from(now, timeout), false)
            {
                Ready::Readable => {}
                Ready::Abort => {
                    return Err(
                        self.fail(BodyFailure::Gone, io::ErrorKind::ConnectionAborted.into())
                    );
                }
                Ready::TimedOut | Ready::IdleClose => {
                    return Err(self.fail(BodyFailure::TimedOut, io::ErrorKind::TimedOut.into()));
                }
            }
            match self.conn.fill() {
                // A readiness that was not (or a TLS record not yet whole).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Ok(0) => {
                    return Err(self.fail(BodyFailure::Gone, io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(n) => self.body.deadline.on_data(n),
                Err(e) => return Err(self.fail(BodyFailure::Gone, e)),
            }
        }
    }
}

impl BodyReader<'_, '_, '_> {
    fn fail(&mut self, f: BodyFailure, e: io::Error) -> io::Error {
        self.body.failure = Some(f);
        e
    }
}

fn failure_error(f: BodyFailure) -> io::Error {
    match f {
        BodyFailure::TooLarge => io::Error::new(
            io::ErrorKind::InvalidData,
            "request body larger than LimitRequestBody",
        ),
        BodyFailure::Malformed(why) => io::Error::new(io::ErrorKind::InvalidData, why),
        BodyFailure::TimedOut => io::ErrorKind::TimedOut.into(),
        BodyFailure::Gone => io::ErrorKind::UnexpectedEof.into(),
    }
}
