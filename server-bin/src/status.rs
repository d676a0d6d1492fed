//! mod_status pages. (being written)
