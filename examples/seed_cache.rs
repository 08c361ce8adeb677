//! The seed page's `Cache` example: the autoregressive cache of MultiHeadAttention,
//! selected by Variable type.

use nnx::prelude::*;

/// The text the example prints.
pub fn run() -> nnx::Result<String> {
    let mut layer = nnx::nn::MultiHeadAttention::config(2, 3)
        .qkv_features(6)
        .out_features(6)
        .decode(true)
        .build(&mut Rngs::new(0))?;
    layer.init_cache(&[1, 3])?;
    Ok(format!("{}\n", layer.state_of(Cache).map(shape)))
}

#[allow(dead_code)]
fn main() -> nnx::Result<()> {
    print!("{}", run()?);
    Ok(())
}
