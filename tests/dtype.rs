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
fn optimizers_reject_f64_parameters_by_path() -> nnx::Result<()> {
    let layer: Linear<f64> = LinearConfig::new(3, 2).build(&mut Rngs::new(0))?;
    let err = nnx::Optimizer::new(&layer, nnx::optax::sgd(0.1), Param)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("kernel") && err.contains("float32"), "{err}");
    Ok(())
}
