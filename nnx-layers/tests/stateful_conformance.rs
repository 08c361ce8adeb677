//! Conformance of the stateful layers (normalization, dropout, attention)
//! against Flax NNX 0.12.8 (data: tools/flax_reference/gen_layers_stateful.py,
//! and gen_call_overrides.py for the call-time arguments).

use ndarray::{ArrayD, IxDyn};
use nnx_core::prelude::*;
use nnx_core::random::PrngKey;
use nnx_core::rngs::Rngs;
use nnx_core::Result;
use nnx_layers::*;
use nnx_tensor::Tensor;
use serde_json::Value as Json;

mod common;
use common::{assert_close, bools, f32s, param_init};

fn data() -> Json {
    let text = include_str!("data/layers/stateful.json");
    serde_json::from_str(text).expect("valid reference JSON")
}

/// The call-time arguments' data (same layout).
fn call_data() -> Json {
    let text = include_str!("data/layers/call_overrides.json");
    serde_json::from_str(text).expect("valid reference JSON")
}

fn axes(v: &Json) -> Vec<isize> {
    match v {
        Json::Array(a) => a.iter().map(|x| x.as_i64().unwrap() as isize).collect(),
        x => vec![x.as_i64().unwrap() as isize],
    }
}

fn rngs_of(case: &Json) -> Rngs {
    if let Some(streams) = case.get("streams") {
        let pairs: Vec<(String, i64)> = streams
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
            .collect();
        Rngs::from_streams(pairs)
    } else {
        Rngs::new(case["seed"].as_i64().unwrap())
    }
}

