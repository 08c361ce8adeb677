use nnx::{Module, Param};

// Every problem is reported at once, and no "Module is not implemented" follows.
#[derive(Module)]
#[nnx(crate = "::nnx", crate = "::nnx")]
struct Model {
    #[nnx(skip, static)]
    a: Param<f32>,
    #[nnx(rename = "a")]
    b: Param<f32>,
    #[nnx(bogus)]
    c: Param<f32>,
}

fn needs_module<M: Module>() {}

fn main() {
    needs_module::<Model>();
}
