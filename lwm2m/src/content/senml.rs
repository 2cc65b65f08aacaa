//! SenML JSON and CBOR (RFC 8428) as LwM2M 1.1 uses them, and the LwM2M 1.0 JSON format.
//!
//! A record's path is its base name (carried forward from earlier records) joined with its name:
//! `{"bn":"/3/0/","n":"0","vs":"SEAM"}` is `/3/0/0`. CBOR uses the integer labels of RFC 8428
//! §6 (bn −2, bt −3, n 0, v 2, vs 3, vb 4, vd 8); LwM2M adds the string label `vlo` for object
//! links.

use base64::Engine as _;
use ciborium::Value as Cbor;
use serde_json::Value as Json;

use super::{ResourcePath, Value};
use crate::Lwm2mError;

/// Decodes SenML JSON into `(path, value)` pairs.
pub fn decode_senml_json(payload: &[u8]) -> Result<Vec<(ResourcePath, Value)>, Lwm2mError> {
    let records: Vec<serde_json::Map<String, Json>> = serde_json::from_slice(payload)
        .map_err(|e| Lwm2mError::Malformed(format!("SenML JSON, line {} column {}: {e}", e.line(), e.column())))?;
    let mut base = String::new();
    let mut out = Vec::with_capacity(records.len());
    for record in &records {
        if let Some(bn) = record.get("bn").and_then(Json::as_str) {
            base = bn.to_owned();
        }
        let name = record.get("n").and_then(Json::as_str).unwrap_or("");
        let path = record_path(&base, name)?;
        let value = if let Some(v) = record.get("v") {
            number_value(v)
        } else if let Some(Json::String(s)) = record.get("vs") {
            Some(Value::String(s.clone()))
        } else if let Some(Json::Bool(b)) = record.get("vb") {
            Some(Value::Boolean(*b))
        } else if let Some(Json::String(d)) = record.get("vd") {
            Some(Value::Opaque(decode_base64(d)?))
        } else if let Some(Json::String(link)) = record.get("vlo") {
            Some(obj_link(link)?)
        } else {
            None // A record without a value (e.g. in a Discover-like listing) carries nothing.
        };
        if let Some(value) = value {
            out.push((path, value));
        }
    }
    Ok(out)
}

/// Decodes LwM2M 1.0 JSON (`application/vnd.oma.lwm2m+json`): `{"bn": "/3/0/", "e": [...]}`
/// with `v`, `sv`, `bv` and `ov` values.
pub fn decode_lwm2m_json(payload: &[u8]) -> Result<Vec<(ResourcePath, Value)>, Lwm2mError> {
    let doc: Json = serde_json::from_slice(payload)
        .map_err(|e| Lwm2mError::Malformed(format!("LwM2M JSON, line {} column {}: {e}", e.line(), e.column())))?;
    let base = doc.get("bn").and_then(Json::as_str).unwrap_or("");
    let entries = doc
        .get("e")
        .and_then(Json::as_array)
        .ok_or_else(|| Lwm2mError::Malformed("LwM2M JSON without an \"e\" array".into()))?;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = entry.get("n").and_then(Json::as_str).unwrap_or("");
        let path = record_path(base, name)?;
        let value = if let Some(v) = entry.get("v") {
            number_value(v)
        } else if let Some(Json::String(s)) = entry.get("sv") {
            Some(Value::String(s.clone()))
        } else if let Some(Json::Bool(b)) = entry.get("bv") {
            Some(Value::Boolean(*b))
        } else if let Some(Json::String(link)) = entry.get("ov") {
            Some(obj_link(link)?)
        } else {
            None
        };
        if let Some(value) = value {
            out.push((path, value));
        }
    }
    Ok(out)
}

