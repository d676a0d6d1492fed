//! The pool's rules as pure functions of what the process table shows and
//! a clock value, as the MPMs' spare regulator is
//! ([`mpm_core::process::spare`]): whether a class may start one more
//! process ([`admit`]), whether a process is done after a request
//! ([`after_request`]), and which idle processes an idle scan retires
//! ([`scan`]). The clock is the table's (time since it was made), so the
//! rules are tested with a fake one.

use std::time::Duration;

use super::config::FcgidConfig;

/// A process's state in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    /// Being started (its socket not yet accepting).
    Starting,
    /// Waiting for a request.
    Idle,
    /// Serving a request.
    Busy,
    /// Told to leave; its slot is freed when it is reaped.
    Retiring,
}

/// What the table shows of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcFacts {
    /// Its slot.
    pub slot: usize,
    /// Its class (a key).
    pub class: u64,
    /// Its state.
    pub state: ProcState,
    /// When it started (the table's clock).
    pub started: Duration,
    /// When it last finished a request (or started).
    pub last_active: Duration,
    /// Requests it served.
    pub requests: u64,
}

/// The limit that keeps a class from starting a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `FcgidMaxProcessesPerClass`.
    PerClass(u32),
    /// `FcgidMaxProcesses`.
    Total(u32),
}

impl Limit {
    /// The directive to raise.
    pub fn directive(self) -> &'static str {
        match self {
            Limit::PerClass(_) => "FcgidMaxProcessesPerClass",
            Limit::Total(_) => "FcgidMaxProcesses",
        }
    }

    /// Its value.
    pub fn value(self) -> u32 {
        match self {
            Limit::PerClass(n) | Limit::Total(n) => n,
        }
    }
}

/// Why a request found no process: the one error-log line the pool
/// writes, naming the class, the limit, the counts and the directive to
/// raise (where mod_fcgid says only "can't apply process slot for …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "mod_fcgid: no process for {class} within {waited_ms} ms: {directive} {max} reached \
     ({class_running} running in this class, {total_running} in all, every one busy); \
     raise {directive} if the machine has room",
    directive = limit.directive(),
    max = limit.value()
)]
pub struct NoProcess {
    /// The class (its program, and its wrapper's).
    pub class: String,
    /// The limit hit.
    pub limit: Limit,
    /// Processes of the class.
    pub class_running: u32,
    /// Processes in all.
    pub total_running: u32,
    /// How long the request waited.
    pub waited_ms: u64,
}

/// Whether a class with `class_running` processes, of `total_running` in
/// all, may start one more.
pub fn admit(cfg: &FcgidConfig, class_running: u32, total_running: u32) -> Result<(), Limit> {
    if class_running >= cfg.max_processes_per_class {
        return Err(Limit::PerClass(cfg.max_processes_per_class));
    }
    if total_running >= cfg.max_processes {
        return Err(Limit::Total(cfg.max_processes));
    }
    Ok(())
}

/// Why a process is retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// It served `FcgidMaxRequestsPerProcess` requests.
    MaxRequests,
    /// It was idle for `FcgidIdleTimeout`.
    IdleTimeout,
    /// It lived `FcgidProcessLifeTime`.
    Lifetime,
}

impl Reason {
    /// The directive behind it, for the log.
    pub fn directive(self) -> &'static str {
        match self {
            Reason::MaxRequests => "FcgidMaxRequestsPerProcess",
            Reason::IdleTimeout => "FcgidIdleTimeout",
            Reason::Lifetime => "FcgidProcessLifeTime",
        }
    }
}

/// Whether a process that has now served `requests` is done.
pub fn after_request(cfg: &FcgidConfig, requests: u64) -> Option<Reason> {
    (cfg.max_requests_per_process > 0 && requests >= cfg.max_requests_per_process)
        .then_some(Reason::MaxRequests)
}

