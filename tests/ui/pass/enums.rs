use nnx::prelude::*;

#[derive(Module)]
enum Layer {
    Dense { w: Param<f32>, #[nnx(static)] name: String },
    Scale(Param<f32>),
    Identity,
}

#[derive(Module)]
#[repr(u8)]
enum WithDiscriminants {
    A = 1,
    B = 2,
}

#[derive(Module)]
enum Never {}

fn main() {
    let layers = vec![
        Layer::Dense { w: Param::new(1.0), name: "d".into() },
        Layer::Scale(Param::new(2.0)),
        Layer::Identity,
    ];
    let (g, s) = layers.split(..).unwrap();
    let back = g.merge(s).unwrap();
    assert!(matches!(&back[0], Layer::Dense { name, .. } if name == "d"));
    assert!(matches!(&back[1], Layer::Scale(p) if **p == 2.0));
    assert!(matches!(back[2], Layer::Identity));
    assert!(WithDiscriminants::B.state().is_empty());
    let _ = WithDiscriminants::A as u8;
    let _: Option<Never> = None;
}
