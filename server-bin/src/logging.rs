//! Error log. (being written)