/// Decodes SenML CBOR into `(path, value)` pairs.
pub fn decode_senml_cbor(payload: &[u8]) -> Result<Vec<(ResourcePath, Value)>, Lwm2mError> {
    let doc: Cbor = ciborium::de::from_reader_with_recursion_limit(payload, 16)
        .map_err(|e| Lwm2mError::Malformed(format!("SenML CBOR: {e}")))?;
    let Cbor::Array(records) = doc else {
        return Err(Lwm2mError::Malformed(
            "SenML CBOR: the top level is not an array".into(),
        ));
    };
    let mut base = String::new();
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let Cbor::Map(fields) = record else {
            return Err(Lwm2mError::Malformed("SenML CBOR: a record is not a map".into()));
        };
        let mut name = String::new();
        let mut value = None;
        for (label, field) in fields {
            match (cbor_label(&label), field) {
                (Some(Label::BaseName), Cbor::Text(bn)) => base = bn,
                (Some(Label::Name), Cbor::Text(n)) => name = n,
                (Some(Label::Value), Cbor::Integer(i)) => value = i64::try_from(i).ok().map(Value::Integer),
                (Some(Label::Value), Cbor::Float(f)) => value = Some(Value::Float(f)),
                (Some(Label::StringValue), Cbor::Text(s)) => value = Some(Value::String(s)),
                (Some(Label::BoolValue), Cbor::Bool(b)) => value = Some(Value::Boolean(b)),
                (Some(Label::DataValue), Cbor::Bytes(b)) => value = Some(Value::Opaque(b)),
                (Some(Label::DataValue), Cbor::Text(d)) => value = Some(Value::Opaque(decode_base64(&d)?)),
                (Some(Label::ObjLink), Cbor::Text(link)) => value = Some(obj_link(&link)?),
                _ => {}
            }
        }
        let path = record_path(&base, &name)?;
        if let Some(value) = value {
            out.push((path, value));
        }
    }
    Ok(out)
}

enum Label {
    BaseName,
    Name,
    Value,
    StringValue,
    BoolValue,
    DataValue,
    ObjLink,
}

fn cbor_label(label: &Cbor) -> Option<Label> {
    match label {
        Cbor::Integer(i) => match i128::from(*i) {
            -2 => Some(Label::BaseName),
            0 => Some(Label::Name),
            2 => Some(Label::Value),
            3 => Some(Label::StringValue),
            4 => Some(Label::BoolValue),
            8 => Some(Label::DataValue),
            _ => None,
        },
        Cbor::Text(t) if t == "vlo" => Some(Label::ObjLink),
        _ => None,
    }
}

fn record_path(base: &str, name: &str) -> Result<ResourcePath, Lwm2mError> {
    let full = format!("{base}{name}");
    ResourcePath::parse(&full).ok_or_else(|| Lwm2mError::Malformed(format!("SenML name {full:?} is not an LwM2M path")))
}

fn number_value(v: &Json) -> Option<Value> {
    v.as_i64().map(Value::Integer).or_else(|| v.as_f64().map(Value::Float))
}

fn obj_link(text: &str) -> Result<Value, Lwm2mError> {
    let parsed = text
        .split_once(':')
        .and_then(|(o, i)| Some((o.parse().ok()?, i.parse().ok()?)));
    parsed
        .map(|(o, i)| Value::ObjLink(o, i))
        .ok_or_else(|| Lwm2mError::Malformed(format!("object link {text:?} is not object:instance")))
}

fn decode_base64(text: &str) -> Result<Vec<u8>, Lwm2mError> {
    // SenML uses base64url without padding (RFC 8428 §4.3); some clients send standard base64.
    let trimmed = text.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|e| Lwm2mError::Malformed(format!("SenML data value: {e}")))
}

