//! Server-Sent Events: a handler streams events with [`mpm::Body::writer`],
//! each one leaving the moment it is flushed.
//!
//! Run: `cargo run -p mpm-examples --example streaming`, then
//! `curl -N http://127.0.0.1:8083/events`, or open
//! <http://127.0.0.1:8083/> in a browser. Arguments: the address to listen
//! on and the strategy (`streaming 127.0.0.1:9000 worker`).
//!
//! The thread that runs a stream is the stream's until it ends: a worker
//! thread under `worker` and `event`, a whole child process under
//! `prefork`. Size `MaxRequestWorkers` for the streams you hold open.

use std::io::Write;
use std::time::Duration;

use mpm::http::{header, HeaderValue, StatusCode};
use mpm::{Body, ConnInfo, Handler, Request, Response};

/// A page that shows the events, and the events.
struct Events;

/// The page: a browser's `EventSource` reading `/events`.
const PAGE: &str = r#"<!doctype html>
<title>mpm: Server-Sent Events</title>
<ul id="ticks"></ul>
<script>
const ticks = document.getElementById("ticks");
new EventSource("/events").onmessage = (e) => {
  const li = document.createElement("li");
  li.textContent = e.data;
  ticks.append(li);
};
</script>
"#;

/// The `name=value` of a query, as a number.
fn query_number(req: &Request<'_>, name: &str) -> Option<u64> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
        .parse()
        .ok()
}

impl Handler for Events {
    fn handle(&self, req: Request<'_>, _conn: &ConnInfo) -> Response {
        match req.uri().path() {
            "/" => {
                let mut resp = Response::new(Body::from(PAGE));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                resp
            }
            // `/events?count=5&every_ms=200`: that many events, that far
            // apart (by default 100 of them, a second apart).
            "/events" => {
                let count = query_number(&req, "count").unwrap_or(100);
                let every = Duration::from_millis(query_number(&req, "every_ms").unwrap_or(1000));
                let mut resp = Response::new(Body::writer(move |w| {
                    for n in 1..=count {
                        // A graceful stop waits for the requests under
                        // way: a long stream ends early for it.
                        if w.server_stopping() {
                            break;
                        }
                        write!(w, "id: {n}\ndata: tick {n} of {count}\n\n")?;
                        // Sends the event now: without it, events would
                        // wait until 16 KiB of them are gathered.
                        w.flush()?;
                        if n < count {
                            std::thread::sleep(every);
                        }
                    }
                    // A client that leaves ends the stream at the next
                    // write, which fails: the `?` above returns.
                    Ok(())
                }));
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-stream"),
                );
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                resp
            }
            _ => {
                let mut resp = Response::new(Body::from("not found\n"));
                *resp.status_mut() = StatusCode::NOT_FOUND;
                resp
            }
        }
    }
}

fn main() -> Result<(), mpm::Error> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8083".into());
    let strategy = args.next().unwrap_or_else(|| "event-threads".to_string());
    let server = mpm::Server::new(Events)
        .strategy(&strategy)
        .listen(&addr)?
        .bind()?;
    println!(
        "listening on http://{}/ ({}): Server-Sent Events at /events",
        server.local_addrs()[0],
        server.strategy()
    );
    server.run()
}
