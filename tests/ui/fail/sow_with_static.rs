use nnx::prelude::*;

#[derive(Module)]
struct Model {
    #[nnx(sow, static)]
    sown: Sown,
}

fn main() {}
