//! [`MasterParams`]: what a strategy's clamped directives ask of the
//! master (how many children, how the spares are kept).

use crate::process::clamp::Clamped;
use crate::process::spare::SpareLimits;

/// How many children, and how the spares are kept; in processes for
/// `start` and `max_children`, in the strategy's idle units (processes or
/// threads) for `spare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MasterParams {
    /// Children started by each run (`StartServers`).
    pub start: u32,
    /// Idle units kept between these bounds.
    pub spare: SpareLimits,
    /// Children of a run alive at once (from `MaxRequestWorkers`); those
    /// told to leave are not counted, and finishing children of earlier
    /// runs hold other slots of the scoreboard (at most its process slots
    /// in all).
    pub max_children: u32,
    /// Worker slots each child uses (1 for prefork, `ThreadsPerChild` for
    /// worker and event; at most the scoreboard's threads): the master
    /// marks them starting and counts their idle ones as spares. The
    /// slots above stay `.`.
    pub threads_per_child: u32,
}

impl MasterParams {
    /// The parameters of prefork from its clamped directives:
    /// `StartServers` children, spare processes between `MinSpareServers`
    /// and `MaxSpareServers`, `MaxRequestWorkers` children at most, one
    /// thread each.
    pub fn prefork(cfg: &Clamped) -> MasterParams {
        let d = cfg.directives();
        MasterParams {
            start: cfg.start_servers(),
            spare: SpareLimits {
                min_spare: d.min_spare_servers,
                max_spare: d.max_spare_servers,
            },
            max_children: cfg.max_request_workers(),
            threads_per_child: 1,
        }
    }

    /// The parameters of a threaded strategy (worker, event) from its
    /// clamped directives: `StartServers` children, spare threads between
    /// `MinSpareThreads` and `MaxSpareThreads`, `MaxRequestWorkers /
    /// ThreadsPerChild` children at most.
    pub fn threaded(cfg: &Clamped) -> MasterParams {
        let d = cfg.directives();
        // At least 1: clamping made it so.
        let threads = cfg.threads_per_child();
        MasterParams {
            start: cfg.start_servers(),
            spare: SpareLimits {
                min_spare: d.min_spare_threads,
                max_spare: d.max_spare_threads,
            },
            max_children: cfg.max_request_workers() / threads,
            threads_per_child: threads,
        }
    }
}
