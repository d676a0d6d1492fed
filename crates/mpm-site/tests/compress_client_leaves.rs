//! A compressed response to a client that leaves before its end frees its
//! encoder: the body (and the gzip or Brotli state inside it) is dropped
//! when a write to the closed connection fails. Served in this process
//! (the `single` strategy), so the test can count the encoders alive.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mpm::testing::TestServer;
use mpm::ProtocolConfig;
use mpm_site::compress::{live_encoders, Encoding};
use mpm_site::{Site, SiteConfig, StatusInfo, VirtualHost};

/// Polls `cond` every 10 ms for up to `secs` seconds.
fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Text that compresses about 2:1 (so the compressed stream is megabytes
/// long and cannot sit in the socket buffers), without a random crate.
fn text(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b"abcdefghijklmnopqrstuvwxyz \n"[(x % 28) as usize]
        })
        .collect()
}

#[test]
fn a_client_that_leaves_mid_body_frees_its_encoder() {
    let dir = tempfile::tempdir().unwrap();
    // Larger than the variant cache takes (an eighth of 16 MiB), so the
    // body is streamed through an encoder.
    std::fs::write(dir.path().join("big.txt"), text(12 << 20)).unwrap();
    let mut host = VirtualHost::new(dir.path());
    for encoding in [Encoding::Gzip, Encoding::Br] {
        host.dir
            .filters
            .compress
            .by_type
            .push(("text/plain".into(), encoding));
    }
    let status = Arc::new(StatusInfo {
        server_version: "test".into(),
        mpm: mpm_core::MpmInfo {
            name: "single",
            threaded: false,
            forked: false,
        },
        built: "today".into(),
        started: SystemTime::now(),
        server_name: "localhost".into(),
    });
    let scoreboard = mpm_core::Scoreboard::new(1, 1).unwrap();
    let site = Site::new(&SiteConfig::new(host), scoreboard, status).unwrap();
    let server = TestServer::start(
        mpm::by_name("single").expect("the single strategy"),
        Arc::new(site),
        ProtocolConfig::default(),
    );
    for coding in ["gzip", "br"] {
        let mut client = TcpStream::connect(server.addr()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            client,
            "GET /big.txt HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: {coding}\r\n\r\n"
        )
        .unwrap();
        let mut first = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < first.len() {
            let n = client.read(&mut first[got..]).unwrap();
            assert!(n > 0, "{coding}: the server closed before sending 64 KiB");
            got += n;
        }
        let head = String::from_utf8_lossy(&first[..512]).to_lowercase();
        assert!(
            head.contains(&format!("content-encoding: {coding}")),
            "{coding}: not compressed: {head}"
        );
        assert_eq!(
            live_encoders(),
            1,
            "{coding}: the response under way holds no counted encoder"
        );
        drop(client);
        assert!(
            wait_for(10, || live_encoders() == 0),
            "{coding}: {} encoder(s) still alive 10 s after the client left",
            live_encoders()
        );
    }
}
