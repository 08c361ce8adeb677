//! What the gradient conformance tests share: reading the JSON reference data
//! of tools/flax_reference, checking one `jax.vjp` case, and checking one rule
//! against finite differences.

// Each test uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};
use nnx_core::prelude::*;
use nnx_core::Result;
use nnx_tensor::{value_and_grad, Tensor};
use serde_json::Value as Json;

/// `tests/data/<name>`, parsed.
pub fn load(name: &str) -> Json {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference data")).expect("json")
}

/// `{"shape": [...], "data": [...]}` with elements read by `elem`.
pub fn array<T>(v: &Json, elem: fn(&Json) -> Option<T>) -> ArrayD<T> {
    let data = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| elem(d).expect("element"))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&usizes(&v["shape"])), data).expect("consistent")
}

pub fn f32s(v: &Json) -> ArrayD<f32> {
    array(v, |d| d.as_f64().map(|x| x as f32))
}

pub fn i64s(v: &Json) -> ArrayD<i64> {
    array(v, Json::as_i64)
}

pub fn bools(v: &Json) -> ArrayD<bool> {
    array(v, Json::as_bool)
}

pub fn axes(v: &Json) -> Vec<isize> {
    v.as_array()
        .expect("axes")
        .iter()
        .map(|a| a.as_i64().expect("axis") as isize)
        .collect()
}

pub fn int(v: &Json) -> isize {
    v.as_i64().expect("int") as isize
}

/// Within 1e-5, relative for values above 1.
pub fn usizes(v: &Json) -> Vec<usize> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|d| d.as_u64().expect("size") as usize)
        .collect()
}

/// Within 1e-5, relative for values above 1.
pub fn assert_close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-5 * w.abs().max(1.0);
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, JAX {w}");
    }
}

/// The named inputs of one case, as Params of a map module.
pub type Inputs = BTreeMap<String, Param<Tensor>>;

/// One `jax.vjp` case (`op`, `params`, `inputs`, `output`, `cotangent`,
/// `grads`): the loss `sum(op(inputs) * cotangent)` makes `value_and_grad`
/// return exactly the vjp. `apply` runs the op on the inputs.
pub fn check_vjp_case(
    n: usize,
    case: &Json,
    apply: impl Fn(&str, &Json, &Inputs) -> Result<Tensor>,
) {
    let op = case["op"].as_str().expect("op");
    let what = format!("case {n} ({op} {})", case["params"]);
    let mut inputs: Inputs = case["inputs"]
        .as_object()
        .expect("inputs")
        .iter()
        .map(|(k, v)| (k.clone(), Param::new(Tensor::from(f32s(v)))))
        .collect();
    let ct = Tensor::from(f32s(&case["cotangent"]));
    let mut out = None;
    let (_, grads) = value_and_grad(&mut inputs, Param, |m| {
        let y = apply(op, &case["params"], m)?;
        out = Some(y.stop_gradient());
        Ok((&y * &ct)?.sum())
    })
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_close(
        &format!("{what} output"),
        out.expect("ran").array(),
        &f32s(&case["output"]),
    );
    for (name, want) in case["grads"].as_object().expect("grads") {
        let leaf = grads
            .leaf(&[Key::from(name.clone())])
            .expect("gradient path");
        let got = leaf
            .value
            .as_any()
            .downcast_ref::<Tensor>()
            .expect("a Tensor gradient");
        assert_close(&format!("{what} d{name}"), got.array(), &f32s(want));
    }
}

/// Gradients by input name.
pub type Grads = BTreeMap<String, ArrayD<f32>>;

/// The outputs of `f` on `inputs` and the vjp of `cotangents` (one per
/// output): `value_and_grad` of `sum_i sum(f(inputs)_i * cotangents_i)`,
/// returned by input name.
pub fn vjp(
    inputs: &Json,
    cotangents: &[ArrayD<f32>],
    f: impl Fn(&Inputs) -> Result<Vec<Tensor>>,
) -> Result<(Vec<ArrayD<f32>>, Grads)> {
    let mut params: Inputs = inputs
        .as_object()
        .expect("inputs")
        .iter()
        .map(|(k, v)| (k.clone(), Param::new(Tensor::from(f32s(v)))))
        .collect();
    let mut outs = Vec::new();
    let (_, grads) = value_and_grad(&mut params, Param, |m| {
        let ys = f(m)?;
        outs = ys.iter().map(|y| y.to_array()).collect();
        let mut loss = Tensor::scalar(0.0);
        for (y, c) in ys.iter().zip(cotangents) {
            loss = (loss + (y * &Tensor::from(c.clone()))?.sum())?;
        }
        Ok(loss)
    })?;
    let grads = grads
        .flat_state()
        .iter()
        .map(|(path, leaf)| {
            let g = leaf
                .value
                .as_any()
                .downcast_ref::<Tensor>()
                .expect("a Tensor gradient");
            (nnx_core::path_string(path), g.to_array())
        })
        .collect();
    Ok((outs, grads))
}

