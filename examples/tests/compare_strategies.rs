//! The compare_strategies example, run briefly: every strategy compiled
//! in serves the same handler and gets a requests/s figure.

mod common;

use std::time::Duration;

#[test]
fn every_compiled_strategy_serves_the_same_handler_and_gets_a_rate() {
    let (status, out) = common::run_to_end(
        "compare_strategies",
        &["--seconds", "0.3", "--connections", "2"],
        Duration::from_secs(120),
    );
    assert!(
        status.success(),
        "compare_strategies ended with {status}:\n{out}"
    );
    for strategy in mpm::strategies() {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{strategy}:")))
            .unwrap_or_else(|| panic!("no line for {strategy} in:\n{out}"));
        let count: u64 = line
            .split('(')
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no request count in {line:?}"));
        assert!(count > 0, "{strategy} answered no request: {line}");
    }
}
