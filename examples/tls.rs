//! HTTPS in one line: a certificate and its key from PEM files.
//!
//! Run: `cargo run -p mpm-examples --example tls -- cert.pem key.pem [address]`
//! (the address defaults to `127.0.0.1:8443`; port 0 picks a free one). A
//! self-signed pair to try
//! it with:
//!
//! ```text
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
//!     -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost \
//!     -addext subjectAltName=DNS:localhost
//! curl --cacert cert.pem https://localhost:8443/
//! ```
//!
//! A file that cannot be used stops the program with one line that names
//! it (`main` returns `mpm::Error`, whose `Debug` form is its message):
//! `Error: key.pem: cannot read: no such file or directory`.
//!
//! Several hosts by SNI, other protocol versions or cipher suites:
//! `mpm::tls::server_config`, then `Server::listen_tls`.

use mpm::{Body, ConnInfo, Handler, Request, Response};

struct Hello;

impl Handler for Hello {
    fn handle(&self, req: Request<'_>, conn: &ConnInfo) -> Response {
        let text = match &conn.tls {
            Some(tls) => format!(
                "Hello over {} (SNI {}), you asked for {}.\n",
                tls.version,
                tls.sni.as_deref().unwrap_or("none"),
                req.uri().path()
            ),
            None => "Hello in clear.\n".to_string(),
        };
        Response::new(Body::from(text))
    }
}

fn main() -> Result<(), mpm::Error> {
    let mut args = std::env::args().skip(1);
    let (Some(cert), Some(key)) = (args.next(), args.next()) else {
        eprintln!("usage: tls CERT.pem KEY.pem [ADDRESS]");
        std::process::exit(2);
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8443".into());
    let server = mpm::Server::new(Hello)
        .listen_tls_pem(&addr, &cert, &key)?
        .bind()?;
    println!(
        "listening on https://{}/ ({})",
        server.local_addrs()[0],
        server.strategy()
    );
    server.run()
}
