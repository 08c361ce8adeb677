use std::collections::HashMap;

use nnx::{Module, Param};

#[derive(Module)]
struct Model {
    layers: HashMap<u32, Param<f32>>,
}

fn main() {}
