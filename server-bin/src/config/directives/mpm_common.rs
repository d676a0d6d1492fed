//! The MPM directives (mpm_common, prefork, worker and event): each takes
//! one number or duration for the whole server, so they are all table
//! entries. They are kept as written; each strategy clamps them
//! (`Mpm::check_config`), with Apache's warnings.

use super::state::{set, Setter};
use crate::config::values::{number, seconds};

/// `StartServers`, `MaxRequestWorkers` (and its old name `MaxClients`) …
#[rustfmt::skip] // A table: one directive a line.
pub(super) const SERVER_WIDE: &[(&str, Setter)] = &[
    ("startservers", |l, n, v| set(&mut l.mpm.start_servers, number(n, v).map(Some))),
    ("minspareservers", |l, n, v| set(&mut l.mpm.min_spare_servers, number(n, v))),
    ("maxspareservers", |l, n, v| set(&mut l.mpm.max_spare_servers, number(n, v))),
    ("minsparethreads", |l, n, v| set(&mut l.mpm.min_spare_threads, number(n, v))),
    ("maxsparethreads", |l, n, v| set(&mut l.mpm.max_spare_threads, number(n, v))),
    ("threadsperchild", |l, n, v| set(&mut l.mpm.threads_per_child, number(n, v))),
    ("threadlimit", |l, n, v| set(&mut l.mpm.thread_limit, number(n, v))),
    ("serverlimit", |l, n, v| set(&mut l.mpm.server_limit, number(n, v).map(Some))),
    // Apache 2.2 called it MaxClients.
    ("maxrequestworkers", |l, n, v| set(&mut l.mpm.max_request_workers, number(n, v).map(Some))),
    ("maxclients", |l, n, v| set(&mut l.mpm.max_request_workers, number(n, v).map(Some))),
    ("asyncrequestworkerfactor", |l, n, v| set(&mut l.mpm.async_request_worker_factor, number(n, v))),
    // Apache 2.2 called it MaxRequestsPerChild.
    ("maxconnectionsperchild", |l, n, v| set(&mut l.mpm.max_connections_per_child, number(n, v))),
    ("maxrequestsperchild", |l, n, v| set(&mut l.mpm.max_connections_per_child, number(n, v))),
    ("listenbacklog", |l, n, v| {
        let v: u32 = number(n, v)?;
        let backlog = i32::try_from(v)
            .map_err(|_| format!("{n} takes a number from 0 to {}, not '{v}'", i32::MAX));
        set(&mut l.mpm.listen_backlog, backlog)
    }),
    ("gracefulshutdowntimeout", |l, n, v| set(&mut l.mpm.graceful_shutdown_timeout, seconds(n, v))),
];
