//! Conformance of Flax's remaining layer families (LoRA, recurrent networks,
//! WeightNorm, SpectralNorm, capture/perturb) against real Flax NNX 0.12:
//! parameters for the same seed, outputs, state after the call and
//! `nnx.value_and_grad` gradients (tools/flax_reference/gen_families.py).

mod common;

use common::{assert_close, f32s, load_json};
use ndarray::ArrayD;
use nnx_core::prelude::*;
use nnx_core::{init, parse_path, path_string, Intermediate, VariableState};
use nnx_tensor::{value_and_grad, Perturb, Tensor};
use serde_json::Value as Json;

const TOL: f32 = 1e-5;

fn cases(file: &str) -> Vec<Json> {
    load_json(&format!("families/{file}"))["cases"]
        .as_array()
        .expect("cases")
        .clone()
}

fn tensor(v: &Json) -> Tensor {
    Tensor::new(f32s(v))
}

/// The f32 value of the leaf at `path` (a Tensor, or the first of a sown tuple).
fn leaf_values(state: &State, path: &str) -> Vec<ArrayD<f32>> {
    let leaf = state
        .leaf(&parse_path(path))
        .unwrap_or_else(|| panic!("no leaf at {path}"));
    let any = leaf.value.as_any();
    if let Some(t) = any.downcast_ref::<Tensor>() {
        vec![t.to_array()]
    } else if let Some(ts) = any.downcast_ref::<Vec<Tensor>>() {
        ts.iter().map(Tensor::to_array).collect()
    } else if let Some(a) = any.downcast_ref::<ndarray::Array1<f32>>() {
        vec![a.clone().into_dyn()]
    } else if let Some(a) = any.downcast_ref::<ndarray::Array2<f32>>() {
        vec![a.clone().into_dyn()]
    } else {
        panic!("{path}: unexpected value type {}", leaf.value.type_name())
    }
}

/// Every leaf of `state` equals Flax's `{path: {"type", "shape", "data"}}` map
/// (same paths, types and values).
fn assert_state(what: &str, state: &State, want: &Json) {
    let want = want.as_object().expect("state map");
    let got: Vec<String> = state
        .flat_state()
        .paths()
        .iter()
        .map(|p| path_string(p).to_string())
        .collect();
    let mut names: Vec<&String> = want.keys().collect();
    names.sort();
    assert_eq!(got.iter().collect::<Vec<_>>(), names, "{what}: paths");
    for (path, w) in want {
        let leaf = state.leaf(&parse_path(path)).expect("present");
        // Flax's plain arrays (WeightNorm's scales) are Params here.
        let ty = match w["type"].as_str().expect("type") {
            "Array" => "Param",
            ty => ty,
        };
        assert_eq!(leaf.kind.name(), ty, "{what}: type of {path}");
        let any = leaf.value.as_any();
        if let Some(count) = any.downcast_ref::<u32>() {
            assert_eq!(
                f32s(w).iter().copied().collect::<Vec<_>>(),
                [*count as f32],
                "{what}: {path}"
            );
            continue;
        }
        if let Some(key) = any.downcast_ref::<nnx_core::random::PrngKey>() {
            let data: Vec<f32> = key.data().iter().map(|&k| k as f32).collect();
            assert_eq!(
                f32s(w).iter().copied().collect::<Vec<_>>(),
                data,
                "{what}: {path}"
            );
            continue;
        }
        assert_close(
            &format!("{what}: {path}"),
            &leaf_values(state, path)[0],
            &f32s(w),
            TOL,
            TOL,
        );
    }
}

/// Gradients (a State) equal Flax's `{path: array}` map.
fn assert_grads(what: &str, grads: &State, want: &Json) {
    let want = want.as_object().expect("grads map");
    assert_eq!(grads.len(), want.len(), "{what}: number of gradients");
    for (path, w) in want {
        assert_close(
            &format!("{what}: grad {path}"),
            &leaf_values(grads, path)[0],
            &f32s(w),
            TOL,
            TOL,
        );
    }
}

mod capture {
    use super::*;

    #[derive(Module)]
    struct Block {
        w: Param<Tensor>,
        #[nnx(sow)]
        sown: Sown,
    }

    impl Block {
        fn forward(&mut self, x: &Tensor) -> nnx_core::Result<Tensor> {
            let h = x.matmul(&self.w)?.tanh();
            let h = self.perturb("h", &h)?;
            self.sow(Intermediate, "h_out", h.clone())?;
            Ok(h)
        }
    }

