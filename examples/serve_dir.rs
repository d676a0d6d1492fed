//! Serve a directory: files are sent with `Body::File`, which the strategy
//! turns into `sendfile(2)` on plain TCP.
//! Run: `cargo run -p mpm-examples --example serve_dir -- DIR [ADDR]`
//! (default: the repository's sample site on 127.0.0.1:8082).

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use mpm::http::{header, HeaderValue, StatusCode};
use mpm::{Body, ConnInfo, Handler, Request, Response};

struct Dir {
    root: PathBuf,
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::from(format!("{code}\n")));
    *r.status_mut() = code;
    r
}

impl Handler for Dir {
    fn handle(&self, req: Request<'_>, _: &ConnInfo) -> Response {
        // Only plain segments: no `..`, no root, no percent tricks (a `%`
        // is taken literally, so `%2e%2e` names a file called that).
        let rel = Path::new(req.uri().path().trim_start_matches('/'));
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return status(StatusCode::BAD_REQUEST);
        }
        let mut path = self.root.join(rel);
        if path.is_dir() {
            path.push("index.html");
        }
        // Refuse anything a symlink leads out of the root.
        match path.canonicalize() {
            Ok(real) if real.starts_with(&self.root) => {}
            _ => return status(StatusCode::NOT_FOUND),
        }
        let Ok(file) = File::open(&path) else {
            return status(StatusCode::NOT_FOUND);
        };
        let Ok(len) = file.metadata().map(|m| m.len()) else {
            return status(StatusCode::FORBIDDEN);
        };
        let mut resp = Response::new(Body::File {
            file,
            offset: 0,
            len,
        });
        let mime = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html",
            Some("css") => "text/css",
            Some("txt") => "text/plain",
            _ => "application/octet-stream",
        };
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
        resp
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../site").into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8082".into());
    let root = Path::new(&dir)
        .canonicalize()
        .map_err(|e| format!("{dir}: {e}"))?;
    println!("serving {} on http://{addr}/", root.display());
    mpm::Server::new(Dir { root }).listen(&addr)?.run()?;
    Ok(())
}
