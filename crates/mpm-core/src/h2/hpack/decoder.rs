//! The HPACK decoder (RFC 7541 §3, §6).

use bytes::Bytes;

use super::table::{entry_size, DynamicTable, STATIC};
use super::{decode_int, huffman, HpackError, DEFAULT_TABLE_SIZE};

/// What [`Decoder::decode`] found besides the fields it handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// The header list's size as RFC 9113 §6.5.2 counts it (each field's
    /// name and value plus 32), counted over every field of the block.
    pub list_size: usize,
    /// The list passed the limit: the fields from the one that crossed
    /// it on were not handed out (the block was decoded to its end all
    /// the same, so the dynamic table is in step).
    pub over_limit: bool,
}

/// An HPACK decoder: the peer's dynamic table as its header blocks
/// build it. See the [module docs](super).
#[derive(Debug, Clone)]
pub struct Decoder {
    table: DynamicTable,
    /// The most the peer may make the table (our
    /// `SETTINGS_HEADER_TABLE_SIZE`, once acknowledged).
    allowed: usize,
    /// Our setting went below the table's size: the next block must
    /// open with a size update (§4.2).
    must_update: bool,
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_TABLE_SIZE)
    }
}

/// A string of a field representation: decoded into a scratch buffer.
fn read_string(buf: &[u8], out: &mut Vec<u8>) -> Result<usize, HpackError> {
    let first = *buf.first().ok_or(HpackError::Truncated)?;
    let (len, used) = decode_int(buf, 7)?;
    let len = len as usize;
    let end = used.checked_add(len).ok_or(HpackError::Truncated)?;
    let raw = buf.get(used..end).ok_or(HpackError::Truncated)?;
    out.clear();
    if first & 0x80 != 0 {
        huffman::decode(raw, out).map_err(|_| HpackError::Huffman)?;
    } else {
        out.extend_from_slice(raw);
    }
    Ok(end)
}

impl Decoder {
    /// A decoder whose table may grow to `max` bytes (the
    /// `SETTINGS_HEADER_TABLE_SIZE` announced; 4096 by default).
    pub fn new(max: usize) -> Self {
        Decoder {
            table: DynamicTable::new(max),
            allowed: max,
            must_update: false,
            name: Vec::new(),
            value: Vec::new(),
        }
    }

    /// The dynamic table's current size.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Free the scratch buffers literals are decoded into, and the room
    /// the table keeps beyond its entries (an idle connection keeps only
    /// its table's entries).
    pub fn release_scratch(&mut self) {
        self.name = Vec::new();
        self.value = Vec::new();
        self.table.shrink();
    }

    /// Our `SETTINGS_HEADER_TABLE_SIZE` changed (and was acknowledged):
    /// the peer may use up to `size`. Lowered below the table's maximum,
    /// the next block must start with a size update.
    pub fn set_allowed_size(&mut self, size: usize) {
        if size < self.table.max() {
            self.must_update = true;
        }
        self.allowed = size;
    }

    /// Decode one whole header block (HEADERS and its CONTINUATIONs put
    /// together). Each field, in order, is handed to `field` as `(name,
    /// value, never_indexed)` while the list's size stays within
    /// `max_list`; past it the rest is decoded but not handed out
    /// ([`Decoded::over_limit`]). Names and values are octets as sent:
    /// checking them is the caller's (RFC 9113 §8.2).
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list: usize,
        mut field: impl FnMut(&[u8], &[u8], bool),
    ) -> Result<Decoded, HpackError> {
        let mut at = 0;
        let mut list_size = 0usize;
        let mut over = false;
        let mut fields_seen = false;
        let mut updated = false;
        while at < block.len() {
            let rest = &block[at..];
            let b = rest[0];
            if b & 0x80 != 0 {
                // Indexed field (§6.1).
                let (index, used) = decode_int(rest, 7)?;
                at += used;
                self.check_update(updated)?;
                fields_seen = true;
                let (name, value) = self.lookup(index as usize)?;
                list_size = list_size.saturating_add(entry_size(&name, &value));
                if !over && list_size > max_list {
                    over = true;
                }
                if !over {
                    field(&name, &value, false);
                }
                continue;
            }
            if b & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3): only before any field.
                if fields_seen {
                    return Err(HpackError::TableSizeUpdatePlacement);
                }
                let (size, used) = decode_int(rest, 5)?;
                at += used;
                let size = size as usize;
                if size > self.allowed {
                    return Err(HpackError::TableSizeTooLarge);
                }
                self.table.set_max(size);
                updated = true;
                continue;
            }
            // A literal (§6.2): with incremental indexing (01), never
            // indexed (0001) or without indexing (0000).
            let (prefix, indexing, never) = if b & 0xc0 == 0x40 {
                (6, true, false)
            } else {
                (4, false, b & 0x10 != 0)
            };
            self.check_update(updated)?;
            fields_seen = true;
            let (index, used) = decode_int(rest, prefix)?;
            let mut pos = used;
            let mut name_bytes = std::mem::take(&mut self.name);
            let mut value_bytes = std::mem::take(&mut self.value);
            let done = (|| {
                let indexed_name = if index == 0 {
                    pos += read_string(&rest[pos..], &mut name_bytes)?;
                    None
                } else {
                    Some(self.lookup(index as usize)?.0)
                };
                pos += read_string(&rest[pos..], &mut value_bytes)?;
                Ok::<_, HpackError>(indexed_name)
            })();
            let indexed_name = match done {
                Ok(n) => n,
                Err(e) => {
                    self.name = name_bytes;
                    self.value = value_bytes;
                    return Err(e);
                }
            };
            at += pos;
            let name: &[u8] = indexed_name.as_deref().unwrap_or(&name_bytes);
            list_size = list_size.saturating_add(entry_size(name, &value_bytes));
            if !over && list_size > max_list {
                over = true;
            }
            if !over {
                field(name, &value_bytes, never);
            }
            if indexing {
                let name = indexed_name.unwrap_or_else(|| Bytes::copy_from_slice(&name_bytes));
                self.table
                    .insert(name, Bytes::copy_from_slice(&value_bytes));
            }
            self.name = name_bytes;
            self.value = value_bytes;
        }
        // A block with no field at all still owes the update.
        self.check_update(updated)?;
        Ok(Decoded {
            list_size,
            over_limit: over,
        })
    }

    /// Before the first field: the update our lowered setting requires
    /// must have come.
    fn check_update(&mut self, updated: bool) -> Result<(), HpackError> {
        if self.must_update {
            if !updated {
                return Err(HpackError::TableSizeUpdatePlacement);
            }
            self.must_update = false;
        }
        Ok(())
    }

    /// The entry at `index` in the combined address space (§2.3.3).
    fn lookup(&self, index: usize) -> Result<(Bytes, Bytes), HpackError> {
        if index == 0 {
            return Err(HpackError::BadIndex);
        }
        if let Some((n, v)) = STATIC.get(index - 1) {
            return Ok((
                Bytes::from_static(n.as_bytes()),
                Bytes::from_static(v.as_bytes()),
            ));
        }
        self.table
            .get(index - STATIC.len() - 1)
            .cloned()
            .ok_or(HpackError::BadIndex)
    }
}
