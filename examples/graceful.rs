//! Stopping gracefully: from code (a channel) and from a signal. A
//! graceful stop closes the listening sockets at once (new clients are
//! refused), closes idle keep-alive connections, and lets every request
//! under way finish before `run` returns.
//!
//! - From code: `POST /shutdown` sends on a channel; a thread of `main`
//!   waits on it and calls [`mpm::ControlHandle::graceful_stop`]. Any part
//!   of the program can hold the sender (a supervisor, a timer, an admin
//!   command).
//! - From a signal, as Apache: SIGWINCH stops gracefully, SIGTERM and
//!   SIGINT (Ctrl-C) stop at once; `Server::run` installs these.
//!
//! `GET /slow?ms=N` answers after N milliseconds: start one, stop the
//! server, and see it answered all the same.
//!
//! This serves in one process (the default strategy), where the handler
//! and `main`'s thread share the channel. Under a forking strategy the
//! handler runs in a child process, where neither the channel nor the
//! control handle reaches the master: a child stops the server by
//! signalling the master instead (`kill(getppid(), SIGWINCH)`).
//!
//! Run: `cargo run -p mpm-examples --example graceful [-- ADDR]` (default
//! `127.0.0.1:8084`), then `curl 'http://127.0.0.1:8084/slow?ms=3000' &
//! curl -X POST http://127.0.0.1:8084/shutdown`.

use std::sync::mpsc;
use std::time::Duration;

use mpm::http::{Method, StatusCode};
use mpm::{Body, ConnInfo, Request, Response};

fn main() -> Result<(), mpm::Error> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:8084".into());
    let (stop_tx, stop_rx) = mpsc::channel::<String>();

    let app = move |req: Request<'_>, _: &ConnInfo| match (req.method(), req.uri().path()) {
        (&Method::GET, "/slow") => {
            let ms: u64 = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("ms="))
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(1000);
            println!("slow request: answering in {ms} ms");
            std::thread::sleep(Duration::from_millis(ms));
            Response::new(Body::from(format!("done after {ms} ms\n")))
        }
        (&Method::POST, "/shutdown") => {
            let _ = stop_tx.send("POST /shutdown".into());
            let mut res = Response::new(Body::from("stopping gracefully\n"));
            *res.status_mut() = StatusCode::ACCEPTED;
            res
        }
        _ => Response::new(Body::from("try GET /slow?ms=2000 or POST /shutdown\n")),
    };

    let mut server = mpm::Server::new(app);
    let control = server.control()?;
    // The stop from code: whoever holds `stop_tx` decides.
    std::thread::spawn(move || {
        if let Ok(why) = stop_rx.recv() {
            println!("graceful stop: {why}");
            control.graceful_stop();
        }
    });

    let server = server.listen(&addr)?.bind()?;
    println!(
        "listening on http://{}/ ({})",
        server.local_addrs()[0],
        server.strategy()
    );
    server.run()?;
    println!("stopped");
    Ok(())
}
