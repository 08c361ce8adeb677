use nnx::{Module, Param};

#[derive(Module)]
struct Model {
    #[nnx(rename = "")]
    w: Param<f32>,
}

fn main() {}
