use nnx::Module;

#[derive(Module)]
struct Model {
    #[nnx]
    rate: f32,
    #[nnx = "static"]
    din: usize,
}

fn main() {}
