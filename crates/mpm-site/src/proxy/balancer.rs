//! mod_proxy_balancer: a `balancer://name` group of members, the member
//! chosen per request by `lbmethod` (byrequests or bybusyness, weighted
//! by `loadfactor`), a sticky session's route, hot standbys, and the
//! error state every child shares (the `members` module).
//!
//! The choice, as Apache's balancer makes it:
//!
//! 1. a sticky session: the route in the `stickysession` URL parameter
//!    (`?ROUTEID=x.a` or `;ROUTEID=x.a`), else in the cookie of that name,
//!    is the part after the first `.` of the value; the member with that
//!    `route=` gets the request if it is usable;
//! 2. else the members that are usable (not disabled, not stopped, not
//!    in error) and not hot standbys, by the `lbmethod`;
//! 3. else, when none is, the usable hot standbys (`status=+H`);
//! 4. else 503.
//!
//! byrequests (mod_lbmethod_byrequests): every usable candidate's credit
//! grows by its `loadfactor`; the one with the most credit is chosen and
//! pays the sum of the candidates' factors, so over time each member gets
//! requests in proportion to its factor, interleaved. bybusyness
//! (mod_lbmethod_bybusyness): the candidate with the fewest requests in
//! progress, ties broken by the same credit. The credits and the busy
//! counts live in shared memory, so the proportions hold over all the
//! children together.
//!
//! A member whose connection is refused is put in error for its
//! `retry=` in the shared table and every child skips it until `retry`
//! passes; the request that found it goes to the next choice (failover:
//! a member without an idle pooled connection is connected to before
//! the request is handed to it). A member that fails later in an
//! exchange (a pooled connection's backend died meanwhile) answers that
//! request as a single backend would (503, 502 or 504) and is put in
//! error the same way.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONTENT_LENGTH, COOKIE};
use http::HeaderMap;

use super::config::{BackendUrl, WorkerConfig};
use super::members::{self, MemberCounts, MemberSlot, MemberTable};
use super::worker::{ConnectError, Worker};
use crate::config::Origin;

/// `ProxySet lbmethod=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LbMethod {
    /// `byrequests` (the default): requests in proportion to `loadfactor`.
    #[default]
    ByRequests,
    /// `bybusyness`: the member with the fewest requests in progress.
    ByBusyness,
}

impl LbMethod {
    /// The name `lbmethod=` takes.
    pub fn name(self) -> &'static str {
        match self {
            LbMethod::ByRequests => "byrequests",
            LbMethod::ByBusyness => "bybusyness",
        }
    }
}

/// A `<Proxy balancer://name>` group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancerConfig {
    /// The name, `api` for `balancer://api`.
    pub name: String,
    /// Its members, in file order.
    pub members: Vec<MemberConfig>,
    /// `ProxySet lbmethod=`.
    pub lbmethod: LbMethod,
    /// `ProxySet stickysession=`: the cookie's name and the URL
    /// parameter's (`ROUTEID`, or `cookie|param`).
    pub sticky: Option<(String, String)>,
    /// Health-check parameters (`hcmethod=`…) written on the `ProxyPass`
    /// to it: every member's, under the member's own.
    pub health_params: Vec<String>,
    /// Where it was defined.
    pub origin: Origin,
}

impl BalancerConfig {
    /// An empty balancer named `name` (`api` for `balancer://api`).
    pub fn new(name: impl Into<String>) -> BalancerConfig {
        BalancerConfig {
            name: name.into(),
            members: Vec::new(),
            lbmethod: LbMethod::default(),
            sticky: None,
            health_params: Vec::new(),
            origin: Origin::default(),
        }
    }

