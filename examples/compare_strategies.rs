//! The same handler under every strategy compiled in, each given the same
//! load for the same time: requests per second, one line per strategy.
//!
//! Each strategy serves in a child process of this program (the program
//! itself, run again with `--serve NAME`), on a port of its choosing, so
//! the forking strategies fork from a process with one thread, and the
//! load's threads are not the server's. The load: `--connections`
//! keep-alive clients, each sending `GET /` and reading the answer as fast
//! as it comes, for `--seconds`. A handler this small measures the
//! strategy's own cost per request (thread hand-offs, the event loop,
//! processes); what a real handler costs comes on top.
//!
//! Run: `cargo run --release -p mpm-examples --example compare_strategies
//! -- [--seconds S] [--connections C]` (default 2 s, 8 connections).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpm::{Body, ConnInfo, Request, Response};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The handler every strategy serves.
fn hello(_: Request<'_>, _: &ConnInfo) -> Response {
    Response::new(Body::from("Hello, World!\n"))
}

/// `--serve NAME`: serve with strategy NAME on a free loopback port.
fn serve(strategy: &str) -> Result<(), Box<dyn std::error::Error>> {
    let server = mpm::Server::new(hello)
        .strategy(strategy)
        .listen("127.0.0.1:0")?
        .bind()?;
    println!("listening on http://{}/", server.local_addrs()[0]);
    server.run()?;
    Ok(())
}

/// One strategy's server: a child process in its own process group,
/// stopped (SIGTERM, then SIGKILL for the group) on drop.
struct Served {
    child: Child,
    addr: SocketAddr,
}

impl Served {
    fn start(strategy: &str) -> Result<Served, String> {
        let me = std::env::current_exe().map_err(|e| format!("this program's path: {e}"))?;
        let mut child = Command::new(me)
            .args(["--serve", strategy])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("start the {strategy} server: {e}"))?;
        let mut first = String::new();
        let read = child
            .stdout
            .take()
            .map(|out| BufReader::new(out).read_line(&mut first));
        let addr = first
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.trim_end_matches('/').parse().ok());
        let mut served = Served {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        match (read, addr) {
            (Some(Ok(_)), Some(addr)) => {
                served.addr = addr;
                Ok(served)
            }
            _ => Err(format!(
                "the {strategy} server did not say where it listens (it said {first:?})"
            )),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Whatever is left of it and its children.
        let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read one response off `r`: whether the connection stays open after it.
fn read_response(r: &mut impl BufRead) -> std::io::Result<bool> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200 ") {
        return Err(std::io::Error::other(format!("unexpected answer {line:?}")));
    }
    let (mut len, mut keep) = (0usize, true);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let field = line.trim_end();
        if field.is_empty() {
            break;
        }
        if let Some((name, value)) = field.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                len = value.parse().map_err(std::io::Error::other)?;
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                keep = false;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(keep)
}

/// `connections` clients for `time` against `addr`: responses counted.
fn load(addr: SocketAddr, connections: usize, time: Duration) -> u64 {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            let (done, count) = (done.clone(), count.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    // A connection, kept while the server keeps it.
                    let Ok(stream) = TcpStream::connect(addr) else {
                        continue;
                    };
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let Ok(mut w) = stream.try_clone() else {
                        continue;
                    };
                    let mut r = BufReader::new(stream);
                    while !done.load(Ordering::Relaxed) {
                        if w.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
                            .is_err()
                        {
                            break;
                        }
                        match read_response(&mut r) {
                            Ok(keep) => {
                                count.fetch_add(1, Ordering::Relaxed);
                                if !keep {
                                    break;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(time);
    done.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    count.load(Ordering::Relaxed)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    if let Some(strategy) = value("--serve") {
        return serve(strategy);
    }
    let seconds: f64 = value("--seconds").map_or(Ok(2.0), |s| s.parse())?;
    let connections: usize = value("--connections").map_or(Ok(8), |s| s.parse())?;
    let time = Duration::from_secs_f64(seconds);
    println!("GET / ({connections} keep-alive connections, {seconds} s each)");
    for strategy in mpm::strategies() {
        let served = Served::start(strategy)?;
        let started = Instant::now();
        let n = load(served.addr, connections, time);
        let took = started.elapsed().as_secs_f64();
        drop(served);
        println!(
            "{strategy:>15}: {:>9.0} requests/s ({n} in {took:.2} s)",
            n as f64 / took
        );
    }
    Ok(())
}
