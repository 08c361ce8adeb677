mod reexport {
    pub use nnx as inner;
}

use nnx::prelude::*;

#[derive(Module)]
#[nnx(crate = "reexport::inner")]
struct Model {
    w: Param<f32>,
}

#[derive(nnx_core::Module)]
#[nnx(crate = "::nnx_core")]
struct ViaCore {
    w: nnx_core::Param<f32>,
}

fn main() {
    assert_eq!(Model { w: Param::new(1.0) }.state().len(), 1);
    assert_eq!(ViaCore { w: nnx_core::Param::new(1.0) }.state().len(), 1);
}
