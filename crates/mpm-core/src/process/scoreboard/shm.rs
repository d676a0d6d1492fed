//! The scoreboard's shared memory: the one anonymous `MAP_SHARED` mapping
//! made before the first `fork`, laid out as
//!
//! ```text
//! | Header | ProcessSlot × procs | WorkerSlot × (procs × threads) |
//! ```
//!
//! and the [`Region`] of the lifetime counters, a mapping of its own (so
//! it outlives a board whose shape changes).
//!
//! This file is all the scoreboard's `unsafe`: the `mmap`/`munmap` pairs,
//! and turning offsets of the mappings into references. It is sound because
//! every type laid out here ([`Header`], [`ProcessSlot`], [`WorkerSlot`],
//! the counters' area) is a `#[repr(C)]` struct of atomic integers, for
//! which all-zero bytes (fresh anonymous memory) are a valid value and any
//! concurrent access, from any thread or process, is data-race free.

use std::alloc::{Layout, LayoutError};
use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};

use super::slots::{Header, ProcessSlot, WorkerSlot};

/// The shared mapping; unmapped when dropped (the scoreboard keeps it in
/// an `Arc`, so when the last handle of this process goes).
pub(super) struct Mapping {
    base: NonNull<u8>,
    len: NonZeroUsize,
    procs: usize,
    threads: usize,
    procs_offset: usize,
    workers_offset: usize,
}

// SAFETY: the mapping is plain shared memory that is only ever accessed
// through atomics (every field of the header and the slots is one), so
// handing the pointer to another thread, or sharing it between threads, is
// as sound as sharing those atomics.
unsafe impl Send for Mapping {}
// SAFETY: see `Send` above: all access is through atomics.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what `map_zeroed` returned in
        // `Mapping::new`, the mapping is unmapped only here, once, and no
        // reference into it outlives `self` (every accessor borrows
        // `self`).
        unsafe { unmap(self.base.cast(), self.len, "the scoreboard") }
    }
}

/// A new anonymous `MAP_SHARED` mapping of `len` bytes, readable and
/// writable: zeroed by the kernel, page-aligned, shared with every child
/// forked after.
fn map_zeroed(len: NonZeroUsize) -> io::Result<NonNull<std::ffi::c_void>> {
    // SAFETY: an anonymous mapping at an address of the kernel's choice
    // touches no existing memory.
    Ok(unsafe {
        mmap_anonymous(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )
    }?)
}

/// Unmap what [`map_zeroed`] mapped (`what` names it in the warning when
/// that fails).
///
/// # Safety
///
/// `base`/`len` are what one `map_zeroed` call returned, not unmapped yet,
/// and no reference into the mapping is used after.
unsafe fn unmap(base: NonNull<std::ffi::c_void>, len: NonZeroUsize, what: &str) {
    // SAFETY: the caller's contract.
    if let Err(e) = unsafe { munmap(base, len.get()) } {
        log::warn!("could not unmap {what}: {e}");
    }
}

impl Mapping {
    /// Map an empty board of `procs` processes of `threads` workers each.
    /// An `InvalidInput` error when that many slots cannot be laid out.
    pub(super) fn new(procs: usize, threads: usize) -> io::Result<Mapping> {
        let too_big =
            |_: LayoutError| io::Error::new(io::ErrorKind::InvalidInput, "too many slots");
        // Saturated, a product too large fails as a layout below.
        let workers = procs.saturating_mul(threads);
        let layout = Layout::new::<Header>();
        let (layout, procs_offset) = layout
            .extend(Layout::array::<ProcessSlot>(procs).map_err(too_big)?)
            .map_err(too_big)?;
        let (layout, workers_offset) = layout
            .extend(Layout::array::<WorkerSlot>(workers).map_err(too_big)?)
            .map_err(too_big)?;
        // Never zero: the header alone has a size.
        let len = NonZeroUsize::new(layout.size())
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // Page alignment covers every slot's alignment (asserted below),
        // and all-zero bytes are a valid value of every field.
        let base = map_zeroed(len)?;
        Ok(Mapping {
            base: base.cast(),
            len,
            procs,
            threads,
            procs_offset,
            workers_offset,
        })
    }

    /// Process slots.
    pub(super) fn procs(&self) -> usize {
        self.procs
    }

    /// Worker slots per process.
    pub(super) fn threads(&self) -> usize {
        self.threads
    }

    /// The header, at the start of the region.
    pub(super) fn header(&self) -> &Header {
        // SAFETY: the header is at offset 0 of a live, page-aligned mapping
        // at least `size_of::<Header>()` long; it is only accessed through
        // its atomics, valid for any bytes; the reference lives no longer
        // than `&self`, which keeps the mapping alive.
        unsafe { self.base.cast::<Header>().as_ref() }
    }

