//! Typed configuration: protocol limits, timeouts and MPM directives.
//!
//! The defaults are Apache httpd 2.4's. Embedders fill these structs
//! directly; `mpmd` fills them from an Apache-style configuration file.

use std::time::Duration;

/// Request size limits (`LimitRequest*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `LimitRequestLine`: longest request line, in bytes (414 beyond).
    pub request_line: usize,
    /// `LimitRequestFieldSize`: longest header line, in bytes (431 beyond).
    pub field_size: usize,
    /// `LimitRequestFields`: most header lines (431 beyond); 0 for no
    /// limit, as in Apache (the head as a whole is still bounded: see
    /// [`Limits::head_capacity`]).
    pub fields: usize,
    /// `LimitRequestBody`: largest request body in bytes, 0 for no limit
    /// (413 beyond).
    pub body: u64,
    /// Most bytes of unfinished request heads one event-loop child keeps
    /// in memory at once (mpmd's `LimitRequestHeadMemory`), 0 for no
    /// budget. A head that does not arrive in one read is kept in a buffer
    /// that starts small and grows as bytes come; when growing one would
    /// pass the budget, the largest unfinished heads are refused with 431
    /// and closed first, so a crowd of clients that never finish their
    /// heads cannot take the child's memory. Heads read on threads
    /// (prefork, worker) are bounded by the number of threads instead.
    pub head_budget: usize,
}

/// The default [`Limits::head_budget`]: room for ten heads at the
/// default limits (100 fields of 8190 bytes) or a thousand 8 KiB ones,
/// per child.
pub const DEFAULT_HEAD_BUDGET: usize = 8 << 20;

/// The most bytes a head may take when `LimitRequestFields` is 0 (no
/// limit on the number of fields): about 500 fields at the default field
/// size. A head larger than the buffer it may take is refused with 431.
pub const UNLIMITED_FIELDS_HEAD: usize = 4 << 20;

impl Limits {
    /// The most header lines, with 0 (no limit) as `usize::MAX`.
    pub fn max_fields(&self) -> usize {
        if self.fields == 0 {
            usize::MAX
        } else {
            self.fields
        }
    }

    /// The most bytes a request head may take in a read buffer: the
    /// request line and every field at their limits, plus slack for line
    /// ends and empty lines before the request; [`UNLIMITED_FIELDS_HEAD`]
    /// when the number of fields is not limited.
    pub fn head_capacity(&self) -> usize {
        if self.fields == 0 {
            return self.request_line.saturating_add(UNLIMITED_FIELDS_HEAD);
        }
        self.request_line
            .saturating_add(
                self.fields
                    .saturating_mul(self.field_size.saturating_add(2)),
            )
            .saturating_add(16 * 1024)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_line: 8190,
            field_size: 8190,
            fields: 100,
            body: 1 << 30,
            head_budget: DEFAULT_HEAD_BUDGET,
        }
    }
}

/// One stage of `RequestReadTimeout` (mod_reqtimeout): an initial deadline,
/// stretched by one second for every `min_rate` bytes received, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadStage {
    /// Seconds allowed before any stretching; `Duration::ZERO` disables the
    /// stage (the plain `Timeout` applies).
    pub initial: Duration,
    /// The cap of the stretched deadline; `None` when it is not stretched
    /// beyond `initial` or has no cap (see `min_rate`).
    pub max: Option<Duration>,
    /// Bytes per second that extend the deadline by one second; 0 for none.
    pub min_rate: u32,
}

/// `RequestReadTimeout header=… body=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestReadTimeout {
    /// Deadline for the request line and headers.
    pub header: ReadStage,
    /// Deadline for the request body.
    pub body: ReadStage,
}

impl Default for RequestReadTimeout {
    /// `header=20-40,MinRate=500 body=20,MinRate=500`, mod_reqtimeout's
    /// default.
    fn default() -> Self {
        RequestReadTimeout {
            header: ReadStage {
                initial: Duration::from_secs(20),
                max: Some(Duration::from_secs(40)),
                min_rate: 500,
            },
            body: ReadStage {
                initial: Duration::from_secs(20),
                max: None,
                min_rate: 500,
            },
        }
    }
}

/// Connection timeouts and keep-alive policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// `Timeout`: the longest wait for one read or write once a request is
    /// under way (and for a TLS handshake).
    pub timeout: Duration,
    /// `KeepAlive On|Off`.
    pub keep_alive: bool,
    /// `KeepAliveTimeout`: how long an idle connection waits for its next
    /// request.
    pub keep_alive_timeout: Duration,
    /// `MaxKeepAliveRequests`: requests per connection, 0 for no limit.
    pub max_keep_alive_requests: u32,
    /// `RequestReadTimeout`.
    pub request_read: RequestReadTimeout,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            timeout: Duration::from_secs(60),
            keep_alive: true,
            keep_alive_timeout: Duration::from_secs(5),
            max_keep_alive_requests: 100,
            request_read: RequestReadTimeout::default(),
        }
    }
}

/// Everything the HTTP engine and its drivers need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolConfig {
    /// Request size limits.
    pub limits: Limits,
    /// Timeouts and keep-alive.
    pub timeouts: Timeouts,
    /// The `Server` response header value; empty for none.
    pub server_header: String,
    /// HTTP/2's settings (`H2*` directives); which addresses speak it is
    /// each listener's [`Http2Offer`].
    pub http2: Http2Config,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            server_header: concat!("mpmd/", env!("CARGO_PKG_VERSION")).to_string(),
            http2: Http2Config::default(),
        }
    }
}

