use nnx::{Module, Param};

#[derive(Module)]
struct Model {
    kernel: Param<f32>,
    #[nnx(rename = "kernel")]
    w: Param<f32>,
}

fn main() {}