fn path_str(path: &[nnx_core::Key]) -> String {
    path.iter()
        .map(|k| match k.as_str() {
            Some(s) => s.to_string(),
            None => k.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every Variable's path, type, shape and value equals Flax's.
fn check_state(what: &str, state: &State, want: &Json) {
    let want = want.as_object().unwrap();
    let flat = state.clone().into_flat();
    let got_paths: Vec<String> = flat.iter().map(|(p, _)| path_str(p)).collect();
    let mut want_paths: Vec<String> = want.keys().cloned().collect();
    want_paths.sort();
    let mut sorted = got_paths.clone();
    sorted.sort();
    assert_eq!(sorted, want_paths, "{what}: paths");
    for (path, leaf) in &flat {
        let p = path_str(path);
        let w = &want[&p];
        assert_eq!(
            leaf.kind.name(),
            w["type"].as_str().unwrap(),
            "{what}: {p} type"
        );
        match w["type"].as_str().unwrap() {
            "RngKey" => {
                let k = leaf
                    .value
                    .as_any()
                    .downcast_ref::<PrngKey>()
                    .expect("a Key");
                let d: Vec<u32> = w["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect();
                assert_eq!(k.data().to_vec(), d, "{what}: {p} key");
            }
            "RngCount" => {
                let c = leaf.value.as_any().downcast_ref::<u32>().expect("a u32");
                assert_eq!(*c as u64, w["data"].as_u64().unwrap(), "{what}: {p} count");
            }
            _ if p == "cache_index" => {
                let c = leaf.value.as_any().downcast_ref::<i32>().expect("an i32");
                assert_eq!(*c as i64, w["data"][0].as_i64().unwrap(), "{what}: {p}");
                assert_eq!(nnx_core::value::shape(&*leaf.value).0, Vec::<usize>::new());
            }
            _ => {
                let got = match leaf.value.array_ref() {
                    Some(nnx_core::value::ArrayRef::F32(a)) => a.to_owned(),
                    _ => panic!("{what}: {p} is not f32"),
                };
                assert_close(&format!("{what}: {p}"), &got, &f32s(w), 1e-5, 1e-6);
            }
        }
    }
}

fn desc(case: &Json) -> String {
    format!(
        "{} seed={} {}",
        case["layer"],
        case.get("seed").unwrap_or(&Json::Null),
        case["config"]
    )
}

fn cases(layer: &str) -> Vec<Json> {
    cases_in(&data(), layer)
}

fn cases_in(data: &Json, layer: &str) -> Vec<Json> {
    data["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["layer"] == layer)
        .cloned()
        .collect()
}

fn build_batchnorm(case: &Json) -> Result<BatchNorm> {
    let c = &case["config"];
    let mut b = BatchNorm::config(c["num_features"].as_u64().unwrap() as usize);
    if let Some(v) = c.get("axis") {
        b = b.axis(v.as_i64().unwrap() as isize);
    }
    if let Some(v) = c.get("momentum") {
        b = b.momentum(v.as_f64().unwrap());
    }
    if let Some(v) = c.get("use_running_average") {
        b = b.use_running_average(v.as_bool().unwrap());
    }
    if let Some(v) = c.get("epsilon") {
        b = b.epsilon(v.as_f64().unwrap() as f32);
    }
    if let Some(v) = c.get("use_bias") {
        b = b.use_bias(v.as_bool().unwrap());
    }
    if let Some(v) = c.get("use_scale") {
        b = b.use_scale(v.as_bool().unwrap());
    }
    if let Some(v) = c.get("use_fast_variance") {
        b = b.use_fast_variance(v.as_bool().unwrap());
    }
    if let Some(v) = c.get("scale_init") {
        b = b.scale_init(param_init(v.as_str().unwrap()));
    }
    if let Some(v) = c.get("bias_init") {
        b = b.bias_init(param_init(v.as_str().unwrap()));
    }
    b.build(&mut rngs_of(case))
}

#[test]
fn batchnorm_params_train_stats_and_eval_match_flax() -> Result<()> {
    let cs = cases("BatchNorm");
    assert_eq!(cs.len(), 8);
    for case in cs {
        let d = desc(&case);
        let mut bn = build_batchnorm(&case)?;
        check_state(&d, &bn.state(), &case["state"]);
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            if step["mode"] == "train" {
                bn.train()?;
            } else {
                bn.eval()?;
            }
            let y = bn.forward(&f32s(&step["x"]).into())?;
            assert_close(
                &format!("{d} step {i} y"),
                y.array(),
                &f32s(&step["y"]),
                1e-4,
                1e-5,
            );
            check_state(
                &format!("{d} step {i}"),
                &bn.state_of(BatchStat),
                &step["state"],
            );
        }
    }
    Ok(())
}

/// A normalization layer as both `Forward` and `Module` (for `state()`), with
/// its call-time arguments, behind one box.
trait Layer: Forward {
    fn layer_state(&self) -> State;
    fn forward_with(&mut self, x: &Tensor, args: NormArgs<'_>) -> Result<Tensor>;
    fn apply_with(&self, x: &Tensor, args: NormArgs<'_>) -> Result<Tensor>;
}

macro_rules! norm_layer {
    ($($t:ty),*) => {$(
        impl Layer for $t {
            fn layer_state(&self) -> State {
                self.state()
            }
            fn forward_with(&mut self, x: &Tensor, args: NormArgs<'_>) -> Result<Tensor> {
                <$t>::forward_with(self, x, args)
            }
            fn apply_with(&self, x: &Tensor, args: NormArgs<'_>) -> Result<Tensor> {
                <$t>::apply_with(self, x, args)
            }
        }
    )*};
}
norm_layer!(LayerNorm, RMSNorm, GroupNorm, InstanceNorm);

fn build_norm(case: &Json) -> Result<Box<dyn Layer>> {
    let c = &case["config"];
    let n = c["num_features"].as_u64().unwrap() as usize;
    let mut rngs = rngs_of(case);
    let f32_of = |k: &str| c.get(k).map(|v| v.as_f64().unwrap() as f32);
    let bool_of = |k: &str| c.get(k).map(|v| v.as_bool().unwrap());
    let init_of = |k: &str| c.get(k).map(|v| param_init(v.as_str().unwrap()));
    Ok(match case["layer"].as_str().unwrap() {
        "LayerNorm" => {
            let mut b = LayerNorm::config(n);
            if let Some(v) = f32_of("epsilon") {
                b = b.epsilon(v);
            }
            if let Some(v) = bool_of("use_bias") {
                b = b.use_bias(v);
            }
            if let Some(v) = bool_of("use_fast_variance") {
                b = b.use_fast_variance(v);
            }
            if let Some(v) = init_of("scale_init") {
                b = b.scale_init(v);
            }
            if let Some(v) = init_of("bias_init") {
                b = b.bias_init(v);
            }
            if let Some(v) = c.get("reduction_axes") {
                b = b.reduction_axes(&axes(v));
            }
            if let Some(v) = c.get("feature_axes") {
                b = b.feature_axes(&axes(v));
            }
            Box::new(b.build(&mut rngs)?)
        }
        "RMSNorm" => {
            let mut b = RMSNorm::config(n);
            if let Some(v) = f32_of("epsilon") {
                b = b.epsilon(v);
            }
            if let Some(v) = bool_of("use_scale") {
                b = b.use_scale(v);
            }
            if let Some(v) = init_of("scale_init") {
                b = b.scale_init(v);
            }
            if let Some(v) = c.get("reduction_axes") {
                b = b.reduction_axes(&axes(v));
            }
            Box::new(b.build(&mut rngs)?)
        }
        "GroupNorm" => {
            let mut b = GroupNorm::config(n);
            if let Some(v) = c.get("num_groups") {
                b = b.num_groups(v.as_u64().map(|g| g as usize));
            }
            if let Some(v) = c.get("group_size") {
                b = b.group_size(v.as_u64().map(|g| g as usize));
            }
            if let Some(v) = f32_of("epsilon") {
                b = b.epsilon(v);
            }
            if let Some(v) = bool_of("use_bias") {
                b = b.use_bias(v);
            }
            if let Some(v) = init_of("scale_init") {
                b = b.scale_init(v);
            }
            if let Some(v) = init_of("bias_init") {
                b = b.bias_init(v);
            }
            if let Some(v) = bool_of("use_fast_variance") {
                b = b.use_fast_variance(v);
            }
            if let Some(v) = c.get("reduction_axes") {
                b = b.reduction_axes(&axes(v));
            }
            Box::new(b.build(&mut rngs)?)
        }
        "InstanceNorm" => {
            let mut b = InstanceNorm::config(n);
            if let Some(v) = bool_of("use_bias") {
                b = b.use_bias(v);
            }
            if let Some(v) = bool_of("use_scale") {
                b = b.use_scale(v);
            }
            if let Some(v) = init_of("scale_init") {
                b = b.scale_init(v);
            }
            if let Some(v) = init_of("bias_init") {
                b = b.bias_init(v);
            }
            if let Some(v) = c.get("feature_axes") {
                b = b.feature_axes(&axes(v));
            }
            Box::new(b.build(&mut rngs)?)
        }
        other => panic!("unknown layer {other}"),
    })
}

#[test]
fn layer_rms_group_instance_norm_match_flax() -> Result<()> {
    let mut n = 0;
    for layer in ["LayerNorm", "RMSNorm", "GroupNorm", "InstanceNorm"] {
        for case in cases(layer) {
            let d = desc(&case);
            let mut m = build_norm(&case)?;
            check_state(&d, &m.layer_state(), &case["state"]);
            let step = &case["steps"][0];
            let x = f32s(&step["x"]);
            let y = m.forward(&x.into())?.into_array();
            assert_close(&format!("{d} y"), &y, &f32s(&step["y"]), 1e-4, 1e-5);
            n += 1;
        }
    }
    assert_eq!(n, 28);
    Ok(())
}

fn build_dropout(case: &Json) -> Result<Dropout> {
    let c = &case["config"];
    let mut b = Dropout::config(c["rate"].as_f64().unwrap());
    if let Some(v) = c.get("broadcast_dims") {
        b = b.broadcast_dims(&axes(v));
    }
    if let Some(v) = c.get("deterministic") {
        b = b.deterministic(v.as_bool().unwrap());
    }
    if let Some(v) = c.get("rng_collection") {
        b = b.rng_collection(v.as_str().unwrap());
    }
    // Flax's `rngs=None`: a layer without a stream.
    if case.get("streams") == Some(&Json::Null) {
        return b.build_without_rngs();
    }
    b.build(&mut rngs_of(case))
}

#[test]
fn dropout_masks_and_streams_match_flax() -> Result<()> {
    let cs = cases("Dropout");
    assert_eq!(cs.len(), 8);
    for case in cs {
        let d = desc(&case);
        let mut m = build_dropout(&case)?;
        check_state(&d, &m.state(), &case["state"]);
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            if step["mode"] == "eval" {
                m.eval()?;
            }
            let y = m.forward(&f32s(&step["x"]).into())?;
            assert_close(
                &format!("{d} step {i}"),
                y.array(),
                &f32s(&step["y"]),
                1e-6,
                0.0,
            );
            check_state(&format!("{d} step {i}"), &m.state(), &step["state"]);
        }
    }
    Ok(())
}

fn build_mha(case: &Json) -> Result<MultiHeadAttention> {
    common::build_mha(&case["config"], &mut rngs_of(case))
}

#[test]
fn multi_head_attention_params_and_outputs_match_flax() -> Result<()> {
    let cs = cases("MultiHeadAttention");
    assert_eq!(cs.len(), 18);
    for case in cs {
        let d = desc(&case);
        let mut m = build_mha(&case)?;
        check_state(&d, &m.state(), &case["state"]);
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let xq = Tensor::new(f32s(&step["x"]));
            let xk = step.get("xk").map(|x| Tensor::new(f32s(x)));
            let mask = step.get("mask").map(bools);
            let args = AttentionArgs {
                inputs_k: xk.as_ref(),
                mask: mask.as_ref(),
                ..Default::default()
            };
            let y = m.forward_with(&xq, args)?.into_array();
            // normalize_qk: LayerNorm over head_dim=2 with one-pass variance cancels
            // catastrophically in XLA's f32; our f64 sums differ by ~1e-3 relative.
            let rtol = if case["config"].get("normalize_qk").is_some() {
                2e-3
            } else {
                1e-4
            };
            assert_close(&format!("{d} step {i}"), &y, &f32s(&step["y"]), rtol, 1e-5);
        }
    }
    Ok(())
}

#[test]
fn multi_head_attention_decode_matches_flax_and_full_causal_pass() -> Result<()> {
    let cs = cases("MultiHeadAttentionDecode");
    assert_eq!(cs.len(), 6);
    for case in cs {
        let d = desc(&case);
        let mut m = build_mha(&case)?;
        let x = f32s(&case["x"]);
        let nd = x.ndim();
        // The full causal pass, without the cache.
        m.decode = false;
        let tokens = ArrayD::<f32>::ones(IxDyn(&x.shape()[..nd - 1]));
        let causal = nnx_layers::make_causal_mask(&tokens, 0)?;
        let full = m
            .forward_with(
                &Tensor::new(x.clone()),
                AttentionArgs {
                    mask: Some(&causal),
                    ..Default::default()
                },
            )?
            .into_array();
        assert_close(
            &format!("{d} full"),
            &full,
            &f32s(&case["full_causal"]),
            1e-4,
            1e-5,
        );
        m.decode = true;
        assert!(
            m.forward(&Tensor::new(x.clone())).is_err(),
            "{d}: decode before init_cache"
        );
        m.init_cache(x.shape())?;
        check_state(&d, &m.state(), &case["state"]);
        let len = x.shape()[nd - 2];
        for t in 0..len {
            let xt = x
                .slice_axis(ndarray::Axis(nd - 2), (t..t + 1).into())
                .to_owned();
            let y = m.forward(&Tensor::new(xt))?.into_array();
            let step = &case["steps"][t];
            assert_close(&format!("{d} step {t}"), &y, &f32s(&step["y"]), 1e-4, 1e-5);
            let from_full = full
                .slice_axis(ndarray::Axis(nd - 2), (t..t + 1).into())
                .to_owned();
            assert_close(&format!("{d} step {t} vs full"), &y, &from_full, 1e-4, 1e-5);
            check_state(&format!("{d} step {t}"), &m.state_of(Cache), &step["state"]);
        }
        // Full cache, and a step of the wrong length, are errors.
        let xt = Tensor::new(
            x.slice_axis(ndarray::Axis(nd - 2), (0..1).into())
                .to_owned(),
        );
        assert!(m.forward(&xt).is_err(), "{d}: full cache");
        m.init_cache(x.shape())?;
        assert!(
            m.forward(&Tensor::new(x.clone())).is_err() || len == 1,
            "{d}: step length"
        );
        // pop(Cache) removes the cache.
        let (popped,) = m.pop((Cache,))?;
        assert_eq!(popped.len(), 3);
        assert!(m.forward(&xt).is_err());
    }
    Ok(())
}

#[test]
fn documented_seeds_print_as_flax() -> Result<()> {
    let reprs = &data()["reprs"];
    let bn = BatchNorm::new(3, &mut Rngs::new(0))?;
    assert_eq!(
        bn.state().map(nnx_core::value::shape).to_string(),
        reprs["batchnorm_shapes"].as_str().unwrap()
    );
    let mut m = MultiHeadAttention::config(2, 3)
        .qkv_features(6)
        .out_features(6)
        .decode(true)
        .build(&mut Rngs::new(0))?;
    m.init_cache(&[1, 3])?;
    assert_eq!(
        m.state_of(Cache).map(nnx_core::value::shape).to_string(),
        reprs["mha_cache_shapes"].as_str().unwrap()
    );
    Ok(())
}

#[test]
fn error_cases() -> Result<()> {
    let mut rngs = Rngs::new(0);
    let mut bn = BatchNorm::new(3, &mut rngs)?;
    assert!(bn.forward(&Tensor::zeros(&[2, 4])).is_err());
    assert!(BatchNorm::config(3)
        .axis(5)
        .build(&mut rngs)?
        .forward(&Tensor::zeros(&[2, 3]))
        .is_err());
    assert!(LayerNorm::new(3, &mut rngs)?
        .forward(&Tensor::zeros(&[2, 4]))
        .is_err());
    assert!(GroupNorm::config(6)
        .num_groups(Some(4))
        .build(&mut rngs)
        .is_err());
    assert!(GroupNorm::config(6)
        .num_groups(None)
        .build(&mut rngs)
        .is_err());
    assert!(GroupNorm::new(4, 2, &mut rngs)?
        .forward(&Tensor::zeros(&[4]))
        .is_err());
    assert!(Dropout::config(0.5)
        .broadcast_dims(&[3])
        .build(&mut rngs)?
        .forward(&Tensor::zeros(&[2]))
        .is_err());
    // Rejected when built (issue 11), no longer only on the first forward.
    assert!(Dropout::config(1.5).build(&mut rngs).is_err());
    let mut m = MultiHeadAttention::new(2, 4, &mut rngs)?;
    assert!(m.forward(&Tensor::zeros(&[2, 3])).is_err());
    let x = Tensor::zeros(&[2, 4]);
    let only_v = AttentionArgs {
        inputs_v: Some(&x),
        ..Default::default()
    };
    assert!(m.forward_with(&x, only_v).is_err());
    let bad_mask = ArrayD::from_elem(IxDyn(&[3, 3]), true);
    let bad = AttentionArgs {
        mask: Some(&bad_mask),
        ..Default::default()
    };
    assert!(m.forward_with(&x, bad).is_err());
    assert!(MultiHeadAttention::config(2, 4)
        .num_kv_heads(3)
        .build(&mut rngs)
        .is_err());
    Ok(())
}

#[test]
fn multi_head_attention_call_time_rngs_match_flax() -> Result<()> {
    let cs = call_data()["mha"].as_array().unwrap().clone();
    assert_eq!(cs.len(), 2);
    for case in cs {
        let d = desc(&case);
        let mut m = build_mha(&case)?;
        check_state(&d, &m.state(), &case["state"]);
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let what = format!("{d} step {i}");
            let x = Tensor::new(f32s(&step["x"]));
            let deterministic = step["deterministic"].as_bool();
            let mut rngs = call_rngs(&step["call_streams"]);
            // apply_with from a copy of the call's Rngs: the same output when
            // the call does not need the layer's stream, an Err otherwise.
            let mut same = call_rngs(&step["call_streams"]);
            let active = !deterministic.unwrap_or(m.deterministic);
            let shared = m.apply_with(
                &x,
                AttentionArgs {
                    deterministic,
                    rngs: same.as_mut(),
                    ..Default::default()
                },
            );
            let args = AttentionArgs {
                deterministic,
                rngs: rngs.as_mut(),
                ..Default::default()
            };
            let y = m.forward_with(&x, args)?.into_array();
            let want = f32s(&step["y"]);
            assert_close(&what, &y, &want, 1e-5, 1e-6);
            match shared {
                Ok(s) => assert_close(&format!("{what} apply_with"), s.array(), &want, 1e-5, 1e-6),
                Err(e) => {
                    assert!(active && same.is_none(), "{what}: {e}");
                    assert!(e.to_string().contains("rngs"), "{what}: {e}");
                }
            }
            check_state(&what, &m.state_of(nnx_core::RngState), &step["state"]);
            if let (Some(r), Some(want)) = (&rngs, step.get("call_state")) {
                check_state(&format!("{what} call rngs"), &r.state(), want);
            }
        }
    }
    Ok(())
}

/// An `Rngs` from a generator's `{"stream": seed}` map (`None` for null).
fn call_rngs(streams: &Json) -> Option<Rngs> {
    streams.as_object().map(|s| {
        Rngs::from_streams(
            s.iter()
                .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
                .collect::<Vec<_>>(),
        )
    })
}

#[test]
fn dropout_call_time_deterministic_and_rngs_match_flax() -> Result<()> {
    let cs = cases_in(&call_data(), "Dropout");
    assert_eq!(cs.len(), 6);
    for case in cs {
        let d = desc(&case);
        let mut m = build_dropout(&case)?;
        check_state(&d, &m.state(), &case["state"]);
        let rate = m.rate;
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let what = format!("{d} step {i}");
            let x = Tensor::new(f32s(&step["x"]));
            let deterministic = step["deterministic"].as_bool();
            let mut rngs = call_rngs(&step["call_streams"]);
            // apply_with (from a copy of the call's Rngs) works exactly when the
            // layer itself would not change, and gives the same output.
            let mut same = call_rngs(&step["call_streams"]);
            let keyless = deterministic.unwrap_or(m.deterministic) || rate == 0.0 || rate == 1.0;
            let shared = m.apply_with(
                &x,
                DropoutArgs {
                    deterministic,
                    rngs: same.as_mut(),
                },
            );
            let args = DropoutArgs {
                deterministic,
                rngs: rngs.as_mut(),
            };
            let y = m.forward_with(&x, args)?.into_array();
            let want = f32s(&step["y"]);
            assert_close(&what, &y, &want, 1e-6, 0.0);
            match shared {
                Ok(s) => assert_close(&format!("{what} apply_with"), s.array(), &want, 1e-6, 0.0),
                Err(e) => {
                    assert!(!keyless && same.is_none(), "{what}: {e}");
                    assert!(e.to_string().contains("deterministic"), "{what}: {e}");
                }
            }
            check_state(&what, &m.state(), &step["state"]);
            if let (Some(r), Some(want)) = (&rngs, step.get("call_state")) {
                check_state(&format!("{what} call rngs"), &r.state(), want);
            }
        }
    }
    Ok(())
}

#[test]
fn batchnorm_call_time_use_running_average_and_mask_match_flax() -> Result<()> {
    let cs = cases_in(&call_data(), "BatchNorm");
    assert_eq!(cs.len(), 6);
    for case in cs {
        let d = desc(&case);
        let mut bn = build_batchnorm(&case)?;
        check_state(&d, &bn.state(), &case["state"]);
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let what = format!("{d} step {i}");
            let x = Tensor::new(f32s(&step["x"]));
            let mask = step.get("mask").map(bools);
            let args = BatchNormArgs {
                use_running_average: step["use_running_average"].as_bool(),
                mask: mask.as_ref(),
            };
            let want = f32s(&step["y"]);
            // apply_with: the same output in evaluation mode, an error naming
            // the flag in training mode.
            match bn.apply_with(&x, args) {
                Ok(y) => {
                    assert!(args.use_running_average.unwrap_or(bn.use_running_average));
                    assert_close(&format!("{what} apply_with"), y.array(), &want, 1e-4, 1e-5);
                }
                Err(e) => assert!(e.to_string().contains("use_running_average"), "{what}: {e}"),
            }
            let y = bn.forward_with(&x, args)?;
            assert_close(&what, y.array(), &want, 1e-4, 1e-5);
            check_state(&what, &bn.state_of(BatchStat), &step["state"]);
        }
    }
    Ok(())
}

#[test]
fn norm_masks_and_group_norm_reduction_axes_match_flax() -> Result<()> {
    let data = call_data();
    let (mut n, mut flax_differs) = (0, 0);
    for layer in ["LayerNorm", "RMSNorm", "GroupNorm", "InstanceNorm"] {
        for case in cases_in(&data, layer) {
            let d = desc(&case);
            let mut m = build_norm(&case)?;
            check_state(&d, &m.layer_state(), &case["state"]);
            for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
                let what = format!("{d} step {i}");
                let x = Tensor::new(f32s(&step["x"]));
                let mask = step.get("mask").map(bools);
                let args = NormArgs {
                    mask: mask.as_ref(),
                };
                let want = f32s(&step["y"]);
                let y = m.forward_with(&x, args)?;
                assert_close(&what, y.array(), &want, 1e-4, 1e-5);
                assert_eq!(m.apply_with(&x, args)?, y, "{what}: apply_with");
                if mask.is_none() {
                    assert_eq!(m.forward(&x)?, y, "{what}: forward");
                }
                // GroupNorm reduction axes leaving several axes out: the
                // reference is the documented meaning (Flax 0.12 pairs the
                // statistics with the wrong elements there, or raises).
                if step.get("flax_matches") == Some(&Json::Bool(false)) {
                    flax_differs += 1;
                }
            }
            n += 1;
        }
    }
    assert_eq!((n, flax_differs), (32, 6));
    Ok(())
}

