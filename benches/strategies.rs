//! What it measures: requests per second of one and the same handler
//! served by each strategy compiled into `mpm` (`mpm::compiled()`: today
//! `event`, `prefork`, `worker` and `single`), over persistent (keep-alive) loopback
//! connections, in two scenarios:
//!
//! - `hello_keepalive/<strategy>`: `GET /hello`, answered with the 13
//!   bytes `Hello, World!` from memory: the per-request cost of the
//!   strategy and the engine;
//! - `file_4k_keepalive/<strategy>`: `GET /4k`, answered with a 4096-byte
//!   file as `Body::File` (opened per request, sent with `sendfile(2)`):
//!   the static-file path;
//! - `hello_tls_keepalive/<strategy>`: `GET /hello` as above, over TLS
//!   (rustls on both sides, TLS 1.3, a test CA's ECDSA P-256 certificate):
//!   what encryption adds per request once the handshake is done.
//!
//! Why: the strategies differ in how connections reach a handler (one
//! thread, or a child process per connection, later threads and an event
//! loop); this puts a number on each with everything else equal.
//!
//! How: a forking strategy must fork from a single-threaded process, so
//! the server does not run inside this (multi-threaded) criterion process.
//! The bench binary re-executes itself with `MPM_BENCH_SERVE=strategy:port`
//! (and the file's path in `MPM_BENCH_FILE`); `main` then runs
//! `mpm::Server` instead of criterion (listening on a plain and a TLS
//! port, the certificate in `MPM_BENCH_CERT`/`MPM_BENCH_KEY`), in its own
//! process group, which the
//! parent kills (SIGKILL to the group, on drop, even on panic) after that
//! strategy's benches. The client side is `iter_custom`: the iterations
//! are spread over the strategy's concurrent connections (8 for a strategy
//! that forks or threads, 1 for `single`, which serves one connection at
//! a time), one client thread per connection, each sending one request at
//! a time and reading the response by its `Content-Length`.
//!
//! For prefork, `StartServers 8` with `ServerLimit`/`MaxRequestWorkers 8`:
//! the bench starts measuring only once 8 connections are served at the
//! same time (so all 8 children are up), and no child is forked during the
//! measurement. Worker and event get the same directives, which their
//! clamps turn into one child of `ThreadsPerChild` (25) threads.
//!
//! Run: `cargo bench -p mpm-benches --bench strategies` (under two
//! minutes; criterion's own options, e.g. a name filter, follow `--`).
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use criterion::{Criterion, Throughput};
use mpm::http::StatusCode;
use mpm::{Body, ConnInfo, Handler, MpmConfig, ProtocolConfig, Request, Response};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Set in the re-executed bench binary: `strategy:port` to serve.
const SERVE_VAR: &str = "MPM_BENCH_SERVE";
/// Set with [`SERVE_VAR`]: the path of the 4096-byte file behind `/4k`.
const FILE_VAR: &str = "MPM_BENCH_FILE";
/// Set with [`SERVE_VAR`]: the TLS certificate chain and key files.
const CERT_VAR: &str = "MPM_BENCH_CERT";
const KEY_VAR: &str = "MPM_BENCH_KEY";
/// The in-memory answer to `/hello`.
const HELLO: &[u8] = b"Hello, World!";
/// The size of the file behind `/4k`.
const FILE_LEN: usize = 4096;
/// Client connections for a strategy that serves several at once.
const CONCURRENT: usize = 8;

/// The handler every strategy runs.
struct BenchHandler {
    file: PathBuf,
}

impl Handler for BenchHandler {
    fn handle(&self, req: Request<'_>, _conn: &ConnInfo) -> Response {
        match req.uri().path() {
            "/hello" => Response::new(Body::from(HELLO)),
            "/4k" => match std::fs::File::open(&self.file) {
                Ok(file) => Response::new(Body::File {
                    file,
                    offset: 0,
                    len: FILE_LEN as u64,
                }),
                Err(_) => status(StatusCode::INTERNAL_SERVER_ERROR),
            },
            _ => status(StatusCode::NOT_FOUND),
        }
    }
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = code;
    r
}

#[path = "../crates/mpm/tests/support/pki.rs"]
mod pki;

