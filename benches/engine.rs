//! What it measures: the protocol engine's cost per request, without any
//! socket: parse a typical ~400-byte browser GET (`parse_head`), decide
//! its framing and persistence (`plan_length`, `keep_alive_after`) and
//! write the response head for a 13-byte body into a reused buffer
//! (`encode_head`).
//!
//! Why: every strategy (prefork, worker, event) runs exactly this code for
//! every request, so it is the floor under all of them; and heap
//! allocations per request are the first thing to grow under load, so the
//! bench counts them with a counting global allocator and prints
//! `allocations per request: N` before criterion's timing.
//!
//! Run: `cargo bench -p mpm-benches --bench engine -- --warm-up-time 1
//! --measurement-time 3`.
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::{HeaderMap, HeaderValue, StatusCode};
use mpm::strategy::h1::{encode_head, keep_alive_after, parse_head, plan_length};
use mpm::{Limits, Timeouts};

/// The system allocator, counting every allocation (and reallocation).
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; counting has no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A Firefox-like GET of a page, with a cookie.
const REQUEST: &[u8] = b"GET /articles/2024/rust-http-engine.html?ref=home HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
Cookie: session=4f2a9c1e7b3d; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
\r\n";

/// One request's worth of engine work; returns the head length written.
fn serve_one(
    limits: &Limits,
    timeouts: &Timeouts,
    headers: &HeaderMap,
    out: &mut Vec<u8>,
) -> usize {
    let Ok(Some((head, _consumed))) = parse_head(black_box(REQUEST), limits) else {
        panic!("the bench request does not parse");
    };
    let status = StatusCode::OK;
    let length = plan_length(head.version, &head.method, status, Some(13));
    let keep = keep_alive_after(&head, 1, timeouts, length);
    out.clear();
    encode_head(out, status, headers, length, keep, head.version, "mpmd/0.1");
    out.len()
}

fn engine(c: &mut Criterion) {
    let limits = Limits::default();
    let timeouts = Timeouts::default();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/plain"));
    let mut out = Vec::with_capacity(512);

    // Warm the Date cache and the buffer, then count.
    serve_one(&limits, &timeouts, &headers, &mut out);
    const ROUNDS: usize = 1000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..ROUNDS {
        black_box(serve_one(&limits, &timeouts, &headers, &mut out));
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    println!(
        "request: {} bytes; allocations per request: {}",
        REQUEST.len(),
        allocations as f64 / ROUNDS as f64
    );

    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_and_answer_browser_get", |b| {
        b.iter(|| serve_one(&limits, &timeouts, &headers, &mut out))
    });
    // The two halves apart, to see where the time goes.
    group.bench_function("parse_head_only", |b| {
        b.iter(|| parse_head(black_box(REQUEST), &limits).map(|r| r.map(|(_, n)| n)))
    });
    let Ok(Some((head, _))) = parse_head(REQUEST, &limits) else {
        panic!("the bench request does not parse");
    };
    group.bench_function("encode_head_only", |b| {
        b.iter(|| {
            out.clear();
            encode_head(
                &mut out,
                StatusCode::OK,
                &headers,
                mpm::strategy::h1::ResponseLength::Known(13),
                true,
                head.version,
                "mpmd/0.1",
            );
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
