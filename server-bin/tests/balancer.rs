//! The balancer (`<Proxy balancer://…>`, `BalancerMember`, `ProxySet`)
//! in the real `mpmd`, in front of embedded `mpm` backends started by the
//! test (threads of this process) that say who they are and count what
//! they serve.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use mpm::http::{HeaderValue, StatusCode};
use mpm::testing::TestServer;
use mpm::{Body, ConnInfo, ProtocolConfig, Request, Response};

/// An embedded backend named `name`: answers `name` to anything; `/slow`
/// waits (at most 20 s) until `release` is set, after saying it started;
/// `/health` answers 200, or 503 while `sick` is set (counted apart).
struct Backend {
    server: TestServer,
    served: Arc<AtomicUsize>,
    slow_started: Arc<AtomicUsize>,
    release: Arc<AtomicBool>,
    health_checks: Arc<AtomicUsize>,
    sick: Arc<AtomicBool>,
}

impl Backend {
    fn start(name: &'static str) -> Backend {
        let served = Arc::new(AtomicUsize::new(0));
        let slow_started = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicBool::new(false));
        let health_checks = Arc::new(AtomicUsize::new(0));
        let sick = Arc::new(AtomicBool::new(false));
        let (s, st, rel) = (served.clone(), slow_started.clone(), release.clone());
        let (hc, ill) = (health_checks.clone(), sick.clone());
        let handler = move |req: Request<'_>, _: &ConnInfo| -> Response {
            if req.uri().path().ends_with("/health") {
                hc.fetch_add(1, Ordering::SeqCst);
                let mut r = Response::new(Body::from("health"));
                if ill.load(Ordering::SeqCst) {
                    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                }
                return r;
            }
            s.fetch_add(1, Ordering::SeqCst);
            if req.uri().path().ends_with("/slow") {
                st.fetch_add(1, Ordering::SeqCst);
                wait_for(20.0, || rel.load(Ordering::SeqCst));
            }
            let host = req
                .headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_string();
            let mut r = Response::new(Body::from(format!("{name} {}", req.uri())));
            let h = r.headers_mut();
            h.insert("x-backend", HeaderValue::from_static(name));
            if let Ok(v) = HeaderValue::from_str(&format!("http://{host}/base/v1/next")) {
                h.insert("location", v);
            }
            r
        };
        let strategy = mpm::by_name("event-threads").expect("the in-process event strategy");
        let server = TestServer::start(strategy, Arc::new(handler), ProtocolConfig::default());
        Backend {
            server,
            served,
            slow_started,
            release,
            health_checks,
            sick,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

/// `mpmd` under `mpm` with `conf` after the common directives, and a
/// read-only manager page.
fn start_proxy(mpm: &str, conf: &str) -> (Site, u16, Mpmd) {
    let site = Site::new();
    let port = free_port();
    let conf = format!(
        "{conf}\n<Location /balancer-manager>\nSetHandler balancer-manager\nRequire local\n</Location>\n"
    );
    let server = start_mpm(&site, mpm, port, &conf);
    (site, port, server)
}

/// GET `path` with extra header lines on a new connection: (status,
/// the backend that answered, if one did).
fn ask(port: u16, path: &str, headers: &str) -> (u16, String) {
    let r = raw(
        addr(port),
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n")
            .as_bytes(),
    );
    (r.status, r.header("x-backend").unwrap_or("").to_string())
}

fn manager(port: u16, auto: bool) -> String {
    let path = if auto {
        "/balancer-manager?auto"
    } else {
        "/balancer-manager"
    };
    let r = get(addr(port), "localhost", path);
    assert_eq!(r.status, 200, "the manager page answered {}", r.status);
    r.text()
}

/// The `?auto` line of the member at `url`.
fn member_line(port: u16, url: &str) -> String {
    manager(port, true)
        .lines()
        .find(|l| l.starts_with(&format!("Member: {url}")))
        .unwrap_or_else(|| panic!("no member {url} on the manager page"))
        .to_string()
}

/// The number `name=` holds on a member's `?auto` line (0 if none).
fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn byrequests_spreads_requests_by_loadfactor_over_every_child_under_every_strategy() {
    for mpm in ["event", "prefork", "worker"] {
        let (a, b) = (Backend::start("a"), Backend::start("b"));
        let (_site, port, server) = start_proxy(
            mpm,
            &format!(
                "<Proxy balancer://api>\nBalancerMember {} route=a\n\
                 BalancerMember {} route=b loadfactor=2\nProxySet lbmethod=byrequests\n</Proxy>\n\
                 ProxyPass /api/ balancer://api/\n",
                a.url(),
                b.url()
            ),
        );
        let mut seen = Vec::new();
        for i in 0..30 {
            let (status, who) = ask(port, &format!("/api/x{i}"), "");
            assert_eq!(status, 200, "{mpm}: request {i}: {}", server.stderr());
            seen.push(who);
        }
        // The credit is shared by the children: the split is exact.
        let to_a = seen.iter().filter(|w| *w == "a").count();
        assert!(
            (9..=11).contains(&to_a) && a.served() + b.served() == 30,
            "{mpm}: a got {to_a} of 30 requests (1:2 gives 10): {seen:?}"
        );
        let line = member_line(port, &b.url());
        assert!(
            line.contains("LoadFactor=2") && line.contains("Status=Init_Ok"),
            "{mpm}: {line}"
        );
        drop(server);
    }
}

#[test]
fn the_member_path_is_joined_to_the_rest_of_the_balancer_url_and_reverse_rewrites_for_every_member()
{
    let a = Backend::start("a");
    let (_site, port, server) = start_proxy(
        "event",
        &format!(
            "BalancerMember balancer://app {}/base\nProxyPass /app/ balancer://app/v1/\n\
             ProxyPassReverse /app/ balancer://app/v1/\n",
            a.url()
        ),
    );
    let r = get(addr(port), "localhost", "/app/x?q=1");
    assert_eq!(r.status, 200, "{}", server.stderr());
    assert_eq!(r.text(), "a /base/v1/x?q=1", "the member was asked this");
    assert_eq!(
        r.header("location"),
        Some("http://localhost/app/next"),
        "ProxyPassReverse to the balancer did not rewrite the member's Location"
    );
}

#[test]
fn sticky_sessions_follow_the_route_of_the_cookie_and_of_the_url_parameter() {
    for mpm in ["event", "prefork", "worker"] {
        let (a, b) = (Backend::start("a"), Backend::start("b"));
        let (_site, port, server) = start_proxy(
            mpm,
            &format!(
                "<Proxy balancer://api>\nBalancerMember {} route=a\nBalancerMember {} route=b\n</Proxy>\n\
                 ProxyPass /api/ balancer://api/ stickysession=ROUTEID\n",
                a.url(),
                b.url()
            ),
        );
        for i in 0..6 {
            let (status, who) = ask(port, "/api/x", "Cookie: theme=dark; ROUTEID=s1.b\r\n");
            assert_eq!(
                (status, who.as_str()),
                (200, "b"),
                "{mpm}: request {i} with the cookie of route b: {}",
                server.stderr()
            );
            let (status, who) = ask(port, "/api/x?page=2&ROUTEID=s1.a", "");
            assert_eq!(
                (status, who.as_str()),
                (200, "a"),
                "{mpm}: request {i} with the parameter of route a"
            );
        }
        // The URL parameter wins over the cookie, as in Apache.
        let (_, who) = ask(port, "/api/x?ROUTEID=.a", "Cookie: ROUTEID=.b\r\n");
        assert_eq!(who, "a", "{mpm}: the cookie won over the URL parameter");
        drop(server);
    }
}

#[test]
fn bybusyness_sends_requests_to_the_member_that_is_not_busy_in_every_child_under_every_strategy() {
    for mpm in ["event", "prefork", "worker"] {
        let (a, b) = (Backend::start("a"), Backend::start("b"));
        let (_site, port, server) = start_proxy(
            mpm,
            &format!(
                "<Proxy balancer://api>\nBalancerMember {}\nBalancerMember {}\n\
                 ProxySet lbmethod=bybusyness\n</Proxy>\nProxyPass /api/ balancer://api/\n",
                a.url(),
                b.url()
            ),
        );
        let slow = std::thread::spawn(move || ask(port, "/api/slow", ""));
        assert!(
            wait_for(10.0, || a.slow_started.load(Ordering::SeqCst)
                + b.slow_started.load(Ordering::SeqCst)
                == 1),
            "{mpm}: the slow request did not reach a member: {}",
            server.stderr()
        );
        let busy = if a.slow_started.load(Ordering::SeqCst) == 1 {
            "a"
        } else {
            "b"
        };
        for i in 0..6 {
            let (status, who) = ask(port, "/api/quick", "");
            assert_eq!(status, 200);
            assert_ne!(
                who, busy,
                "{mpm}: request {i} went to the member busy with the slow one"
            );
        }
        let busy_url = if busy == "a" { a.url() } else { b.url() };
        let line = member_line(port, &busy_url);
        assert!(
            line.contains("Busy=1"),
            "{mpm}: the busy member shows: {line}"
        );
        a.release.store(true, Ordering::SeqCst);
        b.release.store(true, Ordering::SeqCst);
        let (status, who) = slow.join().unwrap();
        assert_eq!((status, who.as_str()), (200, busy));
        assert!(
            wait_for(5.0, || member_line(port, &busy_url).contains("Busy=0")),
            "{mpm}: the member stayed busy after its answer: {}",
            member_line(port, &busy_url)
        );
    }
}

#[test]
fn a_hot_standby_serves_only_while_no_other_member_is_usable() {
    let (a, standby) = (Backend::start("a"), Backend::start("standby"));
    let a_url = a.url();
    let (_site, port, server) = start_proxy(
        "event",
        &format!(
            "<Proxy balancer://api>\nBalancerMember {a_url} retry=60\n\
             BalancerMember {} status=+H\n</Proxy>\nProxyPass /api/ balancer://api/\n",
            standby.url()
        ),
    );
    for i in 0..6 {
        let (status, who) = ask(port, "/api/x", "");
        assert_eq!(
            (status, who.as_str()),
            (200, "a"),
            "request {i}: {}",
            server.stderr()
        );
    }
    assert_eq!(standby.served(), 0, "the hot standby served while a was up");
    drop(a);
    // The request that finds a down fails over to the standby, and a is
    // in error from then on: the standby serves every request.
    for i in 0..6 {
        assert_eq!(
            ask(port, "/api/x", ""),
            (200, "standby".to_string()),
            "request {i} while a is down"
        );
    }
    let line = member_line(port, &a_url);
    assert!(line.contains("Status=Init_Err"), "{line}");
}

#[test]
fn a_member_that_refused_a_connection_is_skipped_by_every_child_at_once_and_its_request_fails_over()
{
    let up = Backend::start("up");
    // A port nothing listens on.
    let down = format!("http://127.0.0.1:{}", free_port());
    let (_site, port, mut server) = start_proxy(
        "prefork",
        &format!(
            "StartServers 4\nMinSpareServers 4\nMaxSpareServers 8\n\
             <Proxy balancer://api>\nBalancerMember {}\nBalancerMember {down} retry=60\n</Proxy>\n\
             ProxyPass /api/ balancer://api/\n",
            up.url()
        ),
    );
    // Four connections held at once: four children, each with its own
    // per-child pool and worker; only the shared state can tell them.
    let mut clients: Vec<_> = (0..4)
        .map(|_| mpm::testing::TestClient::connect(addr(port)))
        .collect();
    let mut statuses = Vec::new();
    for round in 0..3 {
        for (i, c) in clients.iter_mut().enumerate() {
            let r = c.request("GET", "/api/x", &[("Host", "localhost")], b"");
            statuses.push((round, i, r.status));
        }
    }
    assert!(
        statuses.iter().all(|s| s.2 == 200),
        "a request failed instead of going to the member that is up: {statuses:?}"
    );
    // One child found the member down; no other child tried it.
    let needle = format!("{down}: could not connect");
    server.wait_log(&needle, 1);
    assert_eq!(
        server.stderr().matches(&needle).count(),
        1,
        "more than one child tried the member in error: {}",
        server.stderr()
    );
    let line = member_line(port, &down);
    assert!(
        line.contains("Status=Init_Err") && line.contains("Errors=1"),
        "{line}"
    );
}

#[test]
fn the_manager_page_lists_balancers_and_members_with_state_and_counts() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let (_site, port, server) = start_proxy(
        "event",
        &format!(
            "<Proxy balancer://api>\nBalancerMember {} route=r1\nBalancerMember {} route=r2 loadfactor=3 status=+H\n\
             ProxySet lbmethod=bybusyness stickysession=ROUTEID\n</Proxy>\nProxyPass /api/ balancer://api/\n",
            a.url(),
            b.url()
        ),
    );
    for _ in 0..3 {
        assert_eq!(ask(port, "/api/x", "").0, 200, "{}", server.stderr());
    }
    let html = manager(port, false);
    for want in [
        "balancer://api",
        "bybusyness",
        "ROUTEID",
        &a.url(),
        &b.url(),
        "r1",
        "Init Ok",
        "Init Stby Ok",
    ] {
        assert!(html.contains(want), "the HTML page lacks {want:?}: {html}");
    }
    let auto = manager(port, true);
    assert!(
        auto.contains("Balancer: balancer://api\nLbMethod: bybusyness\nStickySession: ROUTEID\n"),
        "{auto}"
    );
    let line = member_line(port, &a.url());
    assert!(
        line.contains("Route=r1 LoadFactor=1 Status=Init_Ok Requests=3 Busy=0 Errors=0"),
        "{line}"
    );
    let from = field(&line, "From");
    assert!(from >= 3 * "a /x".len() as u64, "bytes from a: {line}");
    // Only local clients: Require local, like any <Location>.
    assert!(html.contains("Read-only"));
}

