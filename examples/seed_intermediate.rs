//! The seed page's `Intermediate` example: `sow` records a value under the module's
//! own path during the forward pass.

use nnx::nn::Linear;
use nnx::prelude::*;
use nnx::tensor::Tensor;

#[derive(Module)]
struct Model {
    linear1: Linear,
    linear2: Linear,
    #[nnx(sow)]
    intermediates: Sown,
}

impl Model {
    fn new(rngs: &mut Rngs) -> nnx::Result<Self> {
        Ok(Model {
            linear1: Linear::new(2, 3, rngs)?,
            linear2: Linear::new(3, 4, rngs)?,
            intermediates: Sown::default(),
        })
    }

    fn forward(&mut self, x: &Tensor) -> nnx::Result<Tensor> {
        let x = self.linear1.forward(x)?;
        self.sow(Intermediate, "i", x.clone())?;
        self.linear2.forward(&x)
    }
}

/// The text the example prints.
pub fn run() -> nnx::Result<String> {
    let mut model = Model::new(&mut Rngs::new(0))?;

    let x = Tensor::ones(&[1, 2]);
    let _y = model.forward(&x)?;
    Ok(format!("{}\n", model.state_of(Intermediate).map(shape)))
}

#[allow(dead_code)]
fn main() -> nnx::Result<()> {
    print!("{}", run()?);
    Ok(())
}
