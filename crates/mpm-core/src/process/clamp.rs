//! MPM directives that contradict each other, clamped with Apache's
//! warnings (what `httpd` prints at start and under `-t`), so a strategy
//! always runs with a consistent configuration and the operator learns
//! which value was changed and why.
//!
//! Clamping happens once, in [`crate::Mpm::check_config`], which hands back
//! a [`Clamped`]: only this module makes one, and [`crate::Mpm::run`],
//! [`crate::Mpm::scoreboard_shape`], the master and each child take it as
//! it is, with every default filled in and the child's thread count
//! decided.

use crate::config::MpmConfig;

/// MPM directives as a strategy runs with them: clamped by its rules
/// ([`prefork`], [`threaded`] for worker and event, [`single`]), each
/// conflict warned about once, every unset directive given the
/// strategy's default. The type can only be made here, so a strategy that
/// is handed one never clamps again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clamped {
    directives: MpmConfig,
    start_servers: u32,
    server_limit: u32,
    max_request_workers: u32,
    threads_per_child: u32,
}

impl Clamped {
    /// Every directive as clamped, the `Option`s filled in: what the
    /// strategy reads as it is (`MaxConnectionsPerChild`, `ListenBacklog`,
    /// `User` …) and what `-t` checks.
    #[inline]
    pub fn directives(&self) -> &MpmConfig {
        &self.directives
    }

    /// `StartServers`: children forked by each (re)start.
    #[inline]
    pub fn start_servers(&self) -> u32 {
        self.start_servers
    }

    /// `ServerLimit`: the scoreboard's process slots.
    #[inline]
    pub fn server_limit(&self) -> u32 {
        self.server_limit
    }

    /// `MaxRequestWorkers`: requests served at once (for a threaded
    /// strategy a multiple of [`Clamped::threads_per_child`]).
    #[inline]
    pub fn max_request_workers(&self) -> u32 {
        self.max_request_workers
    }

    /// Worker threads of each child, at least 1: `ThreadsPerChild` (at
    /// most `ThreadLimit`) for worker and event, 1 for prefork and single.
    #[inline]
    pub fn threads_per_child(&self) -> u32 {
        self.threads_per_child
    }

    /// The clamped directives, their `Option`s filled in.
    fn new(
        mut directives: MpmConfig,
        start_servers: u32,
        server_limit: u32,
        max_request_workers: u32,
        threads_per_child: u32,
    ) -> Clamped {
        directives.start_servers = Some(start_servers);
        directives.server_limit = Some(server_limit);
        directives.max_request_workers = Some(max_request_workers);
        Clamped {
            directives,
            start_servers,
            server_limit,
            max_request_workers,
            threads_per_child,
        }
    }
}

/// The directives of the one-process strategy (`single`): one process,
/// one thread, nothing to clamp; the rest (`User`, `ListenBacklog` …) as
/// given.
pub fn single(cfg: &MpmConfig) -> Clamped {
    Clamped::new(cfg.clone(), 1, 1, 1, 1)
}

/// The highest `ServerLimit` a forking strategy accepts (a guard against a
/// typo that would map a scoreboard of millions of slots).
pub const MAX_SERVER_LIMIT: u32 = 20000;

/// Apache prefork's default `ServerLimit` and `MaxRequestWorkers`.
pub const PREFORK_DEFAULT_LIMIT: u32 = 256;

/// Apache prefork's default `StartServers`.
pub const PREFORK_DEFAULT_START: u32 = 5;