    /// Apply one `ProxySet` parameter of a balancer; a member's parameter
    /// is refused here (write it on its `BalancerMember` line).
    pub fn set_param(&mut self, param: &str) -> Result<(), String> {
        let Some((key, value)) = param.split_once('=') else {
            return Err(format!(
                "ProxySet parameter '{param}' is not key=value (e.g. lbmethod=byrequests)"
            ));
        };
        match key.to_ascii_lowercase().as_str() {
            "lbmethod" => {
                self.lbmethod = match value.to_ascii_lowercase().as_str() {
                    "byrequests" => LbMethod::ByRequests,
                    "bybusyness" => LbMethod::ByBusyness,
                    "bytraffic" | "heartbeat" => {
                        return Err(format!(
                            "ProxySet lbmethod={value}: not built in mpmd (byrequests and bybusyness are)"
                        ))
                    }
                    _ => {
                        return Err(format!(
                            "ProxySet lbmethod={value}: give byrequests or bybusyness"
                        ))
                    }
                }
            }
            "stickysession" => {
                let (cookie, param) = value.split_once('|').unwrap_or((value, value));
                if cookie.is_empty() || param.is_empty() || !is_token(cookie) || !is_token(param) {
                    return Err(format!(
                        "ProxySet stickysession={value}: give a cookie name (ROUTEID), or cookie|parameter"
                    ));
                }
                self.sticky = Some((cookie.to_string(), param.to_string()));
            }
            k if k.starts_with("hc") => {
                HealthCheck::default().set_param(param)?;
                self.health_params.push(param.to_string());
            }
            "nofailover" | "maxattempts" | "timeout" | "failonstatus" | "failontimeout"
            | "forcerecovery" | "growth" | "lbset" | "scolonpathdelim" | "stickysessionsep" => {
                return Err(format!(
                    "ProxySet {key}=: not supported by mpmd's balancer (supported: lbmethod, stickysession)"
                ))
            }
            _ => {
                return Err(format!(
                    "ProxySet: unknown balancer parameter '{key}' (supported: lbmethod, stickysession)"
                ))
            }
        }
        Ok(())
    }
}

fn is_token(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.!$%&'*+^`~".contains(&b))
}

/// A `BalancerMember url [key=value …]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConfig {
    /// The backend and its `ProxyPass` parameters (`retry=`, `timeout=`…).
    pub worker: WorkerConfig,
    /// `route=`: its name in sticky sessions.
    pub route: Option<String>,
    /// `loadfactor=` (1 to 100, default 1).
    pub loadfactor: u32,
    /// `status=+H`: a hot standby, used only when no other member is.
    pub hot_standby: bool,
    /// `status=+D`: disabled (takes no new request).
    pub disabled: bool,
    /// `status=+S`: stopped by the administrator.
    pub stopped: bool,
    /// Its health-check parameters (`hcmethod=`…), checked as read.
    pub health_params: Vec<String>,
}

impl MemberConfig {
    /// A member at `url` with the default parameters.
    pub fn new(url: BackendUrl) -> MemberConfig {
        MemberConfig {
            worker: WorkerConfig::new(url),
            route: None,
            loadfactor: 1,
            hot_standby: false,
            disabled: false,
            stopped: false,
            health_params: Vec::new(),
        }
    }

    /// Apply one `key=value` of a `BalancerMember` (the member's own, or
    /// any of `ProxyPass`'s worker parameters).
    pub fn set_param(&mut self, param: &str) -> Result<(), String> {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match key.to_ascii_lowercase().as_str() {
            "route" => {
                if value.is_empty() || !is_token(value) {
                    return Err(format!(
                        "BalancerMember route={value}: give a name of letters, digits, - or _"
                    ));
                }
                self.route = Some(value.to_string());
            }
            "loadfactor" => {
                self.loadfactor = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "BalancerMember loadfactor={value}: give a whole number from 1 to 100"
                        )
                    })?;
            }
            "status" => self.set_status(value)?,
            k if k.starts_with("hc") => {
                HealthCheck::default().set_param(param)?;
                self.health_params.push(param.to_string());
            }
            "redirect" | "lbset" | "ping" | "flushpackets" | "flushwait" => {
                return Err(format!(
                    "BalancerMember {key}=: not supported by mpmd's balancer"
                ))
            }
            _ => self.worker.set_param(param)?,
        }
        Ok(())
    }

    /// `status=+H-D…`: each flag set by `+` (or none) and cleared by `-`.
    fn set_status(&mut self, value: &str) -> Result<(), String> {
        let mut on = true;
        if value.is_empty() {
            return Err("BalancerMember status=: give flags such as +H (hot standby)".into());
        }
        for c in value.chars() {
            match c.to_ascii_uppercase() {
                '+' => on = true,
                '-' => on = false,
                'H' => self.hot_standby = on,
                'D' => self.disabled = on,
                'S' => self.stopped = on,
                other => {
                    return Err(format!(
                        "BalancerMember status={value}: flag '{other}' is not supported by mpmd \
                         (H hot standby, D disabled, S stopped)"
                    ))
                }
            }
        }
        Ok(())
    }
}

