//! `Serialize`/`Deserialize` for [`State`] (feature `serde`): a nested map of
//! `{"type": "Param", "value": {"dtype": "float32", "shape": [2], "data": [..]},
//! "metadata": {..}}` leaves, meant for small states in JSON.
//!
//! Details: map keys are strings, and an all-digit key reads back as an index
//! (`Key::Int`); float data that JSON cannot hold is written as `"nan"`,
//! `"inf"`, `"-inf"`; a value saved from a Rust scalar carries
//! `"scalar": true` and reads back as that scalar, any other as an
//! `ndarray::ArrayD`; metadata uses the checkpoint encoding (see
//! [`checkpoint`](super)). Variable types are resolved with
//! [`builtin_kind`](super::builtin_kind); values that are not one array or
//! scalar cannot be serialized.
//!
//! ```
//! use nnx_core::prelude::*;
//! let state = State::from_flat(vec![(
//!     vec![Key::from("layers"), Key::from(0usize), Key::from("bias")],
//!     VariableState::new(Param, ndarray::arr1(&[0.5f32, 1.0]).into_dyn()),
//! )]).unwrap();
//! let json = serde_json::to_string(&state).unwrap();
//! assert_eq!(
//!     json,
//!     r#"{"layers":{"0":{"bias":{"type":"Param","value":{"dtype":"float32","shape":[2],"data":[0.5,1.0]}}}}}"#
//! );
//! let back: State = serde_json::from_str(&json).unwrap();
//! assert_eq!(back, state);
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use ndarray::{ArrayD, IxDyn};
use serde::de::{Error as _, MapAccess, Visitor};
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;

use super::meta;
use crate::key::{Key, Path};
use crate::state::{State, Tree};
use crate::value::{ArrayRef, DType, Value};
use crate::variable::VariableState;

struct TreeSer<'a>(&'a Tree<VariableState>);

impl Serialize for TreeSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Tree::Leaf(l) => LeafSer(l).serialize(s),
            Tree::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, child) in m {
                    let key = match k {
                        Key::Int(i) => i.to_string(),
                        Key::Str(name) => name.to_string(),
                    };
                    map.serialize_entry(&key, &TreeSer(child))?;
                }
                map.end()
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct LeafJson {
    #[serde(rename = "type")]
    kind: String,
    value: ValueJson,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    metadata: IndexMap<String, Json>,
}

#[derive(Serialize, Deserialize)]
struct ValueJson {
    dtype: String,
    shape: Vec<usize>,
    data: Vec<Json>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    scalar: bool,
}

struct LeafSer<'a>(&'a VariableState);

impl Serialize for LeafSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let Some(r) = l.value.array_ref() else {
            return Err(S::Error::custom(format!(
                "expected a single array or scalar, found a value of type {}",
                crate::value::short_type_name(l.value.type_name())
            )));
        };
        LeafJson {
            kind: l.kind.name().to_string(),
            value: ValueJson {
                dtype: r.dtype().name().to_string(),
                shape: r.shape().to_vec(),
                data: data_to_json(&r),
                scalar: super::is_rust_scalar(&*l.value),
            },
            metadata: meta::metadata_to_json(&l.metadata),
        }
        .serialize(s)
    }
}

fn float_json(x: f64) -> Json {
    match serde_json::Number::from_f64(x) {
        Some(n) => Json::Number(n),
        None if x.is_nan() => Json::from("nan"),
        None if x > 0.0 => Json::from("inf"),
        None => Json::from("-inf"),
    }
}

fn data_to_json(r: &ArrayRef<'_>) -> Vec<Json> {
    match r {
        // f32 → f64 is exact, and the shortest f64 text parses back to it.
        ArrayRef::F32(v) => v.iter().map(|x| float_json(f64::from(*x))).collect(),
        ArrayRef::F64(v) => v.iter().map(|x| float_json(*x)).collect(),
        ArrayRef::I32(v) => v.iter().map(|x| Json::from(*x)).collect(),
        ArrayRef::I64(v) => v.iter().map(|x| Json::from(*x)).collect(),
        ArrayRef::U8(v) => v.iter().map(|x| Json::from(*x)).collect(),
        ArrayRef::U32(v) => v.iter().map(|x| Json::from(*x)).collect(),
        ArrayRef::Bool(v) => v.iter().map(|x| Json::from(*x)).collect(),
    }
}

impl Serialize for State {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TreeSer(self.tree()).serialize(s)
    }
}

/// A leaf is an object whose `type` is a string; a submodule's `type` child
/// would be an object, so the two cannot be confused.
#[derive(Deserialize)]
#[serde(untagged)]
enum NodeDe {
    Leaf(LeafJson),
    Map(Entries),
}

/// A JSON object's entries in order, repeated keys kept so that [`flatten`]
/// can name them (a map would keep one silently).
struct Entries(Vec<(String, NodeDe)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of Variables")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(EntriesVisitor)
    }
}