/// Clamp the directives prefork reads, in Apache's order, returning the
/// configuration it runs with (an unset directive takes prefork's default,
/// as in Apache; one thread per child) and one warning per change.
pub fn prefork(cfg: &MpmConfig) -> (Clamped, Vec<String>) {
    let mut c = cfg.clone();
    let mut w = Vec::new();
    let mut server_limit = cfg.server_limit.unwrap_or(PREFORK_DEFAULT_LIMIT);
    let mut max_request_workers = cfg.max_request_workers.unwrap_or(PREFORK_DEFAULT_LIMIT);
    let mut start_servers = cfg.start_servers.unwrap_or(PREFORK_DEFAULT_START);
    if server_limit > MAX_SERVER_LIMIT {
        w.push(format!(
            "WARNING: ServerLimit of {} exceeds compile-time limit of {MAX_SERVER_LIMIT} servers, decreasing to {MAX_SERVER_LIMIT}.",
            server_limit
        ));
        server_limit = MAX_SERVER_LIMIT;
    } else if server_limit < 1 {
        w.push(format!(
            "WARNING: ServerLimit of {} not allowed, increasing to 1.",
            server_limit
        ));
        server_limit = 1;
    }
    if max_request_workers > server_limit {
        w.push(format!(
            "WARNING: MaxRequestWorkers of {} exceeds ServerLimit value of {} servers, decreasing MaxRequestWorkers to {}. To increase, please see the ServerLimit directive.",
            max_request_workers, server_limit, server_limit
        ));
        max_request_workers = server_limit;
    } else if max_request_workers < 1 {
        w.push(format!(
            "WARNING: MaxRequestWorkers of {} not allowed, increasing to 1.",
            max_request_workers
        ));
        max_request_workers = 1;
    }
    if start_servers < 1 {
        w.push(format!(
            "WARNING: StartServers of {} not allowed, increasing to 1.",
            start_servers
        ));
        start_servers = 1;
    } else if start_servers > max_request_workers {
        w.push(format!(
            "WARNING: StartServers of {} exceeds MaxRequestWorkers of {}, decreasing to {}.",
            start_servers, max_request_workers, max_request_workers
        ));
        start_servers = max_request_workers;
    }
    if c.min_spare_servers < 1 {
        w.push(format!(
            "WARNING: MinSpareServers of {} not allowed, increasing to 1 to avoid almost certain server failure. Please read the documentation.",
            c.min_spare_servers
        ));
        c.min_spare_servers = 1;
    }
    if c.max_spare_servers < c.min_spare_servers.saturating_add(1) {
        let to = c.min_spare_servers.saturating_add(1);
        w.push(format!(
            "WARNING: MaxSpareServers of {} is below MinSpareServers of {} plus one, increasing to {to}.",
            c.max_spare_servers, c.min_spare_servers
        ));
        c.max_spare_servers = to;
    }
    (
        Clamped::new(c, start_servers, server_limit, max_request_workers, 1),
        w,
    )
}

/// The highest `ThreadLimit` worker and event accept (Apache's
/// `MAX_THREAD_LIMIT`).
pub const MAX_THREAD_LIMIT: u32 = 20000;

/// The default `StartServers` of Apache's worker and event.
pub const THREADED_DEFAULT_START: u32 = 3;

/// The default `ServerLimit` of Apache's worker and event.
pub const THREADED_DEFAULT_SERVER_LIMIT: u32 = 16;

/// The default `MaxRequestWorkers` of Apache's worker and event (16
/// servers of 25 threads).
pub const THREADED_DEFAULT_MAX_REQUEST_WORKERS: u32 = 400;