/// `hcmethod=`: how a member's health is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HcMethod {
    /// No checks (Apache's default).
    #[default]
    None,
    /// A connection is made, then closed.
    Tcp,
    /// `GET hcuri`: a 2xx or 3xx answer passes.
    Get,
    /// `HEAD hcuri`.
    Head,
    /// `OPTIONS hcuri`.
    Options,
}

impl HcMethod {
    /// The name `hcmethod=` takes.
    pub fn name(self) -> &'static str {
        match self {
            HcMethod::None => "NONE",
            HcMethod::Tcp => "TCP",
            HcMethod::Get => "GET",
            HcMethod::Head => "HEAD",
            HcMethod::Options => "OPTIONS",
        }
    }
}

/// mod_proxy_hcheck's settings of a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `hcmethod=`.
    pub method: HcMethod,
    /// `hcuri=`: appended to the member's URL path.
    pub uri: String,
    /// `hcinterval=` (seconds, default 30).
    pub interval: Duration,
    /// `hcpasses=`: passes in a row that bring a failed member back
    /// (default 1).
    pub passes: u32,
    /// `hcfails=`: failures in a row that take a member out (default 1).
    pub fails: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            method: HcMethod::None,
            uri: String::new(),
            interval: Duration::from_secs(30),
            passes: 1,
            fails: 1,
        }
    }
}

impl HealthCheck {
    /// Apply one `hc…=` parameter; the message says what is accepted.
    pub fn set_param(&mut self, param: &str) -> Result<(), String> {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        let count = |what: &str| -> Result<u32, String> {
            value
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| format!("{what}={value}: give a whole number from 1 to 1000"))
        };
        match key.to_ascii_lowercase().as_str() {
            "hcmethod" => {
                self.method = match value.to_ascii_uppercase().as_str() {
                    "NONE" => HcMethod::None,
                    "TCP" => HcMethod::Tcp,
                    "GET" | "GET11" => HcMethod::Get,
                    "HEAD" | "HEAD11" => HcMethod::Head,
                    "OPTIONS" | "OPTIONS11" => HcMethod::Options,
                    _ => {
                        return Err(format!(
                            "hcmethod={value}: give TCP, GET, HEAD, OPTIONS or NONE"
                        ))
                    }
                }
            }
            "hcuri" => {
                if value.bytes().any(|b| b <= b' ' || b == 0x7f) {
                    return Err(format!("hcuri={value}: no spaces or control characters"));
                }
                self.uri = value.to_string();
            }
            "hcinterval" => {
                let n = value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=86_400).contains(n))
                    .ok_or_else(|| format!("hcinterval={value}: give a number of seconds from 1"))?;
                self.interval = Duration::from_secs(n);
            }
            "hcpasses" => self.passes = count("hcpasses")?,
            "hcfails" => self.fails = count("hcfails")?,
            "hcexpr" | "hctemplate" => {
                return Err(format!(
                    "{key}=: not supported by mpmd's health checks (a 2xx or 3xx answer passes)"
                ))
            }
            _ => {
                return Err(format!(
                    "unknown health-check parameter '{key}' (hcmethod, hcuri, hcinterval, hcpasses, hcfails)"
                ))
            }
        }
        Ok(())
    }
}

/// A `balancer://name/path` URL as `ProxyPass` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancerUrl {
    /// The balancer's name.
    pub name: String,
    /// The path after the name (empty, or starting with `/`), joined to
    /// each member's URL.
    pub path: String,
}

impl BalancerUrl {
    /// `Ok(None)` for a URL of another scheme; the message says what is
    /// wrong with a `balancer://` one.
    pub fn parse(url: &str) -> Result<Option<BalancerUrl>, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(None);
        };
        if !scheme.eq_ignore_ascii_case("balancer") {
            return Ok(None);
        }
        let (name, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if name.is_empty() || !is_token(name) {
            return Err(format!(
                "'{url}': give the balancer's name after balancer:// (balancer://api/)"
            ));
        }
        if path
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || b == b'?' || b == b'#')
        {
            return Err(format!(
                "'{url}': spaces, control characters, ? or # in the path"
            ));
        }
        Ok(Some(BalancerUrl {
            name: name.to_ascii_lowercase(),
            path: path.to_string(),
        }))
    }
}

