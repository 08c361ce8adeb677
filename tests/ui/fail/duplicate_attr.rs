use nnx::Module;

#[derive(Module)]
struct Model {
    #[nnx(static, static)]
    rate: f32,
}

fn main() {}
