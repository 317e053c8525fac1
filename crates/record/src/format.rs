//! tracefs event formats: `ID:` and the `field:` lines of `events/SYSTEM/NAME/format`.

use std::collections::BTreeMap;

/// One field of an event: byte offset and size in the record (after the ring-buffer
/// header), and whether it is a `__data_loc` (dynamic string) field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub offset: usize,
    pub size: usize,
    pub data_loc: bool,
}

/// A parsed format file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    pub id: u16,
    pub fields: BTreeMap<String, Field>,
}

/// Why a format file could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError(pub String);

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Format {
    /// Parses the text of a format file.
    pub fn parse(text: &str) -> Result<Format, FormatError> {
        let mut id = None;
        let mut fields = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("ID:") {
                let v = v.trim();
                id = Some(
                    v.parse::<u16>()
                        .map_err(|_| FormatError(format!("bad ID {v:?}")))?,
                );
            } else if line.starts_with("field:") {
                let (name, field) = parse_field(line)?;
                fields.insert(name, field);
            }
        }
        let id = id.ok_or_else(|| FormatError("no ID line".into()))?;
        Ok(Format { id, fields })
    }

    pub fn field(&self, name: &str) -> Result<Field, FormatError> {
        self.fields
            .get(name)
            .copied()
            .ok_or_else(|| FormatError(format!("no field {name}")))
    }
}

/// `field:unsigned long address;\toffset:8;\tsize:8;\tsigned:0;`
fn parse_field(line: &str) -> Result<(String, Field), FormatError> {
    let mut parts = line.split(';').map(str::trim);
    let decl = parts
        .next()
        .and_then(|d| d.strip_prefix("field:"))
        .ok_or_else(|| FormatError(format!("bad field line {line:?}")))?;
    let data_loc = decl.starts_with("__data_loc");
    let name = decl
        .rsplit(|c: char| c.is_whitespace() || c == '*')
        .next()
        .unwrap_or("")
        .split('[')
        .next()
        .unwrap_or("")
        .to_string();
    let (mut offset, mut size) = (None, None);
    for p in parts {
        if let Some(v) = p.strip_prefix("offset:") {
            offset = v.parse().ok();
        } else if let Some(v) = p.strip_prefix("size:") {
            size = v.parse().ok();
        }
    }
    match (offset, size) {
        (Some(offset), Some(size)) if !name.is_empty() => Ok((
            name,
            Field {
                offset,
                size,
                data_loc,
            },
        )),
        _ => Err(FormatError(format!("bad field line {line:?}"))),
    }
}

/// Reads an unsigned field (1, 2, 4 or 8 bytes, little-endian) of a record.
pub fn read_u64(data: &[u8], f: Field) -> Option<u64> {
    let b = data.get(f.offset..f.offset + f.size)?;
    Some(match f.size {
        1 => b[0] as u64,
        2 => u16::from_le_bytes([b[0], b[1]]) as u64,
        4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
        8 => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        _ => return None,
    })
}

/// A signed field, sign-extended from its size.
pub fn read_i64(data: &[u8], f: Field) -> Option<i64> {
    let v = read_u64(data, f)?;
    let bits = 8 * f.size as u32;
    Some(if bits == 64 {
        v as i64
    } else {
        ((v << (64 - bits)) as i64) >> (64 - bits)
    })
}

/// A string field: `__data_loc` (offset in the low 16 bits, length in the high 16) or a
/// fixed or trailing `char[]`, up to its first NUL.
pub fn read_str(data: &[u8], f: Field) -> Option<String> {
    let bytes = if f.data_loc {
        let loc = read_u64(data, Field { size: 4, ..f })? as u32;
        let (off, len) = ((loc & 0xffff) as usize, (loc >> 16) as usize);
        data.get(off..off + len)?
    } else if f.size == 0 {
        data.get(f.offset..)?
    } else {
        data.get(f.offset..f.offset + f.size)?
    };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAULT: &str = "name: page_fault_user\nID: 190\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:unsigned long address;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:unsigned long error_code;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:__data_loc char[] filename;\toffset:32;\tsize:4;\tsigned:0;\n\tfield:char buf[];\toffset:36;\tsize:0;\tsigned:0;\n";

    #[test]
    fn parses_ids_offsets_and_strings() {
        let f = Format::parse(FAULT).unwrap();
        assert_eq!(f.id, 190);
        assert_eq!(f.field("address").unwrap().offset, 8);
        assert_eq!(f.field("common_pid").unwrap().size, 4);
        assert!(f.field("filename").unwrap().data_loc);
        assert_eq!(f.field("buf").unwrap().size, 0);
        let mut rec = vec![0u8; 48];
        rec[4..8].copy_from_slice(&(-3i32).to_le_bytes());
        let loc: u32 = (3 << 16) | 40;
        rec[32..36].copy_from_slice(&loc.to_le_bytes());
        rec[40..43].copy_from_slice(b"abc");
        assert_eq!(read_i64(&rec, f.field("common_pid").unwrap()), Some(-3));
        assert_eq!(read_str(&rec, f.field("filename").unwrap()).unwrap(), "abc");
        assert!(Format::parse("field:int x;\toffset:0;\tsize:4;").is_err());
    }
}
