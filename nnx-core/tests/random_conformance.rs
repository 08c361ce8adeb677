//! Conformance of `nnx_core::random` with real JAX (data from
//! `tools/flax_reference/gen_random.py`).
//!
//! Exact: keys, split, fold_in, bits, uniform, bernoulli, randint,
//! permutation, categorical, normal and gumbel f32, and every f64 sampler
//! (normal, truncated_normal, gumbel): nnx evaluates erf⁻¹, log1p and the f32
//! log as XLA's CPU backend does, and f64 erf and log are the C library's, as
//! XLA calls them. Tolerance (XLA's f32 erf is not reproduced): truncated_normal
//! f32 within 2e-6 relative (or 1e-6 absolute).

use ndarray::ArrayD;
use nnx_core::random::{self, PrngKey};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/random/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("reference data");
    serde_json::from_str(&text).expect("valid json")
}

fn key_of(v: &Value) -> PrngKey {
    let a = v.as_array().expect("key");
    PrngKey::from_data([a[0].as_u64().unwrap() as u32, a[1].as_u64().unwrap() as u32])
}

fn shape_of(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            x.as_u64()
                .unwrap_or_else(|| x.as_str().unwrap().parse().unwrap())
        })
        .collect()
}

fn i64s(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn f32s(v: &Value) -> Vec<f32> {
    let a = v.as_array().unwrap();
    a.iter()
        .map(|x| f32::from_bits(u32::from_str_radix(x.as_str().unwrap(), 16).unwrap()))
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    let a = v.as_array().unwrap();
    a.iter()
        .map(|x| f64::from_bits(u64::from_str_radix(x.as_str().unwrap(), 16).unwrap()))
        .collect()
}

fn flat<T: Clone>(a: &ArrayD<T>) -> Vec<T> {
    a.iter().cloned().collect()
}

fn ulps32(a: f32, b: f32) -> u32 {
    let o = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 {
            i32::MIN - i
        } else {
            i
        }
    };
    (i64::from(o(a)) - i64::from(o(b))).unsigned_abs() as u32
}

#[test]
fn reference_is_partitionable() {
    assert_eq!(load("random_x32.json")["partitionable"], Value::Bool(true));
}

#[test]
fn seeds_x32_and_x64() {
    let d = load("random_x32.json");
    for c in d["seeds"].as_array().unwrap() {
        assert_eq!(
            random::key(c["seed"].as_i64().unwrap()),
            key_of(&c["key"]),
            "{c}"
        );
    }
    let d = load("random_x64.json");
    for c in d["seeds"].as_array().unwrap() {
        assert_eq!(
            random::key_x64(c["seed"].as_i64().unwrap()),
            key_of(&c["key"]),
            "{c}"
        );
    }
}

#[test]
fn fold_in_split_chains() {
    let d = load("random_x32.json");
    for c in d["fold_in"].as_array().unwrap() {
        let got = random::fold_in(key_of(&c["key"]), c["data"].as_u64().unwrap() as u32);
        assert_eq!(got, key_of(&c["out"]), "{c}");
    }
    for c in d["split"].as_array().unwrap() {
        let got = random::split(key_of(&c["key"]), c["n"].as_u64().unwrap() as usize);
        let want: Vec<PrngKey> = c["out"].as_array().unwrap().iter().map(key_of).collect();
        assert_eq!(got, want, "{c}");
    }
    for c in d["chains"].as_array().unwrap() {
        let k = random::key(c["seed"].as_i64().unwrap());
        let k = random::split2(k).1;
        let k = random::fold_in(k, 3);
        let k = random::split(k, 4)[3];
        assert_eq!(k, key_of(&c["out"]));
    }
}

#[test]
fn bits_all_widths() {
    for file in ["random_x32.json", "random_x64.json"] {
        let d = load(file);
        for c in d["bits"].as_array().unwrap() {
            let (k, s) = (key_of(&c["key"]), shape_of(&c["shape"]));
            let want = u64s(&c["out"]);
            let got: Vec<u64> = match c["width"].as_u64().unwrap() {
                8 => flat(&random::bits_u8(k, &s).unwrap())
                    .into_iter()
                    .map(u64::from)
                    .collect(),
                16 => flat(&random::bits_u16(k, &s).unwrap())
                    .into_iter()
                    .map(u64::from)
                    .collect(),
                32 => flat(&random::bits_u32(k, &s).unwrap())
                    .into_iter()
                    .map(u64::from)
                    .collect(),
                _ => flat(&random::bits_u64(k, &s).unwrap()),
            };
            assert_eq!(got, want, "{c}");
            assert_eq!(random::bits_u8(k, &s).unwrap().shape(), &s[..]);
        }
    }
}