    #[derive(Module)]
    struct Net {
        block: Block,
        w: Param<Tensor>,
        #[nnx(sow)]
        sown: Sown,
    }

    impl Net {
        fn new(rngs: &mut Rngs) -> nnx_core::Result<Net> {
            let mut lecun = |shape: &[usize]| -> nnx_core::Result<Param<Tensor>> {
                let w = init::lecun_normal::<f32>().init(rngs.next_key("params")?, shape)?;
                Ok(Param::new(Tensor::new(w)))
            };
            let block = Block {
                w: lecun(&[3, 4])?,
                sown: Sown::default(),
            };
            let w = lecun(&[4, 2])?;
            Ok(Net {
                block,
                w,
                sown: Sown::default(),
            })
        }

        fn forward(&mut self, x: &Tensor) -> nnx_core::Result<Tensor> {
            let h = self.block.forward(x)?;
            let y = self.perturb("y", &h.matmul(&self.w)?)?;
            self.sow(Intermediate, "y_out", y.clone())?;
            self.sow(Intermediate, "y_out", &y * 2.0)?;
            Ok(y)
        }
    }

    #[test]
    fn capture_and_perturbation_gradients_match_flax() -> nnx_core::Result<()> {
        let case = &cases("capture.json")[0];
        let mut net = Net::new(&mut Rngs::new(0))?;
        assert_state("init", &net.state(), &case["init"]);
        let x = tensor(&case["x"]);

        // Intermediates: the sowing module's path and name, tuples in call order.
        let (y, inter) = nnx_core::sow::capture(&mut net, &[Intermediate], |m| m.forward(&x))?;
        assert_close("y", &y.to_array(), &f32s(&case["y"]), TOL, TOL);
        for (path, want) in case["intermediates"].as_object().expect("map") {
            assert_eq!(
                inter.leaf(&parse_path(path)).expect("captured").kind,
                Intermediate
            );
            let got = leaf_values(&inter, path);
            let want = want["values"].as_array().expect("tuple");
            assert_eq!(got.len(), want.len(), "{path}: tuple length");
            for (g, w) in got.iter().zip(want) {
                assert_close(path, g, &f32s(w), TOL, TOL);
            }
        }
        assert_eq!(inter.len(), 2);

        // The perturbations stayed in the model (capturing Intermediate is exact).
        let perts = net.state_of(Perturbation);
        for (path, want) in case["perturbations"].as_object().expect("map") {
            let w = f32s(&want["values"][0]);
            assert_close(path, &leaf_values(&perts, path)[0], &w, 0.0, 0.0);
        }

        // Gradients with respect to parameters and intermediates in one pass.
        let cot = tensor(&case["cot"]);
        let (loss, grads) = value_and_grad(&mut net, [Param, Perturbation], |m| {
            let (y, _) = nnx_core::sow::capture(m, &[Intermediate], |m| m.forward(&x))?;
            Ok((&y * &cot)?.sum())
        })?;
        assert!((loss - case["loss"].as_f64().expect("loss") as f32).abs() < TOL);
        assert_grads("params", &grads.filter(Param), &case["grads"]);
        let pgrads = grads.filter(Perturbation);
        assert_grads("perturbations", &pgrads, &case["perturbation_grads"]);
        // Hand math: d sum(y * cot) / d y is cot.
        assert_eq!(leaf_values(&pgrads, "y")[0], cot.to_array());
        Ok(())
    }
}

