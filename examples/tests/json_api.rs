//! The json_api example: routes, JSON in and out, and its items shared
//! right under every strategy (in memory in one process, in a locked file
//! opened per child when it forks).

mod support;

use std::net::SocketAddr;

use serde_json::Value;
use support::{request, Example};

/// POST `count` items from four clients at once (so a forking server
/// spreads them over its children); the ids it handed out.
fn post_items(addr: SocketAddr, count: usize) -> Vec<u64> {
    let per_client = count / 4;
    let clients: Vec<_> = (0..4)
        .map(|c| {
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                let n = if c == 3 {
                    count - 3 * per_client
                } else {
                    per_client
                };
                for i in 0..n {
                    let body = format!(r#"{{"name": "item {c}-{i}"}}"#);
                    let resp = request(addr, "POST", "/items", &body);
                    assert_eq!(
                        resp.status,
                        201,
                        "POST /items got {}: {}",
                        resp.status,
                        resp.text()
                    );
                    let item: Value = serde_json::from_slice(&resp.body).unwrap_or_else(|e| {
                        panic!("POST /items answered no JSON ({e}): {}", resp.text())
                    });
                    let id = item["id"].as_u64().expect("an id");
                    assert_eq!(
                        resp.header("location"),
                        Some(format!("/items/{id}").as_str())
                    );
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    clients
        .into_iter()
        .flat_map(|c| c.join().expect("a client panicked"))
        .collect()
}

/// Every GET /items (on a new connection each, so possibly another child
/// each) lists exactly ids 1..=count.
fn assert_all_listed(addr: SocketAddr, count: u64, strategy: &str) {
    for round in 0..6 {
        let resp = request(addr, "GET", "/items", "");
        assert_eq!(
            resp.status, 200,
            "{strategy}: GET /items got {}",
            resp.status
        );
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let items: Vec<Value> = serde_json::from_slice(&resp.body).unwrap_or_else(|e| {
            panic!(
                "{strategy}: GET /items is no JSON list ({e}): {}",
                resp.text()
            )
        });
        let mut ids: Vec<u64> = items.iter().filter_map(|i| i["id"].as_u64()).collect();
        ids.sort();
        assert_eq!(
            ids,
            (1..=count).collect::<Vec<_>>(),
            "{strategy}: GET /items (round {round}) listed other ids than the {count} posted"
        );
    }
}

#[test]
fn under_the_default_strategy_46_posts_are_all_listed_with_unique_ids() {
    let api = Example::listening("json_api", &["127.0.0.1:0"]);
    assert!(
        api.seen[0].contains("(event-threads, items in memory)"),
        "json_api does not say it serves in one process with the items in memory: {}",
        api.seen[0]
    );
    let mut ids = post_items(api.addr, 46);
    ids.sort();
    assert_eq!(ids, (1..=46).collect::<Vec<_>>(), "the ids POST handed out");
    assert_all_listed(api.addr, 46, "event-threads");
}

#[test]
fn under_every_forking_strategy_the_items_live_in_one_file_so_none_is_lost_or_doubled() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for strategy in mpm::compiled().into_iter().filter(|s| *s != "single") {
        let file = dir.path().join(format!("{strategy}.jsonl"));
        let api = Example::listening(
            "json_api",
            &[
                "127.0.0.1:0",
                strategy,
                file.to_str().expect("a UTF-8 path"),
            ],
        );
        assert!(
            api.seen[0].contains(&format!("({strategy}, items in {})", file.display())),
            "json_api under {strategy} does not say it keeps the items in {}: {}",
            file.display(),
            api.seen[0]
        );
        let mut ids = post_items(api.addr, 46);
        ids.sort();
        assert_eq!(
            ids,
            (1..=46).collect::<Vec<_>>(),
            "{strategy}: the ids POST handed out"
        );
        assert_all_listed(api.addr, 46, strategy);
    }
}

#[test]
fn one_item_by_id_and_json_errors_for_the_rest() {
    let api = Example::listening("json_api", &["127.0.0.1:0"]);
    request(api.addr, "POST", "/items", r#"{"name": "tea"}"#);
    let resp = request(api.addr, "GET", "/items/1", "");
    assert_eq!(
        (resp.status, resp.text()),
        (200, r#"{"id":1,"name":"tea"}"#.to_string())
    );

    let cases = [
        ("GET", "/items/2", "", 404),
        ("GET", "/items/x", "", 404),
        ("GET", "/elsewhere", "", 404),
        ("POST", "/items", "{not json", 400),
        ("POST", "/items", r#"{"title": "tea"}"#, 400),
        ("DELETE", "/items", "", 405),
    ];
    for (method, path, body, status) in cases {
        let resp = request(api.addr, method, path, body);
        assert_eq!(
            resp.status,
            status,
            "{method} {path} {body:?} got {}: {}",
            resp.status,
            resp.text()
        );
        let error: Value = serde_json::from_slice(&resp.body).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: the error is no JSON ({e}): {}",
                resp.text()
            )
        });
        assert!(
            error["error"].is_string(),
            "{method} {path}: {}",
            resp.text()
        );
    }
    let resp = request(api.addr, "DELETE", "/items", "");
    assert_eq!(resp.header("allow"), Some("GET, POST"));
}
