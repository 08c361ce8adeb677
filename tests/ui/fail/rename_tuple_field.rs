use nnx::{Module, Param};

#[derive(Module)]
struct Pair(#[nnx(rename = "first")] Param<f32>, Param<f32>);

fn main() {}
