//! Response heads. (API fixed; body being written.)
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Version};

use super::parse::RequestHead;
use crate::config::Timeouts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseLength {
    NoBody,
    Known(u64),
    Chunked,
    CloseDelimited,
}

pub fn plan_length(
    _version: Version,
    _method: &Method,
    _status: StatusCode,
    _body_len: Option<u64>,
) -> ResponseLength {
    unimplemented!()
}

pub fn keep_alive_after(
    _head: &RequestHead,
    _served: u32,
    _timeouts: &Timeouts,
    _status: StatusCode,
    _length: ResponseLength,
) -> bool {
    unimplemented!()
}

#[allow(clippy::too_many_arguments)]
pub fn encode_head(
    _out: &mut Vec<u8>,
    _status: StatusCode,
    _headers: &HeaderMap,
    _length: ResponseLength,
    _keep_alive: bool,
    _version: Version,
    _server: &str,
) {
    unimplemented!()
}

pub fn error_page(_status: StatusCode, _detail: &str) -> (HeaderMap, Bytes) {
    unimplemented!()
}
pub fn chunk_header(_len: usize, _out: &mut Vec<u8>) {
    unimplemented!()
}
pub const CHUNK_END: &[u8] = b"\r\n";
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
