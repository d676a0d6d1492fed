//! HPACK's indexing tables (RFC 7541 §2.3, §4): the static table of
//! Appendix A and a dynamic table bounded by its maximum size.

use std::collections::VecDeque;

use bytes::Bytes;

/// The static table (RFC 7541 Appendix A); index 1 is `STATIC[0]`.
pub const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The size an entry counts for (§4.1): its name and value plus 32.
pub fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

/// Where a name (and maybe its value) is found in the static table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticMatch {
    /// Name and value: index.
    Full(usize),
    /// The name only: index of its first entry.
    Name(usize),
    /// Not there.
    None,
}

/// Look `name`/`value` up in the static table.
pub fn find_static(name: &[u8], value: &[u8]) -> StaticMatch {
    let mut found = StaticMatch::None;
    for (i, (n, v)) in STATIC.iter().enumerate() {
        if n.as_bytes() == name {
            if v.as_bytes() == value {
                return StaticMatch::Full(i + 1);
            }
            if found == StaticMatch::None {
                found = StaticMatch::Name(i + 1);
            }
        } else if found != StaticMatch::None {
            // Entries with one name are adjacent.
            break;
        }
    }
    found
}

/// A dynamic table (§2.3.2): newest entry first, evicted from the oldest
/// so that its size never passes its maximum.
#[derive(Debug, Clone)]
pub struct DynamicTable {
    entries: VecDeque<(Bytes, Bytes)>,
    size: usize,
    max: usize,
}

impl DynamicTable {
    /// An empty table of at most `max` bytes (as counted by §4.1).
    pub fn new(max: usize) -> Self {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max,
        }
    }

    /// Its size as §4.1 counts it.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Its maximum size.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at dynamic index `i` (0 = newest).
    pub fn get(&self, i: usize) -> Option<&(Bytes, Bytes)> {
        self.entries.get(i)
    }

    /// Give back the room the entry list keeps beyond its entries (an
    /// idle connection's table costs its entries only).
    pub fn shrink(&mut self) {
        self.entries.shrink_to_fit();
    }

    /// Change the maximum size, evicting what no longer fits (§4.3).
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
        self.evict_to(max);
    }

    /// Add an entry, evicting older ones; an entry larger than the maximum
    /// empties the table and is not added (§4.4).
    pub fn insert(&mut self, name: Bytes, value: Bytes) {
        let size = entry_size(&name, &value);
        if size > self.max {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max - size);
        self.size += size;
        self.entries.push_front((name, value));
    }

    /// The dynamic index (0 = newest) of an entry with this name and value,
    /// and else of one with this name, if any.
    pub fn find(&self, name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
        let mut by_name = None;
        for (i, (n, v)) in self.entries.iter().enumerate() {
            if n.as_ref() == name {
                if v.as_ref() == value {
                    return (Some(i), by_name.or(Some(i)));
                }
                by_name = by_name.or(Some(i));
            }
        }
        (None, by_name)
    }

    fn evict_to(&mut self, room: usize) {
        while self.size > room {
            match self.entries.pop_back() {
                Some((n, v)) => self.size -= entry_size(&n, &v),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}
