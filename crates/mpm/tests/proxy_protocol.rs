//! An embedder's listener that reads the PROXY protocol
//! (`Server::proxy_protocol`): the handler sees the client the header
//! names. Its own test binary, as `Server::run` installs signal handlers.

mod support;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mpm::strategy::net::proxy::header::encode_v2;
use mpm::ProxyProtocol;

#[test]
fn a_proxy_protocol_listener_gives_the_handler_the_client_address() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listen = addr.to_string();
    let mut server = mpm::Server::new(support::TestApp)
        .strategy("single")
        .listen(&listen)
        .and_then(|s| s.proxy_protocol(&listen, ProxyProtocol::default()))
        .expect("server");
    let control = server.control().expect("control");
    let running = std::thread::spawn(move || server.run());

    let client: SocketAddr = "198.51.100.7:40000".parse().unwrap();
    let header = encode_v2(Some((client, addr)), &[]);
    let until = Instant::now() + Duration::from_secs(10);
    let resp = loop {
        if let Ok(mut s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(&header).unwrap();
            s.write_all(b"GET /peer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .unwrap();
            break mpm::testing::read_response(&mut BufReader::new(s), false);
        }
        assert!(
            Instant::now() < until,
            "the server did not listen within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        resp.text(),
        "198.51.100.7 false",
        "the handler saw another peer"
    );

    let e = mpm::Server::new(support::TestApp)
        .listen(&listen)
        .and_then(|s| s.proxy_protocol("127.0.0.1:1", ProxyProtocol::default()))
        .err()
        .expect("an address never listened on was taken");
    assert!(e.to_string().contains("not given to listen"), "{e}");

    control.stop();
    running.join().expect("server thread").expect("server run");
}
