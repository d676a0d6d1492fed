//! What prefork is for: a handler that calls code which is not
//! thread-safe.
//!
//! Some libraries keep their state in the process: the working directory,
//! the environment (`setenv` and `TZ`), the C locale, a C library's
//! globals. A handler that changes such state and then relies on it is
//! wrong as soon as two threads of one process run it at once: one
//! thread's change is seen by the other. Here the "library" is
//! [`tenant_report`]: it works relative to the working directory, so the
//! handler changes into the tenant's directory first (`chdir`, for the
//! whole process), as code written for one request per process does.
//!
//! Under `prefork` each child process serves one connection at a time, so
//! the directory a request changed into is its own until it answers, and
//! every answer is right. Under a threaded strategy (`worker-threads`,
//! `event` …) concurrent requests race on the one working directory and
//! some tenants get another tenant's report: run it with
//! `worker-threads` and the client loop below to see it.
//!
//! Run: `cargo run -p mpm-examples --example prefork_isolation -- [ADDR
//! [STRATEGY]]` (default `127.0.0.1:8085`, `prefork`), then
//! `for t in alpha beta gamma alpha beta gamma; do curl -s
//! http://127.0.0.1:8085/tenant/$t & done; wait`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mpm::http::StatusCode;
use mpm::{Body, ConnInfo, Request, Response};

/// The tenants, each a directory with a `name.txt`.
const TENANTS: [&str; 3] = ["alpha", "beta", "gamma"];

/// The "library": reads `name.txt` of the current directory, taking its
/// time (as real work would).
fn tenant_report() -> std::io::Result<String> {
    std::thread::sleep(Duration::from_millis(20));
    let name = std::fs::read_to_string("name.txt")?;
    Ok(format!(
        "report for {name} (process {})\n",
        std::process::id()
    ))
}

/// The data: a directory per tenant, made at startup.
fn make_tenants() -> std::io::Result<PathBuf> {
    let root = std::env::temp_dir().join(format!("prefork_isolation-{}", std::process::id()));
    for t in TENANTS {
        std::fs::create_dir_all(root.join(t))?;
        std::fs::write(root.join(t).join("name.txt"), t)?;
    }
    Ok(root)
}

fn report(root: &Path, tenant: &str) -> Response {
    if !TENANTS.contains(&tenant) {
        let mut res = Response::new(Body::from("no such tenant\n"));
        *res.status_mut() = StatusCode::NOT_FOUND;
        return res;
    }
    // Process-wide state: safe only while this process serves one request.
    let answer = std::env::set_current_dir(root.join(tenant)).and_then(|()| tenant_report());
    match answer {
        Ok(text) => Response::new(Body::from(text)),
        Err(e) => {
            let mut res = Response::new(Body::from(format!("{tenant}: {e}\n")));
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            res
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8085".into());
    let strategy = args.next().unwrap_or_else(|| "prefork".into());
    let root = make_tenants()?;
    let data = root.clone();
    let app = move |req: Request<'_>, _: &ConnInfo| match req.uri().path().strip_prefix("/tenant/")
    {
        Some(tenant) => report(&data, tenant),
        None => Response::new(Body::from(
            "GET /tenant/alpha, /tenant/beta or /tenant/gamma\n",
        )),
    };
    let server = mpm::Server::new(app)
        .strategy(&strategy)
        .listen(&addr)?
        .bind()?;
    println!(
        "listening on http://{}/ ({}, tenants in {})",
        server.local_addrs()[0],
        server.strategy(),
        root.display()
    );
    let ran = server.run();
    let _ = std::fs::remove_dir_all(&root);
    Ok(ran?)
}
