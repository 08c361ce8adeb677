//! The seed page's Variable walkthrough: a custom Variable type in one line,
//! metadata and hooks on an instance, and printing it as Flax does.

use ndarray::Array2;
use nnx::prelude::*;
use nnx::{MetaValue, VariableMetadata};

nnx::variable_type!(pub CustomVariable);

fn main() {
    // A custom Variable type, declared in one line, prints with its own name.
    let v = CustomVariable::new(Array2::<f32>::ones((1, 3)));
    println!("{v}");
    println!("type: {}", v.kind());

    // Metadata: the three forms of set_metadata, get, has, del.
    let mut p = Param::new(Array2::<f32>::zeros((2, 3)));
    p.replace_metadata(nnx::Metadata::from([("axis_names", ("in", "out"))]));
    p.set_metadata("description", "the kernel");
    p.update_metadata([
        ("trainable", MetaValue::Bool(true)),
        ("layer", MetaValue::Int(0)),
    ]);
    println!("{p}");
    println!("metadata: {}", p.get_metadata());
    println!("has 'trainable': {}", p.has_metadata("trainable"));
    println!(
        "missing entry: {}",
        p.get_metadata_entry("missing").unwrap_err()
    );
    let removed = p.del_metadata("layer").unwrap_or(MetaValue::None);
    println!(
        "deleted 'layer' = {removed}; left: {:?}",
        p.get_metadata().keys().collect::<Vec<_>>()
    );

    // Hooks through VariableMetadata: they fire on get_value/set_value, not on raw access.
    let mut scaled = Param::from_metadata(
        VariableMetadata::new(2.0f32)
            .on_get_value(|_, v| v * 10.0)
            .on_set_value(|_, v| v.max(0.0))
            .with("scale", 10),
    );
    println!("raw {} / get_value {}", scaled.value(), scaled.get_value());
    scaled.set_value(-3.0);
    println!("after set_value(-3.0): raw {}", scaled.value());
    println!("{scaled}");
}
