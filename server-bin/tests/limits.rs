//! Running into `MaxRequestWorkers` through the real `mpmd` (prefork):
//! the master says so in the error log once, the connections beyond the
//! limit wait in the listen queue, and the server serves again once the
//! clients let go.

mod common;

use std::io::{BufReader, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

/// The warning Apache's master logs when it wants a spare child and has no
/// free slot left.
const LIMIT_WARNING: &str = "reached MaxRequestWorkers";

/// A client that holds one keep-alive connection: it sends a request,
/// reads the answer, and sends the next one a second later, until told to
/// stop. The connection is idle between requests, so the child serving it
/// stays in keep-alive wait (busy for the master); a request a second
/// keeps `KeepAliveTimeout 5` from freeing the child while the test
/// watches the log. Returns the number of responses it got.
struct Holder {
    thread: Option<JoinHandle<u32>>,
}

impl Holder {
    fn start(port: u16, stop: Arc<AtomicBool>, answered: Arc<AtomicU32>) -> Holder {
        let thread = std::thread::spawn(move || {
            let mut s = connect(addr(port));
            // A connection beyond the limit waits for a child: longer than
            // the test holds the others.
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut served = 0;
            loop {
                s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    .unwrap();
                let resp = read_response(&mut r, false);
                assert_eq!(resp.status, 200, "a held connection got {resp:?}");
                served += 1;
                if served == 1 {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                for _ in 0..10 {
                    if stop.load(Ordering::SeqCst) {
                        return served;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        Holder {
            thread: Some(thread),
        }
    }

    /// Wait for the thread; its response count, or a panic that says it
    /// failed.
    fn join(mut self) -> u32 {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(n)) => n,
            Some(Err(_)) => panic!("a holding client failed (see its panic above)"),
            None => 0,
        }
    }
}

#[test]
fn busy_children_at_max_request_workers_log_the_limit_warning_once() {
    let site = Site::new();
    let port = free_port();
    site.write("htdocs/index.html", "<h1>home</h1>");
    let conf = site.config(&format!(
        "LoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n\
         Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n\
         StartServers 1\nMinSpareServers 1\nMaxSpareServers 2\n\
         ServerLimit 2\nMaxRequestWorkers 2\nKeepAliveTimeout 5\n",
        site.docroot().display()
    ));
    let mut m = start(&site, &conf);
    assert!(
        !m.stderr().contains(LIMIT_WARNING),
        "the limit warning before any client: {}",
        m.stderr()
    );

    // Four clients for two children: the master forks the second child
    // (one idle spare wanted), then has no slot left for a spare.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU32::new(0));
    let holders: Vec<Holder> = (0..4)
        .map(|_| Holder::start(port, stop.clone(), answered.clone()))
        .collect();

    let until = Instant::now() + Duration::from_secs(10);
    while answered.load(Ordering::SeqCst) < 2 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        answered.load(Ordering::SeqCst),
        2,
        "connections answered while two children should be busy; stderr:\n{}",
        m.stderr()
    );
    m.wait_log(LIMIT_WARNING, 1);

    // Three more regulator ticks (one a second) under the same shortage.
    std::thread::sleep(Duration::from_millis(3500));
    let log = m.stderr();
    assert_eq!(
        log.matches(LIMIT_WARNING).count(),
        1,
        "the warning should be logged once while the shortage lasts; stderr:\n{log}"
    );
    assert_eq!(
        answered.load(Ordering::SeqCst),
        2,
        "a connection beyond MaxRequestWorkers 2 was served while both children were held; stderr:\n{log}"
    );

    // Let go: the held connections close, the waiting ones get their
    // answers, and a new client is served.
    stop.store(true, Ordering::SeqCst);
    let served: Vec<u32> = holders.into_iter().map(Holder::join).collect();
    assert!(
        served.iter().all(|&n| n >= 1),
        "responses per client after release: {served:?}; stderr:\n{}",
        m.stderr()
    );
    let resp = get(addr(port), "localhost", "/");
    assert_eq!(
        resp.status,
        200,
        "after the clients left: {resp:?}; stderr:\n{}",
        m.stderr()
    );
    assert_eq!(resp.body, b"<h1>home</h1>");
}
