//! A checkpoint of Flax's `nnx.Sequential(Linear, relu, LayerNorm, Linear)`
//! (`tools/flax_reference/gen_sequential.py`) loads into `Sequential<Layer>`:
//! Flax's paths (the activation takes index 1 and holds no state), the same
//! parameters from the same seed, and Flax's output.

// For its State comparison.
#[path = "../examples/support/digits.rs"]
mod digits;

use std::path::{Path, PathBuf};

use ndarray::Array2;
use nnx::nn::{Activation, Layer, LayerNorm, Linear, Sequential};
use nnx::prelude::*;
use nnx::rngs::Rngs;

fn data_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sequential")
        .join(name)
}

fn model(seed: i64) -> Sequential<Layer> {
    let mut rngs = Rngs::new(seed);
    Sequential::new(vec![
        Linear::new(3, 4, &mut rngs).unwrap().into(),
        Activation::Relu.into(),
        LayerNorm::new(4, &mut rngs).unwrap().into(),
        Linear::new(4, 2, &mut rngs).unwrap().into(),
    ])
}

fn record() -> serde_json::Value {
    let text = std::fs::read_to_string(data_file("forward.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn matrix(v: &serde_json::Value) -> Array2<f32> {
    let rows: Vec<Vec<f32>> = serde_json::from_value(v.clone()).unwrap();
    let cols = rows[0].len();
    Array2::from_shape_vec((rows.len(), cols), rows.concat()).unwrap()
}

#[test]
fn paths_are_flax_paths() {
    let flax = nnx::checkpoint::load_state(data_file("model.safetensors")).unwrap();
    let paths = |s: &State| -> Vec<String> {
        s.flat_state()
            .iter()
            .map(|(p, _)| nnx::path_string(p))
            .collect()
    };
    let expected: Vec<String> = serde_json::from_value(record()["paths"].clone()).unwrap();
    assert_eq!(paths(&flax), expected);
    assert_eq!(paths(&model(0).state()), expected);
    assert_eq!(expected[0], "layers/0/bias");
}

#[test]
fn same_seed_gives_flax_parameters() {
    let flax = nnx::checkpoint::load_state(data_file("model.safetensors")).unwrap();
    let diff = digits::max_state_difference(&model(0).state(), &flax).unwrap();
    assert!(diff <= 1e-6, "parameters differ from Flax's by {diff}");
}

#[test]
fn flax_checkpoint_loads_and_gives_flax_output() {
    // Another seed, so that the loaded values are what makes the output match.
    let mut m = model(1);
    let report = nnx::checkpoint::load_into(&mut m, data_file("model.safetensors")).unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.loaded.len(), 6);
    let rec = record();
    let y = m
        .forward(&matrix(&rec["input"]).into())
        .unwrap()
        .into_array();
    let expected = matrix(&rec["output"]).into_dyn();
    assert_eq!(y.shape(), expected.shape());
    let diff = (&y - &expected).mapv(f32::abs).fold(0f32, |a, &b| a.max(b));
    assert!(
        diff <= 1e-5,
        "output differs from Flax's by {diff}: {y} vs {expected}"
    );
    // The Flax way: load a State, update the model.
    let mut m = model(2);
    m.update(nnx::checkpoint::load_state(data_file("model.safetensors")).unwrap())
        .unwrap();
    assert_eq!(
        m.forward(&matrix(&rec["input"]).into())
            .unwrap()
            .into_array(),
        y
    );
}
