//! Embedding examples live beside this crate: `cargo run -p mpm-examples --example hello`.