#[test]
fn configuration_errors_name_the_line_and_what_to_write() {
    let site = Site::new();
    let port = free_port();
    let base = format!(
        "{}Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n",
        mpm_directives("event"),
        site.docroot().display()
    );
    for (conf, says) in [
        ("ProxyPass /a/ balancer://nope/\n", "no <Proxy balancer://nope>"),
        (
            "<Proxy balancer://a>\nBalancerMember http://127.0.0.1:1 loadfactor=0\n</Proxy>\n",
            "from 1 to 100",
        ),
        (
            "<Proxy balancer://a>\nBalancerMember http://127.0.0.1:1\n</Proxy>\nProxyPass /a/ balancer://a/ hcmethod=POST\n",
            "give TCP, GET, HEAD, OPTIONS or NONE",
        ),
        (
            "ProxyPass /a/ http://127.0.0.1:1/ hcmethod=GET\n",
            "health checks are for balancer members",
        ),
        (
            "BalancerMember balancer://a http://127.0.0.1:1 hcinterval=0\n",
            "hcinterval=0",
        ),
        (
            "<Proxy balancer://a>\nProxySet lbmethod=random\n</Proxy>\n",
            "give byrequests or bybusyness",
        ),
        (
            "<Proxy balancer://a>\nProxySet lbmethod=bybusyness\n</Proxy>\nProxyPass /a/ balancer://a/\n",
            "has no BalancerMember",
        ),
        (
            "<Proxy http://127.0.0.1:1>\n</Proxy>\n",
            "only <Proxy balancer://name>",
        ),
    ] {
        let f = site.config(&format!("{base}{conf}"));
        let (code, _out, err) = run(&["-t", "-f", f.to_str().unwrap()]);
        assert_ne!(code, 0, "-t accepted {conf:?}");
        assert!(err.contains(says), "{conf:?}: -t said {err}");
        let file = format!("{}:", f.display());
        assert!(
            err.contains(&file),
            "{conf:?}: the message names no file:line: {err}"
        );
    }
    let f = site.config(&format!(
        "{base}<IfModule proxy_balancer_module>\n<Proxy balancer://a>\nBalancerMember http://127.0.0.1:1 status=+H route=x\n\
         ProxySet lbmethod=bybusyness\n</Proxy>\nProxyPass /a/ balancer://a/ hcmethod=TCP hcinterval=5\n</IfModule>\n"
    ));
    let (code, _out, err) = run(&["-t", "-f", f.to_str().unwrap()]);
    assert_eq!(code, 0, "-t refused a good balancer: {err}");
    let (_, out, _) = run(&["-M", "-f", f.to_str().unwrap()]);
    for m in [
        "proxy_balancer_module",
        "lbmethod_byrequests_module",
        "lbmethod_bybusyness_module",
        "proxy_hcheck_module",
    ] {
        assert!(out.contains(m), "-M does not list {m}: {out}");
    }
}

