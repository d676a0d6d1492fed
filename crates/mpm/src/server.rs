//! [`Server`]: the few lines an embedding program needs.

use std::net::SocketAddr;
use std::sync::Arc;

use mpm_core::net::proxy::ProxyProtocol;
use mpm_core::process::clamp::Clamped;
use mpm_core::{
    shared_factory, Control, ControlHandle, Error, Exit, Handler, HandlerFactory, ListenAddr,
    Listeners, Mpm, MpmConfig, ProtocolConfig, RunContext, Scoreboard, TlsConfig,
};

use mpm_core::process::master::Master;

use crate::strategies;

/// Builds and runs a server: listeners, a handler, a strategy.
///
/// ```no_run
/// use mpm::{Body, ConnInfo, Request, Response};
///
/// fn main() -> Result<(), mpm::Error> {
///     let hello = |_: Request<'_>, _: &ConnInfo| Response::new(Body::from("Hello, World!"));
///     mpm::Server::new(hello).listen("127.0.0.1:8080")?.run()
/// }
/// ```
///
/// # Strategies, and where the handler's state lives
///
/// The strategy (see [`Server::strategy`]) decides how many processes
/// serve, and so how many copies of the handler there are:
///
/// | strategy | processes | the handler's state (a `Mutex<Vec<_>>` in it) |
/// |---|---|---|
/// | `event-threads` (the default), `worker-threads`, `single` | this one | one value, shared by every thread: what one request changes, the next sees |
/// | `event`, `worker`, `prefork` (Apache's MPMs) | a master and child processes it forks | one copy per child, as it was at the fork: a change made in one child is never seen by another, and goes when that child ends (spares are retired, `MaxConnectionsPerChild`) |
///
/// The default serves in this process because that is what a Rust program
/// expects of a value it hands to a server, and because the threads the
/// program started before `run` go on working beside it. Fork when a
/// crash must cost one child and not the server (a handler that calls C
/// code which may abort, leak or is not thread-safe: `prefork`), or to
/// recycle processes (`MaxConnectionsPerChild`). Under a forking strategy,
/// share state through something outside the processes (a database, a
/// file, a cache server), and make each child's connection to it in
/// [`Server::with_factory`]'s factory, which runs in the child after the
/// fork. The `json_api` example does both: a `Mutex<Vec<_>>` in one
/// process, a file under a lock when it forks.
///
/// # Control
///
/// `run` installs the usual signal handling (SIGTERM/SIGINT stop, SIGHUP
/// and SIGUSR1 restart, SIGWINCH graceful stop); a restart runs the
/// strategy again on the same listeners with the same handler factory.
/// [`Server::control`] gives a handle to do the same from code.
pub struct Server {
    factory: HandlerFactory,
    addrs: Vec<ListenAddr>,
    /// TLS configurations, by index into `addrs`.
    tls: Vec<Option<TlsConfig>>,
    proxy: Vec<(ListenAddr, Arc<ProxyProtocol>)>,
    strategy: String,
    protocol: ProtocolConfig,
    mpm: MpmConfig,
    control: Option<Control>,
}

impl Server {
    /// A server of `handler`: a type implementing [`Handler`], or a closure
    /// `|req: Request<'_>, conn: &ConnInfo| -> Response`.
    ///
    /// There is one `handler` value. Under the default strategy (and every
    /// one that serves in this process) all threads share it; under a
    /// forking strategy each child process has its own copy, made at the
    /// fork (see [the table above](Server#strategies-and-where-the-handlers-state-lives)).
    ///
    /// [`Request<'_>`]: crate::Request
    /// [`ConnInfo`]: crate::ConnInfo
    pub fn new(handler: impl Handler) -> Self {
        Self::with_factory(shared_factory(Arc::new(handler)))
    }

