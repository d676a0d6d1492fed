//! The scoreboard (to be written: see issue notes).
use crate::error::Error;

/// Apache's worker states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum WorkerState {
    Dead = b'.',
    Starting = b'S',
    Ready = b'_',
    Read = b'R',
    Write = b'W',
    KeepAlive = b'K',
    Dns = b'D',
    Closing = b'C',
    Logging = b'L',
    Graceful = b'G',
    Idle = b'I',
}

pub struct Scoreboard;
impl Scoreboard {
    pub fn new(_procs: usize, _threads: usize) -> Result<Self, Error> {
        Ok(Scoreboard)
    }
}
