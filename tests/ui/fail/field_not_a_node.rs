use nnx::Module;

#[derive(Module)]
struct Model {
    file: std::fs::File,
}

fn main() {}