/// Central finite differences of `loss` with respect to every element of the
/// Variables of `model` matching `wrt`, against `grads` (from `value_and_grad`).
fn check_finite_differences<M: Module>(
    model: &mut M,
    wrt: impl nnx_core::filter::Filter + Copy,
    grads: &State,
    mut loss: impl FnMut(&mut M) -> nnx_core::Result<Tensor>,
) -> nnx_core::Result<()> {
    const EPS: f32 = 1e-2;
    for (path, leaf) in model.state_of(wrt).into_flat() {
        let base = leaf
            .value
            .as_any()
            .downcast_ref::<Tensor>()
            .expect("tensor")
            .to_array();
        let grad = leaf_values(grads, &path_string(&path))[0].clone();
        for i in 0..base.len() {
            let mut at = |delta: f32| -> nnx_core::Result<f32> {
                let mut moved = base.clone();
                moved.as_slice_mut().expect("contiguous")[i] += delta;
                let leaf = leaf.with_value(std::sync::Arc::new(Tensor::new(moved)));
                model.update(State::from_flat(vec![(path.clone(), leaf)])?)?;
                loss(model)?.item()
            };
            let fd = (at(EPS)? - at(-EPS)?) / (2.0 * EPS);
            let g = grad.as_slice().expect("contiguous")[i];
            assert!(
                (fd - g).abs() <= 2e-2 * (1.0 + g.abs()),
                "{}[{i}]: finite difference {fd}, gradient {g}",
                path_string(&path)
            );
        }
        let leaf = leaf.with_value(std::sync::Arc::new(Tensor::new(base)));
        model.update(State::from_flat(vec![(path.clone(), leaf)])?)?;
    }
    Ok(())
}

mod lora {
    use super::*;
    use nnx_layers::{LoRA, LoRAParam};

    #[test]
    fn standalone_lora_matches_flax() -> nnx_core::Result<()> {
        let case = &cases("lora.json")[0];
        let mut lora = LoRA::new(3, 2, 4, &mut Rngs::new(0))?;
        assert_state("init", &lora.state(), &case["init"]);
        *lora.lora_b = tensor(&case["state"]["lora_b"]);
        let x = tensor(&case["x"]);
        assert_close(
            "y",
            &lora.forward(&x)?.to_array(),
            &f32s(&case["y"]),
            TOL,
            TOL,
        );
        let cot = tensor(&case["cot"]);
        let loss = |m: &mut LoRA| (&m.forward(&x)? * &cot).map(|t| t.sum());
        let (value, grads) = value_and_grad(&mut lora, Param, loss)?;
        assert!((value - case["loss"].as_f64().expect("loss") as f32).abs() < TOL);
        assert_grads("grads", &grads, &case["grads"]);
        // Only the LoRA parameters, isolated by their type.
        assert_eq!(value_and_grad(&mut lora, LoRAParam, loss)?.1, grads);
        check_finite_differences(&mut lora, Param, &grads, loss)
    }

    #[test]
    fn lora_over_a_base_module_matches_flax() -> nnx_core::Result<()> {
        let case = &cases("lora.json")[1];
        let base = nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?;
        let mut lora = LoRA::config(3, 2, 4).build_with_base(base, &mut Rngs::new(1))?;
        assert_state("init", &lora.state(), &case["init"]);
        *lora.lora_b = tensor(&case["state"]["lora_b"]);
        let x = tensor(&case["x"]);
        assert_close(
            "y",
            &lora.forward(&x)?.to_array(),
            &f32s(&case["y"]),
            TOL,
            TOL,
        );
        assert_eq!(lora.apply(&x)?, lora.forward(&x)?);
        let cot = tensor(&case["cot"]);
        let loss = |m: &mut LoRA<nnx_layers::Linear>| (&m.forward(&x)? * &cot).map(|t| t.sum());
        let (value, grads) = value_and_grad(&mut lora, LoRAParam, loss)?;
        assert!((value - case["loss"].as_f64().expect("loss") as f32).abs() < TOL);
        assert_grads("grads", &grads, &case["grads"]);
        check_finite_differences(&mut lora, LoRAParam, &grads, loss)
    }
}

/// A module holding loose tensors, to differentiate with respect to inputs.
#[derive(Module)]
struct Inputs {
    x: Param<Tensor>,
    carry: Vec<Param<Tensor>>,
}

fn carry_of(v: &Json) -> Vec<Tensor> {
    v.as_array()
        .expect("carry list")
        .iter()
        .map(tensor)
        .collect()
}

mod recurrent {
    use super::*;

    /// Calls `$check(case, cell)` with the case's cell (3 inputs, 4 hidden)
    /// built from the case's seed.
    macro_rules! for_cell {
        ($case:expr, $check:ident) => {{
            let case: &Json = $case;
            let rngs = &mut Rngs::new(case["seed"].as_i64().expect("seed"));
            match case["cell"].as_str().expect("cell") {
                "SimpleCell" => $check(case, SimpleCell::new(3, 4, rngs)?)?,
                "LSTMCell" => $check(case, LSTMCell::new(3, 4, rngs)?)?,
                "OptimizedLSTMCell" => $check(case, OptimizedLSTMCell::new(3, 4, rngs)?)?,
                "GRUCell" => $check(case, GRUCell::new(3, 4, rngs)?)?,
                other => panic!("unknown cell {other}"),
            }
        }};
    }
    use nnx_layers::{
        Bidirectional, Carry, GRUCell, LSTMCell, OptimizedLSTMCell, RNNCellBase, RNNOptions,
        SimpleCell, RNN,
    };

