use nnx::Module;

#[derive(Clone, Debug, PartialEq)]
struct Config {
    rate: f32,
}

#[derive(Module)]
struct Model {
    #[nnx(static)]
    config: Config,
}

fn main() {}
