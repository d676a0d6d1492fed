//! Benches live beside this crate: `cargo bench -p mpm-benches`.