    /// The cell of a case, its step on the case's inputs, and the step's
    /// gradients with respect to the inputs, checked against Flax.
    fn check_cell<C: RNNCellBase + Module>(case: &Json, cell: C) -> nnx_core::Result<()> {
        let name = case["cell"].as_str().expect("name");
        assert_state(name, &cell.state(), &case["init"]);
        let x = tensor(&case["x"]);
        let carry = C::Carry::from_leaves(carry_of(&case["carry"]))?;
        let zero = cell.initialize_carry(&[2, 3], &mut RngStream::new("carry", 0))?;
        for (got, want) in zero.leaves().iter().zip(carry_of(&case["zero_carry"])) {
            assert_eq!(**got, want);
        }
        let (new_carry, y) = cell.apply(&carry, &x)?;
        for (got, want) in new_carry.leaves().iter().zip(carry_of(&case["new_carry"])) {
            assert_close(name, &got.to_array(), &want.to_array(), TOL, TOL);
        }
        assert_close(name, &y.to_array(), &f32s(&case["y"]), TOL, TOL);

        let cots = carry_of(&case["cots"]);
        let mut inputs = Inputs {
            x: Param::new(x.clone()),
            carry: carry
                .leaves()
                .into_iter()
                .map(|t| Param::new(t.clone()))
                .collect(),
        };
        let loss = |m: &mut Inputs| {
            let carry = C::Carry::from_leaves(m.carry.iter().map(|p| (**p).clone()).collect())?;
            let (c, y) = cell.apply(&carry, &m.x)?;
            let mut total = Tensor::scalar(0.0);
            for (out, cot) in c.leaves().into_iter().chain([&y]).zip(&cots) {
                total = (total + (out * cot)?.sum())?;
            }
            Ok(total)
        };
        let (value, grads) = value_and_grad(&mut inputs, Param, loss)?;
        assert!(
            (value - case["loss"].as_f64().expect("loss") as f32).abs() < 1e-4,
            "{name}: loss {value}"
        );
        assert_close(
            name,
            &leaf_values(&grads, "x")[0],
            &f32s(&case["grad_x"]),
            TOL,
            TOL,
        );
        for (i, want) in case["grad_carry"]
            .as_array()
            .expect("list")
            .iter()
            .enumerate()
        {
            assert_close(
                name,
                &leaf_values(&grads, &format!("carry/{i}"))[0],
                &f32s(want),
                TOL,
                TOL,
            );
        }
        check_finite_differences(&mut inputs, Param, &grads, loss)
    }

    #[test]
    fn cells_match_flax() -> nnx_core::Result<()> {
        for case in cases("cells.json") {
            for_cell!(&case, check_cell);
        }
        Ok(())
    }

    fn lengths(case: &Json) -> Option<Vec<usize>> {
        case["seq_lengths"].as_object().map(|_| {
            f32s(&case["seq_lengths"])
                .iter()
                .map(|&l| l as usize)
                .collect()
        })
    }

