//! A thread's scratch rooms: the buffers a thread passes a connection's
//! bytes through, one of each per thread instead of one per connection
//! or per call, whose pages go back to the kernel when a thread that
//! serves one connection at a time goes idle.
//!
//! - [`with_tls_read`]: where a read from a TLS socket lands and its whole
//!   records are decrypted in place (a record of 16 KiB of plaintext and
//!   its overhead fits);
//! - [`with_tls_seal`]: where the records of a TLS write are sealed and
//!   sent from when nothing waits to be sent before them;
//! - [`with_file_copy`]: where a file body read for a transport that
//!   cannot `sendfile` (TLS) lands, a chunk at a time.
//!
//! Each room is an anonymous mapping of its own, not a heap chunk: its
//! pages exist only where a use wrote (a handshake's or a request's
//! records fill one page of the read room's five), a use neither
//! allocates nor clears, and [`release_thread_rooms`] hands the pages
//! back with `MADV_DONTNEED` (the mapping stays; the next use is served
//! zeroed pages by the kernel). A heap chunk would stay in the thread's
//! malloc arena for good, in use, where `malloc_trim` cannot reach it:
//! 17 + 64 + 64 KiB for every thread that once served a large TLS body.
//!
//! A room is mapped at a thread's first use of it; one that could not be
//! mapped (the system refused) is replaced by a buffer of the call's own,
//! with a warning once per thread.

use std::cell::RefCell;
use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::thread::LocalKey;

/// One room: `len` bytes of a private anonymous mapping.
pub(crate) struct Room {
    base: NonNull<c_void>,
    len: NonZeroUsize,
    /// A use wrote here since the last release.
    used: bool,
}

impl Room {
    fn map(len: NonZeroUsize) -> Option<Room> {
        use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choice touches no existing memory.
        let base = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        };
        match base {
            Ok(base) => Some(Room {
                base,
                len,
                used: false,
            }),
            Err(e) => {
                log::warn!(
                    "could not map a {} KiB buffer for this thread ({e}); each use allocates its own",
                    len.get() / 1024
                );
                None
            }
        }
    }

    fn bytes(&mut self) -> &mut [u8] {
        self.used = true;
        // SAFETY: `base` is a readable and writable mapping of `len`
        // bytes that this room alone owns until it is dropped; its bytes
        // are always initialised (the kernel gives zeroed pages, also
        // after `MADV_DONTNEED`), and `&mut self` makes this the only
        // reference.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().cast::<u8>(), self.len.get()) }
    }

    /// Give the pages a use wrote back to the kernel; the mapping stays.
    /// False when no use wrote since the last release (nothing is done).
    fn release(&mut self) -> bool {
        if !std::mem::take(&mut self.used) {
            return false;
        }
        // SAFETY: the range is this room's own private anonymous mapping,
        // and no reference into it lives (`&mut self`): its bytes read as
        // zeros after, which is valid for `u8`.
        let r = unsafe {
            nix::sys::mman::madvise(
                self.base,
                self.len.get(),
                nix::sys::mman::MmapAdvise::MADV_DONTNEED,
            )
        };
        if let Err(e) = r {
            log::debug!("could not release a thread buffer's pages: {e}");
        }
        true
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are what `map` mapped, unmapped once, here;
        // no reference into it outlives `bytes`' borrow.
        if let Err(e) = unsafe { nix::sys::mman::munmap(self.base, self.len.get()) } {
            log::debug!("could not unmap a thread buffer: {e}");
        }
    }
}

/// The TLS read room's size: one read from the socket takes a whole
/// record of the largest size a peer sends (16 KiB of plaintext and its
/// overhead).
#[cfg(feature = "tls")]
pub(crate) const TLS_READ: usize = 17 * 1024;

/// The TLS seal room's size: the records of 64 KiB of plaintext (the most
/// a TLS write takes before it pushes back), each record of at most
/// 16 KiB with under 64 bytes of header, content type, nonce and tag.
#[cfg(feature = "tls")]
pub(crate) const TLS_SEAL: usize = 64 * 1024 + (64 * 1024 / (16 * 1024) + 1) * 64;

/// The file copy room's size: one chunk of a file copied to a socket.
pub(crate) const FILE_COPY: usize = 64 * 1024;

/// A thread's room of one kind: made at its first use, so a thread that
/// never reads TLS maps no TLS read room.
enum Slot {
    Unmade,
    Made(Room),
    /// The system refused the mapping: each use has a buffer of its own.
    Refused,
}

