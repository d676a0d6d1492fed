//! Request bodies. (API fixed; body being written.)
use std::ops::Range;

use super::parse::Framing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("malformed chunked body: {0}")]
    Malformed(&'static str),
    #[error("request body larger than LimitRequestBody")]
    TooLarge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub consumed: usize,
    pub data: Range<usize>,
}

#[derive(Debug)]
pub struct BodyDecoder;

impl BodyDecoder {
    pub fn new(_framing: Framing, _limit: u64) -> Self {
        BodyDecoder
    }
    pub fn decode(&mut self, _input: &[u8]) -> Result<Decoded, BodyError> {
        unimplemented!()
    }
    pub fn is_complete(&self) -> bool {
        unimplemented!()
    }
    pub fn received(&self) -> u64 {
        unimplemented!()
    }
}
