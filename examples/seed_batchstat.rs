//! The seed page's `BatchStat` example: BatchNorm's running statistics beside its
//! learnable scale and bias.

use nnx::prelude::*;

/// The text the example prints.
pub fn run() -> nnx::Result<String> {
    let layer = nnx::nn::BatchNorm::new(3, &mut Rngs::new(0))?;
    Ok(format!("{}\n", layer.state().map(shape)))
}

#[allow(dead_code)]
fn main() -> nnx::Result<()> {
    print!("{}", run()?);
    Ok(())
}
