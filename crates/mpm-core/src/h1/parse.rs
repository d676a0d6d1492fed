//! Request heads. (API fixed; body being written.)
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use crate::config::Limits;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub request_line: String,
}

/// A refused request head: the status to answer; the connection closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub allow: Option<&'static str>,
    pub request_line: Option<String>,
}

pub fn parse_head(
    _buf: &[u8],
    _limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    unimplemented!("being written")
}
