//! OMA-TLV (`application/vnd.oma.lwm2m+tlv`, LwM2M 1.1 TS Core §7.4.3).
//!
//! Each entry: a type byte (identifier kind in bits 7–6, 16-bit identifier flag in bit 5,
//! length-field size in bits 4–3, short length in bits 2–0), the identifier, the length, the
//! value. Object instances and multiple resources nest further entries.

use super::{ResourcePath, Value};
use crate::Lwm2mError;

const OBJECT_INSTANCE: u8 = 0b00;
const RESOURCE_INSTANCE: u8 = 0b01;
const MULTIPLE_RESOURCE: u8 = 0b10;
const RESOURCE: u8 = 0b11;

/// Nesting deeper than an LwM2M path allows is malformed, whatever the bytes claim.
const MAX_DEPTH: usize = 3;

/// Decodes TLV read from `base` into `(path, value)` pairs, values [`Value::Untyped`].
pub fn decode_tlv(base: ResourcePath, payload: &[u8]) -> Result<Vec<(ResourcePath, Value)>, Lwm2mError> {
    let mut out = Vec::new();
    decode_level(base, payload, 0, &mut out)?;
    Ok(out)
}

fn decode_level(
    parent: ResourcePath,
    mut bytes: &[u8],
    depth: usize,
    out: &mut Vec<(ResourcePath, Value)>,
) -> Result<(), Lwm2mError> {
    if depth > MAX_DEPTH {
        return Err(malformed("TLV nested deeper than an LwM2M path"));
    }
    while !bytes.is_empty() {
        let (kind, id, value, rest) = entry(bytes)?;
        bytes = rest;
        // A read of /3/0 answers with resources directly; a read of /3 with instances. Place
        // each entry by its own kind rather than trusting the depth of the request.
        let path = match kind {
            OBJECT_INSTANCE => ResourcePath::instance(parent.object, id),
            RESOURCE | MULTIPLE_RESOURCE => {
                let instance = parent
                    .instance
                    .ok_or_else(|| malformed("a resource outside an object instance"))?;
                ResourcePath::resource(parent.object, instance, id)
            }
            _ => {
                let resource = parent
                    .resource
                    .ok_or_else(|| malformed("a resource instance outside a resource"))?;
                ResourcePath {
                    resource: Some(resource),
                    resource_instance: Some(id),
                    ..parent
                }
            }
        };
        match kind {
            OBJECT_INSTANCE | MULTIPLE_RESOURCE => decode_level(path, value, depth + 1, out)?,
            _ => out.push((path, Value::Untyped(value.to_vec()))),
        }
    }
    Ok(())
}

/// One TLV entry split off the front of a buffer: (kind, identifier, value, rest).
type Entry<'a> = (u8, u16, &'a [u8], &'a [u8]);