/// The idle scan at `now`: the idle processes past `FcgidIdleTimeout` or
/// `FcgidProcessLifeTime`, oldest first, as long as each class keeps
/// `FcgidMinProcessesPerClass` processes (busy, idle or starting).
pub fn scan(cfg: &FcgidConfig, procs: &[ProcFacts], now: Duration) -> Vec<(usize, Reason)> {
    let mut candidates: Vec<(&ProcFacts, Reason)> = procs
        .iter()
        .filter(|p| p.state == ProcState::Idle)
        .filter_map(|p| {
            let lived = now.saturating_sub(p.started);
            let idle = now.saturating_sub(p.last_active);
            if !cfg.process_lifetime.is_zero() && lived >= cfg.process_lifetime {
                Some((p, Reason::Lifetime))
            } else if !cfg.idle_timeout.is_zero() && idle >= cfg.idle_timeout {
                Some((p, Reason::IdleTimeout))
            } else {
                None
            }
        })
        .collect();
    candidates.sort_by_key(|(p, _)| (p.started, p.slot));
    let mut alive: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    for p in procs.iter().filter(|p| p.state != ProcState::Retiring) {
        *alive.entry(p.class).or_default() += 1;
    }
    let mut out = Vec::new();
    for (p, reason) in candidates {
        let left = alive.entry(p.class).or_default();
        if *left <= cfg.min_processes_per_class {
            continue;
        }
        *left -= 1;
        out.push((p.slot, reason));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn proc(slot: usize, class: u64, state: ProcState, started: u64, last: u64) -> ProcFacts {
        ProcFacts {
            slot,
            class,
            state,
            started: S * started as u32,
            last_active: S * last as u32,
            requests: 0,
        }
    }

    #[test]
    fn a_class_at_its_limit_or_a_full_server_may_not_start_a_process() {
        let cfg = FcgidConfig {
            max_processes_per_class: 2,
            max_processes: 3,
            ..FcgidConfig::default()
        };
        assert_eq!(admit(&cfg, 1, 1), Ok(()));
        assert_eq!(admit(&cfg, 2, 2), Err(Limit::PerClass(2)));
        assert_eq!(admit(&cfg, 1, 3), Err(Limit::Total(3)));
    }

    #[test]
    fn the_refusal_names_the_class_the_limit_the_counts_and_the_directive() {
        let line = NoProcess {
            class: "/usr/local/cpanel/cgi-sys/php5".into(),
            limit: Limit::PerClass(120),
            class_running: 120,
            total_running: 340,
            waited_ms: 10_000,
        }
        .to_string();
        for part in [
            "/usr/local/cpanel/cgi-sys/php5",
            "FcgidMaxProcessesPerClass 120 reached",
            "120 running in this class, 340 in all",
            "raise FcgidMaxProcessesPerClass",
        ] {
            assert!(line.contains(part), "{part:?} missing from {line:?}");
        }
    }

    #[test]
    fn a_process_is_recycled_after_its_max_requests_and_never_without_a_limit() {
        let cfg = FcgidConfig {
            max_requests_per_process: 3,
            ..FcgidConfig::default()
        };
        assert_eq!(after_request(&cfg, 2), None);
        assert_eq!(after_request(&cfg, 3), Some(Reason::MaxRequests));
        assert_eq!(after_request(&FcgidConfig::default(), 1_000_000), None);
    }

    #[test]
    fn idle_and_old_processes_are_retired_down_to_the_class_minimum() {
        let cfg = FcgidConfig {
            idle_timeout: S * 60,
            process_lifetime: S * 3600,
            min_processes_per_class: 1,
            ..FcgidConfig::default()
        };
        let procs = [
            proc(0, 7, ProcState::Idle, 0, 10),    // idle since 10 s
            proc(1, 7, ProcState::Idle, 5, 100),   // recently used
            proc(2, 7, ProcState::Idle, 1, 20),    // idle since 20 s
            proc(3, 9, ProcState::Idle, 0, 0),     // alone in its class
            proc(4, 9, ProcState::Retiring, 0, 0), // leaving already
        ];
        // At 100 s: slots 0 and 2 are past 60 s idle; class 7 keeps one
        // (slot 1, busy enough); class 9's only process stays.
        assert_eq!(
            scan(&cfg, &procs, S * 100),
            [(0, Reason::IdleTimeout), (2, Reason::IdleTimeout)]
        );
        // Before the timeout, nothing.
        assert!(scan(&cfg, &procs, S * 50).is_empty());
        // Past the lifetime, even the recently used one goes, but the
        // minimum stays.
        let retired = scan(&cfg, &procs, S * 3700);
        assert_eq!(retired.len(), 2, "{retired:?}");
        assert!(retired.iter().all(|&(slot, _)| slot != 3));
    }

    #[test]
    fn busy_processes_are_never_retired_by_a_scan() {
        let cfg = FcgidConfig {
            idle_timeout: S,
            min_processes_per_class: 0,
            ..FcgidConfig::default()
        };
        let procs = [
            proc(0, 1, ProcState::Busy, 0, 0),
            proc(1, 1, ProcState::Starting, 0, 0),
        ];
        assert!(scan(&cfg, &procs, S * 1000).is_empty());
    }
}
