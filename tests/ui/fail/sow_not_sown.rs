use nnx::prelude::*;

#[derive(Module)]
struct Model {
    #[nnx(sow)]
    sown: Vec<Param<f32>>,
}

fn main() {}