#[test]
fn health_checks_take_a_member_out_after_hcfails_and_back_after_hcpasses_in_every_child() {
    for mpm in ["prefork", "event"] {
        let (a, b) = (Backend::start("a"), Backend::start("b"));
        let b_url = b.url();
        let (_site, port, mut server) = start_proxy(
            mpm,
            &format!(
                "StartServers 3\n<Proxy balancer://api>\nBalancerMember {}\n\
                 BalancerMember {b_url} hcmethod=GET hcuri=/health hcinterval=1 hcfails=2 hcpasses=2\n\
                 </Proxy>\nProxyPass /api/ balancer://api/\n",
                a.url()
            ),
        );
        let started = std::time::Instant::now();
        let checks = |port| field(&member_line(port, &b_url), "HealthChecks");
        assert!(
            wait_for(15.0, || checks(port) >= 3),
            "{mpm}: no health checks ran: {}\n{}",
            member_line(port, &b_url),
            server.stderr()
        );
        // One check per interval over all the children, not one per child.
        let (seen, ran) = (b.health_checks.load(Ordering::SeqCst) as u64, checks(port));
        let most = started.elapsed().as_secs() + 2;
        assert!(
            seen <= most && ran <= most,
            "{mpm}: {seen} checks reached b ({ran} counted) in {} s at hcinterval=1",
            started.elapsed().as_secs()
        );
        // Sick: out after two failed checks; no client request fails.
        b.sick.store(true, Ordering::SeqCst);
        let mut statuses = Vec::new();
        let out = wait_for(15.0, || {
            statuses.push(ask(port, "/api/x", "").0);
            member_line(port, &b_url).contains("Status=Init_HcFl")
        });
        assert!(
            out,
            "{mpm}: b was not taken out: {}",
            member_line(port, &b_url)
        );
        assert!(
            statuses.iter().all(|&s| s == 200),
            "{mpm}: requests failed meanwhile: {statuses:?}"
        );
        let before = b.served();
        for i in 0..8 {
            let (status, who) = ask(port, "/api/x", "");
            assert_eq!(
                (status, who.as_str()),
                (200, "a"),
                "{mpm}: request {i} while b fails its checks"
            );
        }
        assert_eq!(b.served(), before, "{mpm}: a child still sent b requests");
        // Well again: back after two passes.
        b.sick.store(false, Ordering::SeqCst);
        assert!(
            wait_for(15.0, || member_line(port, &b_url)
                .contains("Status=Init_Ok")),
            "{mpm}: b did not come back: {}",
            member_line(port, &b_url)
        );
        let to_b = (0..8).filter(|_| ask(port, "/api/x", "").1 == "b").count();
        assert!(to_b >= 3, "{mpm}: b took {to_b} of 8 requests once back");
        // The error log names the member, the cause and the way back.
        server.wait_log(
            "failed 2 health check(s) in a row (GET /health answered 503)",
            1,
        );
        server.wait_log("passed 2 health check(s) in a row; back in use", 1);
    }
}

