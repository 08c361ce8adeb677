use nnx::Module;

#[derive(Module)]
struct View<'a> {
    data: &'a [f32],
}

fn main() {}
