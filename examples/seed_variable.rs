//! The seed page's `Variable` example: a custom Variable type beside a Linear layer,
//! and `state` filtered by Variable type.

use nnx::nn::Linear;
use nnx::prelude::*;
use nnx::tensor::Tensor;

nnx::variable_type!(pub CustomVariable);

#[derive(Module)]
struct Model {
    linear: Linear,
    custom_variable: CustomVariable<Tensor>,
}

impl Model {
    fn new(rngs: &mut Rngs) -> nnx::Result<Self> {
        Ok(Model {
            linear: Linear::new(2, 3, rngs)?,
            custom_variable: CustomVariable::new(Tensor::ones(&[1, 3])),
        })
    }

    #[allow(dead_code)]
    fn forward(&self, x: &Tensor) -> nnx::Result<Tensor> {
        self.linear.apply(x)? + &*self.custom_variable
    }
}

/// The text the example prints.
pub fn run() -> nnx::Result<String> {
    let model = Model::new(&mut Rngs::new(0))?;
    let mut out = String::new();

    let linear_variables = model.state_of(Param);
    out += &format!("{}\n", linear_variables.map(shape));

    let custom_variable = model.state_of(CustomVariable);
    out += &format!("{}\n", custom_variable.map(shape));

    let variables = model.state();
    out += &format!("{}\n", variables.map(shape));
    Ok(out)
}

#[allow(dead_code)]
fn main() -> nnx::Result<()> {
    print!("{}", run()?);
    Ok(())
}