    fn check_rnn<C: RNNCellBase + Module>(case: &Json, cell: C) -> nnx_core::Result<()> {
        let cfg = &case["config"];
        let flag = |k: &str| cfg.get(k).and_then(Json::as_bool).unwrap_or(false);
        let mut rnn = RNN::config(cell)
            .time_major(flag("time_major"))
            .reverse(flag("reverse"))
            .keep_order(flag("keep_order"))
            .build();
        let what = format!("{} {cfg}", case["cell"]);
        assert_state(&what, &rnn.state(), &case["init"]);
        let x = tensor(&case["x"]);
        let lengths = lengths(case);
        let opts = || RNNOptions {
            seq_lengths: lengths.as_deref(),
            ..Default::default()
        };
        let shared = rnn.apply_with(&x, opts())?;
        let (carry, y) = rnn.forward_with(&x, opts())?;
        assert_close(&what, &y.to_array(), &f32s(&case["y"]), TOL, TOL);
        assert_eq!(shared.1, y, "{what}: apply and forward agree");
        if case["carry"].is_array() {
            for (got, want) in carry.leaves().iter().zip(carry_of(&case["carry"])) {
                assert_close(&what, &got.to_array(), &want.to_array(), TOL, TOL);
            }
        }
        assert_state(&what, &rnn.state(), &case["after"]);

        // The scan (flips, per-example carries, stacking) is differentiable
        // with respect to the inputs.
        let cots = carry_of(&case["cots"]);
        let mut inputs = Inputs {
            x: Param::new(x),
            carry: Vec::new(),
        };
        let loss = |m: &mut Inputs| {
            let (carry, y) = rnn.apply_with(&m.x, opts())?;
            let outs = carry.leaves().into_iter().cloned().chain([y]);
            // Flax's cotangents cover the carry only when it returns it.
            let outs: Vec<Tensor> = outs.skip(carry.leaves().len() + 1 - cots.len()).collect();
            let mut total = Tensor::scalar(0.0);
            for (out, cot) in outs.iter().zip(&cots) {
                total = (total + (out * cot)?.sum())?;
            }
            Ok(total)
        };
        let (value, grads) = value_and_grad(&mut inputs, Param, loss)?;
        let want = case["loss"].as_f64().expect("loss") as f32;
        assert!(
            (value - want).abs() < 1e-4,
            "{what}: loss {value}, Flax {want}"
        );
        check_finite_differences(&mut inputs, Param, &grads, loss)
    }

    #[test]
    fn rnn_matches_flax() -> nnx_core::Result<()> {
        for case in cases("rnn.json") {
            for_cell!(&case, check_rnn);
        }
        Ok(())
    }

    #[test]
    fn bidirectional_matches_flax() -> nnx_core::Result<()> {
        for case in cases("bidirectional.json") {
            let fwd = RNN::new(LSTMCell::new(3, 4, &mut Rngs::new(0))?);
            let bwd = RNN::new(GRUCell::new(3, 2, &mut Rngs::new(1))?);
            let mut bi = Bidirectional::new(fwd, bwd);
            assert_state("bidirectional", &bi.state(), &case["init"]);
            let x = tensor(&case["x"]);
            let lengths = lengths(&case);
            let ((cf, cb), y) = bi.forward_with(&x, None, lengths.as_deref())?;
            assert_close("y", &y.to_array(), &f32s(&case["y"]), TOL, TOL);
            for (got, want) in cf.leaves().into_iter().chain(cb.leaves()).zip(
                carry_of(&case["carry_forward"])
                    .into_iter()
                    .chain(carry_of(&case["carry_backward"])),
            ) {
                assert_close("carry", &got.to_array(), &want.to_array(), TOL, TOL);
            }
            assert_state("bidirectional after", &bi.state(), &case["after"]);
        }
        Ok(())
    }
}

/// Flax's `{path: {"type", "shape", "data"}}` map as a State of Tensors (Flax's
/// plain arrays, WeightNorm's scales, are Params here).
fn state_from_json(v: &Json) -> nnx_core::Result<State> {
    let leaves = v.as_object().expect("state map").iter().map(|(path, w)| {
        let kind = match w["type"].as_str().expect("type") {
            "BatchStat" => nnx_core::BatchStat,
            _ => Param,
        };
        (parse_path(path), VariableState::new(kind, tensor(w)))
    });
    State::from_flat(leaves.collect::<Vec<_>>())
}

mod normalization {
    use super::*;
    use nnx_layers::{Linear, SpectralNorm, WeightNorm};

    fn weight_norm(case: &Json) -> nnx_core::Result<WeightNorm<Linear>> {
        let cfg = nnx_layers::WeightNorm::config(Linear::new(3, 4, &mut Rngs::new(0))?);
        let cfg = match case["name"].as_str().expect("name") {
            "no_feature_axes" => cfg.feature_axes(&[]),
            "no_scale" => cfg.use_scale(false),
            _ => cfg,
        };
        let mut wn = cfg.build(&mut Rngs::new(1))?;
        let kernel = wn
            .state()
            .filter(|p: &[Key], _: &dyn nnx_core::VariableInfo| p.contains(&Key::from("kernel")));
        let init = state_from_json(&case["init"])?;
        assert_eq!(
            leaf_values(&kernel, "layer_instance/kernel"),
            leaf_values(&init, "layer_instance/kernel"),
            "kernel for the same seed"
        );
        wn.update(init)?;
        Ok(wn)
    }

