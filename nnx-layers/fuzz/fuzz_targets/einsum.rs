//! `Einsum` equations: building the layer and applying it, with any equation
//! and small kernel, bias and input shapes, gives a layer and an output or an
//! error, never a panic.
//!
//! Input layout: a kernel shape, a bias shape (rank 0xff: no bias) and an input
//! shape, each as one rank byte (mod 5) then that many axis bytes (mod 4); the
//! rest is UTF-8 text, the layer's equation, then after a newline an optional
//! second equation for `forward_with`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndarray::{ArrayD, IxDyn};
use nnx_core::rngs::Rngs;
use nnx_layers::Einsum;

/// A shape of rank < 5 and axes < 4: at most 256 elements, so no input can ask
/// for much memory.
fn shape(bytes: &mut std::slice::Iter<'_, u8>) -> Option<Vec<usize>> {
    let rank = bytes.next()? % 5;
    (0..rank)
        .map(|_| bytes.next().map(|d| usize::from(d % 4)))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.iter();
    let Some(kernel) = shape(&mut bytes) else {
        return;
    };
    let bias = match bytes.as_slice().first() {
        Some(0xff) => {
            bytes.next();
            None
        }
        _ => match shape(&mut bytes) {
            Some(s) => Some(s),
            None => return,
        },
    };
    let Some(input) = shape(&mut bytes) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(bytes.as_slice()) else {
        return;
    };
    let (eq, other) = text.split_once('\n').unwrap_or((text, ""));
    let mut config = Einsum::config(eq, &kernel);
    if let Some(b) = &bias {
        config = config.bias_shape(b);
    }
    let Ok(layer) = config.build(&mut Rngs::new(0)) else {
        return;
    };
    let x = ArrayD::<f32>::ones(IxDyn(&input));
    let _ = layer.forward(&x);
    if !other.is_empty() {
        let _ = layer.forward_with(&x, other);
    }
});
