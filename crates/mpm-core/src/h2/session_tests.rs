//! The session driven by a test client through in-memory bytes: RFC 9113's
//! rules and the bounds against abuse, each with the frames a client sends
//! and the frames (or events) the server answers with.

use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode};

use super::frame::{self, flag, kind, setting, Frame, FrameHeader, PREFACE};
use super::hpack::{self, Indexing};
use super::{ErrorCode, Event, H2Config, SendError, Session};

/// A frame the server sent, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Out {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Out {
    fn goaway(&self) -> Option<(u32, ErrorCode)> {
        (self.kind == kind::GOAWAY).then(|| {
            let p = &self.payload;
            (
                u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
                ErrorCode::from_u32(u32::from_be_bytes([p[4], p[5], p[6], p[7]])),
            )
        })
    }

    fn rst(&self) -> Option<(u32, ErrorCode)> {
        (self.kind == kind::RST_STREAM).then(|| {
            let p = &self.payload;
            (
                self.stream,
                ErrorCode::from_u32(u32::from_be_bytes([p[0], p[1], p[2], p[3]])),
            )
        })
    }
}

/// The client side: an HPACK encoder and decoder, and the server.
struct Client {
    server: Session,
    enc: hpack::Encoder,
    dec: hpack::Decoder,
    now: Instant,
}

fn get(path: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "GET".into()),
        (":scheme", "https".into()),
        (":path", path.into()),
        (":authority", "example.com".into()),
    ]
}

fn post(path: &str) -> Vec<(&'static str, String)> {
    let mut f = get(path);
    f[0].1 = "POST".into();
    f
}

impl Client {
    /// A client of `server`, nothing sent yet.
    fn of(server: Session) -> Client {
        Client {
            server,
            enc: hpack::Encoder::new(),
            dec: hpack::Decoder::default(),
            now: Instant::now(),
        }
    }

    /// A session past the preface and both SETTINGS, output drained.
    fn start(cfg: H2Config) -> Client {
        let mut c = Client::of(Session::new(&cfg));
        let mut wire = PREFACE.to_vec();
        frame::encode_settings(&mut wire, &[]);
        frame::encode_settings_ack(&mut wire);
        c.send(&wire);
        let out = c.read();
        assert_eq!(out[0].kind, kind::SETTINGS, "the server's preface: {out:?}");
        assert!(out
            .iter()
            .any(|f| f.kind == kind::SETTINGS && f.flags == flag::ACK));
        c
    }

    fn send(&mut self, bytes: &[u8]) {
        self.server.receive(bytes, self.now);
    }

    fn block(&mut self, fields: &[(&str, String)]) -> Vec<u8> {
        let mut b = Vec::new();
        self.enc.begin_block(&mut b);
        for (n, v) in fields {
            self.enc
                .encode(n.as_bytes(), v.as_bytes(), Indexing::Incremental, &mut b);
        }
        b
    }

    fn headers(&mut self, stream: u32, fields: &[(&str, String)], end_stream: bool) {
        let b = self.block(fields);
        let mut wire = Vec::new();
        frame::encode_header_block(&mut wire, stream, &b, end_stream, 16_384);
        self.send(&wire);
    }

    fn data(&mut self, stream: u32, data: &[u8], end_stream: bool) {
        let mut wire = Vec::new();
        frame::encode_data_header(&mut wire, stream, data.len(), end_stream);
        wire.extend_from_slice(data);
        self.send(&wire);
    }

    fn raw(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let mut wire = Vec::new();
        frame::encode_frame(&mut wire, kind, flags, stream, payload);
        self.send(&wire);
    }

    /// Everything the server has to write, as frames.
    fn read(&mut self) -> Vec<Out> {
        let mut bytes = Vec::new();
        loop {
            let out = self.server.output();
            if out.is_empty() {
                break;
            }
            bytes.extend_from_slice(out);
            let n = out.len();
            self.server.written(n);
        }
        let mut frames = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let h = FrameHeader::parse(bytes[at..at + 9].try_into().unwrap());
            let end = at + 9 + h.len as usize;
            frames.push(Out {
                kind: h.kind,
                flags: h.flags,
                stream: h.stream,
                payload: bytes[at + 9..end].to_vec(),
            });
            at = end;
        }
        frames
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    /// The response heads the server sent, decoded.
    fn decode_head(&mut self, f: &Out) -> Vec<(String, String)> {
        assert_eq!(f.kind, kind::HEADERS);
        let mut got = Vec::new();
        self.dec
            .decode(&f.payload, usize::MAX, |n, v, _| {
                got.push((
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                ))
            })
            .expect("the server's header block decodes");
        got
    }

    /// A session that has received `GET path` on stream 1.
    fn with_get(cfg: H2Config, path: &str) -> Client {
        let mut c = Client::start(cfg);
        c.headers(1, &get(path), true);
        c.request();
        c
    }

    /// The server answers `stream` with 200 and no field.
    fn respond(&mut self, stream: u32, end_stream: bool) {
        self.server
            .send_response(stream, StatusCode::OK, &HeaderMap::new(), end_stream)
            .unwrap();
    }

    /// The one request event expected now.
    fn request(&mut self) -> (u32, crate::h1::RequestHead) {
        match self.events().as_slice() {
            [Event::Request { stream, head, .. }] => (*stream, head.clone()),
            other => panic!("expected one request, the server gave {other:?}"),
        }
    }
}

