//! LwM2M content formats: decoding every format a real client may answer a Read in, and
//! encoding the ones SEAM's own client answers with.
//!
//! Real clients differ: without an Accept option, Leshan answers object reads in TLV or SenML,
//! Wakaama in TLV, Anjay in SenML CBOR, and single resources in text/plain. The server decodes
//! them all into one list of `(path, value)` pairs.

mod link;
mod senml;
mod tlv;

use std::fmt;

pub use link::{parse_links, Link};
pub use senml::{decode_lwm2m_json, decode_senml_cbor, decode_senml_json, encode_senml_cbor, encode_senml_json};
pub use tlv::{decode_tlv, encode_tlv};

use crate::coap::content_format as cf;
use crate::Lwm2mError;

/// An LwM2M path: `/object[/instance[/resource[/resource-instance]]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourcePath {
    /// Object ID.
    pub object: u16,
    /// Object instance ID.
    pub instance: Option<u16>,
    /// Resource ID.
    pub resource: Option<u16>,
    /// Resource instance ID.
    pub resource_instance: Option<u16>,
}

impl ResourcePath {
    /// `/object`.
    pub fn object(object: u16) -> Self {
        Self {
            object,
            instance: None,
            resource: None,
            resource_instance: None,
        }
    }

    /// `/object/instance`.
    pub fn instance(object: u16, instance: u16) -> Self {
        Self {
            instance: Some(instance),
            ..Self::object(object)
        }
    }

    /// `/object/instance/resource`.
    pub fn resource(object: u16, instance: u16, resource: u16) -> Self {
        Self {
            resource: Some(resource),
            ..Self::instance(object, instance)
        }
    }

    /// Parses `/3/0/1`, `3/0`, `/3303` (a trailing slash allowed); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let trimmed = text.trim_matches('/');
        if trimmed.is_empty() {
            return None;
        }
        let mut ids = [None; 4];
        for (count, part) in trimmed.split('/').enumerate() {
            if count == 4 {
                return None;
            }
            ids[count] = Some(part.parse::<u16>().ok()?);
        }
        Some(Self {
            object: ids[0]?,
            instance: ids[1],
            resource: ids[2],
            resource_instance: ids[3],
        })
    }

    /// The path's segments, for Uri-Path options.
    pub fn segments(&self) -> Vec<String> {
        [Some(self.object), self.instance, self.resource, self.resource_instance]
            .into_iter()
            .map_while(|id| id.map(|id| id.to_string()))
            .collect()
    }

    /// A child path one level down, if there is a level left.
    pub fn child(&self, id: u16) -> Option<Self> {
        match (self.instance, self.resource, self.resource_instance) {
            (None, _, _) => Some(Self::instance(self.object, id)),
            (Some(i), None, _) => Some(Self::resource(self.object, i, id)),
            (Some(_), Some(_), None) => Some(Self {
                resource_instance: Some(id),
                ..*self
            }),
            _ => None,
        }
    }

    /// How many levels the path has (1 to 4).
    pub fn depth(&self) -> usize {
        1 + usize::from(self.instance.is_some())
            + usize::from(self.resource.is_some())
            + usize::from(self.resource_instance.is_some())
    }
}

impl fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in self.segments() {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

/// One resource value as decoded. TLV carries no types, so its values stay [`Value::Untyped`]
/// until the reader asks for a type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A signed integer (also LwM2M Time).
    Integer(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Boolean(bool),
    /// A string.
    String(String),
    /// Opaque bytes.
    Opaque(Vec<u8>),
    /// An object link `object:instance`.
    ObjLink(u16, u16),
    /// Bytes whose type only the object definition knows (TLV).
    Untyped(Vec<u8>),
}

impl Value {
    /// The value as an integer: integers, integral floats, numeric strings, and TLV integers
    /// (1, 2, 4 or 8 bytes, big-endian, two's complement).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
            Value::String(s) => s.trim().parse().ok(),
            Value::Untyped(bytes) | Value::Opaque(bytes) => tlv::integer(bytes),
            Value::Boolean(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// The value as text: strings, numbers printed, TLV bytes as UTF-8.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::String(s) => Some(s.clone()),
            Value::Integer(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            Value::Untyped(bytes) | Value::Opaque(bytes) => String::from_utf8(bytes.clone()).ok(),
            Value::ObjLink(o, i) => Some(format!("{o}:{i}")),
        }
    }

