//! The cases under the blocking driver (`mpmd -X`'s strategy).

const STRATEGY: crate::support::Strategy = crate::support::Strategy::Single;

#[path = "plain.rs"]
mod plain;
#[path = "tls.rs"]
mod tls;
