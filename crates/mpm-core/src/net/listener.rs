//! Listening sockets: every `Listen` address bound once, before any fork,
//! so children inherit them and a restart keeps the ones still configured
//! (no connection is refused while the server re-reads its configuration).
//!
//! A socket can also be handed to the process already listening
//! ([`Inherited`]: by systemd's socket activation, or by the previous
//! master in a binary upgrade). [`Listeners::bind_with`] and
//! [`Listeners::rebind_with`] take such a socket for the `Listen` address
//! it is bound to ([`Inherited::matches`]: same port, and the same address
//! or both the wildcard) instead of binding; the ones no address takes are
//! left to the caller. [`HandOver`] marks the set as passed on
//! to a successor, so that stopping this server no longer stops the
//! sockets the successor accepts on.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Http2Offer;
use crate::error::Error;
use crate::net::accept_filter::AcceptFilters;
use crate::net::proxy::ProxyProtocol;

/// A `Listen` directive's address: `80`, `*:80`, `127.0.0.1:8080`,
/// `[::1]:8080`, optionally followed by a protocol (`https`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListenAddr {
    /// The host part: `None` for every address (`80`, `*:80`, `[::]:80`).
    pub ip: Option<IpAddr>,
    /// The port.
    pub port: u16,
    /// The protocol named after the address (`http` when none).
    pub protocol: String,
}

impl ListenAddr {
    /// The address to bind. A bare port or `*` binds the IPv6 wildcard in
    /// dual-stack mode where the system has IPv6, as Apache does.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(
            self.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            self.port,
        )
    }

    /// Whether a socket bound to `local` is this address's: the same
    /// port, and the same address, or the wildcard when no address is
    /// given (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn is_bound_at(&self, local: &SocketAddr) -> bool {
        if local.port() != self.port {
            return false;
        }
        let ip = match local.ip() {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match self.ip {
            None => ip.is_unspecified(),
            Some(want) => want == ip,
        }
    }

    /// True when the protocol is `https`.
    pub fn is_tls(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("https")
    }

    /// The addresses a `Listen` argument names: as written when it is an
    /// IP address or a port (see [`FromStr`]), or, when its host is a
    /// name (`localhost:8080 https`), every address the name resolves to
    /// ([`crate::net::resolve`]: as Apache's `Listen`, IPv6 ones only where
    /// the system has IPv6), in the resolver's order, each once, with the
    /// port and protocol given. Never empty; a name that does not resolve
    /// is an error naming it.
    pub fn resolve(text: &str) -> Result<Vec<ListenAddr>, Error> {
        let not_an_ip = match text.parse::<ListenAddr>() {
            Ok(addr) => return Ok(vec![addr]),
            Err(e) => e,
        };
        let mut words = text.split_whitespace();
        let host_port = words.next().and_then(|w| w.rsplit_once(':'));
        let Some((host, port)) =
            host_port.filter(|(h, _)| h.bytes().any(|b| b.is_ascii_alphabetic()))
        else {
            return Err(not_an_ip);
        };
        if host.starts_with('[') {
            return Err(not_an_ip);
        }
        // The port and protocol, read as for any address.
        let protocol = words.collect::<Vec<_>>().join(" ");
        let any: ListenAddr = format!("*:{port} {protocol}")
            .parse()
            .map_err(|e| match e {
                Error::ListenAddr { reason, .. } => Error::ListenAddr {
                    addr: text.to_string(),
                    reason,
                },
                other => other,
            })?;
        let what = || {
            format!(
                "could not resolve the host name {host:?} of the listen address {text:?} (write an IP address such as 127.0.0.1:8080 or [::1]:8080, or a name the system resolves)"
            )
        };
        let resolved = crate::net::resolve::lookup_host(host).map_err(|e| Error::io(what(), e))?;
        let mut addrs: Vec<ListenAddr> = Vec::new();
        for ip in resolved {
            let addr = ListenAddr {
                ip: (!ip.is_unspecified()).then_some(ip),
                ..any.clone()
            };
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        if addrs.is_empty() {
            let none = std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address");
            return Err(Error::io(what(), none));
        }
        Ok(addrs)
    }

    /// Whether a request that arrived on local address `local` belongs to
    /// this listener's address (for virtual-host matching).
    pub fn matches(&self, local: &SocketAddr) -> bool {
        self.port == local.port() && self.ip.is_none_or(|ip| ip == local.ip())
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            None => write!(f, "*:{}", self.port),
            Some(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

impl FromStr for ListenAddr {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |reason| Error::ListenAddr {
            addr: text.to_string(),
            reason,
        };
        let mut words = text.split_whitespace();
        let addr = words.next().ok_or_else(|| bad("empty address"))?;
        let protocol = words.next().unwrap_or("http").to_ascii_lowercase();
        if words.next().is_some() {
            return Err(bad("expected an address and at most a protocol"));
        }
        if !protocol.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad("the protocol must be a word such as http or https"));
        }
        let parse_port = |p: &str| -> Result<u16, Error> {
            // Port 0 asks the system for a free port (tests, embedders).
            p.parse::<u16>()
                .map_err(|_| bad("the port must be a number from 0 to 65535"))
        };
        let (ip, port) = if let Some(rest) = addr.strip_prefix('[') {
            let (host, port) = rest
                .split_once("]:")
                .ok_or_else(|| bad("an IPv6 address is written [addr]:port"))?;
            let ip: Ipv6Addr = host.parse().map_err(|_| bad("not an IPv6 address"))?;
            let ip = if ip.is_unspecified() {
                None
            } else {
                Some(IpAddr::V6(ip))
            };
            (ip, parse_port(port)?)
        } else if let Some((host, port)) = addr.rsplit_once(':') {
            let ip = if host == "*" || host == "0.0.0.0" {
                None
            } else {
                Some(IpAddr::V4(host.parse::<Ipv4Addr>().map_err(|_| {
                    bad("not an IPv4 address (write IPv6 as [addr]:port)")
                })?))
            };
            (ip, parse_port(port)?)
        } else {
            (None, parse_port(addr)?)
        };
        Ok(ListenAddr { ip, port, protocol })
    }
}