impl fmt::Display for BalancerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "balancer://{}{}", self.name, self.path)
    }
}

/// A member, ready: its worker (pool per child) and its shared slot.
pub struct Member {
    /// Its configuration.
    pub config: MemberConfig,
    /// The backend.
    pub worker: Arc<Worker>,
    /// Its health checks, if `hcmethod=` asks for them.
    pub health: Option<HealthCheck>,
    pub(super) slot: MemberSlot,
}

/// What the manager page shows of a member's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Usable.
    Ok,
    /// In error for this long still.
    Err(Duration),
    /// Disabled or stopped by the configuration.
    Off,
    /// Held out by its health checks.
    HcFailed,
}

impl Member {
    /// Whether it may take a request now.
    fn usable(&self) -> bool {
        !self.config.disabled
            && !self.config.stopped
            && self.slot.error_left().is_none()
            && !self.slot.hc_failed()
    }

    /// Its state now.
    pub fn state(&self) -> MemberState {
        if self.config.disabled || self.config.stopped {
            MemberState::Off
        } else if self.slot.hc_failed() {
            MemberState::HcFailed
        } else {
            match self.slot.error_left() {
                Some(left) => MemberState::Err(left),
                None => MemberState::Ok,
            }
        }
    }

    /// Its shared counters.
    pub fn counts(&self) -> MemberCounts {
        self.slot.counts()
    }
}

/// A balancer, ready: its members with their shared state.
pub struct Balancer {
    /// Its configuration.
    pub config: BalancerConfig,
    /// Its members, in the configuration's order.
    pub members: Vec<Member>,
    table: MemberTable,
}

impl fmt::Debug for Balancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl Balancer {
    /// Make `cfg`'s balancer, its members' slots claimed in the process's
    /// shared table (`live`: the keys of every member configured now);
    /// `timeout` is the host's `ProxyTimeout`.
    pub fn new(
        cfg: &BalancerConfig,
        timeout: Duration,
        live: &dyn Fn(u64) -> bool,
    ) -> Result<Balancer, String> {
        let table = members::table()
            .map_err(|e| format!("the balancers' shared memory could not be mapped: {e}"))?;
        let mut out = Vec::with_capacity(cfg.members.len());
        for m in &cfg.members {
            let key = members::key(&cfg.name, &m.worker.url.to_string());
            let slot = table.claim(key, live).ok_or_else(|| {
                format!(
                    "balancer://{}: more than {} balancer members in all; the shared table is full",
                    cfg.name,
                    members::MAX_MEMBERS
                )
            })?;
            let mut health = HealthCheck::default();
            for p in cfg.health_params.iter().chain(&m.health_params) {
                health.set_param(p)?;
            }
            out.push(Member {
                config: m.clone(),
                worker: Arc::new(Worker::new(m.worker.clone(), timeout)),
                health: (health.method != HcMethod::None).then_some(health),
                slot,
            });
        }
        Ok(Balancer {
            config: cfg.clone(),
            members: out,
            table,
        })
    }

    /// The member for a request with these `headers` and `query`, or
    /// `None` when no member is usable.
    pub fn choose(&self, headers: &HeaderMap, query: Option<&str>, path: &str) -> Option<&Member> {
        self.choose_but(headers, query, path, &[])
    }

    /// The member for a request, ready for it, and busy with it: as
    /// [`choose`](Self::choose), and when the chosen member has no
    /// connection in its pool, one is made first (and left in the pool
    /// for the request): a member that refuses it is put in error for
    /// every child and the request goes to the next choice (Apache's
    /// failover), so a member found down costs no request.
    pub fn pick(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        path: &str,
    ) -> Option<(&Member, Busy)> {
        let mut tried: Vec<*const Member> = Vec::new();
        while tried.len() < self.members.len() {
            let m = self.choose_but(headers, query, path, &tried)?;
            if self.ready(m) {
                return Some((m, self.start(m, headers)));
            }
            tried.push(m);
        }
        None
    }

