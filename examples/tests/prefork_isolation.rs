//! The prefork_isolation example: a handler that changes the process's
//! working directory (state that is not thread-safe) answers every
//! concurrent request right under prefork, one connection per process.

mod support;

use std::collections::BTreeSet;

use support::{request, Example};

#[test]
fn under_prefork_concurrent_requests_never_see_another_tenants_directory() {
    let example = Example::listening("prefork_isolation", &["127.0.0.1:0"]);
    assert!(
        example.seen[0].contains("(prefork,"),
        "prefork_isolation does not say it runs prefork: {}",
        example.seen[0]
    );
    let addr = example.addr;
    let clients: Vec<_> = ["alpha", "beta", "gamma", "alpha", "beta", "gamma"]
        .into_iter()
        .map(|tenant| {
            std::thread::spawn(move || {
                let mut pids = BTreeSet::new();
                for round in 0..8 {
                    let resp = request(addr, "GET", &format!("/tenant/{tenant}"), "");
                    let text = resp.text();
                    assert_eq!(
                        resp.status, 200,
                        "GET /tenant/{tenant} got {}: {text}",
                        resp.status
                    );
                    assert!(
                        text.starts_with(&format!("report for {tenant} (process ")),
                        "GET /tenant/{tenant} (round {round}) got another tenant's report: {text}"
                    );
                    pids.insert(text.split("process ").nth(1).unwrap_or("").to_string());
                }
                pids
            })
        })
        .collect();
    let mut pids = BTreeSet::new();
    for c in clients {
        pids.extend(c.join().expect("a client failed"));
    }
    assert!(
        pids.len() > 1,
        "one process answered every concurrent request: {pids:?}"
    );
}

#[test]
fn an_unknown_tenant_is_not_found() {
    let example = Example::listening("prefork_isolation", &["127.0.0.1:0"]);
    let resp = request(example.addr, "GET", "/tenant/delta", "");
    assert_eq!(
        resp.status,
        404,
        "GET /tenant/delta got {}: {}",
        resp.status,
        resp.text()
    );
}
