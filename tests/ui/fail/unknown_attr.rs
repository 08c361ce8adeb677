use nnx::Module;

#[derive(Module)]
struct Model {
    #[nnx(frozen)]
    rate: f32,
}

fn main() {}
