use nnx::prelude::*;

#[derive(Module)]
struct Pair(Param<f32>, Param<f32>);

#[derive(Module)]
struct Empty;

#[derive(Module)]
struct Braced {}

fn main() {
    let (g, s) = Pair(Param::new(1.0), Param::new(2.0)).split(..).unwrap();
    let back = g.merge(s).unwrap();
    assert_eq!((*back.0, *back.1), (1.0, 2.0));
    assert!(Empty.state().is_empty());
    let (g, s) = Empty.split(..).unwrap();
    let Empty = g.merge(s).unwrap();
    assert!(Braced {}.state().is_empty());
}
