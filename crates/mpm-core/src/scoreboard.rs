//! Stand-in for the scoreboard (the shared-memory one replaces this file).
#![allow(missing_docs, dead_code)]
use std::time::{Duration, SystemTime};

use crate::error::Error;

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

#[derive(Default)]
pub struct WorkerSlot;
impl WorkerSlot {
    pub fn set_state(&self, _s: WorkerState) {}
    pub fn begin_request(&self, _c: &str, _v: &str, _r: &str) {}
    pub fn end_request(&self, _b: u64, _d: Duration) {}
    pub fn add_connection(&self) {}
}
#[derive(Default)]
pub struct ProcessSlot {
    pub pid: std::sync::atomic::AtomicI32,
}
#[derive(Clone)]
pub struct Scoreboard(std::sync::Arc<(Vec<ProcessSlot>, Vec<WorkerSlot>, usize)>);
impl Scoreboard {
    pub fn new(procs: usize, threads: usize) -> Result<Self, Error> {
        Ok(Scoreboard(std::sync::Arc::new((
            (0..procs).map(|_| ProcessSlot::default()).collect(),
            (0..procs * threads).map(|_| WorkerSlot).collect(),
            threads,
        ))))
    }
    pub fn process(&self, p: usize) -> &ProcessSlot {
        &self.0 .0[p]
    }
    pub fn worker(&self, p: usize, t: usize) -> &WorkerSlot {
        &self.0 .1[p * self.0 .2 + t]
    }
    pub fn set_generation(&self, _g: u32) {}
    pub fn set_restart_time(&self, _t: SystemTime) {}
}