thread_local! {
    static TLS_READ_ROOM: RefCell<Slot> = const { RefCell::new(Slot::Unmade) };
    static TLS_SEAL_ROOM: RefCell<Slot> = const { RefCell::new(Slot::Unmade) };
    static FILE_COPY_ROOM: RefCell<Slot> = const { RefCell::new(Slot::Unmade) };
}

/// Run `f` with the room in `key` (`len` bytes), made at its first use;
/// with a buffer of its own when the room could not be mapped or is in
/// use already (never: no use of a room runs inside another on a thread).
fn with_room<R>(
    key: &'static LocalKey<RefCell<Slot>>,
    len: usize,
    f: impl FnOnce(&mut [u8]) -> R,
) -> R {
    key.with(|slot| {
        let Ok(mut slot) = slot.try_borrow_mut() else {
            return f(&mut vec![0u8; len]);
        };
        if let Slot::Unmade = *slot {
            *slot = NonZeroUsize::new(len)
                .and_then(Room::map)
                .map_or(Slot::Refused, Slot::Made);
        }
        match &mut *slot {
            Slot::Made(room) => f(room.bytes()),
            _ => f(&mut vec![0u8; len]),
        }
    })
}

/// Run `f` with the thread's TLS read room ([`TLS_READ`] bytes).
#[cfg(feature = "tls")]
pub(crate) fn with_tls_read<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    with_room(&TLS_READ_ROOM, TLS_READ, f)
}

/// Run `f` with the thread's TLS seal room ([`TLS_SEAL`] bytes).
#[cfg(feature = "tls")]
pub(crate) fn with_tls_seal<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    with_room(&TLS_SEAL_ROOM, TLS_SEAL, f)
}

/// Run `f` with the thread's file copy room ([`FILE_COPY`] bytes).
pub(crate) fn with_file_copy<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    with_room(&FILE_COPY_ROOM, FILE_COPY, f)
}

/// Give the pages of this thread's rooms back to the system, each one a
/// use wrote since the last call (else nothing is done: no system call).
/// True when any had been used: this thread read or wrote TLS, or copied
/// a file, since the last call.
///
/// For a thread that serves one connection at a time (prefork's child,
/// worker's threads), called when the connection ends: an idle thread
/// then keeps none of these pages, and its next use costs a page fault
/// per page written (one for a handshake or a request). Not for an event
/// loop, whose thread uses its rooms for many connections.
pub fn release_thread_rooms() -> bool {
    let mut any = false;
    for key in [&TLS_READ_ROOM, &TLS_SEAL_ROOM, &FILE_COPY_ROOM] {
        any |= key.with(|slot| match slot.try_borrow_mut().as_deref_mut() {
            Ok(Slot::Made(room)) => room.release(),
            _ => false,
        });
    }
    any
}

#[cfg(all(test, target_os = "linux", feature = "tls"))]
mod tests {
    use super::*;

    /// A use of one of the thread's rooms.
    type UseRoom = fn(&mut dyn FnMut(&mut [u8]));

    /// The resident KiB of the mapping at `base`, from /proc/self/smaps.
    fn resident_kib(base: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
        let start = format!("{base:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&start));
        assert!(lines.next().is_some(), "no mapping at {base:x}");
        lines
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("an Rss line")
    }

    #[test]
    fn an_idle_threads_rooms_keep_no_pages_and_read_zeros_after() {
        // A thread of its own: fresh rooms.
        std::thread::spawn(|| {
            let uses: [(UseRoom, u64); 3] = [
                (|f| with_tls_read(f), 17),
                (|f| with_tls_seal(f), 64),
                (|f| with_file_copy(f), 64),
            ];
            for (use_room, kib) in uses {
                let mut base = 0;
                use_room(&mut |room| {
                    room.fill(7);
                    base = room.as_ptr() as usize;
                });
                assert!(
                    resident_kib(base) >= kib,
                    "a room of {kib} KiB written whole has {} KiB resident",
                    resident_kib(base)
                );
                assert!(release_thread_rooms(), "a room was used");
                assert_eq!(resident_kib(base), 0, "KiB resident after the release");
                // Used again: zeros, and only the page written is made.
                use_room(&mut |room| {
                    assert!(room.iter().all(|&b| b == 0), "the released room kept bytes");
                    room[0] = 1;
                });
                assert_eq!(resident_kib(base), 4, "KiB resident after a short use");
                // A second release right after does nothing more.
                assert!(release_thread_rooms(), "a room was used");
                assert!(!release_thread_rooms(), "a release with no use between");
                assert_eq!(resident_kib(base), 0);
            }
        })
        .join()
        .expect("the rooms' thread");
    }
}
