//! The HPACK encoder (RFC 7541 §6): our side of the response headers.

use bytes::Bytes;

use super::table::{entry_size, find_static, DynamicTable, StaticMatch, STATIC};
use super::{encode_int, encode_string, DEFAULT_TABLE_SIZE};

/// How a field is represented (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// Added to the dynamic table, so later blocks name it in a byte.
    Incremental,
    /// Sent as a literal, the table untouched.
    Without,
    /// Sent as a literal that no intermediary may index either (§7.1.3):
    /// credentials, which must not be guessable by probing the table.
    Never,
}

impl Indexing {
    /// The representation a response field gets: credentials and cookies
    /// are never indexed; values that change with every response (or are
    /// too large to be worth a table slot) are not indexed; the rest is.
    pub fn for_field(name: &[u8], value: &[u8]) -> Indexing {
        match name {
            b"authorization" | b"proxy-authorization" | b"cookie" | b"set-cookie" => {
                Indexing::Never
            }
            b"content-length" | b"content-range" | b"etag" | b"last-modified" | b"age"
            | b":path" => Indexing::Without,
            _ if value.len() > DEFAULT_TABLE_SIZE / 4 => Indexing::Without,
            _ => Indexing::Incremental,
        }
    }
}

/// An HPACK encoder: our dynamic table, bounded by the size the peer
/// allows (its `SETTINGS_HEADER_TABLE_SIZE`) and by our own limit
/// whatever it allows.
#[derive(Debug, Clone)]
pub struct Encoder {
    table: DynamicTable,
    /// Size updates owed at the start of the next block (§4.2): the
    /// smallest size set since the last block, then the final one.
    pending: Option<(usize, usize)>,
    /// The most we let the table take.
    limit: usize,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder with the default 4096-byte table.
    pub fn new() -> Self {
        Encoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            pending: None,
            limit: DEFAULT_TABLE_SIZE,
        }
    }

    /// An encoder whose table never takes more than `limit` bytes (less
    /// than the 4096 the peer allows by default: what each connection's
    /// table costs us). The first block announces the size.
    pub fn with_limit(limit: usize) -> Self {
        let mut e = Encoder::new();
        e.limit = limit.min(DEFAULT_TABLE_SIZE);
        e.set_max_size(DEFAULT_TABLE_SIZE);
        e
    }

    /// The peer's `SETTINGS_HEADER_TABLE_SIZE`: the table is kept at most
    /// that large (and within our limit).
    pub fn set_max_size(&mut self, peer: usize) {
        let size = peer.min(self.limit);
        if size == self.table.max() && self.pending.is_none() {
            return;
        }
        let low = self.pending.map_or(size, |(low, _)| low.min(size));
        self.pending = Some((low, size));
        self.table.set_max(size);
    }

    /// Give back the room the table keeps beyond its entries (an idle
    /// connection's encoder costs its entries only).
    pub fn release_spare(&mut self) {
        self.table.shrink();
    }

    /// Start a header block: writes the size updates owed (§4.2).
    pub fn begin_block(&mut self, out: &mut Vec<u8>) {
        if let Some((low, last)) = self.pending.take() {
            if low < last {
                encode_int(low, 5, 0x20, out);
            }
            encode_int(last, 5, 0x20, out);
        }
    }

    /// Append one field, represented as `how` asks (an exact match in a
    /// table is sent as an index whatever `how` says, except for
    /// [`Indexing::Never`]).
    pub fn encode(&mut self, name: &[u8], value: &[u8], how: Indexing, out: &mut Vec<u8>) {
        // An entry larger than the table would empty it: not worth it.
        let how = if how == Indexing::Incremental && entry_size(name, value) > self.table.max() {
            Indexing::Without
        } else {
            how
        };
        let stat = find_static(name, value);
        let (dyn_full, dyn_name) = if self.table.is_empty() {
            (None, None)
        } else {
            self.table.find(name, value)
        };
        let dyn_index = |i: usize| STATIC.len() + 1 + i;
        if how != Indexing::Never {
            if let StaticMatch::Full(i) = stat {
                encode_int(i, 7, 0x80, out);
                return;
            }
            if let Some(i) = dyn_full {
                encode_int(dyn_index(i), 7, 0x80, out);
                return;
            }
        }
        let name_index = match stat {
            StaticMatch::Full(i) | StaticMatch::Name(i) => Some(i),
            StaticMatch::None => dyn_name.map(dyn_index),
        };
        let (prefix, flags) = match how {
            Indexing::Incremental => (6, 0x40),
            Indexing::Without => (4, 0x00),
            Indexing::Never => (4, 0x10),
        };
        match name_index {
            Some(i) => encode_int(i, prefix, flags, out),
            None => {
                encode_int(0, prefix, flags, out);
                encode_string(name, out);
            }
        }
        encode_string(value, out);
        if how == Indexing::Incremental {
            self.table
                .insert(Bytes::copy_from_slice(name), Bytes::copy_from_slice(value));
        }
    }
}
