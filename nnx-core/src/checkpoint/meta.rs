//! The JSON side of a checkpoint: per-tensor entries of the safetensors
//! `__metadata__` header, and a lossless JSON encoding of [`MetaValue`].

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::key::{Key, Path};
use crate::metadata::{MetaValue, Metadata};

/// Encodes a [`MetaValue`] losslessly: `None` → `null`, bools, ints (`1`),
/// finite floats (always with a `.` or exponent: `1.0`), strings, lists as
/// arrays, tuples as `{"tuple": [...]}`, non-finite floats as
/// `{"float": "nan" | "inf" | "-inf"}` (JSON has no such numbers).
pub(crate) fn meta_to_json(v: &MetaValue) -> Json {
    match v {
        MetaValue::None => Json::Null,
        MetaValue::Bool(b) => Json::Bool(*b),
        MetaValue::Int(i) => Json::from(*i),
        MetaValue::Float(x) => match serde_json::Number::from_f64(*x) {
            Some(n) => Json::Number(n),
            None => {
                let s = if x.is_nan() {
                    "nan"
                } else if *x > 0.0 {
                    "inf"
                } else {
                    "-inf"
                };
                serde_json::json!({ "float": s })
            }
        },
        MetaValue::Str(s) => Json::String(s.clone()),
        MetaValue::List(items) => Json::Array(items.iter().map(meta_to_json).collect()),
        MetaValue::Tuple(items) => {
            serde_json::json!({ "tuple": items.iter().map(meta_to_json).collect::<Vec<_>>() })
        }
    }
}

/// Decodes what [`meta_to_json`] writes; `Err` describes what was found instead.
pub(crate) fn meta_from_json(v: &Json) -> Result<MetaValue, String> {
    Ok(match v {
        Json::Null => MetaValue::None,
        Json::Bool(b) => MetaValue::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                MetaValue::Int(i)
            } else if n.is_u64() {
                return Err(format!("integer {n} outside the int64 range"));
            } else {
                MetaValue::Float(n.as_f64().ok_or_else(|| format!("number {n}"))?)
            }
        }
        Json::String(s) => MetaValue::Str(s.clone()),
        Json::Array(items) => {
            MetaValue::List(items.iter().map(meta_from_json).collect::<Result<_, _>>()?)
        }
        Json::Object(obj) if obj.len() == 1 => match (obj.get("tuple"), obj.get("float")) {
            (Some(Json::Array(items)), _) => {
                MetaValue::Tuple(items.iter().map(meta_from_json).collect::<Result<_, _>>()?)
            }
            (_, Some(Json::String(s))) => MetaValue::Float(match s.as_str() {
                "nan" => f64::NAN,
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                other => return Err(format!("float {other:?}")),
            }),
            _ => return Err(format!("object {v}")),
        },
        Json::Object(_) => return Err(format!("object {v}")),
    })
}

/// Metadata as an ordered JSON object.
pub(crate) fn metadata_to_json(m: &Metadata) -> IndexMap<String, Json> {
    m.iter()
        .map(|(k, v)| (k.to_string(), meta_to_json(v)))
        .collect()
}

/// Metadata from an ordered JSON object.
pub(crate) fn metadata_from_json(m: &IndexMap<String, Json>) -> Result<Metadata, String> {
    let mut out = Metadata::new();
    for (k, v) in m {
        out.insert(
            k.clone(),
            meta_from_json(v).map_err(|e| format!("metadata '{k}': {e}"))?,
        );
    }
    Ok(out)
}

/// One path key in JSON: an integer index or a string name.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(untagged)]
pub(crate) enum JsonKey {
    Int(usize),
    Str(String),
}

impl From<&Key> for JsonKey {
    fn from(k: &Key) -> Self {
        match k {
            Key::Int(i) => JsonKey::Int(*i),
            Key::Str(s) => JsonKey::Str(s.to_string()),
        }
    }
}

impl From<JsonKey> for Key {
    fn from(k: JsonKey) -> Self {
        match k {
            JsonKey::Int(i) => Key::Int(i),
            JsonKey::Str(s) => Key::from(s),
        }
    }
}

/// The `__metadata__` entry of one tensor: the Variable type's name, the exact
/// path (so keys such as `"0"` vs `0` or names with dots survive), the metadata,
/// and whether the value was a Rust scalar rather than a 0-d array.
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: Vec<JsonKey>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub metadata: IndexMap<String, Json>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scalar: bool,
}

/// The tensor name of a path: its keys joined by `.` (`encoder.layers.0.kernel`).
pub(crate) fn dotted(path: &[Key]) -> String {
    let mut s = String::new();
    for (i, k) in path.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        match k {
            Key::Int(n) => s.push_str(&n.to_string()),
            Key::Str(name) => s.push_str(name),
        }
    }
    s
}

/// The path of a tensor name that has no entry (files written by other tools):
/// split at `.`, all-digit parts become indices.
pub(crate) fn path_of_name(name: &str) -> Path {
    if name.is_empty() {
        return Vec::new();
    }
    name.split('.')
        .map(|part| match part.parse::<usize>() {
            Ok(i) if part.bytes().all(|b| b.is_ascii_digit()) => Key::Int(i),
            _ => Key::from(part.to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_meta_value_round_trips() {
        let v = MetaValue::List(vec![
            MetaValue::None,
            MetaValue::Bool(false),
            MetaValue::Int(i64::MIN),
            MetaValue::Float(0.1),
            MetaValue::Float(-0.0),
            MetaValue::Float(1e300),
            MetaValue::Float(f64::INFINITY),
            MetaValue::Float(f64::NEG_INFINITY),
            MetaValue::Float(1.0),
            MetaValue::Str("a\"b".into()),
            MetaValue::Tuple(vec![MetaValue::Int(1), MetaValue::Tuple(vec![])]),
        ]);
        let text = serde_json::to_string(&meta_to_json(&v)).unwrap();
        let back = meta_from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, v);
        let nan = meta_from_json(&meta_to_json(&MetaValue::Float(f64::NAN))).unwrap();
        assert!(matches!(nan, MetaValue::Float(x) if x.is_nan()));
    }

    #[test]
    fn bad_json_is_rejected() {
        for text in [
            r#"{"x": 1}"#,
            r#"{"float": "big"}"#,
            "18446744073709551615",
            r#"{"tuple": 3}"#,
        ] {
            assert!(
                meta_from_json(&serde_json::from_str(text).unwrap()).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn names_and_paths() {
        let p = vec![Key::from("a"), Key::from(0usize), Key::from("k")];
        assert_eq!(dotted(&p), "a.0.k");
        assert_eq!(path_of_name("a.0.k"), p);
        assert_eq!(path_of_name("+1"), vec![Key::from("+1")]);
        assert!(path_of_name("").is_empty());
    }
}