/// HTTP/2's settings, with mod_http2's directive names and defaults. They
/// are what this server announces in its `SETTINGS` frame and the bounds
/// a session keeps; whether an address speaks HTTP/2 at all is its
/// listener's [`Http2Offer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http2Config {
    /// `H2MaxSessionStreams`: streams open at once on one connection
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`); a client that opens more is
    /// refused the extra streams (`REFUSED_STREAM`).
    pub max_session_streams: u32,
    /// `H2WindowSize`: each stream's receive window for request bodies
    /// (`SETTINGS_INITIAL_WINDOW_SIZE`), at most 2^31 - 1.
    pub window_size: u32,
    /// `H2StreamMaxMemSize`: the most response bytes buffered for one
    /// stream before the handler producing them waits for the client to
    /// take them (flow control).
    pub stream_max_mem: usize,
    /// `H2MaxWorkers`: mod_http2's own thread pool size. `mpmd` serves
    /// streams with the strategy's threads (event and worker: the child's
    /// `ThreadsPerChild`; prefork: the one process), so this is accepted
    /// and only bounds the streams of one connection served at once
    /// beside `max_session_streams`; `None` when not written.
    pub max_workers: Option<u32>,
}

impl Default for Http2Config {
    /// mod_http2's defaults: 100 streams, a 65535-byte window, 64 KiB
    /// buffered per stream.
    fn default() -> Self {
        Http2Config {
            max_session_streams: 100,
            window_size: 65_535,
            stream_max_mem: 65_536,
            max_workers: None,
        }
    }
}

/// How one listening address offers HTTP/2 (`Protocols`, `H2Direct`,
/// `H2Upgrade` of the address's default host). The default offers none:
/// HTTP/1.1 only, as Apache's `Protocols http/1.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Http2Offer {
    /// TLS: `h2` is among the ALPN protocols of the address's TLS
    /// configuration (`Protocols h2`); a client that picks it speaks
    /// HTTP/2 from its first byte.
    pub alpn: bool,
    /// The connection preface as the first bytes, without ALPN or an
    /// upgrade ("prior knowledge", RFC 9113 §3.3; `H2Direct`): on for a
    /// cleartext address with `Protocols h2c`, off for TLS unless
    /// `H2Direct on` with `Protocols h2`.
    pub direct: bool,
    /// An HTTP/1.1 request with `Upgrade: h2c` and `HTTP2-Settings`
    /// switches to HTTP/2 (RFC 7540 §3.2; `H2Upgrade`): on for a
    /// cleartext address with `Protocols h2c`, never on TLS (RFC 9113
    /// forbids `h2c` over TLS).
    pub upgrade: bool,
}

impl Http2Offer {
    /// True when the address speaks HTTP/2 in any way.
    pub fn any(&self) -> bool {
        self.alpn || self.direct || self.upgrade
    }
}

/// The MPM directives, with Apache's names. Each strategy reads the ones
/// that concern it, clamped once by its [`crate::Mpm::check_config`] (with
/// a warning per conflict) into the [`crate::process::clamp::Clamped`] it
/// runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpmConfig {
    /// `StartServers`: child processes made at startup; `None` for the
    /// strategy's own default (prefork 5, worker and event 3, as Apache).
    pub start_servers: Option<u32>,
    /// `MinSpareServers` (prefork).
    pub min_spare_servers: u32,
    /// `MaxSpareServers` (prefork).
    pub max_spare_servers: u32,
    /// `MinSpareThreads` (worker, event).
    pub min_spare_threads: u32,
    /// `MaxSpareThreads` (worker, event).
    pub max_spare_threads: u32,
    /// `ThreadsPerChild` (worker, event).
    pub threads_per_child: u32,
    /// `ThreadLimit`: upper bound of `ThreadsPerChild`.
    pub thread_limit: u32,
    /// `ServerLimit`: upper bound of child processes; `None` for the
    /// strategy's default (prefork 256, worker and event 16).
    pub server_limit: Option<u32>,
    /// `MaxRequestWorkers` (`MaxClients`): simultaneous requests served;
    /// `None` for the strategy's default (prefork 256, worker and event
    /// 400).
    pub max_request_workers: Option<u32>,
    /// `MaxConnectionsPerChild` (`MaxRequestsPerChild`): 0 for no limit.
    pub max_connections_per_child: u64,
    /// `AsyncRequestWorkerFactor` (event).
    pub async_request_worker_factor: u32,
    /// `ListenBacklog`.
    pub listen_backlog: i32,
    /// `GracefulShutdownTimeout`: 0 waits as long as requests last.
    pub graceful_shutdown_timeout: Duration,
    /// `User`: children run as this user (when started as root).
    pub user: Option<String>,
    /// `Group`.
    pub group: Option<String>,
}

impl Default for MpmConfig {
    fn default() -> Self {
        MpmConfig {
            start_servers: None,
            min_spare_servers: 5,
            max_spare_servers: 10,
            min_spare_threads: 75,
            max_spare_threads: 250,
            threads_per_child: 25,
            thread_limit: 64,
            server_limit: None,
            max_request_workers: None,
            max_connections_per_child: 0,
            async_request_worker_factor: 2,
            listen_backlog: 511,
            graceful_shutdown_timeout: Duration::ZERO,
            user: None,
            group: None,
        }
    }
}
