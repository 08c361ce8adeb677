use nnx::prelude::*;

#[derive(Module)]
enum Head {
    A {
        #[nnx(sow)]
        sown: Sown,
    },
}

fn main() {}
