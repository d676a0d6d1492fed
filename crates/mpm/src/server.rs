//! [`Server`]: the few lines an embedding program needs.

use std::sync::Arc;

use mpm_core::net::proxy::ProxyProtocol;
use mpm_core::{
    shared_factory, Control, ControlHandle, Error, Exit, Handler, HandlerFactory, ListenAddr,
    Listeners, MpmConfig, ProtocolConfig, RunContext, Scoreboard,
};

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
    tls: Vec<Option<Arc<mpm_core::rustls::ServerConfig>>>,
    /// Addresses that read the PROXY protocol, with their settings.
    proxy: Vec<(ListenAddr, Arc<ProxyProtocol>)>,
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
            proxy: Vec::new(),
            strategy: strategies::default_strategy().to_string(),
            protocol: ProtocolConfig::default(),
            mpm: MpmConfig::default(),
            control: None,
        }
    }

    /// Listen on `addr` (`127.0.0.1:8080`, `[::1]:8080`, `8080`); may be
    /// called several times. For TLS, see [`Server::listen_tls`].
    pub fn listen(mut self, addr: &str) -> Result<Self, Error> {
        let addr: ListenAddr = addr.parse()?;
        if addr.is_tls() {
            return Err(Error::Tls(format!(
                "{addr} https needs its certificates: use Server::listen_tls"
            )));
        }
        self.addrs.push(addr);
        self.tls.push(None);
        Ok(self)
    }

    /// Listen on `addr` with TLS: `config` holds the certificates (see
    /// [`mpm_core::net::tls::server_config`] to build one from PEM files with
    /// SNI, or build a `rustls::ServerConfig` yourself; offer ALPN
    /// `http/1.1`, the only protocol served).
    pub fn listen_tls(
        mut self,
        addr: &str,
        config: Arc<mpm_core::rustls::ServerConfig>,
    ) -> Result<Self, Error> {
        let mut addr: ListenAddr = addr.parse()?;
        addr.protocol = "https".into();
        self.addrs.push(addr);
        self.tls.push(Some(config));
        Ok(self)
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
        let mut mpm = strategies::by_name(&self.strategy).ok_or_else(|| {
            Error::Handler(format!(
                "no strategy named {:?}; compiled in: {}",
                self.strategy,
                strategies::compiled().join(", ")
            ))
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
        control.install_signals()?;
        let (procs, threads) = mpm.scoreboard_shape(&mpm_cfg);
        let scoreboard = Scoreboard::new(procs, threads)?;
        let protocol = Arc::new(self.protocol);
        loop {
            let exit = mpm.run(RunContext {
                listeners: &listeners,
                factory: self.factory.clone(),
                protocol: protocol.clone(),
                mpm: &mpm_cfg,
                control: &control,
                scoreboard: &scoreboard,
            })?;
            if exit == Exit::Stop {
                return Ok(());
            }
        }
    }
}