/// A small deterministic generator (splitmix64), uniform in [-1, 1).
pub struct Gen(pub u64);

impl Gen {
    pub fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// Values in ±[0.1, 2): away from 0, where relu and abs have kinks.
    pub fn away_from_zero(&mut self, shape: &[usize]) -> ArrayD<f32> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || {
            let v = self.next();
            v.signum() * (0.1 + 1.9 * v.abs())
        })
    }

    pub fn positive(&mut self, shape: &[usize]) -> ArrayD<f32> {
        self.away_from_zero(shape).mapv(f32::abs)
    }

    /// Distinct values 0.1 apart in shuffled order: every window's maximum and
    /// minimum stay where they are within ±h, so max and min are smooth there.
    pub fn spaced(&mut self, shape: &[usize]) -> ArrayD<f32> {
        let n: usize = shape.iter().product();
        let mut keyed: Vec<(f32, usize)> = (0..n).map(|i| (self.next(), i)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut v = vec![0.0; n];
        for (rank, &(_, i)) in keyed.iter().enumerate() {
            v[i] = rank as f32 * 0.1 - n as f32 * 0.05;
        }
        ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape")
    }
}

/// An op of some tensors, as the finite-difference checks take it.
pub type Op = Box<dyn Fn(&[&Tensor]) -> Result<Tensor>>;

/// `sum(f(x) * c)` in f64, on constants (no tape).
fn loss(op: &Op, inputs: &[ArrayD<f32>], c: &ArrayD<f32>) -> f64 {
    let ts: Vec<Tensor> = inputs.iter().cloned().map(Tensor::from).collect();
    let refs: Vec<&Tensor> = ts.iter().collect();
    let y = op(&refs).expect("op runs");
    y.array()
        .iter()
        .zip(c.iter())
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

/// Checks the rule of `op` at `inputs` against central finite differences, for
/// a cotangent drawn from `cot` (see finite_diff.rs for the tolerance).
pub fn check_finite_differences(name: &str, inputs: &[ArrayD<f32>], op: &Op, cot: &mut Gen) {
    let refs: Vec<Tensor> = inputs.iter().cloned().map(Tensor::from).collect();
    let out_shape = op(&refs.iter().collect::<Vec<_>>())
        .expect("op runs")
        .shape()
        .to_vec();
    let c = cot.away_from_zero(&out_shape);
    let ct = Tensor::from(c.clone());
    let mut params: BTreeMap<String, Param<Tensor>> = refs
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("x{i}"), Param::new(t.clone())))
        .collect();
    let (_, grads) = value_and_grad(&mut params, Param, |m| {
        let xs: Vec<&Tensor> = m.values().map(|p| &**p).collect();
        Ok((&op(&xs)? * &ct)?.sum())
    })
    .expect("value_and_grad");
    for (i, x) in inputs.iter().enumerate() {
        let leaf = grads.leaf(&[Key::from(format!("x{i}"))]).expect("gradient");
        let got = leaf
            .value
            .as_any()
            .downcast_ref::<Tensor>()
            .expect("tensor")
            .to_array();
        for (k, &g) in got.iter().enumerate() {
            let diff = |h: f32| {
                let mut plus = inputs.to_vec();
                let mut minus = inputs.to_vec();
                plus[i].as_slice_mut().expect("standard")[k] =
                    x.as_slice().expect("standard")[k] + h;
                minus[i].as_slice_mut().expect("standard")[k] =
                    x.as_slice().expect("standard")[k] - h;
                (loss(op, &plus, &c) - loss(op, &minus, &c)) / (2.0 * f64::from(h))
            };
            let want = (4.0 * diff(5e-3) - diff(1e-2)) / 3.0;
            let tol = 5e-3 * want.abs().max(1.0);
            assert!(
                (f64::from(g) - want).abs() <= tol,
                "{name} d x{i}[{k}]: rule {g}, finite differences {want}"
            );
        }
    }
}
