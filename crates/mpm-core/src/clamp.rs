//! MPM directives that contradict each other, clamped with Apache's
//! warnings (what `httpd` prints at start and under `-t`), so a strategy
//! always runs with a consistent configuration and the operator learns
//! which value was changed and why.

use crate::config::MpmConfig;

/// The highest `ServerLimit` a forking strategy accepts (a guard against a
/// typo that would map a scoreboard of millions of slots).
pub const MAX_SERVER_LIMIT: u32 = 20000;

/// Apache prefork's default `ServerLimit` and `MaxRequestWorkers`.
pub const PREFORK_DEFAULT_LIMIT: u32 = 256;

/// Apache prefork's default `StartServers`.
pub const PREFORK_DEFAULT_START: u32 = 5;

/// Clamp the directives prefork reads, in Apache's order, returning the
/// configuration it runs with (every `Option` filled: an unset directive
/// takes prefork's default, as in Apache) and one warning per change.
pub fn prefork(cfg: &MpmConfig) -> (MpmConfig, Vec<String>) {
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
    c.server_limit = Some(server_limit);
    c.max_request_workers = Some(max_request_workers);
    c.start_servers = Some(start_servers);
    (c, w)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
