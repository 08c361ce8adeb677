use nnx::Module;

#[derive(Module)]
struct Model {
    #[nnx(static, skip)]
    rate: f32,
}

fn main() {}