fn goaway_in(frames: &[Out]) -> Option<(u32, ErrorCode)> {
    frames.iter().find_map(Out::goaway)
}

fn rst_in(frames: &[Out]) -> Option<(u32, ErrorCode)> {
    frames.iter().find_map(Out::rst)
}

#[test]
fn a_get_is_answered_with_a_headers_frame_and_a_data_frame() {
    let mut c = Client::start(H2Config::default());
    c.headers(1, &get("/hello?x=1"), true);
    let (id, head) = c.request();
    assert_eq!(id, 1);
    assert_eq!(head.method, http::Method::GET);
    assert_eq!(head.uri, "/hello?x=1");
    assert_eq!(head.version, http::Version::HTTP_2);
    assert_eq!(head.headers["host"], "example.com");
    assert_eq!(head.request_line, "GET /hello?x=1 HTTP/2.0");
    let mut h = HeaderMap::new();
    h.insert("content-type", "text/plain".parse().unwrap());
    h.insert("connection", "close".parse().unwrap());
    c.server
        .send_response(1, StatusCode::OK, &h, false)
        .unwrap();
    assert_eq!(c.server.send_data(1, b"hello", true), Ok(5));
    let out = c.read();
    assert_eq!(out.len(), 2, "{out:?}");
    let head = c.decode_head(&out[0]);
    assert_eq!(
        head,
        [
            (":status".to_string(), "200".to_string()),
            ("content-type".to_string(), "text/plain".to_string())
        ],
        "connection-specific fields are left out"
    );
    assert_eq!(out[0].flags, flag::END_HEADERS);
    assert_eq!((out[1].kind, out[1].flags), (kind::DATA, flag::END_STREAM));
    assert_eq!(out[1].payload, b"hello");
    assert!(matches!(
        c.events().as_slice(),
        [Event::Finished { stream: 1 }]
    ));
    assert!(c.server.is_idle(), "the stream is closed on both sides");
}

#[test]
fn the_server_preface_announces_its_limits_and_opens_the_connection_window() {
    let cfg = H2Config {
        max_concurrent_streams: 7,
        window_size: 1 << 20,
        ..H2Config::default()
    };
    let mut s = Session::new(&cfg);
    let out = s.output().to_vec();
    let h = FrameHeader::parse(out[..9].try_into().unwrap());
    let Ok(Frame::Settings { ack: false, params }) = Frame::parse(&h, &out[9..9 + h.len as usize])
    else {
        panic!("the server's first frame is not SETTINGS: {out:02x?}");
    };
    let params: Vec<_> = Frame::settings(params).collect();
    assert!(params.contains(&(setting::MAX_CONCURRENT_STREAMS, 7)));
    assert!(params.contains(&(setting::INITIAL_WINDOW_SIZE, 1 << 20)));
    assert!(params.contains(&(setting::ENABLE_PUSH, 0)));
    // Then WINDOW_UPDATE on stream 0 to 7 MiB.
    let rest = &out[9 + h.len as usize..];
    let h = FrameHeader::parse(rest[..9].try_into().unwrap());
    assert_eq!(
        Frame::parse(&h, &rest[9..]).unwrap(),
        Frame::WindowUpdate {
            stream: 0,
            increment: (7 << 20) - 65_535
        }
    );
}

#[test]
fn a_connection_that_does_not_open_with_the_preface_gets_goaway_protocol_error() {
    let mut s = Session::new(&H2Config::default());
    s.receive(b"GET / HTTP/1.1\r\n\r\n", Instant::now());
    let mut c = Client::of(s);
    let out = c.read();
    assert_eq!(goaway_in(&out), Some((0, ErrorCode::ProtocolError)));
    assert!(c.server.is_finished());
}

#[test]
fn a_first_frame_other_than_settings_gets_goaway_protocol_error() {
    let mut s = Session::new(&H2Config::default());
    let mut wire = PREFACE.to_vec();
    frame::encode_ping(&mut wire, false, [0; 8]);
    s.receive(&wire, Instant::now());
    let mut c = Client::of(s);
    assert_eq!(goaway_in(&c.read()), Some((0, ErrorCode::ProtocolError)));
}

#[test]
fn bytes_split_anywhere_give_the_same_events_as_bytes_at_once() {
    let mut whole = Client::start(H2Config::default());
    let mut wire = Vec::new();
    let b = whole.block(&post("/up"));
    frame::encode_header_block(&mut wire, 1, &b, false, 16_384);
    frame::encode_data_header(&mut wire, 1, 3, false);
    wire.extend_from_slice(b"abc");
    frame::encode_data_header(&mut wire, 1, 2, true);
    wire.extend_from_slice(b"de");
    whole.send(&wire);
    let want = format!("{:?}", whole.events());
    let mut split = Client::start(H2Config::default());
    for b in &wire {
        split.send(std::slice::from_ref(b));
    }
    assert_eq!(format!("{:?}", split.events()), want);
}

