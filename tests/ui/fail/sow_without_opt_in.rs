use nnx::prelude::*;
use nnx::Intermediate;

#[derive(Module)]
struct Model {
    w: Param<f32>,
}

impl Model {
    fn forward(&mut self) -> nnx::Result<()> {
        self.sow(Intermediate, "h", 1.0f32)
    }
}

fn main() {}
