use nnx::prelude::*;

#[derive(Module)]
enum Head {
    #[nnx(transparent)]
    Pair(Param<f32>, Param<f32>),
    #[nnx(transparent)]
    Named { w: Param<f32> },
    #[nnx(transparent)]
    Scale(#[nnx(static)] f32),
    #[nnx(transparent = true)]
    Bias(Param<f32>),
}

#[derive(Module)]
#[nnx(transparent)]
enum All {
    Dense(Param<f32>),
    Identity,
}

#[derive(Module)]
#[nnx(transparent)]
struct Block {
    w: Param<f32>,
}

fn main() {}