#[test]
fn settings_and_pings_are_acknowledged() {
    let mut c = Client::start(H2Config::default());
    c.raw(kind::PING, 0, 0, b"pingpong");
    let mut settings = Vec::new();
    frame::encode_settings(&mut settings, &[(setting::MAX_FRAME_SIZE, 1 << 20)]);
    c.send(&settings);
    let out = c.read();
    assert_eq!(
        out,
        [
            Out {
                kind: kind::PING,
                flags: flag::ACK,
                stream: 0,
                payload: b"pingpong".to_vec()
            },
            Out {
                kind: kind::SETTINGS,
                flags: flag::ACK,
                stream: 0,
                payload: vec![]
            }
        ]
    );
}

#[test]
fn settings_out_of_range_end_the_connection_with_their_codes() {
    for (id, value, code) in [
        (setting::ENABLE_PUSH, 2, ErrorCode::ProtocolError),
        (
            setting::INITIAL_WINDOW_SIZE,
            1 << 31,
            ErrorCode::FlowControlError,
        ),
        (setting::MAX_FRAME_SIZE, 16_383, ErrorCode::ProtocolError),
        (setting::MAX_FRAME_SIZE, 1 << 24, ErrorCode::ProtocolError),
    ] {
        let mut c = Client::start(H2Config::default());
        let mut wire = Vec::new();
        frame::encode_settings(&mut wire, &[(id, value)]);
        c.send(&wire);
        assert_eq!(
            goaway_in(&c.read()).map(|g| g.1),
            Some(code),
            "setting {id} = {value}"
        );
    }
}

#[test]
fn a_request_body_arrives_as_data_and_consumed_bytes_reopen_the_window() {
    let mut c = Client::start(H2Config::default());
    c.headers(1, &post("/up"), false);
    let (id, head) = c.request();
    assert_eq!(head.framing, crate::h1::Framing::Chunked);
    let chunk = vec![7u8; 16_384];
    for _ in 0..2 {
        c.data(id, &chunk, false);
    }
    let events = c.events();
    assert_eq!(events.len(), 2);
    assert!(
        c.read().is_empty(),
        "no window update before the handler reads"
    );
    c.server.consume(id, 32_768);
    let out = c.read();
    let updates: Vec<_> = out
        .iter()
        .filter(|f| f.kind == kind::WINDOW_UPDATE)
        .map(|f| f.stream)
        .collect();
    assert!(updates.contains(&1), "the stream's window reopens: {out:?}");
    c.data(id, b"end", true);
    assert!(matches!(
        c.events().as_slice(),
        [Event::Data {
            end_stream: true,
            ..
        }]
    ));
}

#[test]
fn data_beyond_the_stream_window_is_reset_with_flow_control_error() {
    let mut c = Client::start(H2Config {
        window_size: 100,
        ..H2Config::default()
    });
    c.headers(1, &post("/up"), false);
    c.request();
    c.data(1, &[0; 101], false);
    assert_eq!(rst_in(&c.read()), Some((1, ErrorCode::FlowControlError)));
    assert!(matches!(
        c.events().as_slice(),
        [Event::Reset {
            stream: 1,
            code: ErrorCode::FlowControlError
        }]
    ));
}

#[test]
fn a_body_longer_or_shorter_than_its_content_length_is_reset() {
    for (body, end) in [(&b"toolong"[..], false), (&b"ab"[..], true)] {
        let mut c = Client::start(H2Config::default());
        let mut f = post("/up");
        f.push(("content-length", "3".into()));
        c.headers(1, &f, false);
        assert_eq!(c.request().1.framing, crate::h1::Framing::Length(3));
        c.data(1, body, end);
        assert_eq!(
            rst_in(&c.read()),
            Some((1, ErrorCode::ProtocolError)),
            "{body:?}"
        );
    }
}

#[test]
fn a_response_larger_than_the_window_waits_for_window_updates() {
    let mut c = Client::with_get(H2Config::default(), "/big");
    c.respond(1, false);
    let body = vec![1u8; 65_536];
    assert_eq!(c.server.send_data(1, &body, true), Ok(65_536));
    let out = c.read();
    let sent: usize = out
        .iter()
        .filter(|f| f.kind == kind::DATA)
        .map(|f| f.payload.len())
        .sum();
    assert_eq!(sent, 65_535, "the default window lets 65535 bytes out");
    assert!(
        out.iter().all(|f| f.payload.len() <= 16_384),
        "frames within 16 KiB"
    );
    assert!(c.server.is_stalled(), "one byte waits for a window");
    // The stream's window opens but the connection's is shut.
    let mut wire = Vec::new();
    frame::encode_window_update(&mut wire, 1, 10);
    c.send(&wire);
    assert!(c.read().is_empty());
    frame::encode_window_update(&mut wire, 0, 10);
    c.send(&wire[13..]);
    let out = c.read();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].payload.len(), out[0].flags), (1, flag::END_STREAM));
}

#[test]
fn a_change_of_initial_window_size_applies_to_open_streams() {
    let mut c = Client::start(H2Config::default());
    let mut wire = Vec::new();
    frame::encode_settings(&mut wire, &[(setting::INITIAL_WINDOW_SIZE, 10)]);
    c.send(&wire);
    c.headers(1, &get("/"), true);
    c.request();
    c.read();
    c.respond(1, false);
    c.server.send_data(1, &[5; 100], true).unwrap();
    let out = c.read();
    assert_eq!(
        out.iter()
            .filter(|f| f.kind == kind::DATA)
            .map(|f| f.payload.len())
            .sum::<usize>(),
        10
    );
    // Raised to 50: the open stream gets 40 more.
    let mut wire = Vec::new();
    frame::encode_settings(&mut wire, &[(setting::INITIAL_WINDOW_SIZE, 50)]);
    c.send(&wire);
    let out = c.read();
    assert_eq!(
        out.iter()
            .filter(|f| f.kind == kind::DATA)
            .map(|f| f.payload.len())
            .sum::<usize>(),
        40
    );
}