#[test]
fn wrong_mask_shapes_are_errors_naming_both_shapes() -> Result<()> {
    let mut rngs = Rngs::new(0);
    let x = Tensor::zeros(&[2, 3, 4]);
    let bad = ArrayD::from_elem(IxDyn(&[3, 3]), true);
    let norm = NormArgs { mask: Some(&bad) };
    let mut layers: Vec<Box<dyn Layer>> = vec![
        Box::new(LayerNorm::new(4, &mut rngs)?),
        Box::new(RMSNorm::new(4, &mut rngs)?),
        Box::new(GroupNorm::new(4, 2, &mut rngs)?),
        Box::new(InstanceNorm::new(4, &mut rngs)?),
    ];
    let mut errors = Vec::new();
    for l in &mut layers {
        errors.push(l.forward_with(&x, norm).unwrap_err());
    }
    let mut bn = BatchNorm::new(4, &mut rngs)?;
    let train = BatchNormArgs {
        mask: Some(&bad),
        ..Default::default()
    };
    errors.push(bn.forward_with(&x, train).unwrap_err());
    let eval = BatchNormArgs {
        use_running_average: Some(true),
        ..train
    };
    errors.push(bn.apply_with(&x, eval).unwrap_err());
    for e in errors {
        let e = e.to_string();
        assert!(
            e.contains("mask") && e.contains("(2, 3, 4)") && e.contains("(3, 3)"),
            "{e}"
        );
    }
    // The failed training call left the statistics alone.
    assert_eq!(bn.mean.to_array(), ArrayD::<f32>::zeros(IxDyn(&[4])));
    // GroupNorm's reduction axes must include the feature axis.
    let g = GroupNorm::config(4)
        .num_groups(Some(2))
        .reduction_axes(&[1])
        .build(&mut rngs)?;
    let e = g.apply(&x).unwrap_err().to_string();
    assert!(e.contains("reduction_axes") && e.contains("[1]"), "{e}");
    // A call-time Rngs without the stream (nor default) is an error.
    let mut d = Dropout::new(0.5, &mut rngs)?;
    let mut empty = Rngs::from_streams(Vec::<(String, i64)>::new());
    let args = DropoutArgs {
        rngs: Some(&mut empty),
        ..Default::default()
    };
    assert!(d.forward_with(&x, args).is_err());
    Ok(())
}
