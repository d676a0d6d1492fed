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

/// Look `name`/`value` up in the static table: the name by a `match`
/// (a jump on its length, then a few comparisons), then the values of
/// its entries.
pub fn find_static(name: &[u8], value: &[u8]) -> StaticMatch {
    let Some((first, count)) = static_name(name) else {
        return StaticMatch::None;
    };
    (first..first + count)
        .find(|&i| STATIC[i - 1].1.as_bytes() == value)
        .map_or(StaticMatch::Name(first), StaticMatch::Full)
}

/// The index of `name`'s first entry in [`STATIC`] and how many entries
/// have it (they are adjacent).
fn static_name(name: &[u8]) -> Option<(usize, usize)> {
    Some(match name {
        b":authority" => (1, 1),
        b":method" => (2, 2),
        b":path" => (4, 2),
        b":scheme" => (6, 2),
        b":status" => (8, 7),
        b"accept-charset" => (15, 1),
        b"accept-encoding" => (16, 1),
        b"accept-language" => (17, 1),
        b"accept-ranges" => (18, 1),
        b"accept" => (19, 1),
        b"access-control-allow-origin" => (20, 1),
        b"age" => (21, 1),
        b"allow" => (22, 1),
        b"authorization" => (23, 1),
        b"cache-control" => (24, 1),
        b"content-disposition" => (25, 1),
        b"content-encoding" => (26, 1),
        b"content-language" => (27, 1),
        b"content-length" => (28, 1),
        b"content-location" => (29, 1),
        b"content-range" => (30, 1),
        b"content-type" => (31, 1),
        b"cookie" => (32, 1),
        b"date" => (33, 1),
        b"etag" => (34, 1),
        b"expect" => (35, 1),
        b"expires" => (36, 1),
        b"from" => (37, 1),
        b"host" => (38, 1),
        b"if-match" => (39, 1),
        b"if-modified-since" => (40, 1),
        b"if-none-match" => (41, 1),
        b"if-range" => (42, 1),
        b"if-unmodified-since" => (43, 1),
        b"last-modified" => (44, 1),
        b"link" => (45, 1),
        b"location" => (46, 1),
        b"max-forwards" => (47, 1),
        b"proxy-authenticate" => (48, 1),
        b"proxy-authorization" => (49, 1),
        b"range" => (50, 1),
        b"referer" => (51, 1),
        b"refresh" => (52, 1),
        b"retry-after" => (53, 1),
        b"server" => (54, 1),
        b"set-cookie" => (55, 1),
        b"strict-transport-security" => (56, 1),
        b"transfer-encoding" => (57, 1),
        b"user-agent" => (58, 1),
        b"vary" => (59, 1),
        b"via" => (60, 1),
        b"www-authenticate" => (61, 1),
        _ => return None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `match` of [`static_name`] says what a scan of [`STATIC`]
    /// says, for every entry and for names the table lacks.
    #[test]
    fn the_static_name_match_agrees_with_the_table() {
        for (i, (name, value)) in STATIC.iter().enumerate() {
            let first = STATIC.iter().position(|(n, _)| n == name).unwrap() + 1;
            let count = STATIC.iter().filter(|(n, _)| n == name).count();
            assert_eq!(
                static_name(name.as_bytes()),
                Some((first, count)),
                "the match's entries for {name}"
            );
            let want = STATIC.iter().position(|e| e == &(*name, *value)).unwrap() + 1;
            assert_eq!(
                find_static(name.as_bytes(), value.as_bytes()),
                StaticMatch::Full(want),
                "{name}: {value} (entry {})",
                i + 1
            );
            assert_eq!(
                find_static(name.as_bytes(), b"no such value"),
                StaticMatch::Name(first),
                "{name} with a value the table lacks"
            );
        }
        for name in ["x-powered-by", "", ":statu", "content-lengths", "Date"] {
            assert_eq!(
                find_static(name.as_bytes(), b""),
                StaticMatch::None,
                "{name:?} is no name of the static table"
            );
        }
    }
}
