//! A global allocator that counts what the threads that ask for it keep
//! on the heap: live bytes and blocks, and blocks by size. For the tests
//! and benches that measure what a connection costs while it is idle
//! (repeatable to the byte, unlike a PSS delta). Shared by `#[path]`
//! (mpm-core's `tls_steps` test, the `idle_heap` bench); each declares
//! `#[global_allocator] static ALLOC: counting::Counting = counting::Counting;`.
//!
//! Only threads that called [`count_this_thread`] are counted, so a test
//! harness's other tests, or a client on a thread of its own, do not
//! blur the figure.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

/// The counting allocator (the system's, counted).
pub struct Counting;

static BYTES: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);
/// Live blocks by size (sizes under `SIZES`).
const SIZES: usize = 8192;
static BY_SIZE: [AtomicIsize; SIZES] = [const { AtomicIsize::new(0) }; SIZES];

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Count (or stop counting) the calling thread's allocations.
pub fn count_this_thread(on: bool) {
    COUNTED.with(|c| c.set(on));
}

/// False also while the thread's locals are torn down.
fn counted() -> bool {
    COUNTED.try_with(|c| c.get()).unwrap_or(false)
}

fn count(bytes: isize, blocks: isize) {
    BYTES.fetch_add(bytes, Ordering::Relaxed);
    BLOCKS.fetch_add(blocks, Ordering::Relaxed);
}

fn count_size(size: usize, by: isize) {
    if let Some(c) = BY_SIZE.get(size) {
        c.fetch_add(by, Ordering::Relaxed);
    }
}

/// Live (bytes, blocks) counted so far.
pub fn live() -> (isize, isize) {
    (
        BYTES.load(Ordering::Relaxed),
        BLOCKS.load(Ordering::Relaxed),
    )
}

/// The counted live blocks by size now.
pub fn sizes() -> Vec<isize> {
    BY_SIZE.iter().map(|c| c.load(Ordering::Relaxed)).collect()
}

/// `(size, blocks)` that `after` holds beyond `before`.
pub fn grown(before: &[isize], after: &[isize]) -> Vec<(usize, isize)> {
    (0..SIZES)
        .filter(|&i| after[i] != before[i])
        .map(|i| (i, after[i] - before[i]))
        .collect()
}

// SAFETY: every call is passed on unchanged to the system allocator;
// the counters are only added to.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            count(layout.size() as isize, 1);
            count_size(layout.size(), 1);
        }
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            count(-(layout.size() as isize), -1);
            count_size(layout.size(), -1);
        }
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if counted() {
            count(new as isize - layout.size() as isize, 0);
            count_size(layout.size(), -1);
            count_size(new, 1);
        }
        // SAFETY: as GlobalAlloc::realloc requires, passed on.
        unsafe { System.realloc(ptr, layout, new) }
    }
}