    #[test]
    fn weight_norm_matches_flax() -> nnx_core::Result<()> {
        for case in cases("weight_norm.json") {
            let name = case["name"].as_str().expect("name");
            let mut wn = weight_norm(&case)?;
            let x = tensor(&case["x"]);
            let shared = wn.apply(&x)?;
            let y = wn.forward(&x)?;
            assert_close(name, &y.to_array(), &f32s(&case["y"]), TOL, TOL);
            assert_eq!(shared, y, "{name}: apply and forward agree");
            assert_state(name, &wn.state(), &case["after"]);
            let again = wn.forward(&x)?;
            assert_close(name, &again.to_array(), &f32s(&case["y_again"]), TOL, TOL);
        }
        Ok(())
    }

    #[test]
    fn spectral_norm_matches_flax() -> nnx_core::Result<()> {
        for case in cases("spectral_norm.json") {
            let name = case["name"].as_str().expect("name");
            let cfg = &case["config"];
            let mut sn = SpectralNorm::config(Linear::new(3, 4, &mut Rngs::new(0))?)
                .n_steps(cfg.get("n_steps").and_then(Json::as_u64).unwrap_or(1) as usize)
                .update_stats(
                    cfg.get("update_stats")
                        .and_then(Json::as_bool)
                        .unwrap_or(true),
                )
                .build(&mut Rngs::new(1))?;
            let init = state_from_json(&case["init"])?;
            // u for the same seed; Flax's bias was randomized after init.
            let u = "batch_stats/('kernel', 'u')";
            assert_close(
                name,
                &leaf_values(&sn.state(), u)[0],
                &leaf_values(&init, u)[0],
                0.0,
                0.0,
            );
            sn.update(init)?;
            let x = tensor(&case["x"]);
            let y = sn.forward(&x)?;
            assert_close(name, &y.to_array(), &f32s(&case["y"]), TOL, TOL);
            assert_state(name, &sn.state(), &case["after"]);
            let again = sn.forward(&x)?;
            assert_close(name, &again.to_array(), &f32s(&case["y_again"]), TOL, TOL);
            assert_state(name, &sn.state(), &case["after_again"]);
        }
        Ok(())
    }

    /// A dense layer over Tensor parameters, with Linear's paths, for the
    /// gradients through the wrappers.
    #[derive(Module)]
    struct Dense {
        bias: Param<Tensor>,
        kernel: Param<Tensor>,
    }

    impl nnx_layers::Forward for Dense {
        fn forward(&mut self, x: &Tensor) -> nnx_core::Result<Tensor> {
            nnx_layers::Forward::apply(self, x)
        }
        fn apply(&self, x: &Tensor) -> nnx_core::Result<Tensor> {
            x.matmul(&self.kernel)? + &*self.bias
        }
    }

    fn dense(init: &State) -> Dense {
        let leaf = |name: &str| {
            Param::new(Tensor::new(
                leaf_values(init, &format!("layer_instance/{name}")).remove(0),
            ))
        };
        Dense {
            bias: leaf("bias"),
            kernel: leaf("kernel"),
        }
    }

    /// `check` runs on the case's wrapper; gradients of `sum(y * cot)` with
    /// respect to every Param match Flax's (which has no gradient for
    /// WeightNorm's plain-array scales) and finite differences.
    fn check_wrapper_grads<W: Module>(
        case: &Json,
        mut wrapper: W,
        forward: fn(&mut W, &Tensor) -> nnx_core::Result<Tensor>,
    ) -> nnx_core::Result<()> {
        let name = case["name"].as_str().expect("name");
        let (x, cot) = (tensor(&case["x"]), tensor(&case["cot"]));
        let loss = |w: &mut W| (&forward(w, &x)? * &cot).map(|t| t.sum());
        let (value, grads) = value_and_grad(&mut wrapper, Param, loss)?;
        assert!(
            (value - case["loss"].as_f64().expect("loss") as f32).abs() < 1e-4,
            "{name}: loss {value}"
        );
        let layer = grads.filter(|p: &[Key], _: &dyn nnx_core::VariableInfo| {
            p.first() == Some(&Key::from("layer_instance"))
        });
        assert_grads(name, &layer, &case["grads"]);
        // The state after the gradient: the normalized kernel written back, the
        // power-iteration state updated, as in Flax.
        assert_state(name, &wrapper.state(), &case["after_grad"]);
        Ok(())
    }