#[test]
fn send_data_takes_no_more_than_the_stream_memory_bound_and_says_when_there_is_room() {
    let mut c = Client::with_get(
        H2Config {
            stream_max_mem: 1000,
            ..H2Config::default()
        },
        "/",
    );
    c.respond(1, false);
    assert_eq!(c.server.send_data(1, &[0; 3000], true), Ok(1000));
    assert_eq!(c.server.send_capacity(1), 0);
    c.read();
    assert!(matches!(
        c.events().as_slice(),
        [Event::Writable { stream: 1 }]
    ));
    assert_eq!(c.server.send_capacity(1), 1000);
    assert_eq!(c.server.send_data(1, &[0; 2000], true), Ok(1000));
    c.read();
    assert!(matches!(
        c.events().as_slice(),
        [Event::Writable { stream: 1 }]
    ));
    assert_eq!(c.server.send_data(1, &[0; 1000], true), Ok(1000));
    let out = c.read();
    assert_eq!(out.last().map(|f| f.flags), Some(flag::END_STREAM));
    assert!(matches!(
        c.events().as_slice(),
        [Event::Finished { stream: 1 }]
    ));
}

#[test]
fn one_slow_stream_does_not_hold_back_another() {
    let mut c = Client::start(H2Config::default());
    let mut wire = Vec::new();
    frame::encode_settings(&mut wire, &[(setting::INITIAL_WINDOW_SIZE, 0)]);
    c.send(&wire);
    c.headers(1, &get("/slow"), true);
    c.headers(3, &get("/fast"), true);
    c.events();
    c.read();
    for id in [1, 3] {
        c.respond(id, false);
        c.server.send_data(id, b"body", true).unwrap();
    }
    c.read();
    // Only stream 3 gets window.
    let mut wire = Vec::new();
    frame::encode_window_update(&mut wire, 3, 100);
    c.send(&wire);
    let out = c.read();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].stream, out[0].flags), (3, flag::END_STREAM));
}

#[test]
fn streams_past_max_concurrent_streams_are_refused() {
    let mut c = Client::start(H2Config {
        max_concurrent_streams: 2,
        ..H2Config::default()
    });
    for id in [1, 3, 5] {
        c.headers(id, &get("/"), true);
    }
    assert_eq!(c.events().len(), 2);
    assert_eq!(rst_in(&c.read()), Some((5, ErrorCode::RefusedStream)));
    // Its HPACK state was kept: a later request on a freed slot decodes.
    c.respond(1, true);
    c.read();
    c.events();
    c.headers(7, &get("/later"), true);
    assert_eq!(c.request().1.uri, "/later");
}

