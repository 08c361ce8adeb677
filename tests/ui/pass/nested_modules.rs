use nnx::prelude::*;

#[derive(Module)]
struct Dropout {
    #[nnx(static)]
    deterministic: bool,
}

#[derive(Module)]
struct Linear {
    w: Param<f32>,
}

#[derive(Module)]
struct Block {
    linear: Linear,
    dropout: Dropout,
}

#[derive(Module)]
struct Model {
    blocks: Vec<Block>,
    head: Linear,
}

fn main() {
    let block = || Block { linear: Linear { w: Param::new(1.0) }, dropout: Dropout { deterministic: false } };
    let mut m = Model { blocks: vec![block(), block()], head: Linear { w: Param::new(2.0) } };
    m.eval().unwrap();
    assert!(m.blocks.iter().all(|b| b.dropout.deterministic));
    let (g, params) = m.split(Param).unwrap();
    assert_eq!(params.len(), 3);
    let back: Model = g.merge(params).unwrap();
    assert!(back.blocks[1].dropout.deterministic);
}