    #[test]
    fn weight_norm_gradients_match_flax() -> nnx_core::Result<()> {
        for case in cases("weight_norm.json") {
            let init = state_from_json(&case["init"])?;
            let cfg = WeightNorm::config(dense(&init));
            let cfg = match case["name"].as_str().expect("name") {
                "no_feature_axes" => cfg.feature_axes(&[]),
                "no_scale" => cfg.use_scale(false),
                _ => cfg,
            };
            let mut wn = cfg.build(&mut Rngs::new(1))?;
            wn.update(init)?;
            let (x, cot) = (tensor(&case["x"]), tensor(&case["cot"]));
            // Finite differences on a copy (the call rewrites the kernel).
            let mut copy: WeightNorm<Dense> = wn.graphdef().merge(wn.state().deep_clone())?;
            let loss = |w: &mut WeightNorm<Dense>| (&w.apply(&x)? * &cot).map(|t| t.sum());
            let (_, grads) = value_and_grad(&mut copy, Param, loss)?;
            check_finite_differences(&mut copy, Param, &grads, loss)?;
            check_wrapper_grads(&case, wn, WeightNorm::forward)?;
        }
        Ok(())
    }

    #[test]
    fn spectral_norm_gradients_match_flax() -> nnx_core::Result<()> {
        for case in cases("spectral_norm.json") {
            let init = state_from_json(&case["init"])?;
            let cfg = &case["config"];
            let sn = SpectralNorm::config(dense(&init))
                .n_steps(cfg.get("n_steps").and_then(Json::as_u64).unwrap_or(1) as usize)
                .update_stats(
                    cfg.get("update_stats")
                        .and_then(Json::as_bool)
                        .unwrap_or(true),
                )
                .build(&mut Rngs::new(1))?;
            let mut sn = sn;
            sn.update(init)?;
            check_wrapper_grads(&case, sn, SpectralNorm::forward)?;
        }
        Ok(())
    }
}

/// User mistakes the types cannot rule out are errors naming what is wrong.
mod errors {
    use super::*;
    use nnx_layers::{GRUCell, LSTMCell, Linear, RNNOptions, SpectralNorm, WeightNorm, RNN};

    fn message(r: nnx_core::Result<impl std::fmt::Debug>) -> String {
        r.expect_err("an error").to_string()
    }

    #[test]
    fn recurrent_errors() -> nnx_core::Result<()> {
        let mut rnn = RNN::new(GRUCell::new(3, 4, &mut Rngs::new(0))?);
        let x = Tensor::ones(&[2, 5, 3]);
        let opts = |l: &'static [usize]| RNNOptions {
            seq_lengths: Some(l),
            ..Default::default()
        };
        for bad in [&[5usize][..], &[6, 1], &[0, 2]] {
            assert!(message(rnn.forward_with(&x, opts(bad))).contains("seq_lengths"));
        }
        assert!(message(rnn.forward(&Tensor::ones(&[3]))).contains("RNN inputs"));
        assert!(message(rnn.forward(&Tensor::ones(&[2, 5, 4]))).contains("(..., 3)"));
        let cell = LSTMCell::new(3, 4, &mut Rngs::new(0))?;
        let carry = (Tensor::zeros(&[2, 4]), Tensor::zeros(&[2, 5]));
        assert_eq!(
            message(cell.apply(&carry, &Tensor::ones(&[2, 3]))),
            "shape mismatch at carry/1: expected (2, 4), found (2, 5)"
        );
        Ok(())
    }

    #[test]
    fn wrapper_errors() -> nnx_core::Result<()> {
        let x = Tensor::ones(&[2, 3]);
        let mut wn = WeightNorm::new(Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?;
        wn.scales.clear();
        assert!(message(wn.forward(&x)).contains("scales/('kernel',)"));
        let mut sn = SpectralNorm::new(Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?;
        sn.batch_stats.remove("('kernel', 'u')");
        assert!(message(sn.forward(&x)).contains("batch_stats/('kernel', 'u')"));
        assert!(message(
            WeightNorm::config(Linear::new(3, 4, &mut Rngs::new(0))?)
                .epsilon(-1.0)
                .build(&mut Rngs::new(1))
        )
        .contains("epsilon"));
        Ok(())
    }
}