/// The re-executed side: serve `spec` (`strategy:port:tls-port`) until
/// killed.
fn serve(spec: &str) {
    let mut parts = spec.split(':');
    let (Some(strategy), Some(port), Some(tls_port)) = (parts.next(), parts.next(), parts.next())
    else {
        panic!("{SERVE_VAR}={spec:?} is not strategy:port:tls-port");
    };
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("{name} is not set"))
    };
    let cert = mpm::tls::CertSpec {
        names: vec!["bench.test".into()],
        cert_file: var(CERT_VAR),
        key_file: Some(var(KEY_VAR)),
    };
    let tls = mpm::tls::server_config(
        "bench",
        &[cert],
        &mpm::tls::TlsPolicy::default(),
        &mpm::tls::TlsShared::new().expect("ticket key"),
    )
    .unwrap_or_else(|e| panic!("TLS configuration: {e}"));
    let file = std::env::var_os(FILE_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{FILE_VAR} is not set"));
    let mut protocol = ProtocolConfig::default();
    // Connections live for the whole run: no request cap, and a long
    // enough idle time to outlast criterion's analysis between benches.
    protocol.timeouts.max_keep_alive_requests = 0;
    protocol.timeouts.keep_alive_timeout = Duration::from_secs(300);
    let workers = CONCURRENT as u32;
    let mpm_cfg = MpmConfig {
        start_servers: Some(workers),
        min_spare_servers: 1,
        max_spare_servers: workers,
        server_limit: Some(workers),
        max_request_workers: Some(workers),
        ..MpmConfig::default()
    };
    let server = mpm::Server::new(BenchHandler { file })
        .strategy(strategy)
        .protocol(protocol)
        .mpm_config(mpm_cfg)
        .listen(&format!("127.0.0.1:{port}"))
        .and_then(|s| s.listen_tls(&format!("127.0.0.1:{tls_port}"), tls))
        .unwrap_or_else(|e| panic!("listen on ports {port}, {tls_port}: {e}"));
    if let Err(e) = server.run() {
        panic!("the {strategy} server failed: {e}");
    }
}

/// A server process (a re-executed bench binary) in its own process
/// group; the group is killed on drop.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    tls_addr: SocketAddr,
}

