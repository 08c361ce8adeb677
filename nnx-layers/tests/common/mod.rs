//! Readers for the committed Flax reference data, shared by the conformance tests.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

/// The JSON file `tests/data/<rel>`.
pub fn load_json(rel: &str) -> Value {
    let path = format!("{}/tests/data/{rel}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("reference data present");
    serde_json::from_str(&text).expect("valid json")
}

/// A list of sizes; a single number is a one-element list, anything else empty.
pub fn usizes(v: &Value) -> Vec<usize> {
    match v {
        Value::Number(n) => vec![n.as_u64().expect("int") as usize],
        Value::Array(a) => a
            .iter()
            .map(|d| d.as_u64().expect("int") as usize)
            .collect(),
        _ => Vec::new(),
    }
}

/// A list of (possibly negative) axes.
pub fn isizes(v: &Value) -> Vec<isize> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|d| d.as_i64().expect("int") as isize)
        .collect()
}

/// An array stored as `{"shape": [...], "data": [...]}`.
fn array<T>(v: &Value, elem: fn(&Value) -> Option<T>) -> ArrayD<T> {
    let data: Vec<T> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| elem(d).expect("element of the expected type"))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&usizes(&v["shape"])), data).expect("consistent")
}

/// An `f32` array.
pub fn f32s(v: &Value) -> ArrayD<f32> {
    array(v, |d| d.as_f64().map(|x| x as f32))
}

/// An `i64` array.
pub fn i64s(v: &Value) -> ArrayD<i64> {
    array(v, Value::as_i64)
}

/// A `bool` array.
pub fn bools(v: &Value) -> ArrayD<bool> {
    array(v, Value::as_bool)
}

/// `|got - want| <= atol + rtol * |want|` element by element, same shape.
pub fn assert_close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>, rtol: f32, atol: f32) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        assert!(
            (g - w).abs() <= atol + rtol * w.abs(),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}