/// Splits one entry off `bytes`.
fn entry(bytes: &[u8]) -> Result<Entry<'_>, Lwm2mError> {
    let (&type_byte, mut rest) = bytes.split_first().ok_or_else(|| malformed("empty TLV entry"))?;
    let kind = type_byte >> 6;
    let id_len = if type_byte & 0x20 != 0 { 2 } else { 1 };
    let length_len = usize::from((type_byte >> 3) & 0x3);
    let id = take(&mut rest, id_len)?
        .iter()
        .fold(0u16, |acc, b| (acc << 8) | u16::from(*b));
    let length = if length_len == 0 {
        usize::from(type_byte & 0x7)
    } else {
        take(&mut rest, length_len)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    // The declared length is checked against what is there before anything is sliced or
    // allocated: a hostile length cannot make the decoder read or reserve more than it got.
    let value = take(&mut rest, length)?;
    Ok((kind, id, value, rest))
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], Lwm2mError> {
    if bytes.len() < n {
        return Err(malformed(&format!(
            "TLV entry declares {n} bytes, {} remain",
            bytes.len()
        )));
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

fn malformed(what: &str) -> Lwm2mError {
    Lwm2mError::Malformed(format!("TLV: {what}"))
}

/// Encodes `values` read from `base`: resources of one instance directly, or instances of an
/// object when `base` names only the object. Multiple-resource instances are grouped.
pub fn encode_tlv(base: ResourcePath, values: &[(ResourcePath, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    if base.instance.is_none() {
        let mut instances: Vec<u16> = values.iter().filter_map(|(p, _)| p.instance).collect();
        instances.dedup();
        for instance in instances {
            let inner: Vec<_> = values
                .iter()
                .filter(|(p, _)| p.instance == Some(instance))
                .cloned()
                .collect();
            let body = encode_resources(&inner);
            write_entry(&mut out, OBJECT_INSTANCE, instance, &body);
        }
    } else {
        out = encode_resources(values);
    }
    out
}

fn encode_resources(values: &[(ResourcePath, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let (path, value) = &values[i];
        let resource = path.resource.unwrap_or(0);
        if path.resource_instance.is_some() {
            let mut body = Vec::new();
            while i < values.len() && values[i].0.resource == path.resource && values[i].0.resource_instance.is_some() {
                let (p, v) = &values[i];
                write_entry(
                    &mut body,
                    RESOURCE_INSTANCE,
                    p.resource_instance.unwrap_or(0),
                    &v.to_tlv_bytes(),
                );
                i += 1;
            }
            write_entry(&mut out, MULTIPLE_RESOURCE, resource, &body);
        } else {
            write_entry(&mut out, RESOURCE, resource, &value.to_tlv_bytes());
            i += 1;
        }
    }
    out
}

fn write_entry(out: &mut Vec<u8>, kind: u8, id: u16, value: &[u8]) {
    let mut type_byte = kind << 6;
    if id > 0xff {
        type_byte |= 0x20;
    }
    let len = value.len();
    let length_bytes: Vec<u8> = if len < 8 {
        type_byte |= len as u8;
        Vec::new()
    } else if len <= 0xff {
        type_byte |= 0b01 << 3;
        vec![len as u8]
    } else if len <= 0xffff {
        type_byte |= 0b10 << 3;
        (len as u16).to_be_bytes().to_vec()
    } else {
        type_byte |= 0b11 << 3;
        (len as u32).to_be_bytes()[1..].to_vec()
    };
    out.push(type_byte);
    if id > 0xff {
        out.extend_from_slice(&id.to_be_bytes());
    } else {
        out.push(id as u8);
    }
    out.extend_from_slice(&length_bytes);
    out.extend_from_slice(value);
}

/// A TLV integer: 1, 2, 4 or 8 bytes, big-endian two's complement.
pub(super) fn integer(bytes: &[u8]) -> Option<i64> {
    match bytes.len() {
        1 => Some(i64::from(bytes[0] as i8)),
        2 => Some(i64::from(i16::from_be_bytes([bytes[0], bytes[1]]))),
        4 => Some(i64::from(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))),
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            Some(i64::from_be_bytes(b))
        }
        _ => None,
    }
}

/// The shortest TLV encoding of an integer.
pub(super) fn integer_bytes(value: i64) -> Vec<u8> {
    if let Ok(v) = i8::try_from(value) {
        v.to_be_bytes().to_vec()
    } else if let Ok(v) = i16::try_from(value) {
        v.to_be_bytes().to_vec()
    } else if let Ok(v) = i32::try_from(value) {
        v.to_be_bytes().to_vec()
    } else {
        value.to_be_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Device object example of LwM2M TS Core, Appendix (C.4 TLV): a read of /3/0.
    #[test]
    fn decodes_the_specification_example() {
        let bytes: Vec<u8> = vec![
            0xC8, 0x00, 0x14, b'O', b'p', b'e', b'n', b' ', b'M', b'o', b'b', b'i', b'l', b'e', b' ', b'A', b'l', b'l',
            b'i', b'a', b'n', b'c', b'e', // 0: manufacturer
            0xC8, 0x01, 0x16, b'L', b'i', b'g', b'h', b't', b'w', b'e', b'i', b'g', b'h', b't', b' ', b'M', b'2', b'M',
            b' ', b'C', b'l', b'i', b'e', b'n', b't', // 1: model number
            0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05, // 6: available power sources [1, 5]
            0xC1, 0x0A, 0x0F, // 10: memory free 15
            0xC4, 0x0D, 0x51, 0x82, 0x42, 0x8F, // 13: current time
        ];
        let values = decode_tlv(ResourcePath::instance(3, 0), &bytes).unwrap();
        assert_eq!(values[0].1.as_text().as_deref(), Some("Open Mobile Alliance"));
        assert_eq!(values[1].0, ResourcePath::resource(3, 0, 1));
        let power: Vec<_> = values.iter().filter(|(p, _)| p.resource == Some(6)).collect();
        assert_eq!(power.len(), 2);
        assert_eq!(power[1].0.resource_instance, Some(1));
        assert_eq!(power[1].1.as_i64(), Some(5));
        assert_eq!(
            values.iter().find(|(p, _)| p.resource == Some(10)).unwrap().1.as_i64(),
            Some(15)
        );
        assert_eq!(values.last().unwrap().1.as_i64(), Some(0x5182_428F));
    }

    #[test]
    fn object_level_reads_and_multiple_resources_round_trip() {
        let values = vec![
            (ResourcePath::resource(3303, 0, 5700), Value::Float(21.5)),
            (ResourcePath::resource(3303, 1, 5700), Value::Float(-3.0)),
            (
                ResourcePath {
                    resource_instance: Some(0),
                    ..ResourcePath::resource(3303, 1, 5701)
                },
                Value::String("Cel".into()),
            ),
        ];
        let bytes = encode_tlv(ResourcePath::object(3303), &values);
        let decoded = decode_tlv(ResourcePath::object(3303), &bytes).unwrap();
        assert_eq!(
            decoded.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            values.iter().map(|(p, _)| *p).collect::<Vec<_>>()
        );
    }

    #[test]
    fn hostile_lengths_and_depths_are_errors_not_panics() {
        let base = ResourcePath::instance(3, 0);
        // 24-bit length of 16 MiB with 2 bytes present.
        assert!(decode_tlv(base, &[0xD8, 0x00, 0xFF, 0xFF, 0xFF, 1, 2]).is_err());
        // Truncated identifier.
        assert!(decode_tlv(base, &[0xE0]).is_err());
        // A resource instance directly under an instance.
        assert!(decode_tlv(base, &[0x41, 0x00, 0x01]).is_err());
        // Random bytes never panic.
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..10_000 {
            let len = rng.usize(0..64);
            let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let _ = decode_tlv(ResourcePath::object(3), &bytes);
        }
    }
}
