//! Date header. (being written)
pub fn now() -> [u8; 29] {
    unimplemented!()
}