#[test]
fn malformed_requests_are_reset_with_protocol_error() {
    let with = |extra: (&'static str, &str)| {
        let mut f = get("/");
        f.push((extra.0, extra.1.to_string()));
        f
    };
    let cases: Vec<(&str, Vec<(&'static str, String)>)> = vec![
        ("an uppercase name", with(("X-Up", "1"))),
        ("connection", with(("connection", "keep-alive"))),
        ("transfer-encoding", with(("transfer-encoding", "chunked"))),
        ("upgrade", with(("upgrade", "websocket"))),
        ("te other than trailers", with(("te", "gzip"))),
        (
            "host differing from :authority",
            with(("host", "other.example")),
        ),
        ("userinfo in :authority", {
            let mut f = get("/");
            f[3].1 = "user@example.com".into();
            f
        }),
        ("a response pseudo-header", with((":status", "200"))),
        ("an unknown pseudo-header", with((":foo", "bar"))),
        ("a value with LF", with(("x-a", "b\nc"))),
        (
            "no :path",
            get("/").into_iter().filter(|f| f.0 != ":path").collect(),
        ),
        (
            "no :method",
            get("/").into_iter().filter(|f| f.0 != ":method").collect(),
        ),
        ("an empty :path", get("")),
        ("a :path without /", get("index.html")),
        ("a repeated :path", with((":path", "/again"))),
        ("a bad content-length", with(("content-length", "1x"))),
        (
            "a content-length on a bodiless request",
            with(("content-length", "5")),
        ),
        ("a pseudo-header after a regular field", {
            let mut f = get("/");
            f.insert(0, ("accept", "*/*".into()));
            f
        }),
    ];
    for (what, fields) in cases {
        let mut c = Client::start(H2Config::default());
        c.headers(1, &fields, true);
        let out = c.read();
        assert_eq!(
            rst_in(&out),
            Some((1, ErrorCode::ProtocolError)),
            "{what}: the server sent {out:?}"
        );
        assert!(c.events().is_empty(), "{what}: the request was handed out");
    }
}

#[test]
fn te_trailers_cookies_and_a_matching_host_are_accepted() {
    let mut c = Client::start(H2Config::default());
    let mut f = get("/");
    f.push(("te", "trailers".into()));
    f.push(("cookie", "a=1".into()));
    f.push(("cookie", "b=2".into()));
    f.push(("host", "EXAMPLE.com".into()));
    c.headers(1, &f, true);
    let (_, head) = c.request();
    assert_eq!(
        head.headers["cookie"], "a=1; b=2",
        "crumbs joined (RFC 9113 §8.2.3)"
    );
}

#[test]
fn requests_over_the_servers_limits_are_answered_414_and_431() {
    let limits = crate::config::Limits {
        request_line: 20,
        field_size: 30,
        fields: 3,
        ..crate::config::Limits::default()
    };
    let cfg = H2Config {
        limits,
        ..H2Config::default()
    };
    let long_field = {
        let mut f = get("/");
        f.push(("x-long", "y".repeat(40)));
        f
    };
    let many = {
        let mut f = get("/");
        for n in ["a", "b", "c", "d"] {
            f.push((n, "1".into()));
        }
        f
    };
    for (fields, status) in [
        (get(&format!("/{}", "p".repeat(30))), 414),
        (long_field, 431),
        (many, 431),
    ] {
        let mut c = Client::start(cfg.clone());
        c.headers(1, &fields, true);
        match c.events().as_slice() {
            [Event::Refused { stream: 1, error }] => assert_eq!(error.status.as_u16(), status),
            other => panic!("expected a {status} refusal, got {other:?}"),
        }
    }
}

#[test]
fn a_header_block_split_into_continuations_is_reassembled() {
    let mut c = Client::start(H2Config::default());
    let b = c.block(&get("/split"));
    let (first, rest) = b.split_at(3);
    c.raw(kind::HEADERS, flag::END_STREAM, 1, first);
    c.raw(kind::CONTINUATION, 0, 1, &rest[..2]);
    c.raw(kind::CONTINUATION, flag::END_HEADERS, 1, &rest[2..]);
    assert_eq!(c.request().1.uri, "/split");
}

#[test]
fn a_frame_inside_a_header_block_ends_the_connection_with_protocol_error() {
    let mut c = Client::start(H2Config::default());
    let b = c.block(&get("/"));
    c.raw(kind::HEADERS, flag::END_STREAM, 1, &b[..2]);
    c.raw(kind::PING, 0, 0, &[0; 8]);
    assert_eq!(goaway_in(&c.read()), Some((0, ErrorCode::ProtocolError)));
}

#[test]
fn a_continuation_flood_ends_the_connection_with_enhance_your_calm() {
    // CVE-2024-27316: CONTINUATION frames without END_HEADERS, forever.
    let cfg = H2Config::default();
    let mut c = Client::start(cfg.clone());
    let b = c.block(&get("/"));
    c.raw(kind::HEADERS, flag::END_STREAM, 1, &b);
    for _ in 0..cfg.max_continuations {
        c.raw(kind::CONTINUATION, 0, 1, &[]);
    }
    assert!(goaway_in(&c.read()).is_none(), "within the bound");
    c.raw(kind::CONTINUATION, 0, 1, &[]);
    assert_eq!(goaway_in(&c.read()), Some((0, ErrorCode::EnhanceYourCalm)));
    assert!(c.server.is_finished());
    // Full-size frames reach the byte bound first.
    let mut c = Client::start(cfg.clone());
    c.raw(kind::HEADERS, 0, 1, &b);
    let junk = vec![0x82u8; 16_384];
    let mut frames = 0;
    while goaway_in(&c.read()).is_none() {
        c.raw(kind::CONTINUATION, 0, 1, &junk);
        frames += 1;
        assert!(frames < 10, "no bound on the header block's size");
    }
    assert!(c.server.buffered() < cfg.max_header_block() * 2 + 64 * 1024);
}

#[test]
fn an_hpack_bomb_is_answered_431_and_the_connection_goes_on() {
    let mut c = Client::start(H2Config::default());
    // One 4000-byte field into the table, then referenced 100 times.
    let mut b = Vec::new();
    for (n, v) in get("/") {
        c.enc
            .encode(n.as_bytes(), v.as_bytes(), Indexing::Without, &mut b);
    }
    b.push(0x40);
    hpack::encode_string(b"x-bomb", &mut b);
    hpack::encode_string(&[b'a'; 4000], &mut b);
    b.extend(std::iter::repeat_n(0xbe, 100));
    let mut wire = Vec::new();
    frame::encode_header_block(&mut wire, 1, &b, true, 16_384);
    c.send(&wire);
    match c.events().as_slice() {
        [Event::Refused { stream: 1, error }] => assert_eq!(error.status.as_u16(), 431),
        other => panic!("expected a 431, got {other:?}"),
    }
    assert!(goaway_in(&c.read()).is_none());
    // The table entry the bomb added is still known: the next request
    // references it and decodes.
    let mut b = Vec::new();
    for (n, v) in get("/next") {
        c.enc
            .encode(n.as_bytes(), v.as_bytes(), Indexing::Without, &mut b);
    }
    b.push(0xbe);
    let mut wire = Vec::new();
    frame::encode_header_block(&mut wire, 3, &b, true, 16_384);
    c.send(&wire);
    assert_eq!(c.request().1.headers["x-bomb"].len(), 4000);
}

#[test]
fn rapid_resets_past_the_burst_end_the_connection_with_enhance_your_calm() {
    // CVE-2023-44487: open a stream, reset it, at once, again and again.
    let cfg = H2Config {
        reset_burst: 20,
        resets_per_second: 10,
        ..H2Config::default()
    };
    let mut c = Client::start(cfg);
    let mut id = 1;
    let mut reset = |c: &mut Client| {
        c.headers(id, &get("/"), true);
        c.raw(
            kind::RST_STREAM,
            0,
            id,
            &ErrorCode::Cancel.to_u32().to_be_bytes(),
        );
        id += 2;
    };
    for _ in 0..20 {
        reset(&mut c);
    }
    assert!(goaway_in(&c.read()).is_none(), "the burst is allowed");
    // A second later ten more are allowed.
    c.now += Duration::from_secs(1);
    for _ in 0..10 {
        reset(&mut c);
    }
    assert!(goaway_in(&c.read()).is_none(), "the rate is allowed");
    reset(&mut c);
    let out = c.read();
    assert_eq!(
        goaway_in(&out).map(|g| g.1),
        Some(ErrorCode::EnhanceYourCalm)
    );
    let events = c.events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Reset {
            code: ErrorCode::Cancel,
            ..
        }
    )));
    assert!(
        matches!(events.last(), Some(Event::ConnectionError(e)) if e.code == ErrorCode::EnhanceYourCalm)
    );
}