impl ServerProcess {
    fn spawn(strategy: &str, file: &std::path::Path, cert: &pki::HostCert) -> ServerProcess {
        let free = || {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .expect("find a free loopback port")
                .port()
        };
        let (port, tls_port) = (free(), free());
        let exe = std::env::current_exe().expect("the bench binary's path");
        let child = Command::new(exe)
            .env(SERVE_VAR, format!("{strategy}:{port}:{tls_port}"))
            .env(FILE_VAR, file)
            .env(CERT_VAR, &cert.cert)
            .env(KEY_VAR, &cert.key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("start the server process");
        ServerProcess {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            tls_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, tls_port)),
        }
    }

    /// Open `n` connections and get `/hello` answered on all of them while
    /// all stay open (so `n` connections are served at once), retrying for
    /// up to 20 s; the connections are the bench's clients. With `tls`,
    /// on the TLS port.
    fn ready_clients(
        &mut self,
        strategy: &str,
        n: usize,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Vec<Client> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("the {strategy} server exited ({st}) before serving");
            }
            match self.try_clients(n, tls) {
                Ok(clients) => return clients,
                Err(e) if Instant::now() > until => {
                    panic!("the {strategy} server does not serve {n} connections at once: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn try_clients(
        &self,
        n: usize,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> io::Result<Vec<Client>> {
        let mut clients = Vec::with_capacity(n);
        for _ in 0..n {
            let tcp = TcpStream::connect(if tls.is_some() {
                self.tls_addr
            } else {
                self.addr
            })?;
            tcp.set_read_timeout(Some(Duration::from_secs(1)))?;
            tcp.set_nodelay(true)?;
            let stream = match tls {
                None => Stream::Plain(tcp),
                Some(cfg) => Stream::Tls(Box::new(pki::tls_connect(cfg, "bench.test", tcp)?)),
            };
            let mut c = Client {
                stream,
                buf: vec![0; 16 * 1024],
            };
            c.send(HELLO_REQUEST)?;
            clients.push(c);
        }
        for c in &mut clients {
            c.expect(HELLO.len())?;
            c.stream
                .tcp()
                .set_read_timeout(Some(Duration::from_secs(10)))?;
        }
        Ok(clients)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // Its group (pgid = its pid: children of a forking strategy too),
        // then itself in case the group is already gone.
        let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

const HELLO_REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n";
const FILE_REQUEST: &[u8] = b"GET /4k HTTP/1.1\r\nHost: bench\r\n\r\n";

/// A client connection's transport.
enum Stream {
    Plain(TcpStream),
    Tls(Box<pki::TlsClient>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One persistent client connection.
struct Client {
    stream: Stream,
    buf: Vec<u8>,
}

impl Client {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.stream.write_all(request)?;
        self.stream.flush()
    }

    /// Read one response: a 200 with a `body_len`-byte body on a
    /// connection that stays open.
    fn expect(&mut self, body_len: usize) -> io::Result<()> {
        let mut have = 0;
        let head_end = loop {
            if have == self.buf.len() {
                return Err(bad("response head too large"));
            }
            let n = self.stream.read(&mut self.buf[have..])?;
            if n == 0 {
                return Err(bad("connection closed before a response"));
            }
            have += n;
            if let Some(i) = self.buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("head not UTF-8"))?;
        if !head.starts_with("HTTP/1.1 200 ") {
            return Err(bad("not a 200"));
        }
        let mut length = None;
        for line in head.split("\r\n") {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection")
                && value.trim().eq_ignore_ascii_case("close")
            {
                return Err(bad("the server closes the connection"));
            }
        }
        if length != Some(body_len) {
            return Err(bad("unexpected Content-Length"));
        }
        let mut body = have - head_end;
        if body > body_len {
            return Err(bad("more bytes than one response"));
        }
        while body < body_len {
            let want = (body_len - body).min(self.buf.len());
            let n = self.stream.read(&mut self.buf[..want])?;
            if n == 0 {
                return Err(bad("connection closed inside the body"));
            }
            body += n;
        }
        Ok(())
    }

    /// `count` requests one after the other.
    fn run(&mut self, request: &[u8], body_len: usize, count: u64) {
        for _ in 0..count {
            if let Err(e) = self.send(request).and_then(|()| self.expect(body_len)) {
                panic!("request failed: {e}");
            }
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// `iters` requests spread over `clients`, all at once; the wall time.
fn load(clients: &mut [Client], request: &[u8], body_len: usize, iters: u64) -> Duration {
    let n = clients.len() as u64;
    let start = Instant::now();
    std::thread::scope(|s| {
        for (i, c) in clients.iter_mut().enumerate() {
            let count = iters / n + u64::from((i as u64) < iters % n);
            s.spawn(move || c.run(request, body_len, count));
        }
    });
    start.elapsed()
}

fn strategies(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("4k.bin");
    let content: Vec<u8> = (0..FILE_LEN).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, content).expect("write the 4k file");
    let pki = pki::Pki::new(dir.path());
    let cert = pki.host("bench", &["bench.test"]);
    let tls_client = pki.client_config(&[b"http/1.1"]);

    for strategy in mpm::compiled() {
        let info = mpm::by_name(strategy)
            .unwrap_or_else(|| panic!("{strategy} is listed but cannot be built"))
            .info();
        let connections = if info.forked || info.threaded {
            CONCURRENT
        } else {
            1
        };
        let mut server = ServerProcess::spawn(strategy, &file, &cert);
        let mut clients = server.ready_clients(strategy, connections, None);

        let mut group = c.benchmark_group("hello_keepalive");
        group.throughput(Throughput::Elements(1));
        group.bench_function(strategy, |b| {
            b.iter_custom(|iters| load(&mut clients, HELLO_REQUEST, HELLO.len(), iters))
        });
        group.finish();

        let mut group = c.benchmark_group("file_4k_keepalive");
        group.throughput(Throughput::Elements(1));
        group.bench_function(strategy, |b| {
            b.iter_custom(|iters| load(&mut clients, FILE_REQUEST, FILE_LEN, iters))
        });
        group.finish();

        // Each connection holds a child or thread: the plain ones leave
        // before the TLS ones come.
        drop(clients);
        let mut clients = server.ready_clients(strategy, connections, Some(&tls_client));
        let mut group = c.benchmark_group("hello_tls_keepalive");
        group.throughput(Throughput::Elements(1));
        group.bench_function(strategy, |b| {
            b.iter_custom(|iters| load(&mut clients, HELLO_REQUEST, HELLO.len(), iters))
        });
        group.finish();

        drop(clients);
        drop(server);
    }
}

fn main() {
    if let Ok(spec) = std::env::var(SERVE_VAR) {
        serve(&spec);
        return;
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    strategies(&mut c);
    c.final_summary();
}
