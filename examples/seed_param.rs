//! The seed page's `Param` example: the canonical learnable parameter, as held by
//! `Linear`. Prints what Flax prints for `jax.tree.map(jnp.shape, nnx.state(layer))`.

use nnx::prelude::*;

/// The text the example prints.
pub fn run() -> nnx::Result<String> {
    let layer = nnx::nn::Linear::new(2, 3, &mut Rngs::new(0))?;
    Ok(format!("{}\n", layer.state().map(shape)))
}

#[allow(dead_code)]
fn main() -> nnx::Result<()> {
    print!("{}", run()?);
    Ok(())
}