#[test]
fn a_ping_flood_from_a_client_that_does_not_read_ends_with_enhance_your_calm() {
    let cfg = H2Config::default();
    let mut c = Client::start(cfg.clone());
    let mut wire = Vec::new();
    for _ in 0..(cfg.max_control_backlog / 17 + 1) {
        frame::encode_ping(&mut wire, false, [1; 8]);
    }
    c.send(&wire);
    let out = c.read();
    assert_eq!(goaway_in(&out), Some((0, ErrorCode::EnhanceYourCalm)));
    assert!(c.server.buffered() < 4 * cfg.max_control_backlog);
    // A client that reads its acks may ping as often as it likes.
    let mut c = Client::start(cfg.clone());
    for _ in 0..10 * (cfg.max_control_backlog / 17) {
        c.raw(kind::PING, 0, 0, &[1; 8]);
        c.read();
    }
    assert!(!c.server.is_finished());
}

#[test]
fn a_settings_flood_from_a_client_that_does_not_read_ends_with_enhance_your_calm() {
    let cfg = H2Config::default();
    let mut c = Client::start(cfg.clone());
    let mut wire = Vec::new();
    for _ in 0..(cfg.max_control_backlog / 9 + 1) {
        frame::encode_settings(&mut wire, &[]);
    }
    c.send(&wire);
    assert_eq!(goaway_in(&c.read()), Some((0, ErrorCode::EnhanceYourCalm)));
}

#[test]
fn a_graceful_shutdown_sends_two_goaways_and_serves_what_came_before_the_second() {
    let mut c = Client::with_get(H2Config::default(), "/a");
    c.server.shutdown();
    let out = c.read();
    assert_eq!(goaway_in(&out), Some(((1 << 31) - 1, ErrorCode::NoError)));
    let ping = out
        .iter()
        .find(|f| f.kind == kind::PING)
        .expect("a PING with the GOAWAY");
    // A request in flight arrives before the client's answer: served.
    c.headers(3, &get("/b"), true);
    assert_eq!(c.request().0, 3);
    c.raw(kind::PING, flag::ACK, 0, &ping.payload.clone());
    assert_eq!(goaway_in(&c.read()), Some((3, ErrorCode::NoError)));
    // Later streams are ignored.
    c.headers(5, &get("/c"), true);
    assert!(c.events().is_empty());
    assert!(!c.server.is_finished(), "streams 1 and 3 are still open");
    for id in [1, 3] {
        c.respond(id, true);
    }
    c.read();
    assert!(
        c.server.is_finished(),
        "every stream served, nothing left to write"
    );
}

#[test]
fn finish_shutdown_sends_the_final_goaway_without_waiting_for_the_ping() {
    let mut c = Client::with_get(H2Config::default(), "/a");
    c.server.shutdown();
    c.read();
    c.server.finish_shutdown();
    assert_eq!(goaway_in(&c.read()), Some((1, ErrorCode::NoError)));
}

#[test]
fn stream_ids_must_be_odd_and_increasing() {
    let mut c = Client::start(H2Config::default());
    c.headers(2, &get("/"), true);
    assert_eq!(goaway_in(&c.read()), Some((0, ErrorCode::ProtocolError)));
    let mut c = Client::start(H2Config::default());
    c.headers(5, &get("/"), true);
    c.headers(3, &get("/"), true);
    assert_eq!(goaway_in(&c.read()), Some((5, ErrorCode::ProtocolError)));
}

#[test]
fn the_last_request_a_connection_may_serve_is_followed_by_goaway() {
    let mut c = Client::start(H2Config {
        max_requests: 2,
        ..H2Config::default()
    });
    c.headers(1, &get("/"), true);
    c.headers(3, &get("/"), true);
    assert_eq!(c.events().len(), 2);
    assert_eq!(goaway_in(&c.read()), Some((3, ErrorCode::NoError)));
    c.headers(5, &get("/"), true);
    assert!(c.events().is_empty(), "a stream past the last is ignored");
}