    /// The value as bytes, in the TLV encoding of its type.
    pub fn to_tlv_bytes(&self) -> Vec<u8> {
        match self {
            Value::Integer(i) => tlv::integer_bytes(*i),
            Value::Float(f) => f.to_be_bytes().to_vec(),
            Value::Boolean(b) => vec![u8::from(*b)],
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Opaque(bytes) | Value::Untyped(bytes) => bytes.clone(),
            Value::ObjLink(o, i) => [o.to_be_bytes(), i.to_be_bytes()].concat(),
        }
    }
}

/// Decodes a payload in content format `format`, read from `base` (the path the request named).
pub fn decode(
    format: Option<u16>,
    base: ResourcePath,
    payload: &[u8],
) -> Result<Vec<(ResourcePath, Value)>, Lwm2mError> {
    match format {
        // No Content-Format: LwM2M 1.0 §7.3 says text for a single resource, and TLV otherwise.
        None if base.resource.is_some() => decode_text(base, payload),
        None | Some(cf::TLV) => decode_tlv(base, payload),
        Some(cf::TEXT) => decode_text(base, payload),
        Some(cf::OPAQUE) => Ok(vec![(base, Value::Opaque(payload.to_vec()))]),
        Some(cf::SENML_JSON) => decode_senml_json(payload),
        Some(cf::SENML_CBOR) => decode_senml_cbor(payload),
        Some(cf::LWM2M_JSON) => decode_lwm2m_json(payload),
        Some(other) => Err(Lwm2mError::Malformed(format!(
            "content format {other} is not an LwM2M format"
        ))),
    }
}

fn decode_text(base: ResourcePath, payload: &[u8]) -> Result<Vec<(ResourcePath, Value)>, Lwm2mError> {
    let text =
        std::str::from_utf8(payload).map_err(|e| Lwm2mError::Malformed(format!("text/plain is not UTF-8: {e}")))?;
    Ok(vec![(base, Value::String(text.to_owned()))])
}

/// Encodes `values` (all under `base`) in `format`; `None` when SEAM does not write that format.
pub fn encode(format: u16, base: ResourcePath, values: &[(ResourcePath, Value)]) -> Option<Vec<u8>> {
    match format {
        cf::TLV => Some(encode_tlv(base, values)),
        cf::SENML_JSON => Some(encode_senml_json(values)),
        cf::SENML_CBOR => Some(encode_senml_cbor(values)),
        cf::TEXT if values.len() == 1 => values[0].1.as_text().map(String::into_bytes),
        cf::OPAQUE if values.len() == 1 => Some(values[0].1.to_tlv_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_print() {
        let p = ResourcePath::parse("/3/0/9").unwrap();
        assert_eq!(p, ResourcePath::resource(3, 0, 9));
        assert_eq!(p.to_string(), "/3/0/9");
        assert_eq!(ResourcePath::parse("3303/0/").unwrap(), ResourcePath::instance(3303, 0));
        for bad in ["", "/", "/a", "/3/0/1/2/3", "/70000", "/3//1"] {
            assert_eq!(ResourcePath::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_format_round_trips_through_decode() {
        let base = ResourcePath::instance(3, 0);
        let values = vec![
            (ResourcePath::resource(3, 0, 0), Value::String("SEAM".into())),
            (ResourcePath::resource(3, 0, 10), Value::Integer(90_112)),
            (ResourcePath::resource(3, 0, 21), Value::Integer(-5)),
        ];
        for format in [cf::TLV, cf::SENML_JSON, cf::SENML_CBOR] {
            let bytes = encode(format, base, &values).unwrap();
            let decoded = decode(Some(format), base, &bytes).unwrap();
            assert_eq!(decoded.len(), 3, "format {format}");
            assert_eq!(decoded[0].0, values[0].0);
            assert_eq!(decoded[0].1.as_text().as_deref(), Some("SEAM"));
            assert_eq!(decoded[1].1.as_i64(), Some(90_112));
            assert_eq!(decoded[2].1.as_i64(), Some(-5));
        }
    }

    #[test]
    fn unknown_format_and_bad_text_are_errors() {
        let base = ResourcePath::resource(3, 0, 0);
        assert!(decode(Some(50), base, b"{}").is_err());
        assert!(decode(Some(cf::TEXT), base, &[0xff, 0xfe]).is_err());
    }
}
