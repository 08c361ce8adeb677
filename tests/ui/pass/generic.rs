use std::fmt::Debug;

use nnx::prelude::*;

#[derive(Module)]
struct Stack<L, A: Clone, const N: usize>
where
    A: Debug,
{
    layers: [L; N],
    #[nnx(static)]
    activation: A,
}

#[derive(Module)]
struct Wrapper<T>(T);

fn main() {
    let s = Stack { layers: [Param::new(1.0f32), Param::new(2.0)], activation: "relu".to_string() };
    let (g, st) = s.split(..).unwrap();
    let back = g.merge(st).unwrap();
    assert_eq!(back.activation, "relu");
    assert_eq!(*back.layers[1], 2.0);
    assert_eq!(Wrapper(Wrapper(Param::new(0u8))).state().len(), 1);
}