    /// The slot of process `p`. Panics if `p >= procs` (a caller bug).
    pub(super) fn process(&self, p: usize) -> &ProcessSlot {
        assert!(
            p < self.procs,
            "process slot {p} out of range (the scoreboard has {})",
            self.procs
        );
        // SAFETY: `procs_offset + p * size_of::<ProcessSlot>()` is inside
        // the array laid out by `Layout::extend` in `new` (p is checked
        // above), so it is in bounds and aligned; the slot is only accessed
        // through atomics, valid for any bytes; the reference lives no
        // longer than `&self`, which keeps the mapping alive.
        unsafe {
            let first = self
                .base
                .as_ptr()
                .add(self.procs_offset)
                .cast::<ProcessSlot>();
            &*first.add(p)
        }
    }

    /// The slot of worker `t` of process `p`. Panics if either index is
    /// out of range (a caller bug).
    pub(super) fn worker(&self, p: usize, t: usize) -> &WorkerSlot {
        assert!(
            p < self.procs && t < self.threads,
            "worker slot {p}/{t} out of range (the scoreboard has {}×{})",
            self.procs,
            self.threads
        );
        let index = p * self.threads + t;
        // SAFETY: `index < procs × threads` (checked above), so the slot is
        // inside the array laid out by `Layout::extend` in `new`, in bounds
        // and aligned; it is only accessed through atomics, valid for any
        // bytes; the reference lives no longer than `&self`, which keeps
        // the mapping alive.
        unsafe {
            let first = self
                .base
                .as_ptr()
                .add(self.workers_offset)
                .cast::<WorkerSlot>();
            &*first.add(index)
        }
    }
}

// Page alignment (at least 4096) of the mapping covers every part.
const _: () = assert!(std::mem::align_of::<Header>() <= 4096);
const _: () = assert!(std::mem::align_of::<ProcessSlot>() <= 4096);
const _: () = assert!(std::mem::align_of::<WorkerSlot>() <= 4096);

/// A type that may live in a [`Region`]: all-zero bytes are a valid value
/// of it, and every field is an atomic integer (or an array or struct of
/// them), so any concurrent access from any process is data-race free.
///
/// # Safety
///
/// Implement only for `#[repr(C)]` types made of atomic integers alone.
pub unsafe trait SharedAtomics {}

// SAFETY: `CounterArea` is `#[repr(C)]` structs and arrays of `AtomicU8`,
// `AtomicU32` and `AtomicU64` only (see `counters.rs`).
unsafe impl SharedAtomics for super::counters::CounterArea {}
// SAFETY: an array of `AtomicU64` is atomic integers only (a plain
// array has C layout); all-zero bytes are a valid value. This is the
// table of other crates' shared state (the proxy's balancer members),
// which lay out their fields over it in safe code.
unsafe impl<const N: usize> SharedAtomics for [std::sync::atomic::AtomicU64; N] {}

/// One `T` in an anonymous `MAP_SHARED` mapping of its own, zeroed by the
/// kernel, shared with every child forked after it was made; unmapped when
/// dropped.
pub struct Region<T: SharedAtomics> {
    base: NonNull<T>,
    len: NonZeroUsize,
}

// SAFETY: as for `Mapping`: the memory is only accessed through the
// atomics `T` is made of (`SharedAtomics`).
unsafe impl<T: SharedAtomics> Send for Region<T> {}
// SAFETY: see `Send` above.
unsafe impl<T: SharedAtomics> Sync for Region<T> {}

impl<T: SharedAtomics> Region<T> {
    /// Map a zeroed `T`.
    pub fn new() -> io::Result<Region<T>> {
        let len = NonZeroUsize::new(std::mem::size_of::<T>())
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // Page alignment covers `T`'s (asserted in `get`), and all-zero
        // bytes are a valid `T` (`SharedAtomics`).
        let base = map_zeroed(len)?;
        Ok(Region {
            base: base.cast(),
            len,
        })
    }

    /// The shared `T`.
    pub fn get(&self) -> &T {
        const { assert!(std::mem::align_of::<T>() <= 4096) };
        // SAFETY: the mapping is live while `self` is, at least
        // `size_of::<T>()` long and page-aligned; `T` is valid for any
        // bytes and only accessed through atomics (`SharedAtomics`); the
        // reference lives no longer than `&self`.
        unsafe { self.base.as_ref() }
    }
}

impl<T: SharedAtomics> Drop for Region<T> {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are what `map_zeroed` returned in
        // `Region::new`, unmapped only here, once; no reference into it
        // outlives `self`.
        unsafe { unmap(self.base.cast(), self.len, "the scoreboard's counters") }
    }
}