    /// A server whose handler is made by `factory` in each process that
    /// serves: once in this process under an in-process strategy, in each
    /// child after its fork under a forking one. Make there what must not
    /// be shared between processes (a database connection, a file opened
    /// for appending):
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use mpm::{Body, ConnInfo, Handler, Request, Response};
    ///
    /// struct App {
    ///     log: std::sync::Mutex<std::fs::File>,
    /// }
    /// impl Handler for App {
    ///     fn handle(&self, _: Request<'_>, _: &ConnInfo) -> Response {
    ///         Response::new(Body::from(format!("served by {}", std::process::id())))
    ///     }
    /// }
    ///
    /// fn main() -> Result<(), mpm::Error> {
    ///     let factory: mpm::HandlerFactory = Arc::new(|| {
    ///         let log = std::fs::OpenOptions::new()
    ///             .append(true)
    ///             .create(true)
    ///             .open("/tmp/app.log")
    ///             .map_err(|e| format!("open /tmp/app.log: {e}"))?;
    ///         let app: Arc<dyn Handler> = Arc::new(App { log: log.into() });
    ///         Ok(app)
    ///     });
    ///     mpm::Server::with_factory(factory)
    ///         .strategy("prefork")
    ///         .listen("127.0.0.1:8080")?
    ///         .run()
    /// }
    /// ```
    ///
    /// An error from the factory stops the server with its message.
    pub fn with_factory(factory: HandlerFactory) -> Self {
        Server {
            factory,
            addrs: Vec::new(),
            tls: Vec::new(),
            strategy: strategies::strategies()[0].to_string(),
            proxy: Vec::new(),
            protocol: ProtocolConfig::default(),
            mpm: MpmConfig::default(),
            control: None,
        }
    }

    /// Listen on `addr`: `127.0.0.1:8080`, `[::1]:8080`, `8080` or
    /// `*:8080` (every address), or a host name and port
    /// (`localhost:8080`). A name listens on every address it resolves to,
    /// in the resolver's order, as Apache's `Listen` does: `localhost`
    /// may give `127.0.0.1` and `::1`, two sockets (with port 0, each gets
    /// its own port: [`Bound::local_addrs`] tells which). A name that does not resolve is an error naming it.
    /// May be called several times. For TLS, see [`Server::listen_tls`].
    pub fn listen(self, addr: &str) -> Result<Self, Error> {
        let addrs = ListenAddr::resolve(addr)?;
        if addrs[0].is_tls() {
            let fix = if cfg!(feature = "tls") {
                "use Server::listen_tls or Server::listen_tls_pem"
            } else {
                "this build has no TLS: turn on the mpm crate's `tls` feature"
            };
            return Err(Error::Tls(format!(
                "{addr}: https needs its certificates: {fix}"
            )));
        }
        Ok(self.add(addrs, None))
    }

    /// Listen on `addr` (written as for [`Server::listen`]) with TLS:
    /// `config` holds the certificates. [`Server::listen_tls_pem`] makes it
    /// from one certificate and its key; [`crate::tls::server_config`]
    /// from several hosts' certificates picked by SNI, with versions and
    /// suites; or build a `rustls::ServerConfig` yourself (offer ALPN
    /// `http/1.1`, the only protocol served). An `Arc<ServerConfig>` is
    /// taken as it is; a [`TlsConfig`] may also choose by SNI among
    /// configurations that offer other ALPN protocols.
    #[cfg(feature = "tls")]
    pub fn listen_tls(self, addr: &str, config: impl Into<TlsConfig>) -> Result<Self, Error> {
        let mut addrs = ListenAddr::resolve(addr)?;
        for a in &mut addrs {
            a.protocol = "https".into();
        }
        Ok(self.add(addrs, Some(config.into())))
    }

