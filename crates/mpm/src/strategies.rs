//! The strategies compiled into this build, by name.

use mpm_core::process::single;
use mpm_core::Mpm;

/// The Apache MPMs compiled into this build (`event`, `prefork`,
/// `worker`, each a Cargo feature), Apache's default first, then `single`:
/// the strategies `mpmd` loads with `LoadModule mpm_<name>_module`, each
/// forking a pool of child processes (but `single`). [`strategies`] adds
/// the threaded strategies that serve in the calling process.
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

/// Every name [`by_name`] and [`crate::Server::strategy`] accept in this
/// build: those that serve in the calling process first ([`Server`]'s
/// default first: `event-threads`, `worker-threads`, `single`), then the
/// forking ones (`event`, `prefork`, `worker`).
///
/// [`Server`]: crate::Server
pub fn strategies() -> Vec<&'static str> {
    let mut list = Vec::new();
    if cfg!(feature = "event") {
        list.push("event-threads");
    }
    if cfg!(feature = "worker") {
        list.push("worker-threads");
    }
    list.push("single");
    list.extend(compiled().into_iter().filter(|n| *n != "single"));
    list
}

/// Apache's default among the MPMs compiled in: the first of
/// [`compiled`], what `mpmd` runs when its configuration loads none
/// (`event` when compiled in, else `prefork`). [`crate::Server`] has its
/// own default, which serves in the calling process: the first of
/// [`strategies`].
pub fn default_strategy() -> &'static str {
    compiled()[0]
}

/// Build the strategy called `name` (as listed by [`strategies`]).
pub fn by_name(name: &str) -> Option<Box<dyn Mpm>> {
    match name {
        "single" => Some(Box::new(single::Single)),
        #[cfg(feature = "prefork")]
        "prefork" => Some(Box::new(mpm_prefork::Prefork::new())),
        #[cfg(feature = "worker")]
        "worker" => Some(Box::new(mpm_worker::Worker::new())),
        #[cfg(feature = "worker")]
        "worker-threads" => Some(Box::new(mpm_worker::Worker::in_process())),
        #[cfg(feature = "event")]
        "event" => Some(Box::new(mpm_event::Event::new())),
        #[cfg(feature = "event")]
        "event-threads" => Some(Box::new(mpm_event::Event::in_process())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_strategy_can_be_built_and_names_itself() {
        for name in super::strategies() {
            let mpm = super::by_name(name).unwrap();
            assert_eq!(mpm.info().name, name);
            assert_eq!(
                mpm.info().forked,
                super::compiled().contains(&name) && name != "single",
                "{name}: forks exactly when it is one of Apache's MPMs"
            );
        }
        assert!(super::by_name("nonesuch").is_none());
    }

    #[test]
    fn the_in_process_strategies_come_first_and_apaches_follow() {
        let all = super::strategies();
        let in_process = all.iter().position(|n| *n == "single").unwrap();
        assert!(all[..in_process].iter().all(|n| n.ends_with("-threads")));
        let mut apache: Vec<_> = all[in_process + 1..].to_vec();
        apache.push("single");
        assert_eq!(apache, super::compiled());
    }

    #[test]
    #[cfg(feature = "event")]
    fn event_is_the_default_strategy_when_compiled() {
        assert_eq!(super::default_strategy(), "event");
        assert_eq!(super::strategies()[0], "event-threads");
        assert_eq!(super::compiled().last(), Some(&"single"));
    }

    #[test]
    #[cfg(all(feature = "prefork", not(feature = "event")))]
    fn prefork_is_the_default_strategy_without_event() {
        assert_eq!(super::default_strategy(), "prefork");
    }
}
