// An f32 input to an f64 layer, and f32 + f64 tensors, do not compile.
use nnx::nn::{Linear, LinearConfig};
use nnx::rngs::Rngs;
use nnx::tensor::Tensor;

fn main() -> nnx::Result<()> {
    let mut layer: Linear<f64> = LinearConfig::new(2, 3).build(&mut Rngs::new(0))?;
    let x = Tensor::ones(&[1, 2]);
    let _y = layer.forward(&x)?;
    let _z = (&x + &Tensor::<f64>::full(&[2], 1.0))?;
    Ok(())
}
