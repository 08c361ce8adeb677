use nnx::Module;

#[derive(Module)]
#[nnx(crate = "not a path")]
struct Model {
    rate: f32,
}

fn main() {}
