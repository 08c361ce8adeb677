use ndarray::Array1;
use nnx::prelude::*;

#[derive(Module)]
struct Linear {
    kernel: Param<Array1<f32>>,
    bias: Param<Array1<f32>>,
}

fn main() {
    let m = Linear { kernel: Param::new(Array1::ones(2)), bias: Param::new(Array1::zeros(2)) };
    let (g, s) = m.split(..).unwrap();
    let back: Linear = g.merge(s).unwrap();
    assert_eq!(*back.kernel, Array1::<f32>::ones(2));
    assert_eq!(back.state().len(), 2);
}
