use nnx::{Module, Param};

#[derive(Module)]
struct Model {
    #[nnx(rename = kernel)]
    w: Param<f32>,
}

fn main() {}
