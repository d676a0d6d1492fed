//! The strategies compiled into this build, by name.

use mpm_core::process::single;
use mpm_core::Mpm;

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