    /// Whether `m` can take a request now: a connection idle in its
    /// pool, or a new one made (and pooled). A worker that does not pool
    /// is left to the exchange.
    fn ready(&self, m: &Member) -> bool {
        let w = &m.worker;
        if w.config.disable_reuse || w.config.max_idle == 0 || w.has_live_idle() {
            return true;
        }
        match w.connect() {
            Ok(stream) => {
                w.checkin(stream, None);
                true
            }
            Err(ConnectError::InError(left)) => {
                if m.slot.error_left().is_none() {
                    m.slot.set_error(left);
                }
                false
            }
            Err(ConnectError::Failed(e)) => {
                log::error!(
                    "proxy: balancer://{}: {}: could not connect ({e}); every child skips it for {} s \
                     (retry=), the request goes to another member",
                    self.config.name,
                    w.name,
                    w.config.retry.as_secs()
                );
                if !w.config.retry.is_zero() {
                    m.slot.set_error(w.config.retry);
                }
                false
            }
        }
    }

    fn choose_but(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        path: &str,
        tried: &[*const Member],
    ) -> Option<&Member> {
        let usable = |m: &Member| m.usable() && !tried.contains(&(m as *const Member));
        if let Some(route) = self.sticky_route(headers, query, path) {
            if let Some(m) = self
                .members
                .iter()
                .find(|m| m.config.route.as_deref() == Some(route) && usable(m))
            {
                return Some(m);
            }
        }
        let usable = |standby: bool| {
            self.members
                .iter()
                .filter(move |m| m.config.hot_standby == standby && usable(m))
        };
        let standby = usable(false).next().is_none();
        let _held = self.table.lock();
        let mut total: i64 = 0;
        let mut best: Option<&Member> = None;
        for m in usable(standby) {
            let factor = i64::from(m.config.loadfactor);
            m.slot.add_lbstatus(factor);
            total += factor;
            best = match best {
                None => Some(m),
                Some(b) => {
                    let better = match self.config.lbmethod {
                        LbMethod::ByRequests => m.slot.lbstatus() > b.slot.lbstatus(),
                        LbMethod::ByBusyness => {
                            m.slot.busy() < b.slot.busy()
                                || (m.slot.busy() == b.slot.busy()
                                    && m.slot.lbstatus() > b.slot.lbstatus())
                        }
                    };
                    Some(if better { m } else { b })
                }
            };
        }
        if let Some(b) = best {
            b.slot.add_lbstatus(-total);
        }
        best
    }

    /// The route a sticky session names: the URL parameter's value, else
    /// the cookie's, after its first `.`.
    fn sticky_route<'r>(
        &self,
        headers: &'r HeaderMap,
        query: Option<&'r str>,
        path: &'r str,
    ) -> Option<&'r str> {
        let (cookie, param) = self.config.sticky.as_ref()?;
        let from_path = path
            .split(';')
            .skip(1)
            .chain(query.into_iter().flat_map(|q| q.split('&')))
            .find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == param).then_some(v)
            });
        let value = from_path.or_else(|| {
            headers
                .get_all(COOKIE)
                .iter()
                .filter_map(|h| h.to_str().ok())
                .flat_map(|h| h.split(';'))
                .find_map(|kv| {
                    let (k, v) = kv.trim().split_once('=')?;
                    (k == cookie).then_some(v.trim_matches('"'))
                })
        })?;
        let (_, route) = value.split_once('.')?;
        (!route.is_empty()).then_some(route)
    }

    /// Start a request on `member`: counted and busy until the guard
    /// drops.
    pub fn start(&self, member: &Member, headers: &HeaderMap) -> Busy {
        let to = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        member.slot.start(to);
        Busy { slot: member.slot }
    }
}

/// A request in progress on a member: its slot's busy count goes down
/// when this drops; [`read`](Busy::read) counts response bytes.
pub struct Busy {
    slot: MemberSlot,
}

impl Busy {
    /// `n` response bytes read from the member.
    pub fn read(&self, n: u64) {
        self.slot.read(n);
    }

