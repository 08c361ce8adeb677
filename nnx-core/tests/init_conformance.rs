//! Conformance of `nnx_core::init` with `jax.nn.initializers` (data from
//! `tools/flax_reference/gen_random.py`).
//!
//! Tolerances: constant and uniform-based initializers are bit-exact;
//! normal-based f32 within 2e-6 relative or 1e-6 absolute (erf⁻¹ differs from
//! XLA's by a few ulp); orthogonal f32 within 1e-5 absolute (different QR
//! arithmetic); f64 within 1e-12 relative or 1e-13 absolute.

use ndarray::ArrayD;
use nnx_core::init::{self, Distribution, FanMode, Init};
use nnx_core::random::{self, Float, PrngKey};
use serde_json::Value;

fn load() -> Value {
    let path = format!("{}/tests/data/random/init.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference data")).expect("json")
}

fn key_of(v: &Value) -> PrngKey {
    let a = v.as_array().unwrap();
    PrngKey::from_data([a[0].as_u64().unwrap() as u32, a[1].as_u64().unwrap() as u32])
}

fn axes(v: &Value) -> Vec<isize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap() as isize)
        .collect()
}

fn build<A: Float>(name: &str, a: &Value) -> Init<A> {
    let f = |k: &str| a[k].as_f64().unwrap();
    match name {
        "zeros" => init::zeros(),
        "ones" => init::ones(),
        "constant" => init::constant(A::from_f64(f("value"))),
        "normal" => init::normal(f("stddev")),
        "uniform" => init::uniform(f("scale")),
        "truncated_normal" => init::truncated_normal(f("stddev"), f("lower"), f("upper")),
        "lecun_normal" => init::lecun_normal(),
        "lecun_uniform" => init::lecun_uniform(),
        "glorot_normal" => init::glorot_normal(),
        "glorot_uniform" => init::glorot_uniform(),
        "he_normal" => init::he_normal(),
        "he_uniform" => init::he_uniform(),
        "orthogonal" => init::orthogonal(f("scale"), a["column_axis"].as_i64().unwrap() as isize),
        "delta_orthogonal" => {
            init::delta_orthogonal(f("scale"), a["column_axis"].as_i64().unwrap() as isize)
        }
        "variance_scaling" => {
            let mode = match a["mode"].as_str().unwrap() {
                "fan_in" => FanMode::FanIn,
                "fan_out" => FanMode::FanOut,
                _ => FanMode::FanAvg,
            };
            let dist = match a["distribution"].as_str().unwrap() {
                "normal" => Distribution::Normal,
                "uniform" => Distribution::Uniform,
                _ => Distribution::TruncatedNormal,
            };
            init::variance_scaling(
                f("scale"),
                mode,
                dist,
                &axes(&a["in_axis"]),
                &axes(&a["out_axis"]),
                &axes(&a["batch_axis"]),
            )
        }
        other => panic!("unknown initializer {other}"),
    }
}

fn exact(name: &str, args: &Value) -> bool {
    matches!(
        name,
        "zeros"
            | "ones"
            | "constant"
            | "uniform"
            | "lecun_uniform"
            | "glorot_uniform"
            | "he_uniform"
    ) || args["distribution"] == "uniform"
}

fn check<A: Float>(
    cases: &Value,
    parse: impl Fn(&str) -> A,
    tol: impl Fn(&str, A, A) -> bool,
) -> usize {
    let mut n = 0;
    for c in cases.as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let shape: Vec<usize> = c["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let got: ArrayD<A> = build::<A>(name, &c["args"])
            .init(key_of(&c["key"]), &shape)
            .unwrap();
        assert_eq!(got.shape(), &shape[..], "{name}");
        let want: Vec<A> = c["out"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| parse(x.as_str().unwrap()))
            .collect();
        for (g, w) in got.iter().zip(&want) {
            let ok = if exact(name, &c["args"]) {
                g == w
            } else {
                tol(name, *g, *w)
            };
            assert!(ok, "{name} {} {shape:?}: got {g:?}, JAX {w:?}", c["args"]);
        }
        n += 1;
    }
    n
}

#[test]
fn float32_initializers_match_jax() {
    let d = load();
    let n = check::<f32>(
        &d["f32"],
        |h| f32::from_bits(u32::from_str_radix(h, 16).unwrap()),
        |name, g, w| {
            let diff = (g - w).abs();
            if name.contains("orthogonal") {
                diff <= 1e-5
            } else {
                diff <= 2e-6 * w.abs() || diff <= 1e-6
            }
        },
    );
    assert!(n > 100);
}

#[test]
fn float64_initializers_match_jax() {
    let d = load();
    let n = check::<f64>(
        &d["f64"],
        |h| f64::from_bits(u64::from_str_radix(h, 16).unwrap()),
        |_, g, w| {
            let diff = (g - w).abs();
            diff <= 1e-12 * w.abs() || diff <= 1e-13
        },
    );
    assert!(n > 100);
}

/// The kernel of `nnx.Linear(2, 3, rngs=nnx.Rngs(0))` in flax 0.12.
#[test]
fn flax_linear_kernel() {
    let key = random::fold_in(random::key(0), 0);
    let w = init::lecun_normal::<f32>().init(key, &[2, 3]).unwrap();
    let want = [
        [0.7567299f32, -0.68570054, -0.5688337],
        [-0.8757605, -0.65994275, 0.44935086],
    ];
    for i in 0..2 {
        for j in 0..3 {
            let (g, e) = (w[[i, j]], want[i][j]);
            assert!((g - e).abs() <= 2e-6 * e.abs(), "[{i},{j}] {g} vs {e}");
        }
    }
}

#[test]
fn invalid_arguments_are_errors() {
    let k = random::key(0);
    assert!(init::lecun_normal::<f32>().init(k, &[3]).is_err());
    assert!(init::orthogonal::<f32>(1.0, -1).init(k, &[3]).is_err());
    assert!(init::orthogonal::<f32>(1.0, 5).init(k, &[3, 3]).is_err());
    assert!(init::delta_orthogonal::<f32>(1.0, -1)
        .init(k, &[3, 3])
        .is_err());
    assert!(init::delta_orthogonal::<f32>(1.0, -1)
        .init(k, &[3, 4, 2])
        .is_err());
    let vs =
        init::variance_scaling::<f32>(1.0, FanMode::FanIn, Distribution::Normal, &[7], &[-1], &[]);
    assert!(vs.init(k, &[2, 3]).is_err());
    assert_eq!(
        init::orthogonal::<f32>(1.0, -1)
            .init(k, &[0, 3])
            .unwrap()
            .len(),
        0
    );
}
