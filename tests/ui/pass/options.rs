use nnx::prelude::*;
use nnx::Intermediate;

#[derive(Clone, Debug, PartialEq, Hash)]
enum Act {
    Relu,
}

#[derive(Module)]
struct Block {
    #[nnx(rename = "kernel")]
    w: Param<f32>,
    #[nnx(static)]
    act: Act,
    #[nnx(skip)]
    scratch: Vec<f32>,
    #[nnx(sow)]
    sown: Sown,
    r#type: u8,
}

fn main() {
    let mut b = Block { w: Param::new(1.0), act: Act::Relu, scratch: vec![1.0], sown: Sown::default(), r#type: 3 };
    b.sow(Intermediate, "h", 2.0f32).unwrap();
    assert!(b.sow(Intermediate, "kernel", 2.0f32).is_err());
    let paths: Vec<String> = b.state().flat_state().iter().map(|(p, _)| nnx::path_string(p)).collect();
    assert_eq!(paths, ["h", "kernel"]);
    let (g, s) = b.split(..).unwrap();
    let back = g.merge(s).unwrap();
    assert_eq!((back.act, back.scratch.len(), back.r#type), (Act::Relu, 0, 3));
}