/// What makes a listener's connections TLS: its rustls server
/// configurations (see [`crate::net::tls::TlsConfig`]).
#[cfg(feature = "tls")]
pub use crate::net::tls::TlsConfig;

/// What makes a listener's connections TLS. This build has no `tls`
/// feature: the type has no value, so no listener is TLS.
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
pub enum TlsConfig {}

/// One bound listening socket.
#[derive(Debug)]
pub struct Listener {
    /// The configured address.
    pub addr: ListenAddr,
    /// The address actually bound (the port is known even when 0 was asked).
    pub local: SocketAddr,
    /// The address as text, shared with every connection's `ConnInfo`.
    pub name: Arc<str>,
    /// The socket, non-blocking, with `TCP_NODELAY` set (the sockets it
    /// accepts inherit it).
    pub socket: TcpListener,
    /// The PROXY protocol settings when connections on this socket open
    /// with a PROXY header (set with [`Listeners::set_proxy_protocol`];
    /// replaced on restart).
    pub proxy: Option<Arc<ProxyProtocol>>,
    /// The TLS configuration when connections on this socket are TLS
    /// (set with [`Listeners::set_tls`]; replaced on restart).
    pub tls: Option<TlsConfig>,
    /// How connections on this socket may speak HTTP/2 (set with
    /// [`Listeners::set_http2`]; replaced on restart); none by default.
    pub http2: Http2Offer,
}

/// The set of bound listeners, in configuration order.
#[derive(Debug, Default)]
pub struct Listeners {
    list: Vec<Listener>,
    /// Passed on to a successor ([`HandOver`]).
    handed_over: Arc<AtomicBool>,
    /// `AcceptFilter`: applied to every socket of the set, the ones bound
    /// or taken later too.
    accept_filters: AcceptFilters,
}

/// Marks a [`Listeners`] set as passed on to a successor process that
/// accepts on the same sockets (a binary upgrade): from then on
/// [`Listeners::stop_listening`] leaves them listening, so a graceful stop
/// of this server finishes its connections without refusing the
/// successor's. Cloneable and `Send`, for code that does not hold the set.
#[derive(Debug, Clone)]
pub struct HandOver(Arc<AtomicBool>);