    /// The member's connection failed: in error for `retry` in every
    /// child (unless it already is).
    pub fn failed(&self, retry: Duration) {
        if self.slot.error_left().is_none() {
            self.slot.set_error(retry);
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.slot.done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(name: &str, members: &[&str], method: LbMethod) -> Balancer {
        let mut cfg = BalancerConfig::new(name);
        cfg.lbmethod = method;
        for m in members {
            let mut parts = m.split(' ');
            let url = BackendUrl::parse(parts.next().unwrap()).unwrap();
            let mut mc = MemberConfig::new(url);
            for p in parts {
                mc.set_param(p).unwrap();
            }
            cfg.members.push(mc);
        }
        cfg.set_param("stickysession=ROUTEID").unwrap();
        Balancer::new(&cfg, Duration::from_secs(5), &|_| true).unwrap()
    }

    fn picks(b: &Balancer, n: usize) -> Vec<u16> {
        (0..n)
            .map(|_| {
                b.choose(&HeaderMap::new(), None, "/")
                    .unwrap()
                    .config
                    .worker
                    .url
                    .port
            })
            .collect()
    }

    #[test]
    fn byrequests_interleaves_members_in_proportion_to_their_loadfactor() {
        let b = balancer(
            "unit-byrequests",
            &["http://127.0.0.1:1", "http://127.0.0.1:2 loadfactor=2"],
            LbMethod::ByRequests,
        );
        let p = picks(&b, 6);
        assert_eq!(p.iter().filter(|&&x| x == 2).count(), 4, "{p:?}");
        assert!(p.windows(2).all(|w| !(w[0] == 1 && w[1] == 1)), "{p:?}");
    }

    #[test]
    fn bybusyness_prefers_the_member_with_fewer_requests_in_progress() {
        let b = balancer(
            "unit-bybusyness",
            &["http://127.0.0.1:1", "http://127.0.0.1:2"],
            LbMethod::ByBusyness,
        );
        let first = b.choose(&HeaderMap::new(), None, "/").unwrap();
        let _busy = b.start(first, &HeaderMap::new());
        for _ in 0..3 {
            let next = b.choose(&HeaderMap::new(), None, "/").unwrap();
            assert!(!std::ptr::eq(next, first), "the busy member was chosen");
        }
    }

    #[test]
    fn a_sticky_route_from_the_url_or_the_cookie_picks_its_member() {
        let b = balancer(
            "unit-sticky",
            &["http://127.0.0.1:1 route=a", "http://127.0.0.1:2 route=b"],
            LbMethod::ByRequests,
        );
        let mut h = HeaderMap::new();
        h.insert(COOKIE, "x=1; ROUTEID=s1.b".parse().unwrap());
        for _ in 0..4 {
            assert_eq!(b.choose(&h, None, "/").unwrap().config.worker.url.port, 2);
            assert_eq!(
                b.choose(&HeaderMap::new(), Some("q=1&ROUTEID=.a"), "/")
                    .unwrap()
                    .config
                    .worker
                    .url
                    .port,
                1
            );
        }
    }

    #[test]
    fn a_hot_standby_serves_only_when_no_other_member_is_usable() {
        let b = balancer(
            "unit-standby",
            &["http://127.0.0.1:1", "http://127.0.0.1:2 status=+H"],
            LbMethod::ByRequests,
        );
        assert!(picks(&b, 4).iter().all(|&p| p == 1));
        b.start(&b.members[0], &HeaderMap::new())
            .failed(Duration::from_secs(60));
        assert!(picks(&b, 4).iter().all(|&p| p == 2));
        b.start(&b.members[1], &HeaderMap::new())
            .failed(Duration::from_secs(60));
        assert!(b.choose(&HeaderMap::new(), None, "/").is_none());
    }

    #[test]
    fn balancer_urls_and_parameters_are_checked() {
        assert_eq!(BalancerUrl::parse("http://a/").unwrap(), None);
        let u = BalancerUrl::parse("balancer://API/x").unwrap().unwrap();
        assert_eq!((u.name.as_str(), u.path.as_str()), ("api", "/x"));
        assert!(BalancerUrl::parse("balancer:///x").is_err());
        let mut m = MemberConfig::new(BackendUrl::parse("http://a/").unwrap());
        assert!(m.set_param("loadfactor=0").is_err());
        assert!(m.set_param("status=+X").is_err());
        m.set_param("status=+H").unwrap();
        m.set_param("retry=5").unwrap();
        assert!(m.hot_standby);
        assert_eq!(m.worker.retry, Duration::from_secs(5));
        let mut c = BalancerConfig::new("a");
        assert!(c.set_param("lbmethod=random").is_err());
        c.set_param("stickysession=JSESSIONID|jsessionid").unwrap();
        assert_eq!(
            c.sticky,
            Some(("JSESSIONID".to_string(), "jsessionid".to_string()))
        );
    }
}
