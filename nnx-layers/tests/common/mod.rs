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

/// An initializer by the name the generators record.
pub fn param_init(name: &str) -> nnx_core::init::ParamInit<f32> {
    use nnx_core::init::{lecun_normal, normal, uniform};
    match name {
        "normal" => normal(1.0).into(),
        "uniform" => uniform(1.0).into(),
        "lecun_normal" => lecun_normal().into(),
        other => panic!("unknown init {other}"),
    }
}

/// A MultiHeadAttention from a generator's config (Flax's keyword arguments).
pub fn build_mha(
    c: &Value,
    rngs: &mut nnx_core::rngs::Rngs,
) -> nnx_core::Result<nnx_layers::MultiHeadAttention> {
    let u = |k: &str| c.get(k).and_then(Value::as_u64).map(|v| v as usize);
    let bl = |k: &str| c.get(k).and_then(Value::as_bool);
    let heads = u("num_heads").expect("num_heads");
    let mut b = nnx_layers::MultiHeadAttention::config(heads, u("in_features").expect("in"));
    if let Some(v) = u("qkv_features") {
        b = b.qkv_features(v);
    }
    if let Some(v) = u("out_features") {
        b = b.out_features(v);
    }
    if let Some(v) = u("in_kv_features") {
        b = b.in_kv_features(v);
    }
    if let Some(v) = u("num_kv_heads") {
        b = b.num_kv_heads(v);
    }
    if let Some(v) = bl("normalize_qk") {
        b = b.normalize_qk(v);
    }
    if let Some(v) = bl("use_bias") {
        b = b.use_bias(v);
    }
    if let Some(v) = bl("deterministic") {
        b = b.deterministic(v);
    }
    if let Some(v) = bl("broadcast_dropout") {
        b = b.broadcast_dropout(v);
    }
    if let Some(v) = bl("decode") {
        b = b.decode(v);
    }
    if let Some(v) = c.get("dropout_rate").and_then(Value::as_f64) {
        b = b.dropout_rate(v);
    }
    if let Some(v) = c.get("bias_init").and_then(Value::as_str) {
        b = b.bias_init(param_init(v));
    }
    if let Some(v) = c.get("out_kernel_init").and_then(Value::as_str) {
        b = b.out_kernel_init(param_init(v));
    }
    if let Some(v) = c.get("out_bias_init").and_then(Value::as_str) {
        b = b.out_bias_init(param_init(v));
    }
    b.build(rngs)
}
