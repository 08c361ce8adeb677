use nnx::prelude::*;

#[derive(Module)]
struct Model {
    #[nnx(sow)]
    a: Sown,
    #[nnx(sow)]
    b: Sown,
}

fn main() {}
