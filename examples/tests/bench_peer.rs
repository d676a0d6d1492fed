//! The bench_peer example: the docroot's files are read once at start and
//! answered from memory, as the hyper peer it is compared with does.

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};

use support::{request, wait_for, Example};

/// A loopback address with a port free now (bench_peer takes its
/// address on the command line and does not print the port it got).
fn free_addr() -> SocketAddr {
    let probe = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    probe.local_addr().expect("its address")
}

#[test]
fn bench_peer_answers_the_docroot_files_it_read_at_start_even_once_they_are_gone() {
    let root = tempfile::tempdir().expect("a temporary docroot");
    std::fs::create_dir(root.path().join("static")).expect("static/");
    let small = root.path().join("static/4k.bin");
    std::fs::write(&small, vec![b'x'; 4096]).expect("static/4k.bin");
    let addr = free_addr();
    let (addr_arg, root_arg) = (addr.to_string(), root.path().display().to_string());
    let _peer = Example::start("bench_peer", &[&addr_arg, &root_arg, "event", "2", "1"]);
    assert!(
        wait_for(30, || TcpStream::connect(addr).is_ok()),
        "bench_peer did not listen on {addr} within 30 s"
    );

    let first = request(addr, "GET", "/static/4k.bin", "");
    assert_eq!(
        (first.status, first.body.len()),
        (200, 4096),
        "bench_peer answered /static/4k.bin so"
    );
    // Gone from disk: still answered, from the copy read at start.
    std::fs::remove_file(&small).expect("remove static/4k.bin");
    let again = request(addr, "GET", "/static/4k.bin", "");
    assert_eq!(
        (again.status, again.body == first.body),
        (200, true),
        "bench_peer answered /static/4k.bin removed from disk with status {} and {} bytes: \
         not from the copy it read at start",
        again.status,
        again.body.len()
    );
    // A file that came later is read from disk.
    std::fs::write(root.path().join("late.txt"), "late").expect("late.txt");
    let late = request(addr, "GET", "/late.txt", "");
    assert_eq!(
        (late.status, late.text()),
        (200, "late".to_string()),
        "bench_peer answered a file written after its start so"
    );
}