    /// Listen on `addr` with TLS, serving the certificate chain in
    /// `cert_file` (PEM, leaf first) with the private key in `key_file`
    /// (PEM: PKCS#8, PKCS#1 or SEC1), TLS 1.2 and 1.3:
    ///
    /// ```no_run
    /// # use mpm::{Body, ConnInfo, Request, Response};
    /// # struct Hello;
    /// # impl mpm::Handler for Hello {
    /// #     fn handle(&self, _: Request<'_>, _: &ConnInfo) -> Response { Response::new(Body::from("hi")) }
    /// # }
    /// fn main() -> Result<(), mpm::Error> {
    ///     mpm::Server::new(Hello)
    ///         .listen_tls_pem("127.0.0.1:8443", "cert.pem", "key.pem")?
    ///         .run()
    /// }
    /// ```
    ///
    /// The files are read now: an error names the file and what is wrong
    /// (see [`crate::tls::from_pem_files`]).
    #[cfg(feature = "tls")]
    pub fn listen_tls_pem(
        self,
        addr: &str,
        cert_file: impl AsRef<std::path::Path>,
        key_file: impl AsRef<std::path::Path>,
    ) -> Result<Self, Error> {
        let config = mpm_core::net::tls::from_pem_files(cert_file, key_file)?;
        self.listen_tls(addr, config)
    }

    /// Listen on each of `addrs` (one `listen` call's), all with `tls`.
    fn add(mut self, addrs: Vec<ListenAddr>, tls: Option<TlsConfig>) -> Self {
        for a in addrs {
            self.addrs.push(a);
            self.tls.push(tls.clone());
        }
        self
    }

    /// Read the PROXY protocol on `addr` (an address given to
    /// [`Server::listen`] or [`Server::listen_tls`]): behind a load
    /// balancer that sends it (HAProxy's `send-proxy-v2`), each connection
    /// opens with a header naming the client, which handlers then see as
    /// [`ConnInfo::peer`](mpm_core::ConnInfo::peer); `settings` say who may
    /// send it and how long it may take (see [`mpm_core::net::proxy`]).
    pub fn proxy_protocol(mut self, addr: &str, settings: ProxyProtocol) -> Result<Self, Error> {
        let parsed: ListenAddr = addr.parse()?;
        let Some(known) = self
            .addrs
            .iter()
            .find(|a| a.ip == parsed.ip && a.port == parsed.port)
        else {
            return Err(Error::ListenAddr {
                addr: addr.to_string(),
                reason: "Server::proxy_protocol names an address not given to listen or listen_tls",
            });
        };
        self.proxy.push((known.clone(), Arc::new(settings)));
        Ok(self)
    }

    /// Choose the strategy by name, one of [`crate::strategies`]:
    /// `event-threads` (the default), `worker-threads` or `single` serve in
    /// this process; `event`, `worker` and `prefork` fork child processes,
    /// each with its own copy of the handler (see
    /// [the table above](Server#strategies-and-where-the-handlers-state-lives)).
    /// An unknown name is an error from [`Server::bind`].
    ///
    /// Serving in this process is part of the name rather than a separate
    /// switch: every name is a valid choice (prefork in one process would
    /// be `single`), and [`crate::strategies`] lists every choice a program
    /// can offer its users.
    pub fn strategy(mut self, name: &str) -> Self {
        self.strategy = name.to_string();
        self
    }

    /// Protocol limits and timeouts.
    pub fn protocol(mut self, protocol: ProtocolConfig) -> Self {
        self.protocol = protocol;
        self
    }

    /// MPM directives (`ThreadsPerChild`, `StartServers` …), with Apache's
    /// defaults; an in-process strategy reads those of one child.
    pub fn mpm_config(mut self, mpm: MpmConfig) -> Self {
        self.mpm = mpm;
        self
    }

    /// A handle to stop or restart the server from another thread of this
    /// process (a thread waiting on a channel, a test), before or while it
    /// runs. It works in the process that calls `run`: under a forking
    /// strategy a handler runs in a child, where the handle reaches
    /// nothing; a child's handler that must stop the server signals the
    /// master (`SIGWINCH` to `getppid()` for a graceful stop).
    pub fn control(&mut self) -> Result<ControlHandle, Error> {
        if self.control.is_none() {
            self.control = Some(Control::new()?);
        }
        Ok(self
            .control
            .as_ref()
            .map(|c| c.handle())
            .expect("made above"))
    }

