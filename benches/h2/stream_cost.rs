//! What one HTTP/2 stream costs the sans-IO session (`mpm_core::h2`),
//! for `valgrind --tool=callgrind` (instructions, repeatable): `STREAMS`
//! streams of a browser-like `GET /hello` on one connection, ten at a
//! time (as `h2load -m 10`), each answered `200` with the headers mpmd
//! sends and a 13-byte body, the output taken as written. No socket, no
//! TLS, no handler: the protocol's own share of a request.
//!
//! ```sh
//! cargo bench -p mpm-benches --bench stream_cost --no-run
//! B=$(ls -t target/release/deps/stream_cost-* | grep -v '\.d$' | head -1)
//! for n in 1000 11000; do
//!   STREAMS=$n valgrind --tool=callgrind --callgrind-out-file=/tmp/sc.$n $B
//! done   # (Ir at 11000 - Ir at 1000) / 10000 = instructions per stream
//! ```

use std::time::Instant;

use mpm_core::h2::{frame, hpack, Event, H2Config, Session};

#[path = "fields.rs"]
mod fields;

fn main() {
    let streams: u32 = std::env::var("STREAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut enc = hpack::Encoder::new();
    let fields: [(&str, &str); 10] = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "127.0.0.1"),
        (":path", "/hello"),
        ("user-agent", "h2load nghttp2/1.52.0"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip, deflate"),
        ("accept-language", "en-US,en;q=0.9"),
        ("sec-fetch-mode", "navigate"),
        ("cache-control", "no-cache"),
    ];
    let mut s = Session::new(&H2Config::default());
    let mut wire = frame::PREFACE.to_vec();
    frame::encode_settings(&mut wire, &[]);
    s.receive(&wire, Instant::now());
    let mut head = http::HeaderMap::new();
    head.insert("content-type", http::HeaderValue::from_static("text/plain"));
    head.insert("content-length", http::HeaderValue::from_static("13"));
    head.insert(
        "date",
        http::HeaderValue::from_static("Wed, 02 Dec 2026 00:00:00 GMT"),
    );
    head.insert("server", http::HeaderValue::from_static("mpmd/0.1.0"));
    let mut written = 0usize;
    let mut id = 1u32;
    let mut block = Vec::new();
    let mut done = 0;
    while done < streams {
        wire.clear();
        for _ in 0..10.min(streams - done) {
            // The client's block: its fields indexed by the first, so
            // every later block is the same indices (encoded twice, not
            // per stream: the client's cost is not the server's).
            if id <= 3 {
                block.clear();
                fields::encode_indexed(&mut enc, &fields, &mut block);
            }
            frame::encode_header_block(&mut wire, id, &block, true, 16_384);
            id += 2;
        }
        s.receive(&wire, Instant::now());
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Request { stream, .. } => {
                    s.send_response(stream, http::StatusCode::OK, &head, false)
                        .expect("response head");
                    s.send_data(stream, b"Hello, World!", true).expect("body");
                }
                Event::Finished { .. } => done += 1,
                _ => {}
            }
        }
        while s.wants_write() {
            let n = s.output().len();
            written += n;
            s.written(n);
        }
        while let Some(ev) = s.poll_event() {
            if let Event::Finished { .. } = ev {
                done += 1;
            }
        }
        // The client's window updates, as h2load sends them.
        wire.clear();
        frame::encode_window_update(&mut wire, 0, 10 * 13);
        s.receive(&wire, Instant::now());
    }
    println!("{streams} streams, {written} bytes out");
}
