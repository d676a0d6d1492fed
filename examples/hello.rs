//! The smallest embedding: a closure is the handler.
//!
//! Run: `cargo run -p mpm-examples --example hello [-- ADDR]` (default
//! `127.0.0.1:8081`; port 0 picks a free one), then
//! `curl http://127.0.0.1:8081/`.

use mpm::{Body, ConnInfo, Request, Response};

fn main() -> Result<(), mpm::Error> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:8081".into());
    let hello = |req: Request<'_>, conn: &ConnInfo| {
        let text = format!(
            "Hello, {}! You asked for {}.\n",
            conn.peer.ip(),
            req.uri().path()
        );
        Response::new(Body::from(text))
    };
    let server = mpm::Server::new(hello).listen(&addr)?.bind()?;
    println!(
        "listening on http://{}/ ({})",
        server.local_addrs()[0],
        server.strategy()
    );
    server.run()
}