/// Encodes `(path, value)` pairs as SenML JSON, one record per value, full paths as names.
pub fn encode_senml_json(values: &[(ResourcePath, Value)]) -> Vec<u8> {
    let records: Vec<Json> = values
        .iter()
        .map(|(path, value)| {
            let mut record = serde_json::Map::new();
            record.insert("n".into(), Json::String(path.to_string()));
            let (key, v) = match value {
                Value::Integer(i) => ("v", Json::from(*i)),
                Value::Float(f) => ("v", Json::from(*f)),
                Value::Boolean(b) => ("vb", Json::Bool(*b)),
                Value::String(s) => ("vs", Json::String(s.clone())),
                Value::Opaque(b) | Value::Untyped(b) => (
                    "vd",
                    Json::String(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)),
                ),
                Value::ObjLink(o, i) => ("vlo", Json::String(format!("{o}:{i}"))),
            };
            record.insert(key.into(), v);
            Json::Object(record)
        })
        .collect();
    serde_json::to_vec(&records).unwrap_or_default()
}

/// Encodes `(path, value)` pairs as SenML CBOR.
pub fn encode_senml_cbor(values: &[(ResourcePath, Value)]) -> Vec<u8> {
    let records: Vec<Cbor> = values
        .iter()
        .map(|(path, value)| {
            let (label, v) = match value {
                Value::Integer(i) => (Cbor::from(2), Cbor::from(*i)),
                Value::Float(f) => (Cbor::from(2), Cbor::Float(*f)),
                Value::Boolean(b) => (Cbor::from(4), Cbor::Bool(*b)),
                Value::String(s) => (Cbor::from(3), Cbor::Text(s.clone())),
                Value::Opaque(b) | Value::Untyped(b) => (Cbor::from(8), Cbor::Bytes(b.clone())),
                Value::ObjLink(o, i) => (Cbor::Text("vlo".into()), Cbor::Text(format!("{o}:{i}"))),
            };
            Cbor::Map(vec![(Cbor::from(0), Cbor::Text(path.to_string())), (label, v)])
        })
        .collect();
    let mut out = Vec::new();
    // Writing into a Vec cannot fail for lack of space; an error here would be a ciborium bug.
    if ciborium::ser::into_writer(&Cbor::Array(records), &mut out).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SenML JSON example of LwM2M 1.1 TS Core §7.4.4 (a read of /3/0), trimmed.
    #[test]
    fn decodes_base_names_and_every_value_kind() {
        let payload = br#"[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},
            {"n":"9","v":95},{"n":"13","v":1.36796e9},{"n":"15","vs":"U"},
            {"bn":"/5/0/","n":"0","vd":"AAEC"},{"n":"8","vb":true},{"bn":"/9/0/5","vlo":"3:0"}]"#;
        let values = decode_senml_json(payload).unwrap();
        assert_eq!(values[0].0, ResourcePath::resource(3, 0, 0));
        assert_eq!(values[1].1, Value::Integer(95));
        assert_eq!(values[2].1.as_i64(), Some(1_367_960_000));
        assert_eq!(values[4].1, Value::Opaque(vec![0, 1, 2]));
        assert_eq!(values[5].1, Value::Boolean(true));
        assert_eq!(values[6], (ResourcePath::resource(9, 0, 5), Value::ObjLink(3, 0)));
    }

    #[test]
    fn lwm2m_json_decodes() {
        let payload = br#"{"bn":"/3/0/","e":[{"n":"0","sv":"SEAM"},{"n":"10","v":4096},{"n":"1","bv":false}]}"#;
        let values = decode_lwm2m_json(payload).unwrap();
        assert_eq!(values.len(), 3);
        assert_eq!(values[1], (ResourcePath::resource(3, 0, 10), Value::Integer(4096)));
    }

    #[test]
    fn malformed_documents_say_where() {
        let err = decode_senml_json(b"[{\"n\":\"/3/0/0\",\n \"v\": }]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(decode_senml_json(br#"[{"n":"not/a/path","v":1}]"#).is_err());
        assert!(decode_senml_cbor(&[0x9f, 0x9f, 0x9f]).is_err());
        assert!(decode_senml_cbor(&[0xa0]).is_err());
        // Deep nesting is refused by the recursion limit, not by a stack overflow.
        let deep = vec![0x81u8; 100_000];
        assert!(decode_senml_cbor(&deep).is_err());
    }
}
