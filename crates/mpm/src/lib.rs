//! # mpm
//!
//! The crate an embedding program depends on. It re-exports the core
//! vocabulary ([`Handler`], [`Response`], [`Mpm`] …) and compiles in the
//! concurrency strategies chosen with Cargo features. [`compiled`] lists
//! them and [`by_name`] builds one, so a program (like `mpmd`) can pick the
//! strategy at startup.
//!
//! The one-process strategy (`single`, behind `mpmd -X`) is always there.
//!
//! | feature | strategy | default |
//! |---|---|---|
//! | `event` | [`event::Event`]: child processes with an event loop that holds every connection between requests, and `ThreadsPerChild` threads that serve only requests | yes (and the default strategy) |
//! | `prefork` | [`prefork::Prefork`]: single-threaded child processes kept by a master | yes (the default without `event`) |
//! | `worker` | [`worker::Worker`]: child processes of `ThreadsPerChild` threads, a listener thread each | yes |

pub use mpm_core::*;

/// The one-process strategy (`mpmd -X`), beside the ones below.
pub use mpm_core::process::single;

mod server;
pub use server::Server;

/// Apache's prefork MPM (feature `prefork`).
#[cfg(feature = "prefork")]
pub use mpm_prefork as prefork;

/// Apache's worker MPM (feature `worker`).
#[cfg(feature = "worker")]
pub use mpm_worker as worker;

/// Apache's event MPM, with an event loop that owns idle and slow
/// connections (feature `event`).
#[cfg(feature = "event")]
pub use mpm_event as event;

/// The strategies compiled into this build, the default first.
pub fn compiled() -> Vec<&'static str> {
    let mut list = Vec::new();
    if cfg!(feature = "event") {
        list.push("event");
    }
    if cfg!(feature = "prefork") {
        list.push("prefork");
    }
    if cfg!(feature = "worker") {
        list.push("worker");
    }
    list.push("single");
    list
}

/// The strategy a program uses when it names none: the first of
/// [`compiled`].
pub fn default_strategy() -> &'static str {
    compiled()[0]
}

/// Build the strategy called `name` (as listed by [`compiled`]).
pub fn by_name(name: &str) -> Option<Box<dyn Mpm>> {
    match name {
        "single" => Some(Box::new(single::Single)),
        #[cfg(feature = "prefork")]
        "prefork" => Some(Box::new(mpm_prefork::Prefork::new())),
        #[cfg(feature = "worker")]
        "worker" => Some(Box::new(mpm_worker::Worker::new())),
        #[cfg(feature = "event")]
        "event" => Some(Box::new(mpm_event::Event::new())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_compiled_strategy_can_be_built_and_names_itself() {
        for name in super::compiled() {
            let mpm = super::by_name(name).unwrap();
            assert_eq!(mpm.info().name, name);
        }
        assert!(super::by_name("nonesuch").is_none());
    }

    #[test]
    #[cfg(feature = "event")]
    fn event_is_the_default_strategy_when_compiled() {
        assert_eq!(super::default_strategy(), "event");
        assert_eq!(super::compiled().last(), Some(&"single"));
    }

    #[test]
    #[cfg(all(feature = "prefork", not(feature = "event")))]
    fn prefork_is_the_default_strategy_without_event() {
        assert_eq!(super::default_strategy(), "prefork");
    }
}
