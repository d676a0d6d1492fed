//! The tables keyed by stream id (the session's streams, the owner's):
//! a `HashMap` whose hasher is one multiplication, not SipHash.
//!
//! SipHash guards a table whose keys an attacker may pick at will; a
//! stream table is bounded by `SETTINGS_MAX_CONCURRENT_STREAMS` (the
//! session refuses streams beyond it), so the worst a client can do by
//! picking ids whose hashes collide is make a lookup compare against
//! that many entries. In exchange each lookup costs a few instructions
//! instead of about a hundred (`benches/h2/callgrind.sh`: eight or so
//! lookups per stream).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A table of streams by id.
pub type StreamMap<V> = HashMap<u32, V, BuildHasherDefault<StreamIdHasher>>;

/// Fibonacci hashing of a stream id: the id times 2^64 / φ, which spreads
/// consecutive (odd) ids over the high bits hashbrown reads as well as
/// the low ones.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamIdHasher(u64);

const PHI: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for StreamIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = (self.0 ^ u64::from(id)).wrapping_mul(PHI);
    }

    /// Any other key (none is used): byte by byte, the same mixing.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(PHI);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn consecutive_stream_ids_differ_in_the_high_bits_a_table_groups_by() {
        let build = BuildHasherDefault::<StreamIdHasher>::default();
        let tops: std::collections::HashSet<u64> = (0..64u32)
            .map(|i| build.hash_one(1 + 2 * i) >> 57)
            .collect();
        assert!(
            tops.len() > 32,
            "64 consecutive client stream ids fall in only {} of 128 hash groups",
            tops.len()
        );
    }
}
