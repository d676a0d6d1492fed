//! An embedded server shaped for `../shared/bench`: `GET /hello` answers
//! `Hello, World!` from memory, any other path the file under the docroot
//! (`/static/4k.bin`, `/hello.txt`). As the hyper peer does, the files
//! under the docroot are read once at start and answered from memory
//! (`Body::Bytes` with a clone of the kept [`Bytes`]: a reference count,
//! no copy, no system call but the write); a file that came later is sent
//! from disk (`Body::File`, so `sendfile(2)` on plain TCP).
//! It puts a number on what an embedding program gets from a strategy,
//! without mpmd's configuration, virtual hosts or access log.
//!
//! Run: `cargo run --release -p mpm-examples --example bench_peer --
//! 127.0.0.1:27101 /tmp/mpm-bench/www [strategy] [threads per child]
//! [children]` (2 children unless told; benches/http/run.sh counts one).
//! With `BENCH_PEER_THREADS_ONLY` set, the event loop hands every request
//! to a worker thread instead of answering it itself.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use mpm::http::StatusCode;
use mpm::{Body, Bytes, ConnInfo, Handler, MpmConfig, ProtocolConfig, Request, Response};

/// Files kept in memory: at most this many bytes in all (the harness's
/// docroot holds about 1 MiB), and no deeper than this under the root.
const KEEP_BYTES: u64 = 64 << 20;
const KEEP_DEPTH: usize = 8;

struct Peer {
    root: PathBuf,
    /// The files read at start, by their request path (`/static/4k.bin`).
    files: HashMap<String, Bytes>,
    /// `BENCH_PEER_THREADS_ONLY` was set at start: every request goes to a
    /// worker thread (read once, not per request: the environment's lock
    /// and the variable's C string cost more than the rest of the promise).
    threads_only: bool,
}

impl Handler for Peer {
    fn handle(&self, req: Request<'_>, _conn: &ConnInfo) -> Response {
        let path = req.uri().path();
        if path == "/hello" {
            return Response::new(Body::from("Hello, World!"));
        }
        if let Some(contents) = self.files.get(path) {
            return Response::new(Body::Bytes(contents.clone()));
        }
        // Plain names under the root, nothing that climbs out of it.
        let rel = Path::new(path.trim_start_matches('/'));
        if rel.as_os_str().is_empty()
            || rel.components().any(|c| !matches!(c, Component::Normal(_)))
        {
            return status(StatusCode::NOT_FOUND);
        }
        match std::fs::File::open(self.root.join(rel)) {
            Ok(file) => match file.metadata() {
                Ok(m) if m.is_file() => Response::new(Body::File {
                    file,
                    offset: 0,
                    len: m.len(),
                }),
                _ => status(StatusCode::NOT_FOUND),
            },
            Err(_) => status(StatusCode::NOT_FOUND),
        }
    }

    /// No access log here: the request's headers go to `handle` without a
    /// copy kept for `log` (the default keeps one, a `HeaderMap` clone
    /// per request).
    fn log_reads_headers(&self) -> bool {
        false
    }

    /// Memory and files: the event loop may answer them itself.
    fn answer_never_blocks(&self, _method: &mpm::http::Method, _uri: &mpm::http::Uri) -> bool {
        !self.threads_only
    }
}

/// Every regular file under `dir` (`prefix` its request path), read
/// into `files` while they stay within [`KEEP_BYTES`] in all.
fn keep_files(
    dir: &Path,
    prefix: &str,
    depth: usize,
    files: &mut HashMap<String, Bytes>,
    kept: &mut u64,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let (Ok(kind), Some(name)) = (
            entry.file_type(),
            entry.file_name().to_str().map(str::to_owned),
        ) else {
            continue;
        };
        let path = format!("{prefix}/{name}");
        if kind.is_dir() && depth < KEEP_DEPTH {
            keep_files(&entry.path(), &path, depth + 1, files, kept);
        } else if kind.is_file() {
            let fits = entry
                .metadata()
                .is_ok_and(|m| *kept + m.len() <= KEEP_BYTES);
            if let (true, Ok(contents)) = (fits, std::fs::read(entry.path())) {
                *kept += contents.len() as u64;
                files.insert(path, Bytes::from(contents));
            }
        }
    }
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = code;
    r
}

fn main() -> Result<(), mpm::Error> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:27101".into());
    let root = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/mpm-bench/www".into()));
    let strategy = args
        .next()
        .unwrap_or_else(|| mpm::default_strategy().to_string());
    let threads: u32 = args.next().and_then(|t| t.parse().ok()).unwrap_or(16);
    let children: u32 = args.next().and_then(|c| c.parse().ok()).unwrap_or(2);
    let mut protocol = ProtocolConfig::default();
    protocol.timeouts.max_keep_alive_requests = 0;
    protocol.timeouts.keep_alive_timeout = Duration::from_secs(65);
    let mpm_cfg = MpmConfig {
        start_servers: Some(children),
        server_limit: Some(children),
        threads_per_child: threads,
        thread_limit: threads,
        min_spare_threads: 1,
        max_spare_threads: 2 * threads,
        max_request_workers: Some(children * threads),
        async_request_worker_factor: 32,
        ..MpmConfig::default()
    };
    eprintln!(
        "serving {} on http://{addr}/ with the {strategy} strategy",
        root.display()
    );
    let threads_only = std::env::var_os("BENCH_PEER_THREADS_ONLY").is_some();
    let (mut files, mut kept) = (HashMap::new(), 0);
    keep_files(&root, "", 0, &mut files, &mut kept);
    eprintln!("{} files ({kept} bytes) kept in memory", files.len());
    mpm::Server::new(Peer {
        root,
        files,
        threads_only,
    })
    .strategy(&strategy)
    .protocol(protocol)
    .mpm_config(mpm_cfg)
    .listen(&addr)?
    .run()
}
