//! Readers of the committed optax/Flax reference data.
// Each test binary uses a part of these.
#![allow(dead_code)]

use nnx_tensor::Tensor;
use serde_json::Value;

/// `tools/flax_reference/gen_optax_reference.py`'s output.
pub fn data() -> Value {
    serde_json::from_str(include_str!("../data/optax_reference.json"))
        .expect("reference data parses")
}

/// An `{"shape", "data"}` array (floats or bools) as f32.
pub fn floats(v: &Value) -> ndarray::ArrayD<f32> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f32> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            x.as_f64()
                .or(x.as_bool().map(|b| f64::from(u8::from(b))))
                .unwrap() as f32
        })
        .collect();
    ndarray::ArrayD::from_shape_vec(shape, data).unwrap()
}

/// [`floats`] as a Tensor.
pub fn tensor(v: &Value) -> Tensor {
    Tensor::new(floats(v))
}