#[test]
fn members_keep_their_counts_and_error_state_across_a_graceful_restart() {
    let a = Backend::start("a");
    let down = format!("http://127.0.0.1:{}", free_port());
    let (_site, port, mut server) = start_proxy(
        "prefork",
        &format!(
            "<Proxy balancer://api>\nBalancerMember {}\nBalancerMember {down} retry=60\n</Proxy>\n\
             ProxyPass /api/ balancer://api/\n",
            a.url()
        ),
    );
    let statuses: Vec<u16> = (0..4).map(|_| ask(port, "/api/x", "").0).collect();
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let before = field(&member_line(port, &a.url()), "Requests");
    server.wait_log("resuming normal operations", 1);
    server.signal(nix::sys::signal::Signal::SIGUSR1);
    server.wait_log("resuming normal operations", 2);
    let line = member_line(port, &a.url());
    assert!(
        field(&line, "Requests") >= before && before >= 3,
        "a's count restarted from {before}: {line}"
    );
    let line = member_line(port, &down);
    assert!(
        line.contains("Status=Init_Err") && line.contains("Errors=1"),
        "the down member's error state was lost: {line}"
    );
    for i in 0..4 {
        assert_eq!(
            ask(port, "/api/x", ""),
            (200, "a".to_string()),
            "request {i} after the restart tried the member in error"
        );
    }
}
