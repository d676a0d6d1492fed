//! What a session may accept and hold: mod_http2's directives and the
//! bounds that keep an abusive client from costing more than they say.

use crate::config::Limits;

use super::frame::DEFAULT_MAX_FRAME_SIZE;

/// A session's limits. The defaults are Apache mod_http2's where it has a
/// directive, and else bounds chosen so that no client can make a session
/// hold more than about `max_concurrent_streams × (window_size +
/// stream_max_mem) + max_header_list + max_control_backlog` bytes
/// (6.6 MiB at the defaults: 100 × (64 KiB + 64 KiB) + 64 KiB + 64 KiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H2Config {
    /// `H2MaxSessionStreams` (100): streams open at once
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`); a HEADERS that opens one more
    /// is refused with RST_STREAM(REFUSED_STREAM), which clients retry.
    pub max_concurrent_streams: u32,
    /// `H2WindowSize` (65535): each stream's receive window
    /// (`SETTINGS_INITIAL_WINDOW_SIZE`), so the most request-body bytes a
    /// stream holds before its handler reads them. The connection's window
    /// is this times `max_concurrent_streams` (at most 2^31 - 1).
    pub window_size: u32,
    /// `H2StreamMaxMemSize` (65536): the most response bytes a stream
    /// buffers before they are framed; [`Session::send_data`] takes no
    /// more ([`Event::Writable`] says when to go on).
    ///
    /// [`Session::send_data`]: super::Session::send_data
    /// [`Event::Writable`]: super::Event::Writable
    pub stream_max_mem: usize,
    /// The largest frame payload we accept (`SETTINGS_MAX_FRAME_SIZE`,
    /// 16384); a larger frame is a FRAME_SIZE_ERROR.
    pub max_frame_size: u32,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE` (65536): the largest request header
    /// list (names and values plus 32 per field, RFC 9113 §6.5.2). A list
    /// over it is decoded (the HPACK table must stay in step) but not
    /// kept, and the request is answered 431. A header block (HEADERS and
    /// CONTINUATIONs, still compressed) larger than this plus 16 KiB ends
    /// the connection with GOAWAY(ENHANCE_YOUR_CALM): it cannot decode
    /// to an acceptable list (CVE-2024-27316).
    pub max_header_list: u32,
    /// The most CONTINUATION frames one header block may have (128):
    /// more is GOAWAY(ENHANCE_YOUR_CALM), however small they are (empty
    /// CONTINUATION frames cost nothing to send; CVE-2024-27316).
    pub max_continuations: u32,
    /// Rapid reset (CVE-2023-44487): the client may reset this many
    /// streams whose response is not finished in a burst (200) …
    pub reset_burst: u32,
    /// … and then this many per second (50); past that, the connection
    /// gets GOAWAY(ENHANCE_YOUR_CALM).
    pub resets_per_second: u32,
    /// The most bytes of frames the client's own frames made us owe
    /// (SETTINGS and PING acknowledgements, RST_STREAMs, WINDOW_UPDATEs)
    /// while it does not read them (64 KiB): past that, GOAWAY
    /// (ENHANCE_YOUR_CALM). A client flooding PING or SETTINGS without
    /// reading costs no more than this.
    pub max_control_backlog: usize,
    /// The most streams one connection serves (0 for no limit; mpmd gives
    /// `MaxKeepAliveRequests`): after the last, a GOAWAY tells the client
    /// to open a new connection. Stream ids run out anyway at 2^31 - 1:
    /// a GOAWAY is sent when the client reaches it.
    pub max_requests: u32,
    /// `LimitRequestLine` (longest `:path`, 414 beyond),
    /// `LimitRequestFieldSize` (longest field, 431) and
    /// `LimitRequestFields` (most fields, 431), as for HTTP/1.1.
    pub limits: Limits,
}

impl Default for H2Config {
    fn default() -> Self {
        H2Config {
            max_concurrent_streams: 100,
            window_size: 65_535,
            stream_max_mem: 65_536,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list: 65_536,
            max_continuations: 128,
            reset_burst: 200,
            resets_per_second: 50,
            max_control_backlog: 64 * 1024,
            max_requests: 0,
            limits: Limits::default(),
        }
    }
}

impl H2Config {
    /// The largest compressed header block accepted.
    pub fn max_header_block(&self) -> usize {
        self.max_header_list as usize + 16 * 1024
    }

    /// The connection's receive window: `window_size` per stream.
    pub fn connection_window(&self) -> u32 {
        let w = u64::from(self.window_size) * u64::from(self.max_concurrent_streams.max(1));
        w.clamp(65_535, u64::from(super::frame::MAX_WINDOW)) as u32
    }
}
