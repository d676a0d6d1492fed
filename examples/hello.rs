//! The smallest embedding: a handler and a server.
//! Run: `cargo run -p mpm-examples --example hello`, then
//! `curl http://127.0.0.1:8081/`.

use mpm::{Body, ConnInfo, Handler, Request, Response};

struct Hello;

impl Handler for Hello {
    fn handle(&self, req: Request<'_>, conn: &ConnInfo) -> Response {
        let text = format!(
            "Hello, {}! You asked for {}.\n",
            conn.peer.ip(),
            req.uri().path()
        );
        Response::new(Body::from(text))
    }
}

fn main() -> Result<(), mpm::Error> {
    println!(
        "serving on http://127.0.0.1:8081/ with the {} strategy",
        mpm::default_strategy()
    );
    mpm::Server::new(Hello).listen("127.0.0.1:8081")?.run()
}
