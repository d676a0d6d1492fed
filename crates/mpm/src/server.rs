//! [`Server`]: the few lines an embedding program needs.

use std::sync::Arc;

use mpm_core::{
    shared_factory, Control, ControlHandle, Error, Exit, Handler, HandlerFactory, ListenAddr,
    Listeners, MpmConfig, ProtocolConfig, RunContext, Scoreboard, TlsConfig,
};

use mpm_core::process::master::Master;

use crate::strategies;

/// Builds and runs a server: listeners, a handler, a strategy.
///
/// ```no_run
/// use mpm::{Body, ConnInfo, Handler, Request, Response};
///
/// struct Hello;
/// impl Handler for Hello {
///     fn handle(&self, _: Request<'_>, _: &ConnInfo) -> Response {
///         Response::new(Body::from("Hello, World!"))
///     }
/// }
///
/// fn main() -> Result<(), mpm::Error> {
///     mpm::Server::new(Hello).listen("127.0.0.1:8080")?.run()
/// }
/// ```
///
/// `run` installs the usual signal handling (SIGTERM/SIGINT stop, SIGHUP
/// and SIGUSR1 restart, SIGWINCH graceful stop); a restart runs the
/// strategy again on the same listeners with the same handler factory.
pub struct Server {
    factory: HandlerFactory,
    addrs: Vec<ListenAddr>,
    /// TLS configurations, by index into `addrs`.
    tls: Vec<Option<TlsConfig>>,
    strategy: String,
    protocol: ProtocolConfig,
    mpm: MpmConfig,
    control: Option<Control>,
}

impl Server {
    /// A server that shares one `handler` between all its processes and
    /// threads.
    pub fn new(handler: impl Handler) -> Self {
        Self::with_factory(shared_factory(Arc::new(handler)))
    }

    /// A server whose handler is made by `factory` in each process (after
    /// fork), for per-process state.
    pub fn with_factory(factory: HandlerFactory) -> Self {
        Server {
            factory,
            addrs: Vec::new(),
            tls: Vec::new(),
            strategy: strategies::default_strategy().to_string(),
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
    /// its own port). A name that does not resolve is an error naming it.
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
    /// from one certificate and its key; [`mpm_core::net::tls::server_config`]
    /// from several hosts' certificates picked by SNI, with versions and
    /// suites; or build a `rustls::ServerConfig` yourself (offer ALPN
    /// `http/1.1`, the only protocol served).
    #[cfg(feature = "tls")]
    pub fn listen_tls(self, addr: &str, config: TlsConfig) -> Result<Self, Error> {
        let mut addrs = ListenAddr::resolve(addr)?;
        for a in &mut addrs {
            a.protocol = "https".into();
        }
        Ok(self.add(addrs, Some(config)))
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
    /// (see [`mpm_core::net::tls::from_pem_files`]).
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

    /// Choose the strategy by name (see [`crate::compiled`]).
    pub fn strategy(mut self, name: &str) -> Self {
        self.strategy = name.to_string();
        self
    }

    /// Protocol limits and timeouts.
    pub fn protocol(mut self, protocol: ProtocolConfig) -> Self {
        self.protocol = protocol;
        self
    }

    /// MPM directives.
    pub fn mpm_config(mut self, mpm: MpmConfig) -> Self {
        self.mpm = mpm;
        self
    }

    /// A handle to stop or restart the server from another thread.
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

    /// Bind, then serve until stopped.
    ///
    /// A forking strategy (prefork, the default) forks from the calling
    /// thread: call `run` before the program starts other threads (as
    /// `main` of a server usually does), since only the forking thread
    /// exists in a child.
    pub fn run(mut self) -> Result<(), Error> {
        let mut mpm =
            strategies::by_name(&self.strategy).ok_or_else(|| Error::UnknownStrategy {
                name: self.strategy.clone(),
                compiled: strategies::compiled(),
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
        let control = match self.control.take() {
            Some(c) => c,
            None => Control::new()?,
        };
        control.install_signals()?;
        let (procs, threads) = mpm.scoreboard_shape(&mpm_cfg);
        let scoreboard = Scoreboard::new(procs, threads)?;
        let protocol = Arc::new(self.protocol);
        // Kept across restarts: a graceful restart's children finish in it.
        let master = Master::new();
        loop {
            let exit = mpm.run(RunContext {
                listeners: &listeners,
                factory: self.factory.clone(),
                protocol: protocol.clone(),
                mpm: &mpm_cfg,
                control: &control,
                scoreboard: &scoreboard,
                master: &master,
            })?;
            if exit == Exit::Stop {
                return Ok(());
            }
        }
    }
}
