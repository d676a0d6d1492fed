//! The compare_strategies example, run briefly: every strategy compiled
//! in serves the same handler and gets a requests/s figure.

mod support;

#[test]
fn every_compiled_strategy_serves_the_same_handler_and_gets_a_rate() {
    let (_, out) = support::run_to_end(
        "compare_strategies",
        &["--seconds", "0.3", "--connections", "2"],
        120,
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