/// Checks one float section (`f32` or `f64`) against JAX.
macro_rules! float_section {
    ($sec:expr, $t:ty, $parse:ident, $close:expr) => {{
        let sec = &$sec;
        let close = $close;
        for c in sec["uniform"].as_array().unwrap() {
            let (k, s) = (key_of(&c["key"]), shape_of(&c["shape"]));
            let lo = c["minval"].as_f64().unwrap() as $t;
            let hi = c["maxval"].as_f64().unwrap() as $t;
            let got = random::uniform::<$t>(k, &s, lo, hi).unwrap();
            let want = $parse(&c["out"]);
            let gb: Vec<_> = got.iter().map(|x| x.to_bits()).collect();
            let wb: Vec<_> = want.iter().map(|x| x.to_bits()).collect();
            assert_eq!(gb, wb, "uniform {c}");
        }
        for c in sec["bernoulli"].as_array().unwrap() {
            let (k, s) = (key_of(&c["key"]), shape_of(&c["shape"]));
            let p = c["p"].as_f64().unwrap() as $t;
            let got: Vec<i64> = random::bernoulli(k, p, &s)
                .unwrap()
                .iter()
                .map(|&b| i64::from(b))
                .collect();
            assert_eq!(got, i64s(&c["out"]), "bernoulli {c}");
        }
        let mut worst = 0.0f64;
        for c in sec["normal"].as_array().unwrap() {
            let (k, s) = (key_of(&c["key"]), shape_of(&c["shape"]));
            let got = random::normal::<$t>(k, &s).unwrap();
            assert_eq!(got.shape(), &s[..]);
            for (g, w) in got.iter().zip($parse(&c["out"])) {
                worst = worst.max(close("normal", *g, w));
            }
        }
        for c in sec["truncated_normal"].as_array().unwrap() {
            let (k, s) = (key_of(&c["key"]), shape_of(&c["shape"]));
            let lo = c["lower"].as_f64().unwrap() as $t;
            let hi = c["upper"].as_f64().unwrap() as $t;
            let got = random::truncated_normal::<$t>(k, lo, hi, &s).unwrap();
            for (g, w) in got.iter().zip($parse(&c["out"])) {
                assert!(lo < *g && *g < hi);
                worst = worst.max(close("truncated_normal", *g, w));
            }
        }
        for c in sec["gumbel"].as_array().unwrap() {
            let (k, s) = (key_of(&c["key"]), shape_of(&c["shape"]));
            let got = random::gumbel::<$t>(k, &s).unwrap();
            for (g, w) in got.iter().zip($parse(&c["out"])) {
                worst = worst.max(close("gumbel", *g, w));
            }
        }
        worst
    }};
}

#[test]
fn float32_samplers() {
    let d = load("random_x32.json");
    let worst = float_section!(d["f32"], f32, f32s, |what: &str, g: f32, w: f32| {
        let u = ulps32(g, w);
        let rel = f64::from((g - w).abs()) / f64::from(w.abs()).max(1e-30);
        let ok = match what {
            "truncated_normal" => rel <= 2e-6 || (g - w).abs() <= 1e-6,
            _ => u == 0,
        };
        assert!(ok, "{what}: got {g:e}, JAX {w:e} ({u} ulp)");
        f64::from(u)
    });
    eprintln!("f32: worst difference {worst} ulp");
}

#[test]
fn float64_samplers() {
    let d = load("random_x64.json");
    // Bit-identical: XLA's f64 erf⁻¹ and log1p are reproduced exactly.
    float_section!(d["f64"], f64, f64s, |what: &str, g: f64, w: f64| {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: got {g:e}, JAX {w:e}");
        0.0
    });
}

#[test]
fn randint_i32_i64() {
    let d = load("random_x32.json");
    for c in d["randint"].as_array().unwrap() {
        let (k, s) = (key_of(&c["key"]), shape_of(&c["shape"]));
        let (lo, hi) = (
            c["minval"].as_i64().unwrap() as i32,
            c["maxval"].as_i64().unwrap(),
        );
        // JAX clips maxval to the dtype range, which cannot express 2**31.
        let hi = hi.min(i64::from(i32::MAX)) as i32;
        let got: Vec<i64> = random::randint(k, &s, lo, hi)
            .unwrap()
            .iter()
            .map(|&x| i64::from(x))
            .collect();
        assert_eq!(got, i64s(&c["out"]), "{c}");
    }
    let d = load("random_x64.json");
    for c in d["randint"].as_array().unwrap() {
        let (k, s) = (key_of(&c["key"]), shape_of(&c["shape"]));
        let (lo, hi) = (c["minval"].as_i64().unwrap(), c["maxval"].as_i64().unwrap());
        let got = flat(&random::randint(k, &s, lo, hi).unwrap());
        assert_eq!(got, i64s(&c["out"]), "{c}");
    }
}

#[test]
fn permutation_and_categorical() {
    let d = load("random_x32.json");
    for c in d["permutation"].as_array().unwrap() {
        let got: Vec<i64> =
            random::permutation(key_of(&c["key"]), c["n"].as_u64().unwrap() as usize)
                .into_iter()
                .map(|x| x as i64)
                .collect();
        assert_eq!(got, i64s(&c["out"]), "n={}", c["n"]);
    }
    for c in d["categorical"].as_array().unwrap() {
        let logits =
            ArrayD::from_shape_vec(shape_of(&c["logits_shape"]), f32s(&c["logits"])).unwrap();
        let got = random::categorical(
            key_of(&c["key"]),
            logits.view(),
            c["axis"].as_i64().unwrap() as isize,
        )
        .unwrap();
        let got: Vec<i64> = got.iter().map(|&x| x as i64).collect();
        assert_eq!(got, i64s(&c["out"]), "{c}");
    }
}
