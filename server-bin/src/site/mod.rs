//! The handler `mpmd` serves with. (being written)