impl HandOver {
    /// The sockets are the successor's now.
    pub fn hand_over(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A listening socket this process received already bound (systemd's
/// `LISTEN_FDS`, or the previous master's in a binary upgrade).
#[derive(Debug)]
pub struct Inherited {
    /// The socket.
    pub socket: TcpListener,
    /// The address it is bound to.
    pub local: SocketAddr,
    /// The name it was passed with (`LISTEN_FDNAMES`).
    pub name: String,
}

impl Inherited {
    /// Take `socket` (a listening TCP socket) as inherited under `name`;
    /// an error when it is not a bound TCP socket.
    pub fn new(socket: TcpListener, name: String) -> std::io::Result<Inherited> {
        let local = socket.local_addr()?;
        Ok(Inherited {
            socket,
            local,
            name,
        })
    }

    /// Whether this socket is the one `addr` asks for: the same port, and
    /// the same address, or the wildcard for a `Listen` with no address
    /// (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn matches(&self, addr: &ListenAddr) -> bool {
        addr.is_bound_at(&self.local)
    }

    /// The address as a `Listen` directive writes it.
    pub fn display_addr(&self) -> String {
        match self.local.ip() {
            ip if ip.is_unspecified() => format!("*:{}", self.local.port()),
            _ => self.local.to_string(),
        }
    }
}

fn adopt(addr: &ListenAddr, inherited: Inherited, backlog: i32) -> Result<Listener, Error> {
    let fail = |e: std::io::Error| Error::Bind {
        addr: addr.to_string(),
        source: e,
    };
    let socket = inherited.socket;
    // The backlog this configuration asks for, and non-blocking as every
    // listener here is (the previous owner may have had it otherwise).
    socket2::SockRef::from(&socket)
        .listen(backlog.max(1))
        .map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    inherited_options(&socket);
    Ok(Listener {
        addr: addr.clone(),
        local: inherited.local,
        name: Arc::from(addr.to_string()),
        socket,
        tls: None,
        proxy: None,
        http2: Http2Offer::default(),
    })
}

/// What every accepted connection wants, set once on the listening
/// socket: Linux copies a listening socket's options to each socket it
/// accepts, so no strategy spends a system call per connection on it.
/// `TCP_NODELAY`: a response leaves as soon as it is written (a head held
/// back for a file body says so with `MSG_MORE`). A failure leaves Nagle's
/// algorithm on, which costs latency, not correctness: logged.
fn inherited_options(socket: &TcpListener) {
    if let Err(e) = socket2::SockRef::from(socket).set_nodelay(true) {
        log::warn!("could not set TCP_NODELAY on a listening socket: {e}");
    }
}

fn bind_one(addr: &ListenAddr, backlog: i32) -> Result<Listener, Error> {
    let fail = |e: std::io::Error| Error::Bind {
        addr: addr.to_string(),
        source: e,
    };
    let (socket, bind_to) = match addr.ip {
        // Every address: IPv6 dual stack when the system has it.
        None => match Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)) {
            Ok(s) if s.set_only_v6(false).is_ok() => (
                s,
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), addr.port),
            ),
            _ => (
                Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).map_err(fail)?,
                addr.socket_addr(),
            ),
        },
        Some(ip) => (
            Socket::new(
                Domain::for_address(SocketAddr::new(ip, 0)),
                Type::STREAM,
                Some(Protocol::TCP),
            )
            .map_err(fail)?,
            addr.socket_addr(),
        ),
    };
    socket.set_reuse_address(true).map_err(fail)?;
    if bind_to.is_ipv6() && addr.ip.is_some() {
        socket.set_only_v6(true).map_err(fail)?;
    }
    socket.bind(&bind_to.into()).map_err(fail)?;
    let socket: TcpListener = socket.into();
    // Before `listen`: no connection is made without it.
    inherited_options(&socket);
    socket2::SockRef::from(&socket)
        .listen(backlog.max(1))
        .map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    let local = socket.local_addr().map_err(fail)?;
    let name: Arc<str> = Arc::from(addr.to_string());
    Ok(Listener {
        addr: addr.clone(),
        local,
        proxy: None,
        name,
        socket,
        tls: None,
        http2: Http2Offer::default(),
    })
}

