use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::fcgid::testing::{program, Plain};
use crate::script::tests::wait_for;

fn pool(dir: &Path, cfg: FcgidConfig) -> Pool {
    let cfg = FcgidConfig {
        ipc_dir: Some(dir.join("sockets")),
        ..cfg
    };
    Pool::new(cfg, Arc::new(Plain)).unwrap()
}

/// (status, body) of one request with `body`.
fn ask(pool: &Pool, class: &Class, body: &[u8]) -> (u16, String) {
    let response = pool.handle(
        class,
        &mut CgiEnv::default(),
        &mut &body[..],
        Some(body.len() as u64),
    );
    let status = response.status().as_u16();
    let mut text = Vec::new();
    match response.into_body() {
        Body::Bytes(b) => text.extend_from_slice(&b),
        Body::Reader { mut reader, .. } => {
            reader.read_to_end(&mut text).unwrap();
        }
        Body::File { mut file, .. } => {
            file.read_to_end(&mut text).unwrap();
        }
        _ => {}
    }
    (status, String::from_utf8_lossy(&text).into_owned())
}

fn pid_of(answer: &str) -> u32 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {answer:?}"))
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

#[test]
fn a_process_serves_request_after_request_and_is_recycled_after_its_max_requests() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(
        dir.path(),
        FcgidConfig {
            max_requests_per_process: 3,
            ..FcgidConfig::default()
        },
    );
    let class = Class::new("recycled".into(), program(0));
    let pids: Vec<u32> = (0..4)
        .map(|_| {
            let (status, answer) = ask(&pool, &class, b"hello");
            assert_eq!(status, 200, "{answer}");
            assert!(answer.ends_with("len 5"), "{answer}");
            pid_of(&answer)
        })
        .collect();
    assert_eq!(
        pids[0], pids[1],
        "the second request started another process"
    );
    assert_eq!(pids[1], pids[2]);
    assert_ne!(
        pids[2], pids[3],
        "a process served more than FcgidMaxRequestsPerProcess"
    );
    assert!(
        wait_for(10, || !alive(pids[0])),
        "the recycled process {} was not ended and reaped",
        pids[0]
    );
}

#[test]
fn a_process_that_crashed_is_replaced_by_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(dir.path(), FcgidConfig::default());
    let class = Class::new("crashing".into(), program(0));
    let first = pid_of(&ask(&pool, &class, b"").1);
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    assert!(
        wait_for(10, || !alive(first)),
        "the killed process is still there"
    );
    let (status, answer) = ask(&pool, &class, b"");
    assert_eq!(status, 200, "after the crash: {answer}");
    assert_ne!(pid_of(&answer), first);
    let reaped = || !Path::new(&format!("/proc/{first}")).exists();
    assert!(wait_for(10, reaped), "the crashed process was not reaped");
    assert_eq!(
        pool.table().counts(class.key).0,
        1,
        "one process of the class is left"
    );
}

#[test]
fn a_class_at_its_limit_makes_a_request_wait_then_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Arc::new(pool(
        dir.path(),
        FcgidConfig {
            max_processes_per_class: 1,
            connect_timeout: Duration::from_millis(300),
            ..FcgidConfig::default()
        },
    ));
    let class = Class::new("limited".into(), program(3));
    let busy = {
        let (pool, class) = (pool.clone(), class.clone());
        std::thread::spawn(move || ask(&pool, &class, b""))
    };
    assert!(
        wait_for(10, || pool.table().counts(class.key).0 == 1),
        "the first request started no process"
    );
    let started = Instant::now();
    let (status, _) = ask(&pool, &class, b"");
    assert_eq!(status, 503, "a request beyond FcgidMaxProcessesPerClass");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "it waited {waited:?}, not FcgidConnectTimeout"
    );
    assert_eq!(busy.join().unwrap().0, 200);
}

#[test]
fn an_idle_process_is_retired_after_the_idle_timeout_down_to_the_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(
        dir.path(),
        FcgidConfig {
            idle_timeout: Duration::from_millis(500),
            min_processes_per_class: 0,
            ..FcgidConfig::default()
        },
    );
    let class = Class::new("idle".into(), program(0));
    let pid = pid_of(&ask(&pool, &class, b"").1);
    assert!(
        wait_for(10, || !alive(pid)),
        "the idle process {pid} is still there"
    );
    assert!(
        wait_for(5, || pool.table().counts(class.key).0 == 0),
        "its slot was not freed"
    );
}

#[test]
fn a_body_beyond_max_request_in_mem_arrives_whole_and_one_beyond_max_request_len_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(
        dir.path(),
        FcgidConfig {
            max_request_in_mem: 1000,
            max_request_len: 100_000,
            ..FcgidConfig::default()
        },
    );
    let class = Class::new("bodies".into(), program(0));
    let (status, answer) = ask(&pool, &class, &vec![b'x'; 50_000]);
    assert_eq!(status, 200);
    assert!(answer.ends_with("len 50000"), "{answer}");
    assert_eq!(ask(&pool, &class, &vec![b'x'; 100_001]).0, 413);
    // Without a Content-Length (chunked), counted as it is read.
    let body = vec![b'x'; 100_001];
    let response = pool.handle(&class, &mut CgiEnv::default(), &mut &body[..], None);
    assert_eq!(response.status(), 413);
}

#[test]
fn a_process_silent_past_the_io_timeout_is_a_504_and_is_retired() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(
        dir.path(),
        FcgidConfig {
            io_timeout: Duration::from_millis(300),
            ..FcgidConfig::default()
        },
    );
    let class = Class::new("slow".into(), program(3));
    let started = Instant::now();
    let (status, _) = ask(&pool, &class, b"");
    assert_eq!(status, 504, "a process silent past FcgidIOTimeout");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited {:?}",
        started.elapsed()
    );
    assert!(
        wait_for(10, || pool.table().counts(class.key).0 == 0),
        "the silent process was not retired"
    );
}
