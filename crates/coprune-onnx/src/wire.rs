//! Raw protobuf wire format: walking a message's top-level fields and writing fields.
//!
//! The importer splits every message it models into the fields the IR takes and the *verbatim
//! bytes* of all other fields (the remainder); the exporter writes the modeled fields and appends
//! the remainder unchanged. Because the remainder is never re-serialized, unknown fields keep
//! their order and encoding, and import → export → import is exactly idempotent (rust-protobuf
//! regroups unknown fields by number through a hash map, so re-serializing them is not).

/// One top-level field of a message.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub number: u32,
    pub value: Value<'a>,
    /// The field's complete encoding (tag included).
    pub raw: &'a [u8],
}

/// A field's payload by wire type.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Varint(u64),
    /// 8 bytes (doubles, fixed64); the IR reads none of these from raw fields.
    Fixed64,
    Len(&'a [u8]),
    /// 4 bytes (floats, fixed32).
    Fixed32,
}

/// Reads a base-128 varint at `*pos`.
pub fn read_varint(b: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b
            .get(*pos)
            .ok_or("truncated (the data ends inside a field)")?;
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("malformed varint".into())
}

/// The top-level fields of a message, in order. `what` names the message in errors.
pub fn fields<'a>(b: &'a [u8], what: &str) -> Result<Vec<Field<'a>>, String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < b.len() {
        let start = pos;
        let tag = read_varint(b, &mut pos)?;
        let number = u32::try_from(tag >> 3)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{what}: invalid field number at byte {start}"))?;
        let need = |pos: usize, n: u64| -> Result<usize, String> {
            (pos as u64)
                .checked_add(n)
                .filter(|&e| e <= b.len() as u64)
                .map(|e| e as usize)
                .ok_or_else(|| {
                    format!(
                        "{what}: truncated: field {number} at byte {start} needs {n} bytes but the data ends at byte {}",
                        b.len()
                    )
                })
        };
        let value = match tag & 7 {
            0 => Value::Varint(read_varint(b, &mut pos)?),
            1 => {
                pos = need(pos, 8)?;
                Value::Fixed64
            }
            2 => {
                let len = read_varint(b, &mut pos)?;
                let end = need(pos, len)?;
                let v = &b[pos..end];
                pos = end;
                Value::Len(v)
            }
            5 => {
                pos = need(pos, 4)?;
                Value::Fixed32
            }
            w => return Err(format!("{what}: field {number} has invalid wire type {w}")),
        };
        out.push(Field {
            number,
            value,
            raw: &b[start..pos],
        });
    }
    Ok(out)
}

impl<'a> Field<'a> {
    /// The payload of a length-delimited field, or an error naming the message.
    pub fn bytes(&self, what: &str) -> Result<&'a [u8], String> {
        match self.value {
            Value::Len(b) => Ok(b),
            _ => Err(format!(
                "{what}: field {} must be length-delimited",
                self.number
            )),
        }
    }

    /// A UTF-8 string payload.
    pub fn string(&self, what: &str) -> Result<String, String> {
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| format!("{what}: field {} is not valid UTF-8", self.number))
    }

    /// A varint payload.
    pub fn varint(&self, what: &str) -> Result<u64, String> {
        match self.value {
            Value::Varint(v) => Ok(v),
            _ => Err(format!("{what}: field {} must be a varint", self.number)),
        }
    }
}

/// Appends a varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a length-delimited field.
pub fn put_len(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    put_varint(out, ((number as u64) << 3) | 2);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Appends a varint field (int64 values as their two's complement, as protobuf does).
pub fn put_varint_field(out: &mut Vec<u8>, number: u32, v: u64) {
    put_varint(out, (number as u64) << 3);
    put_varint(out, v);
}

/// Appends a 32-bit fixed field.
pub fn put_fixed32(out: &mut Vec<u8>, number: u32, v: u32) {
    put_varint(out, ((number as u64) << 3) | 5);
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_it_reads() {
        let mut b = Vec::new();
        put_varint_field(&mut b, 1, 300);
        put_len(&mut b, 2, b"hi");
        put_fixed32(&mut b, 3, 7);
        put_varint_field(&mut b, 4, -1i64 as u64);
        let f = fields(&b, "test").unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].varint("t").unwrap(), 300);
        assert_eq!(f[1].string("t").unwrap(), "hi");
        assert!(matches!(f[2].value, Value::Fixed32));
        assert_eq!(f[2].raw, &[0x1d, 7, 0, 0, 0]);
        assert_eq!(f[3].varint("t").unwrap() as i64, -1);
        let raw: Vec<u8> = f.iter().flat_map(|x| x.raw.iter().copied()).collect();
        assert_eq!(raw, b);
        assert!(fields(&b[..b.len() - 1], "test").is_err());
    }
}
