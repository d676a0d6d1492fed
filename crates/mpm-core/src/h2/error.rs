//! HTTP/2 error codes (RFC 9113 §7) and the errors the frame layer and the
//! session raise with them.

/// An HTTP/2 error code, as RST_STREAM and GOAWAY carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0x0: graceful shutdown, or a stream no longer needed.
    NoError,
    /// 0x1: the peer broke the protocol.
    ProtocolError,
    /// 0x2: an error of our own.
    InternalError,
    /// 0x3: flow control was violated.
    FlowControlError,
    /// 0x4: SETTINGS were not acknowledged in time.
    SettingsTimeout,
    /// 0x5: a frame came on a stream already half-closed (remote) or closed.
    StreamClosed,
    /// 0x6: a frame's size is wrong.
    FrameSizeError,
    /// 0x7: the stream was refused before any processing.
    RefusedStream,
    /// 0x8: the stream is no longer needed.
    Cancel,
    /// 0x9: the header compression context is broken.
    CompressionError,
    /// 0xa: a CONNECT tunnel failed.
    ConnectError,
    /// 0xb: the peer is generating excessive load.
    EnhanceYourCalm,
    /// 0xc: the transport does not meet minimum security requirements.
    InadequateSecurity,
    /// 0xd: HTTP/1.1 is required.
    Http11Required,
    /// A code this implementation does not know (treated as
    /// `INTERNAL_ERROR`, RFC 9113 §7).
    Other(u32),
}

impl ErrorCode {
    /// The code's number on the wire.
    pub fn to_u32(self) -> u32 {
        match self {
            ErrorCode::NoError => 0x0,
            ErrorCode::ProtocolError => 0x1,
            ErrorCode::InternalError => 0x2,
            ErrorCode::FlowControlError => 0x3,
            ErrorCode::SettingsTimeout => 0x4,
            ErrorCode::StreamClosed => 0x5,
            ErrorCode::FrameSizeError => 0x6,
            ErrorCode::RefusedStream => 0x7,
            ErrorCode::Cancel => 0x8,
            ErrorCode::CompressionError => 0x9,
            ErrorCode::ConnectError => 0xa,
            ErrorCode::EnhanceYourCalm => 0xb,
            ErrorCode::InadequateSecurity => 0xc,
            ErrorCode::Http11Required => 0xd,
            ErrorCode::Other(n) => n,
        }
    }

    /// The code a number on the wire means.
    pub fn from_u32(n: u32) -> ErrorCode {
        match n {
            0x0 => ErrorCode::NoError,
            0x1 => ErrorCode::ProtocolError,
            0x2 => ErrorCode::InternalError,
            0x3 => ErrorCode::FlowControlError,
            0x4 => ErrorCode::SettingsTimeout,
            0x5 => ErrorCode::StreamClosed,
            0x6 => ErrorCode::FrameSizeError,
            0x7 => ErrorCode::RefusedStream,
            0x8 => ErrorCode::Cancel,
            0x9 => ErrorCode::CompressionError,
            0xa => ErrorCode::ConnectError,
            0xb => ErrorCode::EnhanceYourCalm,
            0xc => ErrorCode::InadequateSecurity,
            0xd => ErrorCode::Http11Required,
            n => ErrorCode::Other(n),
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ErrorCode::NoError => "NO_ERROR",
            ErrorCode::ProtocolError => "PROTOCOL_ERROR",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::FlowControlError => "FLOW_CONTROL_ERROR",
            ErrorCode::SettingsTimeout => "SETTINGS_TIMEOUT",
            ErrorCode::StreamClosed => "STREAM_CLOSED",
            ErrorCode::FrameSizeError => "FRAME_SIZE_ERROR",
            ErrorCode::RefusedStream => "REFUSED_STREAM",
            ErrorCode::Cancel => "CANCEL",
            ErrorCode::CompressionError => "COMPRESSION_ERROR",
            ErrorCode::ConnectError => "CONNECT_ERROR",
            ErrorCode::EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            ErrorCode::InadequateSecurity => "INADEQUATE_SECURITY",
            ErrorCode::Http11Required => "HTTP_1_1_REQUIRED",
            ErrorCode::Other(n) => return write!(f, "error code {n:#x}"),
        };
        f.write_str(name)
    }
}

/// A protocol error found in a frame or in the session's rules: either the
/// whole connection's (answered with GOAWAY) or one stream's (answered
/// with RST_STREAM on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Error {
    /// The code sent to the peer.
    pub code: ErrorCode,
    /// `Some(id)`: a stream error on that stream; `None`: a connection
    /// error.
    pub stream: Option<u32>,
    /// What was wrong, in English, for the error log.
    pub reason: &'static str,
}

impl H2Error {
    /// A connection error.
    pub fn connection(code: ErrorCode, reason: &'static str) -> Self {
        H2Error {
            code,
            stream: None,
            reason,
        }
    }

    /// A stream error on `stream`.
    pub fn stream(stream: u32, code: ErrorCode, reason: &'static str) -> Self {
        H2Error {
            code,
            stream: Some(stream),
            reason,
        }
    }
}

impl std::fmt::Display for H2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.stream {
            Some(id) => write!(f, "{} on stream {id}: {}", self.code, self.reason),
            None => write!(f, "{} on the connection: {}", self.code, self.reason),
        }
    }
}

impl std::error::Error for H2Error {}