#[test]
fn the_last_stream_id_ends_the_connection_gracefully() {
    let mut c = Client::start(H2Config::default());
    let last = (1u32 << 31) - 1;
    c.headers(last, &get("/"), true);
    assert_eq!(c.request().0, last);
    assert_eq!(goaway_in(&c.read()), Some((last, ErrorCode::NoError)));
}

#[test]
fn frames_on_idle_and_closed_streams_get_their_errors() {
    // DATA on a stream never opened.
    let mut c = Client::start(H2Config::default());
    c.data(1, b"x", false);
    assert_eq!(goaway_in(&c.read()), Some((0, ErrorCode::ProtocolError)));
    // DATA after END_STREAM.
    let mut c = Client::with_get(H2Config::default(), "/");
    c.data(1, b"x", false);
    assert_eq!(rst_in(&c.read()), Some((1, ErrorCode::StreamClosed)));
    // RST_STREAM and WINDOW_UPDATE on a stream never opened.
    let mut c = Client::start(H2Config::default());
    c.raw(kind::RST_STREAM, 0, 1, &[0, 0, 0, 8]);
    assert_eq!(goaway_in(&c.read()), Some((0, ErrorCode::ProtocolError)));
    let mut c = Client::start(H2Config::default());
    c.raw(kind::WINDOW_UPDATE, 0, 1, &[0, 0, 0, 8]);
    assert_eq!(goaway_in(&c.read()), Some((0, ErrorCode::ProtocolError)));
    // HEADERS on a stream closed normally.
    let mut c = Client::with_get(H2Config::default(), "/");
    c.respond(1, true);
    c.read();
    c.headers(1, &get("/"), true);
    assert_eq!(
        goaway_in(&c.read()).map(|g| g.1),
        Some(ErrorCode::StreamClosed)
    );
}

#[test]
fn a_frame_larger_than_max_frame_size_ends_the_connection_with_frame_size_error() {
    let mut c = Client::start(H2Config::default());
    c.headers(1, &post("/"), false);
    c.data(1, &vec![0; 16_385], false);
    assert_eq!(
        goaway_in(&c.read()).map(|g| g.1),
        Some(ErrorCode::FrameSizeError)
    );
}

#[test]
fn trailers_end_a_request_body_and_follow_a_response_body() {
    let mut c = Client::start(H2Config::default());
    c.headers(1, &post("/"), false);
    c.request();
    c.data(1, b"body", false);
    c.headers(1, &[("x-checksum", "abc".to_string())], true);
    let events = c.events();
    assert!(
        matches!(&events[1], Event::Trailers { stream: 1, headers } if headers["x-checksum"] == "abc")
    );
    c.respond(1, false);
    c.server.send_data(1, b"x", false).unwrap();
    let mut t = HeaderMap::new();
    t.insert("grpc-status", "0".parse().unwrap());
    c.server.send_trailers(1, t).unwrap();
    let out = c.read();
    let kinds: Vec<_> = out.iter().map(|f| (f.kind, f.flags)).collect();
    assert_eq!(
        kinds,
        [
            (kind::HEADERS, flag::END_HEADERS),
            (kind::DATA, 0),
            (kind::HEADERS, flag::END_HEADERS | flag::END_STREAM)
        ]
    );
    c.decode_head(&out[0]);
    assert_eq!(
        c.decode_head(&out[2]),
        [("grpc-status".to_string(), "0".to_string())]
    );
}

#[test]
fn a_response_finished_before_the_request_body_ends_resets_the_stream_with_no_error() {
    let mut c = Client::start(H2Config::default());
    c.headers(1, &post("/"), false);
    c.request();
    c.server
        .send_response(1, StatusCode::PAYLOAD_TOO_LARGE, &HeaderMap::new(), true)
        .unwrap();
    let out = c.read();
    let kinds: Vec<_> = out.iter().map(|f| (f.kind, f.stream)).collect();
    assert_eq!(
        kinds,
        [(kind::HEADERS, 1), (kind::RST_STREAM, 1)],
        "the response comes before the reset"
    );
    assert_eq!(rst_in(&out), Some((1, ErrorCode::NoError)));
    // The client's late data is ignored.
    c.data(1, b"late", true);
    assert!(c.read().is_empty());
}

#[test]
fn sending_on_a_stream_the_client_reset_fails() {
    let mut c = Client::with_get(H2Config::default(), "/");
    c.raw(kind::RST_STREAM, 0, 1, &[0, 0, 0, 8]);
    assert!(matches!(
        c.events().as_slice(),
        [Event::Reset {
            stream: 1,
            code: ErrorCode::Cancel
        }]
    ));
    assert_eq!(
        c.server
            .send_response(1, StatusCode::OK, &HeaderMap::new(), true),
        Err(SendError::StreamGone)
    );
}

#[test]
fn an_upgraded_connection_answers_its_first_request_on_stream_one() {
    // HTTP2-Settings: MAX_CONCURRENT_STREAMS = 100, INITIAL_WINDOW_SIZE = 10.
    let settings = b"AAMAAABkAAQAAAAK";
    let mut s = Session::upgraded(&H2Config::default(), settings).unwrap();
    let mut wire = PREFACE.to_vec();
    frame::encode_settings(&mut wire, &[]);
    s.receive(&wire, Instant::now());
    let mut c = Client::of(s);
    c.read();
    c.respond(1, false);
    c.server.send_data(1, &[0; 20], true).unwrap();
    let out = c.read();
    assert_eq!(
        out[1].payload.len(),
        10,
        "the window from HTTP2-Settings applies"
    );
    assert!(Session::upgraded(&H2Config::default(), b"!!").is_err());
}

