//! The MPM directives (mpm_common, prefork, worker and event): each takes
//! one number or duration for the whole server, so they are all table
//! entries. They are kept as written; each strategy clamps them
//! (`Mpm::check_config`), with Apache's warnings.

use super::state::{Setter, State};
use crate::config::values::{number, seconds, Res};

/// `StartServers`, `MaxRequestWorkers` (and its old name `MaxClients`) …
pub(super) const SERVER_WIDE: &[(&str, Setter)] = &[
    ("startservers", |l, n, v| {
        l.mpm.start_servers = Some(number(n, v)?);
        Ok(())
    }),
    ("minspareservers", |l, n, v| {
        l.mpm.min_spare_servers = number(n, v)?;
        Ok(())
    }),
    ("maxspareservers", |l, n, v| {
        l.mpm.max_spare_servers = number(n, v)?;
        Ok(())
    }),
    ("minsparethreads", |l, n, v| {
        l.mpm.min_spare_threads = number(n, v)?;
        Ok(())
    }),
    ("maxsparethreads", |l, n, v| {
        l.mpm.max_spare_threads = number(n, v)?;
        Ok(())
    }),
    ("threadsperchild", |l, n, v| {
        l.mpm.threads_per_child = number(n, v)?;
        Ok(())
    }),
    ("threadlimit", |l, n, v| {
        l.mpm.thread_limit = number(n, v)?;
        Ok(())
    }),
    ("serverlimit", |l, n, v| {
        l.mpm.server_limit = Some(number(n, v)?);
        Ok(())
    }),
    ("maxrequestworkers", max_request_workers),
    ("maxclients", max_request_workers),
    ("asyncrequestworkerfactor", |l, n, v| {
        l.mpm.async_request_worker_factor = number(n, v)?;
        Ok(())
    }),
    ("maxconnectionsperchild", max_connections_per_child),
    ("maxrequestsperchild", max_connections_per_child),
    ("listenbacklog", |l, n, v| {
        let v: u32 = number(n, v)?;
        l.mpm.listen_backlog = i32::try_from(v)
            .map_err(|_| format!("{n} takes a number from 0 to {}, not '{v}'", i32::MAX))?;
        Ok(())
    }),
    ("gracefulshutdowntimeout", |l, n, v| {
        l.mpm.graceful_shutdown_timeout = seconds(n, v)?;
        Ok(())
    }),
];

/// `MaxRequestWorkers`, or `MaxClients` as Apache 2.2 called it.
fn max_request_workers(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    l.mpm.max_request_workers = Some(number(n, v)?);
    Ok(())
}

/// `MaxConnectionsPerChild`, or `MaxRequestsPerChild` as Apache 2.2
/// called it.
fn max_connections_per_child(l: &mut State<'_>, n: &str, v: &str) -> Res<()> {
    l.mpm.max_connections_per_child = number(n, v)?;
    Ok(())
}