    /// Choose the strategy, check its directives (logging Apache's
    /// warnings) and bind every address: the server is then reachable
    /// (connections wait in the backlog) and [`Bound::local_addrs`] tells
    /// the ports that port 0 chose. [`Bound::run`] serves.
    pub fn bind(mut self) -> Result<Bound, Error> {
        let mpm = strategies::by_name(&self.strategy).ok_or_else(|| Error::UnknownStrategy {
            name: self.strategy.clone(),
            compiled: strategies::strategies(),
        })?;
        let (mpm_cfg, warnings) = mpm.check_config(&self.mpm);
        for w in warnings {
            log::warn!("{w}");
        }
        let mut listeners = Listeners::bind(&self.addrs, mpm_cfg.directives().listen_backlog)?;
        // The same address twice binds once: its first TLS choice holds.
        for (i, l) in self.addrs.iter().enumerate().rev() {
            let index = listeners.iter().position(|b| &b.addr == l);
            if let Some(index) = index {
                listeners.set_tls(index, self.tls[i].clone());
            }
        }
        for (addr, settings) in &self.proxy {
            let index = listeners.iter().position(|b| &b.addr == addr);
            if let Some(index) = index {
                listeners.set_proxy_protocol(index, Some(settings.clone()));
            }
        }
        let control = match self.control.take() {
            Some(c) => c,
            None => Control::new()?,
        };
        Ok(Bound {
            mpm,
            mpm_cfg,
            listeners,
            control,
            factory: self.factory,
            protocol: self.protocol,
        })
    }

    /// [`Server::bind`], then [`Bound::run`]: serve until stopped.
    pub fn run(self) -> Result<(), Error> {
        self.bind()?.run()
    }
}

/// A [`Server`] whose addresses are bound, ready to [`run`](Bound::run).
pub struct Bound {
    mpm: Box<dyn Mpm>,
    mpm_cfg: Clamped,
    listeners: Listeners,
    control: Control,
    factory: HandlerFactory,
    protocol: ProtocolConfig,
}

impl Bound {
    /// The addresses listened on, in the order given to
    /// [`Server::listen`], with the ports chosen for port 0.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.local).collect()
    }

    /// The strategy's name (`event-threads` …).
    pub fn strategy(&self) -> &'static str {
        self.mpm.info().name
    }

    /// A handle to stop or restart the server, as [`Server::control`].
    pub fn control(&self) -> ControlHandle {
        self.control.handle()
    }

    /// Serve until stopped (a signal, or a [`ControlHandle`]); a restart
    /// runs the strategy again on the same listeners.
    ///
    /// A forking strategy forks from the thread that calls `run`; a child
    /// has that thread only, and every lock another thread held at the
    /// moment of the fork stays held in the child forever. Threads the
    /// program started stay in the master and may wait there and send
    /// commands through a [`ControlHandle`], provided they take no lock a
    /// child needs (the handler's state, a pool, Rust's standard output
    /// or environment) while children may be forked: make what the
    /// handler uses in the factory, after the fork, and prefer a signal
    /// (SIGWINCH for a graceful stop) to a thread that prints. The
    /// strategies that serve in this process have no such rule: stop them
    /// from any thread (the `graceful` example).
    pub fn run(mut self) -> Result<(), Error> {
        self.control.install_signals()?;
        let (procs, threads) = self.mpm.scoreboard_shape(&self.mpm_cfg);
        let scoreboard = Scoreboard::new(procs, threads)?;
        let protocol = Arc::new(self.protocol);
        // Kept across restarts: a graceful restart's children finish in it.
        let master = Master::new();
        loop {
            let exit = self.mpm.run(RunContext {
                listeners: &self.listeners,
                factory: self.factory.clone(),
                protocol: protocol.clone(),
                mpm: &self.mpm_cfg,
                control: &self.control,
                scoreboard: &scoreboard,
                master: &master,
            })?;
            if exit == Exit::Stop {
                return Ok(());
            }
        }
    }
}