/// Clamp the directives the threaded strategies read (worker and event
/// alike: `ServerLimit`, `ThreadLimit`, `ThreadsPerChild`,
/// `MaxRequestWorkers`, `StartServers`, `Min/MaxSpareThreads`), in
/// Apache's order, returning the configuration they run with (an unset
/// directive takes their default) and one warning per change.
///
/// Afterwards `ThreadsPerChild <= ThreadLimit`, `MaxRequestWorkers` is a
/// multiple of `ThreadsPerChild` of at most `ServerLimit` servers,
/// `StartServers` is at most that many servers, and
/// `MaxSpareThreads >= MinSpareThreads + ThreadsPerChild` (so that retiring
/// one idle child cannot drop the spares below the minimum, which would
/// start one again at the next tick).
pub fn threaded(cfg: &MpmConfig) -> (Clamped, Vec<String>) {
    let mut c = cfg.clone();
    let mut w = Vec::new();
    let mut server_limit = cfg.server_limit.unwrap_or(THREADED_DEFAULT_SERVER_LIMIT);
    let mut max_request_workers = cfg
        .max_request_workers
        .unwrap_or(THREADED_DEFAULT_MAX_REQUEST_WORKERS);
    let mut start_servers = cfg.start_servers.unwrap_or(THREADED_DEFAULT_START);
    if server_limit > MAX_SERVER_LIMIT {
        w.push(format!(
            "WARNING: ServerLimit of {server_limit} exceeds compile-time limit of {MAX_SERVER_LIMIT} servers, decreasing to {MAX_SERVER_LIMIT}."
        ));
        server_limit = MAX_SERVER_LIMIT;
    } else if server_limit < 1 {
        w.push(format!(
            "WARNING: ServerLimit of {server_limit} not allowed, increasing to 1."
        ));
        server_limit = 1;
    }
    if c.thread_limit > MAX_THREAD_LIMIT {
        w.push(format!(
            "WARNING: ThreadLimit of {} exceeds compile-time limit of {MAX_THREAD_LIMIT} threads, decreasing to {MAX_THREAD_LIMIT}.",
            c.thread_limit
        ));
        c.thread_limit = MAX_THREAD_LIMIT;
    } else if c.thread_limit < 1 {
        w.push(format!(
            "WARNING: ThreadLimit of {} not allowed, increasing to 1.",
            c.thread_limit
        ));
        c.thread_limit = 1;
    }
    if c.threads_per_child > c.thread_limit {
        w.push(format!(
            "WARNING: ThreadsPerChild of {} exceeds ThreadLimit of {} threads, decreasing to {}. To increase, please see the ThreadLimit directive.",
            c.threads_per_child, c.thread_limit, c.thread_limit
        ));
        c.threads_per_child = c.thread_limit;
    } else if c.threads_per_child < 1 {
        w.push(format!(
            "WARNING: ThreadsPerChild of {} not allowed, increasing to 1.",
            c.threads_per_child
        ));
        c.threads_per_child = 1;
    }
    let tpc = c.threads_per_child;
    if max_request_workers < tpc {
        w.push(format!(
            "WARNING: MaxRequestWorkers of {max_request_workers} is less than ThreadsPerChild of {tpc}, increasing to {tpc}. MaxRequestWorkers must be at least as large as the number of threads in a single server."
        ));
        max_request_workers = tpc;
    }
    let mut servers = max_request_workers / tpc;
    if servers * tpc != max_request_workers {
        let to = servers * tpc;
        w.push(format!(
            "WARNING: MaxRequestWorkers of {max_request_workers} is not an integer multiple of ThreadsPerChild of {tpc}, decreasing to nearest multiple {to}, for a maximum of {servers} servers."
        ));
        max_request_workers = to;
    }
    if servers > server_limit {
        let to = server_limit * tpc;
        w.push(format!(
            "WARNING: MaxRequestWorkers of {max_request_workers} would require {servers} servers and would exceed ServerLimit of {server_limit}, decreasing to {to}. To increase, please see the ServerLimit directive."
        ));
        max_request_workers = to;
        servers = server_limit;
    }
    if start_servers < 1 {
        w.push(format!(
            "WARNING: StartServers of {start_servers} not allowed, increasing to 1."
        ));
        start_servers = 1;
    } else if start_servers > servers {
        w.push(format!(
            "WARNING: StartServers of {start_servers} exceeds the {servers} servers MaxRequestWorkers allows, decreasing to {servers}."
        ));
        start_servers = servers;
    }
    if c.min_spare_threads < 1 {
        w.push(format!(
            "WARNING: MinSpareThreads of {} not allowed, increasing to 1 to avoid almost certain server failure. Please read the documentation.",
            c.min_spare_threads
        ));
        c.min_spare_threads = 1;
    }
    let floor = c.min_spare_threads.saturating_add(tpc);
    if c.max_spare_threads < floor {
        w.push(format!(
            "WARNING: MaxSpareThreads of {} is below MinSpareThreads of {} plus ThreadsPerChild of {tpc}, increasing to {floor}.",
            c.max_spare_threads, c.min_spare_threads
        ));
        c.max_spare_threads = floor;
    }
    (
        Clamped::new(c, start_servers, server_limit, max_request_workers, tpc),
        w,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The directives [`threaded`] clamps to, and its warnings.
    fn worker(cfg: &MpmConfig) -> (MpmConfig, Vec<String>) {
        let (c, w) = threaded(cfg);
        (c.directives().clone(), w)
    }

    /// The directives [`prefork`] clamps to, and its warnings.
    fn prefork(cfg: &MpmConfig) -> (MpmConfig, Vec<String>) {
        let (c, w) = super::prefork(cfg);
        (c.directives().clone(), w)
    }

    fn wbase() -> MpmConfig {
        MpmConfig {
            server_limit: Some(4),
            max_request_workers: Some(16),
            start_servers: Some(2),
            threads_per_child: 4,
            thread_limit: 8,
            min_spare_threads: 2,
            max_spare_threads: 8,
            ..MpmConfig::default()
        }
    }

    #[test]
    fn a_consistent_worker_configuration_is_kept_without_warnings() {
        let (c, w) = worker(&wbase());
        assert_eq!(c, wbase());
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn unset_directives_take_worker_defaults_silently() {
        let (c, w) = worker(&MpmConfig::default());
        assert_eq!(
            (c.server_limit, c.max_request_workers, c.start_servers),
            (Some(16), Some(400), Some(3))
        );
        assert_eq!(
            (
                c.threads_per_child,
                c.thread_limit,
                c.min_spare_threads,
                c.max_spare_threads
            ),
            (25, 64, 75, 250)
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn threads_per_child_above_thread_limit_is_lowered() {
        let (c, w) = worker(&MpmConfig {
            threads_per_child: 10,
            max_request_workers: Some(16),
            max_spare_threads: 16,
            ..wbase()
        });
        assert_eq!(c.threads_per_child, 8);
        assert!(
            w[0].contains("ThreadsPerChild of 10 exceeds ThreadLimit of 8"),
            "{w:?}"
        );
        // 16 is a multiple of 8: two servers, nothing else to say.
        assert_eq!(c.max_request_workers, Some(16));
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn max_request_workers_not_a_multiple_of_threads_per_child_is_rounded_down() {
        let (c, w) = worker(&MpmConfig {
            max_request_workers: Some(14),
            ..wbase()
        });
        assert_eq!(c.max_request_workers, Some(12));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("MaxRequestWorkers of 14 is not an integer multiple of ThreadsPerChild of 4, decreasing to nearest multiple 12, for a maximum of 3 servers"),
            "{w:?}"
        );
    }

    #[test]
    fn max_request_workers_below_threads_per_child_is_raised() {
        let (c, w) = worker(&MpmConfig {
            max_request_workers: Some(3),
            start_servers: Some(1),
            ..wbase()
        });
        assert_eq!(c.max_request_workers, Some(4));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains(
                "MaxRequestWorkers of 3 is less than ThreadsPerChild of 4, increasing to 4"
            ),
            "{w:?}"
        );
    }

    #[test]
    fn more_servers_than_server_limit_lowers_max_request_workers() {
        let (c, w) = worker(&MpmConfig {
            max_request_workers: Some(40),
            ..wbase()
        });
        assert_eq!(c.max_request_workers, Some(16));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("MaxRequestWorkers of 40 would require 10 servers and would exceed ServerLimit of 4, decreasing to 16"),
            "{w:?}"
        );
    }

    #[test]
    fn max_spare_threads_below_min_spare_plus_one_child_is_raised() {
        let (c, w) = worker(&MpmConfig {
            min_spare_threads: 6,
            max_spare_threads: 7,
            ..wbase()
        });
        assert_eq!(c.max_spare_threads, 10);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("MaxSpareThreads of 7 is below MinSpareThreads of 6 plus ThreadsPerChild of 4, increasing to 10"),
            "{w:?}"
        );
    }

    #[test]
    fn min_spare_threads_of_zero_is_raised_to_one() {
        let (c, w) = worker(&MpmConfig {
            min_spare_threads: 0,
            ..wbase()
        });
        assert_eq!(c.min_spare_threads, 1);
        assert!(w[0].contains("MinSpareThreads of 0 not allowed"), "{w:?}");
    }

    #[test]
    fn thread_limit_and_server_limit_above_the_hard_maximum_are_lowered() {
        let (c, w) = worker(&MpmConfig {
            thread_limit: 50_000,
            server_limit: Some(30_000),
            ..wbase()
        });
        assert_eq!(
            (c.thread_limit, c.server_limit),
            (MAX_THREAD_LIMIT, Some(MAX_SERVER_LIMIT))
        );
        assert!(w[0].contains("ServerLimit of 30000 exceeds"), "{w:?}");
        assert!(w[1].contains("ThreadLimit of 50000 exceeds"), "{w:?}");
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn start_servers_beyond_the_servers_allowed_is_lowered() {
        let (c, w) = worker(&MpmConfig {
            start_servers: Some(9),
            ..wbase()
        });
        assert_eq!(c.start_servers, Some(4));
        assert!(w[0].contains("StartServers of 9 exceeds"), "{w:?}");
    }
    fn base() -> MpmConfig {
        MpmConfig {
            server_limit: Some(10),
            max_request_workers: Some(10),
            start_servers: Some(2),
            min_spare_servers: 2,
            max_spare_servers: 4,
            ..MpmConfig::default()
        }
    }

    #[test]
    fn a_consistent_configuration_is_kept_without_warnings() {
        let (c, w) = prefork(&base());
        assert_eq!(c, base());
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn unset_directives_take_prefork_defaults_silently() {
        let (c, w) = prefork(&MpmConfig::default());
        assert_eq!(
            (c.server_limit, c.max_request_workers, c.start_servers),
            (Some(256), Some(256), Some(5))
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn max_request_workers_above_server_limit_is_lowered_with_a_warning() {
        let (c, w) = prefork(&MpmConfig {
            max_request_workers: Some(50),
            ..base()
        });
        assert_eq!(c.max_request_workers, Some(10));
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("MaxRequestWorkers of 50 exceeds ServerLimit value of 10"),
            "{w:?}"
        );
    }

    #[test]
    fn server_limit_above_the_hard_maximum_is_lowered() {
        let (c, w) = prefork(&MpmConfig {
            server_limit: Some(50_000),
            max_request_workers: Some(50_000),
            ..base()
        });
        assert_eq!(
            (c.server_limit, c.max_request_workers),
            (Some(20_000), Some(20_000))
        );
        assert!(w[0].contains("ServerLimit of 50000 exceeds"), "{w:?}");
        assert!(w[1].contains("MaxRequestWorkers of 50000"), "{w:?}");
    }

    #[test]
    fn start_servers_above_max_request_workers_is_lowered() {
        let (c, w) = prefork(&MpmConfig {
            start_servers: Some(12),
            ..base()
        });
        assert_eq!(c.start_servers, Some(10));
        assert!(w[0].contains("StartServers of 12 exceeds"), "{w:?}");
    }

    #[test]
    fn zero_values_are_raised_to_one() {
        let (c, w) = prefork(&MpmConfig {
            start_servers: Some(0),
            min_spare_servers: 0,
            max_spare_servers: 0,
            max_request_workers: Some(0),
            ..base()
        });
        assert_eq!(
            (
                c.start_servers,
                c.min_spare_servers,
                c.max_spare_servers,
                c.max_request_workers
            ),
            (Some(1), 1, 2, Some(1))
        );
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[2].contains("MinSpareServers of 0 not allowed"), "{w:?}");
    }

    #[test]
    fn max_spare_below_min_spare_plus_one_is_raised() {
        let (c, w) = prefork(&MpmConfig {
            min_spare_servers: 5,
            max_spare_servers: 5,
            ..base()
        });
        assert_eq!(c.max_spare_servers, 6);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("MaxSpareServers of 5"), "{w:?}");
    }

    #[test]
    fn a_clamped_configuration_carries_its_numbers_and_threads_per_child() {
        let (c, w) = threaded(&MpmConfig {
            threads_per_child: 90,
            ..MpmConfig::default()
        });
        assert_eq!(
            (
                c.start_servers(),
                c.server_limit(),
                c.max_request_workers(),
                c.threads_per_child()
            ),
            (3, 16, 384, 64),
            "threaded clamping of ThreadsPerChild 90 over ThreadLimit 64 ({w:?})"
        );
        assert_eq!(c.directives().threads_per_child, 64);
        let (c, _) = super::prefork(&MpmConfig::default());
        assert_eq!(
            (
                c.start_servers(),
                c.server_limit(),
                c.max_request_workers(),
                c.threads_per_child()
            ),
            (5, 256, 256, 1),
            "a prefork child runs one thread whatever ThreadsPerChild says"
        );
        let c = single(&MpmConfig::default());
        assert_eq!(
            (
                c.start_servers(),
                c.server_limit(),
                c.max_request_workers(),
                c.threads_per_child()
            ),
            (1, 1, 1, 1)
        );
    }
}
