//! f64 layers across the crates: checkpoints keep their dtype (safetensors
//! `F64`), a checkpoint of one dtype does not load into a layer of the other,
//! and the optimizers (float32 only for now) reject f64 parameters by path.

use nnx::checkpoint::{self, LoadOptions};
use nnx::nn::{Linear, LinearConfig};
use nnx::prelude::*;
use nnx::rngs::Rngs;

#[test]
fn f64_checkpoint_round_trip() -> nnx::Result<()> {
    let saved: Linear<f64> = LinearConfig::new(3, 2).build(&mut Rngs::new(0))?;
    let bytes = checkpoint::save_state_to_bytes(&saved.state())?;
    // The header names the dtype of each tensor.
    let header = String::from_utf8_lossy(&bytes[8..]);
    assert!(header.contains(r#""dtype":"F64""#), "{header}");
    let mut restored: Linear<f64> = LinearConfig::new(3, 2).build(&mut Rngs::new(7))?;
    assert_ne!(restored.kernel.to_array(), saved.kernel.to_array());
    checkpoint::load_into_from_bytes_with(&mut restored, &bytes, LoadOptions::default())?;
    assert_eq!(restored.kernel.to_array(), saved.kernel.to_array());
    assert_eq!(
        restored.bias.as_ref().map(|b| b.to_array()),
        saved.bias.as_ref().map(|b| b.to_array())
    );
    Ok(())
}

#[test]
fn dtypes_do_not_mix_in_checkpoints() -> nnx::Result<()> {
    let f64_layer: Linear<f64> = LinearConfig::new(3, 2).build(&mut Rngs::new(0))?;
    let bytes = checkpoint::save_state_to_bytes(&f64_layer.state())?;
    let mut f32_layer = Linear::new(3, 2, &mut Rngs::new(0))?;
    let before = f32_layer.kernel.to_array();
    let err = checkpoint::load_into_from_bytes_with(&mut f32_layer, &bytes, LoadOptions::default())
        .expect_err("an f64 checkpoint into an f32 layer");
    let msg = err.to_string();
    assert!(msg.contains("kernel") && msg.contains("float64"), "{msg}");
    assert_eq!(f32_layer.kernel.to_array(), before, "left as it was");
    Ok(())
}

#[test]
fn optimizers_update_f64_layers_in_f64() -> nnx::Result<()> {
    let mut layer: Linear<f64> = LinearConfig::new(3, 2).build(&mut Rngs::new(0))?;
    let before = layer.kernel.to_array();
    let mut opt = nnx::Optimizer::new(&layer, nnx::optax::sgd(0.1), Param)?;
    let x = nnx::tensor::Tensor::from_array(ndarray::arr2(&[[1.0f64, -2.0, 0.5]]).into_dyn());
    let (_, grads) = nnx::value_and_grad(&mut layer, Param, |l| Ok(l.forward(&x)?.sum()))?;
    opt.update(&mut layer, &grads)?;
    // sgd: p + (-lr * g), in f64; d(sum(x @ k))/dk[i, j] = x[i].
    let g = ndarray::arr1(&[1.0f64, -2.0, 0.5]);
    for ((i, j), k) in layer
        .kernel
        .to_array()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .indexed_iter()
    {
        assert_eq!(*k, before[[i, j]] + (-0.1f64) * g[i]);
    }
    Ok(())
}