fn json_float(x: &Json) -> Option<f64> {
    match x {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn build<T>(v: &ValueJson, conv: impl Fn(&Json) -> Option<T>) -> Result<Arc<dyn Value>, String>
where
    T: Value + Copy,
    ArrayD<T>: Value,
{
    let data: Vec<T> = v
        .data
        .iter()
        .map(|x| conv(x).ok_or_else(|| format!("a {} element, found {x}", v.dtype)))
        .collect::<Result<_, _>>()?;
    let a = ArrayD::from_shape_vec(IxDyn(&v.shape), data)
        .map_err(|e| format!("data matching shape {:?}: {e}", v.shape))?;
    if !v.scalar {
        return Ok(Arc::new(a));
    }
    match a.first() {
        Some(x) if a.ndim() == 0 => Ok(Arc::new(*x)),
        _ => Err(format!("a scalar, found shape {:?}", v.shape)),
    }
}

fn value_from_json(v: &ValueJson) -> Result<Arc<dyn Value>, String> {
    let dtype = [
        DType::F32,
        DType::F64,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U32,
        DType::Bool,
    ]
    .into_iter()
    .find(|d| d.name() == v.dtype)
    .ok_or_else(|| format!("a known dtype, found {:?}", v.dtype))?;
    match dtype {
        // Narrowing to f32 is exact for what was widened from f32.
        DType::F32 => build(v, |x| json_float(x).map(|f| f as f32)),
        DType::F64 => build(v, json_float),
        DType::I32 => build(v, |x| x.as_i64().and_then(|i| i32::try_from(i).ok())),
        DType::I64 => build(v, Json::as_i64),
        DType::U8 => build(v, |x| x.as_u64().and_then(|i| u8::try_from(i).ok())),
        DType::U32 => build(v, |x| x.as_u64().and_then(|i| u32::try_from(i).ok())),
        DType::Bool => build(v, Json::as_bool),
    }
}

fn flatten(
    node: NodeDe,
    path: &mut Path,
    out: &mut Vec<(Path, VariableState)>,
) -> Result<(), String> {
    match node {
        NodeDe::Leaf(l) => {
            let at = location(path);
            let kind = super::builtin_kind(&l.kind).ok_or_else(|| {
                format!(
                    "at {at}: expected a built-in Variable type, found {:?}",
                    l.kind
                )
            })?;
            let value = value_from_json(&l.value).map_err(|e| format!("at {at}: expected {e}"))?;
            let metadata =
                meta::metadata_from_json(&l.metadata).map_err(|e| format!("at {at}: {e}"))?;
            out.push((
                path.clone(),
                VariableState {
                    kind,
                    value,
                    metadata,
                    hooks: None,
                },
            ));
        }
        NodeDe::Map(Entries(m)) => {
            let mut seen = BTreeSet::new();
            for (k, child) in m {
                let key = key_of(&k);
                if !seen.insert(key.clone()) {
                    // "a" twice, or "0" and "00" (both index 0).
                    return Err(format!(
                        "at {}: expected each key once, found {k:?} naming a key seen before",
                        location(path)
                    ));
                }
                path.push(key);
                let r = flatten(child, path, out);
                path.pop();
                r?;
            }
        }
    }
    Ok(())
}

/// Where a problem is, for errors: the dotted path, or `<root>`.
fn location(path: &[Key]) -> String {
    if path.is_empty() {
        "<root>".to_string()
    } else {
        meta::dotted(path)
    }
}

/// A map key: all-digit keys are indices (JSON object keys are strings).
fn key_of(k: &str) -> Key {
    match k.parse::<usize>() {
        Ok(i) if k.bytes().all(|b| b.is_ascii_digit()) => Key::Int(i),
        _ => Key::from(k.to_string()),
    }
}

impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let node = NodeDe::deserialize(d)?;
        let mut out = Vec::new();
        flatten(node, &mut Vec::new(), &mut out).map_err(D::Error::custom)?;
        State::from_flat(out).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two keys for one path would leave one leaf silently dropped.
    #[test]
    fn repeated_keys_are_errors() {
        let leaf = r#"{"type":"Param","value":{"dtype":"float32","shape":[],"data":[1.0]}}"#;
        for (json, key) in [
            (
                format!(r#"{{"x":{{"0":{leaf},"00":{leaf}}}}}"#),
                r#"at x: expected each key once, found "00""#,
            ),
            (
                format!(r#"{{"a":{leaf},"a":{{"b":{leaf}}}}}"#),
                r#"at <root>: expected each key once, found "a""#,
            ),
        ] {
            let err = serde_json::from_str::<State>(&json)
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.starts_with(key)),
                "{err:?}"
            );
        }
    }

    #[test]
    fn keys() {
        assert_eq!(key_of("0"), Key::Int(0));
        assert_eq!(key_of("a.b"), Key::from("a.b"));
        assert_eq!(key_of("+1"), Key::from("+1"));
    }
}
