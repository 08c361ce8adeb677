//! `value_and_grad` over Conv and ConvTranspose layers against Flax's
//! `nnx.value_and_grad` of the same model (tests/data/layers/grad_conv_model.json,
//! written by tools/flax_reference/gen_grad_conv.py): Conv 3x3 -> relu ->
//! max_pool 2 -> circular, dilated, grouped Conv -> relu -> ConvTranspose
//! stride 2, squared-error loss.

use nnx_core::prelude::*;
use nnx_core::rngs::Rngs;
use nnx_core::Result;
use nnx_layers::functional::{max_pool, Padding};
use nnx_layers::{Conv, ConvTranspose};
use nnx_tensor::{value_and_grad, Tensor};

mod common;
use common::*;

#[derive(Module)]
struct ConvModel {
    conv1: Conv,
    conv2: Conv,
    up: ConvTranspose,
}

impl ConvModel {
    fn new(rngs: &mut Rngs) -> Result<ConvModel> {
        Ok(ConvModel {
            conv1: Conv::new(2, 4, &[3, 3], rngs)?,
            conv2: Conv::config(4, 4, &[3, 3])
                .kernel_dilation(&[2])
                .feature_group_count(2)
                .padding(Padding::Circular)
                .build(rngs)?,
            up: ConvTranspose::config(4, 3, &[3, 3])
                .strides(&[2])
                .build(rngs)?,
        })
    }

    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let h = max_pool(
            &self.conv1.forward(x)?.relu(),
            &[2, 2],
            &[2, 2],
            &Padding::Valid,
        )?;
        let h = self.conv2.forward(&h)?.relu();
        self.up.forward(&h)
    }
}

#[test]
fn conv_layers_value_and_grad_match_flax() -> Result<()> {
    let data = load_json("layers/grad_conv_model.json");
    let mut model = ConvModel::new(&mut Rngs::new(0))?;
    // Flax's parameters into the layers.
    let load = |kernel: &mut Param<Tensor>, bias: &mut Option<Param<Tensor>>, layer: &str| {
        let p = |name: &str| Tensor::from(f32s(&data["params"][format!("{layer}/{name}")]));
        kernel.set_raw_value(p("kernel"));
        bias.as_mut().expect("a bias").set_raw_value(p("bias"));
    };
    load(&mut model.conv1.kernel, &mut model.conv1.bias, "conv1");
    load(&mut model.conv2.kernel, &mut model.conv2.bias, "conv2");
    load(&mut model.up.kernel, &mut model.up.bias, "up");
    let x = Tensor::from(f32s(&data["x"]));
    let target = Tensor::from(f32s(&data["target"]));
    let (loss, grads) = value_and_grad(&mut model, Param, |m| {
        Ok((m.forward(&x)? - &target)?.square().mean())
    })?;
    let want = data["loss"].as_f64().expect("loss") as f32;
    assert!(
        (loss - want).abs() <= 1e-5 * want.abs().max(1.0),
        "loss {loss} vs Flax {want}"
    );
    // Exactly the Params' paths and types, as model.state_of(Param).
    assert_eq!(
        grads.map(nnx_core::value::shape).to_string(),
        model
            .state_of(Param)
            .map(nnx_core::value::shape)
            .to_string()
    );
    assert_eq!(grads.flat_state().len(), 6);
    for (path, leaf) in grads.flat_state().iter() {
        let name = nnx_core::path_string(path);
        let got = leaf
            .value
            .as_any()
            .downcast_ref::<Tensor>()
            .expect("a Tensor");
        assert_close(
            &name,
            got.array(),
            &f32s(&data["grads"][name.as_str()]),
            1e-5,
            1e-5,
        );
    }
    Ok(())
}
