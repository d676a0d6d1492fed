//! A server on `127.0.0.1:0` for tests and examples: any strategy, any
//! handler, its address and a control handle back, stopped on drop.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//! use mpm_core::{process::single::Single, testing::TestServer, *};
//!
//! struct Hello;
//! impl Handler for Hello {
//!     fn handle(&self, _: Request<'_>, _: &ConnInfo) -> Response {
//!         Response::new(Body::from("hi"))
//!     }
//! }
//!
//! let server = TestServer::start(Box::new(Single), Arc::new(Hello), ProtocolConfig::default());
//! let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
//! s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
//! let mut out = String::new();
//! s.read_to_string(&mut out).unwrap();
//! assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("\r\n\r\nhi"));
//! ```

use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::{MpmConfig, ProtocolConfig};
use crate::control::Exit;
use crate::control::{Control, ControlHandle, Phase};
use crate::handler::{shared_factory, Handler};
use crate::mpm::{Mpm, RunContext};
use crate::net::listener::{ListenAddr, Listeners};
use crate::process::master::Master;
use crate::process::scoreboard::Scoreboard;

/// A running server; stops (and joins its thread) on drop.
pub struct TestServer {
    addr: SocketAddr,
    control: ControlHandle,
    scoreboard: Scoreboard,
    phases: Arc<parking_lot::Mutex<Vec<Phase>>>,
    thread: Option<JoinHandle<Result<Exit, crate::Error>>>,
}

impl TestServer {
    /// Start `mpm` with `handler` on a free loopback port and wait until it
    /// runs. Panics (it is for tests) when it cannot start.
    pub fn start(
        mut mpm: Box<dyn Mpm>,
        handler: Arc<dyn Handler>,
        protocol: ProtocolConfig,
    ) -> Self {
        Self::start_with(
            mpm.as_mut().info().name,
            move || mpm,
            handler,
            protocol,
            MpmConfig::default(),
        )
    }

    /// As [`TestServer::start`], with MPM directives.
    pub fn start_with(
        name: &str,
        make: impl FnOnce() -> Box<dyn Mpm> + Send + 'static,
        handler: Arc<dyn Handler>,
        protocol: ProtocolConfig,
        mpm_cfg: MpmConfig,
    ) -> Self {
        Self::start_full(name, make, handler, protocol, mpm_cfg, None)
    }

    /// As [`TestServer::start`], its connections TLS with `tls`.
    #[cfg(feature = "tls")]
    pub fn start_tls(
        mut mpm: Box<dyn Mpm>,
        handler: Arc<dyn Handler>,
        protocol: ProtocolConfig,
        tls: crate::TlsConfig,
    ) -> Self {
        Self::start_full(
            mpm.as_mut().info().name,
            move || mpm,
            handler,
            protocol,
            MpmConfig::default(),
            Some(tls),
        )
    }

    /// Every choice: the strategy made by `make`, MPM directives, and TLS
    /// when `tls` is given.
    pub fn start_full(
        _name: &str,
        make: impl FnOnce() -> Box<dyn Mpm> + Send + 'static,
        handler: Arc<dyn Handler>,
        protocol: ProtocolConfig,
        mpm_cfg: MpmConfig,
        tls: Option<crate::TlsConfig>,
    ) -> Self {
        let addr: ListenAddr = if tls.is_some() {
            "127.0.0.1:0 https"
        } else {
            "127.0.0.1:0"
        }
        .parse()
        .expect("loopback address");
        let mut listeners = Listeners::bind(&[addr], 128).expect("bind 127.0.0.1:0");
        listeners.set_tls(0, tls);
        let local = listeners.get(0).expect("one listener").local;
        let control = Control::new().expect("control channel");
        let handle = control.handle();
        let (tx, rx) = std::sync::mpsc::channel();
        let phases = Arc::new(parking_lot::Mutex::new(vec![control.phase()]));
        let seen = phases.clone();
        control.on_phase(move |p| {
            seen.lock().push(p);
            let _ = tx.send(p);
        });
        let mut mpm = make();
        let (mpm_cfg, _) = mpm.check_config(&mpm_cfg);
        let (procs, threads) = mpm.scoreboard_shape(&mpm_cfg);
        let scoreboard = Scoreboard::new(procs, threads).expect("scoreboard");
        let sb = scoreboard.clone();
        let thread = std::thread::spawn(move || {
            mpm.run(RunContext {
                listeners: &listeners,
                factory: shared_factory(handler),
                protocol: Arc::new(protocol),
                mpm: &mpm_cfg,
                control: &control,
                scoreboard: &sb,
                master: &Master::new(),
            })
        });
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(Phase::Running) => break,
                Ok(_) => continue,
                Err(_) => panic!("the test server did not reach Running within 10 s"),
            }
        }
        TestServer {
            addr: local,
            control: handle,
            scoreboard,
            phases,
            thread: Some(thread),
        }
    }

    /// Every lifecycle phase the server has been in, in order (starting
    /// with `Starting`).
    pub fn phases(&self) -> Vec<Phase> {
        self.phases.lock().clone()
    }

    /// Wait (up to `timeout`) for the server's thread to end on its own,
    /// e.g. after a command sent through [`TestServer::control`].
    pub fn join(&mut self, timeout: Duration) -> Option<Result<Exit, crate::Error>> {
        let until = crate::deadline::after(std::time::Instant::now(), timeout);
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            if std::time::Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let t = self.thread.take()?;
        Some(
            t.join().unwrap_or_else(|_| {
                Err(crate::Error::Handler("the server thread panicked".into()))
            }),
        )
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Send commands to the server.
    pub fn control(&self) -> &ControlHandle {
        &self.control
    }

    /// The server's scoreboard.
    pub fn scoreboard(&self) -> &Scoreboard {
        &self.scoreboard
    }

    /// Stop the server and return how `run` ended.
    pub fn stop(mut self) -> Result<Exit, crate::Error> {
        self.control.stop();
        self.thread
            .take()
            .expect("running")
            .join()
            .unwrap_or_else(|_| Err(crate::Error::Handler("the server thread panicked".into())))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.control.stop();
            let _ = t.join();
        }
    }
}

/// One response as read off the wire.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Resp {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// True when the response says `Connection: close`.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Read one response; `head_only` for responses to HEAD (no body even with
/// a Content-Length). Panics with what it saw when the framing is wrong.
pub fn read_response(r: &mut impl BufRead, head_only: bool) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    assert!(line.starts_with("HTTP/1.1 "), "bad status line {line:?}");
    assert!(line.ends_with("\r\n"), "status line without CRLF: {line:?}");
    let status: u16 = line[9..12].parse().expect("status code");
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).expect("header line");
        assert!(h.ends_with("\r\n"), "header without CRLF: {h:?}");
        if h == "\r\n" {
            break;
        }
        let (n, v) = h.trim_end().split_once(':').expect("header with a colon");
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return resp;
    }
    if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().expect("numeric Content-Length");
        let mut body = vec![0; len];
        r.read_exact(&mut body).expect("body of Content-Length");
        resp.body = body;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).expect("chunk size");
            let n = usize::from_str_radix(size.trim_end(), 16).expect("hex chunk size");
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).expect("chunk data");
            assert_eq!(&chunk[n..], b"\r\n", "chunk not followed by CRLF");
            if n == 0 {
                break;
            }
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else {
        r.read_to_end(&mut resp.body).expect("close-delimited body");
    }
    resp
}
