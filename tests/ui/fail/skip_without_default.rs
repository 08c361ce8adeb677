use nnx::Module;

struct Handle(u8);

#[derive(Module)]
struct Model {
    rate: f32,
    #[nnx(skip)]
    handle: Handle,
}

fn main() {}