#[test]
fn a_stream_that_depends_on_itself_is_reset_and_its_header_block_still_counts() {
    let mut c = Client::start(H2Config::default());
    let b = c.block(&get("/self"));
    let mut payload = vec![0, 0, 0, 1, 16];
    payload.extend_from_slice(&b);
    c.raw(
        kind::HEADERS,
        flag::END_HEADERS | flag::END_STREAM | flag::PRIORITY,
        1,
        &payload,
    );
    assert_eq!(rst_in(&c.read()), Some((1, ErrorCode::ProtocolError)));
    assert!(c.events().is_empty());
    // The client's encoder indexed the fields; the server's decoder did too.
    c.headers(3, &get("/self"), true);
    assert_eq!(c.request().1.uri, "/self");
}

#[test]
fn an_idle_session_gives_back_its_buffers() {
    let mut c = Client::with_get(H2Config::default(), "/");
    c.respond(1, false);
    c.server.send_data(1, &[0; 60_000], true).unwrap();
    c.read();
    assert!(c.server.buffered() > 60_000);
    c.server.release_buffers();
    assert_eq!(c.server.buffered(), 0, "an idle session holds no buffer");
}

#[test]
fn an_idle_session_gives_back_the_room_of_its_stream_table() {
    // Twenty streams at once grow the stream table; once they are all
    // answered, the idle session keeps none of that room.
    let mut c = Client::start(H2Config::default());
    for id in (1..40).step_by(2) {
        c.headers(id, &get("/"), true);
    }
    let opened = c.events().len();
    assert_eq!(opened, 20);
    for id in (1..40).step_by(2) {
        c.respond(id, true);
    }
    c.read();
    c.events();
    assert!(c.server.is_idle(), "every stream answered");
    c.server.release_buffers();
    assert_eq!(
        c.server.buffered(),
        0,
        "an idle session after twenty streams still holds room"
    );
}

#[test]
fn a_session_can_move_between_threads() {
    fn is_send<T: Send + 'static>() {}
    is_send::<Session>();
    is_send::<Event>();
}

#[test]
fn a_connection_error_resets_the_open_streams_in_stream_order() {
    // Found by the h2_session fuzz target: the order followed a hash map's.
    let mut c = Client::start(H2Config::default());
    for id in [1, 3, 5, 7, 9] {
        c.headers(id, &get("/"), true);
    }
    c.events();
    c.data(0, b"", false);
    let resets: Vec<u32> = c
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Reset { stream, .. } => Some(*stream),
            _ => None,
        })
        .collect();
    assert_eq!(resets, [1, 3, 5, 7, 9]);
}

#[test]
fn a_smaller_header_table_binds_the_client_once_it_acknowledges() {
    let mut c = Client::of(Session::new(&H2Config {
        header_table_size: 256,
        ..H2Config::default()
    }));
    let out = c.read();
    assert_eq!(out[0].kind, kind::SETTINGS);
    let params = &out[0].payload;
    assert!(Frame::settings(params).any(|p| p == (setting::HEADER_TABLE_SIZE, 256)));
    let mut wire = PREFACE.to_vec();
    frame::encode_settings(&mut wire, &[]);
    frame::encode_settings_ack(&mut wire);
    c.send(&wire);
    // A block without the size update the lowered setting requires.
    c.headers(1, &get("/"), true);
    assert_eq!(
        goaway_in(&c.read()).map(|g| g.1),
        Some(ErrorCode::CompressionError)
    );
    // With it, served.
    let mut c2 = Client::start(H2Config {
        header_table_size: 256,
        ..H2Config::default()
    });
    c2.enc.set_max_size(256);
    c2.headers(1, &get("/"), true);
    assert_eq!(c2.request().0, 1);
}

#[test]
fn the_response_table_announces_its_smaller_size_in_the_first_block() {
    let mut c = Client::with_get(H2Config::default(), "/");
    c.respond(1, true);
    let out = c.read();
    // 0x3f 0xe1 0x07: a size update to 1024, then :status 200 (0x88).
    assert_eq!(out[0].payload, [0x3f, 0xe1, 0x07, 0x88]);
}

#[test]
fn a_client_that_opens_no_window_leaves_a_stalled_session_the_driver_can_abort() {
    let mut c = Client::start(H2Config::default());
    let mut wire = Vec::new();
    frame::encode_settings(&mut wire, &[(setting::INITIAL_WINDOW_SIZE, 0)]);
    c.send(&wire);
    c.headers(1, &get("/"), true);
    c.request();
    c.respond(1, false);
    c.server.send_data(1, b"never sent", true).unwrap();
    let out = c.read();
    assert!(
        out.iter().all(|f| f.kind != kind::DATA),
        "no window, no DATA: {out:?}"
    );
    assert!(c.server.is_stalled(), "bytes wait on a shut window");
    assert!(
        !c.server.wants_write(),
        "nothing to write: the driver waits"
    );
    // The driver's send timeout passes.
    c.server.abort(
        ErrorCode::FlowControlError,
        "the client opened no window in time",
    );
    assert_eq!(goaway_in(&c.read()), Some((1, ErrorCode::FlowControlError)));
    assert!(c.server.is_finished());
}