impl Listeners {
    /// Bind every address. On failure nothing stays bound and the error
    /// names the address and the cause.
    pub fn bind(addrs: &[ListenAddr], backlog: i32) -> Result<Self, Error> {
        Listeners::bind_with(addrs, backlog, &mut Vec::new())
    }

    /// [`Listeners::bind`], taking from `inherited` the socket of each
    /// address that has one instead of binding it. What no address takes
    /// stays in `inherited`.
    pub fn bind_with(
        addrs: &[ListenAddr],
        backlog: i32,
        inherited: &mut Vec<Inherited>,
    ) -> Result<Self, Error> {
        let mut ls = Listeners::default();
        ls.rebind_with(addrs, backlog, inherited)?;
        Ok(ls)
    }

    /// Make the set match `addrs`: keep the sockets of addresses still
    /// configured (same address, port and protocol), bind the new ones and
    /// close the rest. Used on restart: a kept socket never stops
    /// accepting. New addresses are bound first, so on failure the set is
    /// left exactly as it was.
    pub fn rebind(&mut self, addrs: &[ListenAddr], backlog: i32) -> Result<(), Error> {
        self.rebind_with(addrs, backlog, &mut Vec::new())
    }

    /// [`Listeners::rebind`], taking a new address's socket from
    /// `inherited` when one there [matches](Inherited::matches) it. When
    /// binding fails, `inherited` is as it was.
    pub fn rebind_with(
        &mut self,
        addrs: &[ListenAddr],
        backlog: i32,
        inherited: &mut Vec<Inherited>,
    ) -> Result<(), Error> {
        // Which new address takes which inherited socket, and the ones
        // bound here (first, so that a failure leaves everything as it
        // was).
        let mut given: Vec<(usize, &ListenAddr)> = Vec::new();
        let mut fresh: Vec<Listener> = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            let seen = addrs[..i].contains(addr);
            let kept = self.list.iter().any(|l| &l.addr == addr);
            if seen || kept {
                continue;
            }
            let free = (0..inherited.len())
                .find(|j| !given.iter().any(|(g, _)| g == j) && inherited[*j].matches(addr));
            match free {
                Some(j) => given.push((j, addr)),
                None => fresh.push(bind_one(addr, backlog)?),
            }
        }
        given.sort_unstable_by_key(|(j, _)| std::cmp::Reverse(*j));
        for (j, addr) in given {
            fresh.push(adopt(addr, inherited.remove(j), backlog)?);
        }
        for l in &fresh {
            self.accept_filters.apply_to(l);
        }
        let mut old = std::mem::take(&mut self.list);
        for (i, addr) in addrs.iter().enumerate() {
            if addrs[..i].contains(addr) {
                continue; // the same Listen twice binds once
            }
            if let Some(pos) = old.iter().position(|l| &l.addr == addr) {
                let l = old.swap_remove(pos);
                // A changed ListenBacklog applies to kept sockets too.
                let _ = socket2::SockRef::from(&l.socket).listen(backlog.max(1));
                self.list.push(l);
            } else if let Some(pos) = fresh.iter().position(|l| &l.addr == addr) {
                self.list.push(fresh.swap_remove(pos));
            }
        }
        // Sockets no longer configured stop listening now, not when the
        // last old child that inherited them exits: their port refuses
        // new clients at once (an old child still serving finishes what it
        // holds).
        for l in old {
            let _ = socket2::SockRef::from(&l.socket).shutdown(std::net::Shutdown::Read);
        }
        Ok(())
    }

    /// Stop listening on every socket, in this process and in every child
    /// that shares it (the socket is one, whoever holds a descriptor):
    /// new connections are refused at once, while connections already
    /// accepted go on. For a graceful stop; a set that stopped listening
    /// is not used again.
    pub fn stop_listening(&self) {
        if self.handed_over.load(Ordering::Acquire) {
            // The successor accepts on these very sockets: this process
            // only closes its descriptors, when it exits.
            return;
        }
        for l in &self.list {
            // shutdown(SHUT_RD) on a listening TCP socket takes it out of
            // the LISTEN state (Linux): pending and new connections are
            // refused.
            let _ = socket2::SockRef::from(&l.socket).shutdown(std::net::Shutdown::Read);
        }
    }

    /// Apply Apache's `AcceptFilter` settings to every socket (see
    /// [`crate::net::accept_filter`]): those of a protocol whose filter is
    /// not `none` hand a connection to `accept` only once it has sent
    /// data. Done in the master before the strategy runs (and again after
    /// each restart's re-read, for the sockets kept), so every child
    /// shares it; sockets bound later by [`Listeners::rebind`] get it too.
    /// Until called, the set follows Apache's default
    /// ([`AcceptFilters::default`]: `http` and `https` wait for data).
    pub fn set_accept_filters(&mut self, filters: AcceptFilters) {
        self.accept_filters = filters;
        for l in &self.list {
            self.accept_filters.apply_to(l);
        }
    }

    /// The switch that marks this set as passed on to a successor.
    pub fn handover(&self) -> HandOver {
        HandOver(self.handed_over.clone())
    }

    /// Make the connections of listener `index` TLS with `config`, or
    /// plain with `None`. Done in the master before the strategy runs (and
    /// again after each restart's re-read), so children inherit it.
    pub fn set_tls(&mut self, index: usize, config: Option<TlsConfig>) {
        if let Some(l) = self.list.get_mut(index) {
            l.tls = config;
        }
    }

    /// Make the connections of listener `index` open with a PROXY
    /// protocol header read under `settings`, or not with `None`. Done as
    /// [`Listeners::set_tls`] is, so children inherit it.
    pub fn set_proxy_protocol(&mut self, index: usize, settings: Option<Arc<ProxyProtocol>>) {
        if let Some(l) = self.list.get_mut(index) {
            l.proxy = settings;
        }
    }

    /// Let the connections of listener `index` speak HTTP/2 as `offer`
    /// says (the TLS configuration's ALPN list must offer `h2` when
    /// `offer.alpn` is set). Done as [`Listeners::set_tls`] is, so
    /// children inherit it.
    pub fn set_http2(&mut self, index: usize, offer: Http2Offer) {
        if let Some(l) = self.list.get_mut(index) {
            l.http2 = offer;
        }
    }

    /// The listeners, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Listener> {
        self.list.iter()
    }

    /// Number of listeners.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Listener `i`.
    pub fn get(&self, i: usize) -> Option<&Listener> {
        self.list.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn la(s: &str) -> ListenAddr {
        s.parse().unwrap()
    }

    #[test]
    fn resolving_an_ip_address_takes_it_as_written() {
        let addrs = ListenAddr::resolve("127.0.0.1:8080").unwrap();
        assert_eq!(addrs, vec![la("127.0.0.1:8080")]);
    }

    #[test]
    fn a_host_name_gives_every_address_it_resolves_to_with_the_port_and_protocol() {
        let addrs = ListenAddr::resolve("localhost:8080 https").unwrap();
        let shown: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        assert!(
            shown.contains(&"127.0.0.1:8080".to_string()),
            "localhost gave {shown:?}"
        );
        for a in &addrs {
            assert!(a.ip.is_some_and(|ip| ip.is_loopback()), "{shown:?}");
            assert_eq!((a.port, a.protocol.as_str()), (8080, "https"));
        }
    }

    #[test]
    fn a_bad_port_after_a_name_is_reported_on_the_text_given() {
        let e = ListenAddr::resolve("localhost:99999")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid Listen address \"localhost:99999\": the port must be a number from 0 to 65535"
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_is_refused_naming_it() {
        let e = ListenAddr::resolve("nosuch.invalid:80")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "could not resolve the host name \"nosuch.invalid\" of the listen address \"nosuch.invalid:80\""
            ),
            "{e}"
        );
    }

    #[test]
    fn listen_addresses_in_apache_forms_parse() {
        assert_eq!(
            la("80"),
            ListenAddr {
                ip: None,
                port: 80,
                protocol: "http".into()
            }
        );
        assert_eq!(la("*:8080").port, 8080);
        assert_eq!(la("127.0.0.1:8080").ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(la("[::1]:8443 https").ip, Some("::1".parse().unwrap()));
        assert!(la("[::1]:8443 https").is_tls());
        assert_eq!(la("[::]:80").ip, None);
        assert_eq!(la("127.0.0.1:8080").to_string(), "127.0.0.1:8080");
        assert_eq!(la("[::1]:81").to_string(), "[::1]:81");
    }

    #[test]
    fn bad_listen_addresses_say_why() {
        for bad in [
            "",
            "http",
            "70000",
            "1.2.3:80",
            "[::1:80",
            "::1:80",
            "80 https x",
            "80 ht/tp",
        ] {
            let e = bad.parse::<ListenAddr>().unwrap_err().to_string();
            assert!(e.contains("invalid Listen address"), "{bad}: {e}");
        }
    }

    #[test]
    fn bind_conflict_names_address_and_cause() {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        let addr = la(&format!("127.0.0.1:{port}"));
        let e = Listeners::bind(&[addr], 16).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("could not bind to 127.0.0.1:{port}: address already in use")
        );
        match e {
            Error::Bind { source, .. } => assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse),
            other => panic!("expected Error::Bind, got {other}"),
        }
    }

    #[test]
    fn rebind_keeps_the_same_socket_and_closes_dropped_ones() {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (a, b) = (
            la(&format!("127.0.0.1:{}", free())),
            la(&format!("127.0.0.1:{}", free())),
        );
        let mut ls = Listeners::bind(&[a.clone(), b.clone()], 16).unwrap();
        use std::os::fd::AsRawFd;
        let fd_a = ls.get(0).unwrap().socket.as_raw_fd();
        ls.rebind(std::slice::from_ref(&a), 16).unwrap();
        assert_eq!(ls.len(), 1);
        assert_eq!(ls.get(0).unwrap().socket.as_raw_fd(), fd_a);
        // b is closed: it can be bound again.
        std::net::TcpListener::bind(b.socket_addr()).unwrap();
    }

    #[test]
    fn stop_listening_refuses_new_connections() {
        let ls = Listeners::bind(&[la("127.0.0.1:0")], 16).unwrap();
        let addr = ls.get(0).unwrap().local;
        std::net::TcpStream::connect(addr).expect("listening before");
        ls.stop_listening();
        let e = std::net::TcpStream::connect(addr).expect_err("still listening");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    }

    #[test]
    fn an_inherited_socket_is_used_for_its_address_and_the_rest_is_left() {
        use std::os::fd::AsRawFd;
        let given = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = given.local_addr().unwrap().port();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut inherited = vec![
            Inherited::new(other, "b".into()).unwrap(),
            Inherited::new(given, "a".into()).unwrap(),
        ];
        let fd = inherited[1].socket.as_raw_fd();
        // The wildcard does not take a socket bound to one address.
        assert!(!inherited[1].matches(&la(&format!("{port}"))));
        let ls =
            Listeners::bind_with(&[la(&format!("127.0.0.1:{port}"))], 16, &mut inherited).unwrap();
        assert_eq!(ls.get(0).unwrap().socket.as_raw_fd(), fd, "bound anew");
        assert_eq!(
            ls.get(0).unwrap().name.as_ref(),
            format!("127.0.0.1:{port}")
        );
        assert_eq!(inherited.len(), 1);
        assert_eq!(inherited[0].name, "b");
    }

    #[test]
    fn a_handed_over_set_keeps_listening_when_this_server_stops() {
        let ls = Listeners::bind(&[la("127.0.0.1:0")], 16).unwrap();
        let addr = ls.get(0).unwrap().local;
        ls.handover().hand_over();
        ls.stop_listening();
        std::net::TcpStream::connect(addr).expect("the successor's socket stopped listening");
    }

    #[test]
    fn failed_rebind_leaves_the_set_as_it_was() {
        let a = la("127.0.0.1:0");
        let mut ls = Listeners::bind(std::slice::from_ref(&a), 16).unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b = la(&format!("127.0.0.1:{}", taken.local_addr().unwrap().port()));
        assert!(ls.rebind(&[a.clone(), b], 16).is_err());
        assert_eq!(ls.len(), 1);
        assert_eq!(ls.get(0).unwrap().addr, a);
    }
}
